/* consent_test.c - consent as of any moment against a real crmd over NNG:
 * customer.consent_at across a consent given, withdrawn and given again
 * (before any, at an event's own time, between, equal times, a change
 * recorded late), one purpose or channel never implying another, and
 * audit.consent_violations listing exactly the sends made without
 * consent, by campaign and page by page; the roles that may ask, and bad
 * arguments refused without writing anything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "crmd_fixture.h"
#include "rpc.h"

#define H INT64_C(3600000000)        /* an hour in µs */
#define T0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];  /* tenant "consent" */
static char KA[CRM_ROLE__COUNT][128]; /* tenant "audit": only the sends
                                         test_violations makes */

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 0, NULL) != 0 || fx_tenant(&D, "consent", K) != 0 ||
        fx_tenant(&D, "audit", KA) != 0)
        return -1;
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

/* Appends one event at `at`; returns its position. */
static uint64_t
put(crm_client *c, const char *stream, const char *type, int64_t at,
    const msgpack_object *body)
{
    const msgpack_object *res;
    crm_error why;
    crm_event_in e;
    fx_event(&e, stream, type, body);
    e.occurred_at = at;
    crm_err err = fx_append(c, &e, 1, &res, &why);
    if (err != CRM_OK)
        fail_msg("append %s to %s: %s", type, stream, why.msg);
    const msgpack_object *pos = crm_mp_get(res, "positions");
    assert_non_null(pos);
    return pos->via.array.ptr[0].via.u64;
}

static uint64_t
consent(crm_client *c, const char *guest, const char *channel,
        const char *purpose, int granted, int64_t at)
{
    if (purpose == NULL)
        return put(c, guest, "customer.consent_changed", at,
                   FX_BODY(FX_S("channel", channel), FX_B("granted", granted),
                           FX_S("source", "web")));
    return put(c, guest, "customer.consent_changed", at,
               FX_BODY(FX_S("channel", channel), FX_B("granted", granted),
                       FX_S("purpose", purpose)));
}

static uint64_t
sent(crm_client *c, const char *guest, const char *campaign,
     const char *channel, int64_t at)
{
    return put(c, guest, "marketing.message_sent", at,
               FX_BODY(FX_S("campaign", campaign), FX_S("channel", channel)));
}

static uint64_t
head_of(crm_client *c)
{
    const msgpack_object *res;
    crm_error why;
    fx_kv a[] = {FX_I("from", 1), FX_I("max", 1)};
    assert_int_equal(fx_call_kv(c, "read.all", a, 2, &res, &why), CRM_OK);
    return fx_res_u64(res, "head");
}

/* What customer.consent_at answered. */
typedef struct answer {
    int granted;
    int64_t since;     /* -1: nil */
    uint64_t position; /* 0: nil */
    char source[80];
} answer;

static int64_t
opt_i64(const msgpack_object *m, const char *k)
{
    const msgpack_object *o = crm_mp_get(m, k);
    int64_t v;
    if (o == NULL)
        fail_msg("reply lacks '%s'", k);
    if (o->type == MSGPACK_OBJECT_NIL)
        return -1;
    if (crm_mp_int(o, INT64_MIN, INT64_MAX, &v) != 0)
        fail_msg("'%s' is not an integer", k);
    return v;
}

static crm_err
ask(crm_client *c, const char *guest, const char *channel, const char *purpose,
    int64_t at, answer *a, crm_error *why)
{
    const msgpack_object *res;
    fx_kv kv[] = {FX_S("customer", guest), FX_S("channel", channel),
                  FX_I("at", at), FX_S("purpose", purpose)};
    crm_err err =
        fx_call_kv(c, "customer.consent_at", kv, purpose ? 4 : 3, &res, why);
    if (err != CRM_OK)
        return err;
    const msgpack_object *g = crm_mp_get(res, "granted");
    assert_non_null(g);
    assert_int_equal(g->type, MSGPACK_OBJECT_BOOLEAN);
    a->granted = g->via.boolean;
    a->since = opt_i64(res, "since");
    int64_t p = opt_i64(res, "position");
    a->position = p < 0 ? 0 : (uint64_t)p;
    fx_res_str(res, "source", a->source, sizeof(a->source));
    assert_int_equal(opt_i64(res, "at"), at);
    return CRM_OK;
}

