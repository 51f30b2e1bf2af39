/*
 * agent/agent_stats.c: the agent's counters as a JSON file, rewritten
 * atomically (write, then rename) so a reader never sees half of it.
 * Operators and tests read it; `kill -USR1` writes it at once.
 */
#include "agent/agent_impl.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static json_t *drops_json(const uint64_t *drops, unsigned n, const char *(*name)(unsigned))
{
    json_t *o = json_object();

    for (unsigned i = 1; i < n; i++)
        if (drops[i])
            json_object_set_new(o, name(i), json_integer((json_int_t)drops[i]));
    return o;
}

static const char *dp_name(unsigned i) { return dp_drop_name((enum dp_drop)i); }
static const char *tun_name(unsigned i) { return tun_drop_name((enum tun_drop)i); }
static const char *pkt_name(unsigned i) { return pkt_err_name((enum pkt_err)i); }

int agent_write_stats(const struct agent *a)
{
    json_t *root = json_object(), *ports = json_object(), *tun = json_object(), *fl = json_object();
    const struct dp_flow_stats *fs = dp_flow_cache_stats(a->flows);
    struct tun_stats ts;
    char tmp[600];
    int rc = 0;

    json_object_set_new(root, "host", json_string(a->cfg.host));
    json_object_set_new(root, "revision", json_integer((json_int_t)sim_topo_revision(a->topo)));
    for (uint32_t i = 0; i < AGENT_MAX_PORTS; i++) {
        const struct agent_port *p = &a->ports[i];
        struct dp_io_stats io;
        if (!p->used)
            continue;
        const struct dp_port_stats *ps = dp_exec_port_stats(a->exec, i);
        json_t *o = json_object();
        dp_io_stats(p->io, &io);
        json_object_set_new(o, "port", json_string(p->info.name));
        json_object_set_new(o, "tunnel_key", json_integer(p->info.tunnel_key));
        json_object_set_new(o, "mode", json_string(dp_io_mode(p->io)));
        json_object_set_new(o, "rx_packets", json_integer((json_int_t)io.rx_packets));
        json_object_set_new(o, "tx_packets", json_integer((json_int_t)io.tx_packets));
        json_object_set_new(o, "rx_bytes", json_integer((json_int_t)io.rx_bytes));
        json_object_set_new(o, "tx_bytes", json_integer((json_int_t)io.tx_bytes));
        json_t *d = ps ? drops_json(ps->drops, DP_DROP_COUNT, dp_name) : json_object();
        if (io.rx_drop_kernel)
            json_object_set_new(d, "rx_ring_full", json_integer((json_int_t)io.rx_drop_kernel));
        if (io.tx_drop_full)
            json_object_set_new(d, "tx_ring_full", json_integer((json_int_t)io.tx_drop_full));
        if (io.rx_drop_oversize + io.tx_drop_oversize)
            json_object_set_new(d, "oversize", json_integer((json_int_t)(io.rx_drop_oversize + io.tx_drop_oversize)));
        json_object_set_new(o, "drops", d);
        json_object_set_new(ports, p->info.interface, o);
    }
    json_object_set_new(root, "ports", ports);
    tun_stats(a->tun, &ts);
    json_object_set_new(tun, "rx_packets", json_integer((json_int_t)ts.rx_packets));
    json_object_set_new(tun, "tx_packets", json_integer((json_int_t)ts.tx_packets));
    json_object_set_new(tun, "rx_state", json_integer((json_int_t)ts.rx_state));
    json_object_set_new(tun, "tx_state", json_integer((json_int_t)ts.tx_state));
    json_object_set_new(tun, "delivered", json_integer((json_int_t)a->c.tunnel_delivered));
    json_object_set_new(tun, "ingress", json_integer((json_int_t)a->c.tunnel_ingress));
    json_object_set_new(tun, "unknown_key", json_integer((json_int_t)a->c.tunnel_unknown_key));
    json_object_set_new(tun, "drops", drops_json(ts.drops, TUN_DROP_COUNT, tun_name));
    json_object_set_new(root, "tunnel", tun);
    json_object_set_new(root, "flows", json_integer(dp_flow_count(a->flows)));
    json_object_set_new(fl, "hits", json_integer((json_int_t)fs->hits));
    json_object_set_new(fl, "misses", json_integer((json_int_t)fs->misses));
    json_object_set_new(fl, "invalidated", json_integer((json_int_t)fs->invalidated));
    json_object_set_new(fl, "refused_full", json_integer((json_int_t)fs->refused_full));
    json_object_set_new(root, "flow_cache", fl);
    json_object_set_new(root, "upcalls", json_integer((json_int_t)a->c.upcalls));
    json_object_set_new(root, "upcall_drops", json_integer((json_int_t)a->c.upcall_drops));
    json_object_set_new(root, "parked", json_integer((json_int_t)a->c.parked));
    json_object_set_new(root, "unparked", json_integer((json_int_t)a->c.unparked));
    json_object_set_new(root, "park_expired", json_integer((json_int_t)a->c.park_expired));
    json_object_set_new(root, "not_cached", json_integer((json_int_t)a->c.not_cached));
    json_object_set_new(root, "state_records_sent", json_integer((json_int_t)a->c.state_records_sent));
    json_object_set_new(root, "state_records_received", json_integer((json_int_t)a->c.state_records_received));
    json_object_set_new(root, "state_bad", json_integer((json_int_t)a->c.state_bad));
    json_object_set_new(root, "reloads", json_integer((json_int_t)a->c.reloads));
    json_object_set_new(root, "reload_errors", json_integer((json_int_t)a->c.reload_errors));
    if (a->cfg.api_url[0]) {
        json_t *api = json_object();
        json_object_set_new(api, "connected", json_boolean(agent_feed_connected(a)));
        json_object_set_new(api, "revision", json_integer((json_int_t)a->c.feed_rev));
        json_object_set_new(api, "changes", json_integer((json_int_t)a->c.feed_changes));
        json_object_set_new(api, "flows_invalidated", json_integer((json_int_t)a->c.feed_invalidated));
        json_object_set_new(api, "flushes", json_integer((json_int_t)a->c.feed_flushes));
        json_object_set_new(root, "api", api);
    }
    json_object_set_new(root, "malformed", drops_json(a->c.malformed, PKT_ERR_COUNT, pkt_name));
    if (a->ext.stats)
        a->ext.stats(a->ext.ctx, root);

    snprintf(tmp, sizeof(tmp), "%s.tmp", a->cfg.stats_file);
    if (json_dump_file(root, tmp, JSON_INDENT(1) | JSON_SORT_KEYS) < 0 || rename(tmp, a->cfg.stats_file) < 0)
        rc = -EIO;
    json_decref(root);
    return rc;
}
