/* view_rules_test.c - the role table of personal data (proto/views.c):
 * the channels follow the catalogue's order (and the segment row's, which
 * segment.export reads consents from); every contact field has a channel
 * that unlocks it; views by role and grant; a pii map filtered in place
 * with the names it withheld; the read reply's marks for them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "rpc.h"
#include "schema.h"
#include "segment.h"
#include "views.h"

static void
test_channels_follow_the_catalogue(void **state)
{
    (void)state;
    const crm_event_type *t = crm_schema_find("customer.consent_changed", 24);
    const crm_field *f = crm_schema_field(t, "channel", 7);
    size_t n = 0;
    for (; f->values[n]; n++) {
        assert_string_equal(crm_channel_name((crm_channel)n), f->values[n]);
        assert_string_equal(crm_seg_channels[n], f->values[n]);
    }
    assert_int_equal(n, CRM_CH__COUNT);
    assert_null(crm_seg_channels[n]);
}

static void
test_every_contact_field_has_a_channel(void **state)
{
    (void)state;
    for (size_t i = 0; i < crm_schema_count(); i++) {
        const crm_event_type *t = crm_schema_at(i);
        for (size_t j = 0; j < t->nfields; j++)
            if (t->fields[j].pii == CRM_PII_CONTACT &&
                crm_view_channels(t->fields[j].name,
                                  strlen(t->fields[j].name)) == 0)
                fail_msg("%s.%s: no channel unlocks it", t->name,
                         t->fields[j].name);
    }
}

static int
shows(crm_role r, unsigned grants, const char *type, const char *field,
      unsigned consents)
{
    crm_view v;
    crm_view_for(r, grants, &v);
    return crm_view_shows(&v, type, strlen(type), field, strlen(field),
                          consents);
}

static void
test_views_by_role(void **state)
{
    (void)state;
    const char *reg = "customer.registered", *fl = "charter.flight_booked";
    const unsigned email = CRM_CH_BIT(CRM_CH_EMAIL);
    assert_true(shows(CRM_ROLE_AGENT, 0, fl, "passport_no", 0));
    assert_true(shows(CRM_ROLE_MARKETING, 0, reg, "first_name", 0));
    assert_false(shows(CRM_ROLE_MARKETING, 0, reg, "email", 0));
    assert_true(shows(CRM_ROLE_MARKETING, 0, reg, "email", email));
    assert_false(shows(CRM_ROLE_MARKETING, 0, reg, "phone", email));
    assert_true(shows(CRM_ROLE_MARKETING, 0, reg, "phone",
                      CRM_CH_BIT(CRM_CH_WHATSAPP)));
    assert_false(shows(CRM_ROLE_MARKETING, 0, fl, "passport_no", ~0u));
    assert_false(shows(CRM_ROLE_MARKETING, 0, "complaint.opened",
                       "description", ~0u));
    assert_true(shows(CRM_ROLE_FINANCE, 0, reg, "loyalty_number", 0));
    assert_false(shows(CRM_ROLE_FINANCE, 0, reg, "email", ~0u));
    assert_false(shows(CRM_ROLE_AUDITOR, 0, reg, "first_name", ~0u));
    assert_true(shows(CRM_ROLE_AUDITOR, CRM_GRANT_PERSONAL_DATA, fl,
                      "passport_no", 0));
    assert_false(shows(CRM_ROLE_REPLICA, CRM_GRANT_PERSONAL_DATA, reg,
                       "first_name", ~0u));
    /* an extension's personal fields: only for views that see all */
    assert_true(shows(CRM_ROLE_AGENT, 0, "x.spa", "therapist_notes", 0));
    assert_false(shows(CRM_ROLE_FINANCE, 0, "x.spa", "first_name", 0));

    crm_view v;
    crm_view_for(CRM_ROLE_AUDITOR, 0, &v);
    assert_false(v.opens);
    crm_view_for(CRM_ROLE_REPLICA, 0, &v);
    assert_false(v.opens);
    crm_view_for(CRM_ROLE_AUDITOR, CRM_GRANT_PERSONAL_DATA, &v);
    assert_true(crm_view_sees_all(&v));

    unsigned g;
    assert_int_equal(crm_grant_parse("personal_data", 13, &g), 0);
    assert_int_equal(g, CRM_GRANT_PERSONAL_DATA);
    assert_int_equal(crm_grant_parse("all", 3, &g), -1);
    assert_true(crm_grant_allowed(CRM_ROLE_AUDITOR, g));
    assert_false(crm_grant_allowed(CRM_ROLE_AGENT, g));
    assert_true(crm_grant_allowed(CRM_ROLE_AGENT, 0));
}

