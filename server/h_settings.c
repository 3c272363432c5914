/*
 * h_settings.c - the ops over a tenant's projections: settings.get and
 * settings.set (the tenant's settings, as events of $tenant) and
 * projection.rebuild.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "decimal.h"
#include "handlers_int.h"
#include "hash.h"
#include "schema.h"
#include "settings.h"
#include "slog.h"
#include "utf8.h"
#include "uuid.h"

static void
kv_decimal(msgpack_packer *pk, const char *k, int64_t v)
{
    char t[CRM_DECIMAL_MAX_LEN];
    size_t n = crm_decimal_format(v, t);
    crm_mp_pack_cstr(pk, k);
    crm_mp_pack_str(pk, t, n);
}

/* --- settings.get ---------------------------------------------------------- */

typedef struct settings_read {
    uint32_t day;
    uint64_t as_of; /* UINT64_MAX: everything the read sees */
    uint64_t seen;  /* position the read saw */
    crm_settings *s;
} settings_read;

static int
read_settings(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    settings_read *r = arg;
    r->seen = position;
    uint64_t as_of = r->as_of < position ? r->as_of : position;
    r->as_of = as_of;
    return crm_settings_at(txn, dbi[0], r->day, as_of, r->s);
}

/* The settings in force on day as known at *as_of (UINT64_MAX: all that
 * is stored; *as_of becomes the position used); s is the caller's. */
crm_err
h_load_settings(crm_log *log, uint32_t day, uint64_t *as_of, crm_settings *s,
              crm_error *why)
{
    settings_read r = {day, *as_of, 0, s};
    crm_err err = crm_log_proj_read(log, "settings", read_settings, &r, why);
    *as_of = r.as_of;
    return err;
}

static void
pack_settings(msgpack_packer *pk, const crm_settings *s, uint32_t day,
              uint64_t as_of)
{
    msgpack_pack_map(pk, 15);
    h_kv_day(pk, "on", day);
    KV_U64(pk, "as_of", as_of);
    KV_U64(pk, "changes", s->changes);
    KV_U64(pk, "last_change", s->last_change);
    KV_STR(pk, "base_currency", s->base_currency);
    KV_STR(pk, "country_code", s->country_code);
    KV_I64(pk, "complaint_sla_hours", s->complaint_sla_hours);
    KV_I64(pk, "dormant_days", s->dormant_days);
    KV_I64(pk, "points_expiry_months", s->points_expiry_months);
    KV_I64(pk, "tier_window_months", s->tier_window_months);
    KV_I64(pk, "booking_confirm_hours", s->booking_confirm_hours);
    crm_mp_pack_cstr(pk, "rates");
    msgpack_pack_array(pk, s->nrates);
    for (size_t i = 0; i < s->nrates; i++) {
        msgpack_pack_map(pk, 3);
        KV_STR(pk, "currency", s->rates[i].currency);
        kv_decimal(pk, "rate", s->rates[i].rate);
        h_kv_day(pk, "from", s->rates[i].from);
    }
    crm_mp_pack_cstr(pk, "tiers");
    msgpack_pack_array(pk, s->ntiers);
    for (size_t i = 0; i < s->ntiers; i++) {
        const crm_settings_tier *t = &s->tiers[i];
        msgpack_pack_map(pk, 6);
        KV_STR(pk, "tier", t->name);
        KV_I64(pk, "rank", t->rank);
        KV_I64(pk, "min_nights", t->min_nights);
        KV_I64(pk, "min_points", t->min_points);
        KV_I64(pk, "bonus_points", t->bonus_points);
        h_kv_day(pk, "from", t->from);
    }
    crm_mp_pack_cstr(pk, "earn");
    msgpack_pack_array(pk, s->nearn);
    for (size_t i = 0; i < s->nearn; i++) {
        const crm_settings_earn *e = &s->earn[i];
        msgpack_pack_map(pk, 4);
        KV_STR(pk, "tier", e->tier);
        KV_STR(pk, "category", e->category);
        kv_decimal(pk, "points_per_unit", e->per_unit);
        h_kv_day(pk, "from", e->from);
    }
    KV_STR(pk, "stream", CRM_TENANT_STREAM);
}

