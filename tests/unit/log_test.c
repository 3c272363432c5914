/* log_test.c - the per-tenant event log: appends, checks, idempotency,
 * reads, map growth and its limit, reopen, group commit, readers racing
 * the writer, and corruption detection, all on real LMDB files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <lmdb.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "log.h"
#include "record.h"

typedef struct ctx {
    char dir[512];
    crm_log *log;
} ctx;

static int
setup(void **state)
{
    static ctx c;
    fx_tmpdir(c.dir, sizeof(c.dir), "log");
    crm_error why;
    if (crm_log_open(c.dir, "acme-hotels", NULL, &c.log, &why) != CRM_OK) {
        fprintf(stderr, "open: %s\n", why.msg);
        return -1;
    }
    *state = &c;
    return 0;
}

static int
teardown(void **state)
{
    ctx *c = *state;
    crm_log_close(c->log);
    fx_rmrf(c->dir);
    fx_reset();
    return 0;
}

static const msgpack_object *
reg_body(const char *first)
{
    return FX_BODY(FX_S("first_name", first), FX_S("last_name", "Okafor"),
                   FX_S("email", "ada@example.com"), FX_S("language", "en"));
}

static const msgpack_object *
spend_body(int64_t amount)
{
    return FX_BODY(FX_I("amount", amount), FX_S("currency", "EUR"),
                   FX_S("category", "spa"));
}

/* Prepares and appends; returns the outcome. */
static crm_err
append(crm_log *log, const crm_event_in *ev, size_t n, const crm_expect *x,
       size_t nx, crm_batch **out, crm_error *why)
{
    crm_batch *b;
    crm_err err = crm_batch_prepare(ev, n, x, nx, "key-1", 5, &b, why);
    if (err != CRM_OK)
        return err;
    err = crm_log_append(log, b, why);
    if (out)
        *out = b;
    else
        crm_batch_free(b);
    return err;
}

static uint64_t
head(crm_log *log)
{
    uint64_t pos;
    crm_log_head(log, &pos, NULL);
    return pos;
}

typedef struct collect {
    uint64_t pos[256];
    uint64_t ver[256];
    char stream[256][65];
    size_t n;
} collect;

static int
collect_visit(void *arg, uint64_t position, const uint8_t *rec, size_t len)
{
    collect *c = arg;
    msgpack_zone *z = msgpack_zone_new(1024);
    crm_record r;
    assert_int_equal(crm_record_decode(rec, len, z, &r, NULL), CRM_OK);
    assert_int_equal(r.h.position, position);
    c->pos[c->n] = position;
    c->ver[c->n] = r.h.version;
    snprintf(c->stream[c->n], 65, "%.*s", (int)r.stream_len, r.stream);
    c->n++;
    msgpack_zone_free(z);
    return 0;
}

static void
test_empty_log(void **state)
{
    ctx *c = *state;
    uint8_t h[CRM_HASH_LEN], g[CRM_HASH_LEN], zero[CRM_HASH_LEN] = {0};
    uint64_t pos = 99;
    crm_log_head(c->log, &pos, h);
    crm_log_genesis(c->log, g);
    assert_int_equal(pos, 0);
    assert_memory_equal(h, g, CRM_HASH_LEN);
    assert_memory_not_equal(g, zero, CRM_HASH_LEN);
    assert_int_equal(crm_log_verify(c->log, NULL, NULL), CRM_OK);
    uint64_t v, p;
    assert_int_equal(crm_log_stream_info(c->log, "nobody", 6, &v, &p),
                     CRM_ERR_NOT_FOUND);
}

static void
test_append_and_read(void **state)
{
    ctx *c = *state;
    crm_event_in ev[4];
    crm_batch *b = NULL;
    crm_error why;
    fx_event(&ev[0], "guest-1", "customer.registered", reg_body("Ada"));
    fx_event(&ev[1], "guest-2", "customer.registered", reg_body("Bo"));
    fx_event(&ev[2], "guest-1", "spend.recorded", spend_body(12000));
    fx_event(&ev[3], "guest-1", "x.spa.visit",
             FX_BODY(FX_S("room", "7"), FX_I("minutes", 50)));
    assert_int_equal(append(c->log, ev, 4, NULL, 0, &b, &why), CRM_OK);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(crm_batch_position(b, i), i + 1);
        assert_false(crm_batch_is_duplicate(b, i));
    }
    assert_int_equal(crm_batch_version(b, 0), 0);
    assert_int_equal(crm_batch_version(b, 1), 0);
    assert_int_equal(crm_batch_version(b, 2), 1);
    assert_int_equal(crm_batch_version(b, 3), 2);
    crm_batch_free(b);
    assert_int_equal(head(c->log), 4);

    collect all = {0};
    assert_int_equal(crm_log_read_all(c->log, 1, 0, collect_visit, &all),
                     CRM_OK);
    assert_int_equal(all.n, 4);
    assert_string_equal(all.stream[1], "guest-2");

    collect s = {0};
    assert_int_equal(
        crm_log_read_stream(c->log, "guest-1", 7, 0, 0, collect_visit, &s),
        CRM_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.pos[0], 1);
    assert_int_equal(s.pos[1], 3);
    assert_int_equal(s.pos[2], 4);
    assert_int_equal(s.ver[2], 2);

    collect s2 = {0};
    assert_int_equal(
        crm_log_read_stream(c->log, "guest-1", 7, 1, 1, collect_visit, &s2),
        CRM_OK);
    assert_int_equal(s2.n, 1);
    assert_int_equal(s2.pos[0], 3);

    collect from3 = {0};
    crm_log_read_all(c->log, 3, 0, collect_visit, &from3);
    assert_int_equal(from3.n, 2);
    assert_int_equal(from3.pos[0], 3);

    uint64_t v, p;
    assert_int_equal(crm_log_stream_info(c->log, "guest-1", 7, &v, &p), CRM_OK);
    assert_int_equal(v, 2);
    assert_int_equal(p, 4);
    assert_int_equal(
        crm_log_read_stream(c->log, "nobody", 6, 0, 0, collect_visit, &s2),
        CRM_ERR_NOT_FOUND);
    assert_int_equal(crm_log_verify(c->log, NULL, &why), CRM_OK);
}

typedef struct rawrec {
    uint8_t buf[4096];
    size_t len;
} rawrec;

static int
copy_visit(void *arg, uint64_t p, const uint8_t *rec, size_t len)
{
    rawrec *g = arg;
    (void)p;
    assert_true(len <= sizeof(g->buf));
    memcpy(g->buf, rec, len);
    g->len = len;
    return 1;
}

