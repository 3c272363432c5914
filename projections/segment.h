/*
 * segment.h - the segment projection: one compact summary row per guest,
 * what marketing's segments are decided from, and the definitions of the
 * segments a tenant names (tenant.segment_defined / _dropped in $tenant).
 *
 * Membership is never stored: everything that depends on "today" (the
 * lifecycle, the rolling windows, RFM quintiles over the tenant's guests,
 * the churn band) is computed from the rows for the day asked, by one
 * pass over them (two when quintiles are needed). A row holds dates and
 * counts, no personal value: properties and preference categories as
 * SHA-256 name hashes, preference values only as HMACs under the
 * tenant's index key (crm_segment_pref_key), nothing at all once the
 * guest is erased. Three databases:
 *
 * "guest", keyed by stream id (streams not starting with '$'):
 *
 *   off len
 *     0  1  format 1
 *     1  1  flags: 1 erased (nothing else is kept; later events ignored)
 *     2  4  first_seen   day of the earliest event of the guest
 *     6  4  registered   least customer.registered day; 0 none
 *    10  4  first_stay   least stay.checked_out day; 0 none
 *    14  4  last_stay    greatest
 *    18  4  last_booking greatest booking.created day; 0 none
 *    22  4  stays        check-outs
 *    26  4  nights       their nights
 *    30  4  orders       spend.recorded above 0 with a rate that day
 *    34  8  spend        i64, minor units of the base currency, each
 *                        amount at the rate in force on its day (halves
 *                        away from zero); refunds subtract
 *    42  1  nps_last     0..10, 0xff none (latest occurred_at wins)
 *    43  8  nps_at       its occurred_at
 *    51  2  open         complaints opened and not resolved
 *    53  4  consent      bit c * 4 + p granted: channel c of email sms
 *                        phone post push whatsapp, purpose p of
 *                        marketing profiling service third_party (the
 *                        latest occurred_at per pair wins)
 *    57  8  home         name hash of home_property; 0 none
 *    65  8  home_at      occurred_at that set it
 *    73  4  ring_month   month index (year * 12 + month - 1) of the
 *                        ring's newest bucket; 0 none
 *    77 72  ring         24 buckets, newest first: nights u16, stays u8
 *                        of the check-outs in that month (saturating);
 *                        a check-out older than the ring is not in it
 *   149  1  nprops, 150 1 nprefs
 *   151     nprops x property name hash (8), ascending (at most 32)
 *           nprefs x {category hash 8, value HMAC 16, at i64}, by
 *           category hash (at most 16; the latest occurred_at wins)
 *
 * "aux": what keeps the row's replaced values order-independent, keyed
 *   id 0 'c' channel u8 purpose u8 -> granted u8, at i64
 *   id 0 'k' complaint_id          -> flags u8 (1 opened, 2 resolved)
 *
 * "defs": name -> position u64, filter length u16, filter, description
 *   (the text as defined; crm_segfilter parses it when asked).
 *
 * Numbers are big-endian; days YYYYMMDD of occurred_at (UTC). Every row
 * depends only on the set of the guest's records (and the rates known at
 * each position), not on the order they arrived in; a definition is the
 * last recorded for its name.
 *
 * Figures for a day D (crm_seg_guest), with dormant_days d in force on D:
 *   days_since_stay  D - last_stay (0 if later), -1 without a stay
 *   last_active      the greatest of last_stay, last_booking, registered,
 *                    else first_seen; since = D - last_active (>= 0)
 *   lifecycle        new: no stay and since <= d; active: a stay and
 *                    since <= d; dormant: since <= 2d; lapsed: since
 *                    <= 3d; churned: beyond
 *   nights_12m,      nights and stays of the ring's months from the
 *   stays_12m        month of D back 11 (the month of D whole);
 *   stays_prev_12m   and the 12 months before those
 *   frequency        prospect: no stay; first_time: one; frequent:
 *                    3 or more in stays_12m; repeat: any other
 *   value            none: spend <= 0; else high for the top 20% of the
 *                    guests with spend > 0 by spend, medium for the next
 *                    30%, low for the rest (ties share the better band)
 *   rfm_r, _f, _m    1..5, quintiles over every non-erased guest: score
 *                    = 1 + floor(5 * below / n), below = how many guests
 *                    have a strictly worse value (recency: fewer days
 *                    since the last stay is better, no stay worst;
 *                    frequency: stays; monetary: spend)
 *   churn_score      0..100, customer.h's rules from the summary: the
 *                    usual interval is the mean gap (last_stay -
 *                    first_stay) / (stays - 1) instead of the median,
 *                    frequency compares stays_12m with stays_prev_12m,
 *                    complaints score 10 each (at most 20, no SLA part)
 *   churn            low below 30, medium below 60, high from 60
 *   tier             the loyalty projection's tier, else the lowest
 *                    tier in force on D
 *   points_expiring  points left in accruals expiring D..D+30 (loyalty)
 */
#ifndef CRM_PROJ_SEGMENT_H
#define CRM_PROJ_SEGMENT_H

#include <stdint.h>

#include "proj.h"
#include "settings.h"

extern const crm_proj_def crm_proj_segment;

#define CRM_SEG_RING 24
#define CRM_SEG_PROPS_MAX 32
#define CRM_SEG_PREFS_MAX 16
#define CRM_SEG_PREF_HMAC 16
#define CRM_SEG_NAME_MAX 40    /* a defined segment's name */
#define CRM_SEG_FILTER_MAX 1000
#define CRM_SEG_DESC_MAX 200
#define CRM_SEG_EXPIRING_DAYS 30

