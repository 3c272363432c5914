/*
 * export.h - verifying an export file (audit.export, crmctl audit export)
 * offline, with no data directory (export.c).
 */
#ifndef CRM_AUDIT_EXPORT_H
#define CRM_AUDIT_EXPORT_H

#include <stdint.h>

#include "err.h"
#include "schema.h"
#include "verify.h"

typedef struct crm_audit_export {
    char tenant[CRM_TENANT_MAX + 1];
    uint64_t from, to; /* as its header says */
} crm_audit_export;

/* Verifies the export at path: CRM_OK with res->broken saying the
 * verdict (res->checkpoints 1 when the trailer's checkpoint verified
 * under pub, or the header's key when pub is NULL); CRM_ERR_IO when the
 * file cannot be read. */
crm_err crm_audit_verify_export(const char *path, const uint8_t *pub,
                                crm_audit_export *out, crm_audit_result *res,
                                crm_error *why);

#endif
