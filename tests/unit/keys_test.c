/* keys_test.c - API keys on a real registry: token form, authentication,
 * revocation and its tenant scope, validation, listing without secrets,
 * persistence across reopen and reload, the bootstrap operator key, and
 * that the registry file never holds a secret. */
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
#include <unistd.h>

#include "clock.h"
#include "fixture.h"
#include "hash.h"
#include "keys.h"
#include "store.h"

typedef struct ctx {
    char dir[512];
    crm_store *store;
    crm_keys *keys;
} ctx;

static void
open_all(ctx *c)
{
    crm_error why;
    if (crm_store_open(c->dir, NULL, &c->store, &why) != CRM_OK)
        fail_msg("store open: %s", why.msg);
    if (crm_keys_open(c->store, &c->keys, &why) != CRM_OK)
        fail_msg("keys open: %s", why.msg);
}

static void
close_all(ctx *c)
{
    crm_keys_close(c->keys);
    crm_store_close(c->store);
    c->keys = NULL;
    c->store = NULL;
}

static int
setup(void **state)
{
    static ctx c;
    memset(&c, 0, sizeof(c));
    fx_tmpdir(c.dir, sizeof(c.dir), "keys");
    open_all(&c);
    *state = &c;
    return 0;
}

static int
teardown(void **state)
{
    ctx *c = *state;
    close_all(c);
    fx_rmrf(c->dir);
    return 0;
}

static int
is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Creates a key that must succeed. */
static void
make(crm_keys *k, const char *tenant, crm_role role, const char *label,
     char token[CRM_KEY_TOKEN_LEN + 1], crm_key_info *info)
{
    crm_error why;
    memset(token, 'Z', CRM_KEY_TOKEN_LEN + 1);
    if (crm_keys_create(k, tenant, role, label, token, info, &why) != CRM_OK)
        fail_msg("create %s/%s: %s", tenant, crm_role_name(role), why.msg);
}

static crm_err
auth(crm_keys *k, const char *token, crm_key_info *out)
{
    crm_key_info tmp;
    return crm_keys_auth(k, token, strlen(token), out ? out : &tmp);
}

static void
check_token_form(const char *token, const crm_key_info *info)
{
    assert_int_equal(strlen(token), CRM_KEY_TOKEN_LEN);
    assert_int_equal(CRM_KEY_TOKEN_LEN, 5 + 16 + 1 + 64);
    assert_memory_equal(token, "crmk_", 5);
    assert_true(is_lower_hex(token + 5, 16));
    assert_int_equal(token[21], '_');
    assert_true(is_lower_hex(token + 22, 64));
    assert_int_equal(strlen(info->id), CRM_KEY_ID_LEN);
    assert_memory_equal(token + 5, info->id, CRM_KEY_ID_LEN);
}

