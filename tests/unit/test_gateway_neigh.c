/* gateway/gw_neigh: the kernel neighbour mirror (in a private network
 * namespace per test, with a veth pair: this kernel has no dummy driver),
 * gleaning and expiry, the ARP request throttle, the ARP frame, and the
 * netlink parser on good, truncated and garbage messages. Runs as root. */
#include "gateway/gw_impl.h"
#include "tests/unit/test_shell.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define SEC 1000000000ull

static int home_ns = -1;

/* Each kernel test gets a fresh namespace; leaving it (teardown) frees it
 * with everything made inside. */
static int ns_setup(void **state)
{
    (void)state;
    if (unshare(CLONE_NEWNET) < 0)
        return -1;
    if (sh("ip link set lo up && ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up"))
        return -1;
    return 0;
}

static int ns_teardown(void **state)
{
    (void)state;
    return setns(home_ns, CLONE_NEWNET) < 0 ? -1 : 0;
}

static int group_setup(void **state)
{
    (void)state;
    home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    return home_ns < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    close(home_ns);
    return 0;
}

static struct gw_neigh *open_table(uint32_t max)
{
    struct gw_neigh *n = NULL;
    char err[128];
    int rc = gw_neigh_open(max, &n, err, sizeof(err));

    if (rc < 0)
        fprintf(stderr, "# gw_neigh_open: %d %s\n", rc, err);
    assert_int_equal(rc, 0);
    return n;
}

/* Read what the kernel sent until the lookup says 'present' (with mac when
 * given) or a few seconds pass; true when it did. The kernel queues the
 * notification before ip(8) returns, so the first round normally settles it. */
static bool settle(struct gw_neigh *n, uint32_t ifindex, uint32_t addr, bool present, const uint8_t *mac)
{
    for (int i = 0; i < 40; i++) {
        struct pollfd pfd = {gw_neigh_fd(n), POLLIN, 0};
        uint8_t got[6];
        bool have;

        assert_true(gw_neigh_process(n) >= 0);
        have = gw_neigh_lookup(n, ifindex, addr, got);
        if (have == present && (!present || !mac || !memcmp(got, mac, 6)))
            return true;
        (void)poll(&pfd, 1, 100);
    }
    return false;
}

static const uint8_t MAC5[6] = {0x02, 0, 0, 0, 0, 0x05}, MAC6[6] = {0x02, 0, 0, 0, 0, 0x06};

static void test_open_dump_sees_existing_permanent_entry(void **state)
{
    uint32_t v0 = if_nametoindex("v0"), v1 = if_nametoindex("v1");
    struct gw_neigh_stats st;
    struct gw_neigh *n;
    uint8_t mac[6];

    (void)state;
    assert_int_equal(sh("ip neigh add 10.9.0.5 lladdr 02:00:00:00:00:05 dev v0 nud permanent"), 0);
    n = open_table(64);
    /* No process() call: open returned with the dump applied. */
    assert_true(gw_neigh_lookup(n, v0, IP(10, 9, 0, 5), mac));
    assert_memory_equal(mac, MAC5, 6);
    /* Keyed by interface too. */
    assert_false(gw_neigh_lookup(n, v1, IP(10, 9, 0, 5), mac));
    assert_false(gw_neigh_lookup(n, v0, IP(10, 9, 0, 6), mac));
    gw_neigh_get_stats(n, &st);
    assert_true(st.entries >= 1);
    gw_neigh_close(n);
}

static void test_kernel_add_change_delete_are_followed(void **state)
{
    uint32_t v0 = if_nametoindex("v0");
    struct gw_neigh *n = open_table(64);
    struct gw_neigh_stats st;
    uint8_t mac[6];

    (void)state;
    assert_false(gw_neigh_lookup(n, v0, IP(10, 9, 0, 5), mac));
    assert_int_equal(sh("ip neigh add 10.9.0.5 lladdr 02:00:00:00:00:05 dev v0 nud reachable"), 0);
    assert_true(settle(n, v0, IP(10, 9, 0, 5), true, MAC5));
    assert_int_equal(sh("ip neigh change 10.9.0.5 lladdr 02:00:00:00:00:06 dev v0 nud permanent"), 0);
    assert_true(settle(n, v0, IP(10, 9, 0, 5), true, MAC6));
    assert_int_equal(sh("ip neigh del 10.9.0.5 dev v0"), 0);
    assert_true(settle(n, v0, IP(10, 9, 0, 5), false, NULL));
    gw_neigh_get_stats(n, &st);
    assert_true(st.kernel_updates >= 3);
    assert_int_equal(st.entries, 0);
    gw_neigh_close(n);
}

