/*
 * h_backup.c - backup: a hot copy of the data, laid out as a data
 * directory, under the server's backup directory (--backup-dir). The
 * operator's holds every tenant and the registry; a tenant admin's holds
 * that tenant. A backup is named, never a path: the server writes only
 * inside its backup directory, and never over an existing backup.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "handlers_int.h"
#include "slog.h"
#include "store.h"

#define BACKUP_NAME_MAX 64

static int
name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > BACKUP_NAME_MAX || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' ||
              s[i] == '.'))
            return 0;
    return 1;
}

typedef struct copied {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t n;
    uint64_t bytes;
} copied;

static void
on_tenant(void *arg, const char *tenant, const crm_log_backup_info *b)
{
    copied *c = arg;
    char h[2 * CRM_HASH_LEN + 1];
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < CRM_HASH_LEN; i++) {
        h[2 * i] = d[b->head[i] >> 4];
        h[2 * i + 1] = d[b->head[i] & 15];
    }
    h[2 * CRM_HASH_LEN] = '\0';
    msgpack_pack_map(&c->pk, 6);
    KV_STR(&c->pk, "tenant", tenant);
    KV_U64(&c->pk, "position", b->position);
    KV_STR(&c->pk, "head", h);
    KV_U64(&c->pk, "checkpoint", b->checkpoint.position);
    KV_U64(&c->pk, "bytes", b->bytes);
    crm_mp_pack_cstr(&c->pk, "seconds");
    msgpack_pack_double(&c->pk, b->seconds);
    c->n++;
    c->bytes += b->bytes;
}

crm_err
h_backup(rpc_call *call, msgpack_packer *pk, crm_error *why, rpc_flow *flow)
{
    (void)flow;
    rpc_ctx *c = call->c;
    char name[BACKUP_NAME_MAX + 2];
    crm_err err = h_arg_cstr(call, "name", 1, name, BACKUP_NAME_MAX, why);
    if (err != CRM_OK)
        return err;
    if (!name_ok(name))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'name' must be 1..64 of [A-Za-z0-9._-], not "
                             "starting with '.'");
    const char *root = c->srv->cfg->backup_dir;
    if (mkdir(root, 0700) != 0 && errno != EEXIST)
        return crm_error_set(why, CRM_ERR_IO, "backup directory %s: %s", root,
                             strerror(errno));
    char dst[4200];
    snprintf(dst, sizeof(dst), "%s/%s", root, name);
    const char *tenant = c->key.role == CRM_ROLE_OPERATOR ? NULL : c->key.tenant;
    copied cp = {.n = 0};
    msgpack_sbuffer_init(&cp.sb);
    msgpack_packer_init(&cp.pk, &cp.sb, msgpack_sbuffer_write);
    err = crm_store_backup(c->srv->store, tenant, dst, on_tenant, &cp, why);
    if (err == CRM_OK) {
        msgpack_pack_map(pk, 4);
        KV_STR(pk, "path", dst);
        KV_BOOL(pk, "registry", tenant == NULL);
        crm_mp_pack_cstr(pk, "tenants");
        msgpack_pack_array(pk, cp.n);
        if (cp.sb.size)
            pk->callback(pk->data, cp.sb.data, cp.sb.size);
        KV_U64(pk, "bytes", cp.bytes);
        crm_slog(CRM_INFO, c->rid,
                 "msg=\"backup written\" name=%s tenants=%zu bytes=%llu", name,
                 cp.n, (unsigned long long)cp.bytes);
    }
    msgpack_sbuffer_destroy(&cp.sb);
    return err;
}
