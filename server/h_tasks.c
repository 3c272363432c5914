/*
 * h_tasks.c - tasks.today: the morning's work list of a front desk or a
 * travel agency, from the tasks projection's indexes by date, with what
 * the desk needs of each arriving guest read from the customer-360 and
 * loyalty projections at the moment asked.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "customer.h"
#include "handlers_int.h"
#include "log.h"
#include "loyalty.h"
#include "record.h"
#include "tasks.h"

#define TASKS_PROPERTY_MAX 64
#define TASKS_DAYS_DEFAULT 7
#define TASKS_LIMIT_DEFAULT 100
#define TASKS_LIMIT_MAX 500

typedef struct tasks_read {
    crm_log *log;
    msgpack_packer *pk;
    msgpack_zone *zone;
    crm_tasks_query q;
    int64_t limit;
    crm_view view; /* what the caller sees of personal values */
    int pii;       /* it sees any: names and preferences are read */
    h_seen seen;   /* guests whose names or preferences went out */
    /* the other views of the same transaction */
    int has_customer;
    MDB_dbi customer;
    const crm_settings *s;
    /* the section being packed */
    msgpack_sbuffer sb;
    msgpack_packer part;
    size_t n;
    int rc;
} tasks_read;

/* --- what the 360 tells ---------------------------------------------------- */

/* Field of the record at pos (personal fields are in pii), or NULL. The
 * record lives in t->zone until the next read. */
static const msgpack_object *
field_at(tasks_read *t, uint64_t pos, const char *field)
{
    crm_record r;
    if (pos == 0)
        return NULL;
    msgpack_zone_clear(t->zone);
    /* no contact field is read here: no consents needed */
    if (h_record_view(t->log, t->q.txn, pos, t->zone, &t->view, 0, &r,
                      NULL) != 0)
        return NULL;
    const msgpack_object *o = crm_mp_get(&r.pii, field);
    if (o != NULL && o->type == MSGPACK_OBJECT_STR)
        h_seen_add(&t->seen, r.stream, r.stream_len);
    if (o == NULL)
        o = crm_mp_get(&r.body, field);
    return o;
}

static void
pack_strn(msgpack_packer *pk, const char *s, size_t len)
{
    if (s == NULL || len == 0)
        msgpack_pack_nil(pk);
    else
        crm_mp_pack_str(pk, s, len);
}

/* name {first, last} from the events that set them (nil for each the
 * log cannot give). */
static int
pack_name(tasks_read *t, const crm_tasks_item *it)
{
    msgpack_packer *pk = &t->part;
    uint32_t last_stay;
    uint64_t pos[2] = {0, 0};
    int erased = 0, rc = 0;
    if (t->has_customer) {
        rc = crm_customer_brief(t->q.txn, t->customer, it->customer,
                                it->customer_len, &last_stay, &pos[0],
                                &pos[1], &erased);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc != 0)
        return rc;
    static const char *const fields[] = {"first_name", "last_name"};
    static const char *const keys[] = {"first", "last"};
    crm_mp_pack_cstr(pk, "name");
    msgpack_pack_map(pk, 2);
    for (int i = 0; i < 2; i++) {
        crm_mp_pack_cstr(pk, keys[i]);
        const msgpack_object *o = erased ? NULL : field_at(t, pos[i], fields[i]);
        if (o && o->type == MSGPACK_OBJECT_STR)
            crm_mp_pack_object(pk, o);
        else
            msgpack_pack_nil(pk);
    }
    return 0;
}

typedef struct side {
    tasks_read *t;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t n;
} side;

static void
side_init(side *s, tasks_read *t)
{
    s->t = t;
    s->n = 0;
    msgpack_sbuffer_init(&s->sb);
    msgpack_packer_init(&s->pk, &s->sb, msgpack_sbuffer_write);
}

static void
side_emit(side *s, msgpack_packer *pk, int map)
{
    if (map)
        msgpack_pack_map(pk, s->n);
    else
        msgpack_pack_array(pk, s->n);
    if (s->sb.size)
        pk->callback(pk->data, s->sb.data, s->sb.size);
    msgpack_sbuffer_destroy(&s->sb);
}

