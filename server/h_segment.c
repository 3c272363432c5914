/*
 * h_segment.c - marketing's segment ops over the segment projection:
 * segment.list (the built-in segments and the tenant's), segment.counts
 * (members of each for a day), segment.members (one segment's guests in
 * id order, paged by an opaque cursor), segment.export (the members
 * who consented to a channel for marketing, with the columns a mailing
 * tool imports) and segment.define (a tenant's segment as an event of
 * $tenant). Membership is decided when asked,
 * from the rows, for the day asked (segment.h); only segment.export
 * reads personal values, from the events that set them.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "customer.h"
#include "handlers_int.h"
#include "log.h"
#include "rpc.h"
#include "schema.h"
#include "segfilter.h"
#include "segment.h"
#include "settings.h"
#include "utf8.h"
#include "uuid.h"

#define MEMBERS_DEFAULT 100
#define MEMBERS_MAX 1000
#define DEFINED_MAX 256 /* segments segment.counts counts */
#define TIERS_SEEN_MAX 32
/* A page stops before the reply passes this (what handlers.c keeps for
 * the rest of a batch, as event reads do, and a member's worth more). */
#define MEMBERS_RESERVE (CRM_RPC_MAX_BATCH_OPS * 512u + 1024u)

/* The built-in dimensions: "dimension:value" names a segment, and the
 * filter it stands for is `dimension = "value"` (numbers unquoted). */
static const struct dim {
    const char *name;
    const char *const *values; /* NULL: tiers (settings) or 1..5 */
    size_t nvalues;
    int numeric;
    const char *doc;
} dims[] = {
    {"lifecycle", crm_seg_lifecycle_names, SEG_NLIFE, 0,
     "days since the last stay, booking or registration against "
     "dormant_days d: new (no stay, <= d), active (<= d), dormant (<= 2d), "
     "lapsed (<= 3d), churned"},
    {"frequency", crm_seg_frequency_names, SEG_NFREQ, 0,
     "prospect (no stay), first_time (one), frequent (3+ in 12 months), "
     "repeat (the others)"},
    {"value", crm_seg_value_names, SEG_NVALUE, 0,
     "lifetime spend in the base currency: high (top 20% of spenders), "
     "medium (next 30%), low, none"},
    {"churn", crm_seg_churn_names, SEG_NCHURN, 0,
     "churn risk 0-100: low (< 30), medium (< 60), high"},
    {"tier", NULL, 0, 0, "the loyalty tier"},
    {"rfm_r", NULL, 5, 1, "recency quintile, 5 the most recent"},
    {"rfm_f", NULL, 5, 1, "frequency quintile (stays)"},
    {"rfm_m", NULL, 5, 1, "monetary quintile (lifetime spend)"},
};
#define NDIMS (sizeof(dims) / sizeof(dims[0]))

static void
kv_strn(msgpack_packer *pk, const char *k, const char *s, size_t n)
{
    crm_mp_pack_cstr(pk, k);
    crm_mp_pack_str(pk, s, n);
}

/* The loyalty database and the settings of day, in a read of the
 * segment projection. */
static int
query_for(crm_log *log, MDB_txn *txn, const MDB_dbi *dbi, uint32_t day,
          crm_settings *s, crm_seg_query *q)
{
    memset(q, 0, sizeof(*q));
    int rc = h_settings_in(log, txn, day, s);
    if (rc != 0)
        return rc;
    rc = h_proj_db(log, txn, "loyalty", &q->loyalty);
    q->has_loyalty = rc == 0;
    if (rc == MDB_NOTFOUND)
        rc = 0;
    q->txn = txn;
    q->guest = dbi[0];
    q->day = day;
    q->settings = s;
    return rc;
}

static const uint8_t *
index_key(crm_log *log)
{
    return crm_proj_index_key(crm_log_projections(log));
}

/* --- segment.list ----------------------------------------------------------- */

typedef struct list_read {
    crm_log *log;
    msgpack_packer *pk;
    uint32_t day;
    size_t ndefs;
} list_read;

static int
count_def(void *arg, const crm_seg_def *d)
{
    (void)d;
    ((list_read *)arg)->ndefs++;
    return 0;
}

static int
pack_def(void *arg, const crm_seg_def *d)
{
    msgpack_packer *pk = ((list_read *)arg)->pk;
    msgpack_pack_map(pk, 4);
    kv_strn(pk, "name", d->name, d->name_len);
    kv_strn(pk, "filter", d->filter, d->filter_len);
    crm_mp_pack_cstr(pk, "description");
    if (d->description_len)
        crm_mp_pack_str(pk, d->description, d->description_len);
    else
        msgpack_pack_nil(pk);
    KV_U64(pk, "position", d->position);
    return 0;
}

