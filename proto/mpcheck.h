/*
 * mpcheck.h - structural check of untrusted msgpack before msgpack-c
 * unpacks it.
 *
 * msgpack-c allocates a container's elements from the count in its header,
 * so a 6-byte message claiming 4 billion elements asks for ~100 GB. The
 * check walks the bytes once, without allocating, and accepts only input
 * that is exactly one well-formed object whose every declared element
 * exists, nested no deeper than max_depth. After it, unpacking allocates
 * at most ~24 bytes per object (msgpack_object), that is up to ~24 times
 * len for a message of one-byte objects; crm_mpcheck_bounded also caps the
 * number of objects, for input from callers who have not proved who they
 * are.
 */
#ifndef CRM_MPCHECK_H
#define CRM_MPCHECK_H

#include <msgpack.h>
#include <stddef.h>

#include "err.h"

#define CRM_MP_MAX_DEPTH 32 /* msgpack-c's own parse stack limit */

/* CRM_OK, or CRM_ERR_BAD_REQUEST with why saying what is wrong (truncated,
 * trailing bytes, reserved byte 0xc1, too deep, count larger than input). */
crm_err crm_mpcheck(const void *buf, size_t len, int max_depth, crm_error *why);

/* crm_mpcheck that also refuses, with CRM_ERR_TOO_LARGE, a message holding
 * more than max_objects objects (>= 1). Every object counts once: scalars,
 * containers, map keys and map values alike, the root included. The count
 * is kept in the same pass; a container header that declares too many is
 * refused before its elements are walked. Structural faults found before
 * the limit is passed still answer CRM_ERR_BAD_REQUEST (a header declaring
 * more elements than the bytes left is a lie, not a large message). */
crm_err crm_mpcheck_bounded(const void *buf, size_t len, int max_depth,
                            size_t max_objects, crm_error *why);

/* Like crm_mpcheck for the one object at the start of buf, which may be
 * followed by more bytes; *used is set to its length. */
crm_err crm_mpcheck_prefix(const void *buf, size_t len, int max_depth,
                           size_t *used, crm_error *why);

/* CRM_OK if no map inside o (o included, at any depth, keys that are
 * maps too) holds the same key twice; else CRM_ERR_BAD_REQUEST naming
 * the key (quoted safely), or CRM_ERR_NOMEM. Keys are the same when they
 * are of one kind and equal value (strings and bin byte for byte). Maps of
 * up to 16 keys compare each pair; larger ones sort an index, so a map of
 * n keys costs O(n log n). o must be nested no deeper than a crm_mpcheck
 * allowed (the walk recurses). */
crm_err crm_mp_unique_keys(const msgpack_object *o, crm_error *why);

#endif
