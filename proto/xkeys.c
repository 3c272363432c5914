/* xkeys.c - the guests' keys of an export file: scrypt, then seal.h. */
#include "xkeys.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mpcheck.h"
#include "rpc.h"

crm_err
crm_xkdf_new(crm_xkdf *k, crm_error *why)
{
    memset(k, 0, sizeof(*k));
    if (RAND_bytes(k->salt, CRM_XKEYS_SALT) != 1)
        return crm_error_set(why, CRM_ERR_INTERNAL, "no randomness for a salt");
    k->n = 1u << 16;
    k->r = 8;
    k->p = 1;
    return CRM_OK;
}

crm_err
crm_xkeys_derive(const char *pass, size_t len, const crm_xkdf *k,
                 uint8_t key[CRM_KEY_LEN], crm_error *why)
{
    /* scrypt uses 128 * N * r * p bytes, and a little more */
    if (k->n < 2 || (k->n & (k->n - 1)) != 0 || k->r == 0 || k->p == 0 ||
        k->r > 64 || k->p > 64 ||
        k->n > CRM_XKEYS_MEM_MAX / 128 / k->r / k->p)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "scrypt parameters N %llu, r %u, p %u are not "
                             "accepted (at most %llu MiB)",
                             (unsigned long long)k->n, k->r, k->p,
                             CRM_XKEYS_MEM_MAX >> 20);
    uint64_t mem = 128 * k->n * k->r * k->p + (16u << 20);
    if (EVP_PBE_scrypt(pass, len, k->salt, CRM_XKEYS_SALT, k->n, k->r, k->p,
                       mem, key, CRM_KEY_LEN) != 1)
        return crm_error_set(why, CRM_ERR_NOMEM,
                             "scrypt could not derive the key (memory)");
    return CRM_OK;
}

crm_err
crm_xkeys_passphrase_load(const char *path, char *buf, size_t cap,
                          size_t *len, crm_error *why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return crm_error_set(why, CRM_ERR_IO, "passphrase file %s: %s", path,
                             strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return crm_error_set(why, CRM_ERR_FORBIDDEN,
                             "passphrase file %s is not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return crm_error_set(why, CRM_ERR_FORBIDDEN,
                             "passphrase file %s may be read by group or "
                             "others (mode %03o); chmod 600 it",
                             path, (unsigned)(st.st_mode & 0777));
    }
    ssize_t n = cap > 0 ? read(fd, buf, cap) : -1;
    close(fd);
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n < CRM_XKEYS_PASS_MIN || (size_t)n >= cap ||
        n > CRM_XKEYS_PASS_MAX || memchr(buf, '\0', (size_t)n) != NULL) {
        crm_wipe(buf, cap);
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "passphrase file %s must hold %d to %d bytes "
                             "(no NUL) on one line",
                             path, CRM_XKEYS_PASS_MIN, CRM_XKEYS_PASS_MAX);
    }
    *len = (size_t)n;
    return CRM_OK;
}

static const uint8_t check_plain[CRM_KEY_LEN]; /* sealed zeros */

int
crm_xkeys_check_make(const uint8_t key[CRM_KEY_LEN], const char *tenant,
                     size_t tenant_len, uint8_t out[CRM_WRAPPED_LEN])
{
    uint8_t aad[CRM_SEAL_AAD_MAX];
    size_t al = crm_seal_aad(aad, 'C', tenant, tenant_len, "check", 5, NULL, 0);
    return crm_seal(key, aad, al, check_plain, CRM_KEY_LEN, out);
}

int
crm_xkeys_check(const uint8_t key[CRM_KEY_LEN], const char *tenant,
                size_t tenant_len, const uint8_t *in, size_t len)
{
    uint8_t aad[CRM_SEAL_AAD_MAX], pt[CRM_KEY_LEN];
    size_t al = crm_seal_aad(aad, 'C', tenant, tenant_len, "check", 5, NULL, 0);
    return len == CRM_WRAPPED_LEN &&
           crm_unseal(key, aad, al, in, len, pt) == 0 &&
           memcmp(pt, check_plain, CRM_KEY_LEN) == 0;
}

int
crm_xkeys_wrap(const uint8_t key[CRM_KEY_LEN], const char *tenant,
               size_t tenant_len, const char *stream, size_t stream_len,
               const uint8_t subject[CRM_KEY_LEN], uint8_t out[CRM_WRAPPED_LEN])
{
    uint8_t aad[CRM_SEAL_AAD_MAX];
    size_t al =
        crm_seal_aad(aad, 'X', tenant, tenant_len, stream, stream_len, NULL, 0);
    return crm_seal(key, aad, al, subject, CRM_KEY_LEN, out);
}

int
crm_xkeys_unwrap(const uint8_t key[CRM_KEY_LEN], const char *tenant,
                 size_t tenant_len, const char *stream, size_t stream_len,
                 const uint8_t *in, size_t len, uint8_t subject[CRM_KEY_LEN])
{
    uint8_t aad[CRM_SEAL_AAD_MAX];
    size_t al =
        crm_seal_aad(aad, 'X', tenant, tenant_len, stream, stream_len, NULL, 0);
    if (len != CRM_WRAPPED_LEN)
        return -1;
    return crm_unseal(key, aad, al, in, len, subject);
}

/* One entry [stream, sealed] at p (at most end): its length, or 0. The
 * stream is a str of 1..64 bytes, the key a bin of CRM_WRAPPED_LEN. */
