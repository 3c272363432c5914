/* segment_proj_test.c - the segment projection and the filter language on a
 * real log: a guest's summary row from every event it folds (stays in
 * two properties, spend at a rate, complaints resolved before they were
 * opened, a consent withdrawn by an older event recorded later, a
 * preference replaced), the lifecycle of one guest moving with the day
 * asked, windows of 12 months, RFM quintiles and value bands worked out
 * by hand, the loyalty tier and expiring points, filters that pass and
 * fail, bad filters pointing at their token, definitions replaced and
 * dropped, an erased guest gone from every answer and ignored after, no
 * preference value stored in plain, and the same events in two orders
 * giving byte-identical databases, each equal to a rebuild. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "fixture.h"
#include "log.h"
#include "loyalty.h"
#include "rpc.h"
#include "schema.h"
#include "segfilter.h"
#include "segment.h"
#include "settings.h"

static const crm_proj_def *const defs[] = {&crm_proj_settings,
                                           &crm_proj_loyalty,
                                           &crm_proj_segment};

static crm_log *
open_log(const char *tag)
{
    return fx_log_open(tag, "lisbon-hotels", defs, 3);
}

#define HOUR 3600000000LL
#define AT(day, h) (crm_settings_day_start(day) + (h)*HOUR)


static void
rebuild_identical(crm_log *log)
{
    crm_log_rebuilt out[3];
    size_t n;
    crm_error why;
    assert_int_equal(crm_log_rebuild(log, "segment", out, &n, &why), CRM_OK);
    assert_int_equal(n, 1);
    if (!out[0].identical)
        fail_msg("rebuild differs: %s", out[0].diff);
}

static void
checkout(crm_log *log, const char *g, const char *stay, const char *prop,
         int nights, uint32_t day)
{
    fx_log_append1(log, g, "stay.checked_out", AT(day, 11),
            FX_BODY(FX_S("stay_id", stay), FX_S("property", prop),
                    FX_I("nights", nights)));
}

static void
registered(crm_log *log, const char *g, uint32_t day, const char *home)
{
    if (home)
        fx_log_append1(log, g, "customer.registered", AT(day, 9),
                FX_BODY(FX_S("first_name", "Ana"), FX_S("last_name", "Silva"),
                        FX_S("home_property", home)));
    else
        fx_log_append1(log, g, "customer.registered", AT(day, 9),
                FX_BODY(FX_S("first_name", "Rui"), FX_S("last_name", "Sá")));
}

static void
spend(crm_log *log, const char *g, uint32_t day, int64_t amount,
      const char *cur)
{
    fx_log_append1(log, g, "spend.recorded", AT(day, 20),
            FX_BODY(FX_I("amount", amount), FX_S("currency", cur),
                    FX_S("category", "room")));
}

static void
consent(crm_log *log, const char *g, const char *ch, int granted, int64_t at)
{
    fx_log_append1(log, g, "customer.consent_changed", at,
            FX_BODY(FX_S("channel", ch), FX_B("granted", granted)));
}

static void
preference(crm_log *log, const char *g, const char *cat, const char *v,
           int64_t at)
{
    fx_log_append1(log, g, "customer.preference_set", at,
            FX_BODY(FX_S("category", cat), FX_S("value", v)));
}

/* --- asking ------------------------------------------------------------------ */

typedef struct ask {
    uint32_t day;
    unsigned needs;
    const char *filter; /* members of it into ids */
    const char *want;   /* the guest copied into g */
    crm_seg_guest g;
    int found;
    char ids[512];
    size_t n;
    crm_segfilter *f;
    int rc;
} ask;

static int
ask_each(void *arg, const crm_seg_guest *g)
{
    ask *a = arg;
    if (a->want && g->id_len == strlen(a->want) &&
        memcmp(g->id, a->want, g->id_len) == 0) {
        a->g = *g;
        a->g.id = NULL;
        a->g.props = a->g.prefs = NULL;
        a->found = 1;
    }
    if (a->f && crm_segfilter_eval(a->f, g)) {
        size_t l = strlen(a->ids);
        snprintf(a->ids + l, sizeof(a->ids) - l, "%s%.*s", l ? "," : "",
                 (int)g->id_len, g->id);
        a->n++;
    }
    return 0;
}

static crm_log *cur_log;

