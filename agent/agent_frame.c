/*
 * agent/agent_frame.c: frames to simulator packets and back, for the slow
 * path only (the first packet of a flow, answers the topology generates,
 * and the few results the fast path does not cache).
 *
 * A frame becomes a struct sim_pkt from lib/'s parse (flow key and layout),
 * which has already checked every length. Going back, a packet the
 * topology generated (ARP reply, echo reply, ICMP error) is built whole,
 * taking what it quotes or echoes from the frame that caused it; a packet
 * the topology forwarded is the original frame with its header fields set
 * to the output's and its checksums recomputed in full.
 */
#include "agent/agent_impl.h"
#include "lib/csum.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

int agent_pkt_from_frame(const uint8_t *f, uint32_t len, const struct flow_key *k, const struct pkt_layout *l,
                         struct sim_pkt *p)
{
    memset(p, 0, sizeof(*p));
    memcpy(p->eth_src, k->eth_src, 6);
    memcpy(p->eth_dst, k->eth_dst, 6);
    p->eth_type = ntohs(k->eth_type);
    if (k->flags & FLOW_F_VLAN0)
        p->vlan = ntohs(k->vlan_tci[0]) & 0x0fff;
    if (p->eth_type == ETH_TYPE_ARP) {
        p->arp_op = k->nw_proto;
        p->arp_spa = ntohl(k->nw.v4.src);
        p->arp_tpa = ntohl(k->nw.v4.dst);
        memcpy(p->arp_sha, k->nw.v4.arp_sha, 6);
        memcpy(p->arp_tha, k->nw.v4.arp_tha, 6);
        return 0;
    }
    if (p->eth_type != ETH_TYPE_IPV4)
        return 0;   /* the simulator drops what it cannot route ("not ip") or floods it on a bridge */
    p->ip_src = ntohl(k->nw.v4.src);
    p->ip_dst = ntohl(k->nw.v4.dst);
    p->proto = k->nw_proto;
    p->ttl = k->nw_ttl;
    p->tos = k->nw_tos;
    p->fragment = k->nw_frag;
    p->tcp_flags = l->tcp_flags;
    if (p->proto == IP_PROTO_TCP || p->proto == IP_PROTO_UDP) {
        p->src_port = ntohs(k->tp_src);
        p->dst_port = ntohs(k->tp_dst);
    } else if (p->proto == IP_PROTO_ICMP) {
        p->icmp_type = (uint8_t)(ntohs(k->tp_src) >> 8);
        p->icmp_code = (uint8_t)ntohs(k->tp_src);
        p->icmp_id = ntohs(k->tp_dst);
    }
    if ((k->flags & FLOW_F_ICMP_ERROR) && l->inner_l3_ofs && l->inner_l3_ofs + sizeof(struct ipv4_hdr) <= len) {
        const struct ipv4_hdr *ih = (const struct ipv4_hdr *)(f + l->inner_l3_ofs);
        p->has_embedded = true;
        p->embedded.ip_src = ntohl(ih->src);
        p->embedded.ip_dst = ntohl(ih->dst);
        p->embedded.proto = ih->proto;
        if (l->inner_l4_ofs && l->inner_l4_ofs + 8u <= len) {
            const uint8_t *il4 = f + l->inner_l4_ofs;
            if (ih->proto == IP_PROTO_ICMP) {
                p->embedded.icmp_id = (uint16_t)(il4[4] << 8 | il4[5]);
            } else {
                p->embedded.src_port = (uint16_t)(il4[0] << 8 | il4[1]);
                p->embedded.dst_port = (uint16_t)(il4[2] << 8 | il4[3]);
            }
        }
    }
    return 0;
}

/* The quoted packet of an ICMP error as its receiver must see it: the
 * first 28 bytes of the original IP packet with the embedded fields of the
 * output (the simulator translated them back through NAT). */
static int quote(const uint8_t *f, uint32_t len, const struct pkt_layout *l, const struct sim_pkt *out,
                 uint8_t q[64])
{
    uint32_t ihl, n;
    struct ipv4_hdr *ih;

    if (!l->l3_ofs || l->l3_ofs + sizeof(struct ipv4_hdr) > len)
        return -EINVAL;
    ihl = (uint32_t)(f[l->l3_ofs] & 0x0f) * 4;
    n = ihl + 8 <= 60 ? ihl + 8 : 60;
    if (l->l3_ofs + n > len)
        n = len - l->l3_ofs;
    memcpy(q, f + l->l3_ofs, n);
    ih = (struct ipv4_hdr *)q;
    ih->src = htonl(out->embedded.ip_src);
    ih->dst = htonl(out->embedded.ip_dst);
    ih->csum = 0;
    ih->csum = csum_ipv4_header(q, ihl <= n ? ihl : sizeof(*ih));
    if (n >= ihl + 4 && (ih->proto == IP_PROTO_TCP || ih->proto == IP_PROTO_UDP)) {
        rp_be16 sp = htons(out->embedded.src_port), dp = htons(out->embedded.dst_port);
        memcpy(q + ihl, &sp, 2);
        memcpy(q + ihl + 2, &dp, 2);
    } else if (n >= ihl + 6 && ih->proto == IP_PROTO_ICMP) {
        rp_be16 id = htons(out->embedded.icmp_id);
        memcpy(q + ihl + 4, &id, 2);
    }
    return (int)n;
}

