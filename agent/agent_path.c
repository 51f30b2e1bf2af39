/*
 * agent/agent_path.c: packets through the agent.
 *
 * A burst from a port is parsed, looked up in the flow cache and the hits
 * run through their cached actions. A miss is an upcall: the packet is
 * simulated, the flow's new NAT/conntrack state is pushed to the hosts
 * that may see its return traffic, then the flow is installed and the
 * packet sent. Upcalls are bounded per loop turn (datapath.upcall_budget):
 * a flood of new flows is dropped and counted, while cache hits, which
 * cost little, keep flowing.
 *
 * From the tunnel, a frame whose VNI is the tunnel key of a port bound
 * here is delivered to it without simulation (the sender simulated it). A
 * frame whose VNI names a port on another host came from a tunnel end that
 * does not simulate (a kernel VXLAN device standing for that port's host):
 * it enters the topology at that port and is simulated here.
 */
#include "agent/agent_impl.h"
#include "lib/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

/* --- sending a frame the slow path built --------------------------------------- */

unsigned agent_port_tx(struct agent *a, uint32_t port_no, struct pkt_buf **bufs, unsigned n)
{
    struct agent_port *p;

    if (port_no >= AGENT_MAX_PORTS || !a->ports[port_no].used)
        return 0;
    p = &a->ports[port_no];
    if (p->ext && a->ext.tx) {
        struct pkt_buf *keep[DP_TXQ_SIZE > AGENT_BURST ? DP_TXQ_SIZE : AGENT_BURST];
        unsigned done = 0;
        /* the hook compacts the array it is given: hand it a copy, in slices */
        while (done < n) {
            unsigned k = n - done < RP_ARRAY_SIZE(keep) ? n - done : (unsigned)RP_ARRAY_SIZE(keep);
            memcpy(keep, bufs + done, k * sizeof(*keep));
            unsigned m = a->ext.tx(a->ext.ctx, port_no, keep, k);
            dp_io_tx_burst(p->io, keep, m);
            done += k;
        }
        return n;   /* what the hook held back it counted itself */
    }
    return dp_io_tx_burst(p->io, bufs, n);
}

static void send_local(struct agent *a, int port_no, struct pkt_buf *b)
{
    if (port_no >= 0)
        agent_port_tx(a, (uint32_t)port_no, &b, 1);
}

/* Send one frame to a simulator output: a local port, or VXLAN to its host. */
static void send_to_output(struct agent *a, const struct sim_output *o, struct pkt_buf *b)
{
    int port_no = agent_port_by_key(a, o->tunnel_key);

    if (port_no >= 0) {
        send_local(a, port_no, b);
    } else if (o->host_tunnel_ip && o->host_tunnel_ip != a->tunnel_ip) {
        uint32_t vni = o->tunnel_key, ip = o->host_tunnel_ip;
        tun_tx_burst(a->tun, &b, &vni, &ip, 1);
    }
}

/* Build each output's frame from the packet that caused it and send it. */
static void send_slow(struct agent *a, const uint8_t *f, uint32_t len, const struct pkt_layout *l, bool generated)
{
    for (uint32_t i = 0; i < a->res.n_outputs; i++) {
        const struct sim_output *o = &a->res.outputs[i];
        struct pkt_buf *b = pkt_pool_get(a->pool);
        int n;
        if (!b)
            return;
        b->data = b->room + PKT_HEADROOM;
        n = generated ? agent_frame_generated(f, len, l, &o->pkt, b->data, PKT_BUF_SIZE - PKT_HEADROOM)
                      : agent_frame_forwarded(f, len, l, &o->pkt, b->data, PKT_BUF_SIZE - PKT_HEADROOM);
        if (n > 0) {
            b->len = (uint16_t)n;
            send_to_output(a, o, b);
            a->c.generated_sent += generated;
        }
        pkt_pool_put(a->pool, b);
    }
}

/* --- flow state ------------------------------------------------------------------ */

static void add_ip(uint32_t *ips, unsigned *n, unsigned max, uint32_t ip, uint32_t self)
{
    if (!ip || ip == self)
        return;
    for (unsigned i = 0; i < *n; i++)
        if (ips[i] == ip)
            return;
    if (*n < max)
        ips[(*n)++] = ip;
}

/* Push the state this simulation created to the egress hosts and to the
 * hosts of the stateful port groups of the ingress and egress ports,
 * before the packet itself leaves. */
