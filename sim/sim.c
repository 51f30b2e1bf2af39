/*
 * sim/sim.c: the simulation entry point, results and tags, the learned and
 * derived state, and what every device shares: the work queue of packet
 * copies, ingress checks, egress through exterior or interior ports, and
 * trace hops.
 *
 * Steady-state simulation allocates nothing: results keep their arrays
 * across calls, copies live in a fixed queue on the stack, and the indexes
 * derived from the topology are rebuilt only when its revision changes.
 */
#include "lib/hash.h"
#include "nat/nat.h"
#include "sim/engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- names and tags ------------------------------------------------------------- */

const char *sim_verdict_name(enum sim_verdict v)
{
    static const char *const names[] = {"forward", "drop", "consume", "reply", "pending"};

    return (unsigned)v < RP_ARRAY_SIZE(names) ? names[v] : "unknown";
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Unkeyed on purpose: tags name resources, not packets, must be the same in
 * every process (a gateway and an agent invalidate by the same tags), and a
 * collision costs only an extra invalidation. */
uint64_t sim_tag(enum sim_tag_kind kind, const struct sim_id *id, uint64_t key)
{
    uint64_t a, b, h;

    memcpy(&a, id->b, 8);
    memcpy(&b, id->b + 8, 8);
    /* Three independent products folded once: a simulation makes a few
     * dozen tags, so this is on the hot path. */
    h = a * 0x9e3779b97f4a7c15ull ^ b * 0xc2b2ae3d27d4eb4full ^ (key + ((uint64_t)kind << 56)) * 0x165667b19e3779f9ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 29;
    return (uint64_t)kind << 56 | (h & ((1ull << 56) - 1));
}

uint64_t sim_tag_state(const struct nat_tuple *t)
{
    struct sim_id zone = {{0}};
    uint64_t key = mix64((uint64_t)t->src << 32 | t->dst) ^
                   ((uint64_t)t->sport << 24 | (uint64_t)t->dport << 8 | t->proto);

    memcpy(zone.b, &t->zone, sizeof(t->zone));
    return sim_tag(SIM_TAG_STATE, &zone, key);
}

/* --- results ---------------------------------------------------------------------- */

void sim_result_init(struct sim_result *r)
{
    memset(r, 0, sizeof(*r));
}

void sim_result_reset(struct sim_result *r)
{
    r->verdict = SIM_DROP;
    r->drop_reason = NULL;
    r->n_outputs = 0;
    r->n_tags = 0;
    r->n_new_state = 0;
    r->n_hops = 0;
}

void sim_result_free(struct sim_result *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->cap_hops; i++)
        free(r->hops[i].rules);
    free(r->hops);
    free(r->outputs);
    free(r->tags);
    free(r->new_state);
    memset(r, 0, sizeof(*r));
}

/* Grow an array of 'size'-byte elements to hold one more; new memory zeroed. */
static int grow(void **arr, uint32_t *cap, uint32_t n, size_t size)
{
    uint32_t c;
    void *g;

    if (n < *cap)
        return 0;
    c = *cap ? *cap * 2 : 8;
    g = realloc(*arr, (size_t)c * size);
    if (!g)
        return -ENOMEM;
    memset((char *)g + (size_t)*cap * size, 0, (size_t)(c - *cap) * size);
    *arr = g;
    *cap = c;
    return 0;
}

/* Tags come without duplicates: a flow cache indexes them as a set. They
 * are appended as the walk makes them (devices and ports repeat) and sorted
 * and merged once at the end: a simulation makes a few dozen, for which an
 * insertion sort beats checking each one on the way in. */
static void push_tag(struct sim_ctx *c, uint64_t t)
{
    struct sim_result *r = c->r;

    if (RP_UNLIKELY(r->n_tags == r->cap_tags) && grow((void **)&r->tags, &r->cap_tags, r->n_tags, sizeof(uint64_t))) {
        c->nomem = true;
        return;
    }
    r->tags[r->n_tags++] = t;
}

void eng_tag(struct sim_ctx *c, enum sim_tag_kind kind, const struct sim_id *id, uint64_t key)
{
    push_tag(c, sim_tag(kind, id, key));
}

