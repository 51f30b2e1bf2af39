/*
 * datapath/dp_flow.c: the exact-match flow cache (see dp_flow.h).
 *
 * Tag index: a (flow, tag) pair is one struct tag_ref, linked twice: into
 * the tag's doubly linked list (so removing one flow unlinks it in O(1))
 * and into the flow's singly linked list (so removing a flow finds all its
 * references). Distinct tags are struct tag_head entries found through a
 * second hash table; a head is freed with its last reference.
 */
#include "datapath/dp_flow.h"
#include "lib/hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NIL UINT32_MAX

struct tag_ref {
    uint32_t flow, head;
    uint32_t next_in_tag, prev_in_tag;
    uint32_t next_in_flow;      /* also the free-list link */
};

struct tag_head {
    uint64_t tag;
    uint32_t first;             /* also the free-list link */
    uint32_t count;
};

struct dp_flow_cache {
    struct dp_flow *flows;
    uint32_t max_flows, n_flows;
    uint32_t *free_flows;       /* stack of free slots */
    uint32_t n_free;
    struct htab *by_key;
    struct tag_ref *refs;
    uint32_t max_refs, ref_free, n_free_refs;
    struct tag_head *heads;
    uint32_t max_heads, head_free, n_free_heads;
    struct htab *by_tag;
    uint32_t expire_pos;
    uint32_t idle_ticks;
    uint64_t hard_ns;
    struct dp_flow_stats stats;
};

/* Pools come straight from mmap, asking for transparent huge pages: with
 * millions of flows every lookup lands on a different 4 KiB page, and a TLB
 * miss (a two-level walk under virtualization) costs more than the cache
 * miss itself. Zeroed by the kernel, touched once by dp_flow_flush. */
#define HUGE_2M (2u << 20)

static size_t pool_size(size_t bytes)
{
    return (bytes + HUGE_2M - 1) & ~(size_t)(HUGE_2M - 1);
}

static void *pool_alloc(size_t bytes)
{
    void *p;

    if (bytes == 0)
        bytes = 1;
    p = mmap(NULL, pool_size(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    (void)madvise(p, pool_size(bytes), MADV_HUGEPAGE);     /* advice only: 4 KiB pages work too */
    return p;
}

static void pool_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, pool_size(bytes ? bytes : 1));
}

