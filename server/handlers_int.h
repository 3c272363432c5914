/*
 * handlers_int.h - what the op handlers share across their files
 * (handlers.c: the table, keys, appends and reads; h_settings.c: tenant
 * settings and projection rebuilds; h_consent.c: consent from the log;
 * h_customer.c, h_loyalty.c, h_export.c, h_erase.c: one guest).
 */
#ifndef CRM_HANDLERS_INT_H
#define CRM_HANDLERS_INT_H

#include "net_int.h"
#include "settings.h"
#include "views.h"

/* Pack failures (only ENOMEM) are caught by net.c when the reply is sent. */
#define KV_STR(pk, k, v) (void)(crm_mp_pack_cstr(pk, k) | crm_mp_pack_cstr(pk, v))
#define KV_U64(pk, k, v) (void)(crm_mp_pack_cstr(pk, k) | msgpack_pack_uint64(pk, v))
#define KV_I64(pk, k, v) (void)(crm_mp_pack_cstr(pk, k) | msgpack_pack_int64(pk, v))
#define KV_BOOL(pk, k, v)                                                      \
    (void)(crm_mp_pack_cstr(pk, k) |                                           \
           ((v) ? msgpack_pack_true(pk) : msgpack_pack_false(pk)))

/* What the key of c sees of personal data (views.h): every op that lets
 * a personal value out asks this view, field by field. */
void h_view(const rpc_ctx *c, crm_view *v);
/* The guests whose personal values one call hands out (h_access.c):
 * every op that lets a personal value out notes the guest here, and
 * h_seen_done writes one access log entry per guest (log.h) once the
 * call succeeded. Zero-initialised; one call's, on its thread. */
typedef struct h_seen {
    struct h_seen_guest *g;
    size_t n, cap;
    int oom;
} h_seen;
/* Notes guest id[0..len) (a '$' stream is no guest). s may be NULL. */
void h_seen_add(h_seen *s, const char *id, size_t len);
/* Logs what s noted for call's key and op when err is CRM_OK, empties
 * s and returns err. */
crm_err h_seen_done(const rpc_call *call, h_seen *s, crm_err err);

/* The stored record at position in txn, decoded into z, its personal
 * part opened and cut down to what v shows of it for a guest who
 * consents to consents (CRM_CH_BIT; views.h). A view that sees nothing
 * leaves pii nil and opens nothing. When what is left is not nil, the
 * record's guest is noted in seen (may be NULL: the caller notes). 0,
 * MDB_NOTFOUND, MDB_CORRUPTED, EIO, ENOMEM or an LMDB error
 * (crm_log_record_open). */
int h_record_view(crm_log *log, MDB_txn *txn, uint64_t position,
                  msgpack_zone *z, const crm_view *v, unsigned consents,
                  crm_record *r, h_seen *seen);

/* Arguments of call by name. A missing or nil argument is an error only
 * when required (bad_request naming it); otherwise *s = NULL, the
 * default, or 0. Strings longer than max are too_large. */
crm_err h_arg_str(const rpc_call *call, const char *name, int required,
                  size_t max, const char **s, size_t *len, crm_error *why);
/* Copies into buf (max + 1 bytes); a NUL inside is bad_request. */
crm_err h_arg_cstr(const rpc_call *call, const char *name, int required,
                   char *buf, size_t max, crm_error *why);
crm_err h_arg_int(const rpc_call *call, const char *name, int64_t def,
                  int64_t min, int64_t max, int64_t *out, crm_error *why);
crm_err h_arg_bool(const rpc_call *call, const char *name, int *out,
                   crm_error *why);
/* Whether argument name is missing or nil. */
int h_arg_absent(const rpc_call *call, const char *name);
/* A date "YYYY-MM-DD" as YYYYMMDD; today (UTC) when absent: the day of
 * crm_query_now_us, which a test build may pin (clock.h). */
crm_err h_arg_day(const rpc_call *call, const char *name, uint32_t *day,
                  crm_error *why);
