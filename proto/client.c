/* client.c - libcrmclient over NNG req0. */
#include "client.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <stdlib.h>
#include <string.h>

#include "mpcheck.h"
#include "rpc.h"

struct crm_client {
    nng_socket sock;
    nng_dialer dialer;
    nng_tls_config *tls;
    char *key, *tenant;
    uint64_t next_id;
    nng_msg *reply; /* kept until the next call: *result points into it */
    msgpack_zone zone;
};

static crm_err
nng_fail(crm_error *why, int rv, const char *what, const char *url)
{
    crm_err code =
        rv == NNG_ECONNREFUSED || rv == NNG_ECONNSHUT || rv == NNG_ECLOSED ||
                rv == NNG_ENOENT || rv == NNG_EADDRINVAL ||
                rv == NNG_ECONNRESET || rv == NNG_EUNREACHABLE
            ? CRM_ERR_UNAVAILABLE
        : rv == NNG_ETIMEDOUT                   ? CRM_ERR_TIMEOUT
        : rv == NNG_ENOMEM                      ? CRM_ERR_NOMEM
        : rv == NNG_EINVAL || rv == NNG_ENOTSUP ? CRM_ERR_BAD_REQUEST
                                                : CRM_ERR_UNAVAILABLE;
    if (url == NULL)
        return crm_error_set(why, code, "%s: %s", what, nng_strerror(rv));
    return crm_error_set(why, code, "%s %s: %s", what, url, nng_strerror(rv));
}

/* The dialer's first connection failed in the TLS handshake. NNG reports
 * a certificate that does not verify and a peer that does not speak TLS
 * alike (NNG_ECRYPTO), so the message names both. Either is a setting to
 * fix, not an outage to wait out: bad_request, not unavailable. */
static crm_err
handshake_fail(crm_error *why, int rv, const crm_client_opts *o)
{
    nng_url *u = NULL;
    const char *name = o->tls_server_name;
    crm_err err;

    if (o->tls_insecure)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "%s: TLS handshake failed (%s): does the server "
                             "speak TLS there?",
                             o->url, nng_strerror(rv));
    if (name == NULL && nng_url_parse(&u, o->url) == 0)
        name = u->u_hostname;
    err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                        "%s: TLS handshake failed (%s): the server's "
                        "certificate is not from CA %s or not for '%s' (see "
                        "--server-name)",
                        o->url, nng_strerror(rv), o->tls_ca, name ? name : "");
    if (u)
        nng_url_free(u);
    return err;
}

/* Builds the TLS config of the dialer. A tls+tcp dialer of NNG verifies
 * the server against the URL's host by default, but a config installed
 * with NNG_OPT_TLS_CONFIG replaces that default whole, server name
 * included; without a name the certificate's chain is checked and not
 * whose certificate it is. So the name is set here again. */
static crm_err
tls_setup(crm_client *c, const crm_client_opts *o, crm_error *why)
{
    nng_url *u = NULL;
    const char *name = o->tls_server_name;
    crm_err err = CRM_OK;
    int rv;

    if ((rv = nng_tls_config_alloc(&c->tls, NNG_TLS_MODE_CLIENT)) != 0) {
        err = nng_fail(why, rv, "TLS setup for", o->url);
        goto done;
    }
    if (o->tls_insecure) {
        rv = nng_tls_config_auth_mode(c->tls, NNG_TLS_AUTH_MODE_NONE);
    } else if ((rv = nng_tls_config_ca_file(c->tls, o->tls_ca)) != 0) {
        err = crm_error_set(
            why, rv == NNG_ENOMEM ? CRM_ERR_NOMEM : CRM_ERR_BAD_REQUEST,
            "CA file %s: %s", o->tls_ca, nng_strerror(rv));
        goto done;
    } else {
        rv = nng_tls_config_auth_mode(c->tls, NNG_TLS_AUTH_MODE_REQUIRED);
    }
    if (rv != 0) {
        err = nng_fail(why, rv, "TLS setup for", o->url);
        goto done;
    }
    if (name == NULL) {
        if ((rv = nng_url_parse(&u, o->url)) != 0) {
            err = nng_fail(why, rv, "bad server address", o->url);
            goto done;
        }
        name = u->u_hostname;
    }
    if ((name[0] != '\0' &&
         (rv = nng_tls_config_server_name(c->tls, name)) != 0) ||
        (rv = nng_dialer_set_ptr(c->dialer, NNG_OPT_TLS_CONFIG, c->tls)) != 0)
        err = nng_fail(why, rv, "TLS setup for", o->url);
done:
    if (u)
        nng_url_free(u);
    return err;
}

