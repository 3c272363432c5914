/* customer_view.c - what the customer-360 view tells when asked: the
 * packed view, the churn risk and the brief of find hits (customer.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "customer_int.h"
#include "rpc.h"
#include "views.h"

#define SIGN_BIT 0x8000000000000000ull
#define HOUR_US 3600000000LL

/* Calls fn for every entry id 0 tag ... (newest first when backwards);
 * fn returns nonzero to stop. */
typedef int (*each_fn)(void *arg, const uint8_t *sfx, size_t slen,
                       const MDB_val *v);

static int
each(MDB_cursor *cur, const char *id, size_t len, uint8_t tag, int backwards,
     each_fn fn, void *arg)
{
    uint8_t pfx[CUST_KEY_MAX], end[CUST_KEY_MAX];
    size_t plen = cust_key(pfx, id, len, tag, NULL, 0);
    int rc;
    MDB_val k = {plen, pfx}, v;
    if (backwards) {
        /* the first key past the prefix, then step back */
        memcpy(end, pfx, plen);
        end[plen - 1]++;
        k.mv_data = end;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        rc = rc == 0              ? mdb_cursor_get(cur, &k, &v, MDB_PREV)
             : rc == MDB_NOTFOUND ? mdb_cursor_get(cur, &k, &v, MDB_LAST)
                                  : rc;
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    while (rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, pfx, plen) == 0) {
        if ((rc = fn(arg, (const uint8_t *)k.mv_data + plen, k.mv_size - plen,
                     &v)) != 0)
            break;
        rc = mdb_cursor_get(cur, &k, &v, backwards ? MDB_PREV : MDB_NEXT);
    }
    /* fn stops with a positive value, which is no error */
    return rc == MDB_NOTFOUND || rc > 0 ? 0 : rc;
}

static void
kv_day(msgpack_packer *pk, const char *k, uint32_t d)
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

static void
kv_i64(msgpack_packer *pk, const char *k, int64_t v)
{
    crm_mp_pack_cstr(pk, k);
    msgpack_pack_int64(pk, v);
}

static void
kv_avg(msgpack_packer *pk, const char *k, uint64_t sum, uint64_t n)
{
    crm_mp_pack_cstr(pk, k);
    if (n == 0)
        msgpack_pack_nil(pk);
    else
        msgpack_pack_double(pk, (double)sum / (double)n);
}

/* A map or an array whose size is known once it is packed: its elements
 * go to a side buffer, then behind the header. One view's parts follow
 * one another, so they share the buffer (part_free once done). */
typedef struct part {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t n;
} part;

static void
part_init(part *p)
{
    p->sb.size = 0; /* the buffer zeroed, or what the last part left */
    msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
    p->n = 0;
}

static void
part_free(part *p)
{
    msgpack_sbuffer_destroy(&p->sb);
    msgpack_sbuffer_init(&p->sb);
}

static void
part_emit(msgpack_packer *pk, part *p, int map)
{
    if (map)
        msgpack_pack_map(pk, p->n);
    else
        msgpack_pack_array(pk, p->n);
    if (p->sb.size)
        pk->callback(pk->data, p->sb.data, p->sb.size);
}

/* One read of the view: the guest, the query, the record last fetched.
 * Every entry is read through one cursor: the guest's keys are
 * neighbours, so a walk often starts on the page the last one left. */
typedef struct view {
    MDB_txn *txn;
    MDB_dbi db;
    MDB_cursor *cur;
    const char *id;
    size_t len;
    const crm_customer_query *q;
    const crm_settings *s;
    uint32_t today;
    cust_acct a;
    part part;
    uint64_t fetched; /* position in rec; 0 none */
    int fetched_rc;
    crm_record rec;
} view;

/* The record at pos, or NULL when it cannot be read. */
static const crm_record *
fetch(view *w, uint64_t pos)
{
    if (w->q->fetch == NULL || pos == 0)
        return NULL;
    if (pos != w->fetched) {
        w->fetched = pos;
        w->fetched_rc = w->q->fetch(w->q->fetch_arg, pos, &w->rec);
    }
    return w->fetched_rc == 0 ? &w->rec : NULL;
}

/* A field of a fetched record: personal fields in pii, the others in
 * body. */
