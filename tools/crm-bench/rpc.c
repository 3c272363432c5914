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
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "client.h"
#include "crmd.h"
#include "rpc.h"
#include "workload.h"

typedef struct ropts {
    double seconds;
    const char *dir;
    const char *crmd;
    unsigned streams;
    int port, echo_port;
    const char *only;  /* "ping" or "append" (NULL: both) */
    size_t only_batch; /* with append: one batch size */
    const char *projections; /* crmd's --projections, or NULL */
    int rebuild;             /* rebuild and compare at the end */
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

/* Packs a request the way libcrmclient does, to learn its size. */
static size_t
request_size(const char *op, const char *key, const bench_call *call)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    crm_rpc_pack_request_head(&pk, 1, op, NULL, key);
    if (call->raw)
        msgpack_sbuffer_write(&sb, call->raw, call->raw_len);
    else if (call->args)
        call->args(&pk, call->arg);
    else
        msgpack_pack_map(&pk, 0);
    size_t n = sb.size;
    msgpack_sbuffer_destroy(&sb);
    return n;
}

/* The size of a reply: what came back re-packed inside an envelope. */
static size_t
reply_size(const msgpack_object *res)
{
    msgpack_sbuffer sb;
    msgpack_packer rp;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&rp, &sb, msgpack_sbuffer_write);
    crm_rpc_pack_reply_head(&rp, 1);
    msgpack_pack_object(&rp, *res);
    size_t n = sb.size;
    msgpack_sbuffer_destroy(&sb);
    return n;
}

/* One client thread of a bench_load. */
typedef struct caller {
    const bench_load *l;
    void *state;
    double deadline; /* 0: none */
    uint64_t calls, items, missing;
    double last; /* when the last answer came */
    bench_lat lat;
    crm_error err;
    size_t req_len, rep_len;
} caller;

static void *
caller_main(void *arg)
{
    caller *c = arg;
    const bench_load *l = c->l;
    crm_client *cl;
    crm_client_opts co = {.url = l->url, .key = l->key, .timeout_ms = 30000};
    if (crm_client_open(&co, &cl, &c->err) != CRM_OK)
        return NULL;
    while ((c->deadline == 0 || bench_now() < c->deadline) &&
           !bench_stopped()) {
        bench_call call = {0};
        int more = l->next(c->state, &call);
        if (more != 0) {
            if (more < 0)
                crm_error_set(&c->err, CRM_ERR_INTERNAL,
                              "%s: the client could not make its next call",
                              call.op ? call.op : "load");
            break;
        }
        if (c->req_len == 0)
            c->req_len = request_size(call.op, l->key, &call);
        const msgpack_object *res;
        crm_error why;
        double t0 = bench_now();
        crm_err err =
            call.raw ? crm_client_call_raw(cl, call.op, call.raw,
                                           call.raw_len, &res, &why)
                     : crm_client_call(cl, call.op, call.args, call.arg, &res,
                                       &why);
        c->last = bench_now();
        if (err == CRM_ERR_NOT_FOUND && l->not_found_ok) {
            c->missing++;
            res = NULL;
        } else if (err != CRM_OK) {
            if (!bench_stopped()) {
                c->err = why;
                c->err.code = err;
                crm_error_prefix(&c->err, "%s", call.op);
            }
            break;
        }
        bench_lat_add(&c->lat, (c->last - t0) * 1e6);
        c->calls++;
        if (res != NULL) {
            if (c->rep_len == 0)
                c->rep_len = reply_size(res);
            c->items += l->items ? l->items(c->state, res) : 1;
        }
    }
    crm_client_close(cl);
    return NULL;
}

