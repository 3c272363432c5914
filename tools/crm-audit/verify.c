/* verify.c - a tenant log checked in chunks of records: the threads first
 * decode and hash an equal run of consecutive slices of a chunk each,
 * check the links between neighbours within a slice, and look the
 * records up in the indexes (each in its own read transaction on the
 * same state); then each follows the streams of its share (by a hash of
 * the stream id) in position order; last the chunk is judged in order
 * (the links at slice edges too), which is where the first bad position
 * is decided. The streams index is checked at the end, its chunks shared
 * out in alternate slices. */
#include "verify.h"

#include <lmdb.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "hash.h"
#include "layout.h"
#include "mdberr.h"
#include "record.h"
#include "sign.h"
#include "heads.h"

#define CHUNK 65536 /* positions verified at a time */
#define SLICE 1024  /* consecutive positions one thread reads */

/* What is wrong with one record, in the order the server checks. */
enum {
    F_NONE,
    F_DECODE,   /* not a well-formed record */
    F_POSITION, /* names another position */
    F_TENANT,   /* names another tenant */
    F_HASH,     /* H is not SHA-256(prev_hash || R) */
    F_SKIP,     /* stream_skip disagrees */
    F_IDS,      /* event_ids disagrees */
};

/* The record at one position of the chunk. */
typedef struct rec {
    MDB_val raw;
    uint64_t key_pos, position, version, stream_prev;
    const char *stream;
    char sid[CRM_AUDIT_HEAD_INLINE]; /* the stream id when that short */
    const uint8_t *hash; /* H, in the map */
    uint8_t prev_hash[CRM_HASH_LEN];
    /* prev_hash is the hash of the record before, checked in its slice
     * while both were in cache (else judge_chunk compares them) */
    uint8_t linked;
    uint32_t stream_hash;
    uint8_t present, stream_len, part, fault, stream_fault;
    const uint8_t *id;                /* looked up in event_ids later */
    uint8_t digest[CRM_DIGEST_LEN];
} rec;

/* What event_ids must say of one record: its id as two big-endian
 * halves, its position and digest, held here so that the lookups in id
 * order touch neither the map nor the chunk's records (out of cache by
 * then) unless one disagrees. */
typedef struct idref {
    uint64_t hi, lo, pos;
    uint8_t digest[CRM_DIGEST_LEN];
    rec *r;
} idref;

typedef struct worker {
    struct vctx *v;
    int t;
    pthread_t th;
    MDB_cursor *cur; /* on the log, in this thread's transaction */
    /* on event_ids: this thread's records of a chunk are looked up in id
     * order, so that a positioned cursor mostly finds the next id on the
     * page it is on instead of descending from the root each time */
    MDB_cursor *ids;
    struct idref *byid;
    crm_audit_heads heads, at_sa, at_ct;
    int snapped_sa, snapped_ct;
    uint64_t nskips, nkeys;
    int nomem;
    int mdb_rc;
    uint64_t decode_pos; /* the first record of this chunk that failed */
    char decode_why[160];
} worker;

typedef struct vctx {
    crm_audit_snap *s;
    int nt;
    rec *recs; /* recs[i]: position lo + i */
    uint64_t lo;
    struct sentry *ents; /* a chunk of the streams index */
    size_t nents;
    worker w[CRM_AUDIT_THREADS_MAX];
    /* the signed checkpoints, met in position order by judge_chunk */
    const uint8_t *pub;
    MDB_cursor *ck;
    int ck_more; /* ck_next holds the next one */
    crm_checkpoint ck_next;
    uint64_t nck;
} vctx;

