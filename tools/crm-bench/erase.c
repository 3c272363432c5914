/*
 * erase.c - crm-bench guests' erasure phase: customer.erase of guests
 * of the loaded tenant, with completion (the erasure round: a new tenant
 * key, the blind projections rebuilt from the log under a new index key,
 * every key rewrapped), in two ways:
 *
 *   one by one  each erasure with wait: the erasure and a whole round
 *   burst       erasures without wait, one after the other, then one with
 *               wait: the rounds that run meanwhile each complete every
 *               erasure asked before they began
 *
 * Guests are picked by a stride through the tenant, so none twice.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "chain.h"
#include "client.h"
#include "rpc.h"

/* Guest k of the phase: a stride coprime with most tenant sizes. */
static unsigned
pick(unsigned k, unsigned guests)
{
    return (unsigned)((7919ull + (uint64_t)k * 104729ull) % guests);
}

static crm_err
erase_one(crm_client *c, unsigned guest, int wait, int *complete,
          crm_error *why)
{
    bench_guest g;
    bench_chain_guest(guest, &g);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    crm_mp_pack_cstr(&pk, "customer");
    crm_mp_pack_cstr(&pk, g.id);
    crm_mp_pack_cstr(&pk, "reason");
    crm_mp_pack_cstr(&pk, "gdpr");
    crm_mp_pack_cstr(&pk, "request_ref");
    crm_mp_pack_cstr(&pk, "crm-bench");
    crm_mp_pack_cstr(&pk, "wait");
    wait ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    const msgpack_object *res;
    crm_err err =
        crm_client_call_raw(c, "customer.erase", sb.data, sb.size, &res, why);
    msgpack_sbuffer_destroy(&sb);
    if (err == CRM_OK) {
        const msgpack_object *st = crm_mp_get(res, "status");
        *complete = st && st->type == MSGPACK_OBJECT_STR &&
                    st->via.str.size == 8 &&
                    memcmp(st->via.str.ptr, "complete", 8) == 0;
    }
    return err;
}

int
bench_erase(const char *url, const char *key, unsigned guests, unsigned one,
            unsigned burst, bench_erased *out)
{
    memset(out, 0, sizeof(*out));
    crm_client *c = NULL;
    crm_client_opts co = {.url = url, .key = key, .timeout_ms = 3600 * 1000};
    crm_error why;
    if (crm_client_open(&co, &c, &why) != CRM_OK) {
        fprintf(stderr, "erase: %s\n", why.msg);
        return -1;
    }
    crm_err err = CRM_OK;
    unsigned k = 0;
    double sum = 0;
    for (; out->one < one && err == CRM_OK && !bench_stopped(); k++) {
        int complete = 0;
        double t0 = bench_now();
        err = erase_one(c, pick(k, guests), 1, &complete, &why);
        double s = bench_now() - t0;
        if (err == CRM_OK && !complete)
            err = crm_error_set(&why, CRM_ERR_INTERNAL,
                                "an erasure with wait was not complete");
        if (err == CRM_OK) {
            sum += s;
            if (s > out->one_max)
                out->one_max = s;
            out->one++;
        }
    }
    if (out->one)
        out->one_s = sum / out->one;
    double t0 = bench_now();
    for (unsigned b = 0; b < burst && err == CRM_OK && !bench_stopped();
         b++, k++) {
        int complete = 0;
        err = erase_one(c, pick(k, guests), b + 1 == burst, &complete, &why);
        if (err == CRM_OK && b + 1 == burst && !complete)
            err = crm_error_set(&why, CRM_ERR_INTERNAL,
                                "the last erasure, with wait, was not "
                                "complete");
        if (err == CRM_OK)
            out->burst++;
    }
    out->burst_s = bench_now() - t0;
    if (out->burst && out->burst_s > 0)
        out->per_s = out->burst / out->burst_s;
    crm_client_close(c);
    if (err == CRM_ERR_UNKNOWN_OP || err == CRM_ERR_BAD_REQUEST) {
        out->na = err; /* an older server, or a tenant without keys */
        return 0;
    }
    if (err != CRM_OK) {
        fprintf(stderr, "erase: %s\n", why.msg);
        return -1;
    }
    return 0;
}
