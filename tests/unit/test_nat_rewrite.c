/* nat/nat_rewrite.c: after every rewrite, a full recomputation of each
 * checksum over the rewritten frame must agree with what is stored (IPv4
 * header, TCP, UDP, UDP without checksum, ICMP echo, ICMP errors with their
 * quoted header and quoted L4 checksum), and the fields must hold the new
 * values. Frames are built with lib/packet.h and parsed by
 * flow_key_extract, as the datapath will. */
#include "lib/csum.h"
#include "lib/packet.h"
#include "nat/nat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define A(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)rd16(p) << 16 | rd16(p + 2);
}

static int build(uint8_t *buf, size_t cap, const struct pkt_spec *s, struct pkt_layout *l)
{
    struct flow_key k;
    int n = pkt_build_ipv4(buf, cap, s);

    assert_true(n > 0);
    assert_int_equal(flow_key_extract(buf, (uint32_t)n, 1, &k, l), PKT_OK);
    return n;
}

static bool ip_csum_ok(const uint8_t *ip)
{
    return csum_fold(csum_partial(ip, (size_t)(ip[0] & 0x0f) * 4, 0)) == 0;
}

/* The L4 checksum of the IP packet at 'ip' (whole: total length bytes). */
static bool l4_csum_ok(const uint8_t *ip)
{
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4, tot = rd16(ip + 2);
    const uint8_t *l4 = ip + ihl;
    uint16_t l4len = (uint16_t)(tot - ihl);
    rp_be32 src, dst;

    memcpy(&src, ip + 12, 4);
    memcpy(&dst, ip + 16, 4);
    switch (ip[9]) {
    case IP_PROTO_TCP:
        return csum_fold(csum_partial(l4, l4len, csum_pseudo_ipv4(src, dst, IP_PROTO_TCP, l4len))) == 0;
    case IP_PROTO_UDP:
        if (rd16(l4 + 6) == 0)
            return true;
        return csum_fold(csum_partial(l4, l4len, csum_pseudo_ipv4(src, dst, IP_PROTO_UDP, l4len))) == 0;
    case IP_PROTO_ICMP:
        return csum_fold(csum_partial(l4, l4len, 0)) == 0;
    }
    return true;
}

static void assert_frame_ok(const uint8_t *f, const struct pkt_layout *l)
{
    assert_true(ip_csum_ok(f + l->l3_ofs));
    assert_true(l4_csum_ok(f + l->l3_ofs));
}

static struct pkt_spec spec(uint8_t proto, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    static const uint8_t payload[] = "some payload bytes, odd length!";
    struct pkt_spec s = {.eth_src = {2, 0, 0, 0, 0, 1}, .eth_dst = {2, 0, 0, 0, 0, 2}, .ip_src = src,
                         .ip_dst = dst, .proto = proto, .ttl = 64, .sport = sport, .dport = dport,
                         .tcp_flags = TCP_ACK, .icmp_type = ICMP_ECHO, .icmp_id = sport, .icmp_seq = 7,
                         .payload = payload, .payload_len = sizeof(payload) - 1};
    return s;
}

static void test_snat_rewrite_of_tcp_keeps_every_checksum_valid(void **state)
{
    (void)state;
    uint8_t f[256];
    struct pkt_layout l;
    struct pkt_spec s = spec(IP_PROTO_TCP, A(10, 0, 0, 5), 40000, A(8, 8, 8, 8), 443);
    struct nat_xlate x = {.addr = htonl(A(198, 51, 100, 2)), .port = htons(1025), .side = NAT_SIDE_SRC,
                          .what = NAT_XLATE_ADDR | NAT_XLATE_PORT};

    build(f, sizeof(f), &s, &l);
    assert_int_equal(nat_rewrite(f, sizeof(f), &l, &x), 0);
    assert_int_equal(rd32(f + l.l3_ofs + 12), A(198, 51, 100, 2));
    assert_int_equal(rd16(f + l.l4_ofs), 1025);
    assert_int_equal(rd32(f + l.l3_ofs + 16), A(8, 8, 8, 8));
    assert_int_equal(rd16(f + l.l4_ofs + 2), 443);
    assert_frame_ok(f, &l);
}

