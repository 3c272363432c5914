/* reload_test.c - SIGHUP on a running crmd (also the instant it reports
 * ready, which must not kill it): the config file's log_level
 * is applied, a --log-level flag keeps winning, a config that no longer
 * parses is refused (logged, old config kept, keys still reloaded, the
 * server keeps serving), and a key revoked in the registry behind crmd's
 * back stops working once the keys are reloaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crmd_fixture.h"
#include "keys.h"
#include "rpc.h"
#include "store.h"

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start_conf(&D, 0, "[server]\nlog_level = info\n", NULL) != 0 ||
        fx_tenant(&D, "hup", K) != 0)
        return -1;
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    int rc = fx_crmd_stop_clean(&D);
    fx_crmd_cleanup(&D);
    fx_reset();
    return rc;
}

static int
count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* Occurrences of needle in d's log. */
static int
log_count(const fx_crmd *d, const char *needle)
{
    char *log = fx_crmd_log(d);
    int n = log ? count(log, needle) : 0;
    free(log);
    return n;
}

/* Waits (up to 10 s) until needle occurs more than `before` times. */
static void
wait_log(const fx_crmd *d, const char *needle, int before)
{
    for (int i = 0; i < 1000; i++) {
        if (log_count(d, needle) > before)
            return;
        usleep(10000);
    }
    char *log = fx_crmd_log(d);
    fail_msg("no new '%s' in the log:\n%s", needle, log ? log : "(none)");
}

/* SIGHUP, then waits for the key reload that ends the handler. */
static void
hup(const fx_crmd *d)
{
    int before = log_count(d, "msg=\"keys reloaded\"");
    assert_int_equal(kill(d->pid, SIGHUP), 0);
    wait_log(d, "msg=\"keys reloaded\"", before);
}

static void
ping(const fx_crmd *d)
{
    crm_client *c = fx_client(d, d->url, NULL);
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(crm_client_call(c, "ping", NULL, NULL, &res, &why),
                     CRM_OK);
    crm_client_close(c);
}

/* A ping is logged at debug: how many ping lines the log holds, once the
 * line of the ping just made had time to be written. */
static int
pings_logged(const fx_crmd *d)
{
    usleep(100000);
    return log_count(d, "level=debug req=");
}

static void
test_log_level_from_file(void **state)
{
    (void)state;
    ping(&D);
    assert_int_equal(pings_logged(&D), 0); /* info: no debug lines */

    assert_int_equal(fx_crmd_write_conf(&D, "[server]\nlog_level = debug\n"),
                     0);
    int before = log_count(&D, "msg=\"config reloaded\" log_level=debug");
    hup(&D);
    assert_int_equal(log_count(&D, "msg=\"config reloaded\" log_level=debug"),
                     before + 1);
    ping(&D);
    int n = pings_logged(&D);
    assert_true(n >= 1);
    assert_true(log_count(&D, "op=ping") >= 1);
}

static void
test_malformed_config_is_refused(void **state)
{
    (void)state;
    assert_int_equal(fx_crmd_write_conf(&D, "[server\nlog_level = error\n"), 0);
    int failed = log_count(&D, "msg=\"config reload failed");
    hup(&D); /* the keys are reloaded all the same */
    assert_int_equal(log_count(&D, "msg=\"config reload failed"), failed + 1);
    char *log = fx_crmd_log(&D);
    const char *line = strstr(log, "msg=\"config reload failed");
    assert_non_null(strstr(line, "crmd.conf:1")); /* says where */
    free(log);

    /* still serving, still at debug */
    int before = pings_logged(&D);
    ping(&D);
    assert_int_equal(pings_logged(&D), before + 1);

    /* a bad value is refused the same way, even of a setting SIGHUP does
     * not apply: the whole file is checked */
    assert_int_equal(fx_crmd_write_conf(&D, "[server]\nlog_level = error\n"
                                            "contexts = lots\n"),
                     0);
    hup(&D);
    assert_int_equal(log_count(&D, "msg=\"config reload failed"), failed + 2);
    ping(&D);
    assert_int_equal(pings_logged(&D), before + 2);

    /* good again */
    assert_int_equal(fx_crmd_write_conf(&D, "[server]\nlog_level = debug\n"),
                     0);
    hup(&D);
}

