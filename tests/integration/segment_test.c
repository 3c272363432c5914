/* segment_test.c - marketing's segments end to end against a real crmd
 * over NNG: a segment defined by the marketing role and its members
 * (nights in 12 months, a property visited, a halal diet compared as
 * blind keys, e-mail marketing consent), membership moving with the day
 * asked, built-in counts per lifecycle and frequency on two days, a bad
 * filter refused with the column and token it stumbled on and nothing
 * written, a redefinition and a drop, paging by cursor through 33
 * members, the roles, the export of consented e-mail addresses, and an
 * erased guest gone from every segment and export. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crmd_fixture.h"
#include "rpc.h"

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];

#define FILTER                                                                 \
    "nights_12m >= 10 and property = \"lisbon\" and diet = \"halal\" and "     \
    "consent.email.marketing"

static crm_client *
as(crm_role r)
{
    return fx_client(&D, D.url, K[r]);
}

static int64_t
at(int y, int mo, int d)
{
    struct tm t = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                   .tm_hour = 11};
    return (int64_t)timegm(&t) * 1000000;
}

static void
ev(crm_event_in *e, const char *stream, const char *type, int64_t when,
   const msgpack_object *body)
{
    fx_event(e, stream, type, body);
    e->occurred_at = when;
}

static void
stay(crm_event_in *e, const char *g, const char *sid, const char *prop,
     int nights, int64_t when)
{
    ev(e, g, "stay.checked_out", when,
       FX_BODY(FX_S("stay_id", sid), FX_S("property", prop),
               FX_I("nights", nights)));
}

static void
diet(crm_event_in *e, const char *g, const char *v)
{
    ev(e, g, "customer.preference_set", at(2026, 1, 2),
       FX_BODY(FX_S("category", "diet"), FX_S("value", v)));
}

static void
email_ok(crm_event_in *e, const char *g)
{
    ev(e, g, "customer.consent_changed", at(2026, 1, 2),
       FX_BODY(FX_S("channel", "email"), FX_B("granted", 1),
               FX_S("purpose", "marketing")));
}

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 0, NULL) != 0 || fx_tenant(&D, "riviera", K) != 0)
        return -1;
    crm_event_in e[64];
    size_t n = 0;
    /* ana: 11 nights at lisbon, halal, e-mail consent: the one member */
    ev(&e[n++], "ana", "customer.registered", at(2026, 1, 1),
       FX_BODY(FX_S("first_name", "Ana"), FX_S("last_name", "Silva"),
               FX_S("email", "ana.silva@example.com"),
               FX_S("language", "pt")));
    stay(&e[n++], "ana", "a1", "lisbon", 6, at(2026, 1, 10));
    stay(&e[n++], "ana", "a2", "lisbon", 5, at(2026, 3, 10));
    diet(&e[n++], "ana", " HALAL");
    email_ok(&e[n++], "ana");
    /* each of the others misses one condition */
    stay(&e[n++], "bob", "b1", "lisbon", 12, at(2026, 2, 1));
    diet(&e[n++], "bob", "vegan");
    email_ok(&e[n++], "bob");
    ev(&e[n++], "cid", "customer.registered", at(2026, 1, 1),
       FX_BODY(FX_S("first_name", "Cid"), FX_S("last_name", "Moreno"),
               FX_S("email", "cid@example.com")));
    stay(&e[n++], "cid", "c1", "porto", 12, at(2026, 3, 1));
    diet(&e[n++], "cid", "halal");
    email_ok(&e[n++], "cid");
    stay(&e[n++], "dan", "d1", "lisbon", 12, at(2026, 3, 1));
    diet(&e[n++], "dan", "halal");
    ev(&e[n++], "eve", "customer.registered", at(2026, 3, 25),
       FX_BODY(FX_S("first_name", "Eve"), FX_S("last_name", "Ng")));
    /* 30 first-timers at faro */
    static char ids[30][8], sids[30][8];
    for (int i = 0; i < 30; i++) {
        snprintf(ids[i], sizeof(ids[i]), "p-%02d", i);
        snprintf(sids[i], sizeof(sids[i]), "s%02d", i);
        stay(&e[n++], ids[i], sids[i], "faro", 1, at(2026, 1, 15));
    }
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

/* --- helpers ------------------------------------------------------------------ */

static const msgpack_object *
call(crm_client *c, const char *op, const fx_kv *kv, size_t n)
{
    const msgpack_object *res;
    crm_error why;
    crm_err err = fx_call_kv(c, op, kv, n, &res, &why);
    if (err != CRM_OK)
        fail_msg("%s: %s: %s", op, crm_err_name(err), why.msg);
    return res;
}

