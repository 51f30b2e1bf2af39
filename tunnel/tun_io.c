/*
 * tunnel/tun_io.c: the UDP socket, batched receive and send, state transport.
 */
#include "tunnel/tun_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The frame lands at PKT_HEADROOM so it can be pushed into a tunnel again. */
_Static_assert(PKT_HEADROOM >= TUN_VXLAN_LEN, "rx places the VXLAN header in the headroom");
#define RX_ROOM (PKT_BUF_SIZE - PKT_HEADROOM + TUN_VXLAN_LEN)
#define MIN_FRAME ((uint32_t)sizeof(struct eth_hdr))
/* Bounded retries of a send interrupted by a signal. */
#define TX_EINTR_RETRIES 4

void tun_config_init(struct tun_config *c)
{
    memset(c, 0, sizeof(*c));
    c->port = TUN_DEFAULT_PORT;
    c->peer_port = TUN_DEFAULT_PORT;
    c->state_vni = TUN_STATE_VNI_DEFAULT;
    c->max_peers = TUN_PEERS_DEFAULT;
}

static int fail(char *err, size_t errlen, int rc, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, strerror(-rc));
    return rc;
}

int tun_open(const struct tun_config *cfg, struct tun **out, char *err, size_t errlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t salen = sizeof(sa);
    struct tun *t;
    int rc;

    if (cfg->state_vni > TUN_VNI_MAX)
        return fail(err, errlen, -EINVAL, "state_vni wider than 24 bits");
    if (cfg->peer_port == 0)
        return fail(err, errlen, -EINVAL, "peer_port 0");
    t = calloc(1, sizeof(*t));
    if (!t)
        return fail(err, errlen, -ENOMEM, "tunnel");
    rc = tun_peers_init(&t->peers, cfg->max_peers);
    if (rc < 0) {
        fail(err, errlen, rc, "max_peers");
        goto err_free;
    }
    t->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (t->fd < 0) {
        rc = fail(err, errlen, -errno, "socket");
        goto err_peers;
    }
    if (cfg->rcvbuf > 0 && setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &cfg->rcvbuf, sizeof(cfg->rcvbuf)) < 0) {
        rc = fail(err, errlen, -errno, "SO_RCVBUF");
        goto err_sock;
    }
    if (cfg->sndbuf > 0 && setsockopt(t->fd, SOL_SOCKET, SO_SNDBUF, &cfg->sndbuf, sizeof(cfg->sndbuf)) < 0) {
        rc = fail(err, errlen, -errno, "SO_SNDBUF");
        goto err_sock;
    }
    sa.sin_addr.s_addr = htonl(cfg->local_ip);
    sa.sin_port = htons(cfg->port);
    if (bind(t->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        if (err && errlen)
            snprintf(err, errlen, "bind %s:%u: %s", inet_ntoa(sa.sin_addr), cfg->port, strerror(errno));
        goto err_sock;
    }
    if (getsockname(t->fd, (struct sockaddr *)&sa, &salen) < 0) {
        rc = fail(err, errlen, -errno, "getsockname");
        goto err_sock;
    }
    t->local_port = ntohs(sa.sin_port);
    t->peer_port = cfg->peer_port;
    t->state_vni = cfg->state_vni;
    t->learn_peers = cfg->learn_peers;
    t->on_state = cfg->on_state;
    t->state_ctx = cfg->state_ctx;
    *out = t;
    return 0;

err_sock:
    close(t->fd);
err_peers:
    tun_peers_fini(&t->peers);
err_free:
    free(t);
    return rc;
}

void tun_close(struct tun *t)
{
    if (!t)
        return;
    close(t->fd);
    tun_peers_fini(&t->peers);
    free(t);
}

int tun_fd(const struct tun *t)
{
    return t->fd;
}

uint16_t tun_local_port(const struct tun *t)
{
    return t->local_port;
}

