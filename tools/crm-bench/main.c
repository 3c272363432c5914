/* crm-bench - load generator and benchmark for crmd.
 *
 *   crm-bench storage [options]   event log vs bare LMDB (see storage.c)
 *   crm-bench rpc [options]       crmd over NNG vs bare NNG (see rpc.c)
 *   crm-bench pg [options]        crmd vs PostgreSQL as a CRM store (pg.c)
 *   crm-bench guests [options]    the CRM on a hotel chain's tenant (guests.c)
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
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
    {"pg", bench_pg,
     "durable appends to crmd vs PostgreSQL used as a CRM store"},
    {"guests", bench_guests,
     "load, appends, reads and rebuilds on a tenant of 100,000 guests"},
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

static volatile sig_atomic_t stop_signal;

static void
on_stop(int sig)
{
    stop_signal = sig;
}

void
bench_catch_stop(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int
bench_stopped(void)
{
    return stop_signal != 0;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

void
bench_remove_tree(const char *dir)
{
    if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "could not remove %s: %s\n", dir, strerror(errno));
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
