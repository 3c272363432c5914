/* h_loyalty.c - loyalty.get, loyalty.redeem, and the points an append
 * earns (the loyalty.points_earned the server adds to the batch). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "decimal.h"
#include "handlers_int.h"
#include "hash.h"
#include "loyalty.h"
#include "log.h"
#include "schema.h"
#include "slog.h"
#include "uuid.h"

#define LEDGER_DEFAULT 20
#define LEDGER_MAX 500

/* --- points an append earns ------------------------------------------------- */

typedef struct earn {
    rpc_ctx *c;
    crm_log *log;
    const crm_event_in *ev;
    size_t n;
    crm_event_in *out;
    uint8_t *flags; /* per event of out: added by the server */
    size_t nout;
    crm_settings *s;
    crm_error *why;
    crm_err err;
} earn;

static int
earns(const crm_event_in *e)
{
    if (e->stream_len == 0 || e->stream[0] == '$')
        return 0;
    return crm_schema_name_eq("stay.checked_out", e->type, e->type_len) ||
           crm_schema_name_eq("spend.recorded", e->type, e->type_len) ||
           crm_schema_name_eq("complaint.resolved", e->type, e->type_len);
}

static int64_t
int_of(const msgpack_object *body, const char *name)
{
    int64_t v;
    return crm_mp_int(crm_mp_get(body, name), INT64_MIN, INT64_MAX, &v) == 0
               ? v
               : 0;
}

static void
text_of(const msgpack_object *body, const char *name, char *out, size_t cap)
{
    const msgpack_object *o = crm_mp_get(body, name);
    out[0] = '\0';
    if (crm_mp_is_str(o) && o->via.str.size < cap) {
        memcpy(out, o->via.str.ptr, o->via.str.size);
        out[o->via.str.size] = '\0';
    }
}

/* Points for amount (minor units of cur) spent in category by a guest
 * of tier, by the rules s: converted to the base currency at the rate of
 * the day, times the earn rate per base unit; 0 without a rate. */
static int64_t
points_for(const crm_settings *s, const char *tier, const char *category,
           int64_t amount, const char *cur)
{
    int64_t rate = crm_settings_rate_get(s, cur);
    int64_t per = crm_settings_earn_get(s, tier, category);
    if (amount <= 0 || rate <= 0 || per <= 0)
        return 0;
    __int128 base = (__int128)amount * rate / CRM_DECIMAL_SCALE; /* minor */
    __int128 p = base * per / ((__int128)CRM_DECIMAL_SCALE * 100);
    return p > 100000000 ? 100000000 : (int64_t)p;
}

/* The derived event for source e: points (0: none) and its reason. */
static int64_t
derive(earn *x, MDB_txn *txn, MDB_dbi acct, const crm_event_in *e,
       char *reason, size_t rcap, char *property, int *rc)
{
    uint32_t day = crm_settings_day_of(e->occurred_at);
    *rc = h_settings_in(x->log, txn, day, x->s);
    if (*rc != 0)
        return 0;
    crm_loyalty_account a = {0};
    if (acct && (*rc = crm_loyalty_account_get(txn, acct, e->stream,
                                               e->stream_len, &a)) != 0)
        return 0;
    char tier[CRM_SETTINGS_NAME_MAX + 1], cur[4], cat[16], ref[65];
    crm_loyalty_tier_for_earn(&a, x->s, tier, sizeof(tier));
    text_of(e->body, "currency", cur, sizeof(cur));
    text_of(e->body, "property", property, 65);
    int64_t amount = int_of(e->body, "amount");
    if (crm_schema_name_eq("complaint.resolved", e->type, e->type_len)) {
        text_of(e->body, "complaint_id", ref, sizeof(ref));
        snprintf(reason, rcap, "compensation for complaint %s", ref);
        return int_of(e->body, "compensation_points");
    }
    if (crm_schema_name_eq("stay.checked_out", e->type, e->type_len)) {
        text_of(e->body, "stay_id", ref, sizeof(ref));
        snprintf(reason, rcap, "stay %s (%s)", ref, tier);
        return points_for(x->s, tier, "room", amount, cur);
    }
    text_of(e->body, "category", cat, sizeof(cat));
    snprintf(reason, rcap, "spend %s (%s)", cat, tier);
    return points_for(x->s, tier, cat, amount, cur);
}

