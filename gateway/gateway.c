/*
 * gateway/gateway.c: the forwarding thread's side of the gateway: uplinks
 * (what goes to the kernel, what to the datapath), the egress routing of
 * every frame leaving an uplink by the learned routes and the neighbours,
 * the topology turned into the BGP configuration the control thread
 * applies (gw_control.c), and the snapshot it reports.
 */
#include "gateway/gateway.h"
#include "gateway/gw_ctl.h"
#include "gateway/gw_impl.h"
#include "datapath/dp_io.h"
#include "lib/log.h"
#include "lib/packet.h"
#include "sim/sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <jansson.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define GW_MAX_UPLINKS 256                 /* indexed by the agent's local port number */
#define TAG_ROUTES 1
#define TAG_NEIGH 2
#define FEED_BATCH 1024                    /* netlink messages per turn (a few ms): forwarding goes on during a full table */
#define NEIGH_AGE_NS (300ull * 1000000000ull)

struct gw_uplink {
    bool used;
    struct sim_port_info info;
    uint32_t ifindex;
    uint8_t nic_mac[6], port_mac[6];
    bool has_port_mac;
    rp_be32 kaddr[DP_IO_MAX_KERNEL_IPV4];  /* the NIC's kernel addresses, network order */
    unsigned n_kaddr;
    uint32_t subnet, mask;                 /* of the first kernel address, host order */
};

struct gw_counters {
    uint64_t to_kernel;                    /* frames left to the kernel (its addresses, ARP for them) */
    uint64_t not_ipv4;                     /* IPv6 and other frames an uplink's datapath does not take */
    uint64_t egress_learned, egress_static, egress_as_sent;
    uint64_t drop_blackhole, drop_unreachable, drop_no_route, drop_unresolved;
    uint64_t arp_requests;
};

struct gateway {
    struct gateway_settings cfg;
    struct agent *agent;
    struct gw_uplink up[GW_MAX_UPLINKS];
    struct gw_routes *routes;
    struct bgp_route_feed *feed;
    struct gw_neigh *neigh;
    struct gw_ctl *ctl;
    struct gw_counters c;
    uint64_t now_ns;
    uint64_t rev_seen, next_config, next_snapshot, next_neigh_age;
    bool config_dirty;
};

/* --- uplinks ------------------------------------------------------------------------------ */

