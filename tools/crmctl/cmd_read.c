/*
 * cmd_read.c - read one stream, read or follow the tenant log.
 *
 * Both page through the server's replies (at most CRM_RPC_MAX_READ events
 * each) so --max can exceed one reply. Output is produced as replies come:
 * a table row per event, or a JSON document whose events array is written
 * item by item, so a long log never has to fit in memory.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "json.h"
#include "out.h"
#include "rpc.h"
#include "timefmt.h"

#define FOLLOW_WAIT_MS 25000
/* A long-poll reply may take the whole wait; the call must outlast it. */
#define FOLLOW_TIMEOUT_MS (FOLLOW_WAIT_MS + 15000)
/* Room for a registration with its personal fields. */
#define SUMMARY_MAX 160
#define TAIL_LAST_DEFAULT 10

enum { COL_POS, COL_STREAM, COL_VER, COL_TYPE, COL_TIME, COL_BODY, NCOLS };

static const char *const headers[NCOLS] = {"POSITION", "STREAM",      "VERSION",
                                           "TYPE",     "OCCURRED_AT", "BODY"};
/* Fixed widths for tables printed as they stream. */
static const int widths[NCOLS] = {8, 16, 7, 25, 20, 0};

/* Where events go: a table or the items of a JSON array. */
typedef struct sink {
    int json, ndjson, with_stream;
    int stream_table; /* print rows as they come */
    ctl_table *table;
    size_t n;   /* events written */
    int opened; /* JSON document or table started */
} sink;

static int
sink_open(sink *s)
{
    if (s->opened)
        return 0;
    s->opened = 1;
    if (s->ndjson)
        return 0;
    if (s->json) {
        fputs("{\"events\":[", stdout);
        return 0;
    }
    /* read leaves STREAM out: every row would repeat the argument. */
    const char *h[NCOLS];
    int w[NCOLS];
    size_t n = 0;
    for (size_t i = 0; i < NCOLS; i++) {
        if (i == COL_STREAM && !s->with_stream)
            continue;
        h[n] = headers[i];
        w[n++] = widths[i];
    }
    s->table =
        ctl_table_open(n, h, s->stream_table ? w : NULL, s->stream_table);
    if (s->table == NULL)
        return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    return 0;
}

static int
sink_event(sink *s, const msgpack_object *ev)
{
    int rc = sink_open(s);
    if (rc != 0)
        return rc;
    if (s->json || s->ndjson) {
        json_t *j = ctl_json_from_mp(ev);
        char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (txt == NULL)
            return ctl_error(CRM_ERR_NOMEM, "cannot format JSON output");
        if (s->ndjson) {
            puts(txt);
            fflush(stdout); /* a follower's reader waits for each line */
        } else {
            fputs(s->n ? "," : "", stdout);
            fputs(txt, stdout);
        }
        free(txt);
        s->n++;
        return 0;
    }
    char pos[24], ver[24], stream[CRM_STREAM_MAX + 1], type[CRM_TYPE_MAX + 1];
    char when[CTL_TIME_STRLEN + 1], body[SUMMARY_MAX];
    snprintf(pos, sizeof(pos), "%" PRIu64, ctl_u64(ev, "position", 0));
    snprintf(ver, sizeof(ver), "%" PRIu64, ctl_u64(ev, "version", 0));
    ctl_time_format(ctl_i64(ev, "occurred_at", -1), 0, when);
    const msgpack_object *red = crm_mp_get(ev, "pii_redacted");
    ctl_out_summary(crm_mp_get(ev, "body"), crm_mp_get(ev, "pii"),
                    red && red->type == MSGPACK_OBJECT_BOOLEAN &&
                        red->via.boolean,
                    body, sizeof(body));
    const char *row[NCOLS];
    size_t n = 0;
    row[n++] = pos;
    if (s->with_stream)
        row[n++] = ctl_str(ev, "stream", stream, sizeof(stream));
    row[n++] = ver;
    row[n++] = ctl_str(ev, "type", type, sizeof(type));
    row[n++] = when;
    row[n++] = body;
    if (ctl_table_row(s->table, row) != 0)
        return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    s->n++;
    return 0;
}

/* Ends the output; suffix closes the JSON document ("],...}"). Called on
 * failures too, so that what was printed stays well-formed. */
static void
sink_close(sink *s, const char *suffix)
{
    if (s->opened && s->json && !s->ndjson) {
        fputs(suffix, stdout);
        fflush(stdout);
    }
    ctl_table_close(s->table);
    s->table = NULL;
}

static const msgpack_object *
events_of(const msgpack_object *res)
{
    const msgpack_object *evs = crm_mp_get(res, "events");
    return evs && evs->type == MSGPACK_OBJECT_ARRAY ? evs : NULL;
}

/* --- read ----------------------------------------------------------------- */

