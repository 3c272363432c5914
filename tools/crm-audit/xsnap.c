/* xsnap.c - an export file verified and loaded into a scratch log, then
 * opened as a snapshot like a data directory's. */
#include "xsnap.h"

#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "export.h"
#include "layout.h"
#include "mdberr.h"

/* The map is address space, not disk, until pages are written: room for
 * every record of the file twice over (the tree's pages around them),
 * and the streams index. */
#define MAP_SLACK (64ull << 20)

typedef struct loader {
    MDB_txn *txn;
    MDB_dbi log, streams;
    uint64_t loaded;
    int64_t last_recorded; /* of the last record loaded: meta head's time */
} loader;

/* One verified record into the log and its stream's head into streams,
 * as the writer leaves them. */
static crm_err
load(void *arg, const uint8_t *rec, size_t len, const crm_record *r,
     crm_error *why)
{
    loader *l = arg;
    if (l->loaded == 0 && r->h.position != 1)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "the export begins at position %llu: a "
                             "guest's history is rebuilt from an export "
                             "of the whole log (crmctl audit export "
                             "without --from)",
                             (unsigned long long)r->h.position);
    uint8_t kb[8], sv[AUDIT_STREAMVAL_LEN];
    audit_put_be64(kb, r->h.position);
    audit_put_be64(sv, r->h.version);
    audit_put_be64(sv + 8, r->h.position);
    MDB_val k = {8, kb}, v = {len, (void *)rec};
    MDB_val sk = {r->stream_len, (void *)r->stream}, svv = {sizeof(sv), sv};
    int rc = mdb_put(l->txn, l->log, &k, &v, MDB_APPEND);
    if (rc == 0)
        rc = mdb_put(l->txn, l->streams, &sk, &svv, 0);
    if (rc != 0)
        return crm_mdb_fail(why, rc, "load the export");
    l->loaded++;
    l->last_recorded = r->h.recorded_at;
    return CRM_OK;
}

static int
meta_put(MDB_txn *txn, MDB_dbi meta, const char *key, const void *val,
         size_t len)
{
    MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};
    return mdb_put(txn, meta, &k, &v, 0);
}

/* The meta entries snap.c reads, for a log whose head is the export's
 * last record. */
static int
write_meta(MDB_txn *txn, MDB_dbi meta, const crm_audit_export *ex,
           const crm_audit_result *res, int64_t last_recorded)
{
    uint8_t head[AUDIT_HEADVAL_LEN], at[8];
    audit_put_be64(head, res->head_pos);
    memcpy(head + 8, res->head_hash, CRM_HASH_LEN);
    audit_put_be64(head + 8 + CRM_HASH_LEN, (uint64_t)last_recorded);
    audit_put_be64(at, res->head_pos);
    int rc;
    /* from position 1, prev_hash is the genesis */
    if ((rc = meta_put(txn, meta, "tenant", ex->tenant,
                       strlen(ex->tenant))) != 0 ||
        (rc = meta_put(txn, meta, "format", AUDIT_FORMAT,
                       strlen(AUDIT_FORMAT))) != 0 ||
        (rc = meta_put(txn, meta, "genesis", ex->prev_hash,
                       CRM_HASH_LEN)) != 0 ||
        (rc = meta_put(txn, meta, "head", head, sizeof(head))) != 0 ||
        (rc = meta_put(txn, meta, "streams_at", at, sizeof(at))) != 0)
        return rc;
    return meta_put(txn, meta, "sign_pub", ex->public_key,
                    CRM_SIGN_PUB_LEN);
}

crm_err
crm_audit_xsnap_open(crm_audit_xsnap *x, const char *path, crm_error *why)
{
    MDB_env *env = NULL;
    loader l = {0};
    MDB_dbi meta, none;
    crm_audit_export ex;
    crm_audit_result res;
    struct stat st;
    crm_err err;
    int rc;

    memset(x, 0, sizeof(*x));
    if (stat(path, &st) != 0)
        return crm_error_set(why, CRM_ERR_IO, "%s: cannot be read", path);
    if ((err = crm_audit_scratch_make(x->dir, "export", why)) != CRM_OK)
        return err;
    if ((rc = mdb_env_create(&env)) != 0 ||
        (rc = mdb_env_set_maxdbs(env, 8)) != 0 ||
        (rc = mdb_env_set_mapsize(env, 2 * (size_t)st.st_size +
                                           MAP_SLACK)) != 0 ||
        (rc = mdb_env_open(env, x->dir, MDB_NOSYNC | MDB_NOMETASYNC,
                           0600)) != 0 ||
        (rc = mdb_txn_begin(env, NULL, 0, &l.txn)) != 0 ||
        (rc = mdb_dbi_open(l.txn, "log", MDB_CREATE, &l.log)) != 0 ||
        (rc = mdb_dbi_open(l.txn, "streams", MDB_CREATE, &l.streams)) != 0 ||
        (rc = mdb_dbi_open(l.txn, "meta", MDB_CREATE, &meta)) != 0 ||
        (rc = mdb_dbi_open(l.txn, "event_ids", MDB_CREATE, &none)) != 0 ||
        (rc = mdb_dbi_open(l.txn, "stream_skip", MDB_CREATE, &none)) != 0) {
        err = crm_mdb_fail(why, rc, "scratch log");
        goto fail;
    }
    err = crm_audit_verify_export(path, NULL, load, &l, &ex, &res, why);
    if (err != CRM_OK)
        goto fail;
    if (res.broken) {
        err = crm_error_set(why, CRM_ERR_CORRUPT,
                            "export %s is broken at position %llu: %s "
                            "(crm-audit verify --export says the same)",
                            path, (unsigned long long)res.bad_pos, res.why);
        goto fail;
    }
    rc = write_meta(l.txn, meta, &ex, &res, l.last_recorded);
    if (rc == 0)
        rc = mdb_txn_commit(l.txn);
    l.txn = NULL;
    if (rc != 0) {
        err = crm_mdb_fail(why, rc, "scratch log");
        goto fail;
    }
    mdb_env_close(env);
    env = NULL;
    if ((err = crm_audit_snap_open(&x->snap, x->dir, ex.tenant, 1, why)) !=
        CRM_OK)
        goto fail;
    return CRM_OK;
fail:
    if (l.txn)
        mdb_txn_abort(l.txn);
    if (env)
        mdb_env_close(env);
    crm_audit_xsnap_close(x);
    return err;
}

void
crm_audit_xsnap_close(crm_audit_xsnap *x)
{
    crm_audit_snap_close(&x->snap);
    crm_audit_scratch_remove(x->dir);
}
