/* vault.c - master key file, tenant key slots, subject keys. */
#include "vault.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "be.h"

#define SLOT_LEN 128
#define SLOT_MAGIC "CRMTK1\0\0"
#define KEYFILE "tenant.key"

struct crm_vault {
    char tenant[72];
    size_t tenant_len;
    char path[4096]; /* tenant.key */
    uint32_t epoch;
    uint8_t key[CRM_KEY_LEN];
    uint8_t master[CRM_KEY_LEN];
};

/* The slot of tenant.key that holds epoch e: they alternate. */
static off_t
slot_at(uint32_t e)
{
    return (off_t)((e - 1) % 2) * SLOT_LEN;
}

/* --- the master key ------------------------------------------------------- */

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

crm_err
crm_master_key_load(const char *path, uint8_t out[CRM_KEY_LEN], crm_error *why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return crm_error_set(why, CRM_ERR_IO, "master key %s: %s", path,
                             strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return crm_error_set(why, CRM_ERR_FORBIDDEN,
                             "master key %s is not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return crm_error_set(why, CRM_ERR_FORBIDDEN,
                             "master key %s may be read by group or others "
                             "(mode %03o); chmod 600 it",
                             path, (unsigned)(st.st_mode & 0777));
    }
    char buf[2 * CRM_KEY_LEN + 3];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    int ok = n == 2 * CRM_KEY_LEN;
    for (int i = 0; ok && i < CRM_KEY_LEN; i++) {
        int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        out[i] = (uint8_t)(hi << 4 | (lo & 15));
    }
    crm_wipe(buf, sizeof(buf));
    if (!ok) {
        crm_wipe(out, CRM_KEY_LEN);
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "master key %s must hold 64 hex digits "
                             "(crmd --make-master-key %s makes one)",
                             path, path);
    }
    return CRM_OK;
}

crm_err
crm_master_key_make(const char *path, crm_error *why)
{
    uint8_t k[CRM_KEY_LEN];
    char hex[2 * CRM_KEY_LEN + 1];
    if (RAND_bytes(k, sizeof(k)) != 1)
        return crm_error_set(why, CRM_ERR_IO, "no randomness for a key");
    for (int i = 0; i < CRM_KEY_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", k[i]);
    hex[2 * CRM_KEY_LEN] = '\n';
    crm_wipe(k, sizeof(k));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        crm_wipe(hex, sizeof(hex));
        return crm_error_set(why, CRM_ERR_IO, "master key %s: %s", path,
                             strerror(errno));
    }
    int ok = write(fd, hex, sizeof(hex)) == (ssize_t)sizeof(hex) &&
             fsync(fd) == 0;
    crm_wipe(hex, sizeof(hex));
    close(fd);
    if (!ok) {
        unlink(path);
        return crm_error_set(why, CRM_ERR_IO, "master key %s: cannot write",
                             path);
    }
    return CRM_OK;
}

crm_err
crm_master_key_check(MDB_txn *txn, MDB_dbi db, const uint8_t master[CRM_KEY_LEN],
                     crm_error *why)
{
    static const char label[] = "crmd master key check";
    MDB_val k = {12, "master_check"}, v;
    uint8_t probe[CRM_KEY_LEN], sealed[CRM_WRAPPED_LEN];
    int rc = mdb_get(txn, db, &k, &v);
    if (rc == 0) {
        int ok = v.mv_size == CRM_WRAPPED_LEN &&
                 crm_unseal(master, label, sizeof(label) - 1, v.mv_data,
                            v.mv_size, probe) == 0;
        crm_wipe(probe, sizeof(probe));
        return ok ? CRM_OK
                  : crm_error_set(why, CRM_ERR_FORBIDDEN,
                                  "the master key is not the one this data "
                                  "directory was sealed with (wrong master "
                                  "key file?); serving nothing");
    }
    if (rc != MDB_NOTFOUND)
        return crm_error_set(why, CRM_ERR_IO, "read master key check: %s",
                             mdb_strerror(rc));
    if (RAND_bytes(probe, sizeof(probe)) != 1 ||
        crm_seal(master, label, sizeof(label) - 1, probe, sizeof(probe),
                 sealed) != 0) {
        crm_wipe(probe, sizeof(probe));
        return crm_error_set(why, CRM_ERR_IO, "cannot seal a key check");
    }
    crm_wipe(probe, sizeof(probe));
    v.mv_size = sizeof(sealed);
    v.mv_data = sealed;
    if ((rc = mdb_put(txn, db, &k, &v, 0)) != 0)
        return crm_error_set(why, CRM_ERR_IO, "write master key check: %s",
                             mdb_strerror(rc));
    return CRM_OK;
}

