/*
 * schema.c - the event catalogue (DESIGN section 2).
 *
 * Field order inside a type is the canonical encoding order: append new
 * optional fields at the end of a type, never reorder, or stored hashes of
 * old events would no longer match a re-encoding.
 */
#include "schema.h"

#include <string.h>

#define REQ CRM_FIELD_REQUIRED
/* personal data of class c (schema.h) */
#define PII(c) CRM_FIELD_PII, .pii = CRM_PII_##c
#define NF(a) (sizeof(a) / sizeof(a[0]))
#define TYPE(n, arr, d) {.name = n, .doc = d, .fields = arr, .nfields = NF(arr)}

static const char *const v_channel[] = {"email", "sms", "phone", "post",
                                        "push", "whatsapp", NULL};
static const char *const v_purpose[] = {"marketing", "profiling", "service",
                                        "third_party", NULL};
static const char *const v_erase_reason[] = {"gdpr", "ccpa", "request",
                                             "retention", NULL};
static const char *const v_book_channel[] = {"direct", "web", "ota", "agent",
                                             "phone", "walk_in", "app", NULL};
static const char *const v_spend_cat[] = {"room", "fnb", "spa", "retail",
                                          "excursion", "flight", "transfer",
                                          "other", NULL};
static const char *const v_earn_cat[] = {"any", "room", "fnb", "spa",
                                         "retail", "excursion", "flight",
                                         "transfer", "other", NULL};
static const char *const v_severity[] = {"low", "medium", "high", "critical",
                                         NULL};
static const char *const v_interaction[] = {"call", "email", "chat", "social",
                                            "in_person", NULL};
static const char *const v_direction[] = {"inbound", "outbound", NULL};
static const char *const v_gender[] = {"female", "male", "other", "undisclosed",
                                       NULL};

/* Person fields shared by registration and profile updates. */
#define PERSON_FIELDS(first_flags, last_flags)                                 \
    {.name = "first_name", .type = CRM_F_STR,                                  \
     .flags = first_flags | PII(IDENTITY), .max = 100, .doc = "given name"},   \
    {.name = "last_name", .type = CRM_F_STR,                                   \
     .flags = last_flags | PII(IDENTITY), .max = 100, .doc = "family name"},   \
    {.name = "email", .type = CRM_F_EMAIL, .flags = PII(CONTACT),              \
     .doc = "e-mail"},                                                         \
    {.name = "phone", .type = CRM_F_PHONE, .flags = PII(CONTACT),              \
     .doc = "E.164"},                                                          \
    {.name = "birth_date", .type = CRM_F_DATE, .flags = PII(IDENTITY),         \
     .doc = "date of birth"},                                                  \
    {.name = "loyalty_number", .type = CRM_F_STR, .flags = PII(IDENTITY),      \
     .max = 40,                                                                \
     .doc = "loyalty card number"},                                            \
    {.name = "address", .type = CRM_F_STR, .flags = PII(CONTACT), .max = 400,  \
     .doc = "postal address"},                                                 \
    {.name = "gender", .type = CRM_F_ENUM, .flags = PII(IDENTITY),             \
     .values = v_gender},                                                      \
    {.name = "nationality", .type = CRM_F_STR, .max = 2,                       \
     .doc = "ISO-3166 alpha-2"},                                               \
    {.name = "language", .type = CRM_F_STR, .max = 35, .doc = "BCP-47 tag"},   \
    {.name = "home_property", .type = CRM_F_STR, .max = 64}

static const crm_field f_registered[] = {
    PERSON_FIELDS(REQ, REQ),
    {.name = "source", .type = CRM_F_STR, .max = 64,
     .doc = "where the guest was registered (property, web, import)"},
};

static const crm_field f_profile_updated[] = {
    PERSON_FIELDS(0, 0),
};

static const crm_field f_consent[] = {
    {.name = "channel", .type = CRM_F_ENUM, .flags = REQ, .values = v_channel},
    {.name = "granted", .type = CRM_F_BOOL, .flags = REQ},
    {.name = "purpose", .type = CRM_F_ENUM, .values = v_purpose},
    {.name = "source", .type = CRM_F_STR, .max = 64},
};

