/* batch_test.c - preparing append batches (batch.c): the limits, duplicate
 * ids, expected versions, bad events and the accessors. Every refused
 * prepare must leave *out NULL and free what it built (the ASan build
 * checks the second). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "fixture.h"
#include "log.h"

#define ACTOR "key-batch"

static int
teardown(void **state)
{
    (void)state;
    fx_reset();
    return 0;
}

static const msgpack_object *
spend_body(int64_t amount)
{
    return FX_BODY(FX_I("amount", amount), FX_S("currency", "EUR"),
                   FX_S("category", "spa"));
}

static const msgpack_object *
reg_body(const char *first)
{
    return FX_BODY(FX_S("first_name", first), FX_S("last_name", "Okafor"),
                   FX_S("email", "ada@example.com"), FX_S("language", "en"));
}

/* Not a real batch: only compared with, never dereferenced. */
static crm_batch *const not_set = (crm_batch *)&not_set;

/* Prepares and expects refusal with code and a message holding each of
 * the NULL-terminated substrings; *out must come back NULL. */
static void
expect_refused(const crm_event_in *ev, size_t n, const crm_expect *x, size_t nx,
               crm_err code, ...)
{
    crm_batch *b = not_set;
    crm_error why = {0};
    va_list ap;

    assert_int_equal(
        crm_batch_prepare(ev, n, x, nx, ACTOR, strlen(ACTOR), &b, &why), code);
    assert_null(b);
    assert_int_equal(why.code, code);
    assert_true(why.msg[0] != '\0');
    va_start(ap, code);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
        if (strstr(why.msg, s) == NULL)
            fail_msg("message '%s' lacks '%s'", why.msg, s);
    va_end(ap);
}

/* Prepares and expects success; the caller frees the batch. */
static crm_batch *
expect_ok(const crm_event_in *ev, size_t n, const crm_expect *x, size_t nx)
{
    crm_batch *b = not_set;
    crm_error why = {0};
    crm_err err =
        crm_batch_prepare(ev, n, x, nx, ACTOR, strlen(ACTOR), &b, &why);
    if (err != CRM_OK)
        fail_msg("prepare: %s", why.msg);
    assert_non_null(b);
    assert_true(b != not_set);
    assert_int_equal(crm_batch_count(b), n);
    return b;
}

static void
test_empty_batch(void **state)
{
    (void)state;
    crm_event_in ev[1];
    fx_event(&ev[0], "guest-1", "spend.recorded", spend_body(1));
    expect_refused(ev, 0, NULL, 0, CRM_ERR_EMPTY_BATCH, "no events", NULL);
    /* an expectation does not make an empty batch acceptable */
    crm_expect x = {"guest-1", 7, 0};
    expect_refused(ev, 0, &x, 1, CRM_ERR_EMPTY_BATCH, NULL);
}

static void
test_too_many_events(void **state)
{
    (void)state;
    static crm_event_in ev[CRM_BATCH_MAX + 1];
    const msgpack_object *body = spend_body(5);
    for (size_t i = 0; i < CRM_BATCH_MAX + 1; i++)
        fx_event(&ev[i], "guest-many", "spend.recorded", body);

    char limit[32];
    snprintf(limit, sizeof(limit), "%d", CRM_BATCH_MAX);
    expect_refused(ev, CRM_BATCH_MAX + 1, NULL, 0, CRM_ERR_TOO_LARGE, limit,
                   NULL);
    /* exactly the limit is fine */
    crm_batch *b = expect_ok(ev, CRM_BATCH_MAX, NULL, 0);
    crm_batch_free(b);
}

/* 50 KiB bodies: 80 of them stay under CRM_BATCH_BYTES, 100 do not. */
static void
test_too_many_bytes(void **state)
{
    (void)state;
    enum { BODY = 50 * 1024, MANY = 100, FEW = 80 };
    static char data[BODY + 1];
    static crm_event_in ev[MANY];
    memset(data, 'd', BODY);
    const msgpack_object *body = FX_BODY(FX_S("data", data));
    for (size_t i = 0; i < MANY; i++)
        fx_event(&ev[i], "guest-big", "x.blob", body);
    _Static_assert((size_t)FEW * (BODY + 200) < CRM_BATCH_BYTES, "FEW fits");
    _Static_assert((size_t)MANY * BODY > CRM_BATCH_BYTES, "MANY does not");

    char limit[32];
    snprintf(limit, sizeof(limit), "%u", CRM_BATCH_BYTES);
    expect_refused(ev, MANY, NULL, 0, CRM_ERR_TOO_LARGE, limit, NULL);
    crm_batch *b = expect_ok(ev, FEW, NULL, 0);
    crm_batch_free(b);
}

