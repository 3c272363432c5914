/* proj_crm_test.c - every builtin projection (crm_proj_builtin_at, so one
 * added later is covered too) on a generated hotel chain: tenant settings
 * with rates, a tier and an earn rule; 10,000 guests registered with
 * Latin, Chinese and Arabic names; then a mix to 500,000 events of
 * profile changes, consents, preferences, bookings and stays, spend in
 * three currencies with refunds, points earned, redeemed within the
 * balance and adjusted, tier changes, surveys, complaints, contacts,
 * campaign messages, page views, back-dated events, a settings change
 * mid-chain and a few erasures. The inline state equals a rebuild byte
 * for byte, also after more appends on the rebuilt generation, after a
 * kill -9 in the middle of a rebuild and with appends going on during
 * one; and the views hold what the generator expects: every guest's
 * balance and tier, every guest found by their current e-mail, phone,
 * loyalty number and name tokens and not by what they changed, erased
 * guests found by nothing, the settings in force, event counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "decimal.h"
#include "find.h"
#include "fixture.h"
#include "log.h"
#include "loyalty.h"
#include "normalize.h"
#include "schema.h"
#include "settings.h"

#define GUESTS 10000
#define EVENTS 500000 /* the whole chain: settings and registrations too */
#define MORE 5000     /* appended on the rebuilt generation */
#define BATCH 1000
#define TENANT "crm-hotels"

/* --- a deterministic generator ------------------------------------------ */

static uint64_t seed = 0x243f6a8885a308d3ull;

