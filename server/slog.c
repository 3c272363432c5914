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

const char *
crm_slog_level_name(crm_level level)
{
    return level >= CRM_DEBUG && level <= CRM_ERROR ? names[level] : "?";
}

/* Escapes into dst, at most room bytes (no NUL); returns the length. When
 * s does not fit, the output is cut at the last escape boundary that
 * leaves room for "...", so an escape is never split. room >= 3. */
static size_t
put_escaped(char *dst, size_t room, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0, keep = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char piece[4];
        size_t k = 2;
        piece[0] = '\\';
        switch (ch) {
        case '"':
        case '\\':
            piece[1] = (char)ch;
            break;
        case '\n':
            piece[1] = 'n';
            break;
        case '\r':
            piece[1] = 'r';
            break;
        case '\t':
            piece[1] = 't';
            break;
        default:
            if (ch >= 0x20 && ch <= 0x7e) {
                piece[0] = (char)ch;
                k = 1;
            } else {
                piece[1] = 'x';
                piece[2] = hex[ch >> 4];
                piece[3] = hex[ch & 15];
                k = 4;
            }
        }
        if (n + 3 <= room)
            keep = n;
        if (n + k > room) {
            memcpy(dst + keep, "...", 3);
            return keep + 3;
        }
        memcpy(dst + n, piece, k);
        n += k;
    }
    return n;
}

static int
is_bare(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || (ch != 0 && strchr("._-:/@+", ch));
}

const char *
crm_slog_value(char *dst, size_t cap, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && is_bare((unsigned char)s[i]))
        i++;
    if (len > 0 && i == len && len < cap) {
        memcpy(dst, s, len);
        dst[len] = '\0';
        return dst;
    }
    /* quotes and the NUL take 3 of cap */
    size_t n = put_escaped(dst + 1, cap - 3, s, len);
    dst[0] = '"';
    dst[n + 1] = '"';
    dst[n + 2] = '\0';
    return dst;
}

const char *
crm_slog_escape(char *dst, size_t cap, const char *s, size_t len)
{
    dst[put_escaped(dst, cap - 1, s, len)] = '\0';
    return dst;
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
