/*
 * sim/inventory.c: the topology as a daemon needs it to bind ports and
 * address tunnels: a host's exterior ports, tunnel keys and tunnel IPs,
 * and the hosts that must receive a flow's state. Copies out, so callers
 * never hold pointers into the topology across a reload.
 */
#include "sim/sim_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void fill(const struct sim_port *p, struct sim_port_info *out)
{
    memset(out, 0, sizeof(*out));
    out->id = p->obj.id;
    snprintf(out->name, sizeof(out->name), "%s", p->obj.name);
    snprintf(out->interface, sizeof(out->interface), "%s", p->interface);
    out->tunnel_key = p->tunnel_key;
    if (p->host) {
        out->host = p->host->obj.id;
        out->host_tunnel_ip = p->host->tunnel_ip;
    }
}

int sim_topo_port_info(const struct sim_topo *t, const struct sim_id *port, struct sim_port_info *out)
{
    const struct sim_obj *o = sim_topo_find(t, SIM_RES_PORT, port);

    if (!o)
        return -ENOENT;
    fill((const struct sim_port *)o, out);
    return 0;
}

int sim_topo_port_by_key(const struct sim_topo *t, uint32_t tunnel_key, struct sim_port_info *out)
{
    const struct sim_port *p = sim_topo_port_by_tunnel_key(t, tunnel_key);

    if (!p)
        return -ENOENT;
    fill(p, out);
    return 0;
}

unsigned sim_topo_host_ports(const struct sim_topo *t, const struct sim_id *host, struct sim_port_info *out,
                             unsigned max)
{
    const struct sim_host *h = (const struct sim_host *)sim_topo_find(t, SIM_RES_HOST, host);

    if (!h)
        return 0;
    for (uint32_t i = 0; i < h->n_ports && i < max; i++)
        fill(h->ports[i], &out[i]);
    return h->n_ports;
}

int sim_topo_host_tunnel_ip(const struct sim_topo *t, const struct sim_id *host, uint32_t *ip)
{
    const struct sim_host *h = (const struct sim_host *)sim_topo_find(t, SIM_RES_HOST, host);

    if (!h)
        return -ENOENT;
    *ip = h->tunnel_ip;
    return 0;
}

unsigned sim_topo_host_ips(const struct sim_topo *t, uint32_t *ips, unsigned max)
{
    unsigned n = 0;

    for (uint32_t i = 0; i < t->n_objs[SIM_RES_HOST]; i++) {
        const struct sim_host *h = (const struct sim_host *)t->objs[SIM_RES_HOST][i];
        if (!h->tunnel_ip)
            continue;
        if (n < max)
            ips[n] = h->tunnel_ip;
        n++;
    }
    return n;
}

static bool group_has(const struct sim_port_group *g, const struct sim_port *p)
{
    for (uint32_t i = 0; i < g->n_ports; i++)
        if (g->ports[i] == p)
            return true;
    return false;
}

unsigned sim_topo_stateful_peers(const struct sim_topo *t, const struct sim_id *port, uint32_t *ips, unsigned max)
{
    const struct sim_port *p = (const struct sim_port *)sim_topo_find(t, SIM_RES_PORT, port);
    unsigned n = 0;

    if (!p)
        return 0;
    for (uint32_t i = 0; i < t->n_objs[SIM_RES_PORT_GROUP]; i++) {
        const struct sim_port_group *g = (const struct sim_port_group *)t->objs[SIM_RES_PORT_GROUP][i];
        if (!g->stateful || !group_has(g, p))
            continue;
        for (uint32_t k = 0; k < g->n_ports; k++) {
            const struct sim_host *h = g->ports[k]->host;
            bool dup = false;
            if (!h || !h->tunnel_ip)
                continue;
            for (unsigned j = 0; j < n && !dup; j++)
                dup = ips[j] == h->tunnel_ip;
            if (!dup && n < max)
                ips[n++] = h->tunnel_ip;
        }
    }
    return n;
}

int sim_topo_device_by_zone(const struct sim_topo *t, uint64_t zone, enum sim_res_type *type, struct sim_id *id)
{
    static const enum sim_res_type kinds[] = {SIM_RES_ROUTER, SIM_RES_BRIDGE};

    for (unsigned k = 0; k < 2; k++)
        for (uint32_t i = 0; i < t->n_objs[kinds[k]]; i++) {
            const struct sim_device *d = (const struct sim_device *)t->objs[kinds[k]][i];
            if (d->zone != zone)
                continue;
            if (type)
                *type = kinds[k];
            if (id)
                *id = d->obj.id;
            return 0;
        }
    return -ENOENT;
}

int sim_topo_uplink_next_hop(const struct sim_topo *t, const struct sim_id *port, uint32_t dst, uint32_t src,
                             uint32_t *nh)
{
    const struct sim_port *p = (const struct sim_port *)sim_topo_find(t, SIM_RES_PORT, port);
    const struct sim_route *r;

    if (!p || !p->device || p->device->obj.type != SIM_RES_ROUTER)
        return -ENOENT;
    for (r = sim_route_lookup(p->device, dst, src, NULL); r; r = r->next_same_dst) {
        if (r->type != SIM_ROUTE_NORMAL || r->next_hop_port != p)
            continue;
        *nh = r->next_hop_gateway ? r->next_hop_gateway : dst;
        return 0;
    }
    return -ENOENT;
}
