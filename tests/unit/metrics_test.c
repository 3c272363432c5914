/* metrics_test.c - request counters and latency histograms, tenant
 * figures from a real store, the msgpack form scoped to a tenant, and the
 * HTTP endpoint (/metrics, /healthz) fetched over a plain socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fixture.h"
#include "log.h"
#include "metrics.h"
#include "mpcheck.h"
#include "rpc.h"
#include "store.h"

typedef struct ctx {
    char dir[512];
    crm_store *store;
    crm_metrics *m;
} ctx;

/* Appends one batch of n spend events to stream; returns the batch's
 * first event so that it can be sent again. */
static void
append_spend(crm_log *log, const char *stream, int n, crm_event_in *ev_out)
{
    crm_event_in ev[16];
    crm_batch *b;
    crm_error why;
    assert_true(n <= 16);
    for (int i = 0; i < n; i++)
        fx_event(&ev[i], stream, "spend.recorded",
                 FX_BODY(FX_I("amount", 100 + i), FX_S("currency", "EUR"),
                         FX_S("category", "room")));
    if (ev_out) memcpy(ev_out, ev, sizeof(ev[0]) * (size_t)n);
    assert_int_equal(
        crm_batch_prepare(ev, (size_t)n, NULL, 0, "key-1", 5, &b, &why),
        CRM_OK);
    if (crm_log_append(log, b, &why) != CRM_OK) fail_msg("append: %s", why.msg);
    crm_batch_free(b);
}

static crm_log *
tenant(ctx *c, const char *id)
{
    crm_log *log;
    crm_error why;
    if (crm_store_tenant_create(c->store, id, &why) != CRM_OK)
        fail_msg("tenant %s: %s", id, why.msg);
    assert_int_equal(crm_store_tenant_log(c->store, id, &log, &why), CRM_OK);
    return log;
}

static int
setup(void **state)
{
    static ctx c;
    crm_error why;
    memset(&c, 0, sizeof(c));
    fx_tmpdir(c.dir, sizeof(c.dir), "metrics");
    if (crm_store_open(c.dir, NULL, &c.store, &why) != CRM_OK) {
        fprintf(stderr, "open: %s\n", why.msg);
        return -1;
    }
    c.m = crm_metrics_new(c.store);
    if (c.m == NULL) return -1;
    *state = &c;
    return 0;
}

static int
teardown(void **state)
{
    ctx *c = *state;
    crm_metrics_free(c->m);
    crm_store_close(c->store);
    fx_rmrf(c->dir);
    fx_reset();
    return 0;
}

/* --- reading the exposition ---------------------------------------------- */

static char *
render(crm_metrics *m)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    crm_metrics_render(m, &sb);
    char *s = malloc(sb.size + 1);
    assert_non_null(s);
    memcpy(s, sb.data, sb.size);
    s[sb.size] = '\0';
    msgpack_sbuffer_destroy(&sb);
    return s;
}

/* The value of the sample whose "name{labels}" is series, or -1. */
static double
sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static int
has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

static void
expect_line(const char *text, const char *line)
{
    if (!has_line(text, line)) fail_msg("no line '%s' in:\n%s", line, text);
}

static void
expect_sample(const char *text, const char *series, double want)
{
    double v = sample(text, series);
    if (v != want) fail_msg("%s is %g, want %g", series, v, want);
}

/* The text as a whole is valid exposition format: every sample line is
 * "name{labels} value", its family has a TYPE line before it, no series
 * appears twice and no family is declared twice. */
