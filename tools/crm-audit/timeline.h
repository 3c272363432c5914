/*
 * timeline.h - crm-audit's replay and diff commands: a guest's view at a
 * moment of the past, and what changed in it between two moments
 * (replay.h does the replaying), from a data directory or an export.
 */
#ifndef CRM_AUDIT_TIMELINE_H
#define CRM_AUDIT_TIMELINE_H

/* crm-audit replay ARGS (argv[0] is "replay"): the view as JSON on
 * stdout, from --data DIR --tenant T or from --export FILE (verified and
 * loaded first, xsnap.h). Returns the exit status: 0, 1 no such guest
 * (then) or an export that does not verify, 2 usage or I/O error (said
 * on stderr). */
int crm_audit_cmd_replay(int argc, char **argv);

/* crm-audit diff ARGS (argv[0] is "diff"): the changes and the events
 * between --from and --to on stdout; exit status as replay's. */
int crm_audit_cmd_diff(int argc, char **argv);

#endif
