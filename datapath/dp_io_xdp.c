/*
 * datapath/dp_io_xdp.c: AF_XDP through libxdp's xsk API, with our own XDP
 * program (datapath/dp_xdp.bpf.c, embedded at build time) loaded by libbpf.
 *
 * Open tries native (driver) XDP, then generic (SKB) unless told otherwise,
 * and says in dp_io_mode() which one is in use and whether the socket is
 * zero-copy or copy. libxdp is told not to load its own program
 * (XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD): its dispatcher needs a bpffs that
 * network namespaces here do not have, and the program must also pass the
 * kernel's own addresses through (dp_io_config.kernel_ipv4).
 *
 * UMEM: 2 x ring_frames frames of 4 KiB. The first half lives in the fill
 * and rx rings: a received frame is copied into a pkt_buf and its frame goes
 * straight back to the fill ring, so the fill ring never runs dry. The second
 * half is a stack of free tx frames, refilled from the completion ring. The
 * copy keeps pkt_pool independent of the UMEM; it costs a memcpy per packet.
 */
#include "datapath/dp_io_provider.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/xsk.h>

#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

extern const char dp_xdp_bpf_obj[];
extern const size_t dp_xdp_bpf_obj_len;

#define XDP_FRAME_SIZE XSK_UMEM__DEFAULT_FRAME_SIZE
#define XDP_XSKMAP_SIZE 64          /* max_entries of dp_xsks in dp_xdp.bpf.c */
#define XDP_CFG_IPV6_LOCAL 0x1u     /* DP_XDP_F_IPV6_LOCAL in dp_xdp.bpf.c */
#define XDP_KERNEL_TX_BATCH 32      /* frames the kernel sends per copy-mode sendto() */
#define XDP_BUSY_POLL_USECS 20
#define XDP_BUSY_POLL_BUDGET 64

struct xdp_port {
    struct dp_port_io io;
    unsigned ifindex;
    uint32_t queue_id;
    uint32_t attach_flags;          /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE once attached */
    bool busy_poll;
    struct bpf_object *obj;
    int prog_fd;
    uint8_t *umem_area;
    size_t umem_len;
    uint32_t frames;                /* per half of the UMEM; also every ring's size */
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xsk_ring_prod fill, tx;
    struct xsk_ring_cons comp, rx;
    uint64_t *tx_free;              /* stack of free tx frame addresses */
    uint32_t n_tx_free;
    struct xdp_statistics seen;     /* kernel counters already folded into io.stats */
};

static struct xdp_port *xdp_of(struct dp_port_io *p)
{
    return (struct xdp_port *)p;
}

/* Undo one attempt (socket, UMEM, program attachment); keep the loaded object. */
static void xdp_teardown_attempt(struct xdp_port *x)
{
    if (x->xsk)
        xsk_socket__delete(x->xsk);
    x->xsk = NULL;
    if (x->umem)
        xsk_umem__delete(x->umem);
    x->umem = NULL;
    if (x->attach_flags) {
        LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = x->prog_fd);
        bpf_xdp_detach((int)x->ifindex, x->attach_flags, &opts);
    }
    x->attach_flags = 0;
}

static void xdp_close(struct dp_port_io *p)
{
    struct xdp_port *x = xdp_of(p);

    xdp_teardown_attempt(x);
    if (x->obj)
        bpf_object__close(x->obj);
    if (x->umem_area)
        munmap(x->umem_area, x->umem_len);
    free(x->tx_free);
    free(x);
}

