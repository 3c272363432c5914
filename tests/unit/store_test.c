/* store_test.c - the data directory: tenant registry and per-tenant logs
 * on real files, kept apart from each other and across reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "fixture.h"
#include "record.h"
#include "store.h"

typedef struct ctx {
    char dir[512];
    char data[600]; /* a not yet existing directory below dir */
    crm_store *store;
} ctx;

static int
setup(void **state)
{
    static ctx c;
    crm_error why;
    fx_tmpdir(c.dir, sizeof(c.dir), "store");
    snprintf(c.data, sizeof(c.data), "%s/a/b/data", c.dir);
    if (crm_store_open(c.data, NULL, &c.store, &why) != CRM_OK) {
        fprintf(stderr, "open: %s\n", why.msg);
        return -1;
    }
    *state = &c;
    return 0;
}

static int
teardown(void **state)
{
    ctx *c = *state;
    crm_store_close(c->store);
    fx_rmrf(c->dir);
    fx_reset();
    return 0;
}

static int
is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static uint64_t
head(crm_log *log)
{
    uint64_t pos = 99;
    crm_log_head(log, &pos, NULL);
    return pos;
}

/* Appends n spend events to one stream of log. */
static void
append_spend(crm_log *log, const char *stream, int n)
{
    for (int i = 0; i < n; i++) {
        crm_event_in ev;
        crm_batch *b;
        crm_error why;
        fx_event(&ev, stream, "spend.recorded",
                 FX_BODY(FX_I("amount", 100 + i), FX_S("currency", "EUR"),
                         FX_S("category", "room")));
        assert_int_equal(
            crm_batch_prepare(&ev, 1, NULL, 0, "key-1", 5, &b, &why), CRM_OK);
        if (crm_log_append(log, b, &why) != CRM_OK)
            fail_msg("append: %s", why.msg);
        crm_batch_free(b);
    }
}

typedef struct seen {
    const char *tenant;
    const char *stream;
    size_t n;
} seen;

/* Every record must belong to the expected tenant and stream. */
static int
check_visit(void *arg, uint64_t position, const uint8_t *rec, size_t len)
{
    seen *s = arg;
    msgpack_zone *z = msgpack_zone_new(1024);
    crm_record r;
    assert_int_equal(crm_record_decode(rec, len, z, &r, NULL), CRM_OK);
    assert_int_equal(r.h.position, position);
    assert_int_equal(r.h.tenant_len, strlen(s->tenant));
    assert_memory_equal(r.h.tenant, s->tenant, r.h.tenant_len);
    assert_int_equal(r.stream_len, strlen(s->stream));
    assert_memory_equal(r.stream, s->stream, r.stream_len);
    s->n++;
    msgpack_zone_free(z);
    return 0;
}

