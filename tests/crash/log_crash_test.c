/* log_crash_test.c - crash safety of the event log.
 *
 * Each round forks a child that opens the log and appends batches from
 * 2-4 threads. After crm_log_append returns CRM_OK the child writes the
 * acknowledged batch (number, size, first position) to a pipe, and the
 * parent kills it with SIGKILL at a random moment: usually 5-150 ms after
 * the fork, sometimes within the first 5 ms (while the log is still being
 * opened). The parent then reopens the log and checks that
 *   - every batch ever acknowledged is there, whole, at its position;
 *   - no batch is there in part: each event carries its batch number, its
 *     index and the batch size, and the events of a batch form one run of
 *     consecutive positions with indexes 0..size-1;
 *   - positions are dense from 1 to the head, streams agree with the log,
 *     and crm_log_verify passes;
 *   - the log still takes appends.
 * Every round uses the same directory, so the log grows across crashes;
 * the map starts at 256 KiB so that it is enlarged while children die.
 *
 * A round that is not an early kill must kill a child that is appending:
 * if the child has acknowledged nothing by the chosen moment (a slow open
 * on a busy machine), the kill waits for its first ack and comes 0-5 ms
 * after it. So the test cannot pass on children that never got to
 * append: it requires at least ROUNDS acknowledged batches in all and at
 * least half of the rounds killed after an ack of their own.
 *
 * The seed is printed; CRM_CRASH_SEED=<n> sets it (kill timing still
 * varies with the machine).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "log.h"
#include "record.h"
#include "uuid.h"

#define ROUNDS 30
#define BATCH_MAX 30
#define NSTREAMS 40
/* Checkpoint rounds begin at 12 dirty heads and write 3 a commit, so a
 * round is under way at almost every kill (a real log writes 4096 a
 * commit and rounds are rare in a test this size). */
#define CRASH_OPTS                                                             \
    {                                                                          \
        .map_size = MAP_START, .ckpt_streams = 12, .ckpt_slice_min = 3         \
    }
#define TENANT "crash-hotels"
#define ACTOR "crash-key"
#define TYPE "x.crash.test"
#define MAP_START (256 * 1024)
#define ROUND_SHIFT 24 /* batch number = round << ROUND_SHIFT | counter */
/* A child stops appending after this many batches (and waits for the
 * kill), which bounds the log on very fast disks; at the usual speeds it
 * is never reached. */
#define ROUND_BATCHES_MAX 3000
/* How long a round waits for its child's first ack before killing it
 * anyway (and counting the round as one without acks). */
#define FIRST_ACK_WAIT_US (10 * 1000000)

/* What the child reports for each acknowledged batch. */
typedef struct ack {
    uint64_t batch;
    uint64_t first; /* position of event 0 */
    uint32_t size;
    uint32_t pad;
} ack;
_Static_assert(sizeof(ack) < PIPE_BUF, "acks must be written atomically");

static uint64_t seed;

/* --- randomness ----------------------------------------------------------- */

