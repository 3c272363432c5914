/* demo_test.c - crm-demo's chain: deterministic bytes for one seed, other
 * bytes for another seed or day, a prefix for fewer guests; loaded into a real crmd with crmctl (settings set
 * --file, append -f) every line is stored once and a second load adds
 * nothing; and the generator's expected answers agree with the reads that
 * exist: a duplicate found by its e-mail in the other case and by its
 * phone spelt with spaces, the tenant's NPS over the whole range, an
 * arrival's booking and a complaint past its SLA in customer.get, a
 * birthday guest's birth date and marketing consent; and the morning
 * routine (tasks.today on the generator's day) answers exactly the
 * generator's birthdays, arrivals, unconfirmed bookings and complaints
 * past their SLA.
 *
 * Tests run in order and share one crmd and one generated chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "crmd_fixture.h"

#ifndef CRM_CRMCTL_PATH
#error "CRM_CRMCTL_PATH must name the crmctl binary"
#endif
#ifndef CRM_DEMO_PATH
#error "CRM_DEMO_PATH must name the crm-demo binary"
#endif

#define TODAY "2026-12-07"
#define GUESTS "400"
/* today 08:00 UTC: no event may lie after it */
#define NOW_US INT64_C(1796630400000000)

static fx_crmd D;
static char EVENTS[700], SETTINGS[700], EXPECT[700];
static json_t *X; /* the expect file */

/* --- helpers -------------------------------------------------------------- */

/* Runs a shell command; returns its exit status. */
static int
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int
sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return p;
}

/* crmctl --json ARGS (a shell fragment), parsed; fails unless it exits 0. */
static json_t *
ctl_json(const char *args)
{
    char out[800], cmd[2048];
    snprintf(out, sizeof(out), "%s/ctl.out", D.dir);
    snprintf(cmd, sizeof(cmd), "'%s' --json %s > '%s'", CRM_CRMCTL_PATH, args,
             out);
    int st = system(cmd);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("crmctl %s: exit %d", args, WEXITSTATUS(st));
    char *text = slurp(out, NULL);
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (j == NULL)
        fail_msg("crmctl %s: not JSON (%s): %.200s", args, err.text, text);
    free(text);
    return j;
}

static const char *
jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static long long
jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        fail_msg("'%s' is not an integer", k);
    return (long long)json_integer_value(v);
}

/* Does the array of hits name stream id? */
static int
hits_name(const json_t *res, const char *id)
{
    const json_t *hits = json_object_get(res, "hits"), *h;
    size_t i;
    assert_true(json_is_array(hits));
    json_array_foreach (hits, i, h)
        if (strcmp(jstr(h, "id"), id) == 0)
            return 1;
    return 0;
}

static size_t
count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* --- set-up --------------------------------------------------------------- */

static int
group_setup(void **state)
{
    (void)state;
    char keys[CRM_ROLE__COUNT][128];
    if (fx_crmd_start(&D, 0, NULL) != 0 || fx_tenant(&D, "demo", keys) != 0)
        return -1;
    setenv("CRM_URL", D.url, 1);
    setenv("CRM_KEY", keys[CRM_ROLE_ADMIN], 1);
    snprintf(EVENTS, sizeof(EVENTS), "%s/chain.jsonl", D.dir);
    snprintf(SETTINGS, sizeof(SETTINGS), "%s/settings.json", D.dir);
    snprintf(EXPECT, sizeof(EXPECT), "%s/expect.json", D.dir);
    if (sh("'%s' --seed 7 --guests " GUESTS " --today " TODAY
           " --out '%s' --settings '%s' --expect '%s'",
           CRM_DEMO_PATH, EVENTS, SETTINGS, EXPECT) != 0)
        return -1;
    json_error_t err;
    X = json_load_file(EXPECT, 0, &err);
    return X ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    json_decref(X);
    int bad = fx_crmd_stop_clean(&D);
    fx_crmd_cleanup(&D);
    return bad;
}

/* --- the generator -------------------------------------------------------- */

