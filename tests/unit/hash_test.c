/* hash_test.c - SHA-256 against FIPS 180-2 vectors and the constant-time
 * comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hash.h"

static void
hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void
check(const char *a, size_t alen, const char *b, size_t blen, const char *want)
{
    uint8_t md[CRM_HASH_LEN];
    char got[2 * CRM_HASH_LEN + 1];
    crm_sha256_2(a, alen, b, blen, md);
    hex(md, sizeof(md), got);
    assert_string_equal(got, want);
}

#define ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define LONG "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define LONGMSG "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"

static void
test_vectors(void **state)
{
    (void)state;
    check("abc", 3, NULL, 0, ABC);
    check("", 0, NULL, 0, EMPTY);
    check("", 0, "", 0, EMPTY);
    check(LONGMSG, strlen(LONGMSG), NULL, 0, LONG);
}

static void
test_two_part(void **state)
{
    (void)state;
    check("a", 1, "bc", 2, ABC);
    check("ab", 2, "c", 1, ABC);
    check("abc", 3, "", 0, ABC);
    check("", 0, "abc", 3, ABC);
    /* every split of the long message gives the same digest */
    size_t n = strlen(LONGMSG);
    for (size_t i = 0; i <= n; i++)
        check(LONGMSG, i, &LONGMSG[i], n - i, LONG);
    /* b NULL ignores blen */
    check("abc", 3, NULL, 12345, ABC);
}

static void
test_million_a(void **state)
{
    (void)state;
    static char a[1000000];
    memset(a, 'a', sizeof(a));
    check(a, sizeof(a), NULL, 0,
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void
test_mem_equal(void **state)
{
    (void)state;
    uint8_t a[CRM_HASH_LEN], b[CRM_HASH_LEN];
    crm_sha256_2("abc", 3, NULL, 0, a);
    memcpy(b, a, sizeof(a));
    assert_int_equal(crm_mem_equal(a, b, sizeof(a)), 1);
    assert_int_equal(crm_mem_equal(a, b, 0), 1);
    for (size_t i = 0; i < sizeof(a); i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1u << bit);
            assert_int_equal(crm_mem_equal(a, b, sizeof(a)), 0);
            /* only the first i bytes compared: still equal */
            assert_int_equal(crm_mem_equal(a, b, i), 1);
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(crm_mem_equal("abc", "abd", 3), 0);
    assert_int_equal(crm_mem_equal("abc", "abd", 2), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_two_part),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_mem_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
