/* crmctl_test.c - the crmctl binary against a real crmd: tenants and keys,
 * appends from JSON and JSONL (and the versions they print), read, tail and
 * tail -f (personal data by role), exit statuses and error names, local
 * file errors, --help of every command, the event catalogue, and TLS
 * server verification (--ca, --server-name, --insecure), segments, and
 * consent as of a moment with the audit of sends made without it.
 *
 * Tests run in order and share one crmd: test_tenant_and_keys makes the
 * tenant and the keys the later tests use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crmd_fixture.h"

#ifndef CRM_CRMCTL_PATH
#error "CRM_CRMCTL_PATH must name the crmctl binary"
#endif

#define TENANT "hotel-a"
#define RUN_TIMEOUT_MS 30000

static fx_crmd D;
static const char *URL; /* what --url crmctl gets: D.url */
static char OPKEY_FILE[700], ADMIN_FILE[700];
static char ADMIN[128], AGENT[128];

/* Parses one JSON document; fails the test if it is not one. */
static json_t *
jparse(const char *s)
{
    json_error_t err;
    json_t *j = json_loadb(s, strlen(s), 0, &err);
    if (j == NULL)
        fail_msg("not JSON (%s): %.300s", err.text, s);
    return j;
}

static void
jfree(json_t *j)
{
    json_decref(j);
}

/* Member path of a document: jget(doc, "events", "0", "type") (array
 * indexes as numbers). */
static const json_t *
jget_v(const json_t *j, const char *const *path)
{
    for (size_t i = 0; j && path[i]; i++)
        j = json_is_array(j) ? json_array_get(j, strtoul(path[i], NULL, 10))
                             : json_object_get(j, path[i]);
    return j;
}
#define jget(j, ...) jget_v(j, (const char *const[]){__VA_ARGS__, NULL})

static const char *
jstr(const json_t *j)
{
    assert_true(json_is_string(j));
    return json_string_value(j);
}

static long long
jint(const json_t *j)
{
    assert_true(json_is_integer(j));
    return (long long)json_integer_value(j);
}

/* --- running crmctl ------------------------------------------------------- */

typedef struct run_out {
    int status; /* exit status, or 128 + signal */
    char *out, *err;
} run_out;

