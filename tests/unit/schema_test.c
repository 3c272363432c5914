/* schema_test.c - the event catalogue is complete (DESIGN section 2),
 * self-consistent, and flags personal data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "schema.h"

static const char *const minimum[] = {
    "customer.registered",      "customer.profile_updated",
    "customer.consent_changed", "customer.preference_set",
    "customer.merged",          "customer.erased",
    "booking.created",          "booking.modified",
    "booking.confirmed",        "booking.cancelled",
    "stay.checked_in",          "stay.checked_out",
    "charter.flight_booked",    "spend.recorded",
    "loyalty.points_earned",    "loyalty.points_redeemed",
    "loyalty.points_expired",   "loyalty.points_adjusted",
    "loyalty.tier_changed",     "feedback.survey_submitted",
    "complaint.opened",         "complaint.resolved",
    "interaction.logged",       "marketing.message_sent",
    "marketing.message_opened", "marketing.message_clicked",
    "web.product_viewed",
};

static const crm_event_type *
find(const char *name)
{
    return crm_schema_find(name, strlen(name));
}

static const crm_field *
field(const char *type, const char *name)
{
    const crm_event_type *t = find(type);
    assert_non_null(t);
    return crm_schema_field(t, name, strlen(name));
}

static void
test_minimum_catalogue(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(minimum) / sizeof(minimum[0]); i++) {
        const crm_event_type *t = find(minimum[i]);
        if (t == NULL)
            fail_msg("type %s missing from the catalogue", minimum[i]);
        assert_string_equal(t->name, minimum[i]);
    }
    assert_true(crm_schema_count() >= sizeof(minimum) / sizeof(minimum[0]));
    assert_null(crm_schema_at(crm_schema_count()));
}

static void
test_table_consistent(void **state)
{
    (void)state;
    size_t n = crm_schema_count();
    for (size_t i = 0; i < n; i++) {
        const crm_event_type *t = crm_schema_at(i);
        assert_non_null(t);
        assert_non_null(t->name);
        assert_true(strlen(t->name) <= CRM_TYPE_MAX);
        /* known types never collide with extensions */
        assert_false(crm_schema_is_ext(t->name, strlen(t->name)));
        assert_ptr_equal(find(t->name), t);
        assert_true(t->nfields > 0);
        assert_true(t->nfields <= 32); /* event.c's MAX_FIELDS */
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(t->name, crm_schema_at(j)->name);
        for (size_t f = 0; f < t->nfields; f++) {
            const crm_field *fd = &t->fields[f];
            assert_non_null(fd->name);
            assert_true(strlen(fd->name) > 0);
            assert_ptr_equal(crm_schema_field(t, fd->name, strlen(fd->name)),
                             fd);
            for (size_t g = f + 1; g < t->nfields; g++)
                if (strcmp(fd->name, t->fields[g].name) == 0)
                    fail_msg("%s: field %s twice", t->name, fd->name);
            if (fd->with != NULL) {
                const crm_field *w =
                    crm_schema_field(t, fd->with, strlen(fd->with));
                if (w == NULL)
                    fail_msg("%s.%s: with names missing field %s", t->name,
                             fd->name, fd->with);
                assert_ptr_not_equal(w, fd);
            }
            if (fd->type == CRM_F_ENUM) {
                if (fd->values == NULL || fd->values[0] == NULL)
                    fail_msg("%s.%s: enum without values", t->name, fd->name);
                for (const char *const *v = fd->values; *v; v++)
                    assert_true(strlen(*v) > 0);
            }
            if (fd->type == CRM_F_INT)
                assert_true(fd->min <= fd->max);
            if (fd->type == CRM_F_STR)
                assert_true(fd->max >= 0);
            assert_string_not_equal(crm_ftype_name(fd->type), "unknown");
        }
    }
}

