/* log_prop_test.c - property test of the event log.
 *
 * Thousands of random batches over 200 streams: fresh events of known and
 * extension types, expected versions (any, no_stream, exists, exact; right
 * and wrong), idempotent retries (whole, partial, mixed with new events),
 * reused ids with other content, and refused batches sent again with the
 * expectation dropped. A model predicts every outcome before the batch is
 * submitted and checks it when the batch completes.
 *
 * Phase 1 submits from one thread, so every position is known in advance.
 * Phase 2 runs four threads on disjoint stream sets, two of them keeping
 * several batches in flight with crm_log_submit, so groups mix batches of
 * different threads, and a batch and its retry (or a changed copy) can
 * share one write transaction; a fifth thread reads and verifies while
 * the map grows. Then the log is reopened and compared with the model
 * record by record (ids, versions, stream links, canonical content),
 * stream by stream, and through the idempotency index.
 *
 * The seed is printed; CRM_PROP_SEED=<n> replays a run. In phase 2 the
 * interleaving of threads varies between runs, each thread's own sequence
 * of batches does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixture.h"
#include "log.h"
#include "record.h"
#include "uuid.h"

#define NSTREAMS 200
#define NTHREADS 4
#define PHASE1_BATCHES 1500
#define PHASE2_BATCHES 1500 /* over all threads */
#define FRESH_MAX 20        /* new events in one batch */
#define EV_MAX (2 * FRESH_MAX) /* any batch, retries included */
#define WINDOW 4            /* batches in flight per pipelining thread */
#define TENANT "prop-hotels"
#define ACTOR "prop-key"
#define TIME_BASE INT64_C(1700000000000000) /* Nov 2023, µs */

static uint64_t seed;

static void fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* Worker threads cannot use cmocka's asserts (they longjmp into the main
 * thread's test), so a broken property aborts the process, naming the
 * seed. */
static void
fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: property failed (CRM_PROP_SEED=%" PRIu64 "): ",
            file, line, seed);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond))                                                           \
            fail_at(__FILE__, __LINE__, __VA_ARGS__);                          \
    } while (0)

/* --- randomness ----------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t
rnd(rng *r) /* splitmix64 */
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t
below(rng *r, uint64_t n)
{
    return rnd(r) % n;
}

static int
chance(rng *r, unsigned pct)
{
    return below(r, 100) < pct;
}

/* --- the model ------------------------------------------------------------ */

/* One stream as the model sees it. In phase 2 only the owning thread
 * (index % NTHREADS) touches it. */
typedef struct stream_model {
    char id[CRM_STREAM_MAX + 1];
    size_t len;
    int64_t last;  /* version of the last event once queued batches land */
    uint64_t *pos; /* position of each version, learned on completion */
    size_t npos, cap;
} stream_model;

static stream_model streams[NSTREAMS];

/* Event kinds; each body is injective in the event's seed, so a changed
 * seed always changes the content. */
enum { K_REGISTERED, K_SPEND, K_POINTS, K_COMPLAINT, K_SPA, K_NOTE, NKINDS };
static const char *const kind_type[NKINDS] = {
    "customer.registered", "spend.recorded", "loyalty.points_earned",
    "complaint.opened",    "x.spa.visit",    "x.ops.note",
};
#define SEED_MAX 99999999u

typedef struct evspec {
    uint8_t id[CRM_ID_LEN];
    uint32_t seed;
    uint16_t stream;
    uint8_t kind;
    int64_t occurred_at;
} evspec;

typedef struct xspec {
    uint16_t stream;
    int64_t version;
} xspec;

/* An acknowledged batch with at least one new event, kept for retries and
 * for the final comparison. Immutable once published. */
typedef struct hbatch {
    size_t n, nx;
    evspec *ev;
    xspec *x;
    uint64_t *pos, *ver;
} hbatch;

static pthread_mutex_t hist_mu = PTHREAD_MUTEX_INITIALIZER;
static hbatch **hist;
static size_t nhist, caphist;

typedef enum op {
    OP_FRESH,   /* new events, random expectations */
    OP_RESEND,  /* a refused batch again, expectations dropped */
    OP_RETRY,   /* an acknowledged batch again */
    OP_PARTIAL, /* some events of an acknowledged batch again */
    OP_MIXED,   /* old events and new ones together */
    OP_CHANGED, /* an old id with other content: refused */
    OP_ECHO,    /* the batch still in flight again: may share its group */
    OP_ECHO_CHANGED, /* the same, one event changed: refused */
    NOPS
} op;
static const char *const op_name[NOPS] = {
    "fresh", "resend", "retry", "partial", "mixed", "changed", "echo",
    "echo-chg"};

/* A batch on its way: what it holds, what the model expects of it, and
 * the completion signal of crm_log_submit. */
typedef struct pbatch {
    op op;
    size_t n, nx;
    evspec ev[EV_MAX];
    xspec x[EV_MAX];
    uint8_t dup[EV_MAX];
    uint64_t want_pos[EV_MAX]; /* dup: the first answer; new: exact mode */
    uint64_t want_ver[EV_MAX];
    crm_err want;
    struct pbatch *echo; /* in flight after this one, answered by it */
    crm_batch *b;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} pbatch;

typedef struct worker {
    crm_log *log;
    rng r;
    int id, nthreads;
    size_t nbatches;
    size_t window;     /* 1: crm_log_append; more: pipelined submits */
    int exact;         /* the only submitter: positions known ahead */
    uint64_t next_pos; /* exact mode: head once queued batches land */
    msgpack_sbuffer bodies;
    msgpack_zone *zone;
    pbatch *slots;
    evspec refused[EV_MAX]; /* the last refused fresh batch */
    size_t nrefused;
    uint64_t batches, events, dups, conflicts, ops[NOPS];
} worker;

static void
streams_init(void)
{
    for (int i = 0; i < NSTREAMS; i++) {
        stream_model *s = &streams[i];
        /* lengths 8..64 cover the fixstr/str8 boundary at 32; some ids
         * are not ASCII */
        size_t want = 8 + (size_t)(i * 13) % 57;
        int n = i % 17 == 0
                    ? snprintf(s->id, sizeof(s->id), "g\xc3\xa4st-%03d", i)
                    : snprintf(s->id, sizeof(s->id), "guest-%03d-", i);
        size_t len = (size_t)n;
        for (; len < want; len++)
            s->id[len] = (char)('a' + (i + len) % 26);
        s->id[len] = '\0';
        s->len = len;
        s->last = -1;
        free(s->pos);
        s->pos = NULL;
        s->npos = s->cap = 0;
    }
}

