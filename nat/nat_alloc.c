/*
 * nat/nat_alloc.c: the NAT decision: which translated address and port a
 * new binding gets, the port blocks SNAT ports come from, and the local
 * block allocator.
 *
 * SNAT: the address is picked by a hash of (zone, inside source), so one
 * inside host keeps one public address across its flows; the port comes
 * from blocks this host leased for (zone, address). The search starts at a
 * random port among the leased blocks' ports that lie in the target range
 * and walks on from there; a port is free when no binding holds the reply
 * tuple (remote -> address:port), so one port serves many remotes. At most
 * NAT_MAX_PROBES lookups per decision, over every address tried; when the
 * leased blocks are full towards this remote, another block is leased.
 *
 * Blocks are a fixed partition of the port space (first port a multiple of
 * NAT_BLOCK_PORTS), so blocks leased for overlapping ranges never overlap
 * each other. Each pool (zone, address) counts bindings per block; a sweep
 * every block_hold_s marks blocks found empty and releases those still
 * empty at the next sweep.
 */
#include "nat/nat_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NAT_MAX_ADDRS 4     /* addresses tried per decision */
#define NAT_MAX_LEASES 4    /* blocks leased per decision */

/* --- pools of leased blocks ---------------------------------------------------- */

int nat_pools_init(struct nat_tables *t)
{
    uint32_t n = t->cfg.max_pools;
    int rc;

    t->pools = calloc(n, sizeof(*t->pools));
    if (!t->pools)
        return -ENOMEM;
    if ((rc = htab_create(&t->pool_idx, n)) < 0) {
        free(t->pools);
        t->pools = NULL;
        return rc;
    }
    /* Pools are 4 KiB each and most tables use few: hand out slots from a
     * high-water mark so that unused ones are never touched. */
    t->pool_free = HTAB_NONE;
    t->pool_hwm = 0;
    t->pool_last = 0;
    return 0;
}

static uint64_t pool_hash(uint64_t zone, rp_be32 addr)
{
    struct nat_key k = {.zone = zone, .src = addr, .kind = NAT_KEY_POOL};

    return nat_key_hash(&k);
}

/* Set or clear block b in a bitmap and keep its word summary (bit w set
 * iff word w is not 0), so that searches skip empty words. */
static void bit_set(uint64_t *bits, uint32_t *words, uint32_t b)
{
    bits[b / 64] |= 1ull << (b % 64);
    *words |= 1u << (b / 64);
}

static void bit_clear(uint64_t *bits, uint32_t *words, uint32_t b)
{
    bits[b / 64] &= ~(1ull << (b % 64));
    if (!bits[b / 64])
        *words &= ~(1u << (b / 64));
}

/* Ports a block has (port 0 is never handed out). */
static uint32_t block_ports(uint32_t b)
{
    return b ? NAT_BLOCK_PORTS : NAT_BLOCK_PORTS - 1;
}

/* Keep the notfull bit of leased block b equal to bindings < ports. */
static void pool_note_fill(struct nat_pool *p, uint32_t b)
{
    if (p->bindings[b] < block_ports(b))
        bit_set(p->notfull, &p->notfull_words, b);
    else
        bit_clear(p->notfull, &p->notfull_words, b);
}

static void pool_release_block(struct nat_tables *t, struct nat_pool *p, uint32_t b)
{
    bit_clear(p->leased, &p->leased_words, b);
    p->marked[b / 64] &= ~(1ull << (b % 64));
    bit_clear(p->notfull, &p->notfull_words, b);
    p->n_leased--;
    t->st.blocks_leased--;
    t->st.blocks_released++;
    t->alloc_ops->release(t->alloc_ctx, p->zone, p->addr, (uint16_t)(b * NAT_BLOCK_PORTS));
}

void nat_pools_fini(struct nat_tables *t)
{
    if (t->pools) {
        /* Blocks go back to the allocator: a store-backed one must not keep
         * them leased for a host whose tables are gone. */
        for (uint32_t i = 0; i < t->pool_hwm; i++) {
            struct nat_pool *p = &t->pools[i];

            for (uint32_t w = 0; p->live && w < NAT_POOL_WORDS; w++)
                while (p->leased[w])
                    pool_release_block(t, p, w * 64 + (uint32_t)__builtin_ctzll(p->leased[w]));
        }
    }
    htab_destroy(t->pool_idx);
    free(t->pools);
}

