/* gateway/gw_routes: the route feed's events applied to the learned-route
 * table: replace/delete, ECMP picks and weights, the dump rule, kinds, the
 * size cap, listing order, and a differential run against a linear scan. */
#include "bgp/route_feed.h"
#include "gateway/gw_impl.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static struct bgp_route_feed_event ev;

static const struct bgp_route_feed_event *ev_add(uint32_t prefix, uint8_t len, uint8_t type, unsigned n,
                                                 const uint32_t *gws, const uint16_t *weights)
{
    memset(&ev, 0, sizeof(ev));
    ev.type = BGP_ROUTE_FEED_ROUTE_ADD;
    ev.route.prefix = prefix;
    ev.route.len = len;
    ev.route.type = type;
    ev.route.protocol = 12;
    ev.route.n_nexthops = n;
    for (unsigned i = 0; i < n; i++)
        ev.route.nexthops[i] = (struct bgp_route_feed_nexthop){gws[i], 10 + (gws[i] & 3), weights ? weights[i] : 1,
                                                                0};
    return &ev;
}

static int add1(struct gw_routes *r, uint32_t prefix, uint8_t len, uint32_t gw)
{
    return gw_routes_apply(r, ev_add(prefix, len, BGP_ROUTE_FEED_UNICAST, 1, &gw, NULL));
}

static int del(struct gw_routes *r, uint32_t prefix, uint8_t len, uint32_t flags)
{
    memset(&ev, 0, sizeof(ev));
    ev.type = BGP_ROUTE_FEED_ROUTE_DEL;
    ev.route.prefix = prefix;
    ev.route.len = len;
    ev.route.flags = flags;
    return gw_routes_apply(r, &ev);
}

static void dump_begin(struct gw_routes *r)
{
    memset(&ev, 0, sizeof(ev));
    ev.type = BGP_ROUTE_FEED_DUMP_BEGIN;
    assert_int_equal(gw_routes_apply(r, &ev), 0);
}

static void dump_end(struct gw_routes *r, bool complete)
{
    memset(&ev, 0, sizeof(ev));
    ev.type = BGP_ROUTE_FEED_DUMP_END;
    ev.dump.complete = complete;
    assert_int_equal(gw_routes_apply(r, &ev), 0);
}

/* The gateway the table gives for dst, 0 for a non-unicast route, UINT32_MAX for none. */
static uint32_t gw_of(const struct gw_routes *r, uint32_t dst)
{
    enum gw_route_kind kind;
    struct gw_nexthop nh;

    if (gw_routes_lookup(r, dst, 0, &kind, &nh) == -ENOENT)
        return UINT32_MAX;
    return kind == GW_ROUTE_UNICAST ? nh.gateway : 0;
}

static struct gw_routes *mk(uint32_t max)
{
    struct gw_routes *r = NULL;

    assert_int_equal(gw_routes_create(max, &r), 0);
    return r;
}

static void test_add_replace_delete_follow_the_feed(void **state)
{
    struct gw_routes *r = mk(100);
    struct gw_routes_stats st;

    (void)state;
    assert_int_equal(gw_of(r, IP(10, 1, 2, 3)), UINT32_MAX);
    assert_int_equal(add1(r, IP(10, 1, 0, 0), 16, IP(192, 0, 2, 1)), 0);
    assert_int_equal(gw_of(r, IP(10, 1, 2, 3)), IP(192, 0, 2, 1));
    assert_int_equal(gw_of(r, IP(10, 2, 0, 0)), UINT32_MAX);
    /* Replace: the same prefix with another next hop. */
    assert_int_equal(add1(r, IP(10, 1, 0, 0), 16, IP(192, 0, 2, 9)), 0);
    assert_int_equal(gw_of(r, IP(10, 1, 2, 3)), IP(192, 0, 2, 9));
    /* A more specific one wins; deleting it uncovers the /16. */
    assert_int_equal(add1(r, IP(10, 1, 2, 0), 24, IP(192, 0, 2, 7)), 0);
    assert_int_equal(gw_of(r, IP(10, 1, 2, 3)), IP(192, 0, 2, 7));
    assert_int_equal(del(r, IP(10, 1, 2, 0), 24, 0), 0);
    assert_int_equal(gw_of(r, IP(10, 1, 2, 3)), IP(192, 0, 2, 9));
    gw_routes_get_stats(r, &st);
    assert_int_equal(st.routes, 1);
    assert_int_equal(st.nexthop_sets, 1);   /* the replaced and deleted sets were freed */
    assert_int_equal(st.adds, 3);
    assert_int_equal(st.dels, 1);
    assert_int_equal(del(r, IP(10, 1, 0, 0), 16, 0), 0);
    assert_int_equal(gw_of(r, IP(10, 1, 2, 3)), UINT32_MAX);
    /* Deleting what is absent is fine and changes nothing. */
    assert_int_equal(del(r, IP(10, 1, 0, 0), 16, 0), 0);
    gw_routes_get_stats(r, &st);
    assert_int_equal(st.routes, 0);
    assert_int_equal(st.nexthop_sets, 0);
    gw_routes_destroy(r);
}

