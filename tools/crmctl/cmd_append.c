/*
 * cmd_append.c - append events given as JSON: one event or an array of
 * them on the command line (one atomic request), or a JSONL file or stdin
 * (sent in batches, each atomic on its own).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "json.h"
#include "out.h"
#include "rpc.h"
#include "timefmt.h"

#define BATCH_EVENTS 500
/* Streams whose new version the table output names; past these it says
 * there were more (--json lists every version). */
#define STREAMS_SHOWN 20
/* Requests stay well below CRM_RPC_MAX_MSG so a batch of large bodies is
 * split rather than refused whole as too_large. */
#define BATCH_BYTES (3u << 20)

/* A stream the run wrote to, and the version its last new event got. */
typedef struct written {
    char id[CRM_STREAM_MAX + 1];
    size_t len;
    uint64_t version;
    int wrote; /* a new event (not a duplicate) went to it */
} written;

typedef struct appender {
    ctl *c;
    const char *src;       /* input name for messages */
    int split;             /* JSONL: batches; command line: one request */
    msgpack_sbuffer batch; /* packed events of the pending batch */
    msgpack_packer pk;
    size_t n;
    size_t *lines; /* input line of each pending event */
    int *slots;    /* its stream's entry in streams[], or -1 */
    size_t cap;
    msgpack_sbuffer expect; /* packed expect entries, for the first batch */
    size_t nexpect;
    /* totals */
    size_t batches, total, dups, derived;
    uint64_t first, last, head;
    written streams[STREAMS_SHOWN];
    size_t nstreams;
    int untracked;                /* new events in streams not in streams[] */
    json_t *positions, *versions; /* --json only */
} appender;

/* --- expectations --------------------------------------------------------- */

/* Packs every --expect STREAM=VERSION as {stream, version}. The last '='
 * splits, since versions never hold one and stream ids may. */
static int
pack_expectations(appender *ap, const ctl_args *a)
{
    msgpack_packer pk;
    const char *e;
    msgpack_packer_init(&pk, &ap->expect, msgpack_sbuffer_write);
    for (size_t i = 0; (e = ctl_arg_nth(a, "expect", i)) != NULL; i++) {
        const char *eq = strrchr(e, '=');
        if (eq == NULL || eq == e || eq[1] == '\0')
            return ctl_usage(a->cmd, "--expect needs STREAM=VERSION, not '%s'",
                             e);
        const char *v = eq + 1;
        int rc = msgpack_pack_map(&pk, 2) | crm_mp_pack_cstr(&pk, "stream") |
                 crm_mp_pack_str(&pk, e, (size_t)(eq - e)) |
                 crm_mp_pack_cstr(&pk, "version");
        if (strcmp(v, "any") == 0 || strcmp(v, "no_stream") == 0 ||
            strcmp(v, "exists") == 0) {
            rc |= crm_mp_pack_cstr(&pk, v);
        } else {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(v, &end, 10);
            if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno ||
                n > (unsigned long long)INT64_MAX)
                return ctl_usage(a->cmd,
                                 "--expect version must be a number, any, "
                                 "no_stream or exists, not '%s'",
                                 v);
            rc |= msgpack_pack_uint64(&pk, n);
        }
        if (rc != 0)
            return ctl_error(CRM_ERR_NOMEM, "cannot pack --expect");
        ap->nexpect++;
    }
    return 0;
}

/* --- batches -------------------------------------------------------------- */

/* Says which input line a server error about "event N" of the batch means. */
static int
report(const appender *ap, const crm_error *why)
{
    size_t idx;
    if (ap->split && sscanf(why->msg, "event %zu", &idx) == 1 && idx < ap->n)
        return ctl_error(why->code, "%s:%zu: %s", ap->src, ap->lines[idx],
                         why->msg);
    return ctl_fail(why);
}

