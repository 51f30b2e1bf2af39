/*
 * sim/sim.h: the virtual topology and the flow simulator.
 *
 * The first packet of every flow is simulated here, at the host where it
 * entered: it walks the virtual topology (bridges, routers, rule chains,
 * conntrack, NAT) from its ingress port until it leaves through an exterior
 * port, is dropped, or is answered by the topology itself. The answer is a
 * struct sim_result: what to do with the packet (and every later packet of
 * the flow), plus the tags of everything the answer depended on, so that a
 * topology or state change invalidates exactly the flows it touches.
 *
 * The topology is loaded from the export document of api-model.md and then
 * changed one resource at a time. sim/ is pure code: no I/O, no clocks (the
 * caller passes the time), no threads.
 */
#ifndef RP_SIM_H
#define RP_SIM_H

#include "lib/types.h"

#include <jansson.h>
#include <stdio.h>

struct sim_topo;
struct sim_state;
struct sim_port;
struct nat_tables;

/* A resource id: a UUID, 16 bytes. */
struct sim_id {
    uint8_t b[16];
};

/* Resource types, in the dependency order a document is loaded in. */
enum sim_res_type {
    SIM_RES_HOST, SIM_RES_CHAIN, SIM_RES_IP_GROUP, SIM_RES_ROUTER, SIM_RES_BRIDGE,
    SIM_RES_PORT, SIM_RES_PORT_GROUP, SIM_RES_RULE, SIM_RES_ROUTE, SIM_RES_NEIGHBOR,
    SIM_RES_FLOATING_IP, SIM_RES_BGP_PEER, SIM_RES_BGP_NETWORK,
    SIM_RES_COUNT
};

/* The document key of a type ("routers", "ports", ...) and back. */
const char *sim_res_type_key(enum sim_res_type t);
int sim_res_type_from_key(const char *key, enum sim_res_type *out);

int sim_id_parse(const char *s, struct sim_id *out);          /* 0 / -EINVAL */
void sim_id_format(const struct sim_id *id, char out[37]);
bool sim_id_is_zero(const struct sim_id *id);

/* --- topology ----------------------------------------------------------- */

/* Error detail for refused documents and changes. */
struct sim_error {
    char msg[256];        /* e.g. "ports[3] (web1): device: no router or bridge 'r9'" */
    char field[64];       /* the offending field, "" if none */
    enum sim_res_type type;
    int code;             /* -EINVAL bad input, -ENOENT unknown id, -EEXIST duplicate, -EBUSY still referenced */
};

int sim_topo_create(struct sim_topo **out);
void sim_topo_destroy(struct sim_topo *t);

/* Replace the whole topology with a document. On error nothing changes. */
int sim_topo_load(struct sim_topo *t, const json_t *doc, struct sim_error *err);
int sim_topo_load_file(struct sim_topo *t, const char *path, struct sim_error *err);

/* One resource at a time. 'obj' is the resource as JSON (refs by id or
 * name). put: add or replace (by id); patch: change only the given fields;
 * del: remove (refused with -EBUSY while referenced). On error nothing
 * changes. Every call bumps the revision and reports the tags of what it
 * touched (tags_out may be NULL). */
int sim_topo_put(struct sim_topo *t, enum sim_res_type type, const json_t *obj,
                 struct sim_id *id_out, struct sim_error *err);
int sim_topo_patch(struct sim_topo *t, enum sim_res_type type, const struct sim_id *id,
                   const json_t *fields, struct sim_error *err);
int sim_topo_del(struct sim_topo *t, enum sim_res_type type, const struct sim_id *id,
                 struct sim_error *err);

/* The whole topology as an export document, and one resource (ids for refs). */
json_t *sim_topo_export(const struct sim_topo *t);
json_t *sim_topo_get(const struct sim_topo *t, enum sim_res_type type, const struct sim_id *id);
uint64_t sim_topo_revision(const struct sim_topo *t);
/* An id or a name of a resource of 'type' to its id: 0 or -ENOENT. */
int sim_topo_resolve(const struct sim_topo *t, enum sim_res_type type, const char *ref, struct sim_id *out);

/* --- inventory: what a daemon binds and where it sends ---------------------- */

/* One port as a daemon sees it. */
struct sim_port_info {
    struct sim_id id, host;        /* host zero: not an exterior port */
    char name[64], interface[64];
    uint32_t tunnel_key;
    uint32_t host_tunnel_ip;       /* host order; 0 without a host */
};

