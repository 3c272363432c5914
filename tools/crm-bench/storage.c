/*
 * storage.c - crm-bench storage: durable appends to a tenant log against
 * bare LMDB making the same puts with the same bytes, in one run.
 *
 * For each batch size (1, 10, 100) and appender count (1, 4) the log
 * takes events of ~300 stored bytes spread over 100,000 customer streams
 * for a fixed time, every commit durable. The records the 1-appender run
 * stored are then replayed with bare LMDB in the same batches:
 *   bare      the puts the log makes, without validation, encoding or
 *             hashing: log append + event_ids put per event, the head put
 *             per commit, and the stream heads written at the log's
 *             checkpoint cadence (CRM_LOG_CKPT_MS, CRM_LOG_CKPT_STREAMS) in
 *             the same sorted slices (CRM_LOG_CKPT_SLICES);
 *   bare/idx  the same with the streams index updated in every commit, one
 *             put per stream per batch (what the log did before stream
 *             heads were checkpointed), for context;
 *   log-only  the log append alone: the ceiling for this disk.
 * Every one of them keeps its data file written ahead of its pages as the
 * log does (mdbfill.h), so the ratios compare the puts, not the file.
 */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "log.h"
#include "mdbfill.h"
#include "record.h"
#include "scache.h"
#include "uuid.h"

typedef struct sopts {
    double seconds, slice; /* slice > 0: --group */
    const char *dir;
    unsigned streams;
    size_t map_size;
    size_t only_batch; /* 0 = 1, 10 and 100 */
} sopts;

typedef struct stored {
    uint8_t *rec;
    size_t len;
    uint8_t id[CRM_ID_LEN];
    const char *stream; /* points into rec */
    size_t stream_len;
} stored;

typedef struct workload {
    stored *ev;
    size_t n;
} workload;

typedef struct result {
    double events_per_s;
    uint64_t events, commits;
    double p50, p99; /* batch latency, µs */
} result;

/* --- event generation ----------------------------------------------------- */

typedef struct gen {
    uint64_t rng;
    msgpack_zone *zone;
    msgpack_object bodies[32];
    msgpack_sbuffer packed[32];
} gen;

static uint64_t
rnd(gen *g)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return g->rng;
}

/* A booking.created body; the padding makes the stored record ~300 B. */
static void
gen_init(gen *g, uint64_t seed)
{
    g->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    g->zone = msgpack_zone_new(8192);
    for (int i = 0; i < 32; i++) {
        msgpack_sbuffer *sb = &g->packed[i];
        msgpack_packer pk;
        char num[32];
        msgpack_sbuffer_init(sb);
        msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 9);
#define KV(k, v)                                                               \
    msgpack_pack_str_with_body(&pk, k, strlen(k));                             \
    msgpack_pack_str_with_body(&pk, v, strlen(v))
        snprintf(num, sizeof(num), "BK-%08llu",
                 (unsigned long long)rnd(g) % 100000000);
        KV("booking_id", num);
        KV("property", "lisbon-riverside");
        KV("arrival", "2027-03-14");
        KV("departure", "2027-03-18");
        KV("channel", "web");
        KV("room_type", "deluxe-king");
        msgpack_pack_str_with_body(&pk, "guests", 6);
        msgpack_pack_int(&pk, 2);
        msgpack_pack_str_with_body(&pk, "amount", 6);
        msgpack_pack_int64(&pk, 40000 + (int64_t)(rnd(g) % 90000));
        KV("currency", "EUR");
#undef KV
        size_t off = 0;
        msgpack_unpack(sb->data, sb->size, &off, g->zone, &g->bodies[i]);
    }
}

static void
gen_free(gen *g)
{
    for (int i = 0; i < 32; i++)
        msgpack_sbuffer_destroy(&g->packed[i]);
    msgpack_zone_free(g->zone);
}

