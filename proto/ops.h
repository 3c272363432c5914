/*
 * ops.h - the RPC operations and the roles that may call them.
 *
 * One table (CRM_OP_MAP) names every op, who may call it and whether it
 * may ride inside a `batch`. The server's dispatch, the access checks,
 * crmctl's help and PROTOCOL.md's op list all come from it.
 */
#ifndef CRM_OPS_H
#define CRM_OPS_H

#include <stddef.h>
#include <stdint.h>

/* X(ROLE, name): stable order, the bit is 1 << ROLE. */
#define CRM_ROLE_MAP(X)                                                        \
    X(CRM_ROLE_OPERATOR, "operator")                                           \
    X(CRM_ROLE_ADMIN, "admin")                                                 \
    X(CRM_ROLE_AGENT, "agent")                                                 \
    X(CRM_ROLE_MARKETING, "marketing")                                         \
    X(CRM_ROLE_FINANCE, "finance")                                             \
    X(CRM_ROLE_AUDITOR, "auditor")                                             \
    X(CRM_ROLE_REPLICA, "replica")

typedef enum crm_role {
#define CRM_ROLE_ENUM(r, name) r,
    CRM_ROLE_MAP(CRM_ROLE_ENUM)
#undef CRM_ROLE_ENUM
    CRM_ROLE__COUNT
} crm_role;

#define CRM_ROLE_BIT(r) (1u << (r))
#define CRM_ANYONE 0xffffffffu /* no key needed */
#define CRM_ANY_KEY                                                            \
    (CRM_ROLE_BIT(CRM_ROLE_OPERATOR) | CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AGENT) |            \
     CRM_ROLE_BIT(CRM_ROLE_MARKETING) | CRM_ROLE_BIT(CRM_ROLE_FINANCE) | CRM_ROLE_BIT(CRM_ROLE_AUDITOR) |       \
     CRM_ROLE_BIT(CRM_ROLE_REPLICA))
#define CRM_WRITERS                                                            \
    (CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AGENT) | CRM_ROLE_BIT(CRM_ROLE_MARKETING) |           \
     CRM_ROLE_BIT(CRM_ROLE_FINANCE))
#define CRM_LOG_READERS                                                        \
    (CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AGENT) | CRM_ROLE_BIT(CRM_ROLE_AUDITOR) |             \
     CRM_ROLE_BIT(CRM_ROLE_REPLICA))

/* Who reads segments: no personal value is in them (ids and figures). */
#define CRM_SEGMENT_READERS                                                    \
    (CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AGENT) |             \
     CRM_ROLE_BIT(CRM_ROLE_MARKETING) | CRM_ROLE_BIT(CRM_ROLE_AUDITOR))

enum {
    CRM_OPF_BATCHABLE = 1u << 0, /* a read that may ride in `batch` */
    CRM_OPF_TENANT = 1u << 1,    /* acts on the caller's tenant data */
};