static int
list_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    list_read *l = arg;
    crm_settings *s = malloc(sizeof(*s));
    if (s == NULL)
        return ENOMEM;
    int rc = h_settings_in(l->log, txn, l->day, s);
    if (rc == 0)
        rc = crm_segment_defs(txn, dbi[2], count_def, l);
    if (rc != 0)
        goto out;
    msgpack_packer *pk = l->pk;
    msgpack_pack_map(pk, 4);
    crm_mp_pack_cstr(pk, "builtin");
    msgpack_pack_array(pk, NDIMS + 1);
    for (size_t i = 0; i < NDIMS; i++) {
        const struct dim *d = &dims[i];
        msgpack_pack_map(pk, 3);
        KV_STR(pk, "dimension", d->name);
        KV_STR(pk, "description", d->doc);
        crm_mp_pack_cstr(pk, "values");
        if (d->values) {
            msgpack_pack_array(pk, d->nvalues);
            for (size_t v = 0; v < d->nvalues; v++)
                crm_mp_pack_cstr(pk, d->values[v]);
        } else if (d->numeric) {
            msgpack_pack_array(pk, 5);
            for (int v = 1; v <= 5; v++)
                msgpack_pack_int(pk, v);
        } else {
            msgpack_pack_array(pk, s->ntiers);
            for (size_t t = 0; t < s->ntiers; t++)
                crm_mp_pack_cstr(pk, s->tiers[t].name);
        }
    }
    msgpack_pack_map(pk, 3);
    KV_STR(pk, "dimension", "points_expiring");
    KV_STR(pk, "description", "guests with points expiring within 30 days");
    crm_mp_pack_cstr(pk, "values");
    msgpack_pack_array(pk, 0);
    crm_mp_pack_cstr(pk, "defined");
    msgpack_pack_array(pk, l->ndefs);
    rc = crm_segment_defs(txn, dbi[2], pack_def, l);
    h_kv_day(pk, "on", l->day);
    KV_U64(pk, "as_of", position);
out:
    free(s);
    return rc;
}

crm_err
h_segment_list(rpc_call *call, msgpack_packer *pk, crm_error *why,
               rpc_flow *flow)
{
    list_read l = {.log = call->log, .pk = pk};
    crm_err err;
    (void)flow;
    if ((err = h_arg_day(call, "on", &l.day, why)) != CRM_OK)
        return err;
    return crm_log_proj_read(call->log, "segment", list_fn, &l, why);
}

/* --- segment.counts --------------------------------------------------------- */

typedef struct defined {
    char name[CRM_SEG_NAME_MAX + 1];
    crm_segfilter *f; /* NULL: no longer parses (counted nil) */
    uint64_t n;
} defined;

typedef struct counts {
    crm_log *log;
    msgpack_packer *pk;
    uint32_t day;
    uint64_t guests, life[SEG_NLIFE], freq[SEG_NFREQ], value[SEG_NVALUE],
        churn[SEG_NCHURN], rfm[3][5], expiring;
    size_t ntiers;
    char tiers[TIERS_SEEN_MAX][CRM_SETTINGS_NAME_MAX + 1];
    uint64_t tier_n[TIERS_SEEN_MAX];
    size_t ndef;
    defined *def;
    int too_many;
} counts;

static int
collect_def(void *arg, const crm_seg_def *d)
{
    counts *c = arg;
    if (c->ndef == DEFINED_MAX) {
        c->too_many = 1;
        return 1;
    }
    defined *x = &c->def[c->ndef++];
    crm_segfilter_error e;
    snprintf(x->name, sizeof(x->name), "%.*s", (int)d->name_len, d->name);
    if (crm_segfilter_parse(d->filter, d->filter_len, index_key(c->log), &x->f,
                            &e) != 0)
        x->f = NULL;
    return 0;
}

static int
count_guest(void *arg, const crm_seg_guest *g)
{
    counts *c = arg;
    c->guests++;
    c->life[g->lifecycle]++;
    c->freq[g->frequency]++;
    c->value[g->value]++;
    c->churn[g->churn]++;
    c->rfm[0][g->rfm_r - 1]++;
    c->rfm[1][g->rfm_f - 1]++;
    c->rfm[2][g->rfm_m - 1]++;
    c->expiring += g->points_expiring > 0;
    size_t t = 0;
    while (t < c->ntiers && strcmp(c->tiers[t], g->tier) != 0)
        t++;
    if (t == c->ntiers && t < TIERS_SEEN_MAX)
        snprintf(c->tiers[c->ntiers++], sizeof(c->tiers[0]), "%s", g->tier);
    if (t < c->ntiers)
        c->tier_n[t]++;
    for (size_t i = 0; i < c->ndef; i++)
        if (c->def[i].f && crm_segfilter_eval(c->def[i].f, g))
            c->def[i].n++;
    return 0;
}

