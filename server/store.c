/* store.c - the data directory: registry env plus lazily opened tenant logs. */
#include "store.h"
#include "manifest.h"
#include "vault.h"

#include "clock.h"
#include "mdberr.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TENANTVAL_LEN 9 /* created_at u64 BE, state */

typedef struct open_log {
    char id[CRM_TENANT_MAX + 1];
    crm_log *log;
    struct open_log *next;
} open_log;

struct crm_store {
    char *dir;
    crm_log_opts log_opts;
    MDB_env *reg;
    MDB_dbi dbi_tenants;
    pthread_mutex_t mu; /* open logs, tenant creation */
    open_log *logs;
    int stopped; /* crm_store_stop: no log opens any more */
};

int
crm_tenant_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > CRM_TENANT_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') ||
              id[i] == '-'))
            return 0;
    return 1;
}

static crm_err
mkdir_p(const char *path, crm_error *why)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof(buf))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "path too long");
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return crm_error_set(why, CRM_ERR_IO, "mkdir %s: %s", buf,
                                 strerror(errno));
        buf[i] = c;
    }
    return CRM_OK;
}

crm_err
crm_store_open(const char *datadir, const crm_log_opts *log_opts,
               crm_store **out, crm_error *why)
{
    crm_store *s;
    crm_err err;
    MDB_txn *txn;
    char path[4096];
    int rc;

    *out = NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL || (s->dir = strdup(datadir)) == NULL) {
        free(s);
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    }
    if (log_opts)
        s->log_opts = *log_opts;
    pthread_mutex_init(&s->mu, NULL);

    snprintf(path, sizeof(path), "%s/registry", datadir);
    if ((err = mkdir_p(path, why)) != CRM_OK)
        goto fail;
    snprintf(path, sizeof(path), "%s/tenants", datadir);
    if ((err = mkdir_p(path, why)) != CRM_OK)
        goto fail;
    snprintf(path, sizeof(path), "%s/registry", datadir);
    if ((rc = mdb_env_create(&s->reg)) != 0 ||
        (rc = mdb_env_set_maxdbs(s->reg, 16)) != 0 ||
        (rc = mdb_env_set_mapsize(s->reg, (size_t)256 << 20)) != 0 ||
        (rc = mdb_env_open(s->reg, path, MDB_NOTLS, 0600)) != 0) {
        err = crm_mdb_fail(why, rc, "open registry");
        goto fail;
    }
    if ((rc = mdb_txn_begin(s->reg, NULL, 0, &txn)) != 0) {
        err = crm_mdb_fail(why, rc, "open registry");
        goto fail;
    }
    MDB_dbi meta;
    if ((rc = mdb_dbi_open(txn, "tenants", MDB_CREATE, &s->dbi_tenants)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &meta)) != 0) {
        mdb_txn_abort(txn);
        err = crm_mdb_fail(why, rc, "open registry");
        goto fail;
    }
    /* a wrong master key is refused here, before any tenant is served */
    if (s->log_opts.master_key &&
        (err = crm_master_key_check(txn, meta, s->log_opts.master_key, why)) !=
            CRM_OK) {
        mdb_txn_abort(txn);
        goto fail;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        err = crm_mdb_fail(why, rc, "open registry");
        goto fail;
    }
    *out = s;
    return CRM_OK;
fail:
    crm_store_close(s);
    return err;
}

void
crm_store_stop(crm_store *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopped = 1;
    for (open_log *o = s->logs; o; o = o->next)
        crm_log_stop(o->log);
    pthread_mutex_unlock(&s->mu);
}

void
crm_store_close(crm_store *s)
{
    if (s == NULL)
        return;
    for (open_log *o = s->logs, *next; o; o = next) {
        next = o->next;
        crm_log_close(o->log);
        free(o);
    }
    if (s->reg)
        mdb_env_close(s->reg);
    pthread_mutex_destroy(&s->mu);
    free(s->dir);
    free(s);
}

