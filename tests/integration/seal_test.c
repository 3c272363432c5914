/* seal_test.c - personal data sealed per guest, end to end against real
 * crmd processes: what the front desk reads is whole, what lies on disk is
 * not (no personal value in any file under the data directory, in plain
 * bytes, either case, UTF-16, hex or base64), while an unsealed tenant's
 * files do hold them (the scan can fail); readable again after a restart
 * and a rebuild; an idempotent retry still tells the same event from a
 * different one; a rotated tenant key keeps every guest readable and
 * overwrites the old one; ten thousand guests, more than the writer's
 * key cache holds at first, each open with their own key; a master key file that group or others may read,
 * or the
 * wrong master key, and crmd does not start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crmd_fixture.h"
#include "rawscan.h"
#include "rpc.h"
#include "uuid.h"

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];

/* The personal values appended, each distinctive enough to find. */
static const char *const needles[] = {
    "Zephyrine",  "Quillfeather", "zephyrine.quill@sealtest.example",
    "+351919876543", "龍飛鳳",     "ياسمينة",
    "kerosene-smelling minibar", "peanut-anaphylaxis",
};
#define NNEEDLES (sizeof(needles) / sizeof(needles[0]))

static void
guest_events(crm_event_in ev[4])
{
    fx_event(&ev[0], "guest-z", "customer.registered",
             FX_BODY(FX_S("first_name", "Zephyrine"),
                     FX_S("last_name", "Quillfeather"),
                     FX_S("email", "zephyrine.quill@sealtest.example"),
                     FX_S("phone", "+351919876543")));
    fx_event(&ev[1], "guest-l", "customer.registered",
             FX_BODY(FX_S("first_name", "龍飛鳳"), FX_S("last_name", "ياسمينة")));
    fx_event(&ev[2], "guest-z", "complaint.opened",
             FX_BODY(FX_S("complaint_id", "c-1"), FX_S("category", "room"),
                     FX_S("description", "kerosene-smelling minibar")));
    fx_event(&ev[3], "guest-z", "customer.preference_set",
             FX_BODY(FX_S("category", "allergy"),
                     FX_S("value", "peanut-anaphylaxis")));
}

static int
load(fx_crmd *d, char keys[][128])
{
    if (fx_tenant(d, "vault-hotel", keys) != 0)
        return -1;
    crm_event_in ev[4];
    guest_events(ev);
    return fx_append_as(d, keys[CRM_ROLE_AGENT], ev, 4);
}

static int
group_setup(void **state)
{
    (void)state;
    return fx_crmd_start(&D, 0, NULL) == 0 && load(&D, K) == 0 ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    fx_crmd_cleanup(&D);
    return 0;
}

/* --- scanning files ------------------------------------------------------ */

/* Occurrences of any form of any needle in every file under dir. */
static int
scan_dir(const char *dir, char *found, size_t cap)
{
    fx_scan *s = fx_scan_new();
    assert_non_null(s);
    for (size_t i = 0; i < NNEEDLES; i++)
        fx_scan_add_text(s, needles[i]);
    int hits = fx_scan_dir(s, dir, found, cap);
    fx_scan_free(s);
    return hits;
}

/* --- tests ---------------------------------------------------------------- */

static const char *
profile_str(crm_client *c, const char *id, const char *field, char *buf,
            size_t len)
{
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {FX_S("customer", id)};
    assert_int_equal(fx_call_kv(c, "customer.get", kv, 1, &res, &why), CRM_OK);
    const msgpack_object *p = crm_mp_get(res, "profile");
    assert_non_null(p);
    return fx_res_str(p, field, buf, len);
}