static void test_default_route_catches_what_nothing_else_holds(void **state)
{
    struct gw_routes *r = mk(100);

    (void)state;
    assert_int_equal(add1(r, 0, 0, IP(192, 0, 2, 254)), 0);
    assert_int_equal(add1(r, IP(10, 0, 0, 0), 8, IP(192, 0, 2, 1)), 0);
    assert_int_equal(gw_of(r, IP(11, 0, 0, 1)), IP(192, 0, 2, 254));
    assert_int_equal(gw_of(r, IP(10, 0, 0, 1)), IP(192, 0, 2, 1));
    assert_int_equal(del(r, 0, 0, 0), 0);
    assert_int_equal(gw_of(r, IP(11, 0, 0, 1)), UINT32_MAX);
    gw_routes_destroy(r);
}

static void test_ecmp_pick_is_deterministic_and_spreads_evenly(void **state)
{
    uint32_t gws[4] = {IP(192, 0, 2, 1), IP(192, 0, 2, 2), IP(192, 0, 2, 3), IP(192, 0, 2, 4)};
    struct gw_routes *r = mk(100);
    unsigned hits[4] = {0};
    enum gw_route_kind kind;
    struct gw_nexthop nh, nh2;

    (void)state;
    assert_int_equal(gw_routes_apply(r, ev_add(IP(203, 0, 113, 0), 24, BGP_ROUTE_FEED_UNICAST, 4, gws, NULL)), 0);
    /* Sequential hashes: the pick must mix them, not take low bits. */
    for (uint32_t h = 0; h < 40000; h++) {
        assert_int_equal(gw_routes_lookup(r, IP(203, 0, 113, 9), h, &kind, &nh), 0);
        assert_int_equal(kind, GW_ROUTE_UNICAST);
        assert_in_range(nh.gateway, gws[0], gws[3]);
        assert_int_equal(nh.ifindex, 10 + (nh.gateway & 3));
        hits[nh.gateway - gws[0]]++;
        assert_int_equal(gw_routes_lookup(r, IP(203, 0, 113, 200), h, &kind, &nh2), 0);
        assert_int_equal(nh2.gateway, nh.gateway);
    }
    for (int i = 0; i < 4; i++)
        assert_in_range(hits[i], 9000, 11000);
    gw_routes_destroy(r);
}

/* One and two members take a shortcut in the pick: both must still honour
 * the hash and the weights. */
static void test_ecmp_two_members_split_by_weight(void **state)
{
    uint32_t gws[2] = {IP(192, 0, 2, 1), IP(192, 0, 2, 2)};
    uint16_t w[2] = {1, 3}, w1 = 200;
    struct gw_routes *r = mk(100);
    unsigned hits[2] = {0};
    enum gw_route_kind kind;
    struct gw_nexthop nh;

    (void)state;
    assert_int_equal(gw_routes_apply(r, ev_add(IP(198, 51, 100, 0), 24, BGP_ROUTE_FEED_UNICAST, 2, gws, w)), 0);
    assert_int_equal(gw_routes_apply(r, ev_add(IP(198, 51, 101, 0), 24, BGP_ROUTE_FEED_UNICAST, 1, gws, &w1)), 0);
    for (uint32_t h = 0; h < 40000; h++) {
        assert_int_equal(gw_routes_lookup(r, IP(198, 51, 100, 1), h, &kind, &nh), 0);
        hits[nh.gateway - gws[0]]++;
        assert_int_equal(gw_routes_lookup(r, IP(198, 51, 101, 1), h, &kind, &nh), 0);
        assert_int_equal(nh.gateway, gws[0]);
    }
    /* Expected 10000 and 30000. */
    assert_in_range(hits[0], 9000, 11000);
    assert_in_range(hits[1], 29000, 31000);
    gw_routes_destroy(r);
}

