/*
 * pg.c - crm-bench pg: crmd against PostgreSQL used as a CRM store, in
 * one run.
 *
 * A hotel chain's IT team would otherwise keep its CRM in PostgreSQL:
 * an events table, and a customer360 row per guest kept current in the
 * same transaction so that a read after a write sees it. This mode starts
 * a private PostgreSQL server (initdb in a scratch directory, loopback
 * only, synchronous_commit = on, fsync on) and a crmd of its own (fresh
 * data directory, durable commits), and sends both the appends of
 * `crm-bench rpc --only append` (workload.h): per transaction a batch of
 * ~300-byte booking events spread over 100,000 guests, from N client
 * threads in a closed loop over tcp://127.0.0.1. The two systems take
 * turns, configuration by configuration and round by round (the one that
 * goes first alternates), because this disk's speed drifts over minutes;
 * the ratios are those of neighbouring runs.
 *
 * PostgreSQL's transaction is one statement, so it costs one round trip:
 * the touched guests' customer360 rows are upserted (INSERT ... ON
 * CONFLICT DO UPDATE, in guest order so that concurrent transactions lock
 * rows in the same order) and return their new stream versions, from
 * which the batch's events get their versions as they are inserted.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "crmd.h"
#include "uuid.h"
#include "workload.h"

#define MAX_LIST 4    /* entries of --batch and of --clients */
#define PG_USER "crmbench"
#define PG_GLOB "/usr/lib/postgresql/*/bin/pg_ctl"

typedef struct popts {
    double seconds;
    const char *dir, *crmd, *pg_bin;
    const char *projections; /* crmd's --projections, or NULL: its own */
    unsigned streams;
    int port, pg_port, rounds;
    size_t batch[MAX_LIST];
    int nbatch;
    int clients[MAX_LIST];
    int nclients;
} popts;

/* --- the private server --------------------------------------------------- */

typedef struct pg_server {
    char bin[512];  /* directory of initdb and pg_ctl */
    char root[600]; /* scratch directory; "" when none was made */
    char data[700];
    char tool_log[700];   /* what initdb and pg_ctl said */
    char server_log[700]; /* what the server said */
    int port;
    int drop; /* running as root: the tools run as user postgres */
    uid_t uid;
    gid_t gid;
    int made; /* initdb ran: pg_ctl stop at the end */
    char conninfo[256];
} pg_server;

static void
no_server(void)
{
    fprintf(stderr,
            "crm-bench pg: no PostgreSQL server found (looked for %s).\n"
            "The benchmark runs a private PostgreSQL server of its own; "
            "install one with\n"
            "  apt-get install postgresql\n"
            "(deploy/install-deps.sh installs libpq-dev, which crm-bench "
            "is built with, but not the server.)\n",
            PG_GLOB);
}

/* The newest /usr/lib/postgresql/<version>/bin, or o->pg_bin. */
static int
find_bin(const popts *o, pg_server *pg)
{
    char probe[600];
    if (o->pg_bin) {
        snprintf(probe, sizeof(probe), "%s/pg_ctl", o->pg_bin);
        if (access(probe, X_OK) != 0) {
            fprintf(stderr, "crm-bench pg: no pg_ctl in --pg-bin %s\n",
                    o->pg_bin);
            no_server();
            return -1;
        }
        snprintf(pg->bin, sizeof(pg->bin), "%s", o->pg_bin);
        return 0;
    }
    glob_t g;
    double best = -1;
    if (glob(PG_GLOB, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *v = g.gl_pathv[i] + strlen("/usr/lib/postgresql/");
            double ver = atof(v);
            if (ver > best) {
                best = ver;
                snprintf(pg->bin, sizeof(pg->bin), "%.*s",
                         (int)(strlen(g.gl_pathv[i]) - strlen("/pg_ctl")),
                         g.gl_pathv[i]);
            }
        }
        globfree(&g);
    }
    if (best < 0) {
        no_server();
        return -1;
    }
    return 0;
}

/* Runs a PostgreSQL tool (argv[0] a path) with its output appended to
 * tool_log, as user postgres when crm-bench runs as root (initdb and the
 * server refuse root), in a process group of its own so that a Ctrl-C
 * reaches crm-bench, which then stops the server. Returns the tool's exit
 * status, or -1. */
