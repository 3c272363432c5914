/* audit_test.c - crm-audit verify on a real crmd's data directory: OK on
 * the live directory while crmd appends and after it stopped, and the
 * first bad position on copies tampered with through LMDB (a byte of a
 * body, a deleted or swapped record, a truncated log, a wrong head, an
 * index entry gone). Signed checkpoints: audit.checkpoint, audit.pubkey
 * and audit.verify over RPC, each checked by crm-audit --pubkey with the
 * tenant's key, refused under another key, and a forged head found.
 * Export files (crmctl audit export): one verifies, and each of a byte
 * flipped in a record, a record deleted, two swapped, the trailer cut
 * off, the checkpoint's signature forged and the header's key replaced
 * is found, at its position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crmd_fixture.h"
#include "hash.h"
#include "mpcheck.h"
#include "rpc.h"
#include "sign.h"

#define TENANT "acme"
#define BATCHES 20 /* of 10 events, appended before the tests */
#define LIVE_BATCHES 120 /* past 1,024: more than one slice */

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];
static char DATA[700];
static uint64_t HEAD; /* crmd's head once it stopped */
static char PUB[700];   /* DIR/pub.pem: the tenant's key, from audit.pubkey */
static char EXPORT[700]; /* DIR/acme.crmx: crmctl audit export, at setup */
static uint64_t SIGNED; /* the position audit.checkpoint signed */

/* A batch of 10 interaction.logged: guest-1 gets one of every batch's
 * first five events (more than 64 versions: the skip index), guest-2..6
 * the rest. */
static void
make_batch(crm_event_in *ev, int b)
{
    static const char *const streams[] = {"guest-2", "guest-3", "guest-4",
                                          "guest-5", "guest-6"};
    for (int i = 0; i < 10; i++) {
        char subject[64];
        snprintf(subject, sizeof(subject), "audit note %d.%d", b, i);
        /* fx_body copies the strings into objects it keeps */
        fx_event(&ev[i], i < 5 ? "guest-1" : streams[i % 5],
                 "interaction.logged",
                 FX_BODY(FX_S("channel", "call"), FX_S("subject", subject)));
    }
}

static uint64_t
append_batch(crm_client *c, const crm_event_in *ev)
{
    const msgpack_object *res;
    crm_error why;
    if (fx_append(c, ev, 10, &res, &why) != CRM_OK) {
        fprintf(stderr, "append: %s\n", why.msg);
        return 0;
    }
    return fx_res_u64(res, "head");
}

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 0, NULL) != 0 || fx_tenant(&D, TENANT, K) != 0)
        return -1;
    snprintf(DATA, sizeof(DATA), "%s/data", D.dir);
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    crm_event_in ev[10];
    for (int b = 0; b < BATCHES; b++) {
        make_batch(ev, b);
        if (append_batch(c, ev) != (uint64_t)(b + 1) * 10)
            return -1;
    }
    /* a checkpoint signed now, the key it verifies under, and the chain
     * checked online */
    const msgpack_object *res;
    crm_error why;
    crm_client *au = fx_client(&D, D.url, K[CRM_ROLE_AUDITOR]);
    if (fx_call_kv(au, "audit.checkpoint", NULL, 0, &res, &why) != CRM_OK)
        return -1;
    SIGNED = fx_res_u64(res, "position");
    char pem[512];
    if (SIGNED != BATCHES * 10 ||
        fx_call_kv(au, "audit.pubkey", NULL, 0, &res, &why) != CRM_OK ||
        fx_res_str(res, "pem", pem, sizeof(pem))[0] == '\0')
        return -1;
    snprintf(PUB, sizeof(PUB), "%s/pub.pem", D.dir);
    FILE *f = fopen(PUB, "w");
    if (f == NULL || fputs(pem, f) < 0 || fclose(f) != 0)
        return -1;
    const msgpack_object *ok;
    if (fx_call_kv(au, "audit.verify", NULL, 0, &res, &why) != CRM_OK ||
        (ok = crm_mp_get(res, "ok")) == NULL || !ok->via.boolean ||
        fx_res_u64(res, "records") != SIGNED ||
        fx_res_u64(res, "checkpoints") < 1)
        return -1;
    crm_client_close(au);
    crm_client_close(c);
    snprintf(EXPORT, sizeof(EXPORT), "%s/acme.crmx", D.dir);
    char cmd[2400];
    snprintf(cmd, sizeof(cmd),
             "CRM_URL='%s' CRM_KEY='%s' '%s' audit export --out '%s'", D.url,
             K[CRM_ROLE_AUDITOR], CRM_CRMCTL_PATH, EXPORT);
    return system(cmd) == 0 ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    fx_crmd_cleanup(&D);
    fx_reset();
    return 0;
}