static uint64_t
rnd(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t
below(uint64_t *s, uint64_t n)
{
    return rnd(s) % n;
}

/* --- batches of crash events ---------------------------------------------- */

static void
pack_s(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str_with_body(pk, s, len);
}

/* Builds and prepares batch number n of size events. The bodies carry
 * the batch, its size and each event's index; a pad of random length
 * makes records of varied size so pages fill unevenly. Thread-safe: all
 * memory is the caller's or the batch's. */
static crm_batch *
make_batch(uint64_t n, uint32_t size, uint64_t *rs, msgpack_sbuffer *buf,
           msgpack_zone *zone, char streams[][16], crm_error *why)
{
    static const char pad[401] = {[0 ... 399] = 'p'};
    crm_event_in ev[BATCH_MAX];
    size_t off[BATCH_MAX + 1];
    msgpack_packer pk;
    crm_batch *b = NULL;

    msgpack_sbuffer_clear(buf);
    msgpack_zone_clear(zone);
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    for (uint32_t i = 0; i < size; i++) {
        off[i] = buf->size;
        msgpack_pack_map(&pk, 4);
        pack_s(&pk, "idx", 3);
        msgpack_pack_uint32(&pk, i);
        pack_s(&pk, "batch", 5);
        msgpack_pack_uint64(&pk, n);
        pack_s(&pk, "size", 4);
        msgpack_pack_uint32(&pk, size);
        pack_s(&pk, "pad", 3);
        pack_s(&pk, pad, (size_t)below(rs, sizeof(pad)));
    }
    off[size] = buf->size;
    for (uint32_t i = 0; i < size; i++) {
        msgpack_object *o = msgpack_zone_malloc(zone, sizeof(*o));
        size_t p = 0;
        if (o == NULL || msgpack_unpack(buf->data + off[i], off[i + 1] - off[i],
                                        &p, zone, o) != MSGPACK_UNPACK_SUCCESS)
            return NULL;
        const char *stream = streams[below(rs, NSTREAMS)];
        memset(&ev[i], 0, sizeof(ev[i]));
        crm_uuid_v7(ev[i].id);
        ev[i].stream = stream;
        ev[i].stream_len = strlen(stream);
        ev[i].type = TYPE;
        ev[i].type_len = strlen(TYPE);
        ev[i].occurred_at = INT64_C(1700000000000000) + (int64_t)n;
        ev[i].body = o;
    }
    if (crm_batch_prepare(ev, size, NULL, 0, ACTOR, strlen(ACTOR), &b, why) !=
        CRM_OK)
        return NULL;
    return b;
}

static void
stream_names(char streams[][16])
{
    for (int i = 0; i < NSTREAMS; i++)
        snprintf(streams[i], 16, "crash-%02d", i);
}

/* --- the child ------------------------------------------------------------ */

typedef struct child {
    crm_log *log;
    int fd;
    uint64_t base;    /* round << ROUND_SHIFT */
    uint64_t counter; /* batches started, shared by the threads */
} child;

typedef struct appender_arg {
    child *c;
    uint64_t rs;
} appender_arg;

/* The child has no test harness: any surprise ends it with a status the
 * parent reports. */
static void __attribute__((noreturn))
child_die(int status, const char *what, const char *msg)
{
    fprintf(stderr, "crash child: %s: %s\n", what, msg ? msg : "");
    _exit(status);
}

static void *
appender(void *arg)
{
    appender_arg *a = arg;
    child *c = a->c;
    char streams[NSTREAMS][16];
    msgpack_sbuffer buf;
    msgpack_zone *zone = msgpack_zone_new(8192);
    crm_error why = {0};

    stream_names(streams);
    msgpack_sbuffer_init(&buf);
    if (zone == NULL)
        child_die(3, "zone", NULL);
    for (;;) {
        uint64_t k = __atomic_add_fetch(&c->counter, 1, __ATOMIC_RELAXED);
        if (k > ROUND_BATCHES_MAX)
            for (;;)
                pause();
        uint64_t n = c->base + k;
        uint32_t size = 1 + (uint32_t)below(&a->rs, BATCH_MAX);
        crm_batch *b = make_batch(n, size, &a->rs, &buf, zone, streams, &why);
        if (b == NULL)
            child_die(4, "prepare", why.msg);
        if (crm_log_append(c->log, b, &why) != CRM_OK)
            child_die(5, "append", why.msg);
        ack done = {
            .batch = n, .first = crm_batch_position(b, 0), .size = size};
        for (uint32_t i = 0; i < size; i++)
            if (crm_batch_position(b, i) != done.first + i ||
                crm_batch_is_duplicate(b, i))
                child_die(6, "append", "positions of a batch not dense");
        crm_batch_free(b);
        if (write(c->fd, &done, sizeof(done)) != (ssize_t)sizeof(done))
            child_die(7, "write ack", strerror(errno));
    }
    return NULL;
}

static void __attribute__((noreturn))
child_main(const char *dir, int fd, int round, int nthreads, uint64_t cseed)
{
    child c = {.fd = fd, .base = (uint64_t)round << ROUND_SHIFT};
    crm_log_opts o = CRASH_OPTS;
    crm_error why = {0};
    pthread_t th[4];
    appender_arg args[4];

    if (crm_log_open(dir, TENANT, &o, &c.log, &why) != CRM_OK)
        child_die(2, "open", why.msg);
    for (int i = 0; i < nthreads; i++) {
        args[i] = (appender_arg){&c, cseed + (uint64_t)i * 7919};
        if (pthread_create(&th[i], NULL, appender, &args[i]) != 0)
            child_die(3, "thread", NULL);
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    _exit(8); /* appenders never return */
}

/* --- the parent ----------------------------------------------------------- */

typedef struct acks {
    ack *v;
    size_t n, cap;
} acks;

static void
acks_push(acks *a, const ack *k)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 1024;
        a->v = realloc(a->v, a->cap * sizeof(*a->v));
        if (a->v == NULL)
            abort();
    }
    a->v[a->n++] = *k;
}

static int64_t
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Moves whole acks from the pipe into all; keeps a partial one in part.
 * Returns 0 at end of file, 1 otherwise. */
