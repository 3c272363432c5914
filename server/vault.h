/*
 * vault.h - a tenant's keys: the tenant key (wrapped by the master key,
 * in <tenant dir>/tenant.key), the subject keys of its guests (wrapped by
 * the tenant key, in the tenant environment's "subject_keys" database)
 * and what seals and opens the personal part of an event.
 *
 * The master key is 32 random bytes in a file outside the data
 * directory, as 64 hex digits; crmd refuses one that group or others may
 * read. tenant.key holds two slots of (epoch, tenant key wrapped by the
 * master key); meta "key_epoch" in the environment names the live one.
 * Rotation writes the new key to the other slot, rewraps every subject key
 * in one transaction that also moves key_epoch, and then overwrites the
 * old slot in place: the old tenant key, and with it every stale copy of a
 * subject key it wrapped that free pages may still hold, is gone.
 *
 * Subject keys are made on a guest's first personal field, in the
 * append's own transaction. Functions that work inside a transaction
 * return 0 or an LMDB error code (EIO: stored key material does not open);
 * the others return crm_err.
 */
#ifndef CRM_VAULT_H
#define CRM_VAULT_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "seal.h"

typedef struct crm_vault crm_vault;

/* Reads a master key file: 64 hex digits (a newline may follow). Refuses
 * a file that is not a regular file or whose mode gives group or others
 * any access (chmod 600), naming the path. */
crm_err crm_master_key_load(const char *path, uint8_t out[CRM_KEY_LEN],
                            crm_error *why);

/* Creates path (which must not exist) with mode 0600 holding a new
 * random master key. */
crm_err crm_master_key_make(const char *path, crm_error *why);

/* Checks master against the check value in db (a registry database, in
 * write transaction txn), storing one made with it when there is none:
 * a data directory then starts only with the master key it first ran
 * with. CRM_ERR_FORBIDDEN for another key. */
crm_err crm_master_key_check(MDB_txn *txn, MDB_dbi db,
                             const uint8_t master[CRM_KEY_LEN], crm_error *why);

/* Opens the tenant key of the tenant whose environment is dir, making
 * tenant.key when create is set and it has none. epoch is the live epoch
 * as meta records it (0 for a tenant that records none yet: the first).
 * A master key that does not open the tenant key is CRM_ERR_FORBIDDEN
 * with a message saying so. */
crm_err crm_vault_open(const char *dir, const char *tenant,
                       const uint8_t master[CRM_KEY_LEN], uint32_t epoch,
                       int create, crm_vault **out, crm_error *why);
void crm_vault_close(crm_vault *v); /* accepts NULL; wipes the keys */

/* A vault of the tenant key in the raw bytes of a tenant.key slot
 * wherever they were found (an audit of what a directory or a backup
 * still holds), for wrap and unwrap only: CRM_ERR_NOT_FOUND when slot is
 * not one, CRM_ERR_FORBIDDEN when master does not open it. */
crm_err crm_vault_from_slot(const char *tenant,
                            const uint8_t master[CRM_KEY_LEN],
                            const uint8_t *slot, size_t len, crm_vault **out,
                            crm_error *why);

uint32_t crm_vault_epoch(const crm_vault *v);

/* Rotation, step one: a vault of the next epoch with a new tenant key,
 * written (durably) to the slot of tenant.key that v's does not use.
 * Until meta's key_epoch names it, opening still picks v's. */
crm_err crm_vault_rotate(const crm_vault *v, crm_vault **next,
                         crm_error *why);
/* Step three, once the transaction that rewrapped every key under v (the
 * new vault) and moved key_epoch has committed: overwrites the slot of
 * old_epoch in place. */
crm_err crm_vault_retire(const crm_vault *v, uint32_t old_epoch,
                         crm_error *why);

/* Wraps and unwraps a key of the tenant under the live tenant key;
 * label and name say what it is (they are the associated data). */
int crm_vault_wrap(const crm_vault *v, char label, const void *name,
                   size_t name_len, const uint8_t key[CRM_KEY_LEN],
                   uint8_t out[4 + CRM_WRAPPED_LEN]);
int crm_vault_unwrap(const crm_vault *v, char label, const void *name,
                     size_t name_len, const uint8_t *in, size_t len,
                     uint8_t key[CRM_KEY_LEN]);

/* The subject key of stream[0..len) from db (the tenant's subject_keys).
 * MDB_NOTFOUND when the guest has none (never had personal data, or
 * erased) unless make is set: then a new one is stored in txn, which must
 * be a write transaction. */
int crm_vault_subject_key(const crm_vault *v, MDB_txn *txn, MDB_dbi db,
                          const char *stream, size_t len, int make,
                          uint8_t key[CRM_KEY_LEN]);
/* Stores key as the subject key of stream[0..len) (one brought from
 * another data directory: crmd --import). MDB_KEYEXIST when the guest
 * has one. */
int crm_vault_subject_key_put(const crm_vault *v, MDB_txn *txn, MDB_dbi db,
                              const char *stream, size_t len,
                              const uint8_t key[CRM_KEY_LEN]);

/* Seals or opens the personal part of event id of stream under the
 * guest's key (associated data: tenant, stream, id). 0 or -1. */
int crm_vault_seal_pii(const crm_vault *v, const uint8_t key[CRM_KEY_LEN],
                       const char *stream, size_t slen, const uint8_t *id,
                       const void *pt, size_t len, uint8_t *out);
int crm_vault_open_pii(const crm_vault *v, const uint8_t key[CRM_KEY_LEN],
                       const char *stream, size_t slen, const uint8_t *id,
                       const uint8_t *in, size_t len, uint8_t *out);

#endif