static void
pack_named(msgpack_packer *pk, const char *k, const char *const *names,
           const uint64_t *n, size_t count)
{
    crm_mp_pack_cstr(pk, k);
    msgpack_pack_map(pk, count);
    for (size_t i = 0; i < count; i++)
        KV_U64(pk, names[i], n[i]);
}

static int
counts_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    counts *c = arg;
    crm_settings *s = malloc(sizeof(*s));
    crm_seg_query q;
    if (s == NULL)
        return ENOMEM;
    int rc = query_for(c->log, txn, dbi, c->day, s, &q);
    if (rc == 0)
        rc = crm_segment_defs(txn, dbi[2], collect_def, c);
    if (rc != 0 || c->too_many)
        goto out;
    /* the tenant's tiers first, by rank, even when nobody holds them */
    for (size_t t = 0; t < s->ntiers && c->ntiers < TIERS_SEEN_MAX; t++)
        snprintf(c->tiers[c->ntiers++], sizeof(c->tiers[0]), "%s",
                 s->tiers[t].name);
    q.needs = CRM_SEG_NEED_ALL;
    if ((rc = crm_segment_scan(&q, NULL, 0, count_guest, c, NULL)) != 0)
        goto out;
    msgpack_packer *pk = c->pk;
    msgpack_pack_map(pk, 11);
    h_kv_day(pk, "on", c->day);
    KV_U64(pk, "guests", c->guests);
    pack_named(pk, "lifecycle", crm_seg_lifecycle_names, c->life, SEG_NLIFE);
    pack_named(pk, "frequency", crm_seg_frequency_names, c->freq, SEG_NFREQ);
    pack_named(pk, "value", crm_seg_value_names, c->value, SEG_NVALUE);
    pack_named(pk, "churn", crm_seg_churn_names, c->churn, SEG_NCHURN);
    crm_mp_pack_cstr(pk, "tier");
    msgpack_pack_map(pk, c->ntiers);
    for (size_t t = 0; t < c->ntiers; t++)
        KV_U64(pk, c->tiers[t], c->tier_n[t]);
    KV_U64(pk, "points_expiring", c->expiring);
    crm_mp_pack_cstr(pk, "rfm");
    msgpack_pack_map(pk, 3);
    static const char *const rfm[3] = {"r", "f", "m"};
    for (int d = 0; d < 3; d++) {
        crm_mp_pack_cstr(pk, rfm[d]);
        msgpack_pack_array(pk, 5);
        for (int v = 0; v < 5; v++)
            msgpack_pack_uint64(pk, c->rfm[d][v]);
    }
    crm_mp_pack_cstr(pk, "defined");
    msgpack_pack_map(pk, c->ndef);
    for (size_t i = 0; i < c->ndef; i++) {
        crm_mp_pack_cstr(pk, c->def[i].name);
        if (c->def[i].f)
            msgpack_pack_uint64(pk, c->def[i].n);
        else
            msgpack_pack_nil(pk);
    }
    KV_U64(pk, "as_of", position);
out:
    free(s);
    return rc;
}

crm_err
h_segment_counts(rpc_call *call, msgpack_packer *pk, crm_error *why,
                 rpc_flow *flow)
{
    crm_err err;
    (void)flow;
    counts *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->def = calloc(DEFINED_MAX, sizeof(*c->def))) == NULL) {
        free(c);
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    }
    c->log = call->log;
    c->pk = pk;
    if ((err = h_arg_day(call, "on", &c->day, why)) == CRM_OK)
        err = crm_log_proj_read(call->log, "segment", counts_fn, c, why);
    if (err == CRM_OK && c->too_many)
        err = crm_error_set(why, CRM_ERR_TOO_LARGE,
                            "the tenant defines more than %d segments",
                            DEFINED_MAX);
    for (size_t i = 0; i < c->ndef; i++)
        crm_segfilter_free(c->def[i].f);
    free(c->def);
    free(c);
    return err;
}

/* --- segment.members -------------------------------------------------------- */