static int
read_acks(int fd, acks *all, uint8_t *part, size_t *npart)
{
    uint8_t buf[sizeof(ack) * 256];
    memcpy(buf, part, *npart);
    ssize_t got = read(fd, buf + *npart, sizeof(buf) - *npart);
    if (got < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : 0;
    if (got == 0)
        return 0;
    size_t have = *npart + (size_t)got, i;
    for (i = 0; i + sizeof(ack) <= have; i += sizeof(ack)) {
        ack k;
        memcpy(&k, buf + i, sizeof(k));
        acks_push(all, &k);
    }
    *npart = have - i;
    memcpy(part, buf + i, *npart);
    return 1;
}

/* Collects acks from fd until deadline (µs, now_us), the end of the pipe,
 * or all->n reaching stop_at. Returns 0 at the end of the pipe. */
static int
collect_acks(int fd, acks *all, uint8_t *part, size_t *npart, int64_t deadline,
             size_t stop_at)
{
    int live = 1;
    int64_t left;
    while (live && all->n < stop_at && (left = deadline - now_us()) > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        struct timespec ts = {left / 1000000, (left % 1000000) * 1000};
        if (ppoll(&pfd, 1, &ts, NULL) > 0)
            live = read_acks(fd, all, part, npart);
    }
    return live;
}

/* A batch as found in the log. */
typedef struct found {
    uint64_t batch, first;
    uint32_t size;
} found;

typedef struct scan {
    uint64_t next; /* position due */
    msgpack_zone *zone;
    found *v;
    size_t n, cap;
    found cur;        /* the batch being read */
    uint32_t cur_idx; /* events of cur seen */
    int in_batch;
    uint64_t per_stream[NSTREAMS];
    char err[300];
} scan;

static int
body_uint(const msgpack_object *map, const char *key, uint64_t *out)
{
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR &&
            kv->key.via.str.size == klen &&
            memcmp(kv->key.via.str.ptr, key, klen) == 0 &&
            kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            *out = kv->val.via.u64;
            return 1;
        }
    }
    return 0;
}

/* Walks the log, checking density and that the events of each batch form
 * one whole run; notes the first fault and stops. */
static int
scan_visit(void *arg, uint64_t position, const uint8_t *rec, size_t len)
{
    scan *sc = arg;
    crm_record r;
    crm_error why;
    uint64_t batch, idx, size;

#define SCAN_FAIL(...)                                                         \
    do {                                                                       \
        snprintf(sc->err, sizeof(sc->err), __VA_ARGS__);                       \
        return 1;                                                              \
    } while (0)

    if (position != sc->next)
        SCAN_FAIL("position %" PRIu64 " where %" PRIu64 " was due", position,
                  sc->next);
    sc->next++;
    msgpack_zone_clear(sc->zone);
    if (crm_record_decode(rec, len, sc->zone, &r, &why) != CRM_OK)
        SCAN_FAIL("position %" PRIu64 ": %s", position, why.msg);
    if (r.h.position != position || r.type_len != strlen(TYPE) ||
        memcmp(r.type, TYPE, r.type_len) != 0 ||
        r.body.type != MSGPACK_OBJECT_MAP ||
        !body_uint(&r.body, "batch", &batch) ||
        !body_uint(&r.body, "idx", &idx) ||
        !body_uint(&r.body, "size", &size) || size < 1 || size > BATCH_MAX ||
        idx >= size)
        SCAN_FAIL("position %" PRIu64 ": not a crash test event", position);
    int si;
    if (r.stream_len != 8 || sscanf(r.stream, "crash-%2d", &si) != 1 ||
        si < 0 || si >= NSTREAMS)
        SCAN_FAIL("position %" PRIu64 ": stream '%.*s'", position,
                  (int)r.stream_len, r.stream);
    sc->per_stream[si]++;

    if (!sc->in_batch) {
        if (idx != 0)
            SCAN_FAIL("position %" PRIu64 ": batch %" PRIu64 " starts at "
                      "event %" PRIu64 " of %" PRIu64,
                      position, batch, idx, size);
        sc->cur = (found){batch, position, (uint32_t)size};
        sc->cur_idx = 0;
        sc->in_batch = 1;
    } else if (batch != sc->cur.batch || idx != sc->cur_idx ||
               size != sc->cur.size) {
        SCAN_FAIL("position %" PRIu64 ": event %" PRIu64 " of batch %" PRIu64
                  " inside batch %" PRIu64 " (%u of %u events seen)",
                  position, idx, batch, sc->cur.batch, sc->cur_idx,
                  sc->cur.size);
    }
    if (++sc->cur_idx == sc->cur.size) {
        if (sc->n == sc->cap) {
            sc->cap = sc->cap ? 2 * sc->cap : 4096;
            sc->v = realloc(sc->v, sc->cap * sizeof(*sc->v));
            if (sc->v == NULL)
                SCAN_FAIL("out of memory");
        }
        sc->v[sc->n++] = sc->cur;
        sc->in_batch = 0;
    }
    return 0;
#undef SCAN_FAIL
}

