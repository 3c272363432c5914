/* rpc.c - envelopes and wire forms of the crmd protocol. */
#include "rpc.h"

#include <string.h>

#include "mpcheck.h"
#include "utf8.h"
#include "uuid.h"

const msgpack_object *
crm_mp_get(const msgpack_object *m, const char *k)
{
    if (m == NULL || m->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t n = strlen(k);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *key = &m->via.map.ptr[i].key;
        if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == n &&
            memcmp(key->via.str.ptr, k, n) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

int
crm_mp_is_str(const msgpack_object *o)
{
    return o != NULL && o->type == MSGPACK_OBJECT_STR;
}

int
crm_mp_int(const msgpack_object *o, int64_t min, int64_t max, int64_t *out)
{
    int64_t v;
    if (o == NULL)
        return -1;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return -1;
        v = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        v = o->via.i64;
    } else {
        return -1;
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int
crm_mp_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    return msgpack_pack_str(pk, len) | msgpack_pack_str_body(pk, s, len);
}

int
crm_mp_pack_cstr(msgpack_packer *pk, const char *s)
{
    return crm_mp_pack_str(pk, s, strlen(s));
}

int
crm_mp_pack_object(msgpack_packer *pk, const msgpack_object *o)
{
    return msgpack_pack_object(pk, *o);
}

static crm_err
opt_str(const msgpack_object *root, const char *k, size_t max,
        const char **s, size_t *len, crm_error *why)
{
    const msgpack_object *o = crm_mp_get(root, k);
    *s = NULL;
    *len = 0;
    if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
        return CRM_OK;
    if (o->type != MSGPACK_OBJECT_STR)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "envelope member '%s' must be a string", k);
    if (o->via.str.size > max)
        return crm_error_set(why, CRM_ERR_TOO_LARGE,
                             "envelope member '%s' is longer than %zu bytes",
                             k, max);
    *s = o->via.str.ptr;
    *len = o->via.str.size;
    return CRM_OK;
}

crm_err
crm_rpc_check_request(const void *buf, size_t len, crm_error *why)
{
    if (len > CRM_RPC_MAX_MSG)
        return crm_error_set(why, CRM_ERR_TOO_LARGE,
                             "request is %zu bytes; the limit is %u", len,
                             CRM_RPC_MAX_MSG);
    return crm_mpcheck_bounded(buf, len, CRM_RPC_MAX_DEPTH, CRM_RPC_MAX_OBJECTS,
                               why);
}

crm_err
crm_rpc_parse_request(const msgpack_object *root, crm_rpc_req *r,
                      crm_error *why)
{
    int64_t v;
    crm_err err;

    memset(r, 0, sizeof(*r));
    if (root->type != MSGPACK_OBJECT_MAP)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "request must be a msgpack map");
    const msgpack_object *ido = crm_mp_get(root, "id");
    if (ido && ido->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        r->id = ido->via.u64; /* any u64, echoed as given */
    else if (ido != NULL)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "request id must be an unsigned integer");
    /* every map of the request, the envelope first: a key given twice
     * would be read as whichever copy a lookup meets first (the id read
     * above only numbers the reply) */
    if ((err = crm_mp_unique_keys(root, why)) != CRM_OK)
        return err;
    const msgpack_object *vo = crm_mp_get(root, "v");
    if (vo == NULL)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "request has no protocol version 'v'");
    if (vo->type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
        vo->type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "protocol version 'v' must be an integer");
    if (crm_mp_int(vo, INT64_MIN, INT64_MAX, &v) != 0)
        v = -1; /* beyond int64: certainly not a version we speak */
    if (v != CRM_RPC_VERSION)
        return crm_error_set(why, CRM_ERR_BAD_VERSION,
                             "protocol version is not supported (this server "
                             "speaks %d)",
                             CRM_RPC_VERSION);
    if ((err = opt_str(root, "op", CRM_OP_NAME_MAX, &r->op, &r->op_len,
                       why)) != CRM_OK)
        return err;
    if (r->op == NULL)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "request has no 'op'");
    if ((err = opt_str(root, "tenant", CRM_TENANT_MAX, &r->tenant,
                       &r->tenant_len, why)) != CRM_OK ||
        (err = opt_str(root, "key", CRM_KEY_MAX, &r->key, &r->key_len,
                       why)) != CRM_OK)
        return err;
    const struct {
        const char *name, *s;
        size_t len;
    } names[] = {{"op", r->op, r->op_len},
                 {"tenant", r->tenant, r->tenant_len},
                 {"key", r->key, r->key_len}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char q[CRM_UTF8_QUOTE_CAP];
        if (names[i].s &&
            !crm_utf8_quote(names[i].s, names[i].len, CRM_UTF8_QUOTE_MAX, q,
                            sizeof(q)))
            return crm_error_set(why, CRM_ERR_BAD_UTF8,
                                 "envelope member '%s' is not valid UTF-8: "
                                 "'%s'",
                                 names[i].name, i == 2 ? "(not shown)" : q);
    }
    const msgpack_object *a = crm_mp_get(root, "args");
    if (a != NULL) {
        if (a->type != MSGPACK_OBJECT_MAP)
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "'args' must be a map (omit it for none)");
        r->args = a;
    }
    return CRM_OK;
}

