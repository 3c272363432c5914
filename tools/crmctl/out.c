/* out.c - tables, JSON documents and summaries on stdout. */
#include "out.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "json.h"

int
ctl_out_json(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (s == NULL)
        return ctl_error(CRM_ERR_NOMEM, "cannot format JSON output");
    puts(s);
    fflush(stdout);
    free(s);
    return 0;
}

int
ctl_out_mp_json(const msgpack_object *o)
{
    return ctl_out_json(ctl_json_from_mp(o));
}

/* --- tables --------------------------------------------------------------- */

struct ctl_table {
    size_t ncols, nrows, cap;
    int stream;
    int *width;
    char **cells;         /* nrows * ncols, row-major */
    const char **headers; /* the caller's strings; the array is ours */
};

/* --- colour and width ----------------------------------------------------- */

int
ctl_out_colour(void)
{
    static int decided = -1;
    if (decided < 0) {
        const char *force = getenv("CLICOLOR_FORCE");
        const char *term = getenv("TERM");
        if (force && force[0] && strcmp(force, "0") != 0)
            decided = 1;
        else if (getenv("NO_COLOR") && getenv("NO_COLOR")[0])
            decided = 0;
        else
            decided = isatty(STDOUT_FILENO) && term && strcmp(term, "dumb");
    }
    return decided;
}

void
ctl_out_heading(const char *s)
{
    if (ctl_out_colour())
        printf("\033[1m%s\033[0m\n", s);
    else
        printf("%s\n", s);
}

/* Terminal cells of code point c: 0 for combining marks and zero-width
 * characters, 2 for East Asian wide and full-width ones, else 1. */
static int
cells_of(uint32_t c)
{
    if ((c >= 0x0300 && c <= 0x036f) || (c >= 0x0483 && c <= 0x0489) ||
        (c >= 0x0591 && c <= 0x05bd) || (c >= 0x0610 && c <= 0x061a) ||
        (c >= 0x064b && c <= 0x065f) || c == 0x0670 ||
        (c >= 0x06d6 && c <= 0x06ed) || (c >= 0x200b && c <= 0x200f) ||
        (c >= 0x202a && c <= 0x202e) || (c >= 0x2060 && c <= 0x2064) ||
        (c >= 0xfe00 && c <= 0xfe0f) || c == 0xfeff)
        return 0;
    if ((c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0x303e) ||
        (c >= 0x3041 && c <= 0x33ff) || (c >= 0x3400 && c <= 0x4dbf) ||
        (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xa000 && c <= 0xa4cf) ||
        (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
        (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
        (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
        (c >= 0x1f900 && c <= 0x1f9ff) || (c >= 0x20000 && c <= 0x3fffd))
        return 2;
    return 1;
}

int
ctl_out_width(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    int w = 0;
    while (*p) {
        uint32_t c = *p;
        int n = c < 0x80 ? 0 : c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : -1;
        if (n < 0) { /* a stray continuation byte: one cell, as shown */
            w++, p++;
            continue;
        }
        c = n ? c & (0x3f >> n) : c;
        p++;
        while (n-- > 0 && (*p & 0xc0) == 0x80)
            c = c << 6 | (*p++ & 0x3f);
        w += cells_of(c);
    }
    return w;
}

/* --- tables --------------------------------------------------------------- */

static void
print_row(const ctl_table *t, const char *const *cells, int heading)
{
    size_t last = t->ncols;
    /* Columns after the last non-empty cell are left out, and that cell
     * is not padded: no trailing blanks. */
    while (last > 1 && cells[last - 1][0] == '\0')
        last--;
    int bold = heading && ctl_out_colour();
    if (bold)
        fputs("\033[1m", stdout);
    for (size_t i = 0; i < last; i++) {
        fputs(cells[i], stdout);
        int pad = t->width[i] - ctl_out_width(cells[i]);
        if (i + 1 < last)
            printf("%*s", (pad > 0 ? pad : 0) + 2, "");
    }
    if (bold)
        fputs("\033[0m", stdout);
    putchar('\n');
}

ctl_table *
ctl_table_open(size_t ncols, const char *const *headers, const int *widths,
               int stream)
{
    ctl_table *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->width = calloc(ncols, sizeof(int))) == NULL ||
        (t->headers = calloc(ncols, sizeof(char *))) == NULL) {
        if (t)
            free(t->width);
        free(t);
        return NULL;
    }
    t->ncols = ncols;
    t->stream = stream;
    for (size_t i = 0; i < ncols; i++) {
        t->headers[i] = headers[i];
        int hl = ctl_out_width(headers[i]);
        t->width[i] = widths && widths[i] > hl ? widths[i] : hl;
    }
    if (stream) {
        print_row(t, t->headers, 1);
        fflush(stdout);
    }
    return t;
}

int
ctl_table_row(ctl_table *t, const char *const *cells)
{
    if (t->stream) {
        print_row(t, cells, 0);
        fflush(stdout);
        return 0;
    }
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **nc = realloc(t->cells, cap * t->ncols * sizeof(char *));
        if (nc == NULL)
            return -1;
        t->cells = nc;
        t->cap = cap;
    }
    char **row = &t->cells[t->nrows * t->ncols];
    for (size_t i = 0; i < t->ncols; i++) {
        if ((row[i] = strdup(cells[i])) == NULL) {
            while (i-- > 0)
                free(row[i]);
            return -1;
        }
        int len = ctl_out_width(cells[i]);
        if (len > t->width[i])
            t->width[i] = len;
    }
    t->nrows++;
    return 0;
}