/* Decodes and hashes r, then looks it up in stream_skip and event_ids. */
static void
check_one(worker *w, rec *r)
{
    crm_audit_snap *s = w->v->s;
    MDB_txn *txn = s->txn[w->t];
    crm_record d;
    crm_error e;

    /* the lean reading: nothing of body or pii is unpacked */
    if (crm_record_decode_lean(r->raw.mv_data, r->raw.mv_size, &d, &e) !=
        CRM_OK) {
        if (e.code == CRM_ERR_NOMEM)
            w->nomem = 1;
        r->fault = F_DECODE;
        if (!w->decode_pos) {
            w->decode_pos = r->key_pos;
            snprintf(w->decode_why, sizeof(w->decode_why), "%.150s", e.msg);
        }
        return;
    }
    if (d.stream_len == 0 || d.stream_len > CRM_STREAM_MAX) {
        r->fault = F_DECODE;
        if (!w->decode_pos) {
            w->decode_pos = r->key_pos;
            snprintf(w->decode_why, sizeof(w->decode_why), "stream id is %s",
                     d.stream_len ? "too long" : "empty");
        }
        return;
    }
    r->position = d.h.position;
    r->version = d.h.version;
    r->stream_prev = d.h.stream_prev;
    r->stream = d.stream;
    r->stream_len = (uint8_t)d.stream_len;
    if (d.stream_len <= CRM_AUDIT_HEAD_INLINE)
        memcpy(r->sid, d.stream, d.stream_len);
    r->hash = d.hash;
    memcpy(r->prev_hash, d.h.prev_hash, CRM_HASH_LEN);
    r->stream_hash = crm_audit_heads_hash(d.stream, d.stream_len);
    r->part = (uint8_t)(r->stream_hash % (uint32_t)w->v->nt);
    if (d.h.position != r->key_pos) {
        r->fault = F_POSITION;
        return;
    }
    if (d.h.tenant_len != s->tenant_len ||
        memcmp(d.h.tenant, s->tenant, s->tenant_len) != 0) {
        r->fault = F_TENANT;
        return;
    }
    /* the record's own prev_hash here; that it is the previous record's
     * hash is checked in order, after the chunk */
    uint8_t h[CRM_HASH_LEN]; /* H = SHA-256(prev_hash || R); no secret */
    crm_sha256_2(d.h.prev_hash, CRM_HASH_LEN, r->raw.mv_data, d.rlen, h);
    if (memcmp(h, d.hash, CRM_HASH_LEN) != 0) {
        r->fault = F_HASH;
        return;
    }
    int rc;
    if (audit_skip_due(d.h.version)) {
        uint8_t kb[AUDIT_SKIPKEY_MAX];
        MDB_val sk = {audit_skip_key(kb, d.stream, d.stream_len, d.h.version),
                      kb},
                sv;
        rc = mdb_get(txn, s->dbi_skip, &sk, &sv);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            w->mdb_rc = rc;
            return;
        }
        if (rc != 0 || sv.mv_size != 8 || audit_be64(sv.mv_data) != r->key_pos) {
            r->fault = F_SKIP;
            return;
        }
        w->nskips++;
    }
    r->id = d.id;
    crm_event_digest_public(d.content, d.content_pub, r->digest);
}

/* Orders x[0..n) by id: a radix sort of the first halves, least
 * significant byte first (tmp holds n more), skipping the bytes where
 * they all agree, so that ids of one chunk (UUIDv7: close in time) take
 * a few passes; then runs with equal first halves by their second. */
static void
sort_ids(idref *x, idref *tmp, size_t n)
{
    uint64_t or_hi = 0, and_hi = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++)
        or_hi |= x[i].hi, and_hi &= x[i].hi;
    idref *src = x, *dst = tmp;
    for (int sh = 0; sh < 64; sh += 8) {
        if ((((or_hi ^ and_hi) >> sh) & 0xff) == 0)
            continue;
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[(src[i].hi >> sh & 0xff) + 1]++;
        for (int c = 0; c < 256; c++)
            count[c + 1] += count[c];
        for (size_t i = 0; i < n; i++)
            dst[count[src[i].hi >> sh & 0xff]++] = src[i];
        idref *t = src;
        src = dst;
        dst = t;
    }
    if (src != x)
        memcpy(x, src, n * sizeof(*x));
    for (size_t i = 1; i < n; i++) {
        idref e = x[i];
        size_t j = i;
        for (; j > 0 && x[j - 1].hi == e.hi && x[j - 1].lo > e.lo; j--)
            x[j] = x[j - 1];
        x[j] = e;
    }
}

