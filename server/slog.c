/* slog.c - one-line server log records on stderr. */
#include "slog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile crm_level threshold = CRM_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};

void
crm_slog_set_level(crm_level level)
{
    threshold = level;
}

int
crm_slog_enabled(crm_level level)
{
    return level >= threshold;
}

int
crm_slog_parse_level(const char *s, crm_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (crm_level)i;
            return 0;
        }
    }
    return -1;
}

void
crm_slog(crm_level level, uint64_t req, const char *fmt, ...)
{
    if (level < threshold)
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ level=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000, names[level]);
    if (req && n < (int)sizeof(line))
        n += snprintf(line + n, sizeof(line) - (size_t)n, "req=%llu ",
                      (unsigned long long)req);
    if (n < (int)sizeof(line)) {
        va_list ap;
        va_start(ap, fmt);
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
    }
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    /* one record, one line: newlines inside a message are flattened */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
