/* limits_test.c - the size limits of replies and requests, against a real
 * crmd: read.all and read.stream over ~12 MB of large events answer pages
 * of at most CRM_RPC_MAX_REPLY bytes with more/next, and following next
 * returns every event exactly once; a batch of 64 such reads shares one
 * budget; server.info reports the limits; a full append of 1000 events
 * with rich bodies passes the object limit and a request beyond it gets
 * too_large. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "crmd_fixture.h"
#include "mpcheck.h"
#include "rpc.h"
#include "uuid.h"

#define BIG_EVENTS 200
#define BIG_BODY 60000 /* bytes of the blob in each large body */
#define PER_APPEND 50  /* 50 x 60 KB stays below CRM_RPC_MAX_MSG */
/* a small event on another stream after every 20 large ones */
#define SMALL_EVENTS (BIG_EVENTS / PER_APPEND * (PER_APPEND / 20))
#define BIG_STREAM "guest-big"

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];
static crm_client *AGENT;
static uint64_t total; /* events in the tenant log */

static void
str(msgpack_packer *pk, const char *s)
{
    crm_mp_pack_cstr(pk, s);
}

/* An event map {id, stream, type, occurred_at, body: } up to the body. */
static void
event_head(msgpack_packer *pk, const char *stream, const char *type)
{
    uint8_t id[CRM_ID_LEN];
    crm_uuid_v7(id);
    msgpack_pack_map(pk, 5);
    str(pk, "id");
    msgpack_pack_bin(pk, CRM_ID_LEN);
    msgpack_pack_bin_body(pk, id, CRM_ID_LEN);
    str(pk, "stream");
    str(pk, stream);
    str(pk, "type");
    str(pk, type);
    str(pk, "occurred_at");
    msgpack_pack_int64(pk, crm_now_us());
    str(pk, "body");
}

/* x.blob {seq, blob: BIG_BODY bytes} */
static void
big_event(msgpack_packer *pk, int seq)
{
    static char blob[BIG_BODY];
    memset(blob, 'a' + seq % 26, sizeof(blob));
    event_head(pk, BIG_STREAM, "x.blob");
    msgpack_pack_map(pk, 2);
    str(pk, "seq");
    msgpack_pack_int(pk, seq);
    str(pk, "blob");
    crm_mp_pack_str(pk, blob, sizeof(blob));
}

/* Sends args (msgpack map bytes) as op; returns the result. */
static const msgpack_object *
call(crm_client *c, const char *op, const msgpack_sbuffer *args)
{
    const msgpack_object *res;
    crm_error why;
    crm_err err = crm_client_call_raw(c, op, args ? args->data : NULL,
                                      args ? args->size : 0, &res, &why);
    if (err != CRM_OK)
        fail_msg("%s: %s: %s", op, crm_err_name(err), why.msg);
    return res;
}

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 0, NULL) != 0 || fx_tenant(&D, "acme", K) != 0)
        return -1;
    AGENT = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);

    /* BIG_EVENTS large events on one stream, a small one on another
     * stream after every 20 */
    int seq = 0, small = 0;
    while (seq < BIG_EVENTS) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        int n = BIG_EVENTS - seq < PER_APPEND ? BIG_EVENTS - seq : PER_APPEND;
        int smalls = n / 20;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 1);
        str(&pk, "events");
        msgpack_pack_array(&pk, (uint32_t)(n + smalls));
        for (int i = 0; i < n; i++) {
            big_event(&pk, seq++);
            if ((i + 1) % 20 == 0) {
                char stream[32];
                snprintf(stream, sizeof(stream), "guest-small-%d", small++);
                event_head(&pk, stream, "interaction.logged");
                msgpack_pack_map(&pk, 1);
                str(&pk, "channel");
                str(&pk, "call");
            }
        }
        assert_true(sb.size <= CRM_RPC_MAX_MSG);
        const msgpack_object *res = call(AGENT, "append", &sb);
        msgpack_sbuffer_destroy(&sb);
        total = fx_res_u64(res, "head");
    }
    assert_int_equal(total, BIG_EVENTS + SMALL_EVENTS);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    crm_client_close(AGENT);
    int rc = fx_crmd_stop_clean(&D);
    fx_crmd_cleanup(&D);
    fx_reset();
    return rc;
}

/* --- raw round trips, to see each reply's size ---------------------------- */