int
bench_rpc_load(const bench_load *l, bench_tally *t)
{
    caller c[BENCH_MAX_CLIENTS];
    pthread_t th[BENCH_MAX_CLIENTS];
    int started[BENCH_MAX_CLIENTS] = {0};
    memset(t, 0, sizeof(*t));
    if (l->clients < 1 || l->clients > BENCH_MAX_CLIENTS || l->next == NULL) {
        crm_error_set(&t->err, CRM_ERR_BAD_REQUEST, "load out of range");
        return -1;
    }
    double t0 = bench_now();
    for (int i = 0; i < l->clients; i++) {
        c[i] = (caller){.l = l,
                        .state = l->state ? l->state[i] : NULL,
                        .deadline = l->seconds > 0 ? t0 + l->seconds : 0,
                        .last = t0};
        started[i] = pthread_create(&th[i], NULL, caller_main, &c[i]) == 0;
        if (!started[i])
            crm_error_set(&c[i].err, CRM_ERR_NOMEM, "cannot start a client");
    }
    bench_lat all = {0};
    double last = t0;
    for (int i = 0; i < l->clients; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        if (c[i].err.code != CRM_OK && t->err.code == CRM_OK)
            t->err = c[i].err;
        t->calls += c[i].calls;
        t->items += c[i].items;
        t->missing += c[i].missing;
        if (c[i].last > last)
            last = c[i].last;
        for (size_t j = 0; j < c[i].lat.n; j++)
            bench_lat_add(&all, c[i].lat.us[j]);
        bench_lat_free(&c[i].lat);
    }
    t->seconds = last > t0 ? last - t0 : 1e-9;
    t->calls_per_s = (double)t->calls / t->seconds;
    t->items_per_s = (double)t->items / t->seconds;
    t->p50 = bench_lat_pct(&all, 0.50);
    t->p99 = bench_lat_pct(&all, 0.99);
    t->p999 = bench_lat_pct(&all, 0.999);
    t->req_len = c[0].req_len;
    t->rep_len = c[0].rep_len;
    bench_lat_free(&all);
    return t->err.code == CRM_OK ? 0 : -1;
}

/* The bare NNG client of an echo load: requests of req_len bytes, replies
 * of rep_len. */
typedef struct echoer {
    const char *url;
    size_t req_len, rep_len;
    double deadline;
    uint64_t calls;
    bench_lat lat;
    int failed;
} echoer;