static int
scan_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    ask *a = arg;
    (void)position;
    static crm_settings s;
    crm_settings_defaults(&s);
    crm_seg_query q = {.txn = txn,
                       .guest = dbi[0],
                       .day = a->day,
                       .settings = &s,
                       .needs = a->needs};
    /* the loyalty projection's live database in the same transaction */
    const crm_proj_set *set = crm_log_projections(cur_log);
    MDB_dbi l[CRM_PROJ_DBS_MAX];
    uint64_t lp;
    int rc = crm_proj_live(set, txn, (size_t)crm_proj_index(set, "loyalty"), l,
                           &lp);
    if (rc != 0)
        return rc;
    q.has_loyalty = 1;
    q.loyalty = l[0];
    if (a->f)
        q.needs |= crm_segfilter_needs(a->f);
    a->rc = crm_segment_scan(&q, NULL, 0, ask_each, a, NULL);
    return 0;
}

static ask *
run(crm_log *log, uint32_t day, const char *filter, const char *want)
{
    static ask a;
    memset(&a, 0, sizeof(a));
    a.day = day;
    a.needs = CRM_SEG_NEED_ALL;
    a.want = want;
    cur_log = log;
    const crm_proj_set *set = crm_log_projections(log);
    crm_segfilter_error err;
    if (filter &&
        crm_segfilter_parse(filter, strlen(filter), crm_proj_index_key(set),
                            &a.f, &err) != 0)
        fail_msg("filter %s: column %zu '%s': %s", filter, err.column,
                 err.token, err.message);
    crm_error why;
    if (crm_log_proj_read(log, "segment", scan_fn, &a, &why) != CRM_OK)
        fail_msg("read: %s", why.msg);
    assert_int_equal(a.rc, 0);
    crm_segfilter_free(a.f);
    a.f = NULL;
    if (want && !a.found)
        fail_msg("guest %s not in the scan", want);
    return &a;
}

static const crm_seg_guest *
guest(crm_log *log, uint32_t day, const char *id)
{
    return &run(log, day, NULL, id)->g;
}

static const char *
members(crm_log *log, uint32_t day, const char *filter)
{
    return run(log, day, filter, NULL)->ids;
}

/* --- one guest's row ---------------------------------------------------------- */