static const crm_field f_preference[] = {
    {.name = "category", .type = CRM_F_STR, .flags = REQ, .max = 40,
     .doc = "diet, pillow, room, health, accessibility, ..."},
    {.name = "value", .type = CRM_F_STR, .flags = REQ | PII(SERVICE), .max = 200,
     .doc = "may reveal religion or health: personal data"},
    {.name = "note", .type = CRM_F_STR, .flags = PII(SERVICE), .max = 1000},
};

static const crm_field f_merged[] = {
    {.name = "merged", .type = CRM_F_STR, .flags = REQ, .max = CRM_STREAM_MAX,
     .doc = "customer id folded into this one"},
    {.name = "reason", .type = CRM_F_STR, .max = 200},
};

static const crm_field f_erased[] = {
    {.name = "reason", .type = CRM_F_ENUM, .flags = REQ,
     .values = v_erase_reason},
    {.name = "request_ref", .type = CRM_F_STR, .max = 64},
};

static const crm_field f_booking_created[] = {
    {.name = "booking_id", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "property", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "arrival", .type = CRM_F_DATE, .flags = REQ},
    {.name = "departure", .type = CRM_F_DATE, .flags = REQ},
    {.name = "channel", .type = CRM_F_ENUM, .values = v_book_channel},
    {.name = "room_type", .type = CRM_F_STR, .max = 40},
    {.name = "guests", .type = CRM_F_INT, .min = 1, .max = 50},
    {.name = "amount", .type = CRM_F_INT, .min = 0, .max = INT64_MAX,
     .with = "currency", .doc = "minor units"},
    {.name = "currency", .type = CRM_F_CURRENCY, .with = "amount"},
    {.name = "special_requests", .type = CRM_F_STR, .flags = PII(SERVICE),
     .max = 1000},
};

static const crm_field f_booking_modified[] = {
    {.name = "booking_id", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "arrival", .type = CRM_F_DATE},
    {.name = "departure", .type = CRM_F_DATE},
    {.name = "room_type", .type = CRM_F_STR, .max = 40},
    {.name = "guests", .type = CRM_F_INT, .min = 1, .max = 50},
    {.name = "amount", .type = CRM_F_INT, .min = 0, .max = INT64_MAX,
     .with = "currency"},
    {.name = "currency", .type = CRM_F_CURRENCY, .with = "amount"},
    {.name = "special_requests", .type = CRM_F_STR, .flags = PII(SERVICE),
     .max = 1000},
};

static const crm_field f_booking_confirmed[] = {
    {.name = "booking_id", .type = CRM_F_STR, .flags = REQ, .max = 64},
};

static const crm_field f_booking_cancelled[] = {
    {.name = "booking_id", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "reason", .type = CRM_F_STR, .max = 200},
    {.name = "fee_amount", .type = CRM_F_INT, .min = 0, .max = INT64_MAX,
     .with = "currency"},
    {.name = "currency", .type = CRM_F_CURRENCY, .with = "fee_amount"},
};

static const crm_field f_checked_in[] = {
    {.name = "stay_id", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "property", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "booking_id", .type = CRM_F_STR, .max = 64},
    {.name = "room", .type = CRM_F_STR, .max = 16},
    {.name = "departure", .type = CRM_F_DATE, .doc = "planned departure"},
};

static const crm_field f_checked_out[] = {
    {.name = "stay_id", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "property", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "nights", .type = CRM_F_INT, .flags = REQ, .min = 0, .max = 366},
    {.name = "amount", .type = CRM_F_INT, .min = 0, .max = INT64_MAX,
     .with = "currency", .doc = "folio total, minor units"},
    {.name = "currency", .type = CRM_F_CURRENCY, .with = "amount"},
};