/* event_ids for this thread's records of the chunk: each id maps to its
 * position and content digest. A chunk's ids are mostly neighbours in
 * event_ids, so the entry after the last one found is tried first. */
static void
check_ids(worker *w, size_t n)
{
    sort_ids(w->byid, w->byid + CHUNK, n);
    int placed = 0;
    for (size_t i = 0; i < n; i++) {
        const idref *x = &w->byid[i];
        uint8_t id[CRM_ID_LEN];
        audit_put_be64(id, x->hi);
        audit_put_be64(id + 8, x->lo);
        MDB_val ik = {CRM_ID_LEN, id}, iv, nk;
        int rc = MDB_NOTFOUND;
        if (placed &&
            (rc = mdb_cursor_get(w->ids, &nk, &iv, MDB_NEXT)) == 0 &&
            (nk.mv_size != CRM_ID_LEN || memcmp(nk.mv_data, id, CRM_ID_LEN)))
            rc = MDB_NOTFOUND;
        if (rc == MDB_NOTFOUND)
            rc = mdb_cursor_get(w->ids, &ik, &iv, MDB_SET_KEY);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            w->mdb_rc = rc;
            return;
        }
        placed = rc == 0;
        if (rc != 0 || iv.mv_size != AUDIT_IDVAL_LEN ||
            audit_be64(iv.mv_data) != x->pos ||
            memcmp((const uint8_t *)iv.mv_data + 8, x->digest,
                   CRM_DIGEST_LEN) != 0)
            x->r->fault = F_IDS;
    }
}

/* Keeps the heads as they stood at streams_at and ckpt_to once the
 * streams of this share reach past them (at the end: see check_end). */
static int
snap_before(worker *w, uint64_t pos)
{
    crm_audit_snap *s = w->v->s;
    if (!w->snapped_sa && pos > s->streams_at) {
        if (crm_audit_heads_copy(&w->at_sa, &w->heads) != 0)
            return -1;
        w->snapped_sa = 1;
    }
    if (!w->snapped_ct && pos > s->ckpt_to) {
        if (crm_audit_heads_copy(&w->at_ct, &w->heads) != 0)
            return -1;
        w->snapped_ct = 1;
    }
    return 0;
}

/* The streams of this thread's share, in position order: version 0 starts
 * a stream, every later event follows the previous one of its stream
 * with the next version. */
static void
follow_streams(worker *w)
{
    vctx *v = w->v;
    for (size_t i = 0; i < CHUNK && !w->nomem; i++) {
        rec *r = &v->recs[i];
        if (!r->present || r->fault == F_DECODE || r->part != w->t)
            continue;
        int fresh;
        crm_audit_head *h;
        if (snap_before(w, r->key_pos) != 0 ||
            (h = crm_audit_heads_slot(&w->heads,
                                      r->stream_len <= CRM_AUDIT_HEAD_INLINE
                                          ? r->sid
                                          : r->stream,
                                      r->stream_len,
                                      r->stream_hash, &fresh)) == NULL) {
            w->nomem = 1;
            break;
        }
        if (fresh ? (r->version != 0 || r->stream_prev != 0)
                  : (r->version != h->version + 1 ||
                     r->stream_prev != h->position))
            r->stream_fault = 1;
        h->version = r->version;
        h->position = r->key_pos;
    }
}

/* Phase one: this thread's consecutive slices of the chunk's positions
 * (an equal share each), read with its own cursor. Consecutive, because
 * their ids are then mostly neighbours in event_ids too. */
