/*
 * gateway/gw_neigh.c: IPv4 neighbours per interface (see gw_impl.h).
 *
 * The table is one fixed array allocated at open: linear probing keyed by
 * (ifindex, addr) with a keyed multiply-shift hash, at most half full, and
 * no entry further than MAX_PROBE slots from its home, so a lookup reads a
 * bounded run of 24-byte slots and never allocates. Gleaned addresses come
 * from ARP on the uplinks, which anyone on the link can send; the random
 * key keeps them from aiming at one run, and the probe bound caps the cost
 * of bad luck (an insert that finds no slot in it is refused and counted).
 * Removal shifts later entries back (no tombstones), which only moves
 * entries toward their home, so the bound holds under churn.
 *
 * The kernel side: one NETLINK_ROUTE socket in RTMGRP_NEIGH, non-blocking,
 * with a big receive buffer. Notifications can still be lost (ENOBUFS);
 * then the table is re-dumped with the same rule as bgp/route_feed.h: at
 * the dump's start mark the kernel entries stale, clear the mark on every
 * entry the kernel reports, and at a clean NLMSG_DONE drop those still
 * marked. An interrupted dump (NLM_F_DUMP_INTR, ENOBUFS during it) sweeps
 * nothing and is followed by another.
 */
#include "gateway/gw_impl.h"
#include "lib/hash.h"
#include "lib/packet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

#define MAX_PROBE 32u
#define MAX_ENTRIES (1u << 24)
#define PENDING_BUCKETS 256u
#define PENDING_WAYS 4u
#define REQUEST_INTERVAL_NS 1000000000ull
#define RCVBUF_BYTES (8u << 20)
#define READS_PER_CALL 64
/* What the kernel puts in one dump datagram at most (libmnl's dump size). */
#define RECV_BYTES 32768u
#define OPEN_TIMEOUT_MS 5000
#define KEPT_STATES (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP)

enum { ORIGIN_NONE, ORIGIN_KERNEL, ORIGIN_GLEAN };

struct ne {
    uint32_t ifindex;
    uint32_t addr;
    uint64_t seen_ns;   /* gleaned: when last seen */
    uint8_t mac[6];
    uint8_t origin;     /* ORIGIN_NONE: empty slot */
    uint8_t stale;      /* kernel entry not yet listed by the running dump */
};
_Static_assert(sizeof(struct ne) == 24, "neighbour slot");

struct pend {
    uint32_t ifindex;   /* 0: free */
    uint32_t addr;
    uint64_t sent_ns;
};

struct gw_neigh {
    struct ne *tab;
    uint32_t mask, shift, count, max_entries;
    uint64_t k0, k1;                /* hash key; k1 odd */
    struct mnl_socket *nl;
    uint32_t portid, seq, dump_seq;
    bool dumping, dump_bad, need_dump;
    int dump_error;                 /* what the kernel answered the last dump request with */
    struct gw_neigh_stats st;
    struct pend pending[PENDING_BUCKETS][PENDING_WAYS];
    uint8_t buf[RECV_BYTES] __attribute__((aligned(8)));
};

/* --- parser ------------------------------------------------------------------------ */

