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
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "be.h"
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

/* The tenant's keys (vault.h). meta "key_epoch" marks a sealed tenant; a
 * log with no events yet becomes one when a master key is given. The index
 * key of a sealed tenant is kept wrapped ("index_key_w"); idx is set to it,
 * or left NULL for an unsealed tenant (proj.h keeps its own). */
static crm_err
open_keys(crm_log *log, MDB_txn *txn, const char *dir, const uint8_t *master,
          uint8_t index_key[CRM_KEY_LEN], const uint8_t **idx, crm_error *why)
{
    MDB_val ek = {9, "key_epoch"}, v;
    uint8_t eb[4];
    uint32_t epoch = 0;
    int rc = mdb_get(txn, log->dbi_meta, &ek, &v);
    *idx = NULL;
    if (rc == 0 && v.mv_size == 4)
        epoch = (uint32_t)crm_get_be(v.mv_data, 4);
    else if (rc != MDB_NOTFOUND)
        return crm_mdb_fail(why, rc ? rc : MDB_CORRUPTED, "read key epoch");
    if (epoch == 0 && (master == NULL || log->head_pos > 0))
        return CRM_OK; /* unsealed */
    if (master == NULL)
        return crm_error_set(why, CRM_ERR_FORBIDDEN,
                             "tenant %s keeps its personal data sealed: "
                             "crmd needs the master key (--master-key)",
                             log->tenant);
    crm_err err = crm_vault_open(dir, log->tenant, master, epoch, epoch == 0,
                                 &log->vault, why);
    if (err != CRM_OK)
        return err;
    if (epoch == 0) {
        crm_put_be(eb, crm_vault_epoch(log->vault), 4);
        v.mv_size = 4;
        v.mv_data = eb;
        if ((rc = mdb_put(txn, log->dbi_meta, &ek, &v, 0)) != 0)
            return crm_mdb_fail(why, rc, "write key epoch");
    }
    MDB_val wk = {11, "index_key_w"}, pk = {9, "index_key"};
    rc = mdb_get(txn, log->dbi_meta, &wk, &v);
    if (rc == 0) {
        if (crm_vault_unwrap(log->vault, 'I', "index", 5, v.mv_data, v.mv_size,
                             index_key) != 0)
            return crm_error_set(why, CRM_ERR_CORRUPT,
                                 "tenant %s: its index key does not open",
                                 log->tenant);
        *idx = index_key;
        return CRM_OK;
    }
    if (rc != MDB_NOTFOUND)
        return crm_mdb_fail(why, rc, "read index key");
    /* none yet, or kept in the clear by an unsealed start: wrap it */
    rc = mdb_get(txn, log->dbi_meta, &pk, &v);
    if (rc == 0 && v.mv_size == CRM_KEY_LEN)
        memcpy(index_key, v.mv_data, CRM_KEY_LEN);
    else if (rc == MDB_NOTFOUND || rc == 0)
        rc = RAND_bytes(index_key, CRM_KEY_LEN) == 1 ? MDB_NOTFOUND : EIO;
    uint8_t w[4 + CRM_WRAPPED_LEN];
    if (rc == EIO || crm_vault_wrap(log->vault, 'I', "index", 5, index_key, w))
        return crm_error_set(why, CRM_ERR_IO, "cannot make an index key");
    v.mv_size = sizeof(w);
    v.mv_data = w;
    if ((rc = mdb_put(txn, log->dbi_meta, &wk, &v, 0)) != 0 ||
        ((rc = mdb_del(txn, log->dbi_meta, &pk, NULL)) != 0 &&
         rc != MDB_NOTFOUND))
        return crm_mdb_fail(why, rc, "write index key");
    *idx = index_key;
    return CRM_OK;
}

typedef struct skip_build {
    crm_log *log;
    MDB_txn *txn;
    int rc;
} skip_build;