static void *
check_slices(void *arg)
{
    worker *w = arg;
    vctx *v = w->v;
    size_t n = 0, per = (CHUNK / SLICE + (size_t)v->nt - 1) / (size_t)v->nt;
    uint64_t from = v->lo + (uint64_t)w->t * per * SLICE,
             to = v->lo + (uint64_t)(w->t + 1) * per * SLICE;
    if (to > v->lo + CHUNK)
        to = v->lo + CHUNK;
    for (uint64_t a = from; a < to; a += SLICE) {
        uint8_t kb[8];
        audit_put_be64(kb, a);
        MDB_val k = {8, kb}, val;
        const rec *last = NULL; /* the record read before, if hashed */
        int rc;
        for (rc = mdb_cursor_get(w->cur, &k, &val, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(w->cur, &k, &val, MDB_NEXT)) {
            if (k.mv_size != 8)
                continue; /* counted out at the end: not a position */
            uint64_t pos = audit_be64(k.mv_data);
            if (pos >= a + SLICE)
                break;
            rec *r = &v->recs[pos - v->lo];
            memset(r, 0, sizeof(*r));
            r->present = 1;
            r->key_pos = pos;
            r->raw = val;
            /* LMDB fills a leaf from its end down, so a log appended in
             * order keeps the next record in the 1 KiB below this one:
             * asked for now, it is in cache by the time it is decoded
             * (a third faster here) */
            for (int l = 1; l <= 16; l++)
                __builtin_prefetch((const char *)val.mv_data - 64 * l);
            w->nkeys++;
            check_one(w, r);
            if (w->mdb_rc)
                return NULL;
            if (r->fault == F_DECODE || r->fault == F_POSITION ||
                r->fault == F_TENANT || r->fault == F_HASH) {
                last = NULL;
            } else {
                r->linked = last && last->key_pos + 1 == pos &&
                            memcmp(r->prev_hash, last->hash, CRM_HASH_LEN) == 0;
                last = r;
            }
            if (r->fault == F_NONE) {
                idref *x = &w->byid[n++];
                x->hi = audit_be64(r->id);
                x->lo = audit_be64(r->id + 8);
                x->pos = pos;
                memcpy(x->digest, r->digest, CRM_DIGEST_LEN);
                x->r = r;
            }
        }
        if (rc != 0 && rc != MDB_NOTFOUND) {
            w->mdb_rc = rc;
            return NULL;
        }
    }
    check_ids(w, n);
    return NULL;
}

/* Phase two: the streams of this thread's share. */
static void *
check_streams_share(void *arg)
{
    follow_streams(arg);
    return NULL;
}

static void
broken(crm_audit_result *res, uint64_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
broken(crm_audit_result *res, uint64_t pos, const char *fmt, ...)
{
    va_list ap;
    res->broken = 1;
    res->bad_pos = pos;
    va_start(ap, fmt);
    vsnprintf(res->why, sizeof(res->why), fmt, ap);
    va_end(ap);
}

/* fn for every worker, each on its own thread (the first on this one); a
 * share whose thread cannot start is done here, afterwards. */
static void
run_phase(vctx *v, void *(*fn)(void *))
{
    int started[CRM_AUDIT_THREADS_MAX] = {0};
    for (int t = 1; t < v->nt; t++)
        started[t] = pthread_create(&v->w[t].th, NULL, fn, &v->w[t]) == 0;
    fn(&v->w[0]);
    for (int t = 1; t < v->nt; t++) {
        if (started[t])
            pthread_join(v->w[t].th, NULL);
        else
            fn(&v->w[t]);
    }
}

/* Runs the threads over v->recs[0..n). */
static crm_err
run_chunk(vctx *v, crm_error *why)
{
    for (int t = 0; t < v->nt; t++) {
        v->w[t].decode_pos = 0;
        v->w[t].mdb_rc = 0;
    }
    run_phase(v, check_slices);
    run_phase(v, check_streams_share);
    for (int t = 0; t < v->nt; t++) {
        if (v->w[t].nomem)
            return crm_error_set(why, CRM_ERR_NOMEM, NULL);
        if (v->w[t].mdb_rc)
            return crm_mdb_fail(why, v->w[t].mdb_rc, "read index");
    }
    return CRM_OK;
}

/* The next checkpoint into v->ck_next (v->ck_more 0 past the last); 1
 * when one is malformed (res says so). */
static int
ck_advance(vctx *v, MDB_cursor_op op, crm_audit_result *res)
{
    MDB_val k, val;
    v->ck_more = 0;
    if (v->ck == NULL || mdb_cursor_get(v->ck, &k, &val, op) != 0)
        return 0;
    if (k.mv_size != 8 || val.mv_size != AUDIT_CKPTVAL_LEN) {
        broken(res, 0, "the checkpoints database holds a malformed entry");
        return 1;
    }
    const uint8_t *b = val.mv_data;
    v->ck_next.position = audit_be64(k.mv_data);
    v->ck_next.time = (int64_t)audit_be64(b);
    memcpy(v->ck_next.head, b + 8, CRM_HASH_LEN);
    memcpy(v->ck_next.sig, b + 8 + CRM_HASH_LEN, CRM_SIGN_LEN);
    v->ck_more = 1;
    return 0;
}

/* The checkpoint at pos (the chain's hash there is hash), if the next one
 * is there; 1 when it fails. */
static int
ck_check(vctx *v, uint64_t pos, const uint8_t hash[CRM_HASH_LEN],
         crm_audit_result *res)
{
    if (!v->ck_more || v->ck_next.position != pos)
        return 0;
    if (memcmp(v->ck_next.head, hash, CRM_HASH_LEN) != 0) {
        broken(res, pos, "the signed checkpoint at %llu names another head "
                         "than the chain has there",
               (unsigned long long)pos);
        return 1;
    }
    if (!crm_checkpoint_verify(v->pub, v->s->tenant, &v->ck_next)) {
        broken(res, pos, "the checkpoint at %llu is not signed by the "
                         "tenant's key",
               (unsigned long long)pos);
        return 1;
    }
    v->nck++;
    return ck_advance(v, MDB_NEXT, res);
}

static const char *
decode_why(const vctx *v, uint64_t pos)
{
    for (int t = 0; t < v->nt; t++)
        if (v->w[t].decode_pos == pos)
            return v->w[t].decode_why;
    return "record is not well formed";
}

/* The chunk in position order, after the threads: density and links.
 * 1 when a fault decided the verdict. */
static int
judge_chunk(vctx *v, uint64_t last_key, uint64_t *expect,
            uint8_t hash[CRM_HASH_LEN], crm_audit_result *res)
{
    for (size_t i = 0; i < CHUNK; i++) {
        const rec *r = &v->recs[i];
        uint64_t pos = *expect;
        if (pos > last_key)
            break;
        if (!r->present) {
            size_t j = i + 1;
            while (j < CHUNK && !v->recs[j].present)
                j++;
            if (j < CHUNK)
                broken(res, pos, "position %llu is missing (the next record "
                                 "is at %llu)",
                       (unsigned long long)pos,
                       (unsigned long long)v->recs[j].key_pos);
            else
                broken(res, pos, "position %llu is missing",
                       (unsigned long long)pos);
            return 1;
        }
        switch (r->fault) {
        case F_DECODE:
            broken(res, pos, "unreadable record: %s", decode_why(v, pos));
            return 1;
        case F_POSITION:
            broken(res, pos, "the record stored here names position %llu",
                   (unsigned long long)r->position);
            return 1;
        case F_TENANT:
            broken(res, pos, "the record names another tenant");
            return 1;
        case F_HASH:
            broken(res, pos, "the record's hash does not match its content");
            return 1;
        }
        if (!r->linked && memcmp(r->prev_hash, i ? v->recs[i - 1].hash : hash,
                                 CRM_HASH_LEN) != 0) {
            if (pos == 1)
                broken(res, pos, "prev_hash is not the tenant's genesis hash");
            else
                broken(res, pos, "prev_hash is not the hash of position %llu",
                       (unsigned long long)(pos - 1));
            return 1;
        }
        if (r->stream_fault) {
            broken(res, pos, "stream '%.*s' version %llu does not follow the "
                             "stream's previous event",
                   (int)r->stream_len, r->stream, (unsigned long long)r->version);
            return 1;
        }
        if (r->fault == F_SKIP) {
            broken(res, pos, "the stream skip index disagrees");
            return 1;
        }
        if (r->fault == F_IDS) {
            broken(res, pos, "the idempotency index (event_ids) disagrees");
            return 1;
        }
        (*expect)++;
        if (ck_check(v, pos, r->hash, res))
            return 1;
    }
    if (*expect > v->lo) /* the chain's hash so far: the chunk's last */
        memcpy(hash, v->recs[*expect - 1 - v->lo].hash, CRM_HASH_LEN);
    return 0;
}

/* One entry of the streams index, checked by some thread. */
typedef struct sentry {
    MDB_val key;
    uint64_t version, position;
    uint8_t malformed, bad, old; /* old: the stream existed at streams_at */
} sentry;

/* The streams index is current up to streams_at (it is checkpointed):
 * every stream that existed then has an entry, and each entry is its
 * stream's head at streams_at or, while a checkpoint round is under way,
 * at a moment up to ckpt_to (the rule of server/log_verify.c). */
static void
check_entry(worker *w, sentry *e)
{
    vctx *v = w->v;
    crm_audit_snap *s = v->s;
    if (e->malformed) {
        e->bad = 1;
        return;
    }
    uint32_t h = crm_audit_heads_hash(e->key.mv_data, e->key.mv_size);
    const worker *owner = &v->w[h % (uint32_t)v->nt];
    const crm_audit_head *a = crm_audit_heads_get(&owner->at_sa,
                                                  e->key.mv_data,
                                                  e->key.mv_size, h),
                         *c = crm_audit_heads_get(&owner->at_ct,
                                                  e->key.mv_data,
                                                  e->key.mv_size, h);
    uint8_t pb[8];
    audit_put_be64(pb, e->position);
    MDB_val pk = {8, pb}, pv;
    crm_record r;
    e->old = a != NULL;
    e->bad = c == NULL || e->version > c->version ||
             (a && e->version < a->version) ||
             mdb_get(s->txn[w->t], s->dbi_log, &pk, &pv) != 0 ||
             crm_record_decode_lean(pv.mv_data, pv.mv_size, &r, NULL) !=
                 CRM_OK ||
             r.h.version != e->version || r.stream_len != e->key.mv_size ||
             memcmp(r.stream, e->key.mv_data, e->key.mv_size) != 0;
}

/* The entries v->ents[0..nents) in alternate slices. */
static void *
check_entries(void *arg)
{
    worker *w = arg;
    vctx *v = w->v;
    for (size_t lo = (size_t)w->t * SLICE; lo < v->nents;
         lo += (size_t)v->nt * SLICE) {
        size_t hi = lo + SLICE < v->nents ? lo + SLICE : v->nents;
        for (size_t i = lo; i < hi; i++)
            check_entry(w, &v->ents[i]);
    }
    return NULL;
}

static crm_err
check_streams(vctx *v, crm_audit_result *res, crm_error *why)
{
    crm_audit_snap *s = v->s;
    MDB_cursor *cur;
    MDB_val k, val;
    uint64_t nold = 0, nsa = 0;
    int rc = mdb_cursor_open(s->txn[0], s->dbi_streams, &cur);
    if (rc != 0)
        return crm_mdb_fail(why, rc, "read streams index");
    if ((v->ents = malloc(CHUNK * sizeof(sentry))) == NULL) {
        mdb_cursor_close(cur);
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    }
    rc = mdb_cursor_get(cur, &k, &val, MDB_FIRST);
    while (rc == 0 && !res->broken) {
        v->nents = 0;
        for (; rc == 0 && v->nents < CHUNK;
             rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
            sentry *e = &v->ents[v->nents++];
            memset(e, 0, sizeof(*e));
            e->key = k;
            e->malformed = val.mv_size != AUDIT_STREAMVAL_LEN;
            if (!e->malformed) {
                e->version = audit_be64(val.mv_data);
                e->position = audit_be64((const uint8_t *)val.mv_data + 8);
            }
        }
        run_phase(v, check_entries);
        for (size_t i = 0; i < v->nents; i++) {
            const sentry *e = &v->ents[i];
            if (e->bad) {
                int show = (int)(e->key.mv_size < CRM_STREAM_MAX
                                     ? e->key.mv_size
                                     : CRM_STREAM_MAX);
                if (e->malformed)
                    broken(res, 0, "streams index entry '%.*s' is malformed",
                           show, (const char *)e->key.mv_data);
                else
                    broken(res, 0,
                           "streams index entry '%.*s' (version %llu at "
                           "position %llu) disagrees with the log",
                           show, (const char *)e->key.mv_data,
                           (unsigned long long)e->version,
                           (unsigned long long)e->position);
                break;
            }
            nold += e->old;
        }
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND && !res->broken)
        return crm_mdb_fail(why, rc, "read streams index");
    for (int t = 0; t < v->nt; t++)
        nsa += v->w[t].at_sa.count;
    if (!res->broken && nold != nsa)
        broken(res, 0, "the streams index holds %llu of the %llu streams "
                       "the log had at its checkpoint (position %llu)",
               (unsigned long long)nold, (unsigned long long)nsa,
               (unsigned long long)s->streams_at);
    return CRM_OK;
}

/* Position-independent checks once every record verified. */
static crm_err
check_end(vctx *v, uint64_t last, const uint8_t hash[CRM_HASH_LEN],
          crm_audit_result *res, crm_error *why)
{
    crm_audit_snap *s = v->s;
    if (last != s->head_pos) {
        broken(res, (last < s->head_pos ? last : s->head_pos) + 1,
               "meta head says position %llu, the last record is %llu",
               (unsigned long long)s->head_pos, (unsigned long long)last);
        return CRM_OK;
    }
    if (memcmp(hash, s->head_hash, CRM_HASH_LEN) != 0) {
        broken(res, last, "meta head's hash is not the hash of position %llu",
               (unsigned long long)last);
        return CRM_OK;
    }
    for (int t = 0; t < v->nt; t++) {
        worker *w = &v->w[t];
        if ((!w->snapped_sa && crm_audit_heads_copy(&w->at_sa, &w->heads)) ||
            (!w->snapped_ct && crm_audit_heads_copy(&w->at_ct, &w->heads)))
            return crm_error_set(why, CRM_ERR_NOMEM, NULL);
        w->snapped_sa = w->snapped_ct = 1;
    }
    crm_err err = check_streams(v, res, why);
    if (err != CRM_OK || res->broken)
        return err;
    MDB_stat st;
    int rc = mdb_stat(s->txn[0], s->dbi_ids, &st);
    if (rc != 0)
        return crm_mdb_fail(why, rc, "read event_ids");
    if (st.ms_entries != last) {
        broken(res, 0, "the idempotency index holds %llu ids for %llu records",
               (unsigned long long)st.ms_entries, (unsigned long long)last);
        return CRM_OK;
    }
    uint64_t nskips = 0;
    for (int t = 0; t < v->nt; t++)
        nskips += v->w[t].nskips;
    if ((rc = mdb_stat(s->txn[0], s->dbi_skip, &st)) != 0)
        return crm_mdb_fail(why, rc, "read stream_skip");
    if (st.ms_entries != nskips)
        broken(res, 0, "the stream skip index holds %llu entries, the log "
                       "needs %llu",
               (unsigned long long)st.ms_entries, (unsigned long long)nskips);
    return CRM_OK;
}

crm_err
crm_audit_verify(crm_audit_snap *s, const uint8_t *pub, crm_audit_progress *p,
                 crm_audit_result *res, crm_error *why)
{
    vctx *v;
    MDB_cursor *cur = NULL;
    crm_err err = CRM_OK;
    uint8_t hash[CRM_HASH_LEN];
    uint64_t expect = 1;
    int rc;

    memset(res, 0, sizeof(*res));
    if (s->meta_fault[0]) {
        broken(res, 0, "%s", s->meta_fault);
        return CRM_OK;
    }
    if ((v = calloc(1, sizeof(*v))) == NULL ||
        (v->recs = malloc(CHUNK * sizeof(rec))) == NULL) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto done;
    }
    v->s = s;
    v->nt = s->ntxn;
    for (int t = 0; t < v->nt; t++) {
        worker *w = &v->w[t];
        w->v = v;
        w->t = t;
        if ((rc = mdb_cursor_open(s->txn[t], s->dbi_log, &w->cur)) != 0 ||
            (rc = mdb_cursor_open(s->txn[t], s->dbi_ids, &w->ids)) != 0 ||
            (w->byid = malloc(2 * CHUNK * sizeof(*w->byid))) == NULL) {
            err = rc ? crm_mdb_fail(why, rc, "read log")
                     : crm_error_set(why, CRM_ERR_NOMEM, NULL);
            goto done;
        }
    }
    memcpy(hash, s->genesis, CRM_HASH_LEN);
    v->pub = pub ? pub : s->sign_pub;
    if (s->has_ckpts) {
        if ((rc = mdb_cursor_open(s->txn[0], s->dbi_ckpts, &v->ck)) != 0) {
            err = crm_mdb_fail(why, rc, "read checkpoints");
            goto done;
        }
        if (ck_advance(v, MDB_FIRST, res))
            goto done;
        if (v->ck_more && pub == NULL && !s->has_sign_pub) {
            broken(res, 0, "signed checkpoints, but no key to check them "
                           "with (meta sign_pub is missing: give --pubkey)");
            goto done;
        }
        /* one of the empty log signs the genesis */
        if (ck_check(v, 0, hash, res))
            goto done;
    }
    if ((rc = mdb_cursor_open(s->txn[0], s->dbi_log, &cur)) != 0) {
        err = crm_mdb_fail(why, rc, "read log");
        goto done;
    }
    /* the last key that is a position bounds the walk */
    uint64_t last_key = 0;
    MDB_val k, val;
    for (rc = mdb_cursor_get(cur, &k, &val, MDB_LAST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &val, MDB_PREV)) {
        if (k.mv_size == 8) {
            last_key = audit_be64(k.mv_data);
            break;
        }
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        err = crm_mdb_fail(why, rc, "read log");
        goto done;
    }
    for (v->lo = 1; v->lo <= last_key && v->lo != 0; v->lo += CHUNK) {
        for (size_t i = 0; i < CHUNK; i++)
            v->recs[i].present = 0;
        if ((err = run_chunk(v, why)) != CRM_OK)
            goto done;
        if (judge_chunk(v, last_key, &expect, hash, res))
            goto done;
        if (p)
            crm_audit_progress_update(p, expect - 1);
    }
    uint64_t nkeys = 0;
    for (int t = 0; t < v->nt; t++)
        nkeys += v->w[t].nkeys;
    if (nkeys != s->records) {
        broken(res, expect, "the log holds %llu entries whose keys are not "
                            "positions",
               (unsigned long long)(s->records - nkeys));
        goto done;
    }
    res->events = expect - 1;
    if (v->ck_more) {
        broken(res, v->ck_next.position,
               "a signed checkpoint names position %llu, past the last "
               "record (%llu)",
               (unsigned long long)v->ck_next.position,
               (unsigned long long)(expect - 1));
        goto done;
    }
    res->checkpoints = v->nck;
    err = check_end(v, expect - 1, hash, res, why);
    if (err == CRM_OK && !res->broken) {
        res->head_pos = expect - 1;
        memcpy(res->head_hash, hash, CRM_HASH_LEN);
    }
done:
    if (res->broken)
        res->events = expect - 1;
    if (cur)
        mdb_cursor_close(cur);
    if (v && v->ck)
        mdb_cursor_close(v->ck);
    if (v) {
        for (int t = 0; t < v->nt; t++) {
            if (v->w[t].cur)
                mdb_cursor_close(v->w[t].cur);
            if (v->w[t].ids)
                mdb_cursor_close(v->w[t].ids);
            free(v->w[t].byid);
            crm_audit_heads_free(&v->w[t].heads);
            crm_audit_heads_free(&v->w[t].at_sa);
            crm_audit_heads_free(&v->w[t].at_ct);
        }
        free(v->recs);
        free(v->ents);
        free(v);
    }
    return err;
}