crm_err
h_settings_get(rpc_call *call, msgpack_packer *pk, crm_error *why,
               rpc_flow *flow)
{
    uint32_t day;
    int64_t as_of;
    crm_err err;
    (void)flow;
    if ((err = h_arg_day(call, "on", &day, why)) != CRM_OK ||
        (err = h_arg_int(call, "as_of", -1, 0, INT64_MAX, &as_of, why)) !=
            CRM_OK)
        return err;
    crm_settings *s = malloc(sizeof(*s));
    if (s == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    uint64_t at = as_of < 0 ? UINT64_MAX : (uint64_t)as_of;
    if ((err = h_load_settings(call->log, day, &at, s, why)) == CRM_OK)
        pack_settings(pk, s, day, at);
    free(s);
    return err;
}

/* --- settings.set ---------------------------------------------------------- */

static const char *const scalar_args[] = {
    "base_currency",        "country_code",       "complaint_sla_hours",
    "dormant_days",         "points_expiry_months", "tier_window_months",
    "booking_confirm_hours", "reason",            NULL};

static int
in_list(const char *const *l, const msgpack_object *k)
{
    for (; *l; l++)
        if (crm_schema_name_eq(*l, k->via.str.ptr, k->via.str.size))
            return 1;
    return 0;
}

/* The events of one settings.set, packed as an append's events array,
 * with a label per event for messages ("rates.USD", "tiers[1]"). */
typedef struct setbuild {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint8_t base_id[16];
    int derived; /* ids derived from the request's id */
    int64_t now;
    char day[11];
    size_t n;
    char label[160][32];
} setbuild;

static void
begin_event(setbuild *b, const char *type, size_t body_fields)
{
    uint8_t id[16];
    if (b->derived) {
        uint8_t h[CRM_HASH_LEN], idx[2] = {(uint8_t)(b->n >> 8),
                                           (uint8_t)b->n};
        crm_sha256_2(b->base_id, 16, idx, sizeof(idx), h);
        memcpy(id, h, 16);
        id[6] = (uint8_t)((id[6] & 0x0f) | 0x80); /* version 8 */
        id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
    } else {
        crm_uuid_v7(id);
    }
    msgpack_packer *pk = &b->pk;
    msgpack_pack_map(pk, 5);
    crm_mp_pack_cstr(pk, "id");
    msgpack_pack_bin(pk, 16);
    msgpack_pack_bin_body(pk, id, 16);
    KV_STR(pk, "stream", CRM_TENANT_STREAM);
    KV_STR(pk, "type", type);
    KV_I64(pk, "occurred_at", b->now);
    crm_mp_pack_cstr(pk, "body");
    msgpack_pack_map(pk, body_fields + 1);
    KV_STR(pk, "effective_from", b->day);
    b->n++;
}

static void
pack_kv_obj(msgpack_packer *pk, const msgpack_object_kv *kv)
{
    crm_mp_pack_object(pk, &kv->key);
    crm_mp_pack_object(pk, &kv->val);
}

/* Packs the events; *n_out their count. Shape errors are bad_request. */
static crm_err
build_events(const rpc_call *call, setbuild *b, crm_error *why)
{
    const msgpack_object *args = call->args;
    const msgpack_object *rates = crm_mp_get(args, "rates");
    const msgpack_object *tiers = crm_mp_get(args, "tiers");
    const msgpack_object *earn = crm_mp_get(args, "earn");
    size_t nscalar = 0, nev = 0;

    for (uint32_t i = 0; args && i < args->via.map.size; i++) {
        const msgpack_object *k = &args->via.map.ptr[i].key;
        if (!crm_mp_is_str(k))
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "settings.set: argument names are strings");
        if (in_list(scalar_args, k))
            nscalar++;
        else if (!crm_schema_name_eq("rates", k->via.str.ptr, k->via.str.size) &&
                 !crm_schema_name_eq("tiers", k->via.str.ptr, k->via.str.size) &&
                 !crm_schema_name_eq("earn", k->via.str.ptr, k->via.str.size) &&
                 !crm_schema_name_eq("id", k->via.str.ptr, k->via.str.size) &&
                 !crm_schema_name_eq("effective_from", k->via.str.ptr,
                                     k->via.str.size)) {
            char q[CRM_UTF8_QUOTE_CAP];
            crm_utf8_quote(k->via.str.ptr, k->via.str.size,
                           CRM_UTF8_QUOTE_MAX, q, sizeof(q));
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "settings.set has no argument '%s'", q);
        }
    }
    if (rates && rates->type != MSGPACK_OBJECT_MAP)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'rates' must map currencies to decimal text, "
                             "e.g. {\"USD\": \"0.92\"}");
    if ((tiers && tiers->type != MSGPACK_OBJECT_ARRAY) ||
        (earn && earn->type != MSGPACK_OBJECT_ARRAY))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'tiers' and 'earn' must be arrays of maps");
    int only_reason = nscalar == 1 && crm_mp_get(args, "reason") != NULL;
    nev = (nscalar > 0 && !only_reason) + (rates ? rates->via.map.size : 0) +
          (tiers ? tiers->via.array.size : 0) +
          (earn ? earn->via.array.size : 0);
    if (nev == 0)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "settings.set changes nothing: give settings, "
                             "rates, tiers or earn");
    if (nev > sizeof(b->label) / sizeof(b->label[0]))
        return crm_error_set(why, CRM_ERR_TOO_LARGE,
                             "settings.set writes at most %zu changes at once",
                             sizeof(b->label) / sizeof(b->label[0]));

    msgpack_pack_array(&b->pk, nev);
    if (nscalar > 0 && !only_reason) {
        snprintf(b->label[b->n], sizeof(b->label[0]), "settings");
        begin_event(b, "tenant.settings_changed", nscalar);
        for (uint32_t i = 0; i < args->via.map.size; i++)
            if (in_list(scalar_args, &args->via.map.ptr[i].key))
                pack_kv_obj(&b->pk, &args->via.map.ptr[i]);
    }
    for (uint32_t i = 0; rates && i < rates->via.map.size; i++) {
        const msgpack_object_kv *kv = &rates->via.map.ptr[i];
        if (!crm_mp_is_str(&kv->key) || kv->key.via.str.size > 8)
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "'rates' keys are currency codes");
        snprintf(b->label[b->n], sizeof(b->label[0]), "rates.%.*s",
                 (int)kv->key.via.str.size, kv->key.via.str.ptr);
        begin_event(b, "tenant.rate_set", 2);
        crm_mp_pack_cstr(&b->pk, "currency");
        crm_mp_pack_object(&b->pk, &kv->key);
        crm_mp_pack_cstr(&b->pk, "rate");
        crm_mp_pack_object(&b->pk, &kv->val);
    }
    static const struct {
        const char *arg, *type, *label;
    } lists[] = {{"tiers", "tenant.tier_defined", "tiers"},
                 {"earn", "tenant.earn_rate_set", "earn"}};
    for (int l = 0; l < 2; l++) {
        const msgpack_object *a = l == 0 ? tiers : earn;
        for (uint32_t i = 0; a && i < a->via.array.size; i++) {
            const msgpack_object *m = &a->via.array.ptr[i];
            if (m->type != MSGPACK_OBJECT_MAP)
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "%s[%u] must be a map", lists[l].arg, i);
            for (uint32_t j = 0; j < m->via.map.size; j++)
                if (crm_mp_is_str(&m->via.map.ptr[j].key) &&
                    crm_schema_name_eq("effective_from",
                                       m->via.map.ptr[j].key.via.str.ptr,
                                       m->via.map.ptr[j].key.via.str.size))
                    return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                         "%s[%u]: the day is settings.set's "
                                         "'effective_from'",
                                         lists[l].arg, i);
            snprintf(b->label[b->n], sizeof(b->label[0]), "%s[%u]",
                     lists[l].label, i);
            begin_event(b, lists[l].type, m->via.map.size);
            for (uint32_t j = 0; j < m->via.map.size; j++)
                pack_kv_obj(&b->pk, &m->via.map.ptr[j]);
        }
    }
    return CRM_OK;
}

