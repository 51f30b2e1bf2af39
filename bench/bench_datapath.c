/*
 * bench/bench_datapath.c: the datapath fast path in memory on one core:
 * parse, flow cache hit, SNAT rewrite (MACs, source address and port, TTL,
 * incremental checksums) and VXLAN encapsulation, in bursts of 32, with
 * 1k and with 1M active flows. Packets pick their flow at random, so with
 * 1M flows the cache entries, hash buckets and packet templates miss the
 * CPU caches as they would under real traffic.
 *
 * Baselines, measured in the same run on the same packet stream:
 *  - "parse+copy": take a buffer, copy the frame in, flow_key_extract, give
 *    the buffer back: the floor any datapath pays before its own work;
 *  - "chained htab": the same pipeline with the lookup done in a naive
 *    chained hash table (one malloc'd node per flow, same SipHash), as a
 *    straightforward implementation would.
 * Each figure is printed next to a baseline with the ratio, plus the fast
 * path's own cost (full minus parse+copy), peak RSS and bytes per flow.
 */
#include "bench/bench_util.h"
#include "datapath/dp_actions.h"
#include "datapath/dp_flow.h"
#include "lib/hash.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define BURST 32
#define FRAME_SLOT 64       /* bytes per stored template frame */
#define TAGS_PER_FLOW 4     /* three shared (device, port, route) and one of its own (state) */

struct flowset {
    uint32_t n;
    uint8_t *frames;            /* n * FRAME_SLOT */
    uint16_t frame_len;
    struct dp_actions *acts;    /* compiled, one per flow */
};

static int remote_only(void *arg, const struct sim_output *o, uint32_t *port_no)
{
    (void)arg;
    (void)o;
    (void)port_no;
    return -ENOENT;
}

static uint32_t null_tx(void *arg, uint32_t port, struct pkt_buf **bufs, uint32_t n)
{
    (void)port;
    (void)bufs;
    *(uint64_t *)arg += n;
    return n;
}

static struct pkt_spec flow_spec(uint32_t i)
{
    static const uint8_t payload[18] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
    struct pkt_spec s = {
        .eth_src = {0x52, 0x54, 0, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i},
        .eth_dst = {0x52, 0x54, 0, 0, 0, 0xfe},
        .ip_src = 0x0a000000u | (i & 0xffffff), .ip_dst = 0x5db8d822u, .proto = IP_PROTO_UDP, .ttl = 64,
        .sport = (uint16_t)(1024 + (i % 50000)), .dport = 443,
        .payload = payload, .payload_len = sizeof(payload),
    };
    return s;
}

static int flowset_build(struct flowset *fs, uint32_t n)
{
    struct sim_output out;
    struct sim_result r;
    struct dp_compile_env env = {.local_port = remote_only};

    fs->n = n;
    /* The templates stand in for an rx ring: huge pages, so that the
     * baseline measures copying and parsing rather than TLB walks. */
    fs->frames = aligned_alloc(2u << 20, ((size_t)n * FRAME_SLOT + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1));
    fs->acts = malloc((size_t)n * sizeof(*fs->acts));
    if (!fs->frames || !fs->acts)
        return -ENOMEM;
    (void)madvise(fs->frames, (size_t)n * FRAME_SLOT, MADV_HUGEPAGE);
    memset(&r, 0, sizeof(r));
    r.verdict = SIM_FORWARD;
    r.outputs = &out;
    r.n_outputs = 1;
    for (uint32_t i = 0; i < n; i++) {
        struct pkt_spec s = flow_spec(i);
        struct flow_key key;
        struct pkt_layout lo;
        int len = pkt_build_ipv4(fs->frames + (size_t)i * FRAME_SLOT, FRAME_SLOT, &s);

        if (len <= 0 || flow_key_extract(fs->frames + (size_t)i * FRAME_SLOT, (uint32_t)len, 1, &key, &lo) != PKT_OK)
            return -EINVAL;
        fs->frame_len = (uint16_t)len;
        /* The simulator's answer: router hop with SNAT to a public address
         * and port, out to a port on another host. */
        memset(&out, 0, sizeof(out));
        memcpy(out.pkt.eth_src, (uint8_t[]){0x02, 0, 0, 0, 0, 0x0a}, 6);
        memcpy(out.pkt.eth_dst, (uint8_t[]){0x02, 0, 0, 0, 0, 0x0b}, 6);
        out.pkt.eth_type = ETH_TYPE_IPV4;
        out.pkt.ip_src = 0xcb007100u | (i & 0xff);
        out.pkt.ip_dst = s.ip_dst;
        out.pkt.proto = s.proto;
        out.pkt.ttl = (uint8_t)(s.ttl - 1);
        out.pkt.src_port = (uint16_t)(1024 + ((i * 7919) & 0xfbff));
        out.pkt.dst_port = s.dport;
        out.host_tunnel_ip = 0xc0a80000u | (i & 0xff);
        out.tunnel_key = 1000 + (i & 0xfff);
        if (dp_actions_compile(&key, &r, &env, &fs->acts[i]))
            return -EINVAL;
    }
    return 0;
}

