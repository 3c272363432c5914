/*
 * err.h - the one error enum shared by every layer of crmd.
 *
 * Numbers are stable: they travel on the wire and in logs. Add new codes at
 * the end of their range; never renumber. CRM_OK is 0. Errors of LMDB, NNG,
 * OpenSSL, msgpack and errno are translated into these by the module that
 * calls the dependency.
 */
#ifndef CRM_ERR_H
#define CRM_ERR_H

#include <stddef.h>

/* X(ENUM, number, wire name, default message) */
#define CRM_ERR_MAP(X)                                                         \
    X(CRM_OK, 0, "ok", "success")                                              \
    X(CRM_ERR_BAD_REQUEST, 1, "bad_request", "malformed request")              \
    X(CRM_ERR_UNAUTHORIZED, 2, "unauthorized", "missing or invalid key")       \
    X(CRM_ERR_FORBIDDEN, 3, "forbidden", "operation not allowed for key")      \
    X(CRM_ERR_NOT_FOUND, 4, "not_found", "no such object")                     \
    X(CRM_ERR_CONFLICT, 5, "conflict", "expected version or id conflict")      \
    X(CRM_ERR_TOO_LARGE, 6, "too_large", "size limit exceeded")                \
    X(CRM_ERR_NOT_PRIMARY, 7, "not_primary", "write sent to a regional node")  \
    X(CRM_ERR_UNAVAILABLE, 8, "unavailable", "temporarily unavailable")        \
    X(CRM_ERR_INTERNAL, 9, "internal", "internal error")                       \
    X(CRM_ERR_EXISTS, 10, "exists", "object already exists")                   \
    X(CRM_ERR_NOMEM, 11, "no_memory", "out of memory")                         \
    X(CRM_ERR_IO, 12, "io_error", "storage I/O error")                         \
    X(CRM_ERR_CORRUPT, 13, "corrupt", "stored data failed verification")       \
    X(CRM_ERR_TIMEOUT, 14, "timeout", "operation timed out")                   \
    X(CRM_ERR_CLOSED, 15, "closed", "object is closed")                        \
    X(CRM_ERR_UNKNOWN_TYPE, 20, "unknown_type", "unknown event type")          \
    X(CRM_ERR_MISSING_FIELD, 21, "missing_field", "required field missing")    \
    X(CRM_ERR_BAD_FIELD, 22, "bad_field", "field has wrong type or value")     \
    X(CRM_ERR_BAD_UTF8, 23, "bad_utf8", "string is not valid UTF-8")           \
    X(CRM_ERR_EMPTY_BATCH, 24, "empty_batch", "batch holds no events")         \
    X(CRM_ERR_DUPLICATE_ID, 25, "duplicate_id", "event id repeated in batch")  \
    X(CRM_ERR_UNKNOWN_FIELD, 26, "unknown_field", "field not in schema")       \
    X(CRM_ERR_BAD_VERSION, 27, "bad_version", "unsupported protocol version")  \
    X(CRM_ERR_UNKNOWN_OP, 28, "unknown_op", "unknown operation")              \
    X(CRM_ERR_INSUFFICIENT_POINTS, 29, "insufficient_points",                  \
      "not enough loyalty points")

typedef enum crm_err {
#define CRM_ERR_ENUM(e, n, name, msg) e = n,
    CRM_ERR_MAP(CRM_ERR_ENUM)
#undef CRM_ERR_ENUM
} crm_err;

/* Stable wire name ("conflict") of an error; "unknown" for numbers outside
 * the enum. Never NULL. */
const char *crm_err_name(crm_err err);

/* Default human message of an error; never NULL. */
const char *crm_strerror(crm_err err);

/* Error by wire name; returns CRM_ERR_INTERNAL when the name is unknown. */
crm_err crm_err_from_name(const char *name);

/* An error with a specific message ("event 3: field 'nps' must be 0..10").
 * Functions that can explain a failure take an optional crm_error *; they
 * return the code and, if the pointer is non-NULL, fill it in. */
typedef struct crm_error {
    crm_err code;
    char msg[240];
} crm_error;

/* Records code and a printf-style message in e (may be NULL); returns code.
 * A NULL or empty fmt stores crm_strerror(code). */
crm_err crm_error_set(crm_error *e, crm_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes e->msg with "prefix: " (used to say which event failed). */
void crm_error_prefix(crm_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
