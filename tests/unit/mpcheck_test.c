/* mpcheck_test.c - the structural msgpack check: every format family is
 * accepted, truncation at any byte, trailing bytes, the reserved byte,
 * lying container counts and deep nesting are refused, the object limit
 * counts every object once and refuses one too many with too_large, and
 * whatever it accepts msgpack-c unpacks completely. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpcheck.h"

typedef struct sample {
    const char *what;
    const uint8_t *bytes;
    size_t len;
} sample;

#define B(...)                                                                 \
    (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

/* One object of every format family, spelled out by hand. */
static const sample good[] = {
    {"positive fixint 0", B(0x00)},
    {"positive fixint 127", B(0x7f)},
    {"negative fixint -1", B(0xff)},
    {"negative fixint -32", B(0xe0)},
    {"nil", B(0xc0)},
    {"false", B(0xc2)},
    {"true", B(0xc3)},
    {"bin8", B(0xc4, 0x03, 1, 2, 3)},
    {"bin8 empty", B(0xc4, 0x00)},
    {"bin16", B(0xc5, 0x00, 0x02, 0xaa, 0xbb)},
    {"bin32", B(0xc6, 0x00, 0x00, 0x00, 0x01, 0xcc)},
    {"ext8", B(0xc7, 0x02, 0x05, 0x01, 0x02)},
    {"ext8 empty", B(0xc7, 0x00, 0x05)},
    {"ext16", B(0xc8, 0x00, 0x01, 0x05, 0x01)},
    {"ext32", B(0xc9, 0x00, 0x00, 0x00, 0x02, 0x05, 0x01, 0x02)},
    {"float32", B(0xca, 0x3f, 0x80, 0x00, 0x00)},
    {"float64", B(0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0)},
    {"uint8", B(0xcc, 0xff)},
    {"uint16", B(0xcd, 0xff, 0xff)},
    {"uint32", B(0xce, 0xff, 0xff, 0xff, 0xff)},
    {"uint64", B(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)},
    {"int8", B(0xd0, 0x80)},
    {"int16", B(0xd1, 0x80, 0x00)},
    {"int32", B(0xd2, 0x80, 0x00, 0x00, 0x00)},
    {"int64", B(0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0)},
    {"fixext1", B(0xd4, 0x01, 0xaa)},
    {"fixext2", B(0xd5, 0x01, 0xaa, 0xbb)},
    {"fixext4", B(0xd6, 0x01, 1, 2, 3, 4)},
    {"fixext8", B(0xd7, 0x01, 1, 2, 3, 4, 5, 6, 7, 8)},
    {"fixext16",
     B(0xd8, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)},
    {"fixstr empty", B(0xa0)},
    {"fixstr", B(0xa3, 'a', 'b', 'c')},
    {"str8", B(0xd9, 0x02, 'h', 'i')},
    {"str16", B(0xda, 0x00, 0x02, 'h', 'i')},
    {"str32", B(0xdb, 0x00, 0x00, 0x00, 0x02, 'h', 'i')},
    {"fixarray empty", B(0x90)},
    {"fixarray", B(0x93, 0x01, 0xc0, 0xa1, 'x')},
    {"array16", B(0xdc, 0x00, 0x02, 0x01, 0x02)},
    {"array32", B(0xdd, 0x00, 0x00, 0x00, 0x02, 0x01, 0x02)},
    {"fixmap empty", B(0x80)},
    {"fixmap", B(0x81, 0xa1, 'k', 0x01)},
    {"map16", B(0xde, 0x00, 0x01, 0xa1, 'k', 0xc3)},
    {"map32", B(0xdf, 0x00, 0x00, 0x00, 0x01, 0xa1, 'k', 0x90)},
    {"nested containers", B(0x82, 0xa1, 'a', 0x92, 0x01, 0x81, 0xa1, 'b', 0xc0,
                            0xa1, 'c', 0xdc, 0x00, 0x01, 0xd4, 0x01, 0x00)},
};
#define NGOOD (sizeof(good) / sizeof(good[0]))

