/* ops_test.c - the op and role tables: lookups both ways, unique names,
 * which roles may append which event families, which ops may ride in a
 * batch and which act on tenant data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "ops.h"
#include "schema.h"

typedef struct op_row {
    crm_op op;
    const char *name;
    uint32_t roles;
    unsigned flags;
    const char *doc;
} op_row;

static const op_row op_rows[] = {
#define OP_ROW(op, name, roles, flags, doc) {op, name, roles, flags, doc},
    CRM_OP_MAP(OP_ROW)
#undef OP_ROW
};
#define NOPS (sizeof(op_rows) / sizeof(op_rows[0]))

static const struct {
    crm_role role;
    const char *name;
} role_rows[] = {
#define ROLE_ROW(r, name) {r, name},
    CRM_ROLE_MAP(ROLE_ROW)
#undef ROLE_ROW
};
#define NROLES (sizeof(role_rows) / sizeof(role_rows[0]))

static const crm_op_info *
find(const char *name)
{
    return crm_op_find(name, strlen(name));
}

static void
test_every_op_found(void **state)
{
    (void)state;
    assert_int_equal(NOPS, CRM_OP__COUNT);
    for (size_t i = 0; i < NOPS; i++) {
        const crm_op_info *by_name = find(op_rows[i].name);
        const crm_op_info *by_enum = crm_op_get(op_rows[i].op);
        assert_non_null(by_name);
        assert_non_null(by_enum);
        assert_ptr_equal(by_name, by_enum);
        assert_int_equal(by_name->op, op_rows[i].op);
        assert_int_equal((int)op_rows[i].op, (int)i);
        assert_string_equal(by_name->name, op_rows[i].name);
        assert_int_equal(by_name->roles, op_rows[i].roles);
        assert_int_equal(by_name->flags, op_rows[i].flags);
        assert_non_null(by_name->doc);
        assert_true(strlen(by_name->doc) > 0);
        assert_true(strlen(by_name->name) > 0);
        /* wire names: lower case, digits, '.' and '_' */
        for (const char *p = by_name->name; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                        *p == '.' || *p == '_');
        /* a name not NUL-terminated where it ends is still found */
        char padded[64];
        size_t n = strlen(op_rows[i].name);
        memcpy(padded, op_rows[i].name, n);
        memcpy(padded + n, "XYZ", 4);
        assert_ptr_equal(crm_op_find(padded, n), by_enum);
    }
    assert_null(crm_op_get(CRM_OP__COUNT));
    assert_null(crm_op_get((crm_op)(CRM_OP__COUNT + 5)));
    assert_null(crm_op_get((crm_op)-1));
}

static void
test_names_unique(void **state)
{
    (void)state;
    for (size_t i = 0; i < NOPS; i++)
        for (size_t j = i + 1; j < NOPS; j++)
            assert_string_not_equal(op_rows[i].name, op_rows[j].name);
    for (size_t i = 0; i < NROLES; i++)
        for (size_t j = i + 1; j < NROLES; j++)
            assert_string_not_equal(role_rows[i].name, role_rows[j].name);
}

static void
test_unknown_not_found(void **state)
{
    (void)state;
    static const char *const unknown[] = {
        "",        "pin",    "pingg",        "Ping",         "PING",
        "read",    "read.",  "read.stre",    "read.streams", "tenant",
        "tenant.", "key.",   "key.creat",    "append.",      "batch ",
        " batch",  "metric", "server.info2", "customer.put",
    };
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
        if (find(unknown[i]) != NULL) fail_msg("'%s' found", unknown[i]);
    /* every proper prefix of every op name */
    for (size_t i = 0; i < NOPS; i++)
        for (size_t n = 0; n < strlen(op_rows[i].name); n++) {
            const crm_op_info *o = crm_op_find(op_rows[i].name, n);
            if (o != NULL)
                fail_msg("prefix '%.*s' of %s found as %s", (int)n,
                         op_rows[i].name, op_rows[i].name, o->name);
        }
    /* a name with an embedded NUL is not its first part */
    assert_null(crm_op_find("ping\0x", 6));
}

