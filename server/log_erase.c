/*
 * log_erase.c - erasing a guest's personal data by destroying keys.
 *
 * A stored customer.erased destroys the guest's subject key in the
 * append's own transaction (crm_log_erase_record) and enters the guest in
 * the erasure ledger, "erasures": stream id -> entry (below), as pending;
 * the projections forget the guest inline. From that commit on nothing
 * opens the guest's sealed fields. What could still give the person back
 * are stale copies in pages LMDB has freed: the subject key wrapped under
 * the live tenant key, and blind-index entries (HMACs of an e-mail, a
 * phone, a name) under the live index key. An erasure round, on the log's
 * eraser thread, puts both keys out of reach:
 *
 *   1. a new tenant key is written to the other slot of tenant.key;
 *   2. every blind projection is rebuilt under a new index key, as a pass
 *      over the log while appends go on (proj.h, crm_proj_rekey_begin);
 *      an erased guest's records open to nothing and index nothing;
 *   3. the transaction that finishes the pass, readers kept out, wraps
 *      every subject key and the new index key under the new tenant key,
 *      makes the new generations live and marks complete the ledger
 *      entries that were pending when the round began;
 *   4. the old tenant key's slot is overwritten in place.
 *
 * Then every stale copy anywhere in the environment is a key wrapped
 * under a tenant key that exists nowhere, or an HMAC under an index key
 * kept only wrapped under such a tenant key. An erasure committed while a
 * round runs waits for the next one: the pass may have indexed that guest
 * under the new key before the erasure came, and the entries it then
 * deleted may sit in free pages.
 *
 * Ledger entry: state u8 (0 pending, 1 complete), position u64 of the
 * customer.erased, requested_at i64 (its recorded_at, µs), completed_at
 * i64 (0 while pending), key_epoch u32 of the round that completed it,
 * keys u32 (subject keys destroyed), events u64 (the stream's events
 * before it). Entries stay: they are the ledger a data-protection officer
 * shows, and they hold no personal data.
 */
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "be.h"
#include "clock.h"
#include "log_int.h"
#include "mdberr.h"
#include "uuid.h"

#define LEDGER_LEN (1 + 8 + 8 + 8 + 4 + 4 + 8)
#define RETRY_MS 1000 /* after a round that failed */

static void
ledger_pack(uint8_t b[LEDGER_LEN], const crm_log_erasure *e)
{
    b[0] = (uint8_t)e->complete;
    crm_put_be(b + 1, e->position, 8);
    crm_put_be(b + 9, (uint64_t)e->requested_at, 8);
    crm_put_be(b + 17, (uint64_t)e->completed_at, 8);
    crm_put_be(b + 25, e->key_epoch, 4);
    crm_put_be(b + 29, e->keys, 4);
    crm_put_be(b + 33, e->events, 8);
}

static int
ledger_unpack(const MDB_val *v, crm_log_erasure *e)
{
    const uint8_t *b = v->mv_data;
    if (v->mv_size != LEDGER_LEN || b[0] > 1)
        return MDB_CORRUPTED;
    e->complete = b[0];
    e->position = crm_get_be(b + 1, 8);
    e->requested_at = (int64_t)crm_get_be(b + 9, 8);
    e->completed_at = (int64_t)crm_get_be(b + 17, 8);
    e->key_epoch = (uint32_t)crm_get_be(b + 25, 4);
    e->keys = (uint32_t)crm_get_be(b + 29, 4);
    e->events = crm_get_be(b + 33, 8);
    return 0;
}

