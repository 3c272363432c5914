/* crmd_test.c - crmd end to end: transports (tcp, ipc, tls+tcp), append and
 * reads, idempotency, long-poll and its cap, batch, metrics endpoint, log
 * lines (server request ids, escaping), SIGHUP; crmd exits cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crmd_fixture.h"
#include "rpc.h"
#include "uuid.h"

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 1, NULL) != 0 || fx_tenant(&D, "acme", K) != 0)
        return -1;
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    int rc = fx_crmd_stop_clean(&D);
    fx_crmd_cleanup(&D);
    fx_reset();
    return rc;
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct events_arg {
    const crm_event_in *ev;
    size_t n;
    const char *expect_stream;
    int64_t expect_version; /* -1 any */
} events_arg;

static int
pack_append(msgpack_packer *pk, void *arg)
{
    events_arg *a = arg;
    int rc = msgpack_pack_map(pk, a->expect_stream ? 2 : 1);
    rc |= crm_mp_pack_cstr(pk, "events") | msgpack_pack_array(pk, a->n);
    for (size_t i = 0; i < a->n; i++)
        rc |= crm_rpc_pack_event(pk, &a->ev[i]);
    if (a->expect_stream) {
        rc |= crm_mp_pack_cstr(pk, "expect") | msgpack_pack_array(pk, 1);
        rc |= msgpack_pack_map(pk, 2);
        rc |= crm_mp_pack_cstr(pk, "stream") |
              crm_mp_pack_cstr(pk, a->expect_stream);
        rc |= crm_mp_pack_cstr(pk, "version");
        rc |= a->expect_version < 0 ? crm_mp_pack_cstr(pk, "no_stream")
                                    : msgpack_pack_int64(pk, a->expect_version);
    }
    return rc;
}

static crm_err
append(crm_client *c, const crm_event_in *ev, size_t n,
       const msgpack_object **res, crm_error *why)
{
    events_arg a = {ev, n, NULL, 0};
    return crm_client_call(c, "append", pack_append, &a, res, why);
}

static void
test_ping_every_transport(void **state)
{
    (void)state;
    const char *urls[] = {D.url, D.ipc_url, D.tls_url};
    for (int i = 0; i < 3; i++) {
        crm_client *c = fx_client(&D, urls[i], NULL);
        const msgpack_object *res;
        crm_error why;
        assert_int_equal(crm_client_call(c, "ping", NULL, NULL, &res, &why),
                         CRM_OK);
        const msgpack_object *pong = crm_mp_get(res, "pong");
        assert_non_null(pong);
        assert_true(pong->via.boolean);
        crm_client_close(c);
    }
}

static void
test_tls_needs_the_right_ca(void **state)
{
    (void)state;
    char other[700];
    snprintf(other, sizeof(other), "%s/other-ca", D.dir);
    char cmd[1600];
    snprintf(cmd, sizeof(cmd), "%s/deploy/gen-certs.sh '%s' >/dev/null",
             CRM_SOURCE_DIR, other);
    assert_int_equal(system(cmd), 0);
    char ca[800];
    snprintf(ca, sizeof(ca), "%s/ca.crt", other);
    crm_client *c;
    crm_error why;
    crm_client_opts o = {.url = D.tls_url,
                         .tls_ca = ca,
                         .tls_server_name = "localhost",
                         .timeout_ms = 1500};
    crm_err err = crm_client_open(&o, &c, &why);
    if (err == CRM_OK) {
        const msgpack_object *res;
        err = crm_client_call(c, "ping", NULL, NULL, &res, &why);
        crm_client_close(c);
    }
    assert_int_not_equal(err, CRM_OK);
}

