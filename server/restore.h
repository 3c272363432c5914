/*
 * restore.h - crmd --restore BACKUP: a backup (store.h) put back into the
 * data directory of cfg, crmd stopped, each tenant verified before it
 * replaces the one there and the erasures made since re-applied
 * (restore.c). Prints what it did on stdout.
 */
#ifndef CRM_RESTORE_H
#define CRM_RESTORE_H

#include "config.h"
#include "err.h"

crm_err crm_restore_run(const crm_config *cfg, crm_error *why);

#endif