static void spec_from_pkt(const struct sim_pkt *p, struct pkt_spec *s)
{
    memset(s, 0, sizeof(*s));
    memcpy(s->eth_src, p->eth_src, 6);
    memcpy(s->eth_dst, p->eth_dst, 6);
    if (p->vlan) {
        s->n_vlans = 1;
        s->vlan[0] = p->vlan;
    }
    s->ip_src = p->ip_src;
    s->ip_dst = p->ip_dst;
    s->proto = p->proto;
    s->ttl = p->ttl;
    s->tos = p->tos;
    s->sport = p->src_port;
    s->dport = p->dst_port;
    s->tcp_flags = p->tcp_flags;
    s->icmp_type = p->icmp_type;
    s->icmp_code = p->icmp_code;
    s->icmp_id = p->icmp_id;
}

int agent_frame_generated(const uint8_t *f, uint32_t len, const struct pkt_layout *l, const struct sim_pkt *out,
                          uint8_t *buf, size_t cap)
{
    struct pkt_spec s;
    uint8_t q[64];
    int n;

    if (out->eth_type == ETH_TYPE_ARP)
        return pkt_build_arp(buf, cap, out->eth_dst, out->eth_src, out->arp_op, out->arp_sha, out->arp_spa,
                             out->arp_tha, out->arp_tpa);
    if (out->eth_type != ETH_TYPE_IPV4 || out->proto != IP_PROTO_ICMP)
        return -EINVAL;
    spec_from_pkt(out, &s);
    if (out->has_embedded) {
        if ((n = quote(f, len, l, out, q)) < 0)
            return n;
        s.payload = q;
        s.payload_len = (uint16_t)n;
    } else if (l->l4_ofs && l->ip_proto == IP_PROTO_ICMP && l->l4_ofs + 8u <= len) {
        /* an echo reply carries the request's sequence number and data */
        const struct icmp_hdr *ic = (const struct icmp_hdr *)(f + l->l4_ofs);
        uint32_t end = l->l3_ofs + l->l3_len <= len ? l->l3_ofs + l->l3_len : len;
        s.icmp_seq = ntohs(ic->seq);
        s.payload = f + l->l4_ofs + 8;
        s.payload_len = end > l->l4_ofs + 8u ? (uint16_t)(end - l->l4_ofs - 8u) : 0;
    }
    return pkt_build_ipv4(buf, cap, &s);
}

int agent_frame_forwarded(const uint8_t *f, uint32_t len, const struct pkt_layout *l, const struct sim_pkt *out,
                          uint8_t *buf, size_t cap)
{
    struct eth_hdr *eh;
    struct ipv4_hdr *ih;
    uint32_t ihl, end;

    if (len > cap)
        return -ENOSPC;
    memcpy(buf, f, len);
    eh = (struct eth_hdr *)buf;
    memcpy(eh->dst, out->eth_dst, 6);
    memcpy(eh->src, out->eth_src, 6);
    if (out->eth_type != ETH_TYPE_IPV4 || l->eth_type != ETH_TYPE_IPV4 || !l->l3_ofs)
        return (int)len;   /* ARP and the rest cross bridges unchanged but for MACs */
    ih = (struct ipv4_hdr *)(buf + l->l3_ofs);
    ihl = (uint32_t)(ih->ver_ihl & 0x0f) * 4;
    end = l->l3_ofs + l->l3_len;
    ih->src = htonl(out->ip_src);
    ih->dst = htonl(out->ip_dst);
    ih->ttl = out->ttl;
    ih->tos = out->tos;
    ih->csum = 0;
    ih->csum = csum_ipv4_header(ih, ihl);
    if (!l->l4_ofs || l->frag == FLOW_FRAG_LATER)
        return (int)len;
    uint8_t *l4 = buf + l->l4_ofs;
    uint16_t l4_len = (uint16_t)(end - l->l4_ofs);
    if (l->ip_proto == IP_PROTO_TCP && l4_len >= sizeof(struct tcp_hdr)) {
        struct tcp_hdr *th = (struct tcp_hdr *)l4;
        th->sport = htons(out->src_port);
        th->dport = htons(out->dst_port);
        th->csum = 0;
        if (l->frag == FLOW_FRAG_NONE)
            th->csum = csum_tcpudp_ipv4(ih->src, ih->dst, IP_PROTO_TCP, l4, l4_len);
    } else if (l->ip_proto == IP_PROTO_UDP && l4_len >= sizeof(struct udp_hdr)) {
        struct udp_hdr *uh = (struct udp_hdr *)l4;
        bool had_csum = uh->csum != 0;
        uh->sport = htons(out->src_port);
        uh->dport = htons(out->dst_port);
        uh->csum = 0;
        if (had_csum && l->frag == FLOW_FRAG_NONE)
            uh->csum = csum_tcpudp_ipv4(ih->src, ih->dst, IP_PROTO_UDP, l4, l4_len);
    } else if (l->ip_proto == IP_PROTO_ICMP && l4_len >= sizeof(struct icmp_hdr)) {
        struct icmp_hdr *ic = (struct icmp_hdr *)l4;
        if (ic->type == ICMP_ECHO || ic->type == ICMP_ECHO_REPLY)
            ic->id = htons(out->icmp_id);
        if (out->has_embedded && l->inner_l3_ofs) {
            uint8_t q[64];
            int n = quote(f + l->inner_l3_ofs - l->l3_ofs, len - (l->inner_l3_ofs - l->l3_ofs),
                          &(struct pkt_layout){.l3_ofs = l->l3_ofs}, out, q);
            if (n > 0 && l->inner_l3_ofs + (uint32_t)n <= end)
                memcpy(buf + l->inner_l3_ofs, q, (size_t)n);
        }
        ic->csum = 0;
        ic->csum = csum_fold(csum_partial(l4, l4_len, 0));
    }
    return (int)len;
}
