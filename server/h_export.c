/*
 * h_export.c - customer.export: the right of access (DESIGN section 5).
 *
 * Everything kept about one guest, as one document cut into pages: a
 * reply is bounded (CRM_RPC_MAX_REPLY) and a long history is not. The
 * first page carries the header, the 360 view, the loyalty account with
 * its ledger and the consent history; every page carries the next events
 * of the guest's stream, personal fields opened and merged into the
 * event's data, and a cursor to go on.
 *
 * The document is of one moment: the first page reads the projections at
 * position as_of, and every page (the cursor carries as_of) stops at the
 * events recorded up to there, so the view and the events agree however
 * long the export takes. Whether the guest is erased is asked again on
 * every page: an erasure between two pages withholds the personal data
 * from the pages after it.
 */
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "customer.h"
#include "handlers_int.h"
#include "log.h"
#include "rpc.h"
#include "settings.h"

#define EXPORT_FORMAT "crmd/customer.export/1"
#define EXPORT_MAX_DEFAULT 500
#define EXPORT_TOUCHPOINTS 20 /* customer.get's default */
/* The ledger in full up to here (~70 bytes a line); past it the
 * loyalty.* events of the export still hold every line. */
#define EXPORT_LEDGER_MAX 10000
/* What a page keeps free after its events: next, more, the envelope. */
#define EXPORT_RESERVE 1024u
#define EXPORT_BUDGET (CRM_RPC_MAX_REPLY - EXPORT_RESERVE)
#define CURSOR_MAX 80

static const char consent_type[] = "customer.consent_changed";

/* --- cursor ----------------------------------------------------------------- */

/* "x1.AS_OF.VERSION.TAG": the position the document is of, the stream
 * version to go on from, and a tag of the guest id so that a cursor is
 * not taken for another guest's. */
typedef struct export_cursor {
    uint64_t as_of;
    uint64_t version;
} export_cursor;

static uint32_t
cursor_tag(const char *id, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a: a check, not a secret */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)id[i]) * 16777619u;
    return h;
}

static void
cursor_format(const export_cursor *x, const char *id, size_t len,
              char out[CURSOR_MAX])
{
    snprintf(out, CURSOR_MAX, "x1.%" PRIu64 ".%" PRIu64 ".%08" PRIx32,
             x->as_of, x->version, cursor_tag(id, len));
}