static int
run_tool(const pg_server *pg, char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open(pg->tool_log, O_WRONLY | O_APPEND | O_CREAT, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        if (pg->drop && (setgroups(0, NULL) != 0 || setgid(pg->gid) != 0 ||
                         setuid(pg->uid) != 0)) {
            fprintf(stderr, "cannot become user postgres: %s\n",
                    strerror(errno));
            _exit(126);
        }
        if (access(pg->root, R_OK | W_OK | X_OK) != 0) {
            fprintf(stderr,
                    "user %s cannot write %s (%s): every directory above it "
                    "must be searchable by that user; choose a --dir it can "
                    "reach\n",
                    pg->drop ? "postgres" : "crm-bench's", pg->root,
                    strerror(errno));
            _exit(126);
        }
        execv(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
show_file(const char *what, const char *path)
{
    char line[512];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    fprintf(stderr, "--- %s (%s):\n", what, path);
    while (fgets(line, sizeof(line), f))
        fputs(line, stderr);
    fclose(f);
}

static const char schema_sql[] =
    "CREATE TABLE events ("
    " position bigserial PRIMARY KEY,"
    " id uuid NOT NULL UNIQUE,"
    " stream text NOT NULL,"
    " version int NOT NULL,"
    " type text NOT NULL,"
    " occurred_at bigint NOT NULL,"
    " recorded_at bigint NOT NULL"
    "  DEFAULT (extract(epoch FROM now()) * 1000000)::bigint,"
    " actor text NOT NULL,"
    " body jsonb NOT NULL,"
    " UNIQUE (stream, version));"
    /* version: events in the guest's stream so far; spend: minor units
     * by category and currency, {"room": {"EUR": 64000}} */
    "CREATE TABLE customer360 ("
    " guest text PRIMARY KEY,"
    " version int NOT NULL,"
    " bookings int NOT NULL DEFAULT 0,"
    " cancellations int NOT NULL DEFAULT 0,"
    " stays int NOT NULL DEFAULT 0,"
    " nights int NOT NULL DEFAULT 0,"
    " spend jsonb NOT NULL DEFAULT '{}',"
    " points bigint NOT NULL DEFAULT 0,"
    " last_nps smallint,"
    " csat_sum int NOT NULL DEFAULT 0,"
    " csat_count int NOT NULL DEFAULT 0,"
    " open_complaints int NOT NULL DEFAULT 0,"
    " last_event_at bigint NOT NULL);";

/* Starts the server and makes the schema. On failure, pg_stop cleans up
 * what was made. */
static int
pg_start(const popts *o, pg_server *pg)
{
    char port[16], tmpl[600];
    memset(pg, 0, sizeof(*pg));
    pg->port = o->pg_port;
    if (find_bin(o, pg) != 0)
        return -1;
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (pw == NULL) {
            fprintf(stderr,
                    "crm-bench pg: initdb refuses to run as root, and there "
                    "is no user \"postgres\" to run it as (the Debian "
                    "package postgresql creates it); run crm-bench as an "
                    "unprivileged user\n");
            return -1;
        }
        pg->drop = 1;
        pg->uid = pw->pw_uid;
        pg->gid = pw->pw_gid;
    }
    snprintf(tmpl, sizeof(tmpl), "%s/pg-bench-XXXXXX", o->dir);
    if (mkdtemp(tmpl) == NULL || realpath(tmpl, pg->root) == NULL) {
        fprintf(stderr, "crm-bench pg: cannot make a directory under %s: %s\n",
                o->dir, strerror(errno));
        pg->root[0] = '\0';
        return -1;
    }
    if (pg->drop && chown(pg->root, pg->uid, pg->gid) != 0) {
        fprintf(stderr, "crm-bench pg: chown %s: %s\n", pg->root,
                strerror(errno));
        return -1;
    }
    snprintf(pg->data, sizeof(pg->data), "%s/data", pg->root);
    snprintf(pg->tool_log, sizeof(pg->tool_log), "%s/tools.log", pg->root);
    snprintf(pg->server_log, sizeof(pg->server_log), "%s/server.log",
             pg->root);

    char initdb[600], pg_ctl[600];
    snprintf(initdb, sizeof(initdb), "%s/initdb", pg->bin);
    snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", pg->bin);
    /* --no-sync: the new cluster's files need not reach the disk before
     * the run; the server itself runs with fsync on. */
    char *init_argv[] = {initdb, "-D", pg->data, "-U", PG_USER, "-A",
                         "trust", "-E", "UTF8", "--locale=C", "--no-sync",
                         NULL};
    pg->made = 1;
    if (run_tool(pg, init_argv) != 0) {
        fprintf(stderr, "crm-bench pg: initdb failed\n");
        show_file("initdb", pg->tool_log);
        pg->made = 0;
        return -1;
    }
    char conf[720];
    snprintf(conf, sizeof(conf), "%s/postgresql.conf", pg->data);
    FILE *f = fopen(conf, "a");
    if (f == NULL) {
        fprintf(stderr, "crm-bench pg: %s: %s\n", conf, strerror(errno));
        return -1;
    }
    /* A unix socket path has ~107 bytes; the server is reached over tcp
     * anyway, the socket is only for a person looking in with psql. */
    int sock_fits = strlen(pg->root) < 80;
    fprintf(f,
            "\n# crm-bench pg\n"
            "listen_addresses = '127.0.0.1'\n"
            "port = %d\n"
            "unix_socket_directories = '%s'\n"
            "synchronous_commit = on\n"
            "fsync = on\n"
            "full_page_writes = on\n",
            pg->port, sock_fits ? pg->root : "");
    if (fclose(f) != 0) {
        fprintf(stderr, "crm-bench pg: %s: %s\n", conf, strerror(errno));
        return -1;
    }
    char *start_argv[] = {pg_ctl, "-D", pg->data, "-l", pg->server_log, "-w",
                          "-t", "60", "-s", "start", NULL};
    if (run_tool(pg, start_argv) != 0) {
        fprintf(stderr, "crm-bench pg: the PostgreSQL server did not start "
                        "(is port %d free? --pg-port chooses another)\n",
                pg->port);
        show_file("pg_ctl", pg->tool_log);
        show_file("server", pg->server_log);
        return -1;
    }
    snprintf(port, sizeof(port), "%d", pg->port);
    snprintf(pg->conninfo, sizeof(pg->conninfo),
             "host=127.0.0.1 port=%s user=" PG_USER
             " dbname=postgres connect_timeout=10"
             " options='-c plan_cache_mode=force_generic_plan'",
             port);
    PGconn *c = PQconnectdb(pg->conninfo);
    PGresult *r = NULL;
    int rc = -1;
    if (PQstatus(c) != CONNECTION_OK)
        fprintf(stderr, "crm-bench pg: %s", PQerrorMessage(c));
    else if ((r = PQexec(c, schema_sql)),
             PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "crm-bench pg: schema: %s", PQresultErrorMessage(r));
    else
        rc = 0;
    PQclear(r);
    PQfinish(c);
    return rc;
}

/* Stops the server and removes its directory; accepts a half-started or
 * never-started pg. */
static void
pg_stop(pg_server *pg)
{
    if (pg->made) {
        char pg_ctl[600];
        snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", pg->bin);
        char *argv[] = {pg_ctl, "-D", pg->data, "-m", "fast", "-w", "-s",
                        "stop", NULL};
        run_tool(pg, argv); /* fails, quietly, when it never started */
        pg->made = 0;
    }
    if (pg->root[0] != '\0') {
        bench_remove_tree(pg->root);
        pg->root[0] = '\0';
    }
}

/* --- the PostgreSQL clients ----------------------------------------------- */

/* One statement, one transaction. Parameters (enum param): per touched
 * guest $1-$4, per event $5-$10, the actor $11. The counters a
 * booking.created changes are the ones set; an application upserts what
 * an event type changes, and the row is rewritten whole either way. */
static const char append_sql[] =
    "WITH g AS ("
    " SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::bigint[])"
    "  AS g(guest, n, bookings, last_at)"
    "), up AS ("
    " INSERT INTO customer360 AS c (guest, version, bookings, last_event_at)"
    " SELECT * FROM g ORDER BY guest"
    " ON CONFLICT (guest) DO UPDATE SET"
    "  version = c.version + excluded.version,"
    "  bookings = c.bookings + excluded.bookings,"
    "  last_event_at = greatest(c.last_event_at, excluded.last_event_at)"
    " RETURNING guest, version"
    ")"
    " INSERT INTO events (id, stream, version, type, occurred_at, actor, body)"
    " SELECT e.id, e.stream, up.version - e.back, e.type, e.occurred_at, $11,"
    "  e.body"
    " FROM unnest($5::uuid[], $6::text[], $7::int[], $8::text[],"
    "  $9::bigint[], $10::jsonb[]) WITH ORDINALITY"
    "  AS e(id, stream, back, type, occurred_at, body, ord)"
    " JOIN up ON up.guest = e.stream"
    " ORDER BY e.ord";

enum param {
    P_GUEST, P_N, P_BOOKINGS, P_LAST_AT,
    P_ID, P_STREAM, P_BACK, P_TYPE, P_OCCURRED_AT, P_BODY, P_ACTOR,
    NPARAMS
};

/* A growing text parameter. */
typedef struct text {
    char *p;
    size_t n, cap;
    int nomem;
} text;

static void
text_put(text *t, const char *s, size_t len)
{
    if (t->n + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->n + len + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (p == NULL) {
            t->nomem = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->n, s, len);
    t->n += len;
    t->p[t->n] = '\0';
}

static void
text_puts(text *t, const char *s)
{
    text_put(t, s, strlen(s));
}

/* An array element as a quoted literal: '"' and '\' escaped. */
static void
text_quoted(text *t, const char *s, size_t len)
{
    text_put(t, "\"", 1);
    for (size_t i = 0, from = 0; i <= len; i++)
        if (i == len || s[i] == '"' || s[i] == '\\') {
            text_put(t, s + from, i - from);
            if (i < len)
                text_put(t, "\\", 1), text_put(t, s + i, 1);
            from = i + 1;
        }
    text_put(t, "\"", 1);
}

static void
text_int(text *t, long long v)
{
    char num[24];
    text_put(t, num, (size_t)snprintf(num, sizeof(num), "%lld", v));
}

/* What one guest's customer360 row gains from a batch (the generated
 * workload has booking.created only). */
typedef struct guest_delta {
    const char *guest;
    size_t len;
    int n, bookings;
    int64_t last_at;
} guest_delta;

/* The clients' clock starts when every one of them is connected. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived, open;
} gate;

static void
gate_arrive(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->arrived++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

/* Waits for n arrivals, then lets them all go. */
static void
gate_open(gate *g, int n)
{
    pthread_mutex_lock(&g->mu);
    while (g->arrived < n)
        pthread_cond_wait(&g->cv, &g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

typedef struct pg_client {
    const char *conninfo;
    unsigned streams;
    size_t batch;
    unsigned seed;
    double seconds;
    gate *ready;
    uint64_t events, retries;
    bench_lat lat;
    int failed;
} pg_client;

/* Fills the parameters for one batch. */
static void
pack_batch(text *par, const crm_event_in *ev, size_t n, const char *body)
{
    guest_delta g[BENCH_MAX_BATCH];
    size_t of[BENCH_MAX_BATCH], ng = 0;
    int back[BENCH_MAX_BATCH], seen[BENCH_MAX_BATCH];
    char id[CRM_UUID_STRLEN + 1];

    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < ng && !(g[k].len == ev[i].stream_len &&
                           memcmp(g[k].guest, ev[i].stream, g[k].len) == 0))
            k++;
        if (k == ng)
            g[ng++] = (guest_delta){.guest = ev[i].stream,
                                    .len = ev[i].stream_len};
        of[i] = k;
        g[k].n++;
        g[k].bookings += strcmp(ev[i].type, BENCH_WORKLOAD_TYPE) == 0;
        if (ev[i].occurred_at > g[k].last_at)
            g[k].last_at = ev[i].occurred_at;
    }
    /* back: how many of its guest's events of this batch are at i or
     * later; the event's version is the guest's new version minus back */
    memset(seen, 0, sizeof(seen));
    for (size_t i = n; i-- > 0;)
        back[i] = ++seen[of[i]];

    for (int p = 0; p < P_ACTOR; p++) {
        par[p].n = 0;
        text_put(&par[p], "{", 1);
    }
    for (size_t k = 0; k < ng; k++) {
        const char *sep = k ? "," : "";
        for (int p = P_GUEST; p <= P_LAST_AT; p++)
            text_puts(&par[p], sep);
        text_quoted(&par[P_GUEST], g[k].guest, g[k].len);
        text_int(&par[P_N], g[k].n);
        text_int(&par[P_BOOKINGS], g[k].bookings);
        text_int(&par[P_LAST_AT], g[k].last_at);
    }
    for (size_t i = 0; i < n; i++) {
        const char *sep = i ? "," : "";
        for (int p = P_ID; p <= P_BODY; p++)
            text_puts(&par[p], sep);
        crm_uuid_format(ev[i].id, id);
        text_puts(&par[P_ID], id);
        text_quoted(&par[P_STREAM], ev[i].stream, ev[i].stream_len);
        text_int(&par[P_BACK], back[i]);
        text_quoted(&par[P_TYPE], ev[i].type, ev[i].type_len);
        text_int(&par[P_OCCURRED_AT], ev[i].occurred_at);
        text_quoted(&par[P_BODY], body, strlen(body));
    }
    for (int p = 0; p < P_ACTOR; p++)
        text_put(&par[p], "}", 1);
    par[P_ACTOR].n = 0;
    text_puts(&par[P_ACTOR], "bench-agent");
}

static void *
pg_client_main(void *arg)
{
    pg_client *cl = arg;
    text par[NPARAMS] = {{0}};
    const char *values[NPARAMS];
    crm_event_in ev[BENCH_MAX_BATCH];
    char streams[BENCH_MAX_BATCH][BENCH_STREAM_LEN];
    bench_workload wl;
    int have_wl = 0;
    PGresult *r = NULL;

    PGconn *c = PQconnectdb(cl->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "postgresql: %s", PQerrorMessage(c));
        cl->failed = 1;
    } else if ((r = PQprepare(c, "append", append_sql, NPARAMS, NULL)),
               PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "postgresql: prepare: %s", PQresultErrorMessage(r));
        cl->failed = 1;
    } else if (bench_workload_init(&wl, cl->seed, cl->streams) != 0) {
        fprintf(stderr, "postgresql client: out of memory\n");
        cl->failed = 1;
    } else
        have_wl = 1;
    PQclear(r);
    gate_arrive(cl->ready);
    double deadline = bench_now() + cl->seconds;
    while (!cl->failed && bench_now() < deadline && !bench_stopped()) {
        for (size_t i = 0; i < cl->batch; i++)
            bench_workload_next(&wl, &ev[i], streams[i]);
        pack_batch(par, ev, cl->batch, bench_workload_body_json(&wl));
        for (int p = 0; p < NPARAMS; p++) {
            if (par[p].nomem) {
                fprintf(stderr, "postgresql client: out of memory\n");
                cl->failed = 1;
            }
            values[p] = par[p].p;
        }
        double t0 = bench_now();
        for (;;) {
            if (cl->failed || bench_stopped())
                break;
            r = PQexecPrepared(c, "append", NPARAMS, values, NULL, NULL, 0);
            if (PQresultStatus(r) == PGRES_COMMAND_OK) {
                long done = strtol(PQcmdTuples(r), NULL, 10);
                if (done != (long)cl->batch) {
                    fprintf(stderr,
                            "postgresql: %ld of %zu events inserted\n", done,
                            cl->batch);
                    cl->failed = 1;
                }
                PQclear(r);
                break;
            }
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            /* a deadlock or serialization failure: the transaction was
             * rolled back, do it again */
            if (state && (strcmp(state, "40P01") == 0 ||
                          strcmp(state, "40001") == 0)) {
                cl->retries++;
                PQclear(r);
                continue;
            }
            if (!bench_stopped())
                fprintf(stderr, "postgresql: append: %s",
                        PQresultErrorMessage(r));
            cl->failed = 1;
            PQclear(r);
        }
        if (cl->failed)
            break;
        bench_lat_add(&cl->lat, (bench_now() - t0) * 1e6);
        cl->events += cl->batch;
    }
    for (int p = 0; p < NPARAMS; p++)
        free(par[p].p);
    if (have_wl)
        bench_workload_free(&wl);
    PQfinish(c);
    return NULL;
}

static int
run_pg(const popts *o, const pg_server *pg, size_t batch, int clients,
       bench_run *run, uint64_t *retries)
{
    pg_client cl[BENCH_MAX_CLIENTS];
    pthread_t th[BENCH_MAX_CLIENTS];
    int started[BENCH_MAX_CLIENTS], nstarted = 0;
    gate ready = {.mu = PTHREAD_MUTEX_INITIALIZER,
                  .cv = PTHREAD_COND_INITIALIZER};
    for (int i = 0; i < clients; i++) {
        /* the seeds of crm-bench rpc's clients: the same guests in the
         * same order */
        cl[i] = (pg_client){.conninfo = pg->conninfo,
                            .streams = o->streams,
                            .batch = batch,
                            .seed = (unsigned)(i + 1) * 104729u,
                            .seconds = o->seconds,
                            .ready = &ready};
        started[i] = pthread_create(&th[i], NULL, pg_client_main, &cl[i]) == 0;
        if (!started[i]) {
            fprintf(stderr, "postgresql client: cannot start a thread\n");
            cl[i].failed = 1;
        }
        nstarted += started[i];
    }
    gate_open(&ready, nstarted);
    double t0 = bench_now();
    bench_lat all = {0};
    uint64_t events = 0;
    int failed = 0;
    *retries = 0;
    for (int i = 0; i < clients; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        failed |= cl[i].failed;
        events += cl[i].events;
        *retries += cl[i].retries;
        for (size_t j = 0; j < cl[i].lat.n; j++)
            bench_lat_add(&all, cl[i].lat.us[j]);
        bench_lat_free(&cl[i].lat);
    }
    double el = bench_now() - t0;
    pthread_mutex_destroy(&ready.mu);
    pthread_cond_destroy(&ready.cv);
    run->events = events;
    run->events_per_s = (double)events / el;
    run->p50 = bench_lat_pct(&all, 0.50);
    run->p99 = bench_lat_pct(&all, 0.99);
    bench_lat_free(&all);
    return failed ? -1 : 0;
}

/* What the tables hold after the run must be what the clients were told
 * was committed: every event once, and customer360 agreeing with them. */
static int
pg_check(const pg_server *pg, uint64_t events)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM events),"
        " (SELECT count(*) FROM customer360),"
        " (SELECT coalesce(sum(version), 0) FROM customer360),"
        " (SELECT coalesce(sum(bookings), 0) FROM customer360),"
        " (SELECT count(*) FROM (SELECT stream FROM events GROUP BY stream"
        "  HAVING max(version) + 1 <> count(*)) AS gaps)";
    PGconn *c = PQconnectdb(pg->conninfo);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "postgresql: check: %s",
                r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    } else {
        unsigned long long n = strtoull(PQgetvalue(r, 0, 0), NULL, 10),
                           guests = strtoull(PQgetvalue(r, 0, 1), NULL, 10),
                           versions = strtoull(PQgetvalue(r, 0, 2), NULL, 10),
                           bookings = strtoull(PQgetvalue(r, 0, 3), NULL, 10),
                           gaps = strtoull(PQgetvalue(r, 0, 4), NULL, 10);
        if (n == events && versions == n && bookings == n && gaps == 0) {
            printf("PostgreSQL check: %llu events of %llu guests, "
                   "customer360 agrees with them\n",
                   n, guests);
            rc = 0;
        } else
            fprintf(stderr,
                    "postgresql: check failed: %llu events committed, %llu "
                    "stored; customer360 counts %llu (versions), %llu "
                    "(bookings); %llu streams with gaps\n",
                    (unsigned long long)events, n, versions, bookings, gaps);
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

/* --- driver --------------------------------------------------------------- */

static void
pg_usage(FILE *f)
{
    fprintf(
        f,
        "usage: crm-bench pg [--seconds S] [--repeat R] [--batch LIST]\n"
        "                    [--clients LIST] [--dir DIR] [--crmd PATH]\n"
        "                    [--port P] [--pg-port P] [--pg-bin DIR]\n"
        "                    [--streams N] [--projections LIST] [--quick]\n"
        "\n"
        "Durable appends to crmd against PostgreSQL used as a CRM store, in\n"
        "alternating rounds. Needs the PostgreSQL server, which "
        "deploy/install-deps.sh\n"
        "does not install:  apt-get install postgresql\n"
        "crm-bench starts a private server of its own (initdb in a scratch\n"
        "directory under DIR, 127.0.0.1 only, synchronous_commit = on) and\n"
        "removes it at the end; as root, the server runs as user postgres.\n"
        "\n"
        "  --seconds S    time per run (default 5)\n"
        "  --repeat R     rounds; the summary gives the median and range "
        "(default 3, max %d)\n"
        "  --batch LIST   events per transaction, 1..%d, comma-separated "
        "(default 1,100)\n"
        "  --clients LIST client connections, 1..%d, comma-separated "
        "(default 1,8)\n"
        "  --dir DIR      scratch directories of crmd and PostgreSQL "
        "(default .)\n"
        "  --crmd PATH    the crmd binary (default: ../crmd next to "
        "crm-bench)\n"
        "  --port P       crmd port (default 17480)\n"
        "  --pg-port P    PostgreSQL port (default: crmd port + 2)\n"
        "  --pg-bin DIR   PostgreSQL's initdb and pg_ctl (default: the "
        "newest\n"
        "                 /usr/lib/postgresql/*/bin)\n"
        "  --streams N    guests the appends spread over (default 100000)\n"
        "  --projections LIST  crmd's projections (crmd --projections; "
        "default\n"
        "                 crmd's own: every one, applied inline)\n"
        "  --quick        0.5 s per run, 1000 guests, 1 round (smoke run)\n",
        BENCH_MAX_ROUNDS, BENCH_MAX_BATCH, BENCH_MAX_CLIENTS);
}

/* "1,100" into at most MAX_LIST values in [lo, hi]. */
static int
parse_list(const char *s, long lo, long hi, long *out, int *n)
{
    *n = 0;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno != 0 || v < lo || v > hi || *n == MAX_LIST ||
            (*end != ',' && *end != '\0'))
            return -1;
        out[(*n)++] = v;
        if (*end == '\0')
            return 0;
        s = end + 1;
    }
}

