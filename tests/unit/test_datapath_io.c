/* Packet I/O backends: the dummy backend's queues and ownership rules, then
 * AF_PACKET, AF_XDP and TAP against real devices. The real backends run in a
 * network namespace this test makes (veth pair or tap inside it) and skip
 * when not root or when namespaces cannot be made. Frames are sent from the
 * other side with a plain AF_PACKET socket and compared byte for byte. */
#include "datapath/dp_io.h"
#include "lib/packet.h"

#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
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

#define TEST_ETHERTYPE 0x88b5   /* IEEE local experimental: nothing else on the wire uses it */
#define N_FRAMES 40             /* more than one 32-frame burst */
#define WAIT_TURNS 400          /* poll turns of 10 ms before giving up on a frame */

/* --- frames ----------------------------------------------------------------------------- */

static size_t frame_len(unsigned seq)
{
    return 60 + (size_t)seq * 37;   /* 60 .. 1503 bytes */
}

static size_t make_frame(uint8_t *f, unsigned seq, uint32_t tag)
{
    size_t len = frame_len(seq);

    memset(f, 0xff, 6);
    memcpy(f + 6, (uint8_t[]){0x02, 0x52, 0x50, 0x49, 0x4f, (uint8_t)seq}, 6);
    f[12] = TEST_ETHERTYPE >> 8;
    f[13] = TEST_ETHERTYPE & 0xff;
    memcpy(f + 14, &tag, 4);
    f[18] = (uint8_t)seq;
    for (size_t i = 19; i < len; i++)
        f[i] = (uint8_t)(seq * 7 + i);
    return len;
}

/* The sequence number of one of our frames, or -1 for anything else. */
static int frame_seq(const uint8_t *f, size_t len, uint32_t tag)
{
    uint8_t want[PKT_BUF_SIZE];

    if (len < 19 || f[12] != (TEST_ETHERTYPE >> 8) || f[13] != (TEST_ETHERTYPE & 0xff) || memcmp(f + 14, &tag, 4))
        return -1;
    if (f[18] >= N_FRAMES || make_frame(want, f[18], tag) != len || memcmp(want, f, len))
        return -2;  /* ours but damaged */
    return f[18];
}

/* --- dummy backend ------------------------------------------------------------------------ */

struct dummy_env {
    struct pkt_pool *pool;
    struct dp_port_io *port;
};

static int dummy_setup(void **state)
{
    struct dummy_env *e = calloc(1, sizeof(*e));
    struct dp_io_config c = {.kind = DP_IO_DUMMY, .ifname = "dummy0", .port_no = 9, .ring_frames = 64};
    char err[128];

    if (!e || pkt_pool_create(&e->pool, 8))
        return -1;
    if (dp_io_open(&c, e->pool, &e->port, err, sizeof(err)))
        return -1;
    *state = e;
    return 0;
}

static int dummy_teardown(void **state)
{
    struct dummy_env *e = *state;

    dp_io_close(e->port);
    pkt_pool_destroy(e->pool);
    free(e);
    return 0;
}

static void put_all(struct pkt_pool *pool, struct pkt_buf **b, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        pkt_pool_put(pool, b[i]);
}

static void test_dummy_injected_frames_come_out_of_rx_intact_with_port(void **state)
{
    struct dummy_env *e = *state;
    uint8_t f[PKT_BUF_SIZE];
    struct pkt_buf *b[8];
    struct dp_io_stats st;
    size_t total = 0;
    unsigned n;

    assert_string_equal(dp_io_mode(e->port), "dummy");
    assert_int_equal(dp_io_kind(e->port), DP_IO_DUMMY);
    for (unsigned s = 0; s < 3; s++) {
        total += make_frame(f, s, 1);
        assert_int_equal(dp_io_dummy_inject(e->port, f, make_frame(f, s, 1)), 0);
    }
    n = dp_io_rx_burst(e->port, b, 8);
    assert_int_equal(n, 3);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(frame_seq(b[i]->data, b[i]->len, 1), (int)i);
        assert_int_equal(b[i]->in_port, 9);
        assert_int_equal(pkt_headroom(b[i]), PKT_HEADROOM);
    }
    assert_int_equal(dp_io_rx_burst(e->port, b + 3, 5), 0);
    dp_io_stats(e->port, &st);
    assert_int_equal(st.rx_packets, 3);
    assert_int_equal(st.rx_bytes, total);
    put_all(e->pool, b, n);
}