/* Runs crm-audit with args; its stdout into out; returns its exit
 * status (-1 if it did not exit). */
static int
audit(const char *args, char *out, size_t len)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "%s %s", CRM_AUDIT_PATH, args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
audit_dir(const char *data, char *out, size_t len)
{
    char args[1024];
    snprintf(args, sizeof(args), "verify --data %s --tenant " TENANT, data);
    return audit(args, out, len);
}

/* The N of "OK tenant acme: N events, head N HEX". */
static uint64_t
ok_events(const char *out)
{
    unsigned long long n, head;
    char hex[65];
    assert_int_equal(sscanf(out, "OK tenant " TENANT ": %llu events, head %llu %64s",
                            &n, &head, hex),
                     3);
    assert_int_equal(n, head);
    assert_int_equal(strlen(hex), 64);
    return n;
}

/* The position of "BROKEN tenant acme at position P: why". */
static uint64_t
broken_at(const char *out)
{
    unsigned long long p;
    assert_int_equal(sscanf(out, "BROKEN tenant " TENANT " at position %llu:", &p), 1);
    return p;
}

typedef struct live {
    const fx_crmd *d;
    crm_event_in (*ev)[10];
    atomic_int half, audited, done;
    uint64_t head;
} live;

/* Appends LIVE_BATCHES batches, pausing after half of them until the
 * test has audited that state. */
static void *
appender(void *arg)
{
    live *l = arg;
    crm_client *c = fx_client(l->d, l->d->url, K[CRM_ROLE_ADMIN]);
    for (int b = 0; b < LIVE_BATCHES; b++) {
        if (b == LIVE_BATCHES / 2) {
            atomic_store(&l->half, 1);
            while (!atomic_load(&l->audited))
                usleep(1000);
        }
        uint64_t h = append_batch(c, l->ev[b]);
        if (h == 0)
            break;
        l->head = h;
    }
    crm_client_close(c);
    atomic_store(&l->done, 1);
    return NULL;
}

/* crm-audit on the live directory while another thread appends: each
 * run sees one committed state and verifies it. */
static void
test_live_while_appending(void **state)
{
    (void)state;
    char out[4096];
    static crm_event_in ev[LIVE_BATCHES][10];
    for (int b = 0; b < LIVE_BATCHES; b++)
        make_batch(ev[b], BATCHES + b);
    live l = {.d = &D, .ev = ev};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, appender, &l), 0);
    while (!atomic_load(&l.half))
        usleep(1000);
    /* crmd running, the appender paused: exactly what it stored so far */
    assert_int_equal(audit_dir(DATA, out, sizeof(out)), 0);
    uint64_t last = ok_events(out);
    assert_int_equal(last, (BATCHES + LIVE_BATCHES / 2) * 10);
    atomic_store(&l.audited, 1);
    int runs = 0;
    while (!atomic_load(&l.done) || runs < 2) {
        assert_int_equal(audit_dir(DATA, out, sizeof(out)), 0);
        uint64_t n = ok_events(out);
        assert_true(n >= last && n >= BATCHES * 10);
        last = n;
        runs++;
    }
    pthread_join(th, NULL);
    assert_int_equal(l.head, (BATCHES + LIVE_BATCHES) * 10);
    /* every tenant of the directory (no --tenant): the one there is */
    char args[1024];
    snprintf(args, sizeof(args), "verify --data %s", DATA);
    assert_int_equal(audit(args, out, sizeof(out)), 0);
    assert_int_equal(ok_events(out), l.head);
}

