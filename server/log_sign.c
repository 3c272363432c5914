/*
 * log_sign.c - signed checkpoints of a tenant's log (sign.h): the tenant's
 * Ed25519 signature over {tenant, position, head hash, time}.
 *
 * The signing key is the tenant's: its seed is kept wrapped by the tenant
 * key in meta "sign_key_w" (in the clear as "sign_key" for a tenant that
 * keeps no keys), its public half in meta "sign_pub"; rotations and
 * erasure rounds rewrap it with the other keys (crm_log_rewrap). The
 * writer signs the head of the commit it is making once sign_ns have
 * passed since the last checkpoint (and the head moved); audit.checkpoint
 * signs the head at once (crm_log_sign_now). Checkpoints are kept in
 * "checkpoints": position u64 BE -> time i64 BE | head (32) | signature
 * (64), in the same transaction as the head they sign.
 */
#include <errno.h>
#include <string.h>

#include "be.h"
#include "clock.h"
#include "log_int.h"
#include "mdberr.h"

#define CKPT_VAL_LEN (8 + CRM_HASH_LEN + CRM_SIGN_LEN)

int
crm_log_sign_open(crm_log *log, MDB_txn *txn)
{
    MDB_val wk = {10, "sign_key_w"}, pk = {8, "sign_key"}, uk = {8, "sign_pub"};
    MDB_val v;
    int rc = mdb_get(txn, log->dbi_meta, log->vault ? &wk : &pk, &v);
    if (rc == 0) {
        if (log->vault ? crm_vault_unwrap(log->vault, 'K', "sign", 4,
                                          v.mv_data, v.mv_size,
                                          log->sign_seed) != 0
                       : v.mv_size != CRM_SIGN_SEED_LEN)
            return EIO;
        if (!log->vault)
            memcpy(log->sign_seed, v.mv_data, CRM_SIGN_SEED_LEN);
        return crm_sign_public(log->sign_seed, log->sign_pub) == 0 ? 0 : EIO;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    /* the tenant's first open with signing: a key of its own */
    if (crm_sign_keygen(log->sign_seed, log->sign_pub) != 0)
        return EIO;
    uint8_t w[4 + CRM_WRAPPED_LEN];
    MDB_val sv = {CRM_SIGN_SEED_LEN, log->sign_seed};
    if (log->vault) {
        if (crm_vault_wrap(log->vault, 'K', "sign", 4, log->sign_seed, w) != 0)
            return EIO;
        sv.mv_size = sizeof(w);
        sv.mv_data = w;
    }
    MDB_val pv = {CRM_SIGN_PUB_LEN, log->sign_pub};
    if ((rc = mdb_put(txn, log->dbi_meta, log->vault ? &wk : &pk, &sv, 0)) !=
        0)
        return rc;
    return mdb_put(txn, log->dbi_meta, &uk, &pv, 0);
}

int
crm_log_sign_rewrap(crm_log *log, MDB_txn *txn, const crm_vault *from,
                    const crm_vault *to)
{
    MDB_val wk = {10, "sign_key_w"}, v;
    uint8_t seed[CRM_SIGN_SEED_LEN], w[4 + CRM_WRAPPED_LEN];
    int rc = mdb_get(txn, log->dbi_meta, &wk, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    rc = crm_vault_unwrap(from, 'K', "sign", 4, v.mv_data, v.mv_size, seed) ||
                 crm_vault_wrap(to, 'K', "sign", 4, seed, w)
             ? EIO
             : 0;
    crm_wipe(seed, sizeof(seed));
    if (rc != 0)
        return rc;
    MDB_val nv = {sizeof(w), w};
    return mdb_put(txn, log->dbi_meta, &wk, &nv, 0);
}

static void
ckpt_pack(uint8_t b[CKPT_VAL_LEN], const crm_checkpoint *c)
{
    crm_put_be(b, (uint64_t)c->time, 8);
    memcpy(b + 8, c->head, CRM_HASH_LEN);
    memcpy(b + 8 + CRM_HASH_LEN, c->sig, CRM_SIGN_LEN);
}

int
crm_log_ckpt_unpack(const MDB_val *k, const MDB_val *v, crm_checkpoint *c)
{
    if (k->mv_size != 8 || v->mv_size != CKPT_VAL_LEN)
        return MDB_CORRUPTED;
    const uint8_t *b = v->mv_data;
    c->position = crm_get_be(k->mv_data, 8);
    c->time = (int64_t)crm_get_be(b, 8);
    memcpy(c->head, b + 8, CRM_HASH_LEN);
    memcpy(c->sig, b + 8 + CRM_HASH_LEN, CRM_SIGN_LEN);
    return 0;
}

int
crm_log_sign_put(crm_log *log, MDB_txn *txn, uint64_t pos,
                 const uint8_t head[CRM_HASH_LEN], int64_t now,
                 crm_checkpoint *out)
{
    crm_checkpoint c = {.position = pos, .time = now};
    memcpy(c.head, head, CRM_HASH_LEN);
    if (crm_checkpoint_sign(log->sign_seed, log->tenant, &c) != 0)
        return EIO;
    uint8_t kb[8], vb[CKPT_VAL_LEN];
    crm_put_be(kb, pos, 8);
    ckpt_pack(vb, &c);
    MDB_val k = {8, kb}, v = {CKPT_VAL_LEN, vb};
    int rc = mdb_put(txn, log->dbi_ckpts, &k, &v, 0);
    if (rc == 0 && out)
        *out = c;
    return rc;
}

int
crm_log_sign_due(const crm_log *log, uint64_t pos)
{
    return log->sign_ns > 0 && pos > log->signed_pos &&
           crm_mono_ns() - log->signed_ns >= log->sign_ns;
}

void
crm_log_signed(crm_log *log, uint64_t pos)
{
    log->signed_pos = pos;
    log->signed_ns = crm_mono_ns();
}

/* The newest checkpoint in txn: 0, MDB_NOTFOUND or an LMDB error. */
static int
newest(crm_log *log, MDB_txn *txn, crm_checkpoint *c)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, log->dbi_ckpts, &cur);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0)
        rc = crm_log_ckpt_unpack(&k, &v, c);
    mdb_cursor_close(cur);
    return rc;
}