/* Digits of s[*at..len) up to '.' or the end, as a u64: 0 or -1. */
static int
cursor_num(const char *s, size_t len, size_t *at, int hex, uint64_t *out)
{
    uint64_t v = 0, base = hex ? 16 : 10;
    size_t start = *at;
    for (; *at < len && s[*at] != '.'; (*at)++) {
        int d;
        char ch = s[*at];
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (hex && ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else
            return -1;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            return -1;
        v = v * base + (uint64_t)d;
    }
    if (*at == start || *at - start > 20)
        return -1;
    *out = v;
    return 0;
}

static int
cursor_parse(const char *s, size_t len, const char *id, size_t id_len,
             export_cursor *x)
{
    size_t at = 3;
    uint64_t tag;
    if (len < 3 || memcmp(s, "x1.", 3) != 0 ||
        cursor_num(s, len, &at, 0, &x->as_of) != 0 || at++ == len ||
        cursor_num(s, len, &at, 0, &x->version) != 0 || at++ == len ||
        cursor_num(s, len, &at, 1, &tag) != 0 || at != len)
        return -1;
    return tag == cursor_tag(id, id_len) ? 0 : -1;
}

/* --- the page --------------------------------------------------------------- */

typedef struct export_q {
    rpc_ctx *c;
    crm_log *log;
    msgpack_packer *pk;
    const char *id;
    size_t id_len;
    int first;         /* pack the header, view, loyalty, consents */
    int64_t now;       /* exported_at, and the view's today */
    uint64_t as_of;    /* in: a later page's; out: the first page's */
    int missing;       /* no such guest */
    int erased;        /* personal data withheld */
    crm_view view;     /* what the caller sees of personal data */
    unsigned consents; /* the guest's, for the fields shown with consent */
    /* the events */
    uint64_t from;     /* stream version */
    uint32_t max, count;
    uint64_t last_version;
    int more;          /* events up to as_of remain past this page */
    int err;           /* a record failed to decode or open */
    h_seen seen;       /* the guest, once a personal value goes out */
} export_q;

/* In the customer projection's read: whether the guest is known and
 * erased and, on the first page, the view and the loyalty account. */
static int
head_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    export_q *q = arg;
    uint32_t last_stay;
    uint64_t p1, p2;
    int rc = crm_customer_brief(txn, dbi[0], q->id, q->id_len, &last_stay,
                                &p1, &p2, &q->erased);
    if (rc == MDB_NOTFOUND) {
        q->missing = 1;
        return 0;
    }
    if (rc == 0 && q->view.consented)
        rc = crm_customer_consents(txn, dbi[0], q->id, q->id_len,
                                   &q->consents);
    if (rc != 0 || !q->first)
        return rc;
    q->as_of = position;
    msgpack_packer *pk = q->pk;
    KV_U64(pk, "as_of", position);
    KV_BOOL(pk, "erased", q->erased);
    crm_mp_pack_cstr(pk, "view");
    rc = h_customer_pack_get(q->log, txn, dbi[0], position, q->id, q->id_len,
                             q->now, EXPORT_TOUCHPOINTS, &q->view,
                             &q->c->scratch, pk, &q->seen);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc; /* brief found it */
    crm_mp_pack_cstr(pk, "loyalty");
    MDB_dbi loyalty;
    rc = h_proj_db(q->log, txn, "loyalty", &loyalty);
    if (rc == 0) {
        crm_settings *s = malloc(sizeof(*s));
        if (s == NULL)
            return ENOMEM;
        rc = h_loyalty_pack_get(q->log, txn, loyalty, position, q->id,
                                q->id_len, crm_settings_day_of(q->now),
                                EXPORT_LEDGER_MAX, s, pk);
        free(s);
    }
    if (rc == MDB_NOTFOUND) { /* no loyalty projection or no activity */
        msgpack_pack_nil(pk);
        rc = 0;
    }
    return rc;
}

static int
is_consent(const crm_record *r)
{
    return r->type_len == sizeof(consent_type) - 1 &&
           memcmp(r->type, consent_type, r->type_len) == 0;
}

/* One consent_changed, as it was given or withdrawn. Its fields are not
 * personal data: the body holds them all. */
static void
pack_consent(msgpack_packer *pk, const crm_record *r)
{
    const msgpack_object *purpose = crm_mp_get(&r->body, "purpose");
    const msgpack_object *source = crm_mp_get(&r->body, "source");
    const msgpack_object *granted = crm_mp_get(&r->body, "granted");
    msgpack_pack_map(pk, 6);
    KV_U64(pk, "position", r->h.position);
    KV_I64(pk, "occurred_at", r->occurred_at);
    crm_mp_pack_cstr(pk, "channel");
    crm_mp_pack_object(pk, crm_mp_get(&r->body, "channel"));
    /* absent means marketing, as the view reads it */
    crm_mp_pack_cstr(pk, "purpose");
    if (purpose)
        crm_mp_pack_object(pk, purpose);
    else
        crm_mp_pack_cstr(pk, "marketing");
    KV_BOOL(pk, "granted", granted && granted->type == MSGPACK_OBJECT_BOOLEAN &&
                               granted->via.boolean);
    crm_mp_pack_cstr(pk, "source");
    if (source)
        crm_mp_pack_object(pk, source);
    else
        msgpack_pack_nil(pk);
}

static int
consent_visit(void *arg, uint64_t pos, const uint8_t *rec, size_t len)
{
    export_q *q = arg;
    crm_record r;
    if (pos > q->as_of)
        return 1;
    msgpack_zone_clear(&q->c->scratch);
    if (crm_record_decode(rec, len, &q->c->scratch, &r, NULL) != CRM_OK) {
        q->err = 1;
        return 1;
    }
    if (is_consent(&r) && crm_mp_get(&r.body, "channel")) {
        pack_consent(q->pk, &r);
        q->count++;
    }
    return 0;
}

/* Packs one event: its data is the body and the personal fields in one
 * map, as the event was appended (the schema keeps their names apart). */
