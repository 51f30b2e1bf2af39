/*
 * datapath/dp_io_afpacket.c: AF_PACKET with TPACKET_V3 rings.
 *
 * One socket per port, bound to the interface, promiscuous, ignoring frames
 * the host itself sends. Receive walks the V3 blocks the kernel hands over
 * (no syscall: poll the fd to sleep); transmit fills frames of the tx ring and
 * flushes the whole burst with one send(), bypassing the qdisc.
 *
 * The socket is a tap: the kernel stack still handles every received frame
 * (see dp_io.h, kernel_ingress_drop). Turn GRO off on a real NIC that the
 * datapath owns: taps see frames after GRO, and a merged frame is longer than
 * a pkt_buf (it would be counted in rx_drop_oversize).
 */
#include "datapath/dp_io_provider.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define AFP_FRAME_SIZE 2048u
#define AFP_BLOCK_SIZE (1u << 16)
#define AFP_RX_BLOCK_TOV_MS 1   /* a partly filled block reaches us after at most this long */
/* Where the frame starts in a tx ring slot (the kernel's default without PACKET_TX_HAS_OFF). */
#define AFP_TX_DATA_OFS TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
#define AFP_TX_MAX_FRAME (AFP_FRAME_SIZE - AFP_TX_DATA_OFS)

struct afp_port {
    struct dp_port_io io;
    uint8_t *map;
    size_t map_len;
    /* rx: V3 blocks */
    uint8_t *rx_ring;
    uint32_t rx_blocks, rx_block;       /* count; the block being read */
    uint32_t rx_left;                   /* packets left in the current block; 0 = not opened */
    struct tpacket3_hdr *rx_next;       /* next packet in the current block */
    /* tx: fixed-size frames */
    uint8_t *tx_ring;
    uint32_t tx_mask, tx_idx;
};

static struct afp_port *afp_of(struct dp_port_io *p)
{
    return (struct afp_port *)p;
}

static void afp_close(struct dp_port_io *p)
{
    struct afp_port *a = afp_of(p);

    if (a->map)
        munmap(a->map, a->map_len);
    if (a->io.fd >= 0)
        close(a->io.fd);
    free(a);
}