/* What the events would make of the settings in force on their day:
 * one tier of rank 0, ranks unique, earn rules naming a tier, rates for
 * currencies other than the base, above zero. */
static crm_err
check_result(crm_settings *s, const msgpack_object *evs,
             const setbuild *b, crm_error *why)
{
    for (uint32_t i = 0; i < evs->via.array.size; i++) {
        const msgpack_object *e = &evs->via.array.ptr[i];
        const msgpack_object *type = crm_mp_get(e, "type");
        const msgpack_object *body = crm_mp_get(e, "body");
        const char *msg;
        if (crm_settings_fold(s, type->via.str.ptr, type->via.str.size, body,
                              0, &msg) != 0)
            return crm_error_set(why, CRM_ERR_BAD_FIELD, "%s: %s",
                                 b->label[i], msg);
        const msgpack_object *cc = crm_mp_get(body, "country_code");
        if (crm_mp_is_str(cc)) {
            int ok = cc->via.str.size >= 1 && cc->via.str.size <= 3;
            for (uint32_t k = 0; ok && k < cc->via.str.size; k++)
                ok = cc->via.str.ptr[k] >= '0' && cc->via.str.ptr[k] <= '9';
            if (!ok)
                return crm_error_set(why, CRM_ERR_BAD_FIELD,
                                     "country_code is 1..3 digits, e.g. "
                                     "\"351\"");
        }
    }
    size_t base = 0;
    for (size_t i = 0; i < s->ntiers; i++) {
        base += s->tiers[i].rank == 0;
        if (i > 0 && s->tiers[i].rank == s->tiers[i - 1].rank)
            return crm_error_set(why, CRM_ERR_BAD_FIELD,
                                 "tiers '%s' and '%s' have the same rank %lld",
                                 s->tiers[i - 1].name, s->tiers[i].name,
                                 (long long)s->tiers[i].rank);
    }
    if (base != 1)
        return crm_error_set(why, CRM_ERR_BAD_FIELD,
                             "exactly one tier must have rank 0 (where every "
                             "guest starts)");
    for (size_t i = 0; i < s->nearn; i++) {
        int known = strcmp(s->earn[i].tier, "any") == 0;
        for (size_t t = 0; !known && t < s->ntiers; t++)
            known = strcmp(s->earn[i].tier, s->tiers[t].name) == 0;
        if (!known)
            return crm_error_set(why, CRM_ERR_BAD_FIELD,
                                 "earn rate for tier '%s', which is not "
                                 "defined", s->earn[i].tier);
    }
    /* A rate kept from before for what is now the base currency is
     * harmless (the base is always 1); one given with this change is a
     * mistake. */
    for (uint32_t i = 0; i < evs->via.array.size; i++) {
        const msgpack_object *e = &evs->via.array.ptr[i];
        const msgpack_object *cur =
            crm_mp_get(crm_mp_get(e, "body"), "currency");
        if (crm_mp_is_str(cur) &&
            crm_schema_name_eq(s->base_currency, cur->via.str.ptr,
                               cur->via.str.size))
            return crm_error_set(why, CRM_ERR_BAD_FIELD,
                                 "%s: the base currency has no rate",
                                 b->label[i]);
    }
    for (size_t i = 0; i < s->nrates; i++) {
        if (s->rates[i].rate <= 0)
            return crm_error_set(why, CRM_ERR_BAD_FIELD,
                                 "rates.%s must be above 0",
                                 s->rates[i].currency);
    }
    return CRM_OK;
}

