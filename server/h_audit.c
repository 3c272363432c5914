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
#include "xkeys.h"

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

/* --- audit.export: the log as records stored, for crm-audit ------------- */

#define EXPORT_BUDGET (CRM_RPC_MAX_REPLY - (64u << 10))
#define EXPORT_MAX 20000

typedef struct xpage {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint64_t to, next, n;
    int full;
    uint8_t last_hash[CRM_HASH_LEN];
} xpage;

static int
on_export(void *arg, uint64_t position, const uint8_t *rec, size_t len)
{
    xpage *x = arg;
    if (position > x->to)
        return 1;
    if (x->n > 0 &&
        (x->sb.size + len > EXPORT_BUDGET || x->n == EXPORT_MAX)) {
        x->full = 1;
        return 1;
    }
    msgpack_pack_bin(&x->pk, len);
    msgpack_pack_bin_body(&x->pk, rec, len);
    x->n++;
    x->next = position + 1;
    return 0;
}

/* The stored hash (H) of the record at pos into out. */
static int
on_prev(void *arg, uint64_t position, const uint8_t *rec, size_t len)
{
    (void)position;
    if (len >= CRM_HASH_LEN)
        memcpy(arg, rec + len - CRM_HASH_LEN, CRM_HASH_LEN);
    return 1;
}

static void
kv_bin(msgpack_packer *pk, const char *k, const uint8_t *b, size_t n)
{
    crm_mp_pack_cstr(pk, k);
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, b, n);
}

crm_err
h_audit_export(rpc_call *call, msgpack_packer *pk, crm_error *why,
               rpc_flow *flow)
{
    (void)flow;
    int64_t from, to, cursor;
    crm_err err;
    if ((err = h_arg_int(call, "from", 1, 1, INT64_MAX, &from, why)) !=
            CRM_OK ||
        (err = h_arg_int(call, "to", 0, 0, INT64_MAX, &to, why)) != CRM_OK ||
        (err = h_arg_int(call, "cursor", 0, 0, INT64_MAX, &cursor, why)) !=
            CRM_OK)
        return err;
    if (cursor != 0 && to == 0)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "a later page names the export's 'to' (its "
                             "header's)");
    crm_log *log = call->log;
    uint64_t head;
    crm_log_head(log, &head, NULL);
    crm_checkpoint ck;
    /* an export ends at a signed checkpoint: of the head, signed now if
     * need be, or the newest at or before the position asked */
    if (cursor == 0 && (to == 0 || (uint64_t)to >= head) &&
        (err = crm_log_sign_now(log, &ck, why)) != CRM_OK)
        return err;
    uint64_t end = to == 0 || (uint64_t)to > head ? head : (uint64_t)to;
    if ((err = crm_log_checkpoint_before(log, end, &ck, why)) != CRM_OK)
        return err;
    end = ck.position;
    if ((uint64_t)from > end)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'from' (%lld) is past the export's end (%llu, "
                             "the newest signed checkpoint at or before "
                             "'to')",
                             (long long)from, (unsigned long long)end);
    if (cursor != 0 && ((uint64_t)cursor <= (uint64_t)from ||
                        (uint64_t)cursor > end))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'cursor' must be a 'next' of this export");
    xpage x = {.to = end};
    msgpack_sbuffer_init(&x.sb);
    msgpack_packer_init(&x.pk, &x.sb, msgpack_sbuffer_write);
    uint64_t start = cursor ? (uint64_t)cursor : (uint64_t)from;
    err = crm_log_read_all(log, start, 0, on_export, &x);
    int last = err == CRM_OK && !x.full;
    uint8_t prev[CRM_HASH_LEN], pub[CRM_SIGN_PUB_LEN], gen[CRM_HASH_LEN];
    crm_log_genesis(log, gen);
    memcpy(prev, gen, CRM_HASH_LEN);
    if (err == CRM_OK && cursor == 0 && from > 1)
        err = crm_log_read_all(log, (uint64_t)from - 1, 1, on_prev, prev);
    if (err == CRM_OK) {
        crm_log_sign_pub(log, pub);
        msgpack_pack_map(pk, 4);
        crm_mp_pack_cstr(pk, "header");
        if (cursor == 0) {
            msgpack_pack_map(pk, 8);
            KV_STR(pk, "format", "crmd-export");
            KV_U64(pk, "version", 1);
            KV_STR(pk, "tenant", crm_log_tenant(log));
            KV_U64(pk, "from", (uint64_t)from);
            KV_U64(pk, "to", end);
            kv_bin(pk, "genesis", gen, CRM_HASH_LEN);
            kv_bin(pk, "prev_hash", prev, CRM_HASH_LEN);
            kv_bin(pk, "public_key", pub, CRM_SIGN_PUB_LEN);
        } else {
            msgpack_pack_nil(pk);
        }
        crm_mp_pack_cstr(pk, "records");
        msgpack_pack_array(pk, x.n);
        if (x.sb.size)
            pk->callback(pk->data, x.sb.data, x.sb.size);
        crm_mp_pack_cstr(pk, "next");
        last ? msgpack_pack_nil(pk) : msgpack_pack_uint64(pk, x.next);
        crm_mp_pack_cstr(pk, "trailer");
        if (last) {
            msgpack_pack_map(pk, 3);
            KV_U64(pk, "count", end - (uint64_t)from + 1);
            kv_bin(pk, "head", ck.head, CRM_HASH_LEN);
            crm_mp_pack_cstr(pk, "checkpoint");
            msgpack_pack_map(pk, 4);
            KV_U64(pk, "position", ck.position);
            kv_bin(pk, "head", ck.head, CRM_HASH_LEN);
            KV_I64(pk, "time", ck.time);
            kv_bin(pk, "signature", ck.sig, CRM_SIGN_LEN);
        } else {
            msgpack_pack_nil(pk);
        }
    }
    msgpack_sbuffer_destroy(&x.sb);
    return err;
}

