/* log_verify.c - checking a whole tenant log: chain, density, stream
 * links and the indexes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log_int.h"
#include "mdberr.h"

static crm_err bad(crm_error *why, uint64_t *bad_position, uint64_t pos,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static crm_err
bad(crm_error *why, uint64_t *bad_position, uint64_t pos, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (bad_position)
        *bad_position = pos;
    return crm_error_set(why, CRM_ERR_CORRUPT, "%s", msg);
}

/* A copy of the heads so far into an empty cache. */
static int
snapshot(crm_scache *dst, const crm_scache *heads)
{
    if (crm_scache_reserve(dst, crm_scache_count(heads)) != 0)
        return -1;
    return crm_scache_merge(dst, heads);
}

/* The scan's state: what the records so far say. */
typedef struct vscan {
    crm_log *log;
    MDB_txn *txn;
    uint64_t expect, streams_at, ckpt_to, nskips;
    uint8_t hash[CRM_HASH_LEN];
    crm_scache *heads, *at_sa, *at_ct;
    crm_err err;
    crm_error *why;
    uint64_t *bad_position;
} vscan;

/* One record, in position order; nonzero (vs->err set) at the first
 * fault. */
static int
check_record(void *arg, uint64_t pos, const MDB_val *v, const crm_record *rp)
{
    vscan *vs = arg;
    crm_log *log = vs->log;
    MDB_txn *txn = vs->txn;
    crm_error *why = vs->why;
    uint64_t *bad_position = vs->bad_position;
    const crm_record r = *rp;
    crm_err err = CRM_OK;
    if (pos != vs->expect) {
        err = bad(why, bad_position, vs->expect, "position %llu is missing",
                  (unsigned long long)vs->expect);
        goto done;
    }
    if (r.h.position != pos || r.h.tenant_len != log->tenant_len ||
        memcmp(r.h.tenant, log->tenant, log->tenant_len) != 0) {
        err = bad(why, bad_position, pos,
                  "position %llu: record names another position or tenant",
                  (unsigned long long)pos);
        goto done;
    }
    if (!crm_record_verify(v->mv_data, &r, vs->hash)) {
        err = bad(why, bad_position, pos, "position %llu: hash chain broken",
                  (unsigned long long)pos);
        goto done;
    }
    memcpy(vs->hash, r.hash, CRM_HASH_LEN);

    /* Stream links, from the heads this scan has seen: version 0 starts
     * a stream, every later event follows the previous one of its stream
     * with the next version. */
    const crm_shead *prev = crm_scache_get(vs->heads, r.stream, r.stream_len);
    if (prev ? (r.h.version != prev->version + 1 ||
                r.h.stream_prev != prev->position)
             : (r.h.version != 0 || r.h.stream_prev != 0)) {
        err = bad(why, bad_position, pos,
                  "position %llu: stream version not dense",
                  (unsigned long long)pos);
        goto done;
    }
    if (crm_scache_put(vs->heads, r.stream, r.stream_len, r.h.version, pos) !=
        0) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto done;
    }
    /* the heads as they stood at streams_at and at ckpt_to */
    if ((pos == vs->streams_at && snapshot(vs->at_sa, vs->heads) != 0) ||
        (pos == vs->ckpt_to && snapshot(vs->at_ct, vs->heads) != 0)) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto done;
    }
    if (skip_due(r.h.version)) {
        uint8_t kb[SKIPKEY_MAX];
        MDB_val sk = {skip_key(kb, r.stream, r.stream_len, r.h.version), kb},
                sv;
        if (mdb_get(txn, log->dbi_skip, &sk, &sv) != 0 || sv.mv_size != 8 ||
            get_be64(sv.mv_data) != pos) {
            err = bad(why, bad_position, pos,
                      "position %llu: stream skip index disagrees",
                      (unsigned long long)pos);
            goto done;
        }
        vs->nskips++;
    }

    MDB_val ik = {CRM_ID_LEN, (void *)r.id}, iv;
    uint8_t dg[CRM_DIGEST_LEN];
    crm_event_digest(r.content, r.content_len, dg);
    if (mdb_get(txn, log->dbi_ids, &ik, &iv) != 0 ||
        iv.mv_size != IDVAL_LEN || get_be64(iv.mv_data) != pos ||
        memcmp((const uint8_t *)iv.mv_data + 8, dg, CRM_DIGEST_LEN) != 0) {
        err = bad(why, bad_position, pos,
                  "position %llu: idempotency index disagrees",
                  (unsigned long long)pos);
        goto done;
    }
    vs->expect++;
