/*
 * lib/lpm on a million random prefixes with an Internet-like length mix:
 * build time and memory, lookups per second (random and sequential keys,
 * bursts of 32 and one at a time), update rates and the cost of single
 * updates of short prefixes, and the memory of small tenant-router tables.
 * The baseline, measured in the same run on the same prefixes and keys, is
 * a plain binary (unibit) trie.
 */
#include "bench/bench_util.h"
#include "lib/lpm.h"

#include <stdlib.h>

#define N_PREFIXES 1000000
#define MAX_ADDS (N_PREFIXES + N_PREFIXES / 10)
#define N_KEYS (1u << 22)
#define N_TRIE_KEYS (1u << 20)
#define ROUNDS 3
#define BURST 32
#define N_UPDATES 100000
#define N_TENANTS 2000

/* --- baseline: unibit trie ---------------------------------------------------- */

struct trie_node {
    uint32_t child[2];
    uint32_t value;
};

struct utrie {
    struct trie_node *n;
    uint32_t used, cap;
};

static struct utrie big;

static uint32_t trie_new(struct utrie *t)
{
    if (t->used == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->n = realloc(t->n, t->cap * sizeof(*t->n));
        if (!t->n)
            abort();
    }
    t->n[t->used] = (struct trie_node){{0, 0}, LPM_NONE};
    return t->used++;
}

static void trie_set(struct utrie *t, uint32_t p, uint8_t len, uint32_t v)
{
    uint32_t n = 0;

    if (!t->used)
        trie_new(t);
    for (uint8_t i = 0; i < len; i++) {
        unsigned bit = (p >> (31 - i)) & 1;

        if (!t->n[n].child[bit]) {
            uint32_t c = trie_new(t);
            t->n[n].child[bit] = c;
        }
        n = t->n[n].child[bit];
    }
    t->n[n].value = v;
}

static uint32_t trie_lookup(const struct utrie *t, uint32_t a)
{
    uint32_t n = 0, best = t->n[0].value;

    for (int i = 0; i < 32; i++) {
        n = t->n[n].child[(a >> (31 - i)) & 1];
        if (!n)
            break;
        if (t->n[n].value != LPM_NONE)
            best = t->n[n].value;
    }
    return best;
}

/* --- inputs ----------------------------------------------------------------------- */

/* Per 10,000 prefixes, roughly today's IPv4 table (/24 the bulk, then
 * /22-/23, /16-/21, a few shorter), with more /25../32 than BGP carries,
 * as the provider router also holds host and small-subnet routes. */
static uint8_t realistic_len(uint64_t *s)
{
    static const struct { uint16_t upto; uint8_t len; } mix[] = {
        {8, 8},       {15, 10},     {30, 12},    {50, 14},   {180, 16},  {260, 17},  {390, 18},
        {640, 19},    {1090, 20},   {1590, 21},  {2690, 22}, {3490, 23}, {9490, 24}, {9550, 25},
        {9610, 26},   {9670, 27},   {9730, 28},  {9800, 29}, {9860, 30}, {9900, 31}, {10000, 32},
    };
    uint32_t r = (uint32_t)(bench_rand(s) % 10000);

    for (unsigned i = 0; i < sizeof(mix) / sizeof(mix[0]); i++)
        if (r < mix[i].upto)
            return mix[i].len;
    return 24;
}

static uint32_t pfx[MAX_ADDS], vals_in[MAX_ADDS];
static uint8_t lens[MAX_ADDS];
static uint32_t keys_rand[N_KEYS], keys_seq[N_KEYS], out[N_KEYS];

static uint32_t mask_of(uint8_t len)
{
    return len ? ~0u << (32 - len) : 0;
}

static void lookups(const struct lpm *l, const char *what, const uint32_t *keys, uint64_t *sink)
{
    double t0, tb, ts, tt;
    char name[80];

    t0 = bench_now();
    for (int r = 0; r < ROUNDS; r++) {
        for (unsigned i = 0; i < N_KEYS; i += BURST)
            lpm_lookup_bulk(l, keys + i, out + i, BURST);
        *sink += out[r] + out[N_KEYS - 1 - r];
    }
    tb = bench_now() - t0;
    t0 = bench_now();
    for (int r = 0; r < ROUNDS; r++)
        for (unsigned i = 0; i < N_KEYS; i++)
            *sink += lpm_lookup(l, keys[i]);
    ts = bench_now() - t0;
    t0 = bench_now();
    for (unsigned i = 0; i < N_TRIE_KEYS; i++)
        *sink += trie_lookup(&big, keys[i]);
    tt = bench_now() - t0;
    snprintf(name, sizeof(name), "lookup %s, bursts of %d", what, BURST);
    bench_report(name, (double)N_KEYS * ROUNDS, tb, "unibit trie", N_TRIE_KEYS, tt);
    snprintf(name, sizeof(name), "lookup %s, one at a time", what);
    bench_report(name, (double)N_KEYS * ROUNDS, ts, "unibit trie", N_TRIE_KEYS, tt);
}