static void
test_accepts_every_family(void **state)
{
    (void)state;
    for (size_t i = 0; i < NGOOD; i++) {
        crm_error why = {0};
        size_t used = 12345;
        if (crm_mpcheck(good[i].bytes, good[i].len, CRM_MP_MAX_DEPTH, &why) !=
            CRM_OK)
            fail_msg("%s refused: %s", good[i].what, why.msg);
        assert_int_equal(crm_mpcheck_prefix(good[i].bytes, good[i].len,
                                            CRM_MP_MAX_DEPTH, &used, &why),
                         CRM_OK);
        assert_int_equal(used, good[i].len);

        /* the samples themselves are right: msgpack-c reads exactly one
         * object of exactly that length */
        msgpack_zone z;
        msgpack_object o;
        size_t off = 0;
        msgpack_zone_init(&z, 256);
        assert_int_equal(msgpack_unpack((const char *)good[i].bytes,
                                        good[i].len, &off, &z, &o),
                         MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, good[i].len);
        msgpack_zone_destroy(&z);
    }
}

static void
expect_bad(const void *buf, size_t len, int max_depth, const char *needle)
{
    crm_error why;
    memset(&why, 0, sizeof(why));
    assert_int_equal(crm_mpcheck(buf, len, max_depth, &why),
                     CRM_ERR_BAD_REQUEST);
    assert_int_equal(why.code, CRM_ERR_BAD_REQUEST);
    assert_true(why.msg[0] != '\0');
    if (needle && strstr(why.msg, needle) == NULL)
        fail_msg("message '%s' does not mention '%s'", why.msg, needle);
    /* also without an explanation */
    assert_int_equal(crm_mpcheck(buf, len, max_depth, NULL),
                     CRM_ERR_BAD_REQUEST);
}

/* A request-like message using many families at once. */
static void
pack_sample(msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    static const uint8_t bin[20] = {1, 2, 3};
    static const char lng[300] = "a long string that needs str16";
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 7);
    msgpack_pack_str_with_body(&pk, "v", 1);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_uint64(&pk, UINT64_C(0x1122334455667788));
    msgpack_pack_str_with_body(&pk, "neg", 3);
    msgpack_pack_int64(&pk, -1234567890123);
    msgpack_pack_str_with_body(&pk, "bin", 3);
    msgpack_pack_bin_with_body(&pk, bin, sizeof(bin));
    msgpack_pack_str_with_body(&pk, "long", 4);
    msgpack_pack_str_with_body(&pk, lng, sizeof(lng));
    msgpack_pack_str_with_body(&pk, "f", 1);
    msgpack_pack_double(&pk, 3.25);
    msgpack_pack_str_with_body(&pk, "args", 4);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "list", 4);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_nil(&pk);
    msgpack_pack_true(&pk);
    msgpack_pack_ext_with_body(&pk, "xyz", 3, 7);
    msgpack_pack_str_with_body(&pk, "empty", 5);
    msgpack_pack_map(&pk, 0);
}

