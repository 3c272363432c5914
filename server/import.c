/*
 * import.c - crmd --import FILE: an export file (PROTOCOL.md,
 * audit.export) of a whole log made a new tenant of this data directory,
 * crmd stopped. The records go in as they were stored (log_import.c),
 * into a staging directory; the trailer's checkpoint must then name the
 * head they give, under the signature of the key the header names; only
 * then the tenant is put in place and registered, and opening it builds
 * its projections from the log. The chain head is the source's.
 *
 * The new tenant has a tenant key of its own. An export made with
 * --keys-passphrase-file carries its guests' subject keys after the
 * trailer, sealed under a key derived from a passphrase (xkeys.h): given
 * the passphrase, they are stored under the new tenant key and every
 * sealed personal part is opened once with them before the tenant is
 * put in place. Without them, personal fields the source sealed stay
 * sealed; figures, loyalty, consents and touchpoints are whole.
 */
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mpcheck.h"
#include "rpc.h"
#include "sign.h"
#include "store.h"
#include "vault.h"
#include "xkeys.h"

#define CHUNK 1000

typedef struct xin {
    const uint8_t *b;
    size_t len, off;
    msgpack_zone *z;
} xin;

/* The next object when it is a map (header, trailer): 1; a record (a
 * bin): 0 with *rec, *rlen; -1 malformed or at the end. */
static int
next(xin *x, msgpack_object *map, const uint8_t **rec, size_t *rlen)
{
    size_t used;
    if (x->off >= x->len ||
        crm_mpcheck_prefix(x->b + x->off, x->len - x->off, CRM_MP_MAX_DEPTH,
                           &used, NULL) != CRM_OK)
        return -1;
    msgpack_object o;
    size_t at = 0;
    msgpack_zone_clear(x->z);
    if (msgpack_unpack((const char *)x->b + x->off, used, &at, x->z, &o) !=
        MSGPACK_UNPACK_SUCCESS)
        return -1;
    x->off += used;
    if (o.type == MSGPACK_OBJECT_BIN) {
        *rec = (const uint8_t *)o.via.bin.ptr;
        *rlen = o.via.bin.size;
        return 0;
    }
    if (o.type != MSGPACK_OBJECT_MAP)
        return -1;
    *map = o;
    return 1;
}

static const uint8_t *
bin_field(const msgpack_object *m, const char *k, size_t n)
{
    const msgpack_object *o = crm_mp_get(m, k);
    return o && o->type == MSGPACK_OBJECT_BIN && o->via.bin.size == n
               ? (const uint8_t *)o->via.bin.ptr
               : NULL;
}

/* What the header says. */
typedef struct header {
    char tenant[CRM_TENANT_MAX + 1];
    uint8_t genesis[CRM_HASH_LEN], pub[CRM_SIGN_PUB_LEN];
    int64_t to;
} header;

static crm_err
read_header(const msgpack_object *h, header *out, crm_error *why)
{
    const msgpack_object *f = crm_mp_get(h, "format"),
                         *t = crm_mp_get(h, "tenant");
    int64_t version, from;
    const uint8_t *g = bin_field(h, "genesis", CRM_HASH_LEN),
                  *p = bin_field(h, "prev_hash", CRM_HASH_LEN),
                  *k = bin_field(h, "public_key", CRM_SIGN_PUB_LEN);
    if (f == NULL || !crm_mp_is_str(f) || f->via.str.size != 11 ||
        memcmp(f->via.str.ptr, "crmd-export", 11) != 0 ||
        crm_mp_int(crm_mp_get(h, "version"), 1, 1, &version) != 0 ||
        t == NULL || !crm_mp_is_str(t) || t->via.str.size == 0 ||
        t->via.str.size > CRM_TENANT_MAX ||
        crm_mp_int(crm_mp_get(h, "from"), 1, INT64_MAX, &from) != 0 ||
        crm_mp_int(crm_mp_get(h, "to"), 1, INT64_MAX, &out->to) != 0 ||
        g == NULL || p == NULL || k == NULL)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "not an export file of format 1");
    if (from != 1 || memcmp(g, p, CRM_HASH_LEN) != 0)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "the export begins at position %lld: only a "
                             "whole log (from 1) can be imported",
                             (long long)from);
    memcpy(out->tenant, t->via.str.ptr, t->via.str.size);
    out->tenant[t->via.str.size] = '\0';
    memcpy(out->genesis, g, CRM_HASH_LEN);
    memcpy(out->pub, k, CRM_SIGN_PUB_LEN);
    if (!crm_tenant_id_valid(out->tenant))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "bad tenant id");
    return CRM_OK;
}