static void
stream_push(stream_model *s, uint64_t pos)
{
    if (s->npos == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->pos = realloc(s->pos, s->cap * sizeof(*s->pos));
        CHECK(s->pos != NULL, "out of memory");
    }
    s->pos[s->npos++] = pos;
}

static void
hist_add(const pbatch *pb, const uint64_t *pos, const uint64_t *ver)
{
    hbatch *h = calloc(1, sizeof(*h));
    CHECK(h != NULL, "out of memory");
    h->n = pb->n;
    h->nx = pb->nx;
    h->ev = malloc(pb->n * sizeof(*h->ev));
    h->x = malloc((pb->nx ? pb->nx : 1) * sizeof(*h->x));
    h->pos = malloc(pb->n * sizeof(*h->pos));
    h->ver = malloc(pb->n * sizeof(*h->ver));
    CHECK(h->ev && h->x && h->pos && h->ver, "out of memory");
    memcpy(h->ev, pb->ev, pb->n * sizeof(*h->ev));
    memcpy(h->x, pb->x, pb->nx * sizeof(*h->x));
    memcpy(h->pos, pos, pb->n * sizeof(*h->pos));
    memcpy(h->ver, ver, pb->n * sizeof(*h->ver));
    pthread_mutex_lock(&hist_mu);
    if (nhist == caphist) {
        caphist = caphist ? 2 * caphist : 256;
        hist = realloc(hist, caphist * sizeof(*hist));
        CHECK(hist != NULL, "out of memory");
    }
    hist[nhist++] = h;
    pthread_mutex_unlock(&hist_mu);
}

static const hbatch *
hist_pick(rng *r)
{
    const hbatch *h = NULL;
    pthread_mutex_lock(&hist_mu);
    if (nhist)
        h = hist[below(r, nhist)];
    pthread_mutex_unlock(&hist_mu);
    return h;
}

static void
hist_free(void)
{
    for (size_t i = 0; i < nhist; i++) {
        free(hist[i]->ev);
        free(hist[i]->x);
        free(hist[i]->pos);
        free(hist[i]->ver);
        free(hist[i]);
    }
    free(hist);
    hist = NULL;
    nhist = caphist = 0;
}

/* --- bodies --------------------------------------------------------------- */

static void
pack_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void
pack_kv(msgpack_packer *pk, const char *k, const char *v)
{
    pack_s(pk, k);
    pack_s(pk, v);
}

/* The body of an event of this kind and seed. Keys are deliberately not in
 * schema or sorted order: canonical encoding must fix that. */
static void
pack_body(msgpack_packer *pk, int kind, uint32_t s)
{
    static const char *const first[] = {
        "Ada", "Bo", "Chidi", "D\xc3\xb6rte", "Emil", "Farah", "Gu", "Hana"};
    static const char *const cur[] = {"EUR", "USD", "GBP"};
    static const char *const cat[] = {"room",     "fnb",       "spa",
                                      "retail",   "excursion", "flight",
                                      "transfer", "other"};
    static const char *const sev[] = {"low", "medium", "high", "critical"};
    char a[96];

    switch (kind) {
    case K_REGISTERED:
        msgpack_pack_map(pk, 4 + (s & 1));
        snprintf(a, sizeof(a), "guest%u@example.com", s);
        pack_kv(pk, "email", a);
        pack_kv(pk, "language", s & 2 ? "de" : "en");
        pack_kv(pk, "last_name", "Okafor");
        pack_kv(pk, "first_name", first[s % 8]);
        if (s & 1) {
            snprintf(a, sizeof(a), "+44%09u", s % 1000000000u);
            pack_kv(pk, "phone", a);
        }
        break;
    case K_SPEND:
        msgpack_pack_map(pk, 3 + ((s >> 1) & 1));
        pack_kv(pk, "currency", cur[s % 3]);
        pack_s(pk, "amount");
        msgpack_pack_int64(pk, (int64_t)s - 50000000);
        pack_kv(pk, "category", cat[s % 8]);
        if (s & 2) {
            snprintf(a, sizeof(a), "prop-%u", s % 7);
            pack_kv(pk, "property", a);
        }
        break;
    case K_POINTS:
        msgpack_pack_map(pk, 1 + (s & 1) + ((s >> 1) & 1));
        if (s & 1) {
            snprintf(a, sizeof(a), "2027-%02u-%02u", 1 + s % 12, 1 + s % 28);
            pack_kv(pk, "expires_on", a);
        }
        pack_s(pk, "points");
        msgpack_pack_int64(pk, (int64_t)s + 1);
        if (s & 2)
            pack_kv(pk, "reason", "stay");
        break;
    case K_COMPLAINT:
        msgpack_pack_map(pk, 3 + (s & 1));
        snprintf(a, sizeof(a), "The heating in room %u did not work.", s % 900);
        pack_kv(pk, "description", a);
        pack_kv(pk, "category", "comfort");
        snprintf(a, sizeof(a), "c-%u", s);
        pack_kv(pk, "complaint_id", a);
        if (s & 1)
            pack_kv(pk, "severity", sev[s % 4]);
        break;
    case K_SPA:
        msgpack_pack_map(pk, 4 + (s & 1));
        pack_s(pk, "seq");
        msgpack_pack_uint32(pk, s);
        snprintf(a, sizeof(a), "r%u", s % 500);
        pack_kv(pk, "room", a);
        pack_s(pk, "minutes");
        msgpack_pack_int64(pk, s % 180); /* smallest encoding is canonical */
        pack_s(pk, "score");
        if (s & 2)
            msgpack_pack_float(pk, (float)(s % 64) / 4.0f);
        else
            msgpack_pack_double(pk, (double)(s % 64) / 4.0);
        if (s & 1) {
            pack_s(pk, "pii");
            msgpack_pack_map(pk, 1);
            pack_kv(pk, "guest_note", "prefers the quiet room");
        }
        break;
    default: /* K_NOTE */
        msgpack_pack_map(pk, 5);
        pack_s(pk, "z");
        msgpack_pack_true(pk);
        pack_s(pk, "a");
        msgpack_pack_nil(pk);
        pack_s(pk, "n");
        msgpack_pack_int64(pk, -(int64_t)s - 1);
        pack_s(pk, "tags");
        msgpack_pack_array(pk, 2);
        pack_s(pk, "ops");
        snprintf(a, sizeof(a), "t%u", s % 9);
        pack_s(pk, a);
        pack_s(pk, "nested");
        msgpack_pack_map(pk, 2);
        pack_s(pk, "b");
        msgpack_pack_int64(pk, 1);
        pack_s(pk, "a");
        msgpack_pack_array(pk, 1);
        msgpack_pack_false(pk);
        break;
    }
}