static void
test_truncated_everywhere(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_sample(&sb);
    assert_true(sb.size > 350);
    assert_int_equal(crm_mpcheck(sb.data, sb.size, CRM_MP_MAX_DEPTH, NULL),
                     CRM_OK);
    /* every proper prefix, the empty one included, is refused */
    for (size_t cut = 0; cut < sb.size; cut++) {
        crm_error why = {0};
        size_t used = 777;
        if (crm_mpcheck(sb.data, cut, CRM_MP_MAX_DEPTH, &why) !=
            CRM_ERR_BAD_REQUEST)
            fail_msg("prefix of %zu bytes accepted", cut);
        assert_true(why.msg[0] != '\0');
        assert_int_equal(
            crm_mpcheck_prefix(sb.data, cut, CRM_MP_MAX_DEPTH, &used, NULL),
            CRM_ERR_BAD_REQUEST);
    }
    msgpack_sbuffer_destroy(&sb);

    /* every family cut short by one byte or more */
    for (size_t i = 0; i < NGOOD; i++)
        for (size_t cut = 0; cut < good[i].len; cut++)
            if (crm_mpcheck(good[i].bytes, cut, CRM_MP_MAX_DEPTH, NULL) !=
                CRM_ERR_BAD_REQUEST)
                fail_msg("%s cut to %zu bytes accepted", good[i].what, cut);
    expect_bad(NULL, 0, CRM_MP_MAX_DEPTH, "truncated");
    expect_bad(B(0xa5, 'a', 'b'), CRM_MP_MAX_DEPTH, "truncated");
    expect_bad(B(0xdb, 0xff, 0xff, 0xff, 0xff, 'a'), CRM_MP_MAX_DEPTH,
               "truncated");
    expect_bad(B(0xc6, 0x7f, 0xff, 0xff, 0xff), CRM_MP_MAX_DEPTH, "truncated");
    expect_bad(B(0xc9, 0xff, 0xff, 0xff, 0xff, 0x01), CRM_MP_MAX_DEPTH,
               "truncated");
}

static void
test_trailing_and_prefix(void **state)
{
    (void)state;
    static const uint8_t two[] = {0x81, 0xa1, 'k', 0x01, 0x92, 0x01, 0x02};
    crm_error why = {0};
    size_t used = 0;

    expect_bad(two, sizeof(two), CRM_MP_MAX_DEPTH, "trailing");
    expect_bad(B(0xc0, 0xc0), CRM_MP_MAX_DEPTH, "trailing");
    expect_bad(B(0x01, 0x00), CRM_MP_MAX_DEPTH, "trailing");

    assert_int_equal(
        crm_mpcheck_prefix(two, sizeof(two), CRM_MP_MAX_DEPTH, &used, &why),
        CRM_OK);
    assert_int_equal(used, 4);
    /* the second object on its own */
    assert_int_equal(crm_mpcheck_prefix(two + used, sizeof(two) - used,
                                        CRM_MP_MAX_DEPTH, &used, &why),
                     CRM_OK);
    assert_int_equal(used, 3);
    /* garbage after the first object does not matter to the prefix check */
    assert_int_equal(
        crm_mpcheck_prefix(B(0xc3, 0xc1, 0xc1), CRM_MP_MAX_DEPTH, &used, &why),
        CRM_OK);
    assert_int_equal(used, 1);
    /* but the prefix object itself must be whole */
    assert_int_equal(
        crm_mpcheck_prefix(B(0x92, 0x01), CRM_MP_MAX_DEPTH, &used, &why),
        CRM_ERR_BAD_REQUEST);
}

static void
test_reserved_byte(void **state)
{
    (void)state;
    expect_bad(B(0xc1), CRM_MP_MAX_DEPTH, "0xc1");
    expect_bad(B(0x92, 0x01, 0xc1), CRM_MP_MAX_DEPTH, "0xc1");
    expect_bad(B(0x81, 0xc1, 0x01), CRM_MP_MAX_DEPTH, "0xc1");
    expect_bad(B(0x81, 0xa1, 'k', 0xc1), CRM_MP_MAX_DEPTH, "0xc1");
    /* inside a string or bin body it is just a byte */
    assert_int_equal(crm_mpcheck(B(0xa1, 0xc1), CRM_MP_MAX_DEPTH, NULL),
                     CRM_OK);
    assert_int_equal(crm_mpcheck(B(0xc4, 0x01, 0xc1), CRM_MP_MAX_DEPTH, NULL),
                     CRM_OK);
}

