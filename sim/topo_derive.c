/*
 * sim/topo_derive.c: what the engine reads that spans resources, kept in
 * step with every change: device port lists, host port lists, chain rule
 * order, router route tables (groups by exact destination, an LPM over
 * them, and the implicit routes of router-port subnets and floating IPs)
 * and the floating IPs each tenant router applies.
 *
 * A change detaches the resource's contributions while its struct still
 * holds what was bound from the old document, rebinds it, and attaches them
 * again; so a change costs what it touches, not the size of the topology.
 * A VM port added to a 10,000-port bridge next to a thousand tenant routers
 * must not rebuild a thousand route tables, and a learned route must not
 * rebuild the provider router's Internet table.
 *
 * Orders are canonical, not historical, wherever the engine's answer
 * depends on them (ports by insertion, rules by position then insertion,
 * routes of one destination by weight then id), so a host that loaded a
 * document and one that replayed the same changes simulate alike. Only the
 * slot numbers of route groups depend on history.
 */
#include "sim/topo_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* --- sorted pointer lists --------------------------------------------------------------- */

typedef int (*topo_cmp_fn)(const struct sim_obj *a, const struct sim_obj *b);

static int by_tidx(const struct sim_obj *a, const struct sim_obj *b)
{
    return a->tidx < b->tidx ? -1 : a->tidx > b->tidx;
}

static int by_position(const struct sim_obj *a, const struct sim_obj *b)
{
    const struct sim_rule *x = (const struct sim_rule *)a, *y = (const struct sim_rule *)b;

    if (x->position != y->position)
        return x->position < y->position ? -1 : 1;
    return by_tidx(a, b);
}

static int grow(void **arr, uint32_t *cap, size_t size)
{
    uint32_t c = *cap ? *cap * 2 : 8;
    void *g = realloc(*arr, c * size);

    if (!g)
        return -ENOMEM;
    *arr = g;
    *cap = c;
    return 0;
}

/* First position whose element sorts after v. Insertion order is a key of
 * every order here, so a list never holds two elements that compare equal. */
