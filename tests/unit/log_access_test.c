/* log_access_test.c - the access log of a tenant's environment (log.h):
 * entries queued and written by the flusher, listed by guest, by key
 * and by time, paged from a (time, seq) cursor, kept over a close and
 * reopen (a close writes what is queued), pruned oldest first in
 * batches with their index keys; the index by guest and key written in
 * passes, a listing merging what a pass has indexed with what waits for
 * the next one, in (time, seq) order and across a cursor; an index of
 * the earlier layout rebuilt at open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <lmdb.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "fixture.h"
#include "log.h"
#include "ops.h"

#define DAY_US (86400LL * 1000000)
#define T0 (1700000000LL * 1000000) /* 2023-11-14 */

static crm_access
entry(int64_t t, const char *key, crm_role role, const char *op,
      const char *guest)
{
    crm_access a = {.time = t, .role = (uint8_t)role};
    a.key_len = (uint8_t)strlen(key);
    memcpy(a.key, key, a.key_len);
    a.op_len = (uint8_t)strlen(op);
    memcpy(a.op, op, a.op_len);
    a.guest_len = (uint8_t)strlen(guest);
    memcpy(a.guest, guest, a.guest_len);
    return a;
}

typedef struct got {
    crm_access e[64];
    size_t n;
} got;

static int
collect(void *arg, const crm_access *a)
{
    got *g = arg;
    if (g->n == 64)
        return 1;
    g->e[g->n++] = *a;
    return 0;
}

static size_t
list(crm_log *log, const char *guest, const char *key, int64_t from,
     uint64_t seq, int64_t to, got *g)
{
    crm_access_query q = {.guest = guest,
                          .guest_len = guest ? strlen(guest) : 0,
                          .key = key,
                          .key_len = key ? strlen(key) : 0,
                          .from = from,
                          .from_seq = seq,
                          .to = to};
    crm_error why;
    g->n = 0;
    assert_int_equal(crm_log_access_list(log, &q, collect, g, &why), CRM_OK);
    return g->n;
}

/* Ten days of reads: day d, guest g-(d % 3), key k-(d % 2). */
static void
note_days(crm_log *log)
{
    for (int d = 0; d < 10; d++) {
        char guest[8], key[8];
        snprintf(guest, sizeof(guest), "g-%d", d % 3);
        snprintf(key, sizeof(key), "k-%d", d % 2);
        crm_access a = entry(T0 + d * DAY_US, key,
                             d % 2 ? CRM_ROLE_AGENT : CRM_ROLE_ADMIN,
                             "customer.get", guest);
        crm_log_access_note(log, &a);
    }
}

static void
test_list_and_index(void **state)
{
    (void)state;
    crm_log *log = fx_log_open("access-list", "t1", NULL, 0);
    crm_error why;
    assert_true(crm_log_access_on(log));
    note_days(log);
    assert_int_equal(crm_log_access_flush(log, &why), CRM_OK);
    got g;
    assert_int_equal(list(log, NULL, NULL, 0, 0, 0, &g), 10);
    for (size_t i = 1; i < g.n; i++)
        assert_true(g.e[i].time > g.e[i - 1].time);
    /* g-1: days 1, 4, 7 */
    assert_int_equal(list(log, "g-1", NULL, 0, 0, 0, &g), 3);
    assert_int_equal(g.e[0].time, T0 + DAY_US);
    assert_int_equal(g.e[2].time, T0 + 7 * DAY_US);
    assert_int_equal(g.e[0].role, CRM_ROLE_AGENT);
    assert_memory_equal(g.e[0].key, "k-1", 3);
    assert_memory_equal(g.e[0].op, "customer.get", 12);
    /* no guest's prefix swallows another's: g-1 is not g-10 */
    crm_access a = entry(T0, "k-0", CRM_ROLE_ADMIN, "read.stream", "g-10");
    crm_log_access_note(log, &a);
    assert_int_equal(crm_log_access_flush(log, &why), CRM_OK);
    assert_int_equal(list(log, "g-1", NULL, 0, 0, 0, &g), 3);
    assert_int_equal(list(log, "g-10", NULL, 0, 0, 0, &g), 1);
    /* k-0: days 0, 2, 4, 6, 8 and the one above */
    assert_int_equal(list(log, NULL, "k-0", 0, 0, 0, &g), 6);
    /* a range of time, both ends included */
    assert_int_equal(list(log, NULL, "k-0", T0 + 2 * DAY_US, 0,
                          T0 + 6 * DAY_US, &g),
                     3);
    /* from a cursor: the (time, seq) of an entry on */
    assert_int_equal(list(log, "g-1", NULL, 0, 0, 0, &g), 3);
    got h;
    assert_int_equal(list(log, "g-1", NULL, g.e[1].time, g.e[1].seq, 0, &h),
                     2);
    assert_int_equal(h.e[0].seq, g.e[1].seq);
    assert_int_equal(list(log, "nobody", NULL, 0, 0, 0, &g), 0);
    crm_log_close(log);
    fx_reset();
}

