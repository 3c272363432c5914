/*
 * event.c - validate a submitted event against the schema and produce its
 * canonical content bytes (see event.h for the layout).
 *
 * Validation and encoding are one pass over the fields so that the append
 * path walks the client's map once and never builds a second tree.
 */
#include "event.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "hash.h"
#include "mpcheck.h"
#include "schema.h"
#include "utf8.h"

#define MAX_FIELDS 32

/* --- value checks --------------------------------------------------------- */

static int
is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int
crm_date_valid(const char *s, size_t len)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (len != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
            (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1800 || m < 1 || m > 12 || d < 1)
        return 0;
    int md = mdays[m - 1] + (m == 2 && is_leap(y));
    return d <= md;
}

static int
upper3(const char *s, size_t len)
{
    if (len != 3)
        return 0;
    for (int i = 0; i < 3; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return 0;
    return 1;
}

static int
email_valid(const char *s, size_t len)
{
    if (len < 3 || len > 254)
        return 0;
    size_t at = len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f)
            return 0;
        if (c == '@') {
            if (at != len)
                return 0;
            at = i;
        }
    }
    if (at == 0 || at >= len - 1)
        return 0;
    const char *dot = memchr(s + at + 1, '.', len - at - 1);
    return dot != NULL && dot != s + at + 1 && dot != s + len - 1;
}

