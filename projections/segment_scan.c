/* segment_scan.c - the segment projection's questions: every guest's
 * figures for a day, computed from its row (segment.h). */
#include "segment_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "be.h"
#include "loyalty.h"

const char *const crm_seg_lifecycle_names[SEG_NLIFE] = {
    "new", "active", "dormant", "lapsed", "churned"};
const char *const crm_seg_frequency_names[SEG_NFREQ] = {
    "prospect", "first_time", "repeat", "frequent"};
const char *const crm_seg_value_names[SEG_NVALUE] = {"none", "low", "medium",
                                                     "high"};
const char *const crm_seg_churn_names[SEG_NCHURN] = {"low", "medium", "high"};

int
crm_seg_guest_visited(const crm_seg_guest *g, uint64_t h)
{
    size_t lo = 0, hi = g->nprops;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint64_t v = crm_get_be(g->props + 8 * mid, 8);
        if (v == h)
            return 1;
        if (v < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int
crm_seg_guest_pref(const crm_seg_guest *g, uint64_t c,
                   const uint8_t v[CRM_SEG_PREF_HMAC])
{
    for (size_t i = 0; i < g->nprefs; i++) {
        const uint8_t *p = g->prefs + SEG_PREF_LEN * i;
        if (crm_get_be(p, 8) == c)
            return memcmp(p + 8, v, CRM_SEG_PREF_HMAC) == 0;
    }
    return 0;
}

/* --- one guest on a day --------------------------------------------------- */

/* Days since 1970-01-01 of YYYYMMDD (Hinnant's days_from_civil): the
 * scan does this for several dates of every guest. */
static int64_t
epoch_day(uint32_t day)
{
    int64_t y = day / 10000, m = day / 100 % 100, d = day % 100;
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t
days(uint32_t from, uint32_t to)
{
    int64_t d = epoch_day(to) - epoch_day(from);
    return d < 0 ? 0 : d;
}

static int
points(double x)
{
    return (int)floor(x + 0.5);
}

/* customer.h's churn rules, from what the row keeps. */
static int
churn_score(const crm_seg_guest *g, int64_t dormant, uint32_t day)
{
    double recency = 0;
    if (g->stays >= 2) {
        double usual = (double)days(g->first_stay, g->last_stay) /
                       (double)(g->stays - 1);
        double since = (double)g->days_since_stay;
        if (usual < 1)
            usual = 1;
        if (since > usual)
            recency = 40 * fmin(1, (since - usual) / usual);
    } else {
        uint32_t from = g->stays ? g->last_stay : g->registered;
        if (from && dormant > 0)
            recency = 40 * fmin(1, (double)days(from, day) / (double)dormant);
    }
    int score = points(recency);
    if (g->stays_prev_12m > g->stays_12m)
        score += points(20.0 * (g->stays_prev_12m - g->stays_12m) /
                        g->stays_prev_12m);
    if (g->nps_last >= 0 && g->nps_last <= 6)
        score += points(fmax(5, 20.0 * (7 - g->nps_last) / 7));
    score += g->open_complaints >= 2 ? 20 : 10 * (int)g->open_complaints;
    return score > 100 ? 100 : score;
}

/* The row v into g with the figures that need no other guest. */
static int
guest_of(const MDB_val *k, const MDB_val *v, const crm_seg_query *q,
         crm_seg_guest *g, int *erased)
{
    seg_row r;
    if (seg_row_decode(v->mv_data, v->mv_size, &r, 0) != 0)
        return MDB_CORRUPTED;
    *erased = r.flags & SEG_ERASED;
    if (*erased)
        return 0;
    memset(g, 0, sizeof(*g));
    g->id = k->mv_data;
    g->id_len = k->mv_size;
    g->first_seen = r.first_seen;
    g->registered = r.registered;
    g->first_stay = r.first_stay;
    g->last_stay = r.last_stay;
    g->last_booking = r.last_booking;
    g->stays = r.stays;
    g->nights = r.nights;
    g->orders = r.orders;
    g->open_complaints = r.open;
    g->consent = r.consent;
    g->spend = r.spend;
    g->nps_last = r.nps_last;
    g->home = r.home;
    g->nprops = r.nprops;
    g->nprefs = r.nprefs;
    g->props = (const uint8_t *)v->mv_data + SEG_ROW_HDR;
    g->prefs = g->props + 8 * r.nprops;

    uint32_t day = q->day;
    g->days_since_stay = r.last_stay ? days(r.last_stay, day) : -1;
    uint32_t last = r.last_stay;
    if (r.last_booking > last)
        last = r.last_booking;
    if (r.registered > last)
        last = r.registered;
    if (last == 0)
        last = r.first_seen;
    int64_t since = days(last, day), d = q->settings->dormant_days;
    g->lifecycle = since <= d     ? (r.stays ? SEG_ACTIVE : SEG_NEW)
                   : since <= 2 * d ? SEG_DORMANT
                   : since <= 3 * d ? SEG_LAPSED
                                    : SEG_CHURNED;
    int64_t mon = seg_month_index(day);
    for (int a = 0; r.ring_month && a < CRM_SEG_RING; a++) {
        int64_t back = mon - ((int64_t)r.ring_month - a);
        if (back >= 0 && back < 12) {
            g->nights_12m += r.ring_nights[a];
            g->stays_12m += r.ring_stays[a];
        } else if (back >= 12 && back < 24) {
            g->stays_prev_12m += r.ring_stays[a];
        }
    }
    g->frequency = r.stays == 0         ? SEG_PROSPECT
                   : r.stays == 1       ? SEG_FIRST_TIME
                   : g->stays_12m >= 3  ? SEG_FREQUENT
                                        : SEG_REPEAT;
    g->churn_score = churn_score(g, d, day);
    g->churn = g->churn_score < 30   ? SEG_CHURN_LOW
               : g->churn_score < 60 ? SEG_CHURN_MEDIUM
                                     : SEG_CHURN_HIGH;
    return 0;
}

/* --- the tenant's guests: quintiles and value bands ----------------------- */

typedef struct pop {
    size_t n, nspend, cap;
    int64_t *r, *f, *m; /* sorted ascending; m of every guest */
    int64_t *spenders;  /* spend > 0, sorted ascending */
} pop;

static int64_t
recency_value(const crm_seg_guest *g)
{
    return g->days_since_stay < 0 ? INT64_MIN : -g->days_since_stay;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* How many of a[0..n) are below v. */
static size_t
below(const int64_t *a, size_t n, int64_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int
quintile(const int64_t *a, size_t n, int64_t v)
{
    return n ? 1 + (int)(5 * below(a, n, v) / n) : 1;
}

static void
pop_free(pop *p)
{
    free(p->r);
    free(p->f);
    free(p->m);
    free(p->spenders);
}

static int
pop_add(pop *p, const crm_seg_guest *g)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 1024;
        int64_t *r = realloc(p->r, cap * sizeof(*r));
        if (r)
            p->r = r;
        int64_t *f = realloc(p->f, cap * sizeof(*f));
        if (f)
            p->f = f;
        int64_t *m = realloc(p->m, cap * sizeof(*m));
        if (m)
            p->m = m;
        int64_t *s = realloc(p->spenders, cap * sizeof(*s));
        if (s)
            p->spenders = s;
        if (!r || !f || !m || !s)
            return ENOMEM;
        p->cap = cap;
    }
    p->r[p->n] = recency_value(g);
    p->f[p->n] = g->stays;
    p->m[p->n] = g->spend;
    p->n++;
    if (g->spend > 0)
        p->spenders[p->nspend++] = g->spend;
    return 0;
}

static void
pop_figures(const pop *p, crm_seg_guest *g)
{
    g->rfm_r = quintile(p->r, p->n, recency_value(g));
    g->rfm_f = quintile(p->f, p->n, g->stays);
    g->rfm_m = quintile(p->m, p->n, g->spend);
    if (g->spend <= 0) {
        g->value = SEG_VALUE_NONE;
        return;
    }
    size_t above = p->nspend - below(p->spenders, p->nspend, g->spend + 1);
    g->value = above * 5 < p->nspend    ? SEG_VALUE_HIGH
               : above * 2 < p->nspend ? SEG_VALUE_MEDIUM
                                       : SEG_VALUE_LOW;
}

/* --- the scan ------------------------------------------------------------- */

static int
loyalty_figures(const crm_seg_query *q, crm_seg_guest *g)
{
    if ((q->needs & CRM_SEG_NEED_TIER) || (q->needs & CRM_SEG_NEED_EXPIRING)) {
        crm_loyalty_account a = {0};
        int rc = q->has_loyalty ? crm_loyalty_account_get(q->txn, q->loyalty,
                                                          g->id, g->id_len, &a)
                                : 0;
        if (rc != 0)
            return rc;
        crm_loyalty_tier_for_earn(&a, q->settings, g->tier, sizeof(g->tier));
        g->points = a.balance;
    }
    if ((q->needs & CRM_SEG_NEED_EXPIRING) && q->has_loyalty) {
        uint32_t to = crm_settings_day_of(crm_settings_day_start(q->day) +
                                          CRM_SEG_EXPIRING_DAYS *
                                              86400000000LL);
        return crm_loyalty_expiring(q->txn, q->loyalty, g->id, g->id_len,
                                    q->day, to, &g->points_expiring);
    }
    return 0;
}

int
crm_segment_scan(const crm_seg_query *q, const char *after, size_t after_len,
                 crm_seg_fn fn, void *arg, uint64_t *scanned)
{
    pop p = {0};
    MDB_cursor *cur;
    MDB_val k, v;
    crm_seg_guest g;
    int rc = mdb_cursor_open(q->txn, q->guest, &cur), erased;
    uint64_t seen = 0;
    if (rc != 0)
        return rc;
    if (q->needs & CRM_SEG_NEED_POP) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if ((rc = guest_of(&k, &v, q, &g, &erased)) != 0)
                break;
            if (!erased && (rc = pop_add(&p, &g)) != 0)
                break;
        }
        if (rc != MDB_NOTFOUND)
            goto done;
        if (p.n > 0) { /* none: the arrays were never made */
            qsort(p.r, p.n, sizeof(*p.r), cmp_i64);
            qsort(p.f, p.n, sizeof(*p.f), cmp_i64);
            qsort(p.m, p.n, sizeof(*p.m), cmp_i64);
        }
        if (p.nspend > 0)
            qsort(p.spenders, p.nspend, sizeof(*p.spenders), cmp_i64);
    }
    if (after) {
        k.mv_size = after_len;
        k.mv_data = (void *)after;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size == after_len &&
            memcmp(k.mv_data, after, after_len) == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        seen++;
        if ((rc = guest_of(&k, &v, q, &g, &erased)) != 0)
            break;
        if (erased)
            continue;
        if (q->needs & CRM_SEG_NEED_POP)
            pop_figures(&p, &g);
        if ((rc = loyalty_figures(q, &g)) != 0)
            break;
        if (fn(arg, &g))
            break;
    }
done:
    mdb_cursor_close(cur);
    pop_free(&p);
    if (scanned)
        *scanned = seen;
    return rc == MDB_NOTFOUND ? 0 : rc;
}
