/*
 * import.h - crmd --import FILE: an export file of a whole log made a new
 * tenant of the data directory of cfg, crmd stopped (import.c). Prints
 * what it did on stdout.
 */
#ifndef CRM_IMPORT_H
#define CRM_IMPORT_H

#include "config.h"
#include "err.h"

crm_err crm_import_run(const crm_config *cfg, crm_error *why);

#endif
