/* snap.c - a tenant log opened read-only, held at one committed state. */
#include "snap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "layout.h"
#include "mdberr.h"

/* How often the transactions are begun again when crmd commits between
 * the first and the last of them. A commit takes milliseconds and the
 * begins microseconds, so more than a few retries mean something else. */
#define SAME_STATE_TRIES 1000

static int
exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* The transactions on one state: all or none. */
static int
begin_all(crm_audit_snap *s, int n)
{
    for (int tries = 0; tries < SAME_STATE_TRIES; tries++) {
        int rc = 0, i;
        for (i = 0; i < n; i++) {
            rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->txn[i]);
            if (rc == MDB_MAP_RESIZED) {
                /* crmd grew the map: adopt the size it committed */
                while (i-- > 0)
                    mdb_txn_abort(s->txn[i]);
                if ((rc = mdb_env_set_mapsize(s->env, 0)) != 0)
                    return rc;
                rc = MDB_MAP_RESIZED;
                break;
            }
            if (rc != 0) {
                while (i-- > 0)
                    mdb_txn_abort(s->txn[i]);
                return rc;
            }
            if (mdb_txn_id(s->txn[i]) != mdb_txn_id(s->txn[0])) {
                i++;
                while (i-- > 0)
                    mdb_txn_abort(s->txn[i]);
                rc = MDB_MAP_RESIZED;
                break;
            }
        }
        if (rc == 0) {
            s->ntxn = n;
            return 0;
        }
    }
    return EAGAIN;
}

