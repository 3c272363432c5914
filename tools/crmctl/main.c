/*
 * crmctl - command-line client for crmd: tenants and API keys, appending
 * events from JSON, reading streams and the log, following it.
 *
 * The table of commands below is the one description of the command line:
 * dispatch and option parsing (here) and every --help text (help.c) are
 * generated from it; the roles and summaries of the server ops come from
 * proto/ops.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ops.h"
#include "rpc.h"

#ifndef CRM_VERSION
#define CRM_VERSION "dev"
#endif

static int run_help(ctl *c, const ctl_args *a);

/* The tables are laid out by hand, one row per option or command. */
/* clang-format off */
const ctl_opt ctl_global_opts[] = {
    {.name = "url", .arg = "URL",
     .doc = "server address: tcp://, tls+tcp:// or ipc:// (default $CRM_URL, "
            "else " CTL_DEFAULT_URL ")"},
    {.name = "key", .arg = "KEY", .doc = "API key (default $CRM_KEY)"},
    {.name = "key-file", .arg = "FILE",
     .doc = "read the API key from the first line of FILE (e.g. the "
            "operator key file crmd wrote)"},
    {.name = "tenant", .arg = "ID",
     .doc = "tenant to name in each request (optional: a key knows its "
            "tenant); also the default --tenant of key commands"},
    {.name = "ca", .arg = "FILE",
     .doc = "CA certificate (PEM) the server's certificate must be signed "
            "by; tls+tcp:// needs one or --insecure (default $CRM_CA)"},
    {.name = "server-name", .arg = "NAME",
     .doc = "name the server's certificate must carry (tls+tcp://; default "
            "the URL's host)"},
    {.name = "insecure",
     .doc = "tls+tcp:// without verifying the server's certificate: "
            "encrypted, but anyone in the path can pose as the server "
            "(default: on if $CRM_INSECURE is 1 and no CA is given)"},
    {.name = "timeout", .arg = "MS",
     .doc = "per-request timeout (default 10000)"},
    {.name = "json", .doc = "print results as JSON (for scripts)"},
    {.name = "version", .doc = "print crmctl's version"},
    {.name = "help", .short_name = 'h', .doc = "show this help"},
    {0},
};

