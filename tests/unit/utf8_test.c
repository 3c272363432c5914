/* utf8_test.c - strict UTF-8 validation: what RFC 3629 allows and the
 * classic ways to smuggle bytes past a lax decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "utf8.h"

#define OK(lit) assert_true(crm_utf8_valid(lit, sizeof(lit) - 1))
#define BAD(lit) assert_false(crm_utf8_valid(lit, sizeof(lit) - 1))

static void
test_valid(void **state)
{
    (void)state;
    assert_true(crm_utf8_valid("", 0));
    assert_true(crm_utf8_valid(NULL, 0));
    OK("hello, world");
    OK("\x01\x7f");         /* controls are the caller's business */
    OK("\xc2\x80");         /* U+0080, smallest 2-byte */
    OK("caf\xc3\xa9");      /* é */
    OK("\xdf\xbf");         /* U+07FF */
    OK("\xe0\xa0\x80");     /* U+0800, smallest 3-byte */
    OK("\xe2\x82\xac");     /* € */
    OK("\xed\x9f\xbf");     /* U+D7FF, just below surrogates */
    OK("\xee\x80\x80");     /* U+E000, just above */
    OK("\xef\xbf\xbf");     /* U+FFFF */
    OK("\xf0\x90\x80\x80"); /* U+10000, smallest 4-byte */
    OK("\xf0\x9f\x98\x80"); /* emoji */
    OK("\xf4\x8f\xbf\xbf"); /* U+10FFFF, the last code point */
    OK("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z");
}

static void
test_overlong(void **state)
{
    (void)state;
    BAD("\xc0\x80");
    BAD("\xc1\xbf");
    BAD("\xe0\x80\x80");
    BAD("\xe0\x9f\xbf"); /* U+07FF in three bytes */
    BAD("\xf0\x80\x80\x80");
    BAD("\xf0\x8f\xbf\xbf"); /* U+FFFF in four bytes */
    BAD("a\xc0\xaf");        /* overlong '/' */
}

static void
test_surrogates_and_range(void **state)
{
    (void)state;
    BAD("\xed\xa0\x80");             /* U+D800 */
    BAD("\xed\xbf\xbf");             /* U+DFFF */
    BAD("\xed\xa0\xbd\xed\xb8\x80"); /* CESU-8 pair */
    BAD("\xf4\x90\x80\x80");         /* U+110000 */
    BAD("\xf4\xbf\xbf\xbf");
}

static void
test_truncated(void **state)
{
    (void)state;
    BAD("\xc3");
    BAD("abc\xc3");
    BAD("\xe2\x82");
    BAD("\xe2");
    BAD("\xf0\x9f\x98");
    BAD("\xf0\x9f");
    BAD("\xf0");
    /* the length, not a terminator, bounds the scan */
    assert_false(crm_utf8_valid("\xe2\x82\xac", 2));
    assert_true(crm_utf8_valid("\xe2\x82\xac", 3));
    /* a sequence cut short by a non-continuation byte */
    BAD("\xc3"
        "a");
    BAD("\xe2\x82"
        "a");
    BAD("\xf0\x9f\x98"
        "a");
}

static void
test_stray_and_invalid_leads(void **state)
{
    (void)state;
    BAD("\x80");
    BAD("\xbf");
    BAD("a\x80z");
    BAD("\xc3\xa9\xa9"); /* one continuation too many */
    for (int c = 0xf5; c <= 0xff; c++) {
        char s[4] = {(char)c, (char)0x80, (char)0x80, (char)0x80};
        assert_false(crm_utf8_valid(s, 4));
        assert_false(crm_utf8_valid(s, 1));
    }
    for (int c = 0x80; c <= 0xc1; c++) {
        char s[2] = {(char)c, (char)0x80};
        assert_false(crm_utf8_valid(s, 2));
    }
}

static void
test_nul(void **state)
{
    (void)state;
    assert_false(crm_utf8_valid("\0", 1));
    assert_false(crm_utf8_valid("ab\0cd", 5));
    assert_false(crm_utf8_valid("\xc3\xa9\0", 3));
    assert_true(crm_utf8_valid("ab\0cd", 2));
}

