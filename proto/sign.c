/*
 * sign.c - Ed25519 signatures of checkpoints with OpenSSL's EVP (one-shot
 * PureEdDSA: no digest is named, the message goes whole).
 */
#include "sign.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <string.h>

#include "schema.h"

static const char MSG_LABEL[] = "crmd checkpoint 1";

static void
put_be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

int
crm_sign_public(const uint8_t seed[CRM_SIGN_SEED_LEN],
                uint8_t pub[CRM_SIGN_PUB_LEN])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
                                               CRM_SIGN_SEED_LEN);
    size_t n = CRM_SIGN_PUB_LEN;
    int ok = k && EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 &&
             n == CRM_SIGN_PUB_LEN;
    EVP_PKEY_free(k);
    return ok ? 0 : -1;
}

int
crm_sign_keygen(uint8_t seed[CRM_SIGN_SEED_LEN], uint8_t pub[CRM_SIGN_PUB_LEN])
{
    if (RAND_bytes(seed, CRM_SIGN_SEED_LEN) != 1)
        return -1;
    return crm_sign_public(seed, pub);
}

/* The message of c for tenant (sign.h); its length. */
static size_t
message(const char *tenant, const crm_checkpoint *c,
        uint8_t out[CRM_SIGN_MSG_MAX])
{
    size_t tl = strnlen(tenant, CRM_TENANT_MAX), n = sizeof(MSG_LABEL);
    memcpy(out, MSG_LABEL, n); /* with its NUL */
    memcpy(out + n, tenant, tl);
    n += tl;
    out[n++] = 0;
    put_be(out + n, c->position);
    n += 8;
    memcpy(out + n, c->head, CRM_HASH_LEN);
    n += CRM_HASH_LEN;
    put_be(out + n, (uint64_t)c->time);
    return n + 8;
}

/* sig is seed's Ed25519 signature of m[0..ml). */
static int
sign_bytes(const uint8_t seed[CRM_SIGN_SEED_LEN], const uint8_t *m, size_t ml,
           uint8_t sig[CRM_SIGN_LEN])
{
    size_t sl = CRM_SIGN_LEN;
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
                                               CRM_SIGN_SEED_LEN);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = k && ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestSign(ctx, sig, &sl, m, ml) == 1 && sl == CRM_SIGN_LEN;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok ? 0 : -1;
}

/* Whether sig is pub's signature of m[0..ml). */
static int
verify_bytes(const uint8_t pub[CRM_SIGN_PUB_LEN], const uint8_t *m, size_t ml,
             const uint8_t sig[CRM_SIGN_LEN])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
                                              CRM_SIGN_PUB_LEN);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = k && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestVerify(ctx, sig, CRM_SIGN_LEN, m, ml) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok;
}

int
crm_checkpoint_sign(const uint8_t seed[CRM_SIGN_SEED_LEN], const char *tenant,
                    crm_checkpoint *c)
{
    uint8_t m[CRM_SIGN_MSG_MAX];
    return sign_bytes(seed, m, message(tenant, c, m), c->sig);
}

int
crm_checkpoint_verify(const uint8_t pub[CRM_SIGN_PUB_LEN], const char *tenant,
                      const crm_checkpoint *c)
{
    uint8_t m[CRM_SIGN_MSG_MAX];
    return verify_bytes(pub, m, message(tenant, c, m), c->sig);
}

static const char MANIFEST_LABEL[] = "crmd backup manifest 1";

/* The message of a manifest's digest for tenant (sign.h); its length. */
static size_t
manifest_message(const char *tenant, const uint8_t digest[CRM_HASH_LEN],
                 uint8_t out[sizeof(MANIFEST_LABEL) + CRM_TENANT_MAX + 1 +
                             CRM_HASH_LEN])
{
    size_t tl = strnlen(tenant, CRM_TENANT_MAX), n = sizeof(MANIFEST_LABEL);
    memcpy(out, MANIFEST_LABEL, n); /* with its NUL */
    memcpy(out + n, tenant, tl);
    n += tl;
    out[n++] = 0;
    memcpy(out + n, digest, CRM_HASH_LEN);
    return n + CRM_HASH_LEN;
}

int
crm_manifest_sign(const uint8_t seed[CRM_SIGN_SEED_LEN], const char *tenant,
                  const uint8_t digest[CRM_HASH_LEN], uint8_t sig[CRM_SIGN_LEN])
{
    uint8_t m[sizeof(MANIFEST_LABEL) + CRM_TENANT_MAX + 1 + CRM_HASH_LEN];
    return sign_bytes(seed, m, manifest_message(tenant, digest, m), sig);
}

int
crm_manifest_verify(const uint8_t pub[CRM_SIGN_PUB_LEN], const char *tenant,
                    const uint8_t digest[CRM_HASH_LEN],
                    const uint8_t sig[CRM_SIGN_LEN])
{
    uint8_t m[sizeof(MANIFEST_LABEL) + CRM_TENANT_MAX + 1 + CRM_HASH_LEN];
    return verify_bytes(pub, m, manifest_message(tenant, digest, m), sig);
}

int
crm_sign_pub_pem(const uint8_t pub[CRM_SIGN_PUB_LEN], char *out, size_t cap)
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
                                              CRM_SIGN_PUB_LEN);
    BIO *b = BIO_new(BIO_s_mem());
    int n = -1;
    if (k && b && PEM_write_bio_PUBKEY(b, k) == 1) {
        char *p;
        long len = BIO_get_mem_data(b, &p);
        if (len > 0 && (size_t)len < cap) {
            memcpy(out, p, (size_t)len);
            out[len] = '\0';
            n = (int)len;
        }
    }
    BIO_free(b);
    EVP_PKEY_free(k);
    return n;
}

int
crm_sign_pub_parse(const char *pem, size_t len, uint8_t pub[CRM_SIGN_PUB_LEN])
{
    if (len > INT32_MAX)
        return -1;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    size_t n = CRM_SIGN_PUB_LEN;
    int ok = k && EVP_PKEY_get_id(k) == EVP_PKEY_ED25519 &&
             EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 &&
             n == CRM_SIGN_PUB_LEN;
    EVP_PKEY_free(k);
    BIO_free(b);
    return ok ? 0 : -1;
}