static inline bool key_equal(const struct flow_key *a, const struct flow_key *b)
{
    const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
    uint64_t d = 0;

    for (int i = 0; i < 8; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

static inline uint64_t tag_hash(uint64_t tag)
{
    return rp_siphash(&tag, sizeof(tag));
}

int dp_flow_cache_create(struct dp_flow_cache **out, const struct dp_flow_config *cfg)
{
    struct dp_flow_cache *c;
    int err = -ENOMEM;

    if (!out || !cfg || cfg->max_flows == 0 || cfg->max_flows >= HTAB_NONE / 2)
        return -EINVAL;
    uint64_t max_refs = cfg->max_tag_refs ? cfg->max_tag_refs : (uint64_t)cfg->max_flows * 8;
    uint64_t max_heads = cfg->max_tags ? cfg->max_tags : max_refs;
    if (max_refs >= NIL || max_heads >= HTAB_NONE)
        return -EINVAL;

    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->max_flows = cfg->max_flows;
    c->max_refs = (uint32_t)max_refs;
    c->max_heads = (uint32_t)max_heads;
    /* Signed tick differences stay meaningful up to 2^31 ticks (25 days). */
    c->idle_ticks = (uint32_t)(cfg->idle_timeout_ns >> DP_FLOW_TICK_SHIFT);
    if (cfg->idle_timeout_ns && c->idle_ticks == 0)
        c->idle_ticks = 1;
    if (c->idle_ticks > INT32_MAX)
        c->idle_ticks = INT32_MAX;
    c->hard_ns = cfg->hard_timeout_ns;
    c->flows = pool_alloc((size_t)c->max_flows * sizeof(struct dp_flow));
    c->free_flows = pool_alloc((size_t)c->max_flows * sizeof(uint32_t));
    c->refs = pool_alloc((size_t)c->max_refs * sizeof(struct tag_ref));
    c->heads = pool_alloc((size_t)c->max_heads * sizeof(struct tag_head));
    if (!c->flows || !c->free_flows || !c->refs || !c->heads)
        goto fail;
    err = htab_create(&c->by_key, c->max_flows);
    if (err)
        goto fail;
    err = htab_create(&c->by_tag, c->max_heads ? c->max_heads : 1);
    if (err)
        goto fail;
    err = -ENOMEM;
    dp_flow_flush(c);
    *out = c;
    return 0;

fail:
    dp_flow_cache_destroy(c);
    return err;
}

void dp_flow_cache_destroy(struct dp_flow_cache *c)
{
    if (!c)
        return;
    htab_destroy(c->by_tag);
    htab_destroy(c->by_key);
    pool_free(c->heads, (size_t)c->max_heads * sizeof(struct tag_head));
    pool_free(c->refs, (size_t)c->max_refs * sizeof(struct tag_ref));
    pool_free(c->free_flows, (size_t)c->max_flows * sizeof(uint32_t));
    pool_free(c->flows, (size_t)c->max_flows * sizeof(struct dp_flow));
    free(c);
}

/* Remove a live slot; also undoes a half-done insert (any prefix of its
 * links may be in place). */
static void remove_idx(struct dp_flow_cache *c, uint32_t idx)
{
    struct dp_flow *f = &c->flows[idx];
    uint32_t r = f->tag_first;

    htab_remove(c->by_key, rp_hash_flow64(&f->key), idx);
    while (r != NIL) {
        struct tag_ref *tr = &c->refs[r];
        struct tag_head *h = &c->heads[tr->head];
        uint32_t next = tr->next_in_flow;

        if (tr->prev_in_tag != NIL)
            c->refs[tr->prev_in_tag].next_in_tag = tr->next_in_tag;
        else
            h->first = tr->next_in_tag;
        if (tr->next_in_tag != NIL)
            c->refs[tr->next_in_tag].prev_in_tag = tr->prev_in_tag;
        if (--h->count == 0) {
            htab_remove(c->by_tag, tag_hash(h->tag), tr->head);
            h->first = c->head_free;
            c->head_free = tr->head;
            c->n_free_heads++;
        }
        tr->next_in_flow = c->ref_free;
        c->ref_free = r;
        c->n_free_refs++;
        r = next;
    }
    f->tag_first = NIL;
    f->actions.verdict = DP_ACT_FREE;
    c->free_flows[c->n_free++] = idx;
    c->n_flows--;
    c->stats.removes++;
}

void dp_flow_flush(struct dp_flow_cache *c)
{
    if (c->n_flows) {
        /* Through remove_idx so the hash tables empty too. */
        for (uint32_t i = 0; i < c->max_flows; i++)
            if (c->flows[i].actions.verdict != DP_ACT_FREE)
                remove_idx(c, i);
    }
    for (uint32_t i = 0; i < c->max_flows; i++) {
        c->flows[i].actions.verdict = DP_ACT_FREE;
        c->flows[i].tag_first = NIL;
        c->free_flows[i] = c->max_flows - 1 - i;    /* low slots first: small caches stay compact */
    }
    c->n_free = c->max_flows;
    c->n_flows = 0;
    for (uint32_t i = 0; i < c->max_refs; i++)
        c->refs[i].next_in_flow = i + 1 < c->max_refs ? i + 1 : NIL;
    c->ref_free = c->max_refs ? 0 : NIL;
    c->n_free_refs = c->max_refs;
    for (uint32_t i = 0; i < c->max_heads; i++)
        c->heads[i].first = i + 1 < c->max_heads ? i + 1 : NIL;
    c->head_free = c->max_heads ? 0 : NIL;
    c->n_free_heads = c->max_heads;
    c->expire_pos = 0;
}

static inline bool expired(const struct dp_flow_cache *c, const struct dp_flow *f, uint64_t now, bool *hard)
{
    *hard = c->hard_ns && now > f->created_ns && now - f->created_ns >= c->hard_ns;
    if (*hard)
        return true;
    return c->idle_ticks && (int32_t)((uint32_t)(now >> DP_FLOW_TICK_SHIFT) - f->used_tick) >= (int32_t)c->idle_ticks;
}

static void remove_expired(struct dp_flow_cache *c, uint32_t idx, bool hard)
{
    if (hard)
        c->stats.expired_hard++;
    else
        c->stats.expired_idle++;
    remove_idx(c, idx);
}

static uint32_t find_idx(const struct dp_flow_cache *c, const struct flow_key *key, uint64_t h)
{
    struct htab_iter it;

    for (uint32_t v = htab_find_first(c->by_key, h, &it); v != HTAB_NONE; v = htab_find_next(&it))
        if (key_equal(&c->flows[v].key, key))
            return v;
    return NIL;
}

uint32_t dp_flow_lookup_burst(struct dp_flow_cache *c, const struct flow_key *keys, uint32_t n, uint64_t now_ns,
                              struct dp_flow **flows)
{
    uint64_t h[DP_FLOW_BURST_MAX];
    uint32_t first[DP_FLOW_BURST_MAX];
    struct htab_iter it[DP_FLOW_BURST_MAX];
    uint32_t stale[DP_FLOW_BURST_MAX];
    uint32_t hits = 0, n_stale = 0;
    uint64_t stale_hard = 0;

    RP_DEBUG_ASSERT(n <= DP_FLOW_BURST_MAX);
    if (n > DP_FLOW_BURST_MAX)
        n = DP_FLOW_BURST_MAX;
    /* Three passes so that the memory reads of one stage overlap across
     * the burst: bucket lines, then entry lines, then compare. */
    for (uint32_t i = 0; i < n; i++) {
        h[i] = rp_hash_flow64(&keys[i]);
        htab_prefetch(c->by_key, h[i]);
    }
    for (uint32_t i = 0; i < n; i++) {
        first[i] = htab_find_first(c->by_key, h[i], &it[i]);
        if (first[i] != HTAB_NONE) {
            /* The key now, and the line the hit writes and the executor
             * reads (a second output, line 2, is the executor's to fetch). */
            const char *e = (const char *)&c->flows[first[i]];
            RP_PREFETCH(e);
            RP_PREFETCH(e + RP_CACHE_LINE);
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = first[i];
        struct dp_flow *f = NULL;
        bool hard;

        while (v != HTAB_NONE && !key_equal(&c->flows[v].key, &keys[i]))
            v = htab_find_next(&it[i]);
        if (v != HTAB_NONE) {
            f = &c->flows[v];
            if (RP_UNLIKELY(expired(c, f, now_ns, &hard))) {
                /* Removed after the loop: a remove would invalidate the
                 * iterators of the keys still to compare. */
                stale_hard |= (uint64_t)hard << n_stale;
                stale[n_stale++] = v;
                f = NULL;
            } else {
                f->used_tick = (uint32_t)(now_ns >> DP_FLOW_TICK_SHIFT);
            }
        }
        flows[i] = f;
        hits += f != NULL;
    }
    for (uint32_t i = 0; i < n_stale; i++)
        if (c->flows[stale[i]].actions.verdict != DP_ACT_FREE)     /* the same key twice in a burst */
            remove_expired(c, stale[i], (stale_hard >> i) & 1);
    c->stats.hits += hits;
    c->stats.misses += n - hits;
    return hits;
}

struct dp_flow *dp_flow_lookup(struct dp_flow_cache *c, const struct flow_key *key, uint64_t now_ns)
{
    struct dp_flow *f;

    dp_flow_lookup_burst(c, key, 1, now_ns, &f);
    return f;
}

static uint32_t find_head(const struct dp_flow_cache *c, uint64_t tag, uint64_t th)
{
    struct htab_iter it;

    for (uint32_t v = htab_find_first(c->by_tag, th, &it); v != HTAB_NONE; v = htab_find_next(&it))
        if (c->heads[v].tag == tag)
            return v;
    return NIL;
}

static bool flow_has_head(const struct dp_flow_cache *c, const struct dp_flow *f, uint32_t head)
{
    for (uint32_t r = f->tag_first; r != NIL; r = c->refs[r].next_in_flow)
        if (c->refs[r].head == head)
            return true;
    return false;
}

static int link_tag(struct dp_flow_cache *c, uint32_t idx, uint64_t tag)
{
    struct dp_flow *f = &c->flows[idx];
    uint64_t th = tag_hash(tag);
    uint32_t hi = find_head(c, tag, th), r;

    if (hi == NIL) {
        if (c->head_free == NIL)
            return -ENOSPC;
        hi = c->head_free;
        if (htab_insert(c->by_tag, th, hi))
            return -ENOSPC;
        c->head_free = c->heads[hi].first;
        c->n_free_heads--;
        c->heads[hi] = (struct tag_head){.tag = tag, .first = NIL, .count = 0};
    } else if (flow_has_head(c, f, hi)) {
        return 0;   /* a repeated tag */
    }
    if (c->ref_free == NIL) {
        if (c->heads[hi].count == 0) {
            /* Give back the head taken above. */
            htab_remove(c->by_tag, th, hi);
            c->heads[hi].first = c->head_free;
            c->head_free = hi;
            c->n_free_heads++;
        }
        return -ENOSPC;
    }
    r = c->ref_free;
    c->ref_free = c->refs[r].next_in_flow;
    c->n_free_refs--;
    c->refs[r] = (struct tag_ref){
        .flow = idx, .head = hi, .next_in_tag = c->heads[hi].first, .prev_in_tag = NIL, .next_in_flow = f->tag_first,
    };
    if (c->heads[hi].first != NIL)
        c->refs[c->heads[hi].first].prev_in_tag = r;
    c->heads[hi].first = r;
    c->heads[hi].count++;
    f->tag_first = r;
    return 0;
}

int dp_flow_insert(struct dp_flow_cache *c, const struct flow_key *key, const struct dp_actions *actions,
                   const uint64_t *tags, uint32_t n_tags, uint64_t now_ns, struct dp_flow **out)
{
    uint64_t h;
    uint32_t idx;
    struct dp_flow *f;

    if (!c || !key || !actions || actions->verdict == DP_ACT_FREE || (n_tags && !tags))
        return -EINVAL;
    if (n_tags > DP_FLOW_MAX_TAGS)
        return -E2BIG;
    h = rp_hash_flow64(key);
    idx = find_idx(c, key, h);
    if (idx != NIL)
        remove_idx(c, idx);
    /* Refuse up front what would surely not fit, so that a refusal rarely
     * has to undo links. */
    if (c->n_free == 0 || c->n_free_refs < n_tags) {
        c->stats.refused_full++;
        return -ENOSPC;
    }
    idx = c->free_flows[--c->n_free];
    f = &c->flows[idx];
    f->key = *key;
    f->packets = f->bytes = 0;
    f->created_ns = now_ns;
    f->used_tick = (uint32_t)(now_ns >> DP_FLOW_TICK_SHIFT);
    f->tag_first = NIL;
    f->actions = *actions;
    c->n_flows++;
    if (htab_insert(c->by_key, h, idx))
        goto refuse;
    for (uint32_t i = 0; i < n_tags; i++)
        if (link_tag(c, idx, tags[i]))
            goto refuse;
    c->stats.inserts++;
    if (out)
        *out = f;
    return 0;

refuse:
    remove_idx(c, idx);
    c->stats.removes--;
    c->stats.refused_full++;
    return -ENOSPC;
}

bool dp_flow_remove(struct dp_flow_cache *c, const struct flow_key *key)
{
    uint32_t idx = find_idx(c, key, rp_hash_flow64(key));

    if (idx == NIL)
        return false;
    remove_idx(c, idx);
    return true;
}

uint32_t dp_flow_invalidate_tag(struct dp_flow_cache *c, uint64_t tag)
{
    uint32_t hi = find_head(c, tag, tag_hash(tag)), n;

    if (hi == NIL)
        return 0;
    /* Removing the last flow frees the head: count first, then take the
     * list's first flow that many times. */
    n = c->heads[hi].count;
    for (uint32_t i = 0; i < n; i++)
        remove_idx(c, c->refs[c->heads[hi].first].flow);
    c->stats.invalidated += n;
    return n;
}

uint32_t dp_flow_expire(struct dp_flow_cache *c, uint64_t now_ns, uint32_t budget)
{
    uint32_t removed = 0;

    if (budget > c->max_flows)
        budget = c->max_flows;
    for (uint32_t i = 0; i < budget; i++) {
        uint32_t idx = c->expire_pos;
        struct dp_flow *f = &c->flows[idx];
        bool hard;

        c->expire_pos = idx + 1 < c->max_flows ? idx + 1 : 0;
        if (f->actions.verdict == DP_ACT_FREE || !expired(c, f, now_ns, &hard))
            continue;
        remove_expired(c, idx, hard);
        removed++;
    }
    return removed;
}

uint32_t dp_flow_count(const struct dp_flow_cache *c)
{
    return c->n_flows;
}

size_t dp_flow_memory(const struct dp_flow_cache *c)
{
    return sizeof(*c) + (size_t)c->max_flows * (sizeof(struct dp_flow) + sizeof(uint32_t)) +
           (size_t)c->max_refs * sizeof(struct tag_ref) + (size_t)c->max_heads * sizeof(struct tag_head) +
           htab_memory(c->by_key) + htab_memory(c->by_tag);
}

const struct dp_flow_stats *dp_flow_cache_stats(const struct dp_flow_cache *c)
{
    return &c->stats;
}
