/* manager_test.c - what a hotel's managers and marketing read, end to end
 * against a real crmd over NNG: kpi.get for the tenant and for one
 * property over a range of months (NPS, CSAT, repeat stays, refunds and
 * revenue in the base currency, lifetime value, complaint resolution,
 * booking conversion, campaigns), the totals kept through an erasure, and
 * bad ranges and scopes refused with a clear code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crmd_fixture.h"
#include "rpc.h"

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];

static crm_client *
as(crm_role r)
{
    return fx_client(&D, D.url, K[r]);
}

/* µs of a UTC moment */
static int64_t
at(int y, int mo, int d, int h, int mi)
{
    struct tm t = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                   .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&t) * 1000000;
}

static void
ev(crm_event_in *e, const char *stream, const char *type, int64_t when,
   const msgpack_object *body)
{
    fx_event(e, stream, type, body);
    e->occurred_at = when;
}

static int
set_usd_rate(void)
{
    crm_client *a = as(CRM_ROLE_ADMIN);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    const msgpack_object *res;
    crm_error why;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    crm_mp_pack_cstr(&pk, "effective_from");
    crm_mp_pack_cstr(&pk, "2020-01-01");
    crm_mp_pack_cstr(&pk, "rates");
    msgpack_pack_map(&pk, 1);
    crm_mp_pack_cstr(&pk, "USD");
    crm_mp_pack_cstr(&pk, "0.9");
    crm_err err =
        crm_client_call_raw(a, "settings.set", sb.data, sb.size, &res, &why);
    msgpack_sbuffer_destroy(&sb);
    crm_client_close(a);
    if (err != CRM_OK)
        fprintf(stderr, "settings.set: %s\n", why.msg);
    return err == CRM_OK ? 0 : -1;
}

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 0, NULL) != 0 || fx_tenant(&D, "riviera", K) != 0 ||
        set_usd_rate() != 0)
        return -1;
    crm_event_in e[20];
    size_t n = 0;
    /* January: a guest at each property, a promoter and a detractor */
    ev(&e[n++], "g1", "stay.checked_out", at(2026, 1, 10, 11, 0),
       FX_BODY(FX_S("stay_id", "S1"), FX_S("property", "lisbon"),
               FX_I("nights", 3)));
    ev(&e[n++], "g1", "spend.recorded", at(2026, 1, 10, 11, 5),
       FX_BODY(FX_I("amount", 20000), FX_S("currency", "EUR"),
               FX_S("category", "room"), FX_S("property", "lisbon")));
    ev(&e[n++], "g1", "feedback.survey_submitted", at(2026, 1, 11, 9, 0),
       FX_BODY(FX_S("property", "lisbon"), FX_I("nps", 10), FX_I("csat", 5)));
    ev(&e[n++], "g2", "stay.checked_out", at(2026, 1, 20, 11, 0),
       FX_BODY(FX_S("stay_id", "S2"), FX_S("property", "porto"),
               FX_I("nights", 2)));
    ev(&e[n++], "g2", "spend.recorded", at(2026, 1, 20, 11, 5),
       FX_BODY(FX_I("amount", 10000), FX_S("currency", "USD"),
               FX_S("category", "room"), FX_S("property", "porto")));
    ev(&e[n++], "g2", "feedback.survey_submitted", at(2026, 1, 21, 9, 0),
       FX_BODY(FX_S("property", "porto"), FX_I("nps", 3), FX_I("csat", 2)));
    /* February: g1 comes back (a repeat stay) and is refunded; g3 books
     * twice and arrives on one booking in March; a complaint is resolved
     * in five and a half hours; a campaign goes out */
    ev(&e[n++], "g1", "stay.checked_out", at(2026, 2, 5, 11, 0),
       FX_BODY(FX_S("stay_id", "S3"), FX_S("property", "lisbon"),
               FX_I("nights", 1)));
    ev(&e[n++], "g1", "spend.recorded", at(2026, 2, 5, 12, 0),
       FX_BODY(FX_I("amount", -5000), FX_S("currency", "EUR"),
               FX_S("category", "room"), FX_S("property", "lisbon")));
    ev(&e[n++], "g3", "booking.created", at(2026, 2, 6, 10, 0),
       FX_BODY(FX_S("booking_id", "B3"), FX_S("property", "lisbon"),
               FX_S("arrival", "2026-03-01"), FX_S("departure", "2026-03-03")));
    ev(&e[n++], "g3", "booking.created", at(2026, 2, 6, 10, 5),
       FX_BODY(FX_S("booking_id", "B4"), FX_S("property", "porto"),
               FX_S("arrival", "2026-04-01"), FX_S("departure", "2026-04-03")));
    ev(&e[n++], "g2", "complaint.opened", at(2026, 2, 1, 10, 0),
       FX_BODY(FX_S("complaint_id", "K1"), FX_S("category", "noise"),
               FX_S("property", "porto")));
    ev(&e[n++], "g2", "complaint.resolved", at(2026, 2, 1, 15, 30),
       FX_BODY(FX_S("complaint_id", "K1")));
    ev(&e[n++], "g1", "marketing.message_sent", at(2026, 2, 10, 8, 0),
       FX_BODY(FX_S("campaign", "spring"), FX_S("channel", "email")));
    ev(&e[n++], "g2", "marketing.message_sent", at(2026, 2, 10, 8, 0),
       FX_BODY(FX_S("campaign", "spring"), FX_S("channel", "email")));
    ev(&e[n++], "g1", "marketing.message_opened", at(2026, 2, 11, 8, 0),
       FX_BODY(FX_S("campaign", "spring")));
    /* March */
    ev(&e[n++], "g3", "stay.checked_in", at(2026, 3, 1, 15, 0),
       FX_BODY(FX_S("stay_id", "S4"), FX_S("property", "lisbon"),
               FX_S("booking_id", "B3")));
    ev(&e[n++], "g1", "marketing.message_clicked", at(2026, 3, 2, 8, 0),
       FX_BODY(FX_S("campaign", "spring")));
    crm_client *c = as(CRM_ROLE_AGENT);
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
}

