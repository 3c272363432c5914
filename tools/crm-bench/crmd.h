/*
 * crmd.h - a crmd of crm-bench's own: started on a fresh data directory
 * (durable commits), with a tenant "bench" and an agent key for it,
 * stopped and removed at the end (or kept, and started again later).
 */
#ifndef BENCH_CRMD_H
#define BENCH_CRMD_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct bench_crmd {
    pid_t pid;          /* 0: not running */
    char datadir[600];  /* scratch directory; "" when none was made */
    char url[64];       /* tcp://127.0.0.1:port */
    char opkey[160];    /* the operator key crmd wrote on first start */
    char key[160];      /* agent key of tenant "bench" */
    int keep;           /* nonzero: bench_crmd_stop leaves datadir */
} bench_crmd;

/* What projection.rebuild reported for one projection. */
typedef struct bench_rebuilt {
    char name[32];
    uint64_t events;
    double seconds;
    double events_per_s;
    int identical; /* the rebuilt state equals the inline one */
    char diff[200]; /* the first difference, when not identical */
} bench_rebuilt;

/* Most projections a rebuild reports. */
#define BENCH_MAX_PROJ 8

/* The crmd next to this crm-bench (../crmd from its own directory), or
 * NULL when /proc/self/exe cannot be read. Returns a static string. */
const char *bench_crmd_default_path(void);

/* Starts crmd (the binary at path) on a new directory under dir, listening
 * on tcp://127.0.0.1:port, with the projections named (crmd's
 * --projections; NULL: its default), and creates the bench tenant and
 * key. Returns 0, or -1 with a message on stderr; on failure d still needs
 * bench_crmd_stop. */
/* Whether the crmd of later starts runs without a master key (its new
 * tenants unsealed, --no-encryption); by default it seals with a key made
 * beside its data directory. */
/* --access-log on|off for every crmd started after (NULL: crmd's
 * default, on). */
void bench_crmd_access_log(const char *on_off);
void bench_crmd_plain(int on);

int bench_crmd_start(const char *path, const char *dir, int port,
                     const char *projections, bench_crmd *d);

/* Starts crmd again on datadir, a directory bench_crmd_start made and a
 * stop with keep set left in place: the bench tenant is there already and
 * gets a new agent key. d->keep is set. Returns 0, or -1 with a message on
 * stderr; on failure d still needs bench_crmd_stop. */
int bench_crmd_reopen(const char *path, const char *datadir, int port,
                      const char *projections, bench_crmd *d);

/* Makes a key of role ("admin", "agent", ...) for the bench tenant and
 * writes its token into out (cap bytes). Returns 0, or -1 with a message
 * on stderr. */
int bench_crmd_key(const bench_crmd *d, const char *role, char *out,
                   size_t cap);

/* Rebuilds every projection of the bench tenant from its log while crmd
 * serves (projection.rebuild, with an admin key made for it) and fills
 * r[0..*n) (at most max) with what the server reported; *seconds (may be
 * NULL) is the wall time of the call. Returns 0, or -1 on failure
 * (message on stderr). */
int bench_crmd_rebuild(const bench_crmd *d, bench_rebuilt *r, int max,
                       int *n, double *seconds);

/* Prints r[0..n) a line each: events, seconds, rate and whether the
 * rebuilt state is identical to the inline one. Returns 0 when each is,
 * 1 when one differs. */
int bench_crmd_print_rebuilt(const bench_rebuilt *r, int n);

/* Commits and events of the bench tenant so far (operator metrics); zeros
 * when they cannot be read. */
void bench_crmd_counts(const bench_crmd *d, uint64_t *commits,
                       uint64_t *events);

/* Stops crmd (SIGTERM, then waits) and removes its directory. Accepts a
 * d that was never started or half started. */
void bench_crmd_stop(bench_crmd *d);

#endif
