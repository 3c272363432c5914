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
#include "log.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "mdberr.h"
#include "record.h"
#include "scache.h"

#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)
#define IDVAL_LEN (8 + CRM_DIGEST_LEN) /* event_ids value */
#define STREAMVAL_LEN 16               /* streams value */
#define HEADVAL_LEN (8 + CRM_HASH_LEN + 8)
/* Stream heads are checkpointed into the streams index when this many
 * are dirty, or this long after the previous checkpoint; it bounds what
 * opening a log has to replay. */
#define CKPT_STREAMS 32768
#define CACHE_STREAMS (1u << 20) /* ~90 MiB of stream heads per tenant */
#define GROUP_BYTES (32u << 20)
#define LOG_REDO (-1) /* apply(): abort and redo the group (not an LMDB code)  \
                       */
#define CKPT_NS 1000000000LL

typedef struct bevent {
    size_t off, len; /* canonical content in batch->content */
    uint8_t digest[CRM_DIGEST_LEN];
    uint32_t group;
    uint8_t dup;
    uint64_t position, version;
} bevent;

typedef struct bgroup {
    size_t off, len; /* stream id bytes in batch->content */
    int64_t expect;
    /* writer state while the batch is applied */
    int exists, has_new, touched;
    uint64_t version, last_pos;
} bgroup;

struct crm_batch {
    size_t n, ngroups;
    bevent *ev;
    bgroup *groups;
    msgpack_sbuffer content;
    char actor[CRM_ACTOR_MAX];
    size_t actor_len;
    crm_error why;
    crm_log_done_fn done;
    void *done_arg;
    crm_batch *next;
    int careful; /* look ids up before writing (a retry was detected) */
};

struct crm_log {
    char tenant[CRM_TENANT_MAX + 1];
    size_t tenant_len;
    MDB_env *env;
    MDB_dbi dbi_log, dbi_streams, dbi_ids, dbi_meta;
    size_t map_size, map_max, group_events;
    crm_log_commit_fn on_commit;
    void *on_commit_arg;

    /* Readers hold it shared for the life of a read txn; the writer takes
     * it exclusively to remap when the map grows. */
    pthread_rwlock_t maplock;

    pthread_mutex_t mu; /* queue, head, stats */
    pthread_cond_t cv;
    crm_batch *qhead, *qtail;
    size_t qbatches;
    size_t want; /* the writer sleeps until this many batches are queued */
    int closing, writer_running;
    pthread_t writer;

    uint64_t head_pos;
    uint8_t head_hash[CRM_HASH_LEN];
    int64_t last_recorded;
    uint8_t genesis[CRM_HASH_LEN];
    crm_log_stats st;

    msgpack_zone *wzone; /* writer thread only */

    /* Stream heads newer than the streams index. The writer alone changes
     * it (under ovl_mu, right after a commit and before acknowledging);
     * readers look here first, under ovl_mu, and begin their read
     * transaction only afterwards, so a head they miss here is already in
     * the index their transaction sees. */
    pthread_mutex_t ovl_mu;
    crm_scache *overlay;
    crm_scache *pending; /* heads set by the transaction being built */
    uint64_t streams_at; /* the streams index is current up to here */
    int64_t last_ckpt_ns;
};

/* --- helpers -------------------------------------------------------------- */

static void
put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t
get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static const uint8_t *
batch_stream(const crm_batch *b, const bgroup *g)
{
    return (const uint8_t *)b->content.data + g->off;
}

/* --- batches -------------------------------------------------------------- */

void
crm_batch_free(crm_batch *b)
{
    if (b == NULL) return;
    free(b->ev);
    free(b->groups);
    msgpack_sbuffer_destroy(&b->content);
    free(b);
}

size_t
crm_batch_count(const crm_batch *b)
{
    return b->n;
}

uint64_t
crm_batch_position(const crm_batch *b, size_t i)
{
    return i < b->n ? b->ev[i].position : 0;
}

uint64_t
crm_batch_version(const crm_batch *b, size_t i)
{
    return i < b->n ? b->ev[i].version : 0;
}

int
crm_batch_is_duplicate(const crm_batch *b, size_t i)
{
    return i < b->n && b->ev[i].dup;
}

