/*
 * export.c - crm-audit verify --export FILE: an export file (PROTOCOL.md,
 * audit.export) checked offline: the header, every record's hash and its
 * link to the one before from the header's prev_hash, positions dense
 * from the header's from to its to, one tenant, and the trailer's signed
 * checkpoint of the last record under the tenant's key. The same pass
 * hands each record that verified to a reader (crm-audit replay and diff
 * --export load them, xsnap.c), so the file is parsed in one place.
 */
#include "export.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mpcheck.h"
#include "record.h"
#include "rpc.h"
#include "sign.h"
#include "xkeys.h"

static void broken(crm_audit_result *res, uint64_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
broken(crm_audit_result *res, uint64_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    res->broken = 1;
    res->bad_pos = pos;
    vsnprintf(res->why, sizeof(res->why), fmt, ap);
    va_end(ap);
}

/* A bin member k of map m of exactly n bytes, or NULL. */
static const uint8_t *
bin_of(const msgpack_object *m, const char *k, size_t n)
{
    const msgpack_object *o = crm_mp_get(m, k);
    return o && o->type == MSGPACK_OBJECT_BIN && o->via.bin.size == n
               ? (const uint8_t *)o->via.bin.ptr
               : NULL;
}

static int
u64_of(const msgpack_object *m, const char *k, uint64_t *v)
{
    int64_t x;
    if (crm_mp_int(crm_mp_get(m, k), 0, INT64_MAX, &x) != 0)
        return -1;
    *v = (uint64_t)x;
    return 0;
}

/* The next msgpack object at b[*off..len): unpacked into z. */
static int
next_object(const uint8_t *b, size_t len, size_t *off, msgpack_zone *z,
            msgpack_object *o)
{
    size_t used;
    if (*off >= len ||
        crm_mpcheck_prefix(b + *off, len - *off, CRM_MP_MAX_DEPTH, &used,
                           NULL) != CRM_OK)
        return -1;
    size_t at = 0;
    if (msgpack_unpack((const char *)b + *off, used, &at, z, o) !=
        MSGPACK_UNPACK_SUCCESS)
        return -1;
    *off += used;
    return 0;
}

/* The trailer against what the records gave. */
static void
check_trailer(const msgpack_object *t, const char *tenant, const uint8_t *pub,
              uint64_t last, uint64_t count, const uint8_t hash[CRM_HASH_LEN],
              crm_audit_result *res)
{
    const msgpack_object *c = crm_mp_get(t, "checkpoint");
    crm_checkpoint ck;
    uint64_t n;
    const uint8_t *h = bin_of(t, "head", CRM_HASH_LEN), *ch, *sig;
    int64_t time;
    if (u64_of(t, "count", &n) != 0 || h == NULL || c == NULL ||
        c->type != MSGPACK_OBJECT_MAP ||
        u64_of(c, "position", &ck.position) != 0 ||
        (ch = bin_of(c, "head", CRM_HASH_LEN)) == NULL ||
        crm_mp_int(crm_mp_get(c, "time"), INT64_MIN, INT64_MAX, &time) != 0 ||
        (sig = bin_of(c, "signature", CRM_SIGN_LEN)) == NULL) {
        broken(res, last, "the trailer is malformed");
        return;
    }
    if (n != count) {
        broken(res, last, "the trailer counts %llu records, the file holds "
                          "%llu",
               (unsigned long long)n, (unsigned long long)count);
        return;
    }
    ck.time = time;
    memcpy(ck.head, ch, CRM_HASH_LEN);
    memcpy(ck.sig, sig, CRM_SIGN_LEN);
    if (ck.position != last || memcmp(ck.head, hash, CRM_HASH_LEN) != 0 ||
        memcmp(h, hash, CRM_HASH_LEN) != 0) {
        broken(res, last, "the trailer's checkpoint names another head than "
                          "the chain has at its last record");
        return;
    }
    if (!crm_checkpoint_verify(pub, tenant, &ck))
        broken(res, last, "the checkpoint is not signed by the tenant's key");
    else
        res->checkpoints = 1;
}

/* The keys section after the trailer (xkeys.h): its shape and tenant. */
static void
check_keys(const uint8_t *b, size_t len, size_t off, crm_audit_export *out,
           crm_audit_result *res)
{
    crm_xkeys_section s;
    crm_error e;
    if (crm_xkeys_section_read(b, len, off, &s, &e) != CRM_OK)
        broken(res, out->to, "%s", e.msg);
    else if (strcmp(s.tenant, out->tenant) != 0)
        broken(res, out->to, "the keys section is of tenant %s", s.tenant);
    else {
        out->has_keys = 1;
        out->keys = s.count;
    }
}

crm_err
crm_audit_verify_export(const char *path, const uint8_t *pub,
                        crm_audit_export_each each, void *arg,
                        crm_audit_export *out, crm_audit_result *res,
                        crm_error *why)
{
    memset(res, 0, sizeof(*res));
    memset(out, 0, sizeof(*out));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return crm_error_set(why, CRM_ERR_IO, "%s: cannot be read", path);
    }
    size_t len = (size_t)st.st_size;
    const uint8_t *b =
        len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (len && b == MAP_FAILED)
        return crm_error_set(why, CRM_ERR_IO, "%s: cannot be mapped", path);
    msgpack_zone *z = msgpack_zone_new(4096);
    if (z == NULL) {
        if (len)
            munmap((void *)b, len);
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    }
    crm_err err = CRM_OK;
    size_t off = 0;
    msgpack_object h;
    const msgpack_object *fmt, *ten;
    const uint8_t *prev, *key;
    uint64_t from, to, version;
    if (next_object(b, len, &off, z, &h) != 0 || h.type != MSGPACK_OBJECT_MAP ||
        (fmt = crm_mp_get(&h, "format")) == NULL || !crm_mp_is_str(fmt) ||
        fmt->via.str.size != 11 ||
        memcmp(fmt->via.str.ptr, "crmd-export", 11) != 0 ||
        u64_of(&h, "version", &version) != 0 || version != 1 ||
        (ten = crm_mp_get(&h, "tenant")) == NULL || !crm_mp_is_str(ten) ||
        ten->via.str.size == 0 || ten->via.str.size > CRM_TENANT_MAX ||
        u64_of(&h, "from", &from) != 0 || u64_of(&h, "to", &to) != 0 ||
        from == 0 || to < from ||
        (prev = bin_of(&h, "prev_hash", CRM_HASH_LEN)) == NULL ||
        (key = bin_of(&h, "public_key", CRM_SIGN_PUB_LEN)) == NULL) {
        broken(res, 0, "not an export file of format 1 (its header)");
        goto done;
    }
    memcpy(out->tenant, ten->via.str.ptr, ten->via.str.size);
    out->tenant[ten->via.str.size] = '\0';
    out->from = from;
    out->to = to;
    memcpy(out->prev_hash, prev, CRM_HASH_LEN);
    memcpy(out->public_key, key, CRM_SIGN_PUB_LEN);
    uint8_t hash[CRM_HASH_LEN];
    memcpy(hash, prev, CRM_HASH_LEN);
    uint64_t expect = from;
    int ended = 0;
    while (!res->broken && off < len) {
        uint8_t t = b[off];
        if (t != 0xc4 && t != 0xc5 && t != 0xc6) {
            /* the trailer, after the last record */
            msgpack_zone_clear(z);
            msgpack_object tr;
            if (next_object(b, len, &off, z, &tr) != 0 ||
                tr.type != MSGPACK_OBJECT_MAP) {
                broken(res, expect, "position %llu: not a record",
                       (unsigned long long)expect);
                break;
            }
            if (expect != to + 1) {
                broken(res, expect, "position %llu is missing (the trailer "
                                    "follows)",
                       (unsigned long long)expect);
                break;
            }
            check_trailer(&tr, out->tenant, pub ? pub : key, to, to - from + 1,
                          hash, res);
            ended = 1;
            if (!res->broken && off != len)
                check_keys(b, len, off, out, res);
            break;
        }
        size_t hl = t == 0xc4 ? 1 : t == 0xc5 ? 2 : 4, n = 0;
        if (off + 1 + hl > len) {
            broken(res, expect, "position %llu: the file ends inside it",
                   (unsigned long long)expect);
            break;
        }
        for (size_t i = 0; i < hl; i++)
            n = n << 8 | b[off + 1 + i];
        const uint8_t *rec = b + off + 1 + hl;
        if (n > len - off - 1 - hl) {
            broken(res, expect, "position %llu: the file ends inside it",
                   (unsigned long long)expect);
            break;
        }
        off += 1 + hl + n;
        crm_record r;
        if (crm_record_decode_lean(rec, n, &r, NULL) != CRM_OK)
            broken(res, expect, "position %llu: unreadable record",
                   (unsigned long long)expect);
        else if (r.h.position != expect)
            broken(res, expect, "the record here names position %llu",
                   (unsigned long long)r.h.position);
        else if (r.h.tenant_len != strlen(out->tenant) ||
                 memcmp(r.h.tenant, out->tenant, r.h.tenant_len) != 0)
            broken(res, expect, "the record names another tenant");
        else if (!crm_record_verify(rec, &r, r.h.prev_hash))
            broken(res, expect, "the record's hash does not match its "
                                "content");
        else if (memcmp(r.h.prev_hash, hash, CRM_HASH_LEN) != 0)
            broken(res, expect, "prev_hash is not the hash of position %llu",
                   (unsigned long long)(expect - 1));
        else if (expect > to)
            broken(res, expect, "a record past the header's last position");
        if (res->broken ||
            (each && (err = each(arg, rec, n, &r, why)) != CRM_OK))
            break;
        memcpy(hash, r.hash, CRM_HASH_LEN);
        expect++;
        res->events++;
    }
    if (err == CRM_OK && !res->broken && !ended)
        broken(res, expect, "the file ends without its trailer (truncated)");
    if (err == CRM_OK && !res->broken) {
        res->head_pos = to;
        memcpy(res->head_hash, hash, CRM_HASH_LEN);
    }
done:
    msgpack_zone_free(z);
    if (len)
        munmap((void *)b, len);
    return err;
}
