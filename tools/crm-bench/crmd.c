/* crmd.c - the crmd crm-bench measures: start, bench tenant, stop. */
#include "crmd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "client.h"
#include "rpc.h"

const char *
bench_crmd_default_path(void)
{
    static char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 16);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return NULL;
    strcpy(slash, "/../crmd");
    return self;
}

static int
read_opkey(bench_crmd *d)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/data/operator.key", d->datadir);
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(d->opkey, sizeof(d->opkey), f) == NULL) {
        if (f)
            fclose(f);
        fprintf(stderr, "crmd wrote no operator key in %s\n", path);
        return -1;
    }
    fclose(f);
    d->opkey[strcspn(d->opkey, "\n")] = '\0';
    return 0;
}

typedef struct key_args {
    const char *role;
} key_args;

static int
pack_key_args(msgpack_packer *pk, void *arg)
{
    const key_args *a = arg;
    return msgpack_pack_map(pk, 2) | crm_mp_pack_cstr(pk, "tenant") |
           crm_mp_pack_cstr(pk, "bench") | crm_mp_pack_cstr(pk, "role") |
           crm_mp_pack_cstr(pk, a->role);
}

int
bench_crmd_key(const bench_crmd *d, const char *role, char *out, size_t cap)
{
    crm_client *c;
    crm_error why;
    const msgpack_object *res;
    /* the first commit of a reopened big tenant whose pages are not in
     * the page cache can take seconds */
    crm_client_opts co = {.url = d->url, .key = d->opkey,
                          .timeout_ms = 120 * 1000};
    if (crm_client_open(&co, &c, &why) != CRM_OK) {
        fprintf(stderr, "crmd at %s: %s\n", d->url, why.msg);
        return -1;
    }
    key_args a = {role};
    int rc = -1;
    if (crm_client_call(c, "key.create", pack_key_args, &a, &res, &why) ==
        CRM_OK) {
        const msgpack_object *k = crm_mp_get(res, "key");
        if (crm_mp_is_str(k) && k->via.str.size < cap) {
            memcpy(out, k->via.str.ptr, k->via.str.size);
            out[k->via.str.size] = '\0';
            rc = 0;
        } else {
            crm_error_set(&why, CRM_ERR_INTERNAL, "no key in the reply");
        }
    }
    if (rc != 0)
        fprintf(stderr, "%s key: %s\n", role, why.msg);
    crm_client_close(c);
    return rc;
}

/* The bench tenant (there already when reopened) and its agent key. */
static int
setup_tenant(bench_crmd *d, int reopened)
{
    if (read_opkey(d) != 0)
        return -1;
    crm_client *c;
    crm_error why;
    const msgpack_object *res;
    /* the first commit of a reopened big tenant whose pages are not in
     * the page cache can take seconds */
    crm_client_opts co = {.url = d->url, .key = d->opkey,
                          .timeout_ms = 120 * 1000};
    if (crm_client_open(&co, &c, &why) != CRM_OK) {
        fprintf(stderr, "crmd at %s: %s\n", d->url, why.msg);
        return -1;
    }
    static const uint8_t tenant[] = {0x81, 0xa2, 'i', 'd', 0xa5,
                                     'b',  'e',  'n', 'c', 'h'};
    crm_err err = crm_client_call_raw(c, "tenant.create", tenant,
                                      sizeof(tenant), &res, &why);
    crm_client_close(c);
    if (err != CRM_OK && !(reopened && err == CRM_ERR_EXISTS)) {
        fprintf(stderr, "bench tenant: %s\n", why.msg);
        return -1;
    }
    return bench_crmd_key(d, "agent", d->key, sizeof(d->key));
}

static int plain; /* bench_crmd_plain */
static const char *access_log; /* bench_crmd_access_log */

void
bench_crmd_access_log(const char *on_off)
{
    access_log = on_off;
}


void
bench_crmd_plain(int on)
{
    plain = on;
}

/* Runs crmd on d->datadir and waits for its ready file. */
static int
launch(const char *path, int port, const char *projections, bench_crmd *d)
{
    char ready[700];
    snprintf(d->url, sizeof(d->url), "tcp://127.0.0.1:%d", port);
    snprintf(ready, sizeof(ready), "%s/ready", d->datadir);
    unlink(ready); /* a kept directory holds the last run's */
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        char data[700], mkey[700];
        snprintf(data, sizeof(data), "%s/data", d->datadir);
        snprintf(mkey, sizeof(mkey), "%s/master.key", d->datadir);
        const char *argv[24] = {path, "--data", data, "--listen", d->url,
                                "--http", "off", "--ready-file", ready,
                                "--contexts", "64", "--log-level", "warn",
                                "--map-size-mb", "1024"};
        int n = 15;
        if (projections) {
            argv[n++] = "--projections";
            argv[n++] = projections;
        }
        if (access_log) {
            argv[n++] = "--access-log";
            argv[n++] = access_log;
        }
        if (plain) {
            argv[n++] = "--no-encryption";
        } else {
            /* the key beside the data directory, made on the first run */
            if (access(mkey, F_OK) != 0) {
                pid_t mk = fork();
                if (mk == 0) {
                    int nul = open("/dev/null", O_WRONLY);
                    if (nul >= 0)
                        dup2(nul, 1);
                    execl(path, path, "--make-master-key", mkey, (char *)NULL);
                    _exit(127);
                }
                int st;
                if (mk < 0 || waitpid(mk, &st, 0) != mk || st != 0)
                    _exit(126);
            }
            argv[n++] = "--master-key";
            argv[n++] = mkey;
        }
        argv[n] = NULL;
        execv(path, (char *const *)argv);
        _exit(127);
    }
    d->pid = pid;
    /* a reopened tenant of millions of events takes a while to open, and
     * longer when its projections catch up (up to 10 minutes) */
    for (int i = 0; i < 60000; i++) {
        struct stat st;
        if (stat(ready, &st) == 0)
            return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            d->pid = 0;
            break;
        }
        usleep(10000);
    }
    fprintf(stderr, "cannot start %s\n", path);
    return -1;
}

