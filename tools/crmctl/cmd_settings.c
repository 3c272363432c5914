/*
 * cmd_settings.c - the tenant's settings (settings get, settings set) and
 * rebuilding its projections (admin rebuild).
 *
 * settings set builds its args as JSON (from --file, then the options on
 * top) and packs them once; what a value may be is the server's to say.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "json.h"
#include "out.h"
#include "rpc.h"
#include "uuid.h"

static const msgpack_object *
list_member(const msgpack_object *m, const char *k)
{
    const msgpack_object *o = crm_mp_get(m, k);
    return o && o->type == MSGPACK_OBJECT_ARRAY ? o : NULL;
}

/* One table of a settings.get reply: the members cols of each entry of
 * list k, under the headers head. */
static int
print_list(const msgpack_object *res, const char *k, const char *title,
           size_t ncols, const char *const *head, const char *const *cols)
{
    const msgpack_object *list = list_member(res, k);
    if (list == NULL)
        return ctl_error(CRM_ERR_INTERNAL, "reply has no '%s' list", k);
    printf("\n%s\n", title);
    ctl_table *t = ctl_table_open(ncols, head, NULL, 0);
    if (t == NULL)
        return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    int rc = 0;
    for (uint32_t i = 0; i < list->via.array.size && rc == 0; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        char cell[8][64];
        const char *row[8];
        for (size_t c = 0; c < ncols && c < 8; c++) {
            const msgpack_object *v = crm_mp_get(e, cols[c]);
            if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                snprintf(cell[c], sizeof(cell[c]), "%" PRIu64, v->via.u64);
            else if (ctl_str(e, cols[c], cell[c], sizeof(cell[c]))[0] == '\0')
                snprintf(cell[c], sizeof(cell[c]), "%s",
                         strcmp(cols[c], "from") == 0 ? "default" : "-");
            row[c] = cell[c];
        }
        if (ctl_table_row(t, row) != 0)
            rc = ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    }
    ctl_table_close(t);
    return rc;
}

int
ctl_cmd_settings_get(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    int64_t as_of;
    int rc = ctl_arg_int(a, "as-of", 0, 1, INT64_MAX, &as_of);
    if (rc != 0)
        return rc;
    ctl_kv kv[] = {CTL_S("on", ctl_arg(a, "on")), CTL_I("as_of", as_of)};
    rc = ctl_call_kv(c, "settings.get", kv, as_of ? 2 : 1, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    static const char *const scalars[] = {
        "on",           "as_of",         "changes",
        "last_change",  "base_currency", "country_code",
        "complaint_sla_hours", "dormant_days", "points_expiry_months",
        "tier_window_months", "booking_confirm_hours"};
    for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
        const msgpack_object *v = crm_mp_get(res, scalars[i]);
        char s[64];
        if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            printf("%-22s %" PRIu64 "\n", scalars[i], v->via.u64);
        else
            printf("%-22s %s\n", scalars[i],
                   ctl_str(res, scalars[i], s, sizeof(s))[0] ? s : "-");
    }
    static const char *const rate_h[] = {"CURRENCY", "RATE", "FROM"};
    static const char *const rate_c[] = {"currency", "rate", "from"};
    static const char *const tier_h[] = {"TIER",       "RANK",  "MIN_NIGHTS",
                                         "MIN_POINTS", "BONUS", "FROM"};
    static const char *const tier_c[] = {"tier",       "rank",         "min_nights",
                                         "min_points", "bonus_points", "from"};
    static const char *const earn_h[] = {"TIER", "CATEGORY", "POINTS_PER_UNIT",
                                         "FROM"};
    static const char *const earn_c[] = {"tier", "category", "points_per_unit",
                                         "from"};
    if ((rc = print_list(res, "rates", "exchange rates (one unit in the base "
                                       "currency)",
                         3, rate_h, rate_c)) != 0 ||
        (rc = print_list(res, "tiers", "loyalty tiers", 6, tier_h, tier_c)) !=
            0 ||
        (rc = print_list(res, "earn", "earn rates (points per base-currency "
                                      "unit; the most specific rule wins)",
                         4, earn_h, earn_c)) != 0)
        return rc;
    return 0;
}

/* --- settings set ---------------------------------------------------------- */

