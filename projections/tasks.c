/* tasks.c - the tasks projection's fold: a guest's events into its state
 * and the indexes by date a morning's question walks (tasks.h). The
 * questions are in tasks_query.c. */
#include "tasks_int.h"

#include <string.h>

#include "decimal.h"
#include "normalize.h"
#include "rpc.h"
#include "schema.h"

const char *const tasks_channels[] = {"email", "sms",  "phone", "post",
                                      "push",  "whatsapp", NULL};
const char *const tasks_book_channels[] = {"direct", "web",     "ota", "agent",
                                           "phone",  "walk_in", "app", NULL};
const char *const tasks_severities[] = {"low", "medium", "high", "critical",
                                        NULL};

/* --- small helpers ----------------------------------------------------------- */

static const char *
field_str(const msgpack_object *m, const char *name, size_t max, size_t *len)
{
    const msgpack_object *o = crm_mp_get(m, name);
    if (!crm_mp_is_str(o) || o->via.str.size == 0 || o->via.str.size > max ||
        memchr(o->via.str.ptr, 0, o->via.str.size))
        return NULL;
    *len = o->via.str.size;
    return o->via.str.ptr;
}

/* A field of either part: personal ones are in pii. */
static const char *
field_any(const crm_record *r, const char *name, size_t max, size_t *len)
{
    const char *s = field_str(&r->pii, name, max, len);
    return s ? s : field_str(&r->body, name, max, len);
}

static int
name_index(const char *const *names, const char *s, size_t len)
{
    for (int i = 0; s && names[i]; i++)
        if (crm_schema_name_eq(names[i], s, len))
            return i;
    return -1;
}

static uint32_t
date_field(const crm_record *r, const char *name)
{
    size_t l = 0;
    const char *s = field_str(&r->body, name, 10, &l);
    return s && crm_date_valid(s, l) ? crm_settings_day(s, l) : 0;
}

static int
put(MDB_txn *txn, MDB_dbi db, const uint8_t *k, size_t kl, const void *v,
    size_t vl)
{
    MDB_val key = {kl, (void *)k}, val = {vl, (void *)(vl ? v : "")};
    return mdb_put(txn, db, &key, &val, 0);
}