crm_err
crm_client_open(const crm_client_opts *o, crm_client **out, crm_error *why)
{
    crm_client *c;
    crm_err err;
    int rv, tls;

    *out = NULL;
    if (o->url == NULL)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "no server URL");
    tls = strncmp(o->url, "tls+", 4) == 0;
    /* Verification is the default: without a CA the handshake could not
     * tell crmd from anyone else, so skipping it must be asked for. */
    if (tls && o->tls_ca == NULL && !o->tls_insecure)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "tls+tcp needs a CA file (--ca or CRM_CA); use "
                             "--insecure to skip verification");
    if ((c = calloc(1, sizeof(*c))) == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    if (!msgpack_zone_init(&c->zone, 4096)) {
        free(c);
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    }
    /* From here on c is whole enough for crm_client_close. */
    c->next_id = 1;
    if ((o->key && (c->key = strdup(o->key)) == NULL) ||
        (o->tenant && (c->tenant = strdup(o->tenant)) == NULL)) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto fail;
    }
    if ((rv = nng_req0_open(&c->sock)) != 0) {
        err = nng_fail(why, rv, "req socket", NULL);
        goto fail;
    }
    nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO,
                      o->timeout_ms > 0 ? o->timeout_ms : 10000);
    nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO,
                      o->timeout_ms > 0 ? o->timeout_ms : 10000);
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 64u << 20);
    /* The req protocol would resend a request after a minute without a
     * reply; appends are idempotent by id, but one send is clearer. */
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);

    if ((rv = nng_dialer_create(&c->dialer, c->sock, o->url)) != 0) {
        err = nng_fail(why, rv, "bad server address", o->url);
        goto fail;
    }
    if (tls && (err = tls_setup(c, o, why)) != CRM_OK)
        goto fail;
    /* Synchronous: the first connection, handshake included, is made (or
     * has failed) when this returns. */
    if ((rv = nng_dialer_start(c->dialer, 0)) != 0) {
        err = tls && (rv == NNG_EPEERAUTH || rv == NNG_ECRYPTO)
                  ? handshake_fail(why, rv, o)
                  : nng_fail(why, rv, "cannot connect to", o->url);
        goto fail;
    }
    *out = c;
    return CRM_OK;
fail:
    crm_client_close(c);
    return err;
}

void
crm_client_close(crm_client *c)
{
    if (c == NULL)
        return;
    /* A half-built client may have no socket yet; closing the socket
     * closes its dialer too, which drops the dialer's hold on c->tls. */
    if (nng_socket_id(c->sock) > 0)
        nng_close(c->sock);
    if (c->reply)
        nng_msg_free(c->reply);
    if (c->tls)
        nng_tls_config_free(c->tls);
    msgpack_zone_destroy(&c->zone);
    free(c->key);
    free(c->tenant);
    free(c);
}

/* Appends with doubling capacity: NNG grows a message only by what is
 * asked, so packing a large request piece by piece would copy it over and
 * over. */
static int
msg_write(void *data, const char *buf, size_t len)
{
    nng_msg *m = data;
    size_t have = nng_msg_len(m), cap = nng_msg_capacity(m);
    if (have + len > cap &&
        nng_msg_reserve(m, have + len > 2 * cap ? have + len : 2 * cap) != 0)
        return -1;
    return nng_msg_append(m, buf, len) == 0 ? 0 : -1;
}

