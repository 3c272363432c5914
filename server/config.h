/*
 * config.h - crmd configuration: an INI file (deploy/crmd.conf.example)
 * overridden by command-line flags.
 */
#ifndef CRM_CONFIG_H
#define CRM_CONFIG_H

#include <stddef.h>

#include "err.h"
#include "proj.h"
#include "slog.h"

#define CRM_MAX_LISTEN 8

/* Bits of crm_config.from_flags: settings given on the command line,
 * which a reload of the file leaves as they are (flags win). */
#define CRM_CFG_LOG_LEVEL 0x1u

typedef struct crm_config {
    char *file;                   /* --config; NULL if none */
    char *data_dir;               /* [server] data_dir */
    char *listen[CRM_MAX_LISTEN]; /* [server] listen (repeatable) */
    size_t nlisten;
    char *http;              /* [server] http, NULL when "off" */
    char *ready_file;        /* [server] ready_file */
    char *backup_dir;        /* [server] backup_dir: where `backup` writes */
    char *restore_from;      /* --restore BACKUP: restore, then exit */
    char *import_from;       /* --import FILE: import, then exit */
    char *keys_passphrase_file; /* --keys-passphrase-file: the export's keys */
    int contexts;            /* [server] contexts: requests in flight */
    unsigned drain_timeout_ms; /* [server] drain_timeout_ms: how long a
                                  SIGTERM waits for requests in flight */
    crm_level log_level;     /* [server] log_level */
    char *tls_cert;          /* [tls] cert (PEM) */
    char *tls_key;           /* [tls] key (PEM) */
    char *operator_key_file; /* [auth] operator_key_file */
    size_t map_size_mb;      /* [storage] map_size_mb: initial per tenant */
    unsigned group_wait_us;  /* [storage] group_wait_us: group commit */
    unsigned checkpoint_every_s; /* [audit] checkpoint_every_s: signed
                                    checkpoints of each tenant's head */
    int access_off;          /* [audit] access_log = off: no access log */
    unsigned access_retention_days; /* [audit] access_retention_days:
                                       0 keeps entries forever */
    /* [projections] enable: the views kept inline (default: settings) */
    const crm_proj_def *projections[CRM_PROJ_MAX];
    size_t nprojections;
    char *master_key_file;   /* [keys] master_key: seals personal data */
    int no_encryption;       /* [keys] encryption = off: new tenants keep
                                personal data unsealed (benchmarks) */
    unsigned from_flags;     /* CRM_CFG_* set by flags */
    int64_t pin_clock_us;    /* --pin-clock (CRM_TEST_CLOCK builds); 0 none */
} crm_config;

/* Fills c from defaults, then the file named by --config, then the other
 * flags. Returns CRM_ERR_BAD_REQUEST with why naming the bad line or flag.
 * --help, --version and --make-master-key (which writes a new master key
 * file) print and return CRM_ERR_CLOSED. */
crm_err crm_config_load(crm_config *c, int argc, char **argv, crm_error *why);

/* SIGHUP: re-reads c->file. The whole file is checked as at start-up
 * (every key and value); only what can change without a restart is then
 * applied: log_level, unless --log-level was given (flags win). Other
 * settings in the file are ignored until a restart. Returns
 * CRM_ERR_BAD_REQUEST with why naming the file and line, and leaves c as
 * it was, if the file is unreadable or does not parse. Without a file,
 * CRM_OK and nothing changes. */
crm_err crm_config_reload(crm_config *c, crm_error *why);

void crm_config_free(crm_config *c);

#endif
