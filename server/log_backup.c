/*
 * log_backup.c - a hot backup of one tenant log: a compacted copy of the
 * environment (mdb_env_copy2 with MDB_CP_COMPACT: one consistent
 * snapshot, free pages left out) and the tenant key file, while appends
 * go on.
 *
 * No rotation or erasure round may run meanwhile (the copy's key epoch
 * must be one the copied tenant.key still holds), so a backup is
 * exclusive with them and with rebuilds (crm_log_exclusive_begin). The
 * map lock is held shared during the copy: the map cannot be moved under
 * the copy's read transaction.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log_int.h"
#include "mdberr.h"

int
crm_file_copy(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errno;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        int e = errno;
        close(in);
        return e;
    }
    char buf[4096];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            rc = errno ? errno : EIO;
            break;
        }
    if (n < 0)
        rc = errno;
    if (rc == 0 && fsync(out) != 0)
        rc = errno;
    close(in);
    close(out);
    return rc;
}

/* The head the copy in dir holds (its meta). */
static int
copy_head(const char *dir, uint64_t *pos, uint8_t hash[CRM_HASH_LEN],
          uint64_t *bytes)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    int rc = mdb_env_create(&env);
    if (rc != 0)
        return rc;
    if ((rc = mdb_env_set_maxdbs(env, 64)) == 0 &&
        (rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK, 0600)) == 0 &&
        (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) == 0) {
        MDB_val k = {4, "head"}, v;
        if ((rc = mdb_dbi_open(txn, "meta", 0, &meta)) == 0)
            rc = mdb_get(txn, meta, &k, &v);
        if (rc == MDB_NOTFOUND) {
            *pos = 0;
            rc = 0;
        } else if (rc == 0 && v.mv_size == HEADVAL_LEN) {
            *pos = get_be64(v.mv_data);
            memcpy(hash, (const uint8_t *)v.mv_data + 8, CRM_HASH_LEN);
        } else if (rc == 0) {
            rc = MDB_CORRUPTED;
        }
        MDB_envinfo info;
        MDB_stat st;
        mdb_env_info(env, &info);
        mdb_env_stat(env, &st);
        *bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return rc;
}

crm_err
crm_log_backup(crm_log *log, const char *src_dir, const char *dst_dir,
               crm_log_backup_info *out, crm_error *why)
{
    memset(out, 0, sizeof(*out));
    if (mkdir(dst_dir, 0700) != 0)
        return crm_error_set(why, errno == EEXIST ? CRM_ERR_EXISTS : CRM_ERR_IO,
                             "backup of tenant %s: %s: %s", log->tenant,
                             dst_dir, strerror(errno));
    crm_err err = crm_log_exclusive_begin(log, why);
    if (err != CRM_OK)
        return err;
    int64_t t0 = crm_mono_ns();
    /* a signed checkpoint of the head goes into the copy with it */
    crm_checkpoint c;
    err = crm_log_sign_now(log, &c, why);
    int rc = 0;
    if (err == CRM_OK) {
        pthread_rwlock_rdlock(&log->maplock);
        rc = mdb_env_copy2(log->env, dst_dir, MDB_CP_COMPACT);
        pthread_rwlock_unlock(&log->maplock);
        if (rc != 0)
            err = crm_mdb_fail(why, rc, "backup copy");
    }
    char src[4200], dst[4200];
    if (err == CRM_OK && log->vault) {
        snprintf(src, sizeof(src), "%s/tenant.key", src_dir);
        snprintf(dst, sizeof(dst), "%s/tenant.key", dst_dir);
        if ((rc = crm_file_copy(src, dst)) != 0)
            err = crm_error_set(why, CRM_ERR_IO, "backup of %s: %s", src,
                                strerror(rc));
    }
    crm_log_exclusive_end(log);
    if (err == CRM_OK &&
        (rc = copy_head(dst_dir, &out->position, out->head, &out->bytes)) != 0)
        err = crm_mdb_fail(why, rc, "read the backup back");
    out->seconds = (double)(crm_mono_ns() - t0) / 1e9;
    out->checkpoint = c;
    return err;
}
