/* config.c - INI file plus flags. */
#include "config.h"
#include "clock.h"
#include "log.h"
#include "vault.h"

#include <getopt.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
    "usage: crmd [options]\n"
    "\n"
    "  -c, --config FILE          INI file (see deploy/crmd.conf.example)\n"
    "  -d, --data DIR             data directory (default ./data)\n"
    "  -l, --listen URL           tcp://HOST:PORT, ipc:///PATH or\n"
    "                             tls+tcp://HOST:PORT; repeatable\n"
    "                             (default tcp://127.0.0.1:7400)\n"
    "      --http URL|off         /metrics and /healthz\n"
    "                             (default http://127.0.0.1:7401)\n"
    "      --tls-cert FILE        server certificate (PEM) for tls+tcp\n"
    "      --tls-key FILE         its private key (PEM)\n"
    "      --operator-key-file F  where the bootstrap operator key is written\n"
    "                             (default DATA/operator.key)\n"
    "      --ready-file FILE      written once every listener is up\n"
    "      --backup-dir DIR       where the backup op writes (default\n"
    "                             ./backups)\n"
    "      --restore BACKUP       put a backup back into the data directory\n"
    "                             (crmd stopped): each tenant verified, the\n"
    "                             erasures made since re-applied; then exit\n"
    "      --import FILE          make an export file (crmctl audit export)\n"
    "                             of a whole log a new tenant (crmd\n"
    "                             stopped): same chain head; then exit\n"
    "      --keys-passphrase-file F\n"
    "                             with --import: the passphrase the export's\n"
    "                             guests' keys are sealed under\n"
    "      --contexts N           requests served concurrently (default 128)\n"
    "      --drain-timeout-ms N   how long SIGTERM waits for the requests in\n"
    "                             flight before crmd stops (default 10000)\n"
    "      --map-size-mb N        initial LMDB map per tenant (default 64)\n"
    "      --group-wait-us N      how long a group commit waits for the\n"
    "                             writers of the last one (default 150)\n"
    "      --checkpoint-every S   sign a checkpoint of each tenant's head at\n"
    "                             most this often while appends come in\n"
    "                             (default 60; 0: only audit.checkpoint)\n"
    "      --access-log on|off    record who was handed which guest's\n"
    "                             personal data (default on)\n"
    "      --access-retention-days N  keep those entries N days (default\n"
    "                             365; 0: forever)\n"
    "      --projections LIST     views kept inline, comma-separated: settings,\n"
    "                             loyalty, find, customer, kpi, segment,\n"
    "                             tasks, counts, or none (default all but\n"
    "                             counts)\n"
    "      --master-key FILE      the master key that seals guests' personal\n"
    "                             data (64 hex digits, mode 0600, outside\n"
    "                             the data directory); required unless\n"
    "                             --no-encryption\n"
    "      --make-master-key FILE write a new master key file and exit\n"
    "      --no-encryption        run without a master key: new tenants keep\n"
    "                             personal data unsealed (for comparison;\n"
    "                             sealed tenants do not open)\n"
    "      --log-level LEVEL      debug, info, warn or error (default info)\n"
    "      --pin-clock TIME       tests only (a CRM_TEST_CLOCK=ON build): fix\n"
    "                             the \"now\" of queries at YYYY-MM-DDTHH:MM:SSZ\n"
    "  -V, --version              print the version and exit\n"
    "  -h, --help                 this text\n"
    "\n"
    "Signals: SIGTERM/SIGINT drain in-flight requests and exit (status 1\n"
    "if requests were still unanswered after 10 s); SIGHUP reloads the API\n"
    "keys and the config file's log_level (not when --log-level is given).\n"
    "Every other setting needs a restart.\n";

static int
set_str(char **dst, const char *v)
{
    char *s = strdup(v);
    if (s == NULL)
        return -1;
    free(*dst);
    *dst = s;
    return 0;
}

/* "settings counts" or "settings,counts"; "none" for no projection. Kept
 * in the built-in order, whatever order they are named in: a projection
 * may read the ones before it inside the same transaction (settings
 * first). */
