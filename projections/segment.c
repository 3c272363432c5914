/* segment.c - the segment projection: folding a guest's events into its
 * summary row, and the tenant's segment definitions (segment.h). What is
 * decided from the rows for a day is in segment_scan.c. */
#include "segment_int.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stddef.h>
#include <string.h>

#include "be.h"
#include "decimal.h"
#include "rpc.h"
#include "schema.h"

const char *const crm_seg_channels[] = {"email", "sms",  "phone", "post",
                                        "push",  "whatsapp", NULL};
const char *const crm_seg_purposes[] = {"marketing", "profiling", "service",
                                        "third_party", NULL};

#define AUX_KEY_MAX (CRM_STREAM_MAX + 2 + 64)

/* --- names and blind keys ------------------------------------------------- */

uint64_t
crm_segment_name_hash(const char *s, size_t len)
{
    uint8_t h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, len, h);
    uint64_t v = crm_get_be(h, 8);
    return v ? v : 1;
}

void
crm_segment_pref_key(const uint8_t key[CRM_PROJ_INDEX_KEY_LEN],
                     const char *category, size_t clen, const char *value,
                     size_t vlen, uint8_t out[CRM_SEG_PREF_HMAC])
{
    /* 0x10: apart from the kinds of normalize.h under the same key */
    uint8_t buf[2 + 64 + 256];
    size_t n = 0;
    buf[n++] = 0x10;
    if (clen > 64)
        clen = 64;
    memcpy(buf + n, category, clen);
    n += clen;
    buf[n++] = 0x1f;
    size_t i = 0, end = vlen;
    while (i < end && (value[i] == ' ' || (value[i] >= '\t' && value[i] <= '\r')))
        i++;
    while (end > i && (value[end - 1] == ' ' ||
                       (value[end - 1] >= '\t' && value[end - 1] <= '\r')))
        end--;
    int space = 0;
    for (; i < end && n < sizeof(buf); i++) {
        char c = value[i];
        if (c == ' ' || (c >= '\t' && c <= '\r')) {
            space = 1;
            continue;
        }
        if (space && n < sizeof(buf))
            buf[n++] = ' ';
        space = 0;
        if (n < sizeof(buf))
            buf[n++] = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned ml = 0;
    HMAC(EVP_sha256(), key, CRM_PROJ_INDEX_KEY_LEN, buf, n, mac, &ml);
    memcpy(out, mac, CRM_SEG_PREF_HMAC);
}

/* --- the row -------------------------------------------------------------- */

int
seg_row_decode(const uint8_t *v, size_t len, seg_row *r, int tail)
{
    /* a question reads the tail in place: only the fold copies it */
    memset(r, 0, tail ? sizeof(*r) : offsetof(seg_row, props));
    r->nps_last = -1;
    if (len == 2 && v[0] == SEG_ROW_FORMAT && (v[1] & SEG_ERASED)) {
        r->flags = v[1];
        return 0;
    }
    if (len < SEG_ROW_HDR || v[0] != SEG_ROW_FORMAT)
        return -1;
    r->nprops = v[149];
    r->nprefs = v[150];
    if (r->nprops > CRM_SEG_PROPS_MAX || r->nprefs > CRM_SEG_PREFS_MAX ||
        len != SEG_ROW_HDR + 8 * r->nprops + SEG_PREF_LEN * r->nprefs)
        return -1;
    r->flags = v[1];
    r->first_seen = (uint32_t)crm_get_be(v + 2, 4);
    r->registered = (uint32_t)crm_get_be(v + 6, 4);
    r->first_stay = (uint32_t)crm_get_be(v + 10, 4);
    r->last_stay = (uint32_t)crm_get_be(v + 14, 4);
    r->last_booking = (uint32_t)crm_get_be(v + 18, 4);
    r->stays = (uint32_t)crm_get_be(v + 22, 4);
    r->nights = (uint32_t)crm_get_be(v + 26, 4);
    r->orders = (uint32_t)crm_get_be(v + 30, 4);
    r->spend = (int64_t)crm_get_be(v + 34, 8);
    r->nps_last = v[42] == 0xff ? -1 : v[42];
    r->nps_at = (int64_t)crm_get_be(v + 43, 8);
    r->open = (uint32_t)crm_get_be(v + 51, 2);
    r->consent = (uint32_t)crm_get_be(v + 53, 4);
    r->home = crm_get_be(v + 57, 8);
    r->home_at = (int64_t)crm_get_be(v + 65, 8);
    r->ring_month = (uint32_t)crm_get_be(v + 73, 4);
    for (int i = 0; i < CRM_SEG_RING; i++) {
        r->ring_nights[i] = (uint16_t)crm_get_be(v + 77 + 3 * i, 2);
        r->ring_stays[i] = v[77 + 3 * i + 2];
    }
    if (!tail)
        return 0;
    const uint8_t *p = v + SEG_ROW_HDR;
    for (size_t i = 0; i < r->nprops; i++, p += 8)
        r->props[i] = crm_get_be(p, 8);
    for (size_t i = 0; i < r->nprefs; i++, p += SEG_PREF_LEN) {
        r->prefs[i].category = crm_get_be(p, 8);
        memcpy(r->prefs[i].value, p + 8, CRM_SEG_PREF_HMAC);
        r->prefs[i].at = (int64_t)crm_get_be(p + 8 + CRM_SEG_PREF_HMAC, 8);
    }
    return 0;
}

size_t
seg_row_encode(const seg_row *r, uint8_t *v)
{
    v[0] = SEG_ROW_FORMAT;
    v[1] = r->flags;
    if (r->flags & SEG_ERASED)
        return 2;
    crm_put_be(v + 2, r->first_seen, 4);
    crm_put_be(v + 6, r->registered, 4);
    crm_put_be(v + 10, r->first_stay, 4);
    crm_put_be(v + 14, r->last_stay, 4);
    crm_put_be(v + 18, r->last_booking, 4);
    crm_put_be(v + 22, r->stays, 4);
    crm_put_be(v + 26, r->nights, 4);
    crm_put_be(v + 30, r->orders, 4);
    crm_put_be(v + 34, (uint64_t)r->spend, 8);
    v[42] = r->nps_last < 0 ? 0xff : (uint8_t)r->nps_last;
    crm_put_be(v + 43, (uint64_t)r->nps_at, 8);
    crm_put_be(v + 51, r->open, 2);
    crm_put_be(v + 53, r->consent, 4);
    crm_put_be(v + 57, r->home, 8);
    crm_put_be(v + 65, (uint64_t)r->home_at, 8);
    crm_put_be(v + 73, r->ring_month, 4);
    for (int i = 0; i < CRM_SEG_RING; i++) {
        crm_put_be(v + 77 + 3 * i, r->ring_nights[i], 2);
        v[77 + 3 * i + 2] = r->ring_stays[i];
    }
    v[149] = (uint8_t)r->nprops;
    v[150] = (uint8_t)r->nprefs;
    uint8_t *p = v + SEG_ROW_HDR;
    for (size_t i = 0; i < r->nprops; i++, p += 8)
        crm_put_be(p, r->props[i], 8);
    for (size_t i = 0; i < r->nprefs; i++, p += SEG_PREF_LEN) {
        crm_put_be(p, r->prefs[i].category, 8);
        memcpy(p + 8, r->prefs[i].value, CRM_SEG_PREF_HMAC);
        crm_put_be(p + 8 + CRM_SEG_PREF_HMAC, (uint64_t)r->prefs[i].at, 8);
    }
    return (size_t)(p - v);
}

/* --- reading the event ---------------------------------------------------- */

static const char *
field_str(const msgpack_object *m, const char *name, size_t max, size_t *len)
{
    const msgpack_object *o = crm_mp_get(m, name);
    if (!crm_mp_is_str(o) || o->via.str.size == 0 || o->via.str.size > max)
        return NULL;
    *len = o->via.str.size;
    return o->via.str.ptr;
}

static int
name_index(const char *const *names, const char *s, size_t len)
{
    for (int i = 0; s && names[i]; i++)
        if (crm_schema_name_eq(names[i], s, len))
            return i;
    return -1;
}

static size_t
aux_key(uint8_t *k, const crm_record *r, uint8_t tag, const void *sfx,
        size_t slen)
{
    memcpy(k, r->stream, r->stream_len);
    k[r->stream_len] = 0;
    k[r->stream_len + 1] = tag;
    memcpy(k + r->stream_len + 2, sfx, slen);
    return r->stream_len + 2 + slen;
}

/* --- the parts of the fold ------------------------------------------------ */

/* A consent: the latest occurred_at per (channel, purpose) wins, the
 * later position on a tie (records apply in position order). */
static int
fold_consent(const crm_proj_ctx *cx, const crm_record *r, seg_row *row)
{
    size_t cl = 0, pl = 0;
    const char *ch = field_str(&r->body, "channel", 16, &cl);
    int c = name_index(crm_seg_channels, ch, cl);
    const char *pu = field_str(&r->body, "purpose", 16, &pl);
    int p = pu ? name_index(crm_seg_purposes, pu, pl) : 0;
    const msgpack_object *g = crm_mp_get(&r->body, "granted");
    if (c < 0 || p < 0 || g == NULL || g->type != MSGPACK_OBJECT_BOOLEAN)
        return 0;
    uint8_t sfx[2] = {(uint8_t)c, (uint8_t)p}, kb[AUX_KEY_MAX], vb[9];
    MDB_val k = {aux_key(kb, r, 'c', sfx, 2), kb}, v;
    int rc = mdb_get(cx->txn, cx->dbi[1], &k, &v);
    if (rc == 0 && v.mv_size == 9 &&
        (int64_t)crm_get_be((const uint8_t *)v.mv_data + 1, 8) > r->occurred_at)
        return 0;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    vb[0] = g->via.boolean ? 1 : 0;
    crm_put_be(vb + 1, (uint64_t)r->occurred_at, 8);
    v.mv_size = 9;
    v.mv_data = vb;
    uint32_t bit = 1u << (c * 4 + p);
    row->consent = vb[0] ? row->consent | bit : row->consent & ~bit;
    return mdb_put(cx->txn, cx->dbi[1], &k, &v, 0);
}

/* A complaint opened and not (yet) resolved counts open, in any order. */
static int
fold_complaint(const crm_proj_ctx *cx, const crm_record *r, int opened,
               seg_row *row)
{
    size_t il = 0;
    const char *cid = field_str(&r->body, "complaint_id", 64, &il);
    if (cid == NULL)
        return 0;
    uint8_t kb[AUX_KEY_MAX], f = 0;
    MDB_val k = {aux_key(kb, r, 'k', cid, il), kb}, v;
    int rc = mdb_get(cx->txn, cx->dbi[1], &k, &v);
    if (rc == 0 && v.mv_size == 1)
        f = *(const uint8_t *)v.mv_data;
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    uint8_t nf = f | (opened ? 1 : 2);
    if (nf == f)
        return 0;
    int was_open = f == 1, is_open = nf == 1;
    if (is_open && !was_open && row->open < 0xffff)
        row->open++;
    else if (was_open && !is_open && row->open > 0)
        row->open--;
    v.mv_size = 1;
    v.mv_data = &nf;
    return mdb_put(cx->txn, cx->dbi[1], &k, &v, 0);
}

static void
fold_preference(const crm_proj_ctx *cx, const crm_record *r, seg_row *row)
{
    size_t cl = 0, vl = 0;
    const char *cat = field_str(&r->body, "category", 64, &cl);
    const char *val = field_str(&r->pii, "value", 256, &vl);
    if (val == NULL)
        val = field_str(&r->body, "value", 256, &vl);
    if (cat == NULL || val == NULL)
        return;
    uint64_t ch = crm_segment_name_hash(cat, cl);
    size_t i = 0;
    while (i < row->nprefs && row->prefs[i].category < ch)
        i++;
    if (i < row->nprefs && row->prefs[i].category == ch) {
        if (row->prefs[i].at > r->occurred_at)
            return;
    } else {
        if (row->nprefs == CRM_SEG_PREFS_MAX)
            return; /* the categories past the cap are not segmentable */
        memmove(&row->prefs[i + 1], &row->prefs[i],
                (row->nprefs - i) * sizeof(row->prefs[0]));
        row->nprefs++;
    }
    row->prefs[i].category = ch;
    row->prefs[i].at = r->occurred_at;
    crm_segment_pref_key(cx->index_key, cat, cl, val, vl, row->prefs[i].value);
}

static void
add_property(seg_row *row, uint64_t h)
{
    size_t i = 0;
    while (i < row->nprops && row->props[i] < h)
        i++;
    if ((i < row->nprops && row->props[i] == h) ||
        row->nprops == CRM_SEG_PROPS_MAX)
        return;
    memmove(&row->props[i + 1], &row->props[i],
            (row->nprops - i) * sizeof(row->props[0]));
    row->props[i] = h;
    row->nprops++;
}

/* The ring keeps the 24 months up to the newest check-out: the set of
 * check-outs decides it, whatever order they come in. */
static void
ring_add(seg_row *row, uint32_t day, uint32_t nights)
{
    uint32_t m = seg_month_index(day);
    if (row->ring_month == 0 || m > row->ring_month) {
        uint32_t shift = row->ring_month == 0 ? CRM_SEG_RING
                                              : m - row->ring_month;
        if (shift >= CRM_SEG_RING) {
            memset(row->ring_nights, 0, sizeof(row->ring_nights));
            memset(row->ring_stays, 0, sizeof(row->ring_stays));
        } else {
            memmove(row->ring_nights + shift, row->ring_nights,
                    (CRM_SEG_RING - shift) * sizeof(row->ring_nights[0]));
            memmove(row->ring_stays + shift, row->ring_stays,
                    CRM_SEG_RING - shift);
            memset(row->ring_nights, 0, shift * sizeof(row->ring_nights[0]));
            memset(row->ring_stays, 0, shift);
        }
        row->ring_month = m;
    }
    uint32_t age = row->ring_month - m;
    if (age >= CRM_SEG_RING)
        return;
    uint32_t n = row->ring_nights[age] + nights;
    row->ring_nights[age] = (uint16_t)(n > 0xffff ? 0xffff : n);
    if (row->ring_stays[age] < 0xff)
        row->ring_stays[age]++;
}

static int
fold_spend(const crm_proj_ctx *cx, const crm_record *r, uint32_t day,
           seg_row *row)
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
    if (rate <= 0)
        return 0; /* no rate that day: not in the base currency's total */
    row->spend = (int64_t)((uint64_t)row->spend +
                           (uint64_t)crm_settings_convert(amount, rate));
    if (amount > 0)
        row->orders++;
    return 0;
}

