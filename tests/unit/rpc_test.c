/* rpc_test.c - the protocol envelopes: request parsing with its limits and
 * error codes, request/reply/error packing round trips, events on the
 * wire, read-reply records with and without PII redaction, and the object
 * helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "mpcheck.h"
#include "record.h"
#include "rpc.h"
#include "utf8.h"
#include "uuid.h"

static int
teardown(void **state)
{
    (void)state;
    fx_reset();
    return 0;
}

/* --- building messages ---------------------------------------------------- */

/* One member of a hand-built map: 's' str, 'u' uint64, 'i' int64, 'n' nil,
 * 'b' bool, 'f' double, 'a' empty array, 'm' map {x: 1}, 'B' bin of
 * len bytes, 'S' str of len 'a's. */
typedef struct mem {
    const char *k;
    char t;
    const char *s;
    int64_t i;
    uint64_t u;
    size_t len;
} mem;
/* clang-format off */
#define MS(k, v) {k, 's', v, 0, 0, 0}
#define MU(k, v) {k, 'u', NULL, 0, v, 0}
#define MI(k, v) {k, 'i', NULL, v, 0, 0}
#define MN(k) {k, 'n', NULL, 0, 0, 0}
#define MB(k, v) {k, 'b', NULL, v, 0, 0}
#define MF(k) {k, 'f', NULL, 0, 0, 0}
#define MA(k) {k, 'a', NULL, 0, 0, 0}
#define MM(k) {k, 'm', NULL, 0, 0, 0}
#define MBIN(k, p, n) {k, 'B', p, 0, 0, n}
#define MSTR(k, n) {k, 'S', NULL, 0, 0, n}
/* clang-format on */

static const msgpack_object *
build(const mem *m, size_t n)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    for (size_t i = 0; i < n; i++) {
        crm_mp_pack_cstr(&pk, m[i].k);
        switch (m[i].t) {
        case 's':
            crm_mp_pack_cstr(&pk, m[i].s);
            break;
        case 'u':
            msgpack_pack_uint64(&pk, m[i].u);
            break;
        case 'i':
            msgpack_pack_int64(&pk, m[i].i);
            break;
        case 'b':
            m[i].i ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
            break;
        case 'f':
            msgpack_pack_double(&pk, 1.0);
            break;
        case 'a':
            msgpack_pack_array(&pk, 0);
            break;
        case 'm':
            msgpack_pack_map(&pk, 1);
            crm_mp_pack_cstr(&pk, "x");
            msgpack_pack_int(&pk, 1);
            break;
        case 'B':
            msgpack_pack_bin(&pk, m[i].len);
            msgpack_pack_bin_body(&pk, m[i].s, m[i].len);
            break;
        case 'S': {
            char *s = malloc(m[i].len + 1);
            memset(s, 'a', m[i].len);
            crm_mp_pack_str(&pk, s, m[i].len);
            free(s);
            break;
        }
        default:
            msgpack_pack_nil(&pk);
            break;
        }
    }
    const msgpack_object *o = fx_unpack(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return o;
}

#define MSG(...)                                                               \
    build((const mem[]){__VA_ARGS__},                                          \
          sizeof((const mem[]){__VA_ARGS__}) / sizeof(mem))

static int
str_is(const char *p, size_t len, const char *want)
{
    return p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
}

static void
expect_msg(const crm_error *why, const char *needle)
{
    if (strstr(why->msg, needle) == NULL)
        fail_msg("message '%s' does not mention '%s'", why->msg, needle);
}

/* --- requests ------------------------------------------------------------- */

static crm_err
parse(const msgpack_object *o, crm_rpc_req *r, crm_error *why)
{
    memset(why, 0, sizeof(*why));
    memset(r, 0x5a, sizeof(*r));
    crm_err err = crm_rpc_parse_request(o, r, why);
    assert_int_equal(why->code, err);
    if (err != CRM_OK) assert_true(why->msg[0] != '\0');
    return err;
}

