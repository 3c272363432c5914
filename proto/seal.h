/*
 * seal.h - authenticated encryption of personal data (AES-256-GCM).
 *
 * A sealed value is  v (1 byte, CRM_SEAL_V1) | nonce (12) | ciphertext |
 * tag (16): CRM_SEAL_OVERHEAD bytes more than the plaintext. Nonces are
 * random (a key seals at most a few million values, far below GCM's 2^32
 * limit for random nonces). The associated data binds a sealed value to
 * where it belongs, so a value moved elsewhere does not open.
 *
 * Uses for the one kind of key (CRM_KEY_LEN random bytes): the master
 * key wraps tenant keys, a tenant key wraps subject (guest) keys and the
 * tenant's index key, a subject key seals that guest's personal fields.
 */
#ifndef CRM_SEAL_H
#define CRM_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define CRM_KEY_LEN 32
#define CRM_SEAL_V1 1
#define CRM_SEAL_NONCE 12
#define CRM_SEAL_TAG 16
#define CRM_SEAL_OVERHEAD (1 + CRM_SEAL_NONCE + CRM_SEAL_TAG)
#define CRM_WRAPPED_LEN (CRM_KEY_LEN + CRM_SEAL_OVERHEAD) /* a sealed key */
/* associated data of a sealed event part, at most */
#define CRM_SEAL_AAD_MAX 160

/* Seals pt[0..len) under key into out (len + CRM_SEAL_OVERHEAD bytes).
 * 0, or -1 if OpenSSL failed (no randomness, no memory). */
int crm_seal(const uint8_t key[CRM_KEY_LEN], const void *aad, size_t aad_len,
             const void *pt, size_t len, uint8_t *out);

/* Opens in[0..len) (a sealed value) into out (len - CRM_SEAL_OVERHEAD
 * bytes). 0, or -1 if it does not open: wrong key, other associated data,
 * altered bytes, or not a sealed value at all. */
int crm_unseal(const uint8_t key[CRM_KEY_LEN], const void *aad, size_t aad_len,
               const uint8_t *in, size_t len, uint8_t *out);

/* Associated data for the personal part of an event: a label, then the
 * tenant, stream and event id, each length-prefixed. Returns its length
 * (at most CRM_SEAL_AAD_MAX; tenant <= 64, stream <= 64 bytes). */
size_t crm_seal_aad(uint8_t out[CRM_SEAL_AAD_MAX], char label,
                    const char *tenant, size_t tenant_len, const char *stream,
                    size_t stream_len, const uint8_t *id, size_t id_len);

/* Wipes len bytes that held key material (not optimised away). */
void crm_wipe(void *p, size_t len);

#endif