static int
parse_projections(crm_config *c, const char *value)
{
    char buf[256];
    const crm_proj_def *named[CRM_PROJ_MAX];
    size_t n = 0;
    if (strlen(value) >= sizeof(buf))
        return -1;
    strcpy(buf, value);
    if (strcmp(buf, "none") == 0) {
        c->nprojections = 0;
        return 0;
    }
    for (char *save, *t = strtok_r(buf, " ,", &save); t;
         t = strtok_r(NULL, " ,", &save)) {
        const crm_proj_def *d = crm_proj_builtin(t);
        if (d == NULL || n == CRM_PROJ_MAX)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (named[i] == d)
                return -1;
        named[n++] = d;
    }
    if (n == 0)
        return -1;
    size_t out = 0;
    const crm_proj_def *d;
    for (size_t b = 0; (d = crm_proj_builtin_at(b)) != NULL; b++)
        for (size_t i = 0; i < n; i++)
            if (named[i] == d)
                c->projections[out++] = d;
    c->nprojections = n;
    return 0;
}

typedef struct parse_ctx {
    crm_config *c;
    int listen_reset; /* first listen line of the file replaces defaults */
    crm_error *why;
    int bad; /* the first bad line is the one reported */
} parse_ctx;

static int
on_ini(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx *p = user;
    crm_config *c = p->c;
    char *end;

#define IS(s, n) (strcmp(section, s) == 0 && strcmp(name, n) == 0)
    if (IS("server", "log_level")) {
        if (crm_slog_parse_level(value, &c->log_level) != 0)
            goto bad;
        return 1;
    }
    if (IS("server", "data_dir"))
        return set_str(&c->data_dir, value) == 0;
    if (IS("server", "listen")) {
        if (!p->listen_reset) {
            for (size_t i = 0; i < c->nlisten; i++)
                free(c->listen[i]);
            c->nlisten = 0;
            p->listen_reset = 1;
        }
        if (c->nlisten == CRM_MAX_LISTEN)
            goto bad;
        return (c->listen[c->nlisten++] = strdup(value)) != NULL;
    }
    if (IS("server", "http")) {
        if (strcmp(value, "off") == 0) {
            free(c->http);
            c->http = NULL;
            return 1;
        }
        return set_str(&c->http, value) == 0;
    }
    if (IS("server", "ready_file"))
        return set_str(&c->ready_file, value) == 0;
    if (IS("server", "backup_dir"))
        return set_str(&c->backup_dir, value) == 0;
    if (IS("server", "contexts")) {
        long v = strtol(value, &end, 10);
        if (*end || v < 1 || v > 4096)
            goto bad;
        c->contexts = (int)v;
        return 1;
    }
    if (IS("tls", "cert"))
        return set_str(&c->tls_cert, value) == 0;
    if (IS("tls", "key"))
        return set_str(&c->tls_key, value) == 0;
    if (IS("auth", "operator_key_file"))
        return set_str(&c->operator_key_file, value) == 0;
    if (IS("storage", "map_size_mb")) {
        long v = strtol(value, &end, 10);
        if (*end || v < 1 || v > (1L << 20))
            goto bad;
        c->map_size_mb = (size_t)v;
        return 1;
    }
    if (IS("storage", "group_wait_us")) {
        long v = strtol(value, &end, 10);
        if (*end || v < 1 || v > CRM_LOG_GROUP_WAIT_MAX)
            goto bad;
        c->group_wait_us = (unsigned)v;
        return 1;
    }
    if (IS("server", "drain_timeout_ms")) {
        long v = strtol(value, &end, 10);
        if (*end || v < 1 || v > 3600000)
            goto bad;
        c->drain_timeout_ms = (unsigned)v;
        return 1;
    }
    if (IS("audit", "checkpoint_every_s")) {
        long v = strtol(value, &end, 10);
        if (*end || v < 0 || v > 86400)
            goto bad;
        c->checkpoint_every_s = (unsigned)v;
        return 1;
    }
    if (IS("audit", "access_log")) {
        if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
            goto bad;
        c->access_off = strcmp(value, "off") == 0;
        return 1;
    }
    if (IS("audit", "access_retention_days")) {
        long v = strtol(value, &end, 10);
        if (*end || v < 0 || v > 36500)
            goto bad;
        c->access_retention_days = (unsigned)v;
        return 1;
    }
    if (IS("keys", "master_key"))
        return set_str(&c->master_key_file, value) == 0;
    if (IS("keys", "encryption")) {
        if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
            goto bad;
        c->no_encryption = strcmp(value, "off") == 0;
        return 1;
    }
    if (IS("projections", "enable")) {
        if (parse_projections(c, value) != 0)
            goto bad;
        return 1;
    }
#undef IS
bad:
    if (!p->bad++)
        crm_error_set(p->why, CRM_ERR_BAD_REQUEST, "[%s] %s = %s is not valid",
                      section, name, value);
    return 0;
}

