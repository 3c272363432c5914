/* record_test.c - stored records: assemble from header and canonical
 * content, seal, decode, verify, and refuse every damaged byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "record.h"

typedef struct built {
    crm_event_in ev;
    crm_record_hdr h;
    uint8_t buf[8192];
    size_t hdr_len;     /* bytes of R's header */
    size_t content_len; /* bytes of canonical content */
    size_t rlen;        /* bytes of R */
    size_t len;         /* R + H */
    uint8_t hash[CRM_HASH_LEN];
} built;

static const char tenant[] = "acme-hotels";
static const char actor[] = "key-ops-1";

static void
build(built *b, const char *type, const msgpack_object *body)
{
    msgpack_sbuffer sb;
    crm_error why;

    memset(b, 0, sizeof(*b));
    fx_event(&b->ev, "guest-7", type, body);
    b->h.tenant = tenant;
    b->h.tenant_len = strlen(tenant);
    b->h.position = 4242;
    b->h.version = 17;
    b->h.stream_prev = 4100;
    b->h.recorded_at = b->ev.occurred_at + 1234;
    b->h.actor = actor;
    b->h.actor_len = strlen(actor);
    for (int i = 0; i < CRM_HASH_LEN; i++)
        b->h.prev_hash[i] = (uint8_t)(i * 7 + 1);

    b->hdr_len = crm_record_hdr_encode(&b->h, b->buf);
    assert_true(b->hdr_len > 0 && b->hdr_len <= CRM_RECORD_HDR_MAX);
    msgpack_sbuffer_init(&sb);
    if (crm_event_encode(&b->ev, &sb, &why) != CRM_OK)
        fail_msg("encode: %s", why.msg);
    assert_true(b->hdr_len + sb.size + CRM_RECORD_TRAILER <= sizeof(b->buf));
    memcpy(b->buf + b->hdr_len, sb.data, sb.size);
    b->content_len = sb.size;
    b->rlen = b->hdr_len + sb.size;
    msgpack_sbuffer_destroy(&sb);
    crm_record_seal(b->buf, b->rlen, b->h.prev_hash, b->hash);
    b->len = b->rlen + CRM_RECORD_TRAILER;
}

static built *
registered(void)
{
    static built b;
    build(&b, "customer.registered",
          FX_BODY(FX_S("first_name", "Ada"), FX_S("last_name", "Okafor"),
                  FX_S("email", "ada@example.com"), FX_S("language", "en")));
    return &b;
}

/* A heap copy of exactly len bytes, so that ASan sees any over-read. */
static uint8_t *
dup_exact(const void *p, size_t len)
{
    uint8_t *d = malloc(len ? len : 1);
    assert_non_null(d);
    memcpy(d, p, len);
    return d;
}

static int
teardown(void **state)
{
    (void)state;
    fx_reset();
    return 0;
}

/* The lean reading of buf against the full one (err, r): it accepts
 * only what the full one accepts, and then reads the same header, id,
 * stream, type, content and hash. */
static void
check_lean(const uint8_t *buf, size_t len, crm_err err, const crm_record *r)
{
    crm_record l;
    crm_err lerr = crm_record_decode_lean(buf, len, &l, NULL);
    if (lerr == CRM_OK && err != CRM_OK)
        fail_msg("the lean reading accepts a record the full one refuses");
    if (lerr != CRM_OK) {
        assert_int_equal(lerr, CRM_ERR_CORRUPT);
        return;
    }
    assert_int_equal(l.h.position, r->h.position);
    assert_int_equal(l.h.version, r->h.version);
    assert_int_equal(l.h.stream_prev, r->h.stream_prev);
    assert_int_equal(l.h.recorded_at, r->h.recorded_at);
    assert_int_equal(l.occurred_at, r->occurred_at);
    assert_int_equal(l.h.tenant_len, r->h.tenant_len);
    assert_memory_equal(l.h.tenant, r->h.tenant, l.h.tenant_len);
    assert_int_equal(l.h.actor_len, r->h.actor_len);
    assert_memory_equal(l.h.prev_hash, r->h.prev_hash, CRM_HASH_LEN);
    assert_ptr_equal(l.id, r->id);
    assert_ptr_equal(l.stream, r->stream);
    assert_int_equal(l.stream_len, r->stream_len);
    assert_ptr_equal(l.type, r->type);
    assert_ptr_equal(l.content, r->content);
    assert_int_equal(l.content_len, r->content_len);
    assert_int_equal(l.rlen, r->rlen);
    assert_ptr_equal(l.hash, r->hash);
    /* the public part ends where the full reading's pii begins */
    assert_int_equal(l.content_pub,
                     crm_event_pii_at(r->content, r->content_len));
}

