/* malformed_test.c - a corpus of malformed requests sent as raw bytes to one
 * crmd: bytes that are not msgpack, broken envelopes, bad arguments of
 * every op, malicious container headers, oversized messages and invalid
 * events. Each must get an error reply with the right name and write
 * nothing; afterwards the server still serves, holds exactly the events
 * that were valid and the keys it had, and is alive.
 *
 * The corpus is one table (name, builder, expected error); the loop sends
 * every row with crm_client_send_bytes and prints "name -> outcome". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "clock.h"
#include "crmd_fixture.h"
#include "mpcheck.h"
#include "rpc.h"
#include "utf8.h"
#include "uuid.h"

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];
static crm_client *RAW;      /* sends the corpus; no key of its own */
static crm_client *ADMIN;    /* checks the head between cases */
static crm_client *OPERATOR; /* counts the keys between cases */
static uint64_t valid_events; /* events appended on purpose */
static _Thread_local uint64_t cur_id; /* envelope id of the case being built */

/* Running, not a zombie: kill(pid, 0) alone also succeeds for a child
 * that died and was not yet reaped. */
static int
crmd_alive(void)
{
    int st;
    return D.pid > 0 && waitpid(D.pid, &st, WNOHANG) == 0 && kill(D.pid, 0) == 0;
}

/* --- packing helpers --------------------------------------------------------- */

typedef void (*build_fn)(msgpack_packer *pk, msgpack_sbuffer *sb);

static void
s(msgpack_packer *pk, const char *v)
{
    crm_mp_pack_cstr(pk, v);
}

static void
kv_s(msgpack_packer *pk, const char *k, const char *v)
{
    s(pk, k);
    s(pk, v);
}

static void
kv_i(msgpack_packer *pk, const char *k, int64_t v)
{
    s(pk, k);
    msgpack_pack_int64(pk, v);
}

static void
bytes(msgpack_sbuffer *sb, const void *p, size_t n)
{
    msgpack_sbuffer_write(sb, p, n);
}

/* A string of n copies of c. */
static void
s_fill(msgpack_packer *pk, size_t n, char c)
{
    char *b = malloc(n ? n : 1);
    assert_non_null(b);
    memset(b, c, n);
    crm_mp_pack_str(pk, b, n);
    free(b);
}

/* {v, id, op, key?, args: } up to the args value. */
static void
head(msgpack_packer *pk, const char *op, const char *key)
{
    crm_rpc_pack_request_head(pk, cur_id, op, NULL, key);
}

#define AGENT K[CRM_ROLE_AGENT]
#define ADMINK K[CRM_ROLE_ADMIN]

/* A full, valid request: ping with no key. */
static void
ping(msgpack_packer *pk)
{
    head(pk, "ping", NULL);
    msgpack_pack_map(pk, 0);
}

typedef void (*body_fn)(msgpack_packer *pk);

static void
body_call(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    kv_s(pk, "channel", "call");
}

enum { ID_BIN16, ID_NONE, ID_BIN15, ID_BAD_UUID, ID_UUID_STR };

/* One event map; id NULL with ID_BIN16 means a fresh id; body NULL means
 * a valid interaction.logged body. */
static void
ev(msgpack_packer *pk, int idmode, const uint8_t *id, const char *stream,
   const char *type, int64_t occurred_at, body_fn body)
{
    uint8_t fresh[CRM_ID_LEN];
    char us[CRM_UUID_STRLEN + 1];
    crm_uuid_v7(fresh);
    msgpack_pack_map(pk, idmode == ID_NONE ? 4 : 5);
    switch (idmode) {
    case ID_BIN16:
        s(pk, "id");
        msgpack_pack_bin(pk, CRM_ID_LEN);
        msgpack_pack_bin_body(pk, id ? id : fresh, CRM_ID_LEN);
        break;
    case ID_BIN15:
        s(pk, "id");
        msgpack_pack_bin(pk, 15);
        msgpack_pack_bin_body(pk, fresh, 15);
        break;
    case ID_BAD_UUID: /* 36 characters, shaped like a UUID, not hex */
        kv_s(pk, "id", "0190zzzz-7e3c-7000-8000-00000000zzzz");
        break;
    case ID_UUID_STR:
        crm_uuid_format(fresh, us);
        kv_s(pk, "id", us);
        break;
    default: break;
    }
    kv_s(pk, "stream", stream);
    kv_s(pk, "type", type);
    kv_i(pk, "occurred_at", occurred_at);
    s(pk, "body");
    (body ? body : body_call)(pk);
}

static void
ev_ok(msgpack_packer *pk)
{
    ev(pk, ID_BIN16, NULL, "guest-ok", "interaction.logged", crm_now_us(), NULL);
}

/* append by an agent: {events: [n events ...] (+ extra members)} follows. */
static void
append_head(msgpack_packer *pk, uint32_t nevents, uint32_t extra)
{
    head(pk, "append", AGENT);
    msgpack_pack_map(pk, 1 + extra);
    s(pk, "events");
    msgpack_pack_array(pk, nevents);
}

/* append of one event built by ev(). */
static void
append1(msgpack_packer *pk, int idmode, const char *stream, const char *type,
        int64_t occurred_at, body_fn body)
{
    append_head(pk, 1, 0);
    ev(pk, idmode, NULL, stream, type, occurred_at, body);
}

/* --- the corpus: not msgpack ---------------------------------------------------- */

static void
b_empty(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)pk, (void)sb;
}

static void
random_bytes(msgpack_sbuffer *sb, uint32_t seed, size_t n)
{
    uint8_t b[256];
    for (size_t i = 0; i < n && i < sizeof(b); i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (uint8_t)(seed >> 16);
    }
    bytes(sb, b, n < sizeof(b) ? n : sizeof(b));
}

static void
b_random1(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)pk;
    random_bytes(sb, 1, 64);
}

static void
b_random2(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)pk;
    random_bytes(sb, 0xdeadbeef, 200);
}

static void
b_random3(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)pk;
    random_bytes(sb, 42, 7);
}

static void
b_json(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)pk;
    const char *j = "{\"v\":1,\"id\":1,\"op\":\"ping\",\"args\":{}}";
    bytes(sb, j, strlen(j));
}

/* A valid ping cut to keep bytes; keep < 0 counts from the end. */
static void
truncated(msgpack_packer *pk, msgpack_sbuffer *sb, long keep)
{
    ping(pk);
    size_t n = keep >= 0 ? (size_t)keep : sb->size - (size_t)-keep;
    assert_true(n < sb->size);
    sb->size = n;
}

static void
b_trunc1(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    truncated(pk, sb, 1);
}

static void
b_trunc_key(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    truncated(pk, sb, 3); /* inside the "v" key string */
}

static void
b_trunc_half(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    ping(pk);
    sb->size /= 2;
}

static void
b_trunc_last(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    truncated(pk, sb, -1); /* the args map header is missing */
}

static void
b_trunc_append(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    append_head(pk, 1, 0);
    ev_ok(pk);
    sb->size -= 3; /* inside the body's last string */
}

static void
b_trunc_str32(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)pk;
    /* {"v": str32 claiming 4 GiB} */
    static const uint8_t b[] = {0x81, 0xa1, 'v', 0xdb, 0xff, 0xff, 0xff, 0xff,
                                'x'};
    bytes(sb, b, sizeof(b));
}

static void
b_trailing(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    ping(pk);
    static const uint8_t extra[] = {0xc0};
    bytes(sb, extra, 1);
}

static void
b_two_messages(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    ping(pk);
    ping(pk);
}

static void
b_c1_top(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)pk;
    static const uint8_t b[] = {0xc1};
    bytes(sb, b, 1);
}

static void
b_c1_args(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    head(pk, "ping", NULL);
    msgpack_pack_map(pk, 1);
    s(pk, "x");
    static const uint8_t b[] = {0xc1};
    bytes(sb, b, 1);
}

/* --- envelopes ---------------------------------------------------------------- */

static void
b_top_array(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    msgpack_pack_array(pk, 3);
    msgpack_pack_int(pk, 1);
    s(pk, "ping");
    msgpack_pack_map(pk, 0);
}

static void
b_top_int(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    msgpack_pack_int(pk, 1);
}

static void
b_top_str(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    s(pk, "ping");
}

static void
b_top_nil(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    msgpack_pack_nil(pk);
}

static void
b_top_empty_map(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    msgpack_pack_map(pk, 0);
}

static void
b_no_v(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    msgpack_pack_map(pk, 3);
    kv_i(pk, "id", (int64_t)cur_id);
    kv_s(pk, "op", "ping");
    s(pk, "args");
    msgpack_pack_map(pk, 0);
}

/* {v: <packed by vfn>, id, op: ping, args: {}} */
static void
with_v(msgpack_packer *pk, void (*vfn)(msgpack_packer *))
{
    msgpack_pack_map(pk, 4);
    s(pk, "v");
    vfn(pk);
    kv_i(pk, "id", (int64_t)cur_id);
    kv_s(pk, "op", "ping");
    s(pk, "args");
    msgpack_pack_map(pk, 0);
}

static void v2(msgpack_packer *pk) { msgpack_pack_int(pk, 2); }
static void v0(msgpack_packer *pk) { msgpack_pack_int(pk, 0); }
static void vneg(msgpack_packer *pk) { msgpack_pack_int(pk, -1); }
static void vstr(msgpack_packer *pk) { s(pk, "1"); }
static void vnil(msgpack_packer *pk) { msgpack_pack_nil(pk); }
static void vfloat(msgpack_packer *pk) { msgpack_pack_double(pk, 1.0); }