static void
test_duplicate_id(void **state)
{
    (void)state;
    crm_event_in ev[7];
    for (int i = 0; i < 7; i++)
        fx_event(&ev[i], i % 2 ? "guest-a" : "guest-b", "spend.recorded",
                 spend_body(i + 1));
    /* same id, other stream and content: still one id twice */
    memcpy(ev[5].id, ev[2].id, CRM_ID_LEN);
    expect_refused(ev, 7, NULL, 0, CRM_ERR_DUPLICATE_ID, "event 2", "event 5",
                   NULL);
    /* the first and the last event */
    fx_event(&ev[5], "guest-a", "spend.recorded", spend_body(50));
    memcpy(ev[6].id, ev[0].id, CRM_ID_LEN);
    expect_refused(ev, 7, NULL, 0, CRM_ERR_DUPLICATE_ID, "event 0", "event 6",
                   NULL);
    /* the very same event twice */
    crm_event_in twice[2] = {ev[1], ev[1]};
    expect_refused(twice, 2, NULL, 0, CRM_ERR_DUPLICATE_ID, "event 0",
                   "event 1", NULL);
}

static void
test_expect_unknown_stream(void **state)
{
    (void)state;
    crm_event_in ev[2];
    fx_event(&ev[0], "guest-1", "spend.recorded", spend_body(1));
    fx_event(&ev[1], "guest-2", "spend.recorded", spend_body(2));
    crm_expect x = {"guest-3", 7, 0};
    expect_refused(ev, 2, &x, 1, CRM_ERR_BAD_REQUEST, "no event in the batch",
                   NULL);
    /* a prefix of a stream of the batch is another stream */
    x = (crm_expect){"guest-", 6, CRM_EXPECT_ANY};
    expect_refused(ev, 2, &x, 1, CRM_ERR_BAD_REQUEST, "no event in the batch",
                   NULL);
    x = (crm_expect){"guest-10", 8, CRM_EXPECT_EXISTS};
    expect_refused(ev, 2, &x, 1, CRM_ERR_BAD_REQUEST, "no event in the batch",
                   NULL);
    /* one good expectation and one for a stranger */
    crm_expect two[2] = {{"guest-1", 7, 0}, {"guest-9", 7, 0}};
    expect_refused(ev, 2, two, 2, CRM_ERR_BAD_REQUEST, "no event in the batch",
                   NULL);
}

static void
test_expect_invalid_values(void **state)
{
    (void)state;
    crm_event_in ev[1];
    fx_event(&ev[0], "guest-1", "spend.recorded", spend_body(1));
    static const int64_t bad[] = {-3, -5, -6, -100, INT64_MIN};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        crm_expect x = {"guest-1", 7, bad[i]};
        char num[32];
        snprintf(num, sizeof(num), "%lld", (long long)bad[i]);
        expect_refused(ev, 1, &x, 1, CRM_ERR_BAD_REQUEST, "not valid", num,
                       NULL);
    }
    static const int64_t good[] = {
        CRM_EXPECT_ANY, CRM_EXPECT_NO_STREAM, CRM_EXPECT_EXISTS, 0, 1,
        INT64_MAX};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        crm_expect x = {"guest-1", 7, good[i]};
        crm_batch_free(expect_ok(ev, 1, &x, 1));
    }
}