/* The id of the points event derived from source id src: fixed by the
 * source alone, so a retry derives the same one. */
static void
earn_id(const uint8_t src[16], uint8_t id[16])
{
    uint8_t h[CRM_HASH_LEN];
    crm_sha256_2("crmd.earn", 9, src, 16, h);
    memcpy(id, h, 16);
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x80); /* version 8 */
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

/* Packs the head of the derived event of src (id, stream, type,
 * occurred_at, then the key "body"): its body follows. */
static void
pack_earned_head(msgpack_packer *pk, const crm_event_in *src)
{
    uint8_t id[16];
    earn_id(src->id, id);
    msgpack_pack_map(pk, 5);
    crm_mp_pack_cstr(pk, "id");
    msgpack_pack_bin(pk, 16);
    msgpack_pack_bin_body(pk, id, 16);
    crm_mp_pack_cstr(pk, "stream");
    crm_mp_pack_str(pk, src->stream, src->stream_len);
    KV_STR(pk, "type", "loyalty.points_earned");
    KV_I64(pk, "occurred_at", src->occurred_at);
    crm_mp_pack_cstr(pk, "body");
}

/* Copies the packed event into the request's zone and parses it back, so
 * it is checked like any other; destroys sb. */
static crm_err
earned_from(earn *x, msgpack_sbuffer *sb, crm_event_in *out)
{
    crm_err err = CRM_OK;
    char *bytes = sb->data ? msgpack_zone_malloc(&x->c->zone, sb->size) : NULL;
    msgpack_object *o = msgpack_zone_malloc(&x->c->zone, sizeof(*o));
    size_t off = 0;
    if (bytes == NULL || o == NULL) {
        err = crm_error_set(x->why, CRM_ERR_NOMEM, NULL);
    } else {
        memcpy(bytes, sb->data, sb->size);
        if (msgpack_unpack(bytes, sb->size, &off, &x->c->zone, o) !=
            MSGPACK_UNPACK_SUCCESS)
            err = crm_error_set(x->why, CRM_ERR_NOMEM, NULL);
        else
            err = crm_rpc_event_in(o, out, x->why);
    }
    msgpack_sbuffer_destroy(sb);
    return err;
}

/* The derived event, worked out now. */
static crm_err
add_earned(earn *x, const crm_event_in *src, int64_t points,
           const char *reason, const char *property, crm_event_in *out)
{
    char srcid[CRM_UUID_STRLEN + 1], day[11];
    crm_uuid_format(src->id, srcid);
    uint32_t d = crm_settings_day_of(src->occurred_at);
    uint32_t exp = x->s->points_expiry_months > 0
                       ? crm_settings_day_add_months(d,
                                                     x->s->points_expiry_months)
                       : 0;
    crm_settings_day_text(exp, day);

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_earned_head(&pk, src);
    msgpack_pack_map(&pk, 3 + (exp != 0) + (property[0] != '\0'));
    KV_I64(&pk, "points", points);
    KV_STR(&pk, "reason", reason);
    KV_STR(&pk, "source", srcid);
    if (exp)
        KV_STR(&pk, "expires_on", day);
    if (property[0])
        KV_STR(&pk, "property", property);
    return earned_from(x, &sb, out);
}

/* For a source event already stored (a retry), the derived event as it
 * was stored, so that the retry is answered as a duplicate whatever the
 * tier, rates or settings are now: 1 and *out filled, 0 when the source
 * earned nothing, or -1 with x->err or *rc set. */
