/*
 * agent/agent_impl.h: the agent's state, shared by its files. Private.
 */
#ifndef RP_AGENT_AGENT_IMPL_H
#define RP_AGENT_AGENT_IMPL_H

#include "agent/agent.h"
#include "datapath/dp_actions.h"
#include "datapath/dp_flow.h"
#include "datapath/dp_io.h"
#include "lib/packet.h"
#include "nat/nat.h"
#include "sim/sim.h"
#include "tunnel/tunnel.h"

#include <jansson.h>

#define AGENT_MAX_PORTS 256             /* local port numbers 0..255 */
#define AGENT_TUNNEL_PORT AGENT_MAX_PORTS /* the executor's queue for VXLAN */
#define AGENT_BURST 32
#define AGENT_MAX_PEERS 1024
#define AGENT_TUNNEL_IN_PORT 0xfffffffeu /* flow key in_port of frames entering from a tunnel */
#define AGENT_KEY_SLOTS 1024            /* tunnel key -> local port, open addressing, half full at most */

struct agent_port {
    bool used;
    bool ext;                           /* the extension's (an uplink): its rx/tx hooks apply */
    struct sim_port_info info;
    struct dp_port_io *io;
};

struct agent_counters {
    uint64_t upcalls, upcall_drops, sim_errors, not_cached;
    uint64_t generated_sent, state_msgs_sent, state_records_sent, state_records_received, state_bad;
    uint64_t tunnel_unknown_key, tunnel_delivered, tunnel_ingress;
    uint64_t malformed[PKT_ERR_COUNT];
    uint64_t reloads, reload_errors;
    uint64_t feed_rev, feed_changes, feed_invalidated, feed_flushes;
    uint64_t parked, unparked, park_expired;
};

struct agent_feed;

/* A first packet dropped for want of SNAT ports while a block is being
 * leased: kept a moment and simulated again when the block comes, so a
 * connection's first packet is late instead of lost. */
#define AGENT_PARKED 32
#define AGENT_PARK_NS (500ull * 1000000ull)
struct agent_parked {
    struct pkt_buf *b;
    struct flow_key key;
    struct pkt_layout l;
    struct sim_id in_port;
    uint64_t deadline_ns;
};

struct agent {
    struct agent_settings cfg;
    struct agent_ext ext;               /* all NULL for rampart-agent */
    struct sim_topo *topo;
    struct sim_state *state;
    struct nat_tables *nat;
    struct sim_id host_id;
    uint32_t tunnel_ip;                 /* host order */
    struct pkt_pool *pool;
    struct agent_port ports[AGENT_MAX_PORTS];
    /* Tunnel key -> local port number + 1 (0: empty), rebuilt when ports
     * are bound or unbound: every frame from the tunnel is looked up. */
    uint32_t key_of[AGENT_KEY_SLOTS];
    uint16_t port_of[AGENT_KEY_SLOTS];
    struct tun *tun;
    struct dp_flow_cache *flows;
    struct dp_exec *exec;
    struct sim_result res;
    struct agent_counters c;
    struct agent_feed *feed;            /* NULL without api.url */
    struct agent_lease *lease;          /* SNAT blocks from the API; NULL without api.url */
    struct agent_parked parked[AGENT_PARKED];
    unsigned n_parked;
    int epfd, sigfd;
    uint64_t now_ns;
    uint32_t upcalls_this_turn;
    bool stop;
};

/* agent.c */
uint64_t agent_clock_ns(void);
int agent_port_by_key(const struct agent *a, uint32_t tunnel_key);   /* local port number or -1 */
void agent_ports_reindex(struct agent *a);

/* Replace the topology with a document (a snapshot from the API): 0, or
 * a negative errno with the previous topology kept. keep_flows: the caller
 * invalidates what changed; else the flow cache is flushed. */
int agent_use_document(struct agent *a, const json_t *doc, bool keep_flows);
/* Ports or hosts changed: rebind and refresh tunnel peers. */
void agent_topology_changed(struct agent *a);

/* agent_feed.c: the topology from the API's watch stream */
int agent_feed_start(struct agent *a, char *err, size_t errlen);
/* One blocking fetch of the whole topology (the first start, with no
 * cached copy): the document, or NULL with err. */
json_t *agent_feed_fetch(const struct agent_settings *cfg, char *err, size_t errlen);
void agent_feed_stop(struct agent *a);
int agent_feed_fd(const struct agent *a);
void agent_feed_drain(struct agent *a);
bool agent_feed_connected(const struct agent *a);
void agent_feed_resync(struct agent *a);   /* fetch the whole topology again */