static void
run_free(run_out *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

static void
append_buf(char **buf, size_t *len, const char *p, size_t n)
{
    char *nb = realloc(*buf, *len + n + 1);
    assert_non_null(nb);
    memcpy(nb + *len, p, n);
    *len += n;
    nb[*len] = '\0';
    *buf = nb;
}

/* argv for crmctl: the binary, --url, then args. */
static void
build_argv(const char **argv, size_t cap, const char *const *args)
{
    size_t n = 0;
    argv[n++] = CRM_CRMCTL_PATH;
    argv[n++] = "--url";
    argv[n++] = URL;
    for (size_t i = 0; args[i]; i++) {
        assert_true(n + 1 < cap);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
}

/* Runs crmctl with args (stdin from the file `in`, or /dev/null; stdout to
 * the file `out`, or collected) and collects its output and exit status. */
static void
run_v(run_out *r, const char *in, const char *out, const char *const *args)
{
    const char *argv[64];
    int po[2], pe[2];
    size_t lo = 0, le = 0;

    memset(r, 0, sizeof(*r));
    build_argv(argv, 64, args);
    assert_int_equal(pipe(po), 0);
    assert_int_equal(pipe(pe), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(in ? in : "/dev/null", O_RDONLY);
        int ofd = out ? open(out, O_WRONLY) : po[1];
        if (fd < 0 || ofd < 0)
            _exit(126);
        dup2(fd, 0);
        dup2(ofd, 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        execv(CRM_CRMCTL_PATH, (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    append_buf(&r->out, &lo, "", 0);
    append_buf(&r->err, &le, "", 0);
    struct pollfd pf[2] = {{.fd = po[0], .events = POLLIN},
                           {.fd = pe[0], .events = POLLIN}};
    while (pf[0].fd >= 0 || pf[1].fd >= 0) {
        int n = poll(pf, 2, RUN_TIMEOUT_MS);
        if (n <= 0) {
            kill(pid, SIGKILL);
            fail_msg("crmctl %s did not finish", args[0]);
        }
        for (int i = 0; i < 2; i++) {
            char buf[8192];
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t got = read(pf[i].fd, buf, sizeof(buf));
            if (got <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
            } else if (i == 0) {
                append_buf(&r->out, &lo, buf, (size_t)got);
            } else {
                append_buf(&r->err, &le, buf, (size_t)got);
            }
        }
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    /* In a sanitizer build a leak or an error report fails the test even
     * where the expected exit status is 1. */
    if (strstr(r->err, "Sanitizer"))
        fail_msg("crmctl %s: %s", args[0] ? args[0] : "", r->err);
}
#define RUN(r, ...)                                                            \
    run_v(r, NULL, NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_IN(r, in, ...)                                                     \
    run_v(r, in, NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_OUT(r, out, ...)                                                   \
    run_v(r, NULL, out, (const char *const[]){__VA_ARGS__, NULL})

/* Runs and expects success; prints what crmctl said otherwise. */
#define RUN_OK(r, ...)                                                         \
    do {                                                                       \
        RUN(r, __VA_ARGS__);                                                   \
        if ((r)->status != 0)                                                  \
            fail_msg("exit %d: %s", (r)->status, (r)->err);                    \
    } while (0)

/* Runs and expects a failure with this exit status and error name, and
 * with msg (when not NULL) in the message. */
static void
expect_fail_v(int status, const char *name, const char *msg,
              const char *const *args)
{
    run_out r;
    char prefix[80];
    run_v(&r, NULL, NULL, args);
    snprintf(prefix, sizeof(prefix), "crmctl: %s: ", name);
    if (r.status != status || strncmp(r.err, prefix, strlen(prefix)) != 0 ||
        (msg && strstr(r.err, msg) == NULL))
        fail_msg("%s: want exit %d and '%s%s', got exit %d, stderr: %s",
                 args[0], status, prefix, msg ? msg : "", r.status, r.err);
    /* The error is the first line, "crmctl: <name>: <message>", with a
     * message; further lines are crmctl's own (a note), or, after a usage
     * error, the pointer to the help. */
    const char *text = r.err + strlen(prefix);
    if (text[0] == '\0' || text[0] == '\n' || text[0] == ' ')
        fail_msg("%s: no message after '%s': %s", args[0], prefix, r.err);
    for (const char *nl = strchr(text, '\n'); nl && nl[1];
         nl = strchr(nl + 1, '\n'))
        if (strncmp(nl + 1, "crmctl: ", 8) != 0 &&
            (strcmp(name, "usage") != 0 || strncmp(nl + 1, "(see ", 5) != 0))
            fail_msg("%s: a stray line after the error: %s", args[0], r.err);
    /* Nothing half-printed goes to stdout. */
    assert_string_equal(r.out, "");
    run_free(&r);
}
#define EXPECT_FAIL(status, name, ...)                                         \
    expect_fail_v(status, name, NULL, (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_FAIL_MSG(status, name, msg, ...)                                \
    expect_fail_v(status, name, msg, (const char *const[]){__VA_ARGS__, NULL})

/* Runs and expects crmctl's local file error: exit 6 and one line
 * "crmctl: cannot <what> <path>: <strerror(err)>", with no error name (the
 * server was never asked), and nothing on stdout. */
static void
expect_file_error_v(const char *path, int err, const char *const *args)
{
    run_out r;
    char want[900];
    run_v(&r, NULL, NULL, args);
    snprintf(want, sizeof(want), " %s: %s\n", path, strerror(err));
    const char *at = strstr(r.err, want);
    if (r.status != 6 || strncmp(r.err, "crmctl: cannot ", 15) != 0 ||
        at == NULL || at[strlen(want)] != '\0')
        fail_msg("%s: want exit 6 and 'crmctl: cannot ...%s', got exit %d, "
                 "stderr: %s",
                 args[0], want, r.status, r.err);
#define NAME_OF(e, n, name, msg) name,
    static const char *const names[] = {CRM_ERR_MAP(NAME_OF)};
#undef NAME_OF
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char name[80];
        snprintf(name, sizeof(name), "crmctl: %s:", names[i]);
        if (strstr(r.err, name))
            fail_msg("%s: a local file error names '%s': %s", args[0], name,
                     r.err);
    }
    assert_string_equal(r.out, "");
    run_free(&r);
}
#define EXPECT_FILE_ERROR(path, err, ...)                                      \
    expect_file_error_v(path, err, (const char *const[]){__VA_ARGS__, NULL})

static size_t
count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static int
group_setup(void **state)
{
    (void)state;
    unsetenv("CRM_URL");
    unsetenv("CRM_KEY");
    unsetenv("CRM_CA");
    unsetenv("CRM_INSECURE");
    if (fx_crmd_start(&D, 1, NULL) != 0)
        return -1;
    URL = D.url;
    snprintf(OPKEY_FILE, sizeof(OPKEY_FILE), "%s/operator.key", D.dir);
    snprintf(ADMIN_FILE, sizeof(ADMIN_FILE), "%s/admin.key", D.dir);
    return 0;
}

/* Each test starts on the tcp URL with no key or TLS settings from the
 * environment, even after one that failed half-way through. */
static int
test_setup(void **state)
{
    (void)state;
    URL = D.url;
    unsetenv("CRM_KEY");
    unsetenv("CRM_CA");
    unsetenv("CRM_INSECURE");
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    fx_crmd_cleanup(&D);
    return 0;
}

/* --- help and catalogue --------------------------------------------------- */

static void
test_help_for_every_command(void **state)
{
    static const char *const cmds[][2] = {
        {"ping", NULL},     {"info", NULL},    {"tenant", "create"},
        {"tenant", "list"}, {"key", "create"}, {"key", "revoke"},
        {"key", "list"},    {"append", NULL},  {"read", NULL},
        {"tail", NULL},     {"metrics", NULL}, {"types", NULL},
        {"help", NULL},
    };
    run_out r;
    (void)state;

    RUN_OK(&r, "--help");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s%s%s", cmds[i][0],
                 cmds[i][1] ? " " : "", cmds[i][1] ? cmds[i][1] : "");
        if (strstr(r.out, name) == NULL)
            fail_msg("crmctl --help does not list '%s'", name);
    }
    assert_non_null(strstr(r.out, "Exit status"));
    assert_non_null(strstr(r.out, "conflict"));
    assert_non_null(strstr(r.out, "\n  6  a local file"));
    assert_non_null(strstr(r.out, "--insecure"));
    assert_non_null(strstr(r.out, "CRM_CA"));
    assert_non_null(strstr(r.out, "CRM_INSECURE"));
    run_free(&r);

    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char want[80];
        if (cmds[i][1])
            RUN(&r, cmds[i][0], cmds[i][1], "--help");
        else
            RUN(&r, cmds[i][0], "--help");
        snprintf(want, sizeof(want), "usage: crmctl [GLOBAL OPTIONS] %s%s%s",
                 cmds[i][0], cmds[i][1] ? " " : "",
                 cmds[i][1] ? cmds[i][1] : "");
        if (r.status != 0 || strstr(r.out, want) == NULL)
            fail_msg("%s %s --help: exit %d, output: %s", cmds[i][0],
                     cmds[i][1] ? cmds[i][1] : "", r.status, r.out);
        assert_non_null(strstr(r.out, "--help"));
        run_free(&r);
    }

    RUN_OK(&r, "help", "read");
    assert_non_null(strstr(r.out, "--from-version"));
    assert_non_null(strstr(r.out, "read.stream")); /* from the op table */
    run_free(&r);
    RUN_OK(&r, "append", "-h");
    assert_non_null(strstr(r.out, "loyalty.points_earned")); /* from schema */
    run_free(&r);
    RUN_OK(&r, "tenant", "--help");
    assert_non_null(strstr(r.out, "tenant create"));
    assert_non_null(strstr(r.out, "tenant list"));
    run_free(&r);

    EXPECT_FAIL(2, "usage", "frobnicate");
    EXPECT_FAIL(2, "usage", "tenant");
    EXPECT_FAIL(2, "usage", "read");
    EXPECT_FAIL(2, "usage", "read", "a", "b");
    EXPECT_FAIL(2, "usage", "tail", "--bogus");
    EXPECT_FAIL(2, "usage", "tail", "--max", "zero");
    RUN(&r, NULL); /* no command at all */
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "crmctl: usage:"));
    run_free(&r);
}

static void
test_types_lists_the_catalogue(void **state)
{
    run_out r;
    (void)state;

    RUN_OK(&r, "types");
    assert_non_null(strstr(r.out, "loyalty.points_earned"));
    assert_non_null(strstr(r.out, "feedback.survey_submitted"));
    /* The email field of customer.registered is marked personal data. */
    const char *reg = strstr(r.out, "customer.registered:");
    assert_non_null(reg);
    const char *email = strstr(reg, "\n  email ");
    assert_non_null(email);
    const char *eol = strchr(email + 1, '\n');
    char line[200];
    snprintf(line, sizeof(line), "%.*s", (int)(eol - email - 1), email + 1);
    if (strstr(line, "PII") == NULL)
        fail_msg("email is not marked PII: '%s'", line);
    run_free(&r);

    RUN_OK(&r, "types", "loyalty.points_earned", "--json");
    json_t *j = jparse(r.out);
    assert_string_equal(jstr(jget(j, "types", "0", "name")),
                        "loyalty.points_earned");
    assert_string_equal(jstr(jget(j, "types", "0", "fields", "0", "name")),
                        "points");
    assert_true(json_is_true(jget(j, "types", "0", "fields", "0", "required")));
    assert_true(json_is_false(jget(j, "types", "0", "fields", "0", "pii")));
    jfree(j);
    run_free(&r);

    EXPECT_FAIL(1, "unknown_type", "types", "no.such_type");
}

/* --- tenants and keys ----------------------------------------------------- */

/* Creates a key with crmctl --json and returns its token in out. */
static void
create_key(const char *role, char *out, size_t len, char *id, size_t idlen)
{
    run_out r;
    RUN(&r, "--key-file", OPKEY_FILE, "--json", "key", "create", "--role", role,
        "--tenant", TENANT, "--label", "crmctl-test");
    if (r.status != 0)
        fail_msg("key create: %s", r.err);
    /* The secret is shown once, with a warning that it is not stored. */
    assert_non_null(strstr(r.err, "only this once"));
    json_t *j = jparse(r.out);
    snprintf(out, len, "%s", jstr(jget(j, "key")));
    if (id)
        snprintf(id, idlen, "%s", jstr(jget(j, "key_id")));
    assert_string_equal(jstr(jget(j, "role")), role);
    assert_string_equal(jstr(jget(j, "tenant")), TENANT);
    assert_int_equal(strncmp(out, "crmk_", 5), 0);
    jfree(j);
    run_free(&r);
}

static void
test_tenant_and_keys(void **state)
{
    run_out r;
    char spare[128], spare_id[32];
    (void)state;

    RUN_OK(&r, "--key-file", OPKEY_FILE, "tenant", "create", TENANT);
    assert_non_null(strstr(r.out, TENANT));
    run_free(&r);
    EXPECT_FAIL(1, "exists", "--key-file", OPKEY_FILE, "tenant", "create",
                TENANT);

    RUN_OK(&r, "--key-file", OPKEY_FILE, "tenant", "list");
    assert_non_null(strstr(r.out, "ID"));
    assert_non_null(strstr(r.out, "CREATED"));
    assert_non_null(strstr(r.out, TENANT));
    run_free(&r);
    RUN_OK(&r, "--key-file", OPKEY_FILE, "--json", "tenant", "list");
    json_t *j = jparse(r.out);
    assert_int_equal(json_array_size(jget(j, "tenants")), 1);
    assert_string_equal(jstr(jget(j, "tenants", "0", "id")), TENANT);
    assert_int_equal(jint(jget(j, "tenants", "0", "position")), 0);
    jfree(j);
    run_free(&r);

    create_key("admin", ADMIN, sizeof(ADMIN), NULL, 0);
    create_key("agent", AGENT, sizeof(AGENT), NULL, 0);
    FILE *f = fopen(ADMIN_FILE, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", ADMIN);
    fclose(f);

    /* The human form prints the whole key too. */
    RUN_OK(&r, "--key-file", OPKEY_FILE, "key", "create", "--role", "finance",
           "--tenant", TENANT);
    assert_non_null(strstr(r.out, "crmk_"));
    assert_non_null(strstr(r.err, "only this once"));
    run_free(&r);

    RUN_OK(&r, "--key", ADMIN, "--json", "key", "list");
    j = jparse(r.out);
    assert_int_equal(json_array_size(jget(j, "keys")), 3);
    jfree(j);
    run_free(&r);

    /* Revoking a key makes it useless at once. */
    create_key("marketing", spare, sizeof(spare), spare_id, sizeof(spare_id));
    RUN_OK(&r, "--key", spare, "ping");
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "key", "revoke", spare_id);
    assert_non_null(strstr(r.out, spare_id));
    run_free(&r);
    EXPECT_FAIL(3, "unauthorized", "--key", spare, "info");
    RUN_OK(&r, "--key-file", ADMIN_FILE, "key", "list");
    assert_non_null(strstr(r.out, spare_id));
    run_free(&r);

    EXPECT_FAIL(3, "forbidden", "--key", AGENT, "tenant", "list");
    EXPECT_FAIL(2, "usage", "--key-file", OPKEY_FILE, "key", "create");
}

static void
test_ping_info_metrics(void **state)
{
    run_out r;
    (void)state;
    assert_true(ADMIN[0] != '\0');

    RUN_OK(&r, "ping");
    assert_non_null(strstr(r.out, "pong"));
    run_free(&r);
    RUN_OK(&r, "--json", "ping");
    json_t *j = jparse(r.out);
    assert_true(json_is_true(jget(j, "pong")));
    jfree(j);
    run_free(&r);

    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "info");
    j = jparse(r.out);
    assert_string_equal(jstr(jget(j, "tenant")), TENANT);
    assert_string_equal(jstr(jget(j, "role")), "admin");
    assert_true(jint(jget(j, "limits", "max_read")) > 0);
    jfree(j);
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "info");
    assert_non_null(strstr(r.out, "limits.max_read"));
    run_free(&r);

    /* Every transport: ipc, and tls+tcp with the CA and server name. */
    URL = D.ipc_url;
    RUN_OK(&r, "ping");
    run_free(&r);
    URL = D.tls_url;
    RUN_OK(&r, "--ca", D.ca, "--server-name", "localhost", "--key-file",
           ADMIN_FILE, "info");
    assert_non_null(strstr(r.out, TENANT));
    run_free(&r);
    URL = D.url;

    /* The key can come from the environment too. */
    setenv("CRM_KEY", ADMIN, 1);
    RUN_OK(&r, "metrics", "--json");
    unsetenv("CRM_KEY");
    j = jparse(r.out);
    assert_true(json_is_object(jget(j, "requests")));
    assert_true(json_is_object(jget(j, "tenants", TENANT)));
    jfree(j);
    run_free(&r);
}

/* --- TLS ------------------------------------------------------------------ */

/* Verification is the default on tls+tcp: crmctl needs the CA that signed
 * crmd's certificate, and the certificate must carry the URL's host (or
 * --server-name). Skipping verification is asked for by name. */
static void
test_tls_verifies_the_server(void **state)
{
    char other[700], other_ca[800], cmd[1600], url[96];
    run_out r;
    (void)state;

    /* A second CA, which did not sign crmd's certificate. */
    snprintf(other, sizeof(other), "%s/other-ca", D.dir);
    snprintf(cmd, sizeof(cmd), "%s/deploy/gen-certs.sh '%s' >/dev/null",
             CRM_SOURCE_DIR, other);
    assert_int_equal(system(cmd), 0);
    snprintf(other_ca, sizeof(other_ca), "%s/ca.crt", other);

    URL = D.tls_url;
    RUN_OK(&r, "--ca", D.ca, "--server-name", "localhost", "ping");
    assert_non_null(strstr(r.out, "pong"));
    run_free(&r);
    EXPECT_FAIL_MSG(1, "bad_request", "TLS handshake failed", "--ca", other_ca,
                    "--server-name", "localhost", "ping");
    /* A CA file that is not there is crmctl's own failure. */
    EXPECT_FILE_ERROR("/nonexistent/ca.crt", ENOENT, "--ca",
                      "/nonexistent/ca.crt", "ping");

    /* No CA: refused before anything is sent, not connected unverified. */
    EXPECT_FAIL_MSG(1, "bad_request",
                    "tls+tcp needs a CA file (--ca or CRM_CA); use "
                    "--insecure to skip verification\n",
                    "ping");
    /* ... unless the caller says so. */
    RUN_OK(&r, "--insecure", "ping");
    assert_non_null(strstr(r.out, "pong"));
    run_free(&r);
    setenv("CRM_INSECURE", "1", 1);
    RUN_OK(&r, "ping");
    run_free(&r);
    /* A CA, when there is one, still verifies. */
    setenv("CRM_CA", other_ca, 1);
    EXPECT_FAIL_MSG(1, "bad_request", "TLS handshake failed", "--server-name",
                    "localhost", "ping");
    unsetenv("CRM_INSECURE");
    setenv("CRM_CA", D.ca, 1);
    RUN_OK(&r, "--server-name", "localhost", "ping"); /* CA from CRM_CA */
    run_free(&r);
    setenv("CRM_CA", other_ca, 1);
    RUN_OK(&r, "--insecure", "ping"); /* the flag beats CRM_CA */
    run_free(&r);
    unsetenv("CRM_CA");
    EXPECT_FAIL(2, "usage", "--ca", D.ca, "--insecure", "ping");

    /* The right CA, but a name the certificate does not carry. */
    EXPECT_FAIL_MSG(1, "bad_request", "crm.example.com", "--ca", D.ca,
                    "--server-name", "crm.example.com", "ping");
    /* Without --server-name the name is the URL's host: 127.1 reaches
     * crmd, but its certificate is not for "127.1". */
    snprintf(url, sizeof(url), "tls+tcp://127.1%s", strrchr(D.tls_url, ':'));
    URL = url;
    EXPECT_FAIL_MSG(1, "bad_request", "'127.1'", "--ca", D.ca, "ping");
    RUN_OK(&r, "--ca", D.ca, "--server-name", "localhost", "ping");
    run_free(&r);

    /* What needs no server needs no CA either. */
    RUN_OK(&r, "types", "loyalty.points_earned");
    run_free(&r);
    URL = D.url;
}

/* --- append and read ------------------------------------------------------ */

#define GUEST_EVENT                                                            \
    "{\"stream\":\"guest-1\",\"type\":\"customer.registered\",\"body\":"       \
    "{\"first_name\":\"Ann\",\"last_name\":\"Lee\","                           \
    "\"email\":\"ann@example.com\",\"nationality\":\"DE\"}}"
#define POINTS_ID "01900000-0000-7000-8000-0000000000a1"
#define POINTS_EVENT                                                           \
    "{\"stream\":\"guest-1\",\"type\":\"loyalty.points_earned\",\"id\":"       \
    "\"" POINTS_ID "\",\"occurred_at\":\"2026-11-25T10:00:00Z\","              \
    "\"body\":{\"points\":120,\"reason\":\"stay bonus\"}}"

static void
test_append_one_and_read(void **state)
{
    run_out r;
    (void)state;
    assert_true(ADMIN[0] != '\0');

    /* The table form says the stream's new version: what the next
     * --expect names. */
    RUN_OK(&r, "--key-file", ADMIN_FILE, "append", GUEST_EVENT);
    assert_non_null(strstr(r.out, "appended 1 event at position "));
    assert_non_null(strstr(r.out, ": guest-1 version 0\n"));
    run_free(&r);

    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "append", POINTS_EVENT);
    json_t *j = jparse(r.out);
    assert_int_equal(jint(jget(j, "count")), 1);
    assert_int_equal(jint(jget(j, "versions", "0")), 1);
    assert_int_equal(jint(jget(j, "duplicates")), 0);
    long long pos = jint(jget(j, "positions", "0"));
    jfree(j);
    run_free(&r);

    /* The same id again is recognised, not stored twice. */
    RUN_OK(&r, "--key-file", ADMIN_FILE, "append", "--json", POINTS_EVENT);
    j = jparse(r.out);
    assert_int_equal(jint(jget(j, "duplicates")), 1);
    assert_int_equal(jint(jget(j, "positions", "0")), pos);
    jfree(j);
    run_free(&r);

    /* An array is one atomic request. */
    RUN_OK(
        &r, "--key-file", ADMIN_FILE, "--json", "append",
        "[{\"stream\":\"guest-2\",\"type\":\"web.product_viewed\","
        "\"body\":{\"product\":\"suite\"}},"
        "{\"stream\":\"guest-2\",\"type\":\"booking.confirmed\","
        "\"body\":{\"booking_id\":\"B-7\"},\"occurred_at\":1795600800000000}]");
    j = jparse(r.out);
    assert_int_equal(jint(jget(j, "count")), 2);
    assert_int_equal(jint(jget(j, "batches")), 1);
    jfree(j);
    run_free(&r);

    /* Several streams: one line per stream with the version of its last
     * new event; a re-sent event (same id) moves no stream. */
    RUN_OK(&r, "--key-file", ADMIN_FILE, "append",
           "[{\"stream\":\"guest-3\",\"type\":\"web.product_viewed\","
           "\"body\":{\"product\":\"spa\"}},"
           "{\"stream\":\"guest-4\",\"type\":\"web.product_viewed\","
           "\"body\":{\"product\":\"spa\"}},"
           "{\"stream\":\"guest-3\",\"type\":\"web.product_viewed\","
           "\"body\":{\"product\":\"suite\"}}]");
    assert_non_null(strstr(r.out, "appended 3 events in 1 batch"));
    assert_non_null(strstr(r.out, "\n  guest-3 version 1\n"));
    assert_non_null(strstr(r.out, "\n  guest-4 version 0\n"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "append",
           "[" POINTS_EVENT ",{\"stream\":\"guest-4\",\"type\":"
           "\"web.product_viewed\",\"body\":{\"product\":\"gym\"}}]");
    assert_non_null(strstr(r.out, "1 duplicate,"));
    assert_non_null(strstr(r.out, "\n  guest-4 version 1\n"));
    assert_null(strstr(r.out, "guest-1 version"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "append", POINTS_EVENT);
    assert_non_null(strstr(r.out, "already stored at position"));
    assert_null(strstr(r.out, "version"));
    run_free(&r);

    RUN_OK(&r, "--key-file", ADMIN_FILE, "read", "guest-1");
    assert_int_equal(count_lines(r.out), 3); /* header + 2 events */
    assert_non_null(strstr(r.out, "POSITION"));
    assert_non_null(strstr(r.out, "customer.registered"));
    assert_non_null(strstr(r.out, "loyalty.points_earned"));
    assert_non_null(strstr(r.out, "2026-11-25T10:00:00Z"));
    assert_non_null(strstr(r.out, "points=120"));
    /* An admin may see personal data, and the table shows it. */
    assert_non_null(strstr(r.out, "first_name=Ann"));
    assert_non_null(strstr(r.out, "email=ann@example.com"));
    assert_non_null(strstr(r.out, "nationality=DE"));
    assert_null(strstr(r.out, "redacted"));
    run_free(&r);

    RUN_OK(&r, "--key-file", ADMIN_FILE, "read", "guest-1", "--json");
    j = jparse(r.out);
    assert_int_equal(json_array_size(jget(j, "events")), 2);
    assert_int_equal(jint(jget(j, "last_version")), 1);
    assert_string_equal(jstr(jget(j, "events", "0", "type")),
                        "customer.registered");
    assert_string_equal(jstr(jget(j, "events", "0", "stream")), "guest-1");
    assert_int_equal(jint(jget(j, "events", "0", "version")), 0);
    assert_int_equal(strlen(jstr(jget(j, "events", "0", "id"))), 36);
    assert_int_equal(strlen(jstr(jget(j, "events", "0", "hash"))), 64);
    assert_string_equal(jstr(jget(j, "events", "1", "id")), POINTS_ID);
    assert_int_equal(jint(jget(j, "events", "1", "occurred_at")),
                     1795600800000000LL);
    assert_int_equal(jint(jget(j, "events", "1", "body", "points")), 120);
    assert_int_equal(jint(jget(j, "events", "1", "position")), pos);
    jfree(j);
    run_free(&r);

    RUN_OK(&r, "--key-file", ADMIN_FILE, "read", "guest-1", "--from-version",
           "1", "--json");
    j = jparse(r.out);
    assert_int_equal(json_array_size(jget(j, "events")), 1);
    jfree(j);
    run_free(&r);
}

static void
test_append_jsonl_file(void **state)
{
    char path[800], many[800];
    run_out r;
    (void)state;
    assert_true(ADMIN[0] != '\0');

    /* 1200 events: 1050 in one stream (more than one read reply holds),
     * 150 in another, with a blank line that must be skipped. */
    snprintf(path, sizeof(path), "%s/events.jsonl", D.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 1200; i++) {
        fprintf(f,
                "{\"stream\":\"%s\",\"type\":\"loyalty.points_earned\","
                "\"body\":{\"points\":%d}}\n",
                i < 1050 ? "bulk-big" : "bulk-small", i + 1);
        if (i == 600)
            fputs("\n", f);
    }
    fclose(f);

    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "append", "-f", path);
    json_t *j = jparse(r.out);
    assert_int_equal(jint(jget(j, "count")), 1200);
    assert_int_equal(jint(jget(j, "batches")), 3); /* 500 + 500 + 200 */
    assert_int_equal(json_array_size(jget(j, "positions")), 1200);
    assert_int_equal(jint(jget(j, "duplicates")), 0);
    long long first = jint(jget(j, "positions", "0"));
    assert_int_equal(jint(jget(j, "positions", "1199")), first + 1199);
    assert_int_equal(jint(jget(j, "head")), first + 1199);
    jfree(j);
    run_free(&r);

    RUN_OK(&r, "--key-file", ADMIN_FILE, "read", "bulk-big", "--json");
    j = jparse(r.out);
    const json_t *evs = jget(j, "events");
    assert_int_equal(json_array_size(evs), 1050);
    for (size_t i = 0; i < 1050; i += 149) {
        char idx[16];
        snprintf(idx, sizeof(idx), "%zu", i);
        assert_int_equal(jint(jget(evs, idx, "version")), (long long)i);
        assert_int_equal(jint(jget(evs, idx, "body", "points")),
                         (long long)i + 1);
    }
    assert_int_equal(jint(jget(j, "last_version")), 1049);
    jfree(j);
    run_free(&r);

    RUN_OK(&r, "--key-file", ADMIN_FILE, "read", "bulk-small");
    assert_int_equal(count_lines(r.out), 151);
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "read", "bulk-small", "--max", "5");
    assert_int_equal(count_lines(r.out), 6);
    run_free(&r);

    /* Past twenty streams the table says there were more. */
    snprintf(many, sizeof(many), "%s/many.jsonl", D.dir);
    f = fopen(many, "w");
    assert_non_null(f);
    for (int i = 0; i < 25; i++)
        fprintf(f,
                "{\"stream\":\"many-%02d\",\"type\":\"web.product_viewed\","
                "\"body\":{\"product\":\"suite\"}}\n",
                i);
    fclose(f);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "append", "-f", many);
    assert_non_null(strstr(r.out, "\n  many-00 version 0\n"));
    assert_non_null(strstr(r.out, "\n  many-19 version 0\n"));
    assert_null(strstr(r.out, "many-20"));
    assert_non_null(strstr(r.out, "\n  ... and more streams (--json lists "
                                  "every version)\n"));
    run_free(&r);

    /* The same file from stdin. */
    RUN_IN(&r, path, "--key-file", ADMIN_FILE, "append", "-");
    if (r.status != 0)
        fail_msg("append -: %s", r.err);
    assert_non_null(strstr(r.out, "appended 1200 events in 3 batches"));
    /* Versions over every batch: each stream held 1050 and 150 events. */
    assert_non_null(strstr(r.out, "\n  bulk-big version 2099\n"));
    assert_non_null(strstr(r.out, "\n  bulk-small version 299\n"));
    assert_null(strstr(r.out, "more streams"));
    run_free(&r);
}

static void
test_tail(void **state)
{
    run_out r;
    (void)state;
    assert_true(ADMIN[0] != '\0');

    RUN_OK(&r, "--key-file", ADMIN_FILE, "tail", "--from", "1", "--max", "5",
           "--json");
    json_t *j = jparse(r.out);
    const json_t *evs = jget(j, "events");
    assert_int_equal(json_array_size(evs), 5);
    for (int i = 0; i < 5; i++) {
        char idx[4];
        snprintf(idx, sizeof(idx), "%d", i);
        assert_int_equal(jint(jget(evs, idx, "position")), i + 1);
    }
    assert_string_equal(jstr(jget(evs, "0", "type")), "customer.registered");
    assert_int_equal(jint(jget(j, "next")), 6);
    assert_true(jint(jget(j, "head")) > 2400);
    jfree(j);
    run_free(&r);

    RUN_OK(&r, "--key-file", ADMIN_FILE, "tail", "--from", "1", "--max", "3");
    assert_int_equal(count_lines(r.out), 4);
    assert_non_null(strstr(r.out, "guest-1"));
    assert_non_null(strstr(r.out, "email=ann@example.com"));
    run_free(&r);

    /* Without --from: the last N events, like tail(1). */
    RUN_OK(&r, "--key-file", ADMIN_FILE, "tail", "-n", "2");
    assert_int_equal(count_lines(r.out), 3);
    assert_non_null(strstr(r.out, "bulk-small"));
    run_free(&r);

    /* Over several replies (max 1000 each) up to the head. */
    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "tail", "--from", "2");
    j = jparse(r.out);
    assert_int_equal((long long)json_array_size(jget(j, "events")),
                     jint(jget(j, "head")) - 1);
    jfree(j);
    run_free(&r);

    /* Agents read the log too; auditors-only ops are not needed. */
    RUN_OK(&r, "--key", AGENT, "tail", "-n", "1", "--json");
    run_free(&r);
}

