/* sign_test.c - signed checkpoints (sign.h): a signature verifies under
 * its key and under no other, and changing any part of what it covers
 * (tenant, position, head, time, a bit of the signature) breaks it; the
 * public key goes to PEM and back, and what is not an Ed25519 key in PEM
 * is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "sign.h"

static crm_checkpoint
signed_one(const uint8_t seed[CRM_SIGN_SEED_LEN])
{
    crm_checkpoint c = {.position = 4242, .time = 1796653670510362};
    for (int i = 0; i < CRM_HASH_LEN; i++)
        c.head[i] = (uint8_t)(i * 7 + 1);
    assert_int_equal(crm_checkpoint_sign(seed, "acme", &c), 0);
    return c;
}

static void
test_verifies_under_its_key_only(void **state)
{
    (void)state;
    uint8_t seed[CRM_SIGN_SEED_LEN], pub[CRM_SIGN_PUB_LEN], pub2[CRM_SIGN_PUB_LEN];
    uint8_t seed2[CRM_SIGN_SEED_LEN], again[CRM_SIGN_PUB_LEN];
    assert_int_equal(crm_sign_keygen(seed, pub), 0);
    assert_int_equal(crm_sign_keygen(seed2, pub2), 0);
    assert_int_equal(crm_sign_public(seed, again), 0);
    assert_memory_equal(pub, again, CRM_SIGN_PUB_LEN);
    crm_checkpoint c = signed_one(seed);
    assert_true(crm_checkpoint_verify(pub, "acme", &c));
    assert_false(crm_checkpoint_verify(pub2, "acme", &c));
    /* Ed25519 is deterministic: the same message, the same signature */
    crm_checkpoint d = signed_one(seed);
    assert_memory_equal(c.sig, d.sig, CRM_SIGN_LEN);
}

static void
test_any_change_breaks_it(void **state)
{
    (void)state;
    uint8_t seed[CRM_SIGN_SEED_LEN], pub[CRM_SIGN_PUB_LEN];
    assert_int_equal(crm_sign_keygen(seed, pub), 0);
    crm_checkpoint c = signed_one(seed), x;
    assert_false(crm_checkpoint_verify(pub, "acme2", &c));
    assert_false(crm_checkpoint_verify(pub, "acm", &c));
    x = c;
    x.position++;
    assert_false(crm_checkpoint_verify(pub, "acme", &x));
    x = c;
    x.time--;
    assert_false(crm_checkpoint_verify(pub, "acme", &x));
    for (int i = 0; i < CRM_HASH_LEN; i += 5) {
        x = c;
        x.head[i] ^= 0x10;
        assert_false(crm_checkpoint_verify(pub, "acme", &x));
    }
    for (int i = 0; i < CRM_SIGN_LEN; i += 7) {
        x = c;
        x.sig[i] ^= 1;
        assert_false(crm_checkpoint_verify(pub, "acme", &x));
    }
}

static void
test_pem_round_trip(void **state)
{
    (void)state;
    uint8_t seed[CRM_SIGN_SEED_LEN], pub[CRM_SIGN_PUB_LEN], back[CRM_SIGN_PUB_LEN];
    char pem[512];
    assert_int_equal(crm_sign_keygen(seed, pub), 0);
    int n = crm_sign_pub_pem(pub, pem, sizeof(pem));
    assert_true(n > 0);
    assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
    assert_int_equal(crm_sign_pub_parse(pem, (size_t)n, back), 0);
    assert_memory_equal(pub, back, CRM_SIGN_PUB_LEN);
    /* too small a buffer, garbage, a cut key: refused */
    assert_int_equal(crm_sign_pub_pem(pub, pem, 20), -1);
    assert_int_equal(crm_sign_pub_parse("hello", 5, back), -1);
    assert_int_equal(crm_sign_pub_parse(pem, (size_t)n / 2, back), -1);
    /* an RSA or EC key is not the tenant's kind */
    static const char ec[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\n"
        "q9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n"
        "-----END PUBLIC KEY-----\n";
    assert_int_equal(crm_sign_pub_parse(ec, sizeof(ec) - 1, back), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verifies_under_its_key_only),
        cmocka_unit_test(test_any_change_breaks_it),
        cmocka_unit_test(test_pem_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
