/* customer_int.h - what the fold (customer.c) and the view
 * (customer_view.c) of the customer-360 projection share: the key form,
 * the account's counters and the value layouts of customer.h. */
#ifndef CRM_PROJ_CUSTOMER_INT_H
#define CRM_PROJ_CUSTOMER_INT_H

#include <string.h>

#include "be.h"
#include "customer.h"
#include "schema.h"

#define CUST_SFX_MAX 80 /* longest suffix: an id of 64 bytes, two strings */
#define CUST_KEY_MAX (CRM_STREAM_MAX + 2 + CUST_SFX_MAX)
#define CUST_STR_MAX 64 /* booking, stay and complaint ids, properties */

/* The account's counters, u64 each (signed ones stored as their two's
 * complement): in this order after the leading version byte. */
enum {
    A_EVENTS,  /* events folded, one touchpoint each */
    A_REG_DAY, /* first customer.registered; 0 none */
    A_STAYS,
    A_NIGHTS,
    A_FIRST_STAY, /* least check-out day; 0 none */
    A_LAST_STAY,  /* greatest */
    A_FLIGHTS,
    A_ORDERS,   /* positive converted spends */
    A_SPEND,    /* i64, base currency */
    A_CHANNELS, /* bit i: cust_channels[i] */
    A_MERGED,
    A_MERGED_POS,
    A_NPS_N,
    A_NPS_SUM,
    A_NPS_LAST,
    A_NPS_AT, /* i64 */
    A_CSAT_N,
    A_CSAT_SUM,
    A_CSAT_LAST,
    A_CSAT_AT, /* i64 */
    A_N
};
#define CUST_ACCT_LEN (1 + 8 * A_N)

typedef struct cust_acct {
    int exists;
    uint64_t v[A_N];
} cust_acct;

/* booking flags */
enum {
    BK_CREATED = 1,
    BK_CONFIRMED = 2,
    BK_CANCELLED = 4,
    BK_NO_SHOW = 8,
    BK_IN = 16,
    BK_OUT = 32,
};
#define CUST_BOOKING_MIN 19 /* flags, channel, arrival, departure, at, len */
#define CUST_COMPLAINT_MIN 33
#define CUST_STAY_MIN 4

#define CUST_NFIELDS 11
extern const char *const cust_fields[CUST_NFIELDS];
extern const char *const cust_channels[]; /* NULL-terminated */

/* The key id 0 tag [suffix]; its length. */
static inline size_t
cust_key(uint8_t *k, const char *id, size_t len, uint8_t tag, const void *sfx,
         size_t slen)
{
    memcpy(k, id, len);
    k[len] = 0;
    k[len + 1] = tag;
    if (slen)
        memcpy(k + len + 2, sfx, slen);
    return len + 2 + slen;
}

int cust_acct_get(MDB_txn *txn, MDB_dbi db, const char *id, size_t len,
                  cust_acct *a);
/* *erased: whether the guest's erasure marker is there. 0 or an LMDB
 * error code. */
int cust_erased(MDB_txn *txn, MDB_dbi db, const char *id, size_t len,
                int *erased);

#endif