static void
check_exposition(const char *text)
{
    char *copy = strdup(text), *save = NULL;
    char *types[64], *series[512];
    size_t ntypes = 0, nseries = 0;
    assert_non_null(copy);
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    for (char *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char *name = line + 7, *sp = strchr(name, ' ');
            assert_non_null(sp);
            *sp = '\0';
            for (size_t i = 0; i < ntypes; i++)
                if (strcmp(types[i], name) == 0)
                    fail_msg("TYPE %s declared twice", name);
            assert_true(ntypes < 64);
            types[ntypes++] = name;
            continue;
        }
        if (line[0] == '#') {
            assert_true(strncmp(line, "# HELP ", 7) == 0);
            continue;
        }
        char *sp = strrchr(line, ' ');
        assert_non_null(sp);
        char *end;
        strtod(sp + 1, &end);
        if (*end != '\0') fail_msg("bad value in '%s'", line);
        *sp = '\0';
        for (size_t i = 0; i < nseries; i++)
            if (strcmp(series[i], line) == 0) fail_msg("series %s twice", line);
        assert_true(nseries < 512);
        series[nseries++] = line;
        /* family: the name without labels and histogram suffixes */
        char fam[128];
        size_t n = strcspn(line, "{");
        assert_true(n < sizeof(fam));
        memcpy(fam, line, n);
        fam[n] = '\0';
        static const char *const suffix[] = {"_bucket", "_sum", "_count"};
        int found = 0;
        for (size_t i = 0; i < ntypes && !found; i++) {
            if (strcmp(types[i], fam) == 0) found = 1;
            for (size_t k = 0; k < 3 && !found; k++) {
                size_t tl = strlen(types[i]);
                found = strncmp(fam, types[i], tl) == 0 &&
                        strcmp(fam + tl, suffix[k]) == 0;
            }
        }
        if (!found) fail_msg("sample %s has no TYPE before it", line);
    }
    free(copy);
}

typedef struct bucket {
    char le[32];
    double count;
} bucket;

/* The buckets of one histogram series set, in the order printed. prefix
 * is e.g. crmd_request_seconds_bucket{op="ping",le=" */
static size_t
buckets(const char *text, const char *prefix, bucket *out, size_t max)
{
    size_t n = 0, pl = strlen(prefix);
    for (const char *p = text; p && *p;
         p = strchr(p, '\n'), p = p ? p + 1 : p) {
        if (strncmp(p, prefix, pl) != 0) continue;
        const char *q = strchr(p + pl, '"');
        assert_non_null(q);
        assert_true(n < max);
        size_t l = (size_t)(q - (p + pl));
        assert_true(l < sizeof(out[n].le));
        memcpy(out[n].le, p + pl, l);
        out[n].le[l] = '\0';
        assert_true(q[1] == '}' && q[2] == ' ');
        out[n].count = strtod(q + 3, NULL);
        n++;
    }
    return n;
}

/* Buckets are cumulative, their bounds increase, the last is +Inf and
 * equals _count. Returns the number of buckets. */
static size_t
check_histogram(const char *text, const char *name, const char *labels,
                bucket *b, size_t max)
{
    char prefix[256], series[256];
    snprintf(prefix, sizeof(prefix), "%s_bucket{%s,le=\"", name, labels);
    size_t n = buckets(text, prefix, b, max);
    if (n < 2) fail_msg("no buckets for %s{%s}", name, labels);
    for (size_t i = 0; i + 1 < n; i++) {
        assert_true(b[i].count <= b[i + 1].count);
        if (i + 2 < n)
            assert_true(strtod(b[i].le, NULL) < strtod(b[i + 1].le, NULL));
    }
    assert_string_equal(b[n - 1].le, "+Inf");
    snprintf(series, sizeof(series), "%s_count{%s}", name, labels);
    expect_sample(text, series, b[n - 1].count);
    snprintf(series, sizeof(series), "%s_sum{%s}", name, labels);
    assert_true(sample(text, series) >= 0);
    return n;
}

static double
bucket_at(const bucket *b, size_t n, const char *le)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(b[i].le, le) == 0) return b[i].count;
    fail_msg("no bucket le=%s", le);
    return -1;
}

/* --- tests ---------------------------------------------------------------- */

