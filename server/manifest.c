/* manifest.c - a backup's MANIFEST written and read (manifest.h). */
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "hash.h"
#include "store.h"

#define MANIFEST_MAX (16u << 20)  /* bytes of a manifest read back */
#define TENANTS_MAX 4096
#define FILES_MAX (4 * TENANTS_MAX + 8)

struct crm_manifest_w {
    FILE *f; /* the text, in memory until it is signed */
    char *text;
    size_t len;
    char (*ids)[CRM_TENANT_MAX + 1];
    size_t n;
};

static void
hex(FILE *f, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", b[i]);
}

static int
unhex(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

crm_manifest_w *
crm_manifest_begin(int registry)
{
    crm_manifest_w *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->ids = calloc(TENANTS_MAX, sizeof(*m->ids))) == NULL ||
        (m->f = open_memstream(&m->text, &m->len)) == NULL) {
        if (m)
            free(m->ids);
        free(m);
        return NULL;
    }
    fprintf(m->f, "crmd backup 2\ncreated_at %lld\nregistry %s\n",
            (long long)crm_now_us(), registry ? "yes" : "no");
    return m;
}

/* Size and SHA-256 of the file at path: 0 or an errno. */
static int
file_digest(const char *path, uint64_t *bytes, uint8_t sha[CRM_HASH_LEN])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = crm_sha256_fd(fd, sha, bytes);
    close(fd);
    return rc;
}

/* Calls fn for every regular file of root/rel but LMDB's lock file (no
 * data; a reader such as crm-audit may leave one), in name order: 0, an
 * errno, or what fn returned that was not 0. */
static int
each_file(const char *root, const char *rel,
          int (*fn)(void *arg, const char *relpath, const char *path),
          void *arg)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/%s", root, rel);
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0)
        return errno;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[8400], relpath[4200];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        snprintf(relpath, sizeof(relpath), "%s/%s", rel, names[i]->d_name);
        struct stat sb;
        if (rc == 0 && strcmp(names[i]->d_name, "lock.mdb") != 0 &&
            lstat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            rc = fn(arg, relpath, path);
        free(names[i]);
    }
    free(names);
    return rc;
}

static int
file_line(void *arg, const char *relpath, const char *path)
{
    crm_manifest_w *m = arg;
    uint64_t bytes;
    uint8_t sha[CRM_HASH_LEN];
    int rc = file_digest(path, &bytes, sha);
    if (rc != 0)
        return rc;
    fprintf(m->f, "file %s %llu ", relpath, (unsigned long long)bytes);
    hex(m->f, sha, CRM_HASH_LEN);
    fputc('\n', m->f);
    return 0;
}

crm_err
crm_manifest_files(crm_manifest_w *m, const char *root, const char *rel,
                   crm_error *why)
{
    int rc = each_file(root, rel, file_line, m);
    return rc ? crm_error_set(why, CRM_ERR_IO, "backup %s/%s: %s", root, rel,
                              strerror(rc))
              : CRM_OK;
}

crm_err
crm_manifest_add_tenant(crm_manifest_w *m, const char *id,
                        const crm_log_backup_info *b, crm_error *why)
{
    if (m->n == TENANTS_MAX)
        return crm_error_set(why, CRM_ERR_TOO_LARGE, "a backup holds at most %d "
                             "tenants", TENANTS_MAX);
    snprintf(m->ids[m->n++], sizeof(m->ids[0]), "%s", id);
    const crm_checkpoint *c = &b->checkpoint;
    fprintf(m->f, "tenant %s position %llu head ", id,
            (unsigned long long)b->position);
    hex(m->f, b->head, CRM_HASH_LEN);
    fprintf(m->f, " checkpoint %llu ", (unsigned long long)c->position);
    hex(m->f, c->head, CRM_HASH_LEN);
    fprintf(m->f, " %lld ", (long long)c->time);
    hex(m->f, c->sig, CRM_SIGN_LEN);
    fputc('\n', m->f);
    return CRM_OK;
}

void
crm_manifest_abort(crm_manifest_w *m)
{
    if (m == NULL)
        return;
    if (m->f)
        fclose(m->f);
    free(m->text);
    free(m->ids);
    free(m);
}