/* The trailer against the imported head. */
static crm_err
check_trailer(const msgpack_object *t, const header *h, crm_log *log,
              crm_error *why)
{
    uint64_t head;
    uint8_t hash[CRM_HASH_LEN];
    crm_log_head(log, &head, hash);
    const msgpack_object *c = crm_mp_get(t, "checkpoint");
    crm_checkpoint ck = {0};
    int64_t pos;
    const uint8_t *ch = c ? bin_field(c, "head", CRM_HASH_LEN) : NULL,
                  *sig = c ? bin_field(c, "signature", CRM_SIGN_LEN) : NULL;
    if (c == NULL || ch == NULL || sig == NULL ||
        crm_mp_int(crm_mp_get(c, "position"), 1, INT64_MAX, &pos) != 0 ||
        crm_mp_int(crm_mp_get(c, "time"), INT64_MIN, INT64_MAX, &ck.time) !=
            0)
        return crm_error_set(why, CRM_ERR_CORRUPT, "the trailer is malformed");
    ck.position = (uint64_t)pos;
    memcpy(ck.head, ch, CRM_HASH_LEN);
    memcpy(ck.sig, sig, CRM_SIGN_LEN);
    if (ck.position != head || (int64_t)head != h->to ||
        memcmp(ck.head, hash, CRM_HASH_LEN) != 0)
        return crm_error_set(why, CRM_ERR_CORRUPT,
                             "the records end at %llu, not at the trailer's "
                             "checkpoint",
                             (unsigned long long)head);
    if (!crm_checkpoint_verify(h->pub, h->tenant, &ck))
        return crm_error_set(why, CRM_ERR_CORRUPT,
                             "the trailer's checkpoint is not signed by the "
                             "key the header names");
    return CRM_OK;
}

/* The records of x into the staged log, in chunks, then the trailer. */
static crm_err
load(xin *x, const header *h, crm_log *log, uint64_t *n, crm_error *why)
{
    const uint8_t *recs[CHUNK];
    size_t lens[CHUNK], k = 0;
    crm_err err = crm_log_import_begin(log, h->genesis, why);
    msgpack_object tr;
    int kind = 0;
    *n = 0;
    /* records point into the mapped file, so a chunk outlives the zone */
    while (err == CRM_OK) {
        const uint8_t *rec;
        size_t rlen;
        kind = next(x, &tr, &rec, &rlen);
        if (kind == 0) {
            recs[k] = rec;
            lens[k++] = rlen;
        }
        if (k == CHUNK || (kind != 0 && k > 0)) {
            err = crm_log_import_records(log, recs, lens, k, why);
            *n += k;
            k = 0;
        }
        if (kind != 0)
            break;
    }
    if (err == CRM_OK && kind != 1)
        err = crm_error_set(why, CRM_ERR_CORRUPT,
                            "the file ends without its trailer (truncated?)");
    if (err == CRM_OK)
        err = check_trailer(&tr, h, log, why);
    return err;
}

/* The keys section after the trailer, if any (xkeys.h): opened with the
 * passphrase of passfile and stored under the new tenant's key, every
 * sealed personal part then opened once with them. A section and a
 * passphrase go together: one without the other is refused. */
