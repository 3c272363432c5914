/* chain.c - the synthetic hotel chain of crm-bench guests. */
#include "chain.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"
#include "uuid.h"

#define HOUR INT64_C(3600000000)
#define DAY (24 * HOUR)

/* A guest's name as registered and as its e-mail spells it. */
static const struct name {
    const char *name, *ascii;
} first_names[] = {
    {"Ana", "ana"},
    {"João", "joao"},
    {"Maria", "maria"},
    {"Pedro", "pedro"},
    {"Inês", "ines"},
    {"Miguel", "miguel"},
    {"Sofia", "sofia"},
    {"Tiago", "tiago"},
    {"Emma", "emma"},
    {"Oliver", "oliver"},
    {"Charlotte", "charlotte"},
    {"James", "james"},
    {"Amélie", "amelie"},
    {"Lucas", "lucas"},
    {"Chloé", "chloe"},
    {"Hugo", "hugo"},
    {"Lena", "lena"},
    {"Jonas", "jonas"},
    {"Mia", "mia"},
    {"Felix", "felix"},
    {"Lucía", "lucia"},
    {"Javier", "javier"},
    {"Carmen", "carmen"},
    {"Diego", "diego"},
    {"Giulia", "giulia"},
    {"Marco", "marco"},
    {"Chiara", "chiara"},
    {"Luca", "luca"},
    {"Olivia", "olivia"},
    {"Ethan", "ethan"},
    {"Ava", "ava"},
    {"Noah", "noah"},
    {"Yuki", "yuki"},
    {"Hiro", "hiro"},
    {"Wei", "wei"},
    {"Mei", "mei"},
    {"Fatima", "fatima"},
    {"Omar", "omar"},
    {"Zoë", "zoe"},
    {"Björn", "bjorn"},
};

static const struct name last_names[] = {
    {"Silva", "silva"},         {"Santos", "santos"},
    {"Ferreira", "ferreira"},   {"Pereira", "pereira"},
    {"Oliveira", "oliveira"},   {"Costa", "costa"},
    {"Rodrigues", "rodrigues"}, {"Martins", "martins"},
    {"Smith", "smith"},         {"Jones", "jones"},
    {"Taylor", "taylor"},       {"Brown", "brown"},
    {"Williams", "williams"},   {"Wilson", "wilson"},
    {"Martin", "martin"},       {"Bernard", "bernard"},
    {"Dubois", "dubois"},       {"Lefèvre", "lefevre"},
    {"Müller", "mueller"},      {"Schmidt", "schmidt"},
    {"Schneider", "schneider"}, {"Fischer", "fischer"},
    {"García", "garcia"},       {"Fernández", "fernandez"},
    {"López", "lopez"},         {"Martínez", "martinez"},
    {"Rossi", "rossi"},         {"Russo", "russo"},
    {"Ferrari", "ferrari"},     {"Esposito", "esposito"},
    {"Johnson", "johnson"},     {"Miller", "miller"},
    {"Davis", "davis"},         {"Tanaka", "tanaka"},
    {"Suzuki", "suzuki"},       {"Wang", "wang"},
    {"Chen", "chen"},           {"Haddad", "haddad"},
    {"Jansen", "jansen"},       {"Nielsen", "nielsen"},
};

/* Where a guest lives: phone prefix, nationality, language. */
static const struct country {
    const char *dial, *code, *language;
} countries[] = {
    {"351", "PT", "pt-PT"}, {"44", "GB", "en-GB"}, {"33", "FR", "fr-FR"},
    {"49", "DE", "de-DE"},  {"34", "ES", "es-ES"}, {"39", "IT", "it-IT"},
    {"1", "US", "en-US"},   {"81", "JP", "ja-JP"}, {"31", "NL", "nl-NL"},
};