static void
test_request_good(void **state)
{
    (void)state;
    crm_rpc_req r;
    crm_error why;

    assert_int_equal(
        parse(MSG(MU("v", 1), MU("id", 7), MS("op", "ping")), &r, &why),
        CRM_OK);
    assert_int_equal(r.id, 7);
    assert_true(str_is(r.op, r.op_len, "ping"));
    assert_null(r.tenant);
    assert_int_equal(r.tenant_len, 0);
    assert_null(r.key);
    assert_int_equal(r.key_len, 0);
    assert_null(r.args);

    /* every member, in another order */
    assert_int_equal(
        parse(MSG(MM("args"), MS("key", "crmk_x"), MS("tenant", "acme-hotels"),
                  MS("op", "read.all"), MU("id", UINT64_MAX), MU("v", 1)),
              &r, &why),
        CRM_OK);
    assert_true(r.id == UINT64_MAX); /* any u64, echoed as given */
    assert_true(str_is(r.op, r.op_len, "read.all"));
    assert_true(str_is(r.tenant, r.tenant_len, "acme-hotels"));
    assert_true(str_is(r.key, r.key_len, "crmk_x"));
    assert_non_null(r.args);
    assert_int_equal(r.args->type, MSGPACK_OBJECT_MAP);
    int64_t x;
    assert_int_equal(crm_mp_int(crm_mp_get(r.args, "x"), 0, 9, &x), 0);
    assert_int_equal(x, 1);

    /* nil tenant and key count as absent; a missing id is 0 */
    assert_int_equal(parse(MSG(MU("v", 1), MS("op", "ping"), MN("tenant"),
                               MN("key")),
                           &r, &why),
                     CRM_OK);
    assert_int_equal(r.id, 0);
    assert_null(r.tenant);
    assert_null(r.key);
    assert_null(r.args);
    /* unknown members are ignored */
    assert_int_equal(
        parse(MSG(MU("v", 1), MS("op", "ping"), MS("extra", "ignored")), &r,
              &why),
        CRM_OK);
    /* limits are inclusive */
    assert_int_equal(
        parse(MSG(MU("v", 1), MSTR("op", CRM_OP_NAME_MAX),
                  MSTR("tenant", CRM_TENANT_MAX), MSTR("key", CRM_KEY_MAX)),
              &r, &why),
        CRM_OK);
    assert_int_equal(r.op_len, CRM_OP_NAME_MAX);
    assert_int_equal(r.tenant_len, CRM_TENANT_MAX);
    assert_int_equal(r.key_len, CRM_KEY_MAX);
    /* an empty args map is a map */
    const msgpack_object *empty_args = NULL;
    {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        crm_rpc_pack_request_head(&pk, 3, "ping", NULL, NULL);
        msgpack_pack_map(&pk, 0);
        empty_args = fx_unpack(sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
    }
    assert_int_equal(parse(empty_args, &r, &why), CRM_OK);
    assert_non_null(r.args);
    assert_int_equal(r.args->via.map.size, 0);
}

static void
test_request_bad(void **state)
{
    (void)state;
    crm_rpc_req r;
    crm_error why;

    /* not a map */
    static const uint8_t arr[] = {0x92, 0x01, 0x02};
    assert_int_equal(parse(fx_unpack(arr, sizeof(arr)), &r, &why),
                     CRM_ERR_BAD_REQUEST);
    static const uint8_t str[] = {0xa1, 'x'};
    assert_int_equal(parse(fx_unpack(str, sizeof(str)), &r, &why),
                     CRM_ERR_BAD_REQUEST);

    /* version */
    assert_int_equal(parse(MSG(MU("id", 1), MS("op", "ping")), &r, &why),
                     CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "'v'");
    assert_int_equal(parse(MSG(MU("v", 2), MS("op", "ping")), &r, &why),
                     CRM_ERR_BAD_VERSION);
    assert_int_equal(parse(MSG(MU("v", 0), MS("op", "ping")), &r, &why),
                     CRM_ERR_BAD_VERSION);
    assert_int_equal(parse(MSG(MI("v", -1), MS("op", "ping")), &r, &why),
                     CRM_ERR_BAD_VERSION);
    assert_int_equal(
        parse(MSG(MU("v", UINT64_MAX), MS("op", "ping")), &r, &why),
        CRM_ERR_BAD_VERSION);
    assert_int_equal(
        parse(MSG(MU("v", (1ull << 32) + 1), MS("op", "ping")), &r, &why),
        CRM_ERR_BAD_VERSION);
    assert_int_equal(parse(MSG(MS("v", "1"), MS("op", "ping")), &r, &why),
                     CRM_ERR_BAD_REQUEST);
    assert_int_equal(parse(MSG(MF("v"), MS("op", "ping")), &r, &why),
                     CRM_ERR_BAD_REQUEST);
    assert_int_equal(parse(MSG(MN("v"), MS("op", "ping")), &r, &why),
                     CRM_ERR_BAD_REQUEST);

    /* args is a map or absent: nil is neither */
    assert_int_equal(
        parse(MSG(MU("v", 1), MS("op", "ping"), MN("args")), &r, &why),
        CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "'args' must be a map");
    /* a key twice, in the envelope or in any map below it */
    assert_int_equal(parse(MSG(MU("v", 1), MS("op", "ping"), MS("op", "tenant.create")),
                           &r, &why),
                     CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "'op' twice");
    assert_int_equal(parse(MSG(MU("v", 1), MU("v", 1), MS("op", "ping")),
                           &r, &why),
                     CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "'v' twice");
    /* op, tenant and key must be UTF-8; the message stays UTF-8 */
    static const char *const members[] = {"op", "tenant", "key"};
    for (size_t i = 0; i < 3; i++) {
        const msgpack_object *o =
            i == 0 ? MSG(MU("v", 1), MS("op", "pi\xffng"))
            : i == 1
                ? MSG(MU("v", 1), MS("op", "ping"), MS("tenant", "a\xc3("))
                : MSG(MU("v", 1), MS("op", "ping"), MS("key", "crmk_\xe2\x82"));
        assert_int_equal(parse(o, &r, &why), CRM_ERR_BAD_UTF8);
        expect_msg(&why, members[i]);
        assert_true(crm_utf8_valid(why.msg, strlen(why.msg)));
    }
    expect_msg(&why, "not shown"); /* a key is never echoed */

    /* op */
    assert_int_equal(parse(MSG(MU("v", 1)), &r, &why), CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "op");
    assert_int_equal(parse(MSG(MU("v", 1), MN("op")), &r, &why),
                     CRM_ERR_BAD_REQUEST);
    assert_int_equal(parse(MSG(MU("v", 1), MU("op", 3)), &r, &why),
                     CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "op");
    assert_int_equal(parse(MSG(MU("v", 1), MBIN("op", "ping", 4)), &r, &why),
                     CRM_ERR_BAD_REQUEST);
    assert_int_equal(
        parse(MSG(MU("v", 1), MSTR("op", CRM_OP_NAME_MAX + 1)), &r, &why),
        CRM_ERR_TOO_LARGE);
    expect_msg(&why, "op");

    /* tenant and key */
    assert_int_equal(parse(MSG(MU("v", 1), MS("op", "ping"),
                               MSTR("tenant", CRM_TENANT_MAX + 1)),
                           &r, &why),
                     CRM_ERR_TOO_LARGE);
    expect_msg(&why, "tenant");
    assert_int_equal(
        parse(MSG(MU("v", 1), MS("op", "ping"), MU("tenant", 1)), &r, &why),
        CRM_ERR_BAD_REQUEST);
    assert_int_equal(
        parse(MSG(MU("v", 1), MS("op", "ping"), MSTR("key", CRM_KEY_MAX + 1)),
              &r, &why),
        CRM_ERR_TOO_LARGE);
    expect_msg(&why, "key");
    assert_int_equal(
        parse(MSG(MU("v", 1), MS("op", "ping"), MA("key")), &r, &why),
        CRM_ERR_BAD_REQUEST);
    assert_int_equal(
        parse(MSG(MU("v", 1), MS("op", "ping"), MSTR("key", 100000)), &r, &why),
        CRM_ERR_TOO_LARGE);

    /* args */
    assert_int_equal(
        parse(MSG(MU("v", 1), MS("op", "ping"), MA("args")), &r, &why),
        CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "args");
    assert_int_equal(
        parse(MSG(MU("v", 1), MS("op", "ping"), MS("args", "x")), &r, &why),
        CRM_ERR_BAD_REQUEST);
    assert_int_equal(
        parse(MSG(MU("v", 1), MS("op", "ping"), MU("args", 1)), &r, &why),
        CRM_ERR_BAD_REQUEST);

    /* id */
    assert_int_equal(
        parse(MSG(MU("v", 1), MS("op", "ping"), MI("id", -1)), &r, &why),
        CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "id");
    assert_int_equal(r.id, 0);
    assert_int_equal(
        parse(MSG(MU("v", 1), MS("op", "ping"), MS("id", "7")), &r, &why),
        CRM_ERR_BAD_REQUEST);
    assert_int_equal(
        parse(MSG(MU("v", 1), MS("op", "ping"), MF("id")), &r, &why),
        CRM_ERR_BAD_REQUEST);
    assert_int_equal(
        parse(MSG(MU("v", 1), MS("op", "ping"), MN("id")), &r, &why),
        CRM_ERR_BAD_REQUEST);
}

static void
test_request_id_kept_on_error(void **state)
{
    (void)state;
    crm_rpc_req r;
    crm_error why;

    /* whatever is wrong later, wherever id sits in the map */
    assert_int_equal(parse(MSG(MU("v", 2), MU("id", 41)), &r, &why),
                     CRM_ERR_BAD_VERSION);
    assert_int_equal(r.id, 41);
    assert_int_equal(parse(MSG(MU("id", 42)), &r, &why), CRM_ERR_BAD_REQUEST);
    assert_int_equal(r.id, 42);
    assert_int_equal(
        parse(MSG(MU("v", 1), MU("op", 1), MU("id", 43)), &r, &why),
        CRM_ERR_BAD_REQUEST);
    assert_int_equal(r.id, 43);
    assert_int_equal(
        parse(MSG(MU("id", 44), MU("v", 1), MSTR("op", CRM_OP_NAME_MAX + 1)),
              &r, &why),
        CRM_ERR_TOO_LARGE);
    assert_int_equal(r.id, 44);
    assert_int_equal(parse(MSG(MS("key", "k"), MU("v", 1), MS("op", "ping"),
                               MSTR("tenant", 99), MU("id", 45)),
                           &r, &why),
                     CRM_ERR_TOO_LARGE);
    assert_int_equal(r.id, 45);
    assert_int_equal(
        parse(MSG(MA("args"), MU("v", 1), MS("op", "ping"), MU("id", 46)), &r,
              &why),
        CRM_ERR_BAD_REQUEST);
    assert_int_equal(r.id, 46);
    assert_int_equal(parse(MSG(MS("v", "one"), MU("id", UINT64_MAX)), &r, &why),
                     CRM_ERR_BAD_REQUEST);
    assert_true(r.id == UINT64_MAX);
}

/* Packs a request head with a two-member args map. */
static const msgpack_object *
packed_request(uint64_t id, const char *op, const char *tenant, const char *key,
               size_t *size)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(crm_rpc_pack_request_head(&pk, id, op, tenant, key), 0);
    msgpack_pack_map(&pk, 2);
    crm_mp_pack_cstr(&pk, "stream");
    crm_mp_pack_cstr(&pk, "guest-1");
    crm_mp_pack_cstr(&pk, "max");
    msgpack_pack_int(&pk, 50);
    /* what the server checks before unpacking */
    assert_int_equal(crm_mpcheck(sb.data, sb.size, CRM_RPC_MAX_DEPTH, NULL),
                     CRM_OK);
    *size = sb.size;
    const msgpack_object *o = fx_unpack(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return o;
}

static void
test_request_round_trip(void **state)
{
    (void)state;
    crm_rpc_req r;
    crm_error why;
    size_t size;
    int64_t max;

    const msgpack_object *o =
        packed_request(123456789012ull, "read.stream", "acme-hotels",
                       "crmk_0123456789abcdef_00", &size);
    assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(o->via.map.size, 6);
    assert_int_equal(parse(o, &r, &why), CRM_OK);
    assert_true(r.id == 123456789012ull);
    assert_true(str_is(r.op, r.op_len, "read.stream"));
    assert_true(str_is(r.tenant, r.tenant_len, "acme-hotels"));
    assert_true(str_is(r.key, r.key_len, "crmk_0123456789abcdef_00"));
    assert_non_null(r.args);
    const msgpack_object *s = crm_mp_get(r.args, "stream");
    assert_true(crm_mp_is_str(s));
    assert_true(str_is(s->via.str.ptr, s->via.str.size, "guest-1"));
    assert_int_equal(crm_mp_int(crm_mp_get(r.args, "max"), 0, 1000, &max), 0);
    assert_int_equal(max, 50);

    /* without tenant and key those members are left out */
    o = packed_request(0, "ping", NULL, NULL, &size);
    assert_int_equal(o->via.map.size, 4);
    assert_null(crm_mp_get(o, "tenant"));
    assert_null(crm_mp_get(o, "key"));
    assert_int_equal(parse(o, &r, &why), CRM_OK);
    assert_int_equal(r.id, 0);
    assert_null(r.tenant);
    assert_null(r.key);
    o = packed_request(UINT64_MAX, "append", "t", NULL, &size);
    assert_int_equal(parse(o, &r, &why), CRM_OK);
    assert_true(r.id == UINT64_MAX);
    assert_true(str_is(r.tenant, r.tenant_len, "t"));
    assert_null(r.key);
    o = packed_request(5, "tenant.list", NULL, "k", &size);
    assert_int_equal(parse(o, &r, &why), CRM_OK);
    assert_null(r.tenant);
    assert_true(str_is(r.key, r.key_len, "k"));
}

/* --- the pre-check of requests -------------------------------------------- */

/* An append of 1000 events, every other one a customer.registered with all
 * of its fields, the others x. events with xfields small fields. */
static void
pack_full_append(msgpack_sbuffer *sb, int xfields)
{
    static const char *const kv[][2] = {
        {"first_name", "Ann"},        {"last_name", "Lee"},
        {"email", "ann@example.org"}, {"phone", "+4930123456"},
        {"birth_date", "1980-02-03"}, {"loyalty_number", "L-1"},
        {"address", "1 Main St"},     {"gender", "female"},
        {"nationality", "DE"},        {"language", "de"},
        {"home_property", "ber-1"},   {"source", "web"}};
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    crm_rpc_pack_request_head(&pk, 7, "append", "acme",
                              "crmk_0123456789abcdef_00");
    msgpack_pack_map(&pk, 1);
    crm_mp_pack_cstr(&pk, "events");
    msgpack_pack_array(&pk, 1000);
    for (int i = 0; i < 1000; i++) {
        crm_event_in e;
        char stream[32];
        msgpack_sbuffer body;
        msgpack_packer bp;
        msgpack_sbuffer_init(&body);
        msgpack_packer_init(&bp, &body, msgpack_sbuffer_write);
        snprintf(stream, sizeof(stream), "guest-%d", i);
        if (i % 2 == 0) {
            msgpack_pack_map(&bp, 12);
            for (int f = 0; f < 12; f++) {
                crm_mp_pack_cstr(&bp, kv[f][0]);
                crm_mp_pack_cstr(&bp, kv[f][1]);
            }
        } else {
            msgpack_pack_map(&bp, (uint32_t)xfields);
            for (int f = 0; f < xfields; f++) {
                char k[16];
                snprintf(k, sizeof(k), "q%d", f);
                crm_mp_pack_cstr(&bp, k);
                msgpack_pack_int(&bp, f % 10);
            }
        }
        fx_event(&e, stream, i % 2 ? "x.survey" : "customer.registered",
                 fx_unpack(body.data, body.size));
        msgpack_sbuffer_destroy(&body);
        assert_int_equal(crm_rpc_pack_event(&pk, &e), 0);
    }
}

static void
test_check_request(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    crm_error why;

    /* a full append with rich bodies passes: ~130 objects per
     * customer.registered, ~330 per x. event of 160 fields */
    pack_full_append(&sb, 160);
    assert_true(sb.size < CRM_RPC_MAX_MSG);
    assert_int_equal(crm_rpc_check_request(sb.data, sb.size, &why), CRM_OK);
    msgpack_sbuffer_destroy(&sb);
    /* with 300 fields the same shape holds ~330k objects in ~0.9 MB */
    pack_full_append(&sb, 300);
    assert_true(sb.size < CRM_RPC_MAX_MSG);
    assert_int_equal(crm_rpc_check_request(sb.data, sb.size, &why),
                     CRM_ERR_TOO_LARGE);
    assert_non_null(strstr(why.msg, "objects"));
    msgpack_sbuffer_destroy(&sb);

    /* exactly CRM_RPC_MAX_OBJECTS passes, one more does not: a ping whose
     * args hold {pad: [nil...]} */
    for (int extra = 0; extra <= 1; extra++) {
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        crm_rpc_pack_request_head(&pk, 1, "ping", NULL, NULL);
        /* so far: the request map, 4 keys, 3 values */
        msgpack_pack_map(&pk, 1);
        crm_mp_pack_cstr(&pk, "pad");
        uint32_t n = CRM_RPC_MAX_OBJECTS - 8 - 3 + (uint32_t)extra;
        msgpack_pack_array(&pk, n);
        for (uint32_t i = 0; i < n; i++)
            msgpack_pack_nil(&pk);
        assert_int_equal(crm_rpc_check_request(sb.data, sb.size, NULL),
                         extra ? CRM_ERR_TOO_LARGE : CRM_OK);
        msgpack_sbuffer_destroy(&sb);
    }

    /* 1M nils: 1 MB on the wire */
    uint8_t *b = malloc(5 + (1u << 20));
    assert_non_null(b);
    memcpy(b, "\xdd\x00\x10\x00\x00", 5);
    memset(b + 5, 0xc0, 1u << 20);
    assert_int_equal(crm_rpc_check_request(b, 5 + (1u << 20), &why),
                     CRM_ERR_TOO_LARGE);
    free(b);

    /* over CRM_RPC_MAX_MSG, whatever the bytes */
    b = calloc(1, CRM_RPC_MAX_MSG + 1);
    assert_non_null(b);
    assert_int_equal(crm_rpc_check_request(b, CRM_RPC_MAX_MSG + 1, &why),
                     CRM_ERR_TOO_LARGE);
    free(b);

    /* structure is still checked: truncated, trailing, too deep */
    assert_int_equal(crm_rpc_check_request("\x82\xa1v", 3, NULL),
                     CRM_ERR_BAD_REQUEST);
    assert_int_equal(crm_rpc_check_request("\x80\x80", 2, NULL),
                     CRM_ERR_BAD_REQUEST);
    uint8_t deep[CRM_RPC_MAX_DEPTH + 2];
    memset(deep, 0x91, sizeof(deep));
    deep[CRM_RPC_MAX_DEPTH] = 0x01; /* 16 arrays around a 1 */
    assert_int_equal(crm_rpc_check_request(deep, CRM_RPC_MAX_DEPTH + 1, NULL),
                     CRM_OK);
    deep[CRM_RPC_MAX_DEPTH] = 0x91; /* 17 */
    deep[CRM_RPC_MAX_DEPTH + 1] = 0x01;
    assert_int_equal(crm_rpc_check_request(deep, sizeof(deep), NULL),
                     CRM_ERR_BAD_REQUEST);
}

/* --- replies -------------------------------------------------------------- */

static const msgpack_object *
sbuf_obj(msgpack_sbuffer *sb)
{
    assert_int_equal(crm_mpcheck(sb->data, sb->size, CRM_RPC_MAX_DEPTH, NULL),
                     CRM_OK);
    const msgpack_object *o = fx_unpack(sb->data, sb->size);
    msgpack_sbuffer_clear(sb);
    return o;
}

static void
test_reply_round_trip(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    crm_error why;
    uint64_t id = 1;
    static const msgpack_object dummy = {.type = MSGPACK_OBJECT_NIL};
    const msgpack_object *result = &dummy;
    int64_t v;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(crm_rpc_pack_reply_head(&pk, 987654321), 0);
    msgpack_pack_map(&pk, 1);
    crm_mp_pack_cstr(&pk, "position");
    msgpack_pack_uint64(&pk, 77);
    const msgpack_object *o = sbuf_obj(&sb);
    memset(&why, 0x5a, sizeof(why));
    assert_int_equal(crm_rpc_parse_reply(o, &id, &result, &why), CRM_OK);
    assert_int_equal(why.code, CRM_OK);
    assert_int_equal(id, 987654321);
    assert_non_null(result);
    assert_int_equal(crm_mp_int(crm_mp_get(result, "position"), 0, 100, &v), 0);
    assert_int_equal(v, 77);
    /* the id pointer is optional */
    assert_int_equal(crm_rpc_parse_reply(o, NULL, &result, NULL), CRM_OK);

    /* a result that is not a map (ping answers a string, say) */
    crm_rpc_pack_reply_head(&pk, UINT64_MAX);
    crm_mp_pack_cstr(&pk, "pong");
    o = sbuf_obj(&sb);
    assert_int_equal(crm_rpc_parse_reply(o, &id, &result, &why), CRM_OK);
    assert_true(id == UINT64_MAX);
    assert_true(crm_mp_is_str(result));
    msgpack_sbuffer_destroy(&sb);
}

static void
test_error_round_trip(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    crm_error why;
    uint64_t id;
    const msgpack_object *result;
    static const struct {
        crm_err code;
        const char *name;
    } codes[] = {
#define CODE_ROW(e, n, name, msg) {e, name},
        CRM_ERR_MAP(CODE_ROW)
#undef CODE_ROW
    };

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (codes[i].code == CRM_OK) continue;
        char msg[100];
        snprintf(msg, sizeof(msg), "stream 'g-%zu' is at version 3", i);
        assert_int_equal(crm_rpc_pack_error(&pk, 1000 + i, codes[i].code, msg),
                         0);
        const msgpack_object *o = sbuf_obj(&sb);
        /* the wire form: {v, id, ok: false, error: {code, name, message}} */
        const msgpack_object *ok = crm_mp_get(o, "ok");
        assert_non_null(ok);
        assert_int_equal(ok->type, MSGPACK_OBJECT_BOOLEAN);
        assert_false(ok->via.boolean);
        const msgpack_object *e = crm_mp_get(o, "error");
        const msgpack_object *name = crm_mp_get(e, "name");
        assert_true(crm_mp_is_str(name));
        assert_true(
            str_is(name->via.str.ptr, name->via.str.size, codes[i].name));
        int64_t code;
        assert_int_equal(crm_mp_int(crm_mp_get(e, "code"), 0, 1000, &code), 0);
        assert_int_equal(code, codes[i].code);

        memset(&why, 0, sizeof(why));
        id = 0;
        result = o;
        assert_int_equal(crm_rpc_parse_reply(o, &id, &result, &why),
                         codes[i].code);
        assert_int_equal(why.code, codes[i].code);
        assert_string_equal(why.msg, msg);
        assert_int_equal(id, 1000 + i);
        assert_null(result);
    }

    /* no message: the default one travels */
    crm_rpc_pack_error(&pk, 9, CRM_ERR_FORBIDDEN, NULL);
    const msgpack_object *o = sbuf_obj(&sb);
    assert_int_equal(crm_rpc_parse_reply(o, &id, &result, &why),
                     CRM_ERR_FORBIDDEN);
    assert_string_equal(why.msg, crm_strerror(CRM_ERR_FORBIDDEN));
    crm_rpc_pack_error(&pk, 9, CRM_ERR_CONFLICT, "");
    o = sbuf_obj(&sb);
    assert_int_equal(crm_rpc_parse_reply(o, &id, &result, &why),
                     CRM_ERR_CONFLICT);
    assert_string_equal(why.msg, crm_strerror(CRM_ERR_CONFLICT));

    /* the error map alone (batch results) */
    crm_rpc_pack_error_map(&pk, CRM_ERR_NOT_FOUND, "no stream 'g-9'");
    o = sbuf_obj(&sb);
    assert_int_equal(crm_rpc_parse_error_map(o, &why), CRM_ERR_NOT_FOUND);
    assert_string_equal(why.msg, "no stream 'g-9'");

    /* a code this client does not know becomes internal, with the
     * server's name kept */
    o = MSG(MU("code", 99), MS("name", "future_thing"), MS("message", "m"));
    assert_int_equal(crm_rpc_parse_error_map(o, &why), CRM_ERR_INTERNAL);
    expect_msg(&why, "future_thing");
    expect_msg(&why, "m");
    o = MSG(MU("code", 99));
    assert_int_equal(crm_rpc_parse_error_map(o, &why), CRM_ERR_INTERNAL);
    /* malformed error maps */
    o = MSG(MU("code", 0), MS("message", "ok?"));
    assert_int_equal(crm_rpc_parse_error_map(o, &why), CRM_ERR_INTERNAL);
    o = MSG(MS("code", "conflict"));
    assert_int_equal(crm_rpc_parse_error_map(o, &why), CRM_ERR_INTERNAL);
    assert_int_equal(crm_rpc_parse_error_map(NULL, &why), CRM_ERR_INTERNAL);
    o = MSG(MU("v", 1), MB("ok", 0), MU("id", 3));
    assert_int_equal(crm_rpc_parse_reply(o, &id, &result, &why),
                     CRM_ERR_INTERNAL);
    o = MSG(MU("v", 1), MB("ok", 0), MS("error", "conflict"));
    assert_int_equal(crm_rpc_parse_reply(o, &id, &result, &why),
                     CRM_ERR_INTERNAL);
    msgpack_sbuffer_destroy(&sb);
}

