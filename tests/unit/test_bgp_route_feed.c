/* bgp/route_feed: the parser on hand-built messages, then the feed against a
 * real kernel table in a network namespace this test makes (a veth pair,
 * both ends inside; skipped without root or namespaces). The consumer side
 * is a small mirror table kept by the rule in route_feed.h (mark at
 * DUMP_BEGIN, sweep at a complete DUMP_END). */
#include "bgp/route_feed.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include "tests/unit/test_shell.h"

#define TABLE 100
#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

/* --- message builders ------------------------------------------------------------------------- */

static _Alignas(8) uint8_t msgbuf[8192];
static struct bgp_route_feed_event ev;

static struct nlmsghdr *rt_msg(uint16_t type, uint32_t table, uint32_t dst, uint8_t len, uint8_t rtype)
{
    struct nlmsghdr *nlh;
    struct rtmsg *rtm;

    memset(msgbuf, 0, sizeof(msgbuf));
    nlh = mnl_nlmsg_put_header(msgbuf);
    nlh->nlmsg_type = type;
    rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
    rtm->rtm_family = AF_INET;
    rtm->rtm_dst_len = len;
    rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_COMPAT;
    rtm->rtm_type = rtype;
    rtm->rtm_protocol = RTPROT_BIRD;
    mnl_attr_put_u32(nlh, RTA_TABLE, table);
    if (len)
        mnl_attr_put_u32(nlh, RTA_DST, htonl(dst));
    return nlh;
}

/* One RTA_MULTIPATH member; pass via=true for an RTA_VIA instead of RTA_GATEWAY. */
static void mp_member(struct nlmsghdr *nlh, uint32_t gw, int ifindex, uint8_t hops, uint8_t flags, bool via)
{
    struct rtnexthop *nh = mnl_nlmsg_get_payload_tail(nlh);

    nlh->nlmsg_len += RTNH_LENGTH(0);
    nh->rtnh_ifindex = ifindex;
    nh->rtnh_hops = hops;
    nh->rtnh_flags = flags;
    if (via) {
        uint8_t v[18] = {0, AF_INET6};

        mnl_attr_put(nlh, RTA_VIA, sizeof(v), v);
    } else {
        mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gw));
    }
    nh->rtnh_len = (unsigned short)((uint8_t *)mnl_nlmsg_get_payload_tail(nlh) - (uint8_t *)nh);
}

static void test_parse_single_path_gives_gateway_ifindex_metric(void **state)
{
    struct nlmsghdr *nlh = rt_msg(RTM_NEWROUTE, TABLE, IP(203, 0, 113, 0), 24, RTN_UNICAST);

    (void)state;
    mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(IP(10, 99, 0, 2)));
    mnl_attr_put_u32(nlh, RTA_OIF, 7);
    mnl_attr_put_u32(nlh, RTA_PRIORITY, 32);
    nlh->nlmsg_flags |= NLM_F_REPLACE;
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), 1);
    assert_int_equal(ev.type, BGP_ROUTE_FEED_ROUTE_ADD);
    assert_int_equal(ev.route.prefix, IP(203, 0, 113, 0));
    assert_int_equal(ev.route.len, 24);
    assert_int_equal(ev.route.priority, 32);
    assert_int_equal(ev.route.protocol, RTPROT_BIRD);
    assert_int_equal(ev.route.type, BGP_ROUTE_FEED_UNICAST);
    assert_int_equal(ev.route.flags, BGP_ROUTE_FEED_F_REPLACE);
    assert_int_equal(ev.route.n_nexthops, 1);
    assert_int_equal(ev.route.nexthops[0].gateway, IP(10, 99, 0, 2));
    assert_int_equal(ev.route.nexthops[0].ifindex, 7);
    assert_int_equal(ev.route.nexthops[0].weight, 1);
}

