/*
 * log_access.c - the access log: who was handed a guest's personal
 * values, kept in the tenant's own environment (DESIGN section 5; log.h).
 *
 * A read must not pay a commit: request threads only queue an entry
 * (a copy under a mutex); one flusher thread per log writes what is
 * queued in one write transaction every CRM_ACCESS_FLUSH_MS, or as soon
 * as CRM_ACCESS_FLUSH_N are waiting, under txn_mu like any other writer
 * of the environment, and prunes what retention lets go in the same
 * transaction. The price is a window: entries queued within the last
 * flush interval are lost if the process is killed; crm_log_close
 * flushes everything first, and crm_log_access_flush lets a listing see
 * every read made before it.
 *
 * Databases: "access" (time BE8 | seq BE8 -> entry), "access_ix"
 * ('g' | day BE4 | len | guest | time | seq and the same with 'k' and the
 * key id, both -> empty) and "access_new" (seq BE8 -> time BE8). A
 * guest's or a key's entries of one UTC day are one range, so asking
 * about one guest never walks a busy tenant's whole log (a seek per day
 * that has entries). seq grows across restarts (the last stored one + 1):
 * two entries of one microsecond, or of a clock set back, never share a
 * key.
 *
 * The index keys are what costs: each lands on a page of its own guest,
 * so writing them with every flush rewrote about one page per read. A
 * flush writes the entries (appended in time order) and their seqs into
 * access_new (appended); the index keys of everything in access_new are
 * written, sorted, in one pass every CRM_ACCESS_INDEX_MS or
 * CRM_ACCESS_INDEX_N entries and at close, into today's part of the
 * index only. A listing by guest or key reads the index and the entries
 * of access_new (at most CRM_ACCESS_INDEX_N and a flush) in one read
 * transaction and merges them in (time, seq) order. Entries stored before
 * this layout (format 1 of the index) are put back into access_new at
 * open, and the first pass indexes them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log_int.h"
#include "mdberr.h"

#define ENTRY_FMT 1
#define IX_FMT 2          /* meta "access_ix": the index's layout */
#define PRUNE_MIN 512     /* entries pruned per transaction, at least */
#define IDLE_PRUNE_NS 1000000000LL /* an idle log looks for old ones this often */
#define IXKEY_MAX (2 + 4 + 64 + 16)
#define DAY_US (86400LL * 1000000)

struct crm_log_access {
    MDB_dbi db, ix, fresh; /* fresh: access_new */
    uint64_t unindexed;    /* entries in access_new (flusher) */
    int off;
    int64_t keep_us; /* 0: forever */
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* the flusher's wake-up */
    pthread_cond_t done_cv; /* room in the queue, or a flush written */
    crm_access *q;          /* queued, not yet taken by the flusher */
    size_t n, cap;
    uint64_t noted, written; /* entries queued / written, ever */
    uint64_t seq;            /* next seq (flusher) */
    int stop, running, now_asked, index_asked;
    uint64_t passes; /* index passes asked for and done (or not needed) */
    char fail[160];          /* why the last flush failed, "" else */
    pthread_t thread;
};

static int64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t
time_key(int64_t t)
{
    return t < 0 ? 0 : (uint64_t)t;
}

static uint32_t
day_of(uint64_t tk)
{
    return (uint32_t)(tk / DAY_US);
}

/* kind | day | len | id: the prefix of one id's keys of one day. */
static size_t
ix_prefix(uint8_t *kb, char kind, uint32_t day, const char *id, size_t len)
{
    kb[0] = (uint8_t)kind;
    kb[1] = (uint8_t)(day >> 24);
    kb[2] = (uint8_t)(day >> 16);
    kb[3] = (uint8_t)(day >> 8);
    kb[4] = (uint8_t)day;
    kb[5] = (uint8_t)len;
    memcpy(kb + 6, id, len);
    return 6 + len;
}

static size_t
ix_key(uint8_t *kb, char kind, const char *id, size_t len, int64_t t,
       uint64_t seq)
{
    size_t n = ix_prefix(kb, kind, day_of(time_key(t)), id, len);
    put_be64(kb + n, time_key(t));
    put_be64(kb + n + 8, seq);
    return n + 16;
}