int gw_neigh_parse(const void *buf, size_t len, struct gw_neigh_msg *out)
{
    const uint8_t *p = buf;
    struct nlmsghdr nlh;
    struct ndmsg ndm;
    size_t end, off;
    bool have_dst = false;
    unsigned lladdr_len = 0;

    if (!buf || !out || len < sizeof(nlh))
        return -EINVAL;
    /* Copied out: a receive buffer is aligned, a fuzzer's input need not be. */
    memcpy(&nlh, p, sizeof(nlh));
    if (nlh.nlmsg_len < sizeof(nlh) || nlh.nlmsg_len > len)
        return -EINVAL;
    if (nlh.nlmsg_type != RTM_NEWNEIGH && nlh.nlmsg_type != RTM_DELNEIGH)
        return 0;
    end = nlh.nlmsg_len;
    off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ndm));
    if (end < NLMSG_HDRLEN + sizeof(ndm))
        return -EINVAL;
    memcpy(&ndm, p + NLMSG_HDRLEN, sizeof(ndm));
    if (ndm.ndm_family != AF_INET || (ndm.ndm_flags & NTF_PROXY))
        return 0;
    if (ndm.ndm_ifindex <= 0)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->ifindex = (uint32_t)ndm.ndm_ifindex;
    out->state = ndm.ndm_state;
    out->del = nlh.nlmsg_type == RTM_DELNEIGH;
    /* Each step moves by at least one attribute header, so end bounds the loop. */
    while (off < end && end - off >= sizeof(struct nlattr)) {
        struct nlattr a;
        size_t plen;

        memcpy(&a, p + off, sizeof(a));
        if (a.nla_len < sizeof(a) || a.nla_len > end - off)
            return -EINVAL;
        plen = a.nla_len - sizeof(a);
        switch (a.nla_type & NLA_TYPE_MASK) {
        case NDA_DST: {
            uint32_t be;

            if (plen != sizeof(be))
                return -EINVAL;
            memcpy(&be, p + off + sizeof(a), sizeof(be));
            out->addr = ntohl(be);
            have_dst = true;
            break;
        }
        case NDA_LLADDR:
            /* Other lengths are other link types (tunnels): not ours to use. */
            lladdr_len = (unsigned)plen;
            if (plen == sizeof(out->mac))
                memcpy(out->mac, p + off + sizeof(a), sizeof(out->mac));
            break;
        default:
            break;
        }
        if ((size_t)NLA_ALIGN(a.nla_len) >= end - off)
            break;
        off += (size_t)NLA_ALIGN(a.nla_len);
    }
    if (!have_dst)
        return -EINVAL;
    out->keep = !out->del && (out->state & KEPT_STATES) && lladdr_len == sizeof(out->mac);
    if (!out->keep)
        memset(out->mac, 0, sizeof(out->mac));
    return 1;
}

/* --- table ------------------------------------------------------------------------- */

static inline uint32_t home_of(const struct gw_neigh *n, uint32_t ifindex, uint32_t addr)
{
    uint64_t k = ((uint64_t)ifindex << 32 | addr) ^ n->k0;

    return (uint32_t)((k * n->k1) >> n->shift);
}

/* The pending-request bucket: the hash's top 8 bits (a small table's home
 * index has fewer). */
static inline uint32_t pend_bucket(const struct gw_neigh *n, uint32_t ifindex, uint32_t addr)
{
    uint64_t k = ((uint64_t)ifindex << 32 | addr) ^ n->k0;

    _Static_assert(PENDING_BUCKETS == 256, "8 bits of hash");
    return (uint32_t)((k * n->k1) >> 56);
}

static inline uint32_t dist(const struct gw_neigh *n, uint32_t home, uint32_t i)
{
    return (i - home) & n->mask;
}

/* Slot holding the key, or UINT32_MAX. Every entry sits within MAX_PROBE of
 * its home and no empty slot lies between, so this is the whole search. */
static uint32_t find(const struct gw_neigh *n, uint32_t ifindex, uint32_t addr)
{
    uint32_t i = home_of(n, ifindex, addr);

    for (uint32_t k = 0; k < MAX_PROBE; k++, i = (i + 1) & n->mask) {
        const struct ne *e = &n->tab[i];

        if (e->origin == ORIGIN_NONE)
            return UINT32_MAX;
        if (e->addr == addr && e->ifindex == ifindex)
            return i;
    }
    return UINT32_MAX;
}

/* A free slot for a key known to be absent, or UINT32_MAX (refused). */
static uint32_t slot_for_new(struct gw_neigh *n, uint32_t ifindex, uint32_t addr)
{
    uint32_t i = home_of(n, ifindex, addr);

    if (n->count >= n->max_entries)
        return UINT32_MAX;
    for (uint32_t k = 0; k < MAX_PROBE; k++, i = (i + 1) & n->mask)
        if (n->tab[i].origin == ORIGIN_NONE)
            return i;
    return UINT32_MAX;
}

static void remove_at(struct gw_neigh *n, uint32_t hole)
{
    uint32_t j = hole;

    for (uint32_t k = 0; k <= n->mask; k++) {
        const struct ne *e;
        uint32_t home;

        j = (j + 1) & n->mask;
        e = &n->tab[j];
        if (e->origin == ORIGIN_NONE)
            break;
        home = home_of(n, e->ifindex, e->addr);
        if (dist(n, home, j) >= dist(n, hole, j)) {
            n->tab[hole] = *e;
            hole = j;
        }
    }
    n->tab[hole] = (struct ne){0};
    n->count--;
}

