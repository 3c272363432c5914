/*
 * workload.h - the appends crm-bench generates: booking.created events of
 * ~330 stored bytes with one personal field (special_requests), each for
 * a guest drawn at random from a fixed population (stream "cust-NNNNNNN").
 *
 * A generator is one client's sequence: the same seed gives the same
 * guests in the same order, whichever system the events are sent to.
 * One generator per thread; none of it is shared.
 */
#ifndef BENCH_WORKLOAD_H
#define BENCH_WORKLOAD_H

#include <msgpack.h>
#include <stdint.h>

#include "event.h"

/* Room for a stream id "cust-NNNNNNN" and its NUL. */
#define BENCH_STREAM_LEN 24

/* The event type every generated event has. */
#define BENCH_WORKLOAD_TYPE "booking.created"

typedef struct bench_workload {
    uint64_t rng;
    unsigned guests;
    int64_t occurred_at;
    msgpack_sbuffer packed;
    msgpack_zone zone;
    msgpack_object body; /* points into zone */
    char *body_json;     /* the same body as JSON text */
} bench_workload;

/* Prepares a generator for guests streams (guests > 0). Returns 0, or -1
 * when out of memory (w then needs no bench_workload_free). */
int bench_workload_init(bench_workload *w, unsigned seed, unsigned guests);

/* Fills e with the next event: a fresh UUIDv7 id, the next guest's stream
 * written into stream (which e then borrows), the type above, an
 * occurred_at one microsecond after the previous one and the booking body
 * (borrowed from w). */
void bench_workload_next(bench_workload *w, crm_event_in *e,
                         char stream[BENCH_STREAM_LEN]);

/* The body of every event as compact JSON (owned by w). */
const char *bench_workload_body_json(const bench_workload *w);

/* Frees what init allocated. */
void bench_workload_free(bench_workload *w);

#endif
