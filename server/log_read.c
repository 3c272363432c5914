/*
 * log_read.c - reads of a tenant log: the whole log from a position, one
 * stream by version, stream heads, and the one scan-and-decode loop that
 * opening, verification and rebuilds share.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "log_int.h"
#include "mdberr.h"

/* The read transaction of the crm_log_read_all or crm_log_read_stream
 * whose visit callback this thread is in, for crm_log_open_reading. */
static _Thread_local MDB_txn *reading;

/* The subject key of r's guest into key: from sk when it holds that
 * guest's (sk may be NULL), else from the vault, then kept in sk. 0,
 * MDB_NOTFOUND (the guest has none) or an LMDB error. */
static int
subject_key(crm_log *log, MDB_txn *txn, const crm_record *r,
            crm_log_subject *sk, uint8_t key[CRM_KEY_LEN])
{
    if (sk && sk->state && sk->len == r->stream_len &&
        memcmp(sk->stream, r->stream, r->stream_len) == 0) {
        if (sk->state == 2)
            return MDB_NOTFOUND;
        memcpy(key, sk->key, CRM_KEY_LEN);
        return 0;
    }
    int rc = crm_vault_subject_key(log->vault, txn, log->dbi_subjects,
                                   r->stream, r->stream_len, 0, key);
    if (sk && (rc == 0 || rc == MDB_NOTFOUND) &&
        r->stream_len <= sizeof(sk->stream)) {
        crm_log_subject_wipe(sk);
        sk->state = rc == 0 ? 1 : 2;
        sk->len = r->stream_len;
        memcpy(sk->stream, r->stream, r->stream_len);
        if (rc == 0)
            memcpy(sk->key, key, CRM_KEY_LEN);
    }
    return rc;
}

static int
pii_bytes(crm_log *log, MDB_txn *txn, const crm_record *r, crm_log_subject *sk,
          msgpack_zone *z, const uint8_t **pii, size_t *len)
{
    size_t at = crm_event_pii_at(r->content, r->content_len);
    if (at == 0)
        return MDB_CORRUPTED;
    if (r->pii.type != MSGPACK_OBJECT_BIN) {
        *pii = r->content + at; /* as stored: a map, or nil */
        *len = r->content_len - at;
        return 0;
    }
    if (log->vault == NULL)
        return MDB_CORRUPTED; /* sealed data in a log without keys */
    uint8_t key[CRM_KEY_LEN];
    int rc = subject_key(log, txn, r, sk, key);
    if (rc != 0)
        return rc; /* MDB_NOTFOUND: the guest's key is destroyed */
    size_t n = r->pii.via.bin.size;
    uint8_t *pt = n > CRM_SEAL_OVERHEAD
                      ? msgpack_zone_malloc(z, n - CRM_SEAL_OVERHEAD)
                      : NULL;
    rc = pt == NULL ? MDB_CORRUPTED
         : crm_vault_open_pii(log->vault, key, r->stream, r->stream_len, r->id,
                              (const uint8_t *)r->pii.via.bin.ptr, n, pt) != 0
             ? EIO
             : 0;
    crm_wipe(key, sizeof(key));
    if (rc == 0) {
        *pii = pt;
        *len = n - CRM_SEAL_OVERHEAD;
    }
    return rc;
}

int
crm_log_pii_bytes(crm_log *log, MDB_txn *txn, const crm_record *r,
                  msgpack_zone *z, const uint8_t **pii, size_t *len)
{
    return pii_bytes(log, txn, r, NULL, z, pii, len);
}

static int
open_pii(crm_log *log, MDB_txn *txn, crm_record *r, crm_log_subject *sk,
         msgpack_zone *z)
{
    if (r->pii.type != MSGPACK_OBJECT_BIN)
        return 0;
    const uint8_t *pt;
    size_t n, off = 0;
    int rc = pii_bytes(log, txn, r, sk, z, &pt, &n);
    if (rc == MDB_NOTFOUND) {
        r->pii.type = MSGPACK_OBJECT_NIL; /* erased: nothing personal left */
        return rc;
    }
    if (rc != 0)
        return rc;
    msgpack_object o;
    if (msgpack_unpack((const char *)pt, n, &off, z, &o) !=
            MSGPACK_UNPACK_SUCCESS ||
        off != n || o.type != MSGPACK_OBJECT_MAP)
        return MDB_CORRUPTED;
    r->pii = o;
    return 0;
}