static void
test_row_folds_everything(void **state)
{
    (void)state;
    crm_log *log = open_log("seg-row");
    fx_log_append1(log, CRM_TENANT_STREAM, "tenant.rate_set", AT(20251201, 0),
            FX_BODY(FX_S("currency", "USD"), FX_S("rate", "0.9"),
                    FX_S("effective_from", "2026-01-01")));
    registered(log, "g-1", 20260105, "lisbon");
    checkout(log, "g-1", "s1", "lisbon", 3, 20260110);
    checkout(log, "g-1", "s2", "porto", 4, 20260520);
    checkout(log, "g-1", "s3", "lisbon", 5, 20260115); /* back-dated */
    spend(log, "g-1", 20260110, 10000, "USD");          /* 9,000 */
    spend(log, "g-1", 20260111, 2000, "EUR");           /* 2,000 */
    spend(log, "g-1", 20260112, -500, "EUR");           /* refund */
    spend(log, "g-1", 20260113, 700, "GBP");            /* no rate */
    fx_log_append1(log, "g-1", "booking.created", AT(20260601, 8),
            FX_BODY(FX_S("booking_id", "b1"), FX_S("property", "porto"),
                    FX_S("arrival", "2026-08-01"),
                    FX_S("departure", "2026-08-03")));
    /* the later survey wins, though recorded first */
    fx_log_append1(log, "g-1", "feedback.survey_submitted", AT(20260530, 0),
            FX_BODY(FX_I("nps", 4)));
    fx_log_append1(log, "g-1", "feedback.survey_submitted", AT(20260525, 0),
            FX_BODY(FX_I("nps", 10)));
    /* c1 resolved before it is opened; c2 open */
    fx_log_append1(log, "g-1", "complaint.resolved", AT(20260522, 0),
            FX_BODY(FX_S("complaint_id", "c1")));
    fx_log_append1(log, "g-1", "complaint.opened", AT(20260521, 0),
            FX_BODY(FX_S("complaint_id", "c1"), FX_S("category", "noise")));
    fx_log_append1(log, "g-1", "complaint.opened", AT(20260523, 0),
            FX_BODY(FX_S("complaint_id", "c2"), FX_S("category", "noise")));
    /* e-mail granted on the 10th; a withdrawal dated the 5th, recorded
     * later, changes nothing; sms granted */
    consent(log, "g-1", "email", 1, AT(20260110, 0));
    consent(log, "g-1", "email", 0, AT(20260105, 0));
    consent(log, "g-1", "sms", 1, AT(20260110, 0));
    preference(log, "g-1", "diet", "vegan", AT(20260101, 0));
    preference(log, "g-1", "diet", "  Halal ", AT(20260102, 0));
    preference(log, "g-1", "pillow", "feather-free", AT(20260102, 0));

    const crm_seg_guest *g = guest(log, 20260610, "g-1");
    assert_int_equal(g->registered, 20260105);
    assert_int_equal(g->first_seen, 20260101); /* the first preference */
    assert_int_equal(g->first_stay, 20260110);
    assert_int_equal(g->last_stay, 20260520);
    assert_int_equal(g->last_booking, 20260601);
    assert_int_equal(g->stays, 3);
    assert_int_equal(g->nights, 12);
    assert_int_equal(g->orders, 2);
    assert_int_equal(g->spend, 9000 + 2000 - 500);
    assert_int_equal(g->nps_last, 4);
    assert_int_equal(g->open_complaints, 1);
    assert_int_equal(g->consent, 1u << 0 | 1u << 4); /* email, sms */
    assert_int_equal(g->home, crm_segment_name_hash("lisbon", 6));
    assert_int_equal(g->nprops, 2);
    assert_int_equal(g->days_since_stay, 21);
    assert_int_equal(g->nights_12m, 12);
    assert_int_equal(g->stays_12m, 3);
    assert_int_equal(g->lifecycle, SEG_ACTIVE);
    assert_int_equal(g->frequency, SEG_FREQUENT);
    /* churn: usual gap (130 days / 2) = 65, 21 since: 0; detractor 4:
     * max(5, 20 * 3 / 7) = 9 (8.57); one complaint 10 */
    assert_int_equal(g->churn_score, 19);
    assert_int_equal(g->churn, SEG_CHURN_LOW);
    assert_string_equal(g->tier, "ordinary");

    assert_string_equal(
        members(log, 20260610,
                "nights_12m >= 10 and property = \"lisbon\" and diet = "
                "\"halal\" and consent.email.marketing"),
        "g-1");
    assert_string_equal(members(log, 20260610, "diet = \"vegan\""), "");
    assert_string_equal(members(log, 20260610, "diet != \"vegan\""), "g-1");
    assert_string_equal(members(log, 20260610, "pref.pillow = \"FEATHER-free\""),
                        "g-1");
    assert_string_equal(members(log, 20260610, "property = \"faro\""), "");
    assert_string_equal(members(log, 20260610, "property != \"faro\""), "g-1");
    assert_string_equal(members(log, 20260610, "consent.phone"), "");
    assert_string_equal(members(log, 20260610, "consent.sms.marketing and not "
                                               "consent.email.profiling"),
                        "g-1");
    assert_string_equal(members(log, 20260610, "home_property = \"lisbon\""),
                        "g-1");
    assert_string_equal(members(log, 20260610, "nps_last <= 6 and "
                                               "open_complaints = 1"),
                        "g-1");
    assert_string_equal(members(log, 20260610, "tier = \"ordinary\" and "
                                               "spend > 10499"),
                        "g-1");
    assert_string_equal(members(log, 20260610, "spend > 10500"), "");
    /* a year on the window is empty, and 374 days since the booking
     * (more than twice 180) the guest has lapsed */
    g = guest(log, 20270610, "g-1");
    assert_int_equal(g->nights_12m, 0);
    assert_int_equal(g->stays_prev_12m, 3);
    assert_int_equal(g->lifecycle, SEG_LAPSED);
    rebuild_identical(log);
    crm_log_close(log);
}

/* --- the day asked ------------------------------------------------------------ */

