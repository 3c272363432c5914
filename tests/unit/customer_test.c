/* customer_test.c - the customer-360 projection on a real log, from
 * hand-written event sequences with the expected view written out: the
 * profile as the latest event set it (also when recorded out of order),
 * a field whose record cannot be read, consents changed twice, a
 * preference replaced, touchpoints newest first and limited; bookings
 * with a cancellation after the check-in, no-shows of both kinds, a stay
 * recorded late; spend at each day's rate with a refund and a currency
 * without a rate; a guest with no stays; a complaint past its SLA, then
 * resolved; an erasure that leaves only the marker; the churn of a
 * lapsed guest with a detractor NPS; that no personal value is stored;
 * and a rebuild equal to the inline state after each sequence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "customer.h"
#include "fixture.h"
#include "log.h"
#include "rpc.h"
#include "schema.h"
#include "settings.h"

static const crm_proj_def *const defs[] = {&crm_proj_settings,
                                           &crm_proj_customer};

static crm_log *
open_log(const char *tag)
{
    return fx_log_open(tag, "lisbon-hotels", defs, 2);
}

#define HOUR 3600000000LL
#define US(day) crm_settings_day_start(day)
#define AT(day, h) (US(day) + (h)*HOUR)


/* --- reading the view ----------------------------------------------------- */

typedef struct reader {
    crm_log *log;
    MDB_txn *txn;
    msgpack_zone zone;
    uint64_t fail; /* a position whose record cannot be read */
} reader;

static int
fetch(void *arg, uint64_t position, crm_record *out)
{
    reader *rd = arg;
    const void *rec;
    size_t len;
    crm_error why;
    if (position == rd->fail ||
        crm_log_record_at(rd->log, rd->txn, position, &rec, &len) != 0)
        return -1;
    msgpack_zone_clear(&rd->zone);
    return crm_record_decode(rec, len, &rd->zone, out, &why) == CRM_OK ? 0 : -1;
}

typedef struct ask {
    const char *id;
    int64_t now;
    size_t touchpoints;
    uint64_t fail;
    crm_log *log;
    int rc;
    crm_customer_churn churn;
    msgpack_sbuffer view;
} ask;

static int
ask_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    ask *a = arg;
    (void)position;
    /* the settings in force today, as a handler reads them */
    const crm_proj_set *set = crm_log_projections(a->log);
    MDB_dbi sd[CRM_PROJ_DBS_MAX];
    uint64_t sp;
    crm_settings st;
    int rc = crm_proj_live(set, txn, (size_t)crm_proj_index(set, "settings"),
                           sd, &sp);
    if (rc == 0)
        rc = crm_settings_at(txn, sd[0], crm_settings_day_of(a->now),
                             UINT64_MAX, &st);
    if (rc != 0)
        return rc;
    reader rd = {.log = a->log, .txn = txn, .fail = a->fail};
    msgpack_zone_init(&rd.zone, 4096);
    crm_customer_query q = {.now_us = a->now,
                            .settings = &st,
                            .fetch = fetch,
                            .fetch_arg = &rd,
                            .touchpoints = a->touchpoints,
                            .extra = 1};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &a->view, msgpack_sbuffer_write);
    size_t n = strlen(a->id);
    a->rc = crm_customer_pack(txn, dbi[0], a->id, n, &q, &pk);
    if (a->rc == 0) {
        crm_mp_pack_cstr(&pk, "loyalty"); /* the caller's extra entry */
        msgpack_pack_nil(&pk);
        a->rc = crm_customer_churn_get(txn, dbi[0], a->id, n, &q, &a->churn);
    }
    msgpack_zone_destroy(&rd.zone);
    return 0;
}

static msgpack_zone zone;
static msgpack_object view;
static ask last;

/* Asks the view of id on now; its map is in view. The rc of the pack. */
static int
see_with(crm_log *log, const char *id, int64_t now, size_t touchpoints,
         uint64_t fail)
{
    msgpack_sbuffer_destroy(&last.view);
    memset(&last, 0, sizeof(last));
    msgpack_sbuffer_init(&last.view);
    last.id = id;
    last.now = now;
    last.touchpoints = touchpoints;
    last.fail = fail;
    last.log = log;
    crm_error why;
    if (crm_log_proj_read(log, "customer", ask_fn, &last, &why) != CRM_OK)
        fail_msg("read: %s", why.msg);
    msgpack_zone_clear(&zone);
    view.type = MSGPACK_OBJECT_NIL;
    size_t off = 0;
    if (last.rc == 0) {
        assert_int_equal(
            msgpack_unpack(last.view.data, last.view.size, &off, &zone, &view),
            MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, last.view.size);
        assert_int_equal(view.type, MSGPACK_OBJECT_MAP);
        assert_int_equal(view.via.map.size, 13);
        /* the caller's entry comes last */
        const msgpack_object *k = &view.via.map.ptr[12].key;
        assert_true(crm_mp_is_str(k) && k->via.str.size == 7 &&
                    memcmp(k->via.str.ptr, "loyalty", 7) == 0);
    }
    return last.rc;
}