typedef struct members {
    crm_log *log;
    msgpack_packer *pk;
    uint32_t day;
    const char *segment, *filter_text;
    size_t segment_len, filter_len;
    char builtin[128]; /* the filter a built-in stands for */
    const char *after;
    size_t after_len;
    size_t limit, n;
    size_t budget;           /* bytes the page's members may take */
    msgpack_sbuffer *buf;    /* where they go */
    int more, missing, bad;
    crm_segfilter_error err;
    crm_segfilter *f;
    char last[CRM_STREAM_MAX];
    size_t last_len;
    uint64_t scanned;
} members;

static int
member(void *arg, const crm_seg_guest *g)
{
    members *m = arg;
    if (!crm_segfilter_eval(m->f, g))
        return 0;
    if (m->n == m->limit || (m->n > 0 && m->buf->size > m->budget)) {
        m->more = 1;
        return 1;
    }
    msgpack_packer *pk = m->pk;
    int pop = (crm_segfilter_needs(m->f) & CRM_SEG_NEED_POP) != 0;
    msgpack_pack_map(pk, 11 + pop);
    kv_strn(pk, "id", g->id, g->id_len);
    KV_STR(pk, "lifecycle", crm_seg_lifecycle_names[g->lifecycle]);
    KV_STR(pk, "frequency", crm_seg_frequency_names[g->frequency]);
    if (pop)
        KV_STR(pk, "value", crm_seg_value_names[g->value]);
    KV_U64(pk, "stays", g->stays);
    KV_U64(pk, "nights", g->nights);
    KV_U64(pk, "nights_12m", g->nights_12m);
    KV_I64(pk, "spend", g->spend);
    KV_U64(pk, "orders", g->orders);
    h_kv_day(pk, "last_stay", g->last_stay);
    crm_mp_pack_cstr(pk, "days_since_stay");
    if (g->days_since_stay < 0)
        msgpack_pack_nil(pk);
    else
        msgpack_pack_int64(pk, g->days_since_stay);
    KV_STR(pk, "churn", crm_seg_churn_names[g->churn]);
    memcpy(m->last, g->id, g->id_len);
    m->last_len = g->id_len;
    m->n++;
    return 0;
}

/* The filter of a built-in "dimension:value" (or "points_expiring") into
 * m->builtin; 0, or -1 when there is no such segment. */
static int
builtin_filter(members *m)
{
    const char *s = m->segment;
    size_t n = m->segment_len;
    if (n == 15 && memcmp(s, "points_expiring", 15) == 0) {
        snprintf(m->builtin, sizeof(m->builtin), "points_expiring");
        return 0;
    }
    const char *colon = memchr(s, ':', n);
    if (colon == NULL)
        return -1;
    size_t dl = (size_t)(colon - s), vl = n - dl - 1;
    for (size_t i = 0; i < NDIMS; i++) {
        const struct dim *d = &dims[i];
        if (strlen(d->name) != dl || memcmp(d->name, s, dl) != 0)
            continue;
        if (d->numeric) {
            if (vl != 1 || colon[1] < '1' || colon[1] > '5')
                return -1;
            snprintf(m->builtin, sizeof(m->builtin), "%s = %c", d->name,
                     colon[1]);
            return 0;
        }
        if (vl == 0 || vl > CRM_SETTINGS_NAME_MAX ||
            memchr(colon + 1, '"', vl) || memchr(colon + 1, '\\', vl))
            return -1;
        int known = d->values == NULL; /* a tier: any name */
        for (size_t v = 0; !known && v < d->nvalues; v++)
            known = strlen(d->values[v]) == vl &&
                    memcmp(d->values[v], colon + 1, vl) == 0;
        if (!known)
            return -1;
        snprintf(m->builtin, sizeof(m->builtin), "%s = \"%.*s\"", d->name,
                 (int)vl, colon + 1);
        return 0;
    }
    return -1;
}

/* m->f from the filter asked for, the built-in named or the definition
 * in txn; m->missing or m->bad when there is none. 0 or an LMDB error. */
static int
resolve(members *m, MDB_txn *txn, const MDB_dbi *dbi)
{
    const char *text = m->filter_text;
    size_t tlen = m->filter_len;
    if (text == NULL && builtin_filter(m) == 0) {
        text = m->builtin;
        tlen = strlen(m->builtin);
    } else if (text == NULL) {
        crm_seg_def d;
        int rc = crm_segment_def_get(txn, dbi[2], m->segment, m->segment_len,
                                     &d);
        if (rc == MDB_NOTFOUND) {
            m->missing = 1;
            return 0;
        }
        if (rc != 0)
            return rc;
        text = d.filter;
        tlen = d.filter_len;
    }
    if (crm_segfilter_parse(text, tlen, index_key(m->log), &m->f, &m->err) !=
        0)
        m->bad = 1;
    return 0;
}

