/* scache.c - a small open-addressing hash map of stream heads. */
#include "scache.h"

#include <stdlib.h>
#include <string.h>

struct crm_scache {
    crm_shead *slot; /* len == 0 marks an empty slot */
    size_t cap;      /* power of two */
    size_t count;
    size_t ndirty;
};

static uint64_t
hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

crm_scache *
crm_scache_new(void)
{
    crm_scache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->cap = 1024;
    if ((c->slot = calloc(c->cap, sizeof(*c->slot))) == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

void
crm_scache_free(crm_scache *c)
{
    if (c == NULL)
        return;
    free(c->slot);
    free(c);
}

static crm_shead *
find(const crm_scache *c, const char *id, size_t len, int *found)
{
    size_t mask = c->cap - 1;
    for (size_t i = hash(id, len) & mask;; i = (i + 1) & mask) {
        crm_shead *h = &c->slot[i];
        if (h->len == 0) {
            *found = 0;
            return h;
        }
        if (h->len == len && memcmp(h->id, id, len) == 0) {
            *found = 1;
            return h;
        }
    }
}

const crm_shead *
crm_scache_get(const crm_scache *c, const char *id, size_t len)
{
    int found;
    if (len == 0 || len > CRM_STREAM_MAX)
        return NULL;
    const crm_shead *h = find(c, id, len, &found);
    return found ? h : NULL;
}

/* Moves the entries (dirty_only: the dirty ones) into a table of cap
 * slots. -1 on ENOMEM, with the cache unchanged. */
static int
rehash(crm_scache *c, size_t cap, int dirty_only)
{
    crm_shead *old = c->slot, *slot = calloc(cap, sizeof(*slot));
    if (slot == NULL)
        return -1;
    size_t ocap = c->cap;
    c->slot = slot;
    c->cap = cap;
    c->count = 0;
    for (size_t i = 0; i < ocap; i++) {
        int found;
        if (old[i].len && (!dirty_only || old[i].dirty)) {
            *find(c, old[i].id, old[i].len, &found) = old[i];
            c->count++;
        }
    }
    free(old);
    return 0;
}

static int
grow(crm_scache *c)
{
    return rehash(c, c->cap * 2, 0);
}

int
crm_scache_reserve(crm_scache *c, size_t n)
{
    while ((c->count + n) * 4 > c->cap * 3)
        if (grow(c) != 0)
            return -1;
    return 0;
}

int
crm_scache_put(crm_scache *c, const char *id, size_t len, uint64_t version,
               uint64_t position)
{
    int found;
    if (len == 0 || len > CRM_STREAM_MAX)
        return -1;
    /* keep the load under 3/4 so probes stay short */
    if ((c->count + 1) * 4 > c->cap * 3 && grow(c) != 0)
        return -1;
    crm_shead *h = find(c, id, len, &found);
    if (!found) {
        h->len = (uint8_t)len;
        memcpy(h->id, id, len);
        c->count++;
    }
    if (!h->dirty) {
        h->dirty = 1;
        c->ndirty++;
    }
    h->version = version;
    h->position = position;
    return 0;
}

int
crm_scache_merge(crm_scache *dst, const crm_scache *src)
{
    for (size_t i = 0; i < src->cap; i++) {
        const crm_shead *h = &src->slot[i];
        if (h->len &&
            crm_scache_put(dst, h->id, h->len, h->version, h->position) != 0)
            return -1;
    }
    return 0;
}

size_t
crm_scache_count(const crm_scache *c)
{
    return c->count;
}

size_t
crm_scache_dirty(const crm_scache *c)
{
    return c->ndirty;
}

void
crm_scache_mark_clean_at(crm_scache *c, const char *id, size_t len,
                         uint64_t position)
{
    int found;
    if (len == 0 || len > CRM_STREAM_MAX)
        return;
    crm_shead *h = find(c, id, len, &found);
    if (found && h->dirty && h->position == position) {
        h->dirty = 0;
        c->ndirty--;
    }
}

int
crm_scache_drop_clean(crm_scache *c)
{
    size_t cap = 1024;
    while (c->ndirty * 4 > cap * 3 / 2) /* room to grow before a rehash */
        cap *= 2;
    return rehash(c, cap, 1);
}

void
crm_scache_clear(crm_scache *c)
{
    if (c->count == 0)
        return;
    if (c->cap > 1024) {
        /* shrink back after a checkpoint of a large burst */
        crm_shead *slot = calloc(1024, sizeof(*slot));
        if (slot != NULL) {
            free(c->slot);
            c->slot = slot;
            c->cap = 1024;
            c->count = c->ndirty = 0;
            return;
        }
    }
    memset(c->slot, 0, c->cap * sizeof(*c->slot));
    c->count = c->ndirty = 0;
}

void
crm_scache_each(const crm_scache *c, int dirty_only,
                void (*fn)(void *arg, const crm_shead *h), void *arg)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->slot[i].len && (!dirty_only || c->slot[i].dirty))
            fn(arg, &c->slot[i]);
}
