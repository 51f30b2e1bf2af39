/*
 * nat/ at 1M and 10M entries: conntrack commits and return-flow checks,
 * SNAT decisions (nat_allocate: address, port search in leased blocks,
 * both hash keys) and lookups both ways, memory per entry (RSS growth per
 * entry, and the tables' own accounting), and the incremental rewrite of a
 * frame.
 *
 * Baseline, measured in the same run on the same tuples with the same keyed
 * hash (rp_siphash): a plain chained hash table with one malloc'd node per
 * entry, its bucket array presized to the entry count (no rehash, load 1).
 * For NAT the baseline decides the way a simple NAT does: the address by a
 * hash of the source, then random ports in the whole range until the reply
 * tuple is free in a second chained table (at most 128 tries), no blocks.
 * The rewrite baseline recomputes the IPv4 header and TCP checksums in full.
 *
 * Queries are in random order over the inserted entries; "now" is fixed, so
 * nothing expires while measured.
 */
#include "bench/bench_util.h"
#include "lib/csum.h"
#include "lib/hash.h"
#include "lib/packet.h"
#include "nat/nat.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <stdlib.h>

#define N_QUERIES (2u << 20)
#define ZONE 0x0123456789abcdefull
#define NOW 1000000000000ull
#define N_ADDRS 4096u
#define TOUCH_BURST 32            /* SNAT targets: 198.18.0.0/20 */

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Flow i: a distinct inside source per i (below 2^24), one of 65536
 * remotes, UDP. */
static inline struct nat_tuple flow(uint32_t i)
{
    uint32_t r = (uint32_t)mix64(i) & 0xffff;

    return (struct nat_tuple){.zone = ZONE, .src = htonl(0x0a000000u | i), .dst = htonl(0x08080000u | r),
                              .sport = htons((uint16_t)(1024 + (i & 0x3fff))), .dport = htons(53),
                              .proto = IP_PROTO_UDP};
}

static uint32_t *order;   /* query order: random indexes below n */

static void make_order(uint32_t n)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;

    for (uint32_t q = 0; q < N_QUERIES; q++)
        order[q] = (uint32_t)(bench_rand(&s) % n);
}

/* --- baseline: chained, malloc per entry -------------------------------------- */

struct key {
    uint64_t zone;
    rp_be32 src, dst;
    rp_be16 sport, dport;
    uint8_t proto, kind;
    uint16_t pad;
};

static inline uint64_t key_hash(const struct nat_tuple *t, uint8_t kind)
{
    struct key k = {.zone = t->zone, .src = t->src, .dst = t->dst, .sport = t->sport, .dport = t->dport,
                    .proto = t->proto, .kind = kind};

    return rp_siphash(&k, sizeof(k));
}

static inline bool tuple_eq(const struct nat_tuple *a, const struct nat_tuple *b)
{
    return a->zone == b->zone && a->src == b->src && a->dst == b->dst && a->sport == b->sport &&
           a->dport == b->dport && a->proto == b->proto;
}

struct ct_node {
    struct ct_node *next;
    struct nat_tuple t;
    uint64_t last_ns;
    uint8_t tcp_state;
};

struct nat_node {
    struct nat_node *next_fwd, *next_rev;
    struct nat_tuple t;
    rp_be32 xaddr;
    rp_be16 xport;
    uint64_t last_ns;
};

struct chain {
    void **b;
    uint64_t mask;
};

/* What malloc really holds for one node. */
static size_t node_bytes(size_t size)
{
    void *p = malloc(size);
    size_t u = malloc_usable_size(p) + 8;

    free(p);
    return u;
}

static void chain_init(struct chain *c, uint32_t n)
{
    uint64_t nb = 1;

    while (nb < n)
        nb <<= 1;
    c->b = calloc(nb, sizeof(void *));
    c->mask = nb - 1;
    if (!c->b)
        abort();
}

static void ct_base_insert(struct chain *c, const struct nat_tuple *t)
{
    uint64_t h = key_hash(t, 0);
    struct ct_node *n = malloc(sizeof(*n));

    if (!n)
        abort();
    for (struct ct_node *e = c->b[h & c->mask]; e; e = e->next)
        if (tuple_eq(&e->t, t))
            abort();
    *n = (struct ct_node){.next = c->b[h & c->mask], .t = *t, .last_ns = NOW};
    c->b[h & c->mask] = n;
}

