/*
 * rpc_fuzz.c - libFuzzer harness for what crmd does with a request before
 * any handler runs: crm_rpc_check_request, then msgpack_unpack, then
 * crm_rpc_parse_request, and for each event of an append's args
 * crm_rpc_event_in and crm_event_encode. Requests come from the network,
 * unauthenticated, so none of this may crash, leak or, once the check has
 * passed, allocate beyond what the object limit allows (run it with
 * -malloc_limit_mb=64: CRM_RPC_MAX_OBJECTS objects of 48 bytes at most).
 */
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c))                                                              \
            abort();                                                           \
    } while (0)

static void
events_of(const msgpack_object *args)
{
    const msgpack_object *evs = crm_mp_get(args, "events");
    if (evs == NULL || evs->type != MSGPACK_OBJECT_ARRAY)
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (uint32_t i = 0; i < evs->via.array.size; i++) {
        crm_event_in e;
        crm_error why;
        size_t before = sb.size;
        if (crm_rpc_event_in(&evs->via.array.ptr[i], &e, &why) != CRM_OK) {
            CHECK(why.code != CRM_OK);
            continue;
        }
        crm_err err = crm_event_encode(&e, &sb, &why);
        /* a refused event leaves the buffer as it was */
        CHECK(err == CRM_OK || sb.size == before);
        CHECK(err == why.code || err == CRM_OK);
    }
    msgpack_sbuffer_destroy(&sb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    crm_error why;
    crm_err err = crm_rpc_check_request(data, size, &why);
    if (err != CRM_OK) {
        CHECK(err == CRM_ERR_TOO_LARGE || err == CRM_ERR_BAD_REQUEST);
        return 0;
    }
    msgpack_zone zone;
    msgpack_object root;
    size_t off = 0;
    CHECK(msgpack_zone_init(&zone, 4096));
    msgpack_unpack_return ur =
        msgpack_unpack((const char *)data, size, &off, &zone, &root);
    /* the check promised well-formed msgpack: it unpacks */
    CHECK(ur == MSGPACK_UNPACK_SUCCESS || ur == MSGPACK_UNPACK_EXTRA_BYTES);
    crm_rpc_req req;
    memset(&req, 0, sizeof(req));
    err = crm_rpc_parse_request(&root, &req, &why);
    if (err == CRM_OK) {
        CHECK(req.op != NULL && req.op_len <= CRM_OP_NAME_MAX);
        CHECK(req.key == NULL || req.key_len <= CRM_KEY_MAX);
        if (req.args)
            events_of(req.args);
    } else {
        CHECK(err == why.code);
    }
    msgpack_zone_destroy(&zone);
    return 0;
}