static size_t
entry_pack(const crm_access *a, uint8_t *vb)
{
    size_t n = 0;
    vb[n++] = ENTRY_FMT;
    vb[n++] = a->role;
    vb[n++] = a->key_len;
    memcpy(vb + n, a->key, a->key_len);
    n += a->key_len;
    vb[n++] = a->op_len;
    memcpy(vb + n, a->op, a->op_len);
    n += a->op_len;
    vb[n++] = a->guest_len;
    memcpy(vb + n, a->guest, a->guest_len);
    return n + a->guest_len;
}

/* A stored entry (k, v) into *a: 0 or MDB_CORRUPTED. */
static int
entry_unpack(const MDB_val *k, const MDB_val *v, crm_access *a)
{
    const uint8_t *p = v->mv_data, *end = p + v->mv_size;
    memset(a, 0, sizeof(*a));
    if (k->mv_size != 16 || v->mv_size < 5 || p[0] != ENTRY_FMT)
        return MDB_CORRUPTED;
    a->time = (int64_t)get_be64(k->mv_data);
    a->seq = get_be64((const uint8_t *)k->mv_data + 8);
    a->role = p[1];
    p += 2;
    struct {
        uint8_t *len;
        char *buf;
        size_t cap;
    } part[3] = {{&a->key_len, a->key, sizeof(a->key)},
                 {&a->op_len, a->op, sizeof(a->op)},
                 {&a->guest_len, a->guest, sizeof(a->guest)}};
    for (int i = 0; i < 3; i++) {
        if (p >= end || *p > part[i].cap || (size_t)(end - p - 1) < *p)
            return MDB_CORRUPTED;
        *part[i].len = *p;
        memcpy(part[i].buf, p + 1, *p);
        p += 1 + *p;
    }
    return p == end ? 0 : MDB_CORRUPTED;
}

/* Writes n entries at the next seqs, in txn. */
static int
put_entries(crm_log *log, MDB_txn *txn, crm_access *a, size_t n)
{
    struct crm_log_access *x = log->access;
    uint64_t seq = x->seq;
    for (size_t i = 0; i < n; i++, seq++) {
        uint8_t kb[16], vb[8 + sizeof(a->key) + sizeof(a->op) +
                           sizeof(a->guest)];
        put_be64(kb, time_key(a[i].time));
        put_be64(kb + 8, seq);
        MDB_val k = {16, kb}, v = {entry_pack(&a[i], vb), vb},
                fk = {8, kb + 8}, fv = {8, kb};
        int rc = mdb_put(txn, x->db, &k, &v, MDB_NOOVERWRITE);
        if (rc != 0 ||
            (rc = mdb_put(txn, x->fresh, &fk, &fv, MDB_APPEND)) != 0)
            return rc;
    }
    return 0;
}

typedef struct ixk {
    uint8_t len;
    uint8_t b[IXKEY_MAX];
} ixk;

static int
ixk_cmp(const void *a, const void *b)
{
    const ixk *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->b, y->b, n);
    return c ? c : (int)x->len - (int)y->len;
}

/* The index keys of every entry in access_new, sorted and written, and
 * access_new emptied. *n: the entries indexed. */
