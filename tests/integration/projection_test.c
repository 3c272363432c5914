/* projection_test.c - tenant settings as events (settings.set/get) and
 * projection.rebuild, end to end against a real crmd: settings by day
 * and by position, every refusal writing nothing, the reserved stream,
 * idempotent retries, rebuilds identical to the inline state while
 * appends go on, settings across a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crmd_fixture.h"
#include "json.h"
#include "rpc.h"
#include "uuid.h"

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];
static const char *const flags[] = {"--projections", "settings,counts", NULL};

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 0, flags) != 0 || fx_tenant(&D, "acme", K) != 0)
        return -1;
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    int rc = fx_crmd_stop_clean(&D);
    fx_crmd_cleanup(&D);
    fx_reset();
    return rc;
}

/* Calls op with args written as JSON. */
static crm_err
call_json(crm_client *c, const char *op, const char *json,
          const msgpack_object **res, crm_error *why)
{
    json_error_t jerr;
    json_t *j = json_loads(json, 0, &jerr);
    if (j == NULL)
        fail_msg("bad JSON in test: %s: %s", json, jerr.text);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(ctl_json_pack(&pk, j), 0);
    json_decref(j);
    crm_err err = crm_client_call_raw(c, op, sb.data, sb.size, res, why);
    msgpack_sbuffer_destroy(&sb);
    return err;
}

/* A fresh event id as JSON text. */
static const char *
new_id(char out[CRM_UUID_STRLEN + 1])
{
    uint8_t id[16];
    crm_uuid_v7(id);
    crm_uuid_format(id, out);
    return out;
}

static uint64_t
head_of(crm_client *c)
{
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(call_json(c, "read.all", "{\"from\": 1, \"max\": 1}",
                               &res, &why),
                     CRM_OK);
    return fx_res_u64(res, "head");
}

static int64_t
int_of(const msgpack_object *m, const char *k)
{
    int64_t v;
    const msgpack_object *o = crm_mp_get(m, k);
    assert_non_null(o);
    assert_int_equal(crm_mp_int(o, INT64_MIN, INT64_MAX, &v), 0);
    return v;
}

/* The entry of array arr (in map res) whose member key equals val. */
static const msgpack_object *
entry(const msgpack_object *res, const char *arr, const char *key,
      const char *val)
{
    const msgpack_object *a = crm_mp_get(res, arr);
    assert_non_null(a);
    for (uint32_t i = 0; i < a->via.array.size; i++) {
        char buf[64];
        if (strcmp(fx_res_str(&a->via.array.ptr[i], key, buf, sizeof(buf)),
                   val) == 0)
            return &a->via.array.ptr[i];
    }
    return NULL;
}

static void
test_defaults_without_any_change(void **state)
{
    (void)state;
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    const msgpack_object *res;
    crm_error why;
    char buf[64];
    assert_int_equal(call_json(c, "settings.get", "{\"on\": \"2020-01-01\"}",
                               &res, &why),
                     CRM_OK);
    assert_string_equal(fx_res_str(res, "base_currency", buf, sizeof(buf)),
                        "EUR");
    assert_int_equal(int_of(res, "dormant_days"), 180);
    assert_int_equal(int_of(res, "changes"), 0);
    assert_non_null(entry(res, "tiers", "tier", "silver"));
    assert_string_equal(fx_res_str(res, "on", buf, sizeof(buf)), "2020-01-01");
    crm_client_close(c);
}