/* The tables show what the server sent: personal fields to an admin, and
 * to an auditor (whose events come without them) a "pii:redacted" mark. */
static void
test_tables_show_personal_data_by_role(void **state)
{
    char auditor[128];
    run_out r;
    (void)state;
    assert_true(ADMIN[0] != '\0');
    create_key("auditor", auditor, sizeof(auditor), NULL, 0);

    RUN_OK(&r, "--key-file", ADMIN_FILE, "read", "guest-1", "--max", "1");
    assert_non_null(strstr(r.out, "customer.registered"));
    assert_non_null(strstr(r.out, "last_name=Lee"));
    assert_non_null(strstr(r.out, "email=ann@example.com"));
    run_free(&r);

    RUN_OK(&r, "--key", auditor, "read", "guest-1");
    assert_non_null(strstr(r.out, "customer.registered"));
    assert_non_null(strstr(r.out, "nationality=DE pii:redacted\n"));
    assert_null(strstr(r.out, "Ann"));
    assert_null(strstr(r.out, "Lee"));
    assert_null(strstr(r.out, "ann@example.com"));
    assert_null(strstr(r.out, "email"));
    /* Events without personal data carry no mark. */
    assert_non_null(strstr(r.out, "points=120 reason=\"stay bonus\"\n"));
    run_free(&r);

    RUN_OK(&r, "--key", auditor, "tail", "--from", "1", "--max", "1");
    assert_non_null(strstr(r.out, "guest-1"));
    assert_non_null(strstr(r.out, "pii:redacted"));
    assert_null(strstr(r.out, "ann@example.com"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "tail", "--from", "1", "--max", "1");
    assert_non_null(strstr(r.out, "first_name=Ann last_name=Lee "
                                  "email=ann@example.com"));
    run_free(&r);
}

/* Tables align by terminal cells, not bytes: a Chinese name takes two
 * cells a character. The header is bold only where there is colour:
 * never on a pipe, unless CLICOLOR_FORCE asks for it. */
static void
test_tables_align_wide_names(void **state)
{
    run_out r;
    (void)state;
    static const char *const reg[] = {
        "{\"stream\":\"wide-1\",\"type\":\"customer.registered\","
        "\"body\":{\"first_name\":\"王小明\",\"last_name\":\"Zhou\"}}",
        "{\"stream\":\"wide-2\",\"type\":\"customer.registered\","
        "\"body\":{\"first_name\":\"Ann-Kathrin\",\"last_name\":\"Zhou\"}}"};
    for (size_t i = 0; i < 2; i++) {
        RUN_OK(&r, "--key-file", ADMIN_FILE, "append", reg[i]);
        run_free(&r);
    }
    RUN_OK(&r, "--key-file", ADMIN_FILE, "customer", "find", "--name",
           "zhou");
    /* "王小明 Zhou" in quotes is 13 cells (19 bytes): 5 + 2 blanks to
     * the next column, as after the 18 cells of the other name */
    assert_non_null(strstr(r.out, "\nwide-1  \"王小明 Zhou\"       -  "));
    assert_non_null(strstr(r.out, "\nwide-2  \"Ann-Kathrin Zhou\"  -  "));
    assert_null(strchr(r.out, '\033'));
    run_free(&r);
    setenv("CLICOLOR_FORCE", "1", 1);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "customer", "find", "--name",
           "zhou");
    unsetenv("CLICOLOR_FORCE");
    assert_non_null(strstr(r.out, "\033[1mID "));
    assert_non_null(strstr(r.out, "POINTS\033[0m\n"));
    run_free(&r);
}

