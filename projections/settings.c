/* settings.c - the tenant's settings from its tenant.* events
 * (settings.h). */
#include "settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be.h"

#include "decimal.h"
#include "rpc.h"
#include "schema.h"

enum { K_SETTINGS, K_RATE, K_TIER, K_EARN };

static const char *const kinds[] = {"tenant.settings_changed",
                                    "tenant.rate_set", "tenant.tier_defined",
                                    "tenant.earn_rate_set"};

static int
kind_of(const char *type, size_t len)
{
    for (int k = 0; k < 4; k++)
        if (crm_schema_name_eq(kinds[k], type, len))
            return k;
    return -1;
}

uint32_t
crm_settings_day(const char *d, size_t len)
{
    if (len != 10)
        return 0;
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++)
        if (d[i] >= '0' && d[i] <= '9')
            v = v * 10 + (uint32_t)(d[i] - '0');
    return v;
}

/* Civil date of a day count since 1970-01-01 (H. Hinnant's algorithm). */
uint32_t
crm_settings_day_of(int64_t us)
{
    int64_t z = (us >= 0 ? us / 86400000000LL
                         : -((-us + 86400000000LL - 1) / 86400000000LL)) +
                719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2)
        y++;
    return (uint32_t)(y * 10000 + m * 100 + d);
}

int64_t
crm_settings_day_start(uint32_t day)
{
    int64_t y = day / 10000, m = (day / 100) % 100, d = day % 100;
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (era * 146097 + doe - 719468) * 86400000000LL;
}

void
crm_settings_day_text(uint32_t d, char out[11])
{
    if (d == 0) {
        out[0] = '\0';
        return;
    }
    snprintf(out, 11, "%04u-%02u-%02u", (d / 10000) % 10000, (d / 100) % 100,
             d % 100);
}