static void test_failed_and_incomplete_entries_are_not_kept(void **state)
{
    uint32_t v0 = if_nametoindex("v0");
    struct gw_neigh *n = open_table(64);
    uint8_t mac[6];

    (void)state;
    assert_int_equal(sh("ip neigh add 10.9.0.5 lladdr 02:00:00:00:00:05 dev v0 nud reachable"), 0);
    assert_true(settle(n, v0, IP(10, 9, 0, 5), true, MAC5));
    /* Going FAILED removes it. */
    assert_int_equal(sh("ip neigh replace 10.9.0.5 dev v0 nud failed"), 0);
    assert_true(settle(n, v0, IP(10, 9, 0, 5), false, NULL));
    /* INCOMPLETE never shows up; the NOARP entry added after it does, so
     * the INCOMPLETE one's message was read before. */
    assert_int_equal(sh("ip neigh add 10.9.0.8 dev v0 nud incomplete"), 0);
    assert_int_equal(sh("ip neigh add 10.9.0.9 lladdr 02:00:00:00:00:09 dev v0 nud noarp"), 0);
    assert_true(settle(n, v0, IP(10, 9, 0, 9), true, NULL));
    assert_false(gw_neigh_lookup(n, v0, IP(10, 9, 0, 8), mac));
    gw_neigh_close(n);
    /* Nor does a dump carry them in. */
    n = open_table(64);
    assert_false(gw_neigh_lookup(n, v0, IP(10, 9, 0, 8), mac));
    assert_false(gw_neigh_lookup(n, v0, IP(10, 9, 0, 5), mac));
    assert_true(gw_neigh_lookup(n, v0, IP(10, 9, 0, 9), mac));
    gw_neigh_close(n);
}

static void test_many_kernel_entries_come_and_go(void **state)
{
    uint32_t v0 = if_nametoindex("v0");
    FILE *f = fopen("/tmp/gw_neigh_batch", "w"), *g = fopen("/tmp/gw_neigh_batch_del", "w");
    struct gw_neigh_stats st;
    struct gw_neigh *n;
    uint8_t mac[6];

    (void)state;
    assert_non_null(f);
    assert_non_null(g);
    /* Half before open (the dump), half after (notifications). */
    for (unsigned i = 0; i < 300; i++)
        fprintf(f, "neigh add 10.8.%u.%u lladdr 02:00:00:00:%02x:%02x dev v0 nud permanent\n", i / 200, i % 200 + 1,
                i >> 8, i & 0xff);
    fclose(f);
    assert_int_equal(sh("head -150 /tmp/gw_neigh_batch | ip -batch -"), 0);
    n = open_table(1024);
    assert_int_equal(sh("tail -150 /tmp/gw_neigh_batch | ip -batch -"), 0);
    assert_true(settle(n, v0, IP(10, 8, 1, 100), true, NULL));
    for (unsigned i = 0; i < 300; i++) {
        assert_true(gw_neigh_lookup(n, v0, IP(10, 8, i / 200, i % 200 + 1), mac));
        assert_int_equal(mac[4], i >> 8);
        assert_int_equal(mac[5], i & 0xff);
    }
    for (unsigned i = 0; i < 300; i++)
        fprintf(g, "neigh del 10.8.%u.%u dev v0\n", i / 200, i % 200 + 1);
    fclose(g);
    assert_int_equal(sh("ip -batch /tmp/gw_neigh_batch_del"), 0);
    assert_true(settle(n, v0, IP(10, 8, 1, 100), false, NULL));
    for (unsigned i = 0; i < 300; i++)
        assert_false(gw_neigh_lookup(n, v0, IP(10, 8, i / 200, i % 200 + 1), mac));
    gw_neigh_get_stats(n, &st);
    assert_int_equal(st.entries, 0);
    gw_neigh_close(n);
    unlink("/tmp/gw_neigh_batch");
    unlink("/tmp/gw_neigh_batch_del");
}

