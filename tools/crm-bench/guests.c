/*
 * guests.c - crm-bench guests: the CRM on a tenant of a hotel chain's
 * guests (chain.h), in one run:
 *
 *   load     crmd with its default projections; every guest registered,
 *            then their bookings, stays, spend, surveys, complaints,
 *            interactions, marketing and consents, appended over RPC in
 *            batches of 1,000 stored events until --events
 *   append   more of the same for the loaded guests, batches of 100 and
 *            of 1, against that crmd and, taking turns, against crmd
 *            started again on the same data with --projections none (then
 *            again with its projections, which catch up on open)
 *   read     ping, customer.get, customer.find by e-mail and loyalty.get
 *            of random guests, kpi.get of a random property's year,
 *            segment.members (a page of a defined segment that tests
 *            every guest), segment.counts and tasks.today (a week from
 *            the last day of the load) on that day (an op the server
 *            does not have is n/a)
 *   rebuild  projection.rebuild of every projection from the log
 *   erase    customer.erase of guests with completion, one by one and in
 *            a burst (erase.c); last, since it changes the tenant
 *
 * and prints a table and one "figure NAME VALUE" line per figure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "chain.h"
#include "client.h"
#include "crmd.h"
#include "rpc.h"

#define SECOND INT64_C(1000000)
#define DAY (86400 * SECOND)
#define LOAD_FROM (INT64_C(1735689600) * SECOND)   /* 2025-01-01 */
#define LOAD_DAYS 638                              /* to 2026-09-30 */
#define APPEND_FROM (INT64_C(1798761600) * SECOND) /* 2027-01-01 */

/* The segment segment.members reads: a filter every row is tested
 * against (few pass, so a page scans the whole tenant). */
#define SEG_NAME "bench-veggie-mail"
#define SEG_FILTER                                                             \
    "nights_12m >= 2 and diet = \"vegetarian\" and consent.email.marketing"
#define SEG_ON "2026-09-30" /* the last day of the load */

/* Where crm-bench guests writes what a kept directory holds. */
#define META_FILE "bench-guests"

typedef struct gopts {
    const char *dir;
    const char *crmd;
    const char *skip_load;   /* a kept directory, or NULL */
    const char *projections; /* the loaded crmd's; NULL: crmd's default */
    unsigned guests;
    uint64_t events;
    int clients;
    double seconds;
    int rounds;
    int port;
    int keep;
    unsigned erasures; /* the erase phase's burst; 0: no erase phase */
    unsigned phases;   /* PH_* bits: the phases run after the load */
    unsigned reads;    /* bit k: read op k is measured (read phase) */
} gopts;

/* The phases after the load, by name for --phases. */
enum { PH_APPEND = 1, PH_READ = 2, PH_REBUILD = 4, PH_ERASE = 8 };
static const char *const phase_names[] = {"append", "read", "rebuild", "erase",
                                          NULL};

/* --- appends of the chain's events -----------------------------------------
 */

typedef struct progress {
    uint64_t stored; /* every client's, atomically */
    double t0, next;
} progress;

/* One client's appends. */
typedef struct feeder {
    bench_chain *chain;
    size_t batch;    /* events per append */
    uint64_t quota;  /* stored events to send; 0: until the time is up */
    uint64_t stored; /* what the replies said was written */
    progress *prog;  /* client 0 reports it, for the load */
    int reporter;
} feeder;

static int
feed_next(void *state, bench_call *call)
{
    feeder *f = state;
    size_t cap = BENCH_CHAIN_BATCH_MAX, len;
    const void *args;
    if (f->quota) {
        if (f->stored >= f->quota)
            return 1;
        if (f->quota - f->stored < cap)
            cap = (size_t)(f->quota - f->stored);
    }
    *call = (bench_call){.op = "append"};
    if (bench_chain_next(f->chain, f->batch, cap, &args, &len, NULL) == 0)
        return cap < 2 ? 1 : -1; /* 1: the next event and its points do
                                    not fit in what is left */
    call->raw = args;
    call->raw_len = len;
    return 0;
}

static uint64_t
feed_items(void *state, const msgpack_object *res)
{
    feeder *f = state;
    /* the client's events, and apart the points the server added */
    const msgpack_object *pos = crm_mp_get(res, "positions"),
                         *der = crm_mp_get(res, "derived");
    uint64_t n = 0;
    if (pos && pos->type == MSGPACK_OBJECT_ARRAY)
        n += pos->via.array.size;
    if (der && der->type == MSGPACK_OBJECT_ARRAY)
        n += der->via.array.size;
    f->stored += n;
    if (f->prog) {
        uint64_t all =
            __atomic_add_fetch(&f->prog->stored, n, __ATOMIC_RELAXED);
        double now = bench_now();
        if (f->reporter && now >= f->prog->next) {
            fprintf(stderr, "  load: %llu events, %.0f events/s\n",
                    (unsigned long long)all, (double)all / (now - f->prog->t0));
            f->prog->next = now + 10;
        }
    }
    return n;
}

