/*
 * snap.h - one tenant's log opened read-only as a consistent snapshot.
 *
 * The environment is opened MDB_RDONLY and never takes the writer lock,
 * so crmd may keep appending while the snapshot is read. Several read
 * transactions are begun on the same committed state (the same LMDB
 * transaction id), one per verifying thread.
 */
#ifndef CRM_AUDIT_SNAP_H
#define CRM_AUDIT_SNAP_H

#include <lmdb.h>
#include <stdint.h>

#include "err.h"
#include "hash.h"
#include "schema.h"

#define CRM_AUDIT_THREADS_MAX 16

typedef struct crm_audit_snap {
    char tenant[CRM_TENANT_MAX + 1];
    size_t tenant_len;
    MDB_env *env;
    int nolock; /* opened without the lock file (none was there) */
    MDB_txn *txn[CRM_AUDIT_THREADS_MAX]; /* txn[i] for thread i */
    int ntxn;
    MDB_dbi dbi_log, dbi_streams, dbi_ids, dbi_meta, dbi_skip;
    int has_ckpts; /* a "checkpoints" database (signed checkpoints) */
    MDB_dbi dbi_ckpts;
    int has_sign_pub; /* meta "sign_pub": the key the tenant says it signs
                         with (crm-audit --pubkey trusts a given one) */
    uint8_t sign_pub[32];
    /* meta, as the snapshot holds it */
    int has_genesis, has_head;
    uint8_t genesis[CRM_HASH_LEN];
    uint64_t head_pos;
    uint8_t head_hash[CRM_HASH_LEN];
    uint64_t streams_at, ckpt_to; /* ckpt_to == streams_at: no round */
    char meta_fault[120];         /* "" or why meta itself is bad */
    uint64_t records;             /* entries of the log db */
} crm_audit_snap;

/* Opens the log in dir (DATADIR/tenants/TENANT) for tenant and begins
 * nthreads (1..CRM_AUDIT_THREADS_MAX) read transactions on one committed
 * state, then reads meta. A meta entry that is missing or malformed is
 * not an error: meta_fault says what is wrong. Errors: CRM_ERR_IO (no
 * log there, LMDB failure), CRM_ERR_UNAVAILABLE (the log kept changing
 * before a common state could be held), CRM_ERR_NOMEM. On failure s is
 * closed. */
crm_err crm_audit_snap_open(crm_audit_snap *s, const char *dir,
                            const char *tenant, int nthreads, crm_error *why);

/* Ends the transactions and closes the environment; accepts a snapshot
 * that failed to open or was closed already. */
void crm_audit_snap_close(crm_audit_snap *s);

#endif