int
crm_log_open_pii(crm_log *log, MDB_txn *txn, crm_record *r, msgpack_zone *z)
{
    return open_pii(log, txn, r, NULL, z);
}

int
crm_log_record_open_subject(crm_log *log, MDB_txn *txn, uint64_t position,
                            msgpack_zone *z, crm_log_subject *sk, crm_record *r)
{
    const void *rec;
    size_t len;
    int rc = crm_log_record_at(log, txn, position, &rec, &len);
    if (rc != 0)
        return rc;
    if (crm_record_decode(rec, len, z, r, NULL) != CRM_OK)
        return MDB_CORRUPTED;
    rc = open_pii(log, txn, r, sk, z);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
crm_log_record_open(crm_log *log, MDB_txn *txn, uint64_t position,
                    msgpack_zone *z, crm_record *r)
{
    return crm_log_record_open_subject(log, txn, position, z, NULL, r);
}

void
crm_log_subject_wipe(crm_log_subject *sk)
{
    crm_wipe(sk, sizeof(*sk));
}

int
crm_log_open_reading(crm_log *log, crm_record *r, msgpack_zone *z)
{
    if (r->pii.type != MSGPACK_OBJECT_BIN)
        return 0;
    return reading ? crm_log_open_pii(log, reading, r, z) : EINVAL;
}

crm_err
crm_log_scan(crm_log *log, MDB_txn *txn, uint64_t from, msgpack_zone *z,
             int open_pii, crm_log_scan_fn fn, void *arg, uint64_t *bad_pos,
             crm_error *why)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, log->dbi_log, &cur);
    if (rc != 0)
        return crm_mdb_fail(why, rc, "cursor");
    uint8_t kb[8];
    put_be64(kb, from ? from : 1);
    MDB_val k = {8, kb}, v;
    crm_err err = CRM_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t pos = k.mv_size == 8 ? get_be64(k.mv_data) : 0;
        crm_record r;
        crm_error e;
        msgpack_zone_clear(z);
        if (crm_record_decode(v.mv_data, v.mv_size, z, &r, &e) != CRM_OK) {
            if (bad_pos)
                *bad_pos = pos;
            err = crm_error_set(why, CRM_ERR_CORRUPT,
                                "position %llu: unreadable record: %s",
                                (unsigned long long)pos, e.msg);
            break;
        }
        int orc = open_pii ? crm_log_open_pii(log, txn, &r, z) : 0;
        if (orc != 0 && orc != MDB_NOTFOUND) {
            if (bad_pos)
                *bad_pos = pos;
            err = crm_error_set(why, CRM_ERR_CORRUPT,
                                "position %llu: personal data does not open: "
                                "%s",
                                (unsigned long long)pos, mdb_strerror(orc));
            break;
        }
        if (fn(arg, pos, &v, &r) != 0)
            break;
    }
    if (err == CRM_OK && rc != 0 && rc != MDB_NOTFOUND)
        err = crm_mdb_fail(why, rc, "scan");
    mdb_cursor_close(cur);
    return err;
}

crm_err
crm_log_rd_begin(crm_log *log, MDB_txn **txn, crm_error *why)
{
    pthread_rwlock_rdlock(&log->maplock);
    int rc = mdb_txn_begin(log->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        pthread_rwlock_unlock(&log->maplock);
        return crm_mdb_fail(why, rc, "begin read");
    }
    return CRM_OK;
}

void
crm_log_rd_end(crm_log *log, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&log->maplock);
}

int
crm_log_record_at(crm_log *log, MDB_txn *txn, uint64_t position,
                  const void **rec, size_t *len)
{
    uint8_t kb[8];
    put_be64(kb, position);
    MDB_val k = {8, kb}, v;
    int rc = mdb_get(txn, log->dbi_log, &k, &v);
    if (rc == 0) {
        *rec = v.mv_data;
        *len = v.mv_size;
    }
    return rc;
}

int
crm_log_event_position(crm_log *log, MDB_txn *txn,
                       const uint8_t id[CRM_ID_LEN], uint64_t *position)
{
    MDB_val k = {CRM_ID_LEN, (void *)id}, v;
    int rc = mdb_get(txn, log->dbi_ids, &k, &v);
    if (rc == 0 && v.mv_size < 8)
        rc = MDB_CORRUPTED;
    if (rc == 0)
        *position = get_be64(v.mv_data);
    return rc;
}