static void b_v2(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_v(pk, v2); }
static void b_v0(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_v(pk, v0); }
static void b_vneg(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_v(pk, vneg); }
static void b_vstr(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_v(pk, vstr); }
static void b_vnil(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_v(pk, vnil); }
static void b_vfloat(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_v(pk, vfloat); }

/* {v: 1, id, op: <packed by ofn>, args: {}} */
static void
with_op(msgpack_packer *pk, void (*ofn)(msgpack_packer *), const char *key)
{
    msgpack_pack_map(pk, key ? 5 : 4);
    kv_i(pk, "v", 1);
    kv_i(pk, "id", (int64_t)cur_id);
    if (ofn) {
        s(pk, "op");
        ofn(pk);
    } else {
        kv_s(pk, "no_op", "ping");
    }
    if (key)
        kv_s(pk, "key", key);
    s(pk, "args");
    msgpack_pack_map(pk, 0);
}

static void op_int(msgpack_packer *pk) { msgpack_pack_int(pk, 1); }
static void op_nil(msgpack_packer *pk) { msgpack_pack_nil(pk); }
static void op_arr(msgpack_packer *pk) { msgpack_pack_array(pk, 1); s(pk, "ping"); }
static void op_unknown(msgpack_packer *pk) { s(pk, "customer.teleport"); }
static void op_empty(msgpack_packer *pk) { s(pk, ""); }
static void op_33(msgpack_packer *pk) { s_fill(pk, 33, 'p'); }
static void op_32(msgpack_packer *pk) { s_fill(pk, 32, 'p'); }
static void op_nul(msgpack_packer *pk) { crm_mp_pack_str(pk, "ping\0", 5); }
static void op_case(msgpack_packer *pk) { s(pk, "PING"); }

static void b_no_op(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_op(pk, NULL, NULL); }
static void b_op_int(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_op(pk, op_int, NULL); }
static void b_op_nil(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_op(pk, op_nil, NULL); }
static void b_op_arr(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_op(pk, op_arr, NULL); }
static void b_op_unknown(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_op(pk, op_unknown, NULL); }
static void b_op_empty(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_op(pk, op_empty, NULL); }
static void b_op_33(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_op(pk, op_33, NULL); }
static void b_op_32(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_op(pk, op_32, NULL); }
static void b_op_nul(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_op(pk, op_nul, NULL); }
static void b_op_case(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_op(pk, op_case, NULL); }

/* {v: 1, id, op, key: <packed by kfn>, args: {}} */
static void
with_key(msgpack_packer *pk, const char *op, void (*kfn)(msgpack_packer *))
{
    msgpack_pack_map(pk, 5);
    kv_i(pk, "v", 1);
    kv_i(pk, "id", (int64_t)cur_id);
    kv_s(pk, "op", op);
    s(pk, "key");
    kfn(pk);
    s(pk, "args");
    msgpack_pack_map(pk, 0);
}

static void key_int(msgpack_packer *pk) { msgpack_pack_int(pk, 12345); }
static void key_bin(msgpack_packer *pk) { msgpack_pack_bin(pk, 4); msgpack_pack_bin_body(pk, "crmk", 4); }
static void key_129(msgpack_packer *pk) { s_fill(pk, 129, 'k'); }
static void key_128(msgpack_packer *pk) { s_fill(pk, 128, 'k'); }
static void key_garbage(msgpack_packer *pk) { s(pk, "hunter2"); }
static void key_empty(msgpack_packer *pk) { s(pk, ""); }

/* The admin's token with its last secret digit changed. */
static void
key_wrong_secret(msgpack_packer *pk)
{
    char t[128];
    snprintf(t, sizeof(t), "%s", ADMINK);
    size_t n = strlen(t);
    t[n - 1] = t[n - 1] == '0' ? '1' : '0';
    s(pk, t);
}

/* The admin's token with an unknown key id and a well-formed secret. */
static void
key_unknown_id(msgpack_packer *pk)
{
    char t[128];
    snprintf(t, sizeof(t), "%s", ADMINK);
    memcpy(t + 5, "0000000000000000", 16);
    s(pk, t);
}

static void b_key_int(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_key(pk, "ping", key_int); }
static void b_key_bin(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_key(pk, "ping", key_bin); }
static void b_key_129(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_key(pk, "ping", key_129); }
static void b_key_128(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_key(pk, "ping", key_128); }
static void b_key_garbage(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_key(pk, "ping", key_garbage); }
static void b_key_empty(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_key(pk, "server.info", key_empty); }
static void b_key_secret(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_key(pk, "read.all", key_wrong_secret); }
static void b_key_id(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_key(pk, "read.all", key_unknown_id); }

/* {v: 1, id, op: server.info, key: admin, tenant: <tfn>, args: {}} */
static void
with_tenant(msgpack_packer *pk, void (*tfn)(msgpack_packer *))
{
    msgpack_pack_map(pk, 6);
    kv_i(pk, "v", 1);
    kv_i(pk, "id", (int64_t)cur_id);
    kv_s(pk, "op", "server.info");
    kv_s(pk, "key", ADMINK);
    s(pk, "tenant");
    tfn(pk);
    s(pk, "args");
    msgpack_pack_map(pk, 0);
}

static void t_int(msgpack_packer *pk) { msgpack_pack_int(pk, 7); }
static void t_map(msgpack_packer *pk) { msgpack_pack_map(pk, 1); kv_s(pk, "id", "acme"); }
static void t_41(msgpack_packer *pk) { s_fill(pk, 41, 'a'); }

static void b_tenant_int(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_tenant(pk, t_int); }
static void b_tenant_map(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_tenant(pk, t_map); }
static void b_tenant_41(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_tenant(pk, t_41); }

/* ping with args packed by afn */
static void
with_args(msgpack_packer *pk, void (*afn)(msgpack_packer *))
{
    head(pk, "ping", NULL);
    afn(pk);
}

static void a_array(msgpack_packer *pk) { msgpack_pack_array(pk, 0); }
static void a_str(msgpack_packer *pk) { s(pk, "{}"); }
static void a_int(msgpack_packer *pk) { msgpack_pack_int(pk, 0); }
static void a_ext(msgpack_packer *pk) { msgpack_pack_ext(pk, 5, 1); msgpack_pack_ext_body(pk, "hello", 5); }

static void b_args_array(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_args(pk, a_array); }
static void b_args_str(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_args(pk, a_str); }
static void b_args_int(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_args(pk, a_int); }
static void b_args_ext(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_args(pk, a_ext); }

/* {v: 1, id: <ifn>, op: ping, args: {}} */
static void
with_id(msgpack_packer *pk, void (*ifn)(msgpack_packer *))
{
    msgpack_pack_map(pk, 4);
    kv_i(pk, "v", 1);
    s(pk, "id");
    ifn(pk);
    kv_s(pk, "op", "ping");
    s(pk, "args");
    msgpack_pack_map(pk, 0);
}

static void id_neg(msgpack_packer *pk) { msgpack_pack_int(pk, -5); }
static void id_str(msgpack_packer *pk) { s(pk, "17"); }
static void id_float(msgpack_packer *pk) { msgpack_pack_double(pk, 3.5); }

static void b_id_neg(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_id(pk, id_neg); }
static void b_id_str(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_id(pk, id_str); }
static void b_id_float(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_id(pk, id_float); }

/* --- sizes and hostile container headers ------------------------------------------ */

static void
b_huge_string(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "read.stream", AGENT);
    msgpack_pack_map(pk, 1);
    s(pk, "stream");
    s_fill(pk, 5u << 20, 's');
}

static void
b_just_over_limit(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    /* a ping whose args carry padding so the message is 4 MiB + 1 */
    head(pk, "ping", NULL);
    msgpack_pack_map(pk, 1);
    s(pk, "pad");
    size_t hdr = sb->size + 5; /* str32 header */
    s_fill(pk, CRM_RPC_MAX_MSG + 1 - hdr, 'p');
    assert_int_equal(sb->size, CRM_RPC_MAX_MSG + 1);
}

static void
b_array_4g(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    head(pk, "ping", NULL);
    msgpack_pack_map(pk, 1);
    s(pk, "x");
    static const uint8_t b[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01};
    bytes(sb, b, sizeof(b));
}

static void
b_array_4g_top(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)pk;
    static const uint8_t b[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    bytes(sb, b, sizeof(b));
}

static void
b_map_2g(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    head(pk, "ping", NULL);
    static const uint8_t b[] = {0xdf, 0x80, 0x00, 0x00, 0x00, 0xa1, 'a', 0x01};
    bytes(sb, b, sizeof(b));
}

static void
b_map_2g_top(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)pk;
    static const uint8_t b[] = {0xdf, 0x80, 0x00, 0x00, 0x00};
    bytes(sb, b, sizeof(b));
}

static void
b_bin32_4g(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    head(pk, "ping", NULL);
    msgpack_pack_map(pk, 1);
    s(pk, "x");
    static const uint8_t b[] = {0xc6, 0xff, 0xff, 0xff, 0xf0, 0x00};
    bytes(sb, b, sizeof(b));
}

static void
b_ext32_4g(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    head(pk, "ping", NULL);
    msgpack_pack_map(pk, 1);
    s(pk, "x");
    static const uint8_t b[] = {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00};
    bytes(sb, b, sizeof(b));
}

static void
nest(msgpack_packer *pk, int levels)
{
    for (int i = 0; i < levels; i++) {
        msgpack_pack_map(pk, 1);
        s(pk, "a");
    }
    msgpack_pack_nil(pk);
}

