/* record.c - assemble, seal, decode and verify stored event records. */
#include "record.h"

#include <string.h>

#include "hash.h"
#include "mpcheck.h"

typedef struct fixbuf {
    uint8_t *p;
    size_t len, cap;
} fixbuf;

static int
fixbuf_write(void *data, const char *buf, size_t len)
{
    fixbuf *b = data;
    if (len > b->cap - b->len)
        return -1;
    memcpy(b->p + b->len, buf, len);
    b->len += len;
    return 0;
}

size_t
crm_record_hdr_encode(const crm_record_hdr *h, uint8_t *buf)
{
    fixbuf fb = {buf, 0, CRM_RECORD_HDR_MAX};
    msgpack_packer pk;
    int rc = 0;

    /* Both strings are bounded by their validators (tenant ids, key ids);
     * refusing here keeps a contract breach from truncating a record. */
    if (h->tenant_len > CRM_TENANT_MAX || h->actor_len > CRM_ACTOR_MAX)
        return 0;
    msgpack_packer_init(&pk, &fb, fixbuf_write);
    rc |= msgpack_pack_array(&pk, CRM_RECORD_FIELDS);
    rc |= msgpack_pack_uint8(&pk, CRM_RECORD_FMT);
    rc |= msgpack_pack_str(&pk, h->tenant_len);
    rc |= msgpack_pack_str_body(&pk, h->tenant, h->tenant_len);
    rc |= msgpack_pack_uint64(&pk, h->position);
    rc |= msgpack_pack_uint64(&pk, h->version);
    rc |= msgpack_pack_uint64(&pk, h->stream_prev);
    rc |= msgpack_pack_int64(&pk, h->recorded_at);
    rc |= msgpack_pack_str(&pk, h->actor_len);
    rc |= msgpack_pack_str_body(&pk, h->actor, h->actor_len);
    rc |= msgpack_pack_bin(&pk, CRM_HASH_LEN);
    rc |= msgpack_pack_bin_body(&pk, h->prev_hash, CRM_HASH_LEN);
    return rc == 0 ? fb.len : 0;
}

void
crm_record_seal(uint8_t *dst, size_t rlen,
                const uint8_t prev_hash[CRM_HASH_LEN],
                uint8_t hash_out[CRM_HASH_LEN])
{
    crm_sha256_2(prev_hash, CRM_HASH_LEN, dst, rlen, hash_out);
    dst[rlen] = 0xc4; /* bin 8 */
    dst[rlen + 1] = CRM_HASH_LEN;
    memcpy(dst + rlen + 2, hash_out, CRM_HASH_LEN);
}

static int
get_u64(const msgpack_object *o, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return 0;
    *v = o->via.u64;
    return 1;
}

static int
get_i64(const msgpack_object *o, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
        *v = (int64_t)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *v = o->via.i64;
    else
        return 0;
    return 1;
}

static int
get_str(const msgpack_object *o, const char **s, size_t *len)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return 0;
    *s = o->via.str.ptr;
    *len = o->via.str.size;
    return 1;
}

static int
get_bin(const msgpack_object *o, size_t want, const uint8_t **p)
{
    if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != want)
        return 0;
    *p = (const uint8_t *)o->via.bin.ptr;
    return 1;
}

