/*
 * h_consent.c - consent as the log tells it: customer.consent_at (a
 * guest's consent for a channel and purpose in force at a moment) and
 * audit.consent_violations (marketing messages sent to a guest who had
 * not consented to their channel at the moment of sending).
 *
 * Both read the log, not the customer projection: the projection keeps
 * only the latest consent per channel and purpose, while these ask about
 * any moment, and a consent recorded late with an earlier occurred_at (a
 * form signed at the desk, typed in days after) counts from when it was
 * given. One rule decides (in_force): the customer.consent_changed of the
 * channel and purpose with the latest occurred_at at or before the
 * moment, the later log position among equal times. None at all means
 * not consented: consent is never presumed. An event without `purpose`
 * is a marketing consent, as the projections read it. Consent events
 * hold no personal field, so the answers are the same for every role
 * that may ask and for an erased guest, whose consents stay as proof.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event.h"
#include "handlers_int.h"
#include "log.h"
#include "record.h"
#include "rpc.h"
#include "schema.h"

#define CONSENT_TYPE "customer.consent_changed"
#define SENT_TYPE "marketing.message_sent"
#define ENUM_ARG_MAX 16 /* the longest channel or purpose name, and more */
#define TEXT_MAX 64     /* campaign, message_id, source (schema.c) */

#define VIOL_LIMIT_DEFAULT 100
#define VIOL_LIMIT_MAX 1000
/* One page of audit.consent_violations looks at no more records than
 * this, and keeps no more sends to judge: a page costs at most that scan
 * plus one read of the stream of each guest it judges, however long the
 * log. The cursor goes on from where it stopped. */
#define VIOL_SCAN_MAX 100000
#define VIOL_SENDS_MAX 2048
#define VIOL_SLOTS (2 * VIOL_SENDS_MAX) /* guests' table, a power of two */

/* --- channels and purposes, from the event catalogue ---------------------- */

static const crm_field *
consent_field(const char *name)
{
    const crm_event_type *t =
        crm_schema_find(CONSENT_TYPE, strlen(CONSENT_TYPE));
    return t ? crm_schema_field(t, name, strlen(name)) : NULL;
}

/* The index of s[0..len) among the values of the consent event's enum
 * field (channel or purpose), or -1. The sends' channel is the same
 * enum (schema.c), so one index serves both. */
static int
enum_index(const char *field, const char *s, size_t len)
{
    const crm_field *f = consent_field(field);
    for (int i = 0; f && f->values[i]; i++)
        if (crm_schema_name_eq(f->values[i], s, len))
            return i;
    return -1;
}

static const char *
enum_name(const char *field, int i)
{
    return consent_field(field)->values[i];
}

/* bad_request naming the values argument name may take. */
static crm_err
bad_enum(crm_error *why, const char *name, const char *field)
{
    char list[160];
    size_t at = 0;
    const crm_field *f = consent_field(field);
    list[0] = '\0';
    for (int i = 0; f->values[i] && at < sizeof(list); i++)
        at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%s",
                               i ? ", " : "", f->values[i]);
    return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                         "argument '%s' must be one of %s", name, list);
}

/* A channel or purpose argument: its index, or *idx = def when absent
 * and def >= 0 (otherwise it is required). */
static crm_err
arg_enum(const rpc_call *call, const char *name, const char *field, int def,
         int *idx, crm_error *why)
{
    const char *s;
    size_t len;
    crm_err err = h_arg_str(call, name, def < 0, ENUM_ARG_MAX, &s, &len, why);
    if (err == CRM_ERR_TOO_LARGE)
        return bad_enum(why, name, field); /* no such name is that long */
    if (err != CRM_OK)
        return err;
    *idx = s ? enum_index(field, s, len) : def;
    return *idx < 0 ? bad_enum(why, name, field) : CRM_OK;
}

/* --- one guest's consent history ------------------------------------------ */

typedef struct consent {
    int64_t at; /* occurred_at: when it was given or withdrawn */
    uint64_t position;
    uint8_t channel, purpose, granted;
    char source[TEXT_MAX + 1];
} consent;

typedef struct history {
    msgpack_zone *z;
    int channel; /* keep this channel only, or every one (-1) */
    int purpose; /* keep this purpose only */
    consent *c;  /* in position order; malloc'd */
    size_t n, cap;
    uint64_t last; /* the last position of the stream read */
    crm_err err;
} history;

static void
history_free(history *h)
{
    free(h->c);
    h->c = NULL;
    h->n = h->cap = 0;
}

static size_t
body_str(const msgpack_object *body, const char *k, char *buf, size_t max)
{
    const msgpack_object *o = crm_mp_get(body, k);
    size_t n = 0;
    if (crm_mp_is_str(o)) {
        n = o->via.str.size < max ? o->via.str.size : max;
        memcpy(buf, o->via.str.ptr, n);
    }
    buf[n] = '\0';
    return n;
}

