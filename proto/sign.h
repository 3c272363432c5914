/*
 * sign.h - signed checkpoints: a tenant's Ed25519 signature over
 * {tenant, position, head hash, time}, which crmd makes and anyone with the
 * tenant's public key checks (crm-audit, audit.verify).
 *
 * The message signed is the bytes of
 *
 *     "crmd checkpoint 1" 0x00 | tenant | 0x00 | position u64 BE
 *     | head hash (32) | time i64 BE (µs, UTC)
 *
 * so a signature names one tenant, one position and the chain up to it.
 * Keys are the 32-byte Ed25519 seed (private) and public key (RFC 8032).
 * Functions return 0 or -1.
 */
#ifndef CRM_SIGN_H
#define CRM_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define CRM_SIGN_SEED_LEN 32
#define CRM_SIGN_PUB_LEN 32
#define CRM_SIGN_LEN 64
#define CRM_SIGN_MSG_MAX (18 + 64 + 1 + 8 + CRM_HASH_LEN + 8) /* tenant <= 64 */

typedef struct crm_checkpoint {
    uint64_t position;
    uint8_t head[CRM_HASH_LEN];
    int64_t time; /* µs */
    uint8_t sig[CRM_SIGN_LEN];
} crm_checkpoint;

/* A new key: seed from the system's random source, and its public key. */
int crm_sign_keygen(uint8_t seed[CRM_SIGN_SEED_LEN],
                    uint8_t pub[CRM_SIGN_PUB_LEN]);
/* The public key of seed. */
int crm_sign_public(const uint8_t seed[CRM_SIGN_SEED_LEN],
                    uint8_t pub[CRM_SIGN_PUB_LEN]);

/* Signs c's position, head and time for tenant into c->sig; verify says
 * whether c->sig is the signature of pub over them (1) or not (0). */
int crm_checkpoint_sign(const uint8_t seed[CRM_SIGN_SEED_LEN],
                        const char *tenant, crm_checkpoint *c);
int crm_checkpoint_verify(const uint8_t pub[CRM_SIGN_PUB_LEN],
                          const char *tenant, const crm_checkpoint *c);

/* A backup manifest's signature by one tenant (server/store.c): over
 *
 *     "crmd backup manifest 1" 0x00 | tenant | 0x00 | SHA-256 of the
 *     manifest's text before its signature lines (32)
 *
 * so that no line of it can be changed, added or removed. */
int crm_manifest_sign(const uint8_t seed[CRM_SIGN_SEED_LEN],
                      const char *tenant, const uint8_t digest[CRM_HASH_LEN],
                      uint8_t sig[CRM_SIGN_LEN]);
int crm_manifest_verify(const uint8_t pub[CRM_SIGN_PUB_LEN],
                        const char *tenant,
                        const uint8_t digest[CRM_HASH_LEN],
                        const uint8_t sig[CRM_SIGN_LEN]);

/* pub as a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) into out (cap bytes,
 * NUL-terminated); its length, or -1. parse reads one back (a file's
 * text, len bytes). */
int crm_sign_pub_pem(const uint8_t pub[CRM_SIGN_PUB_LEN], char *out,
                     size_t cap);
int crm_sign_pub_parse(const char *pem, size_t len,
                       uint8_t pub[CRM_SIGN_PUB_LEN]);

#endif