int
crm_log_erase_record(crm_log *log, MDB_txn *txn, const char *sid, size_t len,
                     uint64_t position, uint64_t version, int64_t now)
{
    MDB_val k = {len, (void *)sid};
    int rc = mdb_del(txn, log->dbi_subjects, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    crm_log_erasure e = {.position = position,
                         .requested_at = now,
                         .keys = rc == 0,
                         .events = version};
    uint8_t b[LEDGER_LEN];
    ledger_pack(b, &e);
    MDB_val v = {LEDGER_LEN, b};
    /* a second customer.erased of the guest leaves the first's entry */
    rc = mdb_put(txn, log->dbi_erasures, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return 0;
    if (rc == 0)
        log->erase_due = 1;
    return rc;
}

int
crm_log_erased(crm_log *log, MDB_txn *txn, const char *sid, size_t len)
{
    MDB_val k = {len, (void *)sid}, v;
    int rc = mdb_get(txn, log->dbi_erasures, &k, &v);
    return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : -rc;
}

void
crm_log_erase_kick(crm_log *log)
{
    pthread_mutex_lock(&log->er_mu);
    log->er_asked++;
    pthread_cond_broadcast(&log->er_cv);
    pthread_mutex_unlock(&log->er_mu);
}

crm_err
crm_log_erasure_get(crm_log *log, const char *stream, size_t len,
                    crm_log_erasure *out, crm_error *why)
{
    MDB_txn *txn;
    crm_err err = crm_log_rd_begin(log, &txn, why);
    if (err != CRM_OK)
        return err;
    MDB_val k = {len, (void *)stream}, v;
    int rc = mdb_get(txn, log->dbi_erasures, &k, &v);
    if (rc == 0)
        rc = ledger_unpack(&v, out);
    crm_log_rd_end(log, txn);
    if (rc == MDB_NOTFOUND)
        return crm_error_set(why, CRM_ERR_NOT_FOUND, "no erasure of '%.*s'",
                             (int)len, stream);
    return rc ? crm_mdb_fail(why, rc, "erasure ledger") : CRM_OK;
}

crm_err
crm_log_erasure_wait(crm_log *log, int64_t timeout_ms, crm_error *why)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    crm_err err = CRM_OK;
    pthread_mutex_lock(&log->er_mu);
    log->er_waiters++; /* crm_log_close waits for them to leave */
    uint64_t ticket = log->er_asked;
    while (log->er_done < ticket && !log->er_stop && err == CRM_OK)
        if (pthread_cond_timedwait(&log->er_cv, &log->er_mu, &dl) ==
            ETIMEDOUT)
            err = crm_error_set(why, CRM_ERR_TIMEOUT,
                                "the erasure is recorded and will complete; "
                                "not complete yet%s%s",
                                log->er_why[0] ? ": last round: " : "",
                                log->er_why);
    if (err == CRM_OK && log->er_done < ticket)
        err = crm_error_set(why, CRM_ERR_CLOSED,
                            "tenant is closing; the erasure completes when "
                            "it opens again");
    if (--log->er_waiters == 0)
        pthread_cond_broadcast(&log->er_cv);
    pthread_mutex_unlock(&log->er_mu);
    return err;
}

crm_err
crm_log_erase_append(crm_log *log, const char *const *streams, size_t n,
                     const char *reason, const char *ref, const char *actor,
                     uint64_t *appended, crm_error *why)
{
    crm_event_in *ev = calloc(n ? n : 1, sizeof(*ev));
    if (ev == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    msgpack_object_kv kv[2];
    kv[0].key = (msgpack_object){.type = MSGPACK_OBJECT_STR,
                                 .via.str = {6, "reason"}};
    kv[0].val = (msgpack_object){.type = MSGPACK_OBJECT_STR,
                                 .via.str = {(uint32_t)strlen(reason), reason}};
    kv[1].key = (msgpack_object){.type = MSGPACK_OBJECT_STR,
                                 .via.str = {11, "request_ref"}};
    kv[1].val = (msgpack_object){.type = MSGPACK_OBJECT_STR,
                                 .via.str = {(uint32_t)strlen(ref), ref}};
    msgpack_object body = {.type = MSGPACK_OBJECT_MAP,
                           .via.map = {ref[0] ? 2 : 1, kv}};
    int64_t now = crm_now_us();
    size_t k = 0;
    crm_err err = CRM_OK;
    for (size_t i = 0; i < n && err == CRM_OK; i++) {
        crm_log_erasure e;
        crm_error ignore;
        err = crm_log_erasure_get(log, streams[i], strlen(streams[i]), &e,
                                  &ignore);
        if (err == CRM_OK) /* erased before: its receipt stands */
            continue;
        if (err != CRM_ERR_NOT_FOUND) {
            *why = ignore;
            break;
        }
        err = CRM_OK;
        crm_uuid_v7(ev[k].id);
        ev[k].stream = streams[i];
        ev[k].stream_len = strlen(streams[i]);
        ev[k].type = "customer.erased";
        ev[k].type_len = 15;
        ev[k].occurred_at = now;
        ev[k].body = &body;
        k++;
    }
    *appended = k;
    crm_batch *b = NULL;
    if (err == CRM_OK && k > 0 &&
        (err = crm_batch_prepare(ev, k, NULL, 0, actor, strlen(actor), &b,
                                 why)) == CRM_OK)
        err = crm_log_append(log, b, why);
    crm_batch_free(b);
    free(ev);
    return err;
}

/* --- a round ---------------------------------------------------------------- */

typedef struct round {
    crm_log *log;
    uint64_t start; /* the head when it began: entries up to it complete */
    crm_vault *next;
    uint8_t index_key[CRM_KEY_LEN];
    uint64_t completed, rewrapped;
} round;

static int
r_begin(void *arg, MDB_txn *txn)
{
    round *r = arg;
    return crm_proj_rekey_begin(r->log->proj, txn, r->index_key);
}

static int
r_apply(void *arg, MDB_txn *txn, const crm_record *rec)
{
    round *r = arg;
    return crm_proj_rekey_apply(r->log->proj, txn, rec);
}

/* Marks complete every pending entry at or before the round's start. */
static int
complete_ledger(round *r, MDB_txn *txn)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, r->log->dbi_erasures, &cur);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    int64_t now = crm_now_us();
    r->completed = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        crm_log_erasure e;
        if ((rc = ledger_unpack(&v, &e)) != 0)
            break;
        if (e.complete || e.position > r->start)
            continue;
        e.complete = 1;
        e.completed_at = now;
        e.key_epoch = crm_vault_epoch(r->next);
        uint8_t b[LEDGER_LEN];
        ledger_pack(b, &e);
        MDB_val nv = {LEDGER_LEN, b};
        if ((rc = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT)) != 0)
            break;
        r->completed++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