static void
test_roles_round_trip(void **state)
{
    (void)state;
    assert_int_equal(NROLES, CRM_ROLE__COUNT);
    static const char *const expected[] = {"operator",  "admin",   "agent",
                                           "marketing", "finance", "auditor",
                                           "replica"};
    assert_int_equal(sizeof(expected) / sizeof(expected[0]), NROLES);
    for (size_t i = 0; i < NROLES; i++) {
        crm_role r = CRM_ROLE__COUNT;
        assert_string_equal(role_rows[i].name, expected[i]);
        assert_int_equal(role_rows[i].role, (crm_role)i);
        assert_int_equal(crm_role_parse(expected[i], strlen(expected[i]), &r),
                         0);
        assert_int_equal(r, role_rows[i].role);
        assert_string_equal(crm_role_name(r), expected[i]);
    }
    static const char *const bad[] = {"",     "Admin", "admins", "admi",
                                      "root", "ops",   "agent ", "x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        crm_role r = CRM_ROLE_AUDITOR;
        assert_int_equal(crm_role_parse(bad[i], strlen(bad[i]), &r), -1);
        assert_int_equal(r, CRM_ROLE_AUDITOR); /* untouched */
    }
    crm_role r;
    assert_int_equal(crm_role_parse("adminXYZ", 5, &r), 0);
    assert_int_equal(r, CRM_ROLE_ADMIN);
    assert_string_equal(crm_role_name(CRM_ROLE__COUNT), "unknown");
    assert_string_equal(crm_role_name((crm_role)-1), "unknown");
    assert_string_equal(crm_role_name((crm_role)1000), "unknown");
}

static int
may(crm_role r, const char *type)
{
    return crm_role_may_append(r, type, strlen(type));
}

/* Types beyond the catalogue: extensions and look-alikes. */
static const char *const extra_types[] = {
    "x.custom",          "x.marketing.thing",
    "x.web.visit",       "marketing.anything_new",
    "web.anything_new",  "spend.refunded",
    "charter.cancelled",
};
#define NEXTRA (sizeof(extra_types) / sizeof(extra_types[0]))
#define NTYPES (crm_schema_count() + NEXTRA)

static const char *
sample_type(size_t i)
{
    return i < crm_schema_count() ? crm_schema_at(i)->name
                                  : extra_types[i - crm_schema_count()];
}

static int
has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static void
test_may_append(void **state)
{
    (void)state;
    assert_true(crm_schema_count() > 10);
    assert_non_null(crm_schema_find("customer.erased", 15));
    assert_non_null(crm_schema_find("customer.consent_changed", 24));
    for (size_t i = 0; i < NTYPES; i++) {
        const char *t = sample_type(i);
        /* tenant.* is the server's own, through settings.set: nobody */
        if (has_prefix(t, CRM_TENANT_TYPE_PREFIX)) {
            for (int r = 0; r <= CRM_ROLE__COUNT; r++)
                if (may((crm_role)r, t))
                    fail_msg("%s may append %s", crm_role_name((crm_role)r), t);
            continue;
        }
        /* admin: anything else */
        assert_true(may(CRM_ROLE_ADMIN, t));
        /* agent: everything but erasure */
        assert_int_equal(may(CRM_ROLE_AGENT, t),
                         strcmp(t, "customer.erased") != 0);
        /* marketing: its own families and consent */
        assert_int_equal(may(CRM_ROLE_MARKETING, t),
                         has_prefix(t, "marketing.") || has_prefix(t, "web.") ||
                             strcmp(t, "customer.consent_changed") == 0);
        /* finance: money and bookings */
        assert_int_equal(may(CRM_ROLE_FINANCE, t),
                         has_prefix(t, "spend.") || has_prefix(t, "booking.") ||
                             has_prefix(t, "charter.") ||
                             has_prefix(t, "loyalty."));
        /* read-only and management roles append nothing */
        assert_false(may(CRM_ROLE_AUDITOR, t));
        assert_false(may(CRM_ROLE_REPLICA, t));
        assert_false(may(CRM_ROLE_OPERATOR, t));
        assert_false(may(CRM_ROLE__COUNT, t));
    }
    /* a family needs its dot: no look-alike prefixes */
    assert_false(may(CRM_ROLE_MARKETING, "marketing"));
    assert_false(may(CRM_ROLE_MARKETING, "marketingx.sent"));
    assert_false(may(CRM_ROLE_MARKETING, "web"));
    assert_false(may(CRM_ROLE_MARKETING, "customer.consent_changed2"));
    assert_false(may(CRM_ROLE_MARKETING, "customer.consent"));
    assert_false(may(CRM_ROLE_FINANCE, "spend"));
    assert_false(may(CRM_ROLE_FINANCE, "spending.recorded"));
    assert_false(may(CRM_ROLE_FINANCE, "bookings.x"));
    assert_true(may(CRM_ROLE_AGENT, "customer.erased2"));
    assert_true(may(CRM_ROLE_AGENT, "customer.erase"));
    /* tenant.* even when the catalogue lacks the type */
    assert_false(may(CRM_ROLE_ADMIN, "tenant.anything"));
    assert_false(may(CRM_ROLE_ADMIN, "tenant."));
    assert_true(may(CRM_ROLE_ADMIN, "tenants.x"));
    /* the length counts, not the NUL */
    assert_false(crm_role_may_append(CRM_ROLE_AGENT, "customer.erasedXX", 15));
    assert_true(crm_role_may_append(CRM_ROLE_MARKETING, "web.visitedjunk", 4));
    assert_false(crm_role_may_append(CRM_ROLE_MARKETING, "web.visited", 3));
}

