/*
 * lib/packet.c: the one-pass, bounds-checked parser (see packet.h).
 *
 * Every header is checked to fit before a field of it is read; offsets are
 * 32-bit and compared against the frame length, so a lying length field can
 * only make a frame fail, never make a read run past its end.
 */
#include "lib/packet.h"

#include <arpa/inet.h>
#include <string.h>

#define IPV6_MAX_EXT 8

static const char *const err_names[PKT_ERR_COUNT] = {
    [PKT_OK] = "ok",
    [PKT_ERR_TRUNC_ETH] = "trunc_eth",
    [PKT_ERR_TRUNC_VLAN] = "trunc_vlan",
    [PKT_ERR_VLAN_DEPTH] = "vlan_depth",
    [PKT_ERR_TRUNC_ARP] = "trunc_arp",
    [PKT_ERR_ARP_FORMAT] = "arp_format",
    [PKT_ERR_TRUNC_IPV4] = "trunc_ipv4",
    [PKT_ERR_IP_VERSION] = "ip_version",
    [PKT_ERR_IPV4_IHL] = "ipv4_ihl",
    [PKT_ERR_IPV4_TOTLEN_LONG] = "ipv4_totlen_long",
    [PKT_ERR_IPV4_TOTLEN_SHORT] = "ipv4_totlen_short",
    [PKT_ERR_TRUNC_IPV6] = "trunc_ipv6",
    [PKT_ERR_IPV6_EXTHDR] = "ipv6_exthdr",
    [PKT_ERR_TRUNC_TCP] = "trunc_tcp",
    [PKT_ERR_TCP_DOFF] = "tcp_doff",
    [PKT_ERR_TRUNC_UDP] = "trunc_udp",
    [PKT_ERR_UDP_LEN] = "udp_len",
    [PKT_ERR_TRUNC_ICMP] = "trunc_icmp",
    [PKT_ERR_ICMP_EMBEDDED] = "icmp_embedded",
    [PKT_ERR_TRUNC_VXLAN] = "trunc_vxlan",
    [PKT_ERR_VXLAN_FLAGS] = "vxlan_flags",
};

const char *pkt_err_name(enum pkt_err e)
{
    return (unsigned)e < PKT_ERR_COUNT ? err_names[e] : "unknown";
}

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static bool is_icmp_error(uint8_t type)
{
    return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH || type == ICMP_REDIRECT ||
           type == ICMP_TIME_EXCEEDED || type == ICMP_PARAM_PROBLEM;
}

/* TCP/UDP/ICMP at frame[off], 'len' bytes to the end of the IP packet. */
static enum pkt_err parse_l4(const uint8_t *f, uint32_t off, uint32_t len, uint8_t proto, bool v6,
                             struct flow_key *k, struct pkt_layout *lay)
{
    lay->l4_ofs = (uint16_t)off;
    lay->l4_len = (uint16_t)len;
    switch (proto) {
    case IP_PROTO_TCP: {
        if (len < sizeof(struct tcp_hdr))
            return PKT_ERR_TRUNC_TCP;
        uint32_t doff = (uint32_t)(f[off + 12] >> 4) * 4;
        if (doff < sizeof(struct tcp_hdr) || doff > len)
            return PKT_ERR_TCP_DOFF;
        memcpy(&k->tp_src, f + off, 2);
        memcpy(&k->tp_dst, f + off + 2, 2);
        lay->tcp_flags = f[off + 13];
        lay->payload_ofs = (uint16_t)(off + doff);
        return PKT_OK;
    }
    case IP_PROTO_UDP: {
        if (len < sizeof(struct udp_hdr))
            return PKT_ERR_TRUNC_UDP;
        uint32_t ulen = rd16(f + off + 4);
        /* IPv6 jumbograms (length 0) are not carried here. */
        if (ulen < sizeof(struct udp_hdr) || ulen > len)
            return PKT_ERR_UDP_LEN;
        memcpy(&k->tp_src, f + off, 2);
        memcpy(&k->tp_dst, f + off + 2, 2);
        lay->payload_ofs = (uint16_t)(off + 8);
        return PKT_OK;
    }
    case IP_PROTO_ICMP:
    case IP_PROTO_ICMPV6: {
        if (len < sizeof(struct icmp_hdr))
            return PKT_ERR_TRUNC_ICMP;
        uint8_t type = f[off], code = f[off + 1];
        k->tp_src = htons((uint16_t)(type << 8 | code));
        lay->payload_ofs = (uint16_t)(off + 8);
        if ((!v6 && (type == ICMP_ECHO || type == ICMP_ECHO_REPLY)) ||
            (v6 && (type == ICMPV6_ECHO || type == ICMPV6_ECHO_REPLY))) {
            memcpy(&k->tp_dst, f + off + 4, 2);
            return PKT_OK;
        }
        if (v6 || !is_icmp_error(type))
            return PKT_OK;
        /* An IPv4 ICMP error: the quoted IP header must be whole; of its
         * L4 header only the first 8 bytes are promised (RFC 792). */
        uint32_t in = off + 8, avail = len - 8;
        if (avail < sizeof(struct ipv4_hdr) || (f[in] >> 4) != 4)
            return PKT_ERR_ICMP_EMBEDDED;
        uint32_t ihl = (uint32_t)(f[in] & 0x0f) * 4;
        if (ihl < sizeof(struct ipv4_hdr) || ihl > avail)
            return PKT_ERR_ICMP_EMBEDDED;
        k->flags |= FLOW_F_ICMP_ERROR;
        lay->inner_l3_ofs = (uint16_t)in;
        if (avail - ihl >= 8 && (rd16(f + in + 6) & IPV4_OFFSET_MASK) == 0)
            lay->inner_l4_ofs = (uint16_t)(in + ihl);
        return PKT_OK;
    }
    default:
        lay->payload_ofs = (uint16_t)off;
        return PKT_OK;
    }
}

