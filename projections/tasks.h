/*
 * tasks.h - the tasks projection: what a front desk or a travel agency
 * works through each morning, held as indexes by date so that a question
 * for a day reads only the days it covers, never every guest.
 *
 * It folds the events of guests' streams (not starting with '$'). Two
 * databases. "idx", what a question walks:
 *
 *   'b' hmac (32) id                  -> ""  birthday: HMAC of "MM-DD" of
 *                                            the birth date (crm_blind,
 *                                            kind CRM_NORM_BIRTHDAY, under
 *                                            the tenant's index key), only
 *                                            while the guest holds a
 *                                            contact consent (below)
 *   'a' day u32 booking_id 0 id       -> status u8 (1 created, 2
 *                                            confirmed): arrivals of
 *                                            bookings still to come
 *   'u' at u64 id 0 booking_id        -> channel u8: online bookings (web,
 *                                            app, ota) still created, by
 *                                            their created time
 *   'c' at u64 id 0 complaint_id      -> "": open complaints, by their
 *                                            opened time
 *   'l' day u32 id                    -> "": the guest's last activity,
 *                                            the greatest of its
 *                                            stay.checked_out and
 *                                            booking.created days
 *   'e' day u32 id                    -> "": a day an accrual of the guest
 *                                            expires (loyalty.points_earned:
 *                                            expires_on, else
 *                                            points_expiry_months after the
 *                                            day earned, by the rules in
 *                                            force that day); never removed
 *                                            but by an erasure: a question
 *                                            asks the loyalty projection
 *                                            what is left
 *   'h' bucket u16                    -> guests u64: how many guests'
 *                                            lifetime spend lies in bucket
 *                                            b: eight buckets per power of
 *                                            two, b = 8e + s + 1 for 2^e <=
 *                                            spend < 2^(e+1) and s the
 *                                            three bits after the leading
 *                                            one (0 below 8); a spend of 0
 *                                            or less is in none
 *
 * and "guest", what the fold must remember, every key starting with the
 * stream id and 0x00:
 *
 *   id 0 'g'              -> u8 1, flags u8 (1 erased: nothing else is
 *                            kept, later events are ignored), birthday
 *                            u16 (MMDD; 0 none), its at i64, last day u32,
 *                            spend i64 (base currency, at the rate of each
 *                            amount's day, halves away from zero), consent
 *                            u8 (bit c: channel c of email sms phone post
 *                            push whatsapp granted for marketing)
 *   id 0 'c' channel u8   -> granted u8, at i64 (purpose "marketing" or
 *                            none; the latest occurred_at wins)
 *   id 0 'b' booking_id   -> flags u8 (1 created, 2 confirmed, 4
 *                            cancelled, 8 checked in), channel u8 (index
 *                            in the schema's list + 1; 0 none), arrival
 *                            u32, departure u32, dates at i64, created at
 *                            i64, len u8 property, len u8 room_type
 *   id 0 'k' complaint_id -> flags u8 (1 opened, 2 resolved), opened at
 *                            i64, severity u8 (low 1 .. critical 4; 0
 *                            none), len u8 property, len u8 category
 *   id 0 'd' destination  -> "": a charter destination (charter.flight_booked)
 *   id 0 'x' day u32      -> "": the guest's entry 'e' of that day
 *
 * Numbers are big-endian; days YYYYMMDD of occurred_at (UTC) unless the
 * body gives one; "at" is occurred_at in µs with its sign bit flipped in
 * keys. A booking's dates and room type are the latest by occurred_at
 * (booking.created or .modified); its status follows from the set of its
 * events in any order: checked in, else cancelled, else confirmed, else
 * created. An erasure removes every index entry of the guest and every
 * key under its id but the erased row. Nothing here names a personal
 * value: a birthday is an HMAC, properties and categories are the
 * business's own words.
 *
 * A guest holds a contact consent when the latest consent_changed with
 * purpose "marketing" (or none) grants at least one channel.
 */
#ifndef CRM_PROJ_TASKS_H
#define CRM_PROJ_TASKS_H

#include <stdint.h>

#include "proj.h"
#include "settings.h"

extern const crm_proj_def crm_proj_tasks;

enum {
    CRM_TASKS_BIRTHDAYS,
    CRM_TASKS_ARRIVALS,
    CRM_TASKS_UNCONFIRMED,
    CRM_TASKS_COMPLAINTS,
    CRM_TASKS_DORMANT,
    CRM_TASKS_POINTS,
    CRM_TASKS_NSECTIONS
};
/* Their names in the reply, in this order. */
extern const char *const crm_tasks_section_names[CRM_TASKS_NSECTIONS];

