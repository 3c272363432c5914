/* guest_test.c - what the loyalty desk does, end to end against a real
 * crmd over NNG: points a stay, a spend and a complaint's compensation
 * earn (added by the server in the same batch, idempotent on retry, by
 * the rate of the day), refused redemptions writing nothing, a retried
 * redemption counted once, and eight agents redeeming against one
 * balance at once without ever overdrawing it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "crmd_fixture.h"
#include "rpc.h"
#include "uuid.h"

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 0, NULL) != 0 || fx_tenant(&D, "riviera", K) != 0)
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

static crm_client *
agent(void)
{
    return fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
}

static int64_t
res_i64(const msgpack_object *m, const char *k)
{
    int64_t v;
    if (crm_mp_int(crm_mp_get(m, k), INT64_MIN, INT64_MAX, &v) != 0)
        fail_msg("reply has no integer '%s'", k);
    return v;
}

static int64_t
balance_of(crm_client *c, const char *guest)
{
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {FX_S("customer", guest)};
    crm_err err = fx_call_kv(c, "loyalty.get", kv, 1, &res, &why);
    if (err == CRM_ERR_NOT_FOUND)
        return 0;
    if (err != CRM_OK)
        fail_msg("loyalty.get %s: %s", guest, why.msg);
    return res_i64(res, "balance");
}

static uint64_t
head_of(crm_client *c)
{
    const msgpack_object *res;
    crm_error why;
    fx_kv a[] = {FX_I("from", 1), FX_I("max", 1)};
    assert_int_equal(fx_call_kv(c, "read.all", a, 2, &res, &why), CRM_OK);
    return fx_res_u64(res, "head");
}

static void
test_stay_spend_and_compensation_earn(void **state)
{
    (void)state;
    crm_client *c = agent();
    const msgpack_object *res;
    crm_error why;
    crm_event_in ev[3];
    fx_event(&ev[0], "g-earn", "customer.registered",
             FX_BODY(FX_S("first_name", "Ines"), FX_S("last_name", "Sousa")));
    fx_event(&ev[1], "g-earn", "stay.checked_out",
             FX_BODY(FX_S("stay_id", "ST-1"), FX_S("property", "nice-port"),
                     FX_I("nights", 2), FX_I("amount", 25000),
                     FX_S("currency", "EUR")));
    fx_event(&ev[2], "g-earn", "interaction.logged",
             FX_BODY(FX_S("channel", "call")));
    assert_int_equal(fx_append(c, ev, 3, &res, &why), CRM_OK);
    /* one position per event sent; the points come as derived */
    assert_int_equal(crm_mp_get(res, "positions")->via.array.size, 3);
    const msgpack_object *der = crm_mp_get(res, "derived");
    assert_non_null(der);
    assert_int_equal(der->via.array.size, 1);
    assert_int_equal(res_i64(&der->via.array.ptr[0], "after"), 1);
    assert_int_equal(res_i64(&der->via.array.ptr[0], "version"), 2);
    assert_int_equal(fx_res_u64(res, "head"),
                     (uint64_t)res_i64(&der->via.array.ptr[0], "position") + 1);
    /* 250.00 EUR at 10 points per euro */
    assert_int_equal(balance_of(c, "g-earn"), 2500);

    /* the same batch again: every event, the derived one included, is
     * answered as stored, and nothing is earned twice */
    uint64_t head = head_of(c);
    assert_int_equal(fx_append(c, ev, 3, &res, &why), CRM_OK);
    assert_int_equal(fx_res_u64(res, "duplicates"), 3);
    der = crm_mp_get(res, "derived");
    assert_true(crm_mp_get(&der->via.array.ptr[0], "duplicate")->via.boolean);
    assert_int_equal(head_of(c), head);
    assert_int_equal(balance_of(c, "g-earn"), 2500);

    /* and again after the guest changed tier: the points of a gold guest
     * would be other ones, but the retry is answered with those stored */
    crm_event_in up;
    fx_event(&up, "g-earn", "loyalty.tier_changed",
             FX_BODY(FX_S("to", "gold"), FX_S("from", "ordinary")));
    assert_int_equal(fx_append(c, &up, 1, &res, &why), CRM_OK);
    head = head_of(c);
    crm_err err = fx_append(c, ev, 3, &res, &why);
    if (err != CRM_OK)
        fail_msg("retry after a tier change: %s: %s", crm_err_name(err),
                 why.msg);
    assert_int_equal(fx_res_u64(res, "duplicates"), 3);
    der = crm_mp_get(res, "derived");
    assert_true(crm_mp_get(&der->via.array.ptr[0], "duplicate")->via.boolean);
    assert_int_equal(head_of(c), head);
    assert_int_equal(balance_of(c, "g-earn"), 2500);
    fx_reset();


    /* a currency without a rate earns nothing; with one, at its rate */
    crm_event_in sp;
    fx_event(&sp, "g-earn", "spend.recorded",
             FX_BODY(FX_I("amount", 10000), FX_S("currency", "USD"),
                     FX_S("category", "spa")));
    assert_int_equal(fx_append(c, &sp, 1, &res, &why), CRM_OK);
    assert_null(crm_mp_get(res, "derived"));
    crm_client *adm = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    crm_mp_pack_cstr(&pk, "effective_from");
    crm_mp_pack_cstr(&pk, "2000-01-01");
    crm_mp_pack_cstr(&pk, "rates");
    msgpack_pack_map(&pk, 1);
    crm_mp_pack_cstr(&pk, "USD");
    crm_mp_pack_cstr(&pk, "0.9");
    assert_int_equal(crm_client_call_raw(adm, "settings.set", sb.data, sb.size,
                                         &res, &why),
                     CRM_OK);
    msgpack_sbuffer_destroy(&sb);
    crm_client_close(adm);
    fx_event(&sp, "g-earn", "spend.recorded",
             FX_BODY(FX_I("amount", 10000), FX_S("currency", "USD"),
                     FX_S("category", "spa")));
    assert_int_equal(fx_append(c, &sp, 1, &res, &why), CRM_OK);
    assert_non_null(crm_mp_get(res, "derived"));
    /* 100 USD = 90 EUR: 900 points */
    assert_int_equal(balance_of(c, "g-earn"), 3400);

    crm_event_in cp;
    fx_event(&cp, "g-earn", "complaint.resolved",
             FX_BODY(FX_S("complaint_id", "C-1"),
                     FX_I("compensation_points", 300)));
    assert_int_equal(fx_append(c, &cp, 1, &res, &why), CRM_OK);
    assert_int_equal(balance_of(c, "g-earn"), 3700);

    /* the ledger says where each came from */
    fx_kv kv[] = {FX_S("customer", "g-earn")};
    assert_int_equal(fx_call_kv(c, "loyalty.get", kv, 1, &res, &why), CRM_OK);
    const msgpack_object *ledger = crm_mp_get(res, "ledger");
    assert_int_equal(ledger->via.array.size, 3);
    assert_int_equal(res_i64(&ledger->via.array.ptr[0], "points"), 300);
    assert_int_equal(res_i64(&ledger->via.array.ptr[2], "points"), 2500);
    crm_client_close(c);
    fx_reset();
}