static void
test_create_each_role(void **state)
{
    ctx *c = *state;
    char token[CRM_KEY_TOKEN_LEN + 1], prev[CRM_KEY_TOKEN_LEN + 1] = "";

    for (int r = 0; r < CRM_ROLE__COUNT; r++) {
        crm_role role = (crm_role)r;
        const char *tenant = role == CRM_ROLE_OPERATOR ? "" : "acme-hotels";
        crm_key_info info, got;
        int64_t before = crm_now_us();
        make(c->keys, tenant, role, crm_role_name(role), token, &info);
        int64_t after = crm_now_us();

        check_token_form(token, &info);
        assert_string_not_equal(token, prev);
        assert_string_equal(info.tenant, tenant);
        assert_int_equal(info.role, role);
        assert_string_equal(info.label, crm_role_name(role));
        assert_int_equal(info.revoked_at, 0);
        assert_true(info.created_at >= before && info.created_at <= after);

        memset(&got, 0xa5, sizeof(got));
        assert_int_equal(auth(c->keys, token, &got), CRM_OK);
        assert_string_equal(got.id, info.id);
        assert_string_equal(got.tenant, tenant);
        assert_int_equal(got.role, role);
        assert_int_equal(got.created_at, info.created_at);
        assert_int_equal(got.revoked_at, 0);
        assert_string_equal(got.label, crm_role_name(role));
        memcpy(prev, token, sizeof(prev));
    }
    /* the info pointer is optional; a NULL label is an empty one */
    crm_error why;
    assert_int_equal(crm_keys_create(c->keys, "blue-charters", CRM_ROLE_AGENT,
                                     NULL, token, NULL, &why),
                     CRM_OK);
    crm_key_info got;
    assert_int_equal(auth(c->keys, token, &got), CRM_OK);
    assert_string_equal(got.tenant, "blue-charters");
    assert_string_equal(got.label, "");
    /* a label of exactly the limit is fine */
    char label[CRM_KEY_LABEL_MAX + 1];
    memset(label, 'l', CRM_KEY_LABEL_MAX);
    label[CRM_KEY_LABEL_MAX] = '\0';
    crm_key_info info;
    make(c->keys, "acme-hotels", CRM_ROLE_AUDITOR, label, token, &info);
    assert_string_equal(info.label, label);
    assert_int_equal(auth(c->keys, token, &got), CRM_OK);
    assert_string_equal(got.label, label);
    /* a tenant id of the maximum length is fine */
    char tenant[CRM_TENANT_MAX + 1];
    memset(tenant, 't', CRM_TENANT_MAX);
    tenant[CRM_TENANT_MAX] = '\0';
    make(c->keys, tenant, CRM_ROLE_ADMIN, "long", token, &info);
    assert_int_equal(auth(c->keys, token, &got), CRM_OK);
    assert_string_equal(got.tenant, tenant);
}

static void
test_bad_tokens(void **state)
{
    ctx *c = *state;
    char token[CRM_KEY_TOKEN_LEN + 1], other[CRM_KEY_TOKEN_LEN + 1];
    char t[CRM_KEY_TOKEN_LEN + 8];
    crm_key_info info, oinfo, got;

    make(c->keys, "acme-hotels", CRM_ROLE_ADMIN, "a", token, &info);
    make(c->keys, "acme-hotels", CRM_ROLE_AGENT, "b", other, &oinfo);
    assert_int_equal(auth(c->keys, token, NULL), CRM_OK);

    /* one changed character anywhere in the secret */
    for (size_t i = 22; i < CRM_KEY_TOKEN_LEN; i++) {
        memcpy(t, token, sizeof(token));
        t[i] = t[i] == '0' ? '1' : '0';
        if (auth(c->keys, t, NULL) != CRM_ERR_UNAUTHORIZED)
            fail_msg("secret changed at %zu accepted", i);
        t[i] = 'g'; /* not hex */
        assert_int_equal(auth(c->keys, t, NULL), CRM_ERR_UNAUTHORIZED);
    }
    /* one changed character in the id */
    for (size_t i = 5; i < 21; i++) {
        memcpy(t, token, sizeof(token));
        t[i] = t[i] == '0' ? '1' : '0';
        assert_int_equal(auth(c->keys, t, NULL), CRM_ERR_UNAUTHORIZED);
    }
    /* wrong prefix and separator */
    static const char *const prefixes[] = {"crmx_", "CRMK_", "xrmk_", "crmk-"};
    for (size_t i = 0; i < 4; i++) {
        memcpy(t, token, sizeof(token));
        memcpy(t, prefixes[i], 5);
        assert_int_equal(auth(c->keys, t, NULL), CRM_ERR_UNAUTHORIZED);
    }
    memcpy(t, token, sizeof(token));
    t[21] = '-';
    assert_int_equal(auth(c->keys, t, NULL), CRM_ERR_UNAUTHORIZED);
    /* wrong lengths: one short, one long, empty, NULL */
    assert_int_equal(crm_keys_auth(c->keys, token, CRM_KEY_TOKEN_LEN - 1, &got),
                     CRM_ERR_UNAUTHORIZED);
    memcpy(t, token, CRM_KEY_TOKEN_LEN);
    t[CRM_KEY_TOKEN_LEN] = '0';
    t[CRM_KEY_TOKEN_LEN + 1] = '\0';
    assert_int_equal(auth(c->keys, t, NULL), CRM_ERR_UNAUTHORIZED);
    assert_int_equal(crm_keys_auth(c->keys, "", 0, &got), CRM_ERR_UNAUTHORIZED);
    assert_int_equal(crm_keys_auth(c->keys, NULL, 0, &got),
                     CRM_ERR_UNAUTHORIZED);
    assert_int_equal(crm_keys_auth(c->keys, "crmk_", 5, &got),
                     CRM_ERR_UNAUTHORIZED);
    /* an unknown id with a well-formed secret */
    memcpy(t, token, sizeof(token));
    memcpy(t + 5, "0123456789abcdef", 16);
    if (strncmp(info.id, "0123456789abcdef", 16) != 0)
        assert_int_equal(auth(c->keys, t, NULL), CRM_ERR_UNAUTHORIZED);
    /* one key's id with another key's secret */
    memcpy(t, token, sizeof(token));
    memcpy(t + 22, other + 22, 64);
    assert_int_equal(auth(c->keys, t, NULL), CRM_ERR_UNAUTHORIZED);
    /* the length given is what counts: a good token read with a shorter
     * length is refused, a good one inside a longer buffer is accepted */
    memcpy(t, token, CRM_KEY_TOKEN_LEN);
    memcpy(t + CRM_KEY_TOKEN_LEN, "junk", 5);
    assert_int_equal(crm_keys_auth(c->keys, t, CRM_KEY_TOKEN_LEN, &got),
                     CRM_OK);
    assert_string_equal(got.id, info.id);
    /* both keys still work */
    assert_int_equal(auth(c->keys, token, &got), CRM_OK);
    assert_int_equal(got.role, CRM_ROLE_ADMIN);
    assert_int_equal(auth(c->keys, other, &got), CRM_OK);
    assert_int_equal(got.role, CRM_ROLE_AGENT);
}