#define CRM_TASKS_DAYS_MAX 31
#define CRM_TASKS_DORMANT_WINDOW 30 /* days a guest counts as newly dormant */

typedef struct crm_tasks_query {
    MDB_txn *txn;
    MDB_dbi idx, guest;      /* the projection's live databases */
    int has_loyalty;         /* points_expiring stays empty without */
    MDB_dbi loyalty;
    const uint8_t *index_key; /* CRM_PROJ_INDEX_KEY_LEN bytes */
    const crm_settings *settings; /* in force at the moment */
    int64_t moment;          /* µs: what "past the threshold" is measured at */
    uint32_t on;             /* YYYYMMDD, the first day asked */
    unsigned days;           /* on..on+days, both included */
    const char *property;    /* NULL: every property */
    size_t property_len;
} crm_tasks_query;

/* One item; strings point into the transaction's pages (valid while it
 * lasts) and are not NUL-terminated. */
typedef struct crm_tasks_item {
    const char *customer;
    size_t customer_len;
    uint32_t day;       /* birthday this year, arrival, last activity, or
                           first expiry */
    uint32_t departure; /* arrivals */
    int64_t in_days;    /* birthdays: day - on */
    const char *id;     /* booking_id or complaint_id */
    size_t id_len;
    const char *property, *room_type, *category;
    size_t property_len, room_type_len, category_len;
    const char *status;   /* "created" or "confirmed" */
    const char *channel;  /* unconfirmed */
    const char *severity; /* complaints; NULL none */
    int64_t at;           /* created_at or opened_at, µs */
    int64_t hours;        /* waiting or open, whole hours */
    int64_t amount;       /* lifetime spend (minor units) or points */
    /* birthdays: the channels the guest consents to for marketing, bit i
     * for crm_tasks_channel(i) */
    unsigned channels;
} crm_tasks_item;

/* The name of consent channel i ("email", "sms", ...), NULL past the
 * last. */
const char *crm_tasks_channel(unsigned i);

/* Calls fn for the items of section, in its order, at most limit of them
 * (fn returning nonzero stops without error); *more is 1 when the limit
 * cut it. Orders: birthdays by day then id (on a 28 February without a
 * 29th, those born on the 28th first, then those born on the 29th); arrivals by day then
 * booking_id; unconfirmed and complaints oldest first; dormant by spend,
 * most first, then id; points by first expiry, then id.
 *   birthdays    guests with a contact consent whose birth month-day is on
 *                one of on..on+days (29 February counts on 28 February of
 *                a year without one)
 *   arrivals     bookings created or confirmed arriving on..on+days, at
 *                the property if one is asked
 *   unconfirmed  online bookings still created whose created time is more
 *                than booking_confirm_hours before the moment (property
 *                filter applies)
 *   complaints   open complaints opened more than complaint_sla_hours
 *                before the moment (property filter applies)
 *   dormant      guests whose last activity is on a day from on -
 *                dormant_days - 30 to on - dormant_days and whose spend is
 *                at or above the high-value line
 *   points       guests with points left in accruals expiring from on to
 *                the last day of on's month
 * 0, ENOMEM or an LMDB error code. */
int crm_tasks_section(const crm_tasks_query *q, int section, size_t limit,
                      int (*fn)(void *arg, const crm_tasks_item *it),
                      void *arg, int *more);

/* The tenant's high-value line in minor units: the lower bound of the
 * spend bucket in which the top 20% of the guests with a spend above 0
 * (ceil(n / 5) of them, counted from the highest bucket down) is reached
 * (so within an eighth of a power of two of the exact line); 0 when no
 * guest has spent. Reads at most 504 keys. */
int crm_tasks_high_value_line(MDB_txn *txn, MDB_dbi idx, int64_t *line);

/* What the fold keeps of guest id for the desk: open complaints, and the
 * charter destinations (fn per IATA code, in order; nonzero stops). 0 or
 * an LMDB error code. */
int crm_tasks_open_complaints(MDB_txn *txn, MDB_dbi guest, const char *id,
                              size_t len, unsigned *n);
int crm_tasks_destinations(MDB_txn *txn, MDB_dbi guest, const char *id,
                           size_t len,
                           int (*fn)(void *arg, const char *iata, size_t n),
                           void *arg);

#endif