static crm_err
call_err(crm_client *c, const char *op, const fx_kv *kv, size_t n,
         crm_error *why)
{
    const msgpack_object *res;
    return fx_call_kv(c, op, kv, n, &res, why);
}

static void
define(crm_client *c, const char *name, const char *filter)
{
    fx_kv kv[] = {FX_S("name", name), FX_S("filter", filter),
                  FX_S("description", "for the spring mailing")};
    call(c, "segment.define", kv, 3);
}

/* The ids of segment's members on day (NULL: today), comma-separated,
 * following the cursor in pages of limit; *pages counts them. */
static const char *
members_paged(crm_client *c, const char *key, const char *segment,
              const char *day, int limit, int *pages)
{
    static char out[2048];
    char cursor[160] = "";
    out[0] = '\0';
    *pages = 0;
    for (;;) {
        fx_kv kv[4] = {FX_S(key, segment), FX_I("limit", limit)};
        size_t n = 2;
        if (day)
            kv[n++] = (fx_kv)FX_S("on", day);
        if (cursor[0])
            kv[n++] = (fx_kv)FX_S("cursor", cursor);
        const msgpack_object *res = call(c, "segment.members", kv, n);
        const msgpack_object *m = crm_mp_get(res, "members");
        assert_non_null(m);
        assert_int_equal(m->type, MSGPACK_OBJECT_ARRAY);
        assert_true(m->via.array.size <= (uint32_t)limit);
        (*pages)++;
        for (uint32_t i = 0; i < m->via.array.size; i++) {
            char id[80];
            fx_res_str(&m->via.array.ptr[i], "id", id, sizeof(id));
            size_t l = strlen(out);
            snprintf(out + l, sizeof(out) - l, "%s%s", l ? "," : "", id);
        }
        const msgpack_object *next = crm_mp_get(res, "next");
        assert_non_null(next);
        if (next->type == MSGPACK_OBJECT_NIL) {
            assert_int_equal(crm_mp_get(res, "more")->via.boolean, 0);
            return out;
        }
        assert_int_equal(m->via.array.size, (uint32_t)limit);
        fx_res_str(res, "next", cursor, sizeof(cursor));
        assert_true(*pages < 100);
    }
}

static const char *
members(crm_client *c, const char *segment, const char *day)
{
    int pages;
    return members_paged(c, "segment", segment, day, 1000, &pages);
}

static uint64_t
count_of(const msgpack_object *counts, const char *dim, const char *value)
{
    const msgpack_object *d = crm_mp_get(counts, dim);
    assert_non_null(d);
    uint64_t v = fx_res_u64(d, value);
    if (v == UINT64_MAX)
        fail_msg("counts %s has no %s", dim, value);
    return v;
}

/* --- the journeys -------------------------------------------------------------- */

static void
test_defined_segment_members(void **state)
{
    (void)state;
    crm_client *m = as(CRM_ROLE_MARKETING);
    define(m, "lisbon-halal", FILTER);
    assert_string_equal(members(m, "lisbon-halal", "2026-04-01"), "ana");
    /* time-based: a year after the last stay the 12-month window is
     * empty */
    assert_string_equal(members(m, "lisbon-halal", "2027-06-01"), "");
    /* nothing personal in a member: ids and figures */
    fx_kv kv[] = {FX_S("segment", "lisbon-halal"), FX_S("on", "2026-04-01")};
    const msgpack_object *res = call(m, "segment.members", kv, 2);
    const msgpack_object *a = &crm_mp_get(res, "members")->via.array.ptr[0];
    assert_int_equal(fx_res_u64(a, "nights_12m"), 11);
    assert_int_equal(fx_res_u64(a, "stays"), 2);
    char s[32];
    assert_string_equal(fx_res_str(a, "lifecycle", s, sizeof(s)), "active");
    assert_string_equal(fx_res_str(a, "last_stay", s, sizeof(s)),
                        "2026-03-10");
    assert_null(crm_mp_get(a, "first_name"));
    /* listed with its definition */
    const msgpack_object *l = call(m, "segment.list", NULL, 0);
    const msgpack_object *d = crm_mp_get(l, "defined");
    assert_int_equal(d->via.array.size, 1);
    char f[256];
    assert_string_equal(fx_res_str(&d->via.array.ptr[0], "filter", f,
                                   sizeof(f)),
                        FILTER);
    assert_int_equal(crm_mp_get(l, "builtin")->via.array.size, 9);
    /* an ad-hoc filter, once */
    int pages;
    assert_string_equal(members_paged(m, "filter",
                                      "diet = \"halal\" and not "
                                      "consent.email",
                                      "2026-04-01", 10, &pages),
                        "dan");
    crm_client_close(m);
}

