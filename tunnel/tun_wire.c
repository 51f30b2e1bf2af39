/*
 * tunnel/tun_wire.c: the VXLAN header and the flow-state framing, as pure
 * functions over bytes (the socket code and the fuzz target share them).
 */
#include "tunnel/tun_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

static const char *const drop_names[TUN_DROP_COUNT] = {
    [TUN_DROP_NONE] = "none",
    [TUN_DROP_TOO_SHORT] = "too_short",
    [TUN_DROP_BAD_FLAGS] = "bad_flags",
    [TUN_DROP_INNER_TOO_SHORT] = "inner_too_short",
    [TUN_DROP_TRUNCATED] = "truncated",
    [TUN_DROP_UNKNOWN_PEER] = "unknown_peer",
    [TUN_DROP_STATE_TOO_SHORT] = "state_too_short",
    [TUN_DROP_STATE_VERSION] = "state_version",
    [TUN_DROP_STATE_HDR_LEN] = "state_hdr_len",
    [TUN_DROP_STATE_LENGTH] = "state_length",
    [TUN_DROP_STATE_TYPE] = "state_type",
    [TUN_DROP_STATE_NO_HANDLER] = "state_no_handler",
    [TUN_DROP_TX_BAD_VNI] = "tx_bad_vni",
    [TUN_DROP_TX_NO_HEADROOM] = "tx_no_headroom",
    [TUN_DROP_TX_TOO_SHORT] = "tx_too_short",
    [TUN_DROP_TX_SOCK_FULL] = "tx_sock_full",
    [TUN_DROP_TX_TOO_BIG] = "tx_too_big",
    [TUN_DROP_TX_ERROR] = "tx_error",
};

const char *tun_drop_name(enum tun_drop d)
{
    return (unsigned)d < TUN_DROP_COUNT ? drop_names[d] : "unknown";
}

int tun_vxlan_encap(struct pkt_buf *b, uint32_t vni)
{
    uint8_t *h;

    if (vni > TUN_VNI_MAX)
        return -EINVAL;
    h = pkt_push(b, TUN_VXLAN_LEN);
    if (!h)
        return -ENOSPC;
    pkt_build_vxlan(h, vni);
    return 0;
}

enum tun_drop tun_vxlan_decap(const uint8_t *d, size_t len, uint32_t *vni)
{
    if (len < TUN_VXLAN_LEN)
        return TUN_DROP_TOO_SHORT;
    /* RFC 7348 5: reserved bits "MUST be ignored on receipt"; only I counts. */
    if (!(d[0] & VXLAN_FLAG_VNI))
        return TUN_DROP_BAD_FLAGS;
    *vni = (uint32_t)d[4] << 16 | (uint32_t)d[5] << 8 | d[6];
    return TUN_DROP_NONE;
}

void tun_state_put_hdr(uint8_t *out, uint8_t type, uint32_t seq, uint16_t len)
{
    struct tun_state_hdr h = {.version = TUN_STATE_VERSION, .type = type, .hdr_len = TUN_STATE_HDR_LEN,
                              .seq = htonl(seq), .len = htons(len)};

    memcpy(out, &h, sizeof(h));
}

int tun_state_encode(uint8_t *buf, size_t cap, uint8_t type, uint32_t seq, const void *msg, size_t len)
{
    if (len > TUN_STATE_PAYLOAD_MAX)
        return -EMSGSIZE;
    if (cap < TUN_STATE_HDR_LEN + len)
        return -ENOSPC;
    tun_state_put_hdr(buf, type, seq, (uint16_t)len);
    if (len)
        memcpy(buf + TUN_STATE_HDR_LEN, msg, len);
    return (int)(TUN_STATE_HDR_LEN + len);
}

enum tun_drop tun_state_decode(const uint8_t *p, size_t len, struct tun_state_msg *out)
{
    struct tun_state_hdr h;
    size_t plen;

    if (len < TUN_STATE_HDR_LEN)
        return TUN_DROP_STATE_TOO_SHORT;
    memcpy(&h, p, sizeof(h));
    if (h.version != TUN_STATE_VERSION)
        return TUN_DROP_STATE_VERSION;
    if (h.hdr_len < TUN_STATE_HDR_LEN || h.hdr_len > len)
        return TUN_DROP_STATE_HDR_LEN;
    plen = ntohs(h.len);
    /* A datagram has an exact length: anything but header + payload is
     * damage or a framing we do not understand. */
    if (plen != len - h.hdr_len || plen > TUN_STATE_PAYLOAD_MAX)
        return TUN_DROP_STATE_LENGTH;
    if (h.type != TUN_STATE_MSG_FLOW)
        return TUN_DROP_STATE_TYPE;
    out->src_ip = 0;
    out->seq = ntohl(h.seq);
    out->type = h.type;
    out->len = (uint16_t)plen;
    out->data = p + h.hdr_len;
    return TUN_DROP_NONE;
}
