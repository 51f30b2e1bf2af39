/*
 * gateway/gw_ctl.h: the gateway's control thread. Private to gateway/.
 *
 * It owns BIRD (bgp/bgp.h's supervisor) and the API client: the forwarding
 * thread hands it the configuration BIRD should run (a JSON object, built
 * from the topology whenever it changes) and, every second, a snapshot of
 * what forwarding knows (learned routes, uplinks, counters, as JSON text);
 * the control thread applies the one, asks BIRD for each peer's state, and
 * sends both to the API as the gateway's report. Nothing here touches the
 * datapath; a stuck BIRD or API delays only reports.
 *
 * The configuration object:
 *   {"router_id": "a.b.c.d", "local_asn": N, "kernel_table": N,
 *    "bfd_interval_ms": N, "bfd_multiplier": N,
 *    "peers": [{"id", "name", "address", "peer_asn", "local_asn", "hold_time",
 *               "keepalive", "bfd", "password"?}],
 *    "prefixes": ["a.b.c.d/n", "a.b.c.d", ...]}
 */
#ifndef RP_GATEWAY_GW_CTL_H
#define RP_GATEWAY_GW_CTL_H

#include "bgp/bgp.h"
#include "gateway/gateway.h"

#include <jansson.h>

struct gw_ctl;

/* Start the thread (BIRD starts once a first configuration is accepted). */
int gw_ctl_start(const struct gateway_settings *s, struct gw_ctl **out, char *err, size_t errlen);
/* Stop BIRD (bounded), withdraw the report, join the thread, free. NULL ok. */
void gw_ctl_stop(struct gw_ctl *c);
/* Both take ownership of what they are given. */
void gw_ctl_set_config(struct gw_ctl *c, json_t *want);
void gw_ctl_set_snapshot(struct gw_ctl *c, char *json_text);
/* BIRD's and the peers' state as JSON text (malloc'd), or NULL before the first poll. */
char *gw_ctl_status_text(struct gw_ctl *c);

/* The configuration object as a struct bgp_config: peers and prefixes are
 * malloc'd arrays (free them with gw_ctl_config_free); strings point into
 * 'want'. 0 or -EINVAL with err naming the field, -ENOMEM. */
int gw_ctl_config_from_json(const json_t *want, struct bgp_config *c, struct bgp_error *err);
void gw_ctl_config_free(struct bgp_config *c);

#endif