crm_err
crm_record_decode(const void *buf, size_t len, msgpack_zone *zone,
                  crm_record *r, crm_error *why)
{
    const char *b = buf;
    size_t off = 0;
    msgpack_object root, hobj;
    uint64_t fmt;

    memset(r, 0, sizeof(*r));
    /* Records also come from export files and replicas: check the shape
     * before msgpack-c allocates by the counts the bytes claim. The hash
     * trailer has exactly one encoding, so a record has exactly one form. */
    size_t rlen;
    if (crm_mpcheck_prefix(b, len, CRM_MP_MAX_DEPTH, &rlen, NULL) != CRM_OK ||
        len - rlen != CRM_RECORD_TRAILER || (uint8_t)b[rlen] != 0xc4 ||
        (uint8_t)b[rlen + 1] != CRM_HASH_LEN)
        return crm_error_set(why, CRM_ERR_CORRUPT, "record is not well formed");
    msgpack_unpack_return ur = msgpack_unpack(b, rlen, &off, zone, &root);
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    if (ur != MSGPACK_UNPACK_SUCCESS)
        return crm_error_set(why, CRM_ERR_CORRUPT, "record is not msgpack");
    r->rlen = rlen;
    ur = msgpack_unpack(b, len, &off, zone, &hobj);
    if (ur != MSGPACK_UNPACK_SUCCESS || off != len ||
        !get_bin(&hobj, CRM_HASH_LEN, &r->hash))
        return crm_error_set(why, CRM_ERR_CORRUPT, "record hash is missing");
    if (root.type != MSGPACK_OBJECT_ARRAY ||
        root.via.array.size != CRM_RECORD_FIELDS)
        return crm_error_set(why, CRM_ERR_CORRUPT, "record is not an array");

    const msgpack_object *a = root.via.array.ptr;
    const uint8_t *prev;
    if (!get_u64(&a[0], &fmt) || fmt != CRM_RECORD_FMT)
        return crm_error_set(why, CRM_ERR_CORRUPT, "unknown record format");
    if (!get_str(&a[1], &r->h.tenant, &r->h.tenant_len) ||
        !get_u64(&a[2], &r->h.position) || !get_u64(&a[3], &r->h.version) ||
        !get_u64(&a[4], &r->h.stream_prev) ||
        !get_i64(&a[5], &r->h.recorded_at) ||
        !get_str(&a[6], &r->h.actor, &r->h.actor_len) ||
        !get_bin(&a[7], CRM_HASH_LEN, &prev) ||
        !get_bin(&a[8], CRM_ID_LEN, &r->id) ||
        !get_str(&a[9], &r->stream, &r->stream_len) ||
        !get_str(&a[10], &r->type, &r->type_len) ||
        !get_i64(&a[11], &r->occurred_at) ||
        a[12].type != MSGPACK_OBJECT_MAP ||
        (a[13].type != MSGPACK_OBJECT_MAP && a[13].type != MSGPACK_OBJECT_NIL &&
         a[13].type != MSGPACK_OBJECT_BIN))
        return crm_error_set(why, CRM_ERR_CORRUPT, "record field has wrong type");
    memcpy(r->h.prev_hash, prev, CRM_HASH_LEN);
    r->body = a[12];
    r->pii = a[13];
    /* Content starts at the id's bin-8 header, two bytes before its data:
     * canonical encoding always writes a 16-byte bin with bin 8. */
    r->content = r->id - 2;
    if ((const char *)r->content < b || r->content[0] != 0xc4 ||
        r->content[1] != CRM_ID_LEN)
        return crm_error_set(why, CRM_ERR_CORRUPT, "record id is not canonical");
    r->content_len = r->rlen - (size_t)((const char *)r->content - b);
    return CRM_OK;
}

/* --- the lean reading: no objects, one pass ------------------------------ */

typedef struct rd {
    const uint8_t *p, *end;
} rd;

static int
rd_uint(rd *r, uint64_t *v)
{
    if (r->p >= r->end)
        return 0;
    uint8_t t = *r->p++;
    size_t n = t == 0xcc ? 1 : t == 0xcd ? 2 : t == 0xce ? 4 : t == 0xcf ? 8 : 0;
    if (t <= 0x7f) {
        *v = t;
        return 1;
    }
    if (n == 0 || (size_t)(r->end - r->p) < n)
        return 0;
    *v = 0;
    for (size_t i = 0; i < n; i++)
        *v = *v << 8 | *r->p++;
    return 1;
}

static int
rd_int(rd *r, int64_t *v)
{
    if (r->p >= r->end)
        return 0;
    uint8_t t = *r->p;
    if (t >= 0xe0) {
        r->p++;
        *v = (int8_t)t;
        return 1;
    }
    size_t n = t == 0xd0 ? 1 : t == 0xd1 ? 2 : t == 0xd2 ? 4 : t == 0xd3 ? 8 : 0;
    if (n == 0) {
        uint64_t u;
        if (!rd_uint(r, &u) || u > INT64_MAX)
            return 0;
        *v = (int64_t)u;
        return 1;
    }
    r->p++;
    if ((size_t)(r->end - r->p) < n)
        return 0;
    uint64_t u = 0;
    for (size_t i = 0; i < n; i++)
        u = u << 8 | *r->p++;
    /* sign-extend the n-byte value */
    if (n < 8 && (u >> (8 * n - 1)) & 1)
        u |= ~(uint64_t)0 << (8 * n);
    *v = (int64_t)u;
    return 1;
}

/* A str (bin: a bin) of any length: its bytes. */
static int
rd_bytes(rd *r, int bin, const uint8_t **s, size_t *len)
{
    if (r->p >= r->end)
        return 0;
    uint8_t t = *r->p++;
    size_t hl;
    if (!bin && (t & 0xe0) == 0xa0) {
        *len = t & 0x1f;
        hl = 0;
    } else if (t == (bin ? 0xc4 : 0xd9)) {
        hl = 1;
    } else if (t == (bin ? 0xc5 : 0xda)) {
        hl = 2;
    } else if (t == (bin ? 0xc6 : 0xdb)) {
        hl = 4;
    } else {
        return 0;
    }
    if ((size_t)(r->end - r->p) < hl)
        return 0;
    if (hl) {
        *len = 0;
        for (size_t i = 0; i < hl; i++)
            *len = *len << 8 | *r->p++;
    }
    if ((size_t)(r->end - r->p) < *len)
        return 0;
    *s = r->p;
    r->p += *len;
    return 1;
}