/* Time one add and one delete of a prefix of length len over the full
 * table, in microseconds (the worst single updates BGP can send). */
static void short_prefix_update(struct lpm *l, uint8_t len, uint64_t *s)
{
    uint32_t p = (uint32_t)bench_rand(s) & mask_of(len), v;
    double t0, ta, td;

    while (lpm_get(l, p, len, &v) == 0)
        p = (uint32_t)bench_rand(s) & mask_of(len);
    t0 = bench_now();
    lpm_add(l, p, len, 4242);
    ta = bench_now() - t0;
    t0 = bench_now();
    lpm_del(l, p, len);
    td = bench_now() - t0;
    printf("  single update of a /%-2u over the full table: add %9.1f us, delete %9.1f us\n", len, ta * 1e6,
           td * 1e6);
}

/* Tenant routers: a default route, two subnets, a /32 per router port, a
 * floating-IP /32. RSS per table next to the same routes in unibit tries. */
static void tenant_tables(uint64_t *s)
{
    static struct lpm *t[N_TENANTS];
    static struct utrie ut[N_TENANTS];
    double rss0 = bench_rss_mib(), t0 = bench_now(), secs, rss_lpm, t_trie;
    size_t mem = 0, trie_bytes = 0;
    struct {
        uint32_t p, v;
        uint8_t len;
    } r[6];

    for (int i = 0; i < N_TENANTS; i++) {
        uint32_t net = 0x0a000000u | ((uint32_t)bench_rand(s) & 0x00ffff00u);

        r[0].p = 0, r[0].len = 0;
        r[1].p = net, r[1].len = 24;
        r[2].p = net ^ 0x100, r[2].len = 24;
        r[3].p = net | 1, r[3].len = 32;
        r[4].p = (net ^ 0x100) | 1, r[4].len = 32;
        r[5].p = 0xc6336400u | (uint32_t)(bench_rand(s) & 0xff), r[5].len = 32;
        if (lpm_create(&t[i]) < 0)
            abort();
        for (int k = 0; k < 6; k++)
            if (lpm_add(t[i], r[k].p, r[k].len, (uint32_t)k) < 0)
                abort();
        mem += lpm_memory(t[i]);
    }
    secs = bench_now() - t0;
    rss_lpm = bench_rss_mib() - rss0;
    rss0 = bench_rss_mib();
    t0 = bench_now();
    for (int i = 0; i < N_TENANTS; i++) {
        for (int k = 0; k < 6; k++)
            trie_set(&ut[i], r[k].p, r[k].len, (uint32_t)k);
        trie_bytes += ut[i].cap * sizeof(struct trie_node);
    }
    t_trie = bench_now() - t0;
    printf("tenant routers: %d tables of 6 routes: RSS %.1f KiB/table, %.1f us to build one"
           " | baseline unibit trie: RSS %.1f KiB/table (%.1f KiB allocated), %.1f us"
           " | lpm_memory %.1f MiB/table, nearly all unbacked address space\n",
           N_TENANTS, rss_lpm * 1024.0 / N_TENANTS, secs * 1e6 / N_TENANTS,
           (bench_rss_mib() - rss0) * 1024.0 / N_TENANTS, trie_bytes / 1024.0 / N_TENANTS,
           t_trie * 1e6 / N_TENANTS, mem / 1048576.0 / N_TENANTS);
    for (int i = 0; i < N_TENANTS; i++) {
        lpm_destroy(t[i]);
        free(ut[i].n);
    }
}

