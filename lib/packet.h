/*
 * lib/packet.h: wire headers, one-pass parsing into a flow key, packet
 * building, and packet buffer pools.
 *
 * flow_key_extract() walks Ethernet, up to two VLAN tags (802.1Q, QinQ),
 * ARP, IPv4 (options, fragments), IPv6 (extension headers), ICMP (errors
 * with their embedded header), ICMPv6, TCP and UDP once, checking every
 * length before it reads. A malformed frame is refused with a named reason
 * (enum pkt_err; pkt_err_name() gives the drop-reason counter name) and
 * never read out of bounds. The 64-byte struct flow_key is the exact-match
 * key of the fast path: every byte, padding included, is written, so keys
 * compare and hash as plain memory. IPv6 addresses fit without changing it.
 *
 * Nothing here allocates per packet; pools allocate once at creation.
 */
#ifndef RP_LIB_PACKET_H
#define RP_LIB_PACKET_H

#include "lib/types.h"

/* --- wire headers ------------------------------------------------------------ */

#define ETH_ALEN 6
#define ETH_TYPE_IPV4 0x0800
#define ETH_TYPE_ARP 0x0806
#define ETH_TYPE_VLAN 0x8100
#define ETH_TYPE_QINQ 0x88a8
#define ETH_TYPE_IPV6 0x86dd
#define IP_PROTO_ICMP 1
#define IP_PROTO_TCP 6
#define IP_PROTO_UDP 17
#define IP_PROTO_ICMPV6 58
#define VXLAN_PORT 4789
#define VXLAN_FLAG_VNI 0x08

struct eth_hdr {
    uint8_t dst[ETH_ALEN];
    uint8_t src[ETH_ALEN];
    rp_be16 type;
} __attribute__((packed));
_Static_assert(sizeof(struct eth_hdr) == 14, "eth_hdr");

struct vlan_hdr {
    rp_be16 tci;
    rp_be16 type;   /* the encapsulated ethertype */
} __attribute__((packed));
_Static_assert(sizeof(struct vlan_hdr) == 4, "vlan_hdr");

struct arp_hdr {
    rp_be16 htype, ptype;
    uint8_t hlen, plen;
    rp_be16 op;
    uint8_t sha[ETH_ALEN];
    rp_be32 spa;
    uint8_t tha[ETH_ALEN];
    rp_be32 tpa;
} __attribute__((packed));
_Static_assert(sizeof(struct arp_hdr) == 28, "arp_hdr");

struct ipv4_hdr {
    uint8_t ver_ihl;
    uint8_t tos;
    rp_be16 tot_len;
    rp_be16 id;
    rp_be16 frag_off;   /* flags (3 bits) and offset in 8-byte units */
    uint8_t ttl;
    uint8_t proto;
    rp_be16 csum;
    rp_be32 src, dst;
} __attribute__((packed));
_Static_assert(sizeof(struct ipv4_hdr) == 20, "ipv4_hdr");
#define IPV4_MF 0x2000
#define IPV4_OFFSET_MASK 0x1fff

struct ipv6_hdr {
    rp_be32 vtc_flow;
    rp_be16 payload_len;
    uint8_t next;
    uint8_t hop_limit;
    uint8_t src[16], dst[16];
} __attribute__((packed));
_Static_assert(sizeof(struct ipv6_hdr) == 40, "ipv6_hdr");

struct icmp_hdr {
    uint8_t type, code;
    rp_be16 csum;
    rp_be16 id, seq;    /* echo; "unused"/MTU for errors */
} __attribute__((packed));
_Static_assert(sizeof(struct icmp_hdr) == 8, "icmp_hdr");
#define ICMP_ECHO_REPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_REDIRECT 5
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAM_PROBLEM 12
#define ICMPV6_ECHO 128
#define ICMPV6_ECHO_REPLY 129

struct tcp_hdr {
    rp_be16 sport, dport;
    rp_be32 seq, ack;
    uint8_t doff_res;   /* data offset in the high nibble */
    uint8_t flags;
    rp_be16 win, csum, urg;
} __attribute__((packed));
_Static_assert(sizeof(struct tcp_hdr) == 20, "tcp_hdr");
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

struct udp_hdr {
    rp_be16 sport, dport, len, csum;
} __attribute__((packed));
_Static_assert(sizeof(struct udp_hdr) == 8, "udp_hdr");

