/* slog_test.c - the server's own log lines: level names, the threshold,
 * the line format (UTC time, level, request id) and one record per line,
 * also when many threads write at once; escaping of client-supplied
 * values, which must not be able to end their field or forge another.
 * stderr is captured in a temporary file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slog.h"

/* --- capturing fd 2 ------------------------------------------------------- */

static FILE *cap;
static int saved_fd = -1;

static void
capture_begin(void)
{
    cap = tmpfile();
    assert_non_null(cap);
    fflush(stderr);
    saved_fd = dup(STDERR_FILENO);
    assert_true(saved_fd >= 0);
    assert_int_equal(dup2(fileno(cap), STDERR_FILENO), STDERR_FILENO);
}

/* Restores stderr and returns what was written (malloc'd, NUL-ended). */
static char *
capture_end(size_t *len_out)
{
    dup2(saved_fd, STDERR_FILENO);
    close(saved_fd);
    saved_fd = -1;
    long len = lseek(fileno(cap), 0, SEEK_END);
    assert_true(len >= 0);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fileno(cap), buf, (size_t)len, 0), len);
    buf[len] = '\0';
    fclose(cap);
    cap = NULL;
    if (len_out)
        *len_out = (size_t)len;
    return buf;
}

static size_t
count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The whole of one line: time, level, optional req, then the rest. */
static const char line_re[] = "^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):"
                              "([0-9]{2}):([0-9]{2})\\.([0-9]{6})Z "
                              "level=(debug|info|warn|error) "
                              "(req=([1-9][0-9]*) )?"
                              "([^\n]*)\n$";

typedef struct parsed {
    time_t t;
    long usec;
    char level[8];
    unsigned long long req; /* 0 when absent */
    char rest[1100];
} parsed;

static void
parse_line(const char *line, parsed *p)
{
    regex_t re;
    regmatch_t m[12];
    assert_int_equal(regcomp(&re, line_re, REG_EXTENDED), 0);
    if (regexec(&re, line, 12, m, 0) != 0)
        fail_msg("line does not have the slog form: '%s'", line);
    regfree(&re);

    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int f[7];
    for (int i = 0; i < 7; i++)
        f[i] = atoi(line + m[i + 1].rm_so);
    tm.tm_year = f[0] - 1900;
    tm.tm_mon = f[1] - 1;
    tm.tm_mday = f[2];
    tm.tm_hour = f[3];
    tm.tm_min = f[4];
    tm.tm_sec = f[5];
    assert_true(f[1] >= 1 && f[1] <= 12 && f[2] >= 1 && f[2] <= 31 &&
                f[3] <= 23 && f[4] <= 59 && f[5] <= 60);
    p->t = timegm(&tm);
    p->usec = f[6];
    size_t n = (size_t)(m[8].rm_eo - m[8].rm_so);
    memcpy(p->level, line + m[8].rm_so, n);
    p->level[n] = '\0';
    p->req = m[10].rm_so >= 0 ? strtoull(line + m[10].rm_so, NULL, 10) : 0;
    n = (size_t)(m[11].rm_eo - m[11].rm_so);
    assert_true(n < sizeof(p->rest));
    memcpy(p->rest, line + m[11].rm_so, n);
    p->rest[n] = '\0';
}

/* --- tests ---------------------------------------------------------------- */

static void
test_parse_level(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        crm_level level;
    } ok[] = {{"debug", CRM_DEBUG},
              {"info", CRM_INFO},
              {"warn", CRM_WARN},
              {"error", CRM_ERROR}};
    for (size_t i = 0; i < 4; i++) {
        crm_level l = (crm_level)99;
        assert_int_equal(crm_slog_parse_level(ok[i].name, &l), 0);
        assert_int_equal(l, ok[i].level);
    }
    static const char *const bad[] = {"",        "INFO",  "Info",  "loud",
                                      "warning", "err",   "info ", " info",
                                      "debug2",  "trace", "fatal", "0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        crm_level l = CRM_WARN;
        if (crm_slog_parse_level(bad[i], &l) != -1)
            fail_msg("'%s' parsed as a level", bad[i]);
        assert_int_equal(l, CRM_WARN); /* untouched */
    }
    /* the order is the severity order */
    assert_true(CRM_DEBUG < CRM_INFO && CRM_INFO < CRM_WARN &&
                CRM_WARN < CRM_ERROR);
}

static void
test_default_threshold(void **state)
{
    (void)state;
    /* runs before any crm_slog_set_level: the default is info */
    assert_false(crm_slog_enabled(CRM_DEBUG));
    assert_true(crm_slog_enabled(CRM_INFO));
    assert_true(crm_slog_enabled(CRM_WARN));
    assert_true(crm_slog_enabled(CRM_ERROR));
    capture_begin();
    crm_slog(CRM_DEBUG, 0, "msg=hidden");
    crm_slog(CRM_INFO, 0, "msg=shown");
    char *out = capture_end(NULL);
    assert_int_equal(count_lines(out), 1);
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "msg=shown"));
    free(out);
}

