/*
 * nat/nat_table.c: the tables' life cycle, NAT bindings (their two hash
 * slots, lookups both ways), refreshing by reference, expiry, accounting.
 *
 * A binding sits in one hash table under two keys: its original tuple
 * (kind) and its reply tuple (kind | NAT_KEY_REV). The reply key is what
 * makes a translated (address, port) unique towards one remote, and what a
 * reply packet finds. Entries found idle past their timeout are freed on the
 * spot, so a lookup never answers with state the sweep has not reached yet.
 */
#include "nat/nat_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NAT_MAX_ENTRIES (1u << 28)
#define NS_PER_S 1000000000ull

void nat_config_default(struct nat_config *cfg)
{
    *cfg = (struct nat_config){
        .max_conntrack = 65536,
        .max_nat = 65536,
        .max_pools = 256,
        .tcp_syn_s = 30,
        .tcp_established_s = 7200,
        .tcp_closing_s = 30,
        .udp_s = 60,
        .icmp_s = 30,
        .other_s = 60,
        .block_hold_s = 60,
    };
}

static bool config_ok(const struct nat_config *c)
{
    if (!c->max_conntrack || c->max_conntrack > NAT_MAX_ENTRIES || !c->max_nat || c->max_nat > NAT_MAX_ENTRIES ||
        !c->max_pools || c->max_pools > NAT_MAX_ENTRIES)
        return false;
    if (!c->tcp_syn_s || !c->tcp_established_s || !c->tcp_closing_s || !c->udp_s || !c->icmp_s || !c->other_s ||
        !c->block_hold_s)
        return false;
    return !c->alloc_ops || (c->alloc_ops->lease && c->alloc_ops->release);
}

static void set_timeouts(struct nat_tables *t)
{
    const struct nat_config *c = &t->cfg;
    uint64_t per_class[4] = {c->tcp_established_s, c->udp_s, c->icmp_s, c->other_s};

    for (unsigned k = 0; k < 4; k++)
        for (unsigned s = 0; s < 4; s++)
            t->to_ns[k][s] = per_class[k] * NS_PER_S;
    t->to_ns[0][NAT_TCP_SYN] = (uint64_t)c->tcp_syn_s * NS_PER_S;
    t->to_ns[0][NAT_TCP_CLOSING] = (uint64_t)c->tcp_closing_s * NS_PER_S;
}

static int nat_pool_init(struct nat_tables *t)
{
    uint32_t n = t->cfg.max_nat;
    int rc;

    t->nat = calloc(n, sizeof(*t->nat));
    if (!t->nat)
        return -ENOMEM;
    /* Two keys per binding. */
    if ((rc = htab_create(&t->nat_idx, 2 * n)) < 0)
        goto err_free;
    if ((rc = htab_set_max(t->nat_idx, 2 * n)) < 0)
        goto err_htab;
    for (uint32_t i = 0; i < n; i++)
        t->nat[i].next_free = i + 1 < n ? i + 1 : HTAB_NONE;
    t->nat_free = 0;
    return 0;

err_htab:
    htab_destroy(t->nat_idx);
    t->nat_idx = NULL;
err_free:
    free(t->nat);
    t->nat = NULL;
    return rc;
}

int nat_tables_create(struct nat_tables **out, const struct nat_config *cfg)
{
    struct nat_tables *t;
    int rc;

    if (!out || !cfg || !config_ok(cfg))
        return -EINVAL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->cfg = *cfg;
    set_timeouts(t);
    if ((rc = nat_ct_init(t)) < 0)
        goto err_t;
    if ((rc = nat_pool_init(t)) < 0)
        goto err_ct;
    if ((rc = nat_pools_init(t)) < 0)
        goto err_nat;
    if (cfg->alloc_ops) {
        t->alloc_ops = cfg->alloc_ops;
        t->alloc_ctx = cfg->alloc_ctx;
    } else {
        if ((rc = nat_local_allocator_create(&t->own_alloc)) < 0)
            goto err_pools;
        t->alloc_ops = &nat_local_allocator_ops;
        t->alloc_ctx = t->own_alloc;
    }
    /* Port search starts come from here: seeded through the keyed hash, so
     * an outside observer cannot predict them. */
    t->rand_state = rp_siphash(&t, sizeof(t)) | 1;
    *out = t;
    return 0;

err_pools:
    nat_pools_fini(t);
err_nat:
    htab_destroy(t->nat_idx);
    free(t->nat);
err_ct:
    nat_ct_fini(t);
err_t:
    free(t);
    return rc;
}