static int
members_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    members *m = arg;
    int rc0 = resolve(m, txn, dbi);
    if (rc0 != 0 || m->missing || m->bad)
        return rc0;
    crm_settings *s = malloc(sizeof(*s));
    crm_seg_query q;
    if (s == NULL)
        return ENOMEM;
    int rc = query_for(m->log, txn, dbi, m->day, s, &q);
    if (rc != 0)
        goto out;
    q.needs = crm_segfilter_needs(m->f);
    msgpack_packer *pk = m->pk;
    msgpack_pack_map(pk, 7);
    crm_mp_pack_cstr(pk, "segment");
    if (m->segment)
        crm_mp_pack_str(pk, m->segment, m->segment_len);
    else
        msgpack_pack_nil(pk);
    h_kv_day(pk, "on", m->day);
    crm_mp_pack_cstr(pk, "members");
    /* the array's length is known only once the page is full: its
     * entries go to a buffer of their own first, then follow their
     * header as they are */
    msgpack_sbuffer sb;
    msgpack_packer mpk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&mpk, &sb, msgpack_sbuffer_write);
    m->pk = &mpk;
    m->buf = &sb;
    rc = crm_segment_scan(&q, m->after, m->after_len, member, m, &m->scanned);
    m->pk = pk;
    msgpack_pack_array(pk, m->n);
    if (sb.size)
        msgpack_pack_str_body(pk, sb.data, sb.size); /* raw bytes */
    msgpack_sbuffer_destroy(&sb);
    crm_mp_pack_cstr(pk, "next");
    if (m->more) {
        char hex[2 * CRM_STREAM_MAX + 1];
        for (size_t i = 0; i < m->last_len; i++)
            snprintf(hex + 2 * i, 3, "%02x", (uint8_t)m->last[i]);
        crm_mp_pack_str(pk, hex, 2 * m->last_len);
    } else {
        msgpack_pack_nil(pk);
    }
    KV_BOOL(pk, "more", m->more);
    KV_U64(pk, "scanned", m->scanned);
    KV_U64(pk, "as_of", position);
out:
    free(s);
    return rc;
}

/* The cursor: the hex of the last id a page gave. */
static int
parse_cursor(const char *s, size_t n, char *out, size_t *len)
{
    if (n == 0 || n % 2 || n > 2 * CRM_STREAM_MAX)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = s[i + j];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        out[i / 2] = (char)v;
    }
    *len = n / 2;
    return 0;
}

/* The arguments segment.members and segment.export share: the segment
 * or filter, on, cursor (into m->after, whose buffer is after) and
 * limit; and the page's reply budget. */
static crm_err
page_args(rpc_call *call, members *m, char after[CRM_STREAM_MAX],
          int64_t limit_default, crm_error *why)
{
    const char *cursor;
    size_t clen;
    int64_t limit;
    crm_err err;
    if ((err = h_arg_str(call, "segment", 0, 128, &m->segment,
                         &m->segment_len, why)) != CRM_OK ||
        (err = h_arg_str(call, "filter", 0, CRM_SEG_FILTER_MAX,
                         &m->filter_text, &m->filter_len, why)) != CRM_OK ||
        (err = h_arg_str(call, "cursor", 0, 2 * CRM_STREAM_MAX, &cursor,
                         &clen, why)) != CRM_OK ||
        (err = h_arg_int(call, "limit", limit_default, 1, MEMBERS_MAX,
                         &limit, why)) != CRM_OK ||
        (err = h_arg_day(call, "on", &m->day, why)) != CRM_OK)
        return err;
    if ((m->segment == NULL) == (m->filter_text == NULL))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "%s needs one of 'segment' (a built-in "
                             "'dimension:value' or a defined name) or "
                             "'filter'",
                             call->op->name);
    if (cursor) {
        if (parse_cursor(cursor, clen, after, &m->after_len) != 0)
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "'cursor' is not one %s gave",
                                 call->op->name);
        m->after = after;
    }
    m->limit = (size_t)limit;
    /* in a batch, what earlier entries packed counts against the page */
    size_t used = nng_msg_len(call->c->rep);
    m->budget = used + MEMBERS_RESERVE < CRM_RPC_MAX_REPLY
                    ? CRM_RPC_MAX_REPLY - MEMBERS_RESERVE - used
                    : 0;
    return CRM_OK;
}

