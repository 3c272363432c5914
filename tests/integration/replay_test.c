/* replay_test.c - crm-audit replay and diff on a real crmd's data
 * directory (while crmd runs): a scripted history of one guest with known
 * states after each step, among them a loyalty rule changed by
 * settings.set and a stay posted late (it occurred before stays recorded
 * earlier) that lets a sweep raise the guest's tier. replay --as-of at
 * each step's position (and at a time between two steps) and --effective
 * at several business times, alone and with --as-of, give each state
 * exactly; diff names the changed fields and the events between; bad
 * arguments and unknown guests are refused. The tenant is sealed: the
 * personal values read "(sealed)" or are left out, never in the clear.
 * The same replays and diffs on an export of the tenant (crmctl audit
 * export) print exactly what they print on the data directory; an export
 * with one byte flipped is refused without a view; the scratch
 * directories under $TMPDIR are gone after every run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crmd_fixture.h"
#include "rpc.h"

#define TENANT "bt"
#define GUEST "g-bt"
#define OTHER "g-other"
/* occurred_at of the scripted events, 10:00 UTC of the day */
#define JAN01 1735725600000000LL
#define JAN10 1736503200000000LL
#define JAN20 1737367200000000LL
#define FEB10 1739181600000000LL

static fx_crmd D;
static char K[CRM_ROLE__COUNT][128];
static char DATA[700];
/* the head after each step of the history */
enum {
    S_REGISTERED,
    S_STAY1,
    S_RULE,
    S_STAY2,
    S_OTHER,
    S_LATE,
    S_SWEEP,
    S_ERASED,
    S_N
};
static uint64_t H[S_N];
static char BETWEEN[64]; /* a time after S_OTHER was recorded, before S_LATE */
static char EXPORT[700];  /* DIR/bt.crmx: crmctl audit export, at setup */
static char TMP[700];     /* DIR/tmp: crm-audit's TMPDIR */
static char ERRS[700];    /* DIR/err: crm-audit's stderr for audit(.., 2, ..) */

static uint64_t
head_of(crm_client *c)
{
    const msgpack_object *res;
    crm_error why;
    fx_kv a[] = {FX_I("from", 1), FX_I("max", 1)};
    if (fx_call_kv(c, "read.all", a, 2, &res, &why) != CRM_OK)
        return 0;
    return fx_res_u64(res, "head");
}

static int
stay(crm_client *c, const char *guest, const char *id, int nights,
     int amount, int64_t at)
{
    const msgpack_object *res;
    crm_error why;
    crm_event_in e;
    fx_event(&e, guest, "stay.checked_out",
             FX_BODY(FX_S("stay_id", id), FX_S("property", "lisbon-bay"),
                     FX_I("nights", nights), FX_I("amount", amount),
                     FX_S("currency", "EUR")));
    e.occurred_at = at;
    crm_err err = fx_append(c, &e, 1, &res, &why);
    if (err != CRM_OK)
        fprintf(stderr, "stay %s: %s\n", id, why.msg);
    fx_reset();
    return err == CRM_OK ? 0 : -1;
}

/* settings.set: silver from 8 nights (the default is 10), 300 bonus. */
static int
silver_from_8_nights(crm_client *adm)
{
    static const fx_kv silver[] = {FX_S("tier", "silver"), FX_I("rank", 1),
                                   FX_I("min_nights", 8),
                                   FX_I("min_points", 5000),
                                   FX_I("bonus_points", 300)};
    static const fx_kv from[] = {FX_S("effective_from", "2025-01-01")};
    msgpack_sbuffer args, tier;
    const msgpack_object *res;
    crm_error why;
    /* {effective_from, tiers: [silver]}: the first map, one more key */
    fx_pack(from, 1, &args);
    fx_pack(silver, sizeof(silver) / sizeof(silver[0]), &tier);
    args.data[0] = (char)0x82;
    static const char tiers[] = "\xa5tiers\x91";
    msgpack_sbuffer_write(&args, tiers, sizeof(tiers) - 1);
    msgpack_sbuffer_write(&args, tier.data, tier.size);
    crm_err err = crm_client_call_raw(adm, "settings.set", args.data,
                                      args.size, &res, &why);
    msgpack_sbuffer_destroy(&args);
    msgpack_sbuffer_destroy(&tier);
    if (err != CRM_OK)
        fprintf(stderr, "settings.set: %s\n", why.msg);
    return err == CRM_OK ? 0 : -1;
}

