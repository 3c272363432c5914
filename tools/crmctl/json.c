/* json.c - JSON <-> msgpack conversion. */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "rpc.h"
#include "timefmt.h"
#include "uuid.h"

/* --- msgpack -> JSON ------------------------------------------------------ */

static json_t *
hex(const void *p, size_t len)
{
    static const char digit[] = "0123456789abcdef";
    const uint8_t *b = p;
    char *s = malloc(len * 2 + 1);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        s[2 * i] = digit[b[i] >> 4];
        s[2 * i + 1] = digit[b[i] & 15];
    }
    json_t *j = json_stringn(s, len * 2);
    free(s);
    return j;
}

static json_t *
bin(const void *p, size_t len)
{
    if (len == CRM_ID_LEN) {
        char s[CRM_UUID_STRLEN + 1];
        crm_uuid_format(p, s);
        return json_string(s);
    }
    return hex(p, len);
}

static json_t *
str(const char *p, size_t len)
{
    /* jansson refuses invalid UTF-8; hex keeps such bytes visible instead
     * of failing the whole document. */
    json_t *j = json_stringn(p, len);
    return j ? j : hex(p, len);
}

/* Object keys are strings in JSON; other msgpack keys are written as
 * their compact JSON text. Returns a malloc'd NUL-terminated key. */
static char *
key_text(const msgpack_object *k)
{
    if (k->type == MSGPACK_OBJECT_STR) {
        char *s = malloc(k->via.str.size + 1);
        if (s) {
            memcpy(s, k->via.str.ptr, k->via.str.size);
            s[k->via.str.size] = '\0';
        }
        return s;
    }
    json_t *j = ctl_json_from_mp(k);
    char *s = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

json_t *
ctl_json_from_mp(const msgpack_object *o)
{
    json_t *j = NULL;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 <= (uint64_t)INT64_MAX)
            return json_integer((json_int_t)o->via.u64);
        {
            /* Beyond json_int_t: a decimal string keeps every digit. */
            char buf[24];
            snprintf(buf, sizeof(buf), "%" PRIu64, o->via.u64);
            return json_string(buf);
        }
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        /* JSON has no NaN or infinity. */
        return isfinite(o->via.f64) ? json_real(o->via.f64) : json_null();
    case MSGPACK_OBJECT_STR:
        return str(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN:
        return bin(o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_EXT:
        return hex(o->via.ext.ptr, o->via.ext.size);
    case MSGPACK_OBJECT_ARRAY:
        if ((j = json_array()) == NULL)
            return NULL;
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (json_array_append_new(
                    j, ctl_json_from_mp(&o->via.array.ptr[i])) != 0)
                goto fail;
        return j;
    case MSGPACK_OBJECT_MAP:
        if ((j = json_object()) == NULL)
            return NULL;
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            char *k = key_text(&o->via.map.ptr[i].key);
            json_t *v = ctl_json_from_mp(&o->via.map.ptr[i].val);
            /* json_object_set_new takes v even when it fails. */
            int rc = k && v ? json_object_set_new(j, k, v) : -1;
            if (rc != 0 && !(k && v))
                json_decref(v);
            free(k);
            if (rc != 0)
                goto fail;
        }
        return j;
    }
    return json_null();
fail:
    json_decref(j);
    return NULL;
}

/* --- JSON -> msgpack ------------------------------------------------------ */

int
ctl_json_pack(msgpack_packer *pk, const json_t *j)
{
    int rc = 0;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        rc |= msgpack_pack_map(pk, json_object_size(j));
        json_object_foreach ((json_t *)j, k, v) {
            rc |= crm_mp_pack_cstr(pk, k);
            rc |= ctl_json_pack(pk, v);
        }
        return rc;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        rc |= msgpack_pack_array(pk, json_array_size(j));
        json_array_foreach (j, i, v)
            rc |= ctl_json_pack(pk, v);
        return rc;
    }
    case JSON_STRING:
        return crm_mp_pack_str(pk, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return msgpack_pack_int64(pk, (int64_t)json_integer_value(j));
    case JSON_REAL:
        return msgpack_pack_double(pk, json_real_value(j));
    case JSON_TRUE:
        return msgpack_pack_true(pk);
    case JSON_FALSE:
        return msgpack_pack_false(pk);
    case JSON_NULL:
        return msgpack_pack_nil(pk);
    }
    return -1;
}

static const char *const event_members[] = {"stream", "type",        "body",
                                            "id",     "occurred_at", NULL};

crm_err
ctl_json_pack_event(msgpack_packer *pk, const json_t *ev, int64_t now_us,
                    crm_error *why)
{
    uint8_t id[CRM_ID_LEN];
    int64_t at = now_us;
    const char *k;
    json_t *v;

    if (!json_is_object(ev))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "an event must be a JSON object");
    /* A misspelt member ("bdy") would otherwise be dropped silently. */
    json_object_foreach ((json_t *)ev, k, v) {
        size_t i = 0;
        while (event_members[i] && strcmp(event_members[i], k) != 0)
            i++;
        if (event_members[i] == NULL)
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "unknown event member '%.40s' (expected "
                                 "stream, type, body, id, occurred_at)",
                                 k);
    }
    const json_t *stream = json_object_get(ev, "stream");
    const json_t *type = json_object_get(ev, "type");
    const json_t *body = json_object_get(ev, "body");
    const json_t *jid = json_object_get(ev, "id");
    const json_t *jat = json_object_get(ev, "occurred_at");
    if (!json_is_string(stream))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "event needs a string 'stream'");
    if (!json_is_string(type))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "event needs a string 'type'");
    if (body && !json_is_object(body) && !json_is_null(body))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "event 'body' must be an object");
    if (jid == NULL || json_is_null(jid)) {
        crm_uuid_v7(id);
    } else if (!json_is_string(jid) ||
               crm_uuid_parse(json_string_value(jid), id) != 0) {
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "event 'id' must be a UUID string");
    }
    if (json_is_integer(jat)) {
        at = (int64_t)json_integer_value(jat);
    } else if (json_is_string(jat)) {
        if (ctl_time_parse(json_string_value(jat), &at) != 0)
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "event 'occurred_at' \"%.40s\" is not an "
                                 "ISO-8601 UTC time like "
                                 "2026-11-25T10:00:00Z",
                                 json_string_value(jat));
    } else if (jat && !json_is_null(jat)) {
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "event 'occurred_at' must be microseconds or an "
                             "ISO-8601 UTC string");
    }

    int rc = msgpack_pack_map(pk, 5);
    rc |= crm_mp_pack_cstr(pk, "id") | msgpack_pack_bin(pk, CRM_ID_LEN) |
          msgpack_pack_bin_body(pk, id, CRM_ID_LEN);
    rc |= crm_mp_pack_cstr(pk, "stream") |
          crm_mp_pack_str(pk, json_string_value(stream),
                          json_string_length(stream));
    rc |=
        crm_mp_pack_cstr(pk, "type") |
        crm_mp_pack_str(pk, json_string_value(type), json_string_length(type));
    rc |= crm_mp_pack_cstr(pk, "occurred_at") | msgpack_pack_int64(pk, at);
    rc |= crm_mp_pack_cstr(pk, "body");
    rc |= json_is_object(body) ? ctl_json_pack(pk, body)
                               : msgpack_pack_map(pk, 0);
    if (rc != 0)
        return crm_error_set(why, CRM_ERR_NOMEM, "cannot pack the event");
    return CRM_OK;
}