/* X(OP, wire name, roles, flags, summary) */
#define CRM_OP_MAP(X)                                                          \
    X(CRM_OP_PING, "ping", CRM_ANYONE, CRM_OPF_BATCHABLE,                      \
      "liveness; answers without a key")                                       \
    X(CRM_OP_SERVER_INFO, "server.info", CRM_ANY_KEY, CRM_OPF_BATCHABLE,      \
      "version, role of this node, limits, uptime")                            \
    X(CRM_OP_TENANT_CREATE, "tenant.create", CRM_ROLE_BIT(CRM_ROLE_OPERATOR), 0,          \
      "create a tenant (operator)")                                            \
    X(CRM_OP_TENANT_LIST, "tenant.list", CRM_ROLE_BIT(CRM_ROLE_OPERATOR),                 \
      CRM_OPF_BATCHABLE, "list tenants (operator)")                            \
    X(CRM_OP_KEY_CREATE, "key.create",                                         \
      CRM_ROLE_BIT(CRM_ROLE_OPERATOR) | CRM_ROLE_BIT(CRM_ROLE_ADMIN), 0,                             \
      "create an API key for a tenant and role; the secret is shown once")     \
    X(CRM_OP_KEY_REVOKE, "key.revoke",                                         \
      CRM_ROLE_BIT(CRM_ROLE_OPERATOR) | CRM_ROLE_BIT(CRM_ROLE_ADMIN), 0, "revoke an API key")        \
    X(CRM_OP_KEY_LIST, "key.list", CRM_ROLE_BIT(CRM_ROLE_OPERATOR) | CRM_ROLE_BIT(CRM_ROLE_ADMIN),   \
      CRM_OPF_BATCHABLE, "list a tenant's keys (never their secrets)")         \
    X(CRM_OP_APPEND, "append", CRM_WRITERS, CRM_OPF_TENANT,                    \
      "append a batch of events atomically")                                   \
    X(CRM_OP_READ_STREAM, "read.stream", CRM_LOG_READERS,                      \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE, "read one customer's events")        \
    X(CRM_OP_READ_ALL, "read.all", CRM_LOG_READERS,                            \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "read the tenant log from a position; long-poll with wait_ms")           \
    X(CRM_OP_METRICS, "metrics",                                               \
      CRM_ROLE_BIT(CRM_ROLE_OPERATOR) | CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AUDITOR),          \
      CRM_OPF_BATCHABLE, "server and tenant counters")                         \
    X(CRM_OP_SETTINGS_GET, "settings.get",                                     \
      CRM_WRITERS | CRM_ROLE_BIT(CRM_ROLE_AUDITOR),                            \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "the tenant settings in force on a day, as known at a position")         \
    X(CRM_OP_SETTINGS_SET, "settings.set", CRM_ROLE_BIT(CRM_ROLE_ADMIN),       \
      CRM_OPF_TENANT,                                                          \
      "change tenant settings from a day on (appended to $tenant)")            \
    X(CRM_OP_PROJECTION_REBUILD, "projection.rebuild",                         \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN), CRM_OPF_TENANT,                            \
      "rebuild projections from the log while serving; compares with inline")  \
    X(CRM_OP_TENANT_ROTATE_KEY, "tenant.rotate_key",                           \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN), CRM_OPF_TENANT,                            \
      "a new tenant key: every guest key rewrapped, the old key destroyed")    \
    X(CRM_OP_LOYALTY_GET, "loyalty.get",                                       \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AGENT) |            \
          CRM_ROLE_BIT(CRM_ROLE_FINANCE) | CRM_ROLE_BIT(CRM_ROLE_AUDITOR),     \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "a guest's points, tier, progress, expiries and ledger")                 \
    X(CRM_OP_LOYALTY_REDEEM, "loyalty.redeem",                                 \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AGENT) |            \
          CRM_ROLE_BIT(CRM_ROLE_FINANCE),                                      \
      CRM_OPF_TENANT,                                                          \
      "spend points, checked against the balance inside the write")           \
    X(CRM_OP_LOYALTY_SWEEP, "loyalty.sweep", CRM_ROLE_BIT(CRM_ROLE_ADMIN),     \
      CRM_OPF_TENANT,                                                          \
      "append the expiries and tier changes due on a day")                     \
    X(CRM_OP_CUSTOMER_GET, "customer.get",                                     \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AGENT) |            \
          CRM_ROLE_BIT(CRM_ROLE_MARKETING) | CRM_ROLE_BIT(CRM_ROLE_FINANCE),   \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "a guest's 360 view: profile, consents, figures, loyalty, churn risk "  \
      "(personal fields as the role sees them)")                               \
    X(CRM_OP_CUSTOMER_ERASE, "customer.erase", CRM_ROLE_BIT(CRM_ROLE_ADMIN),   \
      CRM_OPF_TENANT,                                                          \
      "erase a guest (and what was merged into it) by destroying its keys")    \
    X(CRM_OP_CUSTOMER_ERASURE_RECEIPT, "customer.erasure_receipt",             \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AUDITOR),           \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "the erasure ledger's receipt of a guest, for the guest")               \
    X(CRM_OP_BACKUP, "backup",                                                 \
      CRM_ROLE_BIT(CRM_ROLE_OPERATOR) | CRM_ROLE_BIT(CRM_ROLE_ADMIN), 0,       \
      "a hot backup under --backup-dir: every tenant, or the admin's own")    \
    X(CRM_OP_AUDIT_PUBKEY, "audit.pubkey",                                     \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AUDITOR),           \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "the tenant's Ed25519 public key that signs its checkpoints")            \
    X(CRM_OP_AUDIT_CHECKPOINT, "audit.checkpoint",                             \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AUDITOR),           \
      CRM_OPF_TENANT,                                                          \
      "sign a checkpoint of the head now {tenant, position, head, time}")      \
    X(CRM_OP_AUDIT_SIGNATURES, "audit.signatures",                           \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AUDITOR),           \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "the signed checkpoints kept, oldest first, paged")                     \
    X(CRM_OP_AUDIT_EXPORT, "audit.export",                                     \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AUDITOR),           \
      CRM_OPF_TENANT,                                                          \
      "the log's records as stored, paged, ending at a signed checkpoint")     \
    X(CRM_OP_AUDIT_KEYS, "audit.keys",                                         \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN), CRM_OPF_TENANT,                            \
      "the guests' keys sealed under a caller's transport key, paged")        \
    X(CRM_OP_AUDIT_VERIFY, "audit.verify",                                     \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AUDITOR),           \
      CRM_OPF_TENANT,                                                          \
      "verify a range of the chain online against the signed checkpoints")     \
    X(CRM_OP_AUDIT_ACCESS, "audit.access",                                     \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AUDITOR),           \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "who was handed a guest's personal data: by guest, by key, by time")     \
    X(CRM_OP_CUSTOMER_FIND, "customer.find",                                   \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AGENT),             \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "find guests by e-mail, phone, loyalty number or name (+ birth date)")   \
    X(CRM_OP_CUSTOMER_CONSENT_AT, "customer.consent_at",                      \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AGENT) |            \
          CRM_ROLE_BIT(CRM_ROLE_MARKETING) | CRM_ROLE_BIT(CRM_ROLE_AUDITOR),   \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "a guest's consent for a channel and purpose in force at a moment")     \
    X(CRM_OP_AUDIT_CONSENT_VIOLATIONS, "audit.consent_violations",             \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AUDITOR),           \
      CRM_OPF_TENANT,                                                          \
      "marketing messages sent without the guest's consent, paged by position") \
    X(CRM_OP_CUSTOMER_EXPORT, "customer.export",                               \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AGENT),             \
      CRM_OPF_TENANT,                                                          \
      "everything kept about a guest, decrypted, in pages (right of access)") \
    X(CRM_OP_KPI_GET, "kpi.get",                                               \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_AGENT) |            \
          CRM_ROLE_BIT(CRM_ROLE_MARKETING) | CRM_ROLE_BIT(CRM_ROLE_FINANCE) |  \
          CRM_ROLE_BIT(CRM_ROLE_AUDITOR),                                      \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "KPIs of the tenant or a property per month (no guest data)")           \
    X(CRM_OP_SEGMENT_LIST, "segment.list", CRM_SEGMENT_READERS,               \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "the built-in segments and the tenant's, with their filters")           \
    X(CRM_OP_SEGMENT_COUNTS, "segment.counts", CRM_SEGMENT_READERS,           \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "guests in each segment on a day")                                       \
    X(CRM_OP_SEGMENT_MEMBERS, "segment.members", CRM_SEGMENT_READERS,         \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "a segment's guests on a day, in id order, paged by a cursor")          \
    X(CRM_OP_TASKS_TODAY, "tasks.today", CRM_SEGMENT_READERS,                 \
      CRM_OPF_TENANT | CRM_OPF_BATCHABLE,                                      \
      "today's work: birthdays, arrivals, unconfirmed, complaints past SLA, "  \
      "dormant high value, points expiring")                                   \
    X(CRM_OP_SEGMENT_EXPORT, "segment.export",                                 \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_MARKETING),         \
      CRM_OPF_TENANT,                                                          \
      "a segment's members who consented to a channel, with their addresses") \
    X(CRM_OP_SEGMENT_DEFINE, "segment.define",                                 \
      CRM_ROLE_BIT(CRM_ROLE_ADMIN) | CRM_ROLE_BIT(CRM_ROLE_MARKETING),         \
      CRM_OPF_TENANT,                                                          \
      "define, replace or drop a tenant's segment (appended to $tenant)")     \
    X(CRM_OP_BATCH, "batch", CRM_ANY_KEY, 0,                                   \
      "several read ops in one message, one reply")

typedef enum crm_op {
#define CRM_OP_ENUM(op, name, roles, flags, doc) op,
    CRM_OP_MAP(CRM_OP_ENUM)
#undef CRM_OP_ENUM
    CRM_OP__COUNT
} crm_op;

typedef struct crm_op_info {
    crm_op op;
    const char *name;
    uint32_t roles; /* bit per crm_role; CRM_ANYONE needs no key */
    unsigned flags;
    const char *doc;
} crm_op_info;

/* The op named name[0..len), or NULL. */
const crm_op_info *crm_op_find(const char *name, size_t len);
const crm_op_info *crm_op_get(crm_op op);

/* Role by name / name of a role ("unknown" if out of range). */
int crm_role_parse(const char *name, size_t len, crm_role *out);
const char *crm_role_name(crm_role r);

/* Whether role r may append an event of type name[0..len): writers are
 * limited to the event families of their job (marketing: marketing.*,
 * web.*, consent; finance: spend, booking, charter, loyalty; agents
 * everything but customer.erased). tenant.* events are settings.set's:
 * no role appends them. */
int crm_role_may_append(crm_role r, const char *type, size_t len);

#endif
