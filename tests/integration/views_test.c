/* views_test.c - who sees which personal field, over RPC against a real
 * crmd: one guest with every class of personal data (names, e-mail,
 * phone, address, passport on a charter booking, a preference, a
 * complaint, an interaction), consenting to e-mail marketing but not to
 * sms; then every role (and an auditor key with the grant personal_data)
 * reads the guest with read.stream, read.all, customer.get and
 * customer.export, and gets exactly the fields of its row of the table,
 * or forbidden where the op is not its. The expected rows are written
 * out here, not taken from proto/views.c: this is the check of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crmd_fixture.h"
#include "rpc.h"

#define GUEST "guest-v"

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];
static char granted[128]; /* an auditor key with grant personal_data */

/* Every personal field the guest has, one bit each. */
enum {
    F_FIRST, F_LAST, F_BIRTH, F_LOYALTY, F_GENDER,     /* identity */
    F_EMAIL, F_PHONE, F_ADDRESS,                       /* contact */
    F_PASSPORT,                                        /* document */
    F_VALUE, F_NOTE,                                   /* service */
    F_DESCRIPTION, F_SUMMARY,                          /* complaint */
    F__COUNT
};
static const char *const fields[F__COUNT] = {
    "first_name", "last_name", "birth_date", "loyalty_number", "gender",
    "email",      "phone",     "address",    "passport_no",    "value",
    "note",       "description", "summary"};
#define B(f) (1u << (f))
#define IDENTITY (B(F_FIRST) | B(F_LAST) | B(F_BIRTH) | B(F_LOYALTY) | B(F_GENDER))
#define ALL ((1u << F__COUNT) - 1)
/* the profile fields of customer.get among them */
#define PROFILE (IDENTITY | B(F_EMAIL) | B(F_PHONE) | B(F_ADDRESS))

/* The viewers: a role's key, or the granted auditor. */
typedef struct viewer {
    const char *name;
    crm_role role;
    int grant;
    unsigned sees;   /* the table's row for this guest */
    int reads_log;   /* read.stream / read.all allowed */
    int gets;        /* customer.get allowed */
    int exports;     /* customer.export allowed */
} viewer;

/* marketing: e-mail consented for marketing, sms refused: the e-mail
 * only. In the log reads no consent is known: no contact at all. */
static const viewer viewers[] = {
    {"admin", CRM_ROLE_ADMIN, 0, ALL, 1, 1, 1},
    {"agent", CRM_ROLE_AGENT, 0, ALL, 1, 1, 1},
    {"marketing", CRM_ROLE_MARKETING, 0, IDENTITY | B(F_EMAIL), 0, 1, 0},
    {"finance", CRM_ROLE_FINANCE, 0, IDENTITY, 0, 1, 0},
    {"auditor", CRM_ROLE_AUDITOR, 0, 0, 1, 0, 0},
    {"auditor+grant", CRM_ROLE_AUDITOR, 1, ALL, 1, 0, 0},
    {"replica", CRM_ROLE_REPLICA, 0, 0, 1, 0, 0},
};
#define NVIEWERS (sizeof(viewers) / sizeof(viewers[0]))

static const char *
key_of(const viewer *v)
{
    return v->grant ? granted : K[v->role];
}

/* Bits of the personal fields named by the keys of map m. */
static unsigned
keys_of(const msgpack_object *m)
{
    unsigned bits = 0;
    if (m == NULL || m->type != MSGPACK_OBJECT_MAP)
        return 0;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        for (int f = 0; f < F__COUNT; f++)
            if (k->type == MSGPACK_OBJECT_STR &&
                k->via.str.size == strlen(fields[f]) &&
                memcmp(k->via.str.ptr, fields[f], k->via.str.size) == 0)
                bits |= B(f);
    }
    return bits;
}

static void
expect_bits(const char *who, const char *what, unsigned got, unsigned want)
{
    if (got == want)
        return;
    char miss[400] = "", extra[400] = "";
    for (int f = 0; f < F__COUNT; f++) {
        char *to = (want & B(f)) && !(got & B(f))   ? miss
                   : (got & B(f)) && !(want & B(f)) ? extra
                                                    : NULL;
        if (to) {
            strcat(to, " ");
            strcat(to, fields[f]);
        }
    }
    fail_msg("%s, %s: missing [%s ], should not see [%s ]", who, what, miss,
             extra);
}

