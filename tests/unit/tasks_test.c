/* tasks_test.c - the tasks projection on a real log: every section's
 * boundaries (a birthday today, in N days and N + 1; 29 February in a
 * year without one; a consent withdrawn, or given for another purpose;
 * a complaint exactly at its SLA and an hour past; an online booking
 * at the confirmation threshold; bookings confirmed, cancelled, checked
 * in or moved; dormancy on day dormant_days and dormant_days - 1 and at
 * the window's ends; the high-value line; points expiring this month
 * and not the next), the limit, an erasure leaving no key naming the
 * guest, and a rebuild equal to the inline state byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "fixture.h"
#include "log.h"
#include "loyalty.h"
#include "rpc.h"
#include "schema.h"
#include "settings.h"
#include "tasks.h"
#include "tasks_int.h"

static const crm_proj_def *const defs[] = {&crm_proj_settings,
                                           &crm_proj_loyalty, &crm_proj_tasks};

#define HOUR 3600000000LL
#define DAY (24 * HOUR)
#define AT(day, h) (crm_settings_day_start(day) + (h)*HOUR)
#define ON 20260615u

static crm_log *
open_log(const char *tag)
{
    return fx_log_open(tag, "porto-hotels", defs, 3);
}


static uint32_t
day_add(uint32_t day, int64_t n)
{
    return crm_settings_day_of(crm_settings_day_start(day) + n * DAY);
}

static void
text(uint32_t day, char out[11])
{
    crm_settings_day_text(day, out);
}

/* --- asking -------------------------------------------------------------- */

typedef struct ask {
    crm_log *log;
    int section;
    uint32_t on;
    unsigned days;
    int64_t moment;
    const char *property;
    size_t limit;
    char out[2048];
    int more;
    int64_t line;
} ask;

static int
collect(void *arg, const crm_tasks_item *it)
{
    ask *a = arg;
    size_t l = strlen(a->out);
    char d[11];
    text(it->day, d);
    snprintf(a->out + l, sizeof(a->out) - l, "%s%.*s", l ? "," : "",
             (int)it->customer_len, it->customer);
    l = strlen(a->out);
    switch (a->section) {
    case CRM_TASKS_BIRTHDAYS:
        snprintf(a->out + l, sizeof(a->out) - l, "@%s+%lld", d,
                 (long long)it->in_days);
        break;
    case CRM_TASKS_ARRIVALS:
        snprintf(a->out + l, sizeof(a->out) - l, "/%.*s@%s:%s:%.*s",
                 (int)it->id_len, it->id, d, it->status,
                 (int)it->property_len, it->property);
        break;
    case CRM_TASKS_UNCONFIRMED:
    case CRM_TASKS_COMPLAINTS:
        snprintf(a->out + l, sizeof(a->out) - l, "/%.*s:%lldh",
                 (int)it->id_len, it->id, (long long)it->hours);
        break;
    case CRM_TASKS_DORMANT:
    case CRM_TASKS_POINTS:
        snprintf(a->out + l, sizeof(a->out) - l, "@%s=%lld", d,
                 (long long)it->amount);
        break;
    }
    return 0;
}

static int
ask_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    ask *a = arg;
    (void)position;
    static crm_settings s;
    int rc;
    const crm_proj_set *set = crm_log_projections(a->log);
    MDB_dbi sd[CRM_PROJ_DBS_MAX], ld[CRM_PROJ_DBS_MAX];
    uint64_t at;
    if ((rc = crm_proj_live(set, txn, (size_t)crm_proj_index(set, "settings"),
                            sd, &at)) != 0 ||
        (rc = crm_settings_at(txn, sd[0], crm_settings_day_of(a->moment),
                              UINT64_MAX, &s)) != 0 ||
        (rc = crm_proj_live(set, txn, (size_t)crm_proj_index(set, "loyalty"),
                            ld, &at)) != 0)
        return rc;
    crm_tasks_query q = {.txn = txn,
                         .idx = dbi[0],
                         .guest = dbi[1],
                         .has_loyalty = 1,
                         .loyalty = ld[0],
                         .index_key = crm_proj_index_key(set),
                         .settings = &s,
                         .moment = a->moment,
                         .on = a->on,
                         .days = a->days,
                         .property = a->property,
                         .property_len = a->property ? strlen(a->property) : 0};
    if ((rc = crm_tasks_high_value_line(txn, dbi[0], &a->line)) != 0)
        return rc;
    return crm_tasks_section(&q, a->section, a->limit ? a->limit : 100,
                             collect, a, &a->more);
}

