/*
 * proj.h - the projection engine: views kept as pure functions of a
 * tenant's log, in named databases of the tenant's LMDB environment.
 *
 * A projection is one module with one small interface (crm_proj_def): its
 * name, a format version, the databases it owns and an apply function
 * that folds one stored record into them inside a given write
 * transaction. Projections read neither the clock nor the network and
 * never append: what depends on "now" is computed when asked.
 *
 * Each projection's databases exist in two generations, "p:<name>:<g>:<db>"
 * with g 0 or 1; meta "proj:<name>" says which one is live, its format and
 * the position it has applied. The server applies every live projection
 * inline, in the append's own transaction. A rebuild fills the other
 * generation from the log and, in the transaction that reaches the head,
 * compares it with the live one and makes it live: readers never see a
 * half-built view, and a rebuild killed half-way leaves the live one as
 * it was.
 *
 * Functions that work inside a transaction return 0 or an LMDB error code;
 * the others return crm_err. The set is used by one writer at a time
 * (the log serialises writers); readers only call crm_proj_live.
 */
#ifndef CRM_PROJ_H
#define CRM_PROJ_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "record.h"

#define CRM_PROJ_DBS_MAX 4
#define CRM_PROJ_MAX 16

typedef struct crm_proj_set crm_proj_set;

/* What apply sees: the transaction and the databases of the generation it
 * writes, in the order of def->dbs; and, for crm_settings_for
 * (settings.h), the live database of the settings projection (has_settings
 * 0 when the set keeps none: the defaults apply) and the set's cache of
 * resolved settings. */
typedef struct crm_proj_ctx {
    MDB_txn *txn;
    const MDB_dbi *dbi;
    int has_settings;
    MDB_dbi settings;
    struct crm_settings_cache *settings_cache;
    const uint8_t *index_key; /* CRM_PROJ_INDEX_KEY_LEN bytes */
} crm_proj_ctx;

/* The tenant's key for blind indexes (HMAC of normalised personal values,
 * normalize.h): 32 random bytes made when the tenant's log is first
 * opened, wrapped by the tenant key in a sealed tenant (vault.h), else
 * kept in meta "index_key". */
#define CRM_PROJ_INDEX_KEY_LEN 32

typedef struct crm_proj_def {
    const char *name;   /* [a-z0-9_]{1,24} */
    uint32_t format;    /* a change rebuilds the projection on open */
    size_t ndbs;
    const char *dbs[CRM_PROJ_DBS_MAX];
    /* Folds r into the projection: 0 or an LMDB error. Pure. */
    int (*apply)(const crm_proj_ctx *cx, const crm_record *r);
    /* keeps values blinded under the index key: rebuilt under a new one
     * when the key changes (crm_proj_rekey_begin) */
    int blind;
} crm_proj_def;

/* For apply functions whose keys start with a guest's stream id and
 * 0x00: deletes every key of stream[0..len) from db. 0 or an LMDB
 * error. */
int crm_proj_del_stream(MDB_txn *txn, MDB_dbi db, const char *stream,
                        size_t len);

/* Opens the databases of defs[0..n) (both generations) in txn, a write
 * transaction of the tenant environment that the caller commits, and
 * reads their meta from dbi_meta. Projections with no meta yet start at
 * position 0, generation 0. index_key is the tenant's (the log keeps it
 * sealed, vault.h), or NULL for one kept in meta "index_key". */
crm_err crm_proj_open(MDB_txn *txn, MDB_dbi dbi_meta, const uint8_t *index_key,
                      const crm_proj_def *const *defs, size_t n,
                      crm_proj_set **out, crm_error *why);
void crm_proj_close(crm_proj_set *s); /* accepts NULL */

size_t crm_proj_count(const crm_proj_set *s);
const crm_proj_def *crm_proj_def_at(const crm_proj_set *s, size_t i);
/* The tenant's index key (for the queries of blind indexes). */
const uint8_t *crm_proj_index_key(const crm_proj_set *s);
/* Index of the projection called name, or -1. */
int crm_proj_index(const crm_proj_set *s, const char *name);
/* Its applied position; whether its stored format differs from the
 * def's (it must be rebuilt before it is served). */
