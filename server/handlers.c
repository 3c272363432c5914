/*
 * handlers.c - one function per RPC op, indexed by crm_op.
 *
 * A handler reads its args, packs its result into pk and returns CRM_OK;
 * or returns an error (net.c discards whatever was packed); or takes the
 * reply over (RPC_DEFERRED): appends answer on an NNG thread once the
 * writer says they are durable, long-polls when the log moves or the
 * wait ends.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "handlers_int.h"
#include "settings.h"
#include "schema.h"
#include "slog.h"
#include "utf8.h"
#include "views.h"

#ifndef CRM_VERSION
#define CRM_VERSION "dev"
#endif

void
h_view(const rpc_ctx *c, crm_view *v)
{
    crm_view_for(c->key.role, c->key.grants, v);
}

int
h_record_view(crm_log *log, MDB_txn *txn, uint64_t position, msgpack_zone *z,
              const crm_view *v, unsigned consents, crm_record *r,
              h_seen *seen)
{
    if (!v->opens) {
        /* nothing to show: the sealed part is not even opened */
        const void *rec;
        size_t len;
        int rc = crm_log_record_at(log, txn, position, &rec, &len);
        if (rc != 0)
            return rc;
        if (crm_record_decode(rec, len, z, r, NULL) != CRM_OK)
            return MDB_CORRUPTED;
        r->pii.type = MSGPACK_OBJECT_NIL;
        return 0;
    }
    int rc = crm_log_record_open(log, txn, position, z, r);
    if (rc != 0)
        return rc;
    msgpack_object withheld;
    if (crm_view_filter(v, r->type, r->type_len, consents, &r->pii, z,
                        &withheld) < 0)
        return ENOMEM;
    if (r->pii.type != MSGPACK_OBJECT_NIL)
        h_seen_add(seen, r->stream, r->stream_len);
    return 0;
}

/* --- argument helpers ------------------------------------------------------ */

crm_err
h_arg_str(const rpc_call *call, const char *name, int required, size_t max,
          const char **s, size_t *len, crm_error *why)
{
    const msgpack_object *o = crm_mp_get(call->args, name);
    *s = NULL;
    *len = 0;
    if (o == NULL || o->type == MSGPACK_OBJECT_NIL) {
        if (required)
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "%s needs argument '%s'", call->op->name, name);
        return CRM_OK;
    }
    if (o->type != MSGPACK_OBJECT_STR)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "argument '%s' must be a string", name);
    if (o->via.str.size > max)
        return crm_error_set(why, CRM_ERR_TOO_LARGE,
                             "argument '%s' is longer than %zu bytes", name, max);
    /* a NUL inside is the caller's to refuse (h_arg_cstr: bad_request) */
    if (o->via.str.size > 0 &&
        memchr(o->via.str.ptr, '\0', o->via.str.size) == NULL &&
        !crm_utf8_valid(o->via.str.ptr, o->via.str.size))
        return crm_error_set(why, CRM_ERR_BAD_UTF8,
                             "argument '%s' is not valid UTF-8", name);
    *s = o->via.str.ptr;
    *len = o->via.str.size;
    return CRM_OK;
}

/* Copies a string argument into buf (size max + 1). */
crm_err
h_arg_cstr(const rpc_call *call, const char *name, int required, char *buf,
           size_t max, crm_error *why)
{
    const char *s;
    size_t len;
    crm_err err = h_arg_str(call, name, required, max, &s, &len, why);
    buf[0] = '\0';
    if (err == CRM_OK && s) {
        if (memchr(s, '\0', len))
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "argument '%s' holds a NUL byte", name);
        memcpy(buf, s, len);
        buf[len] = '\0';
    }
    return err;
}

crm_err
h_arg_int(const rpc_call *call, const char *name, int64_t def, int64_t min,
          int64_t max, int64_t *out, crm_error *why)
{
    const msgpack_object *o = crm_mp_get(call->args, name);
    if (o == NULL || o->type == MSGPACK_OBJECT_NIL) {
        *out = def;
        return CRM_OK;
    }
    if (crm_mp_int(o, min, max, out) != 0)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "argument '%s' must be an integer in %lld..%lld",
                             name, (long long)min, (long long)max);
    return CRM_OK;
}

crm_err
h_arg_bool(const rpc_call *call, const char *name, int *out, crm_error *why)
{
    const msgpack_object *o = crm_mp_get(call->args, name);
    *out = 0;
    if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
        return CRM_OK;
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "argument '%s' must be a boolean", name);
    *out = o->via.boolean;
    return CRM_OK;
}

int
h_arg_absent(const rpc_call *call, const char *name)
{
    const msgpack_object *o = crm_mp_get(call->args, name);
    return o == NULL || o->type == MSGPACK_OBJECT_NIL;
}

crm_err
h_arg_day(const rpc_call *call, const char *name, uint32_t *day,
          crm_error *why)
{
    const char *s;
    size_t len;
    crm_err err = h_arg_str(call, name, 0, 10, &s, &len, why);
    if (err != CRM_OK)
        return err;
    if (s == NULL) {
        *day = crm_settings_day_of(crm_query_now_us());
        return CRM_OK;
    }
    if (!crm_date_valid(s, len))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "argument '%s' must be a date YYYY-MM-DD", name);
    *day = crm_settings_day(s, len);
    return CRM_OK;
}