static void
test_requests_counted(void **state)
{
    ctx *c = *state;
    bucket b[32];

    crm_metrics_request(c->m, CRM_OP_PING, CRM_OK, 10);
    crm_metrics_request(c->m, CRM_OP_PING, CRM_OK, 50); /* le is inclusive */
    crm_metrics_request(c->m, CRM_OP_PING, CRM_OK, 60);
    crm_metrics_request(c->m, CRM_OP_PING, CRM_OK, 2000000);
    crm_metrics_request(c->m, CRM_OP_APPEND, CRM_OK, 300);
    crm_metrics_request(c->m, CRM_OP_APPEND, CRM_OK, 700);
    crm_metrics_request(c->m, CRM_OP_APPEND, CRM_ERR_CONFLICT, 4000);
    crm_metrics_request(c->m, CRM_OP__COUNT, CRM_ERR_BAD_REQUEST, 5);
    crm_metrics_request(c->m, CRM_OP_READ_ALL, (crm_err)200, 5); /* bogus */

    char *t = render(c->m);
    check_exposition(t);
    expect_line(t, "# HELP crmd_requests_total RPC requests by op and "
                   "outcome.");
    expect_line(t, "# TYPE crmd_requests_total counter");
    expect_line(t, "# TYPE crmd_request_seconds histogram");
    assert_non_null(strstr(t, "# HELP crmd_request_seconds "));
    expect_line(t, "crmd_requests_total{op=\"ping\",outcome=\"ok\"} 4");
    expect_line(t, "crmd_requests_total{op=\"append\",outcome=\"ok\"} 2");
    expect_line(t, "crmd_requests_total{op=\"append\",outcome=\"conflict\"} 1");
    expect_line(
        t, "crmd_requests_total{op=\"invalid\",outcome=\"bad_request\"} 1");
    /* an outcome outside the table is counted, as internal */
    expect_line(t,
                "crmd_requests_total{op=\"read.all\",outcome=\"internal\"} 1");
    /* nothing for what did not happen */
    assert_null(strstr(t, "op=\"ping\",outcome=\"conflict\""));
    assert_null(strstr(t, "op=\"metrics\""));

    size_t n = check_histogram(t, "crmd_request_seconds", "op=\"ping\"", b, 32);
    assert_true(n >= 10);
    assert_int_equal(bucket_at(b, n, "5e-05"), 2);
    assert_int_equal(bucket_at(b, n, "0.0001"), 3);
    assert_int_equal(bucket_at(b, n, "1"), 3);
    assert_int_equal(bucket_at(b, n, "+Inf"), 4);
    expect_sample(t, "crmd_request_seconds_count{op=\"ping\"}", 4);
    double sum = sample(t, "crmd_request_seconds_sum{op=\"ping\"}");
    assert_true(sum > 2.000119 && sum < 2.000121);

    n = check_histogram(t, "crmd_request_seconds", "op=\"append\"", b, 32);
    assert_int_equal(bucket_at(b, n, "0.00025"), 0);
    assert_int_equal(bucket_at(b, n, "0.0005"), 1);
    assert_int_equal(bucket_at(b, n, "0.001"), 2);
    assert_int_equal(bucket_at(b, n, "0.0025"), 2);
    assert_int_equal(bucket_at(b, n, "0.005"), 3);
    assert_int_equal(bucket_at(b, n, "+Inf"), 3);
    /* all ops' buckets have the same bounds */
    bucket b2[32];
    size_t n2 =
        check_histogram(t, "crmd_request_seconds", "op=\"invalid\"", b2, 32);
    assert_int_equal(n2, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(b2[i].le, b[i].le);
    assert_int_equal(b2[0].count, 1);
    /* ops without requests have no histogram */
    assert_null(strstr(t, "crmd_request_seconds_bucket{op=\"tenant.create\""));
    expect_line(t, "# TYPE crmd_uptime_seconds gauge");
    assert_true(sample(t, "crmd_uptime_seconds") >= 0);
    free(t);

    /* counters only grow */
    for (int i = 0; i < 1000; i++)
        crm_metrics_request(c->m, CRM_OP_PING, CRM_OK, i);
    t = render(c->m);
    expect_line(t, "crmd_requests_total{op=\"ping\",outcome=\"ok\"} 1004");
    n = check_histogram(t, "crmd_request_seconds", "op=\"ping\"", b, 32);
    assert_int_equal(bucket_at(b, n, "+Inf"), 1004);
    free(t);
}

static void
test_empty(void **state)
{
    ctx *c = *state;
    char *t = render(c->m);
    check_exposition(t);
    expect_line(t, "# TYPE crmd_requests_total counter");
    assert_null(strstr(t, "crmd_requests_total{"));
    assert_null(strstr(t, "crmd_request_seconds_bucket{"));
    assert_null(strstr(t, "tenant=\""));
    free(t);
}

static void
test_tenant_figures(void **state)
{
    ctx *c = *state;
    bucket b[32];
    crm_log *acme = tenant(c, "acme-hotels");
    crm_log *blue = tenant(c, "blue-charters");

    append_spend(acme, "guest-1", 1, NULL);
    append_spend(acme, "guest-2", 3, NULL);
    append_spend(acme, "guest-1", 1, NULL);
    append_spend(blue, "pax-1", 2, NULL);

    char *t = render(c->m);
    check_exposition(t);
    expect_line(t, "# TYPE crmd_tenant_position gauge");
    expect_line(t, "# TYPE crmd_tenant_commits_total counter");
    expect_line(t, "# TYPE crmd_tenant_events_total counter");
    expect_line(t, "# TYPE crmd_tenant_map_size_bytes gauge");
    expect_line(t, "# TYPE crmd_commit_events histogram");
    expect_sample(t, "crmd_tenant_position{tenant=\"acme-hotels\"}", 5);
    expect_sample(t, "crmd_tenant_position{tenant=\"blue-charters\"}", 2);
    expect_sample(t, "crmd_tenant_events_total{tenant=\"acme-hotels\"}", 5);
    expect_sample(t, "crmd_tenant_events_total{tenant=\"blue-charters\"}", 2);
    expect_sample(t, "crmd_tenant_commits_total{tenant=\"acme-hotels\"}", 3);
    expect_sample(t, "crmd_tenant_commits_total{tenant=\"blue-charters\"}", 1);
    expect_sample(t, "crmd_tenant_duplicates_total{tenant=\"acme-hotels\"}", 0);
    expect_sample(t, "crmd_tenant_conflicts_total{tenant=\"acme-hotels\"}", 0);
    assert_true(
        sample(t, "crmd_tenant_map_size_bytes{tenant=\"acme-hotels\"}") > 0);
    assert_true(
        sample(t, "crmd_tenant_map_used_bytes{tenant=\"acme-hotels\"}") > 0);
    assert_true(
        sample(t, "crmd_tenant_map_used_bytes{tenant=\"acme-hotels\"}") <=
        sample(t, "crmd_tenant_map_size_bytes{tenant=\"acme-hotels\"}"));

    /* commits by size: two of one event, one of three */
    size_t n = check_histogram(t, "crmd_commit_events",
                               "tenant=\"acme-hotels\"", b, 32);
    assert_int_equal(bucket_at(b, n, "1"), 2);
    assert_int_equal(bucket_at(b, n, "2"), 2);
    assert_int_equal(bucket_at(b, n, "4"), 3);
    assert_int_equal(bucket_at(b, n, "+Inf"), 3);
    expect_sample(t, "crmd_commit_events_sum{tenant=\"acme-hotels\"}", 5);
    expect_sample(t, "crmd_commit_events_count{tenant=\"acme-hotels\"}", 3);
    n = check_histogram(t, "crmd_commit_events", "tenant=\"blue-charters\"", b,
                        32);
    assert_int_equal(bucket_at(b, n, "1"), 0);
    assert_int_equal(bucket_at(b, n, "2"), 1);
    free(t);

    /* a conflict counts */
    crm_event_in ev;
    crm_batch *batch;
    crm_error why;
    /* guest-1 is at version 1 */
    crm_expect exp = {.stream = "guest-1", .stream_len = 7, .version = 0};
    fx_event(&ev, "guest-1", "spend.recorded",
             FX_BODY(FX_I("amount", 1), FX_S("currency", "EUR"),
                     FX_S("category", "room")));
    assert_int_equal(
        crm_batch_prepare(&ev, 1, &exp, 1, "key-1", 5, &batch, &why), CRM_OK);
    assert_int_equal(crm_log_append(acme, batch, &why), CRM_ERR_CONFLICT);
    crm_batch_free(batch);
    t = render(c->m);
    expect_sample(t, "crmd_tenant_conflicts_total{tenant=\"acme-hotels\"}", 1);
    expect_sample(t, "crmd_tenant_position{tenant=\"acme-hotels\"}", 5);
    free(t);
}

static void
test_commit_histogram_with_duplicates(void **state)
{
    ctx *c = *state;
    bucket b[32];
    crm_event_in ev[3];
    crm_batch *batch;
    crm_error why;
    crm_log *log = tenant(c, "acme-hotels");

    /* a batch of three, then the same batch again (an idempotent retry:
     * a commit that adds nothing) */
    append_spend(log, "guest-1", 3, ev);
    assert_int_equal(
        crm_batch_prepare(ev, 3, NULL, 0, "key-1", 5, &batch, &why), CRM_OK);
    assert_int_equal(crm_log_append(log, batch, &why), CRM_OK);
    assert_true(crm_batch_is_duplicate(batch, 0));
    crm_batch_free(batch);

    char *t = render(c->m);
    expect_sample(t, "crmd_tenant_events_total{tenant=\"acme-hotels\"}", 3);
    expect_sample(t, "crmd_tenant_duplicates_total{tenant=\"acme-hotels\"}", 3);
    size_t n = check_histogram(t, "crmd_commit_events",
                               "tenant=\"acme-hotels\"", b, 32);
    /* the sum must be of the same observations the buckets count: no
     * observation exceeds its bucket's bound, so the sum is at most
     * sum(bound * commits in that bucket) */
    double most = 0, below = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        most += strtod(b[i].le, NULL) * (b[i].count - below);
        below = b[i].count;
    }
    assert_int_equal(b[n - 1].count, below); /* nothing above 1024 */
    double sum = sample(t, "crmd_commit_events_sum{tenant=\"acme-hotels\"}");
    free(t);
    if (sum > most)
        fail_msg("crmd_commit_events_sum is %g but the buckets (le=1: %g, "
                 "le=4: %g, cumulative) allow at most %g",
                 sum, bucket_at(b, n, "1"), bucket_at(b, n, "4"), most);
}

