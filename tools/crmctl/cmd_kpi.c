/*
 * cmd_kpi.c - crmctl kpi: the KPIs of the tenant or a property per month,
 * as a table with a totals row, then the campaigns of the range; with
 * --chart, the monthly NPS, CSAT and revenue as bars.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "rpc.h"
#include "out.h"

#define CELL 32

/* The columns of the month table: the reply's key and its header. */
static const struct {
    const char *key, *head;
} cols[] = {
    {"month", "MONTH"},
    {"surveys", "SURVEYS"},
    {"nps", "NPS"},
    {"csat_average", "CSAT"},
    {"stays", "STAYS"},
    {"nights", "NIGHTS"},
    {"repeat_rate", "REPEAT"},
    {"orders", "ORDERS"},
    {"average_order_value", "AOV"},
    {"revenue", "REVENUE"},
    {"lifetime_value", "CLV"},
    {"complaints_opened", "COMPLAINTS"},
    {"complaints_resolved", "RESOLVED"},
    {"median_resolution_hours", "MEDIAN_H"},
    {"bookings", "BOOKINGS"},
    {"conversion_rate", "CONVERSION"},
    {"messages_sent", "SENT"},
    {"messages_opened", "OPENED"},
    {"messages_clicked", "CLICKED"},
};
#define NCOLS (sizeof(cols) / sizeof(cols[0]))

/* A cell: "-" for nil or absent, rates as percentages, averages with one
 * decimal, integers as they are. */
static void
cell(const msgpack_object *row, const char *k, char *out)
{
    const msgpack_object *o = crm_mp_get(row, k);
    int pct = strcmp(k, "repeat_rate") == 0 || strcmp(k, "conversion_rate") == 0;
    if (o == NULL || o->type == MSGPACK_OBJECT_NIL) {
        snprintf(out, CELL, "-");
    } else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        snprintf(out, CELL, "%" PRIu64, o->via.u64);
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        snprintf(out, CELL, "%" PRId64, o->via.i64);
    } else if (o->type == MSGPACK_OBJECT_FLOAT32 ||
               o->type == MSGPACK_OBJECT_FLOAT64) {
        snprintf(out, CELL, pct ? "%.1f%%" : "%.1f",
                 pct ? 100 * o->via.f64 : o->via.f64);
    } else if (o->type == MSGPACK_OBJECT_STR) {
        size_t n = o->via.str.size < CELL - 1 ? o->via.str.size : CELL - 1;
        memcpy(out, o->via.str.ptr, n);
        out[n] = '\0';
    } else {
        snprintf(out, CELL, "?");
    }
}

static int
add_row(ctl_table *t, const msgpack_object *row, const char *label)
{
    char cells[NCOLS][CELL];
    const char *p[NCOLS];
    for (size_t i = 0; i < NCOLS; i++) {
        if (i == 0 && label)
            snprintf(cells[0], CELL, "%s", label);
        else
            cell(row, cols[i].key, cells[i]);
        p[i] = cells[i];
    }
    return ctl_table_row(t, p);
}

static int
print_campaigns(const msgpack_object *list)
{
    static const char *const head[] = {"CAMPAIGN", "SENT", "OPENED",
                                       "CLICKED"};
    if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY ||
        list->via.array.size == 0)
        return 0;
    printf("\ncampaigns\n");
    ctl_table *t = ctl_table_open(4, head, NULL, 0);
    if (t == NULL)
        return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    int rc = 0;
    for (uint32_t i = 0; i < list->via.array.size && rc == 0; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        char name[CELL], s[3][CELL];
        cell(e, "campaign", name);
        cell(e, "sent", s[0]);
        cell(e, "opened", s[1]);
        cell(e, "clicked", s[2]);
        const char *row[] = {name, s[0], s[1], s[2]};
        if (ctl_table_row(t, row) != 0)
            rc = ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    }
    ctl_table_close(t);
    return rc;
}


/* --- --churn-risk ----------------------------------------------------------- */

/* One line of the guests per churn band on the day asked. */
static void
print_churn(const msgpack_object *c)
{
    if (c == NULL)
        return;
    if (c->type != MSGPACK_OBJECT_MAP) {
        printf("\nchurn risk: not known now (the segment projection is "
               "being rebuilt)\n");
        return;
    }
    char on[16];
    ctl_str(c, "on", on, sizeof(on));
    printf("\nchurn risk on %s: %" PRIu64 " high, %" PRIu64 " medium, %" PRIu64
           " low of %" PRIu64 " guests\n",
           on, ctl_u64(c, "high", 0), ctl_u64(c, "medium", 0),
           ctl_u64(c, "low", 0), ctl_u64(c, "guests", 0));
}

/* --- --chart --------------------------------------------------------------- */

#define BAR_WIDTH 40

/* A number of row k, or NAN when nil or absent. */
static double
num(const msgpack_object *row, const char *k)
{
    const msgpack_object *o = crm_mp_get(row, k);
    if (o == NULL)
        return NAN;
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return (double)o->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return (double)o->via.i64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return o->via.f64;
    default:
        return NAN;
    }
}

