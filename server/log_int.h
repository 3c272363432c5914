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
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "batch_int.h"
#include "log.h"
#include "record.h"
#include "scache.h"
#include "sign.h"
#include "vault.h"

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
/* Convention inside the log's files: functions that work in a write
 * transaction return an int, 0 or an LMDB error code or LOG_REDO; what
 * leaves the module returns crm_err. */
#define LOG_REDO (-1) /* redo the group (not an LMDB code) */

/* What the writer works out for one stream group of the batch it is
 * checking and sealing (writer thread only; log->wg, indexed like
 * batch->groups). */
typedef struct wgroup {
    int exists, has_new;
    uint64_t version, last_pos;
} wgroup;

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
    crm_proj_set *proj;
    crm_vault *vault;     /* NULL: the tenant keeps no keys (not sealed) */
    MDB_dbi dbi_subjects; /* subject_keys */
    MDB_dbi dbi_erasures; /* the erasure ledger (log_erase.c) */
    MDB_dbi dbi_ckpts;    /* signed checkpoints (log_sign.c) */
    uint8_t sign_seed[CRM_SIGN_SEED_LEN], sign_pub[CRM_SIGN_PUB_LEN];
    int64_t sign_ns;     /* the writer signs its head this often; 0: never */
    int64_t signed_ns;   /* when the last checkpoint was made (writer) */
    uint64_t signed_pos; /* its position */
    int erase_due; /* writer: the transaction being built erased a guest */
    /* the eraser thread (log_erase.c): er_asked counts commits that
     * erased, er_done what the last completed round covered */
    pthread_mutex_t er_mu;
    pthread_cond_t er_cv;
    pthread_t eraser;
    int er_init, eraser_running, er_stop, er_waiters;
    uint64_t er_asked, er_done, er_rounds;
    char er_why[160]; /* why the last round failed, "" after one that did not */
    /* The writer's cache of opened subject keys (direct-mapped by stream
     * id). An entry of an older generation is empty: a transaction that
     * does not commit moves skey_gen, so a key made in it is never used
     * again unless it was stored. It holds SKEY_MIN slots at first and
     * grows with the tenant's guests up to SKEY_MAX (log_apply.c). */
    struct skey_slot *skeys;
    uint32_t skey_gen;
    size_t skey_slots;  /* a power of two */
    size_t skey_misses; /* since the size was last looked at */
    void (*progress)(void *, const char *, const char *, uint64_t, uint64_t);
    void *progress_arg;
    struct crm_log_access *access; /* log_access.c */
    /* Whoever writes the environment holds it: the writer for a group and
     * the room it makes after, a rebuild for one of its transactions. */
    pthread_mutex_t txn_mu;

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
    int rebuilding; /* a rebuild, rotation or erasure round runs */
    /* batches are queued, or the writer has taken a group and waits for
     * txn_mu: a rebuild ends its transaction soon and lets it in (set
     * under mu, read by the rebuild without it) */
    atomic_int wants_txn;
    int ckpt_asked; /* crm_log_checkpoint: checkpoint when idle */
    pthread_t writer;

    uint64_t head_pos;
    uint8_t head_hash[CRM_HASH_LEN];
    int64_t last_recorded;
    uint8_t genesis[CRM_HASH_LEN];
    crm_log_stats st;

    msgpack_zone *wzone; /* writer thread only */
    wgroup *wg;          /* writer thread only: per stream group */
    size_t wg_cap;

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

#define SKEY_MIN 4096   /* slots, powers of two */
#define SKEY_MAX 131072 /* ~13 MB: a chain's guests in the hundreds of
                         * thousands mostly find theirs */
typedef struct skey_slot {
    uint32_t gen;
    uint8_t len;
    char id[CRM_STREAM_MAX];
    uint8_t key[CRM_KEY_LEN];
} skey_slot;

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

/* A record as stored, as the indexes need it: the primary knows these
 * from the batch, a rebuild or a replica from the decoded record.
 * Pointers are borrowed for the call. digest may be NULL (computed from
 * content). */
typedef struct crm_stored {
    uint64_t position, version;
    const uint8_t *id; /* CRM_ID_LEN bytes */
    const char *stream;
    size_t stream_len;
    const uint8_t *content; /* canonical content (event.h) */
    size_t content_len;
    const uint8_t *digest;
} crm_stored;

/* log_apply.c. Checks b inside txn and, if it passes, seals its new events
 * at *pos + 1... chained from hash (both advanced) and indexes them. 0 with
 * b->why.code CRM_OK (written) or set (refused, nothing written), an LMDB
 * error, or LOG_REDO (an id turned out stored: the group is redone with b
 * careful). Writer thread. */
int crm_log_apply_batch(crm_log *log, MDB_txn *txn, crm_batch *b,
                        uint64_t *pos, uint8_t hash[CRM_HASH_LEN], int64_t now);

/* The one indexing path of a stored record: event_ids (MDB_NOOVERWRITE
 * unless careful; LOG_REDO when the id is there), stream_skip, and the
 * stream head in log->pending. 0 or an LMDB error (ENOMEM). */
int crm_log_index_record(crm_log *log, MDB_txn *txn, const crm_stored *s,
                         int careful);

/* log_ckpt.c: checkpoint rounds of stream heads (writer thread). */
int crm_log_ckpt_begin(crm_log *log);
int crm_log_ckpt_slice(crm_log *log, MDB_txn *txn, int all, size_t *end);
void crm_log_ckpt_end(crm_log *log);

/* log_writer.c */
void *crm_log_writer_main(void *arg);
void crm_log_room_ahead(crm_log *log, int fill);
/* Enlarges the map (txn_mu held, no write transaction open); 0 or -1
 * at map_max. */
int crm_log_grow_map(crm_log *log, size_t want);