static void test_ecmp_weights_shift_the_spread_proportionally(void **state)
{
    uint32_t gws[3] = {IP(192, 0, 2, 1), IP(192, 0, 2, 2), IP(192, 0, 2, 3)};
    uint16_t w[3] = {1, 3, 256};
    struct gw_routes *r = mk(100);
    unsigned hits[3] = {0};
    enum gw_route_kind kind;
    struct gw_nexthop nh;
    const unsigned N = 260000;

    (void)state;
    assert_int_equal(gw_routes_apply(r, ev_add(IP(198, 51, 100, 0), 24, BGP_ROUTE_FEED_UNICAST, 3, gws, w)), 0);
    for (uint32_t h = 0; h < N; h++) {
        assert_int_equal(gw_routes_lookup(r, IP(198, 51, 100, 1), rnd(), &kind, &nh), 0);
        hits[nh.gateway - gws[0]]++;
    }
    /* Expected 1000, 3000, 256000. */
    assert_in_range(hits[0], 800, 1200);
    assert_in_range(hits[1], 2600, 3400);
    assert_in_range(hits[2], 255000, 257000);
    gw_routes_destroy(r);
}

static void test_same_members_in_any_order_share_one_set(void **state)
{
    uint32_t a[3] = {IP(192, 0, 2, 1), IP(192, 0, 2, 2), IP(192, 0, 2, 3)};
    uint32_t b[3] = {IP(192, 0, 2, 3), IP(192, 0, 2, 1), IP(192, 0, 2, 2)};
    uint16_t wa[3] = {2, 1, 1}, wb[3] = {1, 2, 1}, wc[3] = {1, 1, 2};
    struct gw_routes *r = mk(100);
    struct gw_routes_stats st;
    enum gw_route_kind kind;
    struct gw_nexthop n1, n2;

    (void)state;
    assert_int_equal(gw_routes_apply(r, ev_add(IP(10, 0, 0, 0), 24, BGP_ROUTE_FEED_UNICAST, 3, a, wa)), 0);
    assert_int_equal(gw_routes_apply(r, ev_add(IP(10, 0, 1, 0), 24, BGP_ROUTE_FEED_UNICAST, 3, b, wb)), 0);
    gw_routes_get_stats(r, &st);
    assert_int_equal(st.nexthop_sets, 1);
    for (uint32_t h = 0; h < 1000; h++) {
        assert_int_equal(gw_routes_lookup(r, IP(10, 0, 0, 1), h * 7919, &kind, &n1), 0);
        assert_int_equal(gw_routes_lookup(r, IP(10, 0, 1, 1), h * 7919, &kind, &n2), 0);
        assert_int_equal(n1.gateway, n2.gateway);
    }
    /* Other weights on the same members are another set. */
    assert_int_equal(gw_routes_apply(r, ev_add(IP(10, 0, 2, 0), 24, BGP_ROUTE_FEED_UNICAST, 3, a, wc)), 0);
    gw_routes_get_stats(r, &st);
    assert_int_equal(st.nexthop_sets, 2);
    gw_routes_destroy(r);
}

