/* event_test.c - validation and canonical encoding of submitted events:
 * one logical event gives one byte string, personal fields are split out,
 * and every kind of bad input is refused without touching the output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "fixture.h"
#include "hash.h"

/* --- helpers -------------------------------------------------------------- */

/* A hand-written msgpack buffer, for encodings the packer would never
 * choose (uint32 for 5, float32, duplicate keys, bad UTF-8 keys). */
typedef struct mp {
    uint8_t b[CRM_BODY_MAX * 2];
    size_t n;
} mp;

static mp *
mp_new(void)
{
    mp *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    return m;
}

static void
mp_raw(mp *m, const void *p, size_t n)
{
    assert_true(m->n + n <= sizeof(m->b));
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

#define MP(m, ...)                                                             \
    mp_raw(m, (const uint8_t[]){__VA_ARGS__},                                  \
           sizeof((const uint8_t[]){__VA_ARGS__}))

static void
mp_strn(mp *m, const char *s, size_t n)
{
    if (n < 32) {
        MP(m, (uint8_t)(0xa0 | n));
    } else if (n < 256) {
        MP(m, 0xd9, (uint8_t)n);
    } else if (n < 65536) {
        MP(m, 0xda, (uint8_t)(n >> 8), (uint8_t)n);
    } else {
        MP(m, 0xdb, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
           (uint8_t)n);
    }
    mp_raw(m, s, n);
}

static void
mp_str(mp *m, const char *s)
{
    mp_strn(m, s, strlen(s));
}

static const msgpack_object *
mp_obj(mp *m)
{
    const msgpack_object *o = fx_unpack(m->b, m->n);
    free(m);
    return o;
}

/* An event with a fixed id and time, so that two encodings compare. */
static crm_event_in
ev(const char *type, const msgpack_object *body)
{
    crm_event_in e;
    fx_event(&e, "guest-42", type, body);
    for (int i = 0; i < CRM_ID_LEN; i++)
        e.id[i] = (uint8_t)(0xa0 + i);
    e.occurred_at = INT64_C(1717000000000000);
    return e;
}

/* Encodes e into a fresh buffer; fails the test on error. */
static void
enc(const crm_event_in *e, msgpack_sbuffer *sb)
{
    crm_error why = {0};
    msgpack_sbuffer_init(sb);
    crm_err err = crm_event_encode(e, sb, &why);
    if (err != CRM_OK)
        fail_msg("encode %.*s: %s: %s", (int)e->type_len, e->type,
                 crm_err_name(err), why.msg);
}

static void
assert_same_bytes(const crm_event_in *a, const crm_event_in *b)
{
    msgpack_sbuffer x, y;
    enc(a, &x);
    enc(b, &y);
    assert_int_equal(x.size, y.size);
    assert_memory_equal(x.data, y.data, x.size);
    msgpack_sbuffer_destroy(&x);
    msgpack_sbuffer_destroy(&y);
}

static void
assert_other_bytes(const crm_event_in *a, const crm_event_in *b)
{
    msgpack_sbuffer x, y;
    enc(a, &x);
    enc(b, &y);
    assert_false(x.size == y.size && memcmp(x.data, y.data, x.size) == 0);
    msgpack_sbuffer_destroy(&x);
    msgpack_sbuffer_destroy(&y);
}

/* The six objects of an encoded event. */
typedef struct content {
    msgpack_zone *zone;
    msgpack_object id, stream, type, occurred_at, body, pii;
} content;

static void
decode(const msgpack_sbuffer *sb, content *c)
{
    msgpack_object *parts[6] = {&c->id,          &c->stream, &c->type,
                                &c->occurred_at, &c->body,   &c->pii};
    size_t off = 0;
    c->zone = msgpack_zone_new(4096);
    for (int i = 0; i < 6; i++) {
        msgpack_unpack_return r =
            msgpack_unpack(sb->data, sb->size, &off, c->zone, parts[i]);
        assert_int_equal(r, i < 5 ? MSGPACK_UNPACK_EXTRA_BYTES
                                  : MSGPACK_UNPACK_SUCCESS);
    }
    assert_int_equal(off, sb->size);
}

static const msgpack_object *
map_get(const msgpack_object *m, const char *key)
{
    assert_int_equal(m->type, MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

static void
assert_key(const msgpack_object *m, uint32_t i, const char *key)
{
    assert_true(i < m->via.map.size);
    const msgpack_object *k = &m->via.map.ptr[i].key;
    assert_int_equal(k->type, MSGPACK_OBJECT_STR);
    assert_int_equal(k->via.str.size, strlen(key));
    assert_memory_equal(k->via.str.ptr, key, k->via.str.size);
}

#define PREFIX "PREFIX"

/* Encodes into a buffer that already holds bytes and checks the error,
 * that the buffer is as it was, and that the message names `needle`. */
static void
expect_err(const crm_event_in *e, crm_err code, const char *needle)
{
    msgpack_sbuffer sb;
    crm_error why;
    memset(&why, 0, sizeof(why));
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_write(&sb, PREFIX, strlen(PREFIX));
    crm_err err = crm_event_encode(e, &sb, &why);
    if (err != code)
        fail_msg("%.*s: want %s, got %s (%s)", (int)e->type_len, e->type,
                 crm_err_name(code), crm_err_name(err), why.msg);
    assert_int_equal(why.code, code);
    assert_int_equal(sb.size, strlen(PREFIX));
    assert_memory_equal(sb.data, PREFIX, strlen(PREFIX));
    if (needle != NULL && strstr(why.msg, needle) == NULL)
        fail_msg("message '%s' does not name '%s'", why.msg, needle);
    /* the same without an error record */
    assert_int_equal(crm_event_encode(e, &sb, NULL), code);
    assert_int_equal(sb.size, strlen(PREFIX));
    msgpack_sbuffer_destroy(&sb);
}

static void
expect_body_err(const char *type, const msgpack_object *body, crm_err code,
                const char *field)
{
    crm_event_in e = ev(type, body);
    char needle[128];
    if (field != NULL) snprintf(needle, sizeof(needle), "'%s'", field);
    expect_err(&e, code, field ? needle : NULL);
}

static void
expect_ok(const char *type, const msgpack_object *body)
{
    crm_event_in e = ev(type, body);
    msgpack_sbuffer sb;
    enc(&e, &sb);
    msgpack_sbuffer_destroy(&sb);
}

static int
teardown(void **state)
{
    (void)state;
    fx_reset();
    return 0;
}

/* --- canonical form ------------------------------------------------------- */

static void
test_layout(void **state)
{
    (void)state;
    crm_event_in e = ev("spend.recorded",
                        FX_BODY(FX_S("category", "spa"), FX_I("amount", 12000),
                                FX_S("currency", "EUR")));
    msgpack_sbuffer sb;
    content c;
    enc(&e, &sb);
    decode(&sb, &c);
    assert_int_equal(c.id.type, MSGPACK_OBJECT_BIN);
    assert_int_equal(c.id.via.bin.size, CRM_ID_LEN);
    assert_memory_equal(c.id.via.bin.ptr, e.id, CRM_ID_LEN);
    assert_int_equal((uint8_t)sb.data[0], 0xc4); /* bin 8 */
    assert_int_equal(c.stream.type, MSGPACK_OBJECT_STR);
    assert_int_equal(c.stream.via.str.size, 8);
    assert_memory_equal(c.stream.via.str.ptr, "guest-42", 8);
    assert_int_equal(c.type.via.str.size, strlen("spend.recorded"));
    assert_memory_equal(c.type.via.str.ptr, "spend.recorded", 14);
    assert_int_equal(c.occurred_at.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(c.occurred_at.via.u64, e.occurred_at);
    /* schema order, not the client's order */
    assert_int_equal(c.body.via.map.size, 3);
    assert_key(&c.body, 0, "amount");
    assert_key(&c.body, 1, "currency");
    assert_key(&c.body, 2, "category");
    assert_int_equal(map_get(&c.body, "amount")->via.u64, 12000);
    assert_int_equal(c.pii.type, MSGPACK_OBJECT_NIL);
    msgpack_zone_free(c.zone);

    /* appends after what the buffer holds */
    msgpack_sbuffer pre;
    msgpack_sbuffer_init(&pre);
    msgpack_sbuffer_write(&pre, PREFIX, strlen(PREFIX));
    assert_int_equal(crm_event_encode(&e, &pre, NULL), CRM_OK);
    assert_int_equal(pre.size, strlen(PREFIX) + sb.size);
    assert_memory_equal(pre.data + strlen(PREFIX), sb.data, sb.size);
    msgpack_sbuffer_destroy(&pre);
    msgpack_sbuffer_destroy(&sb);
}

static void
test_key_order(void **state)
{
    (void)state;
    crm_event_in a =
        ev("booking.created",
           FX_BODY(FX_S("booking_id", "B1"), FX_S("property", "P"),
                   FX_S("arrival", "2024-06-01"),
                   FX_S("departure", "2024-06-05"), FX_I("guests", 2),
                   FX_I("amount", 50000), FX_S("currency", "EUR"),
                   FX_S("special_requests", "quiet room")));
    crm_event_in b = ev(
        "booking.created",
        FX_BODY(FX_S("special_requests", "quiet room"), FX_S("currency", "EUR"),
                FX_I("amount", 50000), FX_I("guests", 2),
                FX_S("departure", "2024-06-05"), FX_S("arrival", "2024-06-01"),
                FX_S("property", "P"), FX_S("booking_id", "B1")));
    assert_same_bytes(&a, &b);
    /* a different value is a different event */
    crm_event_in c =
        ev("booking.created",
           FX_BODY(FX_S("booking_id", "B1"), FX_S("property", "P"),
                   FX_S("arrival", "2024-06-01"),
                   FX_S("departure", "2024-06-05"), FX_I("guests", 3),
                   FX_I("amount", 50000), FX_S("currency", "EUR"),
                   FX_S("special_requests", "quiet room")));
    assert_other_bytes(&a, &c);
}

static void
test_wide_ints(void **state)
{
    (void)state;
    crm_event_in narrow =
        ev("spend.recorded", FX_BODY(FX_I("amount", 5), FX_S("currency", "EUR"),
                                     FX_S("category", "spa")));
    /* amount 5 as uint32, uint64, int8 and int64 */
    static const uint8_t forms[][9] = {
        {0xce, 0, 0, 0, 5}, {0xcf, 0, 0, 0, 0, 0, 0, 0, 5},
        {0xcc, 5},          {0xcd, 0, 5},
        {0xd0, 5},          {0xd3, 0, 0, 0, 0, 0, 0, 0, 5},
    };
    static const size_t flen[] = {5, 9, 2, 3, 2, 9};
    for (size_t i = 0; i < sizeof(flen) / sizeof(flen[0]); i++) {
        mp *m = mp_new();
        MP(m, 0x83);
        mp_str(m, "amount");
        mp_raw(m, forms[i], flen[i]);
        mp_str(m, "currency");
        mp_str(m, "EUR");
        mp_str(m, "category");
        mp_str(m, "spa");
        crm_event_in wide = ev("spend.recorded", mp_obj(m));
        assert_same_bytes(&narrow, &wide);
    }

    /* negative: -5 as int64 and int16 vs negative fixint */
    crm_event_in neg = ev("loyalty.points_adjusted",
                          FX_BODY(FX_I("points", -5), FX_S("reason", "fix")));
    mp *m = mp_new();
    MP(m, 0x82);
    mp_str(m, "reason");
    mp_str(m, "fix");
    mp_str(m, "points");
    MP(m, 0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb);
    crm_event_in wneg = ev("loyalty.points_adjusted", mp_obj(m));
    assert_same_bytes(&neg, &wneg);
    m = mp_new();
    MP(m, 0x82);
    mp_str(m, "points");
    MP(m, 0xd1, 0xff, 0xfb);
    mp_str(m, "reason");
    mp_str(m, "fix");
    wneg = ev("loyalty.points_adjusted", mp_obj(m));
    assert_same_bytes(&neg, &wneg);

    /* and in an x. body */
    m = mp_new();
    MP(m, 0x81);
    mp_str(m, "n");
    MP(m, 0xcf, 0, 0, 0, 0, 0, 0, 0x01, 0x00);
    crm_event_in xw = ev("x.spa.visit", mp_obj(m));
    crm_event_in xn = ev("x.spa.visit", FX_BODY(FX_I("n", 256)));
    assert_same_bytes(&xw, &xn);

    /* the output holds the smallest form */
    msgpack_sbuffer sb;
    enc(&xw, &sb);
    static const uint8_t tail[] = {0x81, 0xa1, 'n', 0xcd, 0x01, 0x00, 0xc0};
    assert_true(sb.size > sizeof(tail));
    assert_memory_equal(sb.data + sb.size - sizeof(tail), tail, sizeof(tail));
    msgpack_sbuffer_destroy(&sb);
}

static void
test_floats(void **state)
{
    (void)state;
    /* 1.5 as float32 and as float64 */
    mp *m = mp_new();
    MP(m, 0x81);
    mp_str(m, "hours");
    MP(m, 0xca, 0x3f, 0xc0, 0x00, 0x00);
    crm_event_in f32 = ev("x.spa.visit", mp_obj(m));
    m = mp_new();
    MP(m, 0x81);
    mp_str(m, "hours");
    MP(m, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0);
    crm_event_in f64 = ev("x.spa.visit", mp_obj(m));
    assert_same_bytes(&f32, &f64);
    msgpack_sbuffer sb;
    enc(&f32, &sb);
    static const uint8_t tail[] = {0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xc0};
    assert_memory_equal(sb.data + sb.size - sizeof(tail), tail, sizeof(tail));
    msgpack_sbuffer_destroy(&sb);
    /* a float is not an integer */
    m = mp_new();
    MP(m, 0x81);
    mp_str(m, "hours");
    MP(m, 0x01);
    crm_event_in one = ev("x.spa.visit", mp_obj(m));
    m = mp_new();
    MP(m, 0x81);
    mp_str(m, "hours");
    MP(m, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0);
    crm_event_in onef = ev("x.spa.visit", mp_obj(m));
    assert_other_bytes(&one, &onef);
}

/* {"b": {"y": 1, "x": [2, {"k": "v", "j": true}]}, "a": nil, "c": "z"} and
 * the same with every map in the opposite order. */
static const msgpack_object *
nested(int reversed)
{
    mp *m = mp_new();
    MP(m, 0x83);
    if (!reversed) {
        mp_str(m, "b");
        MP(m, 0x82);
        mp_str(m, "y");
        MP(m, 0x01);
        mp_str(m, "x");
        MP(m, 0x92, 0x02, 0x82);
        mp_str(m, "k");
        mp_str(m, "v");
        mp_str(m, "j");
        MP(m, 0xc3);
        mp_str(m, "a");
        MP(m, 0xc0);
        mp_str(m, "c");
        mp_str(m, "z");
    } else {
        mp_str(m, "c");
        mp_str(m, "z");
        mp_str(m, "a");
        MP(m, 0xc0);
        mp_str(m, "b");
        MP(m, 0x82);
        mp_str(m, "x");
        MP(m, 0x92, 0xd0, 0x02, 0x82); /* 2 as int8 too */
        mp_str(m, "j");
        MP(m, 0xc3);
        mp_str(m, "k");
        mp_str(m, "v");
        mp_str(m, "y");
        MP(m, 0xcc, 0x01);
    }
    return mp_obj(m);
}

static void
test_ext_nested_order(void **state)
{
    (void)state;
    crm_event_in a = ev("x.golf.round", nested(0));
    crm_event_in b = ev("x.golf.round", nested(1));
    assert_same_bytes(&a, &b);

    msgpack_sbuffer sb;
    content c;
    enc(&a, &sb);
    decode(&sb, &c);
    assert_key(&c.body, 0, "a");
    assert_key(&c.body, 1, "b");
    assert_key(&c.body, 2, "c");
    const msgpack_object *inner = map_get(&c.body, "b");
    assert_key(inner, 0, "x");
    assert_key(inner, 1, "y");
    const msgpack_object *arr = map_get(inner, "x");
    assert_int_equal(arr->type, MSGPACK_OBJECT_ARRAY);
    assert_key(&arr->via.array.ptr[1], 0, "j");
    assert_key(&arr->via.array.ptr[1], 1, "k");
    /* x. nil values are kept: the body is opaque */
    assert_int_equal(map_get(&c.body, "a")->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(c.pii.type, MSGPACK_OBJECT_NIL);
    msgpack_zone_free(c.zone);
    msgpack_sbuffer_destroy(&sb);

    /* byte-wise key order: "B" < "a" < "aa" < "b" */
    crm_event_in k = ev("x.keys", FX_BODY(FX_I("b", 1), FX_I("aa", 2),
                                          FX_I("a", 3), FX_I("B", 4)));
    enc(&k, &sb);
    decode(&sb, &c);
    assert_key(&c.body, 0, "B");
    assert_key(&c.body, 1, "a");
    assert_key(&c.body, 2, "aa");
    assert_key(&c.body, 3, "b");
    msgpack_zone_free(c.zone);
    msgpack_sbuffer_destroy(&sb);
}

static void
test_pii_split(void **state)
{
    (void)state;
    crm_event_in e = ev(
        "customer.registered",
        FX_BODY(FX_S("language", "en"), FX_S("email", "ada@example.com"),
                FX_S("last_name", "Okafor"), FX_S("nationality", "NG"),
                FX_S("first_name", "Ada"), FX_S("birth_date", "1990-04-01")));
    msgpack_sbuffer sb;
    content c;
    enc(&e, &sb);
    decode(&sb, &c);
    assert_int_equal(c.body.via.map.size, 2);
    assert_key(&c.body, 0, "nationality");
    assert_key(&c.body, 1, "language");
    assert_int_equal(c.pii.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(c.pii.via.map.size, 4);
    assert_key(&c.pii, 0, "first_name");
    assert_key(&c.pii, 1, "last_name");
    assert_key(&c.pii, 2, "email");
    assert_key(&c.pii, 3, "birth_date");
    const msgpack_object *em = map_get(&c.pii, "email");
    assert_int_equal(em->via.str.size, strlen("ada@example.com"));
    assert_memory_equal(em->via.str.ptr, "ada@example.com", em->via.str.size);
    /* no personal value leaks into the clear part */
    msgpack_sbuffer clear;
    msgpack_packer pk;
    msgpack_sbuffer_init(&clear);
    msgpack_packer_init(&pk, &clear, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, c.body);
    assert_null(memmem(clear.data, clear.size, "Okafor", 6));
    assert_null(memmem(clear.data, clear.size, "1990", 4));
    assert_null(memmem(clear.data, clear.size, "example", 7));
    msgpack_sbuffer_destroy(&clear);
    msgpack_zone_free(c.zone);
    msgpack_sbuffer_destroy(&sb);

    /* only personal fields: body is an empty map, not nil */
    e = ev("customer.profile_updated", FX_BODY(FX_S("phone", "+442071234567")));
    enc(&e, &sb);
    decode(&sb, &c);
    assert_int_equal(c.body.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(c.body.via.map.size, 0);
    assert_int_equal(c.pii.via.map.size, 1);
    assert_key(&c.pii, 0, "phone");
    msgpack_zone_free(c.zone);
    msgpack_sbuffer_destroy(&sb);

    /* x. events: a top-level "pii" map is the personal part */
    mp *m = mp_new();
    MP(m, 0x82);
    mp_str(m, "pii");
    MP(m, 0x82);
    mp_str(m, "name");
    mp_str(m, "Ann");
    mp_str(m, "allergy");
    mp_str(m, "nuts");
    mp_str(m, "treatment");
    mp_str(m, "massage");
    e = ev("x.spa.visit", mp_obj(m));
    enc(&e, &sb);
    decode(&sb, &c);
    assert_int_equal(c.body.via.map.size, 1);
    assert_key(&c.body, 0, "treatment");
    assert_int_equal(c.pii.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(c.pii.via.map.size, 2);
    assert_key(&c.pii, 0, "allergy");
    assert_key(&c.pii, 1, "name");
    msgpack_zone_free(c.zone);
    msgpack_sbuffer_destroy(&sb);

    /* an empty pii map is no personal data */
    mp *m2 = mp_new();
    MP(m2, 0x82, 0xa3, 'p', 'i', 'i', 0x80);
    mp_str(m2, "treatment");
    mp_str(m2, "massage");
    crm_event_in with_empty = ev("x.spa.visit", mp_obj(m2));
    crm_event_in without =
        ev("x.spa.visit", FX_BODY(FX_S("treatment", "massage")));
    assert_same_bytes(&with_empty, &without);
    expect_body_err("x.spa.visit", FX_BODY(FX_S("pii", "Ann")),
                    CRM_ERR_BAD_FIELD, "pii");
}

static void
test_nil_is_absent(void **state)
{
    (void)state;
    crm_event_in a =
        ev("spend.recorded", FX_BODY(FX_I("amount", 5), FX_S("currency", "EUR"),
                                     FX_S("category", "spa")));
    crm_event_in b =
        ev("spend.recorded",
           FX_BODY(FX_I("amount", 5), FX_N("property"), FX_S("currency", "EUR"),
                   FX_N("stay_id"), FX_S("category", "spa")));
    assert_same_bytes(&a, &b);
    /* a nil required field is missing */
    expect_body_err(
        "spend.recorded",
        FX_BODY(FX_I("amount", 5), FX_N("currency"), FX_S("category", "spa")),
        CRM_ERR_MISSING_FIELD, "currency");
    /* a nil personal field leaves no pii part */
    crm_event_in c = ev("feedback.survey_submitted",
                        FX_BODY(FX_I("nps", 9), FX_N("comment")));
    msgpack_sbuffer sb;
    content d;
    enc(&c, &sb);
    decode(&sb, &d);
    assert_int_equal(d.pii.type, MSGPACK_OBJECT_NIL);
    assert_int_equal(d.body.via.map.size, 1);
    msgpack_zone_free(d.zone);
    msgpack_sbuffer_destroy(&sb);
    /* a nil or missing body is an empty one */
    crm_event_in n1 = ev("feedback.survey_submitted", NULL);
    static const uint8_t nil = 0xc0;
    crm_event_in n2 = ev("feedback.survey_submitted", fx_unpack(&nil, 1));
    crm_event_in n3 = ev("feedback.survey_submitted", FX_BODY(FX_N("nps")));
    assert_same_bytes(&n1, &n2);
    assert_same_bytes(&n1, &n3);
    crm_event_in x1 = ev("x.empty", NULL);
    crm_event_in x2 = ev("x.empty", fx_unpack(&nil, 1));
    assert_same_bytes(&x1, &x2);
}

/* --- validation ----------------------------------------------------------- */

static void
test_unknown_type(void **state)
{
    (void)state;
    crm_event_in e = ev("hotel.teleported", NULL);
    expect_err(&e, CRM_ERR_UNKNOWN_TYPE, "hotel.teleported");
    e = ev("x.", NULL);
    expect_err(&e, CRM_ERR_UNKNOWN_TYPE, NULL);
    e = ev("x.Upper", NULL);
    expect_err(&e, CRM_ERR_UNKNOWN_TYPE, NULL);
    e = ev("", NULL);
    expect_err(&e, CRM_ERR_UNKNOWN_TYPE, NULL);
    e = ev("Spend.Recorded", NULL);
    expect_err(&e, CRM_ERR_UNKNOWN_TYPE, NULL);
    /* a broken name is bad UTF-8 wherever it stands, and not echoed */
    e = ev("bad\xff\xfe", NULL);
    expect_err(&e, CRM_ERR_BAD_UTF8, "type");
    static char longname[300];
    memset(longname, 'q', sizeof(longname) - 1);
    e = ev(longname, NULL);
    expect_err(&e, CRM_ERR_UNKNOWN_TYPE, NULL);
}

static void
test_missing_and_unknown_field(void **state)
{
    (void)state;
    expect_body_err("spend.recorded",
                    FX_BODY(FX_I("amount", 5), FX_S("category", "spa")),
                    CRM_ERR_MISSING_FIELD, "currency");
    expect_body_err("customer.registered", FX_BODY(FX_S("first_name", "A")),
                    CRM_ERR_MISSING_FIELD, "last_name");
    expect_body_err("customer.registered", NULL, CRM_ERR_MISSING_FIELD,
                    "first_name");
    /* an empty required string counts as missing */
    expect_body_err("customer.registered",
                    FX_BODY(FX_S("first_name", ""), FX_S("last_name", "B")),
                    CRM_ERR_MISSING_FIELD, "first_name");
    expect_body_err("spend.recorded",
                    FX_BODY(FX_I("amount", 5), FX_S("currency", "EUR"),
                            FX_S("category", "spa"), FX_S("colour", "red")),
                    CRM_ERR_UNKNOWN_FIELD, "colour");
    /* a field of another type */
    expect_body_err("spend.recorded",
                    FX_BODY(FX_I("amount", 5), FX_S("currency", "EUR"),
                            FX_S("category", "spa"), FX_I("nps", 3)),
                    CRM_ERR_UNKNOWN_FIELD, "nps");
    /* a field name that is not UTF-8 is bad UTF-8, not echoed */
    mp *m = mp_new();
    MP(m, 0x81, 0xa2, 0xc3, 0x28, 0x01);
    crm_event_in e = ev("feedback.survey_submitted", mp_obj(m));
    expect_err(&e, CRM_ERR_BAD_UTF8, "field name");
    /* a non-string field name */
    m = mp_new();
    MP(m, 0x81, 0x01, 0x01);
    e = ev("feedback.survey_submitted", mp_obj(m));
    expect_err(&e, CRM_ERR_BAD_FIELD, NULL);
    /* a field given twice */
    m = mp_new();
    MP(m, 0x82);
    mp_str(m, "nps");
    MP(m, 0x01);
    mp_str(m, "nps");
    MP(m, 0x02);
    e = ev("feedback.survey_submitted", mp_obj(m));
    expect_err(&e, CRM_ERR_BAD_FIELD, "'nps'");
}

static void
test_wrong_types(void **state)
{
    (void)state;
    /* str */
    expect_body_err("booking.confirmed", FX_BODY(FX_I("booking_id", 5)),
                    CRM_ERR_BAD_FIELD, "booking_id");
    expect_body_err("booking.confirmed", FX_BODY(FX_B("booking_id", 1)),
                    CRM_ERR_BAD_FIELD, "booking_id");
    static char toolong[66];
    memset(toolong, 'b', 65);
    expect_body_err("booking.confirmed", FX_BODY(FX_S("booking_id", toolong)),
                    CRM_ERR_BAD_FIELD, "booking_id");
    toolong[64] = '\0';
    expect_ok("booking.confirmed", FX_BODY(FX_S("booking_id", toolong)));
    /* int */
    expect_body_err("spend.recorded",
                    FX_BODY(FX_S("amount", "5"), FX_S("currency", "EUR"),
                            FX_S("category", "spa")),
                    CRM_ERR_BAD_FIELD, "amount");
    expect_body_err("spend.recorded",
                    FX_BODY(FX_B("amount", 1), FX_S("currency", "EUR"),
                            FX_S("category", "spa")),
                    CRM_ERR_BAD_FIELD, "amount");
    mp *m = mp_new();
    MP(m, 0x81);
    mp_str(m, "nps");
    MP(m, 0xcb, 0x40, 0x20, 0, 0, 0, 0, 0, 0); /* 8.0 */
    expect_body_err("feedback.survey_submitted", mp_obj(m), CRM_ERR_BAD_FIELD,
                    "nps");
    /* bool */
    expect_body_err("customer.consent_changed",
                    FX_BODY(FX_S("channel", "email"), FX_S("granted", "yes")),
                    CRM_ERR_BAD_FIELD, "granted");
    expect_body_err("customer.consent_changed",
                    FX_BODY(FX_S("channel", "email"), FX_I("granted", 1)),
                    CRM_ERR_BAD_FIELD, "granted");
    expect_ok("customer.consent_changed",
              FX_BODY(FX_S("channel", "email"), FX_B("granted", 0)));
    /* date */
    expect_body_err(
        "loyalty.points_earned",
        FX_BODY(FX_I("points", 5), FX_S("expires_on", "2024/01/01")),
        CRM_ERR_BAD_FIELD, "expires_on");
    expect_body_err("loyalty.points_earned",
                    FX_BODY(FX_I("points", 5), FX_I("expires_on", 20240101)),
                    CRM_ERR_BAD_FIELD, "expires_on");
    /* currency */
    static const char *const bad_ccy[] = {"eur", "EURO", "EU", "E1R", ""};
    for (size_t i = 0; i < 5; i++)
        expect_body_err("spend.recorded",
                        FX_BODY(FX_I("amount", 5), FX_S("currency", bad_ccy[i]),
                                FX_S("category", "spa")),
                        CRM_ERR_BAD_FIELD, "currency");
    expect_body_err("spend.recorded",
                    FX_BODY(FX_I("amount", 5), FX_I("currency", 978),
                            FX_S("category", "spa")),
                    CRM_ERR_BAD_FIELD, "currency");
    /* enum */
    expect_body_err("spend.recorded",
                    FX_BODY(FX_I("amount", 5), FX_S("currency", "EUR"),
                            FX_S("category", "casino")),
                    CRM_ERR_BAD_FIELD, "category");
    expect_body_err("spend.recorded",
                    FX_BODY(FX_I("amount", 5), FX_S("currency", "EUR"),
                            FX_S("category", "SPA")),
                    CRM_ERR_BAD_FIELD, "category");
    expect_body_err("spend.recorded",
                    FX_BODY(FX_I("amount", 5), FX_S("currency", "EUR"),
                            FX_S("category", "spa ")),
                    CRM_ERR_BAD_FIELD, "category");
    /* email */
    static const char *const bad_email[] = {
        "not-an-email",     "a@b",
        "@example.com",     "ada@",
        "ada@@example.com", "ada @example.com",
        "ada@example.",     "ada@.com",
        "a\x7f@example.com"};
    for (size_t i = 0; i < sizeof(bad_email) / sizeof(bad_email[0]); i++)
        expect_body_err("customer.profile_updated",
                        FX_BODY(FX_S("email", bad_email[i])), CRM_ERR_BAD_FIELD,
                        "email");
    expect_ok("customer.profile_updated", FX_BODY(FX_S("email", "a@b.co")));
    /* phone */
    static const char *const bad_phone[] = {
        "12345678",          "+0123456", "+12 3456",   "+123",
        "+1234567890123456", "+",        "+44-20-7123"};
    for (size_t i = 0; i < sizeof(bad_phone) / sizeof(bad_phone[0]); i++)
        expect_body_err("customer.profile_updated",
                        FX_BODY(FX_S("phone", bad_phone[i])), CRM_ERR_BAD_FIELD,
                        "phone");
    expect_ok("customer.profile_updated", FX_BODY(FX_S("phone", "+123456")));
    expect_ok("customer.profile_updated",
              FX_BODY(FX_S("phone", "+123456789012345")));
    /* iata */
#define FLIGHT(orig)                                                           \
    FX_BODY(FX_S("booking_id", "B1"), FX_S("flight_no", "XC123"),              \
            FX_S("origin", orig), FX_S("destination", "AYT"),                  \
            FX_S("departure_date", "2024-07-01"))
    expect_ok("charter.flight_booked", FLIGHT("LHR"));
    expect_body_err("charter.flight_booked", FLIGHT("lhr"), CRM_ERR_BAD_FIELD,
                    "origin");
    expect_body_err("charter.flight_booked", FLIGHT("LHRX"), CRM_ERR_BAD_FIELD,
                    "origin");
    expect_body_err("charter.flight_booked", FLIGHT("L1R"), CRM_ERR_BAD_FIELD,
                    "origin");
#undef FLIGHT
}

static void
test_ranges(void **state)
{
    (void)state;
    expect_ok("feedback.survey_submitted", FX_BODY(FX_I("nps", 0)));
    expect_ok("feedback.survey_submitted", FX_BODY(FX_I("nps", 10)));
    expect_body_err("feedback.survey_submitted", FX_BODY(FX_I("nps", 11)),
                    CRM_ERR_BAD_FIELD, "nps");
    expect_body_err("feedback.survey_submitted", FX_BODY(FX_I("nps", -1)),
                    CRM_ERR_BAD_FIELD, "nps");
    expect_ok("feedback.survey_submitted", FX_BODY(FX_I("csat", 1)));
    expect_ok("feedback.survey_submitted", FX_BODY(FX_I("csat", 5)));
    expect_body_err("feedback.survey_submitted", FX_BODY(FX_I("csat", 0)),
                    CRM_ERR_BAD_FIELD, "csat");
    expect_body_err("feedback.survey_submitted", FX_BODY(FX_I("csat", 6)),
                    CRM_ERR_BAD_FIELD, "csat");
    expect_body_err("loyalty.points_earned", FX_BODY(FX_I("points", 0)),
                    CRM_ERR_BAD_FIELD, "points");
    expect_body_err("loyalty.points_adjusted",
                    FX_BODY(FX_I("points", -100000001), FX_S("reason", "x")),
                    CRM_ERR_BAD_FIELD, "points");
    /* amount: any int64 except INT64_MIN; uint64 above INT64_MAX refused */
    expect_ok("spend.recorded",
              FX_BODY(FX_I("amount", INT64_MAX), FX_S("currency", "EUR"),
                      FX_S("category", "spa")));
    expect_ok("spend.recorded",
              FX_BODY(FX_I("amount", -INT64_MAX), FX_S("currency", "EUR"),
                      FX_S("category", "spa")));
    expect_body_err("spend.recorded",
                    FX_BODY(FX_I("amount", INT64_MIN), FX_S("currency", "EUR"),
                            FX_S("category", "spa")),
                    CRM_ERR_BAD_FIELD, "amount");
    mp *m = mp_new();
    MP(m, 0x83);
    mp_str(m, "amount");
    MP(m, 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0);
    mp_str(m, "currency");
    mp_str(m, "EUR");
    mp_str(m, "category");
    mp_str(m, "spa");
    expect_body_err("spend.recorded", mp_obj(m), CRM_ERR_BAD_FIELD, "amount");
}

static const msgpack_object *
arrival(const char *date)
{
    return FX_BODY(FX_S("booking_id", "B1"), FX_S("property", "P"),
                   FX_S("arrival", date), FX_S("departure", "2030-01-01"));
}

static void
test_dates(void **state)
{
    (void)state;
    static const char *const good[] = {"2024-02-29", "2000-02-29",
                                       "2023-12-31", "2024-01-01",
                                       "2023-04-30", "9999-12-31"};
    static const char *const bad[] = {
        "2023-02-29", "2024-13-01", "2024-02-30",       "1900-02-29",
        "2024-00-10", "2024-01-00", "2024-04-31",       "2024-01-32",
        "2024-1-01",  "24-01-01",   "2024-01-01T00:00", "2024/01/01",
        "2024-01-0a", "",           "2024-01-1 ",       "+024-01-01",
        "1799-12-31"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        expect_ok("booking.created", arrival(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_body_err("booking.created", arrival(bad[i]), CRM_ERR_BAD_FIELD,
                        "arrival");
}

static void
test_bad_utf8(void **state)
{
    (void)state;
    expect_body_err("complaint.opened",
                    FX_BODY(FX_S("complaint_id", "c1"),
                            FX_S("category", "noise"),
                            FX_S("description", "bad \xc3\x28 byte")),
                    CRM_ERR_BAD_UTF8, "description");
    expect_body_err("complaint.opened",
                    FX_BODY(FX_S("complaint_id", "c1\xed\xa0\x80"),
                            FX_S("category", "noise")),
                    CRM_ERR_BAD_UTF8, "complaint_id");
    /* a NUL inside a string field */
    mp *m = mp_new();
    MP(m, 0x81);
    mp_str(m, "booking_id");
    mp_strn(m, "ab\0cd", 5);
    expect_body_err("booking.confirmed", mp_obj(m), CRM_ERR_BAD_UTF8,
                    "booking_id");
    /* x. body: a key, a nested key, a value */
    m = mp_new();
    MP(m, 0x81, 0xa2, 0xc0, 0x80, 0x01);
    crm_event_in e = ev("x.spa.visit", mp_obj(m));
    expect_err(&e, CRM_ERR_BAD_UTF8, "key");
    m = mp_new();
    MP(m, 0x81);
    mp_str(m, "inner");
    MP(m, 0x81, 0xa1, 0xff, 0x01);
    e = ev("x.spa.visit", mp_obj(m));
    expect_err(&e, CRM_ERR_BAD_UTF8, "key");
    m = mp_new();
    MP(m, 0x81);
    mp_str(m, "list");
    MP(m, 0x91, 0xa3, 0xf4, 0x90, 0x80);
    e = ev("x.spa.visit", mp_obj(m));
    expect_err(&e, CRM_ERR_BAD_UTF8, NULL);
}

static void
test_envelope(void **state)
{
    (void)state;
    crm_event_in ok = ev("feedback.survey_submitted", FX_BODY(FX_I("nps", 9)));
    crm_event_in e = ok;

    memset(e.id, 0, sizeof(e.id));
    expect_err(&e, CRM_ERR_BAD_REQUEST, "id");
    e = ok;
    memset(e.id, 0, sizeof(e.id) - 1); /* only an all-zero id is missing */
    msgpack_sbuffer sb;
    enc(&e, &sb);
    msgpack_sbuffer_destroy(&sb);

    e = ok;
    e.stream = "";
    e.stream_len = 0;
    expect_err(&e, CRM_ERR_BAD_REQUEST, "stream");
    static char s65[66];
    memset(s65, 's', 65);
    e.stream = s65;
    e.stream_len = 65;
    expect_err(&e, CRM_ERR_TOO_LARGE, "stream");
    e.stream_len = 64;
    enc(&e, &sb);
    msgpack_sbuffer_destroy(&sb);
    e.stream = "guest\n42";
    e.stream_len = 8;
    expect_err(&e, CRM_ERR_BAD_REQUEST, "stream");
    e.stream = "guest\x7f";
    e.stream_len = 6;
    expect_err(&e, CRM_ERR_BAD_REQUEST, "stream");
    e.stream = "guest\0x";
    e.stream_len = 7;
    expect_err(&e, CRM_ERR_BAD_REQUEST, "stream");
    e.stream = "guest\xc3";
    e.stream_len = 6;
    expect_err(&e, CRM_ERR_BAD_UTF8, "stream");
    e.stream = "g\xc3\xbcst"; /* UTF-8 ids are fine */
    e.stream_len = 5;
    enc(&e, &sb);
    msgpack_sbuffer_destroy(&sb);

    e = ok;
    e.occurred_at = 0;
    expect_err(&e, CRM_ERR_BAD_REQUEST, "occurred_at");
    e.occurred_at = -1;
    expect_err(&e, CRM_ERR_BAD_REQUEST, "occurred_at");
    e.occurred_at = INT64_MIN;
    expect_err(&e, CRM_ERR_BAD_REQUEST, "occurred_at");
    e.occurred_at = CRM_TIME_MAX + 1;
    expect_err(&e, CRM_ERR_BAD_REQUEST, "occurred_at");
    e.occurred_at = CRM_TIME_MAX;
    enc(&e, &sb);
    msgpack_sbuffer_destroy(&sb);
    e.occurred_at = 1;
    enc(&e, &sb);
    msgpack_sbuffer_destroy(&sb);

    assert_true(crm_stream_id_valid("a", 1));
    assert_false(crm_stream_id_valid("a\tb", 3));
    assert_false(crm_stream_id_valid(s65, 65));
}

static void
test_with_companion(void **state)
{
    (void)state;
    const msgpack_object *b =
        FX_BODY(FX_S("booking_id", "B1"), FX_S("property", "P"),
                FX_S("arrival", "2024-06-01"), FX_S("departure", "2024-06-05"),
                FX_I("amount", 100));
    crm_event_in e = ev("booking.created", b);
    expect_err(&e, CRM_ERR_MISSING_FIELD, "'amount' requires field 'currency'");
    b = FX_BODY(FX_S("booking_id", "B1"), FX_S("property", "P"),
                FX_S("arrival", "2024-06-01"), FX_S("departure", "2024-06-05"),
                FX_S("currency", "EUR"));
    e = ev("booking.created", b);
    expect_err(&e, CRM_ERR_MISSING_FIELD, "'currency' requires field 'amount'");
    /* companion given as nil is still missing */
    b = FX_BODY(FX_S("booking_id", "B1"), FX_I("fee_amount", 100),
                FX_N("currency"));
    expect_body_err("booking.cancelled", b, CRM_ERR_MISSING_FIELD,
                    "fee_amount");
    expect_ok("booking.cancelled",
              FX_BODY(FX_S("booking_id", "B1"), FX_I("fee_amount", 100),
                      FX_S("currency", "GBP")));
}

static void
test_body_shape(void **state)
{
    (void)state;
    static const uint8_t arr[] = {0x91, 0x01}, str[] = {0xa1, 'x'},
                         one[] = {0x01};
    const uint8_t *shapes[] = {arr, str, one};
    size_t lens[] = {sizeof(arr), sizeof(str), sizeof(one)};
    for (size_t i = 0; i < 3; i++) {
        crm_event_in e =
            ev("feedback.survey_submitted", fx_unpack(shapes[i], lens[i]));
        expect_err(&e, CRM_ERR_BAD_FIELD, "body");
        e = ev("x.spa.visit", fx_unpack(shapes[i], lens[i]));
        expect_err(&e, CRM_ERR_BAD_FIELD, "body");
    }
}

/* levels nested maps {"a": {"a": ... leaf}}; leaf 1 is an int, 0 an
 * empty map. */
static const msgpack_object *
deep(int levels, int leaf)
{
    mp *m = mp_new();
    for (int i = 0; i < levels - 1; i++) {
        MP(m, 0x81);
        mp_str(m, "a");
    }
    if (leaf) {
        MP(m, 0x81);
        mp_str(m, "a");
        MP(m, 0x01);
    } else {
        MP(m, 0x80);
    }
    return mp_obj(m);
}

static void
test_ext_limits(void **state)
{
    (void)state;
    crm_event_in e;

    /* nesting: the body map is level 1 */
    expect_ok("x.deep", deep(CRM_BODY_DEPTH - 1, 1));
    expect_ok("x.deep", deep(CRM_BODY_DEPTH, 0));
    e = ev("x.deep", deep(CRM_BODY_DEPTH + 1, 0));
    expect_err(&e, CRM_ERR_BAD_FIELD, "deeper");
    e = ev("x.deep", deep(CRM_BODY_DEPTH + 1, 1));
    expect_err(&e, CRM_ERR_BAD_FIELD, "deeper");
    e = ev("x.deep", deep(20, 1));
    expect_err(&e, CRM_ERR_BAD_FIELD, "deeper");
    /* arrays count too */
    mp *m = mp_new();
    MP(m, 0x81);
    mp_str(m, "a");
    for (int i = 0; i < CRM_BODY_DEPTH + 1; i++)
        MP(m, 0x91);
    MP(m, 0x01);
    e = ev("x.deep", mp_obj(m));
    expect_err(&e, CRM_ERR_BAD_FIELD, "deeper");

    /* non-string keys, at the top and nested */
    m = mp_new();
    MP(m, 0x81, 0x01, 0x02);
    e = ev("x.keys", mp_obj(m));
    expect_err(&e, CRM_ERR_BAD_FIELD, "keys");
    m = mp_new();
    MP(m, 0x81);
    mp_str(m, "in");
    MP(m, 0x81, 0xc4, 0x01, 'k', 0x02); /* bin key */
    e = ev("x.keys", mp_obj(m));
    expect_err(&e, CRM_ERR_BAD_FIELD, "keys");

    /* duplicate keys would make the order ambiguous */
    m = mp_new();
    MP(m, 0x82);
    mp_str(m, "k");
    MP(m, 0x01);
    mp_str(m, "k");
    MP(m, 0x02);
    e = ev("x.keys", mp_obj(m));
    expect_err(&e, CRM_ERR_BAD_FIELD, "'k'");

    /* NaN and infinities, as float64 and float32 */
    static const uint8_t nonfinite[][9] = {
        {0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0},
        {0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0},
        {0xcb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0},
        {0xca, 0x7f, 0xc0, 0, 0},
    };
    static const size_t nlen[] = {9, 9, 9, 5};
    for (size_t i = 0; i < 4; i++) {
        m = mp_new();
        MP(m, 0x81);
        mp_str(m, "score");
        mp_raw(m, nonfinite[i], nlen[i]);
        e = ev("x.float", mp_obj(m));
        expect_err(&e, CRM_ERR_BAD_FIELD, "NaN");
    }
    /* ext values */
    m = mp_new();
    MP(m, 0x81);
    mp_str(m, "when");
    MP(m, 0xd6, 0xff, 0, 0, 0, 1);
    e = ev("x.ext", mp_obj(m));
    expect_err(&e, CRM_ERR_BAD_FIELD, "ext");
}

static void
test_too_large(void **state)
{
    (void)state;
    /* the size of everything but the body: encode an empty body */
    crm_event_in e = ev("x.blob", NULL);
    msgpack_sbuffer sb;
    enc(&e, &sb);
    size_t head = sb.size - 2; /* empty map, nil */
    msgpack_sbuffer_destroy(&sb);

    /* {"data": str16 of n}: 1 + 5 + 3 + n bytes of body, 1 of pii */
    size_t n = CRM_BODY_MAX - 10;
    char *big = malloc(n + 2);
    assert_non_null(big);
    memset(big, 'a', n + 1);
    big[n] = '\0';
    e = ev("x.blob", FX_BODY(FX_S("data", big)));
    enc(&e, &sb);
    assert_int_equal(sb.size - head, CRM_BODY_MAX);
    msgpack_sbuffer_destroy(&sb);
    big[n] = 'a';
    big[n + 1] = '\0';
    e = ev("x.blob", FX_BODY(FX_S("data", big)));
    expect_err(&e, CRM_ERR_TOO_LARGE, "limit");
    free(big);

    /* far over, in a nested value */
    mp *m = mp_new();
    MP(m, 0x81);
    mp_str(m, "pii");
    MP(m, 0x81);
    mp_str(m, "scan");
    MP(m, 0xc6, 0x00, 0x01, 0x10, 0x00); /* bin 32 of 69632 */
    m->n += 0x11000;
    e = ev("x.blob", mp_obj(m));
    expect_err(&e, CRM_ERR_TOO_LARGE, NULL);
}

static void
test_digest(void **state)
{
    (void)state;
    uint8_t full[CRM_HASH_LEN], d[CRM_DIGEST_LEN];
    crm_sha256_2("abc", 3, NULL, 0, full);
    crm_event_digest("abc", 3, d);
    assert_memory_equal(d, full, CRM_DIGEST_LEN);
    crm_event_digest("abd", 3, d);
    assert_memory_not_equal(d, full, CRM_DIGEST_LEN);
}

/* Regressions from fuzzing and review: an empty key in an x. body (a NULL
 * pointer in msgpack-c), a nil duplicate of a known field, two 'pii'
 * maps in an x. body. */
static void
test_key_edge_cases(void **state)
{
    (void)state;
    mp *m = mp_new();
    MP(m, 0x82, 0xa0, 0x01, 0xa1, 'a', 0x02); /* {"": 1, "a": 2} */
    const msgpack_object *empty_key = mp_obj(m);
    m = mp_new();
    MP(m, 0x82, 0xa1, 'a', 0x02, 0xa0, 0x01); /* same, other order */
    crm_event_in a = ev("x.edge", empty_key), b = ev("x.edge", mp_obj(m));
    assert_same_bytes(&a, &b);

    m = mp_new();
    MP(m, 0x82); /* {"points": nil, "points": 5} */
    mp_str(m, "points");
    MP(m, 0xc0);
    mp_str(m, "points");
    MP(m, 0x05);
    expect_body_err("loyalty.points_earned", mp_obj(m), CRM_ERR_BAD_FIELD,
                    "points");

    m = mp_new();
    MP(m, 0x82); /* {"pii": {}, "pii": {"x": 1}} */
    mp_str(m, "pii");
    MP(m, 0x80);
    mp_str(m, "pii");
    MP(m, 0x81, 0xa1, 'x', 0x01);
    expect_body_err("x.edge", mp_obj(m), CRM_ERR_BAD_FIELD, "pii");
}

int
main(void)
{
#define T(f) cmocka_unit_test_teardown(f, teardown)
    const struct CMUnitTest tests[] = {
        T(test_layout),
        T(test_key_order),
        T(test_wide_ints),
        T(test_floats),
        T(test_ext_nested_order),
        T(test_pii_split),
        T(test_nil_is_absent),
        T(test_unknown_type),
        T(test_missing_and_unknown_field),
        T(test_wrong_types),
        T(test_ranges),
        T(test_dates),
        T(test_bad_utf8),
        T(test_envelope),
        T(test_with_companion),
        T(test_body_shape),
        T(test_ext_limits),
        T(test_too_large),
        T(test_digest),
    T(test_key_edge_cases),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
