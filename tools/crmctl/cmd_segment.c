/*
 * cmd_segment.c - crmctl segment list|counts|members|define: marketing's
 * segments, built-in and the tenant's, as tables.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "out.h"
#include "rpc.h"

#define CELL 64

/* A value as a cell: "-" for nil or absent, integers and strings as
 * they are. */
static void
text(const msgpack_object *o, char *out)
{
    if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
        snprintf(out, CELL, "-");
    else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        snprintf(out, CELL, "%" PRIu64, o->via.u64);
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        snprintf(out, CELL, "%" PRId64, o->via.i64);
    else if (o->type == MSGPACK_OBJECT_STR)
        snprintf(out, CELL, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    else
        snprintf(out, CELL, "?");
}

static void
cell(const msgpack_object *m, const char *k, char *out)
{
    text(crm_mp_get(m, k), out);
}

static int
table_fail(ctl_table *t)
{
    ctl_table_close(t);
    return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
}

int
ctl_cmd_segment_list(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    (void)a;
    int rc = ctl_call_kv(c, "segment.list", NULL, 0, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    const msgpack_object *b = crm_mp_get(res, "builtin");
    const msgpack_object *d = crm_mp_get(res, "defined");
    if (b == NULL || b->type != MSGPACK_OBJECT_ARRAY || d == NULL ||
        d->type != MSGPACK_OBJECT_ARRAY)
        return ctl_error(CRM_ERR_INTERNAL, "reply has no segments");
    printf("built-in segments (name them DIMENSION:VALUE)\n");
    static const char *const bh[] = {"DIMENSION", "VALUES", "MEANING"};
    ctl_table *t = ctl_table_open(3, bh, NULL, 0);
    if (t == NULL)
        return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    for (uint32_t i = 0; i < b->via.array.size; i++) {
        const msgpack_object *e = &b->via.array.ptr[i];
        const msgpack_object *v = crm_mp_get(e, "values");
        char dim[CELL], vals[256] = "", doc[256];
        cell(e, "dimension", dim);
        ctl_str(e, "description", doc, sizeof(doc));
        for (uint32_t j = 0; v && v->type == MSGPACK_OBJECT_ARRAY &&
                             j < v->via.array.size;
             j++) {
            char one[CELL];
            text(&v->via.array.ptr[j], one);
            size_t l = strlen(vals);
            snprintf(vals + l, sizeof(vals) - l, "%s%s", j ? " " : "", one);
        }
        const char *row[] = {dim, vals[0] ? vals : "-", doc};
        if (ctl_table_row(t, row) != 0)
            return table_fail(t);
    }
    ctl_table_close(t);
    printf("\nthe tenant's segments\n");
    if (d->via.array.size == 0) {
        printf("none (crmctl segment define NAME FILTER)\n");
        return 0;
    }
    static const char *const dh[] = {"NAME", "FILTER", "DESCRIPTION",
                                     "POSITION"};
    t = ctl_table_open(4, dh, NULL, 0);
    if (t == NULL)
        return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    for (uint32_t i = 0; i < d->via.array.size; i++) {
        const msgpack_object *e = &d->via.array.ptr[i];
        char name[CELL], filter[1024], desc[256], pos[CELL];
        cell(e, "name", name);
        ctl_str(e, "filter", filter, sizeof(filter));
        ctl_str(e, "description", desc, sizeof(desc));
        cell(e, "position", pos);
        const char *row[] = {name, filter, desc[0] ? desc : "-", pos};
        if (ctl_table_row(t, row) != 0)
            return table_fail(t);
    }
    ctl_table_close(t);
    return 0;
}

/* Rows DIMENSION VALUE GUESTS of the map dim of res. */
static int
count_rows(ctl_table *t, const msgpack_object *res, const char *dim)
{
    const msgpack_object *m = crm_mp_get(res, dim);
    if (m == NULL || m->type != MSGPACK_OBJECT_MAP)
        return 0;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object_kv *kv = &m->via.map.ptr[i];
        char value[CELL], n[CELL];
        text(&kv->key, value);
        text(&kv->val, n);
        const char *row[] = {dim, value, n};
        if (ctl_table_row(t, row) != 0)
            return -1;
    }
    return 0;
}

int
ctl_cmd_segment_counts(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    ctl_kv kv[] = {CTL_S("on", ctl_arg(a, "on"))};
    int rc = ctl_call_kv(c, "segment.counts", kv, 1, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    char on[16];
    ctl_str(res, "on", on, sizeof(on));
    printf("on %s: %" PRIu64 " guests, as of position %" PRIu64 "\n", on,
           ctl_u64(res, "guests", 0), ctl_u64(res, "as_of", 0));
    static const char *const head[] = {"DIMENSION", "VALUE", "GUESTS"};
    ctl_table *t = ctl_table_open(3, head, NULL, 0);
    if (t == NULL)
        return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    static const char *const dims[] = {"lifecycle", "frequency", "value",
                                       "churn", "tier"};
    for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++)
        if (count_rows(t, res, dims[i]) != 0)
            return table_fail(t);
    char n[CELL];
    cell(res, "points_expiring", n);
    const char *pe[] = {"points_expiring", "within 30 days", n};
    if (ctl_table_row(t, pe) != 0)
        return table_fail(t);
    const msgpack_object *rfm = crm_mp_get(res, "rfm");
    static const char *const rn[] = {"rfm_r", "rfm_f", "rfm_m"};
    static const char *const rk[] = {"r", "f", "m"};
    for (int d = 0; d < 3 && rfm; d++) {
        const msgpack_object *q = crm_mp_get(rfm, rk[d]);
        for (uint32_t v = 0; q && q->type == MSGPACK_OBJECT_ARRAY &&
                             v < q->via.array.size;
             v++) {
            char value[16], cnt[CELL];
            snprintf(value, sizeof(value), "%u", v + 1);
            text(&q->via.array.ptr[v], cnt);
            const char *row[] = {rn[d], value, cnt};
            if (ctl_table_row(t, row) != 0)
                return table_fail(t);
        }
    }
    if (count_rows(t, res, "defined") != 0)
        return table_fail(t);
    ctl_table_close(t);
    return 0;
}

static const struct {
    const char *key, *head;
} mcols[] = {
    {"id", "ID"},
    {"lifecycle", "LIFECYCLE"},
    {"frequency", "FREQUENCY"},
    {"stays", "STAYS"},
    {"nights", "NIGHTS"},
    {"nights_12m", "NIGHTS_12M"},
    {"spend", "SPEND"},
    {"last_stay", "LAST_STAY"},
    {"churn", "CHURN"},
};
#define NMCOLS (sizeof(mcols) / sizeof(mcols[0]))

int
ctl_cmd_segment_members(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    int64_t limit;
    int all = ctl_flag(a, "all");
    int rc = ctl_arg_int(a, "limit", 100, 1, 1000, &limit);
    if (rc != 0)
        return rc;
    char cursor[160] = "";
    if (ctl_arg(a, "cursor"))
        snprintf(cursor, sizeof(cursor), "%s", ctl_arg(a, "cursor"));
    const char *head[NMCOLS];
    for (size_t i = 0; i < NMCOLS; i++)
        head[i] = mcols[i].head;
    ctl_table *t = NULL;
    uint64_t total = 0;
    for (;;) {
        ctl_kv kv[] = {CTL_S("segment", a->pos[0]),
                       CTL_S("on", ctl_arg(a, "on")), CTL_I("limit", limit),
                       CTL_S("cursor", cursor[0] ? cursor : NULL)};
        if ((rc = ctl_call_kv(c, "segment.members", kv, 4, &res)) != 0)
            break;
        const msgpack_object *m = crm_mp_get(res, "members");
        if (m == NULL || m->type != MSGPACK_OBJECT_ARRAY) {
            rc = ctl_error(CRM_ERR_INTERNAL, "reply has no members");
            break;
        }
        if (c->json) {
            /* one document per page */
            if ((rc = ctl_out_mp_json(res)) != 0)
                break;
        } else {
            if (t == NULL) {
                char on[16];
                ctl_str(res, "on", on, sizeof(on));
                printf("segment %s on %s\n", a->pos[0], on);
                if ((t = ctl_table_open(NMCOLS, head, NULL, 0)) == NULL) {
                    rc = ctl_error(CRM_ERR_NOMEM, "cannot build the table");
                    break;
                }
            }
            for (uint32_t i = 0; i < m->via.array.size; i++) {
                char cells[NMCOLS][CELL];
                const char *row[NMCOLS];
                for (size_t j = 0; j < NMCOLS; j++) {
                    cell(&m->via.array.ptr[i], mcols[j].key, cells[j]);
                    row[j] = cells[j];
                }
                if (ctl_table_row(t, row) != 0) {
                    ctl_table_close(t);
                    return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
                }
            }
        }
        total += m->via.array.size;
        int more = crm_mp_get(res, "more") &&
                   crm_mp_get(res, "more")->type == MSGPACK_OBJECT_BOOLEAN &&
                   crm_mp_get(res, "more")->via.boolean;
        ctl_str(res, "next", cursor, sizeof(cursor));
        if (!more || !all) {
            if (!c->json) {
                ctl_table_close(t);
                t = NULL;
                printf("%" PRIu64 " guest%s", total, total == 1 ? "" : "s");
                if (more)
                    printf("; more: --cursor %s (or --all)", cursor);
                printf("\n");
            }
            break;
        }
    }
    ctl_table_close(t);
    return rc;
}

/* One CSV field (RFC 4180): quoted when it holds a comma, a quote or a
 * line break, quotes doubled. */
static void
csv_field(const msgpack_object *o, int first)
{
    if (!first)
        putchar(',');
    if (o == NULL || o->type != MSGPACK_OBJECT_STR)
        return;
    const char *p = o->via.str.ptr;
    size_t n = o->via.str.size;
    int quote = memchr(p, ',', n) || memchr(p, '"', n) || memchr(p, '\n', n) ||
                memchr(p, '\r', n);
    if (!quote) {
        fwrite(p, 1, n, stdout);
        return;
    }
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"')
            putchar('"');
        putchar(p[i]);
    }
    putchar('"');
}

