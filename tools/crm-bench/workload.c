/* workload.c - the generated appends of crm-bench rpc and pg. */
#include "workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"
#include "uuid.h"

/* The booking every event carries, defined once for its msgpack and its
 * JSON form. A field has text or, when text is NULL, the number. */
static const struct booking_field {
    const char *name;
    const char *text;
    int64_t number;
} booking[] = {
    {"booking_id", "BK-00418842", 0},
    {"property", "lisbon-riverside", 0},
    {"arrival", "2027-03-14", 0},
    {"departure", "2027-03-18", 0},
    {"channel", "web", 0},
    {"room_type", "deluxe-king", 0},
    {"guests", NULL, 2},
    {"amount", NULL, 64000},
    {"currency", "EUR", 0},
    /* personal data (the PII column): sealed in a sealed tenant */
    {"special_requests", "late arrival, quiet room", 0},
};
#define NFIELDS (sizeof(booking) / sizeof(booking[0]))

/* JSON of the table; its names and texts need no escapes. */
static char *
booking_json(void)
{
    size_t cap = 16;
    for (size_t i = 0; i < NFIELDS; i++)
        cap += strlen(booking[i].name) +
               (booking[i].text ? strlen(booking[i].text) : 20) + 8;
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    size_t n = 0;
    s[n++] = '{';
    for (size_t i = 0; i < NFIELDS; i++) {
        const struct booking_field *f = &booking[i];
        n += (size_t)(f->text ? snprintf(s + n, cap - n, "%s\"%s\":\"%s\"",
                                         i ? "," : "", f->name, f->text)
                              : snprintf(s + n, cap - n, "%s\"%s\":%lld",
                                         i ? "," : "", f->name,
                                         (long long)f->number));
    }
    snprintf(s + n, cap - n, "}");
    return s;
}

int
bench_workload_init(bench_workload *w, unsigned seed, unsigned guests)
{
    msgpack_packer pk;
    memset(w, 0, sizeof(*w));
    w->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    w->guests = guests;
    w->occurred_at = 1767225600000000; /* 2026-01-01 */
    if ((w->body_json = booking_json()) == NULL)
        return -1;
    if (!msgpack_zone_init(&w->zone, 2048)) {
        free(w->body_json);
        return -1;
    }
    msgpack_sbuffer_init(&w->packed);
    msgpack_packer_init(&pk, &w->packed, msgpack_sbuffer_write);
    int rc = msgpack_pack_map(&pk, NFIELDS);
    for (size_t i = 0; i < NFIELDS; i++) {
        rc |= crm_mp_pack_cstr(&pk, booking[i].name);
        rc |= booking[i].text ? crm_mp_pack_cstr(&pk, booking[i].text)
                              : msgpack_pack_int64(&pk, booking[i].number);
    }
    size_t off = 0;
    if (rc != 0 || msgpack_unpack(w->packed.data, w->packed.size, &off,
                                  &w->zone, &w->body) !=
                       MSGPACK_UNPACK_SUCCESS) {
        bench_workload_free(w);
        return -1;
    }
    return 0;
}

void
bench_workload_next(bench_workload *w, crm_event_in *e,
                    char stream[BENCH_STREAM_LEN])
{
    w->rng ^= w->rng << 13, w->rng ^= w->rng >> 7, w->rng ^= w->rng << 17;
    int n = snprintf(stream, BENCH_STREAM_LEN, "cust-%07u",
                     (unsigned)(w->rng % w->guests));
    crm_uuid_v7(e->id);
    e->stream = stream;
    e->stream_len = (size_t)n;
    e->type = BENCH_WORKLOAD_TYPE;
    e->type_len = sizeof(BENCH_WORKLOAD_TYPE) - 1;
    e->occurred_at = w->occurred_at++;
    e->body = &w->body;
}

const char *
bench_workload_body_json(const bench_workload *w)
{
    return w->body_json;
}

void
bench_workload_free(bench_workload *w)
{
    free(w->body_json);
    w->body_json = NULL;
    msgpack_sbuffer_destroy(&w->packed);
    msgpack_zone_destroy(&w->zone);
}
