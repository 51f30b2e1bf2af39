/*
 * sim/router.c: a virtual IPv4 router.
 *
 * Order of work for a frame entering through port P (all of it bounded):
 *   1. frames not addressed to P's MAC (nor broadcast/multicast) are dropped;
 *   2. P's inbound_filter;
 *   3. ARP: requests for P's address are answered (and teach the cache),
 *      replies to P teach the cache and are consumed, the rest consumed;
 *   4. ICMP echo requests to any of the router's addresses are answered;
 *   5. pre-routing: floating-IP DNAT, then the router's inbound_filter;
 *   6. anything else for the router's own addresses is consumed;
 *   7. TTL <= 1: ICMP time exceeded from P's address;
 *   8. route: longest dst prefix whose routes accept the source, lowest
 *      weight, equal weights spread by a hash of the 5-tuple (stable per
 *      flow); blackhole drops, reject and no route answer ICMP unreachable;
 *   9. post-routing: floating-IP SNAT, the router's outbound_filter, then
 *      the out port's outbound_filter;
 *  10. TTL decrement, eth_src = out port MAC, eth_dst = the next hop's MAC:
 *      a linked router port's MAC directly; behind a linked bridge, the MAC
 *      the bridge knows for the address; on an exterior port a static
 *      neighbor or the ARP cache. Unknown: verdict pending, and the output
 *      is the ARP request the router sends.
 * ICMP errors quote the packet as it entered this router (before its own
 * NAT), so the quote matches what the sender sent; answers leave through P
 * without passing the router's chains and go on through the topology, where
 * NAT translates them back.
 */
#include "sim/engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RT_ARP_LIMIT (1u << 22)   /* learned ARP entries per state, all routers */
#define RT_LEARNED 0              /* eng_entry.kind of a learned ARP entry */

int router_state_init(struct sim_state *s)
{
    struct eng_table *tb = calloc(1, sizeof(*tb));
    int rc;

    if (!tb)
        return -ENOMEM;
    if ((rc = eng_table_init(tb, 256, RT_ARP_LIMIT)) < 0) {
        free(tb);
        return rc;
    }
    s->arps = tb;
    return 0;
}

void router_state_free(struct sim_state *s)
{
    struct eng_table *tb = s->arps;

    if (tb)
        eng_table_free(tb);
    free(tb);
    s->arps = NULL;
}

static bool arp_still_valid(const struct eng_entry *e, void *arg)
{
    const struct sim_ctx *c = arg;

    return e->expires_ns > c->now && eng_index(c, e->owner, 0, ENG_IX_LIVE);
}

void router_state_sweep(struct sim_ctx *c)
{
    struct eng_table *tb = c->s->arps;

    if (tb->used)
        eng_table_filter(tb, arp_still_valid, c);
}

/* --- ARP cache --------------------------------------------------------------------- */

static void arp_learn(struct sim_ctx *c, const struct sim_port *port, uint32_t addr, const uint8_t mac[6])
{
    struct eng_entry *e;

    if (!addr || eng_mac_is_zero(mac) || eng_mac_is_multicast(mac) || eng_index(c, port, addr, ENG_IX_NEIGHBOR))
        return;   /* static neighbors win */
    e = eng_table_put(c->s->arps, eng_hash_keyed(port, addr, RT_LEARNED), port, addr, RT_LEARNED, c->now);
    if (!e)
        return;
    if (e->expires_ns <= c->now || memcmp(e->mac, mac, 6))
        eng_note(c, "arp learned " ENG_IP_FMT " is-at %02x:%02x:%02x:%02x:%02x:%02x", ENG_IP(addr), mac[0], mac[1],
                 mac[2], mac[3], mac[4], mac[5]);
    e->port = port;
    memcpy(e->mac, mac, 6);
    e->expires_ns = c->now + (uint64_t)c->s->arp_ageing_s * 1000000000ull;
}

static bool arp_resolve(struct sim_ctx *c, const struct sim_port *port, uint32_t addr, uint8_t mac[6])
{
    const struct eng_entry *e = eng_index(c, port, addr, ENG_IX_NEIGHBOR);

    eng_tag(c, SIM_TAG_ARP, &port->obj.id, addr);
    if (!e) {
        e = eng_table_find(c->s->arps, eng_hash_keyed(port, addr, RT_LEARNED), port, addr, RT_LEARNED);
        if (e && e->expires_ns <= c->now)
            e = NULL;
    }
    if (!e)
        return false;
    memcpy(mac, e->mac, 6);
    return true;
}

/* --- answers ----------------------------------------------------------------------------- */

/* An ICMP error about 'cause' (as it entered), out of the ingress port; a
 * plain drop with 'reason' when none may be sent. */
static void send_error(struct sim_ctx *c, struct sim_item *it, const struct sim_pkt *cause, uint8_t type,
                       uint8_t code, const char *reason)
{
    const struct sim_port *in = it->in;
    struct sim_pkt err;

    if (!in->addr || !icmp_error_allowed(cause)) {
        eng_drop(c, reason);
        return;
    }
    icmp_build_error(&err, cause, in, type, code);
    eng_note(c, "%s: icmp %u/%u to " ENG_IP_FMT, reason, type, code, ENG_IP(err.ip_dst));
    eng_generated(c, it, &err, in, SIM_REPLY);
}