static void
now_iso(char out[64])
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)tv.tv_usec);
}

static int
group_setup(void **state)
{
    (void)state;
    const msgpack_object *res;
    crm_error why;
    if (fx_crmd_start(&D, 0, NULL) != 0 || fx_tenant(&D, TENANT, K) != 0) {
        fprintf(stderr, "crmd did not start\n");
        return -1;
    }
    snprintf(DATA, sizeof(DATA), "%s/data", D.dir);
    crm_client *c = fx_client(&D, D.url, K[CRM_ROLE_AGENT]);
    crm_client *adm = fx_client(&D, D.url, K[CRM_ROLE_ADMIN]);

    crm_event_in ev[2];
    fx_event(&ev[0], GUEST, "customer.registered",
             FX_BODY(FX_S("first_name", "Ana"), FX_S("last_name", "Lima")));
    ev[0].occurred_at = JAN01;
    fx_event(&ev[1], GUEST, "customer.preference_set",
             FX_BODY(FX_S("category", "diet"), FX_S("value", "halal")));
    ev[1].occurred_at = JAN01;
    if (fx_append(c, ev, 2, &res, &why) != CRM_OK) {
        fprintf(stderr, "register: %s\n", why.msg);
        return -1;
    }
    fx_reset();
    H[S_REGISTERED] = head_of(c);
    /* 4 nights, 200.00 EUR: 2,000 points derived */
    if (stay(c, GUEST, "ST-1", 4, 20000, JAN10) != 0)
        return -1;
    H[S_STAY1] = head_of(c);
    if (silver_from_8_nights(adm) != 0)
        return -1;
    H[S_RULE] = head_of(c);
    if (stay(c, GUEST, "ST-2", 3, 10000, FEB10) != 0)
        return -1;
    H[S_STAY2] = head_of(c);
    /* another guest's events in between, which a replay of ours skips */
    fx_event(&ev[0], OTHER, "customer.registered",
             FX_BODY(FX_S("first_name", "Rui"), FX_S("last_name", "Reis")));
    if (fx_append(c, ev, 1, &res, &why) != CRM_OK ||
        stay(c, OTHER, "ST-9", 30, 99000, FEB10) != 0) {
        fprintf(stderr, "other guest: %s\n", why.msg);
        return -1;
    }
    fx_reset();
    H[S_OTHER] = head_of(c);
    usleep(20000);
    now_iso(BETWEEN);
    usleep(20000);
    /* posted late: it occurred on 20 January, before ST-2 */
    if (stay(c, GUEST, "ST-3", 2, 5000, JAN20) != 0)
        return -1;
    H[S_LATE] = head_of(c);
    /* 9 nights in the window by 16 February: silver under the new rule */
    fx_kv kv[] = {FX_S("on", "2025-02-16")};
    if (fx_call_kv(adm, "loyalty.sweep", kv, 1, &res, &why) != CRM_OK) {
        fprintf(stderr, "sweep: %s\n", why.msg);
        return -1;
    }
    H[S_SWEEP] = head_of(c);
    /* the other guest asks to be forgotten */
    fx_kv gone[] = {FX_S("customer", OTHER), FX_S("reason", "gdpr"),
                    FX_S("request_ref", "DPO-1"), FX_B("wait", 1)};
    if (fx_call_kv(adm, "customer.erase", gone, 4, &res, &why) != CRM_OK) {
        fprintf(stderr, "erase: %s\n", why.msg);
        return -1;
    }
    H[S_ERASED] = head_of(c);
    crm_client_close(adm);
    crm_client_close(c);
    /* the whole log to a file; crm-audit's scratch goes to TMP, which
     * the tests find empty after each run */
    char cmd[2400];
    snprintf(EXPORT, sizeof(EXPORT), "%s/" TENANT ".crmx", D.dir);
    snprintf(TMP, sizeof(TMP), "%s/tmp", D.dir);
    snprintf(ERRS, sizeof(ERRS), "%s/err", D.dir);
    snprintf(cmd, sizeof(cmd),
             "CRM_URL='%s' CRM_KEY='%s' '%s' audit export --out '%s'", D.url,
             K[CRM_ROLE_AUDITOR], CRM_CRMCTL_PATH, EXPORT);
    if (system(cmd) != 0 || mkdir(TMP, 0700) != 0 ||
        setenv("TMPDIR", TMP, 1) != 0) {
        fprintf(stderr, "audit export: failed\n");
        return -1;
    }
    for (int i = 1; i < S_N; i++)
        if (H[i] <= H[i - 1]) {
            fprintf(stderr, "step %d: head %llu after %llu\n", i,
                    (unsigned long long)H[i], (unsigned long long)H[i - 1]);
            return -1;
        }
    return 0;
}

