/*
 * bgp/route_feed.c: one kernel routing table mirrored over rtnetlink.
 *
 * One socket carries both the notifications and the dumps, so the order the
 * kernel produced them in is the order the consumer sees (two sockets would
 * leave a dump and a notification of the same prefix unordered). Dump
 * replies are told apart from notifications by our port id and the dump's
 * sequence number. With NETLINK_GET_STRICT_CHK the kernel filters the dump
 * by table (since 4.20); without it every table comes back and we filter.
 */
#include "bgp/route_feed.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif
#ifndef RTA_VIA
#define RTA_VIA 18
#endif
#ifndef RTA_NH_ID
#define RTA_NH_ID 30
#endif

/* The kernel sends dump chunks of at most 32 KiB (max_recvmsg_len cap);
 * notifications are small. Twice that leaves room and lets MSG_TRUNC mean
 * something went wrong. */
#define RF_BUF_SIZE 65536
/* Links tracked for up/carrier changes; past this every link event re-dumps. */
#define RF_MAX_LINKS 65536
/* Bound on the synchronous link dump at open. */
#define RF_LINK_DUMP_MAX_READS 4096
/* Link flags whose change can drop or revive routes silently. */
#define RF_LINK_FLAGS (IFF_UP | IFF_LOWER_UP)

struct rf_link {
    uint32_t ifindex, flags;
};

struct bgp_route_feed {
    struct mnl_socket *nl;
    uint32_t table, portid, seq, dump_seq;
    bool dump_running, dump_wanted, dump_intact;
    uint32_t dump_routes;
    struct rf_link *links;          /* sorted by ifindex */
    uint32_t n_links, cap_links;
    struct bgp_route_feed_stats st;
    size_t buf_len, buf_off;
    struct bgp_route_feed_event ev;
    _Alignas(8) uint8_t buf[RF_BUF_SIZE];
};

static void set_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (!err || !len)
        return;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

/* --- parser ------------------------------------------------------------------------ */

static uint32_t prefix_mask(uint8_t len)
{
    return len ? ~0u << (32 - len) : 0;
}

/* Route attributes we read; u32 ones are checked for exact size here. */
static int rt_attr_cb(const struct nlattr *a, void *data)
{
    const struct nlattr **tb = data;
    uint16_t type = mnl_attr_get_type(a);

    if (type > RTA_MAX)
        return MNL_CB_OK;   /* newer than our headers: not ours to read */
    switch (type) {
    case RTA_DST:
    case RTA_GATEWAY:
    case RTA_OIF:
    case RTA_PRIORITY:
    case RTA_TABLE:
    case RTA_NH_ID:
        if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
            return MNL_CB_ERROR;
        break;
    case RTA_MULTIPATH:
    case RTA_VIA:
    case RTA_ENCAP:
        break;   /* read (or refused) below with their own checks */
    default:
        return MNL_CB_OK;
    }
    tb[type] = a;
    return MNL_CB_OK;
}

static int nh_attr_cb(const struct nlattr *a, void *data)
{
    const struct nlattr **tb = data;
    uint16_t type = mnl_attr_get_type(a);

    switch (type) {
    case RTA_GATEWAY:
        if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
            return MNL_CB_ERROR;
        break;
    case RTA_VIA:
    case RTA_ENCAP:
        break;
    default:
        return MNL_CB_OK;
    }
    tb[type] = a;
    return MNL_CB_OK;
}

static uint16_t nh_flags(unsigned char kflags)
{
    return (uint16_t)(((kflags & RTNH_F_ONLINK) ? BGP_ROUTE_FEED_NH_ONLINK : 0) |
                      ((kflags & RTNH_F_LINKDOWN) ? BGP_ROUTE_FEED_NH_LINKDOWN : 0));
}

/* RTA_MULTIPATH: a run of struct rtnexthop, each followed by its own
 * attributes. 0, -EINVAL (malformed), -EOPNOTSUPP (not representable). */