static void test_parse_multipath_gives_members_with_weights_and_skips_dead(void **state)
{
    struct nlmsghdr *nlh = rt_msg(RTM_NEWROUTE, TABLE, IP(198, 51, 100, 0), 24, RTN_UNICAST);
    struct nlattr *mp = mnl_attr_nest_start(nlh, RTA_MULTIPATH);

    (void)state;
    mp_member(nlh, IP(10, 99, 0, 2), 3, 0, 0, false);
    mp_member(nlh, IP(10, 99, 1, 2), 4, 4, RTNH_F_LINKDOWN, false);
    mp_member(nlh, IP(10, 99, 2, 2), 5, 0, RTNH_F_DEAD | RTNH_F_LINKDOWN, false);
    mnl_attr_nest_end(nlh, mp);
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), 1);
    assert_int_equal(ev.type, BGP_ROUTE_FEED_ROUTE_ADD);
    assert_int_equal(ev.route.n_nexthops, 2);
    assert_int_equal(ev.route.nexthops[0].gateway, IP(10, 99, 0, 2));
    assert_int_equal(ev.route.nexthops[0].ifindex, 3);
    assert_int_equal(ev.route.nexthops[0].weight, 1);
    assert_int_equal(ev.route.nexthops[1].gateway, IP(10, 99, 1, 2));
    assert_int_equal(ev.route.nexthops[1].weight, 5);
    assert_int_equal(ev.route.nexthops[1].flags, BGP_ROUTE_FEED_NH_LINKDOWN);
}

static void test_parse_all_members_dead_is_unusable_removal(void **state)
{
    struct nlmsghdr *nlh = rt_msg(RTM_NEWROUTE, TABLE, IP(198, 51, 100, 0), 24, RTN_UNICAST);
    struct nlattr *mp = mnl_attr_nest_start(nlh, RTA_MULTIPATH);

    (void)state;
    mp_member(nlh, IP(10, 99, 0, 2), 3, 0, RTNH_F_DEAD, false);
    mnl_attr_nest_end(nlh, mp);
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), 1);
    assert_int_equal(ev.type, BGP_ROUTE_FEED_ROUTE_DEL);
    assert_int_equal(ev.route.flags, BGP_ROUTE_FEED_F_UNUSABLE);
    assert_int_equal(ev.route.prefix, IP(198, 51, 100, 0));
}

static void test_parse_ipv6_via_next_hop_is_unusable_removal(void **state)
{
    struct nlmsghdr *nlh = rt_msg(RTM_NEWROUTE, TABLE, IP(198, 51, 100, 0), 24, RTN_UNICAST);
    struct nlattr *mp = mnl_attr_nest_start(nlh, RTA_MULTIPATH);

    (void)state;
    mp_member(nlh, IP(10, 99, 0, 2), 3, 0, 0, false);
    mp_member(nlh, 0, 4, 0, 0, true);
    mnl_attr_nest_end(nlh, mp);
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), 1);
    assert_int_equal(ev.type, BGP_ROUTE_FEED_ROUTE_DEL);
    assert_int_equal(ev.route.flags, BGP_ROUTE_FEED_F_UNUSABLE);
}

static void test_parse_blackhole_has_no_next_hops(void **state)
{
    struct nlmsghdr *nlh = rt_msg(RTM_NEWROUTE, TABLE, IP(192, 0, 2, 10), 32, RTN_BLACKHOLE);

    (void)state;
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), 1);
    assert_int_equal(ev.type, BGP_ROUTE_FEED_ROUTE_ADD);
    assert_int_equal(ev.route.type, BGP_ROUTE_FEED_BLACKHOLE);
    assert_int_equal(ev.route.n_nexthops, 0);
}

static void test_parse_default_route_and_removal(void **state)
{
    struct nlmsghdr *nlh = rt_msg(RTM_DELROUTE, TABLE, 0, 0, RTN_UNICAST);

    (void)state;
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), 1);
    assert_int_equal(ev.type, BGP_ROUTE_FEED_ROUTE_DEL);
    assert_int_equal(ev.route.prefix, 0);
    assert_int_equal(ev.route.len, 0);
    assert_int_equal(ev.route.flags, 0);
}