r_finish(void *arg, MDB_txn *txn, uint64_t head)
{
    round *r = arg;
    crm_log *log = r->log;
    int rc = crm_proj_rekey_finish(log->proj, txn, head);
    if (rc == 0)
        rc = crm_log_rewrap(log, txn, log->vault, r->next, r->index_key,
                            &r->rewrapped);
    if (rc == 0)
        rc = complete_ledger(r, txn);
    return rc;
}

static void
r_swap(void *arg, uint64_t head)
{
    round *r = arg;
    crm_proj_rekeyed(r->log->proj, head);
    crm_vault_close(r->log->vault);
    r->log->vault = r->next;
    r->next = NULL;
}

/* One round; *completed: the entries it completed. */
static crm_err
erase_round(crm_log *log, uint64_t *completed, crm_error *why)
{
    crm_err err = crm_log_exclusive_begin(log, why);
    if (err != CRM_OK)
        return err;
    round r = {.log = log};
    crm_log_head(log, &r.start, NULL);
    uint32_t old = crm_vault_epoch(log->vault);
    if (RAND_bytes(r.index_key, sizeof(r.index_key)) != 1) {
        crm_log_exclusive_end(log);
        return crm_error_set(why, CRM_ERR_INTERNAL, "no random bytes");
    }
    pthread_mutex_lock(&log->txn_mu); /* the vault is the writer's too */
    err = crm_vault_rotate(log->vault, &r.next, why);
    pthread_mutex_unlock(&log->txn_mu);
    uint64_t events, pos;
    /* without blind projections there is nothing to rebuild: the round
     * is one transaction */
    crm_log_pass p = {.name = "erasure round",
                      .begin = r_begin,
                      .apply = crm_proj_blind_count(log->proj) ? r_apply
                                                               : NULL,
                      .finish = r_finish,
                      .swap = r_swap,
                      .exclusive = 1,
                      .arg = &r};
    if (err == CRM_OK)
        err = crm_log_run_pass(log, &p, &events, &pos, why);
    crm_wipe(r.index_key, sizeof(r.index_key));
    if (r.next != NULL) { /* not made live: its slot is overwritten later */
        crm_proj_rekey_abort(log->proj);
        crm_vault_close(r.next);
    }
    if (err == CRM_OK)
        err = crm_vault_retire(log->vault, old, why);
    crm_log_exclusive_end(log);
    *completed = r.completed;
    return err;
}