int
ctl_cmd_segment_export(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    int64_t limit;
    int csv = ctl_flag(a, "csv");
    int rc = ctl_arg_int(a, "limit", 500, 1, 1000, &limit);
    if (rc != 0)
        return rc;
    if (ctl_arg(a, "channel") == NULL)
        return ctl_usage(a->cmd, "give --channel (email, sms, phone, post, "
                                 "push or whatsapp)");
    if (csv && c->json)
        return ctl_usage(a->cmd, "--csv or --json, not both");
    char cursor[160] = "";
    uint64_t exported = 0, no_consent = 0, no_address = 0;
    ctl_table *t = NULL;
    int header = 0;
    for (;;) {
        ctl_kv kv[] = {CTL_S("segment", a->pos[0]),
                       CTL_S("channel", ctl_arg(a, "channel")),
                       CTL_S("on", ctl_arg(a, "on")), CTL_I("limit", limit),
                       CTL_S("cursor", cursor[0] ? cursor : NULL)};
        if ((rc = ctl_call_kv(c, "segment.export", kv, 5, &res)) != 0)
            break;
        const msgpack_object *cols = crm_mp_get(res, "columns");
        const msgpack_object *rows = crm_mp_get(res, "rows");
        if (cols == NULL || cols->type != MSGPACK_OBJECT_ARRAY ||
            cols->via.array.size > 8 || rows == NULL ||
            rows->type != MSGPACK_OBJECT_ARRAY) {
            rc = ctl_error(CRM_ERR_INTERNAL, "reply has no rows");
            break;
        }
        size_t nc = cols->via.array.size;
        if (c->json) {
            if ((rc = ctl_out_mp_json(res)) != 0)
                break;
        } else if (csv) {
            for (size_t j = 0; !header && j < nc; j++)
                csv_field(&cols->via.array.ptr[j], j == 0);
            if (!header)
                putchar('\n');
            header = 1;
            for (uint32_t i = 0; i < rows->via.array.size; i++) {
                const msgpack_object *r = &rows->via.array.ptr[i];
                for (size_t j = 0; j < nc; j++)
                    csv_field(r->type == MSGPACK_OBJECT_ARRAY &&
                                      j < r->via.array.size
                                  ? &r->via.array.ptr[j]
                                  : NULL,
                              j == 0);
                putchar('\n');
            }
        } else {
            if (t == NULL) {
                static char heads[8][CELL];
                const char *head[8];
                for (size_t j = 0; j < nc; j++) {
                    text(&cols->via.array.ptr[j], heads[j]);
                    for (char *h = heads[j]; *h; h++)
                        *h = (char)(*h >= 'a' && *h <= 'z' ? *h - 32 : *h);
                    head[j] = heads[j];
                }
                if ((t = ctl_table_open(nc, head, NULL, 0)) == NULL) {
                    rc = ctl_error(CRM_ERR_NOMEM, "cannot build the table");
                    break;
                }
            }
            for (uint32_t i = 0; i < rows->via.array.size; i++) {
                const msgpack_object *r = &rows->via.array.ptr[i];
                char cells[8][CELL];
                const char *row[8];
                for (size_t j = 0; j < nc; j++) {
                    text(r->type == MSGPACK_OBJECT_ARRAY &&
                                 j < r->via.array.size
                             ? &r->via.array.ptr[j]
                             : NULL,
                         cells[j]);
                    row[j] = cells[j];
                }
                if (ctl_table_row(t, row) != 0) {
                    ctl_table_close(t);
                    return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
                }
            }
        }
        exported += ctl_u64(res, "exported", 0);
        no_consent += ctl_u64(res, "no_consent", 0);
        no_address += ctl_u64(res, "no_address", 0);
        const msgpack_object *more = crm_mp_get(res, "more");
        ctl_str(res, "next", cursor, sizeof(cursor));
        if (more == NULL || more->type != MSGPACK_OBJECT_BOOLEAN ||
            !more->via.boolean)
            break;
    }
    ctl_table_close(t);
    if (rc == 0 && !c->json)
        fprintf(csv ? stderr : stdout,
                "%" PRIu64 " exported; not consented to %s marketing: %" PRIu64
                "; no address: %" PRIu64 "\n",
                exported, ctl_arg(a, "channel"), no_consent, no_address);
    return rc;
}

int
ctl_cmd_segment_define(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    int drop = ctl_flag(a, "drop");
    if (drop && (a->npos > 1 || ctl_arg(a, "description")))
        return ctl_usage(a->cmd, "--drop takes only the NAME");
    if (!drop && a->npos < 2)
        return ctl_usage(a->cmd, "give the FILTER (or --drop)");
    ctl_kv kv[] = {CTL_S("name", a->pos[0]),
                   CTL_S("filter", drop ? NULL : a->pos[1]),
                   CTL_S("description", ctl_arg(a, "description")),
                   CTL_B("drop", drop)};
    int rc = ctl_call_kv(c, "segment.define", kv, 4, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    const msgpack_object *p = crm_mp_get(res, "positions");
    uint64_t pos = p && p->type == MSGPACK_OBJECT_ARRAY && p->via.array.size
                       ? p->via.array.ptr[0].via.u64
                       : 0;
    printf("segment %s %s at position %" PRIu64 "\n", a->pos[0],
           drop ? "dropped" : "defined", pos);
    return 0;
}