done:
    vs->err = err;
    return err != CRM_OK;
}

crm_err
crm_log_verify(crm_log *log, uint64_t *bad_position, crm_error *why)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    msgpack_zone *z = NULL;
    crm_scache *heads = NULL, *at_sa = NULL, *at_ct = NULL;
    uint64_t streams_at = 0, ckpt_to = 0;
    crm_err err;
    uint8_t hash[CRM_HASH_LEN], head_hash[CRM_HASH_LEN];
    uint64_t expect = 1, head_pos, nskips = 0;
    int rc;

    if (bad_position)
        *bad_position = 0;
    if ((err = crm_log_rd_begin(log, &txn, why)) != CRM_OK)
        return err;
    if ((z = msgpack_zone_new(4096)) == NULL ||
        (heads = crm_scache_new()) == NULL) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto done;
    }
    {
        MDB_val k = {4, "head"}, v;
        rc = mdb_get(txn, log->dbi_meta, &k, &v);
        if (rc == MDB_NOTFOUND) {
            head_pos = 0;
            memcpy(head_hash, log->genesis, CRM_HASH_LEN);
        } else if (rc != 0 || v.mv_size != HEADVAL_LEN) {
            err = bad(why, bad_position, 0, "meta head is unreadable");
            goto done;
        } else {
            head_pos = get_be64(v.mv_data);
            memcpy(head_hash, (const uint8_t *)v.mv_data + 8, CRM_HASH_LEN);
        }
    }

    {
        MDB_val k = {10, "streams_at"}, v;
        rc = mdb_get(txn, log->dbi_meta, &k, &v);
        if (rc == MDB_NOTFOUND) {
            streams_at = head_pos;
        } else if (rc != 0 || v.mv_size != 8 ||
                   (streams_at = get_be64(v.mv_data)) > head_pos) {
            err = bad(why, bad_position, 0, "meta streams_at is unreadable");
            goto done;
        }
        /* a checkpoint round in progress writes heads up to ckpt_to */
        MDB_val tk = {7, "ckpt_to"}, tv;
        rc = mdb_get(txn, log->dbi_meta, &tk, &tv);
        if (rc == MDB_NOTFOUND) {
            ckpt_to = streams_at;
        } else if (rc != 0 || tv.mv_size != 8 ||
                   (ckpt_to = get_be64(tv.mv_data)) > head_pos ||
                   ckpt_to < streams_at) {
            err = bad(why, bad_position, 0, "meta ckpt_to is unreadable");
            goto done;
        }
    }
    if ((at_sa = crm_scache_new()) == NULL ||
        (at_ct = crm_scache_new()) == NULL) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto done;
    }

    vscan vs = {.log = log, .txn = txn, .expect = 1, .heads = heads,
                .at_sa = at_sa, .at_ct = at_ct, .streams_at = streams_at,
                .ckpt_to = ckpt_to, .why = why, .bad_position = bad_position};
    memcpy(vs.hash, log->genesis, CRM_HASH_LEN);
    err = crm_log_scan(log, txn, 1, z, 0, check_record, &vs, bad_position, why);
    if (err == CRM_OK)
        err = vs.err;
    if (err != CRM_OK)
        goto done;
    expect = vs.expect;
    nskips = vs.nskips;
    memcpy(hash, vs.hash, CRM_HASH_LEN);
    if (expect - 1 != head_pos || memcmp(hash, head_hash, CRM_HASH_LEN) != 0) {
        err =
            bad(why, bad_position, expect,
                "head (%llu) does not match the last record (%llu)",
                (unsigned long long)head_pos, (unsigned long long)(expect - 1));
        goto done;
    }

    /* The streams index is current up to streams_at (it is checkpointed):
     * every stream that existed then has an entry, and each entry is its
     * stream's head at streams_at or, while a checkpoint round is under
     * way, at a moment up to ckpt_to. */
    if ((rc = mdb_cursor_open(txn, log->dbi_streams, &cur)) != 0) {
        err = crm_mdb_fail(why, rc, "cursor");
        goto done;
    }
    MDB_val k, v;
    uint64_t nids = 0, nold = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        crm_record r;
        if (v.mv_size != STREAMVAL_LEN) {
            err = bad(why, bad_position, 0, "streams index entry is malformed");
            goto done;
        }
        uint64_t ver = get_be64(v.mv_data);
        uint8_t pb[8];
        memcpy(pb, (const uint8_t *)v.mv_data + 8, 8);
        const crm_shead *a = crm_scache_get(at_sa, k.mv_data, k.mv_size),
                        *c = crm_scache_get(at_ct, k.mv_data, k.mv_size);
        MDB_val pk = {8, pb}, pv;
        msgpack_zone_clear(z);
        /* an interrupted round may have left heads of a moment between
         * streams_at and the round now under way: any version from the
         * one at streams_at to the one at ckpt_to */
        if (c == NULL || ver > c->version || (a && ver < a->version) ||
            mdb_get(txn, log->dbi_log, &pk, &pv) != 0 ||
            crm_record_decode(pv.mv_data, pv.mv_size, z, &r, NULL) != CRM_OK ||
            r.h.version != ver || r.stream_len != k.mv_size ||
            memcmp(r.stream, k.mv_data, k.mv_size) != 0) {
            err = bad(why, bad_position, 0,
                      "streams index entry '%.*s' disagrees with the log",
                      (int)(k.mv_size < 64 ? k.mv_size : 64),
                      (const char *)k.mv_data);
            goto done;
        }
        nold += a != NULL;
    }
    if (nold != crm_scache_count(at_sa)) {
        err = bad(why, bad_position, 0,
                  "the streams index holds %llu of the %llu streams the log "
                  "had at its checkpoint",
                  (unsigned long long)nold,
                  (unsigned long long)crm_scache_count(at_sa));
        goto done;
    }
    MDB_stat ids;
    mdb_stat(txn, log->dbi_ids, &ids);
    nids = ids.ms_entries;
    if (nids != head_pos) {
        err = bad(why, bad_position, 0,
                  "the idempotency index holds %llu ids for %llu records",
                  (unsigned long long)nids, (unsigned long long)head_pos);
        goto done;
    }
    MDB_stat skips;
    mdb_stat(txn, log->dbi_skip, &skips);
    if (skips.ms_entries != nskips) {
        err = bad(why, bad_position, 0,
                  "the stream skip index holds %llu entries, the log needs "
                  "%llu",
                  (unsigned long long)skips.ms_entries,
                  (unsigned long long)nskips);
        goto done;
    }
    err = CRM_OK;