/* Fills out[0..n) from the specs. Bodies live in buf and zone until the
 * next call with them. */
static void
build_events(msgpack_sbuffer *buf, msgpack_zone *zone, const evspec *ev,
             size_t n, crm_event_in *out)
{
    size_t off[EV_MAX + 1];
    msgpack_packer pk;
    msgpack_sbuffer_clear(buf);
    msgpack_zone_clear(zone);
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    for (size_t i = 0; i < n; i++) {
        off[i] = buf->size;
        pack_body(&pk, ev[i].kind, ev[i].seed);
    }
    off[n] = buf->size;
    for (size_t i = 0; i < n; i++) {
        msgpack_object *o = msgpack_zone_malloc(zone, sizeof(*o));
        size_t p = 0;
        CHECK(o != NULL &&
                  msgpack_unpack(buf->data + off[i], off[i + 1] - off[i], &p,
                                 zone, o) == MSGPACK_UNPACK_SUCCESS,
              "cannot unpack a test body");
        const stream_model *s = &streams[ev[i].stream];
        memset(&out[i], 0, sizeof(out[i]));
        memcpy(out[i].id, ev[i].id, CRM_ID_LEN);
        out[i].stream = s->id;
        out[i].stream_len = s->len;
        out[i].type = kind_type[ev[i].kind];
        out[i].type_len = strlen(kind_type[ev[i].kind]);
        out[i].occurred_at = ev[i].occurred_at;
        out[i].body = o;
    }
}

static crm_batch *
prepare(worker *w, const pbatch *pb)
{
    crm_event_in in[EV_MAX];
    crm_expect x[EV_MAX];
    crm_batch *b = NULL;
    crm_error why;
    build_events(&w->bodies, w->zone, pb->ev, pb->n, in);
    for (size_t i = 0; i < pb->nx; i++) {
        x[i].stream = streams[pb->x[i].stream].id;
        x[i].stream_len = streams[pb->x[i].stream].len;
        x[i].version = pb->x[i].version;
    }
    crm_err err = crm_batch_prepare(in, pb->n, x, pb->nx, ACTOR,
                                    strlen(ACTOR), &b, &why);
    CHECK(err == CRM_OK, "prepare of a %s batch: %s", op_name[pb->op],
          why.msg);
    return b;
}

/* --- making batches ------------------------------------------------------- */

static uint16_t
own_stream(worker *w)
{
    return (uint16_t)(below(&w->r, NSTREAMS / w->nthreads) * w->nthreads +
                      (uint64_t)w->id);
}

static void
fresh_event(worker *w, evspec *e, uint16_t stream)
{
    crm_uuid_v7(e->id);
    e->stream = stream;
    e->kind = (uint8_t)below(&w->r, NKINDS);
    e->seed = (uint32_t)below(&w->r, SEED_MAX);
    e->occurred_at =
        TIME_BASE + (int64_t)below(&w->r, INT64_C(100000000000000));
}

static int
has_stream(const pbatch *pb, uint16_t s)
{
    for (size_t i = 0; i < pb->n; i++)
        if (pb->ev[i].stream == s)
            return 1;
    return 0;
}

static int
has_new_in(const pbatch *pb, uint16_t s)
{
    for (size_t i = 0; i < pb->n; i++)
        if (pb->ev[i].stream == s && !pb->dup[i])
            return 1;
    return 0;
}

/* A random expectation for stream s, right or wrong. */
static int
random_expect(worker *w, uint16_t s, xspec *x)
{
    int64_t last = streams[s].last;
    uint64_t r = below(&w->r, 100);
    x->stream = s;
    if (r < 35)
        return 0;
    if (r < 45)
        x->version = CRM_EXPECT_ANY;
    else if (r < 57)
        x->version = CRM_EXPECT_NO_STREAM;
    else if (r < 67)
        x->version = CRM_EXPECT_EXISTS;
    else if (last >= 0 && chance(&w->r, 70))
        x->version = last;
    else
        switch (below(&w->r, 3)) {
        case 0: x->version = last + 1; break;
        case 1: x->version = last > 0 ? last - 1 : 0; break;
        default: x->version = (int64_t)below(&w->r, 4); break;
        }
    return 1;
}

/* Adds count new events of this thread's streams (1..4 of them), in random
 * order, with random expectations. */
static void
add_fresh(worker *w, pbatch *pb, size_t count, int expectations)
{
    uint16_t chosen[4];
    size_t k = 1 + below(&w->r, 4);
    if (k > count)
        k = count;
    for (size_t i = 0; i < k; i++) {
        uint16_t s;
        int again;
        do { /* distinct */
            s = own_stream(w);
            again = 0;
            for (size_t j = 0; j < i; j++)
                again |= chosen[j] == s;
        } while (again);
        chosen[i] = s;
    }
    size_t start = pb->n;
    CHECK(pb->n + count <= EV_MAX, "test batch overflow");
    for (size_t i = 0; i < count; i++) {
        fresh_event(w, &pb->ev[pb->n],
                    i < k ? chosen[i] : chosen[below(&w->r, k)]);
        pb->dup[pb->n++] = 0;
    }
    for (size_t i = pb->n - 1; i > start; i--) { /* shuffle the new ones */
        size_t j = start + below(&w->r, i - start + 1);
        evspec t = pb->ev[i];
        pb->ev[i] = pb->ev[j];
        pb->ev[j] = t;
    }
    if (expectations)
        for (size_t i = 0; i < k; i++)
            pb->nx += (size_t)random_expect(w, chosen[i], &pb->x[pb->nx]);
}

/* Keeps those of h's expectations that name a stream of pb. */
static void
keep_expectations(pbatch *pb, const hbatch *h)
{
    for (size_t i = 0; i < h->nx; i++)
        if (has_stream(pb, h->x[i].stream))
            pb->x[pb->nx++] = h->x[i];
}

static void
add_old(pbatch *pb, const hbatch *h, size_t i)
{
    CHECK(pb->n < EV_MAX, "test batch overflow");
    pb->ev[pb->n] = h->ev[i];
    pb->dup[pb->n] = 1;
    pb->want_pos[pb->n] = h->pos[i];
    pb->want_ver[pb->n] = h->ver[i];
    pb->n++;
}

