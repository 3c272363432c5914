/*
 * timeline.h - crm-audit's replay and diff commands: a guest's view at a
 * moment of the past, and what changed in it between two moments
 * (replay.h does the replaying).
 */
#ifndef CRM_AUDIT_TIMELINE_H
#define CRM_AUDIT_TIMELINE_H

/* crm-audit replay ARGS (argv[0] is "replay"): the view as JSON on
 * stdout. Returns the exit status: 0, 1 no such guest (then), 2 usage or
 * I/O error (said on stderr). */
int crm_audit_cmd_replay(int argc, char **argv);

/* crm-audit diff ARGS (argv[0] is "diff"): the changes and the events
 * between --from and --to on stdout; exit status as replay's. */
int crm_audit_cmd_diff(int argc, char **argv);

#endif