static void
test_open_creates_dirs(void **state)
{
    ctx *c = *state;
    char p[700];
    assert_true(is_dir(c->data));
    snprintf(p, sizeof(p), "%s/registry", c->data);
    assert_true(is_dir(p));
    snprintf(p, sizeof(p), "%s/tenants", c->data);
    assert_true(is_dir(p));
    struct stat st;
    assert_int_equal(stat(c->data, &st), 0);
    assert_int_equal(st.st_mode & 077, 0); /* 0700: nobody else reads */

    /* an empty store lists nothing */
    crm_tenant_info *list = (crm_tenant_info *)1;
    size_t n = 99;
    assert_int_equal(crm_store_tenant_list(c->store, &list, &n, NULL), CRM_OK);
    assert_int_equal(n, 0);
    free(list);

    /* a data directory that is a file */
    snprintf(p, sizeof(p), "%s/plain", c->dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    crm_store *s = (crm_store *)1;
    crm_error why;
    crm_err err = crm_store_open(p, NULL, &s, &why);
    assert_int_not_equal(err, CRM_OK);
    assert_null(s);
    crm_store_close(NULL);
}

static void
test_create_list_log(void **state)
{
    ctx *c = *state;
    crm_error why;
    int64_t before = crm_now_us();
    assert_int_equal(crm_store_tenant_create(c->store, "zeta-travel", &why),
                     CRM_OK);
    assert_int_equal(crm_store_tenant_create(c->store, "acme-hotels", &why),
                     CRM_OK);
    assert_int_equal(crm_store_tenant_create(c->store, "0", &why), CRM_OK);
    int64_t after = crm_now_us();
    char p[700];
    snprintf(p, sizeof(p), "%s/tenants/acme-hotels", c->data);
    assert_true(is_dir(p));

    crm_tenant_info *list;
    size_t n;
    assert_int_equal(crm_store_tenant_list(c->store, &list, &n, &why), CRM_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].id, "0");
    assert_string_equal(list[1].id, "acme-hotels");
    assert_string_equal(list[2].id, "zeta-travel");
    for (size_t i = 0; i < n; i++) {
        assert_true(list[i].created_at >= before);
        assert_true(list[i].created_at <= after);
    }
    free(list);

    crm_log *log, *again;
    assert_int_equal(crm_store_tenant_log(c->store, "acme-hotels", &log, &why),
                     CRM_OK);
    assert_non_null(log);
    assert_string_equal(crm_log_tenant(log), "acme-hotels");
    assert_int_equal(head(log), 0);
    assert_int_equal(
        crm_store_tenant_log(c->store, "acme-hotels", &again, &why), CRM_OK);
    assert_ptr_equal(log, again);
}

static void
test_create_twice(void **state)
{
    ctx *c = *state;
    crm_error why;
    assert_int_equal(crm_store_tenant_create(c->store, "acme", &why), CRM_OK);
    crm_log *log;
    assert_int_equal(crm_store_tenant_log(c->store, "acme", &log, &why),
                     CRM_OK);
    append_spend(log, "g-1", 2);
    assert_int_equal(crm_store_tenant_create(c->store, "acme", &why),
                     CRM_ERR_EXISTS);
    assert_int_equal(why.code, CRM_ERR_EXISTS);
    assert_non_null(strstr(why.msg, "acme"));
    /* the refused create touched nothing */
    assert_int_equal(head(log), 2);
    crm_tenant_info *list;
    size_t n;
    assert_int_equal(crm_store_tenant_list(c->store, &list, &n, &why), CRM_OK);
    assert_int_equal(n, 1);
    free(list);
}

static void
test_invalid_ids(void **state)
{
    ctx *c = *state;
    char id41[42], id40[41];
    memset(id41, 'a', 41);
    id41[41] = '\0';
    memset(id40, 'a', 40);
    id40[40] = '\0';
    const char *bad[] = {"Acme",        "ACME",   "",    id41,  "a/b",
                         "..",          ".",      "a b", "a_b", "acme\n",
                         "caf\xc3\xa9", "../etc", "a.b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        crm_error why;
        assert_false(crm_tenant_id_valid(bad[i]));
        if (crm_store_tenant_create(c->store, bad[i], &why) !=
            CRM_ERR_BAD_REQUEST)
            fail_msg("created tenant '%s'", bad[i]);
        assert_int_equal(why.code, CRM_ERR_BAD_REQUEST);
        crm_log *log = (crm_log *)1;
        assert_int_equal(crm_store_tenant_log(c->store, bad[i], &log, &why),
                         CRM_ERR_NOT_FOUND);
        assert_null(log);
    }
    assert_true(crm_tenant_id_valid(id40));
    assert_true(crm_tenant_id_valid("a-0-z"));
    assert_true(crm_tenant_id_valid("-"));
    crm_error why;
    assert_int_equal(crm_store_tenant_create(c->store, id40, &why), CRM_OK);

    /* nothing was created outside tenants/ */
    char p[700];
    snprintf(p, sizeof(p), "%s/a/b/etc", c->dir);
    assert_false(is_dir(p));
    crm_tenant_info *list;
    size_t n;
    assert_int_equal(crm_store_tenant_list(c->store, &list, &n, &why), CRM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, id40);
    free(list);
}

