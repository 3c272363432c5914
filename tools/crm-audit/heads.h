/*
 * heads.h - the stream heads a verification has seen so far: stream id ->
 * (last version, its position). An id of up to CRM_AUDIT_HEAD_INLINE
 * bytes is kept in its entry, so that a lookup compares bytes already in
 * cache; a longer one is borrowed from the snapshot's map (valid while
 * its transactions last). An entry is 40 bytes and a whole table copies
 * with one memcpy. One thread per table.
 *
 * server/scache.c keeps ids inline for a cache that outlives read
 * transactions; a verifier that holds one snapshot does not need that,
 * and the smaller entries keep the table of a large tenant in cache.
 */
#ifndef CRM_AUDIT_HEADS_H
#define CRM_AUDIT_HEADS_H

#include <stddef.h>
#include <stdint.h>

#define CRM_AUDIT_HEAD_INLINE 16

typedef struct crm_audit_head {
    union {
        char in[CRM_AUDIT_HEAD_INLINE]; /* len <= CRM_AUDIT_HEAD_INLINE */
        const char *ptr;                /* longer: borrowed */
    } id;
    uint32_t hash;
    uint32_t len; /* 0: empty slot */
    uint64_t version, position;
} crm_audit_head;

typedef struct crm_audit_heads {
    crm_audit_head *slot;
    size_t cap, count; /* cap: 0 or a power of two */
} crm_audit_heads;

/* FNV-1a of the id: the table's hash, also used to share streams out
 * between threads. */
uint32_t crm_audit_heads_hash(const void *id, size_t len);

/* The head of id[0..len) with hash h, or NULL. */
const crm_audit_head *crm_audit_heads_get(const crm_audit_heads *t,
                                          const void *id, size_t len,
                                          uint32_t h);

/* The slot of id: its head, or an empty slot claimed for it (id set,
 * version and position 0, *fresh set to 1). NULL on ENOMEM. id is
 * borrowed when it is longer than CRM_AUDIT_HEAD_INLINE. */
crm_audit_head *crm_audit_heads_slot(crm_audit_heads *t, const char *id,
                                     size_t len, uint32_t h, int *fresh);

/* dst becomes a copy of src (dst's old entries are dropped). -1 on
 * ENOMEM. */
int crm_audit_heads_copy(crm_audit_heads *dst, const crm_audit_heads *src);

void crm_audit_heads_free(crm_audit_heads *t);

#endif
