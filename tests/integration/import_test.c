/* import_test.c - an export file made a new tenant of another crmd's data
 * directory (crmd --import): the same chain head, verified there, and
 * after its projections are built the same figures for a guest; sealed
 * personal fields stay sealed without the guests' keys, plain ones come
 * along into a tenant without keys. With the keys (crmctl audit export
 * --keys-passphrase-file), the imported tenant shows the same names and
 * finds the guests by e-mail; a guest erased before the export stays
 * erased. Refused, leaving no tenant: a tampered file, a tenant that
 * exists, sealed records into a data directory without a master key, a
 * wrong passphrase, keys without a passphrase, a changed key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* crmctl audit export of d's tenant into path: with the guests' keys
 * under the passphrase in file pass (an admin's call) unless NULL. */
static int
export_keys(const fx_crmd *d, char keys[][128], const char *path,
            const char *pass)
{
    char cmd[3400];
    snprintf(cmd, sizeof(cmd),
             "rm -f '%s' && CRM_URL='%s' CRM_KEY='%s' '%s' audit export "
             "--out '%s'%s%s%s",
             path, d->url, keys[pass ? CRM_ROLE_ADMIN : CRM_ROLE_AUDITOR],
             CRM_CRMCTL_PATH, path, pass ? " --keys-passphrase-file '" : "",
             pass ? pass : "", pass ? "'" : "");
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
export_to(const fx_crmd *d, char keys[][128], const char *path)
{
    assert_int_equal(export_keys(d, keys, path, NULL), 0);
}

/* crmd --import path into d's (stopped) data directory, with the
 * passphrase in file pass unless NULL; exit status. */
static int
import_keys(const fx_crmd *d, const char *path, int sealed, const char *pass)
{
    char cmd[3400];
    snprintf(cmd, sizeof(cmd),
             "'%s' --data '%s/data' --map-size-mb 1 %s%s%s --import '%s'%s%s%s",
             CRM_CRMD_PATH, d->dir, sealed ? "--master-key '" : "",
             sealed ? d->master_key : "--no-encryption", sealed ? "'" : "",
             path, pass ? " --keys-passphrase-file '" : "", pass ? pass : "",
             pass ? "'" : "");
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
import(const fx_crmd *d, const char *path, int sealed)
{
    return import_keys(d, path, sealed, NULL);
}

/* A passphrase file of mode mode in d's directory: its path in out. */
static void
passphrase(const fx_crmd *d, const char *name, const char *text, int mode,
           char *out, size_t len)
{
    snprintf(out, len, "%s/%s", d->dir, name);
    FILE *f = fopen(out, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", text);
    fclose(f);
    assert_int_equal(chmod(out, (mode_t)mode), 0);
}

/* The number of tenants d (stopped) has once started. */
static uint32_t
tenants_of(fx_crmd *d)
{
    assert_int_equal(fx_crmd_restart(d), 0);
    crm_client *op = fx_client(d, d->url, d->operator_key);
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(fx_call_kv(op, "tenant.list", NULL, 0, &res, &why),
                     CRM_OK);
    uint32_t n = crm_mp_get(res, "tenants")->via.array.size;
    crm_client_close(op);
    fx_reset();
    assert_int_equal(fx_crmd_stop_clean(d), 0);
    return n;
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

/* crm-audit verify --export path: its exit status, its output in out. */
static int
verify_export(const char *path, char *out, size_t len)
{
    char cmd[1600];
    snprintf(cmd, sizeof(cmd), "'%s' verify --export '%s' 2>&1", CRM_AUDIT_PATH,
             path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The guests found by e-mail in d's tenant. */
static uint32_t
found_by_email(const fx_crmd *d, const char *key, const char *email)
{
    crm_client *c = fx_client(d, d->url, key);
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {FX_S("email", email)};
    assert_int_equal(fx_call_kv(c, "customer.find", kv, 1, &res, &why),
                     CRM_OK);
    const msgpack_object *hits = crm_mp_get(res, "hits");
    assert_non_null(hits);
    uint32_t n = hits->via.array.size;
    crm_client_close(c);
    fx_reset();
    return n;
}

static void
test_sealed_with_keys(void **state)
{
    (void)state;
    fx_crmd a, b;
    char ka[CRM_ROLE__COUNT][128], kb[CRM_ROLE__COUNT][128], path[700],
        pass[700], wrong[700], loose[700], cmd[2400];
    assert_int_equal(fx_crmd_start(&a, 0, NULL), 0);
    load(&a, ka);
    /* g-3 erased before the export: nothing brings it back */
    crm_client *ad = fx_client(&a, a.url, ka[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    fx_kv er[] = {FX_S("customer", "g-3"), FX_B("wait", 1)};
    assert_int_equal(fx_call_kv(ad, "customer.erase", er, 2, &res, &why),
                     CRM_OK);
    crm_client_close(ad);
    fx_reset();
    figures fa, fb;
    figures_of(&a, ka[CRM_ROLE_ADMIN], &fa);
    assert_string_equal(fa.first, "Isaura");
    passphrase(&a, "pass", "correct horse battery staple", 0600, pass,
               sizeof(pass));
    passphrase(&a, "wrong", "correct horse battery stapler", 0600, wrong,
               sizeof(wrong));
    passphrase(&a, "loose", "correct horse battery staple", 0644, loose,
               sizeof(loose));
    snprintf(path, sizeof(path), "%s/export.crmx", a.dir);
    /* refused: a passphrase others may read, an auditor's key */
    assert_int_not_equal(export_keys(&a, ka, path, loose), 0);
    snprintf(cmd, sizeof(cmd),
             "CRM_URL='%s' CRM_KEY='%s' '%s' audit export --out '%s.aud' "
             "--keys-passphrase-file '%s' 2>/dev/null",
             a.url, ka[CRM_ROLE_AUDITOR], CRM_CRMCTL_PATH, path, pass);
    assert_int_not_equal(system(cmd), 0);
    assert_int_equal(export_keys(&a, ka, path, pass), 0);
    /* the access log says who took g-1's key (the admin, audit.keys) */
    crm_client *au = fx_client(&a, a.url, ka[CRM_ROLE_AUDITOR]);
    fx_kv by[] = {FX_S("customer", "g-1")};
    assert_int_equal(fx_call_kv(au, "audit.access", by, 1, &res, &why),
                     CRM_OK);
    const msgpack_object *es = crm_mp_get(res, "entries");
    int took = 0;
    for (uint32_t i = 0; es && i < es->via.array.size; i++) {
        char op[40], role[16];
        fx_res_str(&es->via.array.ptr[i], "op", op, sizeof(op));
        fx_res_str(&es->via.array.ptr[i], "role", role, sizeof(role));
        took += strcmp(op, "audit.keys") == 0 && strcmp(role, "admin") == 0;
    }
    assert_int_equal(took, 1);
    crm_client_close(au);
    fx_reset();
    assert_int_equal(fx_crmd_stop_clean(&a), 0);

    assert_int_equal(fx_crmd_start(&b, 0, NULL), 0);
    assert_int_equal(fx_crmd_stop_clean(&b), 0);
    /* refused, leaving no tenant: no passphrase for the keys, a wrong
     * one, a sealed key changed */
    assert_int_equal(import(&b, path, 1), 1);
    assert_int_equal(import_keys(&b, path, 1, wrong), 1);
    char bad[700];
    snprintf(bad, sizeof(bad), "%s/bad.crmx", a.dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    assert_true(n > 200 && n < sizeof(buf));
    /* the last entry's sealed key ends 10 bytes before the end map */
    buf[n - 20] ^= 1;
    f = fopen(bad, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
    assert_int_equal(import_keys(&b, bad, 1, pass), 1);
    /* cut inside the keys section: crm-audit and crmd both tell */
    char cut[700];
    snprintf(cut, sizeof(cut), "%s/cut.crmx", a.dir);
    f = fopen(cut, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n - 40, f), n - 40);
    fclose(f);
    assert_int_equal(import_keys(&b, cut, 1, pass), 1);
    assert_int_equal(tenants_of(&b), 0);
    char out[600];
    assert_int_equal(verify_export(path, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "keys: 2 guests' keys follow"));
    assert_int_equal(verify_export(cut, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "keys section"));

    assert_int_equal(import_keys(&b, path, 1, pass), 0);
    assert_int_equal(fx_crmd_restart(&b), 0);
    assert_int_equal(fx_tenant_keys(&b, TENANT, kb), 0);
    figures_of(&b, kb[CRM_ROLE_ADMIN], &fb);
    assert_int_equal(fb.head, fa.head);
    assert_int_equal(fb.nights, fa.nights);
    /* the names open, the blind index finds them under the new tenant's
     * index key; the erased guest stays out of it */
    assert_string_equal(fb.first, "Isaura");
    assert_int_equal(found_by_email(&b, kb[CRM_ROLE_ADMIN],
                                    "isaura@import.example"),
                     2);
    crm_client *c = fx_client(&b, b.url, kb[CRM_ROLE_ADMIN]);
    fx_kv g3[] = {FX_S("customer", "g-3")};
    assert_int_equal(fx_call_kv(c, "customer.get", g3, 1, &res, &why),
                     CRM_OK);
    const msgpack_object *p = crm_mp_get(res, "profile");
    char first[64] = "";
    if (p && p->type == MSGPACK_OBJECT_MAP)
        fx_res_str(p, "first_name", first, sizeof(first));
    assert_string_equal(first, "");
    /* and its erasure came along into the ledger, at the source's
     * position: a receipt, and no second life for its personal data */
    fx_reset();
    assert_int_equal(
        fx_call_kv(c, "customer.erasure_receipt", g3, 1, &res, &why), CRM_OK);
    assert_int_equal(fx_res_u64(res, "position"), fa.head);
    fx_reset();
    crm_event_in ev[1];
    fx_event(&ev[0], "g-3", "customer.profile_updated",
             FX_BODY(FX_S("first_name", "Again")));
    crm_err aerr = fx_append(c, ev, 1, &res, &why);
    if (aerr != CRM_ERR_CONFLICT)
        fail_msg("append to an erased guest: %d %s", aerr, why.msg);
    crm_client_close(c);
    fx_reset();
    assert_int_equal(fx_crmd_stop_clean(&b), 0);
    fx_crmd_cleanup(&b);
    fx_crmd_cleanup(&a);
}

/* An export larger than the map it is imported into: the map grows
 * ahead of each chunk (10,000 events, ~4 MB with their indexes, into a
 * map of 1 MB). */
static void
test_grows_the_map(void **state)
{
    (void)state;
    static const char *const plain[] = {"--no-encryption", NULL};
    fx_crmd a, b;
    char ka[CRM_ROLE__COUNT][128], kb[CRM_ROLE__COUNT][128], path[700];
    assert_int_equal(fx_crmd_start(&a, 0, plain), 0);
    assert_int_equal(fx_tenant(&a, TENANT, ka), 0);
    crm_client *c = fx_client(&a, a.url, ka[CRM_ROLE_AGENT]);
    for (int batch = 0; batch < 10; batch++) {
        static crm_event_in ev[1000];
        char ids[1000][16];
        for (int i = 0; i < 1000; i++) {
            snprintf(ids[i], sizeof(ids[i]), "g-%d", batch * 1000 + i);
            fx_event(&ev[i], ids[i], "stay.checked_out",
                     FX_BODY(FX_S("stay_id", "S1"),
                             FX_S("property", "lisbon-riverside"),
                             FX_I("nights", 1 + i % 7)));
        }
        const msgpack_object *res;
        crm_error why;
        assert_int_equal(fx_append(c, ev, 1000, &res, &why), CRM_OK);
        fx_reset();
    }
    crm_client_close(c);
    figures fa, fb;
    figures_of(&a, ka[CRM_ROLE_ADMIN], &fa);
    snprintf(path, sizeof(path), "%s/export.crmx", a.dir);
    export_to(&a, ka, path);
    assert_int_equal(fx_crmd_stop_clean(&a), 0);
    assert_int_equal(fx_crmd_start(&b, 0, plain), 0);
    assert_int_equal(fx_crmd_stop_clean(&b), 0);
    assert_int_equal(import(&b, path, 0), 0);
    assert_int_equal(fx_crmd_restart(&b), 0);
    assert_int_equal(fx_tenant_keys(&b, TENANT, kb), 0);
    figures_of(&b, kb[CRM_ROLE_ADMIN], &fb);
    assert_true(fb.head >= 10000);
    assert_int_equal(fb.head, fa.head);
    assert_int_equal(fb.nights, fa.nights);
    assert_int_equal(fx_crmd_stop_clean(&b), 0);
    fx_crmd_cleanup(&b);
    fx_crmd_cleanup(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sealed),
        cmocka_unit_test(test_unsealed),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_sealed_with_keys),
        cmocka_unit_test(test_grows_the_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