int
bench_crmd_start(const char *path, const char *dir, int port,
                 const char *projections, bench_crmd *d)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->datadir, sizeof(d->datadir), "%s/crmd-bench-XXXXXX", dir);
    if (mkdtemp(d->datadir) == NULL) {
        fprintf(stderr, "cannot make a directory under %s: %s\n", dir,
                strerror(errno));
        d->datadir[0] = '\0';
        return -1;
    }
    if (launch(path, port, projections, d) != 0)
        return -1;
    return setup_tenant(d, 0);
}

int
bench_crmd_reopen(const char *path, const char *datadir, int port,
                  const char *projections, bench_crmd *d)
{
    memset(d, 0, sizeof(*d));
    d->keep = 1;
    if (strlen(datadir) >= sizeof(d->datadir)) {
        fprintf(stderr, "%s: path too long\n", datadir);
        return -1;
    }
    strcpy(d->datadir, datadir);
    if (launch(path, port, projections, d) != 0)
        return -1;
    return setup_tenant(d, 1);
}

void
bench_crmd_counts(const bench_crmd *d, uint64_t *commits, uint64_t *events)
{
    crm_client *c;
    crm_error why;
    const msgpack_object *res;
    crm_client_opts co = {.url = d->url, .key = d->opkey};
    *commits = *events = 0;
    if (crm_client_open(&co, &c, &why) != CRM_OK)
        return;
    if (crm_client_call(c, "metrics", NULL, NULL, &res, &why) == CRM_OK) {
        const msgpack_object *t =
            crm_mp_get(crm_mp_get(res, "tenants"), "bench");
        int64_t v;
        if (crm_mp_int(crm_mp_get(t, "commits"), 0, INT64_MAX, &v) == 0)
            *commits = (uint64_t)v;
        if (crm_mp_int(crm_mp_get(t, "events"), 0, INT64_MAX, &v) == 0)
            *events = (uint64_t)v;
    }
    crm_client_close(c);
}

void
bench_crmd_stop(bench_crmd *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
    if (d->datadir[0] != '\0' && !d->keep) {
        bench_remove_tree(d->datadir);
        d->datadir[0] = '\0';
    }
}

/* A number the server sent as an integer or a float; 0 otherwise. */
static double
num_of(const msgpack_object *o)
{
    if (o == NULL)
        return 0;
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return (double)o->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return (double)o->via.i64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return o->via.f64;
    default:
        return 0;
    }
}

static void
str_of(const msgpack_object *o, char *out, size_t cap)
{
    size_t n = crm_mp_is_str(o) ? o->via.str.size : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(out, o->via.str.ptr, n);
    out[n] = '\0';
}

int
bench_crmd_rebuild(const bench_crmd *d, bench_rebuilt *r, int max, int *n,
                   double *seconds)
{
    crm_client *c;
    crm_error why;
    const msgpack_object *res;
    char admin[160];
    *n = 0;
    if (bench_crmd_key(d, "admin", admin, sizeof(admin)) != 0)
        return -1;
    /* a rebuild reads the whole log: give it time */
    crm_client_opts ao = {.url = d->url, .key = admin,
                          .timeout_ms = 3600 * 1000};
    double t0 = bench_now();
    if (crm_client_open(&ao, &c, &why) != CRM_OK ||
        crm_client_call_raw(c, "projection.rebuild", (const uint8_t[]){0x80},
                            1, &res, &why) != CRM_OK) {
        fprintf(stderr, "projection.rebuild: %s\n", why.msg);
        crm_client_close(c);
        return -1;
    }
    if (seconds)
        *seconds = bench_now() - t0;
    const msgpack_object *list = crm_mp_get(res, "projections");
    if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY) {
        fprintf(stderr, "projection.rebuild: no projections in the reply\n");
        crm_client_close(c);
        return -1;
    }
    for (uint32_t i = 0; i < list->via.array.size && *n < max; i++) {
        const msgpack_object *e = &list->via.array.ptr[i],
                             *same = crm_mp_get(e, "identical");
        bench_rebuilt *b = &r[(*n)++];
        memset(b, 0, sizeof(*b));
        str_of(crm_mp_get(e, "name"), b->name, sizeof(b->name));
        str_of(crm_mp_get(e, "diff"), b->diff, sizeof(b->diff));
        b->events = (uint64_t)num_of(crm_mp_get(e, "events"));
        b->seconds = num_of(crm_mp_get(e, "seconds"));
        b->events_per_s = num_of(crm_mp_get(e, "events_per_s"));
        b->identical = same && same->type == MSGPACK_OBJECT_BOOLEAN &&
                       same->via.boolean;
    }
    crm_client_close(c);
    return 0;
}

int
bench_crmd_print_rebuilt(const bench_rebuilt *r, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        printf("  %-10s %10llu events %8.3f s %10.0f events/s  %s%s\n",
               r[i].name, (unsigned long long)r[i].events, r[i].seconds,
               r[i].events_per_s, r[i].identical ? "identical" : "DIFFERS: ",
               r[i].identical ? "" : r[i].diff);
        if (!r[i].identical)
            rc = 1;
    }
    return rc;
}
