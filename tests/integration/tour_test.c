/* tour_test.c - README.md's crmctl tour, as written, against the server the
 * quickstart starts.
 *
 * deploy/quickstart.sh --background starts crmd on this build's binaries
 * (--build) with a scratch state directory and free ports, seeds the demo
 * chain and leaves crmd running. The lines of README.md between
 * "<!-- tour:begin -->" and "<!-- tour:end -->" then run in order, each in
 * bash, from a scratch directory laid out like a checkout after the
 * quickstart (build/quickstart/tools, build/quickstart/state, deploy/), the
 * environment passed on from line to line (the tour's exports). Each line
 * must exit 0, or the status its comment names ("exit N"), and print what
 * its comment says after "prints: "; a line whose comment says "until
 * Ctrl-C" must still run after two seconds, show its header and stop on
 * SIGINT. Two things differ from a user's run, both
 * named in the README: the port (7400 is replaced by a free one) and
 * KEY_ID (the key_id that the last "key create" printed). Comment-only
 * lines are not run.
 *
 * A second quickstart run, --check on the same state, then says what it
 * checked and that crmd stopped, and no longer announces a new key or
 * loads crm-demo's chain again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"

#ifndef CRM_BUILD_DIR
#error "CRM_BUILD_DIR must name the build tree (crmd, tools/crmctl)"
#endif

#define TOUR_BEGIN "<!-- tour:begin -->"
#define TOUR_END "<!-- tour:end -->"
#define README_PORT "127.0.0.1:7400"
#define LINE_TIMEOUT_S 60
#define FOLLOW_RUN_MS 2000

static char W[512];        /* scratch: state/, checkout/, outputs */
static char STATE[600];    /* quickstart --state */
static char CHECKOUT[600]; /* cwd of every tour line */
static char PORT[16];      /* quickstart --port */

/* --- small helpers -------------------------------------------------------- */

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2) {
            buf = realloc(buf, cap *= 2);
            assert_non_null(buf);
        }
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

static void
spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Whether port can be bound on 127.0.0.1 now (0: any); *got says which. */
static int
bindable(int port, int *got)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
             getsockname(fd, (struct sockaddr *)&a, &len) == 0;
    if (ok && got)
        *got = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A free port whose successor is free too (quickstart's metrics). */
static int
free_port_pair(void)
{
    for (int i = 0; i < 100; i++) {
        int p;
        if (bindable(0, &p) && p < 65535 && bindable(p + 1, NULL))
            return p;
    }
    fail_msg("no two free ports in a row on 127.0.0.1");
    return -1;
}

static int
ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int)((t.tv_sec - t0->tv_sec) * 1000 +
                 (t.tv_nsec - t0->tv_nsec) / 1000000);
}

/* Waits up to ms for pid; returns its exit status (128 + signal), or -1
 * if it still runs. */
static int
wait_for(pid_t pid, int ms)
{
    struct timespec t0;
    int st;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0 || ms_since(&t0) >= ms)
            return -1;
        usleep(10000);
    }
}

/* Runs argv with cwd, stdin from /dev/null and stdout + stderr to out, in
 * a process group of its own. Returns the pid. */