static const crm_field f_flight_booked[] = {
    {.name = "booking_id", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "flight_no", .type = CRM_F_STR, .flags = REQ, .max = 10},
    {.name = "origin", .type = CRM_F_IATA, .flags = REQ},
    {.name = "destination", .type = CRM_F_IATA, .flags = REQ},
    {.name = "departure_date", .type = CRM_F_DATE, .flags = REQ},
    {.name = "return_date", .type = CRM_F_DATE},
    {.name = "seats", .type = CRM_F_INT, .min = 1, .max = 500},
    {.name = "amount", .type = CRM_F_INT, .min = 0, .max = INT64_MAX,
     .with = "currency"},
    {.name = "currency", .type = CRM_F_CURRENCY, .with = "amount"},
    {.name = "passport_no", .type = CRM_F_STR, .flags = PII(DOCUMENT),
     .max = 20},
};

static const crm_field f_spend[] = {
    {.name = "amount", .type = CRM_F_INT, .flags = REQ, .min = INT64_MIN + 1,
     .max = INT64_MAX, .doc = "minor units; negative for refunds"},
    {.name = "currency", .type = CRM_F_CURRENCY, .flags = REQ},
    {.name = "category", .type = CRM_F_ENUM, .flags = REQ,
     .values = v_spend_cat},
    {.name = "property", .type = CRM_F_STR, .max = 64},
    {.name = "stay_id", .type = CRM_F_STR, .max = 64},
    {.name = "booking_id", .type = CRM_F_STR, .max = 64},
};

static const crm_field f_points_earned[] = {
    {.name = "points", .type = CRM_F_INT, .flags = REQ, .min = 1,
     .max = 100000000},
    {.name = "reason", .type = CRM_F_STR, .max = 200},
    {.name = "expires_on", .type = CRM_F_DATE,
     .doc = "else points_expiry_months after the day earned"},
    {.name = "property", .type = CRM_F_STR, .max = 64},
    {.name = "source", .type = CRM_F_STR, .max = 64,
     .doc = "id of the event the points were earned by (derived earns)"},
};

static const crm_field f_points_redeemed[] = {
    {.name = "points", .type = CRM_F_INT, .flags = REQ, .min = 1,
     .max = 100000000},
    {.name = "reward", .type = CRM_F_STR, .max = 200},
    {.name = "property", .type = CRM_F_STR, .max = 64},
};

static const crm_field f_points_expired[] = {
    {.name = "points", .type = CRM_F_INT, .flags = REQ, .min = 1,
     .max = 100000000},
    {.name = "earned_on", .type = CRM_F_DATE},
    {.name = "accrual", .type = CRM_F_INT, .min = 1, .max = INT64_MAX,
     .doc = "position of the points_earned event that lapses"},
};

static const crm_field f_points_adjusted[] = {
    {.name = "points", .type = CRM_F_INT, .flags = REQ, .min = -100000000,
     .max = 100000000, .doc = "signed"},
    {.name = "reason", .type = CRM_F_STR, .flags = REQ, .max = 200},
};

static const crm_field f_tier_changed[] = {
    {.name = "to", .type = CRM_F_STR, .flags = REQ, .max = 40},
    {.name = "from", .type = CRM_F_STR, .max = 40},
    {.name = "reason", .type = CRM_F_STR, .max = 200},
};

static const crm_field f_survey[] = {
    {.name = "survey_id", .type = CRM_F_STR, .max = 64},
    {.name = "property", .type = CRM_F_STR, .max = 64},
    {.name = "nps", .type = CRM_F_INT, .min = 0, .max = 10},
    {.name = "csat", .type = CRM_F_INT, .min = 1, .max = 5},
    {.name = "stay_id", .type = CRM_F_STR, .max = 64},
    {.name = "comment", .type = CRM_F_STR, .flags = PII(COMPLAINT),
     .max = 4000},
};

static const crm_field f_complaint_opened[] = {
    {.name = "complaint_id", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "category", .type = CRM_F_STR, .flags = REQ, .max = 40},
    {.name = "severity", .type = CRM_F_ENUM, .values = v_severity},
    {.name = "property", .type = CRM_F_STR, .max = 64},
    {.name = "stay_id", .type = CRM_F_STR, .max = 64},
    {.name = "description", .type = CRM_F_STR, .flags = PII(COMPLAINT),
     .max = 4000},
};