static ask *
run(crm_log *log, int section, uint32_t on, unsigned days, int64_t moment)
{
    static ask a;
    memset(&a, 0, sizeof(a));
    a.log = log;
    a.section = section;
    a.on = on;
    a.days = days;
    a.moment = moment ? moment : crm_settings_day_start(on);
    return &a;
}

static const char *
go(ask *a)
{
    crm_error why;
    if (crm_log_proj_read(a->log, "tasks", ask_fn, a, &why) != CRM_OK)
        fail_msg("read: %s", why.msg);
    return a->out;
}

#define EXPECT(a, want)                                                        \
    do {                                                                       \
        const char *got_ = go(a);                                              \
        if (strcmp(got_, want) != 0)                                           \
            fail_msg("section %d on %u: got '%s', want '%s'", (a)->section,   \
                     (a)->on, got_, want);                                     \
    } while (0)

static void
rebuild_identical(crm_log *log)
{
    crm_log_rebuilt out[3];
    size_t n;
    crm_error why;
    assert_int_equal(crm_log_rebuild(log, "tasks", out, &n, &why), CRM_OK);
    assert_int_equal(n, 1);
    if (!out[0].identical)
        fail_msg("rebuild differs: %s", out[0].diff);
}

/* --- events -------------------------------------------------------------- */

static void
born(crm_log *log, const char *g, const char *date)
{
    fx_log_append1(log, g, "customer.registered", AT(20200101, 9),
            FX_BODY(FX_S("first_name", "Ana"), FX_S("last_name", "Silva"),
                    FX_S("birth_date", date)));
}

static void
consent(crm_log *log, const char *g, const char *ch, int granted, int64_t at,
        const char *purpose)
{
    if (purpose)
        fx_log_append1(log, g, "customer.consent_changed", at,
                FX_BODY(FX_S("channel", ch), FX_B("granted", granted),
                        FX_S("purpose", purpose)));
    else
        fx_log_append1(log, g, "customer.consent_changed", at,
                FX_BODY(FX_S("channel", ch), FX_B("granted", granted)));
}

static void
booking(crm_log *log, const char *g, const char *id, const char *prop,
        const char *arrival, const char *channel, int64_t at)
{
    fx_log_append1(log, g, "booking.created", at,
            FX_BODY(FX_S("booking_id", id), FX_S("property", prop),
                    FX_S("arrival", arrival), FX_S("departure", "2026-07-30"),
                    FX_S("channel", channel), FX_S("room_type", "double")));
}

static void
booking_event(crm_log *log, const char *g, const char *type, const char *id,
              int64_t at)
{
    fx_log_append1(log, g, type, at, FX_BODY(FX_S("booking_id", id)));
}

static void
spend(crm_log *log, const char *g, int64_t amount)
{
    fx_log_append1(log, g, "spend.recorded", AT(20250101, 12),
            FX_BODY(FX_I("amount", amount), FX_S("currency", "EUR"),
                    FX_S("category", "room")));
}

static void
checkout(crm_log *log, const char *g, uint32_t day)
{
    fx_log_append1(log, g, "stay.checked_out", AT(day, 11),
            FX_BODY(FX_S("stay_id", "s"), FX_S("property", "porto"),
                    FX_I("nights", 2)));
}