/* Reads consent event r into *e: 0, or -1 when its fields are not what
 * the schema let in (nothing is presumed from such an event). */
static int
consent_of(const crm_record *r, uint64_t pos, consent *e)
{
    const msgpack_object *ch = crm_mp_get(&r->body, "channel");
    const msgpack_object *pu = crm_mp_get(&r->body, "purpose");
    const msgpack_object *gr = crm_mp_get(&r->body, "granted");
    int c = crm_mp_is_str(ch)
                ? enum_index("channel", ch->via.str.ptr, ch->via.str.size)
                : -1;
    int p = crm_mp_is_str(pu)
                ? enum_index("purpose", pu->via.str.ptr, pu->via.str.size)
            : pu == NULL || pu->type == MSGPACK_OBJECT_NIL
                ? enum_index("purpose", "marketing", 9)
                : -1;
    if (c < 0 || p < 0 || gr == NULL || gr->type != MSGPACK_OBJECT_BOOLEAN)
        return -1;
    e->at = r->occurred_at;
    e->position = pos;
    e->channel = (uint8_t)c;
    e->purpose = (uint8_t)p;
    e->granted = gr->via.boolean;
    body_str(&r->body, "source", e->source, TEXT_MAX);
    return 0;
}

static int
visit_consent(void *arg, uint64_t pos, const uint8_t *rec, size_t len)
{
    history *h = arg;
    crm_record r;
    consent e;
    msgpack_zone_clear(h->z);
    if (crm_record_decode(rec, len, h->z, &r, NULL) != CRM_OK) {
        h->err = CRM_ERR_CORRUPT;
        return 1;
    }
    h->last = pos;
    if (!crm_schema_name_eq(CONSENT_TYPE, r.type, r.type_len) ||
        consent_of(&r, pos, &e) != 0 || e.purpose != h->purpose ||
        (h->channel >= 0 && e.channel != h->channel))
        return 0;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 8;
        consent *c = realloc(h->c, cap * sizeof(*c));
        if (c == NULL) {
            h->err = CRM_ERR_NOMEM;
            return 1;
        }
        h->c = c;
        h->cap = cap;
    }
    h->c[h->n++] = e;
    return 0;
}

/* Reads the consents of stream id[0..len) that h keeps. CRM_ERR_NOT_FOUND
 * when the stream has no events. */
static crm_err
history_read(crm_log *log, const char *id, size_t len, history *h)
{
    crm_err err = crm_log_read_stream(log, id, len, 0, 0, visit_consent, h);
    return err != CRM_OK ? err : h->err;
}

/* The consent in force at `at` for channel and purpose, or NULL when the
 * guest had given none by then. The history is in position order, so on
 * equal times the later one replaces the earlier. */
static const consent *
in_force(const history *h, int channel, int purpose, int64_t at)
{
    const consent *best = NULL;
    for (size_t i = 0; i < h->n; i++) {
        const consent *e = &h->c[i];
        if (e->channel == channel && e->purpose == purpose && e->at <= at &&
            (best == NULL || e->at >= best->at))
            best = e;
    }
    return best;
}

/* --- customer.consent_at -------------------------------------------------- */

static void
kv_opt_i64(msgpack_packer *pk, const char *k, int has, int64_t v)
{
    crm_mp_pack_cstr(pk, k);
    if (has)
        msgpack_pack_int64(pk, v);
    else
        msgpack_pack_nil(pk);
}

