/* import_test.c - an export file made a new tenant of another crmd's data
 * directory (crmd --import): the same chain head, verified there, and
 * after its projections are built the same figures for a guest; sealed
 * personal fields stay sealed (an export carries no keys), plain ones
 * come along into a tenant without keys. Refused, leaving no tenant: a
 * tampered file, a tenant that exists, sealed records into a data
 * directory without a master key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "crmd_fixture.h"
#include "rpc.h"

#define TENANT "imp-hotel"

/* Loads guest g-1..g-3 with a registration, two stays and spend. */
static void
load(fx_crmd *d, char keys[][128])
{
    assert_int_equal(fx_tenant(d, TENANT, keys), 0);
    crm_client *c = fx_client(d, d->url, keys[CRM_ROLE_AGENT]);
    crm_event_in ev[12];
    size_t n = 0;
    static const char *const ids[] = {"g-1", "g-2", "g-3"};
    for (int i = 0; i < 3; i++) {
        fx_event(&ev[n++], ids[i], "customer.registered",
                 FX_BODY(FX_S("first_name", "Isaura"),
                         FX_S("last_name", "Vendramin"),
                         FX_S("email", "isaura@import.example")));
        fx_event(&ev[n++], ids[i], "stay.checked_out",
                 FX_BODY(FX_S("stay_id", "S1"), FX_S("property", "lisbon"),
                         FX_I("nights", 2 + i)));
        fx_event(&ev[n++], ids[i], "stay.checked_out",
                 FX_BODY(FX_S("stay_id", "S2"), FX_S("property", "porto"),
                         FX_I("nights", 1)));
        fx_event(&ev[n++], ids[i], "spend.recorded",
                 FX_BODY(FX_I("amount", 4500 + i), FX_S("currency", "EUR"),
                         FX_S("category", "spa")));
    }
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(fx_append(c, ev, n, &res, &why), CRM_OK);
    crm_client_close(c);
    fx_reset();
}

/* crmctl audit export of d's tenant into path. */
static void
export_to(const fx_crmd *d, char keys[][128], const char *path)
{
    char cmd[2400];
    snprintf(cmd, sizeof(cmd),
             "rm -f '%s' && CRM_URL='%s' CRM_KEY='%s' '%s' audit export "
             "--out '%s'",
             path, d->url, keys[CRM_ROLE_AUDITOR], CRM_CRMCTL_PATH, path);
    assert_int_equal(system(cmd), 0);
}