static void
gen_event(gen *g, crm_event_in *e, char *stream, unsigned nstreams, int64_t now)
{
    int n = snprintf(stream, 24, "cust-%07u", (unsigned)(rnd(g) % nstreams));
    crm_uuid_v7(e->id);
    e->stream = stream;
    e->stream_len = (size_t)n;
    e->type = "booking.created";
    e->type_len = 15;
    e->occurred_at = now;
    e->body = &g->bodies[rnd(g) % 32];
}

/* --- the log -------------------------------------------------------------- */

typedef struct appender {
    crm_log *log;
    const sopts *o;
    size_t batch;
    unsigned seed;
    double deadline;
    uint64_t events;
    bench_lat lat;
    int failed;
} appender;

static void *
append_main(void *arg)
{
    appender *a = arg;
    gen g;
    crm_event_in ev[100];
    char streams[100][24];
    crm_error why;

    gen_init(&g, a->seed);
    int64_t now = 1767225600000000; /* 2026-01-01 */
    while (bench_now() < a->deadline) {
        for (size_t i = 0; i < a->batch; i++)
            gen_event(&g, &ev[i], streams[i], a->o->streams, now++);
        double t0 = bench_now();
        crm_batch *b;
        if (crm_batch_prepare(ev, a->batch, NULL, 0, "bench", 5, &b, &why) !=
                CRM_OK ||
            crm_log_append(a->log, b, &why) != CRM_OK) {
            fprintf(stderr, "append failed: %s\n", why.msg);
            a->failed = 1;
            crm_batch_free(b);
            break;
        }
        crm_batch_free(b);
        bench_lat_add(&a->lat, (bench_now() - t0) * 1e6);
        a->events += a->batch;
    }
    gen_free(&g);
    return NULL;
}

static int
capture(void *arg, uint64_t pos, const uint8_t *rec, size_t len)
{
    workload *w = arg;
    stored *s = &w->ev[pos - 1];
    crm_record r;
    msgpack_zone z;
    (void)pos;
    msgpack_zone_init(&z, 1024);
    if ((s->rec = malloc(len)) == NULL)
        return 1;
    memcpy(s->rec, rec, len);
    s->len = len;
    if (crm_record_decode(s->rec, len, &z, &r, NULL) == CRM_OK) {
        memcpy(s->id, r.id, CRM_ID_LEN);
        s->stream = r.stream;
        s->stream_len = r.stream_len;
    }
    msgpack_zone_destroy(&z);
    w->n = pos;
    return 0;
}

static int
make_dir(const sopts *o, char *out, size_t len, const char *tag)
{
    snprintf(out, len, "%s/%s-XXXXXX", o->dir, tag);
    return mkdtemp(out) ? 0 : -1;
}

static void
remove_env(const char *dir)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/data.mdb", dir);
    remove(p);
    snprintf(p, sizeof(p), "%s/lock.mdb", dir);
    remove(p);
    remove(dir);
}

/* Runs nthreads appenders on log for `seconds`; adds their latencies to
 * lat (if not NULL). Returns the events appended, or -1 on a failure. */
static int64_t
drive(crm_log *log, const sopts *o, size_t batch, int nthreads, double seconds,
      unsigned seed, bench_lat *lat)
{
    appender a[8];
    pthread_t th[8];
    double t0 = bench_now();
    for (int i = 0; i < nthreads; i++) {
        a[i] = (appender){.log = log,
                          .o = o,
                          .batch = batch,
                          .seed = seed + (unsigned)(i + 1) * 7919u,
                          .deadline = t0 + seconds};
        pthread_create(&th[i], NULL, append_main, &a[i]);
    }
    int64_t events = 0;
    int failed = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        failed |= a[i].failed;
        events += (int64_t)a[i].events;
        for (size_t k = 0; lat && k < a[i].lat.n; k++)
            bench_lat_add(lat, a[i].lat.us[k]);
        bench_lat_free(&a[i].lat);
    }
    return failed ? -1 : events;
}

