/*
 * nat/nat_rewrite.c: NAT on packet bytes, apart from the decision (which
 * lives in nat_alloc.c): addresses, ports and ICMP identifiers rewritten in
 * place with RFC 1624 incremental checksums, and ICMP errors quoting a
 * NATed packet translated per RFC 5508.
 *
 * Every check happens before the first write, so a refused frame is left
 * as it was. Fields are read and written with memcpy: a frame after VLAN
 * tags or IP options has no alignment to promise.
 */
#include "nat/nat_impl.h"

#include <errno.h>
#include <string.h>

static inline uint16_t rd16(const uint8_t *p)
{
    uint16_t v;

    memcpy(&v, p, 2);
    return v;
}

static inline uint32_t rd32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

/* Write a 16/32-bit field; when 'csum' is given, adjust the checksum stored
 * there for the change (the field lies at an even offset of what it sums). */
static inline void put16(uint8_t *p, rp_be16 v, uint8_t *csum)
{
    if (csum) {
        rp_be16 c = csum_update16(rd16(csum), rd16(p), v);
        memcpy(csum, &c, 2);
    }
    memcpy(p, &v, 2);
}

static inline void put32(uint8_t *p, rp_be32 v, uint8_t *csum)
{
    if (csum) {
        rp_be16 c = csum_update32(rd16(csum), rd32(p), v);
        memcpy(csum, &c, 2);
    }
    memcpy(p, &v, 4);
}

/* An L4 checksum that changes because of a pseudo-header or port change.
 * UDP: 0 means none and stays 0; a present one never becomes 0. 'outer':
 * the checksum of what encloses this one (an ICMP error), or NULL. */
static void l4_csum_adjust32(uint8_t *csum, bool udp, rp_be32 o, rp_be32 n, uint8_t *outer)
{
    rp_be16 c = udp ? csum_update_udp32(rd16(csum), o, n) : csum_update32(rd16(csum), o, n);

    put16(csum, c, outer);
}

static void l4_csum_adjust16(uint8_t *csum, bool udp, rp_be16 o, rp_be16 n, uint8_t *outer)
{
    rp_be16 c = udp ? csum_update_udp16(rd16(csum), o, n) : csum_update16(rd16(csum), o, n);

    put16(csum, c, outer);
}

static bool is_echo(uint8_t type)
{
    return type == ICMP_ECHO || type == ICMP_ECHO_REPLY;
}

/* The IPv4 header at l3_ofs and where its packet ends, or NULL. */
static uint8_t *ipv4_at(uint8_t *frame, size_t len, const struct pkt_layout *l, size_t *end)
{
    size_t ihl;

    if (l->eth_type != ETH_TYPE_IPV4 || !l->l3_ofs || (size_t)l->l3_ofs + sizeof(struct ipv4_hdr) > len)
        return NULL;
    ihl = (size_t)(frame[l->l3_ofs] & 0x0f) * 4;
    *end = (size_t)l->l3_ofs + l->l3_len;
    if ((frame[l->l3_ofs] >> 4) != 4 || ihl < sizeof(struct ipv4_hdr) || *end > len ||
        (size_t)l->l3_ofs + ihl > *end)
        return NULL;
    return frame + l->l3_ofs;
}

int nat_rewrite(uint8_t *frame, size_t len, const struct pkt_layout *l, const struct nat_xlate *x)
{
    bool src = x->side == NAT_SIDE_SRC, do_addr = x->what & NAT_XLATE_ADDR, do_port = x->what & NAT_XLATE_PORT;
    size_t end, need;
    uint8_t *ip = ipv4_at(frame, len, l, &end), *l4 = NULL, *csum = NULL, *port = NULL;
    uint8_t proto;
    rp_be32 old_addr;

    if (!ip || x->side > NAT_SIDE_DST)
        return -EINVAL;
    proto = ip[9];
    if (l->frag != FLOW_FRAG_LATER) {
        /* The L4 header this protocol needs, whole, inside the packet. */
        switch (proto) {
        case IP_PROTO_TCP:
            need = sizeof(struct tcp_hdr);
            break;
        case IP_PROTO_UDP:
        case IP_PROTO_ICMP:
            need = 8;
            break;
        default:
            need = 0;
            break;
        }
        if (need) {
            if (!l->l4_ofs || l->l4_ofs < l->l3_ofs + sizeof(struct ipv4_hdr) || (size_t)l->l4_ofs + need > end)
                return -EINVAL;
            l4 = frame + l->l4_ofs;
        }
        if (do_port) {
            if (proto == IP_PROTO_TCP || proto == IP_PROTO_UDP)
                port = l4 + (src ? 0 : 2);
            else if (proto == IP_PROTO_ICMP && is_echo(l4[0]))
                port = l4 + 4;
            else
                return -EINVAL;
        }
        if (proto == IP_PROTO_TCP)
            csum = l4 + 16;
        else if (proto == IP_PROTO_UDP || proto == IP_PROTO_ICMP)
            csum = l4 + (proto == IP_PROTO_UDP ? 6 : 2);
    }

    old_addr = rd32(ip + (src ? 12 : 16));
    if (do_addr && old_addr != x->addr) {
        put32(ip + (src ? 12 : 16), x->addr, ip + 10);
        /* TCP and UDP sum a pseudo-header with the addresses; ICMP does not. */
        if (csum && proto != IP_PROTO_ICMP)
            l4_csum_adjust32(csum, proto == IP_PROTO_UDP, old_addr, x->addr, NULL);
    }
    if (port && rd16(port) != x->port) {
        rp_be16 old = rd16(port);

        memcpy(port, &x->port, 2);
        l4_csum_adjust16(csum, proto == IP_PROTO_UDP, old, x->port, NULL);
    }
    return 0;
}

