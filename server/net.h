/*
 * net.h - crmd's RPC front: one NNG rep0 socket listening on every
 * configured tcp://, ipc:// and tls+tcp:// address, a fixed set of rep
 * contexts driven by aio callbacks, authentication and dispatch.
 *
 * Requests are served on NNG's callback threads: reads run there directly
 * against LMDB read transactions; appends are handed to the tenant's
 * group-commit writer and answered from its callback once durable.
 */
#ifndef CRM_NET_H
#define CRM_NET_H

#include "config.h"
#include "err.h"

typedef struct crm_server crm_server;

/* Opens the data directory, makes sure an operator key exists (writing a
 * new one to cfg->operator_key_file), starts listeners and the metrics
 * endpoint. cfg must outlive the server. */
crm_err crm_server_start(const crm_config *cfg, crm_server **out,
                         crm_error *why);

/* Stops taking new requests and waits (up to timeout_ms) until every
 * request in flight has been answered; appends already queued are
 * committed first. Returns the number of requests still unanswered. */
int crm_server_drain(crm_server *s, int timeout_ms);

/* Closes sockets, the store (every acknowledged write is durable before
 * this returns) and frees the server. Accepts NULL. */
void crm_server_free(crm_server *s);

/* Housekeeping, from a timer every second: idle tenant logs checkpoint
 * their stream heads. */
void crm_server_tick(crm_server *s);

/* SIGHUP: re-reads API keys from the registry. */
crm_err crm_server_reload(crm_server *s, crm_error *why);

#endif