struct vxlan_hdr {
    uint8_t flags;      /* VXLAN_FLAG_VNI, the rest zero */
    uint8_t rsvd1[3];
    uint8_t vni[3];
    uint8_t rsvd2;
} __attribute__((packed));
_Static_assert(sizeof(struct vxlan_hdr) == 8, "vxlan_hdr");

/* --- parse results -------------------------------------------------------------- */

enum pkt_err {
    PKT_OK = 0,
    PKT_ERR_TRUNC_ETH,
    PKT_ERR_TRUNC_VLAN,
    PKT_ERR_VLAN_DEPTH,
    PKT_ERR_TRUNC_ARP,
    PKT_ERR_ARP_FORMAT,
    PKT_ERR_TRUNC_IPV4,
    PKT_ERR_IP_VERSION,
    PKT_ERR_IPV4_IHL,
    PKT_ERR_IPV4_TOTLEN_LONG,
    PKT_ERR_IPV4_TOTLEN_SHORT,
    PKT_ERR_TRUNC_IPV6,
    PKT_ERR_IPV6_EXTHDR,
    PKT_ERR_TRUNC_TCP,
    PKT_ERR_TCP_DOFF,
    PKT_ERR_TRUNC_UDP,
    PKT_ERR_UDP_LEN,
    PKT_ERR_TRUNC_ICMP,
    PKT_ERR_ICMP_EMBEDDED,
    PKT_ERR_TRUNC_VXLAN,
    PKT_ERR_VXLAN_FLAGS,
    PKT_ERR_COUNT
};

/* Short, stable name ("trunc_ipv4", "ipv4_ihl", ...) for counters and logs. */
const char *pkt_err_name(enum pkt_err e);

enum flow_frag { FLOW_FRAG_NONE = 0, FLOW_FRAG_FIRST = 1, FLOW_FRAG_LATER = 2 };

#define FLOW_F_VLAN0 0x01       /* outer tag present */
#define FLOW_F_VLAN1 0x02       /* inner tag present */
#define FLOW_F_IPV6 0x04
#define FLOW_F_ICMP_ERROR 0x08  /* an ICMP error quoting a packet (see pkt_layout.inner_*) */

/* Offsets are from the start of the frame; 0 means absent. */
struct pkt_layout {
    uint16_t l3_ofs, l4_ofs, payload_ofs;
    uint16_t l3_len;        /* IP packet length as its header says (checked to fit;
                             * Ethernet padding past it is ignored) */
    uint16_t l4_len;        /* bytes from l4_ofs to the end of the IP packet */
    uint16_t eth_type;      /* innermost, host order */
    uint16_t vlan_tci[2];
    uint8_t n_vlans;
    uint8_t ip_proto;
    uint8_t frag;           /* enum flow_frag */
    uint8_t tcp_flags;
    uint16_t inner_l3_ofs;  /* ICMP error: the quoted IP header */
    uint16_t inner_l4_ofs;  /* ICMP error: the quoted L4 header (its first 8 bytes) */
};

/* The exact-match key of the fast path: 64 bytes, every byte written. */
struct flow_key {
    uint32_t in_port;           /* the caller's port number */
    uint8_t eth_dst[ETH_ALEN];
    uint8_t eth_src[ETH_ALEN];
    rp_be16 eth_type;           /* innermost */
    rp_be16 vlan_tci[2];        /* outer, inner, as on the wire; see FLOW_F_VLAN* */
    uint8_t nw_proto;           /* IP protocol; ARP: opcode (1 request, 2 reply) */
    uint8_t nw_tos;             /* IPv4 TOS / IPv6 traffic class */
    uint8_t nw_ttl;             /* TTL / hop limit */
    uint8_t nw_frag;            /* enum flow_frag */
    uint8_t flags;              /* FLOW_F_* */
    uint8_t pad0;
    rp_be16 tp_src;             /* TCP/UDP port; ICMP: htons(type << 8 | code) */
    rp_be16 tp_dst;             /* TCP/UDP port; ICMP echo: identifier; else 0 */
    union {
        struct {
            rp_be32 src, dst;   /* ARP: spa, tpa */
            uint8_t arp_sha[ETH_ALEN], arp_tha[ETH_ALEN];
            uint8_t pad[12];
        } v4;
        struct {
            uint8_t src[16], dst[16];
        } v6;
    } nw;
};
_Static_assert(sizeof(struct flow_key) == 64, "flow_key must stay one cache line");