const ctl_cmd ctl_commands[] = {
    {.name = "ping", .op = CRM_OP_PING, .run = ctl_cmd_ping,
     .summary = "check that the server answers (needs no key)"},
    {.name = "info", .op = CRM_OP_SERVER_INFO, .run = ctl_cmd_info,
     .summary = "server version, node, limits; the key's tenant and role"},
    {.name = "tenant create", .synopsis = "ID", .min_pos = 1, .max_pos = 1,
     .op = CRM_OP_TENANT_CREATE, .run = ctl_cmd_tenant_create,
     .summary = "create a tenant (operator key)",
     .details = "ID is 1 to 40 characters of a-z, 0-9 and '-'."},
    {.name = "tenant list", .op = CRM_OP_TENANT_LIST,
     .run = ctl_cmd_tenant_list,
     .summary = "list tenants: id, creation time, log position"},
    {.name = "key create", .op = CRM_OP_KEY_CREATE, .run = ctl_cmd_key_create,
     .opts = (const ctl_opt[]){
         {.name = "role", .arg = "ROLE",
          .doc = "role of the new key (required)"},
         {.name = "tenant", .arg = "T",
          .doc = "tenant of the key (operators; an admin's keys are of its "
                 "own tenant)"},
         {.name = "label", .arg = "L", .doc = "a note to recognise the key by"},
         {.name = "grant", .arg = "G",
          .doc = "personal_data: an auditor key that reads personal data "
                 "(admins only)"},
         {0}},
     .summary = "create an API key; its secret is printed once",
     .details = "The key is printed once and never again: the server keeps "
                "only its hash.\nWith --json it is the \"key\" member of the "
                "result. An auditor key sees no\npersonal data unless an "
                "admin creates it with --grant personal_data."},
    {.name = "key revoke", .synopsis = "KEY_ID", .min_pos = 1, .max_pos = 1,
     .op = CRM_OP_KEY_REVOKE, .run = ctl_cmd_key_revoke,
     .summary = "revoke an API key by its id",
     .details = "KEY_ID is the 16 hex digits after \"crmk_\" in the key, as "
                "'key create' and\n'key list' print it. An admin key revokes "
                "keys of its own tenant; the operator\nkey revokes any key."},
    {.name = "key list", .op = CRM_OP_KEY_LIST, .run = ctl_cmd_key_list,
     .opts = (const ctl_opt[]){
         {.name = "tenant", .arg = "T",
          .doc = "only this tenant's keys (operators; default: all)"},
         {0}},
     .summary = "list API keys (never their secrets)"},
    {.name = "append", .synopsis = "(EVENT_JSON | -f FILE.jsonl | -)",
     .min_pos = 0, .max_pos = 1, .op = CRM_OP_APPEND, .run = ctl_cmd_append,
     .opts = (const ctl_opt[]){
         {.name = "file", .short_name = 'f', .arg = "FILE",
          .doc = "append the events of a JSONL file, one per line"},
         {.name = "expect", .arg = "STREAM=VERSION", .flags = CTL_OPT_REPEAT,
          .doc = "fail with conflict unless STREAM is at VERSION: a number, "
                 "any, no_stream or exists (repeatable)"},
         {0}},
     .summary = "append events given as JSON",
     .details =
         "An event is a JSON object:\n"
         "  {\"stream\": \"guest-42\", \"type\": \"loyalty.points_earned\",\n"
         "   \"body\": {\"points\": 120},\n"
         "   \"id\": \"<UUID>\", \"occurred_at\": \"2026-11-25T10:00:00Z\"}\n"
         "id is optional (a fresh UUIDv7; give ids to make a re-run "
         "idempotent);\noccurred_at is optional (now), in microseconds or "
         "ISO-8601 UTC.\n\n"
         "EVENT_JSON is one event or an array of events, appended "
         "atomically in one\nrequest. A JSONL file (or - for stdin) is sent in "
         "batches of up to 500 events;\neach batch is atomic, and --expect "
         "applies to the first. If a batch fails,\nthe batches before it "
         "stay appended and crmctl says which.\n\n"
         "Prints the positions written and, per stream written to, the "
         "version of its\nlast new event: the VERSION of the next --expect "
         "STREAM=VERSION. With --json:\n{count, batches, positions, "
         "versions, duplicates, head}, one position and\nversion per "
         "event."},
    {.name = "read", .synopsis = "STREAM", .min_pos = 1, .max_pos = 1,
     .op = CRM_OP_READ_STREAM, .run = ctl_cmd_read,
     .opts = (const ctl_opt[]){
         {.name = "from-version", .arg = "N",
          .doc = "first version to read (default 0)"},
         {.name = "max", .arg = "N", .doc = "at most N events (default all)"},
         {0}},
     .summary = "read one customer's events, oldest first",
     .details = "Prints POSITION VERSION TYPE OCCURRED_AT and a summary of "
                "the body per event,\npersonal fields included for the roles "
                "that may see them; for an auditor key\nthe server leaves "
                "them out and the summary ends in pii:redacted (--json\n"
                "shows what the server returned)."},
    {.name = "tail", .op = CRM_OP_READ_ALL, .run = ctl_cmd_tail,
     .opts = (const ctl_opt[]){
         {.name = "from", .arg = "POS", .doc = "start at log position POS"},
         {.name = "last", .short_name = 'n', .arg = "N",
          .doc = "without --from: start with the last N events (default 10)"},
         {.name = "max", .arg = "N", .doc = "stop after N events"},
         {.name = "follow", .short_name = 'f',
          .doc = "keep waiting for new events (long-poll) until interrupted"},
         {0}},
     .summary = "read the tenant's log; -f follows it",
     .details = "Without -f, reads up to the head of the log; -f follows it "
                "until interrupted\n(Ctrl-C). Rows are those of 'crmctl "
                "read', with the STREAM. With --json,\nprints one document; "
                "with -f and --json, one event object per line."},
    {.name = "metrics", .op = CRM_OP_METRICS, .run = ctl_cmd_metrics,
     .summary = "server and tenant counters"},
    {.name = "settings get", .op = CRM_OP_SETTINGS_GET,
     .run = ctl_cmd_settings_get,
     .opts = (const ctl_opt[]){
         {.name = "on", .arg = "DATE",
          .doc = "the rules in force on DATE, YYYY-MM-DD (default today, "
                 "UTC)"},
         {.name = "as-of", .arg = "POS",
          .doc = "as the log stood at position POS (default its head)"},
         {0}},
     .summary = "the tenant's settings: currency, rates, loyalty rules, "
                "thresholds",
     .details = "Settings are events in the stream $tenant, each from a day "
                "on, so any moment\nof the past can be asked for: --on picks "
                "the day, --as-of what the log held\nthen (a change made "
                "later for an earlier day shows only from its position)."},
    {.name = "settings set", .op = CRM_OP_SETTINGS_SET,
     .run = ctl_cmd_settings_set,
     .opts = (const ctl_opt[]){
         {.name = "from", .arg = "DATE",
          .doc = "first day the change applies, YYYY-MM-DD (required)"},
         {.name = "base-currency", .arg = "CUR",
          .doc = "currency of KPIs, value and earn rates (ISO 4217)"},
         {.name = "country-code", .arg = "DIGITS",
          .doc = "calling code for phone numbers without one (\"351\")"},
         {.name = "complaint-sla-hours", .arg = "N",
          .doc = "hours a complaint may stay open"},
         {.name = "dormant-days", .arg = "N",
          .doc = "days without a stay or booking before a guest is dormant"},
         {.name = "points-expiry-months", .arg = "N",
          .doc = "points lapse N months after they were earned (0 never)"},
         {.name = "tier-window-months", .arg = "N",
          .doc = "rolling window that qualifies a tier"},
         {.name = "booking-confirm-hours", .arg = "N",
          .doc = "an online booking unconfirmed this long needs a call"},
         {.name = "rate", .arg = "CUR=RATE", .flags = CTL_OPT_REPEAT,
          .doc = "value of one CUR in the base currency, e.g. USD=0.9215 "
                 "(repeatable)"},
         {.name = "tier", .arg = "NAME:RANK[:OPTS]", .flags = CTL_OPT_REPEAT,
          .doc = "a loyalty tier; OPTS: nights=N,points=N,bonus=N,retired "
                 "(repeatable)"},
         {.name = "earn", .arg = "TIER/CAT=POINTS", .flags = CTL_OPT_REPEAT,
          .doc = "points per base-currency unit; any for tier or category "
                 "(repeatable)"},
         {.name = "reason", .arg = "TEXT", .doc = "why, for the record"},
         {.name = "file", .short_name = 'f', .arg = "FILE",
          .doc = "the change as a JSON object of settings.set's args; the "
                 "options above go on top"},
         {.name = "id", .arg = "UUID",
          .doc = "the change's id: the same id again is answered as the "
                 "first (default a new one, printed)"},
         {0}},
     .summary = "change tenant settings from a day on (admin)",
     .details = "Appends the change to $tenant as one atomic batch; what it "
                "leaves out stays as\nit was. Example:\n"
                "  crmctl settings set --from 2027-01-01 --dormant-days 120 "
                "--rate USD=0.92 \\\n"
                "      --tier platinum:3:nights=50,bonus=2500 --earn gold/spa=15"
                "\nThe earn rule naming tier and category wins over one naming "
                "either, which\nwins over any/any."},
    {.name = "admin rotate-tenant-key", .op = CRM_OP_TENANT_ROTATE_KEY,
     .run = ctl_cmd_admin_rotate_key,
     .opts = (const ctl_opt[]){{0}},
     .summary = "a new tenant key; every guest key rewrapped (admin)",
     .details = "Writes a new tenant key, rewraps every guest's key and the "
                "index key under it\nin one transaction (appends wait; the "
                "log is not rewritten) and overwrites the\nold key in place, "
                "so stale copies of guest keys in free pages cannot be "
                "opened.\nPrints the new epoch and how many keys were "
                "rewrapped."},
    {.name = "admin backup", .synopsis = "NAME", .min_pos = 1, .max_pos = 1,
     .op = CRM_OP_BACKUP, .run = ctl_cmd_admin_backup,
     .opts = (const ctl_opt[]){{0}},
     .summary = "a hot backup under crmd's --backup-dir (operator, admin)",
     .details = "Writes BACKUP_DIR/NAME laid out as a data directory: with "
                "the operator key every\ntenant and the registry, with an "
                "admin key that tenant alone. Each tenant is a\ncompacted "
                "copy of one consistent state (free pages left out) and its "
                "tenant.key,\ntaken while appends go on, ending with a "
                "signed checkpoint of its head. Prints\nthe head each copy "
                "holds. To restore, stop crmd and copy it back (README.md)."},
    {.name = "admin rebuild", .op = CRM_OP_PROJECTION_REBUILD,
     .run = ctl_cmd_admin_rebuild,
     .opts = (const ctl_opt[]){
         {.name = "projection", .arg = "NAME",
          .doc = "only this projection (default every enabled one)"},
         {0}},
     .summary = "rebuild projections from the log while serving (admin)",
     .details = "Replays the tenant's log into a fresh copy of each "
                "projection while crmd keeps\nserving, compares it with the "
                "state kept inline key by key, and swaps it in.\nPrints events, "
                "seconds and rate per projection; exits 1 and names the "
                "first\ndifference if a rebuilt projection is not identical."},
    {.name = "customer get", .synopsis = "CUSTOMER", .min_pos = 1,
     .max_pos = 1, .op = CRM_OP_CUSTOMER_GET, .run = ctl_cmd_customer_get,
     .opts = (const ctl_opt[]){
         {.name = "on", .arg = "DATE",
          .doc = "as of DATE, YYYY-MM-DD (default today): ages, no-shows, "
                 "churn"},
         {.name = "touchpoints", .arg = "N",
          .doc = "the N latest touchpoints (default 20, at most 200)"},
         {0}},
     .summary = "a guest's 360 view: profile, consents, figures, churn risk",
     .details = "Prints the profile, consents per channel and purpose, "
                "preferences, lifetime\nfigures (spend in the base currency "
                "at each day's rate), satisfaction, open\ncomplaints with "
                "their age, the loyalty summary, the churn risk 0-100 with "
                "the\nrules that scored it, and the latest touchpoints."},
    {.name = "customer erase", .synopsis = "CUSTOMER", .min_pos = 1,
     .max_pos = 1, .op = CRM_OP_CUSTOMER_ERASE, .run = ctl_cmd_customer_erase,
     .opts = (const ctl_opt[]){
         {.name = "wait", .doc = "return once the erasure is complete"},
         {.name = "reason", .arg = "WHY",
          .doc = "gdpr, ccpa, request (default) or retention"},
         {.name = "ref", .arg = "REF",
          .doc = "the data-protection request's reference"},
         {0}},
     .summary = "erase a guest's personal data for good (admin)",
     .details = "Appends customer.erased to the guest and every guest merged "
                "into it, destroys\ntheir keys and removes them from every "
                "index and view; an erasure round then\nreplaces the keys "
                "that could open stale copies (the tenant key, the index\n"
                "key). With --wait it returns once that round is done: "
                "nothing under the data\ndirectory, nor any backup or export "
                "taken afterwards, gives the person back.\nPrints the "
                "receipt (see customer erasure-receipt)."},
    {.name = "customer erasure-receipt", .synopsis = "CUSTOMER",
     .min_pos = 1, .max_pos = 1, .op = CRM_OP_CUSTOMER_ERASURE_RECEIPT,
     .run = ctl_cmd_customer_erasure_receipt,
     .opts = (const ctl_opt[]){{0}},
     .summary = "the receipt of a guest's erasure (admin, auditor)",
     .details = "Tenant, subject, the log position of customer.erased, when "
                "it was asked and\ncompleted, the key epoch that completed "
                "it, the streams it covered and what\nwas removed: for the "
                "guest, from the erasure ledger (no personal data)."},
    {.name = "customer find", .op = CRM_OP_CUSTOMER_FIND,
     .run = ctl_cmd_customer_find,
     .opts = (const ctl_opt[]){
         {.name = "email", .arg = "ADDRESS", .doc = "by e-mail"},
         {.name = "phone", .arg = "NUMBER",
          .doc = "by phone, national or international, any punctuation"},
         {.name = "loyalty", .arg = "NUMBER", .doc = "by loyalty number"},
         {.name = "name", .arg = "NAME",
          .doc = "by name: every word must match a first or last name"},
         {.name = "birth-date", .arg = "DATE",
          .doc = "with --name: born on DATE, YYYY-MM-DD"},
         {.name = "limit", .arg = "N", .doc = "at most N guests (default 20)"},
         {0}},
     .summary = "find guests by e-mail, phone, loyalty number or name",
     .details = "Values are matched as the server indexed them: e-mail "
                "lower-cased, phone as\nE.164 (a national number takes the "
                "tenant's country_code), names folded by\ncase and accent. "
                "Prints each guest's id, tier and points; 'more' says there\n"
                "are further hits."},
    {.name = "customer consent-at", .synopsis = "CUSTOMER", .min_pos = 1,
     .max_pos = 1, .op = CRM_OP_CUSTOMER_CONSENT_AT,
     .run = ctl_cmd_customer_consent_at,
     .opts = (const ctl_opt[]){
         {.name = "channel", .arg = "CHANNEL",
          .doc = "email, sms, phone, post, push or whatsapp (required)"},
         {.name = "purpose", .arg = "PURPOSE",
          .doc = "marketing, profiling, service or third_party (default "
                 "marketing)"},
         {.name = "at", .arg = "TIME",
          .doc = "the moment, YYYY-MM-DDTHH:MM:SS[.ffffff]Z (default now)"},
         {0}},
     .summary = "whether a guest had consented to a channel and purpose at "
                "a moment",
     .details = "Answers from the guest's events: the consent change of the "
                "channel and purpose\nwith the latest time at or before "
                "TIME is in force (the later one of equal\ntimes). A guest "
                "who never gave one has not consented. Prints when it was\n"
                "given or withdrawn, its log position and its source."},
    {.name = "audit pubkey", .op = CRM_OP_AUDIT_PUBKEY,
     .run = ctl_cmd_audit_pubkey, .opts = (const ctl_opt[]){{0}},
     .summary = "the tenant's public key that signs its checkpoints (PEM)",
     .details = "Prints the tenant's Ed25519 public key as PEM: give it to "
                "crm-audit verify\n--pubkey, which then trusts no key found "
                "in the data it checks."},
    {.name = "audit checkpoint", .op = CRM_OP_AUDIT_CHECKPOINT,
     .run = ctl_cmd_audit_checkpoint, .opts = (const ctl_opt[]){{0}},
     .summary = "sign a checkpoint of the log's head now (admin, auditor)",
     .details = "The server signs {tenant, position, head hash, time} with "
                "the tenant's key and\nkeeps it (it also signs one on its "
                "own, --checkpoint-every). Prints it."},
    {.name = "audit checkpoints", .op = CRM_OP_AUDIT_SIGNATURES,
     .run = ctl_cmd_audit_checkpoints,
     .opts = (const ctl_opt[]){
         {.name = "from", .arg = "POSITION",
          .doc = "those at this position or later (default all)"},
         {.name = "limit", .arg = "N", .doc = "at most N (default 100)"},
         {0}},
     .summary = "the signed checkpoints kept, oldest first",
     .details = "Position, head hash, time and signature of each; 'next' "
                "is where --from goes\nfor the following ones."},
    {.name = "audit export", .op = CRM_OP_AUDIT_EXPORT,
     .run = ctl_cmd_audit_export,
     .opts = (const ctl_opt[]){
         {.name = "from", .arg = "POSITION", .doc = "first position (1)"},
         {.name = "to", .arg = "POSITION",
          .doc = "last position (the head; an export ends at the newest "
                 "signed checkpoint at or before it)"},
         {.name = "out", .arg = "FILE",
          .doc = "write to FILE, which must not exist (default stdout)"},
         {.name = "keys-passphrase-file", .arg = "FILE",
          .doc = "add the guests' keys, sealed under the passphrase in "
                 "FILE (mode 0600; admin key)"},
         {0}},
     .summary = "the tenant's log as stored, for crm-audit verify --export",
     .details = "Writes the export file (PROTOCOL.md, audit.export): a "
                "header, every record of\nthe range as stored (personal "
                "fields stay sealed) and a trailer with the\nsigned "
                "checkpoint it ends at. crm-audit verify --export FILE "
                "checks it offline.\nWith --keys-passphrase-file, the "
                "guests' keys follow, sealed under a key\nscrypt derives "
                "from the passphrase, so that crmd --import "
                "--keys-passphrase-file\nopens the personal fields; the "
                "passphrase never leaves this machine.\nProgress on stderr "
                "when it is a terminal."},
    {.name = "audit verify", .op = CRM_OP_AUDIT_VERIFY,
     .run = ctl_cmd_audit_verify,
     .opts = (const ctl_opt[]){
         {.name = "from", .arg = "POSITION", .doc = "first position (1)"},
         {.name = "to", .arg = "POSITION", .doc = "last position (the head)"},
         {0}},
     .summary = "the server checks a range of the chain against its "
                "checkpoints",
     .details = "Hashes the chain from the newest signed checkpoint before "
                "--from through --to\nand checks every checkpoint on the "
                "way (head and signature). Exits 0 when\nit holds, with the "
                "corrupt status and the first bad position when not. The\n"
                "offline check is crm-audit verify."},
    {.name = "audit access", .op = CRM_OP_AUDIT_ACCESS,
     .run = ctl_cmd_audit_access,
     .opts = (const ctl_opt[]){
         {.name = "customer", .arg = "ID", .doc = "one guest's entries"},
         {.name = "key", .arg = "KEY_ID", .doc = "one key's entries"},
         {.name = "from", .arg = "TIME", .doc = "at this time or later"},
         {.name = "to", .arg = "TIME", .doc = "at this time or earlier"},
         {.name = "limit", .arg = "N",
          .doc = "entries asked per page (default 1000)"},
         {0}},
     .summary = "who was handed a guest's personal data (admin, auditor)",
     .details = "Lists the access log, oldest first, every page: time, key "
                "id, role, op and\nguest of each call that handed out "
                "personal values of a guest. --customer\nanswers the guest's "
                "question: who looked at my data."},
    {.name = "audit consent-violations", .op = CRM_OP_AUDIT_CONSENT_VIOLATIONS,
     .run = ctl_cmd_audit_consent_violations,
     .opts = (const ctl_opt[]){
         {.name = "campaign", .arg = "NAME", .doc = "one campaign's sends"},
         {.name = "cursor", .arg = "POSITION",
          .doc = "from this log position on (default 1: the whole log)"},
         {.name = "limit", .arg = "N",
          .doc = "violations asked per page (default 100, at most 1000)"},
         {0}},
     .summary = "marketing messages sent to guests who had not consented "
                "(admin, auditor)",
     .details = "Lists every marketing.message_sent whose guest had not, at "
                "the time it was\nsent, consented to its channel for "
                "marketing: never given, or withdrawn\n(with when). Follows "
                "the pages to the end of the log and prints the position\n"
                "a later run can start from with --cursor."},
    {.name = "customer export", .synopsis = "CUSTOMER", .min_pos = 1,
     .max_pos = 1, .op = CRM_OP_CUSTOMER_EXPORT,
     .run = ctl_cmd_customer_export,
     .opts = (const ctl_opt[]){
         {.name = "page", .arg = "N",
          .doc = "events asked per reply (default 500, at most 1000)"},
         {0}},
     .summary = "everything kept about a guest, as one JSON document",
     .details = "The right of access: writes to stdout one JSON document "
                "with every event of the\nguest (personal fields decrypted, "
                "in the event's data), the 360 view, the\nloyalty account "
                "and ledger, and every consent given or withdrawn, all as "
                "of\none moment (as_of). It is written page by page as the "
                "server sends it, so a\nlong history never has to fit in "
                "memory; if a later page fails the document\nis left "
                "unclosed. An erased guest's export says erased: true and "
                "holds no\npersonal data. Example: crmctl customer export "
                "guest-42 > guest-42.json"},
    {.name = "loyalty get", .synopsis = "CUSTOMER", .min_pos = 1,
     .max_pos = 1, .op = CRM_OP_LOYALTY_GET, .run = ctl_cmd_loyalty_get,
     .opts = (const ctl_opt[]){
         {.name = "on", .arg = "DATE",
          .doc = "as the guest is told on DATE, YYYY-MM-DD (default today)"},
         {.name = "ledger", .arg = "N",
          .doc = "the N latest ledger lines (default 20, at most 500)"},
         {0}},
     .summary = "a guest's points, tier, progress, expiries and ledger",
     .details = "Prints the balance, what can be redeemed today (points "
                "past their expiry\nare not), the tier and what the next one "
                "still needs in the rolling window,\nthe points that expire "
                "by date, soonest first, and the latest ledger lines."},
    {.name = "loyalty redeem", .synopsis = "CUSTOMER POINTS", .min_pos = 2,
     .max_pos = 2, .op = CRM_OP_LOYALTY_REDEEM, .run = ctl_cmd_loyalty_redeem,
     .opts = (const ctl_opt[]){
         {.name = "reward", .arg = "TEXT", .doc = "what the points buy"},
         {.name = "property", .arg = "ID", .doc = "where"},
         {.name = "id", .arg = "UUID",
          .doc = "the redemption's id: the same id again is answered as the "
                 "first"},
         {0}},
     .summary = "spend a guest's points (never more than are available)",
     .details = "The server checks the balance inside the write: two "
                "redemptions at once can\nnever overdraw, and a refused one "
                "(insufficient_points) writes nothing.\nThe oldest points that "
                "have not expired go first."},
    {.name = "loyalty sweep", .op = CRM_OP_LOYALTY_SWEEP,
     .run = ctl_cmd_loyalty_sweep,
     .opts = (const ctl_opt[]){
         {.name = "on", .arg = "DATE",
          .doc = "decide for DATE, YYYY-MM-DD (default today)"},
         {0}},
     .summary = "append the expiries and tier changes due (admin)",
     .details = "Appends a loyalty.points_expired for every accrual past "
                "its date with points\nleft, and a loyalty.tier_changed "
                "(with the new tier's bonus on an upgrade)\nfor every guest "
                "whose nights or points in the window qualify for another\n"
                "tier. Their ids come from what was decided: a second sweep "
                "adds nothing."},
    {.name = "kpi", .op = CRM_OP_KPI_GET, .run = ctl_cmd_kpi,
     .opts = (const ctl_opt[]){
         {.name = "property", .arg = "NAME",
          .doc = "one property's (default the whole tenant)"},
         {.name = "from", .arg = "YYYY-MM",
          .doc = "first month (default 11 months before --to)"},
         {.name = "to", .arg = "YYYY-MM",
          .doc = "last month (default this month, UTC)"},
         {.name = "chart",
          .doc = "then draw the monthly NPS, CSAT and revenue as bars"},
         {.name = "churn-risk",
          .doc = "then the guests per churn-risk band today (a pass over\n"
                 "the segment rows)"},
         {0}},
     .summary = "KPIs per month: NPS, CSAT, repeat stays, AOV, CLV, "
                "complaints, conversion",
     .details = "Prints a row per month and the totals of the range: "
                "surveys and NPS, average\nCSAT, stays, nights and the "
                "repeat-stay rate, orders, average order value,\nrevenue "
                "and historic lifetime value (money in minor units of the "
                "base\ncurrency, converted at each day's rate), complaints "
                "opened and resolved with\nthe median resolution time, "
                "bookings and the share checked in, marketing\nmessages "
                "sent, opened and clicked; then the campaigns of the range. "
                "At most\n120 months. A guest's erasure keeps the totals."},
    {.name = "tasks today", .op = CRM_OP_TASKS_TODAY,
     .run = ctl_cmd_tasks_today,
     .opts = (const ctl_opt[]){
         {.name = "on", .arg = "DATE",
          .doc = "from DATE, YYYY-MM-DD (default today, UTC, now)"},
         {.name = "days", .arg = "N",
          .doc = "birthdays and arrivals up to N days ahead, 0..31 "
                 "(default 7)"},
         {.name = "property", .arg = "NAME",
          .doc = "arrivals, bookings and complaints of one property"},
         {.name = "limit", .arg = "N",
          .doc = "at most N per section, 1..500 (default 100)"},
         {0}},
     .summary = "the morning's work: birthdays, arrivals, unconfirmed "
                "bookings, complaints past SLA, dormant high value, "
                "points expiring",
     .details = "One table per section: birthdays of guests who consented "
                "to contact; arrivals\nwith what the desk needs (diet, "
                "allergies and other preferences, where the\nguest has "
                "been, open complaints, tier); online bookings still "
                "unconfirmed\npast the tenant's booking_confirm_hours; "
                "complaints open past\ncomplaint_sla_hours; high-value "
                "guests who turned dormant in the last 30 days;\npoints "
                "expiring by the end of the month. Without --on the "
                "thresholds are\nmeasured from now, with it from the "
                "day's start (UTC). Names and preference\nvalues only to "
                "the roles that see personal data (admin, agent)."},
    {.name = "segment list", .op = CRM_OP_SEGMENT_LIST,
     .run = ctl_cmd_segment_list,
     .summary = "the built-in segments and the tenant's, with their filters",
     .details = "Built-in segments are named DIMENSION:VALUE "
                "(lifecycle:dormant, value:high,\ntier:gold, rfm_r:5, "
                "points_expiring ...); the tenant's by the names\n'crmctl "
                "segment define' gave them."},
    {.name = "segment counts", .op = CRM_OP_SEGMENT_COUNTS,
     .run = ctl_cmd_segment_counts,
     .opts = (const ctl_opt[]){
         {.name = "on", .arg = "DATE",
          .doc = "as on DATE, YYYY-MM-DD (default today, UTC)"},
         {0}},
     .summary = "guests per lifecycle, frequency, value, churn, tier, RFM "
                "and defined segment",
     .details = "Membership is decided for the day asked: a guest is "
                "dormant after the tenant's\ndormant_days without a stay or "
                "booking, lapsed after twice that, churned\nafter three "
                "times; RFM scores are quintiles over the tenant's guests."},
    {.name = "segment members", .synopsis = "SEGMENT", .min_pos = 1,
     .max_pos = 1, .op = CRM_OP_SEGMENT_MEMBERS,
     .run = ctl_cmd_segment_members,
     .opts = (const ctl_opt[]){
         {.name = "on", .arg = "DATE",
          .doc = "as on DATE, YYYY-MM-DD (default today, UTC)"},
         {.name = "limit", .arg = "N",
          .doc = "at most N guests a page (default 100, at most 1000)"},
         {.name = "cursor", .arg = "CURSOR",
          .doc = "the page after the one that printed CURSOR"},
         {.name = "all", .doc = "follow the cursor to the last page"},
         {0}},
     .summary = "a segment's guests in id order, with a few figures",
     .details = "SEGMENT is a built-in DIMENSION:VALUE or a defined name. "
                "Prints each guest's\nid, lifecycle, frequency, stays, "
                "nights, nights in 12 months, spend (minor\nunits of the "
                "base currency), last stay and churn band; no personal "
                "value."},
    {.name = "segment export", .synopsis = "SEGMENT", .min_pos = 1,
     .max_pos = 1, .op = CRM_OP_SEGMENT_EXPORT,
     .run = ctl_cmd_segment_export,
     .opts = (const ctl_opt[]){
         {.name = "channel", .arg = "CHANNEL",
          .doc = "email, sms, phone, post, push or whatsapp (required)"},
         {.name = "on", .arg = "DATE",
          .doc = "as on DATE, YYYY-MM-DD (default today, UTC)"},
         {.name = "limit", .arg = "N",
          .doc = "rows asked per page (default 500, at most 1000)"},
         {.name = "csv",
          .doc = "CSV with a header row on stdout, the counts on stderr"},
         {0}},
     .summary = "a segment's guests who consented to a channel, with "
                "addresses (admin, marketing)",
     .details = "Follows the cursor to the last page. Only members whose "
                "latest consent for the\nchannel and purpose marketing is "
                "granted, and who have an address for it,\nare exported: "
                "id, the address (email, phone or postal address), first "
                "and\nlast name, language. The others are counted. Example:\n"
                "  crmctl segment export lisbon-halal --channel email --csv "
                "> mailing.csv"},
    {.name = "segment define", .synopsis = "NAME [FILTER]", .min_pos = 1,
     .max_pos = 2, .op = CRM_OP_SEGMENT_DEFINE,
     .run = ctl_cmd_segment_define,
     .opts = (const ctl_opt[]){
         {.name = "description", .arg = "TEXT", .doc = "what it is for"},
         {.name = "drop", .doc = "withdraw the segment NAME"},
         {0}},
     .summary = "define, replace or drop a tenant's segment (admin, "
                "marketing)",
     .details = "Example:\n  crmctl segment define lisbon-halal "
                "'nights_12m >= 10 and property = \"lisbon\"\n      and "
                "diet = \"halal\" and consent.email.marketing'\nFields: "
                "nights_12m stays_12m stays nights orders spend "
                "days_since_stay\nnps_last open_complaints churn_score rfm_r "
                "rfm_f rfm_m points points_expiring\nlifecycle frequency "
                "value churn tier property home_property diet room bed\n"
                "pillow language accessibility pref.CATEGORY "
                "consent.CHANNEL.PURPOSE; operators\n= != < <= > >= and or "
                "not ( ). A bad filter is refused with its column."},
    {.name = "types", .synopsis = "[TYPE]", .min_pos = 0, .max_pos = 1,
     .op = -1, .run = ctl_cmd_types,
     .summary = "the event catalogue: types, fields, PII (no server needed)"},
    {.name = "help", .synopsis = "[COMMAND]", .min_pos = 0, .max_pos = 2,
     .op = -1, .run = run_help, .summary = "help on crmctl or one command"},
};
/* clang-format on */
const size_t ctl_ncommands = sizeof(ctl_commands) / sizeof(ctl_commands[0]);

