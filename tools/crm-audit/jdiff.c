/* jdiff.c - key paths that changed between two JSON documents. */
#include "jdiff.h"

#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 512

static void
line(FILE *f, char mark, const char *path, const json_t *a, const json_t *b)
{
    size_t flags = JSON_ENCODE_ANY | JSON_COMPACT;
    char *ta = a ? json_dumps(a, flags) : NULL;
    char *tb = b ? json_dumps(b, flags) : NULL;
    if (a && b)
        fprintf(f, "%c %s: %s -> %s\n", mark, path, ta ? ta : "?",
                tb ? tb : "?");
    else
        fprintf(f, "%c %s: %s\n", mark, path,
                (a ? ta : tb) ? (a ? ta : tb) : "?");
    free(ta);
    free(tb);
}

/* Every element an object with an integer "position". */
static int
by_position(const json_t *arr)
{
    size_t i;
    const json_t *e;
    if (json_array_size(arr) == 0)
        return 0;
    json_array_foreach(arr, i, e)
        if (!json_is_integer(json_object_get(e, "position")))
            return 0;
    return 1;
}

static const json_t *
find_position(const json_t *arr, json_int_t pos)
{
    size_t i;
    const json_t *e;
    json_array_foreach(arr, i, e)
        if (json_integer_value(json_object_get(e, "position")) == pos)
            return e;
    return NULL;
}

static size_t
diff_positions(FILE *f, const char *path, const json_t *a, const json_t *b)
{
    char sub[PATH_MAX_LEN];
    size_t n = 0, i;
    const json_t *e;
    json_array_foreach(a, i, e) {
        json_int_t p = json_integer_value(json_object_get(e, "position"));
        snprintf(sub, sizeof(sub), "%s[position=%lld]", path, (long long)p);
        n += crm_audit_jdiff(f, sub, e, find_position(b, p));
    }
    json_array_foreach(b, i, e) {
        json_int_t p = json_integer_value(json_object_get(e, "position"));
        if (find_position(a, p))
            continue;
        snprintf(sub, sizeof(sub), "%s[position=%lld]", path, (long long)p);
        n += crm_audit_jdiff(f, sub, NULL, e);
    }
    return n;
}

size_t
crm_audit_jdiff(FILE *f, const char *path, const json_t *a, const json_t *b)
{
    char sub[PATH_MAX_LEN];
    size_t n = 0;
    if (a == NULL && b == NULL)
        return 0;
    if (a == NULL || b == NULL) {
        line(f, a ? '-' : '+', path, a, b);
        return 1;
    }
    if (json_is_object(a) && json_is_object(b)) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
            n += crm_audit_jdiff(f, sub, v, json_object_get(b, k));
        }
        json_object_foreach((json_t *)b, k, v) {
            if (json_object_get(a, k))
                continue;
            snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
            n += crm_audit_jdiff(f, sub, NULL, v);
        }
        return n;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (by_position(a) || by_position(b)) {
            if ((by_position(a) || json_array_size(a) == 0) &&
                (by_position(b) || json_array_size(b) == 0))
                return diff_positions(f, path, a, b);
        }
        size_t na = json_array_size(a), nb = json_array_size(b);
        for (size_t i = 0; i < na || i < nb; i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            n += crm_audit_jdiff(f, sub, json_array_get(a, i),
                                 json_array_get(b, i));
        }
        return n;
    }
    if (json_equal((json_t *)a, (json_t *)b))
        return 0;
    line(f, '~', path, a, b);
    return 1;
}
