/*
 * log.h - one tenant's event log: an LMDB environment holding the
 * append-only, hash-chained log and the indexes appends maintain.
 *
 * Named databases: log (position u64 BE -> record, see record.h),
 * streams (stream id -> last version, last position), event_ids (event id
 * -> position and content digest), meta (genesis, head).
 *
 * Appends go through one writer thread per log that group-commits: every
 * batch queued while a commit is in flight joins the next write
 * transaction, which also waits a little (group_wait_us) for the
 * submitters the last commit held, writing their batches as they come;
 * all of them share its fsync. A batch is acknowledged
 * (its callback runs) only after that commit is durable. Each batch is
 * atomic: it is checked completely (expected versions, idempotent ids)
 * before any of its puts, and a failing batch leaves the others of its
 * group untouched.
 *
 * Thread-safety: every function may be called from any thread, except that
 * crm_log_close must not race with other calls on the same log.
 */
#ifndef CRM_LOG_H
#define CRM_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "err.h"
#include "event.h"
#include "hash.h"
#include "proj.h"
#include "schema.h"
#include "seal.h"
#include "sign.h"

typedef struct crm_log crm_log;

/* Called on the writer thread after each commit that moved the head,
 * once the commit is durable. Must not block or call back into the log's
 * append path. */
typedef void (*crm_log_commit_fn)(void *arg, crm_log *log, uint64_t head);

typedef struct crm_log_opts {
    size_t map_size;             /* initial LMDB map size; 0 = 64 MiB */
    size_t map_max;              /* growth stops here; 0 = 1 TiB */
    size_t group_events;         /* most events in one commit; 0 = 20000 */
    unsigned ckpt_ms;            /* checkpoint stream heads at least this often
                                    while appends come in; 0 = CRM_LOG_CKPT_MS */
    size_t ckpt_streams;         /* or once this many are dirty;
                                    0 = CRM_LOG_CKPT_STREAMS */
    size_t ckpt_slice_min;       /* heads written per commit of a round,
                                    at least; 0 = CRM_LOG_CKPT_SLICE_MIN */
    size_t cache_streams;        /* past this many heads in memory, the
                                    checkpointed ones leave after a
                                    checkpoint; 0 = CRM_LOG_CACHE_STREAMS */
    unsigned group_wait_us;      /* how long a group waits for the
                                    submitters the last one held, from
                                    the end of that commit; 0 =
                                    CRM_LOG_GROUP_WAIT_US, at most
                                    CRM_LOG_GROUP_WAIT_MAX */
    crm_log_commit_fn on_commit; /* may be NULL */
    void *on_commit_arg;
    /* projections kept inline in every append's transaction (proj.h);
     * one whose stored format differs is rebuilt by crm_log_open */
    /* the master key (vault.h; CRM_KEY_LEN bytes, copied): a new log
     * is sealed with it, a sealed one needs it; NULL makes a new log
     * unsealed */
    const uint8_t *master_key;
    const crm_proj_def *const *projections;
    size_t nprojections;
    /* the writer signs a checkpoint of its head this often (ms) while
     * appends come in; 0 = only crm_log_sign_now */
    unsigned sign_ms;
    /* the access log (crm_log_access_note): access_off keeps none (what
     * is stored still lists); entries older than access_keep_days are
     * pruned (0: kept forever) */
    int access_off;
    unsigned access_keep_days;
    /* progress of rebuilds, now and then (may be NULL); any thread */
    void (*progress)(void *arg, const char *tenant, const char *projection,
                     uint64_t done, uint64_t total);
    void *progress_arg;
} crm_log_opts;

#define CRM_LOG_GROUP_BUCKETS 12
#define CRM_LOG_GROUP_WAIT_US 150
#define CRM_LOG_GROUP_WAIT_MAX 1000000u /* 1 s */

/* Stream heads reach the streams index at checkpoints: when this many are
 * dirty, or this long after the previous one (what a restart replays). */
#define CRM_LOG_CKPT_STREAMS 131072
#define CRM_LOG_CKPT_MS 1000
/* A checkpoint is written in key order over this many commits, each
 * writing at least CRM_LOG_CKPT_SLICE_MIN heads. */
