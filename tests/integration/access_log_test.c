/* access_log_test.c - the access log over RPC against a real crmd: keys
 * of agent, marketing and admin read two guests through customer.get,
 * read.stream, customer.export and read.all; audit.access by guest lists
 * exactly those reads (key id, role, op), by key that key's; raw records
 * are logged where they carry personal data in the clear (a tenant made
 * without sealing), not where it is sealed; an auditor
 * without the grant and a guest with nothing personal leave no entry;
 * after a clean restart the entries are still there; crmctl audit access
 * prints them; with a pinned query clock (CRM_TEST_CLOCK builds) a
 * restart with a short retention prunes the old ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "crmd_fixture.h"
#include "rpc.h"

#define GA "guest-a"
#define GB "guest-b"
#define GC "guest-c" /* nothing personal on record */

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];
/* the crmd and keys call_ok and expect_log talk to: D's, but for the
 * test of a tenant without sealing */
static fx_crmd *S = &D;
static char (*KS)[128] = K;

/* The id of a key token crmk_<id>_<secret>. */
static const char *
kid(crm_role r, char out[20])
{
    memcpy(out, KS[r] + 5, 16);
    out[16] = '\0';
    return out;
}

static int
load_into(fx_crmd *d, char (*keys)[128])
{
    crm_event_in ev[5];
    fx_event(&ev[0], GA, "customer.registered",
             FX_BODY(FX_S("first_name", "Ana"), FX_S("last_name", "Reis"),
                     FX_S("email", "ana@access.example")));
    fx_event(&ev[1], GB, "customer.registered",
             FX_BODY(FX_S("first_name", "Bruno"), FX_S("last_name", "Lima"),
                     FX_S("email", "bruno@access.example")));
    fx_event(&ev[2], GA, "spend.recorded",
             FX_BODY(FX_I("amount", 1000), FX_S("currency", "EUR"),
                     FX_S("category", "fnb")));
    fx_event(&ev[3], GC, "spend.recorded",
             FX_BODY(FX_I("amount", 500), FX_S("currency", "EUR"),
                     FX_S("category", "fnb")));
    fx_event(&ev[4], GB, "customer.consent_changed",
             FX_BODY(FX_S("channel", "email"), FX_B("granted", 1),
                     FX_S("purpose", "marketing")));
    return fx_append_as(d, keys[CRM_ROLE_AGENT], ev, 5);
}

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 0, NULL) != 0 ||
        fx_tenant(&D, "access-hotel", K) != 0)
        return -1;
    return load_into(&D, K);
}

static int
group_teardown(void **state)
{
    (void)state;
    int rc = fx_crmd_stop_clean(&D);
    fx_crmd_cleanup(&D);
    return rc;
}

static void
call_ok(crm_role r, const char *op, const char *k, const char *v)
{
    crm_client *c = fx_client(S, S->url, KS[r]);
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {FX_S(k, v)};
    crm_err err = fx_call_kv(c, op, kv, k ? 1 : 0, &res, &why);
    if (err != CRM_OK)
        fail_msg("%s as %s: %s", op, crm_role_name(r), why.msg);
    crm_client_close(c);
    fx_reset();
}

typedef struct want {
    crm_role role;
    const char *op;
    const char *guest;
} want;

/* audit.access with by = v (by "customer" or "key_id"), all pages of
 * limit, against w[0..n) in order. */
static void
expect_log(const char *by, const char *v, int64_t limit, const want *w,
           size_t n)
{
    crm_client *c = fx_client(S, S->url, KS[CRM_ROLE_AUDITOR]);
    char cursor[64] = "";
    size_t got = 0;
    for (int page = 0; page < 100; page++) {
        const msgpack_object *res;
        crm_error why;
        fx_kv kv[] = {FX_S(by, v), FX_I("limit", limit),
                      FX_S("cursor", cursor)};
        crm_err err =
            fx_call_kv(c, "audit.access", kv, cursor[0] ? 3 : 2, &res, &why);
        if (err != CRM_OK)
            fail_msg("audit.access %s=%s: %s", by, v, why.msg);
        const msgpack_object *es = crm_mp_get(res, "entries");
        assert_non_null(es);
        assert_true(es->via.array.size <= (uint32_t)limit);
        for (uint32_t i = 0; i < es->via.array.size; i++, got++) {
            const msgpack_object *e = &es->via.array.ptr[i];
            char key[40], role[16], op[40], guest[80], id[20];
            if (got >= n)
                fail_msg("%s=%s: more entries than %zu (%s by %s)", by, v, n,
                         fx_res_str(e, "op", op, sizeof(op)),
                         fx_res_str(e, "role", role, sizeof(role)));
            fx_res_str(e, "key_id", key, sizeof(key));
            fx_res_str(e, "role", role, sizeof(role));
            fx_res_str(e, "op", op, sizeof(op));
            fx_res_str(e, "customer", guest, sizeof(guest));
            if (strcmp(key, kid(w[got].role, id)) != 0 ||
                strcmp(role, crm_role_name(w[got].role)) != 0 ||
                strcmp(op, w[got].op) != 0 || strcmp(guest, w[got].guest) != 0)
                fail_msg("%s=%s entry %zu: %s %s %s %s, want %s %s %s", by, v,
                         got, key, role, op, guest,
                         crm_role_name(w[got].role), w[got].op, w[got].guest);
            assert_true(fx_res_u64(e, "time") > 0);
        }
        const msgpack_object *more = crm_mp_get(res, "more");
        if (!more->via.boolean) {
            assert_int_equal(crm_mp_get(res, "next")->type,
                             MSGPACK_OBJECT_NIL);
            break;
        }
        fx_res_str(res, "next", cursor, sizeof(cursor));
        assert_true(cursor[0] != '\0');
        fx_reset();
    }
    if (got != n)
        fail_msg("%s=%s: %zu entries, want %zu", by, v, got, n);
    crm_client_close(c);
    fx_reset();
}

