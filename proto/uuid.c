/* uuid.c - UUIDv7 generation and text form. A per-process counter in the
 * random bits keeps ids from one process strictly increasing even within
 * one millisecond, which keeps the event_ids B-tree appending. Random bytes
 * come from a pool refilled 4 KiB at a time: one RAND_bytes call per id
 * cost more than the rest of an append's client-side work. */
#include "uuid.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t v7_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t v7_last_ms, v7_seq;
static uint8_t v7_pool[4096];
static size_t v7_used = sizeof(v7_pool);

void
crm_uuid_v7(uint8_t out[16])
{
    struct timespec ts;
    uint8_t rnd[8];
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;

    pthread_mutex_lock(&v7_lock);
    if (v7_used + sizeof(rnd) > sizeof(v7_pool)) {
        if (RAND_bytes(v7_pool, sizeof(v7_pool)) != 1)
            memset(v7_pool, 0, sizeof(v7_pool)); /* the counter still
                                                     keeps ids unique */
        v7_used = 0;
    }
    memcpy(rnd, v7_pool + v7_used, sizeof(rnd));
    v7_used += sizeof(rnd);
    if (ms <= v7_last_ms) {
        ms = v7_last_ms;
        v7_seq++;
    } else {
        v7_last_ms = ms;
        v7_seq = ((uint64_t)rnd[0] << 8 | rnd[1]) & 0x3ff; /* leave headroom */
    }
    uint64_t seq = v7_seq;
    pthread_mutex_unlock(&v7_lock);

    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)(ms >> (40 - 8 * i));
    /* 12-bit rand_a holds the high bits of a 26-bit sequence; rand_b starts
     * with its low 14 bits and ends with random bytes. */
    out[6] = (uint8_t)(0x70 | ((seq >> 22) & 0x0f));
    out[7] = (uint8_t)(seq >> 14);
    out[8] = (uint8_t)(0x80 | ((seq >> 8) & 0x3f));
    out[9] = (uint8_t)seq;
    memcpy(out + 10, rnd + 2, 6);
}

void
crm_uuid_format(const uint8_t id[16], char out[CRM_UUID_STRLEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[id[i] >> 4];
        out[o++] = hex[id[i] & 15];
    }
    out[o] = '\0';
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
crm_uuid_parse(const char *s, uint8_t out[16])
{
    size_t len = strlen(s);
    int dashed = len == CRM_UUID_STRLEN;
    if (!dashed && len != 32)
        return -1;
    size_t i = 0;
    for (int b = 0; b < 16; b++) {
        if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-')
                return -1;
            i++;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[b] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}