static uint64_t
rnd(void)
{
    /* splitmix64 */
    uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t
below(int64_t n)
{
    return (int64_t)(rnd() % (uint64_t)n);
}

static const char *
pick(const char *const *v, size_t n)
{
    return v[below((int64_t)n)];
}
#define PICK(a) pick(a, sizeof(a) / sizeof(a[0]))

#define DAY_US 86400000000LL
#define START 20240102u /* the first day of the chain */

enum {
    E_REGISTERED,
    E_PROFILE,
    E_CONSENT,
    E_PREFERENCE,
    E_ERASED,
    E_BOOKED,
    E_CONFIRMED,
    E_CANCELLED,
    E_CHECKED_IN,
    E_CHECKED_OUT,
    E_SPEND,
    E_EARNED,
    E_REDEEMED,
    E_ADJUSTED,
    E_TIER,
    E_SURVEY,
    E_COMPLAINT,
    E_RESOLVED,
    E_INTERACTION,
    E_MESSAGE,
    E_VIEWED,
    E_SETTINGS,
    E_RATE,
    E_TIER_DEFINED,
    E_EARN_RATE,
    NTYPES
};

static const char *const TYPE[NTYPES] = {
    [E_REGISTERED] = "customer.registered",
    [E_PROFILE] = "customer.profile_updated",
    [E_CONSENT] = "customer.consent_changed",
    [E_PREFERENCE] = "customer.preference_set",
    [E_ERASED] = "customer.erased",
    [E_BOOKED] = "booking.created",
    [E_CONFIRMED] = "booking.confirmed",
    [E_CANCELLED] = "booking.cancelled",
    [E_CHECKED_IN] = "stay.checked_in",
    [E_CHECKED_OUT] = "stay.checked_out",
    [E_SPEND] = "spend.recorded",
    [E_EARNED] = "loyalty.points_earned",
    [E_REDEEMED] = "loyalty.points_redeemed",
    [E_ADJUSTED] = "loyalty.points_adjusted",
    [E_TIER] = "loyalty.tier_changed",
    [E_SURVEY] = "feedback.survey_submitted",
    [E_COMPLAINT] = "complaint.opened",
    [E_RESOLVED] = "complaint.resolved",
    [E_INTERACTION] = "interaction.logged",
    [E_MESSAGE] = "marketing.message_sent",
    [E_VIEWED] = "web.product_viewed",
    [E_SETTINGS] = "tenant.settings_changed",
    [E_RATE] = "tenant.rate_set",
    [E_TIER_DEFINED] = "tenant.tier_defined",
    [E_EARN_RATE] = "tenant.earn_rate_set",
};

/* What the generator knows of a guest: what the views must say. */
typedef struct guest {
    char id[24];
    char email[160], first_email[160];
    char phone[40], first_phone[40];
    char loyalty_number[40];
    char first_name[64], last_name[64];
    char old_last_name[64]; /* before the last change; "" for none */
    int script;             /* 0 Latin, 1 Chinese, 2 Arabic */
    int erased;
    int64_t balance, earned, redeemed, adjusted;
    uint64_t lines;
    char tier[16]; /* "" before a tier_changed */
    int stage;     /* booking: 0 none, 1 made, 2 confirmed, 3 staying */
    unsigned bookings, complaints, updates;
    int complaint_open;
    int64_t nights;
    char property[8];
    uint32_t count[NTYPES];
} guest;

static guest *guests;

/* One event's body while it is written: fields and their text. */
typedef struct draft {
    fx_kv kv[12];
    char text[12][160];
    size_t n;
} draft;

static void
put_s(draft *d, const char *k, const char *v)
{
    size_t len = strlen(v);
    assert_true(d->n < 12 && len < sizeof(d->text[0]));
    memcpy(d->text[d->n], v, len + 1);
    d->kv[d->n] = (fx_kv){k, 's', d->text[d->n], 0};
    d->n++;
}

static void put_f(draft *d, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
put_f(draft *d, const char *k, const char *fmt, ...)
{
    assert_true(d->n < 12);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->text[d->n], sizeof(d->text[0]), fmt, ap);
    va_end(ap);
    d->kv[d->n] = (fx_kv){k, 's', d->text[d->n], 0};
    d->n++;
}

static void
put_i(draft *d, const char *k, int64_t v)
{
    assert_true(d->n < 12);
    d->kv[d->n] = (fx_kv){k, 'i', NULL, v};
    d->n++;
}

static void
put_b(draft *d, const char *k, int v)
{
    assert_true(d->n < 12);
    d->kv[d->n] = (fx_kv){k, 'b', NULL, v};
    d->n++;
}

static void
put_day(draft *d, const char *k, uint32_t day)
{
    char t[11];
    crm_settings_day_text(day, t);
    put_s(d, k, t);
}

/* The chain being appended: a batch filling up and the simulated clock. */
static struct {
    crm_log *log;
    crm_event_in ev[BATCH];
    char stream[BATCH][24];
    size_t n;
    uint64_t seq; /* events made so far */
    int64_t now;  /* µs; only moves forward */
    uint64_t batches;
    unsigned pace_us; /* pause after each append */
    int64_t slowest_ns; /* the longest append while paced */
} ch;

static void
flush(void)
{
    if (ch.n == 0)
        return;
    crm_batch *b;
    crm_error why;
    if (crm_batch_prepare(ch.ev, ch.n, NULL, 0, "key-1", 5, &b, &why) != CRM_OK)
        fail_msg("prepare: %s", why.msg);
    int64_t t0 = crm_mono_ns();
    if (crm_log_append(ch.log, b, &why) != CRM_OK)
        fail_msg("append: %s", why.msg);
    int64_t took = crm_mono_ns() - t0;
    if (ch.pace_us && took > ch.slowest_ns)
        ch.slowest_ns = took;
    crm_batch_free(b);
    fx_reset();
    ch.n = 0;
    ch.batches++;
    if (ch.pace_us)
        usleep(ch.pace_us);
}

/* Queues one event of type t on stream at occurred_at (0: now). */
static void
emit(const char *stream, int t, const draft *d, int64_t at)
{
    crm_event_in *e = &ch.ev[ch.n];
    memset(e, 0, sizeof(*e));
    /* a UUIDv7 layout from the simulated clock and the sequence */
    uint64_t ms = (uint64_t)(ch.now / 1000), s = ++ch.seq;
    for (int i = 0; i < 6; i++)
        e->id[i] = (uint8_t)(ms >> (40 - 8 * i));
    e->id[6] = 0x70;
    e->id[8] = 0x80;
    for (int i = 0; i < 7; i++)
        e->id[9 + i] = (uint8_t)(s >> (48 - 8 * i));
    snprintf(ch.stream[ch.n], sizeof(ch.stream[0]), "%s", stream);
    e->stream = ch.stream[ch.n];
    e->stream_len = strlen(stream);
    e->type = TYPE[t];
    e->type_len = strlen(TYPE[t]);
    e->occurred_at = at ? at : ch.now;
    e->body = fx_body(d->kv, d->n);
    if (++ch.n == BATCH)
        flush();
}

static void
gemit(guest *g, int t, const draft *d, int64_t at)
{
    g->count[t]++;
    emit(g->id, t, d, at);
}

static uint32_t
today(void)
{
    return crm_settings_day_of(ch.now);
}

static uint32_t
day_plus(uint32_t day, int64_t days)
{
    return crm_settings_day_of(crm_settings_day_start(day) + days * DAY_US);
}

/* --- the tenant ----------------------------------------------------------- */

static void
tenant_setup(void)
{
    static const struct {
        const char *cur, *rate;
        uint32_t from;
    } rates[] = {{"USD", "0.9215", 20240101},
                 {"GBP", "1.1650", 20240101},
                 {"USD", "0.9050", 20250101},
                 {"GBP", "1.1820", 20250701}};
    draft d = {0};
    put_day(&d, "effective_from", 20240101);
    put_s(&d, "base_currency", "EUR");
    put_s(&d, "country_code", "351");
    put_i(&d, "complaint_sla_hours", 72);
    emit(CRM_TENANT_STREAM, E_SETTINGS, &d, 0);
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        d = (draft){0};
        put_s(&d, "currency", rates[i].cur);
        put_s(&d, "rate", rates[i].rate);
        put_day(&d, "effective_from", rates[i].from);
        emit(CRM_TENANT_STREAM, E_RATE, &d, 0);
    }
    d = (draft){0};
    put_s(&d, "tier", "platinum");
    put_i(&d, "rank", 3);
    put_i(&d, "min_nights", 50);
    put_i(&d, "min_points", 40000);
    put_i(&d, "bonus_points", 2500);
    put_day(&d, "effective_from", 20240101);
    emit(CRM_TENANT_STREAM, E_TIER_DEFINED, &d, 0);
    d = (draft){0};
    put_s(&d, "tier", "gold");
    put_s(&d, "category", "room");
    put_s(&d, "points_per_unit", "15");
    put_day(&d, "effective_from", 20240101);
    emit(CRM_TENANT_STREAM, E_EARN_RATE, &d, 0);
}

/* Mid-chain: a longer expiry from a month back (a rebuild must use, for
 * the events before it, the rules they were applied with), and silver
 * made easier from today. */
static void
tenant_change(void)
{
    draft d = {0};
    put_day(&d, "effective_from", day_plus(today(), -30));
    put_i(&d, "points_expiry_months", 36);
    put_s(&d, "reason", "longer expiry");
    emit(CRM_TENANT_STREAM, E_SETTINGS, &d, 0);
    d = (draft){0};
    put_s(&d, "tier", "silver");
    put_i(&d, "rank", 1);
    put_i(&d, "min_nights", 8);
    put_i(&d, "min_points", 4000);
    put_i(&d, "bonus_points", 500);
    put_day(&d, "effective_from", today());
    emit(CRM_TENANT_STREAM, E_TIER_DEFINED, &d, 0);
}

/* --- guests --------------------------------------------------------------- */

static const char *const LATIN_FIRST[] = {
    "Ana",  "João",  "José",  "François", "Zoë",   "Łukasz", "Søren", "Noémie",
    "Inês", "Björn", "Çağla", "Maria",    "Peter", "Olivia", "Ærin",  "Ştefan"};
static const char *const LATIN_LAST[] = {
    "Silva",     "Gonçalves", "Müller",       "Dvořák",
    "Øvergård",  "Großmann",  "Smith",        "Núñez",
    "Lefèvre",   "O'Brien",   "van der Berg", "Brontë",
    "Kowalczyk", "Rossi",     "Ţăranu",       "Jensen-Lund"};
