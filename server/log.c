/*
 * log.c - the per-tenant event log on LMDB, with group commit.
 *
 * Hot path choices (measured in crm-bench storage mode):
 *  - validation and canonical encoding run in the submitting thread
 *    (crm_batch_prepare), so the single writer only assigns positions,
 *    hashes and puts;
 *  - log records are written with MDB_APPEND | MDB_RESERVE straight into
 *    the map, no intermediate copy;
 *  - stream heads (last version and position per stream) are kept in an
 *    in-memory overlay and written to the streams index only at
 *    checkpoints: customers are spread at random, and updating the index
 *    on every commit rewrote one random B-tree page per stream touched.
 *    The log itself stays the source of truth (each record carries its
 *    version and stream_prev), so opening a log replays the records after
 *    the last checkpoint into the overlay. Stream reads follow each
 *    record's stream_prev link instead of a (stream, version) index;
 *  - the chain head is kept in memory and written to meta once per commit.
 */
#include "log_int.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "mdberr.h"
#include "mdbfill.h"
#include "record.h"
#include "scache.h"

/* --- opening -------------------------------------------------------------- */

static int
read_head(crm_log *log, MDB_txn *txn)
{
    MDB_val k = {4, "head"}, v;
    int rc = mdb_get(txn, log->dbi_meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        log->head_pos = 0;
        memcpy(log->head_hash, log->genesis, CRM_HASH_LEN);
        log->last_recorded = 0;
        return 0;
    }
    if (rc != 0)
        return rc;
    if (v.mv_size != HEADVAL_LEN)
        return MDB_CORRUPTED;
    const uint8_t *p = v.mv_data;
    log->head_pos = get_be64(p);
    memcpy(log->head_hash, p + 8, CRM_HASH_LEN);
    log->last_recorded = (int64_t)get_be64(p + 8 + CRM_HASH_LEN);
    return 0;
}

static int
init_meta(crm_log *log, MDB_txn *txn, crm_error *why, crm_err *err)
{
    MDB_val k = {6, "tenant"}, v;
    int rc = mdb_get(txn, log->dbi_meta, &k, &v);
    if (rc == 0) {
        if (v.mv_size != log->tenant_len ||
            memcmp(v.mv_data, log->tenant, log->tenant_len) != 0) {
            *err = crm_error_set(why, CRM_ERR_CORRUPT,
                                 "directory holds the log of tenant '%.*s'",
                                 (int)(v.mv_size < 40 ? v.mv_size : 40),
                                 (const char *)v.mv_data);
            return -1;
        }
        MDB_val gk = {7, "genesis"};
        if ((rc = mdb_get(txn, log->dbi_meta, &gk, &v)) != 0)
            return rc;
        if (v.mv_size != CRM_HASH_LEN)
            return MDB_CORRUPTED;
        memcpy(log->genesis, v.mv_data, CRM_HASH_LEN);
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;

    /* A new log: genesis binds the tenant id and its creation time, so a
     * tenant deleted and created again starts a different chain. */
    char seed[128];
    int slen = snprintf(seed, sizeof(seed), "crmd-genesis-v1\n%s\n%lld",
                        log->tenant, (long long)crm_now_us());
    crm_sha256_2(seed, (size_t)slen, NULL, 0, log->genesis);
    v.mv_size = log->tenant_len;
    v.mv_data = log->tenant;
    if ((rc = mdb_put(txn, log->dbi_meta, &k, &v, 0)) != 0)
        return rc;
    MDB_val gk = {7, "genesis"}, gv = {CRM_HASH_LEN, log->genesis};
    if ((rc = mdb_put(txn, log->dbi_meta, &gk, &gv, 0)) != 0)
        return rc;
    uint8_t zero[8] = {0};
    MDB_val sk = {10, "streams_at"}, sv = {8, zero};
    if ((rc = mdb_put(txn, log->dbi_meta, &sk, &sv, 0)) != 0)
        return rc;
    MDB_val fk = {6, "format"}, fv = {1, LOG_FORMAT};
    return mdb_put(txn, log->dbi_meta, &fk, &fv, 0);
}

/* Brings a log of an older format up to LOG_FORMAT: format 1 had no
 * stream_skip index, so it is built from the records. A format newer than
 * this build refuses to open rather than be written wrongly. */
static crm_err
upgrade_format(crm_log *log, MDB_txn *txn, crm_error *why)
{
    MDB_val k = {6, "format"}, v;
    int rc = mdb_get(txn, log->dbi_meta, &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return crm_mdb_fail(why, rc, "read log format");
    if (rc == 0 && v.mv_size == 1 && memcmp(v.mv_data, LOG_FORMAT, 1) == 0)
        return CRM_OK;
    if (rc == 0 && !(v.mv_size == 1 && memcmp(v.mv_data, "1", 1) == 0))
        return crm_error_set(why, CRM_ERR_CORRUPT,
                             "log format '%.*s' is not one this crmd knows",
                             (int)(v.mv_size < 16 ? v.mv_size : 16),
                             (const char *)v.mv_data);

    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, log->dbi_log, &cur)) != 0)
        return crm_mdb_fail(why, rc, "upgrade");
    crm_err err = CRM_OK;
    MDB_val rk, rv;
    for (rc = mdb_cursor_get(cur, &rk, &rv, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &rk, &rv, MDB_NEXT)) {
        crm_record r;
        msgpack_zone_clear(log->wzone);
        if (crm_record_decode(rv.mv_data, rv.mv_size, log->wzone, &r, why) !=
            CRM_OK) {
            err = crm_error_set(why, CRM_ERR_CORRUPT,
                                "record %llu unreadable while upgrading",
                                (unsigned long long)get_be64(rk.mv_data));
            break;
        }
        if (!skip_due(r.h.version))
            continue;
        uint8_t kb[SKIPKEY_MAX], pb[8];
        put_be64(pb, r.h.position);
        MDB_val sk = {skip_key(kb, r.stream, r.stream_len, r.h.version), kb},
                sv = {8, pb};
        if ((rc = mdb_put(txn, log->dbi_skip, &sk, &sv, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (err == CRM_OK && rc != MDB_NOTFOUND)
        err = crm_mdb_fail(why, rc, "upgrade");
    if (err != CRM_OK)
        return err;
    MDB_val fv = {1, LOG_FORMAT};
    if ((rc = mdb_put(txn, log->dbi_meta, &k, &fv, 0)) != 0)
        return crm_mdb_fail(why, rc, "upgrade");
    return CRM_OK;
}

/* Rebuilds the overlay from the records after the last checkpoint. */
static crm_err
replay_heads(crm_log *log, MDB_txn *txn, crm_error *why)
{
    MDB_val k = {10, "streams_at"}, v;
    int rc = mdb_get(txn, log->dbi_meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        /* logs written before checkpoints kept the index current */
        log->streams_at = log->head_pos;
        return CRM_OK;
    }
    if (rc != 0 || v.mv_size != 8)
        return crm_mdb_fail(why, rc ? rc : MDB_CORRUPTED, "read streams_at");
    log->streams_at = get_be64(v.mv_data);

    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, log->dbi_log, &cur)) != 0)
        return crm_mdb_fail(why, rc, "replay");
    uint8_t kb[8];
    put_be64(kb, log->streams_at + 1);
    k.mv_size = 8;
    k.mv_data = kb;
    crm_err err = CRM_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        crm_record r;
        msgpack_zone_clear(log->wzone);
        if (crm_record_decode(v.mv_data, v.mv_size, log->wzone, &r, why) !=
            CRM_OK) {
            err = crm_error_set(why, CRM_ERR_CORRUPT,
                                "record %llu unreadable while replaying",
                                (unsigned long long)get_be64(k.mv_data));
            break;
        }
        if (crm_scache_put(log->overlay, r.stream, r.stream_len, r.h.version,
                           r.h.position) != 0) {
            err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
            break;
        }
    }
    if (err == CRM_OK && rc != MDB_NOTFOUND)
        err = crm_mdb_fail(why, rc, "replay");
    mdb_cursor_close(cur);
    return err;
}

