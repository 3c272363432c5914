/*
 * event.h - validation and canonical encoding of one event as a client
 * submits it.
 *
 * The canonical "content" of an event is six msgpack objects, back to back:
 *
 *     id (bin 16) | stream (str) | type (str) | occurred_at (int, µs)
 *     | body (map) | pii (map, or nil when the event has no personal data)
 *
 * For known types, body holds the non-personal fields and pii the personal
 * ones, each in schema order. For "x." types the body is canonicalised
 * (map keys sorted bytewise, smallest integer encodings, floats as float64)
 * and a top-level "pii" map, if any, becomes the pii part. The same logical
 * event therefore always gives the same bytes, which the hash chain and the
 * idempotency check depend on.
 */
#ifndef CRM_EVENT_H
#define CRM_EVENT_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "schema.h"

#define CRM_ID_LEN 16
#define CRM_DIGEST_LEN 16
#define CRM_TIME_MAX INT64_C(253402300799999999) /* 9999-12-31T23:59:59.999999 */

/* An event as submitted. All pointers are borrowed for the duration of the
 * call that receives it. body is a msgpack map (or NULL for an empty one). */
typedef struct crm_event_in {
    uint8_t id[CRM_ID_LEN];
    const char *stream;
    size_t stream_len;
    const char *type;
    size_t type_len;
    int64_t occurred_at;
    const msgpack_object *body;
} crm_event_in;

/* Validates e against the schema and appends its canonical content to out.
 * On error out is left as it was (its size is restored) and why says which
 * field failed: CRM_ERR_UNKNOWN_TYPE, CRM_ERR_MISSING_FIELD,
 * CRM_ERR_UNKNOWN_FIELD, CRM_ERR_BAD_FIELD, CRM_ERR_BAD_UTF8,
 * CRM_ERR_TOO_LARGE, CRM_ERR_BAD_REQUEST (bad id/stream/time), CRM_ERR_NOMEM.
 */
crm_err crm_event_encode(const crm_event_in *e, msgpack_sbuffer *out,
                         crm_error *why);

/* First CRM_DIGEST_LEN bytes of SHA-256 over the public part of
 * canonical content (all but pii): what the idempotency check compares
 * first when an event id is seen again. No digest of personal data is
 * kept; a retry's personal part is compared with the stored one opened. */
void crm_event_digest(const void *content, size_t len,
                      uint8_t out[CRM_DIGEST_LEN]);
/* The same when the public part's length (crm_event_pii_at) is known. */
void crm_event_digest_public(const void *content, size_t pub,
                             uint8_t out[CRM_DIGEST_LEN]);

/* Offset of the pii element inside canonical content (the length of
 * the public part), or 0 if content is not canonical content. */
size_t crm_event_pii_at(const void *content, size_t len);

/* True if s[0..len) is "YYYY-MM-DD", a real calendar date from 1800 on. */
int crm_date_valid(const char *s, size_t len);

/* True if s[0..len) is a valid stream (customer) id: 1..CRM_STREAM_MAX bytes
 * of UTF-8 without control characters. */
int crm_stream_id_valid(const char *s, size_t len);

#endif
