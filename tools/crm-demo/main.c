/*
 * crm-demo - a seeded, deterministic demo hotel chain as JSON lines for
 * `crmctl append -f`, with the tenant settings it needs and the answers
 * a morning routine on its "today" should give.
 *
 *   crm-demo [--seed N] [--guests N] [--today YYYY-MM-DD] [--out FILE]
 *            [--settings FILE] [--expect FILE]
 *
 * The chain: six properties (Lisbon and Porto in EUR, London GBP, Dubai
 * AED, Shanghai CNY, New York USD), guests "guest-00001".. with Latin
 * (accented), Chinese and Arabic names, e-mails, E.164 phones, birth
 * dates, loyalty numbers, consents (some withdrawn), preferences (diet
 * with halal and vegetarian, allergy, pillow, room), bookings by channel
 * (direct, web, app, ota, agent, phone; some cancelled), stays with
 * nights and folio, spend by category, charter flights, surveys (NPS and
 * CSAT), complaints (most resolved), interactions, loyalty redemptions,
 * monthly e-mail newsletters and quarterly SMS flash sales (sent, opened,
 * clicked), an erasure now and then, and every 47th guest a second
 * registration of the guest before (e-mail in another case, the same
 * phone with another e-mail, or the name without accents).
 *
 * Activity covers the two years before --today (default: today, UTC) and
 * nothing happens after today 08:00 UTC; the future appears only as
 * bookings' arrival and departure dates. Same seed, guests and today give
 * byte-identical output; event ids are name-based UUIDs of the seed and
 * the event's content, so appending the file twice adds nothing.
 *
 * --settings FILE writes the `crmctl settings set --file` args with the
 * exchange rates of the chain's currencies, in force from before its first
 * event (tenant.* events are written only by settings.set, never by
 * append). Load them before the events. Nothing else is changed: the
 * tenant keeps its default thresholds (complaint SLA 48 h, bookings
 * confirmed within 24 h).
 *
 * --expect FILE writes, as one JSON document, the generator's own answers
 * for the morning of --today with a 7-day horizon (T0 = today 00:00 UTC):
 *   birthdays            streams whose birth month-day falls on today ..
 *                        today+7, whose latest consent per (channel,
 *                        purpose), purpose marketing or absent, is granted
 *                        on some channel, and who are not erased
 *   arrivals             bookings with arrival in today .. today+7, not
 *                        cancelled and not checked in
 *   unconfirmed          bookings of channel web, app or ota never
 *                        confirmed, cancelled or checked in, created more
 *                        than 24 h before T0
 *   complaints_past_sla  complaints opened more than 48 h before T0 and
 *                        not resolved
 *   duplicates           pairs of streams that are the same person
 *   guests, events (the lines written), stays (check-outs), surveys,
 *   promoters, detractors, nps (100 * (promoters - detractors) / surveys,
 *   over every survey), and `try`: a name and e-mail of a guest who has a
 *   duplicate, for a first `crmctl customer find`.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo.h"
#include "hash.h"
#include "uuid.h"

static int
usage(const char *why)
{
    if (why)
        fprintf(stderr, "crm-demo: %s\n", why);
    fprintf(stderr,
            "usage: crm-demo [--seed N] [--guests N] [--today YYYY-MM-DD]\n"
            "                [--out FILE] [--settings FILE] [--expect FILE]\n"
            "  --seed N        the chain's seed (default 1)\n"
            "  --guests N      guest streams, 1..1000000 (default 3000)\n"
            "  --today DAY     the day the chain leads up to (default: today,"
            " UTC)\n"
            "  --out FILE      the events as JSON lines (default stdout)\n"
            "  --settings FILE the settings.set args it needs (its rates)\n"
            "  --expect FILE   the expected answers of that morning (JSON)\n");
    return 2;
}

static int
parse_day(const char *s, int64_t *out)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
        sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || y < 1970 ||
        m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    int64_t day = demo_days(y, m, d);
    int cy, cm, cd;
    demo_civil(day, &cy, &cm, &cd);
    if (cy != y || cm != m || cd != d)
        return -1; /* 2026-02-30 */
    *out = day;
    return 0;
}

static int
parse_num(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno || v > max)
        return -1;
    *out = v;
    return 0;
}

