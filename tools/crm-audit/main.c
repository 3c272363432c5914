/*
 * crm-audit - the offline auditor's tool.
 *
 *   crm-audit verify --data DIR [--tenant T] [--threads N] [--pubkey F]
 *   crm-audit replay --data DIR --tenant T | --export FILE  --customer ID
 *                    [--as-of TIME|POSITION] [--effective TIME] [--on DAY]
 *   crm-audit diff   --data DIR --tenant T | --export FILE  --customer ID
 *                    --from A --to B
 *
 * verify checks each tenant log of a crmd data directory (all of them,
 * or T) from a read-only snapshot, also while crmd runs and appends:
 * every record's hash, the chain from the genesis, dense positions,
 * stream versions, the head in meta, the indexes, and every signed
 * checkpoint (the chain's hash at its position, the tenant's Ed25519
 * signature: under the key in F, PEM from crmctl audit pubkey, or else
 * the key the log names). One line per tenant on stdout:
 *
 *   OK tenant T: N events, head POSITION HASHHEX, K signed checkpoints
 *   BROKEN tenant T at position P: why
 *
 * (P is the first bad position; 0 means meta or an index as a whole).
 * Exit status: 0 every tenant verified, 1 one is broken (also when
 * another could not be read), 2 usage or I/O error. The time each tenant
 * took is said on stderr; on a terminal a progress bar is drawn there.
 *
 * replay prints one guest's customer-360 view and loyalty account as
 * crmd knew them at a moment (records up to a position, or recorded up
 * to a time), optionally of what had occurred by a business time, as
 * JSON; diff prints what changed in them between two moments and the
 * events recorded in between (replay.h). Both read a tenant's log in a
 * data directory, or an export of a whole log, which is verified first
 * and loaded into a scratch log (xsnap.h). Exit status 0, 1 no such guest
 * (then) or the export does not verify, 2 usage or I/O error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "export.h"
#include "progress.h"
#include "sign.h"
#include "snap.h"
#include "store.h"
#include "timeline.h"
#include "verify.h"

#define EXIT_BROKEN 1
#define EXIT_USAGE 2

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: crm-audit verify --data DIR [--tenant T] [--threads N]\n"
            "                        [--pubkey FILE]\n"
            "       crm-audit verify --export FILE [--pubkey FILE]\n"
            "       crm-audit replay --data DIR --tenant T | --export FILE\n"
            "                        --customer ID [--as-of TIME|POSITION]\n"
            "                        [--effective TIME] [--on DAY]\n"
            "                        [--touchpoints N]\n"
            "       crm-audit diff   --data DIR --tenant T | --export FILE\n"
            "                        --customer ID --from TIME|POSITION\n"
            "                        --to TIME|POSITION [--on DAY]\n"
            "                        [--touchpoints N]\n"
            "\n"
            "  --data DIR    crmd's data directory (its tenants/ are read,\n"
            "                read-only; crmd may be running)\n"
            "  --tenant T    only this tenant (default for verify: every tenant;\n"
            "                with replay --export: the export's, which must\n"
            "                be T)\n"
            "  --threads N   threads that hash and look up records, 1..%d\n"
            "                (default: the online CPUs)\n"
            "  --export FILE an export file (crmctl audit export) instead of\n"
            "                a data directory; replay and diff verify it first\n"
            "                and need one of the whole log (from position 1)\n"
            "  --pubkey FILE the tenant's Ed25519 public key, PEM (crmctl\n"
            "                audit pubkey > FILE): every signed checkpoint\n"
            "                must verify under it (default: under the key\n"
            "                the log itself names, which proves less)\n"
            "  --customer ID the guest (stream id) to replay\n"
            "  --as-of M     what crmd knew at M: the records up to position M,\n"
            "                or recorded by time M (YYYY-MM-DDTHH:MM:SSZ, or\n"
            "                YYYY-MM-DD: by the end of that day); default: all\n"
            "  --effective T of the guest's events only those that occurred by\n"
            "                T (business time; same forms as a time above)\n"
            "  --on DAY      the day the view is read on (YYYY-MM-DD; default\n"
            "                the day of --effective, else of the moment)\n"
            "  --touchpoints N  touchpoints shown, newest first, 0..200 (20)\n"
            "  --from, --to  the two moments diff compares (as --as-of)\n"
            "\n"
            "verify prints 'OK tenant T: N events, head POSITION HASHHEX, K\n"
            "signed checkpoints' or 'BROKEN tenant T at position P: why' (the\n"
            "first bad position; 0: meta or an index as a whole) per tenant.\n"
            "Exit status 0 all verified, 1 something is broken, 2 usage or I/O\n"
            "error. replay prints the guest's view as JSON, diff the key paths\n"
            "that changed and the events recorded in between; exit status 0,\n"
            "1 no such guest or an export that does not verify, 2 usage or\n"
            "I/O error. crm-audit holds no key: a sealed tenant's personal\n"
            "values, in its data directory as in its export, read \"(sealed)\"\n"
            "or are left out.\n",
            CRM_AUDIT_THREADS_MAX);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The tenant directories under DIR/tenants, sorted; NULL-terminated,
 * malloc'd. NULL (said on stderr) when it cannot be read. */