/* Asserts the consent of guest at `at`: granted or not, and the change in
 * force (its position, 0 for none). */
static void
expect_at(crm_client *c, const char *guest, const char *channel,
          const char *purpose, int64_t at, int granted, uint64_t position)
{
    answer a;
    crm_error why;
    crm_err err = ask(c, guest, channel, purpose, at, &a, &why);
    if (err != CRM_OK)
        fail_msg("consent_at %s %s at %lld: %s", guest, channel, (long long)at,
                 why.msg);
    if (a.granted != granted || a.position != position)
        fail_msg("%s %s/%s at T0%+lldh: granted %d from position %llu, "
                 "want %d from %llu",
                 guest, channel, purpose ? purpose : "-",
                 (long long)((at - T0) / H), a.granted,
                 (unsigned long long)a.position, granted,
                 (unsigned long long)position);
    if (position == 0)
        assert_int_equal(a.since, -1);
}

static void
test_consent_as_of_any_moment(void **state)
{
    (void)state;
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    put(c, "g-1", "customer.registered", T0,
        FX_BODY(FX_S("first_name", "Ana"), FX_S("last_name", "Lima")));
    uint64_t svc = consent(c, "g-1", "email", "service", 1, T0 + 1 * H);
    uint64_t p1 = consent(c, "g-1", "email", NULL, 1, T0 + 10 * H);
    uint64_t p2 = consent(c, "g-1", "email", "marketing", 0, T0 + 20 * H);
    uint64_t p3 = consent(c, "g-1", "email", "marketing", 1, T0 + 30 * H);

    /* before any marketing consent: not consented, though service was */
    expect_at(c, "g-1", "email", "marketing", T0 + 5 * H, 0, 0);
    expect_at(c, "g-1", "email", "service", T0 + 5 * H, 1, svc);
    expect_at(c, "g-1", "email", "service", T0, 0, 0);
    /* at the grant's own moment it is in force; a purpose left out is
     * marketing, in the event and in the question */
    expect_at(c, "g-1", "email", "marketing", T0 + 10 * H, 1, p1);
    expect_at(c, "g-1", "email", NULL, T0 + 10 * H - 1, 0, 0);
    expect_at(c, "g-1", "email", NULL, T0 + 15 * H, 1, p1);
    /* withdrawn, from the withdrawal's moment on */
    expect_at(c, "g-1", "email", "marketing", T0 + 20 * H - 1, 1, p1);
    expect_at(c, "g-1", "email", "marketing", T0 + 20 * H, 0, p2);
    expect_at(c, "g-1", "email", "marketing", T0 + 25 * H, 0, p2);
    /* given again */
    expect_at(c, "g-1", "email", "marketing", T0 + 30 * H, 1, p3);
    expect_at(c, "g-1", "email", "marketing", T0 + 1000 * H, 1, p3);
    /* marketing by e-mail says nothing of sms, nor of profiling */
    expect_at(c, "g-1", "sms", "marketing", T0 + 35 * H, 0, 0);
    expect_at(c, "g-1", "email", "profiling", T0 + 35 * H, 0, 0);

    /* what the answer carries: when, where and from what source */
    answer a;
    crm_error why;
    assert_int_equal(ask(c, "g-1", "email", "marketing", T0 + 12 * H, &a, &why),
                     CRM_OK);
    assert_int_equal(a.since, T0 + 10 * H);
    assert_string_equal(a.source, "web");
    assert_int_equal(ask(c, "g-1", "email", "marketing", T0 + 22 * H, &a, &why),
                     CRM_OK);
    assert_int_equal(a.since, T0 + 20 * H);
    assert_string_equal(a.source, "");

    /* two changes at one moment: the later position wins */
    consent(c, "g-1", "push", "marketing", 1, T0 + 40 * H);
    uint64_t tie = consent(c, "g-1", "push", "marketing", 0, T0 + 40 * H);
    expect_at(c, "g-1", "push", "marketing", T0 + 40 * H, 0, tie);

    /* a change recorded late counts from when it was given, for moments
     * before it was recorded too; a later-recorded earlier change does
     * not override a newer one */
    uint64_t late = consent(c, "g-1", "sms", "marketing", 1, T0 + 8 * H);
    expect_at(c, "g-1", "sms", "marketing", T0 + 9 * H, 1, late);
    consent(c, "g-1", "email", "marketing", 0, T0 + 29 * H);
    expect_at(c, "g-1", "email", "marketing", T0 + 31 * H, 1, p3);
    crm_client_close(c);
    fx_reset();
}

