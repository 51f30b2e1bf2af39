/*
 * lib/lpm.c: DIR-24 array and poptrie nodes patched from a binary trie (see lpm.h).
 *
 * Vocabulary: a "region" is the address block under a direct entry (a /24)
 * or under a node slot (a /30 or, for the node at bit 30, a /32 padded to
 * 6 bits). A region's entry is a leaf (one value for the whole block) when
 * no prefix longer than the region starts inside it, else a node.
 *
 * Every update first reserves, from a bound on what the rebuild can
 * allocate, then changes the trie, then rebuilds; so the rebuild cannot run
 * out of memory half way and -ENOMEM always leaves the table as it was.
 */
#include "lib/lpm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define DIR_SIZE (1u << LPM_DIR_BITS)
#define DIR_BYTES ((size_t)DIR_SIZE * sizeof(uint32_t))
#define TNONE 0u            /* no trie child: the root (index 0) is nobody's child */
#define BLOCK_NIL UINT32_MAX
#define HUGE_MIN ((size_t)2 << 20) /* arrays from this size are mapped, on huge pages */

struct tnode {
    uint32_t child[2];
    uint32_t value;          /* LPM_NONE: no prefix ends here */
};

/* Blocks of 1..64 elements (a node's children or leaves), bump-allocated,
 * with one free list per block size. */
struct pool {
    void *mem;
    size_t bytes, elem;
    uint32_t used, cap;
    uint32_t free_head[65];
    uint32_t free_elems;
};

struct lpm {
    struct lpm_lookup_view v;  /* first: the inline lookup casts to it */
    struct pool nodes, leaves;
    struct tnode *trie;
    size_t trie_bytes;
    uint32_t trie_used, trie_cap, trie_free, trie_free_n;
    uint32_t count;
    bool dir_huge;           /* moved to huge pages (or tried) */
};

/* What an update changed: rebuilds keep child subtrees outside it. */
struct upd {
    uint32_t prefix;
    unsigned len;
};

static inline uint32_t mask_of(unsigned len)
{
    return len ? ~0u << (32 - len) : 0;
}

/* n bits of p starting at bit o (bit 0 = most significant), 1 <= n, o + n <= 32. */
static inline unsigned bits_at(uint32_t p, unsigned o, unsigned n)
{
    return (unsigned)((uint32_t)(p << o) >> (32 - n));
}

static inline unsigned bit_at(uint32_t p, unsigned d)
{
    return (p >> (31 - d)) & 1;
}

/* --- memory ---------------------------------------------------------------- */

/* Growable arrays: malloc'd while small, so that thousands of tenant
 * routers do not each hold extra mappings (vm.max_map_count); mapped on
 * huge pages once big, since a full table's arrays are read at random. */
static int region_grow(void **mem, size_t *bytes, size_t want)
{
    size_t nb = *bytes ? *bytes * 2 : 1024;
    void *p;

    if (nb < want)
        nb = want;
    if (nb < HUGE_MIN) {
        p = realloc(*mem, nb);
        if (!p)
            return -ENOMEM;
    } else {
        nb = (nb + HUGE_MIN - 1) & ~(size_t)(HUGE_MIN - 1);
        if (*bytes >= HUGE_MIN) {
            p = mremap(*mem, *bytes, nb, MREMAP_MAYMOVE);
        } else {
            p = mmap(NULL, nb, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p != MAP_FAILED && *mem) {
                memcpy(p, *mem, *bytes);
                free(*mem);
            }
        }
        if (p == MAP_FAILED)
            return -ENOMEM;
        madvise(p, nb, MADV_HUGEPAGE);
    }
    *mem = p;
    *bytes = nb;
    return 0;
}

static void region_free(void *mem, size_t bytes)
{
    if (bytes >= HUGE_MIN)
        munmap(mem, bytes);
    else
        free(mem);
}

static void pool_init(struct pool *p, size_t elem)
{
    memset(p, 0, sizeof(*p));
    p->elem = elem;
    for (int i = 0; i <= 64; i++)
        p->free_head[i] = BLOCK_NIL;
}