void tun_set_peer_port(struct tun *t, uint16_t port)
{
    t->peer_port = port;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- receive ----------------------------------------------------------------------- */

static void rx_state(struct tun *t, struct tun_peer_info *peer, const uint8_t *p, size_t len, uint32_t src)
{
    struct tun_state_msg m;
    enum tun_drop d = tun_state_decode(p, len, &m);

    if (d == TUN_DROP_NONE && !t->on_state)
        d = TUN_DROP_STATE_NO_HANDLER;
    if (d != TUN_DROP_NONE) {
        t->stats.drops[d]++;
        return;
    }
    m.src_ip = src;
    if (peer) {
        /* seq 0 is a sender that keeps no sequence for us. */
        if (m.seq && peer->rx_state_seq && m.seq != peer->rx_state_seq + 1)
            peer->state_seq_gaps++;
        if (m.seq)
            peer->rx_state_seq = m.seq;
        peer->rx_state++;
    }
    t->stats.rx_state++;
    t->on_state(t->state_ctx, &m);
}

bool tun_rx_datagram(struct tun *t, const uint8_t *d, size_t len, uint32_t src, uint64_t now, uint32_t *vni)
{
    struct tun_peer_info *peer;
    enum tun_drop drop;
    bool added;

    drop = tun_vxlan_decap(d, len, vni);
    if (drop != TUN_DROP_NONE) {
        t->stats.drops[drop]++;
        return false;
    }
    if (t->learn_peers) {
        peer = tun_peers_insert(&t->peers, src, &added);
        if (!peer)
            t->stats.peer_table_full++;
    } else {
        peer = tun_peers_find(&t->peers, src);
        if (!peer) {
            t->stats.drops[TUN_DROP_UNKNOWN_PEER]++;
            return false;
        }
    }
    if (*vni == t->state_vni) {
        rx_state(t, peer, d + TUN_VXLAN_LEN, len - TUN_VXLAN_LEN, src);
        if (peer)
            peer->last_seen_ns = now;
        return false;
    }
    if (len - TUN_VXLAN_LEN < MIN_FRAME) {
        t->stats.drops[TUN_DROP_INNER_TOO_SHORT]++;
        return false;
    }
    t->stats.rx_packets++;
    t->stats.rx_bytes += len;
    if (peer) {
        peer->rx_packets++;
        peer->rx_bytes += len;
        peer->last_seen_ns = now;
    }
    return true;
}

/* Datagram i of the last recvmmsg, in b: true if b now holds a data frame. */
static bool rx_one(struct tun *t, unsigned i, struct pkt_buf *b, uint64_t now, uint32_t *vni, uint32_t *src)
{
    size_t len = t->rx_msgs[i].msg_len;

    if (t->rx_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        t->stats.drops[TUN_DROP_TRUNCATED]++;
        return false;
    }
    *src = ntohl(t->rx_addrs[i].sin_addr.s_addr);
    if (!tun_rx_datagram(t, b->room + PKT_HEADROOM - TUN_VXLAN_LEN, len, *src, now, vni))
        return false;
    b->data = b->room + PKT_HEADROOM;
    b->len = (uint16_t)(len - TUN_VXLAN_LEN);
    return true;
}

unsigned tun_rx_burst(struct tun *t, struct pkt_pool *pool, struct pkt_buf **bufs, uint32_t *vnis,
                      uint32_t *src_ips, unsigned max)
{
    unsigned n = max < TUN_BURST_MAX ? max : TUN_BURST_MAX, got = 0, out = 0;
    uint64_t now;
    int r;

    for (; got < n; got++) {
        struct pkt_buf *b = pkt_pool_get(pool);
        if (!b)
            break;
        t->rx_bufs[got] = b;
        t->rx_iov[got] = (struct iovec){.iov_base = b->room + PKT_HEADROOM - TUN_VXLAN_LEN, .iov_len = RX_ROOM};
        t->rx_msgs[got].msg_hdr = (struct msghdr){.msg_name = &t->rx_addrs[got],
                                                  .msg_namelen = sizeof(t->rx_addrs[got]),
                                                  .msg_iov = &t->rx_iov[got],
                                                  .msg_iovlen = 1};
    }
    if (got == 0)
        return 0;
    r = recvmmsg(t->fd, t->rx_msgs, got, MSG_DONTWAIT, NULL);
    if (r <= 0)
        r = 0;
    else
        t->stats.rx_batches++;
    now = r > 0 ? now_ns() : 0;
    for (unsigned i = 0; i < (unsigned)r; i++) {
        struct pkt_buf *b = t->rx_bufs[i];
        uint32_t vni, src = 0;

        if (rx_one(t, i, b, now, &vni, &src)) {
            bufs[out] = b;
            vnis[out] = vni;
            if (src_ips)
                src_ips[out] = src;
            out++;
        } else {
            pkt_pool_put(pool, b);
        }
    }
    for (unsigned i = (unsigned)r; i < got; i++)
        pkt_pool_put(pool, t->rx_bufs[i]);
    return out;
}

/* --- send -------------------------------------------------------------------------- */

/* sendmmsg the m prepared messages; marks t->tx_ok[] and returns how many the
 * kernel took. sendmmsg stops at the first failing message: skip it (counted)
 * and go on, so every turn consumes at least one message. */
static unsigned send_batch(struct tun *t, unsigned m)
{
    unsigned i = 0, sent = 0, eintr = 0;

    memset(t->tx_ok, 0, m * sizeof(t->tx_ok[0]));
    while (i < m) {
        int r = sendmmsg(t->fd, t->msgs + i, m - i, MSG_DONTWAIT);
        if (r > 0) {
            for (unsigned k = i; k < i + (unsigned)r; k++)
                t->tx_ok[k] = true;
            i += (unsigned)r;
            sent += (unsigned)r;
            continue;
        }
        if (r < 0 && errno == EINTR && eintr++ < TX_EINTR_RETRIES)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
            t->stats.drops[TUN_DROP_TX_SOCK_FULL] += m - i;
            break;
        }
        t->stats.drops[r < 0 && errno == EMSGSIZE ? TUN_DROP_TX_TOO_BIG : TUN_DROP_TX_ERROR]++;
        i++;
    }
    return sent;
}

