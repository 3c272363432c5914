/* tasks_query.c - the tasks projection's questions for a day: each
 * section walks the index of its dates only (tasks.h). */
#include "tasks_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loyalty.h"
#include "normalize.h"

const char *const crm_tasks_section_names[CRM_TASKS_NSECTIONS] = {
    "birthdays", "arrivals", "unconfirmed", "complaints_past_sla",
    "dormant_high_value", "points_expiring"};

#define DAY_US 86400000000LL
#define HOUR_US 3600000000LL

static uint32_t
day_add(uint32_t day, int64_t n)
{
    return crm_settings_day_of(crm_settings_day_start(day) + n * DAY_US);
}

static int
leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* What a walk shares: the limit and the callback. */
typedef struct walk {
    const crm_tasks_query *q;
    size_t limit, n;
    int *more, stop;
    int (*fn)(void *arg, const crm_tasks_item *it);
    void *arg;
    int rc; /* an LMDB error met on the way (the walk stopped) */
} walk;

/* Hands it on: 1 when the walk must stop (the limit was reached before
 * it, or fn said so). */
static int
emit(walk *w, const crm_tasks_item *it)
{
    if (w->n == w->limit) {
        *w->more = 1;
        return 1;
    }
    w->n++;
    if (w->fn(w->arg, it)) {
        w->stop = 1;
        return 1;
    }
    return 0;
}

static int
property_ok(const crm_tasks_query *q, const char *p, size_t len)
{
    return q->property == NULL || q->property_len == 0 ||
           (len == q->property_len && memcmp(p, q->property, len) == 0);
}

/* Walks keys of db starting with tag from lo (its rest, lo_len bytes)
 * while fn returns 0; fn returns 1 to stop, a negative LMDB error to
 * fail. */
static int
range(MDB_txn *txn, MDB_dbi db, uint8_t tag, const uint8_t *lo, size_t lo_len,
      int (*fn)(void *arg, const uint8_t *k, size_t kl, const MDB_val *v),
      void *arg)
{
    uint8_t kb[64];
    kb[0] = tag;
    memcpy(kb + 1, lo, lo_len);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db, &cur);
    if (rc != 0)
        return rc;
    MDB_val k = {1 + lo_len, kb}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *p = k.mv_data;
        if (k.mv_size < 1 || p[0] != tag)
            break;
        int r = fn(arg, p + 1, k.mv_size - 1, &v);
        if (r < 0) {
            rc = -r;
            break;
        }
        if (r > 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* --- birthdays --------------------------------------------------------------- */

typedef struct bday {
    walk *w;
    uint32_t day;
    int64_t in_days;
} bday;

static int
bday_hit(void *arg, const uint8_t *k, size_t kl, const MDB_val *v)
{
    bday *b = arg;
    (void)v;
    crm_tasks_item it = {0};
    it.customer = (const char *)k;
    it.customer_len = kl;
    it.day = b->day;
    it.in_days = b->in_days;
    /* the greeting goes only where the guest consents to marketing */
    tasks_row row;
    int rc = tasks_row_get(b->w->q->txn, b->w->q->guest, (const char *)k, kl,
                           &row);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        b->w->rc = rc;
        return 1;
    }
    it.channels = rc == 0 ? row.consent : 0;
    return emit(b->w, &it);
}

static int
birthdays(walk *w)
{
    const crm_tasks_query *q = w->q;
    for (unsigned d = 0; d <= q->days && !w->stop && !*w->more; d++) {
        uint32_t day = day_add(q->on, d);
        unsigned md[2] = {day % 10000, 0};
        if (md[0] == 228 && !leap(day / 10000))
            md[1] = 229; /* 29 February counts on the 28th */
        bday b = {w, day, d};
        for (int i = 0; i < 2 && md[i] && !w->stop && !*w->more; i++) {
            char text[6];
            uint8_t h[CRM_BLIND_LEN];
            tasks_md_text(md[i], text);
            crm_blind(q->index_key, CRM_NORM_BIRTHDAY, text, 5, h);
            /* the entries of exactly this hmac: stop at the next one */
            MDB_cursor *cur;
            int rc = mdb_cursor_open(q->txn, q->idx, &cur);
            if (rc != 0)
                return rc;
            uint8_t kb[1 + CRM_BLIND_LEN];
            kb[0] = 'b';
            memcpy(kb + 1, h, CRM_BLIND_LEN);
            MDB_val k = {sizeof(kb), kb}, v;
            for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
                 rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                if (k.mv_size <= sizeof(kb) ||
                    memcmp(k.mv_data, kb, sizeof(kb)) != 0)
                    break;
                if (bday_hit(&b, (const uint8_t *)k.mv_data + sizeof(kb),
                             k.mv_size - sizeof(kb), &v))
                    break;
            }
            mdb_cursor_close(cur);
            if (rc != 0 && rc != MDB_NOTFOUND)
                return rc;
            if (w->rc != 0)
                return w->rc;
        }
    }
    return 0;
}

