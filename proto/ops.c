/* ops.c - lookups over CRM_OP_MAP and CRM_ROLE_MAP. */
#include "ops.h"

#include <string.h>

static const crm_op_info op_table[] = {
#define CRM_OP_ROW(op, name, roles, flags, doc) {op, name, roles, flags, doc},
    CRM_OP_MAP(CRM_OP_ROW)
#undef CRM_OP_ROW
};

static const char *const role_names[] = {
#define CRM_ROLE_NAME(r, name) name,
    CRM_ROLE_MAP(CRM_ROLE_NAME)
#undef CRM_ROLE_NAME
};

const crm_op_info *
crm_op_find(const char *name, size_t len)
{
    for (size_t i = 0; i < CRM_OP__COUNT; i++)
        if (strlen(op_table[i].name) == len &&
            memcmp(op_table[i].name, name, len) == 0)
            return &op_table[i];
    return NULL;
}

const crm_op_info *
crm_op_get(crm_op op)
{
    return (unsigned)op < CRM_OP__COUNT ? &op_table[op] : NULL;
}

int
crm_role_parse(const char *name, size_t len, crm_role *out)
{
    for (int i = 0; i < CRM_ROLE__COUNT; i++) {
        if (strlen(role_names[i]) == len && memcmp(role_names[i], name, len) == 0) {
            *out = (crm_role)i;
            return 0;
        }
    }
    return -1;
}

const char *
crm_role_name(crm_role r)
{
    return (unsigned)r < CRM_ROLE__COUNT ? role_names[r] : "unknown";
}

static int
has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

static int
is(const char *s, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(s, name, len) == 0;
}

int
crm_role_may_append(crm_role r, const char *type, size_t len)
{
    /* the tenant's settings are written by settings.set, never appended */
    if (has_prefix(type, len, "tenant."))
        return 0;
    switch (r) {
    case CRM_ROLE_ADMIN: return 1;
    case CRM_ROLE_AGENT:
        /* erasure is a data-protection act with its own op, not an append */
        return !is(type, len, "customer.erased");
    case CRM_ROLE_MARKETING:
        return has_prefix(type, len, "marketing.") ||
               has_prefix(type, len, "web.") ||
               is(type, len, "customer.consent_changed");
    case CRM_ROLE_FINANCE:
        return has_prefix(type, len, "spend.") ||
               has_prefix(type, len, "booking.") ||
               has_prefix(type, len, "charter.") ||
               has_prefix(type, len, "loyalty.");
    default: return 0;
    }
}
