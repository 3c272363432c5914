/* config_test.c - crmd configuration: defaults, every INI key, flags over
 * the file, refused values naming their line or flag, --help, reload of
 * the log level, and repeated loads in one process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "fixture.h"

static char dir[512];

static int
setup(void **state)
{
    (void)state;
    fx_tmpdir(dir, sizeof(dir), "config");
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    fx_rmrf(dir);
    return 0;
}

/* Writes text to DIR/name and returns the path (static storage, one per
 * slot). */
static const char *
write_conf(const char *name, const char *text)
{
    static char paths[4][700];
    static int slot;
    char *p = paths[slot++ % 4];
    if (snprintf(p, 700, "%s/%s", dir, name) >= 700)
        fail_msg("path too long for %s", name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Argument strings handed to crm_config_load. They live until the process
 * ends: getopt keeps a pointer into the last vector between calls. */
static char *pool[16384];
static size_t npool;

static char *
keep(const char *s)
{
    assert_true(npool < sizeof(pool) / sizeof(pool[0]));
    return pool[npool++] = strdup(s);
}

/* crm_config_load on a NULL-terminated argument list; argv[0] is added.
 * getopt may permute the vector, so it is a fresh copy each time. */
static crm_err
load_v(crm_config *c, crm_error *why, const char *const *args)
{
    static char *argv[64 * 64];
    static size_t used;
    int argc = 0;
    if (used + 64 > sizeof(argv) / sizeof(argv[0]))
        used = 0; /* old vectors are long finished with */
    char **v = argv + used;
    v[argc++] = keep("crmd");
    for (; *args; args++)
        v[argc++] = keep(*args);
    v[argc] = NULL;
    used += (size_t)argc + 1;
    memset(why, 0, sizeof(*why));
    return crm_config_load(c, argc, v, why);
}

#define LOAD(c, why, ...)                                                      \
    load_v(c, why, (const char *const[]){__VA_ARGS__, NULL})
#define LOAD0(c, why) load_v(c, why, (const char *const[]){NULL})

static void
expect_msg(const crm_error *why, const char *needle)
{
    if (strstr(why->msg, needle) == NULL)
        fail_msg("message '%s' does not mention '%s'", why->msg, needle);
}

static void
test_defaults(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    assert_int_equal(LOAD0(&c, &why), CRM_OK);
    assert_null(c.file);
    assert_string_equal(c.data_dir, "./data");
    assert_int_equal(c.nlisten, 1);
    assert_string_equal(c.listen[0], "tcp://127.0.0.1:7400");
    assert_non_null(c.http);
    assert_string_equal(c.http, "http://127.0.0.1:7401");
    assert_null(c.ready_file);
    assert_int_equal(c.contexts, 128);
    assert_int_equal(c.log_level, CRM_INFO);
    assert_null(c.tls_cert);
    assert_null(c.tls_key);
    assert_string_equal(c.operator_key_file, "./data/operator.key");
    assert_int_equal(c.map_size_mb, 64);
    assert_int_equal(c.group_wait_us, 150);
    assert_int_equal(c.drain_timeout_ms, 10000);
    crm_config_free(&c);
    /* free leaves a zeroed config that may be freed again */
    assert_null(c.data_dir);
    assert_int_equal(c.nlisten, 0);
    crm_config_free(&c);
}

static const char full_conf[] = "; every key crmd knows\n"
                                "# comments of both kinds\n"
                                "[server]\n"
                                "data_dir = /srv/crmd/data\n"
                                "listen = tcp://0.0.0.0:7500\n"
                                "listen = ipc:///tmp/crmd-test.sock\n"
                                "listen = tls+tcp://0.0.0.0:7443\n"
                                "http = http://0.0.0.0:9100\n"
                                "ready_file = /run/crmd/ready\n"
                                "contexts = 256\n"
                                "log_level = debug\n"
                                "\n"
                                "[tls]\n"
                                "cert = /etc/crmd/tls/server.crt\n"
                                "key = /etc/crmd/tls/server.key\n"
                                "\n"
                                "[auth]\n"
                                "operator_key_file = /etc/crmd/operator.key\n"
                                "\n"
                                "[storage]\n"
                                "map_size_mb = 1024\n"
                                "group_wait_us = 2000\n";

static void
test_file_every_key(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    const char *path = write_conf("full.conf", full_conf);

    if (LOAD(&c, &why, "--config", path) != CRM_OK)
        fail_msg("load: %s", why.msg);
    assert_string_equal(c.file, path);
    assert_string_equal(c.data_dir, "/srv/crmd/data");
    assert_int_equal(c.nlisten, 3);
    assert_string_equal(c.listen[0], "tcp://0.0.0.0:7500");
    assert_string_equal(c.listen[1], "ipc:///tmp/crmd-test.sock");
    assert_string_equal(c.listen[2], "tls+tcp://0.0.0.0:7443");
    assert_string_equal(c.http, "http://0.0.0.0:9100");
    assert_string_equal(c.ready_file, "/run/crmd/ready");
    assert_int_equal(c.contexts, 256);
    assert_int_equal(c.log_level, CRM_DEBUG);
    assert_string_equal(c.tls_cert, "/etc/crmd/tls/server.crt");
    assert_string_equal(c.tls_key, "/etc/crmd/tls/server.key");
    assert_string_equal(c.operator_key_file, "/etc/crmd/operator.key");
    assert_int_equal(c.map_size_mb, 1024);
    assert_int_equal(c.group_wait_us, 2000);
    crm_config_free(&c);

    /* the short option and the --opt=value form */
    assert_int_equal(LOAD(&c, &why, "-c", path), CRM_OK);
    assert_string_equal(c.data_dir, "/srv/crmd/data");
    crm_config_free(&c);
    char opt[800];
    snprintf(opt, sizeof(opt), "--config=%s", path);
    assert_int_equal(LOAD(&c, &why, opt), CRM_OK);
    assert_int_equal(c.map_size_mb, 1024);
    crm_config_free(&c);
}

static void
test_file_http_off_and_levels(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    const char *path = write_conf("off.conf", "[server]\n"
                                              "http = off\n"
                                              "log_level = error\n");
    assert_int_equal(LOAD(&c, &why, "--config", path), CRM_OK);
    assert_null(c.http);
    assert_int_equal(c.log_level, CRM_ERROR);
    /* untouched keys keep their defaults */
    assert_string_equal(c.data_dir, "./data");
    assert_int_equal(c.nlisten, 1);
    assert_string_equal(c.listen[0], "tcp://127.0.0.1:7400");
    assert_int_equal(c.contexts, 128);
    assert_int_equal(c.map_size_mb, 64);
    crm_config_free(&c);

    static const struct {
        const char *name;
        crm_level level;
    } levels[] = {{"debug", CRM_DEBUG},
                  {"info", CRM_INFO},
                  {"warn", CRM_WARN},
                  {"error", CRM_ERROR}};
    for (size_t i = 0; i < 4; i++) {
        char text[64];
        snprintf(text, sizeof(text), "[server]\nlog_level = %s\n",
                 levels[i].name);
        path = write_conf("level.conf", text);
        assert_int_equal(LOAD(&c, &why, "--config", path), CRM_OK);
        assert_int_equal(c.log_level, levels[i].level);
        crm_config_free(&c);
        assert_int_equal(LOAD(&c, &why, "--log-level", levels[i].name), CRM_OK);
        assert_int_equal(c.log_level, levels[i].level);
        crm_config_free(&c);
    }
    /* the limits themselves are accepted */
    path = write_conf("limits.conf", "[server]\ncontexts = 4096\n"
                                     "[storage]\nmap_size_mb = 1048576\n"
                                     "group_wait_us = 1000000\n");
    assert_int_equal(LOAD(&c, &why, "--config", path), CRM_OK);
    assert_int_equal(c.contexts, 4096);
    assert_int_equal(c.map_size_mb, 1048576);
    assert_int_equal(c.group_wait_us, 1000000);
    crm_config_free(&c);
    assert_int_equal(LOAD(&c, &why, "--contexts", "1", "--map-size-mb", "1",
                          "--group-wait-us", "1", "--drain-timeout-ms", "1"),
                     CRM_OK);
    assert_int_equal(c.drain_timeout_ms, 1);
    assert_int_equal(c.contexts, 1);
    assert_int_equal(c.map_size_mb, 1);
    assert_int_equal(c.group_wait_us, 1);
    crm_config_free(&c);
}

static void
test_flags_override_file(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    const char *path = write_conf("full.conf", full_conf);

    /* flags win whatever their position relative to --config */
    crm_err err =
        LOAD(&c, &why, "--data", "/flag/data", "--config", path, "--listen",
             "tcp://127.0.0.1:8001", "-l", "ipc:///tmp/flag.sock", "--http",
             "http://127.0.0.1:9", "--tls-cert", "/flag/c.pem", "--tls-key",
             "/flag/k.pem", "--operator-key-file", "/flag/op.key",
             "--ready-file", "/flag/ready", "--contexts", "7", "--map-size-mb",
             "5", "--log-level", "warn");
    if (err != CRM_OK)
        fail_msg("load: %s", why.msg);
    assert_string_equal(c.data_dir, "/flag/data");
    /* --listen replaces the file's list, it does not add to it */
    assert_int_equal(c.nlisten, 2);
    assert_string_equal(c.listen[0], "tcp://127.0.0.1:8001");
    assert_string_equal(c.listen[1], "ipc:///tmp/flag.sock");
    assert_string_equal(c.http, "http://127.0.0.1:9");
    assert_string_equal(c.tls_cert, "/flag/c.pem");
    assert_string_equal(c.tls_key, "/flag/k.pem");
    assert_string_equal(c.operator_key_file, "/flag/op.key");
    assert_string_equal(c.ready_file, "/flag/ready");
    assert_int_equal(c.contexts, 7);
    assert_int_equal(c.map_size_mb, 5);
    assert_int_equal(c.log_level, CRM_WARN);
    crm_config_free(&c);

    /* --http off over a file's address; -d short form */
    assert_int_equal(LOAD(&c, &why, "-c", path, "--http", "off", "-d", "/d"),
                     CRM_OK);
    assert_null(c.http);
    assert_string_equal(c.data_dir, "/d");
    /* flags not given keep the file's values */
    assert_int_equal(c.nlisten, 3);
    assert_int_equal(c.contexts, 256);
    assert_string_equal(c.operator_key_file, "/etc/crmd/operator.key");
    crm_config_free(&c);

    /* a --listen without a file replaces the default */
    assert_int_equal(LOAD(&c, &why, "--listen", "tcp://127.0.0.1:1234"),
                     CRM_OK);
    assert_int_equal(c.nlisten, 1);
    assert_string_equal(c.listen[0], "tcp://127.0.0.1:1234");
    crm_config_free(&c);
}

static void
test_listen_limit(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    char text[2048] = "[server]\n";
    for (int i = 0; i < CRM_MAX_LISTEN; i++) {
        char line[64];
        snprintf(line, sizeof(line), "listen = tcp://127.0.0.1:%d\n", 7000 + i);
        strcat(text, line);
    }
    const char *path = write_conf("eight.conf", text);
    assert_int_equal(LOAD(&c, &why, "--config", path), CRM_OK);
    assert_int_equal(c.nlisten, CRM_MAX_LISTEN);
    assert_string_equal(c.listen[CRM_MAX_LISTEN - 1], "tcp://127.0.0.1:7007");
    crm_config_free(&c);
    strcat(text, "listen = tcp://127.0.0.1:7999\n");
    path = write_conf("nine.conf", text);
    assert_int_equal(LOAD(&c, &why, "--config", path), CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "listen");
    expect_msg(&why, ":10");
    crm_config_free(&c);

    const char *args[2 * (CRM_MAX_LISTEN + 1) + 1];
    static char urls[CRM_MAX_LISTEN + 1][40];
    for (int i = 0; i <= CRM_MAX_LISTEN; i++) {
        snprintf(urls[i], sizeof(urls[i]), "tcp://127.0.0.1:%d", 8000 + i);
        args[2 * i] = "--listen";
        args[2 * i + 1] = urls[i];
    }
    args[2 * CRM_MAX_LISTEN] = NULL;
    assert_int_equal(load_v(&c, &why, args), CRM_OK);
    assert_int_equal(c.nlisten, CRM_MAX_LISTEN);
    crm_config_free(&c);
    args[2 * CRM_MAX_LISTEN] = "--listen";
    args[2 * CRM_MAX_LISTEN + 2] = NULL;
    assert_int_equal(load_v(&c, &why, args), CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "--listen");
    crm_config_free(&c);
}

/* A file of one bad line (line 3) must fail naming the file, the line and
 * the key. */
static void
expect_bad_line(const char *section, const char *line, const char *key)
{
    crm_config c;
    crm_error why;
    char text[256], at[760];
    snprintf(text, sizeof(text), "; bad value below\n[%s]\n%s\n", section,
             line);
    const char *path = write_conf("bad.conf", text);
    crm_err err = LOAD(&c, &why, "--config", path);
    crm_config_free(&c);
    if (err != CRM_ERR_BAD_REQUEST)
        fail_msg("'%s' accepted", line);
    assert_int_equal(why.code, CRM_ERR_BAD_REQUEST);
    snprintf(at, sizeof(at), "%s:3", path);
    expect_msg(&why, at);
    if (key)
        expect_msg(&why, key);
}

static void
test_bad_file_values(void **state)
{
    (void)state;
    expect_bad_line("server", "contexts = 0", "contexts");
    expect_bad_line("server", "contexts = 4097", "contexts");
    expect_bad_line("server", "contexts = -5", "contexts");
    expect_bad_line("server", "contexts = many", "contexts");
    expect_bad_line("server", "contexts = 12x", "contexts");
    expect_bad_line("server", "contexts =", "contexts");
    expect_bad_line("server", "log_level = loud", "log_level");
    expect_bad_line("server", "log_level = INFO", "log_level");
    expect_bad_line("storage", "map_size_mb = -1", "map_size_mb");
    expect_bad_line("storage", "map_size_mb = 0", "map_size_mb");
    expect_bad_line("storage", "map_size_mb = 1048577", "map_size_mb");
    expect_bad_line("storage", "map_size_mb = 1.5", "map_size_mb");
    expect_bad_line("storage", "group_wait_us = 0", "group_wait_us");
    expect_bad_line("storage", "group_wait_us = 1000001", "group_wait_us");
    expect_bad_line("storage", "group_wait_us = 150us", "group_wait_us");
    expect_bad_line("server", "drain_timeout_ms = 0", "drain_timeout_ms");
    expect_bad_line("server", "drain_timeout_ms = 5s", "drain_timeout_ms");
    /* a misspelt key or a key in the wrong section is not ignored */
    expect_bad_line("server", "contxts = 5", "contxts");
    expect_bad_line("tls", "data_dir = /x", "data_dir");
    expect_bad_line("nosuch", "log_level = info", "log_level");
    /* not an INI line at all */
    expect_bad_line("server", "this line has no equals sign", NULL);
}

static void
expect_bad_flags(const char *const *args, const char *needle)
{
    crm_config c;
    crm_error why;
    crm_err err = load_v(&c, &why, args);
    crm_config_free(&c);
    if (err != CRM_ERR_BAD_REQUEST)
        fail_msg("flags with %s accepted", needle);
    assert_int_equal(why.code, CRM_ERR_BAD_REQUEST);
    expect_msg(&why, needle);
}

#define BAD_FLAGS(needle, ...)                                                 \
    expect_bad_flags((const char *const[]){__VA_ARGS__, NULL}, needle)

static void
test_bad_flags(void **state)
{
    (void)state;
    BAD_FLAGS("--contexts", "--contexts", "0");
    BAD_FLAGS("--contexts", "--contexts", "4097");
    BAD_FLAGS("--contexts", "--contexts", "x");
    BAD_FLAGS("--contexts", "--contexts=");
    BAD_FLAGS("--map-size-mb", "--map-size-mb", "-1");
    BAD_FLAGS("--map-size-mb", "--map-size-mb", "0");
    BAD_FLAGS("--group-wait-us", "--group-wait-us", "0");
    BAD_FLAGS("--group-wait-us", "--group-wait-us", "x");
    BAD_FLAGS("--drain-timeout-ms", "--drain-timeout-ms", "0");
    BAD_FLAGS("--drain-timeout-ms", "--drain-timeout-ms", "3600001");
    BAD_FLAGS("--log-level", "--log-level", "loud");
    BAD_FLAGS("--bogus", "--bogus");
    BAD_FLAGS("--bogus", "--data", "/d", "--bogus", "x");
    BAD_FLAGS("-x", "-x");
    /* an option missing its value */
    BAD_FLAGS("--data", "--data");
    BAD_FLAGS("--listen", "--contexts", "3", "--listen");
    /* a stray argument, wherever it is */
    BAD_FLAGS("stray", "stray");
    BAD_FLAGS("stray", "--data", "/d", "stray");
    BAD_FLAGS("stray", "stray", "--data", "/d");
}

static void
test_unreadable_file(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    char path[700];

    snprintf(path, sizeof(path), "%s/does-not-exist.conf", dir);
    assert_int_equal(LOAD(&c, &why, "--config", path), CRM_ERR_BAD_REQUEST);
    expect_msg(&why, path);
    crm_config_free(&c);

    if (geteuid() != 0) { /* root reads through permissions */
        const char *p = write_conf("secret.conf", "[server]\ncontexts = 5\n");
        chmod(p, 0);
        assert_int_equal(LOAD(&c, &why, "--config", p), CRM_ERR_BAD_REQUEST);
        expect_msg(&why, p);
        crm_config_free(&c);
    }
}

static void
test_directory_as_file(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;

    /* fopen() of a directory succeeds on Linux and every read fails: that
     * is an unreadable file, not an empty one */
    crm_err err = LOAD(&c, &why, "--config", dir);
    crm_config_free(&c);
    if (err != CRM_ERR_BAD_REQUEST)
        fail_msg("--config %s (a directory) gave %s, want bad_request", dir,
                 crm_err_name(err));
    expect_msg(&why, dir);
}

static void
test_help(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    char path[700], out[4096];

    /* usage goes to stdout; capture it */
    snprintf(path, sizeof(path), "%s/stdout", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    crm_err a = LOAD(&c, &why, "--help");
    crm_config_free(&c);
    crm_err b = LOAD(&c, &why, "--data", "/x", "--help");
    crm_config_free(&c);
    crm_err d = LOAD(&c, &why, "--bogus", "--help");
    crm_config_free(&c);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    assert_int_equal(a, CRM_ERR_CLOSED);
    assert_int_equal(b, CRM_ERR_CLOSED);
    assert_int_equal(d, CRM_ERR_CLOSED);
    ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
    close(fd);
    assert_true(n > 0);
    out[n] = '\0';
    assert_non_null(strstr(out, "usage: crmd"));
    /* every long option is documented */
    static const char *const opts[] = {"--config",
                                       "--data",
                                       "--listen",
                                       "--http",
                                       "--tls-cert",
                                       "--tls-key",
                                       "--operator-key-file",
                                       "--ready-file",
                                       "--contexts",
                                       "--map-size-mb",
                                       "--log-level",
                                       "--help"};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (strstr(out, opts[i]) == NULL)
            fail_msg("usage does not mention %s", opts[i]);
}

static void
test_operator_key_default(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;

    assert_int_equal(LOAD(&c, &why, "--data", "/srv/x"), CRM_OK);
    assert_string_equal(c.operator_key_file, "/srv/x/operator.key");
    crm_config_free(&c);

    const char *path = write_conf("dd.conf", "[server]\ndata_dir = /var/db\n");
    assert_int_equal(LOAD(&c, &why, "--config", path), CRM_OK);
    assert_string_equal(c.operator_key_file, "/var/db/operator.key");
    crm_config_free(&c);
    /* the data dir flag over the file's moves the default with it */
    assert_int_equal(LOAD(&c, &why, "--config", path, "-d", "/flag"), CRM_OK);
    assert_string_equal(c.operator_key_file, "/flag/operator.key");
    crm_config_free(&c);
    /* an explicit one wins */
    assert_int_equal(
        LOAD(&c, &why, "--config", path, "--operator-key-file", "/k/op.key"),
        CRM_OK);
    assert_string_equal(c.operator_key_file, "/k/op.key");
    crm_config_free(&c);
}

static void
test_reload(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    const char *path = write_conf("reload.conf", "[server]\n"
                                                 "data_dir = /first\n"
                                                 "contexts = 5\n"
                                                 "log_level = info\n");
    assert_int_equal(LOAD(&c, &why, "--config", path), CRM_OK);
    assert_int_equal(c.log_level, CRM_INFO);

    /* only log_level changes */
    write_conf("reload.conf", "[server]\n"
                              "data_dir = /second\n"
                              "contexts = 9\n"
                              "listen = tcp://127.0.0.1:1\n"
                              "http = off\n"
                              "log_level = debug\n"
                              "[storage]\n"
                              "map_size_mb = 3\n");
    memset(&why, 0, sizeof(why));
    assert_int_equal(crm_config_reload(&c, &why), CRM_OK);
    assert_int_equal(c.log_level, CRM_DEBUG);
    assert_string_equal(c.data_dir, "/first");
    assert_int_equal(c.contexts, 5);
    assert_int_equal(c.nlisten, 1);
    assert_string_equal(c.listen[0], "tcp://127.0.0.1:7400");
    assert_string_equal(c.http, "http://127.0.0.1:7401");
    assert_int_equal(c.map_size_mb, 64);
    assert_string_equal(c.file, path);

    /* a bad level: error, old config kept */
    write_conf("reload.conf", "[server]\nlog_level = loud\n");
    memset(&why, 0, sizeof(why));
    assert_int_equal(crm_config_reload(&c, &why), CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "log_level");
    assert_int_equal(c.log_level, CRM_DEBUG);
    assert_string_equal(c.data_dir, "/first");

    /* a file that no longer parses */
    write_conf("reload.conf", "[server\nlog_level = warn\n");
    memset(&why, 0, sizeof(why));
    assert_int_equal(crm_config_reload(&c, &why), CRM_ERR_BAD_REQUEST);
    assert_true(why.msg[0] != '\0');
    assert_int_equal(c.log_level, CRM_DEBUG);

    /* a file that is gone */
    unlink(path);
    assert_int_equal(crm_config_reload(&c, &why), CRM_ERR_BAD_REQUEST);
    assert_int_equal(c.log_level, CRM_DEBUG);

    /* and back */
    write_conf("reload.conf", "[server]\nlog_level = error\n");
    assert_int_equal(crm_config_reload(&c, &why), CRM_OK);
    assert_int_equal(c.log_level, CRM_ERROR);
    assert_string_equal(c.data_dir, "/first");
    assert_int_equal(c.contexts, 5);
    crm_config_free(&c);

    /* without a file there is nothing to re-read */
    assert_int_equal(LOAD(&c, &why, "--log-level", "warn"), CRM_OK);
    assert_int_equal(crm_config_reload(&c, &why), CRM_OK);
    assert_int_equal(c.log_level, CRM_WARN);
    crm_config_free(&c);
}

static void
test_reload_flags_win(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    const char *path = write_conf("flags.conf", "[server]\nlog_level = info\n");
    assert_int_equal(LOAD(&c, &why, "--config", path, "--log-level", "error"),
                     CRM_OK);
    assert_int_equal(c.log_level, CRM_ERROR);
    assert_true(c.from_flags & CRM_CFG_LOG_LEVEL);

    write_conf("flags.conf", "[server]\nlog_level = debug\n");
    memset(&why, 0, sizeof(why));
    assert_int_equal(crm_config_reload(&c, &why), CRM_OK);
    assert_int_equal(c.log_level, CRM_ERROR); /* the flag still wins */
    crm_config_free(&c);

    /* the flag before --config wins just the same */
    write_conf("flags.conf", "[server]\nlog_level = info\n");
    assert_int_equal(LOAD(&c, &why, "--log-level", "warn", "-c", path), CRM_OK);
    assert_int_equal(c.log_level, CRM_WARN);
    write_conf("flags.conf", "[server]\nlog_level = debug\n");
    assert_int_equal(crm_config_reload(&c, &why), CRM_OK);
    assert_int_equal(c.log_level, CRM_WARN);
    crm_config_free(&c);

    /* without the flag the file's level is applied */
    write_conf("flags.conf", "[server]\nlog_level = info\n");
    assert_int_equal(LOAD(&c, &why, "--config", path), CRM_OK);
    assert_int_equal(c.from_flags & CRM_CFG_LOG_LEVEL, 0);
    write_conf("flags.conf", "[server]\nlog_level = debug\n");
    assert_int_equal(crm_config_reload(&c, &why), CRM_OK);
    assert_int_equal(c.log_level, CRM_DEBUG);
    crm_config_free(&c);
}

static void
test_reload_checks_the_whole_file(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    const char *path = write_conf("whole.conf", "[server]\nlog_level = info\n"
                                                "contexts = 5\n");
    assert_int_equal(LOAD(&c, &why, "--config", path), CRM_OK);

    /* a bad value of a setting that needs a restart still fails the
     * reload, naming the line, and the good log_level is not applied */
    write_conf("whole.conf", "[server]\nlog_level = debug\ncontexts = lots\n");
    memset(&why, 0, sizeof(why));
    assert_int_equal(crm_config_reload(&c, &why), CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "whole.conf:3");
    expect_msg(&why, "contexts");
    assert_int_equal(c.log_level, CRM_INFO);
    assert_int_equal(c.contexts, 5);

    /* so does a key crmd does not know */
    write_conf("whole.conf", "[server]\nlog_level = debug\nloglevel = x\n");
    memset(&why, 0, sizeof(why));
    assert_int_equal(crm_config_reload(&c, &why), CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "loglevel");
    assert_int_equal(c.log_level, CRM_INFO);

    /* a good file: log_level only; everything else waits for a restart */
    write_conf("whole.conf", "[server]\nlog_level = warn\ncontexts = 7\n"
                             "[tls]\ncert = /x.crt\n");
    assert_int_equal(crm_config_reload(&c, &why), CRM_OK);
    assert_int_equal(c.log_level, CRM_WARN);
    assert_int_equal(c.contexts, 5);
    assert_null(c.tls_cert);
    crm_config_free(&c);
}

static void
test_many_loads(void **state)
{
    (void)state;
    /* getopt state is reset inside: loads in a row, good and bad, each
     * see only their own arguments */
    for (int i = 0; i < 50; i++) {
        crm_config c;
        crm_error why;
        char n[16];
        snprintf(n, sizeof(n), "%d", i + 1);
        assert_int_equal(LOAD(&c, &why, "--contexts", n, "-l", "tcp://a:1"),
                         CRM_OK);
        assert_int_equal(c.contexts, i + 1);
        assert_int_equal(c.nlisten, 1);
        crm_config_free(&c);
        assert_int_equal(LOAD(&c, &why, "--bogus"), CRM_ERR_BAD_REQUEST);
        crm_config_free(&c);
        assert_int_equal(LOAD(&c, &why, "stray"), CRM_ERR_BAD_REQUEST);
        crm_config_free(&c);
        assert_int_equal(LOAD0(&c, &why), CRM_OK);
        assert_int_equal(c.contexts, 128);
        crm_config_free(&c);
    }
}

/* Runs fn in a child so that a crash in it fails this test only. */
static void
in_child(void (*fn)(void), const char *what)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's handlers would turn a crash into a jump back into the
         * test runner inside the child */
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            signal(sigs[i], SIG_DFL);
        fn();
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        fail_msg("%s: killed by signal %d", what, WTERMSIG(st));
    if (WEXITSTATUS(st) != 0)
        fail_msg("%s: exit status %d", what, WEXITSTATUS(st));
}

static void
grouped_then_plain(void)
{
    static const char *const first[][3] = {
        {"-zq", NULL}, /* error inside a group of short options */
        {"-hd", NULL}, /* --help inside a group */
        {"-dfoo", "-zq", NULL},
    };
    for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
        crm_config c;
        crm_error why;
        crm_err err = load_v(&c, &why, first[i]);
        crm_config_free(&c);
        if (err == CRM_OK) {
            fprintf(stderr, "%s accepted\n", first[i][0]);
            _exit(2);
        }
        /* the next load must start from scratch */
        err = LOAD0(&c, &why);
        if (err != CRM_OK || c.contexts != 128 ||
            strcmp(c.data_dir, "./data") != 0) {
            fprintf(stderr, "plain load after '%s': %s (%s)\n", first[i][0],
                    crm_err_name(err), why.msg);
            _exit(3);
        }
        crm_config_free(&c);
    }
}

static void
test_load_after_interrupted_group(void **state)
{
    (void)state;
    int saved = dup(1);
    int null = open("/dev/null", O_WRONLY);
    fflush(stdout);
    dup2(null, 1); /* -hd prints usage */
    close(null);
    in_child(grouped_then_plain,
             "crm_config_load after a load stopped inside '-zq'");
    dup2(saved, 1);
    close(saved);
}

static void
grouped_names_flag(void)
{
    crm_config c;
    crm_error why;
    crm_err err = LOAD(&c, &why, "-zq");
    if (err != CRM_ERR_BAD_REQUEST || strstr(why.msg, "-z") == NULL) {
        fprintf(stderr, "'-zq' gave %s: %s (want a message naming -z)\n",
                crm_err_name(err), why.msg);
        _exit(4);
    }
    crm_config_free(&c);
}

static void
test_unknown_short_in_group_named(void **state)
{
    (void)state;
    in_child(grouped_names_flag, "unknown option inside a group");
}

static void
test_two_bad_lines(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    char at[760];
    /* line 3 is the first bad one: the message must be about line 3 */
    const char *path = write_conf("two.conf", "[server]\n"
                                              "data_dir = /d\n"
                                              "contexts = 0\n"
                                              "data_dir = /e\n"
                                              "log_level = loud\n");
    crm_err err = LOAD(&c, &why, "--config", path);
    crm_config_free(&c);
    assert_int_equal(err, CRM_ERR_BAD_REQUEST);
    snprintf(at, sizeof(at), "%s:3", path);
    expect_msg(&why, at);
    expect_msg(&why, "contexts");
}

static void
test_long_path_keeps_line(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    char sub[1024], name[200], at[32];
    /* a deployment path of 150 characters is not unusual */
    memset(name, 'p', 120);
    name[120] = '\0';
    snprintf(sub, sizeof(sub), "%s/%s", dir, name);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof(sub), "%s/crmd.conf", name);
    const char *path = write_conf(sub, "[server]\n\ncontexts = 0\n");
    assert_true(strlen(path) > 120);
    crm_err err = LOAD(&c, &why, "--config", path);
    crm_config_free(&c);
    assert_int_equal(err, CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "contexts");
    snprintf(at, sizeof(at), "conf:3");
    expect_msg(&why, at);
}