static void
b_deep_maps(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "ping", NULL);
    nest(pk, 100);
}

static void
b_deep_arrays(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "ping", NULL);
    msgpack_pack_map(pk, 1);
    s(pk, "x");
    for (int i = 0; i < 1000; i++)
        msgpack_pack_array(pk, 1);
    msgpack_pack_nil(pk);
}

/* Four million nils just under the size limit: msgpack-c makes an object
 * of each (~24x the bytes); the request must still be answered. */
static void
b_many_nils(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    head(pk, "read.stream", AGENT);
    msgpack_pack_map(pk, 1);
    s(pk, "pad");
    msgpack_pack_array(pk, 4000000);
    size_t at = sb->size;
    for (int i = 0; i < 4000000; i++)
        msgpack_pack_nil(pk);
    assert_int_equal(sb->size - at, 4000000);
    assert_true(sb->size <= CRM_RPC_MAX_MSG);
}

/* 1 MB of nils: small enough to be read, but ~24 MB once unpacked; no key
 * is needed to send it. */
static void
b_nils_1m(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    msgpack_pack_array(pk, 1u << 20);
    for (int i = 0; i < 1 << 20; i++)
        msgpack_pack_nil(pk);
}

/* A ping whose args map has 500k entries (1M objects) in ~2 MB. */
static void
b_map_500k(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    head(pk, "ping", NULL);
    msgpack_pack_map(pk, 500000);
    for (uint32_t i = 0; i < 500000; i++) {
        msgpack_pack_uint32(pk, i);
        msgpack_pack_nil(pk);
    }
    assert_true(sb->size <= CRM_RPC_MAX_MSG);
}

/* --- ext values inside args -------------------------------------------------------- */

static void
ext_val(msgpack_packer *pk)
{
    msgpack_pack_ext(pk, 4, 7);
    msgpack_pack_ext_body(pk, "\x01\x02\x03\x04", 4);
}

static void
b_ext_stream(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "read.stream", AGENT);
    msgpack_pack_map(pk, 1);
    s(pk, "stream");
    ext_val(pk);
}

static void
body_ext_field(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    s(pk, "channel");
    ext_val(pk);
}

static void
body_ext_nested(msgpack_packer *pk)
{
    /* a timestamp (ext -1) deep in an extension event's body */
    msgpack_pack_map(pk, 1);
    s(pk, "when");
    msgpack_pack_map(pk, 1);
    s(pk, "at");
    msgpack_pack_ext(pk, 4, -1);
    msgpack_pack_ext_body(pk, "\x60\x00\x00\x00", 4);
}

static void
b_ext_field(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_BIN16, "guest-x", "interaction.logged", crm_now_us(),
            body_ext_field);
}

static void
b_ext_xbody(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_BIN16, "guest-x", "x.kiosk_visit", crm_now_us(), body_ext_nested);
}

static void
b_ext_role(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "key.create", ADMINK);
    msgpack_pack_map(pk, 1);
    s(pk, "role");
    ext_val(pk);
}

/* --- batch ---------------------------------------------------------------------- */

static void
batch_head(msgpack_packer *pk, uint32_t nops)
{
    head(pk, "batch", AGENT);
    msgpack_pack_map(pk, 1);
    s(pk, "ops");
    msgpack_pack_array(pk, nops);
}

static void
b_batch_65(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    batch_head(pk, CRM_RPC_MAX_BATCH_OPS + 1);
    for (int i = 0; i < CRM_RPC_MAX_BATCH_OPS + 1; i++) {
        msgpack_pack_map(pk, 1);
        kv_s(pk, "op", "ping");
    }
}

static void
b_batch_empty(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    batch_head(pk, 0);
}

static void
b_batch_ops_map(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "batch", AGENT);
    msgpack_pack_map(pk, 1);
    s(pk, "ops");
    msgpack_pack_map(pk, 1);
    kv_s(pk, "op", "ping");
}

static void
b_batch_no_ops(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "batch", AGENT);
    msgpack_pack_map(pk, 0);
}

static void
b_batch_entry_no_op(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    batch_head(pk, 1);
    msgpack_pack_map(pk, 1);
    s(pk, "args");
    msgpack_pack_map(pk, 0);
}

static void
b_batch_entry_not_map(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    batch_head(pk, 1);
    s(pk, "ping");
}

static void
b_batch_entry_unknown(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    batch_head(pk, 1);
    msgpack_pack_map(pk, 1);
    kv_s(pk, "op", "no.such.op");
}

static void
b_batch_entry_args(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    batch_head(pk, 1);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "op", "read.all");
    s(pk, "args");
    msgpack_pack_array(pk, 0);
}

static void
b_batch_in_batch(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    batch_head(pk, 1);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "op", "batch");
    s(pk, "args");
    msgpack_pack_map(pk, 1);
    s(pk, "ops");
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 1);
    kv_s(pk, "op", "ping");
}

static void
b_batch_append(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    /* a write smuggled into a batch must not happen */
    batch_head(pk, 1);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "op", "append");
    s(pk, "args");
    msgpack_pack_map(pk, 1);
    s(pk, "events");
    msgpack_pack_array(pk, 1);
    ev_ok(pk);
}

/* --- append --------------------------------------------------------------------- */

static void
b_events_map(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "append", AGENT);
    msgpack_pack_map(pk, 1);
    s(pk, "events");
    msgpack_pack_map(pk, 0);
}

static void
b_events_missing(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "append", AGENT);
    msgpack_pack_map(pk, 0);
}

static void
b_events_0(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append_head(pk, 0, 0);
}

static void
b_events_1001(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append_head(pk, 1001, 0);
    for (int i = 0; i < 1001; i++)
        ev_ok(pk);
}

static void
b_event_not_map(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append_head(pk, 1, 0);
    msgpack_pack_int(pk, 1);
}

static void
b_event_no_id(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_NONE, "guest-x", "interaction.logged", crm_now_us(), NULL);
}

static void
b_event_id15(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_BIN15, "guest-x", "interaction.logged", crm_now_us(), NULL);
}

static void
b_event_bad_uuid(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_BAD_UUID, "guest-x", "interaction.logged", crm_now_us(), NULL);
}

static void
b_occurred_neg(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_BIN16, "guest-x", "interaction.logged", -1000000, NULL);
}

static void
b_occurred_zero(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_UUID_STR, "guest-x", "interaction.logged", 0, NULL);
}

static void
b_occurred_year_10000(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_BIN16, "guest-x", "interaction.logged", CRM_TIME_MAX + 1,
            NULL);
}

static void
b_unknown_type(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_BIN16, "guest-x", "customer.teleported", crm_now_us(), NULL);
}

static void
b_type_not_str(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    uint8_t id[CRM_ID_LEN];
    crm_uuid_v7(id);
    append_head(pk, 1, 0);
    msgpack_pack_map(pk, 5);
    s(pk, "id");
    msgpack_pack_bin(pk, CRM_ID_LEN);
    msgpack_pack_bin_body(pk, id, CRM_ID_LEN);
    kv_s(pk, "stream", "guest-x");
    kv_i(pk, "type", 3);
    kv_i(pk, "occurred_at", crm_now_us());
    s(pk, "body");
    body_call(pk);
}

static void
b_stream_empty(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_BIN16, "", "interaction.logged", crm_now_us(), NULL);
}

static void
b_stream_65(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    char st[66];
    memset(st, 'g', 65);
    st[65] = '\0';
    append1(pk, ID_BIN16, st, "interaction.logged", crm_now_us(), NULL);
}

static void
body_missing_required(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    kv_s(pk, "last_name", "Silva"); /* first_name is required */
}

static void
b_missing_field(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_BIN16, "guest-x", "customer.registered", crm_now_us(),
            body_missing_required);
}

static void
body_wrong_type(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    kv_s(pk, "nps", "nine");
}

static void
b_wrong_type(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_BIN16, "guest-x", "feedback.survey_submitted", crm_now_us(),
            body_wrong_type);
}

static void
body_bad_utf8(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    kv_s(pk, "channel", "call");
    s(pk, "summary");
    crm_mp_pack_str(pk, "caf\xc3\x28 \xff\xfe", 8);
}

static void
b_bad_utf8(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_BIN16, "guest-x", "interaction.logged", crm_now_us(),
            body_bad_utf8);
}

static void
body_unknown_field(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    kv_s(pk, "channel", "call");
    kv_s(pk, "mood", "grumpy");
}

static void
b_unknown_field(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_BIN16, "guest-x", "interaction.logged", crm_now_us(),
            body_unknown_field);
}

static void
body_array(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    s(pk, "call");
}

static void
b_body_array(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_BIN16, "guest-x", "interaction.logged", crm_now_us(), body_array);
}

static void
body_deep(msgpack_packer *pk)
{
    nest(pk, 10); /* deeper than CRM_BODY_DEPTH, within the message limit */
}

static void
b_xbody_deep(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append1(pk, ID_BIN16, "guest-x", "x.deep", crm_now_us(), body_deep);
}

static void
b_duplicate_id(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    uint8_t id[CRM_ID_LEN];
    crm_uuid_v7(id);
    append_head(pk, 2, 0);
    ev(pk, ID_BIN16, id, "guest-dup", "interaction.logged", crm_now_us(), NULL);
    ev(pk, ID_BIN16, id, "guest-dup", "interaction.logged", crm_now_us(), NULL);
}

