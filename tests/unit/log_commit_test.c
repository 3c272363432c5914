/* log_commit_test.c - the log writer's commit path on real LMDB files:
 * a group that opens its transaction with the first batch and writes the
 * others as they come, the expected group size and its deadline, a redo
 * (retried id, full map) inside such a group, and the data file filled
 * with zeros ahead of LMDB and never past the map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "log.h"
#include "mdbfill.h"

#define WAIT_US CRM_LOG_GROUP_WAIT_MAX /* group_wait_us of these logs: 1 s */

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- acknowledgements --------------------------------------------------- */

typedef struct ticket {
    atomic_int done;
    int64_t at_ms; /* when done ran */
} ticket;

static void
on_done(crm_batch *b, void *arg)
{
    ticket *t = arg;
    (void)b;
    t->at_ms = now_ms();
    atomic_store(&t->done, 1);
}

static void
wait_ticket(ticket *t)
{
    for (int i = 0; i < 20000 && !atomic_load(&t->done); i++)
        usleep(500);
    assert_true(atomic_load(&t->done));
}

/* --- holding the writer after a commit ---------------------------------- */

typedef struct hold {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int armed, held, release;
} hold;

static hold H = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};

/* on_commit: once armed, keeps the writer inside the callback of its next
 * commit (before that group is acknowledged) until released. */
static void
on_commit(void *arg, crm_log *log, uint64_t head)
{
    hold *h = arg;
    (void)log, (void)head;
    pthread_mutex_lock(&h->mu);
    if (h->armed) {
        h->armed = 0;
        h->held = 1;
        pthread_cond_broadcast(&h->cv);
        while (!h->release)
            pthread_cond_wait(&h->cv, &h->mu);
        h->held = h->release = 0;
    }
    pthread_mutex_unlock(&h->mu);
}

