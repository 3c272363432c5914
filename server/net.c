/*
 * net.c - listeners, rep contexts, the request state machine, auth,
 * long-poll parking and graceful drain.
 *
 * Each context loops RECV -> BUSY -> SEND -> RECV. Its callbacks run on
 * NNG's threads; an append's completion runs on the tenant writer thread
 * and sends from there. srv->mu guards the transitions that draining
 * races with (posting a receive, stopping) and the list of parked
 * long-polls. Receive and send use separate aios: draining cancels every
 * receive aio, which aborts only a receive still pending; a request
 * already received goes on to its reply untouched.
 */
#include "net_int.h"

#include <errno.h>
#include <inttypes.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpcheck.h"
#include "slog.h"
#include "utf8.h"

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
net_msg_write(void *data, const char *buf, size_t len)
{
    rpc_ctx *c = data;
    /* NNG grows a message only by what is asked; double instead, or a
     * large read reply is copied over and over while it is packed. */
    size_t have = nng_msg_len(c->rep), cap = nng_msg_capacity(c->rep);
    if (have + len > cap &&
        nng_msg_reserve(c->rep, have + len > 2 * cap ? have + len : 2 * cap) !=
            0) {
        c->oom = 1;
        return -1;
    }
    if (nng_msg_append(c->rep, buf, len) != 0) {
        c->oom = 1;
        return -1;
    }
    return 0;
}

/* --- sending and finishing ------------------------------------------------ */

static void
post_recv(rpc_ctx *c)
{
    crm_server *s = c->srv;
    pthread_mutex_lock(&s->mu);
    if (s->draining) {
        c->state = CTX_STOPPED;
        s->stopped++;
        pthread_cond_broadcast(&s->cv);
    } else {
        c->state = CTX_RECV;
        nng_ctx_recv(c->ctx, c->recv_aio);
    }
    pthread_mutex_unlock(&s->mu);
}

static void
send_reply(rpc_ctx *c)
{
    c->state = CTX_SEND;
    nng_aio_set_msg(c->send_aio, c->rep);
    c->rep = NULL;
    nng_ctx_send(c->ctx, c->send_aio);
}

/* The request's log line. req= is the server's id, unique in this run;
 * cid= the client's envelope id. Whatever the client chose (an unknown op
 * name, a tenant it claimed, text quoted in an error message) is escaped,
 * so it cannot end its field or forge another. */
static void
log_request(rpc_ctx *c, crm_level lvl, crm_err err, const char *msg, double us)
{
    char op[96], tenant[96], text[3 * sizeof(((crm_error *)0)->msg)];
    if (c->op)
        snprintf(op, sizeof(op), "%s", c->op->name);
    else if (c->env.op)
        crm_slog_value(op, sizeof(op), c->env.op, c->env.op_len);
    else
        snprintf(op, sizeof(op), "-");
    if (c->has_key && c->key.tenant[0])
        crm_slog_value(tenant, sizeof(tenant), c->key.tenant,
                       strlen(c->key.tenant));
    else if (c->env.tenant)
        crm_slog_value(tenant, sizeof(tenant), c->env.tenant,
                       c->env.tenant_len);
    else
        snprintf(tenant, sizeof(tenant), "-");
    if (msg)
        crm_slog_escape(text, sizeof(text), msg, strlen(msg));
    crm_slog(lvl, c->rid,
             "cid=%" PRIu64 " op=%s tenant=%s key=%s status=%s us=%.0f%s%s%s",
             c->env.id, op, tenant, c->has_key ? c->key.id : "-",
             crm_err_name(err), us, msg ? " msg=\"" : "", msg ? text : "",
             msg ? "\"" : "");
}

static void
pack_error(rpc_ctx *c, crm_err err, const char *msg)
{
    nng_msg_clear(c->rep);
    crm_rpc_pack_error(&c->pk, c->env.id, err, msg);
}

void
net_finish(rpc_ctx *c, crm_err err, const crm_error *why)
{
    const char *msg = why && why->code == err ? why->msg : NULL;
    if (c->oom && err == CRM_OK) {
        err = CRM_ERR_NOMEM;
        msg = "reply too large for memory";
    }
    if (err != CRM_OK) {
        c->oom = 0;
        pack_error(c, err, msg);
    }
    double us = (now_s() - c->t0) * 1e6;
    crm_metrics_request(c->srv->metrics, c->op ? c->op->op : CRM_OP__COUNT, err,
                        us);
    crm_level lvl =
        err == CRM_OK ? CRM_DEBUG
        : err == CRM_ERR_INTERNAL || err == CRM_ERR_IO || err == CRM_ERR_CORRUPT
            ? CRM_ERROR
            : CRM_INFO;
    if (crm_slog_enabled(lvl))
        log_request(c, lvl, err, msg, us);
    send_reply(c);
}

