/* loyalty.c - balances, tiers, accruals and the ledger (loyalty.h). */
#include "loyalty.h"

#include <stdio.h>
#include <string.h>

#include "be.h"
#include "rpc.h"
#include "schema.h"

#define ACCT_MIN (1 + 5 * 8 + 8 + 4 + 8 + 1)
#define KEY_MAX (CRM_STREAM_MAX + 2 + 12)
#define ACCRUAL_LEN 20
#define LINE_LEN 25
#define QUAL_LEN 16

enum { T_EARNED, T_REDEEMED, T_EXPIRED, T_ADJUSTED, T_TIER, T_STAY };

static const char *const types[] = {
    "loyalty.points_earned", "loyalty.points_redeemed",
    "loyalty.points_expired", "loyalty.points_adjusted",
    "loyalty.tier_changed", "stay.checked_out"};

/* The key id 0 tag [suffix]; its length. */
static size_t
key(uint8_t *k, const char *id, size_t id_len, uint8_t tag,
    const uint8_t *suffix, size_t slen)
{
    memcpy(k, id, id_len);
    k[id_len] = 0;
    k[id_len + 1] = tag;
    if (slen)
        memcpy(k + id_len + 2, suffix, slen);
    return id_len + 2 + slen;
}

static int
has_prefix(const MDB_val *k, const uint8_t *prefix, size_t len)
{
    return k->mv_size >= len && memcmp(k->mv_data, prefix, len) == 0;
}

