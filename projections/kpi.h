/*
 * kpi.h - the KPI projection: what marketing and the managers read per
 * property and per month (NPS and CSAT, repeat stays, order value,
 * revenue and lifetime value, complaints, booking conversion, campaign
 * messages), kept as sums so that a query never looks at a guest.
 *
 * It folds the events of guests' streams (streams not starting with '$';
 * the settings of $tenant are read through settings.h) into one
 * aggregate per (scope, month). A scope is the whole tenant or one
 * property; an event adds to the tenant scope and, when its body names a
 * property (the complaint's or the booking's property for a resolution
 * or a check-in, which do not name one), to that property's scope too.
 * A month is YYYYMM (u32) of the event's occurred_at (UTC). Aggregates
 * hold no personal data and nothing that names a guest: an erasure
 * leaves every total as it was.
 *
 * Two databases. "agg", what queries read:
 *
 *   'm' scope 0 month u32      -> the aggregate: u8 1, then KPI_F_N u64
 *                                 counters in the order of the enum
 *                                 below (signed ones as two's complement)
 *   'y' scope 0 year u16       -> the year's revenue i64, new spenders i64
 *                                 (the sums of its months: lifetime value
 *                                 reads a year as one key)
 *   'c' month u32 campaign     -> sent u64, opened u64, clicked u64
 *   'p' property               -> first month u32, last month u32 with
 *                                 anything in the property's scope
 *
 * and "guest", the little each guest's events must remember, keyed by
 * the guest's stream id (no personal value; dropped on customer.erased):
 *
 *   id 0 's' scope 0 month u32 -> stays at scope in that month, u32
 *   id 0 'f' scope             -> month of the guest's first order at
 *                                 scope, u32
 *   id 0 'b' booking_id        -> flags u8 (1 created, 2 checked in),
 *                                 created month u32, len u8, property
 *   id 0 'k' complaint_id      -> flags u8 (1 opened, 2 resolved),
 *                                 opened at i64, resolved at i64, len u8,
 *                                 property (may be empty)
 *   id 0 'x'                   -> erased: position u64 (the guest's later
 *                                 records are ignored)
 *
 * The tenant scope is the empty string, so its keys sort first. Numbers
 * are big-endian; "at" is occurred_at in µs. Properties, campaigns and
 * booking and complaint ids are strings of 1..64 bytes without NUL (as
 * the schema has them): an event whose property is missing or not such
 * a string counts in the tenant scope only; a message without such a
 * campaign only in the tenant's message counts; a booking or complaint
 * event without such an id not at all. Events dated outside years
 * 1..9999 are ignored.
 *
 * What each event adds, at month M of its occurred_at:
 *   feedback.survey_submitted  nps 9-10 a promoter, 7-8 a passive, 0-6 a
 *                              detractor; csat 1-5 to csat_n, csat_sum.
 *   stay.checked_out           a stay and its nights; and the guest's
 *                              stays at the scope decide stayers and
 *                              repeaters (below).
 *   spend.recorded             amount converted to the base currency at
 *                              the rate in force on the event's day
 *                              (crm_settings_for, rounded to the nearest
 *                              minor unit, halves away from zero): above
 *                              0 an order (orders, order_value), below 0
 *                              a refund (refunds, refund_value, as a
 *                              positive sum); a currency without a rate
 *                              that day counts in unconverted only.
 *   booking.created            a booking in M; converted in M once the
 *                              guest's stay.checked_in names its
 *                              booking_id (recorded before or after it):
 *                              a check-in counts in the month the booking
 *                              was created, at the booking's property.
 *   complaint.opened           opened in M, at its property if it has
 *                              one; complaint.resolved of the same
 *                              complaint_id, once both are in: resolved
 *                              in the month of the resolution, at the
 *                              opening's property, and its resolution
 *                              time in the histogram. A resolution
 *                              without an opening counts nowhere.
 *   marketing.message_*        sent, opened or clicked of the tenant
 *                              scope and of the campaign in M (each in
 *                              its own month, an open not where its
 *                              message was sent).
 *
 * Formulas (a month's row or the range's totals; "nil" when the
 * denominator is 0):
 *   surveys          = promoters + passives + detractors
 *   nps              = 100 * (promoters - detractors) / surveys (float,
 *                      -100..100)
 *   csat_average     = csat_sum / csat_n (float, 1..5)
 *   stayers          = guests with a stay at the scope in the month
 *   repeaters        = those of them with a stay at the scope before
 *                      (an earlier month) or two stays in the month: a
 *                      guest whose stays at the scope, by month, are
 *                      Jan, Mar, Mar is a stayer in Jan and Mar and a
 *                      repeater in Mar
 *   repeat_rate      = repeaters / stayers (float, 0..1); over a range
 *                      both are summed, so a guest counts once per
 *                      month stayed
 *   revenue          = order_value - refund_value (may be negative)
 *   average_order_value = order_value / orders (minor units, rounded)
 *   new_spenders     = guests whose first order at the scope is in the
 *                      month
 *   spenders_to_date = new_spenders of every month up to the month (the
 *                      distinct guests with an order at the scope)
 *   revenue_to_date  = revenue of every month up to the month
 *   lifetime_value   = revenue_to_date / spenders_to_date (minor units,
 *                      rounded halves away from zero); in the totals,
 *                      at the last month of the range
 *   median_resolution_hours = the lower bound (in hours) of the bucket
 *                      holding the ceil(n/2)-th shortest of the n
 *                      resolutions; buckets 0..23 are hours 0..23 (the
 *                      time rounded down to an hour), 24..53 are days
 *                      1..30 (lower bound 24 * d hours), 54 is 31 days
 *                      and more (744); a resolution timed before its
 *                      opening takes 0 hours
 *   conversion_rate  = converted / bookings (float, 0..1)
 * Money is in minor units of the base currency of the day each amount
 * was converted (a change of base currency is not restated).
 *
 * Order: every figure depends on the set of records applied, not on the
 * order they arrived in or their occurred_at order, save that (1) an
 * amount is converted by the rates known at its position (settings.h), so
 * a rate recorded after a spend does not convert it again; (2) of two
 * booking.created for one booking of a guest, or two complaint.opened or
 * complaint.resolved for one complaint, the first recorded counts and
 * the others are ignored; (3) a guest's records after its
 * customer.erased are ignored. customer.merged moves nothing: each
 * stream keeps its own stays and first orders.
 */
