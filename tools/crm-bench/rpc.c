/*
 * rpc.c - crm-bench rpc: crmd over NNG against bare NNG, in one run.
 *
 * Starts a crmd of its own (fresh data directory, durable commits) and a
 * bare NNG rep0 echo server in a child process (contexts with aio
 * callbacks, the way crmd serves). Then, over tcp://127.0.0.1 with 1 and
 * 8 clients (one req0 socket each):
 *   ping        crmd ping vs an echo of the same request and reply sizes
 *   append b    batches of b ~300-byte events (b = 1, 10, 100) vs an echo
 *               of the same sizes
 * and reports throughput with p50/p99/p999 latency, and the ratios.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "client.h"
#include "rpc.h"
#include "uuid.h"

typedef struct ropts {
    double seconds;
    const char *dir;
    const char *crmd;
    unsigned streams;
    int port, echo_port;
    const char *only;  /* "ping" or "append" (NULL: both) */
    size_t only_batch; /* with append: one batch size */
} ropts;

/* --- bare NNG echo server (child process) --------------------------------- */

typedef struct echo_ctx {
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
} echo_ctx;

/* The first 4 bytes of a request say how long the reply must be. */
static void
echo_cb(void *arg)
{
    echo_ctx *e = arg;
    if (nng_aio_result(e->aio) != 0) {
        if (e->sending)
            nng_msg_free(nng_aio_get_msg(e->aio));
        e->sending = 0;
        nng_ctx_recv(e->ctx, e->aio);
        return;
    }
    if (e->sending) {
        e->sending = 0;
        nng_ctx_recv(e->ctx, e->aio);
        return;
    }
    nng_msg *m = nng_aio_get_msg(e->aio);
    uint32_t want = 0;
    if (nng_msg_len(m) >= 4) {
        const uint8_t *p = nng_msg_body(m);
        want = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
               (uint32_t)p[2] << 8 | p[3];
    }
    nng_msg_realloc(m, want);
    e->sending = 1;
    nng_aio_set_msg(e->aio, m);
    nng_ctx_send(e->ctx, e->aio);
}

static void
echo_server(int port)
{
    nng_socket s;
    char url[64];
    static echo_ctx ctx[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
    if (nng_rep0_open(&s) != 0 || nng_listen(s, url, NULL, 0) != 0)
        _exit(1);
    for (int i = 0; i < 64; i++) {
        nng_ctx_open(&ctx[i].ctx, s);
        nng_aio_alloc(&ctx[i].aio, echo_cb, &ctx[i]);
        nng_ctx_recv(ctx[i].ctx, ctx[i].aio);
    }
    for (;;)
        pause();
}

/* --- load ----------------------------------------------------------------- */

typedef enum kind { K_PING, K_APPEND, K_ECHO } kind;

typedef struct loader {
    const ropts *o;
    kind k;
    const char *url;
    const char *key;
    size_t batch;
    size_t req_len, rep_len; /* echo sizes */
    unsigned seed;
    double deadline;
    uint64_t calls;
    bench_lat lat;
    int failed;
    size_t seen_req, seen_rep; /* sizes of the first crmd exchange */
} loader;

typedef struct append_arg {
    crm_event_in ev[100];
    size_t n;
} append_arg;

static int
pack_append(msgpack_packer *pk, void *arg)
{
    append_arg *a = arg;
    int rc = msgpack_pack_map(pk, 1);
    rc |= crm_mp_pack_cstr(pk, "events") | msgpack_pack_array(pk, a->n);
    for (size_t i = 0; i < a->n; i++)
        rc |= crm_rpc_pack_event(pk, &a->ev[i]);
    return rc;
}

/* Packs a request the way libcrmclient does, to learn its size. */
static size_t
request_size(const char *op, const char *key, append_arg *a)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    crm_rpc_pack_request_head(&pk, 1, op, NULL, key);
    if (a)
        pack_append(&pk, a);
    else
        msgpack_pack_map(&pk, 0);
    size_t n = sb.size;
    msgpack_sbuffer_destroy(&sb);
    return n;
}