static const char *const CN_FIRST[] = {"小明", "娜娜", "伟", "光",
                                       "秀英", "建国", "丽"};
static const char *const CN_LAST[] = {"王", "欧阳", "李", "司马",
                                      "张", "诸葛", "陈"};
static const char *const AR_FIRST[] = {"محمد",  "أحمد", "فاطمة",
                                       "عائشة", "يوسف", "مريم"};
static const char *const AR_LAST[] = {"الهاشمي", "العلي", "ابن رشد",
                                      "المنصور", "حداد",  "القاسمي"};
static const char *const PROPERTIES[] = {"lis", "opo", "fao",
                                         "mad", "lon", "par"};
static const char *const PHONE_CC[] = {"351", "44", "86", "971", "33", "1"};

static void
new_last_name(guest *g)
{
    snprintf(g->last_name, sizeof(g->last_name), "%s",
             g->script == 0   ? PICK(LATIN_LAST)
             : g->script == 1 ? PICK(CN_LAST)
                              : PICK(AR_LAST));
}

static void
new_email(guest *g, size_t i)
{
    /* mixed case: the index holds the normalised form */
    if (g->first_name[0] & 0x80 && i % 4 == 0)
        snprintf(g->email, sizeof(g->email), "%s.%05zu.%u@例子.中国",
                 g->first_name, i, g->updates);
    else
        snprintf(g->email, sizeof(g->email), "Guest.%05zu.%u@Hotel-Mail.%s", i,
                 g->updates, i % 3 ? "PT" : "com");
}

static void
new_phone(guest *g, size_t i)
{
    const char *cc = PHONE_CC[i % 6];
    snprintf(g->phone, sizeof(g->phone), "+%s9%02u%06zu", cc,
             (unsigned)(g->updates % 100), i);
}

static void
register_guest(size_t i)
{
    guest *g = &guests[i];
    memset(g, 0, sizeof(*g));
    snprintf(g->id, sizeof(g->id), "g-%05zu", i);
    int script = (int)(i % 20);
    g->script = script < 14 ? 0 : script < 17 ? 1 : 2;
    new_last_name(g);
    if (g->script == 0 && i % 50 == 7) {
        /* a booking channel that sends the full name as the first name */
        snprintf(g->first_name, sizeof(g->first_name), "%.30s %.30s",
                 PICK(LATIN_FIRST), g->last_name);
    } else {
        snprintf(g->first_name, sizeof(g->first_name), "%s",
                 g->script == 0   ? PICK(LATIN_FIRST)
                 : g->script == 1 ? PICK(CN_FIRST)
                                  : PICK(AR_FIRST));
    }
    new_email(g, i);
    new_phone(g, i);
    memcpy(g->first_email, g->email, sizeof(g->email));
    memcpy(g->first_phone, g->phone, sizeof(g->phone));
    snprintf(g->loyalty_number, sizeof(g->loyalty_number), "lx-%04zu-%04u", i,
             (unsigned)below(10000));
    snprintf(g->property, sizeof(g->property), "%s", PICK(PROPERTIES));
    draft d = {0};
    put_s(&d, "first_name", g->first_name);
    put_s(&d, "last_name", g->last_name);
    put_s(&d, "email", g->email);
    put_s(&d, "phone", g->phone);
    put_f(&d, "birth_date", "%04d-%02d-%02d", 1950 + (int)below(55),
          1 + (int)below(12), 1 + (int)below(28));
    put_s(&d, "loyalty_number", g->loyalty_number);
    put_s(&d, "nationality", (const char *[]){"PT", "CN", "AE"}[g->script]);
    put_s(&d, "language", (const char *[]){"pt-PT", "zh-CN", "ar"}[g->script]);
    put_s(&d, "source", i % 5 ? g->property : "web");
    gemit(g, E_REGISTERED, &d, 0);
}

/* Points move as the loyalty projection folds them. */
static void
earn(guest *g, int64_t points, const char *reason, int64_t at)
{
    draft d = {0};
    put_i(&d, "points", points);
    put_s(&d, "reason", reason);
    if (below(10) == 0)
        put_day(&d, "expires_on", day_plus(today(), 365));
    put_s(&d, "property", g->property);
    g->balance += points;
    g->earned += points;
    g->lines++;
    gemit(g, E_EARNED, &d, at);
}

static void
booking_step(guest *g, size_t i, int64_t at)
{
    static const char *const channels[] = {"direct", "web",   "ota",
                                           "agent",  "phone", "app"};
    static const char *const rooms[] = {"double", "twin", "suite",
                                        "junior_suite", "single"};
    static const char *const currencies[] = {"EUR", "EUR", "USD", "GBP"};
    draft d = {0};
    char bid[48], sid[48];
    snprintf(bid, sizeof(bid), "b-%05zu-%u", i, g->bookings);
    snprintf(sid, sizeof(sid), "s-%05zu-%u", i, g->bookings);
    switch (g->stage) {
    case 0: {
        g->bookings++;
        snprintf(bid, sizeof(bid), "b-%05zu-%u", i, g->bookings);
        uint32_t arrival = day_plus(today(), 1 + below(60));
        g->nights = 1 + below(7);
        snprintf(g->property, sizeof(g->property), "%s", PICK(PROPERTIES));
        put_s(&d, "booking_id", bid);
        put_s(&d, "property", g->property);
        put_day(&d, "arrival", arrival);
        put_day(&d, "departure", day_plus(arrival, g->nights));
        put_s(&d, "channel", PICK(channels));
        put_s(&d, "room_type", PICK(rooms));
        put_i(&d, "guests", 1 + below(3));
        put_i(&d, "amount", g->nights * (9000 + below(30000)));
        put_s(&d, "currency", PICK(currencies));
        if (below(8) == 0)
            put_s(&d, "special_requests", "quiet room, late arrival");
        g->stage = 1;
        gemit(g, E_BOOKED, &d, at);
        return;
    }
    case 1:
        put_s(&d, "booking_id", bid);
        if (below(4) == 0) {
            put_s(&d, "reason", "changed plans");
            g->stage = 0;
            gemit(g, E_CANCELLED, &d, at);
        } else {
            g->stage = 2;
            gemit(g, E_CONFIRMED, &d, at);
        }
        return;
    case 2:
        if (below(7) == 0) {
            put_s(&d, "booking_id", bid);
            put_s(&d, "reason", "no_show");
            put_i(&d, "fee_amount", 9000 + below(20000));
            put_s(&d, "currency", "EUR");
            g->stage = 0;
            gemit(g, E_CANCELLED, &d, at);
            return;
        }
        put_s(&d, "stay_id", sid);
        put_s(&d, "property", g->property);
        put_s(&d, "booking_id", bid);
        put_f(&d, "room", "%d%02d", 1 + (int)below(8), 1 + (int)below(30));
        g->stage = 3;
        gemit(g, E_CHECKED_IN, &d, at);
        return;
    default:
        put_s(&d, "stay_id", sid);
        put_s(&d, "property", g->property);
        put_i(&d, "nights", g->nights);
        put_i(&d, "amount", g->nights * (9000 + below(30000)));
        put_s(&d, "currency", PICK(currencies));
        g->stage = 0;
        gemit(g, E_CHECKED_OUT, &d, at);
        /* what the server would derive, recorded explicitly here */
        if (below(10) < 6)
            earn(g, g->nights * (50 + below(200)), "stay", at);
        return;
    }
}

