/* mdberr_test.c - LMDB and errno codes map onto crm_err, with LMDB's own
 * message kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <lmdb.h>
#include <string.h>

#include "mdberr.h"

static void
test_codes(void **state)
{
    (void)state;
    assert_int_equal(crm_mdb_code(0), CRM_OK);
    assert_int_equal(crm_mdb_code(MDB_NOTFOUND), CRM_ERR_NOT_FOUND);
    assert_int_equal(crm_mdb_code(MDB_KEYEXIST), CRM_ERR_EXISTS);
    assert_int_equal(crm_mdb_code(MDB_MAP_FULL), CRM_ERR_UNAVAILABLE);
    assert_int_equal(crm_mdb_code(MDB_TXN_FULL), CRM_ERR_UNAVAILABLE);
    assert_int_equal(crm_mdb_code(MDB_CORRUPTED), CRM_ERR_CORRUPT);
    assert_int_equal(crm_mdb_code(MDB_PAGE_NOTFOUND), CRM_ERR_CORRUPT);
    assert_int_equal(crm_mdb_code(ENOMEM), CRM_ERR_NOMEM);
    assert_int_equal(crm_mdb_code(ENOSPC), CRM_ERR_IO);
    assert_int_equal(crm_mdb_code(EIO), CRM_ERR_IO);
    assert_int_equal(crm_mdb_code(MDB_BAD_TXN), CRM_ERR_INTERNAL);
}

static void
test_message(void **state)
{
    (void)state;
    crm_error why;
    assert_int_equal(crm_mdb_fail(&why, MDB_MAP_FULL, "commit"),
                     CRM_ERR_UNAVAILABLE);
    assert_int_equal(why.code, CRM_ERR_UNAVAILABLE);
    assert_non_null(strstr(why.msg, "commit: "));
    assert_non_null(strstr(why.msg, mdb_strerror(MDB_MAP_FULL)));
    assert_int_equal(crm_mdb_fail(NULL, ENOSPC, "x"), CRM_ERR_IO);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