/* --- auth ----------------------------------------------------------------- */

crm_err
net_authorize(rpc_ctx *c, const crm_op_info *op, crm_log **log, crm_error *why)
{
    *log = NULL;
    if (op->roles == CRM_ANYONE && !(op->flags & CRM_OPF_TENANT))
        return CRM_OK;
    if (!c->has_key)
        return crm_error_set(why, CRM_ERR_UNAUTHORIZED,
                             "this operation needs a valid API key");
    if (!(op->roles & CRM_ROLE_BIT(c->key.role)))
        return crm_error_set(why, CRM_ERR_FORBIDDEN, "role %s may not call %s",
                             crm_role_name(c->key.role), op->name);
    if (!(op->flags & CRM_OPF_TENANT))
        return CRM_OK;
    if (c->key.tenant[0] == '\0')
        return crm_error_set(why, CRM_ERR_FORBIDDEN, "%s needs a tenant key",
                             op->name);
    if (c->log == NULL) {
        crm_err err =
            crm_store_tenant_log(c->srv->store, c->key.tenant, &c->log, why);
        if (err != CRM_OK)
            return err;
    }
    *log = c->log;
    return CRM_OK;
}

/* --- requests ------------------------------------------------------------- */

static crm_err
handle(rpc_ctx *c, crm_error *why, rpc_flow *flow)
{
    crm_server *s = c->srv;
    size_t len = nng_msg_len(c->req);
    const char *body = nng_msg_body(c->req);
    msgpack_object root;
    size_t off = 0;
    crm_err err;

    if ((err = crm_rpc_check_request(body, len, why)) != CRM_OK)
        return err;
    msgpack_unpack_return ur = msgpack_unpack(body, len, &off, &c->zone, &root);
    if (ur != MSGPACK_UNPACK_SUCCESS)
        return crm_error_set(why,
                             ur == MSGPACK_UNPACK_NOMEM_ERROR
                                 ? CRM_ERR_NOMEM
                                 : CRM_ERR_BAD_REQUEST,
                             "request is not msgpack");
    if ((err = crm_rpc_parse_request(&root, &c->env, why)) != CRM_OK)
        return err;
    if ((c->op = crm_op_find(c->env.op, c->env.op_len)) == NULL) {
        char q[CRM_UTF8_QUOTE_CAP];
        crm_utf8_quote(c->env.op, c->env.op_len, CRM_UTF8_QUOTE_MAX, q,
                       sizeof(q));
        return crm_error_set(why, CRM_ERR_UNKNOWN_OP, "unknown op '%s'", q);
    }
    if (c->env.key) {
        if (crm_keys_auth(s->keys, c->env.key, c->env.key_len, &c->key) !=
            CRM_OK)
            return crm_error_set(why, CRM_ERR_UNAUTHORIZED,
                                 "API key is not valid");
        c->has_key = 1;
    }
    /* A key speaks for one tenant (operator keys for none); naming another
     * is refused outright. */
    if (c->has_key && c->env.tenant &&
        (c->env.tenant_len != strlen(c->key.tenant) ||
         memcmp(c->env.tenant, c->key.tenant, c->env.tenant_len) != 0)) {
        char q[CRM_UTF8_QUOTE_CAP];
        crm_utf8_quote(c->env.tenant, c->env.tenant_len, CRM_UTF8_QUOTE_MAX,
                       q, sizeof(q));
        return crm_error_set(why, CRM_ERR_FORBIDDEN,
                             "the key does not belong to tenant '%s'", q);
    }

    rpc_call call = {.c = c, .op = c->op, .args = c->env.args};
    if ((err = net_authorize(c, c->op, &call.log, why)) != CRM_OK)
        return err;
    crm_rpc_pack_reply_head(&c->pk, c->env.id);
    return crm_handlers[c->op->op](&call, &c->pk, why, flow);
}

