/*
 * h_kpi.c - kpi.get: the tenant's or one property's KPIs per month over a
 * range, read from the kpi projection's sums (nothing of any guest).
 */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "handlers_int.h"
#include "kpi.h"
#include "log.h"
#include "segment.h"
#include "settings.h"

#define KPI_PROPERTY_MAX 64
#define KPI_DEFAULT_MONTHS 12

typedef struct kpi_read {
    crm_log *log;
    crm_kpi_query q;
    uint32_t today;
    int churn_risk; /* asked for */
    msgpack_packer *pk;
} kpi_read;

/* Guests per churn band on a day, of the tenant or of those who stayed at
 * one property (time-dependent: from the segment rows when asked, never
 * in the kpi sums). */
typedef struct churn_count {
    uint64_t property; /* name hash; 0 the tenant */
    uint64_t guests, band[SEG_NCHURN];
} churn_count;

static int
churn_guest(void *arg, const crm_seg_guest *g)
{
    churn_count *c = arg;
    if (c->property && !crm_seg_guest_visited(g, c->property))
        return 0;
    c->guests++;
    c->band[g->churn]++;
    return 0;
}

/* Packs churn_risk {on, guests, low, medium, high}, or nil while the
 * segment projection is being rebuilt. */
static int
churn_pack(kpi_read *k, MDB_txn *txn, const crm_settings *s)
{
    crm_seg_query q = {.txn = txn, .day = k->today, .settings = s};
    int rc = h_proj_db(k->log, txn, "segment", &q.guest);
    crm_mp_pack_cstr(k->pk, "churn_risk");
    if (rc == MDB_NOTFOUND) {
        msgpack_pack_nil(k->pk);
        return 0;
    }
    churn_count c = {0};
    if (k->q.property)
        c.property = crm_segment_name_hash(k->q.property, k->q.property_len);
    if (rc == 0)
        rc = crm_segment_scan(&q, NULL, 0, churn_guest, &c, NULL);
    if (rc != 0)
        return rc;
    msgpack_pack_map(k->pk, 2 + SEG_NCHURN);
    h_kv_day(k->pk, "on", k->today);
    KV_U64(k->pk, "guests", c.guests);
    for (int b = 0; b < SEG_NCHURN; b++)
        KV_U64(k->pk, crm_seg_churn_names[b], c.band[b]);
    return 0;
}

static int
kpi_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    kpi_read *k = arg;
    crm_settings *s = malloc(sizeof(*s));
    if (s == NULL)
        return ENOMEM;
    int rc = h_settings_in(k->log, txn, k->today, s);
    if (rc == 0) {
        k->q.base_currency = s->base_currency[0] ? s->base_currency : NULL;
        k->q.extra = 2 + (k->churn_risk != 0);
        rc = crm_kpi_pack(txn, dbi[0], &k->q, k->pk);
    }
    if (rc == 0 && k->churn_risk)
        rc = churn_pack(k, txn, s);
    if (rc == 0) {
        crm_mp_pack_cstr(k->pk, "properties");
        rc = crm_kpi_properties_pack(txn, dbi[0], k->pk);
    }
    if (rc == 0)
        KV_U64(k->pk, "as_of", position);
    free(s);
    return rc;
}

/* Argument name as a month YYYYMM, or def when absent. */
static crm_err
arg_month(const rpc_call *call, const char *name, uint32_t def,
          uint32_t *out, crm_error *why)
{
    const char *s;
    size_t len;
    crm_err err = h_arg_str(call, name, 0, 32, &s, &len, why);
    if (err != CRM_OK)
        return err;
    if (s == NULL) {
        *out = def;
        return CRM_OK;
    }
    if ((*out = crm_kpi_month(s, len)) == 0)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "argument '%s' must be a month YYYY-MM", name);
    return CRM_OK;
}

/* The month n months before m. */
static uint32_t
months_before(uint32_t m, unsigned n)
{
    int64_t i = (int64_t)(m / 100) * 12 + (m % 100 - 1) - n;
    if (i < 12)
        i = 12; /* 0001-01 */
    return (uint32_t)(i / 12 * 100 + i % 12 + 1);
}

static unsigned
months_between(uint32_t from, uint32_t to)
{
    return (unsigned)((to / 100 - from / 100) * 12 + to % 100 - from % 100);
}

crm_err
h_kpi_get(rpc_call *call, msgpack_packer *pk, crm_error *why, rpc_flow *flow)
{
    const char *property;
    size_t plen;
    uint32_t today;
    crm_err err;
    (void)flow;
    kpi_read k = {.log = call->log, .pk = pk};
    if ((err = h_arg_str(call, "property", 0, KPI_PROPERTY_MAX, &property,
                         &plen, why)) != CRM_OK ||
        (err = h_arg_day(call, "on", &today, why)) != CRM_OK ||
        (err = h_arg_bool(call, "churn_risk", &k.churn_risk, why)) !=
            CRM_OK ||
        (err = arg_month(call, "to", today / 100, &k.q.to, why)) != CRM_OK ||
        (err = arg_month(call, "from",
                         months_before(k.q.to, KPI_DEFAULT_MONTHS - 1),
                         &k.q.from, why)) != CRM_OK)
        return err;
    if (property && (plen == 0 || memchr(property, '\0', plen)))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "argument 'property' must be a property's "
                             "name (1..%d bytes, no NUL)",
                             KPI_PROPERTY_MAX);
    if (k.q.from > k.q.to)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'from' is after 'to'");
    if (months_between(k.q.from, k.q.to) >= CRM_KPI_MONTHS_MAX)
        return crm_error_set(why, CRM_ERR_TOO_LARGE,
                             "a range of at most %d months",
                             CRM_KPI_MONTHS_MAX);
    if (k.churn_risk &&
        crm_proj_index(crm_log_projections(call->log), "segment") < 0)
        return crm_error_set(why, CRM_ERR_UNAVAILABLE,
                             "'churn_risk' needs the segment projection, "
                             "which this crmd does not keep");
    k.q.property = property;
    k.q.property_len = property ? plen : 0;
    k.today = today;
    return crm_log_proj_read(call->log, "kpi", kpi_fn, &k, why);
}
