/* The tunnel: VXLAN encap/decap, the flow-state framing, the peer table, two
 * tunnels talking over loopback, and interoperation with the Linux kernel
 * VXLAN device in network namespaces (root only; skipped otherwise). */
#include "lib/packet.h"
#include "tunnel/tunnel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

#define LO 0x7f000001u      /* 127.0.0.1 */
#define POLL_TRIES 50       /* bounded waits: 50 polls of POLL_MS */
#define POLL_MS 100

static const uint8_t MAC_A[6] = {2, 0, 0, 0, 0, 0xa}, MAC_B[6] = {2, 0, 0, 0, 0, 0xb};

static int build_udp_frame(uint8_t *buf, size_t cap, uint16_t dport, const char *payload)
{
    struct pkt_spec s = {0};

    memcpy(s.eth_src, MAC_A, 6);
    memcpy(s.eth_dst, MAC_B, 6);
    s.ip_src = 0x0a000001;
    s.ip_dst = 0x0a000002;
    s.proto = IP_PROTO_UDP;
    s.ttl = 64;
    s.sport = 1234;
    s.dport = dport;
    s.payload = (const uint8_t *)payload;
    s.payload_len = (uint16_t)strlen(payload);
    return pkt_build_ipv4(buf, cap, &s);
}

static struct pkt_buf *buf_with(struct pkt_pool *pool, const uint8_t *frame, size_t len)
{
    struct pkt_buf *b = pkt_pool_get(pool);

    assert_non_null(b);
    memcpy(b->data, frame, len);
    b->len = (uint16_t)len;
    return b;
}

/* --- wire helpers ------------------------------------------------------------------- */

static void test_encap_then_decap_returns_vni_and_same_frame(void **state)
{
    (void)state;
    struct pkt_pool *pool;
    uint8_t f[256];
    uint32_t vni = 0;
    int n = build_udp_frame(f, sizeof(f), 80, "hello");

    assert_int_equal(pkt_pool_create(&pool, 4), 0);
    struct pkt_buf *b = buf_with(pool, f, (size_t)n);
    assert_int_equal(tun_vxlan_encap(b, 0xabcdef), 0);
    assert_int_equal(b->len, n + TUN_VXLAN_LEN);
    assert_int_equal(b->data[0], VXLAN_FLAG_VNI);
    assert_int_equal(tun_vxlan_decap(b->data, b->len, &vni), TUN_DROP_NONE);
    assert_int_equal(vni, 0xabcdef);
    assert_memory_equal(b->data + TUN_VXLAN_LEN, f, (size_t)n);
    pkt_pool_put(pool, b);
    pkt_pool_destroy(pool);
}

static void test_encap_refuses_wide_vni_and_missing_headroom(void **state)
{
    (void)state;
    struct pkt_pool *pool;
    uint8_t f[64] = {0};

    assert_int_equal(pkt_pool_create(&pool, 1), 0);
    struct pkt_buf *b = buf_with(pool, f, sizeof(f));
    assert_int_equal(tun_vxlan_encap(b, 0x1000000), -EINVAL);
    assert_int_equal(b->len, sizeof(f));
    b->data = b->room + 4;
    assert_int_equal(tun_vxlan_encap(b, 1), -ENOSPC);
    assert_ptr_equal(b->data, b->room + 4);
    pkt_pool_put(pool, b);
    pkt_pool_destroy(pool);
}

static void test_decap_ignores_reserved_bits_but_needs_i_flag(void **state)
{
    (void)state;
    uint8_t d[8] = {VXLAN_FLAG_VNI | 0xf7, 0xff, 0xff, 0xff, 0x00, 0x00, 0x2a, 0xff};
    uint32_t vni = 0;

    assert_int_equal(tun_vxlan_decap(d, sizeof(d), &vni), TUN_DROP_NONE);
    assert_int_equal(vni, 42);
    d[0] = 0xf7;    /* every bit but I */
    assert_int_equal(tun_vxlan_decap(d, sizeof(d), &vni), TUN_DROP_BAD_FLAGS);
}

static void test_decap_refuses_every_length_below_the_header(void **state)
{
    (void)state;
    uint8_t hdr[8];
    uint32_t vni;

    pkt_build_vxlan(hdr, 5);
    for (size_t len = 0; len < sizeof(hdr); len++) {
        uint8_t *exact = malloc(len ? len : 1);     /* ASan sees any over-read */
        memcpy(exact, hdr, len);
        assert_int_equal(tun_vxlan_decap(exact, len, &vni), TUN_DROP_TOO_SHORT);
        free(exact);
    }
}

static void test_state_framing_round_trips_and_checks_lengths(void **state)
{
    (void)state;
    uint8_t buf[64], big[TUN_STATE_PAYLOAD_MAX + 1] = {0};
    struct tun_state_msg m;
    const char *msg = "opaque-nat-bytes";
    int n = tun_state_encode(buf, sizeof(buf), TUN_STATE_MSG_FLOW, 77, msg, strlen(msg));

    assert_int_equal(n, TUN_STATE_HDR_LEN + (int)strlen(msg));
    assert_int_equal(tun_state_decode(buf, (size_t)n, &m), TUN_DROP_NONE);
    assert_int_equal(m.seq, 77);
    assert_int_equal(m.type, TUN_STATE_MSG_FLOW);
    assert_int_equal(m.len, strlen(msg));
    assert_memory_equal(m.data, msg, strlen(msg));

    /* Every truncation, and one byte too many, is refused. */
    for (int len = 0; len < n; len++) {
        uint8_t *exact = malloc(len ? (size_t)len : 1);
        memcpy(exact, buf, (size_t)len);
        enum tun_drop d = tun_state_decode(exact, (size_t)len, &m);
        assert_int_equal(d, len < TUN_STATE_HDR_LEN ? TUN_DROP_STATE_TOO_SHORT : TUN_DROP_STATE_LENGTH);
        free(exact);
    }
    assert_int_equal(tun_state_decode(buf, (size_t)n + 1, &m), TUN_DROP_STATE_LENGTH);

    assert_int_equal(tun_state_encode(buf, sizeof(buf), 1, 1, big, sizeof(big)), -EMSGSIZE);
    assert_int_equal(tun_state_encode(buf, 20, 1, 1, msg, strlen(msg)), -ENOSPC);
}