static char **
list_tenants(const char *tdir)
{
    DIR *d = opendir(tdir);
    if (d == NULL) {
        fprintf(stderr, "crm-audit: cannot open %s: %s\n", tdir,
                strerror(errno));
        return NULL;
    }
    size_t n = 0, cap = 16;
    char **ids = malloc(cap * sizeof(*ids));
    struct dirent *e;
    while (ids && (e = readdir(d)) != NULL) {
        if (!crm_tenant_id_valid(e->d_name))
            continue;
        if (n + 1 >= cap) {
            char **more = realloc(ids, 2 * cap * sizeof(*ids));
            if (more == NULL) {
                for (size_t i = 0; i < n; i++)
                    free(ids[i]);
                free(ids);
                ids = NULL;
                break;
            }
            ids = more;
            cap *= 2;
        }
        if ((ids[n] = strdup(e->d_name)) != NULL)
            n++;
    }
    closedir(d);
    if (ids == NULL) {
        fprintf(stderr, "crm-audit: out of memory\n");
        return NULL;
    }
    qsort(ids, n, sizeof(*ids), cmp_str);
    ids[n] = NULL;
    return ids;
}

/* 0 verified, 1 broken, 2 could not verify. */
static int
verify_tenant(const char *tdir, const char *tenant, int nthreads,
              const uint8_t *pub)
{
    char dir[4096];
    crm_audit_snap s;
    crm_audit_result res;
    crm_audit_progress p;
    crm_error e;

    snprintf(dir, sizeof(dir), "%s/%s", tdir, tenant);
    int64_t t0 = crm_mono_ns();
    if (crm_audit_snap_open(&s, dir, tenant, nthreads, &e) != CRM_OK) {
        fprintf(stderr, "crm-audit: tenant %s: %s\n", tenant, e.msg);
        return EXIT_USAGE;
    }
    crm_audit_progress_begin(&p, tenant, s.records);
    crm_err err = crm_audit_verify(&s, pub, &p, &res, &e);
    crm_audit_progress_end(&p);
    crm_audit_snap_close(&s);
    if (err != CRM_OK) {
        fprintf(stderr, "crm-audit: tenant %s: %s\n", tenant, e.msg);
        return EXIT_USAGE;
    }
    double secs = (double)(crm_mono_ns() - t0) / 1e9;
    if (res.broken) {
        printf("BROKEN tenant %s at position %llu: %s\n", tenant,
               (unsigned long long)res.bad_pos, res.why);
    } else {
        char hex[2 * CRM_HASH_LEN + 1];
        static const char digits[] = "0123456789abcdef";
        for (int i = 0; i < CRM_HASH_LEN; i++) {
            hex[2 * i] = digits[res.head_hash[i] >> 4];
            hex[2 * i + 1] = digits[res.head_hash[i] & 15];
        }
        hex[2 * CRM_HASH_LEN] = '\0';
        printf("OK tenant %s: %llu events, head %llu %s, %llu signed "
               "checkpoint%s (%s)\n",
               tenant, (unsigned long long)res.events,
               (unsigned long long)res.head_pos, hex,
               (unsigned long long)res.checkpoints,
               res.checkpoints == 1 ? "" : "s",
               pub ? "the key given" : "the key the log names");
    }
    fflush(stdout);
    fprintf(stderr,
            "crm-audit: tenant %s: %llu events in %.3f s, %.0f events/s, "
            "%d thread%s\n",
            tenant, (unsigned long long)res.events, secs,
            secs > 0 ? (double)res.events / secs : 0.0, nthreads,
            nthreads == 1 ? "" : "s");
    return res.broken ? EXIT_BROKEN : 0;
}

/* 0 verified, 1 broken, 2 could not verify. */
static int
verify_export(const char *path, const uint8_t *pub)
{
    crm_audit_export x;
    crm_audit_result res;
    crm_error e;
    if (crm_audit_verify_export(path, pub, NULL, NULL, &x, &res, &e) !=
        CRM_OK) {
        fprintf(stderr, "crm-audit: %s\n", e.msg);
        return EXIT_USAGE;
    }
    if (res.broken) {
        printf("BROKEN export %s of tenant %s at position %llu: %s\n", path,
               x.tenant[0] ? x.tenant : "?", (unsigned long long)res.bad_pos,
               res.why);
        return EXIT_BROKEN;
    }
    char hex[2 * CRM_HASH_LEN + 1];
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < CRM_HASH_LEN; i++) {
        hex[2 * i] = digits[res.head_hash[i] >> 4];
        hex[2 * i + 1] = digits[res.head_hash[i] & 15];
    }
    hex[2 * CRM_HASH_LEN] = '\0';
    printf("OK export of tenant %s: positions %llu..%llu, %llu records, head "
           "%s, signed checkpoint (%s)\n",
           x.tenant, (unsigned long long)x.from, (unsigned long long)x.to,
           (unsigned long long)res.events, hex,
           pub ? "the key given" : "the key the file names");
    if (x.has_keys)
        printf("keys: %llu guests' keys follow, sealed under a passphrase "
               "(not opened here)\n",
               (unsigned long long)x.keys);
    return 0;
}

