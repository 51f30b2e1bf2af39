/*
 * gateway/gw_routes.c: the learned-route table (see gw_impl.h).
 *
 * Three structures:
 *  - the LPM (lib/lpm.h). Its value per prefix is a code: a next-hop set id
 *    for a unicast route, or one of two reserved codes for routes that drop.
 *    A lookup reads the LPM, then the set's header and members: nothing else.
 *  - next-hop sets, interned here rather than in lpm_nhset: the feed gives
 *    weights 1..256 over up to 256 members, and lpm_nhset weighs by listing
 *    a member again, with at most 1024 members in all. A set keeps the
 *    cumulative weight of each member, so a pick is one multiply and a
 *    binary search of at most 8 steps.
 *  - one 8-byte record per route in an open-addressing table keyed by
 *    (prefix, len): the code (so a replace or delete puts the old set
 *    without asking the LPM) and the stale mark of the dump rule. The key
 *    is hashed with the process's SipHash key because BGP peers choose the
 *    prefixes and must not be able to build one long probe run.
 */
#include "gateway/gw_impl.h"
#include "bgp/route_feed.h"
#include "lib/hash.h"
#include "lib/lpm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Route codes in the LPM and in the records: 24 bits. */
#define CODE_BITS 24
#define CODE_BLACKHOLE ((1u << CODE_BITS) - 1)
#define CODE_UNREACHABLE ((1u << CODE_BITS) - 2)
#define CODE_MAX_SET (CODE_UNREACHABLE - 1)
/* Live sets are at most one more than the routes (a replace holds both). */
_Static_assert(GW_ROUTES_MAX < CODE_MAX_SET, "set ids must fit below the reserved codes");

/* Record meta: bits 0..5 len + 1 (0: empty slot), bit 6 stale, bits 8..31 code. */
#define META_LEN_MASK 0x3fu
#define META_STALE 0x40u
#define META_CODE_SHIFT 8

#define RT_MIN_CAP 1024u

struct rt_slot {
    uint32_t prefix;
    uint32_t meta;
};
_Static_assert(sizeof(struct rt_slot) == 8, "a route record is 8 bytes");

/* 'end' is the cumulative weight through this member: a hash lands in
 * member i when end[i-1] <= x < end[i]. Sorted by (gateway, ifindex,
 * weight), so comparing arrays compares multisets. */
struct nh_member {
    uint32_t gateway;
    uint32_t ifindex;
    uint32_t end;
};
_Static_assert(sizeof(struct nh_member) == 12, "no padding: members are hashed as bytes");

struct nh_set {
    const struct nh_member *m;   /* NULL: a free id */
    uint32_t n;
    uint32_t total;              /* sum of weights: m[n - 1].end */
    uint32_t refs;
    uint64_t hash;
};

struct gw_routes {
    struct lpm *lpm;
    /* sets */
    struct nh_set *sets;
    uint32_t n_ids, cap_ids, live_sets;
    uint32_t *free_ids;
    uint32_t n_free;
    size_t member_bytes;
    struct htab *set_index;      /* hash of the sorted members -> set id */
    /* route records */
    struct rt_slot *slots;
    uint32_t cap, mask, count, max_routes;
    bool dumping;                /* a DUMP_BEGIN since the last DUMP_END: marks are meaningful */
    struct gw_routes_stats st;
};

static inline uint32_t mask_of(unsigned len)
{
    return len ? ~0u << (32 - len) : 0;
}

/* murmur3's finalizer: a bijection, so a weak flow hash still spreads and a
 * given hash always maps to the same value. */
static inline uint32_t mix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* --- next-hop sets ------------------------------------------------------------------- */

struct nh_in {
    uint32_t gateway, ifindex, weight;
};

static int cmp_nh_in(const void *a, const void *b)
{
    const struct nh_in *x = a, *y = b;

    if (x->gateway != y->gateway)
        return x->gateway < y->gateway ? -1 : 1;
    if (x->ifindex != y->ifindex)
        return x->ifindex < y->ifindex ? -1 : 1;
    return x->weight < y->weight ? -1 : x->weight > y->weight;
}

