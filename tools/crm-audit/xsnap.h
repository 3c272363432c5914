/*
 * xsnap.h - an export file (crmctl audit export) opened as a snapshot of
 * its tenant's log, so that what reads a data directory's log (replay.h)
 * reads the export unchanged.
 *
 * The file is verified as crm-audit verify --export verifies it (under
 * the key its header names) while its records are loaded into a private
 * scratch LMDB environment under $TMPDIR, laid out as snap.h reads a
 * tenant log: "log" (position -> the record as stored), "streams" (each
 * stream's version and position at its head), "meta" (tenant, format,
 * genesis, head, streams_at, sign_pub), and "event_ids" and
 * "stream_skip" empty (nothing that reads the export looks an event up
 * by its id or a stream from a version). The records are the file's
 * bytes: in a sealed tenant their personal parts stay sealed, as they are
 * in the data directory, and no key is needed or used.
 */
#ifndef CRM_AUDIT_XSNAP_H
#define CRM_AUDIT_XSNAP_H

#include "err.h"
#include "scratch.h"
#include "snap.h"

typedef struct crm_audit_xsnap {
    crm_audit_snap snap;             /* the export as a tenant log */
    char dir[CRM_AUDIT_SCRATCH_MAX]; /* the scratch environment, or "" */
} crm_audit_xsnap;

/* Verifies the export at path, loads it and opens x->snap on it (one
 * read transaction). Errors: CRM_ERR_CORRUPT (the file does not verify:
 * why says at which position and what is wrong), CRM_ERR_BAD_REQUEST (an
 * export of part of a log, from a position after 1: a guest's history
 * cannot be rebuilt from it), CRM_ERR_IO (the file cannot be read, the
 * scratch environment cannot be made), CRM_ERR_NOMEM. On failure x is
 * closed and the scratch directory removed. */
crm_err crm_audit_xsnap_open(crm_audit_xsnap *x, const char *path,
                             crm_error *why);

/* Closes the snapshot and removes the scratch environment; accepts an x
 * that failed to open, was closed already, or is all zero. */
void crm_audit_xsnap_close(crm_audit_xsnap *x);

#endif