static bool is_uplink(const struct gateway *g, const struct sim_port_info *info, json_t **port_out)
{
    json_t *p = sim_topo_get(agent_topology(g->agent), SIM_RES_PORT, &info->id);
    const char *dev = json_string_value(json_object_get(p, "device"));
    struct sim_id id;
    json_t *r = NULL;

    if (dev && sim_id_parse(dev, &id) == 0)
        r = sim_topo_get(agent_topology(g->agent), SIM_RES_ROUTER, &id);
    if (!r) {
        json_decref(p);
        return false;
    }
    json_decref(r);
    *port_out = p;
    return true;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];

    if (!s || sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

static void read_nic(struct gw_uplink *u, const char *ifname)
{
    struct ifaddrs *ifa, *i;
    struct ifreq ifr = {0};
    int fd;

    u->ifindex = if_nametoindex(ifname);
    u->n_kaddr = 0;
    if (strlen(ifname) >= sizeof(ifr.ifr_name))
        return;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    memcpy(ifr.ifr_name, ifname, strlen(ifname) + 1);
    if (fd >= 0 && ioctl(fd, SIOCGIFHWADDR, &ifr) == 0)
        memcpy(u->nic_mac, ifr.ifr_hwaddr.sa_data, 6);
    if (fd >= 0) {
        /* The datapath reads frames through a tap, after GRO: a merged
         * super-frame is no frame the wire carried (and too big for a
         * packet buffer). The kernel's own traffic loses nothing by it. */
        struct ethtool_value ev = {.cmd = ETHTOOL_SGRO, .data = 0};
        ifr.ifr_data = (char *)&ev;
        if (ioctl(fd, SIOCETHTOOL, &ifr) < 0 && errno != EOPNOTSUPP)
            log_msg(LOGL_WARN, "uplink %s: cannot turn GRO off (%s): large frames will be dropped", ifname,
                    strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    u->n_kaddr = 0;
    if (getifaddrs(&ifa) < 0)
        return;
    for (i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || strcmp(i->ifa_name, ifname) ||
            u->n_kaddr == DP_IO_MAX_KERNEL_IPV4)
            continue;
        u->kaddr[u->n_kaddr] = ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr;
        if (u->n_kaddr++ == 0 && i->ifa_netmask) {
            u->mask = ntohl(((struct sockaddr_in *)(void *)i->ifa_netmask)->sin_addr.s_addr);
            u->subnet = ntohl(u->kaddr[0]) & u->mask;
        }
    }
    freeifaddrs(ifa);
}

static void gw_attach(void *ctx, struct agent *a)
{
    ((struct gateway *)ctx)->agent = a;
}

static bool gw_port_setup(void *ctx, const struct sim_port_info *info, struct dp_io_config *c)
{
    struct gateway *g = ctx;
    struct gw_uplink *u;
    json_t *port = NULL;

    if (c->port_no >= GW_MAX_UPLINKS || !is_uplink(g, info, &port))
        return false;
    u = &g->up[c->port_no];
    memset(u, 0, sizeof(*u));
    u->info = *info;
    u->has_port_mac = parse_mac(json_string_value(json_object_get(port, "mac")), u->port_mac) == 0;
    json_decref(port);
    read_nic(u, info->interface);
    if (!u->n_kaddr)
        log_msg(LOGL_WARN, "uplink %s: %s has no IPv4 address: BGP has nothing to speak from", info->name,
                info->interface);
    c->kernel_ipv4 = u->kaddr;
    c->n_kernel_ipv4 = u->n_kaddr;
    c->kernel_ipv6_local = true;
    return true;
}

static void gw_port_changed(void *ctx, uint32_t port_no, const struct sim_port_info *info)
{
    struct gateway *g = ctx;

    if (port_no >= GW_MAX_UPLINKS)
        return;
    g->up[port_no].used = info != NULL;
    if (!info)
        memset(&g->up[port_no], 0, sizeof(g->up[port_no]));
    g->config_dirty = true;   /* the router id and the peers follow the uplinks */
}

static bool is_kernel_addr(const struct gw_uplink *u, rp_be32 a)
{
    for (unsigned i = 0; i < u->n_kaddr; i++)
        if (u->kaddr[i] == a)
            return true;
    return false;
}

/* Ingress on an uplink: the kernel's frames are the kernel's (it received
 * them too, through the ingress filter or XDP_PASS); ARP teaches the
 * neighbour table; frames for the NIC's MAC are for the router port. */
static unsigned gw_rx(void *ctx, uint32_t port_no, struct pkt_buf **bufs, unsigned n)
{
    struct gateway *g = ctx;
    struct gw_uplink *u = &g->up[port_no];
    struct pkt_pool *pool = agent_pool(g->agent);
    unsigned keep = 0;

    for (unsigned i = 0; i < n; i++) {
        struct pkt_buf *b = bufs[i];
        uint8_t *f = b->data;
        uint16_t type;
        bool take = true;

        if (b->len < sizeof(struct eth_hdr)) {
            bufs[keep++] = b;   /* the parser counts it as malformed */
            continue;
        }
        type = (uint16_t)(f[12] << 8 | f[13]);
        if (type == 0x0806 && b->len >= sizeof(struct eth_hdr) + sizeof(struct arp_hdr)) {
            const struct arp_hdr *arp = (const struct arp_hdr *)(f + sizeof(struct eth_hdr));
            if (arp->spa)
                gw_neigh_glean(g->neigh, u->ifindex, ntohl(arp->spa), arp->sha, g->now_ns);
            if (ntohs(arp->op) == 1 && is_kernel_addr(u, arp->tpa))
                take = false;   /* the kernel answers for its own address */
        } else if (type == 0x0800 && b->len >= sizeof(struct eth_hdr) + sizeof(struct ipv4_hdr)) {
            const struct ipv4_hdr *ip = (const struct ipv4_hdr *)(f + sizeof(struct eth_hdr));
            take = !is_kernel_addr(u, ip->dst);
        } else if (type != 0x0806 && type != 0x0800) {
            take = false;
            g->c.not_ipv4++;
            pkt_pool_put(pool, b);
            continue;
        }
        if (!take) {
            g->c.to_kernel++;
            pkt_pool_put(pool, b);
            continue;
        }
        if (u->has_port_mac && !memcmp(f, u->nic_mac, 6))
            memcpy(f, u->port_mac, 6);
        bufs[keep++] = b;
    }
    return keep;
}

static uint32_t flow_hash(const uint8_t *f, uint16_t len)
{
    const struct ipv4_hdr *ip = (const struct ipv4_hdr *)(f + sizeof(struct eth_hdr));
    uint64_t h = (uint64_t)ip->src << 32 ^ ip->dst ^ (uint64_t)ip->proto << 40;
    unsigned ihl = (ip->ver_ihl & 15u) * 4u;

    if ((ip->proto == 6 || ip->proto == 17) && !(ntohs(ip->frag_off) & 0x1fff) &&
        len >= sizeof(struct eth_hdr) + ihl + 4) {
        const uint8_t *l4 = f + sizeof(struct eth_hdr) + ihl;
        h ^= (uint64_t)((uint32_t)l4[0] << 24 | (uint32_t)l4[1] << 16 | (uint32_t)l4[2] << 8 | l4[3]) << 8;
    }
    h *= 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 32);
}

static struct gw_uplink *uplink_by_ifindex(struct gateway *g, uint32_t ifindex, uint32_t *port_no)
{
    for (uint32_t i = 0; i < GW_MAX_UPLINKS; i++)
        if (g->up[i].used && g->up[i].ifindex == ifindex) {
            *port_no = i;
            return &g->up[i];
        }
    return NULL;
}

static void send_arp_request(struct gateway *g, uint32_t port_no, const struct gw_uplink *u, uint32_t nh)
{
    struct pkt_pool *pool = agent_pool(g->agent);
    struct dp_port_io *io = agent_port_io(g->agent, port_no);
    struct pkt_buf *b;

    if (!io || !u->n_kaddr || !(b = pkt_pool_get(pool)))
        return;
    b->data = b->room + PKT_HEADROOM;
    b->len = (uint16_t)gw_arp_request(b->data, u->nic_mac, ntohl(u->kaddr[0]), nh);
    dp_io_tx_burst(io, &b, 1);
    pkt_pool_put(pool, b);
    g->c.arp_requests++;
}

/* Egress on an uplink: a learned route decides the next hop (and the
 * uplink, when several share this gateway); a frame another host routed
 * here without knowing the next hop's MAC takes it from the static route;
 * the MAC comes from the neighbour table. */
static unsigned gw_tx(void *ctx, uint32_t port_no, struct pkt_buf **bufs, unsigned n)
{
    static const uint8_t zero[6];
    struct gateway *g = ctx;
    struct gw_uplink *u = &g->up[port_no];
    unsigned keep = 0;

    for (unsigned i = 0; i < n; i++) {
        struct pkt_buf *b = bufs[i];
        uint8_t *f = b->data, mac[6];
        struct gw_uplink *out = u;
        uint32_t out_no = port_no, nh = 0;
        enum gw_route_kind kind;
        struct gw_nexthop hop;

        if (b->len < sizeof(struct eth_hdr) + sizeof(struct ipv4_hdr) || f[12] != 0x08 || f[13] != 0x00) {
            bufs[keep++] = b;   /* ARP the simulation generated, as it made it */
            continue;
        }
        const struct ipv4_hdr *ip = (const struct ipv4_hdr *)(f + sizeof(struct eth_hdr));
        uint32_t dst = ntohl(ip->dst);
        if (gw_routes_lookup(g->routes, dst, flow_hash(f, b->len), &kind, &hop) == 0) {
            if (kind == GW_ROUTE_BLACKHOLE || kind == GW_ROUTE_UNREACHABLE) {
                if (kind == GW_ROUTE_BLACKHOLE)
                    g->c.drop_blackhole++;
                else
                    g->c.drop_unreachable++;
                continue;
            }
            nh = hop.gateway ? hop.gateway : dst;
            if (hop.ifindex && hop.ifindex != u->ifindex) {
                uint32_t other;
                struct gw_uplink *o = uplink_by_ifindex(g, hop.ifindex, &other);
                if (o) {
                    out = o;
                    out_no = other;
                }
            }
            g->c.egress_learned++;
        } else if (!memcmp(f, zero, 6)) {
            if (sim_topo_uplink_next_hop(agent_topology(g->agent), &u->info.id, dst, ntohl(ip->src), &nh) < 0) {
                if (u->mask && (dst & u->mask) == u->subnet) {
                    nh = dst;
                } else {
                    g->c.drop_no_route++;
                    continue;
                }
            }
            g->c.egress_static++;
        } else {
            memcpy(f + 6, u->nic_mac, 6);
            g->c.egress_as_sent++;
            bufs[keep++] = b;
            continue;
        }
        if (!gw_neigh_lookup(g->neigh, out->ifindex, nh, mac)) {
            if (gw_neigh_want_request(g->neigh, out->ifindex, nh, g->now_ns))
                send_arp_request(g, out_no, out, nh);
            g->c.drop_unresolved++;
            continue;
        }
        memcpy(f, mac, 6);
        memcpy(f + 6, out->nic_mac, 6);
        if (out != u) {
            struct dp_port_io *io = agent_port_io(g->agent, out_no);
            if (io)
                dp_io_tx_burst(io, &b, 1);
            continue;
        }
        bufs[keep++] = b;
    }
    return keep;
}

/* --- the BGP configuration from the topology --------------------------------------------- */

static void ip_str(uint32_t ip, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

static bool in_set(json_t *set, const char *id)
{
    return id && json_object_get(set, id) != NULL;
}

/* The configuration BIRD should run, as a JSON object the control thread
 * owns once handed over (gw_ctl.h describes its fields). */
static json_t *desired_config(struct gateway *g)
{
    json_t *doc = sim_topo_export(agent_topology(g->agent));
    json_t *uplinks = json_object(), *routers = json_object(), *peers = json_array(), *prefixes = json_array();
    json_t *v, *out;
    char host_id[37], rid[16];
    struct sim_id hid;
    uint32_t router_id = g->cfg.router_id;
    size_t i;

    if (sim_topo_resolve(agent_topology(g->agent), SIM_RES_HOST, g->cfg.agent.host, &hid) == 0)
        sim_id_format(&hid, host_id);
    else
        host_id[0] = '\0';
    /* this host's uplinks: bound ones first (their kernel address is the router id by default) */
    for (uint32_t p = 0; p < GW_MAX_UPLINKS; p++) {
        if (!g->up[p].used)
            continue;
        char id[37];
        sim_id_format(&g->up[p].info.id, id);
        json_object_set_new(uplinks, id, json_true());
        if (!router_id && g->up[p].n_kaddr)
            router_id = ntohl(g->up[p].kaddr[0]);
    }
    json_array_foreach(json_object_get(doc, "ports"), i, v) {
        const char *h = json_string_value(json_object_get(v, "host"));
        const char *id = json_string_value(json_object_get(v, "id"));
        const char *dev = json_string_value(json_object_get(v, "device"));
        if (h && id && dev && host_id[0] && !strcmp(h, host_id) && json_object_get(v, "address")) {
            json_object_set_new(uplinks, id, json_true());
            json_object_set_new(routers, dev, json_true());
        }
    }
    if (!router_id)
        router_id = g->cfg.agent.tunnel_address;
    json_array_foreach(json_object_get(doc, "bgp_peers"), i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        if (!in_set(uplinks, json_string_value(json_object_get(v, "port"))) || !id)
            continue;
        char name[16] = "p";
        for (const char *s = id; *s && strlen(name) < 13; s++)
            if (*s != '-')
                strncat(name, s, 1);
        json_t *peer = json_object(), *f;
        json_object_set_new(peer, "id", json_string(id));
        json_object_set_new(peer, "name", json_string(name));
        json_object_set(peer, "address", json_object_get(v, "peer_address"));
        static const char *const copy[] = {"peer_asn", "local_asn", "hold_time", "keepalive", "bfd", "password"};
        for (size_t k = 0; k < sizeof(copy) / sizeof(copy[0]); k++)
            if ((f = json_object_get(v, copy[k])) && !json_is_null(f))
                json_object_set(peer, copy[k], f);
        if (peer)
            json_array_append_new(peers, peer);
    }
    json_array_foreach(json_object_get(doc, "bgp_networks"), i, v)
        if (in_set(routers, json_string_value(json_object_get(v, "router"))))
            json_array_append(prefixes, json_object_get(v, "prefix"));
    json_array_foreach(json_object_get(doc, "floating_ips"), i, v)
        if (in_set(routers, json_string_value(json_object_get(v, "router"))))
            json_array_append(prefixes, json_object_get(v, "address"));
    ip_str(router_id, rid);
    out = json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:o}", "router_id", rid, "local_asn",
                    (json_int_t)g->cfg.local_asn, "kernel_table", (json_int_t)g->cfg.kernel_table,
                    "bfd_interval_ms", (json_int_t)g->cfg.bfd_interval_ms, "bfd_multiplier",
                    (json_int_t)g->cfg.bfd_multiplier, "peers", peers, "prefixes", prefixes);
    json_decref(doc);
    json_decref(uplinks);
    json_decref(routers);
    return out;
}