/* A receive buffer shrunk to almost nothing overflows on a burst; the
 * table must then re-dump, and the deletion it never heard of must go. */
static void test_lost_notifications_resync_by_dump(void **state)
{
    uint32_t v0 = if_nametoindex("v0");
    FILE *f = fopen("/tmp/gw_neigh_burst", "w");
    struct gw_neigh_stats st;
    struct gw_neigh *n;
    uint8_t mac[6];
    int tiny = 1;

    (void)state;
    assert_non_null(f);
    assert_int_equal(sh("ip neigh add 10.9.0.5 lladdr 02:00:00:00:00:05 dev v0 nud permanent"), 0);
    n = open_table(1024);
    assert_true(gw_neigh_lookup(n, v0, IP(10, 9, 0, 5), mac));
    assert_int_equal(setsockopt(gw_neigh_fd(n), SOL_SOCKET, SO_RCVBUF, &tiny, sizeof(tiny)), 0);
    /* The deletion comes last, when the buffer is long full: only the
     * dump's sweep can learn of it. */
    for (unsigned i = 0; i < 400; i++)
        fprintf(f, "neigh add 10.7.%u.%u lladdr 02:00:00:00:%02x:%02x dev v0 nud permanent\n", i / 200, i % 200 + 1,
                i >> 8, i & 0xff);
    fprintf(f, "neigh del 10.9.0.5 dev v0\n");
    fclose(f);
    assert_int_equal(sh("ip -batch /tmp/gw_neigh_burst"), 0);
    unlink("/tmp/gw_neigh_burst");
    /* Gone only once a dump has run to its end. */
    assert_true(settle(n, v0, IP(10, 9, 0, 5), false, NULL));
    gw_neigh_get_stats(n, &st);
    assert_true(st.resyncs >= 1);
    assert_false(gw_neigh_lookup(n, v0, IP(10, 9, 0, 5), mac));
    for (unsigned i = 0; i < 400; i++)
        assert_true(gw_neigh_lookup(n, v0, IP(10, 7, i / 200, i % 200 + 1), mac));
    assert_int_equal(st.entries, 400);
    gw_neigh_close(n);
}

static void test_glean_then_expire(void **state)
{
    static const uint8_t m1[6] = {0x02, 1, 1, 1, 1, 1}, m2[6] = {0x02, 2, 2, 2, 2, 2};
    struct gw_neigh *n = open_table(64);
    struct gw_neigh_stats st;
    uint8_t mac[6];

    (void)state;
    gw_neigh_glean(n, 7, IP(192, 0, 2, 1), m1, 1 * SEC);
    gw_neigh_glean(n, 7, IP(192, 0, 2, 2), m2, 5 * SEC);
    assert_true(gw_neigh_lookup(n, 7, IP(192, 0, 2, 1), mac));
    assert_memory_equal(mac, m1, 6);
    /* A newer sighting moves the address and refreshes its age. */
    gw_neigh_glean(n, 7, IP(192, 0, 2, 1), m2, 3 * SEC);
    assert_true(gw_neigh_lookup(n, 7, IP(192, 0, 2, 1), mac));
    assert_memory_equal(mac, m2, 6);
    gw_neigh_expire(n, 10 * SEC, 6 * SEC);   /* .1 seen at 3 s: 7 s old */
    assert_false(gw_neigh_lookup(n, 7, IP(192, 0, 2, 1), mac));
    assert_true(gw_neigh_lookup(n, 7, IP(192, 0, 2, 2), mac));
    gw_neigh_expire(n, 12 * SEC, 6 * SEC);
    assert_false(gw_neigh_lookup(n, 7, IP(192, 0, 2, 2), mac));
    gw_neigh_get_stats(n, &st);
    assert_int_equal(st.expired, 2);
    assert_int_equal(st.entries, 0);
    gw_neigh_close(n);
}

