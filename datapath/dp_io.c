/*
 * datapath/dp_io.c: the backend registry and what every backend shares:
 * dispatch, packet/byte counters, error messages, and the nftables ingress
 * drop that takes an AF_PACKET port away from the kernel stack.
 */
#include "datapath/dp_io_provider.h"
#include "lib/csum.h"

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const struct dp_io_ops *const dp_io_backends[] = {
    [DP_IO_AFPACKET] = &dp_io_afpacket_ops,
    [DP_IO_XDP] = &dp_io_xdp_ops,
    [DP_IO_TAP] = &dp_io_tap_ops,
    [DP_IO_DUMMY] = &dp_io_dummy_ops,
};

const char *dp_io_kind_name(enum dp_io_kind k)
{
    if ((unsigned)k >= RP_ARRAY_SIZE(dp_io_backends))
        return NULL;
    return dp_io_backends[k]->name;
}

int dp_io_err(char *errmsg, size_t errlen, int err, const char *fmt, ...)
{
    va_list ap;

    if (errmsg && errlen) {
        va_start(ap, fmt);
        vsnprintf(errmsg, errlen, fmt, ap);
        va_end(ap);
    }
    return err;
}

uint32_t dp_io_ring_frames(const struct dp_io_config *c)
{
    uint32_t want = c->ring_frames ? c->ring_frames : 1024, n = 64;

    while (n < want && n < 65536)
        n <<= 1;
    return n;
}

void dp_io_port_init(struct dp_port_io *p, const struct dp_io_ops *ops, const struct dp_io_config *c,
                     struct pkt_pool *pool)
{
    p->ops = ops;
    p->pool = pool;
    p->fd = -1;
    p->port_no = c->port_no;
    snprintf(p->ifname, sizeof(p->ifname), "%s", c->ifname ? c->ifname : "");
    snprintf(p->mode, sizeof(p->mode), "%s", ops->name);
}