crm_err
h_customer_consent_at(rpc_call *call, msgpack_packer *pk, crm_error *why,
                      rpc_flow *flow)
{
    const char *id;
    size_t len;
    int channel, purpose;
    int64_t at;
    crm_err err;
    (void)flow;

    if ((err = h_arg_str(call, "customer", 1, CRM_STREAM_MAX, &id, &len,
                         why)) != CRM_OK ||
        (err = arg_enum(call, "channel", "channel", -1, &channel, why)) !=
            CRM_OK ||
        (err = arg_enum(call, "purpose", "purpose",
                        enum_index("purpose", "marketing", 9), &purpose,
                        why)) != CRM_OK ||
        (err = h_arg_int(call, "at", crm_query_now_us(), 1, CRM_TIME_MAX, &at,
                         why)) != CRM_OK)
        return err;
    if (len == 0)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "argument 'customer' is empty");
    /* the server's streams ('$tenant') are no guest */
    if (id[0] == '$')
        return h_not_found_guest(id, len, "no such guest", why);
    history h = {
        .z = &call->c->scratch, .channel = channel, .purpose = purpose};
    err = history_read(call->log, id, len, &h);
    if (err == CRM_ERR_NOT_FOUND) {
        history_free(&h);
        return h_not_found_guest(id, len, "no such guest", why);
    }
    if (err != CRM_OK) {
        history_free(&h);
        return crm_error_set(why, err, "reading the guest's stream failed");
    }
    const consent *e = in_force(&h, channel, purpose, at);
    msgpack_pack_map(pk, 9);
    crm_mp_pack_cstr(pk, "customer");
    crm_mp_pack_str(pk, id, len);
    KV_STR(pk, "channel", enum_name("channel", channel));
    KV_STR(pk, "purpose", enum_name("purpose", purpose));
    KV_I64(pk, "at", at);
    KV_BOOL(pk, "granted", e && e->granted);
    kv_opt_i64(pk, "since", e != NULL, e ? e->at : 0);
    crm_mp_pack_cstr(pk, "position");
    if (e)
        msgpack_pack_uint64(pk, e->position);
    else
        msgpack_pack_nil(pk);
    crm_mp_pack_cstr(pk, "source");
    if (e && e->source[0])
        crm_mp_pack_cstr(pk, e->source);
    else
        msgpack_pack_nil(pk);
    KV_U64(pk, "as_of", h.last);
    history_free(&h);
    return CRM_OK;
}

/* --- audit.consent_violations --------------------------------------------- */

/* A marketing message found by the scan, to be judged. */
typedef struct sent_msg {
    uint64_t position;
    int64_t at;
    uint8_t channel;
    uint8_t guest_len;
    char guest[CRM_STREAM_MAX];
    char campaign[TEXT_MAX + 1];
    char message_id[TEXT_MAX + 1];
} sent_msg;

typedef struct scan {
    msgpack_zone *z;
    const char *campaign; /* only this campaign, or NULL */
    size_t campaign_len;
    sent_msg *s; /* VIOL_SENDS_MAX of them */
    size_t n;
    uint64_t last, scanned; /* the last position looked at; how many */
    crm_err err;
} scan;

static int
visit_send(void *arg, uint64_t pos, const uint8_t *rec, size_t len)
{
    scan *sc = arg;
    crm_record r;
    msgpack_zone_clear(sc->z);
    if (crm_record_decode(rec, len, sc->z, &r, NULL) != CRM_OK) {
        sc->err = CRM_ERR_CORRUPT;
        return 1;
    }
    sc->last = pos;
    sc->scanned++;
    if (!crm_schema_name_eq(SENT_TYPE, r.type, r.type_len) ||
        r.stream_len > CRM_STREAM_MAX)
        return 0;
    const msgpack_object *camp = crm_mp_get(&r.body, "campaign");
    const msgpack_object *ch = crm_mp_get(&r.body, "channel");
    int c = crm_mp_is_str(ch)
                ? enum_index("channel", ch->via.str.ptr, ch->via.str.size)
                : -1;
    if (c < 0 || !crm_mp_is_str(camp) ||
        (sc->campaign &&
         (camp->via.str.size != sc->campaign_len ||
          memcmp(camp->via.str.ptr, sc->campaign, sc->campaign_len) != 0)))
        return 0;
    sent_msg *s = &sc->s[sc->n++];
    s->position = pos;
    s->at = r.occurred_at;
    s->channel = (uint8_t)c;
    s->guest_len = (uint8_t)r.stream_len;
    memcpy(s->guest, r.stream, r.stream_len);
    body_str(&r.body, "campaign", s->campaign, TEXT_MAX);
    body_str(&r.body, "message_id", s->message_id, TEXT_MAX);
    return sc->n == VIOL_SENDS_MAX; /* full: judge these first */
}

/* A guest whose marketing consents have been read, in an open-addressing
 * table keyed by stream id: a page judges many sends to few guests, and
 * each guest's stream is read once for all of them. */
typedef struct guest {
    size_t len; /* 0: free slot */
    const char *id;
    history h;
} guest;

static uint32_t
id_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* The consents of the guest of send s, read on first use. */
static crm_err
guest_of(crm_log *log, guest *tab, msgpack_zone *z, int purpose,
         const sent_msg *s, const history **out)
{
    uint32_t i = id_hash(s->guest, s->guest_len) & (VIOL_SLOTS - 1);
    /* at most VIOL_SENDS_MAX guests in twice the slots: a free one comes */
    while (tab[i].len && (tab[i].len != s->guest_len ||
                          memcmp(tab[i].id, s->guest, s->guest_len) != 0))
        i = (i + 1) & (VIOL_SLOTS - 1);
    guest *g = &tab[i];
    if (g->len == 0) {
        g->len = s->guest_len;
        g->id = s->guest;
        g->h = (history){.z = z, .channel = -1, .purpose = purpose};
        crm_err err = history_read(log, s->guest, s->guest_len, &g->h);
        if (err != CRM_OK)
            return err;
    }
    *out = &g->h;
    return CRM_OK;
}

