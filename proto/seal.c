/* seal.c - AES-256-GCM through OpenSSL's EVP interface. */
#include "seal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

/* One GCM pass over data with the given direction; tag is written
 * (encrypt) or checked (decrypt). 0 or -1. */
static int
gcm(int enc, const uint8_t key[CRM_KEY_LEN], const uint8_t *nonce,
    const void *aad, size_t aad_len, const uint8_t *in, size_t len,
    uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n, ok = c != NULL &&
                EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL,
                                  enc) == 1 &&
                EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, CRM_SEAL_NONCE,
                                    NULL) == 1 &&
                EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1 &&
                (aad_len == 0 ||
                 EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) == 1);
    if (ok && len > 0)
        ok = EVP_CipherUpdate(c, out, &n, in, (int)len) == 1;
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CRM_SEAL_TAG, tag) == 1;
    if (ok)
        ok = EVP_CipherFinal_ex(c, out + len, &n) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CRM_SEAL_TAG, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int
crm_seal(const uint8_t key[CRM_KEY_LEN], const void *aad, size_t aad_len,
         const void *pt, size_t len, uint8_t *out)
{
    if (len > (size_t)INT32_MAX || aad_len > (size_t)INT32_MAX)
        return -1;
    out[0] = CRM_SEAL_V1;
    if (RAND_bytes(out + 1, CRM_SEAL_NONCE) != 1)
        return -1;
    uint8_t *ct = out + 1 + CRM_SEAL_NONCE;
    return gcm(1, key, out + 1, aad, aad_len, pt, len, ct, ct + len);
}

int
crm_unseal(const uint8_t key[CRM_KEY_LEN], const void *aad, size_t aad_len,
           const uint8_t *in, size_t len, uint8_t *out)
{
    if (len < CRM_SEAL_OVERHEAD || in[0] != CRM_SEAL_V1 ||
        len > (size_t)INT32_MAX || aad_len > (size_t)INT32_MAX)
        return -1;
    size_t n = len - CRM_SEAL_OVERHEAD;
    const uint8_t *ct = in + 1 + CRM_SEAL_NONCE;
    uint8_t tag[CRM_SEAL_TAG];
    memcpy(tag, ct + n, CRM_SEAL_TAG);
    int rc = gcm(0, key, in + 1, aad, aad_len, ct, n, out, tag);
    if (rc != 0)
        crm_wipe(out, n); /* nothing of a value that did not open */
    return rc;
}

size_t
crm_seal_aad(uint8_t out[CRM_SEAL_AAD_MAX], char label, const char *tenant,
             size_t tenant_len, const char *stream, size_t stream_len,
             const uint8_t *id, size_t id_len)
{
    size_t at = 0;
    memcpy(out, "crmd", 4);
    at = 4;
    out[at++] = (uint8_t)label;
    const struct {
        const void *p;
        size_t n;
    } part[3] = {{tenant, tenant_len > 64 ? 64 : tenant_len},
                 {stream, stream_len > 64 ? 64 : stream_len},
                 {id, id_len > 16 ? 16 : id_len}};
    for (int i = 0; i < 3; i++) {
        out[at++] = (uint8_t)part[i].n;
        if (part[i].n)
            memcpy(out + at, part[i].p, part[i].n);
        at += part[i].n;
    }
    return at;
}

void
crm_wipe(void *p, size_t len)
{
    OPENSSL_cleanse(p, len);
}