/* The projections: named in any order, kept in the order they apply;
 * none; an unknown name, a repeat or an empty list refused. */
static void
test_projections(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    assert_int_equal(LOAD0(&c, &why), CRM_OK);
    assert_int_equal(c.nprojections, 7);
    assert_string_equal(c.projections[0]->name, "settings");
    assert_string_equal(c.projections[1]->name, "loyalty");
    assert_string_equal(c.projections[2]->name, "find");
    assert_string_equal(c.projections[3]->name, "customer");
    assert_string_equal(c.projections[4]->name, "kpi");
    assert_string_equal(c.projections[5]->name, "segment");
    assert_string_equal(c.projections[6]->name, "tasks");
    crm_config_free(&c);
    assert_int_equal(LOAD(&c, &why, "--projections", "counts,settings"),
                     CRM_OK);
    assert_int_equal(c.nprojections, 2);
    assert_string_equal(c.projections[0]->name, "settings");
    assert_string_equal(c.projections[1]->name, "counts");
    crm_config_free(&c);
    assert_int_equal(LOAD(&c, &why, "--projections", "none"), CRM_OK);
    assert_int_equal(c.nprojections, 0);
    crm_config_free(&c);
    const char *path =
        write_conf("proj.conf", "[projections]\nenable = counts\n");
    assert_int_equal(LOAD(&c, &why, "--config", path), CRM_OK);
    assert_int_equal(c.nprojections, 1);
    assert_string_equal(c.projections[0]->name, "counts");
    crm_config_free(&c);
    /* the flag wins over the file */
    assert_int_equal(
        LOAD(&c, &why, "--config", path, "--projections", "settings counts"),
        CRM_OK);
    assert_int_equal(c.nprojections, 2);
    crm_config_free(&c);
    static const char *const bad[] = {"segments", "settings,settings", "",
                                      ",", "settings,bogus"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        crm_err err = LOAD(&c, &why, "--projections", bad[i]);
        crm_config_free(&c);
        if (err != CRM_ERR_BAD_REQUEST)
            fail_msg("--projections '%s' accepted", bad[i]);
        expect_msg(&why, "--projections");
    }
    expect_bad_line("projections", "enable = settings,bogus", "enable");
    expect_bad_line("projections", "enable =", "enable");
}

