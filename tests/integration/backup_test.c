/* backup_test.c - hot backup and restore against a real crmd: the
 * operator's backup (every tenant and the registry) taken while a client
 * appends, a tenant admin's (that tenant alone), what is refused; then
 * crmd --restore over the data directory as it stands (a guest erased
 * since the backup stays erased), into an empty one (the registry too),
 * one tenant from the admin's backup, and a tampered backup refused
 * with nothing changed (a manifest line changed, a tenant left out, a
 * signature forged or missing, a file changed, added or removed): the same heads, the guests readable (their keys
 * came with them), the chain verified online with its signed
 * checkpoints, appends going on from there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crmd_fixture.h"
#include "rpc.h"

static fx_crmd D;
static char K1[CRM_ROLE__COUNT][128], K2[CRM_ROLE__COUNT][128];

static int
register_guest(crm_client *c, const char *id, const char *first)
{
    crm_event_in ev;
    const msgpack_object *res;
    crm_error why;
    fx_event(&ev, id, "customer.registered",
             FX_BODY(FX_S("first_name", first), FX_S("last_name", "Backupson"),
                     FX_S("email", "guest@backup.example")));
    crm_err err = fx_append(c, &ev, 1, &res, &why);
    fx_reset();
    return err == CRM_OK ? 0 : -1;
}

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 0, NULL) != 0 || fx_tenant(&D, "bk-one", K1) != 0 ||
        fx_tenant(&D, "bk-two", K2) != 0)
        return -1;
    crm_client *a = fx_client(&D, D.url, K1[CRM_ROLE_AGENT]);
    crm_client *b = fx_client(&D, D.url, K2[CRM_ROLE_AGENT]);
    int rc = register_guest(a, "g-1", "Olwen") | register_guest(b, "g-2", "Tamsin");
    crm_client_close(a);
    crm_client_close(b);
    return rc;
}

static int
group_teardown(void **state)
{
    (void)state;
    fx_crmd_cleanup(&D);
    return 0;
}

static uint64_t
head_of(const char *key)
{
    crm_client *c = fx_client(&D, D.url, key);
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(fx_call_kv(c, "audit.verify", NULL, 0, &res, &why),
                     CRM_OK);
    const msgpack_object *ok = crm_mp_get(res, "ok");
    assert_true(ok && ok->via.boolean);
    uint64_t to = fx_res_u64(res, "to");
    crm_client_close(c);
    fx_reset();
    return to;
}

typedef struct feeder {
    atomic_int stop;
    int appended;
} feeder;

static void *
feed(void *arg)
{
    feeder *f = arg;
    crm_client *c = fx_client(&D, D.url, K1[CRM_ROLE_AGENT]);
    char id[32];
    while (!atomic_load(&f->stop) && f->appended < 2000) {
        snprintf(id, sizeof(id), "g-feed-%d", f->appended);
        if (register_guest(c, id, "Fenna") != 0)
            break;
        f->appended++;
    }
    crm_client_close(c);
    return NULL;
}

/* The position the backup reply gives for tenant t. */
static uint64_t
backup_pos(const msgpack_object *res, const char *t)
{
    const msgpack_object *ts = crm_mp_get(res, "tenants");
    assert_non_null(ts);
    char b[64];
    for (uint32_t i = 0; i < ts->via.array.size; i++)
        if (strcmp(fx_res_str(&ts->via.array.ptr[i], "tenant", b, sizeof(b)),
                   t) == 0)
            return fx_res_u64(&ts->via.array.ptr[i], "position");
    fail_msg("no tenant %s in the backup", t);
    return 0;
}

/* Changes the first hex digit of the head after prefix in the manifest
 * of backup name (to another digit, whatever it was). */
