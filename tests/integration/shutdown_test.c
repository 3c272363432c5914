/* shutdown_test.c - SIGTERM under load: crmd drains and exits cleanly,
 * every request it had received before the signal is answered (none times
 * out or fails), a read.all long-poll in flight answers at once, and after
 * a restart every append it acknowledged is in the log at the position it
 * reported; /healthz says 503 from the start of the drain until it goes
 * away. Then the same under SIGKILL. Last, SIGTERM while a rebuild and an
 * erasure run on job threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crmd_fixture.h"
#include "rpc.h"
#include "uuid.h"

#define WRITERS 4
#define PER_BATCH 10
#define MAX_ACKED 200000

typedef struct acked {
    uint8_t id[CRM_ID_LEN];
    uint64_t position;
} acked;

typedef struct writer {
    const fx_crmd *d;
    const char *key;
    int n;
    volatile int *stop;
    acked *ok;
    size_t nok;
    int calls, failures;
    /* the failed call that began earliest, and how it failed */
    double first_failed_at;
    crm_err first_failure;
} writer;

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct batch_arg {
    crm_event_in ev[PER_BATCH];
} batch_arg;

static int
pack_batch(msgpack_packer *pk, void *arg)
{
    batch_arg *b = arg;
    int rc = msgpack_pack_map(pk, 1);
    rc |= crm_mp_pack_cstr(pk, "events") | msgpack_pack_array(pk, PER_BATCH);
    for (int i = 0; i < PER_BATCH; i++)
        rc |= crm_rpc_pack_event(pk, &b->ev[i]);
    return rc;
}

static pthread_mutex_t fx_mu = PTHREAD_MUTEX_INITIALIZER;

static void *
writer_main(void *arg)
{
    writer *w = arg;
    crm_client *c;
    crm_error why;
    crm_client_opts o = {.url = w->d->url, .key = w->key, .timeout_ms = 3000};
    char streams[PER_BATCH][32];
    if (crm_client_open(&o, &c, &why) != CRM_OK)
        return NULL;
    const msgpack_object *body;
    pthread_mutex_lock(&fx_mu);
    body = FX_BODY(FX_I("amount", 1999), FX_S("currency", "EUR"),
                   FX_S("category", "fnb"));
    pthread_mutex_unlock(&fx_mu);
    while (!*w->stop) {
        batch_arg b;
        for (int i = 0; i < PER_BATCH; i++) {
            snprintf(streams[i], sizeof(streams[i]), "w%d-g%d", w->n,
                     (w->calls * PER_BATCH + i) % 50);
            crm_uuid_v7(b.ev[i].id);
            b.ev[i].stream = streams[i];
            b.ev[i].stream_len = strlen(streams[i]);
            b.ev[i].type = "spend.recorded";
            b.ev[i].type_len = strlen(b.ev[i].type);
            b.ev[i].occurred_at = 1767225600000000 + w->calls;
            b.ev[i].body = body;
        }
        const msgpack_object *res;
        w->calls++;
        double t0 = now_s();
        if (crm_client_call(c, "append", pack_batch, &b, &res, &why) !=
            CRM_OK) {
            if (w->failures++ == 0) {
                w->first_failed_at = t0;
                w->first_failure = why.code;
            }
            if (why.code == CRM_ERR_TIMEOUT || why.code == CRM_ERR_UNAVAILABLE)
                break; /* the server is gone */
            continue;
        }
        const msgpack_object *pos = crm_mp_get(res, "positions");
        for (int i = 0; i < PER_BATCH && w->nok < MAX_ACKED; i++) {
            memcpy(w->ok[w->nok].id, b.ev[i].id, CRM_ID_LEN);
            w->ok[w->nok].position = pos->via.array.ptr[i].via.u64;
            w->nok++;
        }
    }
    crm_client_close(c);
    return NULL;
}

static int
cmp_pos(const void *a, const void *b)
{
    uint64_t x = ((const acked *)a)->position, y = ((const acked *)b)->position;
    return (x > y) - (x < y);
}

/* Reads the whole log and checks every acknowledged event is at its
 * position; returns the head. */
