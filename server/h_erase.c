/*
 * h_erase.c - customer.erase and customer.erasure_receipt: a guest's
 * erasure as a data-protection officer asks for it and proves it.
 *
 * customer.erase appends customer.erased (no personal data) to the guest's
 * stream and to every stream merged into it (customer.merged, followed
 * transitively), in one atomic batch; the log destroys each subject key in
 * that transaction and an erasure round then makes the erasure complete
 * (log_erase.c). With wait, the reply comes once it is. The receipt is
 * read back from the erasure ledger, which holds no personal data.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "handlers_int.h"
#include "log.h"
#include "schema.h"
#include "slog.h"
#include "utf8.h"

#define ERASE_STREAMS_MAX 64 /* a guest and what was merged into it */
#define ERASE_WAIT_MS_DEFAULT 600000
#define ERASE_WAIT_MS_MAX 3600000

typedef struct erase_job {
    char id[CRM_STREAM_MAX + 1];
    size_t id_len;
    char reason[16];
    char ref[65];
    int wait;
    int64_t wait_ms;
    /* the guest first, then what was merged into it */
    char streams[ERASE_STREAMS_MAX][CRM_STREAM_MAX + 1];
    size_t nstreams;
    uint64_t appended;
} erase_job;

/* --- the streams a guest covers -------------------------------------------- */

typedef struct merges {
    erase_job *j;
    msgpack_zone *z;
    int full;
} merges;

static int
has_stream(const erase_job *j, const char *s, size_t len)
{
    for (size_t i = 0; i < j->nstreams; i++)
        if (strlen(j->streams[i]) == len && memcmp(j->streams[i], s, len) == 0)
            return 1;
    return 0;
}

static int
on_merge(void *arg, uint64_t position, const uint8_t *rec, size_t len)
{
    merges *m = arg;
    crm_record r;
    (void)position;
    msgpack_zone_clear(m->z);
    if (crm_record_decode(rec, len, m->z, &r, NULL) != CRM_OK ||
        !crm_schema_name_eq("customer.merged", r.type, r.type_len))
        return 0;
    const msgpack_object *o = crm_mp_get(&r.body, "merged");
    if (o == NULL || !crm_mp_is_str(o) || o->via.str.size == 0 ||
        o->via.str.size > CRM_STREAM_MAX ||
        has_stream(m->j, o->via.str.ptr, o->via.str.size))
        return 0;
    if (m->j->nstreams == ERASE_STREAMS_MAX) {
        m->full = 1;
        return 1;
    }
    memcpy(m->j->streams[m->j->nstreams], o->via.str.ptr, o->via.str.size);
    m->j->streams[m->j->nstreams++][o->via.str.size] = '\0';
    return 0;
}

/* j->streams: the guest, then every stream merged into it, breadth
 * first. CRM_ERR_NOT_FOUND when the guest has no events. */
