/* find.c - blind indexes over a guest's e-mail, phone, loyalty number,
 * name and birth date (find.h). */
#include "find.h"

#include <errno.h>

#include <stdlib.h>
#include <string.h>

#include "rpc.h"
#include "schema.h"
#include "settings.h"

#define ENTRY_LEN (1 + CRM_BLIND_LEN)
#define KEY_MAX (1 + CRM_STREAM_MAX + 2)
#define REV 0xff

static const char *const fields[] = {NULL,        "email",      "phone",
                                     "loyalty_number", "first_name",
                                     "last_name", "birth_date"};
#define NFIELDS 6

/* The entries field f of the value s[0..len) gives; their count. */
static size_t
entries(const crm_proj_ctx *cx, const crm_record *r, int f, const char *s,
        size_t len, uint8_t out[][ENTRY_LEN], int *rc)
{
    char norm[CRM_NORM_MAX];
    char tok[CRM_NORM_TOKENS_MAX][CRM_NORM_TOKEN_LEN];
    int n = -1;
    crm_norm_kind kind = CRM_NORM_EMAIL;
    *rc = 0;
    switch (f) {
    case 1: n = crm_norm_email(s, len, norm, sizeof(norm)); break;
    case 2: {
        const crm_settings *st;
        if ((*rc = crm_settings_for(cx, crm_settings_day_of(r->occurred_at),
                                    r->h.position, &st)) != 0)
            return 0;
        n = crm_norm_phone(s, len, st->country_code, norm, sizeof(norm));
        kind = CRM_NORM_PHONE;
        break;
    }
    case 3:
        n = crm_norm_loyalty(s, len, norm, sizeof(norm));
        kind = CRM_NORM_LOYALTY;
        break;
    case 4:
    case 5: {
        int k = crm_norm_name_tokens(s, len, tok, CRM_NORM_TOKENS_MAX);
        for (int i = 0; i < k; i++) {
            out[i][0] = CRM_NORM_NAME;
            crm_blind(cx->index_key, CRM_NORM_NAME, tok[i], strlen(tok[i]),
                      out[i] + 1);
        }
        return k > 0 ? (size_t)k : 0;
    }
    case 6:
        out[0][0] = CRM_NORM_NAME_BIRTH;
        crm_blind(cx->index_key, CRM_NORM_NAME_BIRTH, s, len, out[0] + 1);
        return 1;
    }
    if (n <= 0)
        return 0;
    out[0][0] = (uint8_t)kind;
    crm_blind(cx->index_key, kind, norm, (size_t)n, out[0] + 1);
    return 1;
}

static size_t
entry_key(uint8_t *k, const uint8_t *entry, const char *id, size_t len)
{
    memcpy(k, entry, ENTRY_LEN);
    memcpy(k + ENTRY_LEN, id, len);
    return ENTRY_LEN + len;
}

static size_t
rev_key(uint8_t *k, const char *id, size_t len, int f)
{
    k[0] = REV;
    memcpy(k + 1, id, len);
    k[1 + len] = 0;
    k[2 + len] = (uint8_t)f;
    return len + 3;
}

/* Whether a field of the record's guest other than f holds entry: 1, 0,
 * or a negative LMDB error code. The two names give entries of one kind,
 * so a token can be in both ("Ana Silva" / "Silva"). */
static int
held_elsewhere(const crm_proj_ctx *cx, const crm_record *r, int f,
               const uint8_t *entry)
{
    uint8_t rk[KEY_MAX];
    for (int o = 1; o <= NFIELDS; o++) {
        if (o == f)
            continue;
        MDB_val k = {rev_key(rk, r->stream, r->stream_len, o), rk}, v;
        int rc = mdb_get(cx->txn, cx->dbi[0], &k, &v);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0)
            return -rc;
        const uint8_t *p = v.mv_data;
        for (size_t i = 0; i + ENTRY_LEN <= v.mv_size; i += ENTRY_LEN)
            if (memcmp(p + i, entry, ENTRY_LEN) == 0)
                return 1;
    }
    return 0;
}

/* Replaces what field f of the record's guest holds with e[0..n). An old
 * entry another field still holds stays. */