static void test_state_decode_refuses_version_type_and_header_length(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct tun_state_msg m;
    int n = tun_state_encode(buf, sizeof(buf), TUN_STATE_MSG_FLOW, 1, "abcd", 4);

    buf[0] = 2;
    assert_int_equal(tun_state_decode(buf, (size_t)n, &m), TUN_DROP_STATE_VERSION);
    buf[0] = TUN_STATE_VERSION;
    buf[1] = 9;
    assert_int_equal(tun_state_decode(buf, (size_t)n, &m), TUN_DROP_STATE_TYPE);
    buf[1] = TUN_STATE_MSG_FLOW;
    buf[2] = 11;
    assert_int_equal(tun_state_decode(buf, (size_t)n, &m), TUN_DROP_STATE_HDR_LEN);
    buf[2] = 200;
    assert_int_equal(tun_state_decode(buf, (size_t)n, &m), TUN_DROP_STATE_HDR_LEN);
}

static void test_state_decode_skips_header_fields_a_newer_sender_appended(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct tun_state_msg m;

    tun_state_encode(buf, sizeof(buf), TUN_STATE_MSG_FLOW, 5, NULL, 0);
    buf[2] = TUN_STATE_HDR_LEN + 4;
    memcpy(buf + TUN_STATE_HDR_LEN, "\xee\xee\xee\xee" "xyz", 7);
    buf[9] = 3;     /* payload length, low byte */
    assert_int_equal(tun_state_decode(buf, TUN_STATE_HDR_LEN + 7, &m), TUN_DROP_NONE);
    assert_int_equal(m.len, 3);
    assert_memory_equal(m.data, "xyz", 3);
}

static void test_drop_names_are_distinct_and_stable(void **state)
{
    (void)state;
    assert_string_equal(tun_drop_name(TUN_DROP_TOO_SHORT), "too_short");
    assert_string_equal(tun_drop_name(TUN_DROP_BAD_FLAGS), "bad_flags");
    assert_string_equal(tun_drop_name(TUN_DROP_COUNT), "unknown");
    for (int i = 0; i < TUN_DROP_COUNT; i++) {
        assert_non_null(tun_drop_name(i));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(tun_drop_name(i), tun_drop_name(j));
    }
}

/* --- peers -------------------------------------------------------------------------- */

static struct tun *open_lo(uint32_t ip, uint32_t max_peers, bool learn)
{
    struct tun_config c;
    struct tun *t = NULL;
    char err[128] = "";

    tun_config_init(&c);
    c.local_ip = ip;
    c.port = 0;
    c.max_peers = max_peers;
    c.learn_peers = learn;
    if (tun_open(&c, &t, err, sizeof(err)) != 0)
        fail_msg("tun_open: %s", err);
    return t;
}

static void test_peer_table_is_bounded_and_survives_removals(void **state)
{
    (void)state;
    struct tun *t = open_lo(LO, 64, false);
    bool present[200] = {0};
    struct tun_peer_info info, list[64];
    unsigned count = 0;

    assert_int_equal(tun_peer_add(t, 0x0a000000), 0);
    assert_int_equal(tun_peer_add(t, 0x0a000000), -EEXIST);
    assert_int_equal(tun_peer_remove(t, 0x0a000000), 0);
    assert_int_equal(tun_peer_remove(t, 0x0a000000), -ENOENT);
    /* Random adds and removes against a plain array as the reference. */
    srand(7);
    for (int i = 0; i < 5000; i++) {
        unsigned k = (unsigned)rand() % 200;
        uint32_t ip = 0x0a000000 + k;
        if (present[k]) {
            assert_int_equal(tun_peer_remove(t, ip), 0);
            present[k] = false;
            count--;
        } else if (count < 64) {
            assert_int_equal(tun_peer_add(t, ip), 0);
            present[k] = true;
            count++;
        } else {
            assert_int_equal(tun_peer_add(t, ip), -ENOSPC);
        }
        if (i % 97 == 0)
            for (unsigned j = 0; j < 200; j++)
                assert_int_equal(tun_peer_get(t, 0x0a000000 + j, &info), present[j] ? 0 : -ENOENT);
    }
    assert_int_equal(tun_peer_count(t), count);
    assert_int_equal(tun_peer_list(t, list, 64), count);
    tun_close(t);
}

/* --- two tunnels over loopback --------------------------------------------------------- */

struct events {
    char log[32][24];
    unsigned n;
    uint32_t src[32];
};

static void on_state(void *ctx, const struct tun_state_msg *m)
{
    struct events *e = ctx;

    if (e->n < 32) {
        e->src[e->n] = m->src_ip;
        snprintf(e->log[e->n++], sizeof(e->log[0]), "S%u:%.*s", m->seq, (int)m->len, (const char *)m->data);
    }
}