typedef struct reply {
    msgpack_zone zone;
    msgpack_object root;
    const msgpack_object *result;
    size_t len; /* bytes of the reply on the wire */
} reply;

typedef void (*args_fn)(msgpack_packer *pk, const void *arg);

/* Sends op with the agent key and args from fn; fails the test on an
 * error reply. Free r with reply_done. */
static void
roundtrip(const char *op, args_fn fn, const void *arg, reply *r)
{
    static uint64_t id = 1;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    crm_rpc_pack_request_head(&pk, id++, op, NULL, K[CRM_ROLE_AGENT]);
    fn(&pk, arg);

    const void *buf;
    crm_error why;
    crm_err err =
        crm_client_send_bytes(AGENT, sb.data, sb.size, &buf, &r->len, &why);
    msgpack_sbuffer_destroy(&sb);
    if (err != CRM_OK)
        fail_msg("%s: no reply: %s: %s", op, crm_err_name(err), why.msg);
    size_t off = 0;
    msgpack_zone_init(&r->zone, 1 << 16);
    assert_int_equal(crm_mpcheck(buf, r->len, CRM_MP_MAX_DEPTH, NULL), CRM_OK);
    assert_int_equal(msgpack_unpack(buf, r->len, &off, &r->zone, &r->root),
                     MSGPACK_UNPACK_SUCCESS);
    err = crm_rpc_parse_reply(&r->root, NULL, &r->result, &why);
    if (err != CRM_OK)
        fail_msg("%s: %s: %s", op, crm_err_name(err), why.msg);
}

static void
reply_done(reply *r)
{
    msgpack_zone_destroy(&r->zone);
}

static int
flag(const msgpack_object *res, const char *k)
{
    const msgpack_object *o = crm_mp_get(res, k);
    if (o == NULL || o->type != MSGPACK_OBJECT_BOOLEAN)
        fail_msg("result has no boolean '%s'", k);
    return o->via.boolean;
}

typedef struct read_args {
    const char *stream; /* NULL: read.all */
    uint64_t from;
    int raw;
} read_args;

static void
pack_read(msgpack_packer *pk, const void *arg)
{
    const read_args *a = arg;
    msgpack_pack_map(pk, 2 + (a->raw != 0) + (a->stream != NULL));
    if (a->stream) {
        str(pk, "stream");
        str(pk, a->stream);
        str(pk, "from_version");
    } else {
        str(pk, "from");
    }
    msgpack_pack_uint64(pk, a->from);
    str(pk, "max");
    msgpack_pack_int(pk, CRM_RPC_MAX_READ);
    if (a->raw) {
        str(pk, "raw");
        msgpack_pack_true(pk);
    }
}

/* The blob of a large event is intact. */
static void
check_body(const msgpack_object *ev)
{
    const msgpack_object *body = crm_mp_get(ev, "body");
    const msgpack_object *seq = crm_mp_get(body, "seq");
    const msgpack_object *blob = crm_mp_get(body, "blob");
    if (blob == NULL)
        return; /* a small event */
    assert_non_null(seq);
    assert_int_equal(blob->type, MSGPACK_OBJECT_STR);
    assert_int_equal(blob->via.str.size, BIG_BODY);
    assert_int_equal(blob->via.str.ptr[0], 'a' + (int)(seq->via.u64 % 26));
    assert_int_equal(blob->via.str.ptr[BIG_BODY - 1], blob->via.str.ptr[0]);
}

/* --- read.all ------------------------------------------------------------- */