static void
wait_held(hold *h)
{
    pthread_mutex_lock(&h->mu);
    while (!h->held)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

static void
release(hold *h)
{
    pthread_mutex_lock(&h->mu);
    h->release = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* --- helpers ------------------------------------------------------------ */

static crm_log *
open_log(const char *dir, size_t map_size)
{
    crm_log_opts o = {.map_size = map_size,
                      .group_wait_us = WAIT_US,
                      .on_commit = on_commit,
                      .on_commit_arg = &H};
    crm_log *log;
    crm_error why;
    if (crm_log_open(dir, "acme-hotels", &o, &log, &why) != CRM_OK)
        fail_msg("open: %s", why.msg);
    return log;
}

static crm_batch *
spend(const char *stream, int64_t amount, const crm_expect *x, size_t nx)
{
    crm_event_in ev;
    crm_batch *b;
    crm_error why;
    fx_event(&ev, stream, "spend.recorded",
             FX_BODY(FX_I("amount", amount), FX_S("currency", "EUR"),
                     FX_S("category", "spa")));
    if (crm_batch_prepare(&ev, 1, x, nx, "key-1", 5, &b, &why) != CRM_OK)
        fail_msg("prepare: %s", why.msg);
    return b;
}

static void
submit(crm_log *log, crm_batch *b, ticket *t)
{
    atomic_store(&t->done, 0);
    assert_int_equal(crm_log_submit(log, b, on_done, t), CRM_OK);
}

static crm_log_stats
stats(crm_log *log)
{
    crm_log_stats st;
    crm_log_stats_get(log, &st);
    return st;
}

/* Makes the writer expect groups of n (at most 8): while it is held after
 * one commit, n batches queue, and the next group takes all of them. */
static void
expect_n(crm_log *log, int n)
{
    crm_log_stats st0 = stats(log);
    ticket tx, t[8];
    crm_batch *x = spend("warm-up", 1, NULL, 0), *b[8];
    H.armed = 1;
    submit(log, x, &tx);
    wait_held(&H);
    for (int i = 0; i < n; i++) {
        char s[24];
        snprintf(s, sizeof(s), "group-%d", i);
        b[i] = spend(s, 10 + i, NULL, 0);
        submit(log, b[i], &t[i]);
    }
    release(&H);
    wait_ticket(&tx);
    for (int i = 0; i < n; i++) {
        wait_ticket(&t[i]);
        assert_int_equal(crm_batch_result(b[i], NULL), CRM_OK);
        crm_batch_free(b[i]);
    }
    crm_batch_free(x);
    crm_log_stats st = stats(log);
    assert_int_equal(st.commits - st0.commits, 2);
    assert_int_equal(st.batches - st0.batches, (uint64_t)n + 1);
    fx_reset();
}

/* A command's check runs in the write transaction before the batch's
 * first put. Two "redemptions" of one guest queued into the same group
 * each allow themselves only while the guest has at most one event: the
 * first passes, the second sees the first's write in the same
 * transaction and is refused with the check's error, writing nothing,
 * while a third batch of the group is written. */
typedef struct redeem {
    const char *guest;
    int calls;
} redeem;

static crm_err
at_most_one(void *arg, const crm_log_view *view, const crm_batch *b,
            crm_error *why)
{
    uint64_t version;
    redeem *r = arg;
    r->calls++;
    crm_err err = crm_log_view_stream(view, r->guest, strlen(r->guest),
                                      &version);
    if (err == CRM_ERR_NOT_FOUND)
        return crm_error_set(why, CRM_ERR_NOT_FOUND, "no such guest");
    assert_int_equal(err, CRM_OK);
    assert_non_null(crm_log_view_txn(view));
    if (version >= 1)
        return crm_error_set(why, CRM_ERR_CONFLICT,
                             "guest is at version %llu",
                             (unsigned long long)version);
    return CRM_OK;
}

static void
test_check_phase_refuses_inside_the_group(void **state)
{
    (void)state;
    char dir[512];
    fx_tmpdir(dir, sizeof(dir), "check");
    crm_log *log = open_log(dir, 0);
    crm_error why;
    crm_batch *first = spend("redeemer", 1, NULL, 0);
    assert_int_equal(crm_log_append(log, first, &why), CRM_OK);
    crm_batch_free(first);

    /* no guest yet: the check refuses and the stream stays absent */
    redeem rg = {"ghost", 0}, rr = {"redeemer", 0};
    crm_batch *ghost = spend("ghost", 1, NULL, 0);
    crm_batch_set_check(ghost, at_most_one, &rg);
    assert_int_equal(crm_log_append(log, ghost, &why), CRM_ERR_NOT_FOUND);
    assert_int_equal(rg.calls, 1);
    crm_batch_free(ghost);

    crm_log_stats st0 = stats(log);
    ticket tx, t[3];
    crm_batch *x = spend("warm-up", 1, NULL, 0), *b[3];
    H.armed = 1;
    submit(log, x, &tx);
    wait_held(&H); /* the next three queue up and share one group */
    b[0] = spend("redeemer", -100, NULL, 0);
    b[1] = spend("redeemer", -200, NULL, 0);
    b[2] = spend("bystander", 5, NULL, 0);
    crm_batch_set_check(b[0], at_most_one, &rr);
    crm_batch_set_check(b[1], at_most_one, &rr);
    for (int i = 0; i < 3; i++)
        submit(log, b[i], &t[i]);
    release(&H);
    wait_ticket(&tx);
    for (int i = 0; i < 3; i++)
        wait_ticket(&t[i]);
    crm_log_stats st = stats(log);
    assert_int_equal(st.commits - st0.commits, 2);
    assert_int_equal(crm_batch_result(b[0], NULL), CRM_OK);
    assert_int_equal(crm_batch_result(b[1], &why), CRM_ERR_CONFLICT);
    assert_non_null(strstr(why.msg, "version 1"));
    assert_int_equal(crm_batch_result(b[2], NULL), CRM_OK);
    assert_int_equal(rr.calls, 2);
    /* the refused batch wrote nothing: three events went in, dense */
    assert_int_equal(st.position - st0.position, 3);
    assert_int_equal(crm_batch_position(b[2], 0), crm_batch_position(b[0], 0) + 1);
    uint64_t version, pos;
    assert_int_equal(crm_log_stream_info(log, "redeemer", 8, &version, &pos),
                     CRM_OK);
    assert_int_equal(version, 1);
    assert_int_equal(crm_log_stream_info(log, "ghost", 5, &version, &pos),
                     CRM_ERR_NOT_FOUND);

    for (int i = 0; i < 3; i++)
        crm_batch_free(b[i]);
    crm_batch_free(x);
    assert_int_equal(crm_log_verify(log, NULL, NULL), CRM_OK);
    crm_log_close(log);
    fx_reset();
    fx_rmrf(dir);
}

/* --- tests -------------------------------------------------------------- */

/* Expecting four, the writer opens the group with the first batch, holds
 * it while the others come (here 50 ms later) and commits the four
 * together as soon as they are in, well before the deadline. Alone, a
 * batch waits for the deadline once; then the expectation is one, and
 * nobody waits. */
static void
test_group_takes_arrivals(void **state)
{
    (void)state;
    char dir[512];
    fx_tmpdir(dir, sizeof(dir), "arrivals");
    crm_log *log = open_log(dir, 0);
    expect_n(log, 4);

    crm_log_stats st0 = stats(log);
    ticket t[4];
    crm_batch *b[4];
    int64_t t0 = now_ms();
    b[0] = spend("late-0", 1, NULL, 0);
    submit(log, b[0], &t[0]);
    usleep(50000);
    assert_false(atomic_load(&t[0].done)); /* held for the others */
    int64_t t_rest = now_ms();
    for (int i = 1; i < 4; i++) {
        char s[24];
        snprintf(s, sizeof(s), "late-%d", i);
        b[i] = spend(s, 1 + i, NULL, 0);
        submit(log, b[i], &t[i]);
    }
    for (int i = 0; i < 4; i++)
        wait_ticket(&t[i]);
    crm_log_stats st = stats(log);
    assert_int_equal(st.commits - st0.commits, 1);
    assert_int_equal(st.batches - st0.batches, 4);
    assert_int_equal(st.events - st0.events, 4);
    assert_true(t[0].at_ms >= t_rest);
    assert_true(t[0].at_ms - t0 < WAIT_US / 1000 / 2); /* not the deadline */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(crm_batch_result(b[i], NULL), CRM_OK);
        /* in submission order, one after the other */
        assert_int_equal(crm_batch_position(b[i], 0), st0.position + 1 + i);
        crm_batch_free(b[i]);
    }

    /* one batch where four are expected: committed at the deadline */
    ticket ta, tb;
    crm_batch *a = spend("alone", 1, NULL, 0);
    t0 = now_ms();
    submit(log, a, &ta);
    wait_ticket(&ta);
    assert_int_equal(crm_batch_result(a, NULL), CRM_OK);
    assert_true(ta.at_ms - t0 >= WAIT_US / 1000 / 3);
    /* and the expectation is now one: no wait */
    crm_batch *c = spend("alone", 2, NULL, 0);
    t0 = now_ms();
    submit(log, c, &tb);
    wait_ticket(&tb);
    assert_int_equal(crm_batch_result(c, NULL), CRM_OK);
    assert_true(tb.at_ms - t0 < WAIT_US / 1000 / 3);
    crm_batch_free(a);
    crm_batch_free(c);

    assert_int_equal(crm_log_verify(log, NULL, NULL), CRM_OK);
    crm_log_close(log);
    fx_reset();
    fx_rmrf(dir);
}

/* Batches that come into an open group, each answered on its own, with
 * only the first written:
 *   b[1] retries b[0] with its expectation (no_stream): the expectation
 *        fails, the ids are looked up, and b[1] is b[0]'s duplicate;
 *   b[2] expects a version of a stream that does not exist: conflict;
 *   b[3] reuses b[0]'s id with other content: its put meets the id in
 *        the same transaction, the group is redone with b[3] looked up
 *        first, and b[3] is a conflict;
 *   b[4] retries b[0] without an expectation: its put meets the id too,
 *        the group is redone a second time, and b[4] is a duplicate. */
static void
test_arrivals_checked_one_by_one(void **state)
{
    (void)state;
    char dir[512];
    fx_tmpdir(dir, sizeof(dir), "arrivals-checks");
    crm_log *log = open_log(dir, 0);
    expect_n(log, 5);
    crm_log_stats st0 = stats(log);

    crm_event_in ev;
    crm_error why;
    crm_expect fresh = {"k-1", 3, CRM_EXPECT_NO_STREAM};
    fx_event(&ev, "k-1", "spend.recorded",
             FX_BODY(FX_I("amount", 120), FX_S("currency", "EUR"),
                     FX_S("category", "spa")));
    crm_batch *b[5];
    ticket t[5];
    assert_int_equal(
        crm_batch_prepare(&ev, 1, &fresh, 1, "key-1", 5, &b[0], &why), CRM_OK);
    submit(log, b[0], &t[0]);
    usleep(20000);
    assert_int_equal(
        crm_batch_prepare(&ev, 1, &fresh, 1, "key-1", 5, &b[1], &why), CRM_OK);
    crm_expect five = {"m-1", 3, 5};
    b[2] = spend("m-1", 7, &five, 1);
    crm_event_in other = ev;
    other.body = FX_BODY(FX_I("amount", 999), FX_S("currency", "EUR"),
                         FX_S("category", "spa"));
    assert_int_equal(
        crm_batch_prepare(&other, 1, NULL, 0, "key-1", 5, &b[3], &why), CRM_OK);
    assert_int_equal(
        crm_batch_prepare(&ev, 1, NULL, 0, "key-1", 5, &b[4], &why), CRM_OK);
    for (int i = 1; i < 5; i++)
        submit(log, b[i], &t[i]);
    for (int i = 0; i < 5; i++)
        wait_ticket(&t[i]);

    assert_int_equal(crm_batch_result(b[0], NULL), CRM_OK);
    uint64_t p = crm_batch_position(b[0], 0);
    assert_int_equal(p, st0.position + 1);
    assert_false(crm_batch_is_duplicate(b[0], 0));
    for (int i = 1; i < 5; i += 3) {
        assert_int_equal(crm_batch_result(b[i], NULL), CRM_OK);
        assert_true(crm_batch_is_duplicate(b[i], 0));
        assert_int_equal(crm_batch_position(b[i], 0), p);
        assert_int_equal(crm_batch_version(b[i], 0), 0);
    }
    assert_int_equal(crm_batch_result(b[2], &why), CRM_ERR_CONFLICT);
    assert_non_null(strstr(why.msg, "m-1"));
    assert_int_equal(crm_batch_result(b[3], &why), CRM_ERR_CONFLICT);
    assert_non_null(strstr(why.msg, "different event"));

    crm_log_stats st = stats(log);
    assert_int_equal(st.commits - st0.commits, 1);
    assert_int_equal(st.batches - st0.batches, 5);
    assert_int_equal(st.position, st0.position + 1);
    assert_int_equal(st.duplicates - st0.duplicates, 2);
    assert_int_equal(st.conflicts - st0.conflicts, 2);
    uint64_t v, pos;
    assert_int_equal(crm_log_stream_info(log, "m-1", 3, &v, &pos),
                     CRM_ERR_NOT_FOUND);
    assert_int_equal(crm_log_stream_info(log, "k-1", 3, &v, &pos), CRM_OK);
    assert_int_equal(v, 0);
    assert_int_equal(pos, p);
    for (int i = 0; i < 5; i++)
        crm_batch_free(b[i]);
    assert_int_equal(crm_log_verify(log, NULL, NULL), CRM_OK);
    crm_log_close(log);
    fx_reset();
    fx_rmrf(dir);
}

static crm_batch *
complaints(const char *stream, int n)
{
    static char text[1001];
    memset(text, 'x', 1000);
    crm_event_in ev[100];
    crm_batch *b;
    crm_error why;
    for (int i = 0; i < n; i++)
        fx_event(&ev[i], stream, "complaint.opened",
                 FX_BODY(FX_S("complaint_id", "c"), FX_S("category", "noise"),
                         FX_S("description", text)));
    if (crm_batch_prepare(ev, (size_t)n, NULL, 0, "key-1", 5, &b, &why) !=
        CRM_OK)
        fail_msg("prepare: %s", why.msg);
    return b;
}

/* The arrivals overflow the map: the group is redone, whole, in a larger
 * one, and every batch of it is written once. */
static void
test_arrivals_fill_the_map(void **state)
{
    (void)state;
    char dir[512];
    fx_tmpdir(dir, sizeof(dir), "arrivals-full");
    crm_log *log = open_log(dir, 256 * 1024);
    expect_n(log, 4);
    crm_log_stats st0 = stats(log);

    crm_batch *b[4];
    ticket t[4];
    b[0] = spend("small", 5, NULL, 0);
    submit(log, b[0], &t[0]);
    usleep(20000);
    for (int i = 1; i < 4; i++) {
        char s[24];
        snprintf(s, sizeof(s), "big-%d", i);
        b[i] = complaints(s, 100); /* ~100 kB each */
        submit(log, b[i], &t[i]);
    }
    for (int i = 0; i < 4; i++) {
        wait_ticket(&t[i]);
        assert_int_equal(crm_batch_result(b[i], NULL), CRM_OK);
    }
    crm_log_stats st = stats(log);
    assert_int_equal(st.commits - st0.commits, 1);
    assert_int_equal(st.position, st0.position + 301);
    assert_true(st.map_grows > st0.map_grows);
    assert_int_equal(crm_batch_position(b[0], 0), st0.position + 1);
    assert_int_equal(crm_batch_position(b[3], 99), st0.position + 301);
    for (int i = 0; i < 4; i++)
        crm_batch_free(b[i]);
    assert_int_equal(crm_log_verify(log, NULL, NULL), CRM_OK);
    crm_log_close(log);
    fx_reset();
    fx_rmrf(dir);
}

/* Size of the data file, and whether every byte from `from` to its end
 * is zero. */
static off_t
data_file(const char *dir, uint64_t from, int *zeros)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    long long size = fx_file_tail_zero(path, (long long)from, zeros);
    assert_true(size >= 0);
    return (off_t)size;
}