/* Packs key k and day d (YYYYMMDD) as "YYYY-MM-DD", nil for 0. */
void h_kv_day(msgpack_packer *pk, const char *k, uint32_t d);
/* The first live database of projection name in txn (reads inside a
 * crm_log_proj_read of another projection): 0, MDB_NOTFOUND when the log
 * keeps no such projection, or an LMDB error. */
int h_proj_db(crm_log *log, MDB_txn *txn, const char *name, MDB_dbi *out);
/* The settings in force on day from the settings projection in txn (the
 * defaults when the log keeps none). 0 or an LMDB error. */
int h_settings_in(crm_log *log, MDB_txn *txn, uint32_t day, crm_settings *s);
/* An array in c's reply whose length is written once the caller knows
 * it (the reply's bytes, not the packer's, so a page can be cut back):
 * open returns where it starts (SIZE_MAX when the reply already failed),
 * close writes n there. */
size_t h_open_array(rpc_ctx *c);
void h_close_array(rpc_ctx *c, size_t at, uint32_t n);
/* not_found for guest id, quoted safely: "guest 'x': what". */
crm_err h_not_found_guest(const char *id, size_t len, const char *what,
                          crm_error *why);

/* Validates the events array evs (and the expect array exp, may be NULL)
 * and hands them to the tenant's writer; on CRM_OK *flow is RPC_DEFERRED
 * and the reply ({positions, versions, duplicates, head}) follows once
 * they are durable. server_events: built by the server (settings.set),
 * so the '$' streams and tenant.* types are allowed and role checks on
 * types are skipped. */
crm_err h_submit_events(rpc_call *call, const msgpack_object *evs,
                        const msgpack_object *exp, int server_events,
                        crm_error *why, rpc_flow *flow);

/* As h_submit_events for a client's command (server_events 0) whose
 * batch the writer checks with check inside the write transaction. */
crm_err h_submit_checked(rpc_call *call, const msgpack_object *evs,
                         const msgpack_object *exp, crm_batch_check_fn check,
                         void *check_arg, crm_error *why, rpc_flow *flow);
/* Adds after each event that earns points (stay.checked_out and
 * spend.recorded with an amount, complaint.resolved with
 * compensation_points) its loyalty.points_earned, by the rules in force
 * on its day and the guest's tier; *ev may then point into the request's
 * zone, and *derived (else NULL) flags the events added. h_loyalty.c. */
crm_err h_derive_earned(rpc_call *call, crm_event_in **ev, size_t *n,
                        const uint8_t **derived, crm_error *why);

/* The settings in force on day as known at *as_of (UINT64_MAX: all that
 * is stored; *as_of becomes the position used). h_settings.c. */
crm_err h_load_settings(crm_log *log, uint32_t day, uint64_t *as_of,
                        crm_settings *s, crm_error *why);

crm_err h_loyalty_sweep(rpc_call *call, msgpack_packer *pk, crm_error *why,
                        rpc_flow *flow);
crm_err h_loyalty_get(rpc_call *call, msgpack_packer *pk, crm_error *why,
                      rpc_flow *flow);
crm_err h_loyalty_redeem(rpc_call *call, msgpack_packer *pk, crm_error *why,
                         rpc_flow *flow);
crm_err h_customer_get(rpc_call *call, msgpack_packer *pk, crm_error *why,
                       rpc_flow *flow);
/* h_backup.c */
crm_err h_backup(rpc_call *call, msgpack_packer *pk, crm_error *why,
                 rpc_flow *flow);
/* h_audit.c: signed checkpoints. */
crm_err h_audit_pubkey(rpc_call *call, msgpack_packer *pk, crm_error *why,
                       rpc_flow *flow);
crm_err h_audit_checkpoint(rpc_call *call, msgpack_packer *pk, crm_error *why,
                           rpc_flow *flow);
crm_err h_audit_signatures(rpc_call *call, msgpack_packer *pk,
                            crm_error *why, rpc_flow *flow);
crm_err h_audit_verify(rpc_call *call, msgpack_packer *pk, crm_error *why,
                       rpc_flow *flow);