static void test_glean_ignores_bogus_senders_and_never_overrides_kernel(void **state)
{
    static const uint8_t good[6] = {0x02, 9, 9, 9, 9, 9}, group[6] = {0x03, 1, 1, 1, 1, 1}, zero[6] = {0};
    uint32_t v0 = if_nametoindex("v0");
    struct gw_neigh *n;
    uint8_t mac[6];

    (void)state;
    assert_int_equal(sh("ip neigh add 10.9.0.5 lladdr 02:00:00:00:00:05 dev v0 nud permanent"), 0);
    n = open_table(64);
    gw_neigh_glean(n, v0, IP(10, 9, 0, 5), good, SEC);
    assert_true(gw_neigh_lookup(n, v0, IP(10, 9, 0, 5), mac));
    assert_memory_equal(mac, MAC5, 6);
    /* Expiry leaves kernel entries alone. */
    gw_neigh_expire(n, 1000 * SEC, 0);
    assert_true(gw_neigh_lookup(n, v0, IP(10, 9, 0, 5), mac));
    gw_neigh_glean(n, 7, 0, good, SEC);
    gw_neigh_glean(n, 7, IP(255, 255, 255, 255), good, SEC);
    gw_neigh_glean(n, 7, IP(224, 0, 0, 1), good, SEC);
    gw_neigh_glean(n, 7, IP(192, 0, 2, 1), group, SEC);
    gw_neigh_glean(n, 7, IP(192, 0, 2, 2), zero, SEC);
    gw_neigh_glean(n, 0, IP(192, 0, 2, 3), good, SEC);
    assert_false(gw_neigh_lookup(n, 7, 0, mac));
    assert_false(gw_neigh_lookup(n, 7, IP(255, 255, 255, 255), mac));
    assert_false(gw_neigh_lookup(n, 7, IP(224, 0, 0, 1), mac));
    assert_false(gw_neigh_lookup(n, 7, IP(192, 0, 2, 1), mac));
    assert_false(gw_neigh_lookup(n, 7, IP(192, 0, 2, 2), mac));
    assert_false(gw_neigh_lookup(n, 0, IP(192, 0, 2, 3), mac));
    /* The kernel learning a gleaned address takes it over. */
    gw_neigh_glean(n, v0, IP(10, 9, 0, 7), good, SEC);
    assert_int_equal(sh("ip neigh add 10.9.0.7 lladdr 02:00:00:00:00:06 dev v0 nud permanent"), 0);
    assert_true(settle(n, v0, IP(10, 9, 0, 7), true, MAC6));
    gw_neigh_expire(n, 1000 * SEC, 0);
    assert_true(gw_neigh_lookup(n, v0, IP(10, 9, 0, 7), mac));
    gw_neigh_close(n);
}

static void test_full_table_refuses_new_entries_and_keeps_old(void **state)
{
    static const uint8_t m[6] = {0x02, 1, 2, 3, 4, 5};
    struct gw_neigh *n = open_table(4);
    struct gw_neigh_stats st;
    uint8_t mac[6];

    (void)state;
    for (uint32_t i = 1; i <= 6; i++)
        gw_neigh_glean(n, 3, IP(192, 0, 2, i), m, SEC);
    for (uint32_t i = 1; i <= 4; i++)
        assert_true(gw_neigh_lookup(n, 3, IP(192, 0, 2, i), mac));
    assert_false(gw_neigh_lookup(n, 3, IP(192, 0, 2, 5), mac));
    gw_neigh_get_stats(n, &st);
    assert_int_equal(st.entries, 4);
    assert_int_equal(st.refused, 2);
    /* Refreshing one already there is not growth. */
    gw_neigh_glean(n, 3, IP(192, 0, 2, 1), m, 2 * SEC);
    gw_neigh_get_stats(n, &st);
    assert_int_equal(st.refused, 2);
    gw_neigh_close(n);
}