/* Appends of the chain by o->clients clients, each with its share of the
 * guests (with register_guests, their registrations first), batch events
 * each: quota stored events in all, registrations included (0: for
 * o->seconds). The clock starts at from and moves step µs per event (0:
 * the quota's events over LOAD_DAYS). Returns what bench_rpc_load
 * returns. */
/* Stops d's crmd, keeping its data, and starts it again on the same port
 * with the projections named (NULL: crmd's default); *seconds (may be
 * NULL) is how long the start took, catching up included. */
static int
restart(const gopts *o, bench_crmd *d, const char *projections,
        double *seconds)
{
    char dir[sizeof(d->datadir)];
    snprintf(dir, sizeof(dir), "%s", d->datadir);
    d->keep = 1;
    bench_crmd_stop(d);
    double t0 = bench_now();
    int rc = bench_crmd_reopen(o->crmd, dir, o->port, projections, d);
    if (seconds)
        *seconds = bench_now() - t0;
    return rc;
}

static int
run_appends(const gopts *o, const char *url, const char *key, size_t batch,
            int register_guests, uint64_t quota, int64_t from, int64_t step,
            uint64_t seed, progress *prog, bench_tally *t)
{
    feeder f[BENCH_MAX_CLIENTS];
    void *state[BENCH_MAX_CLIENTS];
    int rc = -1, n = 0;
    memset(t, 0, sizeof(*t));
    for (; n < o->clients; n++) {
        unsigned own = (o->guests - (unsigned)n + (unsigned)o->clients - 1) /
                       (unsigned)o->clients;
        /* with the registrations: each client its own guests' first */
        uint64_t activity = quota - (register_guests ? o->guests : 0);
        uint64_t share =
            quota ? activity / (uint64_t)o->clients +
                        ((uint64_t)n < activity % (uint64_t)o->clients)
                  : 0;
        bench_chain_opts co = {.guests = o->guests,
                               .part = (unsigned)n,
                               .parts = (unsigned)o->clients,
                               .seed = seed,
                               .register_guests = register_guests,
                               .from = from,
                               .step = step ? step
                                            : (int64_t)LOAD_DAYS * DAY /
                                                  (int64_t)(share ? share : 1)};
        f[n] =
            (feeder){.batch = batch,
                     .quota = quota ? share + (register_guests ? own : 0) : 0,
                     .prog = prog,
                     .reporter = n == 0};
        if (bench_chain_open(&co, &f[n].chain) != 0) {
            crm_error_set(&t->err, CRM_ERR_NOMEM, "cannot make the guests");
            goto out;
        }
        state[n] = &f[n];
    }
    bench_load l = {.url = url,
                    .key = key,
                    .clients = o->clients,
                    .seconds = quota ? 0 : o->seconds,
                    .next = feed_next,
                    .items = feed_items,
                    .state = state};
    rc = bench_rpc_load(&l, t);
out:
    for (int i = 0; i < n; i++)
        bench_chain_close(f[i].chain);
    return rc;
}

/* settings.set: the rate that turns USD folios into points. Returns the
 * events it stored, or -1. */
static int
set_usd_rate(const char *url, const char *admin)
{
    crm_client *c;
    crm_error why;
    const msgpack_object *res;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    crm_client_opts co = {.url = url, .key = admin};
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    crm_mp_pack_cstr(&pk, "effective_from");
    crm_mp_pack_cstr(&pk, "2020-01-01");
    crm_mp_pack_cstr(&pk, "rates");
    msgpack_pack_map(&pk, 1);
    crm_mp_pack_cstr(&pk, "USD");
    crm_mp_pack_cstr(&pk, "0.92");
    crm_mp_pack_cstr(&pk, "reason");
    crm_mp_pack_cstr(&pk, "US properties bill in dollars");
    int n = -1;
    if (crm_client_open(&co, &c, &why) == CRM_OK &&
        crm_client_call_raw(c, "settings.set", sb.data, sb.size, &res, &why) ==
            CRM_OK) {
        const msgpack_object *pos = crm_mp_get(res, "positions");
        n = pos && pos->type == MSGPACK_OBJECT_ARRAY ? (int)pos->via.array.size
                                                     : 0;
    } else {
        fprintf(stderr, "settings.set: %s\n", why.msg);
    }
    crm_client_close(c);
    msgpack_sbuffer_destroy(&sb);
    return n;
}

/* --- reads ------------------------------------------------------------------
 */

/* segment.define of the segment the reads ask for. 0, or -1 when the
 * server has no such op or refuses it (its reads are then n/a). */
static int
define_segment(const char *url, const char *admin)
{
    crm_client *c = NULL;
    crm_error why;
    const msgpack_object *res;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    crm_client_opts co = {.url = url, .key = admin};
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    crm_mp_pack_cstr(&pk, "name");
    crm_mp_pack_cstr(&pk, SEG_NAME);
    crm_mp_pack_cstr(&pk, "filter");
    crm_mp_pack_cstr(&pk, SEG_FILTER);
    int rc = -1;
    if (crm_client_open(&co, &c, &why) == CRM_OK &&
        crm_client_call_raw(c, "segment.define", sb.data, sb.size, &res,
                            &why) == CRM_OK)
        rc = 0;
    else
        fprintf(stderr, "segment.define: %s\n", why.msg);
    crm_client_close(c);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}