static void
test_front_desk_reads_whole(void **state)
{
    (void)state;
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    char b[200];
    assert_string_equal(profile_str(c, "guest-z", "first_name", b, sizeof(b)),
                        "Zephyrine");
    assert_string_equal(profile_str(c, "guest-z", "email", b, sizeof(b)),
                        "zephyrine.quill@sealtest.example");
    assert_string_equal(profile_str(c, "guest-l", "last_name", b, sizeof(b)),
                        "ياسمينة");
    /* the events themselves, opened for a role that sees personal data */
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {FX_S("stream", "guest-z")};
    assert_int_equal(fx_call_kv(c, "read.stream", kv, 1, &res, &why), CRM_OK);
    const msgpack_object *evs = crm_mp_get(res, "events");
    assert_int_equal(evs->via.array.size, 3);
    const msgpack_object *pii = crm_mp_get(&evs->via.array.ptr[1], "pii");
    assert_string_equal(fx_res_str(pii, "description", b, sizeof(b)),
                        "kerosene-smelling minibar");
    /* found by e-mail: the blind index works over sealed data */
    fx_kv f[] = {FX_S("email", "Zephyrine.Quill@sealtest.example")};
    assert_int_equal(fx_call_kv(c, "customer.find", f, 1, &res, &why), CRM_OK);
    const msgpack_object *hits = crm_mp_get(res, "hits");
    assert_int_equal(hits->via.array.size, 1);
    assert_string_equal(fx_res_str(&hits->via.array.ptr[0], "id", b, sizeof(b)),
                        "guest-z");
    crm_client_close(c);
    fx_reset();
}

static void
test_no_personal_value_on_disk(void **state)
{
    (void)state;
    char data[600], found[4096] = "";
    snprintf(data, sizeof(data), "%s/data", D.dir);
    /* stopped: every page is on disk, nothing held in memory only */
    assert_int_equal(fx_crmd_stop_clean(&D), 0);
    int hits = scan_dir(data, found, sizeof(found));
    if (hits)
        fail_msg("personal data in plain on disk: %s", found);
    assert_int_equal(fx_crmd_restart(&D), 0);
}

static void
test_unsealed_tenant_holds_them(void **state)
{
    (void)state;
    fx_crmd u;
    char keys[CRM_ROLE__COUNT][128], data[600], found[8192] = "";
    static const char *const plain[] = {"--no-encryption", NULL};
    assert_int_equal(fx_crmd_start(&u, 0, plain), 0);
    assert_int_equal(load(&u, keys), 0);
    assert_int_equal(fx_crmd_stop_clean(&u), 0);
    snprintf(data, sizeof(data), "%s/data", u.dir);
    int hits = scan_dir(data, found, sizeof(found));
    printf("unsealed tenant: %d hits, e.g. %.200s\n", hits, found);
    assert_true(hits >= (int)NNEEDLES);
    fx_crmd_cleanup(&u);
}

static void
test_readable_after_restart_and_rebuild(void **state)
{
    (void)state;
    assert_int_equal(fx_crmd_stop_clean(&D), 0);
    assert_int_equal(fx_crmd_restart(&D), 0);
    crm_client *a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(fx_call_kv(a, "projection.rebuild", NULL, 0, &res, &why),
                     CRM_OK);
    const msgpack_object *ps = crm_mp_get(res, "projections");
    assert_true(ps->via.array.size >= 5);
    for (uint32_t i = 0; i < ps->via.array.size; i++) {
        const msgpack_object *id = crm_mp_get(&ps->via.array.ptr[i], "identical");
        assert_non_null(id);
        assert_true(id->via.boolean);
    }
    char b[200];
    assert_string_equal(profile_str(a, "guest-z", "phone", b, sizeof(b)),
                        "+351919876543");
    crm_client_close(a);
    fx_reset();
}

static void
test_retry_same_and_different(void **state)
{
    (void)state;
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    crm_event_in ev[2];
    const msgpack_object *res;
    crm_error why;
    uint8_t id[16];
    /* a new event, then the very same again: a duplicate */
    fx_event(&ev[0], "guest-r", "customer.registered",
             FX_BODY(FX_S("first_name", "Rui"), FX_S("last_name", "Sal"),
                     FX_S("email", "rui@x.example")));
    memcpy(id, ev[0].id, 16);
    assert_int_equal(fx_append(c, ev, 1, &res, &why), CRM_OK);
    assert_int_equal(fx_append(c, ev, 1, &res, &why), CRM_OK);
    assert_int_equal(fx_res_u64(res, "duplicates"), 1);
    /* the same id and public part, another personal part: a conflict */
    fx_event(&ev[1], "guest-r", "customer.registered",
             FX_BODY(FX_S("first_name", "Rui"), FX_S("last_name", "Sal"),
                     FX_S("email", "rui@y.example")));
    memcpy((void *)ev[1].id, id, 16);
    ev[1].occurred_at = ev[0].occurred_at;
    assert_int_equal(fx_append(c, &ev[1], 1, &res, &why), CRM_ERR_CONFLICT);
    assert_non_null(strstr(why.msg, "different event"));
    crm_client_close(c);
    fx_reset();
}

