/* segfilter.c - the segment filter language: a recursive-descent parser
 * into a small tree, and its evaluation over a guest (segfilter.h). */
#include "segfilter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be.h"

#define NODES_MAX 128
#define STR_MAX 256

/* The fields: what a test reads and how it compares. */
typedef enum kind { K_NUM, K_NAME, K_TIER, K_PLACE, K_PREF, K_FLAG } kind;

enum {
    F_NIGHTS_12M, F_STAYS_12M, F_STAYS_PREV_12M, F_STAYS, F_NIGHTS, F_ORDERS,
    F_SPEND, F_DAYS_SINCE_STAY, F_NPS_LAST, F_OPEN_COMPLAINTS, F_CHURN_SCORE,
    F_RFM_R, F_RFM_F, F_RFM_M, F_POINTS, F_POINTS_EXPIRING, F_LIFECYCLE,
    F_FREQUENCY, F_VALUE, F_CHURN, F_TIER, F_PROPERTY, F_HOME, F_PREF,
    F_CONSENT, F_EXPIRING_FLAG
};

static const struct field {
    const char *name;
    int id;
    kind k;
    unsigned needs;
} fields[] = {
    {"nights_12m", F_NIGHTS_12M, K_NUM, 0},
    {"stays_12m", F_STAYS_12M, K_NUM, 0},
    {"stays_prev_12m", F_STAYS_PREV_12M, K_NUM, 0},
    {"stays", F_STAYS, K_NUM, 0},
    {"nights", F_NIGHTS, K_NUM, 0},
    {"orders", F_ORDERS, K_NUM, 0},
    {"spend", F_SPEND, K_NUM, 0},
    {"days_since_stay", F_DAYS_SINCE_STAY, K_NUM, 0},
    {"nps_last", F_NPS_LAST, K_NUM, 0},
    {"open_complaints", F_OPEN_COMPLAINTS, K_NUM, 0},
    {"churn_score", F_CHURN_SCORE, K_NUM, 0},
    {"rfm_r", F_RFM_R, K_NUM, CRM_SEG_NEED_POP},
    {"rfm_f", F_RFM_F, K_NUM, CRM_SEG_NEED_POP},
    {"rfm_m", F_RFM_M, K_NUM, CRM_SEG_NEED_POP},
    {"points", F_POINTS, K_NUM, CRM_SEG_NEED_TIER},
    {"points_expiring", F_POINTS_EXPIRING, K_NUM, CRM_SEG_NEED_EXPIRING},
    {"lifecycle", F_LIFECYCLE, K_NAME, 0},
    {"frequency", F_FREQUENCY, K_NAME, 0},
    {"value", F_VALUE, K_NAME, CRM_SEG_NEED_POP},
    {"churn", F_CHURN, K_NAME, 0},
    {"tier", F_TIER, K_TIER, CRM_SEG_NEED_TIER},
    {"property", F_PROPERTY, K_PLACE, 0},
    {"home_property", F_HOME, K_PLACE, 0},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* Preference categories a filter may name without "pref.". */
static const char *const pref_names[] = {"diet", "room", "bed", "pillow",
                                         "language", "accessibility", NULL};

typedef enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } op;

typedef enum ntype { N_AND, N_OR, N_NOT, N_TEST } ntype;

typedef struct node {
    ntype t;
    int a, b; /* children (N_AND, N_OR: both; N_NOT: a) */
    int field;
    op o;
    int64_t num;    /* K_NUM; K_NAME: the name's index; K_FLAG: bit */
    uint64_t hash;  /* K_PLACE; K_PREF: category */
    uint8_t key[CRM_SEG_PREF_HMAC];
    char text[CRM_SETTINGS_NAME_MAX + 1]; /* K_TIER */
} node;

struct crm_segfilter {
    size_t n;
    int root;
    unsigned needs;
    node nodes[NODES_MAX];
};

/* --- tokens --------------------------------------------------------------- */

typedef enum tok {
    T_END, T_IDENT, T_NUM, T_STR, T_OP, T_LP, T_RP, T_AND, T_OR, T_NOT, T_BAD
} tok;

