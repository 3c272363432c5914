/*
 * json.h - JSON (jansson) <-> msgpack for crmctl.
 *
 * Results go to JSON with every msgpack kind mapped: bin of 16 bytes (ids)
 * becomes a UUID string, other bin and ext values lowercase hex. Input
 * JSON becomes msgpack as it is: integers as integers, reals as float64.
 */
#ifndef CRMCTL_JSON_H
#define CRMCTL_JSON_H

#include <jansson.h>
#include <msgpack.h>
#include <stdint.h>

#include "err.h"

/* A new JSON value for o (caller owns it); NULL only when out of memory. */
json_t *ctl_json_from_mp(const msgpack_object *o);

/* Packs j as msgpack. Returns 0, or nonzero when the packer failed. */
int ctl_json_pack(msgpack_packer *pk, const json_t *j);

/* Packs one event of an append from its JSON form
 *   {"stream", "type", "body"?, "id"?, "occurred_at"?}
 * as the wire map {id (bin 16), stream, type, occurred_at, body}. A
 * missing id gets a fresh UUIDv7, a missing occurred_at now_us;
 * occurred_at is microseconds or an ISO-8601 UTC string. Content is left
 * to the server to validate; only the shape is checked here.
 * Errors: CRM_ERR_BAD_REQUEST (why says which member), CRM_ERR_NOMEM. */
crm_err ctl_json_pack_event(msgpack_packer *pk, const json_t *ev,
                            int64_t now_us, crm_error *why);

#endif