static int afp_open(const struct dp_io_config *c, struct pkt_pool *pool, struct dp_port_io **out, char *errmsg,
                    size_t errlen)
{
    uint32_t frames = dp_io_ring_frames(c), per_block = AFP_BLOCK_SIZE / AFP_FRAME_SIZE;
    struct tpacket_req3 rx = {0}, tx = {0};
    struct packet_mreq mr = {0};
    struct sockaddr_ll sll = {0};
    struct afp_port *a;
    unsigned ifindex;
    int one = 1, ver = TPACKET_V3, rc;

    ifindex = if_nametoindex(c->ifname);
    if (!ifindex)
        return dp_io_err(errmsg, errlen, -ENODEV, "af_packet: no interface %s", c->ifname);
    a = calloc(1, sizeof(*a));
    if (!a)
        return dp_io_err(errmsg, errlen, -ENOMEM, "af_packet: out of memory");
    dp_io_port_init(&a->io, &dp_io_afpacket_ops, c, pool);
    snprintf(a->io.mode, sizeof(a->io.mode), "af_packet tpacket_v3");

    /* Protocol 0 until bound: nothing is queued before the rings exist. */
    a->io.fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (a->io.fd < 0) {
        rc = dp_io_err(errmsg, errlen, -errno, "af_packet: socket: %s", strerror(errno));
        goto fail;
    }
    if (setsockopt(a->io.fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver)) < 0) {
        rc = dp_io_err(errmsg, errlen, -errno, "af_packet: PACKET_VERSION v3: %s", strerror(errno));
        goto fail;
    }
    if (setsockopt(a->io.fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0) {
        rc = dp_io_err(errmsg, errlen, -errno, "af_packet: PACKET_QDISC_BYPASS: %s", strerror(errno));
        goto fail;
    }
    /* Without PACKET_LOSS a frame the kernel refuses (shorter than an Ethernet
     * header, say) stays at the head of the tx ring and stalls it for good. */
    if (setsockopt(a->io.fd, SOL_PACKET, PACKET_LOSS, &one, sizeof(one)) < 0) {
        rc = dp_io_err(errmsg, errlen, -errno, "af_packet: PACKET_LOSS: %s", strerror(errno));
        goto fail;
    }
    /* Frames the host sends out of this port are not ours to forward. */
    if (setsockopt(a->io.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0) {
        rc = dp_io_err(errmsg, errlen, -errno, "af_packet: PACKET_IGNORE_OUTGOING: %s", strerror(errno));
        goto fail;
    }

    a->rx_blocks = frames / per_block;
    rx.tp_block_size = AFP_BLOCK_SIZE;
    rx.tp_block_nr = a->rx_blocks;
    rx.tp_frame_size = AFP_FRAME_SIZE;
    rx.tp_frame_nr = frames;
    rx.tp_retire_blk_tov = AFP_RX_BLOCK_TOV_MS;
    if (setsockopt(a->io.fd, SOL_PACKET, PACKET_RX_RING, &rx, sizeof(rx)) < 0) {
        rc = dp_io_err(errmsg, errlen, -errno, "af_packet: PACKET_RX_RING (%u frames): %s", frames,
                       strerror(errno));
        goto fail;
    }
    tx.tp_block_size = AFP_BLOCK_SIZE;
    tx.tp_block_nr = frames / per_block;
    tx.tp_frame_size = AFP_FRAME_SIZE;
    tx.tp_frame_nr = frames;
    tx.tp_retire_blk_tov = 0;   /* must be 0 for a tx ring */
    if (setsockopt(a->io.fd, SOL_PACKET, PACKET_TX_RING, &tx, sizeof(tx)) < 0) {
        rc = dp_io_err(errmsg, errlen, -errno, "af_packet: PACKET_TX_RING (%u frames): %s", frames,
                       strerror(errno));
        goto fail;
    }
    a->map_len = (size_t)2 * frames * AFP_FRAME_SIZE;
    a->map = mmap(NULL, a->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, a->io.fd, 0);
    if (a->map == MAP_FAILED) {
        a->map = NULL;
        rc = dp_io_err(errmsg, errlen, -errno, "af_packet: mmap rings: %s", strerror(errno));
        goto fail;
    }
    a->rx_ring = a->map;
    a->tx_ring = a->map + (size_t)frames * AFP_FRAME_SIZE;
    a->tx_mask = frames - 1;

    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = (int)ifindex;
    if (bind(a->io.fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        rc = dp_io_err(errmsg, errlen, -errno, "af_packet: bind to %s: %s", c->ifname, strerror(errno));
        goto fail;
    }
    /* Membership ends with the socket: nothing to undo at close. */
    mr.mr_ifindex = (int)ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(a->io.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
        rc = dp_io_err(errmsg, errlen, -errno, "af_packet: promiscuous mode on %s: %s", c->ifname,
                       strerror(errno));
        goto fail;
    }
    *out = &a->io;
    return 0;
fail:
    afp_close(&a->io);
    return rc;
}

static struct tpacket_block_desc *afp_block(struct afp_port *a, uint32_t i)
{
    return (struct tpacket_block_desc *)(a->rx_ring + (size_t)i * AFP_BLOCK_SIZE);
}

static unsigned afp_rx_burst(struct dp_port_io *p, struct pkt_buf **bufs, unsigned max)
{
    struct afp_port *a = afp_of(p);
    unsigned n = 0;
    /* Each turn either takes a packet or releases a block: bounded by max plus the ring. */
    unsigned turns = max + a->rx_blocks;

    while (n < max && turns--) {
        struct tpacket_block_desc *bd = afp_block(a, a->rx_block);
        struct tpacket3_hdr *h;
        struct pkt_buf *b;

        if (a->rx_left == 0) {
            if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
                break;
            a->rx_left = bd->hdr.bh1.num_pkts;
            a->rx_next = (struct tpacket3_hdr *)((uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt);
            if (a->rx_left == 0)
                goto release;
        }
        h = a->rx_next;
        if (RP_UNLIKELY(h->tp_snaplen > DP_IO_MAX_FRAME || h->tp_len != h->tp_snaplen)) {
            p->stats.rx_drop_oversize++;
        } else {
            b = dp_io_buf_for_rx(p, h->tp_snaplen);
            if (!b)
                break;  /* pool empty: the frame waits in the ring */
            memcpy(b->data, (uint8_t *)h + h->tp_mac, h->tp_snaplen);
            /* A frame sent by this host with checksum offload (a veth peer)
             * carries only the pseudo-header sum: finish it, since it
             * leaves through a tunnel or another port. */
            if (RP_UNLIKELY(h->tp_status & TP_STATUS_CSUMNOTREADY))
                dp_io_csum_complete(b->data, h->tp_snaplen);
            bufs[n++] = b;
        }
        a->rx_next = (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset);
        if (--a->rx_left > 0)
            continue;
    release:
        __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        a->rx_block = (a->rx_block + 1) % a->rx_blocks;
    }
    return n;
}

static unsigned afp_tx_burst(struct dp_port_io *p, struct pkt_buf *const *bufs, unsigned n)
{
    struct afp_port *a = afp_of(p);
    unsigned i, queued = 0;

    for (i = 0; i < n; i++) {
        const struct pkt_buf *b = bufs[i];
        struct tpacket3_hdr *h = (struct tpacket3_hdr *)(a->tx_ring + (size_t)a->tx_idx * AFP_FRAME_SIZE);
        uint32_t status;

        if (RP_UNLIKELY(b->len > AFP_TX_MAX_FRAME)) {
            p->stats.tx_drop_oversize++;
            continue;
        }
        status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
        if (RP_UNLIKELY(status & TP_STATUS_WRONG_FORMAT))
            p->stats.tx_drop_error++;   /* refused earlier (not expected with PACKET_LOSS); reuse the slot */
        else if (status != TP_STATUS_AVAILABLE)
            break;                      /* still queued: ring full */
        memcpy((uint8_t *)h + AFP_TX_DATA_OFS, b->data, b->len);
        h->tp_len = b->len;
        h->tp_snaplen = b->len;
        h->tp_next_offset = 0;
        __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
        a->tx_idx = (a->tx_idx + 1) & a->tx_mask;
        queued++;
        p->stats.tx_packets++;
        p->stats.tx_bytes += b->len;
    }
    /* One flush per burst. A transient error (ENOBUFS, EAGAIN) leaves the
     * frames queued: the next flush sends them. */
    if (queued && send(p->fd, NULL, 0, MSG_DONTWAIT) < 0 && errno != ENOBUFS && errno != EAGAIN)
        p->stats.tx_drop_error++;
    return i;
}

static void afp_refresh_stats(struct dp_port_io *p)
{
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof(st);

    /* The kernel resets these counters on every read: accumulate. */
    if (getsockopt(p->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
        p->stats.rx_drop_kernel += st.tp_drops;
}

const struct dp_io_ops dp_io_afpacket_ops = {
    .kind = DP_IO_AFPACKET,
    .name = "afpacket",
    .open = afp_open,
    .rx_burst = afp_rx_burst,
    .tx_burst = afp_tx_burst,
    .refresh_stats = afp_refresh_stats,
    .close = afp_close,
};