static void apply_kernel(struct gw_neigh *n, const struct gw_neigh_msg *m)
{
    uint32_t i = find(n, m->ifindex, m->addr);
    struct ne *e;

    n->st.kernel_updates++;
    if (!m->keep) {
        if (i != UINT32_MAX &&
            (n->tab[i].origin == ORIGIN_KERNEL || (!m->del && (m->state & NUD_FAILED))))
            remove_at(n, i);
        return;
    }
    if (i == UINT32_MAX) {
        i = slot_for_new(n, m->ifindex, m->addr);
        if (i == UINT32_MAX) {
            n->st.refused++;
            return;
        }
        n->count++;
    }
    e = &n->tab[i];
    *e = (struct ne){.ifindex = m->ifindex, .addr = m->addr, .origin = ORIGIN_KERNEL};
    memcpy(e->mac, m->mac, sizeof(e->mac));
}

bool gw_neigh_lookup(const struct gw_neigh *n, uint32_t ifindex, uint32_t addr, uint8_t mac[6])
{
    uint32_t i = find(n, ifindex, addr);

    if (i == UINT32_MAX)
        return false;
    memcpy(mac, n->tab[i].mac, 6);
    return true;
}

static bool addr_gleanable(uint32_t addr)
{
    /* 0/8 (this network) and 224/3 (multicast, class E, broadcast). */
    return (addr >> 24) != 0 && addr < 0xe0000000u;
}

void gw_neigh_glean(struct gw_neigh *n, uint32_t ifindex, uint32_t addr, const uint8_t mac[6], uint64_t now_ns)
{
    static const uint8_t zero[6];
    uint32_t i;
    struct ne *e;

    if (ifindex == 0 || !addr_gleanable(addr) || (mac[0] & 1) || !memcmp(mac, zero, 6))
        return;
    i = find(n, ifindex, addr);
    if (i != UINT32_MAX) {
        e = &n->tab[i];
        if (e->origin == ORIGIN_KERNEL)
            return;   /* the kernel's (often permanent) answer wins over the wire's */
    } else {
        i = slot_for_new(n, ifindex, addr);
        if (i == UINT32_MAX) {
            n->st.refused++;
            return;
        }
        n->count++;
        e = &n->tab[i];
        *e = (struct ne){.ifindex = ifindex, .addr = addr, .origin = ORIGIN_GLEAN};
    }
    memcpy(e->mac, mac, 6);
    e->seen_ns = now_ns;
    n->st.gleaned++;
}

/* Removal may shift a later entry into i: look at i again. */
void gw_neigh_expire(struct gw_neigh *n, uint64_t now_ns, uint64_t max_age_ns)
{
    for (uint32_t i = 0; i <= n->mask;) {
        const struct ne *e = &n->tab[i];

        if (e->origin == ORIGIN_GLEAN && now_ns > e->seen_ns && now_ns - e->seen_ns > max_age_ns) {
            remove_at(n, i);
            n->st.expired++;
            continue;
        }
        i++;
    }
}

bool gw_neigh_want_request(struct gw_neigh *n, uint32_t ifindex, uint32_t addr, uint64_t now_ns)
{
    struct pend *b = n->pending[pend_bucket(n, ifindex, addr)], *victim = NULL;

    n->st.lookups_missed++;
    for (unsigned w = 0; w < PENDING_WAYS; w++) {
        struct pend *p = &b[w];

        if (p->ifindex == ifindex && p->addr == addr) {
            if (now_ns < p->sent_ns + REQUEST_INTERVAL_NS)
                return false;
            victim = p;
            break;
        }
        if (!victim || (victim->ifindex && (!p->ifindex || p->sent_ns < victim->sent_ns)))
            victim = p;
    }
    *victim = (struct pend){ifindex, addr, now_ns};
    n->st.requests_sent++;
    return true;
}

void gw_neigh_get_stats(const struct gw_neigh *n, struct gw_neigh_stats *out)
{
    *out = n->st;
    out->entries = n->count;
}