static int set_id_alloc(struct gw_routes *r, uint32_t *id)
{
    if (r->n_free) {
        *id = r->free_ids[--r->n_free];
        return 0;
    }
    if (r->n_ids == r->cap_ids) {
        uint32_t cap = r->cap_ids ? r->cap_ids * 2 : 64;
        struct nh_set *ns;
        uint32_t *nf;

        if (cap - 1 > CODE_MAX_SET)
            cap = CODE_MAX_SET + 1;
        if (cap <= r->cap_ids)
            return -ENOMEM;
        ns = realloc(r->sets, cap * sizeof(*ns));
        if (!ns)
            return -ENOMEM;
        r->sets = ns;
        nf = realloc(r->free_ids, cap * sizeof(*nf));
        if (!nf)
            return -ENOMEM;
        r->free_ids = nf;
        r->cap_ids = cap;
    }
    *id = r->n_ids++;
    r->sets[*id] = (struct nh_set){0};
    return 0;
}

/* One reference on the set of rt's next hops. 0, -EINVAL, -ENOMEM. */
static int set_get(struct gw_routes *r, const struct bgp_route_feed_route *rt, uint32_t *id_out)
{
    struct nh_in in[BGP_ROUTE_FEED_MAX_NEXTHOPS];
    struct nh_member m[BGP_ROUTE_FEED_MAX_NEXTHOPS], *copy;
    unsigned n = rt->n_nexthops;
    struct htab_iter it;
    uint32_t total = 0, id;
    uint64_t h;

    if (n == 0 || n > BGP_ROUTE_FEED_MAX_NEXTHOPS)
        return -EINVAL;
    for (unsigned i = 0; i < n; i++) {
        const struct bgp_route_feed_nexthop *nh = &rt->nexthops[i];

        if (nh->weight < 1 || nh->weight > 256)
            return -EINVAL;
        in[i] = (struct nh_in){nh->gateway, nh->ifindex, nh->weight};
    }
    qsort(in, n, sizeof(in[0]), cmp_nh_in);
    for (unsigned i = 0; i < n; i++) {
        total += in[i].weight;
        m[i] = (struct nh_member){in[i].gateway, in[i].ifindex, total};
    }
    h = rp_siphash(m, n * sizeof(m[0]));
    for (id = htab_find_first(r->set_index, h, &it); id != HTAB_NONE; id = htab_find_next(&it)) {
        struct nh_set *s = &r->sets[id];

        if (s->n == n && !memcmp(s->m, m, n * sizeof(m[0]))) {
            s->refs++;
            *id_out = id;
            return 0;
        }
    }
    copy = malloc(n * sizeof(m[0]));
    if (!copy)
        return -ENOMEM;
    memcpy(copy, m, n * sizeof(m[0]));
    if (set_id_alloc(r, &id) < 0)
        goto fail;
    if (htab_insert(r->set_index, h, id) < 0) {
        r->free_ids[r->n_free++] = id;
        goto fail;
    }
    r->sets[id] = (struct nh_set){copy, n, total, 1, h};
    r->live_sets++;
    r->member_bytes += n * sizeof(m[0]);
    *id_out = id;
    return 0;

fail:
    free(copy);
    return -ENOMEM;
}

static void set_put(struct gw_routes *r, uint32_t id)
{
    struct nh_set *s;

    RP_ASSERT(id < r->n_ids && r->sets[id].refs);
    s = &r->sets[id];
    if (--s->refs)
        return;
    htab_remove(r->set_index, s->hash, id);
    r->member_bytes -= s->n * sizeof(struct nh_member);
    free((void *)s->m);
    *s = (struct nh_set){0};
    r->free_ids[r->n_free++] = id;
    r->live_sets--;
}

static void code_put(struct gw_routes *r, uint32_t code)
{
    if (code <= CODE_MAX_SET)
        set_put(r, code);
}

/* --- route records ------------------------------------------------------------------- */

static inline uint32_t meta_len(uint32_t meta)
{
    return (meta & META_LEN_MASK) - 1;
}

static inline uint32_t meta_code(uint32_t meta)
{
    return meta >> META_CODE_SHIFT;
}