/* --- tenant key slots ----------------------------------------------------- */

static size_t
slot_aad(const crm_vault *v, uint32_t epoch, uint8_t aad[CRM_SEAL_AAD_MAX])
{
    uint8_t e[4];
    crm_put_be(e, epoch, 4);
    return crm_seal_aad(aad, 'T', v->tenant, v->tenant_len, "", 0, e, 4);
}

static int
slot_make(const crm_vault *v, const uint8_t master[CRM_KEY_LEN],
          uint8_t slot[SLOT_LEN])
{
    uint8_t aad[CRM_SEAL_AAD_MAX];
    memset(slot, 0, SLOT_LEN);
    memcpy(slot, SLOT_MAGIC, 8);
    crm_put_be(slot + 8, v->epoch, 4);
    return crm_seal(master, aad, slot_aad(v, v->epoch, aad), v->key,
                    CRM_KEY_LEN, slot + 12);
}

static int
fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

crm_err
crm_vault_from_slot(const char *tenant, const uint8_t master[CRM_KEY_LEN],
                    const uint8_t *slot, size_t len, crm_vault **out,
                    crm_error *why)
{
    *out = NULL;
    if (len < 12 + CRM_WRAPPED_LEN || memcmp(slot, SLOT_MAGIC, 8) != 0)
        return crm_error_set(why, CRM_ERR_NOT_FOUND, "no key slot there");
    crm_vault *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    v->tenant_len = strlen(tenant);
    if (v->tenant_len >= sizeof(v->tenant)) {
        free(v);
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "bad tenant id");
    }
    memcpy(v->tenant, tenant, v->tenant_len);
    v->epoch = (uint32_t)crm_get_be(slot + 8, 4);
    uint8_t aad[CRM_SEAL_AAD_MAX];
    if (crm_unseal(master, aad, slot_aad(v, v->epoch, aad), slot + 12,
                   CRM_WRAPPED_LEN, v->key) != 0) {
        crm_vault_close(v);
        return crm_error_set(why, CRM_ERR_FORBIDDEN,
                             "the master key does not open this slot");
    }
    *out = v; /* no path: it cannot rotate or retire */
    return CRM_OK;
}

