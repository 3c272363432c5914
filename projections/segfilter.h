/*
 * segfilter.h - the filter language of the segments a tenant defines,
 * parsed once and evaluated over each guest's figures (segment.h).
 *
 *   filter  := or
 *   or      := and { "or" and }
 *   and     := unary { "and" unary }
 *   unary   := "not" unary | "(" or ")" | test
 *   test    := FIELD OP VALUE | FLAG
 *   OP      := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
 *   VALUE   := integer (-?[0-9]+) | "string" (\" and \\ escape)
 *
 * Keywords are case-insensitive; fields lower-case, [a-z0-9_.]. Fields:
 *   numbers   nights_12m stays_12m stays_prev_12m stays nights orders
 *             spend (minor units of the base currency) days_since_stay
 *             nps_last open_complaints churn_score rfm_r rfm_f rfm_m
 *             points points_expiring
 *   names     lifecycle frequency value churn (= and != against the
 *             names of segment.h), tier (a tier's name)
 *   places    property (= "x": visited x; != "x": never stayed there),
 *             home_property
 *   prefs     diet room bed pillow language accessibility and
 *             pref.CATEGORY (= "v": holds the value, compared as blind
 *             keys; != "v": holds another value or none)
 *   flags     consent.CHANNEL.PURPOSE, consent.CHANNEL (marketing);
 *             points_expiring alone (points expiring within 30 days)
 * A test on a number the guest lacks (days_since_stay without a stay,
 * nps_last without a survey) is false, whatever the operator.
 */
#ifndef CRM_PROJ_SEGFILTER_H
#define CRM_PROJ_SEGFILTER_H

#include <stddef.h>
#include <stdint.h>

#include "segment.h"

typedef struct crm_segfilter crm_segfilter;

/* Where a filter is wrong: the 1-based column of the bad token, the
 * token (cut at 40 bytes; "" at the end of the text) and what is wrong. */
typedef struct crm_segfilter_error {
    size_t column;
    char token[48];
    char message[160];
} crm_segfilter_error;

/* Parses text[0..len) into *out (owned by the caller: crm_segfilter_free),
 * preference values turned into blind keys under index_key. 0, or -1 with
 * *err filled (ENOMEM is -1 with message "out of memory"). */
int crm_segfilter_parse(const char *text, size_t len,
                        const uint8_t index_key[CRM_PROJ_INDEX_KEY_LEN],
                        crm_segfilter **out, crm_segfilter_error *err);
void crm_segfilter_free(crm_segfilter *f); /* accepts NULL */

/* The figures the filter reads beyond a row's own (CRM_SEG_NEED_*). */
unsigned crm_segfilter_needs(const crm_segfilter *f);

/* Whether guest g passes f. Pure; any thread. */
int crm_segfilter_eval(const crm_segfilter *f, const crm_seg_guest *g);

#endif