/* Unpacks crm_metrics_pack output. */
static const msgpack_object *
pack(crm_metrics *m, const char *tenant_id)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(crm_metrics_pack(m, &pk, tenant_id), 0);
    assert_int_equal(crm_mpcheck(sb.data, sb.size, CRM_RPC_MAX_DEPTH, NULL),
                     CRM_OK);
    const msgpack_object *o = fx_unpack(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return o;
}

static int64_t
get_int(const msgpack_object *m, const char *k)
{
    int64_t v;
    if (crm_mp_int(crm_mp_get(m, k), 0, INT64_MAX, &v) != 0)
        fail_msg("no integer '%s'", k);
    return v;
}

static void
test_pack_scoped(void **state)
{
    ctx *c = *state;
    crm_log *acme = tenant(c, "acme-hotels");
    crm_log *blue = tenant(c, "blue-charters");
    append_spend(acme, "guest-1", 4, NULL);
    append_spend(blue, "pax-1", 1, NULL);
    append_spend(blue, "pax-1", 1, NULL);
    crm_metrics_request(c->m, CRM_OP_PING, CRM_OK, 5);
    crm_metrics_request(c->m, CRM_OP_PING, CRM_OK, 5);
    crm_metrics_request(c->m, CRM_OP_APPEND, CRM_OK, 5);
    crm_metrics_request(c->m, CRM_OP_APPEND, CRM_ERR_FORBIDDEN, 5);
    crm_metrics_request(c->m, CRM_OP__COUNT, CRM_ERR_BAD_VERSION, 5);

    /* everything */
    const msgpack_object *o = pack(c->m, NULL);
    assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
    assert_true(get_int(o, "uptime_s") >= 0);
    const msgpack_object *req = crm_mp_get(o, "requests");
    assert_non_null(req);
    assert_int_equal(req->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(req->via.map.size, 3);
    assert_int_equal(get_int(crm_mp_get(req, "ping"), "ok"), 2);
    assert_int_equal(get_int(crm_mp_get(req, "ping"), "error"), 0);
    assert_int_equal(get_int(crm_mp_get(req, "append"), "ok"), 1);
    assert_int_equal(get_int(crm_mp_get(req, "append"), "error"), 1);
    assert_int_equal(get_int(crm_mp_get(req, "invalid"), "error"), 1);
    const msgpack_object *ten = crm_mp_get(o, "tenants");
    assert_non_null(ten);
    assert_int_equal(ten->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(ten->via.map.size, 2);
    const msgpack_object *a = crm_mp_get(ten, "acme-hotels");
    const msgpack_object *bl = crm_mp_get(ten, "blue-charters");
    assert_non_null(a);
    assert_non_null(bl);
    assert_int_equal(get_int(a, "position"), 4);
    assert_int_equal(get_int(a, "events"), 4);
    assert_int_equal(get_int(a, "commits"), 1);
    assert_int_equal(get_int(a, "conflicts"), 0);
    assert_true(get_int(a, "map_size") > 0);
    assert_true(get_int(a, "map_used") > 0);
    assert_int_equal(get_int(bl, "position"), 2);
    assert_int_equal(get_int(bl, "commits"), 2);

    /* one tenant: only it */
    o = pack(c->m, "blue-charters");
    ten = crm_mp_get(o, "tenants");
    assert_int_equal(ten->via.map.size, 1);
    assert_null(crm_mp_get(ten, "acme-hotels"));
    bl = crm_mp_get(ten, "blue-charters");
    assert_non_null(bl);
    assert_int_equal(get_int(bl, "position"), 2);
    assert_int_equal(get_int(bl, "events"), 2);
    o = pack(c->m, "acme-hotels");
    ten = crm_mp_get(o, "tenants");
    assert_int_equal(ten->via.map.size, 1);
    assert_null(crm_mp_get(ten, "blue-charters"));
    assert_int_equal(get_int(crm_mp_get(ten, "acme-hotels"), "position"), 4);
    /* a prefix of a tenant id is not that tenant */
    o = pack(c->m, "acme");
    assert_int_equal(crm_mp_get(o, "tenants")->via.map.size, 0);
    o = pack(c->m, "nobody");
    assert_int_equal(crm_mp_get(o, "tenants")->via.map.size, 0);
}

/* --- HTTP ----------------------------------------------------------------- */

static int
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

typedef struct response {
    int status; /* -1: could not connect */
    char *body;
    size_t body_len;
} response;

/* GET path over HTTP/1.1; reads the headers, then Content-Length bytes
 * (or to EOF without one). */
static response
get(int port, const char *path)
{
    response r = {-1, NULL, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    struct timeval tv = {5, 0};
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return r;
    }
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Connection: close\r\n\r\n",
                     path, port);
    assert_int_equal(write(fd, req, (size_t)n), n);

    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    char *body = NULL;
    long want = -1;
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got <= 0) break;
        len += (size_t)got;
        buf[len] = '\0';
        if (body == NULL && (body = strstr(buf, "\r\n\r\n")) != NULL) {
            body += 4;
            char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (cl && cl < body) want = strtol(cl + 17, NULL, 10);
        }
        if (body && want >= 0 && (long)(len - (size_t)(body - buf)) >= want)
            break;
    }
    close(fd);
    buf[len] = '\0';
    assert_true(len > 12);
    assert_true(strncmp(buf, "HTTP/1.", 7) == 0);
    r.status = atoi(buf + 9);
    assert_non_null(body);
    r.body_len = len - (size_t)(body - buf);
    if (want >= 0) assert_int_equal(r.body_len, want);
    r.body = malloc(r.body_len + 1);
    memcpy(r.body, body, r.body_len);
    r.body[r.body_len] = '\0';
    free(buf);
    return r;
}

