/*
 * lib/siphash.c: SipHash (Aumasson and Bernstein) with a per-process key.
 */
#include "lib/hash.h"

#include <endian.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

static uint8_t process_key[16];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void init_key(void)
{
    size_t got = 0;

    while (got < sizeof(process_key)) {
        ssize_t n = getrandom(process_key + got, sizeof(process_key) - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
}

void rp_hash_init(void)
{
    pthread_once(&key_once, init_key);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                                   \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                      \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                      \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                                   \
    } while (0)

static inline uint64_t load64_le(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return le64toh(v);
}

static uint64_t siphash_cd(const uint8_t key[16], const uint8_t *in, size_t len, int c, int d)
{
    uint64_t k0 = load64_le(key), k1 = load64_le(key + 8);
    uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
    uint64_t b = (uint64_t)len << 56, m;
    const uint8_t *end = in + (len & ~(size_t)7);

    for (; in != end; in += 8) {
        m = load64_le(in);
        v3 ^= m;
        for (int i = 0; i < c; i++)
            SIPROUND;
        v0 ^= m;
    }
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)in[i] << (8 * i);
    v3 ^= b;
    for (int i = 0; i < c; i++)
        SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    for (int i = 0; i < d; i++)
        SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t rp_siphash_key(const uint8_t key[16], const void *data, size_t len)
{
    return siphash_cd(key, data, len, 2, 4);
}

uint64_t rp_siphash(const void *data, size_t len)
{
    rp_hash_init();
    return siphash_cd(process_key, data, len, 2, 4);
}

uint64_t rp_hash_flow64(const void *key64)
{
    rp_hash_init();
    return siphash_cd(process_key, key64, 64, 1, 3);
}