void
h_kv_day(msgpack_packer *pk, const char *k, uint32_t d)
{
    char t[11];
    crm_mp_pack_cstr(pk, k);
    if (d == 0) {
        msgpack_pack_nil(pk);
        return;
    }
    crm_settings_day_text(d, t);
    crm_mp_pack_cstr(pk, t);
}

int
h_proj_db(crm_log *log, MDB_txn *txn, const char *name, MDB_dbi *out)
{
    const crm_proj_set *set = crm_log_projections(log);
    int i = crm_proj_index(set, name);
    if (i < 0 || crm_proj_stale(set, (size_t)i))
        return MDB_NOTFOUND;
    MDB_dbi dbi[CRM_PROJ_DBS_MAX];
    uint64_t at;
    int rc = crm_proj_live(set, txn, (size_t)i, dbi, &at);
    *out = dbi[0];
    return rc;
}

int
h_settings_in(crm_log *log, MDB_txn *txn, uint32_t day, crm_settings *s)
{
    MDB_dbi db;
    int rc = h_proj_db(log, txn, "settings", &db);
    if (rc == MDB_NOTFOUND) {
        crm_settings_defaults(s);
        return 0;
    }
    return rc ? rc : crm_settings_at(txn, db, day, UINT64_MAX, s);
}

crm_err
h_not_found_guest(const char *id, size_t len, const char *what,
                  crm_error *why)
{
    char q[CRM_UTF8_QUOTE_CAP];
    crm_utf8_quote(id, len, CRM_UTF8_QUOTE_MAX, q, sizeof(q));
    return crm_error_set(why, CRM_ERR_NOT_FOUND, "guest '%s': %s", q, what);
}


/* --- ping, server.info, metrics ------------------------------------------- */

static crm_err
h_ping(rpc_call *call, msgpack_packer *pk, crm_error *why, rpc_flow *flow)
{
    (void)call, (void)why, (void)flow;
    msgpack_pack_map(pk, 2);
    crm_mp_pack_cstr(pk, "pong");
    msgpack_pack_true(pk);
    KV_I64(pk, "time", crm_now_us());
    return CRM_OK;
}

static crm_err
h_server_info(rpc_call *call, msgpack_packer *pk, crm_error *why,
              rpc_flow *flow)
{
    rpc_ctx *c = call->c;
    (void)why, (void)flow;
    msgpack_pack_map(pk, 8);
    KV_STR(pk, "version", CRM_VERSION);
    KV_BOOL(pk, "clock_pinned", crm_clock_pinned());
    KV_I64(pk, "protocol", CRM_RPC_VERSION);
    KV_STR(pk, "node", "primary");
    KV_I64(pk, "uptime_s", (int64_t)time(NULL) - c->srv->started);
    KV_STR(pk, "tenant", c->key.tenant);
    KV_STR(pk, "role", crm_role_name(c->key.role));
    crm_mp_pack_cstr(pk, "limits");
    msgpack_pack_map(pk, 8);
    KV_U64(pk, "max_message", CRM_RPC_MAX_MSG);
    KV_U64(pk, "max_objects", CRM_RPC_MAX_OBJECTS);
    KV_U64(pk, "max_reply", CRM_RPC_MAX_REPLY);
    KV_U64(pk, "max_batch_events", CRM_BATCH_MAX);
    KV_U64(pk, "max_batch_ops", CRM_RPC_MAX_BATCH_OPS);
    KV_U64(pk, "max_read", CRM_RPC_MAX_READ);
    KV_U64(pk, "max_wait_ms", CRM_RPC_MAX_WAIT_MS);
    KV_U64(pk, "max_event_body", CRM_BODY_MAX);
    return CRM_OK;
}

static crm_err
h_metrics(rpc_call *call, msgpack_packer *pk, crm_error *why, rpc_flow *flow)
{
    rpc_ctx *c = call->c;
    (void)why, (void)flow;
    crm_metrics_pack(c->srv->metrics, pk,
                     c->key.role == CRM_ROLE_OPERATOR ? NULL : c->key.tenant);
    return CRM_OK;
}

/* --- tenants and keys ------------------------------------------------------ */

static crm_err
h_tenant_create(rpc_call *call, msgpack_packer *pk, crm_error *why,
                rpc_flow *flow)
{
    char id[CRM_TENANT_MAX + 1];
    crm_err err;
    (void)flow;
    if ((err = h_arg_cstr(call, "id", 1, id, CRM_TENANT_MAX, why)) != CRM_OK ||
        (err = crm_store_tenant_create(call->c->srv->store, id, why)) != CRM_OK)
        return err;
    crm_slog(CRM_INFO, call->c->rid, "msg=\"tenant created\" tenant=%s", id);
    msgpack_pack_map(pk, 1);
    KV_STR(pk, "id", id);
    return CRM_OK;
}

static crm_err
h_tenant_list(rpc_call *call, msgpack_packer *pk, crm_error *why,
              rpc_flow *flow)
{
    crm_tenant_info *t;
    size_t n;
    (void)flow;
    crm_err err = crm_store_tenant_list(call->c->srv->store, &t, &n, why);
    if (err != CRM_OK)
        return err;
    msgpack_pack_map(pk, 1);
    crm_mp_pack_cstr(pk, "tenants");
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        crm_log *log;
        uint64_t pos = 0;
        if (crm_store_tenant_log(call->c->srv->store, t[i].id, &log, NULL) ==
            CRM_OK)
            crm_log_head(log, &pos, NULL);
        msgpack_pack_map(pk, 3);
        KV_STR(pk, "id", t[i].id);
        KV_I64(pk, "created_at", t[i].created_at);
        KV_U64(pk, "position", pos);
    }
    free(t);
    return CRM_OK;
}