/* --- arrivals, unconfirmed, complaints ------------------------------------- */

typedef struct bwalk {
    walk *w;
    uint32_t to;
    int64_t before; /* unconfirmed, complaints: times before it */
    tasks_booking b;
    tasks_complaint c;
    int rc;
} bwalk;

static int
booking_of(bwalk *a, const char *id, size_t il, const char *bid, size_t bl)
{
    uint8_t kb[TASKS_KEY_MAX];
    if (il > CRM_STREAM_MAX || bl > TASKS_STR_MAX)
        return MDB_CORRUPTED;
    MDB_val k = {tasks_gkey(kb, id, il, 'b', bid, bl), kb}, v;
    int rc = mdb_get(a->w->q->txn, a->w->q->guest, &k, &v);
    return rc ? rc : tasks_booking_decode(&v, &a->b);
}

static int
arrival_hit(void *arg, const uint8_t *k, size_t kl, const MDB_val *v)
{
    bwalk *a = arg;
    if (kl < 6)
        return -MDB_CORRUPTED;
    uint32_t day = (uint32_t)crm_get_be(k, 4);
    if (day > a->to)
        return 1;
    const uint8_t *z = memchr(k + 4, 0, kl - 4);
    if (z == NULL || v->mv_size != 1)
        return -MDB_CORRUPTED;
    const char *bid = (const char *)k + 4, *id = (const char *)z + 1;
    size_t bl = (size_t)(z - (k + 4)), il = kl - 4 - bl - 1;
    int rc = booking_of(a, id, il, bid, bl);
    if (rc != 0)
        return -rc;
    if (!property_ok(a->w->q, a->b.property, a->b.property_len))
        return 0;
    crm_tasks_item it = {0};
    it.customer = id;
    it.customer_len = il;
    it.id = bid;
    it.id_len = bl;
    it.day = a->b.arrival;
    it.departure = a->b.departure;
    it.property = a->b.property;
    it.property_len = a->b.property_len;
    it.room_type = a->b.room_type;
    it.room_type_len = a->b.room_type_len;
    it.status = *(const uint8_t *)v->mv_data == 2 ? "confirmed" : "created";
    return emit(a->w, &it);
}

/* The key of a time index: (time BE with the sign bit flipped, guest id,
 * 0x00, item id). 0 with the parts set; 1 when the time is at or past
 * before (the walk ends); -MDB_CORRUPTED for a key of no such shape. */
static int
time_key(const uint8_t *k, size_t kl, int64_t before, int64_t *at,
         const char **id, size_t *il, const char **item, size_t *itl)
{
    if (kl < 10)
        return -MDB_CORRUPTED;
    *at = (int64_t)(crm_get_be(k, 8) ^ (1ull << 63));
    if (*at >= before)
        return 1;
    const uint8_t *z = memchr(k + 8, 0, kl - 8);
    if (z == NULL)
        return -MDB_CORRUPTED;
    *id = (const char *)k + 8;
    *item = (const char *)z + 1;
    *il = (size_t)(z - (k + 8));
    *itl = kl - 8 - *il - 1;
    return 0;
}

static int
unconfirmed_hit(void *arg, const uint8_t *k, size_t kl, const MDB_val *v)
{
    bwalk *a = arg;
    (void)v;
    int64_t at;
    const char *id, *bid;
    size_t il, bl;
    int rc = time_key(k, kl, a->before, &at, &id, &il, &bid, &bl);
    if (rc != 0)
        return rc;
    rc = booking_of(a, id, il, bid, bl);
    if (rc != 0)
        return -rc;
    if (!property_ok(a->w->q, a->b.property, a->b.property_len))
        return 0;
    crm_tasks_item it = {0};
    it.customer = id;
    it.customer_len = il;
    it.id = bid;
    it.id_len = bl;
    it.property = a->b.property;
    it.property_len = a->b.property_len;
    it.channel = a->b.channel ? tasks_book_channels[a->b.channel - 1] : "";
    it.at = at;
    it.hours = (a->w->q->moment - at) / HOUR_US;
    return emit(a->w, &it);
}