static enum pkt_err parse_ipv4(const uint8_t *f, uint32_t off, uint32_t len, struct flow_key *k,
                               struct pkt_layout *lay)
{
    uint32_t avail = len - off, ihl, tot;
    uint16_t frag;

    if (avail < sizeof(struct ipv4_hdr))
        return PKT_ERR_TRUNC_IPV4;
    if ((f[off] >> 4) != 4)
        return PKT_ERR_IP_VERSION;
    ihl = (uint32_t)(f[off] & 0x0f) * 4;
    if (ihl < sizeof(struct ipv4_hdr))
        return PKT_ERR_IPV4_IHL;
    if (ihl > avail)
        return PKT_ERR_TRUNC_IPV4;
    tot = rd16(f + off + 2);
    if (tot < ihl)
        return PKT_ERR_IPV4_TOTLEN_SHORT;
    if (tot > avail)
        return PKT_ERR_IPV4_TOTLEN_LONG;
    lay->l3_len = (uint16_t)tot;
    k->nw_tos = f[off + 1];
    k->nw_ttl = f[off + 8];
    k->nw_proto = f[off + 9];
    lay->ip_proto = k->nw_proto;
    memcpy(&k->nw.v4.src, f + off + 12, 4);
    memcpy(&k->nw.v4.dst, f + off + 16, 4);
    frag = rd16(f + off + 6);
    if (frag & IPV4_OFFSET_MASK)
        k->nw_frag = FLOW_FRAG_LATER;
    else if (frag & IPV4_MF)
        k->nw_frag = FLOW_FRAG_FIRST;
    lay->frag = k->nw_frag;
    if (k->nw_frag == FLOW_FRAG_LATER) {
        /* No L4 header in a later fragment: ports stay 0. */
        lay->payload_ofs = (uint16_t)(off + ihl);
        return PKT_OK;
    }
    return parse_l4(f, off + ihl, tot - ihl, k->nw_proto, false, k, lay);
}

static enum pkt_err parse_ipv6(const uint8_t *f, uint32_t off, uint32_t len, struct flow_key *k,
                               struct pkt_layout *lay)
{
    uint32_t avail = len - off, plen, end, cur;
    uint8_t next;

