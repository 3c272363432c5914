/* uuid_test.c - UUIDv7 layout, strict ordering within one process (also
 * across threads), and the text form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uuid.h"

enum { MANY = 100000, THREADS = 4, PER_THREAD = 25000 };

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
id_ms(const uint8_t id[16])
{
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | id[i];
    return ms;
}

static void
test_layout(void **state)
{
    (void)state;
    uint64_t before = now_ms();
    uint8_t id[16];
    crm_uuid_v7(id);
    uint64_t after = now_ms();
    assert_int_equal(id[6] >> 4, 7); /* version */
    assert_int_equal(id[8] >> 6, 2); /* variant 10xx */
    /* the timestamp is the wall clock in ms (or the last one issued, which
     * is at most slightly ahead of it) */
    assert_true(id_ms(id) >= before - 1000);
    assert_true(id_ms(id) <= after + 1000);
    for (int i = 0; i < 1000; i++) {
        crm_uuid_v7(id);
        assert_int_equal(id[6] & 0xf0, 0x70);
        assert_int_equal(id[8] & 0xc0, 0x80);
    }
}

static void
test_increasing(void **state)
{
    (void)state;
    uint8_t(*ids)[16] = malloc((size_t)MANY * 16);
    assert_non_null(ids);
    for (int i = 0; i < MANY; i++)
        crm_uuid_v7(ids[i]);
    for (int i = 1; i < MANY; i++) {
        if (memcmp(ids[i - 1], ids[i], 16) >= 0)
            fail_msg("id %d is not greater than id %d", i, i - 1);
    }
    free(ids);
}

typedef struct gen {
    uint8_t ids[PER_THREAD][16];
} gen;

static void *
generate(void *arg)
{
    gen *g = arg;
    for (int i = 0; i < PER_THREAD; i++)
        crm_uuid_v7(g->ids[i]);
    return NULL;
}

static int
cmp16(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

static void
test_threads(void **state)
{
    (void)state;
    gen *g = calloc(THREADS, sizeof(*g));
    pthread_t th[THREADS];
    assert_non_null(g);
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, generate, &g[t]), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < THREADS; t++)
        for (int i = 1; i < PER_THREAD; i++)
            if (memcmp(g[t].ids[i - 1], g[t].ids[i], 16) >= 0)
                fail_msg("thread %d: id %d not increasing", t, i);
    /* all unique across threads */
    uint8_t(*all)[16] = (uint8_t(*)[16])g;
    qsort(all, (size_t)THREADS * PER_THREAD, 16, cmp16);
    for (size_t i = 1; i < (size_t)THREADS * PER_THREAD; i++)
        if (memcmp(all[i - 1], all[i], 16) == 0)
            fail_msg("duplicate id at %zu", i);
    free(g);
}

static void
test_format_parse(void **state)
{
    (void)state;
    uint8_t id[16], back[16];
    char s[CRM_UUID_STRLEN + 1];
    for (int i = 0; i < 100; i++) {
        crm_uuid_v7(id);
        memset(s, 'Z', sizeof(s));
        crm_uuid_format(id, s);
        assert_int_equal(strlen(s), CRM_UUID_STRLEN);
        assert_int_equal(s[8], '-');
        assert_int_equal(s[13], '-');
        assert_int_equal(s[18], '-');
        assert_int_equal(s[23], '-');
        assert_int_equal(s[14], '7');
        for (const char *p = s; *p; p++)
            assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                        *p == '-');
        assert_int_equal(crm_uuid_parse(s, back), 0);
        assert_memory_equal(id, back, 16);
    }

    const uint8_t known[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                               0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
    crm_uuid_format(known, s);
    assert_string_equal(s, "01234567-89ab-cdef-fedc-ba9876543210");
    assert_int_equal(
        crm_uuid_parse("01234567-89AB-CDEF-FEDC-BA9876543210", back), 0);
    assert_memory_equal(back, known, 16);
    assert_int_equal(crm_uuid_parse("0123456789abcdefFEDCBA9876543210", back),
                     0);
    assert_memory_equal(back, known, 16);
}

static void
test_parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "0",
        "01234567-89ab-cdef-fedc-ba987654321",   /* 35 */
        "01234567-89ab-cdef-fedc-ba98765432100", /* 37 */
        "01234567-89ab-cdef-fedc-ba987654321g",  /* non-hex */
        "0123456789abcdef0123456789abcde",       /* 31 */
        "0123456789abcdef0123456789abcdef0",     /* 33 */
        "0123456789abcdef0123456789abcdeX",
        "01234567089ab-cdef-fedc-ba9876543210", /* dash moved */
        "01234567-89ab-cdef-fedc+ba9876543210",
        "01234567-89ab-cdef-fedcba98-76543210",
        "0123456789ab-cdef-fedc-ba98765432100",
        "{1234567-89ab-cdef-fedc-ba987654321}",
        " 1234567-89ab-cdef-fedc-ba9876543210",
        "01234567-89ab-cdef-fedc-ba987654321 ",
        "0x23456789abcdef0123456789abcdef",
        "-1234567-89ab-cdef-fedc-ba9876543210",
        "------------------------------------",
    };
    uint8_t out[16];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (crm_uuid_parse(bad[i], out) != -1)
            fail_msg("accepted '%s'", bad[i]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_increasing),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_format_parse),
        cmocka_unit_test(test_parse_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