/* The file runs ahead of the pages LMDB uses, with zeros, so that a
 * commit overwrites blocks instead of growing the file; it never runs
 * past the map, and reopening does not write it again. */
static void
test_file_filled_ahead(void **state)
{
    (void)state;
    char dir[512];
    fx_tmpdir(dir, sizeof(dir), "fill");
    crm_log *log = open_log(dir, 256 * 1024);
    int zeros;
    /* opening writes no zeros: a log only read needs none */
    crm_log_stats st0 = stats(log);
    assert_true((uint64_t)data_file(dir, 0, &zeros) <= st0.map_used + 8192);
    for (int round = 0; round < 30; round++) {
        crm_batch *b = complaints("grow", 20);
        assert_int_equal(crm_log_append(log, b, NULL), CRM_OK);
        crm_batch_free(b);
        fx_reset();
        /* the writer fills after it acknowledges: give it a moment */
        off_t size = 0;
        crm_log_stats st;
        for (int i = 0; i < 400; i++) {
            size = data_file(dir, 0, &zeros); /* before the map is read */
            st = stats(log);
            uint64_t want = st.map_used + crm_mdbfill_chunk(st.map_used) / 2;
            if ((uint64_t)size >= (want < st.map_size ? want : st.map_size))
                break;
            usleep(5000);
        }
        uint64_t want = st.map_used + crm_mdbfill_chunk(st.map_used) / 2;
        assert_true((uint64_t)size >=
                    (want < st.map_size ? want : st.map_size));
        assert_true((uint64_t)size <= st.map_size);
        data_file(dir, st.map_used, &zeros);
        assert_true(zeros);
    }
    crm_log_stats st = stats(log);
    assert_true(st.map_grows > 0);
    off_t before = data_file(dir, st.map_used, &zeros);
    crm_log_close(log);

    log = open_log(dir, 256 * 1024);
    st = stats(log);
    assert_int_equal(st.position, 600);
    assert_int_equal(data_file(dir, st.map_used, &zeros), before);
    assert_true(zeros);
    assert_int_equal(crm_log_verify(log, NULL, NULL), CRM_OK);
    crm_log_close(log);
    fx_rmrf(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_takes_arrivals),
        cmocka_unit_test(test_arrivals_checked_one_by_one),
        cmocka_unit_test(test_arrivals_fill_the_map),
        cmocka_unit_test(test_file_filled_ahead),
        cmocka_unit_test(test_check_phase_refuses_inside_the_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
