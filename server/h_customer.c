/*
 * h_customer.c - the front desk's ops: customer.find (a guest by e-mail,
 * phone, loyalty number or name, through the blind indexes of the find
 * projection) and customer.get (the customer-360 view).
 */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "customer.h"
#include "event.h"
#include "find.h"
#include "handlers_int.h"
#include "log.h"
#include "loyalty.h"
#include "normalize.h"
#include "rpc.h"
#include "schema.h"

#define FIND_LIMIT_DEFAULT 20
#define FIND_LIMIT_MAX 100
/* Candidates a name query looks at before it says "more": a common name
 * with a filter that matches few stops here rather than walk a city. */
#define FIND_SCAN_MAX 100000

/* --- customer.find ---------------------------------------------------------- */

typedef struct find_q {
    crm_log *log;
    const uint8_t *key; /* the tenant's index key */
    /* one of */
    const char *email, *phone, *loyalty, *name;
    size_t email_len, phone_len, loyalty_len, name_len;
    const char *birth; /* with name */
    size_t birth_len;
    uint32_t today;
    size_t limit;
    msgpack_packer *pk;
    msgpack_zone *zone; /* for the records names are read from */
    crm_view view;      /* what the caller sees of them */
    h_seen seen;        /* hits whose names went out */
    /* what the lookup found */
    uint8_t lead[CRM_BLIND_LEN];
    crm_norm_kind lead_kind;
    size_t nfilter;
    crm_norm_kind filter_kind[CRM_NORM_TOKENS_MAX + 1];
    uint8_t filter[CRM_NORM_TOKENS_MAX + 1][CRM_BLIND_LEN];
    char (*ids)[CRM_STREAM_MAX];
    size_t *id_len;
    size_t nids, scanned;
    int more, bad, rc;
    MDB_txn *txn;
    MDB_dbi db;
    const char *bad_what;
} find_q;

static int
find_hit(void *arg, const char *id, size_t len)
{
    find_q *q = arg;
    if (++q->scanned > FIND_SCAN_MAX) {
        q->more = 1;
        return 1;
    }
    for (size_t i = 0; i < q->nfilter; i++) {
        int h = crm_find_has(q->txn, q->db, q->filter_kind[i], q->filter[i],
                             id, len);
        if (h < 0) {
            q->rc = -h;
            return 1;
        }
        if (h == 0)
            return 0;
    }
    if (q->nids == q->limit) {
        q->more = 1;
        return 1;
    }
    memcpy(q->ids[q->nids], id, len);
    q->id_len[q->nids++] = len;
    return 0;
}

/* Whether token i is two others of the query put together: a Chinese name
 * typed whole ("王小明") also gives its surname and given name, and a
 * guest registered with them in two fields holds only those. */
static int
joins_two(char tok[][CRM_NORM_TOKEN_LEN], int k, int i)
{
    size_t li = strlen(tok[i]);
    for (int a = 0; a < k; a++) {
        size_t la = strlen(tok[a]);
        if (a == i || la >= li || memcmp(tok[i], tok[a], la) != 0)
            continue;
        for (int b = 0; b < k; b++)
            if (b != i && b != a && strcmp(tok[i] + la, tok[b]) == 0)
                return 1;
    }
    return 0;
}

/* The blind keys of the query: one to walk (lead), the rest to check
 * every candidate against. 0, or -1 with q->bad_what when the value has
 * no canonical form. */