static int
take_result(appender *ap, const msgpack_object *res)
{
    const msgpack_object *pos = crm_mp_get(res, "positions");
    const msgpack_object *ver = crm_mp_get(res, "versions");
    if (pos == NULL || pos->type != MSGPACK_OBJECT_ARRAY || ver == NULL ||
        ver->type != MSGPACK_OBJECT_ARRAY || pos->via.array.size != ap->n ||
        ver->via.array.size != ap->n)
        return ctl_error(CRM_ERR_INTERNAL,
                         "append reply does not list one position per event");
    /* A batch is written in one go, so its new events take the last
     * positions, one after another; a duplicate answers with its older
     * position. What lies above max - fresh is therefore new. */
    uint64_t dups = ctl_u64(res, "duplicates", 0), max = 0;
    uint64_t fresh = dups < ap->n ? ap->n - dups : 0;
    for (uint32_t i = 0; i < pos->via.array.size; i++)
        if (pos->via.array.ptr[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            pos->via.array.ptr[i].via.u64 > max)
            max = pos->via.array.ptr[i].via.u64;
    for (uint32_t i = 0; i < pos->via.array.size; i++) {
        if (pos->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
            ver->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return ctl_error(CRM_ERR_INTERNAL,
                             "append reply holds a position that is not a "
                             "number");
        uint64_t p = pos->via.array.ptr[i].via.u64;
        uint64_t v = ver->via.array.ptr[i].via.u64;
        if (fresh > 0 && p > max - fresh) {
            if (ap->slots[i] < 0) {
                ap->untracked = 1;
            } else {
                ap->streams[ap->slots[i]].version = v;
                ap->streams[ap->slots[i]].wrote = 1;
            }
        }
        if (ap->total == 0 || p < ap->first)
            ap->first = p;
        if (p > ap->last)
            ap->last = p;
        ap->total++;
        if (ap->positions &&
            (json_array_append_new(ap->positions,
                                   json_integer((json_int_t)p)) ||
             json_array_append_new(ap->versions, json_integer((json_int_t)v))))
            return ctl_error(CRM_ERR_NOMEM, "cannot collect the results");
    }
    /* events the server added after one of ours (the points a stay
     * earns) are the stream's latest: the next --expect counts them */
    const msgpack_object *der = crm_mp_get(res, "derived");
    for (uint32_t i = 0; der && der->type == MSGPACK_OBJECT_ARRAY &&
                         i < der->via.array.size;
         i++) {
        const msgpack_object *d = &der->via.array.ptr[i];
        uint64_t after = ctl_u64(d, "after", UINT64_MAX);
        const msgpack_object *dup = crm_mp_get(d, "duplicate");
        if (after >= ap->n || ap->slots[after] < 0 ||
            (dup && dup->type == MSGPACK_OBJECT_BOOLEAN && dup->via.boolean))
            continue;
        written *w = &ap->streams[ap->slots[after]];
        uint64_t v = ctl_u64(d, "version", 0);
        if (v > w->version || !w->wrote)
            w->version = v;
        w->wrote = 1;
        ap->derived++;
    }
    ap->dups += dups;
    ap->head = ctl_u64(res, "head", ap->head);
    return 0;
}

static int
flush(appender *ap)
{
    msgpack_sbuffer args;
    msgpack_packer pk;
    const msgpack_object *res;
    crm_error why = {CRM_OK, ""};
    int rc;

    if (ap->n == 0)
        return 0;
    /* Expectations hold for the state before the first batch; later
     * batches follow from it. */
    int with_expect = ap->nexpect > 0 && ap->batches == 0;
    msgpack_sbuffer_init(&args);
    msgpack_packer_init(&pk, &args, msgpack_sbuffer_write);
    rc = msgpack_pack_map(&pk, with_expect ? 2 : 1);
    rc |= crm_mp_pack_cstr(&pk, "events") | msgpack_pack_array(&pk, ap->n);
    rc |= msgpack_sbuffer_write(&args, ap->batch.data, ap->batch.size);
    if (with_expect) {
        rc |= crm_mp_pack_cstr(&pk, "expect") |
              msgpack_pack_array(&pk, ap->nexpect);
        rc |= msgpack_sbuffer_write(&args, ap->expect.data, ap->expect.size);
    }
    if (rc != 0) {
        rc = ctl_error(CRM_ERR_NOMEM, "cannot build the request");
        goto done;
    }
    if (ctl_call_quiet(ap->c, "append", args.data, args.size, &res, &why) !=
        CRM_OK) {
        rc = report(ap, &why);
        goto done;
    }
    if ((rc = take_result(ap, res)) != 0)
        goto done;
    ap->batches++;
    ap->n = 0;
    msgpack_sbuffer_clear(&ap->batch);
done:
    msgpack_sbuffer_destroy(&args);
    return rc;
}

/* The entry of ev's stream in ap->streams (added if there is room), or
 * -1. ev has passed ctl_json_pack_event, so its stream is a string. */
static int
stream_slot(appender *ap, const json_t *ev)
{
    const json_t *s = json_object_get(ev, "stream");
    const char *id = json_string_value(s);
    size_t len = json_string_length(s);
    if (id == NULL || len > CRM_STREAM_MAX)
        return -1;
    for (size_t i = 0; i < ap->nstreams; i++)
        if (ap->streams[i].len == len &&
            memcmp(ap->streams[i].id, id, len) == 0)
            return (int)i;
    if (ap->nstreams == STREAMS_SHOWN)
        return -1;
    written *w = &ap->streams[ap->nstreams];
    memcpy(w->id, id, len);
    w->id[len] = '\0';
    w->len = len;
    return (int)ap->nstreams++;
}

/* Adds one event (from input line `line`, 0 for the command line). */
static int
add_event(appender *ap, const json_t *ev, size_t line)
{
    crm_error why = {CRM_OK, ""};
    int rc;

    if (ap->split && ap->n == BATCH_EVENTS && (rc = flush(ap)) != 0)
        return rc;
    size_t mark = ap->batch.size;
    if (ctl_json_pack_event(&ap->pk, ev, ctl_now_us(), &why) != CRM_OK) {
        ap->batch.size = mark;
        if (why.code != CRM_ERR_BAD_REQUEST) /* out of memory: not input */
            return ctl_fail(&why);
        if (line)
            return ctl_bad_input("%s:%zu: %s", ap->src, line, why.msg);
        return ctl_bad_input("%s", why.msg);
    }
    if (ap->split && ap->batch.size > BATCH_BYTES && ap->n > 0) {
        /* Send what came before; this event opens the next batch. */
        size_t len = ap->batch.size - mark;
        char *ev_bytes = malloc(len);
        if (ev_bytes == NULL)
            return ctl_error(CRM_ERR_NOMEM, "cannot hold the event");
        memcpy(ev_bytes, ap->batch.data + mark, len);
        ap->batch.size = mark;
        rc = flush(ap);
        if (rc == 0)
            rc = msgpack_sbuffer_write(&ap->batch, ev_bytes, len) != 0
                     ? ctl_error(CRM_ERR_NOMEM, "cannot hold the event")
                     : 0;
        free(ev_bytes);
        if (rc != 0)
            return rc;
    }
    if (ap->n == ap->cap) {
        size_t cap = ap->cap ? ap->cap * 2 : 64;
        size_t *nl = realloc(ap->lines, cap * sizeof(*nl));
        if (nl == NULL)
            return ctl_error(CRM_ERR_NOMEM, "cannot hold the batch");
        ap->lines = nl;
        int *ns = realloc(ap->slots, cap * sizeof(*ns));
        if (ns == NULL)
            return ctl_error(CRM_ERR_NOMEM, "cannot hold the batch");
        ap->slots = ns;
        ap->cap = cap;
    }
    ap->slots[ap->n] = stream_slot(ap, ev);
    ap->lines[ap->n++] = line;
    return 0;
}

/* --- inputs --------------------------------------------------------------- */

static int
from_argument(appender *ap, const char *text)
{
    json_error_t jerr;
    int rc = 0;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        return ctl_bad_input("event JSON, column %d: %s", jerr.column,
                             jerr.text);
    if (json_is_array(j)) {
        size_t i;
        json_t *ev;
        if (json_array_size(j) == 0)
            rc = ctl_bad_input("the event array is empty");
        json_array_foreach (j, i, ev) {
            if (rc == 0)
                rc = add_event(ap, ev, 0);
        }
    } else {
        rc = add_event(ap, j, 0);
    }
    json_decref(j);
    return rc;
}

static int
blank(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    return *s == '\0';
}

static int
from_jsonl(appender *ap, FILE *f)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;

    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        json_error_t jerr;
        lineno++;
        if (blank(line))
            continue;
        json_t *ev =
            json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
        if (ev == NULL) {
            rc = ctl_bad_input("%s:%zu: %s", ap->src, lineno, jerr.text);
            break;
        }
        rc = add_event(ap, ev, lineno);
        json_decref(ev);
    }
    if (rc == 0 && ferror(f))
        rc = ctl_file_error("cannot read input file", ap->src, errno);
    if (rc == 0 && ap->n == 0 && ap->batches == 0)
        rc = ctl_bad_input("%s holds no events", ap->src);
    free(line);
    return rc;
}