static void
test_append_read_and_retry(void **state)
{
    (void)state;
    crm_client *c = fx_client(&D, D.tls_url, K[CRM_ROLE_AGENT]);
    const msgpack_object *res;
    crm_error why;
    crm_event_in ev[3];
    fx_event(&ev[0], "guest-42", "customer.registered",
             FX_BODY(FX_S("first_name", "Ana"), FX_S("last_name", "Silva"),
                     FX_S("email", "ana@example.com")));
    fx_event(
        &ev[1], "guest-42", "customer.preference_set",
        FX_BODY(FX_S("category", "pillow"), FX_S("value", "feather-free")));
    fx_event(&ev[2], "guest-43", "interaction.logged",
             FX_BODY(FX_S("channel", "call"),
                     FX_S("summary", "asked for late checkout")));
    assert_int_equal(append(c, ev, 3, &res, &why), CRM_OK);
    const msgpack_object *pos = crm_mp_get(res, "positions");
    assert_int_equal(pos->via.array.size, 3);
    uint64_t p0 = pos->via.array.ptr[0].via.u64;
    assert_int_equal(pos->via.array.ptr[2].via.u64, p0 + 2);
    assert_int_equal(fx_res_u64(res, "duplicates"), 0);

    /* retry: same answer, nothing new */
    assert_int_equal(append(c, ev, 3, &res, &why), CRM_OK);
    assert_int_equal(fx_res_u64(res, "duplicates"), 3);
    assert_int_equal(crm_mp_get(res, "positions")->via.array.ptr[0].via.u64,
                     p0);
    assert_int_equal(fx_res_u64(res, "head"), p0 + 2);

    /* read the stream back */
    msgpack_sbuffer sb;
    fx_kv a[] = {FX_S("stream", "guest-42")};
    fx_pack(a, 1, &sb);
    assert_int_equal(
        crm_client_call_raw(c, "read.stream", sb.data, sb.size, &res, &why),
        CRM_OK);
    msgpack_sbuffer_destroy(&sb);
    const msgpack_object *evs = crm_mp_get(res, "events");
    assert_int_equal(evs->via.array.size, 2);
    char buf[64];
    assert_string_equal(fx_res_str(&evs->via.array.ptr[1], "type", buf, 64),
                        "customer.preference_set");
    const msgpack_object *pii = crm_mp_get(&evs->via.array.ptr[1], "pii");
    assert_string_equal(fx_res_str(pii, "value", buf, 64), "feather-free");
    assert_int_equal(fx_res_u64(res, "last_version"), 1);

    /* an auditor sees the events without personal data */
    crm_client *au = fx_client(&D, D.url, K[CRM_ROLE_AUDITOR]);
    fx_pack(a, 1, &sb);
    assert_int_equal(
        crm_client_call_raw(au, "read.stream", sb.data, sb.size, &res, &why),
        CRM_OK);
    msgpack_sbuffer_destroy(&sb);
    evs = crm_mp_get(res, "events");
    assert_int_equal(crm_mp_get(&evs->via.array.ptr[0], "pii")->type,
                     MSGPACK_OBJECT_NIL);
    assert_true(
        crm_mp_get(&evs->via.array.ptr[0], "pii_redacted")->via.boolean);
    crm_client_close(au);

    /* the same id with other content is a conflict */
    crm_event_in other = ev[2];
    other.body = FX_BODY(FX_S("channel", "email"));
    assert_int_equal(append(c, &other, 1, &res, &why), CRM_ERR_CONFLICT);

    /* expected version */
    crm_event_in more;
    fx_event(&more, "guest-42", "spend.recorded",
             FX_BODY(FX_I("amount", 4500), FX_S("currency", "EUR"),
                     FX_S("category", "spa")));
    events_arg x = {&more, 1, "guest-42", 0};
    assert_int_equal(crm_client_call(c, "append", pack_append, &x, &res, &why),
                     CRM_ERR_CONFLICT);
    assert_non_null(strstr(why.msg, "version 1"));
    x.expect_version = 1;
    assert_int_equal(crm_client_call(c, "append", pack_append, &x, &res, &why),
                     CRM_OK);

    /* validation errors come back named, and write nothing */
    crm_event_in bad;
    fx_event(&bad, "guest-44", "feedback.survey_submitted",
             FX_BODY(FX_I("nps", 11)));
    assert_int_equal(append(c, &bad, 1, &res, &why), CRM_ERR_BAD_FIELD);
    assert_non_null(strstr(why.msg, "nps"));
    crm_client_close(c);
}