/* The tenant a key op acts on: an admin's own; an operator's from args. */
static crm_err
key_scope(rpc_call *call, char *tenant, int required, crm_error *why)
{
    rpc_ctx *c = call->c;
    crm_err err = h_arg_cstr(call, "tenant", 0, tenant, CRM_TENANT_MAX, why);
    if (err != CRM_OK)
        return err;
    if (c->key.role == CRM_ROLE_OPERATOR) {
        if (required && tenant[0] == '\0')
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "%s needs argument 'tenant'", call->op->name);
        return CRM_OK;
    }
    if (tenant[0] && strcmp(tenant, c->key.tenant) != 0)
        return crm_error_set(why, CRM_ERR_FORBIDDEN,
                             "the key does not belong to tenant '%s'", tenant);
    strcpy(tenant, c->key.tenant);
    return CRM_OK;
}

/* "grant": the name of the key's grant, nil for none. */
static void
kv_grant(msgpack_packer *pk, unsigned grants)
{
    const char *g = crm_grant_name(grants);
    crm_mp_pack_cstr(pk, "grant");
    if (g)
        crm_mp_pack_cstr(pk, g);
    else
        msgpack_pack_nil(pk);
}

static void
pack_key_info(msgpack_packer *pk, const crm_key_info *k)
{
    msgpack_pack_map(pk, 7);
    KV_STR(pk, "key_id", k->id);
    KV_STR(pk, "tenant", k->tenant);
    KV_STR(pk, "role", crm_role_name(k->role));
    KV_STR(pk, "label", k->label);
    KV_I64(pk, "created_at", k->created_at);
    KV_I64(pk, "revoked_at", k->revoked_at);
    kv_grant(pk, k->grants);
}

/* The grant argument of key.create: only an admin gives one, for its own
 * tenant's keys, and only to a role that may carry it (an auditor
 * reading personal data is the data controller's decision, not the
 * hosting operator's). */
static crm_err
key_grant(rpc_call *call, crm_role role, unsigned *grants, crm_error *why)
{
    const char *gs;
    size_t glen;
    crm_err err = h_arg_str(call, "grant", 0, 32, &gs, &glen, why);
    *grants = 0;
    if (err != CRM_OK || gs == NULL)
        return err;
    if (crm_grant_parse(gs, glen, grants) != 0) {
        char q[CRM_UTF8_QUOTE_CAP];
        crm_utf8_quote(gs, glen, CRM_UTF8_QUOTE_MAX, q, sizeof(q));
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "unknown grant '%s'",
                             q);
    }
    if (call->c->key.role != CRM_ROLE_ADMIN)
        return crm_error_set(why, CRM_ERR_FORBIDDEN,
                             "only a tenant's admin gives grant '%s'",
                             crm_grant_name(*grants));
    if (!crm_grant_allowed(role, *grants))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "grant '%s' is not for %s keys",
                             crm_grant_name(*grants), crm_role_name(role));
    return CRM_OK;
}

static crm_err
h_key_create(rpc_call *call, msgpack_packer *pk, crm_error *why,
             rpc_flow *flow)
{
    rpc_ctx *c = call->c;
    char tenant[CRM_TENANT_MAX + 1], label[CRM_KEY_LABEL_MAX + 1];
    char token[CRM_KEY_TOKEN_LEN + 1];
    const char *rs;
    size_t rlen;
    crm_role role;
    unsigned grants;
    crm_key_info info;
    crm_err err;
    (void)flow;

    if ((err = h_arg_str(call, "role", 1, 32, &rs, &rlen, why)) != CRM_OK)
        return err;
    if (crm_role_parse(rs, rlen, &role) != 0) {
        char q[CRM_UTF8_QUOTE_CAP];
        crm_utf8_quote(rs, rlen, CRM_UTF8_QUOTE_MAX, q, sizeof(q));
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "unknown role '%s'", q);
    }
    if (role == CRM_ROLE_OPERATOR && c->key.role != CRM_ROLE_OPERATOR)
        return crm_error_set(why, CRM_ERR_FORBIDDEN,
                             "only operators create operator keys");
    if ((err = key_scope(call, tenant, role != CRM_ROLE_OPERATOR, why)) !=
            CRM_OK ||
        (err = h_arg_cstr(call, "label", 0, label, CRM_KEY_LABEL_MAX, why)) !=
            CRM_OK ||
        (err = key_grant(call, role, &grants, why)) != CRM_OK)
        return err;
    if (role == CRM_ROLE_OPERATOR)
        tenant[0] = '\0';
    else {
        crm_log *log;
        if ((err = crm_store_tenant_log(c->srv->store, tenant, &log, why)) !=
            CRM_OK)
            return err;
    }
    if ((err = crm_keys_create_granted(c->srv->keys, tenant, role, grants,
                                       label, token, &info, why)) != CRM_OK)
        return err;
    crm_slog(CRM_INFO, c->rid,
             "msg=\"key created\" key=%s tenant=%s role=%s grant=%s by=%s",
             info.id, tenant[0] ? tenant : "-", crm_role_name(role),
             grants ? crm_grant_name(grants) : "-", c->key.id);
    msgpack_pack_map(pk, 6);
    KV_STR(pk, "key_id", info.id);
    KV_STR(pk, "key", token);
    KV_STR(pk, "tenant", info.tenant);
    KV_STR(pk, "role", crm_role_name(role));
    KV_STR(pk, "label", info.label);
    kv_grant(pk, info.grants);
    memset(token, 0, sizeof(token));
    return CRM_OK;
}

