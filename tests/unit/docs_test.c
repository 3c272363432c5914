/* docs_test.c - proto/PROTOCOL.md agrees with the tables it documents:
 * every op of CRM_OP_MAP, every error code with its number, every role,
 * every event type with each of its fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "ops.h"
#include "schema.h"

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

static void
test_every_error(void **state)
{
    (void)state;
#define CHECK_ERR(e, n, name, msg)                                             \
    {                                                                          \
        char row[96];                                                          \
        snprintf(row, sizeof(row), "| %d | `%s` |", n, name);                  \
        must_contain(doc, row);                                                \
    }
    CRM_ERR_MAP(CHECK_ERR)
#undef CHECK_ERR
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
        cmocka_unit_test(test_every_error),
        cmocka_unit_test(test_every_role),
        cmocka_unit_test(test_every_event_type_and_field),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
