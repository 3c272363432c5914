/* docs_test.c - proto/PROTOCOL.md agrees with the tables it documents:
 * every op of CRM_OP_MAP has a section (and no section names another op),
 * each with an Errors part naming real error codes, among them those its
 * roles and flags imply; the role table matches each op's roles; the list
 * of ops a batch may hold matches CRM_OPF_BATCHABLE; the error code table
 * matches CRM_ERR_MAP row for row; the limits table matches the
 * constants; every event type with each of its fields; the tables of
 * who sees which personal field match the classes of the catalogue and
 * the role table of views.c, row for row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "err.h"
#include "ops.h"
#include "rpc.h"
#include "schema.h"
#include "views.h"

static char *doc;

static int
load(void **state)
{
    (void)state;
    FILE *f = fopen(CRM_SOURCE_DIR "/proto/PROTOCOL.md", "r");
    if (f == NULL)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    doc = calloc(1, (size_t)n + 1);
    size_t got = fread(doc, 1, (size_t)n, f);
    fclose(f);
    return got == (size_t)n ? 0 : -1;
}

static int
unload(void **state)
{
    (void)state;
    free(doc);
    return 0;
}

static void
must_contain(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("proto/PROTOCOL.md lacks: %s", needle);
}

static void
test_every_op(void **state)
{
    (void)state;
    for (int i = 0; i < CRM_OP__COUNT; i++) {
        char h[96];
        snprintf(h, sizeof(h), "### `%s`\n", crm_op_get((crm_op)i)->name);
        must_contain(doc, h);
    }
}

/* The text from the first occurrence of marker to the end of its
 * paragraph (a blank line), or NULL; malloc'd. */
static char *
paragraph(const char *from, const char *marker)
{
    const char *at = strstr(from, marker);
    if (at == NULL)
        return NULL;
    const char *end = strstr(at, "\n\n");
    return strndup(at, end ? (size_t)(end - at) : strlen(at));
}

/* Calls fn for each `backticked` token of text; with top_level only for
 * those outside parentheses. Returns the number of tokens seen. */
static int
each_token(const char *text, int top_level,
           void (*fn)(const char *tok, size_t len, void *arg), void *arg)
{
    int depth = 0, n = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '(')
            depth++;
        else if (*p == ')' && depth > 0)
            depth--;
        else if (*p == '`') {
            const char *end = strchr(p + 1, '`');
            if (end == NULL)
                fail_msg("unbalanced backtick in: %.80s", p);
            if (!top_level || depth == 0) {
                fn(p + 1, (size_t)(end - p - 1), arg);
                n++;
            }
            p = end;
        }
    }
    return n;
}

static int
is_error_name(const char *tok, size_t len)
{
#define IS_ERR(e, n, name, msg)                                                \
    if (e != CRM_OK && strlen(name) == len && memcmp(name, tok, len) == 0)     \
        return 1;
    CRM_ERR_MAP(IS_ERR)
#undef IS_ERR
    return 0;
}

/* The section of op: its heading up to the next heading; malloc'd. */
static char *
op_section(const crm_op_info *op)
{
    char h[96];
    snprintf(h, sizeof(h), "### `%s`\n", op->name);
    const char *at = strstr(doc, h);
    if (at == NULL)
        fail_msg("proto/PROTOCOL.md has no section for op %s", op->name);
    const char *end = strstr(at + strlen(h), "\n#");
    return strndup(at, end ? (size_t)(end - at) : strlen(at));
}

static void
test_no_heading_for_unknown_ops(void **state)
{
    (void)state;
    int headings = 0;
    for (const char *p = doc; (p = strstr(p, "\n### `")) != NULL; p++) {
        const char *name = p + 6;
        const char *end = strchr(name, '`');
        assert_non_null(end);
        if (crm_op_find(name, (size_t)(end - name)) == NULL)
            fail_msg("PROTOCOL.md documents op '%.*s', which CRM_OP_MAP lacks",
                     (int)(end - name), name);
        headings++;
    }
    assert_int_equal(headings, CRM_OP__COUNT);
}

typedef struct errs_seen {
    const crm_op_info *op;
    int unauthorized, forbidden;
} errs_seen;

static void
see_error(const char *tok, size_t len, void *arg)
{
    errs_seen *e = arg;
    if (!is_error_name(tok, len))
        fail_msg("%s: Errors names '%.*s', which is no error code", e->op->name,
                 (int)len, tok);
    e->unauthorized |= len == 12 && memcmp(tok, "unauthorized", 12) == 0;
    e->forbidden |= len == 9 && memcmp(tok, "forbidden", 9) == 0;
}

