/* access_test.c - the access matrix of crmd: every op of CRM_OP_MAP called
 * by every kind of caller (no key, a revoked key, another tenant's key, one
 * key per role), each cell checked against the op's roles, over every
 * transport (tcp, ipc, tls+tcp); then the rules the table alone does not
 * show: tenant isolation, what an admin may do with keys, which event
 * families a writer role may append, that a batch authorizes each of its
 * entries like a direct call (and refuses a keyless, revoked or
 * wrong-tenant caller as a whole), that another tenant's key reading inside
 * a batch gets its own tenant's data only, and that a key cannot write
 * into another tenant by naming it in the envelope.
 *
 * The matrices iterate crm_op_get(i) for i < CRM_OP__COUNT, so an op added
 * to the table is covered without touching this file (with empty args;
 * its allowed cells then only have to be neither unauthorized nor
 * forbidden). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crmd_fixture.h"
#include "keys.h"
#include "rpc.h"

/* alpha's customer; beta must never see it */
#define A_STREAM "guest-alpha-1"
#define B_STREAM "guest-beta-1"

static fx_crmd D;
static char KA[CRM_ROLE__COUNT][128]; /* tenant alpha, one key per role */
static char KB[CRM_ROLE__COUNT][128]; /* tenant beta */
static char KG[CRM_ROLE__COUNT][128]; /* tenant gamma: keys only, empty log */
static char revoked_key[128];
static int tenant_seq;

/* --- helpers -------------------------------------------------------------- */

/* A client on url (tcp, ipc or tls+tcp) with key (NULL: none) and tenant
 * in the envelope (NULL: none); aborts on failure. */
static crm_client *
open_client_at(const char *url, const char *key, const char *tenant)
{
    crm_client *c;
    crm_error why;
    crm_client_opts o = {
        .url = url, .key = key, .tenant = tenant, .timeout_ms = 20000};
    if (strncmp(url, "tls+", 4) == 0) {
        o.tls_ca = D.ca;
        o.tls_server_name = "localhost";
    }
    if (crm_client_open(&o, &c, &why) != CRM_OK) {
        fprintf(stderr, "client %s: %s\n", url, why.msg);
        abort();
    }
    return c;
}

static crm_client *
open_client(const char *key, const char *tenant)
{
    return open_client_at(D.url, key, tenant);
}

/* The transport of a test: its prestate is one of D's URLs. */
static const char *
test_url(void **state)
{
    assert_non_null(*state);
    return (const char *)*state;
}

/* "tcp", "ipc" or "tls+tcp" of url, for the report. */
static int
scheme_len(const char *url)
{
    const char *p = strstr(url, "://");
    return p ? (int)(p - url) : (int)strlen(url);
}

static void
sb_start(msgpack_sbuffer *sb, msgpack_packer *pk)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
}

static crm_err
call_sb(crm_client *c, const char *op, msgpack_sbuffer *sb,
        const msgpack_object **res, crm_error *why)
{
    crm_err err = crm_client_call_raw(c, op, sb->data, sb->size, res, why);
    msgpack_sbuffer_destroy(sb);
    return err;
}

/* Calls op with kv as its args map. */
static crm_err
call_kv(crm_client *c, const char *op, const fx_kv *kv, size_t n,
        const msgpack_object **res, crm_error *why)
{
    msgpack_sbuffer sb;
    fx_pack(kv, n, &sb);
    return call_sb(c, op, &sb, res, why);
}

/* Packs {events: [e]}. */
static void
pack_append_args(msgpack_packer *pk, const crm_event_in *e)
{
    msgpack_pack_map(pk, 1);
    crm_mp_pack_cstr(pk, "events");
    msgpack_pack_array(pk, 1);
    crm_rpc_pack_event(pk, e);
}

static crm_err
append_one(crm_client *c, const crm_event_in *e, const msgpack_object **res,
           crm_error *why)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    sb_start(&sb, &pk);
    pack_append_args(&pk, e);
    return call_sb(c, "append", &sb, res, why);
}

/* A fresh key (operator-made) for tenant; its id and/or token copied out. */
static void
fresh_key(const char *tenant, const char *role, char *key_id, char *token)
{
    crm_client *op = open_client(D.operator_key, NULL);
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {FX_S("tenant", tenant), FX_S("role", role),
                  FX_S("label", "access-test")};
    crm_err err = call_kv(op, "key.create", kv, 3, &res, &why);
    if (err != CRM_OK) {
        fprintf(stderr, "key.create for %s: %s\n", tenant, why.msg);
        abort();
    }
    if (key_id)
        fx_res_str(res, "key_id", key_id, 64);
    if (token)
        fx_res_str(res, "key", token, 128);
    crm_client_close(op);
}

/* The event a role would append: one of a family it may write. Roles that
 * may not append get an agent's event (they are refused before it
 * matters). */
static void
role_event(crm_event_in *e, crm_role role, const char *stream)
{
    switch (role) {
    case CRM_ROLE_MARKETING:
        fx_event(e, stream, "web.product_viewed",
                 FX_BODY(FX_S("product", "suite")));
        break;
    case CRM_ROLE_FINANCE:
        fx_event(e, stream, "spend.recorded",
                 FX_BODY(FX_I("amount", 4500), FX_S("currency", "EUR"),
                         FX_S("category", "spa")));
        break;
    default:
        fx_event(e, stream, "interaction.logged",
                 FX_BODY(FX_S("channel", "call")));
        break;
    }
}

/* Valid minimal args for op as called by role; *known = 0 for an op this
 * file does not know yet (it then gets an empty map). */
