/*
 * sim/sim_impl.h: the in-memory virtual topology and simulation internals,
 * private to sim/. Other modules use sim/sim.h.
 *
 * Ownership and references: every resource is one heap object with a stable
 * address for its whole life. A change to a resource rewrites its fields in
 * place, so pointers held by other resources stay valid; a resource that is
 * still referenced cannot be removed (the API answers 409), so no pointer
 * ever dangles. References in the document (ids or names) are resolved to
 * pointers when a resource is added or changed.
 *
 * Addresses and ports are kept in host byte order here: the simulator works
 * on header fields, not on wire bytes (the datapath converts).
 */
#ifndef RP_SIM_IMPL_H
#define RP_SIM_IMPL_H

#include "sim/sim.h"
#include "lib/lpm.h"


#include <jansson.h>

#define SIM_NAME_MAX 64

struct nat_tables;

/* Every resource starts with this header. */
struct sim_obj {
    struct sim_id id;
    char name[SIM_NAME_MAX];   /* "" when unnamed */
    enum sim_res_type type;
    uint32_t refs;             /* references from other resources */
    json_t *doc;               /* the resource as last accepted (ids, not names), for export */
    uint32_t gidx;             /* index in the topology's object table (stable) */
    uint32_t tidx;             /* position in objs[type] (changes on removal) */
};

struct sim_prefix {
    uint32_t addr;             /* host order, host bits zero */
    uint8_t len;
};

struct sim_range {
    uint16_t from, to;         /* inclusive */
};

struct sim_host {
    struct sim_obj obj;
    uint32_t tunnel_ip;        /* host order */
    /* Derived: the exterior ports bound to this host, in insertion order
     * (the agent's taps; see sim_topo_port_by_interface). */
    struct sim_port **ports;
    uint32_t n_ports, cap_ports;
};

struct sim_chain {
    struct sim_obj obj;
    char tenant[SIM_NAME_MAX];
    struct sim_rule **rules;   /* sorted by position */
    uint32_t n_rules, cap_rules;
};

struct sim_port_group {
    struct sim_obj obj;
    bool stateful;
    struct sim_port **ports;
    uint32_t n_ports;
};

struct sim_ip_group {
    struct sim_obj obj;
    uint32_t *addrs;           /* host order, sorted */
    uint32_t n_addrs;
};

enum sim_rule_action {
    SIM_ACT_ACCEPT, SIM_ACT_DROP, SIM_ACT_REJECT, SIM_ACT_CONTINUE,
    SIM_ACT_JUMP, SIM_ACT_RETURN, SIM_ACT_DNAT, SIM_ACT_SNAT,
    SIM_ACT_REV_DNAT, SIM_ACT_REV_SNAT,
};

enum sim_frag_policy { SIM_FRAG_ANY, SIM_FRAG_HEADER, SIM_FRAG_NONHEADER, SIM_FRAG_UNFRAGMENTED };

/* Bits of sim_rule.cond (condition present) and sim_rule.inv (inverted). */
enum sim_cond {
    SIM_C_IN_PORTS       = 1u << 0,
    SIM_C_OUT_PORTS      = 1u << 1,
    SIM_C_PORT_GROUP     = 1u << 2,
    SIM_C_IN_PORT_GROUP  = 1u << 3,
    SIM_C_OUT_PORT_GROUP = 1u << 4,
    SIM_C_IP_GROUP_SRC   = 1u << 5,
    SIM_C_IP_GROUP_DST   = 1u << 6,
    SIM_C_ETH_TYPE       = 1u << 7,
    SIM_C_ETH_SRC        = 1u << 8,
    SIM_C_ETH_DST        = 1u << 9,
    SIM_C_NW_SRC         = 1u << 10,
    SIM_C_NW_DST         = 1u << 11,
    SIM_C_NW_PROTO       = 1u << 12,
    SIM_C_NW_TOS         = 1u << 13,
    SIM_C_TP_SRC         = 1u << 14,
    SIM_C_TP_DST         = 1u << 15,
    SIM_C_FORWARD_FLOW   = 1u << 16,
    SIM_C_RETURN_FLOW    = 1u << 17,
    SIM_C_FRAGMENT       = 1u << 18,   /* never inverted */
};

