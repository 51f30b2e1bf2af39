/*
 * datapath/dp_actions.c: compiling simulator answers into flow actions and
 * executing them on bursts (see dp_actions.h).
 */
#include "datapath/dp_actions.h"
#include "datapath/dp_flow.h"
#include "lib/csum.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Counter names, and the simulator's reason strings for its reasons. */
static const struct {
    const char *name, *sim;
} drop_names[DP_DROP_COUNT] = {
    [DP_DROP_NONE] = {"none", NULL},
    [DP_DROP_NO_SUCH_PORT] = {"no_such_port", "no such port"},
    [DP_DROP_ADMIN_DOWN] = {"admin_down", "admin down"},
    [DP_DROP_LOOP] = {"loop", "loop"},
    [DP_DROP_CHAIN_LOOP] = {"chain_loop", "chain loop"},
    [DP_DROP_RULE_DROP] = {"rule_drop", "rule drop"},
    [DP_DROP_RULE_REJECT] = {"rule_reject", "rule reject"},
    [DP_DROP_SNAT_EXHAUSTED] = {"snat_ports_exhausted", "snat ports exhausted"},
    [DP_DROP_DNAT_EXHAUSTED] = {"dnat_ports_exhausted", "dnat ports exhausted"},
    [DP_DROP_NAT_TABLE_FULL] = {"nat_table_full", "nat table full"},
    [DP_DROP_NAT_ERROR] = {"nat_error", "nat error"},
    [DP_DROP_BLACKHOLE_ROUTE] = {"blackhole_route", "blackhole route"},
    [DP_DROP_REJECT_ROUTE] = {"reject_route", "reject route"},
    [DP_DROP_NO_ROUTE] = {"no_route", "no route"},
    [DP_DROP_TTL_EXCEEDED] = {"ttl_exceeded", "ttl exceeded"},
    [DP_DROP_PORT_NOT_BOUND] = {"port_not_bound", "port not bound"},
    [DP_DROP_HAIRPIN] = {"hairpin", "hairpin"},
    [DP_DROP_NOT_FOR_ROUTER] = {"not_addressed_to_router", "not addressed to router"},
    [DP_DROP_NOT_IP] = {"not_ip", "not ip"},
    [DP_DROP_NO_PORTS] = {"no_ports", "no ports"},
    [DP_DROP_SIM_OTHER] = {"sim_other", NULL},
    [DP_DROP_CONSUMED] = {"consumed", NULL},
    [DP_DROP_NO_TUNNEL_IP] = {"no_tunnel_ip", NULL},
    [DP_DROP_TRUNCATED] = {"truncated", NULL},
    [DP_DROP_NO_HEADROOM] = {"no_headroom", NULL},
    [DP_DROP_CLONE_NO_BUF] = {"clone_no_buf", NULL},
    [DP_DROP_TXQ_FULL] = {"txq_full", NULL},
    [DP_DROP_TX_FAIL] = {"tx_fail", NULL},
    [DP_DROP_BAD_PORT] = {"bad_port", NULL},
    [DP_DROP_NOT_VXLAN] = {"not_vxlan", NULL},
    [DP_DROP_VXLAN_BAD] = {"vxlan_bad", NULL},
};

const char *dp_drop_name(enum dp_drop d)
{
    return (unsigned)d < DP_DROP_COUNT ? drop_names[d].name : "unknown";
}

enum dp_drop dp_drop_from_sim(const char *reason)
{
    if (!reason)
        return DP_DROP_SIM_OTHER;
    for (int i = 0; i < DP_DROP_COUNT; i++)
        if (drop_names[i].sim && strcmp(drop_names[i].sim, reason) == 0)
            return (enum dp_drop)i;
    return DP_DROP_SIM_OTHER;
}

/* --- compiling ------------------------------------------------------------ */

/* Ones'-complement addend for one 16-bit word going from 'o' to 'n' (RFC
 * 1624: ~m + m'). Addition is linear, so a byte changing inside a word can
 * be given as that byte alone in its position. */
static uint32_t word_change(uint32_t acc, uint16_t o, uint16_t n)
{
    return o == n ? acc : acc + (uint16_t)~o + n;
}

