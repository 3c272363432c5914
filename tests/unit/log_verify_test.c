/* log_verify_test.c - crm_log_verify against logs damaged with raw LMDB:
 * records flipped, deleted, swapped and re-chained, every index pointing
 * wrong, the meta head and checkpoint disagreeing. Each fault must be
 * named with the right position (0 for an index), or refused by
 * crm_log_open itself; an intact log must verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include "log.h"
#include "record.h"

#define TENANT "verify-hotels"
#define NSTREAMS 5
#define NEVENTS 50
#define LONG_EVENTS 130 /* one stream: versions 63 and 127 are skip points */
#define SKIP_EVERY 64   /* as log_int.h */
#define MAXREC 4096

/* What the intact log holds at each position. */
typedef struct rec {
    uint8_t id[CRM_ID_LEN];
    char stream[32];
    uint64_t version;
} rec;

typedef struct ctx {
    char dir[512];
    crm_log *log;
    uint64_t head;
    rec at[LONG_EVENTS + 1]; /* by position */
} ctx;

static ctx the_ctx;

static int
note_visit(void *arg, uint64_t position, const uint8_t *buf, size_t len)
{
    ctx *c = arg;
    msgpack_zone *z = msgpack_zone_new(1024);
    crm_record r;
    if (position > LONG_EVENTS ||
        crm_record_decode(buf, len, z, &r, NULL) != CRM_OK ||
        r.stream_len >= sizeof(c->at[0].stream))
        abort();
    memcpy(c->at[position].id, r.id, CRM_ID_LEN);
    snprintf(c->at[position].stream, sizeof(c->at[0].stream), "%.*s",
             (int)r.stream_len, r.stream);
    c->at[position].version = r.h.version;
    msgpack_zone_free(z);
    return 0;
}

/* Builds a log of n events in batches of 10 over the streams nstreams
 * names, then closes it (which checkpoints every stream head). */
static int
build(void **state, int n, int nstreams)
{
    ctx *c = &the_ctx;
    crm_error why;
    memset(c, 0, sizeof(*c));
    fx_tmpdir(c->dir, sizeof(c->dir), "verify");
    if (crm_log_open(c->dir, TENANT, NULL, &c->log, &why) != CRM_OK) {
        fprintf(stderr, "open: %s\n", why.msg);
        return -1;
    }
    static char streams[NSTREAMS][16];
    for (int s = 0; s < NSTREAMS; s++)
        snprintf(streams[s], sizeof(streams[s]), "guest-%d", s);
    for (int i = 0; i < n; i += 10) {
        crm_event_in ev[10];
        crm_batch *b;
        for (int k = 0; k < 10; k++)
            fx_event(&ev[k], streams[(i + k) * 3 % nstreams], "spend.recorded",
                     FX_BODY(FX_I("amount", 100 + i + k),
                             FX_S("currency", "EUR"), FX_S("category", "spa")));
        if (crm_batch_prepare(ev, 10, NULL, 0, "key-v", 5, &b, &why) !=
                CRM_OK ||
            crm_log_append(c->log, b, &why) != CRM_OK) {
            fprintf(stderr, "append: %s\n", why.msg);
            return -1;
        }
        crm_batch_free(b);
        fx_reset();
    }
    crm_log_head(c->log, &c->head, NULL);
    if (c->head != (uint64_t)n ||
        crm_log_read_all(c->log, 1, 0, note_visit, c) != CRM_OK)
        return -1;
    crm_log_close(c->log);
    c->log = NULL;
    *state = c;
    return 0;
}

static int
setup(void **state)
{
    return build(state, NEVENTS, NSTREAMS);
}

static int
setup_long(void **state)
{
    return build(state, LONG_EVENTS, 1);
}

static int
teardown(void **state)
{
    ctx *c = *state;
    crm_log_close(c->log);
    c->log = NULL;
    fx_rmrf(c->dir);
    fx_reset();
    return 0;
}

/* --- raw LMDB ------------------------------------------------------------- */

typedef struct raw {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi log, streams, ids, meta;
} raw;