/* The chain's hotels; the ones in the United States bill in USD. */
static const struct property {
    const char *name;
    int usd;
    int rate; /* a night, minor units */
} properties[] = {
    {"lisbon-riverside", 0, 14500}, {"porto-ribeira", 0, 11900},
    {"algarve-cliffs", 0, 18900},   {"madrid-centro", 0, 13200},
    {"barcelona-born", 0, 16800},   {"paris-marais", 0, 24500},
    {"nice-promenade", 0, 19900},   {"london-southbank", 0, 22900},
    {"rome-trastevere", 0, 17500},  {"berlin-mitte", 0, 12900},
    {"nyc-soho", 1, 32900},         {"miami-beach", 1, 27900},
};

static const char *const room_types[] = {"standard-double", "superior-twin",
                                         "deluxe-king", "junior-suite",
                                         "family-room"};
static const char *const book_channels[] = {"direct", "web",   "ota",
                                            "agent",  "phone", "app"};
static const char *const campaigns[] = {
    "spring-escape", "summer-coast",          "autumn-city-breaks",
    "winter-sun",    "members-double-points", "anniversary-offer"};
static const char *const products[] = {
    "room-deluxe-king",  "spa-day-pass",      "package-gourmet-weekend",
    "tour-douro-valley", "room-junior-suite", "package-family-fun"};
static const char *const complaint_categories[] = {
    "noise", "cleanliness", "billing", "service", "maintenance", "wifi"};
static const char *const subjects[] = {"booking question", "invoice copy",
                                       "late check-out",   "airport transfer",
                                       "room upgrade",     "lost property"};
static const struct pref {
    const char *category, *value;
} preferences[] = {
    {"pillow", "memory foam"},      {"pillow", "feather"},
    {"diet", "vegetarian"},         {"diet", "gluten free"},
    {"room", "high floor"},         {"room", "away from the lift"},
    {"accessibility", "step-free"}, {"newspaper", "financial times"},
};
static const char *const consent_channels[] = {"email", "sms",  "phone",
                                               "post",  "push", "whatsapp"};
static const char *const purposes[] = {"marketing", "profiling", "service"};
static const char *const genders[] = {"female", "male", "other", "undisclosed"};
static const char *const severities[] = {"low", "medium", "high", "critical"};
static const char *const interaction_channels[] = {"call", "email", "chat",
                                                   "social", "in_person"};

#define N(a) (sizeof(a) / sizeof(a[0]))

/* An event packed into the episode buffer, waiting for a batch. */
typedef struct pending {
    size_t off, len;
    int derives; /* the server adds a loyalty.points_earned after it */
} pending;

#define MAX_EPISODE 16

struct bench_chain {
    bench_chain_opts o;
    uint64_t rng;
    unsigned own; /* guests of this generator */
    unsigned registered;
    int64_t clock;
    int64_t reg_at, reg_step; /* when the registrations happen */
    int64_t *last_at;         /* per own guest: its last event */
    uint32_t *seq;            /* per own guest: ids of its bookings, stays... */
    msgpack_sbuffer episode;
    msgpack_packer ep;
    pending q[MAX_EPISODE];
    int nq, qi;
    msgpack_sbuffer events, args;
};

static uint64_t
mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t
rnd(bench_chain *c)
{
    c->rng ^= c->rng << 13, c->rng ^= c->rng >> 7, c->rng ^= c->rng << 17;
    return c->rng * 0x2545F4914F6CDD1Dull;
}

static unsigned
below(bench_chain *c, unsigned n)
{
    return (unsigned)((rnd(c) >> 32) % n);
}

/* Percent chance. */
static int
chance(bench_chain *c, unsigned pct)
{
    return below(c, 100) < pct;
}

/* YYYY-MM-DD of a UTC time (civil from days, H. Hinnant). */
static void
day_text(int64_t us, char out[11])
{
    int64_t z = (us >= 0 ? us : us - DAY + 1) / DAY + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    char t[32];
    snprintf(t, sizeof(t), "%04d-%02u-%02u", (int)(y + (m <= 2)), m, d);
    memcpy(out, t, 10);
    out[10] = '\0';
}

const char *
bench_chain_property(unsigned i)
{
    return properties[i % N(properties)].name;
}