static void test_dump_sweep_removes_only_routes_left_stale(void **state)
{
    struct gw_routes *r = mk(100);
    struct gw_routes_stats st;

    (void)state;
    assert_int_equal(add1(r, IP(10, 0, 0, 0), 24, IP(192, 0, 2, 1)), 0);
    assert_int_equal(add1(r, IP(10, 0, 1, 0), 24, IP(192, 0, 2, 1)), 0);
    assert_int_equal(add1(r, IP(10, 0, 2, 0), 24, IP(192, 0, 2, 1)), 0);
    assert_int_equal(add1(r, IP(10, 0, 3, 0), 24, IP(192, 0, 2, 1)), 0);
    dump_begin(r);
    /* Seen in the dump (unchanged), in the dump (changed), and by a
     * notification during it; 10.0.2.0/24 is not seen. */
    assert_int_equal(add1(r, IP(10, 0, 0, 0), 24, IP(192, 0, 2, 1)), 0);
    assert_int_equal(add1(r, IP(10, 0, 1, 0), 24, IP(192, 0, 2, 2)), 0);
    assert_int_equal(add1(r, IP(10, 0, 3, 0), 24, IP(192, 0, 2, 1)), 0);
    assert_int_equal(add1(r, IP(10, 0, 4, 0), 24, IP(192, 0, 2, 3)), 0);   /* new during the dump */
    dump_end(r, true);
    assert_int_equal(gw_of(r, IP(10, 0, 0, 1)), IP(192, 0, 2, 1));
    assert_int_equal(gw_of(r, IP(10, 0, 1, 1)), IP(192, 0, 2, 2));
    assert_int_equal(gw_of(r, IP(10, 0, 2, 1)), UINT32_MAX);
    assert_int_equal(gw_of(r, IP(10, 0, 3, 1)), IP(192, 0, 2, 1));
    assert_int_equal(gw_of(r, IP(10, 0, 4, 1)), IP(192, 0, 2, 3));
    gw_routes_get_stats(r, &st);
    assert_int_equal(st.routes, 4);
    assert_int_equal(st.swept, 1);
    assert_int_equal(st.dumps, 1);
    /* Marks do not outlive the dump: a second END sweeps nothing. */
    dump_end(r, true);
    gw_routes_get_stats(r, &st);
    assert_int_equal(st.routes, 4);
    gw_routes_destroy(r);
}

static void test_sweep_of_many_stale_routes_keeps_every_marked_one(void **state)
{
    struct gw_routes *r = mk(20000);
    struct gw_routes_stats st;

    (void)state;
    /* Enough records to wrap probe runs around the end of the table. */
    for (uint32_t i = 0; i < 10000; i++)
        assert_int_equal(add1(r, IP(20, 0, 0, 0) + (i << 8), 24, IP(192, 0, 2, 1)), 0);
    dump_begin(r);
    for (uint32_t i = 0; i < 10000; i += 3)
        assert_int_equal(add1(r, IP(20, 0, 0, 0) + (i << 8), 24, IP(192, 0, 2, 1)), 0);
    dump_end(r, true);
    for (uint32_t i = 0; i < 10000; i++)
        assert_int_equal(gw_of(r, IP(20, 0, 0, 5) + (i << 8)), i % 3 ? UINT32_MAX : IP(192, 0, 2, 1));
    gw_routes_get_stats(r, &st);
    assert_int_equal(st.routes, 3334);
    assert_int_equal(st.swept, 10000 - 3334);
    gw_routes_destroy(r);
}

static void test_incomplete_dump_does_not_sweep(void **state)
{
    struct gw_routes *r = mk(100);
    struct gw_routes_stats st;

    (void)state;
    assert_int_equal(add1(r, IP(10, 0, 0, 0), 24, IP(192, 0, 2, 1)), 0);
    assert_int_equal(add1(r, IP(10, 0, 1, 0), 24, IP(192, 0, 2, 1)), 0);
    dump_begin(r);
    assert_int_equal(add1(r, IP(10, 0, 0, 0), 24, IP(192, 0, 2, 1)), 0);
    dump_end(r, false);
    assert_int_equal(gw_of(r, IP(10, 0, 1, 1)), IP(192, 0, 2, 1));
    /* Nor does a complete END with no BEGIN before it. */
    dump_end(r, true);
    assert_int_equal(gw_of(r, IP(10, 0, 1, 1)), IP(192, 0, 2, 1));
    gw_routes_get_stats(r, &st);
    assert_int_equal(st.swept, 0);
    assert_int_equal(st.dumps, 0);
    /* The retry that completes does sweep. */
    dump_begin(r);
    assert_int_equal(add1(r, IP(10, 0, 0, 0), 24, IP(192, 0, 2, 1)), 0);
    dump_end(r, true);
    assert_int_equal(gw_of(r, IP(10, 0, 1, 1)), UINT32_MAX);
    assert_int_equal(gw_of(r, IP(10, 0, 0, 1)), IP(192, 0, 2, 1));
    gw_routes_destroy(r);
}