static void
test_counts_larger_than_input(void **state)
{
    (void)state;
    /* each would make msgpack-c allocate gigabytes */
    expect_bad(B(0xdd, 0xff, 0xff, 0xff, 0xff), CRM_MP_MAX_DEPTH, NULL);
    expect_bad(B(0xdf, 0x80, 0x00, 0x00, 0x00), CRM_MP_MAX_DEPTH, NULL);
    expect_bad(B(0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02), CRM_MP_MAX_DEPTH,
               NULL);
    expect_bad(B(0xdc, 0xff, 0xff, 0x01, 0x02, 0x03), CRM_MP_MAX_DEPTH, NULL);
    expect_bad(B(0xde, 0xff, 0xff, 0x01, 0x02, 0x03), CRM_MP_MAX_DEPTH, NULL);
    /* nested: the inner header lies */
    expect_bad(B(0x91, 0xdd, 0x7f, 0xff, 0xff, 0xff, 0x01), CRM_MP_MAX_DEPTH,
               NULL);
    /* a map of n pairs needs 2n objects: 2 pairs in 3 bytes is a lie */
    expect_bad(B(0x82, 0x01, 0x02, 0x03), CRM_MP_MAX_DEPTH, NULL);
    /* the header itself cut short */
    expect_bad(B(0xdd, 0x00, 0x00), CRM_MP_MAX_DEPTH, "truncated");
    expect_bad(B(0xde, 0x00), CRM_MP_MAX_DEPTH, "truncated");
    /* the exact count is fine */
    assert_int_equal(
        crm_mpcheck(B(0xdd, 0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x03),
                    CRM_MP_MAX_DEPTH, NULL),
        CRM_OK);
}

/* n nested one-element arrays around a 1: 91 91 ... 01 */
static size_t
nest(uint8_t *buf, int n, uint8_t header)
{
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        buf[len++] = header;
        if (header == 0x81) buf[len++] = 0xa0; /* "" key, then the value */
    }
    buf[len++] = 0x01;
    return len;
}

static void
test_depth(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t len;

    for (int max = 0; max <= CRM_MP_MAX_DEPTH; max++) {
        len = nest(buf, max, 0x91);
        if (crm_mpcheck(buf, len, max, NULL) != CRM_OK)
            fail_msg("%d nested arrays refused at max_depth %d", max, max);
        len = nest(buf, max + 1, 0x91);
        expect_bad(buf, len, max, "deep");
        len = nest(buf, max, 0x81);
        if (crm_mpcheck(buf, len, max, NULL) != CRM_OK)
            fail_msg("%d nested maps refused at max_depth %d", max, max);
        len = nest(buf, max + 1, 0x81);
        expect_bad(buf, len, max, "deep");
    }
    /* scalars need no depth at all */
    assert_int_equal(crm_mpcheck(B(0xc0), 0, NULL), CRM_OK);
    /* depth is nesting, not the number of containers side by side */
    assert_int_equal(
        crm_mpcheck(B(0x93, 0x91, 0x01, 0x91, 0x02, 0x91, 0x03), 2, NULL),
        CRM_OK);
    expect_bad(B(0x93, 0x91, 0x01, 0x91, 0x91, 0x02, 0x91, 0x03), 2, "deep");
}

static void
test_depth_clamped(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t len;

    len = nest(buf, CRM_MP_MAX_DEPTH, 0x91);
    assert_int_equal(crm_mpcheck(buf, len, 1000, NULL), CRM_OK);
    assert_int_equal(crm_mpcheck(buf, len, CRM_MP_MAX_DEPTH + 1, NULL), CRM_OK);
    len = nest(buf, CRM_MP_MAX_DEPTH + 1, 0x91);
    expect_bad(buf, len, CRM_MP_MAX_DEPTH + 1, "deep");
    expect_bad(buf, len, 1000, "deep");
    expect_bad(buf, len, 0x7fffffff, "deep");
    len = nest(buf, 100, 0x91);
    expect_bad(buf, len, 1000, "deep");
}

