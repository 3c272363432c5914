/* utf8.h - strict UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), and quoting bytes a client sent into messages
 * that must stay valid UTF-8. */
#ifndef CRM_UTF8_H
#define CRM_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Room for a quote of CRM_UTF8_QUOTE_MAX input bytes. */
#define CRM_UTF8_QUOTE_MAX 40
#define CRM_UTF8_QUOTE_CAP (4 * CRM_UTF8_QUOTE_MAX + 4)

/* True if the len bytes at s are well-formed UTF-8. NUL bytes are rejected:
 * no text field of an event may carry them. */
bool crm_utf8_valid(const char *s, size_t len);

/* Writes at most the first max bytes of s[0..len) into out (cap bytes,
 * always NUL-terminated) as text that is valid UTF-8 whatever s holds:
 * well-formed characters are copied; a byte that is not part of one, a
 * control character (NUL included), DEL and '\' are written as "\xHH"
 * ("\\" for '\'); "..." follows when s was cut (at max, or where out is
 * full). Returns whether all of s[0..len) is well-formed UTF-8, counting
 * NUL as such. */
bool crm_utf8_quote(const char *s, size_t len, size_t max, char *out,
                    size_t cap);

/* Replaces, in place, every byte of the NUL-terminated s that is not part
 * of a well-formed character with '?' (a message cut in the middle of a
 * character ends in one). */
void crm_utf8_scrub(char *s);

#endif