static int
group_teardown(void **state)
{
    (void)state;
    int rc = fx_crmd_stop_clean(&D);
    fx_crmd_cleanup(&D);
    fx_reset();
    return rc;
}

static const msgpack_object *
kpi(crm_client *c, const char *property, const char *from, const char *to)
{
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[3];
    size_t n = 0;
    if (property)
        kv[n++] = (fx_kv)FX_S("property", property);
    if (from)
        kv[n++] = (fx_kv)FX_S("from", from);
    if (to)
        kv[n++] = (fx_kv)FX_S("to", to);
    crm_err err = fx_call_kv(c, "kpi.get", kv, n, &res, &why);
    if (err != CRM_OK)
        fail_msg("kpi.get: %s: %s", crm_err_name(err), why.msg);
    return res;
}

static const msgpack_object *
month(const msgpack_object *res, uint32_t i)
{
    const msgpack_object *m = crm_mp_get(res, "months");
    assert_non_null(m);
    assert_int_equal(m->type, MSGPACK_OBJECT_ARRAY);
    assert_true(i < m->via.array.size);
    return &m->via.array.ptr[i];
}

static int64_t
i64(const msgpack_object *row, const char *k)
{
    const msgpack_object *o = crm_mp_get(row, k);
    if (o == NULL)
        fail_msg("no '%s'", k);
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (int64_t)o->via.u64;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return o->via.i64;
    fail_msg("'%s' is not an integer (type %d)", k, o->type);
    return 0;
}

static double
f64(const msgpack_object *row, const char *k)
{
    const msgpack_object *o = crm_mp_get(row, k);
    if (o == NULL ||
        (o->type != MSGPACK_OBJECT_FLOAT64 && o->type != MSGPACK_OBJECT_FLOAT32))
        fail_msg("'%s' is not a number", k);
    return o->via.f64;
}

