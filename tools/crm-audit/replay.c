/* replay.c - a guest's stream and $tenant read from a snapshot and folded
 * into a scratch environment by the projections crmd applies. */
#include "replay.h"

#include <errno.h>
#include <lmdb.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "customer.h"
#include "json.h"
#include "layout.h"
#include "loyalty.h"
#include "mdberr.h"
#include "proj.h"
#include "record.h"
#include "rpc.h"
#include "scratch.h"
#include "settings.h"
#include "timefmt.h"

/* The scratch environment holds one guest and the settings: small, but
 * the map is only address space until pages are written. */
#define SCRATCH_MAP (1ull << 30)
#define DAY_US 86400000000LL

/* The projections a guest's view is read from, in crmd's order. */
static const char *const used[] = {"settings", "loyalty", "customer"};
#define NUSED (sizeof(used) / sizeof(used[0]))

/* --- reading the snapshot --------------------------------------------------- */

/* The record at position decoded into z (pointers into the snapshot's
 * map). CRM_ERR_NOT_FOUND when there is none. */
static crm_err
read_at(crm_audit_snap *s, uint64_t pos, msgpack_zone *z, crm_record *r,
        crm_error *why)
{
    uint8_t kb[8];
    audit_put_be64(kb, pos);
    MDB_val k = {8, kb}, v;
    int rc = mdb_get(s->txn[0], s->dbi_log, &k, &v);
    if (rc == MDB_NOTFOUND)
        return crm_error_set(why, CRM_ERR_NOT_FOUND, "position %llu is not "
                             "in the log", (unsigned long long)pos);
    if (rc != 0)
        return crm_mdb_fail(why, rc, "read log");
    crm_error e;
    if (crm_record_decode(v.mv_data, v.mv_size, z, r, &e) != CRM_OK)
        return crm_error_set(why, e.code == CRM_ERR_NOMEM ? CRM_ERR_NOMEM
                                                          : CRM_ERR_CORRUPT,
                             "position %llu: %s (crm-audit verify tells "
                             "more)", (unsigned long long)pos, e.msg);
    if (r->h.position != pos)
        return crm_error_set(why, CRM_ERR_CORRUPT,
                             "position %llu holds the record of %llu "
                             "(crm-audit verify tells more)",
                             (unsigned long long)pos,
                             (unsigned long long)r->h.position);
    return CRM_OK;
}

static crm_err
recorded_at(crm_audit_snap *s, uint64_t pos, msgpack_zone *z, int64_t *at,
            crm_error *why)
{
    crm_record r;
    msgpack_zone_clear(z);
    crm_err err = read_at(s, pos, z, &r, why);
    if (err == CRM_OK)
        *at = r.h.recorded_at;
    return err;
}

int
crm_audit_time_parse(const char *text, int64_t *us)
{
    size_t n = strlen(text);
    if (n == 10 && crm_date_valid(text, n)) {
        /* a day: by its end */
        *us = crm_settings_day_start(crm_settings_day(text, n)) + DAY_US - 1;
        return 0;
    }
    return ctl_time_parse(text, us);
}

crm_err
crm_audit_moment_parse(crm_audit_snap *s, const char *text, uint64_t *position,
                       int64_t *time, crm_error *why)
{
    size_t n = strlen(text);
    crm_err err = CRM_OK;
    msgpack_zone *z = msgpack_zone_new(4096);
    if (z == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    if (n > 0 && n <= 20 && strspn(text, "0123456789") == n) {
        char *end;
        unsigned long long p = strtoull(text, &end, 10);
        if (p == 0 || p > s->head_pos) {
            err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                "position %s is not in the log (1..%llu)",
                                text, (unsigned long long)s->head_pos);
        } else {
            *position = p;
            err = recorded_at(s, p, z, time, why);
        }
        goto done;
    }
    if (crm_audit_time_parse(text, time) != 0) {
        err = crm_error_set(why, CRM_ERR_BAD_REQUEST,
                            "'%s' is neither a position nor a UTC time "
                            "(YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)",
                            text);
        goto done;
    }
    /* recorded_at never goes back (the writer holds it), so the last
     * record at or before the time is found by halving */
    uint64_t lo = 0, hi = s->head_pos; /* lo: known <= time */
    while (lo < hi && err == CRM_OK) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        int64_t at;
        if ((err = recorded_at(s, mid, z, &at, why)) != CRM_OK)
            break;
        if (at <= *time)
            lo = mid;
        else
            hi = mid - 1;
    }
    *position = lo;