static void
test_builtin_counts_move_with_the_day(void **state)
{
    (void)state;
    crm_client *m = as(CRM_ROLE_MARKETING);
    fx_kv apr[] = {FX_S("on", "2026-04-01")};
    const msgpack_object *c = call(m, "segment.counts", apr, 1);
    assert_int_equal(fx_res_u64(c, "guests"), 35);
    assert_int_equal(count_of(c, "lifecycle", "new"), 1);
    assert_int_equal(count_of(c, "lifecycle", "active"), 34);
    assert_int_equal(count_of(c, "lifecycle", "dormant"), 0);
    assert_int_equal(count_of(c, "frequency", "prospect"), 1);
    assert_int_equal(count_of(c, "frequency", "first_time"), 33);
    assert_int_equal(count_of(c, "frequency", "repeat"), 1);
    assert_int_equal(count_of(c, "tier", "ordinary"), 35);
    assert_int_equal(count_of(c, "defined", "lisbon-halal"), 1);
    /* on September 1st (dormant after 180 days): ana's last stay is 175
     * days back, bob's 212, cid's and dan's 184, the faro guests' 229;
     * eve registered 160 days before */
    fx_kv sep[] = {FX_S("on", "2026-09-01")};
    c = call(m, "segment.counts", sep, 1);
    assert_int_equal(count_of(c, "lifecycle", "active"), 1);
    assert_int_equal(count_of(c, "lifecycle", "dormant"), 33);
    assert_int_equal(count_of(c, "lifecycle", "new"), 1);
    assert_string_equal(members(m, "lifecycle:active", "2026-09-01"), "ana");
    assert_string_equal(members(m, "lifecycle:new", "2026-09-01"), "eve");
    assert_string_equal(members(m, "lifecycle:active", "2026-04-01") + 0,
                        "ana,bob,cid,dan,p-00,p-01,p-02,p-03,p-04,p-05,p-06,"
                        "p-07,p-08,p-09,p-10,p-11,p-12,p-13,p-14,p-15,p-16,"
                        "p-17,p-18,p-19,p-20,p-21,p-22,p-23,p-24,p-25,p-26,"
                        "p-27,p-28,p-29");
    /* a year and a half on the faro guests have churned (> 540 days) */
    assert_string_equal(members(m, "lifecycle:churned", "2027-07-10"),
                        "p-00,p-01,p-02,p-03,p-04,p-05,p-06,p-07,p-08,p-09,"
                        "p-10,p-11,p-12,p-13,p-14,p-15,p-16,p-17,p-18,p-19,"
                        "p-20,p-21,p-22,p-23,p-24,p-25,p-26,p-27,p-28,p-29");
    crm_client_close(m);
}

static void
test_bad_filter_points_at_the_token(void **state)
{
    (void)state;
    crm_client *m = as(CRM_ROLE_MARKETING);
    crm_error why;
    fx_kv kv[] = {FX_S("name", "broken"),
                  FX_S("filter", "nights_12m >= 10 and property = lisbon")};
    assert_int_equal(call_err(m, "segment.define", kv, 2, &why),
                     CRM_ERR_BAD_REQUEST);
    if (strstr(why.msg, "column 33") == NULL ||
        strstr(why.msg, "'lisbon'") == NULL)
        fail_msg("message does not point at the token: %s", why.msg);
    fx_kv kv2[] = {FX_S("name", "broken"), FX_S("filter", "nigths_12m > 1")};
    assert_int_equal(call_err(m, "segment.define", kv2, 2, &why),
                     CRM_ERR_BAD_REQUEST);
    assert_non_null(strstr(why.msg, "unknown field 'nigths_12m'"));
    fx_kv kv3[] = {FX_S("name", "Bad Name"), FX_S("filter", "stays > 1")};
    assert_int_equal(call_err(m, "segment.define", kv3, 2, &why),
                     CRM_ERR_BAD_REQUEST);
    fx_kv kv8[] = {FX_S("name", "points_expiring"), FX_S("filter", "stays > 1")};
    assert_int_equal(call_err(m, "segment.define", kv8, 2, &why),
                     CRM_ERR_BAD_REQUEST);
    /* nothing was written */
    const msgpack_object *l = call(m, "segment.list", NULL, 0);
    assert_int_equal(crm_mp_get(l, "defined")->via.array.size, 1);
    /* the same errors for an ad-hoc filter; unknown segments */
    fx_kv kv4[] = {FX_S("filter", "stays >")};
    assert_int_equal(call_err(m, "segment.members", kv4, 1, &why),
                     CRM_ERR_BAD_REQUEST);
    assert_non_null(strstr(why.msg, "column 8"));
    fx_kv kv5[] = {FX_S("segment", "no-such")};
    assert_int_equal(call_err(m, "segment.members", kv5, 1, &why),
                     CRM_ERR_NOT_FOUND);
    fx_kv kv6[] = {FX_S("segment", "lifecycle:asleep")};
    assert_int_equal(call_err(m, "segment.members", kv6, 1, &why),
                     CRM_ERR_NOT_FOUND);
    fx_kv kv7[] = {FX_S("segment", "lifecycle:new"), FX_S("cursor", "zz")};
    assert_int_equal(call_err(m, "segment.members", kv7, 2, &why),
                     CRM_ERR_BAD_REQUEST);
    crm_client_close(m);
}

