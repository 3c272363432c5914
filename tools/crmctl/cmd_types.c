/*
 * cmd_types.c - the event catalogue, printed from proto/schema.h's table
 * so this help can never disagree with what the server validates.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "out.h"
#include "schema.h"

/* "string (max 100)", "integer 1..50", "enum: a|b|c", ... */
static void
describe(const crm_field *f, char *buf, size_t len)
{
    size_t at;
    switch (f->type) {
    case CRM_F_STR:
        snprintf(buf, len, "string (max %" PRId64 ")",
                 f->max ? f->max : (int64_t)CRM_STR_DEFAULT);
        return;
    case CRM_F_INT:
        if (f->min <= INT64_MIN + 1 && f->max == INT64_MAX)
            snprintf(buf, len, "integer");
        else if (f->max == INT64_MAX)
            snprintf(buf, len, "integer >= %" PRId64, f->min);
        else
            snprintf(buf, len, "integer %" PRId64 "..%" PRId64, f->min, f->max);
        return;
    case CRM_F_ENUM:
        at = (size_t)snprintf(buf, len, "enum:");
        for (size_t i = 0; f->values && f->values[i] && at < len; i++)
            at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? "|" : " ",
                                   f->values[i]);
        return;
    default:
        snprintf(buf, len, "%s", crm_ftype_name(f->type));
        return;
    }
}

static int
print_type(const crm_event_type *t)
{
    static const char *const head[] = {"  FIELD", "TYPE", "REQUIRED", "PII",
                                       "NOTES"};
    int rc = 0;
    printf("%s: %s\n", t->name, t->doc);
    ctl_table *tab = ctl_table_open(5, head, NULL, 0);
    if (tab == NULL)
        return ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    for (size_t i = 0; i < t->nfields && rc == 0; i++) {
        const crm_field *f = &t->fields[i];
        char name[80], type[200], notes[200];
        snprintf(name, sizeof(name), "  %s", f->name);
        describe(f, type, sizeof(type));
        snprintf(notes, sizeof(notes), "%s%s%s%s", f->doc ? f->doc : "",
                 f->doc && f->with ? "; " : "", f->with ? "needs " : "",
                 f->with ? f->with : "");
        const char *row[] = {name, type,
                             f->flags & CRM_FIELD_REQUIRED ? "required" : "-",
                             f->flags & CRM_FIELD_PII ? "PII" : "-", notes};
        if (ctl_table_row(tab, row) != 0)
            rc = ctl_error(CRM_ERR_NOMEM, "cannot build the table");
    }
    ctl_table_close(tab);
    printf("\n");
    return rc;
}

static json_t *
field_json(const crm_field *f)
{
    const char *tn = crm_ftype_name(f->type);
    /* The first word of the type name is its kind ("date"); the rest of
     * the name is for people. */
    json_t *o = json_pack("{sssosbsb}", "name", f->name, "type",
                          json_stringn(tn, strcspn(tn, " ")), "required",
                          (f->flags & CRM_FIELD_REQUIRED) != 0, "pii",
                          (f->flags & CRM_FIELD_PII) != 0);
    int rc = o == NULL;
    if (!rc && f->type == CRM_F_INT)
        rc = json_object_set_new(o, "min", json_integer(f->min)) |
             json_object_set_new(o, "max", json_integer(f->max));
    if (!rc && f->type == CRM_F_STR)
        rc = json_object_set_new(
            o, "max_bytes", json_integer(f->max ? f->max : CRM_STR_DEFAULT));
    if (!rc && f->type == CRM_F_ENUM) {
        json_t *v = json_array();
        for (size_t k = 0; v && f->values && f->values[k]; k++)
            if (json_array_append_new(v, json_string(f->values[k])) != 0) {
                json_decref(v);
                v = NULL;
            }
        rc = json_object_set_new(o, "values", v);
    }
    if (!rc && f->with)
        rc = json_object_set_new(o, "with", json_string(f->with));
    if (!rc && f->doc)
        rc = json_object_set_new(o, "doc", json_string(f->doc));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *
type_json(const crm_event_type *t)
{
    json_t *fields = json_array();
    if (fields == NULL)
        return NULL;
    for (size_t i = 0; i < t->nfields; i++)
        if (json_array_append_new(fields, field_json(&t->fields[i])) != 0) {
            json_decref(fields);
            return NULL;
        }
    /* "o" hands fields over to the new object. */
    return json_pack("{ssssso}", "name", t->name, "doc", t->doc, "fields",
                     fields);
}

int
ctl_cmd_types(ctl *c, const ctl_args *a)
{
    const crm_event_type *only = NULL;
    int rc = 0;

    if (a->npos == 1) {
        size_t len = strlen(a->pos[0]);
        only = crm_schema_find(a->pos[0], len);
        if (only == NULL && crm_schema_is_ext(a->pos[0], len)) {
            printf("%s: a tenant extension type (prefix %s): any body map, "
                   "stored opaque; a top-level \"pii\" map in the body is "
                   "personal data\n",
                   a->pos[0], CRM_EXT_PREFIX);
            return 0;
        }
        if (only == NULL)
            return ctl_error(CRM_ERR_UNKNOWN_TYPE,
                             "no event type '%s' (see 'crmctl types')",
                             a->pos[0]);
    }
    if (c->json) {
        json_t *types = json_array();
        for (size_t i = 0; types && i < crm_schema_count(); i++) {
            const crm_event_type *t = crm_schema_at(i);
            if (only && t != only)
                continue;
            if (json_array_append_new(types, type_json(t)) != 0) {
                json_decref(types);
                types = NULL;
            }
        }
        return ctl_out_json(types
                                ? json_pack("{soss}", "types", types,
                                            "extension_prefix", CRM_EXT_PREFIX)
                                : NULL);
    }
    for (size_t i = 0; i < crm_schema_count() && rc == 0; i++) {
        const crm_event_type *t = crm_schema_at(i);
        if (only == NULL || t == only)
            rc = print_type(t);
    }
    if (only == NULL && rc == 0)
        printf("%s*: tenant extension types: any body map, stored opaque; a "
               "top-level \"pii\" map in the body is personal data\n",
               CRM_EXT_PREFIX);
    return rc;
}