int
crm_rpc_pack_request_head(msgpack_packer *pk, uint64_t id, const char *op,
                          const char *tenant, const char *key)
{
    int rc = msgpack_pack_map(pk, 4 + (tenant != NULL) + (key != NULL));
    rc |= crm_mp_pack_cstr(pk, "v") | msgpack_pack_int(pk, CRM_RPC_VERSION);
    rc |= crm_mp_pack_cstr(pk, "id") | msgpack_pack_uint64(pk, id);
    rc |= crm_mp_pack_cstr(pk, "op") | crm_mp_pack_cstr(pk, op);
    if (tenant)
        rc |= crm_mp_pack_cstr(pk, "tenant") | crm_mp_pack_cstr(pk, tenant);
    if (key)
        rc |= crm_mp_pack_cstr(pk, "key") | crm_mp_pack_cstr(pk, key);
    rc |= crm_mp_pack_cstr(pk, "args");
    return rc;
}

int
crm_rpc_pack_reply_head(msgpack_packer *pk, uint64_t id)
{
    int rc = msgpack_pack_map(pk, 4);
    rc |= crm_mp_pack_cstr(pk, "v") | msgpack_pack_int(pk, CRM_RPC_VERSION);
    rc |= crm_mp_pack_cstr(pk, "id") | msgpack_pack_uint64(pk, id);
    rc |= crm_mp_pack_cstr(pk, "ok") | msgpack_pack_true(pk);
    rc |= crm_mp_pack_cstr(pk, "result");
    return rc;
}

int
crm_rpc_pack_error_map(msgpack_packer *pk, crm_err code, const char *message)
{
    int rc = msgpack_pack_map(pk, 3);
    rc |= crm_mp_pack_cstr(pk, "code") | msgpack_pack_int(pk, (int)code);
    rc |= crm_mp_pack_cstr(pk, "name") | crm_mp_pack_cstr(pk, crm_err_name(code));
    rc |= crm_mp_pack_cstr(pk, "message") |
          crm_mp_pack_cstr(pk, message && message[0] ? message
                                                      : crm_strerror(code));
    return rc;
}

int
crm_rpc_pack_error(msgpack_packer *pk, uint64_t id, crm_err code,
                   const char *message)
{
    int rc = msgpack_pack_map(pk, 4);
    rc |= crm_mp_pack_cstr(pk, "v") | msgpack_pack_int(pk, CRM_RPC_VERSION);
    rc |= crm_mp_pack_cstr(pk, "id") | msgpack_pack_uint64(pk, id);
    rc |= crm_mp_pack_cstr(pk, "ok") | msgpack_pack_false(pk);
    rc |= crm_mp_pack_cstr(pk, "error") |
          crm_rpc_pack_error_map(pk, code, message);
    return rc;
}