static int parse_multipath(const struct nlattr *mp, struct bgp_route_feed_route *r)
{
    const uint8_t *p = mnl_attr_get_payload(mp);
    size_t rem = mnl_attr_get_payload_len(mp);
    int unsupported = 0;

    /* Each member takes at least 8 bytes, so rem bounds the loop. */
    while (rem >= sizeof(struct rtnexthop)) {
        const struct rtnexthop *nh = (const void *)p;
        const struct nlattr *tb[RTA_MAX + 1] = {0};
        size_t step;

        if (nh->rtnh_len < sizeof(*nh) || nh->rtnh_len > rem)
            return -EINVAL;
        if (mnl_attr_parse_payload(p + RTNH_LENGTH(0), nh->rtnh_len - RTNH_LENGTH(0), nh_attr_cb, tb) < 0)
            return -EINVAL;
        if (tb[RTA_VIA] || tb[RTA_ENCAP]) {
            unsupported = 1;
        } else if (!(nh->rtnh_flags & RTNH_F_DEAD)) {
            struct bgp_route_feed_nexthop *o;

            if (r->n_nexthops == BGP_ROUTE_FEED_MAX_NEXTHOPS)
                return -EOPNOTSUPP;
            o = &r->nexthops[r->n_nexthops++];
            o->gateway = tb[RTA_GATEWAY] ? ntohl(mnl_attr_get_u32(tb[RTA_GATEWAY])) : 0;
            o->ifindex = nh->rtnh_ifindex > 0 ? (uint32_t)nh->rtnh_ifindex : 0;
            o->weight = (uint16_t)(nh->rtnh_hops + 1u);
            o->flags = nh_flags(nh->rtnh_flags);
        }
        step = RTNH_ALIGN(nh->rtnh_len);
        if (step >= rem)
            break;
        p += step;
        rem -= step;
    }
    return unsupported ? -EOPNOTSUPP : 0;
}

/* Next hops and type of an added route: 0, -EINVAL, -EOPNOTSUPP. */
static int parse_route_body(const struct rtmsg *rtm, const struct nlattr *const *tb, struct bgp_route_feed_route *r)
{
    switch (rtm->rtm_type) {
    case RTN_UNICAST:
        r->type = BGP_ROUTE_FEED_UNICAST;
        break;
    case RTN_BLACKHOLE:
        r->type = BGP_ROUTE_FEED_BLACKHOLE;
        return 0;
    case RTN_UNREACHABLE:
        r->type = BGP_ROUTE_FEED_UNREACHABLE;
        return 0;
    case RTN_PROHIBIT:
        r->type = BGP_ROUTE_FEED_PROHIBIT;
        return 0;
    default:
        return -EOPNOTSUPP;
    }
    if (tb[RTA_VIA] || tb[RTA_ENCAP])
        return -EOPNOTSUPP;
    if (tb[RTA_MULTIPATH]) {
        int rc = parse_multipath(tb[RTA_MULTIPATH], r);

        if (rc < 0)
            return rc;
    } else if (tb[RTA_GATEWAY] || tb[RTA_OIF]) {
        if (!(rtm->rtm_flags & RTNH_F_DEAD)) {
            r->nexthops[0].gateway = tb[RTA_GATEWAY] ? ntohl(mnl_attr_get_u32(tb[RTA_GATEWAY])) : 0;
            r->nexthops[0].ifindex = tb[RTA_OIF] ? mnl_attr_get_u32(tb[RTA_OIF]) : 0;
            r->nexthops[0].weight = 1;
            r->nexthops[0].flags = nh_flags((unsigned char)rtm->rtm_flags);
            r->n_nexthops = 1;
        }
    }
    /* A nexthop-object route whose expansion the kernel left out
     * (nexthop_compat_mode=0), or every member dead. */
    return r->n_nexthops ? 0 : -EOPNOTSUPP;
}

/* mnl_nlmsg_ok() compares (int)nlmsg_len, so a length of 2^31 or more
 * passes it (libmnl 1.0.4); check unsigned. */
static bool frame_ok(const struct nlmsghdr *nlh, size_t len)
{
    return len >= sizeof(*nlh) && nlh->nlmsg_len >= sizeof(*nlh) && nlh->nlmsg_len <= len;
}