static int
on_pref(void *arg, const char *cat, size_t cl, uint64_t pos)
{
    side *s = arg;
    crm_mp_pack_str(&s->pk, cat, cl);
    const msgpack_object *o = s->t->pii ? field_at(s->t, pos, "value") : NULL;
    if (o && o->type == MSGPACK_OBJECT_STR)
        crm_mp_pack_object(&s->pk, o);
    else
        msgpack_pack_nil(&s->pk);
    s->n++;
    return 0;
}

static int
on_prop(void *arg, const char *p, size_t pl, uint64_t stays, uint32_t last)
{
    side *s = arg;
    (void)stays, (void)last;
    crm_mp_pack_str(&s->pk, p, pl);
    s->n++;
    return 0;
}

static int
on_dest(void *arg, const char *d, size_t dl)
{
    side *s = arg;
    crm_mp_pack_str(&s->pk, d, dl);
    s->n++;
    return 0;
}

/* What the desk needs of an arriving guest: preferences, past
 * destinations, open complaints, tier (and name to those who may see
 * it). Packs 4 or 5 entries. */
static int
pack_desk(tasks_read *t, const crm_tasks_item *it)
{
    msgpack_packer *pk = &t->part;
    side s;
    int rc = 0;
    crm_mp_pack_cstr(pk, "preferences");
    side_init(&s, t);
    if (t->has_customer)
        rc = crm_customer_preferences(t->q.txn, t->customer, it->customer,
                                      it->customer_len, on_pref, &s);
    side_emit(&s, pk, 1);
    crm_mp_pack_cstr(pk, "past_destinations");
    msgpack_pack_map(pk, 2);
    crm_mp_pack_cstr(pk, "properties");
    side_init(&s, t);
    if (rc == 0 && t->has_customer)
        rc = crm_customer_properties(t->q.txn, t->customer, it->customer,
                                     it->customer_len, on_prop, &s);
    side_emit(&s, pk, 0);
    crm_mp_pack_cstr(pk, "charter");
    side_init(&s, t);
    if (rc == 0)
        rc = crm_tasks_destinations(t->q.txn, t->q.guest, it->customer,
                                    it->customer_len, on_dest, &s);
    side_emit(&s, pk, 0);
    unsigned open = 0;
    if (rc == 0)
        rc = crm_tasks_open_complaints(t->q.txn, t->q.guest, it->customer,
                                       it->customer_len, &open);
    KV_U64(pk, "open_complaints", open);
    crm_loyalty_account a = {0};
    if (rc == 0 && t->q.has_loyalty) {
        rc = crm_loyalty_account_get(t->q.txn, t->q.loyalty, it->customer,
                                     it->customer_len, &a);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    char tier[CRM_SETTINGS_NAME_MAX + 1];
    crm_loyalty_tier_for_earn(&a, t->s, tier, sizeof(tier));
    crm_mp_pack_cstr(pk, "tier");
    pack_strn(pk, tier, strlen(tier));
    if (rc == 0 && t->pii)
        rc = pack_name(t, it);
    return rc;
}

/* --- the sections ---------------------------------------------------------- */

static int
on_item(void *arg, const crm_tasks_item *it, int section)
{
    tasks_read *t = arg;
    msgpack_packer *pk = &t->part;
    t->n++;
    switch (section) {
    case CRM_TASKS_BIRTHDAYS: {
        msgpack_pack_map(pk, 4 + t->pii);
        crm_mp_pack_cstr(pk, "customer");
        crm_mp_pack_str(pk, it->customer, it->customer_len);
        h_kv_day(pk, "on", it->day);
        KV_I64(pk, "in_days", it->in_days);
        /* where a greeting may go: the channels consented to for
         * marketing, and no other */
        crm_mp_pack_cstr(pk, "channels");
        unsigned n = 0;
        for (unsigned i = 0; crm_tasks_channel(i); i++)
            n += (it->channels >> i) & 1;
        msgpack_pack_array(pk, n);
        for (unsigned i = 0; crm_tasks_channel(i); i++)
            if ((it->channels >> i) & 1)
                crm_mp_pack_cstr(pk, crm_tasks_channel(i));
        if (t->pii)
            t->rc = pack_name(t, it);
        break;
    }
    case CRM_TASKS_ARRIVALS:
        msgpack_pack_map(pk, 11 + t->pii);
        crm_mp_pack_cstr(pk, "customer");
        crm_mp_pack_str(pk, it->customer, it->customer_len);
        crm_mp_pack_cstr(pk, "booking_id");
        crm_mp_pack_str(pk, it->id, it->id_len);
        crm_mp_pack_cstr(pk, "property");
        pack_strn(pk, it->property, it->property_len);
        h_kv_day(pk, "arrival", it->day);
        h_kv_day(pk, "departure", it->departure);
        crm_mp_pack_cstr(pk, "room_type");
        pack_strn(pk, it->room_type, it->room_type_len);
        KV_STR(pk, "status", it->status);
        t->rc = pack_desk(t, it);
        break;
    case CRM_TASKS_UNCONFIRMED:
        msgpack_pack_map(pk, 6);
        crm_mp_pack_cstr(pk, "customer");
        crm_mp_pack_str(pk, it->customer, it->customer_len);
        crm_mp_pack_cstr(pk, "booking_id");
        crm_mp_pack_str(pk, it->id, it->id_len);
        crm_mp_pack_cstr(pk, "property");
        pack_strn(pk, it->property, it->property_len);
        KV_STR(pk, "channel", it->channel);
        KV_I64(pk, "created_at", it->at);
        KV_I64(pk, "hours_waiting", it->hours);
        break;
    case CRM_TASKS_COMPLAINTS:
        msgpack_pack_map(pk, 7);
        crm_mp_pack_cstr(pk, "customer");
        crm_mp_pack_str(pk, it->customer, it->customer_len);
        crm_mp_pack_cstr(pk, "complaint_id");
        crm_mp_pack_str(pk, it->id, it->id_len);
        crm_mp_pack_cstr(pk, "property");
        pack_strn(pk, it->property, it->property_len);
        crm_mp_pack_cstr(pk, "severity");
        pack_strn(pk, it->severity, it->severity ? strlen(it->severity) : 0);
        crm_mp_pack_cstr(pk, "category");
        pack_strn(pk, it->category, it->category_len);
        KV_I64(pk, "opened_at", it->at);
        KV_I64(pk, "hours_open", it->hours);
        break;
    case CRM_TASKS_DORMANT:
        msgpack_pack_map(pk, 3);
        crm_mp_pack_cstr(pk, "customer");
        crm_mp_pack_str(pk, it->customer, it->customer_len);
        h_kv_day(pk, "last_activity", it->day);
        crm_mp_pack_cstr(pk, "lifetime_spend");
        msgpack_pack_map(pk, 2);
        KV_I64(pk, "amount", it->amount);
        KV_STR(pk, "currency", t->s->base_currency);
        break;
    case CRM_TASKS_POINTS:
        msgpack_pack_map(pk, 3);
        crm_mp_pack_cstr(pk, "customer");
        crm_mp_pack_str(pk, it->customer, it->customer_len);
        KV_I64(pk, "points", it->amount);
        h_kv_day(pk, "first_expiry", it->day);
        break;
    }
    return t->rc != 0;
}

#define ON_ITEM(sec)                                                           \
    static int on_##sec(void *arg, const crm_tasks_item *it)                   \
    {                                                                          \
        return on_item(arg, it, sec);                                          \
    }
ON_ITEM(CRM_TASKS_BIRTHDAYS)
ON_ITEM(CRM_TASKS_ARRIVALS)
ON_ITEM(CRM_TASKS_UNCONFIRMED)
ON_ITEM(CRM_TASKS_COMPLAINTS)
ON_ITEM(CRM_TASKS_DORMANT)
ON_ITEM(CRM_TASKS_POINTS)

static int (*const section_fn[CRM_TASKS_NSECTIONS])(void *,
                                                    const crm_tasks_item *) = {
    on_CRM_TASKS_BIRTHDAYS,   on_CRM_TASKS_ARRIVALS, on_CRM_TASKS_UNCONFIRMED,
    on_CRM_TASKS_COMPLAINTS,  on_CRM_TASKS_DORMANT,  on_CRM_TASKS_POINTS};

static int
tasks_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    tasks_read *t = arg;
    crm_settings *s = malloc(sizeof(*s));
    if (s == NULL)
        return ENOMEM;
    t->s = s;
    t->q.txn = txn;
    t->q.idx = dbi[0];
    t->q.guest = dbi[1];
    t->q.settings = s;
    int rc = h_settings_in(t->log, txn, crm_settings_day_of(t->q.moment), s);
    if (rc == 0) {
        rc = h_proj_db(t->log, txn, "loyalty", &t->q.loyalty);
        t->q.has_loyalty = rc == 0;
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc == 0) {
        rc = h_proj_db(t->log, txn, "customer", &t->customer);
        t->has_customer = rc == 0;
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    int64_t line = 0;
    if (rc == 0)
        rc = crm_tasks_high_value_line(txn, dbi[0], &line);
    if (rc != 0)
        goto out;
    msgpack_packer *pk = t->pk;
    msgpack_pack_map(pk, 6 + CRM_TASKS_NSECTIONS);
    h_kv_day(pk, "on", t->q.on);
    KV_U64(pk, "days", t->q.days);
    KV_I64(pk, "moment", t->q.moment);
    int more[CRM_TASKS_NSECTIONS] = {0};
    for (int i = 0; i < CRM_TASKS_NSECTIONS && rc == 0; i++) {
        msgpack_sbuffer_init(&t->sb);
        msgpack_packer_init(&t->part, &t->sb, msgpack_sbuffer_write);
        t->n = 0;
        t->rc = 0;
        rc = crm_tasks_section(&t->q, i, (size_t)t->limit, section_fn[i], t,
                               &more[i]);
        if (rc == 0)
            rc = t->rc;
        crm_mp_pack_cstr(pk, crm_tasks_section_names[i]);
        msgpack_pack_array(pk, t->n);
        if (t->sb.size)
            pk->callback(pk->data, t->sb.data, t->sb.size);
        msgpack_sbuffer_destroy(&t->sb);
    }
    crm_mp_pack_cstr(pk, "more");
    msgpack_pack_map(pk, CRM_TASKS_NSECTIONS);
    for (int i = 0; i < CRM_TASKS_NSECTIONS; i++)
        KV_BOOL(pk, crm_tasks_section_names[i], more[i]);
    crm_mp_pack_cstr(pk, "high_value_line");
    msgpack_pack_map(pk, 2);
    KV_I64(pk, "amount", line);
    KV_STR(pk, "currency", s->base_currency);
    KV_U64(pk, "as_of", position);
out:
    free(s);
    return rc;
}

crm_err
h_tasks_today(rpc_call *call, msgpack_packer *pk, crm_error *why,
              rpc_flow *flow)
{
    tasks_read t = {.log = call->log, .pk = pk, .zone = &call->c->scratch};
    const char *on, *property;
    size_t on_len, plen;
    int64_t days;
    crm_err err;
    (void)flow;
    if ((err = h_arg_str(call, "on", 0, 32, &on, &on_len, why)) != CRM_OK ||
        (err = h_arg_int(call, "days", TASKS_DAYS_DEFAULT, 0,
                         CRM_TASKS_DAYS_MAX, &days, why)) != CRM_OK ||
        (err = h_arg_str(call, "property", 0, TASKS_PROPERTY_MAX, &property,
                         &plen, why)) != CRM_OK ||
        (err = h_arg_int(call, "limit", TASKS_LIMIT_DEFAULT, 1,
                         TASKS_LIMIT_MAX, &t.limit, why)) != CRM_OK)
        return err;
    if (on && !crm_date_valid(on, on_len))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "argument 'on' must be a date YYYY-MM-DD");
    if (property && (plen == 0 || memchr(property, '\0', plen)))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "argument 'property' must be a property's "
                             "name (1..%d bytes, no NUL)",
                             TASKS_PROPERTY_MAX);
    const crm_proj_set *set = crm_log_projections(call->log);
    if (set == NULL || crm_proj_index(set, "tasks") < 0)
        return crm_error_set(why, CRM_ERR_UNAVAILABLE,
                             "this server keeps no 'tasks' projection "
                             "(crmd --projections)");
    /* the moment: now (the query clock) for today, else the day's start */
    if (on) {
        t.q.on = crm_settings_day(on, on_len);
        t.q.moment = crm_settings_day_start(t.q.on);
    } else {
        t.q.moment = crm_query_now_us();
        t.q.on = crm_settings_day_of(t.q.moment);
    }
    t.q.days = (unsigned)days;
    t.q.property = property;
    t.q.property_len = property ? plen : 0;
    t.q.index_key = crm_proj_index_key(set);
    h_view(call->c, &t.view);
    t.pii = t.view.opens;
    return h_seen_done(call, &t.seen,
                       crm_log_proj_read(call->log, "tasks", tasks_fn, &t,
                                         why));
}