static void
tamper_head(const char *name, const char *prefix)
{
    char path[700], buf[8192];
    snprintf(path, sizeof(path), "%s/backups/%s/MANIFEST", D.dir, name);
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    char *at = strstr(buf, prefix);
    assert_non_null(at);
    at += strlen(prefix);
    *at = *at == '0' ? '1' : '0';
    rewind(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
}

/* crmd --restore of D's backup name into D's directory data; its exit
 * status, its stdout in out (4096 bytes) when not NULL. */
static int
restore(const char *name, const char *data, char *out)
{
    char cmd[3000], log[700];
    snprintf(log, sizeof(log), "%s/restore.out", D.dir);
    snprintf(cmd, sizeof(cmd),
             "'%s' --restore '%s/backups/%s' --data '%s/%s' --master-key "
             "'%s' > '%s' 2>&1",
             CRM_CRMD_PATH, D.dir, name, D.dir, data, D.master_key, log);
    int st = system(cmd);
    FILE *f = fopen(log, "r");
    char buf[4096];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    printf("crmd --restore %s: %s", name, buf);
    if (out)
        memcpy(out, buf, n + 1);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A copy of backup nightly changed by the shell command sh (B is the
 * copy's path in it) is refused by crmd --restore, saying expect. */
static void
refused_when(const char *sh, const char *expect)
{
    char cmd[4000], out[4096];
    snprintf(cmd, sizeof(cmd),
             "rm -rf '%s/backups/bad' && cp -a '%s/backups/nightly' "
             "'%s/backups/bad' && B='%s/backups/bad' && %s",
             D.dir, D.dir, D.dir, D.dir, sh);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(restore("bad", "data", out), 1);
    if (strstr(out, expect) == NULL)
        fail_msg("after '%s' expected '%s', got: %s", sh, expect, out);
}

static void
test_backup_and_restore(void **state)
{
    (void)state;
    const msgpack_object *res;
    crm_error why;
    crm_client *op = fx_client(&D, D.url, D.operator_key);
    crm_client *adm = fx_client(&D, D.url, K1[CRM_ROLE_ADMIN]);
    crm_client *ag = fx_client(&D, D.url, K1[CRM_ROLE_AGENT]);

    /* refused, and nothing written */
    fx_kv bad[] = {FX_S("name", "../escape")};
    assert_int_equal(fx_call_kv(op, "backup", bad, 1, &res, &why),
                     CRM_ERR_BAD_REQUEST);
    fx_kv dot[] = {FX_S("name", ".hidden")};
    assert_int_equal(fx_call_kv(op, "backup", dot, 1, &res, &why),
                     CRM_ERR_BAD_REQUEST);
    fx_kv nightly[] = {FX_S("name", "nightly")};
    assert_int_equal(fx_call_kv(ag, "backup", nightly, 1, &res, &why),
                     CRM_ERR_FORBIDDEN);

    /* the operator's, while appends go on */
    feeder f = {.appended = 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, feed, &f), 0);
    while (f.appended < 50)
        usleep(1000);
    assert_int_equal(fx_call_kv(op, "backup", nightly, 1, &res, &why), CRM_OK);
    atomic_store(&f.stop, 1);
    pthread_join(t, NULL);
    const msgpack_object *reg = crm_mp_get(res, "registry");
    assert_true(reg && reg->via.boolean);
    uint64_t one = backup_pos(res, "bk-one"), two = backup_pos(res, "bk-two");
    assert_true(one >= 51 && two == 1);
    fx_reset();
    assert_int_equal(fx_call_kv(op, "backup", nightly, 1, &res, &why),
                     CRM_ERR_EXISTS);

    /* the tenant admin's: that tenant alone */
    fx_kv mine[] = {FX_S("name", "one-only")};
    assert_int_equal(fx_call_kv(adm, "backup", mine, 1, &res, &why), CRM_OK);
    reg = crm_mp_get(res, "registry");
    assert_false(reg->via.boolean);
    assert_int_equal(crm_mp_get(res, "tenants")->via.array.size, 1);
    uint64_t one_only = backup_pos(res, "bk-one");
    fx_reset();
    char path[700];
    struct stat st;
    snprintf(path, sizeof(path), "%s/backups/one-only/registry", D.dir);
    assert_int_equal(stat(path, &st), -1);
    snprintf(path, sizeof(path), "%s/backups/one-only/tenants/bk-two", D.dir);
    assert_int_equal(stat(path, &st), -1);
    crm_client_close(op);
    crm_client_close(adm);
    crm_client_close(ag);
    assert_true(head_of(K1[CRM_ROLE_ADMIN]) > one);

    /* a guest erased after the backup was taken */
    crm_client *ad = fx_client(&D, D.url, K1[CRM_ROLE_ADMIN]);
    fx_kv er[] = {FX_S("customer", "g-1"), FX_B("wait", 1)};
    assert_int_equal(fx_call_kv(ad, "customer.erase", er, 2, &res, &why),
                     CRM_OK);
    crm_client_close(ad);
    fx_reset();
    uint64_t before = head_of(K1[CRM_ROLE_ADMIN]);

    /* a tampered manifest: refused, nothing changed (bk-one, which comes
     * first and would pass, is not restored either) */
    assert_int_equal(fx_crmd_stop_clean(&D), 0);
    char cmd[2400];
    snprintf(cmd, sizeof(cmd), "cp -a '%s/backups/nightly' '%s/backups/bad'",
             D.dir, D.dir);
    assert_int_equal(system(cmd), 0);
    tamper_head("bad", "tenant bk-two position 1 head ");
    assert_int_equal(restore("bad", "data", NULL), 1);
    /* the manifest is signed as a whole by every tenant, and names the
     * size and SHA-256 of every file */
    refused_when("sed -i 's/^created_at /created_at 1/' \"$B/MANIFEST\"",
                 "not signed by tenant bk-one's key");
    refused_when("sed -i '/ bk-two /d; /tenants\\/bk-two\\//d' "
                 "\"$B/MANIFEST\" && rm -rf \"$B/tenants/bk-two\"",
                 "not signed by tenant bk-one's key");
    refused_when("sed -i 's/^signature bk-one 0/signature bk-one 1/; t; "
                 "s/^signature bk-one ./signature bk-one 0/' \"$B/MANIFEST\"",
                 "not signed by tenant bk-one's key");
    refused_when("sed -i '/^signature bk-two /d' \"$B/MANIFEST\"",
                 "tenant bk-two has not signed it");
    refused_when("printf x | dd of=\"$B/registry/data.mdb\" bs=1 seek=5000 "
                 "conv=notrunc status=none",
                 "registry/data.mdb is not the file the manifest names");
    refused_when("echo x > \"$B/tenants/bk-one/extra\"",
                 "tenants/bk-one/extra is not the file the manifest names");
    refused_when("rm \"$B/tenants/bk-two/data.mdb\"",
                 "tenants/bk-two/data.mdb is not the file the manifest names");
    assert_int_equal(fx_crmd_restart(&D), 0);
    assert_int_equal(head_of(K1[CRM_ROLE_ADMIN]), before);
    assert_int_equal(fx_crmd_stop_clean(&D), 0);

    /* over the data directory as it stands: the erasure made since is
     * applied again before the tenant goes live */
    char out[4096];
    /* a reader's lock file (crm-audit verify of the backup) is no data */
    snprintf(cmd, sizeof(cmd), "touch '%s/backups/nightly/tenants/bk-one/"
             "lock.mdb'", D.dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(restore("nightly", "data", out), 0);
    assert_non_null(strstr(out, "restored tenant bk-one"));
    assert_non_null(strstr(out, "1 erasure made since the backup re-applied"));
    assert_int_equal(fx_crmd_restart(&D), 0);
    assert_int_equal(head_of(K1[CRM_ROLE_ADMIN]), one + 1);
    assert_int_equal(head_of(K2[CRM_ROLE_ADMIN]), two);
    crm_client *c = fx_client(&D, D.url, K1[CRM_ROLE_ADMIN]);
    fx_kv g1[] = {FX_S("customer", "g-1")};
    assert_int_equal(fx_call_kv(c, "customer.erasure_receipt", g1, 1, &res,
                                &why),
                     CRM_OK);
    char b[64];
    assert_string_equal(fx_res_str(res, "status", b, sizeof(b)), "complete");
    crm_client_close(c);
    fx_reset();

    /* into an empty data directory: the registry comes too */
    assert_int_equal(fx_crmd_stop_clean(&D), 0);
    snprintf(cmd, sizeof(cmd), "mv '%s/data' '%s/data.before'", D.dir, D.dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(restore("nightly", "data", out), 0);
    assert_non_null(strstr(out, "restored the registry"));
    assert_int_equal(fx_crmd_restart(&D), 0);
    assert_int_equal(head_of(K1[CRM_ROLE_ADMIN]), one);
    assert_int_equal(head_of(K2[CRM_ROLE_ADMIN]), two);
    c = fx_client(&D, D.url, K2[CRM_ROLE_AGENT]);
    fx_kv kv[] = {FX_S("customer", "g-2")};
    assert_int_equal(fx_call_kv(c, "customer.get", kv, 1, &res, &why), CRM_OK);
    assert_string_equal(
        fx_res_str(crm_mp_get(res, "profile"), "first_name", b, sizeof(b)),
        "Tamsin");
    fx_reset();
    /* and it goes on from there */
    assert_int_equal(register_guest(c, "g-3", "Ysolde"), 0);
    crm_client_close(c);
    assert_int_equal(head_of(K2[CRM_ROLE_ADMIN]), two + 1);

    /* one tenant from the admin's backup, beside the others */
    assert_int_equal(fx_crmd_stop_clean(&D), 0);
    assert_int_equal(restore("one-only", "data", out), 0);
    assert_int_equal(fx_crmd_restart(&D), 0);
    assert_int_equal(head_of(K1[CRM_ROLE_ADMIN]), one_only);
    assert_int_equal(head_of(K2[CRM_ROLE_ADMIN]), two + 1);
    /* a running crmd's data is not restored over */
    assert_int_equal(restore("one-only", "data", NULL), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_and_restore),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