static uint32_t pool_find(struct nat_tables *t, uint64_t zone, rp_be32 addr)
{
    uint32_t last = t->pool_last;
    struct htab_iter it;

    /* Most decisions in a row are for the same public address: remember
     * the last pool found and skip the keyed hash. A slot freed and reused
     * since fails the comparison. */
    if (last < t->pool_hwm && t->pools[last].live && t->pools[last].zone == zone && t->pools[last].addr == addr)
        return last;
    for (uint32_t v = htab_find_first(t->pool_idx, pool_hash(zone, addr), &it); v != HTAB_NONE;
         v = htab_find_next(&it))
        if (t->pools[v].live && t->pools[v].zone == zone && t->pools[v].addr == addr)
            return t->pool_last = v;
    return HTAB_NONE;
}

static int pool_get(struct nat_tables *t, uint64_t zone, rp_be32 addr, uint64_t now_ns, uint32_t *out)
{
    uint32_t i = pool_find(t, zone, addr);
    struct nat_pool *p;

    if (i != HTAB_NONE) {
        *out = i;
        return 0;
    }
    i = t->pool_free != HTAB_NONE ? t->pool_free : t->pool_hwm < t->cfg.max_pools ? t->pool_hwm : HTAB_NONE;
    if (i == HTAB_NONE || htab_insert(t->pool_idx, pool_hash(zone, addr), i) < 0) {
        t->st.nat_full++;
        return -ENOSPC;
    }
    p = &t->pools[i];
    if (i == t->pool_free)
        t->pool_free = p->next_free;
    else
        t->pool_hwm++;
    memset(p, 0, sizeof(*p));
    p->zone = zone;
    p->addr = addr;
    p->live = 1;
    p->last_sweep_ns = now_ns;
    t->pool_live++;
    *out = i;
    return 0;
}

static void pool_put_if_empty(struct nat_tables *t, uint32_t i)
{
    struct nat_pool *p = &t->pools[i];
    bool removed;

    if (p->n_leased)
        return;
    removed = htab_remove(t->pool_idx, pool_hash(p->zone, p->addr), i);
    RP_ASSERT(removed);
    p->live = 0;
    p->next_free = t->pool_free;
    t->pool_free = i;
    t->pool_live--;
}

static bool pool_has_block(const struct nat_pool *p, uint32_t b)
{
    return (p->leased[b / 64] >> (b % 64)) & 1;
}

static void pool_bind(struct nat_tables *t, uint32_t pool, uint16_t port)
{
    struct nat_pool *p = &t->pools[pool];
    uint32_t b = port / NAT_BLOCK_PORTS;

    RP_ASSERT(pool_has_block(p, b));
    p->bindings[b]++;
    p->marked[b / 64] &= ~(1ull << (b % 64));
    pool_note_fill(p, b);
}

void nat_pool_unbind(struct nat_tables *t, uint32_t pool, uint16_t port)
{
    struct nat_pool *p = &t->pools[pool];
    uint32_t b = port / NAT_BLOCK_PORTS;

    RP_ASSERT(p->live && p->bindings[b] > 0);
    p->bindings[b]--;
    pool_note_fill(p, b);
}

