/*
 * record.h - the stored event record: what the log keeps at each position,
 * what the hash chain covers, what exports and replicas carry.
 *
 * A stored record is R followed by H, two msgpack objects back to back:
 *
 *   R = array(14) [ fmt=1, tenant, position, version, stream_prev,
 *                   recorded_at, actor, prev_hash (bin 32),
 *                   id, stream, type, occurred_at, body, pii ]
 *   H = bin 32: SHA-256(prev_hash || R)
 *
 * In a sealed tenant the pii element is a bin, the canonical pii map
 * sealed under the guest's key (seal.h), and the chain covers those
 * bytes: verification needs no key. Elements 8..12 are the event's
 * canonical content (event.h), 13 too in a tenant without keys, so the
 * writer assembles a record from a small header and the bytes the
 * validator already produced. stream_prev is the position of the previous
 * event of the same stream (0 for the first), which lets a stream be read
 * backwards without a second index.
 */
#ifndef CRM_RECORD_H
#define CRM_RECORD_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"
#include "hash.h"

#define CRM_RECORD_FMT 1
#define CRM_RECORD_FIELDS 14
#define CRM_RECORD_HDR_MAX 256 /* header bytes of R, tenant and actor max */
#define CRM_RECORD_TRAILER (2 + CRM_HASH_LEN)

/* The part of a record the writer decides. Strings are borrowed. */
typedef struct crm_record_hdr {
    const char *tenant;
    size_t tenant_len;
    uint64_t position;
    uint64_t version;
    uint64_t stream_prev;
    int64_t recorded_at;
    const char *actor;
    size_t actor_len;
    uint8_t prev_hash[CRM_HASH_LEN];
} crm_record_hdr;

/* Encodes the header of R (array header and elements 0..7) into buf, which
 * must hold CRM_RECORD_HDR_MAX bytes. Returns its length. */
size_t crm_record_hdr_encode(const crm_record_hdr *h, uint8_t *buf);

/* dst[0..rlen) holds R (header then content). Computes the chain hash,
 * writes H at dst + rlen (CRM_RECORD_TRAILER bytes) and copies the hash to
 * hash_out. */
void crm_record_seal(uint8_t *dst, size_t rlen,
                     const uint8_t prev_hash[CRM_HASH_LEN],
                     uint8_t hash_out[CRM_HASH_LEN]);

/* A decoded record. Pointers point into the buffer given to
 * crm_record_decode and the objects into its zone: both must outlive it. */
typedef struct crm_record {
    crm_record_hdr h;
    const uint8_t *id;
    const char *stream;
    size_t stream_len;
    const char *type;
    size_t type_len;
    int64_t occurred_at;
    msgpack_object body; /* map */
    msgpack_object pii;  /* map or nil; bin when sealed (vault.h) until
                            the log opens it */
    const uint8_t *content; /* canonical content bytes (elements 8..13) */
    size_t content_len;
    size_t rlen;         /* bytes of R */
    size_t content_pub;  /* crm_record_decode_lean: bytes of content before
                            pii (0 otherwise) */
    const uint8_t *hash; /* H's 32 bytes */
} crm_record;

/* Parses a stored record. Checks structure and types, not the hash.
 * Errors: CRM_ERR_CORRUPT with why saying what is wrong; CRM_ERR_NOMEM. */
crm_err crm_record_decode(const void *buf, size_t len, msgpack_zone *zone,
                          crm_record *r, crm_error *why);

/* The same checks without unpacking body and pii into objects (one
 * structural pass, no allocation): for verifiers, which need the header,
 * the id, the stream, the content bytes and the hash. r->body and r->pii
 * are left nil. */
crm_err crm_record_decode_lean(const void *buf, size_t len, crm_record *r,
                               crm_error *why);

/* Recomputes r's hash from buf (the buffer it was decoded from): 1 if it
 * matches the stored H and r's prev_hash equals prev_hash. */
int crm_record_verify(const void *buf, const crm_record *r,
                      const uint8_t prev_hash[CRM_HASH_LEN]);

#endif
