/*
 * lib/hash.h: a keyed hash and a hash table for millions of entries.
 *
 * Tables keyed by outside input (flows, conntrack, NAT) must not let a
 * sender choose collisions, so hashing is SipHash with a random key per
 * process (rp_siphash, SipHash-2-4; rp_hash_flow64, SipHash-1-3 over a
 * 64-byte flow key, cheaper for the fast path).
 *
 * struct htab maps a 64-bit hash to 32-bit values: indexes into the
 * caller's fixed pool of entries. The caller compares keys itself, so the
 * hot path has no callback:
 *
 *     struct htab_iter it;
 *     for (uint32_t v = htab_find_first(t, h, &it); v != HTAB_NONE; v = htab_find_next(&it))
 *         if (key_equal(&pool[v].key, &key))
 *             return &pool[v];
 *
 * Layout: buckets of 8 slots (32-bit hash + 32-bit value) in one cache line;
 * each hash has two candidate buckets (cuckoo); an insert into two full
 * buckets moves at most HTAB_MAX_MOVES entries to their other bucket. The
 * table grows incrementally: past 85% load it allocates twice the buckets
 * and moves a few old buckets per insert or remove, while lookups look in
 * both, so no single insert pays for rehashing millions of entries.
 *
 * Not thread-safe: each datapath thread owns its tables.
 */
#ifndef RP_LIB_HASH_H
#define RP_LIB_HASH_H

#include "lib/types.h"

/* Per-process random key (getrandom); idempotent and thread-safe. The hash
 * functions call it on first use. */
void rp_hash_init(void);
uint64_t rp_siphash(const void *data, size_t len);
uint64_t rp_siphash_key(const uint8_t key[16], const void *data, size_t len);
/* Keyed hash of a 64-byte flow key (SipHash-1-3). */
uint64_t rp_hash_flow64(const void *key64);

#define HTAB_NONE UINT32_MAX
#define HTAB_BUCKET_SLOTS 8
#define HTAB_MAX_MOVES 128

struct htab_slot {
    uint32_t h32;        /* low 32 bits of the hash: both bucket indexes derive from it */
    uint32_t value;      /* HTAB_NONE = empty */
};

struct htab_bucket {
    struct htab_slot slot[HTAB_BUCKET_SLOTS];
} __attribute__((aligned(64)));

struct htab_array {
    struct htab_bucket *buckets;
    uint32_t mask;       /* n_buckets - 1 */
};

struct htab {
    struct htab_array cur;      /* where inserts go */
    struct htab_array old;      /* being migrated into cur; buckets NULL when not */
    uint32_t migrate_pos;       /* old buckets below this are already moved */
    uint32_t count, max_entries;
    uint16_t generation;        /* bumped when a growth starts (scan cursors) */
    uint64_t seed;              /* random per table: cuckoo walk choices */
};

struct htab_iter {
    const struct htab *t;
    uint32_t h32;
    const struct htab_bucket *b[4];
    uint8_t n_b, bi, si;
};

int htab_create(struct htab **out, uint32_t initial_capacity);
void htab_destroy(struct htab *t);
/* 0, -ENOMEM (growth failed), -ENOSPC (at max_entries, or no place found
 * within HTAB_MAX_MOVES even after growing). Duplicates are the caller's
 * business: the table stores what it is given. */
int htab_insert(struct htab *t, uint64_t hash, uint32_t value);
/* Remove that exact (hash, value) pair; false if absent. */
bool htab_remove(struct htab *t, uint64_t hash, uint32_t value);
uint32_t htab_find_first(const struct htab *t, uint64_t hash, struct htab_iter *it);
uint32_t htab_find_next(struct htab_iter *it);
void htab_prefetch(const struct htab *t, uint64_t hash);
uint32_t htab_count(const struct htab *t);
size_t htab_memory(const struct htab *t);
int htab_set_max(struct htab *t, uint32_t max_entries);
/* Walk every value with bounded work: start with *cursor = 0; each call
 * visits at most 'max' buckets, writes up to 'max' values (max >=
 * HTAB_BUCKET_SLOTS) and returns how many; the walk is over when *cursor
 * comes back 0 (that last call may still return values). Every value
 * present for the whole walk is seen at least once, across growth too (a
 * growth during the walk restarts it, so some values may be seen twice). */
uint32_t htab_scan(const struct htab *t, uint64_t *cursor, uint32_t *values, uint32_t max);

#endif
