/* customer.c - the customer-360 projection: folding a guest's events
 * (customer.h). What is told when asked is in customer_view.c. */
#include "customer_int.h"

#include "decimal.h"
#include "rpc.h"

const char *const cust_fields[CUST_NFIELDS] = {
    "first_name",  "last_name",      "email",        "phone",
    "birth_date",  "loyalty_number", "address",      "gender",
    "nationality", "language",       "home_property"};

/* Interaction channels, then marketing's, then booking channels; a name
 * two of them share ("email", "phone") is one channel. */
const char *const cust_channels[] = {
    "call",  "email", "chat",    "social",   "in_person", "sms",
    "phone", "post",  "push",    "whatsapp", "direct",    "web",
    "ota",   "agent", "walk_in", "app",      NULL};

enum {
    T_REGISTERED,
    T_PROFILE,
    T_CONSENT,
    T_PREFERENCE,
    T_MERGED,
    T_ERASED,
    T_BOOKED,
    T_MODIFIED,
    T_CONFIRMED,
    T_CANCELLED,
    T_CHECKED_IN,
    T_CHECKED_OUT,
    T_FLIGHT,
    T_SPEND,
    T_SURVEY,
    T_OPENED,
    T_RESOLVED,
    T_INTERACTION,
    T_SENT,
    T_OTHER
};

static const char *const types[T_OTHER] = {
    "customer.registered",       "customer.profile_updated",
    "customer.consent_changed",  "customer.preference_set",
    "customer.merged",           "customer.erased",
    "booking.created",           "booking.modified",
    "booking.confirmed",         "booking.cancelled",
    "stay.checked_in",           "stay.checked_out",
    "charter.flight_booked",     "spend.recorded",
    "feedback.survey_submitted", "complaint.opened",
    "complaint.resolved",        "interaction.logged",
    "marketing.message_sent"};

#define SIGN_BIT 0x8000000000000000ull

/* --- the account ---------------------------------------------------------- */

