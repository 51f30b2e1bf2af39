/*
 * datapath/dp_actions.h: the actions of a cached flow, compiled once from
 * the simulator's answer for its first packet and applied to every later
 * packet of the flow in bursts.
 *
 * Compiling diffs the flow key (the packet as it arrived) against each
 * output's struct sim_pkt (the packet as it leaves) and keeps only what
 * changed: Ethernet addresses, IPv4 addresses, TTL, L4 ports or the
 * ICMP echo identifier. Every packet of a flow carries the same values in
 * those fields (they are all in the exact-match key), so the checksum
 * change is the same for all of them too: it is computed once here, as an
 * RFC 1624 ones'-complement addend, and the fast path adds it to the stored
 * checksums without reading the payload. UDP checksum 0 stays 0.
 *
 * An output is either a local port (a port number of this datapath) or a
 * remote port, reached by pushing VXLAN (VNI = the port's tunnel key)
 * towards the host's tunnel IP out of the executor's tunnel port.
 * Several outputs (a flood) clone the packet from the executor's pool.
 *
 * Executing fills per-port transmit queues that the caller flushes once per
 * burst; every packet that is not queued is counted under a named drop
 * reason on a port (flow drops and parse problems on the input port, queue
 * and tunnel problems on the output port).
 *
 * Not cached on purpose (dp_actions_compile says -EOPNOTSUPP): answers the
 * topology generated (SIM_REPLY, SIM_PENDING: the daemon sends those), VLAN
 * and TOS changes, and ICMP errors whose addresses change (the quoted packet would
 * need the reverse rewrite, and the key does not name the quoted packet).
 */
#ifndef RP_DATAPATH_DP_ACTIONS_H
#define RP_DATAPATH_DP_ACTIONS_H

#include "lib/packet.h"
#include "sim/sim.h"

/* Drop reasons: the simulator's (by its reason strings) and the datapath's. */
enum dp_drop {
    DP_DROP_NONE = 0,
    /* the simulator's reasons, in sim.h's order */
    DP_DROP_NO_SUCH_PORT, DP_DROP_ADMIN_DOWN, DP_DROP_LOOP, DP_DROP_CHAIN_LOOP, DP_DROP_RULE_DROP,
    DP_DROP_RULE_REJECT, DP_DROP_SNAT_EXHAUSTED, DP_DROP_DNAT_EXHAUSTED, DP_DROP_NAT_TABLE_FULL,
    DP_DROP_NAT_ERROR, DP_DROP_BLACKHOLE_ROUTE, DP_DROP_REJECT_ROUTE, DP_DROP_NO_ROUTE, DP_DROP_TTL_EXCEEDED,
    DP_DROP_PORT_NOT_BOUND, DP_DROP_HAIRPIN, DP_DROP_NOT_FOR_ROUTER, DP_DROP_NOT_IP, DP_DROP_NO_PORTS,
    DP_DROP_SIM_OTHER,          /* a reason string this table does not know */
    /* the datapath's own */
    DP_DROP_CONSUMED,           /* CONSUME verdict: a device took the packet */
    DP_DROP_NO_TUNNEL_IP,       /* remote port whose host has no tunnel address */
    DP_DROP_TRUNCATED,          /* frame shorter than the headers the actions rewrite */
    DP_DROP_NO_HEADROOM,        /* no room to push the VXLAN headers */
    DP_DROP_CLONE_NO_BUF,       /* flood: the pool had no buffer for a copy */
    DP_DROP_TXQ_FULL,
    DP_DROP_TX_FAIL,            /* the flush callback did not take it */
    DP_DROP_BAD_PORT,           /* port number beyond the executor's ports */
    DP_DROP_NOT_VXLAN,          /* decap: not IPv4/UDP to port 4789 */
    DP_DROP_VXLAN_BAD,          /* decap: bad VXLAN header or inner frame */
    DP_DROP_COUNT
};
/* Counter name ("rule_drop", "txq_full", ...). */
const char *dp_drop_name(enum dp_drop d);
/* The reason for a simulator drop string (DP_DROP_SIM_OTHER if unknown). */
enum dp_drop dp_drop_from_sim(const char *reason);

enum dp_verdict { DP_ACT_FREE = 0, DP_ACT_FORWARD, DP_ACT_DROP, DP_ACT_CONSUME };

/* What an output changes (dp_act_out.set). */
#define DP_SET_ETH_SRC 0x0001
#define DP_SET_ETH_DST 0x0002
#define DP_SET_IP_SRC 0x0004
#define DP_SET_IP_DST 0x0008
#define DP_SET_TTL 0x0010
#define DP_SET_TP_SRC 0x0040
#define DP_SET_TP_DST 0x0080
#define DP_SET_ICMP_ID 0x0100
#define DP_OUT_VXLAN 0x0200      /* push VXLAN towards remote_ip, out of the tunnel port */

/* One output, 40 bytes, so that a flow's first output shares one cache
 * line with its counters. Fields hold the leaving packet's values whether
 * or not they change ('set' says which do), so the tunnel source port can
 * hash them. A TOS change is not supported (dp_actions_compile refuses it). */