static void
test_stopped(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(fx_crmd_stop(&D, SIGTERM), 0);
    assert_int_equal(audit_dir(DATA, out, sizeof(out)), 0);
    HEAD = ok_events(out);
    assert_int_equal(HEAD, (BATCHES + LIVE_BATCHES) * 10);
    /* usage and I/O errors */
    assert_int_equal(audit("verify", out, sizeof(out)), 2);
    assert_int_equal(audit("verify --data /nonexistent/crm-audit", out, sizeof(out)), 2);
    char args[1024];
    snprintf(args, sizeof(args), "verify --data %s --tenant nobody", DATA);
    assert_int_equal(audit(args, out, sizeof(out)), 2);
}

/* All the bytes fd gives until EOF (or EIO: a pty whose child exited). */
static size_t
read_all(int fd, char *buf, size_t len)
{
    size_t n = 0;
    ssize_t r;
    while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    return n;
}

/* The progress bar is drawn on a terminal and never into a pipe. */
static void
test_progress_only_on_a_terminal(void **state)
{
    (void)state;
    char out[8192];
    /* stderr a pipe */
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s verify --data %s 2>&1 >/dev/null",
             CRM_AUDIT_PATH, DATA);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    assert_int_equal(pclose(f), 0);
    assert_non_null(strstr(out, "crm-audit: tenant " TENANT ": "));
    assert_null(strstr(out, "ETA"));
    assert_null(strchr(out, '\r'));
    /* stderr a terminal */
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(CRM_AUDIT_PATH, "crm-audit", "verify", "--data", DATA,
              (char *)NULL);
        _exit(127);
    }
    read_all(master, out, sizeof(out));
    close(master);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_non_null(strstr(out, "ETA"));
    assert_non_null(strstr(out, "\r\033[K"));
    assert_non_null(strstr(out, "OK tenant " TENANT));
}

/* --- tampering, on copies ------------------------------------------------ */

typedef struct tamper {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi log, meta, ids;
} tamper;

/* A fresh copy of the stopped crmd's data directory in copy, opened
 * read-write at its tenant. */
