/* export_test.c - the right of access against a real crmd (sealed with a
 * master key): customer.export pages a guest of 600-odd events (Chinese
 * and Arabic names, consents given and withdrawn, a stay that earned
 * points) so that every event comes exactly once, in order, with its
 * personal fields opened, and pages are cut by size as well as count;
 * the pages are of one moment (events appended meanwhile are not in
 * them); an erased guest's export holds no personal
 * data; unknown guests, other roles and bad cursors are refused; and
 * `crmctl customer export` writes one document that parses as JSON (by
 * jansson, what crmctl itself uses) and holds it all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crmd_fixture.h"
#include "rpc.h"

#ifndef CRM_CRMCTL_PATH
#error "CRM_CRMCTL_PATH must name the crmctl binary"
#endif

#define GUEST "guest-wang"
#define ERASED "guest-gone"
#define NOTES 600
#define FIRST "王小明"
#define LAST "العربي"
#define EMAIL "wang.alarabi@export.example"

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];
static uint64_t guest_events; /* events of GUEST's stream */

static crm_client *
as(crm_role r)
{
    return fx_client(&D, D.url, K[r]);
}

static void
append_ok(crm_client *c, const crm_event_in *ev, size_t n)
{
    const msgpack_object *res;
    crm_error why;
    if (fx_append(c, ev, n, &res, &why) != CRM_OK)
        fail_msg("append: %s", why.msg);
}

static void
note_summary(char *buf, size_t len, int i)
{
    snprintf(buf, len, "note %04d: 请安静 / هادئ", i);
}

/* GUEST: registered, three consents (email given, sms given, email
 * withdrawn), a preference, a stay that earns points, NOTES calls. */
static void
load_guest(void)
{
    crm_client *c = as(CRM_ROLE_AGENT);
    crm_event_in ev[8];
    fx_event(&ev[0], GUEST, "customer.registered",
             FX_BODY(FX_S("first_name", FIRST), FX_S("last_name", LAST),
                     FX_S("email", EMAIL), FX_S("phone", "+351919000111")));
    fx_event(&ev[1], GUEST, "customer.consent_changed",
             FX_BODY(FX_S("channel", "email"), FX_B("granted", 1),
                     FX_S("source", "web")));
    fx_event(&ev[2], GUEST, "customer.consent_changed",
             FX_BODY(FX_S("channel", "sms"), FX_B("granted", 1),
                     FX_S("purpose", "service")));
    fx_event(&ev[3], GUEST, "customer.preference_set",
             FX_BODY(FX_S("category", "diet"), FX_S("value", "素食")));
    fx_event(&ev[4], GUEST, "stay.checked_in",
             FX_BODY(FX_S("stay_id", "S-1"), FX_S("property", "lisbon")));
    fx_event(&ev[5], GUEST, "stay.checked_out",
             FX_BODY(FX_S("stay_id", "S-1"), FX_S("property", "lisbon"),
                     FX_I("nights", 3), FX_I("amount", 45000),
                     FX_S("currency", "EUR")));
    fx_event(&ev[6], GUEST, "customer.consent_changed",
             FX_BODY(FX_S("channel", "email"), FX_B("granted", 0),
                     FX_S("source", "front desk")));
    append_ok(c, ev, 7);
    fx_reset();
    for (int i = 0; i < NOTES;) {
        crm_event_in notes[100];
        char text[100][80];
        int n = 0;
        for (; n < 100 && i < NOTES; n++, i++) {
            note_summary(text[n], sizeof(text[n]), i);
            fx_event(&notes[n], GUEST, "interaction.logged",
                     FX_BODY(FX_S("channel", "call"),
                             FX_S("summary", text[n])));
        }
        append_ok(c, notes, (size_t)n);
        fx_reset();
    }
    /* the stay's points came as one more event */
    guest_events = 7 + 1 + NOTES;
    crm_client_close(c);
}

static void
load_erased(void)
{
    crm_client *c = as(CRM_ROLE_ADMIN);
    crm_event_in ev[2];
    fx_event(&ev[0], ERASED, "customer.registered",
             FX_BODY(FX_S("first_name", "Erasmo"),
                     FX_S("last_name", "Vanishing"),
                     FX_S("email", "erasmo@export.example")));
    fx_event(&ev[1], ERASED, "customer.erased",
             FX_BODY(FX_S("reason", "gdpr")));
    append_ok(c, ev, 2);
    fx_reset();
    crm_client_close(c);
}

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 0, NULL) != 0 || fx_tenant(&D, "export-hotel", K) != 0)
        return -1;
    load_guest();
    load_erased();
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

