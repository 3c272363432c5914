/* hash.c - SHA-256 through OpenSSL's SHA256_Init/Update/Final on a context
 * on the stack. OpenSSL 3.0 marks these deprecated in favour of EVP, but
 * its EVP_DigestFinal_ex frees the provider's digest context and the next
 * EVP_DigestInit_ex allocates one again: on a 400-byte record that costs
 * about 65 ns of the 340 a hash takes through EVP, twice per event for
 * the writer and the verifier. The functions below are the same code
 * OpenSSL's default provider runs (SHA-NI where the CPU has it). */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "hash.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <unistd.h>

void
crm_sha256_2(const void *a, size_t alen, const void *b, size_t blen,
             uint8_t out[CRM_HASH_LEN])
{
    SHA256_CTX c;
    if (!SHA256_Init(&c) || !SHA256_Update(&c, a, alen) ||
        (b != NULL && !SHA256_Update(&c, b, blen)) || !SHA256_Final(out, &c))
        abort(); /* cannot fail for SHA-256 in memory */
}

int
crm_sha256_fd(int fd, uint8_t out[CRM_HASH_LEN], uint64_t *bytes)
{
    SHA256_CTX c;
    static __thread uint8_t buf[1 << 16];
    uint64_t total = 0;
    ssize_t n;
    SHA256_Init(&c);
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        SHA256_Update(&c, buf, (size_t)n);
        total += (uint64_t)n;
    }
    SHA256_Final(out, &c);
    if (bytes)
        *bytes = total;
    return 0;
}

int
crm_mem_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}
