/*
 * datapath/dp_io_provider.h: what a packet I/O backend implements (private to
 * the datapath module). Each backend embeds struct dp_port_io as the first
 * member of its own port struct; dp_io.c dispatches through the ops, counts
 * received packets/bytes and tx frames not accepted. A backend counts what
 * it sent (tx_packets/tx_bytes) and its drops by reason.
 */
#ifndef RP_DATAPATH_DP_IO_PROVIDER_H
#define RP_DATAPATH_DP_IO_PROVIDER_H

#include "datapath/dp_io.h"

#include <net/if.h>

struct dp_io_ops {
    enum dp_io_kind kind;
    const char *name;
    /* Allocate and open the backend's port; set *out to its embedded dp_port_io. */
    int (*open)(const struct dp_io_config *c, struct pkt_pool *pool, struct dp_port_io **out, char *errmsg,
                size_t errlen);
    unsigned (*rx_burst)(struct dp_port_io *p, struct pkt_buf **bufs, unsigned max);
    unsigned (*tx_burst)(struct dp_port_io *p, struct pkt_buf *const *bufs, unsigned n);
    /* Fold kernel-side counters into p->stats (may be NULL). */
    void (*refresh_stats)(struct dp_port_io *p);
    void (*close)(struct dp_port_io *p);
};

struct dp_port_io {
    const struct dp_io_ops *ops;
    struct pkt_pool *pool;
    int fd;
    uint32_t port_no;
    bool ingress_drop_installed;
    char ifname[IF_NAMESIZE];
    char mode[48];
    struct dp_io_stats stats;
};

/* The longest frame a pkt_buf holds after the headroom. */
#define DP_IO_MAX_FRAME (PKT_BUF_SIZE - PKT_HEADROOM)

/* Fill the common part of a freshly allocated port. */
void dp_io_port_init(struct dp_port_io *p, const struct dp_io_ops *ops, const struct dp_io_config *c,
                     struct pkt_pool *pool);
/* snprintf into errmsg (accepts a NULL/0 buffer); returns 'err'. */
int dp_io_err(char *errmsg, size_t errlen, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* ring_frames from the config: default 1024, a power of two within [64, 65536]. */
uint32_t dp_io_ring_frames(const struct dp_io_config *c);

/* Take a buffer for a received frame of 'len' bytes (len checked by the caller
 * against DP_IO_MAX_FRAME): NULL when the pool is empty. */
/* Compute the TCP or UDP checksum of an untagged IPv4 frame in full (the
 * kernel handed it over with checksum offload pending). Frames it does not
 * understand are left alone. */
void dp_io_csum_complete(uint8_t *frame, uint32_t len);

static inline struct pkt_buf *dp_io_buf_for_rx(struct dp_port_io *p, uint32_t len)
{
    struct pkt_buf *b = pkt_pool_get(p->pool);

    if (!b)
        return NULL;
    b->data = b->room + PKT_HEADROOM;
    b->len = (uint16_t)len;
    b->in_port = p->port_no;
    return b;
}

extern const struct dp_io_ops dp_io_afpacket_ops;
extern const struct dp_io_ops dp_io_xdp_ops;
extern const struct dp_io_ops dp_io_tap_ops;
extern const struct dp_io_ops dp_io_dummy_ops;

#endif
