/*
 * tunnel/tunnel.h: VXLAN between hosts over one UDP socket, a bounded table
 * of peer hosts, and the transport of flow-state messages.
 *
 * A packet leaving through a port on another host travels as VXLAN (RFC
 * 7348) with the VNI set to that port's 24-bit tunnel key, so the egress host
 * outputs it without simulating. The kernel builds the outer IPv4/UDP
 * headers: a datagram is the 8-byte VXLAN header and the inner Ethernet
 * frame. Datagrams move in batches (recvmmsg/sendmmsg), straight into and out
 * of pkt_bufs: tun_rx_burst() lands the inner frame at PKT_HEADROOM, so a
 * received frame can be re-encapsulated without copying. Decapsulation
 * requires the I flag, ignores the reserved bits as RFC 7348 asks (the Linux
 * VXLAN device and others set none, but a receiver must not refuse them),
 * and accepts any outer UDP checksum, 0 included (the kernel VXLAN device
 * sends 0). A malformed datagram is dropped and counted under a named reason
 * (enum tun_drop); nothing is read past what was received.
 *
 * One reserved VNI (TUN_STATE_VNI_DEFAULT, 0xFFFFFF, unless configured
 * otherwise; never a port's tunnel key) carries flow-state messages instead
 * of a frame: a 12-byte header (version, type, header length, sequence,
 * payload length) around opaque bytes (nat/'s encoding; this module does not
 * interpret them). The daemon sends state with tun_send_state() to every
 * host that may see the return traffic BEFORE it sends the packet the state
 * belongs to; both leave through the same socket, so a peer's receive path
 * sees them in that order (UDP does not promise it across a network, which
 * is why each message carries a per-peer sequence and gaps are counted). The
 * receiver's tun_rx_burst() hands each message to the configured callback
 * while it runs, so state is installed before the caller sees the data
 * packets of the same burst.
 *
 * Peers are the hosts at the other end (tunnel IP -> counters, last seen).
 * The table is bounded (max_peers); by default only configured peers are
 * accepted and datagrams from anyone else are dropped (TUN_DROP_UNKNOWN_PEER).
 *
 * Threading: one struct tun is used by one thread (the datapath thread that
 * owns it); control calls (peer add/remove, stats) must run on that thread
 * too or be serialised by the caller.
 */
#ifndef RP_TUNNEL_TUNNEL_H
#define RP_TUNNEL_TUNNEL_H

#include "lib/packet.h"
#include "lib/types.h"

#include <stddef.h>
#include <stdint.h>

#define TUN_DEFAULT_PORT VXLAN_PORT     /* 4789, the IANA VXLAN port */
#define TUN_VNI_MAX 0xFFFFFFu
#define TUN_STATE_VNI_DEFAULT 0xFFFFFFu /* the reserved VNI for flow state */
#define TUN_BURST_MAX 64                /* datagrams per recvmmsg/sendmmsg */
#define TUN_PEERS_DEFAULT 256
#define TUN_PEERS_LIMIT 65536
#define TUN_VXLAN_LEN 8

/* --- flow-state framing ------------------------------------------------------------- */

/* After the VXLAN header of a datagram on the state VNI:
 *   version 1, type 1, header length 1 (>= 12: a later minor version may
 *   append fields, a receiver skips them), flags 1 (ignored), sequence 4,
 *   payload length 2, reserved 2, then exactly 'payload length' bytes.
 * Another version is refused; so is a datagram whose length is not header
 * length + payload length. */
#define TUN_STATE_VERSION 1
#define TUN_STATE_HDR_LEN 12
#define TUN_STATE_MSG_FLOW 1            /* nat/ flow-state records */
/* Largest payload: a state datagram stays within a 1500-byte underlay MTU
 * (1500 - 20 IPv4 - 8 UDP - 8 VXLAN - 12 state header = 1452). */
#define TUN_STATE_PAYLOAD_MAX 1452

struct tun_state_hdr {
    uint8_t version;
    uint8_t type;
    uint8_t hdr_len;
    uint8_t flags;
    rp_be32 seq;
    rp_be16 len;
    rp_be16 rsvd;
} __attribute__((packed));
_Static_assert(sizeof(struct tun_state_hdr) == TUN_STATE_HDR_LEN, "tun_state_hdr");

/* A received state message. 'data' points into the receive buffer and is
 * valid only during the callback. */