static void test_link_and_overrun_events_change_nothing(void **state)
{
    struct gw_routes *r = mk(100);

    (void)state;
    assert_int_equal(add1(r, IP(10, 0, 0, 0), 24, IP(192, 0, 2, 1)), 0);
    memset(&ev, 0, sizeof(ev));
    ev.type = BGP_ROUTE_FEED_LINK;
    ev.link.ifindex = 11;
    ev.link.deleted = true;
    assert_int_equal(gw_routes_apply(r, &ev), 0);
    ev.type = BGP_ROUTE_FEED_OVERRUN;
    assert_int_equal(gw_routes_apply(r, &ev), 0);
    assert_int_equal(gw_of(r, IP(10, 0, 0, 1)), IP(192, 0, 2, 1));
    gw_routes_destroy(r);
}

static void test_unusable_del_removes_the_route(void **state)
{
    struct gw_routes *r = mk(100);

    (void)state;
    assert_int_equal(add1(r, IP(10, 0, 0, 0), 16, IP(192, 0, 2, 1)), 0);
    assert_int_equal(del(r, IP(10, 0, 0, 0), 16, BGP_ROUTE_FEED_F_UNUSABLE | BGP_ROUTE_FEED_F_REPLACE), 0);
    assert_int_equal(gw_of(r, IP(10, 0, 0, 1)), UINT32_MAX);
    gw_routes_destroy(r);
}

static void test_blackhole_unreachable_and_prohibit_kinds(void **state)
{
    struct gw_routes *r = mk(100);
    enum gw_route_kind kind;
    struct gw_nexthop nh;

    (void)state;
    assert_int_equal(gw_routes_apply(r, ev_add(IP(10, 0, 0, 0), 24, BGP_ROUTE_FEED_BLACKHOLE, 0, NULL, NULL)), 0);
    assert_int_equal(gw_routes_apply(r, ev_add(IP(10, 0, 1, 0), 24, BGP_ROUTE_FEED_UNREACHABLE, 0, NULL, NULL)), 0);
    assert_int_equal(gw_routes_apply(r, ev_add(IP(10, 0, 2, 0), 24, BGP_ROUTE_FEED_PROHIBIT, 0, NULL, NULL)), 0);
    assert_int_equal(gw_routes_lookup(r, IP(10, 0, 0, 1), 0, &kind, &nh), 0);
    assert_int_equal(kind, GW_ROUTE_BLACKHOLE);
    assert_int_equal(gw_routes_lookup(r, IP(10, 0, 1, 1), 0, &kind, &nh), 0);
    assert_int_equal(kind, GW_ROUTE_UNREACHABLE);
    assert_int_equal(gw_routes_lookup(r, IP(10, 0, 2, 1), 0, &kind, &nh), 0);
    assert_int_equal(kind, GW_ROUTE_UNREACHABLE);
    /* A blackhole turning into unicast and back. */
    assert_int_equal(add1(r, IP(10, 0, 0, 0), 24, IP(192, 0, 2, 1)), 0);
    assert_int_equal(gw_of(r, IP(10, 0, 0, 1)), IP(192, 0, 2, 1));
    assert_int_equal(gw_routes_apply(r, ev_add(IP(10, 0, 0, 0), 24, BGP_ROUTE_FEED_BLACKHOLE, 0, NULL, NULL)), 0);
    assert_int_equal(gw_routes_lookup(r, IP(10, 0, 0, 1), 0, &kind, &nh), 0);
    assert_int_equal(kind, GW_ROUTE_BLACKHOLE);
    gw_routes_destroy(r);
}

static void list_all(const struct gw_routes *r, struct gw_route_view *v, unsigned max, unsigned *n)
{
    *n = gw_routes_list(r, v, max);
}