/* A crmctl running in the background with its stdout on a pipe. */
typedef struct bg {
    pid_t pid;
    int out;
    char buf[65536];
    size_t len;
} bg;

static void
bg_start(bg *b, const char *const *args)
{
    const char *argv[64];
    int po[2];
    build_argv(argv, 64, args);
    assert_int_equal(pipe(po), 0);
    b->len = 0;
    b->pid = fork();
    assert_true(b->pid >= 0);
    if (b->pid == 0) {
        int fd = open("/dev/null", O_RDONLY);
        dup2(fd, 0);
        dup2(po[1], 1);
        close(po[0]);
        execv(CRM_CRMCTL_PATH, (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    b->out = po[0];
}

/* Reads the first line within ms; returns it (NUL-terminated in b->buf). */
static const char *
bg_line(bg *b, int ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        char *nl = memchr(b->buf, '\n', b->len);
        if (nl) {
            *nl = '\0';
            return b->buf;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        int left = ms - (int)((t.tv_sec - t0.tv_sec) * 1000 +
                              (t.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd pf = {.fd = b->out, .events = POLLIN};
        if (left <= 0 || poll(&pf, 1, left) <= 0)
            return NULL;
        ssize_t got =
            read(b->out, b->buf + b->len, sizeof(b->buf) - 1 - b->len);
        if (got <= 0)
            return NULL;
        b->len += (size_t)got;
    }
}

/* Waits up to ms for the process to exit by itself; returns its status. */
static int
bg_wait(bg *b, int ms)
{
    int st;
    for (int waited = 0; waited < ms; waited += 10) {
        if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
            close(b->out);
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(10000);
    }
    return -1;
}

static void
bg_kill(bg *b)
{
    int st;
    kill(b->pid, SIGTERM);
    waitpid(b->pid, &st, 0);
    close(b->out);
}

static void
test_tail_follow(void **state)
{
    run_out r;
    char from[32];
    bg follower, once;
    (void)state;
    assert_true(ADMIN[0] != '\0');

    /* -n 0 reads nothing but says where the head is. */
    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "tail", "-n", "0");
    json_t *j = jparse(r.out);
    assert_int_equal(json_array_size(jget(j, "events")), 0);
    long long head = jint(jget(j, "head"));
    jfree(j);
    run_free(&r);
    snprintf(from, sizeof(from), "%lld", head + 1);

    /* Starting at head + 1 makes the test independent of whether the
     * followers are parked before the append arrives. */
    bg_start(&follower,
             (const char *const[]){"--key-file", ADMIN_FILE, "--json", "tail",
                                   "-f", "--from", from, NULL});
    bg_start(&once, (const char *const[]){"--key-file", ADMIN_FILE, "tail",
                                          "-f", "--from", from, "--max", "1",
                                          "--json", NULL});
    usleep(200000); /* usually parked in the long-poll by now */
    RUN_OK(&r, "--key-file", ADMIN_FILE, "append",
           "{\"stream\":\"live-1\",\"type\":\"interaction.logged\","
           "\"body\":{\"channel\":\"call\",\"direction\":\"inbound\"}}");
    run_free(&r);

    const char *line = bg_line(&follower, 15000);
    if (line == NULL) {
        bg_kill(&follower);
        bg_kill(&once);
        fail_msg("tail -f printed nothing within 15 s");
    }
    j = jparse(line);
    assert_string_equal(jstr(jget(j, "stream")), "live-1");
    assert_string_equal(jstr(jget(j, "type")), "interaction.logged");
    assert_int_equal(jint(jget(j, "position")), head + 1);
    jfree(j);
    bg_kill(&follower);

    /* With --max the follower stops by itself once it has enough. */
    line = bg_line(&once, 15000);
    int st = bg_wait(&once, 15000);
    if (st < 0)
        bg_kill(&once);
    if (line == NULL || st != 0)
        fail_msg("tail -f --max 1 exited with %d, printed %s", st,
                 line ? line : "nothing");
    j = jparse(line);
    assert_string_equal(jstr(jget(j, "stream")), "live-1");
    jfree(j);
}

/* --- failures ------------------------------------------------------------- */

static void
test_errors_name_and_status(void **state)
{
    char path[800];
    run_out r;
    (void)state;
    assert_true(ADMIN[0] != '\0');

    EXPECT_FAIL(1, "unknown_type", "--key-file", ADMIN_FILE, "append",
                "{\"stream\":\"g-err\",\"type\":\"nope.nothing\",\"body\":{}}");
    EXPECT_FAIL(1, "missing_field", "--key-file", ADMIN_FILE, "append",
                "{\"stream\":\"g-err\",\"type\":\"loyalty.points_earned\","
                "\"body\":{\"reason\":\"no points\"}}");
    EXPECT_FAIL(1, "bad_field", "--key-file", ADMIN_FILE, "append",
                "{\"stream\":\"g-err\",\"type\":\"feedback.survey_submitted\","
                "\"body\":{\"nps\":11}}");
    EXPECT_FAIL(
        3, "unauthorized", "--key",
        "crmk_0000000000000000_"
        "0000000000000000000000000000000000000000000000000000000000000000",
        "tail");
    EXPECT_FAIL(3, "unauthorized", "tail"); /* no key at all */
    EXPECT_FAIL(3, "forbidden", "--key", AGENT, "append",
                "{\"stream\":\"g-err\",\"type\":\"customer.erased\","
                "\"body\":{\"reason\":\"gdpr\"}}");
    /* The server's message follows the error name. */
    EXPECT_FAIL_MSG(4, "not_found", "nobody", "--key-file", ADMIN_FILE, "read",
                    "nobody");
    /* An id no key of this tenant has: the message says whose keys an
     * admin may revoke; what is not an id at all is refused unsent. */
    EXPECT_FAIL_MSG(4, "not_found",
                    "no key 0123456789abcdef that this key may revoke: an "
                    "admin key revokes only keys of its own tenant",
                    "--key-file", ADMIN_FILE, "key", "revoke",
                    "0123456789abcdef");
    EXPECT_FAIL_MSG(2, "usage", "16 hex digits after \"crmk_\"", "--key-file",
                    ADMIN_FILE, "key", "revoke", "<key_id>");
    EXPECT_FAIL(2, "usage", "--key-file", ADMIN_FILE, "key", "revoke",
                "0123456789ABCDEF");
    EXPECT_FAIL(4, "not_found", "--key-file", OPKEY_FILE, "key", "create",
                "--role", "agent", "--tenant", "no-such-tenant");
    /* Only operators create tenants. */
    EXPECT_FAIL(3, "forbidden", "--key-file", ADMIN_FILE, "tenant", "create",
                "hotel-b");
    /* What the server refuses as malformed is exit 1; exit 2 is for what
     * crmctl refuses before sending. */
    EXPECT_FAIL(1, "bad_request", "--key-file", OPKEY_FILE, "tenant", "create",
                "Not_A_Tenant_Id");
    EXPECT_FAIL(2, "usage", "--timeout", "0", "ping");
    EXPECT_FAIL(2, "usage", "--key", ADMIN, "--key-file", ADMIN_FILE, "ping");

    /* guest-1 is at version 1: expecting 5 is a conflict, 1 is not. */
    EXPECT_FAIL_MSG(
        5, "conflict", "version 1", "--key-file", ADMIN_FILE, "append",
        "--expect", "guest-1=5",
        "{\"stream\":\"guest-1\",\"type\":\"loyalty.points_redeemed\","
        "\"body\":{\"points\":10}}");
    EXPECT_FAIL(5, "conflict", "--key-file", ADMIN_FILE, "append", "--expect",
                "guest-1=no_stream",
                "{\"stream\":\"guest-1\",\"type\":\"loyalty.points_redeemed\","
                "\"body\":{\"points\":10}}");
    RUN_OK(&r, "--key-file", ADMIN_FILE, "append", "--expect", "guest-1=1",
           "{\"stream\":\"guest-1\",\"type\":\"loyalty.points_redeemed\","
           "\"body\":{\"points\":10}}");
    run_free(&r);

    /* Input crmctl cannot use is refused before anything is sent. */
    EXPECT_FAIL(2, "bad_request", "--key-file", ADMIN_FILE, "append",
                "{\"stream\":");
    EXPECT_FAIL(
        2, "bad_request", "--key-file", ADMIN_FILE, "append",
        "{\"stream\":\"g\",\"type\":\"web.product_viewed\",\"bdy\":{}}");
    EXPECT_FAIL(2, "bad_request", "--key-file", ADMIN_FILE, "append",
                "{\"stream\":\"g\",\"type\":\"web.product_viewed\","
                "\"occurred_at\":\"2026-02-30T10:00:00Z\",\"body\":{}}");
    /* A file crmctl cannot open is its own failure, not a server's: no
     * error name, the file and the reason, exit 6. */
    EXPECT_FILE_ERROR("/nonexistent/events.jsonl", ENOENT, "--key-file",
                      ADMIN_FILE, "append", "-f", "/nonexistent/events.jsonl");
    RUN(&r, "--key-file", ADMIN_FILE, "append", "-f", "missing.jsonl");
    assert_int_equal(r.status, 6);
    assert_string_equal(r.err, "crmctl: cannot open input file missing.jsonl: "
                               "No such file or directory\n");
    run_free(&r);
    /* A directory opens but cannot be read. */
    EXPECT_FILE_ERROR(D.dir, EISDIR, "--key-file", ADMIN_FILE, "append", "-f",
                      D.dir);
    EXPECT_FILE_ERROR("/nonexistent/key", ENOENT, "--key-file",
                      "/nonexistent/key", "ping");
    /* A key file that cannot be read says why, not "holds no key". */
    EXPECT_FILE_ERROR(D.dir, EISDIR, "--key-file", D.dir, "ping");
    EXPECT_FAIL(2, "usage", "--key-file", ADMIN_FILE, "append");
    EXPECT_FAIL(2, "usage", "--key-file", ADMIN_FILE, "append", "--expect",
                "guest-1", "{}");

    /* A JSONL failure names the file and line. */
    snprintf(path, sizeof(path), "%s/bad.jsonl", D.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(
        "{\"stream\":\"g-err\",\"type\":\"web.product_viewed\","
        "\"body\":{\"product\":\"a\"}}\n"
        "{\"stream\":\"g-err\",\"type\":\"web.product_viewed\","
        "\"body\":{\"product\":\"b\"}}\n"
        "{\"stream\":\"g-err\",\"type\":\"web.product_viewed\",\"body\":{}}\n",
        f);
    fclose(f);
    RUN(&r, "--key-file", ADMIN_FILE, "append", "-f", path);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "crmctl: missing_field:"));
    assert_non_null(strstr(r.err, "bad.jsonl:3:"));
    run_free(&r);
    /* The batch was atomic: nothing of it was stored. */
    EXPECT_FAIL(4, "not_found", "--key-file", ADMIN_FILE, "read", "g-err");

    /* Output that never reaches its file is a failure, not exit 0. */
    RUN_OUT(&r, "/dev/full", "types");
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "crmctl: io_error: "));
    run_free(&r);
    RUN_OUT(&r, "/dev/full", "--key-file", ADMIN_FILE, "--json", "read",
            "guest-1");
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "crmctl: io_error: "));
    run_free(&r);

    /* Nothing listens on port 1. */
    URL = "tcp://127.0.0.1:1";
    EXPECT_FAIL(1, "unavailable", "ping");
    URL = D.url;
}

