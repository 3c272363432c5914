/*
 * record_fuzz.c - libFuzzer harness for crm_record_decode and
 * crm_record_verify: stored records come back from disk, backups and
 * replicas, so the decoder must survive any bytes. On a successful decode
 * the pointers it returns must lie inside the input, and verify must run
 * cleanly against the record's own and another prev_hash.
 */
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) abort();                                                     \
    } while (0)

/* --- input filter (as in event_fuzz.c) ------------------------------------ */

enum { WALK_OK, WALK_STOP, WALK_HUGE };

static int
be(const uint8_t *b, size_t len, size_t *off, int width, uint64_t *v)
{
    if ((size_t)width > len - *off) return 0;
    *v = 0;
    for (int i = 0; i < width; i++)
        *v = *v << 8 | b[(*off)++];
    return 1;
}

/* msgpack_unpack allocates every array and map for the count its header
 * claims before it reads a single element: five bytes (dd ff ff ff ff) ask
 * for 96 GiB, which crm_record_decode passes on as CRM_ERR_NOMEM (and ASan
 * or libFuzzer's malloc limit report as a crash). Walks one object and
 * reports WALK_HUGE if some container claims more elements than bytes
 * remain; WALK_STOP where msgpack_unpack would stop anyway. */
static int
walk(const uint8_t *b, size_t len, size_t *off, int depth)
{
    uint64_t n = 0, skip = 0;
    int items = 0; /* elements per count: 1 array, 2 map */

    if (*off >= len || depth > 40) return WALK_STOP;
    uint8_t c = b[(*off)++];
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
        return WALK_OK;
    if (c <= 0x8f) {
        n = c & 0x0f, items = 2;
    } else if (c <= 0x9f) {
        n = c & 0x0f, items = 1;
    } else if (c <= 0xbf) {
        skip = c & 0x1f;
    } else {
        static const struct {
            uint8_t width; /* bytes of the length or count, 0 none */
            uint8_t extra; /* fixed bytes after it */
            uint8_t items;
        } t[] = {
            [0xc4 - 0xc4] = {1, 0, 0},  [0xc5 - 0xc4] = {2, 0, 0},
            [0xc6 - 0xc4] = {4, 0, 0},  [0xc7 - 0xc4] = {1, 1, 0},
            [0xc8 - 0xc4] = {2, 1, 0},  [0xc9 - 0xc4] = {4, 1, 0},
            [0xca - 0xc4] = {0, 4, 0},  [0xcb - 0xc4] = {0, 8, 0},
            [0xcc - 0xc4] = {0, 1, 0},  [0xcd - 0xc4] = {0, 2, 0},
            [0xce - 0xc4] = {0, 4, 0},  [0xcf - 0xc4] = {0, 8, 0},
            [0xd0 - 0xc4] = {0, 1, 0},  [0xd1 - 0xc4] = {0, 2, 0},
            [0xd2 - 0xc4] = {0, 4, 0},  [0xd3 - 0xc4] = {0, 8, 0},
            [0xd4 - 0xc4] = {0, 2, 0},  [0xd5 - 0xc4] = {0, 3, 0},
            [0xd6 - 0xc4] = {0, 5, 0},  [0xd7 - 0xc4] = {0, 9, 0},
            [0xd8 - 0xc4] = {0, 17, 0}, [0xd9 - 0xc4] = {1, 0, 0},
            [0xda - 0xc4] = {2, 0, 0},  [0xdb - 0xc4] = {4, 0, 0},
            [0xdc - 0xc4] = {2, 0, 1},  [0xdd - 0xc4] = {4, 0, 1},
            [0xde - 0xc4] = {2, 0, 2},  [0xdf - 0xc4] = {4, 0, 2},
        };
        if (c == 0xc1) return WALK_STOP;
        uint64_t v = 0;
        if (t[c - 0xc4].width && !be(b, len, off, t[c - 0xc4].width, &v))
            return WALK_STOP;
        items = t[c - 0xc4].items;
        if (items)
            n = v;
        else
            skip = v + t[c - 0xc4].extra;
    }
    if (items) {
        if (n * (uint64_t)items > len - *off) return WALK_HUGE;
        for (uint64_t i = 0; i < n * (uint64_t)items; i++) {
            int r = walk(b, len, off, depth + 1);
            if (r != WALK_OK) return r;
        }
        return WALK_OK;
    }
    if (skip > len - *off) return WALK_STOP;
    *off += skip;
    return WALK_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the decoder reads R and then H: filter both */
    size_t off = 0;
    int w = walk(data, size, &off, 0);
    if (w == WALK_HUGE ||
        (w == WALK_OK && walk(data, size, &off, 0) == WALK_HUGE))
        return 0;

    msgpack_zone *z = msgpack_zone_new(1024);
    if (z == NULL) return 0;
    crm_record r;
    crm_error why;
    memset(&why, 0, sizeof(why));
    crm_err err = crm_record_decode(data, size, z, &r, &why);
    if (err != CRM_OK) {
        CHECK(err == CRM_ERR_CORRUPT || err == CRM_ERR_NOMEM);
        CHECK(why.code == err);
        CHECK(memchr(why.msg, '\0', sizeof(why.msg)) != NULL);
        msgpack_zone_free(z);
        return 0;
    }

    const uint8_t *end = data + size;
#define INSIDE(p, n)                                                           \
    ((const uint8_t *)(p) >= data && (size_t)(n) <= size &&                    \
     (const uint8_t *)(p) <= end - (n))
    /* H is bin 8 when sealed, but a bin 16 or bin 32 of 32 bytes decodes
     * too, so the trailer may be a byte or three longer */
    CHECK(r.rlen > 0 && r.rlen + CRM_RECORD_TRAILER <= size);
    CHECK(INSIDE(r.hash, CRM_HASH_LEN) && r.hash == end - CRM_HASH_LEN);
    CHECK(INSIDE(r.h.tenant, r.h.tenant_len));
    CHECK(INSIDE(r.h.actor, r.h.actor_len));
    CHECK(INSIDE(r.id, CRM_ID_LEN));
    CHECK(INSIDE(r.stream, r.stream_len));
    CHECK(INSIDE(r.type, r.type_len));
    CHECK(INSIDE(r.content, r.content_len));
    CHECK(r.content + r.content_len == data + r.rlen);
    CHECK(r.content[0] == 0xc4 && r.content[1] == CRM_ID_LEN);
    CHECK(r.body.type == MSGPACK_OBJECT_MAP);
    CHECK(r.pii.type == MSGPACK_OBJECT_MAP || r.pii.type == MSGPACK_OBJECT_NIL);
#undef INSIDE

    /* verify agrees with a hash computed here */
    uint8_t h[CRM_HASH_LEN], other[CRM_HASH_LEN];
    crm_sha256_2(r.h.prev_hash, CRM_HASH_LEN, data, r.rlen, h);
    int want = memcmp(h, r.hash, CRM_HASH_LEN) == 0;
    CHECK(crm_record_verify(data, &r, r.h.prev_hash) == want);
    memcpy(other, r.h.prev_hash, CRM_HASH_LEN);
    other[0] ^= 1;
    CHECK(crm_record_verify(data, &r, other) == 0);

    msgpack_zone_free(z);
    return 0;
}