static void
test_find(void **state)
{
    (void)state;
    const crm_event_type *t = find("spend.recorded");
    assert_non_null(t);
    assert_null(find("spend.recorde"));
    assert_null(find("spend.recordedx"));
    assert_null(find("SPEND.RECORDED"));
    assert_null(find(""));
    assert_null(find("x.spa.visit"));
    /* length-delimited, not NUL-terminated */
    assert_ptr_equal(crm_schema_find("spend.recorded!!", 14), t);
    assert_null(crm_schema_find("spend.recorded", 13));

    const crm_field *f = crm_schema_field(t, "currency", 8);
    assert_non_null(f);
    assert_int_equal(f->type, CRM_F_CURRENCY);
    assert_true(f->flags & CRM_FIELD_REQUIRED);
    assert_null(crm_schema_field(t, "currenc", 7));
    assert_null(crm_schema_field(t, "nps", 3));
    assert_ptr_equal(crm_schema_field(t, "amountXYZ", 6),
                     crm_schema_field(t, "amount", 6));

    f = field("feedback.survey_submitted", "nps");
    assert_non_null(f);
    assert_int_equal(f->type, CRM_F_INT);
    assert_int_equal(f->min, 0);
    assert_int_equal(f->max, 10);
    f = field("feedback.survey_submitted", "csat");
    assert_int_equal(f->min, 1);
    assert_int_equal(f->max, 5);

    /* interaction channels of DESIGN section 2 */
    f = field("interaction.logged", "channel");
    assert_int_equal(f->type, CRM_F_ENUM);
    static const char *const chans[] = {"call", "email", "chat", "social"};
    for (size_t i = 0; i < 4; i++) {
        int found = 0;
        for (const char *const *v = f->values; *v; v++)
            found |= strcmp(*v, chans[i]) == 0;
        assert_true(found);
    }
}

static void
test_is_ext(void **state)
{
    (void)state;
#define EXT(s) crm_schema_is_ext(s, strlen(s))
    assert_true(EXT("x.spa.visit"));
    assert_true(EXT("x.a"));
    assert_true(EXT("x.golf_round-9"));
    assert_false(EXT("x."));
    assert_false(EXT("x"));
    assert_false(EXT(""));
    assert_false(EXT("x.Upper"));
    assert_false(EXT("x.spa visit"));
    assert_false(EXT("x.spa/visit"));
    assert_false(EXT("x.caf\xc3\xa9"));
    assert_false(EXT("y.foo"));
    assert_false(EXT("X.foo"));
    assert_false(EXT("xx.foo"));
    assert_false(EXT("spend.recorded"));
    char name[CRM_TYPE_MAX + 2];
    memset(name, 'a', sizeof(name));
    name[0] = 'x', name[1] = '.';
    assert_true(crm_schema_is_ext(name, CRM_TYPE_MAX));
    assert_false(crm_schema_is_ext(name, CRM_TYPE_MAX + 1));
    /* embedded NUL */
    assert_false(crm_schema_is_ext("x.a\0b", 5));
#undef EXT
}

static void
test_pii_flags(void **state)
{
    (void)state;
    static const char *const personal[] = {
        "email", "phone", "first_name", "last_name", "birth_date", "address"};
    static const char *const person_types[] = {"customer.registered",
                                               "customer.profile_updated"};
    for (size_t t = 0; t < 2; t++) {
        for (size_t i = 0; i < sizeof(personal) / sizeof(personal[0]); i++) {
            const crm_field *f = field(person_types[t], personal[i]);
            if (f == NULL || !(f->flags & CRM_FIELD_PII))
                fail_msg("%s.%s is not flagged PII", person_types[t],
                         personal[i]);
        }
    }
    assert_true(field("feedback.survey_submitted", "comment")->flags &
                CRM_FIELD_PII);
    assert_true(field("complaint.opened", "description")->flags &
                CRM_FIELD_PII);
    assert_true(field("charter.flight_booked", "passport_no")->flags &
                CRM_FIELD_PII);

    static const struct {
        const char *type, *field;
    } public[] = {
        {"booking.created", "booking_id"},
        {"booking.created", "property"},
        {"booking.created", "amount"},
        {"spend.recorded", "amount"},
        {"spend.recorded", "currency"},
        {"feedback.survey_submitted", "nps"},
        {"loyalty.points_earned", "points"},
        {"customer.consent_changed", "granted"},
    };
    for (size_t i = 0; i < sizeof(public) / sizeof(public[0]); i++) {
        const crm_field *f = field(public[i].type, public[i].field);
        assert_non_null(f);
        if (f->flags & CRM_FIELD_PII)
            fail_msg("%s.%s flagged PII", public[i].type, public[i].field);
    }
    /* an erasure event carries no personal data at all */
    const crm_event_type *t = find("customer.erased");
    for (size_t i = 0; i < t->nfields; i++)
        assert_false(t->fields[i].flags & CRM_FIELD_PII);
}

/* Who sees a personal field is decided by its class (views.h): every
 * PII field has one, no other field has one, and a few are where the
 * role table expects them. */