static void
test_read_all_pages(void **state)
{
    (void)state;
    uint8_t *seen = calloc(total + 2, 1);
    assert_non_null(seen);
    read_args a = {.from = 1};
    int pages = 0;
    for (;;) {
        reply r;
        roundtrip("read.all", pack_read, &a, &r);
        const msgpack_object *evs = crm_mp_get(r.result, "events");
        uint64_t next = fx_res_u64(r.result, "next");
        int more = flag(r.result, "more");
        assert_non_null(evs);
        printf("read.all from %llu: %u events, %zu bytes, next %llu, more "
               "%d\n",
               (unsigned long long)a.from, evs->via.array.size, r.len,
               (unsigned long long)next, more);
        assert_true(r.len <= CRM_RPC_MAX_REPLY);
        assert_int_equal(fx_res_u64(r.result, "head"), total);
        /* progress on every page, in order, from where we asked */
        assert_true(evs->via.array.size >= 1);
        for (uint32_t i = 0; i < evs->via.array.size; i++) {
            uint64_t pos = fx_res_u64(&evs->via.array.ptr[i], "position");
            assert_int_equal(pos, a.from + i);
            assert_true(pos >= 1 && pos <= total);
            assert_int_equal(seen[pos], 0);
            seen[pos] = 1;
            check_body(&evs->via.array.ptr[i]);
        }
        assert_int_equal(next, a.from + evs->via.array.size);
        assert_int_equal(more, next <= total);
        /* a page with more after it stopped at the budget, not at max */
        if (more)
            assert_true(evs->via.array.size < CRM_RPC_MAX_READ);
        reply_done(&r);
        pages++;
        if (!more)
            break;
        a.from = next;
    }
    for (uint64_t p = 1; p <= total; p++)
        if (!seen[p])
            fail_msg("position %llu was never returned", (unsigned long long)p);
    /* ~12 MB of events do not fit in fewer than three 4 MiB pages */
    assert_true(pages >= 3);
    free(seen);

    /* the end of the log: nothing, no more */
    a.from = total + 1;
    reply r;
    roundtrip("read.all", pack_read, &a, &r);
    assert_int_equal(crm_mp_get(r.result, "events")->via.array.size, 0);
    assert_int_equal(fx_res_u64(r.result, "next"), total + 1);
    assert_false(flag(r.result, "more"));
    reply_done(&r);
}

static void
test_read_all_raw_pages(void **state)
{
    (void)state;
    read_args a = {.from = 1, .raw = 1};
    uint64_t got = 0;
    for (;;) {
        reply r;
        roundtrip("read.all", pack_read, &a, &r);
        const msgpack_object *recs = crm_mp_get(r.result, "records");
        assert_non_null(recs);
        assert_true(r.len <= CRM_RPC_MAX_REPLY);
        assert_true(recs->via.array.size >= 1);
        got += recs->via.array.size;
        uint64_t next = fx_res_u64(r.result, "next");
        assert_int_equal(next, a.from + recs->via.array.size);
        int more = flag(r.result, "more");
        reply_done(&r);
        if (!more)
            break;
        a.from = next;
    }
    assert_int_equal(got, total);
}

/* --- read.stream ---------------------------------------------------------- */

static void
test_read_stream_pages(void **state)
{
    (void)state;
    uint8_t seen[BIG_EVENTS] = {0};
    read_args a = {.stream = BIG_STREAM, .from = 0};
    int pages = 0;
    for (;;) {
        reply r;
        roundtrip("read.stream", pack_read, &a, &r);
        const msgpack_object *evs = crm_mp_get(r.result, "events");
        uint64_t next = fx_res_u64(r.result, "next");
        int more = flag(r.result, "more");
        assert_non_null(evs);
        printf("read.stream from %llu: %u events, %zu bytes, next %llu, more "
               "%d\n",
               (unsigned long long)a.from, evs->via.array.size, r.len,
               (unsigned long long)next, more);
        assert_true(r.len <= CRM_RPC_MAX_REPLY);
        assert_int_equal(fx_res_u64(r.result, "last_version"), BIG_EVENTS - 1);
        assert_true(evs->via.array.size >= 1);
        for (uint32_t i = 0; i < evs->via.array.size; i++) {
            const msgpack_object *ev = &evs->via.array.ptr[i];
            uint64_t v = fx_res_u64(ev, "version");
            assert_int_equal(v, a.from + i);
            assert_true(v < BIG_EVENTS);
            assert_int_equal(seen[v], 0);
            seen[v] = 1;
            assert_int_equal(fx_res_u64(crm_mp_get(ev, "body"), "seq"), v);
            check_body(ev);
        }
        assert_int_equal(next, a.from + evs->via.array.size);
        assert_int_equal(more, next <= BIG_EVENTS - 1);
        reply_done(&r);
        pages++;
        if (!more)
            break;
        a.from = next;
    }
    for (int v = 0; v < BIG_EVENTS; v++)
        if (!seen[v])
            fail_msg("version %d was never returned", v);
    assert_true(pages >= 3);

    /* past the end */
    a.from = BIG_EVENTS;
    reply r;
    roundtrip("read.stream", pack_read, &a, &r);
    assert_int_equal(crm_mp_get(r.result, "events")->via.array.size, 0);
    assert_int_equal(fx_res_u64(r.result, "next"), BIG_EVENTS);
    assert_false(flag(r.result, "more"));
    reply_done(&r);
}

