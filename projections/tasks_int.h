/* tasks_int.h - what the fold (tasks.c) and the questions (tasks_query.c)
 * of the tasks projection share: key forms and value layouts of
 * tasks.h. */
#ifndef CRM_PROJ_TASKS_INT_H
#define CRM_PROJ_TASKS_INT_H

#include <string.h>

#include "be.h"
#include "schema.h"
#include "tasks.h"

#define TASKS_STR_MAX 64
#define TASKS_KEY_MAX (1 + 32 + CRM_STREAM_MAX + 2 + TASKS_STR_MAX + 8)
#define TASKS_ROW_LEN 25
#define TASKS_ERASED 1
#define TASKS_BOOKING_MIN 28
#define TASKS_BOOKING_MAX (TASKS_BOOKING_MIN + 2 * TASKS_STR_MAX)
#define TASKS_COMPLAINT_MIN 12
#define TASKS_COMPLAINT_MAX (TASKS_COMPLAINT_MIN + 2 * TASKS_STR_MAX)

enum {
    TASKS_BK_CREATED = 1,
    TASKS_BK_CONFIRMED = 2,
    TASKS_BK_CANCELLED = 4,
    TASKS_BK_IN = 8,
};

typedef struct tasks_row {
    int exists;
    uint8_t flags, consent;
    uint16_t birthday; /* MMDD */
    int64_t birth_at;
    uint32_t last_day;
    int64_t spend;
} tasks_row;

typedef struct tasks_booking {
    uint8_t flags, channel;
    uint32_t arrival, departure;
    int64_t dates_at, created_at;
    size_t property_len, room_type_len;
    char property[TASKS_STR_MAX], room_type[TASKS_STR_MAX];
} tasks_booking;

typedef struct tasks_complaint {
    uint8_t flags, severity;
    int64_t opened_at;
    size_t property_len, category_len;
    char property[TASKS_STR_MAX], category[TASKS_STR_MAX];
} tasks_complaint;

extern const char *const tasks_channels[];      /* consent channels */
extern const char *const tasks_book_channels[]; /* the schema's, in order */
extern const char *const tasks_severities[];

/* The key id 0 tag [suffix]; its length. */
static inline size_t
tasks_gkey(uint8_t *k, const char *id, size_t len, uint8_t tag,
           const void *sfx, size_t slen)
{
    memcpy(k, id, len);
    k[len] = 0;
    k[len + 1] = tag;
    if (slen)
        memcpy(k + len + 2, sfx, slen);
    return len + 2 + slen;
}

/* A time in a key: sign bit flipped, so that memcmp orders it. */
static inline uint64_t
tasks_at_key(int64_t at)
{
    return (uint64_t)at ^ (1ull << 63);
}

/* "MM-DD" of MMDD in out (6 bytes). */
static inline void
tasks_md_text(unsigned md, char out[6])
{
    out[0] = (char)('0' + md / 1000 % 10);
    out[1] = (char)('0' + md / 100 % 10);
    out[2] = '-';
    out[3] = (char)('0' + md / 10 % 10);
    out[4] = (char)('0' + md % 10);
    out[5] = 0;
}

int tasks_row_get(MDB_txn *txn, MDB_dbi guest, const char *id, size_t len,
                  tasks_row *row); /* MDB_NOTFOUND: none (row zeroed) */
int tasks_booking_decode(const MDB_val *v, tasks_booking *b);
int tasks_complaint_decode(const MDB_val *v, tasks_complaint *c);
/* 0 no longer expected, 1 created, 2 confirmed. */
int tasks_booking_status(const tasks_booking *b);
int tasks_online(int channel);
/* The spend histogram's bucket of spend (0: none, spend <= 0), and the
 * least spend in bucket b. */
#define TASKS_BUCKETS 512
int tasks_bucket(int64_t spend);
int64_t tasks_bucket_floor(int b);

#endif
