/* counts.c - per-guest event counts by type (counts.h). */
#include "counts.h"

#include <string.h>

static int
counts_apply(const crm_proj_ctx *cx, const crm_record *r)
{
    uint8_t kb[CRM_STREAM_MAX + 1 + CRM_TYPE_MAX];
    memcpy(kb, r->stream, r->stream_len);
    kb[r->stream_len] = 0;
    memcpy(kb + r->stream_len + 1, r->type, r->type_len);
    MDB_val k = {r->stream_len + 1 + r->type_len, kb}, v;
    uint64_t n = 0;
    int rc = mdb_get(cx->txn, cx->dbi[0], &k, &v);
    if (rc == 0 && v.mv_size == 8)
        for (int i = 0; i < 8; i++)
            n = n << 8 | ((const uint8_t *)v.mv_data)[i];
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    n++;
    uint8_t vb[8];
    for (int i = 7; i >= 0; i--, n >>= 8)
        vb[i] = (uint8_t)n;
    v.mv_size = 8;
    v.mv_data = vb;
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

const crm_proj_def crm_proj_counts = {
    .name = "counts",
    .format = 1,
    .ndbs = 1,
    .dbs = {"by_type"},
    .apply = counts_apply,
};