/* --pin-clock: a UTC time in a CRM_TEST_CLOCK build, refused in any
 * other. */
static void
test_pin_clock(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    assert_int_equal(LOAD0(&c, &why), CRM_OK);
    assert_int_equal(c.pin_clock_us, 0);
    crm_config_free(&c);
    crm_err err = LOAD(&c, &why, "--pin-clock", "2026-06-15T08:00:00Z");
#ifdef CRM_TEST_CLOCK
    assert_int_equal(err, CRM_OK);
    assert_int_equal(c.pin_clock_us, 1781510400000000LL);
    crm_config_free(&c);
    static const char *const bad[] = {"2026-06-15", "2026-06-15T25:00:00Z",
                                      "2026-02-30T08:00:00Z",
                                      "2026-06-15 08:00:00Z", "now"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = LOAD(&c, &why, "--pin-clock", bad[i]);
        crm_config_free(&c);
        if (err != CRM_ERR_BAD_REQUEST)
            fail_msg("--pin-clock '%s' accepted", bad[i]);
        expect_msg(&why, "--pin-clock");
    }
#else
    crm_config_free(&c);
    assert_int_equal(err, CRM_ERR_BAD_REQUEST);
    expect_msg(&why, "CRM_TEST_CLOCK");
#endif
}

/* The example shipped in deploy/ loads as it is, with its documented
 * values. */