static void test_dummy_rx_stops_at_empty_pool_and_frames_wait(void **state)
{
    struct dummy_env *e = *state;
    uint8_t f[PKT_BUF_SIZE];
    struct pkt_buf *b[16];
    unsigned n;

    for (unsigned s = 0; s < 10; s++)
        assert_int_equal(dp_io_dummy_inject(e->port, f, make_frame(f, s, 2)), 0);
    n = dp_io_rx_burst(e->port, b, 16);
    assert_int_equal(n, 8);   /* the pool holds 8 */
    assert_int_equal(dp_io_dummy_rx_pending(e->port), 2);
    put_all(e->pool, b, n);
    n = dp_io_rx_burst(e->port, b, 16);
    assert_int_equal(n, 2);
    assert_int_equal(frame_seq(b[0]->data, b[0]->len, 2), 8);
    assert_int_equal(frame_seq(b[1]->data, b[1]->len, 2), 9);
    put_all(e->pool, b, n);
}

static void test_dummy_fd_readable_only_while_frames_wait(void **state)
{
    struct dummy_env *e = *state;
    struct pollfd pfd = {.fd = dp_io_fd(e->port), .events = POLLIN};
    uint8_t f[PKT_BUF_SIZE];
    struct pkt_buf *b[4];

    assert_int_equal(poll(&pfd, 1, 0), 0);
    assert_int_equal(dp_io_dummy_inject(e->port, f, make_frame(f, 0, 3)), 0);
    assert_int_equal(poll(&pfd, 1, 0), 1);
    assert_int_equal(dp_io_rx_burst(e->port, b, 4), 1);
    assert_int_equal(poll(&pfd, 1, 0), 0);
    put_all(e->pool, b, 1);
}

static void test_dummy_tx_copies_frames_and_caller_keeps_buffers(void **state)
{
    struct dummy_env *e = *state;
    uint8_t f[PKT_BUF_SIZE];
    struct pkt_buf *b[3];
    size_t len;

    for (unsigned i = 0; i < 3; i++) {
        b[i] = pkt_pool_get(e->pool);
        b[i]->data = b[i]->room + PKT_HEADROOM;
        b[i]->len = (uint16_t)make_frame(b[i]->data, i, 4);
    }
    assert_int_equal(dp_io_tx_burst(e->port, b, 3), 3);
    assert_int_equal(pkt_pool_available(e->pool), 5);  /* not taken */
    memset(b[0]->data, 0, b[0]->len);                   /* the port holds its own copy */
    assert_int_equal(dp_io_dummy_tx_pending(e->port), 3);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(dp_io_dummy_take_tx(e->port, f, sizeof(f), &len), 0);
        assert_int_equal(frame_seq(f, len, 4), (int)i);
    }
    assert_int_equal(dp_io_dummy_take_tx(e->port, f, sizeof(f), &len), -EAGAIN);
    put_all(e->pool, b, 3);
}

static void test_dummy_tx_full_queue_refuses_rest_and_counts_them(void **state)
{
    struct dummy_env *e = *state;
    struct pkt_buf *b = pkt_pool_get(e->pool), *burst[32];
    struct dp_io_stats st;
    uint8_t f[PKT_BUF_SIZE];
    unsigned sent = 0;
    size_t len;

    b->data = b->room + PKT_HEADROOM;
    b->len = (uint16_t)make_frame(b->data, 1, 5);
    for (unsigned i = 0; i < 32; i++)
        burst[i] = b;
    sent += dp_io_tx_burst(e->port, burst, 32);
    sent += dp_io_tx_burst(e->port, burst, 32);
    assert_int_equal(sent, 64);
    assert_int_equal(dp_io_tx_burst(e->port, burst, 32), 0);   /* the 64-slot queue is full */
    dp_io_stats(e->port, &st);
    assert_int_equal(st.tx_packets, 64);
    assert_int_equal(st.tx_drop_full, 32);
    assert_int_equal(st.tx_dropped, 32);
    assert_int_equal(dp_io_dummy_take_tx(e->port, f, sizeof(f), &len), 0);
    assert_int_equal(dp_io_tx_burst(e->port, burst, 32), 1);   /* one slot came free */
    pkt_pool_put(e->pool, b);
}

