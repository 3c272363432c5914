/* frontdesk_test.c - what the front desk does, end to end against a real
 * crmd over NNG: finding a guest by e-mail, by a phone number written
 * another way than it was registered, by loyalty number and by name
 * (accents, Chinese and Arabic names, with a birth date), an updated
 * e-mail replacing the old one, an erased guest found by nothing; and the
 * scripted journey: find by phone, read the 360 view, log a call, open
 * and resolve a complaint with compensation points, read it again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "crmd_fixture.h"
#include "rpc.h"
#include "uuid.h"

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];

static crm_client *
as(crm_role r)
{
    return fx_client(&D, D.url, K[r]);
}

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 0, NULL) != 0 || fx_tenant(&D, "lisbon", K) != 0)
        return -1;
    crm_client *a = as(CRM_ROLE_ADMIN);
    const msgpack_object *res;
    crm_error why;
    fx_kv set[] = {FX_S("effective_from", "2020-01-01"),
                   FX_S("country_code", "351")};
    if (fx_call_kv(a, "settings.set", set, 2, &res, &why) != CRM_OK) {
        fprintf(stderr, "settings.set: %s\n", why.msg);
        return -1;
    }
    crm_event_in ev[5];
    fx_event(&ev[0], "guest-jose", "customer.registered",
             FX_BODY(FX_S("first_name", "José"), FX_S("last_name", "García"),
                     FX_S("email", "Jose.Garcia@Example.com"),
                     FX_S("phone", "+351912345678"),
                     FX_S("loyalty_number", "RV-0042-17"),
                     FX_S("birth_date", "1980-05-17")));
    fx_event(&ev[1], "guest-jose2", "customer.registered",
             FX_BODY(FX_S("first_name", "Jose"), FX_S("last_name", "Garcia"),
                     FX_S("email", "jg@example.org"),
                     FX_S("birth_date", "1991-11-02")));
    fx_event(&ev[2], "guest-wang", "customer.registered",
             FX_BODY(FX_S("first_name", "小明"), FX_S("last_name", "王"),
                     FX_S("email", "wang@example.cn")));
    fx_event(&ev[3], "guest-amin", "customer.registered",
             FX_BODY(FX_S("first_name", "أحمد"),
                     FX_S("last_name", "الهاشمي"),
                     FX_S("phone", "+351213456789")));
    fx_event(&ev[4], "guest-gone", "customer.registered",
             FX_BODY(FX_S("first_name", "Eva"), FX_S("last_name", "Gone"),
                     FX_S("email", "eva@example.com")));
    crm_client *c = as(CRM_ROLE_AGENT);
    if (fx_append(c, ev, 5, &res, &why) != CRM_OK) {
        fprintf(stderr, "append: %s\n", why.msg);
        return -1;
    }
    crm_client_close(c);
    crm_client_close(a);
    fx_reset();
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

/* The ids customer.find answers for kv, joined by ',' into out. */
static const char *
find(crm_client *c, const fx_kv *kv, size_t n, char *out, size_t cap)
{
    const msgpack_object *res;
    crm_error why;
    crm_err err = fx_call_kv(c, "customer.find", kv, n, &res, &why);
    if (err != CRM_OK)
        fail_msg("customer.find: %s: %s", crm_err_name(err), why.msg);
    const msgpack_object *hits = crm_mp_get(res, "hits");
    assert_non_null(hits);
    assert_int_equal(hits->type, MSGPACK_OBJECT_ARRAY);
    out[0] = '\0';
    for (uint32_t i = 0; i < hits->via.array.size; i++) {
        char id[80];
        fx_res_str(&hits->via.array.ptr[i], "id", id, sizeof(id));
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", i ? "," : "", id);
    }
    return out;
}

#define FIND1(c, k, v) find(c, (fx_kv[]){FX_S(k, v)}, 1, buf, sizeof(buf))

