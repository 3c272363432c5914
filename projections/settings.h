/*
 * settings.h - the tenant's settings as events: the settings projection
 * and the rules it resolves.
 *
 * Settings live in the stream $tenant as tenant.* events (schema.c), each
 * setting what it names from its effective_from day on. The projection
 * keeps every change, keyed by that day and the change's log position:
 *
 *   changes: day (YYYYMMDD, u32 BE), position (u64 BE) -> kind (u8), body
 *            0xff -> hash of the last change's record (the stamp)
 *
 * and crm_settings_at folds them into the settings in force on a day as
 * known at a position: of the changes recorded up to that position and
 * effective on or before that day, the one with the latest day (then the
 * latest position) wins, field by field. A projection applying an event
 * asks for its day and its own position, so a rebuild, which already
 * sees changes recorded later, uses the rules the inline apply used.
 *
 * Without any change a tenant has the defaults of crm_settings_defaults.
 */
#ifndef CRM_PROJ_SETTINGS_H
#define CRM_PROJ_SETTINGS_H

#include <msgpack.h>

#include "proj.h"

#define CRM_SETTINGS_RATES_MAX 64
#define CRM_SETTINGS_TIERS_MAX 16
#define CRM_SETTINGS_EARN_MAX 64
#define CRM_SETTINGS_NAME_MAX 40

typedef struct crm_settings_rate {
    char currency[4];
    int64_t rate; /* billionths of the base currency per unit */
    uint32_t from; /* YYYYMMDD */
} crm_settings_rate;

typedef struct crm_settings_tier {
    char name[CRM_SETTINGS_NAME_MAX + 1];
    int64_t rank, min_nights, min_points, bonus_points;
    uint32_t from;
} crm_settings_tier;

typedef struct crm_settings_earn {
    char tier[CRM_SETTINGS_NAME_MAX + 1]; /* or "any" */
    char category[16];                    /* or "any" */
    int64_t per_unit;                     /* billionths of a point */
    uint32_t from;
} crm_settings_earn;

typedef struct crm_settings {
    uint64_t changes;     /* changes folded in */
    uint64_t last_change; /* position of the last one; 0 for none */
    char base_currency[4];
    char country_code[5]; /* digits; "" for none */
    int64_t complaint_sla_hours, dormant_days, points_expiry_months,
        tier_window_months, booking_confirm_hours;
    size_t nrates, ntiers, nearn;
    crm_settings_rate rates[CRM_SETTINGS_RATES_MAX];
    crm_settings_tier tiers[CRM_SETTINGS_TIERS_MAX]; /* by rank */
    crm_settings_earn earn[CRM_SETTINGS_EARN_MAX];
} crm_settings;

extern const crm_proj_def crm_proj_settings;

/* EUR; no country code; complaints 48 h; dormant after 180 days; points
 * expire 24 months after they were earned; tiers over 12 months:
 * ordinary (0), silver (10 nights or 5,000 points; 500 bonus), gold (25
 * nights or 15,000 points; 1,000 bonus); 10 points per unit spent;
 * online bookings confirmed within 24 h. */
void crm_settings_defaults(crm_settings *s);

/* Folds one tenant.* event body into s (what settings.set checks a
 * request with, and what crm_settings_at does for each change). Returns
 * 0, or -1 with why (a static text) if the type is not a settings type
 * or a table would overflow. */
int crm_settings_fold(crm_settings *s, const char *type, size_t type_len,
                      const msgpack_object *body, uint64_t position,
                      const char **why);

/* The settings in force on day (YYYYMMDD) as known at position as_of
 * (UINT64_MAX: everything stored), read from the live changes database
 * of the settings projection in txn. 0 or an LMDB error code. */
int crm_settings_at(MDB_txn *txn, MDB_dbi changes, uint32_t day,
                    uint64_t as_of, crm_settings *out);

/* For projections: the settings in force on day as known at as_of (the
 * applying record's position), from the live settings projection that
 * cx names. *out stays valid until the next call with the same cache.
 * Resolutions are cached in cx->settings_cache and checked against the
 * hash of the last change stored in the transaction, so an aborted
 * transaction or the other generation never gets a stale answer. 0 or an
 * LMDB error code. */
typedef struct crm_settings_cache crm_settings_cache;
crm_settings_cache *crm_settings_cache_new(void);
void crm_settings_cache_free(crm_settings_cache *c); /* accepts NULL */
int crm_settings_for(const crm_proj_ctx *cx, uint32_t day, uint64_t as_of,
                     const crm_settings **out);

/* Days as settings use them: "YYYY-MM-DD" (already valid) to YYYYMMDD,
 * and a UTC time in microseconds to its day. */
uint32_t crm_settings_day(const char *date, size_t len);
uint32_t crm_settings_day_of(int64_t us);
/* The first microsecond (UTC) of day (YYYYMMDD). */
int64_t crm_settings_day_start(uint32_t day);
/* day as "YYYY-MM-DD" in out (11 bytes); "" for 0. */
void crm_settings_day_text(uint32_t day, char out[11]);
/* day plus months (may be negative), the day of the month kept where the
 * month has it and else its last day (2027-01-31 + 1 = 2027-02-28). */
uint32_t crm_settings_day_add_months(uint32_t day, int64_t months);
/* Days from a to b (negative when b is earlier). */
int64_t crm_settings_days_between(uint32_t a, uint32_t b);

/* Lookups in resolved settings. The rate of currency in billionths of
 * the base currency (the base itself is 1), or -1 if it has none. */
int64_t crm_settings_rate_get(const crm_settings *s, const char *currency);
/* amount (minor units) at rate (billionths of the base per unit), to the
 * nearest minor unit of the base, halves away from zero, saturating. */
int64_t crm_settings_convert(int64_t amount, int64_t rate);
/* Points per base-currency unit, in billionths, for a guest of tier
 * spending in category: the most specific rule wins (tier and category,
 * tier and any, any and category, any and any); 0 if none. */
int64_t crm_settings_earn_get(const crm_settings *s, const char *tier,
                               const char *category);

#endif
