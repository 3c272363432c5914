/* timeline.c - crm-audit replay and diff: the arguments, the log they
 * read (a data directory's, or an export's loaded by xsnap.c), the
 * moments they name, and what is printed. */
#include "timeline.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "jdiff.h"
#include "replay.h"
#include "settings.h"
#include "snap.h"
#include "store.h"
#include "timefmt.h"
#include "xsnap.h"

#define EXIT_NO_GUEST 1
#define EXIT_BROKEN 1 /* the export does not verify: as verify --export */
#define EXIT_USAGE 2
#define DAY_US 86400000000LL

typedef struct args {
    const char *data, *export, *tenant, *customer;
    const char *as_of, *effective, *on, *from, *to;
    long touchpoints;
} args;

static int
bad(const char *cmd, const char *what)
{
    fprintf(stderr, "crm-audit %s: %s (crm-audit --help)\n", cmd, what);
    return EXIT_USAGE;
}

/* The options of replay (diff: also --from and --to). 0, or the exit
 * status of a usage error, said on stderr. */
static int
parse(int argc, char **argv, int diff, args *a)
{
    const char *cmd = argv[0];
    char msg[160];
    memset(a, 0, sizeof(*a));
    a->touchpoints = 20;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (i + 1 >= argc) {
            snprintf(msg, sizeof(msg), "%s needs a value", o);
            return bad(cmd, msg);
        }
        const char *v = argv[++i], **slot = NULL;
        if (strcmp(o, "--data") == 0)
            slot = &a->data;
        else if (strcmp(o, "--export") == 0)
            slot = &a->export;
        else if (strcmp(o, "--tenant") == 0)
            slot = &a->tenant;
        else if (strcmp(o, "--customer") == 0)
            slot = &a->customer;
        else if (strcmp(o, "--on") == 0)
            slot = &a->on;
        else if (!diff && strcmp(o, "--as-of") == 0)
            slot = &a->as_of;
        else if (!diff && strcmp(o, "--effective") == 0)
            slot = &a->effective;
        else if (diff && strcmp(o, "--from") == 0)
            slot = &a->from;
        else if (diff && strcmp(o, "--to") == 0)
            slot = &a->to;
        if (slot) {
            *slot = v;
            continue;
        }
        if (strcmp(o, "--touchpoints") == 0) {
            char *end;
            a->touchpoints = strtol(v, &end, 10);
            if (*v == '\0' || *end || a->touchpoints < 0 ||
                a->touchpoints > 200)
                return bad(cmd, "--touchpoints must be 0..200");
            continue;
        }
        snprintf(msg, sizeof(msg), "unknown option '%s'", o);
        return bad(cmd, msg);
    }
    if ((a->data == NULL) == (a->export == NULL) ||
        (a->data && a->tenant == NULL) || a->customer == NULL)
        return bad(cmd, "needs --data DIR and --tenant T, or --export FILE, "
                        "and --customer ID");
    if (diff && (a->from == NULL || a->to == NULL))
        return bad(cmd, "needs --from and --to (a position or a time)");
    if (a->tenant && !crm_tenant_id_valid(a->tenant))
        return bad(cmd, "--tenant is not a tenant id ([a-z0-9-]{1,40})");
    size_t n = strlen(a->customer);
    if (!crm_stream_id_valid(a->customer, n) || a->customer[0] == '$')
        return bad(cmd, "--customer is not a guest's id");
    int64_t t;
    if (a->effective && crm_audit_time_parse(a->effective, &t) != 0)
        return bad(cmd, "--effective must be a UTC time "
                        "(YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
    if (a->on && !(strlen(a->on) == 10 && crm_date_valid(a->on, 10)))
        return bad(cmd, "--on must be a day YYYY-MM-DD");
    if (a->data && strlen(a->data) > 2048)
        return bad(cmd, "--data path is too long");
    return 0;
}

/* The log replayed: the tenant's in --data, or --export's records in a
 * scratch log; s points at the one open. */