static void
test_reply_bad(void **state)
{
    (void)state;
    crm_error why;
    uint64_t id;
    const msgpack_object *result;

    static const uint8_t arr[] = {0x91, 0x01};
    assert_int_equal(crm_rpc_parse_reply(fx_unpack(arr, 2), &id, &result, &why),
                     CRM_ERR_BAD_VERSION);
    assert_int_equal(
        crm_rpc_parse_reply(MSG(MU("id", 1), MB("ok", 1)), &id, &result, &why),
        CRM_ERR_BAD_VERSION);
    assert_int_equal(
        crm_rpc_parse_reply(MSG(MU("v", 2), MB("ok", 1)), &id, &result, &why),
        CRM_ERR_BAD_VERSION);
    assert_int_equal(crm_rpc_parse_reply(MSG(MU("v", 1)), &id, &result, &why),
                     CRM_ERR_BAD_VERSION);
    assert_int_equal(
        crm_rpc_parse_reply(MSG(MU("v", 1), MU("ok", 1)), &id, &result, &why),
        CRM_ERR_BAD_VERSION);
    assert_true(why.msg[0] != '\0');
    /* ok without a result: CRM_OK and no result */
    static const msgpack_object dummy = {.type = MSGPACK_OBJECT_NIL};
    result = &dummy;
    assert_int_equal(
        crm_rpc_parse_reply(MSG(MU("v", 1), MB("ok", 1), MI("id", -4)), &id,
                            &result, &why),
        CRM_OK);
    assert_null(result);
    assert_int_equal(id, 0); /* a bad id reads as 0 */
}