typedef struct parser {
    const char *s;
    size_t len, pos;
    const uint8_t *key;
    crm_segfilter *f;
    crm_segfilter_error *err;
    /* the current token */
    tok t;
    size_t at, tlen; /* its offset and length in s */
    op o;
    int64_t num;
    char str[STR_MAX + 1];
    size_t slen;
    int failed;
} parser;

static int fail(parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(parser *p, const char *fmt, ...)
{
    if (p->failed)
        return -1;
    p->failed = 1;
    p->err->column = p->at + 1;
    size_t n = p->tlen < 40 ? p->tlen : 40;
    if (n)
        memcpy(p->err->token, p->s + p->at, n);
    p->err->token[n] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
    va_end(ap);
    return -1;
}

static int
kw(const char *s, size_t n, const char *word)
{
    if (strlen(word) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
        if (c != word[i])
            return 0;
    }
    return 1;
}

static void
next(parser *p)
{
    const char *s = p->s;
    while (p->pos < p->len && (s[p->pos] == ' ' || s[p->pos] == '\t' ||
                               s[p->pos] == '\n' || s[p->pos] == '\r'))
        p->pos++;
    p->at = p->pos;
    p->tlen = 0;
    if (p->pos >= p->len) {
        p->t = T_END;
        return;
    }
    char c = s[p->pos];
    size_t i = p->pos;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
        while (i < p->len && ((s[i] >= 'a' && s[i] <= 'z') ||
                              (s[i] >= 'A' && s[i] <= 'Z') ||
                              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
                              s[i] == '.'))
            i++;
        p->tlen = i - p->pos;
        p->t = kw(s + p->pos, p->tlen, "and")   ? T_AND
               : kw(s + p->pos, p->tlen, "or")  ? T_OR
               : kw(s + p->pos, p->tlen, "not") ? T_NOT
                                                : T_IDENT;
    } else if ((c >= '0' && c <= '9') ||
               (c == '-' && i + 1 < p->len && s[i + 1] >= '0' &&
                s[i + 1] <= '9')) {
        int neg = c == '-';
        i += neg;
        int64_t v = 0;
        p->t = T_NUM;
        while (i < p->len && s[i] >= '0' && s[i] <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                p->t = T_BAD;
            else
                v = v * 10 + (s[i] - '0');
            i++;
        }
        p->num = neg ? -v : v;
        p->tlen = i - p->pos;
    } else if (c == '"') {
        i++;
        p->slen = 0;
        p->t = T_BAD;
        while (i < p->len) {
            char d = s[i++];
            if (d == '"') {
                p->t = T_STR;
                break;
            }
            if (d == '\\' && i < p->len)
                d = s[i++];
            if (p->slen == STR_MAX || d == '\0') {
                p->t = T_BAD;
                break;
            }
            p->str[p->slen++] = d;
        }
        p->str[p->slen] = '\0';
        p->tlen = i - p->pos;
    } else if (c == '(' || c == ')') {
        p->t = c == '(' ? T_LP : T_RP;
        p->tlen = 1;
        i++;
    } else if (c == '=' || c == '!' || c == '<' || c == '>') {
        int eq = i + 1 < p->len && s[i + 1] == '=';
        p->t = T_OP;
        p->tlen = 1 + eq;
        p->o = c == '=' ? OP_EQ
               : c == '!' ? OP_NE
               : c == '<' ? (eq ? OP_LE : OP_LT)
                          : (eq ? OP_GE : OP_GT);
        if (c == '!' && !eq)
            p->t = T_BAD;
    } else {
        p->t = T_BAD;
        /* one character, whole if it is UTF-8 */
        p->tlen = 1;
        while (p->pos + p->tlen < p->len &&
               ((unsigned char)s[p->pos + p->tlen] & 0xc0) == 0x80)
            p->tlen++;
    }
    p->pos = p->at + p->tlen;
}

/* --- the grammar ---------------------------------------------------------- */