/* --- agent_lease.c: SNAT port blocks leased through the API ------------------------
 * A nat/ block allocator (agent_lease_ops, ctx: the struct agent_lease)
 * that never blocks the forwarding thread: a thread of its own leases a
 * small reserve per (zone, address, range) ahead, renews every leased block
 * each third of its lease and releases what nat/ gives back. A demand
 * with no reserve gets -EADDRNOTAVAIL and makes the thread lease. */
struct agent_lease;

/* How the lease thread reaches the API (HTTP in the agent, fakes in tests).
 * router: the zone's device id; addr: dotted quad. lease: 0 and the block,
 * -EADDRNOTAVAIL (none free), other -errno. renew: 0, -ENOENT (not ours any
 * more), other -errno. release: 0, -ENOENT, other -errno. ttl_s out: the
 * lease's length in seconds (0: the default, 60). */
struct agent_lease_transport {
    int (*lease)(void *ctx, const char *router, const char *addr, uint16_t port_from, uint16_t port_to,
                 uint16_t *first, uint32_t *ttl_s);
    int (*renew)(void *ctx, const char *router, const char *addr, uint16_t first, uint32_t *ttl_s);
    int (*release)(void *ctx, const char *router, const char *addr, uint16_t first);
    void *ctx;
};

struct agent_lease_config {
    struct agent_lease_transport tr;
    /* The device id ("uuid") of a NAT zone, called on the forwarding
     * thread when a (zone, address) is first asked for: 0, or -ENOENT. */
    int (*zone_device)(void *ctx, uint64_t zone, char out[37]);
    void *zone_ctx;
    uint64_t (*clock_ns)(void);         /* NULL: agent_clock_ns */
    unsigned reserve;                   /* blocks kept ready per (zone, address, range); 0: 2 */
    bool start_thread;                  /* false: the caller drives agent_lease_work (tests) */
};

struct agent_lease_stats {
    uint64_t handed_out, misses;        /* lease() answered from the reserve / with nothing */
    uint64_t leased, renewed, released, lost, lapsed;
    uint64_t exhausted, api_errors;     /* lease requests answered 409 / failed otherwise */
    uint64_t unknown_zone, table_full;
    uint32_t reserve, held;             /* blocks now */
};

extern const struct nat_block_allocator_ops agent_lease_ops;
int agent_lease_create(struct agent_lease **out, const struct agent_lease_config *cfg);
/* Stops the thread, then releases every block still leased (at most ~3 s).
 * Destroy the nat tables using it first: they give their blocks back. */
void agent_lease_destroy(struct agent_lease *l);
/* Make every request due now, one at a time; returns how many. *next_ns
 * (may be NULL): when the next one falls due. The thread's loop. */
unsigned agent_lease_work(struct agent_lease *l, uint64_t *next_ns);
void agent_lease_get_stats(struct agent_lease *l, struct agent_lease_stats *out);
/* The zones that found no reserve and have had a block leased since, each
 * once (up to max); the forwarding thread re-simulates their flows. */
unsigned agent_lease_take_recovered(struct agent_lease *l, uint64_t *zones, unsigned max);
/* The agent's: with api.url, lease over HTTP, zones from a->topo; sets
 * nc->alloc_ops/alloc_ctx and a->lease. agent_lease_stop after the nat
 * tables are gone. */
int agent_lease_start(struct agent *a, struct nat_config *nc, char *err, size_t errlen);
void agent_lease_stop(struct agent *a);
/* Forwarding thread, every loop turn or so: invalidate the cached flows
 * (drops "snat ports exhausted") of zones whose blocks came since. */
void agent_lease_poll(struct agent *a);

/* Send frames to a bound local port (through the extension's tx hook for
 * its ports): how many were accepted. The caller keeps the buffers. */
unsigned agent_port_tx(struct agent *a, uint32_t port_no, struct pkt_buf **bufs, unsigned n);

/* agent_frame.c */
int agent_pkt_from_frame(const uint8_t *f, uint32_t len, const struct flow_key *k, const struct pkt_layout *l,
                         struct sim_pkt *p);
int agent_frame_generated(const uint8_t *f, uint32_t len, const struct pkt_layout *l, const struct sim_pkt *out,
                          uint8_t *buf, size_t cap);
int agent_frame_forwarded(const uint8_t *f, uint32_t len, const struct pkt_layout *l, const struct sim_pkt *out,
                          uint8_t *buf, size_t cap);

/* agent_path.c: the fast path and the upcall */
void agent_port_rx(struct agent *a, uint32_t port_no);
void agent_tunnel_rx(struct agent *a);
void agent_on_state(void *ctx, const struct tun_state_msg *msg);
void agent_flush(struct agent *a);
/* Simulate the parked packets again (a lease came), or drop them past
 * their deadline. */
void agent_unpark(struct agent *a, bool lease_came);

/* agent_stats.c */
int agent_write_stats(const struct agent *a);

#endif