static int
phone_valid(const char *s, size_t len)
{
    if (len < 7 || len > 16 || s[0] != '+' || s[1] == '0')
        return 0;
    for (size_t i = 1; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int
obj_int(const msgpack_object *o, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return 0;
        *out = (int64_t)o->via.u64;
        return 1;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 1;
    }
    return 0;
}

static crm_err
check_field(const crm_field *f, const msgpack_object *v, crm_error *why)
{
    int64_t n;

    switch (f->type) {
    case CRM_F_INT:
    case CRM_F_TIME:
        if (!obj_int(v, &n))
            return crm_error_set(why, CRM_ERR_BAD_FIELD,
                                 "field '%s' must be an integer", f->name);
        if (f->type == CRM_F_TIME ? (n < 0 || n > CRM_TIME_MAX)
                                  : (n < f->min || n > f->max))
            return crm_error_set(why, CRM_ERR_BAD_FIELD,
                                 "field '%s' is out of range", f->name);
        return CRM_OK;
    case CRM_F_BOOL:
        if (v->type != MSGPACK_OBJECT_BOOLEAN)
            return crm_error_set(why, CRM_ERR_BAD_FIELD,
                                 "field '%s' must be a boolean", f->name);
        return CRM_OK;
    default:
        break;
    }

    /* Everything else is text. */
    if (v->type != MSGPACK_OBJECT_STR)
        return crm_error_set(why, CRM_ERR_BAD_FIELD, "field '%s' must be a %s",
                             f->name, crm_ftype_name(f->type));
    const char *s = v->via.str.ptr;
    size_t len = v->via.str.size;
    if (!crm_utf8_valid(s, len))
        return crm_error_set(why, CRM_ERR_BAD_UTF8,
                             "field '%s' is not valid UTF-8", f->name);
    int ok = 1;
    switch (f->type) {
    case CRM_F_STR: {
        size_t max = f->max ? (size_t)f->max : CRM_STR_DEFAULT;
        if (len > max)
            return crm_error_set(why, CRM_ERR_BAD_FIELD,
                                 "field '%s' is longer than %zu bytes", f->name,
                                 max);
        if (len == 0 && (f->flags & CRM_FIELD_REQUIRED))
            return crm_error_set(why, CRM_ERR_MISSING_FIELD,
                                 "required field '%s' is empty", f->name);
        break;
    }
    case CRM_F_DATE:
        ok = crm_date_valid(s, len);
        break;
    case CRM_F_CURRENCY:
    case CRM_F_IATA:
        ok = upper3(s, len);
        break;
    case CRM_F_EMAIL:
        ok = email_valid(s, len);
        break;
    case CRM_F_PHONE:
        ok = phone_valid(s, len);
        break;
    case CRM_F_DECIMAL: {
        int64_t d;
        ok = crm_decimal_parse(s, len, &d) == 0;
        break;
    }
    case CRM_F_ENUM:
        ok = 0;
        for (const char *const *e = f->values; *e; e++)
            if (crm_schema_name_eq(*e, s, len))
                ok = 1;
        break;
    default:
        break;
    }
    if (!ok)
        return crm_error_set(why, CRM_ERR_BAD_FIELD,
                             "field '%s' is not a valid %s", f->name,
                             crm_ftype_name(f->type));
    return CRM_OK;
}

/* --- packing -------------------------------------------------------------- */

/* Packs v as it is; only called on values check_field accepted, whose
 * canonical form is their smallest msgpack encoding. */
static int
pack_scalar(msgpack_packer *pk, const msgpack_object *v)
{
    switch (v->type) {
    case MSGPACK_OBJECT_BOOLEAN:
        return v->via.boolean ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return msgpack_pack_uint64(pk, v->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return msgpack_pack_int64(pk, v->via.i64);
    case MSGPACK_OBJECT_STR:
        if (msgpack_pack_str(pk, v->via.str.size) != 0)
            return -1;
        return msgpack_pack_str_body(pk, v->via.str.ptr, v->via.str.size);
    case MSGPACK_OBJECT_BIN:
        if (msgpack_pack_bin(pk, v->via.bin.size) != 0)
            return -1;
        return msgpack_pack_bin_body(pk, v->via.bin.ptr, v->via.bin.size);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return msgpack_pack_double(pk, v->via.f64);
    case MSGPACK_OBJECT_NIL:
        return msgpack_pack_nil(pk);
    default:
        return -1;
    }
}

static int
pack_cstr(msgpack_packer *pk, const char *s, size_t len)
{
    if (msgpack_pack_str(pk, len) != 0)
        return -1;
    return msgpack_pack_str_body(pk, s, len);
}

/* --- x. bodies: canonicalise an arbitrary tree ---------------------------- */

static int
key_cmp(const void *a, const void *b)
{
    const msgpack_object_kv *x = *(const msgpack_object_kv *const *)a;
    const msgpack_object_kv *y = *(const msgpack_object_kv *const *)b;
    size_t la = x->key.via.str.size, lb = y->key.via.str.size;
    size_t m = la < lb ? la : lb;
    /* msgpack-c gives an empty string a NULL pointer */
    int c = m ? memcmp(x->key.via.str.ptr, y->key.via.str.ptr, m) : 0;
    if (c != 0)
        return c;
    return la < lb ? -1 : la > lb;
}

static crm_err canon(msgpack_packer *pk, const msgpack_object *o, int depth,
                     crm_error *why);

static crm_err
canon_map(msgpack_packer *pk, const msgpack_object_map *m, int depth,
          const char *skip, crm_error *why)
{
    const msgpack_object_kv *stack[32];
    const msgpack_object_kv **kv = stack;
    crm_err err = CRM_OK;
    size_t n = 0;

    if (m->size > 32 && (kv = malloc(m->size * sizeof(*kv))) == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR) {
            err = crm_error_set(why, CRM_ERR_BAD_FIELD,
                                "map keys in an event body must be strings");
            goto done;
        }
        if (!crm_utf8_valid(k->via.str.ptr, k->via.str.size)) {
            err = crm_error_set(why, CRM_ERR_BAD_UTF8,
                                "a body key is not valid UTF-8");
            goto done;
        }
        if (skip && k->via.str.size == strlen(skip) &&
            memcmp(k->via.str.ptr, skip, k->via.str.size) == 0)
            continue;
        kv[n++] = &m->ptr[i];
    }
    qsort(kv, n, sizeof(*kv), key_cmp);
    for (size_t i = 1; i < n; i++) {
        if (key_cmp(&kv[i - 1], &kv[i]) == 0) {
            err = crm_error_set(
                why, CRM_ERR_BAD_FIELD, "body key '%.*s' appears twice",
                (int)kv[i]->key.via.str.size, kv[i]->key.via.str.ptr);
            goto done;
        }
    }
    if (msgpack_pack_map(pk, n) != 0) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (pack_scalar(pk, &kv[i]->key) != 0) {
            err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
            goto done;
        }
        if ((err = canon(pk, &kv[i]->val, depth + 1, why)) != CRM_OK)
            goto done;
    }
done:
    if (kv != stack)
        free(kv);
    return err;
}

