/*
 * batch.h - an append batch: events validated and canonically encoded on
 * the submitting thread, with the expected versions of their streams,
 * ready for a tenant log's writer (log.h); afterwards, each event's
 * outcome. A batch is used by one thread at a time.
 */
#ifndef CRM_BATCH_H
#define CRM_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"

typedef struct crm_batch crm_batch;
typedef struct crm_log_view crm_log_view; /* log.h */

#define CRM_BATCH_MAX 1000         /* events in one append */
#define CRM_BATCH_BYTES (4u << 20) /* canonical bytes in one append */
#define CRM_EXPECT_ANY (-1)        /* no check */
#define CRM_EXPECT_NO_STREAM (-2)  /* stream must not exist yet */
#define CRM_EXPECT_EXISTS (-4)     /* stream must exist */

/* Expected version of one stream for a batch: CRM_EXPECT_* or N >= 0,
 * meaning the stream's last event must have version N. */
typedef struct crm_expect {
    const char *stream;
    size_t stream_len;
    int64_t version;
} crm_expect;

/* Validates and encodes n events into a batch ready for the writer. exp
 * lists expected versions (at most one per stream, each naming a stream of
 * the batch). actor is the key id recorded with each event. Nothing is
 * written. Errors: CRM_ERR_EMPTY_BATCH, CRM_ERR_TOO_LARGE,
 * CRM_ERR_DUPLICATE_ID, CRM_ERR_BAD_REQUEST and the event errors of
 * crm_event_encode; why->msg names the failing event. */
crm_err crm_batch_prepare(const crm_event_in *ev, size_t n,
                          const crm_expect *exp, size_t nexp, const char *actor,
                          size_t actor_len, crm_batch **out, crm_error *why);
void crm_batch_free(crm_batch *b);

/* A command's own check (a redemption against a balance, say). The
 * writer runs it inside the write transaction, after the batch's expected
 * versions and ids have been checked and before its first put, so it sees
 * everything the batches before it in the same commit wrote. CRM_OK lets
 * the batch be written; an error (with why) refuses it and nothing of it
 * is written. Runs on the writer thread: it must be quick and must not
 * block. view is valid only during the call (log.h, crm_log_view_*). */
typedef crm_err (*crm_batch_check_fn)(void *arg, const crm_log_view *view,
                                      const crm_batch *b, crm_error *why);
void crm_batch_set_check(crm_batch *b, crm_batch_check_fn check, void *arg);

/* After the batch completed with CRM_OK: event i's position and stream
 * version, and whether it was already stored (an idempotent retry). */
size_t crm_batch_count(const crm_batch *b);
uint64_t crm_batch_position(const crm_batch *b, size_t i);
uint64_t crm_batch_version(const crm_batch *b, size_t i);
int crm_batch_is_duplicate(const crm_batch *b, size_t i);
/* The outcome once completed; why holds the message (e.g. which stream
 * conflicted and at which version it is). */
crm_err crm_batch_result(const crm_batch *b, crm_error *why);

#endif
