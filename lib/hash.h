/*
 * lib/hash.h: a keyed hash and a hash table for millions of entries.
 *
 * Tables keyed by outside input (flows, conntrack, NAT) must not let a
 * sender choose collisions, so hashing is SipHash with a random key per
 * process, drawn with getrandom(2) on first use: rp_siphash is SipHash-2-4
 * (the paper's recommended strength); rp_hash_flow64 is SipHash-1-3 over a
 * fixed 64-byte flow key for the datapath, 1.4-1.8x as fast (about 20 ns
 * here; bench_hash). SipHash-1-3
 * rather than a multiply-xor hash because its output stays unpredictable
 * without the key even to a sender who watches timing for a long time; a
 * sender who cannot predict hashes cannot aim at one bucket.
 *
 * struct htab maps a 64-bit hash to 32-bit values: indexes into the caller's
 * fixed pool of entries. The table keeps 32 bits of each hash and returns
 * candidates; the caller compares keys itself, so the hot path has no
 * callback:
 *
 *     struct htab_iter it;
 *     for (uint32_t v = htab_find_first(t, h, &it); v != HTAB_NONE; v = htab_find_next(&it))
 *         if (key_equal(&pool[v].key, &key))
 *             return &pool[v];
 *
 * Layout: buckets of 8 slots (32-bit signature + 32-bit value) in one cache
 * line. Each hash has two candidate buckets in the same 64-bucket (4 KiB)
 * window, so a lookup reads at most two cache lines of one page (four while
 * the table grows). An insert
 * into two full buckets searches that window breadth-first (at most 64
 * bucket reads) for the shortest chain of entries that can each move to
 * their other bucket, and moves fewer than HTAB_MAX_MOVES entries. Keeping
 * moves inside a window is what lets a scan promise to see every value
 * (htab_scan).
 *
 * Growth is incremental: past 90% load (or earlier, from half load, if some
 * window has no room left) the table allocates twice the buckets and then
 * moves two old buckets per insert or remove, and the old buckets an insert
 * touches. An old bucket splits into exactly two new buckets that are still
 * empty, so moving never fails and no single insert pays for rehashing
 * millions of entries. Lookups look in both arrays while it lasts. Memory
 * is 8 bytes per slot at 42-90% load (big tables grow at 85-90%, when the
 * first window fills): 9-19 bytes per entry, plus the old array (half
 * again) while growing. Tables never shrink. Allocation happens only in
 * htab_create and when growth starts; a grown array is not touched when
 * allocated but page by page as buckets move into it, so after growth has
 * started, the first touch of each 4 KiB page (64 buckets) takes a minor
 * page fault. The old array goes back to the kernel 64 KiB at a time.
 *
 * Not thread-safe: each datapath thread owns its tables. An iterator is
 * valid until the next insert or remove on its table.
 */
#ifndef RP_LIB_HASH_H
#define RP_LIB_HASH_H

#include "lib/types.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Draw the per-process key (getrandom). Idempotent and thread-safe; the hash
 * functions call it on first use, so calling it is optional (do it at start
 * to keep the one syscall out of the datapath). Aborts if the kernel gives
 * no randomness: a predictable key would hand senders the collisions. */
void rp_hash_init(void);
/* SipHash-2-4 with the process key. */
uint64_t rp_siphash(const void *data, size_t len);
/* SipHash-2-4 with an explicit key (stable across processes and hosts). */
uint64_t rp_siphash_key(const uint8_t key[16], const void *data, size_t len);
/* SipHash-1-3 of exactly 64 bytes with the process key: the flow-key hash. */
uint64_t rp_hash_flow64(const void *key64);
/* The same with an explicit key. */
uint64_t rp_hash_flow64_key(const uint8_t key[16], const void *key64);

#define HTAB_NONE UINT32_MAX            /* "no value"; never storable */
#define HTAB_BUCKET_SLOTS 8
#define HTAB_WINDOW_BUCKETS 64          /* both buckets of a hash lie in one such window */
#define HTAB_MAX_MOVES HTAB_WINDOW_BUCKETS /* entries one insert may move: fewer than this */
#define HTAB_MAX_BUCKETS (1u << 28)     /* 16 GiB; about 1.9e9 entries */
/* Smallest values[] buffer htab_scan accepts: three windows of slots. */
#define HTAB_SCAN_MIN (3 * HTAB_WINDOW_BUCKETS * HTAB_BUCKET_SLOTS)