static void
test_revoke(void **state)
{
    ctx *c = *state;
    char a[CRM_KEY_TOKEN_LEN + 1], b[CRM_KEY_TOKEN_LEN + 1],
        op[CRM_KEY_TOKEN_LEN + 1];
    crm_key_info ia, ib, iop, got;
    crm_error why;

    make(c->keys, "acme-hotels", CRM_ROLE_AGENT, "a", a, &ia);
    make(c->keys, "blue-charters", CRM_ROLE_AGENT, "b", b, &ib);
    make(c->keys, "", CRM_ROLE_OPERATOR, "op", op, &iop);

    /* another tenant's scope cannot see the key */
    memset(&why, 0, sizeof(why));
    assert_int_equal(crm_keys_revoke(c->keys, ia.id, "blue-charters", &why),
                     CRM_ERR_NOT_FOUND);
    assert_int_equal(why.code, CRM_ERR_NOT_FOUND);
    assert_int_equal(auth(c->keys, a, NULL), CRM_OK);
    /* nor an operator key from a tenant scope */
    assert_int_equal(crm_keys_revoke(c->keys, iop.id, "acme-hotels", &why),
                     CRM_ERR_NOT_FOUND);
    assert_int_equal(auth(c->keys, op, NULL), CRM_OK);
    /* unknown and malformed ids */
    assert_int_equal(crm_keys_revoke(c->keys, "0000000000000000", NULL, &why),
                     CRM_ERR_NOT_FOUND);
    assert_int_equal(crm_keys_revoke(c->keys, "", NULL, &why),
                     CRM_ERR_NOT_FOUND);
    assert_int_equal(crm_keys_revoke(c->keys, "abc", NULL, &why),
                     CRM_ERR_NOT_FOUND);
    char longid[64];
    snprintf(longid, sizeof(longid), "%sff", ia.id);
    assert_int_equal(crm_keys_revoke(c->keys, longid, NULL, &why),
                     CRM_ERR_NOT_FOUND);
    assert_int_equal(auth(c->keys, a, NULL), CRM_OK);

    /* its own tenant's scope revokes it */
    int64_t before = crm_now_us();
    assert_int_equal(crm_keys_revoke(c->keys, ia.id, "acme-hotels", &why),
                     CRM_OK);
    assert_int_equal(auth(c->keys, a, &got), CRM_ERR_UNAUTHORIZED);
    /* the other keys are untouched */
    assert_int_equal(auth(c->keys, b, NULL), CRM_OK);
    assert_int_equal(auth(c->keys, op, NULL), CRM_OK);

    /* the listing shows it revoked, when */
    crm_key_info *v;
    size_t n;
    assert_int_equal(crm_keys_list(c->keys, "acme-hotels", &v, &n), CRM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, ia.id);
    assert_true(v[0].revoked_at >= before && v[0].revoked_at <= crm_now_us());
    int64_t revoked_at = v[0].revoked_at;
    free(v);

    /* revoking again does not bring it back */
    crm_keys_revoke(c->keys, ia.id, NULL, NULL);
    assert_int_equal(auth(c->keys, a, NULL), CRM_ERR_UNAUTHORIZED);
    assert_int_equal(crm_keys_list(c->keys, "acme-hotels", &v, &n), CRM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].revoked_at, revoked_at);
    free(v);

    /* without a scope (operator) any key can be revoked */
    assert_int_equal(crm_keys_revoke(c->keys, ib.id, NULL, &why), CRM_OK);
    assert_int_equal(auth(c->keys, b, NULL), CRM_ERR_UNAUTHORIZED);
    /* the operator scope "" reaches operator keys */
    assert_int_equal(crm_keys_revoke(c->keys, iop.id, "", &why), CRM_OK);
    assert_int_equal(auth(c->keys, op, NULL), CRM_ERR_UNAUTHORIZED);
}