static bool ct_base_is_return(struct chain *c, const struct nat_tuple *reply)
{
    struct nat_tuple t = nat_tuple_reverse(reply);

    for (struct ct_node *e = c->b[key_hash(&t, 0) & c->mask]; e; e = e->next)
        if (tuple_eq(&e->t, &t)) {
            e->last_ns = NOW;
            return true;
        }
    return false;
}

static void ct_base_free(struct chain *c)
{
    for (uint64_t i = 0; i <= c->mask; i++)
        for (struct ct_node *e = c->b[i], *nx; e; e = nx) {
            nx = e->next;
            free(e);
        }
    free(c->b);
}

static inline struct nat_tuple reply_of(const struct nat_tuple *o, rp_be32 xaddr, rp_be16 xport)
{
    return (struct nat_tuple){.zone = o->zone, .src = o->dst, .dst = xaddr, .sport = o->dport, .dport = xport,
                              .proto = o->proto};
}

static struct nat_node *nat_base_find_rev(struct chain *rev, const struct nat_tuple *r)
{
    for (struct nat_node *e = rev->b[key_hash(r, 1) & rev->mask]; e; e = e->next_rev) {
        struct nat_tuple er = reply_of(&e->t, e->xaddr, e->xport);
        if (tuple_eq(&er, r))
            return e;
    }
    return NULL;
}

static struct nat_node *nat_base_find_fwd(struct chain *fwd, const struct nat_tuple *o)
{
    for (struct nat_node *e = fwd->b[key_hash(o, 2) & fwd->mask]; e; e = e->next_fwd)
        if (tuple_eq(&e->t, o))
            return e;
    return NULL;
}

static bool nat_base_allocate(struct chain *fwd, struct chain *rev, const struct nat_tuple *o, uint64_t *rs,
                              rp_be32 *xa, rp_be16 *xp)
{
    struct key ak = {.zone = o->zone, .src = o->src};
    rp_be32 addr = htonl(0xc6120000u + (uint32_t)(rp_siphash(&ak, sizeof(ak)) % N_ADDRS));

    if (nat_base_find_fwd(fwd, o))
        return false;
    for (int probe = 0; probe < 128; probe++) {
        rp_be16 port = htons((uint16_t)(1024 + bench_rand(rs) % 64512));
        struct nat_tuple r = reply_of(o, addr, port);

        if (nat_base_find_rev(rev, &r))
            continue;
        struct nat_node *n = malloc(sizeof(*n));
        if (!n)
            abort();
        *n = (struct nat_node){.t = *o, .xaddr = addr, .xport = port, .last_ns = NOW};
        uint64_t hf = key_hash(o, 2) & fwd->mask, hr = key_hash(&r, 1) & rev->mask;
        n->next_fwd = fwd->b[hf];
        fwd->b[hf] = n;
        n->next_rev = rev->b[hr];
        rev->b[hr] = n;
        *xa = addr;
        *xp = port;
        return true;
    }
    return false;
}

static void nat_base_free(struct chain *fwd, struct chain *rev)
{
    for (uint64_t i = 0; i <= fwd->mask; i++)
        for (struct nat_node *e = fwd->b[i], *nx; e; e = nx) {
            nx = e->next_fwd;
            free(e);
        }
    free(fwd->b);
    free(rev->b);
}

/* --- runs ---------------------------------------------------------------------------- */

static struct nat_tables *tables(uint32_t max_ct, uint32_t max_nat, uint32_t max_pools)
{
    struct nat_config cfg;
    struct nat_tables *t;

    nat_config_default(&cfg);
    cfg.max_conntrack = max_ct;
    cfg.max_nat = max_nat;
    cfg.max_pools = max_pools;
    if (nat_tables_create(&t, &cfg) < 0)
        abort();
    return t;
}

/* Memory per entry: RSS growth over the fill, and bytes accounted (ours:
 * nat_get_memory; baseline: malloc_usable_size + 8 bytes of chunk header
 * per node, plus the bucket arrays). The ratio is of the accounted bytes. */
