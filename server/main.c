/*
 * main.c - crmd: configuration, the libuv loop that owns signals, and the
 * server (net.c) that serves RPC on NNG.
 */
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "config.h"
#include "net.h"
#include "slog.h"

typedef struct app {
    crm_config cfg;
    crm_server *srv;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t tick;
    int exit_code;
} app;

static void
on_stop(uv_signal_t *h, int signum)
{
    app *a = h->data;
    crm_slog(CRM_INFO, 0, "msg=\"draining\" signal=%s",
             signum == SIGTERM ? "TERM" : "INT");
    uv_timer_stop(&a->tick);
    int left = crm_server_drain(a->srv, 10000);
    if (left)
        crm_slog(CRM_WARN, 0, "msg=\"drain timed out\" unanswered=%d", left);
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
    (void)signum;
    if (crm_config_reload(&a->cfg, &why) != CRM_OK)
        crm_slog(CRM_WARN, 0, "msg=\"config reload failed: %s\"", why.msg);
    else
        crm_slog_set_level(a->cfg.log_level);
    if (crm_server_reload(a->srv, &why) != CRM_OK)
        crm_slog(CRM_WARN, 0, "msg=\"key reload failed: %s\"", why.msg);
    else
        crm_slog(CRM_INFO, 0, "msg=\"reloaded keys and config\"");
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

    if ((err = crm_server_start(&a.cfg, &a.srv, &why)) != CRM_OK) {
        crm_slog(CRM_ERROR, 0, "msg=\"cannot start: %s\" err=%s", why.msg,
                 crm_err_name(err));
        crm_config_free(&a.cfg);
        return 1;
    }
    crm_slog(CRM_INFO, 0, "msg=\"crmd ready\" data=%s", a.cfg.data_dir);

    uv_signal_init(loop, &a.sigterm);
    uv_signal_init(loop, &a.sigint);
    uv_signal_init(loop, &a.sighup);
    a.sigterm.data = a.sigint.data = a.sighup.data = &a;
    uv_signal_start(&a.sigterm, on_stop, SIGTERM);
    uv_signal_start(&a.sigint, on_stop, SIGINT);
    uv_signal_start(&a.sighup, on_hup, SIGHUP);
    uv_timer_init(loop, &a.tick);
    a.tick.data = &a;
    uv_timer_start(&a.tick, on_tick, 1000, 1000);

    uv_run(loop, UV_RUN_DEFAULT);

    uv_close((uv_handle_t *)&a.sigterm, NULL);
    uv_close((uv_handle_t *)&a.sigint, NULL);
    uv_close((uv_handle_t *)&a.sighup, NULL);
    uv_close((uv_handle_t *)&a.tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    uv_loop_close(loop);

    crm_server_free(a.srv);
    crm_slog(CRM_INFO, 0, "msg=\"stopped\"");
    crm_config_free(&a.cfg);
    return a.exit_code;
}
