/*
 * manifest.h - the MANIFEST of a backup (store.h, `backup`), written by
 * crm_store_backup and trusted by crmd --restore only as far as it is
 * signed. A text file:
 *
 *   crmd backup 2
 *   created_at µs
 *   registry yes|no
 *   file registry/data.mdb BYTES SHA256HEX          (a full backup)
 *   tenant ID position P head HEX checkpoint P HEX TIME SIGHEX
 *   file tenants/ID/data.mdb BYTES SHA256HEX        (every file of it)
 *   ...
 *   signature ID SIGHEX                             (one per tenant)
 *
 * A tenant line names the head of its copy and the checkpoint signed for
 * it; a file line the size and SHA-256 of every file the backup holds.
 * Every tenant signs the SHA-256 of all the text before the first
 * signature line (sign.h, crm_manifest_sign), so no line can be changed,
 * added or removed, and no file replaced, without breaking every
 * tenant's signature.
 */
#ifndef CRM_MANIFEST_H
#define CRM_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "log.h"
#include "schema.h"
#include "sign.h"

#define CRM_BACKUP_MANIFEST "MANIFEST"

/* --- writing ------------------------------------------------------------- */

typedef struct crm_manifest_w crm_manifest_w;

/* A manifest begun for a backup with the registry or without. NULL on
 * ENOMEM. */
crm_manifest_w *crm_manifest_begin(int registry);

/* A file line for every regular file in root/rel (rel a directory of the
 * backup, such as "registry" or "tenants/ID"). */
crm_err crm_manifest_files(crm_manifest_w *m, const char *root,
                           const char *rel, crm_error *why);

/* The tenant line of id's copy. */
crm_err crm_manifest_add_tenant(crm_manifest_w *m, const char *id,
                                const crm_log_backup_info *b,
                                crm_error *why);

/* Signs the text by every tenant it names (sign gives tenant id's
 * signature of digest: 0, or a crm_err with why set), writes it to path
 * (which must not exist) durably, and frees m. */
crm_err crm_manifest_finish(crm_manifest_w *m, const char *path,
                            crm_err (*sign)(void *arg, const char *id,
                                            const uint8_t *digest,
                                            uint8_t *sig, crm_error *why),
                            void *arg, crm_error *why);

/* Frees m without writing it. */
void crm_manifest_abort(crm_manifest_w *m);

/* --- reading ------------------------------------------------------------- */

typedef struct crm_manifest_tenant {
    char id[CRM_TENANT_MAX + 1];
    uint64_t position;
    uint8_t head[CRM_HASH_LEN];
    crm_checkpoint ck;
    uint8_t sig[CRM_SIGN_LEN]; /* its signature of the manifest */
    int has_sig;
} crm_manifest_tenant;

typedef struct crm_manifest_file {
    char path[CRM_TENANT_MAX + 64]; /* relative to the backup */
    uint64_t bytes;
    uint8_t sha[CRM_HASH_LEN];
} crm_manifest_file;

typedef struct crm_manifest {
    int registry;
    crm_manifest_tenant *t;
    size_t n;
    crm_manifest_file *f;
    size_t nf;
    uint8_t digest[CRM_HASH_LEN]; /* of the text its tenants sign */
} crm_manifest;

/* Reads backup/MANIFEST into m (crm_manifest_free it, also on error):
 * CRM_ERR_NOT_FOUND without one, CRM_ERR_BAD_REQUEST when malformed or
 * when a tenant has no signature line. Nothing here is trusted yet. */
crm_err crm_manifest_read(const char *backup, crm_manifest *m,
                          crm_error *why);

/* Whether pub (tenant t's key) signed m. */
int crm_manifest_signed(const crm_manifest *m, const crm_manifest_tenant *t,
                        const uint8_t pub[CRM_SIGN_PUB_LEN]);

/* Every regular file in backup/rel is a file line of m with the size and
 * SHA-256 it has now, and every file line under rel is there:
 * CRM_ERR_CORRUPT naming the first that is not. */
crm_err crm_manifest_check_files(const crm_manifest *m, const char *backup,
                                 const char *rel, crm_error *why);

void crm_manifest_free(crm_manifest *m);

#endif
