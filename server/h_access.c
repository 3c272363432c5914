/*
 * h_access.c - the access log over RPC: which guests' personal values a
 * call handed out (h_seen, noted by every op that asks the role table),
 * and audit.access, who looked at a guest's data (log.h: the storage).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "handlers_int.h"

typedef struct h_seen_guest {
    uint64_t hash;
    uint8_t len;
    char id[CRM_STREAM_MAX];
} h_seen_guest;

static uint64_t
fnv1a(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

void
h_seen_add(h_seen *s, const char *id, size_t len)
{
    if (s == NULL || len == 0 || len > CRM_STREAM_MAX || id[0] == '$')
        return;
    uint64_t h = fnv1a(id, len);
    /* the last one first: a stream's events come together */
    for (size_t i = s->n; i-- > 0;)
        if (s->g[i].hash == h && s->g[i].len == len &&
            memcmp(s->g[i].id, id, len) == 0)
            return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        h_seen_guest *g = realloc(s->g, cap * sizeof(*g));
        if (g == NULL) {
            s->oom = 1;
            return;
        }
        s->g = g;
        s->cap = cap;
    }
    h_seen_guest *e = &s->g[s->n++];
    e->hash = h;
    e->len = (uint8_t)len;
    memcpy(e->id, id, len);
}

crm_err
h_seen_done(const rpc_call *call, h_seen *s, crm_err err)
{
    /* an error reply hands out nothing: only a result is logged */
    if (err == CRM_OK && s->n > 0 && call->log &&
        crm_log_access_on(call->log)) {
        const rpc_ctx *c = call->c;
        crm_access a = {.time = crm_query_now_us(),
                        .role = (uint8_t)c->key.role};
        size_t kl = strlen(c->key.id), ol = strlen(call->op->name);
        a.key_len = (uint8_t)(kl < sizeof(a.key) ? kl : sizeof(a.key));
        memcpy(a.key, c->key.id, a.key_len);
        a.op_len = (uint8_t)(ol < sizeof(a.op) ? ol : sizeof(a.op));
        memcpy(a.op, call->op->name, a.op_len);
        for (size_t i = 0; i < s->n; i++) {
            a.guest_len = s->g[i].len;
            memcpy(a.guest, s->g[i].id, s->g[i].len);
            crm_log_access_note(call->log, &a);
        }
    }
    free(s->g);
    *s = (h_seen){0};
    return err;
}

/* --- audit.access ---------------------------------------------------------- */

#define ACCESS_LIMIT_MAX 1000

typedef struct lister {
    msgpack_packer *pk;
    size_t limit, n;
    int more;
    int64_t next_time;
    uint64_t next_seq;
} lister;

static int
list_one(void *arg, const crm_access *a)
{
    lister *l = arg;
    if (l->n == l->limit) {
        l->more = 1;
        l->next_time = a->time;
        l->next_seq = a->seq;
        return 1;
    }
    msgpack_packer *pk = l->pk;
    msgpack_pack_map(pk, 5);
    KV_I64(pk, "time", a->time);
    crm_mp_pack_cstr(pk, "key_id");
    crm_mp_pack_str(pk, a->key, a->key_len);
    KV_STR(pk, "role", crm_role_name((crm_role)a->role));
    crm_mp_pack_cstr(pk, "op");
    crm_mp_pack_str(pk, a->op, a->op_len);
    crm_mp_pack_cstr(pk, "customer");
    crm_mp_pack_str(pk, a->guest, a->guest_len);
    l->n++;
    return 0;
}

/* A time argument: µs since the epoch, or "YYYY-MM-DDTHH:MM:SSZ". */
static crm_err
arg_time(const rpc_call *call, const char *name, int64_t *out,
         crm_error *why)
{
    const msgpack_object *o = crm_mp_get(call->args, name);
    *out = 0;
    if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
        return CRM_OK;
    if (o->type == MSGPACK_OBJECT_STR) {
        char buf[32];
        if (o->via.str.size < sizeof(buf)) {
            memcpy(buf, o->via.str.ptr, o->via.str.size);
            buf[o->via.str.size] = '\0';
            if (crm_clock_parse(buf, out) == 0 && *out >= 0)
                return CRM_OK;
        }
    } else if (crm_mp_int(o, 0, INT64_MAX, out) == 0) {
        return CRM_OK;
    }
    return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                         "argument '%s' must be a time: µs since the epoch "
                         "or YYYY-MM-DDTHH:MM:SSZ",
                         name);
}

crm_err
h_audit_access(rpc_call *call, msgpack_packer *pk, crm_error *why,
               rpc_flow *flow)
{
    crm_access_query q = {0};
    const char *cursor;
    size_t clen;
    int64_t limit, to;
    crm_err err;
    (void)flow;
    if ((err = h_arg_str(call, "customer", 0, CRM_STREAM_MAX, &q.guest,
                         &q.guest_len, why)) != CRM_OK ||
        (err = h_arg_str(call, "key_id", 0, CRM_ACCESS_KEY_MAX, &q.key,
                         &q.key_len, why)) != CRM_OK ||
        (err = arg_time(call, "from", &q.from, why)) != CRM_OK ||
        (err = arg_time(call, "to", &to, why)) != CRM_OK ||
        (err = h_arg_str(call, "cursor", 0, 64, &cursor, &clen, why)) !=
            CRM_OK ||
        (err = h_arg_int(call, "limit", 100, 1, ACCESS_LIMIT_MAX, &limit,
                         why)) != CRM_OK)
        return err;
    if (q.guest && q.key)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "audit.access takes 'customer' or 'key_id', "
                             "not both");
    if ((q.guest && q.guest_len == 0) || (q.key && q.key_len == 0))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'customer' and 'key_id' must not be empty");
    if (to > 0 && to < q.from)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'to' is before 'from'");
    q.to = to;
    if (cursor) {
        /* "TIME.SEQ": where the previous page stopped */
        char buf[65], *end;
        memcpy(buf, cursor, clen);
        buf[clen] = '\0';
        errno = 0;
        unsigned long long t = strtoull(buf, &end, 10), sq = 0;
        int ok = end != buf && *end == '.' && errno == 0;
        if (ok) {
            char *s = end + 1;
            sq = strtoull(s, &end, 10);
            ok = end != s && *end == '\0' && errno == 0 && t <= INT64_MAX;
        }
        if (!ok)
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "'cursor' is not one of audit.access");
        if ((int64_t)t > q.from || ((int64_t)t == q.from && sq > 0)) {
            q.from = (int64_t)t;
            q.from_seq = sq;
        }
    }
    /* what was read before this call is in the answer */
    if ((err = crm_log_access_flush(call->log, why)) != CRM_OK)
        return err;
    lister l = {.pk = pk, .limit = (size_t)limit};
    msgpack_pack_map(pk, 3);
    crm_mp_pack_cstr(pk, "entries");
    size_t at = h_open_array(call->c);
    if ((err = crm_log_access_list(call->log, &q, list_one, &l, why)) !=
        CRM_OK)
        return err;
    h_close_array(call->c, at, (uint32_t)l.n);
    crm_mp_pack_cstr(pk, "next");
    if (l.more) {
        char next[48];
        int n = snprintf(next, sizeof(next), "%lld.%llu",
                         (long long)l.next_time,
                         (unsigned long long)l.next_seq);
        crm_mp_pack_str(pk, next, (size_t)n);
    } else {
        msgpack_pack_nil(pk);
    }
    KV_BOOL(pk, "more", l.more);
    return CRM_OK;
}
