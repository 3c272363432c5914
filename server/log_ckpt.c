/*
 * log_ckpt.c - checkpoint rounds: the stream heads kept in memory reach
 * the streams index a slice per commit (writer thread only).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log_int.h"

/* A round writes the heads that were dirty when it began (the heads at
 * ckpt_to), sorted by stream id, a slice per commit: a slice rewrites one
 * key range of the streams index rather than pages all over it, so no
 * single commit carries the whole checkpoint (at 100,000 streams that was
 * a pause of tens of milliseconds). streams_at moves to ckpt_to with the
 * last slice; until then the index holds, per stream, its head at
 * streams_at or at ckpt_to, which replaying from streams_at makes whole.
 */

static int
cmp_head(const void *pa, const void *pb)
{
    const crm_shead *x = pa, *y = pb;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->id, y->id, n); /* LMDB's default key order */
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void
snap_add(void *arg, const crm_shead *h)
{
    crm_log *log = arg;
    log->ckpt_snap[log->ckpt_n++] = *h;
}

/* Starts a round with every dirty head; 0 or ENOMEM. A round in progress
 * is dropped: the new one holds all it held, as new or newer. */
int
crm_log_ckpt_begin(crm_log *log)
{
    size_t n = crm_scache_dirty(log->overlay);
    if (n > log->ckpt_cap) {
        crm_shead *p = realloc(log->ckpt_snap, n * sizeof(*p));
        if (p == NULL)
            return ENOMEM;
        log->ckpt_snap = p;
        log->ckpt_cap = n;
    }
    log->ckpt_n = 0;
    crm_scache_each(log->overlay, 1, snap_add, log);
    qsort(log->ckpt_snap, log->ckpt_n, sizeof(*log->ckpt_snap), cmp_head);
    log->ckpt_next = 0;
    log->ckpt_to = log->head_pos;
    return 0;
}

/* Writes the round's next slice (all of it when `all`) in txn; *end is
 * where the round stands once txn commits. */
int
crm_log_ckpt_slice(crm_log *log, MDB_txn *txn, int all, size_t *end)
{
    size_t n = log->ckpt_n, at = log->ckpt_next;
    size_t slice = (n + CRM_LOG_CKPT_SLICES - 1) / CRM_LOG_CKPT_SLICES;
    if (slice < log->ckpt_slice_min)
        slice = log->ckpt_slice_min;
    *end = all || n - at <= slice ? n : at + slice;
    int rc = 0;
    for (size_t i = at; i < *end && rc == 0; i++) {
        const crm_shead *h = &log->ckpt_snap[i];
        uint8_t sb[STREAMVAL_LEN];
        put_be64(sb, h->version);
        put_be64(sb + 8, h->position);
        MDB_val k = {h->len, (void *)h->id}, v = {STREAMVAL_LEN, sb};
        rc = mdb_put(txn, log->dbi_streams, &k, &v, 0);
    }
    uint8_t to[8];
    put_be64(to, log->ckpt_to);
    MDB_val tk = {7, "ckpt_to"}, tv = {8, to};
    if (rc == 0)
        rc = mdb_put(txn, log->dbi_meta, &tk, &tv, 0);
    MDB_val sk = {10, "streams_at"};
    if (rc == 0 && *end == n)
        rc = mdb_put(txn, log->dbi_meta, &sk, &tv, 0);
    return rc;
}

/* After the commit that wrote the last slice: the heads that have not
 * moved since the round began are clean. (Past a bound, run_group then
 * lets clean heads leave the cache: the index has them.) */
void
crm_log_ckpt_end(crm_log *log)
{
    for (size_t i = 0; i < log->ckpt_n; i++) {
        const crm_shead *h = &log->ckpt_snap[i];
        crm_scache_mark_clean_at(log->overlay, h->id, h->len, h->position);
    }
    log->streams_at = log->ckpt_to;
    log->last_ckpt_ns = crm_mono_ns();
    log->ckpt_n = log->ckpt_next = 0;
    if (log->ckpt_cap > log->ckpt_streams) {
        free(log->ckpt_snap); /* a burst's snapshot is not kept */
        log->ckpt_snap = NULL;
        log->ckpt_cap = 0;
    }
}