int
demo_write_settings(const demo_run *run, FILE *f)
{
    char from[11], idtxt[64], id[CRM_UUID_STRLEN + 1];
    int y, m, d;
    /* the first of the month before the chain's earliest registration */
    demo_civil(run->today - 800, &y, &m, &d);
    snprintf(from, sizeof(from), "%04d-%02d-01", y, m);
    int len = snprintf(idtxt, sizeof(idtxt), "settings\n%s", from);
    char seedtxt[32];
    snprintf(seedtxt, sizeof(seedtxt), "crm-demo:%" PRIu64, run->seed);
    uint8_t h[CRM_HASH_LEN];
    crm_sha256_2(seedtxt, strlen(seedtxt), idtxt, (size_t)len, h);
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x50);
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
    crm_uuid_format(h, id);
    fprintf(f, "{\"effective_from\":\"%s\",\"id\":\"%s\",\"reason\":\"the "
               "demo chain's currencies\",\"rates\":{",
            from, id);
    for (size_t i = 0; i < demo_nrates; i++)
        fprintf(f, "%s\"%s\":\"%s\"", i ? "," : "", demo_rates[i].currency,
                demo_rates[i].rate);
    fprintf(f, "}}\n");
    return ferror(f) ? -1 : 0;
}

static void
list_sep(FILE *f, size_t *n)
{
    fputs(*n ? ",\n    " : "\n    ", f);
    (*n)++;
}

static void
list_end(FILE *f, size_t n)
{
    fputs(n ? "\n  ]" : "]", f);
}

int
demo_write_expect(const demo_run *run, FILE *f)
{
    int64_t t0 = run->today * DEMO_DAY;
    char day[11];
    size_t n;
    demo_date(run->today, day);
    fprintf(f, "{\n  \"today\": \"%s\",\n  \"horizon_days\": 7,\n"
               "  \"seed\": %" PRIu64 ",\n",
            day, run->seed);

    fputs("  \"birthdays\": [", f);
    n = 0;
    for (long i = 0; i < run->guests; i++) {
        const demo_fact *g = &run->facts[i];
        if (g->erased || !g->marketing)
            continue;
        for (int k = 0; k <= 7; k++) {
            int y, m, d;
            demo_civil(run->today + k, &y, &m, &d);
            if (m == g->birth_m && d == g->birth_d) {
                list_sep(f, &n);
                demo_json_str(f, g->stream);
                break;
            }
        }
    }
    list_end(f, n);

    fputs(",\n  \"arrivals\": [", f);
    n = 0;
    for (size_t i = 0; i < run->nbookings; i++) {
        const demo_booking *b = &run->bookings[i];
        if (b->arrival < run->today || b->arrival > run->today + 7 ||
            b->cancelled || b->checked_in)
            continue;
        char arr[11];
        demo_date(b->arrival, arr);
        list_sep(f, &n);
        fprintf(f, "{\"booking_id\": \"%s\", \"stream\": \"%s\", "
                   "\"arrival\": \"%s\", \"property\": \"%s\"}",
                b->id, b->stream, arr, b->property);
    }
    list_end(f, n);

    fputs(",\n  \"unconfirmed\": [", f);
    n = 0;
    for (size_t i = 0; i < run->nbookings; i++) {
        const demo_booking *b = &run->bookings[i];
        int web = strcmp(b->channel, "web") == 0 ||
                  strcmp(b->channel, "app") == 0 ||
                  strcmp(b->channel, "ota") == 0;
        if (!web || b->confirmed || b->cancelled || b->checked_in ||
            b->created_at >= t0 - 24 * DEMO_HOUR)
            continue;
        list_sep(f, &n);
        fprintf(f, "{\"booking_id\": \"%s\", \"stream\": \"%s\", "
                   "\"channel\": \"%s\", \"created_at\": %" PRId64 "}",
                b->id, b->stream, b->channel, b->created_at);
    }
    list_end(f, n);

    fputs(",\n  \"complaints_past_sla\": [", f);
    n = 0;
    for (size_t i = 0; i < run->ncomplaints; i++) {
        const demo_complaint *c = &run->complaints[i];
        if (c->resolved || c->opened_at >= t0 - 48 * DEMO_HOUR)
            continue;
        list_sep(f, &n);
        fprintf(f, "{\"complaint_id\": \"%s\", \"stream\": \"%s\", "
                   "\"opened_at\": %" PRId64 "}",
                c->id, c->stream, c->opened_at);
    }
    list_end(f, n);

    fputs(",\n  \"duplicates\": [", f);
    n = 0;
    for (size_t i = 0; i < run->ndups; i++) {
        const demo_dup *d = &run->dups[i];
        list_sep(f, &n);
        fprintf(f, "{\"streams\": [\"%s\", \"%s\"], \"kind\": \"%s\", "
                   "\"email\": ",
                d->a, d->b, d->kind);
        demo_json_str(f, d->email);
        fprintf(f, ", \"phone\": \"%s\"}", d->phone);
    }
    list_end(f, n);

    fprintf(f, ",\n  \"guests\": %ld,\n  \"events\": %" PRIu64
               ",\n  \"stays\": %" PRIu64 ",\n  \"surveys\": %" PRIu64
               ",\n  \"promoters\": %" PRIu64 ",\n  \"detractors\": %" PRIu64
               ",\n  \"nps\": ",
            run->guests, run->events, run->stays, run->surveys,
            run->promoters, run->detractors);
    if (run->surveys)
        fprintf(f, "%.6f",
                100.0 * ((double)run->promoters - (double)run->detractors) /
                    (double)run->surveys);
    else
        fputs("null", f);

    /* a guest with a duplicate registered by e-mail case, for `find` */
    const demo_fact *pick = NULL;
    const demo_dup *pd = NULL;
    for (int latin = 1; latin >= 0 && pick == NULL; latin--)
        for (size_t i = 0; i < run->ndups && pick == NULL; i++) {
            pd = &run->dups[i];
            if (strcmp(pd->kind, "email-case") != 0)
                continue;
            for (long k = 0; k < run->guests; k++)
                if (strcmp(run->facts[k].stream, pd->a) == 0 &&
                    !run->facts[k].erased &&
                    (!latin || (unsigned char)run->facts[k].name[0] < 0x80))
                    pick = &run->facts[k];
        }
    if (pick == NULL) {
        pd = NULL;
        pick = run->guests > 0 ? &run->facts[0] : NULL;
    }
    if (pick) {
        fputs(",\n  \"try\": {\"stream\": ", f);
        demo_json_str(f, pick->stream);
        fputs(", \"name\": ", f);
        demo_json_str(f, pick->name);
        fputs(", \"email\": ", f);
        demo_json_str(f, pick->email);
        if (pd) {
            fputs(", \"duplicate\": ", f);
            demo_json_str(f, pd->b);
            fputs(", \"duplicate_email\": ", f);
            demo_json_str(f, pd->email);
        }
        fputs("}", f);
    }
    fputs("\n}\n", f);
    return ferror(f) ? -1 : 0;
}