static int
cmp_found(const void *a, const void *b)
{
    const found *x = a, *y = b;
    return (x->batch > y->batch) - (x->batch < y->batch);
}

/* Reopens the log after a crash and checks it against every ack so far;
 * then appends one batch of its own (acknowledged like the child's). */
static uint64_t
check_log(const char *dir, int round, acks *all, uint64_t *rs)
{
    crm_log *log;
    crm_error why;
    crm_log_opts o = CRASH_OPTS;
    if (crm_log_open(dir, TENANT, &o, &log, &why) != CRM_OK)
        fail_msg("round %d: reopen after the kill: %s (seed %" PRIu64 ")",
                 round, why.msg, seed);

    uint64_t head;
    crm_log_head(log, &head, NULL);
    scan sc = {.next = 1, .zone = msgpack_zone_new(8192)};
    assert_non_null(sc.zone);
    assert_int_equal(crm_log_read_all(log, 1, 0, scan_visit, &sc), CRM_OK);
    if (sc.err[0])
        fail_msg("round %d: %s (seed %" PRIu64 ")", round, sc.err, seed);
    if (sc.in_batch)
        fail_msg("round %d: the log ends inside batch %" PRIu64 " (%u of %u "
                 "events) (seed %" PRIu64 ")",
                 round, sc.cur.batch, sc.cur_idx, sc.cur.size, seed);
    if (sc.next - 1 != head) /* dense 1..head */
        fail_msg("round %d: records run to %" PRIu64 ", the head is %" PRIu64
                 " (seed %" PRIu64 ")",
                 round, sc.next - 1, head, seed);

    /* each batch at most once */
    if (sc.n > 0) /* (qsort and bsearch want a real array) */
        qsort(sc.v, sc.n, sizeof(*sc.v), cmp_found);
    for (size_t i = 1; i < sc.n; i++)
        if (sc.v[i].batch == sc.v[i - 1].batch)
            fail_msg("round %d: batch %" PRIu64 " is in the log twice", round,
                     sc.v[i].batch);
    /* every acknowledged batch is whole, where it was acknowledged */
    for (size_t i = 0; i < all->n; i++) {
        const ack *k = &all->v[i];
        found key = {.batch = k->batch};
        const found *f =
            sc.n ? bsearch(&key, sc.v, sc.n, sizeof(*sc.v), cmp_found) : NULL;
        if (f == NULL || f->first != k->first || f->size != k->size)
            fail_msg("round %d: acknowledged batch %" PRIu64 " (%u events at "
                     "%" PRIu64 ") is %s (seed %" PRIu64 ")",
                     round, k->batch, k->size, k->first,
                     f ? "elsewhere" : "missing", seed);
    }

    char streams[NSTREAMS][16];
    stream_names(streams);
    for (int i = 0; i < NSTREAMS; i++) {
        uint64_t v, p;
        crm_err err =
            crm_log_stream_info(log, streams[i], strlen(streams[i]), &v, &p);
        if (sc.per_stream[i] == 0) {
            assert_int_equal(err, CRM_ERR_NOT_FOUND);
            continue;
        }
        assert_int_equal(err, CRM_OK);
        assert_int_equal(v + 1, sc.per_stream[i]);
        assert_true(p <= head);
    }

    uint64_t badpos = 0;
    if (crm_log_verify(log, &badpos, &why) != CRM_OK)
        fail_msg("round %d: verify: %s at %" PRIu64 " (seed %" PRIu64 ")",
                 round, why.msg, badpos, seed);

    /* the log takes appends after the crash */
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_zone *zone = msgpack_zone_new(8192);
    assert_non_null(zone);
    uint32_t size = 1 + (uint32_t)below(rs, BATCH_MAX);
    ack k = {.batch = (uint64_t)round << ROUND_SHIFT, .size = size};
    crm_batch *b = make_batch(k.batch, size, rs, &buf, zone, streams, &why);
    assert_non_null(b);
    if (crm_log_append(log, b, &why) != CRM_OK)
        fail_msg("round %d: append after the crash: %s", round, why.msg);
    k.first = crm_batch_position(b, 0);
    assert_int_equal(k.first, head + 1);
    acks_push(all, &k);
    crm_batch_free(b);
    /* that commit began a checkpoint round over whatever the killed one
     * left in the streams index: the log verifies mid-round too */
    if (crm_log_verify(log, &badpos, &why) != CRM_OK)
        fail_msg("round %d: verify after the append: %s at %" PRIu64
                 " (seed %" PRIu64 ")",
                 round, why.msg, badpos, seed);
    msgpack_zone_free(zone);
    msgpack_sbuffer_destroy(&buf);

    crm_log_close(log);
    msgpack_zone_free(sc.zone);
    free(sc.v);
    return head + size;
}