crm_err
crm_manifest_finish(crm_manifest_w *m, const char *path,
                    crm_err (*sign)(void *arg, const char *id,
                                    const uint8_t *digest, uint8_t *sig,
                                    crm_error *why),
                    void *arg, crm_error *why)
{
    crm_err err = CRM_OK;
    if (fflush(m->f) != 0)
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
    uint8_t digest[CRM_HASH_LEN];
    crm_sha256_2(m->text, m->len, NULL, 0, digest);
    for (size_t i = 0; err == CRM_OK && i < m->n; i++) {
        uint8_t sig[CRM_SIGN_LEN];
        if ((err = sign(arg, m->ids[i], digest, sig, why)) != CRM_OK)
            break;
        fprintf(m->f, "signature %s ", m->ids[i]);
        hex(m->f, sig, CRM_SIGN_LEN);
        fputc('\n', m->f);
    }
    if (err == CRM_OK && fflush(m->f) != 0)
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
    if (err == CRM_OK) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        int ok = fd >= 0 && write(fd, m->text, m->len) == (ssize_t)m->len &&
                 fsync(fd) == 0;
        if (fd >= 0)
            ok &= close(fd) == 0;
        if (!ok)
            err = crm_error_set(why, CRM_ERR_IO, "cannot write %s", path);
    }
    crm_manifest_abort(m);
    return err;
}

/* --- reading ------------------------------------------------------------- */

void
crm_manifest_free(crm_manifest *m)
{
    free(m->t);
    free(m->f);
    memset(m, 0, sizeof(*m));
}

static crm_manifest_tenant *
tenant_of(crm_manifest *m, const char *id)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->t[i].id, id) == 0)
            return &m->t[i];
    return NULL;
}

/* One line (NUL-terminated, no newline) of the text before the first
 * signature. */
static int
body_line(crm_manifest *m, const char *line, int n)
{
    char id[64], h[80], ch[80], sig[160], yes[8], rel[4200], sha[80];
    unsigned long long pos, cpos, bytes;
    long long t;
    if (n == 1)
        return strcmp(line, "crmd backup 2") == 0 ? 0 : -1;
    if (sscanf(line, "created_at %lld", &t) == 1)
        return 0;
    if (sscanf(line, "registry %7s", yes) == 1) {
        m->registry = strcmp(yes, "yes") == 0;
        return m->registry || strcmp(yes, "no") == 0 ? 0 : -1;
    }
    if (strncmp(line, "file ", 5) == 0) {
        crm_manifest_file *f = &m->f[m->nf];
        if (m->nf == FILES_MAX ||
            sscanf(line, "file %4199s %llu %79s", rel, &bytes, sha) != 3 ||
            strlen(rel) >= sizeof(f->path) ||
            unhex(sha, f->sha, CRM_HASH_LEN) != 0)
            return -1;
        snprintf(f->path, sizeof(f->path), "%s", rel);
        f->bytes = bytes;
        m->nf++;
        return 0;
    }
    if (strncmp(line, "tenant ", 7) == 0) {
        crm_manifest_tenant *x = &m->t[m->n];
        if (m->n == TENANTS_MAX ||
            sscanf(line,
                   "tenant %63s position %llu head %79s checkpoint %llu "
                   "%79s %lld %159s",
                   id, &pos, h, &cpos, ch, &t, sig) != 7 ||
            !crm_tenant_id_valid(id) || tenant_of(m, id) ||
            unhex(h, x->head, CRM_HASH_LEN) != 0 ||
            unhex(ch, x->ck.head, CRM_HASH_LEN) != 0 ||
            unhex(sig, x->ck.sig, CRM_SIGN_LEN) != 0)
            return -1;
        snprintf(x->id, sizeof(x->id), "%.40s", id); /* valid: <= 40 */
        x->position = pos;
        x->ck.position = cpos;
        x->ck.time = t;
        m->n++;
        return 0;
    }
    return -1;
}