static void test_parse_ignores_other_table_family_and_cache(void **state)
{
    struct nlmsghdr *nlh = rt_msg(RTM_NEWROUTE, RT_TABLE_MAIN, IP(203, 0, 113, 0), 24, RTN_UNICAST);
    struct rtmsg *rtm;

    (void)state;
    mnl_attr_put_u32(nlh, RTA_OIF, 2);
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), 0);
    /* A table above 255 is only in RTA_TABLE. */
    nlh = rt_msg(RTM_NEWROUTE, 1000, IP(203, 0, 113, 0), 24, RTN_UNICAST);
    mnl_attr_put_u32(nlh, RTA_OIF, 2);
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), 0);
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, 1000, &ev), 1);
    rtm = mnl_nlmsg_get_payload(nlh);
    rtm->rtm_family = AF_INET6;
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, 1000, &ev), 0);
    rtm->rtm_family = AF_INET;
    rtm->rtm_flags |= RTM_F_CLONED;
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, 1000, &ev), 0);
    nlh->nlmsg_type = RTM_NEWLINK;
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, 1000, &ev), 0);
}

static void test_parse_rejects_bad_lengths_and_host_bits(void **state)
{
    struct nlmsghdr *nlh = rt_msg(RTM_NEWROUTE, TABLE, IP(203, 0, 113, 1), 24, RTN_UNICAST);
    struct nlattr *a;
    uint32_t full;

    (void)state;
    mnl_attr_put_u32(nlh, RTA_OIF, 2);
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), -EINVAL);   /* host bits */

    nlh = rt_msg(RTM_NEWROUTE, TABLE, IP(203, 0, 113, 0), 24, RTN_UNICAST);
    mnl_attr_put_u32(nlh, RTA_OIF, 2);
    full = nlh->nlmsg_len;
    assert_int_equal(bgp_route_feed_parse(msgbuf, full, TABLE, &ev), 1);
    assert_int_equal(bgp_route_feed_parse(msgbuf, full - 4, TABLE, &ev), -EINVAL);   /* buffer shorter than nlmsg_len */
    assert_int_equal(bgp_route_feed_parse(msgbuf, 8, TABLE, &ev), -EINVAL);
    assert_int_equal(bgp_route_feed_parse(msgbuf + 2, full, TABLE, &ev), -EINVAL);    /* misaligned */

    /* RTA_OIF with 2 bytes instead of 4. */
    nlh = rt_msg(RTM_NEWROUTE, TABLE, IP(203, 0, 113, 0), 24, RTN_UNICAST);
    mnl_attr_put_u16(nlh, RTA_OIF, 2);
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), -EINVAL);

    /* A prefix length without a destination, and one above 32. */
    nlh = rt_msg(RTM_NEWROUTE, TABLE, 0, 0, RTN_UNICAST);
    ((struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_dst_len = 8;
    mnl_attr_put_u32(nlh, RTA_OIF, 2);
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), -EINVAL);
    nlh = rt_msg(RTM_NEWROUTE, TABLE, 0, 24, RTN_UNICAST);
    ((struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_dst_len = 33;
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), -EINVAL);

    /* A multipath member claiming more bytes than the attribute holds. */
    nlh = rt_msg(RTM_NEWROUTE, TABLE, IP(203, 0, 113, 0), 24, RTN_UNICAST);
    a = mnl_attr_nest_start(nlh, RTA_MULTIPATH);
    mp_member(nlh, IP(10, 99, 0, 2), 3, 0, 0, false);
    mnl_attr_nest_end(nlh, a);
    ((struct rtnexthop *)mnl_attr_get_payload(a))->rtnh_len = 200;
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), -EINVAL);
    /* ... and one shorter than its own header. */
    ((struct rtnexthop *)mnl_attr_get_payload(a))->rtnh_len = 4;
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), -EINVAL);
}

static void test_parse_too_many_members_is_unusable_removal(void **state)
{
    struct nlmsghdr *nlh = rt_msg(RTM_NEWROUTE, TABLE, IP(203, 0, 113, 0), 24, RTN_UNICAST);
    struct nlattr *mp = mnl_attr_nest_start(nlh, RTA_MULTIPATH);

    (void)state;
    for (unsigned i = 0; i <= BGP_ROUTE_FEED_MAX_NEXTHOPS; i++)
        mp_member(nlh, IP(10, 99, 0, 2) + i, 3, 0, 0, false);
    mnl_attr_nest_end(nlh, mp);
    assert_true(nlh->nlmsg_len < sizeof(msgbuf));
    assert_int_equal(bgp_route_feed_parse(msgbuf, nlh->nlmsg_len, TABLE, &ev), 1);
    assert_int_equal(ev.type, BGP_ROUTE_FEED_ROUTE_DEL);
    assert_int_equal(ev.route.flags, BGP_ROUTE_FEED_F_UNUSABLE);
}