static int xdp_load_program(struct xdp_port *x, const struct dp_io_config *c, char *errmsg, size_t errlen)
{
    LIBBPF_OPTS(bpf_object_open_opts, oopts, .object_name = "dp_xdp");
    struct bpf_program *prog;
    uint32_t zero = 0, flags = c->kernel_ipv6_local ? XDP_CFG_IPV6_LOCAL : 0;
    uint8_t one = 1;
    int map_fd, rc;

    x->obj = bpf_object__open_mem(dp_xdp_bpf_obj, dp_xdp_bpf_obj_len, &oopts);
    if (!x->obj) {
        rc = -errno;
        return dp_io_err(errmsg, errlen, rc, "af_xdp: cannot open the embedded XDP object: %s", strerror(-rc));
    }
    rc = bpf_object__load(x->obj);
    if (rc)
        return dp_io_err(errmsg, errlen, rc, "af_xdp: cannot load the XDP program: %s", strerror(-rc));
    prog = bpf_object__find_program_by_name(x->obj, "dp_xdp_redirect");
    if (!prog)
        return dp_io_err(errmsg, errlen, -ENOENT, "af_xdp: program dp_xdp_redirect missing from the object");
    x->prog_fd = bpf_program__fd(prog);

    map_fd = bpf_object__find_map_fd_by_name(x->obj, "dp_kernel_ipv4");
    if (map_fd < 0)
        return dp_io_err(errmsg, errlen, -ENOENT, "af_xdp: map dp_kernel_ipv4 missing");
    for (unsigned i = 0; i < c->n_kernel_ipv4; i++) {
        uint32_t addr = c->kernel_ipv4[i];
        if (bpf_map_update_elem(map_fd, &addr, &one, BPF_ANY))
            return dp_io_err(errmsg, errlen, -errno, "af_xdp: adding a kernel address: %s", strerror(errno));
    }
    map_fd = bpf_object__find_map_fd_by_name(x->obj, "dp_cfg");
    if (map_fd < 0 || bpf_map_update_elem(map_fd, &zero, &flags, BPF_ANY))
        return dp_io_err(errmsg, errlen, -ENOENT, "af_xdp: cannot set the program's flags");
    return 0;
}

/* Attach in one mode and bind a socket to it. On failure everything this
 * attempt made is undone and errmsg says what failed. */
static int xdp_try_mode(struct xdp_port *x, const struct dp_io_config *c, uint32_t mode, char *errmsg,
                        size_t errlen)
{
    const char *mname = mode == XDP_FLAGS_DRV_MODE ? "native" : "generic";
    struct xsk_umem_config ucfg = {
        .fill_size = x->frames,
        .comp_size = x->frames,
        .frame_size = XDP_FRAME_SIZE,
        .frame_headroom = 0,
        .flags = 0,
    };
    struct xsk_socket_config scfg = {
        .rx_size = x->frames,
        .tx_size = x->frames,
        .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
        .xdp_flags = mode,
        /* Generic XDP always copies; ask for it so no driver tries zero-copy under it. */
        .bind_flags = XDP_USE_NEED_WAKEUP | (mode == XDP_FLAGS_SKB_MODE ? XDP_COPY : 0),
    };
    struct xdp_options opts = {0};
    socklen_t optlen = sizeof(opts);
    int rc, fd, map_fd;
    uint32_t idx;

    rc = bpf_xdp_attach((int)x->ifindex, x->prog_fd, mode | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
    if (rc) {
        if (rc == -EBUSY || rc == -EEXIST)
            return dp_io_err(errmsg, errlen, rc, "af_xdp: %s: another XDP program is attached to %s", mname,
                             c->ifname);
        return dp_io_err(errmsg, errlen, rc, "af_xdp: %s XDP attach to %s failed: %s", mname, c->ifname,
                         strerror(-rc));
    }
    x->attach_flags = mode;

    rc = xsk_umem__create(&x->umem, x->umem_area, x->umem_len, &x->fill, &x->comp, &ucfg);
    if (rc) {
        x->umem = NULL;
        dp_io_err(errmsg, errlen, rc, "af_xdp: %s: xsk_umem__create: %s", mname, strerror(-rc));
        goto fail;
    }
    rc = xsk_socket__create(&x->xsk, c->ifname, x->queue_id, x->umem, &x->rx, &x->tx, &scfg);
    if (rc) {
        x->xsk = NULL;
        dp_io_err(errmsg, errlen, rc, "af_xdp: %s: socket on %s queue %u: %s", mname, c->ifname, x->queue_id,
                  strerror(-rc));
        goto fail;
    }
    fd = xsk_socket__fd(x->xsk);
    map_fd = bpf_object__find_map_fd_by_name(x->obj, "dp_xsks");
    if (map_fd < 0 || bpf_map_update_elem(map_fd, &x->queue_id, &fd, BPF_ANY)) {
        rc = map_fd < 0 ? -ENOENT : -errno;
        dp_io_err(errmsg, errlen, rc, "af_xdp: %s: cannot enter the socket in the XSKMAP: %s", mname,
                  strerror(-rc));
        goto fail;
    }
    if (getsockopt(fd, SOL_XDP, XDP_OPTIONS, &opts, &optlen) < 0) {
        rc = -errno;
        dp_io_err(errmsg, errlen, rc, "af_xdp: XDP_OPTIONS: %s", strerror(errno));
        goto fail;
    }
    if (c->busy_poll) {
        int on = 1, usecs = XDP_BUSY_POLL_USECS, budget = XDP_BUSY_POLL_BUDGET;
        if (setsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &on, sizeof(on)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &usecs, sizeof(usecs)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof(budget)) < 0) {
            rc = -errno;
            dp_io_err(errmsg, errlen, rc, "af_xdp: busy polling socket options: %s", strerror(errno));
            goto fail;
        }
    }
    /* Every rx frame goes to the fill ring now; the ring is exactly that big. */
    RP_ASSERT(xsk_ring_prod__reserve(&x->fill, x->frames, &idx) == x->frames);
    for (uint32_t i = 0; i < x->frames; i++)
        *xsk_ring_prod__fill_addr(&x->fill, idx + i) = (uint64_t)i * XDP_FRAME_SIZE;
    xsk_ring_prod__submit(&x->fill, x->frames);
    x->n_tx_free = x->frames;
    for (uint32_t i = 0; i < x->frames; i++)
        x->tx_free[i] = (uint64_t)(x->frames + i) * XDP_FRAME_SIZE;

    x->io.fd = fd;
    snprintf(x->io.mode, sizeof(x->io.mode), "af_xdp %s %s%s", mname,
             (opts.flags & XDP_OPTIONS_ZEROCOPY) ? "zerocopy" : "copy", c->busy_poll ? " busy_poll" : "");
    return 0;
fail:
    xdp_teardown_attempt(x);
    return rc;
}