static void
build_args(crm_op op, crm_role role, msgpack_sbuffer *sb, int *known)
{
    msgpack_packer pk;
    sb_start(sb, &pk);
    *known = 1;
    switch (op) {
    case CRM_OP_PING:
    case CRM_OP_SERVER_INFO:
    case CRM_OP_TENANT_LIST:
    case CRM_OP_KEY_LIST:
    case CRM_OP_METRICS:
    case CRM_OP_SETTINGS_GET:
        msgpack_pack_map(&pk, 0);
        break;
    case CRM_OP_SETTINGS_SET:
        msgpack_pack_map(&pk, 2);
        crm_mp_pack_cstr(&pk, "effective_from");
        crm_mp_pack_cstr(&pk, "2026-01-01");
        crm_mp_pack_cstr(&pk, "dormant_days");
        msgpack_pack_uint64(&pk, 200);
        break;
    case CRM_OP_PROJECTION_REBUILD:
        msgpack_pack_map(&pk, 1);
        crm_mp_pack_cstr(&pk, "projection");
        crm_mp_pack_cstr(&pk, "settings");
        break;
    case CRM_OP_TENANT_CREATE: {
        char id[32];
        snprintf(id, sizeof(id), "matrix-%d", ++tenant_seq);
        msgpack_pack_map(&pk, 1);
        crm_mp_pack_cstr(&pk, "id");
        crm_mp_pack_cstr(&pk, id);
        break;
    }
    case CRM_OP_KEY_CREATE:
        msgpack_pack_map(&pk, 3);
        crm_mp_pack_cstr(&pk, "role");
        crm_mp_pack_cstr(&pk, "agent");
        crm_mp_pack_cstr(&pk, "tenant");
        crm_mp_pack_cstr(&pk, "alpha");
        crm_mp_pack_cstr(&pk, "label");
        crm_mp_pack_cstr(&pk, "matrix");
        break;
    case CRM_OP_KEY_REVOKE: {
        char id[64];
        fresh_key("alpha", "agent", id, NULL);
        msgpack_pack_map(&pk, 1);
        crm_mp_pack_cstr(&pk, "key_id");
        crm_mp_pack_cstr(&pk, id);
        break;
    }
    case CRM_OP_APPEND: {
        crm_event_in e;
        role_event(&e, role, "guest-matrix");
        pack_append_args(&pk, &e);
        break;
    }
    case CRM_OP_READ_STREAM:
        msgpack_pack_map(&pk, 1);
        crm_mp_pack_cstr(&pk, "stream");
        crm_mp_pack_cstr(&pk, A_STREAM);
        break;
    case CRM_OP_LOYALTY_GET:
        msgpack_pack_map(&pk, 1);
        crm_mp_pack_cstr(&pk, "customer");
        crm_mp_pack_cstr(&pk, A_STREAM);
        break;
    case CRM_OP_LOYALTY_SWEEP:
    case CRM_OP_KPI_GET:
    case CRM_OP_TASKS_TODAY:
    case CRM_OP_SEGMENT_LIST:
    case CRM_OP_SEGMENT_COUNTS:
        msgpack_pack_map(&pk, 0);
        break;
    case CRM_OP_SEGMENT_MEMBERS:
        msgpack_pack_map(&pk, 1);
        crm_mp_pack_cstr(&pk, "segment");
        crm_mp_pack_cstr(&pk, "lifecycle:new");
        break;
    case CRM_OP_SEGMENT_EXPORT:
        msgpack_pack_map(&pk, 2);
        crm_mp_pack_cstr(&pk, "segment");
        crm_mp_pack_cstr(&pk, "lifecycle:new");
        crm_mp_pack_cstr(&pk, "channel");
        crm_mp_pack_cstr(&pk, "email");
        break;
    case CRM_OP_SEGMENT_DEFINE:
        msgpack_pack_map(&pk, 2);
        crm_mp_pack_cstr(&pk, "name");
        crm_mp_pack_cstr(&pk, "matrix");
        crm_mp_pack_cstr(&pk, "filter");
        crm_mp_pack_cstr(&pk, "stays >= 1");
        break;
    case CRM_OP_CUSTOMER_GET:
    case CRM_OP_CUSTOMER_EXPORT:
        msgpack_pack_map(&pk, 1);
        crm_mp_pack_cstr(&pk, "customer");
        crm_mp_pack_cstr(&pk, A_STREAM);
        break;
    case CRM_OP_CUSTOMER_CONSENT_AT:
        msgpack_pack_map(&pk, 2);
        crm_mp_pack_cstr(&pk, "customer");
        crm_mp_pack_cstr(&pk, A_STREAM);
        crm_mp_pack_cstr(&pk, "channel");
        crm_mp_pack_cstr(&pk, "email");
        break;
    case CRM_OP_AUDIT_CONSENT_VIOLATIONS:
        msgpack_pack_map(&pk, 0);
        break;
    case CRM_OP_CUSTOMER_FIND:
        msgpack_pack_map(&pk, 1);
        crm_mp_pack_cstr(&pk, "email");
        crm_mp_pack_cstr(&pk, " Ana@Alpha.example");
        break;
    case CRM_OP_LOYALTY_REDEEM:
        msgpack_pack_map(&pk, 2);
        crm_mp_pack_cstr(&pk, "customer");
        crm_mp_pack_cstr(&pk, A_STREAM);
        crm_mp_pack_cstr(&pk, "points");
        msgpack_pack_uint64(&pk, 1);
        break;
    case CRM_OP_READ_ALL:
        msgpack_pack_map(&pk, 2);
        crm_mp_pack_cstr(&pk, "from");
        msgpack_pack_uint64(&pk, 1);
        crm_mp_pack_cstr(&pk, "max");
        msgpack_pack_uint64(&pk, 10);
        break;
    case CRM_OP_BATCH:
        msgpack_pack_map(&pk, 1);
        crm_mp_pack_cstr(&pk, "ops");
        msgpack_pack_array(&pk, 1);
        msgpack_pack_map(&pk, 1);
        crm_mp_pack_cstr(&pk, "op");
        crm_mp_pack_cstr(&pk, "ping");
        break;
    default:
        *known = 0;
        msgpack_pack_map(&pk, 0);
        break;
    }
}

static uint64_t
head_of(crm_client *c)
{
    const msgpack_object *res;
    crm_error why;
    fx_kv a[] = {FX_I("from", 1), FX_I("max", 1)};
    assert_int_equal(call_kv(c, "read.all", a, 2, &res, &why), CRM_OK);
    uint64_t head = fx_res_u64(res, "head");
    assert_int_not_equal(head, UINT64_MAX);
    return head;
}

/* The stream's last version as c's tenant sees it. */
static uint64_t
last_version_of(crm_client *c, const char *stream)
{
    const msgpack_object *res;
    crm_error why;
    fx_kv a[] = {FX_S("stream", stream)};
    assert_int_equal(call_kv(c, "read.stream", a, 1, &res, &why), CRM_OK);
    uint64_t v = fx_res_u64(res, "last_version");
    assert_int_not_equal(v, UINT64_MAX);
    return v;
}

/* Packs {ops: [{op, args?}...]}: one entry per op in ops[0..n), with
 * build_args's args for role when the op may ride in a batch (an op that
 * may not gets none: it is refused before its args matter). *known is
 * cleared when one of them is an op this file does not know. */