done:
    if (cur)
        mdb_cursor_close(cur);
    if (z)
        msgpack_zone_free(z);
    crm_scache_free(heads);
    crm_scache_free(at_sa);
    crm_scache_free(at_ct);
    crm_log_rd_end(log, txn);
    return err;
}

/* --- a range, online, anchored at a signed checkpoint ---------------------- */

typedef struct rscan {
    crm_log *log;
    MDB_txn *txn;
    MDB_cursor *ckpts;
    uint64_t expect, to;
    uint8_t hash[CRM_HASH_LEN];
    crm_log_verified *out;
    crm_err err;
    crm_error *why;
} rscan;

/* The checkpoint at pos, if any, against the chain's hash there. */
static crm_err
check_ckpt_at(rscan *rs, uint64_t pos)
{
    uint8_t kb[8];
    put_be64(kb, pos);
    MDB_val k = {8, kb}, v;
    int rc = mdb_cursor_get(rs->ckpts, &k, &v, MDB_SET_KEY);
    if (rc == MDB_NOTFOUND)
        return CRM_OK;
    crm_checkpoint c;
    if (rc != 0 || crm_log_ckpt_unpack(&k, &v, &c) != 0)
        return bad(rs->why, &rs->out->bad, pos,
                   "checkpoint at %llu is unreadable",
                   (unsigned long long)pos);
    if (memcmp(c.head, rs->hash, CRM_HASH_LEN) != 0)
        return bad(rs->why, &rs->out->bad, pos,
                   "checkpoint at %llu names another head than the chain",
                   (unsigned long long)pos);
    if (!crm_checkpoint_verify(rs->log->sign_pub, rs->log->tenant, &c))
        return bad(rs->why, &rs->out->bad, pos,
                   "checkpoint at %llu: the signature does not verify",
                   (unsigned long long)pos);
    rs->out->checkpoints++;
    return CRM_OK;
}

