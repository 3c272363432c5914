/* log_test.c - the per-tenant event log: appends, checks, idempotency,
 * reads, map growth, reopen, group commit and corruption detection, all on
 * real LMDB files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <lmdb.h>
#include <pthread.h>
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
    assert_int_equal(crm_log_read_all(c->log, 1, 0, collect_visit, &all), CRM_OK);
    assert_int_equal(all.n, 4);
    assert_string_equal(all.stream[1], "guest-2");

    collect s = {0};
    assert_int_equal(crm_log_read_stream(c->log, "guest-1", 7, 0, 0,
                                         collect_visit, &s), CRM_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.pos[0], 1);
    assert_int_equal(s.pos[1], 3);
    assert_int_equal(s.pos[2], 4);
    assert_int_equal(s.ver[2], 2);

    collect s2 = {0};
    assert_int_equal(crm_log_read_stream(c->log, "guest-1", 7, 1, 1,
                                         collect_visit, &s2), CRM_OK);
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
    assert_int_equal(crm_log_read_stream(c->log, "nobody", 6, 0, 0,
                                         collect_visit, &s2),
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
    assert_int_equal(crm_log_read_all(c->log, pos, 1, copy_visit, &got), CRM_OK);
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
    assert_int_equal(append(c->log, ev, 1, &x, 1, NULL, &why), CRM_ERR_CONFLICT);
    assert_non_null(strstr(why.msg, "version 0"));
    /* wrong exact version, in a batch that also touches another stream:
     * the whole batch is refused */
    fx_event(&ev[1], "g-other", "spend.recorded", spend_body(5));
    x.version = 3;
    assert_int_equal(append(c->log, ev, 2, &x, 1, NULL, &why), CRM_ERR_CONFLICT);
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
    assert_int_equal(crm_batch_prepare(many, CRM_BATCH_MAX + 1, NULL, 0, "", 0,
                                       &b, &why),
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
    assert_int_equal(crm_log_read_stream(log, "r-16", 4, 10, 0, collect_visit,
                                         &c), CRM_OK);
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
        fx_event(&ev[i], i ? "ck-b" : "ck-a", "spend.recorded", spend_body(i + 1));
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