static void
fund(crm_client *c, const char *guest, int64_t points)
{
    const msgpack_object *res;
    crm_error why;
    crm_event_in e;
    fx_event(&e, guest, "loyalty.points_earned",
             FX_BODY(FX_I("points", points), FX_S("reason", "welcome")));
    assert_int_equal(fx_append(c, &e, 1, &res, &why), CRM_OK);
    fx_reset();
}

static void
test_refused_redemption_writes_nothing(void **state)
{
    (void)state;
    crm_client *c = agent();
    const msgpack_object *res;
    crm_error why;
    fund(c, "g-refuse", 400);
    uint64_t head = head_of(c);
    fx_kv too_much[] = {FX_S("customer", "g-refuse"), FX_I("points", 401)};
    assert_int_equal(fx_call_kv(c, "loyalty.redeem", too_much, 2, &res, &why),
                     CRM_ERR_INSUFFICIENT_POINTS);
    assert_non_null(strstr(why.msg, "400 points available"));
    fx_kv nobody[] = {FX_S("customer", "g-nobody"), FX_I("points", 1)};
    assert_int_equal(fx_call_kv(c, "loyalty.redeem", nobody, 2, &res, &why),
                     CRM_ERR_INSUFFICIENT_POINTS);
    fx_kv zero[] = {FX_S("customer", "g-refuse"), FX_I("points", 0)};
    assert_int_equal(fx_call_kv(c, "loyalty.redeem", zero, 2, &res, &why),
                     CRM_ERR_BAD_REQUEST);
    assert_int_equal(head_of(c), head);
    assert_int_equal(balance_of(c, "g-refuse"), 400);

    /* the exact balance goes; a retry with the same id is the same
     * redemption, not a second one */
    char id[CRM_UUID_STRLEN + 1];
    uint8_t raw[16];
    crm_uuid_v7(raw);
    crm_uuid_format(raw, id);
    fx_kv all[] = {FX_S("customer", "g-refuse"), FX_I("points", 400),
                   FX_S("id", id)};
    assert_int_equal(fx_call_kv(c, "loyalty.redeem", all, 3, &res, &why),
                     CRM_OK);
    assert_int_equal(fx_res_u64(res, "duplicates"), 0);
    assert_int_equal(fx_call_kv(c, "loyalty.redeem", all, 3, &res, &why),
                     CRM_OK);
    assert_int_equal(fx_res_u64(res, "duplicates"), 1);
    assert_int_equal(balance_of(c, "g-refuse"), 0);
    /* marketing may not spend a guest's points */
    crm_client *m = fx_client(&D, D.url, K[CRM_ROLE_MARKETING]);
    assert_int_equal(fx_call_kv(m, "loyalty.redeem", all, 3, &res, &why),
                     CRM_ERR_FORBIDDEN);
    crm_client_close(m);
    crm_client_close(c);
    fx_reset();
}