static crm_err
h_key_revoke(rpc_call *call, msgpack_packer *pk, crm_error *why,
             rpc_flow *flow)
{
    rpc_ctx *c = call->c;
    char id[CRM_KEY_ID_LEN + 1];
    crm_err err;
    (void)flow;
    if ((err = h_arg_cstr(call, "key_id", 1, id, CRM_KEY_ID_LEN, why)) != CRM_OK)
        return err;
    const char *scope = c->key.role == CRM_ROLE_OPERATOR ? NULL : c->key.tenant;
    if ((err = crm_keys_revoke(c->srv->keys, id, scope, why)) != CRM_OK)
        return err;
    crm_slog(CRM_INFO, c->rid, "msg=\"key revoked\" key=%s by=%s", id,
             c->key.id);
    msgpack_pack_map(pk, 2);
    KV_STR(pk, "key_id", id);
    crm_mp_pack_cstr(pk, "revoked");
    msgpack_pack_true(pk);
    return CRM_OK;
}

static crm_err
h_key_list(rpc_call *call, msgpack_packer *pk, crm_error *why, rpc_flow *flow)
{
    char tenant[CRM_TENANT_MAX + 1];
    crm_key_info *v;
    size_t n;
    crm_err err;
    (void)flow;
    if ((err = key_scope(call, tenant, 0, why)) != CRM_OK)
        return err;
    int all = call->c->key.role == CRM_ROLE_OPERATOR && tenant[0] == '\0';
    if ((err = crm_keys_list(call->c->srv->keys, all ? NULL : tenant, &v, &n)) !=
        CRM_OK)
        return crm_error_set(why, err, NULL);
    msgpack_pack_map(pk, 1);
    crm_mp_pack_cstr(pk, "keys");
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        pack_key_info(pk, &v[i]);
    free(v);
    return CRM_OK;
}

/* --- append ---------------------------------------------------------------- */

/* On the log writer: the commit is durable. Everything else (packing,
 * metrics, the log line, the send) happens on an NNG thread, so the
 * writer can begin the next group at once. reply_aio is completed here
 * as its own provider: nng_aio_finish hands the callback to NNG's task
 * threads at once (never inline), where nng_sleep_aio(0) would wait for
 * the expiry thread's millisecond clock, ~0.5 ms per append. A stopped
 * aio (the server is closing) takes no completion, as before. */
static void
append_done(crm_batch *b, void *arg)
{
    rpc_ctx *c = arg;
    (void)b;
    crm_log_head(c->log, &c->ack_head, NULL);
    if (nng_aio_begin(c->reply_aio))
        nng_aio_finish(c->reply_aio, 0);
}

void
net_append_reply_cb(void *arg)
{
    rpc_ctx *c = arg;
    crm_batch *b = c->batch;
    crm_error why;
    crm_err err = crm_batch_result(b, &why);
    if (err == CRM_OK) {
        /* the client's events first, one position each; then what the
         * server added, each after the event it comes from */
        msgpack_packer *pk = &c->pk;
        const uint8_t *d = c->derived;
        size_t n = crm_batch_count(b), dups = 0, nd = 0;
        for (size_t i = 0; d && i < n; i++)
            nd += d[i];
        msgpack_pack_map(pk, nd ? 5 : 4);
        crm_mp_pack_cstr(pk, "positions");
        msgpack_pack_array(pk, n - nd);
        for (size_t i = 0; i < n; i++) {
            if (d && d[i])
                continue;
            msgpack_pack_uint64(pk, crm_batch_position(b, i));
            dups += crm_batch_is_duplicate(b, i) != 0;
        }
        crm_mp_pack_cstr(pk, "versions");
        msgpack_pack_array(pk, n - nd);
        for (size_t i = 0; i < n; i++)
            if (!d || !d[i])
                msgpack_pack_uint64(pk, crm_batch_version(b, i));
        KV_U64(pk, "duplicates", dups);
        KV_U64(pk, "head", c->ack_head);
        if (nd) {
            crm_mp_pack_cstr(pk, "derived");
            msgpack_pack_array(pk, nd);
            for (size_t i = 0, src = 0; i < n; i++) {
                if (!d[i]) {
                    src++;
                    continue;
                }
                msgpack_pack_map(pk, 5);
                KV_U64(pk, "after", src - 1);
                KV_STR(pk, "type", "loyalty.points_earned");
                KV_U64(pk, "position", crm_batch_position(b, i));
                KV_U64(pk, "version", crm_batch_version(b, i));
                KV_BOOL(pk, "duplicate", crm_batch_is_duplicate(b, i));
            }
        }
    }
    net_finish(c, err, &why);
}

