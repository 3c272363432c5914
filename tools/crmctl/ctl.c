/* ctl.c - argument parsing, failure reporting and calls for crmctl. */
#include "ctl.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"
#include "rpc.h"

const ctl_opt ctl_common_opts[] = {
    {.name = "json", .doc = "print the result as JSON (for scripts)"},
    {.name = "help", .short_name = 'h', .doc = "show this help"},
    {0},
};

/* --- parsing -------------------------------------------------------------- */

static const ctl_opt *
find_long(const ctl_opt *opts, const char *name, size_t len)
{
    for (size_t i = 0; opts && opts[i].name; i++)
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static const ctl_opt *
find_short(const ctl_opt *opts, char ch)
{
    for (size_t i = 0; opts && opts[i].name; i++)
        if (opts[i].short_name == ch)
            return &opts[i];
    return NULL;
}

static int
add_set(const ctl_cmd *cmd, ctl_args *a, const ctl_opt *o, const char *val)
{
    if (!(o->flags & CTL_OPT_REPEAT))
        for (size_t i = 0; i < a->nset; i++)
            if (a->set[i].opt == o)
                return ctl_usage(cmd, "option --%s given twice", o->name);
    if (a->nset == CTL_MAX_SET)
        return ctl_usage(cmd, "too many options");
    a->set[a->nset].opt = o;
    a->set[a->nset].val = val;
    a->nset++;
    return 0;
}

int
ctl_parse(const ctl_cmd *cmd, const ctl_opt *opts, int argc, char **argv,
          int stop_at_pos, ctl_args *a, int *used)
{
    const ctl_opt *common = cmd ? ctl_common_opts : NULL;
    int i, only_pos = 0;

    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    for (i = 0; i < argc; i++) {
        const char *s = argv[i];
        const ctl_opt *o = NULL;
        const char *val = NULL;

        /* "-" alone is a positional (stdin), as in most Unix tools. */
        if (only_pos || s[0] != '-' || s[1] == '\0') {
            if (stop_at_pos)
                break;
            if (a->npos == CTL_MAX_POS)
                return ctl_usage(cmd, "too many arguments ('%s')", s);
            a->pos[a->npos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (s[1] == '-') {
            const char *eq = strchr(s + 2, '=');
            size_t len = eq ? (size_t)(eq - (s + 2)) : strlen(s + 2);
            if ((o = find_long(opts, s + 2, len)) == NULL)
                o = find_long(common, s + 2, len);
            if (o == NULL)
                return ctl_usage(cmd, "unknown option '%.*s'", (int)len + 2, s);
            if (eq) {
                if (o->arg == NULL)
                    return ctl_usage(cmd, "option --%s takes no value",
                                     o->name);
                val = eq + 1;
            }
        } else {
            if (s[2] != '\0')
                return ctl_usage(cmd,
                                 "unknown option '%s' (write -x VALUE "
                                 "with a space)",
                                 s);
            if ((o = find_short(opts, s[1])) == NULL)
                o = find_short(common, s[1]);
            if (o == NULL)
                return ctl_usage(cmd, "unknown option '%s'", s);
        }
        if (o->arg && val == NULL) {
            if (i + 1 >= argc)
                return ctl_usage(cmd, "option --%s needs a value (%s)", o->name,
                                 o->arg);
            val = argv[++i];
        }
        if (add_set(cmd, a, o, val) != 0)
            return CTL_EXIT_USAGE;
    }
    if (used)
        *used = i;
    return 0;
}

const char *
ctl_arg(const ctl_args *a, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; i < a->nset; i++)
        if (strcmp(a->set[i].opt->name, name) == 0)
            v = a->set[i].val;
    return v;
}

int
ctl_flag(const ctl_args *a, const char *name)
{
    for (size_t i = 0; i < a->nset; i++)
        if (strcmp(a->set[i].opt->name, name) == 0)
            return 1;
    return 0;
}

const char *
ctl_arg_nth(const ctl_args *a, const char *name, size_t n)
{
    for (size_t i = 0; i < a->nset; i++)
        if (strcmp(a->set[i].opt->name, name) == 0 && n-- == 0)
            return a->set[i].val;
    return NULL;
}

int
ctl_arg_int(const ctl_args *a, const char *name, int64_t def, int64_t min,
            int64_t max, int64_t *out)
{
    const char *v = ctl_arg(a, name);
    char *end;
    *out = def;
    if (v == NULL)
        return 0;
    long long n = strtoll(v, &end, 10);
    if (v[0] == '\0' || *end != '\0' || n < min || n > max)
        return ctl_usage(a->cmd,
                         "--%s must be an integer in %" PRId64 "..%" PRId64
                         ", not '%s'",
                         name, min, max, v);
    *out = n;
    return 0;
}

/* --- failures ------------------------------------------------------------- */

/* The exit statuses a script may want to tell apart; every other error
 * exits with CTL_EXIT_FAIL. crmctl --help prints this table. */
static const struct {
    crm_err code;
    int status;
} exit_map[] = {
    {CRM_ERR_UNAUTHORIZED, 3},
    {CRM_ERR_FORBIDDEN, 3},
    {CRM_ERR_NOT_FOUND, 4},
    {CRM_ERR_CONFLICT, 5},
};
#define NEXIT (sizeof(exit_map) / sizeof(exit_map[0]))

int
ctl_exit_status(crm_err code)
{
    if (code == CRM_OK)
        return CTL_EXIT_OK;
    for (size_t i = 0; i < NEXIT; i++)
        if (exit_map[i].code == code)
            return exit_map[i].status;
    return CTL_EXIT_FAIL;
}

void
ctl_print_exit_statuses(void)
{
    printf("  0  success\n");
    printf("  %d  any error not listed below (its name is printed)\n",
           CTL_EXIT_FAIL);
    printf("  %d  usage error or invalid input (bad option, malformed JSON)\n",
           CTL_EXIT_USAGE);
    for (size_t i = 0; i < NEXIT; i++) {
        if (i > 0 && exit_map[i - 1].status == exit_map[i].status)
            continue;
        printf("  %d  ", exit_map[i].status);
        for (size_t j = i;
             j < NEXIT && exit_map[j].status == exit_map[i].status; j++)
            printf("%s%s", j > i ? ", " : "", crm_err_name(exit_map[j].code));
        printf("\n");
    }
    printf("  %d  a local file (input, key or CA file) could not be opened or "
           "read;\n     nothing was sent\n",
           CTL_EXIT_FILE);
}

int
ctl_usage(const ctl_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("crmctl: usage: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "\n(see 'crmctl %s --help')\n", cmd->name);
    else
        fputs("\n(see 'crmctl --help')\n", stderr);
    return CTL_EXIT_USAGE;
}

int
ctl_error(crm_err code, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "crmctl: %s: ", crm_err_name(code));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return ctl_exit_status(code);
}

int
ctl_bad_input(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "crmctl: %s: ", crm_err_name(CRM_ERR_BAD_REQUEST));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CTL_EXIT_USAGE;
}

int
ctl_file_error(const char *what, const char *path, int err)
{
    fflush(stdout);
    fprintf(stderr, "crmctl: %s %s: %s\n", what, path, strerror(err));
    return CTL_EXIT_FILE;
}

int
ctl_fail(const crm_error *why)
{
    return ctl_error(why->code, "%s",
                     why->msg[0] ? why->msg : crm_strerror(why->code));
}

void
ctl_warn(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("crmctl: warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* --- calls ---------------------------------------------------------------- */

static crm_err
connect_lazily(ctl *c, crm_error *why)
{
    if (c->client)
        return CRM_OK;
    crm_client_opts o = c->copts;
    if (o.timeout_ms <= 0)
        o.timeout_ms = 10000;
    /* A long-poll must not time out before the server answers it. */
    if (o.timeout_ms < c->min_timeout_ms)
        o.timeout_ms = c->min_timeout_ms;
    return crm_client_open(&o, &c->client, why);
}

crm_err
ctl_call_quiet(ctl *c, const char *op, const void *args, size_t len,
               const msgpack_object **res, crm_error *why)
{
    crm_err err = connect_lazily(c, why);
    if (err != CRM_OK)
        return err;
    return crm_client_call_raw(c->client, op, args, len, res, why);
}

int
ctl_call_raw(ctl *c, const char *op, const void *args, size_t len,
             const msgpack_object **res)
{
    crm_error why = {CRM_OK, ""};
    if (ctl_call_quiet(c, op, args, len, res, &why) != CRM_OK)
        return ctl_fail(&why);
    return 0;
}

crm_err
ctl_call_kv_quiet(ctl *c, const char *op, const ctl_kv *kv, size_t n,
                  const msgpack_object **res, crm_error *why)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t present = 0;
    crm_err err;
    int rc = 0;

    for (size_t i = 0; i < n; i++)
        present += kv[i].t != 's' || kv[i].s != NULL;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc |= msgpack_pack_map(&pk, present);
    for (size_t i = 0; i < n; i++) {
        if (kv[i].t == 's' && kv[i].s == NULL)
            continue;
        rc |= crm_mp_pack_cstr(&pk, kv[i].k);
        if (kv[i].t == 's')
            rc |= crm_mp_pack_cstr(&pk, kv[i].s);
        else if (kv[i].t == 'i')
            rc |= msgpack_pack_int64(&pk, kv[i].i);
        else
            rc |= kv[i].i ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    }
    if (rc != 0)
        err = crm_error_set(why, CRM_ERR_NOMEM, "cannot build the request");
    else
        err = ctl_call_quiet(c, op, sb.data, sb.size, res, why);
    msgpack_sbuffer_destroy(&sb);
    return err;
}

int
ctl_call_kv(ctl *c, const char *op, const ctl_kv *kv, size_t n,
            const msgpack_object **res)
{
    crm_error why = {CRM_OK, ""};
    if (ctl_call_kv_quiet(c, op, kv, n, res, &why) != CRM_OK)
        return ctl_fail(&why);
    return 0;
}

uint64_t
ctl_u64(const msgpack_object *m, const char *k, uint64_t def)
{
    const msgpack_object *o = crm_mp_get(m, k);
    return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : def;
}

int64_t
ctl_i64(const msgpack_object *m, const char *k, int64_t def)
{
    int64_t v;
    return crm_mp_int(crm_mp_get(m, k), INT64_MIN, INT64_MAX, &v) == 0 ? v
                                                                       : def;
}

const char *
ctl_str(const msgpack_object *m, const char *k, char *buf, size_t len)
{
    const msgpack_object *o = crm_mp_get(m, k);
    buf[0] = '\0';
    if (crm_mp_is_str(o))
        snprintf(buf, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    return buf;
}

int
ctl_call_show(ctl *c, const char *op, const ctl_kv *kv, size_t n)
{
    const msgpack_object *res;
    int rc = ctl_call_kv(c, op, kv, n, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        return ctl_out_mp_json(res);
    ctl_out_view(res);
    return 0;
}