/* Predicts the outcome against the model as it will stand when the writer
 * reaches pb (batches of one thread are applied in submission order), and
 * moves the model forward if pb will be accepted. */
static void
predict(worker *w, pbatch *pb)
{
    if (pb->op == OP_CHANGED || pb->op == OP_ECHO_CHANGED) {
        pb->want = CRM_ERR_CONFLICT;
        return;
    }
    pb->want = CRM_OK;
    for (size_t i = 0; i < pb->nx; i++) {
        const xspec *x = &pb->x[i];
        int64_t last = streams[x->stream].last;
        int ok;
        if (!has_new_in(pb, x->stream)) /* ids answer first */
            continue;
        if (x->version == CRM_EXPECT_ANY)
            ok = 1;
        else if (x->version == CRM_EXPECT_NO_STREAM)
            ok = last < 0;
        else if (x->version == CRM_EXPECT_EXISTS)
            ok = last >= 0;
        else
            ok = last == x->version;
        if (!ok) {
            pb->want = CRM_ERR_CONFLICT;
            return;
        }
    }
    for (size_t i = 0; i < pb->n; i++) {
        if (pb->dup[i])
            continue;
        pb->want_ver[i] = (uint64_t)++streams[pb->ev[i].stream].last;
        pb->want_pos[i] = w->exact ? ++w->next_pos : 0;
    }
}

/* Gives one event of pb other content under the same id. */
static void
change_one(worker *w, pbatch *pb)
{
    evspec *e = &pb->ev[below(&w->r, pb->n)];
    switch (below(&w->r, 4)) {
    case 0: e->seed = e->seed == SEED_MAX - 1 ? 0 : e->seed + 1; break;
    case 1: e->occurred_at++; break;
    case 2:
        e->kind = (uint8_t)((e->kind + 1 + below(&w->r, NKINDS - 1)) % NKINDS);
        break;
    default:
        e->stream = (uint16_t)((e->stream + 1 + below(&w->r, NSTREAMS - 1)) %
                               NSTREAMS);
        break;
    }
}

/* prev: the batch submitted last if still in flight, else NULL. */
static void
make_batch(worker *w, pbatch *pb, pbatch *prev)
{
    const hbatch *h = NULL;
    uint64_t r = below(&w->r, 100);
    op o = r < 55 ? OP_FRESH
         : r < 65 ? OP_RESEND
         : r < 77 ? OP_RETRY
         : r < 82 ? OP_PARTIAL
         : r < 90 ? OP_MIXED
                  : OP_CHANGED;
    if (o == OP_RESEND && w->nrefused == 0)
        o = OP_FRESH;
    if (o >= OP_RETRY && (h = hist_pick(&w->r)) == NULL)
        o = OP_FRESH;

    if (prev && prev->want == CRM_OK && prev->echo == NULL &&
        chance(&w->r, 15))
        o = chance(&w->r, 50) ? OP_ECHO : OP_ECHO_CHANGED;

    pb->op = o;
    pb->n = pb->nx = 0;
    pb->echo = NULL;
    switch (o) {
    case OP_ECHO:
    case OP_ECHO_CHANGED:
        /* the answers are learnt when prev completes (see reap) */
        pb->n = prev->n;
        pb->nx = prev->nx;
        memcpy(pb->ev, prev->ev, prev->n * sizeof(*pb->ev));
        memcpy(pb->x, prev->x, prev->nx * sizeof(*pb->x));
        memset(pb->dup, 1, pb->n);
        if (o == OP_ECHO) {
            prev->echo = pb;
        } else {
            size_t nx = pb->nx;
            change_one(w, pb);
            pb->nx = 0; /* a stream may have left the batch */
            for (size_t i = 0; i < nx; i++)
                if (has_stream(pb, pb->x[i].stream))
                    pb->x[pb->nx++] = pb->x[i];
        }
        break;
    case OP_FRESH:
        add_fresh(w, pb, 1 + below(&w->r, FRESH_MAX), 1);
        break;
    case OP_RESEND:
        /* the same events: their ids were never stored */
        for (size_t i = 0; i < w->nrefused; i++) {
            pb->ev[pb->n] = w->refused[i];
            pb->dup[pb->n++] = 0;
        }
        w->nrefused = 0;
        break;
    case OP_RETRY:
        for (size_t i = 0; i < h->n; i++)
            add_old(pb, h, i);
        if (chance(&w->r, 50)) /* the first expectations, now stale */
            keep_expectations(pb, h);
        break;
    case OP_PARTIAL:
        for (size_t i = 0; i < h->n; i++)
            if (chance(&w->r, 50))
                add_old(pb, h, i);
        if (pb->n == 0)
            add_old(pb, h, below(&w->r, h->n));
        if (chance(&w->r, 50))
            keep_expectations(pb, h);
        break;
    case OP_MIXED: {
        pbatch tmp;
        tmp.n = tmp.nx = 0;
        for (size_t i = 0; i < h->n && tmp.n < EV_MAX - FRESH_MAX; i++)
            if (chance(&w->r, 60))
                add_old(&tmp, h, i);
        add_fresh(w, &tmp, 1 + below(&w->r, FRESH_MAX), 0);
        /* interleave old and new */
        while (tmp.n > 0) {
            size_t j = below(&w->r, tmp.n);
            pb->ev[pb->n] = tmp.ev[j];
            pb->dup[pb->n] = tmp.dup[j];
            pb->want_pos[pb->n] = tmp.want_pos[j];
            pb->want_ver[pb->n] = tmp.want_ver[j];
            pb->n++;
            tmp.n--;
            tmp.ev[j] = tmp.ev[tmp.n];
            tmp.dup[j] = tmp.dup[tmp.n];
            tmp.want_pos[j] = tmp.want_pos[tmp.n];
            tmp.want_ver[j] = tmp.want_ver[tmp.n];
        }
        /* expectations only where new events go, right or wrong */
        for (size_t i = 0; i < pb->n; i++) {
            uint16_t s = pb->ev[i].stream;
            int seen = 0;
            for (size_t k = 0; k < pb->nx; k++)
                seen |= pb->x[k].stream == s;
            if (!pb->dup[i] && !seen && chance(&w->r, 50))
                pb->nx += (size_t)random_expect(w, s, &pb->x[pb->nx]);
        }
        break;
    }
    case OP_CHANGED: {
        for (size_t i = 0; i < h->n; i++)
            add_old(pb, h, i);
        change_one(w, pb);
        if (pb->n < EV_MAX && chance(&w->r, 30)) {
            /* new events in it must not land either */
            size_t room = EV_MAX - pb->n;
            size_t k = 1 + below(&w->r, FRESH_MAX);
            add_fresh(w, pb, k < room ? k : room, 0);
        }
        if (chance(&w->r, 50))
            keep_expectations(pb, h);
        break;
    }
    default:
        break;
    }
    w->ops[o]++;
    predict(w, pb);
    if (o == OP_FRESH && pb->want != CRM_OK) {
        memcpy(w->refused, pb->ev, pb->n * sizeof(*pb->ev));
        w->nrefused = pb->n;
    }
}

