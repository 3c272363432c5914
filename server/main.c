/*
 * main.c - crmd: configuration, the libuv loop that owns signals, and the
 * server (net.c) that serves RPC on NNG.
 *
 * Exit status: 0 after a clean drain, 1 when the server could not start or
 * a drain timed out and requests were abandoned, 2 for a bad command line
 * or config file.
 */
#include <nng/nng.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "clock.h"
#include "config.h"
#include "import.h"
#include "restore.h"
#include "net.h"
#include "slog.h"


typedef struct app {
    crm_config cfg;
    crm_server *srv;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t tick;
    int stopping;
    int exit_code;
} app;

static void
on_stop(uv_signal_t *h, int signum)
{
    app *a = h->data;
    if (a->stopping)
        return;
    a->stopping = 1;
    crm_slog(CRM_INFO, 0, "msg=\"draining\" signal=%s",
             signum == SIGTERM ? "TERM" : "INT");
    uv_timer_stop(&a->tick);
    int left = crm_server_drain(a->srv, (int)a->cfg.drain_timeout_ms);
    if (left) {
        /* crm_server_free still waits for every handler before the store
         * closes; the clients of these requests get no answer. */
        crm_slog(CRM_ERROR, 0,
                 "msg=\"drain timed out; abandoning requests\" unanswered=%d "
                 "timeout_ms=%u",
                 left, a->cfg.drain_timeout_ms);
        a->exit_code = 1;
    }
    uv_stop(h->loop);
}

static void
on_tick(uv_timer_t *t)
{
    app *a = t->data;
    crm_server_tick(a->srv);
}

static void
on_hup(uv_signal_t *h, int signum)
{
    app *a = h->data;
    crm_error why;
    char text[3 * sizeof(why.msg)];
    (void)signum;
    if (a->cfg.file == NULL) {
        crm_slog(CRM_INFO, 0, "msg=\"no config file to reload\"");
    } else if (crm_config_reload(&a->cfg, &why) != CRM_OK) {
        crm_slog(CRM_WARN, 0,
                 "msg=\"config reload failed; the running config stays\" "
                 "why=\"%s\"",
                 crm_slog_escape(text, sizeof(text), why.msg, strlen(why.msg)));
    } else {
        crm_slog_set_level(a->cfg.log_level);
        crm_slog(CRM_INFO, 0, "msg=\"config reloaded\" log_level=%s%s",
                 crm_slog_level_name(a->cfg.log_level),
                 a->cfg.from_flags & CRM_CFG_LOG_LEVEL ? " (--log-level wins)"
                                                       : "");
    }
    if (crm_server_reload(a->srv, &why) != CRM_OK)
        crm_slog(CRM_WARN, 0,
                 "msg=\"key reload failed; the loaded keys stay\" why=\"%s\"",
                 crm_slog_escape(text, sizeof(text), why.msg, strlen(why.msg)));
    else
        crm_slog(CRM_INFO, 0, "msg=\"keys reloaded\"");
}

static void
close_loop(app *a, uv_loop_t *loop)
{
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sighup, NULL);
    uv_close((uv_handle_t *)&a->tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    uv_loop_close(loop);
}

int
main(int argc, char **argv)
{
    app a = {0};
    crm_error why;
    uv_loop_t *loop = uv_default_loop();

    crm_err err = crm_config_load(&a.cfg, argc, argv, &why);
    if (err == CRM_ERR_CLOSED) {
        crm_config_free(&a.cfg);
        return 0;
    }
    if (err != CRM_OK) {
        fprintf(stderr, "crmd: %s\n", why.msg);
        crm_config_free(&a.cfg);
        return 2;
    }
    crm_slog_set_level(a.cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    if (a.cfg.restore_from || a.cfg.import_from) {
        /* one-shot work on a stopped data directory, then exit */
        err = a.cfg.restore_from ? crm_restore_run(&a.cfg, &why)
                                 : crm_import_run(&a.cfg, &why);
        if (err != CRM_OK)
            fprintf(stderr, "crmd: %s: %s\n",
                    a.cfg.restore_from ? "restore" : "import", why.msg);
        crm_config_free(&a.cfg);
        return err == CRM_OK ? 0 : 1;
    }
#ifdef CRM_TEST_CLOCK
    if (a.cfg.pin_clock_us) {
        crm_clock_pin(a.cfg.pin_clock_us);
        crm_slog(CRM_WARN, 0,
                 "msg=\"query clock pinned for tests; not for production\" "
                 "pinned_us=%lld",
                 (long long)a.cfg.pin_clock_us);
    }
#endif

    /* Signal handlers first: once the server starts it announces itself
     * (the ready file), and a SIGTERM or SIGHUP sent from then on must
     * not kill the process with the default action. libuv keeps a signal
     * that arrives during start-up until uv_run, and then handles it. */
    uv_signal_init(loop, &a.sigterm);
    uv_signal_init(loop, &a.sigint);
    uv_signal_init(loop, &a.sighup);
    a.sigterm.data = a.sigint.data = a.sighup.data = &a;
    uv_signal_start(&a.sigterm, on_stop, SIGTERM);
    uv_signal_start(&a.sigint, on_stop, SIGINT);
    uv_signal_start(&a.sighup, on_hup, SIGHUP);
    uv_timer_init(loop, &a.tick);
    a.tick.data = &a;

    if ((err = crm_server_start(&a.cfg, &a.srv, &why)) != CRM_OK) {
        crm_slog(CRM_ERROR, 0, "msg=\"cannot start: %s\" err=%s", why.msg,
                 crm_err_name(err));
        close_loop(&a, loop);
        crm_config_free(&a.cfg);
        return 1;
    }
    crm_slog(CRM_INFO, 0, "msg=\"crmd ready\" data=%s", a.cfg.data_dir);
    uv_timer_start(&a.tick, on_tick, 1000, 1000);

    uv_run(loop, UV_RUN_DEFAULT);
    close_loop(&a, loop);

    crm_server_free(a.srv);
    /* NNG frees a released HTTP server (the metrics listener) and closed
     * pipes on its reaper thread; nng_fini waits for that work, so the
     * process ends with nothing of NNG's still allocated. */
    nng_fini();
    crm_slog(a.exit_code ? CRM_ERROR : CRM_INFO, 0, "msg=\"stopped\" exit=%d",
             a.exit_code);
    crm_config_free(&a.cfg);
    return a.exit_code;
}