done:
    msgpack_zone_free(z);
    return err;
}

/* --- the stream of one id ----------------------------------------------------- */

typedef struct positions {
    uint64_t *p;
    size_t n, cap;
} positions;

static int
push(positions *ps, uint64_t pos)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 64;
        uint64_t *more = realloc(ps->p, cap * sizeof(*more));
        if (more == NULL)
            return -1;
        ps->p = more;
        ps->cap = cap;
    }
    ps->p[ps->n++] = pos;
    return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int
is_stream(const crm_record *r, const char *id, size_t len)
{
    return r->stream_len == len && memcmp(r->stream, id, len) == 0;
}

/* Every position of stream id in s, ascending, appended to ps. The
 * streams index holds each stream's head as of streams_at at least (a
 * round in progress may have moved it further); from there stream_prev
 * leads back to version 0, and the records after streams_at are looked
 * through for the stream's later events. */
static crm_err
stream_positions(crm_audit_snap *s, const char *id, size_t len,
                 msgpack_zone *z, positions *ps, crm_error *why)
{
    size_t first = ps->n;
    crm_record r;
    crm_err err;
    MDB_val k = {len, (void *)id}, v;
    int rc = mdb_get(s->txn[0], s->dbi_streams, &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return crm_mdb_fail(why, rc, "read streams");
    uint64_t pos = 0, below = UINT64_MAX, walked = 0;
    if (rc == 0) {
        if (v.mv_size != AUDIT_STREAMVAL_LEN)
            return crm_error_set(why, CRM_ERR_CORRUPT,
                                 "the streams index entry of '%.*s' is "
                                 "malformed", (int)len, id);
        pos = walked = audit_be64((const uint8_t *)v.mv_data + 8);
    }
    while (pos != 0) {
        msgpack_zone_clear(z);
        if ((err = read_at(s, pos, z, &r, why)) != CRM_OK)
            return err;
        if (!is_stream(&r, id, len) || r.h.stream_prev >= pos ||
            pos >= below)
            return crm_error_set(why, CRM_ERR_CORRUPT,
                                 "stream '%.*s' does not lead back from "
                                 "position %llu (crm-audit verify tells "
                                 "more)", (int)len, id,
                                 (unsigned long long)pos);
        if (push(ps, pos) != 0)
            return crm_error_set(why, CRM_ERR_NOMEM, NULL);
        below = pos;
        pos = r.h.stream_prev;
    }
    /* the records after streams_at not walked already: a cheap look for
     * the id's bytes before a record is decoded */
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(s->txn[0], s->dbi_log, &cur)) != 0)
        return crm_mdb_fail(why, rc, "read log");
    uint8_t kb[8];
    audit_put_be64(kb, s->streams_at + 1);
    k.mv_size = 8;
    k.mv_data = kb;
    err = CRM_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t at = k.mv_size == 8 ? audit_be64(k.mv_data) : 0;
        if (at <= walked || memmem(v.mv_data, v.mv_size, id, len) == NULL)
            continue;
        crm_error e;
        msgpack_zone_clear(z);
        if (crm_record_decode(v.mv_data, v.mv_size, z, &r, &e) != CRM_OK) {
            err = crm_error_set(why, CRM_ERR_CORRUPT, "position %llu: %s",
                                (unsigned long long)at, e.msg);
            break;
        }
        if (is_stream(&r, id, len) && push(ps, at) != 0) {
            err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
            break;
        }
    }
    mdb_cursor_close(cur);
    if (err == CRM_OK && rc != MDB_NOTFOUND)
        err = crm_mdb_fail(why, rc, "read log");
    if (ps->n > first) /* none found: ps->p may still be NULL */
        qsort(ps->p + first, ps->n - first, sizeof(*ps->p), cmp_u64);
    return err;
}

/* --- the scratch environment -------------------------------------------------- */