static uint64_t
check_acked(fx_crmd *d, const char *key, writer *w, int nw)
{
    crm_client *c = fx_client(d, d->url, key);
    size_t total = 0;
    for (int k = 0; k < nw; k++)
        total += w[k].nok;
    acked *all = calloc(total ? total : 1, sizeof(*all));
    for (int k = 0, at = 0; k < nw; k++)
        for (size_t j = 0; j < w[k].nok; j++)
            all[at++] = w[k].ok[j];
    qsort(all, total, sizeof(*all), cmp_pos);
    uint64_t found = 0, head = 0, from = 1;
    for (;;) {
        msgpack_sbuffer sb;
        fx_kv a[] = {FX_I("from", (int64_t)from), FX_I("max", 1000)};
        fx_pack(a, 2, &sb);
        const msgpack_object *res;
        crm_error why;
        crm_err err =
            crm_client_call_raw(c, "read.all", sb.data, sb.size, &res, &why);
        msgpack_sbuffer_destroy(&sb);
        assert_int_equal(err, CRM_OK);
        head = fx_res_u64(res, "head");
        const msgpack_object *evs = crm_mp_get(res, "events");
        if (evs->via.array.size == 0)
            break;
        for (uint32_t i = 0; i < evs->via.array.size; i++) {
            const msgpack_object *e = &evs->via.array.ptr[i];
            uint64_t pos = fx_res_u64(e, "position");
            assert_int_equal(pos, from + i); /* dense */
            const msgpack_object *id = crm_mp_get(e, "id");
            acked want = {.position = pos};
            const acked *hit =
                bsearch(&want, all, total, sizeof(*all), cmp_pos);
            if (hit) {
                assert_memory_equal(hit->id, id->via.bin.ptr, CRM_ID_LEN);
                found++;
            }
        }
        from = fx_res_u64(res, "next");
    }
    crm_client_close(c);
    free(all);
    assert_int_equal(found, total);
    return head;
}

/* A read.all far past the head, so no append wakes it: only the drain. */
typedef struct tail {
    const fx_crmd *d;
    const char *key;
    crm_err err;
    uint64_t events;
    double done_at;
} tail;

static void *
tail_main(void *arg)
{
    tail *t = arg;
    crm_client *c;
    crm_error why;
    crm_client_opts o = {.url = t->d->url, .key = t->key, .timeout_ms = 40000};
    if (crm_client_open(&o, &c, &why) != CRM_OK) {
        t->err = why.code;
        return NULL;
    }
    msgpack_sbuffer sb;
    fx_kv a[] = {FX_I("from", (int64_t)1 << 40), FX_I("wait_ms", 30000)};
    pthread_mutex_lock(&fx_mu);
    fx_pack(a, 2, &sb);
    pthread_mutex_unlock(&fx_mu);
    const msgpack_object *res;
    t->err = crm_client_call_raw(c, "read.all", sb.data, sb.size, &res, &why);
    if (t->err == CRM_OK)
        t->events = crm_mp_get(res, "events")->via.array.size;
    t->done_at = now_s();
    msgpack_sbuffer_destroy(&sb);
    crm_client_close(c);
    return NULL;
}

/* Polls /healthz until it stops answering (crmd gone). */
typedef struct health {
    const fx_crmd *d;
    volatile int *stop;
    int ok_before, unavailable, ok_after_unavailable, other;
} health;

