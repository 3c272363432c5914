/*
 * cmd_guest.c - what the front desk and the loyalty desk ask about one
 * guest: customer get, customer find, customer erase and its receipt,
 * loyalty get, loyalty redeem.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "out.h"
#include "rpc.h"

int
ctl_cmd_customer_get(ctl *c, const ctl_args *a)
{
    int64_t tp;
    int rc = ctl_arg_int(a, "touchpoints", 20, 0, 200, &tp);
    if (rc != 0)
        return rc;
    ctl_kv kv[] = {CTL_S("customer", a->pos[0]), CTL_I("touchpoints", tp),
                   CTL_S("on", ctl_arg(a, "on"))};
    return ctl_call_show(c, "customer.get", kv, 3);
}

#define ERASE_WAIT_MS (3600 * 1000) /* the server's longest wait */

int
ctl_cmd_customer_erase(ctl *c, const ctl_args *a)
{
    int wait = ctl_flag(a, "wait");
    if (wait && c->min_timeout_ms < ERASE_WAIT_MS + 60000)
        c->min_timeout_ms = ERASE_WAIT_MS + 60000;
    ctl_kv kv[] = {CTL_S("customer", a->pos[0]),
                   CTL_S("reason", ctl_arg(a, "reason")),
                   CTL_S("request_ref", ctl_arg(a, "ref")), CTL_B("wait", wait),
                   CTL_I("wait_ms", ERASE_WAIT_MS)};
    return ctl_call_show(c, "customer.erase", kv, 5);
}

int
ctl_cmd_customer_erasure_receipt(ctl *c, const ctl_args *a)
{
    ctl_kv kv[] = {CTL_S("customer", a->pos[0])};
    return ctl_call_show(c, "customer.erasure_receipt", kv, 1);
}

int
ctl_cmd_customer_find(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    int64_t limit;
    int rc = ctl_arg_int(a, "limit", 20, 1, 100, &limit);
    if (rc != 0)
        return rc;
    static const char *const by[] = {"email", "phone", "loyalty", "name"};
    int given = 0;
    for (size_t i = 0; i < sizeof(by) / sizeof(by[0]); i++)
        given += ctl_arg(a, by[i]) != NULL;
    if (given != 1)
        return ctl_usage(a->cmd, "give one of --email, --phone, --loyalty or "
                                 "--name");
    if (ctl_arg(a, "birth-date") && !ctl_arg(a, "name"))
        return ctl_usage(a->cmd, "--birth-date narrows a --name search");
    ctl_kv kv[] = {CTL_S("email", ctl_arg(a, "email")),
                   CTL_S("phone", ctl_arg(a, "phone")),
                   CTL_S("loyalty", ctl_arg(a, "loyalty")),
                   CTL_S("name", ctl_arg(a, "name")),
                   CTL_S("birth_date", ctl_arg(a, "birth-date")),
                   CTL_I("limit", limit)};
    if ((rc = ctl_call_kv(c, "customer.find", kv, 6, &res)) != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    const msgpack_object *hits = crm_mp_get(res, "hits");
    if (hits == NULL || hits->type != MSGPACK_OBJECT_ARRAY ||
        hits->via.array.size == 0) {
        printf("no guest found\n");
        return 0;
    }
    ctl_out_view(res);
    return 0;
}

int
ctl_cmd_loyalty_get(ctl *c, const ctl_args *a)
{
    int64_t ledger;
    int rc = ctl_arg_int(a, "ledger", 20, 0, 500, &ledger);
    if (rc != 0)
        return rc;
    ctl_kv kv[] = {CTL_S("customer", a->pos[0]), CTL_I("ledger", ledger),
                   CTL_S("on", ctl_arg(a, "on"))};
    return ctl_call_show(c, "loyalty.get", kv, 3);
}

int
ctl_cmd_loyalty_redeem(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    int64_t points;
    char *end;
    long long n = strtoll(a->pos[1], &end, 10);
    if (a->pos[1][0] == '\0' || *end != '\0' || n < 1 || n > 100000000)
        return ctl_usage(a->cmd, "POINTS must be an integer in 1..100000000, "
                                 "not '%s'", a->pos[1]);
    points = n;
    int rc;
    ctl_kv kv[] = {CTL_S("customer", a->pos[0]), CTL_I("points", points),
                   CTL_S("reward", ctl_arg(a, "reward")),
                   CTL_S("property", ctl_arg(a, "property")),
                   CTL_S("id", ctl_arg(a, "id"))};
    if ((rc = ctl_call_kv(c, "loyalty.redeem", kv, 5, &res)) != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    const msgpack_object *pos = crm_mp_get(res, "positions");
    uint64_t at = pos && pos->type == MSGPACK_OBJECT_ARRAY &&
                          pos->via.array.size > 0
                      ? pos->via.array.ptr[0].via.u64
                      : 0;
    printf("%s %" PRId64 " points for %s at position %" PRIu64 "\n",
           ctl_u64(res, "duplicates", 0) ? "already redeemed:" : "redeemed",
           points, a->pos[0], at);
    return 0;
}

int
ctl_cmd_loyalty_sweep(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    ctl_kv kv[] = {CTL_S("on", ctl_arg(a, "on"))};
    int rc = ctl_call_kv(c, "loyalty.sweep", kv, 1, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    char on[16];
    printf("swept %s: %" PRIu64 " accruals expired (%" PRIu64 " points), %"
           PRIu64 " tier changes (%" PRIu64 " bonus points), %" PRIu64
           " events\n",
           ctl_str(res, "on", on, sizeof(on)), ctl_u64(res, "expired", 0),
           ctl_u64(res, "expired_points", 0), ctl_u64(res, "tier_changes", 0),
           ctl_u64(res, "bonus_points", 0), ctl_u64(res, "events", 0));
    return 0;
}
