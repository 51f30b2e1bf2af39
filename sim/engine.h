/*
 * sim/engine.h: the simulation engine's private declarations, shared by
 * sim.c (entry, results, work queue, ingress and egress), bridge.c, router.c,
 * chain.c (rule chains, conntrack, NAT) and icmp.c (generated packets).
 *
 * One simulation is a bounded walk: a packet copy (struct sim_item) enters a
 * device through a port, the device handles it and either ends it (drop,
 * consume, output through an exterior port) or hands copies on through
 * interior ports. Copies wait in a fixed queue inside struct sim_ctx, so
 * floods and generated packets (ARP and ICMP answers) need neither
 * recursion nor allocation; every path is cut after SIM_MAX_HOPS devices.
 */
#ifndef RP_SIM_ENGINE_H
#define RP_SIM_ENGINE_H

#include "nat/nat.h"
#include "sim/sim_impl.h"

#define SIM_MAX_HOPS 16        /* devices on one path, then drop "loop" */
#define SIM_MAX_JUMPS 16       /* nested chain jumps, then drop "chain loop" */
#define SIM_MAX_ITEMS 64       /* packet copies per simulation (floods, answers) */
#define SIM_MAX_GEN 2          /* an answer to an answer, but no deeper */
#define SIM_MAX_COMMITS 16     /* conntrack entries one simulation may commit */
#define SIM_ETH_IP 0x0800
#define SIM_ETH_ARP 0x0806
#define SIM_PROTO_ICMP 1
#define SIM_PROTO_TCP 6
#define SIM_PROTO_UDP 17
#define SIM_PROTO_SCTP 132
#define SIM_GEN_TTL 64         /* TTL of packets the topology generates */

/* A packet copy on its way through the topology. */
struct sim_item {
    struct sim_pkt pkt;
    const struct sim_port *in;     /* the port it enters its device through */
    uint8_t depth;                 /* devices visited on this path */
    uint8_t gen;                   /* 0: the simulated packet; n: generated n levels down */
    bool fip_snat;                 /* source set by a floating IP: SNAT rules leave it */
};

/* A conntrack entry to commit once the simulation is known not to drop. */
struct sim_commit {
    uint64_t zone;
    uint32_t src, dst;
    uint16_t sport, dport;
    uint8_t proto;
    uint8_t tcp_flags;
};

struct sim_ctx {
    const struct sim_topo *t;
    struct sim_state *s;
    struct sim_result *r;
    uint64_t now;
    int hop;                       /* index of the current hop in r->hops, or -1 */
    bool nomem;
    /* outcome of every copy */
    enum sim_verdict answered;     /* SIM_REPLY / SIM_PENDING once generated, else SIM_FORWARD */
    bool consumed;
    const char *drop_reason;       /* the first drop */
    struct sim_commit commits[SIM_MAX_COMMITS];
    uint32_t n_commits;
    uint32_t q_head, q_tail;
    struct sim_item q[SIM_MAX_ITEMS];
};

/* --- sim.c ------------------------------------------------------------------ */

/* Open-addressing table of small fixed records, for the derived indexes
 * (static MACs, addresses, neighbors) and the learned ones (MACs, ARP).
 * Keys are (owner, key, kind); the caller hashes them. Allocation happens
 * only when the table grows. */
struct eng_entry {
    uint64_t hash;                 /* 0 = empty slot */
    const void *owner;             /* bridge, router or port */
    uint64_t key;                  /* MAC (48 bits) or IPv4 address */
    const struct sim_port *port;
    const void *obj;               /* index entries naming another resource (a floating IP) */
    uint64_t expires_ns;           /* learned entries; UINT64_MAX = never */
    uint8_t mac[6];
    uint8_t kind;
};

struct eng_table {
    struct eng_entry *e;
    uint32_t mask, used, max_probe, limit;
};

int eng_table_init(struct eng_table *tb, uint32_t cap, uint32_t limit);
void eng_table_free(struct eng_table *tb);
void eng_table_clear(struct eng_table *tb);
struct eng_entry *eng_table_find(const struct eng_table *tb, uint64_t hash, const void *owner, uint64_t key,
                                 uint8_t kind);
/* Find or add (owner, key, kind); an expired entry met on the way may be
 * reused. NULL when the table is at its limit or cannot grow. */
struct eng_entry *eng_table_put(struct eng_table *tb, uint64_t hash, const void *owner, uint64_t key, uint8_t kind,
                                uint64_t now);
/* Keep only the entries keep() accepts (rehashing in place). */
int eng_table_filter(struct eng_table *tb, bool (*keep)(const struct eng_entry *e, void *arg), void *arg);
/* The index hash (topology-derived keys) and the keyed one (packet-derived). */
uint64_t eng_hash(const void *owner, uint64_t key, uint8_t kind);
uint64_t eng_hash_keyed(const void *owner, uint64_t key, uint8_t kind);

/* Kinds in the derived index of the topology (sim.c keeps it in step with
 * the topology's revision). */
enum {
    ENG_IX_MAC = 1,      /* owner bridge, key MAC: port (static MAC entry) */
    ENG_IX_BRIDGE_IP,    /* owner bridge, key address: mac + port answering ARP for it */
    ENG_IX_ROUTER_IP,    /* owner router, key address: its port holding it */
    ENG_IX_NEIGHBOR,     /* owner port, key address: static neighbor mac */
    ENG_IX_LIVE,         /* owner device or port: exists */
    ENG_IX_FIP_PUB,      /* owner tenant router, key public address: obj floating IP */
    ENG_IX_FIP_FIXED,    /* owner tenant router, key fixed address: obj floating IP */
    ENG_IX_GROUP_PORT,   /* owner port group, key port pointer: member */
    ENG_IX_CHAIN_CT,     /* owner chain: some rule of it has a conntrack condition */
};
const struct eng_entry *eng_index(const struct sim_ctx *c, const void *owner, uint64_t key, uint8_t kind);