static int
index_pass(crm_log *log, MDB_txn *txn, uint64_t *n)
{
    struct crm_log_access *x = log->access;
    MDB_stat st;
    *n = 0;
    int rc = mdb_stat(txn, x->fresh, &st);
    if (rc != 0 || st.ms_entries == 0)
        return rc;
    ixk *keys = malloc(2 * st.ms_entries * sizeof(*keys));
    if (keys == NULL)
        return ENOMEM;
    MDB_cursor *cur;
    size_t nk = 0;
    if ((rc = mdb_cursor_open(txn, x->fresh, &cur)) != 0) {
        free(keys);
        return rc;
    }
    MDB_val fk, fv;
    for (rc = mdb_cursor_get(cur, &fk, &fv, MDB_FIRST);
         rc == 0 && nk + 2 <= 2 * st.ms_entries;
         rc = mdb_cursor_get(cur, &fk, &fv, MDB_NEXT)) {
        uint8_t kb[16];
        crm_access a;
        if (fk.mv_size != 8 || fv.mv_size != 8) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(kb, fv.mv_data, 8);
        memcpy(kb + 8, fk.mv_data, 8);
        MDB_val k = {16, kb}, v;
        if ((rc = mdb_get(txn, x->db, &k, &v)) == MDB_NOTFOUND)
            continue; /* pruned meanwhile */
        if (rc != 0 || (rc = entry_unpack(&k, &v, &a)) != 0)
            break;
        keys[nk].len = (uint8_t)ix_key(keys[nk].b, 'g', a.guest, a.guest_len,
                                       a.time, a.seq);
        nk++;
        keys[nk].len =
            (uint8_t)ix_key(keys[nk].b, 'k', a.key, a.key_len, a.time, a.seq);
        nk++;
        (*n)++;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    /* in key order the pages of one guest's day are written together */
    qsort(keys, nk, sizeof(*keys), ixk_cmp);
    MDB_val e = {0, ""};
    for (size_t i = 0; rc == 0 && i < nk; i++) {
        MDB_val k = {keys[i].len, keys[i].b};
        rc = mdb_put(txn, x->ix, &k, &e, 0);
    }
    free(keys);
    return rc == 0 ? mdb_drop(txn, x->fresh, 0) : rc;
}

/* Deletes up to max entries older than before (µs), oldest first, with
 * their index keys. *n: how many. */
static int
prune(crm_log *log, MDB_txn *txn, int64_t before, size_t max, size_t *n)
{
    struct crm_log_access *x = log->access;
    MDB_cursor *cur;
    *n = 0;
    int rc = mdb_cursor_open(txn, x->db, &cur);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        crm_access a;
        if (k.mv_size == 16 && get_be64(k.mv_data) >= time_key(before))
            break;
        if (entry_unpack(&k, &v, &a) == 0) {
            uint8_t ib[IXKEY_MAX];
            MDB_val g = {ix_key(ib, 'g', a.guest, a.guest_len, a.time, a.seq),
                         ib};
            if ((rc = mdb_del(txn, x->ix, &g, NULL)) != 0 &&
                rc != MDB_NOTFOUND)
                break;
            MDB_val kk = {ix_key(ib, 'k', a.key, a.key_len, a.time, a.seq),
                          ib};
            if ((rc = mdb_del(txn, x->ix, &kk, NULL)) != 0 &&
                rc != MDB_NOTFOUND)
                break;
            MDB_val fk = {8, (uint8_t *)k.mv_data + 8};
            if ((rc = mdb_del(txn, x->fresh, &fk, NULL)) != 0 &&
                rc != MDB_NOTFOUND)
                break;
        }
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        (*n)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* One write transaction: the n entries of a, then pruning before
 * (0: none), then the index pass when index is set. Takes txn_mu; grows
 * the map when it is full. */
static crm_err
write_txn(crm_log *log, crm_access *a, size_t n, int64_t before,
          size_t prune_max, int index, size_t *pruned, crm_error *why)
{
    struct crm_log_access *x = log->access;
    int rc;
    uint64_t indexed = 0;
    *pruned = 0;
    pthread_mutex_lock(&log->txn_mu);
    for (;;) {
        MDB_txn *txn;
        if ((rc = mdb_txn_begin(log->env, NULL, 0, &txn)) != 0)
            break;
        rc = put_entries(log, txn, a, n);
        if (rc == 0 && before > 0)
            rc = prune(log, txn, before, prune_max, pruned);
        if (rc == 0 && index)
            rc = index_pass(log, txn, &indexed);
        rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
        if (rc == MDB_MAP_FULL && crm_log_grow_map(log, 0) == 0)
            continue;
        break;
    }
    pthread_mutex_unlock(&log->txn_mu);
    if (rc != 0) {
        *pruned = 0;
        return crm_mdb_fail(why, rc, "write the access log");
    }
    x->seq += n;
    x->unindexed = index ? 0 : x->unindexed + n;
    return CRM_OK;
}

static int64_t
cutoff(const struct crm_log_access *x, int64_t now)
{
    return x->keep_us > 0 && now > x->keep_us ? now - x->keep_us : 0;
}

/* Whether the oldest entry is older than before (a read, no txn_mu). */
static int
has_older(crm_log *log, int64_t before)
{
    MDB_txn *txn;
    if (before <= 0 || crm_log_rd_begin(log, &txn, NULL) != CRM_OK)
        return 0;
    MDB_cursor *cur;
    MDB_val k, v;
    int old = 0;
    if (mdb_cursor_open(txn, log->access->db, &cur) == 0) {
        old = mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0 &&
              k.mv_size == 16 && get_be64(k.mv_data) < time_key(before);
        mdb_cursor_close(cur);
    }
    crm_log_rd_end(log, txn);
    return old;
}

static void *
flusher_main(void *arg)
{
    crm_log *log = arg;
    struct crm_log_access *x = log->access;
    crm_access *mine = NULL;
    size_t mine_cap = 0;
    int64_t last_prune = 0, last_index = mono_ns();
    int prune_more = 0;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        if (x->n < CRM_ACCESS_FLUSH_N && !x->stop && !x->now_asked &&
            !x->index_asked && !prune_more) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += CRM_ACCESS_FLUSH_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&x->cv, &x->mu, &ts);
        }
        /* take the queue: the noters go on filling the other buffer */
        crm_access *batch = x->q;
        size_t n = x->n, bcap = x->cap;
        x->q = mine;
        x->cap = mine_cap;
        x->n = 0;
        mine = batch;
        mine_cap = bcap;
        int stop = x->stop, index_asked = x->index_asked;
        x->now_asked = 0;
        x->index_asked = 0;
        pthread_mutex_unlock(&x->mu);

        int64_t now = crm_query_now_us();
        int64_t before = cutoff(x, now);
        int64_t mono = mono_ns();
        int look = before > 0 &&
                   (n > 0 || prune_more || mono - last_prune >= IDLE_PRUNE_NS);
        if (look && n == 0 && !prune_more) {
            last_prune = mono;
            look = has_older(log, before);
        }
        uint64_t waiting = x->unindexed + n;
        int index = waiting > 0 &&
                    (stop || index_asked || waiting >= CRM_ACCESS_INDEX_N ||
                     mono - last_index >= CRM_ACCESS_INDEX_MS * 1000000LL);
        crm_error why = {CRM_OK, ""};
        size_t pruned = 0, pmax = PRUNE_MIN > 2 * n ? PRUNE_MIN : 2 * n;
        crm_err err = CRM_OK;
        if (n > 0 || look || index)
            err = write_txn(log, mine, n, look ? before : 0, pmax, index,
                            &pruned, &why);
        if (look)
            last_prune = mono;
        if (index && err == CRM_OK)
            last_index = mono;
        else if (waiting == 0)
            last_index = mono; /* the interval counts from the first one */
        prune_more = err == CRM_OK && look && pruned == pmax;

        pthread_mutex_lock(&x->mu);
        if (index_asked && err == CRM_OK)
            x->passes++;
        if (err != CRM_OK && n > 0) {
            /* kept for the next round, ahead of what came meanwhile */
            snprintf(x->fail, sizeof(x->fail), "%s", why.msg);
            size_t need = n + x->n;
            if (need > x->cap) {
                crm_access *g = realloc(x->q, need * sizeof(*g));
                if (g) {
                    x->q = g;
                    x->cap = need;
                }
            }
            if (need <= x->cap) {
                memmove(x->q + n, x->q, x->n * sizeof(*x->q));
                memcpy(x->q, mine, n * sizeof(*mine));
                x->n = need;
            } else {
                x->written += n; /* out of memory: dropped, and said */
            }
        } else {
            if (err == CRM_OK)
                x->fail[0] = '\0';
            x->written += n;
        }
        pthread_cond_broadcast(&x->done_cv);
        if (stop && x->n == 0)
            break;
        if (stop && err != CRM_OK)
            break; /* storage refuses: nothing more to do at close */
    }
    pthread_mutex_unlock(&x->mu);
    free(mine);
    return NULL;
}