void
bench_chain_guest(unsigned i, bench_guest *g)
{
    uint64_t h = mix(i + 0x5eedull);
    const struct name *f = &first_names[h % N(first_names)],
                      *l = &last_names[(h >> 8) % N(last_names)];
    const struct country *k = &countries[(h >> 16) % N(countries)];
    snprintf(g->id, sizeof(g->id), "cust-%07u", i);
    g->first_name = f->name;
    g->last_name = l->name;
    snprintf(g->email, sizeof(g->email), "%s.%s.%u@%s", f->ascii, l->ascii, i,
             (h >> 24) % 3 == 0   ? "mail.example.com"
             : (h >> 24) % 3 == 1 ? "example.org"
                                  : "inbox.example.net");
    snprintf(g->phone, sizeof(g->phone), "+%s%09u", k->dial,
             700000000u + i % 100000000u);
    /* born 1940..2004 */
    int64_t born = (-30 * 365 + (int64_t)((h >> 32) % (65 * 365))) * DAY;
    day_text(born, g->birth_date);
    snprintf(g->loyalty_number, sizeof(g->loyalty_number), "HC%08u", i);
}

/* --- packing ----------------------------------------------------------------
 */

static void
kv_s(msgpack_packer *pk, const char *k, const char *v)
{
    crm_mp_pack_cstr(pk, k);
    crm_mp_pack_cstr(pk, v);
}

static void
kv_i(msgpack_packer *pk, const char *k, int64_t v)
{
    crm_mp_pack_cstr(pk, k);
    msgpack_pack_int64(pk, v);
}

/* Starts an event of guest number n at time at: the envelope up to the
 * body, a map of nbody fields the caller packs next. */
static msgpack_packer *
ev_begin(bench_chain *c, unsigned n, const char *type, int64_t at,
         uint32_t nbody)
{
    char stream[BENCH_STREAM_LEN];
    uint8_t id[16];
    msgpack_packer *pk = &c->ep;
    snprintf(stream, sizeof(stream), "cust-%07u", n);
    crm_uuid_v7(id);
    c->q[c->nq] = (pending){.off = c->episode.size};
    msgpack_pack_map(pk, 5);
    crm_mp_pack_cstr(pk, "id");
    msgpack_pack_bin(pk, 16);
    msgpack_pack_bin_body(pk, id, 16);
    kv_s(pk, "stream", stream);
    kv_s(pk, "type", type);
    kv_i(pk, "occurred_at", at);
    crm_mp_pack_cstr(pk, "body");
    msgpack_pack_map(pk, nbody);
    /* a guest's events stay in time order across its episodes */
    unsigned k = (n - c->o.part) / c->o.parts;
    if (at > c->last_at[k])
        c->last_at[k] = at;
    c->clock += c->o.step;
    return pk;
}

static void
ev_end(bench_chain *c, int derives)
{
    pending *p = &c->q[c->nq++];
    p->len = c->episode.size - p->off;
    p->derives = derives;
}

/* --- episodes ---------------------------------------------------------------
 */

static void
registration(bench_chain *c, unsigned k)
{
    unsigned n = c->o.part + k * c->o.parts;
    bench_guest g;
    char address[96];
    bench_chain_guest(n, &g);
    uint64_t h = mix(n + 0x5eedull);
    const struct country *co = &countries[(h >> 16) % N(countries)];
    snprintf(address, sizeof(address), "%u Rua das Flores, %05u", 1 + n % 250,
             (unsigned)(h % 100000));
    int64_t at = c->reg_at + (int64_t)k * c->reg_step;
    msgpack_packer *pk = ev_begin(c, n, "customer.registered", at, 12);
    kv_s(pk, "first_name", g.first_name);
    kv_s(pk, "last_name", g.last_name);
    kv_s(pk, "email", g.email);
    kv_s(pk, "phone", g.phone);
    kv_s(pk, "birth_date", g.birth_date);
    kv_s(pk, "loyalty_number", g.loyalty_number);
    kv_s(pk, "address", address);
    kv_s(pk, "gender", genders[(h >> 40) % N(genders)]);
    kv_s(pk, "nationality", co->code);
    kv_s(pk, "language", co->language);
    kv_s(pk, "home_property", properties[(h >> 44) % N(properties)].name);
    kv_s(pk, "source", (h >> 48) % 2 ? "web" : "property");
    ev_end(c, 0);
    c->clock -= c->o.step; /* the activity's clock starts after them */
}