static int
is_nil(const msgpack_object *row, const char *k)
{
    const msgpack_object *o = crm_mp_get(row, k);
    return o != NULL && o->type == MSGPACK_OBJECT_NIL;
}

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void
test_tenant_months(void **state)
{
    (void)state;
    crm_client *m = as(CRM_ROLE_MARKETING);
    const msgpack_object *r = kpi(m, NULL, "2026-01", "2026-03");
    char buf[16];
    assert_true(is_nil(r, "property"));
    assert_string_equal(fx_res_str(r, "from", buf, sizeof(buf)), "2026-01");
    assert_string_equal(fx_res_str(r, "to", buf, sizeof(buf)), "2026-03");
    assert_string_equal(fx_res_str(r, "base_currency", buf, sizeof(buf)),
                        "EUR");
    assert_int_equal(crm_mp_get(r, "months")->via.array.size, 3);

    const msgpack_object *jan = month(r, 0);
    assert_string_equal(fx_res_str(jan, "month", buf, sizeof(buf)), "2026-01");
    assert_int_equal(i64(jan, "surveys"), 2);
    NEAR(f64(jan, "nps"), 0.0);
    NEAR(f64(jan, "csat_average"), 3.5);
    assert_int_equal(i64(jan, "stays"), 2);
    assert_int_equal(i64(jan, "nights"), 5);
    NEAR(f64(jan, "repeat_rate"), 0.0);
    assert_int_equal(i64(jan, "orders"), 2);
    /* 200.00 EUR and 100.00 USD at 0.9 */
    assert_int_equal(i64(jan, "order_value"), 29000);
    assert_int_equal(i64(jan, "average_order_value"), 14500);
    assert_int_equal(i64(jan, "lifetime_value"), 14500);

    const msgpack_object *feb = month(r, 1);
    assert_int_equal(i64(feb, "stays"), 1);
    assert_int_equal(i64(feb, "repeaters"), 1);
    NEAR(f64(feb, "repeat_rate"), 1.0);
    assert_int_equal(i64(feb, "refunds"), 1);
    assert_int_equal(i64(feb, "refund_value"), 5000);
    assert_int_equal(i64(feb, "revenue"), -5000);
    assert_true(is_nil(feb, "average_order_value"));
    assert_int_equal(i64(feb, "bookings"), 2);
    assert_int_equal(i64(feb, "bookings_converted"), 1);
    NEAR(f64(feb, "conversion_rate"), 0.5);
    assert_int_equal(i64(feb, "complaints_opened"), 1);
    assert_int_equal(i64(feb, "complaints_resolved"), 1);
    assert_int_equal(i64(feb, "median_resolution_hours"), 5);
    assert_int_equal(i64(feb, "messages_sent"), 2);
    assert_int_equal(i64(feb, "messages_opened"), 1);
    assert_true(is_nil(feb, "nps"));

    const msgpack_object *mar = month(r, 2);
    assert_int_equal(i64(mar, "messages_clicked"), 1);
    assert_int_equal(i64(mar, "stays"), 0);

    const msgpack_object *t = crm_mp_get(r, "totals");
    assert_non_null(t);
    assert_int_equal(i64(t, "stays"), 3);
    assert_int_equal(i64(t, "stayers"), 3);
    assert_int_equal(i64(t, "repeaters"), 1);
    assert_int_equal(i64(t, "revenue"), 24000);
    /* 240.00 EUR over the two guests who ordered */
    assert_int_equal(i64(t, "spenders_to_date"), 2);
    assert_int_equal(i64(t, "lifetime_value"), 12000);
    const msgpack_object *camp = crm_mp_get(t, "campaigns");
    assert_non_null(camp);
    assert_int_equal(camp->via.array.size, 1);
    const msgpack_object *s = &camp->via.array.ptr[0];
    assert_string_equal(fx_res_str(s, "campaign", buf, sizeof(buf)), "spring");
    assert_int_equal(i64(s, "sent"), 2);
    assert_int_equal(i64(s, "opened"), 1);
    assert_int_equal(i64(s, "clicked"), 1);

    /* the properties with KPIs, by name, with their months */
    const msgpack_object *p = crm_mp_get(r, "properties");
    assert_non_null(p);
    assert_int_equal(p->via.array.size, 2);
    assert_string_equal(
        fx_res_str(&p->via.array.ptr[0], "property", buf, sizeof(buf)),
        "lisbon");
    assert_string_equal(
        fx_res_str(&p->via.array.ptr[0], "first", buf, sizeof(buf)),
        "2026-01");
    assert_string_equal(
        fx_res_str(&p->via.array.ptr[1], "property", buf, sizeof(buf)),
        "porto");
    assert_true(fx_res_u64(r, "as_of") > 0);
    crm_client_close(m);
}

static void
test_property(void **state)
{
    (void)state;
    crm_client *f = as(CRM_ROLE_FINANCE);
    const msgpack_object *r = kpi(f, "lisbon", "2026-01", "2026-03");
    char buf[16];
    assert_string_equal(fx_res_str(r, "property", buf, sizeof(buf)), "lisbon");
    const msgpack_object *t = crm_mp_get(r, "totals");
    assert_int_equal(i64(t, "stays"), 2);
    assert_int_equal(i64(t, "nights"), 4);
    NEAR(f64(t, "nps"), 100.0);
    assert_int_equal(i64(t, "revenue"), 15000);
    assert_int_equal(i64(t, "bookings"), 1);
    assert_int_equal(i64(t, "bookings_converted"), 1);
    assert_int_equal(i64(t, "complaints_opened"), 0);
    assert_int_equal(crm_mp_get(t, "campaigns")->via.array.size, 0);

    r = kpi(f, "porto", "2026-02", "2026-02");
    t = crm_mp_get(r, "totals");
    assert_int_equal(i64(t, "complaints_resolved"), 1);
    assert_int_equal(i64(t, "median_resolution_hours"), 5);
    assert_int_equal(i64(t, "bookings"), 1);
    assert_int_equal(i64(t, "bookings_converted"), 0);
    /* porto's one guest ordered in January: to date, 90.00 EUR */
    assert_int_equal(i64(t, "lifetime_value"), 9000);

    /* a property nobody has been to: zeros, not an error */
    r = kpi(f, "faro", "2026-01", "2026-01");
    assert_int_equal(i64(crm_mp_get(r, "totals"), "stays"), 0);

    /* without a range: the twelve months up to this one */
    r = kpi(f, NULL, NULL, NULL);
    assert_int_equal(crm_mp_get(r, "months")->via.array.size, 12);
    r = kpi(f, NULL, NULL, "2026-03");
    assert_string_equal(fx_res_str(r, "from", buf, sizeof(buf)), "2025-04");
    crm_client_close(f);
}