int sim_topo_port_info(const struct sim_topo *t, const struct sim_id *port, struct sim_port_info *out);
/* The port whose tunnel key this is: 0 or -ENOENT. */
int sim_topo_port_by_key(const struct sim_topo *t, uint32_t tunnel_key, struct sim_port_info *out);
/* The exterior ports bound to a host, up to max; returns how many there are. */
unsigned sim_topo_host_ports(const struct sim_topo *t, const struct sim_id *host, struct sim_port_info *out,
                             unsigned max);
/* A host's tunnel IP (host order): 0 or -ENOENT. */
int sim_topo_host_tunnel_ip(const struct sim_topo *t, const struct sim_id *host, uint32_t *ip);
/* Every host's tunnel IP (host order, non-zero), up to max; returns how many there are. */
unsigned sim_topo_host_ips(const struct sim_topo *t, uint32_t *ips, unsigned max);
/* The tunnel IPs of the hosts of every port that shares a stateful port
 * group with 'port' (design.md: flow state goes there too, so a return
 * through another gateway of the group finds it), without duplicates, up to
 * max; returns how many were written. */
unsigned sim_topo_stateful_peers(const struct sim_topo *t, const struct sim_id *port, uint32_t *ips, unsigned max);
/* The router (or bridge) whose NAT zone this is (the zone its conntrack and
 * NAT state carries): 0 and *id, *type, or -ENOENT. A scan of the devices:
 * for control paths (an agent leasing SNAT port blocks for a zone). */
int sim_topo_device_by_zone(const struct sim_topo *t, uint64_t zone, enum sim_res_type *type, struct sim_id *id);

/* The next hop of a packet to dst (from src) leaving the uplink 'port' by
 * the router's static routes: among the routes of the longest matching
 * prefix, the one through that port; *nh = its next_hop_gateway, or dst
 * for a connected route. 0, or -ENOENT (no route through that port). For
 * the uplink's host, resolving frames other hosts routed there. */
int sim_topo_uplink_next_hop(const struct sim_topo *t, const struct sim_id *port, uint32_t dst, uint32_t src,
                             uint32_t *nh);

/* --- state -------------------------------------------------------------- */

/* Learned state: MAC tables, ARP caches (owned by the state) and the
 * conntrack/NAT tables. 'nat' is the caller's (it outlives the state and is
 * not freed with it); NULL makes the state create tables with nat/'s
 * default configuration and destroy them with it (the offline trace and
 * tests). A state follows one topology: when the topology's revision
 * changes, indexes are rebuilt and learned entries naming removed devices
 * or ports are dropped at the next simulation. 0 or -ENOMEM. */
int sim_state_create(struct sim_state **out, struct nat_tables *nat);
void sim_state_destroy(struct sim_state *s);
/* The host whose daemon simulates with this state. A router's exterior port
 * (an uplink) bound to another host has its next hops resolved by that
 * host (rampart-gateway: learned routes, the kernel's neighbours, its own
 * ARP): a packet routed there whose next-hop MAC is not known here leaves
 * with eth_dst 00:00:00:00:00:00 instead of waiting for an ARP reply that
 * would go to the other host. Unset (zero), every uplink is resolved here. */
void sim_state_set_local_host(struct sim_state *s, const struct sim_id *host);

/* --- packets and results ------------------------------------------------- */

enum sim_frag { SIM_PKT_FRAG_NONE, SIM_PKT_FRAG_FIRST, SIM_PKT_FRAG_LATER };

/* Header fields of a simulated packet, host byte order. */
struct sim_pkt {
    uint8_t eth_src[6], eth_dst[6];
    uint16_t eth_type;             /* 0x0800 IPv4, 0x0806 ARP, ... */
    uint16_t vlan;                 /* 0 = untagged */
    /* IPv4 */
    uint32_t ip_src, ip_dst;
    uint8_t proto, ttl, tos;
    uint8_t fragment;              /* enum sim_frag */
    uint16_t src_port, dst_port;   /* TCP/UDP */
    uint8_t tcp_flags;
    uint8_t icmp_type, icmp_code;
    uint16_t icmp_id;              /* echo request/reply identifier */
    bool has_embedded;             /* ICMP error quoting a packet */
    struct {
        uint32_t ip_src, ip_dst;
        uint8_t proto;
        uint16_t src_port, dst_port, icmp_id;
    } embedded;
    /* ARP */
    uint16_t arp_op;               /* 1 request, 2 reply */
    uint8_t arp_sha[6], arp_tha[6];
    uint32_t arp_spa, arp_tpa;
};