static int
open_dbis(crm_audit_snap *s)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return rc;
    if ((rc = mdb_dbi_open(txn, "log", 0, &s->dbi_log)) != 0 ||
        (rc = mdb_dbi_open(txn, "streams", 0, &s->dbi_streams)) != 0 ||
        (rc = mdb_dbi_open(txn, "event_ids", 0, &s->dbi_ids)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", 0, &s->dbi_meta)) != 0 ||
        (rc = mdb_dbi_open(txn, "stream_skip", 0, &s->dbi_skip)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    /* logs from before signed checkpoints have none */
    rc = mdb_dbi_open(txn, "checkpoints", 0, &s->dbi_ckpts);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return rc;
    }
    s->has_ckpts = rc == 0;
    /* a read-only commit keeps the handles for later transactions */
    return mdb_txn_commit(txn);
}

static int
meta_get(crm_audit_snap *s, const char *key, MDB_val *v)
{
    MDB_val k = {strlen(key), (void *)key};
    return mdb_get(s->txn[0], s->dbi_meta, &k, v);
}

/* Reads what meta says, with the server's defaults for absent keys (see
 * log.c read_head and log_verify.c). */
static int
read_meta(crm_audit_snap *s)
{
    MDB_val v;
    int rc;

    if ((rc = meta_get(s, "tenant", &v)) != 0 && rc != MDB_NOTFOUND)
        return rc;
    if (rc == 0 && (v.mv_size != s->tenant_len ||
                    memcmp(v.mv_data, s->tenant, s->tenant_len) != 0)) {
        snprintf(s->meta_fault, sizeof(s->meta_fault),
                 "meta names tenant '%.*s'",
                 (int)(v.mv_size < CRM_TENANT_MAX ? v.mv_size : CRM_TENANT_MAX),
                 (const char *)v.mv_data);
        return 0;
    }
    if ((rc = meta_get(s, "format", &v)) != 0 && rc != MDB_NOTFOUND)
        return rc;
    if (rc == 0 && (v.mv_size != 1 || memcmp(v.mv_data, AUDIT_FORMAT, 1))) {
        snprintf(s->meta_fault, sizeof(s->meta_fault),
                 "log format '%.*s' is not the one this tool reads (%s)",
                 (int)(v.mv_size < 8 ? v.mv_size : 8),
                 (const char *)v.mv_data, AUDIT_FORMAT);
        return 0;
    }
    if ((rc = meta_get(s, "genesis", &v)) != 0 && rc != MDB_NOTFOUND)
        return rc;
    if (rc == 0 && v.mv_size == CRM_HASH_LEN) {
        s->has_genesis = 1;
        memcpy(s->genesis, v.mv_data, CRM_HASH_LEN);
    } else {
        snprintf(s->meta_fault, sizeof(s->meta_fault),
                 "meta genesis is %s", rc == 0 ? "malformed" : "missing");
        return 0;
    }
    if ((rc = meta_get(s, "head", &v)) != 0 && rc != MDB_NOTFOUND)
        return rc;
    if (rc == MDB_NOTFOUND) {
        s->head_pos = 0;
        memcpy(s->head_hash, s->genesis, CRM_HASH_LEN);
    } else if (v.mv_size != AUDIT_HEADVAL_LEN) {
        snprintf(s->meta_fault, sizeof(s->meta_fault), "meta head is unreadable");
        return 0;
    } else {
        s->has_head = 1;
        s->head_pos = audit_be64(v.mv_data);
        memcpy(s->head_hash, (const uint8_t *)v.mv_data + 8, CRM_HASH_LEN);
    }
    if ((rc = meta_get(s, "streams_at", &v)) != 0 && rc != MDB_NOTFOUND)
        return rc;
    if (rc == MDB_NOTFOUND) {
        s->streams_at = s->head_pos;
    } else if (v.mv_size != 8 ||
               (s->streams_at = audit_be64(v.mv_data)) > s->head_pos) {
        snprintf(s->meta_fault, sizeof(s->meta_fault),
                 "meta streams_at is unreadable");
        return 0;
    }
    if ((rc = meta_get(s, "ckpt_to", &v)) != 0 && rc != MDB_NOTFOUND)
        return rc;
    if (rc == MDB_NOTFOUND) {
        s->ckpt_to = s->streams_at;
    } else if (v.mv_size != 8 ||
               (s->ckpt_to = audit_be64(v.mv_data)) > s->head_pos ||
               s->ckpt_to < s->streams_at) {
        snprintf(s->meta_fault, sizeof(s->meta_fault),
                 "meta ckpt_to is unreadable");
        return 0;
    }
    if ((rc = meta_get(s, "sign_pub", &v)) != 0 && rc != MDB_NOTFOUND)
        return rc;
    if (rc == 0 && v.mv_size == sizeof(s->sign_pub)) {
        s->has_sign_pub = 1;
        memcpy(s->sign_pub, v.mv_data, sizeof(s->sign_pub));
    }
    MDB_stat st;
    if ((rc = mdb_stat(s->txn[0], s->dbi_log, &st)) != 0)
        return rc;
    s->records = st.ms_entries;
    return 0;
}

crm_err
crm_audit_snap_open(crm_audit_snap *s, const char *dir, const char *tenant,
                    int nthreads, crm_error *why)
{
    int rc;
    crm_err err;

    memset(s, 0, sizeof(*s));
    if (nthreads < 1 || nthreads > CRM_AUDIT_THREADS_MAX ||
        strlen(tenant) > CRM_TENANT_MAX)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "bad snapshot request");
    s->tenant_len = strlen(tenant);
    memcpy(s->tenant, tenant, s->tenant_len + 1);
    if (!exists(dir, "data.mdb"))
        return crm_error_set(why, CRM_ERR_IO, "%s: no LMDB environment (%s)",
                             dir, "data.mdb is missing");
    /* With the lock file, this process takes a slot in LMDB's reader
     * table: crmd then keeps every page of the snapshot until the
     * transactions end, so appends while the audit runs are safe, and
     * readers never take the writer lock. MDB_NOLOCK would skip the
     * table: crmd could reuse pages the snapshot still reads, so it is
     * used only when there is no lock.mdb at all, which means no process
     * has the environment open (crmd always creates it), and LMDB would
     * otherwise create one in the data directory. */
    s->nolock = !exists(dir, "lock.mdb");
    /* MDB_NOTLS: this thread begins every transaction (one reader slot
     * each) and hands them to the verifying threads, one each. */
    if ((rc = mdb_env_create(&s->env)) != 0 ||
        (rc = mdb_env_set_maxdbs(s->env, 16)) != 0 ||
        (rc = mdb_env_open(s->env, dir,
                           MDB_RDONLY | MDB_NOTLS |
                               (s->nolock ? MDB_NOLOCK : 0),
                           0600)) != 0) {
        err = crm_mdb_fail(why, rc, "open log environment");
        goto fail;
    }
    if ((rc = open_dbis(s)) != 0) {
        err = crm_mdb_fail(why, rc, "open log databases");
        goto fail;
    }
    if ((rc = begin_all(s, nthreads)) != 0) {
        err = rc == EAGAIN
                  ? crm_error_set(why, CRM_ERR_UNAVAILABLE,
                                  "the log changed at every attempt to "
                                  "hold one state")
                  : crm_mdb_fail(why, rc, "begin read");
        goto fail;
    }
    if ((rc = read_meta(s)) != 0) {
        err = crm_mdb_fail(why, rc, "read log meta");
        goto fail;
    }
    return CRM_OK;
fail:
    crm_audit_snap_close(s);
    return err;
}

void
crm_audit_snap_close(crm_audit_snap *s)
{
    for (int i = 0; i < s->ntxn; i++)
        mdb_txn_abort(s->txn[i]);
    s->ntxn = 0;
    if (s->env)
        mdb_env_close(s->env);
    s->env = NULL;
}
