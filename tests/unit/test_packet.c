/* Packet parsing and building: valid frames of every kind, every malformation
 * refused with its reason, truncation at every byte, keys comparable as memory. */
#include "lib/csum.h"
#include "lib/packet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const uint8_t MAC_A[6] = {2, 0, 0, 0, 0, 0xa}, MAC_B[6] = {2, 0, 0, 0, 0, 0xb};

static struct pkt_spec spec(uint8_t proto)
{
    struct pkt_spec s = {0};
    memcpy(s.eth_src, MAC_A, 6);
    memcpy(s.eth_dst, MAC_B, 6);
    s.ip_src = 0x0a000001;
    s.ip_dst = 0xc6336402;
    s.proto = proto;
    s.ttl = 64;
    s.tos = 0x10;
    s.sport = 40000;
    s.dport = 80;
    s.tcp_flags = TCP_SYN;
    s.icmp_type = ICMP_ECHO;
    s.icmp_id = 77;
    return s;
}

/* Parse, and check that no byte past 'len' was needed: copy into an exact-size heap buffer so ASan would catch it. */
static enum pkt_err parse_exact(const uint8_t *frame, uint32_t len, struct flow_key *k, struct pkt_layout *l)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, frame, len);
    enum pkt_err e = flow_key_extract(copy, len, 7, k, l);
    free(copy);
    return e;
}

static void test_tcp_ipv4_frame_parses_into_key_and_layout(void **state)
{
    (void)state;
    uint8_t f[256];
    struct pkt_spec s = spec(IP_PROTO_TCP);
    struct flow_key k;
    struct pkt_layout l;
    int n = pkt_build_ipv4(f, sizeof(f), &s);

    assert_true(n == 54);
    assert_int_equal(parse_exact(f, (uint32_t)n, &k, &l), PKT_OK);
    assert_int_equal(k.in_port, 7);
    assert_memory_equal(k.eth_src, MAC_A, 6);
    assert_memory_equal(k.eth_dst, MAC_B, 6);
    assert_int_equal(ntohs(k.eth_type), ETH_TYPE_IPV4);
    assert_int_equal(k.nw_proto, IP_PROTO_TCP);
    assert_int_equal(k.nw_ttl, 64);
    assert_int_equal(k.nw_tos, 0x10);
    assert_int_equal(ntohl(k.nw.v4.src), 0x0a000001);
    assert_int_equal(ntohl(k.nw.v4.dst), 0xc6336402);
    assert_int_equal(ntohs(k.tp_src), 40000);
    assert_int_equal(ntohs(k.tp_dst), 80);
    assert_int_equal(l.l3_ofs, 14);
    assert_int_equal(l.l4_ofs, 34);
    assert_int_equal(l.payload_ofs, 54);
    assert_int_equal(l.tcp_flags, TCP_SYN);
    assert_int_equal(k.nw_frag, FLOW_FRAG_NONE);
}

static void test_udp_and_icmp_echo_fill_ports_and_identifier(void **state)
{
    (void)state;
    uint8_t f[256];
    struct flow_key k;
    struct pkt_layout l;
    struct pkt_spec s = spec(IP_PROTO_UDP);
    int n = pkt_build_ipv4(f, sizeof(f), &s);

    assert_int_equal(parse_exact(f, (uint32_t)n, &k, &l), PKT_OK);
    assert_int_equal(ntohs(k.tp_src), 40000);
    assert_int_equal(l.payload_ofs, 42);
    s = spec(IP_PROTO_ICMP);
    n = pkt_build_ipv4(f, sizeof(f), &s);
    assert_int_equal(parse_exact(f, (uint32_t)n, &k, &l), PKT_OK);
    assert_int_equal(ntohs(k.tp_src), ICMP_ECHO << 8);
    assert_int_equal(ntohs(k.tp_dst), 77);
    assert_int_equal(k.flags & FLOW_F_ICMP_ERROR, 0);
}

static int build_icmp_error(uint8_t *f, size_t cap)
{
    uint8_t inner[128];
    struct pkt_spec in = spec(IP_PROTO_UDP);
    int n = pkt_build_ipv4(inner, sizeof(inner), &in);
    struct pkt_spec s = spec(IP_PROTO_ICMP);
    s.icmp_type = ICMP_TIME_EXCEEDED;
    s.payload = inner + 14;
    s.payload_len = 28;   /* IP header + 8 bytes of UDP */
    (void)n;
    return pkt_build_ipv4(f, cap, &s);
}

