/*
 * help.c - every help text of crmctl, generated from the command table in
 * main.c, the op table in proto/ops.h and the event catalogue in
 * proto/schema.h, so that help cannot drift from what crmctl and the
 * server do.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "ops.h"
#include "schema.h"

/* Prints text from column col, wrapping before column 80 and indenting
 * continuation lines by indent; ends the line. */
static void
wrap(const char *text, int col, int indent)
{
    const char *p = text;
    while (*p) {
        size_t w = strcspn(p, " ");
        if (col > indent && col + 1 + (int)w > 79) {
            printf("\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            putchar(' ');
            col++;
        }
        col += printf("%.*s", (int)w, p);
        p += w;
        while (*p == ' ')
            p++;
    }
    putchar('\n');
}

static void
roles_help(void)
{
    char text[256];
    int at = snprintf(text, sizeof(text), "Roles:");
    for (int r = 0; r < CRM_ROLE__COUNT; r++)
        at += snprintf(text + at, sizeof(text) - (size_t)at, "%s %s",
                       r ? "," : "", crm_role_name((crm_role)r));
    snprintf(text + at, sizeof(text) - (size_t)at,
             " (only operators create operator keys).");
    putchar('\n');
    wrap(text, 0, 0);
}

static void
types_help(void)
{
    int col = 1;
    printf("\nEvent types ('crmctl types' lists their fields):\n ");
    for (size_t i = 0; i < crm_schema_count(); i++) {
        const char *n = crm_schema_at(i)->name;
        if (col + (int)strlen(n) > 76) {
            printf("\n ");
            col = 1;
        }
        col += printf(" %s", n);
    }
    printf("\n  and %s<name> for tenant extensions.\n", CRM_EXT_PREFIX);
}

/* Command-specific help that is generated from proto/ tables. */
static const struct {
    const char *cmd;
    void (*fn)(void);
} more_help[] = {
    {"key create", roles_help},
    {"append", types_help},
};

static void
print_opts(const ctl_opt *opts)
{
    for (size_t i = 0; opts && opts[i].name; i++) {
        char flag[64];
        if (opts[i].short_name)
            snprintf(flag, sizeof(flag), "-%c, --%s%s%s", opts[i].short_name,
                     opts[i].name, opts[i].arg ? " " : "",
                     opts[i].arg ? opts[i].arg : "");
        else
            snprintf(flag, sizeof(flag), "    --%s%s%s", opts[i].name,
                     opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
        /* A long flag gets its own line rather than a ragged column. */
        if (strlen(flag) > 24)
            printf("  %s\n%28s", flag, "");
        else
            printf("  %-24s  ", flag);
        wrap(opts[i].doc, 28, 28);
    }
}

static void
op_help(int op)
{
    const crm_op_info *info = op >= 0 ? crm_op_get((crm_op)op) : NULL;
    char text[512];
    int at;
    if (info == NULL)
        return;
    at = snprintf(text, sizeof(text), "Server op: %s (%s); ", info->name,
                  info->doc);
    if (info->roles == CRM_ANYONE) {
        snprintf(text + at, sizeof(text) - (size_t)at, "anyone may call it.");
    } else {
        at += snprintf(text + at, sizeof(text) - (size_t)at, "roles:");
        for (int r = 0, n = 0; r < CRM_ROLE__COUNT; r++)
            if (info->roles & CRM_ROLE_BIT(r))
                at += snprintf(text + at, sizeof(text) - (size_t)at, "%s %s",
                               n++ ? "," : "", crm_role_name((crm_role)r));
        snprintf(text + at, sizeof(text) - (size_t)at, ".");
    }
    putchar('\n');
    wrap(text, 0, 0);
}

void
ctl_help_command(const ctl_cmd *cmd)
{
    printf("usage: crmctl [GLOBAL OPTIONS] %s%s%s [OPTIONS]\n\n", cmd->name,
           cmd->synopsis ? " " : "", cmd->synopsis ? cmd->synopsis : "");
    printf("%c%s.\n", toupper((unsigned char)cmd->summary[0]),
           cmd->summary + 1);
    printf("\nOptions:\n");
    print_opts(cmd->opts);
    print_opts(ctl_common_opts);
    if (cmd->details)
        printf("\n%s\n", cmd->details);
    for (size_t i = 0; i < sizeof(more_help) / sizeof(more_help[0]); i++)
        if (strcmp(more_help[i].cmd, cmd->name) == 0)
            more_help[i].fn();
    op_help(cmd->op);
    printf("\nGlobal options go before the command; see 'crmctl --help'.\n");
}

static void
list_commands(const char *group)
{
    size_t glen = group ? strlen(group) : 0;
    for (size_t i = 0; i < ctl_ncommands; i++) {
        char use[64];
        if (group && (strncmp(ctl_commands[i].name, group, glen) != 0 ||
                      ctl_commands[i].name[glen] != ' '))
            continue;
        snprintf(use, sizeof(use), "%s%s%s", ctl_commands[i].name,
                 ctl_commands[i].synopsis ? " " : "",
                 ctl_commands[i].synopsis ? ctl_commands[i].synopsis : "");
        if (strlen(use) > 22)
            printf("  %s\n%26s", use, "");
        else
            printf("  %-22s  ", use);
        wrap(ctl_commands[i].summary, 26, 26);
    }
}

void
ctl_help_top(void)
{
    printf("usage: crmctl [GLOBAL OPTIONS] COMMAND [ARGS] [OPTIONS]\n\n"
           "Command-line client for crmd: tenants and API keys, appending "
           "events,\nreading streams and the log.\n\nCommands:\n");
    list_commands(NULL);
    printf("\nGlobal options:\n");
    print_opts(ctl_global_opts);
    printf("\nEnvironment:\n"
           "  CRM_URL       server address when --url is not given\n"
           "  CRM_KEY       API key when neither --key nor --key-file is "
           "given\n"
           "  CRM_CA        CA certificate when neither --ca nor --insecure "
           "is given\n"
           "  CRM_INSECURE  1: as --insecure, when no CA is given\n");
    printf("\nOutput: tables for people by default; --json for scripts. "
           "Errors go to stderr\nas 'crmctl: <error name>: <message>'; a "
           "local file crmctl cannot open or read\nas 'crmctl: cannot open "
           "input file x.jsonl: <reason>', with no error name.\n");
    printf("\nExit status:\n");
    ctl_print_exit_statuses();
    printf("\nRun 'crmctl COMMAND --help' for a command's options.\n");
}

void
ctl_help_group(const char *group)
{
    printf("usage: crmctl [GLOBAL OPTIONS] %s SUBCOMMAND [ARGS] [OPTIONS]\n\n"
           "Subcommands:\n",
           group);
    list_commands(group);
    printf("\nRun 'crmctl %s SUBCOMMAND --help' for one of them.\n", group);
}
