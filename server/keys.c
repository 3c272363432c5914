/* keys.c - API keys in the registry, cached in memory for authentication. */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <msgpack.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hash.h"
#include "mdberr.h"
#include "rpc.h"
#include "views.h"

typedef struct key_entry {
    crm_key_info info;
    uint8_t hash[CRM_HASH_LEN];
} key_entry;

struct crm_keys {
    MDB_env *env;
    MDB_dbi dbi;
    pthread_rwlock_t lock; /* guards the cache */
    pthread_mutex_t wlock; /* serialises writers */
    key_entry *v;          /* sorted by id */
    size_t n;
};

static void
hex(const uint8_t *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int
unhex(const char *s, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : -1;
            if (d < 0)
                return -1;
            v = v << 4 | d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int
cmp_entry(const void *a, const void *b)
{
    return strcmp(((const key_entry *)a)->info.id, ((const key_entry *)b)->info.id);
}

/* --- registry encoding: {t, r, h, c, x, l, g?} ---------------------------- */

/* g (grants) is written only when there are some: a registry of keys
 * without grants stays byte for byte what it was, and keys written
 * before grants existed read as having none. */

static int
encode(const key_entry *e, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int rc = msgpack_pack_map(&pk, 6 + (e->info.grants != 0));
    rc |= crm_mp_pack_cstr(&pk, "t") | crm_mp_pack_cstr(&pk, e->info.tenant);
    rc |= crm_mp_pack_cstr(&pk, "r") | msgpack_pack_int(&pk, (int)e->info.role);
    rc |= crm_mp_pack_cstr(&pk, "h") | msgpack_pack_bin(&pk, CRM_HASH_LEN) |
          msgpack_pack_bin_body(&pk, e->hash, CRM_HASH_LEN);
    rc |= crm_mp_pack_cstr(&pk, "c") | msgpack_pack_int64(&pk, e->info.created_at);
    rc |= crm_mp_pack_cstr(&pk, "x") | msgpack_pack_int64(&pk, e->info.revoked_at);
    rc |= crm_mp_pack_cstr(&pk, "l") | crm_mp_pack_cstr(&pk, e->info.label);
    if (e->info.grants)
        rc |= crm_mp_pack_cstr(&pk, "g") |
              msgpack_pack_uint32(&pk, (uint32_t)e->info.grants);
    return rc;
}

static int
decode(const MDB_val *k, const MDB_val *v, key_entry *e)
{
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    int64_t role, c, x, g = 0;
    int ok = 0;

    memset(e, 0, sizeof(*e));
    if (k->mv_size != CRM_KEY_ID_LEN)
        return -1;
    memcpy(e->info.id, k->mv_data, CRM_KEY_ID_LEN);
    msgpack_zone_init(&z, 512);
    if (msgpack_unpack(v->mv_data, v->mv_size, &off, &z, &o) ==
        MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *t = crm_mp_get(&o, "t"), *h = crm_mp_get(&o, "h"),
                             *l = crm_mp_get(&o, "l");
        if (crm_mp_is_str(t) && t->via.str.size <= CRM_TENANT_MAX &&
            h && h->type == MSGPACK_OBJECT_BIN &&
            h->via.bin.size == CRM_HASH_LEN &&
            crm_mp_int(crm_mp_get(&o, "r"), 0, CRM_ROLE__COUNT - 1, &role) == 0 &&
            crm_mp_int(crm_mp_get(&o, "c"), 0, INT64_MAX, &c) == 0 &&
            crm_mp_int(crm_mp_get(&o, "x"), 0, INT64_MAX, &x) == 0 &&
            (crm_mp_get(&o, "g") == NULL ||
             crm_mp_int(crm_mp_get(&o, "g"), 0, UINT32_MAX, &g) == 0)) {
            memcpy(e->info.tenant, t->via.str.ptr, t->via.str.size);
            memcpy(e->hash, h->via.bin.ptr, CRM_HASH_LEN);
            e->info.role = (crm_role)role;
            e->info.created_at = c;
            e->info.revoked_at = x;
            e->info.grants = (unsigned)g;
            if (crm_mp_is_str(l) && l->via.str.size <= CRM_KEY_LABEL_MAX)
                memcpy(e->info.label, l->via.str.ptr, l->via.str.size);
            ok = 1;
        }
    }
    msgpack_zone_destroy(&z);
    return ok ? 0 : -1;
}

static int
put_entry(crm_keys *k, const key_entry *e, unsigned flags)
{
    msgpack_sbuffer sb;
    MDB_txn *txn;
    int rc;

    msgpack_sbuffer_init(&sb);
    if (encode(e, &sb) != 0) {
        msgpack_sbuffer_destroy(&sb);
        return ENOMEM;
    }
    MDB_val key = {CRM_KEY_ID_LEN, (void *)e->info.id}, val = {sb.size, sb.data};
    if ((rc = mdb_txn_begin(k->env, NULL, 0, &txn)) == 0) {
        if ((rc = mdb_put(txn, k->dbi, &key, &val, flags)) == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* --- cache ---------------------------------------------------------------- */

static crm_err
load(crm_keys *k, crm_error *why)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_stat st;
    key_entry *v = NULL;
    size_t n = 0;
    int rc;

    if ((rc = mdb_txn_begin(k->env, NULL, MDB_RDONLY, &txn)) != 0)
        return crm_mdb_fail(why, rc, "read keys");
    mdb_stat(txn, k->dbi, &st);
    if (st.ms_entries && (v = calloc(st.ms_entries, sizeof(*v))) == NULL) {
        mdb_txn_abort(txn);
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    }
    if ((rc = mdb_cursor_open(txn, k->dbi, &cur)) != 0) {
        free(v);
        mdb_txn_abort(txn);
        return crm_mdb_fail(why, rc, "read keys");
    }
    MDB_val key, val;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
         rc == 0 && n < st.ms_entries;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
        if (decode(&key, &val, &v[n]) == 0)
            n++;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (n > 1) /* v is NULL when the registry has no keys yet */
        qsort(v, n, sizeof(*v), cmp_entry);

    pthread_rwlock_wrlock(&k->lock);
    free(k->v);
    k->v = v;
    k->n = n;
    pthread_rwlock_unlock(&k->lock);
    return CRM_OK;
}

crm_err
crm_keys_open(crm_store *store, crm_keys **out, crm_error *why)
{
    crm_keys *k;
    MDB_txn *txn;
    int rc;

    *out = NULL;
    if ((k = calloc(1, sizeof(*k))) == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    k->env = crm_store_registry(store);
    pthread_rwlock_init(&k->lock, NULL);
    pthread_mutex_init(&k->wlock, NULL);
    if ((rc = mdb_txn_begin(k->env, NULL, 0, &txn)) != 0) {
        crm_keys_close(k);
        return crm_mdb_fail(why, rc, "open keys");
    }
    if ((rc = mdb_dbi_open(txn, "keys", MDB_CREATE, &k->dbi)) != 0 ||
        (rc = mdb_txn_commit(txn)) != 0) {
        if (rc != 0)
            mdb_txn_abort(txn);
        crm_keys_close(k);
        return crm_mdb_fail(why, rc, "open keys");
    }
    crm_err err = load(k, why);
    if (err != CRM_OK) {
        crm_keys_close(k);
        return err;
    }
    *out = k;
    return CRM_OK;
}

void
crm_keys_close(crm_keys *k)
{
    if (k == NULL)
        return;
    free(k->v);
    pthread_rwlock_destroy(&k->lock);
    pthread_mutex_destroy(&k->wlock);
    free(k);
}

crm_err
crm_keys_reload(crm_keys *k, crm_error *why)
{
    pthread_mutex_lock(&k->wlock);
    crm_err err = load(k, why);
    pthread_mutex_unlock(&k->wlock);
    return err;
}

crm_err
crm_keys_create(crm_keys *k, const char *tenant, crm_role role,
                const char *label, char *token_out, crm_key_info *info,
                crm_error *why)
{
    return crm_keys_create_granted(k, tenant, role, 0, label, token_out, info,
                                   why);
}

crm_err
crm_keys_create_granted(crm_keys *k, const char *tenant, crm_role role,
                        unsigned grants, const char *label, char *token_out,
                        crm_key_info *info, crm_error *why)
{
    key_entry e;
    uint8_t idb[CRM_KEY_ID_LEN / 2], secret[32];
    int rc;

    if ((role == CRM_ROLE_OPERATOR) != (tenant[0] == '\0'))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "operator keys have no tenant; other keys need one");
    if (strlen(tenant) > CRM_TENANT_MAX || (unsigned)role >= CRM_ROLE__COUNT)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "bad tenant or role");
    if (!crm_grant_allowed(role, grants))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "a %s key cannot carry that grant",
                             crm_role_name(role));
    if (label && strlen(label) > CRM_KEY_LABEL_MAX)
        return crm_error_set(why, CRM_ERR_TOO_LARGE,
                             "key label is longer than %d bytes",
                             CRM_KEY_LABEL_MAX);
    memset(&e, 0, sizeof(e));
    snprintf(e.info.tenant, sizeof(e.info.tenant), "%s", tenant);
    snprintf(e.info.label, sizeof(e.info.label), "%s", label ? label : "");
    e.info.role = role;
    e.info.grants = grants;
    e.info.created_at = crm_now_us();

    pthread_mutex_lock(&k->wlock);
    do {
        if (RAND_bytes(idb, sizeof(idb)) != 1 ||
            RAND_bytes(secret, sizeof(secret)) != 1) {
            pthread_mutex_unlock(&k->wlock);
            return crm_error_set(why, CRM_ERR_INTERNAL,
                                 "random generator failed");
        }
        hex(idb, sizeof(idb), e.info.id);
        crm_sha256_2(secret, sizeof(secret), NULL, 0, e.hash);
        rc = put_entry(k, &e, MDB_NOOVERWRITE);
    } while (rc == MDB_KEYEXIST);
    crm_err err = rc == 0 ? load(k, why) : crm_mdb_fail(why, rc, "write key");
    pthread_mutex_unlock(&k->wlock);
    if (err != CRM_OK)
        return err;

    char sx[65];
    hex(secret, sizeof(secret), sx);
    OPENSSL_cleanse(secret, sizeof(secret));
    snprintf(token_out, CRM_KEY_TOKEN_LEN + 1, "crmk_%s_%s", e.info.id, sx);
    OPENSSL_cleanse(sx, sizeof(sx));
    if (info)
        *info = e.info;
    return CRM_OK;
}

static key_entry *
find(crm_keys *k, const char *id)
{
    key_entry key;
    snprintf(key.info.id, sizeof(key.info.id), "%s", id);
    return bsearch(&key, k->v, k->n, sizeof(*k->v), cmp_entry);
}

crm_err
crm_keys_revoke(crm_keys *k, const char *id, const char *scope,
                crm_error *why)
{
    crm_err err = CRM_OK;
    key_entry e;

    if (strlen(id) != CRM_KEY_ID_LEN)
        return crm_error_set(why, CRM_ERR_NOT_FOUND, "no such key");
    pthread_mutex_lock(&k->wlock);
    pthread_rwlock_rdlock(&k->lock);
    key_entry *p = find(k, id);
    if (p)
        e = *p;
    pthread_rwlock_unlock(&k->lock);
    if (p == NULL || (scope && strcmp(e.info.tenant, scope) != 0)) {
        err = crm_error_set(why, CRM_ERR_NOT_FOUND, "no such key");
    } else if (e.info.revoked_at == 0) {
        e.info.revoked_at = crm_now_us();
        int rc = put_entry(k, &e, 0);
        err = rc == 0 ? load(k, why) : crm_mdb_fail(why, rc, "revoke key");
    }
    pthread_mutex_unlock(&k->wlock);
    return err;
}

crm_err
crm_keys_auth(crm_keys *k, const char *token, size_t len, crm_key_info *out)
{
    uint8_t secret[32], h[CRM_HASH_LEN];
    char id[CRM_KEY_ID_LEN + 1];

    if (token == NULL || len != CRM_KEY_TOKEN_LEN ||
        memcmp(token, "crmk_", 5) != 0 || token[5 + CRM_KEY_ID_LEN] != '_' ||
        unhex(token + 6 + CRM_KEY_ID_LEN, sizeof(secret), secret) != 0)
        return CRM_ERR_UNAUTHORIZED;
    memcpy(id, token + 5, CRM_KEY_ID_LEN);
    id[CRM_KEY_ID_LEN] = '\0';
    crm_sha256_2(secret, sizeof(secret), NULL, 0, h);
    OPENSSL_cleanse(secret, sizeof(secret));

    crm_err err = CRM_ERR_UNAUTHORIZED;
    pthread_rwlock_rdlock(&k->lock);
    key_entry *e = find(k, id);
    if (e && crm_mem_equal(e->hash, h, CRM_HASH_LEN) && e->info.revoked_at == 0) {
        *out = e->info;
        err = CRM_OK;
    }
    pthread_rwlock_unlock(&k->lock);
    return err;
}

crm_err
crm_keys_list(crm_keys *k, const char *tenant, crm_key_info **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&k->lock);
    crm_key_info *v = calloc(k->n ? k->n : 1, sizeof(*v));
    if (v == NULL) {
        pthread_rwlock_unlock(&k->lock);
        return CRM_ERR_NOMEM;
    }
    size_t c = 0;
    for (size_t i = 0; i < k->n; i++)
        if (tenant == NULL || strcmp(k->v[i].info.tenant, tenant) == 0)
            v[c++] = k->v[i].info;
    pthread_rwlock_unlock(&k->lock);
    *out = v;
    *n = c;
    return CRM_OK;
}

crm_err
crm_keys_bootstrap(crm_keys *k, const char *path, int *created, crm_error *why)
{
    *created = 0;
    pthread_rwlock_rdlock(&k->lock);
    int have = 0;
    for (size_t i = 0; i < k->n && !have; i++)
        have = k->v[i].info.role == CRM_ROLE_OPERATOR &&
               k->v[i].info.revoked_at == 0;
    pthread_rwlock_unlock(&k->lock);
    if (have)
        return CRM_OK;

    char token[CRM_KEY_TOKEN_LEN + 1];
    crm_key_info info;
    crm_err err = crm_keys_create(k, "", CRM_ROLE_OPERATOR, "bootstrap", token,
                                  &info, why);
    if (err != CRM_OK)
        return err;
    /* Written to a temporary file first so a crash never leaves a
     * half-written key file; 0600 from its creation. */
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    /* A stale temporary file (or a link planted there) must not lend the
     * key its mode or its destination: start from a new file. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0)
        goto io_fail;
    char line[CRM_KEY_TOKEN_LEN + 2];
    int n = snprintf(line, sizeof(line), "%s\n", token);
    if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
        close(fd);
        goto io_fail;
    }
    close(fd);
    if (rename(tmp, path) != 0)
        goto io_fail;
    OPENSSL_cleanse(token, sizeof(token));
    *created = 1;
    return CRM_OK;
io_fail:
    err = crm_error_set(why, CRM_ERR_IO, "write operator key to %s: %s", path,
                        strerror(errno));
    crm_keys_revoke(k, info.id, NULL, NULL);
    OPENSSL_cleanse(token, sizeof(token));
    return err;
}