/* Turns what the read found wrong into the error. */
static crm_err
page_error(const members *m, crm_error *why)
{
    if (m->missing) {
        char q[CRM_UTF8_QUOTE_CAP];
        crm_utf8_quote(m->segment, m->segment_len, CRM_UTF8_QUOTE_MAX, q,
                       sizeof(q));
        return crm_error_set(why, CRM_ERR_NOT_FOUND,
                             "no segment '%s' (segment.list names them)", q);
    }
    if (m->bad)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "filter, column %zu at '%s': %s", m->err.column,
                             m->err.token, m->err.message);
    return CRM_OK;
}

crm_err
h_segment_members(rpc_call *call, msgpack_packer *pk, crm_error *why,
                  rpc_flow *flow)
{
    members *m = calloc(1, sizeof(*m));
    char after[CRM_STREAM_MAX];
    crm_err err;
    (void)flow;
    if (m == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    m->log = call->log;
    m->pk = pk;
    if ((err = page_args(call, m, after, MEMBERS_DEFAULT, why)) != CRM_OK)
        goto done;
    err = crm_log_proj_read(call->log, "segment", members_fn, m, why);
    if (err == CRM_OK)
        err = page_error(m, why);
done:
    crm_segfilter_free(m->f);
    free(m);
    return err;
}


/* --- segment.export --------------------------------------------------------- */

#define EXPORT_DEFAULT 500

/* What a mailing tool imports per channel: the address field first. */
static const char *const export_address[] = {"email", "phone", "phone",
                                             "address", NULL, "phone"};
static const char *const export_names[] = {"first_name", "last_name",
                                           "language"};

typedef struct exporter {
    members m;
    int channel;    /* index of crm_seg_channels */
    MDB_txn *txn;
    MDB_dbi customer;
    msgpack_zone *zone;
    crm_view view; /* what the caller sees of personal values */
    h_seen seen;   /* guests whose addresses or names went out */
    uint64_t no_consent, no_address;
    int rc, no_customer;
} exporter;

/* Packs guest id's profile field as the event that set it has it (nil
 * when none did or it cannot be read); *had whether it was there. */
/* The guest's marketing consents as views.h counts them: the segment row
 * keeps purpose 0 (marketing) of channel c at bit c * 4, in the same
 * channel order. */
static unsigned
marketing_channels(const crm_seg_guest *g)
{
    unsigned m = 0;
    for (unsigned c = 0; c < CRM_CH__COUNT; c++)
        if ((g->consent >> (c * 4)) & 1)
            m |= CRM_CH_BIT(c);
    return m;
}

static int
pack_field(exporter *x, const crm_seg_guest *g, const char *field, int *had)
{
    uint64_t pos;
    crm_record r;
    *had = 0;
    int rc = crm_customer_field_at(x->txn, x->customer, g->id, g->id_len,
                                   field, &pos);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    msgpack_zone_clear(x->zone);
    const msgpack_object *o = NULL;
    int personal = 0;
    if (rc == 0 && h_record_view(x->m.log, x->txn, pos, x->zone, &x->view,
                                 marketing_channels(g), &r, NULL) == 0) {
        o = crm_mp_get(&r.pii, field);
        personal = o != NULL;
        if (o == NULL)
            o = crm_mp_get(&r.body, field);
    }
    if (personal && crm_mp_is_str(o) && o->via.str.size > 0)
        h_seen_add(&x->seen, g->id, g->id_len);
    if (crm_mp_is_str(o) && o->via.str.size > 0) {
        *had = 1;
        return crm_mp_pack_str(x->m.pk, o->via.str.ptr, o->via.str.size) ? ENOMEM
                                                                          : 0;
    }
    return msgpack_pack_nil(x->m.pk) ? ENOMEM : 0;
}

static int
export_guest(void *arg, const crm_seg_guest *g)
{
    exporter *x = arg;
    members *m = &x->m;
    if (!crm_segfilter_eval(m->f, g))
        return 0;
    if (!((g->consent >> (x->channel * 4)) & 1)) {
        x->no_consent++;
        return 0;
    }
    const char *addr = export_address[x->channel];
    uint64_t pos = 0;
    if (addr) {
        int rc = crm_customer_field_at(x->txn, x->customer, g->id, g->id_len,
                                       addr, &pos);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            x->rc = rc;
            return 1;
        }
        if (pos == 0) {
            x->no_address++;
            return 0;
        }
    }
    if (m->n == m->limit || (m->n > 0 && m->buf->size > m->budget)) {
        m->more = 1;
        return 1;
    }
    size_t mark = m->buf->size;
    msgpack_pack_array(m->pk, 1 + (addr != NULL) + 3);
    crm_mp_pack_str(m->pk, g->id, g->id_len);
    int had = 1, rc = addr ? pack_field(x, g, addr, &had) : 0;
    for (size_t i = 0; rc == 0 && had && i < 3; i++) {
        int any;
        rc = pack_field(x, g, export_names[i], &any);
    }
    if (rc != 0) {
        x->rc = rc;
        return 1;
    }
    if (!had) {
        /* set once, unreadable now (an erasure under way): not a row */
        m->buf->size = mark;
        x->no_address++;
        return 0;
    }
    memcpy(m->last, g->id, g->id_len);
    m->last_len = g->id_len;
    m->n++;
    return 0;
}