typedef struct scratch {
    char dir[CRM_AUDIT_SCRATCH_MAX];
    MDB_env *env;
    MDB_txn *txn;
    crm_proj_set *set;
    MDB_dbi dbi[NUSED]; /* live db of settings, loyalty, customer */
} scratch;

static void
scratch_close(scratch *x)
{
    if (x->txn)
        mdb_txn_abort(x->txn);
    crm_proj_close(x->set);
    if (x->env)
        mdb_env_close(x->env);
    crm_audit_scratch_remove(x->dir);
    memset(x, 0, sizeof(*x));
}

/* An empty environment with the projections open, empty and live (as a
 * rebuild over no records leaves them), in one write transaction that is
 * never committed. */
static crm_err
scratch_open(scratch *x, crm_error *why)
{
    memset(x, 0, sizeof(*x));
    crm_err err = crm_audit_scratch_make(x->dir, "replay", why);
    if (err != CRM_OK)
        return err;
    const crm_proj_def *defs[NUSED];
    for (size_t i = 0; i < NUSED; i++) {
        defs[i] = NULL;
        for (size_t b = 0; crm_proj_builtin_at(b) && !defs[i]; b++)
            if (strcmp(crm_proj_builtin_at(b)->name, used[i]) == 0)
                defs[i] = crm_proj_builtin_at(b);
        if (defs[i] == NULL)
            return crm_error_set(why, CRM_ERR_INTERNAL,
                                 "this build has no '%s' projection",
                                 used[i]);
    }
    MDB_dbi meta;
    int rc;
    if ((rc = mdb_env_create(&x->env)) != 0 ||
        (rc = mdb_env_set_maxdbs(x->env, 4 * CRM_PROJ_MAX)) != 0 ||
        (rc = mdb_env_set_mapsize(x->env, SCRATCH_MAP)) != 0 ||
        (rc = mdb_env_open(x->env, x->dir, MDB_NOSYNC | MDB_NOMETASYNC,
                           0600)) != 0 ||
        (rc = mdb_txn_begin(x->env, NULL, 0, &x->txn)) != 0 ||
        (rc = mdb_dbi_open(x->txn, "meta", MDB_CREATE, &meta)) != 0)
        return crm_mdb_fail(why, rc, "scratch environment");
    /* no blind index is replayed: the key is never used */
    static const uint8_t no_key[CRM_PROJ_INDEX_KEY_LEN];
    err = crm_proj_open(x->txn, meta, no_key, defs, NUSED, &x->set,
                                why);
    if (err != CRM_OK)
        return err;
    for (size_t i = 0; i < NUSED; i++) {
        int same;
        if ((rc = crm_proj_rebuild_begin(x->set, x->txn, i)) != 0 ||
            (rc = crm_proj_rebuild_finish(x->set, x->txn, i, 0, &same, NULL,
                                          0)) != 0)
            return crm_mdb_fail(why, rc, "scratch projections");
        crm_proj_swapped(x->set, i, 0);
    }
    return CRM_OK;
}

static crm_err
scratch_live(scratch *x, crm_error *why)
{
    for (size_t i = 0; i < NUSED; i++) {
        MDB_dbi d[CRM_PROJ_DBS_MAX];
        uint64_t at;
        int rc = crm_proj_live(x->set, x->txn, i, d, &at);
        if (rc != 0)
            return crm_mdb_fail(why, rc, "scratch projections");
        x->dbi[i] = d[0];
    }
    return CRM_OK;
}

/* --- the view ------------------------------------------------------------------ */

/* Where the view reads a personal value back: the record in the snapshot.
 * A sealed record's personal part cannot be opened here: every personal
 * field of its type reads as CRM_AUDIT_SEALED instead. */
typedef struct read_back {
    int sealed; /* a sealed record was read */
    crm_audit_snap *s;
    msgpack_zone *z;
} read_back;

