/*
 * lib/hash.c: the windowed cuckoo table with incremental growth (hash.h).
 *
 * Addressing: b1 = sig & mask, b2 = b1 ^ alt(sig) with alt inside the
 * window. Doubling the array adds one high bit to b1 and leaves alt's bits
 * alone, so an entry of old bucket i belongs in new bucket i or
 * i + n_old, in the same role (first or second bucket). Rule that makes the
 * split infallible: nothing is written into a new bucket j before old bucket
 * j & old.mask has been split. Then both halves of a split are empty when it
 * happens, and 8 entries always fit.
 */
#include "lib/hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MIGRATE_PER_OP 2        /* old buckets split per insert and per remove */
#define GROW_LOAD_PCT 90        /* grow when count reaches this share of the slots */
#define EARLY_GROW_PCT 50       /* a full window grows the table from this load on */
#define SCAN_DONE UINT64_MAX    /* cursor after the last values: next call ends the walk */
#define MMAP_MIN_BYTES (256u << 10) /* arrays this big come zeroed from mmap */
#define RELEASE_BUCKETS 1024u   /* swept old buckets go back to the kernel 64 KiB at a time */

static inline uint32_t n_buckets(const struct htab_array *a)
{
    return a->mask + 1;
}

static inline uint64_t n_slots(const struct htab_array *a)
{
    return (uint64_t)n_buckets(a) * HTAB_BUCKET_SLOTS;
}

static inline size_t array_bytes(const struct htab_array *a)
{
    return (size_t)n_buckets(a) * sizeof(struct htab_bucket);
}

/* Big arrays map anonymous memory: zero-filled by the kernel a page at a
 * time on first write, so starting growth costs no pass over the array. */
static int array_alloc(struct htab_array *a, uint32_t nb)
{
    size_t bytes = (size_t)nb * sizeof(struct htab_bucket);

    if (bytes >= MMAP_MIN_BYTES) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return -ENOMEM;
        /* Lookups in a big table land on random pages: huge pages spare
         * most of the TLB misses (the flow-cache benchmark at 1M flows went
         * from 167 to 129-143 ns a packet with them). Advice only. */
        if (bytes >= (2u << 20))
            (void)madvise(p, bytes, MADV_HUGEPAGE);
        a->b = p;
    } else {
        a->b = aligned_alloc(RP_CACHE_LINE, bytes);
        if (!a->b)
            return -ENOMEM;
        memset(a->b, 0, bytes);
    }
    a->mask = nb - 1;
    a->wmask = a->mask & (HTAB_WINDOW_BUCKETS - 1);
    return 0;
}

static void array_free(struct htab_array *a)
{
    if (!a->b)
        return;
    if (array_bytes(a) >= MMAP_MIN_BYTES)
        munmap(a->b, array_bytes(a));
    else
        free(a->b);
    *a = (struct htab_array){0};
}

static void set_grow_at(struct htab *t)
{
    t->grow_at = (uint32_t)(n_slots(&t->cur) * GROW_LOAD_PCT / 100);
}