static void push_state(struct agent *a, const struct sim_id *in_port)
{
    enum { MAX_DST = 64, PER_MSG = (TUN_STATE_PAYLOAD_MAX - NAT_STATE_HDR_LEN) / NAT_STATE_NAT_LEN };
    struct nat_state_rec recs[PER_MSG];
    uint8_t buf[TUN_STATE_PAYLOAD_MAX];
    uint32_t ips[MAX_DST], more[MAX_DST];
    unsigned n_ips = 0, n_recs = 0;

    if (!a->res.n_new_state)
        return;
    for (uint32_t i = 0; i < a->res.n_outputs; i++) {
        add_ip(ips, &n_ips, MAX_DST, a->res.outputs[i].host_tunnel_ip, a->tunnel_ip);
        unsigned m = sim_topo_stateful_peers(a->topo, &a->res.outputs[i].port_id, more, MAX_DST);
        for (unsigned k = 0; k < m && k < MAX_DST; k++)
            add_ip(ips, &n_ips, MAX_DST, more[k], a->tunnel_ip);
    }
    unsigned m = sim_topo_stateful_peers(a->topo, in_port, more, MAX_DST);
    for (unsigned k = 0; k < m && k < MAX_DST; k++)
        add_ip(ips, &n_ips, MAX_DST, more[k], a->tunnel_ip);
    if (!n_ips)
        return;
    for (uint32_t i = 0; i < a->res.n_new_state; i++) {
        if (nat_state_export(a->nat, &a->res.new_state[i], a->now_ns, &recs[n_recs]) == 0)
            n_recs++;
        if (n_recs == PER_MSG || (i + 1 == a->res.n_new_state && n_recs)) {
            size_t len;
            if (nat_state_encode(recs, n_recs, buf, sizeof(buf), &len) == 0 &&
                tun_send_state(a->tun, ips, n_ips, buf, len) > 0) {
                a->c.state_msgs_sent++;
                a->c.state_records_sent += n_recs;
            }
            n_recs = 0;
        }
    }
}

void agent_on_state(void *ctx, const struct tun_state_msg *msg)
{
    struct agent *a = ctx;
    struct nat_state_rec recs[64];
    unsigned n;

    if (nat_state_decode(msg->data, msg->len, recs, 64, &n) < 0) {
        a->c.state_bad++;
        return;
    }
    a->c.state_records_received += nat_state_install(a->nat, recs, n, agent_clock_ns());
}

/* --- the upcall -------------------------------------------------------------------- */

static int compile_local_port(void *arg, const struct sim_output *o, uint32_t *port_no)
{
    int p = agent_port_by_key(arg, o->tunnel_key);

    if (p < 0)
        return -ENOENT;
    *port_no = (uint32_t)p;
    return 0;
}

/* Simulate a packet entering at 'in_port'; install its flow when it can be
 * cached (cache != false) and send it. Takes the buffer. */
static void upcall(struct agent *a, struct pkt_buf *b, const struct flow_key *key, const struct pkt_layout *l,
                   const struct sim_id *in_port, bool cache)
{
    struct dp_compile_env env = {.local_port = compile_local_port, .arg = a};
    struct dp_actions acts;
    struct sim_pkt pkt;
    struct dp_flow *flow = NULL;
    int rc;

    a->c.upcalls++;
    agent_pkt_from_frame(b->data, b->len, key, l, &pkt);
    sim_result_reset(&a->res);
    if (sim_simulate(a->topo, a->state, in_port, &pkt, a->now_ns, &a->res) < 0) {
        a->c.sim_errors++;
        pkt_pool_put(a->pool, b);
        return;
    }
    push_state(a, in_port);
    if (a->res.verdict == SIM_REPLY || a->res.verdict == SIM_PENDING) {
        send_slow(a, b->data, b->len, l, true);
        pkt_pool_put(a->pool, b);
        return;
    }
    /* No SNAT port yet because a block is being leased (the common case
     * for a zone's first flow here): wait for it instead of losing the
     * packet. */
    if (a->res.verdict == SIM_DROP && a->lease && a->res.drop_reason &&
        !strcmp(a->res.drop_reason, "snat ports exhausted") && a->n_parked < AGENT_PARKED) {
        struct agent_parked *pk = &a->parked[a->n_parked++];
        pk->b = b;
        pk->key = *key;
        pk->l = *l;
        pk->in_port = *in_port;
        pk->deadline_ns = a->now_ns + AGENT_PARK_NS;
        a->c.parked++;
        return;
    }
    /* Running out of NAT ports or table space passes (a block arrives, an
     * entry expires): such a drop is not cached, so the flow's next packet
     * is simulated again. */
    if (a->res.verdict == SIM_DROP && a->res.drop_reason &&
        (strstr(a->res.drop_reason, "exhausted") || !strcmp(a->res.drop_reason, "nat table full")))
        cache = false;
    rc = cache ? dp_actions_compile(key, &a->res, &env, &acts) : -EOPNOTSUPP;
    if (rc < 0) {
        a->c.not_cached++;
        send_slow(a, b->data, b->len, l, false);
        pkt_pool_put(a->pool, b);
        return;
    }
    if (dp_flow_insert(a->flows, key, &acts, a->res.tags, a->res.n_tags, a->now_ns, &flow) == 0)
        dp_actions_execute(a->exec, &b, &flow, 1);
    else
        dp_actions_execute_one(a->exec, b, &acts);
}