static void
test_batchable_are_reads(void **state)
{
    (void)state;
    static const char *const reads[] = {
        "ping",        "server.info", "tenant.list", "key.list",
        "read.stream", "read.all",    "metrics",  "settings.get",
        "loyalty.get", "customer.find", "customer.get", "kpi.get",
        "segment.list", "segment.counts", "segment.members", "tasks.today",
        "customer.consent_at", "customer.erasure_receipt", "audit.pubkey",
        "audit.signatures", "audit.access"};
    static const char *const not_batchable[] = {
        "append",       "tenant.create",      "key.create", "key.revoke",
        "settings.set", "projection.rebuild", "loyalty.redeem",
        "loyalty.sweep", "segment.export", "segment.define",
        "tenant.rotate_key", "audit.consent_violations", "customer.export",
        "customer.erase", "audit.checkpoint", "audit.verify", "audit.export",
        "audit.keys", "backup",
        "batch"};
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        const crm_op_info *o = find(reads[i]);
        assert_non_null(o);
        if (!(o->flags & CRM_OPF_BATCHABLE))
            fail_msg("%s is a read but not batchable", reads[i]);
    }
    for (size_t i = 0; i < sizeof(not_batchable) / sizeof(not_batchable[0]);
         i++) {
        const crm_op_info *o = find(not_batchable[i]);
        assert_non_null(o);
        if (o->flags & CRM_OPF_BATCHABLE)
            fail_msg("%s must not ride in a batch", not_batchable[i]);
    }
    /* and the two lists cover the table */
    size_t n = 0;
    for (size_t i = 0; i < NOPS; i++)
        n += (op_rows[i].flags & CRM_OPF_BATCHABLE) != 0;
    assert_int_equal(n, sizeof(reads) / sizeof(reads[0]));
    assert_int_equal(NOPS,
                     sizeof(reads) / sizeof(reads[0]) +
                         sizeof(not_batchable) / sizeof(not_batchable[0]));
    /* a batch cannot hold a batch */
    assert_false(crm_op_get(CRM_OP_BATCH)->flags & CRM_OPF_BATCHABLE);
}

