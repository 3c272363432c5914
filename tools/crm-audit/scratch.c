/* scratch.c - crm-audit's scratch directories under $TMPDIR. */
#include "scratch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

crm_err
crm_audit_scratch_make(char dir[CRM_AUDIT_SCRATCH_MAX], const char *what,
                       crm_error *why)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, CRM_AUDIT_SCRATCH_MAX, "%s/crm-audit-%s-XXXXXX",
             tmp && *tmp ? tmp : "/tmp", what);
    if (mkdtemp(dir) != NULL)
        return CRM_OK;
    crm_err err = crm_error_set(why, CRM_ERR_IO, "scratch directory %s: %s",
                                dir, strerror(errno));
    dir[0] = '\0';
    return err;
}

void
crm_audit_scratch_remove(char dir[CRM_AUDIT_SCRATCH_MAX])
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    char path[CRM_AUDIT_SCRATCH_MAX + 16];
    if (dir[0] == '\0')
        return;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    dir[0] = '\0';
}
