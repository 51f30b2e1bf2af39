/*
 * tunnel/tun_impl.h: internals of the tunnel module (not for other modules).
 */
#ifndef RP_TUNNEL_TUN_IMPL_H
#define RP_TUNNEL_TUN_IMPL_H

#include "tunnel/tunnel.h"

#include <netinet/in.h>
#include <sys/socket.h>

/* Open addressing with linear probing over a power-of-two array at most half
 * full, so a probe sequence is short and always ends at an empty slot. The
 * hash is keyed (rp_siphash): sources are outside input. */
struct tun_peer_slot {
    bool used;
    struct tun_peer_info info;
};

struct tun_peers {
    struct tun_peer_slot *slots;
    uint32_t mask;
    uint32_t count, max;
};

int tun_peers_init(struct tun_peers *p, uint32_t max);
void tun_peers_fini(struct tun_peers *p);
struct tun_peer_info *tun_peers_find(const struct tun_peers *p, uint32_t ip);
/* The entry for ip, added if absent: NULL when the table is full. */
struct tun_peer_info *tun_peers_insert(struct tun_peers *p, uint32_t ip, bool *added);
int tun_peers_remove(struct tun_peers *p, uint32_t ip);

/* The 12-byte state header for a payload of 'len' bytes. */
void tun_state_put_hdr(uint8_t *out, uint8_t type, uint32_t seq, uint16_t len);

struct tun;
/* Account and classify one received datagram (VXLAN header first) from
 * 'src': state messages go to the callback; true for a data frame (at
 * d + TUN_VXLAN_LEN), with *vni set. Shared by the socket path and the fuzz
 * target. */
bool tun_rx_datagram(struct tun *t, const uint8_t *d, size_t len, uint32_t src, uint64_t now, uint32_t *vni);

struct tun {
    int fd;
    uint16_t local_port;
    uint16_t peer_port;
    uint32_t state_vni;
    bool learn_peers;
    void (*on_state)(void *ctx, const struct tun_state_msg *msg);
    void *state_ctx;
    struct tun_peers peers;
    struct tun_stats stats;
    /* Batch scratch, sized once: no allocation per burst. Receive and send
     * have their own, so the state callback may send while a receive burst
     * is being walked. */
    struct mmsghdr rx_msgs[TUN_BURST_MAX];
    struct iovec rx_iov[TUN_BURST_MAX];
    struct sockaddr_in rx_addrs[TUN_BURST_MAX];
    struct pkt_buf *rx_bufs[TUN_BURST_MAX];
    struct mmsghdr msgs[TUN_BURST_MAX];
    struct iovec iov[TUN_BURST_MAX][2];
    struct sockaddr_in addrs[TUN_BURST_MAX];
    uint16_t tx_idx[TUN_BURST_MAX];     /* batch message -> caller index */
    bool tx_ok[TUN_BURST_MAX];
    uint8_t state_buf[TUN_BURST_MAX][TUN_VXLAN_LEN + TUN_STATE_HDR_LEN];
};

#endif