unsigned gw_arp_request(uint8_t *buf, const uint8_t sha[6], uint32_t spa, uint32_t tpa)
{
    static const uint8_t bcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, none[ETH_ALEN];
    int len = pkt_build_arp(buf, 60, bcast, sha, 1, sha, spa, none, tpa);

    RP_ASSERT(len > 0 && len <= 60);
    /* Padded to the Ethernet minimum: some NICs send short frames as they are. */
    memset(buf + len, 0, 60 - (size_t)len);
    return 60;
}

/* --- kernel side ------------------------------------------------------------------- */

/* 0, or a negative errno; -ENOBUFS / -EAGAIN / -EBUSY leave need_dump set
 * for the next call. */
static int request_dump(struct gw_neigh *n)
{
    uint8_t req[NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ndmsg))] __attribute__((aligned(4)));
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
    struct ndmsg *ndm;

    nlh->nlmsg_type = RTM_GETNEIGH;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = ++n->seq;
    ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
    ndm->ndm_family = AF_INET;
    if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0) {
        int e = -errno;

        n->need_dump = true;
        return e;
    }
    for (uint32_t i = 0; i <= n->mask; i++)
        if (n->tab[i].origin == ORIGIN_KERNEL)
            n->tab[i].stale = 1;
    n->dump_seq = n->seq;
    n->dump_error = 0;
    n->dumping = true;
    n->dump_bad = false;
    n->need_dump = false;
    return 0;
}

static void dump_done(struct gw_neigh *n, bool ok)
{
    n->dumping = false;
    if (!ok) {
        n->need_dump = true;
        n->st.resyncs++;
        return;
    }
    for (uint32_t i = 0; i <= n->mask;) {
        if (n->tab[i].origin == ORIGIN_KERNEL && n->tab[i].stale) {
            remove_at(n, i);
            continue;
        }
        i++;
    }
}

static void overrun(struct gw_neigh *n)
{
    if (n->dumping)
        n->dump_bad = true;
    else if (!n->need_dump) {
        n->need_dump = true;
        n->st.resyncs++;
    }
}

static int handle_datagram(struct gw_neigh *n, size_t size)
{
    int handled = 0;
    size_t off = 0;

    /* The walk of mnl_nlmsg_next, unsigned: each step moves by at least one
     * header, so size bounds the loop. */
    while (size - off >= sizeof(struct nlmsghdr)) {
        const struct nlmsghdr *nlh = (const void *)(n->buf + off);
        bool ours = n->dumping && nlh->nlmsg_seq == n->dump_seq && nlh->nlmsg_pid == n->portid;
        struct gw_neigh_msg m;

        if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > size - off) {
            n->st.malformed++;
            overrun(n);   /* what else the datagram held is lost */
            break;
        }
        handled++;
        if (ours && (nlh->nlmsg_flags & NLM_F_DUMP_INTR))
            n->dump_bad = true;
        switch (nlh->nlmsg_type) {
        case NLMSG_DONE:
            if (ours) {
                int err = 0;

                if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(err)))
                    memcpy(&err, NLMSG_DATA(nlh), sizeof(err));
                dump_done(n, !n->dump_bad && err == 0);
            }
            break;
        case NLMSG_ERROR:
            /* The kernel refused the dump: retried with the next overrun,
             * not in a loop here. */
            if (ours) {
                int e = -EIO;

                if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr)))
                    memcpy(&e, NLMSG_DATA(nlh), sizeof(e));
                n->dump_error = e ? e : -EIO;
                n->dumping = false;
            }
            break;
        case RTM_NEWNEIGH:
        case RTM_DELNEIGH: {
            int rc = gw_neigh_parse(nlh, size - off, &m);

            if (rc < 0)
                n->st.malformed++;
            else if (rc == 1)
                apply_kernel(n, &m);
            break;
        }
        default:
            break;
        }
        if (NLMSG_ALIGN(nlh->nlmsg_len) >= size - off)
            break;
        off += NLMSG_ALIGN(nlh->nlmsg_len);
    }
    return handled;
}

static bool transient(int rc)
{
    return rc == -ENOBUFS || rc == -EAGAIN || rc == -EBUSY || rc == -EINTR;
}