static void test_dummy_inject_refuses_oversize_and_full_queue(void **state)
{
    struct dummy_env *e = *state;
    static uint8_t big[PKT_BUF_SIZE];
    uint8_t small[4];
    size_t len;

    assert_int_equal(dp_io_dummy_inject(e->port, big, PKT_BUF_SIZE - PKT_HEADROOM + 1), -EMSGSIZE);
    assert_int_equal(dp_io_dummy_inject(e->port, big, PKT_BUF_SIZE - PKT_HEADROOM), 0);
    for (unsigned i = 1; i < 64; i++)
        assert_int_equal(dp_io_dummy_inject(e->port, big, 60), 0);
    assert_int_equal(dp_io_dummy_inject(e->port, big, 60), -ENOSPC);
    assert_int_equal(dp_io_dummy_take_tx(e->port, small, sizeof(small), &len), -EAGAIN);
}

static void test_dummy_take_tx_into_small_buffer_keeps_frame(void **state)
{
    struct dummy_env *e = *state;
    struct pkt_buf *b = pkt_pool_get(e->pool);
    uint8_t f[PKT_BUF_SIZE];
    size_t len;

    b->data = b->room + PKT_HEADROOM;
    b->len = (uint16_t)make_frame(b->data, 5, 6);
    assert_int_equal(dp_io_tx_burst(e->port, &b, 1), 1);
    assert_int_equal(dp_io_dummy_take_tx(e->port, f, 10, &len), -ENOSPC);
    assert_int_equal(dp_io_dummy_take_tx(e->port, f, sizeof(f), &len), 0);
    assert_int_equal(frame_seq(f, len, 6), 5);
    pkt_pool_put(e->pool, b);
}

static void test_open_refuses_bad_config_with_reason(void **state)
{
    struct pkt_pool *pool;
    struct dp_port_io *p = (void *)1;
    char err[128] = "";
    struct dp_io_config c = {.kind = DP_IO_DUMMY};

    (void)state;
    assert_int_equal(pkt_pool_create(&pool, 4), 0);
    assert_int_equal(dp_io_open(&c, pool, &p, err, sizeof(err)), -EINVAL);   /* no ifname */
    assert_null(p);
    assert_true(strlen(err) > 0);
    c.ifname = "x";
    c.kind = (enum dp_io_kind)42;
    err[0] = 0;
    assert_int_equal(dp_io_open(&c, pool, &p, err, sizeof(err)), -EINVAL);
    assert_true(strlen(err) > 0);
    c.kind = DP_IO_TAP;
    c.kernel_ingress_drop = true;
    assert_int_equal(dp_io_open(&c, pool, &p, err, sizeof(err)), -EINVAL);
    c.kind = DP_IO_AFPACKET;
    c.kernel_ingress_drop = false;
    c.ifname = "rp-no-such-if";
    err[0] = 0;
    assert_int_equal(dp_io_open(&c, pool, &p, err, sizeof(err)), -ENODEV);
    assert_non_null(strstr(err, "rp-no-such-if"));
    assert_null(dp_io_kind_name((enum dp_io_kind)42));
    assert_string_equal(dp_io_kind_name(DP_IO_XDP), "xdp");
    assert_int_equal(dp_io_dummy_inject(NULL, "x", 1), -EINVAL);
    dp_io_close(NULL);
    pkt_pool_destroy(pool);
}

/* --- namespace fixture ------------------------------------------------------------------------ */

struct ns_env {
    char ns[32];
    char a[IF_NAMESIZE], b[IF_NAMESIZE];    /* a: the datapath's end; b: the peer */
    int home_fd;                            /* our original network namespace */
    bool entered;
    struct pkt_pool *pool;
    struct dp_port_io *port;
    int peer_fd;
    uint32_t tag;
};

static unsigned ns_counter;
static char ns_leftover[32];    /* a namespace to delete at exit if a test dies mid-way */

static void ns_atexit(void)
{
    char cmd[96];

    if (ns_leftover[0]) {
        snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns_leftover);
        if (system(cmd) != 0)
            ns_leftover[0] = 0;
    }
}


static void ns_leave_and_delete(struct ns_env *e)
{
    if (e->entered) {
        if (setns(e->home_fd, CLONE_NEWNET) < 0)
            fprintf(stderr, "cannot return to the original namespace: %s\n", strerror(errno));
        e->entered = false;
    }
    if (e->home_fd >= 0)
        close(e->home_fd);
    e->home_fd = -1;
    if (e->ns[0]) {
        sh("ip netns del %s 2>/dev/null", e->ns);
        ns_leftover[0] = 0;
        e->ns[0] = 0;
    }
}