static void
test_create_validation(void **state)
{
    ctx *c = *state;
    char token[CRM_KEY_TOKEN_LEN + 1];
    crm_error why;
    crm_key_info *v;
    size_t n;

    /* operator keys have no tenant */
    memset(&why, 0, sizeof(why));
    assert_int_equal(crm_keys_create(c->keys, "acme-hotels", CRM_ROLE_OPERATOR,
                                     "x", token, NULL, &why),
                     CRM_ERR_BAD_REQUEST);
    assert_int_equal(why.code, CRM_ERR_BAD_REQUEST);
    assert_true(why.msg[0] != '\0');
    /* every other role needs one */
    for (int r = 0; r < CRM_ROLE__COUNT; r++) {
        if (r == CRM_ROLE_OPERATOR) continue;
        memset(&why, 0, sizeof(why));
        assert_int_equal(
            crm_keys_create(c->keys, "", (crm_role)r, "x", token, NULL, &why),
            CRM_ERR_BAD_REQUEST);
        assert_true(why.msg[0] != '\0');
    }
    /* tenant id too long, unknown role */
    char tenant[CRM_TENANT_MAX + 2];
    memset(tenant, 't', CRM_TENANT_MAX + 1);
    tenant[CRM_TENANT_MAX + 1] = '\0';
    assert_int_equal(crm_keys_create(c->keys, tenant, CRM_ROLE_ADMIN, "x",
                                     token, NULL, &why),
                     CRM_ERR_BAD_REQUEST);
    assert_int_equal(crm_keys_create(c->keys, "acme-hotels", CRM_ROLE__COUNT,
                                     "x", token, NULL, &why),
                     CRM_ERR_BAD_REQUEST);
    /* label too long */
    char label[CRM_KEY_LABEL_MAX + 2];
    memset(label, 'l', CRM_KEY_LABEL_MAX + 1);
    label[CRM_KEY_LABEL_MAX + 1] = '\0';
    memset(&why, 0, sizeof(why));
    assert_int_equal(crm_keys_create(c->keys, "acme-hotels", CRM_ROLE_ADMIN,
                                     label, token, NULL, &why),
                     CRM_ERR_TOO_LARGE);
    assert_int_equal(why.code, CRM_ERR_TOO_LARGE);
    assert_true(why.msg[0] != '\0');
    /* nothing was stored by the refused calls */
    assert_int_equal(crm_keys_list(c->keys, NULL, &v, &n), CRM_OK);
    assert_int_equal(n, 0);
    free(v);
}

static int
contains(const void *hay, size_t hlen, const void *needle, size_t nlen)
{
    return memmem(hay, hlen, needle, nlen) != NULL;
}