#define CRM_LOG_CACHE_STREAMS (1u << 20) /* ~90 MiB of heads per tenant */
#define CRM_LOG_CKPT_SLICES 8
#define CRM_LOG_CKPT_SLICE_MIN 4096

typedef struct crm_log_stats {
    uint64_t position;   /* head */
    uint64_t commits;    /* write transactions committed (= fsyncs) */
    uint64_t batches;    /* batches completed (written or refused) */
    uint64_t events;     /* events newly appended */
    uint64_t duplicates; /* events answered from the idempotency index */
    uint64_t conflicts;  /* batches refused by a check */
    uint64_t map_grows;  /* times the map was enlarged */
    uint64_t map_size;   /* bytes */
    uint64_t map_used;   /* bytes of pages in use */
    uint64_t checkpoint; /* stream heads are in the index up to here */
    /* commits by events in them: bucket i counts commits of at most
     * 2^i events (the last bucket: more than 2^(N-2)) */
    uint64_t group_hist[CRM_LOG_GROUP_BUCKETS];
} crm_log_stats;

/* Opens (creating if needed) the log of tenant in directory dir, which
 * must exist. A new log chains from a genesis hash derived from the tenant
 * id and its creation time. Fails with CRM_ERR_CORRUPT if dir holds another
 * tenant's log, and with CRM_ERR_UNAVAILABLE while another process has it
 * open (one process writes a log: its data file is flocked). */
crm_err crm_log_open(const char *dir, const char *tenant,
                     const crm_log_opts *opts, crm_log **out, crm_error *why);

/* Finishes queued appends and stops the writer, the eraser and a
 * rebuild under way (at its next chunk); appends are refused from then on
 * (CRM_ERR_CLOSED) while reads go on, so that threads still using the log
 * can finish before it closes. Accepts NULL; once is enough. */
void crm_log_stop(crm_log *log);

/* crm_log_stop, then writes the access entries queued and closes the
 * environment. Accepts NULL. No other call on log may run concurrently
 * or follow. */
void crm_log_close(crm_log *log);

/* Asks the writer to checkpoint stream heads once it is idle, if the
 * usual rule holds (dirty heads, a second since the last checkpoint).
 * Returns at once; for a timer (crmd calls it every second). */
void crm_log_checkpoint(crm_log *log);

/* Called on the writer thread once the batch is durable or refused. The
 * batch stays owned by the caller; the callback must not block for long:
 * it delays every later commit. */
typedef void (*crm_log_done_fn)(crm_batch *b, void *arg);

/* Queues b for the writer; done runs exactly once, after the commit that
 * holds it is durable or once it is refused. Returns CRM_ERR_CLOSED (and
 * never calls done) if the log is closing. */
crm_err crm_log_submit(crm_log *log, crm_batch *b, crm_log_done_fn done,
                       void *arg);

/* Submits b and waits for its outcome: crm_batch_result(b, why). */
crm_err crm_log_append(crm_log *log, crm_batch *b, crm_error *why);

/* Called for each record a read finds. rec points into the map and is
 * valid only during the call. Return nonzero to stop the read. */
typedef int (*crm_log_visit_fn)(void *arg, uint64_t position,
                                const uint8_t *rec, size_t len);

/* Visits records at positions from, from+1, ... (at most max; 0 = no
 * limit). Returns CRM_OK even when nothing is there. */
crm_err crm_log_read_all(crm_log *log, uint64_t from, size_t max,
                         crm_log_visit_fn visit, void *arg);

/* Visits the events of one stream with version >= from_version, in
 * version order, at most max (0 = no limit). CRM_ERR_NOT_FOUND if the
 * stream has no events. */
crm_err crm_log_read_stream(crm_log *log, const char *stream, size_t len,
                            uint64_t from_version, size_t max,
                            crm_log_visit_fn visit, void *arg);

/* Last version and position of a stream; CRM_ERR_NOT_FOUND if none. */
crm_err crm_log_stream_info(crm_log *log, const char *stream, size_t len,
                            uint64_t *version, uint64_t *position);

/* Current head (0 and the genesis hash for an empty log). */
void crm_log_head(crm_log *log, uint64_t *position, uint8_t hash[CRM_HASH_LEN]);
void crm_log_genesis(crm_log *log, uint8_t hash[CRM_HASH_LEN]);
const char *crm_log_tenant(const crm_log *log);