static crm_err
roundtrip(crm_client *c, nng_msg *req, crm_error *why)
{
    int rv;
    if (c->reply) {
        nng_msg_free(c->reply);
        c->reply = NULL;
    }
    msgpack_zone_clear(&c->zone);
    /* The server's transport drops a larger message with the connection
     * and no reply; say so here instead of waiting for the timeout. */
    if (nng_msg_len(req) > CRM_RPC_HARD_MAX) {
        size_t n = nng_msg_len(req);
        nng_msg_free(req);
        return crm_error_set(why, CRM_ERR_TOO_LARGE,
                             "request of %zu bytes is over the %u-byte limit",
                             n, CRM_RPC_HARD_MAX);
    }
    if ((rv = nng_sendmsg(c->sock, req, 0)) != 0) {
        nng_msg_free(req);
        return nng_fail(why, rv, "send", NULL);
    }
    if ((rv = nng_recvmsg(c->sock, &c->reply, 0)) != 0)
        return nng_fail(why, rv, "no reply", NULL);
    return CRM_OK;
}

static crm_err
call(crm_client *c, const char *op, crm_client_args_fn fn, void *arg,
     const void *raw, size_t rawlen, const msgpack_object **result,
     crm_error *why)
{
    nng_msg *req;
    msgpack_packer pk;
    crm_err err;

    *result = NULL;
    if (nng_msg_alloc(&req, 0) != 0)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    if (nng_msg_reserve(req, 512 + rawlen) != 0) {
        nng_msg_free(req);
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    }
    msgpack_packer_init(&pk, req, msg_write);
    uint64_t id = c->next_id++;
    int rc = crm_rpc_pack_request_head(&pk, id, op, c->tenant, c->key);
    if (fn)
        rc |= fn(&pk, arg);
    else if (raw && rawlen)
        rc |= nng_msg_append(req, raw, rawlen);
    else
        rc |= msgpack_pack_map(&pk, 0);
    if (rc != 0) {
        nng_msg_free(req);
        return crm_error_set(why, CRM_ERR_NOMEM, "cannot build request");
    }
    if ((err = roundtrip(c, req, why)) != CRM_OK)
        return err;

    const char *body = nng_msg_body(c->reply);
    size_t len = nng_msg_len(c->reply), off = 0;
    msgpack_object root;
    if (crm_mpcheck(body, len, CRM_MP_MAX_DEPTH, why) != CRM_OK ||
        msgpack_unpack(body, len, &off, &c->zone, &root) !=
            MSGPACK_UNPACK_SUCCESS)
        return crm_error_set(why, CRM_ERR_BAD_VERSION,
                             "reply is not valid msgpack");
    uint64_t rid;
    if ((err = crm_rpc_parse_reply(&root, &rid, result, why)) != CRM_OK)
        return err;
    if (rid != id)
        return crm_error_set(why, CRM_ERR_INTERNAL,
                             "reply id %llu answers another request (%llu)",
                             (unsigned long long)rid, (unsigned long long)id);
    return CRM_OK;
}

crm_err
crm_client_call(crm_client *c, const char *op, crm_client_args_fn fn, void *arg,
                const msgpack_object **result, crm_error *why)
{
    return call(c, op, fn, arg, NULL, 0, result, why);
}

crm_err
crm_client_call_raw(crm_client *c, const char *op, const void *args, size_t len,
                    const msgpack_object **result, crm_error *why)
{
    return call(c, op, NULL, NULL, args, len, result, why);
}

crm_err
crm_client_send_bytes(crm_client *c, const void *buf, size_t len,
                      const void **reply, size_t *reply_len, crm_error *why)
{
    nng_msg *req;
    if (nng_msg_alloc(&req, len) != 0)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    if (len)
        memcpy(nng_msg_body(req), buf, len);
    crm_err err = roundtrip(c, req, why);
    if (err != CRM_OK)
        return err;
    *reply = nng_msg_body(c->reply);
    *reply_len = nng_msg_len(c->reply);
    return CRM_OK;
}
