/*
 * sim/icmp.c: the packets the topology makes itself: ARP replies and
 * requests, ICMP echo replies and ICMP errors.
 *
 * An ICMP error quotes the offending packet's header fields (addresses,
 * protocol, ports or echo identifier) in sim_pkt.embedded, which is what
 * NAT needs to translate the error back (RFC 5508). Errors are never sent
 * about ICMP errors, later fragments or broadcasts (RFC 1122 3.2.2).
 */
#include "sim/engine.h"

#include <string.h>

bool icmp_is_error(const struct sim_pkt *p)
{
    if (p->eth_type != SIM_ETH_IP || p->proto != SIM_PROTO_ICMP)
        return false;
    switch (p->icmp_type) {
    case 3:    /* destination unreachable */
    case 4:    /* source quench */
    case 5:    /* redirect */
    case 11:   /* time exceeded */
    case 12:   /* parameter problem */
        return true;
    default:
        return false;
    }
}

bool icmp_is_echo(const struct sim_pkt *p)
{
    return p->eth_type == SIM_ETH_IP && p->proto == SIM_PROTO_ICMP && (p->icmp_type == 8 || p->icmp_type == 0);
}

bool icmp_has_ports(const struct sim_pkt *p)
{
    return p->proto == SIM_PROTO_TCP || p->proto == SIM_PROTO_UDP || p->proto == SIM_PROTO_SCTP;
}

bool icmp_error_allowed(const struct sim_pkt *p)
{
    if (p->eth_type != SIM_ETH_IP || icmp_is_error(p) || p->fragment == SIM_PKT_FRAG_LATER)
        return false;
    if (eng_mac_is_multicast(p->eth_dst) || p->ip_dst == 0xffffffffu || (p->ip_dst >> 28) == 0xe)
        return false;
    return p->ip_src != 0 && (p->ip_src >> 28) != 0xe;
}

static void eth_header(struct sim_pkt *out, const uint8_t src[6], const uint8_t dst[6], uint16_t type)
{
    memcpy(out->eth_src, src, 6);
    memcpy(out->eth_dst, dst, 6);
    out->eth_type = type;
}

void icmp_build_error(struct sim_pkt *out, const struct sim_pkt *cause, const struct sim_port *from, uint8_t type,
                      uint8_t code)
{
    memset(out, 0, sizeof(*out));
    eth_header(out, from->mac, cause->eth_src, SIM_ETH_IP);
    out->vlan = cause->vlan;
    out->ip_src = from->addr;
    out->ip_dst = cause->ip_src;
    out->proto = SIM_PROTO_ICMP;
    out->ttl = SIM_GEN_TTL;
    out->tos = cause->tos;
    out->icmp_type = type;
    out->icmp_code = code;
    out->has_embedded = true;
    out->embedded.ip_src = cause->ip_src;
    out->embedded.ip_dst = cause->ip_dst;
    out->embedded.proto = cause->proto;
    if (icmp_has_ports(cause)) {
        out->embedded.src_port = cause->src_port;
        out->embedded.dst_port = cause->dst_port;
    } else if (icmp_is_echo(cause)) {
        out->embedded.icmp_id = cause->icmp_id;
    }
}

void icmp_build_echo_reply(struct sim_pkt *out, const struct sim_pkt *req, const uint8_t src_mac[6])
{
    *out = *req;
    eth_header(out, src_mac, req->eth_src, SIM_ETH_IP);
    out->ip_src = req->ip_dst;
    out->ip_dst = req->ip_src;
    out->ttl = SIM_GEN_TTL;
    out->icmp_type = 0;
    out->icmp_code = 0;
    out->fragment = SIM_PKT_FRAG_NONE;
    out->has_embedded = false;
}

void icmp_build_arp_reply(struct sim_pkt *out, const struct sim_pkt *req, const uint8_t mac[6], uint32_t addr)
{
    memset(out, 0, sizeof(*out));
    eth_header(out, mac, req->eth_src, SIM_ETH_ARP);
    if (eng_mac_is_zero(req->eth_src) || eng_mac_is_multicast(req->eth_src))
        memcpy(out->eth_dst, req->arp_sha, 6);
    out->vlan = req->vlan;
    out->arp_op = 2;
    memcpy(out->arp_sha, mac, 6);
    out->arp_spa = addr;
    memcpy(out->arp_tha, req->arp_sha, 6);
    out->arp_tpa = req->arp_spa;
}

void icmp_build_arp_request(struct sim_pkt *out, const struct sim_port *from, uint32_t target)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

    memset(out, 0, sizeof(*out));
    eth_header(out, from->mac, bcast, SIM_ETH_ARP);
    out->arp_op = 1;
    memcpy(out->arp_sha, from->mac, 6);
    out->arp_spa = from->addr;
    out->arp_tpa = target;
}