static const crm_field f_complaint_resolved[] = {
    {.name = "complaint_id", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "compensation_points", .type = CRM_F_INT, .min = 0,
     .max = 100000000},
    {.name = "compensation_amount", .type = CRM_F_INT, .min = 0,
     .max = INT64_MAX, .with = "currency"},
    {.name = "currency", .type = CRM_F_CURRENCY,
     .with = "compensation_amount"},
    {.name = "resolution", .type = CRM_F_STR, .flags = PII(COMPLAINT),
     .max = 4000},
};

static const crm_field f_interaction[] = {
    {.name = "channel", .type = CRM_F_ENUM, .flags = REQ,
     .values = v_interaction},
    {.name = "direction", .type = CRM_F_ENUM, .values = v_direction},
    {.name = "subject", .type = CRM_F_STR, .max = 200},
    {.name = "duration_s", .type = CRM_F_INT, .min = 0, .max = 86400},
    {.name = "agent", .type = CRM_F_STR, .max = 64},
    {.name = "summary", .type = CRM_F_STR, .flags = PII(COMPLAINT),
     .max = 4000},
};

static const crm_field f_msg_sent[] = {
    {.name = "campaign", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "channel", .type = CRM_F_ENUM, .flags = REQ, .values = v_channel},
    {.name = "message_id", .type = CRM_F_STR, .max = 64},
};

static const crm_field f_msg_opened[] = {
    {.name = "campaign", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "message_id", .type = CRM_F_STR, .max = 64},
};

static const crm_field f_msg_clicked[] = {
    {.name = "campaign", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "message_id", .type = CRM_F_STR, .max = 64},
    {.name = "url", .type = CRM_F_STR, .max = 2000},
};

static const crm_field f_product_viewed[] = {
    {.name = "product", .type = CRM_F_STR, .flags = REQ, .max = 64},
    {.name = "category", .type = CRM_F_STR, .max = 40},
    {.name = "url", .type = CRM_F_STR, .max = 2000},
};

/* Tenant settings (stream $tenant, written by settings.set). Each event
 * sets what it names from effective_from on; what it leaves out stays as
 * the earlier events set it. */
static const crm_field f_settings[] = {
    {.name = "effective_from", .type = CRM_F_DATE, .flags = REQ,
     .doc = "first day (UTC) the values apply"},
    {.name = "base_currency", .type = CRM_F_CURRENCY,
     .doc = "currency of KPIs, value and earn rates"},
    {.name = "country_code", .type = CRM_F_STR, .max = 4,
     .doc = "calling code for phone numbers without one, e.g. \"351\""},
    {.name = "complaint_sla_hours", .type = CRM_F_INT, .min = 1, .max = 8760},
    {.name = "dormant_days", .type = CRM_F_INT, .min = 1, .max = 3650,
     .doc = "days without a stay or booking before a guest is dormant"},
    {.name = "points_expiry_months", .type = CRM_F_INT, .min = 0, .max = 240,
     .doc = "points lapse this long after they were earned; 0 never"},
    {.name = "tier_window_months", .type = CRM_F_INT, .min = 1, .max = 60,
     .doc = "rolling window that qualifies a tier"},
    {.name = "booking_confirm_hours", .type = CRM_F_INT, .min = 1, .max = 720,
     .doc = "an online booking unconfirmed this long needs a call"},
    {.name = "reason", .type = CRM_F_STR, .max = 200},
};

static const crm_field f_rate_set[] = {
    {.name = "currency", .type = CRM_F_CURRENCY, .flags = REQ},
    {.name = "rate", .type = CRM_F_DECIMAL, .flags = REQ,
     .doc = "value of one unit of currency in the base currency"},
    {.name = "effective_from", .type = CRM_F_DATE, .flags = REQ},
};