/* Every role that may ask gets the same answer; the others are refused. */
static void
test_roles(void **state)
{
    (void)state;
    crm_client *ag = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    uint64_t p = consent(ag, "g-roles", "post", "marketing", 1, T0);
    crm_client_close(ag);
    static const crm_role may[] = {CRM_ROLE_ADMIN, CRM_ROLE_AGENT,
                                   CRM_ROLE_MARKETING, CRM_ROLE_AUDITOR};
    static const crm_role may_not[] = {CRM_ROLE_FINANCE, CRM_ROLE_REPLICA,
                                       CRM_ROLE_OPERATOR};
    for (size_t i = 0; i < sizeof(may) / sizeof(may[0]); i++) {
        crm_client *c = fx_client(&D, D.url, K[may[i]]);
        expect_at(c, "g-roles", "post", "marketing", T0 + H, 1, p);
        crm_client_close(c);
    }
    for (size_t i = 0; i < sizeof(may_not) / sizeof(may_not[0]); i++) {
        crm_client *c = fx_client(&D, D.url, K[may_not[i]]);
        answer a;
        crm_error why;
        assert_int_equal(
            ask(c, "g-roles", "post", "marketing", T0 + H, &a, &why),
            CRM_ERR_FORBIDDEN);
        crm_client_close(c);
    }
    /* the audit: admin and auditor only */
    for (int r = 0; r < CRM_ROLE__COUNT; r++) {
        crm_client *c = fx_client(&D, D.url, K[r]);
        const msgpack_object *res;
        crm_error why;
        crm_err err =
            fx_call_kv(c, "audit.consent_violations", NULL, 0, &res, &why);
        int want = r == CRM_ROLE_ADMIN || r == CRM_ROLE_AUDITOR;
        if (want ? err != CRM_OK : err != CRM_ERR_FORBIDDEN)
            fail_msg("audit.consent_violations by %s: %s (%s)",
                     crm_role_name((crm_role)r), crm_err_name(err), why.msg);
        crm_client_close(c);
    }
    fx_reset();
}

static void
expect_refused(crm_client *c, const char *op, const fx_kv *kv, size_t n,
               crm_err want)
{
    const msgpack_object *res;
    crm_error why;
    crm_err err = fx_call_kv(c, op, kv, n, &res, &why);
    if (err != want)
        fail_msg("%s: got %s (%s), want %s", op, crm_err_name(err), why.msg,
                 crm_err_name(want));
}

static void
test_bad_args(void **state)
{
    (void)state;
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    consent(c, "g-bad", "email", "marketing", 1, T0);
    uint64_t head = head_of(c);
    const char *op = "customer.consent_at";
#define REFUSED(want, ...)                                                     \
    expect_refused(c, op, (const fx_kv[]){__VA_ARGS__},                        \
                   sizeof((const fx_kv[]){__VA_ARGS__}) / sizeof(fx_kv), want)
    REFUSED(CRM_ERR_BAD_REQUEST, FX_S("customer", "g-bad"),
            FX_S("channel", "fax"));
    REFUSED(CRM_ERR_BAD_REQUEST, FX_S("customer", "g-bad"),
            FX_S("channel", "an-unreasonably-long-channel"));
    REFUSED(CRM_ERR_BAD_REQUEST, FX_S("customer", "g-bad"),
            FX_S("channel", "email"), FX_S("purpose", "love"));
    REFUSED(CRM_ERR_BAD_REQUEST, FX_S("customer", "g-bad"),
            FX_S("channel", "email"), FX_S("at", "2026-01-01T00:00:00Z"));
    REFUSED(CRM_ERR_BAD_REQUEST, FX_S("customer", "g-bad"),
            FX_S("channel", "email"), FX_I("at", 0));
    REFUSED(CRM_ERR_BAD_REQUEST, FX_S("customer", "g-bad"), FX_I("channel", 1));
    REFUSED(CRM_ERR_BAD_REQUEST, FX_S("customer", "g-bad"));
    REFUSED(CRM_ERR_BAD_REQUEST, FX_S("channel", "email"));
    REFUSED(CRM_ERR_BAD_REQUEST, FX_S("customer", ""),
            FX_S("channel", "email"));
    REFUSED(CRM_ERR_NOT_FOUND, FX_S("customer", "g-nobody"),
            FX_S("channel", "email"));
    REFUSED(CRM_ERR_NOT_FOUND, FX_S("customer", "$tenant"),
            FX_S("channel", "email"));
    op = "audit.consent_violations";
    REFUSED(CRM_ERR_BAD_REQUEST, FX_I("limit", 0));
    REFUSED(CRM_ERR_BAD_REQUEST, FX_I("limit", 1001));
    REFUSED(CRM_ERR_BAD_REQUEST, FX_I("cursor", 0));
    REFUSED(CRM_ERR_BAD_REQUEST, FX_S("cursor", "12"));
    REFUSED(CRM_ERR_BAD_REQUEST, FX_I("campaign", 5));
#undef REFUSED
    /* nothing was written, and the guest's consent is as it was */
    assert_int_equal(head_of(c), head);
    expect_at(c, "g-bad", "email", "marketing", T0, 1, head);
    crm_client_close(c);
    fx_reset();
}