static int
find_keys(find_q *q, const crm_settings *s)
{
    char norm[CRM_NORM_MAX];
    int n;
    if (q->email || q->phone || q->loyalty) {
        if (q->email) {
            n = crm_norm_email(q->email, q->email_len, norm, sizeof(norm));
            q->lead_kind = CRM_NORM_EMAIL;
            q->bad_what = "'email' is not an e-mail address";
        } else if (q->phone) {
            n = crm_norm_phone(q->phone, q->phone_len, s->country_code, norm,
                               sizeof(norm));
            q->lead_kind = CRM_NORM_PHONE;
            q->bad_what = s->country_code[0]
                              ? "'phone' is not a phone number"
                              : "'phone' is not a phone number in E.164 "
                                "(the tenant has no country_code setting)";
        } else {
            n = crm_norm_loyalty(q->loyalty, q->loyalty_len, norm,
                                 sizeof(norm));
            q->lead_kind = CRM_NORM_LOYALTY;
            q->bad_what = "'loyalty' is not a loyalty number ([A-Z0-9])";
        }
        if (n <= 0)
            return -1;
        crm_blind(q->key, q->lead_kind, norm, (size_t)n, q->lead);
        return 0;
    }
    char tok[CRM_NORM_TOKENS_MAX][CRM_NORM_TOKEN_LEN];
    int k = crm_norm_name_tokens(q->name, q->name_len, tok,
                                 CRM_NORM_TOKENS_MAX);
    q->bad_what = "'name' holds no letters";
    if (k <= 0)
        return -1;
    for (int i = 0; i < k; i++) {
        if (joins_two(tok, k, i))
            continue;
        q->filter_kind[q->nfilter] = CRM_NORM_NAME;
        crm_blind(q->key, CRM_NORM_NAME, tok[i], strlen(tok[i]),
                  q->filter[q->nfilter++]);
    }
    if (q->birth) {
        q->filter_kind[q->nfilter] = CRM_NORM_NAME_BIRTH;
        crm_blind(q->key, CRM_NORM_NAME_BIRTH, q->birth, q->birth_len,
                  q->filter[q->nfilter++]);
    }
    /* walk the birth date when there is one (fewer share it than a name),
     * else the first token; the others filter */
    size_t lead = q->birth ? q->nfilter - 1 : 0;
    q->lead_kind = q->filter_kind[lead];
    memcpy(q->lead, q->filter[lead], CRM_BLIND_LEN);
    q->filter_kind[lead] = q->filter_kind[q->nfilter - 1];
    memcpy(q->filter[lead], q->filter[q->nfilter - 1], CRM_BLIND_LEN);
    q->nfilter--;
    return 0;
}

/* The name a fetched record set: field of its personal data. */
static const msgpack_object *
name_in(const find_q *q, MDB_txn *txn, uint64_t pos, const char *field,
        crm_record *r)
{
    if (pos == 0 ||
        h_record_view(q->log, txn, pos, q->zone, &q->view, 0, r, NULL) != 0)
        return NULL;
    const msgpack_object *o = crm_mp_get(&r->pii, field);
    return o && o->type == MSGPACK_OBJECT_STR ? o : NULL;
}

/* Packs the short summary of a hit: {id, name, last_stay, tier, points}
 * (name and last_stay nil when the log keeps no customer projection). */