static void
start_request(rpc_ctx *c, nng_msg *msg)
{
    crm_error why = {CRM_OK, ""};
    rpc_flow flow = RPC_DONE;

    c->state = CTX_BUSY;
    c->rid =
        atomic_fetch_add_explicit(&c->srv->next_rid, 1, memory_order_relaxed) +
        1;
    c->t0 = now_s();
    c->req = msg;
    c->op = NULL;
    c->log = NULL;
    c->has_key = 0;
    c->parked = c->resumed = 0;
    memset(&c->env, 0, sizeof(c->env));
    if (nng_msg_alloc(&c->rep, 0) != 0) {
        /* Without a reply buffer nothing can be said; drop the request. */
        nng_msg_free(msg);
        c->req = NULL;
        post_recv(c);
        return;
    }
    nng_msg_reserve(c->rep, 256);
    c->oom = 0;
    msgpack_packer_init(&c->pk, c, net_msg_write);
    crm_err err = handle(c, &why, &flow);
    if (flow == RPC_DEFERRED)
        return;
    net_finish(c, err, &why);
}

static void
recv_cb(void *arg)
{
    rpc_ctx *c = arg;
    crm_server *s = c->srv;
    int rv = nng_aio_result(c->recv_aio);

    if (rv == 0) {
        nng_msg *msg = nng_aio_get_msg(c->recv_aio);
        nng_aio_set_msg(c->recv_aio, NULL);
        start_request(c, msg);
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (s->draining || rv == NNG_ECLOSED) {
        if (c->state != CTX_STOPPED) {
            c->state = CTX_STOPPED;
            s->stopped++;
            pthread_cond_broadcast(&s->cv);
        }
        pthread_mutex_unlock(&s->mu);
        return;
    }
    pthread_mutex_unlock(&s->mu);
    post_recv(c); /* a transient receive error: keep serving */
}

static void
send_cb(void *arg)
{
    rpc_ctx *c = arg;
    /* On failure the reply is still ours (a closed socket, a stopped aio);
     * on success NNG took it. */
    if (nng_aio_result(c->send_aio) != 0) {
        nng_msg *m = nng_aio_get_msg(c->send_aio);
        if (m)
            nng_msg_free(m);
    }
    nng_aio_set_msg(c->send_aio, NULL);
    if (c->req) {
        nng_msg_free(c->req);
        c->req = NULL;
    }
    crm_batch_free(c->batch);
    c->batch = NULL;
    c->derived = NULL;
    msgpack_zone_clear(&c->zone);
    msgpack_zone_clear(&c->scratch);
    post_recv(c);
}

/* --- long-poll ------------------------------------------------------------ */

static void
timer_cb(void *arg)
{
    rpc_ctx *c = arg;
    crm_server *s = c->srv;
    pthread_mutex_lock(&s->mu);
    for (rpc_ctx **pp = &s->waiters; *pp; pp = &(*pp)->wnext) {
        if (*pp == c) {
            *pp = c->wnext;
            s->nparked--;
            break;
        }
    }
    c->wnext = NULL;
    pthread_mutex_unlock(&s->mu);

    /* Run read.all again, without waiting this time. */
    crm_error why = {CRM_OK, ""};
    rpc_flow flow = RPC_DONE;
    rpc_call call = {.c = c, .op = c->op, .args = c->env.args, .log = c->log};
    c->resumed = 1;
    c->parked = 0;
    nng_msg_clear(c->rep);
    crm_rpc_pack_reply_head(&c->pk, c->env.id);
    crm_err err = crm_handlers[c->op->op](&call, &c->pk, &why, &flow);
    net_finish(c, err, &why);
}

void
net_park(rpc_ctx *c, uint64_t from, int wait_ms)
{
    crm_server *s = c->srv;
    uint64_t head;
    c->parked = 1;
    c->wait_from = from;
    /* Registration, the head check and arming the timer happen under
     * srv->mu: a commit landing in between cannot slip past (on_commit
     * takes the same lock), and timer_cb, which also starts by taking it,
     * cannot run before we are done touching c. NNG runs completions on
     * its own threads, never inside nng_sleep_aio.
     *
     * Past park_max the request is answered at once instead: waiting
     * tail -f clients must not hold every context, or no other caller of
     * any tenant is served until their waits run out. */
    pthread_mutex_lock(&s->mu);
    crm_log_head(c->log, &head, NULL);
    int now = head >= from || s->draining || s->nparked >= s->park_max;
    if (!now) {
        c->wnext = s->waiters;
        s->waiters = c;
        s->nparked++;
    }
    /* answering at once completes the timer here (the callback still runs
     * on NNG's task threads), without a trip through the expiry thread's
     * millisecond clock */
    if (!now)
        nng_sleep_aio(wait_ms, c->timer);
    else if (nng_aio_begin(c->timer))
        nng_aio_finish(c->timer, 0);
    pthread_mutex_unlock(&s->mu);
}

/* Rebuilds (on open, or projection.rebuild) say how far they are, at
 * most about once a second per projection, and when they are done. */
static void
on_rebuild_progress(void *arg, const char *tenant, const char *projection,
                    uint64_t done, uint64_t total)
{
    static _Thread_local double last;
    double t = now_s();
    (void)arg;
    if (done < total && t - last < 1.0)
        return;
    last = t;
    crm_slog(CRM_INFO, 0,
             "msg=\"rebuilding projection\" tenant=%s projection=%s "
             "events=%llu of=%llu",
             tenant, projection, (unsigned long long)done,
             (unsigned long long)total);
}

void
net_job_join(rpc_ctx *c)
{
    if (c->job_running) {
        pthread_join(c->job, NULL);
        c->job_running = 0;
    }
}

static void
on_commit(void *arg, crm_log *log, uint64_t head)
{
    crm_server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (rpc_ctx *c = s->waiters; c; c = c->wnext)
        if (c->log == log && head >= c->wait_from)
            nng_aio_cancel(c->timer); /* timer_cb answers */
    pthread_mutex_unlock(&s->mu);
}

/* --- lifecycle ------------------------------------------------------------ */

static char *
read_file(const char *path, crm_error *why)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (f == NULL) {
        crm_error_set(why, CRM_ERR_IO, "cannot read %s: %s", path,
                      strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && n < (1 << 20) && fseek(f, 0, SEEK_SET) == 0 &&
            (buf = malloc((size_t)n + 1)) != NULL) {
            if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                buf[n] = '\0';
            }
        }
    }
    fclose(f);
    if (buf == NULL)
        crm_error_set(why, CRM_ERR_IO, "cannot read %s", path);
    return buf;
}