/* --- the consumer's mirror ---------------------------------------------------------------------- */

#define MIRROR_MAX 4096

struct mroute {
    uint32_t prefix;
    uint8_t len;
    bool stale;
    unsigned n_nh;
    struct bgp_route_feed_nexthop nh[4];
};

struct mirror {
    struct mroute r[MIRROR_MAX];
    unsigned n;
    /* what arrived */
    unsigned begins, ends, complete_ends, overruns, links, adds, dels;
    unsigned dump_adds;              /* ROUTE_ADD with F_DUMP since the last begin */
    uint32_t last_end_routes;
    bool in_dump;
    unsigned watch_events;           /* route events for watch_prefix */
    uint32_t watch_prefix;
    struct bgp_route_feed_route last; /* last route event */
};

static struct mroute *mirror_find(struct mirror *m, uint32_t prefix, uint8_t len)
{
    for (unsigned i = 0; i < m->n; i++)
        if (m->r[i].prefix == prefix && m->r[i].len == len)
            return &m->r[i];
    return NULL;
}

static void mirror_cb(void *ctx, const struct bgp_route_feed_event *e)
{
    struct mirror *m = ctx;
    struct mroute *r;

    switch (e->type) {
    case BGP_ROUTE_FEED_DUMP_BEGIN:
        m->begins++;
        m->in_dump = true;
        m->dump_adds = 0;
        for (unsigned i = 0; i < m->n; i++)
            m->r[i].stale = true;
        break;
    case BGP_ROUTE_FEED_DUMP_END:
        m->ends++;
        m->in_dump = false;
        m->last_end_routes = e->dump.routes;
        if (!e->dump.complete)
            break;
        m->complete_ends++;
        for (unsigned i = 0; i < m->n;)
            if (m->r[i].stale)
                m->r[i] = m->r[--m->n];
            else
                i++;
        break;
    case BGP_ROUTE_FEED_ROUTE_ADD:
        m->adds++;
        m->last = e->route;
        if (e->route.flags & BGP_ROUTE_FEED_F_DUMP)
            m->dump_adds++;
        if (e->route.prefix == m->watch_prefix)
            m->watch_events++;
        r = mirror_find(m, e->route.prefix, e->route.len);
        if (!r) {
            assert_true(m->n < MIRROR_MAX);
            r = &m->r[m->n++];
            r->prefix = e->route.prefix;
            r->len = e->route.len;
        }
        r->stale = false;
        r->n_nh = e->route.n_nexthops < 4 ? e->route.n_nexthops : 4;
        memcpy(r->nh, e->route.nexthops, r->n_nh * sizeof(r->nh[0]));
        break;
    case BGP_ROUTE_FEED_ROUTE_DEL:
        m->dels++;
        m->last = e->route;
        if (e->route.prefix == m->watch_prefix)
            m->watch_events++;
        r = mirror_find(m, e->route.prefix, e->route.len);
        if (r)
            *r = m->r[--m->n];
        break;
    case BGP_ROUTE_FEED_LINK:
        m->links++;
        break;
    case BGP_ROUTE_FEED_OVERRUN:
        m->overruns++;
        break;
    }
}

/* --- namespace fixture ---------------------------------------------------------------------------- */

struct ns_env {
    char ns[32];
    int home_fd;
    bool entered, ready;
    unsigned ifa, ifb;               /* ifindex of rfa (10.99.0.1/24), rfb (10.99.1.1/24) */
    struct bgp_route_feed *feed;
    struct mirror *m;
};

static unsigned ns_counter;
static char ns_leftover[32];

static void ns_atexit(void)
{
    char cmd[96];

    if (ns_leftover[0]) {
        snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns_leftover);
        if (system(cmd) != 0)
            ns_leftover[0] = 0;
    }
}


