/*
 * export.h - verifying an export file (audit.export, crmctl audit export)
 * offline, with no data directory (export.c), and handing its records,
 * as they verify, to a reader (xsnap.c loads them into a scratch log).
 */
#ifndef CRM_AUDIT_EXPORT_H
#define CRM_AUDIT_EXPORT_H

#include <stdint.h>

#include "err.h"
#include "hash.h"
#include "record.h"
#include "schema.h"
#include "sign.h"
#include "verify.h"

typedef struct crm_audit_export {
    char tenant[CRM_TENANT_MAX + 1];
    uint64_t from, to;                    /* as its header says */
    uint8_t prev_hash[CRM_HASH_LEN];      /* of the record before from */
    uint8_t public_key[CRM_SIGN_PUB_LEN]; /* the key the header names */
    int has_keys;  /* a keys section follows the trailer (xkeys.h) */
    uint64_t keys; /* the guests' keys it holds, sealed (not opened) */
} crm_audit_export;

/* Called for each record once it verified (its hash, its link, its
 * position, its tenant), in position order: rec[0..len) the record as
 * stored (R then H), r its lean decoding (crm_record_decode_lean); both
 * borrowed for the call only. The trailer is checked after the last
 * record, so what a reader was given counts only when res->broken stays
 * 0. A result other than CRM_OK stops the reading and is returned. */
typedef crm_err (*crm_audit_export_each)(void *arg, const uint8_t *rec,
                                         size_t len, const crm_record *r,
                                         crm_error *why);

/* Verifies the export at path: CRM_OK with res->broken saying the
 * verdict (res->checkpoints 1 when the trailer's checkpoint verified
 * under pub, or the header's key when pub is NULL; a keys section after
 * the trailer is checked for its shape, of the header's tenant, and its
 * count, its keys left sealed); CRM_ERR_IO when the
 * file cannot be read, or what each returned. each may be NULL; out is
 * filled from the header (tenant "" when it is unreadable). */
crm_err crm_audit_verify_export(const char *path, const uint8_t *pub,
                                crm_audit_export_each each, void *arg,
                                crm_audit_export *out, crm_audit_result *res,
                                crm_error *why);

#endif