static void
test_every_op_lists_its_errors(void **state)
{
    (void)state;
    for (int i = 0; i < CRM_OP__COUNT; i++) {
        const crm_op_info *op = crm_op_get((crm_op)i);
        char *sec = op_section(op);
        char *errs = paragraph(sec, "\nErrors:");
        if (errs == NULL)
            fail_msg("op %s: its section has no \"Errors:\" part", op->name);
        /* the codes are named at the top level; parentheses say when */
        errs_seen e = {.op = op};
        if (each_token(errs, 1, see_error, &e) == 0)
            fail_msg("op %s: Errors names no error code", op->name);
        /* what the op table implies: a key is needed; not every role, or
         * not every key (operator keys have no tenant), may call it */
        if (op->roles != CRM_ANYONE && !e.unauthorized)
            fail_msg("op %s needs a key but Errors lacks `unauthorized`",
                     op->name);
        if (((op->roles & CRM_ANY_KEY) != CRM_ANY_KEY ||
             (op->flags & CRM_OPF_TENANT)) &&
            !e.forbidden)
            fail_msg("op %s is not for every key but Errors lacks "
                     "`forbidden`",
                     op->name);
        free(errs);
        free(sec);
    }
}

typedef struct op_set {
    const char *where;
    uint64_t ops; /* bit per crm_op */
} op_set;

static void
see_op(const char *tok, size_t len, void *arg)
{
    op_set *s = arg;
    const crm_op_info *op = crm_op_find(tok, len);
    if (op == NULL)
        fail_msg("%s names '%.*s', which is no op", s->where, (int)len, tok);
    if (s->ops & (UINT64_C(1) << op->op))
        fail_msg("%s names %s twice", s->where, op->name);
    s->ops |= UINT64_C(1) << op->op;
}

static void
test_role_table_matches_op_roles(void **state)
{
    (void)state;
    _Static_assert(CRM_OP__COUNT <= 64, "op_set holds 64 ops");
    const char *table = strstr(doc, "| role | may call |\n|---|---|\n");
    assert_non_null(table);
    table = strchr(strchr(table, '\n') + 1, '\n') + 1;
    int rows = 0;
    for (const char *line = table; line[0] == '|';
         line = strchr(line, '\n') + 1) {
        const char *eol = strchr(line, '\n');
        assert_non_null(eol);
        char *row = strndup(line, (size_t)(eol - line));
        char name[32];
        if (sscanf(row, "| %31[a-z] |", name) != 1)
            fail_msg("role table row without a role: %s", row);
        crm_role r;
        if (crm_role_parse(name, strlen(name), &r) != 0)
            fail_msg("role table names role '%s', which CRM_ROLE_MAP lacks",
                     name);
        char where[64];
        snprintf(where, sizeof(where), "role table row %s", name);
        /* ops in parentheses are remarks ("own tenant"), not more ops */
        op_set s = {.where = where};
        each_token(strchr(row + 1, '|') + 1, 1, see_op, &s);
        for (int i = 0; i < CRM_OP__COUNT; i++) {
            const crm_op_info *op = crm_op_get((crm_op)i);
            int may = (op->roles & CRM_ROLE_BIT(r)) != 0;
            int listed = (s.ops >> i) & 1;
            if (may != listed)
                fail_msg("role table: %s %s %s, but CRM_OP_MAP says it %s",
                         name, listed ? "lists" : "lacks", op->name,
                         may ? "may" : "may not");
        }
        free(row);
        rows++;
    }
    assert_int_equal(rows, CRM_ROLE__COUNT);
}

static void
test_batch_list_matches_batchable(void **state)
{
    (void)state;
    char *sec = op_section(crm_op_get(CRM_OP_BATCH));
    char *list = paragraph(sec, "Ops that may ride in a batch:");
    if (list == NULL)
        fail_msg("the batch section lacks \"Ops that may ride in a batch:\"");
    op_set s = {.where = "the batch list"};
    each_token(list, 1, see_op, &s);
    for (int i = 0; i < CRM_OP__COUNT; i++) {
        const crm_op_info *op = crm_op_get((crm_op)i);
        int may = (op->flags & CRM_OPF_BATCHABLE) != 0;
        if (may != (int)((s.ops >> i) & 1))
            fail_msg("batch list %s %s, but CRM_OP_MAP says it %s",
                     may ? "lacks" : "lists", op->name,
                     may ? "is batchable" : "is not batchable");
    }
    free(list);
    free(sec);
}

static void
test_limits(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        unsigned long long v;
    } limits[] = {
        {"max_message", CRM_RPC_MAX_MSG},
        {"max_objects", CRM_RPC_MAX_OBJECTS},
        {"max_batch_events", CRM_BATCH_MAX},
        {"max_batch_ops", CRM_RPC_MAX_BATCH_OPS},
        {"max_read", CRM_RPC_MAX_READ},
        {"max_reply", CRM_RPC_MAX_REPLY},
        {"max_wait_ms", CRM_RPC_MAX_WAIT_MS},
        {"max_event_body", CRM_BODY_MAX},
    };
    char *sec = op_section(crm_op_get(CRM_OP_SERVER_INFO));
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        char row[96];
        snprintf(row, sizeof(row), "\n| `%s` | %llu |", limits[i].name,
                 limits[i].v);
        must_contain(doc, row);
        /* and server.info's result names it */
        if (strstr(sec, limits[i].name) == NULL)
            fail_msg("server.info does not list limit %s", limits[i].name);
    }
    free(sec);
}