static int
run_log(const sopts *o, size_t batch, int nthreads, result *res, workload *w)
{
    char dir[512];
    crm_log *log;
    crm_error why;
    crm_log_opts lo = {.map_size = o->map_size};

    if (make_dir(o, dir, sizeof(dir), "log") != 0 ||
        crm_log_open(dir, "bench", &lo, &log, &why) != CRM_OK) {
        fprintf(stderr, "cannot open bench log in %s\n", o->dir);
        return -1;
    }
    bench_lat all = {0};
    double t0 = bench_now();
    int failed = drive(log, o, batch, nthreads, o->seconds, 0, &all) < 0;
    double el = bench_now() - t0;
    crm_log_stats st;
    crm_log_stats_get(log, &st);
    res->events = st.events;
    res->commits = st.commits;
    res->events_per_s = (double)st.events / el;
    res->p50 = bench_lat_pct(&all, 0.50);
    res->p99 = bench_lat_pct(&all, 0.99);
    bench_lat_free(&all);

    if (!failed && crm_log_verify(log, NULL, &why) != CRM_OK) {
        fprintf(stderr, "verify failed: %s\n", why.msg);
        failed = 1;
    }
    if (w && !failed) {
        w->ev = calloc(st.position, sizeof(*w->ev));
        w->n = 0;
        if (w->ev)
            crm_log_read_all(log, 1, 0, capture, w);
    }
    crm_log_close(log);
    remove_env(dir);
    return failed ? -1 : 0;
}

/* Group commit at batch 1 in alternating slices on one log: 1 appender,
 * 4, 4, 1, 1, 4, ... The disk's speed drifts over seconds, which makes
 * the ratio of two separate multi-second runs vary from 2x to 4x; slices
 * a fraction of a second long, taken in turn, see the same disk. */
static int
run_group_slices(const sopts *o, double slice)
{
    char dir[512];
    crm_log *log;
    crm_error why;
    crm_log_opts lo = {.map_size = o->map_size};
    if (make_dir(o, dir, sizeof(dir), "group") != 0 ||
        crm_log_open(dir, "bench", &lo, &log, &why) != CRM_OK) {
        fprintf(stderr, "cannot open bench log in %s\n", o->dir);
        return -1;
    }
    int pairs = (int)(o->seconds / (2 * slice));
    if (pairs < 1)
        pairs = 1;
    double *ratio = calloc((size_t)pairs, sizeof(double));
    double secs[2] = {0, 0};
    int64_t evs[2] = {0, 0};
    int failed = ratio == NULL;
    /* a short warm-up, not counted */
    if (!failed && drive(log, o, 1, 4, slice / 2, 99, NULL) < 0)
        failed = 1;
    for (int p = 0; p < pairs && !failed; p++) {
        double rate[2];
        for (int k = 0; k < 2; k++) {
            int four = (k + p) % 2; /* ABBA: neither goes first always */
            double t0 = bench_now();
            int64_t n = drive(log, o, 1, four ? 4 : 1, slice,
                              (unsigned)(p * 2 + k) * 104729u, NULL);
            double el = bench_now() - t0;
            if (n < 0) {
                failed = 1;
                break;
            }
            secs[four] += el;
            evs[four] += n;
            rate[four] = (double)n / el;
        }
        if (!failed)
            ratio[p] = rate[0] > 0 ? rate[1] / rate[0] : 0;
    }
    if (!failed && crm_log_verify(log, NULL, &why) != CRM_OK) {
        fprintf(stderr, "verify failed: %s\n", why.msg);
        failed = 1;
    }
    if (!failed) {
        double r1 = (double)evs[0] / secs[0], r4 = (double)evs[1] / secs[1];
        double m, lo2, hi;
        bench_spread(ratio, pairs, &m, &lo2, &hi);
        printf("group commit at batch 1, %d pairs of %.2f s slices on one "
               "log:\n"
               "  1 appender %.0f events/s, 4 appenders %.0f events/s: "
               "%.2fx\n"
               "  per pair: median %.2fx (%.2f..%.2f)\n",
               pairs, slice, r1, r4, r4 / r1, m, lo2, hi);
    }
    free(ratio);
    crm_log_close(log);
    remove_env(dir);
    return failed ? -1 : 0;
}

