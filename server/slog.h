/*
 * slog.h - the server's own log lines (not the event log): one line per
 * happening on stderr, with UTC time, level and, when there is one, the
 * request id, e.g.
 *
 *   2026-11-25T07:01:02.123456Z level=warn req=42 op=append tenant=acme
 *       err=conflict msg="stream 'g-1' is at version 3, expected 1"
 *
 * Thread-safe; a line is written with one write(2).
 */
#ifndef CRM_SLOG_H
#define CRM_SLOG_H

#include <stdint.h>

typedef enum crm_level {
    CRM_DEBUG,
    CRM_INFO,
    CRM_WARN,
    CRM_ERROR,
} crm_level;

/* Lines below level are dropped. Default CRM_INFO. */
void crm_slog_set_level(crm_level level);
int crm_slog_enabled(crm_level level);

/* Parses "debug", "info", "warn", "error"; -1 if none. */
int crm_slog_parse_level(const char *s, crm_level *out);

/* Writes one line; req 0 omits the request id. fmt should produce
 * key=value pairs. */
void crm_slog(crm_level level, uint64_t req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