/* --- the guest ------------------------------------------------------------- */

static int
load(void)
{
    crm_event_in ev[8];
    fx_event(&ev[0], GUEST, "customer.registered",
             FX_BODY(FX_S("first_name", "Vesna"),
                     FX_S("last_name", "Marlowe"),
                     FX_S("email", "vesna@viewtest.example"),
                     FX_S("phone", "+351911112222"),
                     FX_S("birth_date", "1980-04-05"),
                     FX_S("loyalty_number", "VW778899"),
                     FX_S("address", "12 Rua das Flores, Porto"),
                     FX_S("gender", "female"), FX_S("nationality", "PT")));
    fx_event(&ev[1], GUEST, "customer.consent_changed",
             FX_BODY(FX_S("channel", "email"), FX_B("granted", 1),
                     FX_S("purpose", "marketing")));
    fx_event(&ev[2], GUEST, "customer.consent_changed",
             FX_BODY(FX_S("channel", "sms"), FX_B("granted", 0),
                     FX_S("purpose", "marketing")));
    fx_event(&ev[3], GUEST, "customer.preference_set",
             FX_BODY(FX_S("category", "diet"), FX_S("value", "gluten-free"),
                     FX_S("note", "strict, kitchen told")));
    fx_event(&ev[4], GUEST, "charter.flight_booked",
             FX_BODY(FX_S("booking_id", "F-1"), FX_S("flight_no", "TP123"),
                     FX_S("origin", "LIS"), FX_S("destination", "FNC"),
                     FX_S("departure_date", "2026-07-01"),
                     FX_S("passport_no", "P12345678")));
    fx_event(&ev[5], GUEST, "complaint.opened",
             FX_BODY(FX_S("complaint_id", "c-1"), FX_S("category", "room"),
                     FX_S("description", "mould behind the curtains")));
    fx_event(&ev[6], GUEST, "interaction.logged",
             FX_BODY(FX_S("channel", "call"),
                     FX_S("summary", "asked about the refund")));
    fx_event(&ev[7], GUEST, "spend.recorded",
             FX_BODY(FX_I("amount", 4200), FX_S("currency", "EUR"),
                     FX_S("category", "fnb")));
    return fx_append_as(&D, K[CRM_ROLE_AGENT], ev, 8);
}

static int
make_granted(void)
{
    crm_client *a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {FX_S("role", "auditor"), FX_S("grant", "personal_data"),
                  FX_S("label", "dpo audit")};
    crm_err err = fx_call_kv(a, "key.create", kv, 3, &res, &why);
    if (err == CRM_OK)
        fx_res_str(res, "key", granted, sizeof(granted));
    else
        fprintf(stderr, "key.create: %s\n", why.msg);
    crm_client_close(a);
    return err == CRM_OK && granted[0] ? 0 : -1;
}

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 0, NULL) != 0 || fx_tenant(&D, "view-hotel", K) != 0)
        return -1;
    return load() == 0 && make_granted() == 0 ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    int rc = fx_crmd_stop_clean(&D);
    fx_crmd_cleanup(&D);
    return rc;
}

/* --- the reads ------------------------------------------------------------- */

/* What the events of a read reply show: the union of their pii keys;
 * *redacted counts events marked pii_redacted, *listed those with a
 * pii_withheld. */
static unsigned
events_show(const msgpack_object *evs, int *redacted, int *listed)
{
    unsigned bits = 0;
    *redacted = *listed = 0;
    assert_non_null(evs);
    for (uint32_t i = 0; i < evs->via.array.size; i++) {
        const msgpack_object *e = &evs->via.array.ptr[i];
        bits |= keys_of(crm_mp_get(e, "pii"));
        const msgpack_object *r = crm_mp_get(e, "pii_redacted");
        *redacted += r && r->type == MSGPACK_OBJECT_BOOLEAN && r->via.boolean;
        *listed += crm_mp_get(e, "pii_withheld") != NULL;
    }
    return bits;
}

/* Events with personal data: registered, preference, flight, complaint,
 * interaction. */
#define PERSONAL_EVENTS 5