static void
test_tenant_ops(void **state)
{
    (void)state;
    size_t n = 0;
    for (size_t i = 0; i < NOPS; i++) {
        int tenant = (op_rows[i].flags & CRM_OPF_TENANT) != 0;
        int want = strcmp(op_rows[i].name, "append") == 0 ||
                   strcmp(op_rows[i].name, "read.stream") == 0 ||
                   strcmp(op_rows[i].name, "read.all") == 0 ||
                   strcmp(op_rows[i].name, "settings.get") == 0 ||
                   strcmp(op_rows[i].name, "settings.set") == 0 ||
                   strcmp(op_rows[i].name, "projection.rebuild") == 0 ||
                   strcmp(op_rows[i].name, "tenant.rotate_key") == 0 ||
                   strcmp(op_rows[i].name, "loyalty.get") == 0 ||
                   strcmp(op_rows[i].name, "loyalty.redeem") == 0 ||
                   strcmp(op_rows[i].name, "loyalty.sweep") == 0 ||
                   strcmp(op_rows[i].name, "customer.find") == 0 ||
                   strcmp(op_rows[i].name, "customer.get") == 0 ||
                   strcmp(op_rows[i].name, "customer.consent_at") == 0 ||
                   strcmp(op_rows[i].name, "customer.export") == 0 ||
                   strcmp(op_rows[i].name, "customer.erase") == 0 ||
                   strncmp(op_rows[i].name, "audit.", 6) == 0 ||
                   strcmp(op_rows[i].name, "customer.erasure_receipt") == 0 ||
                   strcmp(op_rows[i].name, "kpi.get") == 0 ||
                   strcmp(op_rows[i].name, "tasks.today") == 0 ||
                   strncmp(op_rows[i].name, "segment.", 8) == 0;
        if (tenant != want)
            fail_msg("%s: CRM_OPF_TENANT is %d", op_rows[i].name, tenant);
        n += tenant;
    }
    assert_int_equal(n, 31);
}

static void
test_access_bits(void **state)
{
    (void)state;
    /* ping alone needs no key */
    for (size_t i = 0; i < NOPS; i++)
        assert_int_equal(op_rows[i].roles == CRM_ANYONE,
                         op_rows[i].op == CRM_OP_PING);
    /* every other op names only real roles */
    uint32_t all = 0;
    for (int r = 0; r < CRM_ROLE__COUNT; r++)
        all |= 1u << r;
    assert_int_equal(CRM_ANY_KEY, all);
    for (size_t i = 0; i < NOPS; i++) {
        if (op_rows[i].op == CRM_OP_PING) continue;
        assert_int_equal(op_rows[i].roles & ~all, 0);
        assert_int_not_equal(op_rows[i].roles, 0);
    }
    /* tenant management is the operator's */
    assert_int_equal(crm_op_get(CRM_OP_TENANT_CREATE)->roles,
                     1u << CRM_ROLE_OPERATOR);
    assert_int_equal(crm_op_get(CRM_OP_TENANT_LIST)->roles,
                     1u << CRM_ROLE_OPERATOR);
    /* only writers append; the operator holds no tenant data */
    uint32_t ap = crm_op_get(CRM_OP_APPEND)->roles;
    assert_false(ap & (1u << CRM_ROLE_OPERATOR));
    assert_false(ap & (1u << CRM_ROLE_AUDITOR));
    assert_false(ap & (1u << CRM_ROLE_REPLICA));
    /* a role that may append some type is allowed the append op */
    for (int r = 0; r < CRM_ROLE__COUNT; r++) {
        int some = 0;
        for (size_t i = 0; i < NTYPES; i++)
            some |= may((crm_role)r, sample_type(i));
        assert_int_equal(some, (ap >> r) & 1);
    }
    /* tenant data ops are never open to the operator */
    for (size_t i = 0; i < NOPS; i++)
        if (op_rows[i].flags & CRM_OPF_TENANT)
            assert_false(op_rows[i].roles & (1u << CRM_ROLE_OPERATOR));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_found),
        cmocka_unit_test(test_names_unique),
        cmocka_unit_test(test_unknown_not_found),
        cmocka_unit_test(test_roles_round_trip),
        cmocka_unit_test(test_may_append),
        cmocka_unit_test(test_batchable_are_reads),
        cmocka_unit_test(test_tenant_ops),
        cmocka_unit_test(test_access_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