/* Opens the tenant's log and keeps it; caller holds s->mu. */
static crm_err
open_tenant_log(crm_store *s, const char *id, crm_log **out, crm_error *why)
{
    char path[4096];
    crm_err err;
    open_log *o;

    for (o = s->logs; o; o = o->next) {
        if (strcmp(o->id, id) == 0) {
            *out = o->log;
            return CRM_OK;
        }
    }
    if (s->stopped)
        return crm_error_set(why, CRM_ERR_CLOSED, "crmd is stopping");
    snprintf(path, sizeof(path), "%s/tenants/%s", s->dir, id);
    if ((err = mkdir_p(path, why)) != CRM_OK)
        return err;
    if ((o = calloc(1, sizeof(*o))) == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    if ((err = crm_log_open(path, id, &s->log_opts, &o->log, why)) != CRM_OK) {
        free(o);
        return err;
    }
    snprintf(o->id, sizeof(o->id), "%s", id);
    o->next = s->logs;
    s->logs = o;
    *out = o->log;
    return CRM_OK;
}

static int
tenant_exists(crm_store *s, const char *id, int *exists)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->reg, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return rc;
    MDB_val k = {strlen(id), (void *)id}, v;
    rc = mdb_get(txn, s->dbi_tenants, &k, &v);
    mdb_txn_abort(txn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    *exists = rc == 0;
    return 0;
}

crm_err
crm_store_tenant_create(crm_store *s, const char *id, crm_error *why)
{
    crm_err err = CRM_OK;
    crm_log *log;
    MDB_txn *txn = NULL;
    int rc, exists = 0;

    if (!crm_tenant_id_valid(id))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "tenant id must match [a-z0-9-]{1,40}");
    pthread_mutex_lock(&s->mu);
    if ((rc = tenant_exists(s, id, &exists)) != 0) {
        err = crm_mdb_fail(why, rc, "read registry");
        goto done;
    }
    if (exists) {
        err = crm_error_set(why, CRM_ERR_EXISTS, "tenant '%s' exists", id);
        goto done;
    }
    /* The log first, the registry entry last: a crash in between leaves an
     * unregistered empty log that the next create of the id adopts. */
    if ((err = open_tenant_log(s, id, &log, why)) != CRM_OK)
        goto done;
    uint64_t now = (uint64_t)crm_now_us();
    uint8_t val[TENANTVAL_LEN];
    for (int i = 0; i < 8; i++)
        val[i] = (uint8_t)(now >> (56 - 8 * i));
    val[8] = 1; /* active */
    MDB_val k = {strlen(id), (void *)id}, v = {sizeof(val), val};
    if ((rc = mdb_txn_begin(s->reg, NULL, 0, &txn)) != 0 ||
        (rc = mdb_put(txn, s->dbi_tenants, &k, &v, MDB_NOOVERWRITE)) != 0) {
        if (txn && rc != 0)
            mdb_txn_abort(txn);
        err = crm_mdb_fail(why, rc, "write registry");
        goto done;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        err = crm_mdb_fail(why, rc, "commit registry");
done:
    pthread_mutex_unlock(&s->mu);
    return err;
}

crm_err
crm_store_tenant_log(crm_store *s, const char *id, crm_log **out,
                     crm_error *why)
{
    crm_err err;
    int rc, exists = 0;

    *out = NULL;
    if (!crm_tenant_id_valid(id))
        return crm_error_set(why, CRM_ERR_NOT_FOUND, "no tenant '%.40s'", id);
    pthread_mutex_lock(&s->mu);
    for (open_log *o = s->logs; o; o = o->next) {
        if (strcmp(o->id, id) == 0) {
            *out = o->log;
            pthread_mutex_unlock(&s->mu);
            return CRM_OK;
        }
    }
    if ((rc = tenant_exists(s, id, &exists)) != 0)
        err = crm_mdb_fail(why, rc, "read registry");
    else if (!exists)
        err = crm_error_set(why, CRM_ERR_NOT_FOUND, "no tenant '%s'", id);
    else
        err = open_tenant_log(s, id, out, why);
    pthread_mutex_unlock(&s->mu);
    return err;
}

crm_err
crm_store_tenant_list(crm_store *s, crm_tenant_info **out, size_t *n,
                      crm_error *why)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_stat st;
    crm_tenant_info *list = NULL;
    size_t cnt = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = mdb_txn_begin(s->reg, NULL, MDB_RDONLY, &txn)) != 0)
        return crm_mdb_fail(why, rc, "read registry");
    mdb_stat(txn, s->dbi_tenants, &st);
    if (st.ms_entries &&
        (list = calloc(st.ms_entries, sizeof(*list))) == NULL) {
        mdb_txn_abort(txn);
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    }
    if ((rc = mdb_cursor_open(txn, s->dbi_tenants, &cur)) != 0) {
        free(list);
        mdb_txn_abort(txn);
        return crm_mdb_fail(why, rc, "read registry");
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
         rc == 0 && cnt < st.ms_entries;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size > CRM_TENANT_MAX || v.mv_size != TENANTVAL_LEN)
            continue;
        memcpy(list[cnt].id, k.mv_data, k.mv_size);
        uint64_t t = 0;
        for (int i = 0; i < 8; i++)
            t = t << 8 | ((const uint8_t *)v.mv_data)[i];
        list[cnt].created_at = (int64_t)t;
        cnt++;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    *out = list;
    *n = cnt;
    return CRM_OK;
}

