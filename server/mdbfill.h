/* mdbfill.h - an LMDB data file kept written (zeros) ahead of the pages
 * in use.
 *
 * A commit whose pages extend the data file makes fdatasync write the
 * file's metadata too (its new size and block map: the inode on ext4
 * without a journal, a journal commit with one), a second synchronous
 * write; overwriting blocks that exist costs the data write alone. With a
 * few events per commit nearly every commit extends the file; one chunk
 * of zeros written ahead costs that metadata write once, in the fdatasync
 * of the commit after it. The zeros lie past LMDB's last page, where no reader
 * looks, and LMDB overwrites them as it allocates. */
#ifndef CRM_MDBFILL_H
#define CRM_MDBFILL_H

#include <lmdb.h>
#include <stddef.h>

/* A chunk is a quarter of the pages in use, within these bounds: a small
 * tenant's file is not doubled by its zeros, a busy one's metadata write
 * comes once per megabyte. */
#define CRM_MDBFILL_MIN ((size_t)64 << 10)
#define CRM_MDBFILL_MAX ((size_t)1 << 20)

/* The chunk written ahead of `used` bytes in use; a refill comes when
 * less than half of one is left. */
size_t crm_mdbfill_chunk(size_t used);

/* Bytes of env's pages in use (up to its last page). */
size_t crm_mdbfill_used(MDB_env *env);

/* Size of env's data file: where zeros of an earlier run end. */
size_t crm_mdbfill_start(MDB_env *env);

/* When fewer than crm_mdbfill_chunk(used) / 2 bytes past `used` are
 * written, writes zeros up to used + crm_mdbfill_chunk(used), never past
 * map_size. *end is how
 * far the file is written (crm_mdbfill_start first). Call it with no
 * write transaction open on env, from the thread that writes, so that no
 * LMDB write can race the zeros, and only in the one process that writes
 * env (crm_log_open flocks the data file). The blocks are reserved
 * (fallocate) before the zeros are written; when that fails (full disk)
 * nothing is written and LMDB meets the full disk itself. */
void crm_mdbfill(MDB_env *env, size_t used, size_t map_size, size_t *end);

#endif