static void test_table_full_refuses_and_leaves_table_unchanged(void **state)
{
    struct gw_routes *r = mk(3);
    struct gw_route_view before[8], after[8];
    struct gw_routes_stats st;
    unsigned nb, na;

    (void)state;
    assert_int_equal(add1(r, IP(10, 0, 0, 0), 24, IP(192, 0, 2, 1)), 0);
    assert_int_equal(add1(r, IP(10, 0, 1, 0), 24, IP(192, 0, 2, 2)), 0);
    assert_int_equal(add1(r, IP(10, 0, 2, 0), 24, IP(192, 0, 2, 3)), 0);
    memset(before, 0, sizeof(before));
    memset(after, 0, sizeof(after));
    list_all(r, before, 8, &nb);
    assert_int_equal(add1(r, IP(10, 0, 3, 0), 24, IP(192, 0, 2, 4)), -ENOSPC);
    assert_int_equal(gw_of(r, IP(10, 0, 3, 1)), UINT32_MAX);
    list_all(r, after, 8, &na);
    assert_int_equal(na, 3);
    assert_int_equal(nb, na);
    assert_memory_equal(before, after, sizeof(before));
    gw_routes_get_stats(r, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.routes, 3);
    assert_int_equal(st.nexthop_sets, 3);   /* the refused route's set was not kept */
    /* Replacing one of the three is no growth and still works. */
    assert_int_equal(add1(r, IP(10, 0, 2, 0), 24, IP(192, 0, 2, 9)), 0);
    assert_int_equal(gw_of(r, IP(10, 0, 2, 1)), IP(192, 0, 2, 9));
    gw_routes_destroy(r);
}

static void test_malformed_events_are_rejected_without_change(void **state)
{
    uint32_t gw = IP(192, 0, 2, 1);
    uint16_t w0 = 0, w257 = 257;
    struct gw_routes *r = mk(10);
    struct gw_routes_stats st;
    struct gw_routes *bad = NULL;

    (void)state;
    assert_int_equal(gw_routes_apply(r, ev_add(IP(10, 0, 0, 1), 24, BGP_ROUTE_FEED_UNICAST, 1, &gw, NULL)), -EINVAL);
    assert_int_equal(gw_routes_apply(r, ev_add(IP(10, 0, 0, 0), 33, BGP_ROUTE_FEED_UNICAST, 1, &gw, NULL)), -EINVAL);
    assert_int_equal(gw_routes_apply(r, ev_add(IP(10, 0, 0, 0), 24, BGP_ROUTE_FEED_UNICAST, 0, NULL, NULL)), -EINVAL);
    assert_int_equal(gw_routes_apply(r, ev_add(IP(10, 0, 0, 0), 24, BGP_ROUTE_FEED_UNICAST, 1, &gw, &w0)), -EINVAL);
    assert_int_equal(gw_routes_apply(r, ev_add(IP(10, 0, 0, 0), 24, BGP_ROUTE_FEED_UNICAST, 1, &gw, &w257)), -EINVAL);
    assert_int_equal(gw_routes_apply(r, ev_add(IP(10, 0, 0, 0), 24, 9, 1, &gw, NULL)), -EINVAL);
    gw_routes_get_stats(r, &st);
    assert_int_equal(st.routes, 0);
    assert_int_equal(st.nexthop_sets, 0);
    assert_int_equal(gw_routes_create(0, &bad), -EINVAL);
    assert_int_equal(gw_routes_create(GW_ROUTES_MAX + 1, &bad), -EINVAL);
    gw_routes_destroy(r);
    gw_routes_destroy(NULL);
}

