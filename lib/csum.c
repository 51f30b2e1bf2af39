/*
 * lib/csum.c: the full internet checksum.
 */
#include "lib/csum.h"

#include <string.h>

uint32_t csum_partial(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    uint64_t acc = sum;

    /* Sum big-endian 32-bit words into 64 bits: no carry handling needed
     * until the fold, and memcpy keeps unaligned reads defined. */
    while (len >= 8) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + 4, 4);
        acc += ntohl(a);
        acc += ntohl(b);
        p += 8;
        len -= 8;
    }
    while (len >= 2) {
        acc += (uint32_t)(p[0] << 8 | p[1]);
        p += 2;
        len -= 2;
    }
    if (len)
        acc += (uint32_t)p[0] << 8;
    /* Fold the 64-bit accumulator so the ones'-complement sum is kept. */
    acc = (acc & 0xffffffff) + (acc >> 32);
    acc = (acc & 0xffffffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    return (uint32_t)acc;
}

uint32_t csum_pseudo_ipv6(const uint8_t src[16], const uint8_t dst[16], uint8_t next_header, uint32_t l4_len)
{
    uint32_t sum = csum_partial(src, 16, 0);
    uint8_t tail[8] = {(uint8_t)(l4_len >> 24), (uint8_t)(l4_len >> 16), (uint8_t)(l4_len >> 8), (uint8_t)l4_len,
                       0, 0, 0, next_header};

    sum = csum_partial(dst, 16, sum);
    return csum_partial(tail, sizeof(tail), sum);
}

rp_be16 csum_tcpudp_ipv4(rp_be32 src, rp_be32 dst, uint8_t proto, const void *l4, uint16_t l4_len)
{
    uint32_t sum = csum_pseudo_ipv4(src, dst, proto, l4_len);
    rp_be16 c = csum_fold(csum_partial(l4, l4_len, sum));

    return (proto == 17 && c == 0) ? 0xffff : c;
}