static void
stay(bench_chain *c, unsigned n, int64_t t, uint32_t s)
{
    const struct property *p = &properties[below(c, N(properties))];
    const char *cur = p->usd ? "USD" : "EUR";
    int nights = 1 + (int)below(c, 3) + (chance(c, 25) ? (int)below(c, 8) : 0);
    int64_t rate = p->rate + (int64_t)below(c, 60) * 100;
    int64_t arrival = (t / DAY + 3 + below(c, 88)) * DAY + 15 * HOUR;
    int64_t departure = arrival + nights * DAY - 4 * HOUR;
    char bk[32], st[32], arr[11], dep[11], room[8], sv[32];
    snprintf(bk, sizeof(bk), "BK-%07u-%04u", n, s);
    snprintf(st, sizeof(st), "ST-%07u-%04u", n, s);
    snprintf(sv, sizeof(sv), "SV-%07u-%04u", n, s);
    snprintf(room, sizeof(room), "%u%02u", 1 + below(c, 9), 1 + below(c, 40));
    day_text(arrival, arr);
    day_text(departure, dep);

    msgpack_packer *pk = ev_begin(c, n, "booking.created", t, 9);
    kv_s(pk, "booking_id", bk);
    kv_s(pk, "property", p->name);
    kv_s(pk, "arrival", arr);
    kv_s(pk, "departure", dep);
    kv_s(pk, "channel", book_channels[below(c, N(book_channels))]);
    kv_s(pk, "room_type", room_types[below(c, N(room_types))]);
    kv_i(pk, "guests", 1 + below(c, 3));
    kv_i(pk, "amount", rate * nights);
    kv_s(pk, "currency", cur);
    ev_end(c, 0);

    pk = ev_begin(c, n, "booking.confirmed", t + 2 * HOUR, 1);
    kv_s(pk, "booking_id", bk);
    ev_end(c, 0);

    pk = ev_begin(c, n, "stay.checked_in", arrival, 5);
    kv_s(pk, "stay_id", st);
    kv_s(pk, "property", p->name);
    kv_s(pk, "booking_id", bk);
    kv_s(pk, "room", room);
    kv_s(pk, "departure", dep);
    ev_end(c, 0);

    int64_t extras = 0;
    if (chance(c, 70)) {
        int64_t fnb = 1500 + (int64_t)below(c, 120) * 100;
        extras += fnb;
        pk = ev_begin(c, n, "spend.recorded", arrival + 5 * HOUR, 6);
        kv_i(pk, "amount", fnb);
        kv_s(pk, "currency", cur);
        kv_s(pk, "category", "fnb");
        kv_s(pk, "property", p->name);
        kv_s(pk, "stay_id", st);
        kv_s(pk, "booking_id", bk);
        ev_end(c, 1);
    }
    if (chance(c, 30)) {
        int64_t spa = 6000 + (int64_t)below(c, 150) * 100;
        extras += spa;
        pk = ev_begin(c, n, "spend.recorded", arrival + 19 * HOUR, 5);
        kv_i(pk, "amount", spa);
        kv_s(pk, "currency", cur);
        kv_s(pk, "category", "spa");
        kv_s(pk, "property", p->name);
        kv_s(pk, "stay_id", st);
        ev_end(c, 1);
    }
    pk = ev_begin(c, n, "stay.checked_out", departure, 5);
    kv_s(pk, "stay_id", st);
    kv_s(pk, "property", p->name);
    kv_i(pk, "nights", nights);
    kv_i(pk, "amount", rate * nights + extras / 4);
    kv_s(pk, "currency", cur);
    ev_end(c, 1);

    if (chance(c, 50)) {
        int nps = chance(c, 60) ? 9 + (int)below(c, 2) : (int)below(c, 9);
        int with_comment = chance(c, 30);
        pk = ev_begin(c, n, "feedback.survey_submitted", departure + DAY,
                      5 + (uint32_t)with_comment);
        kv_s(pk, "survey_id", sv);
        kv_s(pk, "property", p->name);
        kv_i(pk, "nps", nps);
        kv_i(pk, "csat", nps >= 9 ? 5 : 1 + nps / 2);
        kv_s(pk, "stay_id", st);
        if (with_comment)
            kv_s(pk, "comment",
                 nps >= 9 ? "Lovely staff, great breakfast."
                          : "Room was noisy at night.");
        ev_end(c, 0);
    }
}