static int
del(MDB_txn *txn, MDB_dbi db, const uint8_t *k, size_t kl)
{
    MDB_val key = {kl, (void *)k};
    int rc = mdb_del(txn, db, &key, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Moves an index entry: old (if any) goes unless it is the new one, new
 * (if any) is put with its value. */
static int
move(MDB_txn *txn, MDB_dbi db, const uint8_t *ok, size_t ol,
     const uint8_t *nk, size_t nl, const void *v, size_t vl)
{
    int rc = 0;
    if (ol && !(nl == ol && memcmp(ok, nk, ol) == 0))
        rc = del(txn, db, ok, ol);
    if (rc == 0 && nl)
        rc = put(txn, db, nk, nl, v, vl);
    return rc;
}

/* --- the row --------------------------------------------------------------- */

int
tasks_row_get(MDB_txn *txn, MDB_dbi guest, const char *id, size_t len,
              tasks_row *row)
{
    uint8_t kb[TASKS_KEY_MAX];
    MDB_val k = {tasks_gkey(kb, id, len, 'g', NULL, 0), kb}, v;
    memset(row, 0, sizeof(*row));
    int rc = mdb_get(txn, guest, &k, &v);
    if (rc != 0)
        return rc;
    const uint8_t *p = v.mv_data;
    if (v.mv_size == 2 && p[0] == 1 && (p[1] & TASKS_ERASED)) {
        row->exists = 1;
        row->flags = p[1];
        return 0;
    }
    if (v.mv_size != TASKS_ROW_LEN || p[0] != 1)
        return MDB_CORRUPTED;
    row->exists = 1;
    row->flags = p[1];
    row->birthday = (uint16_t)crm_get_be(p + 2, 2);
    row->birth_at = (int64_t)crm_get_be(p + 4, 8);
    row->last_day = (uint32_t)crm_get_be(p + 12, 4);
    row->spend = (int64_t)crm_get_be(p + 16, 8);
    row->consent = p[24];
    return 0;
}

const char *
crm_tasks_channel(unsigned i)
{
    for (unsigned j = 0; tasks_channels[j]; j++)
        if (j == i)
            return tasks_channels[j];
    return NULL;
}

static int
row_put(const crm_proj_ctx *cx, const crm_record *r, const tasks_row *row)
{
    uint8_t kb[TASKS_KEY_MAX], v[TASKS_ROW_LEN];
    size_t kl = tasks_gkey(kb, r->stream, r->stream_len, 'g', NULL, 0);
    v[0] = 1;
    v[1] = row->flags;
    if (row->flags & TASKS_ERASED)
        return put(cx->txn, cx->dbi[1], kb, kl, v, 2);
    crm_put_be(v + 2, row->birthday, 2);
    crm_put_be(v + 4, (uint64_t)row->birth_at, 8);
    crm_put_be(v + 12, row->last_day, 4);
    crm_put_be(v + 16, (uint64_t)row->spend, 8);
    v[24] = row->consent;
    return put(cx->txn, cx->dbi[1], kb, kl, v, TASKS_ROW_LEN);
}

int
tasks_bucket(int64_t spend)
{
    if (spend <= 0)
        return 0;
    int e = -1;
    for (uint64_t s = (uint64_t)spend; s; s >>= 1)
        e++; /* 2^e <= spend < 2^(e+1) */
    int sub = e >= 3 ? (int)(((uint64_t)spend >> (e - 3)) & 7) : 0;
    return e * 8 + sub + 1;
}

int64_t
tasks_bucket_floor(int b)
{
    int e = (b - 1) / 8, sub = (b - 1) % 8;
    return e >= 3 ? (int64_t)(8 + sub) << (e - 3) : (int64_t)1 << e;
}

static int
hist_add(const crm_proj_ctx *cx, int bucket, int delta)
{
    if (bucket == 0)
        return 0;
    uint8_t k[3] = {'h', (uint8_t)(bucket >> 8), (uint8_t)bucket}, vb[8];
    MDB_val key = {3, k}, v;
    uint64_t n = 0;
    int rc = mdb_get(cx->txn, cx->dbi[0], &key, &v);
    if (rc == 0 && v.mv_size == 8)
        n = crm_get_be(v.mv_data, 8);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    n = delta > 0 ? n + 1 : n ? n - 1 : 0;
    if (n == 0)
        return del(cx->txn, cx->dbi[0], k, 3);
    crm_put_be(vb, n, 8);
    return put(cx->txn, cx->dbi[0], k, 3, vb, 8);
}

/* The row's birthday entry (0 when it has none: no birthday or no
 * consent). */
static size_t
birthday_key(const crm_proj_ctx *cx, const crm_record *r, const tasks_row *row,
             uint8_t *k)
{
    if (row->birthday == 0 || row->consent == 0 ||
        (row->flags & TASKS_ERASED))
        return 0;
    char md[6];
    tasks_md_text(row->birthday, md);
    k[0] = 'b';
    crm_blind(cx->index_key, CRM_NORM_BIRTHDAY, md, 5, k + 1);
    memcpy(k + 1 + CRM_BLIND_LEN, r->stream, r->stream_len);
    return 1 + CRM_BLIND_LEN + r->stream_len;
}

static size_t
last_key(const crm_record *r, const tasks_row *row, uint8_t *k)
{
    if (row->last_day == 0 || (row->flags & TASKS_ERASED))
        return 0;
    k[0] = 'l';
    crm_put_be(k + 1, row->last_day, 4);
    memcpy(k + 5, r->stream, r->stream_len);
    return 5 + r->stream_len;
}

/* Brings the row's index entries and histogram from old to row. */
static int
row_sync(const crm_proj_ctx *cx, const crm_record *r, const tasks_row *old,
         const tasks_row *row)
{
    uint8_t ok[TASKS_KEY_MAX], nk[TASKS_KEY_MAX];
    size_t ol = birthday_key(cx, r, old, ok), nl = birthday_key(cx, r, row, nk);
    int rc = move(cx->txn, cx->dbi[0], ok, ol, nk, nl, NULL, 0);
    if (rc == 0) {
        ol = last_key(r, old, ok);
        nl = last_key(r, row, nk);
        rc = move(cx->txn, cx->dbi[0], ok, ol, nk, nl, NULL, 0);
    }
    int ob = old->flags & TASKS_ERASED ? 0 : tasks_bucket(old->spend),
        nb = row->flags & TASKS_ERASED ? 0 : tasks_bucket(row->spend);
    if (rc == 0 && ob != nb) {
        rc = hist_add(cx, ob, -1);
        if (rc == 0)
            rc = hist_add(cx, nb, +1);
    }
    return rc;
}

/* --- bookings ---------------------------------------------------------------- */

int
tasks_booking_decode(const MDB_val *v, tasks_booking *b)
{
    const uint8_t *p = v->mv_data;
    memset(b, 0, sizeof(*b));
    if (v->mv_size < TASKS_BOOKING_MIN)
        return MDB_CORRUPTED;
    b->flags = p[0];
    b->channel = p[1];
    b->arrival = (uint32_t)crm_get_be(p + 2, 4);
    b->departure = (uint32_t)crm_get_be(p + 6, 4);
    b->dates_at = (int64_t)crm_get_be(p + 10, 8);
    b->created_at = (int64_t)crm_get_be(p + 18, 8);
    size_t pl = p[26];
    if (TASKS_BOOKING_MIN + pl > v->mv_size)
        return MDB_CORRUPTED;
    size_t rl = p[27 + pl];
    if (TASKS_BOOKING_MIN + pl + rl != v->mv_size)
        return MDB_CORRUPTED;
    b->property_len = pl;
    memcpy(b->property, p + 27, pl);
    b->room_type_len = rl;
    memcpy(b->room_type, p + 28 + pl, rl);
    return 0;
}

static size_t
booking_encode(const tasks_booking *b, uint8_t *p)
{
    p[0] = b->flags;
    p[1] = b->channel;
    crm_put_be(p + 2, b->arrival, 4);
    crm_put_be(p + 6, b->departure, 4);
    crm_put_be(p + 10, (uint64_t)b->dates_at, 8);
    crm_put_be(p + 18, (uint64_t)b->created_at, 8);
    p[26] = (uint8_t)b->property_len;
    memcpy(p + 27, b->property, b->property_len);
    p[27 + b->property_len] = (uint8_t)b->room_type_len;
    memcpy(p + 28 + b->property_len, b->room_type, b->room_type_len);
    return TASKS_BOOKING_MIN + b->property_len + b->room_type_len;
}

int
tasks_booking_status(const tasks_booking *b)
{
    if (!(b->flags & TASKS_BK_CREATED) ||
        (b->flags & (TASKS_BK_CANCELLED | TASKS_BK_IN)))
        return 0;
    return b->flags & TASKS_BK_CONFIRMED ? 2 : 1;
}

int
tasks_online(int channel)
{
    if (channel == 0)
        return 0;
    const char *c = tasks_book_channels[channel - 1];
    return strcmp(c, "web") == 0 || strcmp(c, "app") == 0 ||
           strcmp(c, "ota") == 0;
}

static size_t
arrival_key(const crm_record *r, const tasks_booking *b, const char *bid,
            size_t bl, uint8_t *k)
{
    if (tasks_booking_status(b) == 0 || b->arrival == 0)
        return 0;
    k[0] = 'a';
    crm_put_be(k + 1, b->arrival, 4);
    memcpy(k + 5, bid, bl);
    k[5 + bl] = 0;
    memcpy(k + 6 + bl, r->stream, r->stream_len);
    return 6 + bl + r->stream_len;
}

static size_t
unconfirmed_key(const crm_record *r, const tasks_booking *b, const char *bid,
                size_t bl, uint8_t *k)
{
    if (tasks_booking_status(b) != 1 || !tasks_online(b->channel))
        return 0;
    k[0] = 'u';
    crm_put_be(k + 1, tasks_at_key(b->created_at), 8);
    memcpy(k + 9, r->stream, r->stream_len);
    k[9 + r->stream_len] = 0;
    memcpy(k + 10 + r->stream_len, bid, bl);
    return 10 + r->stream_len + bl;
}

static int
booking_sync(const crm_proj_ctx *cx, const crm_record *r, const char *bid,
             size_t bl, const tasks_booking *old, const tasks_booking *b)
{
    uint8_t ok[TASKS_KEY_MAX], nk[TASKS_KEY_MAX];
    uint8_t st = (uint8_t)tasks_booking_status(b), ch = b->channel;
    size_t ol = arrival_key(r, old, bid, bl, ok),
           nl = arrival_key(r, b, bid, bl, nk);
    int rc = move(cx->txn, cx->dbi[0], ok, ol, nk, nl, &st, 1);
    if (rc == 0) {
        ol = unconfirmed_key(r, old, bid, bl, ok);
        nl = unconfirmed_key(r, b, bid, bl, nk);
        rc = move(cx->txn, cx->dbi[0], ok, ol, nk, nl, &ch, 1);
    }
    return rc;
}

static int
fold_booking(const crm_proj_ctx *cx, const crm_record *r, const char *t,
             size_t tl)
{
    size_t bl = 0, l = 0;
    const char *bid = field_str(&r->body, "booking_id", TASKS_STR_MAX, &bl);
    if (bid == NULL)
        return 0;
    uint8_t kb[TASKS_KEY_MAX], vb[TASKS_BOOKING_MAX];
    MDB_val k = {tasks_gkey(kb, r->stream, r->stream_len, 'b', bid, bl), kb},
            v;
    tasks_booking old, b;
    int rc = mdb_get(cx->txn, cx->dbi[1], &k, &v);
    if (rc == 0) {
        if ((rc = tasks_booking_decode(&v, &old)) != 0)
            return rc;
    } else if (rc == MDB_NOTFOUND) {
        memset(&old, 0, sizeof(old));
        old.dates_at = INT64_MIN;
    } else {
        return rc;
    }
    b = old;
    int created = crm_schema_name_eq("booking.created", t, tl);
    if (created || crm_schema_name_eq("booking.modified", t, tl)) {
        if (created) {
            if (!(b.flags & TASKS_BK_CREATED)) {
                b.created_at = r->occurred_at;
                const char *p = field_str(&r->body, "property",
                                          TASKS_STR_MAX, &l);
                if (p) {
                    b.property_len = l;
                    memcpy(b.property, p, l);
                }
                const char *c = field_str(&r->body, "channel", 16, &l);
                int ci = name_index(tasks_book_channels, c, l);
                b.channel = (uint8_t)(ci + 1);
            }
            b.flags |= TASKS_BK_CREATED;
        }
        if (r->occurred_at >= b.dates_at) {
            uint32_t a = date_field(r, "arrival"), d = date_field(r, "departure");
            if (a)
                b.arrival = a;
            if (d)
                b.departure = d;
            const char *rt = field_str(&r->body, "room_type", TASKS_STR_MAX, &l);
            if (rt) {
                b.room_type_len = l;
                memcpy(b.room_type, rt, l);
            }
            b.dates_at = r->occurred_at;
        }
    } else if (crm_schema_name_eq("booking.confirmed", t, tl)) {
        b.flags |= TASKS_BK_CONFIRMED;
    } else if (crm_schema_name_eq("booking.cancelled", t, tl)) {
        b.flags |= TASKS_BK_CANCELLED;
    } else {
        b.flags |= TASKS_BK_IN; /* stay.checked_in naming it */
    }
    if ((rc = booking_sync(cx, r, bid, bl, &old, &b)) != 0)
        return rc;
    v.mv_size = booking_encode(&b, vb);
    v.mv_data = vb;
    return mdb_put(cx->txn, cx->dbi[1], &k, &v, 0);
}

/* --- complaints -------------------------------------------------------------- */

int
tasks_complaint_decode(const MDB_val *v, tasks_complaint *c)
{
    const uint8_t *p = v->mv_data;
    memset(c, 0, sizeof(*c));
    if (v->mv_size < TASKS_COMPLAINT_MIN)
        return MDB_CORRUPTED;
    c->flags = p[0];
    c->opened_at = (int64_t)crm_get_be(p + 1, 8);
    c->severity = p[9];
    size_t pl = p[10];
    if (TASKS_COMPLAINT_MIN + pl > v->mv_size)
        return MDB_CORRUPTED;
    size_t cl = p[11 + pl];
    if (TASKS_COMPLAINT_MIN + pl + cl != v->mv_size)
        return MDB_CORRUPTED;
    c->property_len = pl;
    memcpy(c->property, p + 11, pl);
    c->category_len = cl;
    memcpy(c->category, p + 12 + pl, cl);
    return 0;
}

static size_t
complaint_key(const crm_record *r, const tasks_complaint *c, const char *cid,
              size_t cl, uint8_t *k)
{
    if (c->flags != 1)
        return 0;
    k[0] = 'c';
    crm_put_be(k + 1, tasks_at_key(c->opened_at), 8);
    memcpy(k + 9, r->stream, r->stream_len);
    k[9 + r->stream_len] = 0;
    memcpy(k + 10 + r->stream_len, cid, cl);
    return 10 + r->stream_len + cl;
}

static int
fold_complaint(const crm_proj_ctx *cx, const crm_record *r, int opened)
{
    size_t il = 0, l = 0;
    const char *cid = field_str(&r->body, "complaint_id", TASKS_STR_MAX, &il);
    if (cid == NULL)
        return 0;
    uint8_t kb[TASKS_KEY_MAX], vb[TASKS_COMPLAINT_MAX];
    MDB_val k = {tasks_gkey(kb, r->stream, r->stream_len, 'k', cid, il), kb},
            v;
    tasks_complaint old, c;
    int rc = mdb_get(cx->txn, cx->dbi[1], &k, &v);
    if (rc == 0) {
        if ((rc = tasks_complaint_decode(&v, &old)) != 0)
            return rc;
    } else if (rc == MDB_NOTFOUND) {
        memset(&old, 0, sizeof(old));
    } else {
        return rc;
    }
    c = old;
    if (opened && !(c.flags & 1)) {
        c.opened_at = r->occurred_at;
        const char *s = field_str(&r->body, "severity", 16, &l);
        c.severity = (uint8_t)(name_index(tasks_severities, s, l) + 1);
        const char *p = field_str(&r->body, "property", TASKS_STR_MAX, &l);
        if (p) {
            c.property_len = l;
            memcpy(c.property, p, l);
        }
        const char *cat = field_str(&r->body, "category", TASKS_STR_MAX, &l);
        if (cat) {
            c.category_len = l;
            memcpy(c.category, cat, l);
        }
    }
    c.flags |= opened ? 1 : 2;
    if (c.flags == old.flags)
        return 0; /* a second opening or resolution changes nothing */
    uint8_t ok[TASKS_KEY_MAX], nk[TASKS_KEY_MAX];
    size_t ol = complaint_key(r, &old, cid, il, ok),
           nl = complaint_key(r, &c, cid, il, nk);
    if ((rc = move(cx->txn, cx->dbi[0], ok, ol, nk, nl, NULL, 0)) != 0)
        return rc;
    uint8_t *p = vb;
    p[0] = c.flags;
    crm_put_be(p + 1, (uint64_t)c.opened_at, 8);
    p[9] = c.severity;
    p[10] = (uint8_t)c.property_len;
    memcpy(p + 11, c.property, c.property_len);
    p[11 + c.property_len] = (uint8_t)c.category_len;
    memcpy(p + 12 + c.property_len, c.category, c.category_len);
    v.mv_size = TASKS_COMPLAINT_MIN + c.property_len + c.category_len;
    v.mv_data = vb;
    return mdb_put(cx->txn, cx->dbi[1], &k, &v, 0);
}

/* --- the rest of a guest's events ------------------------------------------- */

static int
fold_consent(const crm_proj_ctx *cx, const crm_record *r, tasks_row *row)
{
    size_t cl = 0, pl = 0;
    const char *ch = field_str(&r->body, "channel", 16, &cl);
    int c = name_index(tasks_channels, ch, cl);
    const char *pu = field_str(&r->body, "purpose", 16, &pl);
    const msgpack_object *g = crm_mp_get(&r->body, "granted");
    if (c < 0 || (pu && !crm_schema_name_eq("marketing", pu, pl)) ||
        g == NULL || g->type != MSGPACK_OBJECT_BOOLEAN)
        return 0;
    uint8_t sfx = (uint8_t)c, kb[TASKS_KEY_MAX], vb[9];
    MDB_val k = {tasks_gkey(kb, r->stream, r->stream_len, 'c', &sfx, 1), kb},
            v;
    int rc = mdb_get(cx->txn, cx->dbi[1], &k, &v);
    if (rc == 0 && v.mv_size == 9 &&
        (int64_t)crm_get_be((const uint8_t *)v.mv_data + 1, 8) > r->occurred_at)
        return 0; /* an older change recorded later */
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    vb[0] = g->via.boolean ? 1 : 0;
    crm_put_be(vb + 1, (uint64_t)r->occurred_at, 8);
    row->consent = (uint8_t)(vb[0] ? row->consent | (1u << c)
                                   : row->consent & ~(1u << c));
    return put(cx->txn, cx->dbi[1], kb, k.mv_size, vb, 9);
}

static void
fold_birth(const crm_record *r, tasks_row *row)
{
    size_t l = 0;
    const char *s = field_any(r, "birth_date", 10, &l);
    if (s == NULL || !crm_date_valid(s, l) ||
        (row->birthday && r->occurred_at < row->birth_at))
        return;
    uint32_t d = crm_settings_day(s, l);
    row->birthday = (uint16_t)(d % 10000);
    row->birth_at = r->occurred_at;
}

static int
fold_spend(const crm_proj_ctx *cx, const crm_record *r, uint32_t day,
           tasks_row *row)
{
    size_t cl = 0;
    const char *cur = field_str(&r->body, "currency", 3, &cl);
    int64_t amount;
    if (cur == NULL || cl != 3 ||
        crm_mp_int(crm_mp_get(&r->body, "amount"), INT64_MIN, INT64_MAX,
                   &amount) != 0 ||
        amount == 0)
        return 0;
    char c[4] = {cur[0], cur[1], cur[2], 0};
    const crm_settings *s;
    int rc = crm_settings_for(cx, day, r->h.position, &s);
    if (rc != 0)
        return rc;
    int64_t rate = crm_settings_rate_get(s, c);
    if (rate > 0)
        row->spend = (int64_t)((uint64_t)row->spend +
                               (uint64_t)crm_settings_convert(amount, rate));
    return 0;
}

static int
fold_earned(const crm_proj_ctx *cx, const crm_record *r, uint32_t day)
{
    uint32_t exp = date_field(r, "expires_on");
    if (exp == 0) {
        const crm_settings *s;
        int rc = crm_settings_for(cx, day, r->h.position, &s);
        if (rc != 0)
            return rc;
        if (s->points_expiry_months <= 0)
            return 0; /* points that never expire */
        exp = crm_settings_day_add_months(day, s->points_expiry_months);
    }
    uint8_t d[4], kb[TASKS_KEY_MAX];
    crm_put_be(d, exp, 4);
    int rc = put(cx->txn, cx->dbi[1], kb,
                 tasks_gkey(kb, r->stream, r->stream_len, 'x', d, 4), NULL, 0);
    if (rc != 0)
        return rc;
    kb[0] = 'e';
    memcpy(kb + 1, d, 4);
    memcpy(kb + 5, r->stream, r->stream_len);
    return put(cx->txn, cx->dbi[0], kb, 5 + r->stream_len, NULL, 0);
}

/* Every index entry of the guest goes, then every key under its id; the
 * erased row stays. */
static int
fold_erased(const crm_proj_ctx *cx, const crm_record *r, tasks_row *row)
{
    uint8_t pfx[CRM_STREAM_MAX + 1], ok[TASKS_KEY_MAX], none[1];
    size_t plen = r->stream_len + 1;
    memcpy(pfx, r->stream, r->stream_len);
    pfx[r->stream_len] = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(cx->txn, cx->dbi[1], &cur);
    if (rc != 0)
        return rc;
    for (;;) {
        MDB_val k = {plen, pfx}, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc != 0 || k.mv_size < plen + 1 ||
            memcmp(k.mv_data, pfx, plen) != 0)
            break;
        const uint8_t *kp = k.mv_data;
        const char *sfx = (const char *)kp + plen + 1;
        size_t sl = k.mv_size - plen - 1;
        uint8_t tag = kp[plen];
        if (tag == 'b') {
            tasks_booking b, gone = {0};
            if ((rc = tasks_booking_decode(&v, &b)) == 0)
                rc = booking_sync(cx, r, sfx, sl, &b, &gone);
        } else if (tag == 'k') {
            tasks_complaint c;
            if ((rc = tasks_complaint_decode(&v, &c)) == 0) {
                size_t ol = complaint_key(r, &c, sfx, sl, ok);
                rc = move(cx->txn, cx->dbi[0], ok, ol, none, 0, NULL, 0);
            }
        } else if (tag == 'x' && sl == 4) {
            ok[0] = 'e';
            memcpy(ok + 1, sfx, 4);
            memcpy(ok + 5, r->stream, r->stream_len);
            rc = del(cx->txn, cx->dbi[0], ok, 5 + r->stream_len);
        }
        if (rc != 0 || (rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    tasks_row gone = *row;
    gone.flags |= TASKS_ERASED;
    if ((rc = row_sync(cx, r, row, &gone)) != 0)
        return rc;
    memset(&gone, 0, sizeof(gone));
    gone.flags = TASKS_ERASED;
    return row_put(cx, r, &gone);
}

static int
tasks_apply(const crm_proj_ctx *cx, const crm_record *r)
{
    if (r->stream_len == 0 || r->stream_len > CRM_STREAM_MAX ||
        r->stream[0] == '$')
        return 0;
    tasks_row row, old;
    int rc = tasks_row_get(cx->txn, cx->dbi[1], r->stream, r->stream_len, &row);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    rc = 0;
    if (row.flags & TASKS_ERASED)
        return 0; /* after an erasure nothing more is kept */
    old = row;
    const char *t = r->type;
    size_t tl = r->type_len, l = 0;
    uint32_t day = crm_settings_day_of(r->occurred_at);
    if (crm_schema_name_eq("customer.erased", t, tl))
        return fold_erased(cx, r, &row);
    if (crm_schema_name_eq("customer.registered", t, tl) ||
        crm_schema_name_eq("customer.profile_updated", t, tl)) {
        fold_birth(r, &row);
    } else if (crm_schema_name_eq("customer.consent_changed", t, tl)) {
        rc = fold_consent(cx, r, &row);
    } else if (crm_schema_name_eq("booking.created", t, tl)) {
        if (day > row.last_day)
            row.last_day = day;
        rc = fold_booking(cx, r, t, tl);
    } else if (crm_schema_name_eq("booking.modified", t, tl) ||
               crm_schema_name_eq("booking.confirmed", t, tl) ||
               crm_schema_name_eq("booking.cancelled", t, tl) ||
               (crm_schema_name_eq("stay.checked_in", t, tl) &&
                field_str(&r->body, "booking_id", TASKS_STR_MAX, &l))) {
        rc = fold_booking(cx, r, t, tl);
    } else if (crm_schema_name_eq("stay.checked_out", t, tl)) {
        if (day > row.last_day)
            row.last_day = day;
    } else if (crm_schema_name_eq("complaint.opened", t, tl) ||
               crm_schema_name_eq("complaint.resolved", t, tl)) {
        rc = fold_complaint(cx, r, t[10] == 'o');
    } else if (crm_schema_name_eq("spend.recorded", t, tl)) {
        rc = fold_spend(cx, r, day, &row);
    } else if (crm_schema_name_eq("loyalty.points_earned", t, tl)) {
        rc = fold_earned(cx, r, day);
    } else if (crm_schema_name_eq("charter.flight_booked", t, tl)) {
        const char *d = field_str(&r->body, "destination", 8, &l);
        uint8_t kb[TASKS_KEY_MAX];
        if (d)
            rc = put(cx->txn, cx->dbi[1], kb,
                     tasks_gkey(kb, r->stream, r->stream_len, 'd', d, l),
                     NULL, 0);
    } else {
        return 0;
    }
    if (rc != 0)
        return rc;
    if (old.exists && memcmp(&old, &row, sizeof(row)) == 0)
        return 0;
    row.exists = 1;
    if ((rc = row_sync(cx, r, &old, &row)) != 0)
        return rc;
    return row_put(cx, r, &row);
}

const crm_proj_def crm_proj_tasks = {
    .name = "tasks",
    .format = 1,
    .ndbs = 2,
    .dbs = {"idx", "guest"},
    .apply = tasks_apply,
    .blind = 1,
};