static void pool_fini(struct pool *p)
{
    region_free(p->mem, p->bytes);
}

/* Make n elements available without touching the free lists. */
static int pool_reserve(struct pool *p, uint64_t n)
{
    uint64_t want = (uint64_t)p->used + n;

    if (want <= p->cap)
        return 0;
    if (want > 0x7fffffffu)   /* indexes must fit a direct entry */
        return -ENOMEM;
    if (region_grow(&p->mem, &p->bytes, (size_t)want * p->elem) < 0)
        return -ENOMEM;
    p->cap = (uint32_t)(p->bytes / p->elem > 0x7fffffffu ? 0x7fffffffu : p->bytes / p->elem);
    return 0;
}

static inline uint32_t *pool_link(struct pool *p, uint32_t idx)
{
    return (uint32_t *)(void *)((char *)p->mem + (size_t)idx * p->elem);
}

/* Only after pool_reserve: never fails. */
static uint32_t pool_alloc(struct pool *p, unsigned k)
{
    uint32_t idx = p->free_head[k];

    if (idx != BLOCK_NIL) {
        p->free_head[k] = *pool_link(p, idx);
        p->free_elems -= k;
        return idx;
    }
    RP_ASSERT(p->used + k <= p->cap);
    idx = p->used;
    p->used += k;
    return idx;
}

static void pool_free(struct pool *p, uint32_t idx, unsigned k)
{
    if (!k)
        return;
    *pool_link(p, idx) = p->free_head[k];
    p->free_head[k] = idx;
    p->free_elems += k;
}

static int trie_reserve(struct lpm *l, uint32_t n)
{
    void *mem;

    if (l->trie_free_n + (l->trie_cap - l->trie_used) >= n)
        return 0;
    mem = l->trie;
    if (region_grow(&mem, &l->trie_bytes, ((size_t)l->trie_used + n) * sizeof(struct tnode)) < 0)
        return -ENOMEM;
    l->trie = mem;
    l->trie_cap = (uint32_t)(l->trie_bytes / sizeof(struct tnode));
    return 0;
}

static uint32_t trie_alloc(struct lpm *l)
{
    uint32_t t;

    if (l->trie_free != TNONE) {
        t = l->trie_free;
        l->trie_free = l->trie[t].child[0];
        l->trie_free_n--;
    } else {
        RP_ASSERT(l->trie_used < l->trie_cap);
        t = l->trie_used++;
    }
    l->trie[t] = (struct tnode){{TNONE, TNONE}, LPM_NONE};
    return t;
}

static void trie_release(struct lpm *l, uint32_t t)
{
    l->trie[t].child[0] = l->trie_free;
    l->trie_free = t;
    l->trie_free_n++;
}

static inline bool tnode_has_children(const struct lpm *l, uint32_t t)
{
    return (l->trie[t].child[0] | l->trie[t].child[1]) != TNONE;
}

/* Trie nodes under t, t included: what bounds a rebuild of t's region. */
static uint64_t trie_count(const struct lpm *l, uint32_t t)
{
    uint32_t stack[34];
    unsigned sp = 0;
    uint64_t n = 0;

    if (t == TNONE)
        return 0;
    stack[sp++] = t;
    while (sp) {
        const struct tnode *x = &l->trie[stack[--sp]];

        n++;
        /* Depth-first with one pending sibling per level: at most 33 deep. */
        if (x->child[1] != TNONE)
            stack[sp++] = x->child[1];
        if (x->child[0] != TNONE)
            stack[sp++] = x->child[0];
    }
    return n;
}

/* Walk from the root to depth 'depth' along p: the node there (TNONE if the
 * path ends first) and, in *inh, the value of the longest prefix of length
 * 1 .. depth - 1 on the way (the default route lives in v.def). */
static uint32_t trie_walk(const struct lpm *l, uint32_t p, unsigned depth, uint32_t *inh)
{
    uint32_t t = 0;

    *inh = LPM_NONE;
    for (unsigned d = 0; d < depth; d++) {
        if (d && l->trie[t].value != LPM_NONE)
            *inh = l->trie[t].value;
        t = l->trie[t].child[bit_at(p, d)];
        if (t == TNONE)
            return TNONE;
    }
    return t;
}