static void test_churn_keeps_every_entry_findable(void **state)
{
    enum { N = 3000 };
    struct gw_neigh *n = open_table(N);
    static uint8_t seen[N];   /* 0: absent, else the second it was gleaned at */
    uint64_t s = 88172645463325252ull;
    uint8_t m[6] = {0x02, 0, 0, 0, 0, 0}, mac[6];

    (void)state;
    memset(seen, 0, sizeof(seen));
    /* Glean at 1 s or 2 s by round; expiring only the 1 s ones removes
     * from the middle of probe runs, which must leave the rest reachable. */
    for (unsigned round = 0; round < 20; round++) {
        uint8_t t = round % 2 ? 2 : 1;

        for (unsigned k = 0; k < N / 2; k++) {
            uint32_t i;

            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            i = (uint32_t)(s % N);
            m[5] = (uint8_t)i;
            gw_neigh_glean(n, 1 + i % 3, IP(10, 0, 0, 0) + i * 97, m, t * SEC);
            seen[i] = t;
        }
        if (round % 3 == 2) {
            gw_neigh_expire(n, 10 * SEC, 8 * SEC + SEC / 2);
            for (unsigned i = 0; i < N; i++)
                if (seen[i] == 1)
                    seen[i] = 0;
        }
        for (unsigned i = 0; i < N; i++) {
            bool have = gw_neigh_lookup(n, 1 + i % 3, IP(10, 0, 0, 0) + i * 97, mac);

            assert_int_equal(have, seen[i] != 0);
            if (have)
                assert_int_equal(mac[5], (uint8_t)i);
        }
    }
    gw_neigh_close(n);
}

static void test_request_throttle_is_one_per_second_per_address(void **state)
{
    struct gw_neigh *n = open_table(64);
    struct gw_neigh_stats st;

    (void)state;
    assert_true(gw_neigh_want_request(n, 3, IP(192, 0, 2, 1), 100 * SEC));
    assert_false(gw_neigh_want_request(n, 3, IP(192, 0, 2, 1), 100 * SEC));
    assert_false(gw_neigh_want_request(n, 3, IP(192, 0, 2, 1), 100 * SEC + SEC - 1));
    /* Other addresses and interfaces have their own budget. */
    assert_true(gw_neigh_want_request(n, 3, IP(192, 0, 2, 2), 100 * SEC + 1));
    assert_true(gw_neigh_want_request(n, 4, IP(192, 0, 2, 1), 100 * SEC + 2));
    assert_true(gw_neigh_want_request(n, 3, IP(192, 0, 2, 1), 101 * SEC));
    assert_false(gw_neigh_want_request(n, 3, IP(192, 0, 2, 1), 101 * SEC + 5));
    gw_neigh_get_stats(n, &st);
    assert_int_equal(st.requests_sent, 4);
    assert_int_equal(st.lookups_missed, 7);
    /* The pending table is bounded: a flood of other addresses pushes the
     * first out, and it may be asked for again. */
    for (uint32_t i = 0; i < 100000; i++)
        assert_true(gw_neigh_want_request(n, 5, IP(10, 0, 0, 0) + i, 101 * SEC + 10 + i));
    assert_true(gw_neigh_want_request(n, 3, IP(192, 0, 2, 1), 101 * SEC + 100020));
    gw_neigh_close(n);
}

static void test_arp_request_frame_layout(void **state)
{
    static const uint8_t sha[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
    static const uint8_t want[60] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x08, 0x06,   /* ethernet */
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,                                           /* request */
        0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 192, 0, 2, 1,                                   /* sender */
        0, 0, 0, 0, 0, 0, 198, 51, 100, 7,                                                  /* target */
    };
    uint8_t buf[64];

    (void)state;
    memset(buf, 0x5a, sizeof(buf));
    assert_int_equal(gw_arp_request(buf, sha, IP(192, 0, 2, 1), IP(198, 51, 100, 7)), 60);
    assert_memory_equal(buf, want, 60);
    assert_int_equal(buf[60], 0x5a);
}

/* --- parser ------------------------------------------------------------------------ */