/* --- dispatch ------------------------------------------------------------- */

/* The command argv names (one or two words), and how many words it took. */
static const ctl_cmd *
find_command(int argc, char **argv, int *words)
{
    for (size_t i = 0; i < ctl_ncommands; i++) {
        const char *n = ctl_commands[i].name, *sp = strchr(n, ' ');
        if (sp == NULL && strcmp(n, argv[0]) == 0) {
            *words = 1;
            return &ctl_commands[i];
        }
        if (sp && argc > 1 && strlen(argv[0]) == (size_t)(sp - n) &&
            strncmp(n, argv[0], (size_t)(sp - n)) == 0 &&
            strcmp(sp + 1, argv[1]) == 0) {
            *words = 2;
            return &ctl_commands[i];
        }
    }
    return NULL;
}

static int
is_group(const char *word)
{
    size_t len = strlen(word);
    for (size_t i = 0; i < ctl_ncommands; i++)
        if (strncmp(ctl_commands[i].name, word, len) == 0 &&
            ctl_commands[i].name[len] == ' ')
            return 1;
    return 0;
}

static int
run_help(ctl *c, const ctl_args *a)
{
    int words;
    (void)c;
    if (a->npos == 0) {
        ctl_help_top();
        return 0;
    }
    const ctl_cmd *cmd = find_command((int)a->npos, (char **)a->pos, &words);
    if (cmd && (size_t)words == a->npos) {
        ctl_help_command(cmd);
        return 0;
    }
    if (a->npos == 1 && is_group(a->pos[0])) {
        ctl_help_group(a->pos[0]);
        return 0;
    }
    return ctl_usage(a->cmd, "no command '%s%s%s'", a->pos[0],
                     a->npos > 1 ? " " : "", a->npos > 1 ? a->pos[1] : "");
}