static void
be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t
be64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void
raw_begin(raw *r, const ctx *c)
{
    assert_int_equal(mdb_env_create(&r->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(r->env, 32), 0);
    assert_int_equal(mdb_env_open(r->env, c->dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
    assert_int_equal(mdb_dbi_open(r->txn, "log", 0, &r->log), 0);
    assert_int_equal(mdb_dbi_open(r->txn, "streams", 0, &r->streams), 0);
    assert_int_equal(mdb_dbi_open(r->txn, "event_ids", 0, &r->ids), 0);
    assert_int_equal(mdb_dbi_open(r->txn, "meta", 0, &r->meta), 0);
}

static void
raw_commit(raw *r)
{
    assert_int_equal(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
}

/* Copies the record at pos into buf; returns its length. */
static size_t
raw_get_record(raw *r, uint64_t pos, uint8_t buf[MAXREC])
{
    uint8_t kb[8];
    be64_put(kb, pos);
    MDB_val k = {8, kb}, v;
    assert_int_equal(mdb_get(r->txn, r->log, &k, &v), 0);
    assert_true(v.mv_size <= MAXREC);
    memcpy(buf, v.mv_data, v.mv_size);
    return v.mv_size;
}

static void
raw_put_record(raw *r, uint64_t pos, const uint8_t *buf, size_t len)
{
    uint8_t kb[8];
    be64_put(kb, pos);
    MDB_val k = {8, kb}, v = {len, (void *)buf};
    assert_int_equal(mdb_put(r->txn, r->log, &k, &v, 0), 0);
}

static void
raw_del(raw *r, MDB_dbi dbi, const void *key, size_t len)
{
    MDB_val k = {len, (void *)key};
    assert_int_equal(mdb_del(r->txn, dbi, &k, NULL), 0);
}

static void
raw_put(raw *r, MDB_dbi dbi, const void *key, size_t klen, const void *val,
        size_t vlen)
{
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    assert_int_equal(mdb_put(r->txn, dbi, &k, &v, 0), 0);
}

/* Copies the value of key into out (at most cap bytes); returns its
 * length. */
static size_t
raw_get(raw *r, MDB_dbi dbi, const void *key, size_t klen, void *out,
        size_t cap)
{
    MDB_val k = {klen, (void *)key}, v;
    assert_int_equal(mdb_get(r->txn, dbi, &k, &v), 0);
    assert_true(v.mv_size <= cap);
    memcpy(out, v.mv_data, v.mv_size);
    return v.mv_size;
}

/* The streams index is current up to streams_at; a checkpoint round
 * under way writes heads as of ckpt_to. */
static void
raw_set_ckpt(raw *r, uint64_t streams_at, uint64_t ckpt_to)
{
    uint8_t v[8];
    be64_put(v, streams_at);
    raw_put(r, r->meta, "streams_at", 10, v, 8);
    be64_put(v, ckpt_to);
    raw_put(r, r->meta, "ckpt_to", 7, v, 8);
}

/* The streams index entry of stream s for its head as of position at. */
static void
raw_put_head_at(raw *r, const ctx *c, const char *s, uint64_t at)
{
    uint8_t sv[16];
    uint64_t p = at;
    while (p > 0 && strcmp(c->at[p].stream, s) != 0)
        p--;
    assert_true(p > 0);
    be64_put(sv, c->at[p].version);
    be64_put(sv + 8, p);
    raw_put(r, r->streams, s, strlen(s), sv, sizeof(sv));
}

typedef void (*hdr_edit)(crm_record_hdr *h);

/* Rewrites the records from `from` to head with a fresh hash chain, so
 * that whatever edit changes in the header at `from` is the only fault;
 * the meta head follows the new chain. */
static void
reseal(raw *r, uint64_t from, uint64_t head, hdr_edit edit)
{
    uint8_t hash[CRM_HASH_LEN];
    msgpack_zone *z = msgpack_zone_new(4096);
    assert_non_null(z);
    for (uint64_t pos = from; pos <= head; pos++) {
        uint8_t buf[MAXREC], out[MAXREC];
        size_t len = raw_get_record(r, pos, buf);
        crm_record rr;
        msgpack_zone_clear(z);
        assert_int_equal(crm_record_decode(buf, len, z, &rr, NULL), CRM_OK);
        crm_record_hdr h = rr.h;
        if (pos == from)
            memcpy(hash, h.prev_hash, CRM_HASH_LEN);
        memcpy(h.prev_hash, hash, CRM_HASH_LEN);
        if (pos == from && edit)
            edit(&h);
        size_t hlen = crm_record_hdr_encode(&h, out);
        assert_true(hlen > 0);
        assert_true(hlen + rr.content_len + CRM_RECORD_TRAILER <= MAXREC);
        memcpy(out + hlen, rr.content, rr.content_len);
        crm_record_seal(out, hlen + rr.content_len, hash, hash);
        raw_put_record(r, pos, out, hlen + rr.content_len + CRM_RECORD_TRAILER);
    }
    uint8_t hv[8 + CRM_HASH_LEN + 8];
    assert_int_equal(raw_get(r, r->meta, "head", 4, hv, sizeof(hv)),
                     sizeof(hv));
    assert_int_equal(be64_get(hv), head);
    memcpy(hv + 8, hash, CRM_HASH_LEN);
    raw_put(r, r->meta, "head", 4, hv, sizeof(hv));
    msgpack_zone_free(z);
}

/* --- outcomes ------------------------------------------------------------- */

/* Reopens the damaged log: crm_log_verify must refuse it at want (0 for
 * an index fault) with a message holding msg. */
static void
expect_verify_fails(ctx *c, uint64_t want, const char *msg)
{
    crm_error why = {0};
    uint64_t bad = UINT64_MAX;
    if (crm_log_open(c->dir, TENANT, NULL, &c->log, &why) != CRM_OK)
        fail_msg("crm_log_open refused the log: %s", why.msg);
    assert_int_equal(crm_log_verify(c->log, &bad, &why), CRM_ERR_CORRUPT);
    assert_int_equal(why.code, CRM_ERR_CORRUPT);
    if (bad != want || strstr(why.msg, msg) == NULL)
        fail_msg("verify: bad position %llu (want %llu): '%s' (want '%s')",
                 (unsigned long long)bad, (unsigned long long)want, why.msg,
                 msg);
    /* the optional outputs are optional */
    assert_int_equal(crm_log_verify(c->log, NULL, NULL), CRM_ERR_CORRUPT);
}

/* Reopens the damaged log: crm_log_open must refuse it. */
static void
expect_open_refuses(ctx *c, const char *msg)
{
    crm_error why = {0};
    crm_log *log = (crm_log *)&why;
    assert_int_equal(crm_log_open(c->dir, TENANT, NULL, &log, &why),
                     CRM_ERR_CORRUPT);
    assert_null(log);
    if (strstr(why.msg, msg) == NULL)
        fail_msg("open: '%s' (want '%s')", why.msg, msg);
}

/* A position of stream s whose version is at least min_version. */
static uint64_t
position_of(const ctx *c, const char *s, uint64_t min_version)
{
    for (uint64_t p = 1; p <= c->head; p++)
        if (strcmp(c->at[p].stream, s) == 0 && c->at[p].version >= min_version)
            return p;
    fail_msg("no event of %s at version %llu", s,
             (unsigned long long)min_version);
    return 0;
}

/* The first place of needle in hay, or NULL. */
static uint8_t *
find_bytes(uint8_t *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

/* --- the intact log ------------------------------------------------------- */

static void
test_intact_log_verifies(void **state)
{
    ctx *c = *state;
    crm_error why = {0};
    uint64_t bad = 99;
    assert_int_equal(crm_log_open(c->dir, TENANT, NULL, &c->log, &why), CRM_OK);
    assert_int_equal(crm_log_verify(c->log, &bad, &why), CRM_OK);
    assert_int_equal(bad, 0);
    uint64_t v, p;
    assert_int_equal(crm_log_stream_info(c->log, "guest-3", 7, &v, &p), CRM_OK);
    assert_int_equal(v, NEVENTS / NSTREAMS - 1);
    /* closing checkpointed every head: the index tests rely on it */
    crm_log_stats st;
    crm_log_stats_get(c->log, &st);
    assert_int_equal(st.checkpoint, c->head);
}

/* Re-chaining without an edit must give a log that verifies: the faults
 * below that use reseal() are then the edit's, not the helper's. */
static void
test_reseal_alone_verifies(void **state)
{
    ctx *c = *state;
    raw r;
    raw_begin(&r, c);
    reseal(&r, 7, c->head, NULL);
    raw_commit(&r);
    crm_error why = {0};
    assert_int_equal(crm_log_open(c->dir, TENANT, NULL, &c->log, &why), CRM_OK);
    assert_int_equal(crm_log_verify(c->log, NULL, &why), CRM_OK);
}

/* --- records -------------------------------------------------------------- */

static void
test_flipped_byte(void **state)
{
    ctx *c = *state;
    const uint64_t target = 23;
    raw r;
    uint8_t buf[MAXREC];
    raw_begin(&r, c);
    size_t len = raw_get_record(&r, target, buf);
    /* a letter of a string in the body: still msgpack, other bytes */
    uint8_t *eur = find_bytes(buf, len, "EUR");
    assert_non_null(eur);
    eur[1] ^= 0x01;
    raw_put_record(&r, target, buf, len);
    raw_commit(&r);
    expect_verify_fails(c, target, "hash chain broken");
}

static void
test_flipped_hash(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t buf[MAXREC];
    raw_begin(&r, c);
    size_t len = raw_get_record(&r, 9, buf);
    buf[len - 1] ^= 0x80; /* the record's own hash */
    raw_put_record(&r, 9, buf, len);
    raw_commit(&r);
    expect_verify_fails(c, 9, "hash chain broken");
}

static void
test_truncated_record(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t buf[MAXREC];
    raw_begin(&r, c);
    size_t len = raw_get_record(&r, 17, buf);
    raw_put_record(&r, 17, buf, len - 5);
    raw_commit(&r);
    expect_verify_fails(c, 17, "position 17:");
}

static void
test_deleted_record_in_the_middle(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t kb[8];
    raw_begin(&r, c);
    be64_put(kb, 30);
    raw_del(&r, r.log, kb, 8);
    raw_commit(&r);
    expect_verify_fails(c, 30, "position 30 is missing");
}

static void
test_deleted_first_record(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t kb[8];
    raw_begin(&r, c);
    be64_put(kb, 1);
    raw_del(&r, r.log, kb, 8);
    raw_commit(&r);
    expect_verify_fails(c, 1, "position 1 is missing");
}

/* Every record left is sound, but the head names one more. */
static void
test_deleted_last_record(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t kb[8];
    raw_begin(&r, c);
    be64_put(kb, c->head);
    raw_del(&r, r.log, kb, 8);
    raw_commit(&r);
    expect_verify_fails(c, c->head, "does not match the last record");
}

static void
test_record_replaced_by_another(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t buf[MAXREC];
    raw_begin(&r, c);
    size_t len = raw_get_record(&r, 40, buf);
    raw_put_record(&r, 12, buf, len);
    raw_commit(&r);
    expect_verify_fails(c, 12, "another position");
}

static void
test_records_exchanged(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t a[MAXREC], b[MAXREC];
    raw_begin(&r, c);
    size_t alen = raw_get_record(&r, 12, a);
    size_t blen = raw_get_record(&r, 40, b);
    raw_put_record(&r, 12, b, blen);
    raw_put_record(&r, 40, a, alen);
    raw_commit(&r);
    expect_verify_fails(c, 12, "another position");
}

static void
edit_position(crm_record_hdr *h)
{
    h->position += 100;
}

static void
edit_tenant(crm_record_hdr *h)
{
    h->tenant = "other-hotels";
    h->tenant_len = strlen(h->tenant);
}

static void
edit_version(crm_record_hdr *h)
{
    h->version++;
}

static void
edit_stream_prev(crm_record_hdr *h)
{
    h->stream_prev--;
}

/* Faults with a sound hash chain: the record claims another place. */
static void
test_resealed_wrong_position(void **state)
{
    ctx *c = *state;
    raw r;
    raw_begin(&r, c);
    reseal(&r, 21, c->head, edit_position);
    raw_commit(&r);
    expect_verify_fails(c, 21, "another position or tenant");
}

static void
test_resealed_other_tenant(void **state)
{
    ctx *c = *state;
    raw r;
    raw_begin(&r, c);
    reseal(&r, 33, c->head, edit_tenant);
    raw_commit(&r);
    expect_verify_fails(c, 33, "another position or tenant");
}

static void
test_resealed_version_gap(void **state)
{
    ctx *c = *state;
    uint64_t p = position_of(c, "guest-2", 3);
    raw r;
    raw_begin(&r, c);
    reseal(&r, p, c->head, edit_version);
    raw_commit(&r);
    expect_verify_fails(c, p, "stream version not dense");
}

static void
test_resealed_first_version_not_zero(void **state)
{
    ctx *c = *state;
    uint64_t p = position_of(c, "guest-4", 0);
    assert_int_equal(c->at[p].version, 0);
    raw r;
    raw_begin(&r, c);
    reseal(&r, p, c->head, edit_version);
    raw_commit(&r);
    expect_verify_fails(c, p, "stream version not dense");
}

static void
test_resealed_broken_stream_link(void **state)
{
    ctx *c = *state;
    uint64_t p = position_of(c, "guest-1", 4);
    raw r;
    raw_begin(&r, c);
    reseal(&r, p, c->head, edit_stream_prev);
    raw_commit(&r);
    expect_verify_fails(c, p, "stream version not dense");
}

/* --- the idempotency index ------------------------------------------------ */

static void
test_event_id_wrong_position(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t iv[8 + CRM_DIGEST_LEN];
    raw_begin(&r, c);
    assert_int_equal(
        raw_get(&r, r.ids, c->at[20].id, CRM_ID_LEN, iv, sizeof(iv)),
        sizeof(iv));
    assert_int_equal(be64_get(iv), 20);
    be64_put(iv, 21);
    raw_put(&r, r.ids, c->at[20].id, CRM_ID_LEN, iv, sizeof(iv));
    raw_commit(&r);
    expect_verify_fails(c, 20, "idempotency index disagrees");
}

static void
test_event_id_wrong_digest(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t iv[8 + CRM_DIGEST_LEN];
    raw_begin(&r, c);
    raw_get(&r, r.ids, c->at[8].id, CRM_ID_LEN, iv, sizeof(iv));
    iv[8 + 3] ^= 0x10;
    raw_put(&r, r.ids, c->at[8].id, CRM_ID_LEN, iv, sizeof(iv));
    raw_commit(&r);
    expect_verify_fails(c, 8, "idempotency index disagrees");
}

static void
test_event_id_deleted(void **state)
{
    ctx *c = *state;
    raw r;
    raw_begin(&r, c);
    raw_del(&r, r.ids, c->at[33].id, CRM_ID_LEN);
    raw_commit(&r);
    expect_verify_fails(c, 33, "idempotency index disagrees");
}

static void
test_event_id_extra(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t id[CRM_ID_LEN], iv[8 + CRM_DIGEST_LEN] = {0};
    memcpy(id, c->at[5].id, CRM_ID_LEN);
    id[CRM_ID_LEN - 1] ^= 0xff; /* an id no record has */
    be64_put(iv, 5);
    raw_begin(&r, c);
    raw_put(&r, r.ids, id, CRM_ID_LEN, iv, sizeof(iv));
    raw_commit(&r);
    expect_verify_fails(c, 0, "idempotency index holds 51 ids");
}

/* --- the streams index ---------------------------------------------------- */

static void
test_stream_wrong_version(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t sv[16];
    raw_begin(&r, c);
    assert_int_equal(raw_get(&r, r.streams, "guest-2", 7, sv, sizeof(sv)), 16);
    assert_int_equal(be64_get(sv), NEVENTS / NSTREAMS - 1);
    be64_put(sv, be64_get(sv) + 1);
    raw_put(&r, r.streams, "guest-2", 7, sv, sizeof(sv));
    raw_set_ckpt(&r, c->head, c->head); /* the index is trusted */
    raw_commit(&r);
    expect_verify_fails(c, 0, "'guest-2' disagrees");
}

static void
test_stream_wrong_position(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t sv[16];
    raw_begin(&r, c);
    raw_get(&r, r.streams, "guest-0", 7, sv, sizeof(sv));
    /* an event of another stream with that very version */
    uint64_t v = be64_get(sv), p = 0;
    for (uint64_t i = 1; i <= c->head && p == 0; i++)
        if (c->at[i].version == v && strcmp(c->at[i].stream, "guest-0") != 0)
            p = i;
    assert_true(p > 0);
    be64_put(sv + 8, p);
    raw_put(&r, r.streams, "guest-0", 7, sv, sizeof(sv));
    raw_set_ckpt(&r, c->head, c->head);
    raw_commit(&r);
    expect_verify_fails(c, 0, "'guest-0' disagrees");
}

static void
test_stream_deleted(void **state)
{
    ctx *c = *state;
    raw r;
    raw_begin(&r, c);
    raw_del(&r, r.streams, "guest-4", 7);
    raw_set_ckpt(&r, c->head, c->head);
    raw_commit(&r);
    expect_verify_fails(c, 0, "holds 4 of the 5 streams");
}

static void
test_stream_extra(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t sv[16];
    be64_put(sv, 0);
    be64_put(sv + 8, 1);
    raw_begin(&r, c);
    raw_put(&r, r.streams, "guest-9", 7, sv, sizeof(sv));
    raw_set_ckpt(&r, c->head, c->head);
    raw_commit(&r);
    expect_verify_fails(c, 0, "'guest-9' disagrees");
}

static void
test_stream_malformed(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t sv[8] = {0};
    raw_begin(&r, c);
    raw_put(&r, r.streams, "guest-1", 7, sv, sizeof(sv));
    raw_set_ckpt(&r, c->head, c->head);
    raw_commit(&r);
    expect_verify_fails(c, 0, "malformed");
}

/* Entries newer than the checkpoint the meta claims. */
static void
test_stream_beyond_checkpoint(void **state)
{
    ctx *c = *state;
    raw r;
    raw_begin(&r, c);
    raw_set_ckpt(&r, c->head - 10, c->head - 10);
    raw_commit(&r);
    expect_verify_fails(c, 0, "disagrees with the log");
}

/* A checkpoint round under way: each entry is its stream's head at
 * streams_at or at ckpt_to, and either is sound. */
static void
test_index_mid_round_verifies(void **state)
{
    ctx *c = *state;
    raw r;
    raw_begin(&r, c);
    raw_set_ckpt(&r, 40, c->head);
    raw_put_head_at(&r, c, "guest-0", 40);
    raw_put_head_at(&r, c, "guest-3", 40);
    raw_commit(&r);
    crm_error why = {0};
    assert_int_equal(crm_log_open(c->dir, TENANT, NULL, &c->log, &why), CRM_OK);
    if (crm_log_verify(c->log, NULL, &why) != CRM_OK)
        fail_msg("verify: %s", why.msg);
}

/* ... but a head from neither moment is not. */
static void
test_index_mid_round_stale_entry(void **state)
{
    ctx *c = *state;
    raw r;
    raw_begin(&r, c);
    raw_set_ckpt(&r, 40, c->head);
    raw_put_head_at(&r, c, "guest-0", 40);
    raw_put_head_at(&r, c, "guest-2", 35);
    raw_commit(&r);
    expect_verify_fails(c, 0, "'guest-2' disagrees");
}

static void
test_ckpt_to_unreadable(void **state)
{
    ctx *c = *state;
    raw r;
    raw_begin(&r, c);
    raw_put(&r, r.meta, "ckpt_to", 7, "\x01\x02\x03", 3);
    raw_commit(&r);
    expect_verify_fails(c, 0, "ckpt_to is unreadable");
}

static void
test_ckpt_to_before_streams_at(void **state)
{
    ctx *c = *state;
    raw r;
    raw_begin(&r, c);
    raw_set_ckpt(&r, c->head, c->head - 1);
    raw_commit(&r);
    expect_verify_fails(c, 0, "ckpt_to is unreadable");
}

static void
test_ckpt_to_beyond_head(void **state)
{
    ctx *c = *state;
    raw r;
    raw_begin(&r, c);
    raw_set_ckpt(&r, c->head, c->head + 1);
    raw_commit(&r);
    expect_verify_fails(c, 0, "ckpt_to is unreadable");
}

/* --- meta ----------------------------------------------------------------- */

static void
test_head_hash_wrong(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t hv[8 + CRM_HASH_LEN + 8];
    raw_begin(&r, c);
    assert_int_equal(raw_get(&r, r.meta, "head", 4, hv, sizeof(hv)),
                     sizeof(hv));
    hv[8 + 5] ^= 0x04;
    raw_put(&r, r.meta, "head", 4, hv, sizeof(hv));
    raw_commit(&r);
    expect_verify_fails(c, c->head + 1, "does not match the last record");
}

static void
test_head_position_behind(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t hv[8 + CRM_HASH_LEN + 8];
    raw_begin(&r, c);
    raw_get(&r, r.meta, "head", 4, hv, sizeof(hv));
    be64_put(hv, c->head - 1);
    raw_put(&r, r.meta, "head", 4, hv, sizeof(hv));
    raw_set_ckpt(&r, c->head - 1, c->head - 1);
    raw_commit(&r);
    expect_verify_fails(c, c->head + 1, "does not match the last record");
}

static void
test_head_unreadable(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t hv[12] = {0};
    raw_begin(&r, c);
    raw_put(&r, r.meta, "head", 4, hv, sizeof(hv));
    raw_commit(&r);
    expect_open_refuses(c, "head");
}

static void
test_streams_at_beyond_head(void **state)
{
    ctx *c = *state;
    raw r;
    raw_begin(&r, c);
    raw_set_ckpt(&r, c->head + 5, c->head + 5);
    raw_commit(&r);
    expect_verify_fails(c, 0, "streams_at");
}

static void
test_streams_at_unreadable(void **state)
{
    ctx *c = *state;
    raw r;
    raw_begin(&r, c);
    raw_put(&r, r.meta, "streams_at", 10, "\x01\x02\x03", 3);
    raw_commit(&r);
    expect_open_refuses(c, "streams_at");
}

/* Opening replays the records after the checkpoint: one it cannot read
 * stops the open. */
static void
test_unreadable_record_after_checkpoint(void **state)
{
    ctx *c = *state;
    raw r;
    uint8_t buf[MAXREC];
    raw_begin(&r, c);
    raw_set_ckpt(&r, c->head - 8, c->head - 8);
    size_t len = raw_get_record(&r, c->head - 3, buf);
    raw_put_record(&r, c->head - 3, buf, len / 2);
    raw_commit(&r);
    expect_open_refuses(c, "unreadable");
}

/* --- the stream skip index (logs of format 2) ----------------------------- */

/* Opens stream_skip, or skips the test in a build whose logs have none. */
static void
raw_skip_dbi(raw *r, MDB_dbi *dbi)
{
    int rc = mdb_dbi_open(r->txn, "stream_skip", 0, dbi);
    if (rc == MDB_NOTFOUND) {
        raw_commit(r);
        skip();
    }
    assert_int_equal(rc, 0);
}

static size_t
skip_key(uint8_t *kb, const char *stream, uint64_t version)
{
    size_t len = strlen(stream);
    memcpy(kb, stream, len);
    be64_put(kb + len, version);
    return len + 8;
}

static void
test_skip_entry_wrong(void **state)
{
    ctx *c = *state;
    raw r;
    MDB_dbi skip;
    uint8_t kb[64], pv[8];
    raw_begin(&r, c);
    raw_skip_dbi(&r, &skip);
    size_t klen = skip_key(kb, "guest-0", SKIP_EVERY - 1);
    assert_int_equal(raw_get(&r, skip, kb, klen, pv, sizeof(pv)), 8);
    uint64_t p = be64_get(pv);
    assert_int_equal(c->at[p].version, SKIP_EVERY - 1);
    be64_put(pv, p - 1);
    raw_put(&r, skip, kb, klen, pv, sizeof(pv));
    raw_commit(&r);
    expect_verify_fails(c, p, "skip index disagrees");
}

static void
test_skip_entry_deleted(void **state)
{
    ctx *c = *state;
    raw r;
    MDB_dbi skip;
    uint8_t kb[64];
    raw_begin(&r, c);
    raw_skip_dbi(&r, &skip);
    uint64_t p = position_of(c, "guest-0", 2 * SKIP_EVERY - 1);
    raw_del(&r, skip, kb, skip_key(kb, "guest-0", 2 * SKIP_EVERY - 1));
    raw_commit(&r);
    expect_verify_fails(c, p, "skip index disagrees");
}

static void
test_skip_entry_extra(void **state)
{
    ctx *c = *state;
    raw r;
    MDB_dbi skip;
    uint8_t kb[64], pv[8];
    raw_begin(&r, c);
    raw_skip_dbi(&r, &skip);
    be64_put(pv, 5);
    raw_put(&r, skip, kb, skip_key(kb, "guest-0", 4), pv, sizeof(pv));
    raw_commit(&r);
    expect_verify_fails(c, 0, "skip index holds 3 entries");
}

static void
test_long_stream_verifies(void **state)
{
    ctx *c = *state;
    crm_error why = {0};
    assert_int_equal(crm_log_open(c->dir, TENANT, NULL, &c->log, &why), CRM_OK);
    assert_int_equal(crm_log_verify(c->log, NULL, &why), CRM_OK);
    uint64_t v, p;
    assert_int_equal(crm_log_stream_info(c->log, "guest-0", 7, &v, &p), CRM_OK);
    assert_int_equal(v, LONG_EVENTS - 1);
    assert_int_equal(p, LONG_EVENTS);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TL(f) cmocka_unit_test_setup_teardown(f, setup_long, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_intact_log_verifies),
        T(test_reseal_alone_verifies),
        T(test_flipped_byte),
        T(test_flipped_hash),
        T(test_truncated_record),
        T(test_deleted_record_in_the_middle),
        T(test_deleted_first_record),
        T(test_deleted_last_record),
        T(test_record_replaced_by_another),
        T(test_records_exchanged),
        T(test_resealed_wrong_position),
        T(test_resealed_other_tenant),
        T(test_resealed_version_gap),
        T(test_resealed_first_version_not_zero),
        T(test_resealed_broken_stream_link),
        T(test_event_id_wrong_position),
        T(test_event_id_wrong_digest),
        T(test_event_id_deleted),
        T(test_event_id_extra),
        T(test_stream_wrong_version),
        T(test_stream_wrong_position),
        T(test_stream_deleted),
        T(test_stream_extra),
        T(test_stream_malformed),
        T(test_stream_beyond_checkpoint),
        T(test_index_mid_round_verifies),
        T(test_index_mid_round_stale_entry),
        T(test_ckpt_to_unreadable),
        T(test_ckpt_to_before_streams_at),
        T(test_ckpt_to_beyond_head),
        T(test_head_hash_wrong),
        T(test_head_position_behind),
        T(test_head_unreadable),
        T(test_streams_at_beyond_head),
        T(test_streams_at_unreadable),
        T(test_unreadable_record_after_checkpoint),
        TL(test_long_stream_verifies),
        TL(test_skip_entry_wrong),
        TL(test_skip_entry_deleted),
        TL(test_skip_entry_extra),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