static void
test_changes_apply_from_their_day(void **state)
{
    (void)state;
    crm_client *a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    crm_client *g = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    const msgpack_object *res;
    crm_error why;
    char buf[64];
    uint64_t before = head_of(a);
    assert_int_equal(
        call_json(a, "settings.set",
                  "{\"effective_from\": \"2026-06-01\", \"dormant_days\": 90,"
                  " \"country_code\": \"351\", \"reason\": \"summer rules\","
                  " \"rates\": {\"USD\": \"0.92\", \"GBP\": \"1.17\"},"
                  " \"tiers\": [{\"tier\": \"platinum\", \"rank\": 3,"
                  "   \"min_nights\": 50, \"bonus_points\": 2000}],"
                  " \"earn\": [{\"tier\": \"any\", \"category\": \"room\","
                  "   \"points_per_unit\": \"12.5\"},"
                  "  {\"tier\": \"platinum\", \"category\": \"any\","
                  "   \"points_per_unit\": \"20\"}]}",
                  &res, &why),
        CRM_OK);
    /* one settings event, two rates, one tier, two earn rules */
    assert_int_equal(crm_mp_get(res, "positions")->via.array.size, 6);
    uint64_t after = fx_res_u64(res, "head");
    assert_int_equal(after, before + 6);

    /* the day before: as it was */
    assert_int_equal(call_json(g, "settings.get", "{\"on\": \"2026-05-31\"}",
                               &res, &why),
                     CRM_OK);
    assert_int_equal(int_of(res, "dormant_days"), 180);
    assert_null(entry(res, "rates", "currency", "USD"));
    assert_null(entry(res, "tiers", "tier", "platinum"));
    /* from the day on */
    assert_int_equal(call_json(g, "settings.get", "{\"on\": \"2026-06-01\"}",
                               &res, &why),
                     CRM_OK);
    assert_int_equal(int_of(res, "dormant_days"), 90);
    assert_string_equal(fx_res_str(res, "country_code", buf, sizeof(buf)),
                        "351");
    const msgpack_object *usd = entry(res, "rates", "currency", "USD");
    assert_non_null(usd);
    assert_string_equal(fx_res_str(usd, "rate", buf, sizeof(buf)), "0.92");
    assert_string_equal(fx_res_str(usd, "from", buf, sizeof(buf)),
                        "2026-06-01");
    const msgpack_object *pt = entry(res, "tiers", "tier", "platinum");
    assert_non_null(pt);
    assert_int_equal(int_of(pt, "min_nights"), 50);
    const msgpack_object *room = entry(res, "earn", "category", "room");
    assert_non_null(room);
    assert_string_equal(fx_res_str(room, "points_per_unit", buf, sizeof(buf)),
                        "12.5");
    assert_int_equal(int_of(res, "changes"), 6);
    assert_int_equal(fx_res_u64(res, "last_change"), after);
    /* as known before the change, even for a later day */
    snprintf(buf, sizeof(buf), "{\"on\": \"2027-01-01\", \"as_of\": %llu}",
             (unsigned long long)before);
    assert_int_equal(call_json(g, "settings.get", buf, &res, &why), CRM_OK);
    assert_int_equal(int_of(res, "dormant_days"), 180);
    assert_int_equal(fx_res_u64(res, "as_of"), before);

    /* a later change for an earlier day wins on that day only from the
     * position it was recorded at */
    assert_int_equal(call_json(a, "settings.set",
                               "{\"effective_from\": \"2026-07-01\","
                               " \"rates\": {\"USD\": \"0.9\"}}",
                               &res, &why),
                     CRM_OK);
    assert_int_equal(call_json(g, "settings.get", "{\"on\": \"2026-06-15\"}",
                               &res, &why),
                     CRM_OK);
    usd = entry(res, "rates", "currency", "USD");
    assert_string_equal(fx_res_str(usd, "rate", buf, sizeof(buf)), "0.92");
    assert_int_equal(call_json(g, "settings.get", "{\"on\": \"2026-07-02\"}",
                               &res, &why),
                     CRM_OK);
    usd = entry(res, "rates", "currency", "USD");
    assert_string_equal(fx_res_str(usd, "rate", buf, sizeof(buf)), "0.9");
    crm_client_close(a);
    crm_client_close(g);
}