static uint32_t upper_bound(void *const *arr, uint32_t n, const struct sim_obj *v, topo_cmp_fn cmp)
{
    uint32_t lo = 0, hi = n;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cmp(arr[mid], v) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int list_insert(void ***arr, uint32_t *n, uint32_t *cap, void *v, topo_cmp_fn cmp)
{
    uint32_t at;
    int rc;

    if (*n == *cap && (rc = grow((void **)arr, cap, sizeof(void *))) < 0)
        return rc;
    at = upper_bound(*arr, *n, v, cmp);
    memmove(&(*arr)[at + 1], &(*arr)[at], (*n - at) * sizeof(void *));
    (*arr)[at] = v;
    (*n)++;
    return 0;
}

static void list_remove(void **arr, uint32_t *n, const void *v, topo_cmp_fn cmp)
{
    uint32_t at = upper_bound(arr, *n, v, cmp);

    /* v sorts last among its equals, so it sits just before 'at'; a scan
     * covers a list whose keys changed under it (they should not). */
    if (!(at > 0 && arr[at - 1] == v))
        for (at = 0; at < *n && arr[at] != v; at++)
            ;
    else
        at--;
    if (at >= *n)
        return;
    memmove(&arr[at], &arr[at + 1], (*n - at - 1) * sizeof(void *));
    (*n)--;
}

/* --- route tables ------------------------------------------------------------------------ */

/* The order of the routes of one destination: lowest weight first (the
 * engine takes the first whose src matches, and the equal-weight run after
 * it for ECMP); then explicit before implicit; then by id, or for implicit
 * routes by next-hop port id, so the ECMP member order is the same on every
 * host. */
static int route_order(const struct sim_route *a, const struct sim_route *b)
{
    if (a->weight != b->weight)
        return a->weight < b->weight ? -1 : 1;
    if (a->implicit != b->implicit)
        return a->implicit ? 1 : -1;
    if (!a->implicit)
        return memcmp(&a->obj.id, &b->obj.id, sizeof(a->obj.id));
    if (a->next_hop_port && b->next_hop_port)
        return memcmp(&a->next_hop_port->obj.id, &b->next_hop_port->obj.id, sizeof(struct sim_id));
    return 0;
}

int topo_route_insert(struct sim_device *d, struct sim_route *r)
{
    uint32_t slot;
    bool reuse;
    int rc;

    r->next_same_dst = NULL;
    if (!d->routes_lpm && (rc = lpm_create(&d->routes_lpm)) < 0)
        return rc;
    if (lpm_get(d->routes_lpm, r->dst.addr, r->dst.len, &slot) == 0) {
        struct sim_route **pp = &d->route_groups[slot];
        while (*pp && route_order(*pp, r) <= 0)
            pp = &(*pp)->next_same_dst;
        r->next_same_dst = *pp;
        *pp = r;
        d->n_implicit += r->implicit;
        return 0;
    }
    reuse = d->n_free_groups > 0;
    if (!reuse && d->n_route_groups == d->cap_route_groups) {
        uint32_t cap = d->cap_route_groups;
        if ((rc = grow((void **)&d->route_groups, &cap, sizeof(*d->route_groups))) < 0)
            return rc;
        /* Every slot may become free: the free list never needs to grow
         * while a route is removed. */
        uint32_t *f = realloc(d->free_groups, cap * sizeof(*f));
        if (!f)
            return -ENOMEM;   /* route_groups keeps its larger block; cap stays */
        d->free_groups = f;
        d->cap_route_groups = cap;
    }
    slot = reuse ? d->free_groups[d->n_free_groups - 1] : d->n_route_groups;
    if ((rc = lpm_add(d->routes_lpm, r->dst.addr, r->dst.len, slot)) < 0)
        return rc;
    if (reuse)
        d->n_free_groups--;
    else
        d->n_route_groups++;
    d->route_groups[slot] = r;
    d->n_implicit += r->implicit;
    return 0;
}

void topo_route_remove(struct sim_device *d, struct sim_route *r)
{
    struct sim_route **pp;
    uint32_t slot;

    if (!d->routes_lpm || lpm_get(d->routes_lpm, r->dst.addr, r->dst.len, &slot) < 0)
        return;
    for (pp = &d->route_groups[slot]; *pp && *pp != r; pp = &(*pp)->next_same_dst)
        ;
    if (!*pp)
        return;
    *pp = r->next_same_dst;
    r->next_same_dst = NULL;
    d->n_implicit -= r->implicit;
    /* If the LPM cannot shrink (no memory), the slot stays, empty, under
     * its prefix: lookups treat an empty group as absent (see
     * sim_route_lookup) and the next route to that prefix refills it. */
    if (!d->route_groups[slot] && lpm_del(d->routes_lpm, r->dst.addr, r->dst.len) == 0)
        d->free_groups[d->n_free_groups++] = slot;
}

const struct sim_route *sim_route_lookup(const struct sim_device *router, uint32_t dst, uint32_t src,
                                         struct sim_prefix *matched)
{
    uint32_t slot;

    if (!router->routes_lpm)
        return NULL;
    slot = lpm_lookup(router->routes_lpm, dst);
    if (slot == LPM_NONE)
        return NULL;
    /* The longest group first; a group none of whose routes accepts this
     * source falls back to the next shorter prefix that has a group. At
     * most 33 exact-prefix reads. */
    for (int len = router->route_groups[slot] ? router->route_groups[slot]->dst.len : 32; len >= 0; len--) {
        uint32_t mask = len ? ~0u << (32 - len) : 0;
        if (lpm_get(router->routes_lpm, dst & mask, (uint8_t)len, &slot) < 0)
            continue;
        for (const struct sim_route *r = router->route_groups[slot]; r; r = r->next_same_dst) {
            uint32_t smask = r->src.len ? ~0u << (32 - r->src.len) : 0;
            if ((src & smask) == r->src.addr) {
                if (matched)
                    *matched = router->route_groups[slot]->dst;
                return router->route_groups[slot];
            }
        }
    }
    return NULL;
}

/* --- the implicit routes ----------------------------------------------------------------- */

static bool is_router(const struct sim_device *d)
{
    return d && d->obj.type == SIM_RES_ROUTER;
}

/* A router port's route to its own subnet, made (not yet inserted). */
static int connected_make(struct sim_port *p)
{
    struct sim_route *r;
    uint32_t mask;

    /* Router ports are refused without an address; be safe anyway. */
    if (!is_router(p->device) || (!p->addr && !p->plen))
        return 0;
    r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    mask = p->plen ? ~0u << (32 - p->plen) : 0;
    r->obj.type = SIM_RES_ROUTE;
    r->router = p->device;
    r->dst = (struct sim_prefix){p->addr & mask, p->plen};
    r->next_hop_port = p;
    r->weight = 0;
    r->implicit = true;
    p->connected = r;
    return 0;
}

static void connected_drop(struct sim_port *p)
{
    if (!p->connected)
        return;
    topo_route_remove(p->connected->router, p->connected);
    free(p->connected);
    p->connected = NULL;
}

/* The port of 'from' linked to a port of 'to', or NULL. */
static struct sim_port *link_to(const struct sim_device *from, const struct sim_device *to)
{
    for (uint32_t i = 0; from && i < from->n_ports; i++)
        if (from->ports[i]->peer && from->ports[i]->peer->device == to)
            return from->ports[i];
    return NULL;
}

/* The tenant router a floating IP's port sits behind: the router whose
 * port peers with a port of the FIP port's bridge (the first, in the
 * bridge's port order, if several do). */
static struct sim_device *fip_tenant(const struct sim_floating_ip *f)
{
    const struct sim_device *br = f->port ? f->port->device : NULL;

    if (!br || br->obj.type != SIM_RES_BRIDGE)
        return NULL;
    for (uint32_t i = 0; i < br->n_ports; i++) {
        const struct sim_port *peer = br->ports[i]->peer;
        if (peer && is_router(peer->device))
            return peer->device;
    }
    return NULL;
}

/* The provider router's /32 to the FIP, through its port linked to the
 * tenant router, with that router's port address as next hop. None when the
 * provider is the tenant router itself or is not linked to it directly. */
static bool fip_route_make(struct sim_floating_ip *f)
{
    struct sim_port *up = f->tenant_router && f->router != f->tenant_router ? link_to(f->router, f->tenant_router)
                                                                           : NULL;

    memset(&f->route, 0, sizeof(f->route));
    if (!up)
        return false;
    f->route.obj.type = SIM_RES_ROUTE;
    f->route.dst = (struct sim_prefix){f->addr, 32};
    f->route.next_hop_port = up;
    f->route.next_hop_gateway = up->peer->addr;
    f->route.weight = UINT32_MAX;
    f->route.implicit = true;
    return true;
}

/* --- attach / detach ---------------------------------------------------------------------- */

static int fip_attach(struct sim_floating_ip *f, bool with_route)
{
    struct sim_device *tr = fip_tenant(f);
    int rc;

    f->tenant_router = tr;
    if (tr && (rc = list_insert((void ***)&tr->fips, &tr->n_fips, &tr->cap_fips, f, by_tidx)) < 0) {
        f->tenant_router = NULL;
        return rc;
    }
    if (with_route && fip_route_make(f)) {
        if ((rc = topo_route_insert(f->router, &f->route)) < 0)
            return rc;
        f->route.router = f->router;
    }
    return 0;
}

static void fip_detach(struct sim_floating_ip *f)
{
    if (f->route.router)
        topo_route_remove(f->route.router, &f->route);
    f->route.router = NULL;
    if (f->tenant_router)
        list_remove((void **)f->tenant_router->fips, &f->tenant_router->n_fips, f, by_tidx);
    f->tenant_router = NULL;
}

static int port_attach(struct sim_port *p, bool with_route)
{
    struct sim_device *d = p->device;
    int rc = 0;

    if (d && (rc = list_insert((void ***)&d->ports, &d->n_ports, &d->cap_ports, p, by_tidx)) < 0)
        return rc;
    if (p->host && (rc = list_insert((void ***)&p->host->ports, &p->host->n_ports, &p->host->cap_ports, p,
                                     by_tidx)) < 0)
        return rc;
    if ((rc = connected_make(p)) < 0)
        return rc;
    if (with_route && p->connected && (rc = topo_route_insert(d, p->connected)) < 0) {
        free(p->connected);
        p->connected = NULL;
    }
    return rc;
}

static void port_detach(struct sim_port *p)
{
    connected_drop(p);
    if (p->host)
        list_remove((void **)p->host->ports, &p->host->n_ports, p, by_tidx);
    if (p->device)
        list_remove((void **)p->device->ports, &p->device->n_ports, p, by_tidx);
}

int topo_attach(struct sim_topo *t, struct sim_obj *o)
{
    (void)t;
    switch (o->type) {
    case SIM_RES_PORT:
        return port_attach((struct sim_port *)o, true);
    case SIM_RES_RULE: {
        struct sim_rule *r = (struct sim_rule *)o;
        struct sim_chain *c = r->chain;
        return c ? list_insert((void ***)&c->rules, &c->n_rules, &c->cap_rules, r, by_position) : 0;
    }
    case SIM_RES_ROUTE: {
        struct sim_route *r = (struct sim_route *)o;
        return r->router ? topo_route_insert(r->router, r) : 0;
    }
    case SIM_RES_FLOATING_IP:
        return fip_attach((struct sim_floating_ip *)o, true);
    default:
        return 0;
    }
}

void topo_detach(struct sim_topo *t, struct sim_obj *o)
{
    (void)t;
    switch (o->type) {
    case SIM_RES_PORT:
        port_detach((struct sim_port *)o);
        break;
    case SIM_RES_RULE: {
        struct sim_rule *r = (struct sim_rule *)o;
        if (r->chain)
            list_remove((void **)r->chain->rules, &r->chain->n_rules, r, by_position);
        break;
    }
    case SIM_RES_ROUTE: {
        struct sim_route *r = (struct sim_route *)o;
        if (r->router)
            topo_route_remove(r->router, r);
        break;
    }
    case SIM_RES_FLOATING_IP:
        fip_detach((struct sim_floating_ip *)o);
        break;
    default:
        break;
    }
}

/* --- floating IPs whose placement a port change may move ----------------------------------- */

static void note(const void **set, uint32_t *n, const void *v)
{
    for (uint32_t k = 0; k < *n; k++)
        if (set[k] == v)
            return;
    if (v && *n < TOPO_AFFECT_MAX)
        set[(*n)++] = v;
}

void topo_affect_port(struct topo_affect *a, const struct sim_port *p)
{
    note(a->port, &a->n_port, p);
    /* A plain VM port (a bridge port without a peer) moves no floating IP
     * but those on itself. */
    if (!p->peer && !is_router(p->device))
        return;
    note(a->dev, &a->n_dev, p->device);
    note(a->dev, &a->n_dev, p->peer ? p->peer->device : NULL);
}

int topo_refresh_fips(struct sim_topo *t, const struct topo_affect *a)
{
    int rc = 0;

    if (!a->n_dev && !a->n_port)
        return 0;
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_FLOATING_IP]; i++) {
        struct sim_floating_ip *f = (struct sim_floating_ip *)t->objs[SIM_RES_FLOATING_IP][i];
        const struct sim_device *br = f->port ? f->port->device : NULL;
        bool hit = false;

        for (uint32_t k = 0; k < a->n_port && !hit; k++)
            hit = a->port[k] == (const void *)f->port;
        for (uint32_t k = 0; k < a->n_dev && !hit; k++)
            hit = a->dev[k] == (const void *)br || a->dev[k] == (const void *)f->router ||
                  a->dev[k] == (const void *)f->tenant_router;
        if (!hit)
            continue;
        fip_detach(f);
        int r = fip_attach(f, true);
        if (r < 0 && !rc)
            rc = r;
    }
    return rc;
}

