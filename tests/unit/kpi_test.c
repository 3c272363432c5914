/* kpi_test.c - the KPI projection on a real log, from hand-written event
 * sequences with every figure worked out by hand in the comments: NPS
 * with no survey (nil), with only detractors (-100) and over a range from
 * the summed counts; CSAT; repeat stays with stays recorded out of
 * occurred_at order (and the same set in another order giving the same
 * databases); order value, refunds that make a month negative, a rate
 * that changes mid-month, a currency without a rate, lifetime value over
 * a year boundary and with a first order recorded late; complaints
 * resolved before they were opened, never opened, twice, and the median
 * of their resolution times; bookings converted by check-ins recorded
 * before or after them; campaign messages per month; an erased guest
 * whose totals stay; that nothing personal is kept; the bad queries; and
 * one sequence applied in two chunkings into two fresh logs giving
 * byte-identical databases. Every sequence ends with a rebuild equal to
 * the inline state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "fixture.h"
#include "kpi.h"
#include "log.h"
#include "rpc.h"
#include "schema.h"
#include "settings.h"

static const crm_proj_def *const defs[] = {&crm_proj_settings, &crm_proj_kpi};

static crm_log *
open_log(const char *tag)
{
    return fx_log_open(tag, "lisbon-hotels", defs, 2);
}

#define MINUTE 60000000LL
#define HOUR 3600000000LL
#define US(day) crm_settings_day_start(day)
#define AT(day, h) (US(day) + (h)*HOUR)


static void
rebuild_identical(crm_log *log)
{
    crm_log_rebuilt out[2];
    size_t n;
    crm_error why;
    assert_int_equal(crm_log_rebuild(log, "kpi", out, &n, &why), CRM_OK);
    assert_int_equal(n, 1);
    if (!out[0].identical)
        fail_msg("rebuild differs: %s", out[0].diff);
}

/* --- asking ----------------------------------------------------------------
 */

typedef struct ask {
    crm_kpi_query q;
    int properties; /* pack the list of properties instead */
    int rc;
    msgpack_sbuffer out;
} ask;

static int
ask_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    ask *a = arg;
    (void)position;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &a->out, msgpack_sbuffer_write);
    a->rc = a->properties ? crm_kpi_properties_pack(txn, dbi[0], &pk)
                          : crm_kpi_pack(txn, dbi[0], &a->q, &pk);
    return 0;
}

static msgpack_zone zone;
static ask last;

/* The packed answer, as bytes in last.out; the rc of the pack. */
static int
ask_raw(crm_log *log, const char *property, uint32_t from, uint32_t to,
        int properties)
{
    msgpack_sbuffer_destroy(&last.out);
    memset(&last, 0, sizeof(last));
    msgpack_sbuffer_init(&last.out);
    last.q.property = property;
    last.q.property_len = property ? strlen(property) : 0;
    last.q.from = from;
    last.q.to = to;
    last.q.base_currency = "EUR";
    last.properties = properties;
    crm_error why;
    if (crm_log_proj_read(log, "kpi", ask_fn, &last, &why) != CRM_OK)
        fail_msg("read: %s", why.msg);
    return last.rc;
}

static const msgpack_object *
unpacked(void)
{
    static msgpack_object o;
    size_t off = 0;
    msgpack_zone_clear(&zone);
    assert_int_equal(
        msgpack_unpack(last.out.data, last.out.size, &off, &zone, &o),
        MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, last.out.size);
    return &o;
}

/* The KPIs of property (NULL: the tenant) from..to. */
static const msgpack_object *
kpi(crm_log *log, const char *property, uint32_t from, uint32_t to)
{
    assert_int_equal(ask_raw(log, property, from, to, 0), 0);
    const msgpack_object *o = unpacked();
    assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(o->via.map.size, 6);
    return o;
}

static const msgpack_object *
get(const msgpack_object *m, const char *k)
{
    const msgpack_object *o = crm_mp_get(m, k);
    if (o == NULL)
        fail_msg("no '%s'", k);
    return o;
}

static int64_t
vint(const msgpack_object *m, const char *k)
{
    int64_t v;
    if (crm_mp_int(get(m, k), INT64_MIN, INT64_MAX, &v) != 0)
        fail_msg("'%s' is not an integer", k);
    return v;
}

static const char *
vstr(const msgpack_object *m, const char *k)
{
    static char buf[8][80];
    static int at;
    const msgpack_object *o = get(m, k);
    if (o->type == MSGPACK_OBJECT_NIL)
        return NULL;
    if (!crm_mp_is_str(o))
        fail_msg("'%s' is not a string", k);
    char *b = buf[at++ % 8];
    snprintf(b, 80, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    return b;
}

static int
vnil(const msgpack_object *m, const char *k)
{
    return get(m, k)->type == MSGPACK_OBJECT_NIL;
}

static void
vnear(const msgpack_object *m, const char *k, double want)
{
    const msgpack_object *o = get(m, k);
    if (o->type != MSGPACK_OBJECT_FLOAT64)
        fail_msg("'%s' is not a float", k);
    if (fabs(o->via.f64 - want) > 1e-9)
        fail_msg("'%s' is %.12f, not %.12f", k, o->via.f64, want);
}

static const msgpack_object *
varr(const msgpack_object *m, const char *k, size_t n)
{
    const msgpack_object *o = get(m, k);
    assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o->via.array.size, n);
    return o->via.array.ptr;
}

