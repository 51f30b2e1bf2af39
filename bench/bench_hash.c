/*
 * lib/hash as an exact-match flow cache: a pool of 64-byte flow keys, the
 * table maps rp_hash_flow64(key) to pool indexes, a lookup compares the
 * 64-byte key of each candidate. At 1M and 10M flows: insert rate (from an
 * empty table, so growth included, and presized), the slowest batch of 64
 * inserts, lookup hits in random order one at a time and in prefetched
 * batches of 16 (buckets only, and pipelined through the pool entry),
 * misses, the same with the flow hash computed per lookup, and memory per
 * entry. Also the flow hash itself (SipHash-1-3 over 64
 * bytes) next to SipHash-2-4.
 *
 * Baseline, measured in the same run on the same keys and hashes: a plain
 * chained hash table, one malloc'd node per entry, a bucket array doubled
 * with a full rehash at load 1.
 *
 * Query keys are regenerated from their index into a hot buffer, as a
 * datapath holds the packet's key; only the table and the pool entry miss.
 */
#include "bench/bench_util.h"
#include "lib/hash.h"

#include <malloc.h>
#include <stdlib.h>

#define N_QUERIES (4u << 20)
#define BATCH 16

struct flow {
    uint64_t w[8];
};

struct query {
    uint64_t hash;
    uint32_t idx;
};

static struct flow *pool;
static uint64_t *hashes;
static struct query *q_hit, *q_miss;

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A 64-byte key that is a function of i: cheap to rebuild, unique per i. */
static inline void gen_key(uint32_t i, struct flow *k)
{
    uint64_t m = mix64(i);

    k->w[0] = m;
    k->w[1] = i;
    for (int j = 2; j < 8; j++)
        k->w[j] = m * (uint64_t)(2 * j + 1);
}