/* The PEM public key in file path (crmctl audit pubkey). 0 or -1. */
static int
read_pubkey(const char *path, uint8_t pub[CRM_SIGN_PUB_LEN])
{
    char buf[4096];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f)
        fclose(f);
    if (f == NULL || n == 0 || crm_sign_pub_parse(buf, n, pub) != 0) {
        fprintf(stderr, "crm-audit: --pubkey %s: %s\n", path,
                f == NULL ? strerror(errno)
                          : "not an Ed25519 public key in PEM "
                            "(crmctl audit pubkey > FILE)");
        return -1;
    }
    return 0;
}

static int
cmd_verify(int argc, char **argv)
{
    const char *data = NULL, *tenant = NULL, *pubkey = NULL, *export = NULL;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int nthreads = cpus < 1 ? 1
                   : cpus > CRM_AUDIT_THREADS_MAX ? CRM_AUDIT_THREADS_MAX
                                                  : (int)cpus;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "crm-audit: %s needs a value\n", a);
            return EXIT_USAGE;
        }
        const char *val = argv[++i];
        if (strcmp(a, "--data") == 0) {
            data = val;
        } else if (strcmp(a, "--tenant") == 0) {
            tenant = val;
        } else if (strcmp(a, "--pubkey") == 0) {
            pubkey = val;
        } else if (strcmp(a, "--export") == 0) {
            export = val;
        } else if (strcmp(a, "--threads") == 0) {
            char *end;
            long n = strtol(val, &end, 10);
            if (*end || n < 1 || n > CRM_AUDIT_THREADS_MAX) {
                fprintf(stderr, "crm-audit: --threads must be 1..%d\n",
                        CRM_AUDIT_THREADS_MAX);
                return EXIT_USAGE;
            }
            nthreads = (int)n;
        } else {
            fprintf(stderr, "crm-audit: unknown option '%s'\n", a);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if ((data == NULL) == (export == NULL)) {
        fprintf(stderr, "crm-audit: verify needs --data DIR or --export "
                        "FILE\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (export) {
        uint8_t key[CRM_SIGN_PUB_LEN];
        if (pubkey && read_pubkey(pubkey, key) != 0)
            return EXIT_USAGE;
        return verify_export(export, pubkey ? key : NULL);
    }
    if (tenant && !crm_tenant_id_valid(tenant)) {
        fprintf(stderr, "crm-audit: '%s' is not a tenant id ([a-z0-9-]{1,40})\n",
                tenant);
        return EXIT_USAGE;
    }
    uint8_t pub[CRM_SIGN_PUB_LEN];
    if (pubkey && read_pubkey(pubkey, pub) != 0)
        return EXIT_USAGE;
    char tdir[2048];
    if (strlen(data) > sizeof(tdir) - sizeof("/tenants")) {
        fprintf(stderr, "crm-audit: --data path is too long\n");
        return EXIT_USAGE;
    }
    snprintf(tdir, sizeof(tdir), "%s/tenants", data);
    char *one[2] = {(char *)tenant, NULL};
    char **ids = tenant ? one : list_tenants(tdir);
    if (ids == NULL)
        return EXIT_USAGE;
    int worst_broken = 0, io = 0;
    for (char **t = ids; *t; t++) {
        int rc = verify_tenant(tdir, *t, nthreads, pubkey ? pub : NULL);
        worst_broken |= rc == EXIT_BROKEN;
        io |= rc == EXIT_USAGE;
    }
    if (ids[0] == NULL)
        fprintf(stderr, "crm-audit: no tenant in %s\n", tdir);
    if (!tenant) {
        for (char **t = ids; *t; t++)
            free(*t);
        free(ids);
    }
    /* a broken log is a finding: it outranks a tenant that was unreadable */
    return worst_broken ? EXIT_BROKEN : io ? EXIT_USAGE : 0;
}

int
main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "replay") == 0)
        return crm_audit_cmd_replay(argc - 1, argv + 1);
    if (strcmp(argv[1], "diff") == 0)
        return crm_audit_cmd_diff(argc - 1, argv + 1);
    fprintf(stderr, "crm-audit: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