static crm_err
parse_expect(const msgpack_object *o, crm_expect *x, crm_error *why)
{
    const msgpack_object *st = crm_mp_get(o, "stream"), *v = crm_mp_get(o, "version");
    int64_t n;
    if (!crm_mp_is_str(st) || v == NULL)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "each expect entry needs 'stream' and 'version'");
    x->stream = st->via.str.ptr;
    x->stream_len = st->via.str.size;
    if (crm_mp_int(v, 0, INT64_MAX, &n) == 0) {
        x->version = n;
        return CRM_OK;
    }
    static const struct {
        const char *name;
        int64_t v;
    } words[] = {{"any", CRM_EXPECT_ANY},
                 {"no_stream", CRM_EXPECT_NO_STREAM},
                 {"exists", CRM_EXPECT_EXISTS}};
    for (size_t i = 0; crm_mp_is_str(v) && i < 3; i++) {
        if (v->via.str.size == strlen(words[i].name) &&
            memcmp(v->via.str.ptr, words[i].name, v->via.str.size) == 0) {
            x->version = words[i].v;
            return CRM_OK;
        }
    }
    return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                         "expected version must be N >= 0, \"any\", "
                         "\"no_stream\" or \"exists\"");
}

/* Validates events (and expectations) and hands them to the writer; the
 * reply follows in net_append_reply_cb. A client's events may not touch
 * the server's streams ('$...') or tenant.* types; the server's own
 * (settings.set, server_events) are all of that kind. */
static crm_err
submit(rpc_call *call, const msgpack_object *evs, const msgpack_object *exp,
       int server_events, crm_batch_check_fn check, void *check_arg,
       crm_error *why, rpc_flow *flow)
{
    rpc_ctx *c = call->c;
    crm_err err;

    if (evs == NULL || evs->type != MSGPACK_OBJECT_ARRAY)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "append needs an 'events' array");
    size_t n = evs->via.array.size;
    if (n == 0)
        return crm_error_set(why, CRM_ERR_EMPTY_BATCH, "batch holds no events");
    if (n > CRM_BATCH_MAX)
        return crm_error_set(why, CRM_ERR_TOO_LARGE,
                             "batch holds %zu events; the limit is %d", n,
                             CRM_BATCH_MAX);
    size_t nx = 0;
    if (exp && exp->type != MSGPACK_OBJECT_NIL) {
        if (exp->type != MSGPACK_OBJECT_ARRAY)
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "'expect' must be an array");
        nx = exp->via.array.size;
        if (nx > n)
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "more expectations than events");
    }
    crm_event_in *ev = msgpack_zone_malloc(&c->scratch, n * sizeof(*ev));
    crm_expect *x = msgpack_zone_malloc(&c->scratch, (nx ? nx : 1) * sizeof(*x));
    if (ev == NULL || x == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    for (size_t i = 0; i < n; i++) {
        if ((err = crm_rpc_event_in(&evs->via.array.ptr[i], &ev[i], why)) !=
            CRM_OK) {
            crm_error_prefix(why, "event %zu", i);
            return err;
        }
        if (server_events)
            continue;
        if (ev[i].stream_len > 0 && ev[i].stream[0] == '$')
            return crm_error_set(why, CRM_ERR_FORBIDDEN,
                                 "event %zu: streams beginning with '$' are "
                                 "the server's (settings.set writes %s)",
                                 i, CRM_TENANT_STREAM);
        if (ev[i].type_len > strlen(CRM_TENANT_TYPE_PREFIX) &&
            memcmp(ev[i].type, CRM_TENANT_TYPE_PREFIX,
                   strlen(CRM_TENANT_TYPE_PREFIX)) == 0)
            return crm_error_set(why, CRM_ERR_FORBIDDEN,
                                 "event %zu: tenant.* events are written by "
                                 "settings.set", i);
        if (!crm_role_may_append(c->key.role, ev[i].type, ev[i].type_len))
            return crm_error_set(why, CRM_ERR_FORBIDDEN,
                                 "event %zu: role %s may not append '%.*s'", i,
                                 crm_role_name(c->key.role),
                                 (int)(ev[i].type_len < 64 ? ev[i].type_len : 64),
                                 ev[i].type);
    }
    for (size_t i = 0; i < nx; i++)
        if ((err = parse_expect(&exp->via.array.ptr[i], &x[i], why)) != CRM_OK)
            return err;
    if (!server_events &&
        (err = h_derive_earned(call, &ev, &n, &c->derived, why)) != CRM_OK)
        return err;
    if ((err = crm_batch_prepare(ev, n, x, nx, c->key.id, strlen(c->key.id),
                                 &c->batch, why)) != CRM_OK)
        return err;
    if (check)
        crm_batch_set_check(c->batch, check, check_arg);
    *flow = RPC_DEFERRED;
    if ((err = crm_log_submit(call->log, c->batch, append_done, c)) != CRM_OK) {
        *flow = RPC_DONE;
        return crm_error_set(why, CRM_ERR_UNAVAILABLE, "server is shutting down");
    }
    return CRM_OK;
}

crm_err
h_submit_events(rpc_call *call, const msgpack_object *evs,
                const msgpack_object *exp, int server_events, crm_error *why,
                rpc_flow *flow)
{
    return submit(call, evs, exp, server_events, NULL, NULL, why, flow);
}

crm_err
h_submit_checked(rpc_call *call, const msgpack_object *evs,
                 const msgpack_object *exp, crm_batch_check_fn check,
                 void *check_arg, crm_error *why, rpc_flow *flow)
{
    return submit(call, evs, exp, 0, check, check_arg, why, flow);
}

static crm_err
h_append(rpc_call *call, msgpack_packer *pk, crm_error *why, rpc_flow *flow)
{
    (void)pk;
    return h_submit_events(call, crm_mp_get(call->args, "events"),
                         crm_mp_get(call->args, "expect"), 0, why, flow);
}

/* --- reads ----------------------------------------------------------------- */