typedef enum read_op {
    R_PING,
    R_GET,
    R_FIND,
    R_LOYALTY,
    R_KPI,
    R_SEG_MEMBERS,
    R_SEG_COUNTS,
    R_TASKS,
    R_N
} read_op;

static const struct {
    const char *op, *what, *name;
} reads[R_N] = {
    [R_PING] = {"ping", "ping", "ping"},
    [R_GET] = {"customer.get", "customer.get {customer}", "customer_get"},
    [R_FIND] = {"customer.find", "customer.find {email}", "customer_find"},
    [R_LOYALTY] = {"loyalty.get", "loyalty.get {customer}", "loyalty_get"},
    [R_KPI] = {"kpi.get", "kpi.get {property, 12 months}", "kpi_get"},
    [R_SEG_MEMBERS] = {"segment.members", "segment.members {defined}",
                       "segment_members"},
    [R_SEG_COUNTS] = {"segment.counts", "segment.counts", "segment_counts"},
    [R_TASKS] = {"tasks.today", "tasks.today {on, 7 days}", "tasks_today"},
};


/* One client's reads of random guests. */
typedef struct reader {
    read_op op;
    uint64_t rng;
    unsigned guests;
    char want[BENCH_STREAM_LEN]; /* the guest asked for */
    msgpack_sbuffer args;
} reader;

static int
read_next(void *state, bench_call *call)
{
    reader *r = state;
    bench_guest g;
    msgpack_packer pk;
    *call = (bench_call){.op = reads[r->op].op};
    if (r->op == R_PING)
        return 0;
    r->rng ^= r->rng << 13, r->rng ^= r->rng >> 7, r->rng ^= r->rng << 17;
    bench_chain_guest((unsigned)(r->rng % r->guests), &g);
    memcpy(r->want, g.id, sizeof(r->want));
    r->args.size = 0;
    msgpack_packer_init(&pk, &r->args, msgpack_sbuffer_write);
    if (r->op == R_TASKS) {
        int rc = msgpack_pack_map(&pk, 2) | crm_mp_pack_cstr(&pk, "on") |
                 crm_mp_pack_cstr(&pk, SEG_ON) |
                 crm_mp_pack_cstr(&pk, "days") | msgpack_pack_int(&pk, 7);
        call->raw = r->args.data;
        call->raw_len = r->args.size;
        return rc ? -1 : 0;
    }
    if (r->op == R_SEG_MEMBERS || r->op == R_SEG_COUNTS) {
        int members = r->op == R_SEG_MEMBERS;
        int rc = msgpack_pack_map(&pk, members ? 3 : 1) |
                 crm_mp_pack_cstr(&pk, "on") | crm_mp_pack_cstr(&pk, SEG_ON);
        if (members)
            rc |= crm_mp_pack_cstr(&pk, "segment") |
                  crm_mp_pack_cstr(&pk, SEG_NAME) |
                  crm_mp_pack_cstr(&pk, "limit") | msgpack_pack_int(&pk, 100);
        call->raw = r->args.data;
        call->raw_len = r->args.size;
        return rc ? -1 : 0;
    }
    if (r->op == R_KPI) {
        /* a property's last year of the load (it ends in 2026-09) */
        int rc = msgpack_pack_map(&pk, 3) |
                 crm_mp_pack_cstr(&pk, "property") |
                 crm_mp_pack_cstr(&pk, bench_chain_property(
                                           (unsigned)(r->rng >> 32))) |
                 crm_mp_pack_cstr(&pk, "from") |
                 crm_mp_pack_cstr(&pk, "2025-10") |
                 crm_mp_pack_cstr(&pk, "to") | crm_mp_pack_cstr(&pk, "2026-09");
        call->raw = r->args.data;
        call->raw_len = r->args.size;
        return rc ? -1 : 0;
    }
    int rc = msgpack_pack_map(&pk, 1);
    if (r->op == R_GET)
        rc |= crm_mp_pack_cstr(&pk, "customer") | crm_mp_pack_cstr(&pk, g.id);
    else if (r->op == R_FIND)
        rc |= crm_mp_pack_cstr(&pk, "email") | crm_mp_pack_cstr(&pk, g.email);
    else
        rc |= crm_mp_pack_cstr(&pk, "customer") | crm_mp_pack_cstr(&pk, g.id);
    call->raw = r->args.data;
    call->raw_len = r->args.size;
    return rc ? -1 : 0;
}

/* customer.find counts the answers whose first hit is the guest asked
 * for; the other reads count every answer. */
static uint64_t
read_items(void *state, const msgpack_object *res)
{
    reader *r = state;
    if (r->op != R_FIND)
        return 1;
    const msgpack_object *hits = crm_mp_get(res, "hits");
    if (hits == NULL || hits->type != MSGPACK_OBJECT_ARRAY ||
        hits->via.array.size == 0)
        return 0;
    const msgpack_object *id = crm_mp_get(&hits->via.array.ptr[0], "id");
    size_t n = strlen(r->want);
    return crm_mp_is_str(id) && id->via.str.size == n &&
           memcmp(id->via.str.ptr, r->want, n) == 0;
}

