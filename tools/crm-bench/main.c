/* crm-bench - load generator and benchmark for crmd.
 *
 *   crm-bench storage [options]   event log vs bare LMDB (see storage.c)
 *   crm-bench rpc [options]       crmd over NNG vs bare NNG (see rpc.c)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} modes[] = {
    {"storage", bench_storage,
     "durable appends to the tenant log vs bare LMDB with the same puts"},
    {"rpc", bench_rpc,
     "ping and appends over RPC vs a bare NNG echo of the same sizes"},
};

double
bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
bench_lat_add(bench_lat *l, double us)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        double *p = realloc(l->us, cap * sizeof(*p));
        if (p == NULL)
            return;
        l->us = p;
        l->cap = cap;
    }
    l->us[l->n++] = us;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double
bench_lat_pct(bench_lat *l, double p)
{
    if (l->n == 0)
        return 0;
    qsort(l->us, l->n, sizeof(double), cmp_double);
    size_t i = (size_t)(p * (double)(l->n - 1) + 0.5);
    return l->us[i];
}

void
bench_spread(double *v, int n, double *med, double *lo, double *hi)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    *med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    *lo = v[0];
    *hi = v[n - 1];
}

void
bench_lat_free(bench_lat *l)
{
    free(l->us);
    l->us = NULL;
    l->n = l->cap = 0;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: crm-bench <mode> [options]\n\nmodes:\n");
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        fprintf(f, "  %-10s %s\n", modes[i].name, modes[i].help);
    fprintf(f, "\n'crm-bench <mode> --help' lists a mode's options.\n");
}

int
main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (strcmp(argv[1], modes[i].name) == 0)
            return modes[i].run(argc - 1, argv + 1);
    fprintf(stderr, "crm-bench: unknown mode '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
