/*
 * find.h - the blind indexes a guest is found by: e-mail, phone, loyalty
 * number, name tokens and birth date, each held as the HMAC-SHA-256 of
 * the normalised value under the tenant's index key (normalize.h), never
 * as the value itself.
 *
 * The projection folds customer.registered and customer.profile_updated
 * (the later value of a field replaces the earlier one) and forgets a
 * guest on customer.erased. One database:
 *
 *   kind u8, hmac (32), stream id          -> nothing (an entry)
 *   0xff, stream id, 0x00, field u8        -> the entries the field holds
 *                                             now: (kind u8, hmac) ...
 *
 * The second form lets an update or an erasure remove exactly what the
 * guest's old values put there, without knowing those values; an entry
 * another field of the guest still holds (a token in both names, as in
 * "Ana Silva" / "Silva") stays. Kinds are
 * crm_norm_kind; a name gives one entry per token (first and last name
 * apart), a birth date one of kind CRM_NORM_NAME_BIRTH over the date
 * alone, so that "name + birth date" is the guests both find.
 */
#ifndef CRM_PROJ_FIND_H
#define CRM_PROJ_FIND_H

#include "normalize.h"
#include "proj.h"

extern const crm_proj_def crm_proj_find;

/* The guests holding entry (kind, hmac), in id order, after the id after
 * (NULL: from the first): fn gets each id and returns nonzero to stop. 0
 * or an LMDB error code. */
int crm_find_lookup(MDB_txn *txn, MDB_dbi db, crm_norm_kind kind,
                    const uint8_t hmac[CRM_BLIND_LEN],
                    int (*fn)(void *arg, const char *id, size_t len),
                    void *arg);

/* Whether guest id holds entry (kind, hmac): 1, 0, or a negative LMDB
 * error code. */
int crm_find_has(MDB_txn *txn, MDB_dbi db, crm_norm_kind kind,
                 const uint8_t hmac[CRM_BLIND_LEN], const char *id,
                 size_t len);

#endif