int
cust_acct_get(MDB_txn *txn, MDB_dbi db, const char *id, size_t len,
              cust_acct *a)
{
    memset(a, 0, sizeof(*a));
    uint8_t kb[CUST_KEY_MAX];
    MDB_val k = {cust_key(kb, id, len, 'a', NULL, 0), kb}, v;
    int rc = mdb_get(txn, db, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    const uint8_t *p = v.mv_data;
    if (v.mv_size != CUST_ACCT_LEN || p[0] != 1)
        return MDB_CORRUPTED;
    a->exists = 1;
    for (int i = 0; i < A_N; i++)
        a->v[i] = crm_get_be(p + 1 + 8 * i, 8);
    return 0;
}

static int
acct_put(const crm_proj_ctx *cx, const crm_record *r, const cust_acct *a)
{
    uint8_t kb[CUST_KEY_MAX], vb[CUST_ACCT_LEN];
    vb[0] = 1;
    for (int i = 0; i < A_N; i++)
        crm_put_be(vb + 1 + 8 * i, a->v[i], 8);
    MDB_val k = {cust_key(kb, r->stream, r->stream_len, 'a', NULL, 0), kb},
            v = {CUST_ACCT_LEN, vb};
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

int
cust_erased(MDB_txn *txn, MDB_dbi db, const char *id, size_t len, int *erased)
{
    uint8_t kb[CUST_KEY_MAX];
    MDB_val k = {cust_key(kb, id, len, 'x', NULL, 0), kb}, v;
    int rc = mdb_get(txn, db, &k, &v);
    *erased = rc == 0;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* --- reading the event ---------------------------------------------------- */

static int64_t
body_int(const crm_record *r, const char *name, int64_t def)
{
    int64_t v;
    return crm_mp_int(crm_mp_get(&r->body, name), INT64_MIN, INT64_MAX, &v) == 0
               ? v
               : def;
}

/* The body's string name if it is one of 1..max bytes, else NULL. */
static const char *
body_str(const crm_record *r, const char *name, size_t max, size_t *len)
{
    const msgpack_object *o = crm_mp_get(&r->body, name);
    if (!crm_mp_is_str(o) || o->via.str.size == 0 || o->via.str.size > max)
        return NULL;
    *len = o->via.str.size;
    return o->via.str.ptr;
}

static int
body_is(const crm_record *r, const char *name, const char *want)
{
    size_t n = 0;
    const char *s = body_str(r, name, CUST_STR_MAX, &n);
    return s && crm_schema_name_eq(want, s, n);
}

static uint32_t
body_day(const crm_record *r, const char *name)
{
    size_t n = 0;
    const char *s = body_str(r, name, 10, &n);
    return s && n == 10 ? crm_settings_day(s, n) : 0;
}

/* The channel bit of the body's field name; 0 for none. */
static uint64_t
channel_bit(const crm_record *r, const char *name)
{
    size_t n = 0;
    const char *s = body_str(r, name, 16, &n);
    for (int i = 0; s && cust_channels[i]; i++)
        if (crm_schema_name_eq(cust_channels[i], s, n))
            return 1ull << i;
    return 0;
}

/* --- values that replace one another -------------------------------------- */

/* Puts v at key k unless what is there (an occurred_at at offset at_off
 * of the value) is later than at: on a tie the later position, this
 * record, wins, so the inline fold and a rebuild agree. */
static int
put_latest(const crm_proj_ctx *cx, const uint8_t *kb, size_t klen,
           size_t at_off, int64_t at, const uint8_t *vb, size_t vlen)
{
    MDB_val k = {klen, (void *)kb}, old;
    int rc = mdb_get(cx->txn, cx->dbi[0], &k, &old);
    if (rc == 0 && old.mv_size >= at_off + 8 &&
        (int64_t)crm_get_be((const uint8_t *)old.mv_data + at_off, 8) > at)
        return 0;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    MDB_val v = {vlen, (void *)vb};
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

static void
at_pos(uint8_t out[16], int64_t at, uint64_t pos)
{
    crm_put_be(out, (uint64_t)at, 8);
    crm_put_be(out + 8, pos, 8);
}

/* Every profile field the event gives: where it was set. */
static int
fold_profile(const crm_proj_ctx *cx, const crm_record *r)
{
    uint8_t kb[CUST_KEY_MAX], vb[16];
    at_pos(vb, r->occurred_at, r->h.position);
    int rc = 0;
    for (uint8_t f = 0; f < CUST_NFIELDS && rc == 0; f++) {
        const msgpack_object *o = crm_mp_get(&r->pii, cust_fields[f]);
        if (o == NULL)
            o = crm_mp_get(&r->body, cust_fields[f]);
        if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
            continue;
        size_t kl = cust_key(kb, r->stream, r->stream_len, 'p', &f, 1);
        rc = put_latest(cx, kb, kl, 0, r->occurred_at, vb, 16);
    }
    return rc;
}

static int
fold_consent(const crm_proj_ctx *cx, const crm_record *r, uint32_t day)
{
    size_t cl = 0, pl = 0;
    const char *ch = body_str(r, "channel", 16, &cl);
    const char *pu = body_str(r, "purpose", 16, &pl);
    const msgpack_object *g = crm_mp_get(&r->body, "granted");
    if (ch == NULL || g == NULL || g->type != MSGPACK_OBJECT_BOOLEAN)
        return 0;
    if (pu == NULL) {
        pu = "marketing";
        pl = 9;
    }
    uint8_t sfx[34], kb[CUST_KEY_MAX], vb[21];
    memcpy(sfx, ch, cl);
    sfx[cl] = 0;
    memcpy(sfx + cl + 1, pu, pl);
    vb[0] = g->via.boolean ? 1 : 0;
    crm_put_be(vb + 1, day, 4);
    at_pos(vb + 5, r->occurred_at, r->h.position);
    size_t kl = cust_key(kb, r->stream, r->stream_len, 'c', sfx, cl + 1 + pl);
    return put_latest(cx, kb, kl, 5, r->occurred_at, vb, sizeof(vb));
}

static int
fold_preference(const crm_proj_ctx *cx, const crm_record *r)
{
    size_t n = 0;
    const char *cat = body_str(r, "category", CUST_STR_MAX, &n);
    if (cat == NULL)
        return 0;
    uint8_t kb[CUST_KEY_MAX], vb[16];
    at_pos(vb, r->occurred_at, r->h.position);
    size_t kl = cust_key(kb, r->stream, r->stream_len, 'f', cat, n);
    return put_latest(cx, kb, kl, 0, r->occurred_at, vb, 16);
}

/* Everything the guest has here goes; the marker stays. */
static int
fold_erased(const crm_proj_ctx *cx, const crm_record *r, uint32_t day)
{
    int rc = crm_proj_del_stream(cx->txn, cx->dbi[0], r->stream,
                                 r->stream_len);
    if (rc != 0)
        return rc;
    uint8_t kb[CUST_KEY_MAX], vb[12];
    crm_put_be(vb, day, 4);
    crm_put_be(vb + 4, r->h.position, 8);
    MDB_val k = {cust_key(kb, r->stream, r->stream_len, 'x', NULL, 0), kb},
            v = {sizeof(vb), vb};
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

/* --- bookings and stays --------------------------------------------------- */

typedef struct booking {
    uint8_t flags, channel;
    uint32_t arrival, departure;
    int64_t dates_at;
    size_t plen;
    uint8_t property[CUST_STR_MAX];
} booking;

static int
booking_get(const crm_proj_ctx *cx, const uint8_t *kb, size_t klen, booking *b)
{
    memset(b, 0, sizeof(*b));
    MDB_val k = {klen, (void *)kb}, v;
    int rc = mdb_get(cx->txn, cx->dbi[0], &k, &v);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? 0 : rc;
    const uint8_t *p = v.mv_data;
    if (v.mv_size < CUST_BOOKING_MIN || p[18] > CUST_STR_MAX ||
        v.mv_size != (size_t)CUST_BOOKING_MIN + p[18])
        return MDB_CORRUPTED;
    b->flags = p[0];
    b->channel = p[1];
    b->arrival = (uint32_t)crm_get_be(p + 2, 4);
    b->departure = (uint32_t)crm_get_be(p + 6, 4);
    b->dates_at = (int64_t)crm_get_be(p + 10, 8);
    b->plen = p[18];
    memcpy(b->property, p + CUST_BOOKING_MIN, b->plen);
    return 0;
}

static int
booking_put(const crm_proj_ctx *cx, const uint8_t *kb, size_t klen,
            const booking *b)
{
    uint8_t vb[CUST_BOOKING_MIN + CUST_STR_MAX];
    vb[0] = b->flags;
    vb[1] = b->channel;
    crm_put_be(vb + 2, b->arrival, 4);
    crm_put_be(vb + 6, b->departure, 4);
    crm_put_be(vb + 10, (uint64_t)b->dates_at, 8);
    vb[18] = (uint8_t)b->plen;
    memcpy(vb + CUST_BOOKING_MIN, b->property, b->plen);
    MDB_val k = {klen, (void *)kb}, v = {CUST_BOOKING_MIN + b->plen, vb};
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

/* What a booking.* event, or a check-in or check-out that reaches booking
 * id bid, does to it: sets flags, and for created and modified the
 * details they carry. */
static int
fold_booking(const crm_proj_ctx *cx, const crm_record *r, int t,
             const char *bid, size_t blen, uint8_t flags, cust_acct *a)
{
    uint8_t kb[CUST_KEY_MAX];
    size_t kl = cust_key(kb, r->stream, r->stream_len, 'b', bid, blen);
    booking b;
    int rc = booking_get(cx, kb, kl, &b);
    if (rc != 0)
        return rc;
    b.flags |= flags;
    if (t == T_BOOKED || t == T_MODIFIED) {
        uint32_t arr = body_day(r, "arrival"), dep = body_day(r, "departure");
        if ((arr || dep) && ((b.arrival == 0 && b.departure == 0) ||
                             r->occurred_at >= b.dates_at)) {
            b.arrival = arr ? arr : b.arrival;
            b.departure = dep ? dep : b.departure;
            b.dates_at = r->occurred_at;
        }
    }
    if (t == T_BOOKED) {
        size_t pl;
        const char *p = body_str(r, "property", CUST_STR_MAX, &pl);
        if (p) {
            memcpy(b.property, p, pl);
            b.plen = pl;
        }
        uint64_t bit = channel_bit(r, "channel");
        a->v[A_CHANNELS] |= bit;
        for (b.channel = 0; bit; bit >>= 1)
            b.channel++;
    }
    return booking_put(cx, kb, kl, &b);
}

/* A check-in or check-out: the stay's link to its booking (the check-in
 * names it, the check-out does not), and the booking's flags from both,
 * whichever was recorded first. */
static int
fold_stay_link(const crm_proj_ctx *cx, const crm_record *r, int out,
               cust_acct *a)
{
    size_t sl = 0, bl = 0;
    const char *sid = body_str(r, "stay_id", CUST_STR_MAX, &sl);
    const char *bid = out ? NULL : body_str(r, "booking_id", CUST_STR_MAX, &bl);
    if (sid == NULL)
        return 0;
    uint8_t kb[CUST_KEY_MAX], vb[1 + CUST_STR_MAX];
    size_t kl = cust_key(kb, r->stream, r->stream_len, 'i', sid, sl);
    MDB_val k = {kl, kb}, v;
    int rc = mdb_get(cx->txn, cx->dbi[0], &k, &v);
    vb[0] = 0;
    if (rc == 0 && v.mv_size >= 1 && v.mv_size <= sizeof(vb)) {
        memcpy(vb, v.mv_data, v.mv_size);
        if (bid == NULL) {
            bl = v.mv_size - 1;
            bid = bl ? (const char *)vb + 1 : NULL;
        }
    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }
    vb[0] |= out ? 2 : 1;
    if (bid && bid != (const char *)vb + 1)
        memcpy(vb + 1, bid, bl);
    v.mv_size = 1 + bl;
    v.mv_data = vb;
    if ((rc = mdb_put(cx->txn, cx->dbi[0], &k, &v, 0)) != 0 || bl == 0)
        return rc;
    uint8_t f = (vb[0] & 1 ? BK_IN : 0) | (vb[0] & 2 ? BK_OUT : 0);
    return fold_booking(cx, r, T_CHECKED_IN, (const char *)vb + 1, bl, f, a);
}

static int
fold_checked_out(const crm_proj_ctx *cx, const crm_record *r, uint32_t day,
                 cust_acct *a)
{
    int64_t nights = body_int(r, "nights", 0);
    if (nights < 0)
        nights = 0;
    size_t pl = 0;
    const char *p = body_str(r, "property", CUST_STR_MAX, &pl);
    uint8_t kb[CUST_KEY_MAX], sfx[12], vb[CUST_STAY_MIN + CUST_STR_MAX];
    a->v[A_STAYS]++;
    a->v[A_NIGHTS] += (uint64_t)nights;
    if (a->v[A_FIRST_STAY] == 0 || day < a->v[A_FIRST_STAY])
        a->v[A_FIRST_STAY] = day;
    if (day > a->v[A_LAST_STAY])
        a->v[A_LAST_STAY] = day;
    crm_put_be(sfx, day, 4);
    crm_put_be(sfx + 4, r->h.position, 8);
    crm_put_be(vb, (uint64_t)nights, 4);
    if (pl)
        memcpy(vb + CUST_STAY_MIN, p, pl);
    MDB_val k = {cust_key(kb, r->stream, r->stream_len, 's', sfx, 12), kb},
            v = {CUST_STAY_MIN + pl, vb};
    int rc = mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
    if (rc != 0 || pl == 0)
        return rc;
    /* per property: stays u64, last day u32 */
    k.mv_size = cust_key(kb, r->stream, r->stream_len, 'h', p, pl);
    uint8_t hb[12] = {0};
    rc = mdb_get(cx->txn, cx->dbi[0], &k, &v);
    if (rc == 0 && v.mv_size == 12)
        memcpy(hb, v.mv_data, 12);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    crm_put_be(hb, crm_get_be(hb, 8) + 1, 8);
    if (day > crm_get_be(hb + 8, 4))
        crm_put_be(hb + 8, day, 4);
    v.mv_size = 12;
    v.mv_data = hb;
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

/* --- money, feedback, complaints ------------------------------------------ */

/* Adds delta to the i64 at key tag sfx (wrapping, as the stored form). */
static int
add_i64(const crm_proj_ctx *cx, const crm_record *r, uint8_t tag,
        const void *sfx, size_t slen, int64_t delta)
{
    uint8_t kb[CUST_KEY_MAX], vb[8];
    MDB_val k = {cust_key(kb, r->stream, r->stream_len, tag, sfx, slen), kb}, v;
    uint64_t n = 0;
    int rc = mdb_get(cx->txn, cx->dbi[0], &k, &v);
    if (rc == 0 && v.mv_size == 8)
        n = crm_get_be(v.mv_data, 8);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    crm_put_be(vb, n + (uint64_t)delta, 8);
    v.mv_size = 8;
    v.mv_data = vb;
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

static int
fold_spend(const crm_proj_ctx *cx, const crm_record *r, uint32_t day,
           cust_acct *a)
{
    size_t cl = 0, kl = 0;
    const char *cur = body_str(r, "currency", 3, &cl);
    const char *cat = body_str(r, "category", 16, &kl);
    int64_t amount = body_int(r, "amount", 0);
    if (cur == NULL || cl != 3 || cat == NULL || amount == 0)
        return 0;
    char c[4];
    memcpy(c, cur, 3);
    c[3] = '\0';
    const crm_settings *s;
    int rc = crm_settings_for(cx, day, r->h.position, &s);
    if (rc != 0)
        return rc;
    int64_t rate = crm_settings_rate_get(s, c);
    if (rate <= 0)
        return add_i64(cx, r, 'u', c, 3, amount);
    int64_t base = crm_settings_convert(amount, rate);
    a->v[A_SPEND] += (uint64_t)base;
    if (amount > 0)
        a->v[A_ORDERS]++;
    return add_i64(cx, r, 'm', cat, kl, base);
}

/* Counts one score of a survey (NPS or CSAT, slots n, sum, last, at). */
static void
fold_score(const crm_record *r, const char *name, int64_t max, cust_acct *a,
           int slot)
{
    int64_t v;
    if (crm_mp_int(crm_mp_get(&r->body, name), 0, max, &v) != 0)
        return;
    if (a->v[slot] == 0 || r->occurred_at >= (int64_t)a->v[slot + 3]) {
        a->v[slot + 2] = (uint64_t)v;
        a->v[slot + 3] = (uint64_t)r->occurred_at;
    }
    a->v[slot]++;
    a->v[slot + 1] += (uint64_t)v;
}

static int
fold_complaint(const crm_proj_ctx *cx, const crm_record *r, int opened,
               uint32_t day)
{
    size_t il = 0, cl = 0;
    const char *cid = body_str(r, "complaint_id", CUST_STR_MAX, &il);
    if (cid == NULL)
        return 0;
    uint8_t kb[CUST_KEY_MAX], vb[CUST_COMPLAINT_MIN + CUST_STR_MAX] = {0};
    MDB_val k = {cust_key(kb, r->stream, r->stream_len, 'k', cid, il), kb}, v;
    int rc = mdb_get(cx->txn, cx->dbi[0], &k, &v);
    if (rc == 0 && v.mv_size >= CUST_COMPLAINT_MIN && v.mv_size <= sizeof(vb)) {
        memcpy(vb, v.mv_data, v.mv_size);
        cl = v.mv_size - CUST_COMPLAINT_MIN;
    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }
    if (opened) {
        const char *cat = body_str(r, "category", CUST_STR_MAX, &cl);
        crm_put_be(vb, day, 4);
        crm_put_be(vb + 4, (uint64_t)r->occurred_at, 8);
        crm_put_be(vb + 12, r->h.position, 8);
        if (cat == NULL)
            cl = 0;
        else
            memcpy(vb + CUST_COMPLAINT_MIN, cat, cl);
    } else {
        crm_put_be(vb + 20, day, 4);
        crm_put_be(vb + 24, (uint64_t)body_int(r, "compensation_points", 0), 8);
    }
    vb[32] = (uint8_t)cl;
    v.mv_size = CUST_COMPLAINT_MIN + cl;
    v.mv_data = vb;
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

/* --- the fold ------------------------------------------------------------- */

/* What a touchpoint keeps of its event's body, when there: public fields
 * only, each packed as it came (a value over TOUCH_VALUE_MAX bytes, which
 * only an x. type can send, is left out). */
static const char *const touch_fields[] = {
    "property", "amount", "currency", "channel",  "category",     "booking_id",
    "nps",      "csat",   "points",   "campaign", "complaint_id", "nights"};
#define NTOUCH (sizeof(touch_fields) / sizeof(touch_fields[0]))
#define TOUCH_VALUE_MAX 256

/* The value being packed, on the stack: the type and at most NTOUCH
 * fields of at most TOUCH_VALUE_MAX bytes each always fit. */
typedef struct touch_buf {
    size_t n;
    char b[2 + CRM_TYPE_MAX + NTOUCH * (TOUCH_VALUE_MAX + 16)];
} touch_buf;

static int
touch_write(void *data, const char *buf, size_t len)
{
    touch_buf *t = data;
    if (len > sizeof(t->b) - t->n)
        return -1;
    memcpy(t->b + t->n, buf, len);
    t->n += len;
    return 0;
}

static int
touchpoint(const crm_proj_ctx *cx, const crm_record *r)
{
    uint8_t kb[CUST_KEY_MAX], sfx[16];
    crm_put_be(sfx, (uint64_t)r->occurred_at ^ SIGN_BIT, 8);
    crm_put_be(sfx + 8, r->h.position, 8);
    touch_buf tb;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &tb, touch_write);
    size_t tl = r->type_len < CRM_TYPE_MAX ? r->type_len : CRM_TYPE_MAX;
    tb.b[0] = (char)tl;
    tb.b[1] = 0;
    memcpy(tb.b + 2, r->type, tl);
    tb.n = 2 + tl;
    for (size_t i = 0; i < NTOUCH; i++) {
        const msgpack_object *o = crm_mp_get(&r->body, touch_fields[i]);
        if (o == NULL)
            continue;
        size_t at = tb.n;
        if ((crm_mp_pack_cstr(&pk, touch_fields[i]) |
             msgpack_pack_object(&pk, *o)) != 0 ||
            tb.n - at > TOUCH_VALUE_MAX)
            tb.n = at; /* too long for a summary: left out */
        else
            tb.b[1]++;
    }
    MDB_val k = {cust_key(kb, r->stream, r->stream_len, 't', sfx, 16), kb},
            v = {tb.n, tb.b};
    return mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
}

static int
customer_apply(const crm_proj_ctx *cx, const crm_record *r)
{
    if (r->stream_len == 0 || r->stream_len > CRM_STREAM_MAX ||
        r->stream[0] == '$')
        return 0;
    int erased, rc = cust_erased(cx->txn, cx->dbi[0], r->stream, r->stream_len,
                                 &erased);
    if (rc != 0 || erased)
        return rc; /* after an erasure nothing more is kept */
    int t = 0;
    while (t < T_OTHER && !crm_schema_name_eq(types[t], r->type, r->type_len))
        t++;
    uint32_t day = crm_settings_day_of(r->occurred_at);
    if (t == T_ERASED)
        return fold_erased(cx, r, day);
    cust_acct a;
    if ((rc = cust_acct_get(cx->txn, cx->dbi[0], r->stream, r->stream_len,
                            &a)) != 0)
        return rc;
    size_t bl = 0;
    const char *bid = body_str(r, "booking_id", CUST_STR_MAX, &bl);
    switch (t) {
    case T_REGISTERED:
        if (a.v[A_REG_DAY] == 0 || day < a.v[A_REG_DAY])
            a.v[A_REG_DAY] = day;
        /* fall through */
    case T_PROFILE:
        rc = fold_profile(cx, r);
        break;
    case T_CONSENT:
        rc = fold_consent(cx, r, day);
        break;
    case T_PREFERENCE:
        rc = fold_preference(cx, r);
        break;
    case T_MERGED:
        a.v[A_MERGED]++;
        a.v[A_MERGED_POS] = r->h.position;
        break;
    case T_BOOKED:
    case T_MODIFIED:
    case T_CONFIRMED:
    case T_CANCELLED: {
        uint8_t f = t == T_BOOKED      ? BK_CREATED
                    : t == T_CONFIRMED ? BK_CONFIRMED
                    : t == T_CANCELLED ? BK_CANCELLED
                                       : 0;
        if (t == T_CANCELLED && body_is(r, "reason", "no_show"))
            f |= BK_NO_SHOW;
        if (bid)
            rc = fold_booking(cx, r, t, bid, bl, f, &a);
        break;
    }
    case T_CHECKED_IN:
        rc = fold_stay_link(cx, r, 0, &a);
        break;
    case T_CHECKED_OUT:
        if ((rc = fold_stay_link(cx, r, 1, &a)) == 0)
            rc = fold_checked_out(cx, r, day, &a);
        break;
    case T_FLIGHT:
        a.v[A_FLIGHTS]++;
        break;
    case T_SPEND:
        rc = fold_spend(cx, r, day, &a);
        break;
    case T_SURVEY:
        fold_score(r, "nps", 10, &a, A_NPS_N);
        fold_score(r, "csat", 5, &a, A_CSAT_N);
        break;
    case T_OPENED:
    case T_RESOLVED:
        rc = fold_complaint(cx, r, t == T_OPENED, day);
        break;
    case T_INTERACTION:
    case T_SENT:
        a.v[A_CHANNELS] |= channel_bit(r, "channel");
        break;
    default:
        break;
    }
    if (rc != 0 || (rc = touchpoint(cx, r)) != 0)
        return rc;
    a.v[A_EVENTS]++;
    return acct_put(cx, r, &a);
}

const crm_proj_def crm_proj_customer = {
    .name = "customer",
    .format = 2,
    .ndbs = 1,
    .dbs = {"guest"},
    .apply = customer_apply,
};