/* Make a namespace and step into it; 0, or -1 to skip the test. */
static int ns_enter(struct ns_env *e)
{
    char path[64];
    int fd;

    e->home_fd = -1;
    e->peer_fd = -1;
    if (geteuid() != 0)
        return -1;
    e->home_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (e->home_fd < 0)
        return -1;
    snprintf(e->ns, sizeof(e->ns), "rpio%d_%u", (int)getpid(), ns_counter++);
    snprintf(ns_leftover, sizeof(ns_leftover), "%s", e->ns);
    if (sh("ip netns add %s 2>/dev/null", e->ns) != 0) {
        e->ns[0] = 0;
        ns_leftover[0] = 0;
        return -1;
    }
    snprintf(path, sizeof(path), "/run/netns/%s", e->ns);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
        if (fd >= 0)
            close(fd);
        ns_leave_and_delete(e);
        return -1;
    }
    close(fd);
    e->entered = true;
    sh("ip link set lo up");
    e->tag = (uint32_t)getpid() * 131u + ns_counter;
    return pkt_pool_create(&e->pool, 256) ? -1 : 0;
}

static int peer_socket(const char *ifname)
{
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));

    sll.sll_ifindex = (int)if_nametoindex(ifname);
    if (fd < 0 || !sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int veth_setup(void **state)
{
    struct ns_env *e = calloc(1, sizeof(*e));

    *state = e;
    if (!e)
        return -1;
    if (ns_enter(e) == 0) {
        snprintf(e->a, sizeof(e->a), "rpa%d", (int)getpid() % 100000);
        snprintf(e->b, sizeof(e->b), "rpb%d", (int)getpid() % 100000);
        if (sh("ip link add %s type veth peer name %s && ip link set %s up && ip link set %s up", e->a, e->b, e->a,
               e->b) == 0) {
            sh("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1 net.ipv6.conf.%s.disable_ipv6=1 2>/dev/null", e->a,
               e->b);
            e->peer_fd = peer_socket(e->b);
        }
    }
    return 0;
}

static int tap_setup(void **state)
{
    struct ns_env *e = calloc(1, sizeof(*e));

    *state = e;
    if (!e)
        return -1;
    if (ns_enter(e) == 0)
        snprintf(e->a, sizeof(e->a), "rpt%d", (int)getpid() % 100000);
    return 0;
}

static int ns_teardown(void **state)
{
    struct ns_env *e = *state;

    if (!e)
        return 0;
    dp_io_close(e->port);
    if (e->peer_fd >= 0)
        close(e->peer_fd);
    ns_leave_and_delete(e);
    pkt_pool_destroy(e->pool);
    free(e);
    return 0;
}

static void skip_unless_ready(struct ns_env *e, bool need_peer)
{
    if (!e->entered || (need_peer && e->peer_fd < 0)) {
        print_message("skipped: needs root and network namespaces\n");
        skip();
    }
}

/* --- traffic helpers -------------------------------------------------------------------------------- */

/* Send N_FRAMES of ours from the peer socket. */
static void peer_send_all(int fd, uint32_t tag)
{
    uint8_t f[PKT_BUF_SIZE];

    for (unsigned s = 0; s < N_FRAMES; s++) {
        size_t len = make_frame(f, s, tag);
        assert_int_equal(send(fd, f, len, 0), (ssize_t)len);
    }
}

/* Receive through the port until every one of our frames arrived once, intact. */
static void port_expect_all(struct ns_env *e, uint32_t tag)
{
    bool seen[N_FRAMES] = {0};
    unsigned got = 0;
    struct pkt_buf *b[32];

    for (unsigned turn = 0; turn < WAIT_TURNS && got < N_FRAMES; turn++) {
        struct pollfd pfd = {.fd = dp_io_fd(e->port), .events = POLLIN};
        unsigned n = dp_io_rx_burst(e->port, b, 32);

        for (unsigned i = 0; i < n; i++) {
            int s = frame_seq(b[i]->data, b[i]->len, tag);
            assert_true(s >= -1);   /* -2: one of ours, damaged */
            if (s >= 0) {
                assert_false(seen[s]);
                seen[s] = true;
                got++;
                assert_int_equal(b[i]->in_port, 7);
            }
            pkt_pool_put(e->pool, b[i]);
        }
        if (n == 0)
            poll(&pfd, 1, 10);
    }
    assert_int_equal(got, N_FRAMES);
}

/* Send N_FRAMES through the port in one burst: longer than the 32 frames the
 * kernel sends per AF_XDP copy-mode kick. */
static void port_send_all(struct ns_env *e, uint32_t tag)
{
    struct pkt_buf *b[N_FRAMES];
    unsigned sent = 0;

    for (unsigned s = 0; s < N_FRAMES; s++) {
        b[s] = pkt_pool_get(e->pool);
        assert_non_null(b[s]);
        b[s]->data = b[s]->room + PKT_HEADROOM;
        b[s]->len = (uint16_t)make_frame(b[s]->data, s, tag);
    }
    sent = dp_io_tx_burst(e->port, b, N_FRAMES);
    assert_int_equal(sent, N_FRAMES);
    put_all(e->pool, b, N_FRAMES);
}

/* Read the peer socket until every one of our frames arrived once, intact. */
static void peer_expect_all(int fd, uint32_t tag)
{
    bool seen[N_FRAMES] = {0};
    unsigned got = 0;
    uint8_t f[4096];

    for (unsigned turn = 0; turn < WAIT_TURNS && got < N_FRAMES; turn++) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t r;

        if (poll(&pfd, 1, 10) <= 0)
            continue;
        while ((r = recv(fd, f, sizeof(f), MSG_DONTWAIT)) > 0) {
            int s = frame_seq(f, (size_t)r, tag);
            assert_true(s >= -1);
            if (s >= 0) {
                assert_false(seen[s]);
                seen[s] = true;
                got++;
            }
        }
    }
    assert_int_equal(got, N_FRAMES);
}

