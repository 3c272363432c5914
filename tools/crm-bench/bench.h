/* bench.h - crm-bench modes and shared measurement helpers. */
#ifndef CRM_BENCH_H
#define CRM_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Each mode parses its own arguments (argv[0] is the mode name) and
 * returns a process exit status. */
int bench_storage(int argc, char **argv);
int bench_rpc(int argc, char **argv);
int bench_pg(int argc, char **argv);

/* Most events one generated append carries. */
#define BENCH_MAX_BATCH 100

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