static crm_err
canon(msgpack_packer *pk, const msgpack_object *o, int depth, crm_error *why)
{
    /* depth counts maps and arrays only: the body map is level 1 */
    if ((o->type == MSGPACK_OBJECT_MAP || o->type == MSGPACK_OBJECT_ARRAY) &&
        depth > CRM_BODY_DEPTH)
        return crm_error_set(why, CRM_ERR_BAD_FIELD,
                             "event body nested deeper than %d levels",
                             CRM_BODY_DEPTH);
    switch (o->type) {
    case MSGPACK_OBJECT_MAP:
        return canon_map(pk, &o->via.map, depth, NULL, why);
    case MSGPACK_OBJECT_ARRAY:
        if (msgpack_pack_array(pk, o->via.array.size) != 0)
            return crm_error_set(why, CRM_ERR_NOMEM, NULL);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            crm_err err = canon(pk, &o->via.array.ptr[i], depth + 1, why);
            if (err != CRM_OK)
                return err;
        }
        return CRM_OK;
    case MSGPACK_OBJECT_STR:
        if (!crm_utf8_valid(o->via.str.ptr, o->via.str.size))
            return crm_error_set(why, CRM_ERR_BAD_UTF8,
                                 "a body string is not valid UTF-8");
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return crm_error_set(why, CRM_ERR_BAD_FIELD,
                                 "NaN and infinity are not allowed");
        break;
    case MSGPACK_OBJECT_EXT:
        return crm_error_set(why, CRM_ERR_BAD_FIELD,
                             "msgpack ext values are not allowed");
    default:
        break;
    }
    return pack_scalar(pk, o) == 0 ? CRM_OK
                                   : crm_error_set(why, CRM_ERR_NOMEM, NULL);
}

static crm_err
encode_ext(msgpack_packer *pk, const msgpack_object *body, crm_error *why)
{
    static const msgpack_object_map empty = {0, NULL};
    const msgpack_object_map *m = body ? &body->via.map : &empty;
    const msgpack_object *pii = NULL;

    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 3 &&
            memcmp(k->via.str.ptr, "pii", 3) == 0) {
            if (pii != NULL)
                return crm_error_set(why, CRM_ERR_BAD_FIELD,
                                     "body key 'pii' appears twice");
            pii = &m->ptr[i].val;
            if (pii->type != MSGPACK_OBJECT_MAP)
                return crm_error_set(why, CRM_ERR_BAD_FIELD,
                                     "'pii' of an x. event must be a map");
        }
    }
    crm_err err = canon_map(pk, m, 1, "pii", why);
    if (err != CRM_OK)
        return err;
    if (pii == NULL || pii->via.map.size == 0)
        return msgpack_pack_nil(pk) == 0
                   ? CRM_OK
                   : crm_error_set(why, CRM_ERR_NOMEM, NULL);
    return canon_map(pk, &pii->via.map, 1, NULL, why);
}

/* --- known types ---------------------------------------------------------- */

