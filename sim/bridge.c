/*
 * sim/bridge.c: a virtual L2 segment.
 *
 * The MAC table has two parts. Static entries come from the topology (each
 * bridge port's own MAC, and for an interior port the MAC of the router
 * port behind it) and live in the derived index of sim.c. Learned entries
 * (source MACs of frames entering exterior ports, for MACs no static entry
 * claims) live here in one table for all bridges, keyed by (bridge, MAC),
 * and age out after mac_ageing_s. Known unicast goes to its port; unknown
 * unicast, broadcast and multicast flood to every other port. ARP requests
 * for an address the topology knows (a port's fixed_ips, the address of the
 * router port behind an interior port) are answered by the bridge itself.
 */
#include "sim/engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BR_LEARN_LIMIT (1u << 22)   /* learned MACs per state, all bridges */
#define BR_LEARNED 0                /* eng_entry.kind of a learned MAC */

int bridge_state_init(struct sim_state *s)
{
    struct eng_table *tb = calloc(1, sizeof(*tb));
    int rc;

    if (!tb)
        return -ENOMEM;
    if ((rc = eng_table_init(tb, 1024, BR_LEARN_LIMIT)) < 0) {
        free(tb);
        return rc;
    }
    s->macs = tb;
    return 0;
}

void bridge_state_free(struct sim_state *s)
{
    struct eng_table *tb = s->macs;

    if (tb)
        eng_table_free(tb);
    free(tb);
    s->macs = NULL;
}

static bool learned_still_valid(const struct eng_entry *e, void *arg)
{
    const struct sim_ctx *c = arg;

    return e->expires_ns > c->now && eng_index(c, e->owner, 0, ENG_IX_LIVE) &&
           eng_index(c, e->port, 0, ENG_IX_LIVE) && (const void *)e->port->device == e->owner;
}

void bridge_state_sweep(struct sim_ctx *c)
{
    struct eng_table *tb = c->s->macs;

    if (tb->used)
        eng_table_filter(tb, learned_still_valid, c);
}

static void learn(struct sim_ctx *c, const struct sim_device *br, const uint8_t mac[6], const struct sim_port *port)
{
    struct eng_table *tb = c->s->macs;
    uint64_t key = eng_mac_key(mac);
    struct eng_entry *e;

    if (eng_mac_is_multicast(mac) || eng_mac_is_zero(mac) || eng_index(c, br, key, ENG_IX_MAC))
        return;   /* static entries win */
    e = eng_table_put(tb, eng_hash_keyed(br, key, BR_LEARNED), br, key, BR_LEARNED, c->now);
    if (!e)
        return;   /* full: the bridge floods to this MAC, which still delivers */
    if (e->port != port || e->expires_ns <= c->now)
        eng_note(c, "mac learned %02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    e->port = port;
    memcpy(e->mac, mac, 6);
    e->expires_ns = c->now + (uint64_t)c->s->mac_ageing_s * 1000000000ull;
}

/* The port a unicast MAC lives behind, or NULL. */
static const struct sim_port *mac_port(struct sim_ctx *c, const struct sim_device *br, const uint8_t mac[6])
{
    uint64_t key = eng_mac_key(mac);
    const struct eng_entry *e = eng_index(c, br, key, ENG_IX_MAC);

    eng_tag(c, SIM_TAG_MAC, &br->obj.id, key);
    if (e)
        return e->port;
    e = eng_table_find(c->s->macs, eng_hash_keyed(br, key, BR_LEARNED), br, key, BR_LEARNED);
    return e && e->expires_ns > c->now ? e->port : NULL;
}

/* Leave through 'out': the bridge's outbound filter, then the port's. */
static void leave(struct sim_ctx *c, struct sim_item *it, const struct sim_device *br, const struct sim_port *out)
{
    const char *why = NULL;
    enum chain_res res = chain_run(c, it, br, br->outbound_filter, it->in, out, &why);

    if (res == CHAIN_ACCEPT)
        res = chain_run(c, it, br, out->outbound_filter, it->in, out, &why);
    if (res == CHAIN_REJECT)
        why = "rule reject";
    if (res != CHAIN_ACCEPT) {
        eng_drop(c, why);
        return;
    }
    eng_egress(c, it, out);
}

static void flood(struct sim_ctx *c, struct sim_item *it, const struct sim_device *br)
{
    uint32_t sent = 0;

    eng_note(c, "flood");
    for (uint32_t i = 0; i < br->n_ports; i++) {
        const struct sim_port *out = br->ports[i];
        struct sim_item copy;

        if (out == it->in)
            continue;
        copy = *it;
        leave(c, &copy, br, out);
        sent++;
    }
    if (!sent)
        eng_drop(c, "no ports");
}

void bridge_process(struct sim_ctx *c, struct sim_item *it)
{
    const struct sim_port *in = it->in, *out;
    const struct sim_device *br = in->device;
    struct sim_pkt *p = &it->pkt;
    const char *why = NULL;
    enum chain_res res;

    res = chain_run(c, it, br, in->inbound_filter, in, NULL, &why);
    if (res == CHAIN_ACCEPT)
        res = chain_run(c, it, br, br->inbound_filter, in, NULL, &why);
    if (res != CHAIN_ACCEPT) {
        eng_drop(c, res == CHAIN_REJECT ? "rule reject" : why);
        return;
    }
    if (sim_port_is_exterior(in))
        learn(c, br, p->eth_src, in);

    /* ARP suppression: the topology knows who holds the address. A host
     * asking for its own address (duplicate detection) is not answered. */
    if (p->eth_type == SIM_ETH_ARP && p->arp_op == 1) {
        const struct eng_entry *e = eng_index(c, br, p->arp_tpa, ENG_IX_BRIDGE_IP);
        if (e && e->port != in) {
            struct sim_pkt reply;

            icmp_build_arp_reply(&reply, p, e->mac, p->arp_tpa);
            eng_tag(c, SIM_TAG_PORT, &e->port->obj.id, 0);
            if (e->port->peer)
                eng_tag(c, SIM_TAG_PORT, &e->port->peer->obj.id, 0);
            eng_note(c, "arp reply " ENG_IP_FMT " is-at %02x:%02x:%02x:%02x:%02x:%02x", ENG_IP(p->arp_tpa),
                     e->mac[0], e->mac[1], e->mac[2], e->mac[3], e->mac[4], e->mac[5]);
            eng_generated(c, it, &reply, in, SIM_REPLY);
            return;
        }
    }

    if (eng_mac_is_multicast(p->eth_dst)) {
        flood(c, it, br);
        return;
    }
    out = mac_port(c, br, p->eth_dst);
    if (!out) {
        flood(c, it, br);
        return;
    }
    if (out == in) {
        /* The destination is behind the port the frame came from. */
        eng_drop(c, "hairpin");
        return;
    }
    eng_hop_out(c, out);
    leave(c, it, br, out);
}