#ifndef CRM_PROJ_KPI_H
#define CRM_PROJ_KPI_H

#include <msgpack.h>

#include "proj.h"

extern const crm_proj_def crm_proj_kpi;

/* The counters of an aggregate, as stored. */
#define KPI_HIST_N 55
enum {
    KPI_F_PROMOTERS,
    KPI_F_PASSIVES,
    KPI_F_DETRACTORS,
    KPI_F_CSAT_N,
    KPI_F_CSAT_SUM,
    KPI_F_STAYS,
    KPI_F_NIGHTS,
    KPI_F_STAYERS,
    KPI_F_REPEATERS,
    KPI_F_ORDERS,
    KPI_F_ORDER_VALUE,
    KPI_F_REFUNDS,
    KPI_F_REFUND_VALUE,
    KPI_F_UNCONVERTED,
    KPI_F_NEW_SPENDERS,
    KPI_F_BOOKINGS,
    KPI_F_CONVERTED,
    KPI_F_OPENED,
    KPI_F_RESOLVED,
    KPI_F_SENT,
    KPI_F_MSG_OPENED,
    KPI_F_CLICKED,
    KPI_F_HIST, /* KPI_HIST_N resolution buckets */
    KPI_F_N = KPI_F_HIST + KPI_HIST_N
};
#define CRM_KPI_AGG_LEN (1 + 8 * KPI_F_N)
#define CRM_KPI_MONTHS_MAX 120 /* longest range a query packs */

typedef struct crm_kpi_query {
    const char *property; /* NULL (or len 0): the whole tenant */
    size_t property_len;
    uint32_t from, to;         /* months YYYYMM, from <= to */
    const char *base_currency; /* packed as given; NULL: nil */
    size_t extra;              /* map entries the caller packs after */
} crm_kpi_query;

/* Packs the KPIs of q's scope for the months from..to as one map:
 * property (nil for the tenant), from, to ("YYYY-MM"), base_currency,
 * months [row] (every month of the range, oldest first, zeros where
 * nothing happened), totals (a row over the range, without month: the
 * counts summed, the ratios computed from the sums, lifetime value at
 * the last month); with q->extra more entries for the caller. A row:
 *   month, surveys, promoters, passives, detractors, nps, csat_count,
 *   csat_average, stays, nights, stayers, repeaters, repeat_rate, orders,
 *   order_value, refunds, refund_value, revenue, average_order_value,
 *   unconverted, new_spenders, spenders_to_date, revenue_to_date,
 *   lifetime_value, complaints_opened, complaints_resolved,
 *   median_resolution_hours, bookings, bookings_converted,
 *   conversion_rate, messages_sent, messages_opened, messages_clicked,
 *   campaigns [{campaign, sent, opened, clicked}] (by name; the tenant's
 *   only, empty for a property)
 * Reads the scope's months of the range, its years and months before
 * from (for the figures to date) and the campaigns of the range, nothing
 * of any guest. db is the projection's first database ("agg"), txn any
 * transaction. 0, EINVAL for a bad range or property, ENOMEM, or an
 * LMDB error code; on an error the packer holds a partial map. */
int crm_kpi_pack(MDB_txn *txn, MDB_dbi db, const crm_kpi_query *q,
                 msgpack_packer *pk);

/* Calls fn for every property with KPIs, by name, with the first and
 * last month anything counted there; fn returns nonzero to stop (which
 * is no error). 0 or an LMDB error code. */
typedef int (*crm_kpi_property_fn)(void *arg, const char *property, size_t len,
                                   uint32_t first, uint32_t last);
int crm_kpi_properties(MDB_txn *txn, MDB_dbi db, crm_kpi_property_fn fn,
                       void *arg);

/* Packs them as an array of {property, first, last} ("YYYY-MM"). 0,
 * ENOMEM or an LMDB error code. */
int crm_kpi_properties_pack(MDB_txn *txn, MDB_dbi db, msgpack_packer *pk);

/* "YYYY-MM" to YYYYMM; 0 if it is not one (month 01..12). */
uint32_t crm_kpi_month(const char *text, size_t len);
/* The month of a UTC time in µs. */
uint32_t crm_kpi_month_of(int64_t us);

#endif