/* --- events --------------------------------------------------------------- */

static crm_err
event_in(const msgpack_object *o, crm_event_in *e, crm_error *why)
{
    memset(why, 0, sizeof(*why));
    crm_err err = crm_rpc_event_in(o, e, why);
    assert_int_equal(why->code, err);
    if (err != CRM_OK) assert_true(why->msg[0] != '\0');
    return err;
}

static void
test_event_in(void **state)
{
    (void)state;
    crm_event_in e;
    crm_error why;
    uint8_t id[16];
    char text[CRM_UUID_STRLEN + 1], upper[CRM_UUID_STRLEN + 1];

    crm_uuid_v7(id);
    crm_uuid_format(id, text);
    for (size_t i = 0; i <= CRM_UUID_STRLEN; i++)
        upper[i] =
            (char)(text[i] >= 'a' && text[i] <= 'f' ? text[i] - 32 : text[i]);

    /* bin id */
    assert_int_equal(
        event_in(MSG(MBIN("id", (const char *)id, 16), MS("stream", "guest-1"),
                     MS("type", "spend.recorded"),
                     MU("occurred_at", 1700000000000000ull), MM("body")),
                 &e, &why),
        CRM_OK);
    assert_memory_equal(e.id, id, 16);
    assert_true(str_is(e.stream, e.stream_len, "guest-1"));
    assert_true(str_is(e.type, e.type_len, "spend.recorded"));
    assert_int_equal(e.occurred_at, 1700000000000000ll);
    assert_non_null(e.body);
    assert_int_equal(e.body->type, MSGPACK_OBJECT_MAP);

    /* UUID string id, either case; no body */
    assert_int_equal(event_in(MSG(MS("id", text), MS("stream", "s"),
                                  MS("type", "x.t"), MU("occurred_at", 1)),
                              &e, &why),
                     CRM_OK);
    assert_memory_equal(e.id, id, 16);
    assert_null(e.body);
    assert_int_equal(e.occurred_at, 1);
    assert_int_equal(
        event_in(MSG(MS("id", upper), MS("stream", "s"), MS("type", "x.t"),
                     MI("occurred_at", CRM_TIME_MAX)),
                 &e, &why),
        CRM_OK);
    assert_memory_equal(e.id, id, 16);
    assert_int_equal(e.occurred_at, CRM_TIME_MAX);

    /* bad ids */
    char bad[CRM_UUID_STRLEN + 1];
    memcpy(bad, text, sizeof(bad));
    bad[0] = 'g';
    const msgpack_object *bads[] = {
        MSG(MBIN("id", (const char *)id, 15), MS("stream", "s"),
            MS("type", "x.t"), MU("occurred_at", 1)),
        MSG(MBIN("id", "0123456789abcdefg", 17), MS("stream", "s"),
            MS("type", "x.t"), MU("occurred_at", 1)),
        MSG(MS("id", bad), MS("stream", "s"), MS("type", "x.t"),
            MU("occurred_at", 1)),
        MSG(MS("id", "0000"), MS("stream", "s"), MS("type", "x.t"),
            MU("occurred_at", 1)),
        MSG(MSTR("id", 36), MS("stream", "s"), MS("type", "x.t"),
            MU("occurred_at", 1)),
        MSG(MU("id", 5), MS("stream", "s"), MS("type", "x.t"),
            MU("occurred_at", 1)),
        MSG(MN("id"), MS("stream", "s"), MS("type", "x.t"),
            MU("occurred_at", 1)),
        MSG(MS("stream", "s"), MS("type", "x.t"), MU("occurred_at", 1)),
    };
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        if (event_in(bads[i], &e, &why) != CRM_ERR_BAD_REQUEST)
            fail_msg("bad id %zu accepted", i);
        expect_msg(&why, "id");
    }
    /* dashes in the wrong places */
    char moved[CRM_UUID_STRLEN + 1];
    memcpy(moved, text, sizeof(moved));
    moved[8] = moved[9];
    moved[9] = '-';
    assert_int_equal(event_in(MSG(MS("id", moved), MS("stream", "s"),
                                  MS("type", "x.t"), MU("occurred_at", 1)),
                              &e, &why),
                     CRM_ERR_BAD_REQUEST);

    /* stream and type */
    const msgpack_object *nost[] = {
        MSG(MS("id", text), MS("type", "x.t"), MU("occurred_at", 1)),
        MSG(MS("id", text), MS("stream", "s"), MU("occurred_at", 1)),
        MSG(MS("id", text), MU("stream", 1), MS("type", "x.t"),
            MU("occurred_at", 1)),
        MSG(MS("id", text), MS("stream", "s"), MN("type"),
            MU("occurred_at", 1)),
        MSG(MS("id", text), MBIN("stream", "s", 1), MS("type", "x.t"),
            MU("occurred_at", 1)),
    };
    for (size_t i = 0; i < sizeof(nost) / sizeof(nost[0]); i++) {
        if (event_in(nost[i], &e, &why) != CRM_ERR_BAD_REQUEST)
            fail_msg("event %zu without string stream/type accepted", i);
    }

    /* occurred_at */
    const msgpack_object *badt[] = {
        MSG(MS("id", text), MS("stream", "s"), MS("type", "x.t")),
        MSG(MS("id", text), MS("stream", "s"), MS("type", "x.t"),
            MU("occurred_at", 0)),
        MSG(MS("id", text), MS("stream", "s"), MS("type", "x.t"),
            MI("occurred_at", -5)),
        MSG(MS("id", text), MS("stream", "s"), MS("type", "x.t"),
            MI("occurred_at", CRM_TIME_MAX + 1)),
        MSG(MS("id", text), MS("stream", "s"), MS("type", "x.t"),
            MU("occurred_at", UINT64_MAX)),
        MSG(MS("id", text), MS("stream", "s"), MS("type", "x.t"),
            MS("occurred_at", "2026-01-01T00:00:00Z")),
        MSG(MS("id", text), MS("stream", "s"), MS("type", "x.t"),
            MF("occurred_at")),
        MSG(MS("id", text), MS("stream", "s"), MS("type", "x.t"),
            MN("occurred_at")),
    };
    for (size_t i = 0; i < sizeof(badt) / sizeof(badt[0]); i++) {
        if (event_in(badt[i], &e, &why) != CRM_ERR_BAD_REQUEST)
            fail_msg("bad occurred_at %zu accepted", i);
        expect_msg(&why, "occurred_at");
    }

    /* not a map */
    static const uint8_t arr[] = {0x90};
    assert_int_equal(event_in(fx_unpack(arr, 1), &e, &why),
                     CRM_ERR_BAD_REQUEST);
}

