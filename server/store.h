/*
 * store.h - a crmd data directory: the registry environment and the event
 * logs of its tenants.
 *
 *   <data>/registry/         LMDB env: tenants (later keys, regions, ledger)
 *   <data>/tenants/<id>/     one LMDB env per tenant (log.h)
 *
 * Tenant logs are opened on first use and stay open until the store
 * closes. Thread-safe.
 */
#ifndef CRM_STORE_H
#define CRM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "log.h"

typedef struct crm_store crm_store;
struct MDB_env;

typedef struct crm_tenant_info {
    char id[CRM_TENANT_MAX + 1];
    int64_t created_at; /* UTC µs */
} crm_tenant_info;

/* True if id is a valid tenant id: [a-z0-9-]{1,40}. */
int crm_tenant_id_valid(const char *id);

/* Opens (creating directories as needed, mode 0700) the data directory.
 * log_opts (may be NULL) apply to every tenant log it opens. */
crm_err crm_store_open(const char *datadir, const crm_log_opts *log_opts,
                       crm_store **out, crm_error *why);

/* Stops every open tenant log (crm_log_stop: queued appends finished,
 * later ones refused, reads go on) and opens no more. Accepts NULL. */
void crm_store_stop(crm_store *s);

/* Closes every open tenant log (finishing queued appends). Accepts NULL. */
void crm_store_close(crm_store *s);

/* Creates a tenant and its empty log. CRM_ERR_EXISTS if it exists,
 * CRM_ERR_BAD_REQUEST if id is not a valid tenant id. */
crm_err crm_store_tenant_create(crm_store *s, const char *id, crm_error *why);

/* The log of tenant id, opened if needed; owned by the store and valid
 * until crm_store_close. CRM_ERR_NOT_FOUND for an unknown tenant. */
crm_err crm_store_tenant_log(crm_store *s, const char *id, crm_log **out,
                             crm_error *why);

/* All tenants, sorted by id, in a malloc'd array the caller frees. */
crm_err crm_store_tenant_list(crm_store *s, crm_tenant_info **out, size_t *n,
                              crm_error *why);

/* Asks every open tenant log to checkpoint when idle (crm_log_checkpoint). */
void crm_store_checkpoint(crm_store *s);


/* A hot backup into dst (made, mode 0700; CRM_ERR_EXISTS when it exists),
 * laid out as a data directory: tenants/<id>/ for tenant id, or for every
 * tenant and registry/ (keys, tenants, the master key check) when id is
 * NULL. fn is told of each tenant copied (may be NULL). Restoring is
 * copying it back while crmd is stopped (README.md). */
crm_err crm_store_backup(crm_store *s, const char *id, const char *dst,
                         void (*fn)(void *arg, const char *tenant,
                                    const crm_log_backup_info *b),
                         void *arg, crm_error *why);

/* The registry environment, for the modules that keep their tables there
 * (keys.c). Owned by the store. */
struct MDB_env *crm_store_registry(crm_store *s);

#endif
