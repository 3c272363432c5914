/*
 * event_fuzz.c - libFuzzer harness for crm_event_encode.
 *
 * Input: one byte choosing a known event type, then a msgpack object used
 * as the body of that type and of an "x." type. Checks, aborting if one
 * fails:
 *   - on error the output buffer is as it was and the message is set;
 *   - on success the output is six msgpack objects with the given
 *     envelope, known-type bodies hold only schema fields with personal
 *     ones in the pii map, and re-encoding the decoded output gives the
 *     same bytes (the canonical form is a fixed point).
 */
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX "pre"
#define STREAM "fuzz-guest"

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) abort();                                                     \
    } while (0)

/* --- input filter --------------------------------------------------------- */

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
 * for 96 GiB. Walks one object and reports WALK_HUGE if some container
 * claims more elements than bytes remain; WALK_STOP where msgpack_unpack
 * would stop anyway (truncated, invalid, too deep). */
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

/* --- checks --------------------------------------------------------------- */

static void
fill(crm_event_in *e, const char *type, const msgpack_object *body)
{
    memset(e, 0, sizeof(*e));
    for (int i = 0; i < CRM_ID_LEN; i++)
        e->id[i] = (uint8_t)(i + 1);
    e->stream = STREAM;
    e->stream_len = strlen(STREAM);
    e->type = type;
    e->type_len = strlen(type);
    e->occurred_at = INT64_C(1717000000000000);
    e->body = body;
}

static int
str_is(const msgpack_object *o, const void *s, size_t len)
{
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == len &&
           memcmp(o->via.str.ptr, s, len) == 0;
}

/* Encodes e; on success returns the bytes (after PREFIX) in *out, which the
 * caller destroys. */
static crm_err
encode(const crm_event_in *e, msgpack_sbuffer *out)
{
    crm_error why;
    memset(&why, 0, sizeof(why));
    msgpack_sbuffer_init(out);
    msgpack_sbuffer_write(out, PREFIX, strlen(PREFIX));
    crm_err err = crm_event_encode(e, out, &why);
    CHECK(memcmp(out->data, PREFIX, strlen(PREFIX)) == 0);
    if (err != CRM_OK) {
        CHECK(out->size == strlen(PREFIX));
        CHECK(why.code == err);
        CHECK(memchr(why.msg, '\0', sizeof(why.msg)) != NULL);
        CHECK(why.msg[0] != '\0');
        msgpack_sbuffer_destroy(out);
    }
    return err;
}

static void
check_type(const crm_event_type *t, const char *type,
           const msgpack_object *body)
{
    crm_event_in e;
    msgpack_sbuffer first, second;

    fill(&e, type, body);
    if (encode(&e, &first) != CRM_OK) return;

    /* six objects, nothing after them */
    msgpack_zone *z = msgpack_zone_new(4096);
    CHECK(z != NULL);
    msgpack_object part[6];
    size_t off = strlen(PREFIX);
    for (int i = 0; i < 6; i++) {
        msgpack_unpack_return r =
            msgpack_unpack(first.data, first.size, &off, z, &part[i]);
        CHECK(r ==
              (i < 5 ? MSGPACK_UNPACK_EXTRA_BYTES : MSGPACK_UNPACK_SUCCESS));
    }
    CHECK(off == first.size);
    CHECK(part[0].type == MSGPACK_OBJECT_BIN &&
          part[0].via.bin.size == CRM_ID_LEN &&
          memcmp(part[0].via.bin.ptr, e.id, CRM_ID_LEN) == 0);
    CHECK(str_is(&part[1], e.stream, e.stream_len));
    CHECK(str_is(&part[2], e.type, e.type_len));
    CHECK(part[3].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
          part[3].via.u64 == (uint64_t)e.occurred_at);
    const msgpack_object *pub = &part[4], *pii = &part[5];
    CHECK(pub->type == MSGPACK_OBJECT_MAP);
    CHECK(pii->type == MSGPACK_OBJECT_NIL ||
          (pii->type == MSGPACK_OBJECT_MAP && pii->via.map.size > 0));
    size_t npii = pii->type == MSGPACK_OBJECT_MAP ? pii->via.map.size : 0;

    if (t != NULL) {
        for (uint32_t i = 0; i < pub->via.map.size; i++) {
            const msgpack_object *k = &pub->via.map.ptr[i].key;
            const crm_field *f;
            CHECK(k->type == MSGPACK_OBJECT_STR);
            f = crm_schema_field(t, k->via.str.ptr, k->via.str.size);
            CHECK(f != NULL && !(f->flags & CRM_FIELD_PII));
            CHECK(pub->via.map.ptr[i].val.type != MSGPACK_OBJECT_NIL);
        }
        for (size_t i = 0; i < npii; i++) {
            const msgpack_object *k = &pii->via.map.ptr[i].key;
            const crm_field *f;
            CHECK(k->type == MSGPACK_OBJECT_STR);
            f = crm_schema_field(t, k->via.str.ptr, k->via.str.size);
            CHECK(f != NULL && (f->flags & CRM_FIELD_PII));
        }
    }

    /* The body a client would send to get this event again: known types
     * merge the two maps, x. types put the personal part under "pii". */
    size_t n = pub->via.map.size + (t ? npii : npii > 0);
    msgpack_object_kv *kv = malloc((n ? n : 1) * sizeof(*kv));
    CHECK(kv != NULL);
    memcpy(kv, pub->via.map.ptr, pub->via.map.size * sizeof(*kv));
    if (t != NULL) {
        if (npii)
            memcpy(kv + pub->via.map.size, pii->via.map.ptr,
                   npii * sizeof(*kv));
    } else if (npii) {
        kv[n - 1].key.type = MSGPACK_OBJECT_STR;
        kv[n - 1].key.via.str.ptr = "pii";
        kv[n - 1].key.via.str.size = 3;
        kv[n - 1].val = *pii;
    }
    msgpack_object again = {.type = MSGPACK_OBJECT_MAP};
    again.via.map.size = (uint32_t)n;
    again.via.map.ptr = kv;

    fill(&e, type, &again);
    CHECK(encode(&e, &second) == CRM_OK);
    CHECK(first.size == second.size &&
          memcmp(first.data, second.data, first.size) == 0);

    msgpack_sbuffer_destroy(&second);
    free(kv);
    msgpack_zone_free(z);
    msgpack_sbuffer_destroy(&first);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    const crm_event_type *t = crm_schema_at(data[0] % crm_schema_count());
    const uint8_t *mp = data + 1;
    size_t len = size - 1, off = 0;
    if (walk(mp, len, &off, 0) == WALK_HUGE) return 0;

    msgpack_zone *z = msgpack_zone_new(4096);
    if (z == NULL) return 0;
    msgpack_object body;
    off = 0;
    msgpack_unpack_return r =
        msgpack_unpack((const char *)mp, len, &off, z, &body);
    if (r == MSGPACK_UNPACK_SUCCESS || r == MSGPACK_UNPACK_EXTRA_BYTES) {
        check_type(t, t->name, &body);
        check_type(NULL, "x.fuzz.visit", &body);
    }
    msgpack_zone_free(z);
    return 0;
}