/* --- output --------------------------------------------------------------- */

static int
print_totals(appender *ap)
{
    if (ap->c->json) {
        json_t *j =
            json_pack("{sIsIsOsOsIsI}", "count", (json_int_t)ap->total,
                      "batches", (json_int_t)ap->batches, "positions",
                      ap->positions, "versions", ap->versions, "duplicates",
                      (json_int_t)ap->dups, "head", (json_int_t)ap->head);
        return ctl_out_json(j);
    }
    if (ap->total == 1) {
        if (ap->dups)
            printf("already stored at position %" PRIu64 " (an event with "
                   "this id was appended before; nothing new was written)\n",
                   ap->first);
        else if (ap->nstreams == 1 && ap->streams[0].wrote)
            printf("appended 1 event at position %" PRIu64 ": %s version "
                   "%" PRIu64 "\n",
                   ap->first, ap->streams[0].id, ap->streams[0].version);
        else
            printf("appended 1 event at position %" PRIu64 "\n", ap->first);
        if (ap->derived)
            printf("  and the loyalty.points_earned it earns (the version "
                   "above counts it)\n");
        return 0;
    }
    printf("appended %zu events in %zu batch%s: positions %" PRIu64 "..%" PRIu64
           ", %zu duplicate%s, head %" PRIu64 "\n",
           ap->total, ap->batches, ap->batches == 1 ? "" : "es", ap->first,
           ap->last, ap->dups, ap->dups == 1 ? "" : "s", ap->head);
    /* What the next --expect of each stream written to would name. */
    for (size_t i = 0; i < ap->nstreams; i++)
        if (ap->streams[i].wrote)
            printf("  %s version %" PRIu64 "\n", ap->streams[i].id,
                   ap->streams[i].version);
    if (ap->untracked)
        printf("  ... and more streams (--json lists every version)\n");
    if (ap->derived)
        printf("  and %zu loyalty.points_earned the server added (the "
               "versions above count them)\n", ap->derived);
    return 0;
}