static int
stored_earned(earn *x, MDB_txn *txn, const crm_event_in *src,
              crm_event_in *out, int *rc)
{
    uint8_t id[16];
    uint64_t pos;
    const void *rec;
    size_t len;
    earn_id(src->id, id);
    *rc = crm_log_event_position(x->log, txn, id, &pos);
    if (*rc == MDB_NOTFOUND) {
        *rc = 0;
        return 0;
    }
    if (*rc == 0)
        *rc = crm_log_record_at(x->log, txn, pos, &rec, &len);
    if (*rc != 0)
        return -1;
    crm_record r;
    crm_error why;
    if (crm_record_decode(rec, len, &x->c->zone, &r, &why) != CRM_OK) {
        *rc = MDB_CORRUPTED;
        return -1;
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_earned_head(&pk, src);
    msgpack_pack_object(&pk, r.body);
    x->err = earned_from(x, &sb, out);
    return x->err == CRM_OK ? 1 : -1;
}

static int
derive_all(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    earn *x = arg;
    MDB_dbi acct = 0; /* none: every guest earns at the lowest tier */
    (void)dbi;
    (void)position;
    int rc = txn ? h_proj_db(x->log, txn, "loyalty", &acct) : MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND)
        acct = 0;
    else if (rc != 0)
        return rc;
    x->nout = 0;
    for (size_t i = 0; i < x->n && x->err == CRM_OK; i++) {
        x->flags[x->nout] = 0;
        x->out[x->nout++] = x->ev[i];
        if (!earns(&x->ev[i]))
            continue;
        /* a retry of a stored event: its points as they were stored (the
         * tier or rates they were worked out by may have changed since) */
        uint64_t at;
        int stored = txn ? crm_log_event_position(x->log, txn, x->ev[i].id,
                                                  &at)
                         : MDB_NOTFOUND;
        if (stored != 0 && stored != MDB_NOTFOUND)
            return stored;
        if (stored == 0) {
            if (x->nout >= CRM_BATCH_MAX) {
                x->err = crm_error_set(x->why, CRM_ERR_TOO_LARGE,
                                       "with the points it earns the batch "
                                       "holds more than %d events",
                                       CRM_BATCH_MAX);
                break;
            }
            int got = stored_earned(x, txn, &x->ev[i], &x->out[x->nout], &rc);
            if (got < 0 && rc != 0)
                return rc;
            if (got > 0)
                x->flags[x->nout++] = 1;
            continue;
        }
        char reason[200], property[65];
        int64_t pts = derive(x, txn, acct, &x->ev[i], reason, sizeof(reason),
                             property, &rc);
        if (rc != 0)
            return rc;
        if (pts <= 0)
            continue;
        if (x->nout >= CRM_BATCH_MAX) {
            x->err = crm_error_set(x->why, CRM_ERR_TOO_LARGE,
                                   "with the points it earns the batch holds "
                                   "more than %d events",
                                   CRM_BATCH_MAX);
            break;
        }
        x->err = add_earned(x, &x->ev[i], pts, reason, property,
                            &x->out[x->nout]);
        if (x->err == CRM_OK)
            x->flags[x->nout++] = 1;
        else
            crm_error_prefix(x->why, "points earned by event %zu", i);
    }
    return 0;
}

crm_err
h_derive_earned(rpc_call *call, crm_event_in **ev, size_t *n,
                const uint8_t **derived, crm_error *why)
{
    size_t k = 0;
    for (size_t i = 0; i < *n; i++)
        k += earns(&(*ev)[i]);
    if (k == 0)
        return CRM_OK; /* the usual append: nothing to read */
    earn x = {.c = call->c, .log = call->log, .ev = *ev, .n = *n,
              .why = why, .err = CRM_OK};
    x.out = msgpack_zone_malloc(&call->c->zone, (*n + k) * sizeof(*x.out));
    x.flags = msgpack_zone_malloc(&call->c->zone, *n + k);
    x.s = malloc(sizeof(*x.s));
    if (x.out == NULL || x.flags == NULL || x.s == NULL) {
        free(x.s);
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    }
    /* one read transaction over what the last commit left */
    const crm_proj_set *set = crm_log_projections(call->log);
    crm_err err;
    if (crm_proj_index(set, "settings") >= 0)
        err = crm_log_proj_read(call->log, "settings", derive_all, &x, why);
    else if (crm_proj_index(set, "loyalty") >= 0)
        err = crm_log_proj_read(call->log, "loyalty", derive_all, &x, why);
    else
        err = derive_all(&x, NULL, NULL, 0) ? CRM_ERR_INTERNAL : CRM_OK;
    free(x.s);
    if (err == CRM_OK)
        err = x.err;
    if (err == CRM_OK && x.nout > *n) {
        *derived = x.flags;
        *ev = x.out;
        *n = x.nout;
    }
    return err;
}

