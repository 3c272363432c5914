/*
 * scratch.h - the private directories crm-audit builds LMDB environments
 * in (a replay's projections, an export loaded as a log): made under
 * $TMPDIR and removed with what LMDB put there.
 */
#ifndef CRM_AUDIT_SCRATCH_H
#define CRM_AUDIT_SCRATCH_H

#include "err.h"

#define CRM_AUDIT_SCRATCH_MAX 4096

/* Makes a new directory $TMPDIR/crm-audit-WHAT-XXXXXX (/tmp when TMPDIR
 * is unset or empty), mode 0700, its path into dir. Errors: CRM_ERR_IO
 * (why says why); dir is then "". */
crm_err crm_audit_scratch_make(char dir[CRM_AUDIT_SCRATCH_MAX],
                               const char *what, crm_error *why);

/* Removes the environment's files (data.mdb, lock.mdb) and the directory,
 * then sets dir to "". dir "" (none made, or removed already) is left
 * alone. The environment must be closed. */
void crm_audit_scratch_remove(char dir[CRM_AUDIT_SCRATCH_MAX]);

#endif
