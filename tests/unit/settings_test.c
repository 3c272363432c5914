/* settings_test.c - the settings projection on a real log: a rule change
 * between two events is applied to each by the rule in force on its
 * date, as known when it was recorded, inline and after a rebuild; later
 * changes for earlier days; decimals and days. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "decimal.h"
#include "fixture.h"
#include "log.h"
#include "schema.h"
#include "settings.h"

static const crm_proj_def *const defs[] = {&crm_proj_settings};

static crm_log *
open_log(const char *dir)
{
    crm_log_opts o = {.projections = defs, .nprojections = 1};
    crm_log *log;
    crm_error why;
    if (crm_log_open(dir, "lisbon-hotels", &o, &log, &why) != CRM_OK)
        fail_msg("open: %s", why.msg);
    return log;
}

/* Appends one event; returns its position. */
static uint64_t
append1(crm_log *log, const char *stream, const char *type, int64_t at,
        const msgpack_object *body)
{
    crm_event_in ev;
    fx_event(&ev, stream, type, body);
    ev.occurred_at = at;
    crm_batch *b;
    crm_error why;
    if (crm_batch_prepare(&ev, 1, NULL, 0, "key-1", 5, &b, &why) != CRM_OK)
        fail_msg("prepare: %s", why.msg);
    if (crm_log_append(log, b, &why) != CRM_OK)
        fail_msg("append: %s", why.msg);
    uint64_t pos = crm_batch_position(b, 0);
    crm_batch_free(b);
    fx_reset();
    return pos;
}

typedef struct ask {
    uint32_t day;
    uint64_t as_of;
    crm_settings s;
} ask;

static int
ask_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    ask *a = arg;
    (void)position;
    return crm_settings_at(txn, dbi[0], a->day, a->as_of, &a->s);
}

/* Points per euro on room spend for an ordinary guest, as the settings
 * of day were known at position as_of. */
static int64_t
room_rate(crm_log *log, uint32_t day, uint64_t as_of)
{
    static ask a;
    a.day = day;
    a.as_of = as_of;
    crm_error why;
    if (crm_log_proj_read(log, "settings", ask_fn, &a, &why) != CRM_OK)
        fail_msg("read: %s", why.msg);
    return crm_settings_earn_get(&a.s, "ordinary", "room") /
           (CRM_DECIMAL_SCALE / 10);
}

#define US(day) crm_settings_day_start(day)

static void
test_rule_in_force_on_each_events_date(void **state)
{
    (void)state;
    char dir[512];
    fx_tmpdir(dir, sizeof(dir), "settings");
    crm_log *log = open_log(dir);

    /* room earns 10/EUR by default; 20 from June on */
    append1(log, CRM_TENANT_STREAM, "tenant.earn_rate_set", US(20260420),
            FX_BODY(FX_S("tier", "any"), FX_S("category", "room"),
                    FX_S("points_per_unit", "20"),
                    FX_S("effective_from", "2026-06-01")));
    uint64_t may = append1(log, "g-1", "spend.recorded", US(20260515),
                           FX_BODY(FX_I("amount", 10000),
                                   FX_S("currency", "EUR"),
                                   FX_S("category", "room")));
    uint64_t june = append1(log, "g-1", "spend.recorded", US(20260615),
                            FX_BODY(FX_I("amount", 10000),
                                    FX_S("currency", "EUR"),
                                    FX_S("category", "room")));
    /* each event by the rule of its own date, as known when recorded */
    assert_int_equal(room_rate(log, 20260515, may), 100);
    assert_int_equal(room_rate(log, 20260615, june), 200);

    /* recorded later: 15/EUR back-dated to May 1st, and a new rate for
     * August */
    uint64_t late = append1(log, CRM_TENANT_STREAM, "tenant.earn_rate_set",
                            US(20260701),
                            FX_BODY(FX_S("tier", "any"), FX_S("category", "room"),
                                    FX_S("points_per_unit", "15.5"),
                                    FX_S("effective_from", "2026-05-01")));
    append1(log, CRM_TENANT_STREAM, "tenant.earn_rate_set", US(20260702),
            FX_BODY(FX_S("tier", "ordinary"), FX_S("category", "room"),
                    FX_S("points_per_unit", "30"),
                    FX_S("effective_from", "2026-08-01")));
    /* what was known when each spend was recorded does not move */
    assert_int_equal(room_rate(log, 20260515, may), 100);
    assert_int_equal(room_rate(log, 20260615, june), 200);
    /* what is known now about those days */
    assert_int_equal(room_rate(log, 20260515, UINT64_MAX), 155);
    assert_int_equal(room_rate(log, 20260615, UINT64_MAX), 200);
    assert_int_equal(room_rate(log, 20260801, UINT64_MAX), 300);
    assert_int_equal(room_rate(log, 20260430, UINT64_MAX), 100);
    assert_int_equal(room_rate(log, 20260515, late), 155);

    /* a rebuild keeps exactly this: byte for byte, same answers */
    crm_log_rebuilt out[2];
    size_t n;
    crm_error why;
    assert_int_equal(crm_log_rebuild(log, "settings", out, &n, &why), CRM_OK);
    assert_int_equal(n, 1);
    assert_true(out[0].identical);
    assert_int_equal(out[0].events, 5);
    assert_int_equal(room_rate(log, 20260515, may), 100);
    assert_int_equal(room_rate(log, 20260615, june), 200);
    assert_int_equal(room_rate(log, 20260515, UINT64_MAX), 155);

    /* and so does a reopen */
    crm_log_close(log);
    log = open_log(dir);
    assert_int_equal(room_rate(log, 20260615, june), 200);
    assert_int_equal(room_rate(log, 20260801, UINT64_MAX), 300);
    crm_log_close(log);
}