static void
test_lifecycle_moves_with_the_day(void **state)
{
    (void)state;
    crm_log *log = open_log("seg-life");
    registered(log, "g-new", 20260101, NULL);
    registered(log, "g-stay", 20250101, NULL);
    checkout(log, "g-stay", "s1", "lisbon", 2, 20260101);
    /* dormant_days 180 (the default): 2026-06-29 is day 179, 2026-06-30
     * day 180 (both still active), 2026-07-01 day 181 (dormant) */
    assert_int_equal(guest(log, 20260629, "g-stay")->lifecycle, SEG_ACTIVE);
    assert_int_equal(guest(log, 20260630, "g-new")->lifecycle, SEG_NEW);
    assert_int_equal(guest(log, 20260630, "g-stay")->lifecycle, SEG_ACTIVE);
    assert_int_equal(guest(log, 20260701, "g-stay")->lifecycle, SEG_DORMANT);
    assert_int_equal(guest(log, 20260701, "g-new")->lifecycle, SEG_DORMANT);
    /* 360 days: still dormant; 361 lapsed; 541 churned */
    assert_int_equal(guest(log, 20261227, "g-stay")->lifecycle, SEG_DORMANT);
    assert_int_equal(guest(log, 20261228, "g-stay")->lifecycle, SEG_LAPSED);
    assert_int_equal(guest(log, 20270626, "g-stay")->lifecycle, SEG_CHURNED);
    assert_string_equal(members(log, 20260701, "lifecycle = \"dormant\""),
                        "g-new,g-stay");
    assert_string_equal(members(log, 20260630, "lifecycle = \"dormant\""), "");
    /* a booking wakes the guest; a tenant setting changes the threshold */
    fx_log_append1(log, "g-stay", "booking.created", AT(20260801, 8),
            FX_BODY(FX_S("booking_id", "b1"), FX_S("property", "lisbon"),
                    FX_S("arrival", "2026-09-01"),
                    FX_S("departure", "2026-09-03")));
    assert_int_equal(guest(log, 20260802, "g-stay")->lifecycle, SEG_ACTIVE);
    /* frequency: one stay is a first-timer; three within 12 months are
     * frequent, and only while they are in the window */
    assert_int_equal(guest(log, 20260802, "g-stay")->frequency,
                     SEG_FIRST_TIME);
    assert_int_equal(guest(log, 20260802, "g-new")->frequency, SEG_PROSPECT);
    checkout(log, "g-stay", "s2", "lisbon", 2, 20260301);
    checkout(log, "g-stay", "s3", "lisbon", 2, 20260401);
    assert_int_equal(guest(log, 20260802, "g-stay")->frequency, SEG_FREQUENT);
    assert_int_equal(guest(log, 20270201, "g-stay")->frequency, SEG_REPEAT);
    assert_int_equal(guest(log, 20270201, "g-stay")->stays_12m, 2);
    rebuild_identical(log);
    crm_log_close(log);
}

/* --- the tenant's guests -------------------------------------------------------- */

static void
test_rfm_and_value(void **state)
{
    (void)state;
    crm_log *log = open_log("seg-rfm");
    char id[16], stay[16];
    /* g-i, i = 1..10: i stays, the last on day i of March; spend i * 100 */
    for (int i = 1; i <= 10; i++) {
        snprintf(id, sizeof(id), "g-%02d", i);
        for (int s = 0; s < i; s++) {
            snprintf(stay, sizeof(stay), "s%d", s);
            checkout(log, id, stay, "lisbon", 1,
                     20260301 + (uint32_t)(i - 1) - (uint32_t)(s ? 100 : 0));
        }
        spend(log, id, 20260301, i * 100, "EUR");
    }
    registered(log, "g-zero", 20260101, NULL); /* no stay, no spend */
    /* 11 guests; below(g-i) = i for frequency and monetary (g-zero is
     * under all): score 1 + floor(5 * i / 11) */
    static const int want[11] = {1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5};
    for (int i = 1; i <= 10; i++) {
        snprintf(id, sizeof(id), "g-%02d", i);
        const crm_seg_guest *g = guest(log, 20260401, id);
        assert_int_equal(g->rfm_f, want[i]);
        assert_int_equal(g->rfm_m, want[i]);
        assert_int_equal(g->rfm_r, want[i]); /* later last stay: better */
    }
    const crm_seg_guest *z = guest(log, 20260401, "g-zero");
    assert_int_equal(z->rfm_r, 1);
    assert_int_equal(z->rfm_f, 1);
    assert_int_equal(z->value, SEG_VALUE_NONE);
    /* value among 10 spenders: above*5 < 10 high (g-10, g-09), above*2 <
     * 10 medium (g-08..g-06), the rest low */
    assert_int_equal(guest(log, 20260401, "g-10")->value, SEG_VALUE_HIGH);
    assert_int_equal(guest(log, 20260401, "g-09")->value, SEG_VALUE_HIGH);
    assert_int_equal(guest(log, 20260401, "g-08")->value, SEG_VALUE_MEDIUM);
    assert_int_equal(guest(log, 20260401, "g-06")->value, SEG_VALUE_MEDIUM);
    assert_int_equal(guest(log, 20260401, "g-05")->value, SEG_VALUE_LOW);
    assert_string_equal(members(log, 20260401, "value = \"high\""),
                        "g-09,g-10");
    assert_string_equal(members(log, 20260401, "rfm_r = 5 and rfm_f = 5"),
                        "g-09,g-10");
    assert_string_equal(
        members(log, 20260401, "(rfm_m <= 1 or value = \"high\") and not "
                               "stays = 0"),
        "g-01,g-02,g-09,g-10");
    rebuild_identical(log);
    crm_log_close(log);
}

