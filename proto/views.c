/*
 * views.c - the role table of personal data (views.h).
 *
 * Personal data is decided by class, not by op: an op asks whether a
 * field may go to the caller, never whether the caller is an agent, so
 * a new op cannot forget a role and a new field cannot forget an op.
 */
#include "views.h"

#include <string.h>

#define CLS(c) CRM_PII_BIT(CRM_PII_##c)
#define CH(c) CRM_CH_BIT(CRM_CH_##c)
/* every class there is: bits 1 .. CRM_PII__COUNT - 1 */
#define ALL_CLASSES (CRM_PII_BIT(CRM_PII__COUNT) - CRM_PII_BIT(1))

typedef struct view_rule {
    unsigned sees;      /* classes always shown */
    unsigned consented; /* classes shown per field with the guest's consent */
    unsigned granted;   /* classes the role's grants add */
    unsigned grants;    /* the grants a key of the role may carry */
    int sealed_only;    /* its reads carry sealed bytes, never opened */
    const char *note;   /* what the docs add after the classes */
} view_rule;

/* THE table. Agents serve the guest: everything. Marketing reaches the
 * guest only where the guest said yes, and never reads what the guest
 * complained about or carries a passport with. Finance invoices: names
 * and the loyalty number, no way to reach the guest. An auditor checks
 * the books, not the people, unless the key was made for it; a replica
 * copies what is stored, sealed as it is. */
static const view_rule rules[CRM_ROLE__COUNT] = {
    [CRM_ROLE_OPERATOR] = {.note = "nothing (no tenant data)"},
    [CRM_ROLE_ADMIN] = {.sees = ALL_CLASSES},
    [CRM_ROLE_AGENT] = {.sees = ALL_CLASSES},
    [CRM_ROLE_MARKETING] = {.sees = CLS(IDENTITY), .consented = CLS(CONTACT)},
    [CRM_ROLE_FINANCE] = {.sees = CLS(IDENTITY)},
    [CRM_ROLE_AUDITOR] = {.granted = ALL_CLASSES,
                          .grants = CRM_GRANT_PERSONAL_DATA},
    [CRM_ROLE_REPLICA] = {.sealed_only = 1,
                          .note = "nothing opened: sealed records only "
                                  "(`read.all` with `raw: true`)"},
};

/* Which consent unlocks which contact field for a view that sees
 * contact data only with consent: the channel the field reaches the
 * guest by (any of them, for a phone number). */
static const struct {
    const char *field;
    unsigned channels;
} contact_channels[] = {
    {"email", CH(EMAIL)},
    {"phone", CH(SMS) | CH(PHONE) | CH(WHATSAPP)},
    {"address", CH(POST)},
};

static const char *const channel_names[] = {
#define CRM_CHANNEL_NAME(c, name) name,
    CRM_CHANNEL_MAP(CRM_CHANNEL_NAME)
#undef CRM_CHANNEL_NAME
};

static const struct {
    unsigned bit;
    const char *name;
} grant_names[] = {
#define CRM_GRANT_ROW(g, name, doc) {g, name},
    CRM_GRANT_MAP(CRM_GRANT_ROW)
#undef CRM_GRANT_ROW
};

#define NF(a) (sizeof(a) / sizeof(a[0]))

void
crm_view_for(crm_role r, unsigned grants, crm_view *out)
{
    memset(out, 0, sizeof(*out));
    out->role = r;
    if ((unsigned)r >= CRM_ROLE__COUNT)
        return; /* an unknown role sees nothing */
    const view_rule *u = &rules[r];
    out->grants = grants & u->grants;
    out->sees = u->sees | (out->grants ? u->granted : 0);
    out->consented = u->consented & ~out->sees;
    out->opens = !u->sealed_only && (out->sees | out->consented) != 0;
}

int
crm_view_sees_all(const crm_view *v)
{
    return (v->sees & ALL_CLASSES) == ALL_CLASSES;
}

