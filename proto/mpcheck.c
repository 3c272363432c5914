/* mpcheck.c - one allocation-free pass over untrusted msgpack, and the
 * unique-key rule over what it let through. */
#include "mpcheck.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

static uint64_t
be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static crm_err
walk(const void *buf, size_t len, int max_depth, uint64_t max_objects,
     size_t *used, crm_error *why)
{
    const uint8_t *p = buf, *end = p + len;
    uint64_t left[CRM_MP_MAX_DEPTH + 1]; /* objects still due per level */
    /* Objects walked plus objects declared but not yet walked: checked
     * against max_objects at each container header, so a message that
     * announces too many is refused before its elements are walked. */
    uint64_t objects = 1;
    int depth = 0;

    if (max_depth > CRM_MP_MAX_DEPTH)
        max_depth = CRM_MP_MAX_DEPTH;
    left[0] = 1;
    while (depth > 0 || left[0] > 0) {
        if (p >= end)
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "message is truncated msgpack");
        uint8_t b = *p++;
        uint64_t skip = 0, children = 0;
        int hdr = 0;

        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            /* fixint, nil, bool */
        } else if (b <= 0x8f) {
            children = 2u * (b & 0x0f);
        } else if (b <= 0x9f) {
            children = b & 0x0f;
        } else if (b <= 0xbf) {
            skip = b & 0x1f;
        } else {
            switch (b) {
            case 0xc4: case 0xd9: hdr = 1; break;              /* bin8 str8 */
            case 0xc5: case 0xda: hdr = 2; break;              /* 16 */
            case 0xc6: case 0xdb: hdr = 4; break;              /* 32 */
            case 0xc7: hdr = 1; skip = 1; break;               /* ext8 */
            case 0xc8: hdr = 2; skip = 1; break;
            case 0xc9: hdr = 4; skip = 1; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: case 0xde: hdr = 2; break;
            case 0xdd: case 0xdf: hdr = 4; break;
            default:
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "reserved msgpack byte 0xc1");
            }
            if (hdr) {
                if ((size_t)(end - p) < (size_t)hdr)
                    return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                         "message is truncated msgpack");
                uint64_t n = be(p, hdr);
                p += hdr;
                if (b >= 0xdc)
                    children = b >= 0xde ? 2 * n : n;
                else
                    skip += n;
            }
        }
        if (skip > (uint64_t)(end - p))
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "message is truncated msgpack");
        p += skip;

        left[depth]--;
        if (children > 0) {
            /* every element takes at least one byte */
            if (children > (uint64_t)(end - p))
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "container declares more elements than "
                                     "the message holds");
            if (depth + 1 > max_depth)
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "message nested deeper than %d levels",
                                     max_depth);
            objects += children;
            if (objects > max_objects)
                return crm_error_set(why, CRM_ERR_TOO_LARGE,
                                     "message holds more than %llu msgpack "
                                     "objects",
                                     (unsigned long long)max_objects);
            left[++depth] = children;
        }
        while (depth > 0 && left[depth] == 0)
            depth--;
    }
    *used = (size_t)(p - (const uint8_t *)buf);
    return CRM_OK;
}

crm_err
crm_mpcheck_prefix(const void *buf, size_t len, int max_depth, size_t *used,
                   crm_error *why)
{
    return walk(buf, len, max_depth, UINT64_MAX, used, why);
}

crm_err
crm_mpcheck_bounded(const void *buf, size_t len, int max_depth,
                    size_t max_objects, crm_error *why)
{
    size_t used;
    crm_err err = walk(buf, len, max_depth, max_objects, &used, why);
    if (err == CRM_OK && used != len)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "trailing bytes after the message");
    return err;
}

crm_err
crm_mpcheck(const void *buf, size_t len, int max_depth, crm_error *why)
{
    return crm_mpcheck_bounded(buf, len, max_depth, SIZE_MAX, why);
}

/* --- unique keys ---------------------------------------------------------- */

/* Order of two map keys: by kind, then by value (length, then bytes, for
 * str and bin).
 * Keys of other kinds (containers, ext) compare by kind only, so two of
 * one kind count as the same key. */
static int
key_cmp(const msgpack_object *a, const msgpack_object *b)
{
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    switch (a->type) {
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN: {
        /* by length first: most keys of a map differ in it */
        uint32_t la = a->via.str.size, lb = b->via.str.size;
        if (la != lb)
            return la < lb ? -1 : 1;
        return memcmp(a->via.str.ptr, b->via.str.ptr, la);
    }
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return a->via.u64 < b->via.u64 ? -1 : a->via.u64 > b->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return a->via.i64 < b->via.i64 ? -1 : a->via.i64 > b->via.i64;
    case MSGPACK_OBJECT_BOOLEAN:
        return (int)a->via.boolean - (int)b->via.boolean;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return a->via.f64 < b->via.f64 ? -1 : a->via.f64 > b->via.f64;
    default:
        return 0;
    }
}

static int
kv_cmp(const void *x, const void *y)
{
    const msgpack_object_kv *a = *(const msgpack_object_kv *const *)x;
    const msgpack_object_kv *b = *(const msgpack_object_kv *const *)y;
    return key_cmp(&a->key, &b->key);
}

static crm_err
duplicate(const msgpack_object *k, crm_error *why)
{
    char q[CRM_UTF8_QUOTE_CAP];
    if (k->type != MSGPACK_OBJECT_STR)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "a map holds the same non-string key twice");
    crm_utf8_quote(k->via.str.ptr, k->via.str.size, CRM_UTF8_QUOTE_MAX, q,
                   sizeof(q));
    return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                         "a map holds the key '%s' twice", q);
}

/* Small maps (every envelope, event and body) compare each pair; larger
 * ones sort an index of their pairs. */
#define LINEAR_MAX 16

static crm_err
map_unique(const msgpack_object_map *m, crm_error *why)
{
    if (m->size <= LINEAR_MAX) {
        for (uint32_t i = 1; i < m->size; i++)
            for (uint32_t j = 0; j < i; j++)
                if (key_cmp(&m->ptr[i].key, &m->ptr[j].key) == 0)
                    return duplicate(&m->ptr[i].key, why);
        return CRM_OK;
    }
    const msgpack_object_kv **ix = malloc(m->size * sizeof(*ix));
    if (ix == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < m->size; i++)
        ix[i] = &m->ptr[i];
    qsort(ix, m->size, sizeof(*ix), kv_cmp);
    crm_err err = CRM_OK;
    for (uint32_t i = 1; i < m->size && err == CRM_OK; i++)
        if (key_cmp(&ix[i]->key, &ix[i - 1]->key) == 0)
            err = duplicate(&ix[i]->key, why);
    free(ix);
    return err;
}

crm_err
crm_mp_unique_keys(const msgpack_object *o, crm_error *why)
{
    crm_err err = CRM_OK;
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size && err == CRM_OK; i++)
            err = crm_mp_unique_keys(&o->via.array.ptr[i], why);
    } else if (o->type == MSGPACK_OBJECT_MAP) {
        err = map_unique(&o->via.map, why);
        for (uint32_t i = 0; i < o->via.map.size && err == CRM_OK; i++)
            if ((err = crm_mp_unique_keys(&o->via.map.ptr[i].key, why)) ==
                CRM_OK)
                err = crm_mp_unique_keys(&o->via.map.ptr[i].val, why);
    }
    return err;
}