static crm_err
setup_tls(crm_server *s, crm_error *why)
{
    const crm_config *cfg = s->cfg;
    int rv;
    if (cfg->tls_cert == NULL || cfg->tls_key == NULL)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "tls+tcp listeners need [tls] cert and key");
    char *cert = read_file(cfg->tls_cert, why), *key = NULL;
    if (cert == NULL || (key = read_file(cfg->tls_key, why)) == NULL) {
        free(cert);
        return CRM_ERR_IO;
    }
    if ((rv = nng_tls_config_alloc(&s->tls, NNG_TLS_MODE_SERVER)) != 0 ||
        (rv = nng_tls_config_own_cert(s->tls, cert, key, NULL)) != 0) {
        free(cert);
        free(key);
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "TLS setup: %s",
                             nng_strerror(rv));
    }
    free(cert);
    free(key);
    return CRM_OK;
}

static crm_err
write_ready(const crm_config *cfg, crm_error *why)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", cfg->ready_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return crm_error_set(why, CRM_ERR_IO, "ready file %s: %s", tmp,
                             strerror(errno));
    fprintf(f, "pid %ld\n", (long)getpid());
    for (size_t i = 0; i < cfg->nlisten; i++)
        fprintf(f, "listen %s\n", cfg->listen[i]);
    if (cfg->http)
        fprintf(f, "http %s\n", cfg->http);
    if (fclose(f) != 0 || rename(tmp, cfg->ready_file) != 0)
        return crm_error_set(why, CRM_ERR_IO, "ready file %s: %s",
                             cfg->ready_file, strerror(errno));
    return CRM_OK;
}