static char OUT[1 << 20];

/* Runs crm-audit with args and keeps what it printed on stdout in out;
 * its stderr is dropped (err 0), kept in out too (1) or written to ERRS
 * (2). Its exit status, or -1 when it did not exit. */
static int
audit(const char *args, int err, char *out, size_t len)
{
    char cmd[4096], redirect[800];
    size_t n = 0, got;
    snprintf(redirect, sizeof(redirect), "2>'%s'", ERRS);
    snprintf(cmd, sizeof(cmd), "%s %s %s", CRM_AUDIT_PATH, args,
             err == 2 ? redirect : err ? "2>&1" : "2>/dev/null");
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        fail_msg("popen %s", cmd);
    while (n + 1 < len && (got = fread(out + n, 1, len - 1 - n, p)) > 0)
        n += got;
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* crm-audit replay GUEST with more args; its JSON (the caller frees). */
static json_t *
replay(const char *more)
{
    char args[2048];
    snprintf(args, sizeof(args),
             "replay --data %s --tenant " TENANT " --customer " GUEST " %s",
             DATA, more);
    int st = audit(args, 0, OUT, sizeof(OUT));
    if (st != 0)
        fail_msg("crm-audit %s: exit %d", args, st);
    json_error_t e;
    json_t *j = json_loads(OUT, 0, &e);
    if (j == NULL)
        fail_msg("crm-audit %s: not JSON (%s): %.200s", args, e.text, OUT);
    return j;
}

/* The member at a dotted path ("view.lifetime.nights"), or NULL. */
static const json_t *
at_path(const json_t *j, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save, *k = strtok_r(buf, ".", &save); k && j;
         k = strtok_r(NULL, ".", &save))
        j = json_object_get(j, k);
    return j;
}

/* The member at path, which must be of type t. */
static const json_t *
typed(const json_t *j, const char *path, json_type t)
{
    const json_t *o = at_path(j, path);
    if (o == NULL || json_typeof(o) != t)
        fail_msg("%s is missing or of another type", path);
    return o;
}

#define num(j, path) json_integer_value(typed(j, path, JSON_INTEGER))
#define text(j, path) json_string_value(typed(j, path, JSON_STRING))

/* The balance loyalty.get gives: 0 when it says no loyalty activity. */
static json_int_t
balance(const json_t *j)
{
    return json_is_null(json_object_get(j, "loyalty"))
               ? 0
               : num(j, "loyalty.balance");
}

/* The figures of a state: lifetime nights and stays of the view, the
 * loyalty balance and the guest's tier (as the view's summary says). */