/* Receive one datagram at a time so the event log is the arrival order. */
static void collect(struct tun *t, struct pkt_pool *pool, struct events *e, unsigned want)
{
    struct pollfd pfd = {.fd = tun_fd(t), .events = POLLIN};

    for (int tries = 0; tries < POLL_TRIES * 4 && e->n < want; tries++) {
        struct pkt_buf *b;
        uint32_t vni, src;
        if (tun_rx_burst(t, pool, &b, &vni, &src, 1) == 1) {
            snprintf(e->log[e->n], sizeof(e->log[0]), "D%u:%.*s", vni, (int)(b->len > 42 ? b->len - 42 : 0),
                     (const char *)b->data + 42);
            e->src[e->n++] = src;
            pkt_pool_put(pool, b);
            continue;
        }
        poll(&pfd, 1, POLL_MS);
    }
}

static void test_two_tunnels_exchange_frames_and_state_in_order(void **state)
{
    (void)state;
    struct events ev = {0};
    struct tun_config c;
    struct tun *a = open_lo(LO, 4, false), *b;
    struct pkt_pool *pool;
    struct pkt_buf *tx[2];
    uint8_t f1[128], f2[128];
    uint32_t dst[2] = {LO, LO}, vni1 = 7, vni2 = 0x123456, lo = LO;
    struct tun_peer_info pa, pb;
    struct tun_stats sa, sb;

    tun_config_init(&c);
    c.local_ip = LO;
    c.port = 0;
    c.peer_port = tun_local_port(a);
    c.on_state = on_state;
    c.state_ctx = &ev;
    assert_int_equal(tun_open(&c, &b, NULL, 0), 0);
    assert_int_not_equal(tun_local_port(a), tun_local_port(b));
    tun_set_peer_port(a, tun_local_port(b));
    assert_int_equal(tun_peer_add(a, LO), 0);
    assert_int_equal(tun_peer_add(b, LO), 0);
    assert_int_equal(pkt_pool_create(&pool, 16), 0);
    int n1 = build_udp_frame(f1, sizeof(f1), 80, "one"), n2 = build_udp_frame(f2, sizeof(f2), 80, "two");
    tx[0] = buf_with(pool, f1, (size_t)n1);
    tx[1] = buf_with(pool, f2, (size_t)n2);

    assert_int_equal(tun_send_state(a, &lo, 1, "st1", 3), 1);
    assert_int_equal(tun_tx_burst(a, &tx[0], &vni1, dst, 1), 1);
    assert_int_equal(tun_send_state(a, &lo, 1, "st2", 3), 1);
    assert_int_equal(tun_tx_burst(a, &tx[1], &vni2, dst, 1), 1);
    /* The caller's buffers come back as they were. */
    assert_int_equal(tx[0]->len, n1);
    assert_ptr_equal(tx[0]->data, tx[0]->room + PKT_HEADROOM);

    collect(b, pool, &ev, 4);
    assert_int_equal(ev.n, 4);
    assert_string_equal(ev.log[0], "S1:st1");
    assert_string_equal(ev.log[1], "D7:one");
    assert_string_equal(ev.log[2], "S2:st2");
    assert_string_equal(ev.log[3], "D1193046:two");
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(ev.src[i], LO);

    assert_int_equal(tun_peer_get(a, LO, &pa), 0);
    assert_int_equal(tun_peer_get(b, LO, &pb), 0);
    assert_int_equal(pa.tx_packets, 2);
    assert_int_equal(pa.tx_bytes, n1 + n2 + 2 * TUN_VXLAN_LEN);
    assert_int_equal(pa.tx_state, 2);
    assert_int_equal(pa.tx_state_seq, 2);
    assert_int_equal(pb.rx_packets, 2);
    assert_int_equal(pb.rx_bytes, pa.tx_bytes);
    assert_int_equal(pb.rx_state, 2);
    assert_int_equal(pb.rx_state_seq, 2);
    assert_int_equal(pb.state_seq_gaps, 0);
    assert_true(pb.last_seen_ns > 0);
    tun_stats(a, &sa);
    tun_stats(b, &sb);
    assert_int_equal(sa.tx_packets, 2);
    assert_int_equal(sa.tx_state, 2);
    assert_int_equal(sb.rx_packets, 2);
    assert_int_equal(sb.rx_state, 2);
    for (int d = 0; d < TUN_DROP_COUNT; d++)
        assert_int_equal(sb.drops[d], 0);

    pkt_pool_put(pool, tx[0]);
    pkt_pool_put(pool, tx[1]);
    assert_int_equal(pkt_pool_available(pool), 16);
    pkt_pool_destroy(pool);
    tun_close(a);
    tun_close(b);
}

/* A datagram from a plain UDP socket to the tunnel. */
static void raw_send(int fd, uint16_t port, const void *d, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(LO)};

    assert_int_equal(sendto(fd, d, len, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)len);
}

static unsigned rx_until(struct tun *t, struct pkt_pool *pool, unsigned want_frames, uint32_t *last_vni)
{
    struct pollfd pfd = {.fd = tun_fd(t), .events = POLLIN};
    struct pkt_buf *bufs[8];
    uint32_t vnis[8];
    unsigned got = 0;

    for (int tries = 0; tries < POLL_TRIES && got < want_frames; tries++) {
        unsigned n = tun_rx_burst(t, pool, bufs, vnis, NULL, 8);
        for (unsigned i = 0; i < n; i++) {
            *last_vni = vnis[i];
            pkt_pool_put(pool, bufs[i]);
        }
        got += n;
        if (n == 0)
            poll(&pfd, 1, POLL_MS);
    }
    return got;
}

