/* heads.c - open addressing, linear probing, at most half full. */
#include "heads.h"

#include <stdlib.h>
#include <string.h>

uint32_t
crm_audit_heads_hash(const void *id, size_t len)
{
    const uint8_t *p = id;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static const char *
id_of(const crm_audit_head *e)
{
    return e->len <= CRM_AUDIT_HEAD_INLINE ? e->id.in : e->id.ptr;
}

static crm_audit_head *
find(const crm_audit_heads *t, const void *id, size_t len, uint32_t h)
{
    size_t mask = t->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        crm_audit_head *e = &t->slot[i];
        if (e->len == 0 ||
            (e->hash == h && e->len == len && memcmp(id_of(e), id, len) == 0))
            return e;
    }
}

const crm_audit_head *
crm_audit_heads_get(const crm_audit_heads *t, const void *id, size_t len,
                    uint32_t h)
{
    if (t->cap == 0)
        return NULL;
    const crm_audit_head *e = find(t, id, len, h);
    return e->len ? e : NULL;
}

static int
grow(crm_audit_heads *t)
{
    size_t cap = t->cap ? 2 * t->cap : 1024;
    crm_audit_heads n = {calloc(cap, sizeof(crm_audit_head)), cap, t->count};
    if (n.slot == NULL)
        return -1;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slot[i].len)
            *find(&n, id_of(&t->slot[i]), t->slot[i].len, t->slot[i].hash) =
                t->slot[i];
    free(t->slot);
    *t = n;
    return 0;
}

crm_audit_head *
crm_audit_heads_slot(crm_audit_heads *t, const char *id, size_t len,
                     uint32_t h, int *fresh)
{
    if (2 * (t->count + 1) > t->cap && grow(t) != 0)
        return NULL;
    crm_audit_head *e = find(t, id, len, h);
    *fresh = e->len == 0;
    if (*fresh) {
        if (len <= CRM_AUDIT_HEAD_INLINE)
            memcpy(e->id.in, id, len);
        else
            e->id.ptr = id;
        e->hash = h;
        e->len = (uint32_t)len;
        e->version = e->position = 0;
        t->count++;
    }
    return e;
}

int
crm_audit_heads_copy(crm_audit_heads *dst, const crm_audit_heads *src)
{
    crm_audit_head *slot = NULL;
    if (src->cap &&
        (slot = malloc(src->cap * sizeof(crm_audit_head))) == NULL)
        return -1;
    if (src->cap)
        memcpy(slot, src->slot, src->cap * sizeof(crm_audit_head));
    free(dst->slot);
    dst->slot = slot;
    dst->cap = src->cap;
    dst->count = src->count;
    return 0;
}

void
crm_audit_heads_free(crm_audit_heads *t)
{
    free(t->slot);
    t->slot = NULL;
    t->cap = t->count = 0;
}
