/*
 * counts.h - the event-count projection: for every guest (stream) and
 * event type, how many events of that type the guest has. It proves the
 * engine (inline state against a rebuild, byte for byte) and gives
 * crm-bench the cost of a per-guest projection; crmd keeps it when the
 * configuration names it.
 *
 *   by_type: stream id, 0x00, type -> count (u64 BE)
 *
 * Stream ids hold no byte below 0x20, so the key splits unambiguously.
 */
#ifndef CRM_PROJ_COUNTS_H
#define CRM_PROJ_COUNTS_H

#include "proj.h"

extern const crm_proj_def crm_proj_counts;

#endif
