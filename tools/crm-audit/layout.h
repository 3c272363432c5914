/*
 * layout.h - the tenant log's on-disk layout as crm-audit reads it.
 *
 * These mirror server/log_int.h (HEADVAL_LEN, IDVAL_LEN, STREAMVAL_LEN,
 * SKIP_EVERY, skip_key, get_be64), which is private to the log's files:
 * an auditor reads the format, not the server's internals. A change of
 * the format (LOG_FORMAT) changes both.
 */
#ifndef CRM_AUDIT_LAYOUT_H
#define CRM_AUDIT_LAYOUT_H

#include <stdint.h>
#include <string.h>

#include "event.h"
#include "hash.h"
#include "schema.h"

#define AUDIT_FORMAT "2"                         /* meta "format" */
#define AUDIT_HEADVAL_LEN (8 + CRM_HASH_LEN + 8) /* position, hash, time */
#define AUDIT_IDVAL_LEN (8 + CRM_DIGEST_LEN)     /* position, digest */
#define AUDIT_STREAMVAL_LEN 16                   /* version, position */
#define AUDIT_SKIP_EVERY 64
#define AUDIT_SKIPKEY_MAX (CRM_STREAM_MAX + 8)
/* checkpoints: position -> time i64, head (32), Ed25519 signature (64) */
#define AUDIT_CKPTVAL_LEN (8 + CRM_HASH_LEN + 64)

static inline uint64_t
audit_be64(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

static inline void
audit_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* stream_skip holds every AUDIT_SKIP_EVERY-th version of a stream. */
static inline int
audit_skip_due(uint64_t version)
{
    return version % AUDIT_SKIP_EVERY == AUDIT_SKIP_EVERY - 1;
}

/* The stream_skip key of (stream, version) into kb; returns its length. */
static inline size_t
audit_skip_key(uint8_t kb[AUDIT_SKIPKEY_MAX], const void *stream, size_t len,
               uint64_t version)
{
    memcpy(kb, stream, len);
    audit_put_be64(kb + len, version);
    return len + 8;
}

#endif