static void
cancelled_booking(bench_chain *c, unsigned n, int64_t t, uint32_t s)
{
    const struct property *p = &properties[below(c, N(properties))];
    const char *cur = p->usd ? "USD" : "EUR";
    int nights = 1 + (int)below(c, 4);
    int64_t arrival = (t / DAY + 14 + below(c, 80)) * DAY + 15 * HOUR;
    char bk[32], arr[11], dep[11];
    snprintf(bk, sizeof(bk), "BK-%07u-%04u", n, s);
    day_text(arrival, arr);
    day_text(arrival + nights * DAY, dep);
    msgpack_packer *pk = ev_begin(c, n, "booking.created", t, 8);
    kv_s(pk, "booking_id", bk);
    kv_s(pk, "property", p->name);
    kv_s(pk, "arrival", arr);
    kv_s(pk, "departure", dep);
    kv_s(pk, "channel", book_channels[below(c, N(book_channels))]);
    kv_i(pk, "guests", 1 + below(c, 4));
    kv_i(pk, "amount", (int64_t)p->rate * nights);
    kv_s(pk, "currency", cur);
    ev_end(c, 0);
    int fee = chance(c, 40);
    int64_t at = t + (1 + below(c, 10)) * DAY;
    pk = ev_begin(c, n, "booking.cancelled", at, 2 + 2 * (uint32_t)fee);
    kv_s(pk, "booking_id", bk);
    kv_s(pk, "reason", fee ? "late cancellation" : "change of plans");
    if (fee) {
        kv_i(pk, "fee_amount", p->rate);
        kv_s(pk, "currency", cur);
    }
    ev_end(c, 0);
}

static void
complaint(bench_chain *c, unsigned n, int64_t t, uint32_t s)
{
    const struct property *p = &properties[below(c, N(properties))];
    char id[32];
    snprintf(id, sizeof(id), "CP-%07u-%04u", n, s);
    msgpack_packer *pk = ev_begin(c, n, "complaint.opened", t, 5);
    kv_s(pk, "complaint_id", id);
    kv_s(pk, "category",
         complaint_categories[below(c, N(complaint_categories))]);
    kv_s(pk, "severity", severities[below(c, N(severities))]);
    kv_s(pk, "property", p->name);
    kv_s(pk, "description", "The guest reported the problem at reception.");
    ev_end(c, 0);
    pk = ev_begin(c, n, "interaction.logged", t + HOUR, 5);
    kv_s(pk, "channel", "call");
    kv_s(pk, "direction", "outbound");
    kv_s(pk, "subject", id);
    kv_i(pk, "duration_s", 60 + below(c, 900));
    kv_s(pk, "agent", "guest-relations");
    ev_end(c, 0);
    int points = chance(c, 40) ? 250 * (1 + (int)below(c, 10)) : 0;
    int64_t at = t + (2 + below(c, 70)) * HOUR;
    pk = ev_begin(c, n, "complaint.resolved", at, 2 + (points > 0));
    kv_s(pk, "complaint_id", id);
    if (points)
        kv_i(pk, "compensation_points", points);
    kv_s(pk, "resolution", "Apologised and fixed the same day.");
    ev_end(c, points > 0);
}

static void
interaction(bench_chain *c, unsigned n, int64_t t)
{
    msgpack_packer *pk = ev_begin(c, n, "interaction.logged", t, 6);
    kv_s(pk, "channel",
         interaction_channels[below(c, N(interaction_channels))]);
    kv_s(pk, "direction", chance(c, 70) ? "inbound" : "outbound");
    kv_s(pk, "subject", subjects[below(c, N(subjects))]);
    kv_i(pk, "duration_s", 30 + below(c, 1200));
    kv_s(pk, "agent", "reservations");
    kv_s(pk, "summary", "Answered the guest's question.");
    ev_end(c, 0);
}