static int
find_pack_hit(find_q *q, MDB_txn *txn, const MDB_dbi *loyalty,
              const MDB_dbi *customer, const crm_settings *s, size_t i)
{
    crm_loyalty_account a = {0};
    int rc = 0;
    if (loyalty)
        rc = crm_loyalty_account_get(txn, *loyalty, q->ids[i], q->id_len[i],
                                     &a);
    uint32_t last_stay = 0;
    uint64_t first_pos = 0, last_pos = 0;
    int erased = 0;
    if (rc == 0 && customer) {
        rc = crm_customer_brief(txn, *customer, q->ids[i], q->id_len[i],
                                &last_stay, &first_pos, &last_pos, &erased);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc != 0)
        return rc;
    char tier[CRM_SETTINGS_NAME_MAX + 1], day[11];
    crm_loyalty_tier_for_earn(&a, s, tier, sizeof(tier));
    msgpack_pack_map(q->pk, 5);
    crm_mp_pack_cstr(q->pk, "id");
    crm_mp_pack_str(q->pk, q->ids[i], q->id_len[i]);
    /* "first last", from the events that set them */
    crm_mp_pack_cstr(q->pk, "name");
    crm_record r1, r2;
    msgpack_zone_clear(q->zone);
    const msgpack_object *f = name_in(q, txn, first_pos, "first_name", &r1);
    const msgpack_object *l = name_in(q, txn, last_pos, "last_name", &r2);
    if (f == NULL && l == NULL) {
        msgpack_pack_nil(q->pk);
    } else {
        h_seen_add(&q->seen, q->ids[i], q->id_len[i]);
        size_t fl = f ? f->via.str.size : 0, ll = l ? l->via.str.size : 0;
        msgpack_pack_str(q->pk, fl + (fl && ll) + ll);
        if (fl)
            msgpack_pack_str_body(q->pk, f->via.str.ptr, fl);
        if (fl && ll)
            msgpack_pack_str_body(q->pk, " ", 1);
        if (ll)
            msgpack_pack_str_body(q->pk, l->via.str.ptr, ll);
    }
    crm_mp_pack_cstr(q->pk, "last_stay");
    if (last_stay) {
        crm_settings_day_text(last_stay, day);
        crm_mp_pack_cstr(q->pk, day);
    } else {
        msgpack_pack_nil(q->pk);
    }
    KV_STR(q->pk, "tier", tier);
    KV_I64(q->pk, "points", a.balance);
    return 0;
}

static int
find_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    find_q *q = arg;
    crm_settings *s = malloc(sizeof(*s));
    if (s == NULL)
        return ENOMEM;
    int rc = h_settings_in(q->log, txn, q->today, s);
    if (rc == 0 && find_keys(q, s) != 0)
        q->bad = 1;
    if (rc != 0 || q->bad)
        goto out;
    q->txn = txn;
    q->db = dbi[0];
    rc = crm_find_lookup(txn, dbi[0], q->lead_kind, q->lead, find_hit, q);
    if (rc == 0)
        rc = q->rc;
    MDB_dbi loyalty = 0, customer = 0;
    int has_loyalty = 0, has_customer = 0;
    if (rc == 0) {
        rc = h_proj_db(q->log, txn, "loyalty", &loyalty);
        has_loyalty = rc == 0;
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc == 0) {
        rc = h_proj_db(q->log, txn, "customer", &customer);
        has_customer = rc == 0;
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc != 0)
        goto out;
    msgpack_pack_map(q->pk, 3);
    crm_mp_pack_cstr(q->pk, "hits");
    msgpack_pack_array(q->pk, q->nids);
    for (size_t i = 0; i < q->nids && rc == 0; i++)
        rc = find_pack_hit(q, txn, has_loyalty ? &loyalty : NULL,
                           has_customer ? &customer : NULL, s, i);
    KV_BOOL(q->pk, "more", q->more);
    KV_U64(q->pk, "as_of", position);
out:
    free(s);
    return rc;
}