static void test_malformed_datagrams_are_dropped_and_counted_by_reason(void **state)
{
    (void)state;
    struct events ev = {0};
    struct tun_config c;
    struct tun *t;
    struct pkt_pool *pool;
    struct tun_stats s;
    uint8_t d[2100] = {0}, st[64];
    uint32_t vni = 0;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(LO)};

    tun_config_init(&c);
    c.local_ip = LO;
    c.port = 0;
    c.on_state = on_state;
    c.state_ctx = &ev;
    assert_int_equal(tun_open(&c, &t, NULL, 0), 0);
    assert_int_equal(tun_peer_add(t, LO), 0);
    assert_int_equal(pkt_pool_create(&pool, 8), 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
    uint16_t port = tun_local_port(t);

    raw_send(fd, port, "\x08\x00\x00", 3);                  /* too_short */
    pkt_build_vxlan(d, 9);
    d[0] = 0;
    raw_send(fd, port, d, 8 + 60);                          /* bad_flags */
    d[0] = VXLAN_FLAG_VNI;
    raw_send(fd, port, d, 8 + 13);                          /* inner_too_short */
    raw_send(fd, port, d, sizeof(d));                       /* truncated */
    pkt_build_vxlan(st, TUN_STATE_VNI_DEFAULT);
    int n = tun_state_encode(st + 8, sizeof(st) - 8, TUN_STATE_MSG_FLOW, 1, "abc", 3);
    raw_send(fd, port, st, 8 + 5);                          /* state_too_short */
    raw_send(fd, port, st, 8 + (size_t)n - 1);              /* state_length */
    st[8] = 3;
    raw_send(fd, port, st, 8 + (size_t)n);                  /* state_version */
    st[8] = TUN_STATE_VERSION;
    st[9] = 0x7f;
    raw_send(fd, port, st, 8 + (size_t)n);                  /* state_type */
    raw_send(fd, port, d, 8 + 14);                          /* a valid frame, last */

    assert_int_equal(rx_until(t, pool, 1, &vni), 1);
    assert_int_equal(vni, 9);
    tun_stats(t, &s);
    assert_int_equal(s.drops[TUN_DROP_TOO_SHORT], 1);
    assert_int_equal(s.drops[TUN_DROP_BAD_FLAGS], 1);
    assert_int_equal(s.drops[TUN_DROP_INNER_TOO_SHORT], 1);
    assert_int_equal(s.drops[TUN_DROP_TRUNCATED], 1);
    assert_int_equal(s.drops[TUN_DROP_STATE_TOO_SHORT], 1);
    assert_int_equal(s.drops[TUN_DROP_STATE_LENGTH], 1);
    assert_int_equal(s.drops[TUN_DROP_STATE_VERSION], 1);
    assert_int_equal(s.drops[TUN_DROP_STATE_TYPE], 1);
    assert_int_equal(s.rx_packets, 1);
    assert_int_equal(s.rx_state, 0);
    assert_int_equal(ev.n, 0);
    assert_int_equal(pkt_pool_available(pool), 8);

    close(fd);
    pkt_pool_destroy(pool);
    tun_close(t);
}

static void test_unknown_source_dropped_unless_learning_and_learning_is_bounded(void **state)
{
    (void)state;
    struct tun *strict = open_lo(LO, 4, false), *learn = open_lo(LO, 2, true);
    struct tun *senders[3] = {open_lo(0x7f000002, 4, false), open_lo(0x7f000003, 4, false),
                              open_lo(0x7f000004, 4, false)};
    struct pkt_pool *pool;
    struct tun_stats s;
    uint8_t f[128];
    uint32_t vni = 3, last = 0, dst = LO;
    int n = build_udp_frame(f, sizeof(f), 53, "q");

    assert_int_equal(pkt_pool_create(&pool, 8), 0);
    for (int i = 0; i < 3; i++) {
        struct pkt_buf *b = buf_with(pool, f, (size_t)n);
        tun_set_peer_port(senders[i], tun_local_port(learn));
        assert_int_equal(tun_tx_burst(senders[i], &b, &vni, &dst, 1), 1);
        tun_set_peer_port(senders[i], tun_local_port(strict));
        assert_int_equal(tun_tx_burst(senders[i], &b, &vni, &dst, 1), 1);
        pkt_pool_put(pool, b);
    }
    assert_int_equal(rx_until(learn, pool, 3, &last), 3);
    tun_stats(learn, &s);
    assert_int_equal(tun_peer_count(learn), 2);
    assert_int_equal(s.peer_table_full, 1);

    /* The strict tunnel delivers nothing; wait for the last datagram to be counted. */
    struct pollfd pfd = {.fd = tun_fd(strict), .events = POLLIN};
    for (int tries = 0; tries < POLL_TRIES; tries++) {
        struct pkt_buf *b;
        assert_int_equal(tun_rx_burst(strict, pool, &b, &last, NULL, 1), 0);
        tun_stats(strict, &s);
        if (s.drops[TUN_DROP_UNKNOWN_PEER] == 3)
            break;
        poll(&pfd, 1, POLL_MS);
    }
    assert_int_equal(s.drops[TUN_DROP_UNKNOWN_PEER], 3);
    assert_int_equal(tun_peer_count(strict), 0);

    pkt_pool_destroy(pool);
    for (int i = 0; i < 3; i++)
        tun_close(senders[i]);
    tun_close(strict);
    tun_close(learn);
}