static inline uint64_t eng_mac_key(const uint8_t m[6])
{
    return (uint64_t)m[0] << 40 | (uint64_t)m[1] << 32 | (uint64_t)m[2] << 24 | (uint64_t)m[3] << 16 |
           (uint64_t)m[4] << 8 | m[5];
}

static inline bool eng_mac_is_multicast(const uint8_t m[6])
{
    return m[0] & 1;
}

static inline bool eng_mac_is_zero(const uint8_t m[6])
{
    return !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]);
}

static inline bool eng_prefix_has(struct sim_prefix p, uint32_t a)
{
    return p.len == 0 || ((a ^ p.addr) >> (32 - p.len)) == 0;
}

static inline bool eng_is_router(const struct sim_device *d)
{
    return d->obj.type == SIM_RES_ROUTER;
}

void eng_tag(struct sim_ctx *c, enum sim_tag_kind kind, const struct sim_id *id, uint64_t key);
/* Trace: start a hop at a device, set its out port, add a note, a rule. */
void eng_hop_begin(struct sim_ctx *c, const struct sim_device *d, const struct sim_port *in);
void eng_hop_out(struct sim_ctx *c, const struct sim_port *out);
void eng_note(struct sim_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void eng_hop_rule(struct sim_ctx *c, const struct sim_rule *rule);
static inline bool eng_tracing(const struct sim_ctx *c)
{
    return c->hop >= 0;
}

/* Ends of a copy's path. */
void eng_drop(struct sim_ctx *c, const char *reason);
void eng_consume(struct sim_ctx *c);
/* Leave the device through 'out' (its filters already passed): exterior ->
 * output, interior -> queued at the peer's device, else drop. */
void eng_egress(struct sim_ctx *c, const struct sim_item *it, const struct sim_port *out);
/* A packet the topology generates in answer ('verdict' SIM_REPLY or
 * SIM_PENDING), leaving device 'out->device' through 'out' without passing
 * that device's chains. */
void eng_generated(struct sim_ctx *c, const struct sim_item *cause, const struct sim_pkt *pkt,
                   const struct sim_port *out, enum sim_verdict verdict);
/* Remember a conntrack entry to commit if the simulation does not drop. */
void eng_commit_later(struct sim_ctx *c, const struct sim_commit *k);
void eng_add_state(struct sim_ctx *c, const struct nat_state_ref *ref);
/* Tag a conntrack entry or NAT binding by a tuple naming it (sim_tag_state). */
void eng_tag_state(struct sim_ctx *c, const struct nat_tuple *t);

/* Dotted quad in trace notes: eng_note(c, "to " ENG_IP_FMT, ENG_IP(a)). */
#define ENG_IP_FMT "%u.%u.%u.%u"
#define ENG_IP(a) (unsigned)((a) >> 24), (unsigned)(((a) >> 16) & 255), (unsigned)(((a) >> 8) & 255), \
                  (unsigned)((a) & 255)

/* --- bridge.c / router.c ------------------------------------------------------ */

void bridge_process(struct sim_ctx *c, struct sim_item *it);
int bridge_state_init(struct sim_state *s);
void bridge_state_free(struct sim_state *s);
void bridge_state_sweep(struct sim_ctx *c);

void router_process(struct sim_ctx *c, struct sim_item *it);
int router_state_init(struct sim_state *s);
void router_state_free(struct sim_state *s);
void router_state_sweep(struct sim_ctx *c);

/* --- chain.c ---------------------------------------------------------------- */

enum chain_res { CHAIN_ACCEPT, CHAIN_DROP, CHAIN_REJECT };

/* Evaluate 'ch' (NULL: accept) for a packet handled by 'dev' entering
 * through 'in' and leaving through 'out' (NULL when not known yet). NAT
 * actions rewrite it->pkt. On drop *reason says why. */
enum chain_res chain_run(struct sim_ctx *c, struct sim_item *it, const struct sim_device *dev,
                         const struct sim_chain *ch, const struct sim_port *in, const struct sim_port *out,
                         const char **reason);
/* Floating IPs at a tenant router: pre-routing DNAT, post-routing SNAT. */
void chain_fip_dnat(struct sim_ctx *c, struct sim_item *it, const struct sim_device *router);
void chain_fip_snat(struct sim_ctx *c, struct sim_item *it, const struct sim_device *router,
                    const struct sim_port *out);
/* Commit what the simulation decided to keep (end of sim_simulate). */
int chain_commit(struct sim_ctx *c);
int chain_nat_default(struct nat_tables **out);
void chain_nat_free(struct nat_tables *nat);

/* --- icmp.c ------------------------------------------------------------------ */

/* May an ICMP error be sent about this packet (RFC 1122 3.2.2)? */
bool icmp_error_allowed(const struct sim_pkt *p);
void icmp_build_error(struct sim_pkt *out, const struct sim_pkt *cause, const struct sim_port *from, uint8_t type,
                      uint8_t code);
void icmp_build_echo_reply(struct sim_pkt *out, const struct sim_pkt *req, const uint8_t src_mac[6]);
void icmp_build_arp_reply(struct sim_pkt *out, const struct sim_pkt *req, const uint8_t mac[6], uint32_t addr);
void icmp_build_arp_request(struct sim_pkt *out, const struct sim_port *from, uint32_t target);
/* The 5-tuple fields of a packet as ports (ICMP echo: the identifier on both). */
bool icmp_has_ports(const struct sim_pkt *p);
bool icmp_is_error(const struct sim_pkt *p);
bool icmp_is_echo(const struct sim_pkt *p);

#endif