static void
test_same_seed_same_bytes(void **state)
{
    (void)state;
    char again[800], other[800], later[800];
    snprintf(again, sizeof(again), "%s/again.jsonl", D.dir);
    snprintf(other, sizeof(other), "%s/other.jsonl", D.dir);
    snprintf(later, sizeof(later), "%s/later.jsonl", D.dir);
    assert_int_equal(sh("'%s' --seed 7 --guests " GUESTS " --today " TODAY
                        " > '%s'",
                        CRM_DEMO_PATH, again),
                     0);
    assert_int_equal(sh("'%s' --seed 8 --guests " GUESTS " --today " TODAY
                        " --out '%s'",
                        CRM_DEMO_PATH, other),
                     0);
    assert_int_equal(sh("'%s' --seed 7 --guests " GUESTS
                        " --today 2026-12-08 --out '%s'",
                        CRM_DEMO_PATH, later),
                     0);
    size_t len_a, len_b, len_c, len_d;
    char *a = slurp(EVENTS, &len_a), *b = slurp(again, &len_b),
         *c = slurp(other, &len_c), *d = slurp(later, &len_d);
    assert_true(len_a > 100000);
    assert_int_equal(len_a, len_b);
    assert_memory_equal(a, b, len_a);
    assert_true(len_c != len_a || memcmp(a, c, len_a) != 0);
    assert_true(len_d != len_a || memcmp(a, d, len_a) != 0);
    /* a guest is the same person whatever the size: fewer guests give a
     * prefix of the chain */
    char fewer[800];
    snprintf(fewer, sizeof(fewer), "%s/fewer.jsonl", D.dir);
    assert_int_equal(sh("'%s' --seed 7 --guests 50 --today " TODAY
                        " --out '%s'",
                        CRM_DEMO_PATH, fewer),
                     0);
    size_t len_e;
    char *e = slurp(fewer, &len_e);
    assert_true(len_e > 0 && len_e < len_a);
    assert_memory_equal(a, e, len_e);
    free(e);
    free(a);
    free(b);
    free(c);
    free(d);
    /* bad arguments are refused with a message and write nothing */
    assert_int_equal(sh("'%s' --today 2026-02-30 --out '%s/x' 2>/dev/null",
                        CRM_DEMO_PATH, D.dir),
                     2);
    assert_int_equal(sh("'%s' --guests 0 --out '%s/x' 2>/dev/null",
                        CRM_DEMO_PATH, D.dir),
                     2);
    assert_int_equal(sh("test -e '%s/x'", D.dir), 1);
}

static void
test_lines_are_past_and_ids_unique(void **state)
{
    (void)state;
    char *text = slurp(EVENTS, NULL);
    size_t lines = count_lines(text), n = 0;
    assert_int_equal(lines, (size_t)jint(X, "events"));
    json_t *ids = json_object();
    long long registered = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t err;
        json_t *e = json_loads(line, 0, &err);
        if (e == NULL)
            fail_msg("line %zu: %s", n + 1, err.text);
        assert_true(jint(e, "occurred_at") <= NOW_US);
        const char *id = jstr(e, "id");
        assert_int_equal(strlen(id), 36);
        assert_null(json_object_get(ids, id));
        json_object_set_new(ids, id, json_true());
        registered += strcmp(jstr(e, "type"), "customer.registered") == 0;
        assert_int_equal(strncmp(jstr(e, "type"), "tenant.", 7) != 0, 1);
        json_decref(e);
        n++;
    }
    assert_int_equal(n, lines);
    assert_int_equal(registered, jint(X, "guests"));
    json_decref(ids);
    free(text);
    /* the routine has something of each kind to find */
    assert_true(json_array_size(json_object_get(X, "birthdays")) > 0);
    assert_true(json_array_size(json_object_get(X, "arrivals")) > 0);
    assert_true(json_array_size(json_object_get(X, "unconfirmed")) > 0);
    assert_true(json_array_size(json_object_get(X, "complaints_past_sla")) > 0);
    assert_true(json_array_size(json_object_get(X, "duplicates")) > 0);
}

/* --- loading it ----------------------------------------------------------- */

static void
test_load_every_line_once(void **state)
{
    (void)state;
    assert_int_equal(sh("'%s' settings set --file '%s' >/dev/null",
                        CRM_CRMCTL_PATH, SETTINGS),
                     0);
    char args[800];
    snprintf(args, sizeof(args), "append -f '%s'", EVENTS);
    long long lines = jint(X, "events");
    json_t *r = ctl_json(args);
    assert_int_equal(jint(r, "count"), lines);
    assert_int_equal(jint(r, "duplicates"), 0);
    long long head = jint(r, "head");
    /* the settings' 4 events, every line, and the points the server
     * derived from stays, spends and compensations */
    assert_true(head > lines + 4);
    json_decref(r);
    r = ctl_json(args);
    assert_int_equal(jint(r, "count"), lines);
    assert_int_equal(jint(r, "duplicates"), lines);
    assert_int_equal(jint(r, "head"), head);
    json_decref(r);
}