unsigned nat_pools_sweep_some(struct nat_tables *t, uint64_t now_ns, unsigned *work)
{
    uint64_t hold = (uint64_t)t->cfg.block_hold_s * 1000000000ull;
    uint32_t n = t->pool_hwm, i = (uint32_t)t->pool_cursor;
    unsigned released = 0;

    /* Free slots cost (almost) nothing: the work is the live pools' blocks,
     * and one call walks the pool array at most once. */
    for (uint32_t seen = 0; seen < n && *work > 0 && t->pool_live > 0; seen++) {
        struct nat_pool *p;

        if (i >= n)
            i = 0;
        p = &t->pools[i];

        if (p->live && now_ns >= p->last_sweep_ns + hold) {
            uint32_t cost = 1 + p->n_leased;   /* at most 1 + NAT_POOL_BLOCKS */

            *work = *work > cost ? *work - cost : 0;
            p->last_sweep_ns = now_ns;
            for (uint32_t w = 0; w < NAT_POOL_WORDS; w++) {
                for (uint64_t bits = p->leased[w]; bits; bits &= bits - 1) {
                    uint32_t b = w * 64 + (uint32_t)__builtin_ctzll(bits);
                    uint64_t bit = 1ull << (b % 64);

                    if (p->bindings[b]) {
                        p->marked[w] &= ~bit;
                    } else if (p->marked[w] & bit) {
                        pool_release_block(t, p, b);
                        released++;
                    } else {
                        p->marked[w] |= bit;
                    }
                }
            }
            pool_put_if_empty(t, i);
        }
        if (++i == n)
            i = 0;
    }
    t->pool_cursor = i;
    return released;
}

/* --- the decision ------------------------------------------------------------------ */

static bool proto_has_ports(uint8_t proto)
{
    return proto == IP_PROTO_TCP || proto == IP_PROTO_UDP || proto == IP_PROTO_ICMP;
}

static bool targets_ok(const struct nat_target *tg, unsigned n, uint64_t *n_addrs)
{
    uint64_t total = 0;

    if (!tg || !n)
        return false;
    for (unsigned i = 0; i < n; i++) {
        if (ntohl(tg[i].addr_from) > ntohl(tg[i].addr_to) || tg[i].port_from > tg[i].port_to ||
            tg[i].port_to == 0)
            return false;
        total += (uint64_t)ntohl(tg[i].addr_to) - ntohl(tg[i].addr_from) + 1;
    }
    *n_addrs = total;
    return true;
}

/* The address at 'off' in the concatenated ranges, and its target. */
static rp_be32 addr_at(const struct nat_target *tg, unsigned n, uint64_t off, unsigned *ti)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t size = (uint64_t)ntohl(tg[i].addr_to) - ntohl(tg[i].addr_from) + 1;

        if (off < size) {
            *ti = i;
            return htonl(ntohl(tg[i].addr_from) + (uint32_t)off);
        }
        off -= size;
    }
    RP_ASSERT(0);
    return 0;
}

/* The reply tuple a candidate translation would have. */
static void candidate_reply(uint8_t kind, const struct nat_tuple *o, rp_be32 xaddr, rp_be16 xport,
                            struct nat_tuple *r)
{
    struct nat_entry e = {.zone = o->zone, .src = o->src, .dst = o->dst, .sport = o->sport, .dport = o->dport,
                          .proto = o->proto, .kind = kind, .xaddr = xaddr, .xport = xport};

    nat_entry_reply(&e, r);
}

struct search {
    struct nat_tables *t;
    uint8_t kind;
    const struct nat_tuple *orig;
    uint64_t now_ns;
    unsigned probes;
    rp_be32 addr;
    uint16_t port;      /* host order: the result */
};

static bool probe(struct search *s, uint16_t port)
{
    struct nat_tuple r;

    s->probes++;
    candidate_reply(s->kind, s->orig, s->addr, htons(port), &r);
    if (nat_reply_taken(s->t, s->kind, &r, s->now_ns))
        return false;
    s->port = port;
    return true;
}

/* Ports of block b that lie in lo..hi (port 0 never): first and count. */
static uint32_t block_span(uint32_t b, uint16_t lo, uint16_t hi, uint32_t *first)
{
    uint32_t a = b * NAT_BLOCK_PORTS, z = a + NAT_BLOCK_PORTS - 1;

    if (a < lo)
        a = lo;
    if (a == 0)
        a = 1;
    if (z > hi)
        z = hi;
    *first = a;
    return a <= z ? z - a + 1 : 0;
}

/* Probe the ports of block b inside lo..hi from a random one, wrapping,
 * at most 'limit' times. */
static bool search_block(struct search *s, uint32_t b, uint16_t lo, uint16_t hi, unsigned limit)
{
    uint32_t first, cnt = block_span(b, lo, hi, &first), off;

    if (!cnt)
        return false;
    off = (uint32_t)(nat_rand(s->t) % cnt);
    for (uint32_t done = 0; done < cnt && done < limit && s->probes < NAT_MAX_PROBES; done++) {
        if (probe(s, (uint16_t)(first + off)))
            return true;
        if (++off == cnt)
            off = 0;
    }
    return false;
}