static crm_err
load_keys(const xin *x, const header *h, crm_log *log, const char *passfile,
          size_t *stored, uint64_t *opened, crm_error *why)
{
    *stored = 0;
    *opened = 0;
    if (x->off == x->len)
        return passfile == NULL
                   ? CRM_OK
                   : crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                   "the export carries no keys (crmctl audit "
                                   "export --keys-passphrase-file makes one "
                                   "that does)");
    crm_xkeys_section s;
    crm_err err = crm_xkeys_section_read(x->b, x->len, x->off, &s, why);
    if (err != CRM_OK)
        return err;
    if (strcmp(s.tenant, h->tenant) != 0)
        return crm_error_set(why, CRM_ERR_CORRUPT,
                             "the keys section is of tenant %s", s.tenant);
    if (passfile == NULL)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "the export carries its %llu guests' keys "
                             "sealed under a passphrase: give it with "
                             "--keys-passphrase-file FILE",
                             (unsigned long long)s.count);
    if (!crm_log_sealed(log))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "the guests' keys need a tenant that seals: "
                             "--master-key, not --no-encryption");
    char pass[CRM_XKEYS_PASS_MAX + 2];
    size_t plen;
    uint8_t tkey[CRM_KEY_LEN];
    if ((err = crm_xkeys_passphrase_load(passfile, pass, sizeof(pass), &plen,
                                         why)) != CRM_OK)
        return err;
    err = crm_xkeys_derive(pass, plen, &s.kdf, tkey, why);
    crm_wipe(pass, sizeof(pass));
    size_t tlen = strlen(h->tenant);
    if (err == CRM_OK &&
        !crm_xkeys_check(tkey, h->tenant, tlen, s.check, CRM_WRAPPED_LEN))
        err = crm_error_set(why, CRM_ERR_FORBIDDEN,
                            "the passphrase does not open the export's "
                            "keys (wrong passphrase?)");
    crm_import_key *chunk =
        err == CRM_OK ? calloc(CHUNK, sizeof(*chunk)) : NULL;
    if (err == CRM_OK && chunk == NULL)
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
    const uint8_t *at = s.first;
    size_t k = 0;
    uint64_t i = 0;
    while (err == CRM_OK) {
        const char *st;
        size_t sl;
        const uint8_t *sealed;
        int more = crm_xkeys_section_next(&s, &at, &st, &sl, &sealed);
        if (more) {
            chunk[k].stream = st;
            chunk[k].len = sl;
            if (crm_xkeys_unwrap(tkey, h->tenant, tlen, st, sl, sealed,
                                 CRM_WRAPPED_LEN, chunk[k].key) != 0) {
                err = crm_error_set(why, CRM_ERR_CORRUPT,
                                    "key %llu (guest %.*s) does not open",
                                    (unsigned long long)i + 1, (int)sl, st);
                break;
            }
            k++;
            i++;
        }
        if (k == CHUNK || (!more && k > 0)) {
            size_t n;
            err = crm_log_import_keys(log, chunk, k, &n, why);
            *stored += n;
            crm_wipe(chunk, k * sizeof(*chunk));
            k = 0;
        }
        if (!more)
            break;
    }
    if (chunk) {
        crm_wipe(chunk, CHUNK * sizeof(*chunk));
        free(chunk);
    }
    crm_wipe(tkey, sizeof(tkey));
    if (err == CRM_OK)
        err = crm_log_import_check_keys(log, opened, why);
    return err;
}

