/* clock.c - wall and monotonic clocks, and the query clock (clock.h). */
#include "clock.h"

#include <string.h>
#include <time.h>

#include "event.h"

int64_t
crm_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
crm_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#ifdef CRM_TEST_CLOCK
static int64_t pinned;

void
crm_clock_pin(int64_t us)
{
    pinned = us;
}

int
crm_clock_pinned(void)
{
    return pinned != 0;
}

int64_t
crm_query_now_us(void)
{
    return pinned ? pinned : crm_now_us();
}
#else
int
crm_clock_pinned(void)
{
    return 0;
}

int64_t
crm_query_now_us(void)
{
    return crm_now_us();
}
#endif

int
crm_clock_parse(const char *s, int64_t *us)
{
    if (strlen(s) != 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[19] != 'Z' || !crm_date_valid(s, 10))
        return -1;
    int f[3];
    for (int i = 0; i < 3; i++) {
        const char *p = s + 11 + 3 * i;
        if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
            return -1;
        f[i] = (p[0] - '0') * 10 + (p[1] - '0');
    }
    if (f[0] > 23 || f[1] > 59 || f[2] > 59)
        return -1;
    struct tm tm = {0};
    tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
                 (s[3] - '0') - 1900;
    tm.tm_mon = (s[5] - '0') * 10 + (s[6] - '0') - 1;
    tm.tm_mday = (s[8] - '0') * 10 + (s[9] - '0');
    tm.tm_hour = f[0];
    tm.tm_min = f[1];
    tm.tm_sec = f[2];
    *us = (int64_t)timegm(&tm) * 1000000;
    return 0;
}