/* An index of another layout (or none recorded: format 1) is dropped
 * and every entry put into access_new, for the first pass to index. */
static int
upgrade(crm_log *log, MDB_txn *txn)
{
    struct crm_log_access *x = log->access;
    MDB_val mk = {9, "access_ix"}, mv;
    int rc = mdb_get(txn, log->dbi_meta, &mk, &mv);
    if (rc == 0 && mv.mv_size == 1 && ((uint8_t *)mv.mv_data)[0] == IX_FMT)
        return 0;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_drop(txn, x->ix, 0)) != 0 ||
        (rc = mdb_drop(txn, x->fresh, 0)) != 0 ||
        (rc = mdb_cursor_open(txn, x->db, &cur)) != 0)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16)
            continue;
        MDB_val fk = {8, (uint8_t *)k.mv_data + 8}, fv = {8, k.mv_data};
        if ((rc = mdb_put(txn, x->fresh, &fk, &fv, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    uint8_t f = IX_FMT;
    MDB_val nv = {1, &f};
    return mdb_put(txn, log->dbi_meta, &mk, &nv, 0);
}

int
crm_log_access_open(crm_log *log, MDB_txn *txn, const crm_log_opts *o)
{
    struct crm_log_access *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return ENOMEM;
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    pthread_cond_init(&x->done_cv, NULL);
    x->off = o->access_off;
    x->keep_us = (int64_t)o->access_keep_days * 86400 * 1000000LL;
    log->access = x;
    int rc;
    if ((rc = mdb_dbi_open(txn, "access", MDB_CREATE, &x->db)) != 0 ||
        (rc = mdb_dbi_open(txn, "access_ix", MDB_CREATE, &x->ix)) != 0 ||
        (rc = mdb_dbi_open(txn, "access_new", MDB_CREATE, &x->fresh)) != 0 ||
        (rc = upgrade(log, txn)) != 0)
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, x->db, &cur)) != 0)
        return rc;
    MDB_val k, v;
    x->seq = 1;
    if ((rc = mdb_cursor_get(cur, &k, &v, MDB_LAST)) == 0 && k.mv_size == 16)
        x->seq = get_be64((const uint8_t *)k.mv_data + 8) + 1;
    mdb_cursor_close(cur);
    MDB_stat st;
    if ((rc == 0 || rc == MDB_NOTFOUND) &&
        (rc = mdb_stat(txn, x->fresh, &st)) == 0)
        x->unindexed = st.ms_entries;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