static void
test_refusals_write_nothing(void **state)
{
    (void)state;
    crm_client *a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    crm_client *g = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    static const struct {
        const char *args;
        crm_err want;
        const char *says;
    } cases[] = {
        {"{}", CRM_ERR_BAD_REQUEST, "changes nothing"},
        {"{\"reason\": \"nothing else\"}", CRM_ERR_BAD_REQUEST,
         "changes nothing"},
        {"{\"dormant\": 10}", CRM_ERR_BAD_REQUEST, "no argument 'dormant'"},
        {"{\"effective_from\": \"2026-02-30\", \"dormant_days\": 10}",
         CRM_ERR_BAD_REQUEST, "effective_from"},
        {"{\"dormant_days\": 0}", CRM_ERR_BAD_FIELD, "dormant_days"},
        {"{\"base_currency\": \"eur\"}", CRM_ERR_BAD_FIELD, "base_currency"},
        {"{\"country_code\": \"+44\"}", CRM_ERR_BAD_FIELD, "country_code"},
        {"{\"rates\": {\"USD\": \"abc\"}}", CRM_ERR_BAD_FIELD, "rates.USD"},
        {"{\"rates\": {\"USD\": 0.92}}", CRM_ERR_BAD_FIELD, "rates.USD"},
        {"{\"rates\": {\"USD\": \"0\"}}", CRM_ERR_BAD_FIELD, "above 0"},
        {"{\"rates\": {\"EUR\": \"1\"}}", CRM_ERR_BAD_FIELD, "base currency"},
        {"{\"rates\": [\"USD\"]}", CRM_ERR_BAD_REQUEST, "rates"},
        {"{\"tiers\": [{\"tier\": \"bronze\", \"rank\": 1}]}",
         CRM_ERR_BAD_FIELD, "same rank"},
        {"{\"tiers\": [{\"tier\": \"base\", \"rank\": 0}]}", CRM_ERR_BAD_FIELD,
         "rank 0"},
        {"{\"tiers\": [{\"tier\": \"ordinary\", \"retired\": true, "
         "\"rank\": 0}]}",
         CRM_ERR_BAD_FIELD, "rank 0"},
        {"{\"tiers\": [{\"rank\": 5}]}", CRM_ERR_MISSING_FIELD, "tiers[0]"},
        {"{\"tiers\": [{\"tier\": \"x\", \"rank\": 5, \"colour\": 1}]}",
         CRM_ERR_UNKNOWN_FIELD, "colour"},
        {"{\"tiers\": [{\"tier\": \"x\", \"rank\": 5, "
         "\"effective_from\": \"2026-01-01\"}]}",
         CRM_ERR_BAD_REQUEST, "effective_from"},
        {"{\"earn\": [{\"tier\": \"diamond\", \"category\": \"room\", "
         "\"points_per_unit\": \"1\"}]}",
         CRM_ERR_BAD_FIELD, "diamond"},
        {"{\"earn\": [{\"tier\": \"any\", \"category\": \"casino\", "
         "\"points_per_unit\": \"1\"}]}",
         CRM_ERR_BAD_FIELD, "earn[0]"},
        {"{\"id\": \"not-a-uuid\", \"dormant_days\": 10}",
         CRM_ERR_BAD_REQUEST, "UUID"},
    };
    uint64_t before = head_of(a);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const msgpack_object *res;
        crm_error why;
        crm_err err = call_json(a, "settings.set", cases[i].args, &res, &why);
        if (err != cases[i].want || strstr(why.msg, cases[i].says) == NULL)
            fail_msg("%s: got %s \"%s\", want %s with \"%s\"", cases[i].args,
                     crm_err_name(err), why.msg, crm_err_name(cases[i].want),
                     cases[i].says);
    }
    /* only an admin changes settings */
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(call_json(g, "settings.set", "{\"dormant_days\": 10}",
                               &res, &why),
                     CRM_ERR_FORBIDDEN);
    /* and nobody appends to the tenant's stream or its types */
    static const char *const appends[] = {
        "{\"events\": [{\"id\": \"0190a5c4-2222-7000-8000-000000000001\", \"occurred_at\": 1, \"stream\": \"$tenant\", \"type\": "
        "\"tenant.settings_changed\", \"body\": {\"effective_from\": "
        "\"2026-01-01\", \"dormant_days\": 1}}]}",
        "{\"events\": [{\"id\": \"0190a5c4-2222-7000-8000-000000000001\", \"occurred_at\": 1, \"stream\": \"$tenant\", \"type\": "
        "\"interaction.logged\", \"body\": {\"channel\": \"call\"}}]}",
        "{\"events\": [{\"id\": \"0190a5c4-2222-7000-8000-000000000001\", \"occurred_at\": 1, \"stream\": \"guest-1\", \"type\": "
        "\"tenant.rate_set\", \"body\": {\"currency\": \"USD\", \"rate\": "
        "\"1\", \"effective_from\": \"2026-01-01\"}}]}",
    };
    for (size_t i = 0; i < 3; i++) {
        crm_err err = call_json(a, "append", appends[i], &res, &why);
        if (err != CRM_ERR_FORBIDDEN)
            fail_msg("%s: got %s \"%s\"", appends[i], crm_err_name(err),
                     why.msg);
    }
    assert_int_equal(head_of(a), before);
    crm_client_close(a);
    crm_client_close(g);
}