static void
test_fold_most_specific_and_tiers(void **state)
{
    (void)state;
    crm_settings s;
    const char *why;
    crm_settings_defaults(&s);
    assert_int_equal(crm_settings_earn_get(&s, "gold", "spa"),
                     10 * CRM_DECIMAL_SCALE);
    static const char *const t = "tenant.earn_rate_set";
    assert_int_equal(crm_settings_fold(&s, t, strlen(t),
                                       FX_BODY(FX_S("tier", "gold"),
                                               FX_S("category", "any"),
                                               FX_S("points_per_unit", "12")),
                                       7, &why),
                     0);
    assert_int_equal(crm_settings_fold(&s, t, strlen(t),
                                       FX_BODY(FX_S("tier", "any"),
                                               FX_S("category", "spa"),
                                               FX_S("points_per_unit", "3")),
                                       8, &why),
                     0);
    /* tier beats category beats nothing */
    assert_int_equal(crm_settings_earn_get(&s, "gold", "spa"),
                     12 * CRM_DECIMAL_SCALE);
    assert_int_equal(crm_settings_earn_get(&s, "silver", "spa"),
                     3 * CRM_DECIMAL_SCALE);
    assert_int_equal(crm_settings_earn_get(&s, "silver", "room"),
                     10 * CRM_DECIMAL_SCALE);
    assert_int_equal(s.changes, 2);
    assert_int_equal(s.last_change, 8);

    /* a tier retired leaves; a new one is placed by rank */
    static const char *const td = "tenant.tier_defined";
    assert_int_equal(crm_settings_fold(&s, td, strlen(td),
                                       FX_BODY(FX_S("tier", "silver"),
                                               FX_I("rank", 1),
                                               FX_B("retired", 1)),
                                       9, &why),
                     0);
    assert_int_equal(crm_settings_fold(&s, td, strlen(td),
                                       FX_BODY(FX_S("tier", "platinum"),
                                               FX_I("rank", 5),
                                               FX_I("min_nights", 60)),
                                       10, &why),
                     0);
    assert_int_equal(s.ntiers, 3);
    assert_string_equal(s.tiers[0].name, "ordinary");
    assert_string_equal(s.tiers[1].name, "gold");
    assert_string_equal(s.tiers[2].name, "platinum");
    assert_int_equal(s.tiers[2].min_nights, 60);

    /* rates; the base currency is 1 */
    static const char *const rt = "tenant.rate_set";
    assert_int_equal(crm_settings_fold(&s, rt, strlen(rt),
                                       FX_BODY(FX_S("currency", "USD"),
                                               FX_S("rate", "0.9215")),
                                       11, &why),
                     0);
    assert_int_equal(crm_settings_rate_get(&s, "USD"), 921500000);
    assert_int_equal(crm_settings_rate_get(&s, "EUR"), CRM_DECIMAL_SCALE);
    assert_int_equal(crm_settings_rate_get(&s, "JPY"), -1);
    /* not a settings type */
    assert_int_equal(crm_settings_fold(&s, "spend.recorded", 14,
                                       FX_BODY(FX_S("x", "y")), 12, &why),
                     -1);
    assert_non_null(why);
    fx_reset();
}

static void
test_decimals(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t v;
        const char *out;
    } ok[] = {{"0.9215", 921500000, "0.9215"},
              {"12", 12000000000LL, "12"},
              {"-0.5", -500000000, "-0.5"},
              {"1.000000001", 1000000001, "1.000000001"},
              {"999999999.999999999", 999999999999999999LL,
               "999999999.999999999"},
              {"0", 0, "0"},
              {"007.10", 7100000000LL, "7.1"}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t v;
        char buf[CRM_DECIMAL_MAX_LEN];
        assert_int_equal(crm_decimal_parse(ok[i].in, strlen(ok[i].in), &v), 0);
        assert_int_equal(v, ok[i].v);
        size_t n = crm_decimal_format(v, buf);
        assert_int_equal(n, strlen(ok[i].out));
        assert_memory_equal(buf, ok[i].out, n);
    }
    static const char *const bad[] = {"",   "-",    ".5",   "5.",   "1e3",
                                      "+1", " 1",   "1 ",   "1,5",  "0x10",
                                      "1.2.3", "1234567890", "0.1234567891",
                                      "--1", "abc"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v;
        if (crm_decimal_parse(bad[i], strlen(bad[i]), &v) == 0)
            fail_msg("'%s' parsed", bad[i]);
    }
}

static void
test_days(void **state)
{
    (void)state;
    assert_int_equal(crm_settings_day("2026-12-05", 10), 20261205);
    assert_int_equal(crm_settings_day_of(0), 19700101);
    assert_int_equal(crm_settings_day_of(-1), 19691231);
    assert_int_equal(crm_settings_day_start(19700101), 0);
    assert_int_equal(crm_settings_day_start(20000301),
                     11017LL * 86400000000LL);
    /* every day of 1999..2101 there and back, in order */
    int64_t us = crm_settings_day_start(19990101);
    uint32_t prev = 0;
    for (int i = 0; i < 103 * 366; i++, us += 86400000000LL) {
        uint32_t d = crm_settings_day_of(us);
        assert_true(d > prev);
        assert_int_equal(crm_settings_day_start(d), us);
        assert_int_equal(crm_settings_day_of(us + 86399999999LL), d);
        prev = d;
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_in_force_on_each_events_date),
        cmocka_unit_test(test_fold_most_specific_and_tiers),
        cmocka_unit_test(test_decimals),
        cmocka_unit_test(test_days),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