static inline uint32_t meta_make(uint8_t len, uint32_t code)
{
    return (uint32_t)(len + 1) | code << META_CODE_SHIFT;
}

static inline uint32_t rt_home(const struct gw_routes *r, uint32_t prefix, uint8_t len)
{
    uint64_t key = (uint64_t)prefix << 8 | len;

    return (uint32_t)rp_siphash(&key, sizeof(key)) & r->mask;
}

/* Slot of prefix/len, or UINT32_MAX. The load stays under 3/4, so an empty
 * slot ends every probe. */
static uint32_t rt_find(const struct gw_routes *r, uint32_t prefix, uint8_t len)
{
    for (uint32_t i = rt_home(r, prefix, len), k = 0; k < r->cap; i = (i + 1) & r->mask, k++) {
        const struct rt_slot *s = &r->slots[i];

        if (!(s->meta & META_LEN_MASK))
            return UINT32_MAX;
        if (s->prefix == prefix && meta_len(s->meta) == len)
            return i;
    }
    return UINT32_MAX;
}

static void rt_place(struct gw_routes *r, uint32_t prefix, uint32_t meta)
{
    uint32_t i = rt_home(r, prefix, (uint8_t)meta_len(meta));

    while (r->slots[i].meta & META_LEN_MASK)
        i = (i + 1) & r->mask;
    r->slots[i] = (struct rt_slot){prefix, meta};
}

/* Room for one more record at a load of at most 3/4. Growing rehashes
 * everything at once (tens of ms at a million routes): it happens while a
 * table is first loaded, at each power of two. */
static int rt_reserve(struct gw_routes *r)
{
    struct rt_slot *old = r->slots, *ns;
    uint32_t old_cap = r->cap, cap = r->cap * 2;

    if ((uint64_t)(r->count + 1) * 4 <= (uint64_t)r->cap * 3)
        return 0;
    ns = calloc(cap, sizeof(*ns));
    if (!ns)
        return -ENOMEM;
    r->slots = ns;
    r->cap = cap;
    r->mask = cap - 1;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i].meta & META_LEN_MASK)
            rt_place(r, old[i].prefix, old[i].meta);
    free(old);
    return 0;
}

/* Backward-shift deletion: no tombstones, so probes stay short after
 * churn. Entries only move toward their home slot. */
static void rt_remove_at(struct gw_routes *r, uint32_t hole)
{
    uint32_t j = hole;

    for (;;) {
        uint32_t home;

        j = (j + 1) & r->mask;
        if (!(r->slots[j].meta & META_LEN_MASK))
            break;
        home = rt_home(r, r->slots[j].prefix, (uint8_t)meta_len(r->slots[j].meta));
        /* Move j into the hole unless its home lies cyclically in (hole, j]. */
        if (((j - home) & r->mask) >= ((j - hole) & r->mask)) {
            r->slots[hole] = r->slots[j];
            hole = j;
        }
    }
    r->slots[hole] = (struct rt_slot){0};
    r->count--;
}

/* --- public -------------------------------------------------------------------------- */

int gw_routes_create(uint32_t max_routes, struct gw_routes **out)
{
    struct gw_routes *r;
    int rc = -ENOMEM;

    if (!out || max_routes == 0 || max_routes > GW_ROUTES_MAX)
        return -EINVAL;
    r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    rc = lpm_create(&r->lpm);
    if (rc < 0)
        goto fail_r;
    rc = -ENOMEM;
    if (htab_create(&r->set_index, 64) < 0)
        goto fail_lpm;
    r->cap = RT_MIN_CAP;
    r->mask = r->cap - 1;
    r->slots = calloc(r->cap, sizeof(*r->slots));
    if (!r->slots)
        goto fail_htab;
    r->max_routes = max_routes;
    *out = r;
    return 0;

fail_htab:
    htab_destroy(r->set_index);
fail_lpm:
    lpm_destroy(r->lpm);
fail_r:
    free(r);
    return rc;
}

void gw_routes_destroy(struct gw_routes *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->n_ids; i++)
        free((void *)r->sets[i].m);
    free(r->sets);
    free(r->free_ids);
    htab_destroy(r->set_index);
    free(r->slots);
    lpm_destroy(r->lpm);
    free(r);
}