static pid_t
spawn(const char *const *argv, const char *cwd, const char *out)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || fd < 0 || chdir(cwd) != 0)
            _exit(126);
        setpgid(0, 0);
        dup2(in, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Runs to the end within LINE_TIMEOUT_S; returns the exit status. */
static int
run(const char *const *argv, const char *cwd, const char *out)
{
    pid_t pid = spawn(argv, cwd, out);
    int st = wait_for(pid, LINE_TIMEOUT_S * 1000);
    if (st < 0) {
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("%s did not finish within %d s", argv[0], LINE_TIMEOUT_S);
    }
    return st;
}

static void
no_sanitizer_report(const char *what, const char *text)
{
    if (strstr(text, "Sanitizer") || strstr(text, "runtime error"))
        fail_msg("%s: %s", what, text);
}

/* --- the quickstart ------------------------------------------------------- */

/* deploy/quickstart.sh MODE on this build, STATE and PORT; its output
 * (malloc'd) and exit status. */
static char *
quickstart(const char *mode, int *status)
{
    char script[600], out[700];
    snprintf(script, sizeof(script), "%s/deploy/quickstart.sh", CRM_SOURCE_DIR);
    snprintf(out, sizeof(out), "%s/quickstart%s.out", W, mode);
    const char *argv[] = {script, mode,     "--build", CRM_BUILD_DIR, "--state",
                          STATE,  "--port", PORT,      NULL};
    *status = run(argv, CRM_SOURCE_DIR, out);
    return slurp(out);
}

/* Stops the crmd the quickstart left running (a child of ours: this
 * process is a subreaper) and checks it exited 0 with a clean log. */
static void
stop_background_crmd(void)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/crmd.pid", STATE);
    char *text = slurp(path);
    pid_t pid = (pid_t)strtol(text, NULL, 10);
    free(text);
    assert_true(pid > 1);
    assert_int_equal(kill(pid, SIGTERM), 0);
    int st = wait_for(pid, 30000);
    if (st < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    assert_int_equal(st, 0);
    snprintf(path, sizeof(path), "%s/crmd.log", STATE);
    char *log = slurp(path);
    no_sanitizer_report("crmd.log", log);
    free(log);
}

/* --- the tour ------------------------------------------------------------- */

typedef struct tour_line {
    char *cmd;     /* the command text as bash gets it, comment included */
    char *comment; /* the text after '#' (outside quotes), or "" */
    int readme_line;
} tour_line;

/* Where an unquoted " #" comment starts in s, or NULL. */
static const char *
comment_of(const char *s)
{
    char quote = 0;
    for (const char *p = s; *p; p++) {
        if (quote) {
            quote = *p == quote ? 0 : quote;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
            return p;
        }
    }
    return NULL;
}

/* Whether s leaves a quote open (a command that goes on on the next line). */
static int
open_quote(const char *s)
{
    char quote = 0;
    for (const char *p = s; *p; p++) {
        if (quote)
            quote = *p == quote ? 0 : quote;
        else if (*p == '\'' || *p == '"')
            quote = *p;
        else if (*p == '#' && (p == s || p[-1] == ' '))
            return 0; /* the rest is a comment */
    }
    return quote != 0;
}

/* The tour's commands, in order; returns how many (lines[] malloc'd). */
static size_t
read_tour(tour_line *lines, size_t cap)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/README.md", CRM_SOURCE_DIR);
    char *readme = slurp(path);
    char *begin = strstr(readme, TOUR_BEGIN);
    char *end = begin ? strstr(begin, TOUR_END) : NULL;
    if (begin == NULL || end == NULL)
        fail_msg("README.md has no %s ... %s block", TOUR_BEGIN, TOUR_END);
    int lineno = 1;
    for (const char *p = readme; p < begin; p++)
        lineno += *p == '\n';
    *end = '\0';

    size_t n = 0;
    char *cur = NULL;
    for (char *l = strchr(begin, '\n'); l && *++l;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        const char *t = l + strspn(l, " \t");
        if (cur == NULL &&
            (*t == '\0' || *t == '#' || strncmp(t, "```", 3) == 0)) {
            l = nl;
            continue;
        }
        if (cur == NULL) {
            assert_true(n < cap);
            lines[n].readme_line = lineno;
            cur = strdup(l);
        } else {
            size_t len = strlen(cur) + strlen(l) + 2;
            char *c = malloc(len);
            assert_non_null(c);
            snprintf(c, len, "%s\n%s", cur, l);
            free(cur);
            cur = c;
        }
        assert_non_null(cur);
        size_t len = strlen(cur);
        if (!open_quote(cur) && !(len && cur[len - 1] == '\\')) {
            const char *c = comment_of(cur);
            lines[n].comment = strdup(c ? c + 1 : "");
            lines[n].cmd = cur;
            n++;
            cur = NULL;
        }
        l = nl;
    }
    if (cur)
        fail_msg("README.md tour: the last command leaves a quote open");
    free(readme);
    return n;
}

/* Replaces every `from` in *s (before the comment, if cmd_only) with `to`. */
static void
replace(char **s, const char *from, const char *to, int cmd_only)
{
    const char *stop = cmd_only ? comment_of(*s) : NULL;
    size_t cut = stop ? (size_t)(stop - *s) : strlen(*s);
    char *out = malloc(strlen(*s) * (strlen(to) + 1) + 1);
    assert_non_null(out);
    size_t o = 0, fl = strlen(from);
    for (size_t i = 0; (*s)[i];) {
        if (i < cut && strncmp(*s + i, from, fl) == 0) {
            memcpy(out + o, to, strlen(to));
            o += strlen(to);
            i += fl;
        } else {
            out[o++] = (*s)[i++];
        }
    }
    out[o] = '\0';
    free(*s);
    *s = out;
}

/* The status the comment documents ("exit N"), else 0. */
static int
expected_status(const char *comment)
{
    const char *e = strstr(comment, "exit ");
    return e ? atoi(e + 5) : 0;
}