static void test_state_reaches_every_listed_peer_with_its_own_sequence(void **state)
{
    (void)state;
    struct events eb = {0}, ec = {0};
    struct tun_config c;
    struct tun *a = open_lo(LO, 4, false), *b, *cc;
    struct pkt_pool *pool;
    uint32_t dsts[2] = {0x7f000002, 0x7f000003};
    struct tun_peer_info pi;

    tun_config_init(&c);
    c.port = 0;
    c.local_ip = dsts[0];
    c.on_state = on_state;
    c.state_ctx = &eb;
    assert_int_equal(tun_open(&c, &b, NULL, 0), 0);
    /* Peers share one port, as real hosts do: the same port on another address. */
    c.local_ip = dsts[1];
    c.port = tun_local_port(b);
    c.state_ctx = &ec;
    assert_int_equal(tun_open(&c, &cc, NULL, 0), 0);
    tun_set_peer_port(a, tun_local_port(b));
    assert_int_equal(tun_peer_add(a, dsts[0]), 0);
    assert_int_equal(tun_peer_add(a, dsts[1]), 0);
    assert_int_equal(tun_peer_add(b, LO), 0);
    assert_int_equal(tun_peer_add(cc, LO), 0);
    assert_int_equal(pkt_pool_create(&pool, 4), 0);

    /* b gets one message more than c, so the sequences differ per peer. */
    assert_int_equal(tun_send_state(a, dsts, 1, "m0", 2), 1);
    assert_int_equal(tun_send_state(a, dsts, 2, "m1", 2), 2);
    collect(b, pool, &eb, 2);
    collect(cc, pool, &ec, 1);
    assert_int_equal(eb.n, 2);
    assert_int_equal(ec.n, 1);
    assert_string_equal(eb.log[0], "S1:m0");
    assert_string_equal(eb.log[1], "S2:m1");
    assert_string_equal(ec.log[0], "S1:m1");
    assert_int_equal(tun_peer_get(a, dsts[0], &pi), 0);
    assert_int_equal(pi.tx_state_seq, 2);
    assert_int_equal(tun_peer_get(a, dsts[1], &pi), 0);
    assert_int_equal(pi.tx_state_seq, 1);

    pkt_pool_destroy(pool);
    tun_close(a);
    tun_close(b);
    tun_close(cc);
}

static void test_state_sequence_gap_is_counted_and_message_still_delivered(void **state)
{
    (void)state;
    struct events ev = {0};
    struct tun_config c;
    struct tun *t;
    struct pkt_pool *pool;
    struct tun_peer_info pi;
    uint8_t st[64];
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(LO)};

    tun_config_init(&c);
    c.local_ip = LO;
    c.port = 0;
    c.on_state = on_state;
    c.state_ctx = &ev;
    assert_int_equal(tun_open(&c, &t, NULL, 0), 0);
    assert_int_equal(tun_peer_add(t, LO), 0);
    assert_int_equal(pkt_pool_create(&pool, 4), 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
    pkt_build_vxlan(st, TUN_STATE_VNI_DEFAULT);
    const uint32_t seqs[3] = {1, 3, 4};     /* 2 was lost */
    for (int i = 0; i < 3; i++) {
        int n = tun_state_encode(st + 8, sizeof(st) - 8, TUN_STATE_MSG_FLOW, seqs[i], "s", 1);
        raw_send(fd, tun_local_port(t), st, 8 + (size_t)n);
    }
    collect(t, pool, &ev, 3);
    assert_int_equal(ev.n, 3);
    assert_string_equal(ev.log[1], "S3:s");
    assert_int_equal(tun_peer_get(t, LO, &pi), 0);
    assert_int_equal(pi.state_seq_gaps, 1);
    assert_int_equal(pi.rx_state_seq, 4);
    assert_int_equal(pi.rx_state, 3);
    close(fd);
    pkt_pool_destroy(pool);
    tun_close(t);
}

struct acker {
    struct tun *t;
    unsigned seen;
};

static void ack_state(void *ctx, const struct tun_state_msg *m)
{
    struct acker *a = ctx;

    uint8_t reply[32];
    uint32_t to[2] = {m->src_ip, m->src_ip};

    /* Two destinations and a longer message: a send that reused the receive
     * scratch would change the length and source of datagrams not yet walked. */
    a->seen++;
    memcpy(reply, "ack-", 4);
    memcpy(reply + 4, m->data, m->len < 28 ? m->len : 28);
    tun_send_state(a->t, to, 2, reply, 4 + (m->len < 28 ? m->len : 28));
}

static void test_state_callback_may_send_in_the_middle_of_a_receive_burst(void **state)
{
    (void)state;
    struct events back = {0};
    struct acker ack = {0};
    struct tun_config c;
    struct tun *a, *b;
    struct pkt_pool *pool;
    struct tun_stats s;
    uint32_t lo = LO;
    struct pollfd pfd;

    tun_config_init(&c);
    c.local_ip = LO;
    c.port = 0;
    c.on_state = on_state;
    c.state_ctx = &back;
    assert_int_equal(tun_open(&c, &a, NULL, 0), 0);
    c.peer_port = tun_local_port(a);
    c.on_state = ack_state;
    c.state_ctx = &ack;
    assert_int_equal(tun_open(&c, &b, NULL, 0), 0);
    ack.t = b;
    tun_set_peer_port(a, tun_local_port(b));
    assert_int_equal(tun_peer_add(a, LO), 0);
    assert_int_equal(tun_peer_add(b, LO), 0);
    assert_int_equal(pkt_pool_create(&pool, 8), 0);
    assert_int_equal(tun_send_state(a, &lo, 1, "q1", 2), 1);
    assert_int_equal(tun_send_state(a, &lo, 1, "q2", 2), 1);

    /* Both wait in b's socket; one burst takes both, and each answer is sent
     * while the burst is being walked. */
    pfd = (struct pollfd){.fd = tun_fd(b), .events = POLLIN};
    for (int tries = 0; tries < POLL_TRIES && ack.seen < 2; tries++) {
        struct pkt_buf *bufs[8];
        uint32_t vnis[8];
        assert_int_equal(tun_rx_burst(b, pool, bufs, vnis, NULL, 8), 0);
        if (ack.seen < 2)
            poll(&pfd, 1, POLL_MS);
    }
    assert_int_equal(ack.seen, 2);
    tun_stats(b, &s);
    assert_int_equal(s.rx_state, 2);
    assert_int_equal(s.tx_state, 4);
    for (int d = 0; d < TUN_DROP_COUNT; d++)
        assert_int_equal(s.drops[d], 0);
    collect(a, pool, &back, 4);
    assert_int_equal(back.n, 4);
    assert_string_equal(back.log[0], "S1:ack-q1");
    assert_string_equal(back.log[1], "S2:ack-q1");
    assert_string_equal(back.log[2], "S3:ack-q2");
    assert_string_equal(back.log[3], "S4:ack-q2");
    pkt_pool_destroy(pool);
    tun_close(a);
    tun_close(b);
}