static void
test_find_by_contact_points(void **state)
{
    (void)state;
    crm_client *c = as(CRM_ROLE_AGENT);
    char buf[256];
    /* e-mail trimmed and lower-cased */
    assert_string_equal(FIND1(c, "email", "  jose.garcia@EXAMPLE.com "),
                        "guest-jose");
    assert_string_equal(FIND1(c, "email", "nobody@example.com"), "");
    /* phone: national, international with 00, with punctuation */
    assert_string_equal(FIND1(c, "phone", "912 345 678"), "guest-jose");
    assert_string_equal(FIND1(c, "phone", "00351-912-345-678"), "guest-jose");
    assert_string_equal(FIND1(c, "phone", "(21) 345 6789"), "guest-amin");
    assert_string_equal(FIND1(c, "phone", "+351213456789"), "guest-amin");
    /* loyalty number without dashes, lower-case */
    assert_string_equal(FIND1(c, "loyalty", "rv 004217"), "guest-jose");
    crm_client_close(c);
    fx_reset();
}

static void
test_find_by_name(void **state)
{
    (void)state;
    crm_client *c = as(CRM_ROLE_ADMIN);
    char buf[256];
    /* accent- and case-folded; both Josés, in id order */
    assert_string_equal(FIND1(c, "name", "JOSE garcía"),
                        "guest-jose,guest-jose2");
    assert_string_equal(FIND1(c, "name", "garcia"), "guest-jose,guest-jose2");
    /* every token must match */
    assert_string_equal(FIND1(c, "name", "José Gone"), "");
    /* name + birth date tells them apart */
    fx_kv nb[] = {FX_S("name", "Jose Garcia"),
                  FX_S("birth_date", "1991-11-02")};
    assert_string_equal(find(c, nb, 2, buf, sizeof(buf)), "guest-jose2");
    /* Chinese: whole name, surname, given name */
    assert_string_equal(FIND1(c, "name", "王小明"), "guest-wang");
    assert_string_equal(FIND1(c, "name", "王"), "guest-wang");
    assert_string_equal(FIND1(c, "name", "小明"), "guest-wang");
    /* Arabic: hamza forms folded, the article optional */
    assert_string_equal(FIND1(c, "name", "احمد هاشمي"), "guest-amin");
    /* limit and more */
    const msgpack_object *res;
    crm_error why;
    fx_kv lim[] = {FX_S("name", "garcia"), FX_I("limit", 1)};
    assert_int_equal(fx_call_kv(c, "customer.find", lim, 2, &res, &why),
                     CRM_OK);
    assert_int_equal(crm_mp_get(res, "hits")->via.array.size, 1);
    assert_true(crm_mp_get(res, "more")->via.boolean);
    crm_client_close(c);
    fx_reset();
}

static void
test_update_and_erasure(void **state)
{
    (void)state;
    crm_client *c = as(CRM_ROLE_AGENT);
    crm_client *a = as(CRM_ROLE_ADMIN);
    char buf[256];
    const msgpack_object *res;
    crm_error why;
    crm_event_in e;
    fx_event(&e, "guest-jose2", "customer.profile_updated",
             FX_BODY(FX_S("email", "jose.new@example.org")));
    assert_int_equal(fx_append(c, &e, 1, &res, &why), CRM_OK);
    assert_string_equal(FIND1(c, "email", "jg@example.org"), "");
    assert_string_equal(FIND1(c, "email", "Jose.New@example.org"),
                        "guest-jose2");
    /* the name it did not change still finds it */
    assert_string_equal(FIND1(c, "name", "garcia"), "guest-jose,guest-jose2");

    assert_string_equal(FIND1(c, "email", "eva@example.com"), "guest-gone");
    fx_event(&e, "guest-gone", "customer.erased",
             FX_BODY(FX_S("reason", "gdpr")));
    assert_int_equal(fx_append(a, &e, 1, &res, &why), CRM_OK);
    assert_string_equal(FIND1(c, "email", "eva@example.com"), "");
    assert_string_equal(FIND1(c, "name", "eva"), "");
    /* marketing may not look guests up */
    crm_client *m = as(CRM_ROLE_MARKETING);
    fx_kv kv[] = {FX_S("email", "eva@example.com")};
    assert_int_equal(fx_call_kv(m, "customer.find", kv, 1, &res, &why),
                     CRM_ERR_FORBIDDEN);
    crm_client_close(m);
    crm_client_close(a);
    crm_client_close(c);
    fx_reset();
}