void crm_log_stats_get(crm_log *log, crm_log_stats *st);

/* What one projection's rebuild did. */
typedef struct crm_log_rebuilt {
    char name[32];
    uint64_t events;   /* records applied */
    uint64_t position; /* the head it reached and went live at */
    double seconds;
    int identical;     /* the rebuilt state equals the inline one */
    char diff[160];    /* else the first difference */
} crm_log_rebuilt;

/* Rebuilds projection name (NULL: every one) from the log into its other
 * generation while appends go on, in transactions of a few thousand
 * records between the writer's commits, and makes it live in the
 * transaction that reaches the head, after comparing it with the inline
 * state (out[i].identical). out holds room for every projection; *n says
 * how many were rebuilt. CRM_ERR_NOT_FOUND for an unknown name. Blocks:
 * call it from a worker thread, never from the writer's callbacks. */
crm_err crm_log_rebuild(crm_log *log, const char *name, crm_log_rebuilt *out,
                        size_t *n, crm_error *why);

/* The erasure ledger's entry of a guest (log_erase.c): a stored
 * customer.erased destroys the guest's subject key in its own
 * transaction; an erasure round then replaces the tenant key and the
 * index key so that no stale copy in free pages opens (complete). */
typedef struct crm_log_erasure {
    int complete;
    uint64_t position;     /* of the customer.erased */
    int64_t requested_at;  /* its recorded_at, µs */
    int64_t completed_at;  /* µs; 0 while pending */
    uint32_t key_epoch;    /* the tenant key epoch the round made */
    uint32_t keys;         /* subject keys destroyed (0: had none) */
    uint64_t events;       /* events of the guest before the erasure */
} crm_log_erasure;

/* The entry of stream: CRM_OK, CRM_ERR_NOT_FOUND (never erased), or an
 * LMDB failure. Any thread. */
crm_err crm_log_erasure_get(crm_log *log, const char *stream, size_t len,
                            crm_log_erasure *out, crm_error *why);
/* Appends customer.erased (reason, request_ref ref when not "") for each
 * of streams[0..n) that the ledger does not hold yet, in one atomic
 * batch made by actor; *appended says how many. Blocks until durable. */
crm_err crm_log_erase_append(crm_log *log, const char *const *streams,
                             size_t n, const char *reason, const char *ref,
                             const char *actor, uint64_t *appended,
                             crm_error *why);
/* Blocks until every erasure committed before the call is complete:
 * CRM_OK, CRM_ERR_TIMEOUT after timeout_ms (why says the last round's
 * failure, if any), CRM_ERR_CLOSED when the log closes first. A worker
 * thread's call. */
crm_err crm_log_erasure_wait(crm_log *log, int64_t timeout_ms, crm_error *why);

/* Signed checkpoints (log_sign.c; sign.h): sign_now signs the head now
 * unless the newest checkpoint is of it already (then *out is that one);
 * checkpoints visits those at positions >= from, oldest first, at most
 * max (0: all), until fn returns nonzero; sign_pub is the tenant's public
 * key. Any thread. */
crm_err crm_log_sign_now(crm_log *log, crm_checkpoint *out, crm_error *why);
crm_err crm_log_checkpoints(crm_log *log, uint64_t from, size_t max,
                            int (*fn)(void *arg, const crm_checkpoint *c),
                            void *arg, crm_error *why);
void crm_log_sign_pub(const crm_log *log, uint8_t pub[CRM_SIGN_PUB_LEN]);

/* The tenant's signature of a backup manifest's digest (sign.h,
 * crm_manifest_sign): 0, or -1 if OpenSSL failed. */
int crm_log_sign_manifest(const crm_log *log,
                          const uint8_t digest[CRM_HASH_LEN],
                          uint8_t sig[CRM_SIGN_LEN]);
/* The newest checkpoint at or before pos: CRM_OK, CRM_ERR_NOT_FOUND. */
crm_err crm_log_checkpoint_before(crm_log *log, uint64_t pos,
                                  crm_checkpoint *out, crm_error *why);

