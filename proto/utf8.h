/* utf8.h - strict UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). */
#ifndef CRM_UTF8_H
#define CRM_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True if the len bytes at s are well-formed UTF-8. NUL bytes are rejected:
 * no text field of an event may carry them. */
bool crm_utf8_valid(const char *s, size_t len);

#endif
