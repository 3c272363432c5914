/* vault_test.c - sealing (seal.h) and a tenant's keys (vault.h) on real
 * files and a real LMDB environment: round trips, every way a sealed value
 * must not open, master key files, tenant key slots, subject keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fixture.h"
#include "vault.h"

static void
test_seal_round_trip_and_refusals(void **state)
{
    (void)state;
    uint8_t k[CRM_KEY_LEN], k2[CRM_KEY_LEN];
    memset(k, 7, sizeof(k));
    memset(k2, 8, sizeof(k2));
    const char pt[] = "Zephyrine Quillfeather";
    uint8_t aad[CRM_SEAL_AAD_MAX], sealed[64], sealed2[64], out[64];
    size_t al = crm_seal_aad(aad, 'P', "acme", 4, "guest-1", 7,
                             (const uint8_t *)"0123456789abcdef", 16);
    size_t n = sizeof(pt) - 1, sl = n + CRM_SEAL_OVERHEAD;
    assert_int_equal(crm_seal(k, aad, al, pt, n, sealed), 0);
    assert_null(memmem(sealed, sl, "Zephyrine", 9));
    assert_int_equal(crm_unseal(k, aad, al, sealed, sl, out), 0);
    assert_memory_equal(out, pt, n);
    /* the same value sealed twice differs (fresh nonces) */
    assert_int_equal(crm_seal(k, aad, al, pt, n, sealed2), 0);
    assert_memory_not_equal(sealed, sealed2, sl);
    /* wrong key, other associated data, any flipped byte, truncated */
    assert_int_equal(crm_unseal(k2, aad, al, sealed, sl, out), -1);
    uint8_t aad2[CRM_SEAL_AAD_MAX];
    size_t al2 = crm_seal_aad(aad2, 'P', "acme", 4, "guest-2", 7,
                              (const uint8_t *)"0123456789abcdef", 16);
    assert_int_equal(crm_unseal(k, aad2, al2, sealed, sl, out), -1);
    for (size_t i = 0; i < sl; i++) {
        sealed[i] ^= 0x01;
        assert_int_equal(crm_unseal(k, aad, al, sealed, sl, out), -1);
        sealed[i] ^= 0x01;
    }
    assert_int_equal(crm_unseal(k, aad, al, sealed, sl - 1, out), -1);
    assert_int_equal(crm_unseal(k, aad, al, sealed, 5, out), -1);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void
test_master_key_files(void **state)
{
    (void)state;
    char dir[512], p[700];
    crm_error why;
    uint8_t k[CRM_KEY_LEN];
    fx_tmpdir(dir, sizeof(dir), "vault");
    snprintf(p, sizeof(p), "%s/m.key", dir);
    assert_int_equal(crm_master_key_make(p, &why), CRM_OK);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(crm_master_key_load(p, k, &why), CRM_OK);
    /* never over an existing file */
    assert_int_not_equal(crm_master_key_make(p, &why), CRM_OK);
    assert_int_equal(chmod(p, 0644), 0);
    assert_int_equal(crm_master_key_load(p, k, &why), CRM_ERR_FORBIDDEN);
    assert_non_null(strstr(why.msg, "chmod 600"));
    write_file(p, "abcd\n", 0600);
    assert_int_equal(crm_master_key_load(p, k, &why), CRM_ERR_BAD_REQUEST);
    write_file(p, "zz3456789012345678901234567890123456789012345678901234567890123\n",
               0600);
    assert_int_equal(crm_master_key_load(p, k, &why), CRM_ERR_BAD_REQUEST);
    assert_int_equal(crm_master_key_load(dir, k, &why), CRM_ERR_FORBIDDEN);
    snprintf(p, sizeof(p), "%s/none.key", dir);
    assert_int_equal(crm_master_key_load(p, k, &why), CRM_ERR_IO);
    fx_rmrf(dir);
}