/* The scalar options and their args (integers unless noted). */
static const struct {
    const char *opt, *arg;
    int text;
} scalar_opts[] = {
    {"base-currency", "base_currency", 1},
    {"country-code", "country_code", 1},
    {"complaint-sla-hours", "complaint_sla_hours", 0},
    {"dormant-days", "dormant_days", 0},
    {"points-expiry-months", "points_expiry_months", 0},
    {"tier-window-months", "tier_window_months", 0},
    {"booking-confirm-hours", "booking_confirm_hours", 0},
    {"reason", "reason", 1},
};

/* s is "NAME=VALUE": splits it into name (copied into buf) and value. */
static int
split_eq(const char *s, char sep, char *buf, size_t len, const char **value)
{
    const char *eq = strchr(s, sep);
    if (eq == NULL || eq == s || eq[1] == '\0' || (size_t)(eq - s) >= len)
        return -1;
    memcpy(buf, s, (size_t)(eq - s));
    buf[eq - s] = '\0';
    *value = eq + 1;
    return 0;
}

static int
parse_count(const char *s, int64_t *out)
{
    char *end = NULL;
    if (s[0] == '\0')
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || errno != 0)
        return -1;
    *out = v;
    return 0;
}

/* "gold:2[:nights=25,points=15000,bonus=1000,retired]" as a tier map. */
static json_t *
parse_tier(const ctl_args *a, const char *s, int *rc)
{
    char buf[256], name[64];
    const char *rest;
    if (strlen(s) >= sizeof(buf) ||
        split_eq(s, ':', name, sizeof(name), &rest) != 0) {
        *rc = ctl_usage(a->cmd, "--tier wants NAME:RANK[:nights=N,points=N,"
                                "bonus=N,retired], not '%s'",
                        s);
        return NULL;
    }
    strcpy(buf, rest);
    char *opts = strchr(buf, ':');
    if (opts)
        *opts++ = '\0';
    int64_t rank;
    if (parse_count(buf, &rank) != 0) {
        *rc = ctl_usage(a->cmd, "--tier %s: rank '%s' is not a number", name,
                        buf);
        return NULL;
    }
    json_t *t = json_pack("{sssI}", "tier", name, "rank", (json_int_t)rank);
    for (char *save, *o = opts ? strtok_r(opts, ",", &save) : NULL;
         t && o; o = strtok_r(NULL, ",", &save)) {
        static const struct {
            const char *k, *arg;
        } keys[] = {{"nights", "min_nights"},
                    {"points", "min_points"},
                    {"bonus", "bonus_points"}};
        if (strcmp(o, "retired") == 0) {
            json_object_set_new(t, "retired", json_true());
            continue;
        }
        char k[32];
        const char *v = NULL;
        size_t i = sizeof(keys) / sizeof(keys[0]);
        int64_t n;
        if (split_eq(o, '=', k, sizeof(k), &v) == 0)
            for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                if (strcmp(k, keys[i].k) == 0)
                    break;
        if (i == sizeof(keys) / sizeof(keys[0]) || parse_count(v, &n) != 0) {
            json_decref(t);
            *rc = ctl_usage(a->cmd,
                            "--tier %s: '%s' is none of nights=N, points=N, "
                            "bonus=N, retired",
                            name, o);
            return NULL;
        }
        json_object_set_new(t, keys[i].arg, json_integer((json_int_t)n));
    }
    if (t == NULL)
        *rc = ctl_error(CRM_ERR_NOMEM, "out of memory");
    return t;
}

/* "gold/spa=15" (tier/category=points per unit) as an earn map. */
static json_t *
parse_earn(const ctl_args *a, const char *s, int *rc)
{
    char rule[128], tier[64];
    const char *ppu, *cat;
    if (split_eq(s, '=', rule, sizeof(rule), &ppu) != 0 ||
        split_eq(rule, '/', tier, sizeof(tier), &cat) != 0) {
        *rc = ctl_usage(a->cmd,
                        "--earn wants TIER/CATEGORY=POINTS (any for either), "
                        "not '%s'",
                        s);
        return NULL;
    }
    json_t *e = json_pack("{ssssss}", "tier", tier, "category", cat,
                          "points_per_unit", ppu);
    if (e == NULL)
        *rc = ctl_error(CRM_ERR_NOMEM, "out of memory");
    return e;
}