/* Everything of the guest goes; the marker stays. */
static int
fold_erased(const crm_proj_ctx *cx, const crm_record *r)
{
    uint8_t pfx[CRM_STREAM_MAX + 1];
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
        if (rc != 0 || k.mv_size < plen || memcmp(k.mv_data, pfx, plen) != 0)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    uint8_t vb[2] = {SEG_ROW_FORMAT, SEG_ERASED};
    MDB_val k = {r->stream_len, (void *)r->stream}, v = {2, vb};
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

/* --- definitions ---------------------------------------------------------- */

static int
fold_definition(const crm_proj_ctx *cx, const crm_record *r, int dropped)
{
    size_t nl = 0, fl = 0, dl = 0;
    const char *name = field_str(&r->body, "name", CRM_SEG_NAME_MAX, &nl);
    if (name == NULL)
        return 0;
    MDB_val k = {nl, (void *)name};
    if (dropped) {
        int rc = mdb_del(cx->txn, cx->dbi[2], &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    const char *filter = field_str(&r->body, "filter", CRM_SEG_FILTER_MAX, &fl);
    const char *desc = field_str(&r->body, "description", CRM_SEG_DESC_MAX, &dl);
    if (filter == NULL)
        return 0;
    if (desc == NULL)
        dl = 0;
    uint8_t vb[8 + 2 + CRM_SEG_FILTER_MAX + CRM_SEG_DESC_MAX];
    crm_put_be(vb, r->h.position, 8);
    crm_put_be(vb + 8, fl, 2);
    memcpy(vb + 10, filter, fl);
    if (dl)
        memcpy(vb + 10 + fl, desc, dl);
    MDB_val v = {10 + fl + dl, vb};
    return mdb_put(cx->txn, cx->dbi[2], &k, &v, 0);
}

static int
def_decode(const MDB_val *k, const MDB_val *v, crm_seg_def *d)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size < 10)
        return MDB_CORRUPTED;
    size_t fl = (size_t)crm_get_be(p + 8, 2);
    if (10 + fl > v->mv_size)
        return MDB_CORRUPTED;
    d->name = k->mv_data;
    d->name_len = k->mv_size;
    d->position = crm_get_be(p, 8);
    d->filter = (const char *)p + 10;
    d->filter_len = fl;
    d->description = (const char *)p + 10 + fl;
    d->description_len = v->mv_size - 10 - fl;
    return 0;
}

int
crm_segment_defs(MDB_txn *txn, MDB_dbi db,
                 int (*fn)(void *arg, const crm_seg_def *d), void *arg)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db, &cur);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        crm_seg_def d;
        if ((rc = def_decode(&k, &v, &d)) != 0 || fn(arg, &d))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