crm_err
crm_log_read_all(crm_log *log, uint64_t from, size_t max,
                 crm_log_visit_fn visit, void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    crm_err err = crm_log_rd_begin(log, &txn, NULL);
    if (err != CRM_OK)
        return err;
    int rc = mdb_cursor_open(txn, log->dbi_log, &cur);
    if (rc != 0) {
        crm_log_rd_end(log, txn);
        return crm_mdb_fail(NULL, rc, "cursor");
    }
    uint8_t kb[8];
    put_be64(kb, from ? from : 1);
    MDB_val k = {8, kb}, v;
    size_t n = 0;
    reading = txn;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (visit(arg, get_be64(k.mv_data), v.mv_data, v.mv_size) != 0)
            break;
        if (max && ++n >= max)
            break;
    }
    reading = NULL;
    err = (rc == 0 || rc == MDB_NOTFOUND) ? CRM_OK
                                          : crm_mdb_fail(NULL, rc, "scan");
    mdb_cursor_close(cur);
    crm_log_rd_end(log, txn);
    return err;
}

/* The head of a stream from the overlay; 1 if it was there. Must be
 * called before the caller's read transaction begins (see ovl_mu). */
static int
overlay_head(crm_log *log, const char *stream, size_t len, uint64_t *version,
             uint64_t *position)
{
    pthread_mutex_lock(&log->ovl_mu);
    const crm_shead *h = crm_scache_get(log->overlay, stream, len);
    if (h) {
        *version = h->version;
        *position = h->position;
    }
    pthread_mutex_unlock(&log->ovl_mu);
    return h != NULL;
}

crm_err
crm_log_stream_info(crm_log *log, const char *stream, size_t len,
                    uint64_t *version, uint64_t *position)
{
    MDB_txn *txn;
    if (overlay_head(log, stream, len, version, position))
        return CRM_OK;
    crm_err err = crm_log_rd_begin(log, &txn, NULL);
    if (err != CRM_OK)
        return err;
    MDB_val k = {len, (void *)stream}, v;
    int rc = mdb_get(txn, log->dbi_streams, &k, &v);
    if (rc == 0 && v.mv_size == STREAMVAL_LEN) {
        *version = get_be64(v.mv_data);
        *position = get_be64((const uint8_t *)v.mv_data + 8);
    } else {
        err = rc == MDB_NOTFOUND ? CRM_ERR_NOT_FOUND
              : rc == 0          ? CRM_ERR_CORRUPT
                                 : crm_mdb_fail(NULL, rc, "stream lookup");
    }
    crm_log_rd_end(log, txn);
    return err;
}

typedef struct hop {
    uint64_t pos;
    MDB_val v;
} hop;

/* Moves (*version, *position) back to the stream's first skip entry at
 * or after version `at`, if there is one before *version. */
static void
skip_to(crm_log *log, MDB_txn *txn, const char *stream, size_t len, uint64_t at,
        uint64_t *version, uint64_t *position)
{
    MDB_cursor *cur;
    uint8_t kb[SKIPKEY_MAX];
    MDB_val k = {skip_key(kb, stream, len, at), kb}, v;
    if (mdb_cursor_open(txn, log->dbi_skip, &cur) != 0)
        return; /* the walk from the head is slower, not wrong */
    /* Stream ids hold no byte below 0x20 and versions start with 0x00, so
     * the entries of one stream sort together and a key of another stream
     * never has this length and prefix. */
    if (mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0 &&
        k.mv_size == len + 8 && memcmp(k.mv_data, stream, len) == 0 &&
        v.mv_size == 8) {
        uint64_t ver = get_be64((const uint8_t *)k.mv_data + len);
        if (ver >= at && ver < *version) {
            *version = ver;
            *position = get_be64(v.mv_data);
        }
    }
    mdb_cursor_close(cur);
}