static void *writer_main(void *arg);
static void room_ahead(crm_log *log, int fill);

crm_err
crm_log_open(const char *dir, const char *tenant, const crm_log_opts *opts,
             crm_log **out, crm_error *why)
{
    crm_log_opts o = opts ? *opts : (crm_log_opts){0};
    crm_log *log = NULL;
    MDB_txn *txn = NULL;
    crm_err err = CRM_OK;
    int rc;

    *out = NULL;
    size_t tlen = strlen(tenant);
    if (tlen == 0 || tlen > CRM_TENANT_MAX)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "bad tenant id");
    if ((log = calloc(1, sizeof(*log))) == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    memcpy(log->tenant, tenant, tlen);
    log->tenant_len = tlen;
    log->map_size = o.map_size ? o.map_size : 64 * MIB;
    log->map_max = o.map_max ? o.map_max : ((size_t)1 << 40);
    log->group_events = o.group_events ? o.group_events : 20000;
    log->ckpt_streams = o.ckpt_streams ? o.ckpt_streams : CRM_LOG_CKPT_STREAMS;
    log->ckpt_slice_min =
        o.ckpt_slice_min ? o.ckpt_slice_min : CRM_LOG_CKPT_SLICE_MIN;
    log->cache_streams =
        o.cache_streams ? o.cache_streams : CRM_LOG_CACHE_STREAMS;
    unsigned gw = o.group_wait_us ? o.group_wait_us : CRM_LOG_GROUP_WAIT_US;
    log->group_wait_ns =
        1000 *
        (int64_t)(gw < CRM_LOG_GROUP_WAIT_MAX ? gw : CRM_LOG_GROUP_WAIT_MAX);
    log->ckpt_ns = (int64_t)(o.ckpt_ms ? o.ckpt_ms : CRM_LOG_CKPT_MS) * 1000000;
    log->want = 1;
    log->on_commit = o.on_commit;
    log->on_commit_arg = o.on_commit_arg;
    pthread_mutex_init(&log->mu, NULL);
    /* the group deadline is on the monotonic clock: a step of the wall
     * clock must not hold a group open */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&log->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&log->ack_mu, NULL);
    pthread_cond_init(&log->ack_cv, NULL);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* a resize must not starve behind a steady stream of readers */
    pthread_rwlockattr_setkind_np(&ra,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&log->maplock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&log->ovl_mu, NULL);
    log->last_ckpt_ns = crm_mono_ns();
    if ((log->overlay = crm_scache_new()) == NULL ||
        (log->pending = crm_scache_new()) == NULL) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto fail;
    }

    if ((log->wzone = msgpack_zone_new(4096)) == NULL) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto fail;
    }
    if ((rc = mdb_env_create(&log->env)) != 0 ||
        (rc = mdb_env_set_maxdbs(log->env, 32)) != 0 ||
        (rc = mdb_env_set_maxreaders(log->env, 512)) != 0 ||
        (rc = mdb_env_set_mapsize(log->env, log->map_size)) != 0 ||
        (rc = mdb_env_open(log->env, dir, MDB_NOTLS, 0600)) != 0) {
        err = crm_mdb_fail(why, rc, "open log environment");
        goto fail;
    }
    /* The file may already be larger than the configured start size: LMDB
     * then maps exactly what is committed, leaving no room for the writes
     * opening may make (a format upgrade) or the first commit. */
    MDB_envinfo info;
    mdb_env_info(log->env, &info);
    log->map_size = info.me_mapsize;
    /* One process writes a log (the heads in memory, the zeros ahead of
     * the pages): the data file is flocked while it is open. */
    int fd;
    if ((rc = mdb_env_get_fd(log->env, &fd)) != 0 ||
        (rc = flock(fd, LOCK_EX | LOCK_NB) != 0 ? errno : 0) != 0) {
        err = rc == EWOULDBLOCK
                  ? crm_error_set(why, CRM_ERR_UNAVAILABLE,
                                  "the log of tenant %s is open in another "
                                  "process",
                                  tenant)
                  : crm_error_set(why, CRM_ERR_IO,
                                  "cannot lock the log of tenant %s: %s",
                                  tenant, strerror(rc));
        goto fail;
    }
    log->fill_end = crm_mdbfill_start(log->env); /* an earlier run's zeros */
    room_ahead(log, 0); /* the zeros wait for a commit: reads need none */

    if ((rc = mdb_txn_begin(log->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, "log", MDB_CREATE, &log->dbi_log)) != 0 ||
        (rc = mdb_dbi_open(txn, "streams", MDB_CREATE, &log->dbi_streams)) !=
            0 ||
        (rc = mdb_dbi_open(txn, "event_ids", MDB_CREATE, &log->dbi_ids)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &log->dbi_meta)) != 0 ||
        (rc = mdb_dbi_open(txn, "stream_skip", MDB_CREATE, &log->dbi_skip)) !=
            0) {
        err = crm_mdb_fail(why, rc, "open log databases");
        goto fail;
    }
    if ((rc = init_meta(log, txn, why, &err)) != 0) {
        if (rc > 0 || rc < -1)
            err = crm_mdb_fail(why, rc, "read log meta");
        goto fail;
    }
    if ((rc = read_head(log, txn)) != 0) {
        err = crm_mdb_fail(why, rc, "read log head");
        goto fail;
    }
    if ((err = upgrade_format(log, txn, why)) != CRM_OK ||
        (err = replay_heads(log, txn, why)) != CRM_OK)
        goto fail;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        err = crm_mdb_fail(why, rc, "initialise log");
        goto fail;
    }
    log->st.position = log->head_pos;
    log->st.checkpoint = log->streams_at;

    if (pthread_create(&log->writer, NULL, writer_main, log) != 0) {
        err = crm_error_set(why, CRM_ERR_NOMEM, "cannot start log writer");
        goto fail;
    }
    log->writer_running = 1;
    *out = log;
    return CRM_OK;