static void mem_line(const char *what, uint32_t n, double rss_mib, double acct, double base_rss_mib,
                     double base_acct)
{
    printf("%-44s %6.1f B/entry RSS, %6.1f accounted | baseline chained malloc %6.1f B/entry RSS, %6.1f "
           "accounted | %6.2fx | peak RSS %.0f MiB\n",
           what, rss_mib * 1048576.0 / n, acct / n, base_rss_mib * 1048576.0 / n, base_acct / n, acct / base_acct,
           bench_peak_rss_mib());
}

static void bench_ct(uint32_t n)
{
    char name[64];
    double t0, rss0, ins_s, look_s, b_ins_s, b_look_s, rss_ours, rss_base, touch_s, b_touch_s;
    unsigned hits = 0, b_hits = 0, touched = 0, b_touched = 0;
    struct nat_memory m;
    /* Room for a ref or a pointer per flow. */
    struct nat_state_ref *refs = malloc((size_t)n * (sizeof(*refs) > sizeof(void *) ? sizeof(*refs) : sizeof(void *)));

    if (!refs)
        abort();
    memset(refs, 0xff, (size_t)n * sizeof(*refs));   /* not 0: malloc+memset(0) may become an untouched calloc */

    /* ours */
    rss0 = bench_rss_mib();
    t0 = bench_now();
    struct nat_tables *t = tables(n, 1024, 16);
    for (uint32_t i = 0; i < n; i++) {
        struct nat_tuple f = flow(i);
        if (nat_ct_commit(t, &f, 0, NOW, &refs[i]) != 0)
            abort();
    }
    ins_s = bench_now() - t0;
    rss_ours = bench_rss_mib() - rss0;
    nat_get_memory(t, &m);
    t0 = bench_now();
    for (uint32_t q = 0; q < N_QUERIES; q++) {
        struct nat_tuple f = flow(order[q]), r = nat_tuple_reverse(&f);
        hits += nat_ct_is_return(t, &r, NOW);
    }
    look_s = bench_now() - t0;
    /* The datapath's call: refresh the refs of 32 cached flows at a time. */
    t0 = bench_now();
    for (uint32_t q = 0; q < N_QUERIES; q += TOUCH_BURST) {
        struct nat_state_ref burst[TOUCH_BURST];

        for (unsigned j = 0; j < TOUCH_BURST; j++)
            burst[j] = refs[order[q + j]];
        touched += nat_touch_burst(t, burst, NULL, TOUCH_BURST, NOW + 1);
    }
    touch_s = bench_now() - t0;
    nat_tables_destroy(t);

    /* baseline */
    struct chain c;
    rss0 = bench_rss_mib();
    t0 = bench_now();
    chain_init(&c, n);
    for (uint32_t i = 0; i < n; i++) {
        struct nat_tuple f = flow(i);
        ct_base_insert(&c, &f);
    }
    b_ins_s = bench_now() - t0;
    rss_base = bench_rss_mib() - rss0;
    t0 = bench_now();
    for (uint32_t q = 0; q < N_QUERIES; q++) {
        struct nat_tuple f = flow(order[q]), r = nat_tuple_reverse(&f);
        b_hits += ct_base_is_return(&c, &r);
    }
    b_look_s = bench_now() - t0;
    /* Baseline touch: a flow cache holding node pointers, one at a time. */
    struct ct_node **nodes = (struct ct_node **)refs;   /* same memory, reused */
    for (uint64_t i = 0; i <= c.mask; i++)
        for (struct ct_node *e = c.b[i]; e; e = e->next)
            nodes[ntohl(e->t.src) & 0xffffff] = e;
    t0 = bench_now();
    for (uint32_t q = 0; q < N_QUERIES; q++) {
        struct ct_node *e = nodes[order[q]];
        e->last_ns = NOW + 1;
        b_touched++;
    }
    b_touch_s = bench_now() - t0;
    ct_base_free(&c);
    malloc_trim(0);   /* so that the next run's RSS growth is its own */
    free(refs);
    if (hits != N_QUERIES || b_hits != N_QUERIES || touched != N_QUERIES || b_touched != N_QUERIES)
        abort();

    snprintf(name, sizeof(name), "ct commit, %uM entries (presized)", n >> 20);
    bench_report(name, n, ins_s, "chained malloc", n, b_ins_s);
    snprintf(name, sizeof(name), "ct return check, %uM entries, random", n >> 20);
    bench_report(name, N_QUERIES, look_s, "chained malloc", N_QUERIES, b_look_s);
    snprintf(name, sizeof(name), "touch by ref, bursts of %u, %uM entries", TOUCH_BURST, n >> 20);
    bench_report(name, N_QUERIES, touch_s, "pointer, one at a time", N_QUERIES, b_touch_s);
    snprintf(name, sizeof(name), "ct memory, %uM entries", n >> 20);
    mem_line(name, n, rss_ours, (double)m.ct_bytes, rss_base,
             (double)n * (double)(node_bytes(sizeof(struct ct_node))) + (double)(c.mask + 1) * sizeof(void *));
}