int htab_create(struct htab **out, uint32_t initial_capacity)
{
    struct htab *t;
    uint32_t nb = 2;

    if (!out)
        return -EINVAL;
    while ((uint64_t)nb * HTAB_BUCKET_SLOTS * GROW_LOAD_PCT / 100 < initial_capacity) {
        if (nb >= HTAB_MAX_BUCKETS)
            return -EINVAL;
        nb <<= 1;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    if (array_alloc(&t->cur, nb) < 0) {
        free(t);
        return -ENOMEM;
    }
    /* Fault the first array in now, on the control path, so that a
     * presized table takes no page faults in the datapath. */
    if (array_bytes(&t->cur) >= MMAP_MIN_BYTES)
        memset(t->cur.b, 0, array_bytes(&t->cur));
    set_grow_at(t);
    t->max_entries = UINT32_MAX - 1;
    *out = t;
    return 0;
}

void htab_destroy(struct htab *t)
{
    if (!t)
        return;
    array_free(&t->cur);
    array_free(&t->old);
    free(t);
}

/* 'stored' is value + 1 throughout this file. */
static inline bool bucket_put(struct htab_bucket *b, uint32_t sig, uint32_t stored)
{
    for (int i = 0; i < HTAB_BUCKET_SLOTS; i++) {
        if (b->val[i] == 0) {
            b->sig[i] = sig;
            b->val[i] = stored;
            return true;
        }
    }
    return false;
}

static inline void slot_clear(struct htab_bucket *b, int i)
{
    b->sig[i] = 0;
    b->val[i] = 0;
}

/* Split old bucket i into new buckets i and i + n_old. */
static void split_bucket(struct htab *t, uint32_t i)
{
    struct htab_bucket *ob = &t->old.b[i];

    for (int s = 0; s < HTAB_BUCKET_SLOTS; s++) {
        uint32_t sig = ob->sig[s], nb1;

        if (ob->val[s] == 0)
            continue;
        nb1 = sig & t->cur.mask;
        if ((sig & t->old.mask) != i)       /* it sat in its second bucket */
            nb1 ^= htab__alt(sig, t->cur.wmask);
        RP_ASSERT(bucket_put(&t->cur.b[nb1], sig, ob->val[s]));
        slot_clear(ob, s);
    }
}

/* Before anything is written into new bucket j. */
static inline void ensure_split(struct htab *t, uint32_t j)
{
    if (t->old.b) {
        uint32_t i = j & t->old.mask;

        if (i >= t->migrate_pos)
            split_bucket(t, i);
    }
}

/* Unmapping a big old array at once costs milliseconds, so its pages go
 * back piece by piece behind the sweep (nothing reads below migrate_pos),
 * and the final munmap finds little left. */
static void migrate_some(struct htab *t, unsigned n)
{
    uint32_t n_old;

    if (!t->old.b)
        return;
    n_old = n_buckets(&t->old);
    while (n-- && t->migrate_pos < n_old) {
        split_bucket(t, t->migrate_pos++);
        if (t->migrate_pos % RELEASE_BUCKETS == 0 && array_bytes(&t->old) >= MMAP_MIN_BYTES)
            madvise(&t->old.b[t->migrate_pos - RELEASE_BUCKETS], RELEASE_BUCKETS * sizeof(struct htab_bucket),
                    MADV_DONTNEED);
    }
    if (t->migrate_pos == n_old) {
        array_free(&t->old);
        t->migrate_pos = 0;
    }
}

static int grow(struct htab *t)
{
    struct htab_array bigger;
    uint32_t nb = n_buckets(&t->cur) * 2;

    RP_ASSERT(!t->old.b);
    if (nb > HTAB_MAX_BUCKETS)
        return -ENOSPC;
    if (array_alloc(&bigger, nb) < 0)
        return -ENOMEM;
    t->old = t->cur;
    t->cur = bigger;
    t->migrate_pos = 0;
    set_grow_at(t);
    return 0;
}

/* Both buckets of 'sig' are full. Search the window breadth-first for the
 * shortest chain of entries, each moving to its other bucket, that ends in
 * a free slot, then shift the chain from the free end back. A window has
 * HTAB_WINDOW_BUCKETS buckets, so the search reads at most that many and
 * moves fewer entries; it fails only if no chain exists at all. Nothing is
 * written before the chain is complete, so a failure changes nothing. */
static bool bfs_insert(struct htab *t, uint32_t sig, uint32_t stored, uint32_t b1, uint32_t b2)
{
    struct htab_array *a = &t->cur;
    struct node {
        uint32_t bucket;
        int16_t parent;         /* index in q; -1 for b1 and b2 */
        uint8_t slot;           /* slot of the parent whose entry moves here */
    } q[HTAB_WINDOW_BUCKETS];
    uint64_t seen = 1ull << (b1 & a->wmask) | 1ull << (b2 & a->wmask);
    int head = 0, tail = 0;

    q[tail++] = (struct node){b1, -1, 0};
    q[tail++] = (struct node){b2, -1, 0};
    for (; head < tail; head++) {
        struct htab_bucket *x = &a->b[q[head].bucket];

        for (int s = 0; s < HTAB_BUCKET_SLOTS; s++) {
            uint32_t y = q[head].bucket ^ htab__alt(x->sig[s], a->wmask);
            int cur = head, hole = s;

            if (seen & 1ull << (y & a->wmask))
                continue;
            seen |= 1ull << (y & a->wmask);
            ensure_split(t, y);
            if (!bucket_put(&a->b[y], x->sig[s], x->val[s])) {
                q[tail++] = (struct node){y, (int16_t)head, (uint8_t)s};
                continue;
            }
            /* Slot 'hole' of q[cur] is now free: pull each parent's entry
             * down the chain, then the new entry takes the root's slot. */
            while (q[cur].parent >= 0) {
                struct htab_bucket *from = &a->b[q[q[cur].parent].bucket], *to = &a->b[q[cur].bucket];

                to->sig[hole] = from->sig[q[cur].slot];
                to->val[hole] = from->val[q[cur].slot];
                hole = q[cur].slot;
                cur = q[cur].parent;
            }
            a->b[q[cur].bucket].sig[hole] = sig;
            a->b[q[cur].bucket].val[hole] = stored;
            return true;
        }
    }
    return false;
}

static bool place(struct htab *t, uint32_t sig, uint32_t stored)
{
    uint32_t b1 = sig & t->cur.mask, b2 = b1 ^ htab__alt(sig, t->cur.wmask);

    ensure_split(t, b1);
    ensure_split(t, b2);
    if (bucket_put(&t->cur.b[b1], sig, stored) || bucket_put(&t->cur.b[b2], sig, stored))
        return true;
    return bfs_insert(t, sig, stored, b1, b2);
}

int htab_insert(struct htab *t, uint64_t hash, uint32_t value)
{
    uint32_t sig = htab__sig(hash);
    int grow_rc = 0;

    if (value == HTAB_NONE)
        return -EINVAL;
    if (t->count >= t->max_entries)
        return -ENOSPC;
    migrate_some(t, MIGRATE_PER_OP);
    if (t->count >= t->grow_at && !t->old.b) {
        /* If the allocation fails, the table may still have room. */
        grow_rc = grow(t);
        migrate_some(t, MIGRATE_PER_OP);
    }
    if (!place(t, sig, value + 1)) {
        /* A window fills at moderate load only when many entries crowd
         * the same buckets; growing helps unless they share the signature. */
        if (t->old.b || grow_rc < 0 || (uint64_t)t->count * 100 < n_slots(&t->cur) * EARLY_GROW_PCT)
            return grow_rc == -ENOMEM ? -ENOMEM : -ENOSPC;
        grow_rc = grow(t);
        if (grow_rc < 0)
            return grow_rc;
        migrate_some(t, MIGRATE_PER_OP);
        if (!place(t, sig, value + 1))
            return -ENOSPC;
    }
    t->count++;
    return 0;
}

static bool bucket_remove(struct htab_bucket *b, uint32_t sig, uint32_t stored)
{
    for (int i = 0; i < HTAB_BUCKET_SLOTS; i++) {
        if (b->val[i] == stored && b->sig[i] == sig) {
            slot_clear(b, i);
            return true;
        }
    }
    return false;
}

/* Buckets below 'from' are known empty (the swept part of an old array). */
static bool array_remove(const struct htab_array *a, uint32_t sig, uint32_t stored, uint32_t from)
{
    uint32_t b1 = sig & a->mask, b2 = b1 ^ htab__alt(sig, a->wmask);

    return (b1 >= from && bucket_remove(&a->b[b1], sig, stored)) ||
           (b2 >= from && bucket_remove(&a->b[b2], sig, stored));
}

bool htab_remove(struct htab *t, uint64_t hash, uint32_t value)
{
    uint32_t sig = htab__sig(hash);
    bool found;

    if (value == HTAB_NONE)
        return false;
    found = array_remove(&t->cur, sig, value + 1, 0) ||
            (t->old.b && array_remove(&t->old, sig, value + 1, t->migrate_pos));
    if (found)
        t->count--;
    migrate_some(t, MIGRATE_PER_OP);
    return found;
}

void htab__prefetch_old(const struct htab *t, uint32_t sig)
{
    if ((sig & t->old.mask) >= t->migrate_pos)
        RP_PREFETCH(&t->old.b[sig & t->old.mask]);
}

uint32_t htab_count(const struct htab *t)
{
    return t->count;
}

size_t htab_memory(const struct htab *t)
{
    return sizeof(*t) + array_bytes(&t->cur) + (t->old.b ? array_bytes(&t->old) : 0);
}

int htab_set_max(struct htab *t, uint32_t max_entries)
{
    if (max_entries == 0 || max_entries == HTAB_NONE)
        return -EINVAL;
    t->max_entries = max_entries;
    return 0;
}

/* ---- scan ------------------------------------------------------------------
 * The cursor counts windows in bit-reversed order: it advances the highest
 * window-index bit first. A window of a half-size array holds exactly what
 * windows w and w + n_old of the doubled one will hold, so whatever the
 * array size at each call, the windows already visited are the expansions
 * of a prefix of that order, and an entry never moves out of its window
 * (insert chains stay inside; splits go to the two expansions). */

static inline uint64_t rev64(uint64_t v)
{
    v = __builtin_bswap64(v);
    v = ((v >> 4) & 0x0f0f0f0f0f0f0f0full) | ((v & 0x0f0f0f0f0f0f0f0full) << 4);
    v = ((v >> 2) & 0x3333333333333333ull) | ((v & 0x3333333333333333ull) << 2);
    v = ((v >> 1) & 0x5555555555555555ull) | ((v & 0x5555555555555555ull) << 1);
    return v;
}

/* Next window index in bit-reversed order over windows 0..m. */
static inline uint64_t cursor_next(uint64_t v, uint64_t m)
{
    return rev64(rev64(v | ~m) + 1);
}

static inline uint32_t window_buckets(const struct htab_array *a)
{
    return a->wmask + 1;
}

static inline uint32_t n_windows(const struct htab_array *a)
{
    return n_buckets(a) / window_buckets(a);
}

static uint32_t emit_window(const struct htab_array *a, uint32_t w, uint32_t from, uint32_t *out)
{
    uint32_t first = w * window_buckets(a), n = 0;

    for (uint32_t b = first < from ? from : first; b < first + window_buckets(a); b++)
        for (int s = 0; s < HTAB_BUCKET_SLOTS; s++)
            if (a->b[b].val[s] != 0)
                out[n++] = a->b[b].val[s] - 1;
    return n;
}

uint32_t htab_scan(const struct htab *t, uint64_t *cursor, uint32_t *values, uint32_t max)
{
    uint64_t v = *cursor;
    uint32_t n = 0, steps = max / (HTAB_WINDOW_BUCKETS * HTAB_BUCKET_SLOTS);

    RP_ASSERT(max >= HTAB_SCAN_MIN);
    if (v == SCAN_DONE) {
        *cursor = 0;
        return 0;
    }
    while (steps--) {
        const struct htab_array *c = &t->cur, *o = &t->old;

        if (!o->b) {
            uint32_t m = n_windows(c) - 1;

            if (n + window_buckets(c) * HTAB_BUCKET_SLOTS > max)
                break;
            n += emit_window(c, (uint32_t)(v & m), 0, values + n);
            v = cursor_next(v, m);
        } else {
            uint32_t m0 = n_windows(o) - 1, m1 = n_windows(c) - 1, w = (uint32_t)(v & m0);
            uint32_t need = (window_buckets(o) + (m1 != m0 ? 2 : 1) * window_buckets(c)) * HTAB_BUCKET_SLOTS;

            if (n + need > max)
                break;
            n += emit_window(o, w, t->migrate_pos, values + n);
            n += emit_window(c, w, 0, values + n);
            if (m1 != m0)
                n += emit_window(c, w + m0 + 1, 0, values + n);
            v = cursor_next(v, m0);
        }
        if (v == 0) {
            *cursor = n ? SCAN_DONE : 0;
            return n;
        }
    }
    *cursor = v;
    return n;
}
