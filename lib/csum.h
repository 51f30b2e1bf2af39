/*
 * lib/csum.h: the internet checksum (RFC 1071), full and incremental
 * (RFC 1624), for IPv4 headers, TCP, UDP and ICMP.
 *
 * The fast path rewrites addresses, ports and ICMP identifiers and must not
 * re-sum whole packets: csum_update16/32 adjust a stored checksum for one
 * changed field with RFC 1624 equation 3, HC' = ~(~HC + ~m + m'), which
 * never produces the -0 (0x0000 from a non-zero sum) that equation 2 can.
 *
 * Edge cases:
 * - All checksums here are in network byte order, ready to store.
 * - UDP over IPv4: a stored 0 means "no checksum" and must stay 0 after a
 *   rewrite (csum_update_udp*), and a computed 0 is sent as 0xffff.
 * - Values are summed as big-endian 16-bit words however the buffer is
 *   aligned; odd lengths are padded with a zero byte.
 */
#ifndef RP_LIB_CSUM_H
#define RP_LIB_CSUM_H

#include "lib/types.h"

#include <arpa/inet.h>

/* Add 'len' bytes to a running 32-bit ones'-complement accumulator. */
uint32_t csum_partial(const void *data, size_t len, uint32_t sum);

/* Fold an accumulator to 16 bits and complement: the checksum to store. */
static inline rp_be16 csum_fold(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

static inline rp_be16 csum_ipv4_header(const void *hdr, size_t hdr_len)
{
    return csum_fold(csum_partial(hdr, hdr_len, 0));
}

/* Pseudo-header sums (host-order accumulators) for TCP/UDP/ICMPv6. */
static inline uint32_t csum_pseudo_ipv4(rp_be32 src, rp_be32 dst, uint8_t proto, uint16_t l4_len)
{
    uint32_t s = ntohl(src), d = ntohl(dst);
    uint64_t sum = (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + proto + l4_len;

    sum = (sum & 0xffffffff) + (sum >> 32);
    return (uint32_t)sum;
}

uint32_t csum_pseudo_ipv6(const uint8_t src[16], const uint8_t dst[16], uint8_t next_header, uint32_t l4_len);

/* The checksum of a TCP or UDP segment (its checksum field must be zero or
 * be excluded by the caller). UDP: a computed 0 is returned as 0xffff. */
rp_be16 csum_tcpudp_ipv4(rp_be32 src, rp_be32 dst, uint8_t proto, const void *l4, uint16_t l4_len);

/* RFC 1624 eqn. 3 for one changed 16-bit or 32-bit field. */
static inline rp_be16 csum_update16(rp_be16 csum, rp_be16 old_val, rp_be16 new_val)
{
    uint32_t sum = (uint16_t)~ntohs(csum) + (uint16_t)~ntohs(old_val) + ntohs(new_val);

    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

static inline rp_be16 csum_update32(rp_be16 csum, rp_be32 old_val, rp_be32 new_val)
{
    uint32_t o = ntohl(old_val), n = ntohl(new_val);
    uint32_t sum = (uint16_t)~ntohs(csum);

    sum += (uint16_t)~(o >> 16) + (uint16_t)~(o & 0xffff);
    sum += (n >> 16) + (n & 0xffff);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

/* UDP: an absent checksum (0) stays absent; a present one never becomes 0. */
static inline rp_be16 csum_update_udp16(rp_be16 csum, rp_be16 old_val, rp_be16 new_val)
{
    rp_be16 r;

    if (csum == 0)
        return 0;
    r = csum_update16(csum, old_val, new_val);
    return r ? r : 0xffff;
}

static inline rp_be16 csum_update_udp32(rp_be16 csum, rp_be32 old_val, rp_be32 new_val)
{
    rp_be16 r;

    if (csum == 0)
        return 0;
    r = csum_update32(csum, old_val, new_val);
    return r ? r : 0xffff;
}

#endif