/* The length of the one object at p (at most n bytes, well formed), or 0. */
static size_t
object_len(const uint8_t *p, size_t n)
{
    size_t used;
    return crm_mpcheck_prefix(p, n, CRM_MP_MAX_DEPTH, &used, NULL) == CRM_OK
               ? used
               : 0;
}

static int
is_map(uint8_t t)
{
    return (t & 0xf0) == 0x80 || t == 0xde || t == 0xdf;
}

crm_err
crm_record_decode_lean(const void *buf, size_t len, crm_record *r,
                       crm_error *why)
{
    const uint8_t *b = buf;
    memset(r, 0, sizeof(*r));
    /* H has one encoding, so R ends where it begins */
    if (len < CRM_RECORD_TRAILER + 1 ||
        b[len - CRM_RECORD_TRAILER] != 0xc4 ||
        b[len - CRM_RECORD_TRAILER + 1] != CRM_HASH_LEN)
        return crm_error_set(why, CRM_ERR_CORRUPT, "record is not well formed");
    size_t rlen = len - CRM_RECORD_TRAILER;
    r->rlen = rlen;
    r->hash = b + rlen + 2;
    rd d = {b, b + rlen};
    if (*d.p++ != (0x90 | CRM_RECORD_FIELDS))
        return crm_error_set(why, CRM_ERR_CORRUPT, "record is not an array");
    uint64_t fmt;
    const uint8_t *s, *prev;
    size_t sl, n;
    if (!rd_uint(&d, &fmt) || fmt != CRM_RECORD_FMT)
        return crm_error_set(why, CRM_ERR_CORRUPT, "unknown record format");
    int ok = rd_bytes(&d, 0, &s, &sl);
    r->h.tenant = (const char *)s;
    r->h.tenant_len = sl;
    ok = ok && rd_uint(&d, &r->h.position) && rd_uint(&d, &r->h.version) &&
         rd_uint(&d, &r->h.stream_prev) && rd_int(&d, &r->h.recorded_at);
    ok = ok && rd_bytes(&d, 0, &s, &sl);
    r->h.actor = (const char *)s;
    r->h.actor_len = sl;
    ok = ok && rd_bytes(&d, 1, &prev, &n) && n == CRM_HASH_LEN;
    const uint8_t *content = d.p;
    ok = ok && rd_bytes(&d, 1, &r->id, &n) && n == CRM_ID_LEN;
    ok = ok && rd_bytes(&d, 0, &s, &sl);
    r->stream = (const char *)s;
    r->stream_len = sl;
    ok = ok && rd_bytes(&d, 0, &s, &sl);
    r->type = (const char *)s;
    r->type_len = sl;
    ok = ok && rd_int(&d, &r->occurred_at);
    /* body a map, pii a map, nil or bin, and R ends with it: the only
     * walk over their bytes */
    size_t bl = ok && d.p < d.end && is_map(*d.p)
                    ? object_len(d.p, (size_t)(d.end - d.p))
                    : 0;
    const uint8_t *pii = d.p + bl;
    size_t pl = bl && pii < d.end &&
                        (is_map(*pii) || *pii == 0xc0 || *pii == 0xc4 ||
                         *pii == 0xc5 || *pii == 0xc6)
                    ? object_len(pii, (size_t)(d.end - pii))
                    : 0;
    if (!ok || bl == 0 || pl == 0 || pii + pl != d.end)
        return crm_error_set(why, CRM_ERR_CORRUPT,
                             ok ? "record is not well formed"
                                : "record field has wrong type");
    memcpy(r->h.prev_hash, prev, CRM_HASH_LEN);
    if (content[0] != 0xc4 || content[1] != CRM_ID_LEN)
        return crm_error_set(why, CRM_ERR_CORRUPT, "record id is not canonical");
    r->content = content;
    r->content_len = rlen - (size_t)(content - b);
    r->content_pub = (size_t)(pii - content);
    r->body.type = MSGPACK_OBJECT_NIL; /* not unpacked */
    r->pii.type = MSGPACK_OBJECT_NIL;
    return CRM_OK;
}

int
crm_record_verify(const void *buf, const crm_record *r,
                  const uint8_t prev_hash[CRM_HASH_LEN])
{
    uint8_t h[CRM_HASH_LEN];
    if (!crm_mem_equal(r->h.prev_hash, prev_hash, CRM_HASH_LEN))
        return 0;
    crm_sha256_2(prev_hash, CRM_HASH_LEN, buf, r->rlen, h);
    return crm_mem_equal(h, r->hash, CRM_HASH_LEN);
}