/* Parse a frame. On error the key is still fully written (zeroed past
 * in_port) and the layout holds what was parsed before the error. */
enum pkt_err flow_key_extract(const uint8_t *frame, uint32_t len, uint32_t in_port, struct flow_key *key,
                              struct pkt_layout *layout);

/* A VXLAN header at the start of a UDP payload: the VNI and where the inner
 * Ethernet frame starts. Flags must be exactly the I bit. */
enum pkt_err pkt_vxlan_decap(const uint8_t *udp_payload, uint32_t len, uint32_t *vni, uint32_t *inner_ofs);

/* --- building ---------------------------------------------------------------------- */

/* Headers of a packet to build; addresses and ports in host order. */
struct pkt_spec {
    uint8_t eth_src[ETH_ALEN], eth_dst[ETH_ALEN];
    uint16_t vlan[2];           /* TCIs; used when n_vlans says so */
    uint8_t n_vlans;
    uint32_t ip_src, ip_dst;
    uint8_t proto, ttl, tos;
    uint16_t sport, dport;      /* TCP/UDP ports */
    uint8_t tcp_flags;
    uint8_t icmp_type, icmp_code;
    uint16_t icmp_id, icmp_seq;
    uint16_t frag_off;          /* host order: flags and offset as in the header */
    bool udp_no_csum;           /* send UDP with checksum 0 */
    const uint8_t *payload;     /* for ICMP errors: the quoted packet (IP header + 8 bytes) */
    uint16_t payload_len;
};

/* A whole Ethernet/[VLAN]/IPv4/(TCP|UDP|ICMP) frame with correct checksums.
 * Returns its length, or -ENOSPC when 'cap' is too small, -EINVAL for an
 * unsupported protocol. */
int pkt_build_ipv4(uint8_t *buf, size_t cap, const struct pkt_spec *s);
/* An Ethernet/ARP frame (op 1 request, 2 reply); addresses host order. */
int pkt_build_arp(uint8_t *buf, size_t cap, const uint8_t eth_dst[ETH_ALEN], const uint8_t eth_src[ETH_ALEN],
                  uint16_t op, const uint8_t sha[ETH_ALEN], uint32_t spa, const uint8_t tha[ETH_ALEN], uint32_t tpa);
/* An 8-byte VXLAN header for 'vni' (24 bits). */
void pkt_build_vxlan(uint8_t out[8], uint32_t vni);

/* --- packet buffers ------------------------------------------------------------------ */

#define PKT_BUF_SIZE 2048
#define PKT_HEADROOM 128   /* room to push outer Ethernet/IPv4/UDP/VXLAN (50 bytes) */

struct pkt_buf {
    uint8_t *data;          /* start of the frame, inside 'room' */
    uint16_t len;
    uint32_t in_port;
    struct pkt_buf *next_free;
    uint8_t room[PKT_BUF_SIZE];
} __attribute__((aligned(64)));

static inline uint16_t pkt_headroom(const struct pkt_buf *b)
{
    return (uint16_t)(b->data - b->room);
}

/* Prepend n bytes (e.g. a tunnel header): the new start, or NULL if there is
 * not enough headroom. */
static inline uint8_t *pkt_push(struct pkt_buf *b, uint16_t n)
{
    if (pkt_headroom(b) < n)
        return NULL;
    b->data -= n;
    b->len += n;
    return b->data;
}

static inline uint8_t *pkt_pull(struct pkt_buf *b, uint16_t n)
{
    if (b->len < n)
        return NULL;
    b->data += n;
    b->len -= n;
    return b->data;
}

struct pkt_pool;
int pkt_pool_create(struct pkt_pool **out, uint32_t n_bufs);
void pkt_pool_destroy(struct pkt_pool *p);
/* O(1), no allocation: NULL when the pool is empty. */
struct pkt_buf *pkt_pool_get(struct pkt_pool *p);
void pkt_pool_put(struct pkt_pool *p, struct pkt_buf *b);
uint32_t pkt_pool_available(const struct pkt_pool *p);

#endif