/* The key_id line of what "key create" printed, into id. */
static int
key_id_of(const char *out, char *id, size_t len)
{
    const char *k = strstr(out, "key_id");
    if (k == NULL || (k != out && k[-1] != '\n'))
        return 0;
    k += 6;
    k += strspn(k, " \t");
    size_t n = strspn(k, "0123456789abcdef");
    if (n != 16 || n >= len)
        return 0;
    memcpy(id, k, n);
    id[n] = '\0';
    return 1;
}

static void
layout_checkout(void)
{
    char dir[700], link[800], target[800];
    snprintf(CHECKOUT, sizeof(CHECKOUT), "%s/checkout", W);
    snprintf(dir, sizeof(dir), "%s/build/quickstart", CHECKOUT);
    assert_int_equal(mkdir(CHECKOUT, 0700), 0);
    snprintf(link, sizeof(link), "%s/build", CHECKOUT);
    assert_int_equal(mkdir(link, 0700), 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(link, sizeof(link), "%s/tools", dir);
    snprintf(target, sizeof(target), "%s/tools", CRM_BUILD_DIR);
    assert_int_equal(symlink(target, link), 0);
    snprintf(link, sizeof(link), "%s/state", dir);
    assert_int_equal(symlink(STATE, link), 0);
    snprintf(link, sizeof(link), "%s/deploy", CHECKOUT);
    snprintf(target, sizeof(target), "%s/deploy", CRM_SOURCE_DIR);
    assert_int_equal(symlink(target, link), 0);
}

/* Runs one tour line in bash with the environment the lines before it
 * left in envfile, and saves what it exported there for the next. */
static void
run_tour_line(const tour_line *t, const char *cmd, const char *envfile,
              const char *out, char *key_id)
{
    static const char script[] =
        ". \"$0\" || exit 99; eval \"$1\"; st=$?; export -p > \"$0\"; exit $st";
    const char *argv[] = {"/bin/bash", "-c", script, envfile, cmd, NULL};
    int want = expected_status(t->comment);
    int follow = strstr(t->comment, "until Ctrl-C") != NULL;

    pid_t pid = spawn(argv, CHECKOUT, out);
    if (follow) {
        int st = wait_for(pid, FOLLOW_RUN_MS);
        if (st >= 0)
            fail_msg("README.md:%d: '%s' stopped by itself (exit %d): %s",
                     t->readme_line, cmd, st, slurp(out));
        kill(-pid, SIGINT);
        if (wait_for(pid, 10000) < 0) {
            kill(-pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail_msg("README.md:%d: '%s' did not stop on SIGINT",
                     t->readme_line, cmd);
        }
        char *text = slurp(out);
        if (strstr(text, "POSITION") == NULL)
            fail_msg("README.md:%d: '%s' printed no header: %s", t->readme_line,
                     cmd, text);
        no_sanitizer_report(cmd, text);
        printf("tour: README.md:%d ok (ran until SIGINT)\n", t->readme_line);
        free(text);
        return;
    }
    int st = wait_for(pid, LINE_TIMEOUT_S * 1000);
    if (st < 0) {
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("README.md:%d: '%s' did not finish", t->readme_line, cmd);
    }
    char *text = slurp(out);
    if (st != want)
        fail_msg("README.md:%d: '%s' exited %d, the tour says %d:\n%s",
                 t->readme_line, cmd, st, want, text);
    const char *prints = strstr(t->comment, "prints: ");
    if (prints && strstr(text, prints + 8) == NULL)
        fail_msg("README.md:%d: '%s' does not print '%s':\n%s", t->readme_line,
                 cmd, prints + 8, text);
    no_sanitizer_report(cmd, text);
    printf("tour: README.md:%d ok (exit %d)\n", t->readme_line, st);
    key_id_of(text, key_id, 17);
    free(text);
}

static void
test_the_readme_tour_runs_as_written(void **state)
{
    tour_line lines[128];
    char envfile[700], out[700], key_id[17] = "";
    int status;
    (void)state;

    char *qs = quickstart("--background", &status);
    if (status != 0)
        fail_msg("quickstart --background exited %d:\n%s", status, qs);
    /* The lines the tour starts with, with absolute paths. */
    char want[900];
    snprintf(want, sizeof(want), "export PATH=\"%s/tools:$PATH\"",
             CRM_BUILD_DIR);
    if (strstr(qs, want) == NULL ||
        strstr(qs, "export CRM_URL=tcp://127.0.0.1:") == NULL)
        fail_msg("quickstart does not print '%s' and CRM_URL:\n%s", want, qs);
    snprintf(want, sizeof(want), "export CRM_KEY=$(cat %s/admin.key)", STATE);
    if (strstr(qs, want) == NULL)
        fail_msg("quickstart does not print '%s':\n%s", want, qs);
    /* A key was made: said once, as a file, not as a key on screen. */
    assert_non_null(strstr(qs, "created an admin key"));
    assert_null(strstr(qs, "shown only this once"));
    /* crm-demo's chain is loaded, and the last lines are the three
     * commands to try, the first with an e-mail of the chain */
    assert_non_null(strstr(qs, "loaded crm-demo's chain: 3000 guests"));
    const char *try = strstr(qs, "Three things to try:");
    assert_non_null(try);
    assert_non_null(strstr(try, "crmctl customer find --email \""));
    assert_non_null(strstr(try, "registered twice"));
    assert_non_null(strstr(try, "crmctl kpi --chart"));
    const char *tasks = strstr(try, "crmctl tasks today");
    assert_non_null(tasks);
    assert_null(strchr(strchr(tasks, '\n') ? strchr(tasks, '\n') : tasks,
                       'c')); /* nothing after it */
    free(qs);

    size_t n = read_tour(lines, sizeof(lines) / sizeof(lines[0]));
    /* A tour that lost its lines to a markup change must not pass empty. */
    assert_true(n >= 10);
    layout_checkout();
    snprintf(envfile, sizeof(envfile), "%s/tour.env", W);
    spit(envfile, "");

    char port[32];
    snprintf(port, sizeof(port), "127.0.0.1:%s", PORT);
    int nonzero = 0, follows = 0, revoked = 0;
    for (size_t i = 0; i < n; i++) {
        char *cmd = strdup(lines[i].cmd);
        assert_non_null(cmd);
        replace(&cmd, README_PORT, port, 0);
        if (strstr(cmd, "KEY_ID")) {
            if (key_id[0] == '\0')
                fail_msg("README.md:%d uses KEY_ID before a key create printed "
                         "one",
                         lines[i].readme_line);
            replace(&cmd, "KEY_ID", key_id, 1);
            revoked = strstr(cmd, "key revoke") != NULL;
        }
        snprintf(out, sizeof(out), "%s/tour-%02zu.out", W, i);
        run_tour_line(&lines[i], cmd, envfile, out, key_id);
        nonzero += expected_status(lines[i].comment) != 0;
        follows += strstr(lines[i].comment, "until Ctrl-C") != NULL;
        free(cmd);
    }
    /* What the tour is there to show did run. */
    assert_true(nonzero >= 1);
    assert_true(follows >= 1);
    assert_true(revoked);
    for (size_t i = 0; i < n; i++) {
        free(lines[i].cmd);
        free(lines[i].comment);
    }

    stop_background_crmd();

    /* Again, with --check: it says what it checked and that crmd stopped;
     * the key exists already, so nothing is said about one. */
    qs = quickstart("--check", &status);
    if (status != 0)
        fail_msg("quickstart --check exited %d:\n%s", status, qs);
    assert_non_null(strstr(qs, "Checked:"));
    /* the state holds the chain: no second one, of this or another day */
    assert_non_null(strstr(qs, "holds crm-demo's chain of"));
    assert_null(strstr(qs, "loaded crm-demo's chain"));
    assert_non_null(strstr(qs, "crmd is stopped"));
    assert_null(strstr(qs, "another terminal"));
    assert_null(strstr(qs, "created an admin key"));
    assert_null(strstr(qs, "shown only this once"));
    free(qs);
}

static int
setup(void **state)
{
    (void)state;
    /* crmd outlives the quickstart that starts it: as our child, its exit
     * status can be checked. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        return -1;
    unsetenv("CRM_URL");
    unsetenv("CRM_KEY");
    unsetenv("CRM_CA");
    unsetenv("CRM_INSECURE");
    fx_tmpdir(W, sizeof(W), "tour");
    snprintf(STATE, sizeof(STATE), "%s/state", W);
    snprintf(PORT, sizeof(PORT), "%d", free_port_pair());
    return 0;
}

static int
teardown(void **state)
{
    char path[700];
    (void)state;
    /* A failed run may have left crmd behind. */
    snprintf(path, sizeof(path), "%s/crmd.pid", STATE);
    FILE *f = fopen(path, "r");
    long pid = 0;
    /* Only while it is still our (unreaped) child. */
    if (f && fscanf(f, "%ld", &pid) == 1 && pid > 1 &&
        waitpid((pid_t)pid, NULL, WNOHANG) == 0) {
        kill((pid_t)pid, SIGKILL);
        waitpid((pid_t)pid, NULL, 0);
    }
    if (f)
        fclose(f);
    fx_rmrf(W);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_readme_tour_runs_as_written),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