crm_err
crm_server_start(const crm_config *cfg, crm_server **out, crm_error *why)
{
    crm_server *s;
    crm_err err;
    int rv;

    *out = NULL;
    for (size_t i = 0; i < CRM_OP__COUNT; i++)
        if (crm_handlers[i] == NULL)
            return crm_error_set(why, CRM_ERR_INTERNAL, "op %s has no handler",
                                 crm_op_get((crm_op)i)->name);
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    s->cfg = cfg;
    s->started = (int64_t)time(NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);

    if (cfg->master_key_file) {
        if ((err = crm_master_key_load(cfg->master_key_file, s->master_key,
                                       why)) != CRM_OK)
            goto fail;
    } else if (!cfg->no_encryption) {
        err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                            "crmd seals guests' personal data under a master "
                            "key: give --master-key FILE (crmd "
                            "--make-master-key FILE makes one), or "
                            "--no-encryption to run without");
        goto fail;
    }
    crm_log_opts lo = {.map_size = cfg->map_size_mb << 20,
                       .master_key =
                           cfg->master_key_file ? s->master_key : NULL,
                       .group_wait_us = cfg->group_wait_us,
                       .sign_ms = cfg->checkpoint_every_s * 1000u,
                       .access_off = cfg->access_off,
                       .access_keep_days = cfg->access_retention_days,
                       .on_commit = on_commit,
                       .on_commit_arg = s,
                       .projections = cfg->projections,
                       .nprojections = cfg->nprojections,
                       .progress = on_rebuild_progress,
                       .progress_arg = s};
    if ((err = crm_store_open(cfg->data_dir, &lo, &s->store, why)) != CRM_OK ||
        (err = crm_keys_open(s->store, &s->keys, why)) != CRM_OK)
        goto fail;
    int created = 0;
    if ((err = crm_keys_bootstrap(s->keys, cfg->operator_key_file, &created,
                                  why)) != CRM_OK)
        goto fail;
    if (created)
        crm_slog(CRM_INFO, 0, "msg=\"operator key written to %s\"",
                 cfg->operator_key_file);
    if ((s->metrics = crm_metrics_new(s->store)) == NULL) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto fail;
    }

    if ((rv = nng_rep0_open(&s->sock)) != 0) {
        err = crm_error_set(why, CRM_ERR_INTERNAL, "rep socket: %s",
                            nng_strerror(rv));
        goto fail;
    }
    s->sock_open = 1;
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, CRM_RPC_HARD_MAX);

    s->nctx = cfg->contexts;
    s->park_max = s->nctx / 2;
    if ((s->ctxs = calloc((size_t)s->nctx, sizeof(*s->ctxs))) == NULL) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto fail;
    }
    for (int i = 0; i < s->nctx; i++) {
        s->ctxs[i].srv = s;
        msgpack_zone_init(&s->ctxs[i].zone, 4096);
        msgpack_zone_init(&s->ctxs[i].scratch, 4096);
    }
    for (int i = 0; i < s->nctx; i++) {
        rpc_ctx *c = &s->ctxs[i];
        if ((rv = nng_ctx_open(&c->ctx, s->sock)) != 0 ||
            (rv = nng_aio_alloc(&c->recv_aio, recv_cb, c)) != 0 ||
            (rv = nng_aio_alloc(&c->send_aio, send_cb, c)) != 0 ||
            (rv = nng_aio_alloc(&c->timer, timer_cb, c)) != 0 ||
            (rv = nng_aio_alloc(&c->reply_aio, net_append_reply_cb, c)) != 0) {
            err = crm_error_set(why, CRM_ERR_INTERNAL, "rep context: %s",
                                nng_strerror(rv));
            goto fail;
        }
    }

    for (size_t i = 0; i < cfg->nlisten; i++) {
        nng_listener l;
        const char *url = cfg->listen[i];
        if ((rv = nng_listener_create(&l, s->sock, url)) != 0) {
            err = crm_error_set(why, CRM_ERR_BAD_REQUEST, "listen %s: %s", url,
                                nng_strerror(rv));
            goto fail;
        }
        if (strncmp(url, "tls+", 4) == 0) {
            if (s->tls == NULL && (err = setup_tls(s, why)) != CRM_OK)
                goto fail;
            if ((rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, s->tls)) !=
                0) {
                err = crm_error_set(why, CRM_ERR_BAD_REQUEST, "listen %s: %s",
                                    url, nng_strerror(rv));
                goto fail;
            }
        }
        if ((rv = nng_listener_start(l, 0)) != 0) {
            err = crm_error_set(why, CRM_ERR_UNAVAILABLE, "listen %s: %s", url,
                                nng_strerror(rv));
            goto fail;
        }
        crm_slog(CRM_INFO, 0, "msg=\"listening\" url=%s", url);
    }
    if (cfg->http) {
        if ((err = crm_metrics_http_start(s->metrics, cfg->http, why)) !=
            CRM_OK)
            goto fail;
        crm_slog(CRM_INFO, 0, "msg=\"metrics\" url=%s/metrics", cfg->http);
    }
    for (int i = 0; i < s->nctx; i++)
        post_recv(&s->ctxs[i]);
    if (cfg->ready_file && (err = write_ready(cfg, why)) != CRM_OK)
        goto fail;
    *out = s;
    return CRM_OK;