static FILE *
open_out(const char *path, const char *what)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, "crm-demo: cannot write %s %s: %s\n", what, path,
                strerror(errno));
    return f;
}

static int
finish(FILE *f, const char *path)
{
    if (f == NULL || f == stdout)
        return f ? fflush(f) : 0;
    int bad = ferror(f) | fclose(f);
    if (bad)
        fprintf(stderr, "crm-demo: cannot write %s\n", path);
    return bad ? -1 : 0;
}

int
main(int argc, char **argv)
{
    demo_run run = {.seed = 1, .guests = 3000};
    const char *out = NULL, *expect = NULL, *settings = NULL;
    int have_today = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(NULL);
            return 0;
        }
        if (i + 1 >= argc)
            return usage(strncmp(a, "--", 2) == 0 ? "an option lacks its value"
                                                  : "unknown argument");
        const char *v = argv[++i];
        uint64_t n;
        if (strcmp(a, "--seed") == 0) {
            if (parse_num(v, UINT64_MAX, &n) != 0)
                return usage("--seed must be a whole number");
            run.seed = n;
        } else if (strcmp(a, "--guests") == 0) {
            if (parse_num(v, 1000000, &n) != 0 || n == 0)
                return usage("--guests must be 1..1000000");
            run.guests = (long)n;
        } else if (strcmp(a, "--today") == 0) {
            if (parse_day(v, &run.today) != 0)
                return usage("--today must be a date YYYY-MM-DD");
            have_today = 1;
        } else if (strcmp(a, "--out") == 0) {
            out = v;
        } else if (strcmp(a, "--expect") == 0) {
            expect = v;
        } else if (strcmp(a, "--settings") == 0) {
            settings = v;
        } else {
            return usage("unknown argument");
        }
    }
    if (!have_today)
        run.today = (int64_t)(time(NULL) / 86400);
    run.now = run.today * DEMO_DAY + 8 * DEMO_HOUR;

    run.out = out ? open_out(out, "events to") : stdout;
    if (run.out == NULL)
        return 1;
    int rc = demo_generate(&run);
    if (finish(run.out, out) != 0 || rc != 0) {
        if (rc != 0)
            fprintf(stderr, "crm-demo: out of memory or cannot write\n");
        rc = 1;
    }
    if (rc == 0 && settings) {
        FILE *f = open_out(settings, "settings to");
        rc = f == NULL;
        if (f != NULL)
            rc = (demo_write_settings(&run, f) != 0) | (finish(f, settings) != 0);
    }
    if (rc == 0 && expect) {
        FILE *f = open_out(expect, "expected answers to");
        rc = f == NULL;
        if (f != NULL)
            rc = (demo_write_expect(&run, f) != 0) | (finish(f, expect) != 0);
    }
    free(run.bookings);
    free(run.complaints);
    free(run.dups);
    free(run.facts);
    return rc;
}
