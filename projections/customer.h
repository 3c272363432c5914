/*
 * customer.h - the customer-360 projection: what the front desk, the
 * call centre and marketing see of one guest, and the guest's churn
 * risk, computed when asked.
 *
 * It folds every event of a guest's stream (streams not starting with
 * '$') and keeps no personal data: where the view shows a personal value
 * (a name, an e-mail, a preference) it keeps the log position of the
 * event that set it, and the view reads that record back through the
 * caller's fetch callback. Once the subject key is destroyed such a
 * value can no longer be read, and the erasure leaves only a marker.
 * One database, every key starting with the stream id and 0x00:
 *
 *   id 0 'a'                   -> the account: u8 1, then A_N u64
 *                                 counters (customer.c)
 *   id 0 'p' field u8          -> profile field set by: at i64, pos u64
 *   id 0 'c' channel 0 purpose -> consent: granted u8, day u32, at i64,
 *                                 pos u64 (purpose "marketing" if absent)
 *   id 0 'f' category          -> preference set by: at i64, pos u64
 *   id 0 'b' booking_id        -> flags u8, channel u8, arrival u32,
 *                                 departure u32, dates at i64, len u8,
 *                                 property
 *   id 0 'i' stay_id           -> flags u8, booking_id (may be empty)
 *   id 0 's' day u32 pos u64   -> a stay: nights u32, property
 *   id 0 'h' property          -> stays u64, last stay day u32
 *   id 0 'm' category          -> spend in the base currency, i64
 *   id 0 'u' currency          -> spend without a rate, i64 (its units)
 *   id 0 'k' complaint_id      -> opened day u32, opened at i64, pos u64,
 *                                 resolved day u32, compensation points
 *                                 i64, len u8, category
 *   id 0 't' at u64 pos u64    -> a touchpoint: type length u8, field
 *                                 count u8, the event's type, then the
 *                                 public summary fields of its body
 *                                 (property, amount, currency, channel,
 *                                 category, booking_id, nps, csat,
 *                                 points, campaign, complaint_id,
 *                                 nights) as msgpack key/value pairs, so
 *                                 the view reads no record for them (at
 *                                 is occurred_at, sign bit flipped)
 *   id 0 'x'                   -> erased: day u32, pos u64 (nothing else
 *                                 is left, later events are ignored)
 *
 * Numbers are big-endian; days are YYYYMMDD of occurred_at (UTC); "at"
 * is occurred_at in µs. Events may be recorded out of occurred_at order:
 * where one value replaces another (a profile field, a consent, a
 * preference, the dates of a booking, the last NPS or CSAT) the latest
 * occurred_at wins, the later position on a tie; first and last stay are
 * the least and greatest day.
 *
 * A booking's status follows from what happened to it, in any order:
 * checked_out, else checked_in, else cancelled, else confirmed, else
 * created. A check-in wins over a cancellation (the stay happened); a
 * cancellation with reason "no_show" is a no-show, and so is a booking
 * still created or confirmed whose arrival is before today. Check-outs
 * reach the booking through the stay_id its check-in named. Spend is
 * converted to the base currency at the rate in force on the event's day
 * (rounded to the nearest minor unit); a currency without a rate that
 * day is kept apart, unconverted. Refunds (negative amounts) reduce the
 * totals; orders counts the positive converted spends.
 *
 * Churn risk, 0-100, the sum of (each rounded to the nearest point):
 *   recency, up to 40: with two stays or more, the usual interval is the
 *     median of the gaps between consecutive stay days; days since the
 *     last stay beyond it score 40 * min(1, (since - usual) / usual).
 *     With one stay or none, days since that stay (else since
 *     registration; neither: 0) score 40 * min(1, since / dormant_days).
 *   frequency, up to 20: fewer stays in the last 365 days (today
 *     included) than in the 365 before score 20 * (prev - last) / prev.
 *   detractor, 5 to 20: a last NPS of 6 or less scores
 *     max(5, 20 * (7 - nps) / 7).
 *   complaint, up to 20: 10 per open complaint, 5 more for each open
 *     past the complaint SLA.
 * The reasons with points are listed biggest first (codes "recency",
 * "frequency", "detractor", "complaint"). An erased guest scores 0.
 */
#ifndef CRM_PROJ_CUSTOMER_H
#define CRM_PROJ_CUSTOMER_H

#include <msgpack.h>

#include "proj.h"
#include "settings.h"

extern const crm_proj_def crm_proj_customer;

/* Reads the stored record at position into *out, which stays valid until
 * the next call or the end of the caller's read: 0, or nonzero if it is
 * unavailable (the field it would give is left out of the view). */