static void *
load_main(void *arg)
{
    loader *l = arg;
    uint64_t rng = l->seed * 0x9E3779B97F4A7C15ull + 1;
    char streams[100][24];
    msgpack_zone z;
    msgpack_object body;
    msgpack_sbuffer bsb;
    msgpack_packer pk;

    msgpack_zone_init(&z, 2048);
    msgpack_sbuffer_init(&bsb);
    msgpack_packer_init(&pk, &bsb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 9);
#define KV(k, v) crm_mp_pack_cstr(&pk, k), crm_mp_pack_cstr(&pk, v)
    KV("booking_id", "BK-00418842");
    KV("property", "lisbon-riverside");
    KV("arrival", "2027-03-14");
    KV("departure", "2027-03-18");
    KV("channel", "web");
    KV("room_type", "deluxe-king");
    crm_mp_pack_cstr(&pk, "guests");
    msgpack_pack_int(&pk, 2);
    crm_mp_pack_cstr(&pk, "amount");
    msgpack_pack_int(&pk, 64000);
    KV("currency", "EUR");
#undef KV
    size_t off = 0;
    msgpack_unpack(bsb.data, bsb.size, &off, &z, &body);

    if (l->k == K_ECHO) {
        nng_socket s;
        nng_msg *m;
        if (nng_req0_open(&s) != 0 || nng_dial(s, l->url, NULL, 0) != 0) {
            l->failed = 1;
            goto done;
        }
        while (bench_now() < l->deadline) {
            double t0 = bench_now();
            if (nng_msg_alloc(&m, l->req_len) != 0) {
                l->failed = 1;
                break;
            }
            uint8_t *p = nng_msg_body(m);
            memset(p, 0xa5, l->req_len);
            p[0] = (uint8_t)(l->rep_len >> 24);
            p[1] = (uint8_t)(l->rep_len >> 16);
            p[2] = (uint8_t)(l->rep_len >> 8);
            p[3] = (uint8_t)l->rep_len;
            if (nng_sendmsg(s, m, 0) != 0 || nng_recvmsg(s, &m, 0) != 0) {
                l->failed = 1;
                break;
            }
            nng_msg_free(m);
            bench_lat_add(&l->lat, (bench_now() - t0) * 1e6);
            l->calls++;
        }
        nng_close(s);
        goto done;
    }

    crm_client *c;
    crm_error why;
    crm_client_opts co = {.url = l->url, .key = l->key, .timeout_ms = 30000};
    if (crm_client_open(&co, &c, &why) != CRM_OK) {
        fprintf(stderr, "client: %s\n", why.msg);
        l->failed = 1;
        goto done;
    }
    append_arg a;
    a.n = l->batch;
    int64_t now = 1767225600000000;
    while (bench_now() < l->deadline) {
        const msgpack_object *res;
        double t0 = bench_now();
        crm_err err;
        if (l->k == K_PING) {
            err = crm_client_call(c, "ping", NULL, NULL, &res, &why);
        } else {
            for (size_t i = 0; i < a.n; i++) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                int n = snprintf(streams[i], 24, "cust-%07u",
                                 (unsigned)(rng % l->o->streams));
                crm_uuid_v7(a.ev[i].id);
                a.ev[i].stream = streams[i];
                a.ev[i].stream_len = (size_t)n;
                a.ev[i].type = "booking.created";
                a.ev[i].type_len = 15;
                a.ev[i].occurred_at = now++;
                a.ev[i].body = &body;
            }
            if (l->seen_req == 0)
                l->seen_req = request_size("append", l->key, &a);
            err = crm_client_call(c, "append", pack_append, &a, &res, &why);
        }
        if (err != CRM_OK) {
            fprintf(stderr, "%s: %s\n", l->k == K_PING ? "ping" : "append",
                    why.msg);
            l->failed = 1;
            break;
        }
        if (l->seen_rep == 0) {
            /* reply size: re-pack what came back inside an envelope */
            msgpack_sbuffer sb;
            msgpack_packer rp;
            msgpack_sbuffer_init(&sb);
            msgpack_packer_init(&rp, &sb, msgpack_sbuffer_write);
            crm_rpc_pack_reply_head(&rp, 1);
            msgpack_pack_object(&rp, *res);
            l->seen_rep = sb.size;
            msgpack_sbuffer_destroy(&sb);
            if (l->k == K_PING)
                l->seen_req = request_size("ping", l->key, NULL);
        }
        bench_lat_add(&l->lat, (bench_now() - t0) * 1e6);
        l->calls++;
    }
    crm_client_close(c);