static int route_add(struct gw_routes *r, const struct bgp_route_feed_route *rt)
{
    uint32_t code, i;
    int rc;

    if (rt->len > 32 || (rt->prefix & ~mask_of(rt->len)))
        return -EINVAL;
    switch (rt->type) {
    case BGP_ROUTE_FEED_UNICAST:
        rc = set_get(r, rt, &code);
        if (rc == -ENOMEM)
            r->st.refused++;
        if (rc < 0)
            return rc;
        break;
    case BGP_ROUTE_FEED_BLACKHOLE:
        code = CODE_BLACKHOLE;
        break;
    case BGP_ROUTE_FEED_UNREACHABLE:
    case BGP_ROUTE_FEED_PROHIBIT:
        code = CODE_UNREACHABLE;
        break;
    default:
        return -EINVAL;
    }
    i = rt_find(r, rt->prefix, rt->len);
    if (i != UINT32_MAX && meta_code(r->slots[i].meta) == code) {
        /* The same route again (a dump, most often): only the mark changes. */
        r->slots[i].meta &= ~META_STALE;
        code_put(r, code);
        r->st.adds++;
        return 0;
    }
    if (i == UINT32_MAX) {
        rc = r->count >= r->max_routes ? -ENOSPC : rt_reserve(r);
        if (rc < 0)
            goto refuse;
    }
    rc = lpm_add(r->lpm, rt->prefix, rt->len, code);
    if (rc < 0)
        goto refuse;
    if (i == UINT32_MAX) {
        rt_place(r, rt->prefix, meta_make(rt->len, code));
        r->count++;
    } else {
        uint32_t old = meta_code(r->slots[i].meta);

        r->slots[i].meta = meta_make(rt->len, code);
        code_put(r, old);
    }
    r->st.adds++;
    return 0;

refuse:
    code_put(r, code);
    r->st.refused++;
    return rc;
}

static int route_del(struct gw_routes *r, uint32_t i)
{
    const struct rt_slot *s = &r->slots[i];
    uint32_t code = meta_code(s->meta);
    int rc = lpm_del(r->lpm, s->prefix, (uint8_t)meta_len(s->meta));

    if (rc < 0 && rc != -ENOENT)
        return rc;
    code_put(r, code);
    rt_remove_at(r, i);
    return 0;
}

static void mark_all_stale(struct gw_routes *r)
{
    for (uint32_t i = 0; i < r->cap; i++)
        if (r->slots[i].meta & META_LEN_MASK)
            r->slots[i].meta |= META_STALE;
}

/* Deleting at i may shift a later record into i, so i is looked at again;
 * records only move toward their home, so none skips past the cursor
 * (those that wrap from the front to the back are merely seen twice). A
 * record the LPM cannot drop now (-ENOMEM) stays marked for the next dump. */
static void sweep(struct gw_routes *r)
{
    for (uint32_t i = 0; i < r->cap;) {
        if ((r->slots[i].meta & META_STALE) && route_del(r, i) == 0) {
            r->st.swept++;
            continue;
        }
        i++;
    }
}

int gw_routes_apply(struct gw_routes *r, const struct bgp_route_feed_event *ev)
{
    switch (ev->type) {
    case BGP_ROUTE_FEED_ROUTE_ADD:
        return route_add(r, &ev->route);
    case BGP_ROUTE_FEED_ROUTE_DEL: {
        uint32_t i;

        if (ev->route.len > 32 || (ev->route.prefix & ~mask_of(ev->route.len)))
            return -EINVAL;
        r->st.dels++;
        i = rt_find(r, ev->route.prefix, ev->route.len);
        return i == UINT32_MAX ? 0 : route_del(r, i);
    }
    case BGP_ROUTE_FEED_DUMP_BEGIN:
        mark_all_stale(r);
        r->dumping = true;
        return 0;
    case BGP_ROUTE_FEED_DUMP_END:
        if (r->dumping && ev->dump.complete) {
            sweep(r);
            r->st.dumps++;
        }
        r->dumping = false;
        return 0;
    case BGP_ROUTE_FEED_LINK:
    case BGP_ROUTE_FEED_OVERRUN:
        return 0;
    }
    return -EINVAL;
}