static void *
eraser_main(void *arg)
{
    crm_log *log = arg;
    pthread_mutex_lock(&log->er_mu);
    while (!log->er_stop) {
        if (log->er_done >= log->er_asked) {
            pthread_cond_wait(&log->er_cv, &log->er_mu);
            continue;
        }
        uint64_t target = log->er_asked;
        pthread_mutex_unlock(&log->er_mu);
        crm_error why = {CRM_OK, ""};
        uint64_t n = 0;
        crm_err err = erase_round(log, &n, &why);
        pthread_mutex_lock(&log->er_mu);
        if (err == CRM_OK) {
            log->er_done = target;
            log->er_rounds++;
            log->er_why[0] = '\0';
            pthread_cond_broadcast(&log->er_cv);
            continue;
        }
        snprintf(log->er_why, sizeof(log->er_why), "%s", why.msg);
        /* a rebuild running, the map full...: again in a moment */
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += RETRY_MS / 1000;
        while (!log->er_stop &&
               pthread_cond_timedwait(&log->er_cv, &log->er_mu, &dl) == 0)
            ;
    }
    pthread_mutex_unlock(&log->er_mu);
    return NULL;
}

crm_err
crm_log_eraser_start(crm_log *log, crm_error *why)
{
    pthread_mutex_init(&log->er_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&log->er_cv, &ca);
    pthread_condattr_destroy(&ca);
    log->er_init = 1;
    if (log->vault == NULL)
        return CRM_OK; /* nothing sealed: no keys to destroy */
    /* entries still pending (a round was cut short): one round at once */
    MDB_txn *txn;
    crm_err err = crm_log_rd_begin(log, &txn, why);
    if (err != CRM_OK)
        return err;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, log->dbi_erasures, &cur);
    if (rc == 0) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
            if (v.mv_size == LEDGER_LEN && ((uint8_t *)v.mv_data)[0] == 0) {
                log->er_asked = 1;
                break;
            }
        mdb_cursor_close(cur);
    }
    crm_log_rd_end(log, txn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return crm_mdb_fail(why, rc, "erasure ledger");
    if (pthread_create(&log->eraser, NULL, eraser_main, log) != 0)
        return crm_error_set(why, CRM_ERR_NOMEM, "cannot start the eraser");
    log->eraser_running = 1;
    return CRM_OK;
}

void
crm_log_eraser_stop(crm_log *log)
{
    if (!log->er_init)
        return;
    pthread_mutex_lock(&log->er_mu);
    log->er_stop = 1;
    pthread_cond_broadcast(&log->er_cv);
    while (log->er_waiters > 0)
        pthread_cond_wait(&log->er_cv, &log->er_mu);
    pthread_mutex_unlock(&log->er_mu);
    if (log->eraser_running)
        pthread_join(log->eraser, NULL);
    log->eraser_running = 0;
}

void
crm_log_eraser_free(crm_log *log)
{
    if (!log->er_init)
        return;
    pthread_cond_destroy(&log->er_cv);
    pthread_mutex_destroy(&log->er_mu);
    log->er_init = 0;
}
