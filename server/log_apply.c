/*
 * log_apply.c - what the writer does with one batch inside a group's
 * write transaction, in three steps:
 *
 *   check   the batch's streams, expected versions, idempotent ids and the
 *           command's own check (batch.h): nothing is put until all pass,
 *           so a refused batch writes nothing;
 *   seal    each new event becomes a stored record at the next position,
 *           chained to the one before (prev_hash, hash);
 *   index   each stored record updates the indexes kept from records
 *           (event_ids, stream_skip, stream heads): index_record, the one
 *           path a rebuild or a replica takes too.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_int.h"
#include "mdberr.h"

/* The smallest msgpack bin header for n bytes; its length. */
static size_t
pack_bin_header(uint8_t out[5], size_t n)
{
    if (n <= 0xff) {
        out[0] = 0xc4;
        out[1] = (uint8_t)n;
        return 2;
    }
    if (n <= 0xffff) {
        out[0] = 0xc5;
        out[1] = (uint8_t)(n >> 8);
        out[2] = (uint8_t)n;
        return 3;
    }
    out[0] = 0xc6;
    for (int i = 0; i < 4; i++)
        out[1 + i] = (uint8_t)(n >> (24 - 8 * i));
    return 5;
}

/* The writer's cache slot of stream sid (NULL without a cache), and
 * whether it holds sid's key. */
static skey_slot *
skey_slot_of(crm_log *log, const char *sid, size_t len)
{
    if (log->skeys == NULL)
        return NULL;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)sid[i]) * 1099511628211ull;
    return &log->skeys[h & (log->skey_slots - 1)];
}

static int
skey_cached(const crm_log *log, const skey_slot *sl, const char *sid,
            size_t len)
{
    return sl && sl->gen == log->skey_gen && sl->len == len &&
           memcmp(sl->id, sid, len) == 0;
}

/* The subject key of stream sid for sealing, made when the guest has
 * none: from the writer's cache, else from subject_keys (and then kept in
 * the cache). 0 or an LMDB error. */
/* The cache sized for the guests with a key, once it has missed as many
 * times as it has slots: twice their number, SKEY_MIN..SKEY_MAX slots.
 * A new size starts empty (the old slots wiped). 0, or -1 without
 * memory for the first one. */
static int
skey_size(crm_log *log, MDB_txn *txn)
{
    size_t want = SKEY_MIN;
    MDB_stat st;
    if (log->skeys &&
        (log->skey_misses < log->skey_slots || log->skey_slots >= SKEY_MAX ||
         mdb_stat(txn, log->dbi_subjects, &st) != 0))
        return 0;
    log->skey_misses = 0;
    if (log->skeys) {
        while (want < SKEY_MAX && want < 2 * st.ms_entries)
            want *= 2;
        if (want <= log->skey_slots)
            return 0;
    }
    skey_slot *n = calloc(want, sizeof(*n));
    if (n == NULL)
        return log->skeys ? 0 : -1;
    if (log->skeys) {
        crm_wipe(log->skeys, log->skey_slots * sizeof(*log->skeys));
        free(log->skeys);
    }
    log->skeys = n;
    log->skey_slots = want;
    return 0;
}

/* The subject key of stream sid for sealing, made when the guest has
 * none: from the writer's cache, else from subject_keys (and then kept in
 * the cache). 0 or an LMDB error. */
static int
writer_subject_key(crm_log *log, MDB_txn *txn, const char *sid, size_t len,
                   uint8_t key[CRM_KEY_LEN])
{
    if (skey_size(log, txn) != 0)
        return crm_vault_subject_key(log->vault, txn, log->dbi_subjects, sid,
                                     len, 1, key);
    skey_slot *sl = skey_slot_of(log, sid, len);
    if (skey_cached(log, sl, sid, len)) {
        memcpy(key, sl->key, CRM_KEY_LEN);
        return 0;
    }
    log->skey_misses++;
    int rc = crm_vault_subject_key(log->vault, txn, log->dbi_subjects, sid,
                                   len, 1, key);
    if (rc == 0) {
        sl->gen = log->skey_gen;
        sl->len = (uint8_t)len;
        memcpy(sl->id, sid, len);
        memcpy(sl->key, key, CRM_KEY_LEN);
    }
    return rc;
}

