/*
 * gateway/gw_conf.c: the gateway's settings: the agent's table, then its own.
 */
#include "gateway/gateway.h"
#include "lib/conf.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(f) offsetof(struct gateway_settings, f), sizeof(((struct gateway_settings *)0)->f)
#define I(f) offsetof(struct gateway_settings, f), 0
static const struct conf_item own_items[] = {
    {"bgp.bird", CONF_STRING, S(bird_path), 0, 0, NULL, "/usr/sbin/bird", false, "the BIRD 2 daemon to run"},
    {"bgp.dir", CONF_STRING, S(bird_dir), 0, 0, NULL, "/run/rampart/bird", false,
     "BIRD's directory: config, control socket, pid and log"},
    {"bgp.router_id", CONF_IPV4, I(router_id), 0, 0, NULL, "0.0.0.0", false,
     "BGP router id (0.0.0.0: the first uplink's kernel address); set it, two gateways must differ"},
    {"bgp.local_asn", CONF_INT, I(local_asn), 1, 4294967295LL, NULL, "64512", true,
     "local AS number for peers whose bgp_peers resource gives none"},
    {"bgp.kernel_table", CONF_INT, I(kernel_table), 1, 4294967295LL, NULL, "100", false,
     "kernel routing table BIRD exports learned routes into (not main, 254)"},
    {"bgp.bfd_interval_ms", CONF_INT, I(bfd_interval_ms), 10, 10000, NULL, "100", true, "BFD interval"},
    {"bgp.bfd_multiplier", CONF_INT, I(bfd_multiplier), 1, 255, NULL, "3", true, "BFD detection multiplier"},
    {"gateway.report_interval", CONF_INT, I(report_interval_s), 1, 300, NULL, "2", true,
     "seconds between reports to the API"},
    {"gateway.max_routes", CONF_INT, I(max_routes), 1, 16000000, NULL, "2000000", false,
     "learned routes kept (more are refused and counted)"},
};
#undef S
#undef I

static struct conf_item *all_items(size_t *n)
{
    size_t na;
    const struct conf_item *agent = agent_conf_items(&na);
    size_t no = sizeof(own_items) / sizeof(own_items[0]);
    struct conf_item *all = calloc(na + no, sizeof(*all));

    if (!all)
        return NULL;
    /* struct agent_settings sits at offset 0 of struct gateway_settings. */
    memcpy(all, agent, na * sizeof(*all));
    memcpy(all + na, own_items, no * sizeof(*all));
    *n = na + no;
    return all;
}

int gateway_settings_load(const char *path, struct gateway_settings *s, char err[256])
{
    char e[CONF_ERR_MAX];
    size_t n;
    struct conf_item *items = all_items(&n);
    int rc;

    if (!items) {
        snprintf(err, 256, "out of memory");
        return -ENOMEM;
    }
    rc = conf_load(items, n, path, s, sizeof(*s), e);
    free(items);
    if (rc < 0) {
        snprintf(err, 256, "%s", e);
        return rc;
    }
    if (!s->agent.host[0]) {
        snprintf(err, 256, "host: must name this host");
        return -EINVAL;
    }
    if (!s->agent.topology[0]) {
        snprintf(err, 256, "topology: must name the topology document");
        return -EINVAL;
    }
    if (s->kernel_table == 254 || s->kernel_table == 255 || s->kernel_table == 253) {
        snprintf(err, 256, "bgp.kernel_table: %lld is a table the kernel uses itself (main, local, default)",
                 (long long)s->kernel_table);
        return -EINVAL;
    }
    if (s->router_id == 0xffffffffu) {
        snprintf(err, 256, "bgp.router_id: 255.255.255.255 is not a router id");
        return -EINVAL;
    }
    return 0;
}
