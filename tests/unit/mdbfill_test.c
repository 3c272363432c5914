/* mdbfill_test.c - zeros written ahead of a real LMDB data file: how far,
 * when again, never past the map, and LMDB reading and writing over them
 * afterwards as if they were not there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "mdbfill.h"

static char dir[512];

static MDB_env *
open_env(size_t map_size)
{
    MDB_env *env;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_mapsize(env, map_size), 0);
    assert_int_equal(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
    return env;
}

/* Puts n values of 1000 bytes from key `from` on in one transaction. */
static void
put(MDB_env *env, int from, int n)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    char val[1000];
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    for (int i = from; i < from + n; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%08d", i);
        memset(val, 'a' + i % 26, sizeof(val));
        MDB_val k = {strlen(key), key}, v = {sizeof(val), val};
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
}

static int
check(MDB_env *env, int n)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    int ok = 1;
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    for (int i = 0; i < n && ok; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%08d", i);
        MDB_val k = {strlen(key), key}, v;
        ok = mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 1000 &&
             ((char *)v.mv_data)[999] == 'a' + i % 26;
    }
    mdb_txn_abort(txn);
    return ok;
}

/* The data file's size; *zeros: every byte from `from` on is zero. */
static size_t
file_size(size_t from, int *zeros)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    long long size = fx_file_tail_zero(path, (long long)from, zeros);
    assert_true(size >= 0);
    return (size_t)size;
}

static void
test_fill_ahead(void **state)
{
    (void)state;
    fx_tmpdir(dir, sizeof(dir), "mdbfill");
    size_t map = 64u << 20;
    MDB_env *env = open_env(map);
    put(env, 0, 10);
    int zeros;
    size_t used = crm_mdbfill_used(env);
    assert_true(used >= 10 * 1000);
    size_t end = crm_mdbfill_start(env);
    assert_int_equal(end, file_size(0, &zeros));
    MDB_stat ms;
    assert_int_equal(mdb_env_stat(env, &ms), 0);
    assert_true(end <= used + 2 * ms.ms_psize);

    crm_mdbfill(env, used, map, &end);
    assert_int_equal(end, used + CRM_MDBFILL_MIN); /* a small file */
    assert_int_equal(file_size(used, &zeros), end);
    assert_true(zeros);

    /* enough ahead: nothing written (the file is truncated to tell) */
    char path[600];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    assert_int_equal(truncate(path, (off_t)(used + 4096)), 0);
    size_t before = end;
    crm_mdbfill(env, used, map, &end);
    assert_int_equal(end, before);
    assert_int_equal(file_size(0, &zeros), used + 4096);
    assert_int_equal(truncate(path, (off_t)end), 0);

    /* LMDB writes over the zeros; once within half a chunk of the end,
     * the next chunk follows */
    int n = 10;
    while (end - crm_mdbfill_used(env) >=
           crm_mdbfill_chunk(crm_mdbfill_used(env)) / 2) {
        put(env, n, 5);
        n += 5;
    }
    used = crm_mdbfill_used(env);
    assert_true(used <= end);
    crm_mdbfill(env, used, map, &end);
    assert_int_equal(end, used + crm_mdbfill_chunk(used));
    assert_int_equal(file_size(used, &zeros), end);
    assert_true(zeros);
    assert_true(check(env, n));

    /* reopened, LMDB reads what it wrote and appends over the zeros */
    mdb_env_close(env);
    env = open_env(map);
    assert_int_equal(crm_mdbfill_used(env), used);
    assert_int_equal(crm_mdbfill_start(env), end);
    put(env, n, 5);
    n += 5;
    assert_true(check(env, n));
    assert_int_equal(file_size(0, &zeros), end); /* within the zeros */
    mdb_env_close(env);
    fx_rmrf(dir);
}

/* The file never runs past the map: the last chunk stops at its end, and
 * a full map means nothing more is written. */
static void
test_fill_stops_at_the_map(void **state)
{
    (void)state;
    fx_tmpdir(dir, sizeof(dir), "mdbfill-map");
    size_t map = 96u << 10; /* less than what is used plus a chunk */
    MDB_env *env = open_env(map);
    put(env, 0, 20);
    size_t used = crm_mdbfill_used(env), end = crm_mdbfill_start(env);
    int zeros;
    crm_mdbfill(env, used, map, &end);
    assert_int_equal(end, map);
    assert_int_equal(file_size(used, &zeros), map);
    assert_true(zeros);
    crm_mdbfill(env, map, map, &end);
    assert_int_equal(end, map);
    assert_int_equal(file_size(0, &zeros), map);
    assert_true(check(env, 20));
    mdb_env_close(env);
    fx_rmrf(dir);
}

/* A quarter of what is in use, from 64 KiB to 1 MiB. */
static void
test_chunk_follows_the_file(void **state)
{
    (void)state;
    assert_int_equal(crm_mdbfill_chunk(0), CRM_MDBFILL_MIN);
    assert_int_equal(crm_mdbfill_chunk(100u << 10), CRM_MDBFILL_MIN);
    assert_int_equal(crm_mdbfill_chunk(1u << 20), 256u << 10);
    assert_int_equal(crm_mdbfill_chunk(4u << 20), CRM_MDBFILL_MAX);
    assert_int_equal(crm_mdbfill_chunk((size_t)100 << 30), CRM_MDBFILL_MAX);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_follows_the_file),
        cmocka_unit_test(test_fill_ahead),
        cmocka_unit_test(test_fill_stops_at_the_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