static const want of_a[] = {
    {CRM_ROLE_AGENT, "customer.get", GA},
    {CRM_ROLE_AGENT, "customer.export", GA},
    {CRM_ROLE_MARKETING, "customer.get", GA},
    {CRM_ROLE_ADMIN, "read.stream", GA},
    {CRM_ROLE_ADMIN, "read.all", GA},
};
static const want of_b[] = {
    {CRM_ROLE_AGENT, "read.stream", GB},
    {CRM_ROLE_MARKETING, "customer.get", GB},
    {CRM_ROLE_ADMIN, "customer.export", GB},
    {CRM_ROLE_ADMIN, "read.all", GB},
};

static void
test_reads_are_logged(void **state)
{
    (void)state;
    call_ok(CRM_ROLE_AGENT, "customer.get", "customer", GA);
    call_ok(CRM_ROLE_AGENT, "customer.export", "customer", GA);
    call_ok(CRM_ROLE_AGENT, "read.stream", "stream", GB);
    call_ok(CRM_ROLE_MARKETING, "customer.get", "customer", GA);
    call_ok(CRM_ROLE_MARKETING, "customer.get", "customer", GB);
    /* an auditor without the grant sees no personal field: not logged */
    call_ok(CRM_ROLE_AUDITOR, "read.stream", "stream", GA);
    call_ok(CRM_ROLE_AUDITOR, "read.all", NULL, NULL);
    /* a stream with nothing personal in it: not logged */
    call_ok(CRM_ROLE_ADMIN, "read.stream", "stream", GC);
    call_ok(CRM_ROLE_ADMIN, "read.stream", "stream", GA);
    call_ok(CRM_ROLE_ADMIN, "customer.export", "customer", GB);
    /* one read of the whole log: each guest it showed, once */
    call_ok(CRM_ROLE_ADMIN, "read.all", NULL, NULL);

    expect_log("customer", GA, 100, of_a, 5);
    expect_log("customer", GA, 2, of_a, 5); /* three pages */
    expect_log("customer", GB, 100, of_b, 4);
    expect_log("customer", GC, 100, NULL, 0);
    static const want of_marketing[] = {
        {CRM_ROLE_MARKETING, "customer.get", GA},
        {CRM_ROLE_MARKETING, "customer.get", GB},
    };
    char id[20];
    expect_log("key_id", kid(CRM_ROLE_MARKETING, id), 100, of_marketing, 2);
    expect_log("key_id", kid(CRM_ROLE_AUDITOR, id), 100, NULL, 0);
    static const want of_admin[] = {
        {CRM_ROLE_ADMIN, "read.stream", GA},
        {CRM_ROLE_ADMIN, "customer.export", GB},
        {CRM_ROLE_ADMIN, "read.all", GA},
        {CRM_ROLE_ADMIN, "read.all", GB},
    };
    expect_log("key_id", kid(CRM_ROLE_ADMIN, id), 100, of_admin, 4);
}