static void
earn(crm_log *log, const char *g, int points, const char *expires)
{
    fx_log_append1(log, g, "loyalty.points_earned", AT(20260101, 10),
            FX_BODY(FX_I("points", points), FX_S("expires_on", expires)));
}

/* --- tests ----------------------------------------------------------------- */

static void
test_birthdays(void **state)
{
    (void)state;
    crm_log *log = open_log("tasks-bday");
    born(log, "g-today", "1990-06-15");
    born(log, "g-in7", "1985-06-22");
    born(log, "g-in8", "1985-06-23");
    born(log, "g-noconsent", "1990-06-16");
    born(log, "g-withdrawn", "1990-06-17");
    born(log, "g-service", "1990-06-18");
    born(log, "g-leap", "2000-02-29");
    const char *with[] = {"g-today", "g-in7", "g-in8", "g-leap"};
    for (size_t i = 0; i < 4; i++)
        consent(log, with[i], "email", 1, AT(20250101, 9), NULL);
    consent(log, "g-withdrawn", "sms", 1, AT(20250101, 9), "marketing");
    consent(log, "g-withdrawn", "sms", 0, AT(20250301, 9), NULL);
    /* an older grant recorded later does not undo the withdrawal */
    consent(log, "g-withdrawn", "sms", 1, AT(20250201, 9), "marketing");
    consent(log, "g-service", "email", 1, AT(20250101, 9), "service");

    EXPECT(run(log, CRM_TASKS_BIRTHDAYS, ON, 7, 0),
           "g-today@2026-06-15+0,g-in7@2026-06-22+7");
    EXPECT(run(log, CRM_TASKS_BIRTHDAYS, ON, 0, 0), "g-today@2026-06-15+0");
    EXPECT(run(log, CRM_TASKS_BIRTHDAYS, ON, 8, 0),
           "g-today@2026-06-15+0,g-in7@2026-06-22+7,g-in8@2026-06-23+8");
    /* consent given later brings the guest in; moving the birthday moves it */
    consent(log, "g-noconsent", "post", 1, AT(20250101, 9), NULL);
    fx_log_append1(log, "g-in8", "customer.profile_updated", AT(20250601, 9),
            FX_BODY(FX_S("birth_date", "1985-07-23")));
    EXPECT(run(log, CRM_TASKS_BIRTHDAYS, ON, 8, 0),
           "g-today@2026-06-15+0,g-noconsent@2026-06-16+1,"
           "g-in7@2026-06-22+7");
    /* 29 February: on the 28th in a year without one, on the 29th else */
    EXPECT(run(log, CRM_TASKS_BIRTHDAYS, 20270228, 0, 0),
           "g-leap@2027-02-28+0");
    EXPECT(run(log, CRM_TASKS_BIRTHDAYS, 20280228, 0, 0), "");
    EXPECT(run(log, CRM_TASKS_BIRTHDAYS, 20280229, 0, 0),
           "g-leap@2028-02-29+0");
    EXPECT(run(log, CRM_TASKS_BIRTHDAYS, 20270227, 3, 0),
           "g-leap@2027-02-28+1");
    /* across the year's end */
    born(log, "g-ny", "1970-01-02");
    consent(log, "g-ny", "push", 1, AT(20250101, 9), NULL);
    EXPECT(run(log, CRM_TASKS_BIRTHDAYS, 20261230, 3, 0),
           "g-ny@2027-01-02+3");
    /* the limit */
    ask *a = run(log, CRM_TASKS_BIRTHDAYS, ON, 7, 0);
    a->limit = 1;
    EXPECT(a, "g-today@2026-06-15+0");
    assert_int_equal(a->more, 1);
    a = run(log, CRM_TASKS_BIRTHDAYS, ON, 0, 0);
    a->limit = 1;
    EXPECT(a, "g-today@2026-06-15+0");
    assert_int_equal(a->more, 0);
    rebuild_identical(log);
    crm_log_close(log);
}