static void
b_second_event_bad(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    /* atomic: a valid first event must not be written either */
    append_head(pk, 2, 0);
    ev_ok(pk);
    ev(pk, ID_BIN16, NULL, "guest-x", "feedback.survey_submitted", crm_now_us(),
       body_wrong_type);
}

/* append of one valid event with {expect: [ {stream, version: <vfn>} ]} */
static void
with_expect(msgpack_packer *pk, const char *stream,
            void (*vfn)(msgpack_packer *))
{
    append_head(pk, 1, 1);
    ev_ok(pk);
    s(pk, "expect");
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "stream", stream);
    s(pk, "version");
    vfn(pk);
}

static void x_zero(msgpack_packer *pk) { msgpack_pack_int(pk, 0); }
static void x_sometimes(msgpack_packer *pk) { s(pk, "sometimes"); }
static void x_neg(msgpack_packer *pk) { msgpack_pack_int(pk, -7); }

static void b_expect_other(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_expect(pk, "guest-elsewhere", x_zero); }
static void b_expect_sometimes(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_expect(pk, "guest-ok", x_sometimes); }
static void b_expect_neg(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_expect(pk, "guest-ok", x_neg); }

static void
b_expect_not_array(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append_head(pk, 1, 1);
    ev_ok(pk);
    s(pk, "expect");
    msgpack_pack_map(pk, 2);
    kv_s(pk, "stream", "guest-ok");
    kv_i(pk, "version", 0);
}

static void
b_expect_too_many(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append_head(pk, 1, 1);
    ev_ok(pk);
    s(pk, "expect");
    msgpack_pack_array(pk, 2);
    for (int i = 0; i < 2; i++) {
        msgpack_pack_map(pk, 2);
        kv_s(pk, "stream", "guest-ok");
        s(pk, "version");
        s(pk, "any");
    }
}

/* --- reads, tenants, keys ------------------------------------------------------------ */

static void
read_all(msgpack_packer *pk, const char *k, int64_t v)
{
    head(pk, "read.all", AGENT);
    msgpack_pack_map(pk, 1);
    kv_i(pk, k, v);
}

static void b_read_max0(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; read_all(pk, "max", 0); }
static void b_read_max_big(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; read_all(pk, "max", 100000); }
static void b_read_wait_neg(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; read_all(pk, "wait_ms", -5); }
static void b_read_wait_big(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; read_all(pk, "wait_ms", CRM_RPC_MAX_WAIT_MS + 1); }
static void b_read_from0(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; read_all(pk, "from", 0); }

static void
b_read_from_str(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "read.all", AGENT);
    msgpack_pack_map(pk, 1);
    kv_s(pk, "from", "1");
}

static void
b_read_raw_str(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "read.all", AGENT);
    msgpack_pack_map(pk, 1);
    kv_s(pk, "raw", "yes");
}

static void
b_stream_missing(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "read.stream", AGENT);
    msgpack_pack_map(pk, 1);
    kv_i(pk, "max", 10);
}

static void
b_stream_int(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "read.stream", AGENT);
    msgpack_pack_map(pk, 1);
    kv_i(pk, "stream", 42);
}

static void
b_stream_arg_65(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "read.stream", AGENT);
    msgpack_pack_map(pk, 1);
    s(pk, "stream");
    s_fill(pk, 65, 'g');
}

static void
b_stream_from_neg(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "read.stream", AGENT);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "stream", "guest-ok");
    kv_i(pk, "from_version", -1);
}

static void
tenant_create(msgpack_packer *pk, const char *id, size_t len)
{
    head(pk, "tenant.create", D.operator_key);
    msgpack_pack_map(pk, 1);
    s(pk, "id");
    crm_mp_pack_str(pk, id, len);
}

static void b_tenant_bad_id(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; tenant_create(pk, "Bad Tenant!", 11); }
static void b_tenant_empty_id(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; tenant_create(pk, "", 0); }
static void b_tenant_nul_id(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; tenant_create(pk, "ok\0evil", 7); }
static void b_tenant_dots(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; tenant_create(pk, "../etc", 6); }

static void
b_tenant_41_id(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "tenant.create", D.operator_key);
    msgpack_pack_map(pk, 1);
    s(pk, "id");
    s_fill(pk, 41, 't');
}

static void
b_tenant_no_id(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "tenant.create", D.operator_key);
    msgpack_pack_map(pk, 0);
}

static void
key_create(msgpack_packer *pk, const char *role)
{
    head(pk, "key.create", ADMINK);
    msgpack_pack_map(pk, 1);
    kv_s(pk, "role", role);
}

static void b_role_emperor(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; key_create(pk, "emperor"); }
static void b_role_case(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; key_create(pk, "Admin"); }

static void
b_role_missing(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "key.create", ADMINK);
    msgpack_pack_map(pk, 0);
}

static void
b_label_long(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "key.create", ADMINK);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "role", "agent");
    s(pk, "label");
    s_fill(pk, 65, 'l');
}

static void
b_revoke_missing(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "key.revoke", ADMINK);
    msgpack_pack_map(pk, 0);
}

static void
b_revoke_unknown(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "key.revoke", ADMINK);
    msgpack_pack_map(pk, 1);
    kv_s(pk, "key_id", "ffffffffffffffff");
}

/* --- UTF-8 in quoted names, args nil, keys given twice ------------------- */

static void op_bad_utf8(msgpack_packer *pk) { crm_mp_pack_str(pk, "pi\xffng", 5); }
static void op_long_bad(msgpack_packer *pk) { crm_mp_pack_str(pk, "\xc3(\xc3(\xc3(\xc3(\xc3(\xc3(\xc3(\xc3(\xc3(\xc3(", 20); }
static void t_bad_utf8(msgpack_packer *pk) { crm_mp_pack_str(pk, "acme\xe2\x82", 6); }
static void t_nul(msgpack_packer *pk) { crm_mp_pack_str(pk, "ac\0me", 5); }
static void b_op_bad_utf8(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_op(pk, op_bad_utf8, NULL); }
static void b_op_long_bad(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_op(pk, op_long_bad, NULL); }
static void b_tenant_bad_utf8(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_tenant(pk, t_bad_utf8); }
static void b_tenant_nul(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_tenant(pk, t_nul); }
static void a_nil(msgpack_packer *pk) { msgpack_pack_nil(pk); }
static void b_args_nil(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_args(pk, a_nil); }
static void a_dup(msgpack_packer *pk) { msgpack_pack_map(pk, 2); kv_i(pk, "x", 1); kv_i(pk, "x", 2); }
static void b_args_dup(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; with_args(pk, a_dup); }

/* {v, id, op: ping, op: tenant.create, args: {}}: which op was meant? */
static void
b_op_twice(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    msgpack_pack_map(pk, 4);
    kv_i(pk, "v", 1);
    kv_i(pk, "id", (int64_t)cur_id);
    kv_s(pk, "op", "ping");
    kv_s(pk, "op", "tenant.create");
}

static void
b_key_twice(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    msgpack_pack_map(pk, 5);
    kv_i(pk, "v", 1);
    kv_i(pk, "id", (int64_t)cur_id);
    kv_s(pk, "op", "read.all");
    kv_s(pk, "key", AGENT);
    kv_s(pk, "key", ADMINK);
}

static void body_dup(msgpack_packer *pk) { msgpack_pack_map(pk, 2); kv_s(pk, "channel", "call"); kv_s(pk, "channel", "email"); }
static void b_body_dup(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; append1(pk, ID_BIN16, "guest-dup", "interaction.logged", crm_now_us(), body_dup); }

/* an event map naming its stream twice */
static void
b_event_dup(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    uint8_t id[CRM_ID_LEN];
    (void)sb;
    crm_uuid_v7(id);
    append_head(pk, 1, 0);
    msgpack_pack_map(pk, 6);
    s(pk, "id");
    msgpack_pack_bin(pk, CRM_ID_LEN);
    msgpack_pack_bin_body(pk, id, CRM_ID_LEN);
    kv_s(pk, "stream", "guest-a");
    kv_s(pk, "stream", "guest-b");
    kv_s(pk, "type", "interaction.logged");
    kv_i(pk, "occurred_at", crm_now_us());
    s(pk, "body");
    body_call(pk);
}

/* x. event whose body repeats a key three levels down */
static void
body_deep_dup(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    s(pk, "a");
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 1);
    s(pk, "b");
    msgpack_pack_map(pk, 2);
    kv_i(pk, "c", 1);
    kv_i(pk, "c", 2);
}
static void b_ext_deep_dup(msgpack_packer *pk, msgpack_sbuffer *sb) { (void)sb; append1(pk, ID_BIN16, "guest-dup", "x.survey", crm_now_us(), body_deep_dup); }

/* the same expect entry key twice */
static void
b_expect_dup(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    append_head(pk, 1, 1);
    ev(pk, ID_BIN16, NULL, "guest-dup", "interaction.logged", crm_now_us(),
       NULL);
    s(pk, "expect");
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 3);
    kv_s(pk, "stream", "guest-dup");
    kv_s(pk, "version", "any");
    kv_i(pk, "version", 0);
}

/* --- the table ------------------------------------------------------------------------ */

enum { TOP = 0, BATCH_ENTRY = 1 }; /* where the error is expected */

typedef struct mcase {
    const char *name;
    build_fn build;
    const char *want; /* error name */
    int where;        /* TOP: the reply; BATCH_ENTRY: results[0] of a batch */
    int echo;         /* the error reply must carry the request's id */
} mcase;


/* --- loyalty and customer ops ------------------------------------------------ */

