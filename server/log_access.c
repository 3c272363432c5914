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
 * Databases: "access" (time BE8 | seq BE8 -> entry) and "access_ix"
 * ('g' | len | guest | time | seq and 'k' | len | key id | time | seq,
 * both -> empty): a guest's or a key's entries are one range, so asking
 * about one guest never walks a busy tenant's whole log. seq grows across
 * restarts (the last stored one + 1): two entries of one microsecond, or
 * of a clock set back, never share a key.
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
#define PRUNE_MIN 512     /* entries pruned per transaction, at least */
#define IDLE_PRUNE_NS 1000000000LL /* an idle log looks for old ones this often */
#define IXKEY_MAX (2 + 64 + 16)

struct crm_log_access {
    MDB_dbi db, ix;
    int off;
    int64_t keep_us; /* 0: forever */
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* the flusher's wake-up */
    pthread_cond_t done_cv; /* room in the queue, or a flush written */
    crm_access *q;          /* queued, not yet taken by the flusher */
    size_t n, cap;
    uint64_t noted, written; /* entries queued / written, ever */
    uint64_t seq;            /* next seq (flusher) */
    int stop, running, now_asked;
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

static size_t
ix_key(uint8_t *kb, char kind, const char *id, size_t len, int64_t t,
       uint64_t seq)
{
    kb[0] = (uint8_t)kind;
    kb[1] = (uint8_t)len;
    memcpy(kb + 2, id, len);
    put_be64(kb + 2 + len, time_key(t));
    put_be64(kb + 10 + len, seq);
    return 18 + len;
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
                           sizeof(a->guest)],
            ib[IXKEY_MAX];
        put_be64(kb, time_key(a[i].time));
        put_be64(kb + 8, seq);
        MDB_val k = {16, kb}, v = {entry_pack(&a[i], vb), vb}, e = {0, ""};
        int rc = mdb_put(txn, x->db, &k, &v, MDB_NOOVERWRITE);
        if (rc != 0)
            return rc;
        MDB_val g = {ix_key(ib, 'g', a[i].guest, a[i].guest_len, a[i].time,
                            seq),
                     ib};
        if ((rc = mdb_put(txn, x->ix, &g, &e, 0)) != 0)
            return rc;
        MDB_val kk = {ix_key(ib, 'k', a[i].key, a[i].key_len, a[i].time, seq),
                      ib};
        if ((rc = mdb_put(txn, x->ix, &kk, &e, 0)) != 0)
            return rc;
    }
    return 0;
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
        }
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        (*n)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* One write transaction: the n entries of a, then pruning before
 * (0: none). Takes txn_mu; grows the map when it is full. */
static crm_err
write_txn(crm_log *log, crm_access *a, size_t n, int64_t before,
          size_t prune_max, size_t *pruned, crm_error *why)
{
    struct crm_log_access *x = log->access;
    int rc;
    *pruned = 0;
    pthread_mutex_lock(&log->txn_mu);
    for (;;) {
        MDB_txn *txn;
        if ((rc = mdb_txn_begin(log->env, NULL, 0, &txn)) != 0)
            break;
        rc = put_entries(log, txn, a, n);
        if (rc == 0 && before > 0)
            rc = prune(log, txn, before, prune_max, pruned);
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
    int64_t last_prune = 0;
    int prune_more = 0;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        if (x->n < CRM_ACCESS_FLUSH_N && !x->stop && !x->now_asked &&
            !prune_more) {
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
        int stop = x->stop;
        x->now_asked = 0;
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
        crm_error why = {CRM_OK, ""};
        size_t pruned = 0, pmax = PRUNE_MIN > 2 * n ? PRUNE_MIN : 2 * n;
        crm_err err = CRM_OK;
        if (n > 0 || look)
            err = write_txn(log, mine, n, look ? before : 0, pmax, &pruned,
                            &why);
        if (look)
            last_prune = mono;
        prune_more = err == CRM_OK && look && pruned == pmax;

        pthread_mutex_lock(&x->mu);
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
        (rc = mdb_dbi_open(txn, "access_ix", MDB_CREATE, &x->ix)) != 0)
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, x->db, &cur)) != 0)
        return rc;
    MDB_val k, v;
    x->seq = 1;
    if ((rc = mdb_cursor_get(cur, &k, &v, MDB_LAST)) == 0 && k.mv_size == 16)
        x->seq = get_be64((const uint8_t *)k.mv_data + 8) + 1;
    mdb_cursor_close(cur);
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

crm_err
crm_log_access_flush(crm_log *log, crm_error *why)
{
    struct crm_log_access *x = log->access;
    if (x == NULL || !x->running)
        return CRM_OK;
    pthread_mutex_lock(&x->mu);
    uint64_t want = x->noted;
    x->now_asked = 1;
    pthread_cond_signal(&x->cv);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    int rc = 0;
    while (x->written < want && !x->stop && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&x->done_cv, &x->mu, &ts);
    crm_err err = CRM_OK;
    if (x->written < want)
        err = crm_error_set(why, CRM_ERR_IO, "the access log is not written%s%s",
                            x->fail[0] ? ": " : "", x->fail);
    pthread_mutex_unlock(&x->mu);
    return err;
}

crm_err
crm_log_access_prune(crm_log *log, int64_t before, size_t max, size_t *n,
                     crm_error *why)
{
    return write_txn(log, NULL, 0, before, max ? max : SIZE_MAX, n, why);
}

crm_err
crm_log_access_list(crm_log *log, const crm_access_query *q,
                    crm_access_fn fn, void *arg, crm_error *why)
{
    struct crm_log_access *x = log->access;
    MDB_txn *txn;
    MDB_cursor *cur;
    crm_err err = crm_log_rd_begin(log, &txn, why);
    if (err != CRM_OK)
        return err;
    int by = q->guest ? 'g' : q->key ? 'k' : 0;
    const char *id = q->guest ? q->guest : q->key;
    size_t len = q->guest ? q->guest_len : q->key_len;
    uint8_t kb[IXKEY_MAX];
    size_t plen = by ? 2 + len : 0;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, by ? x->ix : x->db, &cur);
    if (rc != 0)
        goto done;
    if (by) {
        k.mv_size = ix_key(kb, (char)by, id, len, q->from, q->from_seq);
    } else {
        put_be64(kb, time_key(q->from));
        put_be64(kb + 8, q->from_seq);
        k.mv_size = 16;
    }
    k.mv_data = kb;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != plen + 16 || memcmp(k.mv_data, kb, plen) != 0)
            break;
        const uint8_t *tk = (const uint8_t *)k.mv_data + plen;
        if (q->to > 0 && get_be64(tk) > time_key(q->to))
            break;
        MDB_val pk = {16, (void *)tk}, pv = v;
        if (by && (rc = mdb_get(txn, x->db, &pk, &pv)) != 0) {
            if (rc == MDB_NOTFOUND)
                continue;
            break;
        }
        crm_access a;
        if ((rc = entry_unpack(&pk, &pv, &a)) != 0)
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