void eng_tag_state(struct sim_ctx *c, const struct nat_tuple *t)
{
    push_tag(c, sim_tag_state(t));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void tags_finish(struct sim_result *r)
{
    uint64_t *t = r->tags;
    uint32_t n = r->n_tags, k = 0;

    if (n > 64) {
        qsort(t, n, sizeof(*t), cmp_u64);
    } else {
        for (uint32_t i = 1; i < n; i++) {
            uint64_t v = t[i];
            uint32_t j = i;
            for (; j > 0 && t[j - 1] > v; j--)
                t[j] = t[j - 1];
            t[j] = v;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        if (i == 0 || t[i] != t[k - 1])
            t[k++] = t[i];
    r->n_tags = k;
}

void eng_add_state(struct sim_ctx *c, const struct nat_state_ref *ref)
{
    struct sim_result *r = c->r;

    if (r->n_new_state == r->cap_new_state &&
        grow((void **)&r->new_state, &r->cap_new_state, r->n_new_state, sizeof(*ref))) {
        c->nomem = true;
        return;
    }
    memcpy(&r->new_state[r->n_new_state++], ref, sizeof(*ref));
}

/* --- trace hops ----------------------------------------------------------------------- */

void eng_hop_begin(struct sim_ctx *c, const struct sim_device *d, const struct sim_port *in)
{
    struct sim_result *r = c->r;
    struct sim_hop *h;

    if (!r->trace)
        return;
    if (r->n_hops == r->cap_hops && grow((void **)&r->hops, &r->cap_hops, r->n_hops, sizeof(*r->hops))) {
        c->nomem = true;
        c->hop = -1;
        return;
    }
    h = &r->hops[r->n_hops];
    c->hop = (int)r->n_hops++;
    h->device = d->obj.id;
    h->is_router = eng_is_router(d);
    h->in_port = in ? in->obj.id : (struct sim_id){{0}};
    memset(&h->out_port, 0, sizeof(h->out_port));
    h->n_rules = 0;   /* rules/cap_rules stay for reuse */
    h->note[0] = '\0';
}

void eng_hop_out(struct sim_ctx *c, const struct sim_port *out)
{
    if (c->hop >= 0 && out)
        c->r->hops[c->hop].out_port = out->obj.id;
}

void eng_note(struct sim_ctx *c, const char *fmt, ...)
{
    struct sim_hop *h;
    size_t len;
    va_list ap;

    if (c->hop < 0)
        return;
    h = &c->r->hops[c->hop];
    len = strlen(h->note);
    if (len && len + 2 < sizeof(h->note)) {
        memcpy(h->note + len, "; ", 3);
        len += 2;
    }
    if (len + 1 >= sizeof(h->note))
        return;
    va_start(ap, fmt);
    vsnprintf(h->note + len, sizeof(h->note) - len, fmt, ap);
    va_end(ap);
}

void eng_hop_rule(struct sim_ctx *c, const struct sim_rule *rule)
{
    struct sim_hop *h;

    if (c->hop < 0)
        return;
    h = &c->r->hops[c->hop];
    if (h->n_rules == h->cap_rules && grow((void **)&h->rules, &h->cap_rules, h->n_rules, sizeof(*h->rules))) {
        c->nomem = true;
        return;
    }
    h->rules[h->n_rules++] = (struct sim_hop_rule){
        rule->chain ? rule->chain->obj.id : (struct sim_id){{0}}, rule->obj.id, (uint8_t)rule->action};
}

/* --- ends of paths ---------------------------------------------------------------------- */

void eng_drop(struct sim_ctx *c, const char *reason)
{
    if (!c->drop_reason)
        c->drop_reason = reason;
    eng_note(c, "drop: %s", reason);
}

void eng_consume(struct sim_ctx *c)
{
    c->consumed = true;
}

static void enqueue(struct sim_ctx *c, const struct sim_item *from, const struct sim_pkt *pkt,
                    const struct sim_port *in, uint8_t gen)
{
    struct sim_item *n;

    if (c->q_tail == SIM_MAX_ITEMS) {
        eng_drop(c, "loop");
        return;
    }
    n = &c->q[c->q_tail++];
    n->pkt = *pkt;
    n->in = in;
    n->depth = (uint8_t)(from->depth + 1);
    n->gen = gen;
    n->fip_snat = gen == from->gen && from->fip_snat;
}

static void output(struct sim_ctx *c, const struct sim_pkt *pkt, const struct sim_port *out)
{
    struct sim_result *r = c->r;
    struct sim_output *o;

    if (r->n_outputs == r->cap_outputs &&
        grow((void **)&r->outputs, &r->cap_outputs, r->n_outputs, sizeof(*r->outputs))) {
        c->nomem = true;
        return;
    }
    o = &r->outputs[r->n_outputs++];
    o->port = out;
    o->port_id = out->obj.id;
    if (out->host) {
        o->host_id = out->host->obj.id;
        o->host_tunnel_ip = out->host->tunnel_ip;
        eng_tag(c, SIM_TAG_DEVICE, &out->host->obj.id, 0);
    } else {
        memset(&o->host_id, 0, sizeof(o->host_id));
        o->host_tunnel_ip = 0;
    }
    o->tunnel_key = out->tunnel_key;
    o->pkt = *pkt;
}

static void egress_pkt(struct sim_ctx *c, const struct sim_item *from, const struct sim_pkt *pkt,
                       const struct sim_port *out, uint8_t gen)
{
    eng_tag(c, SIM_TAG_PORT, &out->obj.id, 0);
    if (!out->admin_up) {
        eng_drop(c, "admin down");
        return;
    }
    if (sim_port_is_exterior(out)) {
        output(c, pkt, out);
    } else if (sim_port_is_interior(out) && out->peer->device) {
        enqueue(c, from, pkt, out->peer, gen);
    } else {
        eng_drop(c, "port not bound");
    }
}

void eng_egress(struct sim_ctx *c, const struct sim_item *it, const struct sim_port *out)
{
    egress_pkt(c, it, &it->pkt, out, it->gen);
}

void eng_generated(struct sim_ctx *c, const struct sim_item *cause, const struct sim_pkt *pkt,
                   const struct sim_port *out, enum sim_verdict verdict)
{
    if (cause->gen + 1 > SIM_MAX_GEN) {
        eng_drop(c, "loop");
        return;
    }
    /* The first answer decides: a later one (a flood copy) does not turn a
     * reply into pending. */
    if (c->answered == SIM_FORWARD)
        c->answered = verdict;
    eng_hop_out(c, out);
    egress_pkt(c, cause, pkt, out, (uint8_t)(cause->gen + 1));
}

void eng_commit_later(struct sim_ctx *c, const struct sim_commit *k)
{
    for (uint32_t i = 0; i < c->n_commits; i++)
        if (!memcmp(&c->commits[i], k, sizeof(*k)))
            return;
    if (c->n_commits < SIM_MAX_COMMITS)
        c->commits[c->n_commits++] = *k;
}

/* --- tables ------------------------------------------------------------------------------ */

uint64_t eng_hash(const void *owner, uint64_t key, uint8_t kind)
{
    return mix64((uint64_t)(uintptr_t)owner * 0x9e3779b97f4a7c15ull ^ mix64(key ^ (uint64_t)kind << 56));
}

/* Learned entries are keyed by what packets carry (source MACs, ARP
 * senders): SipHash with the process key, so no sender can aim a run of
 * collisions at one probe sequence. */
uint64_t eng_hash_keyed(const void *owner, uint64_t key, uint8_t kind)
{
    struct {
        uint64_t owner, key, kind;
    } k = {(uint64_t)(uintptr_t)owner, key, kind};

    return rp_siphash(&k, sizeof(k));
}

int eng_table_init(struct eng_table *tb, uint32_t cap, uint32_t limit)
{
    uint32_t c = 16;

    while (c < cap && c < (1u << 30))
        c <<= 1;
    tb->e = calloc(c, sizeof(*tb->e));
    if (!tb->e)
        return -ENOMEM;
    tb->mask = c - 1;
    tb->used = 0;
    tb->max_probe = 0;
    tb->limit = limit ? limit : UINT32_MAX;
    return 0;
}

void eng_table_free(struct eng_table *tb)
{
    free(tb->e);
    tb->e = NULL;
    tb->mask = tb->used = tb->max_probe = 0;
}

void eng_table_clear(struct eng_table *tb)
{
    memset(tb->e, 0, ((size_t)tb->mask + 1) * sizeof(*tb->e));
    tb->used = 0;
    tb->max_probe = 0;
}

static inline uint64_t nz(uint64_t h)
{
    return h ? h : 1;
}

struct eng_entry *eng_table_find(const struct eng_table *tb, uint64_t hash, const void *owner, uint64_t key,
                                 uint8_t kind)
{
    uint32_t i = (uint32_t)hash & tb->mask;

    hash = nz(hash);
    for (uint32_t p = 0; p <= tb->max_probe; p++, i = (i + 1) & tb->mask) {
        struct eng_entry *e = &tb->e[i];
        if (e->hash == 0)
            return NULL;
        if (e->hash == hash && e->key == key && e->owner == owner && e->kind == kind)
            return e;
    }
    return NULL;
}

/* Insert into a table known to have room and not to hold the key. */
static struct eng_entry *place(struct eng_table *tb, const struct eng_entry *src)
{
    uint32_t i = (uint32_t)src->hash & tb->mask, p = 0;

    while (tb->e[i].hash) {
        i = (i + 1) & tb->mask;
        p++;
    }
    tb->e[i] = *src;
    tb->used++;
    if (p > tb->max_probe)
        tb->max_probe = p;
    return &tb->e[i];
}

static int rehash(struct eng_table *tb, uint32_t cap, bool (*keep)(const struct eng_entry *e, void *arg),
                  void *arg)
{
    struct eng_table n;
    int rc;

    if ((rc = eng_table_init(&n, cap, tb->limit)) < 0)
        return rc;
    for (uint32_t i = 0; i <= tb->mask; i++)
        if (tb->e[i].hash && (!keep || keep(&tb->e[i], arg)))
            place(&n, &tb->e[i]);
    free(tb->e);
    *tb = n;
    return 0;
}

static bool not_expired(const struct eng_entry *e, void *arg)
{
    return e->expires_ns >= *(const uint64_t *)arg;
}

int eng_table_filter(struct eng_table *tb, bool (*keep)(const struct eng_entry *e, void *arg), void *arg)
{
    return rehash(tb, tb->mask + 1, keep, arg);
}

struct eng_entry *eng_table_put(struct eng_table *tb, uint64_t hash, const void *owner, uint64_t key, uint8_t kind,
                                uint64_t now)
{
    struct eng_entry *reuse = NULL, *e;
    uint32_t i, p, reuse_p = 0;

    hash = nz(hash);
    if ((tb->used + 1) * 2 > tb->mask + 1 && tb->used < tb->limit) {
        /* Drop what has expired first; double only if that freed little. */
        uint32_t cap = tb->mask + 1;
        if (rehash(tb, cap, not_expired, &now) == 0 && (tb->used + 1) * 4 > cap)
            rehash(tb, cap * 2, NULL, NULL);
    }
    i = (uint32_t)hash & tb->mask;
    for (p = 0;; p++, i = (i + 1) & tb->mask) {
        e = &tb->e[i];
        if (e->hash == 0)
            break;
        if (e->hash == hash && e->key == key && e->owner == owner && e->kind == kind)
            return e;
        if (!reuse && e->expires_ns < now) {
            reuse = e;
            reuse_p = p;
        }
        if (p > tb->max_probe && reuse)
            break;   /* past every chain: the key is not here */
    }
    if (reuse) {
        e = reuse;
        if (reuse_p > tb->max_probe)
            tb->max_probe = reuse_p;
    } else {
        if (tb->used >= tb->limit || (tb->used + 1) * 2 > tb->mask + 1)
            return NULL;
        tb->used++;
        if (p > tb->max_probe)
            tb->max_probe = p;
    }
    memset(e, 0, sizeof(*e));
    e->hash = hash;
    e->owner = owner;
    e->key = key;
    e->kind = kind;
    return e;
}

/* --- the view: indexes derived from the topology ----------------------------------------------- */

struct eng_view {
    struct eng_table ix;
    const struct sim_topo *t;
    uint64_t rev;
    bool built;
};

static void ix_put_obj(struct eng_table *ix, const void *owner, uint64_t key, uint8_t kind, const void *obj, int *rc)
{
    struct eng_entry *e;

    if (*rc)
        return;
    e = eng_table_put(ix, eng_hash(owner, key, kind), owner, key, kind, 0);
    if (!e) {
        *rc = -ENOMEM;
        return;
    }
    if (!e->expires_ns) {
        e->expires_ns = UINT64_MAX;
        e->obj = obj;
    }
}

static void ix_put(struct eng_table *ix, const void *owner, uint64_t key, uint8_t kind, const struct sim_port *port,
                   const uint8_t *mac, int *rc)
{
    struct eng_entry *e;

    if (*rc)
        return;
    e = eng_table_put(ix, eng_hash(owner, key, kind), owner, key, kind, 0);
    if (!e) {
        *rc = -ENOMEM;
        return;
    }
    if (e->expires_ns)
        return;   /* first definition wins (two ports claiming one MAC) */
    e->expires_ns = UINT64_MAX;
    e->port = port;
    if (mac)
        memcpy(e->mac, mac, 6);
}

static int view_build(struct eng_view *v, const struct sim_topo *t)
{
    struct eng_table *ix = &v->ix;
    int rc = 0;

    eng_table_clear(ix);
    for (int ty = SIM_RES_ROUTER; ty <= SIM_RES_BRIDGE; ty++)
        for (uint32_t i = 0; i < t->n_objs[ty]; i++)
            ix_put(ix, t->objs[ty][i], 0, ENG_IX_LIVE, NULL, NULL, &rc);
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_PORT]; i++) {
        const struct sim_port *p = (const struct sim_port *)t->objs[SIM_RES_PORT][i];
        const struct sim_device *d = p->device;
        const struct sim_port *peer = p->peer;

        ix_put(ix, p, 0, ENG_IX_LIVE, NULL, NULL, &rc);
        if (!d)
            continue;
        if (eng_is_router(d)) {
            if (p->addr)
                ix_put(ix, d, p->addr, ENG_IX_ROUTER_IP, p, p->mac, &rc);
            continue;
        }
        if (p->has_mac) {
            ix_put(ix, d, eng_mac_key(p->mac), ENG_IX_MAC, p, p->mac, &rc);
            for (uint32_t k = 0; k < p->n_fixed_ips; k++)
                ix_put(ix, d, p->fixed_ips[k], ENG_IX_BRIDGE_IP, p, p->mac, &rc);
        }
        if (peer && peer->device && eng_is_router(peer->device) && peer->has_mac) {
            ix_put(ix, d, eng_mac_key(peer->mac), ENG_IX_MAC, p, peer->mac, &rc);
            if (peer->addr)
                ix_put(ix, d, peer->addr, ENG_IX_BRIDGE_IP, p, peer->mac, &rc);
        }
    }
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_NEIGHBOR]; i++) {
        const struct sim_neighbor *n = (const struct sim_neighbor *)t->objs[SIM_RES_NEIGHBOR][i];
        if (n->port)
            ix_put(ix, n->port, n->addr, ENG_IX_NEIGHBOR, n->port, n->mac, &rc);
    }
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_FLOATING_IP]; i++) {
        const struct sim_floating_ip *f = (const struct sim_floating_ip *)t->objs[SIM_RES_FLOATING_IP][i];
        if (!f->tenant_router)
            continue;
        ix_put_obj(ix, f->tenant_router, f->addr, ENG_IX_FIP_PUB, f, &rc);
        ix_put_obj(ix, f->tenant_router, f->fixed_ip, ENG_IX_FIP_FIXED, f, &rc);
    }
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_PORT_GROUP]; i++) {
        const struct sim_port_group *g = (const struct sim_port_group *)t->objs[SIM_RES_PORT_GROUP][i];
        for (uint32_t k = 0; k < g->n_ports; k++)
            ix_put_obj(ix, g, (uint64_t)(uintptr_t)g->ports[k], ENG_IX_GROUP_PORT, g->ports[k], &rc);
    }
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_RULE]; i++) {
        const struct sim_rule *r = (const struct sim_rule *)t->objs[SIM_RES_RULE][i];
        if (r->chain && (r->cond & (SIM_C_FORWARD_FLOW | SIM_C_RETURN_FLOW)))
            ix_put_obj(ix, r->chain, 0, ENG_IX_CHAIN_CT, r->chain, &rc);
    }
    return rc;
}

