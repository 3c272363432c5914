/*
 * log_rebuild.c - rebuilding projections from the log while appends go
 * on (proj.h: the other generation is filled, then made live).
 *
 * A rebuild is one pass over the log (crm_log_run_pass, which an
 * erasure round's rekey uses too). It runs on the caller's thread in write transactions, each
 * under txn_mu, so the writer commits between them: one ends after
 * CHUNK_MIN records once the writer wants the environment, else after
 * CHUNK_MAX (a long transaction writes a page that many records touch
 * once, where short ones would write it for each). The transaction whose scan reaches the end of the log is the one
 * that finishes: no commit can come in between while txn_mu is held, so
 * the rebuilt generation is then exactly at the head, where the inline
 * one is too, and the two are compared before the swap.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log_int.h"
#include "mdberr.h"

#define CHUNK_MIN 5000   /* records per transaction when appends wait */
#define CHUNK_MAX 200000 /* when none do: a few hundred MB of dirty pages at most */

typedef struct chunk {
    crm_log *log;
    MDB_txn *txn;
    const crm_log_pass *pass;
    uint64_t last, n;
    int rc, stopped;
} chunk;

static int
fold(void *arg, uint64_t key_pos, const MDB_val *raw, const crm_record *r)
{
    chunk *c = arg;
    (void)raw;
    c->rc = c->pass->apply(c->pass->arg, c->txn, r);
    if (c->rc != 0)
        return 1;
    c->last = key_pos;
    c->n++;
    if (c->n >= CHUNK_MAX ||
        (c->n >= CHUNK_MIN && (c->n & 255) == 0 &&
         atomic_load_explicit(&c->log->wants_txn, memory_order_relaxed)))
        c->stopped = 1;
    return c->stopped;
}

/* Commits the transaction that finished pass p: with readers kept out
 * (and p's swap made before they come back) when p asks for it. */
static int
commit_finish(crm_log *log, const crm_log_pass *p, MDB_txn *txn,
              uint64_t head)
{
    if (!p->exclusive) {
        int rc = mdb_txn_commit(txn);
        if (rc == 0 && p->swap)
            p->swap(p->arg, head);
        return rc;
    }
    pthread_rwlock_wrlock(&log->maplock);
    int rc = mdb_txn_commit(txn);
    if (rc == 0 && p->swap)
        p->swap(p->arg, head);
    pthread_rwlock_unlock(&log->maplock);
    return rc;
}

/* One write transaction of pass p: begins (from == 0) or folds the next
 * records in, finishing when they run out. *done once finished. */
static crm_err
step(crm_log *log, const crm_log_pass *p, msgpack_zone *z, uint64_t *from,
     uint64_t *events, uint64_t *position, int *done, crm_error *why)
{
    for (;;) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(log->env, NULL, 0, &txn);
        if (rc != 0)
            return crm_mdb_fail(why, rc, p->name);
        chunk c = {log, txn, p, 0, 0, 0, 0};
        crm_err err = CRM_OK;
        int finished = 0;
        uint64_t head = log->head_pos; /* stable: txn_mu is held */
        if (*from == 0) {
            rc = p->begin(p->arg, txn);
            if (rc == 0 && p->apply == NULL) { /* nothing to fold: done */
                finished = 1;
                rc = p->finish(p->arg, txn, head);
            }
        } else {
            err = crm_log_scan(log, txn, *from, z, 1, fold, &c, NULL, why);
            rc = c.rc;
            if (err == CRM_OK && rc == 0 && !c.stopped) {
                finished = 1;
                rc = p->finish(p->arg, txn, head);
            }
        }
        if (err != CRM_OK) {
            mdb_txn_abort(txn);
            return err;
        }
        if (rc != 0)
            mdb_txn_abort(txn);
        else
            rc = finished ? commit_finish(log, p, txn, head)
                          : mdb_txn_commit(txn);
        if (rc == MDB_MAP_FULL && crm_log_grow_map(log, 0) == 0)
            continue;
        if (rc != 0)
            return rc == EIO ? crm_error_set(why, CRM_ERR_IO,
                                             "%s: stored key material does "
                                             "not open", p->name)
                             : crm_mdb_fail(why, rc, p->name);
        if (*from == 0)
            *from = 1;
        else if (c.n > 0)
            *from = c.last + 1;
        *events += c.n;
        if (finished) {
            *position = head;
            *done = 1;
        }
        return CRM_OK;
    }
}