static void
test_threshold(void **state)
{
    (void)state;
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int t = CRM_DEBUG; t <= CRM_ERROR; t++) {
        crm_slog_set_level((crm_level)t);
        capture_begin();
        for (int l = CRM_DEBUG; l <= CRM_ERROR; l++)
            crm_slog((crm_level)l, 0, "msg=at-%s", names[l]);
        char *out = capture_end(NULL);
        assert_int_equal(count_lines(out), (size_t)(CRM_ERROR - t + 1));
        for (int l = CRM_DEBUG; l <= CRM_ERROR; l++) {
            char want[32], lv[32];
            snprintf(want, sizeof(want), "msg=at-%s\n", names[l]);
            snprintf(lv, sizeof(lv), " level=%s ", names[l]);
            assert_int_equal(crm_slog_enabled((crm_level)l), l >= t);
            assert_int_equal(strstr(out, want) != NULL, l >= t);
            assert_int_equal(strstr(out, lv) != NULL, l >= t);
        }
        free(out);
    }
    crm_slog_set_level(CRM_INFO);
}

static void
test_line_format(void **state)
{
    (void)state;
    parsed p;
    crm_slog_set_level(CRM_DEBUG);

    time_t before = time(NULL);
    capture_begin();
    crm_slog(CRM_WARN, 42, "op=append tenant=%s err=%s", "acme", "conflict");
    char *out = capture_end(NULL);
    time_t after = time(NULL);
    parse_line(out, &p);
    assert_true(p.t >= before && p.t <= after);
    assert_true(p.usec >= 0 && p.usec <= 999999);
    assert_string_equal(p.level, "warn");
    assert_int_equal(p.req, 42);
    assert_string_equal(p.rest, "op=append tenant=acme err=conflict");
    free(out);

    /* req 0: no request id at all */
    capture_begin();
    crm_slog(CRM_INFO, 0, "msg=started");
    out = capture_end(NULL);
    parse_line(out, &p);
    assert_int_equal(p.req, 0);
    assert_null(strstr(out, "req="));
    assert_string_equal(p.level, "info");
    assert_string_equal(p.rest, "msg=started");
    free(out);

    /* the largest id, and each level's name */
    capture_begin();
    crm_slog(CRM_ERROR, UINT64_MAX, "x=1");
    crm_slog(CRM_DEBUG, 1, "x=2");
    out = capture_end(NULL);
    assert_int_equal(count_lines(out), 2);
    char *second = strchr(out, '\n') + 1;
    char first[256];
    memcpy(first, out, (size_t)(second - out));
    first[second - out] = '\0';
    parse_line(first, &p);
    assert_string_equal(p.level, "error");
    assert_true(p.req == 18446744073709551615ull);
    assert_non_null(strstr(first, " req=18446744073709551615 x=1\n"));
    parse_line(second, &p);
    assert_string_equal(p.level, "debug");
    assert_int_equal(p.req, 1);
    free(out);
    crm_slog_set_level(CRM_INFO);
}

static void
test_newlines_flattened(void **state)
{
    (void)state;
    parsed p;
    size_t len;

    capture_begin();
    crm_slog(CRM_INFO, 7, "msg=\"%s\"", "first\nsecond\r\nthird\n");
    char *out = capture_end(&len);
    assert_int_equal(count_lines(out), 1);
    assert_null(strchr(out, '\r'));
    assert_int_equal(out[len - 1], '\n');
    parse_line(out, &p);
    assert_int_equal(p.req, 7);
    assert_string_equal(p.rest, "msg=\"first second  third \"");
    free(out);

    /* a newline in the format itself too */
    capture_begin();
    crm_slog(CRM_INFO, 0, "a=1\nb=2\n");
    out = capture_end(&len);
    assert_int_equal(count_lines(out), 1);
    parse_line(out, &p);
    assert_string_equal(p.rest, "a=1 b=2 ");
    free(out);
}

static void
test_long_message(void **state)
{
    (void)state;
    size_t len;
    char *big = malloc(5000);
    assert_non_null(big);
    memset(big, 'x', 4999);
    big[4999] = '\0';
    for (size_t i = 100; i < 4999; i += 100)
        big[i] = '\n';

    capture_begin();
    crm_slog(CRM_ERROR, 99, "msg=%s", big);
    crm_slog(CRM_ERROR, 100, "msg=after");
    char *out = capture_end(&len);
    /* cut, but still one line each, and the next line intact */
    assert_int_equal(count_lines(out), 2);
    char *nl = strchr(out, '\n');
    assert_true(nl - out + 1 <= 1024);
    assert_true(nl - out > 900);
    assert_non_null(strstr(nl + 1, " req=100 msg=after\n"));
    nl[1] = '\0';
    parsed p;
    parse_line(out, &p);
    assert_int_equal(p.req, 99);
    assert_true(strncmp(p.rest, "msg=xxxx", 8) == 0);
    free(out);
    free(big);
}

