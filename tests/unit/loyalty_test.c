/* loyalty_test.c - the loyalty projection on a real log, from hand-written
 * event sequences with the expected state written out: a redemption of
 * the exact balance, an accrual expiring on its boundary day, the accrual
 * an expiry names, a tier change mid-year and the tier the window
 * qualifies for, an earn recorded after a later one, a rule change
 * between two earns; and a rebuild equal to the inline state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include "log.h"
#include "loyalty.h"
#include "rpc.h"
#include "schema.h"
#include "settings.h"

static const crm_proj_def *const defs[] = {&crm_proj_settings,
                                           &crm_proj_loyalty};

static crm_log *
open_log(const char *tag)
{
    return fx_log_open(tag, "lisbon-hotels", defs, 2);
}

#define US(day) crm_settings_day_start(day)


static uint64_t
earn(crm_log *log, const char *g, uint32_t day, int64_t points)
{
    return fx_log_append1(log, g, "loyalty.points_earned", US(day) + 3600000000LL,
                   FX_BODY(FX_I("points", points)));
}

static void
redeem(crm_log *log, const char *g, uint32_t day, int64_t points)
{
    fx_log_append1(log, g, "loyalty.points_redeemed", US(day) + 7200000000LL,
            FX_BODY(FX_I("points", points)));
}

/* What a read of the loyalty projection says about one guest. */
typedef struct seen {
    const char *id;
    uint32_t day;
    crm_loyalty_account a;
    int64_t available;
    msgpack_sbuffer view;
} seen;

static int
see_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    seen *s = arg;
    (void)position;
    size_t n = strlen(s->id);
    int rc = crm_loyalty_account_get(txn, dbi[0], s->id, n, &s->a);
    if (rc == 0)
        rc = crm_loyalty_available(txn, dbi[0], s->id, n, s->day,
                                   &s->available);
    if (rc != 0)
        return rc;
    crm_settings st;
    crm_settings_defaults(&st);
    msgpack_packer pk;
    msgpack_sbuffer_clear(&s->view);
    msgpack_packer_init(&pk, &s->view, msgpack_sbuffer_write);
    rc = crm_loyalty_pack(txn, dbi[0], s->id, n, s->day, &st, 50, 0, &pk);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static msgpack_zone zone;
static msgpack_object view;
static seen s; /* the last read; its view is unpacked into view */

static seen
see(crm_log *log, const char *id, uint32_t day)
{
    msgpack_sbuffer_destroy(&s.view);
    memset(&s, 0, sizeof(s));
    msgpack_sbuffer_init(&s.view);
    s.id = id;
    s.day = day;
    crm_error why;
    if (crm_log_proj_read(log, "loyalty", see_fn, &s, &why) != CRM_OK)
        fail_msg("read: %s", why.msg);
    msgpack_zone_clear(&zone);
    size_t off = 0;
    view.type = MSGPACK_OBJECT_NIL;
    if (s.view.size)
        assert_int_equal(msgpack_unpack(s.view.data, s.view.size, &off, &zone,
                                        &view),
                         MSGPACK_UNPACK_SUCCESS);
    return s;
}

static int64_t
vint(const msgpack_object *m, const char *k)
{
    int64_t v;
    if (crm_mp_int(crm_mp_get(m, k), INT64_MIN, INT64_MAX, &v) != 0)
        fail_msg("view has no integer '%s'", k);
    return v;
}