static void test_dnat_rewrite_of_udp_keeps_every_checksum_valid(void **state)
{
    (void)state;
    uint8_t f[256];
    struct pkt_layout l;
    struct pkt_spec s = spec(IP_PROTO_UDP, A(203, 0, 113, 7), 51000, A(198, 51, 100, 9), 53);
    struct nat_xlate x = {.addr = htonl(A(10, 0, 0, 80)), .port = htons(5353), .side = NAT_SIDE_DST,
                          .what = NAT_XLATE_ADDR | NAT_XLATE_PORT};

    build(f, sizeof(f), &s, &l);
    assert_int_equal(nat_rewrite(f, sizeof(f), &l, &x), 0);
    assert_int_equal(rd32(f + l.l3_ofs + 16), A(10, 0, 0, 80));
    assert_int_equal(rd16(f + l.l4_ofs + 2), 5353);
    assert_int_not_equal(rd16(f + l.l4_ofs + 6), 0);
    assert_frame_ok(f, &l);
}

static void test_udp_without_checksum_stays_without_after_rewrite(void **state)
{
    (void)state;
    uint8_t f[256];
    struct pkt_layout l;
    struct pkt_spec s = spec(IP_PROTO_UDP, A(10, 0, 0, 5), 4789, A(10, 0, 0, 9), 4789);
    struct nat_xlate x = {.addr = htonl(A(198, 51, 100, 2)), .port = htons(2000), .side = NAT_SIDE_SRC,
                          .what = NAT_XLATE_ADDR | NAT_XLATE_PORT};

    s.udp_no_csum = true;
    build(f, sizeof(f), &s, &l);
    assert_int_equal(nat_rewrite(f, sizeof(f), &l, &x), 0);
    assert_int_equal(rd16(f + l.l4_ofs + 6), 0);
    assert_int_equal(rd32(f + l.l3_ofs + 12), A(198, 51, 100, 2));
    assert_true(ip_csum_ok(f + l.l3_ofs));
}

static void test_icmp_echo_rewrite_translates_the_identifier(void **state)
{
    (void)state;
    uint8_t f[256];
    struct pkt_layout l;
    struct pkt_spec s = spec(IP_PROTO_ICMP, A(10, 0, 0, 5), 77, A(8, 8, 8, 8), 0);
    struct nat_xlate x = {.addr = htonl(A(198, 51, 100, 2)), .port = htons(3000), .side = NAT_SIDE_SRC,
                          .what = NAT_XLATE_ADDR | NAT_XLATE_PORT};

    build(f, sizeof(f), &s, &l);
    assert_int_equal(nat_rewrite(f, sizeof(f), &l, &x), 0);
    assert_int_equal(rd16(f + l.l4_ofs + 4), 3000);
    assert_int_equal(rd16(f + l.l4_ofs + 6), 7);   /* sequence untouched */
    assert_frame_ok(f, &l);
    /* The reply direction: destination side, the identifier again. */
    s = spec(IP_PROTO_ICMP, A(8, 8, 8, 8), 3000, A(198, 51, 100, 2), 0);
    s.icmp_type = ICMP_ECHO_REPLY;
    build(f, sizeof(f), &s, &l);
    x = (struct nat_xlate){.addr = htonl(A(10, 0, 0, 5)), .port = htons(77), .side = NAT_SIDE_DST,
                           .what = NAT_XLATE_ADDR | NAT_XLATE_PORT};
    assert_int_equal(nat_rewrite(f, sizeof(f), &l, &x), 0);
    assert_int_equal(rd16(f + l.l4_ofs + 4), 77);
    assert_int_equal(rd32(f + l.l3_ofs + 16), A(10, 0, 0, 5));
    assert_frame_ok(f, &l);
}