/* What the forwarding side has to say in the report (and the stats file). */
static json_t *snapshot(struct gateway *g)
{
    struct gw_route_view views[64];
    struct gw_routes_stats rs;
    struct gw_neigh_stats ns;
    struct bgp_route_feed_stats fs;
    unsigned n = gw_routes_list(g->routes, views, 64);
    json_t *routes = json_array(), *uplinks = json_array(), *o;
    char ifname[IF_NAMESIZE], a[16];

    gw_routes_get_stats(g->routes, &rs);
    gw_neigh_get_stats(g->neigh, &ns);
    bgp_route_feed_get_stats(g->feed, &fs);
    for (unsigned i = 0; i < n; i++) {
        json_t *hops = json_array();
        char dst[24];
        ip_str(views[i].prefix, a);
        snprintf(dst, sizeof(dst), "%s/%u", a, views[i].len);
        for (unsigned k = 0; k < views[i].n_nexthops && k < 4; k++) {
            ip_str(views[i].nexthops[k].gateway, a);
            if (!views[i].nexthops[k].ifindex || !if_indextoname(views[i].nexthops[k].ifindex, ifname))
                ifname[0] = '\0';
            json_array_append_new(hops, json_pack("{s:s, s:s}", "gateway", a, "interface", ifname));
        }
        json_array_append_new(routes, json_pack("{s:s, s:s, s:o}", "dst", dst, "type",
                                                views[i].kind == GW_ROUTE_UNICAST     ? "unicast"
                                                : views[i].kind == GW_ROUTE_BLACKHOLE ? "blackhole"
                                                                                      : "unreachable",
                                                "next_hops", hops));
    }
    for (uint32_t p = 0; p < GW_MAX_UPLINKS; p++) {
        const struct gw_uplink *u = &g->up[p];
        struct dp_port_io *io = agent_port_io(g->agent, p);
        char id[37];
        if (!u->used)
            continue;
        json_t *ka = json_array();
        for (unsigned k = 0; k < u->n_kaddr; k++) {
            ip_str(ntohl(u->kaddr[k]), a);
            json_array_append_new(ka, json_string(a));
        }
        sim_id_format(&u->info.id, id);
        json_array_append_new(uplinks, json_pack("{s:s, s:s, s:s, s:o}", "port", id, "interface", u->info.interface,
                                                 "mode", io ? dp_io_mode(io) : "", "kernel_addresses", ka));
    }
    o = json_pack("{s:I, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
                  "learned_routes", (json_int_t)rs.routes, "routes", routes, "uplinks", uplinks, "counters",
                  "egress_learned", (json_int_t)g->c.egress_learned, "egress_static", (json_int_t)g->c.egress_static,
                  "egress_as_sent", (json_int_t)g->c.egress_as_sent, "drop_blackhole",
                  (json_int_t)g->c.drop_blackhole, "drop_unreachable", (json_int_t)g->c.drop_unreachable,
                  "drop_no_route", (json_int_t)g->c.drop_no_route, "drop_unresolved",
                  (json_int_t)g->c.drop_unresolved, "arp_requests", (json_int_t)g->c.arp_requests, "to_kernel",
                  (json_int_t)g->c.to_kernel, "route_refused", (json_int_t)rs.refused, "route_dumps",
                  (json_int_t)rs.dumps, "feed_overruns", (json_int_t)fs.overruns, "feed_malformed",
                  (json_int_t)fs.malformed, "neighbours", (json_int_t)ns.entries, "routes_bytes",
                  (json_int_t)rs.bytes);
    return o;
}