static void bench_snat(uint32_t n)
{
    struct nat_target tg = {.addr_from = htonl(0xc6120000u), .addr_to = htonl(0xc6120000u + N_ADDRS - 1),
                            .port_from = 1024, .port_to = 65535};
    char name[64];
    double t0, rss0, ins_s, fwd_s, rev_s, b_ins_s, b_fwd_s, b_rev_s, rss_ours, rss_base;
    unsigned hits = 0, b_hits = 0;
    rp_be32 *xa = malloc((size_t)n * sizeof(*xa));
    rp_be16 *xp = malloc((size_t)n * sizeof(*xp));
    struct nat_memory m;
    struct nat_stats st;
    uint64_t rs = 88172645463325252ull;

    if (!xa || !xp)
        abort();
    memset(xa, 0xff, (size_t)n * sizeof(*xa));
    memset(xp, 0xff, (size_t)n * sizeof(*xp));

    /* ours */
    rss0 = bench_rss_mib();
    t0 = bench_now();
    struct nat_tables *t = tables(1024, n, N_ADDRS);
    for (uint32_t i = 0; i < n; i++) {
        struct nat_tuple f = flow(i);
        struct nat_binding b;
        if (nat_allocate(t, NAT_KIND_SNAT, &f, &tg, 1, NOW, &b) != 0)
            abort();
        xa[i] = b.addr;
        xp[i] = b.port;
    }
    ins_s = bench_now() - t0;
    rss_ours = bench_rss_mib() - rss0;
    nat_get_memory(t, &m);
    nat_get_stats(t, &st);
    t0 = bench_now();
    for (uint32_t q = 0; q < N_QUERIES; q++) {
        struct nat_tuple f = flow(order[q]);
        struct nat_binding b;
        hits += nat_lookup(t, NAT_KIND_SNAT, &f, NOW, &b) == 0;
    }
    fwd_s = bench_now() - t0;
    t0 = bench_now();
    for (uint32_t q = 0; q < N_QUERIES; q++) {
        uint32_t i = order[q];
        struct nat_tuple f = flow(i), r = reply_of(&f, xa[i], xp[i]);
        struct nat_binding b;
        hits += nat_reverse_lookup(t, NAT_KIND_SNAT, &r, NOW, &b) == 0;
    }
    rev_s = bench_now() - t0;
    nat_tables_destroy(t);

    /* baseline */
    struct chain fwd, rev;
    rss0 = bench_rss_mib();
    t0 = bench_now();
    chain_init(&fwd, n);
    chain_init(&rev, n);
    for (uint32_t i = 0; i < n; i++) {
        struct nat_tuple f = flow(i);
        if (!nat_base_allocate(&fwd, &rev, &f, &rs, &xa[i], &xp[i]))
            abort();
    }
    b_ins_s = bench_now() - t0;
    rss_base = bench_rss_mib() - rss0;
    t0 = bench_now();
    for (uint32_t q = 0; q < N_QUERIES; q++) {
        struct nat_tuple f = flow(order[q]);
        struct nat_node *e = nat_base_find_fwd(&fwd, &f);
        if (e)
            e->last_ns = NOW;
        b_hits += e != NULL;
    }
    b_fwd_s = bench_now() - t0;
    t0 = bench_now();
    for (uint32_t q = 0; q < N_QUERIES; q++) {
        uint32_t i = order[q];
        struct nat_tuple f = flow(i), r = reply_of(&f, xa[i], xp[i]);
        struct nat_node *e = nat_base_find_rev(&rev, &r);
        if (e)
            e->last_ns = NOW;
        b_hits += e != NULL;
    }
    b_rev_s = bench_now() - t0;
    nat_base_free(&fwd, &rev);
    free(xa);
    free(xp);
    malloc_trim(0);
    if (hits != 2 * N_QUERIES || b_hits != 2 * N_QUERIES)
        abort();

    snprintf(name, sizeof(name), "snat allocate, %uM bindings", n >> 20);
    bench_report(name, n, ins_s, "random ports, no blocks", n, b_ins_s);
    snprintf(name, sizeof(name), "snat lookup (forward), %uM, random", n >> 20);
    bench_report(name, N_QUERIES, fwd_s, "chained malloc", N_QUERIES, b_fwd_s);
    snprintf(name, sizeof(name), "snat reverse lookup, %uM, random", n >> 20);
    bench_report(name, N_QUERIES, rev_s, "chained malloc", N_QUERIES, b_rev_s);
    snprintf(name, sizeof(name), "nat memory, %uM bindings", n >> 20);
    mem_line(name, n, rss_ours, (double)m.nat_bytes, rss_base,
             (double)n * (double)(node_bytes(sizeof(struct nat_node))) + 2.0 * (double)(fwd.mask + 1) * sizeof(void *));
    printf("  (SNAT port pools: %.1f MiB for %u addresses, %u blocks leased; not in the per-binding figure)\n",
           (double)m.pool_bytes / 1048576.0, N_ADDRS, st.blocks_leased);
}