static void
test_arrivals_and_unconfirmed(void **state)
{
    (void)state;
    crm_log *log = open_log("tasks-arrive");
    int64_t made = AT(20260601, 10);
    booking(log, "g1", "b-tomorrow", "porto", "2026-06-16", "direct", made);
    booking(log, "g1", "b-in7", "lisbon", "2026-06-22", "agent", made);
    booking(log, "g2", "b-in8", "porto", "2026-06-23", "direct", made);
    booking(log, "g2", "b-confirmed", "porto", "2026-06-18", "web", made);
    booking_event(log, "g2", "booking.confirmed", "b-confirmed", made + HOUR);
    booking(log, "g3", "b-cancelled", "porto", "2026-06-18", "web", made);
    booking_event(log, "g3", "booking.cancelled", "b-cancelled", made + HOUR);
    booking(log, "g3", "b-in", "porto", "2026-06-15", "direct", made);
    fx_log_append1(log, "g3", "stay.checked_in", AT(ON, 14),
            FX_BODY(FX_S("stay_id", "s1"), FX_S("property", "porto"),
                    FX_S("booking_id", "b-in")));
    /* a confirmation recorded before its booking still counts */
    booking_event(log, "g4", "booking.confirmed", "b-early", made - HOUR);
    booking(log, "g4", "b-early", "lisbon", "2026-06-19", "app", made);
    booking(log, "g4", "b-moved", "porto", "2026-06-30", "direct", made);
    fx_log_append1(log, "g4", "booking.modified", made + DAY,
            FX_BODY(FX_S("booking_id", "b-moved"),
                    FX_S("arrival", "2026-06-17")));
    /* an older modification recorded later does not move it back */
    fx_log_append1(log, "g4", "booking.modified", made + HOUR,
            FX_BODY(FX_S("booking_id", "b-moved"),
                    FX_S("arrival", "2026-06-29")));
    EXPECT(run(log, CRM_TASKS_ARRIVALS, ON, 7, 0),
           "g1/b-tomorrow@2026-06-16:created:porto,"
           "g4/b-moved@2026-06-17:created:porto,"
           "g2/b-confirmed@2026-06-18:confirmed:porto,"
           "g4/b-early@2026-06-19:confirmed:lisbon,"
           "g1/b-in7@2026-06-22:created:lisbon");
    ask *a = run(log, CRM_TASKS_ARRIVALS, ON, 7, 0);
    a->property = "porto";
    EXPECT(a, "g1/b-tomorrow@2026-06-16:created:porto,"
              "g4/b-moved@2026-06-17:created:porto,"
              "g2/b-confirmed@2026-06-18:confirmed:porto");
    a = run(log, CRM_TASKS_ARRIVALS, ON, 7, 0);
    a->property = "nowhere";
    EXPECT(a, "");
    a = run(log, CRM_TASKS_ARRIVALS, ON, 7, 0);
    a->limit = 2;
    EXPECT(a, "g1/b-tomorrow@2026-06-16:created:porto,"
              "g4/b-moved@2026-06-17:created:porto");
    assert_int_equal(a->more, 1);

    /* online bookings still created: web, app, ota, past 24 hours */
    int64_t moment = AT(ON, 8);
    booking(log, "u1", "w-at", "porto", "2026-08-01", "web", moment - 24 * HOUR);
    booking(log, "u2", "w-past", "porto", "2026-08-01", "ota",
            moment - 25 * HOUR);
    booking(log, "u3", "w-direct", "porto", "2026-08-01", "direct",
            moment - 30 * HOUR);
    booking(log, "u4", "w-conf", "porto", "2026-08-01", "web",
            moment - 40 * HOUR);
    booking_event(log, "u4", "booking.confirmed", "w-conf", moment - HOUR);
    booking(log, "u5", "w-lisbon", "lisbon", "2026-08-01", "app",
            moment - 50 * HOUR);
    /* b-early is confirmed, b-confirmed too, b-cancelled cancelled */
    EXPECT(run(log, CRM_TASKS_UNCONFIRMED, ON, 7, moment),
           "u5/w-lisbon:50h,u2/w-past:25h");
    a = run(log, CRM_TASKS_UNCONFIRMED, ON, 7, moment);
    a->property = "porto";
    EXPECT(a, "u2/w-past:25h");
    /* an hour later the one at the threshold is past it */
    EXPECT(run(log, CRM_TASKS_UNCONFIRMED, ON, 7, moment + HOUR),
           "u5/w-lisbon:51h,u2/w-past:26h,u1/w-at:25h");
    booking_event(log, "u2", "booking.cancelled", "w-past", moment);
    EXPECT(run(log, CRM_TASKS_UNCONFIRMED, ON, 7, moment),
           "u5/w-lisbon:50h");
    rebuild_identical(log);
    crm_log_close(log);
}