static void
test_loyalty_tier_and_expiring(void **state)
{
    (void)state;
    crm_log *log = open_log("seg-loyalty");
    registered(log, "g-1", 20260101, NULL);
    registered(log, "g-2", 20260101, NULL);
    fx_log_append1(log, "g-1", "loyalty.points_earned", AT(20260110, 0),
            FX_BODY(FX_I("points", 300), FX_S("expires_on", "2026-07-20")));
    fx_log_append1(log, "g-1", "loyalty.points_earned", AT(20260110, 1),
            FX_BODY(FX_I("points", 50), FX_S("expires_on", "2026-09-01")));
    fx_log_append1(log, "g-2", "loyalty.tier_changed", AT(20260201, 0),
            FX_BODY(FX_S("to", "gold"), FX_S("from", "ordinary")));
    const crm_seg_guest *g = guest(log, 20260701, "g-1");
    assert_int_equal(g->points_expiring, 300);
    assert_int_equal(g->points, 350);
    assert_int_equal(guest(log, 20260601, "g-1")->points_expiring, 0);
    assert_int_equal(guest(log, 20260721, "g-1")->points_expiring, 0);
    assert_string_equal(members(log, 20260701, "points_expiring"), "g-1");
    assert_string_equal(members(log, 20260701, "points_expiring >= 301"), "");
    assert_string_equal(members(log, 20260701, "tier = \"gold\""), "g-2");
    rebuild_identical(log);
    crm_log_close(log);
}

/* --- the language ------------------------------------------------------------ */

static void
bad(const char *filter, size_t column, const char *token, const char *words)
{
    static const uint8_t key[CRM_PROJ_INDEX_KEY_LEN] = {1};
    crm_segfilter *f = NULL;
    crm_segfilter_error err;
    if (crm_segfilter_parse(filter, strlen(filter), key, &f, &err) == 0)
        fail_msg("'%s' parsed", filter);
    assert_null(f);
    if (err.column != column || strcmp(err.token, token) != 0)
        fail_msg("'%s': column %zu token '%s' (%s), not %zu '%s'", filter,
                 err.column, err.token, err.message, column, token);
    if (strstr(err.message, words) == NULL)
        fail_msg("'%s': message '%s' lacks '%s'", filter, err.message, words);
}

static void
test_bad_filters_point_at_the_token(void **state)
{
    (void)state;
    bad("", 1, "", "empty");
    bad("nigths_12m >= 10", 1, "nigths_12m", "unknown field");
    bad("nights_12m >= 10 and property = lisbon", 33, "lisbon",
        "expected a \"string\"");
    bad("stays >= \"two\"", 10, "\"two\"", "expected an integer");
    bad("stays >= 1 and", 15, "", "end of the filter");
    bad("lifecycle = \"sleeping\"", 13, "\"sleeping\"", "dormant");
    bad("property < \"x\"", 10, "<", "= or != only");
    bad("(stays > 1", 11, "", "expected ')'");
    bad("stays > 1 stays", 11, "stays", "expected 'and'");
    bad("consent.fax.marketing", 1, "consent.fax.marketing", "channel");
    bad("stays ! 1", 7, "!", "expected an operator");
    bad("stays > 1 & nights > 2", 11, "&", "expected 'and'");
    bad("diet = \"halal", 8, "\"halal", "not understood");
    bad("stays 1", 7, "1", "expected an operator");

    static const uint8_t key[CRM_PROJ_INDEX_KEY_LEN] = {1};
    crm_segfilter *f;
    crm_segfilter_error err;
    const char *ok = "NOT (stays = 0) AND (value = \"high\" Or rfm_r >= 4) "
                     "and tier = \"gold\" and points_expiring > 0";
    assert_int_equal(crm_segfilter_parse(ok, strlen(ok), key, &f, &err), 0);
    assert_int_equal(crm_segfilter_needs(f), CRM_SEG_NEED_ALL);
    crm_segfilter_free(f);
    assert_int_equal(
        crm_segfilter_parse("stays > 1", 9, key, &f, &err), 0);
    assert_int_equal(crm_segfilter_needs(f), 0);
    crm_segfilter_free(f);
}