/* log_read.c. Visits the records at positions from, from+1, ... in txn,
 * each decoded (into z, cleared per record), its personal part opened
 * when open_pii is set (crm_log_open_pii; an erased guest's is nil). fn
 * returns nonzero to stop.
 * CRM_OK at the end or when fn stopped; CRM_ERR_CORRUPT (why says which
 * position, *bad_pos is it when not NULL) for a record that does not
 * decode; an LMDB failure translated. */
typedef int (*crm_log_scan_fn)(void *arg, uint64_t key_pos, const MDB_val *raw,
                               const crm_record *r);
crm_err crm_log_scan(crm_log *log, MDB_txn *txn, uint64_t from,
                     msgpack_zone *z, int open_pii, crm_log_scan_fn fn,
                     void *arg, uint64_t *bad_pos, crm_error *why);

/* log_rebuild.c. A pass over the whole log while appends go on: begin
 * in a first write transaction, apply to every record (personal parts
 * opened) in transactions of a few thousand records between the writer's
 * commits, finish in the transaction whose scan reaches the head (no
 * commit can come in between: it holds txn_mu). After that commit swap
 * runs, with readers kept out during both when exclusive is set. The
 * callbacks return 0 or an LMDB error (EIO: key material does not open).
 * apply NULL: nothing to fold, finish follows begin in one transaction.
 * *events: records applied; *position: the head it finished at. */
typedef struct crm_log_pass {
    const char *name; /* for progress and errors */
    int (*begin)(void *arg, MDB_txn *txn);
    int (*apply)(void *arg, MDB_txn *txn, const crm_record *r);
    int (*finish)(void *arg, MDB_txn *txn, uint64_t head);
    void (*swap)(void *arg, uint64_t head); /* may be NULL */
    int exclusive;
    void *arg;
} crm_log_pass;
crm_err crm_log_run_pass(crm_log *log, const crm_log_pass *p, uint64_t *events,
                         uint64_t *position, crm_error *why);
/* One rebuild, key rotation or erasure round at a time per log (the
 * rebuilding flag, which crm_log_close waits for): CRM_OK when this
 * caller may run one (end it with crm_log_exclusive_end), else
 * CRM_ERR_UNAVAILABLE. */
crm_err crm_log_exclusive_begin(crm_log *log, crm_error *why);
void crm_log_exclusive_end(crm_log *log);

/* log_keys.c. Rewraps every subject key and the index key from vault
 * from to vault to and records to's epoch, in txn; index_key, when not
 * NULL, replaces the index key. 0 or an LMDB error (EIO: a stored key
 * does not open). *n: subject keys rewrapped. */
int crm_log_rewrap(crm_log *log, MDB_txn *txn, const crm_vault *from,
                   const crm_vault *to, const uint8_t *index_key, uint64_t *n);

/* log_erase.c. erase_record, in the writer's transaction of a stored
 * customer.erased (version: its version, the events before it):
 * destroys the guest's subject key and enters it in the ledger as
 * pending. erased: whether the ledger holds the guest (1, 0, or a
 * negated LMDB error). kick: after the commit of a transaction that
 * erased, the eraser's next round covers it. */
int crm_log_erase_record(crm_log *log, MDB_txn *txn, const char *sid,
                         size_t len, uint64_t position, uint64_t version,
                         int64_t now);
int crm_log_erased(crm_log *log, MDB_txn *txn, const char *sid, size_t len);
void crm_log_erase_kick(crm_log *log);
/* At open, once the writer runs (a round left unfinished runs at once),
 * and at close (stop joins the thread, free releases what start made). */
crm_err crm_log_eraser_start(crm_log *log, crm_error *why);
void crm_log_eraser_stop(crm_log *log);
void crm_log_eraser_free(crm_log *log);

/* log_sign.c. sign_open, at open once the keys are: the signing key,
 * made on the first open. sign_rewrap: its wrapped seed from vault from
 * to vault to (crm_log_rewrap). sign_put: a checkpoint of (pos, head) at
 * now in txn (out may be NULL). sign_due: whether the writer should sign
 * the head pos it commits; signed: that it did (after the commit). All
 * but the last two return 0 or an LMDB error (EIO: a key failed). */
int crm_log_sign_open(crm_log *log, MDB_txn *txn);
int crm_log_sign_rewrap(crm_log *log, MDB_txn *txn, const crm_vault *from,
                        const crm_vault *to);
int crm_log_sign_put(crm_log *log, MDB_txn *txn, uint64_t pos,
                     const uint8_t head[CRM_HASH_LEN], int64_t now,
                     crm_checkpoint *out);
int crm_log_sign_due(const crm_log *log, uint64_t pos);
void crm_log_signed(crm_log *log, uint64_t pos);
/* A stored checkpoint (key and value of "checkpoints"): 0 or
 * MDB_CORRUPTED. */
int crm_log_ckpt_unpack(const MDB_val *k, const MDB_val *v, crm_checkpoint *c);

/* log_access.c. open: its databases, in the open's first transaction
 * (0 or an LMDB error); start: the flusher, once the log is open; close:
 * writes what is queued and frees (accepts a log never opened). */
int crm_log_access_open(crm_log *log, MDB_txn *txn, const crm_log_opts *o);
crm_err crm_log_access_start(crm_log *log, crm_error *why);
void crm_log_access_close(crm_log *log);

/* Folds into each projection that lags behind the head what it missed
 * (log_rebuild.c); at open, before the writer starts. */
crm_err crm_log_catch_up(crm_log *log, crm_error *why);

/* A read transaction, holding the map lock shared (see maplock). */
crm_err crm_log_rd_begin(crm_log *log, MDB_txn **txn, crm_error *why);
void crm_log_rd_end(crm_log *log, MDB_txn *txn);

#endif