static inline bool key_eq(const struct flow *a, const struct flow *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

/* --- baseline: chained table of malloc'd nodes --------------------------- */

struct cnode {
    struct cnode *next;
    uint64_t hash;
    uint32_t value;
};

struct ctab {
    struct cnode **b;
    uint64_t mask, count;
};

static void ctab_init(struct ctab *t, uint64_t cap)
{
    uint64_t nb = 16;

    while (nb < cap)
        nb <<= 1;
    t->b = calloc(nb, sizeof(*t->b));
    if (!t->b)
        abort();
    t->mask = nb - 1;
    t->count = 0;
}

static void ctab_rehash(struct ctab *t)
{
    uint64_t nb = (t->mask + 1) * 2;
    struct cnode **nbk = calloc(nb, sizeof(*nbk));

    if (!nbk)
        abort();
    for (uint64_t i = 0; i <= t->mask; i++) {
        struct cnode *n = t->b[i], *next;
        for (; n; n = next) {
            next = n->next;
            n->next = nbk[n->hash & (nb - 1)];
            nbk[n->hash & (nb - 1)] = n;
        }
    }
    free(t->b);
    t->b = nbk;
    t->mask = nb - 1;
}

static void ctab_insert(struct ctab *t, uint64_t h, uint32_t v)
{
    struct cnode *n = malloc(sizeof(*n));

    if (!n)
        abort();
    if (t->count >= t->mask + 1)
        ctab_rehash(t);
    n->hash = h;
    n->value = v;
    n->next = t->b[h & t->mask];
    t->b[h & t->mask] = n;
    t->count++;
}

static inline uint32_t ctab_find(const struct ctab *t, uint64_t h, const struct flow *key)
{
    for (const struct cnode *n = t->b[h & t->mask]; n; n = n->next)
        if (n->hash == h && key_eq(&pool[n->value], key))
            return n->value;
    return HTAB_NONE;
}

static void ctab_free(struct ctab *t)
{
    for (uint64_t i = 0; i <= t->mask; i++) {
        struct cnode *n = t->b[i], *next;
        for (; n; n = next) {
            next = n->next;
            free(n);
        }
    }
    free(t->b);
}

/* --- the table under test ------------------------------------------------ */

static inline uint32_t flow_find(const struct htab *t, uint64_t h, const struct flow *key)
{
    struct htab_iter it;

    for (uint32_t v = htab_find_first(t, h, &it); v != HTAB_NONE; v = htab_find_next(&it))
        if (key_eq(&pool[v], key))
            return v;
    return HTAB_NONE;
}

/* --- measurements ---------------------------------------------------------- */

static volatile uint64_t sink;

enum mode { ONE, BATCHED, PIPELINED, HASHED };

/* Lookups of qs[0..N_QUERIES): table-only (hash from the query) or with the
 * flow hash computed from the rebuilt key. PIPELINED is what the datapath
 * should do: prefetch the buckets of the batch, then take each first
 * candidate and prefetch its pool entry, then compare. HASHED pipelines
 * too. Returns seconds; *found counts. */
static double run_htab(const struct htab *t, const struct query *qs, enum mode mode, uint64_t *found)
{
    double t0 = bench_now();
    uint64_t hits = 0;

    for (uint32_t i = 0; i < N_QUERIES; i += BATCH) {
        struct flow keys[BATCH];
        uint64_t h[BATCH];

        for (int j = 0; j < BATCH; j++) {
            gen_key(qs[i + j].idx, &keys[j]);
            h[j] = mode == HASHED ? rp_hash_flow64(&keys[j]) : qs[i + j].hash;
            if (mode != ONE)
                htab_prefetch(t, h[j]);
        }
        if (mode >= PIPELINED) {
            struct htab_iter it[BATCH];
            uint32_t v[BATCH];

            for (int j = 0; j < BATCH; j++) {
                v[j] = htab_find_first(t, h[j], &it[j]);
                if (v[j] != HTAB_NONE)
                    RP_PREFETCH(&pool[v[j]]);
            }
            for (int j = 0; j < BATCH; j++) {
                while (v[j] != HTAB_NONE && !key_eq(&pool[v[j]], &keys[j]))
                    v[j] = htab_find_next(&it[j]);
                hits += v[j] != HTAB_NONE;
            }
            continue;
        }
        for (int j = 0; j < BATCH; j++)
            hits += flow_find(t, h[j], &keys[j]) != HTAB_NONE;
    }
    *found = hits;
    return bench_now() - t0;
}

static double run_ctab(const struct ctab *t, const struct query *qs, enum mode mode, uint64_t *found)
{
    double t0 = bench_now();
    uint64_t hits = 0;

    for (uint32_t i = 0; i < N_QUERIES; i += BATCH) {
        struct flow keys[BATCH];
        uint64_t h[BATCH];

        for (int j = 0; j < BATCH; j++) {
            gen_key(qs[i + j].idx, &keys[j]);
            h[j] = mode == HASHED ? rp_hash_flow64(&keys[j]) : qs[i + j].hash;
            if (mode != ONE)
                RP_PREFETCH(&t->b[h[j] & t->mask]);   /* all it can: the node address is behind it */
        }
        if (mode >= PIPELINED) {
            /* one prefetch stage per pointer it follows: node, then pool */
            const struct cnode *nd[BATCH];

            for (int j = 0; j < BATCH; j++) {
                nd[j] = t->b[h[j] & t->mask];
                if (nd[j])
                    RP_PREFETCH(nd[j]);
            }
            for (int j = 0; j < BATCH; j++) {
                while (nd[j] && nd[j]->hash != h[j])
                    nd[j] = nd[j]->next;
                if (nd[j])
                    RP_PREFETCH(&pool[nd[j]->value]);
            }
            for (int j = 0; j < BATCH; j++) {
                while (nd[j] && (nd[j]->hash != h[j] || !key_eq(&pool[nd[j]->value], &keys[j])))
                    nd[j] = nd[j]->next;
                hits += nd[j] != NULL;
            }
            continue;
        }
        for (int j = 0; j < BATCH; j++)
            hits += ctab_find(t, h[j], &keys[j]) != HTAB_NONE;
    }
    *found = hits;
    return bench_now() - t0;
}

static void check_found(const char *what, uint64_t got, uint64_t want)
{
    if (got != want) {
        printf("FAILED: %s found %llu of %llu\n", what, (unsigned long long)got, (unsigned long long)want);
        exit(1);
    }
}

static void bench_size(uint32_t n)
{
    struct htab *t;
    struct ctab c;
    uint64_t s = 0x2545f4914f6cdd1dull, f1, f2;
    double t0, th, tc, worst_h = 0, worst_c = 0, rss0, rss_h, rss_c;
    char name[96];
    const char *mode_name[] = {"one at a time", "batches of 16, buckets prefetched",
                               "batches of 16, pipelined (+ pool entry)", "+ flow hash, pipelined batches"};

    printf("--- %u flows (64-byte keys) ---\n", n);
    pool = aligned_alloc(64, (size_t)n * sizeof(*pool));
    hashes = malloc((size_t)n * sizeof(*hashes));
    q_hit = malloc(N_QUERIES * sizeof(*q_hit));
    q_miss = malloc(N_QUERIES * sizeof(*q_miss));
    if (!pool || !hashes || !q_hit || !q_miss)
        abort();
    for (uint32_t i = 0; i < n; i++) {
        gen_key(i, &pool[i]);
        hashes[i] = rp_hash_flow64(&pool[i]);
    }
    for (uint32_t i = 0; i < N_QUERIES; i++) {
        struct flow k;
        uint32_t r = (uint32_t)(((bench_rand(&s) >> 32) * n) >> 32);

        q_hit[i] = (struct query){hashes[r], r};
        gen_key(n + i, &k);
        q_miss[i] = (struct query){rp_hash_flow64(&k), n + i};
    }

    /* inserts from an empty table: growth included; slowest batch of 64 */
    rss0 = bench_rss_mib();
    if (htab_create(&t, 0) < 0)
        abort();
    t0 = bench_now();
    for (uint32_t i = 0; i < n; i += 64) {
        double b0 = bench_now(), d;
        for (uint32_t j = i; j < i + 64 && j < n; j++)
            if (htab_insert(t, hashes[j], j) < 0)
                abort();
        d = bench_now() - b0;
        worst_h = d > worst_h ? d : worst_h;
    }
    th = bench_now() - t0;
    rss_h = bench_rss_mib() - rss0;
    ctab_init(&c, 16);
    rss0 = bench_rss_mib();
    t0 = bench_now();
    for (uint32_t i = 0; i < n; i += 64) {
        double b0 = bench_now(), d;
        for (uint32_t j = i; j < i + 64 && j < n; j++)
            ctab_insert(&c, hashes[j], j);
        d = bench_now() - b0;
        worst_c = d > worst_c ? d : worst_c;
    }
    tc = bench_now() - t0;
    rss_c = bench_rss_mib() - rss0;
    bench_report("insert, growing from empty", n, th, "chained+malloc", n, tc);
    printf("  slowest batch of 64 inserts: htab %.1f us, chained %.1f us (its full rehash)\n", worst_h * 1e6,
           worst_c * 1e6);
    printf("  memory per entry: htab %.1f B (htab_memory; RSS +%.1f B, growth %s), chained %.1f B (RSS +%.1f B)"
           " | %.2fx less\n",
           (double)htab_memory(t) / n, rss_h * 1048576.0 / n, t->old.b ? "still under way" : "finished",
           (double)((c.mask + 1) * sizeof(void *) + c.count * (malloc_usable_size(c.b[hashes[0] & c.mask]) + 8)) / n,
           rss_c * 1048576.0 / n, rss_c / rss_h);

    /* lookups */
    for (enum mode m = ONE; m <= HASHED; m++) {
        th = run_htab(t, q_hit, m, &f1);
        tc = run_ctab(&c, q_hit, m, &f2);
        check_found("hit lookups", f1, N_QUERIES);
        check_found("baseline hit lookups", f2, N_QUERIES);
        snprintf(name, sizeof(name), "lookup hit, %s", mode_name[m]);
        bench_report(name, N_QUERIES, th, "chained+malloc", N_QUERIES, tc);
    }
    th = run_htab(t, q_miss, PIPELINED, &f1);
    tc = run_ctab(&c, q_miss, PIPELINED, &f2);
    check_found("miss lookups", f1 + f2, 0);
    bench_report("lookup miss, pipelined batches of 16", N_QUERIES, th, "chained+malloc", N_QUERIES, tc);
    htab_destroy(t);
    ctab_free(&c);

    /* presized: the flow cache sized at start for its pool */
    if (htab_create(&t, n) < 0)
        abort();
    t0 = bench_now();
    for (uint32_t i = 0; i < n; i++)
        if (htab_insert(t, hashes[i], i) < 0)
            abort();
    th = bench_now() - t0;
    ctab_init(&c, n);
    t0 = bench_now();
    for (uint32_t i = 0; i < n; i++)
        ctab_insert(&c, hashes[i], i);
    tc = bench_now() - t0;
    bench_report("insert, presized", n, th, "chained+malloc", n, tc);
    printf("  presized memory per entry: htab %.1f B\n", (double)htab_memory(t) / n);
    htab_destroy(t);
    ctab_free(&c);

    free(pool);
    free(hashes);
    free(q_hit);
    free(q_miss);
}

static void bench_hash_functions(void)
{
    enum { N = 10000000 };
    struct flow k;
    uint64_t acc = 0;
    double t0, tf, ts;

    gen_key(7, &k);
    t0 = bench_now();
    for (uint32_t i = 0; i < N; i++) {
        k.w[1] = i;
        acc += rp_hash_flow64(&k);
    }
    tf = bench_now() - t0;
    t0 = bench_now();
    for (uint32_t i = 0; i < N; i++) {
        k.w[1] = i;
        acc += rp_siphash(&k, sizeof(k));
    }
    ts = bench_now() - t0;
    sink = acc;
    bench_report("rp_hash_flow64 (SipHash-1-3, 64 B)", N, tf, "SipHash-2-4 64 B", N, ts);
}

int main(void)
{
    double t0 = bench_now();

    rp_hash_init();
    bench_hash_functions();
    bench_size(1000000);
    bench_size(10000000);
    printf("total %.1f s, peak RSS %.0f MiB (whole process: key pool, query lists, both tables)\n",
           bench_now() - t0, bench_peak_rss_mib());
    return 0;
}