int gw_neigh_process(struct gw_neigh *n)
{
    int fd = mnl_socket_get_fd(n->nl), handled = 0, rc;

    for (int r = 0; r < READS_PER_CALL; r++) {
        ssize_t got;

        if (n->need_dump && !n->dumping && (rc = request_dump(n)) < 0 && !transient(rc))
            return rc;
        got = recv(fd, n->buf, sizeof(n->buf), MSG_DONTWAIT | MSG_TRUNC);
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            if (errno == ENOBUFS) {
                overrun(n);
                continue;
            }
            return -errno;
        }
        if ((size_t)got > sizeof(n->buf)) {
            overrun(n);
            continue;
        }
        handled += handle_datagram(n, (size_t)got);
    }
    if (n->need_dump && !n->dumping && (rc = request_dump(n)) < 0 && !transient(rc))
        return rc;
    return handled;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int gw_neigh_open(uint32_t max_entries, struct gw_neigh **out, char *err, size_t errlen)
{
    struct gw_neigh *n;
    uint32_t cap = 64, bits = 6;
    int rc, fd, one = 1, size = RCVBUF_BYTES;
    int64_t deadline;

    if (err && errlen)
        err[0] = 0;
    if (!out || max_entries == 0 || max_entries > MAX_ENTRIES) {
        if (err)
            snprintf(err, errlen, "max_entries must be 1..%u", MAX_ENTRIES);
        return -EINVAL;
    }
    while (cap < 2 * max_entries) {
        cap *= 2;
        bits++;
    }
    n = calloc(1, sizeof(*n));
    if (!n || !(n->tab = calloc(cap, sizeof(*n->tab)))) {
        if (err)
            snprintf(err, errlen, "out of memory for %u entries", max_entries);
        rc = -ENOMEM;
        goto fail;
    }
    n->mask = cap - 1;
    n->shift = 64 - bits;
    n->max_entries = max_entries;
    n->k0 = rp_siphash("gw_neigh k0", 11);
    n->k1 = rp_siphash("gw_neigh k1", 11) | 1;

    n->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (!n->nl) {
        rc = -errno;
        if (err)
            snprintf(err, errlen, "netlink socket: %s", strerror(errno));
        goto fail;
    }
    fd = mnl_socket_get_fd(n->nl);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    /* With strict checking the kernel filters the dump to AF_INET itself. */
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
    if (mnl_socket_bind(n->nl, RTMGRP_NEIGH, MNL_SOCKET_AUTOPID) < 0) {
        rc = -errno;
        if (err)
            snprintf(err, errlen, "netlink bind: %s", strerror(errno));
        goto fail;
    }
    n->portid = mnl_socket_get_portid(n->nl);
    n->seq = (uint32_t)time(NULL);
    rc = request_dump(n);
    if (rc < 0) {
        if (err)
            snprintf(err, errlen, "neighbour dump request: %s", strerror(-rc));
        goto fail;
    }
    /* The first dump completes before open returns, so the table starts full. */
    deadline = mono_ms() + OPEN_TIMEOUT_MS;
    while (n->dumping || n->need_dump) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int64_t left = deadline - mono_ms();

        if (left <= 0) {
            rc = -ETIMEDOUT;
            if (err)
                snprintf(err, errlen, "neighbour dump: no answer in %d ms", OPEN_TIMEOUT_MS);
            goto fail;
        }
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
            rc = -errno;
            goto fail;
        }
        rc = gw_neigh_process(n);
        if (rc < 0) {
            if (err)
                snprintf(err, errlen, "netlink receive: %s", strerror(-rc));
            goto fail;
        }
        if (n->dump_error) {
            rc = n->dump_error;
            if (err)
                snprintf(err, errlen, "the kernel refused the neighbour dump: %s", strerror(-rc));
            goto fail;
        }
    }
    *out = n;
    return 0;

fail:
    gw_neigh_close(n);
    return rc;
}

void gw_neigh_close(struct gw_neigh *n)
{
    if (!n)
        return;
    if (n->nl)
        mnl_socket_close(n->nl);
    free(n->tab);
    free(n);
}

int gw_neigh_fd(const struct gw_neigh *n)
{
    return mnl_socket_get_fd(n->nl);
}