static void
same_object(const msgpack_object *a, const msgpack_object *b)
{
    msgpack_sbuffer sa, sb;
    msgpack_packer pa, pb;
    msgpack_sbuffer_init(&sa);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pa, &sa, msgpack_sbuffer_write);
    msgpack_packer_init(&pb, &sb, msgpack_sbuffer_write);
    crm_mp_pack_object(&pa, a);
    crm_mp_pack_object(&pb, b);
    assert_int_equal(sa.size, sb.size);
    assert_memory_equal(sa.data, sb.data, sa.size);
    assert_true(msgpack_object_equal(*a, *b));
    msgpack_sbuffer_destroy(&sa);
    msgpack_sbuffer_destroy(&sb);
}

static void
test_event_round_trip(void **state)
{
    (void)state;
    crm_event_in ev, back;
    crm_error why;
    msgpack_sbuffer sb;
    msgpack_packer pk;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    fx_event(&ev, "guest-0042", "spend.recorded",
             FX_BODY(FX_I("amount", -1250), FX_S("currency", "EUR"),
                     FX_S("category", "spa"), FX_S("property", "Porto")));
    assert_int_equal(crm_rpc_pack_event(&pk, &ev), 0);
    const msgpack_object *o = sbuf_obj(&sb);
    assert_int_equal(o->via.map.size, 5);
    const msgpack_object *id = crm_mp_get(o, "id");
    assert_int_equal(id->type, MSGPACK_OBJECT_BIN);
    assert_int_equal(id->via.bin.size, 16);
    assert_int_equal(event_in(o, &back, &why), CRM_OK);
    assert_memory_equal(back.id, ev.id, 16);
    assert_true(str_is(back.stream, back.stream_len, "guest-0042"));
    assert_true(str_is(back.type, back.type_len, "spend.recorded"));
    assert_int_equal(back.occurred_at, ev.occurred_at);
    assert_non_null(back.body);
    same_object(back.body, ev.body);

    /* the canonical content is the same either way */
    msgpack_sbuffer c1, c2;
    msgpack_sbuffer_init(&c1);
    msgpack_sbuffer_init(&c2);
    assert_int_equal(crm_event_encode(&ev, &c1, &why), CRM_OK);
    assert_int_equal(crm_event_encode(&back, &c2, &why), CRM_OK);
    assert_int_equal(c1.size, c2.size);
    assert_memory_equal(c1.data, c2.data, c1.size);
    msgpack_sbuffer_destroy(&c1);
    msgpack_sbuffer_destroy(&c2);

    /* a NULL body goes out as an empty map */
    ev.body = NULL;
    ev.occurred_at = CRM_TIME_MAX;
    crm_rpc_pack_event(&pk, &ev);
    o = sbuf_obj(&sb);
    assert_int_equal(event_in(o, &back, &why), CRM_OK);
    assert_non_null(back.body);
    assert_int_equal(back.body->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(back.body->via.map.size, 0);
    assert_int_equal(back.occurred_at, CRM_TIME_MAX);
    msgpack_sbuffer_destroy(&sb);
}

/* --- records -------------------------------------------------------------- */

typedef struct stored {
    crm_event_in ev;
    uint8_t buf[8192];
    size_t len;
    msgpack_zone *zone;
    crm_record r;
} stored;

static void
store_event(stored *s, const char *type, const msgpack_object *body)
{
    crm_record_hdr h;
    msgpack_sbuffer sb;
    crm_error why;
    uint8_t hash[CRM_HASH_LEN];

    memset(&h, 0, sizeof(h));
    fx_event(&s->ev, "guest-7", type, body);
    h.tenant = "acme-hotels";
    h.tenant_len = 11;
    h.position = 4242;
    h.version = 17;
    h.stream_prev = 4100;
    h.recorded_at = s->ev.occurred_at + 99;
    h.actor = "0123456789abcdef";
    h.actor_len = 16;
    for (int i = 0; i < CRM_HASH_LEN; i++)
        h.prev_hash[i] = (uint8_t)i;
    size_t hl = crm_record_hdr_encode(&h, s->buf);
    msgpack_sbuffer_init(&sb);
    if (crm_event_encode(&s->ev, &sb, &why) != CRM_OK)
        fail_msg("encode: %s", why.msg);
    memcpy(s->buf + hl, sb.data, sb.size);
    size_t rlen = hl + sb.size;
    msgpack_sbuffer_destroy(&sb);
    crm_record_seal(s->buf, rlen, h.prev_hash, hash);
    s->len = rlen + CRM_RECORD_TRAILER;
    s->zone = msgpack_zone_new(1024);
    if (crm_record_decode(s->buf, s->len, s->zone, &s->r, &why) != CRM_OK)
        fail_msg("decode: %s", why.msg);
}

static const msgpack_object *
pack_record(const crm_record *r, int redact)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(crm_rpc_pack_record(&pk, r, redact), 0);
    const msgpack_object *o = sbuf_obj(&sb);
    msgpack_sbuffer_destroy(&sb);
    return o;
}

