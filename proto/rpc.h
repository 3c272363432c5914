/*
 * rpc.h - the msgpack envelopes of the crmd protocol (PROTOCOL.md).
 *
 *   request  {v: 1, id, op, tenant, key, args}
 *   reply    {v: 1, id, ok: true,  result}
 *            {v: 1, id, ok: false, error: {code, name, message}}
 *
 * Shared by the server and libcrmclient. Parsing works on objects that
 * msgpack-c unpacked from a buffer that passed crm_rpc_check_request (a
 * request) or crm_mpcheck (a reply); strings stay pointers into that
 * buffer.
 */
#ifndef CRM_RPC_H
#define CRM_RPC_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "event.h"
#include "record.h"

#define CRM_RPC_VERSION 1
#define CRM_RPC_MAX_MSG (4u << 20)   /* larger requests get too_large */
#define CRM_RPC_HARD_MAX (16u << 20) /* larger ones are dropped by NNG */
#define CRM_RPC_MAX_DEPTH 16
/* msgpack objects in one request (keys, values, elements, the root):
 * msgpack-c spends ~24 bytes on each, so without a cap 4 MiB of nils
 * would unpack into ~100 MB before the key is even looked at. A full
 * append of 1000 events leaves each ~260 objects (~125 body fields). */
#define CRM_RPC_MAX_OBJECTS (256u << 10)
#define CRM_RPC_MAX_BATCH_OPS 64
#define CRM_RPC_MAX_READ 1000        /* events in one read reply */
/* Bytes of one reply that read.stream and read.all fill with events,
 * shared by all entries of a batch; past it they stop and answer
 * more: true with the next place to read from. */
#define CRM_RPC_MAX_REPLY (4u << 20)
#define CRM_RPC_MAX_WAIT_MS 60000
#define CRM_KEY_MAX 128
#define CRM_OP_NAME_MAX 32

typedef struct crm_rpc_req {
    uint64_t id;
    const char *op;
    size_t op_len;
    const char *tenant; /* NULL when absent */
    size_t tenant_len;
    const char *key; /* NULL when absent */
    size_t key_len;
    const msgpack_object *args; /* a map, or NULL */
} crm_rpc_req;

/* The checks every request passes before msgpack-c may unpack it: at most
 * CRM_RPC_MAX_MSG bytes and CRM_RPC_MAX_OBJECTS objects (else
 * CRM_ERR_TOO_LARGE), well-formed msgpack nested at most CRM_RPC_MAX_DEPTH
 * deep (else CRM_ERR_BAD_REQUEST; see crm_mpcheck). One pass, no
 * allocation. */
crm_err crm_rpc_check_request(const void *buf, size_t len, crm_error *why);

/* Reads the envelope of a request. Errors: CRM_ERR_BAD_VERSION,
 * CRM_ERR_BAD_REQUEST (missing/mistyped member), CRM_ERR_TOO_LARGE (a
 * member longer than its limit). r->id is filled whenever the id could be
 * read, so the error reply can carry it. */
crm_err crm_rpc_parse_request(const msgpack_object *root, crm_rpc_req *r,
                              crm_error *why);

/* Packs {v, id, op, tenant?, key?, args: } up to the args value, which the
 * caller packs next (a map). */
int crm_rpc_pack_request_head(msgpack_packer *pk, uint64_t id, const char *op,
                              const char *tenant, const char *key);

/* Packs {v, id, ok: true, result: } up to the result value. */
int crm_rpc_pack_reply_head(msgpack_packer *pk, uint64_t id);

/* Packs a whole error reply. */
int crm_rpc_pack_error(msgpack_packer *pk, uint64_t id, crm_err code,
                       const char *message);

/* Packs the {code, name, message} error map alone (batch results). */
int crm_rpc_pack_error_map(msgpack_packer *pk, crm_err code,
                           const char *message);

/* Reads a reply: CRM_OK with *result set, or the error it carries with
 * why->msg the server's message. */
crm_err crm_rpc_parse_reply(const msgpack_object *root, uint64_t *id,
                            const msgpack_object **result, crm_error *why);

/* Reads an error map {code, name, message}. */
crm_err crm_rpc_parse_error_map(const msgpack_object *m, crm_error *why);

/* --- object helpers ------------------------------------------------------- */

/* Value of string key k in map m, or NULL (also when m is not a map). */
const msgpack_object *crm_mp_get(const msgpack_object *m, const char *k);
int crm_mp_is_str(const msgpack_object *o);
/* Integer value if o is an integer within [min, max]; else returns -1. */
int crm_mp_int(const msgpack_object *o, int64_t min, int64_t max,
               int64_t *out);
int crm_mp_pack_str(msgpack_packer *pk, const char *s, size_t len);
int crm_mp_pack_cstr(msgpack_packer *pk, const char *s);
/* Packs an unpacked object tree as it is. */
int crm_mp_pack_object(msgpack_packer *pk, const msgpack_object *o);

/* --- events on the wire --------------------------------------------------- */

/* Reads one event of an append: {id, stream, type, occurred_at, body}.
 * id is 16 bytes of bin or a UUID string. */
crm_err crm_rpc_event_in(const msgpack_object *m, crm_event_in *e,
                         crm_error *why);

/* Packs an event for an append: {id (bin 16), stream, type, occurred_at,
 * body}. A NULL body packs an empty map. */
int crm_rpc_pack_event(msgpack_packer *pk, const crm_event_in *e);

/* Packs a stored record as the map read replies carry:
 * {position, stream, version, type, id, occurred_at, recorded_at, actor,
 *  body, pii, hash}. redact_pii replaces pii with nil and adds
 * pii_redacted: true when the event had personal data. */
int crm_rpc_pack_record(msgpack_packer *pk, const crm_record *r,
                        int redact_pii);

/* As crm_rpc_pack_record, for a record whose pii a view filtered
 * (views.h): withheld (may be NULL or nil) is the array of the names it
 * took out, packed as pii_withheld; when it took out every one (pii
 * nil), pii_redacted: true is added too. */
int crm_rpc_pack_record_view(msgpack_packer *pk, const crm_record *r,
                             int redact_pii, const msgpack_object *withheld);

#endif
