/*
 * cmd_audit.c - signed checkpoints for an auditor: audit pubkey (the
 * tenant's Ed25519 public key, PEM on stdout for crm-audit --pubkey),
 * audit checkpoint (sign the head now), audit checkpoints (those kept)
 * and audit verify (a range of the chain checked by the server against
 * them); and admin backup, the hot copy an operator or a tenant admin
 * takes for restoring later.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "out.h"
#include "rpc.h"

int
ctl_cmd_audit_pubkey(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    (void)a;
    int rc = ctl_call_kv(c, "audit.pubkey", NULL, 0, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    const msgpack_object *pem = crm_mp_get(res, "pem");
    if (pem == NULL || pem->type != MSGPACK_OBJECT_STR)
        return ctl_error(CRM_ERR_INTERNAL, "the server sent no key");
    fwrite(pem->via.str.ptr, 1, pem->via.str.size, stdout);
    return 0;
}

int
ctl_cmd_audit_checkpoint(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    (void)a;
    int rc = ctl_call_kv(c, "audit.checkpoint", NULL, 0, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    ctl_out_view(res);
    return 0;
}

int
ctl_cmd_audit_checkpoints(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    int64_t from, limit;
    int rc = ctl_arg_int(a, "from", 0, 0, INT64_MAX, &from);
    if (rc == 0)
        rc = ctl_arg_int(a, "limit", 100, 1, 1000, &limit);
    if (rc != 0)
        return rc;
    ctl_kv kv[] = {CTL_I("from", from), CTL_I("limit", limit)};
    if ((rc = ctl_call_kv(c, "audit.signatures", kv, 2, &res)) != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    ctl_out_view(res);
    return 0;
}

int
ctl_cmd_audit_verify(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    int64_t from, to;
    int rc = ctl_arg_int(a, "from", 1, 1, INT64_MAX, &from);
    if (rc == 0)
        rc = ctl_arg_int(a, "to", 0, 0, INT64_MAX, &to);
    if (rc != 0)
        return rc;
    /* a long range is hashed record by record */
    if (c->min_timeout_ms < 3600 * 1000)
        c->min_timeout_ms = 3600 * 1000;
    ctl_kv kv[] = {CTL_I("from", from), CTL_I("to", to)};
    if ((rc = ctl_call_kv(c, "audit.verify", kv, 2, &res)) != 0)
        return rc;
    const msgpack_object *ok = crm_mp_get(res, "ok");
    int good = ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
    if (c->json)
        rc = ctl_out_mp_json(res);
    else
        ctl_out_view(res);
    /* as crm-audit verify: the exit status says which */
    return rc ? rc : good ? 0 : ctl_exit_status(CRM_ERR_CORRUPT);
}

int
ctl_cmd_admin_backup(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    /* a large tenant is copied page by page */
    if (c->min_timeout_ms < 3600 * 1000)
        c->min_timeout_ms = 3600 * 1000;
    ctl_kv kv[] = {CTL_S("name", a->pos[0])};
    int rc = ctl_call_kv(c, "backup", kv, 1, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    ctl_out_view(res);
    return 0;
}
