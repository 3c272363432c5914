/*
 * progress.h - a progress bar on stderr while a tenant is verified: done
 * and total events, events/s and time left. Drawn only when stderr is a
 * terminal, at most 10 times a second. One thread.
 */
#ifndef CRM_AUDIT_PROGRESS_H
#define CRM_AUDIT_PROGRESS_H

#include <stdint.h>

typedef struct crm_audit_progress {
    int on;             /* stderr is a terminal */
    const char *label;  /* borrowed: the tenant */
    uint64_t total;
    int64_t start_ns, last_ns;
} crm_audit_progress;

/* Starts a bar for total events (label borrowed until _end). */
void crm_audit_progress_begin(crm_audit_progress *p, const char *label,
                              uint64_t total);

/* done events of total are verified; redraws if 100 ms have passed. */
void crm_audit_progress_update(crm_audit_progress *p, uint64_t done);

/* Erases the bar. */
void crm_audit_progress_end(crm_audit_progress *p);

#endif