/* Reads the first line of path: key files hold one token. */
static int
read_key_file(ctl *c, const char *path)
{
    size_t cap = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return ctl_file_error("cannot open key file", path, errno);
    errno = 0;
    ssize_t len = getline(&c->key_buf, &cap, f);
    int err = len < 0 && ferror(f) ? errno : 0;
    fclose(f);
    if (err) /* a directory, say: not "holds no key" */
        return ctl_file_error("cannot read key file", path, err);
    while (len > 0 && strchr(" \t\r\n", c->key_buf[len - 1]))
        c->key_buf[--len] = '\0';
    if (len <= 0)
        return ctl_bad_input("key file %s holds no key", path);
    c->copts.key = c->key_buf;
    return 0;
}

/* An environment variable, or NULL when unset or empty. */
static const char *
env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* TLS verification: a flag beats the environment, and a CA from anywhere
 * beats CRM_INSECURE, so that skipping verification is always asked for
 * on purpose. */
static int
setup_tls(ctl *c, const ctl_args *g)
{
    int insecure = ctl_flag(g, "insecure");
    if (insecure && ctl_arg(g, "ca"))
        return ctl_usage(NULL, "give --ca or --insecure, not both");
    c->copts.tls_ca = ctl_arg(g, "ca");
    if (c->copts.tls_ca == NULL && !insecure)
        c->copts.tls_ca = env("CRM_CA");
    if (c->copts.tls_ca == NULL && !insecure && env("CRM_INSECURE"))
        insecure = strcmp(env("CRM_INSECURE"), "1") == 0;
    c->copts.tls_insecure = insecure;
    c->copts.tls_server_name = ctl_arg(g, "server-name");
    return 0;
}

