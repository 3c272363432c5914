/* seal.c - AES-256-GCM through OpenSSL's EVP interface. */
#include "seal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

/* The cipher is fetched once (OpenSSL 3 looks an implicit one up in its
 * providers at every init, which cost more than the sealing itself), and
 * each thread keeps one context, freed when the thread ends. */
static EVP_CIPHER *aes_gcm;
static pthread_key_t ctx_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
free_ctx(void *c)
{
    EVP_CIPHER_CTX_free(c);
}

static void
init_once(void)
{
    aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (pthread_key_create(&ctx_key, free_ctx) != 0)
        aes_gcm = NULL;
}

static EVP_CIPHER_CTX *
thread_ctx(void)
{
    pthread_once(&once, init_once);
    if (aes_gcm == NULL)
        return NULL;
    EVP_CIPHER_CTX *c = pthread_getspecific(ctx_key);
    if (c == NULL) {
        if ((c = EVP_CIPHER_CTX_new()) == NULL ||
            pthread_setspecific(ctx_key, c) != 0) {
            EVP_CIPHER_CTX_free(c);
            return NULL;
        }
    }
    return c;
}

/* One GCM pass over data with the given direction; tag is written
 * (encrypt) or checked (decrypt). 0 or -1. */
static int
gcm(int enc, const uint8_t key[CRM_KEY_LEN], const uint8_t *nonce,
    const void *aad, size_t aad_len, const uint8_t *in, size_t len,
    uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *c = thread_ctx();
    int n, ok = c != NULL && EVP_CIPHER_CTX_reset(c) == 1 &&
                /* 12 bytes is GCM's default nonce length */
                EVP_CipherInit_ex(c, aes_gcm, NULL, key, nonce, enc) == 1 &&
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
    if (c)
        EVP_CIPHER_CTX_reset(c); /* no key schedule left behind */
    return ok ? 0 : -1;
}

/* Nonces come from a per-thread pool of random bytes, refilled from
 * OpenSSL's generator once every ~340 seals (a call per seal cost a
 * getpid and a lock each time). crmd never forks; a process that did
 * must not seal in both halves with the pool it had. */
static _Thread_local uint8_t pool[CRM_SEAL_NONCE * 340];
static _Thread_local size_t pool_at = sizeof(pool);

static int
nonce(uint8_t out[CRM_SEAL_NONCE])
{
    if (pool_at + CRM_SEAL_NONCE > sizeof(pool)) {
        if (RAND_bytes(pool, sizeof(pool)) != 1)
            return -1;
        pool_at = 0;
    }
    memcpy(out, pool + pool_at, CRM_SEAL_NONCE);
    crm_wipe(pool + pool_at, CRM_SEAL_NONCE); /* each is used once */
    pool_at += CRM_SEAL_NONCE;
    return 0;
}

int
crm_seal(const uint8_t key[CRM_KEY_LEN], const void *aad, size_t aad_len,
         const void *pt, size_t len, uint8_t *out)
{
    if (len > (size_t)INT32_MAX || aad_len > (size_t)INT32_MAX)
        return -1;
    out[0] = CRM_SEAL_V1;
    if (nonce(out + 1) != 0)
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