/* --- running batches ------------------------------------------------------ */

static void
on_done(crm_batch *b, void *arg)
{
    pbatch *pb = arg;
    (void)b;
    pthread_mutex_lock(&pb->mu);
    pb->done = 1;
    pthread_cond_signal(&pb->cv);
    pthread_mutex_unlock(&pb->mu);
}

/* In exact mode: the streams of pb stand where the model says. */
static void
check_streams_of(worker *w, const pbatch *pb)
{
    for (size_t i = 0; i < pb->n; i++) {
        const stream_model *s = &streams[pb->ev[i].stream];
        uint64_t v, p;
        crm_err err = crm_log_stream_info(w->log, s->id, s->len, &v, &p);
        if (s->last < 0) {
            CHECK(err == CRM_ERR_NOT_FOUND, "stream %s exists: %s", s->id,
                  crm_strerror(err));
            continue;
        }
        CHECK(err == CRM_OK, "stream %s: %s", s->id, crm_strerror(err));
        CHECK(v == (uint64_t)s->last && p == s->pos[s->npos - 1],
              "stream %s at version %" PRIu64 " position %" PRIu64
              ", model %" PRId64 " %" PRIu64,
              s->id, v, p, s->last, s->pos[s->npos - 1]);
    }
}

/* Checks a completed batch against its prediction and records what it
 * taught: positions of new events, and the batch itself for retries. */
static void
reap(worker *w, pbatch *pb)
{
    crm_error why;
    uint64_t pos[EV_MAX], ver[EV_MAX], prev = 0;
    int any_new = 0;

    if (w->window > 1) {
        pthread_mutex_lock(&pb->mu);
        while (!pb->done)
            pthread_cond_wait(&pb->cv, &pb->mu);
        pthread_mutex_unlock(&pb->mu);
    }
    crm_err err = crm_batch_result(pb->b, &why);
    CHECK(err == pb->want,
          "thread %d, %s batch of %zu events, %zu expectations: got %s (%s), "
          "the model expects %s",
          w->id, op_name[pb->op], pb->n, pb->nx, crm_strerror(err), why.msg,
          crm_strerror(pb->want));
    w->batches++;
    if (err != CRM_OK) {
        w->conflicts++;
        goto done;
    }
    CHECK(crm_batch_count(pb->b) == pb->n, "batch count");
    for (size_t i = 0; i < pb->n; i++) {
        pos[i] = crm_batch_position(pb->b, i);
        ver[i] = crm_batch_version(pb->b, i);
        int dup = crm_batch_is_duplicate(pb->b, i);
        CHECK(!dup == !pb->dup[i], "%s batch, event %zu: duplicate flag %d",
              op_name[pb->op], i, dup);
        if (dup) {
            CHECK(pos[i] == pb->want_pos[i] && ver[i] == pb->want_ver[i],
                  "%s batch, event %zu: retry answered position %" PRIu64
                  " version %" PRIu64 ", first answer was %" PRIu64
                  " %" PRIu64,
                  op_name[pb->op], i, pos[i], ver[i], pb->want_pos[i],
                  pb->want_ver[i]);
            w->dups++;
            continue;
        }
        stream_model *s = &streams[pb->ev[i].stream];
        CHECK(ver[i] == pb->want_ver[i],
              "%s batch, event %zu (stream %s): version %" PRIu64
              ", model %" PRIu64,
              op_name[pb->op], i, s->id, ver[i], pb->want_ver[i]);
        CHECK(!w->exact || pos[i] == pb->want_pos[i],
              "%s batch, event %zu: position %" PRIu64 ", model %" PRIu64,
              op_name[pb->op], i, pos[i], pb->want_pos[i]);
        CHECK(prev == 0 || pos[i] == prev + 1,
              "%s batch: new events at %" PRIu64 " then %" PRIu64,
              op_name[pb->op], prev, pos[i]);
        CHECK(s->npos == ver[i], "stream %s: version %" PRIu64
              " after %zu events", s->id, ver[i], s->npos);
        CHECK(s->npos == 0 || s->pos[s->npos - 1] < pos[i],
              "stream %s goes back from %" PRIu64 " to %" PRIu64, s->id,
              s->pos[s->npos - 1], pos[i]);
        stream_push(s, pos[i]);
        prev = pos[i];
        any_new = 1;
        w->events++;
    }
    if (any_new)
        hist_add(pb, pos, ver);
    if (pb->echo != NULL) { /* its retry completes next; it must agree */
        memcpy(pb->echo->want_pos, pos, pb->n * sizeof(*pos));
        memcpy(pb->echo->want_ver, ver, pb->n * sizeof(*ver));
    }
done:
    if (w->exact) {
        uint64_t head;
        crm_log_head(w->log, &head, NULL);
        CHECK(head == w->next_pos,
              "after a %s batch (%s) the head is %" PRIu64 ", model %" PRIu64,
              op_name[pb->op], crm_strerror(err), head, w->next_pos);
        check_streams_of(w, pb);
    }
    crm_batch_free(pb->b);
    pb->b = NULL;
}