static void test_icmp_error_exposes_the_embedded_header(void **state)
{
    (void)state;
    uint8_t f[256];
    struct flow_key k;
    struct pkt_layout l;
    int n = build_icmp_error(f, sizeof(f));

    assert_int_equal(parse_exact(f, (uint32_t)n, &k, &l), PKT_OK);
    assert_true(k.flags & FLOW_F_ICMP_ERROR);
    assert_int_equal(ntohs(k.tp_src), ICMP_TIME_EXCEEDED << 8);
    assert_int_equal(l.inner_l3_ofs, 42);
    assert_int_equal(l.inner_l4_ofs, 62);
    assert_int_equal(f[l.inner_l3_ofs + 9], IP_PROTO_UDP);
    assert_int_equal(f[l.inner_l4_ofs] << 8 | f[l.inner_l4_ofs + 1], 40000);
}

static void test_truncation_at_every_byte_is_refused_cleanly(void **state)
{
    (void)state;
    uint8_t f[256];
    struct flow_key k;
    struct pkt_layout l;
    struct pkt_spec s = spec(IP_PROTO_TCP);
    s.n_vlans = 2;
    s.vlan[0] = 100;
    s.vlan[1] = 200;
    int sizes[3], n;

    sizes[0] = pkt_build_ipv4(f, sizeof(f), &s);
    for (int kind = 0; kind < 3; kind++) {
        if (kind == 1) {
            s = spec(IP_PROTO_TCP);
            sizes[1] = pkt_build_ipv4(f, sizeof(f), &s);
        } else if (kind == 2) {
            sizes[2] = build_icmp_error(f, sizeof(f));
        }
        n = sizes[kind];
        assert_int_equal(parse_exact(f, (uint32_t)n, &k, &l), PKT_OK);
        for (int cut = 0; cut < n; cut++) {
            enum pkt_err e = parse_exact(f, (uint32_t)cut, &k, &l);
            assert_int_not_equal(e, PKT_OK);
            assert_string_not_equal(pkt_err_name(e), "unknown");
            /* A refused frame still leaves a fully written key. */
            assert_int_equal(k.in_port, 7);
        }
    }
}

static void test_bad_ipv4_headers_are_refused_with_their_reason(void **state)
{
    (void)state;
    uint8_t f[256], g[256];
    struct flow_key k;
    struct pkt_layout l;
    struct pkt_spec s = spec(IP_PROTO_TCP);
    int n = pkt_build_ipv4(f, sizeof(f), &s);

    memcpy(g, f, (size_t)n);
    g[14] = 0x44;   /* IHL 4 */
    assert_int_equal(parse_exact(g, (uint32_t)n, &k, &l), PKT_ERR_IPV4_IHL);
    memcpy(g, f, (size_t)n);
    g[14] = 0x55;
    assert_int_equal(parse_exact(g, (uint32_t)n, &k, &l), PKT_ERR_IP_VERSION);
    memcpy(g, f, (size_t)n);
    g[16] = 0x05;   /* total length 1280 + ..: longer than the frame */
    assert_int_equal(parse_exact(g, (uint32_t)n, &k, &l), PKT_ERR_IPV4_TOTLEN_LONG);
    memcpy(g, f, (size_t)n);
    g[16] = 0;
    g[17] = 12;     /* shorter than its own header */
    assert_int_equal(parse_exact(g, (uint32_t)n, &k, &l), PKT_ERR_IPV4_TOTLEN_SHORT);
    memcpy(g, f, (size_t)n);
    g[14 + 20 + 12] = 0x30;   /* TCP data offset 3 */
    assert_int_equal(parse_exact(g, (uint32_t)n, &k, &l), PKT_ERR_TCP_DOFF);
    memcpy(g, f, (size_t)n);
    g[14 + 20 + 12] = 0xf0;   /* 60 bytes: beyond the segment */
    assert_int_equal(parse_exact(g, (uint32_t)n, &k, &l), PKT_ERR_TCP_DOFF);
}

static void test_udp_length_that_lies_is_refused(void **state)
{
    (void)state;
    uint8_t f[256];
    struct flow_key k;
    struct pkt_layout l;
    struct pkt_spec s = spec(IP_PROTO_UDP);
    int n = pkt_build_ipv4(f, sizeof(f), &s);

    f[14 + 20 + 5] = 200;
    assert_int_equal(parse_exact(f, (uint32_t)n, &k, &l), PKT_ERR_UDP_LEN);
    f[14 + 20 + 5] = 4;
    assert_int_equal(parse_exact(f, (uint32_t)n, &k, &l), PKT_ERR_UDP_LEN);
}