static crm_err
parse_file(crm_config *c, const char *file, crm_error *why)
{
    parse_ctx p = {c, 0, why, 0};
    struct stat st;
    if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "config file %s is not a readable file", file);
    crm_error_set(why, CRM_OK, NULL);
    int rc = ini_parse(file, on_ini, &p);
    if (rc < 0)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "cannot read config file %s", file);
    if (rc > 0) {
        if (why && why->code != CRM_OK)
            crm_error_prefix(why, "%s:%d", file, rc);
        else
            crm_error_set(why, CRM_ERR_BAD_REQUEST, "%s:%d: cannot parse", file,
                          rc);
        return CRM_ERR_BAD_REQUEST;
    }
    return CRM_OK;
}

static crm_err
set_defaults(crm_config *c, crm_error *why)
{
    memset(c, 0, sizeof(*c));
    c->contexts = 128;
    c->log_level = CRM_INFO;
    c->map_size_mb = 64;
    c->group_wait_us = CRM_LOG_GROUP_WAIT_US;
    c->checkpoint_every_s = 60;
    c->drain_timeout_ms = 10000;
    c->access_retention_days = 365;
    static const char *const defaults[] = {"settings", "loyalty", "find",
                                           "customer", "kpi", "segment",
                                           "tasks"};
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        c->projections[c->nprojections++] = crm_proj_builtin(defaults[i]);
    if (set_str(&c->data_dir, "./data") ||
        set_str(&c->backup_dir, "./backups") ||
        set_str(&c->http, "http://127.0.0.1:7401") ||
        (c->listen[0] = strdup("tcp://127.0.0.1:7400")) == NULL)
        return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    c->nlisten = 1;
    return CRM_OK;
}