uint64_t crm_proj_position(const crm_proj_set *s, size_t i);
int crm_proj_stale(const crm_proj_set *s, size_t i);

/* Inline: folds r into every live projection that is not stale. */
int crm_proj_apply(crm_proj_set *s, MDB_txn *txn, const crm_record *r);
/* Records in meta that every live projection has applied up to position
 * (once per commit, in the commit's transaction). */
int crm_proj_mark(crm_proj_set *s, MDB_txn *txn, uint64_t position);

/* Catching up, before the log is served: projections that are not stale
 * but have applied less than the log holds (crmd ran without them for a
 * while). behind gives the least position any of them has applied, or
 * head if none lags. catch_up folds r into each that has not applied it;
 * catch_up_mark records position for each behind it, in the transaction
 * that folded the records up to it; after that commits, caught_up makes
 * it so in memory (an aborted transaction changed nothing). */
uint64_t crm_proj_behind(const crm_proj_set *s, uint64_t head);
int crm_proj_catch_up(crm_proj_set *s, MDB_txn *txn, const crm_record *r);
int crm_proj_catch_up_mark(crm_proj_set *s, MDB_txn *txn, uint64_t position);
void crm_proj_caught_up(crm_proj_set *s, uint64_t position);

/* Rebuild of projection i into its other generation. begin empties it;
 * apply folds one record into it; finish (in the transaction that has
 * applied every record up to position, the head) compares it with the
 * live generation (*identical, and the first differing key as text in
 * diff when not), makes it live at position with the def's format, and
 * empties the old one. After the transaction of finish commits, call
 * crm_proj_swapped; if it aborts, nothing changed. */
int crm_proj_rebuild_begin(crm_proj_set *s, MDB_txn *txn, size_t i);
int crm_proj_rebuild_apply(crm_proj_set *s, MDB_txn *txn, size_t i,
                           const crm_record *r);
int crm_proj_rebuild_finish(crm_proj_set *s, MDB_txn *txn, size_t i,
                            uint64_t position, int *identical, char *diff,
                            size_t diff_len);
void crm_proj_swapped(crm_proj_set *s, size_t i, uint64_t position);

/* A new index key: every blind projection (def->blind) is rebuilt into
 * its other generation under key, as a rebuild is, and all of them are
 * made live together with the key. begin empties them; apply folds one
 * record into each; finish, in the transaction that has applied every
 * record up to position, makes them live (no comparison: their values
 * differ by design) and empties the old generations. After that
 * transaction commits, crm_proj_rekeyed makes the key the set's; if the
 * rekey is given up, crm_proj_rekey_abort forgets it. The caller keeps
 * readers out while the commit and crm_proj_rekeyed happen (a reader must
 * not blind a query under one key and look it up in the other's
 * generation). */
int crm_proj_rekey_begin(crm_proj_set *s, MDB_txn *txn,
                         const uint8_t key[CRM_PROJ_INDEX_KEY_LEN]);
int crm_proj_rekey_apply(crm_proj_set *s, MDB_txn *txn, const crm_record *r);
int crm_proj_rekey_finish(crm_proj_set *s, MDB_txn *txn, uint64_t position);
void crm_proj_rekeyed(crm_proj_set *s, uint64_t position);
void crm_proj_rekey_abort(crm_proj_set *s);
/* How many projections of the set are blind. */
size_t crm_proj_blind_count(const crm_proj_set *s);

/* For readers: the handles of projection i's databases that are live in
 * txn, in the order of its def, and the position they have applied (read
 * from txn's meta, so a read never mixes generations). */
int crm_proj_live(const crm_proj_set *s, MDB_txn *txn, size_t i,
                  MDB_dbi out[CRM_PROJ_DBS_MAX], uint64_t *position);

/* The projections this build knows, for crmd's configuration: by name,
 * or the i-th in the order they must apply (a projection may read those
 * before it in the same transaction); NULL past the end. */
const crm_proj_def *crm_proj_builtin(const char *name);
const crm_proj_def *crm_proj_builtin_at(size_t i);

#endif
