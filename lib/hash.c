/*
 * lib/hash.c: the cuckoo hash table with incremental growth (see hash.h).
 */
#include "lib/hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HTAB_MIGRATE_PER_OP 4       /* old buckets moved per insert/remove while growing */
#define HTAB_LOAD_NUM 85            /* grow past 85% of the slots */

static inline uint32_t bucket1(uint32_t h32, uint32_t mask)
{
    return h32 & mask;
}

/* The other bucket depends on bits b1 does not use, and is symmetric:
 * alt(alt(b)) == b, so an entry can be moved back and forth knowing only its
 * stored 32-bit hash. */
static inline uint32_t alt_bits(uint32_t h32)
{
    uint32_t x = (h32 >> 13 | h32 << 19) * 0x9e3779b1u;
    return x ^ (x >> 15);
}

static inline uint32_t bucket2(uint32_t h32, uint32_t mask)
{
    return (bucket1(h32, mask) ^ alt_bits(h32)) & mask;
}

static inline uint32_t other_bucket(uint32_t b, uint32_t h32, uint32_t mask)
{
    return (b ^ alt_bits(h32)) & mask;
}

static int array_alloc(struct htab_array *a, uint32_t n_buckets)
{
    size_t bytes = (size_t)n_buckets * sizeof(struct htab_bucket);

    a->buckets = aligned_alloc(64, bytes);
    if (!a->buckets)
        return -ENOMEM;
    /* value HTAB_NONE (all ones) marks an empty slot */
    memset(a->buckets, 0xff, bytes);
    a->mask = n_buckets - 1;
    return 0;
}