/* GET /healthz; the HTTP status, or -1 if nothing answered. */
static int
healthz(const char *base)
{
    int port = atoi(strrchr(base, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    static const char req[] =
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    char buf[512];
    size_t len = 0;
    ssize_t got;
    if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
        close(fd);
        return -1;
    }
    while (len < sizeof(buf) - 1 &&
           (got = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)got;
    buf[len] = '\0';
    close(fd);
    return len > 12 && strncmp(buf, "HTTP/1.", 7) == 0 ? atoi(buf + 9) : -1;
}

static void *
health_main(void *arg)
{
    health *h = arg;
    while (!*h->stop) {
        int st = healthz(h->d->http);
        if (st == 200 && h->unavailable)
            h->ok_after_unavailable++;
        else if (st == 200)
            h->ok_before++;
        else if (st == 503)
            h->unavailable++;
        else if (st != -1)
            h->other++;
        usleep(500);
    }
    return NULL;
}

/* A request that began this long before kill() has been received by crmd
 * (there are more contexts than writers), so the drain must answer it. One
 * sent in the instant before the signal may still be in flight when the
 * receives are cancelled; that one may fail. */
#define RECEIVED_MARGIN_S 0.02

static void
run(int sig)
{
    fx_crmd d;
    char keys[CRM_ROLE__COUNT][128];
    assert_int_equal(fx_crmd_start(&d, 0, NULL), 0);
    assert_int_equal(fx_tenant(&d, "drain", keys), 0);

    tail t = {.d = &d, .key = keys[CRM_ROLE_REPLICA]};
    pthread_t tail_th, health_th;
    volatile int health_stop = 0;
    health hs = {.d = &d, .stop = &health_stop};
    if (sig == SIGTERM) {
        pthread_create(&tail_th, NULL, tail_main, &t);
        pthread_create(&health_th, NULL, health_main, &hs);
    }

    volatile int stop = 0;
    writer w[WRITERS];
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer){.d = &d,
                        .key = keys[CRM_ROLE_AGENT],
                        .n = i,
                        .stop = &stop,
                        .ok = calloc(MAX_ACKED, sizeof(acked))};
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    }
    usleep(800000);
    double killed_at = now_s();
    int status = fx_crmd_stop(&d, sig);
    stop = 1;
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    if (sig == SIGTERM) {
        pthread_join(tail_th, NULL);
        health_stop = 1;
        pthread_join(health_th, NULL);
    }
    size_t acked_total = 0;
    for (int i = 0; i < WRITERS; i++)
        acked_total += w[i].nok;
    printf("signal %d: exit status %d, %zu events acknowledged\n", sig, status,
           acked_total);
    assert_true(acked_total > 0);
    if (sig == SIGTERM) {
        char *log = fx_crmd_log(&d);
        if (status != 0 || strstr(log, "Sanitizer") ||
            strstr(log, "runtime error")) {
            /* cmocka bounds fail_msg; the whole log goes to stderr */
            fprintf(stderr, "crmd log:\n%s\n", log);
            fail_msg("crmd exit %d (log above)", status);
        }
        assert_non_null(strstr(log, "msg=\"draining\""));
        assert_non_null(strstr(log, "msg=\"stopped\" exit=0"));
        assert_null(strstr(log, "drain timed out"));
        free(log);
        /* the drain answered everything it had received */
        for (int i = 0; i < WRITERS; i++)
            if (w[i].failures &&
                w[i].first_failed_at < killed_at - RECEIVED_MARGIN_S)
                fail_msg("writer %d: a call begun %.3f s before SIGTERM failed "
                         "(%s)",
                         i, killed_at - w[i].first_failed_at,
                         crm_err_name(w[i].first_failure));
        /* the parked long-poll answered when the drain began, not after
         * its 30 s */
        assert_int_equal(t.err, CRM_OK);
        assert_int_equal(t.events, 0);
        assert_true(t.done_at - killed_at < 5.0);
        /* healthy under load; 503 once draining, never healthy again */
        printf("healthz: %d ok, then %d unavailable, %d ok after, %d other\n",
               hs.ok_before, hs.unavailable, hs.ok_after_unavailable, hs.other);
        assert_true(hs.ok_before > 0);
        assert_true(hs.unavailable > 0);
        assert_int_equal(hs.ok_after_unavailable, 0);
        assert_int_equal(hs.other, 0);
    }

    assert_int_equal(fx_crmd_restart(&d), 0);
    uint64_t head = check_acked(&d, keys[CRM_ROLE_ADMIN], w, WRITERS);
    assert_true(head >= acked_total);
    for (int i = 0; i < WRITERS; i++)
        free(w[i].ok);
    fx_crmd_cleanup(&d);
    fx_reset();
}

/* A long call on a job thread, in flight when SIGTERM comes. */
typedef struct job_call {
    const fx_crmd *d;
    const char *key, *op;
    const fx_kv *kv;
    size_t nkv;
    crm_err err;
} job_call;

static void *
job_main(void *arg)
{
    job_call *j = arg;
    crm_client *c = fx_client(j->d, j->d->url, j->key);
    const msgpack_object *res;
    crm_error why;
    j->err = fx_call_kv(c, j->op, j->kv, j->nkv, &res, &why);
    crm_client_close(c);
    return NULL;
}

/* SIGTERM, with a drain that gives up at once, while a projection.rebuild
 * and a customer.erase waiting for its completion run on job threads:
 * they stop (the rebuild at its next chunk, the wait because the tenant
 * closes) and end before the logs they use close, so crmd exits 1 (the
 * drain timed out) with nothing for the sanitizers to say, and after a
 * restart the chain verifies and the erasure completes. */