static void test_list_is_in_address_order_and_pages(void **state)
{
    static const struct {
        uint32_t p;
        uint8_t len;
    } in[] = {{IP(192, 168, 0, 0), 16}, {IP(10, 0, 0, 0), 8},  {IP(10, 0, 0, 0), 24},  {IP(10, 0, 0, 0), 16},
              {IP(172, 16, 5, 0), 24},  {IP(10, 1, 0, 0), 16}, {IP(10, 0, 0, 128), 25}, {0, 0}};
    static const unsigned order[] = {7, 1, 3, 2, 6, 5, 4, 0};
    uint32_t gws[5] = {1, 2, 3, 4, 5};
    struct gw_routes *r = mk(100);
    struct gw_route_view v[16];
    unsigned n;

    (void)state;
    for (unsigned i = 0; i < RP_ARRAY_SIZE(in); i++)
        assert_int_equal(add1(r, in[i].p, in[i].len, IP(192, 0, 2, 1 + i)), 0);
    assert_int_equal(gw_routes_apply(r, ev_add(IP(10, 0, 0, 0), 8, BGP_ROUTE_FEED_UNICAST, 5, gws, NULL)), 0);
    n = gw_routes_list(r, v, 16);
    assert_int_equal(n, RP_ARRAY_SIZE(in));
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(v[i].prefix, in[order[i]].p);
        assert_int_equal(v[i].len, in[order[i]].len);
        assert_int_equal(v[i].kind, GW_ROUTE_UNICAST);
    }
    assert_int_equal(v[1].n_nexthops, 5);
    assert_int_equal(v[1].nexthops[3].gateway, 4);
    assert_int_equal(v[0].n_nexthops, 1);
    assert_int_equal(v[0].nexthops[0].gateway, IP(192, 0, 2, 8));
    /* Paging: three at a time, resuming after the last one written. */
    n = gw_routes_list(r, v, 3);
    assert_int_equal(n, 3);
    n = gw_routes_list_from(r, v[2].prefix, (uint8_t)(v[2].len + 1), v, 3);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].prefix, in[order[3]].p);
    assert_int_equal(v[0].len, in[order[3]].len);
    assert_int_equal(v[2].prefix, in[order[5]].p);
    n = gw_routes_list_from(r, v[2].prefix, (uint8_t)(v[2].len + 1), v, 3);
    assert_int_equal(n, 2);
    assert_int_equal(gw_routes_list(r, v, 0), 0);
    gw_routes_destroy(r);
}

/* --- differential ------------------------------------------------------------------- */

struct ref {
    uint32_t p;
    uint8_t len;
    bool live;
    uint8_t type;
    unsigned n;
    uint32_t gws[3];
};

static uint32_t pmask(uint8_t len)
{
    return len ? ~0u << (32 - len) : 0;
}

static int ref_best(const struct ref *refs, unsigned n, uint32_t a)
{
    int best = -1;

    for (unsigned i = 0; i < n; i++)
        if (refs[i].live && (a & pmask(refs[i].len)) == refs[i].p && (best < 0 || refs[i].len > refs[best].len))
            best = (int)i;
    return best;
}

static void check_against_ref(const struct gw_routes *r, const struct ref *refs, unsigned n, uint32_t a)
{
    int b = ref_best(refs, n, a);
    enum gw_route_kind kind;
    struct gw_nexthop nh;
    uint32_t h = rnd();
    int rc = gw_routes_lookup(r, a, h, &kind, &nh);

    if (b < 0) {
        assert_int_equal(rc, -ENOENT);
        return;
    }
    assert_int_equal(rc, 0);
    switch (refs[b].type) {
    case BGP_ROUTE_FEED_UNICAST: {
        bool member = false;

        assert_int_equal(kind, GW_ROUTE_UNICAST);
        for (unsigned k = 0; k < refs[b].n; k++)
            member |= refs[b].gws[k] == nh.gateway;
        assert_true(member);
        break;
    }
    case BGP_ROUTE_FEED_BLACKHOLE:
        assert_int_equal(kind, GW_ROUTE_BLACKHOLE);
        break;
    default:
        assert_int_equal(kind, GW_ROUTE_UNREACHABLE);
    }
}

static int cmp_ref(const void *a, const void *b)
{
    const struct ref *x = a, *y = b;

    if (x->p != y->p)
        return x->p < y->p ? -1 : 1;
    return x->len < y->len ? -1 : x->len > y->len;
}