static void
profile_update(guest *g, size_t i, int64_t at)
{
    draft d = {0};
    g->updates++;
    switch (below(4)) {
    case 0:
        new_email(g, i);
        put_s(&d, "email", g->email);
        break;
    case 1:
        new_phone(g, i);
        put_s(&d, "phone", g->phone);
        break;
    case 2:
        /* married, say: a new family name */
        memcpy(g->old_last_name, g->last_name, sizeof(g->last_name));
        new_last_name(g);
        put_s(&d, "last_name", g->last_name);
        break;
    default:
        new_email(g, i);
        new_phone(g, i);
        put_s(&d, "email", g->email);
        put_s(&d, "phone", g->phone);
        put_s(&d, "address", "Rua Augusta 100, 1100-053 Lisboa");
        break;
    }
    gemit(g, E_PROFILE, &d, at);
}

static void
tier_change(guest *g, int64_t at)
{
    static const char *const ladder[] = {"ordinary", "silver", "gold",
                                         "platinum"};
    int rank = 0;
    for (int r = 0; r < 4; r++)
        if (strcmp(g->tier, ladder[r]) == 0)
            rank = r;
    int to = rank == 3 || (rank > 0 && below(4) == 0) ? rank - 1 : rank + 1;
    draft d = {0};
    put_s(&d, "to", ladder[to]);
    put_s(&d, "from", ladder[rank]);
    put_s(&d, "reason", to > rank ? "qualified" : "window lapsed");
    snprintf(g->tier, sizeof(g->tier), "%s", ladder[to]);
    gemit(g, E_TIER, &d, at);
}

/* The event mix, by weight. */
typedef struct weight {
    int kind, w;
} weight;

static const weight MIX[] = {
    {E_INTERACTION, 8}, {E_MESSAGE, 12},  {E_VIEWED, 13},  {E_SPEND, 12},
    {E_EARNED, 9},      {E_REDEEMED, 3},  {E_ADJUSTED, 2}, {E_TIER, 1},
    {E_BOOKED, 16},     {E_PROFILE, 3},   {E_CONSENT, 3},  {E_PREFERENCE, 3},
    {E_SURVEY, 3},      {E_COMPLAINT, 2},
};

static int
mix_kind(void)
{
    static int total;
    if (total == 0)
        for (size_t i = 0; i < sizeof(MIX) / sizeof(MIX[0]); i++)
            total += MIX[i].w;
    int r = (int)below(total);
    for (size_t i = 0;; i++)
        if ((r -= MIX[i].w) < 0)
            return MIX[i].kind;
}

