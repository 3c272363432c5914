/* scache_test.c - the in-memory stream-head map: put/get, growth past many
 * rehashes, dirty tracking, reserve, merge, clear. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "scache.h"

static void
test_put_get(void **state)
{
    (void)state;
    crm_scache *c = crm_scache_new();
    assert_non_null(c);
    assert_null(crm_scache_get(c, "a", 1));
    assert_int_equal(crm_scache_put(c, "a", 1, 0, 7), 0);
    assert_int_equal(crm_scache_put(c, "ab", 2, 3, 9), 0);
    const crm_shead *h = crm_scache_get(c, "a", 1);
    assert_non_null(h);
    assert_int_equal(h->version, 0);
    assert_int_equal(h->position, 7);
    assert_int_equal(crm_scache_put(c, "a", 1, 1, 12), 0); /* update */
    assert_int_equal(crm_scache_get(c, "a", 1)->position, 12);
    assert_int_equal(crm_scache_count(c), 2);
    /* ids outside 1..CRM_STREAM_MAX are refused */
    char big[CRM_STREAM_MAX + 1];
    memset(big, 'x', sizeof(big));
    assert_int_equal(crm_scache_put(c, big, sizeof(big), 0, 1), -1);
    assert_int_equal(crm_scache_put(c, big, 0, 0, 1), -1);
    assert_null(crm_scache_get(c, big, sizeof(big)));
    crm_scache_put(c, big, CRM_STREAM_MAX, 4, 5);
    assert_int_equal(crm_scache_get(c, big, CRM_STREAM_MAX)->version, 4);
    crm_scache_free(c);
    crm_scache_free(NULL);
}

static void
test_growth(void **state)
{
    (void)state;
    crm_scache *c = crm_scache_new();
    char id[32];
    for (int i = 0; i < 200000; i++) {
        int n = snprintf(id, sizeof(id), "guest-%d", i);
        assert_int_equal(
            crm_scache_put(c, id, (size_t)n, (uint64_t)i, (uint64_t)i + 1), 0);
    }
    assert_int_equal(crm_scache_count(c), 200000);
    for (int i = 0; i < 200000; i += 997) {
        int n = snprintf(id, sizeof(id), "guest-%d", i);
        const crm_shead *h = crm_scache_get(c, id, (size_t)n);
        assert_non_null(h);
        assert_int_equal(h->version, (uint64_t)i);
        assert_int_equal(h->position, (uint64_t)i + 1);
    }
    assert_null(crm_scache_get(c, "guest-200000", 12));
    crm_scache_free(c);
}

static int n_seen;
static void
count(void *arg, const crm_shead *h)
{
    (void)arg, (void)h;
    n_seen++;
}

static void
test_dirty_and_merge(void **state)
{
    (void)state;
    crm_scache *a = crm_scache_new(), *b = crm_scache_new();
    crm_scache_put(a, "x", 1, 1, 1);
    crm_scache_put(a, "y", 1, 1, 2);
    assert_int_equal(crm_scache_dirty(a), 2);
    crm_scache_mark_clean_at(a, "x", 1, 1);
    crm_scache_mark_clean_at(a, "y", 1, 7); /* moved since: stays dirty */
    crm_scache_mark_clean_at(a, "z", 1, 1); /* not there: nothing */
    assert_int_equal(crm_scache_dirty(a), 1);
    crm_scache_mark_clean_at(a, "y", 1, 2);
    crm_scache_mark_clean_at(a, "y", 1, 2); /* twice: counted once */
    assert_int_equal(crm_scache_dirty(a), 0);
    assert_int_equal(crm_scache_count(a), 2);
    crm_scache_put(a, "y", 1, 2, 3);
    assert_int_equal(crm_scache_dirty(a), 1);
    n_seen = 0;
    crm_scache_each(a, 1, count, NULL);
    assert_int_equal(n_seen, 1);
    n_seen = 0;
    crm_scache_each(a, 0, count, NULL);
    assert_int_equal(n_seen, 2);

    for (int i = 0; i < 5000; i++) {
        char id[16];
        int n = snprintf(id, sizeof(id), "m-%d", i);
        crm_scache_put(b, id, (size_t)n, 9, (uint64_t)i);
    }
    crm_scache_put(b, "x", 1, 5, 50); /* src wins */
    assert_int_equal(crm_scache_reserve(a, crm_scache_count(b)), 0);
    assert_int_equal(crm_scache_merge(a, b), 0);
    assert_int_equal(crm_scache_count(a), 5002);
    assert_int_equal(crm_scache_get(a, "x", 1)->position, 50);
    assert_int_equal(crm_scache_dirty(a), 5002);

    crm_scache_clear(a);
    assert_int_equal(crm_scache_count(a), 0);
    assert_int_equal(crm_scache_dirty(a), 0);
    assert_null(crm_scache_get(a, "x", 1));
    crm_scache_put(a, "x", 1, 1, 1); /* usable after a shrinking clear */
    assert_non_null(crm_scache_get(a, "x", 1));
    crm_scache_free(a);
    crm_scache_free(b);
}

static void
test_drop_clean(void **state)
{
    (void)state;
    crm_scache *c = crm_scache_new();
    for (int i = 0; i < 20000; i++) {
        char id[16];
        int n = snprintf(id, sizeof(id), "g-%d", i);
        assert_int_equal(crm_scache_put(c, id, (size_t)n, 1, (uint64_t)i), 0);
        if (i % 4 != 0)
            crm_scache_mark_clean_at(c, id, (size_t)n, (uint64_t)i);
    }
    assert_int_equal(crm_scache_dirty(c), 5000);
    assert_int_equal(crm_scache_drop_clean(c), 0);
    assert_int_equal(crm_scache_count(c), 5000);
    assert_int_equal(crm_scache_dirty(c), 5000);
    for (int i = 0; i < 20000; i++) {
        char id[16];
        int n = snprintf(id, sizeof(id), "g-%d", i);
        const crm_shead *h = crm_scache_get(c, id, (size_t)n);
        if (i % 4 == 0) {
            assert_non_null(h);
            assert_int_equal(h->position, i);
            assert_true(h->dirty);
        } else {
            assert_null(h);
        }
    }
    /* still a working table: puts after the drop grow it again */
    for (int i = 0; i < 10000; i++) {
        char id[16];
        int n = snprintf(id, sizeof(id), "n-%d", i);
        assert_int_equal(crm_scache_put(c, id, (size_t)n, 0, 1), 0);
    }
    assert_int_equal(crm_scache_count(c), 15000);
    assert_non_null(crm_scache_get(c, "n-9999", 6));
    assert_non_null(crm_scache_get(c, "g-0", 3));
    crm_scache_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_dirty_and_merge),
        cmocka_unit_test(test_drop_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