static void open_port(struct ns_env *e, struct dp_io_config *c)
{
    char err[256] = "";
    int rc;

    c->ifname = e->a;
    c->port_no = 7;
    c->ring_frames = 256;
    rc = dp_io_open(c, e->pool, &e->port, err, sizeof(err));
    if (rc)
        print_error("dp_io_open(%s): %d %s\n", e->a, rc, err);
    assert_int_equal(rc, 0);
    print_message("%s: mode \"%s\"\n", e->a, dp_io_mode(e->port));
}

/* With a pool of 8 buffers, a burst takes at most 8 frames; the rest wait in
 * the ring and arrive, intact, once buffers come back. */
static void small_pool_frames_wait(struct ns_env *e, struct dp_io_config *c)
{
    struct pkt_pool *small;
    struct pkt_buf *b[32];
    bool seen[N_FRAMES] = {0};
    unsigned got = 0;

    assert_int_equal(pkt_pool_create(&small, 8), 0);
    pkt_pool_destroy(e->pool);
    e->pool = small;
    open_port(e, c);
    peer_send_all(e->peer_fd, e->tag);
    for (unsigned turn = 0; turn < WAIT_TURNS && got < N_FRAMES; turn++) {
        struct pollfd pfd = {.fd = dp_io_fd(e->port), .events = POLLIN};
        unsigned n = dp_io_rx_burst(e->port, b, 32);

        assert_true(n <= 8);
        for (unsigned i = 0; i < n; i++) {
            int sq = frame_seq(b[i]->data, b[i]->len, e->tag);
            assert_true(sq >= -1);
            if (sq >= 0) {
                assert_false(seen[sq]);
                seen[sq] = true;
                got++;
            }
        }
        put_all(e->pool, b, n);
        if (n == 0)
            poll(&pfd, 1, 10);
    }
    assert_int_equal(got, N_FRAMES);
}

static void test_afpacket_empty_pool_leaves_frames_in_ring(void **state)
{
    struct ns_env *e = *state;
    struct dp_io_config c = {.kind = DP_IO_AFPACKET};

    skip_unless_ready(e, true);
    small_pool_frames_wait(e, &c);
}

static void test_xdp_empty_pool_leaves_frames_in_ring(void **state)
{
    struct ns_env *e = *state;
    struct dp_io_config c = {.kind = DP_IO_XDP};

    skip_unless_ready(e, true);
    small_pool_frames_wait(e, &c);
}

/* --- AF_PACKET ----------------------------------------------------------------------------------------- */

static void test_afpacket_frames_from_peer_arrive_intact(void **state)
{
    struct ns_env *e = *state;
    struct dp_io_config c = {.kind = DP_IO_AFPACKET};
    struct dp_io_stats st;

    skip_unless_ready(e, true);
    open_port(e, &c);
    assert_string_equal(dp_io_mode(e->port), "af_packet tpacket_v3");
    peer_send_all(e->peer_fd, e->tag);
    port_expect_all(e, e->tag);
    dp_io_stats(e->port, &st);
    assert_true(st.rx_packets >= N_FRAMES);
}