static void
complaint(crm_log *log, const char *g, const char *id, const char *prop,
          int64_t at)
{
    fx_log_append1(log, g, "complaint.opened", at,
            FX_BODY(FX_S("complaint_id", id), FX_S("category", "noise"),
                    FX_S("severity", "high"), FX_S("property", prop)));
}

static void
test_complaints_sla(void **state)
{
    (void)state;
    crm_log *log = open_log("tasks-sla");
    int64_t moment = AT(ON, 8);
    complaint(log, "c1", "k-at", "porto", moment - 48 * HOUR);
    complaint(log, "c2", "k-past", "porto", moment - 49 * HOUR);
    complaint(log, "c3", "k-resolved", "porto", moment - 80 * HOUR);
    fx_log_append1(log, "c3", "complaint.resolved", moment - 2 * HOUR,
            FX_BODY(FX_S("complaint_id", "k-resolved")));
    /* resolved before it was opened (out of order): not open */
    fx_log_append1(log, "c4", "complaint.resolved", moment - 2 * HOUR,
            FX_BODY(FX_S("complaint_id", "k-early")));
    complaint(log, "c4", "k-early", "porto", moment - 90 * HOUR);
    complaint(log, "c5", "k-lisbon", "lisbon", moment - 60 * HOUR);
    EXPECT(run(log, CRM_TASKS_COMPLAINTS, ON, 7, moment),
           "c5/k-lisbon:60h,c2/k-past:49h");
    EXPECT(run(log, CRM_TASKS_COMPLAINTS, ON, 7, moment + HOUR),
           "c5/k-lisbon:61h,c2/k-past:50h,c1/k-at:49h");
    ask *a = run(log, CRM_TASKS_COMPLAINTS, ON, 7, moment);
    a->property = "porto";
    EXPECT(a, "c2/k-past:49h");
    /* the tenant's SLA in force at the moment */
    fx_log_append1(log, CRM_TENANT_STREAM, "tenant.settings_changed", AT(20260101, 9),
            FX_BODY(FX_S("effective_from", "2026-06-01"),
                    FX_I("complaint_sla_hours", 70)));
    EXPECT(run(log, CRM_TASKS_COMPLAINTS, ON, 7, moment), "");
    rebuild_identical(log);
    crm_log_close(log);
}