static int ns_setup(void **state)
{
    struct ns_env *e = calloc(1, sizeof(*e));
    char path[64];
    int fd;

    *state = e;
    if (!e)
        return -1;
    e->home_fd = -1;
    e->m = calloc(1, sizeof(*e->m));
    if (!e->m || geteuid() != 0)
        return 0;
    e->home_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (e->home_fd < 0)
        return 0;
    snprintf(e->ns, sizeof(e->ns), "rprf%d_%u", (int)getpid(), ns_counter++);
    snprintf(ns_leftover, sizeof(ns_leftover), "%s", e->ns);
    if (sh("ip netns add %s 2>/dev/null", e->ns) != 0) {
        e->ns[0] = ns_leftover[0] = 0;
        return 0;
    }
    snprintf(path, sizeof(path), "/run/netns/%s", e->ns);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (setns(fd, CLONE_NEWNET) == 0)
        e->entered = true;
    close(fd);
    if (!e->entered)
        return 0;
    /* Children of system() inherit this thread's namespace. */
    if (sh("ip link set lo up && ip link add rfa type veth peer name rfb && "
           "ip addr add 10.99.0.1/24 dev rfa && ip addr add 10.99.1.1/24 dev rfb && "
           "ip link set rfa up && ip link set rfb up") != 0)
        return 0;
    e->ifa = if_nametoindex("rfa");
    e->ifb = if_nametoindex("rfb");
    e->ready = e->ifa && e->ifb;
    return 0;
}

static int ns_teardown(void **state)
{
    struct ns_env *e = *state;

    if (!e)
        return 0;
    bgp_route_feed_close(e->feed);
    if (e->entered && setns(e->home_fd, CLONE_NEWNET) < 0)
        fprintf(stderr, "cannot return to the original namespace: %s\n", strerror(errno));
    if (e->home_fd >= 0)
        close(e->home_fd);
    if (e->ns[0]) {
        sh("ip netns del %s 2>/dev/null", e->ns);
        ns_leftover[0] = 0;
    }
    free(e->m);
    free(e);
    return 0;
}

static void skip_unless_ready(struct ns_env *e)
{
    if (!e->ready) {
        print_message("skipped: needs root and network namespaces\n");
        skip();
    }
}

static void open_feed(struct ns_env *e)
{
    char err[128] = "";
    int rc = bgp_route_feed_open(TABLE, &e->feed, err, sizeof(err));

    if (rc)
        fail_msg("bgp_route_feed_open: %d %s", rc, err);
}

/* Run the feed until cond holds; fails if it does not within about 10 s
 * of waiting on the socket (a bound on the wait, not a timing check). */
static void pump_until(struct ns_env *e, bool (*cond)(struct ns_env *))
{
    for (int waits = 0; waits < 100;) {
        int n = bgp_route_feed_process(e->feed, 64, mirror_cb, e->m);
        struct pollfd p = {.fd = bgp_route_feed_fd(e->feed), .events = POLLIN};

        assert_true(n >= 0);
        if (cond(e))
            return;
        if (n == 64 || bgp_route_feed_pending(e->feed))
            continue;
        if (poll(&p, 1, 100) == 0)
            waits++;
    }
    fail_msg("condition not reached");
}

static bool dump_done(struct ns_env *e)
{
    return e->m->complete_ends > 0 && !bgp_route_feed_dumping(e->feed) && !bgp_route_feed_pending(e->feed);
}

static uint32_t marker_prefix = IP(192, 0, 2, 0);

static bool marker_seen(struct ns_env *e)
{
    return mirror_find(e->m, marker_prefix, 24) != NULL;
}

/* Open, dump the (empty or prepared) table and wait for the dump's end. */
static void open_and_sync(struct ns_env *e)
{
    open_feed(e);
    bgp_route_feed_dump(e->feed);
    pump_until(e, dump_done);
}

static void add_marker(void)
{
    assert_int_equal(sh("ip route add 192.0.2.0/24 via 10.99.0.2 table %d", TABLE), 0);
}

/* --- namespace tests ------------------------------------------------------------------------------- */

static void test_feed_dump_of_table_never_used_is_empty_and_complete(void **state)
{
    struct ns_env *e = *state;

    skip_unless_ready(e);
    open_and_sync(e);
    assert_int_equal(e->m->begins, 1);
    assert_int_equal(e->m->ends, 1);
    assert_int_equal(e->m->last_end_routes, 0);
    assert_int_equal(e->m->n, 0);
}

