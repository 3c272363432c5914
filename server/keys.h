/*
 * keys.h - API keys: creation, revocation, authentication.
 *
 * A key is shown once, as a token "crmk_<16 hex id>_<64 hex secret>". The
 * registry keeps only SHA-256 of the secret (the secret is 32 random
 * bytes, so no slow hash is needed) with the key's tenant and role.
 * Every key belongs to one tenant, except operator keys, which belong to
 * none and manage tenants. Keys are held in memory for authentication and
 * written through to the registry; crm_keys_reload re-reads the registry
 * (SIGHUP). Thread-safe.
 */
#ifndef CRM_KEYS_H
#define CRM_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ops.h"
#include "schema.h"
#include "store.h"

#define CRM_KEY_ID_LEN 16
#define CRM_KEY_TOKEN_LEN (5 + CRM_KEY_ID_LEN + 1 + 64)
#define CRM_KEY_LABEL_MAX 64

typedef struct crm_keys crm_keys;

typedef struct crm_key_info {
    char id[CRM_KEY_ID_LEN + 1];
    char tenant[CRM_TENANT_MAX + 1]; /* "" for operator keys */
    crm_role role;
    unsigned grants; /* CRM_GRANT_* (views.h); 0 for keys made before */
    int64_t created_at;
    int64_t revoked_at; /* 0 while active */
    char label[CRM_KEY_LABEL_MAX + 1];
} crm_key_info;

crm_err crm_keys_open(crm_store *store, crm_keys **out, crm_error *why);
void crm_keys_close(crm_keys *k);

/* Re-reads every key from the registry. */
crm_err crm_keys_reload(crm_keys *k, crm_error *why);

/* Creates a key. tenant must be "" exactly when role is operator. The
 * token (CRM_KEY_TOKEN_LEN + 1 bytes) is written to token_out and never
 * stored. */
crm_err crm_keys_create(crm_keys *k, const char *tenant, crm_role role,
                        const char *label, char *token_out,
                        crm_key_info *info, crm_error *why);

/* As crm_keys_create, the key carrying grants (CRM_GRANT_* bits; one the
 * role may not carry is CRM_ERR_BAD_REQUEST). */
crm_err crm_keys_create_granted(crm_keys *k, const char *tenant,
                                crm_role role, unsigned grants,
                                const char *label, char *token_out,
                                crm_key_info *info, crm_error *why);

/* Revokes key id. With scope non-NULL, only a key of that tenant can be
 * revoked (CRM_ERR_NOT_FOUND otherwise, so tenants cannot probe each
 * other's key ids). */
crm_err crm_keys_revoke(crm_keys *k, const char *id, const char *scope,
                        crm_error *why);

/* Authenticates a token: CRM_OK with *out filled, or CRM_ERR_UNAUTHORIZED
 * (unknown, malformed, wrong secret or revoked: the caller cannot tell
 * which). The secret is compared in constant time. */
crm_err crm_keys_auth(crm_keys *k, const char *token, size_t len,
                      crm_key_info *out);

/* Keys of a tenant ("" for operator keys; NULL for all), malloc'd array. */
crm_err crm_keys_list(crm_keys *k, const char *tenant, crm_key_info **out,
                      size_t *n);

/* Makes sure an active operator key exists. If none does, creates one and
 * writes its token to path (mode 0600, replacing the file); *created says
 * whether that happened. */
crm_err crm_keys_bootstrap(crm_keys *k, const char *path, int *created,
                           crm_error *why);

#endif