static const msgpack_object *
value_of(const crm_record *r, const char *name)
{
    const msgpack_object *o = crm_mp_get(&r->pii, name);
    return o ? o : crm_mp_get(&r->body, name);
}

static void
pack_sfx(msgpack_packer *pk, const uint8_t *sfx, size_t slen)
{
    crm_mp_pack_str(pk, (const char *)sfx, slen);
}

/* --- profile, consents, preferences --------------------------------------- */

static int
on_field(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    view *w = arg;
    if (slen != 1 || sfx[0] >= CUST_NFIELDS || v->mv_size != 16)
        return 0;
    const crm_record *r =
        fetch(w, crm_get_be((const uint8_t *)v->mv_data + 8, 8));
    const msgpack_object *o = r ? value_of(r, cust_fields[sfx[0]]) : NULL;
    if (o == NULL)
        return 0;
    crm_mp_pack_cstr(&w->part.pk, cust_fields[sfx[0]]);
    crm_mp_pack_object(&w->part.pk, o);
    w->part.n++;
    return 0;
}

static int
on_consent(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    view *w = arg;
    const uint8_t *z = memchr(sfx, 0, slen), *p = v->mv_data;
    if (z == NULL || v->mv_size != 21)
        return 0;
    msgpack_packer *pk = &w->part.pk;
    msgpack_pack_map(pk, 4);
    crm_mp_pack_cstr(pk, "channel");
    pack_sfx(pk, sfx, (size_t)(z - sfx));
    crm_mp_pack_cstr(pk, "purpose");
    pack_sfx(pk, z + 1, slen - (size_t)(z - sfx) - 1);
    crm_mp_pack_cstr(pk, "granted");
    if (p[0])
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    kv_day(pk, "on", (uint32_t)crm_get_be(p + 1, 4));
    w->part.n++;
    return 0;
}

static int
on_preference(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    view *w = arg;
    if (v->mv_size != 16)
        return 0;
    const crm_record *r =
        fetch(w, crm_get_be((const uint8_t *)v->mv_data + 8, 8));
    const msgpack_object *o = r ? value_of(r, "value") : NULL;
    if (o == NULL)
        return 0;
    pack_sfx(&w->part.pk, sfx, slen);
    crm_mp_pack_object(&w->part.pk, o);
    w->part.n++;
    return 0;
}

/* Packs key k then what fn makes of entries tag, as a map or an array. */
static int
pack_each(view *w, msgpack_packer *pk, const char *k, uint8_t tag, int map,
          int backwards, each_fn fn)
{
    part_init(&w->part);
    int rc = each(w->cur, w->id, w->len, tag, backwards, fn, w);
    crm_mp_pack_cstr(pk, k);
    part_emit(pk, &w->part, map);
    return rc;
}

/* --- lifetime ------------------------------------------------------------- */

typedef struct tally {
    uint32_t today;
    int64_t bookings, cancellations, no_shows;
} tally;

static int
on_booking(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    tally *t = arg;
    const uint8_t *p = v->mv_data;
    if (v->mv_size < CUST_BOOKING_MIN)
        return 0;
    uint8_t f = p[0];
    uint32_t arrival = (uint32_t)crm_get_be(p + 2, 4);
    t->bookings += (f & BK_CREATED) != 0;
    if (f & (BK_IN | BK_OUT))
        return 0; /* the stay happened, whatever else was said */
    if (f & BK_CANCELLED) {
        t->cancellations++;
        t->no_shows += (f & BK_NO_SHOW) != 0;
    } else if (arrival && arrival < t->today) {
        t->no_shows++; /* still created or confirmed, never arrived */
    }
    return 0;
}

static int
on_amount(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    view *w = arg;
    if (v->mv_size != 8)
        return 0;
    pack_sfx(&w->part.pk, sfx, slen);
    msgpack_pack_int64(&w->part.pk, (int64_t)crm_get_be(v->mv_data, 8));
    w->part.n++;
    return 0;
}

static int
on_unconverted(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    view *w = arg;
    if (v->mv_size != 8)
        return 0;
    msgpack_pack_map(&w->part.pk, 2);
    crm_mp_pack_cstr(&w->part.pk, "currency");
    pack_sfx(&w->part.pk, sfx, slen);
    kv_i64(&w->part.pk, "amount", (int64_t)crm_get_be(v->mv_data, 8));
    w->part.n++;
    return 0;
}