/* The exposition without the uptime sample, which may tick between two
 * renderings. */
static void
drop_uptime(char *t)
{
    char *p = strstr(t, "\ncrmd_uptime_seconds ");
    assert_non_null(p);
    char *e = strchr(p + 1, '\n');
    assert_non_null(e);
    memmove(p, e, strlen(e) + 1);
}

static void
test_http(void **state)
{
    ctx *c = *state;
    crm_error why;
    char url[64];
    int port = free_port();

    crm_log *log = tenant(c, "acme-hotels");
    append_spend(log, "guest-1", 2, NULL);
    crm_metrics_request(c->m, CRM_OP_PING, CRM_OK, 42);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    if (crm_metrics_http_start(c->m, url, &why) != CRM_OK)
        fail_msg("start on %s: %s", url, why.msg);

    response r = get(port, "/metrics");
    assert_int_equal(r.status, 200);
    char *t = render(c->m);
    drop_uptime(t);
    drop_uptime(r.body);
    assert_string_equal(r.body, t);
    expect_line(r.body, "crmd_requests_total{op=\"ping\",outcome=\"ok\"} 1");
    expect_sample(r.body, "crmd_tenant_position{tenant=\"acme-hotels\"}", 2);
    free(t);
    free(r.body);

    r = get(port, "/healthz");
    assert_int_equal(r.status, 200);
    free(r.body);
    crm_metrics_set_healthy(c->m, 0);
    r = get(port, "/healthz");
    assert_int_equal(r.status, 503);
    free(r.body);
    /* /metrics still answers while draining */
    r = get(port, "/metrics");
    assert_int_equal(r.status, 200);
    free(r.body);
    crm_metrics_set_healthy(c->m, 1);
    r = get(port, "/healthz");
    assert_int_equal(r.status, 200);
    free(r.body);

    r = get(port, "/nothing-here");
    assert_int_equal(r.status, 404);
    free(r.body);

    crm_metrics_http_stop(c->m);
    r = get(port, "/healthz");
    assert_int_equal(r.status, -1);
    /* stop twice is harmless, and it can start again */
    crm_metrics_http_stop(c->m);
    port = free_port();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    assert_int_equal(crm_metrics_http_start(c->m, url, &why), CRM_OK);
    r = get(port, "/healthz");
    assert_int_equal(r.status, 200);
    free(r.body);
    /* teardown frees it while serving */
}