static void
pack_batch(const crm_op *ops, size_t n, crm_role role, msgpack_sbuffer *sb,
           int *known)
{
    msgpack_packer pk;
    *known = 1;
    sb_start(sb, &pk);
    msgpack_pack_map(&pk, 1);
    crm_mp_pack_cstr(&pk, "ops");
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) {
        const crm_op_info *op = crm_op_get(ops[i]);
        int batchable = (op->flags & CRM_OPF_BATCHABLE) != 0, k = 1;
        msgpack_sbuffer args;
        msgpack_pack_map(&pk, batchable ? 2 : 1);
        crm_mp_pack_cstr(&pk, "op");
        crm_mp_pack_cstr(&pk, op->name);
        if (batchable) {
            build_args(op->op, role, &args, &k);
            crm_mp_pack_cstr(&pk, "args");
            msgpack_sbuffer_write(sb, args.data, args.size);
            msgpack_sbuffer_destroy(&args);
            *known &= k;
        }
    }
}

/* The outcome name of one batch entry ("ok" or its error's name). */
static const char *
entry_outcome(const msgpack_object *e, char *name, size_t len)
{
    const msgpack_object *ok = crm_mp_get(e, "ok");
    if (ok == NULL || ok->type != MSGPACK_OBJECT_BOOLEAN)
        snprintf(name, len, "(no ok)");
    else if (ok->via.boolean)
        snprintf(name, len, "ok");
    else if (fx_res_str(crm_mp_get(e, "error"), "name", name, len)[0] == '\0')
        snprintf(name, len, "(no error name)");
    return name;
}