/* An array of n nils: 5 + n bytes, n + 1 objects. */
static uint8_t *
nils(uint32_t n, size_t *len)
{
    uint8_t *b = malloc(5 + (size_t)n);
    assert_non_null(b);
    b[0] = 0xdd;
    b[1] = (uint8_t)(n >> 24);
    b[2] = (uint8_t)(n >> 16);
    b[3] = (uint8_t)(n >> 8);
    b[4] = (uint8_t)n;
    memset(b + 5, 0xc0, n);
    *len = 5 + (size_t)n;
    return b;
}

static void
expect_too_many(const void *buf, size_t len, size_t max_objects)
{
    crm_error why;
    memset(&why, 0, sizeof(why));
    assert_int_equal(
        crm_mpcheck_bounded(buf, len, CRM_MP_MAX_DEPTH, max_objects, &why),
        CRM_ERR_TOO_LARGE);
    assert_int_equal(why.code, CRM_ERR_TOO_LARGE);
    if (strstr(why.msg, "objects") == NULL)
        fail_msg("message '%s' does not mention objects", why.msg);
    assert_int_equal(
        crm_mpcheck_bounded(buf, len, CRM_MP_MAX_DEPTH, max_objects, NULL),
        CRM_ERR_TOO_LARGE);
}

static void
test_object_limit_counts(void **state)
{
    (void)state;
    /* a scalar is one object, the root counts */
    assert_int_equal(crm_mpcheck_bounded(B(0xc0), CRM_MP_MAX_DEPTH, 1, NULL),
                     CRM_OK);
    /* [1, 2, 3]: 4 objects */
    assert_int_equal(
        crm_mpcheck_bounded(B(0x93, 1, 2, 3), CRM_MP_MAX_DEPTH, 4, NULL),
        CRM_OK);
    expect_too_many(B(0x93, 1, 2, 3), 3);
    /* {k: 1}: the map, its key and its value */
    assert_int_equal(
        crm_mpcheck_bounded(B(0x81, 0xa1, 'k', 1), CRM_MP_MAX_DEPTH, 3, NULL),
        CRM_OK);
    expect_too_many(B(0x81, 0xa1, 'k', 1), 2);
    /* nested: [[1, 2], {a: [3]}] = 1 + (1 + 2) + (1 + 1 + (1 + 1)) = 8 */
    static const uint8_t nested[] = {0x92, 0x92, 1,    2, 0x81,
                                     0xa1, 'a',  0x91, 3};
    assert_int_equal(
        crm_mpcheck_bounded(nested, sizeof(nested), CRM_MP_MAX_DEPTH, 8, NULL),
        CRM_OK);
    expect_too_many(nested, sizeof(nested), 7);
    /* strings, bins and exts are one object whatever their length */
    assert_int_equal(
        crm_mpcheck_bounded(B(0x92, 0xa3, 'a', 'b', 'c', 0xc4, 0x02, 1, 2),
                            CRM_MP_MAX_DEPTH, 3, NULL),
        CRM_OK);
    /* every good sample passes a generous limit, and the unbounded and
     * bounded checks agree on them */
    for (size_t i = 0; i < NGOOD; i++)
        assert_int_equal(crm_mpcheck_bounded(good[i].bytes, good[i].len,
                                             CRM_MP_MAX_DEPTH, 64, NULL),
                         CRM_OK);
}