/* Event reads fill the reply up to this many bytes. The rest of
 * CRM_RPC_MAX_REPLY is kept for what may follow in a batch: up to 63 more
 * entries, each the tail of a read ({head, next, more}, ~60 bytes) or an
 * error map (message < 240 bytes). The other batchable results (key.list,
 * tenant.list, metrics) are not events and not budgeted. */
#define READ_RESERVE (CRM_RPC_MAX_BATCH_OPS * 512u)
#define READ_BUDGET (CRM_RPC_MAX_REPLY - READ_RESERVE)
_Static_assert(READ_BUDGET > 2 * CRM_BODY_MAX,
               "a lone read must always have room for its first event");

typedef struct reader {
    rpc_ctx *c;
    crm_log *log;
    msgpack_packer *pk;
    int raw;
    crm_view view; /* what the caller sees of personal data */
    int must_fill; /* a lone read: its first event goes in regardless */
    uint32_t count;
    uint64_t last;    /* position of the last event packed */
    uint64_t version; /* its stream version (decoded reads) */
    h_seen seen;      /* guests whose personal values went out */
    crm_err err;
} reader;

/* Packs one record; stops the read (returns 1) when it would take the
 * reply past READ_BUDGET. The packed size is only known afterwards, so an
 * event that does not fit is packed once and chopped off again: at most
 * one wasted event per read, and no extra pass over the others. */
static int
visit_record(void *arg, uint64_t pos, const uint8_t *rec, size_t len)
{
    reader *r = arg;
    size_t mark = nng_msg_len(r->c->rep);
    int first = r->count == 0 && r->must_fill;
    /* Unless PII is left out, the packed event is at most ~100 bytes
     * smaller than its record (tenant, prev_hash), so this one certainly
     * does not fit: not even worth decoding. */
    if (!first && r->view.opens && mark + len > READ_BUDGET + (size_t)1024)
        return 1;
    uint64_t version = r->version;
    const char *guest = NULL; /* whose personal values this event shows */
    size_t guest_len = 0;
    if (r->raw) {
        msgpack_pack_bin(r->pk, len);
        msgpack_pack_bin_body(r->pk, rec, len);
        /* as stored: the personal part is a sealed value, except in a
         * tenant created without sealing, where it is the data itself */
        crm_record d;
        if (!crm_log_sealed(r->log) &&
            crm_record_decode_lean(rec, len, &d, NULL) == CRM_OK &&
            d.content_len - d.content_pub > 1) { /* not nil */
            guest = d.stream;
            guest_len = d.stream_len;
        }
    } else {
        crm_record d;
        msgpack_object withheld = {.type = MSGPACK_OBJECT_NIL};
        msgpack_zone *z = &r->c->scratch;
        msgpack_zone_clear(z);
        /* a view that sees nothing never has the record opened */
        if (crm_record_decode(rec, len, z, &d, NULL) != CRM_OK ||
            (r->view.opens && crm_log_open_reading(r->log, &d, z) != 0 &&
             d.pii.type != MSGPACK_OBJECT_NIL)) {
            r->err = CRM_ERR_CORRUPT;
            return 1;
        }
        /* the log carries no consent state: a field shown only with the
         * guest's consent stays out of log reads */
        if (r->view.opens && crm_view_filter(&r->view, d.type, d.type_len, 0,
                                             &d.pii, z, &withheld) < 0) {
            r->err = CRM_ERR_NOMEM;
            return 1;
        }
        crm_rpc_pack_record_view(r->pk, &d, !r->view.opens, &withheld);
        version = d.h.version;
        if (r->view.opens && d.pii.type != MSGPACK_OBJECT_NIL) {
            guest = d.stream;
            guest_len = d.stream_len;
        }
    }
    if (!first && nng_msg_len(r->c->rep) > READ_BUDGET) {
        nng_msg_chop(r->c->rep, nng_msg_len(r->c->rep) - mark);
        return 1; /* not sent: next must still point at it */
    }
    r->version = version;
    r->last = pos;
    r->count++;
    if (guest)
        h_seen_add(&r->seen, guest, guest_len);
    return 0;
}

size_t
h_open_array(rpc_ctx *c)
{
    static const uint8_t hdr[5] = {0xdd, 0, 0, 0, 0};
    size_t at = nng_msg_len(c->rep);
    if (net_msg_write(c, (const char *)hdr, sizeof(hdr)) != 0)
        return SIZE_MAX;
    return at;
}

void
h_close_array(rpc_ctx *c, size_t at, uint32_t n)
{
    if (at == SIZE_MAX)
        return; /* the reply already failed; net.c answers no_memory */
    uint8_t *p = (uint8_t *)nng_msg_body(c->rep) + at + 1;
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
}