/* What is queued at close is written; seqs go on after a reopen, so
 * entries of one microsecond stay apart. */
static void
test_close_writes_queue(void **state)
{
    (void)state;
    char dir[512];
    fx_tmpdir(dir, sizeof(dir), "access-close");
    crm_error why;
    crm_log *log;
    crm_access a = entry(T0, "k-0", CRM_ROLE_ADMIN, "customer.get", "g-0");
    assert_int_equal(crm_log_open(dir, "t2", NULL, &log, &why), CRM_OK);
    for (int i = 0; i < 3; i++)
        crm_log_access_note(log, &a); /* no flush asked */
    crm_log_close(log);
    assert_int_equal(crm_log_open(dir, "t2", NULL, &log, &why), CRM_OK);
    got g;
    assert_int_equal(list(log, "g-0", NULL, 0, 0, 0, &g), 3);
    for (int i = 0; i < 2; i++)
        crm_log_access_note(log, &a);
    assert_int_equal(crm_log_access_flush(log, &why), CRM_OK);
    assert_int_equal(list(log, "g-0", NULL, 0, 0, 0, &g), 5);
    for (size_t i = 1; i < g.n; i++)
        assert_true(g.e[i].seq > g.e[i - 1].seq);
    crm_log_close(log);
}

static void
test_prune(void **state)
{
    (void)state;
    crm_log *log = fx_log_open("access-prune", "t3", NULL, 0);
    crm_error why;
    note_days(log);
    assert_int_equal(crm_log_access_flush(log, &why), CRM_OK);
    size_t n;
    /* in batches: the oldest two, then the next two */
    assert_int_equal(
        crm_log_access_prune(log, T0 + 5 * DAY_US, 2, &n, &why), CRM_OK);
    assert_int_equal(n, 2);
    got g;
    assert_int_equal(list(log, NULL, NULL, 0, 0, 0, &g), 8);
    assert_int_equal(g.e[0].time, T0 + 2 * DAY_US);
    assert_int_equal(
        crm_log_access_prune(log, T0 + 5 * DAY_US, 0, &n, &why), CRM_OK);
    assert_int_equal(n, 3);
    /* the indexes lost them too: g-1 keeps day 7, k-0 days 6 and 8 */
    assert_int_equal(list(log, "g-1", NULL, 0, 0, 0, &g), 1);
    assert_int_equal(g.e[0].time, T0 + 7 * DAY_US);
    assert_int_equal(list(log, NULL, "k-0", 0, 0, 0, &g), 2);
    assert_int_equal(
        crm_log_access_prune(log, T0 + 5 * DAY_US, 0, &n, &why), CRM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(list(log, NULL, NULL, 0, 0, 0, &g), 5);
    crm_log_close(log);
    fx_reset();
}

/* The flusher prunes by the retention of the opts on its own. */
static void
test_retention(void **state)
{
    (void)state;
    char dir[512];
    fx_tmpdir(dir, sizeof(dir), "access-keep");
    crm_log_opts o = {.access_keep_days = 30};
    crm_log *log;
    crm_error why;
    assert_int_equal(crm_log_open(dir, "t4", &o, &log, &why), CRM_OK);
    note_days(log); /* 2023: long past 30 days */
    crm_access a = entry(crm_query_now_us(), "k-9", CRM_ROLE_ADMIN,
                         "customer.get", "g-now");
    crm_log_access_note(log, &a);
    assert_int_equal(crm_log_access_flush(log, &why), CRM_OK);
    got g;
    /* the flush that wrote them pruned the old ones in its transaction */
    assert_int_equal(list(log, NULL, NULL, 0, 0, 0, &g), 1);
    assert_memory_equal(g.e[0].guest, "g-now", 5);
    assert_int_equal(list(log, "g-1", NULL, 0, 0, 0, &g), 0);
    crm_log_close(log);
    /* off: nothing is kept, what is stored still lists */
    o = (crm_log_opts){.access_off = 1};
    assert_int_equal(crm_log_open(dir, "t4", &o, &log, &why), CRM_OK);
    assert_false(crm_log_access_on(log));
    crm_log_access_note(log, &a);
    assert_int_equal(crm_log_access_flush(log, &why), CRM_OK);
    assert_int_equal(list(log, NULL, NULL, 0, 0, 0, &g), 1);
    crm_log_close(log);
}

/* Entries indexed by a pass and entries still waiting for one, listed
 * together by guest and by key in (time, seq) order. */
static void
test_index_pass_and_tail(void **state)
{
    (void)state;
    crm_log *log = fx_log_open("access-pass", "t5", NULL, 0);
    crm_error why;
    note_days(log);
    assert_int_equal(crm_log_access_flush(log, &why), CRM_OK);
    got before, g, h;
    assert_int_equal(list(log, "g-1", NULL, 0, 0, 0, &before), 3);
    assert_int_equal(crm_log_access_index(log, &why), CRM_OK);
    assert_int_equal(list(log, "g-1", NULL, 0, 0, 0, &g), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(g.e[i].seq, before.e[i].seq);
        assert_int_equal(g.e[i].time, before.e[i].time);
    }
    /* later seqs at times between the indexed ones: days 0.5, 4.5, 9.5 */
    for (int d = 0; d < 10; d += 4) {
        crm_access a = entry(T0 + d * DAY_US + DAY_US / 2, "k-7",
                             CRM_ROLE_AGENT, "customer.get", "g-1");
        crm_log_access_note(log, &a);
    }
    assert_int_equal(crm_log_access_flush(log, &why), CRM_OK);
    assert_int_equal(list(log, "g-1", NULL, 0, 0, 0, &g), 6);
    const int64_t want[6] = {T0 + DAY_US / 2,     T0 + DAY_US,
                             T0 + 4 * DAY_US,     T0 + 9 * DAY_US / 2,
                             T0 + 7 * DAY_US,     T0 + 17 * DAY_US / 2};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(g.e[i].time, want[i]);
    /* a cursor on a waiting entry, then on an indexed one */
    assert_int_equal(list(log, "g-1", NULL, g.e[3].time, g.e[3].seq, 0, &h),
                     3);
    assert_int_equal(h.e[0].seq, g.e[3].seq);
    assert_int_equal(h.e[1].time, T0 + 7 * DAY_US);
    assert_int_equal(list(log, "g-1", NULL, g.e[1].time, g.e[1].seq, 0, &h),
                     5);
    /* a range of time that ends inside a day */
    assert_int_equal(list(log, "g-1", NULL, T0 + DAY_US, 0,
                          T0 + 4 * DAY_US + 1, &h),
                     2);
    /* by key: k-7 waits whole, k-1 is indexed whole */
    assert_int_equal(list(log, NULL, "k-7", 0, 0, 0, &h), 3);
    assert_int_equal(list(log, NULL, "k-1", 0, 0, 0, &h), 5);
    /* a pass later: the same answers */
    assert_int_equal(crm_log_access_index(log, &why), CRM_OK);
    assert_int_equal(list(log, "g-1", NULL, 0, 0, 0, &h), 6);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(h.e[i].seq, g.e[i].seq);
    assert_int_equal(list(log, NULL, "k-7", 0, 0, 0, &h), 3);
    /* pruned: gone from the index and from what waits alike */
    crm_access a = entry(T0 + 3 * DAY_US, "k-7", CRM_ROLE_AGENT,
                         "customer.get", "g-1");
    crm_log_access_note(log, &a);
    assert_int_equal(crm_log_access_flush(log, &why), CRM_OK);
    size_t n;
    assert_int_equal(
        crm_log_access_prune(log, T0 + 5 * DAY_US, 0, &n, &why), CRM_OK);
    assert_int_equal(list(log, "g-1", NULL, 0, 0, 0, &h), 2);
    assert_int_equal(crm_log_access_index(log, &why), CRM_OK);
    assert_int_equal(list(log, "g-1", NULL, 0, 0, 0, &h), 2);
    assert_int_equal(h.e[0].time, T0 + 7 * DAY_US);
    crm_log_close(log);
    fx_reset();
}

/* A data directory whose index has the earlier layout (no "access_ix"
 * in meta): the index is rebuilt at open, each entry listed once. */
static void
test_upgrade(void **state)
{
    (void)state;
    char dir[512];
    fx_tmpdir(dir, sizeof(dir), "access-upgrade");
    crm_error why;
    crm_log *log;
    assert_int_equal(crm_log_open(dir, "t6", NULL, &log, &why), CRM_OK);
    note_days(log);
    assert_int_equal(crm_log_access_index(log, &why), CRM_OK);
    crm_log_close(log);
    /* as format 1 left it: no layout in meta, keys of the old shape */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta, ix, fresh;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 64), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    assert_int_equal(mdb_dbi_open(txn, "access_ix", 0, &ix), 0);
    assert_int_equal(mdb_dbi_open(txn, "access_new", 0, &fresh), 0);
    MDB_val mk = {9, "access_ix"}, e = {0, ""};
    assert_int_equal(mdb_del(txn, meta, &mk, NULL), 0);
    assert_int_equal(mdb_drop(txn, ix, 0), 0);
    uint8_t old[2 + 3 + 16] = {'g', 3, 'g', '-', '1'};
    MDB_val ok = {sizeof(old), old};
    assert_int_equal(mdb_put(txn, ix, &ok, &e, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_int_equal(crm_log_open(dir, "t6", NULL, &log, &why), CRM_OK);
    got g;
    assert_int_equal(list(log, "g-1", NULL, 0, 0, 0, &g), 3);
    assert_int_equal(list(log, NULL, "k-0", 0, 0, 0, &g), 5);
    assert_int_equal(crm_log_access_index(log, &why), CRM_OK);
    assert_int_equal(list(log, "g-1", NULL, 0, 0, 0, &g), 3);
    assert_int_equal(g.e[2].time, T0 + 7 * DAY_US);
    crm_log_close(log);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_and_index),
        cmocka_unit_test(test_close_writes_queue),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_index_pass_and_tail),
        cmocka_unit_test(test_upgrade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
