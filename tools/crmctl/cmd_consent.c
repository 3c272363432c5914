/*
 * cmd_consent.c - consent as the log tells it: customer consent-at (one
 * guest, one channel and purpose, one moment) and audit
 * consent-violations (marketing sent without consent, every page).
 * Times are ISO-8601 UTC both ways, as crmctl append reads them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "out.h"
#include "rpc.h"
#include "timefmt.h"

/* An integer member of m as a time, "-" when nil or absent. */
static const char *
time_cell(const msgpack_object *m, const char *k, char out[CTL_TIME_STRLEN + 1])
{
    const msgpack_object *o = crm_mp_get(m, k);
    int64_t us;
    if (crm_mp_int(o, 1, INT64_MAX, &us) != 0)
        return strcpy(out, "-");
    ctl_time_format(us, 1, out);
    return out;
}

int
ctl_cmd_customer_consent_at(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    const char *when = ctl_arg(a, "at");
    int64_t at = 0;
    if (ctl_arg(a, "channel") == NULL)
        return ctl_usage(a->cmd, "--channel is required");
    if (when && ctl_time_parse(when, &at) != 0)
        return ctl_usage(a->cmd,
                         "--at must be a time "
                         "YYYY-MM-DDTHH:MM:SS[.ffffff]Z, not '%s'",
                         when);
    ctl_kv kv[] = {CTL_S("customer", a->pos[0]),
                   CTL_S("channel", ctl_arg(a, "channel")),
                   CTL_S("purpose", ctl_arg(a, "purpose")), CTL_I("at", at)};
    /* without --at the server's clock says when */
    int rc = ctl_call_kv(c, "customer.consent_at", kv, when ? 4 : 3, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    char ch[32], pu[32], src[80], t_at[CTL_TIME_STRLEN + 1],
        t_since[CTL_TIME_STRLEN + 1];
    const msgpack_object *g = crm_mp_get(res, "granted");
    int granted = g && g->type == MSGPACK_OBJECT_BOOLEAN && g->via.boolean;
    int given = ctl_u64(res, "position", 0) != 0;
    printf("%s %s/%s at %s: ", a->pos[0], ctl_str(res, "channel", ch, 32),
           ctl_str(res, "purpose", pu, 32), time_cell(res, "at", t_at));
    if (!given) {
        printf("not granted (never given)\n");
        return 0;
    }
    printf("%s since %s (position %" PRIu64, granted ? "granted" : "withdrawn",
           time_cell(res, "since", t_since), ctl_u64(res, "position", 0));
    if (ctl_str(res, "source", src, sizeof(src))[0])
        printf(", source %s", src);
    printf(")\n");
    return 0;
}

#define NVCOLS 7
static const char *const vheads[NVCOLS] = {"position", "customer", "campaign",
                                           "channel",  "sent_at",  "consent",
                                           "since"};

/* Adds the rows of one page to t. 0 or -1 (out of memory). */
static int
violation_rows(ctl_table *t, const msgpack_object *list)
{
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *v = &list->via.array.ptr[i];
        char pos[24], cust[80], camp[80], ch[32], consent[32],
            sent[CTL_TIME_STRLEN + 1], since[CTL_TIME_STRLEN + 1];
        snprintf(pos, sizeof(pos), "%" PRIu64, ctl_u64(v, "position", 0));
        ctl_str(v, "consent", consent, sizeof(consent));
        if (strcmp(consent, "never_given") == 0)
            strcpy(consent, "never given");
        const char *row[NVCOLS] = {pos,
                                   ctl_str(v, "customer", cust, sizeof(cust)),
                                   ctl_str(v, "campaign", camp, sizeof(camp)),
                                   ctl_str(v, "channel", ch, sizeof(ch)),
                                   time_cell(v, "sent_at", sent),
                                   consent,
                                   time_cell(v, "since", since)};
        if (ctl_table_row(t, row) != 0)
            return -1;
    }
    return 0;
}

int
ctl_cmd_audit_consent_violations(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    int64_t limit, cursor;
    int rc;
    if ((rc = ctl_arg_int(a, "limit", 100, 1, 1000, &limit)) != 0 ||
        (rc = ctl_arg_int(a, "cursor", 1, 1, INT64_MAX, &cursor)) != 0)
        return rc;
    ctl_table *t = NULL;
    uint64_t total = 0;
    /* Every page to the head: a page may hold none and still say more
     * (it stops after a bounded scan of the log). */
    for (;;) {
        ctl_kv kv[] = {CTL_S("campaign", ctl_arg(a, "campaign")),
                       CTL_I("cursor", cursor), CTL_I("limit", limit)};
        if ((rc = ctl_call_kv(c, "audit.consent_violations", kv, 3, &res)) != 0)
            break;
        const msgpack_object *list = crm_mp_get(res, "violations");
        if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY) {
            rc = ctl_error(CRM_ERR_INTERNAL, "reply has no violations");
            break;
        }
        if (c->json && (rc = ctl_out_mp_json(res)) != 0)
            break; /* one document per page */
        if (!c->json && list->via.array.size > 0 &&
            ((t == NULL &&
              (t = ctl_table_open(NVCOLS, vheads, NULL, 0)) == NULL) ||
             violation_rows(t, list) != 0)) {
            rc = ctl_error(CRM_ERR_NOMEM, "cannot build the table");
            break;
        }
        total += list->via.array.size;
        cursor = (int64_t)ctl_u64(res, "next", (uint64_t)cursor);
        const msgpack_object *more = crm_mp_get(res, "more");
        if (more == NULL || more->type != MSGPACK_OBJECT_BOOLEAN ||
            !more->via.boolean)
            break;
    }
    ctl_table_close(t);
    if (rc == 0 && !c->json)
        printf("%" PRIu64 " message%s sent without consent; later ones "
               "from --cursor %" PRId64 "\n",
               total, total == 1 ? "" : "s", cursor);
    return rc;
}