/* --- bare LMDB ------------------------------------------------------------ */

static void
be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

enum { BARE_CKPT, BARE_IDX, BARE_LOG_ONLY };

/* The log's checkpoint rounds, replayed: the heads changed since the last
 * round, sorted by stream id, written a slice per commit
 * (CRM_LOG_CKPT_SLICES, CRM_LOG_CKPT_SLICE_MIN). */
typedef struct bare_round {
    crm_shead *snap;
    size_t n, next;
} bare_round;

static void
bare_snap_add(void *arg, const crm_shead *h)
{
    bare_round *r = arg;
    r->snap[r->n++] = *h;
}

static int
bare_cmp_head(const void *pa, const void *pb)
{
    const crm_shead *x = pa, *y = pb;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->id, y->id, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int
bare_round_begin(bare_round *r, crm_scache *heads)
{
    free(r->snap);
    r->n = r->next = 0;
    if ((r->snap = malloc(crm_scache_count(heads) * sizeof(*r->snap))) == NULL)
        return -1;
    crm_scache_each(heads, 0, bare_snap_add, r);
    qsort(r->snap, r->n, sizeof(*r->snap), bare_cmp_head);
    crm_scache_clear(heads);
    return 0;
}

static int
bare_round_slice(bare_round *r, MDB_txn *txn, MDB_dbi dstreams, MDB_dbi dmeta)
{
    size_t slice = (r->n + CRM_LOG_CKPT_SLICES - 1) / CRM_LOG_CKPT_SLICES;
    if (slice < CRM_LOG_CKPT_SLICE_MIN)
        slice = CRM_LOG_CKPT_SLICE_MIN;
    size_t end = r->n - r->next <= slice ? r->n : r->next + slice;
    int rc = 0;
    for (; r->next < end && rc == 0; r->next++) {
        const crm_shead *h = &r->snap[r->next];
        uint8_t sv[16];
        be64(sv, h->version);
        be64(sv + 8, h->position);
        MDB_val k = {h->len, (void *)h->id}, v = {16, sv};
        rc = mdb_put(txn, dstreams, &k, &v, 0);
    }
    uint8_t at[8] = {0};
    MDB_val tk = {7, "ckpt_to"}, sk = {10, "streams_at"}, av = {8, at};
    if (rc == 0)
        rc = mdb_put(txn, dmeta, &tk, &av, 0);
    if (rc == 0 && r->next == r->n) {
        rc = mdb_put(txn, dmeta, &sk, &av, 0);
        r->n = r->next = 0;
    }
    return rc;
}

static int
run_bare(const sopts *o, const workload *w, size_t batch, int mode, result *res)
{
    int log_only = mode == BARE_LOG_ONLY;
    crm_scache *heads = crm_scache_new();
    bare_round round = {0};
    double last_ckpt = bench_now();
    char dir[512];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dlog, dstreams, dids, dmeta;
    int rc;

    if (make_dir(o, dir, sizeof(dir), log_only ? "logonly" : "bare") != 0) {
        crm_scache_free(heads);
        return -1;
    }
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 8);
    mdb_env_set_mapsize(env, o->map_size);
    if ((rc = mdb_env_open(env, dir, MDB_NOTLS, 0600)) != 0) {
        fprintf(stderr, "bare open: %s\n", mdb_strerror(rc));
        return -1;
    }
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, "log", MDB_CREATE, &dlog);
    mdb_dbi_open(txn, "streams", MDB_CREATE, &dstreams);
    mdb_dbi_open(txn, "event_ids", MDB_CREATE, &dids);
    mdb_dbi_open(txn, "meta", MDB_CREATE, &dmeta);
    mdb_txn_commit(txn);

    bench_lat lat = {0};
    double t0 = bench_now();
    uint64_t commits = 0;
    size_t fill_end = crm_mdbfill_start(env);
    for (size_t at = 0; at < w->n; at += batch) {
        size_t end = at + batch < w->n ? at + batch : w->n;
        double b0 = bench_now();
        if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
            goto fail;
        for (size_t i = at; i < end; i++) {
            const stored *s = &w->ev[i];
            uint8_t kb[8];
            be64(kb, i + 1);
            MDB_val k = {8, kb}, v = {s->len, s->rec};
            if ((rc = mdb_put(txn, dlog, &k, &v, MDB_APPEND)) != 0)
                goto fail;
            if (log_only)
                continue;
            uint8_t iv[8 + CRM_DIGEST_LEN];
            be64(iv, i + 1);
            memcpy(iv + 8, s->rec + s->len - CRM_DIGEST_LEN, CRM_DIGEST_LEN);
            MDB_val ik = {CRM_ID_LEN, (void *)s->id}, ivv = {sizeof(iv), iv};
            if ((rc = mdb_put(txn, dids, &ik, &ivv, 0)) != 0)
                goto fail;
        }
        if (mode == BARE_CKPT) {
            if (round.n == 0 &&
                (crm_scache_count(heads) >= CRM_LOG_CKPT_STREAMS ||
                 bench_now() - last_ckpt >= CRM_LOG_CKPT_MS / 1000.0)) {
                if (bare_round_begin(&round, heads) != 0) {
                    rc = ENOMEM;
                    goto fail;
                }
                last_ckpt = bench_now();
            }
            if (round.n > 0 &&
                (rc = bare_round_slice(&round, txn, dstreams, dmeta)) != 0)
                goto fail;
            for (size_t i = at; i < end; i++)
                crm_scache_put(heads, w->ev[i].stream, w->ev[i].stream_len, i,
                               i + 1);
        }
        if (mode == BARE_IDX) {
            /* one streams put per distinct stream of the batch */
            for (size_t i = at; i < end; i++) {
                const stored *s = &w->ev[i];
                int seen = 0;
                for (size_t j = i + 1; j < end && !seen; j++)
                    seen =
                        w->ev[j].stream_len == s->stream_len &&
                        memcmp(w->ev[j].stream, s->stream, s->stream_len) == 0;
                if (seen)
                    continue;
                uint8_t sv[16];
                be64(sv, i);
                be64(sv + 8, i + 1);
                MDB_val sk = {s->stream_len, (void *)s->stream}, svv = {16, sv};
                if ((rc = mdb_put(txn, dstreams, &sk, &svv, 0)) != 0)
                    goto fail;
            }
        }
        if (!log_only) {
            uint8_t hv[48] = {0};
            be64(hv, end);
            MDB_val hk = {4, "head"}, hvv = {48, hv};
            if ((rc = mdb_put(txn, dmeta, &hk, &hvv, 0)) != 0)
                goto fail;
        }
        if ((rc = mdb_txn_commit(txn)) != 0)
            goto fail_committed;
        commits++;
        bench_lat_add(&lat, (bench_now() - b0) * 1e6);
        /* the file ahead of the pages, as the log keeps it */
        crm_mdbfill(env, crm_mdbfill_used(env), o->map_size, &fill_end);
    }
    double el = bench_now() - t0;
    res->events = w->n;
    res->commits = commits;
    res->events_per_s = (double)w->n / el;
    res->p50 = bench_lat_pct(&lat, 0.50);
    res->p99 = bench_lat_pct(&lat, 0.99);
    bench_lat_free(&lat);
    crm_scache_free(heads);
    free(round.snap);
    mdb_env_close(env);
    remove_env(dir);
    return 0;