static void
check_common(const msgpack_object *o, const stored *s)
{
    int64_t v;
    const msgpack_object *x;
    assert_int_equal(crm_mp_int(crm_mp_get(o, "position"), 0, INT64_MAX, &v),
                     0);
    assert_int_equal(v, 4242);
    assert_int_equal(crm_mp_int(crm_mp_get(o, "version"), 0, INT64_MAX, &v), 0);
    assert_int_equal(v, 17);
    x = crm_mp_get(o, "stream");
    assert_true(crm_mp_is_str(x));
    assert_true(str_is(x->via.str.ptr, x->via.str.size, "guest-7"));
    x = crm_mp_get(o, "type");
    assert_true(crm_mp_is_str(x));
    assert_int_equal(x->via.str.size, s->ev.type_len);
    assert_memory_equal(x->via.str.ptr, s->ev.type, s->ev.type_len);
    x = crm_mp_get(o, "id");
    assert_non_null(x);
    assert_int_equal(x->type, MSGPACK_OBJECT_BIN);
    assert_int_equal(x->via.bin.size, 16);
    assert_memory_equal(x->via.bin.ptr, s->ev.id, 16);
    assert_int_equal(crm_mp_int(crm_mp_get(o, "occurred_at"), 0, INT64_MAX, &v),
                     0);
    assert_int_equal(v, s->ev.occurred_at);
    assert_int_equal(crm_mp_int(crm_mp_get(o, "recorded_at"), 0, INT64_MAX, &v),
                     0);
    assert_int_equal(v, s->ev.occurred_at + 99);
    x = crm_mp_get(o, "actor");
    assert_true(str_is(x->via.str.ptr, x->via.str.size, "0123456789abcdef"));
    x = crm_mp_get(o, "body");
    assert_non_null(x);
    same_object(x, &s->r.body);
    x = crm_mp_get(o, "hash");
    assert_non_null(x);
    assert_int_equal(x->type, MSGPACK_OBJECT_BIN);
    assert_int_equal(x->via.bin.size, CRM_HASH_LEN);
    assert_memory_equal(x->via.bin.ptr, s->r.hash, CRM_HASH_LEN);
}