static void
check_read(const viewer *v, const char *op, const fx_kv *kv, size_t n)
{
    crm_client *c = fx_client(&D, D.url, key_of(v));
    const msgpack_object *res;
    crm_error why;
    crm_err err = fx_call_kv(c, op, kv, n, &res, &why);
    if (!v->reads_log) {
        if (err != CRM_ERR_FORBIDDEN)
            fail_msg("%s, %s: %s, not forbidden", v->name, op,
                     crm_err_name(err));
        crm_client_close(c);
        return;
    }
    if (err != CRM_OK)
        fail_msg("%s, %s: %s: %s", v->name, op, crm_err_name(err), why.msg);
    int redacted, listed;
    const msgpack_object *evs = crm_mp_get(res, "events");
    assert_true(evs->via.array.size >= 8); /* and the points earned */
    expect_bits(v->name, op, events_show(evs, &redacted, &listed), v->sees);
    /* a view that sees nothing: every personal event marked, no names */
    assert_int_equal(redacted, v->sees ? 0 : PERSONAL_EVENTS);
    assert_int_equal(listed, 0);
    crm_client_close(c);
}

static void
test_read_stream(void **state)
{
    (void)state;
    fx_kv kv[] = {FX_S("stream", GUEST)};
    for (size_t i = 0; i < NVIEWERS; i++)
        check_read(&viewers[i], "read.stream", kv, 1);
    fx_reset();
}

static void
test_read_all(void **state)
{
    (void)state;
    fx_kv kv[] = {FX_I("from", 1)};
    for (size_t i = 0; i < NVIEWERS; i++)
        check_read(&viewers[i], "read.all", kv, 1);
    fx_reset();
}

/* The raw records of a sealed tenant hold sealed bytes: no personal value
 * in them, whoever reads. */
static void
test_raw_is_sealed(void **state)
{
    (void)state;
    static const char *const plain[] = {"Vesna", "vesna@viewtest.example",
                                        "P12345678", "mould behind"};
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_REPLICA]);
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {FX_I("from", 1), FX_B("raw", 1)};
    assert_int_equal(fx_call_kv(c, "read.all", kv, 2, &res, &why), CRM_OK);
    const msgpack_object *recs = crm_mp_get(res, "records");
    assert_true(recs->via.array.size >= 8);
    for (uint32_t i = 0; i < recs->via.array.size; i++) {
        const msgpack_object *r = &recs->via.array.ptr[i];
        assert_int_equal(r->type, MSGPACK_OBJECT_BIN);
        for (size_t p = 0; p < sizeof(plain) / sizeof(plain[0]); p++)
            assert_null(memmem(r->via.bin.ptr, r->via.bin.size, plain[p],
                               strlen(plain[p])));
    }
    crm_client_close(c);
    fx_reset();
}

/* --- the 360 view and the right of access ------------------------------ */

/* Bits a customer.get result shows: its profile keys, and the value of
 * the diet preference (service). */
static unsigned
view_shows(const msgpack_object *view)
{
    const msgpack_object *p = crm_mp_get(view, "profile");
    assert_non_null(p);
    unsigned bits = keys_of(p);
    /* not personal data: every role that reads the view gets it */
    assert_non_null(crm_mp_get(p, "nationality"));
    const msgpack_object *pref = crm_mp_get(view, "preferences");
    const msgpack_object *diet = crm_mp_get(pref, "diet");
    if (diet && diet->type == MSGPACK_OBJECT_STR)
        bits |= B(F_VALUE);
    /* figures are not personal: finance and marketing get them too */
    assert_non_null(crm_mp_get(view, "lifetime"));
    assert_int_equal(crm_mp_get(view, "complaints_open")->via.array.size, 1);
    return bits;
}

static void
test_customer_get(void **state)
{
    (void)state;
    for (size_t i = 0; i < NVIEWERS; i++) {
        const viewer *v = &viewers[i];
        crm_client *c = fx_client(&D, D.url, key_of(v));
        const msgpack_object *res;
        crm_error why;
        fx_kv kv[] = {FX_S("customer", GUEST)};
        crm_err err = fx_call_kv(c, "customer.get", kv, 1, &res, &why);
        if (!v->gets) {
            if (err != CRM_ERR_FORBIDDEN)
                fail_msg("%s, customer.get: %s, not forbidden", v->name,
                         crm_err_name(err));
        } else {
            if (err != CRM_OK)
                fail_msg("%s, customer.get: %s: %s", v->name,
                         crm_err_name(err), why.msg);
            expect_bits(v->name, "customer.get", view_shows(res),
                        v->sees & (PROFILE | B(F_VALUE)));
        }
        crm_client_close(c);
    }
    fx_reset();
}

