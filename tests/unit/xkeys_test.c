/* xkeys_test.c - the guests' keys of an export file (xkeys.h): the same
 * passphrase and parameters give the same transport key, another
 * passphrase or salt another one; the check value tells the right key
 * from a wrong one and from another tenant; a sealed subject key opens
 * only for its tenant and guest; scrypt parameters past the limit are
 * refused before any memory is taken; a keys section is read back and
 * every malformed or cut one is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "rpc.h"
#include "xkeys.h"

static const char pass[] = "correct horse battery staple";

static crm_xkdf
cheap_kdf(void)
{
    crm_xkdf k;
    crm_error why;
    assert_int_equal(crm_xkdf_new(&k, &why), CRM_OK);
    assert_int_equal(k.n, 1u << 16);
    k.n = 1u << 10; /* a test needs no strength */
    return k;
}

static void
test_derive(void **state)
{
    (void)state;
    crm_xkdf k = cheap_kdf(), other = cheap_kdf();
    uint8_t a[CRM_KEY_LEN], b[CRM_KEY_LEN], c[CRM_KEY_LEN];
    crm_error why;
    assert_int_equal(crm_xkeys_derive(pass, strlen(pass), &k, a, &why), CRM_OK);
    assert_int_equal(crm_xkeys_derive(pass, strlen(pass), &k, b, &why), CRM_OK);
    assert_memory_equal(a, b, CRM_KEY_LEN);
    assert_int_equal(crm_xkeys_derive(pass, strlen(pass) - 1, &k, c, &why),
                     CRM_OK);
    assert_memory_not_equal(a, c, CRM_KEY_LEN);
    assert_int_equal(crm_xkeys_derive(pass, strlen(pass), &other, c, &why),
                     CRM_OK);
    assert_memory_not_equal(a, c, CRM_KEY_LEN);
    /* what a file may not make an import spend */
    crm_xkdf bad = k;
    bad.n = 1ull << 21;
    assert_int_equal(crm_xkeys_derive(pass, strlen(pass), &bad, c, &why),
                     CRM_ERR_BAD_REQUEST);
    bad.n = 1000; /* not a power of two */
    assert_int_equal(crm_xkeys_derive(pass, strlen(pass), &bad, c, &why),
                     CRM_ERR_BAD_REQUEST);
    bad = k;
    bad.r = 0;
    assert_int_equal(crm_xkeys_derive(pass, strlen(pass), &bad, c, &why),
                     CRM_ERR_BAD_REQUEST);
}

static void
test_check_and_wrap(void **state)
{
    (void)state;
    uint8_t key[CRM_KEY_LEN], wrong[CRM_KEY_LEN], subject[CRM_KEY_LEN],
        back[CRM_KEY_LEN], check[CRM_WRAPPED_LEN], w[CRM_WRAPPED_LEN];
    for (int i = 0; i < CRM_KEY_LEN; i++) {
        key[i] = (uint8_t)i;
        wrong[i] = (uint8_t)(i + 1);
        subject[i] = (uint8_t)(200 - i);
    }
    assert_int_equal(crm_xkeys_check_make(key, "acme", 4, check), 0);
    assert_true(crm_xkeys_check(key, "acme", 4, check, sizeof(check)));
    assert_false(crm_xkeys_check(wrong, "acme", 4, check, sizeof(check)));
    assert_false(crm_xkeys_check(key, "acne", 4, check, sizeof(check)));
    assert_false(crm_xkeys_check(key, "acme", 4, check, sizeof(check) - 1));
    assert_int_equal(crm_xkeys_wrap(key, "acme", 4, "g-1", 3, subject, w), 0);
    assert_int_equal(
        crm_xkeys_unwrap(key, "acme", 4, "g-1", 3, w, sizeof(w), back), 0);
    assert_memory_equal(back, subject, CRM_KEY_LEN);
    /* another guest, tenant or key: it does not open */
    assert_int_equal(
        crm_xkeys_unwrap(key, "acme", 4, "g-2", 3, w, sizeof(w), back), -1);
    assert_int_equal(
        crm_xkeys_unwrap(key, "acm", 3, "g-1", 3, w, sizeof(w), back), -1);
    assert_int_equal(
        crm_xkeys_unwrap(wrong, "acme", 4, "g-1", 3, w, sizeof(w), back), -1);
    w[20] ^= 1;
    assert_int_equal(
        crm_xkeys_unwrap(key, "acme", 4, "g-1", 3, w, sizeof(w), back), -1);
}

