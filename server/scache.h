/*
 * scache.h - stream heads held in memory: stream id -> (last version, last
 * position). The event log keeps the streams index in LMDB only at
 * checkpoints; between them the heads of recently written streams live
 * here (see log.c). Open addressing, keys stored inline. Not thread-safe:
 * the log guards it.
 */
#ifndef CRM_SCACHE_H
#define CRM_SCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "schema.h"

typedef struct crm_scache crm_scache;

typedef struct crm_shead {
    uint8_t len;
    uint8_t dirty; /* set by crm_scache_put, cleared by _mark_clean_at */
    char id[CRM_STREAM_MAX];
    uint64_t version;
    uint64_t position;
} crm_shead;

crm_scache *crm_scache_new(void);
void crm_scache_free(crm_scache *c);

/* The head of stream id[0..len), or NULL. Valid until the next change. */
const crm_shead *crm_scache_get(const crm_scache *c, const char *id,
                                size_t len);

/* Sets the head of a stream (len <= CRM_STREAM_MAX) and marks it dirty.
 * -1 on ENOMEM, with the cache unchanged. */
int crm_scache_put(crm_scache *c, const char *id, size_t len, uint64_t version,
                   uint64_t position);

/* Makes room for n more entries, so that the next n puts cannot fail.
 * -1 on ENOMEM. */
int crm_scache_reserve(crm_scache *c, size_t n);

/* Copies every entry of src into dst, src's values winning. -1 on ENOMEM
 * (never after crm_scache_reserve(dst, count(src))). */
int crm_scache_merge(crm_scache *dst, const crm_scache *src);

size_t crm_scache_count(const crm_scache *c);
size_t crm_scache_dirty(const crm_scache *c);
void crm_scache_clear(crm_scache *c);

/* Marks the head of stream id[0..len) clean (written to the streams
 * index) if it is still at position; a head that moved stays dirty. */
void crm_scache_mark_clean_at(crm_scache *c, const char *id, size_t len,
                              uint64_t position);

/* Removes every clean entry, keeping the dirty ones. -1 on ENOMEM, with
 * the cache unchanged. */
int crm_scache_drop_clean(crm_scache *c);

/* Calls fn for every entry (dirty_only: every dirty entry), in no
 * particular order. */
void crm_scache_each(const crm_scache *c, int dirty_only,
                     void (*fn)(void *arg, const crm_shead *h), void *arg);

#endif