void agent_unpark(struct agent *a, bool lease_came)
{
    struct agent_parked now[AGENT_PARKED];
    unsigned n = a->n_parked;

    if (!n)
        return;
    memcpy(now, a->parked, n * sizeof(now[0]));
    a->n_parked = 0;   /* what parks again below lands in a fresh list */
    for (unsigned i = 0; i < n; i++) {
        if (a->now_ns >= now[i].deadline_ns) {
            a->c.park_expired++;
            pkt_pool_put(a->pool, now[i].b);
        } else if (lease_came) {
            a->c.unparked++;
            upcall(a, now[i].b, &now[i].key, &now[i].l, &now[i].in_port, true);
            /* it keeps its first deadline if it parks again */
            if (a->n_parked && a->parked[a->n_parked - 1].b == now[i].b)
                a->parked[a->n_parked - 1].deadline_ns = now[i].deadline_ns;
        } else {
            a->parked[a->n_parked++] = now[i];
        }
    }
}

/* --- receive ------------------------------------------------------------------------- */

void agent_port_rx(struct agent *a, uint32_t port_no)
{
    struct agent_port *p = &a->ports[port_no];
    struct pkt_buf *bufs[AGENT_BURST], *hit_bufs[AGENT_BURST];
    struct flow_key keys[AGENT_BURST];
    struct pkt_layout layouts[AGENT_BURST];
    struct dp_flow *flows[AGENT_BURST], *hit_flows[AGENT_BURST];

    /* A few bursts per wake-up, then the other ports get their turn. */
    for (int turn = 0; turn < 4; turn++) {
        unsigned n = dp_io_rx_burst(p->io, bufs, AGENT_BURST), ok = 0, nh = 0, got = n;
        if (!n)
            return;
        if (p->ext && a->ext.rx)
            n = a->ext.rx(a->ext.ctx, port_no, bufs, n);
        for (unsigned i = 0; i < n; i++) {
            enum pkt_err e = flow_key_extract(bufs[i]->data, bufs[i]->len, port_no, &keys[ok], &layouts[ok]);
            if (e != PKT_OK) {
                a->c.malformed[e]++;
                pkt_pool_put(a->pool, bufs[i]);
                continue;
            }
            bufs[ok++] = bufs[i];
        }
        dp_flow_lookup_burst(a->flows, keys, ok, a->now_ns, flows);
        for (unsigned i = 0; i < ok; i++) {
            if (flows[i]) {
                hit_bufs[nh] = bufs[i];
                hit_flows[nh++] = flows[i];
            }
        }
        if (nh)
            dp_actions_execute(a->exec, hit_bufs, hit_flows, nh);
        for (unsigned i = 0; i < ok; i++) {
            if (flows[i])
                continue;
            if (a->upcalls_this_turn >= a->cfg.upcall_budget) {
                a->c.upcall_drops++;
                pkt_pool_put(a->pool, bufs[i]);
                continue;
            }
            a->upcalls_this_turn++;
            upcall(a, bufs[i], &keys[i], &layouts[i], &p->info.id, true);
        }
        agent_flush(a);
        if (got < AGENT_BURST)
            return;
    }
}

/* Send the frames of a burst bound for local ports, one batch per port
 * (a burst usually goes to one or two VMs). Takes the buffers. */
