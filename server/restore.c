/*
 * restore.c - crmd --restore BACKUP: puts a backup (store.h, `backup`)
 * back into the data directory, crmd stopped, trusting nothing it has not
 * checked:
 *
 *   1. the manifest is read (manifest.h) and trusted only when every
 *      tenant it names has signed it (with the key the tenant signs with
 *      as it stands, else the one its copy names) and every file it
 *      lists is there with its size and SHA-256; a data directory without
 *      a registry takes the backup's (a full backup: then every tenant
 *      that registry lists must be in the manifest), one with a registry
 *      must list every tenant restored;
 *   2. each tenant is copied into a staging directory beside its own and
 *      opened there: the whole chain and its indexes verified, the head
 *      the manifest names, and the manifest's checkpoint of it signed by
 *      the tenant's key (the key of the tenant as it stands, when there is
 *      one, so a backup signed by another key is refused);
 *   3. the erasure ledger of the tenant as it stands is applied again:
 *      every guest erased since the backup was taken is erased in the
 *      restored log, round included, before it goes live;
 *   4. only then the staging directory replaces the tenant's, which is
 *      kept beside it (renamed) until the operator removes it.
 */
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "manifest.h"
#include "mdberr.h"
#include "sign.h"
#include "store.h"
#include "vault.h"

#define ERASE_CHUNK 500

/* A tenant log as it stands, opened read-only: the guests its erasure
 * ledger holds (malloc'd ids, *n of them) and its signing key. No log
 * there: 0 and nothing. */
typedef struct standing {
    int exists, has_pub;
    uint8_t pub[CRM_SIGN_PUB_LEN];
    char **erased;
    size_t n;
} standing;

static int
read_standing(const char *dir, standing *st)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    memset(st, 0, sizeof(*st));
    struct stat sb;
    if (stat(path, &sb) != 0)
        return errno == ENOENT ? 0 : errno;
    st->exists = 1;
    /* crmd holds a lock on the file of every log it has open */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int locked = flock(fd, LOCK_EX | LOCK_NB) != 0;
    close(fd);
    if (locked)
        return EBUSY;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta, er;
    int rc = mdb_env_create(&env);
    if (rc != 0)
        return rc;
    if ((rc = mdb_env_set_maxdbs(env, 64)) == 0 &&
        (rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK, 0600)) == 0 &&
        (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) == 0) {
        MDB_val k = {8, "sign_pub"}, v;
        if (mdb_dbi_open(txn, "meta", 0, &meta) == 0 &&
            mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == CRM_SIGN_PUB_LEN) {
            st->has_pub = 1;
            memcpy(st->pub, v.mv_data, CRM_SIGN_PUB_LEN);
        }
        MDB_cursor *cur;
        if (mdb_dbi_open(txn, "erasures", 0, &er) == 0 &&
            mdb_cursor_open(txn, er, &cur) == 0) {
            MDB_stat ms;
            mdb_stat(txn, er, &ms);
            st->erased = calloc(ms.ms_entries + 1, sizeof(char *));
            for (int g = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
                 g == 0 && st->erased && st->n < ms.ms_entries;
                 g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                char *id = malloc(k.mv_size + 1);
                if (id == NULL)
                    break;
                memcpy(id, k.mv_data, k.mv_size);
                id[k.mv_size] = '\0';
                st->erased[st->n++] = id;
            }
            mdb_cursor_close(cur);
        }
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return rc;
}

/* read_standing's failure for tenant id as an error (what: of which
 * copy). */
static crm_err
standing_fail(int rc, const char *id, const char *what, crm_error *why)
{
    if (rc == EBUSY)
        return crm_error_set(why, CRM_ERR_UNAVAILABLE,
                             "tenant %s is open in a running crmd: stop it "
                             "first",
                             id);
    return crm_mdb_fail(why, rc, what);
}

static void
standing_free(standing *st)
{
    for (size_t i = 0; i < st->n; i++)
        free(st->erased[i]);
    free(st->erased);
}

