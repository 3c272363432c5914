/* proj_test.c - the projection engine on real LMDB files, with the
 * event-count projection: the inline state equals a rebuild byte for byte
 * on a chain of 10,000 guests and 500,000 events, also while appends go
 * on and after a kill -9 in the middle of a rebuild; a projection whose
 * format changed is rebuilt on open, one that missed records (crmd ran
 * without it) catches up on open; positions are recorded in meta. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "counts.h"
#include "fixture.h"
#include "log.h"

#define GUESTS 10000
#define EVENTS 500000
#define BATCH 1000

static const char *const TYPES[] = {"interaction.logged", "spend.recorded",
                                    "web.product_viewed"};
static uint32_t expected[GUESTS][3]; /* what the counts must say */

static const crm_proj_def *const DEFS[] = {&crm_proj_counts};

static atomic_int progress_calls;
static int kill_after; /* the child kills itself at this progress call */

static void
on_progress(void *arg, const char *tenant, const char *name, uint64_t done,
            uint64_t total)
{
    (void)arg, (void)done, (void)total;
    assert_string_equal(tenant, "proj-hotels");
    if (strcmp(name, "(catching up)") != 0)
        assert_string_equal(name, "counts");
    int n = atomic_fetch_add(&progress_calls, 1) + 1;
    if (kill_after && n >= kill_after)
        raise(SIGKILL); /* kill -9 between two of its transactions */
}

static crm_log *
open_with(const char *dir, const crm_proj_def *const *defs, size_t n)
{
    crm_log_opts o = {.map_size = 256u << 20,
                      .projections = defs,
                      .nprojections = n,
                      .progress = on_progress};
    crm_log *log;
    crm_error why;
    if (crm_log_open(dir, "proj-hotels", &o, &log, &why) != CRM_OK)
        fail_msg("open: %s", why.msg);
    return log;
}

/* Appends events [from, to) of a deterministic spread over the guests. */
static void
append_range(crm_log *log, uint64_t from, uint64_t to)
{
    static crm_event_in ev[BATCH];
    static char sid[BATCH][16];
    for (uint64_t at = from; at < to;) {
        size_t n = 0;
        for (; n < BATCH && at < to; n++, at++) {
            uint64_t g = (at * 7919) % GUESTS;
            int t = (int)(at % 3);
            snprintf(sid[n], sizeof(sid[n]), "g-%05llu", (unsigned long long)g);
            if (t == 0)
                fx_event(&ev[n], sid[n], TYPES[0],
                         FX_BODY(FX_S("channel", "call"),
                                 FX_S("summary", "late check-out")));
            else if (t == 1)
                fx_event(&ev[n], sid[n], TYPES[1],
                         FX_BODY(FX_I("amount", 1200), FX_S("currency", "EUR"),
                                 FX_S("category", "spa")));
            else
                fx_event(&ev[n], sid[n], TYPES[2],
                         FX_BODY(FX_S("product", "suite")));
            expected[g][t]++;
        }
        crm_batch *b;
        crm_error why;
        if (crm_batch_prepare(ev, n, NULL, 0, "key-1", 5, &b, &why) != CRM_OK)
            fail_msg("prepare: %s", why.msg);
        if (crm_log_append(log, b, &why) != CRM_OK)
            fail_msg("append: %s", why.msg);
        crm_batch_free(b);
        fx_reset();
    }
}

static uint64_t
count_of(crm_log *log, uint64_t g, int t)
{
    char key[64];
    int n = snprintf(key, sizeof(key), "g-%05llu", (unsigned long long)g);
    size_t klen = (size_t)n + 1 + strlen(TYPES[t]);
    memcpy(key + n + 1, TYPES[t], strlen(TYPES[t]));
    key[n] = 0;
    uint8_t v[8];
    size_t len;
    crm_err err = crm_log_proj_get(log, "counts", 0, key, klen, v, 8, &len);
    if (err == CRM_ERR_NOT_FOUND)
        return 0;
    assert_int_equal(err, CRM_OK);
    assert_int_equal(len, 8);
    uint64_t c = 0;
    for (int i = 0; i < 8; i++)
        c = c << 8 | v[i];
    return c;
}

/* The counts the live projection serves agree with what was appended
 * (every 97th guest, every type), and it is at the head. */
static void
check_counts(crm_log *log)
{
    const crm_proj_set *ps = crm_log_projections(log);
    assert_non_null(ps);
    for (uint64_t g = 0; g < GUESTS; g += 97)
        for (int t = 0; t < 3; t++)
            assert_int_equal(count_of(log, g, t), expected[g][t]);
    uint64_t head;
    crm_log_head(log, &head, NULL);
    assert_int_equal(crm_proj_position(ps, 0), head);
}

static void
rebuild_identical(crm_log *log)
{
    crm_log_rebuilt r;
    size_t n;
    crm_error why;
    assert_int_equal(crm_log_rebuild(log, NULL, &r, &n, &why), CRM_OK);
    assert_int_equal(n, 1);
    if (!r.identical)
        fail_msg("rebuild differs: %s", r.diff);
    uint64_t head;
    crm_log_head(log, &head, NULL);
    assert_int_equal(r.position, head);
    assert_int_equal(r.events, head);
}

static void
test_inline_equals_rebuild(void **state)
{
    (void)state;
    char dir[512];
    fx_tmpdir(dir, sizeof(dir), "proj");
    memset(expected, 0, sizeof(expected));
    crm_log *log = open_with(dir, DEFS, 1);
    append_range(log, 0, EVENTS);
    check_counts(log);
    rebuild_identical(log);
    /* and again after more appends on the rebuilt generation */
    append_range(log, EVENTS, EVENTS + 5000);
    rebuild_identical(log);
    assert_int_equal(crm_log_verify(log, NULL, NULL), CRM_OK);
    crm_log_close(log);

    /* reopened: same format, nothing rebuilt, still identical */
    atomic_store(&progress_calls, 0);
    log = open_with(dir, DEFS, 1);
    assert_int_equal(atomic_load(&progress_calls), 0);
    check_counts(log);
    rebuild_identical(log);
    crm_log_close(log);
    fx_rmrf(dir);
}

