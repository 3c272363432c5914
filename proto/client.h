/*
 * client.h - libcrmclient: a small synchronous client for crmd.
 *
 * One crm_client is one NNG req0 socket and is used by one thread at a
 * time (open one per thread for concurrency). The dialer reconnects by
 * itself if the server restarts. Every tool and the integration tests use
 * this library.
 *
 *   crm_client *c;
 *   crm_client_opts o = {.url = "tcp://127.0.0.1:7400", .key = token};
 *   if (crm_client_open(&o, &c, &why) == CRM_OK &&
 *       crm_client_call(c, "ping", NULL, NULL, &result, &why) == CRM_OK)
 *       ...
 *   crm_client_close(c);
 */
#ifndef CRM_CLIENT_H
#define CRM_CLIENT_H

#include <msgpack.h>
#include <stddef.h>

#include "err.h"
#include "event.h"

typedef struct crm_client crm_client;

typedef struct crm_client_opts {
    const char *url;    /* tcp://, ipc:// or tls+tcp:// */
    const char *key;    /* API key token; NULL for none */
    const char *tenant; /* optional: the envelope's tenant */
    /* tls+tcp: the CA certificate (PEM file) the server's certificate must
     * chain to. Required unless tls_insecure. */
    const char *tls_ca;
    /* tls+tcp: the name the server's certificate must carry; NULL: the
     * URL's host. */
    const char *tls_server_name;
    /* tls+tcp: nonzero skips verifying the server's certificate (no CA
     * needed, tls_ca ignored). The link is encrypted but anyone in the
     * path can pose as the server: for tests and trusted networks only. */
    int tls_insecure;
    int timeout_ms; /* per call; 0 = 10000 */
} crm_client_opts;

/* Connects; for tls+tcp also completes the handshake and verifies the
 * server's certificate against tls_ca and the server name. Errors:
 * CRM_ERR_UNAVAILABLE (nothing listens there), CRM_ERR_TIMEOUT,
 * CRM_ERR_BAD_REQUEST (bad URL, tls+tcp without tls_ca or tls_insecure, an
 * unreadable CA file, or a server certificate that fails verification),
 * CRM_ERR_NOMEM. Strings in opts are copied; *out is NULL on failure. */
crm_err crm_client_open(const crm_client_opts *opts, crm_client **out,
                        crm_error *why);
/* Closes the socket and frees c. Accepts NULL. */
void crm_client_close(crm_client *c);

/* Packs the args map of a call. */
typedef int (*crm_client_args_fn)(msgpack_packer *pk, void *arg);

/* Calls op with args from fn (NULL: an empty map). On CRM_OK *result is
 * the reply's result, valid until the next call on c. On error why holds
 * the server's (or the transport's) message. CRM_ERR_TIMEOUT when no reply
 * came in time. */
crm_err crm_client_call(crm_client *c, const char *op, crm_client_args_fn fn,
                        void *arg, const msgpack_object **result,
                        crm_error *why);

/* Same with args already packed as msgpack bytes (a map, or len 0). */
crm_err crm_client_call_raw(crm_client *c, const char *op, const void *args,
                            size_t len, const msgpack_object **result,
                            crm_error *why);

/* Sends bytes as they are and returns the raw reply (for tests of the
 * server's handling of malformed requests). *reply is valid until the
 * next call. */
crm_err crm_client_send_bytes(crm_client *c, const void *buf, size_t len,
                              const void **reply, size_t *reply_len,
                              crm_error *why);

#endif
