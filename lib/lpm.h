/*
 * lib/lpm.h: IPv4 longest-prefix match for tables from a handful of routes
 * (a tenant router) to a full Internet table (a provider router, the
 * gateway), with interned ECMP next-hop sets.
 *
 * The lookup structure is a DIR-24 direct array (Gupta, Lin, McKeown) whose
 * entries for /24 blocks holding longer prefixes point to poptrie nodes
 * (Asai & Ohara, SIGCOMM 2015): 64-ary nodes for bits 24..29 and 30..31,
 * children and leaves in contiguous blocks addressed by popcount over two
 * bitmaps, runs of equal leaves stored once. A lookup is one read of the
 * direct array for all but /25../32 destinations, and four dependent reads
 * at most (direct entry, node at bit 24, node at bit 30, leaf). Why not a
 * poptrie from bit 18 as in the paper: on this class of VM the cache that
 * really holds data is a few MiB, so a million random prefixes put the
 * poptrie's nodes and leaves in DRAM and every lookup paid two dependent
 * misses (34 Mlps measured) where the direct array pays one independent
 * miss (about 100 Mlps, bench/bench_lpm.c). Host routes cost a node and a
 * few leaves (tens of bytes), not a 1 KiB DIR-24-8 group.
 *
 * Memory follows the routes: the direct array is 64 MiB of address space,
 * zero meaning "no route", and only pages that routes land on are touched,
 * so a tenant router with a few subnets costs a few pages. Once a table is
 * big (LPM_HUGE_AT prefixes) the array moves to huge pages once.
 *
 * The source of truth is a binary trie of the prefixes on the control side.
 * An update changes the trie and rebuilds only what the prefix covers: its
 * direct entries (a /24: one; a /16: 256; a /8: 65536) and the nodes on its
 * path or under it. The default route 0.0.0.0/0 is kept outside the
 * structure, so changing it costs nothing. Updates and lookups must run on
 * the same thread (or be serialized by the caller); nothing here locks, and
 * an update may move the arrays a lookup reads.
 *
 * Values are 0 .. LPM_MAX_VALUE: a next-hop id or a next-hop set id from
 * struct lpm_nhset_table below, as the caller decides; the table does not
 * interpret them. Prefixes are host order with host bits zero (anything
 * else is -EINVAL, not silently masked). Lookups use the x86-64 POPCNT
 * instruction; lpm_create fails with -ENOTSUP on a CPU without it.
 */
#ifndef RP_LIB_LPM_H
#define RP_LIB_LPM_H

#include "lib/types.h"

#define LPM_NONE UINT32_MAX
#define LPM_MAX_VALUE 0x7ffffffeu

struct lpm;

/* 0, -ENOMEM, -ENOTSUP (no POPCNT). */
int lpm_create(struct lpm **out);
/* Whether this CPU has what lookups need (POPCNT: x86-64-v2, every server
 * CPU since about 2008, but not qemu's default "qemu64" model). Daemons
 * check it at start, so they refuse to run instead of failing later. */
bool lpm_cpu_supported(void);
/* What they say when it is not. */
#define LPM_CPU_MESSAGE \
    "this CPU lacks the POPCNT instruction (x86-64-v2), which route lookups need; under qemu use -cpu host or a model newer than qemu64/kvm64"

void lpm_destroy(struct lpm *l);
/* Add prefix/len -> value, or replace the value if that exact prefix is
 * there. 0; -EINVAL for len > 32, host bits set or value > LPM_MAX_VALUE;
 * -ENOMEM (the table is unchanged). */
int lpm_add(struct lpm *l, uint32_t prefix, uint8_t len, uint32_t value);
/* 0; -ENOENT if that exact prefix is absent; -EINVAL as for lpm_add;
 * -ENOMEM (rebuilt nodes are written before old ones are freed; the table
 * is unchanged). */
int lpm_del(struct lpm *l, uint32_t prefix, uint8_t len);
/* Exact-prefix read: 0 and *value; -ENOENT; -EINVAL. */
int lpm_get(const struct lpm *l, uint32_t prefix, uint8_t len, uint32_t *value);
uint32_t lpm_count(const struct lpm *l);
/* Bytes in use: the direct array's 64 MiB of address space (of which only
 * touched pages cost RSS) plus the nodes, leaves and trie nodes of the
 * routes present. Freed blocks and grown capacity are kept for reuse and
 * not counted. */
size_t lpm_memory(const struct lpm *l);

/* Every prefix in address order (a covering prefix before the ones inside
 * it): fn(prefix, len, value, arg). A non-zero return from fn stops the
 * walk and is returned. fn must not change the table. */
int lpm_foreach(const struct lpm *l, int (*fn)(uint32_t prefix, uint8_t len, uint32_t value, void *arg),
                void *arg);

/* --- lookup ------------------------------------------------------------------
 * Inline so the simulator and the fast path pay no call. What follows is the
 * layout the lookup reads; treat it as opaque. */