static void
see(crm_log *log, const char *id, int64_t now)
{
    assert_int_equal(see_with(log, id, now, 20, 0), 0);
}

static const msgpack_object *
get(const msgpack_object *m, const char *k)
{
    const msgpack_object *o = crm_mp_get(m, k);
    if (o == NULL)
        fail_msg("view has no '%s'", k);
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
    static char buf[8][160];
    static int at;
    const msgpack_object *o = get(m, k);
    if (o->type == MSGPACK_OBJECT_NIL)
        return NULL;
    if (!crm_mp_is_str(o))
        fail_msg("'%s' is not a string", k);
    char *b = buf[at++ % 8];
    snprintf(b, 160, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    return b;
}

static int
vbool(const msgpack_object *m, const char *k)
{
    const msgpack_object *o = get(m, k);
    assert_int_equal(o->type, MSGPACK_OBJECT_BOOLEAN);
    return o->via.boolean;
}

static double
vdouble(const msgpack_object *m, const char *k)
{
    const msgpack_object *o = get(m, k);
    assert_true(o->type == MSGPACK_OBJECT_FLOAT64);
    return o->via.f64;
}

static int
vnil(const msgpack_object *m, const char *k)
{
    return get(m, k)->type == MSGPACK_OBJECT_NIL;
}

static const msgpack_object *
varr(const msgpack_object *m, const char *k, size_t n)
{
    const msgpack_object *o = get(m, k);
    assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o->via.array.size, n);
    return o->via.array.ptr;
}

static const msgpack_object *
vmap(const msgpack_object *m, const char *k, size_t n)
{
    const msgpack_object *o = get(m, k);
    assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(o->via.map.size, n);
    return o;
}

/* The names of array k, comma-separated. */
static const char *
vnames(const msgpack_object *m, const char *k)
{
    static char out[256];
    const msgpack_object *o = get(m, k);
    assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
    out[0] = '\0';
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *s = &o->via.array.ptr[i];
        assert_true(crm_mp_is_str(s));
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%.*s",
                 i ? "," : "", (int)s->via.str.size, s->via.str.ptr);
    }
    return out;
}

static void
rebuild_identical(crm_log *log)
{
    crm_log_rebuilt out[2];
    size_t n;
    crm_error why;
    assert_int_equal(crm_log_rebuild(log, "customer", out, &n, &why), CRM_OK);
    assert_int_equal(n, 1);
    if (!out[0].identical)
        fail_msg("rebuild differs: %s", out[0].diff);
}

/* --- what the database holds ---------------------------------------------- */

typedef struct scan {
    const char *id;     /* count this guest's keys (NULL: none) */
    const char *needle; /* fail if any key or value holds it */
    size_t keys;
    char first_tag;
} scan;

static int
scan_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    scan *s = arg;
    (void)position;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi[0], &cur);
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
                fail_msg("the projection stores \"%s\"", s->needle);
        }
        if (s->id && k.mv_size > il + 1 && memcmp(k.mv_data, s->id, il) == 0 &&
            ((const char *)k.mv_data)[il] == 0) {
            if (s->keys++ == 0)
                s->first_tag = ((const char *)k.mv_data)[il + 1];
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static scan
scan_db(crm_log *log, const char *id, const char *needle)
{
    scan s = {id, needle, 0, 0};
    crm_error why;
    if (crm_log_proj_read(log, "customer", scan_fn, &s, &why) != CRM_OK)
        fail_msg("scan: %s", why.msg);
    return s;
}

/* What find hits are told of g-1. */
typedef struct brief {
    uint32_t last;
    uint64_t first, family;
    int erased, rc;
} brief;

static int
brief_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t pos)
{
    brief *b = arg;
    (void)pos;
    b->rc = crm_customer_brief(txn, dbi[0], "g-1", 3, &b->last, &b->first,
                               &b->family, &b->erased);
    return 0;
}