const struct eng_entry *eng_index(const struct sim_ctx *c, const void *owner, uint64_t key, uint8_t kind)
{
    const struct eng_view *v = c->s->view;

    return eng_table_find(&v->ix, eng_hash(owner, key, kind), owner, key, kind);
}

/* Keep the view in step with the topology; learned entries naming a
 * device or port that is gone are dropped (their pointers would dangle). */
static int view_sync(struct sim_ctx *c)
{
    struct eng_view *v = c->s->view;
    uint64_t rev = sim_topo_revision(c->t);
    int rc;

    if (v->built && v->t == c->t && v->rev == rev)
        return 0;
    if ((rc = view_build(v, c->t)) < 0) {
        v->built = false;
        return rc;
    }
    v->t = c->t;
    v->rev = rev;
    v->built = true;
    bridge_state_sweep(c);
    router_state_sweep(c);
    return 0;
}

/* --- state ------------------------------------------------------------------------------ */

void sim_state_set_local_host(struct sim_state *s, const struct sim_id *host)
{
    if (host)
        s->local_host = *host;
    else
        memset(&s->local_host, 0, sizeof(s->local_host));
}

int sim_state_create(struct sim_state **out, struct nat_tables *nat)
{
    struct sim_state *s = calloc(1, sizeof(*s));
    struct eng_view *v;
    int rc = -ENOMEM;

    if (!s)
        return -ENOMEM;
    s->mac_ageing_s = 300;
    s->arp_ageing_s = 300;
    if (!(v = calloc(1, sizeof(*v))))
        goto fail;
    s->view = v;
    if ((rc = eng_table_init(&v->ix, 256, 0)) < 0)
        goto fail;
    if ((rc = bridge_state_init(s)) < 0)
        goto fail;
    if ((rc = router_state_init(s)) < 0)
        goto fail;
    if (nat) {
        s->nat = nat;
    } else {
        if ((rc = chain_nat_default(&s->nat)) < 0)
            goto fail;
        s->nat_owned = true;
    }
    *out = s;
    return 0;
fail:
    sim_state_destroy(s);
    return rc;
}

