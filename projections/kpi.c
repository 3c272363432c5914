/* kpi.c - the KPI projection: guests' events folded into per-month
 * aggregates of the tenant and of each property, and a range of them
 * packed when asked (kpi.h). */
#include "kpi.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "be.h"
#include "decimal.h"
#include "rpc.h"
#include "schema.h"
#include "settings.h"

#define STR_MAX 64 /* properties, campaigns, booking and complaint ids */
#define AGG_KEY_MAX (1 + STR_MAX + 1 + 4)
#define GUEST_KEY_MAX (CRM_STREAM_MAX + 2 + STR_MAX + 1 + 4)
#define HOUR_US 3600000000ULL

/* booking and complaint flags */
enum { BK_CREATED = 1, BK_CHECKED_IN = 2 };
enum { CP_OPENED = 1, CP_RESOLVED = 2 };
#define BOOKING_MIN 6    /* flags, month, len */
#define COMPLAINT_MIN 18 /* flags, opened at, resolved at, len */

enum {
    T_ERASED,
    T_BOOKED,
    T_CHECKED_IN,
    T_CHECKED_OUT,
    T_SPEND,
    T_SURVEY,
    T_OPENED,
    T_RESOLVED,
    T_SENT,
    T_MSG_OPENED,
    T_CLICKED,
    T_OTHER
};

static const char *const types[T_OTHER] = {
    "customer.erased",          "booking.created",
    "stay.checked_in",          "stay.checked_out",
    "spend.recorded",           "feedback.survey_submitted",
    "complaint.opened",         "complaint.resolved",
    "marketing.message_sent",   "marketing.message_opened",
    "marketing.message_clicked"};

/* --- months --------------------------------------------------------------- */

uint32_t
crm_kpi_month_of(int64_t us)
{
    return crm_settings_day_of(us) / 100;
}

static int
month_valid(uint32_t m)
{
    return m % 100 >= 1 && m % 100 <= 12 && m / 100 >= 1 && m / 100 <= 9999;
}

uint32_t
crm_kpi_month(const char *t, size_t len)
{
    if (len != 7 || t[4] != '-')
        return 0;
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (i == 4)
            continue;
        if (t[i] < '0' || t[i] > '9')
            return 0;
        v = v * 10 + (uint32_t)(t[i] - '0');
    }
    return month_valid(v) ? v : 0;
}

static uint32_t
month_next(uint32_t m)
{
    return m % 100 == 12 ? (m / 100 + 1) * 100 + 1 : m + 1;
}

/* --- reading the event ---------------------------------------------------- */

static int64_t
body_int(const crm_record *r, const char *name, int64_t min, int64_t max,
         int64_t def)
{
    int64_t v;
    return crm_mp_int(crm_mp_get(&r->body, name), min, max, &v) == 0 ? v : def;
}

/* The body's string name if it is 1..max bytes without NUL (keys use NUL
 * to end a scope), else NULL. */
static const char *
body_str(const crm_record *r, const char *name, size_t max, size_t *len)
{
    const msgpack_object *o = crm_mp_get(&r->body, name);
    *len = 0;
    if (!crm_mp_is_str(o) || o->via.str.size == 0 || o->via.str.size > max ||
        memchr(o->via.str.ptr, 0, o->via.str.size) != NULL)
        return NULL;
    *len = o->via.str.size;
    return o->via.str.ptr;
}

/* --- keys ----------------------------------------------------------------- */

/* tag scope 0 n (nlen bytes); its length. */
static size_t
agg_key(uint8_t *k, uint8_t tag, const char *scope, size_t slen, uint64_t n,
        int nlen)
{
    k[0] = tag;
    if (slen)
        memcpy(k + 1, scope, slen);
    k[1 + slen] = 0;
    crm_put_be(k + 2 + slen, n, nlen);
    return 2 + slen + (size_t)nlen;
}

/* id 0 tag sfx; its length. */
static size_t
guest_key(uint8_t *k, const crm_record *r, uint8_t tag, const void *sfx,
          size_t slen)
{
    memcpy(k, r->stream, r->stream_len);
    k[r->stream_len] = 0;
    k[r->stream_len + 1] = tag;
    if (slen)
        memcpy(k + r->stream_len + 2, sfx, slen);
    return r->stream_len + 2 + slen;
}

/* id 0 tag scope 0 [month]; its length. */
static size_t
guest_scope_key(uint8_t *k, const crm_record *r, uint8_t tag, const char *scope,
                size_t slen, uint32_t month, int with)
{
    size_t n = guest_key(k, r, tag, scope, slen);
    k[n++] = 0;
    if (with) {
        crm_put_be(k + n, month, 4);
        n += 4;
    }
    return n;
}

/* --- what one event adds -------------------------------------------------- */

/* Counters are added as u64 that wrap, the stored form of signed ones. */
typedef struct delta {
    char scope[STR_MAX];
    size_t slen;
    uint32_t month;
    uint64_t d[KPI_F_N];
} delta;

/* An event touches at most two months (the one it happened in and an
 * earlier first stay or order, or an opening and a resolution) of two
 * scopes. */
#define DELTAS 4

typedef struct fold {
    const crm_proj_ctx *cx;
    const crm_record *r;
    size_t n;
    delta d[DELTAS];
} fold;