crm_err
crm_rpc_parse_error_map(const msgpack_object *m, crm_error *why)
{
    int64_t code;
    const msgpack_object *msg = crm_mp_get(m, "message");
    const msgpack_object *name = crm_mp_get(m, "name");
    if (crm_mp_int(crm_mp_get(m, "code"), 1, 65535, &code) != 0)
        return crm_error_set(why, CRM_ERR_INTERNAL,
                             "malformed error in reply");
    crm_err err = (crm_err)code;
    /* A code this client does not know (a newer server) becomes internal,
     * and keeps the server's name in the message. */
    if (strcmp(crm_err_name(err), "unknown") == 0) {
        err = CRM_ERR_INTERNAL;
        if (crm_mp_is_str(name))
            return crm_error_set(why, err, "%.*s: %.*s",
                                 (int)(name->via.str.size < 40 ? name->via.str.size : 40),
                                 name->via.str.ptr,
                                 crm_mp_is_str(msg) ? (int)msg->via.str.size : 0,
                                 crm_mp_is_str(msg) ? msg->via.str.ptr : "");
    }
    if (crm_mp_is_str(msg))
        return crm_error_set(why, err, "%.*s", (int)msg->via.str.size,
                             msg->via.str.ptr);
    return crm_error_set(why, err, NULL);
}

crm_err
crm_rpc_parse_reply(const msgpack_object *root, uint64_t *id,
                    const msgpack_object **result, crm_error *why)
{
    int64_t v;
    const msgpack_object *ok = crm_mp_get(root, "ok");

    *result = NULL;
    if (crm_mp_int(crm_mp_get(root, "v"), 0, 1000, &v) != 0 ||
        v != CRM_RPC_VERSION || ok == NULL ||
        ok->type != MSGPACK_OBJECT_BOOLEAN)
        return crm_error_set(why, CRM_ERR_BAD_VERSION,
                             "reply is not a crmd v%d reply", CRM_RPC_VERSION);
    const msgpack_object *rid = crm_mp_get(root, "id");
    if (id)
        *id = rid && rid->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? rid->via.u64
                                                                  : 0;
    if (ok->via.boolean) {
        *result = crm_mp_get(root, "result");
        return crm_error_set(why, CRM_OK, NULL);
    }
    return crm_rpc_parse_error_map(crm_mp_get(root, "error"), why);
}

crm_err
crm_rpc_event_in(const msgpack_object *m, crm_event_in *e, crm_error *why)
{
    int64_t t;
    memset(e, 0, sizeof(*e));
    if (m->type != MSGPACK_OBJECT_MAP)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "an event must be a map");
    const msgpack_object *id = crm_mp_get(m, "id");
    if (id && id->type == MSGPACK_OBJECT_BIN && id->via.bin.size == CRM_ID_LEN) {
        memcpy(e->id, id->via.bin.ptr, CRM_ID_LEN);
    } else if (crm_mp_is_str(id) && id->via.str.size == CRM_UUID_STRLEN) {
        char s[CRM_UUID_STRLEN + 1];
        memcpy(s, id->via.str.ptr, CRM_UUID_STRLEN);
        s[CRM_UUID_STRLEN] = '\0';
        if (crm_uuid_parse(s, e->id) != 0)
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "event 'id' is not a UUID");
    } else {
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "event 'id' must be 16 bytes of bin or a UUID "
                             "string");
    }
    const msgpack_object *st = crm_mp_get(m, "stream");
    const msgpack_object *ty = crm_mp_get(m, "type");
    if (!crm_mp_is_str(st) || !crm_mp_is_str(ty))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "event needs string 'stream' and 'type'");
    e->stream = st->via.str.ptr;
    e->stream_len = st->via.str.size;
    e->type = ty->via.str.ptr;
    e->type_len = ty->via.str.size;
    if (crm_mp_int(crm_mp_get(m, "occurred_at"), 1, CRM_TIME_MAX, &t) != 0)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "event 'occurred_at' must be UTC microseconds");
    e->occurred_at = t;
    e->body = crm_mp_get(m, "body");
    return CRM_OK;
}