/* --- loyalty.get ------------------------------------------------------------ */

typedef struct get_read {
    crm_log *log;
    const char *id;
    size_t id_len;
    uint32_t day;
    size_t ledger;
    msgpack_packer *pk;
    crm_settings *s;
    int missing;
} get_read;

int
h_loyalty_pack_get(crm_log *log, MDB_txn *txn, MDB_dbi loyalty,
                   uint64_t position, const char *id, size_t len,
                   uint32_t day, size_t ledger, crm_settings *s,
                   msgpack_packer *pk)
{
    char text[11];
    int rc = h_settings_in(log, txn, day, s);
    if (rc != 0)
        return rc;
    rc = crm_loyalty_pack(txn, loyalty, id, len, day, s, ledger, 3, pk);
    if (rc != 0)
        return rc; /* MDB_NOTFOUND: nothing packed */
    crm_mp_pack_cstr(pk, "customer");
    crm_mp_pack_str(pk, id, len);
    crm_settings_day_text(day, text);
    KV_STR(pk, "on", text);
    KV_U64(pk, "as_of", position);
    return 0;
}

static int
get_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    get_read *g = arg;
    int rc = h_loyalty_pack_get(g->log, txn, dbi[0], position, g->id,
                                g->id_len, g->day, g->ledger, g->s, g->pk);
    if (rc == MDB_NOTFOUND) {
        g->missing = 1; /* nothing packed */
        return 0;
    }
    return rc;
}