/* A judged send that had no consent: e is the withdrawal in force, or
 * NULL when the guest had never given one. */
typedef struct violation {
    const sent_msg *s;
    const consent *e;
} violation;

static void
pack_violation(msgpack_packer *pk, const violation *v)
{
    const sent_msg *s = v->s;
    msgpack_pack_map(pk, 9);
    KV_U64(pk, "position", s->position);
    crm_mp_pack_cstr(pk, "customer");
    crm_mp_pack_str(pk, s->guest, s->guest_len);
    KV_STR(pk, "campaign", s->campaign);
    KV_STR(pk, "channel", enum_name("channel", s->channel));
    crm_mp_pack_cstr(pk, "message_id");
    if (s->message_id[0])
        crm_mp_pack_cstr(pk, s->message_id);
    else
        msgpack_pack_nil(pk);
    KV_I64(pk, "sent_at", s->at);
    KV_STR(pk, "consent", v->e ? "withdrawn" : "never_given");
    kv_opt_i64(pk, "since", v->e != NULL, v->e ? v->e->at : 0);
    crm_mp_pack_cstr(pk, "consent_position");
    if (v->e)
        msgpack_pack_uint64(pk, v->e->position);
    else
        msgpack_pack_nil(pk);
}

crm_err
h_audit_consent_violations(rpc_call *call, msgpack_packer *pk, crm_error *why,
                           rpc_flow *flow)
{
    const char *campaign;
    size_t clen;
    int64_t cursor, limit;
    crm_err err;
    (void)flow;

    if ((err = h_arg_str(call, "campaign", 0, TEXT_MAX, &campaign, &clen,
                         why)) != CRM_OK ||
        (err = h_arg_int(call, "cursor", 1, 1, INT64_MAX, &cursor, why)) !=
            CRM_OK ||
        (err = h_arg_int(call, "limit", VIOL_LIMIT_DEFAULT, 1, VIOL_LIMIT_MAX,
                         &limit, why)) != CRM_OK)
        return err;
    int marketing = enum_index("purpose", "marketing", 9);
    scan sc = {
        .z = &call->c->scratch, .campaign = campaign, .campaign_len = clen};
    guest *tab = calloc(VIOL_SLOTS, sizeof(*tab));
    violation *v = malloc((size_t)limit * sizeof(*v));
    sc.s = malloc(VIOL_SENDS_MAX * sizeof(*sc.s));
    if (tab == NULL || v == NULL || sc.s == NULL) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto done;
    }
    err = crm_log_read_all(call->log, (uint64_t)cursor, VIOL_SCAN_MAX,
                           visit_send, &sc);
    if (err == CRM_OK)
        err = sc.err;
    if (err != CRM_OK) {
        err = crm_error_set(why, err, "reading the log failed");
        goto done;
    }
    /* Judged in position order; a full page ends after its last
     * violation, and the next page begins right after it. */
    uint64_t next = sc.scanned ? sc.last + 1 : (uint64_t)cursor;
    size_t nv = 0;
    for (size_t i = 0; i < sc.n; i++) {
        const history *h;
        if ((err = guest_of(call->log, tab, &call->c->scratch, marketing,
                            &sc.s[i], &h)) != CRM_OK) {
            err = crm_error_set(why, err, "reading guest stream failed");
            goto done;
        }
        const consent *e = in_force(h, sc.s[i].channel, marketing, sc.s[i].at);
        if (e && e->granted)
            continue;
        v[nv++] = (violation){&sc.s[i], e};
        if (nv == (size_t)limit) {
            next = sc.s[i].position + 1;
            break;
        }
    }
    uint64_t head;
    crm_log_head(call->log, &head, NULL);
    msgpack_pack_map(pk, 6);
    crm_mp_pack_cstr(pk, "campaign");
    if (campaign)
        crm_mp_pack_str(pk, campaign, clen);
    else
        msgpack_pack_nil(pk);
    crm_mp_pack_cstr(pk, "violations");
    msgpack_pack_array(pk, nv);
    for (size_t i = 0; i < nv; i++)
        pack_violation(pk, &v[i]);
    KV_U64(pk, "scanned", sc.scanned);
    KV_U64(pk, "next", next);
    KV_BOOL(pk, "more", next <= head);
    KV_U64(pk, "head", head);
done:
    for (size_t i = 0; tab && i < VIOL_SLOTS; i++)
        history_free(&tab[i].h);
    free(tab);
    free(v);
    free(sc.s);
    return err;
}