static void test_ipv4_options_are_skipped_and_padding_ignored(void **state)
{
    (void)state;
    uint8_t f[256], g[256];
    struct flow_key k;
    struct pkt_layout l;
    struct pkt_spec s = spec(IP_PROTO_UDP);
    int n = pkt_build_ipv4(f, sizeof(f), &s);

    /* Insert 8 bytes of options (NOPs) after the 20-byte header. */
    memcpy(g, f, 34);
    memset(g + 34, 1, 8);
    memcpy(g + 42, f + 34, (size_t)n - 34);
    g[14] = 0x47;
    uint16_t tot = (uint16_t)(n - 14 + 8);
    g[16] = (uint8_t)(tot >> 8);
    g[17] = (uint8_t)tot;
    memset(g + n + 8, 0xee, 20);   /* Ethernet padding past the IP packet */
    assert_int_equal(parse_exact(g, (uint32_t)n + 8 + 20, &k, &l), PKT_OK);
    assert_int_equal(l.l4_ofs, 42);
    assert_int_equal(ntohs(k.tp_src), 40000);
    assert_int_equal(l.l3_len, tot);
    assert_int_equal(l.l4_len, tot - 28);
}

static void test_fragments_first_keeps_ports_later_has_none(void **state)
{
    (void)state;
    uint8_t f[256];
    struct flow_key k;
    struct pkt_layout l;
    struct pkt_spec s = spec(IP_PROTO_UDP);

    s.frag_off = IPV4_MF;
    int n = pkt_build_ipv4(f, sizeof(f), &s);
    assert_int_equal(parse_exact(f, (uint32_t)n, &k, &l), PKT_OK);
    assert_int_equal(k.nw_frag, FLOW_FRAG_FIRST);
    assert_int_equal(ntohs(k.tp_src), 40000);
    s.frag_off = 185;   /* offset 1480 */
    n = pkt_build_ipv4(f, sizeof(f), &s);
    assert_int_equal(parse_exact(f, (uint32_t)n, &k, &l), PKT_OK);
    assert_int_equal(k.nw_frag, FLOW_FRAG_LATER);
    assert_int_equal(k.tp_src, 0);
    assert_int_equal(k.tp_dst, 0);
    assert_int_equal(l.l4_ofs, 0);
}

static void test_vlan_and_qinq_parse_and_a_third_tag_is_refused(void **state)
{
    (void)state;
    uint8_t f[256], g[256];
    struct flow_key k;
    struct pkt_layout l;
    struct pkt_spec s = spec(IP_PROTO_TCP);

    s.n_vlans = 2;
    s.vlan[0] = 100;
    s.vlan[1] = 200;
    int n = pkt_build_ipv4(f, sizeof(f), &s);
    assert_int_equal(parse_exact(f, (uint32_t)n, &k, &l), PKT_OK);
    assert_int_equal(l.n_vlans, 2);
    assert_int_equal(ntohs(k.vlan_tci[0]), 100);
    assert_int_equal(ntohs(k.vlan_tci[1]), 200);
    assert_int_equal(k.flags & (FLOW_F_VLAN0 | FLOW_F_VLAN1), FLOW_F_VLAN0 | FLOW_F_VLAN1);
    assert_int_equal(l.l3_ofs, 22);
    assert_int_equal(ntohs(k.tp_dst), 80);
    /* A third tag. */
    memcpy(g, f, 12);
    g[12] = 0x81; g[13] = 0; g[14] = 0; g[15] = 5;
    memcpy(g + 16, f + 12, (size_t)n - 12);
    assert_int_equal(parse_exact(g, (uint32_t)n + 4, &k, &l), PKT_ERR_VLAN_DEPTH);
}