/* What the current token is, for messages. */
static const char *
found(const parser *p)
{
    switch (p->t) {
    case T_END: return "the end of the filter";
    case T_IDENT: return "a name";
    case T_NUM: return "a number";
    case T_STR: return "a string";
    case T_OP: return "an operator";
    case T_LP: return "'('";
    case T_RP: return "')'";
    case T_AND: return "'and'";
    case T_OR: return "'or'";
    case T_NOT: return "'not'";
    default: return "something not understood";
    }
}



static int
new_node(parser *p, ntype t)
{
    if (p->f->n == NODES_MAX) {
        fail(p, "the filter is too long (at most %s tests and operators)",
             "128");
        return -1;
    }
    node *n = &p->f->nodes[p->f->n];
    memset(n, 0, sizeof(*n));
    n->t = t;
    return (int)p->f->n++;
}

static int parse_or(parser *p);

static int
name_index(const char *const *names, size_t count, const char *s)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

static int
name_list(int field, const char *const **names, size_t *count)
{
    switch (field) {
    case F_LIFECYCLE: *names = crm_seg_lifecycle_names; *count = SEG_NLIFE; break;
    case F_FREQUENCY: *names = crm_seg_frequency_names; *count = SEG_NFREQ; break;
    case F_VALUE: *names = crm_seg_value_names; *count = SEG_NVALUE; break;
    default: *names = crm_seg_churn_names; *count = SEG_NCHURN; break;
    }
    return 0;
}

/* consent.CHANNEL[.PURPOSE]: the bit, or -1. */
static int
consent_bit(const char *s, size_t n)
{
    const char *dot = memchr(s, '.', n);
    size_t cl = dot ? (size_t)(dot - s) : n;
    int c = -1, pu = 0;
    for (int i = 0; crm_seg_channels[i]; i++)
        if (strlen(crm_seg_channels[i]) == cl &&
            memcmp(crm_seg_channels[i], s, cl) == 0)
            c = i;
    if (dot) {
        pu = -1;
        size_t pl = n - cl - 1;
        for (int i = 0; crm_seg_purposes[i]; i++)
            if (strlen(crm_seg_purposes[i]) == pl &&
                memcmp(crm_seg_purposes[i], dot + 1, pl) == 0)
                pu = i;
    }
    return c < 0 || pu < 0 ? -1 : c * 4 + pu;
}