static void
test_object_limit_large(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = nils(1u << 20, &len);

    /* the plain check has no object limit: 1M nils are well formed */
    assert_int_equal(crm_mpcheck(b, len, CRM_MP_MAX_DEPTH, NULL), CRM_OK);
    assert_int_equal(
        crm_mpcheck_bounded(b, len, CRM_MP_MAX_DEPTH, (1u << 20) + 1, NULL),
        CRM_OK);
    expect_too_many(b, len, 1u << 20);
    expect_too_many(b, len, 256u << 10);
    /* refused at the header, before the elements are walked: spoilt
     * elements after it do not change the answer */
    memset(b + 5 + 4, 0xc1, len - 5 - 4);
    expect_too_many(b, len, 256u << 10);
    free(b);

    /* a lying header is still bad_request, however small the limit */
    crm_error why;
    assert_int_equal(crm_mpcheck_bounded(B(0xdd, 0xff, 0xff, 0xff, 0xff, 0x01),
                                         CRM_MP_MAX_DEPTH, 1, &why),
                     CRM_ERR_BAD_REQUEST);
    /* so are other faults met before the limit is passed */
    assert_int_equal(
        crm_mpcheck_bounded(B(0x92, 0xc1, 0x01), CRM_MP_MAX_DEPTH, 100, NULL),
        CRM_ERR_BAD_REQUEST);
    assert_int_equal(
        crm_mpcheck_bounded(B(0x01, 0x02), CRM_MP_MAX_DEPTH, 100, NULL),
        CRM_ERR_BAD_REQUEST);

    /* many small containers side by side count their elements too:
     * 100k one-element arrays are 200k objects */
    uint8_t *m = malloc(5 + 200000);
    assert_non_null(m);
    m[0] = 0xdd;
    m[1] = 0;
    m[2] = 0x01;
    m[3] = 0x86;
    m[4] = 0xa0; /* 100000 */
    for (size_t i = 0; i < 100000; i++) {
        m[5 + 2 * i] = 0x91;
        m[6 + 2 * i] = 0xc0;
    }
    assert_int_equal(
        crm_mpcheck_bounded(m, 5 + 200000, CRM_MP_MAX_DEPTH, 200001, NULL),
        CRM_OK);
    expect_too_many(m, 5 + 200000, 200000);
    free(m);
}

/* Random inputs: whatever the check accepts, msgpack-c unpacks as exactly
 * one object of that length (so a check pass is a safe pass). */
static uint32_t
rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

static void
test_random_agrees_with_msgpack(void **state)
{
    (void)state;
    uint64_t seed = 42;
    uint8_t buf[64];
    int accepted = 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_sample(&sb);

    for (int iter = 0; iter < 100000; iter++) {
        size_t len = rnd(&seed) % sizeof(buf);
        for (size_t i = 0; i < len; i++) {
            uint32_t r = rnd(&seed);
            /* bias towards small values and headers so that containers
             * and short strings are common */
            buf[i] = r % 3 == 0 ? (uint8_t)(r >> 8) % 8
                                : (uint8_t)(0x80 + (r >> 8) % 0x80);
        }
        size_t used;
        if (crm_mpcheck_prefix(buf, len, 8, &used, NULL) != CRM_OK) continue;
        accepted++;
        assert_true(used >= 1 && used <= len);
        msgpack_zone z;
        msgpack_object o;
        size_t off = 0;
        msgpack_zone_init(&z, 256);
        assert_int_equal(msgpack_unpack((const char *)buf, used, &off, &z, &o),
                         MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, used);
        msgpack_zone_destroy(&z);
        assert_int_equal(crm_mpcheck(buf, used, 8, NULL), CRM_OK);
    }
    assert_true(accepted > 1000);

    /* single byte flips of a valid message: never a crash, and an accepted
     * result is still exactly one object */
    uint8_t *copy = malloc(sb.size);
    assert_non_null(copy);
    for (size_t i = 0; i < sb.size; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, sb.data, sb.size);
            copy[i] ^= (uint8_t)(1u << bit);
            if (crm_mpcheck(copy, sb.size, CRM_MP_MAX_DEPTH, NULL) != CRM_OK)
                continue;
            msgpack_zone z;
            msgpack_object o;
            size_t off = 0;
            msgpack_zone_init(&z, 1024);
            assert_int_equal(
                msgpack_unpack((const char *)copy, sb.size, &off, &z, &o),
                MSGPACK_UNPACK_SUCCESS);
            assert_int_equal(off, sb.size);
            msgpack_zone_destroy(&z);
        }
    }
    free(copy);
    msgpack_sbuffer_destroy(&sb);
}

/* --- unique keys ---------------------------------------------------------- */