static void
test_list(void **state)
{
    ctx *c = *state;
    char tokens[5][CRM_KEY_TOKEN_LEN + 1];
    crm_key_info infos[5];
    crm_key_info *v;
    size_t n;

    /* an empty registry lists nothing */
    assert_int_equal(crm_keys_list(c->keys, NULL, &v, &n), CRM_OK);
    assert_int_equal(n, 0);
    free(v);

    make(c->keys, "acme-hotels", CRM_ROLE_ADMIN, "a1", tokens[0], &infos[0]);
    make(c->keys, "acme-hotels", CRM_ROLE_FINANCE, "a2", tokens[1], &infos[1]);
    make(c->keys, "blue-charters", CRM_ROLE_AGENT, "b1", tokens[2], &infos[2]);
    make(c->keys, "", CRM_ROLE_OPERATOR, "o1", tokens[3], &infos[3]);
    make(c->keys, "acme-hotels-2", CRM_ROLE_AGENT, "a3", tokens[4], &infos[4]);

    static const struct {
        const char *tenant;
        size_t n;
        int which[5];
    } cases[] = {
        {"acme-hotels", 2, {0, 1}},
        {"blue-charters", 1, {2}},
        {"", 1, {3}},
        {"acme-hotels-2", 1, {4}},
        {"acme", 0, {0}},
        {"nobody", 0, {0}},
        {NULL, 5, {0, 1, 2, 3, 4}},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        assert_int_equal(crm_keys_list(c->keys, cases[k].tenant, &v, &n),
                         CRM_OK);
        assert_non_null(v);
        if (n != cases[k].n)
            fail_msg("tenant %s: %zu keys, want %zu",
                     cases[k].tenant ? cases[k].tenant : "(all)", n,
                     cases[k].n);
        for (size_t i = 0; i < cases[k].n; i++) {
            const crm_key_info *want = &infos[cases[k].which[i]];
            int found = 0;
            for (size_t j = 0; j < n; j++) {
                if (strcmp(v[j].id, want->id) != 0) continue;
                found++;
                assert_string_equal(v[j].tenant, want->tenant);
                assert_int_equal(v[j].role, want->role);
                assert_string_equal(v[j].label, want->label);
                assert_int_equal(v[j].created_at, want->created_at);
                assert_int_equal(v[j].revoked_at, 0);
            }
            assert_int_equal(found, 1);
        }
        /* no secret of any key, in hex or raw, is in what is listed */
        for (size_t t = 0; t < 5; t++) {
            uint8_t raw[32];
            for (size_t i = 0; i < 32; i++) {
                unsigned x;
                sscanf(tokens[t] + 22 + 2 * i, "%2x", &x);
                raw[i] = (uint8_t)x;
            }
            assert_false(contains(v, n * sizeof(*v), tokens[t] + 22, 64));
            assert_false(contains(v, n * sizeof(*v), tokens[t] + 22, 16));
            assert_false(contains(v, n * sizeof(*v), raw, 32));
            assert_false(contains(v, n * sizeof(*v), raw, 8));
        }
        free(v);
    }
}

static void
test_survives_reopen(void **state)
{
    ctx *c = *state;
    char a[CRM_KEY_TOKEN_LEN + 1], b[CRM_KEY_TOKEN_LEN + 1],
        op[CRM_KEY_TOKEN_LEN + 1];
    crm_key_info ia, ib, iop, got;

    make(c->keys, "acme-hotels", CRM_ROLE_MARKETING, "mkt", a, &ia);
    make(c->keys, "blue-charters", CRM_ROLE_REPLICA, "rep", b, &ib);
    make(c->keys, "", CRM_ROLE_OPERATOR, "op", op, &iop);
    assert_int_equal(crm_keys_revoke(c->keys, ib.id, NULL, NULL), CRM_OK);

    close_all(c);
    open_all(c);

    assert_int_equal(auth(c->keys, a, &got), CRM_OK);
    assert_string_equal(got.id, ia.id);
    assert_string_equal(got.tenant, "acme-hotels");
    assert_int_equal(got.role, CRM_ROLE_MARKETING);
    assert_string_equal(got.label, "mkt");
    assert_int_equal(got.created_at, ia.created_at);
    assert_int_equal(auth(c->keys, op, &got), CRM_OK);
    assert_string_equal(got.tenant, "");
    assert_int_equal(got.role, CRM_ROLE_OPERATOR);
    /* revoked stays revoked */
    assert_int_equal(auth(c->keys, b, &got), CRM_ERR_UNAUTHORIZED);
    crm_key_info *v;
    size_t n;
    assert_int_equal(crm_keys_list(c->keys, NULL, &v, &n), CRM_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i].revoked_at != 0, strcmp(v[i].id, ib.id) == 0);
    free(v);

    /* reload keeps everything as it is */
    crm_error why;
    assert_int_equal(crm_keys_reload(c->keys, &why), CRM_OK);
    assert_int_equal(auth(c->keys, a, NULL), CRM_OK);
    assert_int_equal(auth(c->keys, op, NULL), CRM_OK);
    assert_int_equal(auth(c->keys, b, NULL), CRM_ERR_UNAUTHORIZED);
}