static void
test_paging_follows_the_cursor(void **state)
{
    (void)state;
    crm_client *a = as(CRM_ROLE_AGENT);
    int pages;
    const char *all = members_paged(a, "segment", "frequency:first_time",
                                    "2026-04-01", 7, &pages);
    assert_int_equal(pages, 5); /* 7 7 7 7 5 */
    assert_string_equal(all, "bob,cid,dan,p-00,p-01,p-02,p-03,p-04,p-05,p-06,"
                             "p-07,p-08,p-09,p-10,p-11,p-12,p-13,p-14,p-15,"
                             "p-16,p-17,p-18,p-19,p-20,p-21,p-22,p-23,p-24,"
                             "p-25,p-26,p-27,p-28,p-29");
    /* a page that ends exactly at the last member says so */
    all = members_paged(a, "segment", "frequency:first_time", "2026-04-01",
                        33, &pages);
    assert_int_equal(pages, 1);
    crm_client_close(a);
}

static void
test_redefine_drop_and_roles(void **state)
{
    (void)state;
    crm_client *m = as(CRM_ROLE_MARKETING);
    define(m, "halal", "diet = \"halal\"");
    assert_string_equal(members(m, "halal", "2026-04-01"), "ana,cid,dan");
    define(m, "halal", "diet = \"halal\" and property = \"lisbon\"");
    assert_string_equal(members(m, "halal", "2026-04-01"), "ana,dan");
    fx_kv drop[] = {FX_S("name", "halal"), FX_B("drop", 1)};
    call(m, "segment.define", drop, 2);
    crm_error why;
    fx_kv kv[] = {FX_S("segment", "halal")};
    assert_int_equal(call_err(m, "segment.members", kv, 1, &why),
                     CRM_ERR_NOT_FOUND);
    assert_int_equal(call_err(m, "segment.define", drop, 2, &why),
                     CRM_ERR_NOT_FOUND);
    crm_client_close(m);
    /* agents read, finance does not; only admin and marketing define */
    crm_client *ag = as(CRM_ROLE_AGENT), *fi = as(CRM_ROLE_FINANCE);
    fx_kv def[] = {FX_S("name", "x"), FX_S("filter", "stays > 1")};
    assert_int_equal(call_err(ag, "segment.define", def, 2, &why),
                     CRM_ERR_FORBIDDEN);
    assert_int_equal(call_err(fi, "segment.counts", NULL, 0, &why),
                     CRM_ERR_FORBIDDEN);
    crm_client_close(ag);
    crm_client_close(fi);
}

static const msgpack_object *
export(crm_client *c, const char *segment, const char *channel)
{
    fx_kv kv[] = {FX_S("segment", segment), FX_S("channel", channel),
                  FX_S("on", "2026-04-01")};
    return call(c, "segment.export", kv, 3);
}

