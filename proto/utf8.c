/* utf8.c - strict UTF-8 validation, and making client bytes safe to quote.
 * ASCII runs are the common case in CRM data, so they take the short
 * path. */
#include "utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length (2..4) of the well-formed multi-byte character at s[0..left), or
 * 0 if there is none there. */
static size_t
multibyte_len(const unsigned char *s, size_t left)
{
    unsigned c = s[0];
    size_t n;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 1, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (left - 1 < n)
        return 0;
    for (size_t k = 1; k <= n; k++) {
        unsigned cc = s[k];
        if ((cc & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n + 1;
}

bool
crm_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c == 0)
                return false;
            i++;
            continue;
        }
        size_t n = multibyte_len(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

bool
crm_utf8_quote(const char *str, size_t len, size_t max, char *out,
               size_t cap)
{
    const unsigned char *s = (const unsigned char *)str;
    bool valid = true;
    for (size_t k = 0; valid && k < len;) {
        size_t n = s[k] < 0x80 ? 1 : multibyte_len(s + k, len - k);
        valid = n != 0;
        k += n;
    }
    if (cap == 0)
        return valid;
    size_t i = 0, o = 0;
    /* one input byte takes at most 4 output bytes ("\xHH"); keep room
     * for "..." and the NUL behind it */
    while (i < len && i < max && o + 4 + 3 + 1 <= cap) {
        unsigned c = s[i];
        size_t n = c < 0x80 ? 1 : multibyte_len(s + i, len - i);
        if (n == 0 || c < 0x20 || c == 0x7f || c == '\\') {
            if (c == '\\')
                o += (size_t)snprintf(out + o, cap - o, "\\\\");
            else
                o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
            i++;
            continue;
        }
        if (i + n > max || o + n + 3 + 1 > cap)
            break;
        memcpy(out + o, s + i, n);
        o += n;
        i += n;
    }
    if (i < len && o + 3 + 1 <= cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return valid;
}

void
crm_utf8_scrub(char *str)
{
    unsigned char *s = (unsigned char *)str;
    size_t len = strlen(str);
    for (size_t i = 0; i < len;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = multibyte_len(s + i, len - i);
        if (n == 0)
            s[i++] = '?';
        else
            i += n;
    }
}