static void flowset_free(struct flowset *fs)
{
    free(fs->frames);
    free(fs->acts);
}

/* Take BURST buffers and fill each with the frame of a random flow: what an
 * rx burst hands the datapath. */
static inline void rx_burst(struct pkt_pool *pool, const struct flowset *fs, uint64_t *rng, struct pkt_buf **bufs,
                            struct flow_key *keys)
{
    uint32_t idx[BURST];

    for (int i = 0; i < BURST; i++) {
        idx[i] = (uint32_t)(bench_rand(rng) % fs->n);
        RP_PREFETCH(fs->frames + (size_t)idx[i] * FRAME_SLOT);
    }
    for (int i = 0; i < BURST; i++) {
        struct pkt_layout lo;
        struct pkt_buf *b = pkt_pool_get(pool);

        memcpy(b->data, fs->frames + (size_t)idx[i] * FRAME_SLOT, fs->frame_len);
        b->len = fs->frame_len;
        b->in_port = 1;
        flow_key_extract(b->data, b->len, 1, &keys[i], &lo);
        bufs[i] = b;
    }
}

/* --- the naive baseline: a chained hash table ----------------------------- */

struct chain_node {
    struct flow_key key;
    struct chain_node *next;
    struct dp_flow flow;        /* same payload as the real cache */
};

struct chain_tab {
    struct chain_node **heads;
    uint64_t mask;
};

static int chain_build(struct chain_tab *t, const struct flowset *fs)
{
    uint64_t nb = 1;

    while (nb < fs->n)
        nb <<= 1;
    t->mask = nb - 1;
    t->heads = calloc(nb, sizeof(*t->heads));
    if (!t->heads)
        return -ENOMEM;
    for (uint32_t i = 0; i < fs->n; i++) {
        struct chain_node *n = calloc(1, sizeof(*n));
        struct pkt_layout lo;
        uint64_t h;

        if (!n)
            return -ENOMEM;
        flow_key_extract(fs->frames + (size_t)i * FRAME_SLOT, fs->frame_len, 1, &n->key, &lo);
        n->flow.key = n->key;
        n->flow.actions = fs->acts[i];
        h = rp_hash_flow64(&n->key) & t->mask;
        n->next = t->heads[h];
        t->heads[h] = n;
    }
    return 0;
}

static void chain_free(struct chain_tab *t)
{
    for (uint64_t b = 0; t->heads && b <= t->mask; b++)
        for (struct chain_node *n = t->heads[b], *next; n; n = next) {
            next = n->next;
            free(n);
        }
    free(t->heads);
}

static inline struct dp_flow *chain_lookup(const struct chain_tab *t, const struct flow_key *k)
{
    for (struct chain_node *n = t->heads[rp_hash_flow64(k) & t->mask]; n; n = n->next)
        if (memcmp(&n->key, k, sizeof(*k)) == 0)
            return &n->flow;
    return NULL;
}

/* CPU time of this thread: other work on the machine (builds, tests) then
 * costs cache misses, but not the wall-clock time it was scheduled out. */
static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- one case -------------------------------------------------------------- */

enum mode { PARSE_COPY, LOOKUP_ONLY, CHAINED, FULL };

static double run(enum mode m, struct pkt_pool *pool, const struct flowset *fs, struct dp_flow_cache *c,
                  const struct chain_tab *ct, struct dp_exec *x, uint64_t packets)
{
    struct pkt_buf *bufs[BURST];
    struct flow_key keys[BURST];
    struct dp_flow *flows[BURST];
    uint64_t rng = 0x9e3779b97f4a7c15ull, sent = 0, now = 1000;
    double t0 = cpu_now();

    for (uint64_t done = 0; done < packets; done += BURST) {
        rx_burst(pool, fs, &rng, bufs, keys);
        if (m == PARSE_COPY) {
            for (int i = 0; i < BURST; i++)
                pkt_pool_put(pool, bufs[i]);
            continue;
        }
        if (m == FULL || m == LOOKUP_ONLY) {
            if (dp_flow_lookup_burst(c, keys, BURST, now, flows) != BURST)
                abort();
            if (m == LOOKUP_ONLY) {
                for (int i = 0; i < BURST; i++)
                    pkt_pool_put(pool, bufs[i]);
                continue;
            }
        } else {
            for (int i = 0; i < BURST; i++)
                if (!(flows[i] = chain_lookup(ct, &keys[i])))
                    abort();
        }
        if (dp_actions_execute(x, bufs, flows, BURST) != BURST)
            abort();
        dp_exec_flush(x, null_tx, &sent);
        now += 1000;
    }
    if ((m == FULL || m == CHAINED) && sent < packets)
        abort();
    return cpu_now() - t0;
}