#define REDEEMERS 8
#define FUNDS 5000
#define EACH 100

static atomic_int won, refused, failed;

static void *
redeemer(void *arg)
{
    (void)arg;
    crm_client *c = agent();
    for (;;) {
        const msgpack_object *res;
        crm_error why;
        fx_kv kv[] = {FX_S("customer", "g-race"), FX_I("points", EACH)};
        crm_err err = fx_call_kv(c, "loyalty.redeem", kv, 2, &res, &why);
        if (err == CRM_OK) {
            atomic_fetch_add(&won, 1);
        } else if (err == CRM_ERR_INSUFFICIENT_POINTS) {
            atomic_fetch_add(&refused, 1);
            break;
        } else {
            fprintf(stderr, "redeem: %s\n", why.msg);
            atomic_fetch_add(&failed, 1);
            break;
        }
    }
    crm_client_close(c);
    return NULL;
}

static void
test_eight_agents_never_overdraw(void **state)
{
    (void)state;
    crm_client *c = agent();
    fund(c, "g-race", FUNDS);
    pthread_t t[REDEEMERS];
    for (int i = 0; i < REDEEMERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, redeemer, NULL), 0);
    for (int i = 0; i < REDEEMERS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&failed), 0);
    assert_int_equal(atomic_load(&refused), REDEEMERS);
    assert_int_equal(atomic_load(&won), FUNDS / EACH);

    /* every success is one ledger line; the balance never went below 0 */
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {FX_S("customer", "g-race"), FX_I("ledger", 500)};
    assert_int_equal(fx_call_kv(c, "loyalty.get", kv, 2, &res, &why), CRM_OK);
    assert_int_equal(res_i64(res, "balance"), 0);
    assert_int_equal(res_i64(res, "redeemed"), FUNDS);
    const msgpack_object *ledger = crm_mp_get(res, "ledger");
    assert_int_equal(ledger->via.array.size, 1 + FUNDS / EACH);
    for (uint32_t i = 0; i < ledger->via.array.size; i++)
        assert_true(res_i64(&ledger->via.array.ptr[i], "balance") >= 0);
    crm_client_close(c);
    fx_reset();
}