static void
tamper_open(tamper *t, char *copy, size_t len, const char *tag)
{
    char cmd[2048];
    fx_tmpdir(copy, len, tag);
    snprintf(cmd, sizeof(cmd), "cp -r %s/. %s/", DATA, copy);
    assert_int_equal(system(cmd), 0);
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/tenants/" TENANT, copy);
    assert_int_equal(mdb_env_create(&t->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(t->env, 64), 0);
    assert_int_equal(mdb_env_open(t->env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(t->env, NULL, 0, &t->txn), 0);
    assert_int_equal(mdb_dbi_open(t->txn, "log", 0, &t->log), 0);
    assert_int_equal(mdb_dbi_open(t->txn, "meta", 0, &t->meta), 0);
    assert_int_equal(mdb_dbi_open(t->txn, "event_ids", 0, &t->ids), 0);
}

static void
tamper_commit(tamper *t)
{
    assert_int_equal(mdb_txn_commit(t->txn), 0);
    mdb_env_close(t->env);
}

static MDB_val
pos_key(uint8_t kb[8], uint64_t pos)
{
    for (int i = 7; i >= 0; i--, pos >>= 8)
        kb[i] = (uint8_t)pos;
    return (MDB_val){8, kb};
}

/* A malloc'd copy of the record at pos. */
static uint8_t *
record_at(tamper *t, uint64_t pos, size_t *len)
{
    uint8_t kb[8];
    MDB_val k = pos_key(kb, pos), v;
    assert_int_equal(mdb_get(t->txn, t->log, &k, &v), 0);
    uint8_t *p = malloc(v.mv_size);
    assert_non_null(p);
    memcpy(p, v.mv_data, v.mv_size);
    *len = v.mv_size;
    return p;
}

static void
put_record(tamper *t, uint64_t pos, const uint8_t *rec, size_t len)
{
    uint8_t kb[8];
    MDB_val k = pos_key(kb, pos), v = {len, (void *)rec};
    assert_int_equal(mdb_put(t->txn, t->log, &k, &v, 0), 0);
}

static void
del_record(tamper *t, uint64_t pos)
{
    uint8_t kb[8];
    MDB_val k = pos_key(kb, pos);
    assert_int_equal(mdb_del(t->txn, t->log, &k, NULL), 0);
}

static void
remove_copy(const char *copy)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", copy);
    assert_int_equal(system(cmd), 0);
}

/* crm-audit says the copy is broken first at pos, for why. */
static void
expect_broken_args(const char *copy, const char *more, uint64_t pos,
                   const char *why)
{
    char args[1200], out[4096];
    snprintf(args, sizeof(args), "verify --data %s --tenant " TENANT "%s",
             copy, more);
    assert_int_equal(audit(args, out, sizeof(out)), 1);
    if (broken_at(out) != pos || strstr(out, why) == NULL)
        fail_msg("expected position %llu (%s), got: %s",
                 (unsigned long long)pos, why, out);
    remove_copy(copy);
}

static void
expect_broken(const char *copy, uint64_t pos, const char *why)
{
    expect_broken_args(copy, "", pos, why);
}

static void
test_untouched_copy(void **state)
{
    (void)state;
    char copy[600], out[4096];
    tamper t;
    tamper_open(&t, copy, sizeof(copy), "audit-same");
    tamper_commit(&t);
    assert_int_equal(audit_dir(copy, out, sizeof(out)), 0);
    assert_int_equal(ok_events(out), HEAD);
    /* without lock.mdb (a copy of the data file alone) it verifies too,
     * and creates nothing in the directory */
    char lock[1024];
    snprintf(lock, sizeof(lock), "%s/tenants/" TENANT "/lock.mdb", copy);
    assert_int_equal(unlink(lock), 0);
    assert_int_equal(audit_dir(copy, out, sizeof(out)), 0);
    assert_int_equal(ok_events(out), HEAD);
    assert_int_equal(access(lock, F_OK), -1);
    remove_copy(copy);
}

static void
test_flipped_body_byte(void **state)
{
    (void)state;
    char copy[600];
    tamper t;
    size_t len;
    tamper_open(&t, copy, sizeof(copy), "audit-flip");
    uint8_t *rec = record_at(&t, 57, &len);
    uint8_t *at = memmem(rec, len, "audit note", 10);
    assert_non_null(at);
    at[0] = 'A'; /* still a well-formed record: only the hash can tell */
    put_record(&t, 57, rec, len);
    free(rec);
    tamper_commit(&t);
    expect_broken(copy, 57, "hash does not match its content");
}

static void
test_deleted_record(void **state)
{
    (void)state;
    char copy[600];
    tamper t;
    tamper_open(&t, copy, sizeof(copy), "audit-del");
    del_record(&t, 123);
    tamper_commit(&t);
    expect_broken(copy, 123, "position 123 is missing");
}

static void
test_swapped_records(void **state)
{
    (void)state;
    char copy[600];
    tamper t;
    size_t la, lb;
    tamper_open(&t, copy, sizeof(copy), "audit-swap");
    uint8_t *a = record_at(&t, 300, &la), *b = record_at(&t, 412, &lb);
    put_record(&t, 300, b, lb);
    put_record(&t, 412, a, la);
    free(a);
    free(b);
    tamper_commit(&t);
    expect_broken(copy, 300, "names position 412");
}

static void
test_truncated_log(void **state)
{
    (void)state;
    char copy[600];
    tamper t;
    tamper_open(&t, copy, sizeof(copy), "audit-trunc");
    for (uint64_t p = HEAD - 4; p <= HEAD; p++)
        del_record(&t, p); /* meta's head still says HEAD */
    tamper_commit(&t);
    expect_broken(copy, HEAD - 4, "meta head says position");
}

static void
test_changed_head(void **state)
{
    (void)state;
    char copy[600];
    tamper t;
    tamper_open(&t, copy, sizeof(copy), "audit-head");
    MDB_val k = {4, "head"}, v;
    assert_int_equal(mdb_get(t.txn, t.meta, &k, &v), 0);
    uint8_t head[64];
    assert_true(v.mv_size <= sizeof(head) && v.mv_size > 8);
    memcpy(head, v.mv_data, v.mv_size);
    head[8] ^= 1; /* the head's hash */
    MDB_val nv = {v.mv_size, head};
    assert_int_equal(mdb_put(t.txn, t.meta, &k, &nv, 0), 0);
    tamper_commit(&t);
    expect_broken(copy, HEAD, "meta head's hash is not the hash of position");
}

static void
test_id_index_entry_gone(void **state)
{
    (void)state;
    char copy[600];
    tamper t;
    size_t len;
    tamper_open(&t, copy, sizeof(copy), "audit-ids");
    uint8_t *rec = record_at(&t, 222, &len);
    /* the id is element 8, a bin 8 of 16 bytes: the first c4 10 after the
     * prev_hash (bin 8 of 32 bytes) */
    uint8_t *ph = memmem(rec, len, "\xc4\x20", 2);
    assert_non_null(ph);
    uint8_t *id = ph + 2 + 32;
    assert_true(id[0] == 0xc4 && id[1] == 16);
    MDB_val k = {16, id + 2};
    assert_int_equal(mdb_del(t.txn, t.ids, &k, NULL), 0);
    free(rec);
    tamper_commit(&t);
    expect_broken(copy, 222, "idempotency index");
}

/* The record at pos made to name another prev_hash, and its own hash H
 * computed again over what it now holds, so that only the link to the
 * record before is wrong: inside a verification slice (500), on the
 * first position of the second slice (1025, linked by the judge rather
 * than by the slice's thread), with one thread and with two. */
static void
relink(uint64_t pos, int threads)
{
    char copy[600];
    tamper t;
    size_t len;
    tamper_open(&t, copy, sizeof(copy), "audit-relink");
    uint8_t *rec = record_at(&t, pos, &len);
    uint8_t *ph = memmem(rec, len, "\xc4\x20", 2);
    assert_non_null(ph);
    ph[2 + 5] ^= 0x40;
    assert_true(len > 34 && rec[len - 34] == 0xc4 && rec[len - 33] == 32);
    crm_sha256_2(ph + 2, 32, rec, len - 34, rec + len - 32);
    put_record(&t, pos, rec, len);
    free(rec);
    tamper_commit(&t);
    char more[32], why[96];
    snprintf(more, sizeof(more), " --threads %d", threads);
    snprintf(why, sizeof(why), "prev_hash is not the hash of position %llu",
             (unsigned long long)(pos - 1));
    expect_broken_args(copy, more, pos, why);
}

static void
test_relinked_record(void **state)
{
    (void)state;
    assert_true(HEAD > 1025);
    relink(500, 1);
    relink(500, 2);
    relink(1025, 1);
    relink(1025, 2);
}

/* The streams index may lag the log (checkpoint rounds), never run
 * ahead of it: guest-1's entry one version past its head is wrong. */
static void
test_streams_entry_ahead(void **state)
{
    (void)state;
    char copy[600];
    tamper t;
    MDB_dbi streams;
    tamper_open(&t, copy, sizeof(copy), "audit-streams");
    assert_int_equal(mdb_dbi_open(t.txn, "streams", 0, &streams), 0);
    MDB_val k = {7, "guest-1"}, v;
    assert_int_equal(mdb_get(t.txn, streams, &k, &v), 0);
    assert_int_equal(v.mv_size, 16);
    uint8_t val[16];
    memcpy(val, v.mv_data, 16);
    val[7]++; /* version, big-endian */
    MDB_val nv = {16, val};
    assert_int_equal(mdb_put(t.txn, streams, &k, &nv, 0), 0);
    tamper_commit(&t);
    expect_broken(copy, 0, "streams index entry 'guest-1'");
}

/* --- signed checkpoints ----------------------------------------------------- */

static int
audit_key(const char *data, const char *pem, char *out, size_t len)
{
    char args[2048];
    snprintf(args, sizeof(args), "verify --data %s --tenant " TENANT
             " --pubkey %s", data, pem);
    return audit(args, out, len);
}

static void
test_checkpoints_under_the_key(void **state)
{
    (void)state;
    char out[4096];
    unsigned long long n;
    assert_int_equal(audit_key(DATA, PUB, out, sizeof(out)), 0);
    const char *k = strstr(out, " signed checkpoint");
    assert_non_null(k);
    while (k > out && k[-1] != ' ')
        k--;
    assert_int_equal(sscanf(k, "%llu", &n), 1);
    assert_true(n >= 1);
    assert_non_null(strstr(out, "(the key given)"));

    /* another key: the first checkpoint is refused */
    uint8_t seed[CRM_SIGN_SEED_LEN], pub[CRM_SIGN_PUB_LEN];
    char pem[512], other[700];
    assert_int_equal(crm_sign_keygen(seed, pub), 0);
    assert_true(crm_sign_pub_pem(pub, pem, sizeof(pem)) > 0);
    snprintf(other, sizeof(other), "%s/other.pem", D.dir);
    FILE *f = fopen(other, "w");
    assert_non_null(f);
    fputs(pem, f);
    fclose(f);
    assert_int_equal(audit_key(DATA, other, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "not signed by the tenant's key"));
    /* not a key at all: a usage error */
    assert_int_equal(audit_key(DATA, "/dev/null", out, sizeof(out)), 2);
}

static void
test_checkpoint_forged_head(void **state)
{
    (void)state;
    char copy[600], out[4096];
    tamper t;
    MDB_dbi ck;
    tamper_open(&t, copy, sizeof(copy), "audit-ckpt");
    assert_int_equal(mdb_dbi_open(t.txn, "checkpoints", 0, &ck), 0);
    uint8_t kb[8];
    MDB_val k = pos_key(kb, SIGNED), v;
    assert_int_equal(mdb_get(t.txn, ck, &k, &v), 0);
    uint8_t val[8 + 32 + 64];
    assert_int_equal(v.mv_size, sizeof(val));
    memcpy(val, v.mv_data, sizeof(val));
    val[8] ^= 1; /* the head it names */
    MDB_val nv = {sizeof(val), val};
    assert_int_equal(mdb_put(t.txn, ck, &k, &nv, 0), 0);
    tamper_commit(&t);
    assert_int_equal(audit_key(copy, PUB, out, sizeof(out)), 1);
    if (broken_at(out) != SIGNED || strstr(out, "names another head") == NULL)
        fail_msg("expected the checkpoint at %llu, got: %s",
                 (unsigned long long)SIGNED, out);
    remove_copy(copy);
}

/* --- export files -------------------------------------------------------- */

typedef struct xfile {
    uint8_t *b;
    size_t len, n;
    size_t off[2048], size[2048]; /* each object: header, records, trailer */
} xfile;

static void
xfile_load(xfile *x)
{
    FILE *f = fopen(EXPORT, "rb");
    assert_non_null(f);
    x->b = malloc(1 << 24);
    assert_non_null(x->b);
    x->len = fread(x->b, 1, 1 << 24, f);
    fclose(f);
    x->n = 0;
    for (size_t o = 0; o < x->len; x->n++) {
        size_t used;
        assert_true(x->n < 2048);
        assert_int_equal(crm_mpcheck_prefix(x->b + o, x->len - o, 64, &used,
                                            NULL),
                         CRM_OK);
        x->off[x->n] = o;
        x->size[x->n] = used;
        o += used;
    }
    assert_true(x->n >= 3);
}

/* Writes objects order[0..n) of x to path. */
static void
xfile_write(const xfile *x, const char *path, const size_t *order, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fwrite(x->b + x->off[order[i]], 1, x->size[order[i]], f);
    fclose(f);
}

static int
audit_export(const char *path, const char *pem, char *out, size_t len)
{
    char args[2048];
    snprintf(args, sizeof(args), "verify --export %s%s%s", path,
             pem ? " --pubkey " : "", pem ? pem : "");
    return audit(args, out, len);
}

/* crm-audit finds the file at path broken at pos, for why. */
static void
export_broken(const char *path, uint64_t pos, const char *why)
{
    char out[4096];
    unsigned long long p;
    assert_int_equal(audit_export(path, PUB, out, sizeof(out)), 1);
    const char *at = strstr(out, " at position ");
    if (at == NULL || sscanf(at, " at position %llu", &p) != 1 || p != pos ||
        strstr(out, why) == NULL)
        fail_msg("expected position %llu (%s), got: %s",
                 (unsigned long long)pos, why, out);
}

static void
test_export_file(void **state)
{
    (void)state;
    char out[4096], path[800];
    assert_int_equal(audit_export(EXPORT, PUB, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "OK export of tenant " TENANT));
    xfile x;
    xfile_load(&x);
    /* object 0 the header, 1..n-2 records at positions 1.., n-1 trailer */
    size_t recs = x.n - 2, order[2048];
    assert_int_equal(recs, SIGNED);
    for (size_t i = 0; i < x.n; i++)
        order[i] = i;
    snprintf(path, sizeof(path), "%s/tampered.crmx", D.dir);

    /* a record deleted (position 9), two swapped (20 and 21) */
    size_t del[2048], k = 0;
    for (size_t i = 0; i < x.n; i++)
        if (i != 9)
            del[k++] = i;
    xfile_write(&x, path, del, k);
    export_broken(path, 9, "names position 10");
    order[20] = 21;
    order[21] = 20;
    xfile_write(&x, path, order, x.n);
    export_broken(path, 20, "names position 21");
    order[20] = 20;
    order[21] = 21;
    /* the trailer cut off */
    xfile_write(&x, path, order, x.n - 1);
    export_broken(path, recs + 1, "without its trailer");

    /* a byte of a record's body */
    uint8_t *note = memmem(x.b + x.off[57], x.size[57], "audit note", 10);
    assert_non_null(note);
    note[0] ^= 0x20;
    xfile_write(&x, path, order, x.n);
    export_broken(path, 57, "hash does not match");
    note[0] ^= 0x20;
    /* the checkpoint's signature (the trailer's last byte) */
    x.b[x.off[x.n - 1] + x.size[x.n - 1] - 1] ^= 1;
    xfile_write(&x, path, order, x.n);
    export_broken(path, recs, "not signed by the tenant's key");
    x.b[x.off[x.n - 1] + x.size[x.n - 1] - 1] ^= 1;
    /* the header's key replaced: without --pubkey the signature fails */
    uint8_t seed[CRM_SIGN_SEED_LEN], pub[CRM_SIGN_PUB_LEN];
    assert_int_equal(crm_sign_keygen(seed, pub), 0);
    uint8_t *key = memmem(x.b, x.size[0], "public_key", 10);
    assert_non_null(key);
    memcpy(key + 10 + 2, pub, CRM_SIGN_PUB_LEN); /* after its bin 8 header */
    xfile_write(&x, path, order, x.n);
    assert_int_equal(audit_export(path, NULL, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "not signed by the tenant's key"));
    /* with the tenant's key given, the header's is not trusted */
    assert_int_equal(audit_export(path, PUB, out, sizeof(out)), 0);
    free(x.b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_while_appending),
        cmocka_unit_test(test_stopped),
        cmocka_unit_test(test_progress_only_on_a_terminal),
        cmocka_unit_test(test_untouched_copy),
        cmocka_unit_test(test_flipped_body_byte),
        cmocka_unit_test(test_deleted_record),
        cmocka_unit_test(test_swapped_records),
        cmocka_unit_test(test_truncated_log),
        cmocka_unit_test(test_changed_head),
        cmocka_unit_test(test_id_index_entry_gone),
        cmocka_unit_test(test_relinked_record),
        cmocka_unit_test(test_streams_entry_ahead),
        cmocka_unit_test(test_checkpoints_under_the_key),
        cmocka_unit_test(test_checkpoint_forged_head),
        cmocka_unit_test(test_export_file),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