static void test_random_rewrites_always_leave_valid_checksums(void **state)
{
    (void)state;
    static const uint8_t protos[] = {IP_PROTO_TCP, IP_PROTO_UDP, IP_PROTO_ICMP};
    uint8_t payload[300], f[512];

    for (int iter = 0; iter < 20000; iter++) {
        struct pkt_layout l;
        struct pkt_spec s = spec(protos[rnd() % 3], rnd(), (uint16_t)rnd(), rnd(), (uint16_t)rnd());
        struct nat_xlate x = {.addr = rnd(), .port = (uint16_t)rnd(), .side = (uint8_t)(rnd() % 2),
                              .what = (uint8_t)(1 + rnd() % 3)};

        for (size_t i = 0; i < sizeof(payload); i++)
            payload[i] = (uint8_t)rnd();
        s.payload = payload;
        s.payload_len = (uint16_t)(rnd() % sizeof(payload));
        s.n_vlans = (uint8_t)(rnd() % 3);
        s.udp_no_csum = rnd() % 4 == 0;
        if (s.proto == IP_PROTO_ICMP)
            s.icmp_type = rnd() % 2 ? ICMP_ECHO : ICMP_ECHO_REPLY;
        int n = build(f, sizeof(f), &s, &l);
        bool no_csum = s.proto == IP_PROTO_UDP && s.udp_no_csum;

        assert_int_equal(nat_rewrite(f, (size_t)n, &l, &x), 0);
        assert_frame_ok(f, &l);
        if (no_csum)
            assert_int_equal(rd16(f + l.l4_ofs + 6), 0);
        if (x.what & NAT_XLATE_ADDR)
            assert_memory_equal(f + l.l3_ofs + (x.side == NAT_SIDE_SRC ? 12 : 16), &x.addr, 4);
        if (x.what & NAT_XLATE_PORT) {
            size_t at = s.proto == IP_PROTO_ICMP ? 4 : x.side == NAT_SIDE_SRC ? 0 : 2;
            assert_memory_equal(f + l.l4_ofs + at, &x.port, 2);
        }
    }
}

/* An ICMP error from 'from' to 'to' quoting 'quoted' (an IP packet) cut to
 * 'quote_len' bytes. */
static int build_error(uint8_t *f, size_t cap, uint8_t type, uint32_t from, uint32_t to, const uint8_t *quoted,
                       uint16_t quote_len, struct pkt_layout *l)
{
    struct pkt_spec s = spec(IP_PROTO_ICMP, from, 0, to, 0);

    s.icmp_type = type;
    s.icmp_code = type == ICMP_DEST_UNREACH ? 3 : 0;
    s.payload = quoted;
    s.payload_len = quote_len;
    return build(f, cap, &s, l);
}

static void assert_quote_ok(const uint8_t *f, const struct pkt_layout *l, bool whole)
{
    assert_int_not_equal(l->inner_l3_ofs, 0);
    assert_true(ip_csum_ok(f + l->inner_l3_ofs));
    if (whole)
        assert_true(l4_csum_ok(f + l->inner_l3_ofs));
}

static void test_icmp_error_about_a_snat_flow_is_translated_back_per_rfc5508(void **state)
{
    (void)state;
    static const uint8_t types[] = {ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED};
    static const uint8_t protos[] = {IP_PROTO_UDP, IP_PROTO_TCP, IP_PROTO_ICMP};

    for (unsigned ti = 0; ti < 2; ti++) {
        for (unsigned pi = 0; pi < 3; pi++) {
            for (int whole = 0; whole < 2; whole++) {
                uint8_t orig[256], f[512];
                struct pkt_layout lo, l;
                /* The packet as it left through SNAT, and the error a router
                 * beyond sent back to the public address. */
                struct pkt_spec s = spec(protos[pi], A(198, 51, 100, 2), 1025, A(8, 8, 8, 8), 53);
                int n = build(orig, sizeof(orig), &s, &lo);
                uint16_t qlen = whole ? (uint16_t)(n - lo.l3_ofs) : (uint16_t)(lo.l4_ofs - lo.l3_ofs + 8);
                struct nat_xlate x = {.addr = htonl(A(10, 0, 0, 5)), .port = htons(40000), .side = NAT_SIDE_SRC,
                                      .what = NAT_XLATE_ADDR | NAT_XLATE_PORT};
                int m = build_error(f, sizeof(f), types[ti], A(192, 0, 2, 1), A(198, 51, 100, 2), orig + lo.l3_ofs,
                                    qlen, &l);

                assert_int_equal(nat_rewrite_icmp_error(f, (size_t)m, &l, &x), 0);
                /* Outer: to the inside host now; from the router still. */
                assert_int_equal(rd32(f + l.l3_ofs + 16), A(10, 0, 0, 5));
                assert_int_equal(rd32(f + l.l3_ofs + 12), A(192, 0, 2, 1));
                /* Quote: its source is the inside host's address and port. */
                assert_int_equal(rd32(f + l.inner_l3_ofs + 12), A(10, 0, 0, 5));
                assert_int_equal(rd32(f + l.inner_l3_ofs + 16), A(8, 8, 8, 8));
                assert_int_equal(rd16(f + l.inner_l4_ofs + (protos[pi] == IP_PROTO_ICMP ? 4 : 0)), 40000);
                assert_frame_ok(f, &l);
                assert_quote_ok(f, &l, whole);
            }
        }
    }
}