static void
test_pack_record(void **state)
{
    (void)state;
    static stored with, without;
    const msgpack_object *o, *pii, *flag;

    store_event(&with, "customer.registered",
                FX_BODY(FX_S("first_name", "Ada"), FX_S("last_name", "Okafor"),
                        FX_S("email", "ada@example.com"),
                        FX_S("language", "en")));
    assert_int_equal(with.r.pii.type, MSGPACK_OBJECT_MAP);
    store_event(&without, "spend.recorded",
                FX_BODY(FX_I("amount", 100), FX_S("currency", "EUR"),
                        FX_S("category", "room")));
    assert_int_equal(without.r.pii.type, MSGPACK_OBJECT_NIL);

    /* PII shown */
    o = pack_record(&with.r, 0);
    assert_int_equal(o->via.map.size, 11);
    check_common(o, &with);
    pii = crm_mp_get(o, "pii");
    assert_non_null(pii);
    same_object(pii, &with.r.pii);
    const msgpack_object *email = crm_mp_get(pii, "email");
    assert_true(crm_mp_is_str(email));
    assert_true(
        str_is(email->via.str.ptr, email->via.str.size, "ada@example.com"));
    assert_null(crm_mp_get(o, "pii_redacted"));

    /* PII redacted: nil and the flag */
    o = pack_record(&with.r, 1);
    assert_int_equal(o->via.map.size, 12);
    check_common(o, &with);
    pii = crm_mp_get(o, "pii");
    assert_non_null(pii);
    assert_int_equal(pii->type, MSGPACK_OBJECT_NIL);
    flag = crm_mp_get(o, "pii_redacted");
    assert_non_null(flag);
    assert_int_equal(flag->type, MSGPACK_OBJECT_BOOLEAN);
    assert_true(flag->via.boolean);

    /* no PII: nil either way, never the flag */
    for (int redact = 0; redact <= 1; redact++) {
        o = pack_record(&without.r, redact);
        assert_int_equal(o->via.map.size, 11);
        check_common(o, &without);
        pii = crm_mp_get(o, "pii");
        assert_non_null(pii);
        assert_int_equal(pii->type, MSGPACK_OBJECT_NIL);
        assert_null(crm_mp_get(o, "pii_redacted"));
    }
    msgpack_zone_free(with.zone);
    msgpack_zone_free(without.zone);
}