static void handle_arp(struct sim_ctx *c, struct sim_item *it)
{
    const struct sim_port *in = it->in;
    const struct sim_pkt *p = &it->pkt;

    if (!in->addr || p->arp_tpa != in->addr) {
        eng_note(c, "arp not for this port");
        eng_consume(c);
        return;
    }
    arp_learn(c, in, p->arp_spa, p->arp_sha);
    if (p->arp_op == 1) {
        struct sim_pkt reply;

        icmp_build_arp_reply(&reply, p, in->mac, in->addr);
        eng_note(c, "arp reply");
        eng_generated(c, it, &reply, in, SIM_REPLY);
        return;
    }
    eng_consume(c);
}

/* --- routing --------------------------------------------------------------------------------- */

static inline uint64_t flow_mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dull;
    x ^= x >> 33;
    return x;
}

/* The same in every process, so every host spreads a flow alike. */
static uint32_t ecmp_hash(const struct sim_pkt *p)
{
    uint16_t sp = p->src_port, dp = p->dst_port;

    if (icmp_is_echo(p))
        sp = dp = p->icmp_id;
    else if (!icmp_has_ports(p))
        sp = dp = 0;
    return (uint32_t)(flow_mix((uint64_t)p->ip_src << 32 ^ p->ip_dst ^ flow_mix((uint64_t)p->proto << 32 |
                                                                               (uint64_t)sp << 16 | dp)) >> 32);
}

static bool route_usable(const struct sim_route *r, uint32_t src)
{
    /* A router port without an address has no subnet to be connected to. */
    if (r->implicit && r->dst.len == 0 && r->next_hop_port && !r->next_hop_port->addr)
        return false;
    return eng_prefix_has(r->src, src);
}

static const struct sim_route *route_pick(struct sim_ctx *c, const struct sim_device *rt, const struct sim_pkt *p)
{
    struct sim_prefix m;
    const struct sim_route *head = sim_route_lookup(rt, p->ip_dst, p->ip_src, &m), *r, *first = NULL;
    uint32_t n = 0, pick;

    if (!head) {
        eng_tag(c, SIM_TAG_ROUTER_TABLE, &rt->obj.id, 0);
        return NULL;
    }
    eng_tag(c, SIM_TAG_ROUTER_TABLE, &rt->obj.id, (uint64_t)m.addr << 8 | m.len);
    for (r = head; r; r = r->next_same_dst) {
        if (!route_usable(r, p->ip_src))
            continue;
        if (!first)
            first = r;
        else if (r->weight != first->weight)
            break;
        n++;
    }
    if (n <= 1)
        return first;
    pick = ecmp_hash(p) % n;
    for (r = first; r; r = r->next_same_dst)
        if (route_usable(r, p->ip_src) && pick-- == 0)
            return r;
    return first;
}

/* The port of the router whose subnet holds 'addr' (a route naming only a
 * gateway). */
static const struct sim_port *port_for(const struct sim_device *rt, uint32_t addr)
{
    for (uint32_t i = 0; i < rt->n_ports; i++) {
        const struct sim_port *p = rt->ports[i];
        if (p->addr && eng_prefix_has((struct sim_prefix){p->addr, p->plen}, addr))
            return p;
    }
    return NULL;
}

/* eth_dst for next hop 'nh' out of 'out'; false: unknown (ARP needed). */
static bool next_hop_mac(struct sim_ctx *c, const struct sim_port *out, uint32_t nh, uint8_t mac[6])
{
    const struct sim_port *peer = out->peer;

    if (peer && peer->device) {
        if (eng_is_router(peer->device)) {
            memcpy(mac, peer->mac, 6);   /* no ARP across router links */
            return true;
        }
        const struct eng_entry *e = eng_index(c, peer->device, nh, ENG_IX_BRIDGE_IP);
        if (e) {
            eng_tag(c, SIM_TAG_PORT, &e->port->obj.id, 0);
            memcpy(mac, e->mac, 6);
            return true;
        }
    }
    return arp_resolve(c, out, nh, mac);
}

/* --- the router --------------------------------------------------------------------------------- */

static bool filter(struct sim_ctx *c, struct sim_item *it, const struct sim_pkt *arrival, const struct sim_chain *ch,
                   const struct sim_port *out)
{
    const struct sim_device *rt = it->in->device;
    const char *why = NULL;
    enum chain_res res = chain_run(c, it, rt, ch, it->in, out, &why);

    if (res == CHAIN_ACCEPT)
        return true;
    if (res == CHAIN_REJECT)
        send_error(c, it, arrival, 3, 13, "rule reject");
    else
        eng_drop(c, why);
    return false;
}