crm_err h_audit_export(rpc_call *call, msgpack_packer *pk, crm_error *why,
                       rpc_flow *flow);
crm_err h_audit_keys(rpc_call *call, msgpack_packer *pk,
                            crm_error *why, rpc_flow *flow);
/* h_access.c: who was handed a guest's personal values. */
crm_err h_audit_access(rpc_call *call, msgpack_packer *pk, crm_error *why,
                       rpc_flow *flow);
crm_err h_customer_erase(rpc_call *call, msgpack_packer *pk, crm_error *why,
                         rpc_flow *flow);
crm_err h_customer_erasure_receipt(rpc_call *call, msgpack_packer *pk,
                                   crm_error *why, rpc_flow *flow);
/* customer.get's result for guest id, from the customer projection's
 * database in txn (a read at position), as of now (µs) with touchpoints
 * of them; personal values are read into z, those v shows (with the
 * guest's current consents for marketing). 0, MDB_NOTFOUND (an unknown
 * guest: nothing packed), ENOMEM or an LMDB error. h_customer.c. */
int h_customer_pack_get(crm_log *log, MDB_txn *txn, MDB_dbi customer,
                        uint64_t position, const char *id, size_t len,
                        int64_t now, size_t touchpoints, const crm_view *v,
                        msgpack_zone *z, msgpack_packer *pk, h_seen *seen);
/* loyalty.get's result for guest id on day with ledger lines at most,
 * from the loyalty projection's database in txn (s: scratch for the
 * settings). 0, MDB_NOTFOUND (no loyalty activity: nothing packed) or an
 * LMDB error. h_loyalty.c. */
int h_loyalty_pack_get(crm_log *log, MDB_txn *txn, MDB_dbi loyalty,
                       uint64_t position, const char *id, size_t len,
                       uint32_t day, size_t ledger, crm_settings *s,
                       msgpack_packer *pk);
/* The right of access, page by page. h_export.c. */
crm_err h_customer_export(rpc_call *call, msgpack_packer *pk,
                          crm_error *why, rpc_flow *flow);
crm_err h_kpi_get(rpc_call *call, msgpack_packer *pk, crm_error *why,
                  rpc_flow *flow);
crm_err h_tasks_today(rpc_call *call, msgpack_packer *pk, crm_error *why,
                      rpc_flow *flow);
crm_err h_customer_find(rpc_call *call, msgpack_packer *pk, crm_error *why,
                        rpc_flow *flow);
/* h_consent.c: consent in force at a moment, sends made without it. */
crm_err h_customer_consent_at(rpc_call *call, msgpack_packer *pk,
                              crm_error *why, rpc_flow *flow);
crm_err h_audit_consent_violations(rpc_call *call, msgpack_packer *pk,
                                   crm_error *why, rpc_flow *flow);
crm_err h_segment_list(rpc_call *call, msgpack_packer *pk, crm_error *why,
                       rpc_flow *flow);
crm_err h_segment_counts(rpc_call *call, msgpack_packer *pk, crm_error *why,
                         rpc_flow *flow);
crm_err h_segment_members(rpc_call *call, msgpack_packer *pk, crm_error *why,
                          rpc_flow *flow);
crm_err h_segment_export(rpc_call *call, msgpack_packer *pk, crm_error *why,
                         rpc_flow *flow);
crm_err h_segment_define(rpc_call *call, msgpack_packer *pk, crm_error *why,
                         rpc_flow *flow);
crm_err h_settings_get(rpc_call *call, msgpack_packer *pk, crm_error *why,
                       rpc_flow *flow);
crm_err h_settings_set(rpc_call *call, msgpack_packer *pk, crm_error *why,
                       rpc_flow *flow);
crm_err h_tenant_rotate_key(rpc_call *call, msgpack_packer *pk,
                            crm_error *why, rpc_flow *flow);
crm_err h_projection_rebuild(rpc_call *call, msgpack_packer *pk,
                             crm_error *why, rpc_flow *flow);

#endif