static void
test_pii_classes(void **state)
{
    (void)state;
    for (size_t i = 0; i < crm_schema_count(); i++) {
        const crm_event_type *t = crm_schema_at(i);
        for (size_t j = 0; j < t->nfields; j++) {
            const crm_field *f = &t->fields[j];
            int pii = (f->flags & CRM_FIELD_PII) != 0;
            if (pii && (f->pii <= CRM_PII_NONE || f->pii >= CRM_PII__COUNT))
                fail_msg("%s.%s is PII without a class", t->name, f->name);
            if (!pii && f->pii != CRM_PII_NONE)
                fail_msg("%s.%s has a class but is not PII", t->name,
                         f->name);
            /* extension fields only: the catalogue knows its own */
            if (f->pii == CRM_PII_OTHER)
                fail_msg("%s.%s is of class other", t->name, f->name);
        }
    }
    static const struct {
        const char *type, *field;
        crm_pii_class c;
    } want[] = {
        {"customer.registered", "first_name", CRM_PII_IDENTITY},
        {"customer.profile_updated", "loyalty_number", CRM_PII_IDENTITY},
        {"customer.registered", "email", CRM_PII_CONTACT},
        {"customer.registered", "address", CRM_PII_CONTACT},
        {"charter.flight_booked", "passport_no", CRM_PII_DOCUMENT},
        {"customer.preference_set", "value", CRM_PII_SERVICE},
        {"booking.created", "special_requests", CRM_PII_SERVICE},
        {"complaint.opened", "description", CRM_PII_COMPLAINT},
        {"feedback.survey_submitted", "comment", CRM_PII_COMPLAINT},
        {"interaction.logged", "summary", CRM_PII_COMPLAINT},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(field(want[i].type, want[i].field)->pii, want[i].c);
    for (int c = CRM_PII_NONE + 1; c < CRM_PII__COUNT; c++) {
        assert_non_null(crm_pii_class_name((crm_pii_class)c));
        assert_non_null(crm_pii_class_doc((crm_pii_class)c));
    }
    assert_null(crm_pii_class_name(CRM_PII_NONE));
    assert_null(crm_pii_class_name(CRM_PII__COUNT));
}

static void
test_ftype_names(void **state)
{
    (void)state;
    crm_ftype all[] = {CRM_F_STR,   CRM_F_INT,      CRM_F_BOOL, CRM_F_DATE,
                       CRM_F_TIME,  CRM_F_CURRENCY, CRM_F_ENUM, CRM_F_EMAIL,
                       CRM_F_PHONE, CRM_F_IATA,       CRM_F_DECIMAL};
    size_t n = sizeof(all) / sizeof(all[0]);
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(crm_ftype_name(all[i]), "unknown");
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(crm_ftype_name(all[i]),
                                    crm_ftype_name(all[j]));
    }
    assert_string_equal(crm_ftype_name((crm_ftype)999), "unknown");
}

static void
test_name_eq(void **state)
{
    (void)state;
    assert_true(crm_schema_name_eq("spa", "spa", 3));
    assert_true(crm_schema_name_eq("", "", 0));
    assert_true(crm_schema_name_eq("spa", "spam", 3));  /* only len bytes */
    assert_false(crm_schema_name_eq("spa", "spam", 4)); /* name shorter */
    assert_false(crm_schema_name_eq("spam", "spa", 3)); /* name longer */
    assert_false(crm_schema_name_eq("spa", "spb", 3));
    assert_false(crm_schema_name_eq("spa", "sp\0", 3)); /* a NUL inside s */
    assert_false(crm_schema_name_eq("sp", "sp\0", 3));
    assert_false(crm_schema_name_eq("x", "", 0));
    assert_false(crm_schema_name_eq("", "x", 1));
    /* every type and field finds itself, and nothing finds a prefix */
    for (size_t i = 0; crm_schema_at(i); i++) {
        const crm_event_type *t = crm_schema_at(i);
        size_t n = strlen(t->name);
        assert_ptr_equal(crm_schema_find(t->name, n), t);
        assert_null(crm_schema_find(t->name, n - 1));
        for (size_t f = 0; f < t->nfields; f++) {
            const char *fn = t->fields[f].name;
            assert_ptr_equal(crm_schema_field(t, fn, strlen(fn)),
                             &t->fields[f]);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_eq),
        cmocka_unit_test(test_minimum_catalogue),
        cmocka_unit_test(test_table_consistent),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_is_ext),
        cmocka_unit_test(test_pii_flags),
        cmocka_unit_test(test_pii_classes),
        cmocka_unit_test(test_ftype_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
