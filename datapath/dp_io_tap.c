/*
 * datapath/dp_io_tap.c: a TAP device (IFF_TAP | IFF_NO_PI, optionally
 * IFF_VNET_HDR). The datapath holds the character-device end; the netdev end
 * belongs to the kernel (or to a namespace the device is moved into).
 *
 * TAP has no batched read or write: a burst is a bounded loop of one
 * read/write per frame, stopping at the first EAGAIN. With a vnet header no
 * offloads are negotiated, so the kernel hands over complete frames with
 * checksums filled in, and every header we write is all zeros.
 */
#include "datapath/dp_io_provider.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define TAP_VNET_HDR_LEN 10 /* struct virtio_net_hdr */

struct tap_port {
    struct dp_port_io io;
    bool vnet_hdr;
};

static void tap_close(struct dp_port_io *p)
{
    if (p->fd >= 0)
        close(p->fd);
    free(p);
}

static int tap_open(const struct dp_io_config *c, struct pkt_pool *pool, struct dp_port_io **out, char *errmsg,
                    size_t errlen)
{
    struct tap_port *t = calloc(1, sizeof(*t));
    struct ifreq ifr = {0};
    int rc, hdr_len = TAP_VNET_HDR_LEN;

    if (!t)
        return dp_io_err(errmsg, errlen, -ENOMEM, "tap: out of memory");
    dp_io_port_init(&t->io, &dp_io_tap_ops, c, pool);
    t->vnet_hdr = c->tap_vnet_hdr;
    snprintf(t->io.mode, sizeof(t->io.mode), "%s", t->vnet_hdr ? "tap vnet_hdr" : "tap");
    t->io.fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->io.fd < 0) {
        rc = dp_io_err(errmsg, errlen, -errno, "tap: open /dev/net/tun: %s", strerror(errno));
        goto fail;
    }
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", c->ifname);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (t->vnet_hdr ? IFF_VNET_HDR : 0);
    if (ioctl(t->io.fd, TUNSETIFF, &ifr) < 0) {
        rc = dp_io_err(errmsg, errlen, -errno, "tap: TUNSETIFF %s: %s", c->ifname, strerror(errno));
        goto fail;
    }
    if (t->vnet_hdr) {
        if (ioctl(t->io.fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
            rc = dp_io_err(errmsg, errlen, -errno, "tap: TUNSETVNETHDRSZ: %s", strerror(errno));
            goto fail;
        }
        if (ioctl(t->io.fd, TUNSETOFFLOAD, 0UL) < 0) {
            rc = dp_io_err(errmsg, errlen, -errno, "tap: TUNSETOFFLOAD 0: %s", strerror(errno));
            goto fail;
        }
    }
    *out = &t->io;
    return 0;
fail:
    tap_close(&t->io);
    return rc;
}

static unsigned tap_rx_burst(struct dp_port_io *p, struct pkt_buf **bufs, unsigned max)
{
    struct tap_port *t = (struct tap_port *)p;
    uint8_t hdr[TAP_VNET_HDR_LEN];
    unsigned n = 0;

    while (n < max) {
        struct pkt_buf *b = dp_io_buf_for_rx(p, 0);
        struct iovec iov[2];
        int k = 0;
        ssize_t r;

        if (!b)
            break;
        if (t->vnet_hdr)
            iov[k++] = (struct iovec){.iov_base = hdr, .iov_len = sizeof(hdr)};
        iov[k++] = (struct iovec){.iov_base = b->data, .iov_len = DP_IO_MAX_FRAME};
        r = readv(p->fd, iov, k);
        if (t->vnet_hdr && r >= 0)
            r = r >= TAP_VNET_HDR_LEN ? r - TAP_VNET_HDR_LEN : -1;
        if (r < 0 && errno == EAGAIN) {
            pkt_pool_put(p->pool, b);
            break;
        }
        if (r < 0) {
            /* The device is going or gone (EBADFD, EIO): stop here; the fd
             * polls as an error and the owner unbinds the port. */
            pkt_pool_put(p->pool, b);
            p->stats.rx_dropped++;
            break;
        }
        if (r > DP_IO_MAX_FRAME) {
            /* longer than a buffer, or shorter than the vnet header */
            pkt_pool_put(p->pool, b);
            p->stats.rx_drop_oversize++;
            continue;
        }
        b->len = (uint16_t)r;
        bufs[n++] = b;
    }
    return n;
}

static unsigned tap_tx_burst(struct dp_port_io *p, struct pkt_buf *const *bufs, unsigned n)
{
    struct tap_port *t = (struct tap_port *)p;
    static const uint8_t zero_hdr[TAP_VNET_HDR_LEN];
    unsigned i;

    for (i = 0; i < n; i++) {
        const struct pkt_buf *b = bufs[i];
        struct iovec iov[2];
        int k = 0;
        ssize_t r;

        if (t->vnet_hdr)
            iov[k++] = (struct iovec){.iov_base = (void *)zero_hdr, .iov_len = sizeof(zero_hdr)};
        iov[k++] = (struct iovec){.iov_base = b->data, .iov_len = b->len};
        r = writev(p->fd, iov, k);
        if (r < 0) {
            if (errno == EAGAIN)
                break;
            p->stats.tx_drop_error++;   /* EIO: link down; EINVAL: malformed */
            continue;
        }
        p->stats.tx_packets++;
        p->stats.tx_bytes += b->len;
    }
    return i;
}

const struct dp_io_ops dp_io_tap_ops = {
    .kind = DP_IO_TAP,
    .name = "tap",
    .open = tap_open,
    .rx_burst = tap_rx_burst,
    .tx_burst = tap_tx_burst,
    .refresh_stats = NULL,
    .close = tap_close,
};