static void test_icmp_error_from_a_dnat_backend_is_translated_back(void **state)
{
    (void)state;
    uint8_t orig[256], f[512];
    struct pkt_layout lo, l;
    /* Client -> VIP was DNATed to the backend, which answers "port
     * unreachable" itself: outer source = quoted destination. */
    struct pkt_spec s = spec(IP_PROTO_UDP, A(203, 0, 113, 7), 51000, A(10, 0, 0, 80), 8080);
    int n = build(orig, sizeof(orig), &s, &lo);
    int m = build_error(f, sizeof(f), ICMP_DEST_UNREACH, A(10, 0, 0, 80), A(203, 0, 113, 7), orig + lo.l3_ofs,
                        (uint16_t)(n - lo.l3_ofs), &l);
    struct nat_xlate x = {.addr = htonl(A(198, 51, 100, 9)), .port = htons(53), .side = NAT_SIDE_DST,
                          .what = NAT_XLATE_ADDR | NAT_XLATE_PORT};

    assert_int_equal(nat_rewrite_icmp_error(f, (size_t)m, &l, &x), 0);
    assert_int_equal(rd32(f + l.l3_ofs + 12), A(198, 51, 100, 9));
    assert_int_equal(rd32(f + l.l3_ofs + 16), A(203, 0, 113, 7));
    assert_int_equal(rd32(f + l.inner_l3_ofs + 16), A(198, 51, 100, 9));
    assert_int_equal(rd16(f + l.inner_l4_ofs + 2), 53);
    assert_frame_ok(f, &l);
    assert_quote_ok(f, &l, true);
}

static void test_icmp_error_with_quoted_udp_without_checksum_keeps_it_zero(void **state)
{
    (void)state;
    uint8_t orig[256], f[512];
    struct pkt_layout lo, l;
    struct pkt_spec s = spec(IP_PROTO_UDP, A(198, 51, 100, 2), 1025, A(8, 8, 8, 8), 53);
    struct nat_xlate x = {.addr = htonl(A(10, 0, 0, 5)), .port = htons(40000), .side = NAT_SIDE_SRC,
                          .what = NAT_XLATE_ADDR | NAT_XLATE_PORT};

    s.udp_no_csum = true;
    int n = build(orig, sizeof(orig), &s, &lo);
    int m = build_error(f, sizeof(f), ICMP_TIME_EXCEEDED, A(192, 0, 2, 1), A(198, 51, 100, 2), orig + lo.l3_ofs,
                        (uint16_t)(n - lo.l3_ofs), &l);

    assert_int_equal(nat_rewrite_icmp_error(f, (size_t)m, &l, &x), 0);
    assert_int_equal(rd16(f + l.inner_l4_ofs + 6), 0);
    assert_frame_ok(f, &l);
    assert_quote_ok(f, &l, false);
}