static void test_tx_refuses_bad_frames_by_reason_and_returns_buffers_unchanged(void **state)
{
    (void)state;
    struct tun *t = open_lo(LO, 4, false);
    struct pkt_pool *pool;
    struct pkt_buf *b[4];
    uint8_t f[128];
    uint32_t vnis[4] = {TUN_STATE_VNI_DEFAULT, 0x1000000, 5, 6}, dst[4] = {LO, LO, LO, LO};
    struct tun_stats s;
    int n = build_udp_frame(f, sizeof(f), 53, "q");

    assert_int_equal(pkt_pool_create(&pool, 4), 0);
    for (int i = 0; i < 4; i++)
        b[i] = buf_with(pool, f, (size_t)n);
    b[2]->len = 10;
    b[3]->data = b[3]->room + 2;
    b[3]->len = 20;
    assert_int_equal(tun_tx_burst(t, b, vnis, dst, 4), 0);
    tun_stats(t, &s);
    assert_int_equal(s.drops[TUN_DROP_TX_BAD_VNI], 2);
    assert_int_equal(s.drops[TUN_DROP_TX_TOO_SHORT], 1);
    assert_int_equal(s.drops[TUN_DROP_TX_NO_HEADROOM], 1);
    assert_int_equal(s.tx_packets, 0);
    assert_ptr_equal(b[0]->data, b[0]->room + PKT_HEADROOM);
    assert_ptr_equal(b[3]->data, b[3]->room + 2);
    assert_int_equal(tun_send_state(t, dst, 1, f, TUN_STATE_PAYLOAD_MAX + 1), -EMSGSIZE);
    for (int i = 0; i < 4; i++)
        pkt_pool_put(pool, b[i]);
    pkt_pool_destroy(pool);
    tun_close(t);
}

static void test_state_without_a_callback_is_counted_not_delivered(void **state)
{
    (void)state;
    struct tun *a = open_lo(LO, 4, false), *b = open_lo(LO, 4, false);
    struct pkt_pool *pool;
    struct tun_stats s = {0};
    uint32_t lo = LO;
    struct pollfd pfd = {.fd = tun_fd(b), .events = POLLIN};

    assert_int_equal(pkt_pool_create(&pool, 4), 0);
    assert_int_equal(tun_peer_add(b, LO), 0);
    tun_set_peer_port(a, tun_local_port(b));
    assert_int_equal(tun_send_state(a, &lo, 1, "x", 1), 1);
    for (int tries = 0; tries < POLL_TRIES && s.drops[TUN_DROP_STATE_NO_HANDLER] == 0; tries++) {
        struct pkt_buf *buf;
        uint32_t vni;
        assert_int_equal(tun_rx_burst(b, pool, &buf, &vni, NULL, 1), 0);
        tun_stats(b, &s);
        if (s.drops[TUN_DROP_STATE_NO_HANDLER] == 0)
            poll(&pfd, 1, POLL_MS);
    }
    assert_int_equal(s.drops[TUN_DROP_STATE_NO_HANDLER], 1);
    assert_int_equal(s.rx_state, 0);
    pkt_pool_destroy(pool);
    tun_close(a);
    tun_close(b);
}

/* --- interoperation with the kernel VXLAN device ------------------------------------------
 *
 * Two namespaces joined by a veth pair: in "ours" the tunnel socket, bound to
 * the veth address; in "kern" a kernel vxlan device (VNI 42) whose remote is
 * our address. Nothing touches the root namespace's addresses or routes. */

#define KV_OUR_IP 0x0a630001u       /* 10.99.0.1, veth in "ours" */
#define KV_KERN_IP 0x0a630002u      /* 10.99.0.2, veth in "kern" */
#define KV_INNER_OUR 0xc0a86301u    /* 192.168.99.1: a host behind our tunnel */
#define KV_INNER_KERN 0xc0a86302u   /* 192.168.99.2: vx0's address */
static const uint8_t KV_MAC_OUR[6] = {2, 0, 0, 0, 0x99, 1}, KV_MAC_VX[6] = {2, 0, 0, 0, 0x99, 2};

struct kv {
    char ns_ours[32], ns_kern[32], veth_ours[16], veth_kern[16];
    bool made_ours, made_kern;
    int home_ns;
    struct tun *t;
    struct pkt_pool *pool;
    int probe_fd;
};