/* Copies backup/tenants/id into stage (made afresh). */
static crm_err
stage_copy(const char *backup, const char *id, const char *stage,
           crm_error *why)
{
    static const char *const files[] = {"data.mdb", "tenant.key"};
    if (mkdir(stage, 0700) != 0)
        return crm_error_set(why, CRM_ERR_IO, "%s: %s", stage,
                             strerror(errno));
    for (size_t i = 0; i < 2; i++) {
        char src[4400], dst[4400];
        snprintf(src, sizeof(src), "%s/tenants/%s/%s", backup, id, files[i]);
        snprintf(dst, sizeof(dst), "%s/%s", stage, files[i]);
        int rc = crm_file_copy(src, dst);
        if (rc == ENOENT && i == 1)
            continue; /* a tenant without keys */
        if (rc != 0)
            return crm_error_set(why, CRM_ERR_IO, "copy %s: %s", src,
                                 strerror(rc));
    }
    return CRM_OK;
}

/* Erases in log every guest the standing ledger holds that it does not. */
static crm_err
reapply(crm_log *log, const standing *st, uint64_t *done, crm_error *why)
{
    *done = 0;
    crm_err err = CRM_OK;
    for (size_t i = 0; i < st->n && err == CRM_OK; i += ERASE_CHUNK) {
        size_t k = st->n - i < ERASE_CHUNK ? st->n - i : ERASE_CHUNK;
        uint64_t n = 0;
        err = crm_log_erase_append(log, (const char *const *)st->erased + i, k,
                                   "request", "re-applied at restore",
                                   "crmd.restore", &n, why);
        *done += n;
    }
    if (err == CRM_OK && *done > 0)
        err = crm_log_erasure_wait(log, 3600 * 1000, why);
    return err;
}

/* The stored checkpoint at c's position equals c. */
typedef struct same_ck {
    const crm_checkpoint *c;
    int same;
} same_ck;

static int
on_ck(void *arg, const crm_checkpoint *c)
{
    same_ck *x = arg;
    x->same = c->position == x->c->position && c->time == x->c->time &&
              memcmp(c->head, x->c->head, CRM_HASH_LEN) == 0 &&
              memcmp(c->sig, x->c->sig, CRM_SIGN_LEN) == 0;
    return 1;
}

/* Opens the staged copy of t, checks it and re-applies erasures. The
 * copy was taken while appends went on, so its head may be past the
 * checkpoint signed for it: that checkpoint must be one the copy holds,
 * and every checkpoint the copy holds must name the chain's hash at its
 * position under the tenant's signature (crm_log_verify_range). */
static crm_err
check_stage(const crm_log_opts *lo, const char *stage, const crm_manifest_tenant *t,
            const standing *st, uint64_t *erased, crm_error *why)
{
    crm_log *log;
    crm_err err = crm_log_open(stage, t->id, lo, &log, why);
    if (err != CRM_OK)
        return err;
    uint64_t bad, pos;
    uint8_t head[CRM_HASH_LEN], pub[CRM_SIGN_PUB_LEN];
    crm_log_head(log, &pos, head);
    crm_log_sign_pub(log, pub);
    crm_log_verified v;
    same_ck sc = {&t->ck, 0};
    if ((err = crm_log_verify(log, &bad, why)) != CRM_OK ||
        (err = crm_log_verify_range(log, 1, pos, &v, why)) != CRM_OK)
        ; /* why names the first bad position */
    else if (pos != t->position || memcmp(head, t->head, CRM_HASH_LEN) != 0)
        err = crm_error_set(why, CRM_ERR_CORRUPT,
                            "tenant %s: the copy's head (%llu) is not the "
                            "one the manifest names (%llu, or its hash)",
                            t->id, (unsigned long long)pos,
                            (unsigned long long)t->position);
    else if (st->has_pub && memcmp(st->pub, pub, CRM_SIGN_PUB_LEN) != 0)
        err = crm_error_set(why, CRM_ERR_CORRUPT,
                            "tenant %s: the backup signs with another key "
                            "than the tenant",
                            t->id);
    else if (t->ck.position > pos ||
             !crm_checkpoint_verify(pub, t->id, &t->ck) ||
             crm_log_checkpoints(log, t->ck.position, 1, on_ck, &sc, why) !=
                 CRM_OK ||
             !sc.same)
        err = crm_error_set(why, CRM_ERR_CORRUPT,
                            "tenant %s: the manifest's checkpoint is not a "
                            "signed checkpoint of the copy",
                            t->id);
    if (err == CRM_OK)
        err = reapply(log, st, erased, why);
    crm_log_close(log);
    return err;
}

/* One tenant staged and checked: where it is, what it replaces. */
typedef struct staged {
    char dir[4200], stage[4200];
    int replaces;
    uint64_t erased;
} staged;