static void
test_dormant_high_value(void **state)
{
    (void)state;
    crm_log *log = open_log("tasks-dormant");
    /* dormant_days 180: the window is on - 210 .. on - 180 */
    checkout(log, "d-180", day_add(ON, -180));
    checkout(log, "d-179", day_add(ON, -179));
    checkout(log, "d-210", day_add(ON, -210));
    checkout(log, "d-211", day_add(ON, -211));
    checkout(log, "d-low", day_add(ON, -190));
    /* a later booking moves the guest's last activity */
    checkout(log, "d-booked", day_add(ON, -200));
    booking(log, "d-booked", "bk", "porto", "2026-09-01", "direct",
            AT(day_add(ON, -20), 10));
    const char *big[] = {"d-180", "d-179", "d-210", "d-211", "d-booked"};
    for (size_t i = 0; i < 5; i++)
        spend(log, big[i], 10000 + (int64_t)i);
    spend(log, "d-low", 100);
    for (int i = 0; i < 4; i++) {
        char g[16];
        snprintf(g, sizeof(g), "x%d", i);
        spend(log, g, 50 + i);
    }
    /* ten spenders: the top two are reached in the bucket 9216..10239 */
    EXPECT(run(log, CRM_TASKS_DORMANT, ON, 7, 0),
           "d-210@2025-11-17=10002,d-180@2025-12-17=10000");
    ask *a = run(log, CRM_TASKS_DORMANT, ON, 7, 0);
    go(a);
    assert_int_equal(a->line, 9216);
    /* a refund can take a guest below the line */
    spend(log, "d-210", -5000);
    EXPECT(run(log, CRM_TASKS_DORMANT, ON, 7, 0), "d-180@2025-12-17=10000");
    /* dormant_days from the settings in force on the day asked */
    fx_log_append1(log, CRM_TENANT_STREAM, "tenant.settings_changed", AT(20260101, 9),
            FX_BODY(FX_S("effective_from", "2026-06-01"),
                    FX_I("dormant_days", 179)));
    EXPECT(run(log, CRM_TASKS_DORMANT, ON, 7, 0),
           "d-179@2025-12-18=10001,d-180@2025-12-17=10000");
    rebuild_identical(log);
    crm_log_close(log);
}

static void
test_points_expiring(void **state)
{
    (void)state;
    crm_log *log = open_log("tasks-points");
    earn(log, "p-in", 500, "2026-06-20");
    earn(log, "p-next", 400, "2026-07-01");
    earn(log, "p-past", 300, "2026-06-10");
    earn(log, "p-two", 300, "2026-06-30");
    earn(log, "p-two", 200, "2026-06-25");
    earn(log, "p-today", 100, "2026-06-15");
    earn(log, "p-used", 250, "2026-06-16");
    fx_log_append1(log, "p-used", "loyalty.points_redeemed", AT(20260301, 10),
            FX_BODY(FX_I("points", 250)));
    EXPECT(run(log, CRM_TASKS_POINTS, ON, 7, 0),
           "p-today@2026-06-15=100,p-in@2026-06-20=500,"
           "p-two@2026-06-25=500");
    EXPECT(run(log, CRM_TASKS_POINTS, 20260701, 7, 0),
           "p-next@2026-07-01=400");
    rebuild_identical(log);
    crm_log_close(log);
}

/* Whether the bytes of s occur in any key or value of db. */
static int
db_names(MDB_txn *txn, MDB_dbi db, const char *s, int keys_only, size_t *n)
{
    MDB_cursor *cur;
    assert_int_equal(mdb_cursor_open(txn, db, &cur), 0);
    MDB_val k, v;
    int found = 0;
    *n = 0;
    size_t sl = strlen(s);
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        (*n)++;
        if (memmem(k.mv_data, k.mv_size, s, sl) ||
            (!keys_only && memmem(v.mv_data, v.mv_size, s, sl)))
            found++;
    }
    mdb_cursor_close(cur);
    return found;
}

typedef struct scan {
    const char *needle;
    int in_idx, in_guest;
    size_t n_idx, n_guest;
} scan;

static int
scan_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    scan *s = arg;
    (void)position;
    s->in_idx = db_names(txn, dbi[0], s->needle, 0, &s->n_idx);
    s->in_guest = db_names(txn, dbi[1], s->needle, 1, &s->n_guest);
    return 0;
}

