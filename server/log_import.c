/*
 * log_import.c - records as another log stored them (an export file,
 * audit.export) put into an empty log as they are: the same positions,
 * bytes and hashes, so the chain head is the source's.
 *
 * Each record is checked before it is put: it names this tenant and the
 * next position, links to the hash before it, hashes to its own H, and
 * follows its stream's previous event. It is indexed by the one path
 * every stored record takes (crm_log_index_record). Projections and
 * stream heads are not touched here: the log is closed afterwards and
 * opening it folds what the projections miss (crm_log_catch_up) and
 * replays the heads from the records. Only on a log nothing else uses
 * (crmd --import, before it serves).
 */
#include <errno.h>
#include <string.h>

#include "log_int.h"
#include "mdberr.h"

crm_err
crm_log_import_begin(crm_log *log, const uint8_t genesis[CRM_HASH_LEN],
                     crm_error *why)
{
    if (log->head_pos != 0)
        return crm_error_set(why, CRM_ERR_CONFLICT,
                             "tenant %s is not empty (head %llu)", log->tenant,
                             (unsigned long long)log->head_pos);
    pthread_mutex_lock(&log->txn_mu);
    MDB_txn *txn;
    int rc = mdb_txn_begin(log->env, NULL, 0, &txn);
    if (rc == 0) {
        MDB_val k = {7, "genesis"}, v = {CRM_HASH_LEN, (void *)genesis};
        rc = mdb_put(txn, log->dbi_meta, &k, &v, 0);
        rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
    }
    if (rc == 0) {
        memcpy(log->genesis, genesis, CRM_HASH_LEN);
        memcpy(log->head_hash, genesis, CRM_HASH_LEN);
    }
    pthread_mutex_unlock(&log->txn_mu);
    return rc ? crm_mdb_fail(why, rc, "import") : CRM_OK;
}

/* One record against the log as this transaction stands; puts and
 * indexes it. 0, an LMDB error, or -1 with why set (refused). */
static int
put_one(crm_log *log, MDB_txn *txn, const uint8_t *rec, size_t len,
        crm_error *why)
{
    crm_record r;
    msgpack_zone_clear(log->wzone);
    uint64_t pos = log->head_pos + 1;
    if (crm_record_decode(rec, len, log->wzone, &r, NULL) != CRM_OK) {
        crm_error_set(why, CRM_ERR_CORRUPT, "position %llu: unreadable record",
                      (unsigned long long)pos);
        return -1;
    }
    if (r.h.position != pos || r.h.tenant_len != log->tenant_len ||
        memcmp(r.h.tenant, log->tenant, log->tenant_len) != 0 ||
        !crm_record_verify(rec, &r, log->head_hash)) {
        crm_error_set(why, CRM_ERR_CORRUPT,
                      "position %llu: not the next record of this chain "
                      "(position, tenant, link or hash)",
                      (unsigned long long)pos);
        return -1;
    }
    /* sealed bytes need the tenant's keys to be read, plain ones must not
     * enter a sealed tenant */
    int sealed = r.pii.type == MSGPACK_OBJECT_BIN;
    int plain = r.pii.type == MSGPACK_OBJECT_MAP;
    if ((sealed && log->vault == NULL) || (plain && log->vault != NULL)) {
        crm_error_set(why, CRM_ERR_BAD_REQUEST,
                      "position %llu: personal data %s, the tenant here %s",
                      (unsigned long long)pos,
                      sealed ? "sealed" : "in the clear",
                      log->vault ? "seals it" : "keeps no keys");
        return -1;
    }
    /* the stream's previous event, as the records so far left it */
    const crm_shead *h = crm_scache_get(log->pending, r.stream, r.stream_len);
    if (h ? (r.h.version != h->version + 1 || r.h.stream_prev != h->position)
          : (r.h.version != 0 || r.h.stream_prev != 0)) {
        crm_error_set(why, CRM_ERR_CORRUPT,
                      "position %llu: does not follow its stream's previous "
                      "event",
                      (unsigned long long)pos);
        return -1;
    }
    uint8_t kb[8];
    put_be64(kb, pos);
    MDB_val k = {8, kb}, v = {len, (void *)rec};
    int rc = mdb_put(txn, log->dbi_log, &k, &v, MDB_APPEND);
    if (rc != 0)
        return rc;
    crm_stored s = {.position = pos,
                    .version = r.h.version,
                    .id = r.id,
                    .stream = r.stream,
                    .stream_len = r.stream_len,
                    .content = r.content,
                    .content_len = r.content_len};
    if ((rc = crm_log_index_record(log, txn, &s, 0)) != 0) {
        if (rc == LOG_REDO)
            crm_error_set(why, CRM_ERR_CORRUPT,
                          "position %llu: its event id is stored already",
                          (unsigned long long)pos);
        return rc == LOG_REDO ? -1 : rc;
    }
    /* an erasure enters the ledger as pending, as on the primary: the
     * eraser's first round on the tenant completes it */
    static const char erased[] = "customer.erased";
    if (log->vault != NULL && r.type_len == sizeof(erased) - 1 &&
        memcmp(r.type, erased, r.type_len) == 0 &&
        (rc = crm_log_erase_record(log, txn, r.stream, r.stream_len, pos,
                                   r.h.version, r.h.recorded_at)) != 0)
        return rc;
    log->head_pos = pos;
    memcpy(log->head_hash, r.hash, CRM_HASH_LEN);
    if (r.h.recorded_at > log->last_recorded)
        log->last_recorded = r.h.recorded_at;
    return 0;
}

