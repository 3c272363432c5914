/* tasks_today_test.c - the morning routine end to end against a real
 * crmd over NNG whose query clock is pinned (--pin-clock, a
 * CRM_TEST_CLOCK build): tasks.today without `on` answers for the pinned
 * day and moment, with `on` for that day's start; every section holds
 * the guest the chain put there with what the desk needs; the property
 * filter; personal values only to roles that may see them; bad arguments
 * refused with bad_request and a role without the op with forbidden;
 * server.info says the clock is pinned; and crmd refuses a bad
 * --pin-clock (in a build without the option, any). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "crmd_fixture.h"
#include "rpc.h"

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];
/* unused in a build without CRM_TEST_CLOCK, where the clock is not pinned */
__attribute__((unused)) static const char *const pin[] = {
    "--pin-clock", "2026-06-15T08:00:00Z", NULL};

/* The client of the last answer: its reply lives until the next call. */
static crm_client *last;

static crm_client *
as(crm_role r)
{
    return fx_client(&D, D.url, K[r]);
}

static int64_t
at(int y, int mo, int d, int h, int mi)
{
    struct tm t = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                   .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&t) * 1000000;
}

__attribute__((unused)) static void
ev(crm_event_in *e, const char *stream, const char *type, int64_t when,
   const msgpack_object *body)
{
    fx_event(e, stream, type, body);
    e->occurred_at = when;
}

static int
group_setup(void **state)
{
    (void)state;
#ifndef CRM_TEST_CLOCK
    return 0; /* the pinned tests skip */
#else
    if (fx_crmd_start(&D, 0, pin) != 0 || fx_tenant(&D, "algarve", K) != 0)
        return -1;
    crm_event_in e[24];
    size_t n = 0;
    ev(&e[n++], "g-ana", "customer.registered", at(2024, 1, 5, 9, 0),
       FX_BODY(FX_S("first_name", "Ana"), FX_S("last_name", "Silva"),
               FX_S("birth_date", "1990-06-17")));
    ev(&e[n++], "g-ana", "customer.consent_changed", at(2024, 1, 5, 9, 1),
       FX_BODY(FX_S("channel", "email"), FX_B("granted", 1)));
    /* push for service only, sms withdrawn: a greeting goes by e-mail */
    ev(&e[n++], "g-ana", "customer.consent_changed", at(2024, 1, 5, 9, 1),
       FX_BODY(FX_S("channel", "push"), FX_B("granted", 1),
               FX_S("purpose", "service")));
    ev(&e[n++], "g-ana", "customer.consent_changed", at(2024, 1, 5, 9, 1),
       FX_BODY(FX_S("channel", "sms"), FX_B("granted", 0)));
    ev(&e[n++], "g-ana", "customer.preference_set", at(2024, 1, 5, 9, 2),
       FX_BODY(FX_S("category", "diet"), FX_S("value", "halal")));
    ev(&e[n++], "g-ana", "customer.preference_set", at(2024, 1, 5, 9, 3),
       FX_BODY(FX_S("category", "allergies"), FX_S("value", "nuts")));
    ev(&e[n++], "g-ana", "stay.checked_out", at(2025, 1, 10, 11, 0),
       FX_BODY(FX_S("stay_id", "S1"), FX_S("property", "lisbon"),
               FX_I("nights", 3)));
    ev(&e[n++], "g-ana", "charter.flight_booked", at(2025, 3, 1, 10, 0),
       FX_BODY(FX_S("booking_id", "F1"), FX_S("flight_no", "TP1"),
               FX_S("origin", "LIS"), FX_S("destination", "FNC"),
               FX_S("departure_date", "2025-04-01")));
    ev(&e[n++], "g-ana", "booking.created", at(2026, 6, 1, 10, 0),
       FX_BODY(FX_S("booking_id", "B1"), FX_S("property", "porto"),
               FX_S("arrival", "2026-06-16"), FX_S("departure", "2026-06-19"),
               FX_S("channel", "direct"), FX_S("room_type", "suite")));
    ev(&e[n++], "g-ana", "complaint.opened", at(2026, 6, 10, 8, 0),
       FX_BODY(FX_S("complaint_id", "K1"), FX_S("category", "noise"),
               FX_S("severity", "high"), FX_S("property", "porto")));
    ev(&e[n++], "g-bo", "booking.created", at(2026, 6, 13, 8, 0),
       FX_BODY(FX_S("booking_id", "B2"), FX_S("property", "lisbon"),
               FX_S("arrival", "2026-08-01"), FX_S("departure", "2026-08-03"),
               FX_S("channel", "web")));
    ev(&e[n++], "g-dormant", "stay.checked_out", at(2025, 12, 10, 11, 0),
       FX_BODY(FX_S("stay_id", "S2"), FX_S("property", "porto"),
               FX_I("nights", 2)));
    ev(&e[n++], "g-dormant", "spend.recorded", at(2025, 12, 10, 11, 5),
       FX_BODY(FX_I("amount", 50000), FX_S("currency", "EUR"),
               FX_S("category", "room")));
    ev(&e[n++], "g-small", "spend.recorded", at(2025, 12, 10, 11, 5),
       FX_BODY(FX_I("amount", 100), FX_S("currency", "EUR"),
               FX_S("category", "fnb")));
    ev(&e[n++], "g-pts", "loyalty.points_earned", at(2026, 1, 2, 10, 0),
       FX_BODY(FX_I("points", 300), FX_S("expires_on", "2026-06-25")));
    crm_client *c = as(CRM_ROLE_ADMIN);
    const msgpack_object *res;
    crm_error why;
    crm_err err = fx_append(c, e, n, &res, &why);
    crm_client_close(c);
    fx_reset();
    if (err != CRM_OK) {
        fprintf(stderr, "append: %s\n", why.msg);
        return -1;
    }
    return 0;
#endif
}