crm_err
crm_log_read_stream(crm_log *log, const char *stream, size_t len,
                    uint64_t from_version, size_t max, crm_log_visit_fn visit,
                    void *arg)
{
    MDB_txn *txn;
    msgpack_zone *z = NULL;
    hop *hops = NULL;
    uint64_t last_ver, pos;
    if (len == 0 || len > CRM_STREAM_MAX)
        return CRM_ERR_NOT_FOUND;
    int cached = overlay_head(log, stream, len, &last_ver, &pos);
    crm_err err = crm_log_rd_begin(log, &txn, NULL);
    if (err != CRM_OK)
        return err;
    if (!cached) {
        MDB_val k = {len, (void *)stream}, v;
        int rc = mdb_get(txn, log->dbi_streams, &k, &v);
        if (rc != 0 || v.mv_size != STREAMVAL_LEN) {
            err = rc == MDB_NOTFOUND ? CRM_ERR_NOT_FOUND : CRM_ERR_CORRUPT;
            goto done;
        }
        last_ver = get_be64(v.mv_data);
        pos = get_be64((const uint8_t *)v.mv_data + 8);
    }
    if (from_version > last_ver)
        goto done;

    /* The walk back along stream_prev starts at the first skip entry at or
     * after the last version asked for, or at the head: at most max +
     * SKIP_EVERY hops however long the stream. */
    uint64_t want_last = last_ver;
    if (max && max - 1 < last_ver - from_version)
        want_last = from_version + max - 1;
    if (last_ver - want_last >= SKIP_EVERY)
        skip_to(log, txn, stream, len, want_last, &last_ver, &pos);

    /* The map pointers stay valid for the whole read transaction, so
     * nothing is copied. */
    size_t n = (size_t)(last_ver - from_version + 1);
    if ((hops = malloc(n * sizeof(*hops))) == NULL ||
        (z = msgpack_zone_new(2048)) == NULL) {
        err = CRM_ERR_NOMEM;
        goto done;
    }
    for (size_t i = n; i-- > 0;) {
        uint8_t kb[8];
        crm_record r;
        put_be64(kb, pos);
        MDB_val rk = {8, kb};
        if (mdb_get(txn, log->dbi_log, &rk, &hops[i].v) != 0) {
            err = CRM_ERR_CORRUPT;
            goto done;
        }
        hops[i].pos = pos;
        msgpack_zone_clear(z);
        if (crm_record_decode(hops[i].v.mv_data, hops[i].v.mv_size, z, &r,
                              NULL) != CRM_OK ||
            r.h.version != from_version + i) {
            err = CRM_ERR_CORRUPT;
            goto done;
        }
        pos = r.h.stream_prev;
    }
    reading = txn;
    for (size_t i = 0; i < n && (!max || i < max); i++)
        if (visit(arg, hops[i].pos, hops[i].v.mv_data, hops[i].v.mv_size))
            break;
    reading = NULL;
done:
    if (z)
        msgpack_zone_free(z);
    free(hops);
    crm_log_rd_end(log, txn);
    return err;
}


crm_err
crm_log_proj_get(crm_log *log, const char *proj, size_t db, const void *key,
                 size_t klen, void *out, size_t cap, size_t *len)
{
    int i = crm_proj_index(log->proj, proj);
    if (i < 0 || db >= crm_proj_def_at(log->proj, (size_t)i)->ndbs)
        return CRM_ERR_NOT_FOUND;
    MDB_txn *txn;
    crm_err err = crm_log_rd_begin(log, &txn, NULL);
    if (err != CRM_OK)
        return err;
    MDB_dbi dbi[CRM_PROJ_DBS_MAX];
    MDB_val k = {klen, (void *)key}, v;
    uint64_t at;
    int rc = crm_proj_live(log->proj, txn, (size_t)i, dbi, &at);
    if (rc == 0)
        rc = mdb_get(txn, dbi[db], &k, &v);
    if (rc == 0) {
        *len = v.mv_size;
        memcpy(out, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
    } else {
        err = rc == MDB_NOTFOUND ? CRM_ERR_NOT_FOUND
                                 : crm_mdb_fail(NULL, rc, "projection read");
    }
    crm_log_rd_end(log, txn);
    return err;
}

crm_err
crm_log_proj_read(crm_log *log, const char *proj, crm_log_proj_fn fn,
                  void *arg, crm_error *why)
{
    int i = crm_proj_index(log->proj, proj);
    if (i < 0 || crm_proj_stale(log->proj, (size_t)i))
        return crm_error_set(why, CRM_ERR_UNAVAILABLE,
                             "this server keeps no '%s' projection "
                             "(crmd --projections)", proj);
    MDB_txn *txn;
    crm_err err = crm_log_rd_begin(log, &txn, why);
    if (err != CRM_OK)
        return err;
    MDB_dbi dbi[CRM_PROJ_DBS_MAX];
    uint64_t at;
    int rc = crm_proj_live(log->proj, txn, (size_t)i, dbi, &at);
    if (rc == 0)
        rc = fn(arg, txn, dbi, at);
    if (rc != 0)
        err = crm_mdb_fail(why, rc, "projection read");
    crm_log_rd_end(log, txn);
    return err;
}