/* A CA file crmctl cannot read is the caller's file, not something the
 * server said: checked before the client library loads it, and only for
 * commands that call the server (types and help need no CA). */
static int
check_ca_file(const ctl *c, const ctl_cmd *cmd)
{
    if (cmd->op < 0 || c->copts.tls_ca == NULL ||
        strncmp(c->copts.url, "tls+tcp://", 10) != 0)
        return 0;
    FILE *f = fopen(c->copts.tls_ca, "r");
    if (f == NULL)
        return ctl_file_error("cannot open CA file", c->copts.tls_ca, errno);
    fclose(f);
    return 0;
}

/* Fills c from the global options and the environment. */
static int
setup(ctl *c, const ctl_args *g)
{
    int64_t timeout;
    int rc;

    c->copts.url = ctl_arg(g, "url");
    if (c->copts.url == NULL)
        c->copts.url = env("CRM_URL");
    if (c->copts.url == NULL || c->copts.url[0] == '\0')
        c->copts.url = CTL_DEFAULT_URL;
    if (ctl_arg(g, "key") && ctl_arg(g, "key-file"))
        return ctl_usage(NULL, "give --key or --key-file, not both");
    c->copts.key = ctl_arg(g, "key");
    if (ctl_arg(g, "key-file") &&
        (rc = read_key_file(c, ctl_arg(g, "key-file"))) != 0)
        return rc;
    if (c->copts.key == NULL)
        c->copts.key = env("CRM_KEY");
    c->copts.tenant = ctl_arg(g, "tenant");
    if ((rc = setup_tls(c, g)) != 0)
        return rc;
    if ((rc = ctl_arg_int(g, "timeout", 10000, 1, 3600000, &timeout)) != 0)
        return rc;
    c->copts.timeout_ms = (int)timeout;
    c->json = ctl_flag(g, "json");
    return 0;
}