int
crm_loyalty_account_get(MDB_txn *txn, MDB_dbi db, const char *id,
                        size_t id_len, crm_loyalty_account *a)
{
    memset(a, 0, sizeof(*a));
    uint8_t kb[KEY_MAX];
    MDB_val k = {key(kb, id, id_len, 'a', NULL, 0), kb}, v;
    int rc = mdb_get(txn, db, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    const uint8_t *p = v.mv_data;
    if (v.mv_size < ACCT_MIN || p[0] != 1 ||
        v.mv_size != (size_t)ACCT_MIN + p[ACCT_MIN - 1] ||
        p[ACCT_MIN - 1] > CRM_SETTINGS_NAME_MAX)
        return MDB_CORRUPTED;
    a->exists = 1;
    a->balance = (int64_t)crm_get_be(p + 1, 8);
    a->earned = (int64_t)crm_get_be(p + 9, 8);
    a->redeemed = (int64_t)crm_get_be(p + 17, 8);
    a->expired = (int64_t)crm_get_be(p + 25, 8);
    a->adjusted = (int64_t)crm_get_be(p + 33, 8);
    a->lines = crm_get_be(p + 41, 8);
    a->tier_day = (uint32_t)crm_get_be(p + 49, 4);
    a->tier_pos = crm_get_be(p + 53, 8);
    memcpy(a->tier, p + ACCT_MIN, p[ACCT_MIN - 1]);
    a->tier[p[ACCT_MIN - 1]] = '\0';
    return 0;
}

static int
account_put(MDB_txn *txn, MDB_dbi db, const char *id, size_t id_len,
            const crm_loyalty_account *a)
{
    uint8_t kb[KEY_MAX], vb[ACCT_MIN + CRM_SETTINGS_NAME_MAX];
    size_t tl = strlen(a->tier);
    vb[0] = 1;
    crm_put_be(vb + 1, (uint64_t)a->balance, 8);
    crm_put_be(vb + 9, (uint64_t)a->earned, 8);
    crm_put_be(vb + 17, (uint64_t)a->redeemed, 8);
    crm_put_be(vb + 25, (uint64_t)a->expired, 8);
    crm_put_be(vb + 33, (uint64_t)a->adjusted, 8);
    crm_put_be(vb + 41, a->lines, 8);
    crm_put_be(vb + 49, a->tier_day, 4);
    crm_put_be(vb + 53, a->tier_pos, 8);
    vb[ACCT_MIN - 1] = (uint8_t)tl;
    memcpy(vb + ACCT_MIN, a->tier, tl);
    MDB_val k = {key(kb, id, id_len, 'a', NULL, 0), kb},
            v = {ACCT_MIN + tl, vb};
    return mdb_put(txn, db, &k, &v, 0);
}

/* day u32, pos u64: the suffix of accrual and qualifying keys */
static void
day_pos(uint8_t out[12], uint32_t day, uint64_t pos)
{
    crm_put_be(out, day, 4);
    crm_put_be(out + 4, pos, 8);
}

static int
put_qual(const crm_proj_ctx *cx, const crm_record *r, uint32_t day,
         int64_t nights, int64_t points)
{
    uint8_t kb[KEY_MAX], sfx[12], vb[QUAL_LEN];
    day_pos(sfx, day, r->h.position);
    crm_put_be(vb, (uint64_t)nights, 8);
    crm_put_be(vb + 8, (uint64_t)points, 8);
    MDB_val k = {key(kb, r->stream, r->stream_len, 'q', sfx, 12), kb},
            v = {QUAL_LEN, vb};
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

static int
put_accrual(const crm_proj_ctx *cx, const crm_record *r, uint32_t day,
            int64_t points, uint32_t expires)
{
    uint8_t kb[KEY_MAX], sfx[12], vb[ACCRUAL_LEN];
    day_pos(sfx, day, r->h.position);
    crm_put_be(vb, (uint64_t)points, 8);
    crm_put_be(vb + 8, (uint64_t)points, 8);
    crm_put_be(vb + 16, expires, 4);
    MDB_val k = {key(kb, r->stream, r->stream_len, 'e', sfx, 12), kb},
            v = {ACCRUAL_LEN, vb};
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

/* Takes up to *left points from the accruals of the record's guest,
 * oldest first: only the one earned at position only (when nonzero), or
 * those not expired before day (when fresh), or any. */
static int
burn(const crm_proj_ctx *cx, const crm_record *r, uint32_t day, int fresh,
     uint64_t only, int64_t *left)
{
    uint8_t pfx[KEY_MAX], kb[KEY_MAX];
    size_t plen = key(pfx, r->stream, r->stream_len, 'e', NULL, 0);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(cx->txn, cx->dbi[0], &cur);
    if (rc != 0)
        return rc;
    MDB_val k = {plen, pfx}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && *left > 0 && has_prefix(&k, pfx, plen)) {
        if (k.mv_size != plen + 12 || v.mv_size != ACCRUAL_LEN) {
            rc = MDB_CORRUPTED;
            break;
        }
        const uint8_t *vp = v.mv_data;
        uint64_t pos = crm_get_be((const uint8_t *)k.mv_data + plen + 4, 8);
        int64_t rem = (int64_t)crm_get_be(vp + 8, 8);
        uint32_t exp = (uint32_t)crm_get_be(vp + 16, 4);
        if ((only && pos != only) || (!only && fresh && exp && exp < day)) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        int64_t take = rem < *left ? rem : *left;
        *left -= take;
        rem -= take;
        size_t klen = k.mv_size;
        memcpy(kb, k.mv_data, klen);
        if (rem == 0) {
            /* used up: it leaves, its ledger line stays */
            if ((rc = mdb_cursor_del(cur, 0)) != 0)
                break;
            k.mv_size = klen;
            k.mv_data = kb;
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        } else {
            uint8_t vb[ACCRUAL_LEN];
            memcpy(vb, vp, ACCRUAL_LEN);
            crm_put_be(vb + 8, (uint64_t)rem, 8);
            MDB_val nv = {ACCRUAL_LEN, vb};
            k.mv_size = klen;
            k.mv_data = kb;
            if ((rc = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT)) != 0)
                break;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
put_line(const crm_proj_ctx *cx, const crm_record *r, int kind,
         int64_t points, int64_t balance, uint32_t day, uint32_t expires)
{
    uint8_t kb[KEY_MAX], sfx[8], vb[LINE_LEN];
    crm_put_be(sfx, r->h.position, 8);
    vb[0] = (uint8_t)kind;
    crm_put_be(vb + 1, (uint64_t)points, 8);
    crm_put_be(vb + 9, (uint64_t)balance, 8);
    crm_put_be(vb + 17, day, 4);
    crm_put_be(vb + 21, expires, 4);
    MDB_val k = {key(kb, r->stream, r->stream_len, 'l', sfx, 8), kb},
            v = {LINE_LEN, vb};
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

static int64_t
body_int(const crm_record *r, const char *name, int64_t def)
{
    int64_t v;
    return crm_mp_int(crm_mp_get(&r->body, name), INT64_MIN, INT64_MAX, &v) ==
                   0
               ? v
               : def;
}

static uint32_t
body_day(const crm_record *r, const char *name)
{
    const msgpack_object *o = crm_mp_get(&r->body, name);
    return crm_mp_is_str(o) ? crm_settings_day(o->via.str.ptr, o->via.str.size)
                            : 0;
}

/* When points earned on day lapse: as the event says, else by the rules
 * in force on that day. */
static int
expiry_of(const crm_proj_ctx *cx, const crm_record *r, uint32_t day,
          uint32_t *out)
{
    if ((*out = body_day(r, "expires_on")) != 0)
        return 0;
    const crm_settings *s;
    int rc = crm_settings_for(cx, day, r->h.position, &s);
    if (rc == 0)
        *out = s->points_expiry_months > 0
                   ? crm_settings_day_add_months(day, s->points_expiry_months)
                   : 0;
    return rc;
}

static int
loyalty_apply(const crm_proj_ctx *cx, const crm_record *r)
{
    if (r->stream_len == 0 || r->stream[0] == '$')
        return 0;
    int t = 0;
    while (t <= T_STAY && !crm_schema_name_eq(types[t], r->type, r->type_len))
        t++;
    if (t > T_STAY)
        return 0;
    uint32_t day = crm_settings_day_of(r->occurred_at);
    if (t == T_STAY) {
        int64_t nights = body_int(r, "nights", 0);
        return nights > 0 ? put_qual(cx, r, day, nights, 0) : 0;
    }
    crm_loyalty_account a;
    int rc = crm_loyalty_account_get(cx->txn, cx->dbi[0], r->stream,
                                     r->stream_len, &a);
    if (rc != 0)
        return rc;
    int64_t pts = body_int(r, "points", 0), left;
    uint32_t expires = 0;
    int kind = 0;
    switch (t) {
    case T_TIER: {
        const msgpack_object *to = crm_mp_get(&r->body, "to");
        size_t n = crm_mp_is_str(to) ? to->via.str.size : 0;
        if (n > CRM_SETTINGS_NAME_MAX)
            n = CRM_SETTINGS_NAME_MAX;
        memcpy(a.tier, n ? to->via.str.ptr : "", n);
        a.tier[n] = '\0';
        a.tier_day = day;
        a.tier_pos = r->h.position;
        return account_put(cx->txn, cx->dbi[0], r->stream, r->stream_len, &a);
    }
    case T_EARNED:
        if ((rc = expiry_of(cx, r, day, &expires)) != 0 ||
            (rc = put_accrual(cx, r, day, pts, expires)) != 0 ||
            (rc = put_qual(cx, r, day, 0, pts)) != 0)
            return rc;
        a.earned += pts;
        a.balance += pts;
        kind = CRM_LOYALTY_EARNED;
        break;
    case T_REDEEMED:
        left = pts;
        if ((rc = burn(cx, r, day, 1, 0, &left)) != 0)
            return rc;
        a.redeemed += pts;
        a.balance -= pts;
        pts = -pts;
        kind = CRM_LOYALTY_REDEEMED;
        break;
    case T_EXPIRED: {
        uint64_t only = (uint64_t)body_int(r, "accrual", 0);
        left = pts;
        if ((rc = burn(cx, r, day, 0, only, &left)) != 0)
            return rc;
        a.expired += pts;
        a.balance -= pts;
        pts = -pts;
        kind = CRM_LOYALTY_EXPIRED;
        break;
    }
    case T_ADJUSTED:
        if (pts > 0) {
            if ((rc = expiry_of(cx, r, day, &expires)) != 0 ||
                (rc = put_accrual(cx, r, day, pts, expires)) != 0)
                return rc;
        } else {
            left = -pts;
            if ((rc = burn(cx, r, day, 1, 0, &left)) != 0)
                return rc;
        }
        a.adjusted += pts;
        a.balance += pts;
        kind = CRM_LOYALTY_ADJUSTED;
        break;
    }
    a.lines++;
    if ((rc = put_line(cx, r, kind, pts, a.balance, day, expires)) != 0)
        return rc;
    return account_put(cx->txn, cx->dbi[0], r->stream, r->stream_len, &a);
}

const crm_proj_def crm_proj_loyalty = {
    .name = "loyalty",
    .format = 1,
    .ndbs = 1,
    .dbs = {"acct"},
    .apply = loyalty_apply,
};

/* --- what is told when asked ------------------------------------------------ */

/* Calls fn for every entry id 0 tag ...; fn returns nonzero to stop. */
typedef int (*each_fn)(void *arg, const uint8_t *sfx, size_t slen,
                       const MDB_val *v);

static int
each(MDB_txn *txn, MDB_dbi db, const char *id, size_t id_len, uint8_t tag,
     int backwards, each_fn fn, void *arg)
{
    uint8_t pfx[KEY_MAX];
    size_t plen = key(pfx, id, id_len, tag, NULL, 0);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db, &cur);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    if (backwards) {
        /* the first key past the prefix, then step back */
        uint8_t end[KEY_MAX];
        memcpy(end, pfx, plen);
        end[plen - 1]++;
        k.mv_size = plen;
        k.mv_data = end;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV)
             : rc == MDB_NOTFOUND ? mdb_cursor_get(cur, &k, &v, MDB_LAST)
                                  : rc;
    } else {
        k.mv_size = plen;
        k.mv_data = pfx;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    while (rc == 0 && has_prefix(&k, pfx, plen)) {
        if (fn(arg, (const uint8_t *)k.mv_data + plen, k.mv_size - plen, &v))
            break;
        rc = mdb_cursor_get(cur, &k, &v, backwards ? MDB_PREV : MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

typedef struct expiring {
    uint32_t day;
    int64_t lapsed;   /* remaining in accruals expired before day */
    size_t n;         /* distinct expiry dates in d/p */
    uint32_t d[12];
    int64_t p[12];
    int any;
} expiring;

static int
on_accrual(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    expiring *x = arg;
    if (slen != 12 || v->mv_size != ACCRUAL_LEN)
        return 0;
    const uint8_t *p = v->mv_data;
    int64_t rem = (int64_t)crm_get_be(p + 8, 8);
    uint32_t exp = (uint32_t)crm_get_be(p + 16, 4);
    x->any = 1;
    if (exp == 0 || rem <= 0)
        return 0;
    if (exp < x->day) {
        x->lapsed += rem;
        return 0;
    }
    /* insert in date order, merging equal dates; the latest drop out */
    size_t i = 0;
    while (i < x->n && x->d[i] < exp)
        i++;
    if (i < x->n && x->d[i] == exp) {
        x->p[i] += rem;
        return 0;
    }
    if (i == 12)
        return 0;
    size_t n = x->n < 12 ? x->n : 11;
    memmove(x->d + i + 1, x->d + i, (n - i) * sizeof(x->d[0]));
    memmove(x->p + i + 1, x->p + i, (n - i) * sizeof(x->p[0]));
    x->d[i] = exp;
    x->p[i] = rem;
    x->n = n + 1;
    return 0;
}

int
crm_loyalty_available(MDB_txn *txn, MDB_dbi db, const char *id,
                      size_t id_len, uint32_t day, int64_t *out)
{
    crm_loyalty_account a;
    expiring x = {.day = day};
    int rc = crm_loyalty_account_get(txn, db, id, id_len, &a);
    if (rc == 0)
        rc = each(txn, db, id, id_len, 'e', 0, on_accrual, &x);
    *out = a.balance - x.lapsed;
    return rc;
}

/* Points left in accruals expiring from..to (segment.h). */
typedef struct expiring_in {
    uint32_t from, to;
    int64_t points;
} expiring_in;

static int
on_expiring_in(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    expiring_in *x = arg;
    if (slen != 12 || v->mv_size != ACCRUAL_LEN)
        return 0;
    const uint8_t *p = v->mv_data;
    int64_t rem = (int64_t)crm_get_be(p + 8, 8);
    uint32_t exp = (uint32_t)crm_get_be(p + 16, 4);
    if (exp != 0 && rem > 0 && exp >= x->from && exp <= x->to)
        x->points += rem;
    return 0;
}

int
crm_loyalty_expiring(MDB_txn *txn, MDB_dbi db, const char *id, size_t id_len,
                     uint32_t from, uint32_t to, int64_t *points)
{
    expiring_in x = {from, to, 0};
    int rc = each(txn, db, id, id_len, 'e', 0, on_expiring_in, &x);
    *points = x.points;
    return rc;
}

typedef struct window {
    uint32_t from;          /* first day counted */
    int64_t nights, points;
    uint32_t oldest;        /* first day with activity in the window */
    int any;
} window;

static int
on_qual(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    window *w = arg;
    if (slen != 12 || v->mv_size != QUAL_LEN)
        return 0;
    w->any = 1;
    uint32_t day = (uint32_t)crm_get_be(sfx, 4);
    if (day < w->from)
        return 0;
    const uint8_t *p = v->mv_data;
    w->nights += (int64_t)crm_get_be(p, 8);
    w->points += (int64_t)crm_get_be(p + 8, 8);
    if (w->oldest == 0 || day < w->oldest)
        w->oldest = day;
    return 0;
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

void
crm_loyalty_tier_for_earn(const crm_loyalty_account *a, const crm_settings *s,
                          char *out, size_t cap)
{
    const char *t = a->tier[0] ? a->tier : s->ntiers ? s->tiers[0].name : "";
    snprintf(out, cap, "%s", t);
}

/* The best tier the window qualifies for (index into s->tiers), and the
 * next one above it (-1 for none). */
static void
qualify(const crm_settings *s, const window *w, int *best, int *next)
{
    *best = s->ntiers ? 0 : -1;
    *next = -1;
    for (size_t i = 0; i < s->ntiers; i++) {
        const crm_settings_tier *t = &s->tiers[i];
        int ok = (t->min_nights == 0 && t->min_points == 0) ||
                 (t->min_nights > 0 && w->nights >= t->min_nights) ||
                 (t->min_points > 0 && w->points >= t->min_points);
        if (ok)
            *best = (int)i;
    }
    if (*best >= 0 && (size_t)*best + 1 < s->ntiers)
        *next = *best + 1;
}

typedef struct lines {
    msgpack_packer *pk;
    size_t left, n;
} lines;

static int
on_line(void *arg, const uint8_t *sfx, size_t slen, const MDB_val *v)
{
    static const char *const kinds[] = {"", "earned", "redeemed", "expired",
                                        "adjusted"};
    lines *l = arg;
    if (l->left == 0)
        return 1;
    if (slen != 8 || v->mv_size != LINE_LEN)
        return 0;
    const uint8_t *p = v->mv_data;
    msgpack_packer *pk = l->pk;
    uint32_t exp = (uint32_t)crm_get_be(p + 21, 4);
    msgpack_pack_map(pk, exp ? 6 : 5);
    kv_i64(pk, "position", (int64_t)crm_get_be(sfx, 8));
    crm_mp_pack_cstr(pk, "kind");
    crm_mp_pack_cstr(pk, p[0] <= CRM_LOYALTY_ADJUSTED ? kinds[p[0]] : "?");
    kv_i64(pk, "points", (int64_t)crm_get_be(p + 1, 8));
    kv_i64(pk, "balance", (int64_t)crm_get_be(p + 9, 8));
    kv_day(pk, "day", (uint32_t)crm_get_be(p + 17, 4));
    if (exp)
        kv_day(pk, "expires_on", exp);
    l->left--;
    l->n++;
    return 0;
}

int
crm_loyalty_pack(MDB_txn *txn, MDB_dbi db, const char *id, size_t id_len,
                 uint32_t day, const crm_settings *s, size_t ledger_max,
                 size_t extra, msgpack_packer *pk)
{
    crm_loyalty_account a;
    expiring x = {.day = day};
    window w = {.from = crm_settings_day_add_months(day,
                                                    -s->tier_window_months)};
    int rc;
    if ((rc = crm_loyalty_account_get(txn, db, id, id_len, &a)) != 0 ||
        (rc = each(txn, db, id, id_len, 'e', 0, on_accrual, &x)) != 0 ||
        (rc = each(txn, db, id, id_len, 'q', 0, on_qual, &w)) != 0)
        return rc;
    if (!a.exists && !w.any)
        return MDB_NOTFOUND;
    int best, next;
    qualify(s, &w, &best, &next);
    char tier[CRM_SETTINGS_NAME_MAX + 1];
    crm_loyalty_tier_for_earn(&a, s, tier, sizeof(tier));

    msgpack_pack_map(pk, 16 + extra);
    kv_i64(pk, "balance", a.balance);
    kv_i64(pk, "available", a.balance - x.lapsed);
    kv_i64(pk, "lapsed", x.lapsed);
    crm_mp_pack_cstr(pk, "tier");
    crm_mp_pack_cstr(pk, tier);
    kv_day(pk, "tier_since", a.tier_day);
    crm_mp_pack_cstr(pk, "qualified_tier");
    crm_mp_pack_cstr(pk, best >= 0 ? s->tiers[best].name : "");
    crm_mp_pack_cstr(pk, "next_tier");
    if (next < 0) {
        msgpack_pack_nil(pk);
    } else {
        const crm_settings_tier *t = &s->tiers[next];
        msgpack_pack_map(pk, 5);
        crm_mp_pack_cstr(pk, "tier");
        crm_mp_pack_cstr(pk, t->name);
        crm_mp_pack_cstr(pk, "nights_needed");
        if (t->min_nights > 0)
            msgpack_pack_int64(pk, t->min_nights - w.nights);
        else
            msgpack_pack_nil(pk);
        crm_mp_pack_cstr(pk, "points_needed");
        if (t->min_points > 0)
            msgpack_pack_int64(pk, t->min_points - w.points);
        else
            msgpack_pack_nil(pk);
        kv_day(pk, "window_from", w.from);
        /* what counts now starts dropping out of the window then */
        kv_day(pk, "counts_until",
               w.oldest ? crm_settings_day_add_months(w.oldest,
                                                      s->tier_window_months)
                        : 0);
    }
    kv_i64(pk, "nights_in_window", w.nights);
    kv_i64(pk, "points_in_window", w.points);
    kv_i64(pk, "earned", a.earned);
    kv_i64(pk, "redeemed", a.redeemed);
    kv_i64(pk, "expired", a.expired);
    kv_i64(pk, "adjusted", a.adjusted);
    kv_i64(pk, "lines", (int64_t)a.lines);
    crm_mp_pack_cstr(pk, "expiring");
    msgpack_pack_array(pk, x.n);
    for (size_t i = 0; i < x.n; i++) {
        msgpack_pack_map(pk, 2);
        kv_day(pk, "expires_on", x.d[i]);
        kv_i64(pk, "points", x.p[i]);
    }
    crm_mp_pack_cstr(pk, "ledger");
    size_t nl = a.lines < ledger_max ? (size_t)a.lines : ledger_max;
    msgpack_pack_array(pk, nl);
    lines l = {pk, nl, 0};
    if ((rc = each(txn, db, id, id_len, 'l', 1, on_line, &l)) != 0)
        return rc;
    for (; l.n < nl; l.n++)
        msgpack_pack_nil(pk); /* the account counted lines not stored */
    return 0;
}

int
crm_loyalty_pack_summary(MDB_txn *txn, MDB_dbi db, const char *id,
                         size_t id_len, uint32_t day, const crm_settings *s,
                         msgpack_packer *pk)
{
    char tier[CRM_SETTINGS_NAME_MAX + 1];
    crm_loyalty_account a;
    expiring x = {.day = day};
    int rc;
    if ((rc = crm_loyalty_account_get(txn, db, id, id_len, &a)) != 0 ||
        (rc = each(txn, db, id, id_len, 'e', 0, on_accrual, &x)) != 0)
        return rc;
    crm_loyalty_tier_for_earn(&a, s, tier, sizeof(tier));
    msgpack_pack_map(pk, 4);
    kv_i64(pk, "balance", a.balance);
    kv_i64(pk, "available", a.balance - x.lapsed);
    crm_mp_pack_cstr(pk, "tier");
    crm_mp_pack_cstr(pk, tier);
    crm_mp_pack_cstr(pk, "expiring_next");
    if (x.n == 0) {
        msgpack_pack_nil(pk);
    } else {
        msgpack_pack_map(pk, 2);
        kv_day(pk, "expires_on", x.d[0]);
        kv_i64(pk, "points", x.p[0]);
    }
    return 0;
}

/* --- what a sweep finds due -------------------------------------------------- */

typedef struct sweep {
    uint32_t day;
    const crm_settings *s;
    int (*fn)(void *arg, const crm_loyalty_due *d);
    void *arg;
    uint8_t id[CRM_STREAM_MAX];
    size_t id_len;
    int any; /* the guest has an account or qualifying activity */
    crm_loyalty_account a;
    window w;
} sweep;

/* The tier decision for the guest just scanned. */
static int
sweep_guest(sweep *x)
{
    if (!x->any || x->s->ntiers == 0)
        return 0;
    int best, next;
    qualify(x->s, &x->w, &best, &next);
    const char *held = x->a.tier[0] ? x->a.tier : x->s->tiers[0].name;
    const char *to = x->s->tiers[best].name;
    if (strcmp(held, to) == 0)
        return 0;
    int up = 1; /* from a tier no longer defined: any change is up */
    for (size_t i = 0; i < x->s->ntiers; i++)
        if (strcmp(x->s->tiers[i].name, held) == 0)
            up = (int)i < best;
    crm_loyalty_due d = {.kind = CRM_LOYALTY_DUE_TIER,
                         .stream = (const char *)x->id,
                         .stream_len = x->id_len,
                         .from = held,
                         .to = to,
                         .bonus = up ? x->s->tiers[best].bonus_points : 0,
                         .nights = x->w.nights,
                         .window_points = x->w.points};
    return x->fn(x->arg, &d);
}

int
crm_loyalty_sweep(MDB_txn *txn, MDB_dbi db, uint32_t day,
                  const crm_settings *s,
                  int (*fn)(void *arg, const crm_loyalty_due *d), void *arg)
{
    sweep x = {.day = day, .s = s, .fn = fn, .arg = arg};
    uint32_t from = crm_settings_day_add_months(day, -s->tier_window_months);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db, &cur), stop = 0;
    if (rc != 0)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !stop;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *kp = k.mv_data, *z = memchr(kp, 0, k.mv_size);
        if (z == NULL || (size_t)(z - kp) > CRM_STREAM_MAX ||
            z + 1 >= kp + k.mv_size) {
            rc = MDB_CORRUPTED;
            break;
        }
        size_t idl = (size_t)(z - kp);
        if (idl != x.id_len || memcmp(kp, x.id, idl) != 0) {
            if ((stop = sweep_guest(&x)) != 0)
                break;
            memcpy(x.id, kp, idl);
            x.id_len = idl;
            x.any = 0;
            memset(&x.a, 0, sizeof(x.a));
            memset(&x.w, 0, sizeof(x.w));
            x.w.from = from;
        }
        const uint8_t *sfx = z + 2;
        size_t slen = k.mv_size - idl - 2;
        switch (z[1]) {
        case 'a':
            x.any = 1;
            if ((rc = crm_loyalty_account_get(txn, db, (const char *)x.id,
                                              x.id_len, &x.a)) != 0)
                stop = 1;
            break;
        case 'e': {
            if (slen != 12 || v.mv_size != ACCRUAL_LEN)
                break;
            const uint8_t *p = v.mv_data;
            int64_t rem = (int64_t)crm_get_be(p + 8, 8);
            uint32_t exp = (uint32_t)crm_get_be(p + 16, 4);
            if (exp == 0 || exp >= day || rem <= 0)
                break;
            crm_loyalty_due d = {.kind = CRM_LOYALTY_DUE_EXPIRE,
                                 .stream = (const char *)x.id,
                                 .stream_len = x.id_len,
                                 .accrual = crm_get_be(sfx + 4, 8),
                                 .earned = (uint32_t)crm_get_be(sfx, 4),
                                 .points = rem};
            stop = fn(arg, &d);
            break;
        }
        case 'q':
            on_qual(&x.w, sfx, slen, &v);
            x.any = 1;
            break;
        default:
            break;
        }
    }
    if (rc == MDB_NOTFOUND && !stop)
        sweep_guest(&x);
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}
