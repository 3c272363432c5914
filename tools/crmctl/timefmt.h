/*
 * timefmt.h - event times (UTC microseconds) to and from ISO-8601.
 *
 * Civil-date arithmetic is done here rather than with timegm/gmtime so the
 * result never depends on TZ or on the C library's range of time_t.
 */
#ifndef CRMCTL_TIMEFMT_H
#define CRMCTL_TIMEFMT_H

#include <stdint.h>

#define CTL_TIME_STRLEN 27 /* "YYYY-MM-DDTHH:MM:SS.ffffffZ" */

/* Parses "YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+00:00)" (a space may replace
 * the T) into microseconds since the epoch, 1970..9999. Returns 0, or -1
 * when s is not such a time or names an impossible date. */
int ctl_time_parse(const char *s, int64_t *us);

/* Formats us as "YYYY-MM-DDTHH:MM:SSZ", with ".ffffff" before the Z when
 * frac is set and the time has a fraction. out holds CTL_TIME_STRLEN + 1
 * bytes. Negative times format as "-". */
void ctl_time_format(int64_t us, int frac, char out[CTL_TIME_STRLEN + 1]);

/* Current time in UTC microseconds. */
int64_t ctl_now_us(void);

#endif
