/* cmd_admin.c - ping, info, metrics, tenants and API keys. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "out.h"
#include "rpc.h"
#include "timefmt.h"

int
ctl_cmd_ping(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    char when[CTL_TIME_STRLEN + 1];
    (void)a;
    int64_t t0 = ctl_now_us();
    int rc = ctl_call_kv(c, "ping", NULL, 0, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    ctl_time_format(ctl_i64(res, "time", -1), 1, when);
    printf("pong from %s: server time %s, round trip %.1f ms\n", c->copts.url,
           when, (double)(ctl_now_us() - t0) / 1000.0);
    return 0;
}

/* Results that are plain maps print as key/value lines. */
static int
call_and_show(ctl *c, const char *op)
{
    const msgpack_object *res;
    int rc = ctl_call_kv(c, op, NULL, 0, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    ctl_out_kv(res);
    return 0;
}

int
ctl_cmd_info(ctl *c, const ctl_args *a)
{
    (void)a;
    return call_and_show(c, "server.info");
}

int
ctl_cmd_metrics(ctl *c, const ctl_args *a)
{
    (void)a;
    return call_and_show(c, "metrics");
}

/* --- tenants -------------------------------------------------------------- */

int
ctl_cmd_tenant_create(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    ctl_kv kv[] = {CTL_S("id", a->pos[0])};
    int rc = ctl_call_kv(c, "tenant.create", kv, 1, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    char id[64];
    printf("created tenant %s\n", ctl_str(res, "id", id, sizeof(id)));
    return 0;
}

static const msgpack_object *
array_member(const msgpack_object *m, const char *k)
{
    const msgpack_object *o = crm_mp_get(m, k);
    return o && o->type == MSGPACK_OBJECT_ARRAY ? o : NULL;
}

int
ctl_cmd_tenant_list(ctl *c, const ctl_args *a)
{
    static const char *const head[] = {"ID", "CREATED", "POSITION"};
    const msgpack_object *res, *list;
    (void)a;
    int rc = ctl_call_kv(c, "tenant.list", NULL, 0, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    if ((list = array_member(res, "tenants")) == NULL)
        return ctl_error(CRM_ERR_INTERNAL, "reply has no 'tenants' list");
    ctl_table *t = ctl_table_open(3, head, NULL, 0);
    if (t == NULL)
        return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    for (uint32_t i = 0; i < list->via.array.size && rc == 0; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        char id[64], created[CTL_TIME_STRLEN + 1], pos[24];
        ctl_time_format(ctl_i64(e, "created_at", -1), 0, created);
        snprintf(pos, sizeof(pos), "%" PRIu64, ctl_u64(e, "position", 0));
        const char *row[] = {ctl_str(e, "id", id, sizeof(id)), created, pos};
        if (ctl_table_row(t, row) != 0)
            rc = ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    }
    ctl_table_close(t);
    return rc;
}

/* --- keys ----------------------------------------------------------------- */

/* A key command's tenant: its own --tenant, else the global one. */
static const char *
key_tenant(const ctl *c, const ctl_args *a)
{
    const char *t = ctl_arg(a, "tenant");
    return t ? t : c->copts.tenant;
}

int
ctl_cmd_key_create(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    ctl_kv kv[] = {CTL_S("role", ctl_arg(a, "role")),
                   CTL_S("tenant", key_tenant(c, a)),
                   CTL_S("label", ctl_arg(a, "label")),
                   CTL_S("grant", ctl_arg(a, "grant"))};
    if (kv[0].s == NULL)
        return ctl_usage(a->cmd, "--role is required");
    int rc = ctl_call_kv(c, "key.create", kv, 4, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        rc = ctl_out_mp_json(res);
    else
        ctl_out_kv(res);
    /* On stderr, so it shows even when stdout goes to a file or a pipe. */
    ctl_warn("the key above is shown only this once; the server keeps only "
             "its hash and cannot show it again. Store it now.");
    return rc;
}

/* Key ids are CRM_KEY_ID_LEN (16) lowercase hex digits. */
#define KEY_ID_LEN 16

static int
is_key_id(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return n == KEY_ID_LEN && s[n] == '\0';
}

int
ctl_cmd_key_revoke(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    crm_error why = {CRM_OK, ""};
    const char *id = a->pos[0];
    if (!is_key_id(id))
        return ctl_usage(a->cmd,
                         "KEY_ID is the %d hex digits after \"crmk_\" in a "
                         "key, as 'key create' and 'key list' print it, not "
                         "'%s'",
                         KEY_ID_LEN, id);
    ctl_kv kv[] = {CTL_S("key_id", id)};
    crm_err err = ctl_call_kv_quiet(c, "key.revoke", kv, 1, &res, &why);
    if (err == CRM_ERR_NOT_FOUND)
        /* The server does not say whether the key is another tenant's. */
        return ctl_error(err,
                         "no key %s that this key may revoke: an admin key "
                         "revokes only keys of its own tenant, the operator "
                         "key any key ('crmctl key list' shows the ids)",
                         id);
    if (err != CRM_OK)
        return ctl_fail(&why);
    if (c->json)
        return ctl_out_mp_json(res);
    char rid[64];
    printf("revoked key %s\n", ctl_str(res, "key_id", rid, sizeof(rid)));
    return 0;
}

int
ctl_cmd_key_list(ctl *c, const ctl_args *a)
{
    static const char *const head[] = {"KEY_ID",  "TENANT",  "ROLE",
                                       "CREATED", "REVOKED", "LABEL",
                                       "GRANT"};
    const msgpack_object *res, *list;
    ctl_kv kv[] = {CTL_S("tenant", key_tenant(c, a))};
    int rc = ctl_call_kv(c, "key.list", kv, 1, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    if ((list = array_member(res, "keys")) == NULL)
        return ctl_error(CRM_ERR_INTERNAL, "reply has no 'keys' list");
    ctl_table *t = ctl_table_open(7, head, NULL, 0);
    if (t == NULL)
        return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    for (uint32_t i = 0; i < list->via.array.size && rc == 0; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        char id[32], tenant[64], role[32], label[80], grant[32];
        char created[CTL_TIME_STRLEN + 1], revoked[CTL_TIME_STRLEN + 1];
        int64_t rv = ctl_i64(e, "revoked_at", 0);
        ctl_time_format(ctl_i64(e, "created_at", -1), 0, created);
        ctl_time_format(rv > 0 ? rv : -1, 0, revoked);
        ctl_str(e, "tenant", tenant, sizeof(tenant));
        const char *row[] = {ctl_str(e, "key_id", id, sizeof(id)),
                             tenant[0] ? tenant : "-",
                             ctl_str(e, "role", role, sizeof(role)),
                             created,
                             revoked,
                             ctl_str(e, "label", label, sizeof(label)),
                             ctl_str(e, "grant", grant, sizeof(grant))};
        if (grant[0] == '\0')
            row[6] = "-";
        if (ctl_table_row(t, row) != 0)
            rc = ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    }
    ctl_table_close(t);
    return rc;
}
