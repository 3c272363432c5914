/* erase_test.c - erasure by destroying keys, end to end against real crmd
 * processes. 1,000 guests with distinctive personal data (Latin, Chinese
 * and Arabic names, e-mails, phones, passport numbers, complaint texts);
 * 100 of them erased, the last with --wait; then every byte of every
 * file under the data directory is read: no form of an erased guest's
 * values, no key that opens an erased guest's key among every tenant key
 * the master key opens anywhere in those files, and no blind-index entry
 * of an erased guest's e-mail, phone or name under any index key found
 * anywhere; the same of a backup and of exports taken afterwards. The
 * same searches do find what belongs to guests kept (they can fail). The 900 others stay readable before and after a restart and
 * a rebuild. Also: the receipt, merged guests, what is refused, and a
 * kill -9 right after an erasure was acknowledged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crmd_fixture.h"
#include "normalize.h"
#include "rawscan.h"
#include "rpc.h"
#include "vault.h"

#define TENANT "erase-hotel"
#define GUESTS 1000
#define ERASE_EVERY 10 /* guests 0, 10, 20, ...: 100 of them */

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];

/* --- the guests ------------------------------------------------------------ */

typedef struct guest {
    char id[16], first[32], last[32], email[64], phone[24], passport[16],
        complaint[64];
} guest;

