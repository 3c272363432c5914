/*
 * schema.h - the event catalogue: every event type crmd knows, its fields,
 * their types, which are required and which are personal data (PII).
 *
 * This table is the single source for validation (event.c), canonical
 * encoding (field order), crmctl help and the PROTOCOL.md event tables.
 * Types outside the table are accepted only under the "x." prefix (tenant
 * extensions) and are stored opaque.
 */
#ifndef CRM_SCHEMA_H
#define CRM_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum crm_ftype {
    CRM_F_STR,      /* UTF-8 text, length 1..max bytes (max 0 = 256) */
    CRM_F_INT,      /* signed integer in [min, max] */
    CRM_F_BOOL,     /* true / false */
    CRM_F_DATE,     /* "YYYY-MM-DD", a real calendar date */
    CRM_F_TIME,     /* UTC microseconds since the epoch, >= 0 */
    CRM_F_CURRENCY, /* ISO-4217 code, three upper-case letters */
    CRM_F_ENUM,     /* one of a fixed set of strings */
    CRM_F_EMAIL,    /* local@domain, no spaces, <= 254 bytes */
    CRM_F_PHONE,    /* "+" then 6..15 digits (E.164) */
    CRM_F_IATA,     /* three upper-case letters (airport / city code) */
    CRM_F_DECIMAL,  /* exact decimal as text, "0.9215" (decimal.h) */
} crm_ftype;

enum {
    CRM_FIELD_REQUIRED = 1u << 0,
    CRM_FIELD_PII = 1u << 1, /* personal data: encrypted per subject */
};

/* X(CLASS, name, what): the kind of personal data a PII field holds. Who
 * sees which class is the role table of views.h; every CRM_FIELD_PII
 * field names one (schema_test checks), CRM_PII_NONE is for the rest. */
#define CRM_PII_CLASS_MAP(X)                                                   \
    X(CRM_PII_IDENTITY, "identity",                                            \
      "who the guest is: names, date of birth, gender, loyalty number")       \
    X(CRM_PII_CONTACT, "contact", "how to reach the guest: e-mail, phone, "    \
      "postal address")                                                        \
    X(CRM_PII_DOCUMENT, "document", "identity documents: passport number")    \
    X(CRM_PII_SERVICE, "service",                                              \
      "what the guest asks for: preferences, notes, special requests")        \
    X(CRM_PII_COMPLAINT, "complaint",                                          \
      "what the guest said: complaint texts and resolutions, survey "         \
      "comments, interaction summaries")                                       \
    X(CRM_PII_OTHER, "other",                                                  \
      "personal fields of extension types (x.*), unknown to the catalogue")

typedef enum crm_pii_class {
    CRM_PII_NONE = 0, /* not personal data */
#define CRM_PII_CLASS_ENUM(c, name, doc) c,
    CRM_PII_CLASS_MAP(CRM_PII_CLASS_ENUM)
#undef CRM_PII_CLASS_ENUM
    CRM_PII__COUNT
} crm_pii_class;

typedef struct crm_field {
    const char *name;
    crm_ftype type;
    unsigned flags;
    crm_pii_class pii; /* with CRM_FIELD_PII: its class, else NONE */
    int64_t min, max;          /* CRM_F_INT range; CRM_F_STR max length */
    const char *const *values; /* CRM_F_ENUM: NULL-terminated */
    const char *with;          /* when present, this field is required too */
    const char *doc;
} crm_field;

typedef struct crm_event_type {
    const char *name;
    const char *doc;
    const crm_field *fields;
    size_t nfields;
} crm_event_type;

/* Maximum lengths that hold for every event, known type or not. */
#define CRM_STREAM_MAX 64    /* stream (customer) id bytes */
#define CRM_TYPE_MAX 64      /* event type name bytes */
#define CRM_STR_DEFAULT 256  /* CRM_F_STR default max length */
#define CRM_TENANT_MAX 40    /* tenant id bytes */
#define CRM_ACTOR_MAX 64     /* key id recorded as an event's actor */
#define CRM_BODY_MAX 65536   /* canonical body + pii bytes of one event */
#define CRM_BODY_DEPTH 8     /* nesting of maps/arrays in x. bodies */
#define CRM_EXT_PREFIX "x."

/* The tenant's own stream: its settings, as tenant.* events. Streams
 * beginning with '$' are the server's; clients cannot append to them. */
#define CRM_TENANT_STREAM "$tenant"
#define CRM_TENANT_TYPE_PREFIX "tenant."

/* Number of known event types and the i-th one (0 <= i < count). */
size_t crm_schema_count(void);
const crm_event_type *crm_schema_at(size_t i);

/* The known type named name[0..len), or NULL. */
const crm_event_type *crm_schema_find(const char *name, size_t len);

/* The field named name[0..len) of t, or NULL. */
const crm_field *crm_schema_field(const crm_event_type *t, const char *name,
                                  size_t len);

/* True if name[0..len) is an extension type: "x." then [a-z0-9_.-]+. */
bool crm_schema_is_ext(const char *name, size_t len);

/* Whether the table's NUL-terminated name equals the len bytes at s
 * (which may hold anything, NUL included). Reads name no further than
 * its terminator: one pass, no strlen. */
bool crm_schema_name_eq(const char *name, const char *s, size_t len);

/* Name and description of a class of personal data (NULL out of range
 * or for CRM_PII_NONE). */
const char *crm_pii_class_name(crm_pii_class c);
const char *crm_pii_class_doc(crm_pii_class c);

/* Short name of a field type ("string", "date", ...), for errors and docs. */
const char *crm_ftype_name(crm_ftype t);

#endif