/* One row of audit.consent_violations, as the test expects it. */
typedef struct viol {
    uint64_t position;
    const char *customer, *campaign, *channel, *consent;
    int64_t sent_at, since; /* since -1: nil */
    uint64_t consent_position;
} viol;

static void
check_row(const msgpack_object *r, const viol *w)
{
    char s[80];
    assert_int_equal(fx_res_u64(r, "position"), w->position);
    assert_string_equal(fx_res_str(r, "customer", s, sizeof(s)), w->customer);
    assert_string_equal(fx_res_str(r, "campaign", s, sizeof(s)), w->campaign);
    assert_string_equal(fx_res_str(r, "channel", s, sizeof(s)), w->channel);
    assert_string_equal(fx_res_str(r, "consent", s, sizeof(s)), w->consent);
    assert_int_equal(opt_i64(r, "sent_at"), w->sent_at);
    assert_int_equal(opt_i64(r, "since"), w->since);
    int64_t cp = opt_i64(r, "consent_position");
    assert_int_equal(cp < 0 ? 0 : (uint64_t)cp, w->consent_position);
}

/* Every page from cursor 1 with this limit (and campaign); the rows must
 * be want[0..n) in order, each page at most limit of them. */
static void
expect_violations(crm_client *c, const char *campaign, int64_t limit,
                  const viol *want, size_t n)
{
    size_t got = 0;
    uint64_t cursor = 1;
    for (int page = 0;; page++) {
        const msgpack_object *res;
        crm_error why;
        fx_kv kv[] = {FX_I("cursor", (int64_t)cursor), FX_I("limit", limit),
                      FX_S("campaign", campaign)};
        crm_err err = fx_call_kv(c, "audit.consent_violations", kv,
                                 campaign ? 3 : 2, &res, &why);
        if (err != CRM_OK)
            fail_msg("audit.consent_violations: %s", why.msg);
        const msgpack_object *v = crm_mp_get(res, "violations");
        assert_non_null(v);
        assert_int_equal(v->type, MSGPACK_OBJECT_ARRAY);
        assert_true(v->via.array.size <= (uint32_t)limit);
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            if (got == n)
                fail_msg("more violations than the %zu expected", n);
            check_row(&v->via.array.ptr[i], &want[got++]);
        }
        uint64_t next = fx_res_u64(res, "next");
        assert_true(next > cursor || v->via.array.size == 0);
        cursor = next;
        const msgpack_object *more = crm_mp_get(res, "more");
        assert_non_null(more);
        if (!more->via.boolean)
            break;
        assert_true(page < 100);
    }
    assert_int_equal(got, n);
    assert_int_equal(cursor, head_of(c) + 1);
}