fail:
    mdb_txn_abort(txn);
fail_committed:
    fprintf(stderr, "bare LMDB: %s\n", mdb_strerror(rc));
    bench_lat_free(&lat);
    crm_scache_free(heads);
    free(round.snap);
    mdb_env_close(env);
    remove_env(dir);
    return -1;
}

/* --- driver --------------------------------------------------------------- */

static void
row(const char *what, size_t batch, int threads, const result *r)
{
    printf("%-9s %6zu %9d %12.0f %10llu %9.1f %10.0f %10.0f\n", what, batch,
           threads, r->events_per_s, (unsigned long long)r->commits,
           r->commits ? (double)r->events / (double)r->commits : 0.0, r->p50,
           r->p99);
    fflush(stdout);
}

static void
storage_usage(FILE *f)
{
    fprintf(f,
            "usage: crm-bench storage [--seconds S] [--dir DIR] [--streams N]\n"
            "                         [--batch N] [--repeat R] [--quick]\n"
            "       crm-bench storage --group [--seconds S] [--slice S] "
            "[--dir DIR]\n"
            "\n"
            "  --seconds S   time per log configuration (default 3)\n"
            "  --dir DIR     scratch directory on the disk to measure "
            "(default .)\n"
            "  --streams N   customer streams (default 100000)\n"
            "  --batch N     only this batch size (1, 10 or 100)\n"
            "  --repeat R    rounds of every configuration, interleaved; the "
            "summary\n"
            "                gives the median of the per-round ratios "
            "(default 3, max %d)\n"
            "  --quick       0.3 s per configuration, 1000 streams, 1 round "
            "(smoke run;\n"
            "                with --group: 0.8 s in 0.1 s slices)\n"
            "  --group       group commit only: 1 and 4 appenders at batch 1 "
            "in\n"
            "                alternating slices on one log for S seconds "
            "(default 20)\n"
            "  --slice S     length of one slice (default 0.25)\n",
            BENCH_MAX_ROUNDS);
}

