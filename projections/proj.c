/* proj.c - the projection engine: generations, meta, inline application
 * and the steps of a rebuild. */
#include "proj.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be.h"
#include "seal.h"

#include "counts.h"
#include "customer.h"
#include "find.h"
#include "kpi.h"
#include "loyalty.h"
#include "segment.h"
#include "tasks.h"
#include "settings.h"

#define META_LEN 13 /* format u32 BE, live generation u8, position u64 BE */

typedef struct proj {
    const crm_proj_def *def;
    MDB_dbi dbi[2][CRM_PROJ_DBS_MAX];
    MDB_dbi meta;
    char meta_key[40];
    size_t meta_key_len;
    uint32_t format; /* as stored */
    int live;
    uint64_t position;
} proj;

struct crm_proj_set {
    proj p[CRM_PROJ_MAX];
    size_t n;
    int settings; /* index of the settings projection, or -1 */
    crm_settings_cache *cache;
    uint8_t index_key[CRM_PROJ_INDEX_KEY_LEN];
    uint8_t next_key[CRM_PROJ_INDEX_KEY_LEN]; /* a rekey's */
};

/* What apply gets for projection p: dbi are the databases it writes. */
static crm_proj_ctx
ctx_keyed(const crm_proj_set *s, MDB_txn *txn, const MDB_dbi *dbi,
          const uint8_t *key)
{
    crm_proj_ctx cx = {txn, dbi, 0, 0, s->cache, key};
    if (s->settings >= 0) {
        const proj *st = &s->p[s->settings];
        cx.has_settings = 1;
        cx.settings = st->dbi[st->live][0];
    }
    return cx;
}

static crm_proj_ctx
ctx_for(const crm_proj_set *s, MDB_txn *txn, const MDB_dbi *dbi)
{
    return ctx_keyed(s, txn, dbi, s->index_key);
}


static int
write_meta(proj *p, MDB_txn *txn, uint32_t format, int live, uint64_t pos)
{
    uint8_t b[META_LEN];
    crm_put_be(b, format, 4);
    b[4] = (uint8_t)live;
    crm_put_be(b + 5, pos, 8);
    MDB_val k = {p->meta_key_len, p->meta_key}, v = {META_LEN, b};
    return mdb_put(txn, p->meta, &k, &v, 0);
}

/* Reads the tenant's index key, making it on first use. */
static int
load_index_key(MDB_txn *txn, MDB_dbi meta, uint8_t out[CRM_PROJ_INDEX_KEY_LEN])
{
    MDB_val k = {9, "index_key"}, v;
    int rc = mdb_get(txn, meta, &k, &v);
    if (rc == 0 && v.mv_size == CRM_PROJ_INDEX_KEY_LEN) {
        memcpy(out, v.mv_data, CRM_PROJ_INDEX_KEY_LEN);
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc ? rc : MDB_CORRUPTED;
    if (RAND_bytes(out, CRM_PROJ_INDEX_KEY_LEN) != 1)
        return EIO;
    v.mv_size = CRM_PROJ_INDEX_KEY_LEN;
    v.mv_data = out;
    return mdb_put(txn, meta, &k, &v, 0);
}

crm_err
crm_proj_open(MDB_txn *txn, MDB_dbi dbi_meta, const uint8_t *index_key,
              const crm_proj_def *const *defs, size_t n, crm_proj_set **out,
              crm_error *why)
{
    *out = NULL;
    if (n > CRM_PROJ_MAX)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "at most %d projections", CRM_PROJ_MAX);
    crm_proj_set *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->cache = crm_settings_cache_new()) == NULL) {
        free(s);
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    }
    s->settings = -1;
    if (index_key)
        memcpy(s->index_key, index_key, CRM_PROJ_INDEX_KEY_LEN);
    else if (load_index_key(txn, dbi_meta, s->index_key) != 0) {
        crm_proj_close(s);
        return crm_error_set(why, CRM_ERR_IO, "tenant index key: unreadable "
                                              "or cannot be made");
    }
    for (size_t i = 0; i < n; i++) {
        proj *p = &s->p[i];
        p->def = defs[i];
        p->meta = dbi_meta;
        p->meta_key_len = (size_t)snprintf(p->meta_key, sizeof(p->meta_key),
                                           "proj:%s", defs[i]->name);
        for (int g = 0; g < 2; g++) {
            for (size_t d = 0; d < defs[i]->ndbs; d++) {
                char name[96];
                snprintf(name, sizeof(name), "p:%s:%d:%s", defs[i]->name, g,
                         defs[i]->dbs[d]);
                int rc = mdb_dbi_open(txn, name, MDB_CREATE, &p->dbi[g][d]);
                if (rc != 0) {
                    crm_proj_close(s);
                    return crm_error_set(why, CRM_ERR_IO,
                                         "projection %s: %s", defs[i]->name,
                                         mdb_strerror(rc));
                }
            }
        }
        MDB_val k = {p->meta_key_len, p->meta_key}, v;
        int rc = mdb_get(txn, dbi_meta, &k, &v);
        if (rc == 0 && v.mv_size == META_LEN) {
            p->format = (uint32_t)crm_get_be(v.mv_data, 4);
            p->live = ((const uint8_t *)v.mv_data)[4] & 1;
            p->position = crm_get_be((const uint8_t *)v.mv_data + 5, 8);
        } else if (rc == MDB_NOTFOUND) {
            /* new: empty at position 0, to be built from the log */
            p->format = 0;
            p->live = 0;
            p->position = 0;
        } else {
            crm_proj_close(s);
            return crm_error_set(why, CRM_ERR_CORRUPT,
                                 "projection %s: meta unreadable",
                                 defs[i]->name);
        }
    }
    s->n = n;
    for (size_t i = 0; i < n; i++)
        if (defs[i] == &crm_proj_settings)
            s->settings = (int)i;
    *out = s;
    return CRM_OK;
}