crm_err
crm_import_run(const crm_config *cfg, crm_error *why)
{
    int fd = open(cfg->import_from, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        if (fd >= 0)
            close(fd);
        return crm_error_set(why, CRM_ERR_IO, "%s: cannot be read",
                             cfg->import_from);
    }
    xin x = {mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0),
             (size_t)st.st_size, 0, msgpack_zone_new(4096)};
    close(fd);
    if (x.b == MAP_FAILED || x.z == NULL) {
        if (x.b != MAP_FAILED)
            munmap((void *)x.b, x.len);
        if (x.z)
            msgpack_zone_free(x.z);
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    }
    uint8_t master[CRM_KEY_LEN];
    crm_log_opts lo = {.map_size = cfg->map_size_mb << 20};
    header h;
    msgpack_object hm;
    const uint8_t *r;
    size_t rl;
    crm_err err = next(&x, &hm, &r, &rl) == 1
                      ? read_header(&hm, &h, why)
                      : crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                      "not an export file of format 1");
    if (err == CRM_OK && cfg->master_key_file) {
        if ((err = crm_master_key_load(cfg->master_key_file, master, why)) ==
            CRM_OK)
            lo.master_key = master;
    } else if (err == CRM_OK && !cfg->no_encryption) {
        err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                            "--import needs the master key (--master-key), "
                            "or --no-encryption for an unsealed tenant");
    }
    /* the tenant must be new to this data directory */
    crm_store *store = NULL;
    crm_log *probe;
    crm_error ignore;
    if (err == CRM_OK &&
        (err = crm_store_open(cfg->data_dir, &lo, &store, why)) == CRM_OK &&
        crm_store_tenant_log(store, h.tenant, &probe, &ignore) == CRM_OK)
        err = crm_error_set(why, CRM_ERR_EXISTS,
                            "tenant %s exists in %s: import makes a new one",
                            h.tenant, cfg->data_dir);
    crm_store_close(store);
    store = NULL;
    char stage[4200], dir[4200];
    snprintf(stage, sizeof(stage), "%s/tenants/.%s.importing", cfg->data_dir,
             h.tenant);
    snprintf(dir, sizeof(dir), "%s/tenants/%s", cfg->data_dir, h.tenant);
    crm_log *log = NULL;
    uint64_t n = 0;
    char cmd[9000];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", stage);
    if (err == CRM_OK && system(cmd) != 0)
        err = crm_error_set(why, CRM_ERR_IO, "cannot clear %s", stage);
    if (err == CRM_OK && mkdir(stage, 0700) != 0)
        err = crm_error_set(why, CRM_ERR_IO, "%s: %s", stage, strerror(errno));
    /* no projection while loading: opening the tenant builds them */
    crm_log_opts stage_lo = lo;
    stage_lo.projections = NULL;
    stage_lo.nprojections = 0;
    size_t nkeys = 0;
    uint64_t opened = 0;
    if (err == CRM_OK &&
        (err = crm_log_open(stage, h.tenant, &stage_lo, &log, why)) == CRM_OK)
        err = load(&x, &h, log, &n, why);
    if (err == CRM_OK)
        err = load_keys(&x, &h, log, cfg->keys_passphrase_file, &nkeys,
                        &opened, why);
    crm_log_close(log);
    if (err == CRM_OK && rename(stage, dir) != 0)
        err = crm_error_set(why, CRM_ERR_IO, "rename %s: %s", stage,
                            strerror(errno));
    /* registered, and opened once: projections and heads built */
    lo.projections = cfg->projections;
    lo.nprojections = cfg->nprojections;
    if (err == CRM_OK &&
        (err = crm_store_open(cfg->data_dir, &lo, &store, why)) == CRM_OK)
        err = crm_store_tenant_create(store, h.tenant, why);
    crm_store_close(store);
    if (err != CRM_OK && system(cmd) != 0)
        fprintf(stderr, "crmd: import: cannot remove %s\n", stage);
    if (err == CRM_OK && cfg->keys_passphrase_file)
        printf("imported tenant %s: %llu records, the chain and the trailer's "
               "signed checkpoint verified; %zu guests' keys brought over "
               "(%llu sealed parts opened with them); projections built\n",
               h.tenant, (unsigned long long)n, nkeys,
               (unsigned long long)opened);
    else if (err == CRM_OK)
        printf("imported tenant %s: %llu records, the chain and the trailer's "
               "signed checkpoint verified, projections built%s\n",
               h.tenant, (unsigned long long)n,
               lo.master_key ? "; the export carried no keys, so personal "
                               "fields the source sealed stay sealed"
                             : "");
    munmap((void *)x.b, x.len);
    msgpack_zone_free(x.z);
    crm_wipe(master, sizeof(master));
    return err;
}