static void
test_level_names(void **state)
{
    (void)state;
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int l = CRM_DEBUG; l <= CRM_ERROR; l++) {
        crm_level back;
        assert_string_equal(crm_slog_level_name((crm_level)l), names[l]);
        assert_int_equal(crm_slog_parse_level(names[l], &back), 0);
        assert_int_equal(back, l);
    }
    assert_string_equal(crm_slog_level_name((crm_level)42), "?");
}

static void
check_value(const char *in, size_t len, const char *want)
{
    char out[256];
    memset(out, 'Z', sizeof(out));
    const char *r = crm_slog_value(out, sizeof(out), in, len);
    assert_ptr_equal(r, out);
    if (strcmp(out, want) != 0)
        fail_msg("value of '%.*s': got '%s', want '%s'", (int)len, in, out,
                 want);
}

#define EXPECT_VALUE(lit, want) check_value(lit, sizeof(lit) - 1, want)

static void
test_value_escaping(void **state)
{
    (void)state;
    /* plain tokens stay bare */
    EXPECT_VALUE("acme", "acme");
    EXPECT_VALUE("read.all", "read.all");
    EXPECT_VALUE("a-b_c:1/2@x+y", "a-b_c:1/2@x+y");
    /* anything else is quoted */
    EXPECT_VALUE("", "\"\"");
    EXPECT_VALUE("a b", "\"a b\"");
    EXPECT_VALUE("a=b", "\"a=b\"");
    EXPECT_VALUE("x\" status=ok", "\"x\\\" status=ok\"");
    EXPECT_VALUE("back\\slash", "\"back\\\\slash\"");
    EXPECT_VALUE("l1\nl2\r\t", "\"l1\\nl2\\r\\t\"");
    EXPECT_VALUE("\x01\x1b[31m\x7f", "\"\\x01\\x1b[31m\\x7f\"");
    EXPECT_VALUE("caf\xc3\xa9", "\"caf\\xc3\\xa9\"");
    EXPECT_VALUE("nul\0here", "\"nul\\x00here\"");

    /* crm_slog_escape: the same escapes, never quotes of its own */
    char out[64];
    assert_string_equal(crm_slog_escape(out, sizeof(out), "plain", 5), "plain");
    assert_string_equal(crm_slog_escape(out, sizeof(out), "a \"b\"\n", 6),
                        "a \\\"b\\\"\\n");
    assert_string_equal(crm_slog_escape(out, sizeof(out), "", 0), "");
}

/* Reads one logfmt field at *p: key=value with value bare or quoted (with
 * the escapes crm_slog_value writes), unescaping into val. Returns 0, or
 * -1 if the text is not a well-formed field. */
static int
read_field(const char **p, char *key, size_t klen, char *val, size_t *vlen)
{
    const char *s = *p;
    size_t k = 0, v = 0;
    while (*s && *s != '=' && *s != ' ' && k + 1 < klen)
        key[k++] = *s++;
    key[k] = '\0';
    if (*s++ != '=' || k == 0)
        return -1;
    if (*s != '"') {
        while (*s && *s != ' ')
            val[v++] = *s++;
    } else {
        for (s++; *s != '"'; s++) {
            if (*s == '\0')
                return -1;
            if (*s != '\\') {
                val[v++] = *s;
                continue;
            }
            s++;
            switch (*s) {
            case '"':
            case '\\':
                val[v++] = *s;
                break;
            case 'n':
                val[v++] = '\n';
                break;
            case 'r':
                val[v++] = '\r';
                break;
            case 't':
                val[v++] = '\t';
                break;
            case 'x': {
                unsigned x;
                if (sscanf(s + 1, "%2x", &x) != 1)
                    return -1;
                val[v++] = (char)x;
                s += 2;
                break;
            }
            default:
                return -1;
            }
        }
        s++;
    }
    *vlen = v;
    if (*s == ' ')
        s++;
    *p = s;
    return 0;
}

