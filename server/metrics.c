/* metrics.c - counters, histograms and the HTTP endpoint. */
#include "metrics.h"

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "rpc.h"

#define NOUT 64 /* outcomes: crm_err values are below 64 */
static const double bounds_us[] = {50,    100,   250,    500,    1000,  2500,
                                   5000,  10000, 25000,  50000,  100000, 250000,
                                   1000000};
#define NBUCKET (sizeof(bounds_us) / sizeof(bounds_us[0]) + 1)

typedef struct op_stats {
    _Atomic uint64_t outcome[NOUT];
    _Atomic uint64_t bucket[NBUCKET];
    _Atomic uint64_t sum_us;
} op_stats;

struct crm_metrics {
    crm_store *store;
    op_stats ops[CRM_OP__COUNT + 1];
    int64_t started;
    _Atomic int healthy;
    nng_http_server *http;
    nng_url *url;
    int http_started; /* ours to stop: NNG shares one server per address */
};

crm_metrics *
crm_metrics_new(crm_store *store)
{
    crm_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->store = store;
    m->started = (int64_t)time(NULL);
    atomic_store(&m->healthy, 1);
    return m;
}

void
crm_metrics_free(crm_metrics *m)
{
    if (m == NULL)
        return;
    crm_metrics_http_stop(m);
    free(m);
}

void
crm_metrics_request(crm_metrics *m, crm_op op, crm_err outcome, double us)
{
    op_stats *s = &m->ops[(unsigned)op <= CRM_OP__COUNT ? op : CRM_OP__COUNT];
    unsigned o = (unsigned)outcome < NOUT ? (unsigned)outcome : CRM_ERR_INTERNAL;
    size_t b = 0;
    while (b < NBUCKET - 1 && us > bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&s->outcome[o], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, (uint64_t)us, memory_order_relaxed);
}