static int
run(ctl *c, int argc, char **argv)
{
    ctl_args g, a;
    int used, words, rc;

    if ((rc = ctl_parse(NULL, ctl_global_opts, argc, argv, 1, &g, &used)) != 0)
        return rc;
    if (ctl_flag(&g, "help")) {
        ctl_help_top();
        return 0;
    }
    if (ctl_flag(&g, "version")) {
        printf("crmctl %s (protocol %d)\n", CRM_VERSION, CRM_RPC_VERSION);
        return 0;
    }
    argc -= used;
    argv += used;
    if (argc == 0)
        return ctl_usage(NULL, "no command given");
    const ctl_cmd *cmd = find_command(argc, argv, &words);
    if (cmd == NULL) {
        if (!is_group(argv[0]))
            return ctl_usage(NULL, "unknown command '%s'", argv[0]);
        if (argc > 1 &&
            (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            ctl_help_group(argv[0]);
            return 0;
        }
        if (argc > 1)
            return ctl_usage(NULL, "unknown command '%s %s'", argv[0], argv[1]);
        return ctl_usage(NULL,
                         "'%s' needs a subcommand (see 'crmctl %s "
                         "--help')",
                         argv[0], argv[0]);
    }
    if ((rc = ctl_parse(cmd, cmd->opts, argc - words, argv + words, 0, &a,
                        NULL)) != 0)
        return rc;
    if (ctl_flag(&a, "help")) {
        ctl_help_command(cmd);
        return 0;
    }
    if ((int)a.npos < cmd->min_pos || (int)a.npos > cmd->max_pos) {
        if (a.npos < (size_t)cmd->min_pos)
            return ctl_usage(cmd, "%s needs %s", cmd->name, cmd->synopsis);
        return ctl_usage(cmd, "unexpected argument '%s'", a.pos[cmd->max_pos]);
    }
    if ((rc = setup(c, &g)) != 0 || (rc = check_ca_file(c, cmd)) != 0)
        return rc;
    c->json |= ctl_flag(&a, "json");
    return cmd->run(c, &a);
}

int
main(int argc, char **argv)
{
    ctl c = {0};
    int rc = run(&c, argc - 1, argv + 1);
    crm_client_close(c.client);
    free(c.key_buf);
    /* Output that never reached its file (a full disk) is a failure a
     * script must see, not an exit 0 with a truncated result. */
    errno = 0;
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0)
        rc = ctl_error(CRM_ERR_IO, "cannot write the output%s%s",
                       errno ? ": " : "", errno ? strerror(errno) : "");
    return rc;
}