static void test_afpacket_tx_burst_frames_arrive_at_peer(void **state)
{
    struct ns_env *e = *state;
    struct dp_io_config c = {.kind = DP_IO_AFPACKET};
    struct dp_io_stats st;

    skip_unless_ready(e, true);
    open_port(e, &c);
    port_send_all(e, e->tag);
    peer_expect_all(e->peer_fd, e->tag);
    dp_io_stats(e->port, &st);
    assert_int_equal(st.tx_packets, N_FRAMES);
    assert_int_equal(st.tx_dropped, 0);
}

static void test_afpacket_malformed_tx_frame_does_not_stall_ring(void **state)
{
    struct ns_env *e = *state;
    struct dp_io_config c = {.kind = DP_IO_AFPACKET};
    struct pkt_buf *runt;

    skip_unless_ready(e, true);
    open_port(e, &c);
    runt = pkt_pool_get(e->pool);
    runt->data = runt->room + PKT_HEADROOM;
    runt->len = 5;  /* shorter than an Ethernet header: the kernel refuses it */
    memset(runt->data, 0xff, 5);
    assert_int_equal(dp_io_tx_burst(e->port, &runt, 1), 1);
    pkt_pool_put(e->pool, runt);
    port_send_all(e, e->tag);
    peer_expect_all(e->peer_fd, e->tag);
}

static void test_afpacket_ingress_drop_installed_while_open_and_port_still_receives(void **state)
{
    struct ns_env *e = *state;
    struct dp_io_config c = {.kind = DP_IO_AFPACKET, .kernel_ingress_drop = true};
    char table[64];

    skip_unless_ready(e, true);
    if (sh("nft list tables >/dev/null 2>&1") != 0) {
        print_message("skipped: nft not usable\n");
        skip();
    }
    snprintf(table, sizeof(table), "rampart_dp_%s", e->a);
    open_port(e, &c);
    assert_int_equal(sh("nft list table netdev %s >/dev/null 2>&1", table), 0);
    /* Taps see frames before the ingress hook: the datapath still gets them. */
    peer_send_all(e->peer_fd, e->tag);
    port_expect_all(e, e->tag);
    dp_io_close(e->port);
    e->port = NULL;
    assert_true(sh("nft list table netdev %s >/dev/null 2>&1", table) != 0);
}

/* --- AF_XDP -------------------------------------------------------------------------------------------- */

/* What the kernel says is attached, independently of the mode string. */
static uint8_t xdp_attach_mode(const char *ifname)
{
    LIBBPF_OPTS(bpf_xdp_query_opts, q);

    if (bpf_xdp_query((int)if_nametoindex(ifname), 0, &q))
        return 0xff;
    return q.attach_mode;
}

static void xdp_flows_both_ways(struct ns_env *e, struct dp_io_config *c)
{
    struct dp_io_stats st;
    const char *mode;

    open_port(e, c);
    mode = dp_io_mode(e->port);
    assert_true(strncmp(mode, "af_xdp ", 7) == 0);
    if (strncmp(mode, "af_xdp native", 13) == 0)
        assert_int_equal(xdp_attach_mode(e->a), XDP_ATTACHED_DRV);
    else if (strncmp(mode, "af_xdp generic", 14) == 0)
        assert_int_equal(xdp_attach_mode(e->a), XDP_ATTACHED_SKB);
    else
        fail_msg("unexpected mode \"%s\"", mode);
    peer_send_all(e->peer_fd, e->tag);
    port_expect_all(e, e->tag);
    port_send_all(e, e->tag + 1);
    peer_expect_all(e->peer_fd, e->tag + 1);
    dp_io_stats(e->port, &st);
    assert_int_equal(st.tx_packets, N_FRAMES);
    assert_int_equal(st.tx_dropped, 0);
    dp_io_close(e->port);
    e->port = NULL;
    assert_int_equal(xdp_attach_mode(e->a), XDP_ATTACHED_NONE);   /* close detached our program */
}

static void test_xdp_default_mode_is_reported_and_frames_flow(void **state)
{
    struct ns_env *e = *state;
    struct dp_io_config c = {.kind = DP_IO_XDP};

    skip_unless_ready(e, true);
    xdp_flows_both_ways(e, &c);
}

