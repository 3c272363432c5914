/* crmd.c - the crmd crm-bench measures: start, bench tenant, stop. */
#include "crmd.h"

#include <errno.h>
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
setup_tenant(bench_crmd *d)
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
    crm_client *c;
    crm_error why;
    const msgpack_object *res;
    crm_client_opts co = {.url = d->url, .key = d->opkey};
    if (crm_client_open(&co, &c, &why) != CRM_OK) {
        fprintf(stderr, "crmd at %s: %s\n", d->url, why.msg);
        return -1;
    }
    static const uint8_t tenant[] = {0x81, 0xa2, 'i', 'd', 0xa5,
                                     'b',  'e',  'n', 'c', 'h'};
    static const uint8_t keyargs[] = {
        0x82, 0xa6, 't', 'e', 'n', 'a', 'n',  't', 0xa5, 'b', 'e', 'n', 'c',
        'h',  0xa4, 'r', 'o', 'l', 'e', 0xa5, 'a', 'g',  'e', 'n', 't'};
    int rc = -1;
    if (crm_client_call_raw(c, "tenant.create", tenant, sizeof(tenant), &res,
                            &why) == CRM_OK &&
        crm_client_call_raw(c, "key.create", keyargs, sizeof(keyargs), &res,
                            &why) == CRM_OK) {
        const msgpack_object *k = crm_mp_get(res, "key");
        if (crm_mp_is_str(k) && k->via.str.size < sizeof(d->key)) {
            memcpy(d->key, k->via.str.ptr, k->via.str.size);
            d->key[k->via.str.size] = '\0';
            rc = 0;
        }
    }
    if (rc != 0)
        fprintf(stderr, "bench tenant: %s\n", why.msg);
    crm_client_close(c);
    return rc;
}

int
bench_crmd_start(const char *path, const char *dir, int port,
                 const char *projections, bench_crmd *d)
{
    char ready[700];
    memset(d, 0, sizeof(*d));
    snprintf(d->datadir, sizeof(d->datadir), "%s/crmd-bench-XXXXXX", dir);
    if (mkdtemp(d->datadir) == NULL) {
        fprintf(stderr, "cannot make a directory under %s: %s\n", dir,
                strerror(errno));
        d->datadir[0] = '\0';
        return -1;
    }
    snprintf(d->url, sizeof(d->url), "tcp://127.0.0.1:%d", port);
    snprintf(ready, sizeof(ready), "%s/ready", d->datadir);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        char data[700];
        snprintf(data, sizeof(data), "%s/data", d->datadir);
        if (projections)
            execl(path, path, "--data", data, "--listen", d->url, "--http",
                  "off", "--ready-file", ready, "--contexts", "64",
                  "--log-level", "warn", "--map-size-mb", "1024",
                  "--projections", projections, (char *)NULL);
        else
            execl(path, path, "--data", data, "--listen", d->url, "--http",
                  "off", "--ready-file", ready, "--contexts", "64",
                  "--log-level", "warn", "--map-size-mb", "1024",
                  (char *)NULL);
        _exit(127);
    }
    d->pid = pid;
    for (int i = 0; i < 500; i++) {
        struct stat st;
        if (stat(ready, &st) == 0)
            return setup_tenant(d);
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            d->pid = 0;
            break;
        }
        usleep(10000);
    }
    fprintf(stderr, "cannot start %s\n", path);
    return -1;
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
    if (d->datadir[0] != '\0') {
        bench_remove_tree(d->datadir);
        d->datadir[0] = '\0';
    }
}

int
bench_crmd_rebuild(const bench_crmd *d)
{
    static const uint8_t keyargs[] = {
        0x82, 0xa6, 't', 'e', 'n', 'a', 'n',  't', 0xa5, 'b', 'e', 'n', 'c',
        'h',  0xa4, 'r', 'o', 'l', 'e', 0xa5, 'a', 'd',  'm', 'i', 'n'};
    crm_client *c;
    crm_error why;
    const msgpack_object *res;
    char admin[160];
    crm_client_opts co = {.url = d->url, .key = d->opkey};
    if (crm_client_open(&co, &c, &why) != CRM_OK) {
        fprintf(stderr, "crmd at %s: %s\n", d->url, why.msg);
        return -1;
    }
    crm_err err = crm_client_call_raw(c, "key.create", keyargs,
                                      sizeof(keyargs), &res, &why);
    const msgpack_object *k = err == CRM_OK ? crm_mp_get(res, "key") : NULL;
    if (!crm_mp_is_str(k) || k->via.str.size >= sizeof(admin)) {
        fprintf(stderr, "admin key: %s\n", why.msg);
        crm_client_close(c);
        return -1;
    }
    memcpy(admin, k->via.str.ptr, k->via.str.size);
    admin[k->via.str.size] = '\0';
    crm_client_close(c);
    /* a rebuild reads the whole log: give it time */
    crm_client_opts ao = {.url = d->url, .key = admin,
                          .timeout_ms = 3600 * 1000};
    if (crm_client_open(&ao, &c, &why) != CRM_OK ||
        crm_client_call_raw(c, "projection.rebuild", (const uint8_t[]){0x80},
                            1, &res, &why) != CRM_OK) {
        fprintf(stderr, "projection.rebuild: %s\n", why.msg);
        crm_client_close(c);
        return -1;
    }
    const msgpack_object *list = crm_mp_get(res, "projections");
    int rc = list && list->type == MSGPACK_OBJECT_ARRAY ? 0 : -1;
    printf("\nrebuild from the log while serving, compared with the inline "
           "state:\n");
    for (uint32_t i = 0; rc >= 0 && i < list->via.array.size; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        const msgpack_object *name = crm_mp_get(e, "name"),
                             *same = crm_mp_get(e, "identical"),
                             *secs = crm_mp_get(e, "seconds"),
                             *diff = crm_mp_get(e, "diff");
        int64_t events = 0, rate = 0;
        crm_mp_int(crm_mp_get(e, "events"), 0, INT64_MAX, &events);
        crm_mp_int(crm_mp_get(e, "events_per_s"), 0, INT64_MAX, &rate);
        int identical = same && same->type == MSGPACK_OBJECT_BOOLEAN &&
                        same->via.boolean;
        printf("  %-10.*s %10lld events %8.3f s %10lld events/s  %s%.*s\n",
               crm_mp_is_str(name) ? (int)name->via.str.size : 1,
               crm_mp_is_str(name) ? name->via.str.ptr : "?",
               (long long)events,
               secs && secs->type == MSGPACK_OBJECT_FLOAT64 ? secs->via.f64
                                                             : 0.0,
               (long long)rate, identical ? "identical" : "DIFFERS: ",
               !identical && crm_mp_is_str(diff) ? (int)diff->via.str.size
                                                 : 0,
               !identical && crm_mp_is_str(diff) ? diff->via.str.ptr : "");
        if (!identical)
            rc = 1;
    }
    crm_client_close(c);
    return rc;
}