int nat_rewrite_icmp_error(uint8_t *frame, size_t len, const struct pkt_layout *l, const struct nat_xlate *x)
{
    bool src = x->side == NAT_SIDE_SRC, do_addr = x->what & NAT_XLATE_ADDR, do_port = x->what & NAT_XLATE_PORT;
    size_t end, in_ihl;
    uint8_t *ip = ipv4_at(frame, len, l, &end), *icmp, *in, *in4 = NULL, *in_csum = NULL, *in_port = NULL;
    uint8_t *ocsum;
    uint8_t in_proto;
    bool in_udp;
    rp_be32 old_addr;

    if (!ip || x->side > NAT_SIDE_DST || ip[9] != IP_PROTO_ICMP || !l->l4_ofs || !l->inner_l3_ofs)
        return -EINVAL;
    if ((size_t)l->l4_ofs + sizeof(struct icmp_hdr) > end || l->inner_l3_ofs != l->l4_ofs + sizeof(struct icmp_hdr) ||
        (size_t)l->inner_l3_ofs + sizeof(struct ipv4_hdr) > end)
        return -EINVAL;
    icmp = frame + l->l4_ofs;
    ocsum = icmp + 2;
    in = frame + l->inner_l3_ofs;
    in_ihl = (size_t)(in[0] & 0x0f) * 4;
    if ((in[0] >> 4) != 4 || in_ihl < sizeof(struct ipv4_hdr) || (size_t)l->inner_l3_ofs + in_ihl > end)
        return -EINVAL;
    in_proto = in[9];
    in_udp = in_proto == IP_PROTO_UDP;
    if (l->inner_l4_ofs) {
        /* RFC 792 promises 8 bytes of the quoted L4 header; more may follow. */
        size_t have;

        if (l->inner_l4_ofs != l->inner_l3_ofs + in_ihl || (size_t)l->inner_l4_ofs + 8 > end)
            return -EINVAL;
        in4 = frame + l->inner_l4_ofs;
        have = end - l->inner_l4_ofs;
        if (in_proto == IP_PROTO_TCP && have >= 18)
            in_csum = in4 + 16;
        else if (in_udp || in_proto == IP_PROTO_ICMP)
            in_csum = in4 + (in_udp ? 6 : 2);
        if (in_proto == IP_PROTO_TCP || in_udp)
            in_port = in4 + (src ? 0 : 2);
        else if (in_proto == IP_PROTO_ICMP && is_echo(in4[0]))
            in_port = in4 + 4;
    }
    if (do_port && !in_port)
        return -EINVAL;

    /* Everything below is inside the ICMP payload except the outer address,
     * so each write also adjusts the outer ICMP checksum (ocsum). */
    old_addr = rd32(in + (src ? 12 : 16));
    if (do_addr && old_addr != x->addr) {
        uint8_t *outer_addr = ip + (src ? 16 : 12);   /* the error goes back to the quoted source */
        rp_be16 in_ip_csum = csum_update32(rd16(in + 10), old_addr, x->addr);

        put32(in + (src ? 12 : 16), x->addr, ocsum);
        put16(in + 10, in_ip_csum, ocsum);
        if (in_csum && in_proto != IP_PROTO_ICMP)
            l4_csum_adjust32(in_csum, in_udp, old_addr, x->addr, ocsum);
        if (rd32(outer_addr) == old_addr)
            put32(outer_addr, x->addr, ip + 10);
    }
    if (do_port && rd16(in_port) != x->port) {
        rp_be16 old = rd16(in_port);

        put16(in_port, x->port, ocsum);
        if (in_csum)
            l4_csum_adjust16(in_csum, in_udp, old, x->port, ocsum);
    }
    return 0;
}