    if (avail < sizeof(struct ipv6_hdr))
        return PKT_ERR_TRUNC_IPV6;
    if ((f[off] >> 4) != 6)
        return PKT_ERR_IP_VERSION;
    plen = rd16(f + off + 4);
    if (plen + sizeof(struct ipv6_hdr) > avail)
        return PKT_ERR_TRUNC_IPV6;
    k->flags |= FLOW_F_IPV6;
    k->nw_tos = (uint8_t)((rd16(f + off) >> 4) & 0xff);
    k->nw_ttl = f[off + 7];
    memcpy(k->nw.v6.src, f + off + 8, 16);
    memcpy(k->nw.v6.dst, f + off + 24, 16);
    lay->l3_len = (uint16_t)(plen + sizeof(struct ipv6_hdr));
    end = off + lay->l3_len;
    cur = off + sizeof(struct ipv6_hdr);
    next = f[off + 6];
    for (int i = 0;; i++) {
        uint32_t hlen;

        if (next != 0 && next != 43 && next != 44 && next != 60)
            break;
        if (i == IPV6_MAX_EXT || end - cur < 8)
            return PKT_ERR_IPV6_EXTHDR;
        if (next == 44) {
            uint16_t fo = rd16(f + cur + 2);
            k->nw_frag = (fo & 0xfff8) ? FLOW_FRAG_LATER : (fo & 1) ? FLOW_FRAG_FIRST : FLOW_FRAG_NONE;
            hlen = 8;
        } else {
            hlen = ((uint32_t)f[cur + 1] + 1) * 8;
        }
        if (hlen > end - cur)
            return PKT_ERR_IPV6_EXTHDR;
        next = f[cur];
        cur += hlen;
    }
    k->nw_proto = next;
    lay->ip_proto = next;
    lay->frag = k->nw_frag;
    if (k->nw_frag == FLOW_FRAG_LATER) {
        lay->payload_ofs = (uint16_t)cur;
        return PKT_OK;
    }
    return parse_l4(f, cur, end - cur, next, true, k, lay);
}

static enum pkt_err parse_arp(const uint8_t *f, uint32_t off, uint32_t len, struct flow_key *k)
{
    if (len - off < sizeof(struct arp_hdr))
        return PKT_ERR_TRUNC_ARP;
    if (rd16(f + off) != 1 || rd16(f + off + 2) != ETH_TYPE_IPV4 || f[off + 4] != 6 || f[off + 5] != 4)
        return PKT_ERR_ARP_FORMAT;
    k->nw_proto = (uint8_t)rd16(f + off + 6);
    memcpy(k->nw.v4.arp_sha, f + off + 8, 6);
    memcpy(&k->nw.v4.src, f + off + 14, 4);
    memcpy(k->nw.v4.arp_tha, f + off + 18, 6);
    memcpy(&k->nw.v4.dst, f + off + 24, 4);
    return PKT_OK;
}

enum pkt_err flow_key_extract(const uint8_t *f, uint32_t len, uint32_t in_port, struct flow_key *k,
                              struct pkt_layout *lay)
{
    uint32_t off = sizeof(struct eth_hdr);
    uint16_t type;

    memset(k, 0, sizeof(*k));
    memset(lay, 0, sizeof(*lay));
    k->in_port = in_port;
    if (len < sizeof(struct eth_hdr) || len > 0xffff)
        return PKT_ERR_TRUNC_ETH;
    memcpy(k->eth_dst, f, 6);
    memcpy(k->eth_src, f + 6, 6);
    type = rd16(f + 12);
    while (type == ETH_TYPE_VLAN || type == ETH_TYPE_QINQ) {
        if (lay->n_vlans == 2)
            return PKT_ERR_VLAN_DEPTH;
        if (len - off < sizeof(struct vlan_hdr))
            return PKT_ERR_TRUNC_VLAN;
        lay->vlan_tci[lay->n_vlans] = rd16(f + off);
        memcpy(&k->vlan_tci[lay->n_vlans], f + off, 2);
        k->flags |= lay->n_vlans ? FLOW_F_VLAN1 : FLOW_F_VLAN0;
        lay->n_vlans++;
        type = rd16(f + off + 2);
        off += sizeof(struct vlan_hdr);
    }
    k->eth_type = htons(type);
    lay->eth_type = type;
    lay->l3_ofs = (uint16_t)off;
    switch (type) {
    case ETH_TYPE_IPV4:
        return parse_ipv4(f, off, len, k, lay);
    case ETH_TYPE_IPV6:
        return parse_ipv6(f, off, len, k, lay);
    case ETH_TYPE_ARP:
        return parse_arp(f, off, len, k);
    default:
        return PKT_OK;
    }
}

enum pkt_err pkt_vxlan_decap(const uint8_t *p, uint32_t len, uint32_t *vni, uint32_t *inner_ofs)
{
    if (len < sizeof(struct vxlan_hdr) + sizeof(struct eth_hdr))
        return PKT_ERR_TRUNC_VXLAN;
    if (p[0] != VXLAN_FLAG_VNI || p[1] || p[2] || p[3] || p[7])
        return PKT_ERR_VXLAN_FLAGS;
    *vni = (uint32_t)p[4] << 16 | (uint32_t)p[5] << 8 | p[6];
    *inner_ofs = sizeof(struct vxlan_hdr);
    return PKT_OK;
}