static void
test_shipped_example(void **state)
{
    (void)state;
    crm_config c;
    crm_error why;
    const char *path = CRM_SOURCE_DIR "/deploy/crmd.conf.example";
    if (LOAD(&c, &why, "--config", path) != CRM_OK)
        fail_msg("load %s: %s", path, why.msg);
    assert_string_equal(c.data_dir, "/var/lib/crmd");
    assert_int_equal(c.nlisten, 2);
    assert_int_equal(c.contexts, 128);
    assert_int_equal(c.log_level, CRM_INFO);
    assert_string_equal(c.operator_key_file, "/etc/crmd/operator.key");
    assert_int_equal(c.map_size_mb, 64);
    assert_int_equal(c.group_wait_us, CRM_LOG_GROUP_WAIT_US);
    assert_int_equal(c.nprojections, 7);
    assert_string_equal(c.projections[0]->name, "settings");
    assert_string_equal(c.projections[1]->name, "loyalty");
    assert_string_equal(c.projections[2]->name, "find");
    assert_string_equal(c.projections[3]->name, "customer");
    assert_string_equal(c.projections[4]->name, "kpi");
    assert_string_equal(c.projections[5]->name, "segment");
    assert_string_equal(c.projections[6]->name, "tasks");
    crm_config_free(&c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_file_every_key),
        T(test_projections),
        T(test_pin_clock),
        T(test_shipped_example),
        T(test_file_http_off_and_levels),
        T(test_flags_override_file),
        T(test_listen_limit),
        T(test_bad_file_values),
        T(test_bad_flags),
        T(test_unreadable_file),
        T(test_directory_as_file),
        T(test_help),
        T(test_operator_key_default),
        T(test_reload),
        T(test_reload_flags_win),
        T(test_reload_checks_the_whole_file),
        T(test_many_loads),
        T(test_load_after_interrupted_group),
        T(test_unknown_short_in_group_named),
        T(test_two_bad_lines),
        T(test_long_path_keeps_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