static crm_err
stage_tenant(const crm_config *cfg, const crm_log_opts *lo,
             const char *backup, const crm_manifest_tenant *t, staged *out,
             crm_error *why)
{
    snprintf(out->dir, sizeof(out->dir), "%s/tenants/%s", cfg->data_dir,
             t->id);
    snprintf(out->stage, sizeof(out->stage), "%s/tenants/.%s.restoring",
             cfg->data_dir, t->id);
    standing st;
    int rc = read_standing(out->dir, &st);
    crm_err err = rc ? standing_fail(rc, t->id, "read the tenant as it "
                                     "stands", why)
                     : CRM_OK;
    out->replaces = st.exists;
    char cmd[9000];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", out->stage);
    if (err == CRM_OK && system(cmd) != 0)
        err = crm_error_set(why, CRM_ERR_IO, "cannot clear %s", out->stage);
    if (err == CRM_OK)
        err = stage_copy(backup, t->id, out->stage, why);
    if (err == CRM_OK)
        err = check_stage(lo, out->stage, t, &st, &out->erased, why);
    standing_free(&st);
    return err;
}

/* Puts a checked stage in place, keeping what it replaces beside it. */
static crm_err
commit_tenant(const crm_config *cfg, const crm_manifest_tenant *t, const staged *x,
              crm_error *why)
{
    char kept[4300];
    snprintf(kept, sizeof(kept), "%s/tenants/.%s.replaced-%lld", cfg->data_dir,
             t->id, (long long)crm_now_us());
    if (x->replaces && rename(x->dir, kept) != 0)
        return crm_error_set(why, CRM_ERR_IO, "rename %s: %s", x->dir,
                             strerror(errno));
    if (rename(x->stage, x->dir) != 0)
        return crm_error_set(why, CRM_ERR_IO, "rename %s: %s", x->stage,
                             strerror(errno));
    printf("restored tenant %s: position %llu, chain, indexes and signed "
           "checkpoints verified; %llu erasure%s made since the backup "
           "re-applied",
           t->id, (unsigned long long)t->position,
           (unsigned long long)x->erased, x->erased == 1 ? "" : "s");
    if (x->replaces)
        printf("; the directory it replaced is %s (remove it when "
               "satisfied)",
               kept);
    printf("\n");
    return CRM_OK;
}

/* The manifest is trusted only once every tenant it names has signed it
 * with the key the tenant signs with as it stands (else the key its
 * copy names) and every file it lists is there as named: before
 * anything is copied. */
static crm_err
check_manifest(const crm_config *cfg, const crm_manifest *m, crm_error *why)
{
    const char *backup = cfg->restore_from;
    if (m->n == 0)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "%s holds no tenant, so nothing has signed its "
                             "manifest: nothing to restore",
                             backup);
    crm_err err = CRM_OK;
    if (m->registry)
        err = crm_manifest_check_files(m, backup, "registry", why);
    for (size_t i = 0; err == CRM_OK && i < m->n; i++) {
        const crm_manifest_tenant *t = &m->t[i];
        char dir[4200], rel[64];
        snprintf(dir, sizeof(dir), "%s/tenants/%s", cfg->data_dir, t->id);
        snprintf(rel, sizeof(rel), "tenants/%s", t->id);
        standing st;
        int rc = read_standing(dir, &st);
        if (rc == 0 && !st.has_pub) {
            standing_free(&st);
            snprintf(dir, sizeof(dir), "%s/tenants/%s", backup, t->id);
            rc = read_standing(dir, &st);
        }
        if (rc != 0)
            err = standing_fail(rc, t->id, "read a tenant's key", why);
        else if ((err = crm_manifest_check_files(m, backup, rel, why)) !=
                 CRM_OK)
            ;
        else if (!st.has_pub || !crm_manifest_signed(m, t, st.pub))
            err = crm_error_set(why, CRM_ERR_CORRUPT,
                                "the manifest is not signed by tenant %s's "
                                "key: it was changed after the backup",
                                t->id);
        standing_free(&st);
    }
    return err;
}

