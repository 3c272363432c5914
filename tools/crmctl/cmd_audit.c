/*
 * cmd_audit.c - signed checkpoints for an auditor: audit pubkey (the
 * tenant's Ed25519 public key, PEM on stdout for crm-audit --pubkey),
 * audit checkpoint (sign the head now), audit checkpoints (those kept)
 * and audit verify (a range of the chain checked by the server against
 * them), audit export (the log as stored, for crm-audit verify
 * --export), audit access (who was handed a guest's personal data); and
 * admin backup, the hot copy an operator or a tenant admin takes for
 * restoring later.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "out.h"
#include "rpc.h"
#include "timefmt.h"
#include "xkeys.h"

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
    (void)a;
    return ctl_call_show(c, "audit.checkpoint", NULL, 0);
}

int
ctl_cmd_audit_checkpoints(ctl *c, const ctl_args *a)
{
    int64_t from, limit;
    int rc = ctl_arg_int(a, "from", 0, 0, INT64_MAX, &from);
    if (rc == 0)
        rc = ctl_arg_int(a, "limit", 100, 1, 1000, &limit);
    if (rc != 0)
        return rc;
    ctl_kv kv[] = {CTL_I("from", from), CTL_I("limit", limit)};
    return ctl_call_show(c, "audit.signatures", kv, 2);
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
    /* a large tenant is copied page by page */
    if (c->min_timeout_ms < 3600 * 1000)
        c->min_timeout_ms = 3600 * 1000;
    ctl_kv kv[] = {CTL_S("name", a->pos[0])};
    return ctl_call_show(c, "backup", kv, 1);
}

/* Writes o, packed, to f. 0 or -1. */
static int
put_object(FILE *f, const msgpack_object *o)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int rc = msgpack_pack_object(&pk, *o) == 0 &&
                     fwrite(sb.data, 1, sb.size, f) == sb.size
                 ? 0
                 : -1;
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static void
kv_s(msgpack_packer *pk, const char *k, const char *v)
{
    crm_mp_pack_cstr(pk, k);
    crm_mp_pack_cstr(pk, v);
}

static void
kv_u(msgpack_packer *pk, const char *k, uint64_t v)
{
    crm_mp_pack_cstr(pk, k);
    msgpack_pack_uint64(pk, v);
}

/* The keys section after the trailer (PROTOCOL.md, audit.keys):
 * its header with the scrypt parameters and the check value, each
 * guest's key as [stream, sealed key], and an end map with the count.
 * The passphrase stays here; the server gets the key it derives. */