uint32_t
crm_settings_day_add_months(uint32_t day, int64_t months)
{
    int64_t y = day / 10000, m = (day / 100) % 100 - 1 + months, d = day % 100;
    y += m >= 0 ? m / 12 : -((11 - m) / 12);
    m = ((m % 12) + 12) % 12 + 1;
    static const int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t last = len[m - 1] +
                   (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    if (d > last)
        d = last;
    return (uint32_t)(y * 10000 + m * 100 + d);
}

int64_t
crm_settings_days_between(uint32_t a, uint32_t b)
{
    return (crm_settings_day_start(b) - crm_settings_day_start(a)) /
           86400000000LL;
}

static void
copy_str(char *dst, size_t cap, const msgpack_object *o)
{
    size_t n = o->via.str.size < cap - 1 ? o->via.str.size : cap - 1;
    memcpy(dst, o->via.str.ptr, n);
    dst[n] = '\0';
}

static int
str_is(const msgpack_object *o, const char *s)
{
    return crm_mp_is_str(o) && crm_schema_name_eq(s, o->via.str.ptr,
                                                  o->via.str.size);
}

/* Sets *dst from an integer field when the body has it. */
static void
take_int(const msgpack_object *body, const char *name, int64_t *dst)
{
    int64_t v;
    if (crm_mp_int(crm_mp_get(body, name), INT64_MIN, INT64_MAX, &v) == 0)
        *dst = v;
}

static int64_t
take_decimal(const msgpack_object *o)
{
    int64_t v;
    if (!crm_mp_is_str(o) ||
        crm_decimal_parse(o->via.str.ptr, o->via.str.size, &v) != 0)
        return -1;
    return v;
}

static int
tier_cmp(const void *a, const void *b)
{
    const crm_settings_tier *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return strcmp(x->name, y->name);
}

void
crm_settings_defaults(crm_settings *s)
{
    memset(s, 0, sizeof(*s));
    memcpy(s->base_currency, "EUR", 4);
    s->complaint_sla_hours = 48;
    s->dormant_days = 180;
    s->points_expiry_months = 24;
    s->tier_window_months = 12;
    s->booking_confirm_hours = 24;
    static const crm_settings_tier tiers[] = {
        {"ordinary", 0, 0, 0, 0, 0},
        {"silver", 1, 10, 5000, 500, 0},
        {"gold", 2, 25, 15000, 1000, 0},
    };
    memcpy(s->tiers, tiers, sizeof(tiers));
    s->ntiers = 3;
    s->earn[0] = (crm_settings_earn){"any", "any", 10 * CRM_DECIMAL_SCALE, 0};
    s->nearn = 1;
}

static int
fold_settings(crm_settings *s, const msgpack_object *b)
{
    const msgpack_object *o;
    if (crm_mp_is_str(o = crm_mp_get(b, "base_currency")) &&
        o->via.str.size == 3)
        copy_str(s->base_currency, sizeof(s->base_currency), o);
    if (crm_mp_is_str(o = crm_mp_get(b, "country_code")))
        copy_str(s->country_code, sizeof(s->country_code), o);
    take_int(b, "complaint_sla_hours", &s->complaint_sla_hours);
    take_int(b, "dormant_days", &s->dormant_days);
    take_int(b, "points_expiry_months", &s->points_expiry_months);
    take_int(b, "tier_window_months", &s->tier_window_months);
    take_int(b, "booking_confirm_hours", &s->booking_confirm_hours);
    return 0;
}

static int
fold_rate(crm_settings *s, const msgpack_object *b, uint32_t from,
          const char **why)
{
    const msgpack_object *cur = crm_mp_get(b, "currency");
    int64_t rate = take_decimal(crm_mp_get(b, "rate"));
    if (!crm_mp_is_str(cur) || cur->via.str.size != 3 || rate < 0) {
        *why = "a rate needs a currency and a rate";
        return -1;
    }
    size_t i = 0;
    while (i < s->nrates &&
           !crm_schema_name_eq(s->rates[i].currency, cur->via.str.ptr, 3))
        i++;
    if (i == s->nrates) {
        if (s->nrates == CRM_SETTINGS_RATES_MAX) {
            *why = "too many currencies (at most 64)";
            return -1;
        }
        s->nrates++;
        copy_str(s->rates[i].currency, 4, cur);
    }
    s->rates[i].rate = rate;
    s->rates[i].from = from;
    return 0;
}

static int
fold_tier(crm_settings *s, const msgpack_object *b, uint32_t from,
          const char **why)
{
    const msgpack_object *name = crm_mp_get(b, "tier");
    if (!crm_mp_is_str(name) || name->via.str.size == 0 ||
        name->via.str.size > CRM_SETTINGS_NAME_MAX) {
        *why = "a tier needs a name of 1..40 bytes";
        return -1;
    }
    size_t i = 0;
    while (i < s->ntiers && !str_is(name, s->tiers[i].name))
        i++;
    const msgpack_object *ret = crm_mp_get(b, "retired");
    if (ret && ret->type == MSGPACK_OBJECT_BOOLEAN && ret->via.boolean) {
        if (i < s->ntiers) {
            memmove(&s->tiers[i], &s->tiers[i + 1],
                    (s->ntiers - i - 1) * sizeof(s->tiers[0]));
            s->ntiers--;
        }
        return 0;
    }
    if (i == s->ntiers) {
        if (s->ntiers == CRM_SETTINGS_TIERS_MAX) {
            *why = "too many tiers (at most 16)";
            return -1;
        }
        s->ntiers++;
        memset(&s->tiers[i], 0, sizeof(s->tiers[i]));
        copy_str(s->tiers[i].name, sizeof(s->tiers[i].name), name);
    }
    crm_settings_tier *t = &s->tiers[i];
    take_int(b, "rank", &t->rank);
    take_int(b, "min_nights", &t->min_nights);
    take_int(b, "min_points", &t->min_points);
    take_int(b, "bonus_points", &t->bonus_points);
    t->from = from;
    qsort(s->tiers, s->ntiers, sizeof(s->tiers[0]), tier_cmp);
    return 0;
}

static int
fold_earn(crm_settings *s, const msgpack_object *b, uint32_t from,
          const char **why)
{
    const msgpack_object *tier = crm_mp_get(b, "tier");
    const msgpack_object *cat = crm_mp_get(b, "category");
    int64_t per = take_decimal(crm_mp_get(b, "points_per_unit"));
    if (!crm_mp_is_str(tier) || tier->via.str.size == 0 ||
        tier->via.str.size > CRM_SETTINGS_NAME_MAX || !crm_mp_is_str(cat) ||
        cat->via.str.size >= 16 || per < 0) {
        *why = "an earn rate needs a tier, a category and points_per_unit "
               ">= 0";
        return -1;
    }
    size_t i = 0;
    while (i < s->nearn &&
           !(str_is(tier, s->earn[i].tier) && str_is(cat, s->earn[i].category)))
        i++;
    if (i == s->nearn) {
        if (s->nearn == CRM_SETTINGS_EARN_MAX) {
            *why = "too many earn rates (at most 64)";
            return -1;
        }
        s->nearn++;
        copy_str(s->earn[i].tier, sizeof(s->earn[i].tier), tier);
        copy_str(s->earn[i].category, sizeof(s->earn[i].category), cat);
    }
    s->earn[i].per_unit = per;
    s->earn[i].from = from;
    return 0;
}

int
crm_settings_fold(crm_settings *s, const char *type, size_t type_len,
                  const msgpack_object *body, uint64_t position,
                  const char **why)
{
    const msgpack_object *eff = crm_mp_get(body, "effective_from");
    uint32_t from = crm_mp_is_str(eff)
                        ? crm_settings_day(eff->via.str.ptr, eff->via.str.size)
                        : 0;
    int rc;
    *why = NULL;
    switch (kind_of(type, type_len)) {
    case K_SETTINGS: rc = fold_settings(s, body); break;
    case K_RATE: rc = fold_rate(s, body, from, why); break;
    case K_TIER: rc = fold_tier(s, body, from, why); break;
    case K_EARN: rc = fold_earn(s, body, from, why); break;
    default: *why = "not a settings event"; return -1;
    }
    if (rc == 0) {
        s->changes++;
        s->last_change = position;
    }
    return rc;
}

/* --- the projection -------------------------------------------------------- */


#define STAMP_KEY "\xff"

static int
settings_apply(const crm_proj_ctx *cx, const crm_record *r)
{
    int kind;
    if (!crm_schema_name_eq(CRM_TENANT_STREAM, r->stream, r->stream_len) ||
        (kind = kind_of(r->type, r->type_len)) < 0)
        return 0;
    const msgpack_object *eff = crm_mp_get(&r->body, "effective_from");
    if (!crm_mp_is_str(eff))
        return 0; /* the schema requires it: nothing to keep without it */
    uint8_t kb[12];
    crm_put_be(kb, crm_settings_day(eff->via.str.ptr, eff->via.str.size), 4);
    crm_put_be(kb + 4, r->h.position, 8);

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    uint8_t k8 = (uint8_t)kind;
    int rc = msgpack_sbuffer_write(&sb, (const char *)&k8, 1) != 0 ||
                     crm_mp_pack_object(&pk, &r->body) != 0
                 ? ENOMEM
                 : 0;
    if (rc == 0) {
        MDB_val k = {sizeof(kb), kb}, v = {sb.size, sb.data};
        rc = mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
    }
    if (rc == 0) {
        /* the stamp: the hash of the last change, which names it and
         * everything before it (crm_settings_for's cache) */
        MDB_val k = {sizeof(STAMP_KEY) - 1, (void *)STAMP_KEY},
                v = {CRM_HASH_LEN, (void *)r->hash};
        rc = mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
    }
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

const crm_proj_def crm_proj_settings = {
    .name = "settings",
    .format = 2,
    .ndbs = 1,
    .dbs = {"changes"},
    .apply = settings_apply,
};

int
crm_settings_at(MDB_txn *txn, MDB_dbi changes, uint32_t day, uint64_t as_of,
                crm_settings *out)
{
    crm_settings_defaults(out);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, changes, &cur);
    if (rc != 0)
        return rc;
    msgpack_zone z;
    if (!msgpack_zone_init(&z, 1024)) {
        mdb_cursor_close(cur);
        return ENOMEM;
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 12 || v.mv_size < 2)
            continue;
        if ((uint32_t)crm_get_be(k.mv_data, 4) > day)
            break;
        uint64_t pos = crm_get_be((const uint8_t *)k.mv_data + 4, 8);
        if (pos > as_of)
            continue;
        const uint8_t *p = v.mv_data;
        if (p[0] > K_EARN)
            continue;
        msgpack_object body;
        size_t off = 0;
        msgpack_zone_clear(&z);
        if (msgpack_unpack((const char *)p + 1, v.mv_size - 1, &off, &z,
                           &body) != MSGPACK_UNPACK_SUCCESS)
            continue;
        const char *why;
        /* a change that no longer fits a table is left out, as it was
         * when settings.set refused to add it */
        (void)crm_settings_fold(out, kinds[p[0]], strlen(kinds[p[0]]), &body,
                                pos, &why);
    }
    msgpack_zone_destroy(&z);
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int64_t
crm_settings_rate_get(const crm_settings *s, const char *currency)
{
    if (strcmp(currency, s->base_currency) == 0)
        return CRM_DECIMAL_SCALE;
    for (size_t i = 0; i < s->nrates; i++)
        if (strcmp(s->rates[i].currency, currency) == 0)
            return s->rates[i].rate;
    return -1;
}

int64_t
crm_settings_convert(int64_t amount, int64_t rate)
{
    __int128 p = (__int128)amount * rate, h = CRM_DECIMAL_SCALE / 2;
    p = (p >= 0 ? p + h : p - h) / CRM_DECIMAL_SCALE;
    return p > INT64_MAX ? INT64_MAX : p < INT64_MIN ? INT64_MIN : (int64_t)p;
}

int64_t
crm_settings_earn_get(const crm_settings *s, const char *tier,
                       const char *category)
{
    int best = -1;
    int64_t rate = 0;
    for (size_t i = 0; i < s->nearn; i++) {
        const crm_settings_earn *e = &s->earn[i];
        int t = strcmp(e->tier, tier) == 0 ? 2
                : strcmp(e->tier, "any") == 0 ? 0 : -1;
        int c = strcmp(e->category, category) == 0 ? 1
                : strcmp(e->category, "any") == 0 ? 0 : -1;
        if (t < 0 || c < 0 || t + c <= best)
            continue;
        best = t + c;
        rate = e->per_unit;
    }
    return rate;
}

/* --- resolved settings for projections -------------------------------------- */

#define CACHE_WAYS 4

/* Settings resolved for day, the same for every as_of in [lo, hi) while
 * the changes database carries stamp. */
typedef struct cache_entry {
    int used;
    uint32_t day;
    uint64_t lo, hi;
    uint8_t stamp[CRM_HASH_LEN];
    crm_settings s;
} cache_entry;

struct crm_settings_cache {
    cache_entry e[CACHE_WAYS];
    unsigned next;
    crm_settings defaults;
};

crm_settings_cache *
crm_settings_cache_new(void)
{
    crm_settings_cache *c = calloc(1, sizeof(*c));
    if (c)
        crm_settings_defaults(&c->defaults);
    return c;
}

void
crm_settings_cache_free(crm_settings_cache *c)
{
    free(c);
}

/* The positions of the changes around as_of: lo the last at or before it
 * (0 for none), hi the first after it (UINT64_MAX for none). */
static int
change_bounds(MDB_txn *txn, MDB_dbi changes, uint64_t as_of, uint64_t *lo,
              uint64_t *hi)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, changes, &cur);
    if (rc != 0)
        return rc;
    *lo = 0;
    *hi = UINT64_MAX;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 12)
            continue;
        uint64_t pos = crm_get_be((const uint8_t *)k.mv_data + 4, 8);
        if (pos <= as_of && pos > *lo)
            *lo = pos;
        if (pos > as_of && pos < *hi)
            *hi = pos;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