void gw_routes_feed_cb(void *ctx, const struct bgp_route_feed_event *ev)
{
    (void)gw_routes_apply(ctx, ev);
}

int gw_routes_lookup(const struct gw_routes *r, uint32_t dst, uint32_t hash, enum gw_route_kind *kind,
                     struct gw_nexthop *nh)
{
    uint32_t code = lpm_lookup(r->lpm, dst);
    const struct nh_set *s;
    const struct nh_member *m;
    uint32_t x, i;

    if (code == LPM_NONE)
        return -ENOENT;
    if (RP_UNLIKELY(code > CODE_MAX_SET)) {
        *kind = code == CODE_BLACKHOLE ? GW_ROUTE_BLACKHOLE : GW_ROUTE_UNREACHABLE;
        return 0;
    }
    s = &r->sets[code];
    m = s->m;
    /* Multiply-shift onto [0, total) keeps the spread proportional to the
     * weights without a division. Most routes have one or two members, and
     * a mix of both in one table would mispredict a branch on n: this one
     * comparison is the answer for both (with one member x < m[0].end). */
    x = (uint32_t)(((uint64_t)mix32(hash) * s->total) >> 32);
    i = m[0].end <= x;
    if (RP_UNLIKELY(s->n > 2)) {
        /* Branch-free lower bound: the first member whose end is past x;
         * at most 8 halvings (n <= 256). */
        const struct nh_member *base = m;

        for (uint32_t len = s->n; len > 1;) {
            uint32_t half = len / 2;

            base = base[half - 1].end <= x ? base + half : base;
            len -= half;
        }
        i = (uint32_t)(base - m);
    }
    *kind = GW_ROUTE_UNICAST;
    nh->gateway = m[i].gateway;
    nh->ifindex = m[i].ifindex;
    return 0;
}

void gw_routes_get_stats(const struct gw_routes *r, struct gw_routes_stats *out)
{
    *out = r->st;
    out->routes = r->count;
    out->nexthop_sets = r->live_sets;
    out->bytes = sizeof(*r) + lpm_memory(r->lpm) + (size_t)r->cap * sizeof(*r->slots) +
                 (size_t)r->cap_ids * (sizeof(*r->sets) + sizeof(*r->free_ids)) + r->member_bytes +
                 htab_memory(r->set_index);
}

struct list_ctx {
    const struct gw_routes *r;
    uint32_t from;
    uint8_t from_len;
    struct gw_route_view *out;
    unsigned max, n;
};

static int list_one(uint32_t prefix, uint8_t len, uint32_t code, void *arg)
{
    struct list_ctx *c = arg;
    struct gw_route_view *v;

    if (prefix < c->from || (prefix == c->from && len < c->from_len))
        return 0;
    v = &c->out[c->n];
    memset(v, 0, sizeof(*v));
    v->prefix = prefix;
    v->len = len;
    if (code == CODE_BLACKHOLE) {
        v->kind = GW_ROUTE_BLACKHOLE;
    } else if (code == CODE_UNREACHABLE) {
        v->kind = GW_ROUTE_UNREACHABLE;
    } else {
        const struct nh_set *s = &c->r->sets[code];

        v->kind = GW_ROUTE_UNICAST;
        v->n_nexthops = s->n;
        for (unsigned i = 0; i < s->n && i < RP_ARRAY_SIZE(v->nexthops); i++)
            v->nexthops[i] = (struct gw_nexthop){s->m[i].gateway, s->m[i].ifindex};
    }
    return ++c->n == c->max;
}

unsigned gw_routes_list_from(const struct gw_routes *r, uint32_t from, uint8_t from_len, struct gw_route_view *out,
                             unsigned max)
{
    struct list_ctx c = {r, from, from_len, out, max, 0};

    if (max == 0)
        return 0;
    (void)lpm_foreach(r->lpm, list_one, &c);
    return c.n;
}

unsigned gw_routes_list(const struct gw_routes *r, struct gw_route_view *out, unsigned max)
{
    return gw_routes_list_from(r, 0, 0, out, max);
}