static void test_arp_parses_and_bad_formats_are_refused(void **state)
{
    (void)state;
    uint8_t f[64], zero[6] = {0}, bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    struct flow_key k;
    struct pkt_layout l;
    int n = pkt_build_arp(f, sizeof(f), bcast, MAC_A, 1, MAC_A, 0x0a000001, zero, 0x0a0000fe);

    assert_int_equal(n, 42);
    assert_int_equal(parse_exact(f, (uint32_t)n, &k, &l), PKT_OK);
    assert_int_equal(k.nw_proto, 1);
    assert_int_equal(ntohl(k.nw.v4.src), 0x0a000001);
    assert_int_equal(ntohl(k.nw.v4.dst), 0x0a0000fe);
    assert_memory_equal(k.nw.v4.arp_sha, MAC_A, 6);
    f[14 + 4] = 8;   /* hardware length 8 */
    assert_int_equal(parse_exact(f, (uint32_t)n, &k, &l), PKT_ERR_ARP_FORMAT);
    assert_int_equal(parse_exact(f, 30, &k, &l), PKT_ERR_TRUNC_ARP);
}

static void test_ipv6_with_extension_headers_and_loops_refused(void **state)
{
    (void)state;
    uint8_t f[200] = {0};
    struct flow_key k;
    struct pkt_layout l;

    memcpy(f, MAC_B, 6);
    memcpy(f + 6, MAC_A, 6);
    f[12] = 0x86; f[13] = 0xdd;
    f[14] = 0x60;
    f[14 + 4] = 0; f[14 + 5] = 8 + 8 + 8;   /* hop-by-hop (8) + dest-opts (8) + UDP (8) */
    f[14 + 6] = 0;                           /* next: hop-by-hop */
    f[14 + 7] = 33;
    f[14 + 8] = 0x20; f[14 + 23] = 1;        /* src 2000::1 */
    f[14 + 24] = 0x20; f[14 + 39] = 2;
    uint32_t o = 54;
    f[o] = 60; f[o + 1] = 0;                 /* hop-by-hop -> dest opts, 8 bytes */
    f[o + 8] = 17; f[o + 9] = 0;             /* dest opts -> UDP */
    f[o + 16] = 0x13; f[o + 17] = 0x88; f[o + 18] = 0; f[o + 19] = 53; f[o + 21] = 8;
    assert_int_equal(parse_exact(f, o + 24, &k, &l), PKT_OK);
    assert_true(k.flags & FLOW_F_IPV6);
    assert_int_equal(k.nw_proto, 17);
    assert_int_equal(k.nw_ttl, 33);
    assert_int_equal(ntohs(k.tp_src), 5000);
    assert_int_equal(ntohs(k.tp_dst), 53);
    assert_int_equal(k.nw.v6.src[15], 1);
    /* An extension header claiming more than there is. */
    f[o + 1] = 20;
    assert_int_equal(parse_exact(f, o + 24, &k, &l), PKT_ERR_IPV6_EXTHDR);
    /* Nine chained headers: more than we follow. */
    uint8_t g[400] = {0};
    memcpy(g, f, 54);
    g[14 + 4] = 0; g[14 + 5] = 80;
    for (int i = 0; i < 10; i++) {
        g[54 + i * 8] = 60;
        g[54 + i * 8 + 1] = 0;
    }
    assert_int_equal(parse_exact(g, 54 + 80, &k, &l), PKT_ERR_IPV6_EXTHDR);
}

static void test_vxlan_flags_must_be_exactly_the_vni_bit(void **state)
{
    (void)state;
    uint8_t p[64] = {0};
    uint32_t vni = 0, ofs = 0;

    pkt_build_vxlan(p, 0x123456);
    assert_int_equal(pkt_vxlan_decap(p, sizeof(p), &vni, &ofs), PKT_OK);
    assert_int_equal(vni, 0x123456);
    assert_int_equal(ofs, 8);
    p[0] = 0x0c;
    assert_int_equal(pkt_vxlan_decap(p, sizeof(p), &vni, &ofs), PKT_ERR_VXLAN_FLAGS);
    p[0] = 0x08;
    p[7] = 1;
    assert_int_equal(pkt_vxlan_decap(p, sizeof(p), &vni, &ofs), PKT_ERR_VXLAN_FLAGS);
    p[7] = 0;
    p[0] = 0;
    assert_int_equal(pkt_vxlan_decap(p, sizeof(p), &vni, &ofs), PKT_ERR_VXLAN_FLAGS);
    assert_int_equal(pkt_vxlan_decap(p, 10, &vni, &ofs), PKT_ERR_TRUNC_VXLAN);
}