static void
test_http_bad_address(void **state)
{
    ctx *c = *state;
    crm_error why;

    memset(&why, 0, sizeof(why));
    assert_int_equal(crm_metrics_http_start(c->m, "not a url", &why),
                     CRM_ERR_BAD_REQUEST);
    assert_true(why.msg[0] != '\0');

    /* a port another socket holds */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
    memset(&why, 0, sizeof(why));
    assert_int_not_equal(crm_metrics_http_start(c->m, url, &why), CRM_OK);
    assert_true(why.msg[0] != '\0');
    close(fd);
    /* after a failed start the object is usable */
    int port = free_port();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    assert_int_equal(crm_metrics_http_start(c->m, url, &why), CRM_OK);
    response r = get(port, "/healthz");
    assert_int_equal(r.status, 200);
    free(r.body);
}

static void
test_http_second_on_same_port(void **state)
{
    ctx *c = *state;
    crm_error why;
    char url[64];
    int port = free_port();

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    assert_int_equal(crm_metrics_http_start(c->m, url, &why), CRM_OK);
    /* a second metrics object asking for the same address fails, and its
     * failure must not take the first one's server down */
    crm_metrics *other = crm_metrics_new(c->store);
    assert_non_null(other);
    crm_err err = crm_metrics_http_start(other, url, &why);
    crm_metrics_free(other);
    if (err == CRM_OK) fail_msg("a second server started on %s", url);
    response r = get(port, "/healthz");
    if (r.status != 200)
        fail_msg("first server answers %d (-1: refused) after a second start "
                 "on %s failed with: %s",
                 r.status, url, why.msg);
    free(r.body);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_requests_counted), T(test_empty),
        T(test_tenant_figures),   T(test_commit_histogram_with_duplicates),
        T(test_pack_scoped),      T(test_http),
        T(test_http_bad_address), T(test_http_second_on_same_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
