/*
 * datapath/dp_io_dummy.c: a backend without a device, for tests. Frames
 * injected with dp_io_dummy_inject() come out of rx_burst; frames given to
 * tx_burst wait for dp_io_dummy_take_tx(). Both queues are fixed rings of
 * ring_frames slots allocated at open. The fd is an eventfd that is readable
 * while injected frames wait, so event loops can be tested too.
 */
#include "datapath/dp_io_provider.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct dummy_slot {
    uint16_t len;
    uint8_t data[PKT_BUF_SIZE];  /* tx may carry pushed headers: up to a whole buffer */
};

struct dummy_ring {
    struct dummy_slot *slots;
    uint32_t mask, head, tail;  /* head: next to take; tail: next to fill; free-running */
};

struct dummy_port {
    struct dp_port_io io;
    struct dummy_ring rx, tx;
};

static struct dummy_port *dummy_of(struct dp_port_io *p)
{
    return (struct dummy_port *)p;
}

static uint32_t ring_count(const struct dummy_ring *r)
{
    return r->tail - r->head;
}

static bool ring_full(const struct dummy_ring *r)
{
    return ring_count(r) > r->mask;
}

static void dummy_close(struct dp_port_io *p)
{
    struct dummy_port *d = dummy_of(p);

    if (d->io.fd >= 0)
        close(d->io.fd);
    free(d->rx.slots);
    free(d->tx.slots);
    free(d);
}

static int dummy_open(const struct dp_io_config *c, struct pkt_pool *pool, struct dp_port_io **out, char *errmsg,
                      size_t errlen)
{
    uint32_t n = dp_io_ring_frames(c);
    struct dummy_port *d = calloc(1, sizeof(*d));
    int rc;

    if (!d)
        return dp_io_err(errmsg, errlen, -ENOMEM, "dummy: out of memory");
    dp_io_port_init(&d->io, &dp_io_dummy_ops, c, pool);
    d->rx.mask = d->tx.mask = n - 1;
    d->rx.slots = calloc(n, sizeof(struct dummy_slot));
    d->tx.slots = calloc(n, sizeof(struct dummy_slot));
    if (!d->rx.slots || !d->tx.slots) {
        rc = dp_io_err(errmsg, errlen, -ENOMEM, "dummy: cannot allocate %u-frame queues", n);
        goto fail;
    }
    d->io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->io.fd < 0) {
        rc = dp_io_err(errmsg, errlen, -errno, "dummy: eventfd: %s", strerror(errno));
        goto fail;
    }
    *out = &d->io;
    return 0;
fail:
    dummy_close(&d->io);
    return rc;
}

static unsigned dummy_rx_burst(struct dp_port_io *p, struct pkt_buf **bufs, unsigned max)
{
    struct dummy_port *d = dummy_of(p);
    unsigned n = 0;

    while (n < max && ring_count(&d->rx) > 0) {
        struct dummy_slot *s = &d->rx.slots[d->rx.head & d->rx.mask];
        struct pkt_buf *b = dp_io_buf_for_rx(p, s->len);

        if (!b)
            break;
        memcpy(b->data, s->data, s->len);
        bufs[n++] = b;
        d->rx.head++;
    }
    if (ring_count(&d->rx) == 0) {
        uint64_t v;
        /* Drain the eventfd so that poll() stops reporting frames that are gone. */
        if (read(p->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            return n;
    }
    return n;
}

static unsigned dummy_tx_burst(struct dp_port_io *p, struct pkt_buf *const *bufs, unsigned n)
{
    struct dummy_port *d = dummy_of(p);
    unsigned i;

    for (i = 0; i < n; i++) {
        const struct pkt_buf *b = bufs[i];
        struct dummy_slot *s;

        if (b->len > PKT_BUF_SIZE) {
            p->stats.tx_drop_oversize++;
            continue;
        }
        if (ring_full(&d->tx))
            break;
        s = &d->tx.slots[d->tx.tail & d->tx.mask];
        memcpy(s->data, b->data, b->len);
        s->len = b->len;
        d->tx.tail++;
        p->stats.tx_packets++;
        p->stats.tx_bytes += b->len;
    }
    return i;
}

int dp_io_dummy_inject(struct dp_port_io *p, const void *frame, size_t len)
{
    struct dummy_port *d;
    struct dummy_slot *s;
    uint64_t one = 1;

    if (!p || p->ops != &dp_io_dummy_ops || (!frame && len))
        return -EINVAL;
    d = dummy_of(p);
    if (len > DP_IO_MAX_FRAME)
        return -EMSGSIZE;
    if (ring_full(&d->rx))
        return -ENOSPC;
    s = &d->rx.slots[d->rx.tail & d->rx.mask];
    if (len)
        memcpy(s->data, frame, len);
    s->len = (uint16_t)len;
    d->rx.tail++;
    if (write(p->fd, &one, sizeof(one)) < 0)
        return -errno;
    return 0;
}

int dp_io_dummy_take_tx(struct dp_port_io *p, void *buf, size_t cap, size_t *len)
{
    struct dummy_port *d;
    struct dummy_slot *s;

    if (!p || p->ops != &dp_io_dummy_ops || !len || (!buf && cap))
        return -EINVAL;
    d = dummy_of(p);
    if (ring_count(&d->tx) == 0)
        return -EAGAIN;
    s = &d->tx.slots[d->tx.head & d->tx.mask];
    if (s->len > cap)
        return -ENOSPC;
    if (s->len)
        memcpy(buf, s->data, s->len);
    *len = s->len;
    d->tx.head++;
    return 0;
}

unsigned dp_io_dummy_rx_pending(const struct dp_port_io *p)
{
    if (!p || p->ops != &dp_io_dummy_ops)
        return 0;
    return ring_count(&((const struct dummy_port *)p)->rx);
}

unsigned dp_io_dummy_tx_pending(const struct dp_port_io *p)
{
    if (!p || p->ops != &dp_io_dummy_ops)
        return 0;
    return ring_count(&((const struct dummy_port *)p)->tx);
}

const struct dp_io_ops dp_io_dummy_ops = {
    .kind = DP_IO_DUMMY,
    .name = "dummy",
    .open = dummy_open,
    .rx_burst = dummy_rx_burst,
    .tx_burst = dummy_tx_burst,
    .refresh_stats = NULL,
    .close = dummy_close,
};