typedef struct poller {
    const char *key;
    uint64_t from;
    int wait_ms;
    double took;
    uint32_t got;
    const fx_crmd *d; /* NULL: D */
    volatile int done;
    crm_err err;
} poller;

static void *
poll_main(void *arg)
{
    poller *p = arg;
    const fx_crmd *d = p->d ? p->d : &D;
    crm_client *c = fx_client(d, d->url, p->key);
    const msgpack_object *res;
    crm_error why;
    msgpack_sbuffer sb;
    fx_kv a[] = {FX_I("from", (int64_t)p->from), FX_I("wait_ms", p->wait_ms)};
    fx_pack(a, 2, &sb);
    double t0 = now_s();
    p->err = crm_client_call_raw(c, "read.all", sb.data, sb.size, &res, &why);
    if (p->err == CRM_OK)
        p->got = crm_mp_get(res, "events")->via.array.size;
    p->took = now_s() - t0;
    msgpack_sbuffer_destroy(&sb);
    crm_client_close(c);
    p->done = 1;
    return NULL;
}

static uint64_t
head_of(crm_client *c)
{
    const msgpack_object *res;
    crm_error why;
    msgpack_sbuffer sb;
    fx_kv a[] = {FX_I("from", 1), FX_I("max", 1)};
    fx_pack(a, 2, &sb);
    crm_err err =
        crm_client_call_raw(c, "read.all", sb.data, sb.size, &res, &why);
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(err, CRM_OK);
    return fx_res_u64(res, "head");
}

static void
test_long_poll(void **state)
{
    (void)state;
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    uint64_t head = head_of(c);

    /* nothing arrives: the wait runs out */
    poller idle = {K[CRM_ROLE_REPLICA], head + 1, 300, 0, 99, NULL, 0, 0};
    poll_main(&idle);
    assert_int_equal(idle.got, 0);
    assert_true(idle.took >= 0.28);

    /* an append wakes the waiter long before its deadline */
    poller p = {K[CRM_ROLE_REPLICA], head + 1, 8000, 0, 0, NULL, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, poll_main, &p);
    usleep(200000);
    crm_event_in ev;
    const msgpack_object *res;
    crm_error why;
    fx_event(&ev, "guest-77", "web.product_viewed",
             FX_BODY(FX_S("product", "suite")));
    assert_int_equal(append(c, &ev, 1, &res, &why), CRM_OK);
    pthread_join(th, NULL);
    assert_int_equal(p.got, 1);
    assert_true(p.took < 3.0);
    crm_client_close(c);
}

/* Waiting read.all clients may hold at most half the contexts: with 8
 * contexts and 8 tail -f clients, the first 4 park and the other 4 answer
 * at once, and a ping and an append still get through promptly. Without
 * the cap all 8 contexts park and the ping waits out the long-poll. */
#define CAP_CTX 8
#define CAP_POLLERS 8

