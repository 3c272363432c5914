/*
 * metrics.h - request counters and latency histograms, tenant storage
 * figures, and the HTTP endpoint that serves them (/metrics in Prometheus
 * text format, /healthz).
 *
 * Recording is lock-free (relaxed atomics): it sits on every request.
 */
#ifndef CRM_METRICS_H
#define CRM_METRICS_H

#include <msgpack.h>
#include <stdint.h>

#include "err.h"
#include "ops.h"
#include "store.h"

typedef struct crm_metrics crm_metrics;

crm_metrics *crm_metrics_new(crm_store *store);
void crm_metrics_free(crm_metrics *m);

/* One finished request: op (CRM_OP__COUNT when the request was too broken
 * to name one), outcome and latency in microseconds. */
void crm_metrics_request(crm_metrics *m, crm_op op, crm_err outcome,
                         double us);

/* Prometheus text exposition of everything, appended to out. */
void crm_metrics_render(crm_metrics *m, msgpack_sbuffer *out);

/* The same figures as a msgpack map for the `metrics` op; tenant limits
 * the tenants shown (NULL: all). */
int crm_metrics_pack(crm_metrics *m, msgpack_packer *pk, const char *tenant);

/* Serves /metrics and /healthz on url ("http://127.0.0.1:7401"). */
crm_err crm_metrics_http_start(crm_metrics *m, const char *url,
                               crm_error *why);
void crm_metrics_http_stop(crm_metrics *m);

/* Whether /healthz answers 200 (set false while draining). */
void crm_metrics_set_healthy(crm_metrics *m, int healthy);

#endif
