/* hash.h - SHA-256 for the hash chain and idempotency digests. */
#ifndef CRM_HASH_H
#define CRM_HASH_H

#include <stddef.h>
#include <stdint.h>

#define CRM_HASH_LEN 32

/* One-shot SHA-256 of a then b (b may be NULL). Thread-safe. */
void crm_sha256_2(const void *a, size_t alen, const void *b, size_t blen,
                  uint8_t out[CRM_HASH_LEN]);

/* SHA-256 of what is left to read from fd, into out; *bytes (may be
 * NULL) how many bytes that was. 0, or an errno. */
int crm_sha256_fd(int fd, uint8_t out[CRM_HASH_LEN], uint64_t *bytes);

/* Constant-time comparison of len bytes; 1 if equal. */
int crm_mem_equal(const void *a, const void *b, size_t len);

#endif