crm_err
h_loyalty_get(rpc_call *call, msgpack_packer *pk, crm_error *why,
              rpc_flow *flow)
{
    const char *id;
    size_t id_len;
    uint32_t day;
    int64_t ledger;
    crm_err err;
    (void)flow;
    if ((err = h_arg_str(call, "customer", 1, CRM_STREAM_MAX, &id, &id_len,
                         why)) != CRM_OK ||
        (err = h_arg_day(call, "on", &day, why)) != CRM_OK ||
        (err = h_arg_int(call, "ledger", LEDGER_DEFAULT, 0, LEDGER_MAX,
                         &ledger, why)) != CRM_OK)
        return err;
    get_read g = {call->log, id, id_len, day, (size_t)ledger, pk,
                  malloc(sizeof(crm_settings)), 0};
    if (g.s == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    err = crm_log_proj_read(call->log, "loyalty", get_fn, &g, why);
    free(g.s);
    if (err == CRM_OK && g.missing)
        err = h_not_found_guest(id, id_len, "no loyalty activity", why);
    return err;
}

/* --- loyalty.redeem --------------------------------------------------------- */

typedef struct redeem {
    crm_log *log;
    const char *id;
    size_t id_len;
    int64_t points;
    uint32_t day;
} redeem;

/* Runs inside the write transaction, after the batches before it in the
 * same commit: two redemptions at once each see the other's burn. */
static crm_err
redeem_check(void *arg, const crm_log_view *view, const crm_batch *b,
             crm_error *why)
{
    redeem *r = arg;
    MDB_txn *txn = crm_log_view_txn(view);
    MDB_dbi db;
    int64_t avail = 0;
    (void)b;
    int rc = h_proj_db(r->log, txn, "loyalty", &db);
    if (rc == 0)
        rc = crm_loyalty_available(txn, db, r->id, r->id_len, r->day, &avail);
    if (rc != 0)
        return crm_error_set(why, CRM_ERR_UNAVAILABLE,
                             "the loyalty projection cannot be read: %s",
                             mdb_strerror(rc));
    if (avail < r->points)
        return crm_error_set(why, CRM_ERR_INSUFFICIENT_POINTS,
                             "guest '%.*s' has %lld points available; %lld "
                             "asked",
                             (int)(r->id_len < 64 ? r->id_len : 64), r->id,
                             (long long)avail, (long long)r->points);
    return CRM_OK;
}

crm_err
h_loyalty_redeem(rpc_call *call, msgpack_packer *pk, crm_error *why,
                 rpc_flow *flow)
{
    rpc_ctx *c = call->c;
    const char *id, *reward, *property, *eid;
    size_t id_len, reward_len, property_len, eid_len;
    int64_t points;
    crm_err err;
    (void)pk;
    if ((err = h_arg_str(call, "customer", 1, CRM_STREAM_MAX, &id, &id_len,
                         why)) != CRM_OK ||
        (err = h_arg_int(call, "points", 0, 1, 100000000, &points, why)) !=
            CRM_OK ||
        (err = h_arg_str(call, "reward", 0, 200, &reward, &reward_len, why)) !=
            CRM_OK ||
        (err = h_arg_str(call, "property", 0, 64, &property, &property_len,
                         why)) != CRM_OK ||
        (err = h_arg_str(call, "id", 0, 40, &eid, &eid_len, why)) != CRM_OK)
        return err;
    if (points == 0)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "loyalty.redeem needs 'points' (1..100000000)");
    if (crm_proj_index(crm_log_projections(call->log), "loyalty") < 0)
        return crm_error_set(why, CRM_ERR_UNAVAILABLE,
                             "this server keeps no 'loyalty' projection "
                             "(crmd --projections)");
    uint8_t uid[16];
    int64_t now = crm_now_us();
    if (eid) {
        char tmp[41];
        memcpy(tmp, eid, eid_len);
        tmp[eid_len] = '\0';
        if (crm_uuid_parse(tmp, uid) != 0)
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "argument 'id' must be a UUID");
        if ((uid[6] >> 4) == 7) { /* a retry carries the same time */
            int64_t ms = 0;
            for (int i = 0; i < 6; i++)
                ms = ms << 8 | uid[i];
            now = ms * 1000;
        }
    } else {
        crm_uuid_v7(uid);
    }

    msgpack_sbuffer sb;
    msgpack_packer p;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&p, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&p, 1);
    msgpack_pack_map(&p, 5);
    crm_mp_pack_cstr(&p, "id");
    msgpack_pack_bin(&p, 16);
    msgpack_pack_bin_body(&p, uid, 16);
    crm_mp_pack_cstr(&p, "stream");
    crm_mp_pack_str(&p, id, id_len);
    KV_STR(&p, "type", "loyalty.points_redeemed");
    KV_I64(&p, "occurred_at", now);
    crm_mp_pack_cstr(&p, "body");
    msgpack_pack_map(&p, 1 + (reward != NULL) + (property != NULL));
    KV_I64(&p, "points", points);
    if (reward) {
        crm_mp_pack_cstr(&p, "reward");
        crm_mp_pack_str(&p, reward, reward_len);
    }
    if (property) {
        crm_mp_pack_cstr(&p, "property");
        crm_mp_pack_str(&p, property, property_len);
    }
    char *bytes = msgpack_zone_malloc(&c->zone, sb.size);
    redeem *r = msgpack_zone_malloc(&c->zone, sizeof(*r));
    char *rid = msgpack_zone_malloc(&c->zone, id_len ? id_len : 1);
    msgpack_object evs;
    size_t off = 0;
    if (bytes)
        memcpy(bytes, sb.data, sb.size);
    size_t size = sb.size;
    msgpack_sbuffer_destroy(&sb);
    if (bytes == NULL || r == NULL || rid == NULL ||
        msgpack_unpack(bytes, size, &off, &c->zone, &evs) !=
            MSGPACK_UNPACK_SUCCESS)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    /* the check runs later, on the writer thread, while the request's
     * zone still lives */
    memcpy(rid, id, id_len);
    *r = (redeem){call->log, rid, id_len, points, crm_settings_day_of(now)};
    return h_submit_checked(call, &evs, NULL, redeem_check, r, why, flow);
}

/* --- loyalty.sweep ---------------------------------------------------------- */

/* What a sweep appends, built as an append's events array. */
typedef struct sweeper {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t n, events;
    uint32_t day;
    char day_text[11];
    int64_t at; /* occurred_at of what it appends: the day's first µs */
    uint64_t expired_events, expired_points, tier_changes, bonus_points;
    crm_settings *s;
} sweeper;

/* An event id derived from what the sweep decided, so a second sweep of
 * the same facts is answered as the first. */