/* A keys section of n guests into sb, as crmctl writes one. */
static void
section(msgpack_sbuffer *sb, int n, uint64_t count)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    uint8_t salt[CRM_XKEYS_SALT] = {1}, check[CRM_WRAPPED_LEN] = {2},
            w[CRM_WRAPPED_LEN] = {3};
    msgpack_pack_map(&pk, 9);
    crm_mp_pack_cstr(&pk, "format");
    crm_mp_pack_cstr(&pk, CRM_XKEYS_FORMAT);
    crm_mp_pack_cstr(&pk, "version");
    msgpack_pack_uint64(&pk, CRM_XKEYS_VERSION);
    crm_mp_pack_cstr(&pk, "tenant");
    crm_mp_pack_cstr(&pk, "acme");
    crm_mp_pack_cstr(&pk, "kdf");
    crm_mp_pack_cstr(&pk, "scrypt");
    crm_mp_pack_cstr(&pk, "salt");
    msgpack_pack_bin(&pk, sizeof(salt));
    msgpack_pack_bin_body(&pk, salt, sizeof(salt));
    crm_mp_pack_cstr(&pk, "n");
    msgpack_pack_uint64(&pk, 1024);
    crm_mp_pack_cstr(&pk, "r");
    msgpack_pack_uint64(&pk, 8);
    crm_mp_pack_cstr(&pk, "p");
    msgpack_pack_uint64(&pk, 1);
    crm_mp_pack_cstr(&pk, "check");
    msgpack_pack_bin(&pk, sizeof(check));
    msgpack_pack_bin_body(&pk, check, sizeof(check));
    for (int i = 0; i < n; i++) {
        /* one stream id long enough for str8 */
        char id[48];
        int len = i == 1 ? 40 : 3;
        memset(id, 'a' + i, sizeof(id));
        msgpack_pack_array(&pk, 2);
        msgpack_pack_str(&pk, (size_t)len);
        msgpack_pack_str_body(&pk, id, (size_t)len);
        msgpack_pack_bin(&pk, sizeof(w));
        msgpack_pack_bin_body(&pk, w, sizeof(w));
    }
    msgpack_pack_map(&pk, 1);
    crm_mp_pack_cstr(&pk, "count");
    msgpack_pack_uint64(&pk, count);
}

static void
test_section(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    section(&sb, 3, 3);
    const uint8_t *b = (const uint8_t *)sb.data;
    crm_xkeys_section s;
    crm_error why;
    assert_int_equal(crm_xkeys_section_read(b, sb.size, 0, &s, &why), CRM_OK);
    assert_string_equal(s.tenant, "acme");
    assert_int_equal(s.count, 3);
    assert_int_equal(s.kdf.n, 1024);
    const uint8_t *at = s.first, *sealed;
    const char *st;
    size_t len;
    size_t lens[3];
    int n = 0;
    while (crm_xkeys_section_next(&s, &at, &st, &len, &sealed))
        lens[n++] = len;
    assert_int_equal(n, 3);
    assert_int_equal(lens[0], 3);
    assert_int_equal(lens[1], 40);
    /* every cut of it is refused, and so is a byte more */
    for (size_t cut = 0; cut < sb.size; cut++)
        assert_int_equal(crm_xkeys_section_read(b, cut, 0, &s, &why),
                         CRM_ERR_CORRUPT);
    msgpack_sbuffer_write(&sb, "\xc0", 1);
    assert_int_equal(crm_xkeys_section_read((const uint8_t *)sb.data, sb.size,
                                            0, &s, &why),
                     CRM_ERR_CORRUPT);
    /* an end that counts otherwise */
    msgpack_sbuffer_clear(&sb);
    section(&sb, 3, 2);
    assert_int_equal(crm_xkeys_section_read((const uint8_t *)sb.data, sb.size,
                                            0, &s, &why),
                     CRM_ERR_CORRUPT);
    assert_non_null(strstr(why.msg, "holds 3 keys"));
    msgpack_sbuffer_destroy(&sb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derive),
        cmocka_unit_test(test_check_and_wrap),
        cmocka_unit_test(test_section),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