static void
test_values_cannot_forge_fields(void **state)
{
    (void)state;
    /* random byte strings, rich in the dangerous ones */
    static const char alphabet[] = "ab =\"\\\n\r\t\x01\x7f\xff.-";
    unsigned seed = 12345;
    crm_slog_set_level(CRM_DEBUG);
    for (int round = 0; round < 2000; round++) {
        char in[40];
        size_t len = (size_t)(rand_r(&seed) % 40);
        for (size_t i = 0; i < len; i++)
            in[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
        char v[200];
        crm_slog_value(v, sizeof(v), in, len);
        capture_begin();
        crm_slog(CRM_INFO, 5, "op=%s tenant=t1 status=ok", v);
        char *out = capture_end(NULL);
        assert_int_equal(count_lines(out), 1);
        parsed p;
        parse_line(out, &p);
        /* exactly three fields, the first holding the input, unchanged */
        const char *at = p.rest;
        char key[32], val[200];
        size_t vlen;
        assert_int_equal(read_field(&at, key, sizeof(key), val, &vlen), 0);
        assert_string_equal(key, "op");
        assert_int_equal(vlen, len);
        assert_memory_equal(val, in, len);
        assert_int_equal(read_field(&at, key, sizeof(key), val, &vlen), 0);
        assert_string_equal(key, "tenant");
        assert_int_equal(read_field(&at, key, sizeof(key), val, &vlen), 0);
        assert_string_equal(key, "status");
        assert_int_equal(vlen, 2);
        assert_string_equal(at, "");
        free(out);
    }
    crm_slog_set_level(CRM_INFO);
}

static void
test_value_cut_to_fit(void **state)
{
    (void)state;
    /* every size from the smallest: within cap, quoted, cut only between
     * escapes and marked with "..." */
    const char in[] = "\x01\"abc\\\n\xfe defghijklmnop";
    size_t len = sizeof(in) - 1;
    char full[200];
    crm_slog_value(full, sizeof(full), in, len);
    for (size_t size = 8; size < 80; size++) {
        char out[80];
        memset(out, 'Z', sizeof(out));
        crm_slog_value(out, size, in, len);
        size_t n = strlen(out);
        assert_true(n < size);
        assert_int_equal(out[0], '"');
        assert_int_equal(out[n - 1], '"');
        if (strcmp(out, full) == 0)
            continue;
        /* cut: "<prefix of the full escape>..." */
        assert_true(n >= 5);
        assert_memory_equal(out + n - 4, "...\"", 4);
        size_t body = n - 5;
        assert_memory_equal(out + 1, full + 1, body);
        /* the cut falls between escapes: what precedes it reads back */
        const char *q = out + 1;
        size_t i = 0;
        while ((size_t)(q - out - 1) < body) {
            if (*q == '\\')
                q += q[1] == 'x' ? 4 : 2;
            else
                q++;
            i++;
        }
        assert_int_equal((size_t)(q - out - 1), body);
        assert_true(i <= len);
    }
    /* a bare token too long for cap is cut the same way */
    char out[8];
    crm_slog_value(out, sizeof(out), "abcdefghij", 10);
    assert_string_equal(out, "\"ab...\"");
    /* and escape() too */
    char e[8];
    crm_slog_escape(e, sizeof(e), "\n\n\n\n", 4);
    assert_string_equal(e, "\\n\\n...");
}

typedef struct writer {
    int id;
} writer;

enum { THREADS = 4, LINES = 300 };

static void *
write_lines(void *arg)
{
    writer *w = arg;
    for (int i = 0; i < LINES; i++)
        crm_slog(
            CRM_INFO, (uint64_t)(w->id * 100000 + i + 1),
            "thread=%d i=%d pad=%s", w->id, i,
            "................................................................");
    return NULL;
}

static void
test_concurrent_lines_whole(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    writer w[THREADS];
    int seen[THREADS][LINES];
    memset(seen, 0, sizeof(seen));

    capture_begin();
    for (int i = 0; i < THREADS; i++) {
        w[i].id = i + 1;
        if (pthread_create(&th[i], NULL, write_lines, &w[i]) != 0) {
            capture_end(NULL);
            fail_msg("pthread_create");
        }
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    char *out = capture_end(NULL);

    assert_int_equal(count_lines(out), THREADS * LINES);
    char *line = out;
    while (*line) {
        char *nl = strchr(line, '\n');
        char save = nl[1];
        nl[1] = '\0';
        parsed p;
        parse_line(line, &p);
        int t, i;
        assert_int_equal(sscanf(p.rest, "thread=%d i=%d", &t, &i), 2);
        assert_true(t >= 1 && t <= THREADS && i >= 0 && i < LINES);
        assert_int_equal(p.req, (unsigned long long)(t * 100000 + i + 1));
        seen[t - 1][i]++;
        nl[1] = save;
        line = nl + 1;
    }
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < LINES; i++)
            assert_int_equal(seen[t][i], 1);
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_level),
        cmocka_unit_test(test_default_threshold),
        cmocka_unit_test(test_threshold),
        cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_newlines_flattened),
        cmocka_unit_test(test_long_message),
        cmocka_unit_test(test_concurrent_lines_whole),
        cmocka_unit_test(test_level_names),
        cmocka_unit_test(test_value_escaping),
        cmocka_unit_test(test_values_cannot_forge_fields),
        cmocka_unit_test(test_value_cut_to_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
