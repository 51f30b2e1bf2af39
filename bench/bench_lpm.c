/*
 * LPM on 1M random prefixes (a realistic length mix): build time, memory,
 * lookups per second with random and sequential keys, update rate; next to
 * a plain binary (unibit) trie holding the same prefixes, in the same run.
 */
#include "bench/bench_util.h"
#include "lib/lpm.h"

#include <stdlib.h>

#define N_PREFIXES 1000000
#define N_KEYS (1 << 22)
#define ROUNDS 4

struct trie_node {
    uint32_t child[2];
    uint32_t value;
};

static struct trie_node *trie;
static uint32_t trie_n, trie_cap;

static uint32_t trie_new(void)
{
    if (trie_n == trie_cap) {
        trie_cap = trie_cap ? trie_cap * 2 : 1 << 20;
        trie = realloc(trie, trie_cap * sizeof(*trie));
    }
    trie[trie_n] = (struct trie_node){{0, 0}, LPM_NONE};
    return trie_n++;
}

static void trie_add(uint32_t p, uint8_t len, uint32_t v)
{
    uint32_t n = 0;
    for (uint8_t i = 0; i < len; i++) {
        unsigned bit = (p >> (31 - i)) & 1;
        if (!trie[n].child[bit]) {
            uint32_t c = trie_new();
            trie[n].child[bit] = c;
        }
        n = trie[n].child[bit];
    }
    trie[n].value = v;
}

static uint32_t trie_lookup(uint32_t a)
{
    uint32_t n = 0, best = trie[0].value;
    for (int i = 0; i < 32; i++) {
        n = trie[n].child[(a >> (31 - i)) & 1];
        if (!n)
            break;
        if (trie[n].value != LPM_NONE)
            best = trie[n].value;
    }
    return best;
}

static uint8_t realistic_len(uint64_t *s)
{
    /* Roughly the shape of today's IPv4 table: ~60% /24, then /22-/23, /16-/21, a few longer. */
    uint32_t r = (uint32_t)(bench_rand(s) % 1000);
    if (r < 600) return 24;
    if (r < 760) return (uint8_t)(22 + r % 2);
    if (r < 940) return (uint8_t)(16 + r % 6);
    if (r < 960) return (uint8_t)(8 + r % 8);
    return (uint8_t)(25 + r % 8);
}

int main(void)
{
    static uint32_t pfx[N_PREFIXES], vals[N_KEYS], keys_rand[N_KEYS], keys_seq[N_KEYS];
    static uint8_t lens[N_PREFIXES];
    uint64_t s = 42;
    struct lpm *l;
    double t0, t_build, t_trie;
    uint64_t sink = 0;

    for (int i = 0; i < N_PREFIXES; i++) {
        lens[i] = realistic_len(&s);
        pfx[i] = (uint32_t)bench_rand(&s) & (lens[i] ? ~0u << (32 - lens[i]) : 0);
    }
    for (int i = 0; i < N_KEYS; i++) {
        keys_rand[i] = (uint32_t)bench_rand(&s);
        keys_seq[i] = 0x01000000u + (uint32_t)i * 13;   /* neighbouring addresses, as a scan would */
    }

    double rss0 = bench_rss_mib();
    t0 = bench_now();
    if (lpm_create(&l) < 0)
        return 1;
    for (int i = 0; i < N_PREFIXES; i++)
        lpm_add(l, pfx[i], lens[i], (uint32_t)i & 0xffff);
    t_build = bench_now() - t0;
    double rss_lpm = bench_rss_mib() - rss0;

    t0 = bench_now();
    trie_new();
    for (int i = 0; i < N_PREFIXES; i++)
        trie_add(pfx[i], lens[i], (uint32_t)i & 0xffff);
    t_trie = bench_now() - t0;

    printf("LPM build: %u prefixes in %.2f s (%.0f adds/s), lpm_memory %.1f MiB, RSS +%.1f MiB"
           " | baseline unibit trie build %.2f s, %.1f MiB | target: < 10 s, < 200 MB\n",
           lpm_count(l), t_build, N_PREFIXES / t_build, lpm_memory(l) / 1048576.0, rss_lpm, t_trie,
           trie_n * sizeof(*trie) / 1048576.0);

    /* Correctness spot check before timing anything. */
    for (int i = 0; i < 100000; i++)
        if (lpm_lookup(l, keys_rand[i]) != trie_lookup(keys_rand[i])) {
            printf("MISMATCH at key %u\n", keys_rand[i]);
            return 1;
        }

    const struct { const char *name; uint32_t *keys; } sets[] = {{"random keys", keys_rand}, {"sequential keys", keys_seq}};
    for (int k = 0; k < 2; k++) {
        double tb, ts, tt;
        char name[80];

        t0 = bench_now();
        for (int r = 0; r < ROUNDS; r++) {
            lpm_lookup_bulk(l, sets[k].keys, vals, N_KEYS);
            sink += vals[r];
        }
        tb = bench_now() - t0;
        t0 = bench_now();
        for (int r = 0; r < ROUNDS; r++)
            for (int i = 0; i < N_KEYS; i++)
                sink += lpm_lookup(l, sets[k].keys[i]);
        ts = bench_now() - t0;
        t0 = bench_now();
        for (int i = 0; i < N_KEYS; i++)
            sink += trie_lookup(sets[k].keys[i]);
        tt = bench_now() - t0;
        snprintf(name, sizeof(name), "LPM lookup, bulk, %s", sets[k].name);
        bench_report(name, (double)N_KEYS * ROUNDS, tb, "unibit trie", N_KEYS, tt);
        snprintf(name, sizeof(name), "LPM lookup, single, %s", sets[k].name);
        bench_report(name, (double)N_KEYS * ROUNDS, ts, "unibit trie", N_KEYS, tt);
    }

    /* Incremental updates on the full table: withdraw and re-announce. */
    t0 = bench_now();
    for (int i = 0; i < 200000; i++)
        lpm_del(l, pfx[i], lens[i]);
    for (int i = 0; i < 200000; i++)
        lpm_add(l, pfx[i], lens[i], 7);
    double tu = bench_now() - t0;
    t0 = bench_now();
    for (int i = 0; i < 200000; i++)
        trie_add(pfx[i], lens[i], 7);
    double tut = bench_now() - t0;
    bench_report("LPM update (del+add) on the full table", 400000, tu, "unibit trie add", 200000, tut);
    printf("target: >= 50 Mlps with random keys (bulk)  [sink %llu]\n", (unsigned long long)sink);
    lpm_destroy(l);
    free(trie);
    return 0;
}
