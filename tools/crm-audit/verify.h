/*
 * verify.h - recomputing a tenant log from a snapshot: every record's
 * hash, the chain from the genesis, dense positions from 1, stream
 * versions, the head in meta, and the indexes (streams, event_ids,
 * stream_skip), by the rules the server itself verifies with
 * (server/log_verify.c).
 */
#ifndef CRM_AUDIT_VERIFY_H
#define CRM_AUDIT_VERIFY_H

#include <stdint.h>

#include "err.h"
#include "hash.h"
#include "progress.h"
#include "snap.h"

typedef struct crm_audit_result {
    int broken;
    uint64_t events;   /* records that verified, in position order */
    uint64_t head_pos; /* when not broken: the last record */
    uint8_t head_hash[CRM_HASH_LEN];
    /* when broken: the first bad position (0: meta or an index as a
     * whole, not one record) and what is wrong there */
    uint64_t bad_pos;
    char why[240];
    uint64_t checkpoints; /* signed checkpoints that verified */
} crm_audit_result;

/* Verifies s with s->ntxn threads (one per transaction), drawing progress
 * on p (may be NULL); every signed checkpoint must name the hash the
 * chain has at its position and carry a signature of pub (the tenant's
 * Ed25519 public key; NULL: the key the log itself names, which proves
 * less), and none may lie past the head. CRM_OK when the verification ran to a verdict
 * (res->broken says which); CRM_ERR_NOMEM or an LMDB failure translated
 * (CRM_ERR_IO) when it could not. */
crm_err crm_audit_verify(crm_audit_snap *s, const uint8_t *pub,
                         crm_audit_progress *p, crm_audit_result *res,
                         crm_error *why);

#endif