static void
test_sigterm_during_jobs(void **state)
{
    (void)state;
    fx_crmd d;
    char keys[CRM_ROLE__COUNT][128];
    /* a drain that gives up at once: the jobs are still running when the
     * store stops */
    static const char *const quick[] = {"--drain-timeout-ms", "1", NULL};
    assert_int_equal(fx_crmd_start(&d, 0, quick), 0);
    assert_int_equal(fx_tenant(&d, "jobs", keys), 0);
    static crm_event_in ev[500];
    static char gs[500][32]; /* the events point at their stream ids */
    for (int b = 0; b < 60; b++) {
        for (int i = 0; i < 500; i++) {
            char *g = gs[i];
            snprintf(g, sizeof(gs[i]), "guest-%d", (b * 500 + i) % 3000);
            if (b == 0 && i < 3000)
                fx_event(&ev[i], g, "customer.registered",
                         FX_BODY(FX_S("first_name", "Ana"),
                                 FX_S("last_name", "Reis"),
                                 FX_S("email", "ana@jobs.example")));
            else
                fx_event(&ev[i], g, "spend.recorded",
                         FX_BODY(FX_I("amount", 100 + i),
                                 FX_S("currency", "EUR"),
                                 FX_S("category", "fnb")));
        }
        assert_int_equal(fx_append_as(&d, keys[CRM_ROLE_AGENT], ev, 500), 0);
        fx_reset();
    }
    uint64_t head = 60 * 500;
    fx_kv none[1], er[] = {FX_S("customer", "guest-7"), FX_B("wait", 1)};
    job_call rb = {&d, keys[CRM_ROLE_ADMIN], "projection.rebuild", none, 0,
                   CRM_OK},
             ea = {&d, keys[CRM_ROLE_ADMIN], "customer.erase", er, 2, CRM_OK};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, job_main, &rb);
    pthread_create(&t2, NULL, job_main, &ea);
    usleep(20000); /* both under way: printed below */
    int status = fx_crmd_stop(&d, SIGTERM);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    printf("SIGTERM during jobs: exit %d; rebuild %s, erase %s\n", status,
           crm_err_name(rb.err), crm_err_name(ea.err));
    char *log = fx_crmd_log(&d);
    if (status != 1 || strstr(log, "Sanitizer") ||
        strstr(log, "runtime error") || !strstr(log, "drain timed out")) {
        fprintf(stderr, "crmd log:\n%s\n", log);
        fail_msg("crmd exit %d (log above)", status);
    }
    free(log);
    assert_int_equal(fx_crmd_restart(&d), 0);
    crm_client *c = fx_client(&d, d.url, keys[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    fx_kv g7[] = {FX_S("customer", "guest-7"), FX_B("wait", 1)};
    /* asked again: the one stored completes, or this one is stored */
    crm_err err = fx_call_kv(c, "customer.erase", g7, 2, &res, &why);
    if (err != CRM_OK && err != CRM_ERR_CONFLICT)
        fail_msg("customer.erase after the restart: %s", why.msg);
    fx_reset();
    fx_kv r7[] = {FX_S("customer", "guest-7")};
    assert_int_equal(fx_call_kv(c, "customer.erasure_receipt", r7, 1, &res,
                                &why),
                     CRM_OK);
    char b[32];
    assert_string_equal(fx_res_str(res, "status", b, sizeof(b)), "complete");
    fx_reset();
    assert_int_equal(fx_call_kv(c, "audit.verify", none, 0, &res, &why),
                     CRM_OK);
    assert_true(crm_mp_get(res, "ok")->via.boolean);
    assert_true(fx_res_u64(res, "to") >= head);
    crm_client_close(c);
    fx_reset();
    assert_int_equal(fx_crmd_stop_clean(&d), 0);
    fx_crmd_cleanup(&d);
}

static void
test_sigterm_under_load(void **state)
{
    (void)state;
    run(SIGTERM);
}

static void
test_sigkill_under_load(void **state)
{
    (void)state;
    run(SIGKILL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_under_load),
        cmocka_unit_test(test_sigkill_under_load),
        cmocka_unit_test(test_sigterm_during_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