crm_err
crm_vault_open(const char *dir, const char *tenant,
               const uint8_t master[CRM_KEY_LEN], uint32_t epoch, int create,
               crm_vault **out, crm_error *why)
{
    *out = NULL;
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/" KEYFILE, dir) >= (int)sizeof(path))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "path too long");
    crm_vault *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    v->tenant_len = strlen(tenant);
    if (v->tenant_len >= sizeof(v->tenant)) {
        free(v);
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "bad tenant id");
    }
    memcpy(v->tenant, tenant, v->tenant_len);
    memcpy(v->master, master, CRM_KEY_LEN);
    memcpy(v->path, path, strlen(path) + 1);

    uint8_t slots[2 * SLOT_LEN];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        v->epoch = 1;
        memset(slots, 0, sizeof(slots));
        if (RAND_bytes(v->key, CRM_KEY_LEN) != 1 ||
            slot_make(v, master, slots) != 0) {
            crm_vault_close(v);
            return crm_error_set(why, CRM_ERR_IO, "cannot make a tenant key");
        }
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        int ok = fd >= 0 &&
                 write(fd, slots, sizeof(slots)) == (ssize_t)sizeof(slots) &&
                 fsync(fd) == 0 && fsync_dir(dir) == 0;
        if (fd >= 0)
            close(fd);
        if (!ok) {
            crm_vault_close(v);
            return crm_error_set(why, CRM_ERR_IO, "cannot write %s: %s", path,
                                 strerror(errno));
        }
        *out = v;
        return CRM_OK;
    }
    if (fd < 0) {
        crm_vault_close(v);
        return crm_error_set(why, errno == ENOENT ? CRM_ERR_CORRUPT : CRM_ERR_IO,
                             "tenant %s: its key file %s: %s", tenant, path,
                             strerror(errno));
    }
    ssize_t n = read(fd, slots, sizeof(slots));
    close(fd);
    if (n != (ssize_t)sizeof(slots)) {
        crm_vault_close(v);
        return crm_error_set(why, CRM_ERR_CORRUPT,
                             "tenant %s: key file %s is truncated", tenant,
                             path);
    }
    /* the slot of the live epoch (the newest when meta names none) */
    int pick = -1;
    uint32_t best = 0;
    for (int s = 0; s < 2; s++) {
        const uint8_t *sl = slots + s * SLOT_LEN;
        if (memcmp(sl, SLOT_MAGIC, 8) != 0)
            continue;
        uint32_t e = (uint32_t)crm_get_be(sl + 8, 4);
        if (epoch ? e == epoch : e > best) {
            pick = s;
            best = e;
        }
    }
    if (pick < 0) {
        crm_vault_close(v);
        return crm_error_set(why, CRM_ERR_CORRUPT,
                             "tenant %s: key file %s holds no key of epoch "
                             "%u",
                             tenant, path, (unsigned)epoch);
    }
    v->epoch = best;
    uint8_t aad[CRM_SEAL_AAD_MAX];
    int rc = crm_unseal(master, aad, slot_aad(v, v->epoch, aad),
                        slots + pick * SLOT_LEN + 12, CRM_WRAPPED_LEN, v->key);
    /* A rotation that committed but did not get to overwrite the old
     * slot is finished here (one that did not commit left a newer slot
     * nobody will use: overwritten too). */
    const uint8_t *other = slots + (1 - pick) * SLOT_LEN;
    if (rc == 0 && memcmp(other, SLOT_MAGIC, 8) == 0) {
        uint8_t zero[SLOT_LEN] = {0};
        int wfd = open(path, O_WRONLY | O_CLOEXEC);
        if (wfd >= 0) {
            if (pwrite(wfd, zero, SLOT_LEN, (off_t)(1 - pick) * SLOT_LEN) ==
                SLOT_LEN)
                (void)fdatasync(wfd);
            close(wfd);
        }
    }
    crm_wipe(slots, sizeof(slots));
    if (rc != 0) {
        crm_vault_close(v);
        return crm_error_set(why, CRM_ERR_FORBIDDEN,
                             "the master key does not open tenant %s's key "
                             "(wrong master key file?)",
                             tenant);
    }
    *out = v;
    return CRM_OK;
}

void
crm_vault_close(crm_vault *v)
{
    if (v == NULL)
        return;
    crm_wipe(v, sizeof(*v));
    free(v);
}