static void
sweep_id(const char *what, const crm_loyalty_due *d, uint8_t id[16])
{
    uint8_t h[CRM_HASH_LEN], tail[8 + 4 + CRM_SETTINGS_NAME_MAX];
    size_t tl = 0;
    if (d->kind == CRM_LOYALTY_DUE_EXPIRE) {
        for (int i = 7; i >= 0; i--)
            tail[tl++] = (uint8_t)(d->accrual >> (8 * i));
    } else {
        size_t n = strlen(d->to);
        memcpy(tail, d->to, n);
        tl = n;
    }
    uint8_t pre[16 + CRM_STREAM_MAX + 1];
    size_t pl = strlen(what);
    memcpy(pre, what, pl);
    pre[pl++] = 0;
    memcpy(pre + pl, d->stream, d->stream_len);
    pl += d->stream_len;
    crm_sha256_2(pre, pl, tail, tl, h);
    memcpy(id, h, 16);
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x80);
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

static void
sweep_event(sweeper *w, const uint8_t id[16], const crm_loyalty_due *d,
            const char *type, size_t fields)
{
    msgpack_packer *pk = &w->pk;
    msgpack_pack_map(pk, 5);
    crm_mp_pack_cstr(pk, "id");
    msgpack_pack_bin(pk, 16);
    msgpack_pack_bin_body(pk, id, 16);
    crm_mp_pack_cstr(pk, "stream");
    crm_mp_pack_str(pk, d->stream, d->stream_len);
    KV_STR(pk, "type", type);
    KV_I64(pk, "occurred_at", w->at);
    crm_mp_pack_cstr(pk, "body");
    msgpack_pack_map(pk, fields);
    w->n++;
}

static int
on_due(void *arg, const crm_loyalty_due *d)
{
    sweeper *w = arg;
    uint8_t id[16];
    char earned[11], reason[160];
    if (d->kind == CRM_LOYALTY_DUE_EXPIRE) {
        sweep_id("crmd.expire", d, id);
        sweep_event(w, id, d, "loyalty.points_expired", 3);
        KV_I64(&w->pk, "points", d->points);
        crm_settings_day_text(d->earned, earned);
        KV_STR(&w->pk, "earned_on", earned);
        KV_I64(&w->pk, "accrual", (int64_t)d->accrual);
        w->expired_events++;
        w->expired_points += (uint64_t)d->points;
        return 0;
    }
    /* a tier is decided once a day per guest and tier */
    crm_loyalty_due dd = *d;
    char to_day[CRM_SETTINGS_NAME_MAX + 12];
    snprintf(to_day, sizeof(to_day), "%s@%s", d->to, w->day_text);
    dd.to = to_day;
    sweep_id("crmd.tier", &dd, id);
    sweep_event(w, id, d, "loyalty.tier_changed", 3);
    KV_STR(&w->pk, "to", d->to);
    KV_STR(&w->pk, "from", d->from);
    snprintf(reason, sizeof(reason),
             "%lld nights and %lld points in the %lld months to %s",
             (long long)d->nights, (long long)d->window_points,
             (long long)w->s->tier_window_months, w->day_text);
    KV_STR(&w->pk, "reason", reason);
    w->tier_changes++;
    if (d->bonus > 0) {
        sweep_id("crmd.bonus", &dd, id);
        sweep_event(w, id, d, "loyalty.points_earned", 2);
        KV_I64(&w->pk, "points", d->bonus);
        snprintf(reason, sizeof(reason), "bonus for reaching %s", d->to);
        KV_STR(&w->pk, "reason", reason);
        w->bonus_points += (uint64_t)d->bonus;
    }
    return 0;
}

static int
sweep_read(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    sweeper *w = arg;
    (void)position;
    return crm_loyalty_sweep(txn, dbi[0], w->day, w->s, on_due, w);
}

#define SWEEP_BATCH 500

