/* mdberr.h - LMDB and errno codes translated into crm_err, at the modules
 * that call LMDB (log, store, keys): MDB_* codes never travel further. */
#ifndef CRM_MDBERR_H
#define CRM_MDBERR_H

#include "err.h"

/* The crm_err for rc (an LMDB or errno code). */
crm_err crm_mdb_code(int rc);

/* Sets why to "<what>: <LMDB's message>" with crm_mdb_code(rc); returns
 * the code. why may be NULL. */
crm_err crm_mdb_fail(crm_error *why, int rc, const char *what);

#endif