/* op with args {k: v} (v a string), as an agent. */
static void
one_str(msgpack_packer *pk, const char *op, const char *k, const char *v)
{
    head(pk, op, AGENT);
    msgpack_pack_map(pk, 1);
    kv_s(pk, k, v);
}

static void
b_loyalty_get_no_customer(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    one_str(pk, "loyalty.get", "on", "2026-12-01");
}

static void
b_loyalty_get_bad_day(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "loyalty.get", AGENT);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "customer", "guest-0001");
    kv_s(pk, "on", "2026-02-30");
}

static void
b_loyalty_get_ledger_big(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "loyalty.get", AGENT);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "customer", "guest-0001");
    kv_i(pk, "ledger", 501);
}

static void
b_redeem_zero(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "loyalty.redeem", AGENT);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "customer", "guest-0001");
    kv_i(pk, "points", 0);
}

static void
b_redeem_points_str(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "loyalty.redeem", AGENT);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "customer", "guest-0001");
    kv_s(pk, "points", "ten");
}

static void
b_redeem_bad_id(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "loyalty.redeem", AGENT);
    msgpack_pack_map(pk, 3);
    kv_s(pk, "customer", "guest-0001");
    kv_i(pk, "points", 10);
    kv_s(pk, "id", "not-a-uuid");
}

static void
b_redeem_no_balance(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "loyalty.redeem", AGENT);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "customer", "guest-without-points");
    kv_i(pk, "points", 100);
}

static void
b_sweep_bad_day(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "loyalty.sweep", ADMINK);
    msgpack_pack_map(pk, 1);
    kv_s(pk, "on", "tomorrow");
}

static void
b_get_no_customer(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    one_str(pk, "customer.get", "on", "2026-12-01");
}

static void
b_get_customer_int(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "customer.get", AGENT);
    msgpack_pack_map(pk, 1);
    kv_i(pk, "customer", 42);
}

static void
b_get_bad_day(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "customer.get", AGENT);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "customer", "guest-0001");
    kv_s(pk, "on", "06/12/2026");
}

static void
b_get_touchpoints_big(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "customer.get", AGENT);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "customer", "guest-0001");
    kv_i(pk, "touchpoints", 201);
}

static void
b_get_unknown(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    one_str(pk, "customer.get", "customer", "guest-never-seen");
}

static void
b_get_id_65(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "customer.get", AGENT);
    msgpack_pack_map(pk, 1);
    s(pk, "customer");
    s_fill(pk, 65, 'g');
}

static void
b_find_nothing(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "customer.find", AGENT);
    msgpack_pack_map(pk, 0);
}

static void
b_find_two(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "customer.find", AGENT);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "email", "ana@example.com");
    kv_s(pk, "phone", "+351912345678");
}

static void
b_find_bad_email(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    one_str(pk, "customer.find", "email", "no-at-sign");
}

static void
b_find_bad_phone(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    one_str(pk, "customer.find", "phone", "call me");
}

static void
b_find_birth_alone(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    one_str(pk, "customer.find", "birth_date", "1980-05-17");
}

static void
b_find_birth_bad(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "customer.find", AGENT);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "name", "Ana");
    kv_s(pk, "birth_date", "17/05/1980");
}

static void
b_find_limit_0(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "customer.find", AGENT);
    msgpack_pack_map(pk, 2);
    kv_s(pk, "name", "Ana");
    kv_i(pk, "limit", 0);
}

static void
b_find_no_letters(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    one_str(pk, "customer.find", "name", " -- . ");
}

static void
b_find_name_bad_utf8(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "customer.find", AGENT);
    msgpack_pack_map(pk, 1);
    s(pk, "name");
    crm_mp_pack_str(pk, "Jos\xc3(", 5);
}

static void
b_find_email_long(msgpack_packer *pk, msgpack_sbuffer *sb)
{
    (void)sb;
    head(pk, "customer.find", AGENT);
    msgpack_pack_map(pk, 1);
    s(pk, "email");
    s_fill(pk, 600, 'a');
}