int htab_create(struct htab **out, uint32_t initial_capacity)
{
    struct htab *t;
    uint32_t n = 1;

    if (!out || initial_capacity > (1u << 31))
        return -EINVAL;
    while ((uint64_t)n * HTAB_BUCKET_SLOTS * HTAB_LOAD_NUM / 100 < initial_capacity)
        n <<= 1;
    if (n < 2)
        n = 2;
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    if (array_alloc(&t->cur, n) < 0) {
        free(t);
        return -ENOMEM;
    }
    t->generation = 1;
    t->max_entries = UINT32_MAX - 1;
    t->seed = (uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ull;
    *out = t;
    return 0;
}

void htab_destroy(struct htab *t)
{
    if (!t)
        return;
    free(t->cur.buckets);
    free(t->old.buckets);
    free(t);
}

static bool bucket_put(struct htab_bucket *b, uint32_t h32, uint32_t value)
{
    for (int i = 0; i < HTAB_BUCKET_SLOTS; i++) {
        if (b->slot[i].value == HTAB_NONE) {
            b->slot[i].h32 = h32;
            b->slot[i].value = value;
            return true;
        }
    }
    return false;
}

struct move {
    uint32_t bucket;
    uint8_t slot;
    struct htab_slot before;
};

/* Place (h32, value) in 'a': a free slot in either bucket, else a bounded
 * cuckoo walk that evicts entries to their other bucket. A failed walk is
 * undone, so the table is never left with an entry missing. */
static bool array_insert(struct htab_array *a, uint32_t h32, uint32_t value, uint64_t *seed)
{
    uint32_t b1 = bucket1(h32, a->mask), b2 = bucket2(h32, a->mask), b;
    struct move log[HTAB_MAX_MOVES];
    struct htab_slot carry = {h32, value};
    int n = 0;

    if (bucket_put(&a->buckets[b1], h32, value) || bucket_put(&a->buckets[b2], h32, value))
        return true;
    b = (*seed & 1) ? b1 : b2;
    while (n < HTAB_MAX_MOVES) {
        uint8_t victim;
        struct htab_slot evicted;

        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        victim = (uint8_t)((*seed >> 33) % HTAB_BUCKET_SLOTS);
        evicted = a->buckets[b].slot[victim];
        log[n++] = (struct move){b, victim, evicted};
        a->buckets[b].slot[victim] = carry;
        carry = evicted;
        b = other_bucket(b, carry.h32, a->mask);
        if (bucket_put(&a->buckets[b], carry.h32, carry.value))
            return true;
    }
    /* Undo in reverse: every displaced entry goes back where it was. */
    while (n-- > 0)
        a->buckets[log[n].bucket].slot[log[n].slot] = log[n].before;
    return false;
}

static void migrate_some(struct htab *t, unsigned n_buckets)
{
    uint32_t n_old;

    if (!t->old.buckets)
        return;
    n_old = t->old.mask + 1;
    while (n_buckets-- && t->migrate_pos < n_old) {
        struct htab_bucket *b = &t->old.buckets[t->migrate_pos];

        for (int i = 0; i < HTAB_BUCKET_SLOTS; i++) {
            if (b->slot[i].value == HTAB_NONE)
                continue;
            /* The new table is at most half full: this cannot fail in
             * practice; if it ever did, the entry stays in the old table. */
            if (!array_insert(&t->cur, b->slot[i].h32, b->slot[i].value, &t->seed))
                return;
            b->slot[i].value = HTAB_NONE;
        }
        t->migrate_pos++;
    }
    if (t->migrate_pos == n_old) {
        free(t->old.buckets);
        t->old.buckets = NULL;
        t->old.mask = 0;
    }
}

static int grow(struct htab *t)
{
    struct htab_array bigger;
    uint32_t n = (t->cur.mask + 1) * 2;

    if (t->old.buckets)
        return 0;   /* already growing */
    if (n == 0 || n > (1u << 28))
        return -ENOSPC;
    if (array_alloc(&bigger, n) < 0)
        return -ENOMEM;
    t->old = t->cur;
    t->cur = bigger;
    t->migrate_pos = 0;
    t->generation++;
    return 0;
}

int htab_insert(struct htab *t, uint64_t hash, uint32_t value)
{
    uint32_t h32 = (uint32_t)hash;
    uint64_t slots = ((uint64_t)t->cur.mask + 1) * HTAB_BUCKET_SLOTS;

    if (value == HTAB_NONE)
        return -EINVAL;
    if (t->count >= t->max_entries)
        return -ENOSPC;
    migrate_some(t, HTAB_MIGRATE_PER_OP);
    if ((uint64_t)t->count * 100 >= slots * HTAB_LOAD_NUM && !t->old.buckets) {
        int rc = grow(t);
        if (rc == -ENOMEM)
            return rc;
        migrate_some(t, HTAB_MIGRATE_PER_OP);
    }
    if (!array_insert(&t->cur, h32, value, &t->seed)) {
        /* Unlucky placement: grow (if not already) and try the bigger table. */
        int rc = grow(t);
        if (rc < 0)
            return rc;
        migrate_some(t, HTAB_MIGRATE_PER_OP);
        if (!array_insert(&t->cur, h32, value, &t->seed))
            return -ENOSPC;
    }
    t->count++;
    return 0;
}

static bool array_remove(struct htab_array *a, uint32_t h32, uint32_t value)
{
    uint32_t bs[2] = {bucket1(h32, a->mask), bucket2(h32, a->mask)};

    for (int j = 0; j < 2; j++) {
        struct htab_bucket *b = &a->buckets[bs[j]];
        for (int i = 0; i < HTAB_BUCKET_SLOTS; i++) {
            if (b->slot[i].value == value && b->slot[i].h32 == h32) {
                b->slot[i].value = HTAB_NONE;
                return true;
            }
        }
    }
    return false;
}

bool htab_remove(struct htab *t, uint64_t hash, uint32_t value)
{
    uint32_t h32 = (uint32_t)hash;
    bool found;

    if (value == HTAB_NONE)
        return false;
    found = array_remove(&t->cur, h32, value) || (t->old.buckets && array_remove(&t->old, h32, value));
    if (found)
        t->count--;
    migrate_some(t, HTAB_MIGRATE_PER_OP);
    return found;
}

uint32_t htab_find_first(const struct htab *t, uint64_t hash, struct htab_iter *it)
{
    uint32_t h32 = (uint32_t)hash, b1, b2;

    it->t = t;
    it->h32 = h32;
    it->n_b = 0;
    it->bi = 0;
    it->si = 0;
    b1 = bucket1(h32, t->cur.mask);
    b2 = bucket2(h32, t->cur.mask);
    it->b[it->n_b++] = &t->cur.buckets[b1];
    if (b2 != b1)
        it->b[it->n_b++] = &t->cur.buckets[b2];
    if (t->old.buckets) {
        b1 = bucket1(h32, t->old.mask);
        b2 = bucket2(h32, t->old.mask);
        it->b[it->n_b++] = &t->old.buckets[b1];
        if (b2 != b1)
            it->b[it->n_b++] = &t->old.buckets[b2];
    }
    return htab_find_next(it);
}

uint32_t htab_find_next(struct htab_iter *it)
{
    while (it->bi < it->n_b) {
        const struct htab_bucket *b = it->b[it->bi];

        while (it->si < HTAB_BUCKET_SLOTS) {
            const struct htab_slot *s = &b->slot[it->si++];
            if (s->h32 == it->h32 && s->value != HTAB_NONE)
                return s->value;
        }
        it->bi++;
        it->si = 0;
    }
    return HTAB_NONE;
}

void htab_prefetch(const struct htab *t, uint64_t hash)
{
    uint32_t h32 = (uint32_t)hash;

    __builtin_prefetch(&t->cur.buckets[bucket1(h32, t->cur.mask)]);
    __builtin_prefetch(&t->cur.buckets[bucket2(h32, t->cur.mask)]);
}

uint32_t htab_count(const struct htab *t)
{
    return t->count;
}

size_t htab_memory(const struct htab *t)
{
    size_t m = sizeof(*t) + ((size_t)t->cur.mask + 1) * sizeof(struct htab_bucket);

    if (t->old.buckets)
        m += ((size_t)t->old.mask + 1) * sizeof(struct htab_bucket);
    return m;
}

int htab_set_max(struct htab *t, uint32_t max_entries)
{
    if (max_entries == 0 || max_entries == UINT32_MAX)
        return -EINVAL;
    t->max_entries = max_entries;
    return 0;
}

/* Cursor: generation (16 bits) | phase (1 bit: 0 old table, 1 current) | bucket (47 bits). */
#define CUR_GEN(c) ((uint16_t)((c) >> 48))
#define CUR_PHASE(c) ((unsigned)((c) >> 47) & 1)
#define CUR_POS(c) ((c) & ((1ull << 47) - 1))
#define CUR_MAKE(g, ph, pos) ((uint64_t)(g) << 48 | (uint64_t)(ph) << 47 | (uint64_t)(pos))

uint32_t htab_scan(const struct htab *t, uint64_t *cursor, uint32_t *values, uint32_t max)
{
    uint64_t c = *cursor;
    uint32_t n = 0, visited = 0;

    if (max < HTAB_BUCKET_SLOTS)
        return 0;
    /* A new walk, or a growth since the walk began: start over. */
    if (c == 0 || CUR_GEN(c) != t->generation)
        c = CUR_MAKE(t->generation, t->old.buckets ? 0 : 1, 0);
    /* At most 'max' buckets per call, empty or not: bounded work. */
    while (n + HTAB_BUCKET_SLOTS <= max && visited < max) {
        const struct htab_array *a = CUR_PHASE(c) ? &t->cur : &t->old;
        uint64_t pos = CUR_POS(c);

        if (!a->buckets || pos > a->mask) {
            if (CUR_PHASE(c) == 0) {
                c = CUR_MAKE(t->generation, 1, 0);
                continue;
            }
            *cursor = 0;
            return n;
        }
        for (int i = 0; i < HTAB_BUCKET_SLOTS; i++)
            if (a->buckets[pos].slot[i].value != HTAB_NONE)
                values[n++] = a->buckets[pos].slot[i].value;
        c = CUR_MAKE(t->generation, CUR_PHASE(c), pos + 1);
        visited++;
    }
    *cursor = c;
    return n;
}