static void
test_duplicates_are_found_together(void **state)
{
    (void)state;
    const json_t *dups = json_object_get(X, "duplicates"), *d;
    size_t i;
    int email = 0, phone = 0;
    json_array_foreach (dups, i, d) {
        const json_t *s = json_object_get(d, "streams");
        const char *a = json_string_value(json_array_get(s, 0));
        const char *b = json_string_value(json_array_get(s, 1));
        const char *kind = jstr(d, "kind");
        char args[512];
        if (strcmp(kind, "email-case") == 0 && !email) {
            /* b registered a's address in another case: the lower case
             * finds both */
            char low[128];
            snprintf(low, sizeof(low), "%s", jstr(d, "email"));
            for (char *p = low; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            assert_string_not_equal(low, jstr(d, "email"));
            snprintf(args, sizeof(args), "customer find --email '%s'", low);
            email = 1;
        } else if (strcmp(kind, "phone") == 0 && !phone) {
            snprintf(args, sizeof(args), "customer find --phone '%s'",
                     jstr(d, "phone"));
            assert_non_null(strchr(jstr(d, "phone"), ' '));
            phone = 1;
        } else {
            continue;
        }
        json_t *r = ctl_json(args);
        assert_true(hits_name(r, a));
        assert_true(hits_name(r, b));
        json_decref(r);
    }
    assert_true(email && phone);
    /* the quickstart's suggestion finds its guest and the duplicate */
    const json_t *t = json_object_get(X, "try");
    char args[512];
    snprintf(args, sizeof(args), "customer find --email '%s'",
             jstr(t, "duplicate_email"));
    json_t *r = ctl_json(args);
    assert_true(hits_name(r, jstr(t, "stream")));
    assert_true(hits_name(r, jstr(t, "duplicate")));
    json_decref(r);
}

static void
test_kpi_nps_is_the_expected(void **state)
{
    (void)state;
    json_t *r = ctl_json("kpi --from 2024-09 --to 2026-12");
    const json_t *totals = json_object_get(r, "totals");
    assert_int_equal(jint(totals, "surveys"), jint(X, "surveys"));
    assert_int_equal(jint(totals, "promoters"), jint(X, "promoters"));
    assert_int_equal(jint(totals, "detractors"), jint(X, "detractors"));
    assert_int_equal(jint(totals, "stays"), jint(X, "stays"));
    double nps = json_real_value(json_object_get(totals, "nps"));
    double want = json_real_value(json_object_get(X, "nps"));
    assert_true(fabs(nps - want) < 1e-5);
    /* every spend had a rate: nothing unconverted */
    assert_true(json_is_array(json_object_get(totals, "unconverted")) == 0 ||
                json_array_size(json_object_get(totals, "unconverted")) == 0);
    json_decref(r);
}

/* --- the expected answers against today's reads --------------------------- */

static json_t *
customer(const char *stream)
{
    char args[256];
    snprintf(args, sizeof(args),
             "customer get '%s' --on " TODAY " --touchpoints 200", stream);
    return ctl_json(args);
}

static void
test_expected_answers_in_customer_get(void **state)
{
    (void)state;
    /* an arrival: its booking is among the guest's touchpoints */
    const json_t *arr = json_array_get(json_object_get(X, "arrivals"), 0);
    json_t *g = customer(jstr(arr, "stream"));
    const json_t *tp = json_object_get(g, "touchpoints"), *t;
    size_t i;
    int seen = 0;
    json_array_foreach (tp, i, t) {
        const json_t *b = json_object_get(t, "booking_id");
        if (json_is_string(b) &&
            strcmp(json_string_value(b), jstr(arr, "booking_id")) == 0 &&
            strcmp(jstr(t, "type"), "booking.created") == 0)
            seen = 1;
        /* not checked in */
        if (json_is_string(b) &&
            strcmp(json_string_value(b), jstr(arr, "booking_id")) == 0)
            assert_string_not_equal(jstr(t, "type"), "stay.checked_in");
    }
    assert_true(seen);
    json_decref(g);

    /* a complaint past its SLA is open and past_sla that day */
    const json_t *cp =
        json_array_get(json_object_get(X, "complaints_past_sla"), 0);
    g = customer(jstr(cp, "stream"));
    const json_t *open = json_object_get(g, "complaints_open"), *c;
    seen = 0;
    json_array_foreach (open, i, c)
        if (strcmp(jstr(c, "complaint_id"), jstr(cp, "complaint_id")) == 0) {
            assert_true(json_is_true(json_object_get(c, "past_sla")));
            assert_true(jint(c, "age_hours") > 48);
            seen = 1;
        }
    assert_true(seen);
    json_decref(g);

    /* a birthday this week, with a marketing consent granted */
    const char *bs = json_string_value(
        json_array_get(json_object_get(X, "birthdays"), 0));
    assert_non_null(bs);
    g = customer(bs);
    const char *bd = jstr(json_object_get(g, "profile"), "birth_date");
    int m = atoi(bd + 5), d = atoi(bd + 8);
    assert_true(m == 12 && d >= 7 && d <= 14);
    const json_t *cons = json_object_get(g, "consents");
    seen = 0;
    json_array_foreach (cons, i, c)
        seen |= strcmp(jstr(c, "purpose"), "marketing") == 0 &&
                json_is_true(json_object_get(c, "granted"));
    assert_true(seen);
    json_decref(g);
}

/* --- the morning routine --------------------------------------------------- */

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The values of key k (NULL: the items themselves, strings) of the items
 * of array a, sorted, joined by commas into out. */
static void
keys_of(const json_t *a, const char *k, char *out, size_t cap)
{
    const char *v[2000];
    size_t n = 0, i;
    const json_t *e;
    assert_true(json_is_array(a));
    json_array_foreach (a, i, e) {
        assert_true(n < 2000);
        v[n++] = k ? jstr(e, k) : json_string_value(e);
        assert_non_null(v[n - 1]);
    }
    qsort(v, n, sizeof(v[0]), cmp_str);
    size_t at = 0;
    out[0] = '\0';
    for (i = 0; i < n; i++)
        at += (size_t)snprintf(out + at, at < cap ? cap - at : 0, "%s%s",
                               i ? "," : "", v[i]);
    assert_true(at < cap);
}

static void
same(const char *what, const json_t *got, const char *gk, const json_t *want,
     const char *wk)
{
    static char g[65536], w[65536];
    keys_of(got, gk, g, sizeof(g));
    keys_of(want, wk, w, sizeof(w));
    if (strcmp(g, w) != 0)
        fail_msg("%s: tasks.today says\n  %s\nthe generator expects\n  %s", what,
                 g, w);
}

/* tasks.today on the generator's day, 7 days ahead, gives the generator's
 * own answers: the birthdays of consented guests, the arrivals, the online
 * bookings left unconfirmed, the complaints past their SLA. */
static void
test_morning_routine_is_the_expected(void **state)
{
    (void)state;
    json_t *r =
        ctl_json("tasks today --on " TODAY " --days 7 --limit 500");
    same("birthdays", json_object_get(r, "birthdays"), "customer",
         json_object_get(X, "birthdays"), NULL);
    same("arrivals", json_object_get(r, "arrivals"), "booking_id",
         json_object_get(X, "arrivals"), "booking_id");
    same("unconfirmed", json_object_get(r, "unconfirmed"), "booking_id",
         json_object_get(X, "unconfirmed"), "booking_id");
    same("complaints past SLA", json_object_get(r, "complaints_past_sla"),
         "complaint_id", json_object_get(X, "complaints_past_sla"),
         "complaint_id");
    assert_true(json_array_size(json_object_get(r, "arrivals")) > 0);
    assert_true(json_array_size(json_object_get(r, "birthdays")) > 0);
    json_decref(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_bytes),
        cmocka_unit_test(test_lines_are_past_and_ids_unique),
        cmocka_unit_test(test_load_every_line_once),
        cmocka_unit_test(test_duplicates_are_found_together),
        cmocka_unit_test(test_kpi_nps_is_the_expected),
        cmocka_unit_test(test_expected_answers_in_customer_get),
        cmocka_unit_test(test_morning_routine_is_the_expected),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
