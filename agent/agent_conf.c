/*
 * agent/agent_conf.c: the agent's settings, declared as a table (lib/conf.h).
 */
#include "agent/agent.h"
#include "lib/conf.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const char *const backends[] = {"afpacket", "xdp", NULL};
static const char *const levels[] = {"err", "warn", "info", "debug", NULL};

#define S(f) offsetof(struct agent_settings, f), sizeof(((struct agent_settings *)0)->f)
#define I(f) offsetof(struct agent_settings, f), 0
static const struct conf_item items[] = {
    {"host", CONF_STRING, S(host), 0, 0, NULL, NULL, false, "this host's name or id in the topology"},
    {"topology", CONF_STRING, S(topology), 0, 0, NULL, NULL, true, "the topology export document (JSON)"},
    {"api.url", CONF_STRING, S(api_url), 0, 0, NULL, "", false,
     "the API to take the topology from (http://host:port; empty: the topology file alone)"},
    {"api.token_file", CONF_STRING, S(api_token_file), 0, 0, NULL, "", false,
     "file holding the API's bearer token (empty: none)"},
    {"tunnel.address", CONF_IPV4, I(tunnel_address), 0, 0, NULL, "0.0.0.0", false,
     "local tunnel IP (0.0.0.0: the host's tunnel_ip in the topology)"},
    {"tunnel.port", CONF_INT, I(tunnel_port), 1, 65535, NULL, "4789", false, "VXLAN UDP port"},
    {"tunnel.state_vni", CONF_INT, I(state_vni), 1, 0xffffff, NULL, "16777215", false,
     "VNI reserved for flow-state messages"},
    {"datapath.backend", CONF_ENUM, I(backend), 0, 0, backends, "afpacket", false,
     "packet I/O for existing interfaces: afpacket or xdp"},
    {"datapath.busy_poll", CONF_BOOL, I(busy_poll), 0, 0, NULL, "false", false,
     "AF_XDP: busy-poll the sockets (SO_PREFER_BUSY_POLL); needs napi_defer_hard_irqs and gro_flush_timeout set on the NIC"},
    {"datapath.tap_prefix", CONF_STRING, S(tap_prefix), 0, 0, NULL, "tap", false,
     "interfaces named so are TAP devices the agent creates"},
    {"datapath.flows", CONF_INT, I(flows), 64, 1 << 24, NULL, "262144", false, "flow cache entries"},
    {"datapath.idle_timeout", CONF_INT, I(idle_timeout_s), 1, 86400, NULL, "30", false,
     "seconds an idle flow stays cached"},
    {"datapath.hard_timeout", CONF_INT, I(hard_timeout_s), 1, 86400, NULL, "10", false,
     "seconds before a flow is simulated again (keeps NAT state fresh)"},
    {"datapath.upcall_budget", CONF_INT, I(upcall_budget), 1, 100000, NULL, "64", true,
     "first packets simulated per loop turn; more are dropped and counted"},
    {"nat.entries", CONF_INT, I(nat_entries), 1024, 1 << 26, NULL, "262144", false,
     "conntrack entries and NAT bindings (each)"},
    {"stats_file", CONF_STRING, S(stats_file), 0, 0, NULL, "", true,
     "JSON counters rewritten every second (empty: none)"},
    {"log.level", CONF_ENUM, I(log_level), 0, 0, levels, "info", true, "err, warn, info or debug"},
    {"log.syslog", CONF_BOOL, I(log_syslog), 0, 0, NULL, "false", false, "log to syslog instead of stderr"},
};
#undef S
#undef I

const struct conf_item *agent_conf_items(size_t *n)
{
    *n = sizeof(items) / sizeof(items[0]);
    return items;
}

int agent_settings_load(const char *path, struct agent_settings *s, char err[256])
{
    char e[CONF_ERR_MAX];
    int rc = conf_load(items, sizeof(items) / sizeof(items[0]), path, s, sizeof(*s), e);

    if (rc < 0) {
        snprintf(err, 256, "%s", e);
        return rc;
    }
    if (!s->host[0]) {
        snprintf(err, 256, "host: must name this host");
        return -EINVAL;
    }
    if (!s->topology[0]) {
        snprintf(err, 256, "topology: must name the topology document");
        return -EINVAL;
    }
    return 0;
}
