/*
 * gen.c - the demo chain's guests and what happens to them.
 *
 * Each guest draws from its own random sequence (the seed and its number),
 * so guest 7 is the same person whether 100 or 3000 are generated. Its
 * events are collected, sorted by occurred_at and written as JSON lines
 * with ids derived from the seed and the event's content. Besides the
 * random activity of the two years before today, fixed shares of the
 * guests get what a morning routine looks for (see main.c's header):
 * arrivals in the next 14 days, online bookings left unconfirmed, open
 * complaints, birthdays this week, points expiring this month, an erasure,
 * and duplicate registrations of the guest before them.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"
#include "hash.h"
#include "uuid.h"

/* --- random numbers and dates --------------------------------------------- */

uint64_t
demo_rng_next(demo_rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

int64_t
demo_rng_range(demo_rng *r, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int64_t)(demo_rng_next(r) % (uint64_t)(hi - lo + 1));
}

int
demo_rng_pct(demo_rng *r, int pct)
{
    return (int)(demo_rng_next(r) % 100) < pct;
}

/* Howard Hinnant's days_from_civil and civil_from_days. */
int64_t
demo_days(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void
demo_civil(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

void
demo_date(int64_t days, char out[11])
{
    int y, m, d;
    demo_civil(days, &y, &m, &d);
    char t[40];
    snprintf(t, sizeof(t), "%04d-%02d-%02d", y, m, d);
    memcpy(out, t, 10);
    out[10] = '\0';
}

/* --- JSON bodies ---------------------------------------------------------- */

typedef struct body {
    char *p;
    size_t n, cap;
    int bad;
} body;

static void
put(body *b, const char *s, size_t len)
{
    if (b->bad)
        return;
    if (b->n + len + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + len + 2)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->bad = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void
key(body *b, const char *k)
{
    put(b, b->n > 1 ? ",\"" : "\"", b->n > 1 ? 2 : 1);
    put(b, k, strlen(k));
    put(b, "\":", 2);
}

/* Strings here are the generator's own (names, codes): UTF-8, and only
 * a quote or a backslash needs escaping. */
static void
str(body *b, const char *k, const char *v)
{
    key(b, k);
    put(b, "\"", 1);
    for (const char *s = v; *s; s++) {
        if (*s == '"' || *s == '\\')
            put(b, "\\", 1);
        put(b, s, 1);
    }
    put(b, "\"", 1);
}

static void
num(body *b, const char *k, int64_t v)
{
    char t[24];
    int len = snprintf(t, sizeof(t), "%" PRId64, v);
    key(b, k);
    put(b, t, (size_t)len);
}

static void
boolean(body *b, const char *k, int v)
{
    key(b, k);
    put(b, v ? "true" : "false", v ? 4 : 5);
}

static void
date(body *b, const char *k, int64_t day)
{
    char t[11];
    demo_date(day, t);
    str(b, k, t);
}

void
demo_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* --- a guest's events ----------------------------------------------------- */

static void
add(demo_run *run, int64_t at, const char *type, body *b)
{
    put(b, "}", 1);
    if (b->bad || at > run->now) {
        /* nothing happens after today 08:00: callers check, this holds */
        run->failed |= b->bad;
        free(b->p);
        *b = (body){0};
        return;
    }
    if (run->nev == run->capev) {
        size_t cap = run->capev ? run->capev * 2 : 64;
        demo_event *ev = realloc(run->ev, cap * sizeof(*ev));
        if (ev == NULL) {
            run->failed = 1;
            free(b->p);
            *b = (body){0};
            return;
        }
        run->ev = ev;
        run->capev = cap;
    }
    run->ev[run->nev] =
        (demo_event){.at = at, .seq = run->nev, .type = type, .body = b->p};
    run->nev++;
    *b = (body){0};
}

static body
open_body(void)
{
    body b = {0};
    put(&b, "{", 1);
    return b;
}

static int
by_time(const void *x, const void *y)
{
    const demo_event *a = x, *b = y;
    if (a->at != b->at)
        return a->at < b->at ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Writes the guest's events in time order, each with an id derived from
 * the seed and its content (name-based UUID form). */
static void
flush_guest(demo_run *run, const char *stream)
{
    char seedtxt[32];
    snprintf(seedtxt, sizeof(seedtxt), "crm-demo:%" PRIu64, run->seed);
    qsort(run->ev, run->nev, sizeof(*run->ev), by_time);
    for (size_t i = 0; i < run->nev; i++) {
        demo_event *e = &run->ev[i];
        char content[8192];
        int len = snprintf(content, sizeof(content), "%s\n%zu\n%s\n%" PRId64
                           "\n%s", stream, i, e->type, e->at, e->body);
        uint8_t h[CRM_HASH_LEN];
        char id[CRM_UUID_STRLEN + 1];
        crm_sha256_2(seedtxt, strlen(seedtxt), content,
                     len < (int)sizeof(content) ? (size_t)len
                                                : sizeof(content) - 1,
                     h);
        h[6] = (uint8_t)((h[6] & 0x0f) | 0x50);
        h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
        crm_uuid_format(h, id);
        if (fprintf(run->out,
                    "{\"id\":\"%s\",\"stream\":\"%s\",\"type\":\"%s\","
                    "\"occurred_at\":%" PRId64 ",\"body\":%s}\n",
                    id, stream, e->type, e->at, e->body) < 0)
            run->failed = 1;
        free(e->body);
        run->events++;
    }
    run->nev = 0;
}

/* --- what the expected answers keep --------------------------------------- */

#define GROW(arr, n, cap)                                                      \
    ((n) < (cap) ? 0                                                           \
                 : grow((void **)&(arr), &(cap), sizeof(*(arr))))

static int
grow(void **arr, size_t *cap, size_t size)
{
    size_t c = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, c * size);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

static demo_booking *
new_booking(demo_run *run)
{
    if (GROW(run->bookings, run->nbookings, run->capbookings) != 0) {
        run->failed = 1;
        return NULL;
    }
    demo_booking *b = &run->bookings[run->nbookings++];
    memset(b, 0, sizeof(*b));
    return b;
}

static demo_complaint *
new_complaint(demo_run *run)
{
    if (GROW(run->complaints, run->ncomplaints, run->capcomplaints) != 0) {
        run->failed = 1;
        return NULL;
    }
    demo_complaint *c = &run->complaints[run->ncomplaints++];
    memset(c, 0, sizeof(*c));
    return c;
}

/* --- a person ------------------------------------------------------------- */

typedef struct person {
    const demo_culture *c;
    const demo_name *first, *last;
    int by, bm, bd;
    char phone[24];     /* E.164 */
    char phone_sp[32];  /* the same with spaces */
    char email[128];
    char loyalty[32];
} person;

static void
make_person(demo_run *run, demo_rng *r, long i, person *p)
{
    p->c = &demo_cultures[demo_rng_range(r, 0, (int64_t)demo_ncultures - 1)];
    p->first = &p->c->first[demo_rng_range(r, 0, (int64_t)p->c->nfirst - 1)];
    p->last = &p->c->last[demo_rng_range(r, 0, (int64_t)p->c->nlast - 1)];
    p->by = (int)demo_rng_range(r, 1948, 2004);
    p->bm = (int)demo_rng_range(r, 1, 12);
    p->bd = (int)demo_rng_range(r, 1, 28);
    if (i % 61 == 3) {
        /* a birthday in the coming week (today included) */
        int y, m, d;
        demo_civil(run->today + (i / 61) % 8, &y, &m, &d);
        if (!(m == 2 && d == 29)) {
            p->bm = m;
            p->bd = d;
        }
    }
    /* i * 1237 mod 10^7 is one-to-one, so numbers do not repeat */
    long digits = (long)(((uint64_t)i * 1237u + 4100000u) % 10000000u);
    snprintf(p->phone, sizeof(p->phone), "+%s%s%07ld", p->c->calling_code,
             p->c->mobile_prefix, digits);
    snprintf(p->phone_sp, sizeof(p->phone_sp), "+%s %s%03ld %04ld",
             p->c->calling_code, p->c->mobile_prefix, digits / 10000,
             digits % 10000);
    snprintf(p->email, sizeof(p->email), "%s.%s%ld@%s", p->first->ascii,
             p->last->ascii, i, p->c->mail_domain);
    snprintf(p->loyalty, sizeof(p->loyalty), "DH%07ld", 1000000 + i);
}

/* --- the guest's story ---------------------------------------------------- */

typedef struct guest {
    demo_run *run;
    demo_rng *r;
    long i;
    char stream[32];
    const person *p;
    int64_t reg_at, end; /* end: nothing of this guest after it */
    /* marketing consent by channel: granted from .. until (for sends) */
    int64_t email_from, email_until, sms_from, sms_until;
    int email_final, sms_final;
    int nbook, ncomplaint, completed;
    const demo_property *last_property;
} guest;

static const char *const channels[] = {"direct", "web", "app",
                                       "ota",    "agent", "phone"};
static const char *const extras[] = {"fnb", "fnb", "spa", "retail",
                                     "excursion", "transfer"};
static const char *const complaint_kinds[] = {
    "noise", "cleanliness", "billing", "check-in wait", "air conditioning",
    "breakfast"};

static int
online(const char *channel)
{
    return strcmp(channel, "web") == 0 || strcmp(channel, "app") == 0 ||
           strcmp(channel, "ota") == 0;
}

static void
consent(guest *g, int64_t at, const char *channel, const char *purpose,
        int granted)
{
    body b = open_body();
    str(&b, "channel", channel);
    boolean(&b, "granted", granted);
    str(&b, "purpose", purpose);
    str(&b, "source", "web");
    add(g->run, at, "customer.consent_changed", &b);
}

static void
register_guest(guest *g, const char *first, const char *last,
               const char *email, const char *source)
{
    const person *p = g->p;
    body b = open_body();
    char bd[11];
    snprintf(bd, sizeof(bd), "%04d-%02d-%02d", p->by, p->bm, p->bd);
    str(&b, "first_name", first);
    str(&b, "last_name", last);
    if (email)
        str(&b, "email", email);
    str(&b, "phone", p->phone);
    str(&b, "birth_date", bd);
    str(&b, "language", p->c->language);
    str(&b, "nationality", p->c->nationality);
    str(&b, "loyalty_number", p->loyalty);
    str(&b, "source", source);
    add(g->run, g->reg_at, "customer.registered", &b);
}

static void
preferences(guest *g, int64_t at)
{
    demo_rng *r = g->r;
    static const char *const diets[] = {"vegetarian", "vegan", "gluten-free",
                                        "pescatarian", "kosher"};
    static const char *const pillows[] = {"firm", "soft", "feather-free",
                                          "memory foam"};
    static const char *const rooms[] = {"high floor", "quiet", "near lift",
                                        "river view", "twin beds"};
    static const char *const allergies[] = {"nuts", "shellfish", "lactose",
                                            "pollen"};
    body b;
    int arabic = strcmp(g->p->c->language, "ar") == 0;
    if (arabic || demo_rng_pct(r, 35)) {
        b = open_body();
        str(&b, "category", "diet");
        str(&b, "value", arabic && demo_rng_pct(r, 80)
                             ? "halal"
                             : diets[demo_rng_range(r, 0, 4)]);
        add(g->run, at + DEMO_MIN, "customer.preference_set", &b);
    }
    if (demo_rng_pct(r, 15)) {
        b = open_body();
        str(&b, "category", "allergy");
        str(&b, "value", allergies[demo_rng_range(r, 0, 3)]);
        add(g->run, at + 2 * DEMO_MIN, "customer.preference_set", &b);
    }
    if (demo_rng_pct(r, 40)) {
        b = open_body();
        str(&b, "category", "pillow");
        str(&b, "value", pillows[demo_rng_range(r, 0, 3)]);
        add(g->run, at + 3 * DEMO_MIN, "customer.preference_set", &b);
    }
    if (demo_rng_pct(r, 45)) {
        b = open_body();
        str(&b, "category", "room");
        str(&b, "value", rooms[demo_rng_range(r, 0, 4)]);
        add(g->run, at + 4 * DEMO_MIN, "customer.preference_set", &b);
    }
}

/* Marketing consents: e-mail for most, SMS for some, a few withdrawn. */
static void
consents(guest *g, int64_t at)
{
    demo_rng *r = g->r;
    g->email_from = g->sms_from = INT64_MAX;
    g->email_until = g->sms_until = INT64_MAX;
    int email = demo_rng_pct(r, 70), sms = demo_rng_pct(r, 25);
    consent(g, at + 10 * DEMO_MIN, "email", "service", 1);
    consent(g, at + 11 * DEMO_MIN, "email", "marketing", email);
    g->email_final = email;
    if (email) {
        g->email_from = at;
        if (demo_rng_pct(r, 12) && at + DEMO_DAY < g->end) {
            int64_t w = demo_rng_range(r, at + DEMO_DAY, g->end);
            consent(g, w, "email", "marketing", 0);
            g->email_until = w;
            g->email_final = 0;
        }
    }
    g->sms_final = 0;
    if (sms) {
        consent(g, at + 12 * DEMO_MIN, "sms", "marketing", 1);
        g->sms_from = at;
        g->sms_final = 1;
        if (demo_rng_pct(r, 15) && at + DEMO_DAY < g->end) {
            int64_t w = demo_rng_range(r, at + DEMO_DAY, g->end);
            consent(g, w, "sms", "marketing", 0);
            g->sms_until = w;
            g->sms_final = 0;
        }
    }
}

static int64_t
room_amount(demo_rng *r, const demo_property *pr, int64_t nights)
{
    int64_t night = demo_rng_range(r, pr->night_min, pr->night_max);
    return night / 100 * 100 * nights;
}

static void
charter(guest *g, const demo_booking *bk, const demo_property *pr)
{
    demo_rng *r = g->r;
    const char *from = g->p->c->airport;
    if (strcmp(from, pr->airport) == 0 ||
        bk->created_at + 20 * DEMO_MIN > g->end)
        return; /* no flight to one's own city */
    body b = open_body();
    char flight[12];
    snprintf(flight, sizeof(flight), "DH%03d", (int)demo_rng_range(r, 100, 989));
    str(&b, "booking_id", bk->id);
    str(&b, "flight_no", flight);
    str(&b, "origin", from);
    str(&b, "destination", pr->airport);
    date(&b, "departure_date", bk->arrival);
    date(&b, "return_date", bk->departure);
    num(&b, "seats", demo_rng_range(r, 1, 3));
    num(&b, "amount", demo_rng_range(r, 180, 1400) * 100);
    str(&b, "currency", "EUR");
    add(g->run, bk->created_at + 20 * DEMO_MIN, "charter.flight_booked", &b);
}

/* A complaint opened at `at`; resolved `after` microseconds later when
 * that is before the guest's end, else left open. */
static void
complaint(guest *g, int64_t at, int64_t after, const demo_property *pr,
          const char *stay)
{
    demo_rng *r = g->r;
    int erased = g->end < g->run->now;
    if (at > g->end || (erased && (after == 0 || at + after > g->end)))
        return; /* an erased guest leaves nothing open */
    demo_complaint *c = new_complaint(g->run);
    if (c == NULL)
        return;
    snprintf(c->id, sizeof(c->id), "CP-%05ld-%d", g->i, ++g->ncomplaint);
    snprintf(c->stream, sizeof(c->stream), "%s", g->stream);
    c->opened_at = at;
    static const char *const sev[] = {"low", "medium", "medium", "high"};
    body b = open_body();
    str(&b, "complaint_id", c->id);
    str(&b, "category", complaint_kinds[demo_rng_range(r, 0, 5)]);
    str(&b, "severity", sev[demo_rng_range(r, 0, 3)]);
    if (pr)
        str(&b, "property", pr->name);
    if (stay)
        str(&b, "stay_id", stay);
    str(&b, "description", "reported at the front desk");
    add(g->run, at, "complaint.opened", &b);
    if (after > 0 && at + after <= g->end) {
        b = open_body();
        str(&b, "complaint_id", c->id);
        if (demo_rng_pct(r, 40))
            num(&b, "compensation_points", demo_rng_range(r, 1, 10) * 100);
        str(&b, "resolution", "apologised and fixed");
        add(g->run, at + after, "complaint.resolved", &b);
        c->resolved = 1;
    }
}

/* The stay of a booking that was kept: check-in, extras, check-out, maybe
 * a survey, a complaint, a redemption. in_house: not checked out yet. */
static void
stay(guest *g, demo_booking *bk, const demo_property *pr, int64_t amount,
     int in_house)
{
    demo_run *run = g->run;
    demo_rng *r = g->r;
    char stay_id[24], room[8];
    snprintf(stay_id, sizeof(stay_id), "ST-%05ld-%02d", g->i, g->nbook);
    snprintf(room, sizeof(room), "%d%02d", (int)demo_rng_range(r, 1, 9),
             (int)demo_rng_range(r, 1, 40));
    int64_t in = bk->arrival * DEMO_DAY + 14 * DEMO_HOUR +
                 demo_rng_range(r, 0, 8 * 60) * DEMO_MIN;
    int64_t out = bk->departure * DEMO_DAY + 9 * DEMO_HOUR +
                  demo_rng_range(r, 0, 150) * DEMO_MIN;
    if (in > g->end)
        return;
    body b = open_body();
    str(&b, "stay_id", stay_id);
    str(&b, "property", pr->name);
    str(&b, "booking_id", bk->id);
    str(&b, "room", room);
    date(&b, "departure", bk->departure);
    add(run, in, "stay.checked_in", &b);
    bk->checked_in = 1;
    g->last_property = pr;
    int64_t nights = bk->departure - bk->arrival;
    int64_t last = in_house ? g->end : out - DEMO_HOUR;
    for (int64_t k = demo_rng_range(r, 0, 4); k > 0; k--) {
        int64_t at = demo_rng_range(r, in + DEMO_HOUR, last);
        if (at > g->end)
            continue;
        const char *cat = extras[demo_rng_range(r, 0, 5)];
        int64_t unit = pr->night_min / 5;
        b = open_body();
        num(&b, "amount", demo_rng_range(r, 1, 12) * unit / 100 * 100 + 50);
        str(&b, "currency", pr->currency);
        str(&b, "category", cat);
        str(&b, "property", pr->name);
        str(&b, "stay_id", stay_id);
        add(run, at, "spend.recorded", &b);
    }
    if (demo_rng_pct(r, 7))
        complaint(g, demo_rng_range(r, in + DEMO_HOUR, last), demo_rng_range(
                      r, DEMO_HOUR, 9 * DEMO_DAY), pr, stay_id);
    if (in_house || out > g->end)
        return;
    b = open_body();
    str(&b, "stay_id", stay_id);
    str(&b, "property", pr->name);
    num(&b, "nights", nights);
    num(&b, "amount", amount);
    str(&b, "currency", pr->currency);
    add(run, out, "stay.checked_out", &b);
    run->stays++;
    g->completed++;
    if (demo_rng_pct(r, 55)) {
        int64_t at = out + demo_rng_range(r, 2 * 60, 3 * 24 * 60) * DEMO_MIN;
        if (at <= g->end) {
            static const int nps_w[] = {1, 1, 1, 2, 2, 3, 4, 8, 12, 16, 14};
            int sum = 0, pick;
            for (int k = 0; k < 11; k++)
                sum += nps_w[k];
            pick = (int)demo_rng_range(r, 0, sum - 1);
            int nps = 0;
            while (pick >= nps_w[nps])
                pick -= nps_w[nps++];
            char sid[28];
            snprintf(sid, sizeof(sid), "SV-%05ld-%02d", g->i, g->nbook);
            b = open_body();
            str(&b, "survey_id", sid);
            str(&b, "property", pr->name);
            num(&b, "nps", nps);
            num(&b, "csat", nps >= 9 ? 5 : nps >= 7 ? 4 : nps >= 5 ? 3 : 2);
            str(&b, "stay_id", stay_id);
            if (nps <= 6)
                str(&b, "comment", "the room was not ready on time");
            add(run, at, "feedback.survey_submitted", &b);
            run->surveys++;
            run->promoters += nps >= 9;
            run->detractors += nps <= 6;
        }
    }
    if (g->completed >= 2 && demo_rng_pct(r, 25)) {
        /* a stay earns at least 900 points, so 500 is always covered */
        int64_t at = out + demo_rng_range(r, 1, 20) * DEMO_DAY;
        static const char *const rewards[] = {"spa voucher", "late check-out",
                                              "airport transfer",
                                              "dinner for two"};
        if (at <= g->end) {
            b = open_body();
            num(&b, "points", 500);
            str(&b, "reward", rewards[demo_rng_range(r, 0, 3)]);
            str(&b, "property", pr->name);
            add(run, at, "loyalty.points_redeemed", &b);
        }
    }
}

/* One booking made at `created` for `arrival` (a day), `nights` long.
 * kind: 0 as chance has it, 1 confirmed (an arrival to come), 2 an online
 * booking nobody confirmed. */
static void
booking(guest *g, int64_t created, int64_t arrival, int64_t nights,
        const demo_property *pr, const char *channel, int kind)
{
    demo_run *run = g->run;
    demo_rng *r = g->r;
    if (created > g->end)
        return;
    demo_booking *bk = new_booking(run);
    if (bk == NULL)
        return;
    g->nbook++;
    snprintf(bk->id, sizeof(bk->id), "BK-%05ld-%02d", g->i, g->nbook);
    snprintf(bk->stream, sizeof(bk->stream), "%s", g->stream);
    snprintf(bk->property, sizeof(bk->property), "%s", pr->name);
    snprintf(bk->channel, sizeof(bk->channel), "%s", channel);
    bk->created_at = created;
    bk->arrival = arrival;
    bk->departure = arrival + nights;
    int64_t amount = room_amount(r, pr, nights);
    static const char *const types[] = {"standard", "standard", "deluxe",
                                        "suite", "family"};
    body b = open_body();
    str(&b, "booking_id", bk->id);
    str(&b, "property", pr->name);
    date(&b, "arrival", bk->arrival);
    date(&b, "departure", bk->departure);
    str(&b, "channel", channel);
    str(&b, "room_type", types[demo_rng_range(r, 0, 4)]);
    num(&b, "guests", demo_rng_range(r, 1, 3));
    num(&b, "amount", amount);
    str(&b, "currency", pr->currency);
    add(run, created, "booking.created", &b);
    if (demo_rng_pct(r, 12))
        charter(g, bk, pr);
    if (kind == 2)
        return;
    int64_t arrive_at = arrival * DEMO_DAY + 14 * DEMO_HOUR;
    if (kind == 0 && demo_rng_pct(r, 9)) {
        int64_t until = arrive_at < g->end ? arrive_at : g->end;
        int64_t at = demo_rng_range(r, created + DEMO_HOUR, until);
        if (at <= g->end && at > created) {
            b = open_body();
            str(&b, "booking_id", bk->id);
            str(&b, "reason", demo_rng_pct(r, 50) ? "change of plans"
                                                  : "found another date");
            add(run, at, "booking.cancelled", &b);
            bk->cancelled = 1;
            return;
        }
    }
    int64_t confirm = created + (online(channel)
                                     ? demo_rng_range(r, 10, 18 * 60)
                                     : demo_rng_range(r, 1, 10)) *
                                    DEMO_MIN;
    if (confirm > g->end)
        return; /* made a moment ago: not confirmed yet */
    b = open_body();
    str(&b, "booking_id", bk->id);
    add(run, confirm, "booking.confirmed", &b);
    bk->confirmed = 1;
    if (arrive_at <= g->end)
        stay(g, bk, pr, amount,
             bk->departure * DEMO_DAY + 9 * DEMO_HOUR > g->end);
}

static const demo_property *
pick_property(guest *g)
{
    /* guests come back to the hotel they know more often than not */
    if (g->last_property && demo_rng_pct(g->r, 55))
        return g->last_property;
    return &demo_properties[demo_rng_range(g->r, 0,
                                           (int64_t)demo_nproperties - 1)];
}

static const char *
pick_channel(demo_rng *r)
{
    return channels[demo_rng_range(r, 0, 5)];
}

static void
interactions(guest *g)
{
    demo_rng *r = g->r;
    static const char *const kinds[] = {"call", "email", "chat", "social",
                                        "in_person"};
    static const char *const subjects[] = {
        "late check-out",  "airport transfer", "invoice copy",
        "room upgrade",    "restaurant booking", "lost property"};
    for (int64_t k = demo_rng_range(r, 0, 3); k > 0; k--) {
        int64_t at = demo_rng_range(r, g->reg_at + DEMO_HOUR, g->end);
        body b = open_body();
        str(&b, "channel", kinds[demo_rng_range(r, 0, 4)]);
        str(&b, "direction", demo_rng_pct(r, 70) ? "inbound" : "outbound");
        str(&b, "subject", subjects[demo_rng_range(r, 0, 5)]);
        num(&b, "duration_s", demo_rng_range(r, 30, 1200));
        str(&b, "agent", demo_rng_pct(r, 50) ? "front-desk" : "contact-centre");
        str(&b, "summary", "guest asked and was helped");
        add(g->run, at, "interaction.logged", &b);
    }
}

/* The campaigns: one newsletter a month for e-mail, a flash sale by SMS
 * every quarter, to the guests whose consent stands on the day. */
static void
campaigns(guest *g)
{
    demo_run *run = g->run;
    demo_rng *r = g->r;
    int ty, tm, td;
    demo_civil(run->today, &ty, &tm, &td);
    for (int back = 24; back >= 0; back--) {
        int y = ty, m = tm - back;
        while (m < 1) {
            m += 12;
            y--;
        }
        int64_t day = demo_days(y, m, 3);
        int64_t at = day * DEMO_DAY + 9 * DEMO_HOUR;
        int sms = m % 3 == 0;
        int64_t from = sms ? g->sms_from : g->email_from;
        int64_t until = sms ? g->sms_until : g->email_until;
        if (at > g->end || at < from || at >= until || !demo_rng_pct(r, 60))
            continue;
        char camp[40], mid[48];
        snprintf(camp, sizeof(camp), "%s-%04d-%02d",
                 sms ? "flash-sale" : "newsletter", y, m);
        snprintf(mid, sizeof(mid), "%s-%05ld", camp, g->i);
        body b = open_body();
        str(&b, "campaign", camp);
        str(&b, "channel", sms ? "sms" : "email");
        str(&b, "message_id", mid);
        add(run, at, "marketing.message_sent", &b);
        if (!demo_rng_pct(r, 45))
            continue;
        int64_t open = at + demo_rng_range(r, 10, 3 * 24 * 60) * DEMO_MIN;
        if (open > g->end)
            continue;
        b = open_body();
        str(&b, "campaign", camp);
        str(&b, "message_id", mid);
        add(run, open, "marketing.message_opened", &b);
        if (!demo_rng_pct(r, 35))
            continue;
        int64_t click = open + demo_rng_range(r, 1, 30) * DEMO_MIN;
        if (click > g->end)
            continue;
        b = open_body();
        str(&b, "campaign", camp);
        str(&b, "message_id", mid);
        str(&b, "url", "https://example.com/offers");
        add(run, click, "marketing.message_clicked", &b);
    }
}

/* The bookings of a guest: random ones over the years, then what the
 * morning routine looks for, by the guest's number. */
static void
bookings(guest *g, int scenarios)
{
    demo_run *run = g->run;
    demo_rng *r = g->r;
    int64_t today0 = run->today * DEMO_DAY;
    long i = g->i;
    if (scenarios && i % 37 == 8) {
        /* a stay 24 months back: its points expire this month */
        int ty, tm, td;
        demo_civil(run->today, &ty, &tm, &td);
        int d = td + 2 + (int)(i % 5);
        int64_t out = demo_days(ty - 2, tm, d > 28 ? 28 : d);
        int64_t nights = demo_rng_range(r, 2, 4);
        booking(g, (out - nights - 20) * DEMO_DAY + 10 * DEMO_HOUR,
                out - nights, nights, pick_property(g), "direct", 1);
    }
    int64_t n = demo_rng_range(r, 0, 100);
    n = n < 15 ? 0 : n < 45 ? 1 : n < 70 ? 2 : n < 85 ? 3 : n < 95 ? 5 : 8;
    int64_t t = g->reg_at;
    for (int64_t k = 0; k < n; k++) {
        int64_t span = (g->end - t) / (n - k + 1);
        if (span < DEMO_DAY)
            break;
        t += demo_rng_range(r, DEMO_HOUR, 2 * span);
        if (t > g->end - DEMO_HOUR)
            break;
        int64_t lead = demo_rng_range(r, 1, 75);
        int64_t nights = demo_rng_range(r, 1, 7);
        int64_t arrival = t / DEMO_DAY + lead;
        if (g->end < run->now && arrival + nights + 1 > g->end / DEMO_DAY)
            continue; /* a guest erased soon: nothing to come */
        booking(g, t, arrival, nights, pick_property(g), pick_channel(r), 0);
    }
    if (!scenarios)
        return;
    if (i % 15 == 4) {
        /* an arrival in the next 14 days, confirmed */
        int64_t created = run->now - demo_rng_range(r, 1, 40) * DEMO_DAY -
                          demo_rng_range(r, 0, 600) * DEMO_MIN;
        if (created < g->reg_at)
            created = g->reg_at + DEMO_HOUR;
        const char *ch = pick_channel(r);
        booking(g, created, run->today + (i / 15) % 15, demo_rng_range(r, 1, 6),
                pick_property(g), ch, 1);
    }
    if (i % 71 == 6) {
        /* an online booking left unconfirmed for 1 to 5 days */
        static const char *const web[] = {"web", "app", "ota"};
        int64_t created = today0 - (1 + (i / 71) % 5) * DEMO_DAY -
                          demo_rng_range(r, 1, 600) * DEMO_MIN;
        if (created > g->reg_at)
            booking(g, created, run->today + demo_rng_range(r, 10, 45),
                    demo_rng_range(r, 2, 5), pick_property(g),
                    web[(i / 71) % 3], 2);
    }
    if (i % 193 == 11) /* a complaint opened hours ago */
        complaint(g, run->now - demo_rng_range(r, 30, 7 * 60) * DEMO_MIN, 0,
                  g->last_property, NULL);
    if (i % 181 == 21) /* a complaint open for days */
        complaint(g, today0 - demo_rng_range(r, 2 * 24, 6 * 24) * DEMO_HOUR -
                         demo_rng_range(r, 1, 59) * DEMO_MIN,
                  0, g->last_property, NULL);
}

static void
fact(demo_run *run, long i, const guest *g, const char *first,
     const char *last, const char *email)
{
    demo_fact *f = &run->facts[i - 1];
    snprintf(f->stream, sizeof(f->stream), "%s", g->stream);
    snprintf(f->name, sizeof(f->name), "%s %s", first, last);
    snprintf(f->email, sizeof(f->email), "%s", email ? email : "");
    f->birth_m = g->p->bm;
    f->birth_d = g->p->bd;
    f->marketing = g->email_final || g->sms_final;
}

/* A second registration of the person before (the same guest through
 * another channel): kind 0 the e-mail in other case, 1 the same phone
 * with another address, 2 the name without accents. */
static void
duplicate(demo_run *run, demo_rng *r, guest *g, const demo_fact *orig)
{
    const person *p = g->p;
    int kind = (int)((g->i / 47) % 3);
    if (kind == 2 && !p->c->accented)
        kind = 0;
    char email[128];
    const char *first = p->first->name, *last = p->last->name;
    char afirst[64], alast[64];
    if (kind == 1) {
        snprintf(email, sizeof(email), "%s%s@mail.example.net",
                 p->first->ascii, p->last->ascii);
    } else {
        /* Capitalised words and an upper-case domain */
        snprintf(email, sizeof(email), "%s", orig->email);
        const char *at = strchr(email, '@');
        for (char *s = email; *s; s++)
            if (*s >= 'a' && *s <= 'z' &&
                (s > at || s == email || s[-1] == '.'))
                *s = (char)(*s - 'a' + 'A');
    }
    if (kind == 2) {
        snprintf(afirst, sizeof(afirst), "%c%s", p->first->ascii[0] - 32,
                 p->first->ascii + 1);
        snprintf(alast, sizeof(alast), "%c%s", p->last->ascii[0] - 32,
                 p->last->ascii + 1);
        first = afirst;
        last = alast;
    }
    register_guest(g, first, last, email, demo_rng_pct(r, 50) ? "ota" : "app");
    consents(g, g->reg_at);
    if (GROW(run->dups, run->ndups, run->capdups) != 0) {
        run->failed = 1;
    } else {
        demo_dup *d = &run->dups[run->ndups++];
        snprintf(d->a, sizeof(d->a), "%s", orig->stream);
        snprintf(d->b, sizeof(d->b), "%s", g->stream);
        snprintf(d->kind, sizeof(d->kind), "%s",
                 kind == 0 ? "email-case" : kind == 1 ? "phone" : "accents");
        snprintf(d->email, sizeof(d->email), "%s", email);
        snprintf(d->phone, sizeof(d->phone), "%s", p->phone_sp);
    }
    fact(run, g->i, g, first, last, email);
}

int
demo_generate(demo_run *run)
{
    int64_t start = run->today * DEMO_DAY - 730 * DEMO_DAY;
    run->facts = calloc((size_t)run->guests, sizeof(*run->facts));
    if (run->facts == NULL)
        return -1;
    person prev = {0};
    demo_rng prev_rng = {0};
    for (long i = 1; i <= run->guests && !run->failed; i++) {
        demo_rng r = {run->seed * UINT64_C(0x100000001b3) ^ (uint64_t)i};
        demo_rng_next(&r);
        person p;
        guest g = {.run = run, .r = &r, .i = i, .p = &p, .end = run->now};
        snprintf(g.stream, sizeof(g.stream), "guest-%05ld", i);
        int dup = i % 47 == 0 && i > 1;
        if (dup) {
            /* the person of the guest before, registered again later */
            p = prev;
            r = prev_rng;
            r.s ^= UINT64_C(0xd1b54a32d192ed03);
            g.reg_at = demo_rng_range(&r, start + 200 * DEMO_DAY,
                                      run->now - 2 * DEMO_DAY);
            duplicate(run, &r, &g, &run->facts[i - 2]);
            bookings(&g, 0);
            flush_guest(run, g.stream);
            continue;
        }
        prev_rng = r;
        make_person(run, &r, i, &p);
        prev = p;
        int64_t reg_hi = run->now - 20 * DEMO_DAY;
        g.reg_at = demo_rng_range(&r, start, reg_hi);
        if (i % 37 == 8)
            g.reg_at = start - 40 * DEMO_DAY; /* before the stay of 24 months ago */
        int erased = i % 197 == 100;
        if (erased)
            g.end = run->now - demo_rng_range(&r, 2, 30) * DEMO_DAY;
        register_guest(&g, p.first->name, p.last->name, p.email,
                       pick_channel(&r));
        preferences(&g, g.reg_at);
        consents(&g, g.reg_at);
        bookings(&g, !erased);
        interactions(&g);
        campaigns(&g);
        fact(run, i, &g, p.first->name, p.last->name, p.email);
        if (erased) {
            body b = open_body();
            str(&b, "reason", "gdpr");
            str(&b, "request_ref", "DSR-demo");
            add(run, g.end + DEMO_MIN, "customer.erased", &b);
            run->facts[i - 1].erased = 1;
        }
        flush_guest(run, g.stream);
    }
    free(run->ev);
    run->ev = NULL;
    return run->failed ? -1 : 0;
}