crm_err
crm_log_sign_now(crm_log *log, crm_checkpoint *out, crm_error *why)
{
    pthread_mutex_lock(&log->txn_mu); /* the head stays as it is */
    uint64_t pos = log->head_pos;
    uint8_t head[CRM_HASH_LEN];
    memcpy(head, log->head_hash, CRM_HASH_LEN);
    int rc;
    for (;;) {
        MDB_txn *txn;
        if ((rc = mdb_txn_begin(log->env, NULL, 0, &txn)) != 0)
            break;
        rc = newest(log, txn, out);
        if (rc == 0 && out->position == pos) {
            mdb_txn_abort(txn); /* the head is signed already */
            break;
        }
        if (rc == 0 || rc == MDB_NOTFOUND)
            rc = crm_log_sign_put(log, txn, pos, head, crm_now_us(), out);
        rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
        if (rc == MDB_MAP_FULL && crm_log_grow_map(log, 0) == 0)
            continue;
        if (rc == 0)
            crm_log_signed(log, pos);
        break;
    }
    pthread_mutex_unlock(&log->txn_mu);
    if (rc == EIO)
        return crm_error_set(why, CRM_ERR_IO, "cannot sign a checkpoint");
    return rc ? crm_mdb_fail(why, rc, "checkpoint") : CRM_OK;
}

void
crm_log_sign_pub(const crm_log *log, uint8_t pub[CRM_SIGN_PUB_LEN])
{
    memcpy(pub, log->sign_pub, CRM_SIGN_PUB_LEN);
}

int
crm_log_sign_manifest(const crm_log *log, const uint8_t digest[CRM_HASH_LEN],
                      uint8_t sig[CRM_SIGN_LEN])
{
    return crm_manifest_sign(log->sign_seed, log->tenant, digest, sig);
}

crm_err
crm_log_checkpoints(crm_log *log, uint64_t from, size_t max,
                    int (*fn)(void *arg, const crm_checkpoint *c), void *arg,
                    crm_error *why)
{
    MDB_txn *txn;
    crm_err err = crm_log_rd_begin(log, &txn, why);
    if (err != CRM_OK)
        return err;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, log->dbi_ckpts, &cur);
    if (rc == 0) {
        uint8_t kb[8];
        crm_put_be(kb, from, 8);
        MDB_val k = {8, kb}, v;
        size_t n = 0;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
             rc == 0 && (max == 0 || n < max);
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
            crm_checkpoint c;
            if ((rc = crm_log_ckpt_unpack(&k, &v, &c)) != 0 || fn(arg, &c))
                break;
        }
        mdb_cursor_close(cur);
    }
    crm_log_rd_end(log, txn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return crm_mdb_fail(why, rc, "checkpoints");
    return CRM_OK;
}

crm_err
crm_log_checkpoint_before(crm_log *log, uint64_t pos, crm_checkpoint *out,
                          crm_error *why)
{
    MDB_txn *txn;
    crm_err err = crm_log_rd_begin(log, &txn, why);
    if (err != CRM_OK)
        return err;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, log->dbi_ckpts, &cur);
    if (rc == 0) {
        uint8_t kb[8];
        crm_put_be(kb, pos + 1, 8);
        MDB_val k = {8, kb}, v;
        /* the first one past pos, then the one before it */
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        rc = mdb_cursor_get(cur, &k, &v,
                            rc == 0 ? MDB_PREV
                            : rc == MDB_NOTFOUND ? MDB_LAST
                                                 : MDB_GET_CURRENT);
        if (rc == 0)
            rc = crm_log_ckpt_unpack(&k, &v, out);
        mdb_cursor_close(cur);
    }
    crm_log_rd_end(log, txn);
    if (rc == MDB_NOTFOUND)
        return crm_error_set(why, CRM_ERR_NOT_FOUND,
                             "no signed checkpoint at or before position "
                             "%llu",
                             (unsigned long long)pos);
    return rc ? crm_mdb_fail(why, rc, "checkpoints") : CRM_OK;
}