crm_err
crm_batch_result(const crm_batch *b, crm_error *why)
{
    if (why != NULL) *why = b->why;
    return b->why.code;
}

static int
cmp_stream(const void *pa, const void *pb, void *arg)
{
    const crm_batch *b = arg;
    const bgroup *x = pa, *y = pb;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(batch_stream(b, x), batch_stream(b, y), n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int
cmp_id(const void *pa, const void *pb, void *arg)
{
    const crm_batch *b = arg;
    const bevent *x = *(const bevent *const *)pa,
                 *y = *(const bevent *const *)pb;
    /* the id is the content's first object: bin-8 header then 16 bytes */
    return memcmp((const uint8_t *)b->content.data + x->off + 2,
                  (const uint8_t *)b->content.data + y->off + 2, CRM_ID_LEN);
}

static bgroup *
find_group(crm_batch *b, const bgroup *key, size_t nsorted)
{
    size_t lo = 0, hi = nsorted;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp_stream(key, &b->groups[mid], b);
        if (c == 0) return &b->groups[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

crm_err
crm_batch_prepare(const crm_event_in *ev, size_t n, const crm_expect *exp,
                  size_t nexp, const char *actor, size_t actor_len,
                  crm_batch **out, crm_error *why)
{
    crm_batch *b = NULL;
    bevent **byid = NULL;
    crm_err err;

    *out = NULL;
    if (n == 0)
        return crm_error_set(why, CRM_ERR_EMPTY_BATCH, "batch holds no events");
    if (n > CRM_BATCH_MAX)
        return crm_error_set(why, CRM_ERR_TOO_LARGE,
                             "batch holds %zu events; the limit is %d", n,
                             CRM_BATCH_MAX);
    if (actor_len > CRM_ACTOR_MAX)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "actor id too long");

    if ((b = calloc(1, sizeof(*b))) == NULL ||
        (b->ev = calloc(n, sizeof(*b->ev))) == NULL ||
        (b->groups = calloc(n, sizeof(*b->groups))) == NULL ||
        (byid = malloc(n * sizeof(*byid))) == NULL) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto fail;
    }
    msgpack_sbuffer_init(&b->content);
    b->n = n;
    memcpy(b->actor, actor, actor_len);
    b->actor_len = actor_len;

    for (size_t i = 0; i < n; i++) {
        size_t off = b->content.size;
        if ((err = crm_event_encode(&ev[i], &b->content, why)) != CRM_OK) {
            crm_error_prefix(why, "event %zu", i);
            goto fail;
        }
        b->ev[i].off = off;
        b->ev[i].len = b->content.size - off;
        if (b->content.size > CRM_BATCH_BYTES) {
            err =
                crm_error_set(why, CRM_ERR_TOO_LARGE,
                              "batch is larger than %u bytes", CRM_BATCH_BYTES);
            goto fail;
        }
        /* The stream id follows the 18-byte id as fixstr (< 32 bytes) or
         * str 8: canonical encoding fixes which. */
        size_t slen = ev[i].stream_len;
        b->groups[i].off = off + 2 + CRM_ID_LEN + (slen < 32 ? 1 : 2);
        b->groups[i].len = slen;
        b->groups[i].expect = CRM_EXPECT_ANY;
        crm_event_digest(b->content.data + off, b->ev[i].len, b->ev[i].digest);
        byid[i] = &b->ev[i];
    }

    qsort_r(byid, n, sizeof(*byid), cmp_id, b);
    for (size_t i = 1; i < n; i++) {
        if (cmp_id(&byid[i - 1], &byid[i], b) == 0) {
            err = crm_error_set(why, CRM_ERR_DUPLICATE_ID,
                                "event %zu repeats the id of event %zu",
                                (size_t)(byid[i] - b->ev),
                                (size_t)(byid[i - 1] - b->ev));
            goto fail;
        }
    }

    /* One group per distinct stream, sorted so expectations can find
     * theirs by binary search; each event then learns its group. */
    qsort_r(b->groups, n, sizeof(*b->groups), cmp_stream, b);
    size_t ng = 0;
    for (size_t i = 0; i < n; i++)
        if (ng == 0 || cmp_stream(&b->groups[ng - 1], &b->groups[i], b) != 0)
            b->groups[ng++] = b->groups[i];
    b->ngroups = ng;
    for (size_t i = 0; i < n; i++) {
        bgroup key = {.off = b->ev[i].off + 2 + CRM_ID_LEN +
                             (ev[i].stream_len < 32 ? 1 : 2),
                      .len = ev[i].stream_len};
        b->ev[i].group = (uint32_t)(find_group(b, &key, ng) - b->groups);
    }

    for (size_t i = 0; i < nexp; i++) {
        const crm_expect *x = &exp[i];
        if (x->version < CRM_EXPECT_EXISTS || x->version == -3) {
            err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                "expected version %lld is not valid",
                                (long long)x->version);
            goto fail;
        }
        bgroup *g = NULL;
        for (size_t k = 0; k < ng && g == NULL; k++)
            if (b->groups[k].len == x->stream_len &&
                memcmp(batch_stream(b, &b->groups[k]), x->stream,
                       x->stream_len) == 0)
                g = &b->groups[k];
        if (g == NULL) {
            err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                "expected version names a stream with no "
                                "event in the batch");
            goto fail;
        }
        if (g->expect != CRM_EXPECT_ANY) {
            err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                "two expected versions for one stream");
            goto fail;
        }
        g->expect = x->version;
    }

    free(byid);
    b->why.code = CRM_OK;
    *out = b;
    return CRM_OK;