/* --- object helpers ------------------------------------------------------- */

static void
test_mp_int(void **state)
{
    (void)state;
    int64_t v = 12345;
    const msgpack_object *o =
        MSG(MU("zero", 0), MU("big", (uint64_t)INT64_MAX),
            MU("huge", UINT64_MAX), MU("over", (uint64_t)INT64_MAX + 1),
            MI("neg", -7), MI("min", INT64_MIN), MS("str", "5"), MF("float"),
            MN("nil"), MB("bool", 1), MA("arr"));

    assert_int_equal(crm_mp_int(crm_mp_get(o, "zero"), 0, 0, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(crm_mp_int(crm_mp_get(o, "big"), 0, INT64_MAX, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(crm_mp_int(crm_mp_get(o, "neg"), -7, -7, &v), 0);
    assert_int_equal(v, -7);
    assert_int_equal(crm_mp_int(crm_mp_get(o, "min"), INT64_MIN, 0, &v), 0);
    assert_true(v == INT64_MIN);

    /* bounds are inclusive, and a miss leaves *out alone */
    v = 99;
    assert_int_equal(crm_mp_int(crm_mp_get(o, "neg"), -6, 10, &v), -1);
    assert_int_equal(crm_mp_int(crm_mp_get(o, "neg"), -100, -8, &v), -1);
    assert_int_equal(crm_mp_int(crm_mp_get(o, "zero"), 1, 10, &v), -1);
    assert_int_equal(crm_mp_int(crm_mp_get(o, "big"), 0, INT64_MAX - 1, &v),
                     -1);
    /* beyond int64 */
    assert_int_equal(
        crm_mp_int(crm_mp_get(o, "huge"), INT64_MIN, INT64_MAX, &v), -1);
    assert_int_equal(
        crm_mp_int(crm_mp_get(o, "over"), INT64_MIN, INT64_MAX, &v), -1);
    /* not integers */
    static const char *const others[] = {"str",  "float", "nil",
                                         "bool", "arr",   "absent"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        assert_int_equal(
            crm_mp_int(crm_mp_get(o, others[i]), INT64_MIN, INT64_MAX, &v), -1);
    assert_int_equal(crm_mp_int(NULL, INT64_MIN, INT64_MAX, &v), -1);
    assert_int_equal(v, 99);
}

static void
test_mp_get(void **state)
{
    (void)state;
    static const uint8_t arr[] = {0x92, 0xa2, 'i', 'd', 0x01};
    static const uint8_t str[] = {0xa2, 'i', 'd'};
    static const uint8_t num[] = {0x05};
    static const uint8_t nil[] = {0xc0};
    /* {1: "int key", "id": 2, "id": 3, "i": 4, "": 5} */
    static const uint8_t map[] = {0x85, 0x01, 0xa1, 'x',  0xa2, 'i',
                                  'd',  0x02, 0xa2, 'i',  'd',  0x03,
                                  0xa1, 'i',  0x04, 0xa0, 0x05};
    /* a bin key that spells "id" is not the string key */
    static const uint8_t binkey[] = {0x81, 0xc4, 0x02, 'i', 'd', 0x07};
    int64_t v;

    assert_null(crm_mp_get(NULL, "id"));
    assert_null(crm_mp_get(fx_unpack(arr, sizeof(arr)), "id"));
    assert_null(crm_mp_get(fx_unpack(str, sizeof(str)), "id"));
    assert_null(crm_mp_get(fx_unpack(num, sizeof(num)), "id"));
    assert_null(crm_mp_get(fx_unpack(nil, sizeof(nil)), "id"));
    assert_null(crm_mp_get(fx_unpack(binkey, sizeof(binkey)), "id"));

    const msgpack_object *m = fx_unpack(map, sizeof(map));
    assert_int_equal(crm_mp_int(crm_mp_get(m, "id"), 0, 9, &v), 0);
    assert_int_equal(v, 2); /* the first of a repeated key */
    assert_int_equal(crm_mp_int(crm_mp_get(m, "i"), 0, 9, &v), 0);
    assert_int_equal(v, 4);
    assert_int_equal(crm_mp_int(crm_mp_get(m, ""), 0, 9, &v), 0);
    assert_int_equal(v, 5);
    assert_null(crm_mp_get(m, "idx"));
    assert_null(crm_mp_get(m, "I"));
    assert_null(crm_mp_get(m, "1"));

    assert_false(crm_mp_is_str(NULL));
    assert_false(crm_mp_is_str(fx_unpack(num, sizeof(num))));
    assert_true(crm_mp_is_str(fx_unpack(str, sizeof(str))));

    /* pack_object writes an object back byte for byte */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(crm_mp_pack_object(&pk, m), 0);
    assert_int_equal(sb.size, sizeof(map));
    assert_memory_equal(sb.data, map, sizeof(map));
    msgpack_sbuffer_clear(&sb);
    assert_int_equal(crm_mp_pack_str(&pk, "abcdef", 3), 0);
    assert_int_equal(sb.size, 4);
    assert_memory_equal(sb.data,
                        "\xa3"
                        "abc",
                        4);
    msgpack_sbuffer_destroy(&sb);
}

#define T(f) cmocka_unit_test_teardown(f, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_request_good),
        T(test_request_bad),
        T(test_request_id_kept_on_error),
        T(test_request_round_trip),
        T(test_check_request),
        T(test_reply_round_trip),
        T(test_error_round_trip),
        T(test_reply_bad),
        T(test_event_in),
        T(test_event_round_trip),
        T(test_pack_record),
        T(test_mp_int),
        T(test_mp_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