static void
test_record_contents(void **state)
{
    ctx *c = *state;
    crm_event_in ev;
    fx_event(&ev, "guest-9", "customer.registered", reg_body("Ada"));
    assert_int_equal(append(c->log, &ev, 1, NULL, 0, NULL, NULL), CRM_OK);
    uint64_t pos = head(c->log);

    rawrec got = {{0}, 0};
    assert_int_equal(crm_log_read_all(c->log, pos, 1, copy_visit, &got),
                     CRM_OK);
    msgpack_zone *z = msgpack_zone_new(1024);
    crm_record r;
    assert_int_equal(crm_record_decode(got.buf, got.len, z, &r, NULL), CRM_OK);
    assert_memory_equal(r.id, ev.id, CRM_ID_LEN);
    assert_int_equal(r.occurred_at, ev.occurred_at);
    assert_true(r.h.recorded_at > 0);
    assert_int_equal(r.h.actor_len, 5);
    assert_memory_equal(r.h.actor, "key-1", 5);
    assert_int_equal(r.h.tenant_len, strlen("acme-hotels"));
    /* personal fields are split out of the body */
    assert_int_equal(r.body.via.map.size, 1); /* language */
    assert_int_equal(r.pii.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(r.pii.via.map.size, 3);
    msgpack_zone_free(z);
}

static void
test_expected_versions(void **state)
{
    ctx *c = *state;
    crm_event_in ev[2];
    crm_error why;

    fx_event(&ev[0], "g-exp", "customer.registered", reg_body("Cy"));
    crm_expect x = {"g-exp", 5, CRM_EXPECT_NO_STREAM};
    assert_int_equal(append(c->log, ev, 1, &x, 1, NULL, &why), CRM_OK);
    uint64_t h0 = head(c->log);

    /* no_stream on an existing stream */
    fx_event(&ev[0], "g-exp", "spend.recorded", spend_body(100));
    assert_int_equal(append(c->log, ev, 1, &x, 1, NULL, &why),
                     CRM_ERR_CONFLICT);
    assert_non_null(strstr(why.msg, "version 0"));
    /* wrong exact version, in a batch that also touches another stream:
     * the whole batch is refused */
    fx_event(&ev[1], "g-other", "spend.recorded", spend_body(5));
    x.version = 3;
    assert_int_equal(append(c->log, ev, 2, &x, 1, NULL, &why),
                     CRM_ERR_CONFLICT);
    assert_int_equal(head(c->log), h0);
    uint64_t v, p;
    assert_int_equal(crm_log_stream_info(c->log, "g-other", 7, &v, &p),
                     CRM_ERR_NOT_FOUND);
    /* exists on a missing stream */
    crm_expect y = {"g-other", 7, CRM_EXPECT_EXISTS};
    assert_int_equal(append(c->log, &ev[1], 1, &y, 1, NULL, &why),
                     CRM_ERR_CONFLICT);
    /* exact, right */
    x.version = 0;
    assert_int_equal(append(c->log, ev, 2, &x, 1, NULL, &why), CRM_OK);
    assert_int_equal(head(c->log), h0 + 2);
    /* expectation naming a stream not in the batch */
    crm_expect z = {"elsewhere", 9, 0};
    crm_batch *b;
    fx_event(&ev[0], "g-exp", "spend.recorded", spend_body(1));
    assert_int_equal(crm_batch_prepare(ev, 1, &z, 1, "", 0, &b, &why),
                     CRM_ERR_BAD_REQUEST);
    assert_int_equal(crm_log_verify(c->log, NULL, &why), CRM_OK);
}

static void
test_idempotency(void **state)
{
    ctx *c = *state;
    crm_event_in ev[3];
    crm_batch *b1 = NULL, *b2 = NULL;
    crm_error why;

    fx_event(&ev[0], "g-idem", "customer.registered", reg_body("Di"));
    fx_event(&ev[1], "g-idem", "spend.recorded", spend_body(700));
    fx_event(&ev[2], "g-idem2", "spend.recorded", spend_body(800));
    crm_expect x = {"g-idem", 6, CRM_EXPECT_NO_STREAM};
    assert_int_equal(append(c->log, ev, 3, &x, 1, &b1, &why), CRM_OK);
    uint64_t h = head(c->log);
    /* the retry carries the same expectation, which would now fail; the
     * ids answer first */
    assert_int_equal(append(c->log, ev, 3, &x, 1, &b2, &why), CRM_OK);
    assert_int_equal(head(c->log), h);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(crm_batch_position(b1, i), crm_batch_position(b2, i));
        assert_int_equal(crm_batch_version(b1, i), crm_batch_version(b2, i));
        assert_true(crm_batch_is_duplicate(b2, i));
    }
    crm_batch_free(b1);
    crm_batch_free(b2);

    /* same id, other content */
    crm_event_in other = ev[1];
    other.body = spend_body(701);
    assert_int_equal(append(c->log, &other, 1, NULL, 0, NULL, &why),
                     CRM_ERR_CONFLICT);
    assert_non_null(strstr(why.msg, "different event"));
    other = ev[1];
    other.occurred_at++;
    assert_int_equal(append(c->log, &other, 1, NULL, 0, NULL, &why),
                     CRM_ERR_CONFLICT);
    assert_int_equal(head(c->log), h);

    /* duplicate inside one batch */
    crm_event_in twice[2] = {ev[0], ev[0]};
    assert_int_equal(append(c->log, twice, 2, NULL, 0, NULL, &why),
                     CRM_ERR_DUPLICATE_ID);
}

static void
test_bad_input_writes_nothing(void **state)
{
    ctx *c = *state;
    crm_event_in ev[2];
    crm_batch *b = NULL;
    crm_error why;
    uint64_t h = head(c->log);

    assert_int_equal(crm_batch_prepare(ev, 0, NULL, 0, "", 0, &b, &why),
                     CRM_ERR_EMPTY_BATCH);
    fx_event(&ev[0], "g-bad", "customer.registered", reg_body("Ok"));
    fx_event(&ev[1], "g-bad", "hotel.teleported", NULL);
    assert_int_equal(crm_batch_prepare(ev, 2, NULL, 0, "", 0, &b, &why),
                     CRM_ERR_UNKNOWN_TYPE);
    assert_non_null(strstr(why.msg, "event 1"));
    fx_event(&ev[1], "g-bad", "spend.recorded",
             FX_BODY(FX_I("amount", 5), FX_S("category", "spa")));
    assert_int_equal(crm_batch_prepare(ev, 2, NULL, 0, "", 0, &b, &why),
                     CRM_ERR_MISSING_FIELD);
    fx_event(&ev[1], "g-bad", "spend.recorded",
             FX_BODY(FX_S("amount", "5"), FX_S("currency", "EUR"),
                     FX_S("category", "spa")));
    assert_int_equal(crm_batch_prepare(ev, 2, NULL, 0, "", 0, &b, &why),
                     CRM_ERR_BAD_FIELD);
    fx_event(&ev[1], "g-bad", "complaint.opened",
             FX_BODY(FX_S("complaint_id", "c1"), FX_S("category", "noise"),
                     FX_S("description", "bad \xc3\x28 byte")));
    assert_int_equal(crm_batch_prepare(ev, 2, NULL, 0, "", 0, &b, &why),
                     CRM_ERR_BAD_UTF8);
    static char big[CRM_BODY_MAX + 10];
    memset(big, 'a', sizeof(big) - 1);
    fx_event(&ev[1], "g-bad", "x.blob", FX_BODY(FX_S("data", big)));
    assert_int_equal(crm_batch_prepare(ev, 2, NULL, 0, "", 0, &b, &why),
                     CRM_ERR_TOO_LARGE);
    static crm_event_in many[CRM_BATCH_MAX + 1];
    assert_int_equal(
        crm_batch_prepare(many, CRM_BATCH_MAX + 1, NULL, 0, "", 0, &b, &why),
        CRM_ERR_TOO_LARGE);
    assert_null(b);
    assert_int_equal(head(c->log), h);
}