static crm_err
encode_known(msgpack_packer *pk, const crm_event_type *t,
             const msgpack_object *body, crm_error *why)
{
    const msgpack_object *vals[MAX_FIELDS] = {0};
    uint8_t seen[MAX_FIELDS] = {0};
    size_t npub = 0, npii = 0;
    crm_err err;

    if (body != NULL) {
        const msgpack_object_map *m = &body->via.map;
        for (uint32_t i = 0; i < m->size; i++) {
            const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
            if (k->type != MSGPACK_OBJECT_STR)
                return crm_error_set(why, CRM_ERR_BAD_FIELD,
                                     "field names must be strings");
            const crm_field *f =
                crm_schema_field(t, k->via.str.ptr, k->via.str.size);
            if (f == NULL) {
                if (!crm_utf8_valid(k->via.str.ptr, k->via.str.size))
                    return crm_error_set(why, CRM_ERR_BAD_UTF8,
                                         "a field name is not valid UTF-8");
                int ok = k->via.str.size <= 64;
                return crm_error_set(why, CRM_ERR_UNKNOWN_FIELD,
                                     "%s has no field '%.*s'", t->name,
                                     ok ? (int)k->via.str.size : 1,
                                     ok ? k->via.str.ptr : "?");
            }
            size_t idx = (size_t)(f - t->fields);
            if (seen[idx]++)
                return crm_error_set(why, CRM_ERR_BAD_FIELD,
                                     "field '%s' appears twice", f->name);
            if (v->type == MSGPACK_OBJECT_NIL)
                continue; /* null means absent */
            if ((err = check_field(f, v, why)) != CRM_OK)
                return err;
            vals[idx] = v;
        }
    }

    for (size_t i = 0; i < t->nfields; i++) {
        const crm_field *f = &t->fields[i];
        if (vals[i] == NULL) {
            if (f->flags & CRM_FIELD_REQUIRED)
                return crm_error_set(why, CRM_ERR_MISSING_FIELD,
                                     "%s requires field '%s'", t->name,
                                     f->name);
            continue;
        }
        if (f->with &&
            vals[crm_schema_field(t, f->with, strlen(f->with)) - t->fields] ==
                NULL)
            return crm_error_set(why, CRM_ERR_MISSING_FIELD,
                                 "field '%s' requires field '%s'", f->name,
                                 f->with);
        if (f->flags & CRM_FIELD_PII)
            npii++;
        else
            npub++;
    }

    for (int part = 0; part < 2; part++) {
        unsigned want = part ? CRM_FIELD_PII : 0;
        size_t n = part ? npii : npub;
        if (part == 1 && n == 0) {
            if (msgpack_pack_nil(pk) != 0)
                goto nomem;
            break;
        }
        if (msgpack_pack_map(pk, n) != 0)
            goto nomem;
        for (size_t i = 0; i < t->nfields; i++) {
            const crm_field *f = &t->fields[i];
            if (vals[i] == NULL || (f->flags & CRM_FIELD_PII) != want)
                continue;
            if (pack_cstr(pk, f->name, strlen(f->name)) != 0 ||
                pack_scalar(pk, vals[i]) != 0)
                goto nomem;
        }
    }
    return CRM_OK;
nomem:
    return crm_error_set(why, CRM_ERR_NOMEM, NULL);
}

/* --- public --------------------------------------------------------------- */

static int
has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

int
crm_stream_id_valid(const char *s, size_t len)
{
    return len > 0 && len <= CRM_STREAM_MAX && !has_control(s, len) &&
           crm_utf8_valid(s, len);
}