static size_t
entry_at(const uint8_t *p, const uint8_t *end, const char **stream,
         size_t *len, const uint8_t **sealed)
{
    size_t n, at;
    if (end - p < 2 || p[0] != 0x92)
        return 0;
    if ((p[1] & 0xe0) == 0xa0) {
        n = p[1] & 0x1f;
        at = 2;
    } else if (p[1] == 0xd9 && end - p >= 3) {
        n = p[2];
        at = 3;
    } else {
        return 0;
    }
    if (n == 0 || n > 64 || (size_t)(end - p) < at + n + 2 + CRM_WRAPPED_LEN ||
        p[at + n] != 0xc4 || p[at + n + 1] != CRM_WRAPPED_LEN)
        return 0;
    *stream = (const char *)p + at;
    *len = n;
    *sealed = p + at + n + 2;
    return at + n + 2 + CRM_WRAPPED_LEN;
}

int
crm_xkeys_section_next(const crm_xkeys_section *s, const uint8_t **at,
                       const char **stream, size_t *len,
                       const uint8_t **sealed)
{
    if (*at >= s->end)
        return 0;
    size_t n = entry_at(*at, s->end, stream, len, sealed);
    *at += n;
    return n > 0;
}

static int
u64_in(const msgpack_object *m, const char *k, uint64_t max, uint64_t *v)
{
    int64_t x;
    if (crm_mp_int(crm_mp_get(m, k), 0, (int64_t)max, &x) != 0)
        return -1;
    *v = (uint64_t)x;
    return 0;
}

static int
str_is(const msgpack_object *o, const char *want)
{
    size_t n = strlen(want);
    return o && crm_mp_is_str(o) && o->via.str.size == n &&
           memcmp(o->via.str.ptr, want, n) == 0;
}

/* The map at b[*off..len) into z: 0, or -1 when it is none. */
static int
map_at(const uint8_t *b, size_t len, size_t *off, msgpack_zone *z,
       msgpack_object *o)
{
    size_t used, at = 0;
    if (*off >= len ||
        crm_mpcheck_prefix(b + *off, len - *off, CRM_MP_MAX_DEPTH, &used,
                           NULL) != CRM_OK ||
        msgpack_unpack((const char *)b + *off, used, &at, z, o) !=
            MSGPACK_UNPACK_SUCCESS ||
        o->type != MSGPACK_OBJECT_MAP)
        return -1;
    *off += used;
    return 0;
}

crm_err
crm_xkeys_section_read(const uint8_t *b, size_t len, size_t off,
                       crm_xkeys_section *s, crm_error *why)
{
    memset(s, 0, sizeof(*s));
    msgpack_zone *z = msgpack_zone_new(1024);
    if (z == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    msgpack_object h, e;
    const msgpack_object *t, *salt, *check;
    uint64_t version, n, r, p;
    crm_err err = CRM_OK;
    if (map_at(b, len, &off, z, &h) != 0 ||
        !str_is(crm_mp_get(&h, "format"), CRM_XKEYS_FORMAT) ||
        u64_in(&h, "version", UINT32_MAX, &version) != 0 ||
        version != CRM_XKEYS_VERSION ||
        !str_is(crm_mp_get(&h, "kdf"), "scrypt") ||
        (t = crm_mp_get(&h, "tenant")) == NULL || !crm_mp_is_str(t) ||
        t->via.str.size == 0 || t->via.str.size >= sizeof(s->tenant) ||
        (salt = crm_mp_get(&h, "salt")) == NULL ||
        salt->type != MSGPACK_OBJECT_BIN ||
        salt->via.bin.size != CRM_XKEYS_SALT ||
        (check = crm_mp_get(&h, "check")) == NULL ||
        check->type != MSGPACK_OBJECT_BIN ||
        check->via.bin.size != CRM_WRAPPED_LEN ||
        u64_in(&h, "n", UINT32_MAX, &n) != 0 ||
        u64_in(&h, "r", UINT32_MAX, &r) != 0 ||
        u64_in(&h, "p", UINT32_MAX, &p) != 0) {
        err = crm_error_set(why, CRM_ERR_CORRUPT,
                            "after the trailer: not a keys section of "
                            "version %d",
                            CRM_XKEYS_VERSION);
        goto done;
    }
    memcpy(s->tenant, t->via.str.ptr, t->via.str.size);
    memcpy(s->kdf.salt, salt->via.bin.ptr, CRM_XKEYS_SALT);
    s->kdf.n = n;
    s->kdf.r = (uint32_t)r;
    s->kdf.p = (uint32_t)p;
    s->check = (const uint8_t *)check->via.bin.ptr; /* into b */
    s->first = b + off;
    const uint8_t *at = s->first, *stop = b + len;
    uint64_t count = 0;
    for (;;) {
        const char *st;
        size_t sl;
        const uint8_t *sealed;
        size_t used = entry_at(at, stop, &st, &sl, &sealed);
        if (used == 0)
            break;
        at += used;
        count++;
    }
    s->end = at;
    off = (size_t)(at - b);
    msgpack_zone_clear(z);
    if (map_at(b, len, &off, z, &e) != 0 ||
        u64_in(&e, "count", UINT64_MAX >> 1, &s->count) != 0) {
        err = crm_error_set(why, CRM_ERR_CORRUPT,
                            "the keys section: entry %llu is malformed, or "
                            "the section ends without its count (truncated?)",
                            (unsigned long long)count + 1);
        goto done;
    }
    if (s->count != count)
        err = crm_error_set(why, CRM_ERR_CORRUPT,
                            "the keys section holds %llu keys, its end says "
                            "%llu",
                            (unsigned long long)count,
                            (unsigned long long)s->count);
    else if (off != len)
        err = crm_error_set(why, CRM_ERR_CORRUPT,
                            "bytes after the keys section");
done:
    msgpack_zone_free(z);
    return err;
}
