/* err_test.c - the error table: stable numbers and names, lookups in both
 * directions, and the message helpers' truncation safety. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "err.h"

typedef struct row {
    crm_err code;
    int number;
    const char *name;
    const char *msg;
} row;

static const row rows[] = {
#define ROW(e, n, name, msg) {e, n, name, msg},
    CRM_ERR_MAP(ROW)
#undef ROW
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

static void
test_stable_numbers(void **state)
{
    (void)state;
    /* These travel on the wire: a change here breaks every client. */
    assert_int_equal(CRM_OK, 0);
    assert_int_equal(CRM_ERR_BAD_REQUEST, 1);
    assert_int_equal(CRM_ERR_NOT_FOUND, 4);
    assert_int_equal(CRM_ERR_CONFLICT, 5);
    assert_int_equal(CRM_ERR_TOO_LARGE, 6);
    assert_int_equal(CRM_ERR_EXISTS, 10);
    assert_int_equal(CRM_ERR_UNKNOWN_TYPE, 20);
    assert_int_equal(CRM_ERR_UNKNOWN_OP, 28);
    assert_int_equal(CRM_ERR_INSUFFICIENT_POINTS, 29);
    assert_string_equal(crm_err_name(CRM_OK), "ok");
    assert_string_equal(crm_err_name(CRM_ERR_BAD_REQUEST), "bad_request");
    assert_string_equal(crm_err_name(CRM_ERR_CONFLICT), "conflict");
    assert_string_equal(crm_err_name(CRM_ERR_TOO_LARGE), "too_large");
    assert_string_equal(crm_err_name(CRM_ERR_UNKNOWN_TYPE), "unknown_type");
}

static void
test_distinct(void **state)
{
    (void)state;
    assert_true(NROWS > 20);
    for (size_t i = 0; i < NROWS; i++) {
        assert_int_equal((int)rows[i].code, rows[i].number);
        assert_true(rows[i].number >= 0 && rows[i].number < 100);
        assert_true(strlen(rows[i].name) > 0);
        assert_true(strlen(rows[i].msg) > 0);
        for (size_t j = i + 1; j < NROWS; j++) {
            assert_int_not_equal(rows[i].number, rows[j].number);
            assert_string_not_equal(rows[i].name, rows[j].name);
        }
        /* wire names are lower-case identifiers */
        for (const char *p = rows[i].name; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                        *p == '_');
    }
}

static void
test_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < NROWS; i++) {
        assert_string_equal(crm_err_name(rows[i].code), rows[i].name);
        assert_string_equal(crm_strerror(rows[i].code), rows[i].msg);
        assert_int_equal(crm_err_from_name(rows[i].name), rows[i].code);
        assert_int_equal(crm_err_from_name(crm_err_name(rows[i].code)),
                         rows[i].code);
    }
}

static void
test_unknown(void **state)
{
    (void)state;
    int unknown[] = {-1, 16, 19, 30, 99, 1000, 0x7fffffff};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        crm_err e = (crm_err)unknown[i];
        assert_string_equal(crm_err_name(e), "unknown");
        assert_non_null(crm_strerror(e));
        assert_true(strlen(crm_strerror(e)) > 0);
    }
    assert_int_equal(crm_err_from_name("no_such_error"), CRM_ERR_INTERNAL);
    assert_int_equal(crm_err_from_name(""), CRM_ERR_INTERNAL);
    assert_int_equal(crm_err_from_name("CONFLICT"), CRM_ERR_INTERNAL);
    assert_int_equal(crm_err_from_name("conflict "), CRM_ERR_INTERNAL);
}

static void
test_error_set(void **state)
{
    (void)state;
    crm_error e;
    memset(&e, 0x55, sizeof(e));
    assert_int_equal(crm_error_set(&e, CRM_ERR_CONFLICT, NULL),
                     CRM_ERR_CONFLICT);
    assert_int_equal(e.code, CRM_ERR_CONFLICT);
    assert_string_equal(e.msg, crm_strerror(CRM_ERR_CONFLICT));

    memset(&e, 0x55, sizeof(e));
    assert_int_equal(crm_error_set(&e, CRM_ERR_NOT_FOUND, "%s", ""),
                     CRM_ERR_NOT_FOUND);
    assert_int_equal(e.code, CRM_ERR_NOT_FOUND);
    assert_string_equal(e.msg, "");

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-zero-length"
    assert_int_equal(crm_error_set(&e, CRM_ERR_TOO_LARGE, ""),
                     CRM_ERR_TOO_LARGE);
#pragma GCC diagnostic pop
    assert_string_equal(e.msg, crm_strerror(CRM_ERR_TOO_LARGE));

    assert_int_equal(
        crm_error_set(&e, CRM_ERR_BAD_FIELD, "field '%s' %d", "nps", 11),
        CRM_ERR_BAD_FIELD);
    assert_string_equal(e.msg, "field 'nps' 11");

    /* NULL target: only the code comes back */
    assert_int_equal(crm_error_set(NULL, CRM_ERR_IO, "x %d", 1), CRM_ERR_IO);

    /* a message longer than the buffer is truncated and terminated */
    char big[1000];
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    crm_error_set(&e, CRM_ERR_INTERNAL, "%s", big);
    assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
}

static void
test_prefix(void **state)
{
    (void)state;
    crm_error e;
    crm_error_set(&e, CRM_ERR_BAD_FIELD, "field 'nps' is out of range");
    crm_error_prefix(&e, "event %d", 3);
    assert_string_equal(e.msg, "event 3: field 'nps' is out of range");
    assert_int_equal(e.code, CRM_ERR_BAD_FIELD);

    crm_error_prefix(NULL, "event %d", 3); /* no crash */

    char big[1000];
    memset(big, 'p', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    /* long message, short prefix: prefix kept, message cut */
    crm_error_set(&e, CRM_ERR_BAD_FIELD, "%s", big);
    crm_error_prefix(&e, "event %d", 7);
    assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
    assert_memory_equal(e.msg, "event 7: ppp", 12);

    /* long prefix, short message */
    crm_error_set(&e, CRM_ERR_BAD_FIELD, "tail");
    crm_error_prefix(&e, "%s", big);
    assert_true(strlen(e.msg) < sizeof(e.msg));
    assert_non_null(strstr(e.msg, ": tail"));

    /* both long */
    crm_error_set(&e, CRM_ERR_BAD_FIELD, "%s", big);
    crm_error_prefix(&e, "%s", big);
    assert_true(strlen(e.msg) < sizeof(e.msg));
    assert_non_null(strstr(e.msg, ": "));

    /* repeated prefixing never overruns */
    crm_error_set(&e, CRM_ERR_BAD_FIELD, "base");
    for (int i = 0; i < 100; i++)
        crm_error_prefix(&e, "level %d", i);
    assert_true(strlen(e.msg) < sizeof(e.msg));
    assert_memory_equal(e.msg, "level 99: level 98: ", 20);

    /* an unterminated msg (garbage) stays bounded */
    memset(e.msg, 'g', sizeof(e.msg));
    crm_error_prefix(&e, "p");
    assert_true(strlen(e.msg) < sizeof(e.msg));
    assert_memory_equal(e.msg, "p: ggg", 6);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stable_numbers), cmocka_unit_test(test_distinct),
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_error_set),      cmocka_unit_test(test_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