static void
test_round_trip(void **state)
{
    (void)state;
    built *b = registered();
    uint8_t *buf = dup_exact(b->buf, b->len);
    msgpack_zone *z = msgpack_zone_new(1024);
    crm_record r;
    crm_error why;

    assert_int_equal(crm_record_decode(buf, b->len, z, &r, &why), CRM_OK);
    check_lean(buf, b->len, CRM_OK, &r);
    assert_int_equal(r.h.tenant_len, strlen(tenant));
    assert_memory_equal(r.h.tenant, tenant, r.h.tenant_len);
    assert_int_equal(r.h.position, 4242);
    assert_int_equal(r.h.version, 17);
    assert_int_equal(r.h.stream_prev, 4100);
    assert_int_equal(r.h.recorded_at, b->h.recorded_at);
    assert_int_equal(r.h.actor_len, strlen(actor));
    assert_memory_equal(r.h.actor, actor, r.h.actor_len);
    assert_memory_equal(r.h.prev_hash, b->h.prev_hash, CRM_HASH_LEN);
    assert_memory_equal(r.id, b->ev.id, CRM_ID_LEN);
    assert_int_equal(r.stream_len, 7);
    assert_memory_equal(r.stream, "guest-7", 7);
    assert_int_equal(r.type_len, strlen("customer.registered"));
    assert_memory_equal(r.type, "customer.registered", r.type_len);
    assert_int_equal(r.occurred_at, b->ev.occurred_at);
    assert_int_equal(r.body.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(r.body.via.map.size, 1);
    assert_int_equal(r.pii.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(r.pii.via.map.size, 3);
    assert_ptr_equal(r.content, buf + b->hdr_len);
    assert_int_equal(r.content_len, b->content_len);
    assert_int_equal(r.rlen, b->rlen);
    assert_memory_equal(r.hash, b->hash, CRM_HASH_LEN);
    /* H is SHA-256(prev_hash || R) */
    uint8_t h[CRM_HASH_LEN];
    crm_sha256_2(b->h.prev_hash, CRM_HASH_LEN, buf, b->rlen, h);
    assert_memory_equal(h, b->hash, CRM_HASH_LEN);
    assert_int_equal(buf[b->rlen], 0xc4);
    assert_int_equal(buf[b->rlen + 1], CRM_HASH_LEN);

    assert_int_equal(crm_record_verify(buf, &r, b->h.prev_hash), 1);
    uint8_t other[CRM_HASH_LEN];
    memcpy(other, b->h.prev_hash, CRM_HASH_LEN);
    other[CRM_HASH_LEN - 1] ^= 1;
    assert_int_equal(crm_record_verify(buf, &r, other), 0);
    memset(other, 0, sizeof(other));
    assert_int_equal(crm_record_verify(buf, &r, other), 0);
    msgpack_zone_free(z);
    free(buf);
}

static void
test_nil_pii_and_extremes(void **state)
{
    (void)state;
    static built b;
    build(&b, "x.spa.visit", FX_BODY(FX_S("treatment", "massage")));
    b.h.position = UINT64_MAX;
    b.h.version = 0;
    b.h.stream_prev = 0;
    b.h.recorded_at = -5;
    b.h.actor_len = 0;
    /* re-encode the header with other numbers (content is unchanged) */
    uint8_t hdr[CRM_RECORD_HDR_MAX];
    size_t hl = crm_record_hdr_encode(&b.h, hdr);
    assert_true(hl > 0);
    uint8_t *buf = malloc(hl + b.content_len + CRM_RECORD_TRAILER);
    memcpy(buf, hdr, hl);
    memcpy(buf + hl, b.buf + b.hdr_len, b.content_len);
    uint8_t hash[CRM_HASH_LEN];
    crm_record_seal(buf, hl + b.content_len, b.h.prev_hash, hash);

    msgpack_zone *z = msgpack_zone_new(1024);
    crm_record r;
    assert_int_equal(crm_record_decode(buf,
                                       hl + b.content_len + CRM_RECORD_TRAILER,
                                       z, &r, NULL),
                     CRM_OK);
    assert_int_equal(r.h.position, UINT64_MAX);
    assert_int_equal(r.h.version, 0);
    assert_int_equal(r.h.recorded_at, -5);
    assert_int_equal(r.h.actor_len, 0);
    assert_int_equal(r.pii.type, MSGPACK_OBJECT_NIL);
    assert_int_equal(r.body.via.map.size, 1);
    assert_int_equal(r.content_len, b.content_len);
    assert_int_equal(crm_record_verify(buf, &r, b.h.prev_hash), 1);
    /* UINT64_MAX (uint 64) and -5 (a negative fixint) read lean too */
    check_lean(buf, hl + b.content_len + CRM_RECORD_TRAILER, CRM_OK, &r);
    msgpack_zone_free(z);
    free(buf);
}

static void
test_every_byte_flip(void **state)
{
    (void)state;
    built *b = registered();
    static const uint8_t masks[] = {0x01, 0x80, 0xff, 0x10};
    size_t decoded = 0;
    for (size_t i = 0; i < b->len; i++) {
        for (size_t m = 0; m < sizeof(masks); m++) {
            uint8_t *buf = dup_exact(b->buf, b->len);
            buf[i] ^= masks[m];
            msgpack_zone *z = msgpack_zone_new(1024);
            crm_record r;
            crm_error why;
            crm_err err = crm_record_decode(buf, b->len, z, &r, &why);
            check_lean(buf, b->len, err, &r);
            if (err == CRM_OK) {
                decoded++;
                if (crm_record_verify(buf, &r, b->h.prev_hash))
                    fail_msg("byte %zu ^ 0x%02x still verifies", i, masks[m]);
            } else {
                /* a damaged count (0xcd -> 0xdd claiming 4G elements) is
                 * refused by the shape check before anything is allocated */
                if (err != CRM_ERR_CORRUPT)
                    fail_msg("byte %zu ^ 0x%02x: %s", i, masks[m],
                             crm_err_name(err));
                assert_int_equal(why.code, err);
            }
            msgpack_zone_free(z);
            free(buf);
        }
    }
    /* most flips land in values: decode succeeds and only the hash tells */
    assert_true(decoded > b->len);
}

static void
test_truncated(void **state)
{
    (void)state;
    built *b = registered();
    for (size_t n = 0; n < b->len; n++) {
        uint8_t *buf = dup_exact(b->buf, n);
        msgpack_zone *z = msgpack_zone_new(1024);
        crm_record r;
        crm_error why;
        assert_int_equal(crm_record_decode(buf, n, z, &r, &why),
                         CRM_ERR_CORRUPT);
        assert_int_equal(crm_record_decode_lean(buf, n, &r, NULL),
                         CRM_ERR_CORRUPT);
        msgpack_zone_free(z);
        free(buf);
    }
    /* trailing bytes after H */
    uint8_t *buf = dup_exact(b->buf, b->len + 1);
    msgpack_zone *z = msgpack_zone_new(1024);
    crm_record r;
    assert_int_equal(crm_record_decode(buf, b->len + 1, z, &r, NULL),
                     CRM_ERR_CORRUPT);
    msgpack_zone_free(z);
    free(buf);
    /* R without H */
    z = msgpack_zone_new(1024);
    buf = dup_exact(b->buf, b->rlen);
    assert_int_equal(crm_record_decode(buf, b->rlen, z, &r, NULL),
                     CRM_ERR_CORRUPT);
    msgpack_zone_free(z);
    free(buf);
}

/* Packs a record element by element, replacing element `bad` with a value
 * of the wrong type (or, for bad < 0, changing the shape). */
static size_t
pack_record(uint8_t *out, size_t cap, int bad)
{
    built *b = registered();
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* the content's six objects */
    msgpack_zone *z = msgpack_zone_new(1024);
    msgpack_object c[6];
    size_t off = 0;
    const char *content = (const char *)b->buf + b->hdr_len;
    for (int i = 0; i < 6; i++)
        msgpack_unpack(content, b->content_len, &off, z, &c[i]);

    msgpack_pack_array(&pk, bad == -1   ? 13
                            : bad == -2 ? 15
                                        : CRM_RECORD_FIELDS);
    for (int i = 0; i < CRM_RECORD_FIELDS; i++) {
        if (i == bad) {
            /* the hash of a bin has the wrong length; others become
             * strings, which no non-string element accepts; strings
             * become ints */
            if (i == 7 || i == 8)
                msgpack_pack_bin_with_body(&pk, "short", 5);
            else if (i == 1 || i == 6 || i == 9 || i == 10)
                msgpack_pack_int(&pk, 7);
            else if (i == 2 || i == 3 || i == 4)
                msgpack_pack_int(&pk, -1);
            else
                msgpack_pack_str_with_body(&pk, "x", 1);
            continue;
        }
        switch (i) {
        case 0:
            msgpack_pack_uint8(&pk, bad == -3 ? 2 : CRM_RECORD_FMT);
            break;
        case 1:
            msgpack_pack_str_with_body(&pk, tenant, strlen(tenant));
            break;
        case 2:
            msgpack_pack_uint64(&pk, 1);
            break;
        case 3:
            msgpack_pack_uint64(&pk, 0);
            break;
        case 4:
            msgpack_pack_uint64(&pk, 0);
            break;
        case 5:
            msgpack_pack_int64(&pk, 1);
            break;
        case 6:
            msgpack_pack_str_with_body(&pk, actor, strlen(actor));
            break;
        case 7:
            msgpack_pack_bin_with_body(&pk, b->h.prev_hash, CRM_HASH_LEN);
            break;
        case 8:
            if (bad == -4) { /* a 16-byte id in non-canonical bin 16 */
                static const char bin16[] = {(char)0xc5, 0, CRM_ID_LEN};
                msgpack_sbuffer_write(&sb, bin16, sizeof(bin16));
                msgpack_sbuffer_write(&sb, (const char *)b->ev.id, CRM_ID_LEN);
            } else {
                msgpack_pack_object(&pk, c[0]);
            }
            break;
        default:
            msgpack_pack_object(&pk, c[i - 8]);
            break;
        }
        if (bad == -1 && i == 12) break;
    }
    if (bad == -2) msgpack_pack_nil(&pk);
    msgpack_zone_free(z);
    assert_true(sb.size + CRM_RECORD_TRAILER <= cap);
    memcpy(out, sb.data, sb.size);
    size_t rlen = sb.size;
    msgpack_sbuffer_destroy(&sb);
    uint8_t hash[CRM_HASH_LEN];
    crm_record_seal(out, rlen, b->h.prev_hash, hash);
    return rlen + CRM_RECORD_TRAILER;
}

static void
test_wrong_shapes(void **state)
{
    (void)state;
    uint8_t buf[8192];
    msgpack_zone *z;
    crm_record r;
    crm_error why;

    /* the packer itself gives a good record */
    size_t n = pack_record(buf, sizeof(buf), 99);
    z = msgpack_zone_new(1024);
    assert_int_equal(crm_record_decode(buf, n, z, &r, &why), CRM_OK);
    msgpack_zone_free(z);

    for (int bad = -4; bad < CRM_RECORD_FIELDS; bad++) {
        n = pack_record(buf, sizeof(buf), bad);
        uint8_t *copy = dup_exact(buf, n);
        z = msgpack_zone_new(1024);
        crm_err err = crm_record_decode(copy, n, z, &r, &why);
        if (err != CRM_ERR_CORRUPT)
            fail_msg("element %d: decode gave %s", bad, crm_err_name(err));
        if (crm_record_decode_lean(copy, n, &r, NULL) != CRM_ERR_CORRUPT)
            fail_msg("element %d: the lean reading accepts it", bad);
        msgpack_zone_free(z);
        free(copy);
    }

    /* not an array at all; a bad trailer */
    static const uint8_t notarr[] = {0x81, 0xa1, 'a', 0x01, 0xc4, 0x20};
    uint8_t na[sizeof(notarr) + CRM_HASH_LEN] = {0};
    memcpy(na, notarr, sizeof(notarr));
    z = msgpack_zone_new(1024);
    assert_int_equal(crm_record_decode(na, sizeof(na), z, &r, &why),
                     CRM_ERR_CORRUPT);
    built *b = registered();
    b->buf[b->rlen + 1] = 31; /* bin 8 of 31 */
    assert_int_equal(crm_record_decode(b->buf, b->len - 1, z, &r, &why),
                     CRM_ERR_CORRUPT);
    msgpack_zone_free(z);
}

static void
test_hdr_limits(void **state)
{
    (void)state;
    uint8_t buf[CRM_RECORD_HDR_MAX];
    char longest_tenant[CRM_TENANT_MAX + 1], longest_actor[CRM_ACTOR_MAX + 1];
    memset(longest_tenant, 't', sizeof(longest_tenant));
    memset(longest_actor, 'a', sizeof(longest_actor));
    crm_record_hdr h;
    memset(&h, 0xff, sizeof(h));
    h.tenant = longest_tenant;
    h.tenant_len = CRM_TENANT_MAX;
    h.actor = longest_actor;
    h.actor_len = CRM_ACTOR_MAX;
    h.recorded_at = INT64_MIN;
    size_t n = crm_record_hdr_encode(&h, buf);
    assert_true(n > 0 && n <= CRM_RECORD_HDR_MAX);

    h.tenant_len = CRM_TENANT_MAX + 1;
    assert_int_equal(crm_record_hdr_encode(&h, buf), 0);
    h.tenant_len = CRM_TENANT_MAX;
    h.actor_len = CRM_ACTOR_MAX + 1;
    assert_int_equal(crm_record_hdr_encode(&h, buf), 0);
    h.tenant_len = (size_t)-1;
    assert_int_equal(crm_record_hdr_encode(&h, buf), 0);
}

int
main(void)
{
#define T(f) cmocka_unit_test_teardown(f, teardown)
    const struct CMUnitTest tests[] = {
        T(test_round_trip),      T(test_nil_pii_and_extremes),
        T(test_every_byte_flip), T(test_truncated),
        T(test_wrong_shapes),    T(test_hdr_limits),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