static int
read_back_record(void *arg, uint64_t position, crm_record *out)
{
    read_back *f = arg;
    msgpack_zone_clear(f->z);
    if (read_at(f->s, position, f->z, out, NULL) != CRM_OK)
        return -1;
    if (out->pii.type != MSGPACK_OBJECT_BIN)
        return 0;
    f->sealed = 1;
    const crm_event_type *t = crm_schema_find(out->type, out->type_len);
    size_t n = 0;
    for (size_t i = 0; t && i < t->nfields; i++)
        n += (t->fields[i].flags & CRM_FIELD_PII) != 0;
    msgpack_object_kv *kv =
        n ? msgpack_zone_malloc(f->z, n * sizeof(*kv)) : NULL;
    if (n && kv == NULL)
        return -1;
    out->pii.type = MSGPACK_OBJECT_MAP;
    out->pii.via.map.size = (uint32_t)n;
    out->pii.via.map.ptr = kv;
    for (size_t i = 0, j = 0; t && i < t->nfields; i++) {
        if (!(t->fields[i].flags & CRM_FIELD_PII))
            continue;
        kv[j].key.type = MSGPACK_OBJECT_STR;
        kv[j].key.via.str.ptr = t->fields[i].name;
        kv[j].key.via.str.size = (uint32_t)strlen(t->fields[i].name);
        kv[j].val.type = MSGPACK_OBJECT_STR;
        kv[j].val.via.str.ptr = CRM_AUDIT_SEALED;
        kv[j].val.via.str.size = sizeof(CRM_AUDIT_SEALED) - 1;
        j++;
    }
    return 0;
}

/* The packed map in sb as JSON (NULL when out of memory). */
static json_t *
to_json(const msgpack_sbuffer *sb)
{
    msgpack_zone *z = msgpack_zone_new(8192);
    msgpack_object o;
    size_t off = 0;
    json_t *j = NULL;
    if (z && msgpack_unpack(sb->data, sb->size, &off, z, &o) ==
                 MSGPACK_UNPACK_SUCCESS)
        j = ctl_json_from_mp(&o);
    msgpack_zone_free(z);
    return j;
}

static void
pack_tail(msgpack_packer *pk, uint32_t day, uint64_t position)
{
    char text[11];
    crm_settings_day_text(day, text);
    crm_mp_pack_cstr(pk, "on");
    crm_mp_pack_cstr(pk, text);
    crm_mp_pack_cstr(pk, "as_of");
    msgpack_pack_uint64(pk, position);
}

/* The two views of the guest as the scratch environment holds them:
 * customer.get's (with the loyalty summary) and loyalty.get's. */
static crm_err
pack_views(scratch *x, crm_audit_snap *s, const char *id, size_t len,
           const crm_audit_moment *m, crm_audit_replay *out, crm_error *why)
{
    uint32_t day = crm_settings_day_of(m->now_us);
    crm_settings *st = malloc(sizeof(*st));
    msgpack_sbuffer sb;
    msgpack_packer pk;
    read_back f = {0, s, msgpack_zone_new(4096)};
    crm_err err = CRM_OK;
    int rc;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (st == NULL || f.z == NULL) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto done;
    }
    if ((rc = crm_settings_at(x->txn, x->dbi[0], day, UINT64_MAX, st)) != 0) {
        err = crm_mdb_fail(why, rc, "replayed settings");
        goto done;
    }
    crm_customer_query q = {.now_us = m->now_us,
                            .settings = st,
                            .fetch = read_back_record,
                            .fetch_arg = &f,
                            .touchpoints = m->touchpoints,
                            .extra = 3};
    rc = crm_customer_pack(x->txn, x->dbi[2], id, len, &q, &pk);
    if (rc == 0) {
        crm_mp_pack_cstr(&pk, "loyalty");
        rc = crm_loyalty_pack_summary(x->txn, x->dbi[1], id, len, day, st,
                                      &pk);
        if (rc == MDB_NOTFOUND) {
            msgpack_pack_nil(&pk);
            rc = 0;
        }
        pack_tail(&pk, day, m->position);
        if (rc == 0 && (out->view = to_json(&sb)) == NULL)
            rc = ENOMEM;
    }
    if (rc == 0) {
        msgpack_sbuffer_clear(&sb);
        rc = crm_loyalty_pack(x->txn, x->dbi[1], id, len, day, st, SIZE_MAX,
                              3, &pk);
        if (rc == 0) {
            crm_mp_pack_cstr(&pk, "customer");
            crm_mp_pack_str(&pk, id, len);
            pack_tail(&pk, day, m->position);
            if ((out->loyalty = to_json(&sb)) == NULL)
                rc = ENOMEM;
        }
    }
    if (rc == MDB_NOTFOUND)
        rc = 0; /* not known then: no view */
    if (rc != 0)
        err = rc == ENOMEM ? crm_error_set(why, CRM_ERR_NOMEM, NULL)
                           : crm_mdb_fail(why, rc, "read the replayed view");
    out->sealed |= f.sealed;