static const mcase corpus[] = {
    /* not msgpack */
    {"empty message", b_empty, "bad_request", TOP, 0},
    {"random bytes (64)", b_random1, "bad_request", TOP, 0},
    {"random bytes (200)", b_random2, "bad_request", TOP, 0},
    {"random bytes (7)", b_random3, "bad_request", TOP, 0},
    {"JSON text", b_json, "bad_request", TOP, 0},
    {"truncated after 1 byte", b_trunc1, "bad_request", TOP, 0},
    {"truncated inside a key", b_trunc_key, "bad_request", TOP, 0},
    {"truncated at half", b_trunc_half, "bad_request", TOP, 0},
    {"truncated by the last byte", b_trunc_last, "bad_request", TOP, 0},
    {"truncated append body", b_trunc_append, "bad_request", TOP, 0},
    {"str32 header claiming 4 GiB", b_trunc_str32, "bad_request", TOP, 0},
    {"trailing byte", b_trailing, "bad_request", TOP, 0},
    {"two messages back to back", b_two_messages, "bad_request", TOP, 0},
    {"reserved byte 0xc1 alone", b_c1_top, "bad_request", TOP, 0},
    {"reserved byte 0xc1 in args", b_c1_args, "bad_request", TOP, 0},
    /* envelope */
    {"top-level array", b_top_array, "bad_request", TOP, 0},
    {"top-level int", b_top_int, "bad_request", TOP, 0},
    {"top-level string", b_top_str, "bad_request", TOP, 0},
    {"top-level nil", b_top_nil, "bad_request", TOP, 0},
    {"top-level empty map", b_top_empty_map, "bad_request", TOP, 0},
    {"missing v", b_no_v, "bad_request", TOP, 1},
    {"v 2", b_v2, "bad_version", TOP, 1},
    {"v 0", b_v0, "bad_version", TOP, 1},
    {"v -1", b_vneg, "bad_version", TOP, 1},
    {"v as string", b_vstr, "bad_request", TOP, 1},
    {"v nil", b_vnil, "bad_request", TOP, 1},
    {"v float 1.0", b_vfloat, "bad_request", TOP, 1},
    {"missing op", b_no_op, "bad_request", TOP, 1},
    {"op int", b_op_int, "bad_request", TOP, 1},
    {"op nil", b_op_nil, "bad_request", TOP, 1},
    {"op array", b_op_arr, "bad_request", TOP, 1},
    {"unknown op", b_op_unknown, "unknown_op", TOP, 1},
    {"op empty string", b_op_empty, "unknown_op", TOP, 1},
    {"op 33 bytes", b_op_33, "too_large", TOP, 1},
    {"op 32 bytes (unknown)", b_op_32, "unknown_op", TOP, 1},
    {"op with NUL (\"ping\\0\")", b_op_nul, "unknown_op", TOP, 1},
    {"op in upper case", b_op_case, "unknown_op", TOP, 1},
    {"key int", b_key_int, "bad_request", TOP, 1},
    {"key bin", b_key_bin, "bad_request", TOP, 1},
    {"key 129 bytes", b_key_129, "too_large", TOP, 1},
    {"key 128 bytes of garbage", b_key_128, "unauthorized", TOP, 1},
    {"garbage key on ping", b_key_garbage, "unauthorized", TOP, 1},
    {"empty key", b_key_empty, "unauthorized", TOP, 1},
    {"key with a wrong secret", b_key_secret, "unauthorized", TOP, 1},
    {"key with an unknown id", b_key_id, "unauthorized", TOP, 1},
    {"tenant int", b_tenant_int, "bad_request", TOP, 1},
    {"tenant map", b_tenant_map, "bad_request", TOP, 1},
    {"tenant 41 bytes", b_tenant_41, "too_large", TOP, 1},
    {"args array", b_args_array, "bad_request", TOP, 1},
    {"args nil", b_args_nil, "bad_request", TOP, 1},
    {"args with a key twice", b_args_dup, "bad_request", TOP, 1},
    {"op twice in the envelope", b_op_twice, "bad_request", TOP, 1},
    {"key twice in the envelope", b_key_twice, "bad_request", TOP, 1},
    {"event body with a key twice", b_body_dup, "bad_request", TOP, 1},
    {"event with stream twice", b_event_dup, "bad_request", TOP, 1},
    {"x. body with a key twice, deep", b_ext_deep_dup, "bad_request", TOP, 1},
    {"expect entry with version twice", b_expect_dup, "bad_request", TOP, 1},
    {"op not UTF-8", b_op_bad_utf8, "bad_utf8", TOP, 1},
    {"op of 20 bytes, none UTF-8", b_op_long_bad, "bad_utf8", TOP, 1},
    {"tenant not UTF-8", b_tenant_bad_utf8, "bad_utf8", TOP, 1},
    {"tenant with NUL", b_tenant_nul, "forbidden", TOP, 1},
    {"args string", b_args_str, "bad_request", TOP, 1},
    {"args int", b_args_int, "bad_request", TOP, 1},
    {"args ext", b_args_ext, "bad_request", TOP, 1},
    {"id negative", b_id_neg, "bad_request", TOP, 0},
    {"id string", b_id_str, "bad_request", TOP, 0},
    {"id float", b_id_float, "bad_request", TOP, 0},
    /* sizes and hostile headers */
    {"5 MiB string in args", b_huge_string, "too_large", TOP, 0},
    {"message of 4 MiB + 1", b_just_over_limit, "too_large", TOP, 0},
    {"array header 2^32-1, tiny body", b_array_4g, "bad_request", TOP, 0},
    {"array header 2^32-1 alone", b_array_4g_top, "bad_request", TOP, 0},
    {"map header 2^31 pairs", b_map_2g, "bad_request", TOP, 0},
    {"map header 2^31 pairs alone", b_map_2g_top, "bad_request", TOP, 0},
    {"bin32 header claiming 4 GiB", b_bin32_4g, "bad_request", TOP, 0},
    {"ext32 header claiming 4 GiB", b_ext32_4g, "bad_request", TOP, 0},
    {"maps nested 100 deep", b_deep_maps, "bad_request", TOP, 0},
    {"arrays nested 1000 deep", b_deep_arrays, "bad_request", TOP, 0},
    {"4 million nils, no stream", b_many_nils, "too_large", TOP, 0},
    {"array of 1M nils", b_nils_1m, "too_large", TOP, 0},
    {"map of 500k entries", b_map_500k, "too_large", TOP, 0},
    /* ext values */
    {"ext as read.stream stream", b_ext_stream, "bad_request", TOP, 1},
    {"ext as an event field", b_ext_field, "bad_field", TOP, 1},
    {"ext deep in an x. body", b_ext_xbody, "bad_field", TOP, 1},
    {"ext as key.create role", b_ext_role, "bad_request", TOP, 1},
    /* batch */
    {"batch of 65 ops", b_batch_65, "too_large", TOP, 1},
    {"batch with empty ops", b_batch_empty, "empty_batch", TOP, 1},
    {"batch ops not an array", b_batch_ops_map, "bad_request", TOP, 1},
    {"batch without ops", b_batch_no_ops, "bad_request", TOP, 1},
    {"batch entry without op", b_batch_entry_no_op, "bad_request", BATCH_ENTRY, 0},
    {"batch entry not a map", b_batch_entry_not_map, "bad_request", BATCH_ENTRY, 0},
    {"batch entry unknown op", b_batch_entry_unknown, "unknown_op", BATCH_ENTRY, 0},
    {"batch entry args array", b_batch_entry_args, "bad_request", BATCH_ENTRY, 0},
    {"batch inside batch", b_batch_in_batch, "bad_request", BATCH_ENTRY, 0},
    {"append inside batch", b_batch_append, "bad_request", BATCH_ENTRY, 0},
    /* append */
    {"append events not an array", b_events_map, "bad_request", TOP, 1},
    {"append without events", b_events_missing, "bad_request", TOP, 1},
    {"append 0 events", b_events_0, "empty_batch", TOP, 1},
    {"append 1001 events", b_events_1001, "too_large", TOP, 1},
    {"event not a map", b_event_not_map, "bad_request", TOP, 1},
    {"event without id", b_event_no_id, "bad_request", TOP, 1},
    {"event id of 15 bytes", b_event_id15, "bad_request", TOP, 1},
    {"event id not a UUID", b_event_bad_uuid, "bad_request", TOP, 1},
    {"occurred_at negative", b_occurred_neg, "bad_request", TOP, 1},
    {"occurred_at 0", b_occurred_zero, "bad_request", TOP, 1},
    {"occurred_at after 9999", b_occurred_year_10000, "bad_request", TOP, 1},
    {"unknown event type", b_unknown_type, "unknown_type", TOP, 1},
    {"type not a string", b_type_not_str, "bad_request", TOP, 1},
    {"stream empty", b_stream_empty, "bad_request", TOP, 1},
    {"stream 65 bytes", b_stream_65, "too_large", TOP, 1},
    {"missing required field", b_missing_field, "missing_field", TOP, 1},
    {"field of wrong type", b_wrong_type, "bad_field", TOP, 1},
    {"invalid UTF-8 in a field", b_bad_utf8, "bad_utf8", TOP, 1},
    {"unknown field", b_unknown_field, "unknown_field", TOP, 1},
    {"body an array", b_body_array, "bad_field", TOP, 1},
    {"x. body nested too deep", b_xbody_deep, "bad_field", TOP, 1},
    {"duplicate id in batch", b_duplicate_id, "duplicate_id", TOP, 1},
    {"valid event then a bad one", b_second_event_bad, "bad_field", TOP, 1},
    {"expect names another stream", b_expect_other, "bad_request", TOP, 1},
    {"expect version \"sometimes\"", b_expect_sometimes, "bad_request", TOP, 1},
    {"expect version -7", b_expect_neg, "bad_request", TOP, 1},
    {"expect not an array", b_expect_not_array, "bad_request", TOP, 1},
    {"more expects than events", b_expect_too_many, "bad_request", TOP, 1},
    /* reads */
    {"read.all max 0", b_read_max0, "bad_request", TOP, 1},
    {"read.all max 100000", b_read_max_big, "bad_request", TOP, 1},
    {"read.all wait_ms -5", b_read_wait_neg, "bad_request", TOP, 1},
    {"read.all wait_ms 60001", b_read_wait_big, "bad_request", TOP, 1},
    {"read.all from 0", b_read_from0, "bad_request", TOP, 1},
    {"read.all from a string", b_read_from_str, "bad_request", TOP, 1},
    {"read.all raw a string", b_read_raw_str, "bad_request", TOP, 1},
    {"read.stream without stream", b_stream_missing, "bad_request", TOP, 1},
    {"read.stream stream int", b_stream_int, "bad_request", TOP, 1},
    {"read.stream stream 65 bytes", b_stream_arg_65, "too_large", TOP, 1},
    {"read.stream from_version -1", b_stream_from_neg, "bad_request", TOP, 1},
    /* tenants and keys */
    {"tenant.create \"Bad Tenant!\"", b_tenant_bad_id, "bad_request", TOP, 1},
    {"tenant.create empty id", b_tenant_empty_id, "bad_request", TOP, 1},
    {"tenant.create id with NUL", b_tenant_nul_id, "bad_request", TOP, 1},
    {"tenant.create \"../etc\"", b_tenant_dots, "bad_request", TOP, 1},
    {"tenant.create id 41 bytes", b_tenant_41_id, "too_large", TOP, 1},
    {"tenant.create without id", b_tenant_no_id, "bad_request", TOP, 1},
    {"key.create role \"emperor\"", b_role_emperor, "bad_request", TOP, 1},
    {"key.create role \"Admin\"", b_role_case, "bad_request", TOP, 1},
    {"key.create without role", b_role_missing, "bad_request", TOP, 1},
    {"key.create label 65 bytes", b_label_long, "too_large", TOP, 1},
    {"key.revoke without key_id", b_revoke_missing, "bad_request", TOP, 1},
    {"key.revoke unknown key_id", b_revoke_unknown, "not_found", TOP, 1},
    /* loyalty and customer ops */
    {"loyalty.get without customer", b_loyalty_get_no_customer, "bad_request", TOP, 1},
    {"loyalty.get on 2026-02-30", b_loyalty_get_bad_day, "bad_request", TOP, 1},
    {"loyalty.get ledger 501", b_loyalty_get_ledger_big, "bad_request", TOP, 1},
    {"loyalty.redeem 0 points", b_redeem_zero, "bad_request", TOP, 1},
    {"loyalty.redeem points \"ten\"", b_redeem_points_str, "bad_request", TOP, 1},
    {"loyalty.redeem id not a UUID", b_redeem_bad_id, "bad_request", TOP, 1},
    {"loyalty.redeem without points", b_redeem_no_balance, "insufficient_points", TOP, 1},
    {"loyalty.sweep on \"tomorrow\"", b_sweep_bad_day, "bad_request", TOP, 1},
    {"customer.get without customer", b_get_no_customer, "bad_request", TOP, 1},
    {"customer.get customer 42", b_get_customer_int, "bad_request", TOP, 1},
    {"customer.get on 06/12/2026", b_get_bad_day, "bad_request", TOP, 1},
    {"customer.get touchpoints 201", b_get_touchpoints_big, "bad_request", TOP, 1},
    {"customer.get unknown guest", b_get_unknown, "not_found", TOP, 1},
    {"customer.get id 65 bytes", b_get_id_65, "too_large", TOP, 1},
    {"customer.find with nothing", b_find_nothing, "bad_request", TOP, 1},
    {"customer.find email and phone", b_find_two, "bad_request", TOP, 1},
    {"customer.find email without @", b_find_bad_email, "bad_request", TOP, 1},
    {"customer.find phone \"call me\"", b_find_bad_phone, "bad_request", TOP, 1},
    {"customer.find birth_date alone", b_find_birth_alone, "bad_request", TOP, 1},
    {"customer.find birth_date 17/05/1980", b_find_birth_bad, "bad_request", TOP, 1},
    {"customer.find limit 0", b_find_limit_0, "bad_request", TOP, 1},
    {"customer.find name without letters", b_find_no_letters, "bad_request", TOP, 1},
    {"customer.find name bad UTF-8", b_find_name_bad_utf8, "bad_utf8", TOP, 1},
    {"customer.find email 600 bytes", b_find_email_long, "too_large", TOP, 1},
};
#define NCASES (sizeof(corpus) / sizeof(corpus[0]))

/* --- running it ------------------------------------------------------------------------ */

static uint64_t
head_of(crm_client *c)
{
    const msgpack_object *res;
    crm_error why;
    msgpack_sbuffer sb;
    fx_kv a[] = {FX_I("from", 1), FX_I("max", 1)};
    fx_pack(a, 2, &sb);
    crm_err err = crm_client_call_raw(c, "read.all", sb.data, sb.size, &res, &why);
    msgpack_sbuffer_destroy(&sb);
    if (err != CRM_OK) {
        fprintf(stderr, "read.all: %s\n", why.msg);
        return UINT64_MAX;
    }
    return fx_res_u64(res, "head");
}