/* --- audit.keys: the guests' keys, for crmd --import ------------------ */

#define XKEYS_MAX 20000 /* a page: ~130 bytes each */

typedef struct kpage {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    const uint8_t *tkey;
    const char *tenant;
    size_t tenant_len, n;
    h_seen seen;
    char last[CRM_STREAM_MAX];
    size_t last_len;
    int fail;
} kpage;

static int
on_key(void *arg, const char *stream, size_t len,
       const uint8_t key[CRM_KEY_LEN])
{
    kpage *p = arg;
    uint8_t w[CRM_WRAPPED_LEN];
    if (crm_xkeys_wrap(p->tkey, p->tenant, p->tenant_len, stream, len, key,
                       w) != 0) {
        p->fail = 1;
        return 1;
    }
    msgpack_pack_array(&p->pk, 2);
    msgpack_pack_str(&p->pk, len);
    msgpack_pack_str_body(&p->pk, stream, len);
    msgpack_pack_bin(&p->pk, sizeof(w));
    msgpack_pack_bin_body(&p->pk, w, sizeof(w));
    h_seen_add(&p->seen, stream, len);
    memcpy(p->last, stream, len);
    p->last_len = len;
    p->n++;
    return 0;
}

crm_err
h_audit_keys(rpc_call *call, msgpack_packer *pk, crm_error *why,
                    rpc_flow *flow)
{
    (void)flow;
    const msgpack_object *k = crm_mp_get(call->args, "key");
    const char *after;
    size_t after_len;
    crm_err err = h_arg_str(call, "after", 0, CRM_STREAM_MAX, &after,
                            &after_len, why);
    if (err != CRM_OK)
        return err;
    if (k == NULL || k->type != MSGPACK_OBJECT_BIN ||
        k->via.bin.size != CRM_KEY_LEN)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'key' must be the transport key (bin of %d "
                             "bytes)",
                             CRM_KEY_LEN);
    crm_log *log = call->log;
    const char *tenant = crm_log_tenant(log);
    kpage p = {.tkey = (const uint8_t *)k->via.bin.ptr,
               .tenant = tenant,
               .tenant_len = strlen(tenant)};
    msgpack_sbuffer_init(&p.sb);
    msgpack_packer_init(&p.pk, &p.sb, msgpack_sbuffer_write);
    err = crm_log_subject_keys(log, after, after ? after_len : 0, XKEYS_MAX,
                               on_key, &p, why);
    if (err == CRM_OK && p.fail)
        err = crm_error_set(why, CRM_ERR_INTERNAL, "cannot seal a key");
    if (err == CRM_OK) {
        msgpack_pack_map(pk, 2);
        crm_mp_pack_cstr(pk, "keys");
        msgpack_pack_array(pk, p.n);
        if (p.sb.size)
            pk->callback(pk->data, p.sb.data, p.sb.size);
        crm_mp_pack_cstr(pk, "next");
        if (p.n == XKEYS_MAX) {
            msgpack_pack_str(pk, p.last_len);
            msgpack_pack_str_body(pk, p.last, p.last_len);
        } else {
            msgpack_pack_nil(pk);
        }
    }
    msgpack_sbuffer_destroy(&p.sb);
    /* every guest whose key went out is one whose data could be read */
    return h_seen_done(call, &p.seen, err);
}