static msgpack_object
unpack_into(msgpack_zone *z, const msgpack_sbuffer *sb)
{
    msgpack_object o;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(sb->data, sb->size, &off, z, &o),
                     MSGPACK_UNPACK_SUCCESS);
    return o;
}

/* A map of n string keys "k0".."k{n-1}", the last repeating key dup (or
 * none when dup < 0), nested at depth levels inside [ {x: ...} ]. */
static void
pack_map(msgpack_packer *pk, int n, int dup, int depth)
{
    for (int d = 0; d < depth; d++) {
        msgpack_pack_array(pk, 1);
        msgpack_pack_map(pk, 1);
        msgpack_pack_str_with_body(pk, "x", 1);
    }
    msgpack_pack_map(pk, (size_t)n);
    for (int i = 0; i < n; i++) {
        char k[16];
        int len = snprintf(k, sizeof(k), "k%d", i == n - 1 && dup >= 0 ? dup : i);
        msgpack_pack_str_with_body(pk, k, (size_t)len);
        msgpack_pack_int(pk, i);
    }
}

static crm_err
unique_of(int n, int dup, int depth, crm_error *why)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_zone z;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_zone_init(&z, 1024);
    pack_map(&pk, n, dup, depth);
    msgpack_object o = unpack_into(&z, &sb);
    crm_err err = crm_mp_unique_keys(&o, why);
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
    return err;
}

/* Every map, small (pairwise) or large (sorted), at any depth, refuses a
 * key given twice and names it; distinct keys pass. */
static void
test_unique_keys(void **state)
{
    (void)state;
    crm_error why;
    static const int sizes[] = {1, 2, 16, 17, 1000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        for (int depth = 0; depth < 3; depth++) {
            int n = sizes[i];
            assert_int_equal(unique_of(n, -1, depth, &why), CRM_OK);
            if (n < 2)
                continue;
            assert_int_equal(unique_of(n, 0, depth, &why),
                             CRM_ERR_BAD_REQUEST);
            assert_non_null(strstr(why.msg, "'k0' twice"));
            assert_int_equal(unique_of(n, n > 2 ? n / 2 - 1 : 0, depth, &why),
                             CRM_ERR_BAD_REQUEST);
        }
    /* keys of other kinds: the same integer twice; 1 and "1" differ */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_zone z;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_zone_init(&z, 1024);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_nil(&pk);
    msgpack_pack_str_with_body(&pk, "1", 1);
    msgpack_pack_nil(&pk);
    msgpack_pack_int(&pk, 2);
    msgpack_pack_nil(&pk);
    msgpack_object o = unpack_into(&z, &sb);
    assert_int_equal(crm_mp_unique_keys(&o, &why), CRM_OK);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_int(&pk, 7);
    msgpack_pack_nil(&pk);
    msgpack_pack_int(&pk, 7);
    msgpack_pack_true(&pk);
    o = unpack_into(&z, &sb);
    assert_int_equal(crm_mp_unique_keys(&o, &why), CRM_ERR_BAD_REQUEST);
    /* a key that is not UTF-8 is named in valid text */
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "\xff\x00", 2);
    msgpack_pack_nil(&pk);
    msgpack_pack_str_with_body(&pk, "\xff\x00", 2);
    msgpack_pack_nil(&pk);
    o = unpack_into(&z, &sb);
    assert_int_equal(crm_mp_unique_keys(&o, &why), CRM_ERR_BAD_REQUEST);
    assert_non_null(strstr(why.msg, "'\\xff\\x00' twice"));
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_every_family),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_trailing_and_prefix),
        cmocka_unit_test(test_reserved_byte),
        cmocka_unit_test(test_counts_larger_than_input),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_depth_clamped),
        cmocka_unit_test(test_object_limit_counts),
        cmocka_unit_test(test_object_limit_large),
        cmocka_unit_test(test_random_agrees_with_msgpack),
        cmocka_unit_test(test_unique_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