/* Run the calling thread in namespace 'name' (NULL: back home). */
static int enter_ns(struct kv *k, const char *name)
{
    char path[64];
    int fd, rc;

    if (!name)
        return setns(k->home_ns, CLONE_NEWNET);
    snprintf(path, sizeof(path), "/run/netns/%s", name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    rc = setns(fd, CLONE_NEWNET);
    close(fd);
    return rc;
}

static int kv_setup(void **state)
{
    struct kv *k = calloc(1, sizeof(*k));
    int pid = getpid();

    snprintf(k->ns_ours, sizeof(k->ns_ours), "rptun-ours-%d", pid);
    snprintf(k->ns_kern, sizeof(k->ns_kern), "rptun-kern-%d", pid);
    snprintf(k->veth_ours, sizeof(k->veth_ours), "rptO%d", pid);
    snprintf(k->veth_kern, sizeof(k->veth_kern), "rptK%d", pid);
    k->home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    k->probe_fd = -1;
    *state = k;
    return 0;
}

/* Runs whether the test passed, failed or skipped. */
static int kv_teardown(void **state)
{
    struct kv *k = *state;

    if (k->home_ns >= 0) {
        enter_ns(k, NULL);
        close(k->home_ns);
    }
    if (k->probe_fd >= 0)
        close(k->probe_fd);
    tun_close(k->t);
    pkt_pool_destroy(k->pool);
    /* Deleting a namespace destroys the veth pair and the vxlan device in it. */
    if (k->made_ours)
        sh("ip netns del %s", k->ns_ours);
    if (k->made_kern)
        sh("ip netns del %s", k->ns_kern);
    free(k);
    return 0;
}

/* Is 'f' the IPv4 frame we expect: protocol, addresses, and 'payload' right after the L4 header? */
static bool frame_matches(const struct pkt_buf *b, uint8_t proto, uint32_t src, uint32_t dst, const uint8_t *mac_dst,
                          const void *payload, size_t plen)
{
    struct flow_key key;
    struct pkt_layout lay;

    if (flow_key_extract(b->data, b->len, 0, &key, &lay) != PKT_OK || ntohs(key.eth_type) != ETH_TYPE_IPV4 ||
        key.nw_proto != proto || ntohl(key.nw.v4.src) != src || ntohl(key.nw.v4.dst) != dst)
        return false;
    if (memcmp(key.eth_dst, mac_dst, 6) != 0)
        return false;
    return lay.payload_ofs && (size_t)lay.payload_ofs + plen <= b->len &&
           memcmp(b->data + lay.payload_ofs, payload, plen) == 0;
}

static void test_kernel_vxlan_device_interoperates_both_ways(void **state)
{
    struct kv *k = *state;
    struct tun_config c;
    char err[160] = "", probe[64], echo[64];
    bool got = false;

    if (geteuid() != 0 || k->home_ns < 0) {
        fprintf(stderr, "# not root: skipping the kernel VXLAN test\n");
        skip();
    }
    if (sh("ip netns add %s", k->ns_ours) != 0)
        skip();
    k->made_ours = true;
    if (sh("ip netns add %s", k->ns_kern) != 0)
        skip();
    k->made_kern = true;
    /* IPv6 off in the kernel namespace keeps its router/neighbour chatter
     * out of the tunnel (the matching below would skip it anyway). */
    sh("ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1",
       k->ns_kern);
    assert_int_equal(sh("ip -n %s link add %s type veth peer name %s netns %s", k->ns_ours, k->veth_ours,
                        k->veth_kern, k->ns_kern), 0);
    assert_int_equal(sh("ip -n %s addr add 10.99.0.1/24 dev %s && ip -n %s link set %s up", k->ns_ours,
                        k->veth_ours, k->ns_ours, k->veth_ours), 0);
    assert_int_equal(sh("ip -n %s addr add 10.99.0.2/24 dev %s && ip -n %s link set %s up", k->ns_kern,
                        k->veth_kern, k->ns_kern, k->veth_kern), 0);
    if (sh("ip -n %s link add vx0 address 02:00:00:00:99:02 type vxlan id 42 remote 10.99.0.1 dstport 4789 "
           "local 10.99.0.2 dev %s", k->ns_kern, k->veth_kern) != 0) {
        fprintf(stderr, "# no kernel vxlan: skipping\n");
        skip();
    }
    assert_int_equal(sh("ip -n %s addr add 192.168.99.2/24 dev vx0 && ip -n %s link set vx0 up", k->ns_kern,
                        k->ns_kern), 0);
    assert_int_equal(sh("ip -n %s neigh add 192.168.99.1 lladdr 02:00:00:00:99:01 dev vx0 nud permanent",
                        k->ns_kern), 0);

    /* Our tunnel lives in "ours"; the socket stays there after we leave. */
    assert_int_equal(enter_ns(k, k->ns_ours), 0);
    tun_config_init(&c);
    c.local_ip = KV_OUR_IP;
    if (tun_open(&c, &k->t, err, sizeof(err)) != 0) {
        enter_ns(k, NULL);
        fail_msg("tun_open in namespace: %s", err);
    }
    assert_int_equal(enter_ns(k, k->ns_kern), 0);
    k->probe_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_int_equal(enter_ns(k, NULL), 0);
    assert_true(k->probe_fd >= 0);
    assert_int_equal(tun_peer_add(k->t, KV_KERN_IP), 0);
    assert_int_equal(pkt_pool_create(&k->pool, 64), 0);

    /* 1. Kernel -> us: a UDP datagram sent in "kern" to 192.168.99.1 leaves
     * vx0 as VXLAN 42 to our socket (UDP checksum 0, hashed source port). */
    snprintf(probe, sizeof(probe), "rampart-tunnel-probe-%d", (int)getpid());
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(7777), .sin_addr.s_addr = htonl(KV_INNER_OUR)};
    struct pollfd pfd = {.fd = tun_fd(k->t), .events = POLLIN};
    for (int tries = 0; tries < POLL_TRIES && !got; tries++) {
        struct pkt_buf *bufs[16];
        uint32_t vnis[16], srcs[16];
        sendto(k->probe_fd, probe, strlen(probe), 0, (struct sockaddr *)&to, sizeof(to));
        poll(&pfd, 1, POLL_MS);
        unsigned n = tun_rx_burst(k->t, k->pool, bufs, vnis, srcs, 16);
        for (unsigned i = 0; i < n; i++) {
            if (vnis[i] == 42 && srcs[i] == KV_KERN_IP &&
                frame_matches(bufs[i], IP_PROTO_UDP, KV_INNER_KERN, KV_INNER_OUR, KV_MAC_OUR, probe, strlen(probe)))
                got = true;
            pkt_pool_put(k->pool, bufs[i]);
        }
    }
    assert_true(got);

    /* 2. Us -> kernel: an ICMP echo request to vx0's address, encapsulated by
     * us; the kernel decapsulates, answers, and the reply comes back to us. */
    struct pkt_spec s = {0};
    snprintf(echo, sizeof(echo), "rampart-tunnel-echo-%d", (int)getpid());
    memcpy(s.eth_src, KV_MAC_OUR, 6);
    memcpy(s.eth_dst, KV_MAC_VX, 6);
    s.ip_src = KV_INNER_OUR;
    s.ip_dst = KV_INNER_KERN;
    s.proto = IP_PROTO_ICMP;
    s.ttl = 64;
    s.icmp_type = ICMP_ECHO;
    s.icmp_id = (uint16_t)getpid();
    s.payload = (const uint8_t *)echo;
    s.payload_len = (uint16_t)strlen(echo);
    got = false;
    for (int tries = 0; tries < POLL_TRIES && !got; tries++) {
        struct pkt_buf *bufs[16];
        uint32_t vnis[16], vni = 42, dst = KV_KERN_IP;
        struct pkt_buf *req = pkt_pool_get(k->pool);
        assert_non_null(req);
        s.icmp_seq = (uint16_t)tries;
        int n = pkt_build_ipv4(req->data, PKT_BUF_SIZE - PKT_HEADROOM, &s);
        assert_true(n > 0);
        req->len = (uint16_t)n;
        assert_int_equal(tun_tx_burst(k->t, &req, &vni, &dst, 1), 1);
        pkt_pool_put(k->pool, req);
        poll(&pfd, 1, POLL_MS);
        unsigned got_n = tun_rx_burst(k->t, k->pool, bufs, vnis, NULL, 16);
        for (unsigned i = 0; i < got_n; i++) {
            /* The reply carries the request's payload after the 8-byte ICMP header. */
            if (vnis[i] == 42 &&
                frame_matches(bufs[i], IP_PROTO_ICMP, KV_INNER_KERN, KV_INNER_OUR, KV_MAC_OUR, echo, strlen(echo))) {
                struct flow_key key;
                struct pkt_layout lay;
                flow_key_extract(bufs[i]->data, bufs[i]->len, 0, &key, &lay);
                const struct icmp_hdr *ic = (const void *)(bufs[i]->data + lay.l4_ofs);
                if (ic->type == ICMP_ECHO_REPLY && ntohs(ic->id) == (uint16_t)getpid())
                    got = true;
            }
            pkt_pool_put(k->pool, bufs[i]);
        }
    }
    assert_true(got);

    struct tun_peer_info pi;
    assert_int_equal(tun_peer_get(k->t, KV_KERN_IP, &pi), 0);
    assert_true(pi.rx_packets >= 2);
    assert_true(pi.tx_packets >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encap_then_decap_returns_vni_and_same_frame),
        cmocka_unit_test(test_encap_refuses_wide_vni_and_missing_headroom),
        cmocka_unit_test(test_decap_ignores_reserved_bits_but_needs_i_flag),
        cmocka_unit_test(test_decap_refuses_every_length_below_the_header),
        cmocka_unit_test(test_state_framing_round_trips_and_checks_lengths),
        cmocka_unit_test(test_state_decode_refuses_version_type_and_header_length),
        cmocka_unit_test(test_state_decode_skips_header_fields_a_newer_sender_appended),
        cmocka_unit_test(test_drop_names_are_distinct_and_stable),
        cmocka_unit_test(test_peer_table_is_bounded_and_survives_removals),
        cmocka_unit_test(test_two_tunnels_exchange_frames_and_state_in_order),
        cmocka_unit_test(test_malformed_datagrams_are_dropped_and_counted_by_reason),
        cmocka_unit_test(test_unknown_source_dropped_unless_learning_and_learning_is_bounded),
        cmocka_unit_test(test_state_reaches_every_listed_peer_with_its_own_sequence),
        cmocka_unit_test(test_state_sequence_gap_is_counted_and_message_still_delivered),
        cmocka_unit_test(test_state_callback_may_send_in_the_middle_of_a_receive_burst),
        cmocka_unit_test(test_tx_refuses_bad_frames_by_reason_and_returns_buffers_unchanged),
        cmocka_unit_test(test_state_without_a_callback_is_counted_not_delivered),
        cmocka_unit_test_setup_teardown(test_kernel_vxlan_device_interoperates_both_ways, kv_setup, kv_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