struct tun_state_msg {
    uint32_t src_ip;        /* sender's tunnel IP, host order */
    uint32_t seq;           /* per (sender, receiver) sequence, from 1 */
    uint8_t type;           /* TUN_STATE_MSG_* */
    uint16_t len;
    const uint8_t *data;
};

/* --- drop reasons -------------------------------------------------------------------- */

enum tun_drop {
    TUN_DROP_NONE = 0,
    TUN_DROP_TOO_SHORT,         /* shorter than the VXLAN header */
    TUN_DROP_BAD_FLAGS,         /* I flag clear */
    TUN_DROP_INNER_TOO_SHORT,   /* inner frame shorter than an Ethernet header */
    TUN_DROP_TRUNCATED,         /* datagram larger than a packet buffer */
    TUN_DROP_UNKNOWN_PEER,      /* source not in the peer table (learning off) */
    TUN_DROP_STATE_TOO_SHORT,   /* state VNI, shorter than the state header */
    TUN_DROP_STATE_VERSION,     /* unknown state framing version */
    TUN_DROP_STATE_HDR_LEN,     /* header length below 12 or past the datagram */
    TUN_DROP_STATE_LENGTH,      /* payload length disagrees with the datagram */
    TUN_DROP_STATE_TYPE,        /* unknown message type */
    TUN_DROP_STATE_NO_HANDLER,  /* no callback configured */
    TUN_DROP_TX_BAD_VNI,        /* VNI wider than 24 bits, or the state VNI */
    TUN_DROP_TX_NO_HEADROOM,    /* no room to push the VXLAN header */
    TUN_DROP_TX_TOO_SHORT,      /* frame shorter than an Ethernet header */
    TUN_DROP_TX_SOCK_FULL,      /* socket send buffer full (EAGAIN/ENOBUFS) */
    TUN_DROP_TX_TOO_BIG,        /* datagram over the path MTU (EMSGSIZE) */
    TUN_DROP_TX_ERROR,          /* any other send error (e.g. no route) */
    TUN_DROP_COUNT
};

/* Short, stable name ("too_short", "bad_flags", ...) for counters and logs. */
const char *tun_drop_name(enum tun_drop d);

/* --- wire helpers (pure: no socket, no state) ------------------------------------------- */

/* Push a VXLAN header for 'vni' in front of b's frame: 0, -ENOSPC (headroom),
 * -EINVAL (vni wider than 24 bits). */
int tun_vxlan_encap(struct pkt_buf *b, uint32_t vni);
/* Check the VXLAN header at the start of a datagram and read the VNI; the
 * payload (inner frame or state message) starts at TUN_VXLAN_LEN. Does not
 * check the payload. */
enum tun_drop tun_vxlan_decap(const uint8_t *dgram, size_t len, uint32_t *vni);
/* Frame a state message (header + payload) into buf: its length, or
 * -EMSGSIZE (len > TUN_STATE_PAYLOAD_MAX), -ENOSPC (cap too small). */
int tun_state_encode(uint8_t *buf, size_t cap, uint8_t type, uint32_t seq, const void *msg, size_t len);
/* Check a state message (the bytes after the VXLAN header) and point 'out'
 * at its payload (src_ip left 0). Unknown types are refused. */
enum tun_drop tun_state_decode(const uint8_t *p, size_t len, struct tun_state_msg *out);

/* --- the tunnel ---------------------------------------------------------------------------- */

struct tun_config {
    uint32_t local_ip;      /* tunnel IP to bind, host order; 0 binds every address */
    uint16_t port;          /* local UDP port; 0 lets the kernel pick (tests) */
    uint16_t peer_port;     /* UDP port peers listen on */
    uint32_t state_vni;     /* reserved VNI for flow state */
    uint32_t max_peers;     /* 1..TUN_PEERS_LIMIT */
    bool learn_peers;       /* accept unknown sources and add them while there is room */
    int rcvbuf, sndbuf;     /* socket buffer bytes; 0 keeps the kernel default */
    /* Called from tun_rx_burst() for each valid state message; it may send
     * on this tunnel (tun_send_state, tun_tx_burst) but not receive. */
    void (*on_state)(void *ctx, const struct tun_state_msg *msg);
    void *state_ctx;
};

/* Defaults: any address, port and peer_port 4789, state VNI 0xFFFFFF,
 * TUN_PEERS_DEFAULT peers, no learning, kernel buffer sizes, no callback. */