int bgp_route_feed_parse(const void *buf, size_t len, uint32_t table, struct bgp_route_feed_event *ev)
{
    const struct nlmsghdr *nlh = buf;
    const struct nlattr *tb[RTA_MAX + 1] = {0};
    const struct rtmsg *rtm;
    struct bgp_route_feed_route *r = &ev->route;
    uint32_t msg_table;
    int rc;

    if (((uintptr_t)buf & 3) || !frame_ok(nlh, len))
        return -EINVAL;
    /* libmnl walks attributes up to the aligned end of the message. */
    if (MNL_ALIGN(nlh->nlmsg_len) > len)
        return -EINVAL;
    if (nlh->nlmsg_type != RTM_NEWROUTE && nlh->nlmsg_type != RTM_DELROUTE)
        return 0;
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct rtmsg))
        return -EINVAL;
    rtm = mnl_nlmsg_get_payload(nlh);
    if (rtm->rtm_family != AF_INET)
        return 0;
    if (mnl_attr_parse(nlh, sizeof(*rtm), rt_attr_cb, tb) < 0)
        return -EINVAL;
    msg_table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
    if (msg_table != table || (rtm->rtm_flags & RTM_F_CLONED))
        return 0;
    if (rtm->rtm_dst_len > 32 || (rtm->rtm_dst_len && !tb[RTA_DST]))
        return -EINVAL;

    memset(r, 0, offsetof(struct bgp_route_feed_route, nexthops));
    r->len = rtm->rtm_dst_len;
    r->prefix = tb[RTA_DST] ? ntohl(mnl_attr_get_u32(tb[RTA_DST])) : 0;
    if (r->prefix & ~prefix_mask(r->len))
        return -EINVAL;
    r->tos = rtm->rtm_tos;
    r->protocol = rtm->rtm_protocol;
    r->priority = tb[RTA_PRIORITY] ? mnl_attr_get_u32(tb[RTA_PRIORITY]) : 0;
    if (nlh->nlmsg_type == RTM_DELROUTE) {
        ev->type = BGP_ROUTE_FEED_ROUTE_DEL;
        return 1;
    }
    ev->type = BGP_ROUTE_FEED_ROUTE_ADD;
    if (nlh->nlmsg_flags & NLM_F_REPLACE)
        r->flags |= BGP_ROUTE_FEED_F_REPLACE;
    rc = parse_route_body(rtm, tb, r);
    if (rc == -EOPNOTSUPP) {
        ev->type = BGP_ROUTE_FEED_ROUTE_DEL;
        r->type = 0;
        r->n_nexthops = 0;
        r->flags = BGP_ROUTE_FEED_F_UNUSABLE;
        return 1;
    }
    return rc < 0 ? rc : 1;
}

/* --- links ------------------------------------------------------------------------------ */

/* Index of ifindex, or of where it would go. */
static uint32_t link_find(const struct bgp_route_feed *f, uint32_t ifindex, bool *found)
{
    uint32_t lo = 0, hi = f->n_links;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (f->links[mid].ifindex < ifindex)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < f->n_links && f->links[lo].ifindex == ifindex;
    return lo;
}

/* Record a link's flags. True if they changed in a way that can drop or
 * revive routes silently (or we cannot tell). A link we have not seen is
 * new: it carries no routes yet, and later changes are compared. */
static bool link_update(struct bgp_route_feed *f, uint32_t ifindex, uint32_t flags, bool deleted)
{
    bool found;
    uint32_t i = link_find(f, ifindex, &found);

    flags &= RF_LINK_FLAGS;
    if (deleted) {
        if (found) {
            memmove(&f->links[i], &f->links[i + 1], (f->n_links - i - 1) * sizeof(*f->links));
            f->n_links--;
        }
        return true;
    }
    if (found) {
        bool changed = f->links[i].flags != flags;

        f->links[i].flags = flags;
        return changed;
    }
    if (f->n_links == f->cap_links) {
        uint32_t cap = f->cap_links ? f->cap_links * 2 : 16;
        struct rf_link *n;

        if (f->n_links >= RF_MAX_LINKS || !(n = realloc(f->links, cap * sizeof(*n))))
            return true;
        f->links = n;
        f->cap_links = cap;
    }
    memmove(&f->links[i + 1], &f->links[i], (f->n_links - i) * sizeof(*f->links));
    f->links[i] = (struct rf_link){.ifindex = ifindex, .flags = flags};
    f->n_links++;
    return false;
}