/* The args of settings.set: --file's object, then the options on top. */
static json_t *
build_set_args(const ctl_args *a, int *rc)
{
    json_t *args;
    const char *file = ctl_arg(a, "file");
    if (file) {
        json_error_t jerr;
        FILE *f = fopen(file, "r");
        if (f == NULL) {
            *rc = ctl_file_error("cannot open settings file", file, errno);
            return NULL;
        }
        args = json_loadf(f, 0, &jerr);
        fclose(f);
        if (args == NULL || !json_is_object(args)) {
            json_decref(args);
            *rc = ctl_bad_input("%s:%d: %s", file, jerr.line,
                                args ? "not a JSON object" : jerr.text);
            return NULL;
        }
    } else if ((args = json_object()) == NULL) {
        *rc = ctl_error(CRM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    const char *from = ctl_arg(a, "from");
    if (from)
        json_object_set_new(args, "effective_from", json_string(from));
    for (size_t i = 0; i < sizeof(scalar_opts) / sizeof(scalar_opts[0]); i++) {
        const char *v = ctl_arg(a, scalar_opts[i].opt);
        int64_t n;
        if (v == NULL)
            continue;
        if (scalar_opts[i].text) {
            json_object_set_new(args, scalar_opts[i].arg, json_string(v));
        } else if (parse_count(v, &n) == 0) {
            json_object_set_new(args, scalar_opts[i].arg,
                                json_integer((json_int_t)n));
        } else {
            json_decref(args);
            *rc = ctl_usage(a->cmd, "--%s must be a whole number, not '%s'",
                            scalar_opts[i].opt, v);
            return NULL;
        }
    }
    const char *v;
    for (size_t i = 0; (v = ctl_arg_nth(a, "rate", i)) != NULL; i++) {
        char cur[16];
        const char *rate;
        if (split_eq(v, '=', cur, sizeof(cur), &rate) != 0) {
            json_decref(args);
            *rc = ctl_usage(a->cmd, "--rate wants CUR=RATE, not '%s'", v);
            return NULL;
        }
        json_t *rates = json_object_get(args, "rates");
        if (rates == NULL) {
            rates = json_object();
            json_object_set_new(args, "rates", rates);
        }
        json_object_set_new(rates, cur, json_string(rate));
    }
    static const struct {
        const char *opt, *arg;
        json_t *(*parse)(const ctl_args *, const char *, int *);
    } lists[] = {{"tier", "tiers", parse_tier}, {"earn", "earn", parse_earn}};
    for (size_t l = 0; l < 2; l++)
        for (size_t i = 0; (v = ctl_arg_nth(a, lists[l].opt, i)) != NULL;
             i++) {
            json_t *e = lists[l].parse(a, v, rc);
            if (e == NULL) {
                json_decref(args);
                return NULL;
            }
            json_t *arr = json_object_get(args, lists[l].arg);
            if (arr == NULL) {
                arr = json_array();
                json_object_set_new(args, lists[l].arg, arr);
            }
            json_array_append_new(arr, e);
        }
    if (json_object_get(args, "effective_from") == NULL) {
        json_decref(args);
        *rc = ctl_usage(a->cmd, "--from DATE is required (the first day the "
                                "change applies)");
        return NULL;
    }
    return args;
}

int
ctl_cmd_settings_set(ctl *c, const ctl_args *a)
{
    int rc = 0;
    json_t *args = build_set_args(a, &rc);
    if (args == NULL)
        return rc;
    /* An id makes the change idempotent: the same call again is answered
     * as the first. One is made when none is given, and printed. */
    char id[CRM_UUID_STRLEN + 1];
    const char *given = ctl_arg(a, "id");
    uint8_t raw[16];
    if (given) {
        if (crm_uuid_parse(given, raw) != 0) {
            json_decref(args);
            return ctl_usage(a->cmd, "--id must be a UUID, not '%s'", given);
        }
        crm_uuid_format(raw, id);
    } else if (json_object_get(args, "id") == NULL) {
        crm_uuid_v7(raw);
        crm_uuid_format(raw, id);
    } else {
        snprintf(id, sizeof(id), "%s",
                 json_string_value(json_object_get(args, "id"))
                     ? json_string_value(json_object_get(args, "id"))
                     : "");
    }
    if (id[0])
        json_object_set_new(args, "id", json_string(id));

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int bad = ctl_json_pack(&pk, args);
    json_decref(args);
    const msgpack_object *res;
    if (bad)
        rc = ctl_error(CRM_ERR_NOMEM, "cannot pack the settings");
    else
        rc = ctl_call_raw(c, "settings.set", sb.data, sb.size, &res);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    const msgpack_object *pos = list_member(res, "positions");
    uint64_t dup = ctl_u64(res, "duplicates", 0), n = pos ? pos->via.array.size : 0;
    if (dup == n && n > 0)
        printf("already recorded: %" PRIu64 " settings event%s of change %s "
               "(nothing written again)\n",
               n, n == 1 ? "" : "s", id);
    else
        printf("recorded %" PRIu64 " settings event%s in $tenant, head %" PRIu64
               "; change id %s (give it as --id to retry safely)\n",
               n, n == 1 ? "" : "s", ctl_u64(res, "head", 0), id);
    return 0;
}

/* --- admin rebuild ------------------------------------------------------- */

/* A rebuild reads the whole log: it may take longer than a request. */
#define REBUILD_TIMEOUT_MS (6 * 3600 * 1000)

int
ctl_cmd_admin_rebuild(ctl *c, const ctl_args *a)
{
    static const char *const head[] = {"PROJECTION", "EVENTS",   "POSITION",
                                       "SECONDS",    "EVENTS/S", "IDENTICAL"};
    const msgpack_object *res, *list;
    ctl_kv kv[] = {CTL_S("projection", ctl_arg(a, "projection"))};
    if (c->min_timeout_ms < REBUILD_TIMEOUT_MS)
        c->min_timeout_ms = REBUILD_TIMEOUT_MS;
    int rc = ctl_call_kv(c, "projection.rebuild", kv, 1, &res);
    if (rc != 0)
        return rc;
    if ((list = list_member(res, "projections")) == NULL)
        return ctl_error(CRM_ERR_INTERNAL, "reply has no 'projections' list");
    int differ = 0;
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *id =
            crm_mp_get(&list->via.array.ptr[i], "identical");
        differ |= id == NULL || id->type != MSGPACK_OBJECT_BOOLEAN ||
                  !id->via.boolean;
    }
    if (c->json) {
        rc = ctl_out_mp_json(res);
    } else {
        ctl_table *t = ctl_table_open(6, head, NULL, 0);
        if (t == NULL)
            return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
        for (uint32_t i = 0; i < list->via.array.size && rc == 0; i++) {
            const msgpack_object *e = &list->via.array.ptr[i];
            const msgpack_object *id = crm_mp_get(e, "identical"),
                                 *secs = crm_mp_get(e, "seconds");
            char name[64], ev[24], pos[24], s[24], rate[24];
            snprintf(ev, sizeof(ev), "%" PRIu64, ctl_u64(e, "events", 0));
            snprintf(pos, sizeof(pos), "%" PRIu64, ctl_u64(e, "position", 0));
            snprintf(s, sizeof(s), "%.3f",
                     secs && secs->type == MSGPACK_OBJECT_FLOAT64 ? secs->via.f64
                                                                   : 0.0);
            snprintf(rate, sizeof(rate), "%" PRIu64,
                     ctl_u64(e, "events_per_s", 0));
            const char *row[] = {ctl_str(e, "name", name, sizeof(name)), ev, pos,
                                 s, rate,
                                 id && id->type == MSGPACK_OBJECT_BOOLEAN &&
                                         id->via.boolean
                                     ? "yes"
                                     : "NO"};
            if (ctl_table_row(t, row) != 0)
                rc = ctl_error(CRM_ERR_NOMEM, "cannot build the table");
        }
        ctl_table_close(t);
    }
    for (uint32_t i = 0; differ && i < list->via.array.size; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        const msgpack_object *id = crm_mp_get(e, "identical");
        if (id && id->type == MSGPACK_OBJECT_BOOLEAN && id->via.boolean)
            continue;
        char name[64], diff[200];
        ctl_warn("projection %s: the rebuilt state differs from the inline "
                 "one: %s",
                 ctl_str(e, "name", name, sizeof(name)),
                 ctl_str(e, "diff", diff, sizeof(diff)));
    }
    if (rc == 0 && differ)
        rc = ctl_exit_status(CRM_ERR_CORRUPT);
    return rc;
}

/* --- admin rotate-tenant-key ---------------------------------------------- */

int
ctl_cmd_admin_rotate_key(ctl *c, const ctl_args *a)
{
    const msgpack_object *res;
    (void)a;
    if (c->min_timeout_ms < REBUILD_TIMEOUT_MS)
        c->min_timeout_ms = REBUILD_TIMEOUT_MS;
    int rc = ctl_call_kv(c, "tenant.rotate_key", NULL, 0, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    ctl_out_kv(res);
    return 0;
}