crm_err
crm_vault_rotate(const crm_vault *v, crm_vault **next, crm_error *why)
{
    *next = NULL;
    crm_vault *n = malloc(sizeof(*n));
    if (n == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    *n = *v;
    n->epoch = v->epoch + 1;
    uint8_t slot[SLOT_LEN];
    int fd = -1;
    if (RAND_bytes(n->key, CRM_KEY_LEN) != 1 || slot_make(n, n->master, slot) ||
        (fd = open(v->path, O_WRONLY | O_CLOEXEC)) < 0 ||
        pwrite(fd, slot, SLOT_LEN, slot_at(n->epoch)) != SLOT_LEN ||
        fdatasync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        crm_vault_close(n);
        return crm_error_set(why, CRM_ERR_IO, "cannot write a new key to %s: %s",
                             v->path, strerror(e));
    }
    close(fd);
    *next = n;
    return CRM_OK;
}

crm_err
crm_vault_retire(const crm_vault *v, uint32_t old_epoch, crm_error *why)
{
    uint8_t zero[SLOT_LEN] = {0};
    int fd = open(v->path, O_WRONLY | O_CLOEXEC);
    int ok = fd >= 0 &&
             pwrite(fd, zero, SLOT_LEN, slot_at(old_epoch)) == SLOT_LEN &&
             fdatasync(fd) == 0;
    int e = errno;
    if (fd >= 0)
        close(fd);
    return ok ? CRM_OK
              : crm_error_set(why, CRM_ERR_IO,
                              "cannot overwrite the old key in %s: %s",
                              v->path, strerror(e));
}

uint32_t
crm_vault_epoch(const crm_vault *v)
{
    return v->epoch;
}

/* --- keys under the tenant key -------------------------------------------- */

int
crm_vault_wrap(const crm_vault *v, char label, const void *name,
               size_t name_len, const uint8_t key[CRM_KEY_LEN],
               uint8_t out[4 + CRM_WRAPPED_LEN])
{
    uint8_t aad[CRM_SEAL_AAD_MAX], e[4];
    crm_put_be(e, v->epoch, 4);
    size_t al =
        crm_seal_aad(aad, label, v->tenant, v->tenant_len, name, name_len, e, 4);
    memcpy(out, e, 4);
    return crm_seal(v->key, aad, al, key, CRM_KEY_LEN, out + 4);
}

int
crm_vault_unwrap(const crm_vault *v, char label, const void *name,
                 size_t name_len, const uint8_t *in, size_t len,
                 uint8_t key[CRM_KEY_LEN])
{
    if (len != 4 + CRM_WRAPPED_LEN || crm_get_be(in, 4) != v->epoch)
        return -1;
    uint8_t aad[CRM_SEAL_AAD_MAX];
    size_t al = crm_seal_aad(aad, label, v->tenant, v->tenant_len, name,
                             name_len, in, 4);
    return crm_unseal(v->key, aad, al, in + 4, CRM_WRAPPED_LEN, key);
}

int
crm_vault_subject_key(const crm_vault *v, MDB_txn *txn, MDB_dbi db,
                      const char *stream, size_t len, int make,
                      uint8_t key[CRM_KEY_LEN])
{
    MDB_val k = {len, (void *)stream}, val;
    int rc = mdb_get(txn, db, &k, &val);
    if (rc == 0)
        return crm_vault_unwrap(v, 'S', stream, len, val.mv_data, val.mv_size,
                                key) == 0
                   ? 0
                   : EIO;
    if (rc != MDB_NOTFOUND || !make)
        return rc;
    uint8_t w[4 + CRM_WRAPPED_LEN];
    if (RAND_bytes(key, CRM_KEY_LEN) != 1 ||
        crm_vault_wrap(v, 'S', stream, len, key, w) != 0)
        return EIO;
    val.mv_size = sizeof(w);
    val.mv_data = w;
    return mdb_put(txn, db, &k, &val, 0);
}

int
crm_vault_subject_key_put(const crm_vault *v, MDB_txn *txn, MDB_dbi db,
                          const char *stream, size_t len,
                          const uint8_t key[CRM_KEY_LEN])
{
    uint8_t w[4 + CRM_WRAPPED_LEN];
    if (crm_vault_wrap(v, 'S', stream, len, key, w) != 0)
        return EIO;
    MDB_val k = {len, (void *)stream}, val = {sizeof(w), w};
    return mdb_put(txn, db, &k, &val, MDB_NOOVERWRITE);
}

int
crm_vault_seal_pii(const crm_vault *v, const uint8_t key[CRM_KEY_LEN],
                   const char *stream, size_t slen, const uint8_t *id,
                   const void *pt, size_t len, uint8_t *out)
{
    uint8_t aad[CRM_SEAL_AAD_MAX];
    size_t al =
        crm_seal_aad(aad, 'P', v->tenant, v->tenant_len, stream, slen, id, 16);
    return crm_seal(key, aad, al, pt, len, out);
}

int
crm_vault_open_pii(const crm_vault *v, const uint8_t key[CRM_KEY_LEN],
                   const char *stream, size_t slen, const uint8_t *id,
                   const uint8_t *in, size_t len, uint8_t *out)
{
    uint8_t aad[CRM_SEAL_AAD_MAX];
    size_t al =
        crm_seal_aad(aad, 'P', v->tenant, v->tenant_len, stream, slen, id, 16);
    return crm_unseal(key, aad, al, in, len, out);
}