/* Appends the sweep's events in batches of SWEEP_BATCH, each atomic. */
static crm_err
sweep_append(crm_log *log, const char *actor, sweeper *w, crm_error *why)
{
    msgpack_zone z;
    msgpack_object evs;
    size_t off = 0;
    crm_err err = CRM_OK;
    if (w->n == 0)
        return CRM_OK;
    if (!msgpack_zone_init(&z, 4096))
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    /* the packed events, one after another: read them back one by one */
    crm_event_in *ev = malloc(SWEEP_BATCH * sizeof(*ev));
    if (ev == NULL) {
        msgpack_zone_destroy(&z);
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    }
    size_t done = 0;
    while (done < w->n && err == CRM_OK) {
        size_t k = 0;
        msgpack_zone_clear(&z);
        while (k < SWEEP_BATCH && done + k < w->n && err == CRM_OK) {
            msgpack_unpack_return ur =
                msgpack_unpack(w->sb.data, w->sb.size, &off, &z, &evs);
            /* more events follow: EXTRA_BYTES but for the last */
            if (ur != MSGPACK_UNPACK_SUCCESS &&
                ur != MSGPACK_UNPACK_EXTRA_BYTES)
                err = crm_error_set(why, CRM_ERR_INTERNAL,
                                    "sweep events unreadable");
            else
                err = crm_rpc_event_in(&evs, &ev[k++], why);
        }
        crm_batch *b = NULL;
        if (err == CRM_OK)
            err = crm_batch_prepare(ev, k, NULL, 0, actor, strlen(actor), &b,
                                    why);
        if (err == CRM_OK)
            err = crm_log_append(log, b, why);
        crm_batch_free(b);
        done += k;
        w->events += k;
    }
    free(ev);
    msgpack_zone_destroy(&z);
    return err;
}

static void *
sweep_main(void *arg)
{
    rpc_ctx *c = arg;
    crm_error why = {CRM_OK, ""};
    sweeper w = {.day = c->job_day};
    msgpack_sbuffer_init(&w.sb);
    msgpack_packer_init(&w.pk, &w.sb, msgpack_sbuffer_write);
    crm_settings_day_text(w.day, w.day_text);
    w.at = crm_settings_day_start(w.day);
    crm_err err = CRM_OK;
    if ((w.s = malloc(sizeof(*w.s))) == NULL)
        err = crm_error_set(&why, CRM_ERR_NOMEM, NULL);
    /* the rules of the day, then what they make due, then the events */
    uint64_t as_of = UINT64_MAX;
    if (err == CRM_OK)
        err = h_load_settings(c->job_log, w.day, &as_of, w.s, &why);
    if (err == CRM_OK)
        err = crm_log_proj_read(c->job_log, "loyalty", sweep_read, &w, &why);
    if (err == CRM_OK)
        err = sweep_append(c->job_log, c->key.id, &w, &why);
    if (err == CRM_OK) {
        msgpack_packer *pk = &c->pk;
        msgpack_pack_map(pk, 6);
        KV_STR(pk, "on", w.day_text);
        KV_U64(pk, "events", w.events);
        KV_U64(pk, "expired", w.expired_events);
        KV_U64(pk, "expired_points", w.expired_points);
        KV_U64(pk, "tier_changes", w.tier_changes);
        KV_U64(pk, "bonus_points", w.bonus_points);
        crm_slog(CRM_INFO, c->rid,
                 "msg=\"loyalty swept\" tenant=%s on=%s expired=%llu "
                 "expired_points=%llu tier_changes=%llu",
                 crm_log_tenant(c->job_log), w.day_text,
                 (unsigned long long)w.expired_events,
                 (unsigned long long)w.expired_points,
                 (unsigned long long)w.tier_changes);
    }
    free(w.s);
    msgpack_sbuffer_destroy(&w.sb);
    net_finish(c, err, &why);
    return NULL;
}

crm_err
h_loyalty_sweep(rpc_call *call, msgpack_packer *pk, crm_error *why,
                rpc_flow *flow)
{
    rpc_ctx *c = call->c;
    uint32_t day;
    crm_err err;
    (void)pk;
    if ((err = h_arg_day(call, "on", &day, why)) != CRM_OK)
        return err;
    if (crm_proj_index(crm_log_projections(call->log), "loyalty") < 0)
        return crm_error_set(why, CRM_ERR_UNAVAILABLE,
                             "this server keeps no 'loyalty' projection "
                             "(crmd --projections)");
    net_job_join(c);
    c->job_log = call->log;
    c->job_day = day;
    if (pthread_create(&c->job, NULL, sweep_main, c) != 0)
        return crm_error_set(why, CRM_ERR_UNAVAILABLE,
                             "cannot start the sweep");
    c->job_running = 1;
    *flow = RPC_DEFERRED;
    return CRM_OK;
}