int
bench_storage(int argc, char **argv)
{
    sopts o = {.seconds = 3,
               .dir = ".",
               .streams = 100000,
               .map_size = (size_t)4 << 30};
    int rounds = 3, group = 0, seconds_set = 0, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            o.seconds = atof(argv[++i]);
            seconds_set = 1;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            o.dir = argv[++i];
        else if (strcmp(argv[i], "--streams") == 0 && i + 1 < argc)
            o.streams = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            o.only_batch = (size_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--group") == 0)
            group = 1;
        else if (strcmp(argv[i], "--slice") == 0 && i + 1 < argc)
            o.slice = atof(argv[++i]);
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--help") == 0) {
            storage_usage(stdout);
            return 0;
        } else {
            storage_usage(stderr);
            return 2;
        }
    }
    if (quick) { /* a smoke run: short and small, whatever else was asked */
        o.seconds = group ? 0.8 : 0.3;
        o.slice = 0.1;
        o.streams = 1000;
        rounds = 1;
        seconds_set = 1;
    }
    if (group) {
        if (!seconds_set)
            o.seconds = 20;
        if (o.slice == 0)
            o.slice = 0.25;
        if (o.seconds <= 0 || o.slice <= 0 || o.slice > o.seconds) {
            storage_usage(stderr);
            return 2;
        }
        return run_group_slices(&o, o.slice) == 0 ? 0 : 1;
    }
    static const size_t batches[] = {1, 10, 100};
    int batch_ok = o.only_batch == 0;
    for (int b = 0; b < 3; b++)
        batch_ok |= o.only_batch == batches[b];
    if (o.seconds <= 0 || o.streams == 0 || !batch_ok || rounds < 1 ||
        rounds > BENCH_MAX_ROUNDS) {
        storage_usage(stderr);
        return 2;
    }

    /* per batch size and round: log/bare, log/(bare/idx), log/log-only
     * (1 appender) and 4 appenders/1 appender */
    static double r_bare[3][BENCH_MAX_ROUNDS], r_idx[3][BENCH_MAX_ROUNDS],
        r_ceil[3][BENCH_MAX_ROUNDS], r_group[3][BENCH_MAX_ROUNDS];
    double rec_bytes = 0;

    printf("crm-bench storage: durable commits, %u streams, %.1f s per log "
           "run, %d round%s\n\n",
           o.streams, o.seconds, rounds, rounds > 1 ? "s" : "");
    printf("%-9s %6s %9s %12s %10s %9s %10s %10s\n", "system", "batch",
           "appenders", "events/s", "commits", "ev/commit", "p50 us", "p99 us");
    for (int b = 0; b < 3; b++) {
        workload w = {0};
        if (o.only_batch && o.only_batch != batches[b])
            continue;
        for (int r = 0; r < rounds; r++) {
            result l1, l4, br, ir, cr;
            /* the first round's records are what bare LMDB replays */
            if (run_log(&o, batches[b], 1, &l1, r == 0 ? &w : NULL) != 0)
                return 1;
            row("crmd log", batches[b], 1, &l1);
            if (run_log(&o, batches[b], 4, &l4, NULL) != 0)
                return 1;
            row("crmd log", batches[b], 4, &l4);
            if (run_bare(&o, &w, batches[b], BARE_CKPT, &br) != 0 ||
                run_bare(&o, &w, batches[b], BARE_IDX, &ir) != 0 ||
                run_bare(&o, &w, batches[b], BARE_LOG_ONLY, &cr) != 0)
                return 1;
            row("bare", batches[b], 1, &br);
            row("bare/idx", batches[b], 1, &ir);
            row("log-only", batches[b], 1, &cr);
            r_bare[b][r] = l1.events_per_s / br.events_per_s;
            r_idx[b][r] = l1.events_per_s / ir.events_per_s;
            r_ceil[b][r] = l1.events_per_s / cr.events_per_s;
            r_group[b][r] = l4.events_per_s / l1.events_per_s;
        }
        size_t total = 0;
        for (size_t i = 0; i < w.n; i++)
            total += w.ev[i].len;
        rec_bytes = w.n ? (double)total / (double)w.n : 0;
        for (size_t i = 0; i < w.n; i++)
            free(w.ev[i].rec);
        free(w.ev);
    }

    printf("\nstored record: %.0f bytes on average\n", rec_bytes);
    printf("medians of the per-round ratios (lowest..highest):\n");
    printf("crmd log / bare LMDB, same puts (1 appender):\n");
    for (int b = 0; b < 3; b++) {
        double m, lo, hi, mi, li, hi2, mc, lc, hc;
        if (o.only_batch && o.only_batch != batches[b])
            continue;
        bench_spread(r_bare[b], rounds, &m, &lo, &hi);
        bench_spread(r_idx[b], rounds, &mi, &li, &hi2);
        bench_spread(r_ceil[b], rounds, &mc, &lc, &hc);
        printf("  batch %3zu: %5.1f%% (%.0f..%.0f)   of bare/idx: %5.1f%%; of "
               "the log-only ceiling: %5.1f%%\n",
               batches[b], 100 * m, 100 * lo, 100 * hi, 100 * mi, 100 * mc);
    }
    printf("group commit, 4 appenders / 1 appender (separate runs; --group "
           "measures batch 1 in alternating slices):\n");
    for (int b = 0; b < 3; b++) {
        double m, lo, hi;
        if (o.only_batch && o.only_batch != batches[b])
            continue;
        bench_spread(r_group[b], rounds, &m, &lo, &hi);
        printf("  batch %3zu: %.2fx (%.2f..%.2f)\n", batches[b], m, lo, hi);
    }
    return 0;
}