static void
test_every_error(void **state)
{
    (void)state;
    int codes = 0;
#define CHECK_ERR(e, n, name, msg)                                             \
    {                                                                          \
        char row[160];                                                         \
        snprintf(row, sizeof(row), "\n| %d | `%s` | %s |\n", n, name, msg);    \
        must_contain(doc, row);                                                \
        codes++;                                                               \
    }
    CRM_ERR_MAP(CHECK_ERR)
#undef CHECK_ERR
    /* and no row for a code the map lacks */
    const char *table = strstr(doc, "| code | name | meaning |\n");
    assert_non_null(table);
    int rows = 0;
    for (const char *line = strchr(strchr(table, '\n') + 1, '\n') + 1;
         line[0] == '|'; line = strchr(line, '\n') + 1) {
        int n;
        char name[40];
        if (sscanf(line, "| %d | `%39[a-z0-9_]` |", &n, name) != 2)
            fail_msg("error table row not understood: %.60s", line);
        if (strcmp(crm_err_name((crm_err)n), name) != 0)
            fail_msg("error table has %d %s; CRM_ERR_MAP has %s", n, name,
                     crm_err_name((crm_err)n));
        rows++;
    }
    assert_int_equal(rows, codes);
}

/* The table under header in the doc, up to its first line that is not a
 * row, must be want exactly. */
static void
table_is(const char *header, const char *want)
{
    const char *t = strstr(doc, header);
    if (t == NULL)
        fail_msg("PROTOCOL.md has no table %s", header);
    t += strlen(header);
    const char *end = t;
    while (end[0] == '|')
        end = strchr(end, '\n') + 1;
    size_t n = (size_t)(end - t);
    if (n != strlen(want) || memcmp(t, want, n) != 0)
        fail_msg("PROTOCOL.md table %s is\n%.*s\nbut the code says\n%s",
                 header, (int)n, t, want);
}

static void
test_personal_field_tables_match_views(void **state)
{
    (void)state;
    char want[8192], cell[2048];
    size_t at = 0;
    for (int c = CRM_PII_NONE + 1; c < CRM_PII__COUNT; c++) {
        crm_view_describe_class((crm_pii_class)c, cell, sizeof(cell));
        at += (size_t)snprintf(want + at, sizeof(want) - at,
                               "| %s | %s | %s |\n",
                               crm_pii_class_name((crm_pii_class)c),
                               crm_pii_class_doc((crm_pii_class)c), cell);
    }
    table_is("| class | what | fields |\n|---|---|---|\n", want);
    at = 0;
    for (int r = 0; r < CRM_ROLE__COUNT; r++) {
        crm_view_describe((crm_role)r, 0, cell, sizeof(cell));
        at += (size_t)snprintf(want + at, sizeof(want) - at, "| %s | %s |\n",
                               crm_role_name((crm_role)r), cell);
    }
    table_is("| role | sees |\n|---|---|\n", want);
}

static void
test_every_role(void **state)
{
    (void)state;
    for (int r = 0; r < CRM_ROLE__COUNT; r++) {
        char row[64];
        snprintf(row, sizeof(row), "\n| %s |", crm_role_name((crm_role)r));
        must_contain(doc, row);
    }
}

static void
test_every_event_type_and_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < crm_schema_count(); i++) {
        const crm_event_type *t = crm_schema_at(i);
        char h[128];
        snprintf(h, sizeof(h), "#### `%s`\n", t->name);
        const char *sec = strstr(doc, h);
        if (sec == NULL)
            fail_msg("proto/PROTOCOL.md lacks event type %s", t->name);
        size_t at = (size_t)(sec - doc), hl = strlen(h);
        const char *end = strstr(doc + at + hl, "#### ");
        size_t len = end ? (size_t)(end - doc) - at : strlen(doc + at);
        char *part = strndup(doc + at, len);
        for (size_t f = 0; f < t->nfields; f++) {
            const crm_field *fd = &t->fields[f];
            char row[160];
            snprintf(row, sizeof(row), "| `%s` |", fd->name);
            if (strstr(part, row) == NULL)
                fail_msg("%s: field %s is not documented", t->name, fd->name);
            /* the PII column must agree */
            const char *line = strstr(part, row);
            const char *eol = strchr(line, '\n');
            int says_pii = eol && memmem(line, (size_t)(eol - line), "| PII |", 7);
            if (says_pii != !!(fd->flags & CRM_FIELD_PII))
                fail_msg("%s.%s: PII column disagrees with the schema", t->name,
                         fd->name);
        }
        free(part);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op),
        cmocka_unit_test(test_no_heading_for_unknown_ops),
        cmocka_unit_test(test_every_op_lists_its_errors),
        cmocka_unit_test(test_role_table_matches_op_roles),
        cmocka_unit_test(test_batch_list_matches_batchable),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_every_error),
        cmocka_unit_test(test_every_role),
        cmocka_unit_test(test_personal_field_tables_match_views),
        cmocka_unit_test(test_every_event_type_and_field),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