/* --- the forwarding thread's other duties ---------------------------------------------------- */

static void drain_feed(struct gateway *g)
{
    int rc = bgp_route_feed_process(g->feed, FEED_BATCH, gw_routes_feed_cb, g->routes);

    if (rc < 0) {
        char err[256];
        log_msg(LOGL_ERR, "route feed failed (%s): reopening it", strerror(-rc));
        agent_unwatch_fd(g->agent, bgp_route_feed_fd(g->feed));
        bgp_route_feed_close(g->feed);
        g->feed = NULL;
        if (bgp_route_feed_open((uint32_t)g->cfg.kernel_table, &g->feed, err, sizeof(err)) == 0) {
            agent_watch_fd(g->agent, bgp_route_feed_fd(g->feed), TAG_ROUTES);
            bgp_route_feed_dump(g->feed);
        } else {
            log_msg(LOGL_ERR, "route feed: %s", err);
        }
    }
}

static void gw_fd_ready(void *ctx, uint32_t tag)
{
    struct gateway *g = ctx;

    if (tag == TAG_ROUTES && g->feed)
        drain_feed(g);
    else if (tag == TAG_NEIGH)
        gw_neigh_process(g->neigh);
}

static void gw_tick(void *ctx, uint64_t now_ns)
{
    struct gateway *g = ctx;
    uint64_t rev = sim_topo_revision(agent_topology(g->agent));

    g->now_ns = now_ns;
    if (g->feed && bgp_route_feed_pending(g->feed))
        drain_feed(g);   /* a big table arrives over many turns, between bursts */
    if (rev != g->rev_seen) {
        g->rev_seen = rev;
        g->config_dirty = true;
    }
    if (g->config_dirty && now_ns >= g->next_config) {
        json_t *want = desired_config(g);
        if (want)
            gw_ctl_set_config(g->ctl, want);
        g->config_dirty = false;
        g->next_config = now_ns + 200000000ull;   /* at most five renderings a second */
    }
    if (now_ns >= g->next_snapshot) {
        json_t *o = snapshot(g);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;   /* text: it crosses to the control thread */
        json_decref(o);
        if (s)
            gw_ctl_set_snapshot(g->ctl, s);
        g->next_snapshot = now_ns + 1000000000ull;
    }
    if (now_ns >= g->next_neigh_age) {
        gw_neigh_expire(g->neigh, now_ns, NEIGH_AGE_NS);
        g->next_neigh_age = now_ns + 10000000000ull;
    }
}