static void *
worker_main(void *arg)
{
    worker *w = arg;
    size_t inflight = 0, oldest = 0;

    msgpack_sbuffer_init(&w->bodies);
    w->zone = msgpack_zone_new(8192);
    w->slots = calloc(w->window, sizeof(*w->slots));
    CHECK(w->zone && w->slots, "out of memory");
    for (size_t i = 0; i < w->window; i++) {
        pthread_mutex_init(&w->slots[i].mu, NULL);
        pthread_cond_init(&w->slots[i].cv, NULL);
    }

    for (size_t k = 0; k < w->nbatches; k++) {
        if (inflight == w->window) {
            reap(w, &w->slots[oldest]);
            oldest = (oldest + 1) % w->window;
            inflight--;
        }
        pbatch *pb = &w->slots[(oldest + inflight) % w->window];
        make_batch(w, pb,
                   inflight ? &w->slots[(oldest + inflight - 1) % w->window]
                            : NULL);
        pb->b = prepare(w, pb);
        pb->done = 0;
        if (w->window == 1) {
            crm_log_append(w->log, pb->b, NULL);
            reap(w, pb);
            continue;
        }
        crm_err err = crm_log_submit(w->log, pb->b, on_done, pb);
        CHECK(err == CRM_OK, "submit: %s", crm_strerror(err));
        inflight++;
    }
    while (inflight > 0) {
        reap(w, &w->slots[oldest]);
        oldest = (oldest + 1) % w->window;
        inflight--;
    }

    for (size_t i = 0; i < w->window; i++) {
        pthread_mutex_destroy(&w->slots[i].mu);
        pthread_cond_destroy(&w->slots[i].cv);
    }
    free(w->slots);
    msgpack_zone_free(w->zone);
    msgpack_sbuffer_destroy(&w->bodies);
    return NULL;
}

/* --- a reader beside the writers ----------------------------------------- */

/* Reads while phase 2 appends (and the map grows): every read must see a
 * consistent prefix of the log. Only self-consistency is checked here;
 * the model belongs to the writers. */
typedef struct reader {
    crm_log *log;
    rng r;
    int stop;
    uint64_t reads, verifies;
} reader;

typedef struct rd_check {
    uint64_t from, n;
    const stream_model *s; /* stream reads only */
    msgpack_zone *zone;
    int bad;
} rd_check;

static int
rd_visit(void *arg, uint64_t position, const uint8_t *rec, size_t len)
{
    rd_check *c = arg;
    crm_record r;
    msgpack_zone_clear(c->zone);
    if (crm_record_decode(rec, len, c->zone, &r, NULL) != CRM_OK ||
        r.h.position != position)
        c->bad = 1;
    else if (c->s == NULL)
        c->bad = position != c->from + c->n;
    else
        c->bad = r.h.version != c->from + c->n || r.stream_len != c->s->len ||
                 memcmp(r.stream, c->s->id, c->s->len) != 0;
    c->n++;
    return c->bad;
}

static void *
reader_main(void *arg)
{
    reader *rd = arg;
    rd_check c = {.zone = msgpack_zone_new(4096)};
    CHECK(c.zone != NULL, "out of memory");
    while (!__atomic_load_n(&rd->stop, __ATOMIC_ACQUIRE)) {
        uint64_t head, v, p;
        crm_log_head(rd->log, &head, NULL);
        c.n = 0;
        c.bad = 0;
        c.s = NULL;
        if (chance(&rd->r, 50)) {
            size_t max = 1 + below(&rd->r, 64);
            c.from = 1 + below(&rd->r, head + 1);
            CHECK(crm_log_read_all(rd->log, c.from, max, rd_visit, &c) ==
                      CRM_OK && !c.bad,
                  "concurrent read from %" PRIu64 " went wrong at %" PRIu64,
                  c.from, c.from + c.n - 1);
            uint64_t due = c.from > head ? 0 : head - c.from + 1;
            CHECK(c.n <= max && c.n >= (due < max ? due : max),
                  "concurrent read from %" PRIu64 " (head %" PRIu64
                  ") found %" PRIu64 " records",
                  c.from, head, c.n);
        } else {
            c.s = &streams[below(&rd->r, NSTREAMS)];
            crm_err err =
                crm_log_stream_info(rd->log, c.s->id, c.s->len, &v, &p);
            CHECK(err == CRM_OK || err == CRM_ERR_NOT_FOUND, "stream info: %s",
                  crm_strerror(err));
            if (err == CRM_OK) {
                /* (the head may lag a commit here, so p is not compared
                 * with it) */
                CHECK(p >= 1, "stream %s last at position 0", c.s->id);
                c.from = below(&rd->r, v + 1);
                err = crm_log_read_stream(rd->log, c.s->id, c.s->len, c.from,
                                          1 + below(&rd->r, 8), rd_visit, &c);
                CHECK(err == CRM_OK && !c.bad && c.n > 0,
                      "concurrent read of stream %s from version %" PRIu64
                      ": %s",
                      c.s->id, c.from, crm_strerror(err));
            }
        }
        rd->reads++;
        if (rd->reads % 500 == 0) {
            crm_error why;
            CHECK(crm_log_verify(rd->log, NULL, &why) == CRM_OK,
                  "concurrent verify: %s", why.msg);
            rd->verifies++;
        }
    }
    msgpack_zone_free(c.zone);
    return NULL;
}

/* --- checking the reopened log -------------------------------------------- */

typedef struct slot {
    const hbatch *h; /* the batch that wrote this position */
    size_t i;
} slot;

typedef struct scan {
    const slot *table;
    uint64_t head, next;
    msgpack_zone *zone;
    msgpack_sbuffer bodies, canon;
    char err[512];
} scan;

/* Compares each record with the event the model says is there; notes the
 * first difference and stops (asserting here would jump out of the read
 * transaction). */
