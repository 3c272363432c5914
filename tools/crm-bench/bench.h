/* bench.h - crm-bench modes and shared measurement helpers. */
#ifndef CRM_BENCH_H
#define CRM_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"

/* Each mode parses its own arguments (argv[0] is the mode name) and
 * returns a process exit status. */
int bench_storage(int argc, char **argv);
int bench_rpc(int argc, char **argv);
int bench_pg(int argc, char **argv);
int bench_guests(int argc, char **argv);

/* Most events one generated append carries. */
#define BENCH_MAX_BATCH 100

/* Most client threads of one load. */
#define BENCH_MAX_CLIENTS 8

/* What one closed-loop run of appends achieved. */
typedef struct bench_run {
    uint64_t events; /* acknowledged */
    double events_per_s;
    double p50, p99; /* latency of one append call, µs */
} bench_run;

/* rpc.c: the append load of `crm-bench rpc --only append`: clients (1..8)
 * threads with one req0 socket each send batches of batch (1..100)
 * generated events (workload.h, over streams guests) to the crmd at url
 * with key, back to back, for seconds. Returns 0, or -1 when a call failed
 * (message on stderr) or the arguments are out of range. */
int bench_rpc_appends(const char *url, const char *key, unsigned streams,
                      size_t batch, int clients, double seconds,
                      bench_run *run);

/* One call a client of a load makes: op with args packed by args(pk,
 * arg) (NULL: none), or, when raw is set, the raw_len bytes of an args map
 * packed already. Everything is borrowed until the call returns. */
typedef struct bench_call {
    const char *op;
    crm_client_args_fn args;
    void *arg;
    const void *raw;
    size_t raw_len;
} bench_call;

/* A closed-loop load: clients threads, each with one connection (a req0
 * socket, libcrmclient) and a state of its own, call back to back until
 * seconds have passed (0: until every client is done). */
typedef struct bench_load {
    const char *url;
    const char *key;
    int clients; /* 1..BENCH_MAX_CLIENTS */
    double seconds;
    /* Fills the client's next call, on the client's thread: returns 0, 1
     * when the client has no more calls to make, -1 when it cannot make
     * one (the load fails). */
    int (*next)(void *state, bench_call *call);
    /* Optional, on the client's thread: the items a reply carried (events
     * an append wrote); without it each answer is one item. */
    uint64_t (*items)(void *state, const msgpack_object *result);
    void **state; /* state[i] for client i; NULL: none */
    /* not_found is an answer (counted in missing), not a failure */
    int not_found_ok;
} bench_load;

/* What a load achieved. */
typedef struct bench_tally {
    uint64_t calls; /* answered */
    uint64_t items;
    uint64_t missing; /* not_found answers (not_found_ok) */
    double seconds;   /* from the first call to the last answer */
    double calls_per_s, items_per_s;
    double p50, p99, p999;   /* µs per call, the call alone */
    size_t req_len, rep_len; /* bytes of client 0's first exchange */
    crm_error err; /* the first failure; err.code CRM_OK when none */
} bench_tally;

/* rpc.c: runs the load l. Returns 0, or -1 when a call failed or a client
 * could not connect or make a call (t->err says why; nothing is printed)
 * or l is out of range. The tally is filled either way. */
int bench_rpc_load(const bench_load *l, bench_tally *t);

/* erase.c: what the erasure phase of crm-bench guests measured. */
typedef struct bench_erased {
    unsigned one, burst; /* erasures made each way */
    double one_s;        /* mean seconds of one erasure with wait */
    double one_max;
    double burst_s; /* from the first of the burst to its completion */
    double per_s;   /* erasures of the burst per second, completion in */
    crm_err na;     /* CRM_OK, or why the server could not erase */
} bench_erased;

/* one erasures of guests of the chain (chain.h) each with wait, then a
 * burst of burst without wait ending with one with wait, over the crmd at
 * url with admin key. 0, or -1 when a call failed (on stderr); an older
 * server or an unsealed tenant gives 0 with out->na set. */
int bench_erase(const char *url, const char *key, unsigned guests,
                unsigned one, unsigned burst, bench_erased *out);

/* Catches SIGINT and SIGTERM from now on: bench_stopped() becomes nonzero
 * and loads end early, so that a mode can stop what it started. */
void bench_catch_stop(void);
int bench_stopped(void);

/* rm -rf dir; says so on stderr when that fails. */
void bench_remove_tree(const char *dir);

/* Monotonic clock in seconds. */
double bench_now(void);

/* Latency samples (microseconds) and their percentiles. */
typedef struct bench_lat {
    double *us;
    size_t n, cap;
} bench_lat;

void bench_lat_add(bench_lat *l, double us);
/* p in [0,1]; sorts the samples. 0 if empty. */
double bench_lat_pct(bench_lat *l, double p);
void bench_lat_free(bench_lat *l);

/* Rounds a mode may repeat its measurements (--repeat). */
#define BENCH_MAX_ROUNDS 15

/* Median, lowest and highest of n values (sorts them). */
void bench_spread(double *v, int n, double *med, double *lo, double *hi);

#endif