crm_err
crm_log_run_pass(crm_log *log, const crm_log_pass *p, uint64_t *events,
                 uint64_t *position, crm_error *why)
{
    msgpack_zone *z = msgpack_zone_new(4096);
    if (z == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    uint64_t from = 0, total;
    crm_log_head(log, &total, NULL);
    *events = *position = 0;
    int done = 0;
    crm_err err = CRM_OK;
    while (!done && err == CRM_OK) {
        pthread_mutex_lock(&log->mu);
        int closing = log->closing;
        pthread_mutex_unlock(&log->mu);
        if (closing) {
            err = crm_error_set(why, CRM_ERR_UNAVAILABLE,
                                "tenant is closing; %s stopped (the live "
                                "view is unchanged)", p->name);
            break;
        }
        pthread_mutex_lock(&log->txn_mu);
        err = step(log, p, z, &from, events, position, &done, why);
        pthread_mutex_unlock(&log->txn_mu);
        if (log->progress)
            log->progress(log->progress_arg, log->tenant, p->name, *events,
                          total > *events ? total : *events);
        /* Let appends that queued meanwhile have their commit first. */
        pthread_mutex_lock(&log->mu);
        int waiting = atomic_load(&log->wants_txn);
        pthread_mutex_unlock(&log->mu);
        if (waiting && !done)
            usleep(500);
    }
    msgpack_zone_free(z);
    return err;
}

/* A rebuild of projection i as a pass. */
typedef struct rebuild {
    crm_log *log;
    size_t i;
    crm_log_rebuilt *out;
} rebuild;

static int
rb_begin(void *arg, MDB_txn *txn)
{
    rebuild *r = arg;
    return crm_proj_rebuild_begin(r->log->proj, txn, r->i);
}

static int
rb_apply(void *arg, MDB_txn *txn, const crm_record *rec)
{
    rebuild *r = arg;
    return crm_proj_rebuild_apply(r->log->proj, txn, r->i, rec);
}

static int
rb_finish(void *arg, MDB_txn *txn, uint64_t head)
{
    rebuild *r = arg;
    return crm_proj_rebuild_finish(r->log->proj, txn, r->i, head,
                                   &r->out->identical, r->out->diff,
                                   sizeof(r->out->diff));
}

static void
rb_swap(void *arg, uint64_t head)
{
    rebuild *r = arg;
    crm_proj_swapped(r->log->proj, r->i, head);
}

static crm_err
rebuild_one(crm_log *log, size_t i, crm_log_rebuilt *out, crm_error *why)
{
    const char *name = crm_proj_def_at(log->proj, i)->name;
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", name);
    rebuild r = {log, i, out};
    crm_log_pass p = {.name = name, .begin = rb_begin, .apply = rb_apply,
                      .finish = rb_finish, .swap = rb_swap, .arg = &r};
    int64_t t0 = crm_mono_ns();
    crm_err err = crm_log_run_pass(log, &p, &out->events, &out->position, why);
    out->seconds = (double)(crm_mono_ns() - t0) / 1e9;
    return err;
}

crm_err
crm_log_exclusive_begin(crm_log *log, crm_error *why)
{
    pthread_mutex_lock(&log->mu);
    int refused = log->closing || log->rebuilding;
    if (!refused)
        log->rebuilding = 1;
    pthread_mutex_unlock(&log->mu);
    if (!refused)
        return CRM_OK;
    return crm_error_set(why, CRM_ERR_UNAVAILABLE,
                         log->closing ? "tenant is closing"
                                      : "a rebuild, key rotation or erasure "
                                        "round of this tenant is running; "
                                        "try again when it ends");
}

void
crm_log_exclusive_end(crm_log *log)
{
    /* crm_log_close waits for this before it frees the log */
    pthread_mutex_lock(&log->mu);
    log->rebuilding = 0;
    pthread_cond_broadcast(&log->cv);
    pthread_mutex_unlock(&log->mu);
}

crm_err
crm_log_rebuild(crm_log *log, const char *name, crm_log_rebuilt *out,
                size_t *n, crm_error *why)
{
    *n = 0;
    int only = -1;
    if (name && (only = crm_proj_index(log->proj, name)) < 0)
        return crm_error_set(why, CRM_ERR_NOT_FOUND, "no projection '%s'",
                             name);
    crm_err err = crm_log_exclusive_begin(log, why);
    if (err != CRM_OK)
        return err;
    for (size_t i = 0; i < crm_proj_count(log->proj) && err == CRM_OK; i++) {
        if (only >= 0 && (size_t)only != i)
            continue;
        if ((err = rebuild_one(log, i, &out[*n], why)) == CRM_OK)
            (*n)++;
    }
    crm_log_exclusive_end(log);
    return err;
}

/* --- catching up at open ---------------------------------------------------
 * A projection that is current in format but has applied less than the
 * log holds (crmd ran without it for a while) folds the records it
 * missed before the log is served, every lagging projection record by
 * record as the writer would have, in transactions of CHUNK_MAX. */

typedef struct catch_up {
    crm_proj_set *proj;
    MDB_txn *txn;
    uint64_t last, n;
    int rc;
} catch_up;

static int
fold_missed(void *arg, uint64_t key_pos, const MDB_val *raw,
            const crm_record *r)
{
    catch_up *c = arg;
    (void)raw;
    if ((c->rc = crm_proj_catch_up(c->proj, c->txn, r)) != 0)
        return 1;
    c->last = key_pos;
    return ++c->n >= CHUNK_MAX;
}

crm_err
crm_log_catch_up(crm_log *log, crm_error *why)
{
    uint64_t head = log->head_pos, from = crm_proj_behind(log->proj, head);
    if (from >= head)
        return CRM_OK;
    uint64_t total = head - from, done = 0;
    msgpack_zone *z = msgpack_zone_new(4096);
    if (z == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    crm_err err = CRM_OK;
    while (err == CRM_OK && from < head) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(log->env, NULL, 0, &txn);
        if (rc != 0) {
            err = crm_mdb_fail(why, rc, "catch up projections");
            break;
        }
        catch_up c = {log->proj, txn, from, 0, 0};
        err = crm_log_scan(log, txn, from + 1, z, 1, fold_missed, &c, NULL, why);
        rc = c.rc;
        if (err == CRM_OK && rc == 0)
            rc = crm_proj_catch_up_mark(log->proj, txn, c.last);
        if (err != CRM_OK) {
            mdb_txn_abort(txn);
            break;
        }
        rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
        if (rc == MDB_MAP_FULL && crm_log_grow_map(log, 0) == 0)
            continue;
        if (rc != 0) {
            err = crm_mdb_fail(why, rc, "catch up projections");
            break;
        }
        crm_proj_caught_up(log->proj, c.last);
        done += c.last - from;
        from = c.last;
        if (c.n == 0)
            break; /* nothing past from: the head is where it was */
        if (log->progress)
            log->progress(log->progress_arg, log->tenant, "(catching up)",
                          done, total);
    }
    msgpack_zone_free(z);
    return err;
}