/* read.all with raw: true as admin. */
static void
read_raw(void)
{
    crm_client *c = fx_client(S, S->url, KS[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {FX_B("raw", 1)};
    assert_int_equal(fx_call_kv(c, "read.all", kv, 1, &res, &why), CRM_OK);
    assert_true(crm_mp_get(res, "records")->via.array.size >= 5);
    crm_client_close(c);
    fx_reset();
}

/* Raw records of a sealed tenant hold its personal data sealed: nothing
 * personal handed out, nothing logged. A tenant created without sealing
 * keeps it in the clear in its records, so a raw read of them is logged
 * for each guest whose record carried some. */
static void
test_raw_reads(void **state)
{
    (void)state;
    read_raw();
    expect_log("customer", GA, 100, of_a, 5);
    expect_log("customer", GB, 100, of_b, 4);

    static fx_crmd E;
    static char KE[CRM_ROLE__COUNT][128];
    static const char *const plain[] = {"--no-encryption", NULL};
    assert_int_equal(fx_crmd_start(&E, 0, plain), 0);
    assert_int_equal(fx_tenant(&E, "plain-hotel", KE), 0);
    assert_int_equal(load_into(&E, KE), 0);
    S = &E;
    KS = KE;
    read_raw();
    static const want raw_a[] = {{CRM_ROLE_ADMIN, "read.all", GA}};
    static const want raw_b[] = {{CRM_ROLE_ADMIN, "read.all", GB}};
    expect_log("customer", GA, 100, raw_a, 1);
    expect_log("customer", GB, 100, raw_b, 1);
    expect_log("customer", GC, 100, NULL, 0);
    S = &D;
    KS = K;
    assert_int_equal(fx_crmd_stop_clean(&E), 0);
    fx_crmd_cleanup(&E);
}

/* Who may ask, and what a bad question gets. */
static void
test_audit_access_args(void **state)
{
    (void)state;
    const msgpack_object *res;
    crm_error why;
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    fx_kv kv[] = {FX_S("customer", GA)};
    assert_int_equal(fx_call_kv(c, "audit.access", kv, 1, &res, &why),
                     CRM_ERR_FORBIDDEN);
    crm_client_close(c);
    c = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    fx_kv both[] = {FX_S("customer", GA), FX_S("key_id", "x")};
    assert_int_equal(fx_call_kv(c, "audit.access", both, 2, &res, &why),
                     CRM_ERR_BAD_REQUEST);
    fx_kv cur[] = {FX_S("cursor", "nonsense")};
    assert_int_equal(fx_call_kv(c, "audit.access", cur, 1, &res, &why),
                     CRM_ERR_BAD_REQUEST);
    fx_kv lim[] = {FX_I("limit", 0)};
    assert_int_equal(fx_call_kv(c, "audit.access", lim, 1, &res, &why),
                     CRM_ERR_BAD_REQUEST);
    /* a time range by ISO strings: everything is after 2020 */
    fx_kv range[] = {FX_S("customer", GA), FX_S("from", "2020-01-01T00:00:00Z"),
                     FX_S("to", "2020-12-31T00:00:00Z")};
    assert_int_equal(fx_call_kv(c, "audit.access", range, 3, &res, &why),
                     CRM_OK);
    assert_int_equal(crm_mp_get(res, "entries")->via.array.size, 0);
    crm_client_close(c);
    fx_reset();
}

/* crmctl audit access --customer prints one line per entry. */
static void
test_crmctl(void **state)
{
    (void)state;
    char cmd[2048], id[20];
    snprintf(cmd, sizeof(cmd),
             "%s --url %s --key %s audit access --customer %s 2>&1",
             CRM_CRMCTL_PATH, D.url, K[CRM_ROLE_AUDITOR], GA);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[8192];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "5 accesses"));
    assert_non_null(strstr(out, "customer.export"));
    assert_non_null(strstr(out, kid(CRM_ROLE_MARKETING, id)));
    snprintf(cmd, sizeof(cmd),
             "%s --url %s --key %s audit access --key %s 2>&1",
             CRM_CRMCTL_PATH, D.url, K[CRM_ROLE_ADMIN],
             kid(CRM_ROLE_MARKETING, id));
    p = popen(cmd, "r");
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "2 accesses"));
    assert_null(strstr(out, "read.all"));
}

/* A clean shutdown writes every entry: all are there after a restart. */
static void
test_restart_keeps(void **state)
{
    (void)state;
    /* read, then stop at once: the entry is still queued */
    call_ok(CRM_ROLE_AGENT, "customer.get", "customer", GB);
    assert_int_equal(fx_crmd_stop(&D, SIGTERM), 0);
    assert_int_equal(fx_crmd_restart(&D), 0);
    expect_log("customer", GA, 100, of_a, 5);
    want b[5];
    memcpy(b, of_b, sizeof(of_b));
    b[4] = (want){CRM_ROLE_AGENT, "customer.get", GB};
    expect_log("customer", GB, 100, b, 5);
}

#ifdef CRM_TEST_CLOCK
/* Retention: restarted with the query clock a year on and a 30-day
 * retention, every entry made so far is older than that and goes; a read
 * made then stays. */
static void
test_retention(void **state)
{
    (void)state;
    static const char *const later[] = {"--pin-clock", "2099-06-01T00:00:00Z",
                                        "--access-retention-days", "30",
                                        NULL};
    assert_int_equal(fx_crmd_stop(&D, SIGTERM), 0);
    D.extra = later;
    assert_int_equal(fx_crmd_restart(&D), 0);
    call_ok(CRM_ROLE_ADMIN, "customer.get", "customer", GA);
    static const want now[] = {{CRM_ROLE_ADMIN, "customer.get", GA}};
    expect_log("customer", GA, 100, now, 1);
    expect_log("customer", GB, 100, NULL, 0);
}
#endif

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_are_logged),
        cmocka_unit_test(test_raw_reads),
        cmocka_unit_test(test_audit_access_args),
        cmocka_unit_test(test_crmctl),
        cmocka_unit_test(test_restart_keeps),
#ifdef CRM_TEST_CLOCK
        cmocka_unit_test(test_retention),
#endif
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
