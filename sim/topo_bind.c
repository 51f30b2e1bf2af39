/*
 * sim/topo_bind.c: the engine's view of the topology. Documents stay the
 * source of truth; after every change the changed resource's struct is
 * filled from its document (here) and the lists that span resources are
 * brought in step (topo_derive.c), so the simulator reads plain fields and
 * pointers, never JSON.
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

/* What a bind allocated (not the derived lists: a rebind keeps those). */
static void release_bound(struct sim_obj *o)
{
    switch (o->type) {
    case SIM_RES_IP_GROUP:
        free(((struct sim_ip_group *)o)->addrs);
        ((struct sim_ip_group *)o)->addrs = NULL;
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

void topo_unbind(struct sim_obj *o)
{
    release_bound(o);
    topo_derived_free(o);
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
    release_bound(o);
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