static void
test_retry_with_an_id_is_idempotent(void **state)
{
    (void)state;
    crm_client *a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    const char *args = "{\"id\": \"0190a5c4-1111-7000-8000-00000000abcd\","
                       " \"effective_from\": \"2026-09-01\","
                       " \"complaint_sla_hours\": 24,"
                       " \"rates\": {\"CHF\": \"1.05\"}}";
    assert_int_equal(call_json(a, "settings.set", args, &res, &why), CRM_OK);
    assert_int_equal(fx_res_u64(res, "duplicates"), 0);
    uint64_t head = fx_res_u64(res, "head");
    assert_int_equal(call_json(a, "settings.set", args, &res, &why), CRM_OK);
    assert_int_equal(fx_res_u64(res, "duplicates"), 2);
    assert_int_equal(head_of(a), head);
    crm_client_close(a);
}

/* --- rebuilds -------------------------------------------------------------- */

static void
append_guests(crm_client *c, int from, int n)
{
    char *json = malloc(250 * 100 + 64);
    char id[CRM_UUID_STRLEN + 1];
    for (int b = 0; b < n; b += 100) {
        size_t len = (size_t)sprintf(json, "{\"events\": [");
        for (int i = b; i < b + 100 && i < n; i++)
            len += (size_t)sprintf(
                json + len,
                "%s{\"id\": \"%s\", \"stream\": \"guest-%d\", "
                "\"type\": \"interaction.logged\", \"occurred_at\": "
                "1780000000000000, \"body\": {\"channel\": \"%s\"}}",
                i > b ? "," : "", new_id(id), (from + i) % 300,
                (i % 3) ? "call" : "email");
        strcpy(json + len, "]}");
        const msgpack_object *res;
        crm_error why;
        crm_err err = call_json(c, "append", json, &res, &why);
        if (err != CRM_OK)
            fail_msg("append: %s %s", crm_err_name(err), why.msg);
    }
    free(json);
}

static void
check_rebuilt(const msgpack_object *res, const char *name, uint64_t min_events)
{
    const msgpack_object *p = entry(res, "projections", "name", name);
    assert_non_null(p);
    const msgpack_object *same = crm_mp_get(p, "identical");
    assert_non_null(same);
    if (!same->via.boolean) {
        char diff[200];
        fail_msg("%s rebuilt differently: %s", name,
                 fx_res_str(p, "diff", diff, sizeof(diff)));
    }
    assert_true(fx_res_u64(p, "events") >= min_events);
}

