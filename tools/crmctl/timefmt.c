/* timefmt.c - ISO-8601 <-> UTC microseconds. */
#include "timefmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define US_PER_DAY INT64_C(86400000000)

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int
days_in_month(int64_t y, unsigned m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/* Reads exactly n digits. */
static int
digits(const char **p, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (unsigned)(ch - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int
ctl_time_parse(const char *s, int64_t *us)
{
    unsigned y, mo, d, h, mi, sec, frac = 0;
    const char *p = s;

    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &sec))
        return -1;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++) {
            if (n == 6)
                return -1; /* finer than a microsecond would be dropped */
            frac = frac * 10 + (unsigned)(*p - '0');
        }
        if (n == 0)
            return -1;
        for (; n < 6; n++)
            frac *= 10;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return -1; /* only UTC: event times are UTC by definition */
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
        (int)d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return -1;
    *us = days_from_civil(y, mo, d) * US_PER_DAY +
          ((int64_t)h * 3600 + mi * 60 + sec) * 1000000 + frac;
    return 0;
}

void
ctl_time_format(int64_t us, int frac, char out[CTL_TIME_STRLEN + 1])
{
    int64_t y;
    unsigned m, d;
    if (us < 0) {
        strcpy(out, "-");
        return;
    }
    int64_t days = us / US_PER_DAY, rem = us % US_PER_DAY;
    civil_from_days(days, &y, &m, &d);
    unsigned secs = (unsigned)(rem / 1000000),
             micro = (unsigned)(rem % 1000000);
    int n = snprintf(out, CTL_TIME_STRLEN + 1, "%04u-%02u-%02uT%02u:%02u:%02u",
                     (unsigned)(y % 10000), m, d, secs / 3600, secs / 60 % 60,
                     secs % 60);
    if (frac && micro)
        snprintf(out + n, (size_t)(CTL_TIME_STRLEN + 1 - n), ".%06uZ", micro);
    else
        snprintf(out + n, (size_t)(CTL_TIME_STRLEN + 1 - n), "Z");
}

int64_t
ctl_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