fail:
    free(byid);
    crm_batch_free(b);
    return err;
}

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
    if (rc != 0) return rc;
    if (v.mv_size != HEADVAL_LEN) return MDB_CORRUPTED;
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
        if ((rc = mdb_get(txn, log->dbi_meta, &gk, &v)) != 0) return rc;
        if (v.mv_size != CRM_HASH_LEN) return MDB_CORRUPTED;
        memcpy(log->genesis, v.mv_data, CRM_HASH_LEN);
        return 0;
    }
    if (rc != MDB_NOTFOUND) return rc;

    /* A new log: genesis binds the tenant id and its creation time, so a
     * tenant deleted and created again starts a different chain. */
    char seed[128];
    int slen = snprintf(seed, sizeof(seed), "crmd-genesis-v1\n%s\n%lld",
                        log->tenant, (long long)crm_now_us());
    crm_sha256_2(seed, (size_t)slen, NULL, 0, log->genesis);
    v.mv_size = log->tenant_len;
    v.mv_data = log->tenant;
    if ((rc = mdb_put(txn, log->dbi_meta, &k, &v, 0)) != 0) return rc;
    MDB_val gk = {7, "genesis"}, gv = {CRM_HASH_LEN, log->genesis};
    if ((rc = mdb_put(txn, log->dbi_meta, &gk, &gv, 0)) != 0) return rc;
    uint8_t zero[8] = {0};
    MDB_val sk = {10, "streams_at"}, sv = {8, zero};
    if ((rc = mdb_put(txn, log->dbi_meta, &sk, &sv, 0)) != 0) return rc;
    MDB_val fk = {6, "format"}, fv = {1, "1"};
    return mdb_put(txn, log->dbi_meta, &fk, &fv, 0);
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
    if (err == CRM_OK && rc != MDB_NOTFOUND) err = crm_mdb_fail(why, rc, "replay");
    mdb_cursor_close(cur);
    return err;
}