crm_err
h_customer_find(rpc_call *call, msgpack_packer *pk, crm_error *why,
                rpc_flow *flow)
{
    find_q q = {.log = call->log, .pk = pk, .zone = &call->c->scratch};
    int64_t limit;
    crm_err err;
    (void)flow;
    h_view(call->c, &q.view);
    if ((err = h_arg_str(call, "email", 0, CRM_NORM_MAX, &q.email,
                         &q.email_len, why)) != CRM_OK ||
        (err = h_arg_str(call, "phone", 0, 64, &q.phone, &q.phone_len,
                         why)) != CRM_OK ||
        (err = h_arg_str(call, "loyalty", 0, 64, &q.loyalty, &q.loyalty_len,
                         why)) != CRM_OK ||
        (err = h_arg_str(call, "name", 0, 400, &q.name, &q.name_len, why)) !=
            CRM_OK ||
        (err = h_arg_str(call, "birth_date", 0, 10, &q.birth, &q.birth_len,
                         why)) != CRM_OK ||
        (err = h_arg_int(call, "limit", FIND_LIMIT_DEFAULT, 1, FIND_LIMIT_MAX,
                         &limit, why)) != CRM_OK ||
        (err = h_arg_day(call, "on", &q.today, why)) != CRM_OK)
        return err;
    int given = (q.email != NULL) + (q.phone != NULL) + (q.loyalty != NULL) +
                (q.name != NULL);
    if (given != 1)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "customer.find needs exactly one of 'email', "
                             "'phone', 'loyalty' or 'name'");
    if (q.birth && q.name == NULL)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'birth_date' narrows a 'name' search");
    if (q.birth && !crm_date_valid(q.birth, q.birth_len))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "'birth_date' must be a date YYYY-MM-DD");
    const crm_proj_set *set = crm_log_projections(call->log);
    if (set == NULL || crm_proj_index(set, "find") < 0)
        return crm_error_set(why, CRM_ERR_UNAVAILABLE,
                             "this server keeps no 'find' projection "
                             "(crmd --projections)");
    q.key = crm_proj_index_key(set);
    q.limit = (size_t)limit;
    q.ids = malloc(q.limit * sizeof(*q.ids));
    q.id_len = malloc(q.limit * sizeof(*q.id_len));
    if (q.ids == NULL || q.id_len == NULL)
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
    else
        err = crm_log_proj_read(call->log, "find", find_fn, &q, why);
    free(q.ids);
    free(q.id_len);
    if (err == CRM_OK && q.bad)
        err = crm_error_set(why, CRM_ERR_BAD_REQUEST, "%s", q.bad_what);
    return h_seen_done(call, &q.seen, err);
}

/* --- customer.get ----------------------------------------------------------- */

/* Records one view keeps (FETCH_KEEP): a guest's profile fields come
 * from a few events, read back once each. */
#define FETCH_KEEP 16

/* What the view reads back: the record at a position, decoded into the
 * connection's scratch zone with only the personal fields the caller's
 * view shows of this guest. The records read are kept (valid until
 * FETCH_KEEP more were read) and the guest's subject key is unwrapped
 * once for all of them. */
typedef struct fetcher {
    crm_log *log;
    MDB_txn *txn;
    msgpack_zone *zone;
    const crm_view *view;
    unsigned consents;
    h_seen *seen;
    crm_log_subject subject;
    size_t n; /* records kept in zone */
    uint64_t pos[FETCH_KEEP];
    int rc[FETCH_KEEP];
    crm_record rec[FETCH_KEEP];
} fetcher;

/* As h_record_view for a view that opens, with f's subject key. */
static int
record_view(fetcher *f, uint64_t position, crm_record *r)
{
    int rc = crm_log_record_open_subject(f->log, f->txn, position, f->zone,
                                         &f->subject, r);
    if (rc != 0)
        return rc;
    msgpack_object withheld;
    if (crm_view_filter(f->view, r->type, r->type_len, f->consents, &r->pii,
                        f->zone, &withheld) < 0)
        return ENOMEM;
    if (r->pii.type != MSGPACK_OBJECT_NIL)
        h_seen_add(f->seen, r->stream, r->stream_len);
    return 0;
}

static int
fetch_record(void *arg, uint64_t position, crm_record *out)
{
    fetcher *f = arg;
    for (size_t i = 0; i < f->n; i++)
        if (f->pos[i] == position) {
            *out = f->rec[i];
            return f->rc[i];
        }
    if (f->n == 0 || f->n == FETCH_KEEP) {
        msgpack_zone_clear(f->zone);
        f->n = 0;
    }
    size_t i = f->n++;
    f->pos[i] = position;
    f->rc[i] = record_view(f, position, &f->rec[i]) == 0 ? 0 : -1;
    *out = f->rec[i];
    return f->rc[i];
}

typedef struct get_q {
    crm_log *log;
    const char *id;
    size_t id_len;
    int64_t now;
    size_t touchpoints;
    crm_view view;
    msgpack_packer *pk;
    msgpack_zone *zone;
    h_seen seen;
    int missing;
} get_q;