static int
on_property(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    view *w = arg;
    const uint8_t *p = v->mv_data;
    if (v->mv_size != 12)
        return 0;
    msgpack_pack_map(&w->part.pk, 3);
    crm_mp_pack_cstr(&w->part.pk, "property");
    pack_sfx(&w->part.pk, sfx, slen);
    kv_i64(&w->part.pk, "stays", (int64_t)crm_get_be(p, 8));
    kv_day(&w->part.pk, "last_stay", (uint32_t)crm_get_be(p + 8, 4));
    w->part.n++;
    return 0;
}

static int
pack_lifetime(view *w, msgpack_packer *pk)
{
    const uint64_t *a = w->a.v;
    tally t = {.today = w->today};
    int rc = each(w->cur, w->id, w->len, 'b', 0, on_booking, &t);
    if (rc != 0)
        return rc;
    msgpack_pack_map(pk, 15);
    kv_i64(pk, "bookings", t.bookings);
    kv_i64(pk, "cancellations", t.cancellations);
    kv_i64(pk, "no_shows", t.no_shows);
    kv_i64(pk, "stays", (int64_t)a[A_STAYS]);
    kv_i64(pk, "nights", (int64_t)a[A_NIGHTS]);
    kv_i64(pk, "flights", (int64_t)a[A_FLIGHTS]);
    if ((rc = pack_each(w, pk, "spend", 'm', 1, 0, on_amount)) != 0)
        return rc;
    kv_i64(pk, "spend_total", (int64_t)a[A_SPEND]);
    kv_i64(pk, "orders", (int64_t)a[A_ORDERS]);
    kv_i64(pk, "average_order_value",
           a[A_ORDERS] ? (int64_t)a[A_SPEND] / (int64_t)a[A_ORDERS] : 0);
    if ((rc = pack_each(w, pk, "unconverted", 'u', 0, 0, on_unconverted)) != 0)
        return rc;
    kv_day(pk, "first_stay", (uint32_t)a[A_FIRST_STAY]);
    kv_day(pk, "last_stay", (uint32_t)a[A_LAST_STAY]);
    if ((rc = pack_each(w, pk, "properties", 'h', 0, 0, on_property)) != 0)
        return rc;
    size_t n = 0;
    for (int i = 0; cust_channels[i]; i++)
        n += (a[A_CHANNELS] >> i) & 1;
    crm_mp_pack_cstr(pk, "channels");
    msgpack_pack_array(pk, n);
    for (int i = 0; cust_channels[i]; i++)
        if ((a[A_CHANNELS] >> i) & 1)
            crm_mp_pack_cstr(pk, cust_channels[i]);
    return 0;
}

/* --- complaints and touchpoints ------------------------------------------- */

typedef struct complaints {
    view *w;
    int pack; /* into w->part, else only counted */
    int64_t sla_us;
    size_t open, late;
} complaints;

static int
on_complaint(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    complaints *c = arg;
    const uint8_t *p = v->mv_data;
    if (v->mv_size < CUST_COMPLAINT_MIN ||
        v->mv_size != (size_t)CUST_COMPLAINT_MIN + p[32])
        return 0;
    uint32_t opened = (uint32_t)crm_get_be(p, 4);
    if (opened == 0 || crm_get_be(p + 20, 4) != 0)
        return 0; /* not opened (yet), or resolved */
    int64_t age = c->w->q->now_us - (int64_t)crm_get_be(p + 4, 8);
    int late = age > c->sla_us;
    c->open++;
    c->late += late;
    if (!c->pack)
        return 0;
    msgpack_packer *pk = &c->w->part.pk;
    msgpack_pack_map(pk, 5);
    crm_mp_pack_cstr(pk, "complaint_id");
    pack_sfx(pk, sfx, slen);
    crm_mp_pack_cstr(pk, "category");
    crm_mp_pack_str(pk, (const char *)p + CUST_COMPLAINT_MIN, p[32]);
    kv_day(pk, "opened_on", opened);
    kv_i64(pk, "age_hours", age > 0 ? age / HOUR_US : 0);
    crm_mp_pack_cstr(pk, "past_sla");
    if (late)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    c->w->part.n++;
    return 0;
}

typedef struct touch {
    view *w;
    size_t left;
} touch;

/* A touchpoint's value: type length u8, field count u8, the type, then
 * the summary's key/value pairs as packed at the fold (customer.c). */