/* Appends a bar of x / scale * width cells, in eighths of a cell. */
static void
bar(char *out, size_t cap, double x, double scale, int width)
{
    static const char *const eighth[] = {"",   "\u258f", "\u258e", "\u258d",
                                         "\u258c", "\u258b", "\u258a", "\u2589"};
    long units = scale > 0 ? lround(x / scale * width * 8) : 0;
    if (units > (long)width * 8)
        units = (long)width * 8;
    size_t len = strlen(out);
    for (long i = 0; i < units / 8 && len + 4 < cap; i++, len += 3)
        memcpy(out + len, "\u2588", 4);
    if (len + 4 < cap) {
        memcpy(out + len, eighth[units % 8], strlen(eighth[units % 8]) + 1);
        len += strlen(eighth[units % 8]);
    }
    out[len] = '\0';
}

/* One series over the months: a line per month with the value and its
 * bar, full the value of a whole bar (0: the series' largest); a series
 * with negative values (NPS) is drawn on both sides of an axis, the
 * negative half to the left. */
static void
chart(const msgpack_object *months, const char *k, const char *title,
      int decimals, double full)
{
    double lo = 0, hi = 0;
    for (uint32_t i = 0; i < months->via.array.size; i++) {
        double x = num(&months->via.array.ptr[i], k);
        if (!isnan(x)) {
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
        }
    }
    printf("\n%s\n", title);
    int half = lo < 0 ? BAR_WIDTH / 2 : 0;
    double scale = full > 0 ? full : fmax(-lo, hi);
    for (uint32_t i = 0; i < months->via.array.size; i++) {
        const msgpack_object *row = &months->via.array.ptr[i];
        char m[CELL], value[CELL], left[BAR_WIDTH * 3 + 8] = "",
                                   right[BAR_WIDTH * 3 + 8] = "";
        cell(row, "month", m);
        double x = num(row, k);
        if (isnan(x))
            snprintf(value, sizeof(value), "-");
        else
            snprintf(value, sizeof(value), "%.*f", decimals, x);
        if (!isnan(x) && x < 0)
            bar(left, sizeof(left), -x, scale, half);
        else if (!isnan(x))
            bar(right, sizeof(right), x, scale, half ? half : BAR_WIDTH);
        if (half) {
            /* the left bar grows towards the axis: pad it on the left */
            size_t cells = 0;
            for (const char *p = left; *p; p++)
                cells += ((unsigned char)*p & 0xC0) != 0x80;
            printf("%-8s %10s  %*s%s\u2502%s\n", m, value,
                   (int)((size_t)half - cells), "", left, right);
        } else {
            printf("%-8s %10s  %s\n", m, value, right);
        }
    }
}

static void
print_charts(const msgpack_object *months, const char *cur)
{
    char title[80];
    chart(months, "nps", "NPS (promoters minus detractors, -100..100)", 1,
          100);
    chart(months, "csat_average", "CSAT (average, 1..5)", 2, 5);
    snprintf(title, sizeof(title), "revenue (minor units of %s)",
             cur[0] ? cur : "the base currency");
    chart(months, "revenue", title, 0, 0);
}

int
ctl_cmd_kpi(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    int rc;
    ctl_kv kv[] = {CTL_S("property", ctl_arg(a, "property")),
                   CTL_S("from", ctl_arg(a, "from")),
                   CTL_S("to", ctl_arg(a, "to")),
                   CTL_B("churn_risk", ctl_flag(a, "churn-risk"))};
    if ((rc = ctl_call_kv(c, "kpi.get", kv, 4, &res)) != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    char prop[80], from[16], to[16], cur[8];
    ctl_str(res, "property", prop, sizeof(prop));
    ctl_str(res, "from", from, sizeof(from));
    ctl_str(res, "to", to, sizeof(to));
    ctl_str(res, "base_currency", cur, sizeof(cur));
    printf("%s%s, %s to %s, money in minor units of %s, as of position "
           "%" PRIu64 "\n",
           prop[0] ? "property " : "the whole tenant", prop, from, to,
           cur[0] ? cur : "the base currency", ctl_u64(res, "as_of", 0));
    const msgpack_object *months = crm_mp_get(res, "months");
    const msgpack_object *totals = crm_mp_get(res, "totals");
    if (months == NULL || months->type != MSGPACK_OBJECT_ARRAY ||
        totals == NULL || totals->type != MSGPACK_OBJECT_MAP)
        return ctl_error(CRM_ERR_INTERNAL, "reply has no months or totals");
    const char *head[NCOLS];
    for (size_t i = 0; i < NCOLS; i++)
        head[i] = cols[i].head;
    ctl_table *t = ctl_table_open(NCOLS, head, NULL, 0);
    if (t == NULL)
        return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    for (uint32_t i = 0; i < months->via.array.size && rc == 0; i++)
        if (add_row(t, &months->via.array.ptr[i], NULL) != 0)
            rc = ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    if (rc == 0 && add_row(t, totals, "total") != 0)
        rc = ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    ctl_table_close(t);
    if (rc == 0)
        rc = print_campaigns(crm_mp_get(totals, "campaigns"));
    if (rc == 0)
        print_churn(crm_mp_get(res, "churn_risk"));
    if (rc == 0 && ctl_flag(a, "chart"))
        print_charts(months, cur);
    return rc;
}