static const crm_field f_tier_defined[] = {
    {.name = "tier", .type = CRM_F_STR, .flags = REQ, .max = 40},
    {.name = "rank", .type = CRM_F_INT, .flags = REQ, .min = 0, .max = 15,
     .doc = "0 is where every guest starts; higher is better"},
    {.name = "min_nights", .type = CRM_F_INT, .min = 0, .max = 3660,
     .doc = "nights in the window that qualify; 0 not by nights"},
    {.name = "min_points", .type = CRM_F_INT, .min = 0, .max = 100000000,
     .doc = "or points earned in the window; 0 not by points"},
    {.name = "bonus_points", .type = CRM_F_INT, .min = 0, .max = 100000000,
     .doc = "credited on reaching the tier"},
    {.name = "retired", .type = CRM_F_BOOL, .doc = "the tier is withdrawn"},
    {.name = "effective_from", .type = CRM_F_DATE, .flags = REQ},
};

static const crm_field f_earn_rate_set[] = {
    {.name = "tier", .type = CRM_F_STR, .flags = REQ, .max = 40,
     .doc = "a tier, or \"any\""},
    {.name = "category", .type = CRM_F_ENUM, .flags = REQ,
     .values = v_earn_cat, .doc = "spend category, or \"any\""},
    {.name = "points_per_unit", .type = CRM_F_DECIMAL, .flags = REQ,
     .doc = "points per unit of the base currency"},
    {.name = "effective_from", .type = CRM_F_DATE, .flags = REQ},
};

/* Segments a tenant defines (stream $tenant, written by segment.define):
 * the last definition of a name replaces the earlier ones. */
static const crm_field f_segment_defined[] = {
    {.name = "name", .type = CRM_F_STR, .flags = REQ, .max = 40,
     .doc = "[a-z0-9_-], the segment's name in the tenant"},
    {.name = "filter", .type = CRM_F_STR, .flags = REQ, .max = 1000,
     .doc = "the filter expression (PROTOCOL.md, segment.define)"},
    {.name = "description", .type = CRM_F_STR, .max = 200},
};

static const crm_field f_segment_dropped[] = {
    {.name = "name", .type = CRM_F_STR, .flags = REQ, .max = 40},
};

static const crm_event_type types[] = {
    TYPE("customer.registered", f_registered, "a guest profile is created"),
    TYPE("customer.profile_updated", f_profile_updated,
         "profile fields change (only the fields given)"),
    TYPE("customer.consent_changed", f_consent,
         "consent for a contact channel is granted or withdrawn"),
    TYPE("customer.preference_set", f_preference,
         "a preference (diet, pillow, room, health note) is recorded"),
    TYPE("customer.merged", f_merged,
         "a duplicate profile is folded into this one"),
    TYPE("customer.erased", f_erased,
         "the guest's personal data is erased (no PII in this event)"),
    TYPE("booking.created", f_booking_created, "a reservation is made"),
    TYPE("booking.modified", f_booking_modified, "a reservation changes"),
    TYPE("booking.confirmed", f_booking_confirmed, "a reservation is confirmed"),
    TYPE("booking.cancelled", f_booking_cancelled, "a reservation is cancelled"),
    TYPE("stay.checked_in", f_checked_in, "the guest arrives"),
    TYPE("stay.checked_out", f_checked_out, "the guest leaves; folio closed"),
    TYPE("charter.flight_booked", f_flight_booked,
         "seats on a charter flight are booked"),
    TYPE("spend.recorded", f_spend, "money spent (or refunded)"),
    TYPE("loyalty.points_earned", f_points_earned, "points are credited"),
    TYPE("loyalty.points_redeemed", f_points_redeemed, "points are spent"),
    TYPE("loyalty.points_expired", f_points_expired, "points lapse"),
    TYPE("loyalty.points_adjusted", f_points_adjusted,
         "manual correction, positive or negative"),
    TYPE("loyalty.tier_changed", f_tier_changed, "the guest changes tier"),
    TYPE("feedback.survey_submitted", f_survey,
         "survey answer: NPS 0-10 and/or CSAT 1-5"),
    TYPE("complaint.opened", f_complaint_opened, "a complaint is raised"),
    TYPE("complaint.resolved", f_complaint_resolved,
         "a complaint is closed, possibly with compensation"),
    TYPE("interaction.logged", f_interaction,
         "a call, e-mail, chat, social or in-person contact"),
    TYPE("marketing.message_sent", f_msg_sent, "a campaign message is sent"),
    TYPE("marketing.message_opened", f_msg_opened, "a message is opened"),
    TYPE("marketing.message_clicked", f_msg_clicked, "a link is clicked"),
    TYPE("web.product_viewed", f_product_viewed,
         "a room, package or tour page is viewed"),
    TYPE("tenant.settings_changed", f_settings,
         "tenant settings from a date on ($tenant, settings.set)"),
    TYPE("tenant.rate_set", f_rate_set,
         "an exchange rate from a date on ($tenant, settings.set)"),
    TYPE("tenant.tier_defined", f_tier_defined,
         "a loyalty tier and what qualifies it ($tenant, settings.set)"),
    TYPE("tenant.earn_rate_set", f_earn_rate_set,
         "points earned per base-currency unit ($tenant, settings.set)"),
    TYPE("tenant.segment_defined", f_segment_defined,
         "a segment the tenant names, with its filter ($tenant, "
         "segment.define)"),
    TYPE("tenant.segment_dropped", f_segment_dropped,
         "a defined segment is withdrawn ($tenant, segment.define)"),
};