static void *
worker(void *arg)
{
    crm_log *log = arg;
    char stream[32];
    snprintf(stream, sizeof(stream), "w-%lx", (unsigned long)pthread_self());
    for (int i = 0; i < 60; i++) {
        crm_event_in ev;
        crm_batch *b;
        static pthread_mutex_t fx_mu = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&fx_mu); /* the fixture zone is not thread-safe */
        fx_event(&ev, stream, "spend.recorded", spend_body(i + 1));
        crm_err err = crm_batch_prepare(&ev, 1, NULL, 0, "", 0, &b, NULL);
        pthread_mutex_unlock(&fx_mu);
        if (err != CRM_OK || crm_log_append(log, b, NULL) != CRM_OK ||
            crm_batch_version(b, 0) != (uint64_t)i)
            abort();
        crm_batch_free(b);
    }
    return NULL;
}

static void
test_concurrent_group_commit(void **state)
{
    ctx *c = *state;
    enum { THREADS = 4, PER = 60 };
    pthread_t th[THREADS];
    crm_log_stats before, after;
    crm_log_stats_get(c->log, &before);

    for (long i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, c->log);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    crm_log_stats_get(c->log, &after);
    assert_int_equal(after.events - before.events, THREADS * PER);
    assert_int_equal(after.batches - before.batches, THREADS * PER);
    /* batches queued during a commit shared the next one */
    assert_true(after.commits - before.commits < THREADS * PER);
    assert_int_equal(crm_log_verify(c->log, NULL, NULL), CRM_OK);
}

static void
test_map_growth_and_reopen(void **state)
{
    (void)state;
    char dir[512];
    crm_log *log;
    crm_error why;
    crm_log_opts o = {.map_size = 256 * 1024};
    fx_tmpdir(dir, sizeof(dir), "grow");
    assert_int_equal(crm_log_open(dir, "tiny", &o, &log, &why), CRM_OK);
    uint8_t h1[CRM_HASH_LEN], g1[CRM_HASH_LEN];
    for (int round = 0; round < 40; round++) {
        crm_event_in ev[50];
        char streams[50][16];
        for (int i = 0; i < 50; i++) {
            snprintf(streams[i], 16, "s-%d", (round * 50 + i) % 300);
            fx_event(&ev[i], streams[i], "complaint.opened",
                     FX_BODY(FX_S("complaint_id", "c"),
                             FX_S("category", "noise"),
                             FX_S("description",
                                  "The neighbours played loud music until "
                                  "three in the morning, twice.")));
        }
        assert_int_equal(append(log, ev, 50, NULL, 0, NULL, &why), CRM_OK);
        fx_reset();
    }
    crm_log_stats st;
    crm_log_stats_get(log, &st);
    assert_true(st.map_grows > 0);
    assert_true(st.map_size > o.map_size);
    assert_int_equal(st.position, 2000);
    uint64_t p1;
    crm_log_head(log, &p1, h1);
    crm_log_genesis(log, g1);
    crm_log_close(log);

    assert_int_equal(crm_log_open(dir, "tiny", &o, &log, &why), CRM_OK);
    uint64_t p2;
    uint8_t h2[CRM_HASH_LEN], g2[CRM_HASH_LEN];
    crm_log_head(log, &p2, h2);
    crm_log_genesis(log, g2);
    assert_int_equal(p1, p2);
    assert_memory_equal(h1, h2, CRM_HASH_LEN);
    assert_memory_equal(g1, g2, CRM_HASH_LEN);
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    uint64_t v, p;
    assert_int_equal(crm_log_stream_info(log, "s-7", 3, &v, &p), CRM_OK);
    assert_int_equal(v, 2000 / 300 - 1 + (7 < 2000 % 300));
    crm_log_close(log);

    /* another tenant's directory is refused */
    assert_int_equal(crm_log_open(dir, "other", &o, &log, &why),
                     CRM_ERR_CORRUPT);
    fx_rmrf(dir);
}

/* Flips one byte inside a stored record with raw LMDB; verify must name
 * that position. */
