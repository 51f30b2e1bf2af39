/*
 * lib/siphash.c: SipHash (Aumasson and Bernstein, 2012) with a per-process
 * key. SipHash-c-d: c rounds per 8-byte word, d rounds to finish.
 */
#include "lib/hash.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* The key as the four initial state words, so a hash starts without the
 * xor with the constants. */
struct sip_state {
    uint64_t v0, v1, v2, v3;
};

static struct sip_state process_state;
static atomic_bool process_ready;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static inline uint64_t load64_le(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return le64toh(v);
}

static inline struct sip_state sip_start(const uint8_t key[16])
{
    uint64_t k0 = load64_le(key), k1 = load64_le(key + 8);

    return (struct sip_state){0x736f6d6570736575ull ^ k0, 0x646f72616e646f6dull ^ k1,
                              0x6c7967656e657261ull ^ k0, 0x7465646279746573ull ^ k1};
}

static bool read_urandom(uint8_t *buf, size_t len)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    size_t got = 0;

    if (fd < 0)
        return false;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0 || errno != EINTR)
            break;
    }
    close(fd);
    return got == len;
}

static void init_key(void)
{
    uint8_t key[16];
    size_t got = 0;

    while (got < sizeof(key)) {
        ssize_t n = getrandom(key + got, sizeof(key) - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (n < 0 && errno != EINTR)
            break;      /* ENOSYS (old kernel, seccomp): try the device */
    }
    if (got < sizeof(key))
        RP_ASSERT(read_urandom(key, sizeof(key)));
    process_state = sip_start(key);
    memset(key, 0, sizeof(key));
    atomic_store_explicit(&process_ready, true, memory_order_release);
}

void rp_hash_init(void)
{
    pthread_once(&key_once, init_key);
}

/* One acquire load per hash once the key exists. */
static inline const struct sip_state *process_key_state(void)
{
    if (RP_UNLIKELY(!atomic_load_explicit(&process_ready, memory_order_acquire)))
        rp_hash_init();
    return &process_state;
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                                   \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                      \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                      \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                                   \
    } while (0)

/* Always inlined with constant c and d, so the round loops unroll. */
static inline __attribute__((always_inline)) uint64_t sip_cd(const struct sip_state *s, const uint8_t *in,
                                                             size_t len, int c, int d)
{
    uint64_t v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3;
    uint64_t b = (uint64_t)len << 56, m;
    const uint8_t *end = in + (len & ~(size_t)7);

    for (; in != end; in += 8) {
        m = load64_le(in);
        v3 ^= m;
        for (int i = 0; i < c; i++)
            SIPROUND;
        v0 ^= m;
    }
    /* The last 0-7 bytes, little-endian, under the length byte. */
    switch (len & 7) {
    case 7: b |= (uint64_t)in[6] << 48; /* fall through */
    case 6: b |= (uint64_t)in[5] << 40; /* fall through */
    case 5: b |= (uint64_t)in[4] << 32; /* fall through */
    case 4: b |= (uint64_t)in[3] << 24; /* fall through */
    case 3: b |= (uint64_t)in[2] << 16; /* fall through */
    case 2: b |= (uint64_t)in[1] << 8;  /* fall through */
    case 1: b |= (uint64_t)in[0];       /* fall through */
    default: break;
    }
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
    struct sip_state s = sip_start(key);

    return sip_cd(&s, data, len, 2, 4);
}

uint64_t rp_siphash(const void *data, size_t len)
{
    return sip_cd(process_key_state(), data, len, 2, 4);
}

uint64_t rp_hash_flow64_key(const uint8_t key[16], const void *key64)
{
    struct sip_state s = sip_start(key);

    return sip_cd(&s, key64, 64, 1, 3);
}

uint64_t rp_hash_flow64(const void *key64)
{
    /* Constant length: the word loop unrolls and the tail switch folds away. */
    return sip_cd(process_key_state(), key64, 64, 1, 3);
}