/* --- building nodes ---------------------------------------------------------- */

struct slots {
    uint64_t vector;   /* child slots */
    uint32_t val[64];  /* leaf value, or the value a child inherits */
    uint32_t tn[64];   /* child's trie node */
};

/* Slots [lo, lo + (64 >> k)) from trie node t at k bits into a node's
 * w-bit stride (w = 2 for the node at bit 30: its 2 bits pick a quarter of
 * the 64 slots, as the lookup's zero-padded key does). */
static void fill_slots(const struct lpm *l, uint32_t t, unsigned k, unsigned w, unsigned lo, uint32_t inh,
                       struct slots *s)
{
    unsigned span = 64u >> k;

    if (t != TNONE && l->trie[t].value != LPM_NONE)
        inh = l->trie[t].value;
    if (t != TNONE && k < w) {
        fill_slots(l, l->trie[t].child[0], k + 1, w, lo, inh, s);
        fill_slots(l, l->trie[t].child[1], k + 1, w, lo + span / 2, inh, s);
        return;
    }
    if (t != TNONE && tnode_has_children(l, t)) {   /* only when k == w == 6 */
        s->vector |= 1ull << lo;
        s->val[lo] = inh;
        s->tn[lo] = t;
        return;
    }
    for (unsigned j = lo; j < lo + span; j++)
        s->val[j] = inh;
}

static void subtree_free(struct lpm *l, uint32_t ni)
{
    struct lpm_node n = l->v.nodes[ni];
    unsigned nc = lpm_popcount(n.vector);

    for (unsigned r = 0; r < nc; r++)
        subtree_free(l, n.base1 + r);
    pool_free(&l->nodes, n.base1, nc);
    pool_free(&l->leaves, n.base0, lpm_popcount(n.leafvec));
}

/* Is slot j of the node at bit o inside what the update changed? */
static bool slot_affected(const struct upd *u, unsigned o, unsigned j)
{
    if (u->len >= o + LPM_STRIDE)
        return j == bits_at(u->prefix, o, LPM_STRIDE);
    return (j >> (o + LPM_STRIDE - u->len)) == bits_at(u->prefix, o, u->len - o);
}

/* Write node ni for trie node t (at bit o, with children) under inherited
 * value inh. With old (the node that was at ni) and u, children outside
 * the update keep their subtrees, the child on the update's path is updated
 * the same way, and the rest is built afresh; without, all of it is. */
static void node_build(struct lpm *l, uint32_t ni, uint32_t t, unsigned o, uint32_t inh, const struct upd *u,
                       const struct lpm_node *old)
{
    struct slots s;
    uint32_t runs[64], last = 0;
    uint64_t leafvec = 0, gone;
    unsigned nl = 0, nc, r = 0;
    uint32_t lb = 0, cb = 0;

    s.vector = 0;
    fill_slots(l, t, 0, 32 - o < LPM_STRIDE ? 32 - o : LPM_STRIDE, 0, inh, &s);
    for (unsigned j = 0; j < 64; j++) {
        if ((s.vector >> j) & 1)
            continue;
        if (!nl || s.val[j] != last) {
            leafvec |= 1ull << j;
            runs[nl++] = last = s.val[j];
        }
    }
    if (nl) {
        lb = pool_alloc(&l->leaves, nl);
        memcpy(&l->v.leaves[lb], runs, nl * sizeof(runs[0]));
    }
    nc = lpm_popcount(s.vector);
    if (nc)
        cb = pool_alloc(&l->nodes, nc);
    for (uint64_t m = s.vector; m; m &= m - 1) {
        unsigned j = (unsigned)__builtin_ctzll(m);
        uint32_t ci = cb + r++;
        bool had = old && ((old->vector >> j) & 1);
        uint32_t oi = had ? old->base1 + lpm_popcount(old->vector & ((1ull << j) - 1)) : 0;

        if (had && !slot_affected(u, o, j)) {
            l->v.nodes[ci] = l->v.nodes[oi];
        } else if (had && u->len > o + LPM_STRIDE) {
            struct lpm_node prev = l->v.nodes[oi];
            node_build(l, ci, s.tn[j], o + LPM_STRIDE, s.val[j], u, &prev);
        } else {
            if (had)
                subtree_free(l, oi);
            node_build(l, ci, s.tn[j], o + LPM_STRIDE, s.val[j], NULL, NULL);
        }
    }
    if (old) {
        for (gone = old->vector & ~s.vector; gone; gone &= gone - 1) {
            unsigned j = (unsigned)__builtin_ctzll(gone);
            subtree_free(l, old->base1 + lpm_popcount(old->vector & ((1ull << j) - 1)));
        }
        pool_free(&l->nodes, old->base1, lpm_popcount(old->vector));
        pool_free(&l->leaves, old->base0, lpm_popcount(old->leafvec));
    }
    l->v.nodes[ni] = (struct lpm_node){s.vector, leafvec, lb, cb};
}

