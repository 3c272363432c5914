/*
 * views.h - who sees which personal field: the role table of personal
 * data (DESIGN section 5, PROTOCOL.md "Who sees which personal field").
 *
 * Every personal field of the catalogue has a class (schema.h,
 * CRM_PII_CLASS_MAP); this table says which classes each role sees, and
 * for the classes a role sees only with the guest's consent, which
 * channel unlocks which field. Every op that lets a personal value out of
 * the server asks it through crm_view_shows / crm_view_filter, so a role
 * gets the same fields in every op. PROTOCOL.md's table is rendered from
 * it (crm_view_describe) and docs_test holds the two together.
 */
#ifndef CRM_VIEWS_H
#define CRM_VIEWS_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "ops.h"
#include "schema.h"

/* The channels of customer.consent_changed, in the catalogue's order:
 * bit CRM_CH_BIT(c) of a consent mask says the guest consents to channel
 * c for marketing (the latest event per channel and purpose wins). */
#define CRM_CHANNEL_MAP(X)                                                     \
    X(CRM_CH_EMAIL, "email")                                                   \
    X(CRM_CH_SMS, "sms")                                                       \
    X(CRM_CH_PHONE, "phone")                                                   \
    X(CRM_CH_POST, "post")                                                     \
    X(CRM_CH_PUSH, "push")                                                     \
    X(CRM_CH_WHATSAPP, "whatsapp")

typedef enum crm_channel {
#define CRM_CHANNEL_ENUM(c, name) c,
    CRM_CHANNEL_MAP(CRM_CHANNEL_ENUM)
#undef CRM_CHANNEL_ENUM
    CRM_CH__COUNT
} crm_channel;

#define CRM_CH_BIT(c) (1u << (c))
#define CRM_PII_BIT(c) (1u << (c))

/* Grants a key may carry beyond its role (key.create `grant`): X(bit,
 * name, what). Stored with the key; a key of before grants has none. */
#define CRM_GRANT_MAP(X)                                                       \
    X(CRM_GRANT_PERSONAL_DATA, "personal_data",                                \
      "an auditor key that reads personal data as an admin does")

enum { CRM_GRANT_PERSONAL_DATA = 1u << 0 };

/* What one key sees of personal data. */
typedef struct crm_view {
    crm_role role;
    unsigned grants;
    unsigned sees;      /* CRM_PII_BIT of the classes always shown */
    unsigned consented; /* classes shown field by field with consent */
    int opens;          /* 0: sealed personal data is never opened */
} crm_view;

/* The view of a key of role r with grants (CRM_GRANT_* bits; a grant
 * the role may not carry is ignored). */
void crm_view_for(crm_role r, unsigned grants, crm_view *out);

/* Whether v sees every class whatever the consents. */
int crm_view_sees_all(const crm_view *v);

/* Whether v sees nothing personal at all, whatever the consents. */
int crm_view_sees_none(const crm_view *v);

/* Class of personal field name[0..flen) of event type[0..tlen): its
 * catalogue class; CRM_PII_OTHER for an extension type or a name the
 * catalogue does not know (kept as personal data all the same). */
crm_pii_class crm_view_class(const char *type, size_t tlen, const char *name,
                             size_t flen);

/* Channels (CRM_CH_BIT) of which one consented to for marketing unlocks
 * contact field name[0..len) for a view that sees contact data only with
 * consent; 0 for a field no channel unlocks. */
unsigned crm_view_channels(const char *name, size_t len);

/* Whether v shows personal field name of an event of type, for a guest
 * whose marketing consents are consents (CRM_CH_BIT mask). */
int crm_view_shows(const crm_view *v, const char *type, size_t tlen,
                   const char *name, size_t flen, unsigned consents);

/* Filters pii, the opened personal map of an event of type, in place:
 * what v does not show is taken out (a map left empty becomes nil) and
 * its keys listed in *withheld, an array allocated in z (nil when none
 * was withheld). pii's entries must be z's or the caller's to change.
 * Returns how many were withheld, or -1 when z is out of memory. */
int crm_view_filter(const crm_view *v, const char *type, size_t tlen,
                    unsigned consents, msgpack_object *pii, msgpack_zone *z,
                    msgpack_object *withheld);

/* The channel named name[0..len): 0, or -1 if none is. */
int crm_channel_parse(const char *name, size_t len, crm_channel *out);
const char *crm_channel_name(crm_channel c);

/* Grants by name ("personal_data"): 0 with *bit, or -1. */
int crm_grant_parse(const char *name, size_t len, unsigned *bit);
/* Name of the lowest grant in bits, NULL for none. */
const char *crm_grant_name(unsigned bits);
/* Whether a key of role r may carry grants (personal_data: auditors). */
int crm_grant_allowed(crm_role r, unsigned grants);

/* What role r (with grants) sees, as PROTOCOL.md's table says it:
 * "identity, contact (`email` with consent to email, ...)". Writes at
 * most cap bytes, NUL-terminated; returns the length it needed. */
size_t crm_view_describe(crm_role r, unsigned grants, char *buf, size_t cap);

/* The catalogue's fields of class c, as PROTOCOL.md lists them:
 * "`first_name`, `last_name`, ..." (each name once). As above. */
size_t crm_view_describe_class(crm_pii_class c, char *buf, size_t cap);

#endif