static void test_xdp_forced_generic_mode_is_generic_and_frames_flow(void **state)
{
    struct ns_env *e = *state;
    struct dp_io_config c = {.kind = DP_IO_XDP, .xdp_force_generic = true};

    skip_unless_ready(e, true);
    xdp_flows_both_ways(e, &c);
    /* xdp_flows_both_ways checked the kernel's view matches the string */
}

static void test_xdp_forced_generic_reports_generic(void **state)
{
    struct ns_env *e = *state;
    struct dp_io_config c = {.kind = DP_IO_XDP, .xdp_force_generic = true};

    skip_unless_ready(e, true);
    open_port(e, &c);
    assert_string_equal(dp_io_mode(e->port), "af_xdp generic copy");
    assert_int_equal(xdp_attach_mode(e->a), XDP_ATTACHED_SKB);
}

static void test_xdp_second_open_on_same_port_fails_with_reason(void **state)
{
    struct ns_env *e = *state;
    struct dp_io_config c = {.kind = DP_IO_XDP};
    struct dp_port_io *second = NULL;
    char err[256] = "";

    skip_unless_ready(e, true);
    open_port(e, &c);
    assert_true(dp_io_open(&c, e->pool, &second, err, sizeof(err)) < 0);
    assert_null(second);
    print_message("second open: %s\n", err);
    assert_non_null(strstr(err, "another XDP program"));
}

/* ARP for, and IPv4 to, the kernel's own address reach the kernel (it answers
 * the ARP); other IPv4 goes to the socket. */
static void test_xdp_kernel_address_passes_to_kernel_rest_to_socket(void **state)
{
    struct ns_env *e = *state;
    rp_be32 kaddr = htonl(0x0a4d0001);   /* 10.77.0.1 */
    struct dp_io_config c = {.kind = DP_IO_XDP, .kernel_ipv4 = &kaddr, .n_kernel_ipv4 = 1};
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, zero[6] = {0};
    uint8_t peer_mac[6] = {0x02, 0x52, 0x50, 0, 0, 2}, f[PKT_BUF_SIZE];
    struct pkt_spec s = {0};
    struct pkt_buf *b[32];
    bool arp_answered = false, udp_at_socket = false, arp_at_socket = false;
    int len;

    skip_unless_ready(e, true);
    assert_int_equal(sh("ip link set %s address 02:52:50:00:00:02 && ip addr add 10.77.0.1/24 dev %s", e->b, e->a),
                     0);
    open_port(e, &c);
    len = pkt_build_arp(f, sizeof(f), bcast, peer_mac, 1, peer_mac, 0x0a4d0002, zero, 0x0a4d0001);
    assert_true(len > 0);
    assert_int_equal(send(e->peer_fd, f, (size_t)len, 0), len);
    memcpy(s.eth_src, peer_mac, 6);
    memcpy(s.eth_dst, bcast, 6);
    s.ip_src = 0x0a4d0002;
    s.ip_dst = 0x0a4d0009;  /* not the kernel's */
    s.proto = IP_PROTO_UDP;
    s.ttl = 64;
    s.sport = 1234;
    s.dport = (uint16_t)(e->tag & 0xffff);
    len = pkt_build_ipv4(f, sizeof(f), &s);
    assert_true(len > 0);
    assert_int_equal(send(e->peer_fd, f, (size_t)len, 0), len);

    for (unsigned turn = 0; turn < WAIT_TURNS && !(arp_answered && udp_at_socket); turn++) {
        struct pollfd pfd[2] = {{.fd = e->peer_fd, .events = POLLIN}, {.fd = dp_io_fd(e->port), .events = POLLIN}};
        unsigned n = dp_io_rx_burst(e->port, b, 32);
        ssize_t r;

        for (unsigned i = 0; i < n; i++) {
            struct flow_key k;
            struct pkt_layout l;
            if (flow_key_extract(b[i]->data, b[i]->len, 0, &k, &l) == PKT_OK) {
                if (ntohs(k.eth_type) == ETH_TYPE_ARP && k.nw.v4.dst == htonl(0x0a4d0001))
                    arp_at_socket = true;
                if (k.nw_proto == IP_PROTO_UDP && ntohs(k.tp_dst) == (e->tag & 0xffff))
                    udp_at_socket = true;
            }
            pkt_pool_put(e->pool, b[i]);
        }
        while ((r = recv(e->peer_fd, f, sizeof(f), MSG_DONTWAIT)) > 0) {
            struct flow_key k;
            struct pkt_layout l;
            if (flow_key_extract(f, (uint32_t)r, 0, &k, &l) == PKT_OK && ntohs(k.eth_type) == ETH_TYPE_ARP &&
                k.nw_proto == 2 && k.nw.v4.src == htonl(0x0a4d0001))
                arp_answered = true;
        }
        if (n == 0)
            poll(pfd, 2, 10);
    }
    assert_true(arp_answered);
    assert_true(udp_at_socket);
    assert_false(arp_at_socket);
}