void
crm_proj_close(crm_proj_set *s)
{
    if (s) {
        crm_settings_cache_free(s->cache);
        crm_wipe(s->index_key, sizeof(s->index_key));
        crm_wipe(s->next_key, sizeof(s->next_key));
    }
    free(s); /* handles belong to the environment */
}

size_t
crm_proj_count(const crm_proj_set *s)
{
    return s ? s->n : 0;
}

const crm_proj_def *
crm_proj_def_at(const crm_proj_set *s, size_t i)
{
    return s->p[i].def;
}

const uint8_t *
crm_proj_index_key(const crm_proj_set *s)
{
    return s->index_key;
}

int
crm_proj_index(const crm_proj_set *s, const char *name)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (strcmp(s->p[i].def->name, name) == 0)
            return (int)i;
    return -1;
}

uint64_t
crm_proj_position(const crm_proj_set *s, size_t i)
{
    return s->p[i].position;
}

int
crm_proj_stale(const crm_proj_set *s, size_t i)
{
    return s->p[i].format != s->p[i].def->format;
}

/* Folds r into every projection that is not stale (being rebuilt: not
 * served, not kept) and has applied less than below. */
static int
fold_fresh(crm_proj_set *s, MDB_txn *txn, const crm_record *r, uint64_t below)
{
    for (size_t i = 0; s && i < s->n; i++) {
        proj *p = &s->p[i];
        if (p->format != p->def->format || p->position >= below)
            continue;
        crm_proj_ctx cx = ctx_for(s, txn, p->dbi[p->live]);
        int rc = p->def->apply(&cx, r);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Records position in meta for every projection that is not stale and
 * has applied less than below; in memory too when remember is set. */
static int
mark_fresh(crm_proj_set *s, MDB_txn *txn, uint64_t position, uint64_t below,
           int remember)
{
    for (size_t i = 0; s && i < s->n; i++) {
        proj *p = &s->p[i];
        if (p->format != p->def->format || p->position >= below)
            continue;
        int rc = write_meta(p, txn, p->format, p->live, position);
        if (rc != 0)
            return rc;
        if (remember)
            p->position = position;
    }
    return 0;
}

int
crm_proj_apply(crm_proj_set *s, MDB_txn *txn, const crm_record *r)
{
    return fold_fresh(s, txn, r, UINT64_MAX);
}

int
crm_proj_mark(crm_proj_set *s, MDB_txn *txn, uint64_t position)
{
    /* an aborted commit redoes the group, so memory may run ahead */
    return mark_fresh(s, txn, position, UINT64_MAX, 1);
}

uint64_t
crm_proj_behind(const crm_proj_set *s, uint64_t head)
{
    uint64_t least = head;
    for (size_t i = 0; s && i < s->n; i++)
        if (s->p[i].format == s->p[i].def->format &&
            s->p[i].position < least)
            least = s->p[i].position;
    return least;
}

int
crm_proj_catch_up(crm_proj_set *s, MDB_txn *txn, const crm_record *r)
{
    return fold_fresh(s, txn, r, r->h.position);
}

int
crm_proj_catch_up_mark(crm_proj_set *s, MDB_txn *txn, uint64_t position)
{
    return mark_fresh(s, txn, position, position, 0);
}

void
crm_proj_caught_up(crm_proj_set *s, uint64_t position)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (s->p[i].format == s->p[i].def->format &&
            s->p[i].position < position)
            s->p[i].position = position;
}

int
crm_proj_rebuild_begin(crm_proj_set *s, MDB_txn *txn, size_t i)
{
    proj *p = &s->p[i];
    for (size_t d = 0; d < p->def->ndbs; d++) {
        int rc = mdb_drop(txn, p->dbi[!p->live][d], 0);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
crm_proj_rebuild_apply(crm_proj_set *s, MDB_txn *txn, size_t i,
                       const crm_record *r)
{
    proj *p = &s->p[i];
    crm_proj_ctx cx = ctx_for(s, txn, p->dbi[!p->live]);
    return p->def->apply(&cx, r);
}

/* Compares two databases key by key and value by value; 1 if equal,
 * else 0 with the first differing key (hex, bounded) in diff. */
static int
same_db(MDB_txn *txn, MDB_dbi a, MDB_dbi b, const char *what, char *diff,
        size_t diff_len, int *rc)
{
    MDB_cursor *ca = NULL, *cb = NULL;
    int same = 1;
    if ((*rc = mdb_cursor_open(txn, a, &ca)) != 0 ||
        (*rc = mdb_cursor_open(txn, b, &cb)) != 0)
        goto done;
    MDB_val ka, va, kb, vb;
    int ra = mdb_cursor_get(ca, &ka, &va, MDB_FIRST),
        rb = mdb_cursor_get(cb, &kb, &vb, MDB_FIRST);
    while (ra == 0 && rb == 0) {
        if (ka.mv_size != kb.mv_size ||
            memcmp(ka.mv_data, kb.mv_data, ka.mv_size) != 0 ||
            va.mv_size != vb.mv_size ||
            memcmp(va.mv_data, vb.mv_data, va.mv_size) != 0)
            break;
        ra = mdb_cursor_get(ca, &ka, &va, MDB_NEXT);
        rb = mdb_cursor_get(cb, &kb, &vb, MDB_NEXT);
    }
    if (ra == MDB_NOTFOUND && rb == MDB_NOTFOUND)
        goto done;
    if ((ra != 0 && ra != MDB_NOTFOUND) || (rb != 0 && rb != MDB_NOTFOUND)) {
        *rc = ra != 0 && ra != MDB_NOTFOUND ? ra : rb;
        goto done;
    }
    same = 0;
    const MDB_val *k = ra == 0 ? &ka : &kb;
    size_t at = (size_t)snprintf(diff, diff_len, "%s: key ", what);
    for (size_t j = 0; j < k->mv_size && j < 32 && at + 3 < diff_len; j++)
        at += (size_t)snprintf(diff + at, diff_len - at, "%02x",
                               ((const uint8_t *)k->mv_data)[j]);
done:
    if (ca)
        mdb_cursor_close(ca);
    if (cb)
        mdb_cursor_close(cb);
    return same;
}

int
crm_proj_rebuild_finish(crm_proj_set *s, MDB_txn *txn, size_t i,
                        uint64_t position, int *identical, char *diff,
                        size_t diff_len)
{
    proj *p = &s->p[i];
    int rc = 0, old = p->live;
    *identical = 1;
    if (diff_len)
        diff[0] = '\0';
    for (size_t d = 0; d < p->def->ndbs && *identical; d++) {
        *identical = same_db(txn, p->dbi[old][d], p->dbi[!old][d],
                             p->def->dbs[d], diff, diff_len, &rc);
        if (rc != 0)
            return rc;
    }
    for (size_t d = 0; d < p->def->ndbs; d++)
        if ((rc = mdb_drop(txn, p->dbi[old][d], 0)) != 0)
            return rc;
    return write_meta(p, txn, p->def->format, !old, position);
}

void
crm_proj_swapped(crm_proj_set *s, size_t i, uint64_t position)
{
    proj *p = &s->p[i];
    p->live = !p->live;
    p->format = p->def->format;
    p->position = position;
}

int
crm_proj_rekey_begin(crm_proj_set *s, MDB_txn *txn,
                     const uint8_t key[CRM_PROJ_INDEX_KEY_LEN])
{
    memcpy(s->next_key, key, CRM_PROJ_INDEX_KEY_LEN);
    for (size_t i = 0; i < s->n; i++) {
        int rc = s->p[i].def->blind ? crm_proj_rebuild_begin(s, txn, i) : 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
crm_proj_rekey_apply(crm_proj_set *s, MDB_txn *txn, const crm_record *r)
{
    for (size_t i = 0; i < s->n; i++) {
        proj *p = &s->p[i];
        if (!p->def->blind)
            continue;
        crm_proj_ctx cx = ctx_keyed(s, txn, p->dbi[!p->live], s->next_key);
        int rc = p->def->apply(&cx, r);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
crm_proj_rekey_finish(crm_proj_set *s, MDB_txn *txn, uint64_t position)
{
    for (size_t i = 0; i < s->n; i++) {
        proj *p = &s->p[i];
        if (!p->def->blind)
            continue;
        for (size_t d = 0; d < p->def->ndbs; d++) {
            int rc = mdb_drop(txn, p->dbi[p->live][d], 0);
            if (rc != 0)
                return rc;
        }
        int rc = write_meta(p, txn, p->def->format, !p->live, position);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void
crm_proj_rekeyed(crm_proj_set *s, uint64_t position)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->p[i].def->blind)
            crm_proj_swapped(s, i, position);
    memcpy(s->index_key, s->next_key, CRM_PROJ_INDEX_KEY_LEN);
    crm_wipe(s->next_key, sizeof(s->next_key));
}

void
crm_proj_rekey_abort(crm_proj_set *s)
{
    crm_wipe(s->next_key, sizeof(s->next_key));
}

size_t
crm_proj_blind_count(const crm_proj_set *s)
{
    size_t n = 0;
    for (size_t i = 0; s && i < s->n; i++)
        n += s->p[i].def->blind != 0;
    return n;
}

int
crm_proj_live(const crm_proj_set *s, MDB_txn *txn, size_t i,
              MDB_dbi out[CRM_PROJ_DBS_MAX], uint64_t *position)
{
    const proj *p = &s->p[i];
    MDB_val k = {p->meta_key_len, (void *)p->meta_key}, v;
    int rc = mdb_get(txn, p->meta, &k, &v);
    int live = 0;
    *position = 0;
    if (rc == 0 && v.mv_size == META_LEN) {
        live = ((const uint8_t *)v.mv_data)[4] & 1;
        *position = crm_get_be((const uint8_t *)v.mv_data + 5, 8);
    } else if (rc != MDB_NOTFOUND) {
        return rc ? rc : MDB_CORRUPTED;
    }
    for (size_t d = 0; d < p->def->ndbs; d++)
        out[d] = p->dbi[live][d];
    return 0;
}

const crm_proj_def *
crm_proj_builtin_at(size_t i)
{
    /* in the order they apply: a projection may read those before it */
    static const crm_proj_def *const all[] = {
        &crm_proj_settings, &crm_proj_loyalty, &crm_proj_find,
        &crm_proj_customer, &crm_proj_kpi, &crm_proj_segment,
        &crm_proj_tasks,    &crm_proj_counts};
    return i < sizeof(all) / sizeof(all[0]) ? all[i] : NULL;
}

const crm_proj_def *
crm_proj_builtin(const char *name)
{
    const crm_proj_def *d;
    for (size_t i = 0; (d = crm_proj_builtin_at(i)) != NULL; i++)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

int
crm_proj_del_stream(MDB_txn *txn, MDB_dbi db, const char *stream, size_t len)
{
    uint8_t pfx[CRM_STREAM_MAX + 1];
    size_t plen = len + 1;
    if (len > CRM_STREAM_MAX)
        return EINVAL;
    memcpy(pfx, stream, len);
    pfx[len] = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db, &cur);
    if (rc != 0)
        return rc;
    for (;;) {
        /* from the front each time: a delete moves the cursor's page */
        MDB_val k = {plen, pfx}, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc != 0 || k.mv_size < plen || memcmp(k.mv_data, pfx, plen) != 0)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}