/* Verifies positions from..to (0: the head) online: the chain is hashed
 * from the newest checkpoint before from (its signature checked; the
 * genesis when there is none) through to, and every checkpoint on the
 * way must name the hash the chain has there and carry the tenant's
 * signature. CRM_OK, or CRM_ERR_CORRUPT with *bad the first position
 * that fails and why saying how. */
typedef struct crm_log_verified {
    uint64_t from, to, anchor; /* anchor: the checkpoint it began at */
    uint64_t records, checkpoints, bad;
} crm_log_verified;
crm_err crm_log_verify_range(crm_log *log, uint64_t from, uint64_t to,
                             crm_log_verified *out, crm_error *why);

/* A hot backup of the log in src_dir (its directory) into dst_dir, which
 * is made (mode 0700; CRM_ERR_EXISTS when it exists): a checkpoint of the
 * head signed first, then a compacted copy of the environment (one
 * consistent state, free pages left out) and the tenant key file, while
 * appends go on. Exclusive with rebuilds, rotations and erasure rounds
 * (CRM_ERR_UNAVAILABLE while one runs). */
typedef struct crm_log_backup_info {
    uint64_t position;            /* the head the copy holds */
    uint8_t head[CRM_HASH_LEN];
    crm_checkpoint checkpoint;    /* the signed checkpoint it ends with */
    uint64_t bytes;               /* of the copy */
    double seconds;
} crm_log_backup_info;
crm_err crm_log_backup(crm_log *log, const char *src_dir, const char *dst_dir,
                       crm_log_backup_info *out, crm_error *why);
/* Import of records as another log stored them (log_import.c), into a
 * log nothing else uses and that is closed afterwards (opening it builds
 * projections and stream heads): begin takes the source's genesis
 * (CRM_ERR_CONFLICT unless the log is empty); records puts recs[0..n)
 * after the head in one transaction, each checked (the next position,
 * this tenant, linked and hashed, following its stream; sealed personal
 * data only into a tenant that seals, plain only into one that does not)
 * - CRM_ERR_CORRUPT or CRM_ERR_BAD_REQUEST and nothing of the chunk kept
 * otherwise. */
crm_err crm_log_import_begin(crm_log *log, const uint8_t genesis[CRM_HASH_LEN],
                             crm_error *why);
crm_err crm_log_import_records(crm_log *log, const uint8_t *const *recs,
                               const size_t *lens, size_t n, crm_error *why);

/* Subject keys brought with an export (crmd --import, after its
 * records): keys[0..n) stored under this tenant's key in one
 * transaction (*stored: n). A guest that has a key already is
 * CRM_ERR_CONFLICT and nothing of the chunk is kept. */
typedef struct crm_import_key {
    const char *stream;
    size_t len;
    uint8_t key[CRM_KEY_LEN];
} crm_import_key;
crm_err crm_log_import_keys(crm_log *log, const crm_import_key *keys,
                            size_t n, size_t *stored, crm_error *why);
/* Then every sealed personal part of the log is opened with the keys
 * stored: CRM_ERR_CORRUPT naming the first position whose guest's key
 * does not open it (a guest without a key stays sealed). *opened counts
 * the parts opened. */
crm_err crm_log_import_check_keys(crm_log *log, uint64_t *opened,
                                  crm_error *why);

/* Copies file src to dst (created, mode 0600; it must not exist) and
 * fsyncs it: 0 or an errno value. */
int crm_file_copy(const char *src, const char *dst);

/* Reads key in database db of projection proj as the last commit left it,
 * copying at most cap bytes of the value to out (*len: its whole size).
 * CRM_ERR_NOT_FOUND for an unknown projection or key. Any thread. */
crm_err crm_log_proj_get(crm_log *log, const char *proj, size_t db,
                         const void *key, size_t klen, void *out, size_t cap,
                         size_t *len);

/* Runs fn in a read transaction where dbi[] are the live databases of
 * projection proj (in the order of its def) as the last commit left
 * them, and position is what that commit had applied. fn returns 0 or an
 * LMDB error code, and should be quick: it holds off a map resize.
 * CRM_ERR_UNAVAILABLE when the log keeps no such projection. Any thread. */