static int
export_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    exporter *x = arg;
    members *m = &x->m;
    int rc = resolve(m, txn, dbi);
    if (rc != 0 || m->missing || m->bad)
        return rc;
    if ((rc = h_proj_db(m->log, txn, "customer", &x->customer)) ==
        MDB_NOTFOUND) {
        x->no_customer = 1; /* the addresses are the customer view's */
        return 0;
    }
    if (rc != 0)
        return rc;
    crm_settings *s = malloc(sizeof(*s));
    crm_seg_query q;
    if (s == NULL)
        return ENOMEM;
    if ((rc = query_for(m->log, txn, dbi, m->day, s, &q)) != 0)
        goto out;
    q.needs = crm_segfilter_needs(m->f);
    x->txn = txn;
    msgpack_packer *pk = m->pk;
    msgpack_sbuffer sb;
    msgpack_packer rpk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&rpk, &sb, msgpack_sbuffer_write);
    m->pk = &rpk;
    m->buf = &sb;
    rc = crm_segment_scan(&q, m->after, m->after_len, export_guest, x,
                          &m->scanned);
    if (rc == 0)
        rc = x->rc;
    m->pk = pk;
    if (rc != 0) {
        msgpack_sbuffer_destroy(&sb);
        goto out;
    }
    const char *addr = export_address[x->channel];
    msgpack_pack_map(pk, 12);
    crm_mp_pack_cstr(pk, "segment");
    if (m->segment)
        crm_mp_pack_str(pk, m->segment, m->segment_len);
    else
        msgpack_pack_nil(pk);
    KV_STR(pk, "channel", crm_seg_channels[x->channel]);
    h_kv_day(pk, "on", m->day);
    crm_mp_pack_cstr(pk, "columns");
    msgpack_pack_array(pk, 1 + (addr != NULL) + 3);
    crm_mp_pack_cstr(pk, "id");
    if (addr)
        crm_mp_pack_cstr(pk, addr);
    for (int i = 0; i < 3; i++)
        crm_mp_pack_cstr(pk, export_names[i]);
    crm_mp_pack_cstr(pk, "rows");
    msgpack_pack_array(pk, m->n);
    if (sb.size)
        msgpack_pack_str_body(pk, sb.data, sb.size); /* the rows as packed */
    msgpack_sbuffer_destroy(&sb);
    KV_U64(pk, "exported", m->n);
    KV_U64(pk, "no_consent", x->no_consent);
    KV_U64(pk, "no_address", x->no_address);
    crm_mp_pack_cstr(pk, "next");
    if (m->more) {
        char hex[2 * CRM_STREAM_MAX + 1];
        for (size_t i = 0; i < m->last_len; i++)
            snprintf(hex + 2 * i, 3, "%02x", (uint8_t)m->last[i]);
        crm_mp_pack_str(pk, hex, 2 * m->last_len);
    } else {
        msgpack_pack_nil(pk);
    }
    KV_BOOL(pk, "more", m->more);
    KV_U64(pk, "scanned", m->scanned);
    KV_U64(pk, "as_of", position);
out:
    free(s);
    return rc;
}

crm_err
h_segment_export(rpc_call *call, msgpack_packer *pk, crm_error *why,
                 rpc_flow *flow)
{
    exporter *x = calloc(1, sizeof(*x));
    char after[CRM_STREAM_MAX];
    const char *ch;
    size_t chl;
    crm_err err;
    (void)flow;
    if (x == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    x->m.log = call->log;
    x->m.pk = pk;
    x->zone = &call->c->scratch;
    h_view(call->c, &x->view);
    if ((err = page_args(call, &x->m, after, EXPORT_DEFAULT, why)) != CRM_OK ||
        (err = h_arg_str(call, "channel", 1, 16, &ch, &chl, why)) != CRM_OK)
        goto done;
    x->channel = -1;
    for (int i = 0; crm_seg_channels[i]; i++)
        if (crm_schema_name_eq(crm_seg_channels[i], ch, chl))
            x->channel = i;
    if (x->channel < 0) {
        err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                            "'channel' is one of email, sms, phone, post, "
                            "push, whatsapp");
        goto done;
    }
    err = crm_log_proj_read(call->log, "segment", export_fn, x, why);
    if (err == CRM_OK && x->no_customer)
        err = crm_error_set(why, CRM_ERR_UNAVAILABLE,
                            "this server keeps no 'customer' projection "
                            "(crmd --projections)");
    else if (err == CRM_OK)
        err = page_error(&x->m, why);
done:
    err = h_seen_done(call, &x->seen, err);
    crm_segfilter_free(x->m.f);
    free(x);
    return err;
}