static void
test_verify_detects_tampering(void **state)
{
    ctx *c = *state;
    crm_event_in ev[5];
    for (int i = 0; i < 5; i++)
        fx_event(&ev[i], "g-tamper", "spend.recorded", spend_body(100 + i));
    assert_int_equal(append(c->log, ev, 5, NULL, 0, NULL, NULL), CRM_OK);
    uint64_t target = head(c->log) - 2;
    crm_log_close(c->log);
    c->log = NULL;

    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 32);
    assert_int_equal(mdb_env_open(env, c->dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "log", 0, &dbi), 0);
    uint8_t kb[8] = {0};
    for (int i = 0; i < 8; i++)
        kb[7 - i] = (uint8_t)(target >> (8 * i));
    MDB_val k = {8, kb}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    uint8_t copy[4096];
    memcpy(copy, v.mv_data, v.mv_size);
    copy[v.mv_size - 40] ^= 0x01; /* inside the body, before the hash */
    MDB_val nv = {v.mv_size, copy};
    assert_int_equal(mdb_put(txn, dbi, &k, &nv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    crm_error why;
    assert_int_equal(crm_log_open(c->dir, "acme-hotels", NULL, &c->log, &why),
                     CRM_OK);
    uint64_t badpos = 0;
    assert_int_equal(crm_log_verify(c->log, &badpos, &why), CRM_ERR_CORRUPT);
    assert_int_equal(badpos, target);
}

/* Stream heads live in memory between checkpoints. A process that dies
 * without closing the log leaves the streams index behind the log; the
 * next open must replay the records after the checkpoint, so versions go on
 * densely and reads see every event. */
static void
test_heads_replayed_after_crash(void **state)
{
    (void)state;
    char dir[512];
    crm_log *log;
    crm_error why;
    fx_tmpdir(dir, sizeof(dir), "replay");

    pid_t pid = fork();
    if (pid == 0) {
        if (crm_log_open(dir, "replay", NULL, &log, NULL) != CRM_OK)
            _exit(1);
        for (int round = 0; round < 30; round++) {
            crm_event_in ev[10];
            char streams[10][16];
            for (int i = 0; i < 10; i++) {
                snprintf(streams[i], 16, "r-%d", (round * 10 + i) % 17);
                fx_event(&ev[i], streams[i], "spend.recorded",
                         spend_body(round * 10 + i + 1));
            }
            if (append(log, ev, 10, NULL, 0, NULL, NULL) != CRM_OK)
                _exit(2);
            fx_reset();
        }
        _exit(0); /* no close: no closing checkpoint */
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    assert_int_equal(crm_log_open(dir, "replay", NULL, &log, &why), CRM_OK);
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    uint64_t v, p;
    /* 300 events over 17 streams: r-0 .. r-12 have 18, the rest 17 */
    assert_int_equal(crm_log_stream_info(log, "r-3", 3, &v, &p), CRM_OK);
    assert_int_equal(v, 17);
    assert_int_equal(crm_log_stream_info(log, "r-16", 4, &v, &p), CRM_OK);
    assert_int_equal(v, 16);
    collect c = {0};
    assert_int_equal(
        crm_log_read_stream(log, "r-16", 4, 10, 0, collect_visit, &c), CRM_OK);
    assert_int_equal(c.n, 7);
    assert_int_equal(c.ver[6], 16);

    crm_event_in ev;
    crm_batch *b = NULL;
    fx_event(&ev, "r-16", "spend.recorded", spend_body(5));
    crm_expect x = {"r-16", 4, 16};
    assert_int_equal(append(log, &ev, 1, &x, 1, &b, &why), CRM_OK);
    assert_int_equal(crm_batch_version(b, 0), 17);
    crm_batch_free(b);
    crm_log_close(log); /* writes a checkpoint */

    assert_int_equal(crm_log_open(dir, "replay", NULL, &log, &why), CRM_OK);
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    assert_int_equal(crm_log_stream_info(log, "r-16", 4, &v, &p), CRM_OK);
    assert_int_equal(v, 17);
    assert_int_equal(p, 301);
    crm_log_close(log);
    fx_rmrf(dir);
}

/* An idle log checkpoints its stream heads when asked (crmd's timer),
 * once a second has passed since the last checkpoint. */
static void
test_idle_checkpoint(void **state)
{
    ctx *c = *state;
    crm_event_in ev[3];
    for (int i = 0; i < 3; i++)
        fx_event(&ev[i], i ? "ck-b" : "ck-a", "spend.recorded",
                 spend_body(i + 1));
    assert_int_equal(append(c->log, ev, 3, NULL, 0, NULL, NULL), CRM_OK);
    crm_log_stats st;
    crm_log_stats_get(c->log, &st);
    uint64_t head = st.position;
    if (st.checkpoint == head) {
        /* a checkpoint may just have run with this very commit: add more */
        fx_event(&ev[0], "ck-c", "spend.recorded", spend_body(9));
        assert_int_equal(append(c->log, ev, 1, NULL, 0, NULL, NULL), CRM_OK);
        crm_log_stats_get(c->log, &st);
        head = st.position;
    }
    assert_true(st.checkpoint < head);
    usleep(1100000);
    crm_log_checkpoint(c->log);
    for (int i = 0; i < 200 && st.checkpoint < head; i++) {
        usleep(10000);
        crm_log_stats_get(c->log, &st);
    }
    assert_int_equal(st.checkpoint, head);
    assert_int_equal(crm_log_verify(c->log, NULL, NULL), CRM_OK);
}

/* A refused batch, by prepare or by the writer, leaves no trace: the same
 * events appended afterwards are new, at the next positions. */
static void
test_refused_batch_writes_nothing(void **state)
{
    ctx *c = *state;
    crm_event_in a, ev[2], later;
    crm_batch *b = NULL;
    crm_error why;
    uint64_t h = head(c->log);

    fx_event(&a, "g-retry", "spend.recorded", spend_body(1));
    crm_event_in twice[2] = {a, a};
    assert_int_equal(crm_batch_prepare(twice, 2, NULL, 0, "", 0, &b, &why),
                     CRM_ERR_DUPLICATE_ID);
    assert_null(b);
    assert_int_equal(append(c->log, &a, 1, NULL, 0, &b, &why), CRM_OK);
    assert_int_equal(crm_batch_position(b, 0), h + 1);
    assert_int_equal(crm_batch_version(b, 0), 0);
    assert_false(crm_batch_is_duplicate(b, 0));
    crm_batch_free(b);

    fx_event(&ev[0], "g-retry", "spend.recorded", spend_body(2));
    fx_event(&ev[1], "g-retry", "hotel.teleported", NULL);
    assert_int_equal(crm_batch_prepare(ev, 2, NULL, 0, "", 0, &b, &why),
                     CRM_ERR_UNKNOWN_TYPE);
    assert_null(b);
    assert_int_equal(head(c->log), h + 1);
    assert_int_equal(append(c->log, ev, 1, NULL, 0, &b, &why), CRM_OK);
    assert_int_equal(crm_batch_position(b, 0), h + 2);
    assert_int_equal(crm_batch_version(b, 0), 1);
    assert_false(crm_batch_is_duplicate(b, 0));
    crm_batch_free(b);

    /* refused by the writer: the stream is at version 1 */
    fx_event(&later, "g-retry", "spend.recorded", spend_body(3));
    crm_expect x = {"g-retry", 7, 0};
    assert_int_equal(append(c->log, &later, 1, &x, 1, NULL, &why),
                     CRM_ERR_CONFLICT);
    assert_int_equal(head(c->log), h + 2);
    assert_int_equal(append(c->log, &later, 1, NULL, 0, &b, &why), CRM_OK);
    assert_int_equal(crm_batch_position(b, 0), h + 3);
    assert_int_equal(crm_batch_version(b, 0), 2);
    assert_false(crm_batch_is_duplicate(b, 0));
    crm_batch_free(b);

    /* while the first event, sent again, is the one already stored */
    assert_int_equal(append(c->log, &a, 1, NULL, 0, &b, &why), CRM_OK);
    assert_true(crm_batch_is_duplicate(b, 0));
    assert_int_equal(crm_batch_position(b, 0), h + 1);
    crm_batch_free(b);
    assert_int_equal(head(c->log), h + 3);
    assert_int_equal(crm_log_verify(c->log, NULL, &why), CRM_OK);
}

typedef struct bodies {
    size_t n, data_len;
    int bad;
} bodies;

/* Counts records whose body holds "data" of the expected length. */
static int
body_visit(void *arg, uint64_t position, const uint8_t *rec, size_t len)
{
    bodies *bs = arg;
    msgpack_zone *z = msgpack_zone_new(4096);
    crm_record r;
    (void)position;
    if (crm_record_decode(rec, len, z, &r, NULL) != CRM_OK ||
        r.body.type != MSGPACK_OBJECT_MAP || r.body.via.map.size != 1 ||
        r.body.via.map.ptr[0].val.type != MSGPACK_OBJECT_STR ||
        r.body.via.map.ptr[0].val.via.str.size != bs->data_len)
        bs->bad++;
    bs->n++;
    msgpack_zone_free(z);
    return 0;
}

/* One batch several times the size of the whole map: the writer meets
 * MDB_MAP_FULL, grows the map and redoes the group until it fits, and
 * commits the batch once, whole. */
static void
test_map_full_in_one_batch(void **state)
{
    (void)state;
    enum { N = 1000, BODY = 2048, STREAMS = 10 };
    static char data[BODY + 1];
    static crm_event_in ev[N];
    char dir[512], streams[STREAMS][16];
    crm_log *log;
    crm_batch *b;
    crm_error why;
    crm_log_stats st;
    crm_log_opts o = {.map_size = 256 * 1024};

    fx_tmpdir(dir, sizeof(dir), "mapfull");
    assert_int_equal(crm_log_open(dir, "big-hotels", &o, &log, &why), CRM_OK);
    crm_log_stats_get(log, &st);
    assert_int_equal(st.map_size, o.map_size); /* LMDB took it as is */
    assert_int_equal(st.map_grows, 0);

    memset(data, 'm', BODY);
    const msgpack_object *body = FX_BODY(FX_S("data", data));
    for (int s = 0; s < STREAMS; s++)
        snprintf(streams[s], sizeof(streams[s]), "big-%d", s);
    for (int i = 0; i < N; i++)
        fx_event(&ev[i], streams[i % STREAMS], "x.big", body);
    assert_int_equal(crm_batch_prepare(ev, N, NULL, 0, "k", 1, &b, &why),
                     CRM_OK);
    assert_int_equal(crm_log_append(log, b, &why), CRM_OK);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(crm_batch_position(b, i), i + 1);
    crm_batch_free(b);

    crm_log_stats_get(log, &st);
    assert_true(st.map_grows > 0);
    assert_true(st.map_size >= (uint64_t)N * BODY);
    assert_int_equal(st.position, N);
    assert_int_equal(st.events, N);
    assert_int_equal(st.commits, 1);
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    crm_log_close(log);

    assert_int_equal(crm_log_open(dir, "big-hotels", &o, &log, &why), CRM_OK);
    assert_int_equal(head(log), N);
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    bodies all = {.data_len = BODY};
    assert_int_equal(crm_log_read_all(log, 1, 0, body_visit, &all), CRM_OK);
    assert_int_equal(all.n, N);
    assert_int_equal(all.bad, 0);
    bodies one = {.data_len = BODY};
    assert_int_equal(
        crm_log_read_stream(log, "big-3", 5, 0, 0, body_visit, &one), CRM_OK);
    assert_int_equal(one.n, N / STREAMS);
    assert_int_equal(one.bad, 0);
    crm_log_close(log);
    fx_rmrf(dir);
    fx_reset();
}

/* Growth stops at map_max: the batch that does not fit is refused with
 * UNAVAILABLE and nothing of it is written; the log stays sound and, given
 * a larger limit, takes the very same batch as new. */
static void
test_map_max(void **state)
{
    (void)state;
    enum { BODY = 1024, PER = 8, ROUNDS = 400 };
    static char data[BODY + 1];
    char dir[512];
    crm_log *log;
    crm_batch *b = NULL;
    crm_error why;
    crm_log_stats st;
    crm_log_opts o = {.map_size = 128 * 1024, .map_max = 512 * 1024};
    crm_event_in ev[PER];
    char streams[7][16];

    fx_tmpdir(dir, sizeof(dir), "mapmax");
    assert_int_equal(crm_log_open(dir, "capped", &o, &log, &why), CRM_OK);
    memset(data, 'q', BODY);
    const msgpack_object *body = FX_BODY(FX_S("data", data));
    for (int s = 0; s < 7; s++)
        snprintf(streams[s], sizeof(streams[s]), "cap-%d", s);

    crm_err err = CRM_OK;
    int round;
    uint64_t h = 0;
    for (round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < PER; i++)
            fx_event(&ev[i], streams[(round + i) % 7], "x.fill", body);
        h = head(log);
        err = append(log, ev, PER, NULL, 0, NULL, &why);
        if (err != CRM_OK)
            break;
        assert_int_equal(head(log), h + PER);
    }
    assert_int_equal(err, CRM_ERR_UNAVAILABLE);
    assert_true(round > 0);
    print_message("full after %d batches, %llu events: %s\n", round,
                  (unsigned long long)h, why.msg);
    /* the refused batch moved nothing */
    assert_int_equal(head(log), h);
    crm_log_stats_get(log, &st);
    assert_int_equal(st.position, h);
    assert_int_equal(st.events, h);
    assert_true(st.map_size <= o.map_max);
    assert_true(st.map_grows > 0);
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    bodies all = {.data_len = BODY};
    assert_int_equal(crm_log_read_all(log, 1, 0, body_visit, &all), CRM_OK);
    assert_int_equal(all.n, h);
    assert_int_equal(all.bad, 0);

    /* something small may still fit in the last pages, or not: either
     * way it is all or nothing */
    crm_event_in small;
    fx_event(&small, "cap-small", "spend.recorded", spend_body(1));
    err = append(log, &small, 1, NULL, 0, &b, &why);
    if (err == CRM_OK) {
        assert_int_equal(crm_batch_position(b, 0), h + 1);
        h++;
    } else {
        assert_int_equal(err, CRM_ERR_UNAVAILABLE);
    }
    crm_batch_free(b);
    assert_int_equal(head(log), h);
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    crm_log_close(log);

    o.map_max = 0;
    assert_int_equal(crm_log_open(dir, "capped", &o, &log, &why), CRM_OK);
    assert_int_equal(head(log), h);
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    assert_int_equal(append(log, ev, PER, NULL, 0, &b, &why), CRM_OK);
    for (size_t i = 0; i < PER; i++) {
        assert_int_equal(crm_batch_position(b, i), h + 1 + i);
        assert_false(crm_batch_is_duplicate(b, i));
    }
    crm_batch_free(b);
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    crm_log_close(log);
    fx_rmrf(dir);
    fx_reset();
}

/* Readers racing the writer over stream heads: one appender creates new
 * streams, ten per batch, and publishes how many are acknowledged; two
 * readers look acknowledged streams up (the newest and one at random) and
 * must always find them, while the overlay of heads grows under them. */
enum { RACE_STREAMS = 5000, RACE_BATCH = 10, RACE_READERS = 2 };

typedef struct race {
    crm_log *log;
    const msgpack_object *body;
    atomic_size_t acked; /* streams 0..acked-1 are acknowledged */
    atomic_int done;
    atomic_int append_failed;
    atomic_size_t checks[RACE_READERS];
    atomic_size_t misses;
    atomic_flag noted;
    char miss[200];
} race;

static void
race_name(char *out, size_t len, size_t i)
{
    snprintf(out, len, "ovl-%05zu", i);
}

static void *
race_appender(void *arg)
{
    race *r = arg;
    for (size_t k = 0; k < RACE_STREAMS / RACE_BATCH; k++) {
        crm_event_in ev[RACE_BATCH];
        char names[RACE_BATCH][32];
        crm_batch *b;
        for (size_t i = 0; i < RACE_BATCH; i++) {
            race_name(names[i], sizeof(names[i]), k * RACE_BATCH + i);
            fx_event(&ev[i], names[i], "spend.recorded", r->body);
        }
        if (crm_batch_prepare(ev, RACE_BATCH, NULL, 0, "", 0, &b, NULL) !=
            CRM_OK) {
            atomic_store(&r->append_failed, 1);
            break;
        }
        crm_err err = crm_log_append(r->log, b, NULL);
        crm_batch_free(b);
        if (err != CRM_OK) {
            atomic_store(&r->append_failed, 1);
            break;
        }
        atomic_store(&r->acked, (k + 1) * RACE_BATCH);
    }
    atomic_store(&r->done, 1);
    return NULL;
}

static int
first_visit(void *arg, uint64_t position, const uint8_t *rec, size_t len)
{
    uint64_t *seen = arg;
    (void)rec, (void)len;
    seen[0]++;
    seen[1] = position;
    return 0;
}

typedef struct reader_arg {
    race *r;
    int id;
} reader_arg;

static void
race_miss(race *r, const char *what, const char *stream, crm_err err)
{
    atomic_fetch_add(&r->misses, 1);
    if (!atomic_flag_test_and_set(&r->noted))
        snprintf(r->miss, sizeof(r->miss), "%s of acknowledged %s: %s", what,
                 stream, crm_err_name(err));
}

static void *
race_reader(void *arg)
{
    reader_arg *a = arg;
    race *r = a->r;
    uint64_t rs = 0x9e3779b97f4a7c15ull * (uint64_t)(a->id + 1);
    for (uint64_t it = 0; !atomic_load(&r->done); it++) {
        size_t n = atomic_load(&r->acked);
        if (n == 0) {
            sched_yield();
            continue;
        }
        rs = rs * 6364136223846793005ull + 1442695040888963407ull;
        size_t i = it % 2 ? n - 1 : (size_t)(rs >> 33) % n;
        char name[32];
        race_name(name, sizeof(name), i);
        uint64_t v = 99, p = 0, seen[2] = {0, 0};
        crm_err err = crm_log_stream_info(r->log, name, strlen(name), &v, &p);
        if (err != CRM_OK || v != 0 || p == 0) {
            race_miss(r, "stream_info", name, err);
            continue;
        }
        err = crm_log_read_stream(r->log, name, strlen(name), 0, 0, first_visit,
                                  seen);
        if (err != CRM_OK || seen[0] != 1 || seen[1] != p) {
            race_miss(r, "read_stream", name, err);
            continue;
        }
        atomic_fetch_add(&r->checks[a->id], 1);
    }
    return NULL;
}

static void
test_readers_race_new_streams(void **state)
{
    ctx *c = *state;
    static race r;
    pthread_t app, rd[RACE_READERS];
    reader_arg ra[RACE_READERS];

    memset(&r, 0, sizeof(r));
    r.log = c->log;
    r.body = spend_body(42);
    atomic_flag_clear(&r.noted);
    for (int i = 0; i < RACE_READERS; i++) {
        ra[i] = (reader_arg){&r, i};
        assert_int_equal(pthread_create(&rd[i], NULL, race_reader, &ra[i]), 0);
    }
    assert_int_equal(pthread_create(&app, NULL, race_appender, &r), 0);
    pthread_join(app, NULL);
    for (int i = 0; i < RACE_READERS; i++)
        pthread_join(rd[i], NULL);

    assert_int_equal(atomic_load(&r.append_failed), 0);
    assert_int_equal(atomic_load(&r.acked), RACE_STREAMS);
    if (atomic_load(&r.misses) != 0)
        fail_msg("%zu lookups missed; first: %s", atomic_load(&r.misses),
                 r.miss);
    for (int i = 0; i < RACE_READERS; i++) {
        print_message("reader %d: %zu lookups\n", i, atomic_load(&r.checks[i]));
        assert_true(atomic_load(&r.checks[i]) > 0);
    }

    crm_log_stats st;
    crm_log_stats_get(c->log, &st);
    assert_int_equal(st.events, RACE_STREAMS);
    for (size_t i = 0; i < RACE_STREAMS; i++) {
        char name[32];
        uint64_t v, p;
        race_name(name, sizeof(name), i);
        assert_int_equal(
            crm_log_stream_info(c->log, name, strlen(name), &v, &p), CRM_OK);
        assert_int_equal(v, 0);
        assert_int_equal(p, i + 1);
    }
    assert_int_equal(crm_log_verify(c->log, NULL, NULL), CRM_OK);
}

/* Long streams: reads start their walk at a stream_skip entry near the
 * versions asked for; a format-1 log gets its skip index on open. */
typedef struct walk {
    const uint64_t *want; /* position of each version */
    uint64_t next_ver;
    size_t n;
} walk;

static int
walk_visit(void *arg, uint64_t position, const uint8_t *rec, size_t len)
{
    walk *w = arg;
    msgpack_zone *z = msgpack_zone_new(1024);
    crm_record r;
    assert_int_equal(crm_record_decode(rec, len, z, &r, NULL), CRM_OK);
    assert_int_equal(r.h.version, w->next_ver);
    assert_int_equal(position, w->want[r.h.version]);
    w->next_ver++;
    w->n++;
    msgpack_zone_free(z);
    return 0;
}

static void
check_long_reads(crm_log *log, const uint64_t *want, uint64_t nver)
{
    static const struct {
        uint64_t from;
        size_t max;
    } reads[] = {{0, 0},   {0, 1},    {0, 10},  {5, 70},    {63, 1},
                 {64, 64}, {100, 0},  {127, 2}, {250, 100}, {299, 1},
                 {1, 299}, {190, 60}, {300, 5}};
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        walk w = {want, reads[i].from, 0};
        uint64_t left = reads[i].from < nver ? nver - reads[i].from : 0;
        uint64_t expect =
            reads[i].max && reads[i].max < left ? reads[i].max : left;
        assert_int_equal(crm_log_read_stream(log, "long-guest", 10,
                                             reads[i].from, reads[i].max,
                                             walk_visit, &w),
                         CRM_OK);
        if (w.n != expect)
            fail_msg("read from %llu max %zu: %zu events, want %llu",
                     (unsigned long long)reads[i].from, reads[i].max, w.n,
                     (unsigned long long)expect);
    }
}