/* --- sequences ------------------------------------------------------------ */

static void
test_profile_consents_preferences(void **state)
{
    (void)state;
    crm_log *log = open_log("cust-profile");
    uint64_t reg =
        fx_log_append1(log, "g-1", "customer.registered", AT(20260110, 9),
                FX_BODY(FX_S("first_name", "Ann"), FX_S("last_name", "Lee"),
                        FX_S("email", "ann@example.com"),
                        FX_S("nationality", "PT"), FX_S("language", "pt-PT")));
    fx_log_append1(log, "g-1", "customer.consent_changed", AT(20260110, 9),
            FX_BODY(FX_S("channel", "email"), FX_B("granted", 1),
                    FX_S("purpose", "marketing")));
    fx_log_append1(log, "g-1", "customer.consent_changed", AT(20260111, 9),
            FX_BODY(FX_S("channel", "sms"), FX_B("granted", 1),
                    FX_S("purpose", "service")));
    fx_log_append1(log, "g-1", "customer.preference_set", AT(20260110, 10),
            FX_BODY(FX_S("category", "pillow"), FX_S("value", "firm")));
    fx_log_append1(log, "g-1", "customer.preference_set", AT(20260110, 11),
            FX_BODY(FX_S("category", "diet"), FX_S("value", "vegetarian")));
    uint64_t soft =
        fx_log_append1(log, "g-1", "customer.preference_set", AT(20260210, 8),
                FX_BODY(FX_S("category", "pillow"), FX_S("value", "soft")));
    uint64_t mail =
        fx_log_append1(log, "g-1", "customer.profile_updated", AT(20260301, 12),
                FX_BODY(FX_S("email", "ann.lee@example.com")));
    /* recorded after, but it happened in February: the March one stays */
    uint64_t old =
        fx_log_append1(log, "g-1", "customer.profile_updated", AT(20260201, 12),
                FX_BODY(FX_S("email", "old@example.com")));
    /* withdrawn; no purpose means marketing */
    uint64_t wd =
        fx_log_append1(log, "g-1", "customer.consent_changed", AT(20260401, 15),
                FX_BODY(FX_S("channel", "email"), FX_B("granted", 0)));

    see(log, "g-1", AT(20260402, 0));
    assert_string_equal(vstr(&view, "id"), "g-1");
    assert_false(vbool(&view, "erased"));
    assert_string_equal(vstr(&view, "registered_on"), "2026-01-10");
    const msgpack_object *p = vmap(&view, "profile", 5);
    assert_string_equal(vstr(p, "first_name"), "Ann");
    assert_string_equal(vstr(p, "last_name"), "Lee");
    assert_string_equal(vstr(p, "email"), "ann.lee@example.com");
    assert_string_equal(vstr(p, "nationality"), "PT");
    assert_string_equal(vstr(p, "language"), "pt-PT");
    const msgpack_object *c = varr(&view, "consents", 2);
    assert_string_equal(vstr(&c[0], "channel"), "email");
    assert_string_equal(vstr(&c[0], "purpose"), "marketing");
    assert_false(vbool(&c[0], "granted"));
    assert_string_equal(vstr(&c[0], "on"), "2026-04-01");
    assert_string_equal(vstr(&c[1], "channel"), "sms");
    assert_string_equal(vstr(&c[1], "purpose"), "service");
    assert_true(vbool(&c[1], "granted"));
    assert_string_equal(vstr(&c[1], "on"), "2026-01-11");
    p = vmap(&view, "preferences", 2);
    assert_string_equal(vstr(p, "pillow"), "soft");
    assert_string_equal(vstr(p, "diet"), "vegetarian");
    assert_string_equal(vstr(&view, "base_currency"), "EUR");

    /* 9 events; the 3 latest by occurred_at, newest first */
    assert_int_equal(see_with(log, "g-1", AT(20260402, 0), 3, 0), 0);
    const msgpack_object *t = varr(&view, "touchpoints", 3);
    assert_int_equal(vint(&t[0], "position"), (int64_t)wd);
    assert_string_equal(vstr(&t[0], "type"), "customer.consent_changed");
    assert_int_equal(vint(&t[0], "occurred_at"), AT(20260401, 15));
    assert_string_equal(vstr(&t[0], "channel"), "email");
    assert_int_equal(vint(&t[1], "position"), (int64_t)mail);
    assert_int_equal(vint(&t[2], "position"), (int64_t)soft);
    assert_string_equal(vstr(&t[2], "category"), "pillow");
    assert_null(crm_mp_get(&t[2], "value")); /* personal: never shown here */
    assert_int_equal(see_with(log, "g-1", AT(20260402, 0), 20, 0), 0);
    t = varr(&view, "touchpoints", 9);
    assert_int_equal(vint(&t[3], "position"), (int64_t)old);

    /* the registration's record cannot be read: its fields are left out */
    assert_int_equal(see_with(log, "g-1", AT(20260402, 0), 20, reg), 0);
    p = vmap(&view, "profile", 1);
    assert_string_equal(vstr(p, "email"), "ann.lee@example.com");

    /* what find hits are told */
    crm_error why;
    brief b = {0};
    assert_int_equal(crm_log_proj_read(log, "customer", brief_fn, &b, &why),
                     CRM_OK);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.last, 0);
    assert_int_equal(b.first, reg);
    assert_int_equal(b.family, reg);
    assert_false(b.erased);

    /* no personal value is kept, only where it is */
    const char *pii[] = {"Ann",  "Lee",  "example.com",
                         "firm", "soft", "vegetarian"};
    for (size_t i = 0; i < sizeof(pii) / sizeof(pii[0]); i++)
        scan_db(log, NULL, pii[i]);
    assert_int_equal(see_with(log, "nobody", AT(20260402, 0), 20, 0),
                     MDB_NOTFOUND);
    rebuild_identical(log);
    crm_log_close(log);
}