static int
group_teardown(void **state)
{
    (void)state;
#ifdef CRM_TEST_CLOCK
    crm_client_close(last);
    last = NULL;
    int rc = fx_crmd_stop_clean(&D);
    fx_crmd_cleanup(&D);
    fx_reset();
    return rc;
#else
    return 0;
#endif
}

static const msgpack_object *
today(crm_role role, const fx_kv *kv, size_t n)
{
    const msgpack_object *res;
    crm_error why;
    crm_client_close(last);
    crm_client *c = last = as(role);
    crm_err err = fx_call_kv(c, "tasks.today", kv, n, &res, &why);
    if (err != CRM_OK)
        fail_msg("tasks.today: %s: %s", crm_err_name(err), why.msg);
    return res;
}

static crm_err
today_err(crm_role role, const fx_kv *kv, size_t n, crm_error *why)
{
    const msgpack_object *res;
    crm_client *c = as(role);
    crm_err err = fx_call_kv(c, "tasks.today", kv, n, &res, why);
    crm_client_close(c);
    return err;
}

static const msgpack_object *
section(const msgpack_object *res, const char *name, uint32_t want)
{
    const msgpack_object *s = crm_mp_get(res, name);
    if (s == NULL || s->type != MSGPACK_OBJECT_ARRAY)
        fail_msg("no section '%s'", name);
    if (s->via.array.size != want)
        fail_msg("'%s' holds %u items, want %u", name, s->via.array.size,
                 want);
    return want ? &s->via.array.ptr[0] : NULL;
}

static void
str_is(const msgpack_object *m, const char *k, const char *want)
{
    char buf[256];
    const char *got = fx_res_str(m, k, buf, sizeof(buf));
    if (want == NULL) {
        const msgpack_object *o = crm_mp_get(m, k);
        if (o && o->type != MSGPACK_OBJECT_NIL)
            fail_msg("'%s' is set, want nil", k);
        return;
    }
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("'%s' is '%s', want '%s'", k, got ? got : "(none)", want);
}

static int64_t
int_of(const msgpack_object *m, const char *k)
{
    const msgpack_object *o = crm_mp_get(m, k);
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (int64_t)o->via.u64;
    if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return o->via.i64;
    fail_msg("'%s' is not an integer", k);
    return 0;
}

#define NEED_PIN()                                                             \
    do {                                                                       \
        if (!pinned_build())                                                   \
            skip();                                                            \
    } while (0)

static int
pinned_build(void)
{
#ifdef CRM_TEST_CLOCK
    return 1;
#else
    return 0;
#endif
}