crm_err
h_settings_set(rpc_call *call, msgpack_packer *pk, crm_error *why,
               rpc_flow *flow)
{
    rpc_ctx *c = call->c;
    uint32_t day;
    const char *ids;
    size_t idlen;
    crm_err err;
    (void)pk;
    if ((err = h_arg_day(call, "effective_from", &day, why)) != CRM_OK ||
        (err = h_arg_str(call, "id", 0, 40, &ids, &idlen, why)) != CRM_OK)
        return err;
    /* what is written dates from the wall clock, never a pinned one */
    if (h_arg_absent(call, "effective_from"))
        day = crm_settings_day_of(crm_now_us());
    setbuild *b = calloc(1, sizeof(*b));
    crm_settings *s = malloc(sizeof(*s));
    if (b == NULL || s == NULL) {
        free(b);
        free(s);
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    }
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
    b->now = crm_now_us();
    crm_settings_day_text(day, b->day);
    if (day < 19700101) {
        err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                            "'effective_from' is from 1970-01-01 on");
        goto done;
    }
    if (ids) {
        char tmp[41];
        memcpy(tmp, ids, idlen);
        tmp[idlen] = '\0';
        if (crm_uuid_parse(tmp, b->base_id) != 0) {
            err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                "argument 'id' must be a UUID");
            goto done;
        }
        b->derived = 1;
        /* a retry must send the same events: their time comes from the
         * id (a UUIDv7 holds its milliseconds) or else from the day */
        if ((b->base_id[6] >> 4) == 7) {
            int64_t ms = 0;
            for (int i = 0; i < 6; i++)
                ms = ms << 8 | b->base_id[i];
            b->now = ms * 1000;
        } else {
            b->now = crm_settings_day_start(day);
        }
    }
    if ((err = build_events(call, b, why)) != CRM_OK)
        goto done;

    /* The events as objects, in the request's zone, for the checks and
     * the writer (which copies what it keeps). */
    msgpack_object evs;
    size_t off = 0;
    if (msgpack_unpack(b->sb.data, b->sb.size, &off, &c->zone, &evs) !=
        MSGPACK_UNPACK_SUCCESS) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto done;
    }
    /* Each change against the schema, named as the caller wrote it. */
    for (uint32_t i = 0; i < evs.via.array.size; i++) {
        crm_event_in ev;
        msgpack_sbuffer tmp;
        msgpack_sbuffer_init(&tmp);
        if ((err = crm_rpc_event_in(&evs.via.array.ptr[i], &ev, why)) ==
            CRM_OK)
            err = crm_event_encode(&ev, &tmp, why);
        msgpack_sbuffer_destroy(&tmp);
        if (err != CRM_OK) {
            crm_error_prefix(why, "%s", b->label[i]);
            goto done;
        }
    }
    uint64_t at = UINT64_MAX;
    if ((err = h_load_settings(call->log, day, &at, s, why)) != CRM_OK ||
        (err = check_result(s, &evs, b, why)) != CRM_OK)
        goto done;
    crm_slog(CRM_INFO, c->rid,
             "msg=\"settings changed\" tenant=%s effective_from=%s changes=%u "
             "by=%s",
             c->key.tenant, b->day, evs.via.array.size, c->key.id);
    err = h_submit_events(call, &evs, NULL, 1, why, flow);