void
ctl_table_close(ctl_table *t)
{
    if (t == NULL)
        return;
    if (!t->stream) {
        print_row(t, t->headers, 1);
        for (size_t r = 0; r < t->nrows; r++)
            print_row(t, (const char *const *)&t->cells[r * t->ncols], 0);
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->width);
    free(t->headers);
    free(t);
    fflush(stdout);
}

/* --- summaries ------------------------------------------------------------ */

/* Shortens n so that s[0..n) does not end inside a UTF-8 sequence. */
static size_t
utf8_cut(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

/* Appends to buf at *at without overrunning len; marks truncation. */
static void
put(char *buf, size_t len, size_t *at, const char *s, size_t n)
{
    if (*at >= len - 1)
        return;
    size_t room = len - 1 - *at;
    if (n > room)
        n = utf8_cut(s, room);
    memcpy(buf + *at, s, n);
    *at += n;
    buf[*at] = '\0';
}

/* Strings longer than cut bytes are shortened with "..." (0: never). */
static void
put_value(char *buf, size_t len, size_t *at, const msgpack_object *v,
          size_t cut)
{
    char tmp[48];
    switch (v->type) {
    case MSGPACK_OBJECT_STR: {
        int quote = memchr(v->via.str.ptr, ' ', v->via.str.size) != NULL ||
                    v->via.str.size == 0;
        size_t n = cut && v->via.str.size > cut ? utf8_cut(v->via.str.ptr, cut)
                                                : v->via.str.size;
        if (quote)
            put(buf, len, at, "\"", 1);
        put(buf, len, at, v->via.str.ptr, n);
        if (n < v->via.str.size)
            put(buf, len, at, "...", 3);
        if (quote)
            put(buf, len, at, "\"", 1);
        return;
    }
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(tmp, sizeof(tmp), "%" PRIu64, v->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(tmp, sizeof(tmp), "%" PRId64, v->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        snprintf(tmp, sizeof(tmp), "%g", v->via.f64);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        snprintf(tmp, sizeof(tmp), "%s", v->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_NIL:
        snprintf(tmp, sizeof(tmp), "null");
        break;
    case MSGPACK_OBJECT_MAP:
        snprintf(tmp, sizeof(tmp), "{...}");
        break;
    case MSGPACK_OBJECT_ARRAY: {
        /* a list of scalars reads inline; lists of maps are tables */
        const msgpack_object *a = v->via.array.ptr;
        uint32_t n = v->via.array.size;
        int flat = 1;
        for (uint32_t i = 0; i < n; i++)
            flat &= a[i].type != MSGPACK_OBJECT_MAP &&
                    a[i].type != MSGPACK_OBJECT_ARRAY;
        if (!flat) {
            snprintf(tmp, sizeof(tmp), "[...]");
            break;
        }
        if (n == 0) {
            snprintf(tmp, sizeof(tmp), "none");
            break;
        }
        for (uint32_t i = 0; i < n; i++) {
            if (i)
                put(buf, len, at, ", ", 2);
            put_value(buf, len, at, &a[i], cut);
        }
        return;
    }
    default:
        snprintf(tmp, sizeof(tmp), "<bin>");
        break;
    }
    put(buf, len, at, tmp, strlen(tmp));
}

static void
put_key(char *buf, size_t len, size_t *at, const msgpack_object *k)
{
    if (k->type == MSGPACK_OBJECT_STR)
        put(buf, len, at, k->via.str.ptr, k->via.str.size);
    else
        put_value(buf, len, at, k, 0);
}

/* Appends " k=v" for every member of map m. */
static void
put_fields(char *buf, size_t len, size_t *at, const msgpack_object *m)
{
    if (m == NULL || m->type != MSGPACK_OBJECT_MAP)
        return;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        if (*at)
            put(buf, len, at, " ", 1);
        put_key(buf, len, at, &m->via.map.ptr[i].key);
        put(buf, len, at, "=", 1);
        put_value(buf, len, at, &m->via.map.ptr[i].val, 40);
    }
}

void
ctl_out_summary(const msgpack_object *body, const msgpack_object *pii,
                int redacted, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    if (len < 8)
        return;
    /* Build into a larger scratch so the cut is visible as "...". */
    char tmp[1024];
    size_t cap = sizeof(tmp);
    tmp[0] = '\0';
    put_fields(tmp, cap, &at, body);
    /* What the server sent is the caller's to see: an auditor's events
     * come without it. */
    put_fields(tmp, cap, &at, pii);
    if (redacted)
        put(tmp, cap, &at, at ? " pii:redacted" : "pii:redacted", at ? 13 : 12);
    if (at < len) {
        memcpy(buf, tmp, at + 1);
        return;
    }
    size_t cut = utf8_cut(tmp, len - 4);
    memcpy(buf, tmp, cut);
    memcpy(buf + cut, "...", 4);
}

/* --- key/value listings --------------------------------------------------- */

static size_t
kv_width(const msgpack_object *m, size_t prefix)
{
    size_t w = 0;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        const msgpack_object *v = &m->via.map.ptr[i].val;
        size_t kl =
            prefix + (k->type == MSGPACK_OBJECT_STR ? k->via.str.size : 8);
        size_t sub = v->type == MSGPACK_OBJECT_MAP && v->via.map.size > 0
                         ? kv_width(v, kl + 1)
                         : kl;
        if (sub > w)
            w = sub;
    }
    return w;
}

static int is_table(const msgpack_object *v);

/* tables: 0 prints lists of maps as [...], 1 leaves them out (the view
 * prints them as tables after). */
static void
kv_print(const msgpack_object *m, const char *prefix, int width, int tables)
{
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        const msgpack_object *v = &m->via.map.ptr[i].val;
        char key[256], val[1024];
        if (tables && is_table(v))
            continue;
        size_t at = 0;
        key[0] = '\0';
        put(key, sizeof(key), &at, prefix, strlen(prefix));
        put_key(key, sizeof(key), &at, k);
        if (v->type == MSGPACK_OBJECT_MAP && v->via.map.size > 0) {
            put(key, sizeof(key), &at, ".", 1);
            kv_print(v, key, width, tables);
            continue;
        }
        at = 0;
        val[0] = '\0';
        put_value(val, sizeof(val), &at, v, 0);
        printf("%-*s  %s\n", width, key, val);
    }
}

void
ctl_out_kv(const msgpack_object *m)
{
    if (m == NULL || m->type != MSGPACK_OBJECT_MAP)
        return;
    kv_print(m, "", (int)kv_width(m, 0), 0);
    fflush(stdout);
}

/* --- views --------------------------------------------------------------- */

static int
is_table(const msgpack_object *v)
{
    return v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size > 0 &&
           v->via.array.ptr[0].type == MSGPACK_OBJECT_MAP;
}

#define VIEW_COLS 12

static int
key_eq(const msgpack_object *a, const msgpack_object *b)
{
    return a->type == MSGPACK_OBJECT_STR && b->type == MSGPACK_OBJECT_STR &&
           a->via.str.size == b->via.str.size &&
           memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0;
}

/* A cell: times (integer "..._at" columns, µs since the epoch) as UTC
 * "YYYY-MM-DD HH:MM:SS", the rest as put_value writes them. */
static void
put_cell(char *buf, size_t len, const msgpack_object *k,
         const msgpack_object *v)
{
    size_t at = 0;
    buf[0] = '\0';
    if (v == NULL || v->type == MSGPACK_OBJECT_NIL) {
        put(buf, len, &at, "-", 1);
        return;
    }
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
        k->type == MSGPACK_OBJECT_STR && k->via.str.size > 3 &&
        memcmp(k->via.str.ptr + k->via.str.size - 3, "_at", 3) == 0) {
        time_t t = (time_t)(v->via.u64 / 1000000);
        struct tm tm;
        if (gmtime_r(&t, &tm) && strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
            return;
    }
    put_value(buf, len, &at, v, 0);
}

/* One list of maps as a table, titled title; the columns are the keys of
 * every entry, in the order first seen (at most VIEW_COLS). */
static void
view_table(const char *title, const msgpack_object *list)
{
    const msgpack_object *col[VIEW_COLS];
    size_t nc = 0;
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        for (uint32_t j = 0; e->type == MSGPACK_OBJECT_MAP &&
                             j < e->via.map.size && nc < VIEW_COLS; j++) {
            size_t c = 0;
            while (c < nc && !key_eq(col[c], &e->via.map.ptr[j].key))
                c++;
            if (c == nc)
                col[nc++] = &e->via.map.ptr[j].key;
        }
    }
    char head[VIEW_COLS][64];
    const char *hp[VIEW_COLS];
    for (size_t c = 0; c < nc; c++) {
        size_t at = 0;
        head[c][0] = '\0';
        put_key(head[c], sizeof(head[c]), &at, col[c]);
        for (char *p = head[c]; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        hp[c] = head[c];
    }
    putchar('\n');
    ctl_out_heading(title);
    ctl_table *t = ctl_table_open(nc, hp, NULL, 0);
    if (t == NULL)
        return;
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        char cell[VIEW_COLS][256];
        const char *row[VIEW_COLS];
        for (size_t c = 0; c < nc; c++) {
            const msgpack_object *v = NULL;
            for (uint32_t j = 0; e->type == MSGPACK_OBJECT_MAP &&
                                 j < e->via.map.size; j++)
                if (key_eq(&e->via.map.ptr[j].key, col[c]))
                    v = &e->via.map.ptr[j].val;
            put_cell(cell[c], sizeof(cell[c]), col[c], v);
            row[c] = cell[c];
        }
        ctl_table_row(t, row);
    }
    ctl_table_close(t);
}

/* The tables of map m and of the maps in it, titled by their dotted
 * keys. */
static void
view_tables(const msgpack_object *m, const char *prefix)
{
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *v = &m->via.map.ptr[i].val;
        char key[256];
        size_t at = 0;
        key[0] = '\0';
        put(key, sizeof(key), &at, prefix, strlen(prefix));
        put_key(key, sizeof(key), &at, &m->via.map.ptr[i].key);
        if (is_table(v)) {
            view_table(key, v);
        } else if (v->type == MSGPACK_OBJECT_MAP) {
            put(key, sizeof(key), &at, ".", 1);
            view_tables(v, key);
        }
    }
}

void
ctl_out_view(const msgpack_object *m)
{
    if (m == NULL || m->type != MSGPACK_OBJECT_MAP)
        return;
    /* the scalars and maps first, as key/value lines, then the tables */
    kv_print(m, "", (int)kv_width(m, 0), 1);
    view_tables(m, "");
    fflush(stdout);
}