static size_t build_neigh(uint8_t *buf, uint16_t type, uint8_t family, uint16_t state, uint8_t flags, int ifindex,
                          int dst_len, int lladdr_len)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ndmsg *ndm;
    uint8_t dst[16] = {10, 9, 0, 5}, ll[16] = {0x02, 0, 0, 0, 0, 0x05};

    nlh->nlmsg_type = type;
    ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
    ndm->ndm_family = family;
    ndm->ndm_state = state;
    ndm->ndm_flags = flags;
    ndm->ndm_ifindex = ifindex;
    if (dst_len >= 0)
        mnl_attr_put(nlh, NDA_DST, (size_t)dst_len, dst);
    if (lladdr_len >= 0)
        mnl_attr_put(nlh, NDA_LLADDR, (size_t)lladdr_len, ll);
    mnl_attr_put_u32(nlh, NDA_PROBES, 3);
    return nlh->nlmsg_len;
}

static void test_parser_reads_new_and_del_messages(void **state)
{
    uint8_t buf[256] __attribute__((aligned(4)));
    struct gw_neigh_msg m;
    size_t len;

    (void)state;
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_REACHABLE, 0, 4, 4, 6);
    assert_int_equal(gw_neigh_parse(buf, len, &m), 1);
    assert_int_equal(m.ifindex, 4);
    assert_int_equal(m.addr, IP(10, 9, 0, 5));
    assert_true(m.keep);
    assert_false(m.del);
    assert_memory_equal(m.mac, MAC5, 6);
    /* Extra bytes after the message are not its business. */
    assert_int_equal(gw_neigh_parse(buf, sizeof(buf), &m), 1);
    len = build_neigh(buf, RTM_DELNEIGH, AF_INET, NUD_REACHABLE, 0, 4, 4, 6);
    assert_int_equal(gw_neigh_parse(buf, len, &m), 1);
    assert_true(m.del);
    assert_false(m.keep);
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_FAILED, 0, 4, 4, -1);
    assert_int_equal(gw_neigh_parse(buf, len, &m), 1);
    assert_false(m.keep);
    assert_int_equal(m.state, NUD_FAILED);
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_INCOMPLETE, 0, 4, 4, -1);
    assert_int_equal(gw_neigh_parse(buf, len, &m), 1);
    assert_false(m.keep);
    /* Not kept even when the kernel still names the old lladdr. */
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_FAILED, 0, 4, 4, 6);
    assert_int_equal(gw_neigh_parse(buf, len, &m), 1);
    assert_false(m.keep);
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_INCOMPLETE, 0, 4, 4, 6);
    assert_int_equal(gw_neigh_parse(buf, len, &m), 1);
    assert_false(m.keep);
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_NONE, 0, 4, 4, 6);
    assert_int_equal(gw_neigh_parse(buf, len, &m), 1);
    assert_false(m.keep);
    /* Kept state but no lladdr, or one that is not Ethernet's. */
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_PERMANENT, 0, 4, 4, -1);
    assert_int_equal(gw_neigh_parse(buf, len, &m), 1);
    assert_false(m.keep);
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_PERMANENT, 0, 4, 4, 4);
    assert_int_equal(gw_neigh_parse(buf, len, &m), 1);
    assert_false(m.keep);
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_NOARP, 0, 4, 4, 6);
    assert_int_equal(gw_neigh_parse(buf, len, &m), 1);
    assert_true(m.keep);
}

static void test_parser_skips_other_families_types_and_proxies(void **state)
{
    uint8_t buf[256] __attribute__((aligned(4)));
    struct gw_neigh_msg m;
    size_t len;

    (void)state;
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET6, NUD_REACHABLE, 0, 4, 16, 6);
    assert_int_equal(gw_neigh_parse(buf, len, &m), 0);
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_REACHABLE, NTF_PROXY, 4, 4, 6);
    assert_int_equal(gw_neigh_parse(buf, len, &m), 0);
    len = build_neigh(buf, RTM_NEWROUTE, AF_INET, NUD_REACHABLE, 0, 4, 4, 6);
    assert_int_equal(gw_neigh_parse(buf, len, &m), 0);
}

