/*
 * ctl.h - what crmctl's commands share: the command table's shape, parsed
 * arguments, the connection to crmd, and how failures become an exit
 * status and one line on stderr.
 *
 * Every command's run function returns the process exit status: 0 on
 * success, or the status of the failure it already reported. Nothing here
 * is thread-safe; crmctl is single-threaded.
 */
#ifndef CRMCTL_CTL_H
#define CRMCTL_CTL_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "err.h"

#define CTL_DEFAULT_URL "tcp://127.0.0.1:7400"

/* Exit statuses besides the ones ctl_exit_status maps errors to. */
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAIL = 1,  /* any error the table in ctl.c does not map */
    CTL_EXIT_USAGE = 2, /* bad command line or unusable input */
    CTL_EXIT_FILE = 6,  /* a local file could not be opened or read */
};

/* One option of a command (or a global one). */
typedef struct ctl_opt {
    const char *name; /* long name without "--" */
    char short_name;  /* 'f' for -f, or 0 */
    const char
        *arg; /* metavariable ("N") when it takes a value; NULL: a flag */
    unsigned flags;
    const char *doc;
} ctl_opt;

enum { CTL_OPT_REPEAT = 1u << 0 }; /* may be given several times */

typedef struct ctl ctl;
typedef struct ctl_args ctl_args;

/* One command: a row of the table in main.c, from which dispatch and every
 * help text are generated. */
typedef struct ctl_cmd {
    const char *name;     /* one or two words: "read", "tenant create" */
    const char *synopsis; /* positional part of the usage line, or NULL */
    int min_pos, max_pos; /* positional argument counts */
    int op;               /* the crm_op it calls (for help), or -1 */
    const ctl_opt *opts;  /* terminated by an entry with name NULL */
    const char *summary;  /* one line, for the command list */
    const char *details;  /* further help paragraphs, or NULL */
    int (*run)(ctl *c, const ctl_args *a);
} ctl_cmd;

#define CTL_MAX_SET 64
#define CTL_MAX_POS 4

/* Parsed command line of one command. Strings point into argv. */
struct ctl_args {
    const ctl_cmd *cmd; /* NULL for the global options */
    struct {
        const ctl_opt *opt;
        const char *val; /* NULL for flags */
    } set[CTL_MAX_SET];
    size_t nset;
    const char *pos[CTL_MAX_POS];
    size_t npos;
};

/* Process-wide state: connection options and the client, opened lazily by
 * the first call so that `types` and `help` work without a server. */
struct ctl {
    crm_client_opts copts;
    char *key_buf; /* owned: key read from --key-file */
    int json;      /* --json: machine output */
    int min_timeout_ms;
    crm_client *client;
};

/* The options every command accepts (--json, --help; ctl.c). */
extern const ctl_opt ctl_common_opts[];

/* The command table and the global options (main.c). */
extern const ctl_cmd ctl_commands[];
extern const size_t ctl_ncommands;
extern const ctl_opt ctl_global_opts[];

/* --- help (help.c) -------------------------------------------------------- */

/* crmctl --help: commands, global options, environment, exit statuses. */
void ctl_help_top(void);
/* crmctl COMMAND --help. */
void ctl_help_command(const ctl_cmd *cmd);
/* crmctl GROUP --help ("tenant", "key"): the group's subcommands. */
void ctl_help_group(const char *group);

/* --- argument parsing (ctl.c) --------------------------------------------- */

/* Parses argv[0..argc) against opts (and, for a command, ctl_common_opts)
 * into a. With stop_at_pos, parsing ends at the first positional argument
 * and *used says how many elements were consumed (global options).
 * Returns 0 or CTL_EXIT_USAGE after printing the problem. */
int ctl_parse(const ctl_cmd *cmd, const ctl_opt *opts, int argc, char **argv,
              int stop_at_pos, ctl_args *a, int *used);

/* Last value given for option name, or NULL. */
const char *ctl_arg(const ctl_args *a, const char *name);
/* Whether option name was given. */
int ctl_flag(const ctl_args *a, const char *name);
/* The i-th value of a repeatable option (0-based), or NULL past the end. */
const char *ctl_arg_nth(const ctl_args *a, const char *name, size_t i);
/* Integer value of option name in [min, max]; def when absent. Returns 0,
 * or CTL_EXIT_USAGE after reporting. */
int ctl_arg_int(const ctl_args *a, const char *name, int64_t def, int64_t min,
                int64_t max, int64_t *out);

/* --- failures (ctl.c) ----------------------------------------------------- */

/* Exit status for an error code (table in ctl.c). */
int ctl_exit_status(crm_err code);
/* Prints the exit status table for --help. */
void ctl_print_exit_statuses(void);
/* Prints "crmctl: usage: ..." and a pointer to the command's help;
 * returns CTL_EXIT_USAGE. cmd may be NULL. */