typedef struct source {
    crm_audit_snap dir;
    crm_audit_xsnap export;
    crm_audit_snap *s;
} source;

static void
close_snap(source *src)
{
    crm_audit_snap_close(&src->dir);
    crm_audit_xsnap_close(&src->export);
}

/* Opens what the arguments name into src (closed again with close_snap,
 * also after a failure). 0, or the exit status with the reason on
 * stderr. */
static int
open_snap(const args *a, source *src)
{
    char dir[4096];
    crm_error e;
    crm_err err;
    memset(src, 0, sizeof(*src));
    if (a->export == NULL) {
        snprintf(dir, sizeof(dir), "%s/tenants/%s", a->data, a->tenant);
        if (crm_audit_snap_open(&src->dir, dir, a->tenant, 1, &e) !=
            CRM_OK) {
            fprintf(stderr, "crm-audit: tenant %s: %s\n", a->tenant, e.msg);
            return EXIT_USAGE;
        }
        src->s = &src->dir;
        return 0;
    }
    if ((err = crm_audit_xsnap_open(&src->export, a->export, &e)) != CRM_OK) {
        fprintf(stderr, "crm-audit: %s\n", e.msg);
        return err == CRM_ERR_CORRUPT ? EXIT_BROKEN : EXIT_USAGE;
    }
    src->s = &src->export.snap;
    if (a->tenant && strcmp(a->tenant, src->s->tenant) != 0) {
        fprintf(stderr, "crm-audit: %s is an export of tenant %s, not %s\n",
                a->export, src->s->tenant, a->tenant);
        return EXIT_USAGE;
    }
    return 0;
}

/* The moment text names (NULL: the whole snapshot, read now) into m,
 * with the day to read on; *time its time. 0 or an exit status. */
static int
moment(const args *a, crm_audit_snap *s, const char *text, int64_t effective,
       crm_audit_moment *m, int64_t *time)
{
    crm_error e;
    m->effective = effective;
    m->touchpoints = (size_t)a->touchpoints;
    if (text == NULL) {
        m->position = s->head_pos;
        *time = ctl_now_us();
    } else if (crm_audit_moment_parse(s, text, &m->position, time, &e) !=
               CRM_OK) {
        fprintf(stderr, "crm-audit: %s\n", e.msg);
        return EXIT_USAGE;
    }
    m->now_us = effective != INT64_MAX ? effective : *time;
    if (a->on) /* the day asked about, by its end */
        m->now_us = crm_settings_day_start(crm_settings_day(a->on, 10)) +
                    DAY_US - 1;
    return 0;
}

/* Runs the replay; 0, or the exit status with the reason on stderr. */
static int
run(const args *a, crm_audit_snap *s, const crm_audit_moment *m,
    crm_audit_replay *r)
{
    crm_error e;
    crm_err err = crm_audit_replay_run(s, a->customer, strlen(a->customer), m,
                                       r, &e);
    if (err == CRM_OK)
        return 0;
    fprintf(stderr, "crm-audit: %s\n", e.msg);
    return err == CRM_ERR_NOT_FOUND ? EXIT_NO_GUEST : EXIT_USAGE;
}

static json_t *
time_json(int64_t us)
{
    char t[CTL_TIME_STRLEN + 1];
    ctl_time_format(us, 1, t);
    return json_string(t);
}