MDB_env *
crm_store_registry(crm_store *s)
{
    return s->reg;
}

void
crm_store_checkpoint(crm_store *s)
{
    pthread_mutex_lock(&s->mu);
    for (open_log *o = s->logs; o; o = o->next)
        crm_log_checkpoint(o->log);
    pthread_mutex_unlock(&s->mu);
}

/* One tenant's copy into dst/tenants/<id>, named in the manifest. */
static crm_err
backup_tenant(crm_store *s, const char *id, const char *dst,
              crm_manifest_w *m,
              void (*fn)(void *, const char *, const crm_log_backup_info *),
              void *arg, crm_error *why)
{
    crm_log *log;
    crm_err err = crm_store_tenant_log(s, id, &log, why);
    if (err != CRM_OK)
        return err;
    char src[4096], to[4096], rel[64];
    snprintf(src, sizeof(src), "%s/tenants/%s", s->dir, id);
    snprintf(to, sizeof(to), "%s/tenants/%s", dst, id);
    snprintf(rel, sizeof(rel), "tenants/%s", id);
    crm_log_backup_info b;
    if ((err = crm_log_backup(log, src, to, &b, why)) != CRM_OK ||
        (err = crm_manifest_add_tenant(m, id, &b, why)) != CRM_OK ||
        (err = crm_manifest_files(m, dst, rel, why)) != CRM_OK)
        return err;
    if (fn)
        fn(arg, id, &b);
    return CRM_OK;
}

/* Tenant id's signature of a manifest (crm_manifest_finish). */
static crm_err
sign_manifest(void *arg, const char *id, const uint8_t *digest, uint8_t *sig,
              crm_error *why)
{
    crm_log *log;
    crm_err err = crm_store_tenant_log(arg, id, &log, why);
    if (err == CRM_OK && crm_log_sign_manifest(log, digest, sig) != 0)
        err = crm_error_set(why, CRM_ERR_IO, "tenant %s cannot sign the "
                            "manifest", id);
    return err;
}

crm_err
crm_store_backup(crm_store *s, const char *id, const char *dst,
                 void (*fn)(void *, const char *, const crm_log_backup_info *),
                 void *arg, crm_error *why)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/tenants", dst) >= (int)sizeof(path))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "path too long");
    if (mkdir(dst, 0700) != 0)
        return crm_error_set(why, errno == EEXIST ? CRM_ERR_EXISTS : CRM_ERR_IO,
                             "backup %s: %s", dst, strerror(errno));
    if (mkdir(path, 0700) != 0)
        return crm_error_set(why, CRM_ERR_IO, "backup %s: %s", path,
                             strerror(errno));
    crm_manifest_w *m = crm_manifest_begin(id == NULL);
    if (m == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    crm_err err = CRM_OK;
    if (id) {
        err = backup_tenant(s, id, dst, m, fn, arg, why);
    } else {
        /* the registry first: a tenant created meanwhile is in neither */
        snprintf(path, sizeof(path), "%s/registry", dst);
        int rc = mkdir(path, 0700) != 0 ? errno : 0;
        if (rc == 0)
            rc = mdb_env_copy2(s->reg, path, MDB_CP_COMPACT);
        if (rc != 0)
            err = crm_mdb_fail(why, rc, "backup registry");
        else
            err = crm_manifest_files(m, dst, "registry", why);
        crm_tenant_info *t = NULL;
        size_t n = 0;
        if (err == CRM_OK)
            err = crm_store_tenant_list(s, &t, &n, why);
        for (size_t i = 0; err == CRM_OK && i < n; i++)
            err = backup_tenant(s, t[i].id, dst, m, fn, arg, why);
        free(t);
    }
    if (err != CRM_OK) {
        crm_manifest_abort(m);
        return err;
    }
    snprintf(path, sizeof(path), "%s/" CRM_BACKUP_MANIFEST, dst);
    return crm_manifest_finish(m, path, sign_manifest, s, why);
}