done:
    msgpack_sbuffer_destroy(&bsb);
    msgpack_zone_destroy(&z);
    return NULL;
}

typedef struct rresult {
    double calls_per_s;
    double p50, p99, p999;
    size_t req_len, rep_len;
} rresult;

static int
run_load(const ropts *o, kind k, const char *url, const char *key, size_t batch,
         int clients, size_t req_len, size_t rep_len, rresult *r)
{
    loader l[8];
    pthread_t th[8];
    double t0 = bench_now();
    for (int i = 0; i < clients; i++) {
        l[i] = (loader){.o = o,
                        .k = k,
                        .url = url,
                        .key = key,
                        .batch = batch,
                        .req_len = req_len,
                        .rep_len = rep_len,
                        .seed = (unsigned)(i + 1) * 104729u,
                        .deadline = t0 + o->seconds};
        pthread_create(&th[i], NULL, load_main, &l[i]);
    }
    bench_lat all = {0};
    uint64_t calls = 0;
    int failed = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        failed |= l[i].failed;
        calls += l[i].calls;
        for (size_t j = 0; j < l[i].lat.n; j++)
            bench_lat_add(&all, l[i].lat.us[j]);
        bench_lat_free(&l[i].lat);
    }
    double el = bench_now() - t0;
    r->calls_per_s = (double)calls / el;
    r->p50 = bench_lat_pct(&all, 0.50);
    r->p99 = bench_lat_pct(&all, 0.99);
    r->p999 = bench_lat_pct(&all, 0.999);
    r->req_len = l[0].seen_req ? l[0].seen_req : req_len;
    r->rep_len = l[0].seen_rep ? l[0].seen_rep : rep_len;
    bench_lat_free(&all);
    return failed ? -1 : 0;
}

/* --- crmd ----------------------------------------------------------------- */