static crm_err
h_read_all(rpc_call *call, msgpack_packer *pk, crm_error *why, rpc_flow *flow)
{
    rpc_ctx *c = call->c;
    int64_t from, max, wait;
    int raw;
    crm_err err;

    if ((err = h_arg_int(call, "from", 1, 1, INT64_MAX, &from, why)) != CRM_OK ||
        (err = h_arg_int(call, "max", 100, 1, CRM_RPC_MAX_READ, &max, why)) !=
            CRM_OK ||
        (err = h_arg_int(call, "wait_ms", 0, 0, CRM_RPC_MAX_WAIT_MS, &wait,
                       why)) != CRM_OK ||
        (err = h_arg_bool(call, "raw", &raw, why)) != CRM_OK)
        return err;
    crm_view view;
    h_view(c, &view);
    /* Stored records hold personal data sealed, except in a tenant made
     * without encryption: there they go as stored only to a view that
     * sees every class, or to a replica, which copies the log as it is. */
    if (raw && !crm_log_sealed(call->log) && !crm_view_sees_all(&view) &&
        c->key.role != CRM_ROLE_REPLICA)
        return crm_error_set(why, CRM_ERR_FORBIDDEN,
                             "raw records of this tenant hold personal data "
                             "in plain, which a %s key does not see",
                             crm_role_name(c->key.role));
    uint64_t head;
    crm_log_head(call->log, &head, NULL);
    if (head < (uint64_t)from && wait > 0 && !call->in_batch && !c->resumed) {
        net_park(c, (uint64_t)from, (int)wait);
        *flow = RPC_DEFERRED;
        return CRM_OK;
    }
    reader r = {.c = c,
                .log = call->log,
                .pk = pk,
                .raw = raw,
                .must_fill = !call->in_batch,
                .view = view};
    msgpack_pack_map(pk, 4);
    crm_mp_pack_cstr(pk, raw ? "records" : "events");
    size_t at = h_open_array(c);
    err = crm_log_read_all(call->log, (uint64_t)from, (size_t)max,
                           visit_record, &r);
    if (err == CRM_OK && r.err != CRM_OK)
        err = r.err;
    if (h_seen_done(call, &r.seen, err) != CRM_OK)
        return crm_error_set(why, err, "reading the log failed");
    h_close_array(c, at, r.count);
    uint64_t next = r.count ? r.last + 1 : (uint64_t)from;
    crm_log_head(call->log, &head, NULL);
    KV_U64(pk, "head", head);
    KV_U64(pk, "next", next);
    KV_BOOL(pk, "more", next <= head);
    return CRM_OK;
}

static crm_err
h_read_stream(rpc_call *call, msgpack_packer *pk, crm_error *why,
              rpc_flow *flow)
{
    rpc_ctx *c = call->c;
    const char *stream;
    size_t slen;
    int64_t from, max;
    crm_err err;
    (void)flow;

    if ((err = h_arg_str(call, "stream", 1, CRM_STREAM_MAX, &stream, &slen,
                       why)) != CRM_OK ||
        (err = h_arg_int(call, "from_version", 0, 0, INT64_MAX, &from, why)) !=
            CRM_OK ||
        (err = h_arg_int(call, "max", 100, 1, CRM_RPC_MAX_READ, &max, why)) !=
            CRM_OK)
        return err;
    uint64_t last_ver, last_pos;
    reader r = {.c = c,
                .log = call->log,
                .pk = pk,
                .must_fill = !call->in_batch};
    h_view(c, &r.view);
    msgpack_pack_map(pk, 4);
    crm_mp_pack_cstr(pk, "events");
    size_t at = h_open_array(c);
    err = crm_log_read_stream(call->log, stream, slen, (uint64_t)from,
                              (size_t)max, visit_record, &r);
    if (err == CRM_OK && r.err != CRM_OK)
        err = r.err;
    /* The head after the read, never older than the one it walked from:
     * `more` cannot miss events appended in between. */
    if (err == CRM_OK)
        err = crm_log_stream_info(call->log, stream, slen, &last_ver,
                                  &last_pos);
    if (h_seen_done(call, &r.seen, err) != CRM_OK)
        return crm_error_set(why, err, err == CRM_ERR_NOT_FOUND
                                           ? "stream '%.*s' has no events"
                                           : "reading stream '%.*s' failed",
                             (int)slen, stream);
    h_close_array(c, at, r.count);
    uint64_t next = r.count ? r.version + 1 : (uint64_t)from;
    KV_U64(pk, "last_version", last_ver);
    KV_U64(pk, "next", next);
    KV_BOOL(pk, "more", next <= last_ver);
    return CRM_OK;
}

/* --- batch ----------------------------------------------------------------- */