/* --- the whole topology (a document load) ------------------------------------------------- */

static void derived_reset(struct sim_obj *o)
{
    switch (o->type) {
    case SIM_RES_HOST: {
        struct sim_host *h = (struct sim_host *)o;
        free(h->ports);
        h->ports = NULL;
        h->n_ports = h->cap_ports = 0;
        break;
    }
    case SIM_RES_CHAIN: {
        struct sim_chain *c = (struct sim_chain *)o;
        free(c->rules);
        c->rules = NULL;
        c->n_rules = c->cap_rules = 0;
        break;
    }
    case SIM_RES_ROUTER:
    case SIM_RES_BRIDGE: {
        struct sim_device *d = (struct sim_device *)o;
        free(d->ports);
        free(d->route_groups);
        free(d->free_groups);
        free(d->fips);
        free(d->implicit);
        lpm_destroy(d->routes_lpm);
        d->ports = NULL;
        d->route_groups = NULL;
        d->free_groups = NULL;
        d->fips = NULL;
        d->implicit = NULL;
        d->routes_lpm = NULL;
        d->n_ports = d->cap_ports = d->n_route_groups = d->cap_route_groups = d->n_free_groups = 0;
        d->n_fips = d->cap_fips = d->n_implicit = 0;
        break;
    }
    case SIM_RES_PORT: {
        struct sim_port *p = (struct sim_port *)o;
        free(p->connected);
        p->connected = NULL;
        break;
    }
    case SIM_RES_ROUTE:
        ((struct sim_route *)o)->next_same_dst = NULL;
        break;
    case SIM_RES_FLOATING_IP: {
        struct sim_floating_ip *f = (struct sim_floating_ip *)o;
        f->tenant_router = NULL;
        memset(&f->route, 0, sizeof(f->route));
        break;
    }
    default:
        break;
    }
}