/* --- settings and rebuild ------------------------------------------------- */

/* settings set appends a change from a day on; settings get answers any
 * day as known at any position; the same --id again writes nothing; bad
 * options are usage errors and the server's refusals keep their names;
 * admin rebuild reports each projection identical. */
static void
test_settings_and_rebuild(void **state)
{
    run_out r;
    (void)state;
    RUN_OK(&r, "--key-file", ADMIN_FILE, "settings", "get");
    assert_non_null(strstr(r.out, "dormant_days"));
    assert_non_null(strstr(r.out, "180"));
    assert_non_null(strstr(r.out, "ordinary"));
    assert_non_null(strstr(r.out, "EUR"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "tail", "-n", "1");
    json_t *j = jparse(r.out);
    long long before = jint(jget(j, "head"));
    jfree(j);
    run_free(&r);

    static const char *const change_id = "0190a0b0-c0d0-7e00-8000-000000000042";
#define CHANGE                                                                 \
    "--key-file", ADMIN_FILE, "settings", "set", "--from", "2026-01-01",       \
        "--dormant-days", "120", "--rate", "USD=0.92", "--tier",               \
        "platinum:3:nights=50,bonus=2500", "--earn", "gold/spa=15", "--id",    \
        change_id
    RUN_OK(&r, CHANGE);
    assert_non_null(strstr(r.out, "recorded 4 settings events"));
    assert_non_null(strstr(r.out, change_id));
    run_free(&r);
    RUN_OK(&r, CHANGE);
    assert_non_null(strstr(r.out, "already recorded"));
    run_free(&r);
#undef CHANGE

    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "settings", "get", "--on",
           "2026-06-01");
    j = jparse(r.out);
    assert_int_equal(jint(jget(j, "dormant_days")), 120);
    assert_int_equal(jint(jget(j, "changes")), 4);
    assert_string_equal(jstr(jget(j, "rates", "0", "currency")), "USD");
    assert_string_equal(jstr(jget(j, "rates", "0", "rate")), "0.92");
    int platinum = 0, gold_spa = 0;
    for (size_t i = 0; i < json_array_size(jget(j, "tiers")); i++)
        platinum |= strcmp(jstr(json_object_get(
                               json_array_get(jget(j, "tiers"), i), "tier")),
                           "platinum") == 0;
    for (size_t i = 0; i < json_array_size(jget(j, "earn")); i++) {
        const json_t *e = json_array_get(jget(j, "earn"), i);
        gold_spa |= strcmp(jstr(json_object_get(e, "tier")), "gold") == 0 &&
                    strcmp(jstr(json_object_get(e, "category")), "spa") == 0 &&
                    strcmp(jstr(json_object_get(e, "points_per_unit")), "15") ==
                        0;
    }
    assert_true(platinum);
    assert_true(gold_spa);
    jfree(j);
    run_free(&r);
    /* the day before it applies, and the log before it was made */
    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "settings", "get", "--on",
           "2025-12-31");
    j = jparse(r.out);
    assert_int_equal(jint(jget(j, "dormant_days")), 180);
    jfree(j);
    run_free(&r);
    char as_of[24];
    snprintf(as_of, sizeof(as_of), "%lld", before);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "settings", "get", "--on",
           "2026-06-01", "--as-of", as_of);
    j = jparse(r.out);
    assert_int_equal(jint(jget(j, "dormant_days")), 180);
    assert_int_equal(jint(jget(j, "changes")), 0);
    jfree(j);
    run_free(&r);
    /* an agent may read them */
    RUN_OK(&r, "--key", AGENT, "settings", "get");
    run_free(&r);

    /* a change from a JSON file, the options on top */
    char path[800];
    snprintf(path, sizeof(path), "%s/settings.json", D.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"effective_from\": \"2026-02-01\", \"points_expiry_months\": 36}\n",
          f);
    fclose(f);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "settings", "set", "-f", path,
           "--reason", "longer expiry");
    assert_non_null(strstr(r.out, "recorded 1 settings event"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "settings", "get", "--on",
           "2026-03-01");
    j = jparse(r.out);
    assert_int_equal(jint(jget(j, "points_expiry_months")), 36);
    assert_int_equal(jint(jget(j, "dormant_days")), 120);
    jfree(j);
    run_free(&r);

    EXPECT_FAIL_MSG(2, "usage", "--from", "--key-file", ADMIN_FILE,
                    "settings", "set", "--dormant-days", "10");
    EXPECT_FAIL_MSG(2, "usage", "--tier", "--key-file", ADMIN_FILE,
                    "settings", "set", "--from", "2026-01-01", "--tier",
                    "gold");
    EXPECT_FAIL_MSG(2, "usage", "--rate", "--key-file", ADMIN_FILE,
                    "settings", "set", "--from", "2026-01-01", "--rate",
                    "USD");
    EXPECT_FAIL_MSG(2, "usage", "--dormant-days", "--key-file", ADMIN_FILE,
                    "settings", "set", "--from", "2026-01-01",
                    "--dormant-days", "many");
    EXPECT_FAIL_MSG(1, "bad_field", "base currency", "--key-file",
                    ADMIN_FILE, "settings", "set", "--from", "2026-01-01",
                    "--rate", "EUR=1");
    EXPECT_FAIL(1, "bad_field", "--key-file", ADMIN_FILE, "settings", "set",
                "--from", "2026-01-01", "--dormant-days", "0");
    EXPECT_FAIL(3, "forbidden", "--key", AGENT, "settings", "set", "--from",
                "2026-01-01", "--dormant-days", "10");
    EXPECT_FAIL(1, "bad_request", "--key-file", ADMIN_FILE, "settings", "get",
                "--on", "2026-13-01");
    snprintf(path, sizeof(path), "%s/no-such-settings.json", D.dir);
    EXPECT_FILE_ERROR(path, ENOENT, "--key-file", ADMIN_FILE, "settings",
                      "set", "-f", path);
    /* refusals wrote nothing: still the 5 settings events above */
    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "settings", "get");
    j = jparse(r.out);
    assert_int_equal(jint(jget(j, "changes")), 5);
    jfree(j);
    run_free(&r);

    RUN_OK(&r, "--key-file", ADMIN_FILE, "admin", "rebuild");
    assert_non_null(strstr(r.out, "PROJECTION"));
    assert_non_null(strstr(r.out, "settings"));
    assert_non_null(strstr(r.out, "yes"));
    assert_null(strstr(r.out, "NO"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "admin", "rebuild",
           "--projection", "settings");
    j = jparse(r.out);
    assert_string_equal(jstr(jget(j, "projections", "0", "name")), "settings");
    assert_true(json_is_true(jget(j, "projections", "0", "identical")));
    assert_true(jint(jget(j, "projections", "0", "events")) > before);
    jfree(j);
    run_free(&r);
    EXPECT_FAIL(4, "not_found", "--key-file", ADMIN_FILE, "admin", "rebuild",
                "--projection", "nope");
    EXPECT_FAIL(3, "forbidden", "--key", AGENT, "admin", "rebuild");
}