typedef int (*crm_customer_fetch)(void *arg, uint64_t position,
                                  crm_record *out);

typedef struct crm_customer_query {
    int64_t now_us;               /* today, from the caller */
    const crm_settings *settings; /* in force today; NULL: the defaults */
    crm_customer_fetch fetch;     /* NULL: no personal values */
    void *fetch_arg;
    size_t touchpoints; /* most shown, newest first (say 20) */
    size_t extra;       /* map entries the caller packs after the view */
} crm_customer_query;

/* Packs the view of guest id as one map: id, erased, registered_on,
 * profile {field: value}, consents [{channel, purpose, granted, on}],
 * preferences {category: value}, lifetime {bookings, cancellations,
 * no_shows, stays, nights, flights, spend {category: minor units},
 * spend_total, orders, average_order_value, unconverted [{currency,
 * amount}], first_stay, last_stay, properties [{property, stays,
 * last_stay}], channels [name]}, satisfaction {nps_last, nps_average,
 * nps_count, csat_average, csat_count} (averages float64, nil when none),
 * complaints_open [{complaint_id, category, opened_on, age_hours,
 * past_sla}] (by complaint_id), touchpoints [{position, type,
 * occurred_at, and what of property, amount, currency, channel,
 * category, booking_id, nps, csat, points, campaign, complaint_id,
 * nights the event's body has}], churn {score, reasons [{code, points,
 * text}]}, base_currency; with q->extra more entries for the caller to
 * pack after. Money is in minor units of the base currency; dates are
 * "YYYY-MM-DD" or nil. 0, MDB_NOTFOUND if the guest is unknown, ENOMEM,
 * or an LMDB error code; on an error the packer holds a partial map. */
int crm_customer_pack(MDB_txn *txn, MDB_dbi db, const char *id, size_t len,
                      const crm_customer_query *q, msgpack_packer *pk);

typedef struct crm_customer_churn {
    int score;
    size_t nreasons;
    struct {
        const char *code; /* static */
        int points;
        char text[120]; /* "412 days since the last stay; usually every 95" */
    } reasons[4];
} crm_customer_churn;

/* The churn risk of guest id on q->now_us by q->settings (fetch, touchpoints
 * and extra are not used). 0, MDB_NOTFOUND, ENOMEM or an LMDB error. */
int crm_customer_churn_get(MDB_txn *txn, MDB_dbi db, const char *id, size_t len,
                           const crm_customer_query *q,
                           crm_customer_churn *out);

/* A short summary for find hits: the last stay day (0 none), the
 * positions of the events that set first and last name (0 none), and
 * whether the guest is erased. 0, MDB_NOTFOUND or an LMDB error. */
int crm_customer_brief(MDB_txn *txn, MDB_dbi db, const char *id, size_t len,
                       uint32_t *last_stay, uint64_t *name_pos_first,
                       uint64_t *name_pos_last, int *erased);

/* The position of the event that set profile field (one of the profile
 * fields: "email", "first_name", "address" ...) of guest id, the latest
 * by occurred_at: 0, or MDB_NOTFOUND when no event set it (or the field
 * is not a profile field), or an LMDB error code. */
int crm_customer_field_at(MDB_txn *txn, MDB_dbi db, const char *id,
                          size_t len, const char *field, uint64_t *position);

/* For the desk's other views (tasks.today): fn for each preference
 * category of guest id, by category, with the position of the event
 * that set its value (read it back for the value); and for each
 * property the guest stayed at, by name, with its stays and last stay
 * day. fn returns nonzero to stop. 0 or an LMDB error code (an unknown
 * guest has none). */
int crm_customer_preferences(MDB_txn *txn, MDB_dbi db, const char *id,
                             size_t len,
                             int (*fn)(void *arg, const char *category,
                                       size_t clen, uint64_t position),
                             void *arg);
/* The channels guest id consents to for marketing as things stand (the
 * latest consent event per channel and purpose), as CRM_CH_BIT bits of
 * views.h: what a view that sees contact data only with consent may
 * show. 0 or an LMDB error code (an unknown guest consents to none). */
int crm_customer_consents(MDB_txn *txn, MDB_dbi db, const char *id,
                          size_t len, unsigned *channels);
int crm_customer_properties(MDB_txn *txn, MDB_dbi db, const char *id,
                            size_t len,
                            int (*fn)(void *arg, const char *property,
                                      size_t plen, uint64_t stays,
                                      uint32_t last_stay),
                            void *arg);

#endif