/* The value at a dotted path of maps ("lifetime.stays"). */
static const msgpack_object *
at(const msgpack_object *m, const char *path)
{
    char part[64];
    while (m && *path) {
        size_t n = strcspn(path, ".");
        snprintf(part, sizeof(part), "%.*s", (int)n, path);
        m = crm_mp_get(m, part);
        path += n + (path[n] == '.');
    }
    if (m == NULL)
        fail_msg("no '%s' in the view", path);
    return m;
}

static int64_t
at_i64(const msgpack_object *m, const char *path)
{
    int64_t v;
    if (crm_mp_int(at(m, path), INT64_MIN, INT64_MAX, &v) != 0)
        fail_msg("'%s' is not an integer", path);
    return v;
}

static void
assert_str_at(const msgpack_object *m, const char *path, const char *want)
{
    const msgpack_object *o = at(m, path);
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size != strlen(want) ||
        memcmp(o->via.str.ptr, want, o->via.str.size) != 0)
        fail_msg("'%s' is not \"%s\"", path, want);
}

static const msgpack_object *
view_of(crm_client *c, const char *guest)
{
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {FX_S("customer", guest)};
    crm_err err = fx_call_kv(c, "customer.get", kv, 1, &res, &why);
    if (err != CRM_OK)
        fail_msg("customer.get %s: %s: %s", guest, crm_err_name(err), why.msg);
    return res;
}

/* Whether the view's churn reasons hold code, and with how many points. */
static int64_t
churn_points(const msgpack_object *v, const char *code)
{
    const msgpack_object *r = at(v, "churn.reasons");
    for (uint32_t i = 0; i < r->via.array.size; i++) {
        char c[32];
        fx_res_str(&r->via.array.ptr[i], "code", c, sizeof(c));
        if (strcmp(c, code) == 0)
            return at_i64(&r->via.array.ptr[i], "points");
    }
    return 0;
}