static uint32_t addr_change(uint32_t acc, rp_be32 o, rp_be32 n)
{
    uint32_t a = ntohl(o), b = ntohl(n);

    acc = word_change(acc, (uint16_t)(a >> 16), (uint16_t)(b >> 16));
    return word_change(acc, (uint16_t)a, (uint16_t)b);
}

static uint16_t fold16(uint32_t s)
{
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

static uint8_t key_n_vlans(const struct flow_key *k)
{
    return (uint8_t)(((k->flags & FLOW_F_VLAN0) != 0) + ((k->flags & FLOW_F_VLAN1) != 0));
}

static int compile_out(const struct flow_key *key, const struct dp_actions *a, const struct sim_output *o,
                       const struct dp_compile_env *env, struct dp_act_out *out, bool *no_tunnel)
{
    const struct sim_pkt *p = &o->pkt;
    uint16_t in_vid = key_n_vlans(key) ? (ntohs(key->vlan_tci[key_n_vlans(key) - 1]) & 0x0fff) : 0;
    uint32_t port = 0;
    int err;

    if (p->vlan != in_vid)
        return -EOPNOTSUPP;
    memcpy(out->eth_src, p->eth_src, ETH_ALEN);
    memcpy(out->eth_dst, p->eth_dst, ETH_ALEN);
    if (memcmp(p->eth_src, key->eth_src, ETH_ALEN))
        out->set |= DP_SET_ETH_SRC;
    if (memcmp(p->eth_dst, key->eth_dst, ETH_ALEN))
        out->set |= DP_SET_ETH_DST;
    if (a->is_ipv4) {
        uint32_t ip_add = 0, l4_add = 0;

        out->ip_src = htonl(p->ip_src);
        out->ip_dst = htonl(p->ip_dst);
        out->vni_ttl = p->ttl;
        if (p->tos != key->nw_tos)
            return -EOPNOTSUPP;
        if (out->ip_src != key->nw.v4.src)
            out->set |= DP_SET_IP_SRC;
        if (out->ip_dst != key->nw.v4.dst)
            out->set |= DP_SET_IP_DST;
        if (p->ttl != key->nw_ttl)
            out->set |= DP_SET_TTL;
        if ((key->flags & FLOW_F_ICMP_ERROR) && (out->set & (DP_SET_IP_SRC | DP_SET_IP_DST)))
            return -EOPNOTSUPP;
        ip_add = addr_change(ip_add, key->nw.v4.src, out->ip_src);
        ip_add = addr_change(ip_add, key->nw.v4.dst, out->ip_dst);
        l4_add = ip_add;    /* the pseudo-header holds the addresses */
        ip_add = word_change(ip_add, (uint16_t)(key->nw_ttl << 8), (uint16_t)(p->ttl << 8));
        out->ip_csum_add = fold16(ip_add);
        if (a->l4 == DP_L4_TCP || a->l4 == DP_L4_UDP) {
            out->tp_src = htons(p->src_port);
            out->tp_dst = htons(p->dst_port);
            if (out->tp_src != key->tp_src)
                out->set |= DP_SET_TP_SRC;
            if (out->tp_dst != key->tp_dst)
                out->set |= DP_SET_TP_DST;
            l4_add = word_change(l4_add, ntohs(key->tp_src), p->src_port);
            l4_add = word_change(l4_add, ntohs(key->tp_dst), p->dst_port);
            out->l4_csum_add = fold16(l4_add);
        } else if (a->l4 == DP_L4_ICMP) {
            /* ICMP has no pseudo-header: only the identifier counts. */
            out->tp_src = key->tp_src;
            out->tp_dst = htons(p->icmp_id);
            if (out->tp_dst != key->tp_dst)
                out->set |= DP_SET_ICMP_ID;
            out->l4_csum_add = fold16(word_change(0, ntohs(key->tp_dst), p->icmp_id));
        } else if ((key->nw_proto == IP_PROTO_TCP || key->nw_proto == IP_PROTO_UDP) &&
                   (p->src_port != ntohs(key->tp_src) || p->dst_port != ntohs(key->tp_dst))) {
            /* A later fragment whose ports the simulator changed: the
             * ports are in the first fragment, out of reach. */
            return -EOPNOTSUPP;
        }
    }

    err = env && env->local_port ? env->local_port(env->arg, o, &port) : -ENOENT;
    if (err == 0 && port > UINT16_MAX)
        return -ERANGE;
    out->port = (uint16_t)port;
    if (err == -ENOENT) {
        if (o->host_tunnel_ip == 0) {
            *no_tunnel = true;
            return 0;
        }
        out->set |= DP_OUT_VXLAN;
        out->vni_ttl |= (o->tunnel_key & 0xffffff) << 8;
        out->remote_ip = htonl(o->host_tunnel_ip);
        out->port = 0;
    } else if (err) {
        return err;
    }
    return 0;
}

int dp_actions_compile(const struct flow_key *key, const struct sim_result *r, const struct dp_compile_env *env,
                       struct dp_actions *out)
{
    if (!key || !r || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    switch (r->verdict) {
    case SIM_DROP:
        out->verdict = DP_ACT_DROP;
        out->drop = (uint8_t)dp_drop_from_sim(r->drop_reason);
        return 0;
    case SIM_CONSUME:
        out->verdict = DP_ACT_CONSUME;
        out->drop = DP_DROP_CONSUMED;
        return 0;
    case SIM_FORWARD:
        break;
    default:
        return -EOPNOTSUPP;
    }
    if (r->n_outputs == 0) {
        out->verdict = DP_ACT_DROP;
        out->drop = DP_DROP_NO_PORTS;
        return 0;
    }
    if (r->n_outputs > DP_ACT_MAX_OUT)
        return -E2BIG;
    out->verdict = DP_ACT_FORWARD;
    out->n_vlans = key_n_vlans(key) & 3;
    out->is_ipv4 = key->eth_type == htons(ETH_TYPE_IPV4) && !(key->flags & FLOW_F_IPV6);
    if (out->is_ipv4 && key->nw_frag != FLOW_FRAG_LATER) {
        if (key->nw_proto == IP_PROTO_TCP)
            out->l4 = DP_L4_TCP;
        else if (key->nw_proto == IP_PROTO_UDP)
            out->l4 = DP_L4_UDP;
        else if (key->nw_proto == IP_PROTO_ICMP &&
                 ((ntohs(key->tp_src) >> 8) == ICMP_ECHO || (ntohs(key->tp_src) >> 8) == ICMP_ECHO_REPLY))
            out->l4 = DP_L4_ICMP;   /* echo: the identifier is in the key; other types carry none */
    }
    for (uint32_t i = 0; i < r->n_outputs; i++) {
        bool no_tunnel = false;
        int err = compile_out(key, out, &r->outputs[i], env, &out->out[i], &no_tunnel);

        if (err)
            return err;
        if (no_tunnel) {
            if (r->n_outputs > 1)
                return -EOPNOTSUPP;
            memset(out, 0, sizeof(*out));
            out->verdict = DP_ACT_DROP;
            out->drop = DP_DROP_NO_TUNNEL_IP;
            return 0;
        }
    }
    out->n_out = (uint8_t)r->n_outputs;
    return 0;
}

/* --- executing ------------------------------------------------------------ */

struct dp_txq {
    uint32_t n;
    struct pkt_buf *bufs[DP_TXQ_SIZE];
};

struct dp_exec {
    struct dp_exec_config cfg;
    uint32_t outer_sum;             /* constant words of the outer IPv4 header */
    struct dp_txq *txq;             /* n_ports */
    struct dp_port_stats *stats;    /* n_ports + 1: the last row for out-of-range ports */
    uint32_t *dirty;                /* ports with queued packets */
    uint32_t n_dirty;
};

#define VXLAN_OVERHEAD (sizeof(struct eth_hdr) + sizeof(struct ipv4_hdr) + sizeof(struct udp_hdr) + \
                        sizeof(struct vxlan_hdr))
#define OUTER_TTL 64

int dp_exec_create(struct dp_exec **out, const struct dp_exec_config *cfg)
{
    struct dp_exec *x;
    uint32_t lip;

    if (!out || !cfg || cfg->n_ports == 0 || cfg->n_ports > UINT16_MAX + 1u || cfg->tunnel_port >= cfg->n_ports ||
        !cfg->pool)
        return -EINVAL;
    x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    x->cfg = *cfg;
    x->txq = calloc(cfg->n_ports, sizeof(*x->txq));
    x->stats = calloc((size_t)cfg->n_ports + 1, sizeof(*x->stats));
    x->dirty = calloc(cfg->n_ports, sizeof(*x->dirty));
    if (!x->txq || !x->stats || !x->dirty) {
        dp_exec_destroy(x);
        return -ENOMEM;
    }
    lip = ntohl(cfg->local_tunnel_ip);
    /* version/IHL, DF, TTL/proto, source address; id is 0 */
    x->outer_sum = 0x4500 + 0x4000 + (OUTER_TTL << 8 | IP_PROTO_UDP) + (lip >> 16) + (lip & 0xffff);
    *out = x;
    return 0;
}

void dp_exec_destroy(struct dp_exec *x)
{
    if (!x)
        return;
    if (x->txq)
        for (uint32_t p = 0; p < x->cfg.n_ports; p++)
            for (uint32_t i = 0; i < x->txq[p].n; i++)
                pkt_pool_put(x->cfg.pool, x->txq[p].bufs[i]);
    free(x->dirty);
    free(x->stats);
    free(x->txq);
    free(x);
}

const struct dp_port_stats *dp_exec_port_stats(const struct dp_exec *x, uint32_t port)
{
    return &x->stats[port < x->cfg.n_ports ? port : x->cfg.n_ports];
}

static inline void drop(struct dp_exec *x, struct pkt_buf *b, uint32_t port, enum dp_drop why)
{
    x->stats[port < x->cfg.n_ports ? port : x->cfg.n_ports].drops[why]++;
    pkt_pool_put(x->cfg.pool, b);
}

static inline uint32_t enqueue(struct dp_exec *x, struct pkt_buf *b, uint32_t port)
{
    struct dp_txq *q;

    if (RP_UNLIKELY(port >= x->cfg.n_ports)) {
        drop(x, b, port, DP_DROP_BAD_PORT);
        return 0;
    }
    q = &x->txq[port];
    if (RP_UNLIKELY(q->n == DP_TXQ_SIZE)) {
        drop(x, b, port, DP_DROP_TXQ_FULL);
        return 0;
    }
    if (q->n == 0)
        x->dirty[x->n_dirty++] = port;
    q->bufs[q->n++] = b;
    return 1;
}

/* RFC 1624 eqn. 3 with a precomputed addend. */
static inline rp_be16 csum_add(rp_be16 csum, uint16_t add)
{
    uint32_t s = (uint32_t)(uint16_t)~ntohs(csum) + add;

    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return htons((uint16_t)~s);
}

/* Rewrite one packet for one output; DP_DROP_NONE or why not. */
static inline enum dp_drop rewrite(const struct dp_actions *a, const struct dp_act_out *o, uint8_t *d, uint32_t len)
{
    uint32_t l3 = sizeof(struct eth_hdr) + 4u * a->n_vlans, l4;
    struct ipv4_hdr *ip;

    if (RP_UNLIKELY(len < l3))
        return DP_DROP_TRUNCATED;
    memcpy(d, o->eth_dst, ETH_ALEN);
    memcpy(d + ETH_ALEN, o->eth_src, ETH_ALEN);
    if (!a->is_ipv4 ||
        !(o->set & (DP_SET_IP_SRC | DP_SET_IP_DST | DP_SET_TTL | DP_SET_TP_SRC | DP_SET_TP_DST | DP_SET_ICMP_ID)))
        return DP_DROP_NONE;
    if (RP_UNLIKELY(len < l3 + sizeof(struct ipv4_hdr)))
        return DP_DROP_TRUNCATED;
    ip = (struct ipv4_hdr *)(d + l3);
    l4 = l3 + 4u * (ip->ver_ihl & 0x0f);
    ip->src = o->ip_src;
    ip->dst = o->ip_dst;
    ip->ttl = dp_act_out_ttl(o);
    ip->csum = csum_add(ip->csum, o->ip_csum_add);
    switch (a->l4) {
    case DP_L4_TCP: {
        struct tcp_hdr *t = (struct tcp_hdr *)(d + l4);

        if (RP_UNLIKELY(len < l4 + sizeof(*t)))
            return DP_DROP_TRUNCATED;
        t->sport = o->tp_src;
        t->dport = o->tp_dst;
        t->csum = csum_add(t->csum, o->l4_csum_add);
        break;
    }
    case DP_L4_UDP: {
        struct udp_hdr *u = (struct udp_hdr *)(d + l4);

        if (RP_UNLIKELY(len < l4 + sizeof(*u)))
            return DP_DROP_TRUNCATED;
        u->sport = o->tp_src;
        u->dport = o->tp_dst;
        if (u->csum != 0) {
            rp_be16 c = csum_add(u->csum, o->l4_csum_add);

            u->csum = c ? c : 0xffff;
        }
        break;
    }
    case DP_L4_ICMP: {
        struct icmp_hdr *ic = (struct icmp_hdr *)(d + l4);

        if (RP_UNLIKELY(len < l4 + sizeof(*ic)))
            return DP_DROP_TRUNCATED;
        ic->id = o->tp_dst;
        ic->csum = csum_add(ic->csum, o->l4_csum_add);
        break;
    }
    default:
        break;
    }
    return DP_DROP_NONE;
}

static inline enum dp_drop vxlan_push(const struct dp_exec *x, const struct dp_act_out *o, struct pkt_buf *b)
{
    uint16_t inner = b->len;
    uint8_t *d = pkt_push(b, VXLAN_OVERHEAD);
    struct eth_hdr *eth;
    struct ipv4_hdr *ip;
    struct udp_hdr *udp;
    uint32_t rip = ntohl(o->remote_ip), sum, h;

    if (RP_UNLIKELY(!d))
        return DP_DROP_NO_HEADROOM;
    eth = (struct eth_hdr *)d;
    ip = (struct ipv4_hdr *)(eth + 1);
    udp = (struct udp_hdr *)(ip + 1);
    memcpy(eth->dst, x->cfg.nexthop_mac, ETH_ALEN);
    memcpy(eth->src, x->cfg.local_mac, ETH_ALEN);
    eth->type = htons(ETH_TYPE_IPV4);
    sum = x->outer_sum + (rip >> 16) + (rip & 0xffff) + (uint32_t)(inner + VXLAN_OVERHEAD - sizeof(*eth));
    *ip = (struct ipv4_hdr){
        .ver_ihl = 0x45,
        .tot_len = htons((uint16_t)(inner + VXLAN_OVERHEAD - sizeof(*eth))),
        .frag_off = htons(0x4000),
        .ttl = OUTER_TTL,
        .proto = IP_PROTO_UDP,
        .csum = csum_fold(sum),
        .src = x->cfg.local_tunnel_ip,
        .dst = o->remote_ip,
    };
    /* Source port from the inner flow so that the underlay spreads flows
     * (RFC 7348 section 5); checksum 0 as RFC 7348 allows over IPv4. */
    h = (uint32_t)(((uint64_t)(o->ip_src ^ o->ip_dst) << 32 ^ (uint64_t)o->tp_src << 16 ^ o->tp_dst ^ o->vni_ttl) *
                   0x9e3779b97f4a7c15ull >> 50);
    *udp = (struct udp_hdr){
        .sport = htons((uint16_t)(0xc000 | h)),
        .dport = htons(VXLAN_PORT),
        .len = htons((uint16_t)(inner + sizeof(struct udp_hdr) + sizeof(struct vxlan_hdr))),
        .csum = 0,
    };
    pkt_build_vxlan((uint8_t *)(udp + 1), dp_act_out_vni(o));
    return DP_DROP_NONE;
}

static inline uint32_t exec_one(struct dp_exec *x, struct pkt_buf *b, const struct dp_actions *a)
{
    uint32_t queued = 0, n_out = a->n_out;

    if (a->verdict != DP_ACT_FORWARD) {
        drop(x, b, b->in_port, a->verdict == DP_ACT_CONSUME ? DP_DROP_CONSUMED : (enum dp_drop)a->drop);
        return 0;
    }
    for (uint32_t k = 0; k < n_out; k++) {
        const struct dp_act_out *o = &a->out[k];
        struct pkt_buf *p = b;
        enum dp_drop why;

        if (k + 1 < n_out) {
            /* A copy for every output but the last, taken before 'b' is
             * rewritten (the last output rewrites 'b' itself). */
            p = pkt_pool_get(x->cfg.pool);
            if (!p) {
                x->stats[b->in_port < x->cfg.n_ports ? b->in_port : x->cfg.n_ports].drops[DP_DROP_CLONE_NO_BUF]++;
                continue;
            }
            p->data = p->room + pkt_headroom(b);
            p->len = b->len;
            p->in_port = b->in_port;
            memcpy(p->data, b->data, b->len);
        }
        why = rewrite(a, o, p->data, p->len);
        if (why == DP_DROP_NONE && (o->set & DP_OUT_VXLAN))
            why = vxlan_push(x, o, p);
        if (RP_UNLIKELY(why != DP_DROP_NONE)) {
            drop(x, p, why == DP_DROP_TRUNCATED ? p->in_port : (o->set & DP_OUT_VXLAN) ? x->cfg.tunnel_port : o->port,
                 why);
            continue;
        }
        queued += enqueue(x, p, (o->set & DP_OUT_VXLAN) ? x->cfg.tunnel_port : o->port);
    }
    return queued;
}

uint32_t dp_actions_execute(struct dp_exec *x, struct pkt_buf **bufs, struct dp_flow **flows, uint32_t n)
{
    uint32_t queued = 0;

    for (uint32_t i = 0; i < n; i++) {
        struct dp_flow *f = flows[i];

        if (i + 4 < n) {
            RP_PREFETCH(bufs[i + 4]->data);
            RP_PREFETCH(&flows[i + 4]->actions);
        }
        f->packets++;
        f->bytes += bufs[i]->len;
        queued += exec_one(x, bufs[i], &f->actions);
    }
    return queued;
}

uint32_t dp_actions_execute_one(struct dp_exec *x, struct pkt_buf *buf, const struct dp_actions *a)
{
    return exec_one(x, buf, a);
}

uint32_t dp_exec_flush(struct dp_exec *x, dp_tx_fn tx, void *arg)
{
    uint32_t total = 0;

    for (uint32_t d = 0; d < x->n_dirty; d++) {
        uint32_t port = x->dirty[d];
        struct dp_txq *q = &x->txq[port];
        struct dp_port_stats *st = &x->stats[port];
        uint32_t sent = tx ? tx(arg, port, q->bufs, q->n) : 0;

        if (sent > q->n)
            sent = q->n;
        for (uint32_t i = 0; i < q->n; i++) {
            if (i < sent) {
                st->tx_packets++;
                st->tx_bytes += q->bufs[i]->len;
            } else {
                st->drops[DP_DROP_TX_FAIL]++;
            }
            pkt_pool_put(x->cfg.pool, q->bufs[i]);
        }
        total += sent;
        q->n = 0;
    }
    x->n_dirty = 0;
    return total;
}

/* --- tunnel receive ------------------------------------------------------ */

enum dp_drop dp_vxlan_pop(struct pkt_buf *b, uint32_t *vni)
{
    struct flow_key key;
    struct pkt_layout lo;
    uint32_t end, inner_ofs;

    if (flow_key_extract(b->data, b->len, b->in_port, &key, &lo) != PKT_OK)
        return DP_DROP_NOT_VXLAN;
    if (key.eth_type != htons(ETH_TYPE_IPV4) || (key.flags & FLOW_F_IPV6) || key.nw_proto != IP_PROTO_UDP ||
        key.nw_frag != FLOW_FRAG_NONE || key.tp_dst != htons(VXLAN_PORT) || lo.payload_ofs == 0)
        return DP_DROP_NOT_VXLAN;
    end = (uint32_t)lo.l3_ofs + lo.l3_len;
    if (end > b->len || lo.payload_ofs > end)
        return DP_DROP_VXLAN_BAD;
    if (pkt_vxlan_decap(b->data + lo.payload_ofs, end - lo.payload_ofs, vni, &inner_ofs) != PKT_OK)
        return DP_DROP_VXLAN_BAD;
    b->len = (uint16_t)end;     /* Ethernet padding after the outer IP packet is not the inner frame's */
    pkt_pull(b, (uint16_t)(lo.payload_ofs + inner_ofs));
    return DP_DROP_NONE;
}
