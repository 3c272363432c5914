/* net_int.h - structures net.c shares with the op handlers (handlers.c). */
#ifndef CRM_NET_INT_H
#define CRM_NET_INT_H

#include <msgpack.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "vault.h"
#include "net.h"
#include "ops.h"
#include "rpc.h"
#include "store.h"

typedef struct rpc_ctx rpc_ctx;

struct crm_server {
    const crm_config *cfg;
    crm_store *store;
    crm_keys *keys;
    crm_metrics *metrics;
    uint8_t master_key[CRM_KEY_LEN]; /* when cfg names one */
    nng_socket sock;
    int sock_open;
    nng_tls_config *tls;
    rpc_ctx *ctxs;
    int nctx;
    int64_t started;

    _Atomic uint64_t next_rid; /* server-side request ids (log req=) */

    pthread_mutex_t mu; /* draining, context states, waiters */
    pthread_cond_t cv;
    int draining;
    int stopped;      /* contexts that will take no more requests */
    rpc_ctx *waiters; /* parked read.all long-polls */
    int nparked;      /* length of waiters */
    int park_max;     /* cap on nparked: the rest stay free for others */
};

typedef enum ctx_state {
    CTX_RECV,    /* waiting for a request */
    CTX_BUSY,    /* handling one (possibly parked or appending) */
    CTX_SEND,    /* reply on its way */
    CTX_STOPPED, /* draining: takes no more requests */
} ctx_state;

struct rpc_ctx {
    crm_server *srv;
    nng_ctx ctx;
    /* Receive and send have an aio each, so draining can cancel a pending
     * receive without ever hitting a reply that is on its way. */
    nng_aio *recv_aio;
    nng_aio *send_aio;
    nng_aio *timer; /* long-poll */
    ctx_state state;
    uint64_t rid; /* server-side request id: req= in log lines */
    nng_msg *req, *rep;
    msgpack_zone zone;    /* the request's objects */
    msgpack_zone scratch; /* records decoded while packing a reply */
    msgpack_packer pk;    /* writes into rep */
    int oom;              /* a write into rep failed */
    crm_rpc_req env;
    crm_key_info key;
    int has_key;
    const crm_op_info *op;
    crm_log *log; /* caller tenant's log, for tenant ops */
    double t0;

    crm_batch *batch; /* append in flight */
    /* which of its events the server added (h_derive_earned): NULL when
     * none, else one flag per event, in the request's zone */
    const uint8_t *derived;
    /* the append's reply is packed and sent on an NNG thread, not the
     * log writer's: append_done only notes the head and wakes this */
    nng_aio *reply_aio;
    uint64_t ack_head;
    /* projection.rebuild runs on a thread of its own (h_settings.c) */
    pthread_t job;
    int job_running;
    crm_log *job_log;
    char job_proj[32];
    uint32_t job_day; /* loyalty.sweep: the day it decides for */
    void *job_arg;    /* customer.erase: its job (h_erase.c), freed by the next
                         or with the context */
    int parked, resumed;
    uint64_t wait_from;
    rpc_ctx *wnext;
};

/* One op invocation: the request itself or one entry of a batch. */
typedef struct rpc_call {
    rpc_ctx *c;
    const crm_op_info *op;
    const msgpack_object *args; /* map or NULL */
    crm_log *log;               /* set for CRM_OPF_TENANT ops */
    int in_batch;
} rpc_call;

typedef enum rpc_flow { RPC_DONE, RPC_DEFERRED } rpc_flow;

/* Packs the result (RPC_DONE, CRM_OK), returns an error having packed
 * nothing that matters (the caller discards it), or takes over the reply
 * (RPC_DEFERRED) and later calls net_finish. */
typedef crm_err (*rpc_handler)(rpc_call *call, msgpack_packer *pk,
                               crm_error *why, rpc_flow *flow);

/* Indexed by crm_op; every entry is set (checked at start-up). */
extern const rpc_handler crm_handlers[CRM_OP__COUNT];

/* Checks that the caller may run op and finds its tenant log. */
crm_err net_authorize(rpc_ctx *c, const crm_op_info *op, crm_log **log,
                      crm_error *why);

/* Completes a deferred request: on error the reply is replaced by an error
 * reply; then metrics, the log line and the send. Any thread. */
void net_finish(rpc_ctx *c, crm_err err, const crm_error *why);

/* Parks a read.all until the tenant head passes from or wait_ms pass;
 * then the handler runs again, on an NNG thread, with c->resumed set (and
 * must then answer without parking). The caller returns RPC_DEFERRED.
 *
 * At most srv->park_max contexts (contexts / 2) are parked at once, so
 * long-polls cannot take every context from other callers. Past the cap,
 * or while draining, the request is not parked: the handler runs again at
 * once with c->resumed set, as if wait_ms were 0. The handler needs no
 * check of its own. Any thread; takes srv->mu. */
void net_park(rpc_ctx *c, uint64_t from, int wait_ms);

/* reply_aio's callback (handlers.c): packs and sends an append's reply
 * on an NNG thread once the writer has acknowledged its batch. */
void net_append_reply_cb(void *arg);

/* Waits for the context's rebuild thread, if it ever ran one. */
void net_job_join(rpc_ctx *c);

/* msgpack_packer write callback appending to the context's reply; a
 * failure marks the reply so it is replaced by a no_memory error. */
int net_msg_write(void *data, const char *buf, size_t len);

#endif