static int
run_reads(const gopts *o, const char *url, const char *key, read_op op,
          uint64_t seed, bench_tally *t)
{
    reader r[BENCH_MAX_CLIENTS];
    void *state[BENCH_MAX_CLIENTS];
    for (int i = 0; i < o->clients; i++) {
        r[i] = (reader){.op = op,
                        .rng = (seed + (uint64_t)i) * 0x9E3779B97F4A7C15ull | 1,
                        .guests = o->guests};
        msgpack_sbuffer_init(&r[i].args);
        state[i] = &r[i];
    }
    bench_load l = {.url = url,
                    .key = key,
                    .clients = o->clients,
                    .seconds = o->seconds,
                    .next = read_next,
                    .items = read_items,
                    .state = state,
                    .not_found_ok = op == R_LOYALTY};
    int rc = bench_rpc_load(&l, t);
    for (int i = 0; i < o->clients; i++)
        msgpack_sbuffer_destroy(&r[i].args);
    return rc;
}

/* --- figures ----------------------------------------------------------------
 */

/* One measured configuration over the rounds. */
typedef struct series {
    double rate[BENCH_MAX_ROUNDS], p50[BENCH_MAX_ROUNDS], p99[BENCH_MAX_ROUNDS],
        share[BENCH_MAX_ROUNDS];
    int n;
    crm_err na; /* the server refused the op: not measured */
} series;

static void
series_add(series *s, const bench_tally *t, double rate)
{
    s->rate[s->n] = rate;
    s->p50[s->n] = t->p50;
    s->p99[s->n] = t->p99;
    s->share[s->n] = t->calls ? (double)t->items / (double)t->calls : 0;
    s->n++;
}

static double
median(const double *v, int n, double *lo, double *hi)
{
    double c[BENCH_MAX_ROUNDS], m, l, h;
    if (n == 0) {
        if (lo)
            *lo = *hi = 0;
        return 0;
    }
    memcpy(c, v, sizeof(*v) * (size_t)n);
    bench_spread(c, n, &m, &l, &h);
    if (lo)
        *lo = l, *hi = h;
    return m;
}

/* 1234567 as "1,234,567". */
static const char *
grouped(double v, char *buf, size_t cap)
{
    char raw[32];
    snprintf(raw, sizeof(raw), "%.0f", v);
    size_t n = strlen(raw), o = 0;
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        if (i > 0 && raw[i - 1] != '-' && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
    return buf;
}

/* "rate unit (lo..hi)" of a series, the range only over several rounds. */
static void
rate_text(const series *s, const char *unit, char *out, size_t cap)
{
    char a[32], b[32], c[32];
    double lo, hi, m = median(s->rate, s->n, &lo, &hi);
    if (s->n > 1)
        snprintf(out, cap, "%s %s (%s..%s)", grouped(m, a, sizeof(a)), unit,
                 grouped(lo, b, sizeof(b)), grouped(hi, c, sizeof(c)));
    else
        snprintf(out, cap, "%s %s", grouped(m, a, sizeof(a)), unit);
}

static void
figure(const char *name, double v, int decimals)
{
    printf("figure %s %.*f\n", name, decimals, v);
}

static void
figure_na(const char *name, crm_err why)
{
    printf("figure %s n/a %s\n", name, crm_err_name(why));
}

/* --- driver -----------------------------------------------------------------
 */

static void
guests_usage(FILE *f)
{
    fprintf(f,
            "usage: crm-bench guests [--dir DIR] [--guests N] [--events N]\n"
            "                        [--clients N] [--seconds S] [--repeat R]\n"
            "                        [--crmd PATH] [--port P] [--keep]\n"
            "                        [--skip-load DIR] [--projections LIST]\n"
            "                        [--erasures N] [--phases LIST]\n"
            "                        [--reads LIST]\n"
            "\n"
            "  --dir DIR        where crmd's data directory goes: the disk "
            "measured\n"
            "                   (default .)\n"
            "  --guests N       guests of the tenant (default 100000)\n"
            "  --events N       events loaded, registrations included "
            "(default\n"
            "                   5000000)\n"
            "  --clients N      client threads, 1..%d (default 8)\n"
            "  --seconds S      per measured configuration (default 5)\n"
            "  --repeat R       rounds of the append and read phases; the "
            "table\n"
            "                   gives medians and ranges (default 1, max %d)\n"
            "  --crmd PATH      the crmd binary (default: ../crmd next to "
            "crm-bench)\n"
            "  --port P         the loaded crmd's port (default 17520; the "
            "one\n"
            "                   without projections uses P+1)\n"
            "  --keep           keep the loaded directory and print where it "
            "is\n"
            "  --skip-load DIR  start on a directory --keep kept instead of "
            "loading\n"
            "                   (its guests and events; --guests and --events "
            "are\n"
            "                   ignored); it is kept\n"
            "  --access-log on|off  crmd's access log of personal reads "
            "(default on)\n"
            "  --no-encryption  crmd without a master key: personal data "
            "unsealed\n"
            "  --projections LIST  the loaded crmd's (crmd --projections; "
            "default\n"
            "                   crmd's own); the \"on\" figures are then "
            "this\n"
            "                   crmd's, and with none there is no rebuild\n"
            "  --erasures N     the erase phase: 10 guests erased one by one "
            "with\n"
            "                   --wait, then a burst of N (default 100; 0: "
            "none).\n"
            "                   It changes the tenant: a kept directory "
            "then holds\n"
            "                   erased guests\n"
            "  --phases LIST    the phases run after the load, of append,"
            "read,\n"
            "                   rebuild,erase (default all of them)\n"
            "  --reads LIST     the read phase's ops, of ping,customer.get,\n"
            "                   customer.find,loyalty.get,kpi.get,"
            "segment.members,\n"
            "                   segment.counts,tasks.today (default all)\n",
            BENCH_MAX_CLIENTS, BENCH_MAX_ROUNDS);
}

static int
write_meta(const char *datadir, unsigned guests, uint64_t events)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/" META_FILE, datadir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "guests %u\nevents %llu\n", guests, (unsigned long long)events);
    return fclose(f) == 0 ? 0 : -1;
}