crm_err
crm_event_encode(const crm_event_in *e, msgpack_sbuffer *out, crm_error *why)
{
    size_t mark = out->size;
    msgpack_packer pk;
    crm_err err;

    static const uint8_t zero[CRM_ID_LEN];
    if (memcmp(e->id, zero, CRM_ID_LEN) == 0)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "event id is missing");
    if (e->stream_len > 0 && e->stream_len <= CRM_STREAM_MAX &&
        !has_control(e->stream, e->stream_len) &&
        !crm_utf8_valid(e->stream, e->stream_len))
        return crm_error_set(why, CRM_ERR_BAD_UTF8,
                             "stream id is not valid UTF-8");
    if (!crm_stream_id_valid(e->stream, e->stream_len))
        return crm_error_set(
            why,
            e->stream_len > CRM_STREAM_MAX ? CRM_ERR_TOO_LARGE
                                           : CRM_ERR_BAD_REQUEST,
            "stream id must be 1..%d bytes of printable UTF-8", CRM_STREAM_MAX);
    if (e->occurred_at <= 0 || e->occurred_at > CRM_TIME_MAX)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "occurred_at must be UTC microseconds > 0");
    if (e->body != NULL && e->body->type != MSGPACK_OBJECT_MAP &&
        e->body->type != MSGPACK_OBJECT_NIL)
        return crm_error_set(why, CRM_ERR_BAD_FIELD,
                             "event body must be a map");
    const msgpack_object *body =
        (e->body && e->body->type == MSGPACK_OBJECT_MAP) ? e->body : NULL;

    const crm_event_type *t = crm_schema_find(e->type, e->type_len);
    if (t == NULL && !crm_schema_is_ext(e->type, e->type_len)) {
        if (!crm_utf8_valid(e->type, e->type_len))
            return crm_error_set(why, CRM_ERR_BAD_UTF8,
                                 "event type is not valid UTF-8");
        int ok = e->type_len <= CRM_TYPE_MAX;
        return crm_error_set(why, CRM_ERR_UNKNOWN_TYPE,
                             "unknown event type '%.*s' (extensions must "
                             "start with 'x.')",
                             ok ? (int)e->type_len : 1, ok ? e->type : "?");
    }

    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    if (msgpack_pack_bin(&pk, CRM_ID_LEN) != 0 ||
        msgpack_pack_bin_body(&pk, e->id, CRM_ID_LEN) != 0 ||
        pack_cstr(&pk, e->stream, e->stream_len) != 0 ||
        pack_cstr(&pk, e->type, e->type_len) != 0 ||
        msgpack_pack_int64(&pk, e->occurred_at) != 0) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto fail;
    }
    size_t body_at = out->size;
    err = t ? encode_known(&pk, t, body, why) : encode_ext(&pk, body, why);
    if (err != CRM_OK)
        goto fail;
    if (out->size - body_at > CRM_BODY_MAX) {
        err = crm_error_set(why, CRM_ERR_TOO_LARGE,
                            "event body is %zu bytes; the limit is %d",
                            out->size - body_at, CRM_BODY_MAX);
        goto fail;
    }
    return CRM_OK;
fail:
    out->size = mark;
    return err;
}

/* Length of a str header at p (canonical: fixstr, str 8 or str 16) plus
 * the string, or 0. */
static size_t
str_len_at(const uint8_t *p, size_t left)
{
    if (left >= 1 && (p[0] & 0xe0) == 0xa0)
        return 1 + (size_t)(p[0] & 0x1f);
    if (left >= 2 && p[0] == 0xd9)
        return 2 + (size_t)p[1];
    if (left >= 3 && p[0] == 0xda)
        return 3 + ((size_t)p[1] << 8 | p[2]);
    return 0;
}

size_t
crm_event_pii_at(const void *content, size_t len)
{
    const uint8_t *p = content;
    size_t at = 2 + CRM_ID_LEN, n;
    if (len < at || p[0] != 0xc4 || p[1] != CRM_ID_LEN)
        return 0;
    for (int i = 0; i < 2; i++) { /* stream, type */
        if ((n = str_len_at(p + at, len - at)) == 0 || n > len - at)
            return 0;
        at += n;
    }
    if (at >= len) /* occurred_at: a positive int, at most 9 bytes */
        return 0;
    uint8_t t = p[at];
    n = t <= 0x7f ? 1 : t == 0xcc ? 2 : t == 0xcd ? 3 : t == 0xce ? 5
        : t == 0xcf || t == 0xd3 ? 9 : 0;
    if (n == 0 || n > len - at)
        return 0;
    at += n;
    if (crm_mpcheck_prefix(p + at, len - at, CRM_MP_MAX_DEPTH, &n, NULL) !=
        CRM_OK || n >= len - at)
        return 0;
    return at + n;
}

void
crm_event_digest_public(const void *content, size_t pub,
                        uint8_t out[CRM_DIGEST_LEN])
{
    uint8_t md[CRM_HASH_LEN];
    crm_sha256_2(content, pub, NULL, 0, md);
    memcpy(out, md, CRM_DIGEST_LEN);
}

void
crm_event_digest(const void *content, size_t len, uint8_t out[CRM_DIGEST_LEN])
{
    size_t pub = crm_event_pii_at(content, len);
    crm_event_digest_public(content, pub ? pub : len, out);
}