static int
put_keys(ctl *c, FILE *f, const char *tenant, const char *passfile,
         uint64_t *count)
{
    char pass[CRM_XKEYS_PASS_MAX + 2];
    size_t plen;
    crm_xkdf kdf;
    uint8_t key[CRM_KEY_LEN], check[CRM_WRAPPED_LEN];
    crm_error why;
    size_t tlen = strlen(tenant);
    crm_err err = crm_xkeys_passphrase_load(passfile, pass, sizeof(pass),
                                            &plen, &why);
    if (err == CRM_OK && (err = crm_xkdf_new(&kdf, &why)) == CRM_OK)
        err = crm_xkeys_derive(pass, plen, &kdf, key, &why);
    crm_wipe(pass, sizeof(pass));
    if (err == CRM_OK && crm_xkeys_check_make(key, tenant, tlen, check) != 0)
        err = crm_error_set(&why, CRM_ERR_INTERNAL, "cannot seal");
    if (err != CRM_OK)
        return ctl_fail(&why);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 9);
    kv_s(&pk, "format", CRM_XKEYS_FORMAT);
    kv_u(&pk, "version", CRM_XKEYS_VERSION);
    kv_s(&pk, "tenant", tenant);
    kv_s(&pk, "kdf", "scrypt");
    crm_mp_pack_cstr(&pk, "salt");
    msgpack_pack_bin(&pk, CRM_XKEYS_SALT);
    msgpack_pack_bin_body(&pk, kdf.salt, CRM_XKEYS_SALT);
    kv_u(&pk, "n", kdf.n);
    kv_u(&pk, "r", kdf.r);
    kv_u(&pk, "p", kdf.p);
    crm_mp_pack_cstr(&pk, "check");
    msgpack_pack_bin(&pk, sizeof(check));
    msgpack_pack_bin_body(&pk, check, sizeof(check));
    int rc = fwrite(sb.data, 1, sb.size, f) == sb.size
                 ? 0
                 : ctl_file_error("cannot write", "the export", errno);
    char after[CRM_STREAM_MAX];
    size_t after_len = 0;
    *count = 0;
    while (rc == 0) {
        msgpack_sbuffer_clear(&sb);
        msgpack_pack_map(&pk, after_len ? 2 : 1);
        crm_mp_pack_cstr(&pk, "key");
        msgpack_pack_bin(&pk, CRM_KEY_LEN);
        msgpack_pack_bin_body(&pk, key, CRM_KEY_LEN);
        if (after_len) {
            crm_mp_pack_cstr(&pk, "after");
            msgpack_pack_str(&pk, after_len);
            msgpack_pack_str_body(&pk, after, after_len);
        }
        const msgpack_object *res;
        rc = ctl_call_raw(c, "audit.keys", sb.data, sb.size, &res);
        crm_wipe(sb.data, sb.size);
        if (rc != 0)
            break;
        const msgpack_object *keys = crm_mp_get(res, "keys"),
                             *next = crm_mp_get(res, "next");
        if (keys == NULL || keys->type != MSGPACK_OBJECT_ARRAY) {
            rc = ctl_error(CRM_ERR_INTERNAL, "the server sent no keys");
            break;
        }
        for (uint32_t i = 0; i < keys->via.array.size && rc == 0; i++)
            if (put_object(f, &keys->via.array.ptr[i]) != 0)
                rc = ctl_file_error("cannot write", "the export", errno);
        *count += keys->via.array.size;
        if (next == NULL || next->type != MSGPACK_OBJECT_STR)
            break;
        if (next->via.str.size == 0 || next->via.str.size > sizeof(after)) {
            rc = ctl_error(CRM_ERR_INTERNAL, "bad 'next' from the server");
            break;
        }
        after_len = next->via.str.size;
        memcpy(after, next->via.str.ptr, after_len);
    }
    crm_wipe(key, sizeof(key));
    if (rc == 0) {
        msgpack_sbuffer_clear(&sb);
        msgpack_pack_map(&pk, 1);
        kv_u(&pk, "count", *count);
        if (fwrite(sb.data, 1, sb.size, f) != sb.size)
            rc = ctl_file_error("cannot write", "the export", errno);
    }
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int
ctl_cmd_audit_export(ctl *c, const ctl_args *a)
{
    int64_t from, to;
    int rc = ctl_arg_int(a, "from", 1, 1, INT64_MAX, &from);
    if (rc == 0)
        rc = ctl_arg_int(a, "to", 0, 0, INT64_MAX, &to);
    if (rc != 0)
        return rc;
    const char *path = ctl_arg(a, "out"),
               *passfile = ctl_arg(a, "keys-passphrase-file");
    char tenant[CRM_TENANT_MAX + 1] = "";
    if (passfile && (from != 1 || to != 0))
        return ctl_error(CRM_ERR_BAD_REQUEST,
                         "--keys-passphrase-file goes with the export of a "
                         "whole log (an import takes no other)");
    /* mode 0600: the records hold personal data, sealed or not */
    int fd = path ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)
                  : STDOUT_FILENO;
    FILE *f = fd < 0 ? NULL : path ? fdopen(fd, "wb") : stdout;
    if (f == NULL)
        return ctl_file_error("cannot create export file", path, errno);
    int progress = isatty(STDERR_FILENO);
    uint64_t cursor = 0, written = 0, total = 0;
    const msgpack_object *res;
    for (;;) {
        ctl_kv kv[] = {CTL_I("from", from), CTL_I("to", to),
                       CTL_I("cursor", (int64_t)cursor)};
        if ((rc = ctl_call_kv(c, "audit.export", kv, 3, &res)) != 0)
            break;
        const msgpack_object *h = crm_mp_get(res, "header"),
                             *recs = crm_mp_get(res, "records"),
                             *next = crm_mp_get(res, "next"),
                             *tr = crm_mp_get(res, "trailer");
        if (recs == NULL || recs->type != MSGPACK_OBJECT_ARRAY) {
            rc = ctl_error(CRM_ERR_INTERNAL, "the server sent no records");
            break;
        }
        if (cursor == 0) {
            /* later pages repeat the header's end */
            int64_t end;
            if (h == NULL || h->type != MSGPACK_OBJECT_MAP ||
                crm_mp_int(crm_mp_get(h, "to"), 0, INT64_MAX, &end) != 0 ||
                ctl_str(h, "tenant", tenant, sizeof(tenant))[0] == '\0' ||
                put_object(f, h) != 0) {
                rc = ctl_error(CRM_ERR_INTERNAL, "bad export header");
                break;
            }
            to = end;
            total = (uint64_t)(end - from + 1);
        }
        for (uint32_t i = 0; i < recs->via.array.size && rc == 0; i++)
            if (put_object(f, &recs->via.array.ptr[i]) != 0)
                rc = ctl_file_error("cannot write", path ? path : "stdout",
                                    errno);
        written += recs->via.array.size;
        if (progress)
            fprintf(stderr, "\rexport: %llu of %llu records",
                    (unsigned long long)written, (unsigned long long)total);
        if (rc != 0)
            break;
        int64_t n;
        if (next && next->type != MSGPACK_OBJECT_NIL &&
            crm_mp_int(next, 1, INT64_MAX, &n) == 0) {
            cursor = (uint64_t)n;
            continue;
        }
        if (tr == NULL || tr->type != MSGPACK_OBJECT_MAP || put_object(f, tr))
            rc = ctl_error(CRM_ERR_INTERNAL, "bad export trailer");
        break;
    }
    if (progress)
        fprintf(stderr, "\n");
    uint64_t nkeys = 0;
    if (rc == 0 && passfile && (rc = put_keys(c, f, tenant, passfile,
                                              &nkeys)) == 0 && progress)
        fprintf(stderr, "export: %llu guests' keys, sealed under the "
                        "passphrase\n",
                (unsigned long long)nkeys);
    if (fflush(f) != 0 && rc == 0)
        rc = ctl_file_error("cannot write", path ? path : "stdout", errno);
    if (path) {
        fclose(f);
        if (rc != 0)
            unlink(path); /* no half an export left to be taken for one */
    }
    return rc;
}