crm_err
crm_log_access_start(crm_log *log, crm_error *why)
{
    struct crm_log_access *x = log->access;
    if (x->off)
        return CRM_OK;
    if (pthread_create(&x->thread, NULL, flusher_main, log) != 0)
        return crm_error_set(why, CRM_ERR_NOMEM,
                             "cannot start the access log's flusher");
    x->running = 1;
    return CRM_OK;
}

void
crm_log_access_close(crm_log *log)
{
    struct crm_log_access *x = log->access;
    if (x == NULL)
        return;
    if (x->running) {
        pthread_mutex_lock(&x->mu);
        x->stop = 1;
        pthread_cond_broadcast(&x->cv);
        pthread_mutex_unlock(&x->mu);
        pthread_join(x->thread, NULL);
    }
    free(x->q);
    pthread_cond_destroy(&x->done_cv);
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    free(x);
    log->access = NULL;
}

int
crm_log_access_on(const crm_log *log)
{
    return log->access && !log->access->off;
}

void
crm_log_access_note(crm_log *log, const crm_access *a)
{
    struct crm_log_access *x = log->access;
    if (x == NULL || !x->running)
        return;
    pthread_mutex_lock(&x->mu);
    /* a full queue holds the reader back: an entry is never dropped */
    while (x->n >= CRM_ACCESS_QUEUE_MAX && !x->stop)
        pthread_cond_wait(&x->done_cv, &x->mu);
    if (x->stop) {
        pthread_mutex_unlock(&x->mu);
        return;
    }
    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 256;
        crm_access *g = realloc(x->q, cap * sizeof(*g));
        if (g == NULL) {
            pthread_mutex_unlock(&x->mu);
            return;
        }
        x->q = g;
        x->cap = cap;
    }
    x->q[x->n++] = *a;
    x->noted++;
    if (x->n == CRM_ACCESS_FLUSH_N)
        pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

/* Asks the flusher to write what is queued (and, with index, to run an
 * index pass) and waits for it, 10 s at most. */