#define LPM_DIR_BITS 24
#define LPM_STRIDE 6
#define LPM_DIR_NODE 0x80000000u   /* direct entry: node index; else value + 1 (0 = no route) */
/* Nodes sit at bits 24 and 30; a lookup descends from one to the next at most once. */
#define LPM_MAX_DESCENT ((32 - LPM_DIR_BITS - 1) / LPM_STRIDE)
#define LPM_HUGE_AT 65536

struct lpm_node {
    uint64_t vector;    /* bit i: slot i is a child node */
    uint64_t leafvec;   /* bit i: slot i is a leaf starting a run of equal leaves */
    uint32_t base0;     /* first leaf of this node in leaves[] */
    uint32_t base1;     /* first child of this node in nodes[] */
};

/* struct lpm begins with this. */
struct lpm_lookup_view {
    uint32_t *dir;      /* 1 << LPM_DIR_BITS entries */
    struct lpm_node *nodes;
    uint32_t *leaves;   /* values; LPM_NONE = no route but the default */
    uint32_t def;       /* value of 0.0.0.0/0, or LPM_NONE */
};

static inline const struct lpm_lookup_view *lpm_view(const struct lpm *l)
{
    return (const struct lpm_lookup_view *)(const void *)l;
}

/* POPCNT regardless of -march: the build targets baseline x86-64, where
 * __builtin_popcountll is a library call. */
static inline unsigned lpm_popcount(uint64_t x)
{
#if defined(__x86_64__)
    uint64_t r;
    __asm__("popcnt %1, %0" : "=r"(r) : "r"(x));
    return (unsigned)r;
#else
    return (unsigned)__builtin_popcountll(x);
#endif
}

/* Leaf value under node n for the 6-bit slot s. */
static inline uint32_t lpm_node_leaf(const struct lpm_lookup_view *v, const struct lpm_node *n, unsigned s)
{
    return v->leaves[n->base0 + lpm_popcount(n->leafvec & ((2ull << s) - 1)) - 1];
}

static inline const struct lpm_node *lpm_node_child(const struct lpm_lookup_view *v, const struct lpm_node *n,
                                                    unsigned s)
{
    return &v->nodes[n->base1 + lpm_popcount(n->vector & ((1ull << s) - 1))];
}

/* Value of the longest prefix holding addr, or LPM_NONE. */
static inline uint32_t lpm_lookup(const struct lpm *l, uint32_t addr)
{
    const struct lpm_lookup_view *v = lpm_view(l);
    uint32_t e = v->dir[addr >> (32 - LPM_DIR_BITS)], r;

    if (!(e & LPM_DIR_NODE)) {
        r = e - 1;
    } else {
        const struct lpm_node *n = &v->nodes[e & ~LPM_DIR_NODE];
        uint64_t key = (uint64_t)addr << (32 + LPM_DIR_BITS);   /* the bits left, at the top */
        unsigned s = (unsigned)(key >> 58);

        for (int d = 0; d < LPM_MAX_DESCENT && ((n->vector >> s) & 1); d++) {
            n = lpm_node_child(v, n, s);
            key <<= LPM_STRIDE;
            s = (unsigned)(key >> 58);
        }
        r = lpm_node_leaf(v, n, s);
    }
    return r != LPM_NONE ? r : v->def;
}

/* The fast path's form (bursts of up to 64): values[i] = lpm_lookup(l,
 * addrs[i]) for i < n, the keys' direct-array misses overlapping. */
void lpm_lookup_bulk(const struct lpm *l, const uint32_t *addrs, uint32_t *values, unsigned n);

/* --- ECMP next-hop sets ------------------------------------------------------
 * A registry interning multisets of next-hop ids: the same members in any
 * order give the same refcounted id (0 .. LPM_MAX_VALUE, so it fits in an
 * LPM value). A member listed twice weighs twice in lpm_nhset_pick. Each
 * successful lpm_nhset_get takes one reference; lpm_nhset_put drops one and
 * frees the set with the last. */
#define LPM_NHSET_MAX_MEMBERS 1024

struct lpm_nhset_table;

int lpm_nhset_create(struct lpm_nhset_table **out);
void lpm_nhset_destroy(struct lpm_nhset_table *t);
/* 0 and *set_id; -EINVAL for n == 0 or n > LPM_NHSET_MAX_MEMBERS; -ENOMEM. */
int lpm_nhset_get(struct lpm_nhset_table *t, const uint32_t *members, unsigned n, uint32_t *set_id);
/* Drop one reference; putting an id that holds none is a bug (asserts). */
void lpm_nhset_put(struct lpm_nhset_table *t, uint32_t set_id);
/* The members, sorted; valid until the set is freed. 0 / -ENOENT. */
int lpm_nhset_members(const struct lpm_nhset_table *t, uint32_t set_id, const uint32_t **members, unsigned *n);
uint32_t lpm_nhset_count(const struct lpm_nhset_table *t);   /* live sets */
/* One member chosen by flow hash: the same hash and set always give the
 * same member; hashes spread evenly over the members (the hash is mixed
 * first, so a weak flow hash still spreads). LPM_NONE for an unknown id. */
uint32_t lpm_nhset_pick(const struct lpm_nhset_table *t, uint32_t set_id, uint32_t flow_hash);

#endif