static void
one_event(void)
{
    /* a fifth of the traffic is the regulars' (the first tenth) */
    size_t i;
    do
        i = (size_t)(below(5) == 0 ? below((int64_t)GUESTS / 10)
                                   : below((int64_t)GUESTS));
    while (guests[i].erased);
    guest *g = &guests[i];
    ch.now += 60000000 + below(240000000); /* 1 to 5 minutes later */
    /* some events are recorded late: they happened up to 90 days back */
    int64_t at =
        below(25) == 0 ? ch.now - (1 + below(90)) * DAY_US - below(DAY_US) : 0;
    draft d = {0};
    switch (mix_kind()) {
    case E_INTERACTION: {
        static const char *const chn[] = {"call", "email", "chat", "social",
                                          "in_person"};
        put_s(&d, "channel", PICK(chn));
        put_s(&d, "direction", below(2) ? "inbound" : "outbound");
        put_s(&d, "subject", below(2) ? "late check-out" : "airport transfer");
        put_i(&d, "duration_s", below(1800));
        put_f(&d, "agent", "agent-%02d", (int)below(40));
        put_s(&d, "summary", "asked about the spa opening hours");
        gemit(g, E_INTERACTION, &d, at);
        break;
    }
    case E_MESSAGE: {
        static const char *const camp[] = {"spring-2024", "summer-2024",
                                           "winter-2025", "loyalty-news",
                                           "spa-week"};
        static const char *const chn[] = {"email", "sms", "push", "whatsapp"};
        put_s(&d, "campaign", PICK(camp));
        put_s(&d, "channel", PICK(chn));
        put_f(&d, "message_id", "m-%llu", (unsigned long long)ch.seq);
        gemit(g, E_MESSAGE, &d, at);
        break;
    }
    case E_VIEWED: {
        static const char *const prod[] = {"suite", "spa-day", "douro-tour",
                                           "golf", "sea-view-double"};
        const char *p = PICK(prod);
        put_s(&d, "product", p);
        put_s(&d, "category", below(2) ? "room" : "package");
        put_f(&d, "url", "https://hotels.example/%s?ref=%d", p,
              (int)below(1000));
        gemit(g, E_VIEWED, &d, at);
        break;
    }
    case E_SPEND: {
        static const char *const cat[] = {
            "room", "fnb", "spa", "retail", "excursion", "transfer", "other"};
        static const char *const cur[] = {"EUR", "EUR", "EUR", "EUR",
                                          "EUR", "USD", "GBP"};
        int64_t amount = 500 + below(50000);
        put_i(&d, "amount", below(16) == 0 ? -(100 + below(20000)) : amount);
        put_s(&d, "currency", PICK(cur));
        put_s(&d, "category", PICK(cat));
        put_s(&d, "property", g->property);
        gemit(g, E_SPEND, &d, at);
        break;
    }
    case E_EARNED:
        earn(g, 10 + below(2000), below(2) ? "spend" : "promotion", at);
        break;
    case E_REDEEMED: {
        /* the server refuses a redemption past the balance; the log
         * folds whatever it is given, so stay within it */
        if (g->balance < 100) {
            earn(g, 100 + below(1000), "welcome", at);
            break;
        }
        int64_t most = g->balance < 5000 ? g->balance : 5000;
        int64_t points = below(8) == 0
                             ? g->balance > 100000000 ? 100000000 : g->balance
                             : 100 + below(most - 99);
        static const char *const rw[] = {"free night", "spa credit", "upgrade",
                                         "late check-out"};
        put_i(&d, "points", points);
        put_s(&d, "reward", PICK(rw));
        put_s(&d, "property", g->property);
        g->balance -= points;
        g->redeemed += points;
        g->lines++;
        gemit(g, E_REDEEMED, &d, at);
        break;
    }
    case E_ADJUSTED: {
        int64_t points =
            below(10) < 7 || g->balance < 10
                ? 10 + below(500)
                : -(1 + below(g->balance < 300 ? g->balance : 300));
        put_i(&d, "points", points);
        put_s(&d, "reason", points > 0 ? "goodwill" : "duplicate earn");
        g->balance += points;
        g->adjusted += points;
        g->lines++;
        gemit(g, E_ADJUSTED, &d, at);
        break;
    }
    case E_TIER:
        tier_change(g, at);
        break;
    case E_BOOKED:
        booking_step(g, i, at);
        break;
    case E_PROFILE:
        profile_update(g, i, at);
        break;
    case E_CONSENT: {
        static const char *const chn[] = {"email", "sms",      "phone",
                                          "push",  "whatsapp", "post"};
        static const char *const pur[] = {"marketing", "profiling", "service",
                                          "third_party"};
        put_s(&d, "channel", PICK(chn));
        put_b(&d, "granted", below(3) != 0);
        put_s(&d, "purpose", PICK(pur));
        put_s(&d, "source", "front desk");
        gemit(g, E_CONSENT, &d, at);
        break;
    }
    case E_PREFERENCE: {
        static const char *const cat[] = {"diet", "pillow", "room",
                                          "accessibility", "health"};
        static const char *const val[] = {
            "vegetarian", "halal",       "feather", "high floor",
            "step-free",  "gluten-free", "素食"};
        put_s(&d, "category", PICK(cat));
        put_s(&d, "value", PICK(val));
        if (below(4) == 0)
            put_s(&d, "note", "mentioned at check-in");
        gemit(g, E_PREFERENCE, &d, at);
        break;
    }
    case E_SURVEY:
        put_f(&d, "survey_id", "sv-%llu", (unsigned long long)ch.seq);
        put_s(&d, "property", g->property);
        put_i(&d, "nps", below(11));
        put_i(&d, "csat", 1 + below(5));
        if (below(3) == 0)
            put_s(&d, "comment", "Très bien, obrigado! 非常好");
        gemit(g, E_SURVEY, &d, at);
        break;
    default: /* E_COMPLAINT */
        if (g->complaint_open) {
            put_f(&d, "complaint_id", "c-%05zu-%u", i, g->complaints);
            if (below(2))
                put_i(&d, "compensation_points", 500);
            put_s(&d, "resolution", "room changed, apology sent");
            g->complaint_open = 0;
            gemit(g, E_RESOLVED, &d, at);
        } else {
            static const char *const sev[] = {"low", "medium", "high",
                                              "critical"};
            g->complaints++;
            put_f(&d, "complaint_id", "c-%05zu-%u", i, g->complaints);
            put_s(&d, "category", below(2) ? "noise" : "cleanliness");
            put_s(&d, "severity", PICK(sev));
            put_s(&d, "property", g->property);
            put_s(&d, "description", "air conditioning loud at night");
            g->complaint_open = 1;
            gemit(g, E_COMPLAINT, &d, at);
        }
        break;
    }
}

static void
erase_one(void)
{
    size_t i;
    do
        i = (size_t)below((int64_t)GUESTS);
    while (guests[i].erased);
    guest *g = &guests[i];
    draft d = {0};
    put_s(&d, "reason", below(2) ? "gdpr" : "request");
    put_f(&d, "request_ref", "dsr-%zu", i);
    g->erased = 1;
    gemit(g, E_ERASED, &d, 0);
}

/* Appends the chain up to `to` events: settings and registrations first
 * when it starts, then the mix with a settings change at 40% and an
 * erasure every twelfth of the way. */
static void
generate(uint64_t to)
{
    if (ch.seq == 0) {
        ch.now = crm_settings_day_start(START) + 8 * 3600 * 1000000LL;
        tenant_setup();
        for (size_t i = 0; i < GUESTS; i++) {
            ch.now += 1000000 + below(60000000);
            register_guest(i);
        }
    }
    static int changed;
    uint64_t change_at = EVENTS * 2 / 5, erase_every = EVENTS / 12;
    while (ch.seq < to) {
        if (!changed && ch.seq >= change_at) {
            changed = 1;
            tenant_change();
        } else if (ch.seq < EVENTS && ch.seq % erase_every == 0) {
            erase_one();
        } else {
            one_event();
        }
    }
    flush();
}