/* crmctl segment: define, members by page and with --all, counts, and a
 * bad filter refused with its column (exit 1, nothing printed). */
static void
test_segments(void **state)
{
    run_out r;
    (void)state;
    static const char *const faro[] = {
        "{\"stream\":\"seg-c\",\"type\":\"stay.checked_out\","
        "\"occurred_at\":\"2026-03-01T10:00:00Z\",\"body\":{\"stay_id\":"
        "\"1\",\"property\":\"ctl-faro\",\"nights\":2}}",
        "{\"stream\":\"seg-a\",\"type\":\"stay.checked_out\","
        "\"occurred_at\":\"2026-03-01T10:00:00Z\",\"body\":{\"stay_id\":"
        "\"1\",\"property\":\"ctl-faro\",\"nights\":3}}",
        "{\"stream\":\"seg-b\",\"type\":\"stay.checked_out\","
        "\"occurred_at\":\"2026-03-01T10:00:00Z\",\"body\":{\"stay_id\":"
        "\"1\",\"property\":\"ctl-faro\",\"nights\":4}}"};
    for (size_t i = 0; i < 3; i++) {
        RUN_OK(&r, "--key-file", ADMIN_FILE, "append", faro[i]);
        run_free(&r);
    }
    RUN_OK(&r, "--key-file", ADMIN_FILE, "segment", "define", "ctl-faro",
           "property = \"ctl-faro\" and nights >= 3", "--description",
           "crmctl test");
    assert_non_null(strstr(r.out, "segment ctl-faro defined at position"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "segment", "list");
    assert_non_null(strstr(r.out, "points_expiring"));
    assert_non_null(strstr(r.out, "property = \"ctl-faro\" and nights >= 3"));
    assert_non_null(strstr(r.out, "crmctl test"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "segment", "members", "ctl-faro",
           "--on", "2026-04-01", "--limit", "1");
    assert_non_null(strstr(r.out, "seg-a "));
    assert_null(strstr(r.out, "seg-b"));
    assert_non_null(strstr(r.out, "1 guest; more: --cursor 7365672d61"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "segment", "members", "ctl-faro",
           "--on", "2026-04-01", "--limit", "1", "--cursor", "7365672d61");
    assert_non_null(strstr(r.out, "seg-b "));
    assert_null(strstr(r.out, "seg-a"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "segment", "members", "ctl-faro",
           "--on", "2026-04-01", "--limit", "1", "--all");
    assert_non_null(strstr(r.out, "seg-a "));
    assert_non_null(strstr(r.out, "seg-b "));
    assert_null(strstr(r.out, "seg-c"));
    assert_non_null(strstr(r.out, "2 guests\n"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "segment", "counts", "--on",
           "2026-04-01");
    assert_non_null(strstr(r.out, "on 2026-04-01: "));
    const char *row = strstr(r.out, "\ndefined ");
    assert_non_null(row);
    assert_non_null(strstr(row, "ctl-faro"));
    const char *eol = strchr(row + 1, '\n');
    assert_non_null(eol);
    assert_memory_equal(eol - 2, " 2", 2); /* seg-a and seg-b */
    run_free(&r);
    /* the export: seg-a consented and has an address, with a comma in
     * its name; seg-b did not consent */
    static const char *const contact[] = {
        "{\"stream\":\"seg-a\",\"type\":\"customer.registered\","
        "\"body\":{\"first_name\":\"Ana, Maria\",\"last_name\":\"Sá\","
        "\"email\":\"ana@seg.example\"}}",
        "{\"stream\":\"seg-a\",\"type\":\"customer.consent_changed\","
        "\"body\":{\"channel\":\"email\",\"granted\":true}}"};
    for (size_t i = 0; i < 2; i++) {
        RUN_OK(&r, "--key-file", ADMIN_FILE, "append", contact[i]);
        run_free(&r);
    }
    RUN_OK(&r, "--key-file", ADMIN_FILE, "segment", "export", "ctl-faro",
           "--channel", "email", "--on", "2026-04-01", "--csv", "--limit",
           "1");
    assert_string_equal(r.out, "id,email,first_name,last_name,language\n"
                               "seg-a,ana@seg.example,\"Ana, Maria\",Sá,\n");
    assert_non_null(strstr(r.err, "1 exported; not consented to email "
                                  "marketing: 1; no address: 0"));
    run_free(&r);
    EXPECT_FAIL(2, "usage", "--key-file", ADMIN_FILE, "segment", "export",
                "ctl-faro");
    EXPECT_FAIL_MSG(1, "bad_request", "column 12 at 'ctl'", "--key-file",
                    ADMIN_FILE, "segment", "define", "broken",
                    "property = ctl");
    EXPECT_FAIL(2, "usage", "--key-file", ADMIN_FILE, "segment", "define",
                "no-filter");
    EXPECT_FAIL(4, "not_found", "--key-file", ADMIN_FILE, "segment",
                "members", "no-such");
}

/* crmctl tasks today: a heading per section with its count, the
 * arrival's row with what the desk needs, "none" for an empty section,
 * the property filter, --json, and a bad --days refused. */
static void
test_tasks_today(void **state)
{
    run_out r;
    (void)state;
    static const char *const chain[] = {
        "{\"stream\":\"task-a\",\"type\":\"customer.registered\","
        "\"body\":{\"first_name\":\"Lina\",\"last_name\":\"Haddad\","
        "\"birth_date\":\"1988-04-02\"}}",
        "{\"stream\":\"task-a\",\"type\":\"customer.consent_changed\","
        "\"body\":{\"channel\":\"sms\",\"granted\":true}}",
        "{\"stream\":\"task-a\",\"type\":\"customer.preference_set\","
        "\"body\":{\"category\":\"pillow\",\"value\":\"firm\"}}",
        "{\"stream\":\"task-a\",\"type\":\"booking.created\","
        "\"occurred_at\":\"2026-03-20T10:00:00Z\",\"body\":{\"booking_id\":"
        "\"TB1\",\"property\":\"ctl-tavira\",\"arrival\":\"2026-04-03\","
        "\"departure\":\"2026-04-05\",\"channel\":\"web\"}}",
        "{\"stream\":\"task-a\",\"type\":\"complaint.opened\","
        "\"occurred_at\":\"2026-03-28T09:00:00Z\",\"body\":{\"complaint_id\":"
        "\"TK1\",\"category\":\"wifi\",\"property\":\"ctl-tavira\"}}"};
    for (size_t i = 0; i < sizeof(chain) / sizeof(chain[0]); i++) {
        RUN_OK(&r, "--key-file", ADMIN_FILE, "append", chain[i]);
        run_free(&r);
    }
    RUN_OK(&r, "--key-file", ADMIN_FILE, "tasks", "today", "--on",
           "2026-04-01", "--days", "3", "--property", "ctl-tavira");
    assert_non_null(strstr(r.out, "tasks for 2026-04-01 and the next 3 days, "
                                  "property ctl-tavira"));
    assert_non_null(strstr(r.out, "\narrivals (1)\n"));
    assert_non_null(strstr(r.out, "2026-04-03  2026-04-05"));
    assert_non_null(strstr(r.out, "TB1"));
    assert_non_null(strstr(r.out, "Lina Haddad"));
    assert_non_null(strstr(r.out, "pillow=firm"));
    assert_non_null(strstr(r.out, "\nonline bookings not confirmed (1)\n"));
    assert_non_null(strstr(r.out, "2026-03-20T10:00:00Z"));
    assert_non_null(strstr(r.out, "\ncomplaints open past their SLA (1)\n"));
    assert_non_null(strstr(r.out, "TK1"));
    assert_non_null(strstr(r.out, "\npoints expiring this month (0)\n  none\n"));
    assert_non_null(strstr(r.out, "\nbirthdays ("));
    assert_non_null(strstr(r.out, "task-a"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "tasks", "today", "--on",
           "2026-04-01", "--property", "ctl-nowhere");
    assert_non_null(strstr(r.out, "\narrivals (0)\n  none\n"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "tasks", "today", "--on",
           "2026-04-01", "--days", "3", "--property", "ctl-tavira");
    assert_non_null(strstr(r.out, "\"booking_id\":\"TB1\""));
    assert_non_null(strstr(r.out, "\"on\":\"2026-04-01\""));
    run_free(&r);
    EXPECT_FAIL(2, "usage", "--key-file", ADMIN_FILE, "tasks", "today",
                "--days", "40");
}

/* crmctl customer consent-at and audit consent-violations: the answer
 * before and after a grant (the moment of the grant included), the
 * send made without consent listed and the one made with it not, the
 * campaign filter, --json, and bad arguments refused. */
static void
test_consent(void **state)
{
    run_out r;
    (void)state;
    static const char *const chain[] = {
        "{\"stream\":\"cons-a\",\"type\":\"marketing.message_sent\","
        "\"occurred_at\":\"2026-02-01T09:00:00Z\",\"body\":{\"campaign\":"
        "\"ctl-spring\",\"channel\":\"email\"}}",
        "{\"stream\":\"cons-a\",\"type\":\"customer.consent_changed\","
        "\"occurred_at\":\"2026-03-01T10:00:00Z\",\"body\":{\"channel\":"
        "\"email\",\"granted\":true,\"source\":\"desk\"}}",
        "{\"stream\":\"cons-a\",\"type\":\"marketing.message_sent\","
        "\"occurred_at\":\"2026-03-02T09:00:00Z\",\"body\":{\"campaign\":"
        "\"ctl-spring\",\"channel\":\"email\"}}"};
    for (size_t i = 0; i < sizeof(chain) / sizeof(chain[0]); i++) {
        RUN_OK(&r, "--key-file", ADMIN_FILE, "append", chain[i]);
        run_free(&r);
    }
    RUN_OK(&r, "--key-file", ADMIN_FILE, "customer", "consent-at", "cons-a",
           "--channel", "email", "--at", "2026-02-15T00:00:00Z");
    assert_string_equal(r.out, "cons-a email/marketing at "
                               "2026-02-15T00:00:00Z: not granted (never "
                               "given)\n");
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "customer", "consent-at", "cons-a",
           "--channel", "email", "--purpose", "marketing", "--at",
           "2026-03-01T10:00:00Z");
    assert_non_null(strstr(r.out, "cons-a email/marketing at "
                                  "2026-03-01T10:00:00Z: granted since "
                                  "2026-03-01T10:00:00Z (position "));
    assert_non_null(strstr(r.out, ", source desk)\n"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "customer", "consent-at", "cons-a",
           "--channel", "email", "--purpose", "service");
    assert_non_null(strstr(r.out, "not granted (never given)"));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "customer", "consent-at",
           "cons-a", "--channel", "email");
    json_t *j = jparse(r.out);
    assert_true(json_is_true(jget(j, "granted")));
    assert_string_equal(jstr(jget(j, "source")), "desk");
    jfree(j);
    run_free(&r);

    RUN_OK(&r, "--key-file", ADMIN_FILE, "audit", "consent-violations",
           "--campaign", "ctl-spring");
    assert_non_null(strstr(r.out, "2026-02-01T09:00:00Z"));
    assert_non_null(strstr(r.out, "never given"));
    assert_null(strstr(r.out, "2026-03-02T09:00:00Z"));
    assert_non_null(strstr(r.out, "1 message sent without consent; "));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "audit", "consent-violations",
           "--campaign", "ctl-none");
    assert_non_null(strstr(r.out, "0 messages sent without consent; "));
    run_free(&r);
    RUN_OK(&r, "--key-file", ADMIN_FILE, "--json", "audit",
           "consent-violations", "--campaign", "ctl-spring", "--limit", "1");
    /* one document per page: the first holds the only violation */
    *strchr(r.out, '\n') = '\0';
    j = jparse(r.out);
    assert_string_equal(jstr(jget(j, "violations", "0", "customer")),
                        "cons-a");
    assert_string_equal(jstr(jget(j, "violations", "0", "consent")),
                        "never_given");
    jfree(j);
    run_free(&r);

    EXPECT_FAIL(2, "usage", "--key-file", ADMIN_FILE, "customer",
                "consent-at", "cons-a");
    EXPECT_FAIL(2, "usage", "--key-file", ADMIN_FILE, "customer",
                "consent-at", "cons-a", "--channel", "email", "--at",
                "yesterday");
    EXPECT_FAIL_MSG(1, "bad_request", "'channel' must be one of", "--key-file",
                    ADMIN_FILE, "customer", "consent-at", "cons-a",
                    "--channel", "fax");
    EXPECT_FAIL(4, "not_found", "--key-file", ADMIN_FILE, "customer",
                "consent-at", "cons-nobody", "--channel", "email");
    EXPECT_FAIL(2, "usage", "--key-file", ADMIN_FILE, "audit",
                "consent-violations", "--limit", "0");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_help_for_every_command, test_setup),
        cmocka_unit_test_setup(test_types_lists_the_catalogue, test_setup),
        cmocka_unit_test_setup(test_tenant_and_keys, test_setup),
        cmocka_unit_test_setup(test_ping_info_metrics, test_setup),
        cmocka_unit_test_setup(test_tls_verifies_the_server, test_setup),
        cmocka_unit_test_setup(test_append_one_and_read, test_setup),
        cmocka_unit_test_setup(test_append_jsonl_file, test_setup),
        cmocka_unit_test_setup(test_tail, test_setup),
        cmocka_unit_test_setup(test_tables_show_personal_data_by_role,
                               test_setup),
        cmocka_unit_test_setup(test_tables_align_wide_names, test_setup),
        cmocka_unit_test_setup(test_tail_follow, test_setup),
        cmocka_unit_test_setup(test_errors_name_and_status, test_setup),
        cmocka_unit_test_setup(test_settings_and_rebuild, test_setup),
        cmocka_unit_test_setup(test_segments, test_setup),
        cmocka_unit_test_setup(test_tasks_today, test_setup),
        cmocka_unit_test_setup(test_consent, test_setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