static int
replace(const crm_proj_ctx *cx, const crm_record *r, int f,
        uint8_t e[][ENTRY_LEN], size_t n)
{
    uint8_t rk[KEY_MAX], kb[ENTRY_LEN + CRM_STREAM_MAX];
    MDB_val k = {rev_key(rk, r->stream, r->stream_len, f), rk}, v;
    int rc = mdb_get(cx->txn, cx->dbi[0], &k, &v);
    if (rc == 0) {
        /* copy first: the deletes below may move the page */
        size_t ol = v.mv_size - v.mv_size % ENTRY_LEN;
        uint8_t *old = malloc(ol ? ol : 1);
        if (old == NULL)
            return ENOMEM;
        memcpy(old, v.mv_data, ol);
        for (size_t i = 0; i < ol && rc == 0; i += ENTRY_LEN) {
            int held = held_elsewhere(cx, r, f, old + i);
            if (held != 0) {
                rc = held < 0 ? -held : 0;
                continue;
            }
            MDB_val ek = {entry_key(kb, old + i, r->stream, r->stream_len),
                          kb};
            rc = mdb_del(cx->txn, cx->dbi[0], &ek, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0; /* two tokens of one name were the same */
        }
        free(old);
        if (rc == 0 && n == 0)
            rc = mdb_del(cx->txn, cx->dbi[0], &k, NULL);
    } else if (rc == MDB_NOTFOUND) {
        rc = 0;
    }
    if (rc != 0 || n == 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        MDB_val ek = {entry_key(kb, e[i], r->stream, r->stream_len), kb},
                ev = {0, ""};
        rc = mdb_put(cx->txn, cx->dbi[0], &ek, &ev, 0);
    }
    if (rc == 0) {
        v.mv_size = n * ENTRY_LEN;
        v.mv_data = e;
        rc = mdb_put(cx->txn, cx->dbi[0], &k, &v, 0);
    }
    return rc;
}

static int
find_apply(const crm_proj_ctx *cx, const crm_record *r)
{
    if (r->stream_len == 0 || r->stream[0] == '$')
        return 0;
    int erased = crm_schema_name_eq("customer.erased", r->type, r->type_len);
    if (!erased &&
        !crm_schema_name_eq("customer.registered", r->type, r->type_len) &&
        !crm_schema_name_eq("customer.profile_updated", r->type, r->type_len))
        return 0;
    uint8_t e[CRM_NORM_TOKENS_MAX][ENTRY_LEN];
    int rc = 0;
    for (int f = 1; f <= NFIELDS && rc == 0; f++) {
        if (erased) {
            rc = replace(cx, r, f, e, 0);
            continue;
        }
        const msgpack_object *o = crm_mp_get(&r->pii, fields[f]);
        if (o == NULL)
            o = crm_mp_get(&r->body, fields[f]);
        if (!crm_mp_is_str(o))
            continue; /* not in this event: as it was */
        size_t n = entries(cx, r, f, o->via.str.ptr, o->via.str.size, e, &rc);
        if (rc == 0)
            rc = replace(cx, r, f, e, n);
    }
    return rc;
}

const crm_proj_def crm_proj_find = {
    .name = "find",
    .format = 2, /* 2: a token both names hold outlives a change of one */
    .ndbs = 1,
    .dbs = {"blind"},
    .apply = find_apply,
    .blind = 1,
};

int
crm_find_lookup(MDB_txn *txn, MDB_dbi db, crm_norm_kind kind,
                const uint8_t hmac[CRM_BLIND_LEN],
                int (*fn)(void *arg, const char *id, size_t len), void *arg)
{
    uint8_t pfx[ENTRY_LEN];
    pfx[0] = (uint8_t)kind;
    memcpy(pfx + 1, hmac, CRM_BLIND_LEN);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db, &cur);
    if (rc != 0)
        return rc;
    MDB_val k = {ENTRY_LEN, pfx}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size <= ENTRY_LEN || memcmp(k.mv_data, pfx, ENTRY_LEN) != 0)
            break;
        if (fn(arg, (const char *)k.mv_data + ENTRY_LEN,
               k.mv_size - ENTRY_LEN))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
crm_find_has(MDB_txn *txn, MDB_dbi db, crm_norm_kind kind,
             const uint8_t hmac[CRM_BLIND_LEN], const char *id, size_t len)
{
    uint8_t kb[ENTRY_LEN + CRM_STREAM_MAX], e[ENTRY_LEN];
    if (len > CRM_STREAM_MAX)
        return 0;
    e[0] = (uint8_t)kind;
    memcpy(e + 1, hmac, CRM_BLIND_LEN);
    MDB_val k = {entry_key(kb, e, id, len), kb}, v;
    int rc = mdb_get(txn, db, &k, &v);
    return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : -rc;
}