static void
test_reload_sees_other_writers(void **state)
{
    ctx *c = *state;
    crm_keys *other;
    crm_error why;
    char a[CRM_KEY_TOKEN_LEN + 1], b[CRM_KEY_TOKEN_LEN + 1];
    crm_key_info ia, ib;

    make(c->keys, "acme-hotels", CRM_ROLE_AGENT, "a", a, &ia);
    /* a second handle on the same registry (another process, or the
     * registry restored) */
    assert_int_equal(crm_keys_open(c->store, &other, &why), CRM_OK);
    assert_int_equal(auth(other, a, NULL), CRM_OK);
    make(other, "acme-hotels", CRM_ROLE_ADMIN, "b", b, &ib);
    assert_int_equal(crm_keys_revoke(other, ia.id, NULL, &why), CRM_OK);

    assert_int_equal(crm_keys_reload(c->keys, &why), CRM_OK);
    assert_int_equal(auth(c->keys, b, NULL), CRM_OK);
    assert_int_equal(auth(c->keys, a, NULL), CRM_ERR_UNAUTHORIZED);
    crm_keys_close(other);
    crm_keys_close(NULL); /* accepted */
}

static void
read_file(const char *path, char *buf, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    *len = fread(buf, 1, cap - 1, f);
    buf[*len] = '\0';
    fclose(f);
}

static void
test_bootstrap(void **state)
{
    ctx *c = *state;
    char path[700], buf[512];
    size_t len;
    int created = -1;
    crm_error why;
    struct stat st;
    crm_key_info got;
    crm_key_info *v;
    size_t n;

    snprintf(path, sizeof(path), "%s/operator.key", c->dir);
    assert_int_equal(crm_keys_bootstrap(c->keys, path, &created, &why), CRM_OK);
    assert_int_equal(created, 1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    read_file(path, buf, sizeof(buf), &len);
    assert_int_equal(len, CRM_KEY_TOKEN_LEN + 1);
    assert_int_equal(buf[CRM_KEY_TOKEN_LEN], '\n');
    buf[CRM_KEY_TOKEN_LEN] = '\0';
    assert_int_equal(auth(c->keys, buf, &got), CRM_OK);
    assert_int_equal(got.role, CRM_ROLE_OPERATOR);
    assert_string_equal(got.tenant, "");
    assert_int_equal(crm_keys_list(c->keys, NULL, &v, &n), CRM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, got.id);
    free(v);
    char first[CRM_KEY_TOKEN_LEN + 1];
    memcpy(first, buf, sizeof(first));
    /* no temporary file is left behind */
    char tmp[760];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0);

    /* the second call finds the key and leaves the file alone */
    assert_int_equal(crm_keys_bootstrap(c->keys, path, &created, &why), CRM_OK);
    assert_int_equal(created, 0);
    read_file(path, buf, sizeof(buf), &len);
    assert_int_equal(len, CRM_KEY_TOKEN_LEN + 1);
    assert_memory_equal(buf, first, CRM_KEY_TOKEN_LEN);
    assert_int_equal(crm_keys_list(c->keys, NULL, &v, &n), CRM_OK);
    assert_int_equal(n, 1);
    free(v);

    /* also after a restart */
    close_all(c);
    open_all(c);
    assert_int_equal(crm_keys_bootstrap(c->keys, path, &created, &why), CRM_OK);
    assert_int_equal(created, 0);
    read_file(path, buf, sizeof(buf), &len);
    assert_memory_equal(buf, first, CRM_KEY_TOKEN_LEN);

    /* once the operator key is revoked, a new one is made and replaces the
     * file */
    assert_int_equal(crm_keys_revoke(c->keys, got.id, NULL, &why), CRM_OK);
    assert_int_equal(crm_keys_bootstrap(c->keys, path, &created, &why), CRM_OK);
    assert_int_equal(created, 1);
    read_file(path, buf, sizeof(buf), &len);
    assert_int_equal(len, CRM_KEY_TOKEN_LEN + 1);
    buf[CRM_KEY_TOKEN_LEN] = '\0';
    assert_string_not_equal(buf, first);
    assert_int_equal(auth(c->keys, buf, &got), CRM_OK);
    assert_int_equal(got.role, CRM_ROLE_OPERATOR);
    assert_int_equal(auth(c->keys, first, NULL), CRM_ERR_UNAUTHORIZED);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
}

