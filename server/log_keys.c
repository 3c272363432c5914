/*
 * log_keys.c - the tenant's keys over the log's life: rotating the tenant
 * key (vault.h) rewraps every subject key, the index key and the signing
 * key in one write transaction, without rewriting a record.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "be.h"
#include "log_int.h"
#include "mdberr.h"

int
crm_log_rewrap(crm_log *log, MDB_txn *txn, const crm_vault *from,
               const crm_vault *to, const uint8_t *index_key, uint64_t *n)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, log->dbi_subjects, &cur);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    uint8_t key[CRM_KEY_LEN], w[4 + CRM_WRAPPED_LEN];
    *n = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (crm_vault_unwrap(from, 'S', k.mv_data, k.mv_size, v.mv_data,
                             v.mv_size, key) != 0 ||
            crm_vault_wrap(to, 'S', k.mv_data, k.mv_size, key, w) != 0) {
            rc = EIO;
            break;
        }
        MDB_val nv = {sizeof(w), w};
        if ((rc = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT)) != 0)
            break;
        (*n)++;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND && rc != 0) {
        crm_wipe(key, sizeof(key));
        return rc;
    }
    MDB_val ik = {11, "index_key_w"};
    if (index_key)
        memcpy(key, index_key, CRM_KEY_LEN);
    else if ((rc = mdb_get(txn, log->dbi_meta, &ik, &v)) != 0 ||
             crm_vault_unwrap(from, 'I', "index", 5, v.mv_data, v.mv_size,
                              key) != 0) {
        crm_wipe(key, sizeof(key));
        return rc ? rc : EIO;
    }
    if (crm_vault_wrap(to, 'I', "index", 5, key, w) != 0) {
        crm_wipe(key, sizeof(key));
        return EIO;
    }
    crm_wipe(key, sizeof(key));
    MDB_val iv = {sizeof(w), w};
    if ((rc = mdb_put(txn, log->dbi_meta, &ik, &iv, 0)) != 0)
        return rc;
    if ((rc = crm_log_sign_rewrap(log, txn, from, to)) != 0)
        return rc;
    uint8_t eb[4];
    crm_put_be(eb, crm_vault_epoch(to), 4);
    MDB_val ek = {9, "key_epoch"}, ev = {4, eb};
    return mdb_put(txn, log->dbi_meta, &ek, &ev, 0);
}

static crm_err
rotate(crm_log *log, uint64_t *rewrapped, uint32_t *epoch, crm_error *why)
{
    crm_vault *next;
    pthread_mutex_lock(&log->txn_mu); /* the writer waits meanwhile */
    crm_err err = crm_vault_rotate(log->vault, &next, why);
    if (err != CRM_OK) {
        pthread_mutex_unlock(&log->txn_mu);
        return err;
    }
    uint32_t old = crm_vault_epoch(log->vault);
    int rc;
    for (;;) {
        /* No reader runs while the keys change: one that began before
         * the commit would meet keys wrapped under the new tenant key
         * with the old one in hand, or the other way round. */
        pthread_rwlock_wrlock(&log->maplock);
        MDB_txn *txn;
        if ((rc = mdb_txn_begin(log->env, NULL, 0, &txn)) == 0) {
            rc = crm_log_rewrap(log, txn, log->vault, next, NULL, rewrapped);
            rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
        }
        if (rc == 0) {
            crm_vault_close(log->vault);
            log->vault = next;
        }
        pthread_rwlock_unlock(&log->maplock);
        if (rc == MDB_MAP_FULL && crm_log_grow_map(log, 0) == 0)
            continue;
        break;
    }
    pthread_mutex_unlock(&log->txn_mu);
    if (rc != 0) {
        crm_vault_close(next); /* its slot stays unused until overwritten */
        return crm_mdb_fail(why, rc, "rotate tenant key");
    }
    *epoch = crm_vault_epoch(log->vault);
    /* the old tenant key, and every stale copy of a key it wrapped that
     * free pages still hold, can no longer be opened */
    return crm_vault_retire(log->vault, old, why);
}

crm_err
crm_log_rotate_key(crm_log *log, uint64_t *rewrapped, uint32_t *epoch,
                   crm_error *why)
{
    if (log->vault == NULL)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "tenant %s keeps no keys (it was created "
                             "without a master key)",
                             log->tenant);
    crm_err err = crm_log_exclusive_begin(log, why);
    if (err != CRM_OK)
        return err;
    err = rotate(log, rewrapped, epoch, why);
    crm_log_exclusive_end(log);
    return err;
}

crm_err
crm_log_subject_keys(crm_log *log, const char *after, size_t after_len,
                     size_t max, crm_log_key_fn fn, void *arg, crm_error *why)
{
    if (log->vault == NULL)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "tenant %s keeps no keys (it was created "
                             "without a master key)",
                             log->tenant);
    MDB_txn *txn;
    crm_err err = crm_log_rd_begin(log, &txn, why);
    if (err != CRM_OK)
        return err;
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, log->dbi_subjects, &cur);
    MDB_val k = {after_len, (void *)after}, v;
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, after_len ? MDB_SET_RANGE : MDB_FIRST);
    else
        cur = NULL;
    /* the id after is where the previous page stopped */
    if (rc == 0 && after_len && k.mv_size == after_len &&
        memcmp(k.mv_data, after, after_len) == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    uint8_t key[CRM_KEY_LEN];
    for (size_t n = 0; rc == 0 && n < max; n++) {
        if (crm_vault_unwrap(log->vault, 'S', k.mv_data, k.mv_size, v.mv_data,
                             v.mv_size, key) != 0) {
            rc = EIO;
            break;
        }
        int stop = fn(arg, k.mv_data, k.mv_size, key);
        crm_wipe(key, sizeof(key));
        if (stop)
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (cur)
        mdb_cursor_close(cur);
    crm_log_rd_end(log, txn);
    return rc == 0 || rc == MDB_NOTFOUND ? CRM_OK
                                         : crm_mdb_fail(why, rc, "subject keys");
}