/* The results array of a batch reply, checked to hold n entries. */
static const msgpack_object *
batch_results(const msgpack_object *res, size_t n)
{
    const msgpack_object *results = crm_mp_get(res, "results");
    assert_non_null(results);
    assert_int_equal(results->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(results->via.array.size, n);
    return results->via.array.ptr;
}

/* --- setup ---------------------------------------------------------------- */

static int
group_setup(void **state)
{
    (void)state;
    /* with tls: the matrices run over tcp, ipc and tls+tcp */
    if (fx_crmd_start(&D, 1, NULL) != 0 || fx_tenant(&D, "alpha", KA) != 0 ||
        fx_tenant(&D, "beta", KB) != 0 || fx_tenant(&D, "gamma", KG) != 0)
        return -1;

    /* alpha has a customer; beta has its own */
    crm_client *a = open_client(KA[CRM_ROLE_AGENT], NULL);
    const msgpack_object *res;
    crm_error why;
    crm_event_in e;
    fx_event(&e, A_STREAM, "customer.registered",
             FX_BODY(FX_S("first_name", "Ana"), FX_S("last_name", "Alpha"),
                     FX_S("email", "ana@alpha.example")));
    if (append_one(a, &e, &res, &why) != CRM_OK) {
        fprintf(stderr, "append alpha: %s\n", why.msg);
        return -1;
    }
    /* points for every loyalty.redeem the matrices make */
    fx_event(&e, A_STREAM, "loyalty.points_earned",
             FX_BODY(FX_I("points", 100000)));
    if (append_one(a, &e, &res, &why) != CRM_OK) {
        fprintf(stderr, "append alpha points: %s\n", why.msg);
        return -1;
    }
    crm_client_close(a);
    crm_client *b = open_client(KB[CRM_ROLE_AGENT], NULL);
    fx_event(&e, B_STREAM, "interaction.logged",
             FX_BODY(FX_S("channel", "email")));
    if (append_one(b, &e, &res, &why) != CRM_OK) {
        fprintf(stderr, "append beta: %s\n", why.msg);
        return -1;
    }
    crm_client_close(b);

    /* an admin key of alpha that works, then is revoked with key.revoke */
    char id[64];
    fresh_key("alpha", "admin", id, revoked_key);
    crm_client *r = open_client(revoked_key, NULL);
    if (crm_client_call(r, "server.info", NULL, NULL, &res, &why) != CRM_OK) {
        fprintf(stderr, "fresh admin key does not work: %s\n", why.msg);
        return -1;
    }
    crm_client_close(r);
    crm_client *adm = open_client(KA[CRM_ROLE_ADMIN], NULL);
    fx_kv kv[] = {FX_S("key_id", id)};
    if (call_kv(adm, "key.revoke", kv, 1, &res, &why) != CRM_OK) {
        fprintf(stderr, "key.revoke: %s\n", why.msg);
        return -1;
    }
    crm_client_close(adm);
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

/* --- the matrix ----------------------------------------------------------- */

typedef enum caller_kind { NO_KEY, REVOKED, FOREIGN, ROLE } caller_kind;

typedef struct caller {
    const char *name;
    caller_kind kind;
    crm_role role; /* ROLE */
} caller;

static const caller callers[] = {
    {"no key", NO_KEY, 0},
    {"revoked", REVOKED, 0},
    {"beta->alpha", FOREIGN, 0},
    {"operator", ROLE, CRM_ROLE_OPERATOR},
    {"admin", ROLE, CRM_ROLE_ADMIN},
    {"agent", ROLE, CRM_ROLE_AGENT},
    {"marketing", ROLE, CRM_ROLE_MARKETING},
    {"finance", ROLE, CRM_ROLE_FINANCE},
    {"auditor", ROLE, CRM_ROLE_AUDITOR},
    {"replica", ROLE, CRM_ROLE_REPLICA},
};
#define NCALLERS (sizeof(callers) / sizeof(callers[0]))

/* CRM_OK stands for "allowed" (the call must get through the access check
 * and, for ops this file knows, succeed). */
static crm_err
expected_cell(const crm_op_info *op, const caller *c)
{
    switch (c->kind) {
    case NO_KEY:
        return op->roles == CRM_ANYONE ? CRM_OK : CRM_ERR_UNAUTHORIZED;
    case REVOKED:
        return CRM_ERR_UNAUTHORIZED;
    case FOREIGN:
        return CRM_ERR_FORBIDDEN;
    case ROLE:
    default:
        return (op->roles & CRM_ROLE_BIT(c->role)) ? CRM_OK : CRM_ERR_FORBIDDEN;
    }
}

static crm_client *
caller_client(const caller *c, const char *url)
{
    switch (c->kind) {
    case NO_KEY:
        return open_client_at(url, NULL, NULL);
    case REVOKED:
        return open_client_at(url, revoked_key, NULL);
    case FOREIGN:
        return open_client_at(url, KB[CRM_ROLE_ADMIN], "alpha");
    case ROLE:
    default:
        /* tenant keys name their own tenant in the envelope: allowed */
        return open_client_at(url, KA[c->role],
                              c->role == CRM_ROLE_OPERATOR ? NULL : "alpha");
    }
}

static int
cell_ok(crm_err got, crm_err want, int known)
{
    if (want != CRM_OK)
        return got == want;
    if (known)
        return got == CRM_OK;
    return got != CRM_ERR_UNAUTHORIZED && got != CRM_ERR_FORBIDDEN;
}

static void
test_matrix(void **state)
{
    const char *url = test_url(state);
    crm_err got[CRM_OP__COUNT][NCALLERS];
    int known[CRM_OP__COUNT];
    char msgs[CRM_OP__COUNT][NCALLERS][sizeof(((crm_error *)0)->msg)];
    crm_client *cl[NCALLERS];
    int failures = 0;

    for (size_t k = 0; k < NCALLERS; k++)
        cl[k] = caller_client(&callers[k], url);
    for (size_t i = 0; i < CRM_OP__COUNT; i++) {
        const crm_op_info *op = crm_op_get((crm_op)i);
        assert_non_null(op);
        for (size_t k = 0; k < NCALLERS; k++) {
            const msgpack_object *res;
            crm_error why = {CRM_OK, ""};
            msgpack_sbuffer sb;
            crm_role role =
                callers[k].kind == ROLE ? callers[k].role : CRM_ROLE_ADMIN;
            build_args(op->op, role, &sb, &known[i]);
            got[i][k] = call_sb(cl[k], op->name, &sb, &res, &why);
            snprintf(msgs[i][k], sizeof(msgs[i][k]), "%s", why.msg);
            fx_reset();
        }
    }
    for (size_t k = 0; k < NCALLERS; k++)
        crm_client_close(cl[k]);

    /* The table: rows are ops, columns callers; a cell that differs from
     * what the op's roles say is marked "!" with the expected outcome. */
    printf("\naccess matrix over %.*s (cell: outcome; '!' = wrong, expected "
           "after '/')\n",
           scheme_len(url), url);
    printf("%-13s", "op");
    for (size_t k = 0; k < NCALLERS; k++)
        printf(" %-13s", callers[k].name);
    printf("\n");
    for (size_t i = 0; i < CRM_OP__COUNT; i++) {
        const crm_op_info *op = crm_op_get((crm_op)i);
        printf("%-13s", op->name);
        for (size_t k = 0; k < NCALLERS; k++) {
            crm_err want = expected_cell(op, &callers[k]);
            char cell[40];
            if (cell_ok(got[i][k], want, known[i]))
                snprintf(cell, sizeof(cell), "%s", crm_err_name(got[i][k]));
            else
                snprintf(cell, sizeof(cell), "!%s/%s", crm_err_name(got[i][k]),
                         want == CRM_OK ? "ok" : crm_err_name(want));
            printf(" %-13s", cell);
        }
        printf("%s\n", known[i] ? "" : "  (new op: empty args)");
    }
    for (size_t i = 0; i < CRM_OP__COUNT; i++) {
        const crm_op_info *op = crm_op_get((crm_op)i);
        for (size_t k = 0; k < NCALLERS; k++) {
            crm_err want = expected_cell(op, &callers[k]);
            if (!cell_ok(got[i][k], want, known[i])) {
                printf("MISMATCH %.*s %s by %s: got %s (\"%s\"), want %s\n",
                       scheme_len(url), url, op->name, callers[k].name,
                       crm_err_name(got[i][k]), msgs[i][k],
                       want == CRM_OK ? "ok" : crm_err_name(want));
                failures++;
            }
        }
    }
    fflush(stdout);
    assert_int_equal(failures, 0);
}

/* --- batch entries are authorized like direct calls ---------------------- */

static void
test_batch_entries_authorized(void **state)
{
    const char *url = test_url(state);
    int failures = 0;
    for (int r = 0; r < CRM_ROLE__COUNT; r++) {
        crm_client *c = open_client_at(url, KA[r], NULL);
        for (size_t i = 0; i < CRM_OP__COUNT; i++) {
            const crm_op_info *op = crm_op_get((crm_op)i);
            int batchable = (op->flags & CRM_OPF_BATCHABLE) != 0, known;
            crm_op one = op->op;
            msgpack_sbuffer sb;
            pack_batch(&one, 1, (crm_role)r, &sb, &known);
            const msgpack_object *res;
            crm_error why;
            crm_err err = call_sb(c, "batch", &sb, &res, &why);
            fx_reset();
            assert_int_equal(err, CRM_OK); /* every role may call batch */
            char name[32];
            entry_outcome(batch_results(res, 1), name, sizeof(name));
            const char *want = !batchable                      ? "bad_request"
                               : (op->roles & CRM_ROLE_BIT(r)) ? "ok"
                                                               : "forbidden";
            int good = strcmp(name, want) == 0 ||
                       (batchable && !known && (op->roles & CRM_ROLE_BIT(r)) &&
                        strcmp(name, "forbidden") != 0 &&
                        strcmp(name, "unauthorized") != 0);
            if (!good) {
                printf("MISMATCH %.*s batch[%s] by %s: got %s, want %s\n",
                       scheme_len(url), url, op->name,
                       crm_role_name((crm_role)r), name, want);
                failures++;
            }
        }
        crm_client_close(c);
    }
    assert_int_equal(failures, 0);
}

/* --- batches of callers that are not alpha's --------------------------------
 *
 * No key, a revoked key, or a key naming another tenant in the envelope:
 * the batch itself is refused (PROTOCOL.md: `batch` needs a key; a revoked
 * key is `unauthorized` and a foreign envelope tenant `forbidden` for any
 * request), whatever it carries, so no entry runs. */

static void
test_batch_outsiders_refused(void **state)
{
    const char *url = test_url(state);
    const crm_op_info *batch = crm_op_get(CRM_OP_BATCH);
    crm_op all[CRM_OP__COUNT];
    int failures = 0, checked = 0;

    for (size_t i = 0; i < CRM_OP__COUNT; i++)
        all[i] = (crm_op)i;
    for (size_t k = 0; k < NCALLERS; k++) {
        if (callers[k].kind == ROLE)
            continue;
        crm_err want = expected_cell(batch, &callers[k]);
        /* the checks below are of whole-request refusals; a batch that
         * got through would need per-entry ones */
        assert_int_not_equal(want, CRM_OK);
        crm_client *c = caller_client(&callers[k], url);
        /* each op alone, then all of them in one batch */
        for (size_t i = 0; i <= CRM_OP__COUNT; i++) {
            int whole = i == CRM_OP__COUNT, known;
            msgpack_sbuffer sb;
            pack_batch(whole ? all : &all[i], whole ? CRM_OP__COUNT : 1,
                       CRM_ROLE_ADMIN, &sb, &known);
            const msgpack_object *res = NULL;
            crm_error why = {CRM_OK, ""};
            crm_err err = call_sb(c, "batch", &sb, &res, &why);
            fx_reset();
            checked++;
            if (err != want) {
                printf("MISMATCH %.*s batch[%s] by %s: got %s (\"%s\"), "
                       "want %s for the whole request\n",
                       scheme_len(url), url,
                       whole ? "every op" : crm_op_get(all[i])->name,
                       callers[k].name, crm_err_name(err), why.msg,
                       crm_err_name(want));
                failures++;
            }
        }
        crm_client_close(c);
    }
    printf("%.*s: %d outsider batches refused as a whole\n", scheme_len(url),
           url, checked);
    assert_int_equal(failures, 0);
}

/* Whether one batch entry for op, run with gamma's key of role, is what
 * PROTOCOL.md says and holds gamma's data only (gamma has keys and no
 * events); else 0 with the reason in bad. */
static int
gamma_entry_ok(const crm_op_info *op, crm_role role, int known,
               const msgpack_object *e, char *bad, size_t len)
{
    int batchable = (op->flags & CRM_OPF_BATCHABLE) != 0;
    int allowed = (op->roles & CRM_ROLE_BIT(role)) != 0;
    char name[32], s[64];
    entry_outcome(e, name, sizeof(name));
    /* alpha has A_STREAM; gamma has none */
    const char *want = !batchable                     ? "bad_request"
                       : !allowed                     ? "forbidden"
                       : op->op == CRM_OP_READ_STREAM ||
                               op->op == CRM_OP_LOYALTY_GET ||
                               op->op == CRM_OP_CUSTOMER_GET ||
                               op->op == CRM_OP_CUSTOMER_CONSENT_AT
                           ? "not_found"
                           : "ok";
    if (batchable && allowed && !known)
        want = NULL; /* a new op: only past the access check */
    if (want ? strcmp(name, want) != 0
             : strcmp(name, "forbidden") == 0 ||
                   strcmp(name, "unauthorized") == 0) {
        snprintf(bad, len, "got %s, want %s", name, want ? want : "allowed");
        return 0;
    }
    if (strcmp(name, "ok") != 0)
        return 1;
    const msgpack_object *res = crm_mp_get(e, "result");
    if (res == NULL || res->type != MSGPACK_OBJECT_MAP) {
        snprintf(bad, len, "ok without a result map");
        return 0;
    }
    switch (op->op) {
    case CRM_OP_PING: {
        const msgpack_object *pong = crm_mp_get(res, "pong");
        if (pong == NULL || pong->type != MSGPACK_OBJECT_BOOLEAN ||
            !pong->via.boolean) {
            snprintf(bad, len, "no pong");
            return 0;
        }
        break;
    }
    case CRM_OP_SERVER_INFO:
        if (strcmp(fx_res_str(res, "tenant", s, sizeof(s)), "gamma") != 0) {
            snprintf(bad, len, "tenant '%s', want gamma", s);
            return 0;
        }
        if (strcmp(fx_res_str(res, "role", s, sizeof(s)),
                   crm_role_name(role)) != 0) {
            snprintf(bad, len, "role '%s'", s);
            return 0;
        }
        break;
    case CRM_OP_KEY_LIST: {
        const msgpack_object *keys = crm_mp_get(res, "keys");
        if (keys == NULL || keys->type != MSGPACK_OBJECT_ARRAY ||
            keys->via.array.size < CRM_ROLE__COUNT - 1) {
            snprintf(bad, len, "fewer keys than gamma has");
            return 0;
        }
        for (uint32_t j = 0; j < keys->via.array.size; j++)
            if (strcmp(
                    fx_res_str(&keys->via.array.ptr[j], "tenant", s, sizeof(s)),
                    "gamma") != 0) {
                snprintf(bad, len, "lists a key of tenant '%s'", s);
                return 0;
            }
        break;
    }
    case CRM_OP_READ_ALL: {
        /* gamma's own log, which is empty: never alpha's events */
        const msgpack_object *evs = crm_mp_get(res, "events");
        const msgpack_object *more = crm_mp_get(res, "more");
        if (evs == NULL || evs->type != MSGPACK_OBJECT_ARRAY ||
            evs->via.array.size != 0) {
            snprintf(bad, len, "%u events in gamma's empty log",
                     evs && evs->type == MSGPACK_OBJECT_ARRAY
                         ? evs->via.array.size
                         : 0);
            return 0;
        }
        if (fx_res_u64(res, "head") != 0 || more == NULL ||
            more->type != MSGPACK_OBJECT_BOOLEAN || more->via.boolean) {
            snprintf(bad, len, "head %llu / more, want 0 and false",
                     (unsigned long long)fx_res_u64(res, "head"));
            return 0;
        }
        break;
    }
    case CRM_OP_SETTINGS_GET:
        /* alpha's settings changed in the matrix; gamma's never did */
        if (fx_res_u64(res, "changes") != 0 ||
            fx_res_u64(res, "dormant_days") != 180) {
            snprintf(bad, len, "%llu changes, dormant_days %llu: not gamma's",
                     (unsigned long long)fx_res_u64(res, "changes"),
                     (unsigned long long)fx_res_u64(res, "dormant_days"));
            return 0;
        }
        break;
    case CRM_OP_CUSTOMER_FIND: {
        /* alpha's guest has that e-mail; gamma has no guests */
        const msgpack_object *h = crm_mp_get(res, "hits");
        if (h == NULL || h->type != MSGPACK_OBJECT_ARRAY ||
            h->via.array.size != 0) {
            snprintf(bad, len, "hits that are not gamma's");
            return 0;
        }
        break;
    }
    case CRM_OP_METRICS: {
        const msgpack_object *t = crm_mp_get(res, "tenants");
        if (t == NULL || crm_mp_get(t, "gamma") == NULL ||
            crm_mp_get(t, "alpha") != NULL || crm_mp_get(t, "beta") != NULL) {
            snprintf(bad, len, "tenants other than gamma's own");
            return 0;
        }
        break;
    }
    default:
        break;
    }
    return 1;
}

/* Another tenant's keys (gamma's, one per role, no envelope tenant) get
 * every entry authorized for their role, and what they read is gamma's:
 * checked on the content of each entry, each op alone and all in one
 * batch (one entry's refusal must not change the others). */
static void
test_batch_foreign_tenant_reads_its_own(void **state)
{
    const char *url = test_url(state);
    crm_op all[CRM_OP__COUNT];
    int failures = 0;

    for (size_t i = 0; i < CRM_OP__COUNT; i++)
        all[i] = (crm_op)i;
    /* every op fits in one batch (else split the all-ops batch) */
    assert_true(CRM_OP__COUNT <= CRM_RPC_MAX_BATCH_OPS);
    /* alpha's log is not empty, so gamma's empty read.all means
     * something */
    crm_client *a = open_client_at(url, KA[CRM_ROLE_ADMIN], NULL);
    assert_true(head_of(a) >= 1);
    crm_client_close(a);

    for (int r = CRM_ROLE_ADMIN; r < CRM_ROLE__COUNT; r++) {
        crm_client *c = open_client_at(url, KG[r], NULL);
        for (size_t i = 0; i <= CRM_OP__COUNT; i++) {
            int whole = i == CRM_OP__COUNT, known;
            size_t n = whole ? CRM_OP__COUNT : 1;
            msgpack_sbuffer sb;
            pack_batch(whole ? all : &all[i], n, (crm_role)r, &sb, &known);
            const msgpack_object *res;
            crm_error why;
            crm_err err = call_sb(c, "batch", &sb, &res, &why);
            assert_int_equal(err, CRM_OK);
            const msgpack_object *e = batch_results(res, n);
            for (size_t j = 0; j < n; j++) {
                const crm_op_info *op = crm_op_get(whole ? all[j] : all[i]);
                char bad[160];
                if (!gamma_entry_ok(op, (crm_role)r, known, &e[j], bad,
                                    sizeof(bad))) {
                    printf("MISMATCH %.*s batch%s[%s] by gamma %s: %s\n",
                           scheme_len(url), url, whole ? "(every op)" : "",
                           op->name, crm_role_name((crm_role)r), bad);
                    failures++;
                }
            }
            fx_reset();
        }
        crm_client_close(c);
    }
    assert_int_equal(failures, 0);
}

/* --- cross-tenant writes ----------------------------------------------------
 *
 * A beta key naming alpha in the envelope is refused (`forbidden`) and
 * nothing moves, neither alpha's head nor the stream it named nor beta's
 * head; the event with the key's own tenant named is written (so the
 * refusal was for the tenant, not for the event). */

static void
test_cross_tenant_append_refused(void **state)
{
    const char *url = test_url(state);
    const crm_op_info *append = crm_op_get(CRM_OP_APPEND);
    crm_client *a = open_client_at(url, KA[CRM_ROLE_ADMIN], NULL);
    crm_client *b = open_client_at(url, KB[CRM_ROLE_ADMIN], NULL);
    int writers = 0;

    for (int r = 0; r < CRM_ROLE__COUNT; r++) {
        const msgpack_object *res;
        crm_error why = {CRM_OK, ""};
        crm_event_in e;
        role_event(&e, (crm_role)r, A_STREAM);
        uint64_t alpha_head = head_of(a), beta_head = head_of(b);
        uint64_t a_version = last_version_of(a, A_STREAM);

        crm_client *x = open_client_at(url, KB[r], "alpha");
        crm_err err = append_one(x, &e, &res, &why);
        crm_client_close(x);
        printf("%.*s: beta %s append naming alpha -> %s (\"%s\")\n",
               scheme_len(url), url, crm_role_name((crm_role)r),
               crm_err_name(err), why.msg);
        assert_int_equal(err, CRM_ERR_FORBIDDEN);
        assert_int_equal(head_of(a), alpha_head);
        assert_int_equal(last_version_of(a, A_STREAM), a_version);
        assert_int_equal(head_of(b), beta_head);

        if (!(append->roles & CRM_ROLE_BIT(r)))
            continue;
        /* the control: the key's own tenant named, the same event id on
         * beta's stream (beta's log holds B_STREAM only: see
         * test_beta_never_sees_alpha). Had the refused append been
         * written into beta, this would be a conflict (same id, other
         * content). */
        crm_client *own = open_client_at(url, KB[r], "beta");
        e.stream = B_STREAM;
        e.stream_len = strlen(B_STREAM);
        assert_int_equal(append_one(own, &e, &res, &why), CRM_OK);
        assert_int_equal(fx_res_u64(res, "duplicates"), 0);
        /* a spend brings its points with it: one position per event */
        const msgpack_object *der = crm_mp_get(res, "derived");
        uint64_t written = crm_mp_get(res, "positions")->via.array.size +
                           (der ? der->via.array.size : 0);
        assert_true(written >= 1);
        crm_client_close(own);
        assert_int_equal(head_of(b), beta_head + written);
        assert_int_equal(head_of(a), alpha_head);
        writers++;
        fx_reset();
    }
    assert_true(writers >= 4); /* admin, agent, marketing, finance */
    crm_client_close(b);
    crm_client_close(a);
    fx_reset();
}

/* --- tenant isolation ----------------------------------------------------- */

static void
test_beta_never_sees_alpha(void **state)
{
    (void)state;
    const msgpack_object *res;
    crm_error why;
    fx_kv rs[] = {FX_S("stream", A_STREAM)};

    /* alpha's own reader sees the stream (so the refusals below mean
     * something) */
    crm_client *a = open_client(KA[CRM_ROLE_AGENT], NULL);
    assert_int_equal(call_kv(a, "read.stream", rs, 1, &res, &why), CRM_OK);
    assert_true(crm_mp_get(res, "events")->via.array.size >= 1);
    crm_client_close(a);

    /* every beta reader reads beta's own log, which lacks the stream */
    const crm_role readers[] = {CRM_ROLE_ADMIN, CRM_ROLE_AGENT,
                                CRM_ROLE_AUDITOR, CRM_ROLE_REPLICA};
    for (size_t i = 0; i < 4; i++) {
        crm_client *b = open_client(KB[readers[i]], NULL);
        crm_err err = call_kv(b, "read.stream", rs, 1, &res, &why);
        printf("beta %s read.stream %s -> %s\n", crm_role_name(readers[i]),
               A_STREAM, crm_err_name(err));
        assert_int_equal(err, CRM_ERR_NOT_FOUND);

        /* read.all gives beta's events only */
        fx_kv ra[] = {FX_I("from", 1), FX_I("max", 1000)};
        assert_int_equal(call_kv(b, "read.all", ra, 2, &res, &why), CRM_OK);
        const msgpack_object *evs = crm_mp_get(res, "events");
        assert_non_null(evs);
        assert_true(evs->via.array.size >= 1);
        for (uint32_t j = 0; j < evs->via.array.size; j++) {
            char st[80];
            fx_res_str(&evs->via.array.ptr[j], "stream", st, sizeof(st));
            assert_string_not_equal(st, A_STREAM);
            assert_string_equal(st, B_STREAM);
        }
        /* naming alpha in the envelope is refused outright */
        crm_client *bx = open_client(KB[readers[i]], "alpha");
        assert_int_equal(call_kv(bx, "read.stream", rs, 1, &res, &why),
                         CRM_ERR_FORBIDDEN);
        crm_client_close(bx);

        /* and a batch is no way around it */
        msgpack_sbuffer sb;
        msgpack_packer pk;
        sb_start(&sb, &pk);
        msgpack_pack_map(&pk, 1);
        crm_mp_pack_cstr(&pk, "ops");
        msgpack_pack_array(&pk, 1);
        msgpack_pack_map(&pk, 2);
        crm_mp_pack_cstr(&pk, "op");
        crm_mp_pack_cstr(&pk, "read.stream");
        crm_mp_pack_cstr(&pk, "args");
        msgpack_pack_map(&pk, 1);
        crm_mp_pack_cstr(&pk, "stream");
        crm_mp_pack_cstr(&pk, A_STREAM);
        assert_int_equal(call_sb(b, "batch", &sb, &res, &why), CRM_OK);
        const msgpack_object *e = &crm_mp_get(res, "results")->via.array.ptr[0];
        assert_false(crm_mp_get(e, "ok")->via.boolean);
        char name[32];
        assert_string_equal(
            fx_res_str(crm_mp_get(e, "error"), "name", name, 32), "not_found");
        crm_client_close(b);
    }

    /* beta's admin lists only beta's keys and sees only beta's metrics */
    crm_client *b = open_client(KB[CRM_ROLE_ADMIN], NULL);
    assert_int_equal(crm_client_call(b, "key.list", NULL, NULL, &res, &why),
                     CRM_OK);
    const msgpack_object *keys = crm_mp_get(res, "keys");
    assert_non_null(keys);
    assert_true(keys->via.array.size >= CRM_ROLE__COUNT - 1);
    for (uint32_t j = 0; j < keys->via.array.size; j++) {
        char t[64];
        assert_string_equal(
            fx_res_str(&keys->via.array.ptr[j], "tenant", t, 64), "beta");
    }
    fx_kv other[] = {FX_S("tenant", "alpha")};
    assert_int_equal(call_kv(b, "key.list", other, 1, &res, &why),
                     CRM_ERR_FORBIDDEN);
    assert_int_equal(crm_client_call(b, "metrics", NULL, NULL, &res, &why),
                     CRM_OK);
    const msgpack_object *tenants = crm_mp_get(res, "tenants");
    assert_non_null(tenants);
    assert_non_null(crm_mp_get(tenants, "beta"));
    assert_null(crm_mp_get(tenants, "alpha"));
    crm_client_close(b);

    /* a beta writer writes into beta, whatever stream name it picks */
    crm_client *a2 = open_client(KA[CRM_ROLE_ADMIN], NULL);
    uint64_t alpha_head = head_of(a2);
    crm_client *bw = open_client(KB[CRM_ROLE_AGENT], NULL);
    crm_event_in ev;
    fx_event(&ev, A_STREAM, "interaction.logged",
             FX_BODY(FX_S("channel", "chat")));
    assert_int_equal(append_one(bw, &ev, &res, &why), CRM_OK);
    assert_int_equal(head_of(a2), alpha_head);
    assert_int_equal(call_kv(a2, "read.stream", rs, 1, &res, &why), CRM_OK);
    const msgpack_object *evs = crm_mp_get(res, "events");
    for (uint32_t j = 0; j < evs->via.array.size; j++) {
        char ty[64];
        assert_string_not_equal(
            fx_res_str(&evs->via.array.ptr[j], "type", ty, 64),
            "interaction.logged");
    }
    crm_client_close(bw);
    crm_client_close(a2);
    fx_reset();
}

/* --- operator keys and tenant data ---------------------------------------- */

static void
test_operator_refused_tenant_data(void **state)
{
    (void)state;
    int n = 0;
    for (int named = 0; named < 2; named++) {
        crm_client *c = open_client(D.operator_key, named ? "alpha" : NULL);
        for (size_t i = 0; i < CRM_OP__COUNT; i++) {
            const crm_op_info *op = crm_op_get((crm_op)i);
            if (!(op->flags & CRM_OPF_TENANT))
                continue;
            msgpack_sbuffer sb;
            int known;
            build_args(op->op, CRM_ROLE_ADMIN, &sb, &known);
            const msgpack_object *res;
            crm_error why;
            crm_err err = call_sb(c, op->name, &sb, &res, &why);
            printf("operator%s %s -> %s\n", named ? " (tenant alpha)" : "",
                   op->name, crm_err_name(err));
            assert_int_equal(err, CRM_ERR_FORBIDDEN);
            n++;
            fx_reset();
        }
        crm_client_close(c);
    }
    assert_true(n >= 6); /* append, read.stream, read.all, twice */
}

/* --- what an admin may do with keys --------------------------------------- */

static void
test_admin_key_limits(void **state)
{
    (void)state;
    crm_client *a = open_client(KA[CRM_ROLE_ADMIN], NULL);
    const msgpack_object *res;
    crm_error why;

    /* no operator keys */
    fx_kv op_key[] = {FX_S("role", "operator")};
    assert_int_equal(call_kv(a, "key.create", op_key, 1, &res, &why),
                     CRM_ERR_FORBIDDEN);
    fx_kv op_key2[] = {FX_S("role", "operator"), FX_S("tenant", "alpha")};
    assert_int_equal(call_kv(a, "key.create", op_key2, 2, &res, &why),
                     CRM_ERR_FORBIDDEN);

    /* no keys for another tenant, of any role */
    for (int r = CRM_ROLE_ADMIN; r < CRM_ROLE__COUNT; r++) {
        fx_kv kv[] = {FX_S("role", crm_role_name((crm_role)r)),
                      FX_S("tenant", "beta")};
        assert_int_equal(call_kv(a, "key.create", kv, 2, &res, &why),
                         CRM_ERR_FORBIDDEN);
    }
    /* its own tenant, by default or by name: fine */
    fx_kv own[] = {FX_S("role", "auditor")};
    assert_int_equal(call_kv(a, "key.create", own, 1, &res, &why), CRM_OK);
    char t[64];
    assert_string_equal(fx_res_str(res, "tenant", t, sizeof(t)), "alpha");

    /* another tenant's key cannot be revoked: it does not exist for us */
    char beta_id[64], beta_token[128];
    fresh_key("beta", "agent", beta_id, beta_token);
    fx_kv rv[] = {FX_S("key_id", beta_id)};
    assert_int_equal(call_kv(a, "key.revoke", rv, 1, &res, &why),
                     CRM_ERR_NOT_FOUND);
    crm_client *b = open_client(beta_token, NULL);
    assert_int_equal(crm_client_call(b, "server.info", NULL, NULL, &res, &why),
                     CRM_OK);
    assert_string_equal(fx_res_str(res, "tenant", t, sizeof(t)), "beta");
    crm_client_close(b);

    /* an operator key cannot be revoked by an admin either */
    char op_id[CRM_KEY_ID_LEN + 1];
    snprintf(op_id, sizeof(op_id), "%.*s", CRM_KEY_ID_LEN, D.operator_key + 5);
    fx_kv rvo[] = {FX_S("key_id", op_id)};
    assert_int_equal(call_kv(a, "key.revoke", rvo, 1, &res, &why),
                     CRM_ERR_NOT_FOUND);
    crm_client *o = open_client(D.operator_key, NULL);
    assert_int_equal(crm_client_call(o, "tenant.list", NULL, NULL, &res, &why),
                     CRM_OK);
    crm_client_close(o);

    /* a revoked key stays revoked for every op, ping included */
    crm_client *r = open_client(revoked_key, NULL);
    assert_int_equal(crm_client_call(r, "ping", NULL, NULL, &res, &why),
                     CRM_ERR_UNAUTHORIZED);
    crm_client_close(r);
    crm_client_close(a);
}

/* --- which event families a writer may append ----------------------------- */

static void
test_append_families(void **state)
{
    (void)state;
    const msgpack_object *res;
    crm_error why;
    crm_event_in e;
    crm_client *adm = open_client(KA[CRM_ROLE_ADMIN], NULL);
    uint64_t head = head_of(adm);

    crm_client *m = open_client(KA[CRM_ROLE_MARKETING], NULL);
    fx_event(&e, "guest-fam", "spend.recorded",
             FX_BODY(FX_I("amount", 100), FX_S("currency", "EUR"),
                     FX_S("category", "fnb")));
    assert_int_equal(append_one(m, &e, &res, &why), CRM_ERR_FORBIDDEN);
    fx_event(&e, "guest-fam", "customer.consent_changed",
             FX_BODY(FX_S("channel", "email"), FX_B("granted", 1)));
    assert_int_equal(append_one(m, &e, &res, &why), CRM_OK);
    head++;
    crm_client_close(m);

    crm_client *ag = open_client(KA[CRM_ROLE_AGENT], NULL);
    fx_event(&e, "guest-fam", "customer.erased",
             FX_BODY(FX_S("reason", "gdpr")));
    assert_int_equal(append_one(ag, &e, &res, &why), CRM_ERR_FORBIDDEN);
    crm_client_close(ag);

    crm_client *f = open_client(KA[CRM_ROLE_FINANCE], NULL);
    fx_event(&e, "guest-fam", "marketing.message_sent",
             FX_BODY(FX_S("campaign", "spring"), FX_S("channel", "email")));
    assert_int_equal(append_one(f, &e, &res, &why), CRM_ERR_FORBIDDEN);
    fx_event(&e, "guest-fam", "loyalty.points_earned",
             FX_BODY(FX_I("points", 10)));
    assert_int_equal(append_one(f, &e, &res, &why), CRM_OK);
    head++;
    crm_client_close(f);

    /* a batch mixing an allowed and a refused family writes nothing */
    crm_client *m2 = open_client(KA[CRM_ROLE_MARKETING], NULL);
    crm_event_in two[2];
    fx_event(&two[0], "guest-fam", "web.product_viewed",
             FX_BODY(FX_S("product", "villa")));
    fx_event(&two[1], "guest-fam", "booking.confirmed",
             FX_BODY(FX_S("booking_id", "b-1")));
    msgpack_sbuffer sb;
    msgpack_packer pk;
    sb_start(&sb, &pk);
    msgpack_pack_map(&pk, 1);
    crm_mp_pack_cstr(&pk, "events");
    msgpack_pack_array(&pk, 2);
    crm_rpc_pack_event(&pk, &two[0]);
    crm_rpc_pack_event(&pk, &two[1]);
    assert_int_equal(call_sb(m2, "append", &sb, &res, &why), CRM_ERR_FORBIDDEN);
    crm_client_close(m2);

    assert_int_equal(head_of(adm), head);
    crm_client_close(adm);
    fx_reset();
}

int
main(void)
{
    /* each matrix once per transport: the prestate is the URL */
#define ON(f, scheme, url)                                                     \
    (struct CMUnitTest)                                                        \
    {                                                                          \
        .name = #f "/" scheme, .test_func = f, .initial_state = url            \
    }
#define PER_TRANSPORT(f)                                                       \
    ON(f, "tcp", D.url), ON(f, "ipc", D.ipc_url), ON(f, "tls+tcp", D.tls_url)
    const struct CMUnitTest tests[] = {
        PER_TRANSPORT(test_matrix),
        PER_TRANSPORT(test_batch_entries_authorized),
        PER_TRANSPORT(test_batch_outsiders_refused),
        PER_TRANSPORT(test_batch_foreign_tenant_reads_its_own),
        PER_TRANSPORT(test_cross_tenant_append_refused),
        cmocka_unit_test(test_beta_never_sees_alpha),
        cmocka_unit_test(test_operator_refused_tenant_data),
        cmocka_unit_test(test_admin_key_limits),
        cmocka_unit_test(test_append_families),
    };
#undef PER_TRANSPORT
#undef ON
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