/* Grows the map ahead of a chunk of bytes of records: a chunk that met
 * a full map could not be put again, since the stream heads of its
 * records are already in log->pending. Four times the records' bytes
 * covers their indexes; 16 MiB more leaves room for LMDB's own pages. */
static int
room_for(crm_log *log, size_t bytes)
{
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(log->env, &info) != 0 || mdb_env_stat(log->env, &st) != 0)
        return -1;
    size_t need = ((size_t)info.me_last_pgno + 1) * st.ms_psize + 4 * bytes +
                  (16u << 20);
    return need <= log->map_size ? 0 : crm_log_grow_map(log, need);
}

crm_err
crm_log_import_records(crm_log *log, const uint8_t *const *recs,
                       const size_t *lens, size_t n, crm_error *why)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += lens[i];
    pthread_mutex_lock(&log->txn_mu);
    if (room_for(log, bytes) != 0) {
        pthread_mutex_unlock(&log->txn_mu);
        return crm_error_set(why, CRM_ERR_IO,
                             "import: the map cannot grow to what the "
                             "records need (--map-size-mb, the disk)");
    }
    uint64_t pos0 = log->head_pos;
    uint8_t hash0[CRM_HASH_LEN];
    memcpy(hash0, log->head_hash, CRM_HASH_LEN);
    int64_t rec0 = log->last_recorded;
    MDB_txn *txn;
    int rc = mdb_txn_begin(log->env, NULL, 0, &txn);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = put_one(log, txn, recs[i], lens[i], why);
    if (rc == 0) {
        uint8_t hv[HEADVAL_LEN];
        put_be64(hv, log->head_pos);
        memcpy(hv + 8, log->head_hash, CRM_HASH_LEN);
        put_be64(hv + 8 + CRM_HASH_LEN, (uint64_t)log->last_recorded);
        MDB_val k = {4, "head"}, v = {HEADVAL_LEN, hv};
        rc = mdb_put(txn, log->dbi_meta, &k, &v, 0);
    }
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    if (rc != 0) { /* nothing of this chunk stays */
        log->head_pos = pos0;
        memcpy(log->head_hash, hash0, CRM_HASH_LEN);
        log->last_recorded = rec0;
    }
    pthread_mutex_unlock(&log->txn_mu);
    if (rc == -1)
        return why->code;
    return rc ? crm_mdb_fail(why, rc, "import") : CRM_OK;
}

crm_err
crm_log_import_keys(crm_log *log, const crm_import_key *keys, size_t n,
                    size_t *stored, crm_error *why)
{
    *stored = 0;
    if (log->vault == NULL)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "tenant %s keeps no keys: its guests' keys "
                             "need a master key",
                             log->tenant);
    pthread_mutex_lock(&log->txn_mu);
    MDB_txn *txn;
    size_t put = 0, at = 0;
    int rc = mdb_txn_begin(log->env, NULL, 0, &txn);
    int erased = 0;
    for (; rc == 0 && at < n; at++) {
        /* a key of an erased guest would give the person back */
        if ((erased = crm_log_erased(log, txn, keys[at].stream,
                                     keys[at].len)) != 0) {
            rc = erased < 0 ? -erased : -1;
            break;
        }
        if ((rc = crm_vault_subject_key_put(log->vault, txn,
                                            log->dbi_subjects, keys[at].stream,
                                            keys[at].len, keys[at].key)) == 0)
            put++;
    }
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    pthread_mutex_unlock(&log->txn_mu);
    if (rc == -1)
        return crm_error_set(why, CRM_ERR_CORRUPT,
                             "guest %.*s is erased in the export's log: its "
                             "key is refused",
                             (int)keys[at].len, keys[at].stream);
    if (rc == MDB_KEYEXIST)
        return crm_error_set(why, CRM_ERR_CONFLICT,
                             "guest %.*s has a key already (given twice?)",
                             (int)keys[at].len, keys[at].stream);
    if (rc != 0)
        return crm_mdb_fail(why, rc, "import keys");
    *stored = put;
    return CRM_OK;
}

typedef struct key_check {
    crm_log *log;
    msgpack_zone *z;
    uint64_t opened, bad;
    int rc;
} key_check;

static int
check_one(void *arg, uint64_t position, const uint8_t *rec, size_t len)
{
    key_check *c = arg;
    crm_record r;
    msgpack_zone_clear(c->z);
    if (crm_record_decode(rec, len, c->z, &r, NULL) != CRM_OK) {
        c->rc = MDB_CORRUPTED;
        c->bad = position;
        return 1;
    }
    if (r.pii.type != MSGPACK_OBJECT_BIN)
        return 0;
    int rc = crm_log_open_reading(c->log, &r, c->z);
    if (rc == MDB_NOTFOUND) /* erased, or no key came for this guest */
        return 0;
    if (rc != 0) {
        c->rc = rc;
        c->bad = position;
        return 1;
    }
    c->opened++;
    return 0;
}

crm_err
crm_log_import_check_keys(crm_log *log, uint64_t *opened, crm_error *why)
{
    key_check c = {.log = log, .z = msgpack_zone_new(4096)};
    if (c.z == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    crm_err err = crm_log_read_all(log, 1, 0, check_one, &c);
    msgpack_zone_free(c.z);
    *opened = c.opened;
    if (err == CRM_OK && c.rc == EIO)
        return crm_error_set(why, CRM_ERR_CORRUPT,
                             "position %llu: its guest's key does not open "
                             "its sealed personal fields",
                             (unsigned long long)c.bad);
    if (err == CRM_OK && c.rc != 0)
        return crm_mdb_fail(why, c.rc, "check imported keys");
    return err == CRM_OK ? CRM_OK
                         : crm_error_set(why, err, "check imported keys");
}
