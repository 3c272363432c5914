/*
 * xkeys.h - the guests' keys an export file may carry (PROTOCOL.md,
 * audit.keys): each subject key sealed (seal.h) under a transport
 * key derived from a passphrase with scrypt, so that crmd --import on
 * another data directory opens the personal fields the source sealed.
 *
 * The passphrase never reaches crmd: crmctl derives the transport key
 * and hands it to audit.keys, which seals every live subject key
 * under it (an erased guest has none to hand). The associated data binds
 * each sealed key to its tenant and guest, and a check value sealed
 * under the transport key tells a wrong passphrase before any key is
 * tried.
 */
#ifndef CRM_XKEYS_H
#define CRM_XKEYS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "seal.h"

#define CRM_XKEYS_FORMAT "crmd-export-keys"
#define CRM_XKEYS_VERSION 1
#define CRM_XKEYS_SALT 16
#define CRM_XKEYS_PASS_MIN 12   /* bytes of passphrase, at least */
#define CRM_XKEYS_PASS_MAX 1024 /* and at most */
/* What an import accepts of the file's scrypt parameters: a file does
 * not make crmd spend more than 1 GiB or a few seconds on its key. */
#define CRM_XKEYS_MEM_MAX (1ull << 30)

typedef struct crm_xkdf {
    uint8_t salt[CRM_XKEYS_SALT];
    uint64_t n; /* scrypt N, a power of two */
    uint32_t r, p;
} crm_xkdf;

/* New parameters: a random salt, N 2^16, r 8, p 1 (64 MiB, about a
 * fifth of a second here). CRM_ERR_INTERNAL without randomness. */
crm_err crm_xkdf_new(crm_xkdf *k, crm_error *why);

/* The transport key of pass[0..len) under k. Refuses parameters past
 * CRM_XKEYS_MEM_MAX or not scrypt's (bad_request). */
crm_err crm_xkeys_derive(const char *pass, size_t len, const crm_xkdf *k,
                         uint8_t key[CRM_KEY_LEN], crm_error *why);

/* Reads a passphrase file: mode 0600 or stricter (like the master key),
 * CRM_XKEYS_PASS_MIN..MAX bytes once a final newline is cut. */
crm_err crm_xkeys_passphrase_load(const char *path, char *buf, size_t cap,
                                  size_t *len, crm_error *why);

/* The check value of a transport key for tenant: CRM_WRAPPED_LEN bytes.
 * 0 or -1; crm_xkeys_check says whether in is that value of key. */
int crm_xkeys_check_make(const uint8_t key[CRM_KEY_LEN], const char *tenant,
                         size_t tenant_len, uint8_t out[CRM_WRAPPED_LEN]);
int crm_xkeys_check(const uint8_t key[CRM_KEY_LEN], const char *tenant,
                    size_t tenant_len, const uint8_t *in, size_t len);

/* Seals or opens the subject key of guest stream of tenant under the
 * transport key (CRM_WRAPPED_LEN bytes). 0 or -1. */
int crm_xkeys_wrap(const uint8_t key[CRM_KEY_LEN], const char *tenant,
                   size_t tenant_len, const char *stream, size_t stream_len,
                   const uint8_t subject[CRM_KEY_LEN],
                   uint8_t out[CRM_WRAPPED_LEN]);
int crm_xkeys_unwrap(const uint8_t key[CRM_KEY_LEN], const char *tenant,
                     size_t tenant_len, const char *stream, size_t stream_len,
                     const uint8_t *in, size_t len,
                     uint8_t subject[CRM_KEY_LEN]);

/* The keys section of an export file, after its trailer: a header map
 * {format: CRM_XKEYS_FORMAT, version, tenant, kdf: "scrypt", salt, n, r,
 * p, check}, one [stream, sealed key] array per guest, and an end map
 * {count}; nothing follows. crm_xkeys_section_read checks all of that at
 * b[off..len) (every entry's shape; no key is opened) and fills s;
 * CRM_ERR_CORRUPT saying what is wrong. */
typedef struct crm_xkeys_section {
    crm_xkdf kdf;
    char tenant[65];
    const uint8_t *check; /* CRM_WRAPPED_LEN bytes */
    uint64_t count;
    const uint8_t *first, *end; /* the entries */
} crm_xkeys_section;
crm_err crm_xkeys_section_read(const uint8_t *b, size_t len, size_t off,
                               crm_xkeys_section *s, crm_error *why);
/* The entry at *at (from s->first) and moves *at past it: 1, or 0 at
 * s->end. sealed is CRM_WRAPPED_LEN bytes. */
int crm_xkeys_section_next(const crm_xkeys_section *s, const uint8_t **at,
                           const char **stream, size_t *len,
                           const uint8_t **sealed);

#endif