/* --- definitions -------------------------------------------------------------- */

typedef struct listed {
    char text[512];
} listed;

static int
def_each(void *arg, const crm_seg_def *d)
{
    listed *l = arg;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof(l->text) - n, "%.*s=%.*s/%.*s;",
             (int)d->name_len, d->name, (int)d->filter_len, d->filter,
             (int)d->description_len, d->description);
    return 0;
}

static int
defs_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    (void)position;
    return crm_segment_defs(txn, dbi[2], def_each, arg);
}

static const char *
definitions(crm_log *log)
{
    static listed l;
    memset(&l, 0, sizeof(l));
    crm_error why;
    if (crm_log_proj_read(log, "segment", defs_fn, &l, &why) != CRM_OK)
        fail_msg("defs: %s", why.msg);
    return l.text;
}

static void
define(crm_log *log, const char *name, const char *filter, const char *desc)
{
    if (desc)
        fx_log_append1(log, CRM_TENANT_STREAM, "tenant.segment_defined",
                AT(20260101, 0),
                FX_BODY(FX_S("name", name), FX_S("filter", filter),
                        FX_S("description", desc)));
    else
        fx_log_append1(log, CRM_TENANT_STREAM, "tenant.segment_defined",
                AT(20260101, 0),
                FX_BODY(FX_S("name", name), FX_S("filter", filter)));
}

static void
test_definitions_replace_and_drop(void **state)
{
    (void)state;
    crm_log *log = open_log("seg-defs");
    define(log, "vip", "spend > 100", "big spenders");
    define(log, "halal", "diet = \"halal\"", NULL);
    assert_string_equal(definitions(log),
                        "halal=diet = \"halal\"/;vip=spend > 100/big spenders;");
    define(log, "vip", "spend > 500", NULL);
    fx_log_append1(log, CRM_TENANT_STREAM, "tenant.segment_dropped", AT(20260102, 0),
            FX_BODY(FX_S("name", "halal")));
    fx_log_append1(log, CRM_TENANT_STREAM, "tenant.segment_dropped", AT(20260102, 0),
            FX_BODY(FX_S("name", "never-defined")));
    assert_string_equal(definitions(log), "vip=spend > 500/;");
    rebuild_identical(log);
    assert_string_equal(definitions(log), "vip=spend > 500/;");
    crm_log_close(log);
}

/* --- erasure and what is stored ----------------------------------------------- */

typedef struct needle {
    const char *s;
    size_t hits, rows, aux_of_g1;
} needle;

static int
needle_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    needle *n = arg;
    (void)position;
    for (int d = 0; d < 2; d++) {
        MDB_cursor *cur;
        int rc = mdb_cursor_open(txn, dbi[d], &cur);
        if (rc != 0)
            return rc;
        MDB_val k, v;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            size_t l = strlen(n->s);
            if (memmem(k.mv_data, k.mv_size, n->s, l) ||
                memmem(v.mv_data, v.mv_size, n->s, l))
                n->hits++;
            if (d == 0)
                n->rows++;
            if (d == 1 && k.mv_size > 4 && memcmp(k.mv_data, "g-1", 4) == 0)
                n->aux_of_g1++;
        }
        mdb_cursor_close(cur);
    }
    return 0;
}

static needle *
look(crm_log *log, const char *s)
{
    static needle n;
    memset(&n, 0, sizeof(n));
    n.s = s;
    crm_error why;
    if (crm_log_proj_read(log, "segment", needle_fn, &n, &why) != CRM_OK)
        fail_msg("look: %s", why.msg);
    return &n;
}