static crm_err
sweep(crm_client *c, const char *on, const msgpack_object **res,
      crm_error *why)
{
    fx_kv kv[] = {FX_S("on", on)};
    return fx_call_kv(c, "loyalty.sweep", kv, 1, res, why);
}

static void
test_sweep_expires_and_changes_tiers(void **state)
{
    (void)state;
    crm_client *c = agent();
    crm_client *adm = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    /* 2025-01-10: 12 nights, 1,000 points expiring 2027-01-10 */
    crm_event_in ev[2];
    fx_event(&ev[0], "g-sweep", "stay.checked_out",
             FX_BODY(FX_S("stay_id", "ST-9"), FX_S("property", "nice-port"),
                     FX_I("nights", 12)));
    ev[0].occurred_at = 1736467200000000LL; /* 2025-01-10 */
    fx_event(&ev[1], "g-sweep", "loyalty.points_earned",
             FX_BODY(FX_I("points", 1000)));
    ev[1].occurred_at = 1736467200000000LL;
    assert_int_equal(fx_append(c, ev, 2, &res, &why), CRM_OK);
    fx_reset();

    /* the agent may not sweep */
    assert_int_equal(sweep(c, "2025-02-01", &res, &why), CRM_ERR_FORBIDDEN);
    /* a month later: 12 nights make silver, with its 500 bonus */
    crm_err err = sweep(adm, "2025-02-01", &res, &why);
    if (err != CRM_OK)
        fail_msg("sweep: %s", why.msg);
    assert_true(fx_res_u64(res, "tier_changes") >= 1);
    fx_kv kv[] = {FX_S("customer", "g-sweep"), FX_S("on", "2025-02-02")};
    assert_int_equal(fx_call_kv(c, "loyalty.get", kv, 2, &res, &why), CRM_OK);
    char s[64];
    assert_string_equal(fx_res_str(res, "tier", s, sizeof(s)), "silver");
    assert_int_equal(res_i64(res, "balance"), 1500);
    /* again the same day: nothing new */
    uint64_t head = head_of(c);
    assert_int_equal(sweep(adm, "2025-02-01", &res, &why), CRM_OK);
    assert_int_equal(head_of(c), head);

    /* 2027-01-11: the 1,000 lapsed, the bonus (earned 2025-02-01) is good
     * until 2027-02-01, and no nights are left in the window */
    assert_int_equal(sweep(adm, "2027-01-11", &res, &why), CRM_OK);
    assert_true(fx_res_u64(res, "expired") >= 1);
    fx_kv kv2[] = {FX_S("customer", "g-sweep"), FX_S("on", "2027-01-11")};
    assert_int_equal(fx_call_kv(c, "loyalty.get", kv2, 2, &res, &why), CRM_OK);
    assert_int_equal(res_i64(res, "balance"), 500);
    assert_int_equal(res_i64(res, "expired"), 1000);
    assert_int_equal(res_i64(res, "lapsed"), 0);
    assert_string_equal(fx_res_str(res, "tier", s, sizeof(s)), "ordinary");
    head = head_of(c);
    assert_int_equal(sweep(adm, "2027-01-11", &res, &why), CRM_OK);
    assert_int_equal(fx_res_u64(res, "events"), 0);
    assert_int_equal(head_of(c), head);
    crm_client_close(adm);
    crm_client_close(c);
    fx_reset();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stay_spend_and_compensation_earn),
        cmocka_unit_test(test_refused_redemption_writes_nothing),
        cmocka_unit_test(test_eight_agents_never_overdraw),
        cmocka_unit_test(test_sweep_expires_and_changes_tiers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