/* Bits from..to (inclusive) of word w of a bitmap. */
static uint64_t word_in(const uint64_t *bits, uint32_t w, uint32_t from, uint32_t to)
{
    uint64_t m = bits[w];

    if (w == from / 64)
        m &= UINT64_MAX << (from % 64);
    if (w == to / 64 && to % 64 != 63)
        m &= (2ull << (to % 64)) - 1;
    return m;
}

/* The words from/64..to/64 that the summary says are not 0. */
static uint32_t words_in(uint32_t words, uint32_t from, uint32_t to)
{
    uint32_t lo = from / 64, hi = to / 64;

    words &= UINT32_MAX << lo;
    if (hi < 31)
        words &= (2u << hi) - 1;
    return words;
}

/* The lowest bit from..to (inclusive) set in a bitmap with its word
 * summary, or UINT32_MAX: at most one step per non-empty word. */
static uint32_t first_bit(const uint64_t *bits, uint32_t words, uint32_t from, uint32_t to)
{
    if (from > to)
        return UINT32_MAX;
    for (uint32_t ws = words_in(words, from, to); ws; ws &= ws - 1) {
        uint32_t w = (uint32_t)__builtin_ctz(ws);
        uint64_t m = word_in(bits, w, from, to);

        if (m)
            return w * 64 + (uint32_t)__builtin_ctzll(m);
    }
    return UINT32_MAX;
}

/* The next leased block after b in blo..bhi holding ports of lo..hi,
 * wrapping to the first; b itself when it is the only one. */
static uint32_t next_leased(const struct nat_pool *p, uint32_t b, uint32_t blo, uint32_t bhi, uint16_t lo,
                            uint16_t hi)
{
    uint32_t first, n;

    /* Only the end blocks can hold no port of the range (lo..hi cuts
     * them); after one wrap, b itself qualifies, so this ends. */
    for (uint32_t tries = 0; tries < 3; tries++) {
        n = b < bhi ? first_bit(p->leased, p->leased_words, b + 1, bhi) : UINT32_MAX;
        if (n == UINT32_MAX)
            n = first_bit(p->leased, p->leased_words, blo, bhi);
        if (n == UINT32_MAX)
            return b;
        if (block_span(n, lo, hi, &first))
            return n;
        b = n;
    }
    return b;
}

/* Ports already leased. A block with fewer bindings than ports in range has
 * a port no binding uses, free towards any remote: the lowest such block
 * is searched first (it always succeeds, and packing keeps other blocks
 * draining towards release). Otherwise every port is in use towards some
 * remote, and up to half the probe budget walks all leased ports from a
 * random one, to reuse a port towards this remote; the rest of the budget
 * is for a new block.
 *
 * Blocks strictly inside lo..hi hold NAT_BLOCK_PORTS ports of the range
 * (block 0 is never strictly inside), so for them "fewer bindings than
 * ports in range" is the notfull bit and the ports in range count by
 * popcount; only the two end blocks, which lo..hi may cut, are looked at
 * one by one. With the word summaries, the search costs a few steps per
 * non-empty bitmap word before its probes, not one per leased block. */