static int
range_record(void *arg, uint64_t pos, const MDB_val *v, const crm_record *r)
{
    rscan *rs = arg;
    if (pos > rs->to)
        return 1;
    if (pos != rs->expect)
        rs->err = bad(rs->why, &rs->out->bad, rs->expect,
                      "position %llu is missing",
                      (unsigned long long)rs->expect);
    else if (r->h.position != pos ||
             !crm_record_verify(v->mv_data, r, rs->hash))
        rs->err = bad(rs->why, &rs->out->bad, pos,
                      "position %llu: hash chain broken",
                      (unsigned long long)pos);
    if (rs->err != CRM_OK)
        return 1;
    memcpy(rs->hash, r->hash, CRM_HASH_LEN);
    rs->expect++;
    rs->out->records++;
    rs->err = check_ckpt_at(rs, pos);
    return rs->err != CRM_OK;
}

crm_err
crm_log_verify_range(crm_log *log, uint64_t from, uint64_t to,
                     crm_log_verified *out, crm_error *why)
{
    memset(out, 0, sizeof(*out));
    MDB_txn *txn;
    crm_err err = crm_log_rd_begin(log, &txn, why);
    if (err != CRM_OK)
        return err;
    uint64_t head;
    crm_log_head(log, &head, NULL);
    if (to == 0 || to > head)
        to = head;
    if (from == 0)
        from = 1;
    out->from = from;
    out->to = to;
    rscan rs = {.log = log, .txn = txn, .to = to, .out = out, .why = why};
    memcpy(rs.hash, log->genesis, CRM_HASH_LEN);
    msgpack_zone *z = msgpack_zone_new(4096);
    int rc = z ? mdb_cursor_open(txn, log->dbi_ckpts, &rs.ckpts) : ENOMEM;
    if (rc != 0) {
        err = crm_mdb_fail(why, rc, "verify");
        goto done;
    }
    /* the anchor: the newest checkpoint before from, signature checked */
    uint8_t kb[8];
    put_be64(kb, from);
    MDB_val k = {8, kb}, v;
    rc = mdb_cursor_get(rs.ckpts, &k, &v, MDB_SET_RANGE);
    rc = rc == 0 || rc == MDB_NOTFOUND
             ? mdb_cursor_get(rs.ckpts, &k, &v,
                              rc == 0 ? MDB_PREV : MDB_LAST)
             : rc;
    crm_checkpoint a;
    if (rc == 0 && crm_log_ckpt_unpack(&k, &v, &a) == 0 && a.position < from) {
        if (!crm_checkpoint_verify(log->sign_pub, log->tenant, &a)) {
            err = bad(why, &out->bad, a.position,
                      "checkpoint at %llu: the signature does not verify",
                      (unsigned long long)a.position);
            goto done;
        }
        out->anchor = a.position;
        memcpy(rs.hash, a.head, CRM_HASH_LEN);
        out->checkpoints++;
    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        err = crm_mdb_fail(why, rc, "verify");
        goto done;
    }
    rs.expect = out->anchor + 1;
    if (rs.expect <= to) {
        err = crm_log_scan(log, txn, rs.expect, z, 0, range_record, &rs,
                           &out->bad, why);
        if (err == CRM_OK)
            err = rs.err;
        if (err == CRM_OK && rs.expect != to + 1)
            err = bad(why, &out->bad, rs.expect, "position %llu is missing",
                      (unsigned long long)rs.expect);
    }
done:
    if (rs.ckpts)
        mdb_cursor_close(rs.ckpts);
    if (z)
        msgpack_zone_free(z);
    crm_log_rd_end(log, txn);
    return err;
}