/* --- audit access ---------------------------------------------------------- */

#define NACOLS 5
static const char *const aheads[NACOLS] = {"time", "key_id", "role", "op",
                                           "customer"};

static int
access_rows(ctl_table *t, const msgpack_object *list)
{
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        char when[CTL_TIME_STRLEN + 1], key[40], role[16], op[40], cust[80];
        int64_t us;
        if (crm_mp_int(crm_mp_get(e, "time"), 0, INT64_MAX, &us) == 0)
            ctl_time_format(us, 1, when);
        else
            strcpy(when, "-");
        const char *row[NACOLS] = {when, ctl_str(e, "key_id", key, sizeof(key)),
                                   ctl_str(e, "role", role, sizeof(role)),
                                   ctl_str(e, "op", op, sizeof(op)),
                                   ctl_str(e, "customer", cust, sizeof(cust))};
        if (ctl_table_row(t, row) != 0)
            return -1;
    }
    return 0;
}

static int
time_opt(const ctl_args *a, const char *name, int64_t *us)
{
    const char *s = ctl_arg(a, name);
    *us = 0;
    if (s && ctl_time_parse(s, us) != 0)
        return ctl_usage(a->cmd,
                         "--%s must be a time YYYY-MM-DDTHH:MM:SS[.ffffff]Z, "
                         "not '%s'",
                         name, s);
    return 0;
}

int
ctl_cmd_audit_access(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    int64_t from, to, limit;
    int rc;
    if ((rc = time_opt(a, "from", &from)) != 0 ||
        (rc = time_opt(a, "to", &to)) != 0 ||
        (rc = ctl_arg_int(a, "limit", 1000, 1, 1000, &limit)) != 0)
        return rc;
    if (ctl_arg(a, "customer") && ctl_arg(a, "key"))
        return ctl_usage(a->cmd, "give --customer or --key, not both");
    ctl_table *t = NULL;
    uint64_t total = 0;
    char cursor[64] = "";
    /* every page: a guest's whole history of who looked */
    for (;;) {
        ctl_kv kv[] = {CTL_S("customer", ctl_arg(a, "customer")),
                       CTL_S("key_id", ctl_arg(a, "key")),
                       CTL_I("from", from), CTL_I("to", to),
                       CTL_I("limit", limit),
                       CTL_S("cursor", cursor[0] ? cursor : NULL)};
        if ((rc = ctl_call_kv(c, "audit.access", kv, 6, &res)) != 0)
            break;
        const msgpack_object *list = crm_mp_get(res, "entries");
        if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY) {
            rc = ctl_error(CRM_ERR_INTERNAL, "reply has no entries");
            break;
        }
        if (c->json && (rc = ctl_out_mp_json(res)) != 0)
            break; /* one document per page */
        if (!c->json && list->via.array.size > 0 &&
            ((t == NULL &&
              (t = ctl_table_open(NACOLS, aheads, NULL, 0)) == NULL) ||
             access_rows(t, list) != 0)) {
            rc = ctl_error(CRM_ERR_NOMEM, "cannot build the table");
            break;
        }
        total += list->via.array.size;
        const msgpack_object *more = crm_mp_get(res, "more");
        if (more == NULL || more->type != MSGPACK_OBJECT_BOOLEAN ||
            !more->via.boolean)
            break;
        ctl_str(res, "next", cursor, sizeof(cursor));
        if (cursor[0] == '\0')
            break;
    }
    ctl_table_close(t);
    if (rc == 0 && !c->json)
        printf("%" PRIu64 " access%s\n", total, total == 1 ? "" : "es");
    return rc;
}