static int xdp_open(const struct dp_io_config *c, struct pkt_pool *pool, struct dp_port_io **out, char *errmsg,
                    size_t errlen)
{
    struct xdp_port *x;
    char native_err[160] = "";
    int rc;

    if (c->queue_id >= XDP_XSKMAP_SIZE)
        return dp_io_err(errmsg, errlen, -EINVAL, "af_xdp: queue %u beyond the XSKMAP (%d)", c->queue_id,
                         XDP_XSKMAP_SIZE);
    x = calloc(1, sizeof(*x));
    if (!x)
        return dp_io_err(errmsg, errlen, -ENOMEM, "af_xdp: out of memory");
    dp_io_port_init(&x->io, &dp_io_xdp_ops, c, pool);
    x->prog_fd = -1;
    x->queue_id = c->queue_id;
    x->busy_poll = c->busy_poll;
    x->frames = dp_io_ring_frames(c);
    x->ifindex = if_nametoindex(c->ifname);
    if (!x->ifindex) {
        rc = dp_io_err(errmsg, errlen, -ENODEV, "af_xdp: no interface %s", c->ifname);
        goto fail;
    }
    x->umem_len = (size_t)2 * x->frames * XDP_FRAME_SIZE;
    x->umem_area = mmap(NULL, x->umem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    x->tx_free = calloc(x->frames, sizeof(*x->tx_free));
    if (x->umem_area == MAP_FAILED || !x->tx_free) {
        if (x->umem_area == MAP_FAILED)
            x->umem_area = NULL;
        rc = dp_io_err(errmsg, errlen, -ENOMEM, "af_xdp: cannot allocate a %zu-byte UMEM", x->umem_len);
        goto fail;
    }
    rc = xdp_load_program(x, c, errmsg, errlen);
    if (rc)
        goto fail;
    if (!c->xdp_force_generic) {
        rc = xdp_try_mode(x, c, XDP_FLAGS_DRV_MODE, errmsg, errlen);
        if (rc == 0 || c->xdp_force_native)
            goto done;
        snprintf(native_err, sizeof(native_err), "%s", errmsg ? errmsg : "");
    }
    rc = xdp_try_mode(x, c, XDP_FLAGS_SKB_MODE, errmsg, errlen);
    if (rc && native_err[0] && errmsg && errlen) {
        char generic_err[160];
        snprintf(generic_err, sizeof(generic_err), "%s", errmsg);
        snprintf(errmsg, errlen, "%s; then %s", native_err, generic_err);
    }
done:
    if (rc)
        goto fail;
    *out = &x->io;
    return 0;
fail:
    xdp_close(&x->io);
    return rc;
}

static unsigned xdp_rx_burst(struct dp_port_io *p, struct pkt_buf **bufs, unsigned max)
{
    struct xdp_port *x = xdp_of(p);
    uint32_t want = pkt_pool_available(p->pool), got, idx_rx = 0, idx_fill = 0, i;
    unsigned n = 0;

    if (want > max)
        want = max;
    /* Busy polling: this syscall is what runs the driver's NAPI, once per burst. */
    if (x->busy_poll || xsk_ring_prod__needs_wakeup(&x->fill))
        recvfrom(p->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
    got = xsk_ring_cons__peek(&x->rx, want, &idx_rx);
    if (!got)
        return 0;
    /* Room is certain: each frame we hold came out of the fill ring. */
    RP_ASSERT(xsk_ring_prod__reserve(&x->fill, got, &idx_fill) == got);
    for (i = 0; i < got; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx_rx + i);
        uint64_t addr = xsk_umem__add_offset_to_addr(d->addr);
        struct pkt_buf *b;

        *xsk_ring_prod__fill_addr(&x->fill, idx_fill + i) = addr - addr % XDP_FRAME_SIZE;
        if (RP_UNLIKELY(d->len > DP_IO_MAX_FRAME || addr + d->len > x->umem_len)) {
            p->stats.rx_drop_oversize++;
            continue;
        }
        b = dp_io_buf_for_rx(p, d->len);
        RP_ASSERT(b);   /* 'want' was capped by what the pool holds */
        memcpy(b->data, x->umem_area + addr, d->len);
        bufs[n++] = b;
    }
    xsk_ring_prod__submit(&x->fill, got);
    xsk_ring_cons__release(&x->rx, got);
    return n;
}

static void xdp_reclaim_tx(struct xdp_port *x)
{
    uint32_t idx, done = xsk_ring_cons__peek(&x->comp, x->frames, &idx);

    for (uint32_t i = 0; i < done; i++)
        x->tx_free[x->n_tx_free++] = *xsk_ring_cons__comp_addr(&x->comp, idx + i);
    if (done)
        xsk_ring_cons__release(&x->comp, done);
}

static unsigned xdp_tx_burst(struct dp_port_io *p, struct pkt_buf *const *bufs, unsigned n)
{
    struct xdp_port *x = xdp_of(p);
    unsigned i, queued = 0;
    uint32_t idx;

    xdp_reclaim_tx(x);
    for (i = 0; i < n; i++) {
        const struct pkt_buf *b = bufs[i];
        struct xdp_desc *d;
        uint64_t addr;

        if (RP_UNLIKELY(b->len > XDP_FRAME_SIZE)) {
            p->stats.tx_drop_oversize++;
            continue;
        }
        /* The tx ring is as big as the tx half of the UMEM: a free frame means a free slot. */
        if (x->n_tx_free == 0)
            break;
        RP_ASSERT(xsk_ring_prod__reserve(&x->tx, 1, &idx) == 1);
        addr = x->tx_free[--x->n_tx_free];
        memcpy(x->umem_area + addr, b->data, b->len);
        d = xsk_ring_prod__tx_desc(&x->tx, idx);
        d->addr = addr;
        d->len = b->len;
        d->options = 0;
        queued++;
        p->stats.tx_packets++;
        p->stats.tx_bytes += b->len;
    }
    if (!queued)
        return i;
    xsk_ring_prod__submit(&x->tx, queued);
    /* Copy mode sends at most XDP_KERNEL_TX_BATCH frames per kick: one kick
     * per batch keeps the burst from lingering in the ring. Frames left by a
     * transient error (EAGAIN, EBUSY, ENOBUFS) go with the next kick. */
    for (unsigned kicks = (queued + XDP_KERNEL_TX_BATCH - 1) / XDP_KERNEL_TX_BATCH; kicks > 0; kicks--) {
        if (!xsk_ring_prod__needs_wakeup(&x->tx))
            break;
        if (sendto(p->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN && errno != EBUSY &&
            errno != ENOBUFS && errno != ENETDOWN) {
            p->stats.tx_drop_error++;
            break;
        }
    }
    return i;
}

static void xdp_refresh_stats(struct dp_port_io *p)
{
    struct xdp_port *x = xdp_of(p);
    struct xdp_statistics st = {0};
    socklen_t len = sizeof(st);

    if (getsockopt(p->fd, SOL_XDP, XDP_STATISTICS, &st, &len) < 0)
        return;
    /* Cumulative in the kernel: add what is new since the last look. */
    p->stats.rx_drop_kernel += (st.rx_dropped - x->seen.rx_dropped) + (st.rx_ring_full - x->seen.rx_ring_full);
    p->stats.tx_drop_error += st.tx_invalid_descs - x->seen.tx_invalid_descs;
    x->seen = st;
}

const struct dp_io_ops dp_io_xdp_ops = {
    .kind = DP_IO_XDP,
    .name = "xdp",
    .open = xdp_open,
    .rx_burst = xdp_rx_burst,
    .tx_burst = xdp_tx_burst,
    .refresh_stats = xdp_refresh_stats,
    .close = xdp_close,
};