static void dir_clear(struct lpm *l, uint32_t d)
{
    uint32_t e = l->v.dir[d];

    if (e & LPM_DIR_NODE) {
        subtree_free(l, e & ~LPM_DIR_NODE);
        pool_free(&l->nodes, e & ~LPM_DIR_NODE, 1);
    }
}

/* Rebuild afresh the direct entries from d under trie node t at 'depth'
 * (<= LPM_DIR_BITS), covering 1 << (LPM_DIR_BITS - depth) entries. */
static void dir_fill(struct lpm *l, uint32_t t, unsigned depth, uint32_t d, uint32_t inh)
{
    uint32_t n = 1u << (LPM_DIR_BITS - depth);

    if (t != TNONE && l->trie[t].value != LPM_NONE)
        inh = l->trie[t].value;
    if (t != TNONE && depth < LPM_DIR_BITS) {
        dir_fill(l, l->trie[t].child[0], depth + 1, d, inh);
        dir_fill(l, l->trie[t].child[1], depth + 1, d + n / 2, inh);
        return;
    }
    for (uint32_t i = d; i < d + n; i++)
        dir_clear(l, i);
    if (t != TNONE && tnode_has_children(l, t)) {   /* depth == LPM_DIR_BITS */
        uint32_t ni = pool_alloc(&l->nodes, 1);
        node_build(l, ni, t, LPM_DIR_BITS, inh, NULL, NULL);
        l->v.dir[d] = LPM_DIR_NODE | ni;
        return;
    }
    for (uint32_t i = d; i < d + n; i++)
        l->v.dir[i] = inh + 1;
}

/* The lookup structure for what the trie now says about u's prefix. */
static void rebuild(struct lpm *l, const struct upd *u)
{
    uint32_t inh, t, d, e;

    if (u->len == 0) {
        l->v.def = l->trie[0].value;
        return;
    }
    if (u->len <= LPM_DIR_BITS) {
        t = trie_walk(l, u->prefix, u->len, &inh);
        dir_fill(l, t, u->len, u->prefix >> (32 - LPM_DIR_BITS), inh);
        return;
    }
    d = u->prefix >> (32 - LPM_DIR_BITS);
    e = l->v.dir[d];
    t = trie_walk(l, u->prefix, LPM_DIR_BITS, &inh);
    if (t != TNONE && l->trie[t].value != LPM_NONE)
        inh = l->trie[t].value;
    if (t == TNONE || !tnode_has_children(l, t)) {
        dir_clear(l, d);
        l->v.dir[d] = inh + 1;
    } else if (e & LPM_DIR_NODE) {
        struct lpm_node prev = l->v.nodes[e & ~LPM_DIR_NODE];
        node_build(l, e & ~LPM_DIR_NODE, t, LPM_DIR_BITS, inh, u, &prev);
    } else {
        uint32_t ni = pool_alloc(&l->nodes, 1);
        node_build(l, ni, t, LPM_DIR_BITS, inh, NULL, NULL);
        l->v.dir[d] = LPM_DIR_NODE | ni;
    }
}

/* Room for rebuilding the region u touches, the trie holding 'extra' more
 * nodes than now. A region of c trie nodes has at most c poptrie nodes
 * and at most 2c leaves (each leaf run ends at a trie node or a child). */