int
crm_rpc_pack_record(msgpack_packer *pk, const crm_record *r, int redact_pii)
{
    return crm_rpc_pack_record_view(pk, r, redact_pii, NULL);
}

int
crm_rpc_pack_record_view(msgpack_packer *pk, const crm_record *r,
                         int redact_pii, const msgpack_object *withheld)
{
    /* sealed (bin) pii that was not opened goes out as redacted, and so
     * does a map the caller's view emptied: pii_redacted keeps meaning
     * "there was personal data you do not get" */
    int has_pii = r->pii.type == MSGPACK_OBJECT_MAP ||
                  r->pii.type == MSGPACK_OBJECT_BIN;
    int listed = withheld && withheld->type == MSGPACK_OBJECT_ARRAY &&
                 withheld->via.array.size > 0;
    int redacted = (has_pii && (redact_pii ||
                                r->pii.type == MSGPACK_OBJECT_BIN)) ||
                   (listed && !has_pii);
    int rc = msgpack_pack_map(pk, 11 + redacted + listed);
    rc |= crm_mp_pack_cstr(pk, "position") | msgpack_pack_uint64(pk, r->h.position);
    rc |= crm_mp_pack_cstr(pk, "stream") |
          crm_mp_pack_str(pk, r->stream, r->stream_len);
    rc |= crm_mp_pack_cstr(pk, "version") | msgpack_pack_uint64(pk, r->h.version);
    rc |= crm_mp_pack_cstr(pk, "type") | crm_mp_pack_str(pk, r->type, r->type_len);
    rc |= crm_mp_pack_cstr(pk, "id") | msgpack_pack_bin(pk, CRM_ID_LEN) |
          msgpack_pack_bin_body(pk, r->id, CRM_ID_LEN);
    rc |= crm_mp_pack_cstr(pk, "occurred_at") | msgpack_pack_int64(pk, r->occurred_at);
    rc |= crm_mp_pack_cstr(pk, "recorded_at") | msgpack_pack_int64(pk, r->h.recorded_at);
    rc |= crm_mp_pack_cstr(pk, "actor") |
          crm_mp_pack_str(pk, r->h.actor, r->h.actor_len);
    rc |= crm_mp_pack_cstr(pk, "body") | crm_mp_pack_object(pk, &r->body);
    rc |= crm_mp_pack_cstr(pk, "pii");
    rc |= redacted ? msgpack_pack_nil(pk) : crm_mp_pack_object(pk, &r->pii);
    rc |= crm_mp_pack_cstr(pk, "hash") | msgpack_pack_bin(pk, CRM_HASH_LEN) |
          msgpack_pack_bin_body(pk, r->hash, CRM_HASH_LEN);
    if (redacted)
        rc |= crm_mp_pack_cstr(pk, "pii_redacted") | msgpack_pack_true(pk);
    if (listed)
        rc |= crm_mp_pack_cstr(pk, "pii_withheld") |
              crm_mp_pack_object(pk, withheld);
    return rc;
}

int
crm_rpc_pack_event(msgpack_packer *pk, const crm_event_in *e)
{
    int rc = msgpack_pack_map(pk, 5);
    rc |= crm_mp_pack_cstr(pk, "id") | msgpack_pack_bin(pk, CRM_ID_LEN) |
          msgpack_pack_bin_body(pk, e->id, CRM_ID_LEN);
    rc |= crm_mp_pack_cstr(pk, "stream") |
          crm_mp_pack_str(pk, e->stream, e->stream_len);
    rc |= crm_mp_pack_cstr(pk, "type") | crm_mp_pack_str(pk, e->type, e->type_len);
    rc |= crm_mp_pack_cstr(pk, "occurred_at") |
          msgpack_pack_int64(pk, e->occurred_at);
    rc |= crm_mp_pack_cstr(pk, "body");
    rc |= e->body ? crm_mp_pack_object(pk, e->body) : msgpack_pack_map(pk, 0);
    return rc;
}