/* --- over RPC --------------------------------------------------------------- */

static crm_err
export_page(crm_client *c, const char *guest, const char *cursor, int64_t max,
            const msgpack_object **res, crm_error *why)
{
    fx_kv kv[] = {FX_S("customer", guest), FX_I("max", max),
                  cursor ? (fx_kv)FX_S("cursor", cursor) : (fx_kv)FX_N("cursor")};
    return fx_call_kv(c, "customer.export", kv, 3, res, why);
}

static const char *
str_of(const msgpack_object *o, char *buf, size_t len)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_STR || o->via.str.size >= len)
        return "";
    memcpy(buf, o->via.str.ptr, o->via.str.size);
    buf[o->via.str.size] = '\0';
    return buf;
}

static void
check_header(const msgpack_object *res)
{
    char b[200];
    assert_string_equal(fx_res_str(res, "format", b, sizeof(b)),
                        "crmd/customer.export/1");
    assert_string_equal(fx_res_str(res, "tenant", b, sizeof(b)),
                        "export-hotel");
    assert_string_equal(fx_res_str(res, "guest", b, sizeof(b)), GUEST);
    assert_false(crm_mp_get(res, "erased")->via.boolean);
    const msgpack_object *view = crm_mp_get(res, "view");
    const msgpack_object *profile = crm_mp_get(view, "profile");
    assert_string_equal(str_of(crm_mp_get(profile, "first_name"), b,
                               sizeof(b)),
                        FIRST);
    assert_string_equal(str_of(crm_mp_get(profile, "last_name"), b,
                               sizeof(b)),
                        LAST);
    const msgpack_object *loyalty = crm_mp_get(res, "loyalty");
    assert_non_null(loyalty);
    assert_int_equal(loyalty->type, MSGPACK_OBJECT_MAP);
    assert_true(fx_res_u64(loyalty, "balance") > 0);
    const msgpack_object *ledger = crm_mp_get(loyalty, "ledger");
    assert_int_equal(ledger->via.array.size, 1);
    /* the history, oldest first: email given, sms given, email withdrawn */
    const msgpack_object *cs = crm_mp_get(res, "consents");
    assert_int_equal(cs->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(cs->via.array.size, 3);
    static const char *const channel[] = {"email", "sms", "email"};
    static const char *const purpose[] = {"marketing", "service",
                                          "marketing"};
    static const int granted[] = {1, 1, 0};
    for (int i = 0; i < 3; i++) {
        const msgpack_object *e = &cs->via.array.ptr[i];
        assert_string_equal(fx_res_str(e, "channel", b, sizeof(b)),
                            channel[i]);
        assert_string_equal(fx_res_str(e, "purpose", b, sizeof(b)),
                            purpose[i]);
        assert_int_equal(crm_mp_get(e, "granted")->via.boolean, granted[i]);
        assert_int_not_equal(fx_res_u64(e, "occurred_at"), UINT64_MAX);
    }
    assert_string_equal(fx_res_str(&cs->via.array.ptr[2], "source", b,
                                   sizeof(b)),
                        "front desk");
}

/* Pages through GUEST's export max events at a time, checking every
 * event comes once and in order with its personal fields; returns the
 * number of pages. */
static size_t
page_through(crm_client *c, int64_t max)
{
    const msgpack_object *res;
    crm_error why;
    char cursor[128], b[200];
    const char *at = NULL;
    uint64_t want = 0;
    size_t pages = 0;
    do {
        if (export_page(c, GUEST, at, max, &res, &why) != CRM_OK)
            fail_msg("customer.export page %zu: %s", pages, why.msg);
        if (at == NULL)
            check_header(res);
        else
            assert_null(crm_mp_get(res, "view"));
        const msgpack_object *evs = crm_mp_get(res, "events");
        assert_true(evs->via.array.size >= 1);
        assert_true(evs->via.array.size <= (uint32_t)max);
        for (uint32_t i = 0; i < evs->via.array.size; i++, want++) {
            const msgpack_object *e = &evs->via.array.ptr[i];
            const msgpack_object *data = crm_mp_get(e, "data");
            assert_int_equal(fx_res_u64(e, "version"), want);
            assert_int_not_equal(fx_res_u64(e, "position"), UINT64_MAX);
            assert_int_not_equal(fx_res_u64(e, "recorded_at"), UINT64_MAX);
            assert_non_null(crm_mp_get(e, "actor"));
            assert_int_equal(crm_mp_get(e, "id")->via.bin.size, 16);
            fx_res_str(e, "type", b, sizeof(b));
            if (want == 0) {
                assert_string_equal(b, "customer.registered");
                assert_string_equal(fx_res_str(data, "first_name", b,
                                               sizeof(b)),
                                    FIRST);
                assert_string_equal(fx_res_str(data, "email", b, sizeof(b)),
                                    EMAIL);
            } else if (want >= 8) {
                char note[80];
                note_summary(note, sizeof(note), (int)want - 8);
                assert_string_equal(b, "interaction.logged");
                assert_string_equal(fx_res_str(data, "summary", b, sizeof(b)),
                                    note);
                assert_string_equal(fx_res_str(data, "channel", b, sizeof(b)),
                                    "call");
            }
        }
        pages++;
        const msgpack_object *next = crm_mp_get(res, "next");
        int more = crm_mp_get(res, "more")->via.boolean;
        assert_int_equal(more, next->type == MSGPACK_OBJECT_STR);
        at = more ? str_of(next, cursor, sizeof(cursor)) : NULL;
        fx_reset();
    } while (at != NULL);
    assert_int_equal(want, guest_events);
    return pages;
}

static void
test_pages_every_event_once(void **state)
{
    (void)state;
    crm_client *c = as(CRM_ROLE_AGENT);
    /* 608 events: 7 pages of 100, 2 of the default 500, 1 of 1000 */
    assert_int_equal(page_through(c, 100), 7);
    assert_int_equal(page_through(c, 500), 2);
    assert_int_equal(page_through(c, 1000), 1);
    crm_client_close(c);
    c = as(CRM_ROLE_ADMIN);
    assert_int_equal(page_through(c, 300), 3);
    crm_client_close(c);
}

/* Events appended after the first page are not in the later ones: the
 * document is of the moment of its first page. */
static void
test_pages_of_one_moment(void **state)
{
    (void)state;
    crm_client *c = as(CRM_ROLE_AGENT);
    const msgpack_object *res;
    crm_error why;
    char cursor[128];
    assert_int_equal(export_page(c, GUEST, NULL, 600, &res, &why), CRM_OK);
    uint64_t as_of = fx_res_u64(res, "as_of");
    str_of(crm_mp_get(res, "next"), cursor, sizeof(cursor));
    assert_true(cursor[0] != '\0');
    fx_reset();
    crm_event_in ev;
    fx_event(&ev, GUEST, "interaction.logged",
             FX_BODY(FX_S("channel", "email"), FX_S("summary", "late")));
    append_ok(c, &ev, 1);
    fx_reset();
    assert_int_equal(export_page(c, GUEST, cursor, 600, &res, &why), CRM_OK);
    assert_int_equal(fx_res_u64(res, "as_of"), as_of);
    const msgpack_object *evs = crm_mp_get(res, "events");
    assert_int_equal(evs->via.array.size, guest_events - 600);
    assert_int_equal(crm_mp_get(res, "next")->type, MSGPACK_OBJECT_NIL);
    for (uint32_t i = 0; i < evs->via.array.size; i++)
        assert_true(fx_res_u64(&evs->via.array.ptr[i], "position") <= as_of);
    fx_reset();
    guest_events++; /* the later tests see it */
    crm_client_close(c);
}

/* Pages are cut by size too: 100 events of ~60 KB pass one reply. */
static void
test_pages_cut_by_size(void **state)
{
    (void)state;
    crm_client *c = as(CRM_ROLE_AGENT);
    static char text[60001];
    memset(text, 'q', sizeof(text) - 1);
    for (int b = 0; b < 10; b++) {
        crm_event_in ev[10];
        for (int i = 0; i < 10; i++)
            fx_event(&ev[i], "guest-big", "x.scan",
                     FX_BODY(FX_S("text", text), FX_I("n", b * 10 + i)));
        append_ok(c, ev, 10);
        fx_reset();
    }
    const msgpack_object *res;
    crm_error why;
    char cursor[128];
    const char *at = NULL;
    uint64_t want = 0;
    size_t pages = 0;
    do {
        assert_int_equal(export_page(c, "guest-big", at, 1000, &res, &why),
                         CRM_OK);
        const msgpack_object *evs = crm_mp_get(res, "events");
        assert_true(evs->via.array.size >= 1 && evs->via.array.size < 100);
        for (uint32_t i = 0; i < evs->via.array.size; i++, want++) {
            const msgpack_object *data = crm_mp_get(&evs->via.array.ptr[i],
                                                    "data");
            assert_int_equal(fx_res_u64(data, "n"), want);
            assert_int_equal(crm_mp_get(data, "text")->via.str.size, 60000);
        }
        pages++;
        at = str_of(crm_mp_get(res, "next"), cursor, sizeof(cursor));
        at = at[0] ? at : NULL;
        fx_reset();
    } while (at);
    assert_int_equal(want, 100);
    assert_true(pages >= 2);
    crm_client_close(c);
}

static void
test_erased_guest(void **state)
{
    (void)state;
    crm_client *c = as(CRM_ROLE_ADMIN);
    const msgpack_object *res;
    crm_error why;
    assert_int_equal(export_page(c, ERASED, NULL, 100, &res, &why), CRM_OK);
    assert_true(crm_mp_get(res, "erased")->via.boolean);
    const msgpack_object *evs = crm_mp_get(res, "events");
    assert_int_equal(evs->via.array.size, 2);
    const msgpack_object *data = crm_mp_get(&evs->via.array.ptr[0], "data");
    assert_null(crm_mp_get(data, "first_name"));
    assert_null(crm_mp_get(data, "email"));
    char b[40];
    assert_string_equal(fx_res_str(&evs->via.array.ptr[1], "type", b,
                                   sizeof(b)),
                        "customer.erased");
    fx_reset();
    crm_client_close(c);
}

static void
test_refused(void **state)
{
    (void)state;
    const msgpack_object *res;
    crm_error why;
    crm_client *c = as(CRM_ROLE_AGENT);
    assert_int_equal(export_page(c, "guest-nobody", NULL, 100, &res, &why),
                     CRM_ERR_NOT_FOUND);
    assert_int_equal(export_page(c, "$tenant", NULL, 100, &res, &why),
                     CRM_ERR_NOT_FOUND);
    static const char *const bad[] = {
        "garbage", "x1.", "x1.5.1", "x1.5.1.zz", "x1.999999999.1.00000000",
        "x1.1.1.00000000", "x1.18446744073709551616.1.0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (export_page(c, GUEST, bad[i], 100, &res, &why) !=
            CRM_ERR_BAD_REQUEST)
            fail_msg("cursor '%s' was not refused: %s", bad[i], why.msg);
    /* another guest's cursor */
    char cursor[128];
    assert_int_equal(export_page(c, GUEST, NULL, 1, &res, &why), CRM_OK);
    str_of(crm_mp_get(res, "next"), cursor, sizeof(cursor));
    assert_int_equal(export_page(c, ERASED, cursor, 100, &res, &why),
                     CRM_ERR_BAD_REQUEST);
    /* and the cursor itself goes on */
    assert_int_equal(export_page(c, GUEST, cursor, 1, &res, &why), CRM_OK);
    assert_int_equal(fx_res_u64(&crm_mp_get(res, "events")->via.array.ptr[0],
                                "version"),
                     1);
    assert_int_equal(export_page(c, GUEST, NULL, 1001, &res, &why),
                     CRM_ERR_BAD_REQUEST);
    fx_kv none[] = {FX_I("max", 10)};
    assert_int_equal(fx_call_kv(c, "customer.export", none, 1, &res, &why),
                     CRM_ERR_BAD_REQUEST);
    crm_client_close(c);
    static const crm_role others[] = {CRM_ROLE_MARKETING, CRM_ROLE_FINANCE,
                                      CRM_ROLE_AUDITOR, CRM_ROLE_REPLICA,
                                      CRM_ROLE_OPERATOR};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        c = as(others[i]);
        assert_int_equal(export_page(c, GUEST, NULL, 100, &res, &why),
                         CRM_ERR_FORBIDDEN);
        crm_client_close(c);
    }
    fx_reset();
}