static int
parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int
bad_option(const char *opt, const char *val, const char *want)
{
    fprintf(stderr, "crm-bench pg: %s %s: %s\n", opt, val ? val : "", want);
    return 2;
}

static void
row(int round, size_t batch, int clients, const char *sys,
    const bench_run *r, const char *note)
{
    printf("%5d %6zu %7d  %-10s %10.0f %9.0f %9.0f  %s\n", round, batch,
           clients, sys, r->events_per_s, r->p50, r->p99, note);
    fflush(stdout);
}

int
bench_pg(int argc, char **argv)
{
    popts o = {.seconds = 5,
               .dir = ".",
               .crmd = bench_crmd_default_path(),
               .streams = 100000,
               .port = 17480,
               .rounds = 3,
               .batch = {1, 100},
               .nbatch = 2,
               .clients = {1, 8},
               .nclients = 2};
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        long list[MAX_LIST];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            pg_usage(stdout);
            return 0;
        } else if (strcmp(a, "--quick") == 0) {
            quick = 1;
            continue;
        } else if (v == NULL) {
            pg_usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--seconds") == 0) {
            if (parse_num(v, 0.01, 3600, &o.seconds) != 0)
                return bad_option(a, v, "want seconds, 0.01..3600");
        } else if (strcmp(a, "--repeat") == 0) {
            if (parse_num(v, 1, BENCH_MAX_ROUNDS, &d) != 0 || d != (int)d)
                return bad_option(a, v, "want a number of rounds, 1..15");
            o.rounds = (int)d;
        } else if (strcmp(a, "--batch") == 0) {
            if (parse_list(v, 1, BENCH_MAX_BATCH, list, &o.nbatch) != 0)
                return bad_option(a, v,
                                  "want up to 4 batch sizes of 1..100, "
                                  "comma-separated (e.g. 1,100)");
            for (int k = 0; k < o.nbatch; k++)
                o.batch[k] = (size_t)list[k];
        } else if (strcmp(a, "--clients") == 0) {
            if (parse_list(v, 1, BENCH_MAX_CLIENTS, list, &o.nclients) != 0)
                return bad_option(a, v,
                                  "want up to 4 client counts of 1..8, "
                                  "comma-separated (e.g. 1,8)");
            for (int k = 0; k < o.nclients; k++)
                o.clients[k] = (int)list[k];
        } else if (strcmp(a, "--streams") == 0) {
            if (parse_num(v, 1, 9999999, &d) != 0 || d != (int)d)
                return bad_option(a, v, "want a number of guests, 1..9999999");
            o.streams = (unsigned)d;
        } else if (strcmp(a, "--port") == 0 || strcmp(a, "--pg-port") == 0) {
            if (parse_num(v, 1, 65533, &d) != 0 || d != (int)d)
                return bad_option(a, v, "want a port, 1..65533");
            *(strcmp(a, "--port") == 0 ? &o.port : &o.pg_port) = (int)d;
        } else if (strcmp(a, "--dir") == 0)
            o.dir = v;
        else if (strcmp(a, "--crmd") == 0)
            o.crmd = v;
        else if (strcmp(a, "--pg-bin") == 0)
            o.pg_bin = v;
        else if (strcmp(a, "--projections") == 0)
            o.projections = v;
        else {
            fprintf(stderr, "crm-bench pg: unknown option %s\n", a);
            pg_usage(stderr);
            return 2;
        }
    }
    if (quick) { /* a smoke run: short and small, whatever else was asked */
        o.seconds = 0.5;
        o.streams = 1000;
        o.rounds = 1;
    }
    if (o.pg_port == 0)
        o.pg_port = o.port + 2;
    if (o.pg_port == o.port)
        return bad_option("--pg-port", "", "must differ from --port");
    if (o.crmd == NULL)
        return bad_option("--crmd", "", "cannot find crmd; give its path");

    /* per configuration and round: events/s of each, crmd / PostgreSQL */
    static double ev_crmd[MAX_LIST][MAX_LIST][BENCH_MAX_ROUNDS],
        ev_pg[MAX_LIST][MAX_LIST][BENCH_MAX_ROUNDS],
        ratio[MAX_LIST][MAX_LIST][BENCH_MAX_ROUNDS];
    pg_server pg;
    bench_crmd crmd;
    memset(&pg, 0, sizeof(pg));
    memset(&crmd, 0, sizeof(crmd));
    uint64_t pg_events = 0, crmd_events = 0, commits = 0, committed = 0;
    int rc = 1;

    bench_catch_stop();
    if (pg_start(&o, &pg) != 0 || bench_stopped())
        goto out;
    if (bench_crmd_start(o.crmd, o.dir, o.port, o.projections, &crmd) != 0 ||
        bench_stopped())
        goto out;
    PGconn *vc = PQconnectdb(pg.conninfo);
    const char *ver = PQparameterStatus(vc, "server_version");
    printf("crm-bench pg: crmd against PostgreSQL %s used as a CRM store\n"
           "tcp loopback, durable commits (PostgreSQL: synchronous_commit = "
           "on, fsync on), %u guests,\n%.1f s per run, %d round%s, the "
           "systems taking turns; crmd's projections: %s\n\n",
           ver ? ver : "?", o.streams, o.seconds, o.rounds,
           o.rounds > 1 ? "s" : "",
           o.projections ? o.projections : "its own (every one)");
    PQfinish(vc);
    printf("%5s %6s %7s  %-10s %10s %9s %9s\n", "round", "batch", "clients",
           "system", "events/s", "p50 us", "p99 us");
    for (int r = 0; r < o.rounds; r++)
        for (int b = 0; b < o.nbatch; b++)
            for (int c = 0; c < o.nclients; c++) {
                size_t batch = o.batch[b];
                int clients = o.clients[c];
                bench_run cr = {0}, pr = {0};
                uint64_t retries = 0;
                /* who goes first alternates from round to round */
                for (int k = 0; k < 2; k++) {
                    if (bench_stopped())
                        goto out;
                    if ((k + r) % 2 == 0) {
                        if (bench_rpc_appends(crmd.url, crmd.key, o.streams,
                                              batch, clients, o.seconds,
                                              &cr) != 0)
                            goto out;
                        crmd_events += cr.events;
                    } else {
                        if (run_pg(&o, &pg, batch, clients, &pr, &retries) !=
                            0)
                            goto out;
                        pg_events += pr.events;
                    }
                }
                uint64_t c1, e1;
                char note[64];
                bench_crmd_counts(&crmd, &c1, &e1);
                snprintf(note, sizeof(note), "%.1f events per commit",
                         c1 > commits ? (double)(e1 - committed) /
                                            (double)(c1 - commits)
                                      : 0.0);
                commits = c1, committed = e1;
                row(r + 1, batch, clients, "crmd", &cr, note);
                snprintf(note, sizeof(note), "%llu deadlocks retried",
                         (unsigned long long)retries);
                row(r + 1, batch, clients, "postgresql", &pr,
                    retries ? note : "");
                ev_crmd[b][c][r] = cr.events_per_s;
                ev_pg[b][c][r] = pr.events_per_s;
                ratio[b][c][r] = cr.events_per_s / pr.events_per_s;
            }

    printf("\ncrmd / PostgreSQL-as-CRM, events/s (median of the per-round "
           "ratios, lowest..highest;\nevents/s: median, lowest..highest):\n");
    for (int b = 0; b < o.nbatch; b++)
        for (int c = 0; c < o.nclients; c++) {
            double m, lo, hi, cm, clo, chi, pm, plo, phi;
            bench_spread(ratio[b][c], o.rounds, &m, &lo, &hi);
            bench_spread(ev_crmd[b][c], o.rounds, &cm, &clo, &chi);
            bench_spread(ev_pg[b][c], o.rounds, &pm, &plo, &phi);
            printf("  batch %3zu, %d client%s: %.2fx (%.2f..%.2f)   crmd "
                   "%.0f (%.0f..%.0f), PostgreSQL %.0f (%.0f..%.0f)\n",
                   o.batch[b], o.clients[c], o.clients[c] > 1 ? "s" : " ", m,
                   lo, hi, cm, clo, chi, pm, plo, phi);
        }
    printf("\n");
    if (committed != crmd_events) {
        fprintf(stderr, "crmd check failed: %llu events acknowledged, the "
                        "tenant holds %llu\n",
                (unsigned long long)crmd_events,
                (unsigned long long)committed);
        goto out;
    }
    printf("crmd check: %llu events acknowledged, the tenant holds them\n",
           (unsigned long long)committed);
    if (pg_check(&pg, pg_events) != 0)
        goto out;
    rc = 0;
out:
    bench_crmd_stop(&crmd);
    pg_stop(&pg);
    if (bench_stopped()) {
        fprintf(stderr, "crm-bench pg: interrupted; crmd and PostgreSQL "
                        "stopped, their directories removed\n");
        rc = 130;
    }
    return rc;
}