/* Month row i of answer a (of n), checking its month. */
static const msgpack_object *
row(const msgpack_object *a, size_t n, size_t i, const char *month)
{
    const msgpack_object *r = &varr(a, "months", n)[i];
    assert_int_equal(r->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(r->via.map.size, 34);
    assert_string_equal(vstr(r, "month"), month);
    return r;
}

static const msgpack_object *
totals(const msgpack_object *a)
{
    const msgpack_object *t = get(a, "totals");
    assert_int_equal(t->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(t->via.map.size, 33);
    assert_null(crm_mp_get(t, "month"));
    return t;
}

/* --- what the databases hold ------------------------------------------------
 */

/* Every key and value of both databases, lengths first. */
static int
dump_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    msgpack_sbuffer *sb = arg;
    (void)position;
    for (int d = 0; d < 2; d++) {
        MDB_cursor *cur;
        int rc = mdb_cursor_open(txn, dbi[d], &cur);
        if (rc != 0)
            return rc;
        MDB_val k, v;
        msgpack_sbuffer_write(sb, "|", 1);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            uint32_t len[2] = {(uint32_t)k.mv_size, (uint32_t)v.mv_size};
            msgpack_sbuffer_write(sb, (const char *)len, sizeof(len));
            msgpack_sbuffer_write(sb, k.mv_data, k.mv_size);
            msgpack_sbuffer_write(sb, v.mv_data, v.mv_size);
        }
        mdb_cursor_close(cur);
        if (rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

static void
dump(crm_log *log, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    crm_error why;
    if (crm_log_proj_read(log, "kpi", dump_fn, sb, &why) != CRM_OK)
        fail_msg("dump: %s", why.msg);
}

static void
same_dump(crm_log *a, crm_log *b)
{
    msgpack_sbuffer x, y;
    dump(a, &x);
    dump(b, &y);
    assert_true(x.size > 2);
    assert_int_equal(x.size, y.size);
    assert_memory_equal(x.data, y.data, x.size);
    msgpack_sbuffer_destroy(&x);
    msgpack_sbuffer_destroy(&y);
}

typedef struct scan {
    const char *needle; /* fail if a key or value of db holds it */
    int db;
    const char *id; /* count this guest's keys in db 1 */
    size_t keys;
    char first_tag;
} scan;

static int
scan_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    scan *s = arg;
    (void)position;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi[s->db], &cur);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    size_t il = s->id ? strlen(s->id) : 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (s->needle) {
            size_t nl = strlen(s->needle);
            if (memmem(k.mv_data, k.mv_size, s->needle, nl) ||
                memmem(v.mv_data, v.mv_size, s->needle, nl))
                fail_msg("database %d stores \"%s\"", s->db, s->needle);
        }
        if (s->id && k.mv_size > il + 1 && memcmp(k.mv_data, s->id, il) == 0 &&
            ((const char *)k.mv_data)[il] == 0 && s->keys++ == 0)
            s->first_tag = ((const char *)k.mv_data)[il + 1];
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static scan
scan_db(crm_log *log, int db, const char *id, const char *needle)
{
    scan s = {needle, db, id, 0, 0};
    crm_error why;
    if (crm_log_proj_read(log, "kpi", scan_fn, &s, &why) != CRM_OK)
        fail_msg("scan: %s", why.msg);
    return s;
}

/* --- events ----------------------------------------------------------------
 */

static void
survey(crm_log *log, const char *g, int64_t at, const char *prop, int64_t nps,
       int64_t csat)
{
    fx_kv kv[5] = {FX_S("survey_id", "s"), FX_S("comment", "meh")};
    size_t n = 2;
    if (prop)
        kv[n++] = (fx_kv)FX_S("property", prop);
    if (nps >= 0)
        kv[n++] = (fx_kv)FX_I("nps", nps);
    if (csat)
        kv[n++] = (fx_kv)FX_I("csat", csat);
    fx_log_append1(log, g, "feedback.survey_submitted", at, fx_body(kv, n));
}

static void
checkout(crm_log *log, const char *g, const char *stay, const char *prop,
         int64_t nights, uint32_t day)
{
    fx_log_append1(log, g, "stay.checked_out", AT(day, 11),
            FX_BODY(FX_S("stay_id", stay), FX_S("property", prop),
                    FX_I("nights", nights)));
}

static void
spend(crm_log *log, const char *g, uint32_t day, const char *prop,
      int64_t amount, const char *cur)
{
    if (prop)
        fx_log_append1(log, g, "spend.recorded", AT(day, 20),
                FX_BODY(FX_I("amount", amount), FX_S("currency", cur),
                        FX_S("category", "room"), FX_S("property", prop)));
    else
        fx_log_append1(log, g, "spend.recorded", AT(day, 20),
                FX_BODY(FX_I("amount", amount), FX_S("currency", cur),
                        FX_S("category", "fnb")));
}

static void
rate(crm_log *log, const char *cur, const char *r, const char *from)
{
    fx_log_append1(log, CRM_TENANT_STREAM, "tenant.rate_set", AT(20251201, 0),
            FX_BODY(FX_S("currency", cur), FX_S("rate", r),
                    FX_S("effective_from", from)));
}

static void
opened(crm_log *log, const char *g, const char *id, const char *prop,
       int64_t at)
{
    if (prop)
        fx_log_append1(log, g, "complaint.opened", at,
                FX_BODY(FX_S("complaint_id", id), FX_S("category", "noise"),
                        FX_S("property", prop),
                        FX_S("description", "loud neighbours")));
    else
        fx_log_append1(log, g, "complaint.opened", at,
                FX_BODY(FX_S("complaint_id", id), FX_S("category", "noise")));
}

static void
resolved(crm_log *log, const char *g, const char *id, int64_t at)
{
    fx_log_append1(log, g, "complaint.resolved", at,
            FX_BODY(FX_S("complaint_id", id)));
}

static void
booked(crm_log *log, const char *g, const char *id, const char *prop,
       uint32_t day)
{
    fx_log_append1(log, g, "booking.created", AT(day, 10),
            FX_BODY(FX_S("booking_id", id), FX_S("property", prop),
                    FX_S("arrival", "2026-09-01"),
                    FX_S("departure", "2026-09-03")));
}

static void
checkin(crm_log *log, const char *g, const char *stay, const char *prop,
        const char *booking, uint32_t day)
{
    if (booking)
        fx_log_append1(log, g, "stay.checked_in", AT(day, 15),
                FX_BODY(FX_S("stay_id", stay), FX_S("property", prop),
                        FX_S("booking_id", booking)));
    else
        fx_log_append1(log, g, "stay.checked_in", AT(day, 15),
                FX_BODY(FX_S("stay_id", stay), FX_S("property", prop)));
}

static void
message(crm_log *log, const char *g, const char *type, const char *campaign,
        uint32_t day)
{
    if (strcmp(type, "marketing.message_sent") == 0)
        fx_log_append1(log, g, type, AT(day, 8),
                FX_BODY(FX_S("campaign", campaign), FX_S("channel", "email")));
    else
        fx_log_append1(log, g, type, AT(day, 8), FX_BODY(FX_S("campaign", campaign)));
}

/* --- the tests -------------------------------------------------------------
 */

static void
test_nps_and_csat(void **state)
{
    (void)state;
    crm_log *log = open_log("kpi-nps");
    /* February at lis: promoters 10, 9, 9; a passive 7; detractors 6, 0;
     * csat 5, 4, 2 */
    survey(log, "g-1", AT(20260203, 9), "lis", 10, 5);
    survey(log, "g-2", AT(20260204, 9), "lis", 9, 4);
    survey(log, "g-3", AT(20260205, 9), "lis", 9, 0);
    survey(log, "g-4", AT(20260206, 9), "lis", 7, 2);
    survey(log, "g-5", AT(20260207, 9), "lis", 6, 0);
    survey(log, "g-6", AT(20260228, 23), "lis", 0, 0);
    /* and one without a property: the tenant's only */
    survey(log, "g-7", AT(20260210, 9), NULL, 9, 0);
    /* March at opo: only detractors, and a csat without an nps */
    survey(log, "g-1", AT(20260301, 0), "opo", 5, 0);
    survey(log, "g-2", AT(20260315, 9), "opo", 6, 0);
    survey(log, "g-3", AT(20260331, 9), "opo", 0, 0);
    survey(log, "g-4", AT(20260320, 9), "opo", -1, 4);

    /* lis: nothing in January; February 100 * (3 - 2) / 6 */
    const msgpack_object *a = kpi(log, "lis", 202601, 202603);
    assert_string_equal(vstr(a, "property"), "lis");
    assert_string_equal(vstr(a, "from"), "2026-01");
    assert_string_equal(vstr(a, "to"), "2026-03");
    assert_string_equal(vstr(a, "base_currency"), "EUR");
    const msgpack_object *r = row(a, 3, 0, "2026-01");
    assert_int_equal(vint(r, "surveys"), 0);
    assert_true(vnil(r, "nps"));
    assert_int_equal(vint(r, "csat_count"), 0);
    assert_true(vnil(r, "csat_average"));
    r = row(a, 3, 1, "2026-02");
    assert_int_equal(vint(r, "surveys"), 6);
    assert_int_equal(vint(r, "promoters"), 3);
    assert_int_equal(vint(r, "passives"), 1);
    assert_int_equal(vint(r, "detractors"), 2);
    vnear(r, "nps", 100.0 / 6);
    assert_int_equal(vint(r, "csat_count"), 3);
    vnear(r, "csat_average", 11.0 / 3);
    r = row(a, 3, 2, "2026-03");
    assert_true(vnil(r, "nps"));
    r = totals(a);
    assert_int_equal(vint(r, "surveys"), 6);
    vnear(r, "nps", 100.0 / 6);
    varr(r, "campaigns", 0);

    /* opo, March: 3 detractors of 3 */
    a = kpi(log, "opo", 202603, 202603);
    r = row(a, 1, 0, "2026-03");
    assert_int_equal(vint(r, "surveys"), 3);
    assert_int_equal(vint(r, "detractors"), 3);
    vnear(r, "nps", -100.0);
    assert_int_equal(vint(r, "csat_count"), 1);
    vnear(r, "csat_average", 4.0);

    /* the tenant: February 100 * (4 - 2) / 7; March -100; over the
     * quarter from the sums, 100 * (4 - 5) / 10, not the mean of the
     * months; csat (11 + 4) / 4 */
    a = kpi(log, NULL, 202601, 202603);
    assert_true(vnil(a, "property"));
    r = row(a, 3, 1, "2026-02");
    assert_int_equal(vint(r, "surveys"), 7);
    vnear(r, "nps", 200.0 / 7);
    r = row(a, 3, 2, "2026-03");
    vnear(r, "nps", -100.0);
    r = totals(a);
    assert_int_equal(vint(r, "surveys"), 10);
    assert_int_equal(vint(r, "promoters"), 4);
    assert_int_equal(vint(r, "passives"), 1);
    assert_int_equal(vint(r, "detractors"), 5);
    vnear(r, "nps", -10.0);
    assert_int_equal(vint(r, "csat_count"), 4);
    vnear(r, "csat_average", 3.75);

    /* the properties seen, by name, with their months */
    assert_int_equal(ask_raw(log, NULL, 0, 0, 1), 0);
    const msgpack_object *p = unpacked();
    assert_int_equal(p->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(p->via.array.size, 2);
    assert_string_equal(vstr(&p->via.array.ptr[0], "property"), "lis");
    assert_string_equal(vstr(&p->via.array.ptr[0], "first"), "2026-02");
    assert_string_equal(vstr(&p->via.array.ptr[0], "last"), "2026-02");
    assert_string_equal(vstr(&p->via.array.ptr[1], "property"), "opo");
    assert_string_equal(vstr(&p->via.array.ptr[1], "first"), "2026-03");
    assert_string_equal(vstr(&p->via.array.ptr[1], "last"), "2026-03");

    /* the comment is personal: not kept */
    scan_db(log, 0, NULL, "meh");
    scan_db(log, 1, NULL, "meh");
    rebuild_identical(log);
    crm_log_close(log);
}

/* The stays of the repeat test, in the order given. */
typedef struct stay_ev {
    const char *g, *stay, *prop;
    int64_t nights;
    uint32_t day;
} stay_ev;

static const stay_ev stays[] = {
    {"g-a", "a2", "lis", 3, 20260305},
    {"g-a", "a3", "lis", 1, 20260320},
    {"g-b", "b1", "opo", 2, 20260115},
    {"g-b", "b2", "lis", 4, 20260310},
    {"g-c", "c2", "opo", 5, 20260202},
    /* recorded late: they happened first */
    {"g-a", "a1", "lis", 2, 20260110},
    {"g-c", "c1", "opo", 1, 20251220},
};
#define NSTAYS (sizeof(stays) / sizeof(stays[0]))

static void
test_repeat_stays(void **state)
{
    (void)state;
    crm_log *log = open_log("kpi-repeat");
    for (size_t i = 0; i < NSTAYS; i++)
        checkout(log, stays[i].g, stays[i].stay, stays[i].prop, stays[i].nights,
                 stays[i].day);

    /* lis: g-a in January (first), March twice (a repeater: an earlier
     * stay and two that month); g-b in March (first at lis) */
    const msgpack_object *a = kpi(log, "lis", 202601, 202603);
    const msgpack_object *r = row(a, 3, 0, "2026-01");
    assert_int_equal(vint(r, "stays"), 1);
    assert_int_equal(vint(r, "nights"), 2);
    assert_int_equal(vint(r, "stayers"), 1);
    assert_int_equal(vint(r, "repeaters"), 0);
    vnear(r, "repeat_rate", 0.0);
    r = row(a, 3, 1, "2026-02");
    assert_int_equal(vint(r, "stayers"), 0);
    assert_true(vnil(r, "repeat_rate"));
    r = row(a, 3, 2, "2026-03");
    assert_int_equal(vint(r, "stays"), 3);
    assert_int_equal(vint(r, "nights"), 8);
    assert_int_equal(vint(r, "stayers"), 2);
    assert_int_equal(vint(r, "repeaters"), 1);
    vnear(r, "repeat_rate", 0.5);
    r = totals(a);
    assert_int_equal(vint(r, "stays"), 4);
    assert_int_equal(vint(r, "stayers"), 3);
    assert_int_equal(vint(r, "repeaters"), 1);
    vnear(r, "repeat_rate", 1.0 / 3);

    /* opo: g-c in December 2025, then February, which the December stay
     * (recorded after it) makes a repeat; g-b in January */
    a = kpi(log, "opo", 202512, 202602);
    r = row(a, 3, 0, "2025-12");
    assert_int_equal(vint(r, "stayers"), 1);
    assert_int_equal(vint(r, "repeaters"), 0);
    r = row(a, 3, 1, "2026-01");
    assert_int_equal(vint(r, "stayers"), 1);
    assert_int_equal(vint(r, "repeaters"), 0);
    r = row(a, 3, 2, "2026-02");
    assert_int_equal(vint(r, "stayers"), 1);
    assert_int_equal(vint(r, "repeaters"), 1);
    vnear(r, "repeat_rate", 1.0);

    /* the tenant: December g-c; January g-a and g-b, both first;
     * February g-c again; March g-a and g-b again (g-b's first stay
     * anywhere was at opo in January) */
    a = kpi(log, NULL, 202512, 202603);
    static const int64_t want[4][4] = {
        /* stays, nights, stayers, repeaters */
        {1, 1, 1, 0},
        {2, 4, 2, 0},
        {1, 5, 1, 1},
        {3, 8, 2, 2},
    };
    static const char *const month[4] = {"2025-12", "2026-01", "2026-02",
                                         "2026-03"};
    for (size_t i = 0; i < 4; i++) {
        r = row(a, 4, i, month[i]);
        assert_int_equal(vint(r, "stays"), want[i][0]);
        assert_int_equal(vint(r, "nights"), want[i][1]);
        assert_int_equal(vint(r, "stayers"), want[i][2]);
        assert_int_equal(vint(r, "repeaters"), want[i][3]);
    }
    /* a guest counts once per month stayed: 6 guest-months, 3 repeats */
    r = totals(a);
    assert_int_equal(vint(r, "stays"), 7);
    assert_int_equal(vint(r, "nights"), 18);
    assert_int_equal(vint(r, "stayers"), 6);
    assert_int_equal(vint(r, "repeaters"), 3);
    vnear(r, "repeat_rate", 0.5);
    rebuild_identical(log);

    /* the same stays recorded in the reverse order: the same databases */
    crm_log *rev = open_log("kpi-repeat-rev");
    for (size_t i = NSTAYS; i-- > 0;)
        checkout(rev, stays[i].g, stays[i].stay, stays[i].prop, stays[i].nights,
                 stays[i].day);
    same_dump(log, rev);
    crm_log_close(rev);
    crm_log_close(log);
}

static void
test_spend_and_lifetime_value(void **state)
{
    (void)state;
    crm_log *log = open_log("kpi-spend");
    /* USD 0.9 from January, 0.8 from March 16: mid-month */
    rate(log, "USD", "0.9", "2026-01-01");
    rate(log, "USD", "0.8", "2026-03-16");
    spend(log, "g-d", 20251105, "lis", 3000, "EUR");  /* 3,000 (2025) */
    spend(log, "g-c", 20260210, "lis", 5000, "GBP");  /* no rate */
    spend(log, "g-c", 20260211, "opo", 1000, "EUR");  /* 1,000 */
    spend(log, "g-a", 20260310, "lis", 10000, "USD"); /* 9,000 */
    spend(log, "g-a", 20260320, "lis", 10000, "USD"); /* 8,000 */
    spend(log, "g-a", 20260321, "lis", 2000, "EUR");  /* 2,000 */
    spend(log, "g-b", 20260325, "lis", 333, "USD");   /* 266.4: 266 */
    spend(log, "g-b", 20260402, "lis", -5000, "USD"); /* refund -4,000 */
    spend(log, "g-a", 20260403, NULL, -20000, "EUR"); /* refund, tenant */

    /* lis: February only the GBP; March 19,266 in 4 orders (the rate
     * changed in between), g-a and g-b new; April only a refund, a
     * negative month. To date: g-d's 3,000 of 2025 and 1 spender. */
    const msgpack_object *a = kpi(log, "lis", 202602, 202604);
    const msgpack_object *r = row(a, 3, 0, "2026-02");
    assert_int_equal(vint(r, "orders"), 0);
    assert_int_equal(vint(r, "unconverted"), 1);
    assert_int_equal(vint(r, "revenue"), 0);
    assert_true(vnil(r, "average_order_value"));
    assert_int_equal(vint(r, "spenders_to_date"), 1);
    assert_int_equal(vint(r, "revenue_to_date"), 3000);
    assert_int_equal(vint(r, "lifetime_value"), 3000);
    r = row(a, 3, 1, "2026-03");
    assert_int_equal(vint(r, "orders"), 4);
    assert_int_equal(vint(r, "order_value"), 19266);
    assert_int_equal(vint(r, "refunds"), 0);
    assert_int_equal(vint(r, "revenue"), 19266);
    assert_int_equal(vint(r, "average_order_value"), 4817); /* 4,816.5 */
    assert_int_equal(vint(r, "new_spenders"), 2);
    assert_int_equal(vint(r, "spenders_to_date"), 3);
    assert_int_equal(vint(r, "revenue_to_date"), 22266);
    assert_int_equal(vint(r, "lifetime_value"), 7422);
    r = row(a, 3, 2, "2026-04");
    assert_int_equal(vint(r, "orders"), 0);
    assert_int_equal(vint(r, "refunds"), 1);
    assert_int_equal(vint(r, "refund_value"), 4000);
    assert_int_equal(vint(r, "revenue"), -4000);
    assert_true(vnil(r, "average_order_value"));
    assert_int_equal(vint(r, "new_spenders"), 0);
    assert_int_equal(vint(r, "revenue_to_date"), 18266);
    assert_int_equal(vint(r, "lifetime_value"), 6089); /* 6,088.67 */
    r = totals(a);
    assert_int_equal(vint(r, "orders"), 4);
    assert_int_equal(vint(r, "order_value"), 19266);
    assert_int_equal(vint(r, "refund_value"), 4000);
    assert_int_equal(vint(r, "revenue"), 15266);
    assert_int_equal(vint(r, "average_order_value"), 4817);
    assert_int_equal(vint(r, "unconverted"), 1);
    assert_int_equal(vint(r, "new_spenders"), 2);
    assert_int_equal(vint(r, "spenders_to_date"), 3);
    assert_int_equal(vint(r, "revenue_to_date"), 18266);
    assert_int_equal(vint(r, "lifetime_value"), 6089);

    /* the tenant: February g-c's 1,000 (to date 4,000 over 2); March
     * 23,266 over 4 = 5,816.5; April two refunds, -24,000: to date -734
     * over 4 = -183.5, halves away from zero */
    a = kpi(log, NULL, 202602, 202604);
    r = row(a, 3, 0, "2026-02");
    assert_int_equal(vint(r, "orders"), 1);
    assert_int_equal(vint(r, "unconverted"), 1);
    assert_int_equal(vint(r, "new_spenders"), 1);
    assert_int_equal(vint(r, "lifetime_value"), 2000);
    r = row(a, 3, 1, "2026-03");
    assert_int_equal(vint(r, "revenue_to_date"), 23266);
    assert_int_equal(vint(r, "lifetime_value"), 5817);
    r = row(a, 3, 2, "2026-04");
    assert_int_equal(vint(r, "refunds"), 2);
    assert_int_equal(vint(r, "refund_value"), 24000);
    assert_int_equal(vint(r, "revenue"), -24000);
    assert_int_equal(vint(r, "revenue_to_date"), -734);
    assert_int_equal(vint(r, "lifetime_value"), -184);
    r = totals(a);
    assert_int_equal(vint(r, "orders"), 5);
    assert_int_equal(vint(r, "order_value"), 20266);
    assert_int_equal(vint(r, "revenue"), -3734);
    assert_int_equal(vint(r, "average_order_value"), 4053); /* 4,053.2 */
    assert_int_equal(vint(r, "new_spenders"), 3);
    assert_int_equal(vint(r, "spenders_to_date"), 4);
    assert_int_equal(vint(r, "lifetime_value"), -184);
    /* April alone: what came before is read from 2025's year and the
     * months of 2026 before April */
    a = kpi(log, NULL, 202604, 202604);
    assert_int_equal(vint(totals(a), "revenue_to_date"), -734);
    assert_int_equal(vint(totals(a), "spenders_to_date"), 4);

    /* g-b's first order at lis, recorded late, was in January: g-b is
     * new in January, no longer in March */
    spend(log, "g-b", 20260105, "lis", 1000, "EUR");
    a = kpi(log, "lis", 202601, 202604);
    r = row(a, 4, 0, "2026-01");
    assert_int_equal(vint(r, "new_spenders"), 1);
    assert_int_equal(vint(r, "spenders_to_date"), 2);
    assert_int_equal(vint(r, "revenue_to_date"), 4000);
    assert_int_equal(vint(r, "lifetime_value"), 2000);
    r = row(a, 4, 2, "2026-03");
    assert_int_equal(vint(r, "new_spenders"), 1);
    assert_int_equal(vint(r, "spenders_to_date"), 3);
    assert_int_equal(vint(r, "lifetime_value"), 7755); /* 23,266 / 3 */
    r = totals(a);
    assert_int_equal(vint(r, "orders"), 5);
    assert_int_equal(vint(r, "order_value"), 20266);
    assert_int_equal(vint(r, "revenue"), 16266);
    assert_int_equal(vint(r, "new_spenders"), 2);
    assert_int_equal(vint(r, "spenders_to_date"), 3);
    assert_int_equal(vint(r, "revenue_to_date"), 19266);
    assert_int_equal(vint(r, "lifetime_value"), 6422);
    /* 2025 at lis: g-d alone */
    a = kpi(log, "lis", 202511, 202511);
    r = totals(a);
    assert_int_equal(vint(r, "new_spenders"), 1);
    assert_int_equal(vint(r, "lifetime_value"), 3000);
    rebuild_identical(log);
    crm_log_close(log);
}

static void
test_complaints(void **state)
{
    (void)state;
    crm_log *log = open_log("kpi-complaints");
    /* c1 3.5 hours (bucket 3); c2 49 hours (2 days: 48); resolved again
     * later, which does not count */
    opened(log, "g-a", "c1", "lis", AT(20260501, 10));
    resolved(log, "g-a", "c1", AT(20260501, 13) + 30 * MINUTE);
    opened(log, "g-a", "c2", "lis", AT(20260502, 9));
    resolved(log, "g-a", "c2", AT(20260504, 10));
    resolved(log, "g-a", "c1", AT(20260509, 10));
    /* c3: the resolution recorded before the opening, 73 hours (3 days:
     * 72) after it, in June */
    resolved(log, "g-b", "c3", AT(20260602, 9));
    opened(log, "g-b", "c3", "opo", AT(20260530, 8));
    /* c4 open, without a property; c5 resolved, never opened */
    opened(log, "g-b", "c4", NULL, AT(20260510, 9));
    resolved(log, "g-c", "c5", AT(20260511, 9));
    /* c6 half an hour (0); c7 opened in April, resolved 44 days later
     * (31 days and more: 744) */
    opened(log, "g-c", "c6", "lis", AT(20260520, 0));
    resolved(log, "g-c", "c6", AT(20260520, 0) + 30 * MINUTE);
    opened(log, "g-c", "c7", "lis", AT(20260401, 0));
    resolved(log, "g-c", "c7", AT(20260515, 0));

    /* the tenant: opened c7 in April; c1, c2, c3, c4, c6 in May;
     * resolved in May c6 (0), c1 (3), c2 (48), c7 (744): the 2nd of 4 is
     * 3; in June c3 (72); over the quarter 0, 3, 48, 72, 744: the 3rd */
    const msgpack_object *a = kpi(log, NULL, 202604, 202606);
    const msgpack_object *r = row(a, 3, 0, "2026-04");
    assert_int_equal(vint(r, "complaints_opened"), 1);
    assert_int_equal(vint(r, "complaints_resolved"), 0);
    assert_true(vnil(r, "median_resolution_hours"));
    r = row(a, 3, 1, "2026-05");
    assert_int_equal(vint(r, "complaints_opened"), 5);
    assert_int_equal(vint(r, "complaints_resolved"), 4);
    assert_int_equal(vint(r, "median_resolution_hours"), 3);
    r = row(a, 3, 2, "2026-06");
    assert_int_equal(vint(r, "complaints_opened"), 0);
    assert_int_equal(vint(r, "complaints_resolved"), 1);
    assert_int_equal(vint(r, "median_resolution_hours"), 72);
    r = totals(a);
    assert_int_equal(vint(r, "complaints_opened"), 6);
    assert_int_equal(vint(r, "complaints_resolved"), 5);
    assert_int_equal(vint(r, "median_resolution_hours"), 48);

    /* lis: c7 opened in April; c1, c2, c6 in May, and the four resolved
     * there; opo: c3 opened in May, resolved in June */
    a = kpi(log, "lis", 202604, 202606);
    r = row(a, 3, 0, "2026-04");
    assert_int_equal(vint(r, "complaints_opened"), 1);
    r = row(a, 3, 1, "2026-05");
    assert_int_equal(vint(r, "complaints_opened"), 3);
    assert_int_equal(vint(r, "complaints_resolved"), 4);
    assert_int_equal(vint(r, "median_resolution_hours"), 3);
    r = row(a, 3, 2, "2026-06");
    assert_int_equal(vint(r, "complaints_resolved"), 0);
    a = kpi(log, "opo", 202605, 202606);
    r = row(a, 2, 0, "2026-05");
    assert_int_equal(vint(r, "complaints_opened"), 1);
    assert_int_equal(vint(r, "complaints_resolved"), 0);
    assert_true(vnil(r, "median_resolution_hours"));
    r = row(a, 2, 1, "2026-06");
    assert_int_equal(vint(r, "complaints_resolved"), 1);
    assert_int_equal(vint(r, "median_resolution_hours"), 72);

    /* the description is personal: not kept */
    scan_db(log, 0, NULL, "neighbours");
    scan_db(log, 1, NULL, "neighbours");
    rebuild_identical(log);
    crm_log_close(log);
}

static void
test_booking_conversion(void **state)
{
    (void)state;
    crm_log *log = open_log("kpi-conversion");
    /* b1 created in July, checked in in August: July's */
    booked(log, "g-a", "b1", "lis", 20260705);
    checkin(log, "g-a", "s1", "lis", "b1", 20260801);
    /* b2 cancelled, never checked in */
    booked(log, "g-a", "b2", "lis", 20260710);
    fx_log_append1(log, "g-a", "booking.cancelled", AT(20260711, 9),
            FX_BODY(FX_S("booking_id", "b2")));
    /* b3: the check-in recorded before the booking */
    checkin(log, "g-b", "s3", "opo", "b3", 20260820);
    booked(log, "g-b", "b3", "opo", 20260725);
    /* b4 at opo, checked in at lis (the booking's property counts), and
     * the check-in recorded twice */
    booked(log, "g-b", "b4", "opo", 20260802);
    checkin(log, "g-b", "s4", "lis", "b4", 20260803);
    checkin(log, "g-b", "s4", "lis", "b4", 20260803);
    /* a walk-in, and a check-in of a booking never made */
    checkin(log, "g-c", "s5", "lis", NULL, 20260805);
    checkin(log, "g-c", "s6", "lis", "b9", 20260806);

    /* the tenant: July b1, b2, b3 of which b1 and b3 stayed; August b4 */
    const msgpack_object *a = kpi(log, NULL, 202607, 202608);
    const msgpack_object *r = row(a, 2, 0, "2026-07");
    assert_int_equal(vint(r, "bookings"), 3);
    assert_int_equal(vint(r, "bookings_converted"), 2);
    vnear(r, "conversion_rate", 2.0 / 3);
    r = row(a, 2, 1, "2026-08");
    assert_int_equal(vint(r, "bookings"), 1);
    assert_int_equal(vint(r, "bookings_converted"), 1);
    vnear(r, "conversion_rate", 1.0);
    r = totals(a);
    assert_int_equal(vint(r, "bookings"), 4);
    assert_int_equal(vint(r, "bookings_converted"), 3);
    vnear(r, "conversion_rate", 0.75);

    /* lis: b1, b2 in July; nothing booked in August */
    a = kpi(log, "lis", 202607, 202608);
    r = row(a, 2, 0, "2026-07");
    assert_int_equal(vint(r, "bookings"), 2);
    assert_int_equal(vint(r, "bookings_converted"), 1);
    vnear(r, "conversion_rate", 0.5);
    r = row(a, 2, 1, "2026-08");
    assert_int_equal(vint(r, "bookings"), 0);
    assert_int_equal(vint(r, "bookings_converted"), 0);
    assert_true(vnil(r, "conversion_rate"));
    /* opo: b3 in July, b4 in August, both stayed */
    a = kpi(log, "opo", 202607, 202608);
    vnear(row(a, 2, 0, "2026-07"), "conversion_rate", 1.0);
    r = row(a, 2, 1, "2026-08");
    assert_int_equal(vint(r, "bookings"), 1);
    assert_int_equal(vint(r, "bookings_converted"), 1);
    rebuild_identical(log);
    crm_log_close(log);
}

static void
check_campaign(const msgpack_object *c, const char *name, int64_t sent,
               int64_t opened_n, int64_t clicked)
{
    assert_string_equal(vstr(c, "campaign"), name);
    assert_int_equal(vint(c, "sent"), sent);
    assert_int_equal(vint(c, "opened"), opened_n);
    assert_int_equal(vint(c, "clicked"), clicked);
}

static void
test_campaigns(void **state)
{
    (void)state;
    crm_log *log = open_log("kpi-campaigns");
    const char *sent = "marketing.message_sent",
               *open = "marketing.message_opened",
               *click = "marketing.message_clicked";
    message(log, "g-a", sent, "spring", 20260302);
    message(log, "g-b", sent, "spring", 20260302);
    message(log, "g-c", sent, "spring", 20260302);
    message(log, "g-a", sent, "autumn", 20260330);
    message(log, "g-a", open, "spring", 20260303);
    message(log, "g-b", open, "spring", 20260304);
    message(log, "g-b", click, "spring", 20260304);
    /* opened in April: April's */
    message(log, "g-c", open, "spring", 20260401);
    message(log, "g-c", click, "spring", 20260401);

    const msgpack_object *a = kpi(log, NULL, 202603, 202605);
    const msgpack_object *r = row(a, 3, 0, "2026-03");
    assert_int_equal(vint(r, "messages_sent"), 4);
    assert_int_equal(vint(r, "messages_opened"), 2);
    assert_int_equal(vint(r, "messages_clicked"), 1);
    const msgpack_object *c = varr(r, "campaigns", 2);
    check_campaign(&c[0], "autumn", 1, 0, 0);
    check_campaign(&c[1], "spring", 3, 2, 1);
    r = row(a, 3, 1, "2026-04");
    assert_int_equal(vint(r, "messages_sent"), 0);
    assert_int_equal(vint(r, "messages_opened"), 1);
    assert_int_equal(vint(r, "messages_clicked"), 1);
    c = varr(r, "campaigns", 1);
    check_campaign(&c[0], "spring", 0, 1, 1);
    r = row(a, 3, 2, "2026-05");
    varr(r, "campaigns", 0);
    r = totals(a);
    assert_int_equal(vint(r, "messages_sent"), 4);
    assert_int_equal(vint(r, "messages_opened"), 3);
    assert_int_equal(vint(r, "messages_clicked"), 2);
    c = varr(r, "campaigns", 2);
    check_campaign(&c[0], "autumn", 1, 0, 0);
    check_campaign(&c[1], "spring", 3, 3, 2);
    rebuild_identical(log);
    crm_log_close(log);
}

/* A guest who does a bit of everything at lis. */
static void
busy_guest(crm_log *log, const char *g)
{
    survey(log, g, AT(20260110, 9), "lis", 9, 5);
    booked(log, g, "b1", "lis", 20260105);
    checkin(log, g, "s1", "lis", "b1", 20260201);
    checkout(log, g, "s1", "lis", 3, 20260204);
    checkout(log, g, "s2", "lis", 1, 20260220);
    spend(log, g, 20260204, "lis", 45000, "EUR");
    spend(log, g, 20260205, "lis", -5000, "EUR");
    opened(log, g, "c1", "lis", AT(20260203, 8));
    resolved(log, g, "c1", AT(20260203, 12));
    message(log, g, "marketing.message_sent", "winter", 20260115);
}

static void
test_erasure_keeps_totals(void **state)
{
    (void)state;
    crm_log *log = open_log("kpi-erase");
    busy_guest(log, "g-6");
    busy_guest(log, "g-60"); /* an id the other is a prefix of */

    /* both guests: 2 promoters, 2 bookings both converted, 4 stays of 2
     * guests in February, one of them a repeat each, 80,000 net */
    const msgpack_object *a = kpi(log, "lis", 202601, 202602);
    const msgpack_object *r = totals(a);
    assert_int_equal(vint(r, "promoters"), 2);
    assert_int_equal(vint(r, "bookings_converted"), 2);
    assert_int_equal(vint(r, "stays"), 4);
    assert_int_equal(vint(r, "stayers"), 2);
    assert_int_equal(vint(r, "repeaters"), 2);
    assert_int_equal(vint(r, "revenue"), 80000);
    assert_int_equal(vint(r, "lifetime_value"), 40000);
    assert_int_equal(vint(r, "complaints_resolved"), 2);
    assert_int_equal(vint(r, "median_resolution_hours"), 4);
    msgpack_sbuffer lis, tenant;
    assert_int_equal(ask_raw(log, "lis", 202512, 202603, 0), 0);
    msgpack_sbuffer_init(&lis);
    msgpack_sbuffer_write(&lis, last.out.data, last.out.size);
    assert_int_equal(ask_raw(log, NULL, 202512, 202603, 0), 0);
    msgpack_sbuffer_init(&tenant);
    msgpack_sbuffer_write(&tenant, last.out.data, last.out.size);

    fx_log_append1(log, "g-6", "customer.erased", AT(20260301, 9),
            FX_BODY(FX_S("reason", "gdpr")));
    /* what comes after the erasure does not count */
    checkout(log, "g-6", "s3", "lis", 2, 20260225);
    spend(log, "g-6", 20260226, "lis", 1000, "EUR");

    /* every figure as it was, byte for byte */
    assert_int_equal(ask_raw(log, "lis", 202512, 202603, 0), 0);
    assert_int_equal(last.out.size, lis.size);
    assert_memory_equal(last.out.data, lis.data, lis.size);
    assert_int_equal(ask_raw(log, NULL, 202512, 202603, 0), 0);
    assert_int_equal(last.out.size, tenant.size);
    assert_memory_equal(last.out.data, tenant.data, tenant.size);

    /* of g-6 only the marker is left; g-60 keeps its state; no guest is
     * named in the aggregates */
    scan s = scan_db(log, 1, "g-6", NULL);
    assert_int_equal(s.keys, 1);
    assert_int_equal(s.first_tag, 'x');
    assert_true(scan_db(log, 1, "g-60", NULL).keys > 4);
    scan_db(log, 0, NULL, "g-6");
    rebuild_identical(log);
    s = scan_db(log, 1, "g-6", NULL);
    assert_int_equal(s.keys, 1);
    assert_int_equal(ask_raw(log, "lis", 202512, 202603, 0), 0);
    assert_memory_equal(last.out.data, lis.data, lis.size);
    msgpack_sbuffer_destroy(&lis);
    msgpack_sbuffer_destroy(&tenant);
    crm_log_close(log);
}

static void
test_bad_queries(void **state)
{
    (void)state;
    crm_log *log = open_log("kpi-bad");
    assert_int_equal(ask_raw(log, NULL, 202603, 202602, 0), EINVAL);
    assert_int_equal(ask_raw(log, NULL, 202600, 202602, 0), EINVAL);
    assert_int_equal(ask_raw(log, NULL, 202601, 202613, 0), EINVAL);
    /* 121 months */
    assert_int_equal(ask_raw(log, NULL, 201601, 202601, 0), EINVAL);
    assert_int_equal(ask_raw(log, NULL, 201602, 202601, 0), 0);
    char big[66];
    memset(big, 'p', 65);
    big[65] = '\0';
    assert_int_equal(ask_raw(log, big, 202601, 202601, 0), EINVAL);
    /* an empty log: zeros and nils */
    const msgpack_object *a = kpi(log, NULL, 202512, 202601);
    const msgpack_object *r = row(a, 2, 0, "2025-12");
    assert_int_equal(vint(r, "stays"), 0);
    assert_true(vnil(r, "lifetime_value"));
    assert_true(vnil(totals(a), "nps"));
    assert_int_equal(ask_raw(log, NULL, 0, 0, 1), 0);
    assert_int_equal(unpacked()->via.array.size, 0);

    assert_int_equal(crm_kpi_month("2026-03", 7), 202603);
    assert_int_equal(crm_kpi_month("2026-13", 7), 0);
    assert_int_equal(crm_kpi_month("2026-00", 7), 0);
    assert_int_equal(crm_kpi_month("2026-3", 6), 0);
    assert_int_equal(crm_kpi_month("2026/03", 7), 0);
    assert_int_equal(crm_kpi_month_of(AT(20260331, 23) + 59 * MINUTE), 202603);
    assert_int_equal(crm_kpi_month_of(AT(20260401, 0)), 202604);
    crm_log_close(log);
}

/* --- one sequence, two chunkings -------------------------------------------
 */

#define SEQ 240

static crm_event_in seq[SEQ];
static size_t nseq;

static void
add(const char *stream, const char *type, int64_t at, const msgpack_object *b)
{
    assert_true(nseq < SEQ);
    fx_event(&seq[nseq], stream, type, b);
    seq[nseq++].occurred_at = at;
}

/* Everything the projection folds, for 6 guests over 2026, some of it
 * back-dated, a rate changing mid-way and one guest erased. */
static void
make_sequence(void)
{
    static const char *const g[] = {"g-0", "g-1", "g-2", "g-3", "g-4", "g-5"};
    static const char *const props[] = {"lis", "opo", "faro"};
    static char ids[SEQ][12];
    nseq = 0;
    add(CRM_TENANT_STREAM, "tenant.rate_set", AT(20251201, 0),
        FX_BODY(FX_S("currency", "USD"), FX_S("rate", "0.91"),
                FX_S("effective_from", "2026-01-01")));
    for (int i = 0; nseq < SEQ - 8; i++) {
        /* a guest's block of 8: its booking before its check-in, its
         * complaint before the resolution */
        const char *guest = g[(i / 8) % 6], *prop = props[i % 3];
        /* every seventh back-dated by about a quarter */
        uint32_t day =
            20260101 + (uint32_t)((i / 5) % 12) * 100 + (uint32_t)(i % 27);
        if (i % 7 == 6 && day / 100 % 100 > 3)
            day -= 300;
        int64_t at = AT(day, i % 24);
        snprintf(ids[i], sizeof(ids[i]), "x%d", i / 3);
        switch (i % 8) {
        case 0:
            add(guest, "booking.created", at,
                FX_BODY(FX_S("booking_id", ids[i]), FX_S("property", prop),
                        FX_S("arrival", "2026-12-01"),
                        FX_S("departure", "2026-12-02")));
            break;
        case 1:
            add(guest, "stay.checked_in", at,
                FX_BODY(FX_S("stay_id", "s"), FX_S("property", prop),
                        FX_S("booking_id",
                             ids[i >= 9 && i % 3 == 0 ? i - 9 : i - 1])));
            break;
        case 2:
            add(guest, "stay.checked_out", at,
                FX_BODY(FX_S("stay_id", "s"), FX_S("property", prop),
                        FX_I("nights", i % 5)));
            break;
        case 3:
            add(guest, "spend.recorded", at,
                FX_BODY(FX_I("amount", (i / 8 % 3 == 2 ? -1 : 1) * 100 * i),
                        FX_S("currency", i / 8 % 2 ? "USD" : "EUR"),
                        FX_S("category", "room"), FX_S("property", prop)));
            break;
        case 4:
            add(guest, "feedback.survey_submitted", at,
                FX_BODY(FX_S("property", prop), FX_I("nps", i % 11),
                        FX_I("csat", 1 + i % 5)));
            break;
        case 5:
            add(guest, "complaint.opened", at,
                FX_BODY(FX_S("complaint_id", ids[i]), FX_S("category", "x"),
                        FX_S("property", prop)));
            break;
        case 6:
            add(guest, "complaint.resolved", at + (i % 50) * HOUR,
                FX_BODY(FX_S("complaint_id", ids[i - 1])));
            break;
        default:
            add(guest,
                i % 3 == 0   ? "marketing.message_sent"
                : i % 3 == 1 ? "marketing.message_opened"
                             : "marketing.message_clicked",
                at,
                i % 3 == 0
                    ? FX_BODY(FX_S("campaign", prop), FX_S("channel", "sms"))
                    : FX_BODY(FX_S("campaign", prop)));
            break;
        }
        if (i == 120) {
            add(CRM_TENANT_STREAM, "tenant.rate_set", AT(20260601, 0),
                FX_BODY(FX_S("currency", "USD"), FX_S("rate", "0.87"),
                        FX_S("effective_from", "2026-06-15")));
            add("g-5", "customer.erased", AT(20260701, 0),
                FX_BODY(FX_S("reason", "request")));
        }
    }
}

/* Appends the sequence in batches of chunk events (one transaction
 * each). */
static void
apply_sequence(crm_log *log, size_t chunk)
{
    for (size_t i = 0; i < nseq; i += chunk) {
        size_t n = nseq - i < chunk ? nseq - i : chunk;
        crm_batch *b;
        crm_error why;
        if (crm_batch_prepare(&seq[i], n, NULL, 0, "key-1", 5, &b, &why) !=
            CRM_OK)
            fail_msg("prepare: %s", why.msg);
        if (crm_log_append(log, b, &why) != CRM_OK)
            fail_msg("append: %s", why.msg);
        crm_batch_free(b);
    }
}

static void
test_two_chunkings_identical(void **state)
{
    (void)state;
    make_sequence();
    crm_log *one = open_log("kpi-chunk-1"), *many = open_log("kpi-chunk-37");
    apply_sequence(one, 1);
    apply_sequence(many, 37);
    fx_reset();
    same_dump(one, many);
    /* and each is what a rebuild makes of it */
    rebuild_identical(one);
    rebuild_identical(many);
    same_dump(one, many);
    /* something of everything is there */
    const msgpack_object *t = totals(kpi(one, NULL, 202510, 202612));
    assert_true(vint(t, "bookings") > 0);
    assert_true(vint(t, "bookings_converted") > 0);
    assert_true(vint(t, "stayers") > 0);
    assert_true(vint(t, "repeaters") > 0);
    assert_true(vint(t, "orders") > 0);
    assert_true(vint(t, "refunds") > 0);
    assert_true(vint(t, "surveys") > 0);
    assert_true(vint(t, "complaints_resolved") > 0);
    assert_true(vint(t, "messages_clicked") > 0);
    varr(t, "campaigns", 3);
    crm_log_close(one);
    crm_log_close(many);
}

static int
setup(void **state)
{
    (void)state;
    msgpack_zone_init(&zone, 4096);
    msgpack_sbuffer_init(&last.out);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&last.out);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nps_and_csat),
        cmocka_unit_test(test_repeat_stays),
        cmocka_unit_test(test_spend_and_lifetime_value),
        cmocka_unit_test(test_complaints),
        cmocka_unit_test(test_booking_conversion),
        cmocka_unit_test(test_campaigns),
        cmocka_unit_test(test_erasure_keeps_totals),
        cmocka_unit_test(test_bad_queries),
        cmocka_unit_test(test_two_chunkings_identical),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