/* Keys of every tenant, operator keys included (revoked ones too). */
static uint64_t
key_count(void)
{
    const msgpack_object *res, *keys;
    crm_error why;
    if (crm_client_call(OPERATOR, "key.list", NULL, NULL, &res, &why) !=
        CRM_OK) {
        fprintf(stderr, "key.list: %s\n", why.msg);
        return UINT64_MAX;
    }
    keys = crm_mp_get(res, "keys");
    return keys && keys->type == MSGPACK_OBJECT_ARRAY ? keys->via.array.size
                                                      : UINT64_MAX;
}

/* Whether every string in o (keys included, at any depth) is valid UTF-8,
 * as a strict msgpack decoder requires of the str family. */
static int
strict_strings(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        return o->via.str.size == 0 ||
               crm_utf8_valid(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (!strict_strings(&o->via.array.ptr[i]))
                return 0;
        return 1;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++)
            if (!strict_strings(&o->via.map.ptr[i].key) ||
                !strict_strings(&o->via.map.ptr[i].val))
                return 0;
        return 1;
    default:
        return 1;
    }
}

/* Reads the reply and writes what it says into out ("ok", an error name,
 * or what is wrong with it); returns 1 if it is a well-formed error reply
 * (or batch entry error) as the row expects, else 0. */
static int
check_reply(const mcase *m, const void *buf, size_t len, uint64_t id,
            char *out, size_t outlen)
{
    msgpack_zone zone;
    msgpack_object root;
    size_t off = 0;
    int good = 0;

    msgpack_zone_init(&zone, 4096);
    if (crm_mpcheck(buf, len, CRM_MP_MAX_DEPTH, NULL) != CRM_OK ||
        msgpack_unpack(buf, len, &off, &zone, &root) != MSGPACK_UNPACK_SUCCESS ||
        root.type != MSGPACK_OBJECT_MAP) {
        snprintf(out, outlen, "(reply is not a msgpack map)");
        goto done;
    }
    if (!strict_strings(&root)) {
        snprintf(out, outlen, "(reply holds a str that is not UTF-8)");
        goto done;
    }
    int64_t v, rid = -1;
    const msgpack_object *ok = crm_mp_get(&root, "ok");
    if (crm_mp_int(crm_mp_get(&root, "v"), 0, 1000, &v) != 0 || v != 1 ||
        ok == NULL || ok->type != MSGPACK_OBJECT_BOOLEAN ||
        crm_mp_int(crm_mp_get(&root, "id"), 0, INT64_MAX, &rid) != 0) {
        snprintf(out, outlen, "(reply lacks v/ok/id)");
        goto done;
    }
    const msgpack_object *err = NULL;
    if (m->where == BATCH_ENTRY) {
        if (!ok->via.boolean) {
            /* the batch itself must succeed; only its entry fails */
            fx_res_str(crm_mp_get(&root, "error"), "name", out, outlen);
            snprintf(out + strlen(out), outlen - strlen(out),
                     " (the whole batch failed)");
            goto done;
        } else {
            const msgpack_object *r =
                crm_mp_get(crm_mp_get(&root, "result"), "results");
            if (r == NULL || r->type != MSGPACK_OBJECT_ARRAY ||
                r->via.array.size != 1) {
                snprintf(out, outlen, "(batch reply without one result)");
                goto done;
            }
            const msgpack_object *eok = crm_mp_get(&r->via.array.ptr[0], "ok");
            if (eok && eok->type == MSGPACK_OBJECT_BOOLEAN && eok->via.boolean) {
                snprintf(out, outlen, "ok (batch entry)");
                goto done;
            }
            err = crm_mp_get(&r->via.array.ptr[0], "error");
        }
    } else if (ok->via.boolean) {
        snprintf(out, outlen, "ok");
        goto done;
    } else {
        err = crm_mp_get(&root, "error");
    }
    const msgpack_object *name = crm_mp_get(err, "name");
    int64_t code;
    if (!crm_mp_is_str(name) || crm_mp_int(crm_mp_get(err, "code"), 1, 65535,
                                           &code) != 0) {
        snprintf(out, outlen, "(error without code/name)");
        goto done;
    }
    snprintf(out, outlen, "%.*s", (int)name->via.str.size, name->via.str.ptr);
    if ((int64_t)crm_err_from_name(out) != code) {
        snprintf(out + strlen(out), outlen - strlen(out),
                 " (code %lld does not match the name)", (long long)code);
        goto done;
    }
    const msgpack_object *msg = crm_mp_get(err, "message");
    if (!crm_mp_is_str(msg)) {
        snprintf(out + strlen(out), outlen - strlen(out), " (no message)");
        goto done;
    }
    /* a NUL in a quoted name shows, rather than ending the quote */
    if (strstr(m->name, "NUL") && strstr(m->name, "op") &&
        memmem(msg->via.str.ptr, msg->via.str.size, "\\x00", 4) == NULL) {
        snprintf(out + strlen(out), outlen - strlen(out),
                 " (message hides the NUL: %.*s)", (int)msg->via.str.size,
                 msg->via.str.ptr);
        goto done;
    }
    if (m->echo && (uint64_t)rid != id) {
        snprintf(out + strlen(out), outlen - strlen(out),
                 " (reply id %lld, request id %llu)", (long long)rid,
                 (unsigned long long)id);
        goto done;
    }
    good = strcmp(out, m->want) == 0;
done:
    msgpack_zone_destroy(&zone);
    return good;
}

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 0, NULL) != 0 || fx_tenant(&D, "acme", K) != 0)
        return -1;
    RAW = fx_client(&D, D.url, NULL);
    ADMIN = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    OPERATOR = fx_client(&D, D.url, D.operator_key);

    /* two valid events before the corpus, so "nothing written" is a count
     * that is not simply zero */
    crm_client *ag = fx_client(&D, D.url, AGENT);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    s(&pk, "events");
    msgpack_pack_array(&pk, 2);
    ev_ok(&pk);
    ev(&pk, ID_UUID_STR, NULL, "guest-ok", "interaction.logged", crm_now_us(), NULL);
    const msgpack_object *res;
    crm_error why;
    crm_err err = crm_client_call_raw(ag, "append", sb.data, sb.size, &res, &why);
    msgpack_sbuffer_destroy(&sb);
    crm_client_close(ag);
    if (err != CRM_OK) {
        fprintf(stderr, "setup append: %s\n", why.msg);
        return -1;
    }
    valid_events = 2;
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    crm_client_close(RAW);
    crm_client_close(ADMIN);
    crm_client_close(OPERATOR);
    int rc = fx_crmd_stop_clean(&D);
    fx_crmd_cleanup(&D);
    fx_reset();
    return rc;
}

static void
test_corpus(void **state)
{
    (void)state;
    int failures = 0;
    uint64_t head0 = head_of(ADMIN);
    assert_int_equal(head0, valid_events);
    /* the operator key and one key per tenant role */
    uint64_t keys0 = key_count();
    assert_int_equal(keys0, CRM_ROLE__COUNT);
    assert_true(NCASES >= 40);

    printf("\n%-36s %-14s %s\n", "case", "expected", "outcome");
    for (size_t i = 0; i < NCASES; i++) {
        const mcase *m = &corpus[i];
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        cur_id = 1000 + i;
        m->build(&pk, &sb);

        const void *reply;
        size_t rlen;
        crm_error why;
        char out[200];
        int good = 0;
        crm_err err = crm_client_send_bytes(RAW, sb.data, sb.size, &reply,
                                            &rlen, &why);
        size_t sent = sb.size;
        msgpack_sbuffer_destroy(&sb);
        if (err != CRM_OK)
            snprintf(out, sizeof(out), "(no reply: %s: %.120s)", crm_err_name(err),
                     why.msg);
        else
            good = check_reply(m, reply, rlen, cur_id, out, sizeof(out));

        /* nothing a bad request does may reach the log */
        uint64_t h = head_of(ADMIN);
        if (h != head0) {
            snprintf(out + strlen(out), sizeof(out) - strlen(out),
                     " (WROTE: head %llu -> %llu)", (unsigned long long)head0,
                     (unsigned long long)h);
            good = 0;
            head0 = h;
        }
        /* nor may it make a key */
        uint64_t k = key_count();
        if (k != keys0) {
            snprintf(out + strlen(out), sizeof(out) - strlen(out),
                     " (KEYS: %llu -> %llu)", (unsigned long long)keys0,
                     (unsigned long long)k);
            good = 0;
            keys0 = k;
        }
        printf("%-36s %-14s %s%s  [%zu bytes]\n", m->name, m->want, out,
               good ? "" : "   <-- WRONG", sent);
        failures += !good;
    }
    printf("%zu cases, %d wrong\n", NCASES, failures);
    fflush(stdout);
    assert_int_equal(failures, 0);
}

/* The corpus again from several clients at once: the server's contexts
 * reuse their buffers and zones between requests, so interleaved bad
 * requests must not disturb each other's replies. */
#define RACERS 4

typedef struct racer {
    int wrong, lost;
} racer;

static void *
racer_main(void *arg)
{
    racer *r = arg;
    crm_client *c = fx_client(&D, D.url, NULL);
    for (size_t i = 0; i < NCASES; i++) {
        const mcase *m = &corpus[i];
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        cur_id = 5000 + i;
        m->build(&pk, &sb);
        const void *reply;
        size_t rlen;
        crm_error why;
        char out[200];
        crm_err err = crm_client_send_bytes(c, sb.data, sb.size, &reply, &rlen,
                                            &why);
        msgpack_sbuffer_destroy(&sb);
        if (err != CRM_OK)
            r->lost++;
        else if (!check_reply(m, reply, rlen, cur_id, out, sizeof(out)))
            r->wrong++;
    }
    crm_client_close(c);
    return NULL;
}