static void
test_erasure_keeps_totals(void **state)
{
    (void)state;
    crm_client *a = as(CRM_ROLE_ADMIN);
    const msgpack_object *r = kpi(a, NULL, "2026-01", "2026-03");
    const msgpack_object *t = crm_mp_get(r, "totals");
    int64_t stays = i64(t, "stays"), revenue = i64(t, "revenue"),
            ltv = i64(t, "lifetime_value"), sent = i64(t, "messages_sent");
    double nps = f64(t, "nps");
    crm_event_in e;
    const msgpack_object *res;
    crm_error why;
    fx_event(&e, "g1", "customer.erased", FX_BODY(FX_S("reason", "gdpr")));
    assert_int_equal(fx_append(a, &e, 1, &res, &why), CRM_OK);
    r = kpi(a, NULL, "2026-01", "2026-03");
    t = crm_mp_get(r, "totals");
    assert_int_equal(i64(t, "stays"), stays);
    assert_int_equal(i64(t, "revenue"), revenue);
    assert_int_equal(i64(t, "lifetime_value"), ltv);
    assert_int_equal(i64(t, "messages_sent"), sent);
    NEAR(f64(t, "nps"), nps);
    crm_client_close(a);
    fx_reset();
}

static void
refused(crm_client *c, const fx_kv *kv, size_t n, crm_err want,
        const char *says)
{
    const msgpack_object *res;
    crm_error why;
    crm_err err = fx_call_kv(c, "kpi.get", kv, n, &res, &why);
    if (err != want)
        fail_msg("kpi.get: got %s (%s), want %s", crm_err_name(err), why.msg,
                 crm_err_name(want));
    if (strstr(why.msg, says) == NULL)
        fail_msg("kpi.get: '%s' does not say '%s'", why.msg, says);
}

static void
test_bad_arguments(void **state)
{
    (void)state;
    crm_client *c = as(CRM_ROLE_ADMIN);
    refused(c, (fx_kv[]){FX_S("from", "2026-13")}, 1, CRM_ERR_BAD_REQUEST,
            "'from' must be a month YYYY-MM");
    refused(c, (fx_kv[]){FX_S("to", "2026-1")}, 1, CRM_ERR_BAD_REQUEST,
            "'to' must be a month");
    refused(c, (fx_kv[]){FX_S("to", "2026-01-01")}, 1, CRM_ERR_BAD_REQUEST,
            "'to' must be a month YYYY-MM");
    refused(c, (fx_kv[]){FX_I("from", 202601)}, 1, CRM_ERR_BAD_REQUEST,
            "from");
    refused(c, (fx_kv[]){FX_S("from", "2026-04"), FX_S("to", "2026-03")}, 2,
            CRM_ERR_BAD_REQUEST, "'from' is after 'to'");
    refused(c, (fx_kv[]){FX_S("from", "2016-03"), FX_S("to", "2026-03")}, 2,
            CRM_ERR_TOO_LARGE, "at most 120 months");
    refused(c, (fx_kv[]){FX_S("property", "")}, 1, CRM_ERR_BAD_REQUEST,
            "'property'");
    char longname[80];
    memset(longname, 'p', 65);
    longname[65] = '\0';
    refused(c, (fx_kv[]){FX_S("property", longname)}, 1, CRM_ERR_TOO_LARGE,
            "property");
    /* 120 months is the most, and it is answered */
    const msgpack_object *r = kpi(c, NULL, "2016-04", "2026-03");
    assert_int_equal(crm_mp_get(r, "months")->via.array.size, 120);
    crm_client_close(c);
}

