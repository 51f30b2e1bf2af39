/*
 * sim/topo_bind.c: the engine's view of the topology. Documents stay the
 * source of truth; after every change the changed resource's struct is
 * filled from its document and the cross-resource lists are rebuilt, so the
 * simulator reads plain fields and pointers, never JSON.
 */
#include "sim/topo_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *str(const json_t *doc, const char *k)
{
    return json_string_value(json_object_get(doc, k));
}

static bool flag(const json_t *doc, const char *k, bool def)
{
    json_t *v = json_object_get(doc, k);
    return v ? json_is_true(v) : def;
}

static int64_t num(const json_t *doc, const char *k, int64_t def)
{
    json_t *v = json_object_get(doc, k);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

static struct sim_obj *ref(const struct sim_topo *t, enum sim_res_type type, const json_t *doc, const char *k)
{
    const char *s = str(doc, k);
    return s ? sim_topo_find_ref(t, type, s) : NULL;
}

static uint32_t addr(const json_t *doc, const char *k)
{
    uint32_t a = 0;
    topo_parse_addr(str(doc, k), &a);
    return a;
}

static struct sim_prefix prefix(const json_t *doc, const char *k, bool host_bits_ok)
{
    struct sim_prefix p = {0, 0};
    topo_parse_cidr(str(doc, k), host_bits_ok, &p.addr, &p.len);
    return p;
}

static bool mac(const json_t *doc, const char *k, uint8_t out[6])
{
    return str(doc, k) && topo_parse_mac(str(doc, k), out) == 0;
}

static uint64_t zone_of(const struct sim_id *id)
{
    uint64_t a, b;
    memcpy(&a, id->b, 8);
    memcpy(&b, id->b + 8, 8);
    return a ^ b;
}

static struct sim_port **port_list(const struct sim_topo *t, const json_t *arr, uint32_t *n)
{
    struct sim_port **v = calloc(json_array_size(arr) + 1, sizeof(*v));
    json_t *e;
    size_t i;

    *n = 0;
    if (!v)
        return NULL;
    json_array_foreach(arr, i, e) {
        struct sim_obj *o = sim_topo_find_ref(t, SIM_RES_PORT, json_string_value(e));
        if (o)
            v[(*n)++] = (struct sim_port *)o;
    }
    return v;
}

static const char *const action_names[] = {"accept", "drop", "reject", "continue", "jump", "return",
                                           "dnat", "snat", "rev_dnat", "rev_snat"};
static const char *const frag_names[] = {"any", "header", "nonheader", "unfragmented"};

static void bind_rule(struct sim_topo *t, struct sim_rule *r, const json_t *d)
{
    static const struct { const char *name; uint32_t bit; } conds[] = {
        {"in_ports", SIM_C_IN_PORTS}, {"out_ports", SIM_C_OUT_PORTS}, {"port_group", SIM_C_PORT_GROUP},
        {"in_port_group", SIM_C_IN_PORT_GROUP}, {"out_port_group", SIM_C_OUT_PORT_GROUP},
        {"ip_group_src", SIM_C_IP_GROUP_SRC}, {"ip_group_dst", SIM_C_IP_GROUP_DST}, {"eth_type", SIM_C_ETH_TYPE},
        {"eth_src", SIM_C_ETH_SRC}, {"eth_dst", SIM_C_ETH_DST}, {"nw_src", SIM_C_NW_SRC}, {"nw_dst", SIM_C_NW_DST},
        {"nw_proto", SIM_C_NW_PROTO}, {"nw_tos", SIM_C_NW_TOS}, {"tp_src", SIM_C_TP_SRC}, {"tp_dst", SIM_C_TP_DST},
        {"match_forward_flow", SIM_C_FORWARD_FLOW}, {"match_return_flow", SIM_C_RETURN_FLOW},
        {"fragment_policy", SIM_C_FRAGMENT},
    };
    json_t *tg, *e;
    size_t i;

    r->chain = (struct sim_chain *)ref(t, SIM_RES_CHAIN, d, "chain");
    r->position = (uint32_t)num(d, "position", 1);
    r->cond = r->inv = 0;
    for (i = 0; i < sizeof(conds) / sizeof(conds[0]); i++) {
        char inv[64];
        json_t *v = json_object_get(d, conds[i].name);
        /* A boolean condition set to false is no condition. */
        if (v && !json_is_false(v))
            r->cond |= conds[i].bit;
        snprintf(inv, sizeof(inv), "inv_%s", conds[i].name);
        if (flag(d, inv, false))
            r->inv |= conds[i].bit;
    }
    r->in_ports = port_list(t, json_object_get(d, "in_ports"), &r->n_in_ports);
    r->out_ports = port_list(t, json_object_get(d, "out_ports"), &r->n_out_ports);
    r->port_group = (struct sim_port_group *)ref(t, SIM_RES_PORT_GROUP, d, "port_group");
    r->in_port_group = (struct sim_port_group *)ref(t, SIM_RES_PORT_GROUP, d, "in_port_group");
    r->out_port_group = (struct sim_port_group *)ref(t, SIM_RES_PORT_GROUP, d, "out_port_group");
    r->ip_group_src = (struct sim_ip_group *)ref(t, SIM_RES_IP_GROUP, d, "ip_group_src");
    r->ip_group_dst = (struct sim_ip_group *)ref(t, SIM_RES_IP_GROUP, d, "ip_group_dst");
    r->eth_type = (uint16_t)num(d, "eth_type", 0);
    mac(d, "eth_src", r->eth_src);
    mac(d, "eth_dst", r->eth_dst);
    if (!mac(d, "eth_src_mask", r->eth_src_mask))
        memset(r->eth_src_mask, 0xff, 6);
    if (!mac(d, "eth_dst_mask", r->eth_dst_mask))
        memset(r->eth_dst_mask, 0xff, 6);
    r->nw_src = prefix(d, "nw_src", false);
    r->nw_dst = prefix(d, "nw_dst", false);
    r->nw_proto = (uint8_t)num(d, "nw_proto", 0);
    r->nw_tos = (uint8_t)num(d, "nw_tos", 0);
    json_t *ts = json_object_get(d, "tp_src"), *td = json_object_get(d, "tp_dst");
    r->tp_src = (struct sim_range){(uint16_t)json_integer_value(json_array_get(ts, 0)),
                                   (uint16_t)json_integer_value(json_array_get(ts, 1))};
    r->tp_dst = (struct sim_range){(uint16_t)json_integer_value(json_array_get(td, 0)),
                                   (uint16_t)json_integer_value(json_array_get(td, 1))};
    r->fragment_policy = SIM_FRAG_ANY;
    for (i = 0; str(d, "fragment_policy") && i < 4; i++)
        if (!strcmp(str(d, "fragment_policy"), frag_names[i]))
            r->fragment_policy = (enum sim_frag_policy)i;
    for (i = 0; i < 10; i++)
        if (!strcmp(str(d, "action"), action_names[i]))
            r->action = (enum sim_rule_action)i;
    r->jump_chain = (struct sim_chain *)ref(t, SIM_RES_CHAIN, d, "jump_chain");
    tg = json_object_get(d, "nat_targets");
    r->n_nat_targets = 0;
    r->nat_targets = calloc(json_array_size(tg) + 1, sizeof(*r->nat_targets));
    json_array_foreach(tg, i, e) {
        if (!r->nat_targets)
            break;
        r->nat_targets[r->n_nat_targets++] = (struct sim_nat_target){
            addr(e, "address_from"), addr(e, "address_to"), (uint16_t)num(e, "port_from", 0),
            (uint16_t)num(e, "port_to", 0)};
    }
}

/* The lists topo_rebuild() derives for a device. */
static void device_reset_lists(struct sim_device *d)
{
    /* routes_lpm is rebuilt by group_routes(); freed with the device. */
    free(d->ports);
    free(d->route_groups);
    free(d->fips);
    free(d->implicit);
    d->ports = NULL;
    d->route_groups = NULL;
    d->fips = NULL;
    d->implicit = NULL;
    d->n_ports = d->cap_ports = d->n_route_groups = d->cap_route_groups = d->n_fips = d->cap_fips = 0;
    d->n_implicit = 0;
}

void topo_unbind(struct sim_obj *o)
{
    switch (o->type) {
    case SIM_RES_CHAIN:
        free(((struct sim_chain *)o)->rules);
        ((struct sim_chain *)o)->rules = NULL;
        ((struct sim_chain *)o)->n_rules = ((struct sim_chain *)o)->cap_rules = 0;
        break;
    case SIM_RES_IP_GROUP:
        free(((struct sim_ip_group *)o)->addrs);
        ((struct sim_ip_group *)o)->addrs = NULL;
        break;
    case SIM_RES_ROUTER:
    case SIM_RES_BRIDGE:
        device_reset_lists((struct sim_device *)o);
        lpm_destroy(((struct sim_device *)o)->routes_lpm);
        ((struct sim_device *)o)->routes_lpm = NULL;
        break;
    case SIM_RES_PORT:
        free(((struct sim_port *)o)->fixed_ips);
        ((struct sim_port *)o)->fixed_ips = NULL;
        break;
    case SIM_RES_PORT_GROUP:
        free(((struct sim_port_group *)o)->ports);
        ((struct sim_port_group *)o)->ports = NULL;
        break;
    case SIM_RES_RULE: {
        struct sim_rule *r = (struct sim_rule *)o;
        free(r->in_ports);
        free(r->out_ports);
        free(r->nat_targets);
        r->in_ports = r->out_ports = NULL;
        r->nat_targets = NULL;
        break;
    }
    default:
        break;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void topo_bind(struct sim_topo *t, struct sim_obj *o)
{
    const json_t *d = o->doc;

    if (!d)
        return;
    topo_unbind(o);
    switch (o->type) {
    case SIM_RES_HOST:
        ((struct sim_host *)o)->tunnel_ip = addr(d, "tunnel_ip");
        break;
    case SIM_RES_CHAIN:
        snprintf(((struct sim_chain *)o)->tenant, SIM_NAME_MAX, "%s", str(d, "tenant") ?: "");
        break;
    case SIM_RES_IP_GROUP: {
        struct sim_ip_group *g = (struct sim_ip_group *)o;
        json_t *a = json_object_get(d, "addresses"), *e;
        size_t i;
        g->n_addrs = 0;
        g->addrs = calloc(json_array_size(a) + 1, sizeof(uint32_t));
        json_array_foreach(a, i, e) if (g->addrs) topo_parse_addr(json_string_value(e), &g->addrs[g->n_addrs++]);
        if (g->addrs)
            qsort(g->addrs, g->n_addrs, sizeof(uint32_t), cmp_u32);
        break;
    }
    case SIM_RES_ROUTER:
    case SIM_RES_BRIDGE: {
        struct sim_device *dv = (struct sim_device *)o;
        snprintf(dv->tenant, SIM_NAME_MAX, "%s", str(d, "tenant") ?: "");
        dv->admin_up = flag(d, "admin_state_up", true);
        dv->inbound_filter = (struct sim_chain *)ref(t, SIM_RES_CHAIN, d, "inbound_filter");
        dv->outbound_filter = (struct sim_chain *)ref(t, SIM_RES_CHAIN, d, "outbound_filter");
        dv->zone = zone_of(&o->id);
        break;
    }
    case SIM_RES_PORT: {
        struct sim_port *p = (struct sim_port *)o;
        json_t *ips = json_object_get(d, "fixed_ips"), *e;
        size_t i;
        struct sim_obj *dev = ref(t, SIM_RES_ROUTER, d, "device");
        p->device = (struct sim_device *)(dev ? dev : ref(t, SIM_RES_BRIDGE, d, "device"));
        p->admin_up = flag(d, "admin_state_up", true);
        p->has_mac = mac(d, "mac", p->mac);
        p->addr = 0;
        p->plen = 0;
        if (str(d, "address"))
            topo_parse_cidr(str(d, "address"), true, &p->addr, &p->plen);
        p->n_fixed_ips = 0;
        p->fixed_ips = calloc(json_array_size(ips) + 1, sizeof(uint32_t));
        json_array_foreach(ips, i, e) if (p->fixed_ips) topo_parse_addr(json_string_value(e), &p->fixed_ips[p->n_fixed_ips++]);
        p->peer = (struct sim_port *)ref(t, SIM_RES_PORT, d, "peer");
        p->host = (struct sim_host *)ref(t, SIM_RES_HOST, d, "host");
        snprintf(p->interface, SIM_NAME_MAX, "%s", str(d, "interface") ?: "");
        p->inbound_filter = (struct sim_chain *)ref(t, SIM_RES_CHAIN, d, "inbound_filter");
        p->outbound_filter = (struct sim_chain *)ref(t, SIM_RES_CHAIN, d, "outbound_filter");
        break;
    }
    case SIM_RES_PORT_GROUP: {
        struct sim_port_group *g = (struct sim_port_group *)o;
        g->stateful = flag(d, "stateful", false);
        g->ports = port_list(t, json_object_get(d, "ports"), &g->n_ports);
        break;
    }
    case SIM_RES_RULE:
        bind_rule(t, (struct sim_rule *)o, d);
        break;
    case SIM_RES_ROUTE: {
        struct sim_route *r = (struct sim_route *)o;
        const char *ty = str(d, "type") ?: "normal";
        r->router = (struct sim_device *)ref(t, SIM_RES_ROUTER, d, "router");
        r->dst = prefix(d, "dst", false);
        r->src = prefix(d, "src", false);
        r->next_hop_port = (struct sim_port *)ref(t, SIM_RES_PORT, d, "next_hop_port");
        r->next_hop_gateway = addr(d, "next_hop_gateway");
        r->type = !strcmp(ty, "blackhole") ? SIM_ROUTE_BLACKHOLE : !strcmp(ty, "reject") ? SIM_ROUTE_REJECT
                                                                                        : SIM_ROUTE_NORMAL;
        r->weight = (uint32_t)num(d, "weight", 100);
        r->learned = flag(d, "learned", false);
        r->implicit = false;
        break;
    }
    case SIM_RES_NEIGHBOR: {
        struct sim_neighbor *n = (struct sim_neighbor *)o;
        n->port = (struct sim_port *)ref(t, SIM_RES_PORT, d, "port");
        n->addr = addr(d, "address");
        mac(d, "mac", n->mac);
        break;
    }
    case SIM_RES_FLOATING_IP: {
        struct sim_floating_ip *f = (struct sim_floating_ip *)o;
        f->addr = addr(d, "address");
        f->router = (struct sim_device *)ref(t, SIM_RES_ROUTER, d, "router");
        f->port = (struct sim_port *)ref(t, SIM_RES_PORT, d, "port");
        f->fixed_ip = addr(d, "fixed_ip");
        break;
    }
    case SIM_RES_BGP_PEER: {
        struct sim_bgp_peer *b = (struct sim_bgp_peer *)o;
        b->port = (struct sim_port *)ref(t, SIM_RES_PORT, d, "port");
        b->peer_address = addr(d, "peer_address");
        b->peer_asn = (uint32_t)num(d, "peer_asn", 0);
        b->local_asn = (uint32_t)num(d, "local_asn", 0);
        b->hold_time = (uint16_t)num(d, "hold_time", 0);
        b->keepalive = (uint16_t)num(d, "keepalive", 0);
        b->bfd = flag(d, "bfd", true);
        snprintf(b->password, sizeof(b->password), "%s", str(d, "password") ?: "");
        snprintf(b->state, sizeof(b->state), "%s", str(d, "state") ?: "");
        break;
    }
    case SIM_RES_BGP_NETWORK: {
        struct sim_bgp_network *n = (struct sim_bgp_network *)o;
        n->router = (struct sim_device *)ref(t, SIM_RES_ROUTER, d, "router");
        n->prefix = prefix(d, "prefix", false);
        break;
    }
    default:
        break;
    }
}

/* --- lists that span resources -------------------------------------------------------- */

static int push(void ***arr, uint32_t *n, uint32_t *cap, void *v)
{
    if (*n == *cap) {
        uint32_t c = *cap ? *cap * 2 : 8;
        void **g = realloc(*arr, c * sizeof(void *));
        if (!g)
            return -ENOMEM;
        *arr = g;
        *cap = c;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

static int cmp_rule(const void *a, const void *b)
{
    const struct sim_rule *x = *(struct sim_rule *const *)a, *y = *(struct sim_rule *const *)b;
    return x->position < y->position ? -1 : x->position > y->position;
}

/* Longest destination first; within one destination, lowest weight first. */
static int cmp_route(const void *a, const void *b)
{
    const struct sim_route *x = *(struct sim_route *const *)a, *y = *(struct sim_route *const *)b;
    if (x->dst.len != y->dst.len)
        return x->dst.len > y->dst.len ? -1 : 1;
    if (x->dst.addr != y->dst.addr)
        return x->dst.addr < y->dst.addr ? -1 : 1;
    return x->weight < y->weight ? -1 : x->weight > y->weight;
}

/* The tenant router a floating IP's port sits behind: the router whose
 * port peers with a port of the FIP port's bridge. */
static struct sim_device *fip_router(struct sim_floating_ip *f)
{
    struct sim_device *br = f->port ? f->port->device : NULL;

    for (uint32_t i = 0; br && i < br->n_ports; i++) {
        struct sim_port *peer = br->ports[i]->peer;
        if (peer && peer->device && peer->device->obj.type == SIM_RES_ROUTER)
            return peer->device;
    }
    return NULL;
}

/* Turn the router's flat route list into dst groups and (re)fill its LPM. */
static int group_routes(struct sim_topo *t, struct sim_device *d)
{
    uint32_t n = 0;
    int rc = 0;

    (void)t;
    for (uint32_t k = 0; k < d->n_implicit && !rc; k++)
        rc = push((void ***)&d->route_groups, &d->n_route_groups, &d->cap_route_groups, &d->implicit[k]);
    if (rc)
        return rc;
    if (d->n_route_groups)
        qsort(d->route_groups, d->n_route_groups, sizeof(*d->route_groups), cmp_route);
    for (uint32_t k = 0; k < d->n_route_groups; k++) {
        struct sim_route *r = d->route_groups[k];
        struct sim_route *head = n ? d->route_groups[n - 1] : NULL;
        r->next_same_dst = NULL;
        if (head && head->dst.addr == r->dst.addr && head->dst.len == r->dst.len) {
            struct sim_route *tail = head;
            while (tail->next_same_dst)
                tail = tail->next_same_dst;
            tail->next_same_dst = r;
        } else {
            d->route_groups[n++] = r;
        }
    }
    d->n_route_groups = n;
    /* A fresh LPM per rebuild keeps it exactly in step with the groups; a
     * small table costs a few KiB and touches only its routes' pages. */
    lpm_destroy(d->routes_lpm);
    d->routes_lpm = NULL;
    if ((rc = lpm_create(&d->routes_lpm)) < 0)
        return rc;
    for (uint32_t k = 0; k < n && !rc; k++)
        rc = lpm_add(d->routes_lpm, d->route_groups[k]->dst.addr, d->route_groups[k]->dst.len, k);
    return rc;
}

int topo_rebuild(struct sim_topo *t)
{
    int rc = 0;

    for (int ty = SIM_RES_ROUTER; ty <= SIM_RES_BRIDGE; ty++)
        for (uint32_t i = 0; i < t->n_objs[ty]; i++)
            device_reset_lists((struct sim_device *)t->objs[ty][i]);
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_CHAIN]; i++) {
        struct sim_chain *c = (struct sim_chain *)t->objs[SIM_RES_CHAIN][i];
        c->n_rules = 0;
    }
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_PORT] && !rc; i++) {
        struct sim_port *p = (struct sim_port *)t->objs[SIM_RES_PORT][i];
        if (p->device)
            rc = push((void ***)&p->device->ports, &p->device->n_ports, &p->device->cap_ports, p);
    }
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_RULE] && !rc; i++) {
        struct sim_rule *r = (struct sim_rule *)t->objs[SIM_RES_RULE][i];
        if (r->chain)
            rc = push((void ***)&r->chain->rules, &r->chain->n_rules, &r->chain->cap_rules, r);
    }
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_CHAIN]; i++) {
        struct sim_chain *c = (struct sim_chain *)t->objs[SIM_RES_CHAIN][i];
        if (c->n_rules)
            qsort(c->rules, c->n_rules, sizeof(*c->rules), cmp_rule);
    }
    /* Implicit routes: each router port's own subnet, connected. */
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_ROUTER] && !rc; i++) {
        struct sim_device *d = (struct sim_device *)t->objs[SIM_RES_ROUTER][i];
        d->implicit = calloc(d->n_ports + 1, sizeof(*d->implicit));
        if (!d->implicit)
            return -ENOMEM;
        for (uint32_t k = 0; k < d->n_ports; k++) {
            struct sim_port *p = d->ports[k];
            struct sim_route *r = &d->implicit[d->n_implicit++];
            uint32_t mask = p->plen ? ~0u << (32 - p->plen) : 0;
            r->router = d;
            r->dst = (struct sim_prefix){p->addr & mask, p->plen};
            r->next_hop_port = p;
            r->weight = 0;
            r->implicit = true;
        }
    }
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_FLOATING_IP] && !rc; i++) {
        struct sim_floating_ip *f = (struct sim_floating_ip *)t->objs[SIM_RES_FLOATING_IP][i];
        struct sim_device *r = fip_router(f);
        if (r)
            rc = push((void ***)&r->fips, &r->n_fips, &r->cap_fips, f);
    }
    /* Routes: every route of a router (explicit, then implicit), longest
     * prefix first, grouped by exact destination (route_groups[k] heads the
     * chain of routes sharing one dst, lowest weight first), and the
     * router's LPM maps each dst to its group index. */
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_ROUTE] && !rc; i++) {
        struct sim_route *r = (struct sim_route *)t->objs[SIM_RES_ROUTE][i];
        if (r->router)
            rc = push((void ***)&r->router->route_groups, &r->router->n_route_groups,
                      &r->router->cap_route_groups, r);
    }
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_ROUTER] && !rc; i++)
        rc = group_routes(t, (struct sim_device *)t->objs[SIM_RES_ROUTER][i]);
    return rc;
}