static void
booking(crm_log *log, const char *g, const char *id, const char *prop,
        const char *arrival, const char *departure, const char *channel,
        uint32_t made)
{
    fx_log_append1(log, g, "booking.created", AT(made, 10),
            FX_BODY(FX_S("booking_id", id), FX_S("property", prop),
                    FX_S("arrival", arrival), FX_S("departure", departure),
                    FX_S("channel", channel)));
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
test_bookings_and_stays(void **state)
{
    (void)state;
    crm_log *log = open_log("cust-book");
    const char *g = "g-2";
    /* b1: checked in, then cancelled: the stay stands */
    booking(log, g, "b1", "lis", "2026-06-01", "2026-06-04", "web", 20260501);
    fx_log_append1(log, g, "booking.confirmed", AT(20260502, 9),
            FX_BODY(FX_S("booking_id", "b1")));
    fx_log_append1(log, g, "stay.checked_in", AT(20260601, 15),
            FX_BODY(FX_S("stay_id", "s1"), FX_S("property", "lis"),
                    FX_S("booking_id", "b1")));
    fx_log_append1(log, g, "booking.cancelled", AT(20260602, 9),
            FX_BODY(FX_S("booking_id", "b1"), FX_S("reason", "duplicate")));
    checkout(log, g, "s1", "lis", 3, 20260604);
    /* b2: a no-show, as the cancellation says */
    booking(log, g, "b2", "opo", "2026-07-01", "2026-07-03", "phone", 20260510);
    fx_log_append1(log, g, "booking.cancelled", AT(20260702, 9),
            FX_BODY(FX_S("booking_id", "b2"), FX_S("reason", "no_show")));
    /* b3: confirmed, its arrival passed, never checked in */
    booking(log, g, "b3", "opo", "2026-08-01", "2026-08-05", "ota", 20260511);
    fx_log_append1(log, g, "booking.confirmed", AT(20260512, 9),
            FX_BODY(FX_S("booking_id", "b3")));
    /* b4: cancelled ahead; b5: still to come */
    booking(log, g, "b4", "lis", "2026-10-01", "2026-10-02", "web", 20260601);
    fx_log_append1(log, g, "booking.cancelled", AT(20260615, 9),
            FX_BODY(FX_S("booking_id", "b4"), FX_S("reason", "plans")));
    booking(log, g, "b5", "lis", "2026-12-01", "2026-12-02", "web", 20260801);
    /* a walk-in at faro, and a stay of last December recorded late */
    fx_log_append1(log, g, "stay.checked_in", AT(20260818, 15),
            FX_BODY(FX_S("stay_id", "s2"), FX_S("property", "faro")));
    checkout(log, g, "s2", "faro", 2, 20260820);
    checkout(log, g, "s0", "lis", 1, 20251201);
    fx_log_append1(log, g, "interaction.logged", AT(20260821, 10),
            FX_BODY(FX_S("channel", "call")));
    fx_log_append1(log, g, "charter.flight_booked", AT(20260822, 10),
            FX_BODY(FX_S("booking_id", "f1"), FX_S("flight_no", "TP123"),
                    FX_S("origin", "LIS"), FX_S("destination", "FNC"),
                    FX_S("departure_date", "2026-10-10")));

    see(log, g, AT(20260901, 12));
    const msgpack_object *l = vmap(&view, "lifetime", 15);
    assert_int_equal(vint(l, "bookings"), 5);
    assert_int_equal(vint(l, "cancellations"), 2); /* b2, b4 */
    assert_int_equal(vint(l, "no_shows"), 2);      /* b2, b3 */
    assert_int_equal(vint(l, "stays"), 3);
    assert_int_equal(vint(l, "nights"), 6);
    assert_int_equal(vint(l, "flights"), 1);
    assert_string_equal(vstr(l, "first_stay"), "2025-12-01");
    assert_string_equal(vstr(l, "last_stay"), "2026-08-20");
    const msgpack_object *pr = varr(l, "properties", 2);
    assert_string_equal(vstr(&pr[0], "property"), "faro");
    assert_int_equal(vint(&pr[0], "stays"), 1);
    assert_string_equal(vstr(&pr[0], "last_stay"), "2026-08-20");
    assert_string_equal(vstr(&pr[1], "property"), "lis");
    assert_int_equal(vint(&pr[1], "stays"), 2);
    assert_string_equal(vstr(&pr[1], "last_stay"), "2026-06-04");
    assert_string_equal(vnames(l, "channels"), "call,phone,web,ota");
    assert_true(vnil(&view, "registered_on"));
    /* the flight was the latest thing that happened */
    const msgpack_object *t = varr(&view, "touchpoints", 17);
    assert_string_equal(vstr(&t[0], "type"), "charter.flight_booked");
    assert_string_equal(vstr(&t[0], "booking_id"), "f1");
    assert_string_equal(vstr(&t[2], "property"), "faro");
    assert_int_equal(vint(&t[2], "nights"), 2);
    /* the day b5 arrives is not a no-show while it lasts */
    see(log, g, AT(20261201, 12));
    assert_int_equal(vint(get(&view, "lifetime"), "no_shows"), 2);
    see(log, g, AT(20261202, 0));
    assert_int_equal(vint(get(&view, "lifetime"), "no_shows"), 3);
    rebuild_identical(log);
    crm_log_close(log);
}

static void
spend(crm_log *log, const char *g, uint32_t day, const char *cat,
      int64_t amount, const char *cur)
{
    fx_log_append1(log, g, "spend.recorded", AT(day, 20),
            FX_BODY(FX_I("amount", amount), FX_S("currency", cur),
                    FX_S("category", cat)));
}

static void
test_spend_at_the_rate_of_the_day(void **state)
{
    (void)state;
    crm_log *log = open_log("cust-spend");
    const char *g = "g-3";
    fx_log_append1(log, CRM_TENANT_STREAM, "tenant.rate_set", AT(20251201, 0),
            FX_BODY(FX_S("currency", "USD"), FX_S("rate", "0.9"),
                    FX_S("effective_from", "2026-01-01")));
    fx_log_append1(log, CRM_TENANT_STREAM, "tenant.rate_set", AT(20251201, 1),
            FX_BODY(FX_S("currency", "USD"), FX_S("rate", "0.8"),
                    FX_S("effective_from", "2026-06-01")));
    checkout(log, g, "s1", "lis", 2, 20260310);
    spend(log, g, 20260310, "room", 10000, "USD"); /* 9,000 */
    spend(log, g, 20260310, "fnb", 2000, "EUR");   /* 2,000 */
    checkout(log, g, "s2", "lis", 2, 20260710);
    spend(log, g, 20260710, "room", 20000, "USD"); /* 16,000 */
    spend(log, g, 20260711, "retail", 333, "USD"); /* 266.4: 266 */
    spend(log, g, 20260711, "spa", 3000, "GBP");   /* no rate */
    spend(log, g, 20260712, "room", -5000, "USD"); /* refund: -4,000 */

    see(log, g, AT(20260801, 0));
    const msgpack_object *l = get(&view, "lifetime");
    const msgpack_object *s = vmap(l, "spend", 3);
    assert_int_equal(vint(s, "room"), 21000);
    assert_int_equal(vint(s, "fnb"), 2000);
    assert_int_equal(vint(s, "retail"), 266);
    assert_int_equal(vint(l, "spend_total"), 23266);
    assert_int_equal(vint(l, "orders"), 4);
    assert_int_equal(vint(l, "average_order_value"), 5816);
    const msgpack_object *u = varr(l, "unconverted", 1);
    assert_string_equal(vstr(&u[0], "currency"), "GBP");
    assert_int_equal(vint(&u[0], "amount"), 3000);
    const msgpack_object *t = varr(&view, "touchpoints", 8);
    assert_int_equal(vint(&t[0], "amount"), -5000);
    assert_string_equal(vstr(&t[0], "currency"), "USD");
    assert_string_equal(vstr(&t[0], "category"), "room");
    rebuild_identical(log);
    crm_log_close(log);
}

static void
test_guest_without_stays(void **state)
{
    (void)state;
    crm_log *log = open_log("cust-new");
    fx_log_append1(log, "g-4", "customer.registered", AT(20260301, 9),
            FX_BODY(FX_S("first_name", "Bo"), FX_S("last_name", "Ek")));
    see(log, "g-4", AT(20260301, 18));
    const msgpack_object *l = get(&view, "lifetime");
    assert_int_equal(vint(l, "bookings"), 0);
    assert_int_equal(vint(l, "stays"), 0);
    assert_int_equal(vint(l, "spend_total"), 0);
    assert_int_equal(vint(l, "average_order_value"), 0);
    assert_true(vnil(l, "first_stay"));
    assert_true(vnil(l, "last_stay"));
    varr(l, "properties", 0);
    varr(l, "channels", 0);
    vmap(l, "spend", 0);
    const msgpack_object *s = get(&view, "satisfaction");
    assert_true(vnil(s, "nps_last"));
    assert_true(vnil(s, "nps_average"));
    assert_int_equal(vint(s, "nps_count"), 0);
    varr(&view, "complaints_open", 0);
    varr(&view, "consents", 0);
    /* registered today: no risk */
    const msgpack_object *c = get(&view, "churn");
    assert_int_equal(vint(c, "score"), 0);
    varr(c, "reasons", 0);
    assert_int_equal(last.churn.score, 0);
    /* 90 days later, against dormant_days (180): 40 * 90 / 180 */
    see(log, "g-4", AT(20260530, 9));
    c = get(&view, "churn");
    assert_int_equal(vint(c, "score"), 20);
    const msgpack_object *r = varr(c, "reasons", 1);
    assert_string_equal(vstr(&r[0], "code"), "recency");
    assert_string_equal(vstr(&r[0], "text"),
                        "90 days since registration and no stay yet; "
                        "dormant after 180");
    /* the touchpoint keeps a client type's summary fields, each as sent,
     * but none longer than 256 bytes packed */
    char big[301];
    memset(big, 'p', 300);
    big[300] = '\0';
    fx_log_append1(log, "g-4", "x.spa.visit", AT(20260601, 9),
            FX_BODY(FX_S("property", big), FX_I("amount", 4500),
                    FX_S("treatment", "massage")));
    see(log, "g-4", AT(20260602, 9));
    const msgpack_object *t = varr(&view, "touchpoints", 2);
    assert_string_equal(vstr(&t[0], "type"), "x.spa.visit");
    assert_int_equal(vint(&t[0], "amount"), 4500);
    assert_null(crm_mp_get(&t[0], "property"));
    assert_null(crm_mp_get(&t[0], "treatment"));
    assert_int_equal(t[0].via.map.size, 4);
    rebuild_identical(log);
    crm_log_close(log);
}

static void
test_complaint_past_sla_then_resolved(void **state)
{
    (void)state;
    crm_log *log = open_log("cust-complaint");
    const char *g = "g-5";
    fx_log_append1(log, g, "complaint.opened", AT(20260901, 10),
            FX_BODY(FX_S("complaint_id", "c1"), FX_S("category", "noise"),
                    FX_S("description", "loud neighbours")));
    /* resolved recorded before it was opened: never open */
    fx_log_append1(log, g, "complaint.resolved", AT(20260902, 10),
            FX_BODY(FX_S("complaint_id", "c3")));
    fx_log_append1(log, g, "complaint.opened", AT(20260901, 12),
            FX_BODY(FX_S("complaint_id", "c3"), FX_S("category", "billing")));
    fx_log_append1(log, g, "complaint.opened", AT(20260903, 9),
            FX_BODY(FX_S("complaint_id", "c2"), FX_S("category", "wifi")));
    /* 49 hours after c1: past the 48 h of the defaults */
    int64_t now = AT(20260903, 11);
    see(log, g, now);
    const msgpack_object *c = varr(&view, "complaints_open", 2);
    assert_string_equal(vstr(&c[0], "complaint_id"), "c1");
    assert_string_equal(vstr(&c[0], "category"), "noise");
    assert_string_equal(vstr(&c[0], "opened_on"), "2026-09-01");
    assert_int_equal(vint(&c[0], "age_hours"), 49);
    assert_true(vbool(&c[0], "past_sla"));
    assert_string_equal(vstr(&c[1], "complaint_id"), "c2");
    assert_int_equal(vint(&c[1], "age_hours"), 2);
    assert_false(vbool(&c[1], "past_sla"));
    /* 10 + 10 + 5, at most 20; and 40 * 0 for registration: none */
    const msgpack_object *ch = get(&view, "churn");
    assert_int_equal(vint(ch, "score"), 20);
    const msgpack_object *r = varr(ch, "reasons", 1);
    assert_string_equal(vstr(&r[0], "code"), "complaint");
    assert_int_equal(vint(&r[0], "points"), 20);
    assert_string_equal(vstr(&r[0], "text"),
                        "2 open complaints, 1 past the 48 h SLA");
    scan_db(log, NULL, "neighbours");

    fx_log_append1(
        log, g, "complaint.resolved", AT(20260903, 12),
        FX_BODY(FX_S("complaint_id", "c1"), FX_I("compensation_points", 500)));
    see(log, g, AT(20260903, 13));
    c = varr(&view, "complaints_open", 1);
    assert_string_equal(vstr(&c[0], "complaint_id"), "c2");
    assert_int_equal(last.churn.score, 10);
    assert_int_equal(last.churn.nreasons, 1);
    rebuild_identical(log);
    crm_log_close(log);
}

static void
test_erasure_leaves_only_the_marker(void **state)
{
    (void)state;
    crm_log *log = open_log("cust-erase");
    const char *guests[] = {"g-6", "g-60"}; /* one is a prefix of the other */
    for (int i = 0; i < 2; i++) {
        fx_log_append1(log, guests[i], "customer.registered", AT(20260101, 9),
                FX_BODY(FX_S("first_name", "Cy"), FX_S("last_name", "Do"),
                        FX_S("email", "cy@example.org")));
        fx_log_append1(log, guests[i], "customer.preference_set", AT(20260101, 10),
                FX_BODY(FX_S("category", "diet"), FX_S("value", "halal")));
        booking(log, guests[i], "b1", "lis", "2026-02-01", "2026-02-03", "web",
                20260102);
        checkout(log, guests[i], "s1", "lis", 2, 20260203);
        spend(log, guests[i], 20260203, "room", 30000, "EUR");
        fx_log_append1(log, guests[i], "feedback.survey_submitted", AT(20260204, 9),
                FX_BODY(FX_I("nps", 4), FX_S("comment", "meh")));
    }
    fx_log_append1(log, "g-6", "customer.erased", AT(20260301, 9),
            FX_BODY(FX_S("reason", "gdpr")));
    /* anything after the erasure is not kept either */
    fx_log_append1(log, "g-6", "interaction.logged", AT(20260302, 9),
            FX_BODY(FX_S("channel", "call")));

    scan s = scan_db(log, "g-6", NULL);
    assert_int_equal(s.keys, 1);
    assert_int_equal(s.first_tag, 'x');
    see(log, "g-6", AT(20260401, 0));
    assert_true(vbool(&view, "erased"));
    assert_true(vnil(&view, "registered_on"));
    vmap(&view, "profile", 0);
    vmap(&view, "preferences", 0);
    varr(&view, "touchpoints", 0);
    const msgpack_object *l = get(&view, "lifetime");
    assert_int_equal(vint(l, "stays"), 0);
    assert_int_equal(vint(l, "bookings"), 0);
    vmap(l, "spend", 0);
    assert_int_equal(vint(get(&view, "satisfaction"), "nps_count"), 0);
    assert_int_equal(vint(get(&view, "churn"), "score"), 0);

    /* the other guest keeps everything */
    assert_true(scan_db(log, "g-60", NULL).keys > 5);
    see(log, "g-60", AT(20260401, 0));
    assert_false(vbool(&view, "erased"));
    assert_string_equal(vstr(get(&view, "profile"), "first_name"), "Cy");
    assert_int_equal(vint(get(&view, "lifetime"), "stays"), 1);
    assert_int_equal(vint(get(&view, "satisfaction"), "nps_last"), 4);
    rebuild_identical(log);
    s = scan_db(log, "g-6", NULL);
    assert_int_equal(s.keys, 1);
    crm_log_close(log);
}

static void
survey(crm_log *log, const char *g, uint32_t day, int64_t nps, int64_t csat)
{
    if (csat)
        fx_log_append1(log, g, "feedback.survey_submitted", AT(day, 9),
                FX_BODY(FX_I("nps", nps), FX_I("csat", csat)));
    else
        fx_log_append1(log, g, "feedback.survey_submitted", AT(day, 9),
                FX_BODY(FX_I("nps", nps)));
}

static void
test_churn_of_a_lapsed_detractor(void **state)
{
    (void)state;
    crm_log *log = open_log("cust-churn");
    const char *g = "g-7";
    /* gaps 100, 100, 100, 120: usually every 100 days */
    checkout(log, g, "s0", "lis", 2, 20241108);
    checkout(log, g, "s1", "lis", 2, 20250216);
    checkout(log, g, "s2", "opo", 2, 20250527);
    checkout(log, g, "s4", "lis", 3, 20260102); /* recorded before s3 */
    checkout(log, g, "s3", "lis", 2, 20250904);
    survey(log, g, 20250427, 9, 4);
    survey(log, g, 20251223, 3, 2);
    survey(log, g, 20250805, 10, 0); /* recorded last, answered before */

    /* on 2026-06-01: 150 days since 2026-01-02 */
    see(log, g, AT(20260601, 8));
    const msgpack_object *s = get(&view, "satisfaction");
    assert_int_equal(vint(s, "nps_last"), 3);
    assert_int_equal(vint(s, "nps_count"), 3);
    assert_true(vdouble(s, "nps_average") > 7.333 &&
                vdouble(s, "nps_average") < 7.334);
    assert_int_equal(vint(s, "csat_count"), 2);
    assert_true(vdouble(s, "csat_average") == 3.0);
    const msgpack_object *l = get(&view, "lifetime");
    assert_string_equal(vstr(l, "first_stay"), "2024-11-08");
    assert_string_equal(vstr(l, "last_stay"), "2026-01-02");
    assert_int_equal(vint(l, "nights"), 11);

    /* recency 40 * (150 - 100) / 100 = 20; detractor round(20 * 4 / 7) =
     * 11; frequency: 2 stays in the last year, 3 in the one before,
     * round(20 * 1 / 3) = 7 */
    const msgpack_object *c = get(&view, "churn");
    assert_int_equal(vint(c, "score"), 38);
    const msgpack_object *r = varr(c, "reasons", 3);
    assert_string_equal(vstr(&r[0], "code"), "recency");
    assert_int_equal(vint(&r[0], "points"), 20);
    assert_string_equal(vstr(&r[0], "text"),
                        "150 days since the last stay; usually every 100");
    assert_string_equal(vstr(&r[1], "code"), "detractor");
    assert_int_equal(vint(&r[1], "points"), 11);
    assert_string_equal(vstr(&r[1], "text"), "last NPS 3, a detractor");
    assert_string_equal(vstr(&r[2], "code"), "frequency");
    assert_int_equal(vint(&r[2], "points"), 7);
    assert_string_equal(vstr(&r[2], "text"),
                        "2 stays in the last 365 days, 3 in the 365 before");
    assert_int_equal(last.churn.score, 38);
    assert_int_equal(last.churn.nreasons, 3);
    assert_string_equal(last.churn.reasons[0].code, "recency");

    /* a year and more later recency is full and no stay is recent */
    see(log, g, AT(20270601, 8));
    assert_int_equal(last.churn.reasons[0].points, 40);
    /* 0 stays in the last year against 2: all 20 */
    assert_string_equal(last.churn.reasons[1].code, "frequency");
    assert_int_equal(last.churn.reasons[1].points, 20);
    assert_int_equal(last.churn.score, 71);
    rebuild_identical(log);
    crm_log_close(log);
}

static int
setup(void **state)
{
    (void)state;
    msgpack_zone_init(&zone, 4096);
    msgpack_sbuffer_init(&last.view);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&last.view);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_consents_preferences),
        cmocka_unit_test(test_bookings_and_stays),
        cmocka_unit_test(test_spend_at_the_rate_of_the_day),
        cmocka_unit_test(test_guest_without_stays),
        cmocka_unit_test(test_complaint_past_sla_then_resolved),
        cmocka_unit_test(test_erasure_leaves_only_the_marker),
        cmocka_unit_test(test_churn_of_a_lapsed_detractor),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