/* --- crmctl ----------------------------------------------------------------- */

/* Runs crmctl customer export with key, stdout to out_path; returns the
 * exit status and leaves stderr in err. */
static int
crmctl_export(const char *key, const char *guest, const char *page,
              const char *out_path, char *err, size_t err_len)
{
    char err_path[700];
    snprintf(err_path, sizeof(err_path), "%s/crmctl.err", D.dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        execl(CRM_CRMCTL_PATH, CRM_CRMCTL_PATH, "--url", D.url, "--key", key,
              "customer", "export", guest, "--page", page, (char *)NULL);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    FILE *f = fopen(err_path, "r");
    assert_non_null(f);
    size_t n = fread(err, 1, err_len - 1, f);
    err[n] = '\0';
    fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const char *
jstr(const json_t *j, const char *k)
{
    const json_t *v = json_object_get(j, k);
    if (!json_is_string(v))
        fail_msg("member '%s' is not a string", k);
    return json_string_value(v);
}

/* An ISO-8601 UTC time as crmctl writes them. */
static int
ends_z(const char *s)
{
    size_t n = strlen(s);
    return n >= 20 && s[10] == 'T' && s[n - 1] == 'Z';
}

static void
test_crmctl_document(void **state)
{
    (void)state;
    char path[700], err[4096];
    snprintf(path, sizeof(path), "%s/guest.json", D.dir);
    int st = crmctl_export(K[CRM_ROLE_ADMIN], GUEST, "128", path, err,
                           sizeof(err));
    if (st != 0)
        fail_msg("crmctl customer export: exit %d: %s", st, err);
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (doc == NULL)
        fail_msg("the export is not JSON: %s (line %d)", je.text, je.line);
    assert_string_equal(jstr(doc, "format"), "crmd/customer.export/1");
    assert_string_equal(jstr(doc, "tenant"), "export-hotel");
    assert_string_equal(jstr(doc, "guest"), GUEST);
    assert_true(ends_z(jstr(doc, "exported_at")));
    assert_true(json_is_false(json_object_get(doc, "erased")));
    const json_t *view = json_object_get(doc, "view");
    assert_string_equal(jstr(json_object_get(view, "profile"), "first_name"),
                        FIRST);
    assert_true(json_is_object(json_object_get(doc, "loyalty")));
    const json_t *cs = json_object_get(doc, "consents");
    assert_int_equal(json_array_size(cs), 3);
    assert_true(json_is_false(json_object_get(json_array_get(cs, 2),
                                              "granted")));
    assert_true(ends_z(jstr(json_array_get(cs, 0), "occurred_at")));
    const json_t *evs = json_object_get(doc, "events");
    assert_int_equal(json_array_size(evs), guest_events);
    for (size_t i = 0; i < json_array_size(evs); i++) {
        const json_t *e = json_array_get(evs, i);
        assert_int_equal(json_integer_value(json_object_get(e, "version")),
                         (json_int_t)i);
        assert_int_equal(strlen(jstr(e, "id")), 36);
        assert_int_equal(jstr(e, "recorded_at")[10], 'T');
    }
    const json_t *data0 = json_object_get(json_array_get(evs, 0), "data");
    assert_string_equal(jstr(data0, "first_name"), FIRST);
    assert_string_equal(jstr(data0, "last_name"), LAST);
    char note[80];
    note_summary(note, sizeof(note), NOTES - 1);
    assert_string_equal(
        jstr(json_object_get(json_array_get(evs, 8 + NOTES - 1), "data"),
             "summary"),
        note);
    json_decref(doc);

    /* the erased guest: a document, and nothing personal in it */
    st = crmctl_export(K[CRM_ROLE_AGENT], ERASED, "500", path, err,
                       sizeof(err));
    if (st != 0)
        fail_msg("crmctl customer export %s: exit %d: %s", ERASED, st, err);
    doc = json_load_file(path, 0, &je);
    assert_non_null(doc);
    assert_true(json_is_true(json_object_get(doc, "erased")));
    char *text = json_dumps(doc, 0);
    assert_null(strstr(text, "Erasmo"));
    assert_null(strstr(text, "erasmo@"));
    free(text);
    json_decref(doc);

    /* refusals: an error name on stderr, nothing on stdout */
    st = crmctl_export(K[CRM_ROLE_AGENT], "guest-nobody", "500", path, err,
                       sizeof(err));
    assert_int_not_equal(st, 0);
    assert_non_null(strstr(err, "crmctl: not_found: "));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fgetc(f), EOF);
    fclose(f);
    st = crmctl_export(K[CRM_ROLE_MARKETING], GUEST, "500", path, err,
                       sizeof(err));
    assert_int_not_equal(st, 0);
    assert_non_null(strstr(err, "crmctl: forbidden: "));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages_every_event_once),
        cmocka_unit_test(test_pages_of_one_moment),
        cmocka_unit_test(test_pages_cut_by_size),
        cmocka_unit_test(test_erased_guest),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_crmctl_document),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