static void
marketing(bench_chain *c, unsigned n, int64_t t, uint32_t s)
{
    const char *campaign = campaigns[below(c, N(campaigns))];
    char mid[32];
    snprintf(mid, sizeof(mid), "MS-%07u-%04u", n, s);
    msgpack_packer *pk = ev_begin(c, n, "marketing.message_sent", t, 3);
    kv_s(pk, "campaign", campaign);
    kv_s(pk, "channel", chance(c, 85) ? "email" : "push");
    kv_s(pk, "message_id", mid);
    ev_end(c, 0);
    if (chance(c, 40)) {
        pk = ev_begin(c, n, "marketing.message_opened", t + 2 * HOUR, 2);
        kv_s(pk, "campaign", campaign);
        kv_s(pk, "message_id", mid);
        ev_end(c, 0);
        if (chance(c, 25)) {
            pk = ev_begin(c, n, "marketing.message_clicked",
                          t + 2 * HOUR + 60000000, 3);
            kv_s(pk, "campaign", campaign);
            kv_s(pk, "message_id", mid);
            kv_s(pk, "url", "https://hotels.example.com/offers");
            ev_end(c, 0);
        }
    }
}

static void
web(bench_chain *c, unsigned n, int64_t t)
{
    const char *product = products[below(c, N(products))];
    char url[96];
    snprintf(url, sizeof(url), "https://hotels.example.com/p/%s", product);
    msgpack_packer *pk = ev_begin(c, n, "web.product_viewed", t, 3);
    kv_s(pk, "product", product);
    kv_s(pk, "category", strncmp(product, "room", 4) == 0 ? "room" : "package");
    kv_s(pk, "url", url);
    ev_end(c, 0);
}

static void
consent(bench_chain *c, unsigned n, int64_t t)
{
    msgpack_packer *pk = ev_begin(c, n, "customer.consent_changed", t, 4);
    kv_s(pk, "channel", consent_channels[below(c, N(consent_channels))]);
    crm_mp_pack_cstr(pk, "granted");
    if (chance(c, 80))
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    kv_s(pk, "purpose", purposes[below(c, N(purposes))]);
    kv_s(pk, "source", "preference-centre");
    ev_end(c, 0);
}

static void
preference(bench_chain *c, unsigned n, int64_t t)
{
    const struct pref *p = &preferences[below(c, N(preferences))];
    msgpack_packer *pk = ev_begin(c, n, "customer.preference_set", t, 2);
    kv_s(pk, "category", p->category);
    kv_s(pk, "value", p->value);
    ev_end(c, 0);
}

/* A new phone number and address; the e-mail stays what the guest
 * registered with (crm-bench guests finds guests by it). */
static void
profile(bench_chain *c, unsigned n, int64_t t)
{
    const struct country *k = &countries[below(c, N(countries))];
    char phone[20], address[96];
    snprintf(phone, sizeof(phone), "+%s6%08u", k->dial,
             (unsigned)(rnd(c) % 100000000u));
    snprintf(address, sizeof(address), "%u Avenida da Liberdade, %05u",
             1 + below(c, 300), below(c, 100000));
    msgpack_packer *pk = ev_begin(c, n, "customer.profile_updated", t, 3);
    kv_s(pk, "phone", phone);
    kv_s(pk, "address", address);
    kv_s(pk, "language", k->language);
    ev_end(c, 0);
}

/* The next episode of a guest drawn from this generator's: a tenth of
 * them (the regulars) do a third of everything. */