static int
scan_visit(void *arg, uint64_t position, const uint8_t *rec, size_t len)
{
    scan *sc = arg;
    crm_record r;
    crm_error why;
    crm_event_in in;

#define SCAN_FAIL(...)                                                         \
    do {                                                                       \
        snprintf(sc->err, sizeof(sc->err), __VA_ARGS__);                       \
        return 1;                                                              \
    } while (0)

    if (position != sc->next)
        SCAN_FAIL("position %" PRIu64 " where %" PRIu64 " was due", position,
                  sc->next);
    if (position > sc->head)
        SCAN_FAIL("record at %" PRIu64 " beyond the head %" PRIu64, position,
                  sc->head);
    sc->next++;
    const slot *s = &sc->table[position];
    const evspec *e = &s->h->ev[s->i];
    const stream_model *sm = &streams[e->stream];
    uint64_t ver = s->h->ver[s->i];

    msgpack_zone_clear(sc->zone);
    if (crm_record_decode(rec, len, sc->zone, &r, &why) != CRM_OK)
        SCAN_FAIL("position %" PRIu64 ": %s", position, why.msg);
    if (r.h.position != position || r.h.version != ver ||
        memcmp(r.id, e->id, CRM_ID_LEN) != 0 || r.stream_len != sm->len ||
        memcmp(r.stream, sm->id, sm->len) != 0)
        SCAN_FAIL("position %" PRIu64 ": record is not the model's event "
                  "(version %" PRIu64 ", model %" PRIu64 ")",
                  position, r.h.version, ver);
    if (r.h.stream_prev != (ver ? sm->pos[ver - 1] : 0))
        SCAN_FAIL("position %" PRIu64 ": stream_prev %" PRIu64, position,
                  r.h.stream_prev);
    if (r.h.actor_len != strlen(ACTOR) ||
        memcmp(r.h.actor, ACTOR, r.h.actor_len) != 0 ||
        r.h.tenant_len != strlen(TENANT) ||
        memcmp(r.h.tenant, TENANT, r.h.tenant_len) != 0)
        SCAN_FAIL("position %" PRIu64 ": actor or tenant", position);

    build_events(&sc->bodies, sc->zone, e, 1, &in);
    msgpack_sbuffer_clear(&sc->canon);
    if (crm_event_encode(&in, &sc->canon, &why) != CRM_OK)
        SCAN_FAIL("re-encoding position %" PRIu64 ": %s", position, why.msg);
    if (sc->canon.size != r.content_len ||
        memcmp(sc->canon.data, r.content, r.content_len) != 0)
        SCAN_FAIL("position %" PRIu64 ": stored content differs from the "
                  "event submitted",
                  position);
    return 0;
#undef SCAN_FAIL
}

typedef struct stream_scan {
    const stream_model *s;
    uint64_t from, n;
    msgpack_zone *zone;
    char err[256];
} stream_scan;

static int
stream_visit(void *arg, uint64_t position, const uint8_t *rec, size_t len)
{
    stream_scan *ss = arg;
    crm_record r;
    uint64_t v = ss->from + ss->n;
    msgpack_zone_clear(ss->zone);
    if (v >= ss->s->npos || position != ss->s->pos[v] ||
        crm_record_decode(rec, len, ss->zone, &r, NULL) != CRM_OK ||
        r.h.version != v || r.stream_len != ss->s->len ||
        memcmp(r.stream, ss->s->id, ss->s->len) != 0) {
        snprintf(ss->err, sizeof(ss->err),
                 "stream %s: version %" PRIu64 " read at position %" PRIu64,
                 ss->s->id, v, position);
        return 1;
    }
    ss->n++;
    return 0;
}

static void
check_stream(crm_log *log, rng *r, const stream_model *s)
{
    uint64_t v = 0, p = 0;
    stream_scan ss = {.s = s, .zone = msgpack_zone_new(2048)};
    assert_non_null(ss.zone);
    if (s->npos == 0) {
        assert_int_equal(s->last, -1);
        assert_int_equal(crm_log_stream_info(log, s->id, s->len, &v, &p),
                         CRM_ERR_NOT_FOUND);
        assert_int_equal(crm_log_read_stream(log, s->id, s->len, 0, 0,
                                             stream_visit, &ss),
                         CRM_ERR_NOT_FOUND);
        msgpack_zone_free(ss.zone);
        return;
    }
    assert_int_equal(s->last, (int64_t)s->npos - 1);
    assert_int_equal(crm_log_stream_info(log, s->id, s->len, &v, &p), CRM_OK);
    assert_int_equal(v, s->npos - 1);
    assert_int_equal(p, s->pos[s->npos - 1]);

    assert_int_equal(crm_log_read_stream(log, s->id, s->len, 0, 0,
                                         stream_visit, &ss), CRM_OK);
    if (ss.err[0])
        fail_msg("%s (seed %" PRIu64 ")", ss.err, seed);
    assert_int_equal(ss.n, s->npos);

    /* a window of the stream */
    ss.from = below(r, s->npos);
    ss.n = 0;
    size_t max = (size_t)below(r, 5);
    assert_int_equal(crm_log_read_stream(log, s->id, s->len, ss.from, max,
                                         stream_visit, &ss), CRM_OK);
    if (ss.err[0])
        fail_msg("%s (seed %" PRIu64 ")", ss.err, seed);
    uint64_t rest = s->npos - ss.from;
    assert_int_equal(ss.n, max && max < rest ? max : rest);
    msgpack_zone_free(ss.zone);
}

/* Sends acknowledged batches again after the reopen: the idempotency index
 * must still answer with the first positions, and refuse other content. */
static void
check_retries(crm_log *log, rng *r)
{
    worker w = {.log = log, .nthreads = 1, .window = 1};
    msgpack_sbuffer_init(&w.bodies);
    w.zone = msgpack_zone_new(8192);
    assert_non_null(w.zone);
    uint64_t h0, h1;
    crm_log_head(log, &h0, NULL);
    for (int k = 0; k < 300; k++) {
        const hbatch *h = hist[below(r, nhist)];
        pbatch pb;
        pb.op = k % 6 == 5 ? OP_CHANGED : OP_RETRY;
        pb.n = pb.nx = 0;
        for (size_t i = 0; i < h->n; i++)
            add_old(&pb, h, i);
        keep_expectations(&pb, h);
        if (pb.op == OP_CHANGED)
            pb.ev[below(r, pb.n)].occurred_at++;
        crm_batch *b = prepare(&w, &pb);
        crm_error why;
        crm_err err = crm_log_append(log, b, &why);
        if (pb.op == OP_CHANGED) {
            assert_int_equal(err, CRM_ERR_CONFLICT);
        } else {
            if (err != CRM_OK)
                fail_msg("retry after reopen: %s (seed %" PRIu64 ")", why.msg,
                         seed);
            for (size_t i = 0; i < pb.n; i++) {
                assert_true(crm_batch_is_duplicate(b, i));
                assert_int_equal(crm_batch_position(b, i), pb.want_pos[i]);
                assert_int_equal(crm_batch_version(b, i), pb.want_ver[i]);
            }
        }
        crm_batch_free(b);
    }
    crm_log_head(log, &h1, NULL);
    assert_int_equal(h1, h0);
    msgpack_zone_free(w.zone);
    msgpack_sbuffer_destroy(&w.bodies);
}

/* --- the test ------------------------------------------------------------- */

static uint64_t
sum(const worker *w, size_t n, size_t field)
{
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t += *(const uint64_t *)((const char *)&w[i] + field);
    return t;
}