static bool search_leased(struct search *s, const struct nat_pool *p, uint16_t lo, uint16_t hi)
{
    uint32_t blo = lo / NAT_BLOCK_PORTS, bhi = hi / NAT_BLOCK_PORTS;
    uint32_t cnt_lo = 0, cnt_hi = 0, total, start, b, first, cnt, inner;

    if (!p->n_leased)
        return false;
    if (pool_has_block(p, blo))
        cnt_lo = block_span(blo, lo, hi, &first);
    if (cnt_lo && p->bindings[blo] < cnt_lo)
        return search_block(s, blo, lo, hi, NAT_BLOCK_PORTS);
    if (bhi > blo + 1 && (b = first_bit(p->notfull, p->notfull_words, blo + 1, bhi - 1)) != UINT32_MAX)
        return search_block(s, b, lo, hi, NAT_BLOCK_PORTS);
    if (bhi > blo && pool_has_block(p, bhi))
        cnt_hi = block_span(bhi, lo, hi, &first);
    if (cnt_hi && p->bindings[bhi] < cnt_hi)
        return search_block(s, bhi, lo, hi, NAT_BLOCK_PORTS);

    total = cnt_lo + cnt_hi;
    inner = bhi > blo + 1 ? words_in(p->leased_words, blo + 1, bhi - 1) : 0;
    for (uint32_t ws = inner; ws; ws &= ws - 1)
        total += NAT_BLOCK_PORTS *
                 (uint32_t)__builtin_popcountll(word_in(p->leased, (uint32_t)__builtin_ctz(ws), blo + 1, bhi - 1));
    if (!total)
        return false;
    /* The block holding the start'th leased port in range, in block order. */
    start = (uint32_t)(nat_rand(s->t) % total);
    if (start < cnt_lo) {
        b = blo;
    } else {
        start -= cnt_lo;
        b = UINT32_MAX;
        for (uint32_t ws = inner; ws; ws &= ws - 1) {
            uint32_t w = (uint32_t)__builtin_ctz(ws);
            uint64_t m = word_in(p->leased, w, blo + 1, bhi - 1);
            uint32_t in_w = NAT_BLOCK_PORTS * (uint32_t)__builtin_popcountll(m);

            if (start >= in_w) {
                start -= in_w;
                continue;
            }
            for (uint32_t skip = start / NAT_BLOCK_PORTS; skip; skip--)
                m &= m - 1;
            b = w * 64 + (uint32_t)__builtin_ctzll(m);
            start %= NAT_BLOCK_PORTS;
            break;
        }
        if (b == UINT32_MAX)
            b = bhi;    /* the rest lies in the top end block */
    }
    cnt = block_span(b, lo, hi, &first);
    for (uint32_t done = 0; done < total && s->probes < NAT_MAX_PROBES / 2; done++) {
        if (probe(s, (uint16_t)(first + start)))
            return true;
        if (++start == cnt) {
            start = 0;
            b = next_leased(p, b, blo, bhi, lo, hi);
            cnt = block_span(b, lo, hi, &first);
        }
    }
    return false;
}

/* Ports lo..hi directly (DNAT), from 'start', wrapping. */
static bool search_range(struct search *s, uint16_t lo, uint16_t hi, uint32_t start)
{
    uint32_t first = lo ? lo : 1, total = (uint32_t)hi - first + 1, off;

    if (hi < first)
        return false;
    off = start >= first && start <= hi ? start - first : (uint32_t)(nat_rand(s->t) % total);
    for (uint32_t done = 0; done < total && s->probes < NAT_MAX_PROBES; done++) {
        if (probe(s, (uint16_t)(first + off)))
            return true;
        if (++off == total)
            off = 0;
    }
    return false;
}

/* SNAT at one address: leased blocks first, then new blocks. */
static int snat_at(struct search *s, const struct nat_target *tg, uint64_t now_ns, unsigned *leases,
                   uint32_t *pool_out)
{
    struct nat_tables *t = s->t;
    uint32_t pi;
    int rc;

    if ((rc = pool_get(t, s->orig->zone, s->addr, now_ns, &pi)) < 0)
        return rc;
    *pool_out = pi;
    if (search_leased(s, &t->pools[pi], tg->port_from, tg->port_to))
        return 0;
    while (*leases < NAT_MAX_LEASES && s->probes < NAT_MAX_PROBES) {
        uint16_t first_port;
        uint32_t b, first;
        struct nat_pool *p = &t->pools[pi];

        rc = t->alloc_ops->lease(t->alloc_ctx, s->orig->zone, s->addr, tg->port_from, tg->port_to, &first_port);
        if (rc < 0) {
            if (rc != -EADDRNOTAVAIL)
                t->st.lease_errors++;
            break;
        }
        (*leases)++;
        b = first_port / NAT_BLOCK_PORTS;
        /* A misaligned, out-of-range or duplicate block is an allocator
         * bug; using it could share ports between hosts. */
        if (pool_has_block(p, b)) {
            t->st.lease_errors++;
            break;
        }
        if (first_port % NAT_BLOCK_PORTS || !block_span(b, tg->port_from, tg->port_to, &first)) {
            t->st.lease_errors++;
            t->alloc_ops->release(t->alloc_ctx, s->orig->zone, s->addr, first_port);
            break;
        }
        bit_set(p->leased, &p->leased_words, b);
        pool_note_fill(p, b);
        p->n_leased++;
        t->st.blocks_leased++;
        if (search_block(s, b, tg->port_from, tg->port_to, NAT_BLOCK_PORTS))
            return 0;
    }
    pool_put_if_empty(t, pi);
    return -EADDRNOTAVAIL;
}