static void test_rewrite_refuses_what_the_layout_lacks_and_leaves_the_frame_alone(void **state)
{
    (void)state;
    uint8_t f[256], copy[256];
    struct pkt_layout l, bad;
    struct pkt_spec s = spec(IP_PROTO_ICMP, A(10, 0, 0, 5), 0, A(8, 8, 8, 8), 0);
    struct nat_xlate port = {.addr = htonl(A(1, 2, 3, 4)), .port = htons(5), .side = NAT_SIDE_SRC,
                             .what = NAT_XLATE_ADDR | NAT_XLATE_PORT};

    /* An ICMP error (not echo) has no identifier to rewrite as a port. */
    s.icmp_type = ICMP_DEST_UNREACH;
    s.payload_len = 0;
    int n = pkt_build_ipv4(f, sizeof(f), &s);
    struct flow_key k;
    assert_true(n > 0);
    flow_key_extract(f, (uint32_t)n, 1, &k, &l);
    memcpy(copy, f, sizeof(f));
    assert_int_equal(nat_rewrite(f, (size_t)n, &l, &port), -EINVAL);
    assert_memory_equal(f, copy, sizeof(f));
    /* An echo is not an error. */
    s = spec(IP_PROTO_ICMP, A(10, 0, 0, 5), 9, A(8, 8, 8, 8), 0);
    n = build(f, sizeof(f), &s, &l);
    memcpy(copy, f, sizeof(f));
    assert_int_equal(nat_rewrite_icmp_error(f, (size_t)n, &l, &port), -EINVAL);
    /* A layout without L3, or pointing past the frame. */
    bad = l;
    bad.l3_ofs = 0;
    assert_int_equal(nat_rewrite(f, (size_t)n, &bad, &port), -EINVAL);
    bad = l;
    bad.l4_ofs = (uint16_t)(n - 2);
    assert_int_equal(nat_rewrite(f, (size_t)n, &bad, &port), -EINVAL);
    assert_int_equal(nat_rewrite(f, (size_t)l.l4_ofs, &l, &port), -EINVAL);
    assert_memory_equal(f, copy, sizeof(f));
}

static void test_later_fragment_gets_only_its_address_rewritten(void **state)
{
    (void)state;
    uint8_t f[256], copy[256];
    struct pkt_layout l;
    struct pkt_spec s = spec(IP_PROTO_UDP, A(10, 0, 0, 5), 1000, A(8, 8, 8, 8), 53);
    struct nat_xlate x = {.addr = htonl(A(198, 51, 100, 2)), .port = htons(1025), .side = NAT_SIDE_SRC,
                          .what = NAT_XLATE_ADDR | NAT_XLATE_PORT};

    s.frag_off = 100;   /* offset 800 bytes: no UDP header here */
    int n = build(f, sizeof(f), &s, &l);
    assert_int_equal(l.frag, FLOW_FRAG_LATER);
    memcpy(copy, f, sizeof(f));
    assert_int_equal(nat_rewrite(f, (size_t)n, &l, &x), 0);
    assert_int_equal(rd32(f + l.l3_ofs + 12), A(198, 51, 100, 2));
    assert_true(ip_csum_ok(f + l.l3_ofs));
    /* Everything after the IP header is as it was. */
    assert_memory_equal(f + l.l3_ofs + 20, copy + l.l3_ofs + 20, (size_t)n - l.l3_ofs - 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snat_rewrite_of_tcp_keeps_every_checksum_valid),
        cmocka_unit_test(test_dnat_rewrite_of_udp_keeps_every_checksum_valid),
        cmocka_unit_test(test_udp_without_checksum_stays_without_after_rewrite),
        cmocka_unit_test(test_icmp_echo_rewrite_translates_the_identifier),
        cmocka_unit_test(test_random_rewrites_always_leave_valid_checksums),
        cmocka_unit_test(test_icmp_error_about_a_snat_flow_is_translated_back_per_rfc5508),
        cmocka_unit_test(test_icmp_error_from_a_dnat_backend_is_translated_back),
        cmocka_unit_test(test_icmp_error_with_quoted_udp_without_checksum_keeps_it_zero),
        cmocka_unit_test(test_rewrite_refuses_what_the_layout_lacks_and_leaves_the_frame_alone),
        cmocka_unit_test(test_later_fragment_gets_only_its_address_rewritten),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