static void
expect(const char *more, int nights, int stays, int balance_want,
       const char *tier)
{
    json_t *j = replay(more);
    int balance_got = (int)balance(j);
    if (num(j, "view.lifetime.nights") != nights ||
        num(j, "view.lifetime.stays") != stays ||
        balance_got != balance_want ||
        strcmp(text(j, "view.loyalty.tier"), tier) != 0)
        fail_msg("replay %s: %lld nights, %lld stays, %lld points, %s; "
                 "expected %d, %d, %d, %s",
                 more, (long long)num(j, "view.lifetime.nights"),
                 (long long)num(j, "view.lifetime.stays"),
                 (long long)balance_got, text(j, "view.loyalty.tier"),
                 nights, stays, balance_want, tier);
    assert_int_equal(num(j, "view.loyalty.balance"), balance_want);
    json_decref(j);
}

/* The arguments of a replay as of step's position, then more; valid
 * until the next call. */
static const char *
as_of(int step, const char *more)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "--as-of %llu %s", (unsigned long long)H[step],
             more);
    return buf;
}

static void
test_as_of_each_step(void **state)
{
    (void)state;
    char a[256];
    /* registered: no loyalty yet; personal values sealed */
    json_t *j = replay(as_of(S_REGISTERED, ""));
    assert_int_equal(num(j, "view.lifetime.stays"), 0);
    assert_true(json_is_null(json_object_get(j, "loyalty")));
    assert_int_equal(num(j, "view.loyalty.balance"), 0);
    assert_string_equal(text(j, "view.loyalty.tier"), "ordinary");
    assert_string_equal(text(j, "view.preferences.diet"), "(sealed)");
    assert_true(json_is_true(json_object_get(j, "sealed")));
    assert_int_equal(num(j, "as_of.position"), H[S_REGISTERED]);
    assert_int_equal(num(j, "replayed.guest_events"), 2);
    assert_null(strstr(OUT, "Ana"));
    assert_null(strstr(OUT, "halal"));
    json_decref(j);

    expect(as_of(S_STAY1, ""), 4, 1, 2000, "ordinary");
    expect(as_of(S_RULE, ""), 4, 1, 2000, "ordinary");
    expect(as_of(S_STAY2, ""), 7, 2, 3000, "ordinary");
    expect(as_of(S_OTHER, ""), 7, 2, 3000, "ordinary");
    expect(as_of(S_LATE, ""), 9, 3, 3500, "ordinary");
    expect(as_of(S_SWEEP, ""), 9, 3, 3800, "silver");
    expect("", 9, 3, 3800, "silver"); /* everything: the same */

    /* by recorded time: between the other guest's stay and the late one */
    snprintf(a, sizeof(a), "--as-of %s", BETWEEN);
    j = replay(a);
    assert_int_equal(num(j, "as_of.position"), H[S_OTHER]);
    assert_int_equal(num(j, "view.lifetime.nights"), 7);
    json_decref(j);
    /* a day long past: nothing recorded yet */
    char cmd[1024], err[4096];
    snprintf(cmd, sizeof(cmd),
             "replay --data %s --tenant " TENANT " --customer " GUEST
             " --as-of 2020-01-01",
             DATA);
    assert_int_equal(audit(cmd, 1, err, sizeof(err)), 1);
    assert_non_null(strstr(err, "no such guest"));
}

/* An erased guest: before the erasure its figures as they were, with
 * the erasure named; after it, erased. Its name is never shown. */
