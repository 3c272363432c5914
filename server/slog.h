/*
 * slog.h - the server's own log lines (not the event log): one line per
 * happening on stderr, with UTC time, level and, when there is one, the
 * request id, e.g.
 *
 *   2026-11-25T07:01:02.123456Z level=info req=42 cid=1 op=append
 *       tenant=acme key=0123456789abcdef status=conflict us=180
 *       msg="stream 'g-1' is at version 3, expected 1"
 *
 * req= is the server's own request id; cid= the id the client put in its
 * envelope. Anything a client chose must go through crm_slog_value or
 * crm_slog_escape before it reaches a line, so it cannot end its field or
 * forge another. Thread-safe; a line is written with one write(2).
 */
#ifndef CRM_SLOG_H
#define CRM_SLOG_H

#include <stddef.h>
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

/* "debug", "info", "warn" or "error". */
const char *crm_slog_level_name(crm_level level);

/* Writes the len bytes at s (any bytes, e.g. a client's op or tenant) into
 * dst as one log value: bare when s is non-empty and every byte is a
 * letter, digit or one of ._-:/@+, otherwise in double quotes with " and
 * \ escaped by a backslash, \n \r \t as such and every other byte
 * outside 0x20..0x7e as \xHH. A value that does not fit in cap bytes is
 * cut between escapes and ends in "..." (inside the quotes). Always
 * NUL-terminated; cap must be at least 8. Returns dst. */
const char *crm_slog_value(char *dst, size_t cap, const char *s, size_t len);

/* The same escaping without quotes and without the bare form, for text
 * that goes inside a field already quoted, such as msg="...". */
const char *crm_slog_escape(char *dst, size_t cap, const char *s, size_t len);

/* Writes one line; req 0 omits the request id. fmt should produce
 * key=value pairs. */
void crm_slog(crm_level level, uint64_t req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