int
crm_view_sees_none(const crm_view *v)
{
    return !v->opens;
}

crm_pii_class
crm_view_class(const char *type, size_t tlen, const char *name, size_t flen)
{
    const crm_event_type *t = crm_schema_find(type, tlen);
    const crm_field *f = t ? crm_schema_field(t, name, flen) : NULL;
    return f && f->pii != CRM_PII_NONE ? f->pii : CRM_PII_OTHER;
}

unsigned
crm_view_channels(const char *name, size_t len)
{
    for (size_t i = 0; i < NF(contact_channels); i++)
        if (crm_schema_name_eq(contact_channels[i].field, name, len))
            return contact_channels[i].channels;
    return 0;
}

int
crm_view_shows(const crm_view *v, const char *type, size_t tlen,
               const char *name, size_t flen, unsigned consents)
{
    if (!v->opens)
        return 0;
    unsigned bit = CRM_PII_BIT(crm_view_class(type, tlen, name, flen));
    if (v->sees & bit)
        return 1;
    return (v->consented & bit) && (crm_view_channels(name, flen) & consents);
}

int
crm_view_filter(const crm_view *v, const char *type, size_t tlen,
                unsigned consents, msgpack_object *pii, msgpack_zone *z,
                msgpack_object *withheld)
{
    withheld->type = MSGPACK_OBJECT_NIL;
    if (pii->type != MSGPACK_OBJECT_MAP || crm_view_sees_all(v))
        return 0;
    msgpack_object_kv *kv = pii->via.map.ptr;
    uint32_t n = pii->via.map.size, kept = 0, out = 0;
    msgpack_object *names = NULL;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *k = &kv[i].key;
        int show = k->type == MSGPACK_OBJECT_STR &&
                   crm_view_shows(v, type, tlen, k->via.str.ptr,
                                  k->via.str.size, consents);
        if (show) {
            kv[kept++] = kv[i];
            continue;
        }
        if (names == NULL &&
            (names = msgpack_zone_malloc(z, n * sizeof(*names))) == NULL)
            return -1;
        names[out++] = *k;
    }
    if (out == 0)
        return 0;
    withheld->type = MSGPACK_OBJECT_ARRAY;
    withheld->via.array.size = out;
    withheld->via.array.ptr = names;
    pii->via.map.size = kept;
    if (kept == 0)
        pii->type = MSGPACK_OBJECT_NIL;
    return (int)out;
}

int
crm_channel_parse(const char *name, size_t len, crm_channel *out)
{
    for (size_t i = 0; i < NF(channel_names); i++)
        if (crm_schema_name_eq(channel_names[i], name, len)) {
            *out = (crm_channel)i;
            return 0;
        }
    return -1;
}

const char *
crm_channel_name(crm_channel c)
{
    return (unsigned)c < NF(channel_names) ? channel_names[c] : NULL;
}

int
crm_grant_parse(const char *name, size_t len, unsigned *bit)
{
    for (size_t i = 0; i < NF(grant_names); i++)
        if (crm_schema_name_eq(grant_names[i].name, name, len)) {
            *bit = grant_names[i].bit;
            return 0;
        }
    return -1;
}

const char *
crm_grant_name(unsigned bits)
{
    for (size_t i = 0; i < NF(grant_names); i++)
        if (bits & grant_names[i].bit)
            return grant_names[i].name;
    return NULL;
}

int
crm_grant_allowed(crm_role r, unsigned grants)
{
    return (unsigned)r < CRM_ROLE__COUNT && (grants & ~rules[r].grants) == 0;
}

/* --- the docs ---------------------------------------------------------- */

typedef struct text {
    char *buf;
    size_t cap, len;
} text;

static void
put(text *t, const char *s)
{
    size_t n = strlen(s);
    if (t->len < t->cap) {
        size_t room = t->cap - t->len - 1;
        memcpy(t->buf + t->len, s, n < room ? n : room);
        t->buf[t->len + (n < room ? n : room)] = '\0';
    }
    t->len += n;
}