static void
pack_event(export_q *q, const crm_record *r)
{
    msgpack_packer *pk = q->pk;
    int pii = r->pii.type == MSGPACK_OBJECT_MAP && !q->erased;
    uint32_t nb = r->body.type == MSGPACK_OBJECT_MAP ? r->body.via.map.size : 0;
    uint32_t np = pii ? r->pii.via.map.size : 0;
    msgpack_pack_map(pk, 8);
    KV_U64(pk, "position", r->h.position);
    KV_U64(pk, "version", r->h.version);
    crm_mp_pack_cstr(pk, "id");
    msgpack_pack_bin(pk, CRM_ID_LEN);
    msgpack_pack_bin_body(pk, r->id, CRM_ID_LEN);
    crm_mp_pack_cstr(pk, "type");
    crm_mp_pack_str(pk, r->type, r->type_len);
    KV_I64(pk, "occurred_at", r->occurred_at);
    KV_I64(pk, "recorded_at", r->h.recorded_at);
    crm_mp_pack_cstr(pk, "actor");
    crm_mp_pack_str(pk, r->h.actor, r->h.actor_len);
    crm_mp_pack_cstr(pk, "data");
    msgpack_pack_map(pk, nb + np);
    for (uint32_t i = 0; i < nb; i++) {
        crm_mp_pack_object(pk, &r->body.via.map.ptr[i].key);
        crm_mp_pack_object(pk, &r->body.via.map.ptr[i].val);
    }
    for (uint32_t i = 0; i < np; i++) {
        crm_mp_pack_object(pk, &r->pii.via.map.ptr[i].key);
        crm_mp_pack_object(pk, &r->pii.via.map.ptr[i].val);
    }
}

/* The read asks for one event more than the page holds: whether it is
 * at or before as_of says if another page follows, so the last page is
 * never an empty one. An event that takes the reply past its budget is
 * cut off again (the first of a page always stays). */
static int
event_visit(void *arg, uint64_t pos, const uint8_t *rec, size_t len)
{
    export_q *q = arg;
    rpc_ctx *c = q->c;
    crm_record r;
    if (pos > q->as_of)
        return 1;
    if (q->count == q->max) {
        q->more = 1;
        return 1;
    }
    size_t mark = nng_msg_len(c->rep);
    if (q->count > 0 && mark + len > EXPORT_BUDGET + (size_t)1024) {
        q->more = 1; /* certainly too big: not worth opening */
        return 1;
    }
    msgpack_zone_clear(&c->scratch);
    if (crm_record_decode(rec, len, &c->scratch, &r, NULL) != CRM_OK) {
        q->err = 1;
        return 1;
    }
    /* an erased guest's key is gone: pii stays nil, what is left goes */
    if (!q->erased && q->view.opens &&
        crm_log_open_reading(q->log, &r, &c->scratch) != 0 &&
        r.pii.type != MSGPACK_OBJECT_NIL) {
        q->err = 1;
        return 1;
    }
    msgpack_object withheld;
    if (!q->view.opens)
        r.pii.type = MSGPACK_OBJECT_NIL;
    else if (crm_view_filter(&q->view, r.type, r.type_len, q->consents,
                             &r.pii, &c->scratch, &withheld) < 0) {
        q->err = 1;
        return 1;
    }
    pack_event(q, &r);
    if (q->count > 0 && nng_msg_len(c->rep) > EXPORT_BUDGET) {
        nng_msg_chop(c->rep, nng_msg_len(c->rep) - mark);
        q->more = 1;
        return 1;
    }
    if (r.pii.type != MSGPACK_OBJECT_NIL)
        h_seen_add(&q->seen, r.stream, r.stream_len);
    q->last_version = r.h.version;
    q->count++;
    return 0;
}

static crm_err
read_failed(export_q *q, crm_err err, crm_error *why)
{
    if (err == CRM_ERR_NOT_FOUND)
        return h_not_found_guest(q->id, q->id_len, "no such guest", why);
    return crm_error_set(why, err == CRM_OK ? CRM_ERR_CORRUPT : err,
                         "reading guest '%.*s' failed",
                         (int)(q->id_len < 64 ? q->id_len : 64), q->id);
}

/* The first page's consents: every consent_changed up to as_of, oldest
 * first. */