static void
test_erased_guest(void **state)
{
    (void)state;
    char a[1024];
    snprintf(a, sizeof(a),
             "replay --data %s --tenant " TENANT " --customer " OTHER
             " --as-of %llu",
             DATA, (unsigned long long)H[S_SWEEP]);
    assert_int_equal(audit(a, 0, OUT, sizeof(OUT)), 0);
    json_t *j = json_loads(OUT, 0, NULL);
    assert_non_null(j);
    assert_int_equal(num(j, "view.lifetime.nights"), 30);
    assert_true(json_is_false(json_object_get(json_object_get(j, "view"),
                                              "erased")));
    assert_true(num(j, "erased_at") > (json_int_t)H[S_SWEEP]);
    assert_true(num(j, "erased_at") <= (json_int_t)H[S_ERASED]);
    assert_null(strstr(OUT, "Rui"));
    json_decref(j);
    snprintf(a, sizeof(a),
             "replay --data %s --tenant " TENANT " --customer " OTHER, DATA);
    assert_int_equal(audit(a, 0, OUT, sizeof(OUT)), 0);
    j = json_loads(OUT, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(json_object_get(j, "view"),
                                             "erased")));
    assert_true(json_is_null(json_object_get(j, "erased_at")));
    assert_null(strstr(OUT, "Rui"));
    json_decref(j);
}

/* The ledger: every line, newest first, with the balance after it. */
static void
test_ledger(void **state)
{
    (void)state;
    json_t *j = replay("");
    const json_t *l = json_object_get(json_object_get(j, "loyalty"), "ledger");
    assert_int_equal(json_array_size(l), 4); /* 2000, 1000, 500, 300 bonus */
    assert_int_equal(num(json_array_get(l, 0), "balance"), 3800);
    assert_int_equal(num(json_array_get(l, 0), "points"), 300);
    assert_int_equal(num(json_array_get(l, 3), "points"), 2000);
    json_decref(j);
}

/* The rule in force at each moment comes from the replayed settings:
 * silver wants 10 nights before settings.set, 8 after. */
static void
test_rule_then_in_force(void **state)
{
    (void)state;
    json_t *j = replay(as_of(S_STAY1, "--on 2025-01-15"));
    assert_string_equal(text(j, "loyalty.next_tier.tier"), "silver");
    assert_int_equal(num(j, "loyalty.next_tier.nights_needed"), 6);
    assert_string_equal(text(j, "on"), "2025-01-15");
    json_decref(j);
    j = replay(as_of(S_RULE, "--on 2025-01-15"));
    assert_int_equal(num(j, "loyalty.next_tier.nights_needed"), 4);
    assert_int_equal(num(j, "replayed.settings_events"), 1);
    json_decref(j);
}

/* What was true at a business time, given everything known now, and
 * given what was known at a moment: the late stay counts for January
 * only once it was posted. */
static void
test_effective(void **state)
{
    (void)state;
    expect("--effective 2025-01-05", 0, 0, 0, "ordinary");
    expect("--effective 2025-01-25", 6, 2, 2500, "ordinary");
    expect(as_of(S_STAY2, "--effective 2025-01-25"), 4, 1, 2000, "ordinary");
    expect("--effective 2025-02-15", 9, 3, 3500, "ordinary");
    expect("--effective 2025-02-16", 9, 3, 3800, "silver");

    /* on 15 February, as known now: 9 nights qualify for silver */
    json_t *j = replay("--effective 2025-02-15");
    assert_string_equal(text(j, "loyalty.qualified_tier"), "silver");
    assert_int_equal(num(j, "loyalty.nights_in_window"), 9);
    assert_string_equal(text(j, "on"), "2025-02-15");
    assert_int_equal(num(j, "replayed.left_out"), 2); /* tier, bonus */
    json_decref(j);
    /* as known before the late stay was posted: 7, not enough */
    j = replay(as_of(S_OTHER, "--effective 2025-02-15"));
    assert_string_equal(text(j, "loyalty.qualified_tier"), "ordinary");
    assert_int_equal(num(j, "loyalty.nights_in_window"), 7);
    json_decref(j);
}

/* crm-audit diff of the guest from step a to step b into OUT. */
static void
diff(int a, int b)
{
    char args[1024];
    snprintf(args, sizeof(args),
             "diff --data %s --tenant " TENANT " --customer " GUEST
             " --from %llu --to %llu",
             DATA, (unsigned long long)H[a], (unsigned long long)H[b]);
    assert_int_equal(audit(args, 0, OUT, sizeof(OUT)), 0);
}