static void *writer_main(void *arg);

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
    log->want = 1;
    log->on_commit = o.on_commit;
    log->on_commit_arg = o.on_commit_arg;
    pthread_mutex_init(&log->mu, NULL);
    pthread_cond_init(&log->cv, NULL);
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
    /* The file may already be larger than the configured start size. */
    MDB_envinfo info;
    mdb_env_info(log->env, &info);
    log->map_size = info.me_mapsize;

    if ((rc = mdb_txn_begin(log->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, "log", MDB_CREATE, &log->dbi_log)) != 0 ||
        (rc = mdb_dbi_open(txn, "streams", MDB_CREATE, &log->dbi_streams)) !=
            0 ||
        (rc = mdb_dbi_open(txn, "event_ids", MDB_CREATE, &log->dbi_ids)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &log->dbi_meta)) != 0) {
        err = crm_mdb_fail(why, rc, "open log databases");
        goto fail;
    }
    if ((rc = init_meta(log, txn, why, &err)) != 0) {
        if (rc > 0 || rc < -1) err = crm_mdb_fail(why, rc, "read log meta");
        goto fail;
    }
    if ((rc = read_head(log, txn)) != 0) {
        err = crm_mdb_fail(why, rc, "read log head");
        goto fail;
    }
    if ((err = replay_heads(log, txn, why)) != CRM_OK) goto fail;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        err = crm_mdb_fail(why, rc, "initialise log");
        goto fail;
    }
    log->st.position = log->head_pos;

    if (pthread_create(&log->writer, NULL, writer_main, log) != 0) {
        err = crm_error_set(why, CRM_ERR_NOMEM, "cannot start log writer");
        goto fail;
    }
    log->writer_running = 1;
    *out = log;
    return CRM_OK;
fail:
    if (txn) mdb_txn_abort(txn);
    crm_log_close(log);
    return err;
}

