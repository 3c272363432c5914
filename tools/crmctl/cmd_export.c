/*
 * cmd_export.c - customer export: the right of access as one JSON
 * document on stdout,
 *
 *   {"format", "tenant", "guest", "exported_at", "as_of", "erased",
 *    "view", "loyalty", "consents", "events": [...]}
 *
 * stitched from the pages of customer.export as they come: each page's
 * events are written and dropped before the next page is asked, so a long
 * history never has to fit in memory. Times are ISO-8601 UTC. A failure
 * after the first page leaves the document unclosed: a cut export must
 * not pass for a whole one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "json.h"
#include "out.h"
#include "rpc.h"
#include "timefmt.h"

/* Replaces integer member k of object j (µs) by its ISO-8601 text. */
static void
iso_member(json_t *j, const char *k)
{
    json_t *v = json_object_get(j, k);
    if (!json_is_integer(v))
        return;
    char t[CTL_TIME_STRLEN + 1];
    ctl_time_format((int64_t)json_integer_value(v), 1, t);
    json_object_set_new(j, k, json_string(t));
}

/* Writes o as compact JSON, with the time members in times[] as text
 * (in o itself, or in each element when o is an array). 0 or -1. */
static int
write_json(const msgpack_object *o, const char *const *times)
{
    json_t *j = ctl_json_from_mp(o);
    if (j == NULL)
        return -1;
    for (size_t t = 0; times && times[t]; t++) {
        if (json_is_array(j)) {
            size_t i;
            json_t *e;
            json_array_foreach (j, i, e)
                iso_member(e, times[t]);
        } else {
            iso_member(j, times[t]);
        }
    }
    int rc = json_dumpf(j, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return rc;
}

static const char *const event_times[] = {"occurred_at", "recorded_at", NULL};

/* The first page's members before "events", in the document's order. */
static int
write_header(const msgpack_object *res)
{
    static const char *const members[] = {
        "format", "tenant", "guest", "exported_at", "as_of",
        "erased", "view",   "loyalty", "consents"};
    int rc = 0;
    fputc('{', stdout);
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        const msgpack_object *v = crm_mp_get(res, members[i]);
        msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
        printf("%s\"%s\":", i ? "," : "", members[i]);
        if (strcmp(members[i], "exported_at") == 0) {
            char t[CTL_TIME_STRLEN + 1];
            ctl_time_format(ctl_i64(res, "exported_at", -1), 1, t);
            printf("\"%s\"", t);
            continue;
        }
        rc |= write_json(v ? v : &nil,
                         strcmp(members[i], "consents") == 0 ? event_times
                                                             : NULL);
    }
    fputs(",\"events\":[", stdout);
    return rc;
}

/* Writes a page's events; *n counts those written so far. */
static int
write_events(const msgpack_object *res, size_t *n)
{
    const msgpack_object *evs = crm_mp_get(res, "events");
    if (evs == NULL || evs->type != MSGPACK_OBJECT_ARRAY)
        return -1;
    for (uint32_t i = 0; i < evs->via.array.size; i++) {
        fputs(*n ? ",\n" : "\n", stdout);
        if (write_json(&evs->via.array.ptr[i], event_times) != 0)
            return -1;
        (*n)++;
    }
    return 0;
}

/* The cursor of the next page into buf, or NULL on the last. */
static const char *
next_cursor(const msgpack_object *res, char *buf, size_t len)
{
    const msgpack_object *next = crm_mp_get(res, "next");
    if (next == NULL || next->type != MSGPACK_OBJECT_STR ||
        next->via.str.size >= len)
        return NULL;
    memcpy(buf, next->via.str.ptr, next->via.str.size);
    buf[next->via.str.size] = '\0';
    return buf;
}

int
ctl_cmd_customer_export(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    int64_t page;
    char cursor[128];
    const char *at = NULL;
    size_t n = 0;
    int rc = ctl_arg_int(a, "page", 500, 1, CRM_RPC_MAX_READ, &page);
    if (rc != 0)
        return rc;
    do {
        ctl_kv kv[] = {CTL_S("customer", a->pos[0]), CTL_I("max", page),
                       CTL_S("cursor", at)};
        if ((rc = ctl_call_kv(c, "customer.export", kv, 3, &res)) != 0)
            return rc; /* after the first page: the document stays open */
        if ((at == NULL && write_header(res) != 0) ||
            write_events(res, &n) != 0)
            return ctl_error(CRM_ERR_NOMEM, "cannot format JSON output");
        if (ferror(stdout))
            return ctl_error(CRM_ERR_IO, "cannot write the output");
        at = next_cursor(res, cursor, sizeof(cursor));
    } while (at != NULL);
    fputs("\n]}\n", stdout);
    if (fflush(stdout) != 0 || ferror(stdout))
        return ctl_error(CRM_ERR_IO, "cannot write the output");
    return 0;
}
