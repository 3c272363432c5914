/*
 * decimal.h - exact decimal numbers as events carry them: a string such as
 * "0.9215" or "-12.5", held as an integer count of billionths (1e-9).
 *
 * Exchange rates and earn rates are decimals: written as text so that
 * what a person typed is what the log keeps, computed as integers so that
 * a rebuild on any machine gives the same figures.
 */
#ifndef CRM_DECIMAL_H
#define CRM_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

#define CRM_DECIMAL_SCALE 1000000000LL /* units of 1e-9 per 1 */
#define CRM_DECIMAL_MAX_LEN 24         /* longest accepted text */

/* Parses s[0..len): an optional '-', 1..9 integer digits, optionally '.'
 * and 1..9 fraction digits; nothing else (no '+', exponent or spaces).
 * Returns 0 and *out in billionths, or -1. */
int crm_decimal_parse(const char *s, size_t len, int64_t *out);

/* Writes v (billionths) as the shortest text that parses back to it
 * ("0.9215", "12", "-0.5") into buf (at least CRM_DECIMAL_MAX_LEN bytes);
 * returns its length. */
size_t crm_decimal_format(int64_t v, char *buf);

#endif