crm_settings_for(const crm_proj_ctx *cx, uint32_t day, uint64_t as_of,
                 const crm_settings **out)
{
    crm_settings_cache *c = cx->settings_cache;
    if (!cx->has_settings) {
        *out = &c->defaults;
        return 0;
    }
    MDB_val k = {sizeof(STAMP_KEY) - 1, (void *)STAMP_KEY}, v;
    int rc = mdb_get(cx->txn, cx->settings, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *out = &c->defaults; /* no change yet */
        return 0;
    }
    if (rc != 0)
        return rc;
    if (v.mv_size != CRM_HASH_LEN)
        return MDB_CORRUPTED;
    for (int i = 0; i < CACHE_WAYS; i++) {
        cache_entry *e = &c->e[i];
        if (e->used && e->day == day && as_of >= e->lo && as_of < e->hi &&
            memcmp(e->stamp, v.mv_data, CRM_HASH_LEN) == 0) {
            *out = &e->s;
            return 0;
        }
    }
    cache_entry *e = &c->e[c->next++ % CACHE_WAYS];
    e->used = 0;
    memcpy(e->stamp, v.mv_data, CRM_HASH_LEN); /* before v goes stale */
    if ((rc = change_bounds(cx->txn, cx->settings, as_of, &e->lo, &e->hi)) !=
            0 ||
        (rc = crm_settings_at(cx->txn, cx->settings, day, as_of, &e->s)) != 0)
        return rc;
    e->day = day;
    e->used = 1;
    *out = &e->s;
    return 0;
}