static void test_feed_add_in_table_gives_prefix_gateway_ifindex(void **state)
{
    struct ns_env *e = *state;
    struct mroute *r;

    skip_unless_ready(e);
    open_and_sync(e);
    assert_int_equal(sh("ip route add 203.0.113.0/24 via 10.99.0.2 table %d", TABLE), 0);
    marker_prefix = IP(203, 0, 113, 0);
    pump_until(e, marker_seen);
    r = mirror_find(e->m, IP(203, 0, 113, 0), 24);
    assert_int_equal(r->n_nh, 1);
    assert_int_equal(r->nh[0].gateway, IP(10, 99, 0, 2));
    assert_int_equal(r->nh[0].ifindex, e->ifa);
    assert_int_equal(r->nh[0].weight, 1);
    assert_int_equal(e->m->last.protocol, RTPROT_BOOT);
    assert_int_equal(e->m->last.type, BGP_ROUTE_FEED_UNICAST);
    assert_false(e->m->last.flags & (BGP_ROUTE_FEED_F_DUMP | BGP_ROUTE_FEED_F_REPLACE));
}

static void test_feed_replace_with_ecmp_gives_one_event_with_two_next_hops(void **state)
{
    struct ns_env *e = *state;
    struct mroute *r;

    skip_unless_ready(e);
    open_and_sync(e);
    assert_int_equal(sh("ip route add 203.0.113.0/24 via 10.99.0.2 table %d", TABLE), 0);
    marker_prefix = IP(203, 0, 113, 0);
    pump_until(e, marker_seen);
    e->m->watch_prefix = IP(203, 0, 113, 0);
    e->m->watch_events = 0;
    assert_int_equal(sh("ip route replace 203.0.113.0/24 table %d nexthop via 10.99.0.2 nexthop via 10.99.1.2",
                        TABLE), 0);
    marker_prefix = IP(192, 0, 2, 0);
    add_marker();   /* events arrive in order: once the marker is in, the replace was delivered */
    pump_until(e, marker_seen);
    assert_int_equal(e->m->watch_events, 1);
    r = mirror_find(e->m, IP(203, 0, 113, 0), 24);
    assert_non_null(r);
    assert_int_equal(r->n_nh, 2);
    assert_int_equal(r->nh[0].gateway, IP(10, 99, 0, 2));
    assert_int_equal(r->nh[0].ifindex, e->ifa);
    assert_int_equal(r->nh[1].gateway, IP(10, 99, 1, 2));
    assert_int_equal(r->nh[1].ifindex, e->ifb);
}

static void test_feed_ignores_routes_in_main_table(void **state)
{
    struct ns_env *e = *state;
    struct bgp_route_feed_stats st;

    skip_unless_ready(e);
    open_and_sync(e);
    assert_int_equal(sh("ip route add 198.51.100.0/24 via 10.99.0.2"), 0);
    marker_prefix = IP(192, 0, 2, 0);
    add_marker();
    pump_until(e, marker_seen);
    assert_null(mirror_find(e->m, IP(198, 51, 100, 0), 24));
    assert_int_equal(e->m->n, 1);
    bgp_route_feed_get_stats(e->feed, &st);
    assert_true(st.other_tables >= 1);
}

static bool watch_gone(struct ns_env *e)
{
    return !mirror_find(e->m, e->m->watch_prefix, 24);
}

static void test_feed_delete_gives_remove_event(void **state)
{
    struct ns_env *e = *state;

    skip_unless_ready(e);
    open_and_sync(e);
    assert_int_equal(sh("ip route add 203.0.113.0/24 via 10.99.0.2 table %d", TABLE), 0);
    marker_prefix = IP(203, 0, 113, 0);
    pump_until(e, marker_seen);
    e->m->watch_prefix = IP(203, 0, 113, 0);
    assert_int_equal(e->m->dels, 0);
    assert_int_equal(sh("ip route del 203.0.113.0/24 table %d", TABLE), 0);
    pump_until(e, watch_gone);
    assert_int_equal(e->m->dels, 1);
    assert_int_equal(e->m->last.prefix, IP(203, 0, 113, 0));
    assert_int_equal(e->m->last.len, 24);
    assert_int_equal(e->m->begins, 1);   /* learned from the notification, not a re-dump */
}