/* Signatures first so that one bucket compares with two SSE2 instructions.
 * A slot holds value + 1, so that all-zero memory is an empty bucket: a
 * grown array comes from the kernel's zero pages, with nothing to clear. */
struct htab_bucket {
    uint32_t sig[HTAB_BUCKET_SLOTS];
    uint32_t val[HTAB_BUCKET_SLOTS];     /* value + 1; 0 = empty slot */
} __attribute__((aligned(RP_CACHE_LINE)));
_Static_assert(sizeof(struct htab_bucket) == RP_CACHE_LINE, "bucket is one cache line");

struct htab_array {
    struct htab_bucket *b;              /* NULL: no such array */
    uint32_t mask;                      /* n_buckets - 1 */
    uint32_t wmask;                     /* window size - 1: mask & (HTAB_WINDOW_BUCKETS - 1) */
};

/* Declared here only so that lookups inline; the fields are private. */
struct htab {
    struct htab_array cur;              /* where inserts go */
    struct htab_array old;              /* half-size array being split into cur */
    uint32_t migrate_pos;               /* old buckets below this are already split */
    uint32_t count;
    uint32_t max_entries;
    uint32_t grow_at;                   /* count that starts growth */
};

struct htab_iter {
    const struct htab_bucket *b[4];     /* candidate buckets, cur then old */
    uint32_t sig;
    uint32_t match;                     /* slots of b[bi] still to report */
    uint8_t n_b, bi;
};

/* A table that holds initial_capacity entries without growing (its memory
 * is written once here, so it takes no page faults later). -EINVAL: out is
 * NULL or the capacity is beyond HTAB_MAX_BUCKETS; -ENOMEM. */
int htab_create(struct htab **out, uint32_t initial_capacity);
void htab_destroy(struct htab *t);
/* 0; -EINVAL (value HTAB_NONE); -ENOMEM (the table had to grow, the
 * allocation failed and no slot was free; nothing changed); -ENOSPC (at
 * max_entries, at HTAB_MAX_BUCKETS, or no free slot reachable in the
 * window: typically 16 values already share the hash's two buckets, which
 * a keyed hash makes a matter of luck, not of a sender's choice).
 * Duplicates are the caller's business: the table stores what it is given. */
int htab_insert(struct htab *t, uint64_t hash, uint32_t value);
/* Remove that exact (hash, value) pair; false if absent. */
bool htab_remove(struct htab *t, uint64_t hash, uint32_t value);
static inline uint32_t htab_find_first(const struct htab *t, uint64_t hash, struct htab_iter *it);
static inline uint32_t htab_find_next(struct htab_iter *it);
/* Prefetch for a coming lookup; bulk lookups hash a batch, prefetch each,
 * then look each up (best: take each first candidate and prefetch its pool
 * entry before comparing keys). Only the first bucket is fetched: it holds
 * 85-88% of entries, and the second line per lookup cost more memory
 * parallelism than it saved (bench_hash: 55-100 ns against 36-61 ns per
 * pipelined hit). While growing, the old array's first bucket too. */
static inline void htab_prefetch(const struct htab *t, uint64_t hash);
uint32_t htab_count(const struct htab *t);
/* Bytes held: the struct and both bucket arrays. */
size_t htab_memory(const struct htab *t);
/* Cap on entries (inserts beyond it get -ENOSPC); -EINVAL for 0 or
 * HTAB_NONE. Entries already above the cap stay. */
int htab_set_max(struct htab *t, uint32_t max_entries);