/* Protocols without ports: the address alone must make the reply unique. */
static bool search_addr_only(struct search *s, const struct nat_target *tg, unsigned n, uint64_t n_addrs,
                             uint64_t h)
{
    unsigned ti;

    for (uint64_t a = 0; a < n_addrs && s->probes < NAT_MAX_PROBES; a++) {
        s->addr = addr_at(tg, n, (h + a) % n_addrs, &ti);
        if (probe(s, 0))
            return true;
    }
    return false;
}

int nat_allocate(struct nat_tables *t, enum nat_kind kind, const struct nat_tuple *orig,
                 const struct nat_target *targets, unsigned n_targets, uint64_t now_ns, struct nat_binding *out)
{
    uint8_t type = kind == NAT_KIND_SNAT ? NAT_STATE_SNAT : NAT_STATE_DNAT;
    struct search s = {.t = t, .kind = type, .orig = orig, .now_ns = now_ns};
    struct nat_key k = {.zone = orig->zone, .src = orig->src, .kind = NAT_KEY_POOL};
    uint64_t n_addrs, h;
    uint32_t pool = UINT32_MAX, idx;
    unsigned leases = 0, ti;
    bool found = false;
    int rc;

    if ((kind != NAT_KIND_SNAT && kind != NAT_KIND_DNAT) || !orig->proto || !targets_ok(targets, n_targets, &n_addrs))
        return -EINVAL;
    if (nat_lookup(t, kind, orig, now_ns, out) == 0)
        return -EEXIST;
    if (t->nat_free == HTAB_NONE) {
        t->st.nat_full++;
        return -ENOSPC;
    }
    /* Keyed: the inside host's address picks its public address (with
     * one address there is nothing to pick: skip the hash). */
    h = n_addrs > 1 ? nat_key_hash(&k) : 0;
    if (!proto_has_ports(orig->proto)) {
        found = search_addr_only(&s, targets, n_targets, n_addrs, h);
    } else {
        for (uint64_t a = 0; !found && a < n_addrs && a < NAT_MAX_ADDRS && s.probes < NAT_MAX_PROBES; a++) {
            s.addr = addr_at(targets, n_targets, (h + a) % n_addrs, &ti);
            if (kind == NAT_KIND_DNAT) {
                found = search_range(&s, targets[ti].port_from, targets[ti].port_to, ntohs(orig->dport));
                continue;
            }
            rc = snat_at(&s, &targets[ti], now_ns, &leases, &pool);
            if (rc == -ENOSPC)
                return rc;
            found = rc == 0;
        }
    }
    if (!found) {
        t->st.ports_exhausted++;
        return -EADDRNOTAVAIL;
    }
    if (kind != NAT_KIND_SNAT || !proto_has_ports(orig->proto))
        pool = UINT32_MAX;
    rc = nat_entry_add(t, type, orig, s.addr, htons(s.port), nat_tcp_next(orig->proto, NAT_TCP_NONE, 0), now_ns, 0,
                       pool, &idx);
    if (rc < 0) {
        if (pool != UINT32_MAX)
            pool_put_if_empty(t, pool);
        return rc;
    }
    if (pool != UINT32_MAX)
        pool_bind(t, pool, s.port);
    nat_entry_binding(t, idx, out);
    return 0;
}