/* --- reading the views ---------------------------------------------------- */

static int kill_proj = -1, kill_calls; /* the child's kill point */
static int proj_seen;                  /* projections the rebuild reached */
static int calls_in_proj;
static char last_name_seen[32];

static void
on_progress(void *arg, const char *tenant, const char *name, uint64_t done,
            uint64_t total)
{
    (void)arg, (void)done, (void)total;
    if (strcmp(tenant, TENANT) != 0)
        abort();
    if (strcmp(name, last_name_seen) != 0) {
        snprintf(last_name_seen, sizeof(last_name_seen), "%s", name);
        proj_seen++;
        calls_in_proj = 0;
    }
    calls_in_proj++;
    if (kill_proj >= 0 && proj_seen == kill_proj + 1 &&
        calls_in_proj >= kill_calls)
        raise(SIGKILL); /* kill -9 between two of its transactions */
}

static char dir[512];
static const crm_proj_def *defs[CRM_PROJ_MAX];
static size_t ndefs;

static crm_log *
open_log(void)
{
    crm_log_opts o = {.map_size = (size_t)2 << 30,
                      .projections = defs,
                      .nprojections = ndefs,
                      .progress = on_progress};
    crm_log *log;
    crm_error why;
    if (crm_log_open(dir, TENANT, &o, &log, &why) != CRM_OK)
        fail_msg("open: %s", why.msg);
    return log;
}

/* What a read found wrong (reads run in a read transaction of the log:
 * a failure is reported after it, not from inside). */
static char wrong[512];
static int checked;