static void bench_case(uint32_t n_flows, uint64_t packets, uint64_t chain_packets)
{
    struct flowset fs = {0};
    struct dp_flow_cache *c = NULL;
    struct chain_tab ct = {0};
    struct pkt_pool *pool = NULL;
    struct dp_exec *x = NULL;
    struct dp_flow_config fc = {.max_flows = n_flows, .max_tag_refs = n_flows * TAGS_PER_FLOW,
                                .max_tags = n_flows + 16, .idle_timeout_ns = 10000000000ull};
    struct dp_exec_config xc = {.n_ports = 4, .tunnel_port = 0, .local_tunnel_ip = htonl(0xc0a80001u),
                                .local_mac = {0x02, 0, 0, 0, 0, 1}, .nexthop_mac = {0x02, 0, 0, 0, 0, 2}};
    double t_base, t_chain, t_full, t_lookup, setup;
    char name[96];

    if (flowset_build(&fs, n_flows) || pkt_pool_create(&pool, 256) || dp_flow_cache_create(&c, &fc)) {
        fprintf(stderr, "setup failed\n");
        exit(1);
    }
    xc.pool = pool;
    if (dp_exec_create(&x, &xc))
        exit(1);
    setup = bench_now();
    for (uint32_t i = 0; i < n_flows; i++) {
        struct flow_key key;
        struct pkt_layout lo;
        uint64_t tags[TAGS_PER_FLOW] = {0x0100000000000001ull, 0x0200000000000002ull, 0x0300000000000003ull,
                                        0x0800000000000000ull | i};

        flow_key_extract(fs.frames + (size_t)i * FRAME_SLOT, fs.frame_len, 1, &key, &lo);
        if (dp_flow_insert(c, &key, &fs.acts[i], tags, TAGS_PER_FLOW, 0, NULL)) {
            fprintf(stderr, "insert %u failed\n", i);
            exit(1);
        }
    }
    setup = bench_now() - setup;
    if (chain_build(&ct, &fs))
        exit(1);

    /* Warm up once, then measure each mode on the same stream. */
    run(FULL, pool, &fs, c, &ct, x, packets / 4);
    t_base = run(PARSE_COPY, pool, &fs, c, &ct, x, packets);
    t_chain = run(CHAINED, pool, &fs, c, &ct, x, chain_packets);
    t_full = run(FULL, pool, &fs, c, &ct, x, packets);
    t_lookup = run(LOOKUP_ONLY, pool, &fs, c, &ct, x, packets);

    printf("--- %u flows, %llu packets, bursts of %d (insert: %.0f ns/flow) ---\n", n_flows,
           (unsigned long long)packets, BURST, setup * 1e9 / n_flows);
    snprintf(name, sizeof(name), "hit+SNAT+VXLAN %uk flows", n_flows / 1000);
    bench_report(name, (double)packets, t_full, "parse+copy", (double)packets, t_base);
    bench_report(name, (double)packets, t_full, "chained htab", (double)chain_packets, t_chain);
    printf("  fast path alone (full - parse+copy): %.2f ns/packet, of which cache lookup %.2f, actions %.2f; "
           "chained htab alone: %.2f ns/packet\n",
           (t_full - t_base) * 1e9 / (double)packets, (t_lookup - t_base) * 1e9 / (double)packets,
           (t_full - t_lookup) * 1e9 / (double)packets,
           t_chain * 1e9 / (double)chain_packets - t_base * 1e9 / (double)packets);
    printf("  flow cache: %.1f MiB, %.0f bytes/flow with %d tags each (entry %zu B); peak RSS %.0f MiB\n",
           (double)dp_flow_memory(c) / (1024.0 * 1024.0), (double)dp_flow_memory(c) / n_flows, TAGS_PER_FLOW,
           sizeof(struct dp_flow), bench_peak_rss_mib());
    dp_exec_destroy(x);
    dp_flow_cache_destroy(c);
    chain_free(&ct);
    pkt_pool_destroy(pool);
    flowset_free(&fs);
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : "";  /* "1k" or "1m": one case */

    /* Run as the daemon should: glibc's malloc asking for transparent huge
     * pages, so that the hash table lib/ allocates gets them like the
     * cache's own pools (the TLB misses otherwise cost about 70 ns per
     * packet at 1M flows here). The tunable is read at start: re-exec. */
    if (!getenv("GLIBC_TUNABLES") && !getenv("BENCH_NO_REEXEC")) {
        setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1);
        execv("/proc/self/exe", argv);
    }
    printf("GLIBC_TUNABLES=%s\n", getenv("GLIBC_TUNABLES") ? getenv("GLIBC_TUNABLES") : "(unset)");

    struct dp_flow_cache *c = NULL;
    struct dp_flow_config fc = {.max_flows = 1u << 20, .max_tag_refs = 1, .max_tags = 1};

    rp_hash_init();
    /* Bytes per flow of the cache alone (entry, free stack, key index). */
    if (dp_flow_cache_create(&c, &fc) == 0) {
        printf("flow cache without tags: %.0f bytes/flow at 1M flows\n", (double)dp_flow_memory(c) / fc.max_flows);
        dp_flow_cache_destroy(c);
    }
    if (strcmp(only, "1m") != 0)
        bench_case(1000, 20u << 20, 20u << 20);
    if (strcmp(only, "1k") != 0)
        bench_case(1u << 20, 8u << 20, 2u << 20);   /* the chained table is slow: fewer packets */
    printf("peak RSS %.0f MiB\n", bench_peak_rss_mib());
    return 0;
}
