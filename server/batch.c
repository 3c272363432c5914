/* batch.c - validating and encoding an append batch before the writer
 * sees it: canonical content, idempotency digests, duplicate ids, stream
 * groups and their expected versions. Runs on the submitting thread. */
#include <stdlib.h>
#include <string.h>

#include "batch_int.h"

void
crm_batch_free(crm_batch *b)
{
    if (b == NULL)
        return;
    free(b->ev);
    free(b->groups);
    msgpack_sbuffer_destroy(&b->content);
    free(b);
}

void
crm_batch_set_check(crm_batch *b, crm_batch_check_fn check, void *arg)
{
    b->check = check;
    b->check_arg = arg;
}

size_t
crm_batch_count(const crm_batch *b)
{
    return b->n;
}

uint64_t
crm_batch_position(const crm_batch *b, size_t i)
{
    return i < b->n ? b->ev[i].position : 0;
}

uint64_t
crm_batch_version(const crm_batch *b, size_t i)
{
    return i < b->n ? b->ev[i].version : 0;
}

int
crm_batch_is_duplicate(const crm_batch *b, size_t i)
{
    return i < b->n && b->ev[i].dup;
}

crm_err
crm_batch_result(const crm_batch *b, crm_error *why)
{
    if (why != NULL)
        *why = b->why;
    return b->why.code;
}

static int
cmp_stream(const void *pa, const void *pb, void *arg)
{
    const crm_batch *b = arg;
    const bgroup *x = pa, *y = pb;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(batch_stream(b, x), batch_stream(b, y), n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int
cmp_id(const void *pa, const void *pb, void *arg)
{
    const crm_batch *b = arg;
    const bevent *x = *(const bevent *const *)pa,
                 *y = *(const bevent *const *)pb;
    /* the id is the content's first object: bin-8 header then 16 bytes */
    return memcmp((const uint8_t *)b->content.data + x->off + 2,
                  (const uint8_t *)b->content.data + y->off + 2, CRM_ID_LEN);
}

/* The group of stream id[0..len) once groups are sorted and unique. */
static bgroup *
group_of(crm_batch *b, const char *id, size_t len)
{
    size_t lo = 0, hi = b->ngroups;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const bgroup *g = &b->groups[mid];
        size_t n = len < g->len ? len : g->len;
        int c = memcmp(id, batch_stream(b, g), n);
        if (c == 0)
            c = (len > g->len) - (len < g->len);
        if (c == 0)
            return &b->groups[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

crm_err
crm_batch_prepare(const crm_event_in *ev, size_t n, const crm_expect *exp,
                  size_t nexp, const char *actor, size_t actor_len,
                  crm_batch **out, crm_error *why)
{
    crm_batch *b = NULL;
    bevent **byid = NULL;
    crm_err err;

    *out = NULL;
    if (n == 0)
        return crm_error_set(why, CRM_ERR_EMPTY_BATCH, "batch holds no events");
    if (n > CRM_BATCH_MAX)
        return crm_error_set(why, CRM_ERR_TOO_LARGE,
                             "batch holds %zu events; the limit is %d", n,
                             CRM_BATCH_MAX);
    if (actor_len > CRM_ACTOR_MAX)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST, "actor id too long");

    if ((b = calloc(1, sizeof(*b))) == NULL ||
        (b->ev = calloc(n, sizeof(*b->ev))) == NULL ||
        (b->groups = calloc(n, sizeof(*b->groups))) == NULL ||
        (byid = malloc(n * sizeof(*byid))) == NULL) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto fail;
    }
    msgpack_sbuffer_init(&b->content);
    b->n = n;
    memcpy(b->actor, actor, actor_len);
    b->actor_len = actor_len;

    for (size_t i = 0; i < n; i++) {
        size_t off = b->content.size;
        if ((err = crm_event_encode(&ev[i], &b->content, why)) != CRM_OK) {
            crm_error_prefix(why, "event %zu", i);
            goto fail;
        }
        b->ev[i].off = off;
        b->ev[i].len = b->content.size - off;
        b->ev[i].pii_at = crm_event_pii_at(b->content.data + off, b->ev[i].len);
        if (b->content.size > CRM_BATCH_BYTES) {
            err =
                crm_error_set(why, CRM_ERR_TOO_LARGE,
                              "batch is larger than %u bytes", CRM_BATCH_BYTES);
            goto fail;
        }
        /* The stream id follows the 18-byte id as fixstr (< 32 bytes) or
         * str 8: canonical encoding fixes which. */
        size_t slen = ev[i].stream_len;
        b->groups[i].off = off + 2 + CRM_ID_LEN + (slen < 32 ? 1 : 2);
        b->groups[i].len = slen;
        b->groups[i].expect = CRM_EXPECT_ANY;
        crm_event_digest_public(b->content.data + off,
                                b->ev[i].pii_at ? b->ev[i].pii_at
                                                : b->ev[i].len,
                                b->ev[i].digest);
        byid[i] = &b->ev[i];
    }

    qsort_r(byid, n, sizeof(*byid), cmp_id, b);
    for (size_t i = 1; i < n; i++) {
        if (cmp_id(&byid[i - 1], &byid[i], b) == 0) {
            err = crm_error_set(why, CRM_ERR_DUPLICATE_ID,
                                "event %zu repeats the id of event %zu",
                                (size_t)(byid[i] - b->ev),
                                (size_t)(byid[i - 1] - b->ev));
            goto fail;
        }
    }

    /* One group per distinct stream, sorted so expectations can find
     * theirs by binary search; each event then learns its group. */
    qsort_r(b->groups, n, sizeof(*b->groups), cmp_stream, b);
    size_t ng = 0;
    for (size_t i = 0; i < n; i++)
        if (ng == 0 || cmp_stream(&b->groups[ng - 1], &b->groups[i], b) != 0)
            b->groups[ng++] = b->groups[i];
    b->ngroups = ng;
    for (size_t i = 0; i < n; i++) {
        const char *sid = (const char *)b->content.data + b->ev[i].off + 2 +
                          CRM_ID_LEN + (ev[i].stream_len < 32 ? 1 : 2);
        b->ev[i].group =
            (uint32_t)(group_of(b, sid, ev[i].stream_len) - b->groups);
    }

    for (size_t i = 0; i < nexp; i++) {
        const crm_expect *x = &exp[i];
        if (x->version < CRM_EXPECT_EXISTS || x->version == -3) {
            err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                "expected version %lld is not valid",
                                (long long)x->version);
            goto fail;
        }
        bgroup *g = group_of(b, x->stream, x->stream_len);
        if (g == NULL) {
            err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                "expected version names a stream with no "
                                "event in the batch");
            goto fail;
        }
        if (g->expect_set) {
            err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                "two expected versions for one stream");
            goto fail;
        }
        g->expect_set = 1;
        g->expect = x->version;
    }

    free(byid);
    b->why.code = CRM_OK;
    *out = b;
    return CRM_OK;
fail:
    free(byid);
    crm_batch_free(b);
    return err;
}