static void
test_erasure(void **state)
{
    (void)state;
    crm_log *log = open_log("tasks-erase");
    const char *g = "guest-to-forget";
    born(log, g, "1990-06-16");
    consent(log, g, "email", 1, AT(20250101, 9), NULL);
    booking(log, g, "b1", "porto", "2026-06-17", "web", AT(20260601, 9));
    complaint(log, g, "k1", "porto", AT(20260601, 9));
    earn(log, g, 100, "2026-06-20");
    spend(log, g, 100000);
    checkout(log, g, 20251201);
    fx_log_append1(log, g, "charter.flight_booked", AT(20260601, 9),
            FX_BODY(FX_S("booking_id", "f1"), FX_S("flight_no", "TP123"),
                    FX_S("origin", "LIS"), FX_S("destination", "FNC"),
                    FX_S("departure_date", "2026-07-01")));
    born(log, "other", "1990-06-16");
    consent(log, "other", "email", 1, AT(20250101, 9), NULL);
    scan s = {.needle = g};
    crm_error why;
    assert_int_equal(crm_log_proj_read(log, "tasks", scan_fn, &s, &why),
                     CRM_OK);
    assert_true(s.in_idx >= 5); /* birthday, arrival, unconfirmed, ... */
    EXPECT(run(log, CRM_TASKS_BIRTHDAYS, ON, 7, 0),
           "guest-to-forget@2026-06-16+1,other@2026-06-16+1");
    fx_log_append1(log, g, "customer.erased", AT(20260610, 9),
            FX_BODY(FX_S("reason", "gdpr")));
    /* later events of the guest are ignored */
    booking(log, g, "b2", "porto", "2026-06-18", "web", AT(20260611, 9));
    assert_int_equal(crm_log_proj_read(log, "tasks", scan_fn, &s, &why),
                     CRM_OK);
    assert_int_equal(s.in_idx, 0);
    assert_int_equal(s.in_guest, 1); /* the erased marker only */
    for (int i = 0; i < CRM_TASKS_NSECTIONS; i++) {
        ask *a = run(log, i, ON, 7, AT(20260620, 9));
        const char *got = go(a);
        if (strstr(got, g))
            fail_msg("section %d names the erased guest: %s", i, got);
    }
    EXPECT(run(log, CRM_TASKS_BIRTHDAYS, ON, 7, 0), "other@2026-06-16+1");
    ask *a = run(log, CRM_TASKS_DORMANT, ON, 7, 0);
    go(a);
    assert_int_equal(a->line, 0); /* the histogram forgot the spend */
    rebuild_identical(log);
    crm_log_close(log);
}

/* Eight spend buckets per power of two: each spend lies in its bucket's
 * range, and the buckets are in the spends' order. */
static void
test_buckets(void **state)
{
    (void)state;
    assert_int_equal(tasks_bucket(0), 0);
    assert_int_equal(tasks_bucket(-5), 0);
    assert_int_equal(tasks_bucket(1), 1);
    assert_int_equal(tasks_bucket_floor(tasks_bucket(10000)), 9216);
    assert_int_equal(tasks_bucket_floor(tasks_bucket(10239)), 9216);
    assert_int_equal(tasks_bucket_floor(tasks_bucket(10240)), 10240);
    int prev = 0;
    for (int64_t s = 1; s < 70000; s += 7) {
        int b = tasks_bucket(s);
        assert_true(b >= prev && b < TASKS_BUCKETS);
        assert_true(tasks_bucket_floor(b) <= s);
        assert_int_equal(tasks_bucket(tasks_bucket_floor(b)), b);
        assert_true(b == prev || tasks_bucket_floor(b) > s - 7);
        prev = b;
    }
    int top = tasks_bucket(INT64_MAX);
    assert_true(top < TASKS_BUCKETS);
    assert_true(tasks_bucket_floor(top) > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_birthdays),
        cmocka_unit_test(test_arrivals_and_unconfirmed),
        cmocka_unit_test(test_complaints_sla),
        cmocka_unit_test(test_dormant_high_value),
        cmocka_unit_test(test_points_expiring),
        cmocka_unit_test(test_erasure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