static void
test_two_expectations_one_stream(void **state)
{
    (void)state;
    crm_event_in ev[3];
    fx_event(&ev[0], "guest-1", "spend.recorded", spend_body(1));
    fx_event(&ev[1], "guest-2", "spend.recorded", spend_body(2));
    fx_event(&ev[2], "guest-1", "spend.recorded", spend_body(3));
    static const int64_t pairs[][2] = {
        {3, 3},
        {3, 4},
        {0, CRM_EXPECT_NO_STREAM},
        {CRM_EXPECT_NO_STREAM, CRM_EXPECT_EXISTS},
        {5, CRM_EXPECT_ANY},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        crm_expect x[3] = {{"guest-1", 7, pairs[i][0]},
                           {"guest-2", 7, 0},
                           {"guest-1", 7, pairs[i][1]}};
        expect_refused(ev, 3, x, 3, CRM_ERR_BAD_REQUEST,
                       "two expected versions for one stream", NULL);
    }
}

/* "any" is a value like the others: a later exact expectation for the
 * same stream is a second expectation, not a refinement. */
static void
test_two_expectations_any_first(void **state)
{
    (void)state;
    crm_event_in ev[2];
    fx_event(&ev[0], "guest-1", "spend.recorded", spend_body(1));
    fx_event(&ev[1], "guest-2", "spend.recorded", spend_body(2));
    crm_expect x[2] = {{"guest-1", 7, CRM_EXPECT_ANY}, {"guest-1", 7, 4}};
    expect_refused(ev, 2, x, 2, CRM_ERR_BAD_REQUEST,
                   "two expected versions for one stream", NULL);
    x[1].version = CRM_EXPECT_NO_STREAM;
    expect_refused(ev, 2, x, 2, CRM_ERR_BAD_REQUEST,
                   "two expected versions for one stream", NULL);
}

/* batch.h allows at most one expectation per stream, "any" included. */
static void
test_two_expectations_both_any(void **state)
{
    (void)state;
    crm_event_in ev[1];
    fx_event(&ev[0], "guest-1", "spend.recorded", spend_body(1));
    crm_expect x[2] = {{"guest-1", 7, CRM_EXPECT_ANY},
                       {"guest-1", 7, CRM_EXPECT_ANY}};
    expect_refused(ev, 1, x, 2, CRM_ERR_BAD_REQUEST,
                   "two expected versions for one stream", NULL);
}

static void
test_bad_event_in_the_middle(void **state)
{
    (void)state;
    crm_event_in ev[5];
    for (int i = 0; i < 5; i++)
        fx_event(&ev[i], "guest-mid", "spend.recorded", spend_body(i + 1));

    fx_event(&ev[2], "guest-mid", "hotel.teleported", spend_body(3));
    expect_refused(ev, 5, NULL, 0, CRM_ERR_UNKNOWN_TYPE, "event 2", NULL);

    fx_event(&ev[2], "guest-mid", "spend.recorded", spend_body(3));
    fx_event(&ev[3], "guest-mid", "spend.recorded",
             FX_BODY(FX_I("amount", 5), FX_S("category", "spa")));
    expect_refused(ev, 5, NULL, 0, CRM_ERR_MISSING_FIELD, "event 3", "currency",
                   NULL);

    fx_event(&ev[3], "guest-mid", "customer.registered",
             FX_BODY(FX_S("last_name", "Okafor")));
    expect_refused(ev, 5, NULL, 0, CRM_ERR_MISSING_FIELD, "event 3",
                   "first_name", NULL);

    /* the last event, after a duplicate id that is never reached */
    fx_event(&ev[3], "guest-mid", "spend.recorded", spend_body(4));
    memcpy(ev[1].id, ev[0].id, CRM_ID_LEN);
    fx_event(&ev[4], "", "spend.recorded", spend_body(5));
    expect_refused(ev, 5, NULL, 0, CRM_ERR_BAD_REQUEST, "event 4", NULL);
    /* with the last event repaired, the duplicate id is what fails */
    fx_event(&ev[4], "guest-mid", "spend.recorded", spend_body(5));
    expect_refused(ev, 5, NULL, 0, CRM_ERR_DUPLICATE_ID, NULL);
}

static void
test_actor_too_long(void **state)
{
    (void)state;
    crm_event_in ev[1];
    char actor[CRM_ACTOR_MAX + 2];
    crm_error why;
    crm_batch *b = not_set;
    memset(actor, 'k', sizeof(actor));
    fx_event(&ev[0], "guest-1", "spend.recorded", spend_body(1));
    assert_int_equal(
        crm_batch_prepare(ev, 1, NULL, 0, actor, CRM_ACTOR_MAX + 1, &b, &why),
        CRM_ERR_BAD_REQUEST);
    assert_null(b);
    assert_int_equal(
        crm_batch_prepare(ev, 1, NULL, 0, actor, CRM_ACTOR_MAX, &b, &why),
        CRM_OK);
    assert_non_null(b);
    crm_batch_free(b);
}