static void
test_pinned_today(void **state)
{
    (void)state;
    NEED_PIN();
    const msgpack_object *res = today(CRM_ROLE_ADMIN, NULL, 0);
    str_is(res, "on", "2026-06-15");
    assert_int_equal(int_of(res, "days"), 7);
    assert_int_equal(int_of(res, "moment"), at(2026, 6, 15, 8, 0));
    assert_true(int_of(res, "as_of") > 0);
    const msgpack_object *b = section(res, "birthdays", 1);
    str_is(b, "customer", "g-ana");
    str_is(b, "on", "2026-06-17");
    assert_int_equal(int_of(b, "in_days"), 2);
    str_is(crm_mp_get(b, "name"), "first", "Ana");
    str_is(crm_mp_get(b, "name"), "last", "Silva");
    const msgpack_object *ch = crm_mp_get(b, "channels");
    assert_non_null(ch);
    assert_int_equal(ch->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(ch->via.array.size, 1);
    assert_int_equal(ch->via.array.ptr[0].via.str.size, 5);
    assert_memory_equal(ch->via.array.ptr[0].via.str.ptr, "email", 5);

    const msgpack_object *a = section(res, "arrivals", 1);
    str_is(a, "customer", "g-ana");
    str_is(a, "booking_id", "B1");
    str_is(a, "property", "porto");
    str_is(a, "arrival", "2026-06-16");
    str_is(a, "departure", "2026-06-19");
    str_is(a, "room_type", "suite");
    str_is(a, "status", "created");
    str_is(crm_mp_get(a, "preferences"), "diet", "halal");
    str_is(crm_mp_get(a, "preferences"), "allergies", "nuts");
    const msgpack_object *pd = crm_mp_get(a, "past_destinations");
    assert_non_null(pd);
    const msgpack_object *props = crm_mp_get(pd, "properties"),
                         *charter = crm_mp_get(pd, "charter");
    assert_int_equal(props->via.array.size, 1);
    assert_memory_equal(props->via.array.ptr[0].via.str.ptr, "lisbon", 6);
    assert_int_equal(charter->via.array.size, 1);
    assert_memory_equal(charter->via.array.ptr[0].via.str.ptr, "FNC", 3);
    assert_int_equal(int_of(a, "open_complaints"), 1);
    str_is(a, "tier", "ordinary");
    str_is(crm_mp_get(a, "name"), "first", "Ana");

    const msgpack_object *u = section(res, "unconfirmed", 1);
    str_is(u, "booking_id", "B2");
    str_is(u, "channel", "web");
    assert_int_equal(int_of(u, "hours_waiting"), 48);
    assert_int_equal(int_of(u, "created_at"), at(2026, 6, 13, 8, 0));

    const msgpack_object *k = section(res, "complaints_past_sla", 1);
    str_is(k, "complaint_id", "K1");
    str_is(k, "severity", "high");
    str_is(k, "category", "noise");
    assert_int_equal(int_of(k, "hours_open"), 120);

    const msgpack_object *d = section(res, "dormant_high_value", 1);
    str_is(d, "customer", "g-dormant");
    str_is(d, "last_activity", "2025-12-10");
    assert_int_equal(int_of(crm_mp_get(d, "lifetime_spend"), "amount"), 50000);
    str_is(crm_mp_get(d, "lifetime_spend"), "currency", "EUR");

    const msgpack_object *p = section(res, "points_expiring", 1);
    str_is(p, "customer", "g-pts");
    assert_int_equal(int_of(p, "points"), 300);
    str_is(p, "first_expiry", "2026-06-25");

    const msgpack_object *more = crm_mp_get(res, "more");
    assert_non_null(more);
    assert_false(crm_mp_get(more, "arrivals")->via.boolean);

    /* server.info tells the clock is pinned */
    crm_client *c = as(CRM_ROLE_AUDITOR);
    crm_error why;
    assert_int_equal(crm_client_call(c, "server.info", NULL, NULL, &res, &why),
                     CRM_OK);
    const msgpack_object *cp = crm_mp_get(res, "clock_pinned");
    assert_non_null(cp);
    assert_true(cp->via.boolean);
    crm_client_close(c);
}

static void
test_on_and_property(void **state)
{
    (void)state;
    NEED_PIN();
    /* `on` given: the moment is that day's start */
    fx_kv kv[3] = {FX_S("on", "2026-06-16"), FX_I("days", 0)};
    const msgpack_object *res = today(CRM_ROLE_AGENT, kv, 2);
    str_is(res, "on", "2026-06-16");
    assert_int_equal(int_of(res, "moment"), at(2026, 6, 16, 0, 0));
    section(res, "birthdays", 0); /* the 17th is past a 0-day window */
    section(res, "arrivals", 1);
    assert_int_equal(int_of(section(res, "unconfirmed", 1), "hours_waiting"),
                     64);
    /* a day before the booking was made: nothing waits yet */
    fx_kv early[1] = {FX_S("on", "2026-06-12")}; /* K1 open 40 h */
    res = today(CRM_ROLE_AGENT, early, 1);
    section(res, "unconfirmed", 0);
    section(res, "complaints_past_sla", 0);
    /* the birthday in a 2-day window, not in a 1-day one */
    fx_kv w1[2] = {FX_S("on", "2026-06-15"), FX_I("days", 1)};
    section(today(CRM_ROLE_AGENT, w1, 2), "birthdays", 0);
    fx_kv w2[2] = {FX_S("on", "2026-06-15"), FX_I("days", 2)};
    section(today(CRM_ROLE_AGENT, w2, 2), "birthdays", 1);
    /* the property filter */
    fx_kv lis[1] = {FX_S("property", "lisbon")};
    res = today(CRM_ROLE_AGENT, lis, 1);
    section(res, "arrivals", 0);
    section(res, "unconfirmed", 1);
    section(res, "complaints_past_sla", 0);
    section(res, "birthdays", 1); /* not a property's */
    fx_kv none[1] = {FX_S("property", "nowhere")};
    res = today(CRM_ROLE_AGENT, none, 1);
    section(res, "arrivals", 0);
    section(res, "unconfirmed", 0);
    /* the limit */
    fx_kv lim[1] = {FX_I("limit", 1)};
    res = today(CRM_ROLE_AGENT, lim, 1);
    section(res, "arrivals", 1);
}

static void
test_roles(void **state)
{
    (void)state;
    NEED_PIN();
    /* by the table of who sees which personal field: marketing sees
     * names, not preference values; an auditor neither */
    crm_role masked[] = {CRM_ROLE_MARKETING, CRM_ROLE_AUDITOR};
    for (size_t i = 0; i < 2; i++) {
        int names = masked[i] == CRM_ROLE_MARKETING;
        const msgpack_object *res = today(masked[i], NULL, 0);
        const msgpack_object *b = section(res, "birthdays", 1);
        assert_int_equal(crm_mp_get(b, "name") != NULL, names);
        const msgpack_object *a = section(res, "arrivals", 1);
        assert_int_equal(crm_mp_get(a, "name") != NULL, names);
        const msgpack_object *pref = crm_mp_get(a, "preferences");
        assert_non_null(crm_mp_get(pref, "diet"));
        str_is(pref, "diet", NULL); /* the category, not its value */
        assert_int_equal(int_of(a, "open_complaints"), 1);
    }
    crm_error why;
    assert_int_equal(today_err(CRM_ROLE_FINANCE, NULL, 0, &why),
                     CRM_ERR_FORBIDDEN);
}

static void
test_bad_args(void **state)
{
    (void)state;
    NEED_PIN();
    struct {
        fx_kv kv;
        const char *msg;
    } bad[] = {
        {FX_S("on", "2026-13-01"), "'on'"},
        {FX_S("on", "tomorrow"), "'on'"},
        {FX_I("on", 20260615), "'on'"},
        {FX_I("days", 32), "'days'"},
        {FX_I("days", -1), "'days'"},
        {FX_S("days", "7"), "'days'"},
        {FX_I("limit", 0), "'limit'"},
        {FX_I("limit", 501), "'limit'"},
        {FX_S("property", ""), "'property'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        crm_error why;
        crm_err err = today_err(CRM_ROLE_ADMIN, &bad[i].kv, 1, &why);
        if (err != CRM_ERR_BAD_REQUEST || strstr(why.msg, bad[i].msg) == NULL)
            fail_msg("case %zu: %s: %s", i, crm_err_name(err), why.msg);
    }
}

/* crmd refuses a --pin-clock it cannot take: a bad time, or any time in a
 * build without CRM_TEST_CLOCK. */
static void
test_flag_refused(void **state)
{
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "%s --data /nonexistent/none --pin-clock %s 2>&1", CRM_CRMD_PATH,
             pinned_build() ? "2026-06-15" : "2026-06-15T08:00:00Z");
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char out[1024] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    if (strstr(out, "--pin-clock") == NULL)
        fail_msg("crmd said: %s", out);
    if (!pinned_build() && strstr(out, "CRM_TEST_CLOCK") == NULL)
        fail_msg("crmd said: %s", out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pinned_today),
        cmocka_unit_test(test_on_and_property),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_flag_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