static void
episode(bench_chain *c)
{
    unsigned k = c->own >= 10 && chance(c, 33) ? below(c, c->own / 10)
                                               : below(c, c->own);
    unsigned n = c->o.part + k * c->o.parts;
    int64_t t = c->clock;
    if (t <= c->last_at[k])
        t = c->last_at[k] + HOUR;
    uint32_t s = ++c->seq[k];
    unsigned w = below(c, 100);
    if (w < 28)
        stay(c, n, t, s);
    else if (w < 33)
        cancelled_booking(c, n, t, s);
    else if (w < 36)
        complaint(c, n, t, s);
    else if (w < 48)
        interaction(c, n, t);
    else if (w < 78)
        marketing(c, n, t, s);
    else if (w < 90)
        web(c, n, t);
    else if (w < 94)
        consent(c, n, t);
    else if (w < 98)
        preference(c, n, t);
    else
        profile(c, n, t);
}

/* --- generator
 * ---------------------------------------------------------------- */

int
bench_chain_open(const bench_chain_opts *o, bench_chain **out)
{
    *out = NULL;
    if (o->guests == 0 || o->parts == 0 || o->parts > o->guests ||
        o->part >= o->parts)
        return -1;
    bench_chain *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    c->o = *o;
    c->rng = mix(o->seed * 0x9E3779B97F4A7C15ull + o->part + 1) | 1;
    c->own = (o->guests - o->part + o->parts - 1) / o->parts;
    c->registered = o->register_guests ? 0 : c->own;
    c->clock = o->from;
    /* registrations over the year before the first activity */
    c->reg_step = 365 * DAY / c->own;
    c->reg_at = o->from - 365 * DAY;
    c->last_at = calloc(c->own, sizeof(*c->last_at));
    c->seq = calloc(c->own, sizeof(*c->seq));
    if (c->last_at == NULL || c->seq == NULL) {
        bench_chain_close(c);
        return -1;
    }
    if (!o->register_guests)
        for (unsigned k = 0; k < c->own; k++)
            c->last_at[k] = o->from;
    msgpack_sbuffer_init(&c->episode);
    msgpack_packer_init(&c->ep, &c->episode, msgpack_sbuffer_write);
    msgpack_sbuffer_init(&c->events);
    msgpack_sbuffer_init(&c->args);
    *out = c;
    return 0;
}

void
bench_chain_close(bench_chain *c)
{
    if (c == NULL)
        return;
    free(c->last_at);
    free(c->seq);
    msgpack_sbuffer_destroy(&c->episode);
    msgpack_sbuffer_destroy(&c->events);
    msgpack_sbuffer_destroy(&c->args);
    free(c);
}

unsigned
bench_chain_unregistered(const bench_chain *c)
{
    return c->own - c->registered;
}

size_t
bench_chain_next(bench_chain *c, size_t max, size_t stored_max,
                 const void **args, size_t *len, size_t *stored)
{
    size_t n = 0, st = 0;
    if (max > BENCH_CHAIN_BATCH_MAX)
        max = BENCH_CHAIN_BATCH_MAX;
    if (stored_max > BENCH_CHAIN_BATCH_MAX)
        stored_max = BENCH_CHAIN_BATCH_MAX;
    c->events.size = 0;
    while (n < max) {
        if (c->qi == c->nq) {
            c->qi = c->nq = 0;
            c->episode.size = 0;
            if (c->registered < c->own)
                registration(c, c->registered++); /* every one first */
            else {
                episode(c);
            }
        }
        const pending *p = &c->q[c->qi];
        if (st + 1 + (size_t)p->derives > stored_max)
            break;
        if (msgpack_sbuffer_write(&c->events, c->episode.data + p->off,
                                  p->len) != 0)
            return 0;
        n++;
        st += 1 + (size_t)p->derives;
        c->qi++;
    }
    if (n == 0)
        return 0;
    msgpack_packer pk;
    c->args.size = 0;
    msgpack_packer_init(&pk, &c->args, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, 1) != 0 || crm_mp_pack_cstr(&pk, "events") != 0 ||
        msgpack_pack_array(&pk, n) != 0 ||
        msgpack_sbuffer_write(&c->args, c->events.data, c->events.size) != 0)
        return 0;
    *args = c->args.data;
    *len = c->args.size;
    if (stored)
        *stored = st;
    return n;
}
