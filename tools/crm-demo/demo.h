/*
 * demo.h - crm-demo's shared types: the chain it generates (guests and their
 * events, in memory one guest at a time) and the facts it keeps for the
 * expected answers.
 */
#ifndef CRM_DEMO_H
#define CRM_DEMO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DEMO_HOUR INT64_C(3600000000)
#define DEMO_DAY (24 * DEMO_HOUR)
#define DEMO_MIN (DEMO_HOUR / 60)

/* --- the chain's fixed tables (names.c) ----------------------------------- */

typedef struct demo_property {
    const char *name, *city, *currency, *airport;
    int64_t night_min, night_max; /* minor units of currency */
} demo_property;

typedef struct demo_name {
    const char *name, *ascii; /* as registered, as an e-mail spells it */
} demo_name;

/* A culture the guests come from: their names, language, country. */
typedef struct demo_culture {
    const demo_name *first, *last;
    size_t nfirst, nlast;
    const char *language, *nationality, *calling_code, *mobile_prefix;
    const char *mail_domain, *airport;
    int accented; /* Latin names that may carry accents */
} demo_culture;

typedef struct demo_rate {
    const char *currency, *rate; /* one unit in EUR */
} demo_rate;

extern const demo_property demo_properties[];
extern const size_t demo_nproperties;
extern const demo_culture demo_cultures[];
extern const size_t demo_ncultures;
extern const demo_rate demo_rates[];
extern const size_t demo_nrates;

/* --- a run ---------------------------------------------------------------- */

/* A pseudo-random sequence (splitmix64); the same seed gives the same. */
typedef struct demo_rng {
    uint64_t s;
} demo_rng;

uint64_t demo_rng_next(demo_rng *r);
/* A number in lo..hi (both included). */
int64_t demo_rng_range(demo_rng *r, int64_t lo, int64_t hi);
/* 1 with probability pct/100. */
int demo_rng_pct(demo_rng *r, int pct);

/* Days since 1970-01-01 of a civil date, and back. */
int64_t demo_days(int y, int m, int d);
void demo_civil(int64_t days, int *y, int *m, int *d);
/* "YYYY-MM-DD" of a day number into out (11 bytes). */
void demo_date(int64_t days, char out[11]);

/* A booking as the expected answers need it. */
typedef struct demo_booking {
    char id[24], stream[32], property[32], channel[8];
    int64_t created_at, arrival, departure; /* departure, arrival: days */
    int confirmed, cancelled, checked_in;
} demo_booking;

typedef struct demo_complaint {
    char id[24], stream[32];
    int64_t opened_at;
    int resolved;
} demo_complaint;

typedef struct demo_dup {
    char a[32], b[32], kind[16];
    char email[128]; /* a's e-mail as b registered it, for find */
    char phone[32];  /* the phone both share, spelt with spaces */
} demo_dup;

/* Per-guest facts the expected answers need. */
typedef struct demo_fact {
    char stream[32];
    char name[128]; /* "first last" */
    char email[128];
    int birth_m, birth_d;
    int marketing; /* latest marketing consent granted on some channel */
    int erased;
} demo_fact;

/* The run: its options, where events go, and what was generated. */
typedef struct demo_run {
    uint64_t seed;
    long guests;
    int64_t today; /* day number */
    int64_t now;   /* today 08:00 UTC, microseconds: no event after it */
    FILE *out;
    /* the guest being generated */
    struct demo_event *ev;
    size_t nev, capev;
    /* totals */
    uint64_t events, stays, surveys, promoters, detractors;
    demo_booking *bookings;
    size_t nbookings, capbookings;
    demo_complaint *complaints;
    size_t ncomplaints, capcomplaints;
    demo_dup *dups;
    size_t ndups, capdups;
    demo_fact *facts; /* one per guest */
    int failed;       /* out of memory or a write error */
} demo_run;

typedef struct demo_event {
    int64_t at;
    size_t seq; /* order of generation, to keep ties stable */
    const char *type;
    char *body; /* a JSON object, malloc'd */
} demo_event;

/* Generates every guest of the run and writes their events. 0 or -1. */
int demo_generate(demo_run *run);

/* Writes the tenant's settings (settings.set args) for the run. 0 or -1. */
int demo_write_settings(const demo_run *run, FILE *f);

/* Writes the expected answers of the run's morning routine. 0 or -1. */
int demo_write_expect(const demo_run *run, FILE *f);

/* Appends s to f as a JSON string (quoted, escaped). */
void demo_json_str(FILE *f, const char *s);

#endif