/* --- batch ---------------------------------------------------------------- */

static void
pack_batch(msgpack_packer *pk, const void *arg)
{
    const char *op = arg;
    read_args a = {.from = 1};
    if (strcmp(op, "read.stream") == 0) {
        a.stream = BIG_STREAM;
        a.from = 0;
    }
    msgpack_pack_map(pk, 1);
    str(pk, "ops");
    msgpack_pack_array(pk, CRM_RPC_MAX_BATCH_OPS);
    for (int i = 0; i < CRM_RPC_MAX_BATCH_OPS; i++) {
        msgpack_pack_map(pk, 2);
        str(pk, "op");
        str(pk, op);
        str(pk, "args");
        pack_read(pk, &a);
    }
}

static void
batch_of_reads(const char *op)
{
    reply r;
    roundtrip("batch", pack_batch, op, &r);
    const msgpack_object *results = crm_mp_get(r.result, "results");
    assert_non_null(results);
    assert_int_equal(results->via.array.size, CRM_RPC_MAX_BATCH_OPS);
    uint32_t events = 0, empty = 0;
    for (uint32_t i = 0; i < results->via.array.size; i++) {
        const msgpack_object *e = &results->via.array.ptr[i];
        assert_true(flag(e, "ok"));
        const msgpack_object *res = crm_mp_get(e, "result");
        const msgpack_object *evs = crm_mp_get(res, "events");
        uint64_t from = strcmp(op, "read.stream") == 0 ? 0 : 1;
        assert_non_null(evs);
        /* every entry says where to go on; there is always more here */
        assert_true(flag(res, "more"));
        assert_int_equal(fx_res_u64(res, "next"), from + evs->via.array.size);
        events += evs->via.array.size;
        empty += evs->via.array.size == 0;
    }
    printf("batch of %d %s: %zu bytes, %u events, %u entries without\n",
           CRM_RPC_MAX_BATCH_OPS, op, r.len, events, empty);
    assert_true(r.len <= CRM_RPC_MAX_REPLY);
    /* the first entry made progress; the budget ran out for later ones */
    assert_true(
        crm_mp_get(crm_mp_get(&results->via.array.ptr[0], "result"), "events")
            ->via.array.size >= 1);
    assert_true(empty > 0);
    reply_done(&r);
}

static void
test_batch_of_read_all(void **state)
{
    (void)state;
    batch_of_reads("read.all");
}

static void
test_batch_of_read_stream(void **state)
{
    (void)state;
    batch_of_reads("read.stream");
}

/* Small events: the budget runs out in the middle of one, which is packed,
 * found too large and cut off again; next must point at it, not past it. */
#define MANY_STREAM "guest-many"
#define MANY_EVENTS 1000

static void
pack_many_batch(msgpack_packer *pk, const void *arg)
{
    (void)arg;
    read_args a = {.stream = MANY_STREAM, .from = 0};
    msgpack_pack_map(pk, 1);
    str(pk, "ops");
    msgpack_pack_array(pk, 16);
    for (int i = 0; i < 16; i++) {
        msgpack_pack_map(pk, 2);
        str(pk, "op");
        str(pk, "read.stream");
        str(pk, "args");
        pack_read(pk, &a);
    }
}

static void
test_budget_cut_inside_an_event(void **state)
{
    (void)state;
    static char note[600];
    memset(note, 'n', sizeof(note));
    for (int part = 0; part < 2; part++) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 1);
        str(&pk, "events");
        msgpack_pack_array(&pk, MANY_EVENTS / 2);
        for (int i = 0; i < MANY_EVENTS / 2; i++) {
            event_head(&pk, MANY_STREAM, "x.note");
            msgpack_pack_map(&pk, 1);
            str(&pk, "text");
            crm_mp_pack_str(&pk, note, sizeof(note));
        }
        call(AGENT, "append", &sb);
        msgpack_sbuffer_destroy(&sb);
    }

    reply r;
    roundtrip("batch", pack_many_batch, NULL, &r);
    const msgpack_object *results = crm_mp_get(r.result, "results");
    assert_non_null(results);
    uint32_t cut = 0;
    for (uint32_t i = 0; i < results->via.array.size; i++) {
        const msgpack_object *res =
            crm_mp_get(&results->via.array.ptr[i], "result");
        const msgpack_object *evs = crm_mp_get(res, "events");
        uint32_t n = evs->via.array.size;
        /* versions 0 .. n-1 came, and next is n: nothing skipped */
        for (uint32_t k = 0; k < n; k++)
            assert_int_equal(fx_res_u64(&evs->via.array.ptr[k], "version"), k);
        assert_int_equal(fx_res_u64(res, "next"), n);
        assert_int_equal(flag(res, "more"), n < MANY_EVENTS);
        cut += n > 0 && n < MANY_EVENTS;
    }
    assert_true(cut >= 1); /* the budget did end inside a read */
    assert_true(r.len <= CRM_RPC_MAX_REPLY);
    reply_done(&r);
}

