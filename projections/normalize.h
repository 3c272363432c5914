/*
 * normalize.h - the personal values a guest is found by (email, phone,
 * loyalty number, name, name with birth date) brought to one canonical
 * form, and the keyed hash that turns a canonical value into the key of a
 * blind index entry, so that the indexes hold no plaintext.
 *
 * Two spellings of the same value normalise to the same bytes: that is
 * what lets a lookup typed at the front desk find what a booking channel
 * wrote. A blind index key is HMAC-SHA-256 under the tenant's index key of
 * the kind byte followed by the normalised value; the kind keeps an email
 * and a loyalty number with the same text apart.
 *
 * Everything here is pure: no clock, no I/O, no state between calls. Any
 * thread may call any function. Inputs are borrowed for the call; outputs
 * are written into caller buffers.
 */
#ifndef CRM_NORMALIZE_H
#define CRM_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

#define CRM_NORM_MAX 512       /* bytes of one normalised value */
#define CRM_NORM_TOKENS_MAX 16 /* name tokens from one name */
#define CRM_NORM_TOKEN_LEN 64  /* bytes of one name token, NUL included */
#define CRM_BLIND_LEN 32       /* HMAC-SHA-256 */
#define CRM_INDEX_KEY_LEN 32

/* The kind of value a blind index entry is for: the first byte hashed. */
typedef enum crm_norm_kind {
    CRM_NORM_EMAIL = 1,
    CRM_NORM_PHONE = 2,
    CRM_NORM_LOYALTY = 3,
    CRM_NORM_NAME = 4,
    CRM_NORM_NAME_BIRTH = 5,
    CRM_NORM_BIRTHDAY = 6 /* "MM-DD" of a birth date (tasks.h) */
} crm_norm_kind;

/*
 * The normalisers below write the canonical form of s[0..len) into out
 * (cap bytes) and return its length, NUL-terminating it when there is
 * room for the NUL. They return -1 when the input has no canonical form
 * (empty after trimming, not valid UTF-8 or holding a NUL, not of the
 * kind) or when the form is longer than CRM_NORM_MAX or cap. out is left
 * unspecified on -1.
 */

/* Email address: ASCII whitespace trimmed from both ends, ASCII letters
 * lower-cased over the whole address (other bytes kept as they are), one
 * '@' with a non-empty part on each side. */
int crm_norm_email(const char *s, size_t len, char *out, size_t cap);

/* Phone number as E.164: '+' and 8..15 digits. ASCII whitespace and
 * - . ( ) / are dropped; any other character (a letter, a second '+', a
 * '+' after a digit) makes it -1. A number starting with '+' or "00" is
 * international; in one, a "(0)" group (the trunk prefix written for
 * national callers) is dropped, and its country code cannot start with
 * 0. Any other number is national: it takes country_code (1 to 3 digits,
 * e.g. "351"; NULL or "" means there is none, and the number is -1) after
 * its one leading trunk '0' is dropped ("020 7946 0018" under "44" is
 * "+442079460018"), except under 39, 378 and 379, where that 0 is part of
 * the number. */
int crm_norm_phone(const char *s, size_t len, const char *country_code,
                   char *out, size_t cap);

/* Loyalty number: ASCII whitespace trimmed from both ends, spaces and '-'
 * dropped, ASCII letters upper-cased; what remains must be [A-Z0-9]. */
int crm_norm_loyalty(const char *s, size_t len, char *out, size_t cap);

/*
 * Splits the name s[0..len) into at most max_tokens search tokens, each
 * NUL-terminated in tokens[i], in first-seen order, without duplicates.
 * Returns how many (0 for a name with no letters) or -1 if s is not valid
 * UTF-8 or holds a NUL.
 *
 * Tokens end at whitespace (ASCII and Unicode), at any ASCII character
 * that is not a letter or digit ('-', '\'', '.', ',' ...), at U+0080..
 * U+00BF, U+00D7, U+00F7, at general punctuation U+2000..U+206F (U+2019
 * among it; U+200C and U+200D are dropped instead), at Arabic , ; ?, at
 * CJK symbols and punctuation U+3000..U+303F and U+30FB, and at U+FEFF.
 *
 * - Latin (ASCII, U+00C0..U+017F, and Romanian U+0218..U+021B) is folded
 *   to lower-case ASCII: e with any accent -> "e", ß -> "ss", æ -> "ae",
 *   œ -> "oe", ø -> "o", ł -> "l", þ -> "th", ĳ -> "ij". Combining marks
 *   U+0300..U+036F after a Latin letter (decomposed accents) are dropped.
 * - Chinese ideographs (U+3400..U+4DBF, U+4E00..U+9FFF) form a token of
 *   their own for each run of them. A run of 2 to 4 also gives its
 *   surname and its given name as tokens: the surname is the first
 *   character, or the first two when they are a compound surname
 *   (欧阳, 司马, 诸葛 ... in simplified and traditional forms):
 *   "王小明" -> 王小明, 王, 小明; "欧阳娜娜" -> 欧阳娜娜, 欧阳, 娜娜.
 * - Arabic (U+0600..U+06FF) loses tashkeel (U+064B..U+065F, U+0670) and
 *   tatweel (U+0640); أ إ آ ٱ fold to ا, ة to ه, ى and ئ to ي, ؤ to و,
 *   Persian ک to ك and ی to ي. A token starting with the article "ال"
 *   and at least 2 letters after it also gives the token without it.
 * - Other scripts are kept as they are.
 *
 * A token longer than CRM_NORM_TOKEN_LEN - 1 bytes is cut at a character
 * boundary. Tokens past max_tokens are dropped.
 */
int crm_norm_name_tokens(const char *s, size_t len,
                         char tokens[][CRM_NORM_TOKEN_LEN], size_t max_tokens);

/* The key of a blind index entry: HMAC-SHA-256 under key of the kind byte
 * followed by norm[0..len), a value a normaliser above produced (for
 * CRM_NORM_NAME, one token). */
void crm_blind(const uint8_t key[CRM_INDEX_KEY_LEN], crm_norm_kind kind,
               const char *norm, size_t len, uint8_t out[CRM_BLIND_LEN]);

/* The key of a name-and-birth-date entry, one per name token:
 * crm_blind(key, CRM_NORM_NAME_BIRTH, token "\x1f" date), with date as
 * "YYYY-MM-DD". */
void crm_blind_name_birth(const uint8_t key[CRM_INDEX_KEY_LEN],
                          const char *token, size_t token_len, const char *date,
                          size_t date_len, uint8_t out[CRM_BLIND_LEN]);

#endif
