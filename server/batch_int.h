/*
 * batch_int.h - an append batch as batch.c prepares it and the log's
 * writer reads it. What the writer works out while it checks a batch
 * lives in the writer's own scratch (log_int.h, wgroup), not here; the
 * batch only carries its content, its expectations and, once done, its
 * outcome. Not for modules other than the event log.
 */
#ifndef CRM_BATCH_INT_H
#define CRM_BATCH_INT_H

#include <msgpack.h>
#include <stdint.h>

#include "batch.h"
#include "schema.h"

typedef struct bevent {
    size_t off, len; /* canonical content in batch->content */
    size_t pii_at;   /* its pii element, from off (crm_event_pii_at) */
    uint8_t digest[CRM_DIGEST_LEN];
    uint32_t group;
    /* the outcome */
    uint8_t dup;
    uint64_t position, version;
} bevent;

typedef struct bgroup {
    size_t off, len; /* stream id bytes in batch->content */
    int64_t expect;
    int expect_set; /* an expectation named this stream */
} bgroup;

struct crm_batch {
    size_t n, ngroups;
    bevent *ev;
    bgroup *groups;
    msgpack_sbuffer content;
    char actor[CRM_ACTOR_MAX];
    size_t actor_len;
    crm_batch_check_fn check; /* the command's check, or NULL */
    void *check_arg;
    crm_error why;
    /* the writer's queue */
    void (*done)(crm_batch *b, void *arg);
    void *done_arg;
    crm_batch *next;
    int careful; /* look ids up before writing (a retry was detected) */
    int acked;   /* crm_log_append: the outcome is in (under ack_mu) */
};

/* The stream id of a batch's group, inside the batch's content. */
static inline const uint8_t *
batch_stream(const crm_batch *b, const bgroup *g)
{
    return (const uint8_t *)b->content.data + g->off;
}

#endif
