/*
 * datapath/dp_io.h: packet I/O of the datapath, one interface over several
 * backends (AF_PACKET TPACKET_V3 rings, AF_XDP, TAP, and a dummy backend that
 * tests use to push frames in and read what was sent).
 *
 * A port is opened once (control path: may allocate, may make syscalls, returns
 * 0 or a negative errno and fills a human-readable reason) and then moved in
 * bursts (fast path: no allocation, no locks, at most one batched syscall per
 * burst except TAP, which has no batched read; never blocks).
 *
 * Buffer ownership, the one rule to remember:
 *  - dp_io_rx_burst() takes buffers from the port's pkt_pool, fills them and
 *    hands them to the caller, who owns them from then on (buf->data starts
 *    PKT_HEADROOM bytes into buf->room, buf->in_port = config.port_no).
 *  - dp_io_tx_burst() copies frames into the backend's ring and never keeps
 *    or frees a buffer: every buffer, sent or not, stays the caller's.
 *
 * Taking packets away from the kernel: an AF_PACKET socket is a tap, so the
 * kernel stack also handles every frame the datapath receives. A port the
 * datapath owns must therefore drop frames at netdev ingress (taps see them
 * before that hook): set dp_io_config.kernel_ingress_drop, or call
 * dp_io_kernel_ingress_drop() yourself. AF_XDP needs nothing: its XDP program
 * redirects frames before the stack, passing to the kernel only the addresses
 * the caller lists (a gateway uplink keeps its kernel address for BGP/ARP).
 */
#ifndef RP_DATAPATH_DP_IO_H
#define RP_DATAPATH_DP_IO_H

#include "lib/packet.h"

#include <stddef.h>
#include <stdint.h>

enum dp_io_kind { DP_IO_AFPACKET, DP_IO_XDP, DP_IO_TAP, DP_IO_DUMMY };

#define DP_IO_MAX_KERNEL_IPV4 64

struct dp_io_config {
    enum dp_io_kind kind;
    const char *ifname;         /* interface (TAP: created if absent; dummy: a label) */
    uint32_t port_no;           /* written to pkt_buf.in_port on receive */
    uint32_t ring_frames;       /* frames per ring (rx and tx); 0 = 1024; rounded up to a power of 2 */
    /* AF_PACKET */
    bool kernel_ingress_drop;   /* install an nftables netdev ingress drop for this port; removed on close */
    /* AF_XDP */
    uint32_t queue_id;          /* NIC queue to bind (0 unless the NIC has several) */
    bool xdp_force_generic;     /* skip native mode, attach in generic (SKB) mode */
    bool xdp_force_native;      /* fail instead of falling back to generic */
    bool busy_poll;             /* SO_PREFER_BUSY_POLL + SO_BUSY_POLL on the socket */
    const rp_be32 *kernel_ipv4; /* IPv4 (and ARP for them) passed to the kernel stack (AF_XDP; AF_PACKET with kernel_ingress_drop) */
    unsigned n_kernel_ipv4;     /* at most DP_IO_MAX_KERNEL_IPV4 */
    bool kernel_ipv6_local;     /* pass IPv6 link-local and link-scope multicast (ND) to the kernel */
    /* TAP */
    bool tap_vnet_hdr;          /* IFF_VNET_HDR: a 10-byte virtio header on every frame (no offloads) */
};

/* Counters of one port. Every drop is counted under its reason; the two
 * *_dropped fields are the sums. */
struct dp_io_stats {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t rx_dropped, tx_dropped;
    uint64_t rx_drop_kernel;    /* the kernel's ring was full (the reader or the pool was too slow) */
    uint64_t rx_drop_oversize;  /* longer than a pkt_buf holds after headroom, or truncated */
    uint64_t tx_drop_full;      /* tx ring full: not accepted by tx_burst */
    uint64_t tx_drop_oversize;  /* longer than a ring frame holds */
    uint64_t tx_drop_error;     /* the kernel refused the frame (bad format, send error) */
};

struct dp_port_io;

/* Open a port. 0, or a negative errno with 'errmsg' saying why. */
int dp_io_open(const struct dp_io_config *c, struct pkt_pool *pool, struct dp_port_io **out, char *errmsg,
               size_t errlen);
/* Accepts NULL. Removes whatever open installed (XDP program, nftables rule). */
void dp_io_close(struct dp_port_io *p);

/* Receive up to 'max' frames into buffers taken from the pool; returns the
 * count. Stops early when nothing is waiting or the pool is empty (frames
 * then wait in the ring). Never blocks. */
unsigned dp_io_rx_burst(struct dp_port_io *p, struct pkt_buf **bufs, unsigned max);
/* Send bufs[0..n): returns how many from the front were consumed (sent, or
 * dropped with a counted reason such as oversize). The rest were not
 * accepted because the ring is full; they are counted in tx_drop_full, so the
 * caller drops them rather than retrying. The caller owns every buffer. */
unsigned dp_io_tx_burst(struct dp_port_io *p, struct pkt_buf *const *bufs, unsigned n);

/* A file descriptor that polls readable when frames are waiting. */
int dp_io_fd(const struct dp_port_io *p);
/* What is actually in use, e.g. "af_xdp native copy", "af_xdp generic copy",
 * "af_packet tpacket_v3", "tap", "tap vnet_hdr", "dummy". */
const char *dp_io_mode(const struct dp_port_io *p);
enum dp_io_kind dp_io_kind(const struct dp_port_io *p);
/* Counters, with the kernel's own drop counts folded in (a syscall: control path). */
void dp_io_stats(struct dp_port_io *p, struct dp_io_stats *out);
/* "afpacket", "xdp", "tap", "dummy"; NULL for an unknown kind. */
const char *dp_io_kind_name(enum dp_io_kind k);

/* Install (on=true) or remove an nftables netdev table "rampart_dp_<ifname>"
 * whose ingress chain drops every frame of 'ifname', so that only the
 * datapath's AF_PACKET tap handles them. Runs nft(8) without a shell. */
int dp_io_kernel_ingress_drop(const char *ifname, bool on, char *errmsg, size_t errlen);
/* The same, letting through to the kernel IPv4 for pass_ipv4 (network
 * order), every ARP (the kernel ignores ARP for addresses it does not
 * hold) and, with pass_ipv6_local, IPv6 link-local traffic. With
 * kernel_ingress_drop set, dp_io_open installs this with the port's
 * kernel_ipv4 list (a gateway uplink). */
int dp_io_kernel_ingress_filter(const char *ifname, bool on, const rp_be32 *pass_ipv4, unsigned n_pass,
                                bool pass_ipv6_local, char *errmsg, size_t errlen);

/* --- dummy backend (tests) ------------------------------------------------------ */

/* Queue a frame for the next rx_burst. 0, -ENOSPC when the queue is full,
 * -EMSGSIZE when longer than a pkt_buf holds after headroom, -EINVAL when
 * 'p' is not a dummy port. */
int dp_io_dummy_inject(struct dp_port_io *p, const void *frame, size_t len);
/* Take the oldest frame tx_burst sent: 0 with its length in *len, -EAGAIN when
 * none, -ENOSPC when 'cap' is too small (the frame stays queued). */
int dp_io_dummy_take_tx(struct dp_port_io *p, void *buf, size_t cap, size_t *len);
/* Frames queued for rx and sent on tx, waiting to be taken. */
unsigned dp_io_dummy_rx_pending(const struct dp_port_io *p);
unsigned dp_io_dummy_tx_pending(const struct dp_port_io *p);

#endif