static void
test_revoked_in_registry_then_hup(void **state)
{
    (void)state;
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(crm_client_call(c, "server.info", NULL, NULL, &res, &why),
                     CRM_OK);

    /* revoke it in the registry directly, as another process would */
    char id[CRM_KEY_ID_LEN + 1];
    memcpy(id, K[CRM_ROLE_AGENT] + 5, CRM_KEY_ID_LEN);
    id[CRM_KEY_ID_LEN] = '\0';
    char data[700];
    snprintf(data, sizeof(data), "%s/data", D.dir);
    crm_store *st;
    crm_keys *keys;
    assert_int_equal(crm_store_open(data, NULL, &st, &why), CRM_OK);
    assert_int_equal(crm_keys_open(st, &keys, &why), CRM_OK);
    assert_int_equal(crm_keys_revoke(keys, id, NULL, &why), CRM_OK);
    crm_keys_close(keys);
    crm_store_close(st);

    hup(&D);
    assert_int_equal(crm_client_call(c, "server.info", NULL, NULL, &res, &why),
                     CRM_ERR_UNAUTHORIZED);
    /* the other keys are untouched */
    crm_client *a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    assert_int_equal(crm_client_call(a, "server.info", NULL, NULL, &res, &why),
                     CRM_OK);
    crm_client_close(a);
    crm_client_close(c);
}

static void
test_flag_wins_over_reload(void **state)
{
    (void)state;
    static const char *const extra[] = {"--log-level", "debug", NULL};
    fx_crmd d;
    assert_int_equal(
        fx_crmd_start_conf(&d, 0, "[server]\nlog_level = warn\n", extra), 0);
    ping(&d);
    int n = pings_logged(&d);
    assert_true(n >= 1); /* the flag, not the file */

    assert_int_equal(fx_crmd_write_conf(&d, "[server]\nlog_level = error\n"),
                     0);
    hup(&d);
    assert_int_equal(
        log_count(&d,
                  "msg=\"config reloaded\" log_level=debug (--log-level wins)"),
        1);
    ping(&d);
    assert_int_equal(pings_logged(&d), n + 1);
    assert_int_equal(fx_crmd_stop_clean(&d), 0);
    fx_crmd_cleanup(&d);
}

/* Sends SIGHUP the instant the ready file appears. */
static void *
hup_at_ready(void *arg)
{
    fx_crmd *d = arg;
    pid_t pid;
    while ((pid = __atomic_load_n(&d->pid, __ATOMIC_ACQUIRE)) == 0)
        sched_yield();
    char ready[600];
    snprintf(ready, sizeof(ready), "%s/ready", d->dir);
    for (long i = 0; i < 50000000 && access(ready, F_OK) != 0; i++)
        ;
    kill(pid, SIGHUP);
    return NULL;
}

static void
test_hup_right_at_ready(void **state)
{
    (void)state;
    for (int round = 0; round < 5; round++) {
        fx_crmd d;
        memset(&d, 0, sizeof(d));
        pthread_t th;
        pthread_create(&th, NULL, hup_at_ready, &d);
        int rc = fx_crmd_start(&d, 0, NULL);
        pthread_join(th, NULL);
        assert_int_equal(rc, 0);
        /* the signal was handled, not fatal */
        wait_log(&d, "msg=\"keys reloaded\"", 0);
        ping(&d);
        assert_int_equal(fx_crmd_stop_clean(&d), 0);
        fx_crmd_cleanup(&d);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_level_from_file),
        cmocka_unit_test(test_malformed_config_is_refused),
        cmocka_unit_test(test_revoked_in_registry_then_hup),
        cmocka_unit_test(test_flag_wins_over_reload),
        cmocka_unit_test(test_hup_right_at_ready),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