static int
add_skip(void *arg, uint64_t key_pos, const MDB_val *raw, const crm_record *r)
{
    skip_build *sb = arg;
    if (!skip_due(r->h.version))
        return 0;
    uint8_t kb[SKIPKEY_MAX], pb[8];
    put_be64(pb, r->h.position);
    MDB_val sk = {skip_key(kb, r->stream, r->stream_len, r->h.version), kb},
            sv = {8, pb};
    sb->rc = mdb_put(sb->txn, sb->log->dbi_skip, &sk, &sv, 0);
    return sb->rc != 0;
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

    skip_build sb = {log, txn, 0};
    crm_err err = crm_log_scan(log, txn, 1, log->wzone, 0, add_skip, &sb, NULL,
                               why);
    if (err == CRM_OK && sb.rc != 0)
        err = crm_mdb_fail(why, sb.rc, "upgrade");
    if (err != CRM_OK)
        return err;
    MDB_val fv = {1, LOG_FORMAT};
    if ((rc = mdb_put(txn, log->dbi_meta, &k, &fv, 0)) != 0)
        return crm_mdb_fail(why, rc, "upgrade");
    return CRM_OK;
}

typedef struct replay {
    crm_log *log;
    int nomem;
} replay;

static int
replay_head(void *arg, uint64_t key_pos, const MDB_val *raw, const crm_record *r)
{
    replay *rp = arg;
    rp->nomem = crm_scache_put(rp->log->overlay, r->stream, r->stream_len,
                               r->h.version, r->h.position) != 0;
    return rp->nomem;
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

    replay rp = {log, 0};
    crm_err err = crm_log_scan(log, txn, log->streams_at + 1, log->wzone, 0,
                               replay_head, &rp, NULL, why);
    if (err == CRM_OK && rp.nomem)
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
    return err;
}

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
    log->skey_gen = 1;
    log->sign_ns = (int64_t)o.sign_ms * 1000000;
    log->on_commit = o.on_commit;
    log->on_commit_arg = o.on_commit_arg;
    log->progress = o.progress;
    log->progress_arg = o.progress_arg;
    pthread_mutex_init(&log->txn_mu, NULL);
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
        (rc = mdb_env_set_maxdbs(log->env, 16 + 2 * CRM_PROJ_MAX * CRM_PROJ_DBS_MAX)) != 0 ||
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
    crm_log_room_ahead(log, 0); /* the zeros wait for a commit: reads need none */

    if ((rc = mdb_txn_begin(log->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, "log", MDB_CREATE, &log->dbi_log)) != 0 ||
        (rc = mdb_dbi_open(txn, "streams", MDB_CREATE, &log->dbi_streams)) !=
            0 ||
        (rc = mdb_dbi_open(txn, "event_ids", MDB_CREATE, &log->dbi_ids)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &log->dbi_meta)) != 0 ||
        (rc = mdb_dbi_open(txn, "stream_skip", MDB_CREATE, &log->dbi_skip)) !=
            0 ||
        (rc = mdb_dbi_open(txn, "subject_keys", MDB_CREATE,
                           &log->dbi_subjects)) != 0 ||
        (rc = mdb_dbi_open(txn, "erasures", MDB_CREATE,
                           &log->dbi_erasures)) != 0 ||
        (rc = mdb_dbi_open(txn, "checkpoints", MDB_CREATE,
                           &log->dbi_ckpts)) != 0 ||
        (rc = crm_log_access_open(log, txn, &o)) != 0) {
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
    uint8_t index_key[CRM_KEY_LEN];
    const uint8_t *idx = NULL;
    if ((err = upgrade_format(log, txn, why)) != CRM_OK ||
        (err = replay_heads(log, txn, why)) != CRM_OK ||
        (err = open_keys(log, txn, dir, o.master_key, index_key, &idx, why)) !=
            CRM_OK ||
        (err = (rc = crm_log_sign_open(log, txn)) == 0
                   ? CRM_OK
                   : rc == EIO ? crm_error_set(why, CRM_ERR_CORRUPT,
                                               "tenant %s: its signing key "
                                               "does not open",
                                               tenant)
                               : crm_mdb_fail(why, rc, "signing key")) !=
            CRM_OK ||
        (err = crm_proj_open(txn, log->dbi_meta, idx, o.projections,
                             o.nprojections, &log->proj, why)) != CRM_OK) {
        crm_wipe(index_key, sizeof(index_key));
        goto fail;
    }
    crm_wipe(index_key, sizeof(index_key));
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        err = crm_mdb_fail(why, rc, "initialise log");
        goto fail;
    }
    log->st.position = log->head_pos;
    log->st.checkpoint = log->streams_at;
    if ((err = crm_log_catch_up(log, why)) != CRM_OK)
        goto fail;

    if (pthread_create(&log->writer, NULL, crm_log_writer_main, log) != 0) {
        err = crm_error_set(why, CRM_ERR_NOMEM, "cannot start log writer");
        goto fail;
    }
    log->writer_running = 1;
    /* A projection whose stored format is not this build's is rebuilt
     * before the log is served. */
    for (size_t i = 0; i < crm_proj_count(log->proj); i++) {
        if (!crm_proj_stale(log->proj, i))
            continue;
        crm_log_rebuilt r;
        size_t nr;
        if ((err = crm_log_rebuild(log, crm_proj_def_at(log->proj, i)->name,
                                   &r, &nr, why)) != CRM_OK)
            goto fail;
    }
    if ((err = crm_log_eraser_start(log, why)) != CRM_OK ||
        (err = crm_log_access_start(log, why)) != CRM_OK)
        goto fail;
    *out = log;
    return CRM_OK;