/* Appends the UTF-8 of code point cp to s. */
static void
put_utf8(char *s, unsigned cp)
{
    size_t n = strlen(s);
    if (cp < 0x800) {
        s[n++] = (char)(0xc0 | cp >> 6);
        s[n++] = (char)(0x80 | (cp & 0x3f));
    } else {
        s[n++] = (char)(0xe0 | cp >> 12);
        s[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
        s[n++] = (char)(0x80 | (cp & 0x3f));
    }
    s[n] = '\0';
}

/* Guest i: a third with Chinese names, a third Arabic, a third Latin,
 * every value its own. */
static void
guest_of(int i, guest *g)
{
    memset(g, 0, sizeof(*g));
    snprintf(g->id, sizeof(g->id), "eg-%04d", i);
    switch (i % 3) {
    case 0:
        put_utf8(g->first, 0x4e00 + (unsigned)i);
        put_utf8(g->first, 0x5e00 + (unsigned)i);
        put_utf8(g->last, 0x6e00 + (unsigned)i);
        put_utf8(g->last, 0x7e00 + (unsigned)i);
        break;
    case 1:
        /* letters ت..غ, which the blind index keeps as they are (no
         * folding: every guest's tokens stay its own) */
        for (int k = 0, v = i; k < 4; k++, v /= 17)
            put_utf8(g->first, 0x062a + (unsigned)(v % 17));
        put_utf8(g->first, 0x0645);
        for (int k = 0, v = i * 7 + 3; k < 4; k++, v /= 17)
            put_utf8(g->last, 0x062a + (unsigned)(v % 17));
        put_utf8(g->last, 0x0646);
        break;
    default:
        snprintf(g->first, sizeof(g->first), "Zorvath%04d", i);
        snprintf(g->last, sizeof(g->last), "Quellbrook%04d", i);
    }
    snprintf(g->email, sizeof(g->email), "g%04d.vessary@erase.example", i);
    snprintf(g->phone, sizeof(g->phone), "+3519170%05d", i);
    snprintf(g->passport, sizeof(g->passport), "PX%07d", 4100000 + i);
    snprintf(g->complaint, sizeof(g->complaint),
             "kerosene minibar in suite %04d, refund", i);
}

static int
erased(int i)
{
    return i % ERASE_EVERY == 0;
}

static int
load_guests(fx_crmd *d, const char *key, int n)
{
    crm_client *c = fx_client(d, d->url, key);
    crm_event_in ev[300];
    guest g[100];
    int rc = 0;
    for (int base = 0; base < n && rc == 0; base += 100) {
        size_t k = 0;
        for (int i = base; i < base + 100 && i < n; i++) {
            guest *x = &g[i - base];
            guest_of(i, x);
            fx_event(&ev[k++], x->id, "customer.registered",
                     FX_BODY(FX_S("first_name", x->first),
                             FX_S("last_name", x->last),
                             FX_S("email", x->email), FX_S("phone", x->phone),
                             FX_S("birth_date", "1981-04-09")));
            fx_event(&ev[k++], x->id, "charter.flight_booked",
                     FX_BODY(FX_S("booking_id", x->id), FX_S("flight_no", "TP1"),
                             FX_S("origin", "LIS"), FX_S("destination", "FNC"),
                             FX_S("departure_date", "2026-12-20"),
                             FX_S("passport_no", x->passport)));
            fx_event(&ev[k++], x->id, "complaint.opened",
                     FX_BODY(FX_S("complaint_id", x->id),
                             FX_S("category", "room"),
                             FX_S("description", x->complaint)));
        }
        const msgpack_object *res;
        crm_error why;
        if (fx_append(c, ev, k, &res, &why) != CRM_OK) {
            fprintf(stderr, "append: %s\n", why.msg);
            rc = -1;
        }
        fx_reset();
    }
    crm_client_close(c);
    return rc;
}

static int
group_setup(void **state)
{
    (void)state;
    if (fx_crmd_start(&D, 0, NULL) != 0 || fx_tenant(&D, TENANT, K) != 0)
        return -1;
    return load_guests(&D, K[CRM_ROLE_AGENT], GUESTS);
}

static int
group_teardown(void **state)
{
    (void)state;
    fx_crmd_cleanup(&D);
    return 0;
}

/* --- reads ------------------------------------------------------------------- */

static crm_err
erase(crm_client *c, const char *id, int wait, const msgpack_object **res,
      crm_error *why)
{
    fx_kv kv[] = {FX_S("customer", id), FX_S("reason", "gdpr"),
                  FX_S("request_ref", "DPO-2026-117"), FX_B("wait", wait)};
    return fx_call_kv(c, "customer.erase", kv, 4, res, why);
}

static const char *
status_of(const msgpack_object *res, char *b, size_t len)
{
    return fx_res_str(res, "status", b, len);
}

/* Guest id's first name over customer.get ("" when the view has none),
 * and whether the view says erased. */
static const char *
first_name(crm_client *c, const char *id, char *b, size_t len, int *was_erased)
{
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {FX_S("customer", id)};
    assert_int_equal(fx_call_kv(c, "customer.get", kv, 1, &res, &why), CRM_OK);
    const msgpack_object *e = crm_mp_get(res, "erased");
    *was_erased = e && e->type == MSGPACK_OBJECT_BOOLEAN && e->via.boolean;
    const msgpack_object *p = crm_mp_get(res, "profile");
    b[0] = '\0';
    return p && p->type == MSGPACK_OBJECT_MAP ? fx_res_str(p, "first_name", b, len)
                                              : b;
}

static size_t
find_hits(crm_client *c, const char *by, const char *value)
{
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {{by, 's', value, 0}};
    assert_int_equal(fx_call_kv(c, "customer.find", kv, 1, &res, &why), CRM_OK);
    const msgpack_object *hits = crm_mp_get(res, "hits");
    assert_non_null(hits);
    return hits->via.array.size;
}

/* Every kept guest reads whole, every erased one reads erased. */
static void
check_guests(crm_client *c)
{
    char b[64];
    for (int i = 0; i < GUESTS; i++) {
        guest g;
        guest_of(i, &g);
        int was;
        first_name(c, g.id, b, sizeof(b), &was);
        if (erased(i)) {
            assert_true(was);
            assert_string_equal(b, "");
        } else {
            assert_false(was);
            assert_string_equal(b, g.first);
        }
        fx_reset();
    }
}

/* --- what the files hold ------------------------------------------------------ */

typedef struct keyring {
    crm_vault *tenant[16];
    size_t ntenant;
    uint8_t index[16][CRM_KEY_LEN];
    size_t nindex;
    uint8_t master[CRM_KEY_LEN];
} keyring;

static void
find_tenant_keys(void *arg, const char *path, const uint8_t *buf, size_t len)
{
    keyring *r = arg;
    (void)path;
    for (const uint8_t *p = buf;
         (p = memmem(p, len - (size_t)(p - buf), "CRMTK1\0\0", 8)) != NULL;
         p++) {
        crm_vault *v;
        crm_error why;
        if (crm_vault_from_slot(TENANT, r->master, p, len - (size_t)(p - buf),
                                &v, &why) == CRM_OK &&
            r->ntenant < 16)
            r->tenant[r->ntenant++] = v;
        else if (v)
            crm_vault_close(v);
    }
}

/* Adds an index key to r unless it holds it already. */
static void
keep_index(keyring *r, const uint8_t key[CRM_KEY_LEN])
{
    for (size_t i = 0; i < r->nindex; i++)
        if (memcmp(r->index[i], key, CRM_KEY_LEN) == 0)
            return;
    if (r->nindex < 16)
        memcpy(r->index[r->nindex++], key, CRM_KEY_LEN);
}

/* Tries to open, with every tenant key of r, a key wrapped under label
 * and name stored right after each occurrence of name (how LMDB lays a
 * key and its value out), or a few bytes further; counts what opens
 * (index keys are kept in r). */
typedef struct unwrap_try {
    keyring *r;
    char label;
    const char *name; /* found before the value */
    const char *aad;  /* what the key was wrapped for */
    size_t opened;
    uint8_t last[CRM_KEY_LEN];
} unwrap_try;

static void
try_unwrap(void *arg, const char *path, const uint8_t *buf, size_t len)
{
    unwrap_try *t = arg;
    size_t nl = strlen(t->name), need = 4 + CRM_WRAPPED_LEN;
    (void)path;
    for (const uint8_t *p = buf;
         (p = memmem(p, len - (size_t)(p - buf), t->name, nl)) != NULL; p++) {
        for (size_t d = 0; d <= 16; d++) {
            const uint8_t *w = p + nl + d;
            if ((size_t)(w - buf) + need > len)
                break;
            for (size_t v = 0; v < t->r->ntenant; v++)
                if (crm_vault_unwrap(t->r->tenant[v], t->label, t->aad,
                                     strlen(t->aad), w, need, t->last) == 0) {
                    t->opened++;
                    if (t->label == 'I')
                        keep_index(t->r, t->last);
                }
        }
    }
}

static size_t
keys_opened(keyring *r, const char *dir, char label, const char *name,
            const char *aad)
{
    unwrap_try t = {.r = r, .label = label, .name = name, .aad = aad};
    fx_each_file(dir, try_unwrap, &t);
    return t.opened;
}

static void
load_master(const char *path, uint8_t out[CRM_KEY_LEN])
{
    crm_error why;
    assert_int_equal(crm_master_key_load(path, out, &why), CRM_OK);
}

/* The blind entries of g under key: e-mail, phone, each name token. */
static void
add_blinds(fx_scan *s, const uint8_t key[CRM_KEY_LEN], const guest *g)
{
    char norm[CRM_NORM_MAX + 1], label[96];
    uint8_t h[CRM_BLIND_LEN];
    int n = crm_norm_email(g->email, strlen(g->email), norm, sizeof(norm));
    assert_true(n > 0);
    crm_blind(key, CRM_NORM_EMAIL, norm, (size_t)n, h);
    snprintf(label, sizeof(label), "blind e-mail of %s", g->id);
    fx_scan_add_bytes(s, h, sizeof(h), label);
    n = crm_norm_phone(g->phone, strlen(g->phone), NULL, norm, sizeof(norm));
    assert_true(n > 0);
    crm_blind(key, CRM_NORM_PHONE, norm, (size_t)n, h);
    snprintf(label, sizeof(label), "blind phone of %s", g->id);
    fx_scan_add_bytes(s, h, sizeof(h), label);
    char tok[CRM_NORM_TOKENS_MAX][CRM_NORM_TOKEN_LEN];
    n = crm_norm_name_tokens(g->last, strlen(g->last), tok, CRM_NORM_TOKENS_MAX);
    for (int i = 0; i < n; i++) {
        crm_blind(key, CRM_NORM_NAME, tok[i], strlen(tok[i]), h);
        snprintf(label, sizeof(label), "blind name of %s", g->id);
        fx_scan_add_bytes(s, h, sizeof(h), label);
    }
}

static void
keyring_free(keyring *r)
{
    for (size_t i = 0; i < r->ntenant; i++)
        crm_vault_close(r->tenant[i]);
    memset(r, 0, sizeof(*r));
}

/* Everything the files under data hold about guests ids[0..n) (erased:
 * nothing may open; else each must). */
static void
check_files(const char *data, const char *master, const int *ids, size_t n,
            int want_gone)
{
    keyring r = {0};
    load_master(master, r.master);
    fx_each_file(data, find_tenant_keys, &r);
    /* the live tenant key and nothing else: the old ones were overwritten */
    assert_int_equal(r.ntenant, 1);
    /* every index key a tenant key opens, live or stale: only the live
     * one (copies of it in freed pages included) */
    assert_true(keys_opened(&r, data, 'I', "index_key_w", "index") > 0);
    assert_int_equal(r.nindex, 1);
    fx_scan *text = fx_scan_new(), *blind = fx_scan_new();
    for (size_t i = 0; i < n; i++) {
        guest g;
        guest_of(ids[i], &g);
        size_t opened = keys_opened(&r, data, 'S', g.id, g.id);
        if (want_gone && opened)
            fail_msg("%zu keys of erased guest %s still open", opened, g.id);
        if (!want_gone && opened == 0)
            fail_msg("kept guest %s: its key was not found (the search "
                     "cannot work)",
                     g.id);
        const char *vals[] = {g.first, g.last, g.email, g.phone, g.passport,
                              g.complaint};
        for (size_t v = 0; v < 6; v++)
            fx_scan_add_text(text, vals[v]);
        for (size_t k = 0; k < r.nindex; k++)
            add_blinds(blind, r.index[k], &g);
    }
    char found[2048];
    int hits = fx_scan_dir(text, data, found, sizeof(found));
    if (hits)
        fail_msg("personal data on disk: %s", found);
    hits = fx_scan_dir(blind, data, found, sizeof(found));
    if (want_gone && hits)
        fail_msg("blind-index entries of erased guests: %s", found);
    if (!want_gone && hits < (int)n)
        fail_msg("kept guests' blind entries not found (%d of %zu): the "
                 "search cannot work",
                 hits, n);
    fx_scan_free(text);
    fx_scan_free(blind);
    keyring_free(&r);
}

/* Hits of guest i's personal values in its customer.export (its first
 * page: events, view, loyalty, consents) over c. */
static int
export_hits(crm_client *c, int i, char *found, size_t cap)
{
    guest g;
    guest_of(i, &g);
    const msgpack_object *res;
    crm_error why;
    fx_kv kv[] = {FX_S("customer", g.id), FX_I("max", 1000)};
    assert_int_equal(fx_call_kv(c, "customer.export", kv, 2, &res, &why),
                     CRM_OK);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(msgpack_pack_object(&pk, *res), 0);
    fx_scan *s = fx_scan_new();
    const char *vals[] = {g.first, g.last, g.email, g.phone, g.passport,
                          g.complaint};
    for (size_t v = 0; v < 6; v++)
        fx_scan_add_text(s, vals[v]);
    int hits = fx_scan_buf(s, sb.data, sb.size, "customer.export", found, cap);
    fx_scan_free(s);
    msgpack_sbuffer_destroy(&sb);
    fx_reset();
    return hits;
}

/* --- tests -------------------------------------------------------------------- */

static void
test_erase_hundred_and_scan(void **state)
{
    (void)state;
    crm_client *a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    char b[64];
    int ids[GUESTS / ERASE_EVERY], kept[10];
    size_t n = 0;
    for (int i = 0; i < GUESTS; i += ERASE_EVERY) {
        guest g;
        guest_of(i, &g);
        ids[n++] = i;
        int last = i + ERASE_EVERY >= GUESTS;
        assert_int_equal(erase(a, g.id, last, &res, &why), CRM_OK);
        if (last)
            assert_string_equal(status_of(res, b, sizeof(b)), "complete");
        fx_reset();
    }
    /* every receipt complete; found by nothing */
    for (size_t i = 0; i < n; i++) {
        guest g;
        guest_of(ids[i], &g);
        fx_kv kv[] = {FX_S("customer", g.id)};
        assert_int_equal(
            fx_call_kv(a, "customer.erasure_receipt", kv, 1, &res, &why),
            CRM_OK);
        assert_string_equal(status_of(res, b, sizeof(b)), "complete");
        assert_int_equal(find_hits(a, "email", g.email), 0);
        fx_reset();
    }
    guest g1;
    guest_of(1, &g1);
    assert_int_equal(find_hits(a, "email", g1.email), 1);
    assert_int_equal(find_hits(a, "phone", g1.phone), 1);
    fx_reset();
    check_guests(a);
    /* an export taken afterwards holds none of it; a kept guest's has
     * its own values (the scan can fail) */
    char found[1024];
    for (size_t i = 0; i < n; i += 10)
        if (export_hits(a, ids[i], found, sizeof(found)) != 0)
            fail_msg("export of an erased guest: %s", found);
    assert_true(export_hits(a, 1, found, sizeof(found)) >= 4);
    crm_client_close(a);
    /* and a backup taken afterwards (checked with the data directory) */
    crm_client *op = fx_client(&D, D.url, D.operator_key);
    fx_kv bk[] = {FX_S("name", "after-erasure")};
    assert_int_equal(fx_call_kv(op, "backup", bk, 1, &res, &why), CRM_OK);
    crm_client_close(op);
    fx_reset();

    /* stopped: every page on disk */
    assert_int_equal(fx_crmd_stop_clean(&D), 0);
    char data[600];
    snprintf(data, sizeof(data), "%s/data", D.dir);
    check_files(data, D.master_key, ids, n, 1);
    for (int i = 0; i < 10; i++)
        kept[i] = 1 + 97 * i + erased(1 + 97 * i); /* never erased */
    check_files(data, D.master_key, kept, 10, 0);
    char backup[600];
    snprintf(backup, sizeof(backup), "%s/backups/after-erasure", D.dir);
    check_files(backup, D.master_key, ids, n, 1);
    check_files(backup, D.master_key, kept, 10, 0);

    /* the 900 after a restart and a rebuild */
    assert_int_equal(fx_crmd_restart(&D), 0);
    a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    assert_int_equal(fx_call_kv(a, "projection.rebuild", NULL, 0, &res, &why),
                     CRM_OK);
    fx_reset();
    check_guests(a);
    assert_int_equal(find_hits(a, "email", g1.email), 1);
    fx_reset();
    crm_client_close(a);
}

static void
test_receipt_and_refusals(void **state)
{
    (void)state;
    crm_client *a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    crm_client *ag = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    crm_client *au = fx_client(&D, D.url, K[CRM_ROLE_AUDITOR]);
    const msgpack_object *res;
    crm_error why;
    char b[128];
    guest g;
    guest_of(5, &g);
    /* who may */
    assert_int_equal(erase(ag, g.id, 0, &res, &why), CRM_ERR_FORBIDDEN);
    assert_int_equal(erase(au, g.id, 0, &res, &why), CRM_ERR_FORBIDDEN);
    /* bad input changes nothing */
    assert_int_equal(erase(a, "eg-none", 0, &res, &why), CRM_ERR_NOT_FOUND);
    fx_kv bad[] = {FX_S("customer", g.id), FX_S("reason", "boredom")};
    assert_int_equal(fx_call_kv(a, "customer.erase", bad, 2, &res, &why),
                     CRM_ERR_BAD_REQUEST);
    fx_kv tenant[] = {FX_S("customer", "$tenant")};
    assert_int_equal(fx_call_kv(a, "customer.erase", tenant, 1, &res, &why),
                     CRM_ERR_BAD_REQUEST);
    fx_kv none[] = {FX_S("customer", g.id)};
    assert_int_equal(
        fx_call_kv(au, "customer.erasure_receipt", none, 1, &res, &why),
        CRM_ERR_NOT_FOUND);
    int was;
    assert_string_equal(first_name(a, g.id, b, sizeof(b), &was), g.first);
    fx_reset();
    /* an event with personal data, stored before the erasure */
    crm_event_in before;
    fx_event(&before, g.id, "customer.preference_set",
             FX_BODY(FX_S("category", "pillow"), FX_S("value", "buckwheat")));
    assert_int_equal(fx_append(ag, &before, 1, &res, &why), CRM_OK);

    /* erased: the receipt now and later, for the auditor too */
    assert_int_equal(erase(a, g.id, 1, &res, &why), CRM_OK);
    assert_string_equal(fx_res_str(res, "tenant", b, sizeof(b)), TENANT);
    assert_string_equal(fx_res_str(res, "subject", b, sizeof(b)), g.id);
    assert_string_equal(status_of(res, b, sizeof(b)), "complete");
    uint64_t pos = fx_res_u64(res, "position");
    assert_true(pos > 0 && pos != UINT64_MAX);
    assert_true(fx_res_u64(res, "completed_at") >= fx_res_u64(res, "requested_at"));
    const msgpack_object *rm = crm_mp_get(res, "removed");
    assert_non_null(rm);
    assert_int_equal(fx_res_u64(rm, "subject_keys_destroyed"), 1);
    assert_int_equal(fx_res_u64(rm, "events_unreadable"), 4);
    fx_reset();
    assert_int_equal(
        fx_call_kv(au, "customer.erasure_receipt", none, 1, &res, &why),
        CRM_OK);
    assert_int_equal(fx_res_u64(res, "position"), pos);
    assert_string_equal(status_of(res, b, sizeof(b)), "complete");
    fx_reset();
    /* again: the same receipt, nothing appended */
    assert_int_equal(erase(a, g.id, 1, &res, &why), CRM_OK);
    assert_int_equal(fx_res_u64(res, "position"), pos);
    fx_reset();

    /* the events keep their public part; nothing personal opens */
    fx_kv rs[] = {FX_S("stream", g.id)};
    assert_int_equal(fx_call_kv(a, "read.stream", rs, 1, &res, &why), CRM_OK);
    const msgpack_object *evs = crm_mp_get(res, "events");
    assert_int_equal(evs->via.array.size, 5);
    for (uint32_t i = 0; i < evs->via.array.size; i++) {
        const msgpack_object *pii = crm_mp_get(&evs->via.array.ptr[i], "pii");
        assert_true(pii == NULL || pii->type == MSGPACK_OBJECT_NIL);
    }
    fx_reset();
    /* no personal data can be added to an erased guest; the rest can */
    crm_event_in ev;
    fx_event(&ev, g.id, "customer.preference_set",
             FX_BODY(FX_S("category", "diet"), FX_S("value", "halal")));
    assert_int_equal(fx_append(ag, &ev, 1, &res, &why), CRM_ERR_CONFLICT);
    assert_non_null(strstr(why.msg, "erased"));
    /* a retry of what was stored before is still answered as such */
    before.body = FX_BODY(FX_S("category", "pillow"), FX_S("value", "buckwheat"));
    crm_err err = fx_append(ag, &before, 1, &res, &why);
    if (err != CRM_OK)
        fail_msg("retry: %s", why.msg);
    assert_int_equal(fx_res_u64(res, "duplicates"), 1);
    fx_reset();
    /* the signing key came through the erasure rounds' rewraps */
    assert_int_equal(fx_call_kv(a, "audit.checkpoint", NULL, 0, &res, &why),
                     CRM_OK);
    assert_int_equal(fx_call_kv(a, "audit.verify", NULL, 0, &res, &why),
                     CRM_OK);
    const msgpack_object *ok = crm_mp_get(res, "ok");
    assert_true(ok && ok->via.boolean);
    fx_reset();
    fx_event(&ev, g.id, "spend.recorded",
             FX_BODY(FX_I("amount", 1200), FX_S("currency", "EUR"),
                     FX_S("category", "spa")));
    assert_int_equal(fx_append(ag, &ev, 1, &res, &why), CRM_OK);
    fx_reset();
    crm_client_close(a);
    crm_client_close(ag);
    crm_client_close(au);
}

static void
test_merged_guest(void **state)
{
    (void)state;
    crm_client *a = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    char b[64];
    guest g7, g8, g9;
    guest_of(7, &g7);
    guest_of(8, &g8);
    guest_of(9, &g9);
    /* 8 folded into 7, 9 into 8 */
    crm_event_in ev[2];
    fx_event(&ev[0], g7.id, "customer.merged", FX_BODY(FX_S("merged", g8.id)));
    fx_event(&ev[1], g8.id, "customer.merged", FX_BODY(FX_S("merged", g9.id)));
    assert_int_equal(fx_append(a, ev, 2, &res, &why), CRM_OK);
    fx_reset();
    assert_int_equal(erase(a, g7.id, 1, &res, &why), CRM_OK);
    assert_string_equal(status_of(res, b, sizeof(b)), "complete");
    const msgpack_object *st = crm_mp_get(res, "streams");
    assert_int_equal(st->via.array.size, 3);
    assert_string_equal(fx_res_str(&st->via.array.ptr[2], "id", b, sizeof(b)),
                        g9.id);
    fx_reset();
    int was;
    const char *ids[] = {g7.id, g8.id, g9.id};
    const char *mails[] = {g7.email, g8.email, g9.email};
    for (int i = 0; i < 3; i++) {
        first_name(a, ids[i], b, sizeof(b), &was);
        assert_true(was);
        assert_int_equal(find_hits(a, "email", mails[i]), 0);
        fx_reset();
    }
    crm_client_close(a);
}

/* A crmd of its own (extra: its flags) with guests 0..n-1 loaded. */
static void
start_loaded(fx_crmd *k, char keys[][128], const char *const *extra, int n)
{
    assert_int_equal(fx_crmd_start(k, 0, extra), 0);
    assert_int_equal(fx_tenant(k, TENANT, keys), 0);
    assert_int_equal(load_guests(k, keys[CRM_ROLE_AGENT], n), 0);
}

/* kill -9 right after an erasure was acknowledged (its round under
 * way): on restart the erasure completes, the others are whole. */
static void
test_kill_during_erasure(void **state)
{
    (void)state;
    fx_crmd k;
    char keys[CRM_ROLE__COUNT][128], b[64];
    start_loaded(&k, keys, NULL, 2000);
    crm_client *a = fx_client(&k, k.url, keys[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    guest g;
    guest_of(1234, &g);
    assert_int_equal(erase(a, g.id, 0, &res, &why), CRM_OK);
    int pending = strcmp(status_of(res, b, sizeof(b)), "pending") == 0;
    crm_client_close(a);
    fx_reset();
    assert_int_equal(fx_crmd_stop(&k, SIGKILL), 128 + SIGKILL);
    assert_int_equal(fx_crmd_restart(&k), 0);
    a = fx_client(&k, k.url, keys[CRM_ROLE_ADMIN]);
    fx_kv kv[] = {FX_S("customer", g.id)};
    int done = 0;
    for (int i = 0; i < 300 && !done; i++) {
        assert_int_equal(
            fx_call_kv(a, "customer.erasure_receipt", kv, 1, &res, &why),
            CRM_OK);
        done = strcmp(status_of(res, b, sizeof(b)), "complete") == 0;
        fx_reset();
        if (!done)
            usleep(100000);
    }
    printf("erasure was %s when killed; complete after restart: %d\n",
           pending ? "pending" : "complete", done);
    assert_true(done);
    int was;
    first_name(a, g.id, b, sizeof(b), &was);
    assert_true(was);
    guest h;
    guest_of(1235, &h);
    assert_string_equal(first_name(a, h.id, b, sizeof(b), &was), h.first);
    fx_reset();
    crm_client_close(a);
    assert_int_equal(fx_crmd_stop_clean(&k), 0);
    char data[600];
    snprintf(data, sizeof(data), "%s/data", k.dir);
    int gone[] = {1234}, live[] = {1235};
    check_files(data, k.master_key, gone, 1, 1);
    check_files(data, k.master_key, live, 1, 0);
    fx_crmd_cleanup(&k);
}

/* With no projection kept there is nothing to rebuild: the round is one
 * transaction, and the erasure is as complete. */
static void
test_without_projections(void **state)
{
    (void)state;
    fx_crmd k;
    char keys[CRM_ROLE__COUNT][128], b[64];
    static const char *const none[] = {"--projections", "none", NULL};
    start_loaded(&k, keys, none, 20);
    crm_client *a = fx_client(&k, k.url, keys[CRM_ROLE_ADMIN]);
    const msgpack_object *res;
    crm_error why;
    guest g;
    guest_of(3, &g);
    assert_int_equal(erase(a, g.id, 1, &res, &why), CRM_OK);
    assert_string_equal(status_of(res, b, sizeof(b)), "complete");
    crm_client_close(a);
    fx_reset();
    assert_int_equal(fx_crmd_stop_clean(&k), 0);
    char data[600];
    snprintf(data, sizeof(data), "%s/data", k.dir);
    int gone[] = {3};
    check_files(data, k.master_key, gone, 1, 1);
    fx_crmd_cleanup(&k);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_erase_hundred_and_scan),
        cmocka_unit_test(test_receipt_and_refusals),
        cmocka_unit_test(test_merged_guest),
        cmocka_unit_test(test_kill_during_erasure),
        cmocka_unit_test(test_without_projections),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