static int
complaint_hit(void *arg, const uint8_t *k, size_t kl, const MDB_val *v)
{
    bwalk *a = arg;
    (void)v;
    int64_t at;
    const char *id, *cid;
    size_t il, cl;
    int rc = time_key(k, kl, a->before, &at, &id, &il, &cid, &cl);
    if (rc != 0)
        return rc;
    uint8_t kb[TASKS_KEY_MAX];
    if (il > CRM_STREAM_MAX || cl > TASKS_STR_MAX)
        return -MDB_CORRUPTED;
    MDB_val gk = {tasks_gkey(kb, id, il, 'k', cid, cl), kb}, gv;
    rc = mdb_get(a->w->q->txn, a->w->q->guest, &gk, &gv);
    if (rc == 0)
        rc = tasks_complaint_decode(&gv, &a->c);
    if (rc != 0)
        return -rc;
    if (!property_ok(a->w->q, a->c.property, a->c.property_len))
        return 0;
    crm_tasks_item it = {0};
    it.customer = id;
    it.customer_len = il;
    it.id = cid;
    it.id_len = cl;
    it.property = a->c.property;
    it.property_len = a->c.property_len;
    it.category = a->c.category;
    it.category_len = a->c.category_len;
    it.severity = a->c.severity ? tasks_severities[a->c.severity - 1] : NULL;
    it.at = at;
    it.hours = (a->w->q->moment - at) / HOUR_US;
    return emit(a->w, &it);
}

/* --- dormant and high value ------------------------------------------------ */

int
crm_tasks_high_value_line(MDB_txn *txn, MDB_dbi idx, int64_t *line)
{
    static_assert(TASKS_BUCKETS > 62 * 8 + 8, "every bucket has a slot");
    uint64_t *count = calloc(TASKS_BUCKETS, sizeof(*count)), n = 0;
    if (count == NULL)
        return ENOMEM;
    MDB_cursor *cur;
    *line = 0;
    int rc = mdb_cursor_open(txn, idx, &cur);
    if (rc != 0)
        return rc;
    uint8_t kb[1] = {'h'};
    MDB_val k = {1, kb}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *p = k.mv_data;
        if (k.mv_size != 3 || p[0] != 'h')
            break;
        unsigned b = (unsigned)crm_get_be(p + 1, 2);
        if (b >= TASKS_BUCKETS || v.mv_size != 8) {
            rc = MDB_CORRUPTED;
            break;
        }
        count[b] = crm_get_be(v.mv_data, 8);
        n += count[b];
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        free(count);
        return rc;
    }
    uint64_t need = (n + 4) / 5, acc = 0;
    for (int b = TASKS_BUCKETS - 1; b >= 1 && n; b--) {
        acc += count[b];
        if (acc >= need) {
            *line = tasks_bucket_floor(b);
            break;
        }
    }
    free(count);
    return 0;
}

typedef struct cand {
    const char *id;
    size_t len;
    uint32_t day;
    int64_t spend;
} cand;

typedef struct dwalk {
    walk *w;
    uint32_t to;
    int64_t line;
    cand *c;
    size_t n, cap;
} dwalk;

static int
dormant_hit(void *arg, const uint8_t *k, size_t kl, const MDB_val *v)
{
    dwalk *d = arg;
    (void)v;
    if (kl < 5)
        return -MDB_CORRUPTED;
    uint32_t day = (uint32_t)crm_get_be(k, 4);
    if (day > d->to)
        return 1;
    tasks_row row;
    int rc = tasks_row_get(d->w->q->txn, d->w->q->guest, (const char *)k + 4,
                           kl - 4, &row);
    if (rc != 0)
        return -(rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc);
    if (row.spend <= 0 || row.spend < d->line)
        return 0;
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 64;
        cand *c = realloc(d->c, cap * sizeof(*c));
        if (c == NULL)
            return -ENOMEM;
        d->c = c;
        d->cap = cap;
    }
    d->c[d->n++] = (cand){(const char *)k + 4, kl - 4, day, row.spend};
    return 0;
}

static int
cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->spend != y->spend)
        return x->spend > y->spend ? -1 : 1;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->id, y->id, m);
    return c ? c : x->len < y->len ? -1 : x->len > y->len;
}

static int
dormant(walk *w)
{
    const crm_tasks_query *q = w->q;
    int64_t dd = q->settings->dormant_days;
    dwalk d = {.w = w, .to = day_add(q->on, -dd)};
    uint32_t from = day_add(q->on, -dd - CRM_TASKS_DORMANT_WINDOW);
    int rc = crm_tasks_high_value_line(q->txn, q->idx, &d.line);
    if (rc != 0)
        return rc;
    uint8_t lo[4];
    crm_put_be(lo, from, 4);
    rc = range(q->txn, q->idx, 'l', lo, 4, dormant_hit, &d);
    if (rc == 0 && d.n) {
        qsort(d.c, d.n, sizeof(*d.c), cand_cmp);
        for (size_t i = 0; i < d.n; i++) {
            crm_tasks_item it = {0};
            it.customer = d.c[i].id;
            it.customer_len = d.c[i].len;
            it.day = d.c[i].day;
            it.amount = d.c[i].spend;
            if (emit(w, &it))
                break;
        }
    }
    free(d.c);
    return rc;
}