static void
test_violations(void **state)
{
    (void)state;
    crm_client *c = fx_client(&D, D.url, KA[CRM_ROLE_MARKETING]);
    /* v-a: e-mail consent given at 10h, withdrawn at 20h, given at 30h */
    uint64_t a1 = consent(c, "v-a", "email", "marketing", 1, T0 + 10 * H);
    uint64_t a2 = consent(c, "v-a", "email", "marketing", 0, T0 + 20 * H);
    consent(c, "v-a", "email", "marketing", 1, T0 + 30 * H);
    uint64_t s1 = sent(c, "v-a", "spring", "email", T0 + 5 * H);
    sent(c, "v-a", "spring", "email", T0 + 15 * H);
    uint64_t s3 = sent(c, "v-a", "spring", "email", T0 + 25 * H);
    sent(c, "v-a", "spring", "email", T0 + 35 * H);
    /* exactly at the withdrawal: no longer consented; at the grant: yes */
    uint64_t s5 = sent(c, "v-a", "spring", "email", T0 + 20 * H);
    sent(c, "v-a", "spring", "email", T0 + 10 * H);
    /* e-mail consent is no sms consent */
    uint64_t s7 = sent(c, "v-a", "spring", "sms", T0 + 15 * H);
    /* v-b: service consent is no marketing consent */
    consent(c, "v-b", "email", "service", 1, T0);
    uint64_t b1 = sent(c, "v-b", "autumn", "email", T0 + 1 * H);
    consent(c, "v-b", "email", "marketing", 1, T0 + 2 * H);
    sent(c, "v-b", "autumn", "email", T0 + 3 * H);
    /* v-c: the form signed before the send, recorded after it */
    sent(c, "v-c", "spring", "email", T0 + 50 * H);
    consent(c, "v-c", "email", "marketing", 1, T0 + 45 * H);
    /* v-d: withdrawn before it was ever given */
    uint64_t d0 = consent(c, "v-d", "push", "marketing", 0, T0);
    uint64_t d1 = sent(c, "v-d", "autumn", "push", T0 + H);
    crm_client_close(c);
    (void)a1;

    const viol all[] = {
        {s1, "v-a", "spring", "email", "never_given", T0 + 5 * H, -1, 0},
        {s3, "v-a", "spring", "email", "withdrawn", T0 + 25 * H, T0 + 20 * H,
         a2},
        {s5, "v-a", "spring", "email", "withdrawn", T0 + 20 * H, T0 + 20 * H,
         a2},
        {s7, "v-a", "spring", "sms", "never_given", T0 + 15 * H, -1, 0},
        {b1, "v-b", "autumn", "email", "never_given", T0 + 1 * H, -1, 0},
        {d1, "v-d", "autumn", "push", "withdrawn", T0 + H, T0, d0},
    };
    const viol spring[] = {all[0], all[1], all[2], all[3]};
    const viol autumn[] = {all[4], all[5]};
    crm_client *adm = fx_client(&D, D.url, KA[CRM_ROLE_ADMIN]);
    crm_client *aud = fx_client(&D, D.url, KA[CRM_ROLE_AUDITOR]);
    expect_violations(aud, NULL, 100, all, 6);
    expect_violations(adm, NULL, 100, all, 6);
    expect_violations(aud, "spring", 100, spring, 4);
    expect_violations(aud, "autumn", 100, autumn, 2);
    expect_violations(aud, "winter", 100, NULL, 0);
    /* page by page: one, then two at a time, the same rows in order */
    expect_violations(aud, NULL, 1, all, 6);
    expect_violations(aud, NULL, 2, all, 6);
    expect_violations(aud, "spring", 3, spring, 4);

    /* from a cursor past some of them: only the later ones */
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {FX_I("cursor", (int64_t)b1)};
    assert_int_equal(
        fx_call_kv(aud, "audit.consent_violations", kv, 1, &res, &why), CRM_OK);
    const msgpack_object *v = crm_mp_get(res, "violations");
    assert_int_equal(v->via.array.size, 2);
    check_row(&v->via.array.ptr[0], &all[4]);
    check_row(&v->via.array.ptr[1], &all[5]);
    assert_false(crm_mp_get(res, "more")->via.boolean);
    /* the audit wrote nothing */
    uint64_t head = head_of(adm);
    expect_violations(aud, NULL, 100, all, 6);
    assert_int_equal(head_of(adm), head);
    crm_client_close(adm);
    crm_client_close(aud);
    fx_reset();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consent_as_of_any_moment),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_violations),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