static void
test_customer_export(void **state)
{
    (void)state;
    for (size_t i = 0; i < NVIEWERS; i++) {
        const viewer *v = &viewers[i];
        crm_client *c = fx_client(&D, D.url, key_of(v));
        const msgpack_object *res;
        crm_error why;
        fx_kv kv[] = {FX_S("customer", GUEST), FX_I("max", 100)};
        crm_err err = fx_call_kv(c, "customer.export", kv, 2, &res, &why);
        if (!v->exports) {
            if (err != CRM_ERR_FORBIDDEN)
                fail_msg("%s, customer.export: %s, not forbidden", v->name,
                         crm_err_name(err));
            crm_client_close(c);
            continue;
        }
        if (err != CRM_OK)
            fail_msg("%s, customer.export: %s: %s", v->name,
                     crm_err_name(err), why.msg);
        const msgpack_object *evs = crm_mp_get(res, "events");
        assert_true(evs->via.array.size >= 8); /* and the points earned */
        unsigned bits = 0;
        for (uint32_t e = 0; e < evs->via.array.size; e++)
            bits |= keys_of(crm_mp_get(&evs->via.array.ptr[e], "data"));
        expect_bits(v->name, "customer.export events", bits, v->sees);
        expect_bits(v->name, "customer.export view",
                    view_shows(crm_mp_get(res, "view")),
                    v->sees & (PROFILE | B(F_VALUE)));
        crm_client_close(c);
    }
    fx_reset();
}

/* --- the grant ----------------------------------------------------------- */

static void
test_grant_rules(void **state)
{
    (void)state;
    const msgpack_object *res;
    crm_error why;
    crm_client *a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    /* only for auditors */
    fx_kv agent[] = {FX_S("role", "agent"), FX_S("grant", "personal_data")};
    assert_int_equal(fx_call_kv(a, "key.create", agent, 2, &res, &why),
                     CRM_ERR_BAD_REQUEST);
    fx_kv unknown[] = {FX_S("role", "auditor"), FX_S("grant", "everything")};
    assert_int_equal(fx_call_kv(a, "key.create", unknown, 2, &res, &why),
                     CRM_ERR_BAD_REQUEST);
    /* key.list tells which key has it */
    assert_int_equal(fx_call_kv(a, "key.list", NULL, 0, &res, &why), CRM_OK);
    const msgpack_object *keys = crm_mp_get(res, "keys");
    int with = 0, without = 0;
    for (uint32_t i = 0; i < keys->via.array.size; i++) {
        const msgpack_object *g = crm_mp_get(&keys->via.array.ptr[i], "grant");
        assert_non_null(g);
        if (g->type == MSGPACK_OBJECT_STR) {
            assert_int_equal(g->via.str.size, strlen("personal_data"));
            assert_memory_equal(g->via.str.ptr, "personal_data",
                                g->via.str.size);
            with++;
        } else {
            assert_int_equal(g->type, MSGPACK_OBJECT_NIL);
            without++;
        }
    }
    assert_int_equal(with, 1);
    assert_true(without >= CRM_ROLE__COUNT - 1);
    crm_client_close(a);
    /* the operator hosts the tenant; it does not decide who reads guests */
    crm_client *o = fx_client(&D, D.url, K[CRM_ROLE_OPERATOR]);
    fx_kv op[] = {FX_S("role", "auditor"), FX_S("tenant", "view-hotel"),
                  FX_S("grant", "personal_data")};
    assert_int_equal(fx_call_kv(o, "key.create", op, 3, &res, &why),
                     CRM_ERR_FORBIDDEN);
    crm_client_close(o);
    fx_reset();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_stream),
        cmocka_unit_test(test_read_all),
        cmocka_unit_test(test_raw_is_sealed),
        cmocka_unit_test(test_customer_get),
        cmocka_unit_test(test_customer_export),
        cmocka_unit_test(test_grant_rules),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