/* Walk every value with bounded work, resumably:
 *
 *     uint64_t cursor = 0;
 *     do {
 *         uint32_t n = htab_scan(t, &cursor, buf, RP_ARRAY_SIZE(buf));
 *         ... use buf[0..n) ...
 *     } while (cursor != 0);
 *
 * max must be at least HTAB_SCAN_MIN (less aborts: a window must fit in
 * one call). A call reads at most 3 * max / 8
 * buckets and may return 0 before the end; the walk is over when it returns
 * 0 with *cursor set back to 0. The table may change between calls, grow
 * included. Guarantee: every value present from the first call to the last
 * is returned at least once; a value may be returned twice if the table
 * grows during the walk; values inserted or removed during the walk may or
 * may not appear. (Windows are visited whole, in bit-reversed order, so an
 * entry that moves inside its window or splits into a grown array never
 * crosses the cursor.) */
uint32_t htab_scan(const struct htab *t, uint64_t *cursor, uint32_t *values, uint32_t max);

/* ---- inline lookups; everything below is private --------------------------- */

/* 32 bits of the hash kept per entry. A multiply folds all 64 bits in, so
 * callers that pass small integers or hashes differing only in the top half
 * still spread. */
static inline uint32_t htab__sig(uint64_t hash)
{
    return (uint32_t)((hash * 0x9e3779b97f4a7c15ull) >> 32);
}

/* The second bucket differs from the first in bit 0 and in up to five more
 * bits below the window size, chosen by the signature's top bits. So
 * b2 != b1, both lie in one window, and other(other(b)) == b. */
static inline uint32_t htab__alt(uint32_t sig, uint32_t wmask)
{
    return ((sig >> 26) | 1u) & wmask;
}

static inline uint32_t htab__match(const struct htab_bucket *b, uint32_t sig)
{
#if defined(__SSE2__)
    __m128i s = _mm_set1_epi32((int)sig);
    __m128i lo = _mm_cmpeq_epi32(_mm_load_si128((const __m128i *)&b->sig[0]), s);
    __m128i hi = _mm_cmpeq_epi32(_mm_load_si128((const __m128i *)&b->sig[4]), s);

    return (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(lo)) | (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(hi)) << 4;
#else
    uint32_t m = 0;

    for (int i = 0; i < HTAB_BUCKET_SLOTS; i++)
        m |= (uint32_t)(b->sig[i] == sig) << i;
    return m;
#endif
}

static inline uint32_t htab_find_next(struct htab_iter *it)
{
    for (;;) {
        while (it->match) {
            unsigned i = (unsigned)__builtin_ctz(it->match);
            uint32_t v = it->b[it->bi]->val[i];

            it->match &= it->match - 1;
            if (RP_LIKELY(v != 0))
                return v - 1;
        }
        if (++it->bi >= it->n_b)
            return HTAB_NONE;
        it->match = htab__match(it->b[it->bi], it->sig);
    }
}

static inline uint32_t htab_find_first(const struct htab *t, uint64_t hash, struct htab_iter *it)
{
    uint32_t sig = htab__sig(hash), b1 = sig & t->cur.mask;
    const struct htab_bucket *cb = t->cur.b;

    it->sig = sig;
    it->b[0] = &cb[b1];
    it->b[1] = &cb[b1 ^ htab__alt(sig, t->cur.wmask)];
    it->n_b = 2;
    it->bi = 0;
    if (RP_UNLIKELY(t->old.b != NULL)) {
        /* Old buckets below migrate_pos are already empty: skip them. */
        uint32_t o1 = sig & t->old.mask, o2 = o1 ^ htab__alt(sig, t->old.wmask);

        if (o1 >= t->migrate_pos)
            it->b[it->n_b++] = &t->old.b[o1];
        if (o2 >= t->migrate_pos)
            it->b[it->n_b++] = &t->old.b[o2];
    }
    it->match = htab__match(it->b[0], sig);
    return htab_find_next(it);
}

/* Out of line on purpose: with this test inline, GCC 12 -O2 if-converts a
 * caller's prefetch loop and then drops every prefetch in it. */
void htab__prefetch_old(const struct htab *t, uint32_t sig);

static inline void htab_prefetch(const struct htab *t, uint64_t hash)
{
    uint32_t sig = htab__sig(hash);

    RP_PREFETCH(&t->cur.b[sig & t->cur.mask]);
    if (RP_UNLIKELY(t->old.b != NULL))
        htab__prefetch_old(t, sig);
}

#endif