static void bench_rewrite(void)
{
    uint8_t frame[128];
    struct pkt_spec s = {.ip_src = 0x0a000005, .ip_dst = 0x08080808, .proto = IP_PROTO_TCP, .ttl = 64,
                         .sport = 40000, .dport = 443, .tcp_flags = TCP_ACK};
    struct flow_key k;
    struct pkt_layout l;
    const unsigned iters = 20u << 20;
    double t0, ours, base;
    uint32_t sink = 0;
    int len = pkt_build_ipv4(frame, sizeof(frame), &s);

    if (len < 0 || flow_key_extract(frame, (uint32_t)len, 1, &k, &l) != PKT_OK)
        abort();
    t0 = bench_now();
    for (unsigned i = 0; i < iters; i++) {
        struct nat_xlate x = {.addr = htonl(0xc6120000u + (i & 0xff)), .port = htons((uint16_t)(1024 + i)),
                              .side = NAT_SIDE_SRC, .what = NAT_XLATE_ADDR | NAT_XLATE_PORT};
        nat_rewrite(frame, (size_t)len, &l, &x);
        sink += frame[l.l4_ofs + 16];
    }
    ours = bench_now() - t0;
    t0 = bench_now();
    for (unsigned i = 0; i < iters; i++) {
        uint8_t *ip = frame + l.l3_ofs, *tcp = frame + l.l4_ofs;
        rp_be32 a = htonl(0xc6120000u + (i & 0xff)), src, dst;
        rp_be16 p = htons((uint16_t)(1024 + i)), c;

        memcpy(ip + 12, &a, 4);
        memcpy(tcp, &p, 2);
        memset(ip + 10, 0, 2);
        c = csum_ipv4_header(ip, 20);
        memcpy(ip + 10, &c, 2);
        memset(tcp + 16, 0, 2);
        memcpy(&src, ip + 12, 4);
        memcpy(&dst, ip + 16, 4);
        c = csum_tcpudp_ipv4(src, dst, IP_PROTO_TCP, tcp, (uint16_t)(len - l.l4_ofs));
        memcpy(tcp + 16, &c, 2);
        sink += frame[l.l4_ofs + 16];
    }
    base = bench_now() - t0;
    bench_report("rewrite tcp src addr+port (54-byte frame)", iters, ours, "full recompute", iters, base);
    if (sink == 0xdeadbeef)
        printf("%u\n", sink);
}

int main(void)
{
    double t0 = bench_now();

    rp_hash_init();
    order = malloc(N_QUERIES * sizeof(*order));
    if (!order)
        abort();
    printf("bench_nat: nat/ tables at 1M and 10M entries; baseline in the same run (see the file header)\n");
    bench_rewrite();
    for (uint32_t n = 1u << 20; n <= 10u << 20; n *= 10) {
        make_order(n);
        bench_ct(n);
        bench_snat(n);
    }
    free(order);
    printf("total %.1f s, peak RSS %.0f MiB\n", bench_now() - t0, bench_peak_rss_mib());
    return 0;
}