int main(void)
{
    uint64_t s = 42, sink = 0;
    struct lpm *l;
    double t0, t_build, t_trie, rss0, rss_lpm, tu_del, tu_add, tu_trie;
    unsigned n_adds = 0, n_del = 0;

    double t_start = bench_now();
    for (unsigned i = 0; i < N_KEYS; i++) {
        keys_rand[i] = (uint32_t)bench_rand(&s);
        keys_seq[i] = 0x0a000000u + i;   /* consecutive addresses, as a scan sends */
    }
    if (lpm_create(&l) < 0)
        return 1;

    /* Build: random prefixes until a million distinct ones are in. */
    rss0 = bench_rss_mib();
    t0 = bench_now();
    while (lpm_count(l) < N_PREFIXES && n_adds < MAX_ADDS) {
        uint8_t len = realistic_len(&s);

        lens[n_adds] = len;
        pfx[n_adds] = (uint32_t)bench_rand(&s) & mask_of(len);
        vals_in[n_adds] = (uint32_t)(bench_rand(&s) % 1000000);
        if (lpm_add(l, pfx[n_adds], len, vals_in[n_adds]) < 0)
            return 1;
        n_adds++;
    }
    t_build = bench_now() - t0;
    rss_lpm = bench_rss_mib() - rss0;
    t0 = bench_now();
    for (unsigned i = 0; i < n_adds; i++)
        trie_set(&big, pfx[i], lens[i], vals_in[i]);
    t_trie = bench_now() - t0;
    bench_report("build (adds into a growing table)", n_adds, t_build, "unibit trie", n_adds, t_trie);
    printf("  %u prefixes in %.2f s [target < 10 s]; lpm_memory %.1f MiB, RSS +%.1f MiB [target < 200 MB]"
           " | unibit trie %.1f MiB\n",
           lpm_count(l), t_build, lpm_memory(l) / 1048576.0, rss_lpm, big.used * sizeof(*big.n) / 1048576.0);

    /* Same answers as the baseline, random keys and prefix edges. */
    for (unsigned i = 0; i < 2 * N_TRIE_KEYS; i++) {
        uint32_t a = i < N_TRIE_KEYS ? keys_rand[i] : pfx[i % n_adds] + (i & 1 ? ~mask_of(lens[i % n_adds]) : 0);
        if (lpm_lookup(l, a) != trie_lookup(&big, a)) {
            printf("MISMATCH at %08x: lpm %u, trie %u\n", a, lpm_lookup(l, a), trie_lookup(&big, a));
            return 1;
        }
    }

    lookups(l, "random keys", keys_rand, &sink);
    lookups(l, "sequential keys", keys_seq, &sink);

    /* Incremental updates on the full table: withdraw then re-announce. */
    t0 = bench_now();
    for (unsigned i = 0; i < N_UPDATES; i++)
        n_del += lpm_del(l, pfx[i], lens[i]) == 0;
    tu_del = bench_now() - t0;
    t0 = bench_now();
    for (unsigned i = 0; i < N_UPDATES; i++)
        lpm_add(l, pfx[i], lens[i], vals_in[i] ^ 1);
    tu_add = bench_now() - t0;
    t0 = bench_now();
    for (unsigned i = 0; i < N_UPDATES; i++)
        trie_set(&big, pfx[i], lens[i], vals_in[i] ^ 1);
    tu_trie = bench_now() - t0;
    bench_report("update: delete on the full table", n_del, tu_del, "unibit trie set", N_UPDATES, tu_trie);
    bench_report("update: add on the full table", N_UPDATES, tu_add, "unibit trie set", N_UPDATES, tu_trie);
    for (uint8_t len = 8; len <= 20; len += 4)
        short_prefix_update(l, len, &s);
    t0 = bench_now();
    lpm_add(l, 0, 0, 4343);
    lpm_del(l, 0, 0);
    printf("  default route add + delete: %.2f us\n", (bench_now() - t0) * 1e6);
    printf("  after the updates: %u prefixes, lpm_memory %.1f MiB\n", lpm_count(l), lpm_memory(l) / 1048576.0);
    for (unsigned i = 0; i < N_TRIE_KEYS; i++)
        if (lpm_lookup(l, keys_rand[i]) != trie_lookup(&big, keys_rand[i])) {
            printf("MISMATCH after updates at %08x\n", keys_rand[i]);
            return 1;
        }
    lookups(l, "random keys after the updates", keys_rand, &sink);

    tenant_tables(&s);
    printf("peak RSS %.0f MiB (whole process: keys %.0f MiB, baseline trie %.0f MiB included); total %.1f s"
           "  [sink %llu]\n",
           bench_peak_rss_mib(), 3.0 * N_KEYS * 4 / 1048576.0 + 9.0 * MAX_ADDS / 1048576.0,
           big.cap * sizeof(*big.n) / 1048576.0, bench_now() - t_start, (unsigned long long)sink);
    lpm_destroy(l);
    free(big.n);
    return 0;
}