static void
test_long_poll_cap(void **state)
{
    (void)state;
    static const char *const extra[] = {"--contexts", "8", NULL};
    fx_crmd d;
    char keys[CRM_ROLE__COUNT][128];
    assert_int_equal(fx_crmd_start(&d, 0, extra), 0);
    assert_int_equal(fx_tenant(&d, "capped", keys), 0);
    crm_client *c = fx_client(&d, d.url, keys[CRM_ROLE_AGENT]);
    uint64_t head = head_of(c);

    poller p[CAP_POLLERS];
    pthread_t th[CAP_POLLERS];
    for (int i = 0; i < CAP_POLLERS; i++) {
        p[i] =
            (poller){keys[CRM_ROLE_REPLICA], head + 1, 20000, 0, 0, &d, 0, 0};
        pthread_create(&th[i], NULL, poll_main, &p[i]);
    }
    /* the ones past the cap come back empty, at once */
    int early = 0;
    for (int t = 0; t < 500 && early < CAP_POLLERS - CAP_CTX / 2; t++) {
        usleep(10000);
        early = 0;
        for (int i = 0; i < CAP_POLLERS; i++)
            early += p[i].done;
    }
    assert_int_equal(early, CAP_POLLERS - CAP_CTX / 2);
    for (int i = 0; i < CAP_POLLERS; i++)
        if (p[i].done) {
            assert_int_equal(p[i].err, CRM_OK);
            assert_int_equal(p[i].got, 0);
        }

    /* the others are still parked, and the server still serves */
    crm_client *ping = fx_client(&d, d.url, NULL);
    const msgpack_object *res;
    crm_error why;
    double t0 = now_s();
    assert_int_equal(crm_client_call(ping, "ping", NULL, NULL, &res, &why),
                     CRM_OK);
    assert_true(now_s() - t0 < 2.0);
    crm_client_close(ping);
    crm_event_in ev;
    fx_event(&ev, "guest-cap", "web.product_viewed",
             FX_BODY(FX_S("product", "spa")));
    t0 = now_s();
    assert_int_equal(append(c, &ev, 1, &res, &why), CRM_OK);
    assert_true(now_s() - t0 < 2.0);

    /* the append wakes the parked ones */
    for (int i = 0; i < CAP_POLLERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(p[i].err, CRM_OK);
        assert_true(p[i].took < 5.0);
    }
    int woke = 0;
    for (int i = 0; i < CAP_POLLERS; i++)
        woke += p[i].got == 1;
    assert_int_equal(woke, CAP_CTX / 2);
    crm_client_close(c);
    assert_int_equal(fx_crmd_stop_clean(&d), 0);
    fx_crmd_cleanup(&d);
}

static void
test_batch_of_reads(void **state)
{
    (void)state;
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    crm_mp_pack_cstr(&pk, "ops");
    msgpack_pack_array(&pk, 4);
    msgpack_pack_map(&pk, 1);
    crm_mp_pack_cstr(&pk, "op");
    crm_mp_pack_cstr(&pk, "ping");
    msgpack_pack_map(&pk, 2);
    crm_mp_pack_cstr(&pk, "op");
    crm_mp_pack_cstr(&pk, "read.stream");
    crm_mp_pack_cstr(&pk, "args");
    msgpack_pack_map(&pk, 1);
    crm_mp_pack_cstr(&pk, "stream");
    crm_mp_pack_cstr(&pk, "guest-42");
    msgpack_pack_map(&pk, 2);
    crm_mp_pack_cstr(&pk, "op");
    crm_mp_pack_cstr(&pk, "read.stream");
    crm_mp_pack_cstr(&pk, "args");
    msgpack_pack_map(&pk, 1);
    crm_mp_pack_cstr(&pk, "stream");
    crm_mp_pack_cstr(&pk, "nobody-here");
    msgpack_pack_map(&pk, 1); /* a write inside a batch is refused */
    crm_mp_pack_cstr(&pk, "op");
    crm_mp_pack_cstr(&pk, "append");
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(
        crm_client_call_raw(c, "batch", sb.data, sb.size, &res, &why), CRM_OK);
    msgpack_sbuffer_destroy(&sb);
    const msgpack_object *r = crm_mp_get(res, "results");
    assert_int_equal(r->via.array.size, 4);
    assert_true(crm_mp_get(&r->via.array.ptr[0], "ok")->via.boolean);
    assert_true(crm_mp_get(&r->via.array.ptr[1], "ok")->via.boolean);
    assert_true(crm_mp_get(crm_mp_get(&r->via.array.ptr[1], "result"), "events")
                    ->via.array.size >= 2);
    assert_false(crm_mp_get(&r->via.array.ptr[2], "ok")->via.boolean);
    char buf[64];
    assert_string_equal(
        fx_res_str(crm_mp_get(&r->via.array.ptr[2], "error"), "name", buf, 64),
        "not_found");
    assert_false(crm_mp_get(&r->via.array.ptr[3], "ok")->via.boolean);
    crm_client_close(c);
}