static int link_dump_cb(const struct nlmsghdr *nlh, void *data)
{
    struct bgp_route_feed *f = data;
    const struct ifinfomsg *ifi;

    if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
        return MNL_CB_OK;
    ifi = mnl_nlmsg_get_payload(nlh);
    if (ifi->ifi_index > 0)
        link_update(f, (uint32_t)ifi->ifi_index, ifi->ifi_flags, false);
    return MNL_CB_OK;
}

/* The links as they are now, over a socket of its own (the feed's socket
 * already receives notifications, which must not be consumed here). */
static int link_dump(struct bgp_route_feed *f, char *err, size_t errlen)
{
    struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    struct nlmsghdr *nlh;
    struct rtgenmsg *g;
    uint32_t seq = f->seq++;
    int rc = 0, n;

    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        rc = -errno;
        set_err(err, errlen, "link dump socket: %s", strerror(errno));
        goto out;
    }
    nlh = mnl_nlmsg_put_header(f->buf);
    nlh->nlmsg_type = RTM_GETLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = seq;
    g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
    g->rtgen_family = AF_UNSPEC;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
        rc = -errno;
        set_err(err, errlen, "link dump request: %s", strerror(errno));
        goto out;
    }
    for (int reads = 0; reads < RF_LINK_DUMP_MAX_READS; reads++) {
        ssize_t got = mnl_socket_recvfrom(nl, f->buf, sizeof(f->buf));

        if (got < 0) {
            rc = -errno;
            set_err(err, errlen, "link dump: %s", strerror(errno));
            goto out;
        }
        n = mnl_cb_run(f->buf, (size_t)got, seq, mnl_socket_get_portid(nl), link_dump_cb, f);
        if (n <= MNL_CB_STOP) {
            if (n < 0) {
                rc = -errno;
                set_err(err, errlen, "link dump reply: %s", strerror(errno));
            }
            goto out;
        }
    }
    rc = -E2BIG;
    set_err(err, errlen, "link dump did not end");
out:
    if (nl)
        mnl_socket_close(nl);
    return rc;
}

/* --- the feed --------------------------------------------------------------------------------- */