/* Every 2-byte sequence agrees with a reference decoder. */
static void
test_exhaustive_two_bytes(void **state)
{
    (void)state;
    for (int a = 0; a < 256; a++) {
        for (int b = 0; b < 256; b++) {
            char s[2] = {(char)a, (char)b};
            int want;
            if (a < 0x80)
                want = a != 0 && b != 0 && b < 0x80;
            else
                want = a >= 0xc2 && a <= 0xdf && (b & 0xc0) == 0x80;
            assert_int_equal(crm_utf8_valid(s, 2), want);
        }
    }
}

/* Quoting: valid text copied, every other byte and control characters
 * escaped visibly, the prefix bounded with "...", the result always
 * valid UTF-8 whatever the input; the return says whether the input was
 * UTF-8 (NUL counted as such). */
static void
test_quote(void **state)
{
    (void)state;
    char q[CRM_UTF8_QUOTE_CAP];
    assert_true(crm_utf8_quote("ping", 4, CRM_UTF8_QUOTE_MAX, q, sizeof(q)));
    assert_string_equal(q, "ping");
    assert_true(crm_utf8_quote("caf\xc3\xa9", 5, 40, q, sizeof(q)));
    assert_string_equal(q, "caf\xc3\xa9");
    assert_true(crm_utf8_quote("ping\0x", 6, 40, q, sizeof(q)));
    assert_string_equal(q, "ping\\x00x");
    assert_false(crm_utf8_quote("a\xff" "b", 3, 40, q, sizeof(q)));
    assert_string_equal(q, "a\\xffb");
    assert_true(crm_utf8_quote("a\\b\n", 4, 40, q, sizeof(q)));
    assert_string_equal(q, "a\\\\b\\x0a");
    /* bounded: 40 bytes of input, then "..." */
    char big[100];
    memset(big, 'x', sizeof(big));
    assert_true(crm_utf8_quote(big, sizeof(big), 40, q, sizeof(q)));
    assert_int_equal(strlen(q), 43);
    assert_string_equal(q + 40, "...");
    /* a character is never cut: the one that would cross the bound goes */
    char mixed[41];
    memset(mixed, 'y', 39);
    memcpy(mixed + 39, "\xc3\xa9", 2);
    assert_true(crm_utf8_quote(mixed, 41, 40, q, sizeof(q)));
    assert_int_equal(strlen(q), 42);
    assert_string_equal(q + 39, "...");
    /* a short buffer ends the quote, and "..." still fits */
    char small[12];
    assert_true(crm_utf8_quote(big, 20, 40, small, sizeof(small)));
    assert_true(strlen(small) < sizeof(small));
    assert_non_null(strstr(small, "..."));
    /* validity is of the whole input, past the bound too */
    char tail[60];
    memset(tail, 'z', sizeof(tail));
    tail[55] = (char)0xc0;
    assert_false(crm_utf8_quote(tail, sizeof(tail), 40, q, sizeof(q)));
    /* every two-byte input quotes to valid UTF-8 */
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++) {
            char in[2] = {(char)a, (char)b};
            crm_utf8_quote(in, 2, 40, q, sizeof(q));
            assert_true(crm_utf8_valid(q, strlen(q)));
        }
}

/* Scrubbing leaves valid text alone and makes anything else valid. */
static void
test_scrub(void **state)
{
    (void)state;
    char s[] = "ok caf\xc3\xa9 \xff cut\xe2\x82";
    crm_utf8_scrub(s);
    assert_string_equal(s, "ok caf\xc3\xa9 ? cut??");
    assert_true(crm_utf8_valid(s, strlen(s)));
    char fine[] = "\xe4\xb8\xad\xe6\x96\x87 text";
    crm_utf8_scrub(fine);
    assert_string_equal(fine, "\xe4\xb8\xad\xe6\x96\x87 text");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_overlong),
        cmocka_unit_test(test_surrogates_and_range),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_stray_and_invalid_leads),
        cmocka_unit_test(test_nul),
        cmocka_unit_test(test_exhaustive_two_bytes),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_scrub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