static void
test_unknown_tenant(void **state)
{
    ctx *c = *state;
    crm_error why;
    crm_log *log = (crm_log *)1;
    assert_int_equal(crm_store_tenant_log(c->store, "nobody", &log, &why),
                     CRM_ERR_NOT_FOUND);
    assert_null(log);
    assert_non_null(strstr(why.msg, "nobody"));
    /* and asking did not create it */
    char p[700];
    snprintf(p, sizeof(p), "%s/tenants/nobody", c->data);
    assert_false(is_dir(p));
    assert_int_equal(crm_store_tenant_create(c->store, "nobody", &why), CRM_OK);
}

static void
test_tenants_independent(void **state)
{
    ctx *c = *state;
    crm_error why;
    crm_log *a, *b;
    assert_int_equal(crm_store_tenant_create(c->store, "alpha", &why), CRM_OK);
    assert_int_equal(crm_store_tenant_create(c->store, "beta", &why), CRM_OK);
    assert_int_equal(crm_store_tenant_log(c->store, "alpha", &a, &why), CRM_OK);
    assert_int_equal(crm_store_tenant_log(c->store, "beta", &b, &why), CRM_OK);
    assert_ptr_not_equal(a, b);

    append_spend(a, "guest-1", 3);
    assert_int_equal(head(a), 3);
    assert_int_equal(head(b), 0);
    uint64_t v, p;
    assert_int_equal(crm_log_stream_info(b, "guest-1", 7, &v, &p),
                     CRM_ERR_NOT_FOUND);

    /* the same stream id in the other tenant starts at version 0 and
     * position 1 */
    append_spend(b, "guest-1", 1);
    assert_int_equal(crm_log_stream_info(b, "guest-1", 7, &v, &p), CRM_OK);
    assert_int_equal(v, 0);
    assert_int_equal(p, 1);
    assert_int_equal(crm_log_stream_info(a, "guest-1", 7, &v, &p), CRM_OK);
    assert_int_equal(v, 2);
    assert_int_equal(p, 3);

    /* genesis hashes differ: one tenant's chain cannot pass as another's */
    uint8_t ga[CRM_HASH_LEN], gb[CRM_HASH_LEN];
    crm_log_genesis(a, ga);
    crm_log_genesis(b, gb);
    assert_memory_not_equal(ga, gb, CRM_HASH_LEN);

    seen sa = {"alpha", "guest-1", 0}, sb = {"beta", "guest-1", 0};
    assert_int_equal(crm_log_read_all(a, 1, 0, check_visit, &sa), CRM_OK);
    assert_int_equal(crm_log_read_all(b, 1, 0, check_visit, &sb), CRM_OK);
    assert_int_equal(sa.n, 3);
    assert_int_equal(sb.n, 1);
    assert_int_equal(crm_log_verify(a, NULL, &why), CRM_OK);
    assert_int_equal(crm_log_verify(b, NULL, &why), CRM_OK);
}

