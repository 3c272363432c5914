/* normalize.c - canonical forms of the values a guest is found by, and
 * the HMAC of blind index keys. Where a rule has to choose, it favours
 * finding one guest written two ways over telling two guests apart. */
#include "normalize.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define E164_MIN 8
#define E164_MAX 15

static bool
is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static unsigned char
lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static unsigned char
upper(unsigned char c)
{
    return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

/* Narrows s[*b..*e) to its ASCII-whitespace-trimmed part. */
static void
trim(const char *s, size_t *b, size_t *e)
{
    while (*b < *e && is_space((unsigned char)s[*b]))
        (*b)++;
    while (*e > *b && is_space((unsigned char)s[*e - 1]))
        (*e)--;
}

/* The return of a normaliser that wrote n bytes to out. */
static int
done(char *out, size_t n, size_t cap)
{
    if (n < cap)
        out[n] = '\0';
    return (int)n;
}

static bool
fits(size_t n, size_t cap)
{
    return n > 0 && n <= cap && n <= CRM_NORM_MAX;
}

int
crm_norm_email(const char *s, size_t len, char *out, size_t cap)
{
    size_t b = 0, e = len, at = 0, ats = 0;
    trim(s, &b, &e);
    if (!fits(e - b, cap) || !crm_utf8_valid(s + b, e - b))
        return -1;
    for (size_t i = b; i < e; i++) {
        if (s[i] == '@')
            ats++, at = i;
        out[i - b] = (char)lower((unsigned char)s[i]);
    }
    if (ats != 1 || at == b || at == e - 1)
        return -1;
    return done(out, e - b, cap);
}

/* Country codes under which a national number's leading 0 is part of the
 * number in E.164 too (Italy, San Marino, the Vatican): it is no trunk
 * prefix there. */
static const char *const keep_zero[] = {"39", "378", "379"};

static bool
keeps_zero(const char *cc)
{
    for (size_t i = 0; i < sizeof(keep_zero) / sizeof(keep_zero[0]); i++)
        if (strcmp(cc, keep_zero[i]) == 0)
            return true;
    return false;
}

/* 1 to 3 digits, not starting with 0. */
static bool
country_code_valid(const char *cc)
{
    size_t n = cc == NULL ? 0 : strlen(cc);
    if (n < 1 || n > 3 || cc[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_digit((unsigned char)cc[i]))
            return false;
    return true;
}

static bool
is_phone_sep(unsigned char c)
{
    return is_space(c) || c == '-' || c == '.' || c == '(' || c == ')' ||
           c == '/';
}

/* Collects the digits of s[b..e) into d (room for dcap) and whether a '+'
 * leads them. Returns the digit count, or -1 for a character a phone
 * number does not hold, a misplaced '+', or more digits than d holds. */
static int
phone_digits(const char *s, size_t b, size_t e, char *d, size_t dcap,
             bool *plus)
{
    size_t n = 0;
    *plus = false;
    for (size_t i = b; i < e; i++) {
        unsigned char c = (unsigned char)s[i];
        bool intl = *plus || (n >= 2 && d[0] == '0' && d[1] == '0');
        if (c == '+' && n == 0 && !*plus) {
            *plus = true;
        } else if (intl && c == '(' && e - i >= 3 && s[i + 1] == '0' &&
                   s[i + 2] == ')') {
            i += 2; /* "+44 (0)20 ...": the trunk 0 in parentheses */
        } else if (is_digit(c)) {
            if (n == dcap)
                return -1;
            d[n++] = (char)c;
        } else if (!is_phone_sep(c)) {
            return -1;
        }
    }
    return (int)n;
}

int
crm_norm_phone(const char *s, size_t len, const char *country_code, char *out,
               size_t cap)
{
    char d[E164_MAX + 3]; /* "00" or a trunk 0 come on top */
    bool plus;
    size_t b = 0, e = len;
    trim(s, &b, &e);
    int nd = phone_digits(s, b, e, d, sizeof(d), &plus);
    if (nd <= 0)
        return -1;
    const char *cc = "", *rest = d;
    size_t n = (size_t)nd;
    if (!plus && n >= 2 && d[0] == '0' && d[1] == '0') {
        rest += 2, n -= 2;
    } else if (!plus) {
        if (!country_code_valid(country_code))
            return -1;
        cc = country_code;
        if (rest[0] == '0' && !keeps_zero(cc))
            rest++, n--;
    }
    if (cc[0] == '\0' && (n == 0 || rest[0] == '0'))
        return -1; /* no country code starts with 0 */
    size_t ccn = strlen(cc), total = ccn + n;
    if (total < E164_MIN || total > E164_MAX || !fits(1 + total, cap))
        return -1;
    out[0] = '+';
    memcpy(out + 1, cc, ccn);
    memcpy(out + 1 + ccn, rest, n);
    return done(out, 1 + total, cap);
}

int
crm_norm_loyalty(const char *s, size_t len, char *out, size_t cap)
{
    size_t b = 0, e = len, n = 0;
    trim(s, &b, &e);
    for (size_t i = b; i < e; i++) {
        unsigned char c = upper((unsigned char)s[i]);
        if (c == ' ' || c == '-')
            continue;
        if (!is_digit(c) && !(c >= 'A' && c <= 'Z'))
            return -1;
        if (!fits(n + 1, cap))
            return -1;
        out[n++] = (char)c;
    }
    if (n == 0)
        return -1;
    return done(out, n, cap);
}

/* ---- names ---- */

/* ASCII spellings of U+00C0..U+017F; NULL for the two signs among them
 * (× and ÷), which separate tokens. */
/* clang-format off */
static const char *const latin_fold[0x180 - 0xc0] = {
    /* U+00C0 À Á Â Ã Ä Å Æ Ç È É Ê Ë Ì Í Î Ï */
    "a", "a", "a", "a", "a", "a", "ae", "c",
    "e", "e", "e", "e", "i", "i", "i", "i",
    /* U+00D0 Ð Ñ Ò Ó Ô Õ Ö × Ø Ù Ú Û Ü Ý Þ ß */
    "d", "n", "o", "o", "o", "o", "o", NULL,
    "o", "u", "u", "u", "u", "y", "th", "ss",
    /* U+00E0 à á â ã ä å æ ç è é ê ë ì í î ï */
    "a", "a", "a", "a", "a", "a", "ae", "c",
    "e", "e", "e", "e", "i", "i", "i", "i",
    /* U+00F0 ð ñ ò ó ô õ ö ÷ ø ù ú û ü ý þ ÿ */
    "d", "n", "o", "o", "o", "o", "o", NULL,
    "o", "u", "u", "u", "u", "y", "th", "y",
    /* U+0100 Ā ā Ă ă Ą ą Ć ć Ĉ ĉ Ċ ċ Č č Ď ď */
    "a", "a", "a", "a", "a", "a", "c", "c",
    "c", "c", "c", "c", "c", "c", "d", "d",
    /* U+0110 Đ đ Ē ē Ĕ ĕ Ė ė Ę ę Ě ě Ĝ ĝ Ğ ğ */
    "d", "d", "e", "e", "e", "e", "e", "e",
    "e", "e", "e", "e", "g", "g", "g", "g",
    /* U+0120 Ġ ġ Ģ ģ Ĥ ĥ Ħ ħ Ĩ ĩ Ī ī Ĭ ĭ Į į */
    "g", "g", "g", "g", "h", "h", "h", "h",
    "i", "i", "i", "i", "i", "i", "i", "i",
    /* U+0130 İ ı Ĳ ĳ Ĵ ĵ Ķ ķ ĸ Ĺ ĺ Ļ ļ Ľ ľ Ŀ */
    "i", "i", "ij", "ij", "j", "j", "k", "k",
    "k", "l", "l", "l", "l", "l", "l", "l",
    /* U+0140 ŀ Ł ł Ń ń Ņ ņ Ň ň ŉ Ŋ ŋ Ō ō Ŏ ŏ */
    "l", "l", "l", "n", "n", "n", "n", "n",
    "n", "n", "n", "n", "o", "o", "o", "o",
    /* U+0150 Ő ő Œ œ Ŕ ŕ Ŗ ŗ Ř ř Ś ś Ŝ ŝ Ş ş */
    "o", "o", "oe", "oe", "r", "r", "r", "r",
    "r", "r", "s", "s", "s", "s", "s", "s",
    /* U+0160 Š š Ţ ţ Ť ť Ŧ ŧ Ũ ũ Ū ū Ŭ ŭ Ů ů */
    "s", "s", "t", "t", "t", "t", "t", "t",
    "u", "u", "u", "u", "u", "u", "u", "u",
    /* U+0170 Ű ű Ų ų Ŵ ŵ Ŷ ŷ Ÿ Ź ź Ż ż Ž ž ſ */
    "u", "u", "u", "u", "w", "w", "y", "y",
    "y", "z", "z", "z", "z", "z", "z", "s",
};
/* clang-format on */

/* Compound surnames, simplified and traditional forms, as the code points
 * of their two characters. */
/* clang-format off */
static const uint32_t compound_surname[][2] = {
    {0x6B27, 0x9633}, /* 欧阳 */ {0x6B50, 0x967D}, /* 歐陽 */
    {0x53F8, 0x9A6C}, /* 司马 */ {0x53F8, 0x99AC}, /* 司馬 */
    {0x8BF8, 0x845B}, /* 诸葛 */ {0x8AF8, 0x845B}, /* 諸葛 */
    {0x4E0A, 0x5B98}, /* 上官 */
    {0x4E1C, 0x65B9}, /* 东方 */ {0x6771, 0x65B9}, /* 東方 */
    {0x7687, 0x752B}, /* 皇甫 */
    {0x5C09, 0x8FDF}, /* 尉迟 */ {0x5C09, 0x9072}, /* 尉遲 */
    {0x516C, 0x5B59}, /* 公孙 */ {0x516C, 0x5B6B}, /* 公孫 */
    {0x6155, 0x5BB9}, /* 慕容 */
    {0x4EE4, 0x72D0}, /* 令狐 */
    {0x957F, 0x5B59}, /* 长孙 */ {0x9577, 0x5B6B}, /* 長孫 */
    {0x5B87, 0x6587}, /* 宇文 */
    {0x53F8, 0x5F92}, /* 司徒 */
    {0x590F, 0x4FAF}, /* 夏侯 */
    {0x8F69, 0x8F95}, /* 轩辕 */ {0x8ED2, 0x8F45}, /* 軒轅 */
    {0x7AEF, 0x6728}, /* 端木 */
    {0x72EC, 0x5B64}, /* 独孤 */ {0x7368, 0x5B64}, /* 獨孤 */
    {0x5357, 0x5BAB}, /* 南宫 */ {0x5357, 0x5BAE}, /* 南宮 */
    {0x897F, 0x95E8}, /* 西门 */ {0x897F, 0x9580}, /* 西門 */
    {0x767E, 0x91CC}, /* 百里 */
    {0x6FB9, 0x53F0}, /* 澹台 */ {0x6FB9, 0x81FA}, /* 澹臺 */
    {0x516C, 0x51B6}, /* 公冶 */
    {0x5B97, 0x653F}, /* 宗政 */
    {0x6FEE, 0x9633}, /* 濮阳 */ {0x6FEE, 0x967D}, /* 濮陽 */
    {0x6DF3, 0x4E8E}, /* 淳于 */
    {0x7533, 0x5C60}, /* 申屠 */
    {0x547C, 0x5EF6}, /* 呼延 */
    {0x53F8, 0x7A7A}, /* 司空 */
};
/* clang-format on */

/* The code point at s, of the valid UTF-8 the caller checked; *n gets
 * its length. */
static uint32_t
decode(const unsigned char *s, size_t *n)
{
    if (s[0] < 0x80) {
        *n = 1;
        return s[0];
    }
    if (s[0] < 0xe0) {
        *n = 2;
        return (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
    }
    if (s[0] < 0xf0) {
        *n = 3;
        return (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 |
               (s[2] & 0x3f);
    }
    *n = 4;
    return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
           (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
}

static size_t
encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static bool
is_ideograph(uint32_t cp)
{
    return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf);
}

static bool
is_separator(uint32_t cp)
{
    if (cp < 0x80)
        return !is_digit((unsigned char)cp) &&
               !(lower((unsigned char)cp) >= 'a' &&
                 lower((unsigned char)cp) <= 'z');
    return cp <= 0xbf || cp == 0xd7 || cp == 0xf7 ||
           (cp >= 0x2000 && cp <= 0x206f && cp != 0x200c && cp != 0x200d) ||
           cp == 0x060c || cp == 0x061b || cp == 0x061f || cp == 0x1680 ||
           (cp >= 0x3000 && cp <= 0x303f) || cp == 0x30fb || cp == 0xfeff;
}

/* What an Arabic letter folds to; 0 for a mark that goes. */
static uint32_t
arabic_fold(uint32_t cp)
{
    if ((cp >= 0x064b && cp <= 0x065f) || cp == 0x0670 || cp == 0x0640)
        return 0;
    switch (cp) {
    case 0x0622: /* آ */
    case 0x0623: /* أ */
    case 0x0625: /* إ */
    case 0x0671: /* ٱ */
        return 0x0627;
    case 0x0629: /* ة */
        return 0x0647;
    case 0x0649: /* ى */
    case 0x0626: /* ئ */
    case 0x06cc: /* ی */
        return 0x064a;
    case 0x0624: /* ؤ */
        return 0x0648;
    case 0x06a9: /* ک */
        return 0x0643;
    default:
        return cp;
    }
}

/* The tokens found so far. */
typedef struct name_tokens {
    char (*tok)[CRM_NORM_TOKEN_LEN];
    size_t max, n;
} name_tokens;

/* Adds s[0..len) unless it is empty, already there, or there is no room
 * left. len never passes a token's room. */
static void
emit(name_tokens *t, const char *s, size_t len)
{
    if (len == 0 || t->n == t->max)
        return;
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->tok[i]) == len && memcmp(t->tok[i], s, len) == 0)
            return;
    memcpy(t->tok[t->n], s, len);
    t->tok[t->n][len] = '\0';
    t->n++;
}

/* The word being built: folded bytes, cut once full. */
typedef struct word {
    char b[CRM_NORM_TOKEN_LEN - 1];
    size_t len;
    bool full;
    bool after_latin; /* the last letter kept was Latin */
} word;

static void
word_put(word *w, const char *s, size_t n)
{
    if (w->full || w->len + n > sizeof(w->b)) {
        w->full = true; /* cut here: later, smaller characters stay out */
        return;
    }
    memcpy(w->b + w->len, s, n);
    w->len += n;
}

static void
word_put_cp(word *w, uint32_t cp)
{
    char u[4];
    word_put(w, u, encode(cp, u));
}

/* Folds the letter cp (of the n bytes at raw) into w. */
static void
word_add(word *w, uint32_t cp, const char *raw, size_t n)
{
    bool latin = true;
    if (cp < 0x80) {
        char c = (char)lower((unsigned char)cp);
        word_put(w, &c, 1);
    } else if (cp >= 0xc0 && cp <= 0x17f) {
        const char *a = latin_fold[cp - 0xc0];
        word_put(w, a, strlen(a));
    } else if (cp >= 0x218 && cp <= 0x21b) { /* Ș ș Ț ț */
        word_put(w, cp < 0x21a ? "s" : "t", 1);
    } else if (cp >= 0x300 && cp <= 0x36f && w->after_latin) {
        return; /* a decomposed accent on the letter before */
    } else if (cp == 0x200c || cp == 0x200d) {
        return;
    } else if (cp >= 0x600 && cp <= 0x6ff) {
        latin = false;
        uint32_t f = arabic_fold(cp);
        if (f != 0)
            word_put_cp(w, f);
    } else {
        latin = false;
        word_put(w, raw, n);
    }
    w->after_latin = latin;
}

static size_t
count_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

#define ARABIC_ARTICLE "\xd8\xa7\xd9\x84" /* ال */

/* Emits the word and, for an Arabic word with the article and at least
 * two letters after it, the word without the article. */
static void
word_flush(name_tokens *t, word *w)
{
    size_t al = sizeof(ARABIC_ARTICLE) - 1;
    emit(t, w->b, w->len);
    if (w->len > al && memcmp(w->b, ARABIC_ARTICLE, al) == 0 &&
        count_chars(w->b + al, w->len - al) >= 2)
        emit(t, w->b + al, w->len - al);
    *w = (word){0};
}

/* Ideographs are three bytes each in UTF-8. */
#define IDEOGRAPH_LEN 3
#define IDEOGRAPHS_MAX ((CRM_NORM_TOKEN_LEN - 1) / IDEOGRAPH_LEN)

static bool
starts_with_compound(const char *run)
{
    size_t n;
    uint32_t a = decode((const unsigned char *)run, &n);
    uint32_t b = decode((const unsigned char *)run + n, &n);
    for (size_t i = 0; i < sizeof(compound_surname) / sizeof(*compound_surname);
         i++)
        if (compound_surname[i][0] == a && compound_surname[i][1] == b)
            return true;
    return false;
}

/* Emits a run of nchars ideographs at run: the whole run (cut if it must
 * be) and, for a run of 2 to 4, the surname and the given name. */
static void
run_flush(name_tokens *t, const char *run, size_t nchars)
{
    size_t kept = nchars < IDEOGRAPHS_MAX ? nchars : IDEOGRAPHS_MAX;
    emit(t, run, kept * IDEOGRAPH_LEN);
    if (nchars < 2 || nchars > 4)
        return;
    bool compound = starts_with_compound(run);
    if (compound && nchars == 2)
        return; /* a compound surname alone: the run is all of it */
    size_t sur = compound ? 2 : 1;
    emit(t, run, sur * IDEOGRAPH_LEN);
    emit(t, run + sur * IDEOGRAPH_LEN, (nchars - sur) * IDEOGRAPH_LEN);
}

int
crm_norm_name_tokens(const char *s, size_t len,
                     char tokens[][CRM_NORM_TOKEN_LEN], size_t max_tokens)
{
    if (!crm_utf8_valid(s, len))
        return -1;
    name_tokens t = {tokens, max_tokens, 0};
    word w = {0};
    const char *run = NULL;
    size_t run_chars = 0;
    for (size_t i = 0, n; i < len; i += n) {
        uint32_t cp = decode((const unsigned char *)s + i, &n);
        if (is_ideograph(cp)) {
            word_flush(&t, &w);
            if (run_chars++ == 0)
                run = s + i;
            continue;
        }
        if (run_chars > 0)
            run_flush(&t, run, run_chars), run_chars = 0;
        if (is_separator(cp))
            word_flush(&t, &w);
        else
            word_add(&w, cp, s + i, n);
    }
    if (run_chars > 0)
        run_flush(&t, run, run_chars);
    word_flush(&t, &w);
    return (int)t.n;
}

/* ---- blind index ---- */

/* HMAC-SHA-256 under key of the kind byte and then the n parts. The MAC
 * is fetched per call: no state survives a call, and a lookup or an
 * append computes a handful of these. */
static void
blind_parts(const uint8_t key[CRM_INDEX_KEY_LEN], crm_norm_kind kind,
            const void *const *part, const size_t *part_len, size_t n,
            uint8_t out[CRM_BLIND_LEN])
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    unsigned char k = (unsigned char)kind;
    size_t outl = 0;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac == NULL ? NULL : EVP_MAC_CTX_new(mac);
    bool ok = ctx != NULL &&
              EVP_MAC_init(ctx, key, CRM_INDEX_KEY_LEN, params) &&
              EVP_MAC_update(ctx, &k, 1);
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_MAC_update(ctx, part[i], part_len[i]);
    ok = ok && EVP_MAC_final(ctx, out, &outl, CRM_BLIND_LEN) &&
         outl == CRM_BLIND_LEN;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok)
        abort(); /* OpenSSL without HMAC-SHA-256, or out of memory */
}

void
crm_blind(const uint8_t key[CRM_INDEX_KEY_LEN], crm_norm_kind kind,
          const char *norm, size_t len, uint8_t out[CRM_BLIND_LEN])
{
    const void *part[] = {norm};
    size_t part_len[] = {len};
    blind_parts(key, kind, part, part_len, 1, out);
}

void
crm_blind_name_birth(const uint8_t key[CRM_INDEX_KEY_LEN], const char *token,
                     size_t token_len, const char *date, size_t date_len,
                     uint8_t out[CRM_BLIND_LEN])
{
    const void *part[] = {token, "\x1f", date};
    size_t part_len[] = {token_len, 1, date_len};
    blind_parts(key, CRM_NORM_NAME_BIRTH, part, part_len, 3, out);
}