static const char *
vstr(const msgpack_object *m, const char *k)
{
    static char buf[8][128];
    static int at;
    const msgpack_object *o = crm_mp_get(m, k);
    if (!crm_mp_is_str(o))
        return NULL;
    char *b = buf[at++ % 8];
    snprintf(b, 128, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    return b;
}

static const msgpack_object *
varr(const msgpack_object *m, const char *k)
{
    const msgpack_object *o = crm_mp_get(m, k);
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
    return o;
}

static void
rebuild_identical(crm_log *log)
{
    crm_log_rebuilt out[2];
    size_t n;
    crm_error why;
    assert_int_equal(crm_log_rebuild(log, "loyalty", out, &n, &why), CRM_OK);
    assert_int_equal(n, 1);
    if (!out[0].identical)
        fail_msg("rebuild differs: %s", out[0].diff);
}

static void
test_redeem_exact_balance(void **state)
{
    (void)state;
    crm_log *log = open_log("loy-exact");
    earn(log, "g-1", 20260110, 300);
    earn(log, "g-1", 20260210, 200);
    redeem(log, "g-1", 20260301, 500);
    s = see(log, "g-1", 20260302);
    assert_true(s.a.exists);
    assert_int_equal(s.a.balance, 0);
    assert_int_equal(s.a.earned, 500);
    assert_int_equal(s.a.redeemed, 500);
    assert_int_equal(s.a.lines, 3);
    assert_int_equal(s.available, 0);
    /* both accruals are used up: nothing expires any more */
    assert_int_equal(varr(&view, "expiring")->via.array.size, 0);
    const msgpack_object *ledger = varr(&view, "ledger");
    assert_int_equal(ledger->via.array.size, 3);
    /* newest first, signed, with the balance after each */
    assert_string_equal(vstr(&ledger->via.array.ptr[0], "kind"), "redeemed");
    assert_int_equal(vint(&ledger->via.array.ptr[0], "points"), -500);
    assert_int_equal(vint(&ledger->via.array.ptr[0], "balance"), 0);
    assert_int_equal(vint(&ledger->via.array.ptr[1], "balance"), 500);
    assert_string_equal(vstr(&ledger->via.array.ptr[2], "expires_on"),
                        "2028-01-10");
    rebuild_identical(log);
    s = see(log, "g-1", 20260302);
    assert_int_equal(s.a.balance, 0);
    crm_log_close(log);
}

static void
test_expiry_boundary_day(void **state)
{
    (void)state;
    crm_log *log = open_log("loy-expiry");
    /* 24 months by default: earned 2025-03-31, lapses after 2027-03-31 */
    uint64_t old = earn(log, "g-2", 20250331, 1200);
    earn(log, "g-2", 20250601, 800);
    s = see(log, "g-2", 20270331);
    assert_int_equal(s.a.balance, 2000);
    assert_int_equal(s.available, 2000); /* still good on its last day */
    const msgpack_object *exp = varr(&view, "expiring");
    assert_int_equal(exp->via.array.size, 2);
    assert_string_equal(vstr(&exp->via.array.ptr[0], "expires_on"),
                        "2027-03-31");
    assert_int_equal(vint(&exp->via.array.ptr[0], "points"), 1200);
    assert_string_equal(vstr(&exp->via.array.ptr[1], "expires_on"),
                        "2027-06-01");

    s = see(log, "g-2", 20270401); /* the day after: lapsed, not yet swept */
    assert_int_equal(s.a.balance, 2000);
    assert_int_equal(s.available, 800);
    assert_int_equal(vint(&view, "lapsed"), 1200);

    /* a redemption that day takes the points that have not expired */
    redeem(log, "g-2", 20270401, 300);
    s = see(log, "g-2", 20270401);
    assert_int_equal(s.a.balance, 1700);
    assert_int_equal(s.available, 500);
    /* the sweep's event names the accrual that lapsed */
    fx_log_append1(log, "g-2", "loyalty.points_expired", US(20270402),
            FX_BODY(FX_I("points", 1200), FX_S("earned_on", "2025-03-31"),
                    FX_I("accrual", (int64_t)old)));
    s = see(log, "g-2", 20270402);
    assert_int_equal(s.a.balance, 500);
    assert_int_equal(s.a.expired, 1200);
    assert_int_equal(s.available, 500);
    assert_int_equal(vint(&view, "lapsed"), 0);
    exp = varr(&view, "expiring");
    assert_int_equal(exp->via.array.size, 1);
    assert_int_equal(vint(&exp->via.array.ptr[0], "points"), 500);
    rebuild_identical(log);
    crm_log_close(log);
}

static void
test_earn_recorded_late_is_burned_first(void **state)
{
    (void)state;
    crm_log *log = open_log("loy-order");
    earn(log, "g-3", 20260601, 100);
    /* recorded after, but earned in January: the oldest */
    earn(log, "g-3", 20260115, 100);
    redeem(log, "g-3", 20260701, 150);
    s = see(log, "g-3", 20260702);
    assert_int_equal(s.a.balance, 50);
    const msgpack_object *exp = varr(&view, "expiring");
    assert_int_equal(exp->via.array.size, 1);
    /* what is left is June's, lapsing in June 2028 */
    assert_string_equal(vstr(&exp->via.array.ptr[0], "expires_on"),
                        "2028-06-01");
    assert_int_equal(vint(&exp->via.array.ptr[0], "points"), 50);
    rebuild_identical(log);
    crm_log_close(log);
}

static void
test_tier_change_and_window(void **state)
{
    (void)state;
    crm_log *log = open_log("loy-tier");
    /* 6 + 5 nights within a year: silver qualifies by nights (10) */
    fx_log_append1(log, "g-4", "stay.checked_out", US(20260110),
            FX_BODY(FX_S("stay_id", "s1"), FX_S("property", "lis"),
                    FX_I("nights", 6)));
    s = see(log, "g-4", 20260111);
    assert_false(s.a.exists); /* nights alone open no account */
    assert_string_equal(vstr(&view, "tier"), "ordinary");
    assert_string_equal(vstr(&view, "qualified_tier"), "ordinary");
    const msgpack_object *next = crm_mp_get(&view, "next_tier");
    assert_string_equal(vstr(next, "tier"), "silver");
    assert_int_equal(vint(next, "nights_needed"), 4);
    assert_int_equal(vint(next, "points_needed"), 5000);

    fx_log_append1(log, "g-4", "stay.checked_out", US(20260620),
            FX_BODY(FX_S("stay_id", "s2"), FX_S("property", "opo"),
                    FX_I("nights", 5)));
    fx_log_append1(log, "g-4", "loyalty.tier_changed", US(20260621),
            FX_BODY(FX_S("to", "silver"), FX_S("from", "ordinary")));
    s = see(log, "g-4", 20260622);
    assert_string_equal(s.a.tier, "silver");
    assert_int_equal(s.a.tier_day, 20260621);
    assert_string_equal(vstr(&view, "tier"), "silver");
    assert_string_equal(vstr(&view, "tier_since"), "2026-06-21");
    assert_string_equal(vstr(&view, "qualified_tier"), "silver");
    assert_int_equal(vint(&view, "nights_in_window"), 11);
    next = crm_mp_get(&view, "next_tier");
    assert_string_equal(vstr(next, "tier"), "gold");
    assert_int_equal(vint(next, "nights_needed"), 14);
    /* January's stay leaves the 12-month window a year later */
    assert_string_equal(vstr(next, "counts_until"), "2027-01-10");
    s = see(log, "g-4", 20270111);
    assert_int_equal(vint(&view, "nights_in_window"), 5);
    assert_string_equal(vstr(&view, "qualified_tier"), "ordinary");
    assert_string_equal(vstr(&view, "tier"), "silver"); /* until an event */
    rebuild_identical(log);
    crm_log_close(log);
}

static void
test_expiry_rule_in_force_on_the_day(void **state)
{
    (void)state;
    crm_log *log = open_log("loy-rule");
    fx_log_append1(log, CRM_TENANT_STREAM, "tenant.settings_changed", US(20260101),
            FX_BODY(FX_S("effective_from", "2026-05-01"),
                    FX_I("points_expiry_months", 6)));
    earn(log, "g-5", 20260420, 10); /* before the change: 24 months */
    earn(log, "g-5", 20260501, 20); /* from its first day: 6 months */
    fx_log_append1(log, "g-5", "loyalty.points_adjusted", US(20260502),
            FX_BODY(FX_I("points", -5), FX_S("reason", "goodwill reversed")));
    s = see(log, "g-5", 20260503);
    assert_int_equal(s.a.balance, 25);
    assert_int_equal(s.a.adjusted, -5);
    const msgpack_object *exp = varr(&view, "expiring");
    assert_int_equal(exp->via.array.size, 2);
    assert_string_equal(vstr(&exp->via.array.ptr[0], "expires_on"),
                        "2026-11-01");
    assert_int_equal(vint(&exp->via.array.ptr[0], "points"), 20);
    assert_string_equal(vstr(&exp->via.array.ptr[1], "expires_on"),
                        "2028-04-20");
    /* the oldest went first: 5 of April's 10 */
    assert_int_equal(vint(&exp->via.array.ptr[1], "points"), 5);
    rebuild_identical(log);
    crm_log_close(log);
}

static void
test_day_arithmetic(void **state)
{
    (void)state;
    assert_int_equal(crm_settings_day_add_months(20270131, 1), 20270228);
    assert_int_equal(crm_settings_day_add_months(20280131, 1), 20280229);
    assert_int_equal(crm_settings_day_add_months(20261215, 1), 20270115);
    assert_int_equal(crm_settings_day_add_months(20270115, -1), 20261215);
    assert_int_equal(crm_settings_day_add_months(20270331, -13), 20260228);
    assert_int_equal(crm_settings_day_add_months(20250331, 24), 20270331);
    assert_int_equal(crm_settings_days_between(20261231, 20270101), 1);
    assert_int_equal(crm_settings_days_between(20270301, 20270228), -1);
    char t[11];
    crm_settings_day_text(20270305, t);
    assert_string_equal(t, "2027-03-05");
    crm_settings_day_text(0, t);
    assert_string_equal(t, "");
}

static int
setup(void **state)
{
    (void)state;
    msgpack_zone_init(&zone, 4096);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&s.view);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_day_arithmetic),
        cmocka_unit_test(test_redeem_exact_balance),
        cmocka_unit_test(test_expiry_boundary_day),
        cmocka_unit_test(test_earn_recorded_late_is_burned_first),
        cmocka_unit_test(test_tier_change_and_window),
        cmocka_unit_test(test_expiry_rule_in_force_on_the_day),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