typedef int (*crm_log_proj_fn)(void *arg, MDB_txn *txn, const MDB_dbi *dbi,
                               uint64_t position);
crm_err crm_log_proj_read(crm_log *log, const char *proj, crm_log_proj_fn fn,
                          void *arg, crm_error *why);

/* The stored record at position in txn (a read of crm_log_proj_read's
 * fn, say), pointing into the map: 0, MDB_NOTFOUND or an LMDB error. */
int crm_log_record_at(crm_log *log, MDB_txn *txn, uint64_t position,
                      const void **rec, size_t *len);

/* Personal data of a sealed tenant (record.h: its pii is a bin). In txn
 * (a read of crm_log_proj_read's fn, say): pii_bytes gives the canonical
 * pii bytes of r (opened into z when sealed, else as stored); open_pii
 * replaces a sealed r->pii with the opened map. Both return 0,
 * MDB_NOTFOUND when the guest's key is gone (erased: open_pii leaves pii
 * nil), EIO when it does not open, or an LMDB error. open_reading does
 * the same inside the visit callback of crm_log_read_all or
 * crm_log_read_stream, in that read's transaction. */
int crm_log_pii_bytes(crm_log *log, struct MDB_txn *txn, const crm_record *r,
                      msgpack_zone *z, const uint8_t **pii, size_t *len);
int crm_log_open_pii(crm_log *log, struct MDB_txn *txn, crm_record *r,
                     msgpack_zone *z);
int crm_log_open_reading(crm_log *log, crm_record *r, msgpack_zone *z);
/* The stored record at position in txn, decoded into z with its personal
 * part opened (nil for an erased guest): 0, MDB_NOTFOUND (no such
 * position), MDB_CORRUPTED, EIO or an LMDB error. */
int crm_log_record_open(crm_log *log, struct MDB_txn *txn, uint64_t position,
                        msgpack_zone *z, crm_record *r);
/* A guest's subject key as one read found it, so that the several
 * records of one guest a view opens unwrap it once: zero-initialised,
 * for one read transaction and one thread; crm_log_subject_wipe when the
 * read ends (it holds key material). */
typedef struct crm_log_subject {
    int state; /* 0: nothing held; 1: key of stream; 2: stream has none */
    size_t len;
    char stream[CRM_STREAM_MAX];
    uint8_t key[CRM_KEY_LEN];
} crm_log_subject;
/* As crm_log_record_open, the subject key taken from sk when it is the
 * record's guest's, else read and kept in sk. */
int crm_log_record_open_subject(crm_log *log, struct MDB_txn *txn,
                                uint64_t position, msgpack_zone *z,
                                crm_log_subject *sk, crm_record *r);
void crm_log_subject_wipe(crm_log_subject *sk);
/* 1 if the tenant's personal data is sealed (it was made with a master
 * key). */
int crm_log_sealed(const crm_log *log);

/* Rotates the tenant key (vault.h): a new key in tenant.key's other
 * slot, every subject key and the index key rewrapped under it in one
 * transaction (appends wait meanwhile; no record is rewritten), then the
 * old key's slot overwritten. *rewrapped: subject keys; *epoch: the new
 * key's. CRM_ERR_BAD_REQUEST for a tenant without keys. */
crm_err crm_log_rotate_key(crm_log *log, uint64_t *rewrapped, uint32_t *epoch,
                           crm_error *why);

/* The subject keys of the tenant's guests (opened: an export's keys,
 * audit.keys), in stream id order from the first id after
 * after[0..after_len) on (from the first when after_len is 0), while fn
 * returns 0 and at most max. An erased guest has none. CRM_ERR_BAD_REQUEST
 * for a tenant without keys. Any thread. */
typedef int (*crm_log_key_fn)(void *arg, const char *stream, size_t len,
                              const uint8_t key[CRM_KEY_LEN]);
crm_err crm_log_subject_keys(crm_log *log, const char *after,
                             size_t after_len, size_t max, crm_log_key_fn fn,
                             void *arg, crm_error *why);

/* The position of the stored event with this id, in txn (a read of
 * crm_log_proj_read's fn): 0, MDB_NOTFOUND when none is, or an LMDB
 * error. */