int bgp_route_feed_open(uint32_t table, struct bgp_route_feed **out, char *err, size_t errlen)
{
    struct bgp_route_feed *f;
    int one = 1, size = (int)BGP_ROUTE_FEED_RCVBUF, fd, rc;

    *out = NULL;
    if (table == RT_TABLE_UNSPEC) {
        set_err(err, errlen, "table 0 is not a table");
        return -EINVAL;
    }
    f = calloc(1, sizeof(*f));
    if (!f) {
        set_err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    f->table = table;
    f->seq = (uint32_t)time(NULL);
    f->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (!f->nl) {
        rc = -errno;
        set_err(err, errlen, "netlink socket: %s", strerror(errno));
        goto fail;
    }
    fd = mnl_socket_get_fd(f->nl);
    /* Past rmem_max only with CAP_NET_ADMIN; without it take what is allowed. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    /* Older kernels lack it: the dump then covers every table and we filter. */
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
    if (mnl_socket_bind(f->nl, RTMGRP_IPV4_ROUTE | RTMGRP_LINK | RTMGRP_IPV4_IFADDR, MNL_SOCKET_AUTOPID) < 0) {
        rc = -errno;
        set_err(err, errlen, "netlink bind: %s", strerror(errno));
        goto fail;
    }
    f->portid = mnl_socket_get_portid(f->nl);
    /* After subscribing, so a change between the two shows in both. */
    rc = link_dump(f, err, errlen);
    if (rc < 0)
        goto fail;
    *out = f;
    return 0;
fail:
    bgp_route_feed_close(f);
    return rc;
}

void bgp_route_feed_close(struct bgp_route_feed *f)
{
    if (!f)
        return;
    if (f->nl)
        mnl_socket_close(f->nl);
    free(f->links);
    free(f);
}

int bgp_route_feed_fd(const struct bgp_route_feed *f)
{
    return mnl_socket_get_fd(f->nl);
}

void bgp_route_feed_dump(struct bgp_route_feed *f)
{
    f->dump_wanted = true;
}

bool bgp_route_feed_pending(const struct bgp_route_feed *f)
{
    return f->buf_off < f->buf_len || (f->dump_wanted && !f->dump_running);
}

bool bgp_route_feed_dumping(const struct bgp_route_feed *f)
{
    return f->dump_running;
}

void bgp_route_feed_get_stats(const struct bgp_route_feed *f, struct bgp_route_feed_stats *out)
{
    *out = f->st;
}

/* Send the dump request and announce it. 0 or -errno (still wanted). */
static int dump_start(struct bgp_route_feed *f, void (*cb)(void *, const struct bgp_route_feed_event *), void *ctx)
{
    _Alignas(8) uint8_t req[64];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
    struct rtmsg *rtm;

    nlh->nlmsg_type = RTM_GETROUTE;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = ++f->seq;
    rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
    rtm->rtm_family = AF_INET;
    rtm->rtm_table = f->table < 256 ? (uint8_t)f->table : RT_TABLE_UNSPEC;
    mnl_attr_put_u32(nlh, RTA_TABLE, f->table);
    if (mnl_socket_sendto(f->nl, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    f->dump_seq = nlh->nlmsg_seq;
    f->dump_running = true;
    f->dump_wanted = false;
    f->dump_intact = true;
    f->dump_routes = 0;
    f->st.dumps_requested++;
    f->ev.type = BGP_ROUTE_FEED_DUMP_BEGIN;
    cb(ctx, &f->ev);
    return 0;
}

static void dump_end(struct bgp_route_feed *f, int error, void (*cb)(void *, const struct bgp_route_feed_event *),
                     void *ctx)
{
    f->dump_running = false;
    f->ev.type = BGP_ROUTE_FEED_DUMP_END;
    f->ev.dump.error = error;
    f->ev.dump.complete = error == 0 && f->dump_intact;
    f->ev.dump.routes = f->dump_routes;
    if (f->ev.dump.complete)
        f->st.dumps_completed++;
    else if (!error)
        f->dump_wanted = true;   /* interrupted or lost messages: try again */
    cb(ctx, &f->ev);
}

static void link_event(struct bgp_route_feed *f, uint32_t ifindex, uint32_t flags, bool deleted, bool address,
                       void (*cb)(void *, const struct bgp_route_feed_event *), void *ctx)
{
    f->st.link_changes++;
    f->dump_wanted = true;
    f->ev.type = BGP_ROUTE_FEED_LINK;
    f->ev.link.ifindex = ifindex;
    f->ev.link.flags = flags;
    f->ev.link.deleted = deleted;
    f->ev.link.address = address;
    cb(ctx, &f->ev);
}

static void handle(struct bgp_route_feed *f, const struct nlmsghdr *nlh, size_t len,
                   void (*cb)(void *, const struct bgp_route_feed_event *), void *ctx)
{
    bool from_dump = f->dump_running && nlh->nlmsg_seq == f->dump_seq && nlh->nlmsg_pid == f->portid;
    size_t plen = mnl_nlmsg_get_payload_len(nlh);
    int rc;

    if (from_dump && (nlh->nlmsg_flags & NLM_F_DUMP_INTR))
        f->dump_intact = false;
    switch (nlh->nlmsg_type) {
    case NLMSG_DONE:
        if (from_dump) {
            int e = 0;

            if (plen >= sizeof(e))
                memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
            /* A table no route was ever added to: ENOENT. Empty, not failed. */
            dump_end(f, e < 0 && e != -ENOENT ? e : 0, cb, ctx);
        }
        return;
    case NLMSG_ERROR:
        if (from_dump) {
            int e = -EIO;

            if (plen >= sizeof(struct nlmsgerr))
                memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
            dump_end(f, e == -ENOENT ? 0 : (e < 0 ? e : -EIO), cb, ctx);
        }
        return;
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
        rc = bgp_route_feed_parse(nlh, len, f->table, &f->ev);
        if (rc < 0) {
            f->st.malformed++;
            return;
        }
        if (rc == 0) {
            f->st.other_tables++;
            return;
        }
        if (f->ev.route.flags & BGP_ROUTE_FEED_F_UNUSABLE)
            f->st.unusable++;
        if (f->ev.type == BGP_ROUTE_FEED_ROUTE_ADD)
            f->st.routes_added++;
        else
            f->st.routes_deleted++;
        if (from_dump) {
            f->ev.route.flags |= BGP_ROUTE_FEED_F_DUMP;
            if (f->ev.type == BGP_ROUTE_FEED_ROUTE_ADD)
                f->dump_routes++;
        }
        cb(ctx, &f->ev);
        return;
    case RTM_NEWLINK:
    case RTM_DELLINK: {
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        bool del = nlh->nlmsg_type == RTM_DELLINK;

        if (plen < sizeof(*ifi) || ifi->ifi_index <= 0) {
            f->st.malformed++;
            return;
        }
        if (link_update(f, (uint32_t)ifi->ifi_index, ifi->ifi_flags, del))
            link_event(f, (uint32_t)ifi->ifi_index, del ? 0 : ifi->ifi_flags, del, false, cb, ctx);
        return;
    }
    case RTM_DELADDR: {
        const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);

        if (plen < sizeof(*ifa)) {
            f->st.malformed++;
            return;
        }
        /* Routes via gateways on the removed subnet are flushed silently. */
        if (ifa->ifa_family == AF_INET)
            link_event(f, ifa->ifa_index, 0, false, true, cb, ctx);
        return;
    }
    default:
        return;
    }
}

/* Fill the buffer: 1 data, 0 nothing waiting, 2 overrun (reported), -errno. */
static int fill(struct bgp_route_feed *f, void (*cb)(void *, const struct bgp_route_feed_event *), void *ctx)
{
    struct sockaddr_nl sa;
    struct iovec iov = {.iov_base = f->buf, .iov_len = sizeof(f->buf)};
    struct msghdr msg = {.msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;

    f->buf_len = f->buf_off = 0;
    for (;;) {
        n = recvmsg(bgp_route_feed_fd(f), &msg, MSG_DONTWAIT | MSG_TRUNC);
        if (n >= 0 || errno != EINTR)
            break;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n < 0 && errno != ENOBUFS)
        return -errno;
    if (n < 0 || (size_t)n > sizeof(f->buf) || (msg.msg_flags & MSG_TRUNC)) {
        f->st.overruns++;
        f->dump_wanted = true;
        if (f->dump_running)
            f->dump_intact = false;
        f->ev.type = BGP_ROUTE_FEED_OVERRUN;
        cb(ctx, &f->ev);
        return 2;
    }
    /* Only the kernel speaks on this socket. */
    if (msg.msg_namelen != sizeof(sa) || sa.nl_pid != 0)
        return 1;
    f->buf_len = (size_t)n;
    return 1;
}

int bgp_route_feed_process(struct bgp_route_feed *f, unsigned max_msgs,
                           void (*cb)(void *ctx, const struct bgp_route_feed_event *ev), void *ctx)
{
    unsigned handled = 0;
    int rc;

    while (handled < max_msgs) {
        const struct nlmsghdr *nlh;
        size_t rem;

        if (f->dump_wanted && !f->dump_running && (rc = dump_start(f, cb, ctx)) < 0)
            return rc;
        if (f->buf_off >= f->buf_len) {
            rc = fill(f, cb, ctx);
            if (rc < 0)
                return rc;
            if (rc == 0)
                break;
            continue;
        }
        nlh = (const void *)(f->buf + f->buf_off);
        rem = f->buf_len - f->buf_off;
        if (!frame_ok(nlh, rem)) {
            f->st.malformed++;
            f->buf_off = f->buf_len;   /* the rest of this datagram cannot be framed */
            continue;
        }
        handle(f, nlh, rem, cb, ctx);
        f->buf_off += MNL_ALIGN(nlh->nlmsg_len);
        f->st.messages++;
        handled++;
    }
    /* A dump asked for by the last message goes out now, not on the next wakeup. */
    if (f->dump_wanted && !f->dump_running && (rc = dump_start(f, cb, ctx)) < 0)
        return rc;
    return (int)handled;
}