/* The registry: the backup's into a data directory without one. */
static crm_err
restore_registry(const crm_config *cfg, const char *backup, const crm_manifest *m,
                 int *copied, crm_error *why)
{
    *copied = 0;
    char path[4200], src[4400], dst[4400];
    snprintf(path, sizeof(path), "%s/registry/data.mdb", cfg->data_dir);
    struct stat sb;
    if (stat(path, &sb) == 0)
        return CRM_OK; /* the registry as it stands: its keys stay */
    if (!m->registry)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "%s has no registry and the backup holds no "
                             "registry (a tenant admin's backup): restore it "
                             "into the data directory it came from",
                             cfg->data_dir);
    snprintf(path, sizeof(path), "%s", cfg->data_dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/tenants", cfg->data_dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/registry", cfg->data_dir);
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return crm_error_set(why, CRM_ERR_IO, "%s: %s", path, strerror(errno));
    snprintf(src, sizeof(src), "%s/registry/data.mdb", backup);
    snprintf(dst, sizeof(dst), "%s/data.mdb", path);
    int rc = crm_file_copy(src, dst);
    if (rc != 0)
        return crm_error_set(why, CRM_ERR_IO, "copy %s: %s", src,
                             strerror(rc));
    printf("restored the registry (tenants, API keys) from the backup\n");
    *copied = 1;
    return CRM_OK;
}

crm_err
crm_restore_run(const crm_config *cfg, crm_error *why)
{
    crm_manifest m;
    int copied = 0;
    crm_err err = crm_manifest_read(cfg->restore_from, &m, why);
    if (err == CRM_OK)
        err = check_manifest(cfg, &m, why);
    uint8_t master[CRM_KEY_LEN];
    int has_master = 0;
    if (err == CRM_OK && cfg->master_key_file) {
        if ((err = crm_master_key_load(cfg->master_key_file, master, why)) ==
            CRM_OK)
            has_master = 1;
    } else if (err == CRM_OK && !cfg->no_encryption) {
        err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                            "--restore needs the master key (--master-key) "
                            "the backup's tenants are sealed with");
    }
    if (err == CRM_OK)
        err = restore_registry(cfg, cfg->restore_from, &m, &copied, why);
    /* the tenants the registry lists, so that every one restored is known */
    crm_store *store = NULL;
    crm_log_opts lo = {.master_key = has_master ? master : NULL,
                       .projections = cfg->projections,
                       .nprojections = cfg->nprojections};
    crm_tenant_info *known = NULL;
    size_t nknown = 0;
    if (err == CRM_OK &&
        (err = crm_store_open(cfg->data_dir, &lo, &store, why)) == CRM_OK)
        err = crm_store_tenant_list(store, &known, &nknown, why);
    crm_store_close(store);
    for (size_t i = 0; err == CRM_OK && i < m.n; i++) {
        int listed = 0;
        for (size_t j = 0; j < nknown; j++)
            listed |= strcmp(known[j].id, m.t[i].id) == 0;
        if (!listed)
            err = crm_error_set(why, CRM_ERR_NOT_FOUND,
                                "tenant %s is not in %s's registry: restore "
                                "a full backup into an empty data directory",
                                m.t[i].id, cfg->data_dir);
    }
    /* a registry taken from the backup lists no tenant the manifest
     * leaves out */
    for (size_t j = 0; err == CRM_OK && copied && j < nknown; j++) {
        int named = 0;
        for (size_t i = 0; i < m.n; i++)
            named |= strcmp(known[j].id, m.t[i].id) == 0;
        if (!named)
            err = crm_error_set(why, CRM_ERR_CORRUPT,
                                "the backup's registry lists tenant %s, "
                                "which its manifest does not",
                                known[j].id);
    }
    /* every tenant staged and checked before any replaces its own: a
     * backup that fails anywhere changes nothing */
    staged *x = err == CRM_OK ? calloc(m.n ? m.n : 1, sizeof(*x)) : NULL;
    if (err == CRM_OK && x == NULL)
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
    size_t ns = 0;
    for (; err == CRM_OK && ns < m.n; ns++)
        err = stage_tenant(cfg, &lo, cfg->restore_from, &m.t[ns], &x[ns], why);
    for (size_t i = 0; err == CRM_OK && i < m.n; i++)
        err = commit_tenant(cfg, &m.t[i], &x[i], why);
    if (err != CRM_OK && x) {
        for (size_t i = 0; i < ns && i < m.n; i++) {
            char cmd[9000];
            snprintf(cmd, sizeof(cmd), "rm -rf '%s'", x[i].stage);
            if (system(cmd) != 0)
                fprintf(stderr, "crmd: restore: cannot remove %s\n",
                        x[i].stage);
        }
    }
    free(x);
    free(known);
    crm_manifest_free(&m);
    crm_wipe(master, sizeof(master));
    return err;
}