static void set_dst(struct tun *t, unsigned k, uint32_t ip)
{
    t->addrs[k] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(t->peer_port),
                                       .sin_addr.s_addr = htonl(ip)};
}

unsigned tun_tx_burst(struct tun *t, struct pkt_buf **bufs, const uint32_t *vnis, const uint32_t *dst_ips,
                      unsigned n)
{
    unsigned total = 0;

    for (unsigned base = 0; base < n; base += TUN_BURST_MAX) {
        unsigned chunk = n - base < TUN_BURST_MAX ? n - base : TUN_BURST_MAX, m = 0;

        for (unsigned j = base; j < base + chunk; j++) {
            struct pkt_buf *b = bufs[j];

            if (vnis[j] > TUN_VNI_MAX || vnis[j] == t->state_vni) {
                t->stats.drops[TUN_DROP_TX_BAD_VNI]++;
                continue;
            }
            if (b->len < MIN_FRAME) {
                t->stats.drops[TUN_DROP_TX_TOO_SHORT]++;
                continue;
            }
            if (tun_vxlan_encap(b, vnis[j]) < 0) {
                t->stats.drops[TUN_DROP_TX_NO_HEADROOM]++;
                continue;
            }
            set_dst(t, m, dst_ips[j]);
            t->iov[m][0] = (struct iovec){.iov_base = b->data, .iov_len = b->len};
            t->msgs[m].msg_hdr = (struct msghdr){.msg_name = &t->addrs[m], .msg_namelen = sizeof(t->addrs[m]),
                                                 .msg_iov = t->iov[m], .msg_iovlen = 1};
            t->tx_idx[m++] = (uint16_t)j;
        }
        if (m == 0)
            continue;
        total += send_batch(t, m);
        for (unsigned k = 0; k < m; k++) {
            struct pkt_buf *b = bufs[t->tx_idx[k]];
            uint32_t bytes = b->len;
            pkt_pull(b, TUN_VXLAN_LEN);
            if (!t->tx_ok[k])
                continue;
            t->stats.tx_packets++;
            t->stats.tx_bytes += bytes;
            struct tun_peer_info *peer = tun_peers_find(&t->peers, dst_ips[t->tx_idx[k]]);
            if (peer) {
                peer->tx_packets++;
                peer->tx_bytes += bytes;
            }
        }
    }
    return total;
}