enum { SEG_NEW, SEG_ACTIVE, SEG_DORMANT, SEG_LAPSED, SEG_CHURNED, SEG_NLIFE };
enum { SEG_PROSPECT, SEG_FIRST_TIME, SEG_REPEAT, SEG_FREQUENT, SEG_NFREQ };
enum { SEG_VALUE_NONE, SEG_VALUE_LOW, SEG_VALUE_MEDIUM, SEG_VALUE_HIGH,
       SEG_NVALUE };
enum { SEG_CHURN_LOW, SEG_CHURN_MEDIUM, SEG_CHURN_HIGH, SEG_NCHURN };

extern const char *const crm_seg_lifecycle_names[SEG_NLIFE];
extern const char *const crm_seg_frequency_names[SEG_NFREQ];
extern const char *const crm_seg_value_names[SEG_NVALUE];
extern const char *const crm_seg_churn_names[SEG_NCHURN];
extern const char *const crm_seg_channels[];  /* NULL-terminated, 6 */
extern const char *const crm_seg_purposes[];  /* NULL-terminated, 4 */

/* What the needs of a question add to a guest's figures. */
enum {
    CRM_SEG_NEED_POP = 1,      /* value, rfm_* (a first pass) */
    CRM_SEG_NEED_TIER = 2,     /* tier (the loyalty projection) */
    CRM_SEG_NEED_EXPIRING = 4, /* points_expiring (the loyalty projection) */
    CRM_SEG_NEED_ALL = 7
};

/* One guest on a day: the stored row decoded, and the figures computed.
 * Pointers point into the read transaction's map. */
typedef struct crm_seg_guest {
    const char *id;
    size_t id_len;
    uint32_t first_seen, registered, first_stay, last_stay, last_booking;
    uint32_t stays, nights, orders, open_complaints, consent;
    int64_t spend;
    int nps_last; /* -1 none */
    uint64_t home;
    size_t nprops, nprefs;
    const uint8_t *props, *prefs;
    /* for the day */
    int64_t days_since_stay; /* -1 without a stay */
    uint32_t nights_12m, stays_12m, stays_prev_12m;
    int lifecycle, frequency, value, churn, churn_score;
    int rfm_r, rfm_f, rfm_m; /* 0 unless CRM_SEG_NEED_POP */
    char tier[CRM_SETTINGS_NAME_MAX + 1]; /* "" unless NEED_TIER */
    int64_t points_expiring, points;      /* 0 unless NEED_EXPIRING */
} crm_seg_guest;

/* A question over the rows: the day, the settings in force on it, what
 * figures are needed, and the databases (loyalty 0 with has_loyalty 0
 * when the log keeps none: tier is then the lowest, nothing expires). */
typedef struct crm_seg_query {
    MDB_txn *txn;
    MDB_dbi guest; /* the projection's first database */
    int has_loyalty;
    MDB_dbi loyalty;
    uint32_t day;
    const crm_settings *settings;
    unsigned needs;
} crm_seg_query;

/* Calls fn for every guest not erased, in id order, starting after the id
 * after[0..after_len) (after NULL: from the first), with its figures for
 * q->day; fn returns nonzero to stop (no error). *scanned (may be NULL)
 * counts the rows looked at. 0, ENOMEM or an LMDB error code. */
typedef int (*crm_seg_fn)(void *arg, const crm_seg_guest *g);
int crm_segment_scan(const crm_seg_query *q, const char *after,
                     size_t after_len, crm_seg_fn fn, void *arg,
                     uint64_t *scanned);

/* A property or category name as the row keeps it: the first 8 bytes of
 * its SHA-256, never 0. */
uint64_t crm_segment_name_hash(const char *s, size_t len);
/* The blind key of a preference value: HMAC-SHA-256 under the tenant's
 * index key of 0x10, category, 0x1f and the value normalised (ASCII
 * whitespace trimmed and runs of it made one space, ASCII letters
 * lower-cased), first CRM_SEG_PREF_HMAC bytes. */
void crm_segment_pref_key(const uint8_t key[CRM_PROJ_INDEX_KEY_LEN],
                          const char *category, size_t clen, const char *value,
                          size_t vlen, uint8_t out[CRM_SEG_PREF_HMAC]);
/* Whether g visited the property with hash h / holds preference
 * category c with the value key v. */
int crm_seg_guest_visited(const crm_seg_guest *g, uint64_t h);
int crm_seg_guest_pref(const crm_seg_guest *g, uint64_t c,
                       const uint8_t v[CRM_SEG_PREF_HMAC]);

/* A defined segment, as read from "defs" (strings point into the map). */
typedef struct crm_seg_def {
    const char *name, *filter, *description;
    size_t name_len, filter_len, description_len;
    uint64_t position;
} crm_seg_def;

/* The definitions by name (db the third database, "defs"); fn returns
 * nonzero to stop. 0 or an LMDB error code. */
int crm_segment_defs(MDB_txn *txn, MDB_dbi db,
                     int (*fn)(void *arg, const crm_seg_def *d), void *arg);
/* The definition called name: 0, MDB_NOTFOUND or an LMDB error code. */
int crm_segment_def_get(MDB_txn *txn, MDB_dbi db, const char *name,
                        size_t len, crm_seg_def *out);

#endif
