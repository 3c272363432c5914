/*
 * log_writer.c - the writer thread of a tenant log: the queue, group
 * commit, and acknowledging each group once its commit is durable.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log_int.h"
#include "mdberr.h"
#include "mdbfill.h"

/* Enlarges the map; readers are held off while LMDB remaps. */
int
crm_log_grow_map(crm_log *log, size_t want)
{
    size_t next = log->map_size < GIB ? log->map_size * 2 : log->map_size + GIB;
    if (next < want)
        next = want;
    if (next > log->map_max)
        next = log->map_max;
    if (next <= log->map_size)
        return -1;
    pthread_rwlock_wrlock(&log->maplock);
    int rc = mdb_env_set_mapsize(log->env, next);
    pthread_rwlock_unlock(&log->maplock);
    if (rc != 0)
        return -1;
    log->map_size = next;
    pthread_mutex_lock(&log->mu);
    log->st.map_grows++;
    pthread_mutex_unlock(&log->mu);
    return 0;
}

static void
fail_group(crm_batch *list, crm_err code, const char *msg)
{
    for (crm_batch *b = list; b; b = b->next)
        crm_error_set(&b->why, code, "%s", msg);
}

/* What a group holds so far. */
typedef struct group {
    crm_batch *list, *tail;
    size_t nb, nev, bytes;
} group;

/* Moves queued batches into g (log->mu held), as many as fit under
 * group_events and GROUP_BYTES (far below LMDB's dirty-page limit); a
 * group always takes its first batch.
 * Returns the first one taken, or NULL when the next does not fit. */
static crm_batch *
take_queued(crm_log *log, group *g)
{
    crm_batch *first = log->qhead, *last = NULL;
    size_t n = 0;
    for (crm_batch *b = first; b; b = b->next) {
        if (g->nb + n > 0 && (g->nev + b->n > log->group_events ||
                              g->bytes + b->content.size > GROUP_BYTES))
            break;
        last = b;
        n++;
        g->nev += b->n;
        g->bytes += b->content.size;
    }
    if (last == NULL)
        return NULL;
    log->qhead = last->next;
    if (log->qhead == NULL)
        log->qtail = NULL;
    log->qbatches -= n;
    last->next = NULL;
    if (g->tail)
        g->tail->next = first;
    else
        g->list = first;
    g->tail = last;
    g->nb += n;
    return first;
}

/* While the group's transaction is open, applies the batches that come
 * until `expect` are in, the group is full or dl passes: the submitters
 * acknowledged by the last commit come back one after the other, and the
 * first ones are written while the writer waits for the last. */