static void
test_bootstrap_existing_operator(void **state)
{
    ctx *c = *state;
    char path[700], token[CRM_KEY_TOKEN_LEN + 1];
    int created = -1;
    crm_error why;

    /* an operator key made some other way counts */
    make(c->keys, "", CRM_ROLE_OPERATOR, "mine", token, NULL);
    snprintf(path, sizeof(path), "%s/operator.key", c->dir);
    assert_int_equal(crm_keys_bootstrap(c->keys, path, &created, &why), CRM_OK);
    assert_int_equal(created, 0);
    assert_int_not_equal(access(path, F_OK), 0);
    /* tenant admin keys do not */
    close_all(c);
    fx_rmrf(c->dir);
    mkdir(c->dir, 0700);
    open_all(c);
    make(c->keys, "acme-hotels", CRM_ROLE_ADMIN, "adm", token, NULL);
    assert_int_equal(crm_keys_bootstrap(c->keys, path, &created, &why), CRM_OK);
    assert_int_equal(created, 1);
    assert_int_equal(access(path, F_OK), 0);
}

static void
test_bootstrap_replaces_loose_file(void **state)
{
    ctx *c = *state;
    char path[700];
    int created = -1;
    crm_error why;
    struct stat st;

    /* a world-readable file already at the path is replaced by a 0600
     * one, whatever the umask */
    snprintf(path, sizeof(path), "%s/operator.key", c->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("stale\n", f);
    fclose(f);
    chmod(path, 0644);
    mode_t old = umask(0);
    crm_err err = crm_keys_bootstrap(c->keys, path, &created, &why);
    umask(old);
    assert_int_equal(err, CRM_OK);
    assert_int_equal(created, 1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
}

static void
test_bootstrap_stale_tmp(void **state)
{
    ctx *c = *state;
    char path[700], tmp[760];
    int created = -1;
    crm_error why;
    struct stat st;

    /* a leftover PATH.tmp that is world-readable (an earlier run, another
     * tool) must not give the key file its permissions */
    snprintf(path, sizeof(path), "%s/operator.key", c->dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs("leftover from an interrupted run\n", f);
    fclose(f);
    chmod(tmp, 0644);
    assert_int_equal(crm_keys_bootstrap(c->keys, path, &created, &why), CRM_OK);
    assert_int_equal(created, 1);
    assert_int_equal(stat(path, &st), 0);
    if ((st.st_mode & 07777) != 0600)
        fail_msg("operator key file has mode %04o with a stale %s present, "
                 "want 0600",
                 (unsigned)(st.st_mode & 07777), tmp);
}

static void
test_bootstrap_unwritable(void **state)
{
    ctx *c = *state;
    char path[700];
    int created = -1;
    crm_error why;
    crm_key_info *v;
    size_t n;

    snprintf(path, sizeof(path), "%s/no/such/dir/operator.key", c->dir);
    memset(&why, 0, sizeof(why));
    assert_int_equal(crm_keys_bootstrap(c->keys, path, &created, &why),
                     CRM_ERR_IO);
    assert_int_equal(created, 0);
    assert_non_null(strstr(why.msg, "operator.key"));
    /* the key nobody can read is not left active */
    assert_int_equal(crm_keys_list(c->keys, "", &v, &n), CRM_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(v[i].revoked_at, 0);
    free(v);
    /* and a later bootstrap with a good path works */
    snprintf(path, sizeof(path), "%s/operator.key", c->dir);
    assert_int_equal(crm_keys_bootstrap(c->keys, path, &created, &why), CRM_OK);
    assert_int_equal(created, 1);
}

static void
test_registry_holds_no_secret(void **state)
{
    ctx *c = *state;
    char token[CRM_KEY_TOKEN_LEN + 1], path[700];
    crm_key_info info;
    uint8_t raw[32], h[CRM_HASH_LEN];

    make(c->keys, "acme-hotels", CRM_ROLE_ADMIN, "scan-me", token, &info);
    for (size_t i = 0; i < 32; i++) {
        unsigned x;
        sscanf(token + 22 + 2 * i, "%2x", &x);
        raw[i] = (uint8_t)x;
    }
    crm_sha256_2(raw, sizeof(raw), NULL, 0, h);
    close_all(c);

    snprintf(path, sizeof(path), "%s/registry/data.mdb", c->dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    assert_true(size > 0);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);

    /* the scan works: the key's id and label are there */
    assert_true(contains(data, (size_t)size, info.id, CRM_KEY_ID_LEN));
    assert_true(contains(data, (size_t)size, "scan-me", 7));
    /* the secret is not, in hex (either half) or raw; the hash is */
    assert_false(contains(data, (size_t)size, token + 22, 64));
    assert_false(contains(data, (size_t)size, token + 22, 32));
    assert_false(contains(data, (size_t)size, token + 54, 32));
    assert_false(contains(data, (size_t)size, token, CRM_KEY_TOKEN_LEN));
    assert_false(contains(data, (size_t)size, raw, 32));
    assert_false(contains(data, (size_t)size, raw, 12));
    assert_true(contains(data, (size_t)size, h, sizeof(h)));
    free(data);
    open_all(c);
}

/* Authentication runs on many threads while keys are created, revoked
 * and reloaded. */
typedef struct race {
    crm_keys *keys;
    const char *token;
    _Atomic int stop;
    int failures;
} race;

static void *
auth_loop(void *arg)
{
    race *r = arg;
    while (!r->stop) {
        crm_key_info got;
        if (crm_keys_auth(r->keys, r->token, strlen(r->token), &got) !=
                CRM_OK ||
            strcmp(got.tenant, "acme-hotels") != 0)
            r->failures++;
    }
    return NULL;
}

static void
test_concurrent_auth(void **state)
{
    ctx *c = *state;
    char stable[CRM_KEY_TOKEN_LEN + 1], t[CRM_KEY_TOKEN_LEN + 1];
    crm_key_info info;
    pthread_t th[3];
    race r[3];

    make(c->keys, "acme-hotels", CRM_ROLE_AGENT, "stable", stable, NULL);
    for (int i = 0; i < 3; i++) {
        r[i].keys = c->keys;
        r[i].token = stable;
        r[i].stop = 0;
        r[i].failures = 0;
        assert_int_equal(pthread_create(&th[i], NULL, auth_loop, &r[i]), 0);
    }
    for (int i = 0; i < 40; i++) {
        make(c->keys, "blue-charters", CRM_ROLE_AGENT, "churn", t, &info);
        assert_int_equal(crm_keys_revoke(c->keys, info.id, NULL, NULL), CRM_OK);
        if (i % 10 == 0)
            assert_int_equal(crm_keys_reload(c->keys, NULL), CRM_OK);
    }
    for (int i = 0; i < 3; i++) {
        r[i].stop = 1;
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].failures, 0);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_create_each_role),
        T(test_bad_tokens),
        T(test_revoke),
        T(test_create_validation),
        T(test_list),
        T(test_survives_reopen),
        T(test_reload_sees_other_writers),
        T(test_bootstrap),
        T(test_bootstrap_existing_operator),
        T(test_bootstrap_replaces_loose_file),
        T(test_bootstrap_stale_tmp),
        T(test_bootstrap_unwritable),
        T(test_registry_holds_no_secret),
        T(test_concurrent_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
