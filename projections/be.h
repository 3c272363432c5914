/* be.h - big-endian integers in keys and values: the byte order that
 * makes LMDB's memcmp order the numeric order. */
#ifndef CRM_BE_H
#define CRM_BE_H

#include <stdint.h>

static inline void
crm_put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline uint64_t
crm_get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

#endif