static void
test_kill_during_appends(void **state)
{
    (void)state;
    char dir[512], data[600];
    uint64_t rs = seed;
    acks all = {0};
    uint64_t head = 0;
    int early = 0, late = 0, acked_rounds = 0;
    size_t child_acks = 0;
    int64_t t0 = now_us();

    fx_tmpdir(dir, sizeof(dir), "logcrash");
    snprintf(data, sizeof(data), "%s/data.mdb", dir);
    for (int round = 1; round <= ROUNDS; round++) {
        int nthreads = 2 + (int)below(&rs, 3);
        /* mostly 5-150 ms; one round in seven within the first 5 ms */
        int64_t delay = below(&rs, 7) == 0 ? (int64_t)below(&rs, 5000)
                                           : 5000 + (int64_t)below(&rs, 145000);
        int is_early = delay < 5000;
        early += is_early;
        int64_t after_first = (int64_t)below(&rs, 5000);
        uint64_t cseed = rnd(&rs);
        size_t before = all.n;
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        fflush(NULL); /* the child must not flush the parent's buffers */
        int64_t forked = now_us();
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_main(dir, fds[1], round, nthreads, cseed);
        }
        close(fds[1]);

        /* collect acks until the moment of the kill */
        uint8_t part[sizeof(ack)];
        size_t npart = 0;
        int live =
            collect_acks(fds[0], &all, part, &npart, forked + delay, SIZE_MAX);
        if (live && !is_early && all.n == before) {
            late++;
            live = collect_acks(fds[0], &all, part, &npart,
                                forked + FIRST_ACK_WAIT_US, before + 1);
            if (live)
                live = collect_acks(fds[0], &all, part, &npart,
                                    now_us() + after_first, SIZE_MAX);
        }
        int64_t killed = now_us();
        kill(pid, SIGKILL);
        int status;
        pid_t w;
        while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
            ;
        while (live)
            live = read_acks(fds[0], &all, part, &npart);
        close(fds[0]);
        assert_int_equal(w, pid);
        if (WIFEXITED(status))
            fail_msg("round %d: the child exited with status %d (see its "
                     "message above)",
                     round, WEXITSTATUS(status));
        if (WTERMSIG(status) != SIGKILL)
            fail_msg("round %d: the child died of signal %d", round,
                     WTERMSIG(status));
        assert_int_equal(npart, 0);
        size_t round_acks = all.n - before;
        child_acks += round_acks;
        acked_rounds += round_acks > 0;

        uint64_t was = head;
        head = check_log(dir, round, &all, &rs);
        struct stat st;
        stat(data, &st);
        printf("round %2d: %d threads, killed after %5.1f ms, %5zu batches "
               "acknowledged, log %" PRIu64 " -> %" PRIu64 " events, file %lld "
               "KiB\n",
               round, nthreads, (double)(killed - forked) / 1000.0, round_acks,
               was, head, (long long)st.st_size >> 10);
    }
    printf("%zu batches acknowledged by children in all, %d of %d rounds "
           "killed after an ack, %d early kills, %d kills delayed to the "
           "first ack, %.1f s\n",
           child_acks, acked_rounds, ROUNDS, early, late,
           (double)(now_us() - t0) / 1e6);
    /* Not vacuous: children were killed while appending, not before. */
    if (child_acks < ROUNDS)
        fail_msg("only %zu batches acknowledged by children in %d rounds "
                 "(seed %" PRIu64 ")",
                 child_acks, ROUNDS, seed);
    if (acked_rounds * 2 < ROUNDS)
        fail_msg("only %d of %d rounds killed a child after an ack (seed "
                 "%" PRIu64 ")",
                 acked_rounds, ROUNDS, seed);
    assert_true(head >= child_acks);
    free(all.v);
    fx_rmrf(dir);
}

int
main(void)
{
    const char *env = getenv("CRM_CRASH_SEED");
    if (env != NULL && env[0] != '\0') {
        seed = strtoull(env, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
    }
    printf("log_crash_test: CRM_CRASH_SEED=%" PRIu64 "\n", seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_during_appends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