static bool gw_busy(void *ctx)
{
    struct gateway *g = ctx;

    return g->feed && bgp_route_feed_pending(g->feed);
}

static void gw_stats(void *ctx, void *root)
{
    struct gateway *g = ctx;
    char *bgp = gw_ctl_status_text(g->ctl);
    json_t *o = snapshot(g);

    if (o && bgp)
        json_object_set_new(o, "bgp", json_loads(bgp, 0, NULL));
    if (o)
        json_object_set_new((json_t *)root, "gateway", o);
    free(bgp);
}

/* --- life ------------------------------------------------------------------------------------ */

int gateway_create(const struct gateway_settings *s, struct gateway **out, char *err, size_t errlen)
{
    struct gateway *g = calloc(1, sizeof(*g));
    struct agent_ext ext = {
        .attach = gw_attach,
        .port_setup = gw_port_setup,
        .port_changed = gw_port_changed,
        .rx = gw_rx,
        .tx = gw_tx,
        .fd_ready = gw_fd_ready,
        .tick = gw_tick,
        .busy = gw_busy,
        .stats = gw_stats,
    };
    int rc;

    *out = NULL;
    if (!g)
        return -ENOMEM;
    g->cfg = *s;
    ext.ctx = g;
    agent_block_signals(NULL);   /* before the control thread starts: it must not take them */
    if ((rc = gw_routes_create((uint32_t)s->max_routes, &g->routes)) < 0) {
        snprintf(err, errlen, "learned route table: %s", strerror(-rc));
        goto fail;
    }
    if ((rc = gw_neigh_open(65536, &g->neigh, err, errlen)) < 0)
        goto fail;
    if ((rc = bgp_route_feed_open((uint32_t)s->kernel_table, &g->feed, err, errlen)) < 0)
        goto fail;
    bgp_route_feed_dump(g->feed);
    if ((rc = gw_ctl_start(s, &g->ctl, err, errlen)) < 0)
        goto fail;
    /* The agent binds the uplinks through the hooks above. */
    if ((rc = agent_create_ext(&s->agent, &ext, &g->agent, err, errlen)) < 0) {
        g->agent = NULL;   /* attach saw it, agent_create_ext freed it */
        goto fail;
    }
    if ((rc = agent_watch_fd(g->agent, bgp_route_feed_fd(g->feed), TAG_ROUTES)) < 0 ||
        (rc = agent_watch_fd(g->agent, gw_neigh_fd(g->neigh), TAG_NEIGH)) < 0) {
        snprintf(err, errlen, "epoll: %s", strerror(-rc));
        goto fail;
    }
    g->rev_seen = ~0ull;
    *out = g;
    return 0;
fail:
    gateway_destroy(g);
    return rc < 0 ? rc : -EINVAL;
}

int gateway_run(struct gateway *g)
{
    return agent_run(g->agent);
}

void gateway_destroy(struct gateway *g)
{
    if (!g)
        return;
    gw_ctl_stop(g->ctl);   /* BIRD first: its routes are withdrawn while the uplinks still carry them */
    agent_destroy(g->agent);
    bgp_route_feed_close(g->feed);
    gw_neigh_close(g->neigh);
    gw_routes_destroy(g->routes);
    free(g);
}