static void
test_erased_guest_leaves_every_segment(void **state)
{
    (void)state;
    crm_log *log = open_log("seg-erase");
    registered(log, "g-1", 20260101, "lisbon");
    registered(log, "g-2", 20260101, NULL);
    checkout(log, "g-1", "s1", "lisbon", 2, 20260110);
    preference(log, "g-1", "diet", "halal", AT(20260102, 0));
    consent(log, "g-1", "email", 1, AT(20260102, 0));
    fx_log_append1(log, "g-1", "complaint.opened", AT(20260111, 0),
            FX_BODY(FX_S("complaint_id", "c1"), FX_S("category", "noise")));
    /* no plaintext value in the rows */
    assert_int_equal(look(log, "halal")->hits, 0);
    assert_int_equal(look(log, "lisbon")->hits, 0);
    assert_int_equal(look(log, "Ana")->hits, 0);
    assert_int_equal(look(log, "x")->aux_of_g1, 2); /* consent, complaint */
    assert_string_equal(members(log, 20260201, "diet = \"halal\""), "g-1");
    assert_string_equal(members(log, 20260201, "stays >= 0"), "g-1,g-2");

    fx_log_append1(log, "g-1", "customer.erased", AT(20260301, 0),
            FX_BODY(FX_S("reason", "gdpr")));
    /* later events of the guest are ignored */
    checkout(log, "g-1", "s2", "lisbon", 2, 20260310);
    assert_string_equal(members(log, 20260401, "stays >= 0"), "g-2");
    assert_string_equal(members(log, 20260401, "diet = \"halal\""), "");
    assert_string_equal(members(log, 20260401, "not stays = 99"), "g-2");
    needle *n = look(log, "x");
    assert_int_equal(n->aux_of_g1, 0);
    assert_int_equal(n->rows, 2); /* g-2 and g-1's marker */
    rebuild_identical(log);
    crm_log_close(log);
}

/* --- order independence --------------------------------------------------------- */