done:
    msgpack_sbuffer_destroy(&sb);
    msgpack_zone_free(f.z);
    free(st);
    return err;
}

/* --- the replay ---------------------------------------------------------------- */

crm_err
crm_audit_replay_run(crm_audit_snap *s, const char *id, size_t len,
                     const crm_audit_moment *m, crm_audit_replay *out,
                     crm_error *why)
{
    positions ps = {0};
    scratch x = {0};
    crm_err err;
    size_t nguest;
    memset(out, 0, sizeof(*out));
    msgpack_zone *z = msgpack_zone_new(8192);
    if (z == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    if ((err = stream_positions(s, id, len, z, &ps, why)) != CRM_OK)
        goto done;
    if ((nguest = ps.n) == 0) {
        err = crm_error_set(why, CRM_ERR_NOT_FOUND,
                            "no such guest '%.*s' in tenant %s", (int)len,
                            id, s->tenant);
        goto done;
    }
    if ((err = stream_positions(s, CRM_TENANT_STREAM,
                                strlen(CRM_TENANT_STREAM), z, &ps, why)) !=
        CRM_OK)
        goto done;
    /* in log order, guest and settings together, up to the cut */
    qsort(ps.p, ps.n, sizeof(*ps.p), cmp_u64);
    size_t n = 0;
    while (n < ps.n && ps.p[n] <= m->position)
        n++;
    if (n && (out->events = calloc(n, sizeof(*out->events))) == NULL) {
        err = crm_error_set(why, CRM_ERR_NOMEM, NULL);
        goto done;
    }
    for (size_t i = n; i < ps.n && !out->erased_at; i++) {
        crm_record r;
        msgpack_zone_clear(z);
        if ((err = read_at(s, ps.p[i], z, &r, why)) != CRM_OK)
            goto done;
        if (is_stream(&r, id, len) &&
            crm_schema_name_eq("customer.erased", r.type, r.type_len))
            out->erased_at = ps.p[i];
    }
    if ((err = scratch_open(&x, why)) != CRM_OK)
        goto done;
    for (size_t i = 0; i < n; i++) {
        crm_record r;
        msgpack_zone_clear(z);
        if ((err = read_at(s, ps.p[i], z, &r, why)) != CRM_OK)
            goto done;
        crm_audit_event *e = &out->events[out->nevents++];
        e->position = r.h.position;
        e->recorded_at = r.h.recorded_at;
        e->occurred_at = r.occurred_at;
        e->settings = !is_stream(&r, id, len);
        size_t tl = r.type_len < CRM_TYPE_MAX ? r.type_len : CRM_TYPE_MAX;
        memcpy(e->type, r.type, tl);
        e->type[tl] = '\0';
        if (!e->settings && r.occurred_at > m->effective) {
            out->left_out++;
            continue;
        }
        /* the projections keep no personal value, only where it was set:
         * a sealed personal part reads as none (the field is left out) */
        if (r.pii.type == MSGPACK_OBJECT_BIN)
            out->sealed = 1;
        int rc = crm_proj_apply(x.set, x.txn, &r);
        if (rc != 0) {
            err = crm_mdb_fail(why, rc, "replay");
            goto done;
        }
        e->applied = 1;
        if (e->settings)
            out->settings_events++;
        else
            out->guest_events++;
    }
    if ((err = scratch_live(&x, why)) == CRM_OK)
        err = pack_views(&x, s, id, len, m, out, why);
done:
    scratch_close(&x);
    free(ps.p);
    msgpack_zone_free(z);
    return err;
}

void
crm_audit_replay_free(crm_audit_replay *r)
{
    json_decref(r->view);
    json_decref(r->loyalty);
    free(r->events);
    memset(r, 0, sizeof(*r));
}