/* --- points expiring ------------------------------------------------------- */

typedef struct pwalk {
    walk *w;
    uint32_t to;
} pwalk;

static int
points_hit(void *arg, const uint8_t *k, size_t kl, const MDB_val *v)
{
    pwalk *p = arg;
    const crm_tasks_query *q = p->w->q;
    (void)v;
    if (kl < 5)
        return -MDB_CORRUPTED;
    uint32_t day = (uint32_t)crm_get_be(k, 4);
    if (day > p->to)
        return 1;
    const char *id = (const char *)k + 4;
    size_t il = kl - 4;
    int64_t before = 0, that = 0, total = 0;
    int rc = 0;
    if (day > q->on)
        rc = crm_loyalty_expiring(q->txn, q->loyalty, id, il, q->on,
                                  day_add(day, -1), &before);
    if (rc == 0 && before <= 0)
        rc = crm_loyalty_expiring(q->txn, q->loyalty, id, il, day, day, &that);
    if (rc != 0)
        return -rc;
    if (before > 0 || that <= 0)
        return 0; /* told at an earlier day, or nothing left that day */
    if ((rc = crm_loyalty_expiring(q->txn, q->loyalty, id, il, q->on, p->to,
                                   &total)) != 0)
        return -rc;
    crm_tasks_item it = {0};
    it.customer = id;
    it.customer_len = il;
    it.day = day;
    it.amount = total;
    return emit(p->w, &it);
}

/* --- the sections ---------------------------------------------------------- */

int
crm_tasks_section(const crm_tasks_query *q, int section, size_t limit,
                  int (*fn)(void *arg, const crm_tasks_item *it), void *arg,
                  int *more)
{
    walk w = {.q = q, .limit = limit, .more = more, .fn = fn, .arg = arg};
    bwalk b = {.w = &w};
    uint8_t lo[8] = {0};
    *more = 0;
    switch (section) {
    case CRM_TASKS_BIRTHDAYS:
        return birthdays(&w);
    case CRM_TASKS_ARRIVALS:
        b.to = day_add(q->on, q->days);
        crm_put_be(lo, q->on, 4);
        return range(q->txn, q->idx, 'a', lo, 4, arrival_hit, &b);
    case CRM_TASKS_UNCONFIRMED:
        b.before = q->moment - q->settings->booking_confirm_hours * HOUR_US;
        return range(q->txn, q->idx, 'u', lo, 0, unconfirmed_hit, &b);
    case CRM_TASKS_COMPLAINTS:
        b.before = q->moment - q->settings->complaint_sla_hours * HOUR_US;
        return range(q->txn, q->idx, 'c', lo, 0, complaint_hit, &b);
    case CRM_TASKS_DORMANT:
        return dormant(&w);
    case CRM_TASKS_POINTS: {
        if (!q->has_loyalty)
            return 0;
        uint32_t first = q->on / 100 * 100 + 1;
        pwalk p = {&w, day_add(crm_settings_day_add_months(first, 1), -1)};
        crm_put_be(lo, q->on, 4);
        return range(q->txn, q->idx, 'e', lo, 4, points_hit, &p);
    }
    }
    return EINVAL;
}

/* --- what the desk is told of one guest ------------------------------------ */

int
crm_tasks_open_complaints(MDB_txn *txn, MDB_dbi guest, const char *id,
                          size_t len, unsigned *n)
{
    uint8_t kb[TASKS_KEY_MAX];
    size_t pl = tasks_gkey(kb, id, len, 'k', NULL, 0);
    MDB_cursor *cur;
    *n = 0;
    int rc = mdb_cursor_open(txn, guest, &cur);
    if (rc != 0)
        return rc;
    MDB_val k = {pl, kb}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size <= pl || memcmp(k.mv_data, kb, pl) != 0)
            break;
        if (v.mv_size >= 1 && *(const uint8_t *)v.mv_data == 1)
            (*n)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
crm_tasks_destinations(MDB_txn *txn, MDB_dbi guest, const char *id,
                       size_t len,
                       int (*fn)(void *arg, const char *iata, size_t n),
                       void *arg)
{
    uint8_t kb[TASKS_KEY_MAX];
    size_t pl = tasks_gkey(kb, id, len, 'd', NULL, 0);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, guest, &cur);
    if (rc != 0)
        return rc;
    MDB_val k = {pl, kb}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size <= pl || memcmp(k.mv_data, kb, pl) != 0)
            break;
        if (fn(arg, (const char *)k.mv_data + pl, k.mv_size - pl))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}