static void
test_corpus_concurrent(void **state)
{
    (void)state;
    pthread_t th[RACERS];
    racer r[RACERS];
    uint64_t head0 = head_of(ADMIN);
    uint64_t keys0 = key_count();
    memset(r, 0, sizeof(r));
    for (int i = 0; i < RACERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, racer_main, &r[i]), 0);
    int wrong = 0, lost = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        wrong += r[i].wrong;
        lost += r[i].lost;
    }
    printf("%d clients x %zu cases at once: %d wrong, %d without reply\n",
           RACERS, NCASES, wrong, lost);
    assert_int_equal(wrong, 0);
    assert_int_equal(lost, 0);
    assert_int_equal(head_of(ADMIN), head0);
    assert_int_equal(key_count(), keys0);
}

/* A raw SP-over-TCP peer on the server's port: the handshake of a req
 * socket, then whatever bytes a test sends. -1 on failure. */
static int
raw_sp_connect(void)
{
    const char *colon = strrchr(D.url, ':');
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(colon + 1)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    static const uint8_t hello[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0}; /* req */
    uint8_t theirs[8];
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        send(fd, hello, sizeof(hello), MSG_NOSIGNAL) != (ssize_t)sizeof(hello) ||
        recv(fd, theirs, sizeof(theirs), MSG_WAITALL) != (ssize_t)sizeof(theirs) ||
        memcmp(theirs, "\0SP\0\0\x31", 6) != 0) { /* rep */
        close(fd);
        return -1;
    }
    return fd;
}

/* Writes len bytes of 0xc0 until the peer closes, for at most ms
 * milliseconds: 1 if the server closed the connection, 0 if it took
 * them all or the time ran out. */
static int
raw_feed_until_closed(int fd, size_t len, int ms)
{
    static uint8_t chunk[64 << 10];
    memset(chunk, 0xc0, sizeof(chunk));
    uint64_t deadline = (uint64_t)crm_mono_ns() + (uint64_t)ms * 1000000u;
    size_t sent = 0;
    while ((uint64_t)crm_mono_ns() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
        if (poll(&p, 1, 100) < 0)
            return 0;
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            char b;
            ssize_t r = recv(fd, &b, 1, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN))
                return 1;
            return 0; /* a reply: the server took the message */
        }
        if ((p.revents & POLLOUT) && sent < len) {
            size_t n = len - sent < sizeof(chunk) ? len - sent : sizeof(chunk);
            ssize_t w = send(fd, chunk, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0 && errno != EAGAIN)
                return errno == EPIPE || errno == ECONNRESET;
            if (w > 0)
                sent += (size_t)w;
        }
    }
    return 0;
}

/* Beyond CRM_RPC_HARD_MAX the transport drops the message (and the
 * connection) without a reply; the server must carry on. The client
 * library refuses such a request itself, and a raw peer that sends one
 * anyway is disconnected, whether it sends the whole body or stops
 * after the length. */
static void
test_over_hard_limit(void **state)
{
    (void)state;
    size_t n = CRM_RPC_HARD_MAX + 1;
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    memset(buf, 0xc0, n); /* nils: not even one valid message */
    crm_client *c;
    crm_error why;
    crm_client_opts o = {.url = D.url, .timeout_ms = 1500};
    assert_int_equal(crm_client_open(&o, &c, &why), CRM_OK);
    const void *reply;
    size_t rlen;
    uint64_t t0 = (uint64_t)crm_mono_ns();
    crm_err err = crm_client_send_bytes(c, buf, n, &reply, &rlen, &why);
    printf("client, message of 16 MiB + 1 -> %s (%s)\n", crm_err_name(err),
           why.msg);
    assert_int_equal(err, CRM_ERR_TOO_LARGE);
    assert_true((uint64_t)crm_mono_ns() - t0 < 1000000000u); /* not a timeout */
    crm_client_close(c);
    free(buf);

    for (int whole = 0; whole <= 1; whole++) {
        int fd = raw_sp_connect();
        assert_true(fd >= 0);
        uint8_t hdr[12];
        uint64_t be = n;
        for (int i = 7; i >= 0; i--, be >>= 8)
            hdr[i] = (uint8_t)be;
        memcpy(hdr + 8, "\x80\0\0\x01", 4); /* a req id */
        assert_int_equal(send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL), sizeof(hdr));
        int closed = raw_feed_until_closed(fd, whole ? n - 4 : 0, 15000);
        printf("raw peer, length %zu%s -> %s\n", n,
               whole ? " and the whole body" : " only",
               closed ? "disconnected" : "NOT disconnected");
        assert_true(closed);
        close(fd);
    }

    assert_true(crmd_alive());
    const msgpack_object *res;
    crm_client *p = fx_client(&D, D.url, NULL);
    assert_int_equal(crm_client_call(p, "ping", NULL, NULL, &res, &why), CRM_OK);
    crm_client_close(p);
}

static void
test_still_serving(void **state)
{
    (void)state;
    const msgpack_object *res;
    crm_error why;

    /* (c) alive, and (a) answering ping */
    assert_true(crmd_alive());
    assert_int_equal(kill(D.pid, 0), 0);
    crm_client *c = fx_client(&D, D.url, NULL);
    assert_int_equal(crm_client_call(c, "ping", NULL, NULL, &res, &why), CRM_OK);
    assert_true(crm_mp_get(res, "pong")->via.boolean);
    crm_client_close(c);

    /* the raw client still works too: a valid request as bytes */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    cur_id = 99;
    ping(&pk);
    const void *reply;
    size_t rlen;
    assert_int_equal(crm_client_send_bytes(RAW, sb.data, sb.size, &reply, &rlen,
                                           &why), CRM_OK);
    msgpack_sbuffer_destroy(&sb);
    msgpack_object root;
    size_t off = 0;
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    assert_int_equal(msgpack_unpack(reply, rlen, &off, &zone, &root),
                     MSGPACK_UNPACK_SUCCESS);
    assert_true(crm_mp_get(&root, "ok")->via.boolean);
    assert_int_equal(crm_mp_get(&root, "id")->via.u64, 99);
    msgpack_zone_destroy(&zone);

    /* (a) a valid append and its read */
    crm_client *ag = fx_client(&D, D.url, AGENT);
    crm_event_in e;
    fx_event(&e, "guest-after", "customer.preference_set",
             FX_BODY(FX_S("category", "pillow"), FX_S("value", "firm")));
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    s(&pk, "events");
    msgpack_pack_array(&pk, 1);
    crm_rpc_pack_event(&pk, &e);
    assert_int_equal(crm_client_call_raw(ag, "append", sb.data, sb.size, &res,
                                         &why), CRM_OK);
    msgpack_sbuffer_destroy(&sb);
    valid_events++;
    assert_int_equal(fx_res_u64(res, "duplicates"), 0);
    assert_int_equal(fx_res_u64(res, "head"), valid_events);

    fx_kv rs[] = {FX_S("stream", "guest-after")};
    fx_pack(rs, 1, &sb);
    assert_int_equal(crm_client_call_raw(ag, "read.stream", sb.data, sb.size,
                                         &res, &why), CRM_OK);
    msgpack_sbuffer_destroy(&sb);
    const msgpack_object *evs = crm_mp_get(res, "events");
    assert_int_equal(evs->via.array.size, 1);
    char buf[64];
    assert_string_equal(fx_res_str(&evs->via.array.ptr[0], "type", buf, 64),
                        "customer.preference_set");
    const msgpack_object *id = crm_mp_get(&evs->via.array.ptr[0], "id");
    assert_int_equal(id->type, MSGPACK_OBJECT_BIN);
    assert_memory_equal(id->via.bin.ptr, e.id, CRM_ID_LEN);
    assert_string_equal(fx_res_str(crm_mp_get(&evs->via.array.ptr[0], "pii"),
                                   "value", buf, 64), "firm");
    assert_int_equal(fx_res_u64(&evs->via.array.ptr[0], "position"),
                     valid_events);
    crm_client_close(ag);

    /* (b) the head is exactly the valid events: the bad ones wrote nothing */
    assert_int_equal(head_of(ADMIN), valid_events);
    fx_kv ra[] = {FX_I("from", 1), FX_I("max", 1000)};
    fx_pack(ra, 2, &sb);
    assert_int_equal(crm_client_call_raw(ADMIN, "read.all", sb.data, sb.size,
                                         &res, &why), CRM_OK);
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(crm_mp_get(res, "events")->via.array.size, valid_events);

    /* no tenant was created by the bad tenant.create requests */
    crm_client *op = fx_client(&D, D.url, D.operator_key);
    assert_int_equal(crm_client_call(op, "tenant.list", NULL, NULL, &res, &why),
                     CRM_OK);
    assert_int_equal(crm_mp_get(res, "tenants")->via.array.size, 1);
    crm_client_close(op);
    /* nor any key by the bad key.create requests */
    assert_int_equal(key_count(), CRM_ROLE__COUNT);

    /* (c) still alive */
    assert_true(crmd_alive());
    assert_int_equal(kill(D.pid, 0), 0);
    fx_reset();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_corpus_concurrent),
        cmocka_unit_test(test_over_hard_limit),
        cmocka_unit_test(test_still_serving),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
