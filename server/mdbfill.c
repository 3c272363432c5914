/* mdbfill.c - zeros ahead of an LMDB data file's last page (mdbfill.h). */
#include "mdbfill.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#define FILL_IOV 16

size_t
crm_mdbfill_used(MDB_env *env)
{
    MDB_envinfo info;
    MDB_stat ms;
    mdb_env_info(env, &info);
    mdb_env_stat(env, &ms);
    return (info.me_last_pgno + 1) * (size_t)ms.ms_psize;
}

size_t
crm_mdbfill_start(MDB_env *env)
{
    int fd;
    struct stat st;
    if (mdb_env_get_fd(env, &fd) != 0 || fstat(fd, &st) != 0)
        return 0;
    return (size_t)st.st_size;
}

size_t
crm_mdbfill_chunk(size_t used)
{
    size_t c = used / 4;
    return c < CRM_MDBFILL_MIN   ? CRM_MDBFILL_MIN
           : c > CRM_MDBFILL_MAX ? CRM_MDBFILL_MAX
                                 : c;
}

void
crm_mdbfill(MDB_env *env, size_t used, size_t map_size, size_t *end)
{
    static const char zeros[CRM_MDBFILL_MAX / FILL_IOV];
    size_t chunk = crm_mdbfill_chunk(used);
    if (*end < used)
        *end = used;
    if (*end - used >= chunk / 2)
        return;
    size_t to = used + chunk;
    if (to > map_size)
        to = map_size;
    int fd;
    if (to <= *end || mdb_env_get_fd(env, &fd) != 0)
        return;
    /* The blocks are reserved first: a buffered write may find the disk
     * full only when it is written back, in the fdatasync of a commit. */
    if (fallocate(fd, 0, (off_t)*end, (off_t)(to - *end)) != 0 &&
        errno != EOPNOTSUPP && errno != ENOSYS)
        return; /* a full disk: LMDB will meet it itself */
    while (*end < to) {
        struct iovec iov[FILL_IOV];
        size_t left = to - *end;
        int n = 0;
        for (; n < FILL_IOV && left > 0; n++) {
            iov[n].iov_base = (void *)zeros;
            iov[n].iov_len = left < sizeof(zeros) ? left : sizeof(zeros);
            left -= iov[n].iov_len;
        }
        ssize_t w = pwritev(fd, iov, n, (off_t)*end);
        if (w <= 0)
            return;
        *end += (size_t)w;
    }
}