static int
dump_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    msgpack_sbuffer *sb = arg;
    (void)position;
    for (int d = 0; d < 3; d++) {
        MDB_cursor *cur;
        int rc = mdb_cursor_open(txn, dbi[d], &cur);
        if (rc != 0)
            return rc;
        MDB_val k, v;
        msgpack_sbuffer_write(sb, "|", 1);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            uint32_t len[2] = {(uint32_t)k.mv_size, (uint32_t)v.mv_size};
            msgpack_sbuffer_write(sb, (const char *)len, sizeof(len));
            msgpack_sbuffer_write(sb, k.mv_data, k.mv_size);
            /* preference values are HMACs under each log's own index
             * key: the same value gives other bytes in another log */
            uint8_t row[1024];
            memcpy(row, v.mv_data, v.mv_size < sizeof(row) ? v.mv_size : 0);
            if (d == 0 && v.mv_size > 151 && v.mv_size < sizeof(row))
                for (size_t i = 0; i < row[150]; i++)
                    memset(row + 151 + 8 * row[149] + 32 * i + 8, 0, 16);
            msgpack_sbuffer_write(sb, (const char *)row, v.mv_size);
        }
        mdb_cursor_close(cur);
        if (rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

typedef struct ev {
    const char *g, *type;
    uint32_t day;
    int h;
    fx_kv kv[3];
    size_t n;
} ev;

static const ev seqv[] = {
    {"g-a", "customer.registered", 20260101, 0,
     {FX_S("first_name", "A"), FX_S("last_name", "B"),
      FX_S("home_property", "lisbon")}, 3},
    {"g-a", "stay.checked_out", 20260110, 0,
     {FX_S("stay_id", "1"), FX_S("property", "lisbon"), FX_I("nights", 2)}, 3},
    {"g-a", "stay.checked_out", 20240110, 0,
     {FX_S("stay_id", "0"), FX_S("property", "faro"), FX_I("nights", 9)}, 3},
    {"g-a", "stay.checked_out", 20260610, 0,
     {FX_S("stay_id", "2"), FX_S("property", "porto"), FX_I("nights", 1)}, 3},
    {"g-a", "customer.preference_set", 20260105, 0,
     {FX_S("category", "diet"), FX_S("value", "halal")}, 2},
    {"g-a", "customer.preference_set", 20260106, 0,
     {FX_S("category", "diet"), FX_S("value", "kosher")}, 2},
    {"g-a", "customer.consent_changed", 20260105, 0,
     {FX_S("channel", "email"), FX_B("granted", 1)}, 2},
    {"g-a", "customer.consent_changed", 20260107, 0,
     {FX_S("channel", "email"), FX_B("granted", 0)}, 2},
    {"g-a", "complaint.opened", 20260201, 0,
     {FX_S("complaint_id", "c"), FX_S("category", "noise")}, 2},
    {"g-a", "complaint.resolved", 20260202, 0, {FX_S("complaint_id", "c")}, 1},
    {"g-a", "feedback.survey_submitted", 20260301, 0, {FX_I("nps", 3)}, 1},
    {"g-a", "feedback.survey_submitted", 20260302, 0, {FX_I("nps", 9)}, 1},
    {"g-b", "booking.created", 20260401, 0,
     {FX_S("booking_id", "b"), FX_S("property", "lisbon"),
      FX_S("arrival", "2026-05-01")}, 3},
    {"g-b", "spend.recorded", 20260402, 0,
     {FX_I("amount", 1234), FX_S("currency", "EUR"),
      FX_S("category", "spa")}, 3},
    {"g-c", "customer.registered", 20260101, 0,
     {FX_S("first_name", "C"), FX_S("last_name", "D")}, 2},
    {"g-c", "customer.erased", 20260201, 0, {FX_S("reason", "gdpr")}, 1},
};
#define NSEQ (sizeof(seqv) / sizeof(seqv[0]))

static void
apply_seq(crm_log *log, int reverse)
{
    for (size_t j = 0; j < NSEQ; j++) {
        /* an erasure is the last of its guest in either order */
        size_t i = reverse ? NSEQ - 2 - j : j;
        if (reverse && j == NSEQ - 1)
            i = NSEQ - 1;
        const ev *e = &seqv[i];
        if (strcmp(e->type, "booking.created") == 0)
            fx_log_append1(log, e->g, e->type, AT(e->day, e->h),
                    FX_BODY(e->kv[0], e->kv[1], e->kv[2],
                            FX_S("departure", "2026-05-02")));
        else
            fx_log_append1(log, e->g, e->type, AT(e->day, e->h),
                    fx_body(e->kv, e->n));
    }
}

static void
test_two_orders_identical(void **state)
{
    (void)state;
    crm_log *a = open_log("seg-order-a"), *b = open_log("seg-order-b");
    apply_seq(a, 0);
    apply_seq(b, 1);
    msgpack_sbuffer x, y;
    msgpack_sbuffer_init(&x);
    msgpack_sbuffer_init(&y);
    crm_error why;
    assert_int_equal(crm_log_proj_read(a, "segment", dump_fn, &x, &why),
                     CRM_OK);
    assert_int_equal(crm_log_proj_read(b, "segment", dump_fn, &y, &why),
                     CRM_OK);
    assert_true(x.size > 200);
    assert_int_equal(x.size, y.size);
    assert_memory_equal(x.data, y.data, x.size);
    msgpack_sbuffer_destroy(&x);
    msgpack_sbuffer_destroy(&y);
    const crm_seg_guest *g = guest(a, 20260701, "g-a");
    assert_int_equal(g->stays, 3);
    assert_int_equal(g->nights_12m, 3); /* 2024 is outside the ring */
    assert_int_equal(g->nprops, 3);
    assert_int_equal(g->consent, 0);
    assert_int_equal(g->open_complaints, 0);
    assert_int_equal(g->nps_last, 9);
    assert_string_equal(members(a, 20260701, "diet = \"kosher\""), "g-a");
    assert_string_equal(members(b, 20260701, "diet = \"kosher\""), "g-a");
    rebuild_identical(a);
    rebuild_identical(b);
    crm_log_close(a);
    crm_log_close(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_folds_everything),
        cmocka_unit_test(test_lifecycle_moves_with_the_day),
        cmocka_unit_test(test_rfm_and_value),
        cmocka_unit_test(test_loyalty_tier_and_expiring),
        cmocka_unit_test(test_bad_filters_point_at_the_token),
        cmocka_unit_test(test_definitions_replace_and_drop),
        cmocka_unit_test(test_erased_guest_leaves_every_segment),
        cmocka_unit_test(test_two_orders_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