static crm_err
wait_flushed(crm_log *log, int index, crm_error *why)
{
    struct crm_log_access *x = log->access;
    if (x == NULL || !x->running)
        return CRM_OK;
    pthread_mutex_lock(&x->mu);
    uint64_t want = x->noted, pass = x->passes;
    if (index)
        x->index_asked = 1;
    else
        x->now_asked = 1;
    pthread_cond_signal(&x->cv);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    int rc = 0;
    while ((x->written < want || (index && x->passes == pass)) && !x->stop &&
           rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&x->done_cv, &x->mu, &ts);
    crm_err err = CRM_OK;
    if (x->written < want || (index && x->passes == pass))
        err = crm_error_set(why, CRM_ERR_IO, "the access log is not %s%s%s",
                            index ? "indexed" : "written",
                            x->fail[0] ? ": " : "", x->fail);
    pthread_mutex_unlock(&x->mu);
    return err;
}

crm_err
crm_log_access_flush(crm_log *log, crm_error *why)
{
    return wait_flushed(log, 0, why);
}

crm_err
crm_log_access_index(crm_log *log, crm_error *why)
{
    return wait_flushed(log, 1, why);
}

crm_err
crm_log_access_prune(crm_log *log, int64_t before, size_t max, size_t *n,
                     crm_error *why)
{
    return write_txn(log, NULL, 0, before, max ? max : SIZE_MAX, 0, n, why);
}

/* The entries of access_new that q asks for, in (time, seq) order. */
typedef struct tail {
    crm_access *e;
    size_t n, cap;
} tail;

static int
access_cmp(const void *a, const void *b)
{
    const crm_access *x = a, *y = b;
    uint64_t tx = time_key(x->time), ty = time_key(y->time);
    if (tx != ty)
        return tx < ty ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Whether (t, seq) is at or after q's cursor and not past its end. */
static int
in_range(const crm_access_query *q, uint64_t t, uint64_t seq)
{
    uint64_t from = time_key(q->from);
    if (t < from || (t == from && seq < q->from_seq))
        return 0;
    return q->to <= 0 || t <= time_key(q->to);
}

static int
tail_read(crm_log *log, MDB_txn *txn, const crm_access_query *q, int by,
          const char *id, size_t len, tail *t)
{
    struct crm_log_access *x = log->access;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, x->fresh, &cur);
    if (rc != 0)
        return rc;
    MDB_val fk, fv;
    for (rc = mdb_cursor_get(cur, &fk, &fv, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &fk, &fv, MDB_NEXT)) {
        if (fk.mv_size != 8 || fv.mv_size != 8) {
            rc = MDB_CORRUPTED;
            break;
        }
        uint64_t tk = get_be64(fv.mv_data), seq = get_be64(fk.mv_data);
        if (!in_range(q, tk, seq))
            continue;
        uint8_t kb[16];
        memcpy(kb, fv.mv_data, 8);
        memcpy(kb + 8, fk.mv_data, 8);
        MDB_val k = {16, kb}, v;
        if ((rc = mdb_get(txn, x->db, &k, &v)) == MDB_NOTFOUND)
            continue;
        if (t->n == t->cap) {
            size_t cap = t->cap ? 2 * t->cap : 64;
            crm_access *g = realloc(t->e, cap * sizeof(*g));
            if (g == NULL) {
                rc = ENOMEM;
                break;
            }
            t->e = g;
            t->cap = cap;
        }
        crm_access *a = &t->e[t->n];
        if (rc != 0 || (rc = entry_unpack(&k, &v, a)) != 0)
            break;
        if (by == 'g' ? a->guest_len == len && memcmp(a->guest, id, len) == 0
                      : a->key_len == len && memcmp(a->key, id, len) == 0)
            t->n++;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (rc == 0 && t->n > 1)
        qsort(t->e, t->n, sizeof(*t->e), access_cmp);
    return rc;
}

/* Hands the tail entries before (t, seq) (all: t UINT64_MAX) to fn:
 * 1 when fn stopped. */
static int
tail_upto(tail *tl, size_t *at, uint64_t t, uint64_t seq, crm_access_fn fn,
          void *arg)
{
    for (; *at < tl->n; (*at)++) {
        const crm_access *a = &tl->e[*at];
        uint64_t ta = time_key(a->time);
        if (ta > t || (ta == t && a->seq >= seq))
            return 0;
        if (fn(arg, a)) {
            (*at)++;
            return 1;
        }
    }
    return 0;
}

/* One guest's or key's entries from the index, a day at a time, merged
 * with the tail's. */
static int
list_by(crm_log *log, MDB_txn *txn, const crm_access_query *q, int by,
        const char *id, size_t len, crm_access_fn fn, void *arg)
{
    struct crm_log_access *x = log->access;
    tail tl = {0};
    int rc = tail_read(log, txn, q, by, id, len, &tl);
    MDB_cursor *cur = NULL;
    if (rc == 0)
        rc = mdb_cursor_open(txn, x->ix, &cur);
    size_t at = 0;
    int stopped = 0;
    uint32_t day = day_of(time_key(q->from));
    uint32_t last = q->to > 0 ? day_of(time_key(q->to)) : UINT32_MAX;
    while (rc == 0 && !stopped && day <= last) {
        uint8_t kb[IXKEY_MAX];
        size_t plen = ix_prefix(kb, (char)by, day, id, len);
        size_t klen = plen;
        if (day == day_of(time_key(q->from))) {
            put_be64(kb + plen, time_key(q->from));
            put_be64(kb + plen + 8, q->from_seq);
            klen += 16;
        }
        MDB_val k = {klen, kb}, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            const uint8_t *p = k.mv_data;
            if (k.mv_size != plen + 16 || memcmp(p, kb, plen) != 0)
                break;
            uint64_t tk = get_be64(p + plen), seq = get_be64(p + plen + 8);
            if (q->to > 0 && tk > time_key(q->to)) {
                day = last; /* past the end */
                break;
            }
            if ((stopped = tail_upto(&tl, &at, tk, seq, fn, arg)) != 0)
                break;
            uint8_t mb[16];
            memcpy(mb, p + plen, 16);
            MDB_val pk = {16, mb}, pv;
            if ((rc = mdb_get(txn, x->db, &pk, &pv)) == MDB_NOTFOUND)
                continue;
            crm_access a;
            if (rc != 0 || (rc = entry_unpack(&pk, &pv, &a)) != 0)
                break;
            if ((stopped = fn(arg, &a)) != 0)
                break;
        }
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break; /* nothing after: no later day has keys */
        }
        if (rc != 0 || stopped || day >= last)
            break;
        /* the next day that has any key of this kind */
        const uint8_t *p = k.mv_data;
        if (k.mv_size < 6 || p[0] != (uint8_t)by)
            break;
        uint32_t d = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 8 | p[4];
        day = d > day ? d : day + 1;
    }
    if (rc == 0 && !stopped)
        tail_upto(&tl, &at, UINT64_MAX, 0, fn, arg);
    if (cur)
        mdb_cursor_close(cur);
    free(tl.e);
    return rc;
}