/* Appends go on in another thread while the rebuild runs. */
typedef struct appender {
    crm_log *log;
    uint64_t from, to;
} appender;

static void *
append_main(void *arg)
{
    appender *a = arg;
    append_range(a->log, a->from, a->to);
    return NULL;
}

static void
test_rebuild_while_appending(void **state)
{
    (void)state;
    char dir[512];
    fx_tmpdir(dir, sizeof(dir), "projlive");
    memset(expected, 0, sizeof(expected));
    crm_log *log = open_with(dir, DEFS, 1);
    append_range(log, 0, 100000);
    appender a = {log, 100000, 160000};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, append_main, &a), 0);
    usleep(20000);
    crm_log_rebuilt r;
    size_t n;
    crm_error why;
    assert_int_equal(crm_log_rebuild(log, "counts", &r, &n, &why), CRM_OK);
    if (!r.identical)
        fail_msg("rebuild differs: %s", r.diff);
    pthread_join(th, NULL);
    rebuild_identical(log);
    assert_int_equal(crm_log_rebuild(log, "nonesuch", &r, &n, &why),
                     CRM_ERR_NOT_FOUND);
    crm_log_close(log);
    fx_rmrf(dir);
}

/* kill -9 in the middle of a rebuild: the live generation is as it was,
 * the log verifies, and the next rebuild is identical. */
static void
test_killed_rebuild(void **state)
{
    (void)state;
    char dir[512];
    fx_tmpdir(dir, sizeof(dir), "projkill");
    memset(expected, 0, sizeof(expected));
    crm_log *log = open_with(dir, DEFS, 1);
    append_range(log, 0, 120000);
    crm_log_close(log);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        kill_after = 3; /* begin, then two chunks of 20,000 */
        crm_log *cl = open_with(dir, DEFS, 1);
        crm_log_rebuilt r;
        size_t n;
        crm_log_rebuild(cl, NULL, &r, &n, NULL);
        _exit(0); /* not reached */
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    log = open_with(dir, DEFS, 1);
    assert_int_equal(crm_log_verify(log, NULL, NULL), CRM_OK);
    check_counts(log);
    rebuild_identical(log);
    crm_log_close(log);
    fx_rmrf(dir);
}

/* A projection whose format changed is rebuilt when the log opens, with
 * progress reported, before anything is served. */
static int
counts_v2_apply(const crm_proj_ctx *cx, const crm_record *r)
{
    return crm_proj_counts.apply(cx, r);
}

static const crm_proj_def counts_v2 = {
    .name = "counts",
    .format = 2,
    .ndbs = 1,
    .dbs = {"by_type"},
    .apply = counts_v2_apply,
};

static void
test_format_change_rebuilds_on_open(void **state)
{
    (void)state;
    char dir[512];
    fx_tmpdir(dir, sizeof(dir), "projfmt");
    memset(expected, 0, sizeof(expected));
    /* a log written before the projection existed */
    crm_log *log = open_with(dir, NULL, 0);
    append_range(log, 0, 50000);
    crm_log_close(log);

    atomic_store(&progress_calls, 0);
    log = open_with(dir, DEFS, 1);
    assert_true(atomic_load(&progress_calls) >= 2); /* built on open */
    assert_false(crm_proj_stale(crm_log_projections(log), 0));
    check_counts(log);
    rebuild_identical(log);
    crm_log_close(log);

    static const crm_proj_def *const v2[] = {&counts_v2};
    atomic_store(&progress_calls, 0);
    log = open_with(dir, v2, 1);
    assert_true(atomic_load(&progress_calls) >= 2);
    check_counts(log);
    append_range(log, 50000, 51000);
    rebuild_identical(log);
    crm_log_close(log);
    fx_rmrf(dir);
}

/* A log appended to while the projection was not configured: on the next
 * open it folds what it missed, serves the counts of the whole log, and
 * equals a rebuild. */
static void
test_catch_up_on_open(void **state)
{
    (void)state;
    char dir[512];
    fx_tmpdir(dir, sizeof(dir), "projcatch");
    memset(expected, 0, sizeof(expected));
    crm_log *log = open_with(dir, DEFS, 1);
    append_range(log, 0, 20000);
    crm_log_close(log);

    log = open_with(dir, NULL, 0);
    append_range(log, 20000, 230000); /* more than one transaction's worth */
    crm_log_close(log);

    atomic_store(&progress_calls, 0);
    log = open_with(dir, DEFS, 1);
    assert_true(atomic_load(&progress_calls) >= 2);
    assert_false(crm_proj_stale(crm_log_projections(log), 0));
    check_counts(log);
    append_range(log, 230000, 231000);
    check_counts(log);
    rebuild_identical(log);
    crm_log_close(log);

    /* and nothing to catch up on the next open */
    atomic_store(&progress_calls, 0);
    log = open_with(dir, DEFS, 1);
    assert_int_equal(atomic_load(&progress_calls), 0);
    check_counts(log);
    crm_log_close(log);
    fx_rmrf(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inline_equals_rebuild),
        cmocka_unit_test(test_rebuild_while_appending),
        cmocka_unit_test(test_killed_rebuild),
        cmocka_unit_test(test_format_change_rebuilds_on_open),
        cmocka_unit_test(test_catch_up_on_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