crm_err
crm_manifest_read(const char *backup, crm_manifest *m, crm_error *why)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/" CRM_BACKUP_MANIFEST, backup);
    memset(m, 0, sizeof(*m));
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return crm_error_set(why, CRM_ERR_NOT_FOUND,
                             "%s: %s (is %s a crmd backup?)", path,
                             strerror(errno), backup);
    char *text = malloc(MANIFEST_MAX + 1);
    size_t len = text ? fread(text, 1, MANIFEST_MAX + 1, f) : 0;
    fclose(f);
    m->t = calloc(TENANTS_MAX, sizeof(*m->t));
    m->f = calloc(FILES_MAX, sizeof(*m->f));
    if (text == NULL || m->t == NULL || m->f == NULL) {
        free(text);
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    }
    crm_err err = CRM_OK;
    if (len > MANIFEST_MAX || len == 0 || text[len - 1] != '\n' ||
        memchr(text, 0, len))
        err = crm_error_set(why, CRM_ERR_BAD_REQUEST, "%s is not a manifest "
                            "crmd wrote (empty, too long, or cut short)",
                            path);
    size_t body = len, at = 0;
    int n = 0, signatures = 0;
    while (err == CRM_OK && at < len) {
        const char *nl = memchr(text + at, '\n', len - at);
        char line[4400]; /* a copy: the text is signed as it is */
        size_t ll = (size_t)(nl - (text + at));
        n++;
        if (ll >= sizeof(line)) {
            err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                "%s line %d is too long", path, n);
            break;
        }
        memcpy(line, text + at, ll);
        line[ll] = '\0';
        char id[64], sig[160];
        int bad;
        if (strncmp(line, "signature ", 10) == 0) {
            crm_manifest_tenant *x;
            if (!signatures++)
                body = at;
            bad = sscanf(line, "signature %63s %159s", id, sig) != 2 ||
                  (x = tenant_of(m, id)) == NULL || x->has_sig ||
                  unhex(sig, x->sig, CRM_SIGN_LEN) != 0;
            if (!bad)
                x->has_sig = 1;
        } else {
            bad = signatures > 0 || body_line(m, line, n) != 0;
        }
        if (bad)
            err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                "%s line %d is malformed%s", path, n,
                                n == 1 ? " (not a backup of format 2)" : "");
        at = (size_t)(nl - text) + 1;
    }
    for (size_t i = 0; err == CRM_OK && i < m->n; i++)
        if (!m->t[i].has_sig)
            err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                "%s: tenant %s has not signed it", path,
                                m->t[i].id);
    if (err == CRM_OK)
        crm_sha256_2(text, body, NULL, 0, m->digest);
    free(text);
    return err;
}

int
crm_manifest_signed(const crm_manifest *m, const crm_manifest_tenant *t,
                    const uint8_t pub[CRM_SIGN_PUB_LEN])
{
    return t->has_sig && crm_manifest_verify(pub, t->id, m->digest, t->sig);
}

typedef struct check {
    const crm_manifest *m;
    char *seen; /* per file line */
    char bad[4200];
} check;

static int
check_file(void *arg, const char *relpath, const char *path)
{
    check *c = arg;
    for (size_t i = 0; i < c->m->nf; i++) {
        const crm_manifest_file *f = &c->m->f[i];
        if (strcmp(f->path, relpath) != 0)
            continue;
        uint64_t bytes;
        uint8_t sha[CRM_HASH_LEN];
        if (file_digest(path, &bytes, sha) != 0 || bytes != f->bytes ||
            memcmp(sha, f->sha, CRM_HASH_LEN) != 0)
            break;
        c->seen[i] = 1;
        return 0;
    }
    snprintf(c->bad, sizeof(c->bad), "%s", relpath);
    return -1;
}

crm_err
crm_manifest_check_files(const crm_manifest *m, const char *backup,
                         const char *rel, crm_error *why)
{
    check c = {m, calloc(m->nf ? m->nf : 1, 1), {0}};
    if (c.seen == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    int rc = each_file(backup, rel, check_file, &c);
    size_t rl = strlen(rel);
    for (size_t i = 0; rc == 0 && i < m->nf; i++)
        if (!c.seen[i] && strncmp(m->f[i].path, rel, rl) == 0 &&
            m->f[i].path[rl] == '/' && !strchr(m->f[i].path + rl + 1, '/')) {
            snprintf(c.bad, sizeof(c.bad), "%s", m->f[i].path);
            rc = -1;
        }
    free(c.seen);
    if (rc > 0)
        return crm_error_set(why, CRM_ERR_IO, "%s/%s: %s", backup, rel,
                             strerror(rc));
    return rc ? crm_error_set(why, CRM_ERR_CORRUPT,
                              "%s/%s is not the file the manifest names "
                              "(changed, added or missing)",
                              backup, c.bad)
              : CRM_OK;
}