static char *
http_get(const char *base, const char *path, int *status)
{
    int port = atoi(strrchr(base, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    char req[256];
    int n = snprintf(
        req, sizeof(req),
        "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while ((got = read(fd, buf + len, cap - len - 1)) > 0)
        len += (size_t)got;
    buf[len] = '\0';
    close(fd);
    *status = atoi(buf + 9);
    return buf;
}

static void
test_metrics_endpoint(void **state)
{
    (void)state;
    int status;
    char *h = http_get(D.http, "/healthz", &status);
    assert_int_equal(status, 200);
    free(h);
    char *m = http_get(D.http, "/metrics", &status);
    assert_int_equal(status, 200);
    assert_non_null(
        strstr(m, "crmd_requests_total{op=\"append\",outcome=\"ok\"}"));
    assert_non_null(
        strstr(m, "crmd_requests_total{op=\"append\",outcome=\"conflict\"}"));
    assert_non_null(
        strstr(m, "crmd_request_seconds_bucket{op=\"ping\",le=\"+Inf\"}"));
    assert_non_null(strstr(m, "crmd_tenant_position{tenant=\"acme\"}"));
    assert_non_null(strstr(m, "crmd_tenant_map_used_bytes{tenant=\"acme\"}"));
    assert_non_null(strstr(m, "crmd_commit_events_count{tenant=\"acme\"}"));
    free(m);

    /* the same figures over RPC, scoped to the caller's tenant */
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(crm_client_call(c, "metrics", NULL, NULL, &res, &why),
                     CRM_OK);
    const msgpack_object *t = crm_mp_get(crm_mp_get(res, "tenants"), "acme");
    assert_non_null(t);
    assert_true(fx_res_u64(t, "position") >= 5);
    crm_client_close(c);
}

/* The req= value of the first line holding needle, or 0. */
static unsigned long long
req_of_line(const char *log, const char *needle)
{
    const char *hit = strstr(log, needle);
    if (hit == NULL)
        return 0;
    const char *bol = hit;
    while (bol > log && bol[-1] != '\n')
        bol--;
    const char *r = strstr(bol, " req=");
    if (r == NULL || r > hit)
        return 0;
    return strtoull(r + 5, NULL, 10);
}

static void
test_log_lines_carry_request_ids(void **state)
{
    (void)state;
    /* two fresh clients send envelope id 1 each; the server tells their
     * requests apart. The op names try to forge fields. */
    static const char *const ops[] = {
        "nope\" status=ok tenant=evil",
        "y st=ok\nlevel=error req=1",
    };
    for (int i = 0; i < 2; i++) {
        crm_client *c = fx_client(&D, D.url, NULL);
        const msgpack_object *res;
        crm_error why;
        assert_int_equal(crm_client_call(c, ops[i], NULL, NULL, &res, &why),
                         CRM_ERR_UNKNOWN_OP);
        crm_client_close(c);
    }
    usleep(100000);
    char *log = fx_crmd_log(&D);
    assert_non_null(log);
    /* the refused append above was logged with its request id and error */
    assert_non_null(strstr(log, "op=append"));
    assert_non_null(strstr(log, "status=conflict"));
    assert_non_null(strstr(log, "level=info req="));

    const char *e1 = "cid=1 op=\"nope\\\" status=ok tenant=evil\" tenant=-";
    const char *e2 = "cid=1 op=\"y st=ok\\nlevel=error req=1\" tenant=-";
    if (strstr(log, e1) == NULL || strstr(log, e2) == NULL)
        fail_msg("escaped op names not found in log:\n%s", log);
    unsigned long long r1 = req_of_line(log, e1), r2 = req_of_line(log, e2);
    assert_true(r1 > 0 && r2 > 0);
    assert_true(r1 != r2);
    /* the error message quoting the op is escaped too */
    assert_non_null(
        strstr(log, "msg=\"unknown op 'nope\\\" status=ok tenant=evil'\""));
    /* and nothing was forged: no line starts with the injected text */
    assert_null(strstr(log, "\nlevel=error req=1\""));
    free(log);
}

static void
test_sighup_reloads(void **state)
{
    (void)state;
    kill(D.pid, SIGHUP);
    usleep(200000);
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(crm_client_call(c, "server.info", NULL, NULL, &res, &why),
                     CRM_OK);
    char buf[64];
    assert_string_equal(fx_res_str(res, "tenant", buf, 64), "acme");
    assert_string_equal(fx_res_str(res, "role", buf, 64), "admin");
    crm_client_close(c);
    char *log = fx_crmd_log(&D);
    assert_non_null(strstr(log, "msg=\"keys reloaded\""));
    assert_non_null(strstr(log, "msg=\"no config file to reload\""));
    free(log);
}

/* A second crmd started on the same data directory shares the registry
 * (keys work) but cannot write a tenant log the first one has open: its
 * appends get unavailable, and nothing is written, until the first stops. */
static void
test_second_crmd_same_data(void **state)
{
    (void)state;
    fx_crmd a, b;
    char keys[CRM_ROLE__COUNT][128];
    assert_int_equal(fx_crmd_start(&a, 0, NULL), 0);
    assert_int_equal(fx_tenant(&a, "shared", keys), 0);
    crm_client *ca = fx_client(&a, a.url, keys[CRM_ROLE_AGENT]);
    const msgpack_object *res;
    crm_error why;
    crm_event_in ev;
    fx_event(&ev, "guest-2nd", "web.product_viewed",
             FX_BODY(FX_S("product", "spa")));
    assert_int_equal(append(ca, &ev, 1, &res, &why), CRM_OK);

    char data[600], opkey[600];
    snprintf(data, sizeof(data), "%s/data", a.dir);
    snprintf(opkey, sizeof(opkey), "%s/operator.key", a.dir);
    const char *const extra[] = {"--data", data, "--operator-key-file", opkey,
                                 "--master-key", a.master_key, NULL};
    assert_int_equal(fx_crmd_start(&b, 0, extra), 0);
    crm_client *cb = fx_client(&b, b.url, keys[CRM_ROLE_AGENT]);
    fx_event(&ev, "guest-2nd", "web.product_viewed",
             FX_BODY(FX_S("product", "bar")));
    assert_int_equal(append(cb, &ev, 1, &res, &why), CRM_ERR_UNAVAILABLE);
    assert_non_null(strstr(why.msg, "another process"));
    assert_int_equal(head_of(ca), 1);

    /* once the first has stopped, the second takes the log over */
    crm_client_close(ca);
    assert_int_equal(fx_crmd_stop_clean(&a), 0);
    assert_int_equal(append(cb, &ev, 1, &res, &why), CRM_OK);
    assert_int_equal(head_of(cb), 2);
    crm_client_close(cb);
    assert_int_equal(fx_crmd_stop_clean(&b), 0);
    fx_crmd_cleanup(&b);
    fx_crmd_cleanup(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping_every_transport),
        cmocka_unit_test(test_tls_needs_the_right_ca),
        cmocka_unit_test(test_append_read_and_retry),
        cmocka_unit_test(test_long_poll),
        cmocka_unit_test(test_long_poll_cap),
        cmocka_unit_test(test_batch_of_reads),
        cmocka_unit_test(test_metrics_endpoint),
        cmocka_unit_test(test_log_lines_carry_request_ids),
        cmocka_unit_test(test_sighup_reloads),
        cmocka_unit_test(test_second_crmd_same_data),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