static crm_err
pack_consents(export_q *q, crm_error *why)
{
    crm_mp_pack_cstr(q->pk, "consents");
    size_t at = h_open_array(q->c);
    q->count = 0;
    crm_err err = crm_log_read_stream(q->log, q->id, q->id_len, 0, 0,
                                      consent_visit, q);
    if (err != CRM_OK || q->err)
        return read_failed(q, err, why);
    h_close_array(q->c, at, q->count);
    return CRM_OK;
}

static crm_err
pack_events(export_q *q, crm_error *why)
{
    crm_mp_pack_cstr(q->pk, "events");
    size_t at = h_open_array(q->c);
    q->count = 0;
    crm_err err = crm_log_read_stream(q->log, q->id, q->id_len, q->from,
                                      (size_t)q->max + 1, event_visit, q);
    if (err != CRM_OK || q->err)
        return read_failed(q, err, why);
    h_close_array(q->c, at, q->count);
    crm_mp_pack_cstr(q->pk, "next");
    if (q->more) {
        char text[CURSOR_MAX];
        export_cursor x = {q->as_of, q->count ? q->last_version + 1 : q->from};
        cursor_format(&x, q->id, q->id_len, text);
        crm_mp_pack_cstr(q->pk, text);
    } else {
        msgpack_pack_nil(q->pk);
    }
    KV_BOOL(q->pk, "more", q->more);
    return CRM_OK;
}

/* A later page's cursor: of this guest, of a position the log has
 * reached, and of a version the stream has (or one past its last). */
static crm_err
cursor_arg(rpc_call *call, export_q *q, crm_error *why)
{
    const char *s;
    size_t len;
    export_cursor x;
    uint64_t head, last_version, last_pos;
    crm_err err = h_arg_str(call, "cursor", 0, CURSOR_MAX, &s, &len, why);
    if (err != CRM_OK || s == NULL)
        return err;
    crm_log_head(q->log, &head, NULL);
    if (cursor_parse(s, len, q->id, q->id_len, &x) != 0 || x.as_of > head ||
        x.version == 0)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'cursor' is not one of this guest's export");
    err = crm_log_stream_info(q->log, q->id, q->id_len, &last_version,
                              &last_pos);
    if (err == CRM_ERR_NOT_FOUND)
        return h_not_found_guest(q->id, q->id_len, "no such guest", why);
    if (err != CRM_OK)
        return crm_error_set(why, err, NULL);
    if (x.version > last_version + 1)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'cursor' is not one of this guest's export");
    q->first = 0;
    q->as_of = x.as_of;
    q->from = x.version;
    return CRM_OK;
}

crm_err
h_customer_export(rpc_call *call, msgpack_packer *pk, crm_error *why,
                  rpc_flow *flow)
{
    export_q q = {.c = call->c, .log = call->log, .pk = pk, .first = 1};
    int64_t max;
    crm_err err;
    (void)flow;
    h_view(call->c, &q.view);
    if ((err = h_arg_str(call, "customer", 1, CRM_STREAM_MAX, &q.id,
                         &q.id_len, why)) != CRM_OK ||
        (err = h_arg_int(call, "max", EXPORT_MAX_DEFAULT, 1, CRM_RPC_MAX_READ,
                         &max, why)) != CRM_OK ||
        (err = cursor_arg(call, &q, why)) != CRM_OK)
        return err;
    q.max = (uint32_t)max;
    q.now = crm_query_now_us();
    /* the guest's own fields first, then what the projection read adds */
    msgpack_pack_map(pk, q.first ? 12 : 6);
    if (q.first) {
        KV_STR(pk, "format", EXPORT_FORMAT);
        KV_STR(pk, "tenant", crm_log_tenant(call->log));
        KV_I64(pk, "exported_at", q.now);
    }
    crm_mp_pack_cstr(pk, "guest");
    crm_mp_pack_str(pk, q.id, q.id_len);
    if (!q.first)
        KV_U64(pk, "as_of", q.as_of);
    err = crm_log_proj_read(call->log, "customer", head_fn, &q, why);
    if (err == CRM_OK && q.missing)
        err = h_not_found_guest(q.id, q.id_len, "no such guest", why);
    if (err == CRM_OK && !q.first)
        KV_BOOL(pk, "erased", q.erased);
    if (err == CRM_OK && q.first)
        err = pack_consents(&q, why);
    if (err == CRM_OK)
        err = pack_events(&q, why);
    return h_seen_done(call, &q.seen, err);
}
