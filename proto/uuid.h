/* uuid.h - event ids: 16-byte UUIDs, version 7 (time-ordered) by default
 * so that the idempotency index grows at its right edge. */
#ifndef CRM_UUID_H
#define CRM_UUID_H

#include <stdint.h>

#define CRM_UUID_STRLEN 36

/* A fresh UUIDv7: 48-bit Unix milliseconds, then random bits. Ids made by
 * one process are strictly increasing. Thread-safe. */
void crm_uuid_v7(uint8_t out[16]);

/* Formats as 8-4-4-4-12 lower-case hex plus NUL (37 bytes). */
void crm_uuid_format(const uint8_t id[16], char out[CRM_UUID_STRLEN + 1]);

/* Parses 8-4-4-4-12 hex (either case) or 32 plain hex digits.
 * Returns 0 on success, -1 if s is not a UUID. */
int crm_uuid_parse(const char *s, uint8_t out[16]);

#endif
