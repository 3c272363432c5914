/*
 * chain.h - the guests of a synthetic hotel chain and what they do, as the
 * appends crm-bench guests sends: a registration per guest (names, e-mail,
 * phone, birth date, loyalty number), then a mix of bookings (some
 * cancelled), stays with nights and folios in EUR or USD, spend, surveys
 * with NPS and CSAT, complaints opened and resolved (some with points),
 * interactions, marketing messages, consents, preferences and profile
 * updates.
 *
 * A guest's profile depends on its number alone; a generator's events on
 * its options alone (the seed, its share of the guests, its clock), so a
 * run can be made again with the same chain. Event ids are UUIDv7, as a
 * client makes them. One generator per thread; none of it is shared.
 */
#ifndef BENCH_CHAIN_H
#define BENCH_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "workload.h"

/* Most events an append holds, the ones the server derives included
 * (PROTOCOL.md, max_batch_events). */
#define BENCH_CHAIN_BATCH_MAX 1000

/* What a guest registered with. */
typedef struct bench_guest {
    char id[BENCH_STREAM_LEN]; /* the stream: "cust-NNNNNNN" */
    const char *first_name, *last_name;
    char email[96];
    char phone[20];
    char birth_date[11];
    char loyalty_number[16];
} bench_guest;

/* Fills g with guest number i's profile. */
void bench_chain_guest(unsigned i, bench_guest *g);

/* The name of the chain's property i % its number of properties. */
const char *bench_chain_property(unsigned i);

typedef struct bench_chain_opts {
    unsigned guests;      /* the chain's guests are 0..guests-1 */
    unsigned part, parts; /* this generator's: number % parts == part */
    uint64_t seed;
    int register_guests; /* first a customer.registered per guest */
    int64_t from;        /* occurred_at of the first activity, UTC µs */
    int64_t step;        /* µs the generator's clock moves per event */
} bench_chain_opts;

typedef struct bench_chain bench_chain;

/* Makes a generator (parts 1..guests, part < parts). Returns 0, or -1
 * when out of memory or the options are out of range (*out NULL). */
int bench_chain_open(const bench_chain_opts *o, bench_chain **out);

/* Frees c. Accepts NULL. */
void bench_chain_close(bench_chain *c);

/* Packs the args of the next append, {events: [...]}: the next events in
 * order, at most max (1..1000) of them and at most stored_max (1..1000)
 * with the loyalty.points_earned the server adds after a stay's checkout,
 * a spend and a complaint resolved with points. The bytes (*args, *len)
 * belong to c until the next call; *stored (may be NULL) is how many
 * events the append will store if every rate needed is set. Returns the
 * events packed: 0 when out of memory. */
size_t bench_chain_next(bench_chain *c, size_t max, size_t stored_max,
                        const void **args, size_t *len, size_t *stored);

/* Registrations this generator has left to send. */
unsigned bench_chain_unregistered(const bench_chain *c);

#endif