/* "`email` with consent to email, `phone` to sms, phone or whatsapp" */
static void
put_consented(text *t)
{
    for (size_t i = 0; i < NF(contact_channels); i++) {
        put(t, i ? ", `" : "`");
        put(t, contact_channels[i].field);
        put(t, i ? "` to " : "` with consent to ");
        unsigned left = contact_channels[i].channels;
        for (unsigned c = 0, first = 1; c < CRM_CH__COUNT; c++) {
            if (!(left & CRM_CH_BIT(c)))
                continue;
            left &= ~CRM_CH_BIT(c);
            if (!first)
                put(t, left ? ", " : " or ");
            first = 0;
            put(t, channel_names[c]);
        }
    }
    put(t, ", for marketing");
}

static void
put_classes(text *t, unsigned sees, unsigned consented)
{
    int any = 0;
    for (int c = CRM_PII_NONE + 1; c < CRM_PII__COUNT; c++) {
        unsigned bit = CRM_PII_BIT(c);
        if (!((sees | consented) & bit))
            continue;
        put(t, any++ ? ", " : "");
        put(t, crm_pii_class_name((crm_pii_class)c));
        if (consented & bit) {
            put(t, " (");
            put_consented(t);
            put(t, ")");
        }
    }
}

size_t
crm_view_describe(crm_role r, unsigned grants, char *buf, size_t cap)
{
    text t = {buf, cap, 0};
    crm_view v;
    if (cap)
        buf[0] = '\0';
    crm_view_for(r, grants, &v);
    if ((unsigned)r >= CRM_ROLE__COUNT)
        return 0;
    const view_rule *u = &rules[r];
    if (v.opens)
        put_classes(&t, v.sees, v.consented);
    else if (u->note)
        put(&t, u->note);
    else
        put(&t, "nothing");
    if (u->grants && !grants) {
        put(&t, "; with the grant `");
        put(&t, crm_grant_name(u->grants));
        put(&t, "`: ");
        put_classes(&t, u->sees | u->granted, 0);
    }
    return t.len;
}

/* "`f1`, `f2`": the fields of class c in type t, into buf. */
static void
type_fields(const crm_event_type *t, crm_pii_class c, char *buf, size_t cap)
{
    text x = {buf, cap, 0};
    int any = 0;
    buf[0] = '\0';
    for (size_t j = 0; j < t->nfields; j++) {
        if (t->fields[j].pii != c)
            continue;
        put(&x, any++ ? ", `" : "`");
        put(&x, t->fields[j].name);
        put(&x, "`");
    }
}

size_t
crm_view_describe_class(crm_pii_class c, char *buf, size_t cap)
{
    text t = {buf, cap, 0};
    char cur[512], next[512];
    if (cap)
        buf[0] = '\0';
    if (c == CRM_PII_OTHER) {
        put(&t, "the `pii` map of an `x.*` event");
        return t.len;
    }
    /* "`a.b`, `a.c`: `f1`, `f2`; `d.e`: `f3`": types in catalogue order,
     * those in a row with the same fields named together */
    int groups = 0;
    for (size_t i = 0; i < crm_schema_count(); i++) {
        const crm_event_type *ty = crm_schema_at(i);
        type_fields(ty, c, cur, sizeof(cur));
        if (cur[0] == '\0')
            continue;
        put(&t, groups++ ? "; `" : "`");
        put(&t, ty->name);
        put(&t, "`");
        while (i + 1 < crm_schema_count()) {
            type_fields(crm_schema_at(i + 1), c, next, sizeof(next));
            if (strcmp(next, cur) != 0)
                break;
            put(&t, ", `");
            put(&t, crm_schema_at(++i)->name);
            put(&t, "`");
        }
        put(&t, ": ");
        put(&t, cur);
    }
    return t.len;
}