static const msgpack_object *
churn(crm_client *c, const char *property, const char *on)
{
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[3] = {FX_B("churn_risk", 1), FX_S("on", on)};
    size_t n = 2;
    if (property)
        kv[n++] = (fx_kv)FX_S("property", property);
    crm_err err = fx_call_kv(c, "kpi.get", kv, n, &res, &why);
    if (err != CRM_OK)
        fail_msg("kpi.get: %s: %s", crm_err_name(err), why.msg);
    const msgpack_object *r = crm_mp_get(res, "churn_risk");
    assert_non_null(r);
    assert_int_equal(r->type, MSGPACK_OBJECT_MAP);
    return r;
}

/* The churn-risk count is of the day asked, from the segment rows: on 31
 * March g1 (two stays 26 days apart, the last 54 days ago) scores 40
 * (medium), g2 (one stay 70 days ago of 180, last NPS 3) 16 + 11 = 27
 * and g3 (no stay, never registered) 0 (both low). */
static void
test_churn_risk(void **state)
{
    (void)state;
    crm_client *c = as(CRM_ROLE_MARKETING);
    const msgpack_object *r = churn(c, NULL, "2026-03-31");
    char buf[16];
    assert_string_equal(fx_res_str(r, "on", buf, sizeof(buf)), "2026-03-31");
    assert_int_equal(i64(r, "guests"), 3);
    assert_int_equal(i64(r, "high"), 0);
    assert_int_equal(i64(r, "medium"), 1);
    assert_int_equal(i64(r, "low"), 2);
    /* a year on, recency is full and no stay in the last twelve months
     * against some in the twelve before: g1 40 + 20, g2 40 + 20 + 11 */
    r = churn(c, NULL, "2027-03-31");
    assert_int_equal(i64(r, "high"), 2);
    assert_int_equal(i64(r, "medium"), 0);
    assert_int_equal(i64(r, "low"), 1);
    /* a property counts the guests who stayed there */
    r = churn(c, "lisbon", "2026-03-31");
    assert_int_equal(i64(r, "guests"), 1);
    assert_int_equal(i64(r, "medium"), 1);
    r = churn(c, "porto", "2026-03-31");
    assert_int_equal(i64(r, "guests"), 1);
    assert_int_equal(i64(r, "low"), 1);
    /* without the flag there is no churn_risk, and it must be a boolean */
    assert_null(crm_mp_get(kpi(c, NULL, "2026-01", "2026-03"), "churn_risk"));
    refused(c, (fx_kv[]){FX_S("churn_risk", "yes")}, 1, CRM_ERR_BAD_REQUEST,
            "churn_risk");
    crm_client_close(c);
}

/* A crmd that keeps no kpi projection says so. */
static void
test_without_projection(void **state)
{
    (void)state;
    static const char *const flags[] = {"--projections", "settings", NULL};
    fx_crmd d2;
    char k2[CRM_ROLE__COUNT][128];
    assert_int_equal(fx_crmd_start(&d2, 0, flags), 0);
    assert_int_equal(fx_tenant(&d2, "plain", k2), 0);
    crm_client *c = fx_client(&d2, d2.url, k2[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(fx_call_kv(c, "kpi.get", NULL, 0, &res, &why),
                     CRM_ERR_UNAVAILABLE);
    assert_non_null(strstr(why.msg, "'kpi'"));
    crm_client_close(c);
    assert_int_equal(fx_crmd_stop_clean(&d2), 0);
    fx_crmd_cleanup(&d2);

    /* kpi without segment: the sums, but no churn-risk count */
    static const char *const kpi_only[] = {"--projections", "settings,kpi",
                                           NULL};
    assert_int_equal(fx_crmd_start(&d2, 0, kpi_only), 0);
    assert_int_equal(fx_tenant(&d2, "plain", k2), 0);
    c = fx_client(&d2, d2.url, k2[CRM_ROLE_ADMIN]);
    assert_int_equal(fx_call_kv(c, "kpi.get", NULL, 0, &res, &why), CRM_OK);
    assert_int_equal(fx_call_kv(c, "kpi.get",
                                (fx_kv[]){FX_B("churn_risk", 1)}, 1, &res,
                                &why),
                     CRM_ERR_UNAVAILABLE);
    assert_non_null(strstr(why.msg, "segment"));
    crm_client_close(c);
    assert_int_equal(fx_crmd_stop_clean(&d2), 0);
    fx_crmd_cleanup(&d2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_months),
        cmocka_unit_test(test_property),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_churn_risk),
        cmocka_unit_test(test_erasure_keeps_totals),
        cmocka_unit_test(test_without_projection),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