struct dp_act_out {
    uint16_t set;               /* DP_SET_*, DP_OUT_VXLAN */
    uint16_t port;              /* local port number (VXLAN: unused, the executor's tunnel port) */
    uint8_t eth_src[ETH_ALEN], eth_dst[ETH_ALEN];
    rp_be32 ip_src, ip_dst;
    rp_be16 tp_src, tp_dst;     /* TCP/UDP ports; ICMP echo: tp_dst is the identifier */
    uint16_t ip_csum_add;       /* ones'-complement addend for the IPv4 header checksum */
    uint16_t l4_csum_add;       /* ... and for the TCP/UDP/ICMP checksum */
    rp_be32 remote_ip;          /* VXLAN: the remote host's tunnel address */
    uint32_t vni_ttl;           /* VNI (24 bits, host order) << 8 | the leaving TTL */
};
_Static_assert(sizeof(struct dp_act_out) == 40, "dp_act_out");

static inline uint8_t dp_act_out_ttl(const struct dp_act_out *o)
{
    return (uint8_t)o->vni_ttl;
}

static inline uint32_t dp_act_out_vni(const struct dp_act_out *o)
{
    return o->vni_ttl >> 8;
}

/* Outputs kept per flow: a flow entry stays three cache lines. A flood to
 * more ports is executed once and not cached (-E2BIG). */
#define DP_ACT_MAX_OUT 2

/* L4 the rewrite touches (dp_actions.l4). */
enum dp_l4 { DP_L4_NONE = 0, DP_L4_TCP, DP_L4_UDP, DP_L4_ICMP };

struct dp_actions {
    uint8_t verdict;            /* enum dp_verdict; DP_ACT_FREE marks a free flow slot */
    uint8_t n_out;
    uint8_t drop;               /* enum dp_drop for DP_ACT_DROP */
    uint8_t l4 : 2;             /* enum dp_l4 */
    uint8_t n_vlans : 2;        /* IPv4 header at 14 + 4 * n_vlans */
    uint8_t is_ipv4 : 1;
    uint8_t spare : 3;
    struct dp_act_out out[DP_ACT_MAX_OUT];
};
_Static_assert(sizeof(struct dp_actions) == 84, "dp_actions");

/* Where simulator outputs go on this host. */
struct dp_compile_env {
    /* The local port number of an exterior port bound on this host: 0, or
     * -ENOENT when the port lives on another host (reached by VXLAN). */
    int (*local_port)(void *arg, const struct sim_output *o, uint32_t *port_no);
    void *arg;
};

/* Compile the simulator's answer for the packet whose key is 'key'.
 * 0; -EOPNOTSUPP (see the header comment: execute nothing from this
 * result in the fast path); -E2BIG (more than DP_ACT_MAX_OUT outputs);
 * -EINVAL (bad arguments). A remote output whose host has no tunnel IP
 * becomes a drop with DP_DROP_NO_TUNNEL_IP when it is the only output. */
int dp_actions_compile(const struct flow_key *key, const struct sim_result *r, const struct dp_compile_env *env,
                       struct dp_actions *out);

/* --- execution ----------------------------------------------------------- */

#define DP_TXQ_SIZE 64          /* packets a port can queue between flushes */

struct dp_port_stats {
    uint64_t tx_packets, tx_bytes;
    uint64_t drops[DP_DROP_COUNT];
};

struct dp_exec_config {
    uint32_t n_ports;           /* local ports are 0 .. n_ports-1, at most 65536 */
    uint32_t tunnel_port;       /* where VXLAN packets are queued (< n_ports) */
    rp_be32 local_tunnel_ip;    /* outer source */
    uint8_t local_mac[ETH_ALEN];        /* outer source MAC */
    uint8_t nexthop_mac[ETH_ALEN];      /* outer destination MAC */
    struct pkt_pool *pool;      /* where dropped and flushed buffers go, and clones come from */
};

struct dp_exec;
struct dp_flow;

/* 0, -EINVAL, -ENOMEM. */
int dp_exec_create(struct dp_exec **out, const struct dp_exec_config *cfg);
void dp_exec_destroy(struct dp_exec *x);

/* Apply each flow's actions to its packet and queue the results (or free
 * and count them). Counts packets and bytes on each flow. Takes ownership
 * of every buffer. Returns the number of packets queued (clones included). */
uint32_t dp_actions_execute(struct dp_exec *x, struct pkt_buf **bufs, struct dp_flow **flows, uint32_t n);
/* The same for one packet and actions not in the cache (a first packet
 * whose flow could not be cached). Returns the number of packets queued. */
uint32_t dp_actions_execute_one(struct dp_exec *x, struct pkt_buf *buf, const struct dp_actions *a);

/* Hand every non-empty queue to 'tx' (which returns how many of the first
 * ones it sent); the rest count as DP_DROP_TX_FAIL. Every buffer then goes
 * back to the pool. Returns the number sent. */
typedef uint32_t (*dp_tx_fn)(void *arg, uint32_t port, struct pkt_buf **bufs, uint32_t n);
uint32_t dp_exec_flush(struct dp_exec *x, dp_tx_fn tx, void *arg);

const struct dp_port_stats *dp_exec_port_stats(const struct dp_exec *x, uint32_t port);

/* --- tunnel receive ------------------------------------------------------- */

/* A frame that came from the tunnel (outer Ethernet/IPv4/UDP 4789/VXLAN):
 * strip the outer headers in place, leaving the inner Ethernet frame, and
 * give the VNI (the egress port's tunnel key). DP_DROP_NONE, or
 * DP_DROP_NOT_VXLAN / DP_DROP_VXLAN_BAD with the buffer unchanged. */
enum dp_drop dp_vxlan_pop(struct pkt_buf *b, uint32_t *vni);

#endif