static int
apply_arrivals(crm_log *log, MDB_txn *txn, group *g, size_t expect,
               const struct timespec *dl, uint64_t *pos,
               uint8_t hash[CRM_HASH_LEN], int64_t *now)
{
    int rc = 0;
    pthread_mutex_lock(&log->mu);
    while (rc == 0 && g->nb < expect && !log->closing) {
        if (log->qhead == NULL) {
            log->want = expect - g->nb; /* one wake-up for the rest */
            int w = pthread_cond_timedwait(&log->cv, &log->mu, dl);
            log->want = 1;
            if (w != 0 && log->qhead == NULL)
                break;
            continue;
        }
        crm_batch *b = take_queued(log, g);
        if (b == NULL)
            break; /* full */
        pthread_mutex_unlock(&log->mu);
        int64_t t = crm_now_us();
        if (t > *now)
            *now = t;
        for (; b && rc == 0; b = b->next)
            rc = crm_log_apply_batch(log, txn, b, pos, hash, *now);
        pthread_mutex_lock(&log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    return rc;
}

/* Writes a group in one transaction and one commit. g is NULL for a
 * checkpoint alone; expect > g->nb makes the group wait for more batches
 * until dl, applying them as they come (the first attempt only: a redo
 * writes what the group holds). */
static void
run_group(crm_log *log, group *g, int force_ckpt, size_t expect,
          const struct timespec *dl)
{
    for (;;) {
        crm_batch *list = g ? g->list : NULL;
        MDB_txn *txn;
        crm_error e;
        int rc = mdb_txn_begin(log->env, NULL, 0, &txn);
        if (rc != 0) {
            crm_mdb_fail(&e, rc, "begin write");
            fail_group(list, e.code, e.msg);
            return;
        }
        crm_scache_clear(log->pending);
        log->erase_due = 0;
        /* A round begins when enough heads are dirty or a second has
         * passed; an idle log or a closing one finishes it at once, and a
         * closing one writes every dirty head (nothing left to replay). */
        size_t nov = crm_scache_dirty(log->overlay), slice_end = 0;
        if (nov > 0 &&
            (force_ckpt ||
             (log->ckpt_n == 0 &&
              (nov >= log->ckpt_streams ||
               crm_mono_ns() - log->last_ckpt_ns >= log->ckpt_ns))) &&
            crm_log_ckpt_begin(log) != 0)
            log->ckpt_n = 0; /* no memory for it now: a later commit */
        int ckpt = log->ckpt_n > 0;
        if (ckpt)
            rc = crm_log_ckpt_slice(log, txn, force_ckpt || list == NULL, &slice_end);
        uint64_t pos = log->head_pos;
        uint8_t hash[CRM_HASH_LEN];
        memcpy(hash, log->head_hash, CRM_HASH_LEN);
        int64_t now = crm_now_us();
        if (now < log->last_recorded)
            now = log->last_recorded; /* recorded_at never goes back */

        for (crm_batch *b = list; b && rc == 0; b = b->next)
            rc = crm_log_apply_batch(log, txn, b, &pos, hash, now);
        if (rc == 0 && g && expect > g->nb)
            rc = apply_arrivals(log, txn, g, expect, dl, &pos, hash, &now);
        expect = 0;
        list = g ? g->list : NULL;
        /* Room for this transaction's heads is made before the commit, so
         * the merge after it cannot fail. Growing moves the table that
         * readers probe: it happens under their lock. */
        if (rc == 0) {
            pthread_mutex_lock(&log->ovl_mu);
            if (crm_scache_reserve(log->overlay,
                                   crm_scache_count(log->pending)) != 0)
                rc = ENOMEM;
            pthread_mutex_unlock(&log->ovl_mu);
        }
        if (rc == 0 && pos != log->head_pos)
            rc = crm_proj_mark(log->proj, txn, pos);
        if (rc == 0 && (pos != log->head_pos || ckpt)) {
            uint8_t hv[HEADVAL_LEN];
            put_be64(hv, pos);
            memcpy(hv + 8, hash, CRM_HASH_LEN);
            put_be64(hv + 8 + CRM_HASH_LEN, (uint64_t)now);
            MDB_val k = {4, "head"}, v = {HEADVAL_LEN, hv};
            rc = mdb_put(txn, log->dbi_meta, &k, &v, 0);
        }
        /* a signed checkpoint of the head this commit makes, now and
         * then, in the same transaction */
        int sign = rc == 0 && crm_log_sign_due(log, pos);
        if (sign)
            rc = crm_log_sign_put(log, txn, pos, hash, now, NULL);
        if (rc == 0)
            rc = mdb_txn_commit(txn); /* durable: fsync before return */
        else
            mdb_txn_abort(txn);
        if (rc != 0)
            log->skey_gen++; /* keys cached by it may not be stored */

        if (rc == LOG_REDO)
            continue; /* a batch met a stored id: redo it carefully */
        if (rc == MDB_MAP_FULL) {
            if (crm_log_grow_map(log, 0) == 0)
                continue; /* redo the whole group in a larger map */
            fail_group(list, CRM_ERR_UNAVAILABLE,
                       "tenant storage is at its size limit");
            return;
        }
        if (rc != 0) {
            crm_mdb_fail(&e, rc, "commit");
            fail_group(list, e.code, e.msg);
            return;
        }

        int ended = ckpt && slice_end == log->ckpt_n;
        if (ckpt)
            log->ckpt_next = slice_end;
        if (ended)
            crm_log_ckpt_end(log);
        pthread_mutex_lock(&log->mu);
        size_t nb = 0, nev = 0, ndup = 0, nconf = 0;
        for (crm_batch *b = list; b; b = b->next) {
            nb++;
            if (b->why.code != CRM_OK) {
                nconf++;
                continue;
            }
            for (size_t i = 0; i < b->n; i++)
                b->ev[i].dup ? ndup++ : nev++;
        }
        log->head_pos = pos;
        memcpy(log->head_hash, hash, CRM_HASH_LEN);
        log->last_recorded = now;
        pthread_mutex_unlock(&log->mu);
        /* after the head moved (a round covers what is at or before the
         * head it begins at) and before anyone hears of it */
        if (log->erase_due)
            crm_log_erase_kick(log);
        if (sign)
            crm_log_signed(log, pos);

        /* Then the stream heads, before anyone is acknowledged: a reader
         * never sees a stream position beyond the head. */
        pthread_mutex_lock(&log->ovl_mu);
        crm_scache_merge(log->overlay, log->pending);
        /* after the merge, which the reserve above made safe; a drop that
         * finds no memory leaves the cache as it was */
        if (ended && crm_scache_count(log->overlay) > log->cache_streams)
            crm_scache_drop_clean(log->overlay);
        pthread_mutex_unlock(&log->ovl_mu);
        crm_scache_clear(log->pending);
        if (list == NULL) {
            if (ckpt) {
                pthread_mutex_lock(&log->mu);
                log->st.checkpoint = log->streams_at;
                pthread_mutex_unlock(&log->mu);
            }
            return; /* a checkpoint alone */
        }

        pthread_mutex_lock(&log->mu);
        log->st.commits++;
        log->st.batches += nb;
        log->st.events += nev;
        log->st.duplicates += ndup;
        log->st.conflicts += nconf;
        int bucket = 0;
        while (bucket < CRM_LOG_GROUP_BUCKETS - 1 &&
               ((size_t)1 << bucket) < nev)
            bucket++;
        log->st.group_hist[bucket]++;
        uint64_t moved = pos != log->st.position ? pos : 0;
        log->st.position = pos;
        log->st.checkpoint = log->streams_at;
        pthread_mutex_unlock(&log->mu);
        if (moved && log->on_commit)
            log->on_commit(log->on_commit_arg, log, pos);

        return;
    }
}

/* Makes room ahead of the next commits: the map grows before it is full
 * (a MAP_FULL redo stays rare) and the data file is written ahead
 * (mdbfill.h: at four events per commit nearly every commit extended the
 * file and paid a metadata write for it). Runs after the group is
 * acknowledged, with no write transaction open, so no LMDB write can meet
 * the zeros; the next group waits for it (a remap, or up to 1 MiB of
 * zeros into the page cache, every few hundred commits at most). At open
 * (fill 0) only the map: a log opened for reads writes nothing. */
void
crm_log_room_ahead(crm_log *log, int fill)
{
    size_t used = crm_mdbfill_used(log->env);
    if (used > log->map_size / 4 * 3)
        crm_log_grow_map(log, 0);
    if (fill)
        crm_mdbfill(log->env, used, log->map_size, &log->fill_end);
}

/* The submitters acknowledged by one commit come back with their next
 * batch a little later, while the writer would already be starting the
 * next commit with whoever was fastest: groups would alternate between
 * large and small. So the writer expects as many batches as the last group
 * held: it opens the transaction with the first, writes the others as
 * they come (apply_arrivals) and commits when all are in, or at the latest
 * group_wait after its last commit ended (half of it after a late first
 * batch; CRM_LOG_GROUP_WAIT_US, a fraction of an fsync); the expectation resets
 * to what actually came (PostgreSQL's commit_delay / commit_siblings, made
 * adaptive). After the first batch, submitters wake the writer again only
 * when the rest are all there: a group costs two wake-ups, not one per
 * batch. One appender alone never waits. */

static void
deadline_in(struct timespec *dl, int64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, dl);
    ns += dl->tv_nsec;
    dl->tv_sec += (time_t)(ns / 1000000000);
    dl->tv_nsec = (long)(ns % 1000000000);
}

static void
sync_done(crm_batch *b, void *arg)
{
    (void)b, (void)arg; /* never called: ack_group wakes these itself */
}

/* Runs the done callbacks of a committed group. crm_log_append's waiters
 * are marked under one lock and woken by one broadcast after it, instead
 * of a lock, a signal and a futex round trip each. */
static void
ack_group(crm_log *log, crm_batch *list)
{
    crm_batch *sync = NULL;
    for (crm_batch *b = list, *next; b; b = next) {
        next = b->next; /* done may free b */
        if (b->done == sync_done) {
            b->next = sync;
            sync = b;
            continue;
        }
        b->next = NULL;
        b->done(b, b->done_arg);
    }
    if (sync == NULL)
        return;
    pthread_mutex_lock(&log->ack_mu);
    for (crm_batch *b = sync, *next; b; b = next) {
        next = b->next;
        b->next = NULL;
        b->acked = 1;
    }
    pthread_mutex_unlock(&log->ack_mu);
    pthread_cond_broadcast(&log->ack_cv); /* the log outlives its waiters */
}

void *
crm_log_writer_main(void *arg)
{
    crm_log *log = arg;
    size_t last_group = 1;
    struct timespec dl;

    pthread_mutex_lock(&log->mu);
    deadline_in(&dl, 0);
    for (;;) {
        log->want = 1;
        while (log->qhead == NULL && !log->closing && !log->ckpt_asked)
            pthread_cond_wait(&log->cv, &log->mu);
        if (log->qhead == NULL && log->closing)
            break;
        if (log->qhead == NULL) {
            /* Idle, and asked: checkpoint if the usual rule says so, so a
             * tenant that went quiet after a burst replays little. */
            log->ckpt_asked = 0;
            pthread_mutex_unlock(&log->mu);
            pthread_mutex_lock(&log->txn_mu);
            run_group(log, NULL, 0, 0, NULL);
            pthread_mutex_unlock(&log->txn_mu);
            pthread_mutex_lock(&log->mu);
            continue;
        }
        /* dl was set when the previous commit ended; a group that begins
         * late still gives its stragglers half of that wait */
        struct timespec late;
        deadline_in(&late, log->group_wait_ns / 2);
        if (late.tv_sec > dl.tv_sec ||
            (late.tv_sec == dl.tv_sec && late.tv_nsec > dl.tv_nsec))
            dl = late;
        group g = {0};
        take_queued(log, &g);
        atomic_store(&log->wants_txn, 1);
        pthread_mutex_unlock(&log->mu);

        pthread_mutex_lock(&log->txn_mu);
        pthread_mutex_lock(&log->mu);
        atomic_store(&log->wants_txn, log->qhead != NULL);
        pthread_mutex_unlock(&log->mu);
        run_group(log, &g, 0, last_group, &dl);
        last_group = g.nb;
        ack_group(log, g.list);
        deadline_in(&dl, log->group_wait_ns);
        crm_log_room_ahead(log, 1);
        pthread_mutex_unlock(&log->txn_mu);
        pthread_mutex_lock(&log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    /* A clean close leaves nothing to replay. */
    pthread_mutex_lock(&log->txn_mu);
    run_group(log, NULL, 1, 0, NULL);
    pthread_mutex_unlock(&log->txn_mu);
    return NULL;
}

void
crm_log_checkpoint(crm_log *log)
{
    pthread_mutex_lock(&log->mu);
    log->ckpt_asked = 1;
    pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
}

crm_err
crm_log_submit(crm_log *log, crm_batch *b, crm_log_done_fn done, void *arg)
{
    b->done = done;
    b->done_arg = arg;
    b->next = NULL;
    pthread_mutex_lock(&log->mu);
    if (log->closing) {
        pthread_mutex_unlock(&log->mu);
        return crm_error_set(&b->why, CRM_ERR_CLOSED, "log is closing");
    }
    if (log->qtail)
        log->qtail->next = b;
    else
        log->qhead = b;
    log->qtail = b;
    log->qbatches++;
    atomic_store(&log->wants_txn, 1);
    if (log->qbatches >= log->want)
        pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
    return CRM_OK;
}

crm_err
crm_log_append(crm_log *log, crm_batch *b, crm_error *why)
{
    b->acked = 0;
    crm_err err = crm_log_submit(log, b, sync_done, NULL);
    if (err == CRM_OK) {
        pthread_mutex_lock(&log->ack_mu);
        while (!b->acked)
            pthread_cond_wait(&log->ack_cv, &log->ack_mu);
        pthread_mutex_unlock(&log->ack_mu);
    }
    return crm_batch_result(b, why);
}

