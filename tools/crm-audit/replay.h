/*
 * replay.h - one guest's view at a moment of the past, rebuilt from a
 * snapshot of the tenant's log (snap.h) into a scratch LMDB environment
 * with the projections crmd itself applies (settings, loyalty, customer,
 * in the order crm_proj_builtin_at gives them).
 *
 * A moment is a cut by recorded time (every record up to a position: what
 * crmd knew then) and, optionally, a cut by business time (of the guest's
 * events only those that occurred up to a time: what was true then). The
 * settings ($tenant) are cut by position only: when a rule applies is its
 * effective_from day, which the settings projection resolves by itself.
 *
 * Only the guest's own stream and $tenant are replayed: the customer and
 * loyalty projections key everything by the stream of the record they
 * apply and read nothing of other guests, only the settings projection,
 * so the guest's keys come out as a replay of the whole log would leave
 * them.
 */
#ifndef CRM_AUDIT_REPLAY_H
#define CRM_AUDIT_REPLAY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "schema.h"
#include "snap.h"

/* What crm-audit shows for a personal value it cannot open. */
#define CRM_AUDIT_SEALED "(sealed)"

typedef struct crm_audit_moment {
    uint64_t position; /* records up to this position are known */
    int64_t effective; /* INT64_MAX, or guest events occurred up to it */
    int64_t now_us;    /* the moment the view is read on ("today") */
    size_t touchpoints; /* most shown in the view, newest first */
} crm_audit_moment;

/* One event of the guest or of $tenant up to the cut. */
typedef struct crm_audit_event {
    uint64_t position;
    int64_t recorded_at, occurred_at;
    char type[CRM_TYPE_MAX + 1];
    int settings; /* of $tenant */
    int applied;  /* not left out by the business-time cut */
} crm_audit_event;

typedef struct crm_audit_replay {
    /* customer.get's shape, or NULL: the guest was not known then */
    json_t *view;
    /* loyalty.get's shape with the whole ledger, or NULL: no loyalty
     * activity then */
    json_t *loyalty;
    int sealed; /* some personal fields were sealed */
    /* the position of the guest's customer.erased after the moment, or
     * 0: the figures of an erased guest as they were then, its personal
     * values gone with its key */
    uint64_t erased_at;
    uint64_t guest_events, settings_events, left_out;
    crm_audit_event *events; /* by position */
    size_t nevents;
} crm_audit_replay;

/* The position a moment names in s: digits are a position (at most the
 * head), else a UTC time, "YYYY-MM-DDTHH:MM:SS[.f]Z" or "YYYY-MM-DD" (the
 * end of that day), whose position is the last record recorded at or
 * before it (0: none yet). *time is that time, or for a position its
 * record's recorded_at. Errors: CRM_ERR_BAD_REQUEST (why says why),
 * CRM_ERR_IO. */
crm_err crm_audit_moment_parse(crm_audit_snap *s, const char *text,
                               uint64_t *position, int64_t *time,
                               crm_error *why);

/* A business time: as crm_audit_moment_parse's times. 0 or -1. */
int crm_audit_time_parse(const char *text, int64_t *us);

/* Replays guest id[0..len) of s up to moment m into out (the caller
 * frees it with crm_audit_replay_free, also after a failure). The
 * scratch environment is made under $TMPDIR (else /tmp) and removed.
 * Errors: CRM_ERR_NOT_FOUND (the log has no such guest at all),
 * CRM_ERR_IO, CRM_ERR_CORRUPT, CRM_ERR_NOMEM. */
crm_err crm_audit_replay_run(crm_audit_snap *s, const char *id, size_t len,
                             const crm_audit_moment *m, crm_audit_replay *out,
                             crm_error *why);

void crm_audit_replay_free(crm_audit_replay *r);

#endif