/* --- TAP ----------------------------------------------------------------------------------------------------- */

static void tap_both_ways(struct ns_env *e, bool vnet_hdr)
{
    struct dp_io_config c = {.kind = DP_IO_TAP, .tap_vnet_hdr = vnet_hdr};

    skip_unless_ready(e, false);
    open_port(e, &c);
    assert_string_equal(dp_io_mode(e->port), vnet_hdr ? "tap vnet_hdr" : "tap");
    assert_int_equal(sh("ip link set %s up && sysctl -qw net.ipv6.conf.%s.disable_ipv6=1", e->a, e->a), 0);
    e->peer_fd = peer_socket(e->a);     /* the kernel's end of the tap */
    assert_true(e->peer_fd >= 0);
    peer_send_all(e->peer_fd, e->tag);  /* the kernel transmits these into the tap */
    port_expect_all(e, e->tag);
    port_send_all(e, e->tag + 1);       /* the kernel receives these from the tap */
    peer_expect_all(e->peer_fd, e->tag + 1);
}

static void test_tap_frames_flow_both_ways(void **state)
{
    tap_both_ways(*state, false);
}

static void test_tap_with_vnet_header_frames_flow_both_ways(void **state)
{
    tap_both_ways(*state, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dummy_injected_frames_come_out_of_rx_intact_with_port, dummy_setup,
                                        dummy_teardown),
        cmocka_unit_test_setup_teardown(test_dummy_rx_stops_at_empty_pool_and_frames_wait, dummy_setup,
                                        dummy_teardown),
        cmocka_unit_test_setup_teardown(test_dummy_fd_readable_only_while_frames_wait, dummy_setup, dummy_teardown),
        cmocka_unit_test_setup_teardown(test_dummy_tx_copies_frames_and_caller_keeps_buffers, dummy_setup,
                                        dummy_teardown),
        cmocka_unit_test_setup_teardown(test_dummy_tx_full_queue_refuses_rest_and_counts_them, dummy_setup,
                                        dummy_teardown),
        cmocka_unit_test_setup_teardown(test_dummy_inject_refuses_oversize_and_full_queue, dummy_setup,
                                        dummy_teardown),
        cmocka_unit_test_setup_teardown(test_dummy_take_tx_into_small_buffer_keeps_frame, dummy_setup,
                                        dummy_teardown),
        cmocka_unit_test(test_open_refuses_bad_config_with_reason),
        cmocka_unit_test_setup_teardown(test_afpacket_frames_from_peer_arrive_intact, veth_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_afpacket_tx_burst_frames_arrive_at_peer, veth_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_afpacket_ingress_drop_installed_while_open_and_port_still_receives,
                                        veth_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_afpacket_empty_pool_leaves_frames_in_ring, veth_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_afpacket_malformed_tx_frame_does_not_stall_ring, veth_setup,
                                        ns_teardown),
        cmocka_unit_test_setup_teardown(test_xdp_default_mode_is_reported_and_frames_flow, veth_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_xdp_forced_generic_mode_is_generic_and_frames_flow, veth_setup,
                                        ns_teardown),
        cmocka_unit_test_setup_teardown(test_xdp_forced_generic_reports_generic, veth_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_xdp_second_open_on_same_port_fails_with_reason, veth_setup,
                                        ns_teardown),
        cmocka_unit_test_setup_teardown(test_xdp_kernel_address_passes_to_kernel_rest_to_socket, veth_setup,
                                        ns_teardown),
        cmocka_unit_test_setup_teardown(test_xdp_empty_pool_leaves_frames_in_ring, veth_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_tap_frames_flow_both_ways, tap_setup, ns_teardown),
        cmocka_unit_test_setup_teardown(test_tap_with_vnet_header_frames_flow_both_ways, tap_setup, ns_teardown),
    };

    atexit(ns_atexit);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