/* n routes 10.(100+i/256).(i%256).0/24 via gw into table 100, one ip -batch. */
static int install_routes(unsigned n, const char *gw, unsigned base)
{
    char path[64];
    FILE *f;
    int rc;

    snprintf(path, sizeof(path), "/tmp/rprf_batch_%d", (int)getpid());
    f = fopen(path, "w");
    if (!f)
        return -1;
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "route add 10.%u.%u.0/24 via %s table %d\n", 100 + (base + i) / 256, (base + i) % 256, gw, TABLE);
    fclose(f);
    rc = sh("ip -batch %s", path);
    unlink(path);
    return rc;
}

static bool m_has_1001(struct ns_env *e)
{
    return e->m->n == 1001;
}

static void test_feed_dump_delivers_1000_routes_between_begin_and_end(void **state)
{
    struct ns_env *e = *state;
    struct bgp_route_feed_stats st;

    skip_unless_ready(e);
    assert_int_equal(install_routes(1000, "10.99.0.2", 0), 0);
    assert_int_equal(sh("ip route add 10.100.0.0/24 via 10.99.1.2"), 0);   /* same prefix in main */
    open_and_sync(e);
    assert_int_equal(e->m->begins, 1);
    assert_int_equal(e->m->complete_ends, 1);
    assert_int_equal(e->m->last_end_routes, 1000);
    assert_int_equal(e->m->dump_adds, 1000);
    assert_int_equal(e->m->n, 1000);
    assert_non_null(mirror_find(e->m, IP(10, 103, 231, 0), 24));   /* route 999 */
    assert_int_equal(mirror_find(e->m, IP(10, 100, 0, 0), 24)->nh[0].ifindex, e->ifa);
    bgp_route_feed_get_stats(e->feed, &st);
    assert_int_equal(st.routes_added, 1000);
    assert_int_equal(st.malformed, 0);
    /* Notifications after the dump still count. */
    add_marker();
    pump_until(e, m_has_1001);
}

static bool link_dump_settled(struct ns_env *e)
{
    return e->m->links > 0 && e->m->complete_ends >= 2 && !bgp_route_feed_dumping(e->feed) &&
           !bgp_route_feed_pending(e->feed);
}

static unsigned count_via(struct mirror *m, unsigned ifindex)
{
    unsigned n = 0;

    for (unsigned i = 0; i < m->n; i++)
        for (unsigned j = 0; j < m->r[i].n_nh; j++)
            n += m->r[i].nh[j].ifindex == ifindex;
    return n;
}

static void test_feed_link_down_drops_routes_through_it_by_redump(void **state)
{
    struct ns_env *e = *state;
    struct mroute *r;

    skip_unless_ready(e);
    assert_int_equal(install_routes(10, "10.99.0.2", 0), 0);
    assert_int_equal(install_routes(10, "10.99.1.2", 10), 0);
    assert_int_equal(sh("ip route add 203.0.113.0/24 table %d nexthop via 10.99.0.2 nexthop via 10.99.1.2", TABLE), 0);
    open_and_sync(e);
    assert_int_equal(e->m->n, 21);
    assert_int_equal(count_via(e->m, e->ifa), 11);

    assert_int_equal(sh("ip link set rfa down"), 0);
    /* The kernel drops them without RTM_DELROUTE; only the re-dump tells. */
    pump_until(e, link_dump_settled);
    assert_int_equal(count_via(e->m, e->ifa), 0);
    assert_int_equal(e->m->n, 11);
    r = mirror_find(e->m, IP(203, 0, 113, 0), 24);
    assert_non_null(r);
    assert_int_equal(r->n_nh, 1);   /* the member through rfa is dead */
    assert_int_equal(r->nh[0].ifindex, e->ifb);

    /* Back up: the dead member comes back to life, again silently. */
    e->m->links = 0;
    e->m->complete_ends = 1;
    assert_int_equal(sh("ip link set rfa up"), 0);
    pump_until(e, link_dump_settled);
    r = mirror_find(e->m, IP(203, 0, 113, 0), 24);
    assert_int_equal(r->n_nh, 2);
}

static void test_feed_address_removal_drops_routes_via_that_subnet(void **state)
{
    struct ns_env *e = *state;

    skip_unless_ready(e);
    assert_int_equal(install_routes(5, "10.99.0.2", 0), 0);
    assert_int_equal(install_routes(5, "10.99.1.2", 5), 0);
    open_and_sync(e);
    assert_int_equal(e->m->n, 10);
    assert_int_equal(sh("ip addr del 10.99.0.1/24 dev rfa"), 0);
    pump_until(e, link_dump_settled);
    assert_int_equal(e->m->n, 5);
    assert_int_equal(count_via(e->m, e->ifa), 0);
}