static void
test_random_batches(void **state)
{
    (void)state;
    char dir[512];
    crm_log *log;
    crm_error why;
    struct timespec t0, t1;
    rng r = {seed};

    clock_gettime(CLOCK_MONOTONIC, &t0);
    fx_tmpdir(dir, sizeof(dir), "logprop");
    streams_init();
    /* a small map, so growth happens along the way */
    crm_log_opts o = {.map_size = 256 * 1024};
    if (crm_log_open(dir, TENANT, &o, &log, &why) != CRM_OK)
        fail_msg("open: %s", why.msg);

    /* Phase 1: one thread, every position predicted. */
    worker w1 = {.log = log, .r = {rnd(&r)}, .id = 0, .nthreads = 1,
                 .nbatches = PHASE1_BATCHES, .window = 1, .exact = 1};
    worker_main(&w1);
    crm_log_stats st1;
    crm_log_stats_get(log, &st1);

    /* Phase 2: four threads on disjoint streams; odd ones pipeline. */
    worker w[NTHREADS];
    pthread_t th[NTHREADS], rth;
    reader rd = {.log = log, .r = {rnd(&r)}};
    assert_int_equal(pthread_create(&rth, NULL, reader_main, &rd), 0);
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (worker){.log = log, .r = {rnd(&r)}, .id = i,
                        .nthreads = NTHREADS,
                        .nbatches = PHASE2_BATCHES / NTHREADS,
                        .window = i % 2 ? WINDOW : 1};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    __atomic_store_n(&rd.stop, 1, __ATOMIC_RELEASE);
    pthread_join(rth, NULL);

    uint64_t events = w1.events + sum(w, NTHREADS, offsetof(worker, events));
    uint64_t dups = w1.dups + sum(w, NTHREADS, offsetof(worker, dups));
    uint64_t conflicts =
        w1.conflicts + sum(w, NTHREADS, offsetof(worker, conflicts));
    uint64_t batches2 = sum(w, NTHREADS, offsetof(worker, batches));
    crm_log_stats st;
    crm_log_stats_get(log, &st);
    printf("batches %" PRIu64 ", events %" PRIu64 ", duplicates %" PRIu64
           ", conflicts %" PRIu64 "; commits %" PRIu64 " (phase 2: %" PRIu64
           " for %" PRIu64 " batches); map grew %" PRIu64 " times to %" PRIu64
           " KiB (%" PRIu64 " in phase 2); %" PRIu64 " concurrent reads, %"
           PRIu64 " verifies\n",
           w1.batches + batches2, events, dups, conflicts, st.commits,
           st.commits - st1.commits, batches2, st.map_grows,
           st.map_size >> 10, st.map_grows - st1.map_grows, rd.reads,
           rd.verifies);
    for (int k = 0; k < NOPS; k++) {
        uint64_t n = w1.ops[k];
        for (int i = 0; i < NTHREADS; i++)
            n += w[i].ops[k];
        printf("  %-8s %" PRIu64 "\n", op_name[k], n);
        assert_true(n > 0); /* every kind of batch was tried */
    }
    assert_int_equal(st.position, events);
    assert_int_equal(st.events, events);
    assert_int_equal(st.duplicates, dups);
    assert_int_equal(st.conflicts, conflicts);
    assert_true(conflicts > 0);
    assert_true(st.map_grows > 0);
    /* batches queued together shared commits */
    assert_true(st.commits - st1.commits < batches2);

    uint64_t head;
    uint8_t hash[CRM_HASH_LEN], hash2[CRM_HASH_LEN];
    crm_log_head(log, &head, hash);
    assert_int_equal(head, events);
    crm_log_close(log);

    /* Reopen and compare everything with the model. */
    if (crm_log_open(dir, TENANT, &o, &log, &why) != CRM_OK)
        fail_msg("reopen: %s", why.msg);
    uint64_t head2;
    crm_log_head(log, &head2, hash2);
    assert_int_equal(head2, head);
    assert_memory_equal(hash, hash2, CRM_HASH_LEN);

    slot *table = calloc(head + 1, sizeof(*table));
    assert_non_null(table);
    for (size_t k = 0; k < nhist; k++) {
        const hbatch *h = hist[k];
        for (size_t i = 0; i < h->n; i++) {
            uint64_t p = h->pos[i];
            assert_true(p >= 1 && p <= head);
            if (table[p].h == NULL) {
                table[p] = (slot){h, i};
                continue;
            }
            /* a retry answered with this position: same event */
            const slot *s = &table[p];
            if (memcmp(s->h->ev[s->i].id, h->ev[i].id, CRM_ID_LEN) != 0 ||
                s->h->ver[s->i] != h->ver[i])
                fail_msg("position %" PRIu64 " given to two events (seed "
                         "%" PRIu64 ")", p, seed);
        }
    }
    for (uint64_t p = 1; p <= head; p++)
        if (table[p].h == NULL)
            fail_msg("position %" PRIu64 " was never acknowledged (seed "
                     "%" PRIu64 ")", p, seed);

    scan sc = {.table = table, .head = head, .next = 1,
               .zone = msgpack_zone_new(8192)};
    assert_non_null(sc.zone);
    msgpack_sbuffer_init(&sc.bodies);
    msgpack_sbuffer_init(&sc.canon);
    assert_int_equal(crm_log_read_all(log, 1, 0, scan_visit, &sc), CRM_OK);
    if (sc.err[0])
        fail_msg("%s (seed %" PRIu64 ")", sc.err, seed);
    assert_int_equal(sc.next, head + 1);
    msgpack_zone_free(sc.zone);
    msgpack_sbuffer_destroy(&sc.bodies);
    msgpack_sbuffer_destroy(&sc.canon);
    free(table);

    for (int i = 0; i < NSTREAMS; i++)
        check_stream(log, &r, &streams[i]);

    uint64_t badpos = 0;
    if (crm_log_verify(log, &badpos, &why) != CRM_OK)
        fail_msg("verify: %s at %" PRIu64 " (seed %" PRIu64 ")", why.msg,
                 badpos, seed);

    check_retries(log, &r);
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    crm_log_close(log);

    hist_free();
    for (int i = 0; i < NSTREAMS; i++)
        free(streams[i].pos);
    memset(streams, 0, sizeof(streams));
    fx_rmrf(dir);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("took %.1f s\n", (double)(t1.tv_sec - t0.tv_sec) +
                                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

int
main(void)
{
    const char *env = getenv("CRM_PROP_SEED");
    if (env != NULL && env[0] != '\0') {
        seed = strtoull(env, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
    }
    printf("log_prop_test: CRM_PROP_SEED=%" PRIu64 "\n", seed);
    fflush(stdout);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