crm_err
crm_log_access_list(crm_log *log, const crm_access_query *q,
                    crm_access_fn fn, void *arg, crm_error *why)
{
    struct crm_log_access *x = log->access;
    MDB_txn *txn;
    crm_err err = crm_log_rd_begin(log, &txn, why);
    if (err != CRM_OK)
        return err;
    int by = q->guest ? 'g' : q->key ? 'k' : 0;
    int rc;
    if (by) {
        rc = list_by(log, txn, q, by, q->guest ? q->guest : q->key,
                     q->guest ? q->guest_len : q->key_len, fn, arg);
        crm_log_rd_end(log, txn);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return crm_mdb_fail(why, rc, "read the access log");
        return CRM_OK;
    }
    MDB_cursor *cur;
    uint8_t kb[16];
    MDB_val k, v;
    rc = mdb_cursor_open(txn, x->db, &cur);
    if (rc != 0)
        goto done;
    put_be64(kb, time_key(q->from));
    put_be64(kb + 8, q->from_seq);
    k.mv_size = 16;
    k.mv_data = kb;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16)
            break;
        if (q->to > 0 && get_be64(k.mv_data) > time_key(q->to))
            break;
        crm_access a;
        if ((rc = entry_unpack(&k, &v, &a)) != 0)
            break;
        if (fn(arg, &a))
            break;
    }
    mdb_cursor_close(cur);
done:
    crm_log_rd_end(log, txn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return crm_mdb_fail(why, rc, "read the access log");
    return CRM_OK;
}