void tun_config_init(struct tun_config *c);

struct tun;

/* Open and bind the socket. 0, or a negative errno with a reason in 'err'
 * (may be NULL): -EINVAL (bad config), -EADDRINUSE, ... */
int tun_open(const struct tun_config *cfg, struct tun **out, char *err, size_t errlen);
void tun_close(struct tun *t);
/* The socket, non-blocking, for the caller's poll/epoll loop. */
int tun_fd(const struct tun *t);
/* The bound local port (what the kernel picked when cfg.port was 0). */
uint16_t tun_local_port(const struct tun *t);
/* Change the port datagrams are sent to (tests with several tunnels on one
 * address). */
void tun_set_peer_port(struct tun *t, uint16_t port);

/* Receive up to 'max' (<= TUN_BURST_MAX) datagrams with one recvmmsg, taking
 * buffers from 'pool'. State messages go to the callback and their buffers
 * back to the pool; malformed datagrams are counted and dropped. Returns how
 * many data frames were stored in bufs[] (outer headers removed, frame at
 * PKT_HEADROOM), with their VNIs in vnis[] and, if src_ips is not NULL, the
 * sending peer (host order) in src_ips[]. The caller owns the returned
 * buffers. 0 when nothing is waiting or the pool is empty. */
unsigned tun_rx_burst(struct tun *t, struct pkt_pool *pool, struct pkt_buf **bufs, uint32_t *vnis,
                      uint32_t *src_ips, unsigned max);
/* Encapsulate and send n frames, bufs[i] to dst_ips[i] (host order) with
 * vnis[i], in sendmmsg batches. The caller keeps the buffers; each is
 * returned as it was given (the VXLAN header is pushed and pulled back).
 * Frames that cannot be sent are counted by reason. Returns how many the
 * kernel accepted. */
unsigned tun_tx_burst(struct tun *t, struct pkt_buf **bufs, const uint32_t *vnis, const uint32_t *dst_ips,
                      unsigned n);
/* Send one state message (type TUN_STATE_MSG_FLOW) to each of n_dst peers
 * (host order tunnel IPs), each with that peer's next sequence number (0,
 * "unsequenced", for a destination not in the peer table).
 * Returns how many peers it was handed to the kernel for, or -EMSGSIZE
 * (len > TUN_STATE_PAYLOAD_MAX), -EINVAL. */
int tun_send_state(struct tun *t, const uint32_t *dst_ips, unsigned n_dst, const void *msg, size_t len);

/* --- peers ----------------------------------------------------------------------------------- */

struct tun_peer_info {
    uint32_t ip;                /* host order */
    uint64_t rx_packets, rx_bytes;  /* data frames; bytes of UDP payload */
    uint64_t tx_packets, tx_bytes;
    uint64_t rx_state, tx_state;    /* state messages */
    uint64_t state_seq_gaps;    /* received messages whose seq was not the last + 1 */
    uint32_t rx_state_seq;      /* last sequence received */
    uint32_t tx_state_seq;      /* last sequence sent */
    uint64_t last_seen_ns;      /* CLOCK_MONOTONIC of the last valid datagram; 0 never */
};

/* 0, -EEXIST, -ENOSPC (table at max_peers). */
int tun_peer_add(struct tun *t, uint32_t ip);
/* 0, -ENOENT. */
int tun_peer_remove(struct tun *t, uint32_t ip);
/* 0 and *out, or -ENOENT. */
int tun_peer_get(const struct tun *t, uint32_t ip, struct tun_peer_info *out);
/* Copy up to max peers into out (table order); returns how many. */
unsigned tun_peer_list(const struct tun *t, struct tun_peer_info *out, unsigned max);
unsigned tun_peer_count(const struct tun *t);

/* --- totals ---------------------------------------------------------------------------------- */

struct tun_stats {
    uint64_t rx_packets, rx_bytes;  /* data frames delivered; bytes of UDP payload */
    uint64_t tx_packets, tx_bytes;
    uint64_t rx_state, tx_state;    /* state messages */
    uint64_t rx_batches;            /* recvmmsg calls that returned datagrams */
    uint64_t peer_table_full;       /* learning wanted a peer the table had no room for */
    uint64_t drops[TUN_DROP_COUNT];
};

void tun_stats(const struct tun *t, struct tun_stats *out);

#endif