static crm_err
collect_streams(crm_log *log, erase_job *j, crm_error *why)
{
    memcpy(j->streams[0], j->id, j->id_len + 1);
    j->nstreams = 1;
    msgpack_zone *z = msgpack_zone_new(4096);
    if (z == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    merges m = {j, z, 0};
    crm_err err = CRM_OK;
    for (size_t i = 0; i < j->nstreams && err == CRM_OK && !m.full; i++) {
        err = crm_log_read_stream(log, j->streams[i], strlen(j->streams[i]),
                                  0, 0, on_merge, &m);
        if (err == CRM_ERR_NOT_FOUND && i > 0)
            err = CRM_OK; /* merged before it had events of its own */
    }
    msgpack_zone_free(z);
    if (err == CRM_ERR_NOT_FOUND)
        return h_not_found_guest(j->id, j->id_len, "no such guest", why);
    if (err != CRM_OK)
        return crm_error_set(why, err, "reading the guest's stream");
    if (m.full)
        return crm_error_set(why, CRM_ERR_TOO_LARGE,
                             "more than %d streams are merged into this "
                             "guest; erase the merged ones first",
                             ERASE_STREAMS_MAX);
    return CRM_OK;
}

/* --- the receipt --------------------------------------------------------- */

static void
pack_time(msgpack_packer *pk, const char *k, int64_t us)
{
    crm_mp_pack_cstr(pk, k);
    if (us)
        msgpack_pack_int64(pk, us);
    else
        msgpack_pack_nil(pk);
}

/* The receipt of j's guest from the ledger: CRM_ERR_NOT_FOUND when the
 * guest was never erased. */
static crm_err
pack_receipt(crm_log *log, const erase_job *j, msgpack_packer *pk,
             crm_error *why)
{
    crm_log_erasure e[ERASE_STREAMS_MAX];
    int have[ERASE_STREAMS_MAX];
    int complete = 1;
    uint64_t keys = 0, events = 0;
    int64_t done_at = 0;
    for (size_t i = 0; i < j->nstreams; i++) {
        crm_err err = crm_log_erasure_get(log, j->streams[i],
                                          strlen(j->streams[i]), &e[i], why);
        have[i] = err == CRM_OK;
        if (err == CRM_ERR_NOT_FOUND && i == 0)
            return h_not_found_guest(j->id, j->id_len, "never erased", why);
        if (err != CRM_OK && err != CRM_ERR_NOT_FOUND)
            return err;
        complete &= have[i] && e[i].complete;
        if (have[i]) {
            keys += e[i].keys;
            events += e[i].events;
            if (e[i].completed_at > done_at)
                done_at = e[i].completed_at;
        }
    }
    msgpack_pack_map(pk, 10);
    KV_STR(pk, "tenant", crm_log_tenant(log));
    crm_mp_pack_cstr(pk, "subject");
    crm_mp_pack_str(pk, j->id, j->id_len);
    KV_STR(pk, "status", complete ? "complete" : "pending");
    KV_U64(pk, "position", e[0].position);
    pack_time(pk, "requested_at", e[0].requested_at);
    pack_time(pk, "completed_at", complete ? done_at : 0);
    crm_mp_pack_cstr(pk, "key_epoch");
    if (complete)
        msgpack_pack_uint32(pk, e[0].key_epoch);
    else
        msgpack_pack_nil(pk);
    crm_mp_pack_cstr(pk, "streams");
    msgpack_pack_array(pk, j->nstreams);
    for (size_t i = 0; i < j->nstreams; i++) {
        msgpack_pack_map(pk, 4);
        KV_STR(pk, "id", j->streams[i]);
        crm_mp_pack_cstr(pk, "position");
        have[i] ? msgpack_pack_uint64(pk, e[i].position) : msgpack_pack_nil(pk);
        KV_STR(pk, "status",
               !have[i] ? "not erased" : e[i].complete ? "complete" : "pending");
        KV_U64(pk, "events", have[i] ? e[i].events : 0);
    }
    crm_mp_pack_cstr(pk, "removed");
    msgpack_pack_map(pk, 4);
    KV_U64(pk, "subject_keys_destroyed", keys);
    KV_U64(pk, "events_unreadable", events);
    KV_STR(pk, "blind_indexes",
           "every entry of the guest removed; the indexes rebuilt under a new "
           "index key, the old one destroyed with the old tenant key");
    crm_mp_pack_cstr(pk, "views");
    static const char *const views[] = {
        "customer-360", "find", "segments", "tasks",
        "kpi (totals keep the guest's contribution, without the person)"};
    msgpack_pack_array(pk, 5);
    for (size_t i = 0; i < 5; i++)
        crm_mp_pack_cstr(pk, views[i]);
    KV_STR(pk, "guarantee",
           complete ? "no key that can open this guest's personal data "
                      "exists any more, in the data directory or in a "
                      "backup or export taken from now on"
                    : "the subject keys are destroyed; the round that "
                      "destroys the keys able to open stale copies is to "
                      "come");
    return CRM_OK;
}

/* --- customer.erase ------------------------------------------------------ */

/* customer.erased for every stream of j not erased yet. */
static crm_err
append_erasures(crm_log *log, erase_job *j, const char *actor,
                crm_error *why)
{
    const char *ids[ERASE_STREAMS_MAX];
    for (size_t i = 0; i < j->nstreams; i++)
        ids[i] = j->streams[i];
    return crm_log_erase_append(log, ids, j->nstreams, j->reason, j->ref,
                                actor, &j->appended, why);
}

static void *
erase_main(void *arg)
{
    rpc_ctx *c = arg;
    erase_job *j = c->job_arg;
    crm_error why = {CRM_OK, ""};
    int64_t t0 = crm_mono_ns();
    crm_err err = collect_streams(c->job_log, j, &why);
    if (err == CRM_OK)
        err = append_erasures(c->job_log, j, c->key.id, &why);
    if (err == CRM_OK && j->wait)
        err = crm_log_erasure_wait(c->job_log, j->wait_ms, &why);
    if (err == CRM_OK)
        err = pack_receipt(c->job_log, j, &c->pk, &why);
    if (err == CRM_OK) {
        char q[CRM_UTF8_QUOTE_CAP];
        crm_utf8_quote(j->id, j->id_len, CRM_UTF8_QUOTE_MAX, q, sizeof(q));
        char v[CRM_UTF8_QUOTE_CAP + 8];
        crm_slog(CRM_INFO, c->rid,
                 "msg=\"guest erased\" tenant=%s guest=%s streams=%zu "
                 "appended=%llu waited=%d seconds=%.3f",
                 crm_log_tenant(c->job_log),
                 crm_slog_value(v, sizeof(v), q, strlen(q)), j->nstreams,
                 (unsigned long long)j->appended, j->wait,
                 (double)(crm_mono_ns() - t0) / 1e9);
    }
    net_finish(c, err, &why);
    return NULL;
}

static crm_err
guest_arg(rpc_call *call, erase_job *j, crm_error *why)
{
    crm_err err = h_arg_cstr(call, "customer", 1, j->id, CRM_STREAM_MAX, why);
    if (err != CRM_OK)
        return err;
    j->id_len = strlen(j->id);
    if (j->id_len == 0 || j->id[0] == '$')
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'customer' must name a guest's stream");
    return CRM_OK;
}

crm_err
h_customer_erase(rpc_call *call, msgpack_packer *pk, crm_error *why,
                 rpc_flow *flow)
{
    rpc_ctx *c = call->c;
    (void)pk;
    if (!crm_log_sealed(call->log))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "tenant %s was created without encryption: its "
                             "log keeps personal data unsealed, so an "
                             "erasure could not be complete",
                             crm_log_tenant(call->log));
    erase_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    static const char *const reasons[] = {"gdpr", "ccpa", "request",
                                          "retention"};
    crm_err err = guest_arg(call, j, why);
    if (err == CRM_OK)
        err = h_arg_cstr(call, "reason", 0, j->reason, sizeof(j->reason) - 1,
                         why);
    if (err == CRM_OK)
        err = h_arg_cstr(call, "request_ref", 0, j->ref, sizeof(j->ref) - 1,
                         why);
    if (err == CRM_OK)
        err = h_arg_bool(call, "wait", &j->wait, why);
    if (err == CRM_OK)
        err = h_arg_int(call, "wait_ms", ERASE_WAIT_MS_DEFAULT, 1,
                        ERASE_WAIT_MS_MAX, &j->wait_ms, why);
    if (err == CRM_OK && j->reason[0] == '\0')
        strcpy(j->reason, "request");
    int known = 0;
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        known |= strcmp(j->reason, reasons[i]) == 0;
    if (err == CRM_OK && !known)
        err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                            "'reason' must be gdpr, ccpa, request or "
                            "retention");
    if (err != CRM_OK) {
        free(j);
        return err;
    }
    net_job_join(c);
    free(c->job_arg);
    c->job_arg = j;
    c->job_log = call->log;
    if (pthread_create(&c->job, NULL, erase_main, c) != 0)
        return crm_error_set(why, CRM_ERR_UNAVAILABLE,
                             "cannot start the erasure");
    c->job_running = 1;
    *flow = RPC_DEFERRED;
    return CRM_OK;
}

/* --- customer.erasure_receipt -------------------------------------------- */

crm_err
h_customer_erasure_receipt(rpc_call *call, msgpack_packer *pk, crm_error *why,
                           rpc_flow *flow)
{
    (void)flow;
    erase_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    crm_err err = guest_arg(call, j, why);
    if (err == CRM_OK)
        err = collect_streams(call->log, j, why);
    if (err == CRM_OK)
        err = pack_receipt(call->log, j, pk, why);
    free(j);
    return err;
}