int
h_customer_pack_get(crm_log *log, MDB_txn *txn, MDB_dbi customer,
                    uint64_t position, const char *id, size_t len,
                    int64_t now, size_t touchpoints, const crm_view *v,
                    msgpack_zone *z, msgpack_packer *pk, h_seen *seen)
{
    uint32_t day = crm_settings_day_of(now);
    crm_settings *s = malloc(sizeof(*s));
    if (s == NULL)
        return ENOMEM;
    MDB_dbi loyalty = 0;
    int rc = h_settings_in(log, txn, day, s);
    int has_loyalty = 0;
    if (rc == 0) {
        rc = h_proj_db(log, txn, "loyalty", &loyalty);
        has_loyalty = rc == 0;
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    fetcher f = {.log = log, .txn = txn, .zone = z, .view = v, .seen = seen};
    /* contact data shown with consent: the consents as they stand now */
    if (rc == 0 && v->consented)
        rc = crm_customer_consents(txn, customer, id, len, &f.consents);
    crm_customer_query q = {.now_us = now,
                            .settings = s,
                            /* a view that sees nothing reads no record */
                            .fetch = v->opens ? fetch_record : NULL,
                            .fetch_arg = &f,
                            .touchpoints = touchpoints,
                            .extra = 3};
    if (rc == 0)
        rc = crm_customer_pack(txn, customer, id, len, &q, pk);
    if (rc != 0)
        goto out; /* MDB_NOTFOUND: nothing packed */
    crm_mp_pack_cstr(pk, "loyalty");
    if (has_loyalty) {
        rc = crm_loyalty_pack_summary(txn, loyalty, id, len, day, s, pk);
        if (rc == MDB_NOTFOUND) {
            msgpack_pack_nil(pk);
            rc = 0;
        }
    } else {
        msgpack_pack_nil(pk);
    }
    char text[11];
    crm_settings_day_text(day, text);
    KV_STR(pk, "on", text);
    KV_U64(pk, "as_of", position);
out:
    crm_log_subject_wipe(&f.subject);
    free(s);
    return rc;
}

static int
get_fn(void *arg, MDB_txn *txn, const MDB_dbi *dbi, uint64_t position)
{
    get_q *g = arg;
    int rc = h_customer_pack_get(g->log, txn, dbi[0], position, g->id,
                                 g->id_len, g->now, g->touchpoints, &g->view,
                                 g->zone, g->pk, &g->seen);
    if (rc == MDB_NOTFOUND) {
        g->missing = 1; /* nothing packed */
        rc = 0;
    }
    return rc;
}

crm_err
h_customer_get(rpc_call *call, msgpack_packer *pk, crm_error *why,
               rpc_flow *flow)
{
    get_q g = {.log = call->log, .pk = pk, .zone = &call->c->scratch};
    uint32_t day;
    int64_t tp;
    crm_err err;
    (void)flow;
    h_view(call->c, &g.view);
    if ((err = h_arg_str(call, "customer", 1, CRM_STREAM_MAX, &g.id,
                         &g.id_len, why)) != CRM_OK ||
        (err = h_arg_day(call, "on", &day, why)) != CRM_OK ||
        (err = h_arg_int(call, "touchpoints", 20, 0, 200, &tp, why)) !=
            CRM_OK)
        return err;
    /* "today" is the day asked about, at this moment of the day */
    int64_t now = crm_query_now_us();
    int64_t since_midnight = now - crm_settings_day_start(
                                       crm_settings_day_of(now));
    g.now = crm_settings_day_start(day) + since_midnight;
    g.touchpoints = (size_t)tp;
    err = crm_log_proj_read(call->log, "customer", get_fn, &g, why);
    if (err == CRM_OK && g.missing)
        err = h_not_found_guest(g.id, g.id_len, "no such guest", why);
    return h_seen_done(call, &g.seen, err);
}