struct sim_nat_target {
    uint32_t addr_from, addr_to;   /* host order */
    uint16_t port_from, port_to;   /* 0,0 = static (stateless) NAT */
};

struct sim_rule {
    struct sim_obj obj;
    struct sim_chain *chain;
    uint32_t position;             /* 1-based */
    uint32_t cond, inv;            /* enum sim_cond bits */
    struct sim_port **in_ports;  uint32_t n_in_ports;
    struct sim_port **out_ports; uint32_t n_out_ports;
    struct sim_port_group *port_group, *in_port_group, *out_port_group;
    struct sim_ip_group *ip_group_src, *ip_group_dst;
    uint16_t eth_type;
    uint8_t eth_src[6], eth_src_mask[6], eth_dst[6], eth_dst_mask[6]; /* mask ff.. when absent */
    struct sim_prefix nw_src, nw_dst;
    uint8_t nw_proto, nw_tos;
    struct sim_range tp_src, tp_dst;
    enum sim_frag_policy fragment_policy;
    enum sim_rule_action action;
    struct sim_chain *jump_chain;
    struct sim_nat_target *nat_targets;
    uint32_t n_nat_targets;
};

struct sim_device;

struct sim_port {
    struct sim_obj obj;
    struct sim_device *device;
    bool admin_up;
    uint8_t mac[6];
    bool has_mac;
    /* router ports */
    uint32_t addr;                 /* host order; 0 = none */
    uint8_t plen;
    /* bridge ports: the VM addresses behind the port (ARP suppression, static MAC) */
    uint32_t *fixed_ips;
    uint32_t n_fixed_ips;
    /* interior */
    struct sim_port *peer;
    /* exterior */
    struct sim_host *host;
    char interface[SIM_NAME_MAX];
    struct sim_chain *inbound_filter, *outbound_filter;
    uint32_t tunnel_key;           /* 24-bit, unique, non-zero */
    /* Derived: a router port's implicit route to its own subnet (not
     * exported), in its router's table; NULL for a bridge port. */
    struct sim_route *connected;
};

static inline bool sim_port_is_exterior(const struct sim_port *p) { return p->host != NULL; }
static inline bool sim_port_is_interior(const struct sim_port *p) { return p->peer != NULL; }

enum sim_route_type { SIM_ROUTE_NORMAL, SIM_ROUTE_BLACKHOLE, SIM_ROUTE_REJECT };

struct sim_route {
    struct sim_obj obj;
    struct sim_device *router;
    struct sim_prefix dst, src;
    struct sim_port *next_hop_port;
    uint32_t next_hop_gateway;     /* host order; 0 = directly connected */
    enum sim_route_type type;
    uint32_t weight;               /* lower wins; equal weight + length = ECMP */
    bool learned;                  /* from BGP */
    bool implicit;                 /* made for a router port's own subnet, not exported */
    struct sim_route *next_same_dst; /* chain of routes sharing dst prefix */
};

struct sim_neighbor {
    struct sim_obj obj;
    struct sim_port *port;
    uint32_t addr;
    uint8_t mac[6];
};

struct sim_floating_ip {
    struct sim_obj obj;
    uint32_t addr;                 /* public */
    struct sim_device *router;     /* provider router */
    struct sim_port *port;         /* VM's bridge port */
    uint32_t fixed_ip;             /* private */
    /* Derived: the tenant router that applies it (its port peers with the
     * FIP port's bridge; NULL if none), and the implicit /32 route on the
     * provider router towards that tenant router (in the table while
     * route.router != NULL; weight UINT32_MAX, so an explicit route to the
     * same /32 wins). */
    struct sim_device *tenant_router;
    struct sim_route route;
};

struct sim_bgp_peer {
    struct sim_obj obj;
    struct sim_port *port;
    uint32_t peer_address;
    uint32_t peer_asn, local_asn;
    uint16_t hold_time, keepalive;
    bool bfd;
    char password[80];
    char state[32];                /* read-only, set by the gateway */
};

struct sim_bgp_network {
    struct sim_obj obj;
    struct sim_device *router;
    struct sim_prefix prefix;
};

