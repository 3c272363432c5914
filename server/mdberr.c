/* mdberr.c - LMDB error translation. */
#include "mdberr.h"

#include <errno.h>
#include <lmdb.h>

crm_err
crm_mdb_code(int rc)
{
    switch (rc) {
    case 0:
        return CRM_OK;
    case ENOMEM:
        return CRM_ERR_NOMEM;
    case EIO:
    case ENOSPC:
    case EACCES:
    case EROFS:
        return CRM_ERR_IO;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return CRM_ERR_CORRUPT;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_MAP_RESIZED:
    case MDB_READERS_FULL:
        return CRM_ERR_UNAVAILABLE;
    case MDB_NOTFOUND:
        return CRM_ERR_NOT_FOUND;
    case MDB_KEYEXIST:
        return CRM_ERR_EXISTS;
    default:
        return CRM_ERR_INTERNAL;
    }
}

crm_err
crm_mdb_fail(crm_error *why, int rc, const char *what)
{
    return crm_error_set(why, crm_mdb_code(rc), "%s: %s", what,
                         mdb_strerror(rc));
}