static void
out(msgpack_sbuffer *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
out(msgpack_sbuffer *sb, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        msgpack_sbuffer_write(sb, line,
                              (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static const char *
op_label(size_t i)
{
    return i < CRM_OP__COUNT ? crm_op_get((crm_op)i)->name : "invalid";
}

void
crm_metrics_render(crm_metrics *m, msgpack_sbuffer *sb)
{
    out(sb, "# HELP crmd_requests_total RPC requests by op and outcome.\n"
            "# TYPE crmd_requests_total counter\n");
    for (size_t i = 0; i <= CRM_OP__COUNT; i++)
        for (unsigned o = 0; o < NOUT; o++) {
            uint64_t v = atomic_load_explicit(&m->ops[i].outcome[o],
                                              memory_order_relaxed);
            if (v)
                out(sb, "crmd_requests_total{op=\"%s\",outcome=\"%s\"} %llu\n",
                    op_label(i), crm_err_name((crm_err)o),
                    (unsigned long long)v);
        }
    out(sb, "# HELP crmd_request_seconds RPC latency by op.\n"
            "# TYPE crmd_request_seconds histogram\n");
    for (size_t i = 0; i <= CRM_OP__COUNT; i++) {
        uint64_t cum = 0;
        for (size_t b = 0; b < NBUCKET; b++)
            cum += atomic_load_explicit(&m->ops[i].bucket[b], memory_order_relaxed);
        if (cum == 0)
            continue;
        uint64_t run = 0;
        for (size_t b = 0; b < NBUCKET; b++) {
            run += atomic_load_explicit(&m->ops[i].bucket[b], memory_order_relaxed);
            if (b < NBUCKET - 1)
                out(sb, "crmd_request_seconds_bucket{op=\"%s\",le=\"%g\"} %llu\n",
                    op_label(i), bounds_us[b] / 1e6, (unsigned long long)run);
            else
                out(sb, "crmd_request_seconds_bucket{op=\"%s\",le=\"+Inf\"} %llu\n",
                    op_label(i), (unsigned long long)run);
        }
        out(sb, "crmd_request_seconds_sum{op=\"%s\"} %.6f\n", op_label(i),
            (double)atomic_load(&m->ops[i].sum_us) / 1e6);
        out(sb, "crmd_request_seconds_count{op=\"%s\"} %llu\n", op_label(i),
            (unsigned long long)cum);
    }
    out(sb, "# HELP crmd_uptime_seconds Seconds since start.\n"
            "# TYPE crmd_uptime_seconds gauge\ncrmd_uptime_seconds %lld\n",
        (long long)(time(NULL) - m->started));

    crm_tenant_info *t = NULL;
    size_t n = 0;
    if (crm_store_tenant_list(m->store, &t, &n, NULL) != CRM_OK)
        return;
    static const struct {
        const char *name, *type, *help;
    } tm[] = {
        {"crmd_tenant_position", "gauge", "Head position of the tenant log."},
        {"crmd_tenant_commits_total", "counter",
         "Write transactions committed (one fsync each)."},
        {"crmd_tenant_events_total", "counter", "Events appended."},
        {"crmd_tenant_duplicates_total", "counter",
         "Events answered by the idempotency index."},
        {"crmd_tenant_conflicts_total", "counter",
         "Batches refused by an expected-version or id check."},
        {"crmd_tenant_map_size_bytes", "gauge", "LMDB map size."},
        {"crmd_tenant_map_used_bytes", "gauge", "LMDB pages in use."},
        {"crmd_tenant_map_grows_total", "counter", "Map enlargements."},
        {"crmd_tenant_checkpoint_position", "gauge",
         "Stream heads are in the streams index up to this position."},
    };
    crm_log_stats *st = calloc(n ? n : 1, sizeof(*st));
    int *have = calloc(n ? n : 1, sizeof(*have));
    for (size_t i = 0; st && have && i < n; i++) {
        crm_log *log;
        if (crm_store_tenant_log(m->store, t[i].id, &log, NULL) == CRM_OK) {
            crm_log_stats_get(log, &st[i]);
            have[i] = 1;
        }
    }
    for (size_t k = 0; st && have && k < sizeof(tm) / sizeof(tm[0]); k++) {
        out(sb, "# HELP %s %s\n# TYPE %s %s\n", tm[k].name, tm[k].help,
            tm[k].name, tm[k].type);
        for (size_t i = 0; i < n; i++) {
            if (!have[i])
                continue;
            const uint64_t v[] = {st[i].position,   st[i].commits,
                                  st[i].events,     st[i].duplicates,
                                  st[i].conflicts,  st[i].map_size,
                                  st[i].map_used,   st[i].map_grows,
                                  st[i].checkpoint};
            out(sb, "%s{tenant=\"%s\"} %llu\n", tm[k].name, t[i].id,
                (unsigned long long)v[k]);
        }
    }
    out(sb, "# HELP crmd_commit_events Events per commit (group commit).\n"
            "# TYPE crmd_commit_events histogram\n");
    for (size_t i = 0; st && have && i < n; i++) {
        if (!have[i])
            continue;
        uint64_t run = 0, total = 0;
        for (int b = 0; b < CRM_LOG_GROUP_BUCKETS; b++) {
            run += st[i].group_hist[b];
            if (b < CRM_LOG_GROUP_BUCKETS - 1)
                out(sb, "crmd_commit_events_bucket{tenant=\"%s\",le=\"%d\"} %llu\n",
                    t[i].id, 1 << b, (unsigned long long)run);
        }
        total = run;
        out(sb, "crmd_commit_events_bucket{tenant=\"%s\",le=\"+Inf\"} %llu\n",
            t[i].id, (unsigned long long)total);
        /* new events only, as the buckets count them */
        out(sb, "crmd_commit_events_sum{tenant=\"%s\"} %llu\n", t[i].id,
            (unsigned long long)st[i].events);
        out(sb, "crmd_commit_events_count{tenant=\"%s\"} %llu\n", t[i].id,
            (unsigned long long)total);
    }
    free(st);
    free(have);
    free(t);
}

int
crm_metrics_pack(crm_metrics *m, msgpack_packer *pk, const char *tenant)
{
    int rc = msgpack_pack_map(pk, 3);
    rc |= crm_mp_pack_cstr(pk, "uptime_s") |
          msgpack_pack_int64(pk, (int64_t)time(NULL) - m->started);
    uint64_t per[CRM_OP__COUNT + 1][2] = {{0}};
    size_t nops = 0;
    for (size_t i = 0; i <= CRM_OP__COUNT; i++) {
        for (unsigned o = 0; o < NOUT; o++)
            per[i][o != 0] += atomic_load(&m->ops[i].outcome[o]);
        nops += per[i][0] + per[i][1] > 0;
    }
    rc |= crm_mp_pack_cstr(pk, "requests") | msgpack_pack_map(pk, nops);
    for (size_t i = 0; i <= CRM_OP__COUNT; i++) {
        if (per[i][0] + per[i][1] == 0)
            continue;
        rc |= crm_mp_pack_cstr(pk, op_label(i)) | msgpack_pack_map(pk, 2);
        rc |= crm_mp_pack_cstr(pk, "ok") | msgpack_pack_uint64(pk, per[i][0]);
        rc |= crm_mp_pack_cstr(pk, "error") | msgpack_pack_uint64(pk, per[i][1]);
    }
    crm_tenant_info *t = NULL;
    size_t n = 0, shown = 0;
    crm_store_tenant_list(m->store, &t, &n, NULL);
    for (size_t i = 0; i < n; i++)
        shown += tenant == NULL || strcmp(tenant, t[i].id) == 0;
    rc |= crm_mp_pack_cstr(pk, "tenants") | msgpack_pack_map(pk, shown);
    for (size_t i = 0; i < n; i++) {
        crm_log *log;
        crm_log_stats st = {0};
        if (tenant != NULL && strcmp(tenant, t[i].id) != 0)
            continue;
        if (crm_store_tenant_log(m->store, t[i].id, &log, NULL) == CRM_OK)
            crm_log_stats_get(log, &st);
        rc |= crm_mp_pack_cstr(pk, t[i].id) | msgpack_pack_map(pk, 6);
        rc |= crm_mp_pack_cstr(pk, "position") | msgpack_pack_uint64(pk, st.position);
        rc |= crm_mp_pack_cstr(pk, "commits") | msgpack_pack_uint64(pk, st.commits);
        rc |= crm_mp_pack_cstr(pk, "events") | msgpack_pack_uint64(pk, st.events);
        rc |= crm_mp_pack_cstr(pk, "conflicts") | msgpack_pack_uint64(pk, st.conflicts);
        rc |= crm_mp_pack_cstr(pk, "map_size") | msgpack_pack_uint64(pk, st.map_size);
        rc |= crm_mp_pack_cstr(pk, "map_used") | msgpack_pack_uint64(pk, st.map_used);
    }
    free(t);
    return rc;
}

/* --- HTTP ----------------------------------------------------------------- */

static void
http_reply(nng_aio *aio, uint16_t status, const char *ctype, const void *body,
           size_t len)
{
    nng_http_res *res;
    if (nng_http_res_alloc(&res) != 0) {
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    nng_http_res_set_status(res, status);
    nng_http_res_set_header(res, "Content-Type", ctype);
    nng_http_res_copy_data(res, body, len);
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

static void
http_metrics(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    crm_metrics *m = nng_http_handler_get_data(h);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    crm_metrics_render(m, &sb);
    http_reply(aio, 200, "text/plain; version=0.0.4", sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

static void
http_healthz(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    crm_metrics *m = nng_http_handler_get_data(h);
    if (atomic_load(&m->healthy))
        http_reply(aio, 200, "text/plain", "ok\n", 3);
    else
        http_reply(aio, 503, "text/plain", "draining\n", 9);
}

crm_err
crm_metrics_http_start(crm_metrics *m, const char *url, crm_error *why)
{
    nng_http_handler *h;
    int rv;
    if ((rv = nng_url_parse(&m->url, url)) != 0)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "metrics address %s: %s",
                             url, nng_strerror(rv));
    if ((rv = nng_http_server_hold(&m->http, m->url)) != 0)
        goto fail;
    static const struct {
        const char *path;
        void (*cb)(nng_aio *);
    } routes[] = {{"/metrics", http_metrics}, {"/healthz", http_healthz}};
    for (size_t i = 0; i < 2; i++) {
        if ((rv = nng_http_handler_alloc(&h, routes[i].path, routes[i].cb)) != 0)
            goto fail;
        nng_http_handler_set_data(h, m, NULL);
        if ((rv = nng_http_server_add_handler(m->http, h)) != 0) {
            nng_http_handler_free(h);
            goto fail;
        }
    }
    if ((rv = nng_http_server_start(m->http)) != 0)
        goto fail;
    m->http_started = 1;
    return CRM_OK;
fail:
    crm_metrics_http_stop(m);
    return crm_error_set(why, CRM_ERR_UNAVAILABLE, "metrics on %s: %s", url,
                         nng_strerror(rv));
}

void
crm_metrics_http_stop(crm_metrics *m)
{
    if (m->http) {
        if (m->http_started)
            nng_http_server_stop(m->http);
        nng_http_server_release(m->http);
        m->http = NULL;
        m->http_started = 0;
    }
    if (m->url) {
        nng_url_free(m->url);
        m->url = NULL;
    }
}

void
crm_metrics_set_healthy(crm_metrics *m, int healthy)
{
    atomic_store(&m->healthy, healthy);
}