void topo_derived_free(struct sim_obj *o)
{
    derived_reset(o);
}

/* Longest destination first, then the order within a group: inserted in
 * this order, a freshly loaded router's groups sit longest first. */
static int cmp_route_load(const void *a, const void *b)
{
    const struct sim_route *x = *(struct sim_route *const *)a, *y = *(struct sim_route *const *)b;

    if (x->router != y->router)
        return x->router->obj.gidx < y->router->obj.gidx ? -1 : 1;
    if (x->dst.len != y->dst.len)
        return x->dst.len > y->dst.len ? -1 : 1;
    if (x->dst.addr != y->dst.addr)
        return x->dst.addr < y->dst.addr ? -1 : 1;
    return route_order(x, y);
}

int topo_rebuild(struct sim_topo *t)
{
    static const enum sim_res_type reset[] = {SIM_RES_HOST, SIM_RES_CHAIN, SIM_RES_ROUTER, SIM_RES_BRIDGE,
                                              SIM_RES_PORT, SIM_RES_ROUTE, SIM_RES_FLOATING_IP};
    struct sim_route **all = NULL;
    uint32_t n_all = 0, cap_all;
    int rc = 0;

    for (size_t k = 0; k < sizeof(reset) / sizeof(reset[0]); k++)
        for (uint32_t i = 0; i < t->n_objs[reset[k]]; i++)
            derived_reset(t->objs[reset[k]][i]);
    /* Lists first (insertion order makes each insert an append), routes
     * last, sorted, so each router's table is built in one pass. */
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_PORT] && !rc; i++)
        rc = port_attach((struct sim_port *)t->objs[SIM_RES_PORT][i], false);
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_RULE] && !rc; i++)
        rc = topo_attach(t, t->objs[SIM_RES_RULE][i]);
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_FLOATING_IP] && !rc; i++)
        rc = fip_attach((struct sim_floating_ip *)t->objs[SIM_RES_FLOATING_IP][i], false);
    if (rc)
        return rc;
    cap_all = t->n_objs[SIM_RES_ROUTE] + t->n_objs[SIM_RES_PORT] + t->n_objs[SIM_RES_FLOATING_IP] + 1;
    all = malloc(cap_all * sizeof(*all));
    if (!all)
        return -ENOMEM;
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_ROUTE]; i++) {
        struct sim_route *r = (struct sim_route *)t->objs[SIM_RES_ROUTE][i];
        if (r->router)
            all[n_all++] = r;
    }
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_PORT]; i++) {
        struct sim_port *p = (struct sim_port *)t->objs[SIM_RES_PORT][i];
        if (p->connected)
            all[n_all++] = p->connected;
    }
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_FLOATING_IP]; i++) {
        struct sim_floating_ip *f = (struct sim_floating_ip *)t->objs[SIM_RES_FLOATING_IP][i];
        if (fip_route_make(f)) {
            f->route.router = f->router;
            all[n_all++] = &f->route;
        }
    }
    qsort(all, n_all, sizeof(*all), cmp_route_load);
    for (uint32_t i = 0; i < n_all && !rc; i++)
        rc = topo_route_insert(all[i]->router, all[i]);
    free(all);
    return rc;
}

/* --- what the agent and the engine ask ---------------------------------------------------- */

struct sim_port *sim_topo_port_by_interface(const struct sim_host *host, const char *interface)
{
    for (uint32_t i = 0; host && interface && i < host->n_ports; i++)
        if (!strcmp(host->ports[i]->interface, interface))
            return host->ports[i];
    return NULL;
}