/* Refusal of one batch by a check: recorded in the batch, nothing put. */
static int refuse(crm_batch *b, crm_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
refuse(crm_batch *b, crm_err code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    b->why.code = code;
    vsnprintf(b->why.msg, sizeof(b->why.msg), fmt, ap);
    va_end(ap);
    return 0;
}

/* The stored record at pos whose public part has e's digest: its
 * version (an idempotent retry's answer), and whether its personal part
 * is e's too (*same), opened to compare when sealed. A guest erased since
 * has none left to compare: a retry then counts as the same event. */
static int
stored_same(crm_log *log, MDB_txn *txn, uint64_t pos, const uint8_t *content,
            const bevent *e, uint64_t *version, int *same)
{
    uint8_t kb[8];
    put_be64(kb, pos);
    MDB_val k = {8, kb}, v;
    int rc = mdb_get(txn, log->dbi_log, &k, &v);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
    crm_record r;
    msgpack_zone_clear(log->wzone);
    if (crm_record_decode(v.mv_data, v.mv_size, log->wzone, &r, NULL) != CRM_OK)
        return MDB_CORRUPTED;
    *version = r.h.version;
    const uint8_t *pii;
    size_t n;
    rc = crm_log_pii_bytes(log, txn, &r, log->wzone, &pii, &n);
    if (rc == MDB_NOTFOUND) {
        *same = 1;
        return 0;
    }
    if (rc != 0)
        return rc;
    const uint8_t *mine = content + e->off + e->pii_at;
    size_t mlen = e->len - e->pii_at;
    *same = n == mlen && memcmp(pii, mine, n) == 0;
    return 0;
}

/* Whether canonical content c (event.h: id, stream, type, ...) is a
 * customer.erased. */
static int
is_erasure(const uint8_t *c, size_t len)
{
    size_t at = 2 + CRM_ID_LEN, n = 0;
    for (int field = 0; field < 2; field++) {
        if (at >= len)
            return 0;
        uint8_t t = c[at];
        size_t hl = (t & 0xe0) == 0xa0 ? 1 : t == 0xd9 ? 2 : t == 0xda ? 3 : 0;
        if (hl == 0 || at + hl > len)
            return 0;
        n = hl == 1 ? (size_t)(t & 0x1f)
            : hl == 2 ? c[at + 1]
                      : (size_t)c[at + 1] << 8 | c[at + 2];
        if (field == 0)
            at += hl + n; /* the stream */
        else
            at += hl;
    }
    static const char type[] = "customer.erased";
    return n == sizeof(type) - 1 && at + n <= len &&
           memcmp(c + at, type, n) == 0;
}

/* Personal data for a guest already erased is refused: the guest's key
 * is gone, and a new one would begin a second, unerased life of the
 * same subject. Only a stream whose key is not in the writer's cache
 * (a cached key means the guest is not erased) costs a lookup. 0 with
 * b->why set when refused, or an LMDB error. */
static int
check_erased(crm_log *log, MDB_txn *txn, crm_batch *b)
{
    const uint8_t *content = (const uint8_t *)b->content.data;
    /* the batch's first erasure: only events after it can follow one of
     * their own batch (a batch without one pays no pass per event) */
    size_t first = b->n;
    for (size_t i = 0; i < b->n && first == b->n; i++)
        if (!b->ev[i].dup && is_erasure(content + b->ev[i].off, b->ev[i].len))
            first = i;
    for (size_t i = 0; i < b->n; i++) {
        const bevent *e = &b->ev[i];
        if (e->dup || e->len - e->pii_at <= 1) /* nil: nothing personal */
            continue;
        const bgroup *gr = &b->groups[e->group];
        const char *sid = (const char *)batch_stream(b, gr);
        if (skey_cached(log, skey_slot_of(log, sid, gr->len), sid, gr->len))
            continue;
        int erased = crm_log_erased(log, txn, sid, gr->len);
        if (erased < 0)
            return -erased;
        for (size_t j = first; j < i && !erased; j++)
            erased = b->ev[j].group == e->group && !b->ev[j].dup &&
                     is_erasure(content + b->ev[j].off, b->ev[j].len);
        if (erased)
            return refuse(b, CRM_ERR_CONFLICT,
                          "event %zu: guest '%.*s' is erased; no personal "
                          "data can be added to it",
                          i, (int)gr->len, sid);
    }
    return 0;
}

static const char *
expect_text(int64_t e, char *buf, size_t len)
{
    if (e == CRM_EXPECT_NO_STREAM)
        return "no_stream";
    if (e == CRM_EXPECT_EXISTS)
        return "stream_exists";
    snprintf(buf, len, "%lld", (long long)e);
    return buf;
}

/* Looks every id of b up: a stored id with the same content makes the
 * event a duplicate, with other content refuses the batch. */
static int
lookup_ids(crm_log *log, MDB_txn *txn, crm_batch *b)
{
    const uint8_t *content = (const uint8_t *)b->content.data;
    int rc;
    for (size_t i = 0; i < b->n; i++) {
        bevent *e = &b->ev[i];
        MDB_val k = {CRM_ID_LEN, (void *)(content + e->off + 2)}, v;
        e->dup = 0;
        rc = mdb_get(txn, log->dbi_ids, &k, &v);
        if (rc == MDB_NOTFOUND) {
            log->wg[e->group].has_new = 1;
            continue;
        }
        if (rc != 0)
            return rc;
        if (v.mv_size != IDVAL_LEN)
            return MDB_CORRUPTED;
        e->position = get_be64(v.mv_data);
        int same = memcmp((const uint8_t *)v.mv_data + 8, e->digest,
                          CRM_DIGEST_LEN) == 0;
        if (same && (rc = stored_same(log, txn, e->position, content, e,
                                      &e->version, &same)) != 0)
            return rc;
        if (!same)
            return refuse(b, CRM_ERR_CONFLICT,
                          "event %zu: id already used by a different event "
                          "at position %llu",
                          i, (unsigned long long)e->position);
        e->dup = 1;
    }

    return 0;
}

/* Checks the expected versions of the streams that get new events; 1 if
 * they hold, else 0 with b->why set. */
static int
check_expect(crm_log *log, crm_batch *b)
{
    for (size_t g = 0; g < b->ngroups; g++) {
        const bgroup *gr = &b->groups[g];
        const wgroup *w = &log->wg[g];
        char eb[24];
        int ok = 1;
        if (!w->has_new || gr->expect == CRM_EXPECT_ANY)
            continue;
        if (gr->expect == CRM_EXPECT_NO_STREAM)
            ok = !w->exists;
        else if (gr->expect == CRM_EXPECT_EXISTS)
            ok = w->exists;
        else
            ok = w->exists && w->version == (uint64_t)gr->expect;
        if (!ok) {
            if (w->exists) {
                refuse(b, CRM_ERR_CONFLICT,
                       "stream '%.*s' is at version %llu, expected %s",
                       (int)gr->len, batch_stream(b, gr),
                       (unsigned long long)w->version,
                       expect_text(gr->expect, eb, sizeof(eb)));
                return 0;
            }
            refuse(b, CRM_ERR_CONFLICT,
                   "stream '%.*s' does not exist, expected %s", (int)gr->len,
                   batch_stream(b, gr),
                   expect_text(gr->expect, eb, sizeof(eb)));
            return 0;
        }
    }

    return 1;
}

/* The head of a stream as this transaction stands: this group's heads,
 * then the overlay (both change only on the writer thread, so no lock),
 * then the streams index. Returns 0 (*exists says whether it has events)
 * or an LMDB error. */
static int
stream_head(crm_log *log, MDB_txn *txn, const char *sid, size_t len,
            int *exists, uint64_t *version, uint64_t *last_pos)
{
    const crm_shead *h = crm_scache_get(log->pending, sid, len);
    if (h == NULL)
        h = crm_scache_get(log->overlay, sid, len);
    if (h != NULL) {
        *exists = 1;
        *version = h->version;
        *last_pos = h->position;
        return 0;
    }
    MDB_val k = {len, (void *)sid}, v;
    int rc = mdb_get(txn, log->dbi_streams, &k, &v);
    *exists = 0;
    *version = *last_pos = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (v.mv_size != STREAMVAL_LEN)
        return MDB_CORRUPTED;
    *exists = 1;
    *version = get_be64(v.mv_data);
    *last_pos = get_be64((const uint8_t *)v.mv_data + 8);
    return 0;
}

struct crm_log_view {
    crm_log *log;
    MDB_txn *txn;
};

crm_err
crm_log_view_stream(const crm_log_view *v, const char *stream, size_t len,
                    uint64_t *version)
{
    int exists;
    uint64_t pos;
    int rc = stream_head(v->log, v->txn, stream, len, &exists, version, &pos);
    if (rc != 0)
        return crm_mdb_fail(NULL, rc, "stream lookup");
    return exists ? CRM_OK : CRM_ERR_NOT_FOUND;
}

struct MDB_txn *
crm_log_view_txn(const crm_log_view *v)
{
    return v->txn;
}

/* A refusal a retry would explain is decided on what is stored: the
 * batch's ids are looked up after all (careful) and its expectations
 * checked again. 0 or an LMDB error; b->why set when refused. */
static int
recheck_careful(crm_log *log, MDB_txn *txn, crm_batch *b)
{
    b->careful = 1;
    b->why.code = CRM_OK;
    b->why.msg[0] = '\0';
    for (size_t g = 0; g < b->ngroups; g++)
        log->wg[g].has_new = 0;
    int rc = lookup_ids(log, txn, b);
    if (rc == 0 && b->why.code == CRM_OK)
        check_expect(log, b);
    return rc;
}

/* The check step: 0 with b->why.code CRM_OK when the batch may be
 * written, 0 with b->why set when it is refused, or an LMDB error. */
static int
check_batch(crm_log *log, MDB_txn *txn, crm_batch *b)
{
    int rc;
    if (b->ngroups > log->wg_cap) {
        wgroup *w = realloc(log->wg, b->ngroups * sizeof(*w));
        if (w == NULL)
            return ENOMEM;
        log->wg = w;
        log->wg_cap = b->ngroups;
    }
    for (size_t g = 0; g < b->ngroups; g++) {
        const bgroup *gr = &b->groups[g];
        wgroup *w = &log->wg[g];
        w->has_new = 0;
        if ((rc = stream_head(log, txn, (const char *)batch_stream(b, gr),
                              gr->len, &w->exists, &w->version,
                              &w->last_pos)) != 0)
            return rc;
    }

    /* Idempotency. Ids are new almost always, so by default the puts
     * in index_record use MDB_NOOVERWRITE and an id already stored turns
     * up as MDB_KEYEXIST, which redoes the group with this batch looked up
     * first (careful). A refused expectation is also looked at carefully
     * before it stands: a retried batch answers with its first
     * positions. */
    /* A command's check must know which of its events are a retry (it
     * answers those as before), so its ids are looked up first. */
    if (b->check && !b->careful)
        b->careful = 1;
    if (b->careful) {
        if ((rc = lookup_ids(log, txn, b)) != 0 || b->why.code != CRM_OK)
            return rc;
    } else {
        for (size_t i = 0; i < b->n; i++) {
            b->ev[i].dup = 0;
            log->wg[b->ev[i].group].has_new = 1;
        }
    }
    if (!check_expect(log, b) && !b->careful &&
        (rc = recheck_careful(log, txn, b)) != 0)
        return rc;
    if (b->why.code != CRM_OK)
        return 0;
    if (log->vault != NULL) {
        if ((rc = check_erased(log, txn, b)) != 0)
            return rc;
        /* events stored before the erasure, sent again, are no new
         * personal data: decided on what is stored */
        if (b->why.code != CRM_OK && !b->careful &&
            ((rc = recheck_careful(log, txn, b)) != 0 ||
             b->why.code != CRM_OK || (rc = check_erased(log, txn, b)) != 0))
            return rc;
        if (b->why.code != CRM_OK)
            return 0;
    }
    if (b->check == NULL)
        return 0;

    /* The command's own check sees this transaction, earlier batches of
     * the group included. A retry whose events are all stored already
     * answers as before, without asking again. */
    size_t fresh = 0;
    for (size_t i = 0; i < b->n; i++)
        fresh += !b->ev[i].dup;
    if (fresh == 0)
        return 0;
    crm_log_view view = {log, txn};
    crm_error e = {0};
    crm_err err = b->check(b->check_arg, &view, b, &e);
    if (err != CRM_OK) {
        b->why = e;
        b->why.code = err;
        if (b->why.msg[0] == '\0')
            snprintf(b->why.msg, sizeof(b->why.msg), "%s", crm_strerror(err));
    }
    return 0;
}

int
crm_log_index_record(crm_log *log, MDB_txn *txn, const crm_stored *s,
                     int careful)
{
    uint8_t kb[8], ib[IDVAL_LEN];
    put_be64(kb, s->position);
    put_be64(ib, s->position);
    if (s->digest)
        memcpy(ib + 8, s->digest, CRM_DIGEST_LEN);
    else
        crm_event_digest(s->content, s->content_len, ib + 8);
    MDB_val ik = {CRM_ID_LEN, (void *)s->id}, iv = {IDVAL_LEN, ib};
    int rc = mdb_put(txn, log->dbi_ids, &ik, &iv, careful ? 0 : MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return LOG_REDO;
    if (rc != 0)
        return rc;
    if (skip_due(s->version)) {
        uint8_t skb[SKIPKEY_MAX];
        MDB_val sk = {skip_key(skb, s->stream, s->stream_len, s->version), skb},
                sv = {8, kb};
        if ((rc = mdb_put(txn, log->dbi_skip, &sk, &sv, 0)) != 0)
            return rc;
    }
    if (crm_scache_put(log->pending, s->stream, s->stream_len, s->version,
                       s->position) != 0)
        return ENOMEM;
    return 0;
}

int
crm_log_apply_batch(crm_log *log, MDB_txn *txn, crm_batch *b, uint64_t *pos,
                    uint8_t hash[CRM_HASH_LEN], int64_t now)
{
    const uint8_t *content = (const uint8_t *)b->content.data;
    int rc;

    b->why.code = CRM_OK;
    b->why.msg[0] = '\0';
    if ((rc = check_batch(log, txn, b)) != 0 || b->why.code != CRM_OK)
        return rc;

    /* Every check passed: from here on only LMDB itself can fail, and that
     * aborts the whole transaction, so a batch is never half-written. */
    uint8_t hbuf[CRM_RECORD_HDR_MAX];
    crm_record_hdr h = {.tenant = log->tenant,
                        .tenant_len = log->tenant_len,
                        .recorded_at = now,
                        .actor = b->actor,
                        .actor_len = b->actor_len};
    for (size_t i = 0; i < b->n; i++) {
        bevent *e = &b->ev[i];
        if (e->dup)
            continue;
        const bgroup *gr = &b->groups[e->group];
        wgroup *w = &log->wg[e->group];
        h.position = *pos + 1;
        h.version = w->exists ? w->version + 1 : 0;
        h.stream_prev = w->exists ? w->last_pos : 0;
        memcpy(h.prev_hash, hash, CRM_HASH_LEN);
        size_t hlen = crm_record_hdr_encode(&h, hbuf);

        /* seal: the personal part under the guest's key (made on the
         * guest's first), then the record into the chain */
        const uint8_t *c = content + e->off;
        const char *sid = (const char *)batch_stream(b, gr);
        size_t pub = e->pii_at, plen = e->len - pub, clen = e->len;
        int seal = log->vault != NULL && plen > 1; /* not nil */
        uint8_t skey[CRM_KEY_LEN], binh[5];
        size_t bh = 0;
        if (seal) {
            if ((rc = writer_subject_key(log, txn, sid, gr->len, skey)) != 0)
                return rc;
            bh = pack_bin_header(binh, plen + CRM_SEAL_OVERHEAD);
            clen = pub + bh + plen + CRM_SEAL_OVERHEAD;
        }
        uint8_t kb[8];
        put_be64(kb, h.position);
        MDB_val k = {8, kb}, v = {hlen + clen + CRM_RECORD_TRAILER, NULL};
        if ((rc = mdb_put(txn, log->dbi_log, &k, &v,
                          MDB_APPEND | MDB_RESERVE)) != 0) {
            crm_wipe(skey, sizeof(skey));
            return rc;
        }
        uint8_t *dst = v.mv_data;
        memcpy(dst, hbuf, hlen);
        if (seal) {
            memcpy(dst + hlen, c, pub);
            memcpy(dst + hlen + pub, binh, bh);
            rc = crm_vault_seal_pii(log->vault, skey, sid, gr->len, c + 2,
                                    c + pub, plen, dst + hlen + pub + bh);
            crm_wipe(skey, sizeof(skey));
            if (rc != 0)
                return EIO;
        } else {
            memcpy(dst + hlen, c, e->len);
        }
        uint8_t next[CRM_HASH_LEN];
        crm_record_seal(dst, hlen + clen, hash, next);
        memcpy(hash, next, CRM_HASH_LEN);

        /* index */
        crm_stored s = {.position = h.position,
                        .version = h.version,
                        .id = c + 2,
                        .stream = sid,
                        .stream_len = gr->len,
                        .content = c,
                        .content_len = e->len,
                        .digest = e->digest};
        if ((rc = crm_log_index_record(log, txn, &s, b->careful)) != 0) {
            if (rc == LOG_REDO)
                b->careful = 1;
            return rc;
        }
        if (log->vault != NULL && is_erasure(c, e->len)) {
            /* the guest's key goes in this transaction (log_erase.c) */
            if ((rc = crm_log_erase_record(log, txn, sid, gr->len,
                                           h.position, h.version, now)) != 0)
                return rc;
            skey_slot *sl = skey_slot_of(log, sid, gr->len);
            if (sl)
                crm_wipe(sl, sizeof(*sl));
        }
        if (crm_proj_count(log->proj) > 0) {
            /* the projections see the record exactly as a rebuild will */
            crm_record r;
            msgpack_zone_clear(log->wzone);
            if (crm_record_decode(dst, v.mv_size, log->wzone, &r, NULL) !=
                CRM_OK)
                return MDB_CORRUPTED;
            size_t off = 0;
            if (seal && msgpack_unpack((const char *)c + pub, plen, &off,
                                       log->wzone, &r.pii) !=
                            MSGPACK_UNPACK_SUCCESS)
                return MDB_CORRUPTED;
            if ((rc = crm_proj_apply(log->proj, txn, &r)) != 0)
                return rc;
        }

        *pos = h.position;
        e->position = h.position;
        e->version = h.version;
        w->exists = 1;
        w->version = h.version;
        w->last_pos = h.position;
    }
    return 0;
}