static int reserve_rebuild(struct lpm *l, const struct upd *u, uint32_t extra)
{
    uint32_t inh, t;
    uint64_t c;

    if (u->len == 0)
        return 0;
    t = trie_walk(l, u->prefix, u->len < LPM_DIR_BITS ? u->len : LPM_DIR_BITS, &inh);
    c = trie_count(l, t) + extra;
    if (pool_reserve(&l->nodes, c + 1) < 0 || pool_reserve(&l->leaves, 2 * c + 64) < 0)
        return -ENOMEM;
    return 0;
}

/* --- public ------------------------------------------------------------------ */

bool lpm_cpu_supported(void)
{
#if defined(__x86_64__)
    return __builtin_cpu_supports("popcnt");
#else
    return true;
#endif
}

int lpm_create(struct lpm **out)
{
    struct lpm *l;
    void *dir;

    if (!lpm_cpu_supported())
        return -ENOTSUP;
    l = calloc(1, sizeof(*l));
    if (!l)
        goto fail;
    /* Zero means "no route", so untouched pages of the direct array stay
     * unbacked: a tenant router with a few routes touches a few pages. */
    dir = mmap(NULL, DIR_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (dir == MAP_FAILED)
        goto fail_dir;
    l->v.dir = dir;
    l->v.def = LPM_NONE;
    pool_init(&l->nodes, sizeof(struct lpm_node));
    pool_init(&l->leaves, sizeof(uint32_t));
    if (trie_reserve(l, 64) < 0 || pool_reserve(&l->nodes, 64) < 0 || pool_reserve(&l->leaves, 256) < 0)
        goto fail_pools;
    l->v.nodes = l->nodes.mem;
    l->v.leaves = l->leaves.mem;
    l->trie_free = TNONE;
    trie_alloc(l);   /* the root, index 0 */
    *out = l;
    return 0;

fail_pools:
    pool_fini(&l->nodes);
    pool_fini(&l->leaves);
    region_free(l->trie, l->trie_bytes);
    munmap(dir, DIR_BYTES);
fail_dir:
    free(l);
fail:
    return -ENOMEM;
}

void lpm_destroy(struct lpm *l)
{
    if (!l)
        return;
    munmap(l->v.dir, DIR_BYTES);
    pool_fini(&l->nodes);
    pool_fini(&l->leaves);
    region_free(l->trie, l->trie_bytes);
    free(l);
}

static bool prefix_ok(uint32_t prefix, uint8_t len)
{
    return len <= 32 && !(prefix & ~mask_of(len));
}

/* After a reservation: pools may have moved. */
static void view_refresh(struct lpm *l)
{
    l->v.nodes = l->nodes.mem;
    l->v.leaves = l->leaves.mem;
}

/* A big table reads its direct array at random: move it, once, to huge
 * pages, sparing a TLB miss per lookup. Copying touches all 64 MiB, which
 * is why small tables never get here. */
static void dir_promote(struct lpm *l)
{
    void *p = mmap(NULL, DIR_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    l->dir_huge = true;
    if (p == MAP_FAILED)
        return;   /* keep the small pages: slower, still correct */
    madvise(p, DIR_BYTES, MADV_HUGEPAGE);
    memcpy(p, l->v.dir, DIR_BYTES);
    munmap(l->v.dir, DIR_BYTES);
    l->v.dir = p;
}

int lpm_add(struct lpm *l, uint32_t prefix, uint8_t len, uint32_t value)
{
    struct upd u = {prefix, len};
    uint32_t t = 0;
    int rc;

    if (!prefix_ok(prefix, len) || value > LPM_MAX_VALUE)
        return -EINVAL;
    if ((rc = trie_reserve(l, len)) < 0 || (rc = reserve_rebuild(l, &u, len)) < 0) {
        view_refresh(l);
        return rc;
    }
    view_refresh(l);
    for (unsigned d = 0; d < len; d++) {
        unsigned b = bit_at(prefix, d);

        if (l->trie[t].child[b] == TNONE) {
            uint32_t c = trie_alloc(l);
            l->trie[t].child[b] = c;
        }
        t = l->trie[t].child[b];
    }
    if (l->trie[t].value == value)
        return 0;
    if (l->trie[t].value == LPM_NONE)
        l->count++;
    l->trie[t].value = value;
    rebuild(l, &u);
    if (l->count >= LPM_HUGE_AT && !l->dir_huge)
        dir_promote(l);
    return 0;
}

int lpm_del(struct lpm *l, uint32_t prefix, uint8_t len)
{
    struct upd u = {prefix, len};
    uint32_t path[33];
    int rc;

    if (!prefix_ok(prefix, len))
        return -EINVAL;
    path[0] = 0;
    for (unsigned d = 0; d < len; d++) {
        path[d + 1] = l->trie[path[d]].child[bit_at(prefix, d)];
        if (path[d + 1] == TNONE)
            return -ENOENT;
    }
    if (l->trie[path[len]].value == LPM_NONE)
        return -ENOENT;
    rc = reserve_rebuild(l, &u, 0);
    view_refresh(l);
    if (rc < 0)
        return rc;
    l->trie[path[len]].value = LPM_NONE;
    l->count--;
    /* Prune the nodes that now lead nowhere. */
    for (unsigned d = len; d > 0; d--) {
        uint32_t t = path[d];

        if (l->trie[t].value != LPM_NONE || tnode_has_children(l, t))
            break;
        l->trie[path[d - 1]].child[bit_at(prefix, d - 1)] = TNONE;
        trie_release(l, t);
    }
    rebuild(l, &u);
    return 0;
}

int lpm_get(const struct lpm *l, uint32_t prefix, uint8_t len, uint32_t *value)
{
    uint32_t t = 0;

    if (!prefix_ok(prefix, len))
        return -EINVAL;
    for (unsigned d = 0; d < len; d++) {
        t = l->trie[t].child[bit_at(prefix, d)];
        if (t == TNONE)
            return -ENOENT;
    }
    if (l->trie[t].value == LPM_NONE)
        return -ENOENT;
    *value = l->trie[t].value;
    return 0;
}

uint32_t lpm_count(const struct lpm *l)
{
    return l->count;
}

size_t lpm_memory(const struct lpm *l)
{
    return sizeof(*l) + DIR_BYTES + (size_t)(l->nodes.used - l->nodes.free_elems) * l->nodes.elem +
           (size_t)(l->leaves.used - l->leaves.free_elems) * l->leaves.elem +
           (size_t)(l->trie_used - l->trie_free_n) * sizeof(struct tnode);
}

struct walk_item {
    uint32_t t, prefix;
    uint8_t len;
};

int lpm_foreach(const struct lpm *l, int (*fn)(uint32_t prefix, uint8_t len, uint32_t value, void *arg), void *arg)
{
    struct walk_item stack[34];
    unsigned sp = 0;

    /* Pre-order, one pending sibling per level: at most 33 deep. */
    stack[sp++] = (struct walk_item){0, 0, 0};
    while (sp) {
        struct walk_item x = stack[--sp];
        const struct tnode *n = &l->trie[x.t];
        int rc;

        if (n->value != LPM_NONE && (rc = fn(x.prefix, x.len, n->value, arg)) != 0)
            return rc;
        if (n->child[1] != TNONE)
            stack[sp++] = (struct walk_item){n->child[1], x.prefix | 1u << (31 - x.len), (uint8_t)(x.len + 1)};
        if (n->child[0] != TNONE)
            stack[sp++] = (struct walk_item){n->child[0], x.prefix, (uint8_t)(x.len + 1)};
    }
    return 0;
}

/* No explicit prefetch: the first reads of a burst depend only on the keys,
 * so the out-of-order core already overlaps their misses, and prefetching
 * 4, 8, 16 or 24 keys ahead, or the whole burst first, measured no faster
 * (bench/bench_lpm.c, bursts of 32, random keys over 1M prefixes). */
void lpm_lookup_bulk(const struct lpm *l, const uint32_t *addrs, uint32_t *values, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        values[i] = lpm_lookup(l, addrs[i]);
}
