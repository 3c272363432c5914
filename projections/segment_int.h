/* segment_int.h - what the fold (segment.c) and the questions
 * (segment_scan.c) of the segment projection share: the row of
 * segment.h, decoded. */
#ifndef CRM_PROJ_SEGMENT_INT_H
#define CRM_PROJ_SEGMENT_INT_H

#include "segment.h"

#define SEG_ROW_FORMAT 1
#define SEG_ROW_HDR 151
#define SEG_PREF_LEN (8 + CRM_SEG_PREF_HMAC + 8)
#define SEG_ROW_MAX                                                            \
    (SEG_ROW_HDR + 8 * CRM_SEG_PROPS_MAX + SEG_PREF_LEN * CRM_SEG_PREFS_MAX)
#define SEG_ERASED 1

typedef struct seg_pref {
    uint64_t category;
    uint8_t value[CRM_SEG_PREF_HMAC];
    int64_t at;
} seg_pref;

typedef struct seg_row {
    uint8_t flags;
    uint32_t first_seen, registered, first_stay, last_stay, last_booking;
    uint32_t stays, nights, orders;
    int64_t spend;
    int nps_last;
    int64_t nps_at;
    uint32_t open, consent;
    uint64_t home;
    int64_t home_at;
    uint32_t ring_month;
    uint16_t ring_nights[CRM_SEG_RING];
    uint8_t ring_stays[CRM_SEG_RING];
    size_t nprops, nprefs;
    uint64_t props[CRM_SEG_PROPS_MAX];
    seg_pref prefs[CRM_SEG_PREFS_MAX];
} seg_row;

/* The stored row v[0..len) into r (without tail, r's props and prefs are
 * left as they are: the caller reads them in v): 0, or -1 if it is not
 * one. */
int seg_row_decode(const uint8_t *v, size_t len, seg_row *r, int tail);
/* r into out (SEG_ROW_MAX bytes); its length. */
size_t seg_row_encode(const seg_row *r, uint8_t *out);
/* The month index of day YYYYMMDD: year * 12 + month - 1. */
static inline uint32_t
seg_month_index(uint32_t day)
{
    return day / 10000 * 12 + (day / 100 % 100) - 1;
}

#endif