/* Opens the log's LMDB environment directly (the log must be closed). */
static void
raw_env(const char *dir, MDB_env **env, MDB_txn **txn, MDB_dbi *meta,
        MDB_dbi *skip)
{
    assert_int_equal(mdb_env_create(env), 0);
    mdb_env_set_maxdbs(*env, 32);
    mdb_env_set_mapsize(*env, (size_t)64 << 20);
    assert_int_equal(mdb_env_open(*env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(*env, NULL, 0, txn), 0);
    assert_int_equal(mdb_dbi_open(*txn, "meta", 0, meta), 0);
    assert_int_equal(mdb_dbi_open(*txn, "stream_skip", 0, skip), 0);
}

static void
test_long_stream_reads(void **state)
{
    ctx *c = *state;
    static uint64_t want[300];
    crm_error why;
    for (int b = 0; b < 10; b++) {
        crm_event_in ev[31];
        crm_batch *bt = NULL;
        char other[16];
        snprintf(other, sizeof(other), "other-%d", b);
        for (int i = 0; i < 30; i++)
            fx_event(&ev[i], "long-guest", "spend.recorded",
                     spend_body(b * 30 + i + 1));
        fx_event(&ev[30], other, "spend.recorded", spend_body(1));
        assert_int_equal(append(c->log, ev, 31, NULL, 0, &bt, &why), CRM_OK);
        for (int i = 0; i < 30; i++)
            want[crm_batch_version(bt, (size_t)i)] =
                crm_batch_position(bt, (size_t)i);
        crm_batch_free(bt);
        fx_reset();
    }
    check_long_reads(c->log, want, 300);
    assert_int_equal(crm_log_verify(c->log, NULL, &why), CRM_OK);
    crm_log_close(c->log);
    c->log = NULL;

    /* a log of format 1 had no skip index: opening it builds one */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta, skip;
    raw_env(c->dir, &env, &txn, &meta, &skip);
    MDB_stat ms;
    mdb_stat(txn, skip, &ms);
    assert_int_equal(ms.ms_entries, 300 / 64); /* versions 63 .. 255 */
    assert_int_equal(mdb_drop(txn, skip, 0), 0);
    MDB_val fk = {6, "format"}, fv = {1, "1"};
    assert_int_equal(mdb_put(txn, meta, &fk, &fv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    /* with a start size below what the file holds, LMDB maps exactly the
     * committed pages: the log must make room before it upgrades */
    crm_log_opts small = {.map_size = 64 << 10};
    assert_int_equal(crm_log_open(c->dir, "acme-hotels", &small, &c->log, &why),
                     CRM_OK);
    crm_log_stats st;
    crm_log_stats_get(c->log, &st);
    assert_true(st.map_grows >= 1);
    assert_true(st.map_used * 4 <= st.map_size * 3);
    assert_int_equal(crm_log_verify(c->log, NULL, &why), CRM_OK);
    check_long_reads(c->log, want, 300);
    crm_log_close(c->log);
    c->log = NULL;

    /* an index entry gone astray is found by verify */
    raw_env(c->dir, &env, &txn, &meta, &skip);
    uint8_t kb[18] = "long-guest";
    for (int i = 0; i < 8; i++)
        kb[10 + i] = (uint8_t)(i == 7 ? 127 : 0);
    MDB_val sk = {18, kb}, sv;
    assert_int_equal(mdb_get(txn, skip, &sk, &sv), 0);
    uint8_t wrong[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    sv.mv_data = wrong;
    assert_int_equal(mdb_put(txn, skip, &sk, &sv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_int_equal(crm_log_open(c->dir, "acme-hotels", NULL, &c->log, &why),
                     CRM_OK);
    uint64_t bad_at = 0;
    assert_int_equal(crm_log_verify(c->log, &bad_at, &why), CRM_ERR_CORRUPT);
    assert_int_equal(bad_at, want[127]);
    crm_log_close(c->log);
    c->log = NULL;

    /* a format this build does not know is refused, not rewritten */
    raw_env(c->dir, &env, &txn, &meta, &skip);
    MDB_val nv = {1, "9"};
    assert_int_equal(mdb_put(txn, meta, &fk, &nv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_int_equal(crm_log_open(c->dir, "acme-hotels", NULL, &c->log, &why),
                     CRM_ERR_CORRUPT);
    assert_non_null(strstr(why.msg, "format"));
    assert_null(c->log);
}

/* A checkpoint round spreads the stream heads over several commits. A
 * process that dies in the middle of one leaves an index holding heads
 * of two moments; the reopened log replays, verifies and finds every
 * head, a second round that begins over the first one's leftovers
 * verifies too, and a clean close completes the checkpoint. Rounds begin
 * on the count of dirty heads alone here (ckpt_streams), never on time,
 * so each step is where the test expects it however slow the build. */
#define CK_OLD 2000  /* streams checkpointed before the round */
#define CK_NEW 11000 /* streams written after it: three slices */
#define CK_MOVE 5100 /* streams moved after the round began (its slice 2) */

static const crm_log_opts ck_opts = {.ckpt_streams = 10000, .ckpt_ms = 3600000};

static void
ck_name(char *out, int i)
{
    snprintf(out, 16, "ck-%05d", i);
}

/* Appends 1000 events, one to each of streams first .. first+999. */
static int
ck_batch(crm_log *log, int first)
{
    static crm_event_in ev[1000];
    static char names[1000][16];
    for (int i = 0; i < 1000; i++) {
        ck_name(names[i], first + i);
        fx_event(&ev[i], names[i], "spend.recorded", spend_body(1));
    }
    crm_err err = append(log, ev, 1000, NULL, 0, NULL, NULL);
    fx_reset();
    return err == CRM_OK ? 0 : -1;
}

static void
test_checkpoint_round_interrupted(void **state)
{
    (void)state;
    char dir[512];
    crm_log *log;
    crm_error why;
    crm_log_stats st;
    fx_tmpdir(dir, sizeof(dir), "round");

    pid_t pid = fork();
    if (pid == 0) {
        if (crm_log_open(dir, "round", &ck_opts, &log, NULL) != CRM_OK)
            _exit(1);
        for (int b = 0; b < CK_OLD / 1000; b++)
            if (ck_batch(log, b * 1000) != 0)
                _exit(2);
        crm_log_close(log); /* checkpoints everything */
        if (crm_log_open(dir, "round", &ck_opts, &log, NULL) != CRM_OK)
            _exit(3);
        /* ck-01000 .. ck-11999: the 11th batch finds 10,000 dirty heads
         * and begins a round with them, writing its first slice */
        for (int b = 0; b < CK_NEW / 1000; b++)
            if (ck_batch(log, CK_OLD / 2 + b * 1000) != 0)
                _exit(4);
        /* heads in the round's second slice move on; this commit writes
         * that slice with the heads as they were when the round began */
        if (ck_batch(log, CK_MOVE) != 0)
            _exit(5);
        crm_log_stats_get(log, &st);
        if (st.checkpoint != CK_OLD)
            _exit(6); /* the round must still be under way */
        if (crm_log_verify(log, NULL, NULL) != CRM_OK)
            _exit(7);
        _exit(0); /* no close: the round stops after two of three slices */
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    const uint64_t head_pos = CK_OLD + CK_NEW + 1000;
    assert_int_equal(crm_log_open(dir, "round", &ck_opts, &log, &why), CRM_OK);
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    crm_log_stats_get(log, &st);
    assert_int_equal(st.checkpoint, CK_OLD);
    assert_int_equal(st.position, head_pos);
    for (int i = 0; i < CK_OLD / 2 + CK_NEW; i++) {
        char name[16];
        uint64_t v, p;
        ck_name(name, i);
        assert_int_equal(crm_log_stream_info(log, name, 8, &v, &p), CRM_OK);
        uint64_t want_v = (i >= CK_OLD / 2 && i < CK_OLD) +
                          (i >= CK_MOVE && i < CK_MOVE + 1000);
        if (v != want_v)
            fail_msg("%s: version %llu, want %llu", name, (unsigned long long)v,
                     (unsigned long long)want_v);
    }

    /* The replayed heads are dirty: the next commit begins a second round
     * over the first one's leftovers, where ck-05100.. still hold the
     * versions of the first round's moment. */
    crm_event_in ev;
    fx_event(&ev, "ck-99999", "spend.recorded", spend_body(5));
    assert_int_equal(append(log, &ev, 1, NULL, 0, NULL, &why), CRM_OK);
    fx_reset();
    crm_log_stats_get(log, &st);
    assert_int_equal(st.checkpoint, CK_OLD); /* the round is under way */
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    crm_log_close(log); /* a clean close completes the checkpoint */

    assert_int_equal(crm_log_open(dir, "round", &ck_opts, &log, &why), CRM_OK);
    crm_log_stats_get(log, &st);
    assert_int_equal(st.checkpoint, head_pos + 1);
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    crm_log_close(log);
    fx_rmrf(dir);
}

/* Past cache_streams heads in memory, a completed checkpoint lets the
 * checkpointed ones go: readers then find them in the streams index,
 * and heads still dirty stay. */
static void
test_cache_bound(void **state)
{
    (void)state;
    char dir[512];
    crm_log *log;
    crm_error why;
    crm_log_opts o = {
        .ckpt_streams = 1500, .ckpt_ms = 3600000, .cache_streams = 1000};
    fx_tmpdir(dir, sizeof(dir), "cache");
    assert_int_equal(crm_log_open(dir, "cache", &o, &log, &why), CRM_OK);
    /* 4000 streams in batches of 1000: rounds begin at 1500 dirty heads */
    for (int b = 0; b < 4; b++)
        assert_int_equal(ck_batch(log, b * 1000), 0);
    crm_log_stats st;
    crm_log_stats_get(log, &st);
    assert_true(st.checkpoint > 0); /* at least one round completed */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 4000; i++) {
            char name[16];
            uint64_t v, p;
            ck_name(name, i);
            assert_int_equal(crm_log_stream_info(log, name, 8, &v, &p), CRM_OK);
            assert_int_equal(v, (uint64_t)round);
            collect c = {0};
            assert_int_equal(
                crm_log_read_stream(log, name, 8, 0, 0, collect_visit, &c),
                CRM_OK);
            assert_int_equal(c.n, round + 1);
        }
        assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
        /* every stream once more: heads move past what was dropped */
        for (int b = 0; b < 4 && round == 0; b++)
            assert_int_equal(ck_batch(log, b * 1000), 0);
    }
    crm_log_close(log);
    assert_int_equal(crm_log_open(dir, "cache", &o, &log, &why), CRM_OK);
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    crm_log_close(log);
    fx_rmrf(dir);
}

/* One process writes a log: while it is open here, a child process that
 * opens it gets unavailable, and once it is closed, the child can. */
static void
test_one_process_per_log(void **state)
{
    ctx *c = *state;
    crm_event_in ev;
    fx_event(&ev, "guest-1", "spend.recorded", spend_body(5));
    assert_int_equal(append(c->log, &ev, 1, NULL, 0, NULL, NULL), CRM_OK);
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            crm_log_close(c->log);
            c->log = NULL;
        }
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            crm_log *log;
            crm_error why;
            crm_err err = crm_log_open(c->dir, "acme-hotels", NULL, &log, &why);
            if (err == CRM_OK) {
                uint64_t pos;
                crm_log_head(log, &pos, NULL);
                crm_log_close(log);
                _exit(pos == 1 ? 0 : 3);
            }
            _exit(err == CRM_ERR_UNAVAILABLE &&
                          strstr(why.msg, "another process") != NULL
                      ? 1
                      : 2);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), round == 0 ? 1 : 0);
    }
    crm_error why;
    assert_int_equal(crm_log_open(c->dir, "acme-hotels", NULL, &c->log, &why),
                     CRM_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_contents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expected_versions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_writes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_group_commit, setup,
                                        teardown),
        cmocka_unit_test(test_map_growth_and_reopen),
        cmocka_unit_test_setup_teardown(test_verify_detects_tampering, setup,
                                        teardown),
        cmocka_unit_test(test_heads_replayed_after_crash),
        cmocka_unit_test_setup_teardown(test_idle_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_batch_writes_nothing,
                                        setup, teardown),
        cmocka_unit_test(test_map_full_in_one_batch),
        cmocka_unit_test(test_map_max),
        cmocka_unit_test_setup_teardown(test_long_stream_reads, setup,
                                        teardown),
        cmocka_unit_test(test_checkpoint_round_interrupted),
        cmocka_unit_test(test_cache_bound),
        cmocka_unit_test_setup_teardown(test_one_process_per_log, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_readers_race_new_streams, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