static void
test_diff(void **state)
{
    (void)state;
    diff(S_OTHER, S_SWEEP);
    static const char *const want[] = {
        "~ view.lifetime.nights: 7 -> 9\n",
        "~ view.lifetime.stays: 2 -> 3\n",
        "~ view.loyalty.tier: \"ordinary\" -> \"silver\"\n",
        "~ view.loyalty.balance: 3000 -> 3800\n",
        "~ loyalty.balance: 3000 -> 3800\n",
        "~ loyalty.tier: \"ordinary\" -> \"silver\"\n",
        "+ loyalty.ledger[position=",
        "4 events recorded after position",
        "loyalty.tier_changed occurred 2025-02-16T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (strstr(OUT, want[i]) == NULL)
            fail_msg("diff lacks '%s':\n%s", want[i], OUT);
    char late[64];
    snprintf(late, sizeof(late), "@ %llu stay.checked_out occurred 2025-01-20",
             (unsigned long long)H[S_OTHER] + 1);
    if (strstr(OUT, late) == NULL)
        fail_msg("diff lacks '%s':\n%s", late, OUT);
    assert_null(strstr(OUT, "lifetime.bookings"));

    /* the rule change: one settings event, the nights silver needs */
    diff(S_STAY1, S_RULE);
    if (strstr(OUT, "~ loyalty.next_tier.nights_needed: 10 -> 8\n") == NULL ||
        strstr(OUT, "tenant.tier_defined (settings)") == NULL ||
        strstr(OUT, "1 event recorded") == NULL)
        fail_msg("rule diff:\n%s", OUT);
    assert_null(strstr(OUT, "view.lifetime"));
}

/* crm-audit cmd --data DATA rest exits with status, saying says. */
static void
refused(const char *cmd, const char *rest, int status, const char *says)
{
    char a[2048], out[4096];
    snprintf(a, sizeof(a), "%s --data %s %s", cmd, DATA, rest);
    int st = audit(a, 1, out, sizeof(out));
    if (st != status || strstr(out, says) == NULL)
        fail_msg("crm-audit %s: exit %d, '%s' (expected %d, '%s')", a, st,
                 out, status, says);
}

static void
test_refused(void **state)
{
    (void)state;
    refused("replay", "--tenant " TENANT, 2, "--customer");
    refused("replay", "--tenant " TENANT " --customer " GUEST
            " --as-of yesterday", 2, "neither a position nor a UTC time");
    refused("replay", "--tenant " TENANT " --customer " GUEST
            " --as-of 99999999", 2, "is not in the log");
    refused("replay", "--tenant " TENANT " --customer " GUEST
            " --effective 2025-13-01", 2, "--effective");
    refused("replay", "--tenant " TENANT " --customer " GUEST
            " --on tomorrow", 2, "--on");
    refused("replay", "--tenant " TENANT " --customer " GUEST
            " --colour red", 2, "unknown option");
    refused("replay", "--tenant nobody --customer " GUEST, 2,
            "tenant nobody");
    refused("replay", "--tenant " TENANT " --customer g-nobody", 1,
            "no such guest 'g-nobody'");
    refused("replay", "--tenant " TENANT " --customer '$tenant'", 2,
            "not a guest");
    refused("diff", "--tenant " TENANT " --customer " GUEST
            " --from 9 --to 3", 2, "--from is after --to");
    refused("diff", "--tenant " TENANT " --customer " GUEST
            " --from 3", 2, "--to");
    /* the other guest was not known yet at that position */
    char a[512];
    snprintf(a, sizeof(a), "--tenant " TENANT " --customer " OTHER
             " --as-of %llu", (unsigned long long)H[S_STAY2]);
    refused("replay", a, 1, "no such guest");
}

/* --- the same on an export file ------------------------------------------ */

/* Entries left in TMP (crm-audit's scratch directories). */
static int
scratch_left(void)
{
    DIR *d = opendir(TMP);
    int n = 0;
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static char OUT2[1 << 20];

/* crm-audit cmd --data DATA --tenant T rest and cmd --export EXPORT rest:
 * the same exit status (want) and the same output on stdout. */
static void
same_on_export(const char *cmd, const char *rest, int want)
{
    char a[2048], b[2048];
    snprintf(a, sizeof(a), "%s --data %s --tenant " TENANT " %s", cmd, DATA,
             rest);
    snprintf(b, sizeof(b), "%s --export %s %s", cmd, EXPORT, rest);
    int sa = audit(a, 0, OUT, sizeof(OUT));
    int sb = audit(b, 0, OUT2, sizeof(OUT2));
    if (sa != want || sb != want)
        fail_msg("crm-audit %s: exit %d on the data directory, %d on the "
                 "export (expected %d)",
                 rest, sa, sb, want);
    if (strcmp(OUT, OUT2) != 0)
        fail_msg("crm-audit %s %s: on the data directory\n%s\non the "
                 "export\n%s",
                 cmd, rest, OUT, OUT2);
    if (want == 0 && OUT[0] == '\0')
        fail_msg("crm-audit %s %s printed nothing", cmd, rest);
    assert_int_equal(scratch_left(), 0);
}

static void
test_export_replay(void **state)
{
    (void)state;
    char rest[512];
    for (int i = 0; i < S_N; i++) {
        snprintf(rest, sizeof(rest), "--customer " GUEST " --as-of %llu",
                 (unsigned long long)H[i]);
        same_on_export("replay", rest, 0);
    }
    snprintf(rest, sizeof(rest), "--customer " GUEST " --as-of %s", BETWEEN);
    same_on_export("replay", rest, 0);
    /* sealed in the export as in the directory */
    assert_non_null(strstr(OUT2, "\"diet\": \"(sealed)\""));
    assert_null(strstr(OUT2, "halal"));
    assert_null(strstr(OUT2, "Ana"));
    static const char *const effective[] = {
        "2025-01-05", "2025-01-25", "2025-02-15", "2025-02-16"};
    for (size_t i = 0; i < sizeof(effective) / sizeof(effective[0]); i++) {
        snprintf(rest, sizeof(rest),
                 "--customer " GUEST " --as-of %llu --effective %s",
                 (unsigned long long)H[S_ERASED], effective[i]);
        same_on_export("replay", rest, 0);
        snprintf(rest, sizeof(rest),
                 "--customer " GUEST " --as-of %llu --effective %s",
                 (unsigned long long)H[S_STAY2], effective[i]);
        same_on_export("replay", rest, 0);
    }
    snprintf(rest, sizeof(rest),
             "--customer " GUEST " --as-of %llu --on 2025-01-15",
             (unsigned long long)H[S_RULE]);
    same_on_export("replay", rest, 0);
    /* the erased guest, before and after its erasure */
    snprintf(rest, sizeof(rest), "--customer " OTHER " --as-of %llu",
             (unsigned long long)H[S_SWEEP]);
    same_on_export("replay", rest, 0);
    snprintf(rest, sizeof(rest), "--customer " OTHER " --as-of %llu",
             (unsigned long long)H[S_ERASED]);
    same_on_export("replay", rest, 0);
    assert_null(strstr(OUT2, "Rui"));
}

static void
test_export_diff(void **state)
{
    (void)state;
    static const int steps[][2] = {{S_OTHER, S_SWEEP},
                                   {S_STAY1, S_RULE},
                                   {S_REGISTERED, S_ERASED}};
    char rest[512];
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        snprintf(rest, sizeof(rest),
                 "--customer " GUEST " --from %llu --to %llu",
                 (unsigned long long)H[steps[i][0]],
                 (unsigned long long)H[steps[i][1]]);
        same_on_export("diff", rest, 0);
    }
    assert_non_null(strstr(OUT2, "diff tenant " TENANT " guest " GUEST));
    snprintf(rest, sizeof(rest), "--customer " GUEST " --from %llu --to %s",
             (unsigned long long)H[S_STAY1], BETWEEN);
    same_on_export("diff", rest, 0);
}

/* crm-audit cmd --export path rest exits with status, saying says on
 * stderr and printing nothing on stdout; no scratch is left. */
static void
refused_export(const char *cmd, const char *path, const char *rest,
               int status, const char *says)
{
    char a[2048], err[4096];
    snprintf(a, sizeof(a), "%s --export %s %s", cmd, path, rest);
    int st = audit(a, 2, OUT, sizeof(OUT));
    FILE *f = fopen(ERRS, "r");
    assert_non_null(f);
    size_t n = fread(err, 1, sizeof(err) - 1, f);
    err[n] = '\0';
    fclose(f);
    if (st != status || strstr(err, says) == NULL || OUT[0] != '\0')
        fail_msg("crm-audit %s --export %s %s: exit %d, '%s', printed '%s' "
                 "(expected %d, '%s', nothing)",
                 cmd, path, rest, st, err, OUT, status, says);
    assert_int_equal(scratch_left(), 0);
}

static void
test_export_refused(void **state)
{
    (void)state;
    /* an unknown guest: as on the data directory */
    same_on_export("replay", "--customer g-nobody", 1);
    same_on_export("diff", "--customer g-nobody --from 1 --to 3", 1);
    refused_export("replay", EXPORT, "--customer g-nobody", 1,
                   "no such guest 'g-nobody' in tenant " TENANT);
    refused_export("replay", EXPORT, "--tenant other --customer " GUEST, 2,
                   "an export of tenant " TENANT ", not other");
    refused_export("replay", "/nonexistent.crmx", "--customer " GUEST, 2,
                   "cannot be read");
    refused_export("replay", EXPORT, "--data /x --customer " GUEST, 2,
                   "--export FILE");

    /* part of the log: the guest's history cannot be rebuilt from it */
    char part[800], cmd[2400];
    snprintf(part, sizeof(part), "%s/part.crmx", D.dir);
    snprintf(cmd, sizeof(cmd),
             "CRM_URL='%s' CRM_KEY='%s' '%s' audit export --from 3 --out "
             "'%s'",
             D.url, K[CRM_ROLE_AUDITOR], CRM_CRMCTL_PATH, part);
    assert_int_equal(system(cmd), 0);
    refused_export("replay", part, "--customer " GUEST, 2,
                   "the export begins at position 3");

    /* one byte of the late stay's record flipped: refused with the
     * reason, no view */
    char copy[800];
    static char buf[1 << 20];
    snprintf(copy, sizeof(copy), "%s/tampered.crmx", D.dir);
    FILE *f = fopen(EXPORT, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    assert_true(n > 0 && n < sizeof(buf));
    char *st3 = memmem(buf, n, "ST-3", 4);
    assert_non_null(st3);
    st3[3] = '4';
    f = fopen(copy, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    char rest[256];
    snprintf(rest, sizeof(rest), "--customer " GUEST " --as-of %llu",
             (unsigned long long)H[S_STAY1]);
    char why[80];
    snprintf(why, sizeof(why), "broken at position %llu",
             (unsigned long long)H[S_OTHER] + 1); /* the stay itself */
    refused_export("replay", copy, rest, 1, why);
    refused_export("diff", copy, "--customer " GUEST " --from 1 --to 3", 1,
                   why);
}

/* Stops crmd, which must have run cleanly throughout. */
static int
group_teardown(void **state)
{
    int clean = fx_crmd_stop_clean(&D) == 0;
    (void)state;
    fx_crmd_cleanup(&D);
    fx_reset();
    return clean ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_as_of_each_step),
        cmocka_unit_test(test_ledger),
        cmocka_unit_test(test_erased_guest),
        cmocka_unit_test(test_rule_then_in_force),
        cmocka_unit_test(test_effective),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_export_replay),
        cmocka_unit_test(test_export_diff),
        cmocka_unit_test(test_export_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