/* --- segment.define --------------------------------------------------------- */

typedef struct def_read {
    const char *name;
    size_t len;
    int exists;
} def_read;

static int
def_exists(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    def_read *d = arg;
    crm_seg_def x;
    (void)position;
    int rc = crm_segment_def_get(txn, dbi[2], d->name, d->len, &x);
    d->exists = rc == 0;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
name_ok(const char *s, size_t n)
{
    if (n == 0 || n > CRM_SEG_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

crm_err
h_segment_define(rpc_call *call, msgpack_packer *pk, crm_error *why,
                 rpc_flow *flow)
{
    const char *name, *filter, *desc;
    size_t nl, fl, dl;
    int drop;
    crm_err err;
    (void)pk;
    if ((err = h_arg_str(call, "name", 1, 64, &name, &nl, why)) != CRM_OK ||
        (err = h_arg_str(call, "filter", 0, CRM_SEG_FILTER_MAX, &filter, &fl,
                         why)) != CRM_OK ||
        (err = h_arg_str(call, "description", 0, CRM_SEG_DESC_MAX, &desc, &dl,
                         why)) != CRM_OK ||
        (err = h_arg_bool(call, "drop", &drop, why)) != CRM_OK)
        return err;
    if (!name_ok(name, nl))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'name' is 1..%d of [a-z0-9_-] (built-in "
                             "segments are 'dimension:value')",
                             CRM_SEG_NAME_MAX);
    if (nl == 15 && memcmp(name, "points_expiring", 15) == 0)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'points_expiring' is a built-in segment");
    if (drop && (filter || desc))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'drop' takes only the 'name'");
    if (!drop && filter == NULL)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "segment.define needs argument 'filter' (or "
                             "'drop': true)");
    if (desc && (dl == 0 || memchr(desc, '\0', dl)))
        desc = NULL;
    if (filter) {
        crm_segfilter *f;
        crm_segfilter_error e;
        if (memchr(filter, '\0', fl))
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "'filter' holds a NUL byte");
        if (crm_segfilter_parse(filter, fl, index_key(call->log), &f, &e) !=
            0)
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "filter, column %zu at '%s': %s", e.column,
                                 e.token, e.message);
        crm_segfilter_free(f);
    } else {
        def_read d = {name, nl, 0};
        if ((err = crm_log_proj_read(call->log, "segment", def_exists, &d,
                                     why)) != CRM_OK)
            return err;
        if (!d.exists)
            return crm_error_set(why, CRM_ERR_NOT_FOUND,
                                 "no segment '%.*s' to drop", (int)nl, name);
    }
    /* one event of $tenant, as settings.set writes its own */
    msgpack_sbuffer sb;
    msgpack_packer p;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&p, &sb, msgpack_sbuffer_write);
    uint8_t id[16];
    crm_uuid_v7(id);
    msgpack_pack_array(&p, 1);
    msgpack_pack_map(&p, 5);
    crm_mp_pack_cstr(&p, "id");
    msgpack_pack_bin(&p, 16);
    msgpack_pack_bin_body(&p, id, 16);
    KV_STR(&p, "stream", CRM_TENANT_STREAM);
    KV_STR(&p, "type", drop ? "tenant.segment_dropped"
                            : "tenant.segment_defined");
    KV_I64(&p, "occurred_at", crm_now_us());
    crm_mp_pack_cstr(&p, "body");
    msgpack_pack_map(&p, drop ? 1 : 2 + (desc != NULL));
    kv_strn(&p, "name", name, nl);
    if (!drop) {
        kv_strn(&p, "filter", filter, fl);
        if (desc)
            kv_strn(&p, "description", desc, dl);
    }
    msgpack_object evs;
    size_t off = 0;
    if (msgpack_unpack(sb.data, sb.size, &off, &call->c->zone, &evs) !=
        MSGPACK_UNPACK_SUCCESS)
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
    else
        err = h_submit_events(call, &evs, NULL, 1, why, flow);
    msgpack_sbuffer_destroy(&sb);
    return err;
}