void
crm_log_close(crm_log *log)
{
    if (log == NULL) return;
    if (log->writer_running) {
        pthread_mutex_lock(&log->mu);
        log->closing = 1;
        pthread_cond_broadcast(&log->cv);
        pthread_mutex_unlock(&log->mu);
        pthread_join(log->writer, NULL);
    }
    if (log->env) mdb_env_close(log->env);
    if (log->wzone) msgpack_zone_free(log->wzone);
    crm_scache_free(log->overlay);
    crm_scache_free(log->pending);
    pthread_mutex_destroy(&log->ovl_mu);
    pthread_rwlock_destroy(&log->maplock);
    pthread_cond_destroy(&log->cv);
    pthread_mutex_destroy(&log->mu);
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
    if (rc != 0) return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
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
    if (e == CRM_EXPECT_NO_STREAM) return "no_stream";
    if (e == CRM_EXPECT_EXISTS) return "stream_exists";
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
        if (rc != 0) return rc;
        if (v.mv_size != IDVAL_LEN) return MDB_CORRUPTED;
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
        if (!gr->has_new || gr->expect == CRM_EXPECT_ANY) continue;
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
        if (h == NULL) h = crm_scache_get(log->overlay, sid, gr->len);
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
    if (b->why.code != CRM_OK) return 0;

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
        if (e->dup) continue;
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
        if (rc != 0) return rc;

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

typedef struct ckpt_arg {
    crm_log *log;
    MDB_txn *txn;
    int rc;
} ckpt_arg;

static void
ckpt_put(void *arg, const crm_shead *h)
{
    ckpt_arg *a = arg;
    uint8_t sb[STREAMVAL_LEN];
    if (a->rc != 0) return;
    put_be64(sb, h->version);
    put_be64(sb + 8, h->position);
    MDB_val k = {h->len, (void *)h->id}, v = {STREAMVAL_LEN, sb};
    a->rc = mdb_put(a->txn, a->log->dbi_streams, &k, &v, 0);
}

/* Writes the overlay into the streams index, current up to the committed
 * head, inside the group's transaction. */
static int
checkpoint(crm_log *log, MDB_txn *txn)
{
    ckpt_arg a = {log, txn, 0};
    crm_scache_each(log->overlay, 1, ckpt_put, &a);
    if (a.rc != 0) return a.rc;
    uint8_t at[8];
    put_be64(at, log->head_pos);
    MDB_val k = {10, "streams_at"}, v = {8, at};
    return mdb_put(txn, log->dbi_meta, &k, &v, 0);
}

/* Enlarges the map; readers are held off while LMDB remaps. */
static int
grow_map(crm_log *log, size_t want)
{
    size_t next = log->map_size < GIB ? log->map_size * 2 : log->map_size + GIB;
    if (next < want) next = want;
    if (next > log->map_max) next = log->map_max;
    if (next <= log->map_size) return -1;
    pthread_rwlock_wrlock(&log->maplock);
    int rc = mdb_env_set_mapsize(log->env, next);
    pthread_rwlock_unlock(&log->maplock);
    if (rc != 0) return -1;
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

static void
run_group(crm_log *log, crm_batch *list, int force_ckpt)
{
    for (;;) {
        MDB_txn *txn;
        crm_error e;
        int rc = mdb_txn_begin(log->env, NULL, 0, &txn);
        if (rc != 0) {
            crm_mdb_fail(&e, rc, "begin write");
            fail_group(list, e.code, e.msg);
            return;
        }
        crm_scache_clear(log->pending);
        size_t nov = crm_scache_dirty(log->overlay);
        int ckpt = nov > 0 && (force_ckpt || nov >= CKPT_STREAMS ||
                               crm_mono_ns() - log->last_ckpt_ns >= CKPT_NS);
        if (ckpt) rc = checkpoint(log, txn);
        uint64_t pos = log->head_pos;
        uint8_t hash[CRM_HASH_LEN];
        memcpy(hash, log->head_hash, CRM_HASH_LEN);
        int64_t now = crm_now_us();
        if (now < log->last_recorded)
            now = log->last_recorded; /* recorded_at never goes back */

        for (crm_batch *b = list; b && rc == 0; b = b->next)
            rc = apply(log, txn, b, &pos, hash, now);
        /* Room for this transaction's heads is made before the commit, so
         * the merge after it cannot fail. */
        if (rc == 0 && crm_scache_reserve(log->overlay,
                                          crm_scache_count(log->pending)) != 0)
            rc = ENOMEM;
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

        /* The checkpoint covered the heads up to the previous head. */
        if (ckpt) {
            log->streams_at = log->head_pos;
            log->last_ckpt_ns = crm_mono_ns();
        }
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
        if (ckpt) {
            /* Written heads stay as clean entries, so streams seen lately
             * need no index lookup; past a bound the cache starts over. */
            crm_scache_mark_clean(log->overlay);
            if (crm_scache_count(log->overlay) > CACHE_STREAMS)
                crm_scache_clear(log->overlay);
        }
        crm_scache_merge(log->overlay, log->pending);
        pthread_mutex_unlock(&log->ovl_mu);
        crm_scache_clear(log->pending);
        if (list == NULL) return; /* the closing checkpoint */

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
        pthread_mutex_unlock(&log->mu);
        if (moved && log->on_commit)
            log->on_commit(log->on_commit_arg, log, pos);

        /* Grow ahead of need so MAP_FULL redo stays rare. */
        MDB_envinfo info;
        MDB_stat ms;
        mdb_env_info(log->env, &info);
        mdb_env_stat(log->env, &ms);
        if ((info.me_last_pgno + 1) * (size_t)ms.ms_psize >
            log->map_size / 4 * 3)
            grow_map(log, 0);
        return;
    }
}

/* The submitters acknowledged by one commit come back with their next
 * batch a little later, while the writer would already be starting the
 * next commit with whoever was fastest: groups would alternate between
 * large and small. So the writer expects as many batches as the last group
 * held and waits for them, from the end of its commit and never longer
 * than a fraction of an fsync; the expectation resets to what actually
 * came (PostgreSQL's commit_delay / commit_siblings, made adaptive).
 * Submitters wake the writer only when the batches it waits for are all
 * there, so a group costs one wake-up, not one per batch. One appender
 * alone never waits. */
#define GROUP_WAIT_NS 150000

static void
deadline_in(struct timespec *dl, long ns)
{
    clock_gettime(CLOCK_REALTIME, dl);
    dl->tv_nsec += ns;
    if (dl->tv_nsec >= 1000000000) {
        dl->tv_sec++;
        dl->tv_nsec -= 1000000000;
    }
}

/* Waits (log->mu held) until `expect` batches are queued or dl passes. */
static void
wait_for_batches(crm_log *log, size_t expect, const struct timespec *dl)
{
    log->want = expect;
    while (log->qbatches < expect && !log->closing)
        if (pthread_cond_timedwait(&log->cv, &log->mu, dl) != 0)
            break;
    log->want = 1;
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
        /* dl was set when the previous commit ended */
        if (last_group > 1)
            wait_for_batches(log, last_group, &dl);
        log->want = 1;
        while (log->qhead == NULL && !log->closing)
            pthread_cond_wait(&log->cv, &log->mu);
        if (log->qhead == NULL)
            break;
        if (log->qbatches < last_group) {
            struct timespec late;
            deadline_in(&late, GROUP_WAIT_NS / 2);
            wait_for_batches(log, last_group, &late);
        }
        /* Everything queued joins this commit, up to group_events events
         * and GROUP_BYTES bytes (far below LMDB's dirty-page limit). */
        crm_batch *list = log->qhead, *last = list;
        size_t nev = list->n, nb = 1, bytes = list->content.size;
        while (last->next && nev + last->next->n <= log->group_events &&
               bytes + last->next->content.size <= GROUP_BYTES) {
            last = last->next;
            nev += last->n;
            bytes += last->content.size;
            nb++;
        }
        log->qhead = last->next;
        if (log->qhead == NULL)
            log->qtail = NULL;
        log->qbatches -= nb;
        last_group = nb;
        last->next = NULL;
        pthread_mutex_unlock(&log->mu);

        run_group(log, list, 0);
        for (crm_batch *b = list, *next; b; b = next) {
            next = b->next; /* done may free b */
            b->next = NULL;
            b->done(b, b->done_arg);
        }
        deadline_in(&dl, GROUP_WAIT_NS);
        pthread_mutex_lock(&log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    /* A clean close leaves nothing to replay. */
    run_group(log, NULL, 1);
    return NULL;
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

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} waiter;

static void
wake(crm_batch *b, void *arg)
{
    waiter *w = arg;
    (void)b;
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

crm_err
crm_log_append(crm_log *log, crm_batch *b, crm_error *why)
{
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    crm_err err = crm_log_submit(log, b, wake, &w);
    if (err == CRM_OK) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return crm_batch_result(b, why);
}

/* --- reads ---------------------------------------------------------------- */

static crm_err
rd_begin(crm_log *log, MDB_txn **txn, crm_error *why)
{
    pthread_rwlock_rdlock(&log->maplock);
    int rc = mdb_txn_begin(log->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        pthread_rwlock_unlock(&log->maplock);
        return crm_mdb_fail(why, rc, "begin read");
    }
    return CRM_OK;
}

static void
rd_end(crm_log *log, MDB_txn *txn)
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
    crm_err err = rd_begin(log, &txn, NULL);
    if (err != CRM_OK) return err;
    int rc = mdb_cursor_open(txn, log->dbi_log, &cur);
    if (rc != 0) {
        rd_end(log, txn);
        return crm_mdb_fail(NULL, rc, "cursor");
    }
    uint8_t kb[8];
    put_be64(kb, from ? from : 1);
    MDB_val k = {8, kb}, v;
    size_t n = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (visit(arg, get_be64(k.mv_data), v.mv_data, v.mv_size) != 0) break;
        if (max && ++n >= max) break;
    }
    err = (rc == 0 || rc == MDB_NOTFOUND) ? CRM_OK : crm_mdb_fail(NULL, rc, "scan");
    mdb_cursor_close(cur);
    rd_end(log, txn);
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
    if (overlay_head(log, stream, len, version, position)) return CRM_OK;
    crm_err err = rd_begin(log, &txn, NULL);
    if (err != CRM_OK) return err;
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
    rd_end(log, txn);
    return err;
}

typedef struct hop {
    uint64_t pos;
    MDB_val v;
} hop;

crm_err
crm_log_read_stream(crm_log *log, const char *stream, size_t len,
                    uint64_t from_version, size_t max, crm_log_visit_fn visit,
                    void *arg)
{
    MDB_txn *txn;
    msgpack_zone *z = NULL;
    hop *hops = NULL;
    uint64_t last_ver, pos;
    if (len == 0 || len > CRM_STREAM_MAX) return CRM_ERR_NOT_FOUND;
    int cached = overlay_head(log, stream, len, &last_ver, &pos);
    crm_err err = rd_begin(log, &txn, NULL);
    if (err != CRM_OK) return err;
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
    if (from_version > last_ver) goto done;

    /* Walk back along stream_prev to from_version; the map pointers stay
     * valid for the whole read transaction, so nothing is copied. */
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
    if (z) msgpack_zone_free(z);
    free(hops);
    rd_end(log, txn);
    return err;
}

void
crm_log_head(crm_log *log, uint64_t *position, uint8_t hash[CRM_HASH_LEN])
{
    pthread_mutex_lock(&log->mu);
    *position = log->head_pos;
    if (hash) memcpy(hash, log->head_hash, CRM_HASH_LEN);
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

/* --- verification --------------------------------------------------------- */

static crm_err bad(crm_error *why, uint64_t *bad_position, uint64_t pos,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static crm_err
bad(crm_error *why, uint64_t *bad_position, uint64_t pos, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (bad_position) *bad_position = pos;
    return crm_error_set(why, CRM_ERR_CORRUPT, "%s", msg);
}

crm_err
crm_log_verify(crm_log *log, uint64_t *bad_position, crm_error *why)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    msgpack_zone *z = NULL;
    crm_scache *heads = NULL;
    uint64_t streams_at = 0, at_ckpt = 0;
    crm_err err;
    uint8_t hash[CRM_HASH_LEN], head_hash[CRM_HASH_LEN];
    uint64_t expect = 1, head_pos;
    int rc;

    if (bad_position) *bad_position = 0;
    if ((err = rd_begin(log, &txn, why)) != CRM_OK) return err;
    if ((z = msgpack_zone_new(4096)) == NULL ||
        (heads = crm_scache_new()) == NULL) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto done;
    }
    {
        MDB_val k = {4, "head"}, v;
        rc = mdb_get(txn, log->dbi_meta, &k, &v);
        if (rc == MDB_NOTFOUND) {
            head_pos = 0;
            memcpy(head_hash, log->genesis, CRM_HASH_LEN);
        } else if (rc != 0 || v.mv_size != HEADVAL_LEN) {
            err = bad(why, bad_position, 0, "meta head is unreadable");
            goto done;
        } else {
            head_pos = get_be64(v.mv_data);
            memcpy(head_hash, (const uint8_t *)v.mv_data + 8, CRM_HASH_LEN);
        }
    }

    {
        MDB_val k = {10, "streams_at"}, v;
        rc = mdb_get(txn, log->dbi_meta, &k, &v);
        if (rc == MDB_NOTFOUND) {
            streams_at = head_pos;
        } else if (rc != 0 || v.mv_size != 8 ||
                   (streams_at = get_be64(v.mv_data)) > head_pos) {
            err = bad(why, bad_position, 0, "meta streams_at is unreadable");
            goto done;
        }
    }

    memcpy(hash, log->genesis, CRM_HASH_LEN);
    if ((rc = mdb_cursor_open(txn, log->dbi_log, &cur)) != 0) {
        err = crm_mdb_fail(why, rc, "cursor");
        goto done;
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), expect++) {
        crm_record r;
        uint64_t pos = k.mv_size == 8 ? get_be64(k.mv_data) : 0;
        if (pos != expect) {
            err = bad(why, bad_position, expect, "position %llu is missing",
                      (unsigned long long)expect);
            goto done;
        }
        msgpack_zone_clear(z);
        crm_error e;
        if (crm_record_decode(v.mv_data, v.mv_size, z, &r, &e) != CRM_OK) {
            err = bad(why, bad_position, pos, "position %llu: %s",
                      (unsigned long long)pos, e.msg);
            goto done;
        }
        if (r.h.position != pos || r.h.tenant_len != log->tenant_len ||
            memcmp(r.h.tenant, log->tenant, log->tenant_len) != 0) {
            err = bad(why, bad_position, pos,
                      "position %llu: record names another position or "
                      "tenant",
                      (unsigned long long)pos);
            goto done;
        }
        if (!crm_record_verify(v.mv_data, &r, hash)) {
            err =
                bad(why, bad_position, pos, "position %llu: hash chain broken",
                    (unsigned long long)pos);
            goto done;
        }
        memcpy(hash, r.hash, CRM_HASH_LEN);

        /* Stream links, from the heads this scan has seen: version 0 starts
         * a stream, every later event follows the previous one of its
         * stream with the next version. */
        const crm_shead *prev = crm_scache_get(heads, r.stream, r.stream_len);
        if (prev ? (r.h.version != prev->version + 1 ||
                    r.h.stream_prev != prev->position)
                 : (r.h.version != 0 || r.h.stream_prev != 0)) {
            err = bad(why, bad_position, pos,
                      "position %llu: stream version not dense",
                      (unsigned long long)pos);
            goto done;
        }
        if (crm_scache_put(heads, r.stream, r.stream_len, r.h.version, pos) !=
            0) {
            err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
            goto done;
        }
        if (pos == streams_at) at_ckpt = crm_scache_count(heads);

        MDB_val ik = {CRM_ID_LEN, (void *)r.id}, iv;
        uint8_t dg[CRM_DIGEST_LEN];
        crm_event_digest(r.content, r.content_len, dg);
        if (mdb_get(txn, log->dbi_ids, &ik, &iv) != 0 ||
            iv.mv_size != IDVAL_LEN || get_be64(iv.mv_data) != pos ||
            memcmp((const uint8_t *)iv.mv_data + 8, dg, CRM_DIGEST_LEN) != 0) {
            err = bad(why, bad_position, pos,
                      "position %llu: idempotency index disagrees",
                      (unsigned long long)pos);
            goto done;
        }
    }
    if (rc != MDB_NOTFOUND) {
        err = crm_mdb_fail(why, rc, "scan");
        goto done;
    }
    if (expect - 1 != head_pos || memcmp(hash, head_hash, CRM_HASH_LEN) != 0) {
        err =
            bad(why, bad_position, expect,
                "head (%llu) does not match the last record (%llu)",
                (unsigned long long)head_pos, (unsigned long long)(expect - 1));
        goto done;
    }

    /* The streams index is current up to streams_at (it is checkpointed):
     * each entry points at its stream's event with that version at or
     * before streams_at, and the entries account for every event there. */
    mdb_cursor_close(cur);
    cur = NULL;
    if ((rc = mdb_cursor_open(txn, log->dbi_streams, &cur)) != 0) {
        err = crm_mdb_fail(why, rc, "cursor");
        goto done;
    }
    uint64_t total = 0, nids = 0, nstreams = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        crm_record r;
        if (v.mv_size != STREAMVAL_LEN) {
            err = bad(why, bad_position, 0, "streams index entry is malformed");
            goto done;
        }
        uint64_t ver = get_be64(v.mv_data);
        uint8_t pb[8];
        memcpy(pb, (const uint8_t *)v.mv_data + 8, 8);
        MDB_val pk = {8, pb}, pv;
        msgpack_zone_clear(z);
        if (get_be64(pb) > streams_at ||
            mdb_get(txn, log->dbi_log, &pk, &pv) != 0 ||
            crm_record_decode(pv.mv_data, pv.mv_size, z, &r, NULL) != CRM_OK ||
            r.h.version != ver || r.stream_len != k.mv_size ||
            memcmp(r.stream, k.mv_data, k.mv_size) != 0) {
            err = bad(why, bad_position, 0,
                      "streams index entry '%.*s' disagrees with the log",
                      (int)(k.mv_size < 64 ? k.mv_size : 64),
                      (const char *)k.mv_data);
            goto done;
        }
        total += ver + 1;
        nstreams++;
    }
    if (total != streams_at || nstreams != at_ckpt) {
        err = bad(why, bad_position, 0,
                  "the streams index accounts for %llu events in %llu streams; "
                  "the log has %llu in %llu at its checkpoint",
                  (unsigned long long)total, (unsigned long long)nstreams,
                  (unsigned long long)streams_at, (unsigned long long)at_ckpt);
        goto done;
    }
    MDB_stat ids;
    mdb_stat(txn, log->dbi_ids, &ids);
    nids = ids.ms_entries;
    if (nids != head_pos) {
        err = bad(why, bad_position, 0,
                  "the idempotency index holds %llu ids for %llu records",
                  (unsigned long long)nids, (unsigned long long)head_pos);
        goto done;
    }
    err = CRM_OK;
done:
    if (cur) mdb_cursor_close(cur);
    if (z) msgpack_zone_free(z);
    crm_scache_free(heads);
    rd_end(log, txn);
    return err;
}
