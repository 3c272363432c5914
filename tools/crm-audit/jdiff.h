/*
 * jdiff.h - what changed between two JSON documents, one line per key
 * path:
 *
 *   ~ view.lifetime.nights: 7 -> 9     a value changed
 *   + view.preferences.diet: "halal"   only in the second
 *   - view.complaints_open[0]: {...}   only in the first
 *
 * Objects are compared member by member, in the first one's order and
 * then the second's new members. Arrays whose elements are all objects
 * with an integer "position" (ledger lines, touchpoints) are matched by
 * that position ("ledger[position=12]"), so an entry added at the front
 * is one line rather than a shift of all of them; other arrays are
 * compared index by index.
 */
#ifndef CRM_AUDIT_JDIFF_H
#define CRM_AUDIT_JDIFF_H

#include <jansson.h>
#include <stdio.h>

/* Writes the changes from a to b (either may be NULL: absent) under the
 * key path path to f; returns how many lines it wrote. */
size_t crm_audit_jdiff(FILE *f, const char *path, const json_t *a,
                       const json_t *b);

#endif