static void forward(struct sim_ctx *c, struct sim_item *it, const struct sim_pkt *arrival,
                    const struct sim_route *route)
{
    const struct sim_device *rt = it->in->device;
    const struct sim_port *out = route->next_hop_port;
    struct sim_pkt *p = &it->pkt;
    uint32_t nh;

    if (!out || out->device != rt)
        out = port_for(rt, route->next_hop_gateway);
    if (!out) {
        send_error(c, it, arrival, 3, 0, "no route");
        return;
    }
    nh = route->next_hop_gateway ? route->next_hop_gateway : p->ip_dst;
    if (eng_tracing(c)) {
        if (route->next_hop_gateway)
            eng_note(c, "route " ENG_IP_FMT "/%u via " ENG_IP_FMT, ENG_IP(route->dst.addr), route->dst.len,
                     ENG_IP(nh));
        else
            eng_note(c, "route " ENG_IP_FMT "/%u connected", ENG_IP(route->dst.addr), route->dst.len);
    }
    eng_hop_out(c, out);
    eng_tag(c, SIM_TAG_PORT, &out->obj.id, 0);   /* its filter decides, even if it drops */
    chain_fip_snat(c, it, rt, out);
    if (!filter(c, it, arrival, rt->outbound_filter, out) || !filter(c, it, arrival, out->outbound_filter, out))
        return;

    p->ttl--;
    if (out->has_mac)
        memcpy(p->eth_src, out->mac, 6);
    if (!sim_port_is_interior(out) && !sim_port_is_exterior(out)) {
        eng_drop(c, "port not bound");
        return;
    }
    if (!next_hop_mac(c, out, nh, p->eth_dst)) {
        struct sim_pkt req;

        if (sim_port_is_exterior(out) && !sim_id_is_zero(&c->s->local_host) &&
            memcmp(&out->host->obj.id, &c->s->local_host, sizeof(struct sim_id))) {
            memset(p->eth_dst, 0, 6);
            eng_note(c, "next hop " ENG_IP_FMT " resolved by the uplink's host", ENG_IP(nh));
            eng_egress(c, it, out);
            return;
        }
        if (!out->admin_up) {
            eng_drop(c, "admin down");
            return;
        }
        icmp_build_arp_request(&req, out, nh);
        eng_note(c, "arp request for " ENG_IP_FMT, ENG_IP(nh));
        eng_generated(c, it, &req, out, SIM_PENDING);
        return;
    }
    eng_egress(c, it, out);
}

void router_process(struct sim_ctx *c, struct sim_item *it)
{
    const struct sim_port *in = it->in;
    const struct sim_device *rt = in->device;
    struct sim_pkt *p = &it->pkt;
    struct sim_pkt arrival = *p;
    const struct eng_entry *own;
    const struct sim_route *route;

    if (in->has_mac && !eng_mac_is_multicast(p->eth_dst) && memcmp(p->eth_dst, in->mac, 6)) {
        eng_drop(c, "not addressed to router");
        return;
    }
    if (!filter(c, it, &arrival, in->inbound_filter, NULL))
        return;
    if (p->eth_type == SIM_ETH_ARP) {
        handle_arp(c, it);
        return;
    }
    if (p->eth_type != SIM_ETH_IP) {
        eng_drop(c, "not ip");
        return;
    }

    own = eng_index(c, rt, p->ip_dst, ENG_IX_ROUTER_IP);
    if (own && p->proto == SIM_PROTO_ICMP && p->icmp_type == 8 && p->fragment != SIM_PKT_FRAG_LATER) {
        struct sim_pkt reply;

        eng_tag(c, SIM_TAG_PORT, &own->port->obj.id, 0);
        icmp_build_echo_reply(&reply, p, in->mac);
        eng_note(c, "echo reply");
        eng_generated(c, it, &reply, in, SIM_REPLY);
        return;
    }

    chain_fip_dnat(c, it, rt);
    if (!filter(c, it, &arrival, rt->inbound_filter, NULL))
        return;
    if (p->ip_dst != arrival.ip_dst)
        own = eng_index(c, rt, p->ip_dst, ENG_IX_ROUTER_IP);
    if (own) {
        eng_tag(c, SIM_TAG_PORT, &own->port->obj.id, 0);
        eng_note(c, "to the router");
        eng_consume(c);
        return;
    }

    if (p->ttl <= 1) {
        send_error(c, it, &arrival, 11, 0, "ttl exceeded");
        return;
    }
    route = route_pick(c, rt, p);
    if (!route) {
        send_error(c, it, &arrival, 3, 0, "no route");
        return;
    }
    if (route->obj.type == SIM_RES_ROUTE && !route->implicit)
        eng_tag(c, SIM_TAG_ROUTE, &route->obj.id, 0);
    switch (route->type) {
    case SIM_ROUTE_BLACKHOLE:
        eng_note(c, "blackhole " ENG_IP_FMT "/%u", ENG_IP(route->dst.addr), route->dst.len);
        eng_drop(c, "blackhole route");
        return;
    case SIM_ROUTE_REJECT:
        eng_note(c, "reject route " ENG_IP_FMT "/%u", ENG_IP(route->dst.addr), route->dst.len);
        send_error(c, it, &arrival, 3, 13, "reject route");
        return;
    default:
        forward(c, it, &arrival, route);
    }
}
