/*
 * segfilter_fuzz.c - libFuzzer harness for the filter language of defined
 * segments (crm_segfilter_parse, crm_segfilter_eval).
 *
 * Input: the filter text, any bytes. Checks, aborting if one fails:
 *   - on error no filter is returned, the column is 1..len+1, the token is
 *     a NUL-terminated cut of at most 40 bytes of the text at that column
 *     (or "" at its end) and the message is set;
 *   - on success the needs are a subset of CRM_SEG_NEED_ALL, evaluating it
 *     over a few guests (empty, typical, extreme figures) gives 0 or 1, the
 *     same answer twice, and a second parse of the same text gives the
 *     same answers; "not (TEXT)" gives the opposite answers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "segfilter.h"
#include "segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) abort();                                                     \
    } while (0)

static const uint8_t key[CRM_PROJ_INDEX_KEY_LEN] = {7, 1, 2, 3};

#define NGUESTS 3

/* One property and one preference, as a row keeps them. */
static uint8_t props[8], prefs[8 + CRM_SEG_PREF_HMAC + 8];

static void
be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void
guests(crm_seg_guest g[NGUESTS])
{
    memset(g, 0, NGUESTS * sizeof(*g));
    for (int i = 0; i < NGUESTS; i++) {
        g[i].id = "fuzz-guest";
        g[i].id_len = 10;
        g[i].nps_last = -1;
        g[i].days_since_stay = -1;
    }
    be64(props, crm_segment_name_hash("lisbon", 6));
    be64(prefs, crm_segment_name_hash("diet", 4));
    crm_segment_pref_key(key, "diet", 4, "halal", 5, prefs + 8);
    be64(prefs + 8 + CRM_SEG_PREF_HMAC, 1);

    crm_seg_guest *t = &g[1]; /* a guest with a bit of everything */
    t->first_seen = 20240101, t->registered = 20240101;
    t->first_stay = 20240301, t->last_stay = 20260501;
    t->last_booking = 20260601, t->stays = 4, t->nights = 11;
    t->orders = 6, t->open_complaints = 1, t->consent = 1u; /* email mkt */
    t->spend = 123456, t->nps_last = 9, t->home = 5;
    t->nprops = 1, t->props = props, t->nprefs = 1, t->prefs = prefs;
    t->days_since_stay = 37, t->nights_12m = 7, t->stays_12m = 2;
    t->stays_prev_12m = 1, t->lifecycle = SEG_ACTIVE;
    t->frequency = SEG_REPEAT, t->value = SEG_VALUE_HIGH;
    t->churn = SEG_CHURN_MEDIUM, t->churn_score = 45;
    t->rfm_r = 4, t->rfm_f = 3, t->rfm_m = 5;
    memcpy(t->tier, "gold", 5);
    t->points = 2500, t->points_expiring = 300;

    crm_seg_guest *x = &g[2]; /* figures at their limits */
    x->first_seen = x->registered = x->first_stay = x->last_stay = 99991231;
    x->last_booking = 99991231, x->stays = x->nights = UINT32_MAX;
    x->orders = x->open_complaints = x->consent = UINT32_MAX;
    x->spend = INT64_MIN, x->nps_last = 10, x->home = UINT64_MAX;
    x->days_since_stay = INT64_MAX, x->nights_12m = UINT32_MAX;
    x->stays_12m = x->stays_prev_12m = UINT32_MAX;
    x->lifecycle = SEG_CHURNED, x->frequency = SEG_FREQUENT;
    x->value = SEG_VALUE_NONE, x->churn = SEG_CHURN_HIGH;
    x->churn_score = 100, x->rfm_r = x->rfm_f = x->rfm_m = 1;
    memset(x->tier, 'z', CRM_SETTINGS_NAME_MAX);
    x->points = INT64_MAX, x->points_expiring = INT64_MIN;
}

/* Parses text; on success fills out[] with the answers for g. Returns the
 * parse's result. */
static int
answers(const char *text, size_t len, const crm_seg_guest *g, int out[])
{
    crm_segfilter *f = (crm_segfilter *)1;
    crm_segfilter_error e;
    memset(&e, 0xa5, sizeof(e));
    if (crm_segfilter_parse(text, len, key, &f, &e) != 0) {
        CHECK(f == NULL);
        CHECK(e.column >= 1 && e.column <= len + 1);
        size_t tl = strnlen(e.token, sizeof(e.token));
        CHECK(tl < sizeof(e.token) && tl <= 40);
        CHECK(tl <= len - (e.column - 1));
        if (strcmp(e.message, "out of memory") != 0)
            CHECK(memcmp(e.token, text + e.column - 1, tl) == 0);
        CHECK(memchr(e.message, '\0', sizeof(e.message)) != NULL);
        CHECK(e.message[0] != '\0');
        return -1;
    }
    CHECK(f != NULL);
    CHECK((crm_segfilter_needs(f) & ~(unsigned)CRM_SEG_NEED_ALL) == 0);
    for (int i = 0; i < NGUESTS; i++) {
        out[i] = crm_segfilter_eval(f, &g[i]);
        CHECK(out[i] == 0 || out[i] == 1);
        CHECK(crm_segfilter_eval(f, &g[i]) == out[i]);
    }
    crm_segfilter_free(f);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static crm_seg_guest g[NGUESTS];
    static int ready;
    if (!ready) guests(g), ready = 1;
    if (size > CRM_SEG_FILTER_MAX) return 0;

    const char *text = (const char *)data;
    int a[NGUESTS], b[NGUESTS];
    if (answers(text, size, g, a) != 0) return 0;
    CHECK(answers(text, size, g, b) == 0);
    CHECK(memcmp(a, b, sizeof(a)) == 0);

    /* the negation parses too and answers the opposite */
    char *neg = malloc(size + 7);
    CHECK(neg != NULL);
    memcpy(neg, "not (", 5);
    memcpy(neg + 5, text, size);
    neg[size + 5] = ')';
    if (answers(neg, size + 6, g, b) == 0)
        for (int i = 0; i < NGUESTS; i++)
            CHECK(b[i] == !a[i]);
    free(neg);
    return 0;
}
