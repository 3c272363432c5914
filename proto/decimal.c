/* decimal.c - decimal text to billionths and back (decimal.h). */
#include "decimal.h"

#include <stdio.h>

int
crm_decimal_parse(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < len && s[i] == '-')
        neg = 1, i++;
    int64_t whole = 0, frac = 0;
    size_t nw = 0, nf = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nw++)
        whole = whole * 10 + (s[i] - '0');
    if (nw == 0 || nw > 9)
        return -1;
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nf++)
            frac = frac * 10 + (s[i] - '0');
        if (nf == 0 || nf > 9)
            return -1;
    }
    if (i != len)
        return -1;
    for (size_t k = nf; k < 9; k++)
        frac *= 10;
    int64_t v = whole * CRM_DECIMAL_SCALE + frac;
    *out = neg ? -v : v;
    return 0;
}

size_t
crm_decimal_format(int64_t v, char *buf)
{
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t whole = a / CRM_DECIMAL_SCALE, frac = a % CRM_DECIMAL_SCALE;
    int n = snprintf(buf, CRM_DECIMAL_MAX_LEN, "%s%llu", v < 0 ? "-" : "",
                     (unsigned long long)whole);
    if (frac) {
        char f[10];
        snprintf(f, sizeof(f), "%09llu", (unsigned long long)frac);
        int k = 9;
        while (f[k - 1] == '0')
            k--;
        n += snprintf(buf + n, CRM_DECIMAL_MAX_LEN - (size_t)n, ".%.*s", k, f);
    }
    return (size_t)n;
}