int nat_static_map(rp_be32 base, const struct nat_target *targets, unsigned n_targets, rp_be32 addr,
                   rp_be32 *out)
{
    uint64_t total = 0, off;
    unsigned ti;

    if (!targets || !n_targets || ntohl(addr) < ntohl(base))
        return -EINVAL;
    for (unsigned i = 0; i < n_targets; i++) {
        if (ntohl(targets[i].addr_from) > ntohl(targets[i].addr_to))
            return -EINVAL;
        total += (uint64_t)ntohl(targets[i].addr_to) - ntohl(targets[i].addr_from) + 1;
    }
    off = ((uint64_t)ntohl(addr) - ntohl(base)) % total;
    *out = addr_at(targets, n_targets, off, &ti);
    return 0;
}

/* --- the local block allocator ---------------------------------------------------- */

struct la_rec {
    uint64_t zone;
    rp_be32 addr;
    uint32_t n;
    uint64_t bits[NAT_POOL_WORDS];
};

struct nat_local_allocator {
    struct htab *idx;
    struct la_rec *recs;
    uint32_t n_recs, cap;
    uint32_t leased;
};

int nat_local_allocator_create(struct nat_local_allocator **out)
{
    struct nat_local_allocator *a = calloc(1, sizeof(*a));
    int rc;

    if (!a)
        return -ENOMEM;
    if ((rc = htab_create(&a->idx, 64)) < 0) {
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void nat_local_allocator_destroy(struct nat_local_allocator *a)
{
    if (!a)
        return;
    htab_destroy(a->idx);
    free(a->recs);
    free(a);
}

uint32_t nat_local_allocator_leased(const struct nat_local_allocator *a)
{
    return a->leased;
}

static struct la_rec *la_find(struct nat_local_allocator *a, uint64_t zone, rp_be32 addr, bool create)
{
    uint64_t h = pool_hash(zone, addr);
    struct htab_iter it;
    struct la_rec *r;

    for (uint32_t v = htab_find_first(a->idx, h, &it); v != HTAB_NONE; v = htab_find_next(&it))
        if (a->recs[v].zone == zone && a->recs[v].addr == addr)
            return &a->recs[v];
    if (!create)
        return NULL;
    if (a->n_recs == a->cap) {
        uint32_t cap = a->cap ? 2 * a->cap : 16;
        struct la_rec *nr = realloc(a->recs, cap * sizeof(*nr));

        if (!nr)
            return NULL;
        a->recs = nr;
        a->cap = cap;
    }
    if (htab_insert(a->idx, h, a->n_recs) < 0)
        return NULL;
    r = &a->recs[a->n_recs++];
    memset(r, 0, sizeof(*r));
    r->zone = zone;
    r->addr = addr;
    return r;
}

static int la_lease(void *ctx, uint64_t zone, rp_be32 addr, uint16_t port_from, uint16_t port_to,
                    uint16_t *block_first_port)
{
    struct nat_local_allocator *a = ctx;
    struct la_rec *r;

    if (port_from > port_to || port_to == 0)
        return -EINVAL;
    if (!(r = la_find(a, zone, addr, true)))
        return -ENOMEM;
    for (uint32_t b = port_from / NAT_BLOCK_PORTS; b <= (uint32_t)port_to / NAT_BLOCK_PORTS; b++) {
        uint64_t bit = 1ull << (b % 64);

        if (r->bits[b / 64] == UINT64_MAX) {
            b |= 63;    /* the whole word is leased */
            continue;
        }
        if (r->bits[b / 64] & bit)
            continue;
        r->bits[b / 64] |= bit;
        r->n++;
        a->leased++;
        *block_first_port = (uint16_t)(b * NAT_BLOCK_PORTS);
        return 0;
    }
    return -EADDRNOTAVAIL;
}

static void la_release(void *ctx, uint64_t zone, rp_be32 addr, uint16_t block_first_port)
{
    struct nat_local_allocator *a = ctx;
    struct la_rec *r = la_find(a, zone, addr, false);
    uint32_t b = block_first_port / NAT_BLOCK_PORTS;

    if (!r || !(r->bits[b / 64] & (1ull << (b % 64))))
        return;
    r->bits[b / 64] &= ~(1ull << (b % 64));
    r->n--;
    a->leased--;
}

const struct nat_block_allocator_ops nat_local_allocator_ops = {
    .lease = la_lease,
    .release = la_release,
};