static void test_equal_fields_give_memcmp_equal_keys(void **state)
{
    (void)state;
    uint8_t f[256], g[256];
    struct flow_key k1, k2;
    struct pkt_layout l;
    struct pkt_spec s = spec(IP_PROTO_TCP);
    int n = pkt_build_ipv4(f, sizeof(f), &s);

    s.tcp_flags = TCP_ACK;          /* flags and payload are not key fields */
    s.payload = (const uint8_t *)"hello";
    s.payload_len = 5;
    int m = pkt_build_ipv4(g, sizeof(g), &s);
    memset(&k1, 0xaa, sizeof(k1));
    memset(&k2, 0x55, sizeof(k2));
    assert_int_equal(flow_key_extract(f, (uint32_t)n, 3, &k1, &l), PKT_OK);
    assert_int_equal(flow_key_extract(g, (uint32_t)m, 3, &k2, &l), PKT_OK);
    assert_memory_equal(&k1, &k2, sizeof(k1));
}

static void test_built_frames_carry_valid_checksums(void **state)
{
    (void)state;
    uint8_t f[256];
    uint8_t protos[] = {IP_PROTO_TCP, IP_PROTO_UDP, IP_PROTO_ICMP};
    for (int i = 0; i < 3; i++) {
        struct pkt_spec s = spec(protos[i]);
        int n = pkt_build_ipv4(f, sizeof(f), &s);
        struct flow_key k;
        struct pkt_layout l;
        assert_int_equal(flow_key_extract(f, (uint32_t)n, 0, &k, &l), PKT_OK);
        assert_int_equal(csum_partial(f + 14, 20, 0), 0xffff);
        uint32_t sum = protos[i] == IP_PROTO_ICMP ? 0 : csum_pseudo_ipv4(k.nw.v4.src, k.nw.v4.dst, protos[i], l.l4_len);
        assert_int_equal(csum_fold(csum_partial(f + l.l4_ofs, l.l4_len, sum)), 0);
    }
    struct pkt_spec s = spec(IP_PROTO_TCP);
    assert_int_equal(pkt_build_ipv4(f, 20, &s), -ENOSPC);
    s.proto = 99;
    assert_int_equal(pkt_build_ipv4(f, sizeof(f), &s), -EINVAL);
}

static void test_pool_hands_out_each_buffer_once_with_headroom(void **state)
{
    (void)state;
    struct pkt_pool *p;
    struct pkt_buf *b[4];
    assert_int_equal(pkt_pool_create(&p, 4), 0);
    for (int i = 0; i < 4; i++) {
        b[i] = pkt_pool_get(p);
        assert_non_null(b[i]);
        assert_int_equal(pkt_headroom(b[i]), PKT_HEADROOM);
    }
    assert_null(pkt_pool_get(p));
    b[0]->len = 60;
    assert_non_null(pkt_push(b[0], 50));
    assert_int_equal(b[0]->len, 110);
    assert_null(pkt_push(b[0], PKT_HEADROOM));
    assert_non_null(pkt_pull(b[0], 50));
    pkt_pool_put(p, b[2]);
    assert_int_equal(pkt_pool_available(p), 1);
    assert_ptr_equal(pkt_pool_get(p), b[2]);
    pkt_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_ipv4_frame_parses_into_key_and_layout),
        cmocka_unit_test(test_udp_and_icmp_echo_fill_ports_and_identifier),
        cmocka_unit_test(test_icmp_error_exposes_the_embedded_header),
        cmocka_unit_test(test_truncation_at_every_byte_is_refused_cleanly),
        cmocka_unit_test(test_bad_ipv4_headers_are_refused_with_their_reason),
        cmocka_unit_test(test_udp_length_that_lies_is_refused),
        cmocka_unit_test(test_ipv4_options_are_skipped_and_padding_ignored),
        cmocka_unit_test(test_fragments_first_keeps_ports_later_has_none),
        cmocka_unit_test(test_vlan_and_qinq_parse_and_a_third_tag_is_refused),
        cmocka_unit_test(test_arp_parses_and_bad_formats_are_refused),
        cmocka_unit_test(test_ipv6_with_extension_headers_and_loops_refused),
        cmocka_unit_test(test_vxlan_flags_must_be_exactly_the_vni_bit),
        cmocka_unit_test(test_equal_fields_give_memcmp_equal_keys),
        cmocka_unit_test(test_built_frames_carry_valid_checksums),
        cmocka_unit_test(test_pool_hands_out_each_buffer_once_with_headroom),
    };
    return cmocka_run_group_tests_name("packet", tests, NULL, NULL);
}