fail:
    if (txn)
        mdb_txn_abort(txn);
    crm_log_close(log);
    return err;
}

void
crm_log_close(crm_log *log)
{
    if (log == NULL)
        return;
    if (log->writer_running) {
        pthread_mutex_lock(&log->mu);
        log->closing = 1;
        pthread_cond_broadcast(&log->cv);
        pthread_mutex_unlock(&log->mu);
        pthread_join(log->writer, NULL);
    }
    if (log->env)
        mdb_env_close(log->env);
    if (log->wzone)
        msgpack_zone_free(log->wzone);
    crm_scache_free(log->overlay);
    crm_scache_free(log->pending);
    free(log->ckpt_snap);
    pthread_mutex_destroy(&log->ovl_mu);
    pthread_rwlock_destroy(&log->maplock);
    pthread_cond_destroy(&log->cv);
    pthread_mutex_destroy(&log->mu);
    pthread_cond_destroy(&log->ack_cv);
    pthread_mutex_destroy(&log->ack_mu);
    free(log);
}

/* --- the writer ----------------------------------------------------------- */

/* Refusal of one batch by a check: recorded in the batch, nothing put. */
static int refuse(crm_batch *b, crm_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
refuse(crm_batch *b, crm_err code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    b->why.code = code;
    vsnprintf(b->why.msg, sizeof(b->why.msg), fmt, ap);
    va_end(ap);
    return 0;
}

/* Version of the stored record at pos (an idempotent retry's answer). */
static int
stored_version(crm_log *log, MDB_txn *txn, uint64_t pos, uint64_t *version)
{
    uint8_t kb[8];
    put_be64(kb, pos);
    MDB_val k = {8, kb}, v;
    int rc = mdb_get(txn, log->dbi_log, &k, &v);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
    crm_record r;
    msgpack_zone_clear(log->wzone);
    if (crm_record_decode(v.mv_data, v.mv_size, log->wzone, &r, NULL) != CRM_OK)
        return MDB_CORRUPTED;
    *version = r.h.version;
    return 0;
}

static const char *
expect_text(int64_t e, char *buf, size_t len)
{
    if (e == CRM_EXPECT_NO_STREAM)
        return "no_stream";
    if (e == CRM_EXPECT_EXISTS)
        return "stream_exists";
    snprintf(buf, len, "%lld", (long long)e);
    return buf;
}

/* Looks every id of b up: a stored id with the same content makes the
 * event a duplicate, with other content refuses the batch. */
static int
lookup_ids(crm_log *log, MDB_txn *txn, crm_batch *b)
{
    const uint8_t *content = (const uint8_t *)b->content.data;
    int rc;
    for (size_t i = 0; i < b->n; i++) {
        bevent *e = &b->ev[i];
        MDB_val k = {CRM_ID_LEN, (void *)(content + e->off + 2)}, v;
        e->dup = 0;
        rc = mdb_get(txn, log->dbi_ids, &k, &v);
        if (rc == MDB_NOTFOUND) {
            b->groups[e->group].has_new = 1;
            continue;
        }
        if (rc != 0)
            return rc;
        if (v.mv_size != IDVAL_LEN)
            return MDB_CORRUPTED;
        e->position = get_be64(v.mv_data);
        if (memcmp((const uint8_t *)v.mv_data + 8, e->digest, CRM_DIGEST_LEN) !=
            0)
            return refuse(b, CRM_ERR_CONFLICT,
                          "event %zu: id already used by a different event "
                          "at position %llu",
                          i, (unsigned long long)e->position);
        if ((rc = stored_version(log, txn, e->position, &e->version)) != 0)
            return rc;
        e->dup = 1;
    }

    return 0;
}

/* Checks the expected versions of the streams that get new events; 1 if
 * they hold, else 0 with b->why set. */
static int
check_expect(crm_batch *b)
{
    for (size_t g = 0; g < b->ngroups; g++) {
        bgroup *gr = &b->groups[g];
        char eb[24];
        int ok = 1;
        if (!gr->has_new || gr->expect == CRM_EXPECT_ANY)
            continue;
        if (gr->expect == CRM_EXPECT_NO_STREAM)
            ok = !gr->exists;
        else if (gr->expect == CRM_EXPECT_EXISTS)
            ok = gr->exists;
        else
            ok = gr->exists && gr->version == (uint64_t)gr->expect;
        if (!ok) {
            if (gr->exists) {
                refuse(b, CRM_ERR_CONFLICT,
                       "stream '%.*s' is at version %llu, expected %s",
                       (int)gr->len, batch_stream(b, gr),
                       (unsigned long long)gr->version,
                       expect_text(gr->expect, eb, sizeof(eb)));
                return 0;
            }
            refuse(b, CRM_ERR_CONFLICT,
                   "stream '%.*s' does not exist, expected %s", (int)gr->len,
                   batch_stream(b, gr),
                   expect_text(gr->expect, eb, sizeof(eb)));
            return 0;
        }
    }

    return 1;
}

/* Checks then writes one batch inside the group's transaction. Returns 0
 * (batch written, or refused with b->why set) or an LMDB error, which
 * aborts the whole group. */
static int
apply(crm_log *log, MDB_txn *txn, crm_batch *b, uint64_t *pos,
      uint8_t hash[CRM_HASH_LEN], int64_t now)
{
    const uint8_t *content = (const uint8_t *)b->content.data;
    int rc;

    b->why.code = CRM_OK;
    b->why.msg[0] = '\0';
    for (size_t g = 0; g < b->ngroups; g++) {
        bgroup *gr = &b->groups[g];
        const char *sid = (const char *)batch_stream(b, gr);
        MDB_val k = {gr->len, (void *)sid}, v;
        gr->has_new = gr->touched = 0;
        /* the overlay changes only on this thread: no lock to read it */
        const crm_shead *h = crm_scache_get(log->pending, sid, gr->len);
        if (h == NULL)
            h = crm_scache_get(log->overlay, sid, gr->len);
        if (h != NULL) {
            gr->exists = 1;
            gr->version = h->version;
            gr->last_pos = h->position;
            continue;
        }
        rc = mdb_get(txn, log->dbi_streams, &k, &v);
        if (rc == MDB_NOTFOUND) {
            gr->exists = 0;
            gr->version = gr->last_pos = 0;
        } else if (rc != 0) {
            return rc;
        } else if (v.mv_size != STREAMVAL_LEN) {
            return MDB_CORRUPTED;
        } else {
            gr->exists = 1;
            gr->version = get_be64(v.mv_data);
            gr->last_pos = get_be64((const uint8_t *)v.mv_data + 8);
        }
    }

    /* Idempotency. Ids are new almost always, so by default the puts
     * below use MDB_NOOVERWRITE and an id already stored turns up as
     * MDB_KEYEXIST, which redoes the group with this batch looked up first
     * (careful). A refused expectation is also looked at carefully before
     * it stands: a retried batch answers with its first positions. */
    if (b->careful) {
        if ((rc = lookup_ids(log, txn, b)) != 0 || b->why.code != CRM_OK)
            return rc;
    } else {
        for (size_t i = 0; i < b->n; i++) {
            b->ev[i].dup = 0;
            b->groups[b->ev[i].group].has_new = 1;
        }
    }
    if (!check_expect(b) && !b->careful) {
        b->careful = 1;
        b->why.code = CRM_OK;
        b->why.msg[0] = '\0';
        for (size_t g = 0; g < b->ngroups; g++)
            b->groups[g].has_new = 0;
        if ((rc = lookup_ids(log, txn, b)) != 0 || b->why.code != CRM_OK)
            return rc;
        check_expect(b);
    }
    if (b->why.code != CRM_OK)
        return 0;

    /* Every check passed: from here on only LMDB itself can fail, and that
     * aborts the whole transaction, so a batch is never half-written. */
    uint8_t hbuf[CRM_RECORD_HDR_MAX];
    crm_record_hdr h = {.tenant = log->tenant,
                        .tenant_len = log->tenant_len,
                        .recorded_at = now,
                        .actor = b->actor,
                        .actor_len = b->actor_len};
    for (size_t i = 0; i < b->n; i++) {
        bevent *e = &b->ev[i];
        if (e->dup)
            continue;
        bgroup *gr = &b->groups[e->group];
        h.position = *pos + 1;
        h.version = gr->exists ? gr->version + 1 : 0;
        h.stream_prev = gr->exists ? gr->last_pos : 0;
        memcpy(h.prev_hash, hash, CRM_HASH_LEN);
        size_t hlen = crm_record_hdr_encode(&h, hbuf);

        uint8_t kb[8];
        put_be64(kb, h.position);
        MDB_val k = {8, kb}, v = {hlen + e->len + CRM_RECORD_TRAILER, NULL};
        if ((rc = mdb_put(txn, log->dbi_log, &k, &v,
                          MDB_APPEND | MDB_RESERVE)) != 0)
            return rc;
        uint8_t *dst = v.mv_data;
        memcpy(dst, hbuf, hlen);
        memcpy(dst + hlen, content + e->off, e->len);
        uint8_t next[CRM_HASH_LEN];
        crm_record_seal(dst, hlen + e->len, hash, next);
        memcpy(hash, next, CRM_HASH_LEN);

        uint8_t ib[IDVAL_LEN];
        put_be64(ib, h.position);
        memcpy(ib + 8, e->digest, CRM_DIGEST_LEN);
        MDB_val ik = {CRM_ID_LEN, (void *)(content + e->off + 2)},
                iv = {IDVAL_LEN, ib};
        rc = mdb_put(txn, log->dbi_ids, &ik, &iv,
                     b->careful ? 0 : MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST) {
            b->careful = 1;
            return LOG_REDO;
        }
        if (rc != 0)
            return rc;
        if (skip_due(h.version)) {
            uint8_t skb[SKIPKEY_MAX];
            MDB_val sk = {skip_key(skb, batch_stream(b, gr), gr->len,
                                   h.version),
                          skb},
                    sv = {8, kb};
            if ((rc = mdb_put(txn, log->dbi_skip, &sk, &sv, 0)) != 0)
                return rc;
        }

        *pos = h.position;
        e->position = h.position;
        e->version = h.version;
        gr->exists = gr->touched = 1;
        gr->version = h.version;
        gr->last_pos = h.position;
    }
    for (size_t g = 0; g < b->ngroups; g++) {
        bgroup *gr = &b->groups[g];
        if (gr->touched &&
            crm_scache_put(log->pending, (const char *)batch_stream(b, gr),
                           gr->len, gr->version, gr->last_pos) != 0)
            return ENOMEM;
    }
    return 0;
}

/* --- checkpoints of stream heads -----------------------------------------
 *
 * A round writes the heads that were dirty when it began (the heads at
 * ckpt_to), sorted by stream id, a slice per commit: a slice rewrites one
 * key range of the streams index rather than pages all over it, so no
 * single commit carries the whole checkpoint (at 100,000 streams that was
 * a pause of tens of milliseconds). streams_at moves to ckpt_to with the
 * last slice; until then the index holds, per stream, its head at
 * streams_at or at ckpt_to, which replaying from streams_at makes whole.
 */

static int
cmp_head(const void *pa, const void *pb)
{
    const crm_shead *x = pa, *y = pb;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->id, y->id, n); /* LMDB's default key order */
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void
snap_add(void *arg, const crm_shead *h)
{
    crm_log *log = arg;
    log->ckpt_snap[log->ckpt_n++] = *h;
}

/* Starts a round with every dirty head; 0 or ENOMEM. A round in progress
 * is dropped: the new one holds all it held, as new or newer. */
static int
ckpt_begin(crm_log *log)
{
    size_t n = crm_scache_dirty(log->overlay);
    if (n > log->ckpt_cap) {
        crm_shead *p = realloc(log->ckpt_snap, n * sizeof(*p));
        if (p == NULL)
            return ENOMEM;
        log->ckpt_snap = p;
        log->ckpt_cap = n;
    }
    log->ckpt_n = 0;
    crm_scache_each(log->overlay, 1, snap_add, log);
    qsort(log->ckpt_snap, log->ckpt_n, sizeof(*log->ckpt_snap), cmp_head);
    log->ckpt_next = 0;
    log->ckpt_to = log->head_pos;
    return 0;
}

/* Writes the round's next slice (all of it when `all`) in txn; *end is
 * where the round stands once txn commits. */
static int
ckpt_slice(crm_log *log, MDB_txn *txn, int all, size_t *end)
{
    size_t n = log->ckpt_n, at = log->ckpt_next;
    size_t slice = (n + CRM_LOG_CKPT_SLICES - 1) / CRM_LOG_CKPT_SLICES;
    if (slice < log->ckpt_slice_min)
        slice = log->ckpt_slice_min;
    *end = all || n - at <= slice ? n : at + slice;
    int rc = 0;
    for (size_t i = at; i < *end && rc == 0; i++) {
        const crm_shead *h = &log->ckpt_snap[i];
        uint8_t sb[STREAMVAL_LEN];
        put_be64(sb, h->version);
        put_be64(sb + 8, h->position);
        MDB_val k = {h->len, (void *)h->id}, v = {STREAMVAL_LEN, sb};
        rc = mdb_put(txn, log->dbi_streams, &k, &v, 0);
    }
    uint8_t to[8];
    put_be64(to, log->ckpt_to);
    MDB_val tk = {7, "ckpt_to"}, tv = {8, to};
    if (rc == 0)
        rc = mdb_put(txn, log->dbi_meta, &tk, &tv, 0);
    MDB_val sk = {10, "streams_at"};
    if (rc == 0 && *end == n)
        rc = mdb_put(txn, log->dbi_meta, &sk, &tv, 0);
    return rc;
}

/* After the commit that wrote the last slice: the heads that have not
 * moved since the round began are clean. (Past a bound, run_group then
 * lets clean heads leave the cache: the index has them.) */
static void
ckpt_end(crm_log *log)
{
    for (size_t i = 0; i < log->ckpt_n; i++) {
        const crm_shead *h = &log->ckpt_snap[i];
        crm_scache_mark_clean_at(log->overlay, h->id, h->len, h->position);
    }
    log->streams_at = log->ckpt_to;
    log->last_ckpt_ns = crm_mono_ns();
    log->ckpt_n = log->ckpt_next = 0;
    if (log->ckpt_cap > log->ckpt_streams) {
        free(log->ckpt_snap); /* a burst's snapshot is not kept */
        log->ckpt_snap = NULL;
        log->ckpt_cap = 0;
    }
}

/* Enlarges the map; readers are held off while LMDB remaps. */
static int
grow_map(crm_log *log, size_t want)
{
    size_t next = log->map_size < GIB ? log->map_size * 2 : log->map_size + GIB;
    if (next < want)
        next = want;
    if (next > log->map_max)
        next = log->map_max;
    if (next <= log->map_size)
        return -1;
    pthread_rwlock_wrlock(&log->maplock);
    int rc = mdb_env_set_mapsize(log->env, next);
    pthread_rwlock_unlock(&log->maplock);
    if (rc != 0)
        return -1;
    log->map_size = next;
    pthread_mutex_lock(&log->mu);
    log->st.map_grows++;
    pthread_mutex_unlock(&log->mu);
    return 0;
}

static void
fail_group(crm_batch *list, crm_err code, const char *msg)
{
    for (crm_batch *b = list; b; b = b->next)
        crm_error_set(&b->why, code, "%s", msg);
}

/* What a group holds so far. */
typedef struct group {
    crm_batch *list, *tail;
    size_t nb, nev, bytes;
} group;

/* Moves queued batches into g (log->mu held), as many as fit under
 * group_events and GROUP_BYTES (far below LMDB's dirty-page limit); a
 * group always takes its first batch.
 * Returns the first one taken, or NULL when the next does not fit. */
static crm_batch *
take_queued(crm_log *log, group *g)
{
    crm_batch *first = log->qhead, *last = NULL;
    size_t n = 0;
    for (crm_batch *b = first; b; b = b->next) {
        if (g->nb + n > 0 && (g->nev + b->n > log->group_events ||
                              g->bytes + b->content.size > GROUP_BYTES))
            break;
        last = b;
        n++;
        g->nev += b->n;
        g->bytes += b->content.size;
    }
    if (last == NULL)
        return NULL;
    log->qhead = last->next;
    if (log->qhead == NULL)
        log->qtail = NULL;
    log->qbatches -= n;
    last->next = NULL;
    if (g->tail)
        g->tail->next = first;
    else
        g->list = first;
    g->tail = last;
    g->nb += n;
    return first;
}

/* While the group's transaction is open, applies the batches that come
 * until `expect` are in, the group is full or dl passes: the submitters
 * acknowledged by the last commit come back one after the other, and the
 * first ones are written while the writer waits for the last. */
static int
apply_arrivals(crm_log *log, MDB_txn *txn, group *g, size_t expect,
               const struct timespec *dl, uint64_t *pos,
               uint8_t hash[CRM_HASH_LEN], int64_t *now)
{
    int rc = 0;
    pthread_mutex_lock(&log->mu);
    while (rc == 0 && g->nb < expect && !log->closing) {
        if (log->qhead == NULL) {
            log->want = expect - g->nb; /* one wake-up for the rest */
            int w = pthread_cond_timedwait(&log->cv, &log->mu, dl);
            log->want = 1;
            if (w != 0 && log->qhead == NULL)
                break;
            continue;
        }
        crm_batch *b = take_queued(log, g);
        if (b == NULL)
            break; /* full */
        pthread_mutex_unlock(&log->mu);
        int64_t t = crm_now_us();
        if (t > *now)
            *now = t;
        for (; b && rc == 0; b = b->next)
            rc = apply(log, txn, b, pos, hash, *now);
        pthread_mutex_lock(&log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    return rc;
}

/* Writes a group in one transaction and one commit. g is NULL for a
 * checkpoint alone; expect > g->nb makes the group wait for more batches
 * until dl, applying them as they come (the first attempt only: a redo
 * writes what the group holds). */
static void
run_group(crm_log *log, group *g, int force_ckpt, size_t expect,
          const struct timespec *dl)
{
    for (;;) {
        crm_batch *list = g ? g->list : NULL;
        MDB_txn *txn;
        crm_error e;
        int rc = mdb_txn_begin(log->env, NULL, 0, &txn);
        if (rc != 0) {
            crm_mdb_fail(&e, rc, "begin write");
            fail_group(list, e.code, e.msg);
            return;
        }
        crm_scache_clear(log->pending);
        /* A round begins when enough heads are dirty or a second has
         * passed; an idle log or a closing one finishes it at once, and a
         * closing one writes every dirty head (nothing left to replay). */
        size_t nov = crm_scache_dirty(log->overlay), slice_end = 0;
        if (nov > 0 &&
            (force_ckpt ||
             (log->ckpt_n == 0 &&
              (nov >= log->ckpt_streams ||
               crm_mono_ns() - log->last_ckpt_ns >= log->ckpt_ns))) &&
            ckpt_begin(log) != 0)
            log->ckpt_n = 0; /* no memory for it now: a later commit */
        int ckpt = log->ckpt_n > 0;
        if (ckpt)
            rc = ckpt_slice(log, txn, force_ckpt || list == NULL, &slice_end);
        uint64_t pos = log->head_pos;
        uint8_t hash[CRM_HASH_LEN];
        memcpy(hash, log->head_hash, CRM_HASH_LEN);
        int64_t now = crm_now_us();
        if (now < log->last_recorded)
            now = log->last_recorded; /* recorded_at never goes back */

        for (crm_batch *b = list; b && rc == 0; b = b->next)
            rc = apply(log, txn, b, &pos, hash, now);
        if (rc == 0 && g && expect > g->nb)
            rc = apply_arrivals(log, txn, g, expect, dl, &pos, hash, &now);
        expect = 0;
        list = g ? g->list : NULL;
        /* Room for this transaction's heads is made before the commit, so
         * the merge after it cannot fail. Growing moves the table that
         * readers probe: it happens under their lock. */
        if (rc == 0) {
            pthread_mutex_lock(&log->ovl_mu);
            if (crm_scache_reserve(log->overlay,
                                   crm_scache_count(log->pending)) != 0)
                rc = ENOMEM;
            pthread_mutex_unlock(&log->ovl_mu);
        }
        if (rc == 0 && (pos != log->head_pos || ckpt)) {
            uint8_t hv[HEADVAL_LEN];
            put_be64(hv, pos);
            memcpy(hv + 8, hash, CRM_HASH_LEN);
            put_be64(hv + 8 + CRM_HASH_LEN, (uint64_t)now);
            MDB_val k = {4, "head"}, v = {HEADVAL_LEN, hv};
            rc = mdb_put(txn, log->dbi_meta, &k, &v, 0);
        }
        if (rc == 0)
            rc = mdb_txn_commit(txn); /* durable: fsync before return */
        else
            mdb_txn_abort(txn);

        if (rc == LOG_REDO)
            continue; /* a batch met a stored id: redo it carefully */
        if (rc == MDB_MAP_FULL) {
            if (grow_map(log, 0) == 0)
                continue; /* redo the whole group in a larger map */
            fail_group(list, CRM_ERR_UNAVAILABLE,
                       "tenant storage is at its size limit");
            return;
        }
        if (rc != 0) {
            crm_mdb_fail(&e, rc, "commit");
            fail_group(list, e.code, e.msg);
            return;
        }

        int ended = ckpt && slice_end == log->ckpt_n;
        if (ckpt)
            log->ckpt_next = slice_end;
        if (ended)
            ckpt_end(log);
        pthread_mutex_lock(&log->mu);
        size_t nb = 0, nev = 0, ndup = 0, nconf = 0;
        for (crm_batch *b = list; b; b = b->next) {
            nb++;
            if (b->why.code != CRM_OK) {
                nconf++;
                continue;
            }
            for (size_t i = 0; i < b->n; i++)
                b->ev[i].dup ? ndup++ : nev++;
        }
        log->head_pos = pos;
        memcpy(log->head_hash, hash, CRM_HASH_LEN);
        log->last_recorded = now;
        pthread_mutex_unlock(&log->mu);

        /* Then the stream heads, before anyone is acknowledged: a reader
         * never sees a stream position beyond the head. */
        pthread_mutex_lock(&log->ovl_mu);
        crm_scache_merge(log->overlay, log->pending);
        /* after the merge, which the reserve above made safe; a drop that
         * finds no memory leaves the cache as it was */
        if (ended && crm_scache_count(log->overlay) > log->cache_streams)
            crm_scache_drop_clean(log->overlay);
        pthread_mutex_unlock(&log->ovl_mu);
        crm_scache_clear(log->pending);
        if (list == NULL) {
            if (ckpt) {
                pthread_mutex_lock(&log->mu);
                log->st.checkpoint = log->streams_at;
                pthread_mutex_unlock(&log->mu);
            }
            return; /* a checkpoint alone */
        }

        pthread_mutex_lock(&log->mu);
        log->st.commits++;
        log->st.batches += nb;
        log->st.events += nev;
        log->st.duplicates += ndup;
        log->st.conflicts += nconf;
        int bucket = 0;
        while (bucket < CRM_LOG_GROUP_BUCKETS - 1 &&
               ((size_t)1 << bucket) < nev)
            bucket++;
        log->st.group_hist[bucket]++;
        uint64_t moved = pos != log->st.position ? pos : 0;
        log->st.position = pos;
        log->st.checkpoint = log->streams_at;
        pthread_mutex_unlock(&log->mu);
        if (moved && log->on_commit)
            log->on_commit(log->on_commit_arg, log, pos);

        return;
    }
}

/* Makes room ahead of the next commits: the map grows before it is full
 * (a MAP_FULL redo stays rare) and the data file is written ahead
 * (mdbfill.h: at four events per commit nearly every commit extended the
 * file and paid a metadata write for it). Runs after the group is
 * acknowledged, with no write transaction open, so no LMDB write can meet
 * the zeros; the next group waits for it (a remap, or up to 1 MiB of
 * zeros into the page cache, every few hundred commits at most). At open
 * (fill 0) only the map: a log opened for reads writes nothing. */
static void
room_ahead(crm_log *log, int fill)
{
    size_t used = crm_mdbfill_used(log->env);
    if (used > log->map_size / 4 * 3)
        grow_map(log, 0);
    if (fill)
        crm_mdbfill(log->env, used, log->map_size, &log->fill_end);
}

/* The submitters acknowledged by one commit come back with their next
 * batch a little later, while the writer would already be starting the
 * next commit with whoever was fastest: groups would alternate between
 * large and small. So the writer expects as many batches as the last group
 * held: it opens the transaction with the first, writes the others as
 * they come (apply_arrivals) and commits when all are in, or at the latest
 * group_wait after its last commit ended (half of it after a late first
 * batch; CRM_LOG_GROUP_WAIT_US, a fraction of an fsync); the expectation resets
 * to what actually came (PostgreSQL's commit_delay / commit_siblings, made
 * adaptive). After the first batch, submitters wake the writer again only
 * when the rest are all there: a group costs two wake-ups, not one per
 * batch. One appender alone never waits. */

static void
deadline_in(struct timespec *dl, int64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, dl);
    ns += dl->tv_nsec;
    dl->tv_sec += (time_t)(ns / 1000000000);
    dl->tv_nsec = (long)(ns % 1000000000);
}

static void
sync_done(crm_batch *b, void *arg)
{
    (void)b, (void)arg; /* never called: ack_group wakes these itself */
}

/* Runs the done callbacks of a committed group. crm_log_append's waiters
 * are marked under one lock and woken by one broadcast after it, instead
 * of a lock, a signal and a futex round trip each. */
static void
ack_group(crm_log *log, crm_batch *list)
{
    crm_batch *sync = NULL;
    for (crm_batch *b = list, *next; b; b = next) {
        next = b->next; /* done may free b */
        if (b->done == sync_done) {
            b->next = sync;
            sync = b;
            continue;
        }
        b->next = NULL;
        b->done(b, b->done_arg);
    }
    if (sync == NULL)
        return;
    pthread_mutex_lock(&log->ack_mu);
    for (crm_batch *b = sync, *next; b; b = next) {
        next = b->next;
        b->next = NULL;
        b->acked = 1;
    }
    pthread_mutex_unlock(&log->ack_mu);
    pthread_cond_broadcast(&log->ack_cv); /* the log outlives its waiters */
}

static void *
writer_main(void *arg)
{
    crm_log *log = arg;
    size_t last_group = 1;
    struct timespec dl;

    pthread_mutex_lock(&log->mu);
    deadline_in(&dl, 0);
    for (;;) {
        log->want = 1;
        while (log->qhead == NULL && !log->closing && !log->ckpt_asked)
            pthread_cond_wait(&log->cv, &log->mu);
        if (log->qhead == NULL && log->closing)
            break;
        if (log->qhead == NULL) {
            /* Idle, and asked: checkpoint if the usual rule says so, so a
             * tenant that went quiet after a burst replays little. */
            log->ckpt_asked = 0;
            pthread_mutex_unlock(&log->mu);
            run_group(log, NULL, 0, 0, NULL);
            pthread_mutex_lock(&log->mu);
            continue;
        }
        /* dl was set when the previous commit ended; a group that begins
         * late still gives its stragglers half of that wait */
        struct timespec late;
        deadline_in(&late, log->group_wait_ns / 2);
        if (late.tv_sec > dl.tv_sec ||
            (late.tv_sec == dl.tv_sec && late.tv_nsec > dl.tv_nsec))
            dl = late;
        group g = {0};
        take_queued(log, &g);
        pthread_mutex_unlock(&log->mu);

        run_group(log, &g, 0, last_group, &dl);
        last_group = g.nb;
        ack_group(log, g.list);
        deadline_in(&dl, log->group_wait_ns);
        room_ahead(log, 1);
        pthread_mutex_lock(&log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    /* A clean close leaves nothing to replay. */
    run_group(log, NULL, 1, 0, NULL);
    return NULL;
}

void
crm_log_checkpoint(crm_log *log)
{
    pthread_mutex_lock(&log->mu);
    log->ckpt_asked = 1;
    pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
}

crm_err
crm_log_submit(crm_log *log, crm_batch *b, crm_log_done_fn done, void *arg)
{
    b->done = done;
    b->done_arg = arg;
    b->next = NULL;
    pthread_mutex_lock(&log->mu);
    if (log->closing) {
        pthread_mutex_unlock(&log->mu);
        return crm_error_set(&b->why, CRM_ERR_CLOSED, "log is closing");
    }
    if (log->qtail)
        log->qtail->next = b;
    else
        log->qhead = b;
    log->qtail = b;
    log->qbatches++;
    if (log->qbatches >= log->want)
        pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
    return CRM_OK;
}

crm_err
crm_log_append(crm_log *log, crm_batch *b, crm_error *why)
{
    b->acked = 0;
    crm_err err = crm_log_submit(log, b, sync_done, NULL);
    if (err == CRM_OK) {
        pthread_mutex_lock(&log->ack_mu);
        while (!b->acked)
            pthread_cond_wait(&log->ack_cv, &log->ack_mu);
        pthread_mutex_unlock(&log->ack_mu);
    }
    return crm_batch_result(b, why);
}

/* --- reads ---------------------------------------------------------------- */

crm_err
crm_log_rd_begin(crm_log *log, MDB_txn **txn, crm_error *why)
{
    pthread_rwlock_rdlock(&log->maplock);
    int rc = mdb_txn_begin(log->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        pthread_rwlock_unlock(&log->maplock);
        return crm_mdb_fail(why, rc, "begin read");
    }
    return CRM_OK;
}

void
crm_log_rd_end(crm_log *log, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&log->maplock);
}

crm_err
crm_log_read_all(crm_log *log, uint64_t from, size_t max,
                 crm_log_visit_fn visit, void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    crm_err err = crm_log_rd_begin(log, &txn, NULL);
    if (err != CRM_OK)
        return err;
    int rc = mdb_cursor_open(txn, log->dbi_log, &cur);
    if (rc != 0) {
        crm_log_rd_end(log, txn);
        return crm_mdb_fail(NULL, rc, "cursor");
    }
    uint8_t kb[8];
    put_be64(kb, from ? from : 1);
    MDB_val k = {8, kb}, v;
    size_t n = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (visit(arg, get_be64(k.mv_data), v.mv_data, v.mv_size) != 0)
            break;
        if (max && ++n >= max)
            break;
    }
    err = (rc == 0 || rc == MDB_NOTFOUND) ? CRM_OK
                                          : crm_mdb_fail(NULL, rc, "scan");
    mdb_cursor_close(cur);
    crm_log_rd_end(log, txn);
    return err;
}

/* The head of a stream from the overlay; 1 if it was there. Must be
 * called before the caller's read transaction begins (see ovl_mu). */
static int
overlay_head(crm_log *log, const char *stream, size_t len, uint64_t *version,
             uint64_t *position)
{
    pthread_mutex_lock(&log->ovl_mu);
    const crm_shead *h = crm_scache_get(log->overlay, stream, len);
    if (h) {
        *version = h->version;
        *position = h->position;
    }
    pthread_mutex_unlock(&log->ovl_mu);
    return h != NULL;
}

crm_err
crm_log_stream_info(crm_log *log, const char *stream, size_t len,
                    uint64_t *version, uint64_t *position)
{
    MDB_txn *txn;
    if (overlay_head(log, stream, len, version, position))
        return CRM_OK;
    crm_err err = crm_log_rd_begin(log, &txn, NULL);
    if (err != CRM_OK)
        return err;
    MDB_val k = {len, (void *)stream}, v;
    int rc = mdb_get(txn, log->dbi_streams, &k, &v);
    if (rc == 0 && v.mv_size == STREAMVAL_LEN) {
        *version = get_be64(v.mv_data);
        *position = get_be64((const uint8_t *)v.mv_data + 8);
    } else {
        err = rc == MDB_NOTFOUND ? CRM_ERR_NOT_FOUND
              : rc == 0          ? CRM_ERR_CORRUPT
                                 : crm_mdb_fail(NULL, rc, "stream lookup");
    }
    crm_log_rd_end(log, txn);
    return err;
}

typedef struct hop {
    uint64_t pos;
    MDB_val v;
} hop;

/* Moves (*version, *position) back to the stream's first skip entry at
 * or after version `at`, if there is one before *version. */
static void
skip_to(crm_log *log, MDB_txn *txn, const char *stream, size_t len, uint64_t at,
        uint64_t *version, uint64_t *position)
{
    MDB_cursor *cur;
    uint8_t kb[SKIPKEY_MAX];
    MDB_val k = {skip_key(kb, stream, len, at), kb}, v;
    if (mdb_cursor_open(txn, log->dbi_skip, &cur) != 0)
        return; /* the walk from the head is slower, not wrong */
    /* Stream ids hold no byte below 0x20 and versions start with 0x00, so
     * the entries of one stream sort together and a key of another stream
     * never has this length and prefix. */
    if (mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0 &&
        k.mv_size == len + 8 && memcmp(k.mv_data, stream, len) == 0 &&
        v.mv_size == 8) {
        uint64_t ver = get_be64((const uint8_t *)k.mv_data + len);
        if (ver >= at && ver < *version) {
            *version = ver;
            *position = get_be64(v.mv_data);
        }
    }
    mdb_cursor_close(cur);
}

crm_err
crm_log_read_stream(crm_log *log, const char *stream, size_t len,
                    uint64_t from_version, size_t max, crm_log_visit_fn visit,
                    void *arg)
{
    MDB_txn *txn;
    msgpack_zone *z = NULL;
    hop *hops = NULL;
    uint64_t last_ver, pos;
    if (len == 0 || len > CRM_STREAM_MAX)
        return CRM_ERR_NOT_FOUND;
    int cached = overlay_head(log, stream, len, &last_ver, &pos);
    crm_err err = crm_log_rd_begin(log, &txn, NULL);
    if (err != CRM_OK)
        return err;
    if (!cached) {
        MDB_val k = {len, (void *)stream}, v;
        int rc = mdb_get(txn, log->dbi_streams, &k, &v);
        if (rc != 0 || v.mv_size != STREAMVAL_LEN) {
            err = rc == MDB_NOTFOUND ? CRM_ERR_NOT_FOUND : CRM_ERR_CORRUPT;
            goto done;
        }
        last_ver = get_be64(v.mv_data);
        pos = get_be64((const uint8_t *)v.mv_data + 8);
    }
    if (from_version > last_ver)
        goto done;

    /* The walk back along stream_prev starts at the first skip entry at or
     * after the last version asked for, or at the head: at most max +
     * SKIP_EVERY hops however long the stream. */
    uint64_t want_last = last_ver;
    if (max && max - 1 < last_ver - from_version)
        want_last = from_version + max - 1;
    if (last_ver - want_last >= SKIP_EVERY)
        skip_to(log, txn, stream, len, want_last, &last_ver, &pos);

    /* The map pointers stay valid for the whole read transaction, so
     * nothing is copied. */
    size_t n = (size_t)(last_ver - from_version + 1);
    if ((hops = malloc(n * sizeof(*hops))) == NULL ||
        (z = msgpack_zone_new(2048)) == NULL) {
        err = CRM_ERR_NOMEM;
        goto done;
    }
    for (size_t i = n; i-- > 0;) {
        uint8_t kb[8];
        crm_record r;
        put_be64(kb, pos);
        MDB_val rk = {8, kb};
        if (mdb_get(txn, log->dbi_log, &rk, &hops[i].v) != 0) {
            err = CRM_ERR_CORRUPT;
            goto done;
        }
        hops[i].pos = pos;
        msgpack_zone_clear(z);
        if (crm_record_decode(hops[i].v.mv_data, hops[i].v.mv_size, z, &r,
                              NULL) != CRM_OK ||
            r.h.version != from_version + i) {
            err = CRM_ERR_CORRUPT;
            goto done;
        }
        pos = r.h.stream_prev;
    }
    for (size_t i = 0; i < n && (!max || i < max); i++)
        if (visit(arg, hops[i].pos, hops[i].v.mv_data, hops[i].v.mv_size))
            break;
done:
    if (z)
        msgpack_zone_free(z);
    free(hops);
    crm_log_rd_end(log, txn);
    return err;
}

void
crm_log_head(crm_log *log, uint64_t *position, uint8_t hash[CRM_HASH_LEN])
{
    pthread_mutex_lock(&log->mu);
    *position = log->head_pos;
    if (hash)
        memcpy(hash, log->head_hash, CRM_HASH_LEN);
    pthread_mutex_unlock(&log->mu);
}

void
crm_log_genesis(crm_log *log, uint8_t hash[CRM_HASH_LEN])
{
    memcpy(hash, log->genesis, CRM_HASH_LEN);
}

const char *
crm_log_tenant(const crm_log *log)
{
    return log->tenant;
}

void
crm_log_stats_get(crm_log *log, crm_log_stats *st)
{
    MDB_envinfo info;
    MDB_stat ms;
    pthread_rwlock_rdlock(&log->maplock);
    mdb_env_info(log->env, &info);
    mdb_env_stat(log->env, &ms);
    pthread_rwlock_unlock(&log->maplock);
    pthread_mutex_lock(&log->mu);
    *st = log->st;
    pthread_mutex_unlock(&log->mu);
    st->map_size = info.me_mapsize;
    st->map_used = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
}