static int
read_meta(const char *datadir, unsigned *guests, uint64_t *events)
{
    char path[700];
    unsigned long long e;
    snprintf(path, sizeof(path), "%s/" META_FILE, datadir);
    FILE *f = fopen(path, "r");
    int ok = f && fscanf(f, "guests %u events %llu", guests, &e) == 2;
    if (f)
        fclose(f);
    if (!ok) {
        fprintf(stderr, "%s: not a directory crm-bench guests --keep kept\n",
                datadir);
        return -1;
    }
    *events = e;
    return 0;
}

/* The bits of a comma-separated list of names[] (NULL-terminated): 0
 * with *bits set, -1 for a name not in it. */
static int
name_bits(const char *list, const char *const *names, unsigned *bits)
{
    *bits = 0;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        int i = 0;
        while (names[i] &&
               (strlen(names[i]) != n || memcmp(names[i], p, n) != 0))
            i++;
        if (names[i] == NULL) {
            fprintf(stderr, "crm-bench guests: unknown name '%.*s'\n",
                    (int)n, p);
            return -1;
        }
        *bits |= 1u << i;
        p += n + (p[n] == ',');
    }
    return 0;
}

static int
parse_args(int argc, char **argv, gopts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            guests_usage(stdout);
            return 1;
        }
        if (strcmp(a, "--keep") == 0) {
            o->keep = 1;
            continue;
        }
        if (strcmp(a, "--no-encryption") == 0) {
            bench_crmd_plain(1);
            continue;
        }
        if (v == NULL)
            return -1;
        i++;
        if (strcmp(a, "--dir") == 0)
            o->dir = v;
        else if (strcmp(a, "--crmd") == 0)
            o->crmd = v;
        else if (strcmp(a, "--skip-load") == 0)
            o->skip_load = v;
        else if (strcmp(a, "--guests") == 0)
            o->guests = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--events") == 0)
            o->events = strtoull(v, NULL, 10);
        else if (strcmp(a, "--clients") == 0)
            o->clients = atoi(v);
        else if (strcmp(a, "--seconds") == 0)
            o->seconds = atof(v);
        else if (strcmp(a, "--repeat") == 0)
            o->rounds = atoi(v);
        else if (strcmp(a, "--port") == 0)
            o->port = atoi(v);
        else if (strcmp(a, "--projections") == 0)
            o->projections = v;
        else if (strcmp(a, "--access-log") == 0)
            bench_crmd_access_log(v);
        else if (strcmp(a, "--erasures") == 0)
            o->erasures = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--phases") == 0) {
            if (name_bits(v, phase_names, &o->phases) != 0)
                return -1;
        } else if (strcmp(a, "--reads") == 0) {
            const char *ops[R_N + 1];
            for (int k = 0; k < R_N; k++)
                ops[k] = reads[k].op;
            ops[R_N] = NULL;
            if (name_bits(v, ops, &o->reads) != 0)
                return -1;
        } else
            return -1;
    }
    return 0;
}