int
ctl_cmd_read(ctl *c, const ctl_args *a)
{
    sink s = {.json = c->json};
    int64_t from, max;
    uint64_t last_version = 0;
    int rc;

    if ((rc = ctl_arg_int(a, "from-version", 0, 0, INT64_MAX, &from)) != 0 ||
        (rc = ctl_arg_int(a, "max", INT64_MAX, 1, INT64_MAX, &max)) != 0)
        return rc;
    for (int64_t got = 0; got < max;) {
        const msgpack_object *res, *evs;
        int64_t want =
            max - got < CRM_RPC_MAX_READ ? max - got : CRM_RPC_MAX_READ;
        ctl_kv kv[] = {CTL_S("stream", a->pos[0]), CTL_I("from_version", from),
                       CTL_I("max", want)};
        if ((rc = ctl_call_kv(c, "read.stream", kv, 3, &res)) != 0)
            break;
        if ((evs = events_of(res)) == NULL) {
            rc = ctl_error(CRM_ERR_INTERNAL, "reply has no 'events' list");
            break;
        }
        last_version = ctl_u64(res, "last_version", 0);
        if ((rc = sink_open(&s)) != 0)
            break;
        for (uint32_t i = 0; i < evs->via.array.size && rc == 0; i++) {
            rc = sink_event(&s, &evs->via.array.ptr[i]);
            from = (int64_t)ctl_u64(&evs->via.array.ptr[i], "version", 0) + 1;
            got++;
        }
        if (rc != 0 || evs->via.array.size == 0 ||
            (uint64_t)from > last_version)
            break;
    }
    char suffix[64];
    snprintf(suffix, sizeof(suffix), "],\"last_version\":%" PRIu64 "}\n",
             last_version);
    sink_close(&s, suffix);
    return rc;
}

/* --- tail ----------------------------------------------------------------- */

typedef struct page {
    uint64_t head, next;
    uint32_t count;
} page;

/* One read.all call; prints its events. Transient failures of a follower
 * come back unreported (rc -1) so the loop can retry them. */
static int
read_page(ctl *c, sink *s, uint64_t from, int64_t max, int wait_ms, page *p,
          crm_error *why)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    const msgpack_object *res, *evs;
    int rc;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = msgpack_pack_map(&pk, wait_ms ? 3 : 2);
    rc |= crm_mp_pack_cstr(&pk, "from") | msgpack_pack_uint64(&pk, from);
    rc |= crm_mp_pack_cstr(&pk, "max") | msgpack_pack_int64(&pk, max);
    if (wait_ms)
        rc |= crm_mp_pack_cstr(&pk, "wait_ms") | msgpack_pack_int(&pk, wait_ms);
    if (rc != 0) {
        rc = ctl_error(CRM_ERR_NOMEM, "cannot build the request");
        goto done;
    }
    crm_err err = ctl_call_quiet(c, "read.all", sb.data, sb.size, &res, why);
    if (err != CRM_OK) {
        rc = wait_ms && (err == CRM_ERR_TIMEOUT || err == CRM_ERR_UNAVAILABLE)
                 ? -1
                 : ctl_fail(why);
        goto done;
    }
    if ((evs = events_of(res)) == NULL) {
        rc = ctl_error(CRM_ERR_INTERNAL, "reply has no 'events' list");
        goto done;
    }
    p->head = ctl_u64(res, "head", 0);
    p->next = ctl_u64(res, "next", from);
    p->count = evs->via.array.size;
    for (uint32_t i = 0; i < evs->via.array.size && rc == 0; i++)
        rc = sink_event(s, &evs->via.array.ptr[i]);
done:
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int
ctl_cmd_tail(ctl *c, const ctl_args *a)
{
    int follow = ctl_flag(a, "follow");
    sink s = {.json = c->json && !follow,
              .ndjson = c->json && follow,
              .with_stream = 1,
              .stream_table = 1};
    crm_error why = {CRM_OK, ""};
    int64_t from, max, last;
    page p = {0};
    int rc, retrying = 0;

    if ((rc = ctl_arg_int(a, "from", 0, 1, INT64_MAX, &from)) != 0 ||
        (rc = ctl_arg_int(a, "max", INT64_MAX, 1, INT64_MAX, &max)) != 0 ||
        (rc = ctl_arg_int(a, "last", TAIL_LAST_DEFAULT, 0, INT64_MAX, &last)) !=
            0)
        return rc;
    if (ctl_arg(a, "from") && ctl_arg(a, "last"))
        return ctl_usage(a->cmd, "give --from or --last, not both");
    if (follow)
        c->min_timeout_ms = FOLLOW_TIMEOUT_MS;
    if (from == 0) {
        /* Like tail(1): start with the last few events. Reading past the
         * head returns no events but tells where the head is. */
        if ((rc = read_page(c, &s, INT64_MAX, 1, 0, &p, &why)) != 0)
            return rc;
        from = p.head >= (uint64_t)last ? (int64_t)(p.head - (uint64_t)last) + 1
                                        : 1;
    }
    p.next = (uint64_t)from;
    /* A follower shows its header before the first event arrives. */
    if (follow && (rc = sink_open(&s)) != 0)
        return rc;
    for (int64_t got = 0; got < max;) {
        int64_t want =
            max - got < CRM_RPC_MAX_READ ? max - got : CRM_RPC_MAX_READ;
        uint64_t at = p.next;
        rc = read_page(c, &s, at, want, follow ? FOLLOW_WAIT_MS : 0, &p, &why);
        if (rc == -1) {
            /* The server restarted or the network dropped: the client
             * reconnects by itself; say so once and keep following. */
            if (!retrying)
                ctl_warn("%s: %s; retrying", crm_err_name(why.code), why.msg);
            retrying = 1;
            p.next = at;
            rc = 0;
            sleep(1);
            continue;
        }
        if (rc != 0)
            break;
        /* A follower writing to a full disk would follow on forever. */
        if (ferror(stdout)) {
            rc = ctl_error(CRM_ERR_IO, "cannot write the output");
            break;
        }
        retrying = 0;
        got += p.count;
        if (!follow && (p.count == 0 || p.next > p.head))
            break;
    }
    if (rc == 0 && !follow)
        rc = sink_open(&s); /* an empty log still gets its header */
    char suffix[80];
    snprintf(suffix, sizeof(suffix),
             "],\"head\":%" PRIu64 ",\"next\":%" PRIu64 "}\n", p.head, p.next);
    sink_close(&s, suffix);
    return rc;
}