int crm_log_event_position(crm_log *log, MDB_txn *txn,
                           const uint8_t id[CRM_ID_LEN], uint64_t *position);

/* The log's projections (owned by the log; NULL when it has none). */
const crm_proj_set *crm_log_projections(const crm_log *log);

/* What a batch's check (batch.h) may read: the log as the write
 * transaction sees it, this commit's earlier batches included. */
struct MDB_txn;
/* Version of a stream's last event; CRM_ERR_NOT_FOUND if it has none. */
crm_err crm_log_view_stream(const crm_log_view *v, const char *stream,
                            size_t len, uint64_t *version);
/* The write transaction itself, read-only for the check (projections). */
struct MDB_txn *crm_log_view_txn(const crm_log_view *v);

/* The access log (log_access.c): one entry per request that handed out
 * personal values of a guest, kept in the tenant's environment with an
 * index by guest and by key id. Entries are queued in memory and written
 * by a flusher thread in one transaction every CRM_ACCESS_FLUSH_MS or
 * CRM_ACCESS_FLUSH_N entries: an entry of the last interval is lost if
 * the process is killed; crm_log_close writes every one first. */
#define CRM_ACCESS_FLUSH_MS 100
#define CRM_ACCESS_FLUSH_N 4096
/* The index by guest and by key is written in passes (log_access.c):
 * this often, or once this many entries wait, and at close. */
#define CRM_ACCESS_INDEX_MS 10000
#define CRM_ACCESS_INDEX_N 65536
#define CRM_ACCESS_QUEUE_MAX 65536 /* past this, noting waits for a flush */
#define CRM_ACCESS_KEY_MAX 32
#define CRM_ACCESS_OP_MAX 32

typedef struct crm_access {
    int64_t time; /* µs UTC */
    uint64_t seq; /* set when stored: orders entries of one µs */
    uint8_t role; /* crm_role */
    uint8_t key_len, op_len, guest_len;
    char key[CRM_ACCESS_KEY_MAX]; /* key id */
    char op[CRM_ACCESS_OP_MAX];
    char guest[CRM_STREAM_MAX];
} crm_access;

/* Queues a copy of a (seq is ignored). Never fails: while
 * CRM_ACCESS_QUEUE_MAX entries wait, it waits for the flusher. A no-op
 * when the log keeps no access log. Any thread. */
void crm_log_access_note(crm_log *log, const crm_access *a);
/* Whether notes are kept (opts.access_off not set). */
int crm_log_access_on(const crm_log *log);
/* Waits until every entry queued before the call is written: CRM_OK, or
 * CRM_ERR_IO when storage refuses them (why says how) for 10 s. */
crm_err crm_log_access_flush(crm_log *log, crm_error *why);
/* crm_log_access_flush, then an index pass: every entry written is in
 * the index by guest and by key (listings read both anyway). */
crm_err crm_log_access_index(crm_log *log, crm_error *why);
/* Deletes up to max (0: every) entries older than before (µs), oldest
 * first; *n says how many. The flusher does this in small batches by
 * opts.access_keep_days. Any thread. */
crm_err crm_log_access_prune(crm_log *log, int64_t before, size_t max,
                             size_t *n, crm_error *why);
/* Entries of one guest (guest set), one key id (key set) or all,
 * with (time, seq) from (from, from_seq) on and time <= to (0: no end),
 * oldest first, while fn returns 0. Any thread. */
typedef struct crm_access_query {
    const char *guest, *key;
    size_t guest_len, key_len;
    int64_t from, to;
    uint64_t from_seq;
} crm_access_query;
typedef int (*crm_access_fn)(void *arg, const crm_access *a);
crm_err crm_log_access_list(crm_log *log, const crm_access_query *q,
                            crm_access_fn fn, void *arg, crm_error *why);

/* Checks the whole log: positions dense from 1, every record well formed
 * and of this tenant, the hash chain from genesis, every stream's versions
 * dense from 0 and linked, the streams and event_ids indexes agreeing with
 * the records. On failure returns CRM_ERR_CORRUPT with *bad_position the
 * first position found wrong (0 if the fault is in an index). */
crm_err crm_log_verify(crm_log *log, uint64_t *bad_position, crm_error *why);

#endif