static void
test_reopen(void **state)
{
    ctx *c = *state;
    crm_error why;
    crm_log *log;
    assert_int_equal(crm_store_tenant_create(c->store, "keep", &why), CRM_OK);
    assert_int_equal(crm_store_tenant_create(c->store, "empty", &why), CRM_OK);
    assert_int_equal(crm_store_tenant_log(c->store, "keep", &log, &why),
                     CRM_OK);
    append_spend(log, "guest-r", 5);
    uint8_t h1[CRM_HASH_LEN];
    uint64_t p1;
    crm_log_head(log, &p1, h1);
    crm_tenant_info *list1;
    size_t n1;
    assert_int_equal(crm_store_tenant_list(c->store, &list1, &n1, &why),
                     CRM_OK);

    crm_store_close(c->store);
    c->store = NULL;
    assert_int_equal(crm_store_open(c->data, NULL, &c->store, &why), CRM_OK);

    crm_tenant_info *list2;
    size_t n2;
    assert_int_equal(crm_store_tenant_list(c->store, &list2, &n2, &why),
                     CRM_OK);
    assert_int_equal(n2, n1);
    assert_int_equal(n2, 2);
    for (size_t i = 0; i < n2; i++) {
        assert_string_equal(list1[i].id, list2[i].id);
        assert_int_equal(list1[i].created_at, list2[i].created_at);
    }
    free(list1);
    free(list2);

    assert_int_equal(crm_store_tenant_create(c->store, "keep", &why),
                     CRM_ERR_EXISTS);
    assert_int_equal(crm_store_tenant_log(c->store, "keep", &log, &why),
                     CRM_OK);
    uint8_t h2[CRM_HASH_LEN];
    uint64_t p2;
    crm_log_head(log, &p2, h2);
    assert_int_equal(p2, p1);
    assert_int_equal(p2, 5);
    assert_memory_equal(h1, h2, CRM_HASH_LEN);
    seen s = {"keep", "guest-r", 0};
    assert_int_equal(crm_log_read_all(log, 1, 0, check_visit, &s), CRM_OK);
    assert_int_equal(s.n, 5);
    assert_int_equal(crm_log_verify(log, NULL, &why), CRM_OK);
    /* and it keeps appending where it was */
    append_spend(log, "guest-r", 1);
    uint64_t v, p;
    assert_int_equal(crm_log_stream_info(log, "guest-r", 7, &v, &p), CRM_OK);
    assert_int_equal(v, 5);
    assert_int_equal(p, 6);

    crm_log *empty;
    assert_int_equal(crm_store_tenant_log(c->store, "empty", &empty, &why),
                     CRM_OK);
    assert_int_equal(head(empty), 0);
}

/* A log left behind by a crash between its creation and the registry
 * entry is adopted by the next create of the same id. */
static void
test_adopt_unregistered_log(void **state)
{
    ctx *c = *state;
    crm_error why;
    char p[700];
    crm_log *log;
    snprintf(p, sizeof(p), "%s/tenants/orphan", c->data);
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(crm_log_open(p, "orphan", NULL, &log, &why), CRM_OK);
    crm_log_close(log);

    assert_int_equal(crm_store_tenant_log(c->store, "orphan", &log, &why),
                     CRM_ERR_NOT_FOUND);
    assert_int_equal(crm_store_tenant_create(c->store, "orphan", &why), CRM_OK);
    assert_int_equal(crm_store_tenant_log(c->store, "orphan", &log, &why),
                     CRM_OK);
    assert_int_equal(head(log), 0);
}

typedef struct racer {
    crm_store *store;
    crm_err err;
} racer;

static void *
race_create(void *arg)
{
    racer *r = arg;
    r->err = crm_store_tenant_create(r->store, "contested", NULL);
    return NULL;
}

static void
test_concurrent_create(void **state)
{
    ctx *c = *state;
    enum { N = 8 };
    pthread_t th[N];
    racer r[N];
    for (int i = 0; i < N; i++) {
        r[i].store = c->store;
        assert_int_equal(pthread_create(&th[i], NULL, race_create, &r[i]), 0);
    }
    int ok = 0, exists = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += r[i].err == CRM_OK;
        exists += r[i].err == CRM_ERR_EXISTS;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(exists, N - 1);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_creates_dirs),
        T(test_create_list_log),
        T(test_create_twice),
        T(test_invalid_ids),
        T(test_unknown_tenant),
        T(test_tenants_independent),
        T(test_reopen),
        T(test_adopt_unregistered_log),
        T(test_concurrent_create),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
