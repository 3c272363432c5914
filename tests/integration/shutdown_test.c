/* shutdown_test.c - SIGTERM under load: crmd drains and exits cleanly, and
 * after a restart every append it acknowledged is in the log at the
 * position it reported. Then the same under SIGKILL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crmd_fixture.h"
#include "rpc.h"
#include "uuid.h"

#define WRITERS 4
#define PER_BATCH 10
#define MAX_ACKED 200000

typedef struct acked {
    uint8_t id[CRM_ID_LEN];
    uint64_t position;
} acked;

typedef struct writer {
    const fx_crmd *d;
    const char *key;
    int n;
    volatile int *stop;
    acked *ok;
    size_t nok;
    int calls, failures;
} writer;

typedef struct batch_arg {
    crm_event_in ev[PER_BATCH];
} batch_arg;

static int
pack_batch(msgpack_packer *pk, void *arg)
{
    batch_arg *b = arg;
    int rc = msgpack_pack_map(pk, 1);
    rc |= crm_mp_pack_cstr(pk, "events") | msgpack_pack_array(pk, PER_BATCH);
    for (int i = 0; i < PER_BATCH; i++)
        rc |= crm_rpc_pack_event(pk, &b->ev[i]);
    return rc;
}

static pthread_mutex_t fx_mu = PTHREAD_MUTEX_INITIALIZER;

static void *
writer_main(void *arg)
{
    writer *w = arg;
    crm_client *c;
    crm_error why;
    crm_client_opts o = {.url = w->d->url, .key = w->key, .timeout_ms = 3000};
    char streams[PER_BATCH][32];
    if (crm_client_open(&o, &c, &why) != CRM_OK)
        return NULL;
    const msgpack_object *body;
    pthread_mutex_lock(&fx_mu);
    body = FX_BODY(FX_I("amount", 1999), FX_S("currency", "EUR"),
                   FX_S("category", "fnb"));
    pthread_mutex_unlock(&fx_mu);
    while (!*w->stop) {
        batch_arg b;
        for (int i = 0; i < PER_BATCH; i++) {
            snprintf(streams[i], sizeof(streams[i]), "w%d-g%d", w->n,
                     (w->calls * PER_BATCH + i) % 50);
            crm_uuid_v7(b.ev[i].id);
            b.ev[i].stream = streams[i];
            b.ev[i].stream_len = strlen(streams[i]);
            b.ev[i].type = "spend.recorded";
            b.ev[i].type_len = strlen(b.ev[i].type);
            b.ev[i].occurred_at = 1767225600000000 + w->calls;
            b.ev[i].body = body;
        }
        const msgpack_object *res;
        w->calls++;
        if (crm_client_call(c, "append", pack_batch, &b, &res, &why) != CRM_OK) {
            w->failures++;
            if (why.code == CRM_ERR_TIMEOUT || why.code == CRM_ERR_UNAVAILABLE)
                break; /* the server is gone */
            continue;
        }
        const msgpack_object *pos = crm_mp_get(res, "positions");
        for (int i = 0; i < PER_BATCH && w->nok < MAX_ACKED; i++) {
            memcpy(w->ok[w->nok].id, b.ev[i].id, CRM_ID_LEN);
            w->ok[w->nok].position = pos->via.array.ptr[i].via.u64;
            w->nok++;
        }
    }
    crm_client_close(c);
    return NULL;
}

static int
cmp_pos(const void *a, const void *b)
{
    uint64_t x = ((const acked *)a)->position, y = ((const acked *)b)->position;
    return (x > y) - (x < y);
}

/* Reads the whole log and checks every acknowledged event is at its
 * position; returns the head. */
static uint64_t
check_acked(fx_crmd *d, const char *key, writer *w, int nw)
{
    crm_client *c = fx_client(d, d->url, key);
    size_t total = 0;
    for (int k = 0; k < nw; k++)
        total += w[k].nok;
    acked *all = calloc(total ? total : 1, sizeof(*all));
    for (int k = 0, at = 0; k < nw; k++)
        for (size_t j = 0; j < w[k].nok; j++)
            all[at++] = w[k].ok[j];
    qsort(all, total, sizeof(*all), cmp_pos);
    uint64_t found = 0, head = 0, from = 1;
    for (;;) {
        msgpack_sbuffer sb;
        fx_kv a[] = {FX_I("from", (int64_t)from), FX_I("max", 1000)};
        fx_pack(a, 2, &sb);
        const msgpack_object *res;
        crm_error why;
        crm_err err = crm_client_call_raw(c, "read.all", sb.data, sb.size, &res, &why);
        msgpack_sbuffer_destroy(&sb);
        assert_int_equal(err, CRM_OK);
        head = fx_res_u64(res, "head");
        const msgpack_object *evs = crm_mp_get(res, "events");
        if (evs->via.array.size == 0)
            break;
        for (uint32_t i = 0; i < evs->via.array.size; i++) {
            const msgpack_object *e = &evs->via.array.ptr[i];
            uint64_t pos = fx_res_u64(e, "position");
            assert_int_equal(pos, from + i); /* dense */
            const msgpack_object *id = crm_mp_get(e, "id");
            acked want = {.position = pos};
            const acked *hit = bsearch(&want, all, total, sizeof(*all), cmp_pos);
            if (hit) {
                assert_memory_equal(hit->id, id->via.bin.ptr, CRM_ID_LEN);
                found++;
            }
        }
        from = fx_res_u64(res, "next");
    }
    crm_client_close(c);
    free(all);
    assert_int_equal(found, total);
    return head;
}

static void
run(int sig)
{
    fx_crmd d;
    char keys[CRM_ROLE__COUNT][128];
    assert_int_equal(fx_crmd_start(&d, 0, NULL), 0);
    assert_int_equal(fx_tenant(&d, "drain", keys), 0);

    volatile int stop = 0;
    writer w[WRITERS];
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer){.d = &d, .key = keys[CRM_ROLE_AGENT], .n = i,
                        .stop = &stop, .ok = calloc(MAX_ACKED, sizeof(acked))};
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    }
    usleep(800000);
    int status = fx_crmd_stop(&d, sig);
    stop = 1;
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    size_t acked_total = 0;
    for (int i = 0; i < WRITERS; i++)
        acked_total += w[i].nok;
    printf("signal %d: exit status %d, %zu events acknowledged\n", sig, status,
           acked_total);
    assert_true(acked_total > 0);
    if (sig == SIGTERM) {
        assert_int_equal(status, 0); /* drained and exited cleanly */
        char *log = fx_crmd_log(&d);
        assert_non_null(strstr(log, "msg=\"draining\""));
        assert_non_null(strstr(log, "msg=\"stopped\""));
        free(log);
    }

    assert_int_equal(fx_crmd_restart(&d), 0);
    uint64_t head = check_acked(&d, keys[CRM_ROLE_ADMIN], w, WRITERS);
    assert_true(head >= acked_total);
    for (int i = 0; i < WRITERS; i++)
        free(w[i].ok);
    fx_crmd_cleanup(&d);
    fx_reset();
}

static void
test_sigterm_under_load(void **state)
{
    (void)state;
    run(SIGTERM);
}

static void
test_sigkill_under_load(void **state)
{
    (void)state;
    run(SIGKILL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_under_load),
        cmocka_unit_test(test_sigkill_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