static void wrong_at(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
wrong_at(const char *fmt, ...)
{
    if (wrong[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(wrong, sizeof(wrong), fmt, ap);
    va_end(ap);
}

static int
see_settings(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    (void)arg, (void)position;
    static crm_settings s;
    int rc = crm_settings_at(txn, dbi[0], 20240601, UINT64_MAX, &s);
    if (rc != 0)
        return rc;
    if (strcmp(s.base_currency, "EUR") != 0 ||
        strcmp(s.country_code, "351") != 0 || s.complaint_sla_hours != 72 ||
        crm_settings_rate_get(&s, "USD") != 921500000 ||
        crm_settings_rate_get(&s, "GBP") != 1165000000 || s.ntiers != 4 ||
        strcmp(s.tiers[3].name, "platinum") != 0 ||
        crm_settings_earn_get(&s, "gold", "room") != 15 * CRM_DECIMAL_SCALE)
        wrong_at("settings on 2024-06-01: base %s, country %s, USD %lld, "
                 "%zu tiers",
                 s.base_currency, s.country_code,
                 (long long)crm_settings_rate_get(&s, "USD"), s.ntiers);
    if ((rc = crm_settings_at(txn, dbi[0], 20251001, UINT64_MAX, &s)) != 0)
        return rc;
    if (crm_settings_rate_get(&s, "USD") != 905000000 ||
        crm_settings_rate_get(&s, "GBP") != 1182000000)
        wrong_at("rates on 2025-10-01: USD %lld GBP %lld",
                 (long long)crm_settings_rate_get(&s, "USD"),
                 (long long)crm_settings_rate_get(&s, "GBP"));
    if (s.changes != 9)
        wrong_at("%llu settings changes in force on 2025-10-01",
                 (unsigned long long)s.changes);
    checked++;
    return 0;
}

/* Every guest: the account says what the generator did. */
static int
see_loyalty(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    (void)arg, (void)position;
    int64_t total = 0;
    size_t accounts = 0;
    for (size_t i = 0; i < GUESTS; i++) {
        const guest *g = &guests[i];
        crm_loyalty_account a;
        int rc = crm_loyalty_account_get(txn, dbi[0], g->id, strlen(g->id), &a);
        if (rc != 0)
            return rc;
        int any = g->lines || g->tier[0];
        if (a.exists != any || a.balance != g->balance ||
            a.earned != g->earned || a.redeemed != g->redeemed ||
            a.adjusted != g->adjusted || a.expired != 0 ||
            a.lines != g->lines || strcmp(a.tier, g->tier) != 0)
            wrong_at("%s: account %d balance %lld earned %lld redeemed %lld "
                     "adjusted %lld lines %llu tier '%s'; the generator "
                     "says %d %lld %lld %lld %lld %llu '%s'",
                     g->id, a.exists, (long long)a.balance, (long long)a.earned,
                     (long long)a.redeemed, (long long)a.adjusted,
                     (unsigned long long)a.lines, a.tier, any,
                     (long long)g->balance, (long long)g->earned,
                     (long long)g->redeemed, (long long)g->adjusted,
                     (unsigned long long)g->lines, g->tier);
        total += a.balance;
        accounts += a.exists;
        checked++;
    }
    if (total <= 0 || accounts < GUESTS / 2)
        wrong_at("loyalty looks empty: %zu accounts, %lld points", accounts,
                 (long long)total);
    return 0;
}

static int
has_blind(MDB_txn *txn, MDB_dbi db, const uint8_t *key, crm_norm_kind kind,
          const char *value, const guest *g)
{
    char norm[CRM_NORM_MAX];
    int n = kind == CRM_NORM_EMAIL
                ? crm_norm_email(value, strlen(value), norm, sizeof(norm))
            : kind == CRM_NORM_PHONE ? crm_norm_phone(value, strlen(value),
                                                      "351", norm, sizeof(norm))
            : kind == CRM_NORM_LOYALTY
                ? crm_norm_loyalty(value, strlen(value), norm, sizeof(norm))
                : snprintf(norm, sizeof(norm), "%s", value); /* a token */
    if (n <= 0) {
        wrong_at("%s: '%s' has no normal form", g->id, value);
        return -1;
    }
    uint8_t h[CRM_BLIND_LEN];
    crm_blind(key, kind, norm, (size_t)n, h);
    return crm_find_has(txn, db, kind, h, g->id, strlen(g->id));
}

/* The name tokens of s (at most CRM_NORM_TOKENS_MAX); their count. */
static int
tokens(const char *s, char tok[][CRM_NORM_TOKEN_LEN])
{
    return crm_norm_name_tokens(s, strlen(s), tok, CRM_NORM_TOKENS_MAX);
}

/* Every guest: found by what they hold now (e-mail, phone, loyalty
 * number, each token of their names), not by what they held before, and
 * not at all once erased. */
static int
see_find(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    const uint8_t *key = arg;
    (void)position;
    size_t changed = 0, renamed = 0;
    for (size_t i = 0; i < GUESTS; i++) {
        const guest *g = &guests[i];
        int want = !g->erased;
        const char *erased = g->erased ? " (erased)" : "";
        int email = has_blind(txn, dbi[0], key, CRM_NORM_EMAIL, g->email, g);
        int phone = has_blind(txn, dbi[0], key, CRM_NORM_PHONE, g->phone, g);
        int loyalty =
            has_blind(txn, dbi[0], key, CRM_NORM_LOYALTY, g->loyalty_number, g);
        if (email != want || phone != want || loyalty != want)
            wrong_at("%s%s: found by e-mail %d, phone %d, loyalty number %d",
                     g->id, erased, email, phone, loyalty);
        if (strcmp(g->email, g->first_email) != 0) {
            changed++;
            if (has_blind(txn, dbi[0], key, CRM_NORM_EMAIL, g->first_email,
                          g) != 0)
                wrong_at("%s%s: still found by its first e-mail %s", g->id,
                         erased, g->first_email);
        }
        if (strcmp(g->phone, g->first_phone) != 0 &&
            has_blind(txn, dbi[0], key, CRM_NORM_PHONE, g->first_phone, g) != 0)
            wrong_at("%s%s: still found by its first phone %s", g->id, erased,
                     g->first_phone);
        /* every token of the names, in whichever script */
        char now[2 * CRM_NORM_TOKENS_MAX][CRM_NORM_TOKEN_LEN];
        int k = tokens(g->first_name, now);
        int kl = tokens(g->last_name, now + k);
        if (k < 1 || kl < 1)
            wrong_at("%s: no name tokens in '%s' '%s'", g->id, g->first_name,
                     g->last_name);
        k += kl;
        for (int t = 0; t < k; t++)
            if (has_blind(txn, dbi[0], key, CRM_NORM_NAME, now[t], g) != want)
                wrong_at("%s%s: found by the name token '%s' of '%s' '%s': "
                         "%d",
                         g->id, erased, now[t], g->first_name, g->last_name,
                         !want);
        /* and not by a family name left behind */
        char old[CRM_NORM_TOKENS_MAX][CRM_NORM_TOKEN_LEN];
        int ko = g->old_last_name[0] ? tokens(g->old_last_name, old) : 0;
        renamed += ko > 0;
        for (int t = 0; t < ko; t++) {
            int kept = 0;
            for (int u = 0; u < k; u++)
                kept |= strcmp(old[t], now[u]) == 0;
            if (!kept &&
                has_blind(txn, dbi[0], key, CRM_NORM_NAME, old[t], g) != 0)
                wrong_at("%s%s: still found by '%s' of its old family name "
                         "'%s'",
                         g->id, erased, old[t], g->old_last_name);
        }
        checked++;
    }
    if (changed == 0 || renamed == 0)
        wrong_at("%zu guests changed their e-mail, %zu their family name",
                 changed, renamed);
    return 0;
}

static uint64_t
count_of(crm_log *log, const guest *g, int t)
{
    char key[64];
    size_t n = strlen(g->id), tl = strlen(TYPE[t]);
    memcpy(key, g->id, n);
    key[n] = 0;
    memcpy(key + n + 1, TYPE[t], tl);
    uint8_t v[8];
    size_t len;
    crm_err err =
        crm_log_proj_get(log, "counts", 0, key, n + 1 + tl, v, 8, &len);
    if (err == CRM_ERR_NOT_FOUND)
        return 0;
    assert_int_equal(err, CRM_OK);
    assert_int_equal(len, 8);
    uint64_t c = 0;
    for (int i = 0; i < 8; i++)
        c = c << 8 | v[i];
    return c;
}

static void
proj_read(crm_log *log, const char *name, crm_log_proj_fn fn, void *arg)
{
    crm_error why;
    wrong[0] = '\0';
    checked = 0;
    if (crm_log_proj_read(log, name, fn, arg, &why) != CRM_OK)
        fail_msg("read of %s: %s", name, why.msg);
    if (wrong[0])
        fail_msg("%s: %s", name, wrong);
    assert_true(checked > 0);
}

/* The views are at the head and hold what the generator expects. */
static void
check_views(crm_log *log)
{
    const crm_proj_set *ps = crm_log_projections(log);
    assert_non_null(ps);
    assert_int_equal(crm_proj_count(ps), ndefs);
    uint64_t head;
    crm_log_head(log, &head, NULL);
    assert_int_equal(head, ch.seq);
    for (size_t i = 0; i < ndefs; i++) {
        assert_false(crm_proj_stale(ps, i));
        assert_int_equal(crm_proj_position(ps, i), head);
    }
    proj_read(log, "settings", see_settings, NULL);
    proj_read(log, "loyalty", see_loyalty, NULL);
    proj_read(log, "find", see_find, (void *)crm_proj_index_key(ps));
    for (size_t i = 0; i < GUESTS; i += 97)
        for (int t = 0; t < NTYPES; t++)
            if (count_of(log, &guests[i], t) != guests[i].count[t])
                fail_msg("counts: %s has %llu %s, the generator made %u",
                         guests[i].id,
                         (unsigned long long)count_of(log, &guests[i], t),
                         TYPE[t], guests[i].count[t]);
}

/* Rebuilds every projection: each identical to the inline state, at the
 * head (or, while appends go on, at the head its last step saw). */
static void
rebuild_identical(crm_log *log, int appending)
{
    crm_log_rebuilt r[CRM_PROJ_MAX];
    size_t n;
    crm_error why;
    proj_seen = 0;
    last_name_seen[0] = '\0';
    if (crm_log_rebuild(log, NULL, r, &n, &why) != CRM_OK)
        fail_msg("rebuild: %s", why.msg);
    assert_int_equal(n, ndefs);
    assert_int_equal(proj_seen, (int)ndefs);
    uint64_t head, before = 0;
    crm_log_head(log, &head, NULL);
    for (size_t i = 0; i < n; i++) {
        print_message("rebuilt %-10s %llu events in %.2f s\n", r[i].name,
                      (unsigned long long)r[i].events, r[i].seconds);
        assert_string_equal(r[i].name, defs[i]->name);
        if (!r[i].identical)
            fail_msg("rebuild of %s differs at %llu: %s", r[i].name,
                     (unsigned long long)r[i].position, r[i].diff);
        assert_int_equal(r[i].events, r[i].position);
        if (appending) {
            assert_true(r[i].position >= before && r[i].position <= head);
            before = r[i].position;
        } else {
            assert_int_equal(r[i].position, head);
        }
    }
}

/* --- the tests ------------------------------------------------------------ */

static crm_log *live; /* the log the setup loaded, until test 1 closes it */

static int
setup(void **state)
{
    (void)state;
    for (ndefs = 0; crm_proj_builtin_at(ndefs); ndefs++) {
        assert_true(ndefs < CRM_PROJ_MAX);
        defs[ndefs] = crm_proj_builtin_at(ndefs);
    }
    guests = calloc(GUESTS, sizeof(*guests));
    assert_non_null(guests);
    fx_tmpdir(dir, sizeof(dir), "projcrm");
    live = ch.log = open_log();
    generate(EVENTS);
    print_message("%zu projections, %zu guests, %llu events in %llu "
                  "batches\n",
                  ndefs, (size_t)GUESTS, (unsigned long long)ch.seq,
                  (unsigned long long)ch.batches);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    crm_log_close(live);
    fx_rmrf(dir);
    free(guests);
    return 0;
}

static void
test_inline_equals_rebuild(void **state)
{
    (void)state;
    assert_true(ch.seq >= EVENTS);
    check_views(live);
    rebuild_identical(live, 0);
    check_views(live);
    /* inline apply on the generation the rebuild made live */
    generate(ch.seq + MORE);
    check_views(live);
    assert_int_equal(crm_log_verify(live, NULL, NULL), CRM_OK);
    crm_log_close(live);
    live = ch.log = NULL;
}

static int
see_live(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    (void)txn, (void)position;
    *(MDB_dbi *)arg = dbi[0];
    return 0;
}

/* The handles of the live generation of every projection (the same
 * numbers on every open: the set opens its databases in one order). */
static void
live_generations(MDB_dbi out[CRM_PROJ_MAX])
{
    crm_log *log = open_log();
    for (size_t i = 0; i < ndefs; i++) {
        crm_error why;
        if (crm_log_proj_read(log, defs[i]->name, see_live, &out[i], &why) !=
            CRM_OK)
            fail_msg("read of %s: %s", defs[i]->name, why.msg);
    }
    crm_log_close(log);
}

/* A child opens the log, starts a rebuild of every projection and kills
 * itself from the progress callback at call `calls` of projection proj:
 * those before it were made live by the child, that one is half-built. */
static void
killed_rebuild(int proj, int calls)
{
    MDB_dbi before[CRM_PROJ_MAX], after[CRM_PROJ_MAX];
    live_generations(before);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        kill_proj = proj;
        kill_calls = calls;
        proj_seen = 0;
        last_name_seen[0] = '\0';
        crm_log *cl = open_log();
        crm_log_rebuilt r[CRM_PROJ_MAX];
        size_t n;
        crm_log_rebuild(cl, NULL, r, &n, NULL);
        _exit(0); /* not reached */
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    live_generations(after);
    for (int i = 0; i < (int)ndefs; i++)
        if ((before[i] != after[i]) != (i < proj))
            fail_msg("%s: live generation %s after a kill in %s", defs[i]->name,
                     before[i] != after[i] ? "swapped" : "kept",
                     defs[proj]->name);

    /* the live views are as they were (or rebuilt) and still serve */
    crm_log *log = open_log();
    check_views(log);
    assert_int_equal(crm_log_verify(log, NULL, NULL), CRM_OK);
    crm_log_close(log);
}

static void
test_killed_rebuild(void **state)
{
    (void)state;
    crm_log_close(live); /* open still if the test before failed */
    live = ch.log = NULL;
    killed_rebuild(0, 3); /* begin, then two chunks */
    killed_rebuild((int)ndefs / 2, 3);
    live = ch.log = open_log();
    rebuild_identical(live, 0);
    check_views(live);
}

/* The generator goes on in another thread, a batch every 50 ms, while
 * every projection is rebuilt: each is compared with the inline state
 * where it catches up, and keeps up inline once live. */
static void *
append_main(void *arg)
{
    (void)arg;
    generate(ch.seq + 4 * MORE);
    return NULL;
}

static void
test_rebuild_while_appending(void **state)
{
    (void)state;
    assert_non_null(live);
    ch.pace_us = 50000;
    ch.slowest_ns = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, append_main, NULL), 0);
    usleep(20000);
    int64_t t0 = crm_mono_ns();
    rebuild_identical(live, 1);
    int64_t rebuild_ns = crm_mono_ns() - t0;
    pthread_join(th, NULL);
    ch.pace_us = 0;
    /* appends take turns with the rebuild's chunks: none waits for the
     * whole rebuild */
    printf("rebuild %.0f ms; slowest append meanwhile %.1f ms\n",
           (double)rebuild_ns / 1e6, (double)ch.slowest_ns / 1e6);
    assert_true(ch.slowest_ns < rebuild_ns / 4);
    check_views(live);
    rebuild_identical(live, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inline_equals_rebuild),
        cmocka_unit_test(test_killed_rebuild),
        cmocka_unit_test(test_rebuild_while_appending),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
