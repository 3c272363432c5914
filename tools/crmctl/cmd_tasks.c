/*
 * cmd_tasks.c - crmctl tasks today: the morning's work list, one aligned
 * table per section under a heading with its count ("none" when it is
 * empty), dates as YYYY-MM-DD, times as ISO-8601 UTC, money with its
 * currency. crmctl has no colour helper: the output is plain.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "out.h"
#include "rpc.h"
#include "timefmt.h"

#define CELL 160

/* A column: the item's key, its header, and how to show it. */
enum { C_STR, C_INT, C_TIME, C_MONEY, C_NAME, C_PREFS, C_PAST };
typedef struct col {
    const char *key, *head;
    int kind;
} col;

static void
str_cell(const msgpack_object *o, char *out)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0) {
        snprintf(out, CELL, "-");
        return;
    }
    size_t n = o->via.str.size < CELL - 1 ? o->via.str.size : CELL - 1;
    memcpy(out, o->via.str.ptr, n);
    out[n] = '\0';
}

/* Appends the strings of a list, or the keys (and values) of a map,
 * "a, b" or "diet=halal, room=quiet", into out. */
static void
join(const msgpack_object *o, char *out, int with_values)
{
    size_t l = strlen(out);
    if (o == NULL)
        return;
    uint32_t n = o->type == MSGPACK_OBJECT_ARRAY ? o->via.array.size
                 : o->type == MSGPACK_OBJECT_MAP ? o->via.map.size
                                                 : 0;
    for (uint32_t i = 0; i < n && l < CELL - 1; i++) {
        const msgpack_object *k = o->type == MSGPACK_OBJECT_ARRAY
                                      ? &o->via.array.ptr[i]
                                      : &o->via.map.ptr[i].key;
        const msgpack_object *v =
            o->type == MSGPACK_OBJECT_MAP ? &o->via.map.ptr[i].val : NULL;
        if (k->type != MSGPACK_OBJECT_STR)
            continue;
        l += (size_t)snprintf(out + l, CELL - l, "%s%.*s", l ? ", " : "",
                              (int)k->via.str.size, k->via.str.ptr);
        if (with_values && v && v->type == MSGPACK_OBJECT_STR && l < CELL - 1)
            l += (size_t)snprintf(out + l, CELL - l, "=%.*s",
                                  (int)v->via.str.size, v->via.str.ptr);
    }
    if (l >= CELL)
        out[CELL - 1] = '\0';
}

static void
cell(const msgpack_object *it, const col *c, char *out)
{
    const msgpack_object *o = crm_mp_get(it, c->key);
    out[0] = '\0';
    switch (c->kind) {
    case C_STR:
        str_cell(o, out);
        break;
    case C_INT:
        if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            snprintf(out, CELL, "%" PRIu64, o->via.u64);
        else if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            snprintf(out, CELL, "%" PRId64, o->via.i64);
        else
            snprintf(out, CELL, "-");
        break;
    case C_TIME: {
        char t[CTL_TIME_STRLEN + 1];
        ctl_time_format(ctl_i64(it, c->key, 0), 0, t);
        snprintf(out, CELL, "%s", t);
        break;
    }
    case C_MONEY: {
        /* minor units shown with two decimals: the base currencies a
         * tenant sets (EUR, USD, GBP ...) have them */
        int64_t v = ctl_i64(o, "amount", 0);
        char cur[8];
        ctl_str(o, "currency", cur, sizeof(cur));
        uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        snprintf(out, CELL, "%s%" PRIu64 ".%02" PRIu64 " %s", v < 0 ? "-" : "",
                 a / 100, a % 100, cur);
        break;
    }
    case C_NAME: {
        char f[80], l[80];
        if (o == NULL) {
            snprintf(out, CELL, "-");
            break;
        }
        ctl_str(o, "first", f, sizeof(f));
        ctl_str(o, "last", l, sizeof(l));
        snprintf(out, CELL, "%s%s%s", f, f[0] && l[0] ? " " : "", l);
        if (!out[0])
            snprintf(out, CELL, "-");
        break;
    }
    case C_PREFS:
        join(o, out, 1);
        if (!out[0])
            snprintf(out, CELL, "-");
        break;
    case C_PAST:
        join(crm_mp_get(o, "properties"), out, 0);
        join(crm_mp_get(o, "charter"), out, 0);
        if (!out[0])
            snprintf(out, CELL, "-");
        break;
    }
}