static pid_t
start_crmd(const ropts *o, char *datadir, size_t len)
{
    char url[64], ready[700], http[8] = "off";
    snprintf(datadir, len, "%s/crmd-bench-XXXXXX", o->dir);
    if (mkdtemp(datadir) == NULL)
        return -1;
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", o->port);
    snprintf(ready, sizeof(ready), "%s/ready", datadir);
    pid_t pid = fork();
    if (pid == 0) {
        char data[700];
        snprintf(data, sizeof(data), "%s/data", datadir);
        execl(o->crmd, o->crmd, "--data", data, "--listen", url, "--http", http,
              "--ready-file", ready, "--contexts", "64", "--log-level", "warn",
              "--map-size-mb", "1024", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        struct stat st;
        if (stat(ready, &st) == 0)
            return pid;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static char opkey[160];

/* Commits and events of the bench tenant so far (operator metrics). */
static void
tenant_counts(const char *url, uint64_t *commits, uint64_t *events)
{
    crm_client *c;
    crm_error why;
    const msgpack_object *res;
    crm_client_opts co = {.url = url, .key = opkey};
    *commits = *events = 0;
    if (crm_client_open(&co, &c, &why) != CRM_OK)
        return;
    if (crm_client_call(c, "metrics", NULL, NULL, &res, &why) == CRM_OK) {
        const msgpack_object *t =
            crm_mp_get(crm_mp_get(res, "tenants"), "bench");
        int64_t v;
        if (crm_mp_int(crm_mp_get(t, "commits"), 0, INT64_MAX, &v) == 0)
            *commits = (uint64_t)v;
        if (crm_mp_int(crm_mp_get(t, "events"), 0, INT64_MAX, &v) == 0)
            *events = (uint64_t)v;
    }
    crm_client_close(c);
}

static int
setup_tenant(const char *url, const char *datadir, char *key, size_t keylen)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/data/operator.key", datadir);
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(opkey, sizeof(opkey), f) == NULL) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    opkey[strcspn(opkey, "\n")] = '\0';
    crm_client *c;
    crm_error why;
    const msgpack_object *res;
    crm_client_opts co = {.url = url, .key = opkey};
    if (crm_client_open(&co, &c, &why) != CRM_OK)
        return -1;
    static const uint8_t tenant[] = {0x81, 0xa2, 'i', 'd', 0xa5,
                                     'b',  'e',  'n', 'c', 'h'};
    static const uint8_t keyargs[] = {
        0x82, 0xa6, 't', 'e', 'n', 'a', 'n',  't', 0xa5, 'b', 'e', 'n', 'c',
        'h',  0xa4, 'r', 'o', 'l', 'e', 0xa5, 'a', 'g',  'e', 'n', 't'};
    int rc = -1;
    if (crm_client_call_raw(c, "tenant.create", tenant, sizeof(tenant), &res,
                            &why) == CRM_OK &&
        crm_client_call_raw(c, "key.create", keyargs, sizeof(keyargs), &res,
                            &why) == CRM_OK) {
        const msgpack_object *k = crm_mp_get(res, "key");
        if (crm_mp_is_str(k) && k->via.str.size < keylen) {
            memcpy(key, k->via.str.ptr, k->via.str.size);
            key[k->via.str.size] = '\0';
            rc = 0;
        }
    }
    if (rc != 0)
        fprintf(stderr, "bench tenant: %s\n", why.msg);
    crm_client_close(c);
    return rc;
}

static void
remove_tree(const char *dir)
{
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* --- driver --------------------------------------------------------------- */

static void
rrow(const char *what, const char *sys, int clients, double per_call,
     const rresult *r)
{
    printf("%-12s %-6s %7d %12.0f %12.0f %8.0f %8.0f %8.0f %7zu %7zu\n", what,
           sys, clients, r->calls_per_s, r->calls_per_s * per_call, r->p50,
           r->p99, r->p999, r->req_len, r->rep_len);
    fflush(stdout);
}

static void
rpc_usage(FILE *f)
{
    fprintf(f,
            "usage: crm-bench rpc [--seconds S] [--dir DIR] [--crmd PATH]\n"
            "                     [--streams N] [--port P] [--only W] [--batch N]\n"
            "                     [--repeat R]\n"
            "\n"
            "  --seconds S  time per configuration (default 3)\n"
            "  --dir DIR    where crmd keeps its scratch data directory "
            "(default .)\n"
            "  --crmd PATH  the crmd binary (default: ../crmd next to "
            "crm-bench)\n"
            "  --streams N  customer streams appends spread over (default "
            "100000)\n"
            "  --port P     crmd port (default 17480; the echo server uses "
            "P+1)\n"
            "  --only W     ping or append\n"
            "  --batch N    appends: only batch size N (1, 10 or 100)\n"
            "  --repeat R   rounds of every configuration; the summary gives "
            "the\n"
            "               median and range over the rounds (default 1, max "
            "%d)\n",
            BENCH_MAX_ROUNDS);
}

int
bench_rpc(int argc, char **argv)
{
    static char self_crmd[4096];
    ropts o = {.seconds = 3, .dir = ".", .streams = 100000, .port = 17480};
    int rounds = 1;
    ssize_t n = readlink("/proc/self/exe", self_crmd, sizeof(self_crmd) - 16);
    if (n > 0) {
        self_crmd[n] = '\0';
        char *slash = strrchr(self_crmd, '/');
        if (slash)
            strcpy(slash, "/../crmd");
        o.crmd = self_crmd;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            o.seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            o.dir = argv[++i];
        else if (strcmp(argv[i], "--crmd") == 0 && i + 1 < argc)
            o.crmd = argv[++i];
        else if (strcmp(argv[i], "--streams") == 0 && i + 1 < argc)
            o.streams = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            o.port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            o.only = argv[++i];
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            o.only_batch = (size_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--help") == 0) {
            rpc_usage(stdout);
            return 0;
        } else {
            rpc_usage(stderr);
            return 2;
        }
    }
    if (o.seconds <= 0 || o.streams == 0 || o.crmd == NULL || o.port <= 0 ||
        rounds < 1 || rounds > BENCH_MAX_ROUNDS) {
        rpc_usage(stderr);
        return 2;
    }
    o.echo_port = o.port + 1;

    char datadir[600], url[64], echo_url[64], key[160];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", o.port);
    snprintf(echo_url, sizeof(echo_url), "tcp://127.0.0.1:%d", o.echo_port);
    pid_t crmd = start_crmd(&o, datadir, sizeof(datadir));
    if (crmd < 0) {
        fprintf(stderr, "cannot start %s\n", o.crmd);
        return 1;
    }
    pid_t echo = fork();
    if (echo == 0)
        echo_server(o.echo_port);
    usleep(200000);
    int rc = 1;
    if (setup_tenant(url, datadir, key, sizeof(key)) != 0)
        goto out;

    printf("crm-bench rpc: tcp loopback, durable appends, %u streams, %.1f s "
           "per run\n\n",
           o.streams, o.seconds);
    printf("%-12s %-6s %7s %12s %12s %8s %8s %8s %7s %7s\n", "workload",
           "system", "clients", "calls/s", "events/s", "p50 us", "p99 us",
           "p999 us", "req B", "rep B");
    static const int clients[] = {1, 8};
    uint64_t commits = 0, events = 0;
    static const size_t batches[] = {1, 10, 100};
    /* per round: crmd / bare NNG, and crmd's events/s */
    static double ping_r[2][BENCH_MAX_ROUNDS], app_r[3][2][BENCH_MAX_ROUNDS],
        app_ev[3][2][BENCH_MAX_ROUNDS];
    int have_ping = 0, have_app[3] = {0};
    for (int r = 0; r < rounds; r++) {
        for (int c = 0; c < 2 && (!o.only || strcmp(o.only, "ping") == 0);
             c++) {
            rresult ping, pecho;
            if (run_load(&o, K_PING, url, key, 0, clients[c], 0, 0, &ping) !=
                    0 ||
                run_load(&o, K_ECHO, echo_url, NULL, 0, clients[c],
                         ping.req_len, ping.rep_len, &pecho) != 0)
                goto out;
            rrow("ping", "crmd", clients[c], 1, &ping);
            rrow("ping", "nng", clients[c], 1, &pecho);
            ping_r[c][r] = ping.calls_per_s / pecho.calls_per_s;
            have_ping = 1;
        }
        for (int b = 0; b < 3 && (!o.only || strcmp(o.only, "append") == 0);
             b++) {
            if (o.only_batch && o.only_batch != batches[b])
                continue;
            for (int c = 0; c < 2; c++) {
                char what[32];
                rresult app, aecho;
                snprintf(what, sizeof(what), "append %zu", batches[b]);
                if (run_load(&o, K_APPEND, url, key, batches[b], clients[c], 0,
                             0, &app) != 0 ||
                    run_load(&o, K_ECHO, echo_url, NULL, 0, clients[c],
                             app.req_len, app.rep_len, &aecho) != 0)
                    goto out;
                rrow(what, "crmd", clients[c], (double)batches[b], &app);
                uint64_t c1, e1;
                tenant_counts(url, &c1, &e1);
                printf("%-12s %-6s %7s   %.1f events per commit (fsync)\n", "",
                       "", "",
                       c1 > commits
                           ? (double)(e1 - events) / (double)(c1 - commits)
                           : 0.0);
                commits = c1, events = e1;
                rrow(what, "nng", clients[c], (double)batches[b], &aecho);
                app_r[b][c][r] = app.calls_per_s / aecho.calls_per_s;
                app_ev[b][c][r] = app.calls_per_s * (double)batches[b];
                have_app[b] = 1;
            }
        }
    }
    printf("\ncrmd / bare NNG, same request and reply sizes (median over %d "
           "round%s, lowest..highest):\n",
           rounds, rounds > 1 ? "s" : "");
    double m, lo, hi, em, elo, ehi;
    for (int c = 0; c < 2 && have_ping; c++) {
        bench_spread(ping_r[c], rounds, &m, &lo, &hi);
        printf("  ping, %d client%s: %5.1f%% (%.0f..%.0f)\n", clients[c],
               c ? "s" : " ", 100 * m, 100 * lo, 100 * hi);
    }
    for (int b = 0; b < 3; b++)
        for (int c = 0; c < 2 && have_app[b]; c++) {
            bench_spread(app_r[b][c], rounds, &m, &lo, &hi);
            bench_spread(app_ev[b][c], rounds, &em, &elo, &ehi);
            printf("  append %3zu, %d client%s: %5.1f%%  (%.0f events/s; "
                   "%.0f..%.0f)\n",
                   batches[b], clients[c], c ? "s" : " ", 100 * m, em, elo,
                   ehi);
        }
    rc = 0;
out:
    kill(echo, SIGKILL);
    waitpid(echo, NULL, 0);
    kill(crmd, SIGTERM);
    waitpid(crmd, NULL, 0);
    remove_tree(datadir);
    return rc;
}