static void test_random_updates_match_a_linear_longest_prefix_reference(void **state)
{
    enum { NP = 1500, STEPS = 12000 };
    struct ref *refs = calloc(NP, sizeof(*refs));
    struct gw_route_view *v = calloc(NP, sizeof(*v));
    struct gw_routes *r = mk(NP);
    struct gw_routes_stats st;
    unsigned live = 0;

    (void)state;
    assert_non_null(refs);
    assert_non_null(v);
    /* Prefixes inside two /8s so that they nest and overlap a lot; every
     * length, host routes and the default included. */
    for (unsigned i = 0; i < NP; i++) {
        uint8_t len = (uint8_t)(i == 0 ? 0 : rnd() % 4 == 0 ? 8 + rnd() % 25 : 20 + rnd() % 13);
        uint32_t p = (rnd() & 1 ? IP(10, 0, 0, 0) : IP(100, 64, 0, 0)) | (rnd() & 0x00ffffffu);

        if (i == 0)
            p = 0;
        /* Duplicates of a prefix would make the reference ambiguous: nudge. */
        for (unsigned j = 0; j < i; j++)
            if (refs[j].p == (p & pmask(len)) && refs[j].len == len) {
                len = 32;
                p = IP(10, 255, 0, 0) + i;
                break;
            }
        refs[i].p = p & pmask(len);
        refs[i].len = len;
    }
    for (unsigned s = 0; s < STEPS; s++) {
        unsigned i = rnd() % NP;
        struct ref *x = &refs[i];

        if (x->live && rnd() % 3 == 0) {
            assert_int_equal(del(r, x->p, x->len, rnd() & 1 ? BGP_ROUTE_FEED_F_UNUSABLE : 0), 0);
            x->live = false;
            live--;
        } else {
            unsigned t = rnd() % 8;

            x->type = t < 5 ? BGP_ROUTE_FEED_UNICAST : (uint8_t)(t - 4);
            x->n = x->type == BGP_ROUTE_FEED_UNICAST ? 1 + rnd() % 3 : 0;
            for (unsigned k = 0; k < x->n; k++)
                x->gws[k] = IP(192, 0, 2, 0) + 1 + rnd() % 6;
            assert_int_equal(gw_routes_apply(r, ev_add(x->p, x->len, x->type, x->n, x->gws, NULL)), 0);
            if (!x->live)
                live++;
            x->live = true;
        }
        if (s % 97 == 0) {
            for (unsigned k = 0; k < 64; k++) {
                const struct ref *y = &refs[rnd() % NP];
                uint32_t span = ~pmask(y->len);

                check_against_ref(r, refs, NP, y->p);
                check_against_ref(r, refs, NP, y->p | span);
                check_against_ref(r, refs, NP, y->p | (rnd() & span));
                check_against_ref(r, refs, NP, (y->p | span) + 1);
                check_against_ref(r, refs, NP, rnd());
            }
        }
    }
    gw_routes_get_stats(r, &st);
    assert_int_equal(st.routes, live);
    /* The listing is the live reference, sorted. */
    qsort(refs, NP, sizeof(*refs), cmp_ref);
    assert_int_equal(gw_routes_list(r, v, NP), live);
    for (unsigned i = 0, k = 0; i < NP; i++) {
        if (!refs[i].live)
            continue;
        assert_int_equal(v[k].prefix, refs[i].p);
        assert_int_equal(v[k].len, refs[i].len);
        assert_int_equal(v[k].n_nexthops, refs[i].type == BGP_ROUTE_FEED_UNICAST ? refs[i].n : 0);
        k++;
    }
    /* Deleting everything frees every set. */
    for (unsigned i = 0; i < NP; i++)
        if (refs[i].live)
            assert_int_equal(del(r, refs[i].p, refs[i].len, 0), 0);
    gw_routes_get_stats(r, &st);
    assert_int_equal(st.routes, 0);
    assert_int_equal(st.nexthop_sets, 0);
    gw_routes_destroy(r);
    free(v);
    free(refs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_replace_delete_follow_the_feed),
        cmocka_unit_test(test_default_route_catches_what_nothing_else_holds),
        cmocka_unit_test(test_ecmp_pick_is_deterministic_and_spreads_evenly),
        cmocka_unit_test(test_ecmp_two_members_split_by_weight),
        cmocka_unit_test(test_ecmp_weights_shift_the_spread_proportionally),
        cmocka_unit_test(test_same_members_in_any_order_share_one_set),
        cmocka_unit_test(test_dump_sweep_removes_only_routes_left_stale),
        cmocka_unit_test(test_sweep_of_many_stale_routes_keeps_every_marked_one),
        cmocka_unit_test(test_incomplete_dump_does_not_sweep),
        cmocka_unit_test(test_link_and_overrun_events_change_nothing),
        cmocka_unit_test(test_unusable_del_removes_the_route),
        cmocka_unit_test(test_blackhole_unreachable_and_prohibit_kinds),
        cmocka_unit_test(test_table_full_refuses_and_leaves_table_unchanged),
        cmocka_unit_test(test_malformed_events_are_rejected_without_change),
        cmocka_unit_test(test_list_is_in_address_order_and_pages),
        cmocka_unit_test(test_random_updates_match_a_linear_longest_prefix_reference),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