/* A map {first_name, email, phone} as a record's opened pii. */
static void
person(msgpack_zone *z, msgpack_object *out)
{
    static const char *const k[] = {"first_name", "email", "phone"};
    msgpack_object_kv *kv = msgpack_zone_malloc(z, 3 * sizeof(*kv));
    for (int i = 0; i < 3; i++) {
        kv[i].key.type = kv[i].val.type = MSGPACK_OBJECT_STR;
        kv[i].key.via.str.ptr = kv[i].val.via.str.ptr = k[i];
        kv[i].key.via.str.size = kv[i].val.via.str.size =
            (uint32_t)strlen(k[i]);
    }
    out->type = MSGPACK_OBJECT_MAP;
    out->via.map.size = 3;
    out->via.map.ptr = kv;
}

static void
test_filter_in_place(void **state)
{
    (void)state;
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object pii, w;
    crm_view v;
    const char *reg = "customer.registered";

    crm_view_for(CRM_ROLE_AGENT, 0, &v);
    person(&z, &pii);
    assert_int_equal(crm_view_filter(&v, reg, 19, 0, &pii, &z, &w), 0);
    assert_int_equal(pii.via.map.size, 3);
    assert_int_equal(w.type, MSGPACK_OBJECT_NIL);

    crm_view_for(CRM_ROLE_MARKETING, 0, &v);
    person(&z, &pii);
    assert_int_equal(crm_view_filter(&v, reg, 19, CRM_CH_BIT(CRM_CH_EMAIL),
                                     &pii, &z, &w),
                     1);
    assert_int_equal(pii.via.map.size, 2);
    assert_int_equal(w.via.array.size, 1);
    assert_memory_equal(w.via.array.ptr[0].via.str.ptr, "phone", 5);

    crm_view_for(CRM_ROLE_MARKETING, 0, &v);
    msgpack_object pref;
    person(&z, &pref);
    assert_int_equal(crm_view_filter(&v, "customer.preference_set", 23, 0,
                                     &pref, &z, &w),
                     3); /* not the type's fields: other, withheld */
    assert_int_equal(pref.type, MSGPACK_OBJECT_NIL);

    /* the read reply: names listed, and all withheld is redacted */
    crm_record r;
    memset(&r, 0, sizeof(r));
    r.type = reg;
    r.type_len = 19;
    r.body.type = MSGPACK_OBJECT_NIL;
    r.pii = pref;
    static const uint8_t zeros[64];
    r.id = zeros;
    r.hash = zeros;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(crm_rpc_pack_record_view(&pk, &r, 0, &w), 0);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, NULL),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(crm_mp_get(&u.data, "pii")->type, MSGPACK_OBJECT_NIL);
    assert_true(crm_mp_get(&u.data, "pii_redacted")->via.boolean);
    assert_int_equal(crm_mp_get(&u.data, "pii_withheld")->via.array.size, 3);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    msgpack_zone_destroy(&z);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channels_follow_the_catalogue),
        cmocka_unit_test(test_every_contact_field_has_a_channel),
        cmocka_unit_test(test_views_by_role),
        cmocka_unit_test(test_filter_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