static int
parse_test(parser *p)
{
    if (p->t != T_IDENT)
        return fail(p, "expected a field, 'not' or '(', found %s",
                    found(p));
    const char *s = p->s + p->at;
    size_t n = p->tlen;
    char name[80];
    if (n >= sizeof(name))
        return fail(p, "unknown field%s", "");
    memcpy(name, s, n);
    name[n] = '\0';
    int id = -1;
    kind k = K_NUM;
    unsigned needs = 0;
    uint64_t cat = 0;
    const char *catname = "";
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(fields[i].name, name) == 0) {
            id = fields[i].id;
            k = fields[i].k;
            needs = fields[i].needs;
        }
    if (id < 0 && n > 8 && memcmp(name, "consent.", 8) == 0) {
        int bit = consent_bit(name + 8, n - 8);
        if (bit < 0)
            return fail(p, "unknown consent: consent.CHANNEL.PURPOSE with a "
                           "channel of email, sms, phone, post, push, "
                           "whatsapp and a purpose of marketing, profiling, "
                           "service, third_party%s", "");
        int i = new_node(p, N_TEST);
        if (i < 0)
            return -1;
        p->f->nodes[i].field = F_CONSENT;
        p->f->nodes[i].num = bit;
        next(p);
        return i;
    }
    if (id < 0) {
        const char *c = NULL;
        if (n > 5 && memcmp(name, "pref.", 5) == 0)
            c = name + 5;
        for (int i = 0; pref_names[i] && !c; i++)
            if (strcmp(pref_names[i], name) == 0)
                c = name;
        if (c == NULL || strchr(c, '.'))
            return fail(p, "unknown field '%s'", name);
        id = F_PREF;
        k = K_PREF;
        cat = crm_segment_name_hash(c, strlen(c));
        catname = c;
    }
    next(p);
    if (id == F_POINTS_EXPIRING && p->t != T_OP) {
        /* alone: a flag */
        int i = new_node(p, N_TEST);
        if (i < 0)
            return -1;
        p->f->nodes[i].field = F_EXPIRING_FLAG;
        p->f->needs |= needs;
        return i;
    }
    if (p->t != T_OP)
        return fail(p, "expected an operator (= != < <= > >=) after the "
                       "field, found %s",
                    found(p));
    op o = p->o;
    if (k != K_NUM && o != OP_EQ && o != OP_NE)
        return fail(p, "'%s' compares with = or != only", name);
    next(p);
    if (p->t == T_BAD)
        return fail(p, "not understood (a string is \"...\", a number "
                       "-?[0-9]+)");
    int i = new_node(p, N_TEST);
    if (i < 0)
        return -1;
    node *nd = &p->f->nodes[i];
    nd->field = id;
    nd->o = o;
    nd->hash = cat;
    if (k == K_NUM) {
        if (p->t != T_NUM)
            return fail(p, "expected an integer, found %s",
                        found(p));
        nd->num = p->num;
    } else {
        if (p->t != T_STR)
            return fail(p, "expected a \"string\", found %s",
                        found(p));
        if (k == K_NAME) {
            const char *const *names;
            size_t count;
            name_list(id, &names, &count);
            int v = name_index(names, count, p->str);
            if (v < 0) {
                char list[120] = "";
                for (size_t j = 0; j < count; j++) {
                    strcat(list, j ? ", " : "");
                    strcat(list, names[j]);
                }
                return fail(p, "no such value; one of %s", list);
            }
            nd->num = v;
        } else if (k == K_TIER) {
            if (p->slen == 0 || p->slen > CRM_SETTINGS_NAME_MAX)
                return fail(p, "a tier's name is 1..40 bytes%s", "");
            memcpy(nd->text, p->str, p->slen + 1);
        } else if (k == K_PLACE) {
            if (p->slen == 0)
                return fail(p, "a property's name is 1..64 bytes%s", "");
            nd->hash = crm_segment_name_hash(p->str, p->slen);
        } else {
            crm_segment_pref_key(p->key, catname, strlen(catname), p->str,
                                 p->slen, nd->key);
        }
    }
    p->f->needs |= needs;
    next(p);
    return i;
}

static int
parse_unary(parser *p)
{
    if (p->t == T_NOT) {
        next(p);
        int a = parse_unary(p);
        if (a < 0)
            return -1;
        int i = new_node(p, N_NOT);
        if (i >= 0)
            p->f->nodes[i].a = a;
        return i;
    }
    if (p->t == T_LP) {
        next(p);
        int a = parse_or(p);
        if (a < 0)
            return -1;
        if (p->t != T_RP)
            return fail(p, "expected ')', found %s",
                        found(p));
        next(p);
        return a;
    }
    if (p->t == T_BAD)
        return fail(p, "not understood%s", "");
    return parse_test(p);
}

static int
parse_binary(parser *p, int or)
{
    int a = or ? parse_binary(p, 0) : parse_unary(p);
    while (a >= 0 && p->t == (or ? T_OR : T_AND)) {
        next(p);
        int b = or ? parse_binary(p, 0) : parse_unary(p);
        if (b < 0)
            return -1;
        int i = new_node(p, or ? N_OR : N_AND);
        if (i < 0)
            return -1;
        p->f->nodes[i].a = a;
        p->f->nodes[i].b = b;
        a = i;
    }
    return a;
}

static int
parse_or(parser *p)
{
    return parse_binary(p, 1);
}