/* Learned MAC on a bridge, or ARP cache entry on a router port. */
struct sim_mac_entry {
    uint8_t mac[6];
    struct sim_port *port;
    uint64_t expires_ns;
};

/* Routers and bridges. */
struct sim_device {
    struct sim_obj obj;            /* obj.type is SIM_RES_ROUTER or SIM_RES_BRIDGE */
    char tenant[SIM_NAME_MAX];
    bool admin_up;
    struct sim_chain *inbound_filter, *outbound_filter;  /* router: pre/post-routing */
    uint64_t zone;                 /* stable 64-bit id for conntrack/NAT (from the UUID) */
    struct sim_port **ports;
    uint32_t n_ports, cap_ports;
    /* router */
    struct lpm *routes_lpm;        /* dst prefix -> index into route_groups */
    struct sim_route **route_groups; /* head of each dst-prefix chain; NULL = free slot */
    uint32_t n_route_groups, cap_route_groups;
    uint32_t *free_groups;         /* free slots of route_groups, reused first */
    uint32_t n_free_groups;        /* capacity is cap_route_groups */
    struct sim_floating_ip **fips;
    uint32_t n_fips, cap_fips;
    struct sim_route *implicit;    /* unused (NULL): implicit routes live in */
                                   /* sim_port.connected and sim_floating_ip.route */
    uint32_t n_implicit;           /* implicit routes in this router's table */
};

/* The whole topology: every resource by type, with id and name indexes. */
struct sim_topo {
    struct sim_obj **objs[SIM_RES_COUNT];
    uint32_t n_objs[SIM_RES_COUNT], cap_objs[SIM_RES_COUNT];
    uint64_t revision;
    /* indexes are private to topo*.c; reached through these functions: */
    void *index;
};

struct sim_obj *sim_topo_find(const struct sim_topo *t, enum sim_res_type type, const struct sim_id *id);
/* The engine's view: fill a resource's struct from its document, release
 * what a bind allocated, and rebuild what spans resources (device and host
 * port lists, chain rule order, router route groups with implicit routes,
 * the floating IPs each tenant router applies). topo.c binds on every
 * change and rebuilds after a whole-document load; a single change
 * updates only the lists it touches (sim/topo_derive.c). */
void topo_bind(struct sim_topo *t, struct sim_obj *o);
void topo_unbind(struct sim_obj *o);
int topo_rebuild(struct sim_topo *t);
struct sim_obj *sim_topo_find_ref(const struct sim_topo *t, enum sim_res_type type, const char *id_or_name);
struct sim_port *sim_topo_port_by_tunnel_key(const struct sim_topo *t, uint32_t key);
/* The exterior port of a host with that interface name, or NULL (the
 * agent binding a tap). All of a host's exterior ports are host->ports. */
struct sim_port *sim_topo_port_by_interface(const struct sim_host *host, const char *interface);
/* The route group for (dst, src) on a router: the head of the chain of
 * routes with the longest dst prefix holding dst among those where some
 * route's src prefix holds src (a group none of whose routes accepts src
 * falls back to the next shorter prefix). Walk it with next_same_dst,
 * skipping routes whose src does not match: lowest weight first, then the
 * equal-weight run (ECMP). NULL: no route. *matched (may be NULL) gets the
 * group's dst prefix, for the SIM_TAG_ROUTER_TABLE tag. */
const struct sim_route *sim_route_lookup(const struct sim_device *router, uint32_t dst, uint32_t src,
                                         struct sim_prefix *matched);

/* Learned, per-simulation-node state: MAC tables, ARP caches, NAT. */
struct sim_state {
    struct nat_tables *nat;
    void *macs;                    /* private to bridge.c */
    void *arps;                    /* private to router.c */
    uint64_t now_ns;
    uint32_t mac_ageing_s, arp_ageing_s;
    /* Engine (sim.c): indexes derived from the topology (static MACs,
     * addresses, neighbors), rebuilt when the topology or its revision
     * changes; whether 'nat' was created by sim_state_create (and is
     * destroyed with the state). */
    void *view;
    bool nat_owned;
    /* The host this state simulates for (sim_state_set_local_host); zero:
     * every host's uplinks are resolved here (traces, tests). */
    struct sim_id local_host;
};

#endif