static int
on_touchpoint(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    touch *t = arg;
    if (t->left == 0)
        return 1;
    const uint8_t *p = v->mv_data;
    if (slen != 16 || v->mv_size < 2 || v->mv_size < 2 + (size_t)p[0])
        return 0;
    view *w = t->w;
    uint64_t pos = crm_get_be(sfx + 8, 8);
    msgpack_packer *pk = &w->part.pk;
    msgpack_pack_map(pk, 3 + p[1]);
    kv_i64(pk, "position", (int64_t)pos);
    crm_mp_pack_cstr(pk, "type");
    crm_mp_pack_str(pk, (const char *)p + 2, p[0]);
    kv_i64(pk, "occurred_at", (int64_t)(crm_get_be(sfx, 8) ^ SIGN_BIT));
    size_t at = 2 + (size_t)p[0];
    if (at < v->mv_size)
        pk->callback(pk->data, (const char *)p + at, v->mv_size - at);
    w->part.n++;
    t->left--;
    return 0;
}

/* --- churn ---------------------------------------------------------------- */

typedef struct stays {
    uint32_t today;
    uint32_t *day; /* check-out days in order, at most cap */
    size_t n, cap;
    int64_t last, prev; /* in the last 365 days, and the 365 before */
} stays;

static int
on_stay(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    stays *s = arg;
    if (slen != 12)
        return 0;
    uint32_t day = (uint32_t)crm_get_be(sfx, 4);
    int64_t ago = crm_settings_days_between(day, s->today);
    s->last += ago >= 0 && ago < 365;
    s->prev += ago >= 365 && ago < 730;
    if (s->n < s->cap)
        s->day[s->n++] = day;
    return 0;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* x >= 0 to the nearest integer, halves up. */
static int
round_pts(double x)
{
    return (int)(x + 0.5);
}

static void reason(crm_customer_churn *c, const char *code, int points,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
reason(crm_customer_churn *c, const char *code, int points, const char *fmt,
       ...)
{
    if (points <= 0)
        return;
    /* biggest first; equal points keep the order of the rules */
    size_t i = c->nreasons++;
    while (i > 0 && c->reasons[i - 1].points < points) {
        c->reasons[i] = c->reasons[i - 1];
        i--;
    }
    c->reasons[i].code = code;
    c->reasons[i].points = points;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reasons[i].text, sizeof(c->reasons[i].text), fmt, ap);
    va_end(ap);
    c->score += points;
}

/* The usual interval: the median gap between consecutive stay days. */
static int
usual_interval(const stays *s, double *out)
{
    size_t n = s->n - 1;
    int64_t *gap = malloc(n * sizeof(*gap));
    if (gap == NULL)
        return ENOMEM;
    for (size_t i = 0; i < n; i++)
        gap[i] = crm_settings_days_between(s->day[i], s->day[i + 1]);
    qsort(gap, n, sizeof(*gap), cmp_i64);
    *out = n % 2 ? (double)gap[n / 2]
                 : (double)(gap[n / 2 - 1] + gap[n / 2]) / 2.0;
    free(gap);
    return 0;
}

static int
churn(view *w, crm_customer_churn *out)
{
    memset(out, 0, sizeof(*out));
    const uint64_t *a = w->a.v;
    stays s = {.today = w->today, .cap = (size_t)a[A_STAYS]};
    if (s.cap && (s.day = malloc(s.cap * sizeof(*s.day))) == NULL)
        return ENOMEM;
    complaints c = {.w = w, .sla_us = w->s->complaint_sla_hours * HOUR_US};
    int rc = each(w->cur, w->id, w->len, 's', 0, on_stay, &s);
    if (rc == 0)
        rc = each(w->cur, w->id, w->len, 'k', 0, on_complaint, &c);
    double usual = 0;
    if (rc == 0 && s.n >= 2)
        rc = usual_interval(&s, &usual);
    if (rc != 0)
        goto done;

    uint32_t last = s.n ? s.day[s.n - 1] : 0; /* the stays are in day order */
    if (s.n >= 2) {
        int64_t since = crm_settings_days_between(last, w->today);
        double u = usual < 1 ? 1 : usual;
        double x = (double)since > u ? ((double)since - u) / u : 0;
        reason(out, "recency", round_pts(40 * (x < 1 ? x : 1)),
               "%lld days since the last stay; usually every %.0f",
               (long long)since, usual);
    } else {
        uint32_t ref = s.n ? last : (uint32_t)a[A_REG_DAY];
        int64_t since = ref ? crm_settings_days_between(ref, w->today) : 0;
        int64_t dormant = w->s->dormant_days > 0 ? w->s->dormant_days : 1;
        double x = since > 0 ? (double)since / (double)dormant : 0;
        reason(out, "recency", round_pts(40 * (x < 1 ? x : 1)),
               s.n ? "%lld days since the only stay; dormant after %lld"
                   : "%lld days since registration and no stay yet; dormant "
                     "after %lld",
               (long long)since, (long long)dormant);
    }
    if (s.last < s.prev)
        reason(out, "frequency",
               round_pts(20.0 * (double)(s.prev - s.last) / (double)s.prev),
               "%lld stays in the last 365 days, %lld in the 365 before",
               (long long)s.last, (long long)s.prev);
    if (a[A_NPS_N] && a[A_NPS_LAST] <= 6) {
        int p = round_pts(20.0 * (double)(7 - (int)a[A_NPS_LAST]) / 7.0);
        reason(out, "detractor", p < 5 ? 5 : p, "last NPS %d, a detractor",
               (int)a[A_NPS_LAST]);
    }
    size_t cp = 10 * c.open + 5 * c.late;
    reason(out, "complaint", cp > 20 ? 20 : (int)cp,
           "%zu open complaint%s, %zu past the %lld h SLA", c.open,
           c.open == 1 ? "" : "s", c.late,
           (long long)w->s->complaint_sla_hours);
    if (out->score > 100)
        out->score = 100;
done:
    free(s.day);
    return rc;
}

/* --- the view ------------------------------------------------------------- */

/* Reads the account; MDB_NOTFOUND for an unknown guest. */
static int
view_open(view *w, MDB_txn *txn, MDB_dbi db, const char *id, size_t len,
          const crm_customer_query *q, crm_settings *defaults, int *erased)
{
    memset(w, 0, sizeof(*w));
    if (len == 0 || len > CRM_STREAM_MAX)
        return MDB_NOTFOUND;
    w->txn = txn;
    w->db = db;
    w->id = id;
    w->len = len;
    w->q = q;
    if ((w->s = q->settings) == NULL) {
        crm_settings_defaults(defaults);
        w->s = defaults;
    }
    w->today = crm_settings_day_of(q->now_us);
    int rc = cust_erased(txn, db, id, len, erased);
    if (rc == 0)
        rc = cust_acct_get(txn, db, id, len, &w->a);
    if (rc == 0 && (w->a.exists || *erased))
        rc = mdb_cursor_open(txn, db, &w->cur);
    return rc != 0 ? rc : !w->a.exists && !*erased ? MDB_NOTFOUND : 0;
}

static void
view_close(view *w)
{
    if (w->cur)
        mdb_cursor_close(w->cur);
    w->cur = NULL;
    part_free(&w->part);
}

int
crm_customer_churn_get(MDB_txn *txn, MDB_dbi db, const char *id, size_t len,
                       const crm_customer_query *q, crm_customer_churn *out)
{
    view w;
    crm_settings defaults;
    int erased, rc = view_open(&w, txn, db, id, len, q, &defaults, &erased);
    memset(out, 0, sizeof(*out));
    if (rc == 0 && !erased)
        rc = churn(&w, out);
    view_close(&w);
    return rc;
}

static int
pack_view(view *w, int erased, const crm_customer_query *q, msgpack_packer *pk)
{
    const char *id = w->id;
    size_t len = w->len;
    crm_customer_churn ch = {0};
    int rc;
    if (!erased && (rc = churn(w, &ch)) != 0)
        return rc;
    const uint64_t *a = w->a.v;
    msgpack_pack_map(pk, 12 + q->extra);
    crm_mp_pack_cstr(pk, "id");
    crm_mp_pack_str(pk, id, len);
    crm_mp_pack_cstr(pk, "erased");
    if (erased)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    kv_day(pk, "registered_on", (uint32_t)a[A_REG_DAY]);
    if ((rc = pack_each(w, pk, "profile", 'p', 1, 0, on_field)) != 0 ||
        (rc = pack_each(w, pk, "consents", 'c', 0, 0, on_consent)) != 0 ||
        (rc = pack_each(w, pk, "preferences", 'f', 1, 0, on_preference)) != 0)
        return rc;
    crm_mp_pack_cstr(pk, "lifetime");
    if ((rc = pack_lifetime(w, pk)) != 0)
        return rc;
    crm_mp_pack_cstr(pk, "satisfaction");
    msgpack_pack_map(pk, 5);
    crm_mp_pack_cstr(pk, "nps_last");
    if (a[A_NPS_N])
        msgpack_pack_int64(pk, (int64_t)a[A_NPS_LAST]);
    else
        msgpack_pack_nil(pk);
    kv_avg(pk, "nps_average", a[A_NPS_SUM], a[A_NPS_N]);
    kv_i64(pk, "nps_count", (int64_t)a[A_NPS_N]);
    kv_avg(pk, "csat_average", a[A_CSAT_SUM], a[A_CSAT_N]);
    kv_i64(pk, "csat_count", (int64_t)a[A_CSAT_N]);

    complaints c = {
        .w = w, .pack = 1, .sla_us = w->s->complaint_sla_hours * HOUR_US};
    part_init(&w->part);
    rc = each(w->cur, id, len, 'k', 0, on_complaint, &c);
    crm_mp_pack_cstr(pk, "complaints_open");
    part_emit(pk, &w->part, 0);
    if (rc != 0)
        return rc;
    touch t = {w, q->touchpoints};
    part_init(&w->part);
    rc = each(w->cur, id, len, 't', 1, on_touchpoint, &t);
    crm_mp_pack_cstr(pk, "touchpoints");
    part_emit(pk, &w->part, 0);
    if (rc != 0)
        return rc;

    crm_mp_pack_cstr(pk, "churn");
    msgpack_pack_map(pk, 2);
    kv_i64(pk, "score", ch.score);
    crm_mp_pack_cstr(pk, "reasons");
    msgpack_pack_array(pk, ch.nreasons);
    for (size_t i = 0; i < ch.nreasons; i++) {
        msgpack_pack_map(pk, 3);
        crm_mp_pack_cstr(pk, "code");
        crm_mp_pack_cstr(pk, ch.reasons[i].code);
        kv_i64(pk, "points", ch.reasons[i].points);
        crm_mp_pack_cstr(pk, "text");
        crm_mp_pack_cstr(pk, ch.reasons[i].text);
    }
    crm_mp_pack_cstr(pk, "base_currency");
    crm_mp_pack_cstr(pk, w->s->base_currency);
    return 0;
}

int
crm_customer_pack(MDB_txn *txn, MDB_dbi db, const char *id, size_t len,
                  const crm_customer_query *q, msgpack_packer *pk)
{
    view w;
    crm_settings defaults;
    int erased, rc = view_open(&w, txn, db, id, len, q, &defaults, &erased);
    if (rc == 0)
        rc = pack_view(&w, erased, q, pk);
    view_close(&w);
    return rc;
}

int
crm_customer_brief(MDB_txn *txn, MDB_dbi db, const char *id, size_t len,
                   uint32_t *last_stay, uint64_t *name_pos_first,
                   uint64_t *name_pos_last, int *erased)
{
    cust_acct a;
    *last_stay = 0;
    *name_pos_first = *name_pos_last = 0;
    *erased = 0;
    if (len == 0 || len > CRM_STREAM_MAX)
        return MDB_NOTFOUND;
    int rc = cust_erased(txn, db, id, len, erased);
    if (rc == 0)
        rc = cust_acct_get(txn, db, id, len, &a);
    if (rc != 0 || (!a.exists && !*erased))
        return rc != 0 ? rc : MDB_NOTFOUND;
    *last_stay = (uint32_t)a.v[A_LAST_STAY];
    uint64_t *out[2] = {name_pos_first, name_pos_last};
    for (uint8_t f = 0; f < 2 && rc == 0; f++) {
        uint8_t kb[CUST_KEY_MAX];
        MDB_val k = {cust_key(kb, id, len, 'p', &f, 1), kb}, v;
        rc = mdb_get(txn, db, &k, &v);
        if (rc == 0 && v.mv_size == 16)
            *out[f] = crm_get_be((const uint8_t *)v.mv_data + 8, 8);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    return rc;
}

int
crm_customer_field_at(MDB_txn *txn, MDB_dbi db, const char *id, size_t len,
                      const char *field, uint64_t *position)
{
    *position = 0;
    if (len == 0 || len > CRM_STREAM_MAX)
        return MDB_NOTFOUND;
    for (uint8_t f = 0; f < CUST_NFIELDS; f++) {
        if (strcmp(cust_fields[f], field) != 0)
            continue;
        uint8_t kb[CUST_KEY_MAX];
        MDB_val k = {cust_key(kb, id, len, 'p', &f, 1), kb}, v;
        int rc = mdb_get(txn, db, &k, &v);
        if (rc == 0 && v.mv_size == 16)
            *position = crm_get_be((const uint8_t *)v.mv_data + 8, 8);
        return rc == 0 && v.mv_size != 16 ? MDB_CORRUPTED : rc;
    }
    return MDB_NOTFOUND;
}

/* --- what other views read of a guest -------------------------------------- */

/* Calls fn(arg, suffix, its length, value) for every key id 0 tag ... */
static int
each_tagged(MDB_txn *txn, MDB_dbi db, const char *id, size_t len, uint8_t tag,
            int (*fn)(void *arg, const uint8_t *sfx, size_t slen,
                      const MDB_val *v),
            void *arg)
{
    uint8_t kb[CUST_KEY_MAX];
    if (len > CRM_STREAM_MAX)
        return MDB_NOTFOUND;
    size_t pl = cust_key(kb, id, len, tag, NULL, 0);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db, &cur);
    if (rc != 0)
        return rc;
    MDB_val k = {pl, kb}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size <= pl || memcmp(k.mv_data, kb, pl) != 0)
            break;
        if (fn(arg, (const uint8_t *)k.mv_data + pl, k.mv_size - pl, &v))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

typedef struct each_pref {
    int (*fn)(void *arg, const char *category, size_t len, uint64_t position);
    void *arg;
} each_pref;

static int
on_each_pref(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    each_pref *e = arg;
    if (v->mv_size != 16)
        return 0;
    return e->fn(e->arg, (const char *)sfx, slen,
                 crm_get_be((const uint8_t *)v->mv_data + 8, 8));
}

int
crm_customer_preferences(MDB_txn *txn, MDB_dbi db, const char *id, size_t len,
                         int (*fn)(void *arg, const char *category,
                                   size_t clen, uint64_t position),
                         void *arg)
{
    each_pref e = {fn, arg};
    return each_tagged(txn, db, id, len, 'f', on_each_pref, &e);
}

/* A consent entry: key suffix "channel\0purpose", value granted u8, day
 * u32, then where it was set. */
static int
on_each_consent(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    unsigned *mask = arg;
    const uint8_t *z = memchr(sfx, 0, slen);
    crm_channel ch;
    if (z == NULL || v->mv_size != 21 || !((const uint8_t *)v->mv_data)[0])
        return 0;
    size_t cl = (size_t)(z - sfx);
    if (crm_schema_name_eq("marketing", (const char *)z + 1, slen - cl - 1) &&
        crm_channel_parse((const char *)sfx, cl, &ch) == 0)
        *mask |= CRM_CH_BIT(ch);
    return 0;
}

int
crm_customer_consents(MDB_txn *txn, MDB_dbi db, const char *id, size_t len,
                      unsigned *channels)
{
    *channels = 0;
    return each_tagged(txn, db, id, len, 'c', on_each_consent, channels);
}

typedef struct each_prop {
    int (*fn)(void *arg, const char *property, size_t len, uint64_t stays,
              uint32_t last_stay);
    void *arg;
} each_prop;

static int
on_each_prop(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    each_prop *e = arg;
    if (v->mv_size != 12)
        return 0;
    const uint8_t *p = v->mv_data;
    return e->fn(e->arg, (const char *)sfx, slen, crm_get_be(p, 8),
                 (uint32_t)crm_get_be(p + 8, 4));
}

int
crm_customer_properties(MDB_txn *txn, MDB_dbi db, const char *id, size_t len,
                        int (*fn)(void *arg, const char *property,
                                  size_t plen, uint64_t stays,
                                  uint32_t last_stay),
                        void *arg)
{
    each_prop e = {fn, arg};
    return each_tagged(txn, db, id, len, 'h', on_each_prop, &e);
}