fail:
    crm_server_free(s);
    return err;
}

int
crm_server_drain(crm_server *s, int timeout_ms)
{
    pthread_mutex_lock(&s->mu);
    s->draining = 1;
    pthread_mutex_unlock(&s->mu);
    crm_metrics_set_healthy(s->metrics, 0);

    /* From here post_recv posts no receive. One posted before is pending
     * (the cancel ends it, recv_cb stops the context) or has completed
     * (the cancel finds nothing to abort: that request is handled and
     * answered on the send aio, then post_recv stops the context).
     * Parked long-polls answer now; net_park parks nothing more. */
    for (int i = 0; i < s->nctx; i++) {
        nng_aio_cancel(s->ctxs[i].recv_aio);
        nng_aio_cancel(s->ctxs[i].timer);
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (s->stopped < s->nctx)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) != 0)
            break;
    int left = s->nctx - s->stopped;
    pthread_mutex_unlock(&s->mu);
    /* Give the last replies a moment to leave the socket. */
    nng_msleep(50);
    return left;
}

void
crm_server_free(crm_server *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->draining = 1; /* no receive is posted any more */
    pthread_mutex_unlock(&s->mu);
    if (s->metrics)
        crm_metrics_http_stop(s->metrics);
    if (s->sock_open)
        nng_close(s->sock); /* pending receives end with NNG_ECLOSED */

    /* Nothing may run against the store once it closes, also when a drain
     * timed out. Stopping the receive aios waits for a handler still
     * running in recv_cb; stopping the timers then lets a parked
     * long-poll answer one last time, its log still open. After that no
     * handler can start: a receive can only fail now, and only handlers
     * park. */
    for (int i = 0; s->ctxs && i < s->nctx; i++)
        if (s->ctxs[i].recv_aio)
            nng_aio_stop(s->ctxs[i].recv_aio);
    for (int i = 0; s->ctxs && i < s->nctx; i++)
        if (s->ctxs[i].timer)
            nng_aio_stop(s->ctxs[i].timer);
    /* Stopping the store commits queued appends before it returns; their
     * completions still find their contexts, whose sends then fail fast
     * (send_cb may run until the send aios are stopped below). A rebuild
     * stops at its next chunk, an erasure's wait ends, later appends are
     * refused: the job threads answer and end, their logs still open, and
     * only then do the logs close. */
    crm_store_stop(s->store);
    for (int i = 0; s->ctxs && i < s->nctx; i++) {
        net_job_join(&s->ctxs[i]);
        free(s->ctxs[i].job_arg);
        s->ctxs[i].job_arg = NULL;
    }
    crm_store_close(s->store);
    s->store = NULL;
    /* the appends that close committed have their replies on the way */
    for (int i = 0; s->ctxs && i < s->nctx; i++)
        if (s->ctxs[i].reply_aio)
            nng_aio_stop(s->ctxs[i].reply_aio);
    for (int i = 0; s->ctxs && i < s->nctx; i++)
        if (s->ctxs[i].send_aio)
            nng_aio_stop(s->ctxs[i].send_aio);
    for (int i = 0; s->ctxs && i < s->nctx; i++) {
        rpc_ctx *c = &s->ctxs[i];
        if (c->recv_aio) {
            nng_msg *m = nng_aio_get_msg(c->recv_aio);
            if (m)
                nng_msg_free(m);
            nng_aio_free(c->recv_aio);
        }
        if (c->send_aio) {
            nng_msg *m = nng_aio_get_msg(c->send_aio);
            if (m)
                nng_msg_free(m);
            nng_aio_free(c->send_aio);
        }
        if (c->timer)
            nng_aio_free(c->timer);
        if (c->reply_aio)
            nng_aio_free(c->reply_aio);
        if (c->req)
            nng_msg_free(c->req);
        if (c->rep)
            nng_msg_free(c->rep);
        crm_batch_free(c->batch);
        msgpack_zone_destroy(&c->zone);
        msgpack_zone_destroy(&c->scratch);
    }
    free(s->ctxs);
    crm_keys_close(s->keys);
    crm_metrics_free(s->metrics);
    if (s->tls)
        nng_tls_config_free(s->tls);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    crm_wipe(s->master_key, sizeof(s->master_key));
    free(s);
}

void
crm_server_tick(crm_server *s)
{
    crm_store_checkpoint(s->store);
}

crm_err
crm_server_reload(crm_server *s, crm_error *why)
{
    return crm_keys_reload(s->keys, why);
}
