/*
 * gateway/gateway.h: rampart-gateway, the border node.
 *
 * The gateway is the agent (agent/agent.h: ports, flow cache, simulator,
 * tunnels, the API's topology) plus what the border needs:
 *   - uplinks: a provider-router port bound to a NIC of this host. The NIC
 *     keeps its kernel addresses: frames for them (BGP, BFD, ARP) go to the
 *     kernel, every other frame to the datapath (AF_PACKET: an nftables
 *     ingress filter; AF_XDP: the XDP program passes them).
 *   - BIRD 2 as a supervised child (bgp/bgp.h), its configuration rendered
 *     from the topology: the bgp_peers on this host's uplinks, the
 *     bgp_networks and floating IPs of their routers. A refused
 *     configuration leaves the previous one running and is reported.
 *   - the routes BIRD learns, read from the kernel table it exports into
 *     (bgp/route_feed.h), and the next hops' MACs from the kernel's
 *     neighbour table and ARP on the uplinks: every frame leaving an uplink
 *     is routed by them at the last moment (docs/gateway.md says why there
 *     and not in the simulation of every host).
 *   - a report to the API every few seconds (PUT /v1/gateways/{host}):
 *     BIRD's state, each peer's session and BFD state, the learned routes,
 *     the uplinks; the API shows it in bgp_peers.state, /v1/status,
 *     /metrics and `rampartctl bgp`.
 * Two threads: the agent's forwarding thread owns the datapath, the
 * learned routes and the neighbours; a control thread drives BIRD and
 * talks to the API, so a slow BIRD or API never stalls forwarding.
 */
#ifndef RP_GATEWAY_GATEWAY_H
#define RP_GATEWAY_GATEWAY_H

#include "agent/agent.h"

#include <stdint.h>

struct gateway_settings {
    struct agent_settings agent;        /* first: the agent's settings table applies to it as is */
    char bird_path[256];
    char bird_dir[256];                 /* bird.conf, announce.conf, bird.ctl, bird.log */
    uint32_t router_id;                 /* host order; 0: the first uplink's kernel address */
    int64_t local_asn;                  /* for peers that give none */
    int64_t kernel_table;
    int64_t bfd_interval_ms, bfd_multiplier;
    int64_t report_interval_s;
    int64_t max_routes;
};

/* Read and check a config file: the agent's settings plus bgp.* and
 * gateway.*. 0, or -EINVAL with err naming the setting. */
int gateway_settings_load(const char *path, struct gateway_settings *s, char err[256]);

struct gateway;

int gateway_create(const struct gateway_settings *s, struct gateway **out, char *err, size_t errlen);
/* Run until SIGTERM/SIGINT (0) or a fatal error (<0). */
int gateway_run(struct gateway *g);
/* Stops BIRD (its routes are withdrawn), unbinds the uplinks, frees. */
void gateway_destroy(struct gateway *g);

#endif