/* The counters an event adds to scope's month. */
static uint64_t *
at(fold *f, const char *scope, size_t slen, uint32_t month)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->d[i].month == month && f->d[i].slen == slen &&
            memcmp(f->d[i].scope, scope, slen) == 0)
            return f->d[i].d;
    assert(f->n < DELTAS);
    delta *d = &f->d[f->n++];
    memset(d, 0, sizeof(*d));
    if (slen)
        memcpy(d->scope, scope, slen);
    d->slen = slen;
    d->month = month;
    return d->d;
}

static int
add_year(const crm_proj_ctx *cx, const delta *d, uint64_t revenue,
         uint64_t spenders)
{
    uint8_t kb[AGG_KEY_MAX], vb[16] = {0};
    MDB_val k = {agg_key(kb, 'y', d->scope, d->slen, d->month / 100, 2), kb}, v;
    int rc = mdb_get(cx->txn, cx->dbi[0], &k, &v);
    if (rc == 0 && v.mv_size == 16)
        memcpy(vb, v.mv_data, 16);
    else if (rc == 0)
        return MDB_CORRUPTED;
    else if (rc != MDB_NOTFOUND)
        return rc;
    crm_put_be(vb, crm_get_be(vb, 8) + revenue, 8);
    crm_put_be(vb + 8, crm_get_be(vb + 8, 8) + spenders, 8);
    v.mv_size = 16;
    v.mv_data = vb;
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

/* The property has something in month: widens its first and last. */
static int
seen(const crm_proj_ctx *cx, const delta *d)
{
    uint8_t kb[1 + STR_MAX], vb[8];
    kb[0] = 'p';
    memcpy(kb + 1, d->scope, d->slen);
    MDB_val k = {1 + d->slen, kb}, v;
    int rc = mdb_get(cx->txn, cx->dbi[0], &k, &v);
    uint32_t first = d->month, last = d->month;
    if (rc == 0 && v.mv_size == 8) {
        first = (uint32_t)crm_get_be(v.mv_data, 4);
        last = (uint32_t)crm_get_be((const uint8_t *)v.mv_data + 4, 4);
        if (d->month >= first && d->month <= last)
            return 0;
        first = d->month < first ? d->month : first;
        last = d->month > last ? d->month : last;
    } else if (rc == 0) {
        return MDB_CORRUPTED;
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    crm_put_be(vb, first, 4);
    crm_put_be(vb + 4, last, 4);
    v.mv_size = 8;
    v.mv_data = vb;
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

/* Adds d to its aggregate, its year and its property's months. A delta
 * of zeros writes nothing, so an ignored event leaves no trace. */
static int
flush(const crm_proj_ctx *cx, const delta *d)
{
    int any = 0;
    for (int i = 0; i < KPI_F_N && !any; i++)
        any = d->d[i] != 0;
    if (!any)
        return 0;
    uint8_t kb[AGG_KEY_MAX], vb[CRM_KPI_AGG_LEN] = {0};
    MDB_val k = {agg_key(kb, 'm', d->scope, d->slen, d->month, 4), kb}, v;
    int rc = mdb_get(cx->txn, cx->dbi[0], &k, &v);
    if (rc == 0) {
        if (v.mv_size != CRM_KPI_AGG_LEN ||
            ((const uint8_t *)v.mv_data)[0] != 1)
            return MDB_CORRUPTED;
        memcpy(vb, v.mv_data, CRM_KPI_AGG_LEN);
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    vb[0] = 1;
    for (int i = 0; i < KPI_F_N; i++)
        crm_put_be(vb + 1 + 8 * i, crm_get_be(vb + 1 + 8 * i, 8) + d->d[i], 8);
    v.mv_size = CRM_KPI_AGG_LEN;
    v.mv_data = vb;
    if ((rc = mdb_put(cx->txn, cx->dbi[0], &k, &v, 0)) != 0)
        return rc;
    uint64_t revenue = d->d[KPI_F_ORDER_VALUE] - d->d[KPI_F_REFUND_VALUE];
    if ((revenue || d->d[KPI_F_NEW_SPENDERS]) &&
        (rc = add_year(cx, d, revenue, d->d[KPI_F_NEW_SPENDERS])) != 0)
        return rc;
    return d->slen ? seen(cx, d) : 0;
}

/* --- stays ---------------------------------------------------------------- */

static int
stays_in(const fold *f, const char *scope, size_t slen, uint32_t month,
         uint32_t *n)
{
    uint8_t kb[GUEST_KEY_MAX];
    MDB_val k = {guest_scope_key(kb, f->r, 's', scope, slen, month, 1), kb}, v;
    int rc = mdb_get(f->cx->txn, f->cx->dbi[1], &k, &v);
    *n = rc == 0 && v.mv_size == 4 ? (uint32_t)crm_get_be(v.mv_data, 4) : 0;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The guest's first month with a stay at scope; 0 for none. */
static int
first_stay(const fold *f, const char *scope, size_t slen, uint32_t *first)
{
    uint8_t kb[GUEST_KEY_MAX];
    size_t plen = guest_scope_key(kb, f->r, 's', scope, slen, 0, 0);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(f->cx->txn, f->cx->dbi[1], &cur);
    if (rc != 0)
        return rc;
    MDB_val k = {plen, kb}, v;
    *first = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && k.mv_size == plen + 4 && memcmp(k.mv_data, kb, plen) == 0)
        *first = (uint32_t)crm_get_be((const uint8_t *)k.mv_data + plen, 4);
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* A stay at scope in month m. With c stays there that month before it
 * and F the first month with one, the guest was a stayer if c > 0 and a
 * repeater if also c >= 2 or F < m; after it, a stayer and a repeater if
 * c + 1 >= 2 or F < m. A stay before F makes F's single stay a second
 * one: F's month gains a repeater. */
static int
fold_stay(fold *f, const char *scope, size_t slen, uint32_t m, int64_t nights)
{
    uint32_t c, first, at_first = 0;
    int rc;
    if ((rc = stays_in(f, scope, slen, m, &c)) != 0 ||
        (rc = first_stay(f, scope, slen, &first)) != 0)
        return rc;
    int earlier = first != 0 && first < m;
    uint64_t stayer = c > 0, repeater = c > 0 && (c >= 2 || earlier);
    uint64_t *d = at(f, scope, slen, m);
    d[KPI_F_STAYS]++;
    d[KPI_F_NIGHTS] += (uint64_t)nights;
    d[KPI_F_STAYERS] += 1 - stayer;
    d[KPI_F_REPEATERS] += (uint64_t)(c + 1 >= 2 || earlier) - repeater;
    if (first != 0 && m < first) {
        if ((rc = stays_in(f, scope, slen, first, &at_first)) != 0)
            return rc;
        if (at_first == 1)
            at(f, scope, slen, first)[KPI_F_REPEATERS]++;
    }
    uint8_t kb[GUEST_KEY_MAX], vb[4];
    crm_put_be(vb, c + 1, 4);
    MDB_val k = {guest_scope_key(kb, f->r, 's', scope, slen, m, 1), kb},
            v = {4, vb};
    return mdb_put(f->cx->txn, f->cx->dbi[1], &k, &v, 0);
}

/* --- spend ---------------------------------------------------------------- */

/* An order at scope in month m: the guest's first order there moves to
 * m if m is earlier (or there was none), and new_spenders with it. */
static int
fold_order(fold *f, const char *scope, size_t slen, uint32_t m)
{
    uint8_t kb[GUEST_KEY_MAX], vb[4];
    MDB_val k = {guest_key(kb, f->r, 'f', scope, slen), kb}, v;
    int rc = mdb_get(f->cx->txn, f->cx->dbi[1], &k, &v);
    uint32_t first = 0;
    if (rc == 0 && v.mv_size == 4)
        first = (uint32_t)crm_get_be(v.mv_data, 4);
    else if (rc == 0)
        return MDB_CORRUPTED;
    else if (rc != MDB_NOTFOUND)
        return rc;
    if (first != 0 && first <= m)
        return 0;
    if (first != 0)
        at(f, scope, slen, first)[KPI_F_NEW_SPENDERS]--;
    at(f, scope, slen, m)[KPI_F_NEW_SPENDERS]++;
    crm_put_be(vb, m, 4);
    v.mv_size = 4;
    v.mv_data = vb;
    return mdb_put(f->cx->txn, f->cx->dbi[1], &k, &v, 0);
}

static int
fold_spend(fold *f, uint32_t day, uint32_t m, const char *prop, size_t pl)
{
    size_t cl;
    const char *cur = body_str(f->r, "currency", 3, &cl);
    int64_t amount = body_int(f->r, "amount", INT64_MIN, INT64_MAX, 0);
    if (cur == NULL || cl != 3 || amount == 0)
        return 0;
    char c[4];
    memcpy(c, cur, 3);
    c[3] = '\0';
    const crm_settings *s;
    int rc = crm_settings_for(f->cx, day, f->r->h.position, &s);
    if (rc != 0)
        return rc;
    int64_t rate = crm_settings_rate_get(s, c);
    int64_t base = rate > 0 ? crm_settings_convert(amount, rate) : 0;
    for (int i = 0; i < (pl ? 2 : 1) && rc == 0; i++) {
        const char *sc = i ? prop : "";
        size_t sl = i ? pl : 0;
        uint64_t *d = at(f, sc, sl, m);
        if (rate <= 0) {
            d[KPI_F_UNCONVERTED]++;
        } else if (base > 0) {
            d[KPI_F_ORDERS]++;
            d[KPI_F_ORDER_VALUE] += (uint64_t)base;
            rc = fold_order(f, sc, sl, m);
        } else if (base < 0) {
            d[KPI_F_REFUNDS]++;
            d[KPI_F_REFUND_VALUE] += 0 - (uint64_t)base;
        }
    }
    return rc;
}

/* --- bookings ------------------------------------------------------------- */

typedef struct booking {
    uint8_t flags;
    uint32_t month;
    size_t plen;
    char property[STR_MAX];
} booking;

/* A booking.created (checked_in 0) or a check-in naming booking id bid:
 * the booking counts in the month it was created once it is created,
 * and converted once both are in, whichever came first. */
static int
fold_booking(fold *f, const char *bid, size_t bl, int checked_in, uint32_t m,
             const char *prop, size_t pl)
{
    uint8_t kb[GUEST_KEY_MAX], vb[BOOKING_MIN + STR_MAX];
    MDB_val k = {guest_key(kb, f->r, 'b', bid, bl), kb}, v;
    booking b = {0};
    int rc = mdb_get(f->cx->txn, f->cx->dbi[1], &k, &v);
    if (rc == 0) {
        const uint8_t *p = v.mv_data;
        if (v.mv_size < BOOKING_MIN || p[5] > STR_MAX ||
            v.mv_size != (size_t)BOOKING_MIN + p[5])
            return MDB_CORRUPTED;
        b.flags = p[0];
        b.month = (uint32_t)crm_get_be(p + 1, 4);
        b.plen = p[5];
        memcpy(b.property, p + BOOKING_MIN, b.plen);
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    uint8_t bit = checked_in ? BK_CHECKED_IN : BK_CREATED;
    if (b.flags & bit)
        return 0; /* the first recorded counts */
    b.flags |= bit;
    if (!checked_in) {
        b.month = m;
        b.plen = pl;
        if (pl)
            memcpy(b.property, prop, pl);
        at(f, "", 0, m)[KPI_F_BOOKINGS]++;
        if (pl)
            at(f, prop, pl, m)[KPI_F_BOOKINGS]++;
    }
    if (b.flags == (BK_CREATED | BK_CHECKED_IN)) {
        at(f, "", 0, b.month)[KPI_F_CONVERTED]++;
        if (b.plen)
            at(f, b.property, b.plen, b.month)[KPI_F_CONVERTED]++;
    }
    vb[0] = b.flags;
    crm_put_be(vb + 1, b.month, 4);
    vb[5] = (uint8_t)b.plen;
    memcpy(vb + BOOKING_MIN, b.property, b.plen);
    v.mv_size = BOOKING_MIN + b.plen;
    v.mv_data = vb;
    return mdb_put(f->cx->txn, f->cx->dbi[1], &k, &v, 0);
}

/* --- complaints ----------------------------------------------------------- */

/* The histogram bucket of a resolution taking us µs (kpi.h). */
static int
bucket(uint64_t us)
{
    uint64_t h = us / HOUR_US;
    if (h < 24)
        return (int)h;
    return h / 24 <= 30 ? 23 + (int)(h / 24) : KPI_HIST_N - 1;
}

/* An opening or a resolution of complaint cid: opened counts in the
 * opening's month; resolved, with its time, in the resolution's once
 * both are in. */
static int
fold_complaint(fold *f, const char *cid, size_t cl, int resolved,
               const char *prop, size_t pl)
{
    uint8_t kb[GUEST_KEY_MAX], vb[COMPLAINT_MIN + STR_MAX];
    MDB_val k = {guest_key(kb, f->r, 'k', cid, cl), kb}, v;
    int rc = mdb_get(f->cx->txn, f->cx->dbi[1], &k, &v);
    size_t plen = 0;
    memset(vb, 0, COMPLAINT_MIN);
    if (rc == 0) {
        const uint8_t *p = v.mv_data;
        if (v.mv_size < COMPLAINT_MIN || p[17] > STR_MAX ||
            v.mv_size != (size_t)COMPLAINT_MIN + p[17])
            return MDB_CORRUPTED;
        memcpy(vb, p, v.mv_size);
        plen = p[17];
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    uint8_t bit = resolved ? CP_RESOLVED : CP_OPENED;
    if (vb[0] & bit)
        return 0; /* the first recorded counts */
    vb[0] |= bit;
    crm_put_be(vb + (resolved ? 9 : 1), (uint64_t)f->r->occurred_at, 8);
    if (!resolved) {
        uint32_t m = crm_kpi_month_of(f->r->occurred_at);
        plen = pl;
        if (pl)
            memcpy(vb + COMPLAINT_MIN, prop, pl);
        vb[17] = (uint8_t)pl;
        at(f, "", 0, m)[KPI_F_OPENED]++;
        if (pl)
            at(f, prop, pl, m)[KPI_F_OPENED]++;
    }
    if (vb[0] == (CP_OPENED | CP_RESOLVED)) {
        int64_t opened = (int64_t)crm_get_be(vb + 1, 8),
                done = (int64_t)crm_get_be(vb + 9, 8);
        int b = bucket(done > opened ? (uint64_t)done - (uint64_t)opened : 0);
        uint32_t m = crm_kpi_month_of(done);
        uint64_t *d = at(f, "", 0, m);
        d[KPI_F_RESOLVED]++;
        d[KPI_F_HIST + b]++;
        if (plen) {
            d = at(f, (const char *)vb + COMPLAINT_MIN, plen, m);
            d[KPI_F_RESOLVED]++;
            d[KPI_F_HIST + b]++;
        }
    }
    v.mv_size = COMPLAINT_MIN + plen;
    v.mv_data = vb;
    return mdb_put(f->cx->txn, f->cx->dbi[1], &k, &v, 0);
}

/* --- campaigns ------------------------------------------------------------ */

static int
fold_message(fold *f, int t, uint32_t m)
{
    size_t cl;
    const char *c = body_str(f->r, "campaign", STR_MAX, &cl);
    int slot = t == T_SENT ? 0 : t == T_MSG_OPENED ? 1 : 2;
    at(f, "", 0, m)[slot == 0   ? KPI_F_SENT
                    : slot == 1 ? KPI_F_MSG_OPENED
                                : KPI_F_CLICKED]++;
    if (c == NULL)
        return 0;
    uint8_t kb[5 + STR_MAX], vb[24] = {0};
    kb[0] = 'c';
    crm_put_be(kb + 1, m, 4);
    memcpy(kb + 5, c, cl);
    MDB_val k = {5 + cl, kb}, v;
    int rc = mdb_get(f->cx->txn, f->cx->dbi[0], &k, &v);
    if (rc == 0 && v.mv_size == 24)
        memcpy(vb, v.mv_data, 24);
    else if (rc == 0)
        return MDB_CORRUPTED;
    else if (rc != MDB_NOTFOUND)
        return rc;
    crm_put_be(vb + 8 * slot, crm_get_be(vb + 8 * slot, 8) + 1, 8);
    v.mv_size = 24;
    v.mv_data = vb;
    return mdb_put(f->cx->txn, f->cx->dbi[0], &k, &v, 0);
}

/* --- erasure -------------------------------------------------------------- */

/* The guest's state goes (the aggregates keep what it added); the marker
 * stays, so that nothing recorded later counts as a new guest's. */
static int
fold_erased(const crm_proj_ctx *cx, const crm_record *r)
{
    int rc = crm_proj_del_stream(cx->txn, cx->dbi[1], r->stream,
                                 r->stream_len);
    if (rc != 0)
        return rc;
    uint8_t kb[GUEST_KEY_MAX], vb[8];
    crm_put_be(vb, r->h.position, 8);
    MDB_val k = {guest_key(kb, r, 'x', NULL, 0), kb}, v = {8, vb};
    return mdb_put(cx->txn, cx->dbi[1], &k, &v, 0);
}

/* --- the fold ------------------------------------------------------------- */

static int
kpi_apply(const crm_proj_ctx *cx, const crm_record *r)
{
    if (r->stream_len == 0 || r->stream_len > CRM_STREAM_MAX ||
        r->stream[0] == '$')
        return 0;
    int t = 0;
    while (t < T_OTHER && !crm_schema_name_eq(types[t], r->type, r->type_len))
        t++;
    if (t == T_OTHER)
        return 0;
    uint8_t kb[GUEST_KEY_MAX];
    MDB_val k = {guest_key(kb, r, 'x', NULL, 0), kb}, v;
    int rc = mdb_get(cx->txn, cx->dbi[1], &k, &v);
    if (rc != MDB_NOTFOUND)
        return rc; /* erased (0): nothing more counts; or an error */
    if (t == T_ERASED)
        return fold_erased(cx, r);

    fold f;
    f.cx = cx;
    f.r = r;
    f.n = 0;
    uint32_t day = crm_settings_day_of(r->occurred_at), m = day / 100;
    if (!month_valid(m))
        return 0; /* no query could ask for it (years 1..9999) */
    size_t pl, il;
    const char *prop = body_str(r, "property", STR_MAX, &pl);
    const char *id;
    rc = 0;
    switch (t) {
    case T_BOOKED:
        if ((id = body_str(r, "booking_id", STR_MAX, &il)) != NULL)
            rc = fold_booking(&f, id, il, 0, m, prop, pl);
        break;
    case T_CHECKED_IN:
        if ((id = body_str(r, "booking_id", STR_MAX, &il)) != NULL)
            rc = fold_booking(&f, id, il, 1, m, NULL, 0);
        break;
    case T_CHECKED_OUT: {
        int64_t nights = body_int(r, "nights", 0, INT32_MAX, 0);
        rc = fold_stay(&f, "", 0, m, nights);
        if (rc == 0 && pl)
            rc = fold_stay(&f, prop, pl, m, nights);
        break;
    }
    case T_SPEND:
        rc = fold_spend(&f, day, m, prop, pl);
        break;
    case T_SURVEY: {
        int64_t nps = body_int(r, "nps", 0, 10, -1),
                csat = body_int(r, "csat", 1, 5, 0);
        for (int i = 0; i < (pl ? 2 : 1); i++) {
            uint64_t *d = at(&f, i ? prop : "", i ? pl : 0, m);
            if (nps >= 9)
                d[KPI_F_PROMOTERS]++;
            else if (nps >= 7)
                d[KPI_F_PASSIVES]++;
            else if (nps >= 0)
                d[KPI_F_DETRACTORS]++;
            if (csat) {
                d[KPI_F_CSAT_N]++;
                d[KPI_F_CSAT_SUM] += (uint64_t)csat;
            }
        }
        break;
    }
    case T_OPENED:
    case T_RESOLVED:
        if ((id = body_str(r, "complaint_id", STR_MAX, &il)) != NULL)
            rc = fold_complaint(&f, id, il, t == T_RESOLVED,
                                t == T_OPENED ? prop : NULL,
                                t == T_OPENED ? pl : 0);
        break;
    default: /* the marketing messages */
        rc = fold_message(&f, t, m);
        break;
    }
    for (size_t i = 0; i < f.n && rc == 0; i++)
        rc = flush(cx, &f.d[i]);
    return rc;
}

const crm_proj_def crm_proj_kpi = {
    .name = "kpi",
    .format = 1,
    .ndbs = 2,
    .dbs = {"agg", "guest"},
    .apply = kpi_apply,
};

/* --- the query ------------------------------------------------------------ */

typedef struct row {
    uint64_t v[KPI_F_N];
} row;

/* Adds scope's aggregate of month to x (nothing if there is none). */
static int
row_add(MDB_txn *txn, MDB_dbi db, const char *scope, size_t slen,
        uint32_t month, row *x)
{
    uint8_t kb[AGG_KEY_MAX];
    MDB_val k = {agg_key(kb, 'm', scope, slen, month, 4), kb}, v;
    int rc = mdb_get(txn, db, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    const uint8_t *p = v.mv_data;
    if (v.mv_size != CRM_KPI_AGG_LEN || p[0] != 1)
        return MDB_CORRUPTED;
    for (int i = 0; i < KPI_F_N; i++)
        x->v[i] += crm_get_be(p + 1 + 8 * i, 8);
    return 0;
}

/* Revenue and new spenders of scope's years before year. */
static int
years_before(MDB_txn *txn, MDB_dbi db, const char *scope, size_t slen,
             uint32_t year, uint64_t *revenue, uint64_t *spenders)
{
    uint8_t kb[AGG_KEY_MAX];
    size_t klen = agg_key(kb, 'y', scope, slen, 0, 2), plen = klen - 2;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db, &cur);
    if (rc != 0)
        return rc;
    MDB_val k = {klen, kb}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *p = k.mv_data;
        if (k.mv_size != klen || memcmp(p, kb, plen) != 0 ||
            crm_get_be(p + plen, 2) >= year)
            break;
        if (v.mv_size != 16) {
            rc = MDB_CORRUPTED;
            break;
        }
        *revenue += crm_get_be(v.mv_data, 8);
        *spenders += crm_get_be((const uint8_t *)v.mv_data + 8, 8);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The campaigns of the tenant, summed over the range: kept sorted as
 * LMDB orders their keys. */
typedef struct campaign {
    size_t len;
    char name[STR_MAX];
    uint64_t v[3];
} campaign;

typedef struct campaigns {
    campaign *a;
    size_t n, cap;
} campaigns;

static int
name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : al < bl ? -1 : al > bl;
}

static int
campaigns_add(campaigns *c, const char *name, size_t len, const uint64_t v[3])
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = name_cmp(c->a[mid].name, c->a[mid].len, name, len);
        if (cmp == 0) {
            for (int i = 0; i < 3; i++)
                c->a[mid].v[i] += v[i];
            return 0;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        campaign *a = realloc(c->a, cap * sizeof(*a));
        if (a == NULL)
            return ENOMEM;
        c->a = a;
        c->cap = cap;
    }
    memmove(&c->a[lo + 1], &c->a[lo], (c->n - lo) * sizeof(*c->a));
    c->a[lo].len = len;
    memcpy(c->a[lo].name, name, len);
    memcpy(c->a[lo].v, v, sizeof(c->a[lo].v));
    c->n++;
    return 0;
}

/* The packer and whether a write to it failed. */
typedef struct out {
    msgpack_packer *pk;
    int bad;
} out;

static void
key(out *w, const char *k)
{
    w->bad |= crm_mp_pack_cstr(w->pk, k);
}

static void
kv_u64(out *w, const char *k, uint64_t v)
{
    key(w, k);
    w->bad |= msgpack_pack_uint64(w->pk, v);
}

static void
kv_i64(out *w, const char *k, uint64_t v)
{
    key(w, k);
    w->bad |= msgpack_pack_int64(w->pk, (int64_t)v);
}

static void
kv_ratio(out *w, const char *k, double num, uint64_t den)
{
    key(w, k);
    w->bad |= den ? msgpack_pack_double(w->pk, num / (double)den)
                  : msgpack_pack_nil(w->pk);
}

static void
kv_month(out *w, const char *k, uint32_t m)
{
    char t[8];
    t[0] = (char)('0' + m / 100000 % 10);
    t[1] = (char)('0' + m / 10000 % 10);
    t[2] = (char)('0' + m / 1000 % 10);
    t[3] = (char)('0' + m / 100 % 10);
    t[4] = '-';
    t[5] = (char)('0' + m / 10 % 10);
    t[6] = (char)('0' + m % 10);
    key(w, k);
    w->bad |= crm_mp_pack_str(w->pk, t, 7);
}

/* a / b (b > 0) to the nearest integer, halves away from zero. */
static int64_t
div_round(int64_t a, int64_t b)
{
    int64_t q = a / b, r = a % b;
    uint64_t ar = r < 0 ? 0 - (uint64_t)r : (uint64_t)r;
    if (ar >= (uint64_t)b - ar)
        q += a < 0 ? -1 : 1;
    return q;
}

static void
kv_average(out *w, const char *k, uint64_t sum, uint64_t n)
{
    key(w, k);
    w->bad |=
        (int64_t)n > 0
            ? msgpack_pack_int64(w->pk, div_round((int64_t)sum, (int64_t)n))
            : msgpack_pack_nil(w->pk);
}

static void
kv_median(out *w, const char *k, const uint64_t *hist)
{
    uint64_t n = 0, seen_n = 0;
    for (int b = 0; b < KPI_HIST_N; b++)
        n += hist[b];
    key(w, k);
    if (n == 0) {
        w->bad |= msgpack_pack_nil(w->pk);
        return;
    }
    int b = 0;
    for (; b < KPI_HIST_N - 1; b++)
        if ((seen_n += hist[b]) >= (n + 1) / 2)
            break;
    int64_t hours = b < 24 ? b : b < KPI_HIST_N - 1 ? 24 * (b - 23) : 24 * 31;
    w->bad |= msgpack_pack_int64(w->pk, hours);
}

#define ROW_KEYS 34 /* with month and campaigns */

/* Packs x as a row map (month 0: the totals, without month), all but its
 * campaigns, which the caller packs last. */
static void
pack_row(out *w, const row *x, uint32_t month, uint64_t revenue_to_date,
         uint64_t spenders_to_date)
{
    const uint64_t *v = x->v;
    w->bad |= msgpack_pack_map(w->pk, month ? ROW_KEYS : ROW_KEYS - 1);
    if (month)
        kv_month(w, "month", month);
    uint64_t surveys =
        v[KPI_F_PROMOTERS] + v[KPI_F_PASSIVES] + v[KPI_F_DETRACTORS];
    kv_u64(w, "surveys", surveys);
    kv_u64(w, "promoters", v[KPI_F_PROMOTERS]);
    kv_u64(w, "passives", v[KPI_F_PASSIVES]);
    kv_u64(w, "detractors", v[KPI_F_DETRACTORS]);
    kv_ratio(w, "nps",
             100.0 * ((double)v[KPI_F_PROMOTERS] - (double)v[KPI_F_DETRACTORS]),
             surveys);
    kv_u64(w, "csat_count", v[KPI_F_CSAT_N]);
    kv_ratio(w, "csat_average", (double)v[KPI_F_CSAT_SUM], v[KPI_F_CSAT_N]);
    kv_u64(w, "stays", v[KPI_F_STAYS]);
    kv_u64(w, "nights", v[KPI_F_NIGHTS]);
    kv_u64(w, "stayers", v[KPI_F_STAYERS]);
    kv_u64(w, "repeaters", v[KPI_F_REPEATERS]);
    kv_ratio(w, "repeat_rate", (double)v[KPI_F_REPEATERS], v[KPI_F_STAYERS]);
    kv_u64(w, "orders", v[KPI_F_ORDERS]);
    kv_i64(w, "order_value", v[KPI_F_ORDER_VALUE]);
    kv_u64(w, "refunds", v[KPI_F_REFUNDS]);
    kv_i64(w, "refund_value", v[KPI_F_REFUND_VALUE]);
    kv_i64(w, "revenue", v[KPI_F_ORDER_VALUE] - v[KPI_F_REFUND_VALUE]);
    kv_average(w, "average_order_value", v[KPI_F_ORDER_VALUE], v[KPI_F_ORDERS]);
    kv_u64(w, "unconverted", v[KPI_F_UNCONVERTED]);
    kv_i64(w, "new_spenders", v[KPI_F_NEW_SPENDERS]);
    kv_i64(w, "spenders_to_date", spenders_to_date);
    kv_i64(w, "revenue_to_date", revenue_to_date);
    kv_average(w, "lifetime_value", revenue_to_date, spenders_to_date);
    kv_u64(w, "complaints_opened", v[KPI_F_OPENED]);
    kv_u64(w, "complaints_resolved", v[KPI_F_RESOLVED]);
    kv_median(w, "median_resolution_hours", v + KPI_F_HIST);
    kv_u64(w, "bookings", v[KPI_F_BOOKINGS]);
    kv_u64(w, "bookings_converted", v[KPI_F_CONVERTED]);
    kv_ratio(w, "conversion_rate", (double)v[KPI_F_CONVERTED],
             v[KPI_F_BOOKINGS]);
    kv_u64(w, "messages_sent", v[KPI_F_SENT]);
    kv_u64(w, "messages_opened", v[KPI_F_MSG_OPENED]);
    kv_u64(w, "messages_clicked", v[KPI_F_CLICKED]);
}

static void
pack_campaign(out *w, const char *name, size_t len, const uint64_t v[3])
{
    w->bad |= msgpack_pack_map(w->pk, 4);
    key(w, "campaign");
    w->bad |= crm_mp_pack_str(w->pk, name, len);
    kv_u64(w, "sent", v[0]);
    kv_u64(w, "opened", v[1]);
    kv_u64(w, "clicked", v[2]);
}

/* Packs "campaigns" and the campaigns of month (pk NULL: counts them
 * only), adding each to sum. */
static int
month_campaigns(MDB_txn *txn, MDB_dbi db, uint32_t month, out *w,
                campaigns *sum)
{
    uint8_t pfx[5];
    pfx[0] = 'c';
    crm_put_be(pfx + 1, month, 4);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db, &cur);
    if (rc != 0)
        return rc;
    size_t n = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        if (pass == 1) {
            key(w, "campaigns");
            w->bad |= msgpack_pack_array(w->pk, n);
        }
        MDB_val k = {5, pfx}, v;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size <= 5 || memcmp(k.mv_data, pfx, 5) != 0 ||
                k.mv_size > 5 + STR_MAX)
                break;
            if (v.mv_size != 24) {
                rc = MDB_CORRUPTED;
                break;
            }
            if (pass == 0) {
                n++;
                continue;
            }
            uint64_t c[3];
            for (int i = 0; i < 3; i++)
                c[i] = crm_get_be((const uint8_t *)v.mv_data + 8 * i, 8);
            const char *name = (const char *)k.mv_data + 5;
            pack_campaign(w, name, k.mv_size - 5, c);
            if ((rc = campaigns_add(sum, name, k.mv_size - 5, c)) != 0)
                break;
        }
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    mdb_cursor_close(cur);
    return rc;
}

int
crm_kpi_pack(MDB_txn *txn, MDB_dbi db, const crm_kpi_query *q,
             msgpack_packer *pk)
{
    const char *scope = q->property && q->property_len ? q->property : "";
    size_t slen = q->property && q->property_len ? q->property_len : 0;
    if (!month_valid(q->from) || !month_valid(q->to) || q->from > q->to ||
        slen > STR_MAX || (slen && memchr(scope, 0, slen) != NULL))
        return EINVAL;
    size_t months = 0;
    for (uint32_t m = q->from; m <= q->to; m = month_next(m))
        if (++months > CRM_KPI_MONTHS_MAX)
            return EINVAL;

    /* what was there before the range, for the figures to date: whole
     * years, then the months of from's year before it */
    uint64_t revenue = 0, spenders = 0;
    int rc =
        years_before(txn, db, scope, slen, q->from / 100, &revenue, &spenders);
    for (uint32_t m = q->from / 100 * 100 + 1; m < q->from && rc == 0;
         m = month_next(m)) {
        row x = {{0}};
        if ((rc = row_add(txn, db, scope, slen, m, &x)) == 0) {
            revenue += x.v[KPI_F_ORDER_VALUE] - x.v[KPI_F_REFUND_VALUE];
            spenders += x.v[KPI_F_NEW_SPENDERS];
        }
    }
    if (rc != 0)
        return rc;

    out w = {pk, 0};
    campaigns sum = {NULL, 0, 0};
    row total = {{0}};
    w.bad |= msgpack_pack_map(pk, 6 + q->extra);
    key(&w, "property");
    w.bad |= slen ? crm_mp_pack_str(pk, scope, slen) : msgpack_pack_nil(pk);
    kv_month(&w, "from", q->from);
    kv_month(&w, "to", q->to);
    key(&w, "base_currency");
    w.bad |= q->base_currency ? crm_mp_pack_cstr(pk, q->base_currency)
                              : msgpack_pack_nil(pk);
    key(&w, "months");
    w.bad |= msgpack_pack_array(pk, months);
    for (uint32_t m = q->from; m <= q->to && rc == 0; m = month_next(m)) {
        row x = {{0}};
        if ((rc = row_add(txn, db, scope, slen, m, &x)) != 0)
            break;
        revenue += x.v[KPI_F_ORDER_VALUE] - x.v[KPI_F_REFUND_VALUE];
        spenders += x.v[KPI_F_NEW_SPENDERS];
        for (int i = 0; i < KPI_F_N; i++)
            total.v[i] += x.v[i];
        pack_row(&w, &x, m, revenue, spenders);
        if (slen == 0) {
            rc = month_campaigns(txn, db, m, &w, &sum);
        } else {
            key(&w, "campaigns");
            w.bad |= msgpack_pack_array(pk, 0);
        }
    }
    if (rc == 0) {
        key(&w, "totals");
        pack_row(&w, &total, 0, revenue, spenders);
        key(&w, "campaigns");
        w.bad |= msgpack_pack_array(pk, sum.n);
        for (size_t i = 0; i < sum.n; i++)
            pack_campaign(&w, sum.a[i].name, sum.a[i].len, sum.a[i].v);
    }
    free(sum.a);
    return rc != 0 ? rc : w.bad ? ENOMEM : 0;
}

/* --- properties ----------------------------------------------------------- */

int
crm_kpi_properties(MDB_txn *txn, MDB_dbi db, crm_kpi_property_fn fn, void *arg)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db, &cur);
    if (rc != 0)
        return rc;
    MDB_val k = {1, "p"}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *p = k.mv_data;
        if (k.mv_size < 2 || p[0] != 'p')
            break;
        if (v.mv_size != 8) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (fn(arg, (const char *)p + 1, k.mv_size - 1,
               (uint32_t)crm_get_be(v.mv_data, 4),
               (uint32_t)crm_get_be((const uint8_t *)v.mv_data + 4, 4)))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
count_property(void *arg, const char *property, size_t len, uint32_t first,
               uint32_t last)
{
    (*(size_t *)arg)++;
    return 0;
}

static int
pack_property(void *arg, const char *property, size_t len, uint32_t first,
              uint32_t last)
{
    out *w = arg;
    w->bad |= msgpack_pack_map(w->pk, 3);
    key(w, "property");
    w->bad |= crm_mp_pack_str(w->pk, property, len);
    kv_month(w, "first", first);
    kv_month(w, "last", last);
    return 0;
}

int
crm_kpi_properties_pack(MDB_txn *txn, MDB_dbi db, msgpack_packer *pk)
{
    size_t n = 0;
    int rc = crm_kpi_properties(txn, db, count_property, &n);
    if (rc != 0)
        return rc;
    out w = {pk, msgpack_pack_array(pk, n)};
    rc = crm_kpi_properties(txn, db, pack_property, &w);
    return rc != 0 ? rc : w.bad ? ENOMEM : 0;
}