static void
test_journey(void **state)
{
    (void)state;
    crm_client *c = as(CRM_ROLE_AGENT);
    const msgpack_object *res, *v;
    crm_error why;
    char buf[256];
    /* the guest calls from a number typed the national way */
    fx_kv ph[] = {FX_S("phone", "912-345-678")};
    assert_int_equal(fx_call_kv(c, "customer.find", ph, 1, &res, &why),
                     CRM_OK);
    const msgpack_object *hits = crm_mp_get(res, "hits");
    assert_int_equal(hits->via.array.size, 1);
    assert_str_at(&hits->via.array.ptr[0], "id", "guest-jose");
    assert_str_at(&hits->via.array.ptr[0], "name", "José García");
    assert_int_equal(at(&hits->via.array.ptr[0], "last_stay")->type,
                     MSGPACK_OBJECT_NIL);

    v = view_of(c, "guest-jose");
    assert_str_at(v, "profile.first_name", "José");
    assert_str_at(v, "profile.email", "Jose.Garcia@Example.com");
    assert_str_at(v, "profile.phone", "+351912345678");
    assert_int_equal(at_i64(v, "lifetime.stays"), 0);
    assert_int_equal(at(v, "complaints_open")->via.array.size, 0);
    assert_int_equal(churn_points(v, "complaint"), 0);
    uint64_t before = fx_res_u64(v, "as_of");

    /* the call, then a complaint about it */
    int64_t now = crm_now_us();
    crm_event_in ev[2];
    fx_event(&ev[0], "guest-jose", "interaction.logged",
             FX_BODY(FX_S("channel", "call"), FX_S("direction", "inbound"),
                     FX_S("summary", "room too noisy, wants a move")));
    fx_event(&ev[1], "guest-jose", "complaint.opened",
             FX_BODY(FX_S("complaint_id", "cmp-77"), FX_S("category", "noise"),
                     FX_S("severity", "medium")));
    ev[0].occurred_at = now - 2000;
    ev[1].occurred_at = now - 1000;
    assert_int_equal(fx_append(c, ev, 2, &res, &why), CRM_OK);
    v = view_of(c, "guest-jose");
    assert_true(fx_res_u64(v, "as_of") > before);
    const msgpack_object *open = at(v, "complaints_open");
    assert_int_equal(open->via.array.size, 1);
    assert_str_at(&open->via.array.ptr[0], "complaint_id", "cmp-77");
    assert_str_at(&open->via.array.ptr[0], "category", "noise");
    assert_int_equal(at_i64(&open->via.array.ptr[0], "age_hours"), 0);
    assert_int_equal(churn_points(v, "complaint"), 10);
    const msgpack_object *tp = at(v, "touchpoints");
    assert_true(tp->via.array.size >= 3);
    assert_str_at(&tp->via.array.ptr[0], "type", "complaint.opened");
    assert_str_at(&tp->via.array.ptr[1], "type", "interaction.logged");
    assert_str_at(&tp->via.array.ptr[1], "channel", "call");
    /* touchpoints carry no personal field */
    assert_null(crm_mp_get(&tp->via.array.ptr[1], "summary"));

    /* resolved with 500 points: the server adds them in the same batch */
    crm_event_in r;
    fx_event(&r, "guest-jose", "complaint.resolved",
             FX_BODY(FX_S("complaint_id", "cmp-77"),
                     FX_I("compensation_points", 500),
                     FX_S("resolution", "moved to a quiet room")));
    r.occurred_at = now;
    assert_int_equal(fx_append(c, &r, 1, &res, &why), CRM_OK);
    const msgpack_object *derived = crm_mp_get(res, "derived");
    assert_non_null(derived);
    assert_int_equal(derived->via.array.size, 1);
    v = view_of(c, "guest-jose");
    assert_int_equal(at(v, "complaints_open")->via.array.size, 0);
    assert_int_equal(churn_points(v, "complaint"), 0);
    assert_int_equal(at_i64(v, "loyalty.balance"), 500);
    tp = at(v, "touchpoints");
    int seen_resolved = 0, seen_earned = 0;
    for (uint32_t i = 0; i < 2; i++) {
        char t[64];
        fx_res_str(&tp->via.array.ptr[i], "type", t, sizeof(t));
        seen_resolved += strcmp(t, "complaint.resolved") == 0;
        seen_earned += strcmp(t, "loyalty.points_earned") == 0;
    }
    assert_int_equal(seen_resolved + seen_earned, 2);
    /* and the desk finds them with the points now */
    assert_string_equal(FIND1(c, "loyalty", "RV004217"), "guest-jose");
    fx_kv lo[] = {FX_S("loyalty", "RV004217")};
    assert_int_equal(fx_call_kv(c, "customer.find", lo, 1, &res, &why),
                     CRM_OK);
    assert_int_equal(
        at_i64(&crm_mp_get(res, "hits")->via.array.ptr[0], "points"), 500);

    /* an unknown guest; finance reads the view without contact data
     * (views_test has the whole table) and the replica not at all */
    fx_kv no[] = {FX_S("customer", "guest-nobody")};
    assert_int_equal(fx_call_kv(c, "customer.get", no, 1, &res, &why),
                     CRM_ERR_NOT_FOUND);
    crm_client *f = as(CRM_ROLE_FINANCE);
    fx_kv kv[] = {FX_S("customer", "guest-jose")};
    assert_int_equal(fx_call_kv(f, "customer.get", kv, 1, &res, &why),
                     CRM_OK);
    const msgpack_object *fp = crm_mp_get(res, "profile");
    assert_non_null(crm_mp_get(fp, "first_name"));
    assert_null(crm_mp_get(fp, "email"));
    assert_null(crm_mp_get(fp, "phone"));
    crm_client_close(f);
    crm_client *rep = as(CRM_ROLE_REPLICA);
    assert_int_equal(fx_call_kv(rep, "customer.get", kv, 1, &res, &why),
                     CRM_ERR_FORBIDDEN);
    crm_client_close(rep);
    (void)buf;
    crm_client_close(c);
    fx_reset();
}

static void
test_erased_view(void **state)
{
    (void)state;
    /* after test_update_and_erasure: the view says erased and no more */
    crm_client *c = as(CRM_ROLE_AGENT);
    const msgpack_object *v = view_of(c, "guest-gone");
    assert_true(at(v, "erased")->via.boolean);
    assert_null(crm_mp_get(at(v, "profile"), "first_name"));
    crm_client_close(c);
    fx_reset();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_by_contact_points),
        cmocka_unit_test(test_find_by_name),
        cmocka_unit_test(test_update_and_erasure),
        cmocka_unit_test(test_journey),
        cmocka_unit_test(test_erased_view),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