static void deliver_local(struct agent *a, struct pkt_buf **bufs, int *port_no, unsigned n)
{
    struct pkt_buf *batch[AGENT_BURST];

    for (unsigned i = 0; i < n; i++) {
        unsigned k = 0;
        int p = port_no[i];
        if (p < 0)
            continue;
        for (unsigned j = i; j < n; j++)
            if (port_no[j] == p) {
                batch[k++] = bufs[j];
                port_no[j] = -1;
            }
        agent_port_tx(a, (uint32_t)p, batch, k);
        for (unsigned j = 0; j < k; j++)
            pkt_pool_put(a->pool, batch[j]);
        a->c.tunnel_delivered += k;
    }
}

void agent_tunnel_rx(struct agent *a)
{
    struct pkt_buf *bufs[AGENT_BURST], *local[AGENT_BURST];
    uint32_t vnis[AGENT_BURST], srcs[AGENT_BURST];
    int local_port[AGENT_BURST];

    for (int turn = 0; turn < 4; turn++) {
        unsigned n = tun_rx_burst(a->tun, a->pool, bufs, vnis, srcs, AGENT_BURST), nl = 0;
        for (unsigned i = 0; i < n; i++) {
            int port_no = agent_port_by_key(a, vnis[i]);
            struct sim_port_info info;
            if (port_no >= 0) {
                local[nl] = bufs[i];
                local_port[nl++] = port_no;
                continue;
            }
            if (sim_topo_port_by_key(a->topo, vnis[i], &info) == 0) {
                struct flow_key key;
                struct pkt_layout l;
                enum pkt_err e = flow_key_extract(bufs[i]->data, bufs[i]->len, AGENT_TUNNEL_IN_PORT, &key, &l);
                if (e != PKT_OK) {
                    a->c.malformed[e]++;
                } else if (a->upcalls_this_turn < a->cfg.upcall_budget) {
                    a->upcalls_this_turn++;
                    a->c.tunnel_ingress++;
                    upcall(a, bufs[i], &key, &l, &info.id, false);
                    continue;   /* upcall took the buffer */
                } else {
                    a->c.upcall_drops++;
                }
            } else {
                a->c.tunnel_unknown_key++;
            }
            pkt_pool_put(a->pool, bufs[i]);
        }
        deliver_local(a, local, local_port, nl);
        agent_flush(a);
        if (n < AGENT_BURST)
            return;
    }
}

/* --- transmit ------------------------------------------------------------------------------ */

/* The executor queues remote packets fully encapsulated (outer Ethernet,
 * IPv4, UDP, VXLAN); the tunnel socket sends the VXLAN datagram and lets
 * the kernel route it, so the outer headers are read and stripped here. */
#define OUTER_LEN (sizeof(struct eth_hdr) + sizeof(struct ipv4_hdr) + sizeof(struct udp_hdr) + sizeof(struct vxlan_hdr))

static uint32_t tx_queue(void *arg, uint32_t port, struct pkt_buf **bufs, uint32_t n)
{
    struct agent *a = arg;

    if (port != AGENT_TUNNEL_PORT)
        return port < AGENT_MAX_PORTS ? agent_port_tx(a, port, bufs, n) : 0;
    uint32_t vnis[DP_TXQ_SIZE], ips[DP_TXQ_SIZE];
    n = n < DP_TXQ_SIZE ? n : DP_TXQ_SIZE;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *f = bufs[i]->data;
        const struct ipv4_hdr *ip = (const struct ipv4_hdr *)(f + sizeof(struct eth_hdr));
        const struct vxlan_hdr *vx = (const struct vxlan_hdr *)(f + OUTER_LEN - sizeof(struct vxlan_hdr));
        if (bufs[i]->len < OUTER_LEN + sizeof(struct eth_hdr)) {
            ips[i] = 0;   /* cannot happen: the executor pushed these headers */
            vnis[i] = 0;
            continue;
        }
        ips[i] = ntohl(ip->dst);
        vnis[i] = (uint32_t)vx->vni[0] << 16 | (uint32_t)vx->vni[1] << 8 | vx->vni[2];
        pkt_pull(bufs[i], (uint16_t)OUTER_LEN);
    }
    tun_tx_burst(a->tun, bufs, vnis, ips, n);
    return n;   /* what the socket refused is counted by the tunnel, not retried */
}

void agent_flush(struct agent *a)
{
    dp_exec_flush(a->exec, tx_queue, a);
}