fail:
    if (txn)
        mdb_txn_abort(txn);
    crm_log_close(log);
    return err;
}

void
crm_log_stop(crm_log *log)
{
    if (log == NULL || !log->writer_running)
        return;
    pthread_mutex_lock(&log->mu);
    log->closing = 1; /* a round of the eraser stops at its next chunk */
    pthread_cond_broadcast(&log->cv);
    pthread_mutex_unlock(&log->mu);
    crm_log_eraser_stop(log);
    pthread_mutex_lock(&log->mu);
    /* a rebuild on another thread stops at its next chunk */
    while (log->rebuilding)
        pthread_cond_wait(&log->cv, &log->mu);
    pthread_mutex_unlock(&log->mu);
    pthread_join(log->writer, NULL);
    log->writer_running = 0;
}

void
crm_log_close(crm_log *log)
{
    if (log == NULL)
        return;
    crm_log_stop(log);
    /* the access entries queued until now, by the threads that are done
     * with the log, written while the environment is open */
    crm_log_access_close(log);
    crm_log_eraser_free(log);
    if (log->env)
        mdb_env_close(log->env);
    if (log->wzone)
        msgpack_zone_free(log->wzone);
    crm_scache_free(log->overlay);
    crm_scache_free(log->pending);
    free(log->ckpt_snap);
    free(log->wg);
    crm_proj_close(log->proj);
    crm_vault_close(log->vault);
    crm_wipe(log->sign_seed, sizeof(log->sign_seed));
    if (log->skeys) {
        crm_wipe(log->skeys, log->skey_slots * sizeof(*log->skeys));
        free(log->skeys);
    }
    pthread_mutex_destroy(&log->txn_mu);
    pthread_mutex_destroy(&log->ovl_mu);
    pthread_rwlock_destroy(&log->maplock);
    pthread_cond_destroy(&log->cv);
    pthread_mutex_destroy(&log->mu);
    pthread_cond_destroy(&log->ack_cv);
    pthread_mutex_destroy(&log->ack_mu);
    free(log);
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

const crm_proj_set *
crm_log_projections(const crm_log *log)
{
    return log->proj;
}

int
crm_log_sealed(const crm_log *log)
{
    return log->vault != NULL;
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