done:
    msgpack_sbuffer_destroy(&b->sb);
    free(b);
    free(s);
    return err;
}

/* --- projection.rebuild ---------------------------------------------------- */

/* The rebuild runs on its own thread (it takes seconds for a large
 * tenant: neither an NNG thread nor the writer may wait for it) and
 * finishes the request from there. */
static void *
rebuild_main(void *arg)
{
    rpc_ctx *c = arg;
    crm_log_rebuilt out[CRM_PROJ_MAX];
    size_t n = 0;
    crm_error why = {CRM_OK, ""};
    char tenant[CRM_TENANT_MAX + 1]; /* the log may close once it returns */
    snprintf(tenant, sizeof(tenant), "%s", crm_log_tenant(c->job_log));
    crm_err err = crm_log_rebuild(c->job_log,
                                  c->job_proj[0] ? c->job_proj : NULL, out,
                                  &n, &why);
    if (err == CRM_OK) {
        msgpack_packer *pk = &c->pk;
        msgpack_pack_map(pk, 1);
        crm_mp_pack_cstr(pk, "projections");
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++) {
            msgpack_pack_map(pk, 7);
            KV_STR(pk, "name", out[i].name);
            KV_U64(pk, "events", out[i].events);
            KV_U64(pk, "position", out[i].position);
            crm_mp_pack_cstr(pk, "seconds");
            msgpack_pack_double(pk, out[i].seconds);
            KV_U64(pk, "events_per_s",
                   out[i].seconds > 0
                       ? (uint64_t)((double)out[i].events / out[i].seconds)
                       : out[i].events);
            KV_BOOL(pk, "identical", out[i].identical);
            KV_STR(pk, "diff", out[i].identical ? "" : out[i].diff);
            crm_slog(out[i].identical ? CRM_INFO : CRM_WARN, c->rid,
                     "msg=\"projection rebuilt\" tenant=%s projection=%s "
                     "events=%llu position=%llu seconds=%.3f identical=%s%s%s",
                     tenant, out[i].name,
                     (unsigned long long)out[i].events,
                     (unsigned long long)out[i].position, out[i].seconds,
                     out[i].identical ? "yes" : "no",
                     out[i].identical ? "" : " first_difference=",
                     out[i].identical ? "" : out[i].diff);
        }
    }
    net_finish(c, err, &why);
    return NULL;
}