int
crm_audit_cmd_replay(int argc, char **argv)
{
    args a;
    source src;
    crm_audit_snap *s;
    crm_audit_moment m;
    crm_audit_replay r = {0};
    int64_t time, effective = INT64_MAX;
    int rc = parse(argc, argv, 0, &a);
    if (rc != 0)
        return rc;
    if (a.effective)
        crm_audit_time_parse(a.effective, &effective);
    if ((rc = open_snap(&a, &src)) != 0)
        goto done;
    s = src.s;
    if ((rc = moment(&a, s, a.as_of, effective, &m, &time)) != 0 ||
        (rc = run(&a, s, &m, &r)) != 0)
        goto done;
    if (r.view == NULL) {
        fprintf(stderr, "crm-audit: no such guest '%s' in tenant %s at that "
                        "moment (position %llu%s)\n",
                a.customer, s->tenant, (unsigned long long)m.position,
                a.effective ? ", by the effective time" : "");
        rc = EXIT_NO_GUEST;
        goto done;
    }
    char day[11];
    crm_settings_day_text(crm_settings_day_of(m.now_us), day);
    json_t *doc = json_pack(
        "{s:s, s:s, s:{s:I, s:o}, s:o, s:s, s:{s:I, s:I, s:I}, s:b, s:o, "
        "s:O, s:O}",
        "tenant", s->tenant, "customer", a.customer, "as_of", "position",
        (json_int_t)m.position, "recorded_by", time_json(time), "effective",
        a.effective ? time_json(effective) : json_null(), "on", day,
        "replayed", "guest_events", (json_int_t)r.guest_events,
        "settings_events", (json_int_t)r.settings_events, "left_out",
        (json_int_t)r.left_out, "sealed", r.sealed, "erased_at",
        r.erased_at ? json_integer((json_int_t)r.erased_at) : json_null(),
        "view", r.view,
        "loyalty", r.loyalty ? r.loyalty : json_null());
    char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (text == NULL) {
        fprintf(stderr, "crm-audit: out of memory\n");
        rc = EXIT_USAGE;
        goto done;
    }
    puts(text);
    free(text);
done:
    crm_audit_replay_free(&r);
    close_snap(&src);
    return rc;
}

int
crm_audit_cmd_diff(int argc, char **argv)
{
    args a;
    source src;
    crm_audit_snap *s;
    crm_audit_moment ma, mb;
    crm_audit_replay ra = {0}, rb = {0};
    int64_t ta, tb;
    int rc = parse(argc, argv, 1, &a);
    if (rc != 0)
        return rc;
    if ((rc = open_snap(&a, &src)) != 0)
        goto done;
    s = src.s;
    if ((rc = moment(&a, s, a.from, INT64_MAX, &ma, &ta)) != 0 ||
        (rc = moment(&a, s, a.to, INT64_MAX, &mb, &tb)) != 0)
        goto done;
    if (ma.position > mb.position) {
        rc = bad(argv[0], "--from is after --to");
        goto done;
    }
    if ((rc = run(&a, s, &ma, &ra)) != 0 || (rc = run(&a, s, &mb, &rb)) != 0)
        goto done;
    char t1[CTL_TIME_STRLEN + 1], t2[CTL_TIME_STRLEN + 1];
    ctl_time_format(ta, 1, t1);
    ctl_time_format(tb, 1, t2);
    printf("diff tenant %s guest %s: from position %llu (%s) to position "
           "%llu (%s)\n",
           s->tenant, a.customer, (unsigned long long)ma.position, t1,
           (unsigned long long)mb.position, t2);
    size_t n = crm_audit_jdiff(stdout, "view", ra.view, rb.view);
    n += crm_audit_jdiff(stdout, "loyalty", ra.loyalty, rb.loyalty);
    size_t ne = 0;
    for (size_t i = 0; i < rb.nevents; i++)
        ne += rb.events[i].position > ma.position;
    printf("%zu change%s; %zu event%s recorded after position %llu up to "
           "%llu:\n",
           n, n == 1 ? "" : "s", ne, ne == 1 ? "" : "s",
           (unsigned long long)ma.position, (unsigned long long)mb.position);
    for (size_t i = 0; i < rb.nevents; i++) {
        const crm_audit_event *e = &rb.events[i];
        if (e->position <= ma.position)
            continue;
        ctl_time_format(e->recorded_at, 1, t1);
        ctl_time_format(e->occurred_at, 1, t2);
        printf("@ %llu %s%s occurred %s recorded %s\n",
               (unsigned long long)e->position, e->type,
               e->settings ? " (settings)" : "", t2, t1);
    }
done:
    crm_audit_replay_free(&ra);
    crm_audit_replay_free(&rb);
    close_snap(&src);
    return rc;
}