static void *
echo_main(void *arg)
{
    echoer *l = arg;
    nng_socket s;
    nng_msg *m;
    if (nng_req0_open(&s) != 0 || nng_dial(s, l->url, NULL, 0) != 0) {
        l->failed = 1;
        return NULL;
    }
    while (bench_now() < l->deadline && !bench_stopped()) {
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
    return NULL;
}

/* One client's appends of generated events. */
typedef struct appender {
    bench_workload wl;
    size_t batch;
    crm_event_in ev[BENCH_MAX_BATCH];
    char streams[BENCH_MAX_BATCH][BENCH_STREAM_LEN];
} appender;

static int
pack_append(msgpack_packer *pk, void *arg)
{
    appender *a = arg;
    int rc = msgpack_pack_map(pk, 1);
    rc |= crm_mp_pack_cstr(pk, "events") | msgpack_pack_array(pk, a->batch);
    for (size_t i = 0; i < a->batch; i++)
        rc |= crm_rpc_pack_event(pk, &a->ev[i]);
    return rc;
}

static int
append_next(void *state, bench_call *call)
{
    appender *a = state;
    for (size_t i = 0; i < a->batch; i++)
        bench_workload_next(&a->wl, &a->ev[i], a->streams[i]);
    *call = (bench_call){.op = "append", .args = pack_append, .arg = a};
    return 0;
}

static int
ping_next(void *state, bench_call *call)
{
    (void)state;
    *call = (bench_call){.op = "ping"};
    return 0;
}

typedef struct rresult {
    uint64_t calls;
    double calls_per_s;
    double p50, p99, p999;
    size_t req_len, rep_len;
} rresult;

static int
run_echo(const ropts *o, const char *url, int clients, size_t req_len,
         size_t rep_len, rresult *r)
{
    echoer l[BENCH_MAX_CLIENTS];
    pthread_t th[BENCH_MAX_CLIENTS];
    double t0 = bench_now();
    for (int i = 0; i < clients; i++) {
        l[i] = (echoer){.url = url,
                        .req_len = req_len,
                        .rep_len = rep_len,
                        .deadline = t0 + o->seconds};
        pthread_create(&th[i], NULL, echo_main, &l[i]);
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
    r->calls = calls;
    r->calls_per_s = (double)calls / el;
    r->p50 = bench_lat_pct(&all, 0.50);
    r->p99 = bench_lat_pct(&all, 0.99);
    r->p999 = bench_lat_pct(&all, 0.999);
    r->req_len = req_len;
    r->rep_len = rep_len;
    bench_lat_free(&all);
    return failed ? -1 : 0;
}

/* crmd pings or appends of batch generated events over o->streams guests,
 * by clients clients; the seeds give every run the same guests in the same
 * order. */
static int
run_crmd(const ropts *o, kind k, const char *url, const char *key,
         size_t batch, int clients, rresult *r)
{
    appender *a = NULL;
    void *state[BENCH_MAX_CLIENTS] = {0};
    int ready = 0, rc = -1;
    if (k == K_APPEND) {
        if ((a = calloc((size_t)clients, sizeof(*a))) == NULL)
            goto nomem;
        for (; ready < clients; ready++) {
            if (bench_workload_init(&a[ready].wl,
                                    (unsigned)(ready + 1) * 104729u,
                                    o->streams) != 0)
                goto nomem;
            a[ready].batch = batch;
            state[ready] = &a[ready];
        }
    }
    bench_load l = {.url = url,
                    .key = key,
                    .clients = clients,
                    .seconds = o->seconds,
                    .next = k == K_APPEND ? append_next : ping_next,
                    .state = state};
    bench_tally t;
    rc = bench_rpc_load(&l, &t);
    if (rc != 0)
        fprintf(stderr, "%s\n", t.err.msg);
    r->calls = t.calls;
    r->calls_per_s = t.calls_per_s;
    r->p50 = t.p50;
    r->p99 = t.p99;
    r->p999 = t.p999;
    r->req_len = t.req_len;
    r->rep_len = t.rep_len;
    goto out;
nomem:
    fprintf(stderr, "client: out of memory\n");
out:
    for (int i = 0; i < ready; i++)
        bench_workload_free(&a[i].wl);
    free(a);
    return rc;
}

/* --- for other modes ----------------------------------------------------- */

int
bench_rpc_appends(const char *url, const char *key, unsigned streams,
                  size_t batch, int clients, double seconds, bench_run *run)
{
    ropts o = {.seconds = seconds, .streams = streams};
    rresult r;
    if (batch < 1 || batch > BENCH_MAX_BATCH || clients < 1 ||
        clients > BENCH_MAX_CLIENTS)
        return -1;
    int rc = run_crmd(&o, K_APPEND, url, key, batch, clients, &r);
    run->events = r.calls * batch;
    run->events_per_s = r.calls_per_s * (double)batch;
    run->p50 = r.p50;
    run->p99 = r.p99;
    return rc;
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
            "                     [--repeat R] [--projections LIST] [--rebuild]\n"
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
            "%d)\n"
            "  --projections LIST  crmd's projections (settings, counts or "
            "none;\n"
            "               default crmd's own)\n"
            "  --no-encryption  crmd without a master key (its tenant "
            "keeps personal\n"
            "               data unsealed), to compare\n"
            "  --rebuild    at the end, rebuild every projection from the "
            "log and\n"
            "               compare it with the inline state (exit 1 if one "
            "differs)\n",
            BENCH_MAX_ROUNDS);
}

int
bench_rpc(int argc, char **argv)
{
    ropts o = {.seconds = 3,
               .dir = ".",
               .crmd = bench_crmd_default_path(),
               .streams = 100000,
               .port = 17480};
    int rounds = 1;
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
        else if (strcmp(argv[i], "--projections") == 0 && i + 1 < argc)
            o.projections = argv[++i];
        else if (strcmp(argv[i], "--rebuild") == 0)
            o.rebuild = 1;
        else if (strcmp(argv[i], "--no-encryption") == 0)
            bench_crmd_plain(1);
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

    char echo_url[64];
    bench_crmd crmd = {0};
    snprintf(echo_url, sizeof(echo_url), "tcp://127.0.0.1:%d", o.echo_port);
    /* the echo server is forked before this process first uses NNG (the
     * bench tenant is made over it): NNG does not survive a fork */
    pid_t echo = fork();
    if (echo == 0)
        echo_server(o.echo_port);
    int rc = 1;
    if (echo < 0 ||
        bench_crmd_start(o.crmd, o.dir, o.port, o.projections, &crmd) != 0)
        goto out;
    const char *url = crmd.url, *key = crmd.key;
    usleep(200000);

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
            if (run_crmd(&o, K_PING, url, key, 0, clients[c], &ping) != 0 ||
                run_echo(&o, echo_url, clients[c], ping.req_len,
                         ping.rep_len, &pecho) != 0)
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
                if (run_crmd(&o, K_APPEND, url, key, batches[b], clients[c],
                             &app) != 0 ||
                    run_echo(&o, echo_url, clients[c], app.req_len,
                             app.rep_len, &aecho) != 0)
                    goto out;
                rrow(what, "crmd", clients[c], (double)batches[b], &app);
                uint64_t c1, e1;
                bench_crmd_counts(&crmd, &c1, &e1);
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
    if (o.rebuild) {
        bench_rebuilt rb[BENCH_MAX_PROJ];
        int n;
        rc = 1;
        if (bench_crmd_rebuild(&crmd, rb, BENCH_MAX_PROJ, &n, NULL) == 0) {
            printf("\nrebuild from the log while serving, compared with the "
                   "inline state:\n");
            rc = bench_crmd_print_rebuilt(rb, n);
        }
    }
out:
    if (echo > 0) {
        kill(echo, SIGKILL);
        waitpid(echo, NULL, 0);
    }
    bench_crmd_stop(&crmd);
    return rc;
}