static bool overrun_recovered(struct ns_env *e)
{
    return e->m->overruns > 0 && e->m->n == 1000 && dump_done(e);
}

static void test_feed_overrun_recovers_by_redump(void **state)
{
    struct ns_env *e = *state;
    struct bgp_route_feed_stats st;
    int small = 4096;

    skip_unless_ready(e);
    open_and_sync(e);
    e->m->complete_ends = 0;
    /* A tiny buffer and 1000 notifications nobody reads: ENOBUFS. */
    assert_int_equal(setsockopt(bgp_route_feed_fd(e->feed), SOL_SOCKET, SO_RCVBUFFORCE, &small, sizeof(small)), 0);
    assert_int_equal(install_routes(1000, "10.99.0.2", 0), 0);
    pump_until(e, overrun_recovered);
    bgp_route_feed_get_stats(e->feed, &st);
    assert_true(st.overruns >= 1);
    assert_true(st.dumps_completed >= 2);
}

static void test_feed_process_handles_at_most_max_messages(void **state)
{
    struct ns_env *e = *state;
    int n;

    skip_unless_ready(e);
    open_and_sync(e);
    assert_int_equal(install_routes(50, "10.99.0.2", 0), 0);
    n = bgp_route_feed_process(e->feed, 7, mirror_cb, e->m);
    assert_int_equal(n, 7);
    assert_int_equal(e->m->n, 7);
    for (int i = 0; i < 20 && e->m->n < 50; i++)
        assert_true(bgp_route_feed_process(e->feed, 7, mirror_cb, e->m) >= 0);
    assert_int_equal(e->m->n, 50);
}

static void test_open_refuses_table_zero(void **state)
{
    struct bgp_route_feed *f = (void *)1;
    char err[64] = "";

    (void)state;
    assert_int_equal(bgp_route_feed_open(0, &f, err, sizeof(err)), -EINVAL);
    assert_null(f);
    assert_true(err[0] != 0);
    bgp_route_feed_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_single_path_gives_gateway_ifindex_metric),
        cmocka_unit_test(test_parse_multipath_gives_members_with_weights_and_skips_dead),
        cmocka_unit_test(test_parse_all_members_dead_is_unusable_removal),
        cmocka_unit_test(test_parse_ipv6_via_next_hop_is_unusable_removal),
        cmocka_unit_test(test_parse_blackhole_has_no_next_hops),
        cmocka_unit_test(test_parse_default_route_and_removal),
        cmocka_unit_test(test_parse_ignores_other_table_family_and_cache),
        cmocka_unit_test(test_parse_rejects_bad_lengths_and_host_bits),
        cmocka_unit_test(test_parse_too_many_members_is_unusable_removal),
        cmocka_unit_test(test_open_refuses_table_zero),
        cmocka_unit_test_setup_teardown(test_feed_dump_of_table_never_used_is_empty_and_complete, ns_setup,
                                        ns_teardown),
        cmocka_unit_test_setup_teardown(test_feed_add_in_table_gives_prefix_gateway_ifindex, ns_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_feed_replace_with_ecmp_gives_one_event_with_two_next_hops, ns_setup,
                                        ns_teardown),
        cmocka_unit_test_setup_teardown(test_feed_ignores_routes_in_main_table, ns_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_feed_delete_gives_remove_event, ns_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_feed_dump_delivers_1000_routes_between_begin_and_end, ns_setup,
                                        ns_teardown),
        cmocka_unit_test_setup_teardown(test_feed_link_down_drops_routes_through_it_by_redump, ns_setup,
                                        ns_teardown),
        cmocka_unit_test_setup_teardown(test_feed_address_removal_drops_routes_via_that_subnet, ns_setup,
                                        ns_teardown),
        cmocka_unit_test_setup_teardown(test_feed_overrun_recovers_by_redump, ns_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_feed_process_handles_at_most_max_messages, ns_setup, ns_teardown),
    };

    atexit(ns_atexit);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