/* --- server.info and the request object limit ----------------------------- */

static void
test_server_info_limits(void **state)
{
    (void)state;
    const msgpack_object *res = call(AGENT, "server.info", NULL);
    const msgpack_object *lim = crm_mp_get(res, "limits");
    assert_int_equal(fx_res_u64(lim, "max_reply"), CRM_RPC_MAX_REPLY);
    assert_int_equal(fx_res_u64(lim, "max_objects"), CRM_RPC_MAX_OBJECTS);
    assert_int_equal(fx_res_u64(lim, "max_message"), CRM_RPC_MAX_MSG);
    assert_int_equal(fx_res_u64(lim, "max_read"), CRM_RPC_MAX_READ);
}

/* An append of 1000 events: every other one a customer.registered with
 * all its fields, the rest x. events with fields of small values each. */
static void
pack_rich_append(msgpack_sbuffer *sb, int xfields)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    str(&pk, "events");
    msgpack_pack_array(&pk, 1000);
    for (int i = 0; i < 1000; i++) {
        char stream[32];
        snprintf(stream, sizeof(stream), "guest-rich-%d", i);
        if (i % 2 == 0) {
            static const char *const kv[][2] = {
                {"first_name", "Ann"},        {"last_name", "Lee"},
                {"email", "ann@example.org"}, {"phone", "+4930123456"},
                {"birth_date", "1980-02-03"}, {"loyalty_number", "L-1"},
                {"address", "1 Main St"},     {"gender", "female"},
                {"nationality", "DE"},        {"language", "de"},
                {"home_property", "ber-1"},   {"source", "web"}};
            event_head(&pk, stream, "customer.registered");
            msgpack_pack_map(&pk, 12);
            for (int f = 0; f < 12; f++) {
                str(&pk, kv[f][0]);
                str(&pk, kv[f][1]);
            }
        } else {
            event_head(&pk, stream, "x.survey");
            msgpack_pack_map(&pk, (uint32_t)xfields);
            for (int f = 0; f < xfields; f++) {
                char k[16];
                snprintf(k, sizeof(k), "q%d", f);
                str(&pk, k);
                msgpack_pack_int(&pk, f % 10);
            }
        }
    }
    assert_true(sb->size < CRM_RPC_MAX_MSG);
}

static void
test_rich_append_passes(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    /* ~130 objects per customer.registered, ~330 per x. event */
    pack_rich_append(&sb, 160);
    const msgpack_object *res = call(AGENT, "append", &sb);
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(crm_mp_get(res, "positions")->via.array.size, 1000);
    total = fx_res_u64(res, "head");
}

static void
test_too_many_objects(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    const msgpack_object *res;
    crm_error why;
    /* the same shape with 600 fields per x. event: ~1.2 MB, ~620k objects */
    pack_rich_append(&sb, 600);
    crm_err err =
        crm_client_call_raw(AGENT, "append", sb.data, sb.size, &res, &why);
    msgpack_sbuffer_destroy(&sb);
    printf("append of ~620k objects -> %s (%s)\n", crm_err_name(err), why.msg);
    assert_int_equal(err, CRM_ERR_TOO_LARGE);
    /* nothing was written */
    read_args a = {.from = total + 1};
    reply r;
    roundtrip("read.all", pack_read, &a, &r);
    assert_int_equal(fx_res_u64(r.result, "head"), total);
    reply_done(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_all_pages),
        cmocka_unit_test(test_read_all_raw_pages),
        cmocka_unit_test(test_read_stream_pages),
        cmocka_unit_test(test_batch_of_read_all),
        cmocka_unit_test(test_batch_of_read_stream),
        cmocka_unit_test(test_budget_cut_inside_an_event),
        cmocka_unit_test(test_server_info_limits),
        cmocka_unit_test(test_rich_append_passes),
        cmocka_unit_test(test_too_many_objects),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