static void test_parser_rejects_truncated_and_malformed_messages(void **state)
{
    uint8_t buf[256] __attribute__((aligned(4)));
    struct gw_neigh_msg m;
    size_t len;

    (void)state;
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_REACHABLE, 0, 4, 4, 6);
    /* Every shorter buffer: the header's length is then beyond it. */
    for (size_t l = 0; l < len; l++) {
        uint8_t *copy = malloc(l ? l : 1);

        memcpy(copy, buf, l);
        assert_int_equal(gw_neigh_parse(copy, l, &m), -EINVAL);
        free(copy);
    }
    /* Every shorter nlmsg_len inside a full buffer: a cut ndmsg or
     * attribute, or a message that lost its NDA_DST. */
    for (uint32_t l = 0; l < len; l++) {
        int rc;

        ((struct nlmsghdr *)buf)->nlmsg_len = l;
        rc = gw_neigh_parse(buf, len, &m);
        if (l >= NLMSG_HDRLEN + sizeof(struct ndmsg) + 8 && rc == 1) {
            /* Cut after NDA_DST: the message still names the address. */
            assert_int_equal(m.addr, IP(10, 9, 0, 5));
            continue;
        }
        assert_int_equal(rc, -EINVAL);
    }
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_REACHABLE, 0, 4, 16, 6);
    assert_int_equal(gw_neigh_parse(buf, len, &m), -EINVAL);   /* an IPv6-sized dst */
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_REACHABLE, 0, 4, 3, 6);
    assert_int_equal(gw_neigh_parse(buf, len, &m), -EINVAL);
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_REACHABLE, 0, 4, -1, 6);
    assert_int_equal(gw_neigh_parse(buf, len, &m), -EINVAL);   /* no dst */
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_REACHABLE, 0, 0, 4, 6);
    assert_int_equal(gw_neigh_parse(buf, len, &m), -EINVAL);   /* no interface */
    /* An attribute claiming more than the message holds, and one shorter
     * than its own header. */
    len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_REACHABLE, 0, 4, 4, 6);
    ((struct nlattr *)(buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ndmsg))))->nla_len = 200;
    assert_int_equal(gw_neigh_parse(buf, len, &m), -EINVAL);
    ((struct nlattr *)(buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ndmsg))))->nla_len = 3;
    assert_int_equal(gw_neigh_parse(buf, len, &m), -EINVAL);
    assert_int_equal(gw_neigh_parse(NULL, 100, &m), -EINVAL);
}

static void test_parser_survives_random_garbage(void **state)
{
    uint64_t s = 0x1234567887654321ull;
    uint8_t buf[128] __attribute__((aligned(4)));
    struct gw_neigh_msg m;
    unsigned parsed = 0;

    (void)state;
    for (unsigned k = 0; k < 200000; k++) {
        size_t len = build_neigh(buf, RTM_NEWNEIGH, AF_INET, NUD_REACHABLE, 0, 4, 4, 6);
        int rc;

        /* Flip a few bytes of a good message: near misses reach deeper. */
        for (unsigned f = 0; f < 1 + k % 4; f++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            buf[s % len] ^= (uint8_t)(s >> 32);
        }
        rc = gw_neigh_parse(buf, len, &m);
        assert_true(rc >= -EINVAL && rc <= 1 && (rc == -EINVAL || rc >= 0));
        if (rc == 1) {
            assert_true(m.ifindex > 0);
            if (!m.keep)
                assert_memory_equal(m.mac, (uint8_t[6]){0}, 6);
            parsed++;
        }
    }
    assert_true(parsed > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_dump_sees_existing_permanent_entry, ns_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_kernel_add_change_delete_are_followed, ns_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_failed_and_incomplete_entries_are_not_kept, ns_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_many_kernel_entries_come_and_go, ns_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_lost_notifications_resync_by_dump, ns_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_glean_then_expire, ns_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_glean_ignores_bogus_senders_and_never_overrides_kernel, ns_setup,
                                        ns_teardown),
        cmocka_unit_test_setup_teardown(test_full_table_refuses_new_entries_and_keeps_old, ns_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_churn_keeps_every_entry_findable, ns_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_request_throttle_is_one_per_second_per_address, ns_setup, ns_teardown),
        cmocka_unit_test(test_arp_request_frame_layout),
        cmocka_unit_test(test_parser_reads_new_and_del_messages),
        cmocka_unit_test(test_parser_skips_other_families_types_and_proxies),
        cmocka_unit_test(test_parser_rejects_truncated_and_malformed_messages),
        cmocka_unit_test(test_parser_survives_random_garbage),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
