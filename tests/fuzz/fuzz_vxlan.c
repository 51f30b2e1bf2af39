/*
 * Fuzz the tunnel's receive side: any bytes as a VXLAN datagram through the
 * same classification the socket path uses (header checks, peer learning
 * into a small bounded table, flow-state framing, the callback), and as a
 * bare flow-state message. The first byte picks the sender (one of 8
 * addresses; the high bit removes that peer first); the rest is the datagram.
 */
#include "tunnel/tun_impl.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tun *tun;
static const uint8_t *cur;
static size_t cur_len;

static void on_state(void *ctx, const struct tun_state_msg *m)
{
    volatile uint8_t sink = 0;

    (void)ctx;
    /* The payload must lie inside the datagram. */
    if (m->data < cur || m->data + m->len > cur + cur_len || m->len > TUN_STATE_PAYLOAD_MAX ||
        m->type != TUN_STATE_MSG_FLOW)
        abort();
    for (uint16_t i = 0; i < m->len; i++)
        sink ^= m->data[i];
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tun_state_msg m;
    uint32_t vni = 0;

    if (!tun) {
        struct tun_config c;
        tun_config_init(&c);
        c.local_ip = 0x7f000001;
        c.port = 0;
        c.max_peers = 4;
        c.learn_peers = true;
        c.on_state = on_state;
        if (tun_open(&c, &tun, NULL, 0) != 0)
            abort();
    }
    if (size < 1)
        return 0;
    uint32_t src = 0x0a000000u | (data[0] & 7);
    if (data[0] & 0x80)
        tun_peer_remove(tun, src);
    cur = data + 1;
    cur_len = size - 1;
    if (tun_rx_datagram(tun, cur, cur_len, src, 1, &vni)) {
        if (vni > TUN_VNI_MAX || vni == TUN_STATE_VNI_DEFAULT || cur_len < TUN_VXLAN_LEN + 14)
            abort();
    }
    if (tun_peer_count(tun) > 4)
        abort();

    /* The framing alone; a decoded message re-encodes to the same version,
     * type, sequence, length and payload (flags and reserved are ignored). */
    if (tun_state_decode(cur, cur_len, &m) == TUN_DROP_NONE) {
        uint8_t out[TUN_STATE_HDR_LEN + TUN_STATE_PAYLOAD_MAX];
        struct tun_state_msg m2;
        int n = tun_state_encode(out, sizeof(out), m.type, m.seq, m.data, m.len);
        if (n < 0 || tun_state_decode(out, (size_t)n, &m2) != TUN_DROP_NONE || m2.seq != m.seq ||
            m2.len != m.len || memcmp(m2.data, m.data, m.len) != 0)
            abort();
        if (cur[2] == TUN_STATE_HDR_LEN &&
            ((size_t)n != cur_len || memcmp(out, cur, 2) != 0 || memcmp(out + 4, cur + 4, 6) != 0 ||
             memcmp(out + TUN_STATE_HDR_LEN, cur + TUN_STATE_HDR_LEN, m.len) != 0))
            abort();
    }
    return 0;
}