crm_segment_def_get(MDB_txn *txn, MDB_dbi db, const char *name, size_t len,
                    crm_seg_def *out)
{
    MDB_val k = {len, (void *)name}, v;
    int rc = mdb_get(txn, db, &k, &v);
    return rc != 0 ? rc : def_decode(&k, &v, out);
}

/* --- the fold ------------------------------------------------------------- */

static int
segment_apply(const crm_proj_ctx *cx, const crm_record *r)
{
    if (r->stream_len == 0 || r->stream_len > CRM_STREAM_MAX)
        return 0;
    if (r->stream[0] == '$') {
        if (!crm_schema_name_eq(CRM_TENANT_STREAM, r->stream, r->stream_len))
            return 0;
        if (crm_schema_name_eq("tenant.segment_defined", r->type, r->type_len))
            return fold_definition(cx, r, 0);
        if (crm_schema_name_eq("tenant.segment_dropped", r->type, r->type_len))
            return fold_definition(cx, r, 1);
        return 0;
    }
    seg_row row;
    uint8_t old[SEG_ROW_MAX];
    size_t old_len = 0;
    MDB_val k = {r->stream_len, (void *)r->stream}, v;
    int rc = mdb_get(cx->txn, cx->dbi[0], &k, &v);
    if (rc == 0) {
        if (v.mv_size > sizeof(old) ||
            seg_row_decode(v.mv_data, v.mv_size, &row, 1) != 0)
            return MDB_CORRUPTED;
        /* kept to skip the put when the event changes nothing (most
         * events of a guest: messages, interactions, loyalty) */
        memcpy(old, v.mv_data, v.mv_size);
        old_len = v.mv_size;
        if (row.flags & SEG_ERASED)
            return 0; /* after an erasure nothing more is kept */
    } else if (rc == MDB_NOTFOUND) {
        memset(&row, 0, sizeof(row));
        row.nps_last = -1;
        rc = 0;
    } else {
        return rc;
    }
    if (crm_schema_name_eq("customer.erased", r->type, r->type_len))
        return fold_erased(cx, r);
    uint32_t day = crm_settings_day_of(r->occurred_at);
    if (row.first_seen == 0 || day < row.first_seen)
        row.first_seen = day;
    const char *t = r->type;
    size_t tl = r->type_len, pl = 0;
    int registered = crm_schema_name_eq("customer.registered", t, tl);
    if (registered || crm_schema_name_eq("customer.profile_updated", t, tl)) {
        if (registered && (row.registered == 0 || day < row.registered))
            row.registered = day;
        const char *home = field_str(&r->body, "home_property", 64, &pl);
        if (home == NULL)
            home = field_str(&r->pii, "home_property", 64, &pl);
        if (home && (row.home == 0 || r->occurred_at >= row.home_at)) {
            row.home = crm_segment_name_hash(home, pl);
            row.home_at = r->occurred_at;
        }
    } else if (crm_schema_name_eq("customer.consent_changed", t, tl)) {
        rc = fold_consent(cx, r, &row);
    } else if (crm_schema_name_eq("customer.preference_set", t, tl)) {
        fold_preference(cx, r, &row);
    } else if (crm_schema_name_eq("booking.created", t, tl)) {
        if (day > row.last_booking)
            row.last_booking = day;
    } else if (crm_schema_name_eq("stay.checked_out", t, tl)) {
        int64_t n = 0;
        if (crm_mp_int(crm_mp_get(&r->body, "nights"), 0, 366, &n) != 0)
            n = 0;
        row.stays++;
        row.nights += (uint32_t)n;
        if (row.first_stay == 0 || day < row.first_stay)
            row.first_stay = day;
        if (day > row.last_stay)
            row.last_stay = day;
        ring_add(&row, day, (uint32_t)n);
        const char *p = field_str(&r->body, "property", 64, &pl);
        if (p)
            add_property(&row, crm_segment_name_hash(p, pl));
    } else if (crm_schema_name_eq("spend.recorded", t, tl)) {
        rc = fold_spend(cx, r, day, &row);
    } else if (crm_schema_name_eq("feedback.survey_submitted", t, tl)) {
        int64_t nps;
        if (crm_mp_int(crm_mp_get(&r->body, "nps"), 0, 10, &nps) == 0 &&
            (row.nps_last < 0 || r->occurred_at >= row.nps_at)) {
            row.nps_last = (int)nps;
            row.nps_at = r->occurred_at;
        }
    } else if (crm_schema_name_eq("complaint.opened", t, tl) ||
               crm_schema_name_eq("complaint.resolved", t, tl)) {
        rc = fold_complaint(cx, r, t[10] == 'o', &row);
    }
    if (rc != 0)
        return rc;
    uint8_t vb[SEG_ROW_MAX];
    v.mv_size = seg_row_encode(&row, vb);
    v.mv_data = vb;
    if (v.mv_size == old_len && memcmp(old, vb, old_len) == 0)
        return 0;
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

const crm_proj_def crm_proj_segment = {
    .name = "segment",
    .format = 1,
    .ndbs = 3,
    .dbs = {"guest", "aux", "defs"},
    .apply = segment_apply,
    .blind = 1,
};