int ctl_usage(const ctl_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "crmctl: <name>: <message>" and returns ctl_exit_status(code). */
int ctl_error(crm_err code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "crmctl: bad_request: ..." for input crmctl itself cannot use
 * (malformed JSON, a bad event shape) and returns CTL_EXIT_USAGE. */
int ctl_bad_input(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "crmctl: <what> <path>: <strerror(err)>" ("cannot open input
 * file x.jsonl: No such file or directory") for a local file crmctl cannot
 * open or read (input, key or CA file): no error name, since nothing
 * reached the server. Returns CTL_EXIT_FILE. */
int ctl_file_error(const char *what, const char *path, int err);
/* Same for a filled crm_error. */
int ctl_fail(const crm_error *why);
/* Prints "crmctl: warning: ..." (no effect on the exit status). */
void ctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- calls (ctl.c) -------------------------------------------------------- */

/* An argument of a call: a string (NULL s: left out), integer or boolean. */
typedef struct ctl_kv {
    const char *k;
    char t; /* 's', 'i', 'b' */
    const char *s;
    int64_t i;
} ctl_kv;
#define CTL_S(k, v)                                                            \
    {                                                                          \
        k, 's', v, 0                                                           \
    }
#define CTL_I(k, v)                                                            \
    {                                                                          \
        k, 'i', NULL, v                                                        \
    }
#define CTL_B(k, v)                                                            \
    {                                                                          \
        k, 'b', NULL, v                                                        \
    }

/* Calls op with args already packed as a msgpack map (len 0: none).
 * On success *res is valid until the next call. Returns 0 or the exit
 * status of the reported failure. */
int ctl_call_raw(ctl *c, const char *op, const void *args, size_t len,
                 const msgpack_object **res);
/* Same, without reporting: the caller decides (follow mode retries). */
crm_err ctl_call_quiet(ctl *c, const char *op, const void *args, size_t len,
                       const msgpack_object **res, crm_error *why);
/* Calls op with kv[0..n) and prints the result: JSON with --json, else
 * as a view (out.h). Returns 0 or the exit status of the failure. */
int ctl_call_show(ctl *c, const char *op, const ctl_kv *kv, size_t n);
/* Calls op with kv[0..n) as its args map. */
int ctl_call_kv(ctl *c, const char *op, const ctl_kv *kv, size_t n,
                const msgpack_object **res);
/* Same, without reporting (the caller words some errors itself). */
crm_err ctl_call_kv_quiet(ctl *c, const char *op, const ctl_kv *kv, size_t n,
                          const msgpack_object **res, crm_error *why);

/* Unsigned integer member k of map m, or def when absent or not one. */
uint64_t ctl_u64(const msgpack_object *m, const char *k, uint64_t def);
/* Signed integer member k of map m, or def. */
int64_t ctl_i64(const msgpack_object *m, const char *k, int64_t def);
/* String member k of map m copied into buf ("" when absent). */
const char *ctl_str(const msgpack_object *m, const char *k, char *buf,
                    size_t len);

/* --- commands (cmd_*.c, main.c) ------------------------------------------- */

int ctl_cmd_ping(ctl *c, const ctl_args *a);
int ctl_cmd_info(ctl *c, const ctl_args *a);
int ctl_cmd_metrics(ctl *c, const ctl_args *a);
int ctl_cmd_tenant_create(ctl *c, const ctl_args *a);
int ctl_cmd_tenant_list(ctl *c, const ctl_args *a);
int ctl_cmd_key_create(ctl *c, const ctl_args *a);
int ctl_cmd_key_revoke(ctl *c, const ctl_args *a);
int ctl_cmd_key_list(ctl *c, const ctl_args *a);
int ctl_cmd_append(ctl *c, const ctl_args *a);
int ctl_cmd_read(ctl *c, const ctl_args *a);
int ctl_cmd_tail(ctl *c, const ctl_args *a);
int ctl_cmd_types(ctl *c, const ctl_args *a);
int ctl_cmd_settings_get(ctl *c, const ctl_args *a);
int ctl_cmd_settings_set(ctl *c, const ctl_args *a);
int ctl_cmd_admin_rebuild(ctl *c, const ctl_args *a);
int ctl_cmd_admin_rotate_key(ctl *c, const ctl_args *a);
int ctl_cmd_customer_get(ctl *c, const ctl_args *a);
int ctl_cmd_customer_erase(ctl *c, const ctl_args *a);
int ctl_cmd_audit_pubkey(ctl *c, const ctl_args *a);
int ctl_cmd_audit_export(ctl *c, const ctl_args *a);
int ctl_cmd_admin_backup(ctl *c, const ctl_args *a);
int ctl_cmd_audit_checkpoint(ctl *c, const ctl_args *a);
int ctl_cmd_audit_checkpoints(ctl *c, const ctl_args *a);
int ctl_cmd_audit_verify(ctl *c, const ctl_args *a);
int ctl_cmd_audit_access(ctl *c, const ctl_args *a);
int ctl_cmd_customer_erasure_receipt(ctl *c, const ctl_args *a);
int ctl_cmd_customer_find(ctl *c, const ctl_args *a);
int ctl_cmd_customer_consent_at(ctl *c, const ctl_args *a);
int ctl_cmd_audit_consent_violations(ctl *c, const ctl_args *a);
int ctl_cmd_customer_export(ctl *c, const ctl_args *a);
int ctl_cmd_loyalty_get(ctl *c, const ctl_args *a);
int ctl_cmd_loyalty_redeem(ctl *c, const ctl_args *a);
int ctl_cmd_loyalty_sweep(ctl *c, const ctl_args *a);
int ctl_cmd_kpi(ctl *c, const ctl_args *a);
int ctl_cmd_tasks_today(ctl *c, const ctl_args *a);
int ctl_cmd_segment_list(ctl *c, const ctl_args *a);
int ctl_cmd_segment_counts(ctl *c, const ctl_args *a);
int ctl_cmd_segment_members(ctl *c, const ctl_args *a);
int ctl_cmd_segment_export(ctl *c, const ctl_args *a);
int ctl_cmd_segment_define(ctl *c, const ctl_args *a);

#endif