int
bench_guests(int argc, char **argv)
{
    gopts o = {.dir = ".",
               .crmd = bench_crmd_default_path(),
               .guests = 100000,
               .events = 5000000,
               .clients = 8,
               .seconds = 5,
               .rounds = 1,
               .port = 17520,
               .erasures = 100,
               .phases = PH_APPEND | PH_READ | PH_REBUILD | PH_ERASE,
               .reads = (1u << R_N) - 1};
    int pa = parse_args(argc, argv, &o);
    if (pa > 0)
        return 0;
    if (pa < 0 || o.crmd == NULL || o.clients < 1 ||
        o.clients > BENCH_MAX_CLIENTS || o.seconds <= 0 || o.rounds < 1 ||
        o.rounds > BENCH_MAX_ROUNDS || o.port <= 0 ||
        (!o.skip_load &&
         (o.guests < (unsigned)o.clients || o.events < o.guests + 10))) {
        guests_usage(stderr);
        return 2;
    }
    bench_catch_stop();
    /* what the tables call the loaded crmd's projections */
    const char *with = o.projections ? o.projections : "on";

    bench_crmd on = {0};
    char admin[160];
    int rc = 1, failed = 0;
    double wall0 = bench_now();
    bench_tally load = {0};
    uint64_t loaded = 0;
    static series app[2][2]; /* [batch 100, 1][projections on, none] */
    static series rd[R_N];
    static const size_t batches[2] = {100, 1};
    bench_rebuilt rb[BENCH_MAX_PROJ];
    bench_erased er = {.na = CRM_ERR_UNAVAILABLE};
    int nrb = 0;
    double rb_wall = 0;
    memset(app, 0, sizeof(app));
    memset(rd, 0, sizeof(rd));

    /* --- load */
    if (o.skip_load) {
        if (read_meta(o.skip_load, &o.guests, &o.events) != 0 ||
            bench_crmd_reopen(o.crmd, o.skip_load, o.port, o.projections,
                              &on) != 0)
            goto out;
    } else if (bench_crmd_start(o.crmd, o.dir, o.port, o.projections, &on) !=
               0) {
        goto out;
    }
    on.keep = on.keep || o.keep;
    if (bench_crmd_key(&on, "admin", admin, sizeof(admin)) != 0)
        goto out;
    printf("crm-bench guests: %u guests, %llu events, %d clients, %.1f s per "
           "configuration, %d round%s\ncrmd %s, projections %s, data in "
           "%s\n\n",
           o.guests, (unsigned long long)o.events, o.clients, o.seconds,
           o.rounds, o.rounds > 1 ? "s" : "", o.crmd,
           o.projections ? o.projections : "(crmd's default)", on.datadir);
    fflush(stdout);
    if (!o.skip_load) {
        /* without the settings projection there is no settings.set: USD
         * folios then earn no points */
        int settings = set_usd_rate(on.url, admin);
        if (settings < 0 && o.projections == NULL)
            goto out;
        if (settings < 0)
            settings = 0;
        progress prog = {.t0 = bench_now(), .next = bench_now() + 10};
        if (run_appends(&o, on.url, on.key, BENCH_CHAIN_BATCH_MAX, 1,
                        o.events - (uint64_t)settings, LOAD_FROM, 0, 1, &prog,
                        &load) != 0) {
            fprintf(stderr, "load: %s\n", load.err.msg);
            goto out;
        }
        loaded = load.items + (uint64_t)settings;
        if (write_meta(on.datadir, o.guests, loaded) != 0)
            fprintf(stderr, "cannot write %s/%s\n", on.datadir, META_FILE);
        printf("load: %llu events in %.1f s, %.0f events/s (%.0f appends/s)\n",
               (unsigned long long)loaded, load.seconds, load.items_per_s,
               load.calls_per_s);
        fflush(stdout);
    }

    /* --- appends, projections on and none taking turns on the same data:
     * the crmd is started again without projections, then with them
     * (which catches up on what it missed before it serves) */
    int keep = on.keep;
    for (int r = 0; r < o.rounds && !bench_stopped() &&
                    (o.phases & PH_APPEND);
         r++)
        for (int b = 0; b < 2; b++)
            for (int s = 0; s < 2; s++) {
                if (s == 1 && restart(&o, &on, "none", NULL) != 0)
                    goto out;
                int run = r * 2 + b;
                bench_tally t;
                if (run_appends(&o, on.url, on.key, batches[b], 0, 0,
                                APPEND_FROM + (int64_t)run * 120 * DAY, 1000,
                                1000 + (uint64_t)run, NULL, &t) != 0) {
                    fprintf(stderr, "append: %s\n", t.err.msg);
                    goto out;
                }
                series_add(&app[b][s], &t, t.items_per_s);
                printf("append batch %3zu, projections %-4s round %d: "
                       "%8.0f events/s %7.0f appends/s  p50 %6.0f us  p99 "
                       "%6.0f us\n",
                       batches[b], s ? "none" : with, r + 1, t.items_per_s,
                       t.calls_per_s, t.p50, t.p99);
                fflush(stdout);
                double caught;
                if (s == 1 && restart(&o, &on, o.projections, &caught) != 0)
                    goto out;
                if (s == 1)
                    printf("  crmd with projections %s again: caught up "
                           "in %.1f s\n", with, caught);
            }
    on.keep = keep;

    /* --- reads */
    if ((o.phases & PH_READ) && (o.reads & (1u << R_SEG_MEMBERS)) &&
        define_segment(on.url, admin) != 0)
        rd[R_SEG_MEMBERS].na = CRM_ERR_UNAVAILABLE;
    for (int r = 0; r < o.rounds && !bench_stopped() && (o.phases & PH_READ);
         r++)
        for (int k = 0; k < R_N; k++) {
            bench_tally t;
            if (rd[k].na != CRM_OK || !(o.reads & (1u << k)))
                continue;
            if (run_reads(&o, on.url, on.key, (read_op)k,
                          (uint64_t)(r * R_N + k + 1), &t) != 0) {
                /* an op this server lacks, or a projection not kept */
                if (t.err.code == CRM_ERR_UNKNOWN_OP ||
                    t.err.code == CRM_ERR_UNAVAILABLE) {
                    rd[k].na = t.err.code;
                    printf("%-24s n/a (%s)\n", reads[k].what,
                           crm_err_name(t.err.code));
                    continue;
                }
                fprintf(stderr, "%s\n", t.err.msg);
                rd[k].na = t.err.code;
                failed = 1;
                continue;
            }
            series_add(&rd[k], &t, t.calls_per_s);
            printf("%-24s round %d: %8.0f calls/s  p50 %6.0f us  p99 %6.0f "
                   "us",
                   reads[k].what, r + 1, t.calls_per_s, t.p50, t.p99);
            if (k == R_FIND)
                printf("  (%.1f%% found the guest)",
                       100.0 * (double)t.items /
                           (double)(t.calls ? t.calls : 1));
            if (t.missing)
                printf("  (%llu not_found)", (unsigned long long)t.missing);
            printf("\n");
            fflush(stdout);
        }

    /* --- rebuild */
    int no_proj = o.projections && strcmp(o.projections, "none") == 0;
    if (no_proj)
        printf("\nno projection.rebuild: --projections none\n");
    if (!(o.phases & PH_REBUILD))
        no_proj = 1; /* nor its table rows */
    if (!bench_stopped() && !no_proj) {
        if (bench_crmd_rebuild(&on, rb, BENCH_MAX_PROJ, &nrb, &rb_wall) != 0)
            goto out;
        printf("\nprojection.rebuild of every projection, %.1f s:\n", rb_wall);
        failed |= bench_crmd_print_rebuilt(rb, nrb);
    }
    /* --- erasures, last: they change the tenant */
    if (!(o.phases & PH_ERASE))
        o.erasures = 0;
    if (!bench_stopped() && o.erasures > 0) {
        unsigned one = o.erasures < 10 ? o.erasures : 10;
        if (bench_erase(on.url, admin, o.guests, one, o.erasures, &er) != 0)
            goto out;
        if (er.na == CRM_OK)
            printf("\nerase: %u one by one with wait, %.2f s each (at most "
                   "%.2f s); %u in a burst, complete in %.2f s: %.1f "
                   "erasures/s\n",
                   er.one, er.one_s, er.one_max, er.burst, er.burst_s,
                   er.per_s);
        else
            printf("\nerase: n/a (%s)\n", crm_err_name(er.na));
    }
    if (bench_stopped())
        goto out;

    /* --- the table */
    char v[96], w[96];
    double lo, hi;
    printf("\n%-8s %-36s %s\n", "phase", "what", "figure");
    if (!o.skip_load) {
        snprintf(w, sizeof(w), "%s events in %.1f s",
                 grouped((double)loaded, v, sizeof(v)), load.seconds);
        printf("%-8s %-36s %s events/s\n", "load", w,
               grouped(load.items_per_s, v, sizeof(v)));
    } else {
        printf("%-8s %-36s %s\n", "load", "skipped (--skip-load)", o.skip_load);
    }
    for (int b = 0; b < 2 && (o.phases & PH_APPEND); b++) {
        for (int s = 0; s < 2; s++) {
            snprintf(w, sizeof(w), "batch %zu, projections %s", batches[b],
                     s ? "none (same data)" : with);
            rate_text(&app[b][s], "events/s", v, sizeof(v));
            printf("%-8s %-36s %s, p50 %.0f us, p99 %.0f us\n", "append", w, v,
                   median(app[b][s].p50, app[b][s].n, NULL, NULL),
                   median(app[b][s].p99, app[b][s].n, NULL, NULL));
        }
        double ratio[BENCH_MAX_ROUNDS];
        for (int r = 0; r < app[b][0].n; r++)
            ratio[r] = app[b][0].rate[r] / app[b][1].rate[r];
        double m = median(ratio, app[b][0].n, &lo, &hi);
        snprintf(w, sizeof(w), "batch %zu, %s / none", batches[b], with);
        printf("%-8s %-36s %.0f%% (cost %.0f%%; target: cost <= 30%%)\n",
               "append", w, 100 * m, 100 * (1 - m));
    }
    for (int k = 0; k < R_N; k++) {
        if (!(o.phases & PH_READ) || !(o.reads & (1u << k)))
            continue;
        if (rd[k].na != CRM_OK) {
            printf("%-8s %-36s n/a (%s)\n", "read", reads[k].what,
                   crm_err_name(rd[k].na));
            continue;
        }
        rate_text(&rd[k], "calls/s", v, sizeof(v));
        printf("%-8s %-36s %s, p50 %.0f us, p99 %.0f us", "read", reads[k].what,
               v, median(rd[k].p50, rd[k].n, NULL, NULL),
               median(rd[k].p99, rd[k].n, NULL, NULL));
        if (k == R_FIND)
            printf(", %.1f%% found",
                   100 * median(rd[k].share, rd[k].n, NULL, NULL));
        printf("\n");
    }
    if (!(o.phases & PH_READ) || (~o.reads & (1u << R_GET | 1u << R_PING)))
        ; /* not both measured */
    else if (rd[R_GET].na == CRM_OK && rd[R_PING].na == CRM_OK)
        printf("%-8s %-36s %.0f%% (target >= 80%%, p99 < 2 ms)\n", "read",
               "customer.get / ping",
               100 * median(rd[R_GET].rate, rd[R_GET].n, NULL, NULL) /
                   median(rd[R_PING].rate, rd[R_PING].n, NULL, NULL));
    else
        printf("%-8s %-36s n/a (target >= 80%%, p99 < 2 ms)\n", "read",
               "customer.get / ping");
    for (int i = 0; i < nrb; i++) {
        snprintf(w, sizeof(w), "%.31s (%s events, %.1f s)", rb[i].name,
                 grouped((double)rb[i].events, v, sizeof(v)), rb[i].seconds);
        printf("%-8s %-36s %s events/s%s\n", "rebuild", w,
               grouped(rb[i].events_per_s, v, sizeof(v)),
               rb[i].identical ? "" : ", DIFFERS from the inline state");
    }
    if (!no_proj)
        printf("%-8s %-36s %.1f s\n", "rebuild", "all, wall time of the call",
               rb_wall);

    /* --- one line per figure */
    printf("\n");
    if (!o.skip_load) {
        figure("load.events", (double)loaded, 0);
        figure("load.seconds", load.seconds, 1);
        figure("load.events_per_s", load.items_per_s, 0);
    }
    for (int b = 0; b < 2 && (o.phases & PH_APPEND); b++) {
        char name[96];
        for (int s = 0; s < 2; s++) {
            const series *x = &app[b][s];
            const char *sys = s ? "none" : "on";
            snprintf(name, sizeof(name), "append.b%zu.%s.events_per_s",
                     batches[b], sys);
            figure(name, median(x->rate, x->n, NULL, NULL), 0);
            snprintf(name, sizeof(name), "append.b%zu.%s.p50_us", batches[b],
                     sys);
            figure(name, median(x->p50, x->n, NULL, NULL), 0);
            snprintf(name, sizeof(name), "append.b%zu.%s.p99_us", batches[b],
                     sys);
            figure(name, median(x->p99, x->n, NULL, NULL), 0);
        }
        double ratio[BENCH_MAX_ROUNDS];
        for (int r = 0; r < app[b][0].n; r++)
            ratio[r] = app[b][0].rate[r] / app[b][1].rate[r];
        snprintf(name, sizeof(name), "append.b%zu.on_over_none", batches[b]);
        figure(name, median(ratio, app[b][0].n, NULL, NULL), 3);
    }
    for (int k = 0; k < R_N; k++) {
        static const char *const what[] = {"calls_per_s", "p50_us", "p99_us"};
        if (!(o.phases & PH_READ) || !(o.reads & (1u << k)))
            continue;
        for (int f = 0; f < 3; f++) {
            char name[96];
            snprintf(name, sizeof(name), "read.%s.%s", reads[k].name, what[f]);
            if (rd[k].na != CRM_OK)
                figure_na(name, rd[k].na);
            else
                figure(name,
                       median(f == 0   ? rd[k].rate
                              : f == 1 ? rd[k].p50
                                       : rd[k].p99,
                              rd[k].n, NULL, NULL),
                       0);
        }
        if (k == R_FIND && rd[k].na == CRM_OK)
            figure("read.customer_find.found",
                   median(rd[k].share, rd[k].n, NULL, NULL), 3);
    }
    if (!(o.phases & PH_READ) || (~o.reads & (1u << R_GET | 1u << R_PING)))
        ; /* not both measured */
    else if (rd[R_GET].na == CRM_OK && rd[R_PING].na == CRM_OK)
        figure("read.get_over_ping",
               median(rd[R_GET].rate, rd[R_GET].n, NULL, NULL) /
                   median(rd[R_PING].rate, rd[R_PING].n, NULL, NULL),
               3);
    else
        figure_na("read.get_over_ping",
                  rd[R_GET].na != CRM_OK ? rd[R_GET].na : rd[R_PING].na);
    for (int i = 0; i < nrb; i++) {
        char name[96];
        snprintf(name, sizeof(name), "rebuild.%.31s.events_per_s", rb[i].name);
        figure(name, rb[i].events_per_s, 0);
        snprintf(name, sizeof(name), "rebuild.%.31s.events", rb[i].name);
        figure(name, (double)rb[i].events, 0);
        snprintf(name, sizeof(name), "rebuild.%.31s.seconds", rb[i].name);
        figure(name, rb[i].seconds, 3);
        snprintf(name, sizeof(name), "rebuild.%.31s.identical", rb[i].name);
        figure(name, rb[i].identical, 0);
    }
    if (!no_proj)
        figure("rebuild.all.seconds", rb_wall, 1);
    if (o.erasures > 0 && er.na == CRM_OK) {
        figure("erase.one.seconds", er.one_s, 2);
        figure("erase.burst.erasures_per_s", er.per_s, 1);
        figure("erase.burst.seconds", er.burst_s, 2);
    } else if (o.erasures > 0) {
        figure_na("erase.burst.erasures_per_s", er.na);
    }
    figure("run.seconds", bench_now() - wall0, 1);
    rc = failed;
out:
    if (on.keep && on.datadir[0])
        printf("\nkept %s (crm-bench guests --skip-load %s)\n", on.datadir,
               on.datadir);
    bench_crmd_stop(&on);
    return rc;
}