/* crmd given key as its master key fails to start on D's data; its log
 * says want (D is stopped meanwhile). */
static void
start_fails(const char *key, const char *want)
{
    fx_crmd b;
    char data[600], opkey[600];
    snprintf(data, sizeof(data), "%s/data", D.dir);
    snprintf(opkey, sizeof(opkey), "%s/operator.key", D.dir);
    const char *const extra[] = {"--data", data, "--operator-key-file", opkey,
                                 "--master-key", key, NULL};
    assert_int_equal(fx_crmd_stop_clean(&D), 0);
    if (fx_crmd_start(&b, 0, extra) == 0) {
        fx_crmd_stop(&b, SIGKILL);
        fx_crmd_cleanup(&b);
        fail_msg("crmd started with master key %s", key);
    }
    char *log = fx_crmd_log(&b);
    assert_non_null(log);
    if (strstr(log, want) == NULL)
        fail_msg("crmd's log does not say '%s':\n%s", want, log);
    free(log);
    fx_crmd_cleanup(&b);
    assert_int_equal(fx_crmd_restart(&D), 0);
}

static void
test_loose_master_key_refused(void **state)
{
    (void)state;
    char loose[700];
    snprintf(loose, sizeof(loose), "%s/loose.key", D.dir);
    FILE *in = fopen(D.master_key, "r"), *out = fopen(loose, "w");
    char hex[80] = "";
    assert_non_null(in);
    assert_non_null(out);
    assert_non_null(fgets(hex, sizeof(hex), in));
    fputs(hex, out);
    fclose(in);
    fclose(out);
    assert_int_equal(chmod(loose, 0644), 0);
    start_fails(loose, "chmod 600");
    assert_int_equal(chmod(loose, 0640), 0);
    start_fails(loose, "may be read by group or others");
}

static void
test_wrong_master_key_refused(void **state)
{
    (void)state;
    char other[700];
    snprintf(other, sizeof(other), "%s/other.key", D.dir);
    assert_int_equal(fx_make_master_key(other), 0);
    start_fails(other, "not the one this data directory was sealed with");
    /* and the right one still opens everything */
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    char b[200];
    assert_string_equal(profile_str(c, "guest-l", "first_name", b, sizeof(b)),
                        "龍飛鳳");
    crm_client_close(c);
    fx_reset();
}

/* Rotation: a new tenant key, every guest still readable, before and
 * after a restart; the old key's slot in tenant.key is overwritten. */
static void
test_rotation_keeps_every_guest_readable(void **state)
{
    (void)state;
    crm_client *a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    for (uint64_t want = 2; want <= 3; want++) {
        assert_int_equal(fx_call_kv(a, "tenant.rotate_key", NULL, 0, &res,
                                    &why),
                         CRM_OK);
        assert_int_equal(fx_res_u64(res, "epoch"), want);
        assert_true(fx_res_u64(res, "rewrapped") >= 3); /* z, l, r */
        char path[700];
        unsigned char slots[256];
        snprintf(path, sizeof(path), "%s/data/tenants/vault-hotel/tenant.key",
                 D.dir);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        assert_int_equal(fread(slots, 1, sizeof(slots), f), sizeof(slots));
        fclose(f);
        /* epochs alternate between the slots: the old one is all zeros */
        const unsigned char *live = slots + ((want - 1) % 2) * 128,
                            *old = slots + (want % 2) * 128;
        assert_memory_equal(live, "CRMTK1", 6);
        for (int i = 0; i < 128; i++)
            assert_int_equal(old[i], 0);
        char b[200];
        assert_string_equal(profile_str(a, "guest-z", "email", b, sizeof(b)),
                            "zephyrine.quill@sealtest.example");
    }
    crm_client_close(a);
    fx_reset();
    assert_int_equal(fx_crmd_stop_clean(&D), 0);
    assert_int_equal(fx_crmd_restart(&D), 0);
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    char b[200];
    assert_string_equal(profile_str(c, "guest-l", "last_name", b, sizeof(b)),
                        "ياسمينة");
    fx_kv kv[] = {FX_S("stream", "guest-z")};
    assert_int_equal(fx_call_kv(c, "read.stream", kv, 1, &res, &why), CRM_OK);
    const msgpack_object *pii =
        crm_mp_get(&crm_mp_get(res, "events")->via.array.ptr[2], "pii");
    assert_string_equal(fx_res_str(pii, "value", b, sizeof(b)),
                        "peanut-anaphylaxis");
    /* an agent may not rotate */
    assert_int_equal(fx_call_kv(c, "tenant.rotate_key", NULL, 0, &res, &why),
                     CRM_ERR_FORBIDDEN);
    crm_client_close(c);
    fx_reset();
    /* the signing key came through the rotations (rewrapped with the
     * rest) and opened again after the restart: a checkpoint signed now
     * verifies with those signed before */
    a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    assert_int_equal(fx_call_kv(a, "audit.checkpoint", NULL, 0, &res, &why),
                     CRM_OK);
    assert_int_equal(fx_call_kv(a, "audit.verify", NULL, 0, &res, &why),
                     CRM_OK);
    const msgpack_object *ok = crm_mp_get(res, "ok");
    assert_true(ok && ok->via.boolean);
    assert_true(fx_res_u64(res, "checkpoints") >= 2);
    crm_client_close(a);
    fx_reset();
}