int tun_send_state(struct tun *t, const uint32_t *dst_ips, unsigned n_dst, const void *msg, size_t len)
{
    unsigned total = 0;

    if (len > TUN_STATE_PAYLOAD_MAX)
        return -EMSGSIZE;
    if ((len && !msg) || (n_dst && !dst_ips))
        return -EINVAL;
    for (unsigned base = 0; base < n_dst; base += TUN_BURST_MAX) {
        unsigned chunk = n_dst - base < TUN_BURST_MAX ? n_dst - base : TUN_BURST_MAX;

        for (unsigned k = 0; k < chunk; k++) {
            struct tun_peer_info *peer = tun_peers_find(&t->peers, dst_ips[base + k]);
            uint8_t *h = t->state_buf[k];

            /* Taken even if the send fails below: the receiver then sees a
             * gap, which is what happened. */
            uint32_t seq = peer ? ++peer->tx_state_seq : 0;
            pkt_build_vxlan(h, t->state_vni);
            tun_state_put_hdr(h + TUN_VXLAN_LEN, TUN_STATE_MSG_FLOW, seq, (uint16_t)len);
            set_dst(t, k, dst_ips[base + k]);
            t->iov[k][0] = (struct iovec){.iov_base = h, .iov_len = TUN_VXLAN_LEN + TUN_STATE_HDR_LEN};
            t->iov[k][1] = (struct iovec){.iov_base = (void *)(uintptr_t)msg, .iov_len = len};
            t->msgs[k].msg_hdr = (struct msghdr){.msg_name = &t->addrs[k], .msg_namelen = sizeof(t->addrs[k]),
                                                 .msg_iov = t->iov[k], .msg_iovlen = len ? 2 : 1};
        }
        total += send_batch(t, chunk);
        for (unsigned k = 0; k < chunk; k++) {
            if (!t->tx_ok[k])
                continue;
            t->stats.tx_state++;
            struct tun_peer_info *peer = tun_peers_find(&t->peers, dst_ips[base + k]);
            if (peer)
                peer->tx_state++;
        }
    }
    return (int)total;
}

/* --- peers and totals ------------------------------------------------------------------ */

int tun_peer_add(struct tun *t, uint32_t ip)
{
    bool added;
    struct tun_peer_info *p = tun_peers_insert(&t->peers, ip, &added);

    if (!p)
        return -ENOSPC;
    return added ? 0 : -EEXIST;
}

int tun_peer_remove(struct tun *t, uint32_t ip)
{
    return tun_peers_remove(&t->peers, ip);
}

int tun_peer_get(const struct tun *t, uint32_t ip, struct tun_peer_info *out)
{
    const struct tun_peer_info *p = tun_peers_find(&t->peers, ip);

    if (!p)
        return -ENOENT;
    *out = *p;
    return 0;
}

unsigned tun_peer_list(const struct tun *t, struct tun_peer_info *out, unsigned max)
{
    unsigned n = 0;

    for (uint32_t i = 0; i <= t->peers.mask && n < max; i++)
        if (t->peers.slots[i].used)
            out[n++] = t->peers.slots[i].info;
    return n;
}

unsigned tun_peer_count(const struct tun *t)
{
    return t->peers.count;
}

void tun_stats(const struct tun *t, struct tun_stats *out)
{
    *out = t->stats;
}