crm_err
crm_config_load(crm_config *c, int argc, char **argv, crm_error *why)
{
    enum {
        O_HTTP = 256,
        O_CERT,
        O_KEY,
        O_OPKEY,
        O_READY,
        O_CTX,
        O_MAP,
        O_GROUP,
        O_PROJ,
        O_LEVEL,
        O_PIN,
        O_MKEY,
        O_MAKE_MKEY,
        O_NOENC,
        O_CKPT,
        O_DRAIN,
        O_BACKUP,
        O_RESTORE,
        O_IMPORT,
        O_KEYS_PASS,
        O_ACCESS,
        O_ACCESS_DAYS
    };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"http", required_argument, NULL, O_HTTP},
        {"tls-cert", required_argument, NULL, O_CERT},
        {"tls-key", required_argument, NULL, O_KEY},
        {"operator-key-file", required_argument, NULL, O_OPKEY},
        {"ready-file", required_argument, NULL, O_READY},
        {"contexts", required_argument, NULL, O_CTX},
        {"map-size-mb", required_argument, NULL, O_MAP},
        {"group-wait-us", required_argument, NULL, O_GROUP},
        {"projections", required_argument, NULL, O_PROJ},
        {"log-level", required_argument, NULL, O_LEVEL},
        {"pin-clock", required_argument, NULL, O_PIN},
        {"master-key", required_argument, NULL, O_MKEY},
        {"make-master-key", required_argument, NULL, O_MAKE_MKEY},
        {"no-encryption", no_argument, NULL, O_NOENC},
        {"checkpoint-every", required_argument, NULL, O_CKPT},
        {"drain-timeout-ms", required_argument, NULL, O_DRAIN},
        {"backup-dir", required_argument, NULL, O_BACKUP},
        {"restore", required_argument, NULL, O_RESTORE},
        {"import", required_argument, NULL, O_IMPORT},
        {"keys-passphrase-file", required_argument, NULL, O_KEYS_PASS},
        {"access-log", required_argument, NULL, O_ACCESS},
        {"access-retention-days", required_argument, NULL, O_ACCESS_DAYS},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    crm_err err;
    int ch;

    if ((err = set_defaults(c, why)) != CRM_OK)
        return err;

    /* First pass: only --config, so flags override the file. glibc resets
     * its parser fully only for optind = 0 (a previous call may have
     * stopped inside a group of short options). */
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "c:d:l:hV", opts, NULL)) != -1) {
        if (ch == 'c' && set_str(&c->file, optarg) != 0)
            return crm_error_set(why, CRM_ERR_NOMEM, NULL);
        if (ch == 'h') {
            fputs(usage, stdout);
            return CRM_ERR_CLOSED;
        }
        if (ch == 'V') {
            printf("crmd %s (protocol 1)\n", CRM_VERSION);
            return CRM_ERR_CLOSED;
        }
        if (ch == O_MAKE_MKEY) {
            if ((err = crm_master_key_make(optarg, why)) != CRM_OK)
                return err;
            printf("master key written to %s (mode 0600); keep a copy "
                   "outside this machine: without it no sealed tenant "
                   "opens\n",
                   optarg);
            return CRM_ERR_CLOSED;
        }
    }
    if (c->file && (err = parse_file(c, c->file, why)) != CRM_OK)
        return err;

    int listen_reset = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "c:d:l:hV", opts, NULL)) != -1) {
        char *end;
        long v;
        switch (ch) {
        case 'c':
            break;
        case 'd':
            set_str(&c->data_dir, optarg);
            break;
        case 'l':
            if (!listen_reset) {
                for (size_t i = 0; i < c->nlisten; i++)
                    free(c->listen[i]);
                c->nlisten = 0;
                listen_reset = 1;
            }
            if (c->nlisten == CRM_MAX_LISTEN)
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "at most %d --listen", CRM_MAX_LISTEN);
            c->listen[c->nlisten++] = strdup(optarg);
            break;
        case O_HTTP:
            if (strcmp(optarg, "off") == 0) {
                free(c->http);
                c->http = NULL;
            } else {
                set_str(&c->http, optarg);
            }
            break;
        case O_CERT:
            set_str(&c->tls_cert, optarg);
            break;
        case O_KEY:
            set_str(&c->tls_key, optarg);
            break;
        case O_OPKEY:
            set_str(&c->operator_key_file, optarg);
            break;
        case O_BACKUP:
            if (set_str(&c->backup_dir, optarg) != 0)
                return crm_error_set(why, CRM_ERR_NOMEM, NULL);
            break;
        case O_RESTORE:
            if (set_str(&c->restore_from, optarg) != 0)
                return crm_error_set(why, CRM_ERR_NOMEM, NULL);
            break;
        case O_IMPORT:
            if (set_str(&c->import_from, optarg) != 0)
                return crm_error_set(why, CRM_ERR_NOMEM, NULL);
            break;
        case O_KEYS_PASS:
            if (set_str(&c->keys_passphrase_file, optarg) != 0)
                return crm_error_set(why, CRM_ERR_NOMEM, NULL);
            break;
        case O_READY:
            set_str(&c->ready_file, optarg);
            break;
        case O_CTX:
            v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 4096)
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "--contexts must be 1..4096");
            c->contexts = (int)v;
            break;
        case O_MAP:
            v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > (1L << 20))
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "--map-size-mb must be 1..1048576");
            c->map_size_mb = (size_t)v;
            break;
        case O_GROUP:
            v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > CRM_LOG_GROUP_WAIT_MAX)
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "--group-wait-us must be 1..1000000");
            c->group_wait_us = (unsigned)v;
            break;
        case O_DRAIN:
            v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 3600000)
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "--drain-timeout-ms must be 1..3600000");
            c->drain_timeout_ms = (unsigned)v;
            break;
        case O_CKPT:
            v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 86400)
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "--checkpoint-every must be 0..86400 "
                                     "seconds");
            c->checkpoint_every_s = (unsigned)v;
            break;
        case O_ACCESS:
            if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0)
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "--access-log must be on or off");
            c->access_off = strcmp(optarg, "off") == 0;
            break;
        case O_ACCESS_DAYS:
            v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 36500)
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "--access-retention-days must be "
                                     "0..36500");
            c->access_retention_days = (unsigned)v;
            break;
        case O_PROJ:
            if (parse_projections(c, optarg) != 0)
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "--projections must name projections "
                                     "this build has (see --help) once "
                                     "each, or none");
            break;
        case O_LEVEL:
            if (crm_slog_parse_level(optarg, &c->log_level) != 0)
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "--log-level must be debug, info, warn "
                                     "or error");
            c->from_flags |= CRM_CFG_LOG_LEVEL;
            break;
        case O_MKEY:
            set_str(&c->master_key_file, optarg);
            break;
        case O_NOENC:
            c->no_encryption = 1;
            break;
        case O_MAKE_MKEY:
            break;
        case O_PIN:
#ifdef CRM_TEST_CLOCK
            if (crm_clock_parse(optarg, &c->pin_clock_us) != 0 ||
                c->pin_clock_us <= 0)
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "--pin-clock must be a UTC time "
                                     "YYYY-MM-DDTHH:MM:SSZ after 1970");
#else
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "--pin-clock is for tests only: this crmd "
                                 "was built without CRM_TEST_CLOCK=ON");
#endif
            break;
        default:
            if (strncmp(argv[optind - 1], "--", 2) == 0)
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "unknown or incomplete option '%s' (see "
                                     "--help)",
                                     argv[optind - 1]);
            if (optopt && optopt < 256)
                return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                     "unknown or incomplete option '-%c' "
                                     "(see --help)",
                                     optopt);
            return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                                 "unknown or incomplete option '%s' (see "
                                 "--help)",
                                 argv[optind - 1]);
        }
    }
    if (optind < argc)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "unexpected argument '%s'", argv[optind]);
    if (c->keys_passphrase_file && c->import_from == NULL)
        return crm_error_set(why, CRM_ERR_BAD_REQUEST,
                             "--keys-passphrase-file goes with --import");
    if (c->operator_key_file == NULL) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/operator.key", c->data_dir);
        set_str(&c->operator_key_file, p);
    }
    for (size_t i = 0; i < c->nlisten; i++)
        if (c->listen[i] == NULL)
            return crm_error_set(why, CRM_ERR_NOMEM, NULL);
    return CRM_OK;
}

crm_err
crm_config_reload(crm_config *c, crm_error *why)
{
    if (c->file == NULL)
        return CRM_OK;
    /* The file alone, over the defaults, checked like at start-up; c is
     * touched only when all of it is good. */
    crm_config file;
    crm_err err = set_defaults(&file, why);
    if (err == CRM_OK)
        err = parse_file(&file, c->file, why);
    if (err == CRM_OK && !(c->from_flags & CRM_CFG_LOG_LEVEL))
        c->log_level = file.log_level;
    crm_config_free(&file);
    return err;
}

void
crm_config_free(crm_config *c)
{
    free(c->file);
    free(c->data_dir);
    for (size_t i = 0; i < c->nlisten; i++)
        free(c->listen[i]);
    free(c->http);
    free(c->ready_file);
    free(c->backup_dir);
    free(c->restore_from);
    free(c->import_from);
    free(c->keys_passphrase_file);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->operator_key_file);
    free(c->master_key_file);
    memset(c, 0, sizeof(*c));
}