/* More guests than the writer's key cache has slots at first (4096), so
 * that it grows while appends go on: appended twice, the second time in
 * another order, every sampled guest opens with its own values. */
#define MANY 10000

static int
many_round(crm_client *c, int second)
{
    enum { PER = 500 };
    crm_event_in ev[PER];
    char id[PER][24], v[PER][40];
    for (int base = 0; base < MANY; base += PER) {
        for (int k = 0; k < PER; k++) {
            /* the second round walks the guests in a scattered order */
            int i = second ? (int)((base + k) * 7919L % MANY) : base + k;
            snprintf(id[k], sizeof(id[k]), "mg-%05d", i);
            if (second) {
                snprintf(v[k], sizeof(v[k]), "allergy-%05d", i);
                fx_event(&ev[k], id[k], "customer.preference_set",
                         FX_BODY(FX_S("category", "allergy"),
                                 FX_S("value", v[k])));
            } else {
                snprintf(v[k], sizeof(v[k]), "Manyname%05d", i);
                fx_event(&ev[k], id[k], "customer.registered",
                         FX_BODY(FX_S("first_name", v[k]),
                                 FX_S("last_name", "Keycache")));
            }
        }
        const msgpack_object *res;
        crm_error why;
        crm_err err = fx_append(c, ev, PER, &res, &why);
        fx_reset();
        if (err != CRM_OK) {
            fprintf(stderr, "append: %s\n", why.msg);
            return -1;
        }
    }
    return 0;
}

static void
test_many_guests_each_their_key(void **state)
{
    (void)state;
    char keys[CRM_ROLE__COUNT][128];
    assert_int_equal(fx_tenant(&D, "many-guests", keys), 0);
    crm_client *c = fx_client(&D, D.url, keys[CRM_ROLE_AGENT]);
    assert_int_equal(many_round(c, 0), 0);
    assert_int_equal(many_round(c, 1), 0);
    for (int i = 13; i < MANY; i += 397) {
        char id[24], want[40], b[200];
        snprintf(id, sizeof(id), "mg-%05d", i);
        snprintf(want, sizeof(want), "Manyname%05d", i);
        assert_string_equal(profile_str(c, id, "first_name", b, sizeof(b)),
                            want);
        fx_reset();
        const msgpack_object *res;
        crm_error why;
        fx_kv kv[] = {FX_S("stream", id)};
        assert_int_equal(fx_call_kv(c, "read.stream", kv, 1, &res, &why),
                         CRM_OK);
        const msgpack_object *evs = crm_mp_get(res, "events");
        assert_int_equal(evs->via.array.size, 2);
        const msgpack_object *pii = crm_mp_get(&evs->via.array.ptr[1], "pii");
        snprintf(want, sizeof(want), "allergy-%05d", i);
        assert_string_equal(fx_res_str(pii, "value", b, sizeof(b)), want);
        fx_reset();
    }
    crm_client_close(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_front_desk_reads_whole),
        cmocka_unit_test(test_no_personal_value_on_disk),
        cmocka_unit_test(test_unsealed_tenant_holds_them),
        cmocka_unit_test(test_readable_after_restart_and_rebuild),
        cmocka_unit_test(test_retry_same_and_different),
        cmocka_unit_test(test_many_guests_each_their_key),
        cmocka_unit_test(test_rotation_keeps_every_guest_readable),
        cmocka_unit_test(test_loose_master_key_refused),
        cmocka_unit_test(test_wrong_master_key_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