int
ctl_cmd_append(ctl *c, const ctl_args *a)
{
    appender ap = {.c = c};
    const char *file = ctl_arg(a, "file");
    FILE *f = NULL;
    int rc;

    msgpack_sbuffer_init(&ap.batch);
    msgpack_sbuffer_init(&ap.expect);
    msgpack_packer_init(&ap.pk, &ap.batch, msgpack_sbuffer_write);
    if (file && a->npos > 0) {
        rc =
            ctl_usage(a->cmd, "give either EVENT_JSON, - or -f FILE, not both");
        goto done;
    }
    if (!file && a->npos == 0) {
        rc = ctl_usage(a->cmd,
                       "nothing to append: give EVENT_JSON, - or -f FILE");
        goto done;
    }
    if ((rc = pack_expectations(&ap, a)) != 0)
        goto done;
    if (c->json && ((ap.positions = json_array()) == NULL ||
                    (ap.versions = json_array()) == NULL)) {
        rc = ctl_error(CRM_ERR_NOMEM, "cannot collect the results");
        goto done;
    }
    if (file || strcmp(a->pos[0], "-") == 0) {
        ap.split = 1;
        ap.src = file ? file : "stdin";
        if (file && (f = fopen(file, "r")) == NULL) {
            rc = ctl_file_error("cannot open input file", file, errno);
            goto done;
        }
        rc = from_jsonl(&ap, f ? f : stdin);
    } else {
        ap.src = "argument";
        rc = from_argument(&ap, a->pos[0]);
    }
    if (rc == 0)
        rc = flush(&ap);
    if (rc == 0)
        rc = print_totals(&ap);
    else if (ap.total > 0)
        /* Batches already sent are durable; say so, so the rest can be
         * resumed rather than sent twice. */
        fprintf(stderr,
                "crmctl: note: %zu event%s in %zu batch%s had been appended "
                "before the failure (positions %" PRIu64 "..%" PRIu64 ")\n",
                ap.total, ap.total == 1 ? "" : "s", ap.batches,
                ap.batches == 1 ? "" : "es", ap.first, ap.last);
done:
    if (f)
        fclose(f);
    json_decref(ap.positions);
    json_decref(ap.versions);
    free(ap.lines);
    free(ap.slots);
    msgpack_sbuffer_destroy(&ap.batch);
    msgpack_sbuffer_destroy(&ap.expect);
    return rc;
}
