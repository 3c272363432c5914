/*
 * h_audit.c - what an auditor asks the server: the tenant's public key,
 * a checkpoint signed now, the checkpoints kept, and a range of the chain
 * verified online against them (log_sign.c, sign.h).
 */
#include <stdio.h>
#include <string.h>

#include "handlers_int.h"
#include "log.h"
#include "slog.h"

#define CKPT_LIMIT_DEFAULT 100
#define CKPT_LIMIT_MAX 1000

static void
hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static void
pack_ckpt(msgpack_packer *pk, const crm_checkpoint *c)
{
    char h[2 * CRM_SIGN_LEN + 1];
    msgpack_pack_map(pk, 4);
    KV_U64(pk, "position", c->position);
    hex(c->head, CRM_HASH_LEN, h);
    KV_STR(pk, "head", h);
    KV_I64(pk, "time", c->time);
    hex(c->sig, CRM_SIGN_LEN, h);
    KV_STR(pk, "signature", h);
}

crm_err
h_audit_pubkey(rpc_call *call, msgpack_packer *pk, crm_error *why,
               rpc_flow *flow)
{
    (void)flow;
    uint8_t pub[CRM_SIGN_PUB_LEN];
    char pem[256], h[2 * CRM_SIGN_PUB_LEN + 1];
    crm_log_sign_pub(call->log, pub);
    if (crm_sign_pub_pem(pub, pem, sizeof(pem)) < 0)
        return crm_error_set(why, CRM_ERR_INTERNAL, "cannot write the key");
    hex(pub, sizeof(pub), h);
    msgpack_pack_map(pk, 4);
    KV_STR(pk, "tenant", crm_log_tenant(call->log));
    KV_STR(pk, "algorithm", "Ed25519");
    KV_STR(pk, "public_key", h);
    KV_STR(pk, "pem", pem);
    return CRM_OK;
}

crm_err
h_audit_checkpoint(rpc_call *call, msgpack_packer *pk, crm_error *why,
                   rpc_flow *flow)
{
    (void)flow;
    crm_checkpoint c;
    crm_err err = crm_log_sign_now(call->log, &c, why);
    if (err != CRM_OK)
        return err;
    crm_slog(CRM_INFO, call->c->rid,
             "msg=\"checkpoint signed\" tenant=%s position=%llu",
             crm_log_tenant(call->log), (unsigned long long)c.position);
    pack_ckpt(pk, &c);
    return CRM_OK;
}

typedef struct ckpt_page {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t n, limit;
    int more;
    uint64_t next;
} ckpt_page;

static int
on_ckpt(void *arg, const crm_checkpoint *c)
{
    ckpt_page *p = arg;
    if (p->n == p->limit) {
        p->more = 1; /* this one begins the next page */
        p->next = c->position;
        return 1;
    }
    pack_ckpt(&p->pk, c);
    p->n++;
    return 0;
}

crm_err
h_audit_signatures(rpc_call *call, msgpack_packer *pk, crm_error *why,
                    rpc_flow *flow)
{
    (void)flow;
    int64_t from, limit;
    crm_err err;
    if ((err = h_arg_int(call, "from", 0, 0, INT64_MAX, &from, why)) !=
            CRM_OK ||
        (err = h_arg_int(call, "limit", CKPT_LIMIT_DEFAULT, 1, CKPT_LIMIT_MAX,
                         &limit, why)) != CRM_OK)
        return err;
    ckpt_page p = {.limit = (size_t)limit};
    msgpack_sbuffer_init(&p.sb);
    msgpack_packer_init(&p.pk, &p.sb, msgpack_sbuffer_write);
    err = crm_log_checkpoints(call->log, (uint64_t)from, 0, on_ckpt, &p, why);
    if (err == CRM_OK) {
        msgpack_pack_map(pk, 3);
        crm_mp_pack_cstr(pk, "checkpoints");
        msgpack_pack_array(pk, p.n);
        if (p.sb.size)
            pk->callback(pk->data, p.sb.data, p.sb.size);
        KV_BOOL(pk, "more", p.more);
        crm_mp_pack_cstr(pk, "next");
        p.more ? msgpack_pack_uint64(pk, p.next) : msgpack_pack_nil(pk);
    }
    msgpack_sbuffer_destroy(&p.sb);
    return err;
}

crm_err
h_audit_verify(rpc_call *call, msgpack_packer *pk, crm_error *why,
               rpc_flow *flow)
{
    (void)flow;
    int64_t from, to;
    crm_err err;
    if ((err = h_arg_int(call, "from", 1, 1, INT64_MAX, &from, why)) !=
            CRM_OK ||
        (err = h_arg_int(call, "to", 0, 0, INT64_MAX, &to, why)) != CRM_OK)
        return err;
    if (to != 0 && to < from)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'to' (%lld) is before 'from' (%lld)",
                             (long long)to, (long long)from);
    crm_log_verified v;
    crm_error fault = {CRM_OK, ""};
    err = crm_log_verify_range(call->log, (uint64_t)from, (uint64_t)to, &v,
                               &fault);
    if (err != CRM_OK && err != CRM_ERR_CORRUPT) {
        *why = fault;
        return err;
    }
    /* a broken chain is an answer, not a failure of the call */
    msgpack_pack_map(pk, 8);
    KV_BOOL(pk, "ok", err == CRM_OK);
    KV_U64(pk, "from", v.from);
    KV_U64(pk, "to", v.to);
    KV_U64(pk, "anchor", v.anchor);
    KV_U64(pk, "records", v.records);
    KV_U64(pk, "checkpoints", v.checkpoints);
    crm_mp_pack_cstr(pk, "bad_position");
    err == CRM_OK ? msgpack_pack_nil(pk) : msgpack_pack_uint64(pk, v.bad);
    crm_mp_pack_cstr(pk, "error");
    err == CRM_OK ? msgpack_pack_nil(pk) : crm_mp_pack_cstr(pk, fault.msg);
    return CRM_OK;
}