static const char *
cellat(const msgpack_object *res, uint32_t row, uint32_t col)
{
    static char buf[4][80];
    static int at_;
    const msgpack_object *rows = crm_mp_get(res, "rows");
    assert_non_null(rows);
    assert_true(row < rows->via.array.size);
    const msgpack_object *r = &rows->via.array.ptr[row];
    assert_true(col < r->via.array.size);
    const msgpack_object *o = &r->via.array.ptr[col];
    char *b = buf[at_++ % 4];
    if (o->type == MSGPACK_OBJECT_NIL)
        snprintf(b, 80, "(nil)");
    else
        snprintf(b, 80, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    return b;
}

static void
test_export_consented_addresses(void **state)
{
    (void)state;
    crm_client *m = as(CRM_ROLE_MARKETING);
    /* active on April 1st: ana, bob, cid, dan and the faro guests; e-mail
     * consent: ana, bob, cid; an address: ana and cid */
    const msgpack_object *res = export(m, "lifecycle:active", "email");
    assert_int_equal(fx_res_u64(res, "exported"), 2);
    assert_int_equal(fx_res_u64(res, "no_consent"), 31);
    assert_int_equal(fx_res_u64(res, "no_address"), 1);
    const msgpack_object *cols = crm_mp_get(res, "columns");
    assert_int_equal(cols->via.array.size, 5);
    assert_memory_equal(cols->via.array.ptr[1].via.str.ptr, "email", 5);
    assert_string_equal(cellat(res, 0, 0), "ana");
    assert_string_equal(cellat(res, 0, 1), "ana.silva@example.com");
    assert_string_equal(cellat(res, 0, 2), "Ana");
    assert_string_equal(cellat(res, 0, 4), "pt");
    assert_string_equal(cellat(res, 1, 0), "cid");
    assert_string_equal(cellat(res, 1, 1), "cid@example.com");
    assert_string_equal(cellat(res, 1, 4), "(nil)");
    /* nobody consented to sms */
    res = export(m, "lifecycle:active", "sms");
    assert_int_equal(fx_res_u64(res, "exported"), 0);
    assert_int_equal(fx_res_u64(res, "no_consent"), 34);
    /* a defined segment, one row a page */
    fx_kv kv[] = {FX_S("segment", "lisbon-halal"), FX_S("channel", "email"),
                  FX_S("on", "2026-04-01"), FX_I("limit", 1)};
    res = call(m, "segment.export", kv, 4);
    assert_int_equal(fx_res_u64(res, "exported"), 1);
    assert_int_equal(crm_mp_get(res, "more")->via.boolean, 0);
    crm_error why;
    fx_kv bad[] = {FX_S("segment", "lisbon-halal"), FX_S("channel", "fax")};
    assert_int_equal(call_err(m, "segment.export", bad, 2, &why),
                     CRM_ERR_BAD_REQUEST);
    crm_client_close(m);
    /* agents see members, not addresses */
    crm_client *ag = as(CRM_ROLE_AGENT);
    fx_kv ok[] = {FX_S("segment", "lisbon-halal"), FX_S("channel", "email")};
    assert_int_equal(call_err(ag, "segment.export", ok, 2, &why),
                     CRM_ERR_FORBIDDEN);
    crm_client_close(ag);
}

static void
test_erased_guest_leaves_every_segment(void **state)
{
    (void)state;
    crm_client *adm = as(CRM_ROLE_ADMIN), *m = as(CRM_ROLE_MARKETING);
    crm_event_in e;
    const msgpack_object *res;
    crm_error why;
    fx_event(&e, "ana", "customer.erased", FX_BODY(FX_S("reason", "gdpr")));
    assert_int_equal(fx_append(adm, &e, 1, &res, &why), CRM_OK);
    fx_reset();
    assert_string_equal(members(m, "lisbon-halal", "2026-04-01"), "");
    int pages;
    const char *all = members_paged(m, "filter", "stays >= 0 or not stays >= 0",
                                    "2026-04-01", 1000, &pages);
    assert_null(strstr(all, "ana"));
    assert_non_null(strstr(all, "bob"));
    fx_kv apr[] = {FX_S("on", "2026-04-01")};
    const msgpack_object *c = call(m, "segment.counts", apr, 1);
    assert_int_equal(fx_res_u64(c, "guests"), 34);
    assert_int_equal(count_of(c, "frequency", "repeat"), 0);
    assert_int_equal(count_of(c, "defined", "lisbon-halal"), 0);
    res = export(m, "lifecycle:active", "email");
    assert_int_equal(fx_res_u64(res, "exported"), 1);
    assert_string_equal(cellat(res, 0, 0), "cid");
    crm_client_close(adm);
    crm_client_close(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defined_segment_members),
        cmocka_unit_test(test_builtin_counts_move_with_the_day),
        cmocka_unit_test(test_bad_filter_points_at_the_token),
        cmocka_unit_test(test_paging_follows_the_cursor),
        cmocka_unit_test(test_redefine_drop_and_roles),
        cmocka_unit_test(test_export_consented_addresses),
        cmocka_unit_test(test_erased_guest_leaves_every_segment),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