int
crm_segfilter_parse(const char *text, size_t len,
                    const uint8_t index_key[CRM_PROJ_INDEX_KEY_LEN],
                    crm_segfilter **out, crm_segfilter_error *err)
{
    *out = NULL;
    memset(err, 0, sizeof(*err));
    parser p = {.s = text, .len = len, .key = index_key, .err = err};
    if ((p.f = calloc(1, sizeof(*p.f))) == NULL) {
        snprintf(err->message, sizeof(err->message), "out of memory");
        return -1;
    }
    next(&p);
    if (p.t == T_END) {
        fail(&p, "the filter is empty%s", "");
    } else {
        p.f->root = parse_or(&p);
        if (p.f->root >= 0 && p.t != T_END)
            fail(&p, "expected 'and', 'or' or the end, found %s", found(&p));
    }
    if (p.failed) {
        free(p.f);
        return -1;
    }
    *out = p.f;
    return 0;
}

void
crm_segfilter_free(crm_segfilter *f)
{
    free(f);
}

unsigned
crm_segfilter_needs(const crm_segfilter *f)
{
    return f->needs;
}

/* --- evaluation ----------------------------------------------------------- */

static int
cmp(int64_t a, op o, int64_t b)
{
    switch (o) {
    case OP_EQ: return a == b;
    case OP_NE: return a != b;
    case OP_LT: return a < b;
    case OP_LE: return a <= b;
    case OP_GT: return a > b;
    default: return a >= b;
    }
}

static int
test(const node *n, const crm_seg_guest *g)
{
    int64_t v;
    switch (n->field) {
    case F_NIGHTS_12M: v = g->nights_12m; break;
    case F_STAYS_12M: v = g->stays_12m; break;
    case F_STAYS_PREV_12M: v = g->stays_prev_12m; break;
    case F_STAYS: v = g->stays; break;
    case F_NIGHTS: v = g->nights; break;
    case F_ORDERS: v = g->orders; break;
    case F_SPEND: v = g->spend; break;
    case F_DAYS_SINCE_STAY:
        if (g->days_since_stay < 0)
            return 0;
        v = g->days_since_stay;
        break;
    case F_NPS_LAST:
        if (g->nps_last < 0)
            return 0;
        v = g->nps_last;
        break;
    case F_OPEN_COMPLAINTS: v = g->open_complaints; break;
    case F_CHURN_SCORE: v = g->churn_score; break;
    case F_RFM_R: v = g->rfm_r; break;
    case F_RFM_F: v = g->rfm_f; break;
    case F_RFM_M: v = g->rfm_m; break;
    case F_POINTS: v = g->points; break;
    case F_POINTS_EXPIRING: v = g->points_expiring; break;
    case F_LIFECYCLE: v = g->lifecycle; break;
    case F_FREQUENCY: v = g->frequency; break;
    case F_VALUE: v = g->value; break;
    case F_CHURN: v = g->churn; break;
    case F_TIER: {
        int eq = strcmp(g->tier, n->text) == 0;
        return n->o == OP_EQ ? eq : !eq;
    }
    case F_PROPERTY: {
        int has = crm_seg_guest_visited(g, n->hash);
        return n->o == OP_EQ ? has : !has;
    }
    case F_HOME: {
        int eq = g->home == n->hash;
        return n->o == OP_EQ ? eq : !eq;
    }
    case F_PREF: {
        int eq = crm_seg_guest_pref(g, n->hash, n->key);
        return n->o == OP_EQ ? eq : !eq;
    }
    case F_CONSENT: return (g->consent >> n->num) & 1;
    case F_EXPIRING_FLAG: return g->points_expiring > 0;
    default: return 0;
    }
    return cmp(v, n->o, n->num);
}

static int
eval(const crm_segfilter *f, int i, const crm_seg_guest *g)
{
    const node *n = &f->nodes[i];
    switch (n->t) {
    case N_AND: return eval(f, n->a, g) && eval(f, n->b, g);
    case N_OR: return eval(f, n->a, g) || eval(f, n->b, g);
    case N_NOT: return !eval(f, n->a, g);
    default: return test(n, g);
    }
}

int
crm_segfilter_eval(const crm_segfilter *f, const crm_seg_guest *g)
{
    return eval(f, f->root, g);
}