static void
test_tenant_and_subject_keys(void **state)
{
    (void)state;
    char dir[512];
    crm_error why;
    uint8_t m[CRM_KEY_LEN], m2[CRM_KEY_LEN];
    memset(m, 1, sizeof(m));
    memset(m2, 2, sizeof(m2));
    fx_tmpdir(dir, sizeof(dir), "vault");
    crm_vault *v = NULL, *w = NULL;
    /* none yet and not to be made */
    assert_int_equal(crm_vault_open(dir, "acme", m, 0, 0, &v, &why),
                     CRM_ERR_CORRUPT);
    assert_int_equal(crm_vault_open(dir, "acme", m, 0, 1, &v, &why), CRM_OK);
    assert_int_equal(crm_vault_epoch(v), 1);
    /* the wrong master key, and the key file of another tenant */
    assert_int_equal(crm_vault_open(dir, "acme", m2, 1, 0, &w, &why),
                     CRM_ERR_FORBIDDEN);
    assert_non_null(strstr(why.msg, "wrong master key"));
    assert_int_equal(crm_vault_open(dir, "other", m, 1, 0, &w, &why),
                     CRM_ERR_FORBIDDEN);
    assert_int_equal(crm_vault_open(dir, "acme", m, 2, 0, &w, &why),
                     CRM_ERR_CORRUPT);

    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi db;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 2), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "subject_keys", MDB_CREATE, &db), 0);
    uint8_t s1[CRM_KEY_LEN], s1b[CRM_KEY_LEN], s2[CRM_KEY_LEN];
    assert_int_equal(crm_vault_subject_key(v, txn, db, "g-1", 3, 0, s1),
                     MDB_NOTFOUND);
    assert_int_equal(crm_vault_subject_key(v, txn, db, "g-1", 3, 1, s1), 0);
    assert_int_equal(crm_vault_subject_key(v, txn, db, "g-2", 3, 1, s2), 0);
    assert_memory_not_equal(s1, s2, CRM_KEY_LEN);
    assert_int_equal(mdb_txn_commit(txn), 0);

    /* reopened: the same tenant key opens the same subject keys */
    crm_vault_close(v);
    assert_int_equal(crm_vault_open(dir, "acme", m, 1, 0, &v, &why), CRM_OK);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(crm_vault_subject_key(v, txn, db, "g-1", 3, 0, s1b), 0);
    assert_memory_equal(s1, s1b, CRM_KEY_LEN);
    /* a wrapped key moved to another guest does not open */
    MDB_val k = {3, "g-1"}, val;
    assert_int_equal(mdb_get(txn, db, &k, &val), 0);
    uint8_t out[CRM_KEY_LEN];
    assert_int_equal(crm_vault_unwrap(v, 'S', "g-2", 3, val.mv_data,
                                      val.mv_size, out),
                     -1);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    crm_vault_close(v);
    fx_rmrf(dir);
}

/* Rotation's steps, and a crash between any two of them. */
static void
test_rotation_and_crashes(void **state)
{
    (void)state;
    char dir[512];
    crm_error why;
    uint8_t m[CRM_KEY_LEN], k[CRM_KEY_LEN], out[CRM_KEY_LEN];
    uint8_t w1[4 + CRM_WRAPPED_LEN], w2[4 + CRM_WRAPPED_LEN];
    memset(m, 3, sizeof(m));
    memset(k, 9, sizeof(k));
    fx_tmpdir(dir, sizeof(dir), "vault");
    crm_vault *v, *n, *r;
    assert_int_equal(crm_vault_open(dir, "acme", m, 0, 1, &v, &why), CRM_OK);
    assert_int_equal(crm_vault_wrap(v, 'S', "g", 1, k, w1), 0);
    /* a rotation that never committed: meta still names epoch 1, and
     * opening overwrites the unused newer slot */
    assert_int_equal(crm_vault_rotate(v, &n, &why), CRM_OK);
    assert_int_equal(crm_vault_epoch(n), 2);
    crm_vault_close(n);
    assert_int_equal(crm_vault_open(dir, "acme", m, 1, 0, &r, &why), CRM_OK);
    assert_int_equal(crm_vault_unwrap(r, 'S', "g", 1, w1, sizeof(w1), out), 0);
    crm_vault_close(r);
    assert_int_equal(crm_vault_open(dir, "acme", m, 2, 0, &r, &why),
                     CRM_ERR_CORRUPT);
    /* a whole rotation: the new key wraps, the old slot is gone */
    assert_int_equal(crm_vault_rotate(v, &n, &why), CRM_OK);
    assert_int_equal(crm_vault_wrap(n, 'S', "g", 1, k, w2), 0);
    assert_int_equal(crm_vault_unwrap(n, 'S', "g", 1, w1, sizeof(w1), out), -1);
    assert_int_equal(crm_vault_retire(n, 1, &why), CRM_OK);
    assert_int_equal(crm_vault_open(dir, "acme", m, 1, 0, &r, &why),
                     CRM_ERR_CORRUPT);
    assert_int_equal(crm_vault_open(dir, "acme", m, 2, 0, &r, &why), CRM_OK);
    assert_int_equal(crm_vault_unwrap(r, 'S', "g", 1, w2, sizeof(w2), out), 0);
    assert_memory_equal(out, k, CRM_KEY_LEN);
    crm_vault_close(r);
    crm_vault_close(n);
    crm_vault_close(v);
    fx_rmrf(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_round_trip_and_refusals),
        cmocka_unit_test(test_master_key_files),
        cmocka_unit_test(test_tenant_and_subject_keys),
        cmocka_unit_test(test_rotation_and_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