size_t
crm_schema_count(void)
{
    return NF(types);
}

const crm_event_type *
crm_schema_at(size_t i)
{
    return i < NF(types) ? &types[i] : NULL;
}

bool
crm_schema_name_eq(const char *name, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (name[i] == '\0' || name[i] != s[i])
            return false;
    return name[len] == '\0';
}

/* Every event is looked up here and every body field below: they are on
 * the append path, so a mismatch is decided by its first byte. */
const crm_event_type *
crm_schema_find(const char *name, size_t len)
{
    for (size_t i = 0; i < NF(types); i++)
        if (crm_schema_name_eq(types[i].name, name, len))
            return &types[i];
    return NULL;
}

const crm_field *
crm_schema_field(const crm_event_type *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->nfields; i++)
        if (crm_schema_name_eq(t->fields[i].name, name, len))
            return &t->fields[i];
    return NULL;
}

bool
crm_schema_is_ext(const char *name, size_t len)
{
    size_t plen = sizeof(CRM_EXT_PREFIX) - 1;
    if (len <= plen || len > CRM_TYPE_MAX ||
        memcmp(name, CRM_EXT_PREFIX, plen) != 0)
        return false;
    for (size_t i = plen; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return false;
    }
    return true;
}

static const struct {
    const char *name, *doc;
} pii_classes[] = {
    {NULL, NULL},
#define CRM_PII_CLASS_ROW(c, n, d) {n, d},
    CRM_PII_CLASS_MAP(CRM_PII_CLASS_ROW)
#undef CRM_PII_CLASS_ROW
};

const char *
crm_pii_class_name(crm_pii_class c)
{
    return (unsigned)c < CRM_PII__COUNT ? pii_classes[c].name : NULL;
}

const char *
crm_pii_class_doc(crm_pii_class c)
{
    return (unsigned)c < CRM_PII__COUNT ? pii_classes[c].doc : NULL;
}

const char *
crm_ftype_name(crm_ftype t)
{
    switch (t) {
    case CRM_F_STR: return "string";
    case CRM_F_INT: return "integer";
    case CRM_F_BOOL: return "boolean";
    case CRM_F_DATE: return "date (YYYY-MM-DD)";
    case CRM_F_TIME: return "time (UTC microseconds)";
    case CRM_F_CURRENCY: return "currency (ISO-4217)";
    case CRM_F_ENUM: return "enum";
    case CRM_F_EMAIL: return "e-mail";
    case CRM_F_PHONE: return "phone (E.164)";
    case CRM_F_IATA: return "IATA code";
    case CRM_F_DECIMAL: return "decimal (text, e.g. \"0.9215\")";
    }
    return "unknown";
}