/* ifnames end up in an nft command line: only plain characters. */
static bool ifname_ok(const char *ifname)
{
    size_t n = ifname ? strlen(ifname) : 0;

    if (n == 0 || n >= IF_NAMESIZE)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = ifname[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

int dp_io_kernel_ingress_drop(const char *ifname, bool on, char *errmsg, size_t errlen)
{
    return dp_io_kernel_ingress_filter(ifname, on, NULL, 0, false, errmsg, errlen);
}

int dp_io_kernel_ingress_filter(const char *ifname, bool on, const rp_be32 *pass_ipv4, unsigned n_pass,
                                bool pass_ipv6_local, char *errmsg, size_t errlen)
{
    char table[IF_NAMESIZE + 16], cmd[2048], set[DP_IO_MAX_KERNEL_IPV4 * 18 + 4];
    char *argv[] = {"nft", cmd, NULL};
    posix_spawn_file_actions_t fa;
    size_t off = 0;
    pid_t pid;
    int rc, status;

    if (!ifname_ok(ifname))
        return dp_io_err(errmsg, errlen, -EINVAL, "interface name '%s' not usable in an nft rule",
                         ifname ? ifname : "(null)");
    if (n_pass > DP_IO_MAX_KERNEL_IPV4 || (n_pass && !pass_ipv4))
        return dp_io_err(errmsg, errlen, -EINVAL, "kernel_ipv4: at most %d addresses", DP_IO_MAX_KERNEL_IPV4);
    snprintf(table, sizeof(table), "rampart_dp_%s", ifname);
    for (char *s = table; *s; s++)
        if (*s == '-' || *s == '.')
            *s = '_';
    set[0] = '\0';
    for (unsigned i = 0; i < n_pass; i++) {
        uint32_t a = ntohl(pass_ipv4[i]);
        off += (size_t)snprintf(set + off, sizeof(set) - off, "%s%u.%u.%u.%u", i ? ", " : "", a >> 24,
                                (a >> 16) & 255, (a >> 8) & 255, a & 255);
    }
    /* The kernel keeps what is addressed to its own addresses (BGP, BFD,
     * ARP for them, IPv6 neighbour discovery) and loses the rest, which
     * the datapath reads through its tap before this hook. */
    if (on)
        snprintf(cmd, sizeof(cmd),
                 "add table netdev %s ; add chain netdev %s ingress "
                 "{ type filter hook ingress device \"%s\" priority -500 ; policy drop ; }"
                 "%s%s%s%s%s%s%s",
                 table, table, ifname, n_pass ? " ; add rule netdev " : "", n_pass ? table : "",
                 n_pass ? " ingress ip daddr { " : "", set, n_pass ? " } accept ; add rule netdev " : "",
                 n_pass ? table : "", n_pass ? " ingress arp operation { request, reply } accept" : "");
    else
        snprintf(cmd, sizeof(cmd), "delete table netdev %s", table);
    if (on && pass_ipv6_local) {
        size_t l = strlen(cmd);
        snprintf(cmd + l, sizeof(cmd) - l,
                 " ; add rule netdev %s ingress ip6 saddr fe80::/10 accept ; add rule netdev %s ingress ip6 daddr "
                 "ff02::/16 accept",
                 table, table);
    }

    if (posix_spawn_file_actions_init(&fa))
        return dp_io_err(errmsg, errlen, -ENOMEM, "posix_spawn_file_actions_init failed");
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    rc = posix_spawnp(&pid, "nft", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc)
        return dp_io_err(errmsg, errlen, -rc, "cannot run nft: %s", strerror(rc));
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return dp_io_err(errmsg, errlen, -errno, "waitpid(nft): %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return dp_io_err(errmsg, errlen, -EIO, "nft '%s' failed (status %d)", cmd, status);
    return 0;
}

int dp_io_open(const struct dp_io_config *c, struct pkt_pool *pool, struct dp_port_io **out, char *errmsg,
               size_t errlen)
{
    const struct dp_io_ops *ops;
    struct dp_port_io *p = NULL;
    int rc;

    if (errmsg && errlen)
        errmsg[0] = '\0';
    if (!c || !pool || !out)
        return dp_io_err(errmsg, errlen, -EINVAL, "dp_io_open: NULL argument");
    *out = NULL;
    if ((unsigned)c->kind >= RP_ARRAY_SIZE(dp_io_backends))
        return dp_io_err(errmsg, errlen, -EINVAL, "unknown I/O kind %d", (int)c->kind);
    if (!c->ifname || !c->ifname[0] || strlen(c->ifname) >= IF_NAMESIZE)
        return dp_io_err(errmsg, errlen, -EINVAL, "interface name missing or too long");
    if (c->n_kernel_ipv4 > DP_IO_MAX_KERNEL_IPV4 || (c->n_kernel_ipv4 && !c->kernel_ipv4))
        return dp_io_err(errmsg, errlen, -EINVAL, "kernel_ipv4: at most %d addresses", DP_IO_MAX_KERNEL_IPV4);
    if (c->xdp_force_generic && c->xdp_force_native)
        return dp_io_err(errmsg, errlen, -EINVAL, "xdp_force_generic and xdp_force_native both set");
    /* XDP passes the kernel's addresses after the program; a netdev drop would eat them. */
    if (c->kernel_ingress_drop && c->kind != DP_IO_AFPACKET)
        return dp_io_err(errmsg, errlen, -EINVAL, "kernel_ingress_drop applies to af_packet ports only");
    ops = dp_io_backends[c->kind];
    rc = ops->open(c, pool, &p, errmsg, errlen);
    if (rc)
        return rc;
    if (c->kernel_ingress_drop) {
        rc = dp_io_kernel_ingress_filter(c->ifname, true, c->kernel_ipv4, c->n_kernel_ipv4, c->kernel_ipv6_local,
                                         errmsg, errlen);
        if (rc) {
            ops->close(p);
            return rc;
        }
        p->ingress_drop_installed = true;
    }
    *out = p;
    return 0;
}

void dp_io_close(struct dp_port_io *p)
{
    if (!p)
        return;
    if (p->ingress_drop_installed)
        dp_io_kernel_ingress_drop(p->ifname, false, NULL, 0);
    p->ops->close(p);
}

unsigned dp_io_rx_burst(struct dp_port_io *p, struct pkt_buf **bufs, unsigned max)
{
    unsigned n = p->ops->rx_burst(p, bufs, max);
    uint64_t bytes = 0;

    RP_DEBUG_ASSERT(n <= max);
    for (unsigned i = 0; i < n; i++)
        bytes += bufs[i]->len;
    p->stats.rx_packets += n;
    p->stats.rx_bytes += bytes;
    return n;
}

unsigned dp_io_tx_burst(struct dp_port_io *p, struct pkt_buf *const *bufs, unsigned n)
{
    unsigned done = p->ops->tx_burst(p, bufs, n);

    RP_DEBUG_ASSERT(done <= n);
    p->stats.tx_drop_full += n - done;
    return done;
}

int dp_io_fd(const struct dp_port_io *p)
{
    return p->fd;
}

const char *dp_io_mode(const struct dp_port_io *p)
{
    return p->mode;
}

enum dp_io_kind dp_io_kind(const struct dp_port_io *p)
{
    return p->ops->kind;
}

void dp_io_stats(struct dp_port_io *p, struct dp_io_stats *out)
{
    struct dp_io_stats *s = &p->stats;

    if (p->ops->refresh_stats)
        p->ops->refresh_stats(p);
    s->rx_dropped = s->rx_drop_kernel + s->rx_drop_oversize;
    s->tx_dropped = s->tx_drop_full + s->tx_drop_oversize + s->tx_drop_error;
    *out = *s;
}

void dp_io_csum_complete(uint8_t *frame, uint32_t len)
{
    struct ipv4_hdr *ip;
    uint32_t ihl, tot;
    uint8_t *l4;

    if (len < sizeof(struct eth_hdr) + sizeof(struct ipv4_hdr) ||
        ((struct eth_hdr *)frame)->type != htons(ETH_TYPE_IPV4))
        return;
    ip = (struct ipv4_hdr *)(frame + sizeof(struct eth_hdr));
    ihl = (uint32_t)(ip->ver_ihl & 0x0f) * 4;
    tot = ntohs(ip->tot_len);
    if (ihl < sizeof(*ip) || tot < ihl || sizeof(struct eth_hdr) + tot > len ||
        (ntohs(ip->frag_off) & (IPV4_MF | IPV4_OFFSET_MASK)))
        return;
    l4 = (uint8_t *)ip + ihl;
    if (ip->proto == IP_PROTO_TCP && tot - ihl >= sizeof(struct tcp_hdr)) {
        struct tcp_hdr *t = (struct tcp_hdr *)l4;
        t->csum = 0;
        t->csum = csum_tcpudp_ipv4(ip->src, ip->dst, IP_PROTO_TCP, l4, (uint16_t)(tot - ihl));
    } else if (ip->proto == IP_PROTO_UDP && tot - ihl >= sizeof(struct udp_hdr)) {
        struct udp_hdr *u = (struct udp_hdr *)l4;
        u->csum = 0;
        u->csum = csum_tcpudp_ipv4(ip->src, ip->dst, IP_PROTO_UDP, l4, (uint16_t)(tot - ihl));
        if (!u->csum)
            u->csum = 0xffff;   /* 0 means "no checksum" in UDP */
    }
}