/* crmd --import path into d's (stopped) data directory; exit status. */
static int
import(const fx_crmd *d, const char *path, int sealed)
{
    char cmd[3000];
    snprintf(cmd, sizeof(cmd), "'%s' --data '%s/data' %s%s%s --import '%s'",
             CRM_CRMD_PATH, d->dir, sealed ? "--master-key '" : "",
             sealed ? d->master_key : "--no-encryption", sealed ? "'" : "",
             path);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

typedef struct figures {
    uint64_t head, stays, nights, spend;
    char first[64];
} figures;

static void
figures_of(const fx_crmd *d, const char *key, figures *f)
{
    crm_client *c = fx_client(d, d->url, key);
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(fx_call_kv(c, "audit.verify", NULL, 0, &res, &why),
                     CRM_OK);
    const msgpack_object *ok = crm_mp_get(res, "ok");
    assert_true(ok && ok->via.boolean);
    f->head = fx_res_u64(res, "to");
    fx_reset();
    fx_kv kv[] = {FX_S("customer", "g-2")};
    assert_int_equal(fx_call_kv(c, "customer.get", kv, 1, &res, &why), CRM_OK);
    const msgpack_object *life = crm_mp_get(res, "lifetime");
    assert_non_null(life);
    f->stays = fx_res_u64(life, "stays");
    f->nights = fx_res_u64(life, "nights");
    const msgpack_object *sp = crm_mp_get(life, "spend");
    f->spend = sp ? fx_res_u64(sp, "amount") : 0;
    const msgpack_object *p = crm_mp_get(res, "profile");
    f->first[0] = '\0';
    if (p && p->type == MSGPACK_OBJECT_MAP)
        fx_res_str(p, "first_name", f->first, sizeof(f->first));
    crm_client_close(c);
    fx_reset();
}

static void
round_trip(int sealed)
{
    static const char *const plain[] = {"--no-encryption", NULL};
    const char *const *extra = sealed ? NULL : plain;
    fx_crmd a, b;
    char ka[CRM_ROLE__COUNT][128], kb[CRM_ROLE__COUNT][128], path[700];
    assert_int_equal(fx_crmd_start(&a, 0, extra), 0);
    load(&a, ka);
    figures fa, fb;
    figures_of(&a, ka[CRM_ROLE_ADMIN], &fa);
    assert_int_equal(fa.nights, 4);
    snprintf(path, sizeof(path), "%s/export.crmx", a.dir);
    export_to(&a, ka, path);
    assert_int_equal(fx_crmd_stop_clean(&a), 0);

    assert_int_equal(fx_crmd_start(&b, 0, extra), 0);
    assert_int_equal(fx_crmd_stop_clean(&b), 0);
    assert_int_equal(import(&b, path, sealed), 0);
    /* the same tenant again is refused */
    assert_int_equal(import(&b, path, sealed), 1);
    assert_int_equal(fx_crmd_restart(&b), 0);
    assert_int_equal(fx_tenant_keys(&b, TENANT, kb), 0);
    figures_of(&b, kb[CRM_ROLE_ADMIN], &fb);
    assert_int_equal(fb.head, fa.head);
    assert_int_equal(fb.stays, fa.stays);
    assert_int_equal(fb.nights, fa.nights);
    assert_int_equal(fb.spend, fa.spend);
    if (sealed) /* no key here opens the source's sealed fields */
        assert_string_equal(fb.first, "");
    else
        assert_string_equal(fb.first, "Isaura");
    assert_int_equal(fx_crmd_stop_clean(&b), 0);
    fx_crmd_cleanup(&b);
    fx_crmd_cleanup(&a);
}

static void
test_sealed(void **state)
{
    (void)state;
    round_trip(1);
}

static void
test_unsealed(void **state)
{
    (void)state;
    round_trip(0);
}

static void
test_refused(void **state)
{
    (void)state;
    fx_crmd a, b;
    char ka[CRM_ROLE__COUNT][128], path[700], bad[700];
    assert_int_equal(fx_crmd_start(&a, 0, NULL), 0);
    load(&a, ka);
    snprintf(path, sizeof(path), "%s/export.crmx", a.dir);
    export_to(&a, ka, path);
    assert_int_equal(fx_crmd_stop_clean(&a), 0);
    /* a byte of a record changed */
    snprintf(bad, sizeof(bad), "%s/bad.crmx", a.dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    char *at = memmem(buf, n, "porto", 5);
    assert_non_null(at);
    at[0] = 'P';
    f = fopen(bad, "wb");
    assert_non_null(f);
    fwrite(buf, 1, n, f);
    fclose(f);

    static const char *const plain[] = {"--no-encryption", NULL};
    assert_int_equal(fx_crmd_start(&b, 0, plain), 0);
    assert_int_equal(fx_crmd_stop_clean(&b), 0);
    /* sealed records into a directory without keys */
    assert_int_equal(import(&b, path, 0), 1);
    fx_crmd s;
    assert_int_equal(fx_crmd_start(&s, 0, NULL), 0);
    assert_int_equal(fx_crmd_stop_clean(&s), 0);
    /* tampered: the record's hash tells */
    assert_int_equal(import(&s, bad, 1), 1);
    /* and no tenant came of either */
    fx_crmd *both[] = {&b, &s};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fx_crmd_restart(both[i]), 0);
        crm_client *op = fx_client(both[i], both[i]->url,
                                   both[i]->operator_key);
        const msgpack_object *res;
        crm_error why;
        assert_int_equal(fx_call_kv(op, "tenant.list", NULL, 0, &res, &why),
                         CRM_OK);
        assert_int_equal(crm_mp_get(res, "tenants")->via.array.size, 0);
        crm_client_close(op);
        fx_reset();
        assert_int_equal(fx_crmd_stop_clean(both[i]), 0);
        fx_crmd_cleanup(both[i]);
    }
    fx_crmd_cleanup(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sealed),
        cmocka_unit_test(test_unsealed),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
