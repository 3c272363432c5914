/*
 * log_int.h - what the event log's files share (log.c: open, writer,
 * reads; batch.c: preparing batches; log_verify.c: verification). Not for
 * other modules.
 */
#ifndef CRM_LOG_INT_H
#define CRM_LOG_INT_H

#include <lmdb.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "record.h"
#include "scache.h"

#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)
#define IDVAL_LEN (8 + CRM_DIGEST_LEN) /* event_ids value */
#define STREAMVAL_LEN 16               /* streams value */
/* stream_skip: (stream id, version BE64) -> position BE64 for every
 * SKIP_EVERY-th version of a stream, so a read of a long stream starts its
 * walk back along stream_prev near where it is asked to, not at the head. */
#define SKIP_EVERY 64
#define SKIPKEY_MAX (CRM_STREAM_MAX + 8)
#define LOG_FORMAT "2" /* 2: stream_skip */
#define HEADVAL_LEN (8 + CRM_HASH_LEN + 8)
#define GROUP_BYTES (32u << 20)
#define LOG_REDO (-1) /* apply(): redo the group (not an LMDB code) */

typedef struct bevent {
    size_t off, len; /* canonical content in batch->content */
    uint8_t digest[CRM_DIGEST_LEN];
    uint32_t group;
    uint8_t dup;
    uint64_t position, version;
} bevent;

typedef struct bgroup {
    size_t off, len; /* stream id bytes in batch->content */
    int64_t expect;
    int expect_set; /* an expectation named this stream */
    /* writer state while the batch is applied */
    int exists, has_new, touched;
    uint64_t version, last_pos;
} bgroup;

struct crm_batch {
    size_t n, ngroups;
    bevent *ev;
    bgroup *groups;
    msgpack_sbuffer content;
    char actor[CRM_ACTOR_MAX];
    size_t actor_len;
    crm_error why;
    crm_log_done_fn done;
    void *done_arg;
    crm_batch *next;
    int careful; /* look ids up before writing (a retry was detected) */
    int acked;   /* crm_log_append: the outcome is in (under ack_mu) */
};

struct crm_log {
    char tenant[CRM_TENANT_MAX + 1];
    size_t tenant_len;
    MDB_env *env;
    MDB_dbi dbi_log, dbi_streams, dbi_ids, dbi_meta, dbi_skip;
    size_t map_size, map_max, group_events;
    size_t fill_end; /* the data file is written (zeros) up to here */
    /* a checkpoint round begins when this many heads are dirty or this
     * long after the previous one; it bounds what opening has to replay */
    size_t ckpt_streams, ckpt_slice_min;
    int64_t ckpt_ns;
    int64_t group_wait_ns;
    size_t cache_streams; /* clean heads kept in memory, at most */
    crm_log_commit_fn on_commit;
    void *on_commit_arg;

    /* Readers hold it shared for the life of a read txn; the writer takes
     * it exclusively to remap when the map grows. */
    pthread_rwlock_t maplock;

    pthread_mutex_t mu; /* queue, head, stats */
    pthread_cond_t cv;
    /* crm_log_append's waiters: one broadcast per group wakes them all */
    pthread_mutex_t ack_mu;
    pthread_cond_t ack_cv;
    crm_batch *qhead, *qtail;
    size_t qbatches;
    size_t want; /* the writer sleeps until this many batches are queued */
    int closing, writer_running;
    int ckpt_asked; /* crm_log_checkpoint: checkpoint when idle */
    pthread_t writer;

    uint64_t head_pos;
    uint8_t head_hash[CRM_HASH_LEN];
    int64_t last_recorded;
    uint8_t genesis[CRM_HASH_LEN];
    crm_log_stats st;

    msgpack_zone *wzone; /* writer thread only */

    /* Stream heads newer than the streams index. The writer alone changes
     * it (under ovl_mu, right after a commit and before acknowledging);
     * readers look here first, under ovl_mu, and begin their read
     * transaction only afterwards, so a head they miss here is already in
     * the index their transaction sees. */
    pthread_mutex_t ovl_mu;
    crm_scache *overlay;
    crm_scache *pending; /* heads set by the transaction being built */
    uint64_t streams_at; /* the streams index is current up to here */
    int64_t last_ckpt_ns;
    /* The checkpoint round in progress (writer thread only): the heads
     * dirty when it began, sorted by id; ckpt_next is the next to write. */
    crm_shead *ckpt_snap;
    size_t ckpt_n, ckpt_cap, ckpt_next;
    uint64_t ckpt_to; /* the head when the round began */
};

static inline void
put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline uint64_t
get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The stream_skip key of (stream, version) into kb; returns its length. */
static inline size_t
skip_key(uint8_t kb[SKIPKEY_MAX], const void *stream, size_t len,
         uint64_t version)
{
    memcpy(kb, stream, len);
    put_be64(kb + len, version);
    return len + 8;
}

static inline int
skip_due(uint64_t version)
{
    return version % SKIP_EVERY == SKIP_EVERY - 1;
}

/* The stream id of a batch's group, inside the batch's content. */
static inline const uint8_t *
batch_stream(const crm_batch *b, const bgroup *g)
{
    return (const uint8_t *)b->content.data + g->off;
}

/* A read transaction, holding the map lock shared (see maplock). */
crm_err crm_log_rd_begin(crm_log *log, MDB_txn **txn, crm_error *why);
void crm_log_rd_end(crm_log *log, MDB_txn *txn);

#endif
