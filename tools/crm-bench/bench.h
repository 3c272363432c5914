/* bench.h - crm-bench modes and shared measurement helpers. */
#ifndef CRM_BENCH_H
#define CRM_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Each mode parses its own arguments (argv[0] is the mode name) and
 * returns a process exit status. */
int bench_storage(int argc, char **argv);
int bench_rpc(int argc, char **argv);

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