static void
test_rebuild_equals_inline(void **state)
{
    (void)state;
    crm_client *a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    append_guests(a, 0, 3000);
    uint64_t head = head_of(a);
    assert_int_equal(call_json(a, "projection.rebuild", "{}", &res, &why),
                     CRM_OK);
    assert_int_equal(crm_mp_get(res, "projections")->via.array.size, 2);
    check_rebuilt(res, "settings", head);
    check_rebuilt(res, "counts", head);
    assert_int_equal(fx_res_u64(entry(res, "projections", "name", "counts"),
                                "position"),
                     head);
    /* one by name */
    assert_int_equal(call_json(a, "projection.rebuild",
                               "{\"projection\": \"counts\"}", &res, &why),
                     CRM_OK);
    assert_int_equal(crm_mp_get(res, "projections")->via.array.size, 1);
    check_rebuilt(res, "counts", head);
    /* the rebuilt settings answer as before */
    assert_int_equal(call_json(a, "settings.get", "{\"on\": \"2026-06-01\"}",
                               &res, &why),
                     CRM_OK);
    assert_int_equal(int_of(res, "dormant_days"), 90);
    /* unknown name, wrong role */
    assert_int_equal(call_json(a, "projection.rebuild",
                               "{\"projection\": \"nope\"}", &res, &why),
                     CRM_ERR_NOT_FOUND);
    crm_client *g = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    assert_int_equal(call_json(g, "projection.rebuild", "{}", &res, &why),
                     CRM_ERR_FORBIDDEN);
    crm_client_close(g);
    crm_client_close(a);
}

typedef struct writer_arg {
    atomic_int stop;
    int rounds;
} writer_arg;

static void *
writer_main(void *arg)
{
    writer_arg *w = arg;
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    while (!atomic_load(&w->stop)) {
        append_guests(c, w->rounds * 7, 200);
        w->rounds++;
    }
    crm_client_close(c);
    return NULL;
}

static void
test_rebuild_while_appending(void **state)
{
    (void)state;
    crm_client *a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    append_guests(a, 0, 20000);
    writer_arg w = {0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
    const msgpack_object *res;
    crm_error why;
    for (int i = 0; i < 3; i++) {
        crm_err err = call_json(a, "projection.rebuild", "{}", &res, &why);
        if (err != CRM_OK)
            fail_msg("rebuild: %s %s", crm_err_name(err), why.msg);
        check_rebuilt(res, "counts", 20000);
        check_rebuilt(res, "settings", 20000);
    }
    atomic_store(&w.stop, 1);
    pthread_join(t, NULL);
    assert_true(w.rounds > 0);
    /* and once more, quiet: still identical, at the head */
    uint64_t head = head_of(a);
    assert_int_equal(call_json(a, "projection.rebuild", "{}", &res, &why),
                     CRM_OK);
    check_rebuilt(res, "counts", head);
    crm_client_close(a);
}

static void
test_settings_survive_a_restart(void **state)
{
    (void)state;
    assert_int_equal(fx_crmd_stop(&D, SIGTERM), 0);
    assert_int_equal(fx_crmd_restart(&D), 0);
    crm_client *g = fx_client(&D, D.url, K[CRM_ROLE_FINANCE]);
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(call_json(g, "settings.get", "{\"on\": \"2026-09-02\"}",
                               &res, &why),
                     CRM_OK);
    assert_int_equal(int_of(res, "complaint_sla_hours"), 24);
    assert_int_equal(int_of(res, "dormant_days"), 90);
    assert_non_null(entry(res, "rates", "currency", "CHF"));
    crm_client_close(g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_without_any_change),
        cmocka_unit_test(test_changes_apply_from_their_day),
        cmocka_unit_test(test_refusals_write_nothing),
        cmocka_unit_test(test_retry_with_an_id_is_idempotent),
        cmocka_unit_test(test_rebuild_equals_inline),
        cmocka_unit_test(test_rebuild_while_appending),
        cmocka_unit_test(test_settings_survive_a_restart),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