/* Streams of 7, 40 (str 8 in the canonical content) and 64 bytes, events
 * interleaved; each expectation must bind to its own stream, which a real
 * log shows: the versions within the batch and the conflicts after it. */
static void
test_good_batch(void **state)
{
    (void)state;
    static const char s40[] = "guest-0123456789012345678901234567890123";
    char s64[CRM_STREAM_MAX + 1];
    _Static_assert(sizeof(s40) - 1 == 40, "40 bytes");
    memset(s64, 'g', CRM_STREAM_MAX);
    s64[CRM_STREAM_MAX] = '\0';
    const char *streams[] = {"guest-7", s40, s64};
    enum { N = 9 };
    crm_event_in ev[N];
    for (int i = 0; i < N; i++)
        fx_event(&ev[i], streams[i % 3],
                 i == 0 ? "customer.registered" : "spend.recorded",
                 i == 0 ? reg_body("Ada") : spend_body(i));
    crm_expect x[3] = {{s64, strlen(s64), CRM_EXPECT_NO_STREAM},
                       {"guest-7", 7, CRM_EXPECT_NO_STREAM},
                       {s40, strlen(s40), CRM_EXPECT_NO_STREAM}};
    crm_batch *b = expect_ok(ev, N, x, 3);
    crm_error why;
    assert_int_equal(crm_batch_result(b, &why), CRM_OK);
    for (size_t i = 0; i < N + 2; i++) {
        /* nothing is decided before the writer runs; past the end is 0 */
        assert_int_equal(crm_batch_position(b, i), 0);
        assert_int_equal(crm_batch_version(b, i), 0);
        assert_false(crm_batch_is_duplicate(b, i));
    }

    char dir[512];
    crm_log *log;
    fx_tmpdir(dir, sizeof(dir), "batch");
    assert_int_equal(crm_log_open(dir, "batch-hotels", NULL, &log, &why),
                     CRM_OK);
    assert_int_equal(crm_log_append(log, b, &why), CRM_OK);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(crm_batch_position(b, i), i + 1);
        assert_int_equal(crm_batch_version(b, i), i / 3);
        assert_false(crm_batch_is_duplicate(b, i));
    }
    assert_int_equal(crm_batch_position(b, N), 0);
    crm_batch_free(b);

    /* each stream now exists: its own expectation says so */
    for (int s = 0; s < 3; s++) {
        crm_event_in more[3];
        for (int i = 0; i < 3; i++)
            fx_event(&more[i], streams[i], "spend.recorded",
                     spend_body(100 + i));
        crm_expect y[3];
        for (int i = 0; i < 3; i++)
            y[i] = (crm_expect){streams[i], strlen(streams[i]),
                                i == s ? CRM_EXPECT_NO_STREAM : 2};
        b = expect_ok(more, 3, y, 3);
        assert_int_equal(crm_log_append(log, b, &why), CRM_ERR_CONFLICT);
        assert_non_null(strstr(why.msg, streams[s]));
        crm_batch_free(b);
    }
    crm_log_close(log);
    fx_rmrf(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_empty_batch, teardown),
        cmocka_unit_test_teardown(test_too_many_events, teardown),
        cmocka_unit_test_teardown(test_too_many_bytes, teardown),
        cmocka_unit_test_teardown(test_duplicate_id, teardown),
        cmocka_unit_test_teardown(test_expect_unknown_stream, teardown),
        cmocka_unit_test_teardown(test_expect_invalid_values, teardown),
        cmocka_unit_test_teardown(test_two_expectations_one_stream, teardown),
        cmocka_unit_test_teardown(test_two_expectations_any_first, teardown),
        cmocka_unit_test_teardown(test_two_expectations_both_any, teardown),
        cmocka_unit_test_teardown(test_bad_event_in_the_middle, teardown),
        cmocka_unit_test_teardown(test_actor_too_long, teardown),
        cmocka_unit_test_teardown(test_good_batch, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
