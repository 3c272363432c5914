/*
 * loyalty.h - the loyalty projection: every guest's balance, tier,
 * accruals with their own expiry, ledger and what qualifies a tier; and
 * what the loyalty desk is told, computed when asked.
 *
 * It folds the loyalty.* events of a guest's stream (the server derives
 * loyalty.points_earned from stays, spend and complaint compensation in
 * the append's own batch, so the projection only replays them) and the
 * nights of stay.checked_out. One database, every key starting with the
 * stream id and 0x00 (stream ids hold no byte below 0x20):
 *
 *   id 0 'a'                    -> the account (below)
 *   id 0 'e' day u32 pos u64    -> accrual: points i64, remaining i64,
 *                                  expires u32 (YYYYMMDD; 0 never)
 *   id 0 'l' pos u64            -> ledger line: kind u8, points i64
 *                                  (signed), balance after i64, day u32,
 *                                  expires u32 (accruals)
 *   id 0 'q' day u32 pos u64    -> qualifying activity: nights i64,
 *                                  points i64 (for tiers)
 *
 * Accruals are keyed by the day they were earned; one that is used up
 * leaves (its ledger line stays). A redemption or a negative adjustment
 * burns the oldest accrual first, among those not expired on its own
 * day; points_expired burns the accrual it names (field "accrual": the
 * earn event's position), else the oldest. An earn event without
 * expires_on expires points_expiry_months after its day, by the rules in
 * force on that day. The account:
 *
 *   u8 1, balance i64, earned i64, redeemed i64, expired i64,
 *   adjusted i64, lines u64, tier day u32, tier pos u64, tier len u8,
 *   tier bytes (no tier_changed yet: "")
 *
 * Numbers are big-endian; days are the event's occurred_at day (UTC).
 */
#ifndef CRM_PROJ_LOYALTY_H
#define CRM_PROJ_LOYALTY_H

#include <msgpack.h>

#include "proj.h"
#include "settings.h"

extern const crm_proj_def crm_proj_loyalty;

enum {
    CRM_LOYALTY_EARNED = 1,
    CRM_LOYALTY_REDEEMED,
    CRM_LOYALTY_EXPIRED,
    CRM_LOYALTY_ADJUSTED,
};

typedef struct crm_loyalty_account {
    int exists;
    int64_t balance, earned, redeemed, expired, adjusted;
    uint64_t lines;
    uint32_t tier_day; /* YYYYMMDD of the last tier change; 0 none */
    uint64_t tier_pos;
    char tier[CRM_SETTINGS_NAME_MAX + 1]; /* "" before any tier change */
} crm_loyalty_account;

/* The account of stream id as txn sees it (exists 0 when it has none). 0
 * or an LMDB error code. */
int crm_loyalty_account_get(MDB_txn *txn, MDB_dbi db, const char *id,
                            size_t id_len, crm_loyalty_account *out);

/* Points that can be redeemed on day: the balance less what lies in
 * accruals that expired before day (not yet swept by points_expired). */
int crm_loyalty_available(MDB_txn *txn, MDB_dbi db, const char *id,
                          size_t id_len, uint32_t day, int64_t *out);

/* Points left in accruals that expire on a day from..to (YYYYMMDD, both
 * included), in *points (0 without any). 0 or an LMDB error code. */
int crm_loyalty_expiring(MDB_txn *txn, MDB_dbi db, const char *id,
                         size_t id_len, uint32_t from, uint32_t to,
                         int64_t *points);

/* Packs what the loyalty desk is told about stream id on day (the only
 * "today" it sees), by the settings in force then: one map of {balance,
 * available, tier, tier_since, qualified_tier, next_tier {tier,
 * nights_needed, points_needed, window_from}, nights_in_window,
 * points_in_window, earned, redeemed, expired, adjusted, expiring
 * [{expires_on, points}] (soonest first, at most 12 dates), lapsed (points
 * past their expiry not yet swept), ledger [{position, kind, points,
 * balance, day, expires_on}] (newest first, at most ledger_max)} with
 * extra more entries for the caller to pack after it. 0 or an LMDB
 * error code; MDB_NOTFOUND when the guest has no loyalty activity. */
int crm_loyalty_pack(MDB_txn *txn, MDB_dbi db, const char *id, size_t id_len,
                     uint32_t day, const crm_settings *s, size_t ledger_max,
                     size_t extra, msgpack_packer *pk);

/* The compact form for the customer-360 view: {balance, available, tier
 * (the lowest of s before any tier change), expiring_next {expires_on,
 * points} or nil}. */
int crm_loyalty_pack_summary(MDB_txn *txn, MDB_dbi db, const char *id,
                             size_t id_len, uint32_t day,
                             const crm_settings *s, msgpack_packer *pk);

/* What a sweep on a day finds due: an accrual past its expiry with
 * points left (kind EXPIRE), or a guest whose tier by the window is not
 * the one recorded (kind TIER; bonus is the new tier's bonus_points on an
 * upgrade, else 0). Strings are valid during the call only. */
enum { CRM_LOYALTY_DUE_EXPIRE = 1, CRM_LOYALTY_DUE_TIER };
typedef struct crm_loyalty_due {
    int kind;
    const char *stream;
    size_t stream_len;
    uint64_t accrual; /* position of the points_earned */
    uint32_t earned;  /* its day */
    int64_t points;   /* left in it */
    const char *from, *to;
    int64_t bonus, nights, window_points;
} crm_loyalty_due;

/* Visits, in key order, everything due on day by the rules s (in force
 * that day): fn returns nonzero to stop. The tier rule: a guest holds the
 * best tier the nights or points earned in the window up to day qualify
 * for; before any tier change a guest holds the lowest. 0 or an LMDB
 * error code. */
int crm_loyalty_sweep(MDB_txn *txn, MDB_dbi db, uint32_t day,
                      const crm_settings *s,
                      int (*fn)(void *arg, const crm_loyalty_due *d),
                      void *arg);

/* The guest's tier for earning: the last tier_changed's, else the
 * lowest-ranked tier of s (or "" when s has none). */
void crm_loyalty_tier_for_earn(const crm_loyalty_account *a,
                               const crm_settings *s, char *out, size_t cap);

#endif