static crm_err
h_batch(rpc_call *call, msgpack_packer *pk, crm_error *why, rpc_flow *flow)
{
    rpc_ctx *c = call->c;
    const msgpack_object *ops = crm_mp_get(call->args, "ops");
    (void)flow;

    if (ops == NULL || ops->type != MSGPACK_OBJECT_ARRAY)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "batch needs an 'ops' array");
    if (ops->via.array.size == 0)
        return crm_error_set(why, CRM_ERR_EMPTY_BATCH, "batch holds no ops");
    if (ops->via.array.size > CRM_RPC_MAX_BATCH_OPS)
        return crm_error_set(why, CRM_ERR_TOO_LARGE,
                             "batch holds %u ops; the limit is %d",
                             ops->via.array.size, CRM_RPC_MAX_BATCH_OPS);
    msgpack_pack_map(pk, 1);
    crm_mp_pack_cstr(pk, "results");
    msgpack_pack_array(pk, ops->via.array.size);
    for (uint32_t i = 0; i < ops->via.array.size; i++) {
        const msgpack_object *e = &ops->via.array.ptr[i];
        const msgpack_object *name = crm_mp_get(e, "op");
        const msgpack_object *args = crm_mp_get(e, "args");
        crm_error sub = {CRM_OK, ""};
        crm_err err = CRM_OK;
        rpc_call sc = {.c = c, .in_batch = 1};

        size_t mark = nng_msg_len(c->rep);
        if (!crm_mp_is_str(name)) {
            err = crm_error_set(&sub, CRM_ERR_BAD_REQUEST,
                                "batch entry %u has no 'op'", i);
        } else if ((sc.op = crm_op_find(name->via.str.ptr,
                                        name->via.str.size)) == NULL) {
            char q[CRM_UTF8_QUOTE_CAP];
            err = crm_utf8_quote(name->via.str.ptr, name->via.str.size,
                                 CRM_UTF8_QUOTE_MAX, q, sizeof(q))
                      ? crm_error_set(&sub, CRM_ERR_UNKNOWN_OP,
                                      "unknown op '%s'", q)
                      : crm_error_set(&sub, CRM_ERR_BAD_UTF8,
                                      "batch entry %u: op is not valid "
                                      "UTF-8: '%s'",
                                      i, q);
        } else if (!(sc.op->flags & CRM_OPF_BATCHABLE)) {
            err = crm_error_set(&sub, CRM_ERR_BAD_REQUEST,
                                "%s cannot ride in a batch (reads only)",
                                sc.op->name);
        } else if (args && args->type != MSGPACK_OBJECT_MAP &&
                   args->type != MSGPACK_OBJECT_NIL) {
            err = crm_error_set(&sub, CRM_ERR_BAD_REQUEST,
                                "batch entry %u: 'args' must be a map", i);
        } else if ((err = net_authorize(c, sc.op, &sc.log, &sub)) == CRM_OK) {
            sc.args = args && args->type == MSGPACK_OBJECT_MAP ? args : NULL;
            rpc_flow sf = RPC_DONE;
            msgpack_pack_map(pk, 2);
            crm_mp_pack_cstr(pk, "ok");
            msgpack_pack_true(pk);
            crm_mp_pack_cstr(pk, "result");
            err = crm_handlers[sc.op->op](&sc, pk, &sub, &sf);
        }
        if (err != CRM_OK) {
            nng_msg_chop(c->rep, nng_msg_len(c->rep) - mark);
            msgpack_pack_map(pk, 2);
            crm_mp_pack_cstr(pk, "ok");
            msgpack_pack_false(pk);
            crm_mp_pack_cstr(pk, "error");
            crm_rpc_pack_error_map(pk, err, sub.code == err ? sub.msg : NULL);
        }
    }
    return CRM_OK;
}

const rpc_handler crm_handlers[CRM_OP__COUNT] = {
    [CRM_OP_PING] = h_ping,
    [CRM_OP_SERVER_INFO] = h_server_info,
    [CRM_OP_TENANT_CREATE] = h_tenant_create,
    [CRM_OP_TENANT_LIST] = h_tenant_list,
    [CRM_OP_KEY_CREATE] = h_key_create,
    [CRM_OP_KEY_REVOKE] = h_key_revoke,
    [CRM_OP_KEY_LIST] = h_key_list,
    [CRM_OP_APPEND] = h_append,
    [CRM_OP_READ_STREAM] = h_read_stream,
    [CRM_OP_READ_ALL] = h_read_all,
    [CRM_OP_METRICS] = h_metrics,
    [CRM_OP_SETTINGS_GET] = h_settings_get,
    [CRM_OP_SETTINGS_SET] = h_settings_set,
    [CRM_OP_PROJECTION_REBUILD] = h_projection_rebuild,
    [CRM_OP_TENANT_ROTATE_KEY] = h_tenant_rotate_key,
    [CRM_OP_LOYALTY_GET] = h_loyalty_get,
    [CRM_OP_CUSTOMER_FIND] = h_customer_find,
    [CRM_OP_CUSTOMER_GET] = h_customer_get,
    [CRM_OP_BACKUP] = h_backup,
    [CRM_OP_AUDIT_PUBKEY] = h_audit_pubkey,
    [CRM_OP_AUDIT_CHECKPOINT] = h_audit_checkpoint,
    [CRM_OP_AUDIT_SIGNATURES] = h_audit_signatures,
    [CRM_OP_AUDIT_VERIFY] = h_audit_verify,
    [CRM_OP_AUDIT_EXPORT] = h_audit_export,
    [CRM_OP_AUDIT_KEYS] = h_audit_keys,
    [CRM_OP_AUDIT_ACCESS] = h_audit_access,
    [CRM_OP_CUSTOMER_ERASE] = h_customer_erase,
    [CRM_OP_CUSTOMER_ERASURE_RECEIPT] = h_customer_erasure_receipt,
    [CRM_OP_CUSTOMER_CONSENT_AT] = h_customer_consent_at,
    [CRM_OP_AUDIT_CONSENT_VIOLATIONS] = h_audit_consent_violations,
    [CRM_OP_CUSTOMER_EXPORT] = h_customer_export,
    [CRM_OP_LOYALTY_REDEEM] = h_loyalty_redeem,
    [CRM_OP_LOYALTY_SWEEP] = h_loyalty_sweep,
    [CRM_OP_KPI_GET] = h_kpi_get,
    [CRM_OP_TASKS_TODAY] = h_tasks_today,
    [CRM_OP_SEGMENT_LIST] = h_segment_list,
    [CRM_OP_SEGMENT_COUNTS] = h_segment_counts,
    [CRM_OP_SEGMENT_MEMBERS] = h_segment_members,
    [CRM_OP_SEGMENT_EXPORT] = h_segment_export,
    [CRM_OP_SEGMENT_DEFINE] = h_segment_define,
    [CRM_OP_BATCH] = h_batch,
};