crm_err
h_projection_rebuild(rpc_call *call, msgpack_packer *pk, crm_error *why,
                     rpc_flow *flow)
{
    rpc_ctx *c = call->c;
    crm_err err;
    (void)pk;
    if ((err = h_arg_cstr(call, "projection", 0, c->job_proj,
                          sizeof(c->job_proj) - 1, why)) != CRM_OK)
        return err;
    const crm_proj_set *ps = crm_log_projections(call->log);
    if (crm_proj_count(ps) == 0)
        return crm_error_set(why, CRM_ERR_NOT_FOUND,
                             "this server keeps no projections "
                             "(crmd --projections)");
    if (c->job_proj[0] && crm_proj_index(ps, c->job_proj) < 0)
        return crm_error_set(why, CRM_ERR_NOT_FOUND,
                             "this server keeps no projection '%s'",
                             c->job_proj);
    net_job_join(c); /* the context's previous rebuild, long finished */
    c->job_log = call->log;
    if (pthread_create(&c->job, NULL, rebuild_main, c) != 0)
        return crm_error_set(why, CRM_ERR_UNAVAILABLE,
                             "cannot start the rebuild");
    c->job_running = 1;
    *flow = RPC_DEFERRED;
    return CRM_OK;
}

/* --- tenant.rotate_key ------------------------------------------------------ */

/* Synchronous: the rewrap holds the tenant's writer for about a second
 * per 100,000 guests, which a request may wait for. */
crm_err
h_tenant_rotate_key(rpc_call *call, msgpack_packer *pk, crm_error *why,
                    rpc_flow *flow)
{
    (void)flow;
    uint64_t n = 0;
    uint32_t epoch = 0;
    int64_t t0 = crm_mono_ns();
    crm_err err = crm_log_rotate_key(call->log, &n, &epoch, why);
    if (err != CRM_OK)
        return err;
    double secs = (double)(crm_mono_ns() - t0) / 1e9;
    crm_slog(CRM_INFO, call->c->rid,
             "msg=\"tenant key rotated\" tenant=%s epoch=%u rewrapped=%llu "
             "seconds=%.3f",
             crm_log_tenant(call->log), (unsigned)epoch,
             (unsigned long long)n, secs);
    msgpack_pack_map(pk, 3);
    KV_U64(pk, "epoch", epoch);
    KV_U64(pk, "rewrapped", n);
    crm_mp_pack_cstr(pk, "seconds");
    msgpack_pack_double(pk, secs);
    return CRM_OK;
}