#define MAXCOLS 12
static const struct {
    const char *key, *title;
    col cols[MAXCOLS];
} sections[] = {
    {"birthdays",
     "birthdays",
     {{"customer", "CUSTOMER", C_STR},
      {"name", "NAME", C_NAME},
      {"on", "ON", C_STR},
      {"in_days", "IN_DAYS", C_INT}}},
    {"arrivals",
     "arrivals",
     {{"arrival", "ARRIVAL", C_STR},
      {"departure", "DEPARTURE", C_STR},
      {"property", "PROPERTY", C_STR},
      {"booking_id", "BOOKING", C_STR},
      {"status", "STATUS", C_STR},
      {"customer", "CUSTOMER", C_STR},
      {"name", "NAME", C_NAME},
      {"room_type", "ROOM", C_STR},
      {"tier", "TIER", C_STR},
      {"open_complaints", "OPEN_COMPLAINTS", C_INT},
      {"preferences", "PREFERENCES", C_PREFS},
      {"past_destinations", "BEEN_TO", C_PAST}}},
    {"unconfirmed",
     "online bookings not confirmed",
     {{"booking_id", "BOOKING", C_STR},
      {"property", "PROPERTY", C_STR},
      {"channel", "CHANNEL", C_STR},
      {"customer", "CUSTOMER", C_STR},
      {"created_at", "CREATED (UTC)", C_TIME},
      {"hours_waiting", "WAITING_H", C_INT}}},
    {"complaints_past_sla",
     "complaints open past their SLA",
     {{"complaint_id", "COMPLAINT", C_STR},
      {"property", "PROPERTY", C_STR},
      {"severity", "SEVERITY", C_STR},
      {"category", "CATEGORY", C_STR},
      {"customer", "CUSTOMER", C_STR},
      {"opened_at", "OPENED (UTC)", C_TIME},
      {"hours_open", "OPEN_H", C_INT}}},
    {"dormant_high_value",
     "high-value guests turned dormant",
     {{"customer", "CUSTOMER", C_STR},
      {"last_activity", "LAST_ACTIVITY", C_STR},
      {"lifetime_spend", "LIFETIME_SPEND", C_MONEY}}},
    {"points_expiring",
     "points expiring this month",
     {{"customer", "CUSTOMER", C_STR},
      {"points", "POINTS", C_INT},
      {"first_expiry", "FIRST_EXPIRY", C_STR}}},
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

static int
print_section(const msgpack_object *res, size_t s)
{
    const msgpack_object *list = crm_mp_get(res, sections[s].key);
    const msgpack_object *more = crm_mp_get(crm_mp_get(res, "more"),
                                            sections[s].key);
    if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY)
        return ctl_error(CRM_ERR_INTERNAL, "reply has no '%s'",
                         sections[s].key);
    uint32_t n = list->via.array.size;
    int cut = more && more->type == MSGPACK_OBJECT_BOOLEAN && more->via.boolean;
    printf("\n%s (%" PRIu32 "%s)\n", sections[s].title, n, cut ? ", more" : "");
    if (n == 0) {
        printf("  none\n");
        return 0;
    }
    /* a name column only when the server sent names (roles that see
     * personal values) */
    const col *cols[MAXCOLS];
    const char *head[MAXCOLS];
    size_t nc = 0;
    for (size_t i = 0; i < MAXCOLS && sections[s].cols[i].key; i++) {
        const col *c = &sections[s].cols[i];
        if (c->kind == C_NAME && crm_mp_get(&list->via.array.ptr[0], "name") ==
                                     NULL)
            continue;
        cols[nc] = c;
        head[nc++] = c->head;
    }
    ctl_table *t = ctl_table_open(nc, head, NULL, 0);
    if (t == NULL)
        return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        char cells[MAXCOLS][CELL];
        const char *row[MAXCOLS];
        for (size_t j = 0; j < nc; j++) {
            cell(&list->via.array.ptr[i], cols[j], cells[j]);
            row[j] = cells[j];
        }
        if (ctl_table_row(t, row) != 0)
            rc = ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    }
    ctl_table_close(t);
    return rc;
}

int
ctl_cmd_tasks_today(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    int64_t days, limit;
    int rc;
    if ((rc = ctl_arg_int(a, "days", 7, 0, 31, &days)) != 0 ||
        (rc = ctl_arg_int(a, "limit", 100, 1, 500, &limit)) != 0)
        return rc;
    ctl_kv kv[] = {CTL_S("on", ctl_arg(a, "on")), CTL_I("days", days),
                   CTL_S("property", ctl_arg(a, "property")),
                   CTL_I("limit", limit)};
    if ((rc = ctl_call_kv(c, "tasks.today", kv, 4, &res)) != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    char on[16];
    ctl_str(res, "on", on, sizeof(on));
    printf("tasks for %s and the next %" PRId64 " days%s%s, as of position "
           "%" PRIu64 "\n",
           on, days, ctl_arg(a, "property") ? ", property " : "",
           ctl_arg(a, "property") ? ctl_arg(a, "property") : "",
           ctl_u64(res, "as_of", 0));
    for (size_t s = 0; s < NSECTIONS && rc == 0; s++)
        rc = print_section(res, s);
    return rc;
}