/* How the engine sums up all copies of a packet (floods make several):
 * REPLY / PENDING as soon as the topology generated an answer (an ARP or
 * echo reply, an ICMP error) or an ARP request, whatever became of other
 * copies; outputs then hold where the answer went (possibly none, if it was
 * dropped on its way; the hops say why). Otherwise FORWARD if any copy left
 * through an exterior port, CONSUME if a device took it (a router's own
 * address, an ARP reply), else DROP with the first copy's reason:
 *   "no such port", "admin down", "loop", "chain loop", "rule drop",
 *   "rule reject", "snat ports exhausted", "dnat ports exhausted",
 *   "nat table full", "nat error", "blackhole route", "reject route",
 *   "no route", "ttl exceeded",
 *   "port not bound", "hairpin", "not addressed to router", "not ip",
 *   "no ports" (the last three: a frame for another MAC reaching a router,
 *   a non-IPv4 non-ARP frame at a router, a flood with nowhere to go). */
enum sim_verdict { SIM_FORWARD, SIM_DROP, SIM_CONSUME, SIM_REPLY, SIM_PENDING };
const char *sim_verdict_name(enum sim_verdict v);   /* "forward", "drop", ... */

struct sim_output {
    const struct sim_port *port;   /* exterior egress port */
    struct sim_id port_id, host_id;/* host_id zero when the port has no host */
    uint32_t host_tunnel_ip;       /* host order */
    uint32_t tunnel_key;
    struct sim_pkt pkt;            /* the packet as it leaves */
};

/* Trace detail, filled only when sim_result.trace is set. */
struct sim_hop_rule {
    struct sim_id chain, rule;
    uint8_t action;                /* enum sim_rule_action in sim_impl.h */
};

struct sim_hop {
    struct sim_id device, in_port, out_port;   /* zero when absent */
    bool is_router;
    struct sim_hop_rule *rules;
    uint32_t n_rules, cap_rules;
    char note[160];
};

/* Tag kinds: the high byte of a tag. The rest is a hash of the id (and key). */
enum sim_tag_kind {
    SIM_TAG_DEVICE = 1, SIM_TAG_PORT, SIM_TAG_ROUTE, SIM_TAG_CHAIN, SIM_TAG_RULE,
    SIM_TAG_MAC, SIM_TAG_ARP, SIM_TAG_STATE, SIM_TAG_ROUTER_TABLE, SIM_TAG_GROUP,
};
uint64_t sim_tag(enum sim_tag_kind kind, const struct sim_id *id, uint64_t key);
/* The SIM_TAG_STATE tag of conntrack/NAT state, by a tuple (nat/nat.h)
 * naming it: a conntrack entry by its committed forward tuple, a NAT binding
 * by its original tuple and by its reply tuple. A result carries the tag of
 * every such tuple the simulation looked up, found or not; so when state is
 * created or expires, invalidate the tags of all its tuples. */
struct nat_tuple;
uint64_t sim_tag_state(const struct nat_tuple *t);

/* Result of one simulation. Arrays grow on demand and are reused across
 * calls (sim_result_reset), so steady-state simulation does not allocate. */
struct sim_result {
    enum sim_verdict verdict;
    const char *drop_reason;       /* static string, NULL unless SIM_DROP */
    struct sim_output *outputs;
    uint32_t n_outputs, cap_outputs;
    uint64_t *tags;
    uint32_t n_tags, cap_tags;
    struct nat_state_ref *new_state;   /* conntrack/NAT entries this packet created: push before sending */
    uint32_t n_new_state, cap_new_state;
    bool trace;                    /* set by the caller to collect hops */
    struct sim_hop *hops;
    uint32_t n_hops, cap_hops;
};

void sim_result_init(struct sim_result *r);
void sim_result_reset(struct sim_result *r);   /* keeps capacity and 'trace' */
void sim_result_free(struct sim_result *r);

/* Simulate one packet entering at 'in_port'. 0, or -ENOMEM; every other
 * outcome (drops included) is in the result. */
int sim_simulate(const struct sim_topo *t, struct sim_state *s, const struct sim_id *in_port,
                 const struct sim_pkt *pkt, uint64_t now_ns, struct sim_result *r);

/* --- trace (api-model.md "Trace") ---------------------------------------- */

/* Run a trace request {"in_port": ref, "packets": [...]} and build the
 * answer {"results": [...]}. 0, or -EINVAL with err filled (unknown port, bad
 * address, ...). */
int sim_trace_json(const struct sim_topo *t, struct sim_state *s, const json_t *request,
                   uint64_t now_ns, json_t **response, struct sim_error *err);

/* The readable hop-by-hop account of a trace answer, in the spirit of
 * ovn-trace. */
void sim_trace_print(const struct sim_topo *t, const json_t *request, const json_t *response,
                     FILE *out);

#endif