void nat_tables_destroy(struct nat_tables *t)
{
    if (!t)
        return;
    nat_pools_fini(t);
    htab_destroy(t->nat_idx);
    free(t->nat);
    nat_ct_fini(t);
    nat_local_allocator_destroy(t->own_alloc);
    free(t);
}

uint64_t nat_rand(struct nat_tables *t)
{
    /* splitmix64 */
    uint64_t z = (t->rand_state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* --- bindings --------------------------------------------------------------------- */

void nat_entry_reply(const struct nat_entry *e, struct nat_tuple *r)
{
    r->zone = e->zone;
    r->proto = e->proto;
    if (e->kind == NAT_STATE_SNAT) {
        r->src = e->dst;
        r->dst = e->xaddr;
        r->sport = e->dport;
        r->dport = e->xport;
    } else {
        r->src = e->xaddr;
        r->dst = e->src;
        r->sport = e->xport;
        r->dport = e->sport;
    }
    /* ICMP echo: the identifier is both "ports", and it is what changed. */
    if (e->proto == IP_PROTO_ICMP)
        r->sport = r->dport = e->xport;
}

static void entry_key(const struct nat_entry *e, bool rev, struct nat_key *k)
{
    struct nat_tuple tu;

    if (rev) {
        nat_entry_reply(e, &tu);
    } else {
        tu = (struct nat_tuple){.zone = e->zone, .src = e->src, .dst = e->dst, .sport = e->sport,
                                .dport = e->dport, .proto = e->proto};
    }
    nat_key_set(k, &tu, (uint8_t)(e->kind | (rev ? NAT_KEY_REV : 0)));
}

uint32_t nat_entry_find(const struct nat_tables *t, const struct nat_key *k)
{
    struct htab_iter it;

    for (uint32_t v = htab_find_first(t->nat_idx, nat_key_hash(k), &it); v != HTAB_NONE; v = htab_find_next(&it)) {
        const struct nat_entry *e = &t->nat[v];
        struct nat_key ek;

        if (!e->kind || e->zone != k->zone || e->proto != k->proto || e->kind != (k->kind & ~NAT_KEY_REV))
            continue;
        entry_key(e, (k->kind & NAT_KEY_REV) != 0, &ek);
        if (memcmp(&ek, k, sizeof(ek)) == 0)
            return v;
    }
    return HTAB_NONE;
}


int nat_entry_add(struct nat_tables *t, uint8_t kind, const struct nat_tuple *orig, rp_be32 xaddr, rp_be16 xport,
                  uint8_t tcp_state, uint64_t last_ns, uint8_t flags, uint32_t pool, uint32_t *idx_out)
{
    uint32_t i = t->nat_free;
    struct nat_entry *e;
    struct nat_key fk, rk;
    uint64_t fh;
    uint32_t next;

    if (i == HTAB_NONE) {
        t->st.nat_full++;
        return -ENOSPC;
    }
    e = &t->nat[i];
    next = e->next_free;    /* shares memory with src */
    e->zone = orig->zone;
    e->proto = orig->proto;
    e->kind = kind;
    e->xaddr = xaddr;
    e->xport = xport;
    e->src = orig->src;
    e->dst = orig->dst;
    e->sport = orig->sport;
    e->dport = orig->dport;
    entry_key(e, false, &fk);
    entry_key(e, true, &rk);
    fh = nat_key_hash(&fk);
    if (htab_insert(t->nat_idx, fh, i) < 0)
        goto full;
    if (htab_insert(t->nat_idx, nat_key_hash(&rk), i) < 0) {
        htab_remove(t->nat_idx, fh, i);
        goto full;
    }
    t->nat_free = next;
    e->tcp_state = tcp_state;
    e->last_ns = last_ns;
    e->flags = flags;
    e->pool = pool;
    t->nat_live++;
    *idx_out = i;
    return 0;

full:
    e->kind = 0;
    e->next_free = next;
    t->st.nat_full++;
    return -ENOSPC;
}

/* Free a binding whose two index hashes are known (the expiry sweep
 * computes them ahead to prefetch their buckets). */
static void nat_entry_free_hashed(struct nat_tables *t, uint32_t i, uint64_t fh, uint64_t rh)
{
    struct nat_entry *e = &t->nat[i];
    bool a, b;

    a = htab_remove(t->nat_idx, fh, i);
    b = htab_remove(t->nat_idx, rh, i);
    RP_ASSERT(a && b);
    if (e->pool != UINT32_MAX)
        nat_pool_unbind(t, e->pool, ntohs(e->xport));
    e->kind = 0;
    e->gen++;
    e->next_free = t->nat_free;
    t->nat_free = i;
    t->nat_live--;
}

static void nat_entry_hashes(const struct nat_entry *e, uint64_t *fh, uint64_t *rh)
{
    struct nat_key fk, rk;

    entry_key(e, false, &fk);
    entry_key(e, true, &rk);
    *fh = nat_key_hash(&fk);
    *rh = nat_key_hash(&rk);
}

static void nat_entry_free(struct nat_tables *t, uint32_t i)
{
    uint64_t fh, rh;

    nat_entry_hashes(&t->nat[i], &fh, &rh);
    nat_entry_free_hashed(t, i, fh, rh);
}

static bool nat_entry_idle(const struct nat_tables *t, const struct nat_entry *e, uint64_t now_ns)
{
    return nat_idle_past(now_ns, e->last_ns, nat_timeout_ns(t, e->proto, e->tcp_state));
}

uint32_t nat_entry_find_live(struct nat_tables *t, const struct nat_key *k, uint64_t now_ns)
{
    uint32_t i = nat_entry_find(t, k);

    if (i != HTAB_NONE && nat_entry_idle(t, &t->nat[i], now_ns)) {
        nat_entry_free(t, i);
        t->st.nat_expired++;
        return HTAB_NONE;
    }
    return i;
}

bool nat_reply_taken(struct nat_tables *t, uint8_t kind, const struct nat_tuple *reply, uint64_t now_ns)
{
    struct nat_key k;

    nat_key_set(&k, reply, (uint8_t)(kind | NAT_KEY_REV));
    return nat_entry_find_live(t, &k, now_ns) != HTAB_NONE;
}

/* Find a live one and refresh it. */
static uint32_t find_live(struct nat_tables *t, const struct nat_key *k, uint64_t now_ns)
{
    uint32_t i = nat_entry_find_live(t, k, now_ns);

    if (i != HTAB_NONE && now_ns > t->nat[i].last_ns)
        t->nat[i].last_ns = now_ns;
    return i;
}

void nat_entry_binding(const struct nat_tables *t, uint32_t idx, struct nat_binding *out)
{
    const struct nat_entry *e = &t->nat[idx];

    out->addr = e->xaddr;
    out->port = e->xport;
    out->ref = (struct nat_state_ref){.idx = idx, .gen = e->gen, .type = e->kind};
}

static bool kind_ok(enum nat_kind kind)
{
    return kind == NAT_KIND_SNAT || kind == NAT_KIND_DNAT;
}

/* enum nat_kind and the binding types of enum nat_state_type differ by one. */
static uint8_t state_type(enum nat_kind kind)
{
    return kind == NAT_KIND_SNAT ? NAT_STATE_SNAT : NAT_STATE_DNAT;
}

int nat_lookup(struct nat_tables *t, enum nat_kind kind, const struct nat_tuple *orig, uint64_t now_ns,
               struct nat_binding *out)
{
    struct nat_key k;
    uint32_t i;

    if (!kind_ok(kind))
        return -EINVAL;
    nat_key_set(&k, orig, state_type(kind));
    i = find_live(t, &k, now_ns);
    if (i == HTAB_NONE)
        return -ENOENT;
    nat_entry_binding(t, i, out);
    return 0;
}

int nat_reverse_lookup(struct nat_tables *t, enum nat_kind kind, const struct nat_tuple *reply, uint64_t now_ns,
                       struct nat_binding *out)
{
    struct nat_key k;
    const struct nat_entry *e;
    uint32_t i;

    if (!kind_ok(kind))
        return -EINVAL;
    nat_key_set(&k, reply, (uint8_t)(state_type(kind) | NAT_KEY_REV));
    i = find_live(t, &k, now_ns);
    if (i == HTAB_NONE)
        return -ENOENT;
    e = &t->nat[i];
    if (e->kind == NAT_STATE_SNAT) {
        out->addr = e->src;
        out->port = e->sport;
    } else {
        out->addr = e->dst;
        out->port = e->dport;
    }
    out->ref = (struct nat_state_ref){.idx = i, .gen = e->gen, .type = e->kind};
    return 0;
}

/* --- references, expiry, accounting ---------------------------------------------- */

#define NAT_TOUCH_AHEAD 8

/* GCC 12 at -O1 and up deletes __builtin_prefetch from this loop (tree
 * DCE: -fno-tree-dce keeps it; objdump shows none), so on x86 the
 * instruction is written out. */
static inline void nat_prefetch(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p);
#endif
}

static inline void nat_prefetch_ref(const struct nat_tables *t, const struct nat_state_ref *r)
{
    if (r->type == NAT_STATE_CT) {
        if (r->idx < t->cfg.max_conntrack)
            nat_prefetch(&t->ct[r->idx]);
    } else if (r->idx < t->cfg.max_nat) {
        nat_prefetch(&t->nat[r->idx]);
    }
}

static bool nat_touch_one(struct nat_tables *t, const struct nat_state_ref *r, uint8_t flags, uint64_t now_ns)
{
    struct nat_entry *e;

    if (r->type == NAT_STATE_CT)
        return nat_ct_touch(t, r->idx, r->gen, flags, now_ns);
    if (r->idx >= t->cfg.max_nat)
        return false;
    e = &t->nat[r->idx];
    if (!e->kind || e->kind != r->type || e->gen != r->gen || nat_entry_idle(t, e, now_ns))
        return false;
    if (flags)
        e->tcp_state = nat_tcp_next(e->proto, e->tcp_state, flags);
    if (now_ns > e->last_ns)
        e->last_ns = now_ns;
    return true;
}

unsigned nat_touch_burst(struct nat_tables *t, const struct nat_state_ref *refs, const uint8_t *tcp_flags,
                         unsigned n, uint64_t now_ns)
{
    unsigned live = 0;

    /* Entries of a burst are scattered over the pools: fetch a few ahead. */
    for (unsigned i = 0; i < n && i < NAT_TOUCH_AHEAD; i++)
        nat_prefetch_ref(t, &refs[i]);
    for (unsigned i = 0; i < n; i++) {
        if (i + NAT_TOUCH_AHEAD < n)
            nat_prefetch_ref(t, &refs[i + NAT_TOUCH_AHEAD]);
        live += nat_touch_one(t, &refs[i], tcp_flags ? tcp_flags[i] : 0, now_ns);
    }
    return live;
}

bool nat_ref_valid(const struct nat_tables *t, const struct nat_state_ref *r)
{
    if (r->type == NAT_STATE_CT)
        return r->idx < t->cfg.max_conntrack && t->ct[r->idx].live && t->ct[r->idx].gen == r->gen;
    if (r->type != NAT_STATE_SNAT && r->type != NAT_STATE_DNAT)
        return false;
    return r->idx < t->cfg.max_nat && t->nat[r->idx].kind == r->type && t->nat[r->idx].gen == r->gen;
}

/* Expired bindings are freed in batches: their index buckets are cold, so
 * the sweep hashes a batch, prefetches every bucket, then removes them,
 * letting the cache misses overlap instead of queueing one by one. */
#define EXPIRE_BATCH 16

static unsigned expire_batch(struct nat_tables *t, const uint32_t *idx, const uint64_t *h, unsigned n)
{
    for (unsigned k = 0; k < n; k++)
        nat_entry_free_hashed(t, idx[k], h[2 * k], h[2 * k + 1]);
    return n;
}

static unsigned nat_expire_some(struct nat_tables *t, uint64_t now_ns, unsigned *work)
{
    uint32_t n = t->cfg.max_nat, i = (uint32_t)t->nat_cursor, idx[EXPIRE_BATCH];
    uint64_t h[2 * EXPIRE_BATCH];
    unsigned removed = 0, nb = 0;

    while (*work > 0) {
        if (t->nat[i].kind && nat_entry_idle(t, &t->nat[i], now_ns)) {
            nat_entry_hashes(&t->nat[i], &h[2 * nb], &h[2 * nb + 1]);
            htab_prefetch(t->nat_idx, h[2 * nb]);
            htab_prefetch(t->nat_idx, h[2 * nb + 1]);
            idx[nb++] = i;
            if (nb == EXPIRE_BATCH) {
                removed += expire_batch(t, idx, h, nb);
                nb = 0;
            }
        }
        (*work)--;
        if (++i == n) {
            i = 0;
            break;
        }
    }
    removed += expire_batch(t, idx, h, nb);
    t->nat_cursor = i;
    t->st.nat_expired += removed;
    return removed;
}

unsigned nat_expire(struct nat_tables *t, uint64_t now_ns, unsigned max_work)
{
    /* Half the work to each pool; what conntrack leaves (at the end of its
     * pass) goes to the bindings. Block sweeps get a sixteenth on top. */
    unsigned w_ct = max_work / 2, w_nat = max_work - w_ct, w_pool = max_work / 16 + 1;
    unsigned removed = 0;

    removed += nat_ct_expire_some(t, now_ns, &w_ct);
    w_nat += w_ct;
    removed += nat_expire_some(t, now_ns, &w_nat);
    nat_pools_sweep_some(t, now_ns, &w_pool);
    return removed;
}

void nat_get_stats(const struct nat_tables *t, struct nat_stats *out)
{
    *out = t->st;
    out->ct_entries = t->ct_live;
    out->nat_entries = t->nat_live;
}

void nat_get_memory(const struct nat_tables *t, struct nat_memory *out)
{
    out->ct_capacity = t->cfg.max_conntrack;
    out->nat_capacity = t->cfg.max_nat;
    out->ct_bytes = (size_t)t->cfg.max_conntrack * sizeof(struct ct_entry) + htab_memory(t->ct_idx);
    out->nat_bytes = (size_t)t->cfg.max_nat * sizeof(struct nat_entry) + htab_memory(t->nat_idx);
    /* Pool slots are touched only up to their high-water mark. */
    out->pool_bytes = (size_t)t->pool_hwm * sizeof(struct nat_pool) + htab_memory(t->pool_idx);
    out->total_bytes = sizeof(*t) + out->ct_bytes + out->nat_bytes + out->pool_bytes;
}