void sim_state_destroy(struct sim_state *s)
{
    struct eng_view *v;

    if (!s)
        return;
    v = s->view;
    if (v) {
        eng_table_free(&v->ix);
        free(v);
    }
    bridge_state_free(s);
    router_state_free(s);
    if (s->nat_owned)
        chain_nat_free(s->nat);
    free(s);
}

/* --- the walk ------------------------------------------------------------------------------- */

static void visit(struct sim_ctx *c, struct sim_item *it)
{
    const struct sim_port *in = it->in;
    const struct sim_device *d = in->device;

    if (it->depth >= SIM_MAX_HOPS) {
        eng_drop(c, "loop");
        return;
    }
    eng_hop_begin(c, d, in);
    eng_tag(c, SIM_TAG_DEVICE, &d->obj.id, 0);
    eng_tag(c, SIM_TAG_PORT, &in->obj.id, 0);
    if (!in->admin_up || !d->admin_up) {
        eng_drop(c, "admin down");
        return;
    }
    if (eng_is_router(d))
        router_process(c, it);
    else
        bridge_process(c, it);
}

int sim_simulate(const struct sim_topo *t, struct sim_state *s, const struct sim_id *in_port,
                 const struct sim_pkt *pkt, uint64_t now_ns, struct sim_result *r)
{
    struct sim_ctx c;
    const struct sim_port *in;
    int rc;

    sim_result_reset(r);
    c.t = t;
    c.s = s;
    c.r = r;
    c.now = now_ns;
    c.hop = -1;
    c.nomem = false;
    c.answered = SIM_FORWARD;
    c.consumed = false;
    c.drop_reason = NULL;
    c.n_commits = 0;
    c.q_head = c.q_tail = 0;
    s->now_ns = now_ns;
    if ((rc = view_sync(&c)) < 0)
        return rc;

    in = (const struct sim_port *)sim_topo_find(t, SIM_RES_PORT, in_port);
    if (!in || !in->device) {
        r->verdict = SIM_DROP;
        r->drop_reason = "no such port";
        return 0;
    }
    c.q[0] = (struct sim_item){.pkt = *pkt, .in = in};
    c.q_tail = 1;
    while (c.q_head < c.q_tail && !c.nomem) {
        struct sim_item *it = &c.q[c.q_head++];
        visit(&c, it);
    }

    if (c.answered != SIM_FORWARD)
        r->verdict = c.answered;
    else if (r->n_outputs)
        r->verdict = SIM_FORWARD;
    else if (c.consumed)
        r->verdict = SIM_CONSUME;
    else
        r->verdict = SIM_DROP;
    if (r->verdict == SIM_DROP)
        r->drop_reason = c.drop_reason ? c.drop_reason : "no ports";
    else if (chain_commit(&c) < 0)
        c.nomem = true;
    tags_finish(r);
    return c.nomem ? -ENOMEM : 0;
}
