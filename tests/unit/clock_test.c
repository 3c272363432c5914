/* clock_test.c - wall clock in µs agrees with time(2); the monotonic clock
 * never goes back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <time.h>
#include <unistd.h>

#include "clock.h"

static void
test_wall(void **state)
{
    (void)state;
    int64_t us = crm_now_us();
    int64_t s = (int64_t)time(NULL);
    assert_true(us / 1000000 >= s - 1 && us / 1000000 <= s + 1);
}

static void
test_monotonic(void **state)
{
    (void)state;
    int64_t a = crm_mono_ns();
    usleep(2000);
    int64_t b = crm_mono_ns();
    assert_true(b - a >= 2000000);
    for (int i = 0; i < 10000; i++) {
        int64_t c = crm_mono_ns();
        assert_true(c >= b);
        b = c;
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wall),
        cmocka_unit_test(test_monotonic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
