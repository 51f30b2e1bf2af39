/*
 * lib/packet_build.c: building frames (tests, generated replies, tunnels)
 * and the fixed packet buffer pool.
 */
#include "lib/csum.h"
#include "lib/packet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t put_eth(uint8_t *b, const struct pkt_spec *s, uint16_t type)
{
    size_t off = 12;

    memcpy(b, s->eth_dst, 6);
    memcpy(b + 6, s->eth_src, 6);
    for (int i = 0; i < s->n_vlans && i < 2; i++) {
        rp_be16 tpid = htons(i == 0 && s->n_vlans == 2 ? ETH_TYPE_QINQ : ETH_TYPE_VLAN), tci = htons(s->vlan[i]);
        memcpy(b + off, &tpid, 2);
        memcpy(b + off + 2, &tci, 2);
        off += 4;
    }
    rp_be16 t = htons(type);
    memcpy(b + off, &t, 2);
    return off + 2;
}

int pkt_build_ipv4(uint8_t *buf, size_t cap, const struct pkt_spec *s)
{
    size_t l2 = 14 + 4 * (size_t)(s->n_vlans > 2 ? 2 : s->n_vlans), l4h;
    struct ipv4_hdr ip;
    uint8_t *l4;

    switch (s->proto) {
    case IP_PROTO_TCP: l4h = sizeof(struct tcp_hdr); break;
    case IP_PROTO_UDP: l4h = sizeof(struct udp_hdr); break;
    case IP_PROTO_ICMP: l4h = sizeof(struct icmp_hdr); break;
    default: return -EINVAL;
    }
    size_t total = l2 + sizeof(ip) + l4h + s->payload_len;
    if (total > cap || total > 0xffff)
        return -ENOSPC;
    put_eth(buf, s, ETH_TYPE_IPV4);
    l4 = buf + l2 + sizeof(ip);
    memset(l4, 0, l4h);
    if (s->payload_len)
        memcpy(l4 + l4h, s->payload, s->payload_len);

    ip = (struct ipv4_hdr){
        .ver_ihl = 0x45, .tos = s->tos, .tot_len = htons((uint16_t)(sizeof(ip) + l4h + s->payload_len)),
        .id = htons(0x1234), .frag_off = htons(s->frag_off), .ttl = s->ttl, .proto = s->proto,
        .src = htonl(s->ip_src), .dst = htonl(s->ip_dst),
    };
    ip.csum = csum_ipv4_header(&ip, sizeof(ip));
    memcpy(buf + l2, &ip, sizeof(ip));

    uint16_t l4len = (uint16_t)(l4h + s->payload_len);
    if (s->proto == IP_PROTO_TCP) {
        struct tcp_hdr t = {.sport = htons(s->sport), .dport = htons(s->dport), .seq = htonl(1000),
                            .doff_res = 5 << 4, .flags = s->tcp_flags, .win = htons(65535)};
        memcpy(l4, &t, sizeof(t));
        t.csum = csum_tcpudp_ipv4(ip.src, ip.dst, IP_PROTO_TCP, l4, l4len);
        memcpy(l4 + 16, &t.csum, 2);
    } else if (s->proto == IP_PROTO_UDP) {
        struct udp_hdr u = {.sport = htons(s->sport), .dport = htons(s->dport), .len = htons(l4len)};
        memcpy(l4, &u, sizeof(u));
        if (!s->udp_no_csum) {
            u.csum = csum_tcpudp_ipv4(ip.src, ip.dst, IP_PROTO_UDP, l4, l4len);
            memcpy(l4 + 6, &u.csum, 2);
        }
    } else {
        struct icmp_hdr c = {.type = s->icmp_type, .code = s->icmp_code};
        if (s->icmp_type == ICMP_ECHO || s->icmp_type == ICMP_ECHO_REPLY) {
            c.id = htons(s->icmp_id);
            c.seq = htons(s->icmp_seq);
        }
        memcpy(l4, &c, sizeof(c));
        c.csum = csum_fold(csum_partial(l4, l4len, 0));
        memcpy(l4 + 2, &c.csum, 2);
    }
    return (int)total;
}

int pkt_build_arp(uint8_t *buf, size_t cap, const uint8_t eth_dst[ETH_ALEN], const uint8_t eth_src[ETH_ALEN],
                  uint16_t op, const uint8_t sha[ETH_ALEN], uint32_t spa, const uint8_t tha[ETH_ALEN], uint32_t tpa)
{
    struct pkt_spec s = {0};
    struct arp_hdr a = {.htype = htons(1), .ptype = htons(ETH_TYPE_IPV4), .hlen = 6, .plen = 4, .op = htons(op),
                        .spa = htonl(spa), .tpa = htonl(tpa)};

    if (cap < 14 + sizeof(a))
        return -ENOSPC;
    memcpy(s.eth_dst, eth_dst, 6);
    memcpy(s.eth_src, eth_src, 6);
    memcpy(a.sha, sha, 6);
    memcpy(a.tha, tha, 6);
    put_eth(buf, &s, ETH_TYPE_ARP);
    memcpy(buf + 14, &a, sizeof(a));
    return 14 + (int)sizeof(a);
}

void pkt_build_vxlan(uint8_t out[8], uint32_t vni)
{
    out[0] = VXLAN_FLAG_VNI;
    out[1] = out[2] = out[3] = 0;
    out[4] = (uint8_t)(vni >> 16);
    out[5] = (uint8_t)(vni >> 8);
    out[6] = (uint8_t)vni;
    out[7] = 0;
}

/* --- pool ------------------------------------------------------------------------- */

struct pkt_pool {
    struct pkt_buf *bufs;
    struct pkt_buf *free;
    uint32_t n, available;
};

int pkt_pool_create(struct pkt_pool **out, uint32_t n_bufs)
{
    struct pkt_pool *p;

    if (n_bufs == 0)
        return -EINVAL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->bufs = aligned_alloc(64, (size_t)n_bufs * sizeof(struct pkt_buf));
    if (!p->bufs) {
        free(p);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < n_bufs; i++) {
        p->bufs[i].next_free = i + 1 < n_bufs ? &p->bufs[i + 1] : NULL;
        p->bufs[i].data = p->bufs[i].room + PKT_HEADROOM;
        p->bufs[i].len = 0;
    }
    p->free = p->bufs;
    p->n = p->available = n_bufs;
    *out = p;
    return 0;
}

void pkt_pool_destroy(struct pkt_pool *p)
{
    if (!p)
        return;
    free(p->bufs);
    free(p);
}

struct pkt_buf *pkt_pool_get(struct pkt_pool *p)
{
    struct pkt_buf *b = p->free;

    if (!b)
        return NULL;
    p->free = b->next_free;
    p->available--;
    b->next_free = NULL;
    b->data = b->room + PKT_HEADROOM;
    b->len = 0;
    b->in_port = 0;
    return b;
}

void pkt_pool_put(struct pkt_pool *p, struct pkt_buf *b)
{
    if (!b)
        return;
    RP_ASSERT(b >= p->bufs && b < p->bufs + p->n);
    b->next_free = p->free;
    p->free = b;
    p->available++;
}

uint32_t pkt_pool_available(const struct pkt_pool *p)
{
    return p->available;
}
