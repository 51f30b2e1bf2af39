/*
 * The agent's slow path between frames and simulator packets: a frame
 * parsed into a struct sim_pkt keeps every field the simulator reads; a
 * forwarded frame carries the output's header fields with checksums that
 * verify in full; generated answers (echo reply, ICMP error quoting a
 * packet translated back, ARP reply) are whole, valid frames.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/agent_impl.h"
#include "lib/csum.h"

#include <arpa/inet.h>
#include <string.h>

static const uint8_t mac_a[6] = {2, 0, 0, 0, 0, 0xa}, mac_b[6] = {2, 0, 0, 0, 0, 0xb};
static const uint8_t mac_c[6] = {2, 0, 0, 0, 0, 0xc}, mac_d[6] = {2, 0, 0, 0, 0, 0xd};

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static int build(uint8_t *buf, uint8_t proto, uint8_t icmp_type, const uint8_t *payload, uint16_t plen)
{
    struct pkt_spec s = {.ip_src = IP(10, 1, 0, 11), .ip_dst = IP(203, 0, 113, 7), .proto = proto, .ttl = 64,
                         .sport = 40000, .dport = 80, .tcp_flags = TCP_SYN, .icmp_type = icmp_type,
                         .icmp_id = 77, .icmp_seq = 5, .payload = payload, .payload_len = plen};
    memcpy(s.eth_src, mac_a, 6);
    memcpy(s.eth_dst, mac_b, 6);
    int n = pkt_build_ipv4(buf, 2048, &s);
    assert_true(n > 0);
    return n;
}

static void parse(const uint8_t *f, int n, struct flow_key *k, struct pkt_layout *l, struct sim_pkt *p)
{
    assert_int_equal(flow_key_extract(f, (uint32_t)n, 3, k, l), PKT_OK);
    assert_int_equal(agent_pkt_from_frame(f, (uint32_t)n, k, l, p), 0);
}

/* Checksums of an IPv4 frame verify when summed in full. */
static void assert_checksums_verify(const uint8_t *f, int n)
{
    struct flow_key k;
    struct pkt_layout l;
    assert_int_equal(flow_key_extract(f, (uint32_t)n, 0, &k, &l), PKT_OK);
    const struct ipv4_hdr *ip = (const struct ipv4_hdr *)(f + l.l3_ofs);
    assert_int_equal(csum_fold(csum_partial(ip, (size_t)(ip->ver_ihl & 15) * 4, 0)), 0);
    uint16_t l4len = (uint16_t)(l.l3_ofs + l.l3_len - l.l4_ofs);
    if (l.ip_proto == IP_PROTO_ICMP)
        assert_int_equal(csum_fold(csum_partial(f + l.l4_ofs, l4len, 0)), 0);
    else
        assert_int_equal(csum_fold(csum_partial(f + l.l4_ofs, l4len,
                                                csum_pseudo_ipv4(ip->src, ip->dst, l.ip_proto, l4len))),
                         0);
}

static void test_tcp_frame_becomes_a_sim_packet_with_every_field(void **state)
{
    (void)state;
    uint8_t f[2048];
    struct flow_key k;
    struct pkt_layout l;
    struct sim_pkt p;
    int n = build(f, IP_PROTO_TCP, 0, NULL, 0);

    parse(f, n, &k, &l, &p);
    assert_memory_equal(p.eth_src, mac_a, 6);
    assert_memory_equal(p.eth_dst, mac_b, 6);
    assert_int_equal(p.eth_type, 0x0800);
    assert_int_equal(p.ip_src, IP(10, 1, 0, 11));
    assert_int_equal(p.ip_dst, IP(203, 0, 113, 7));
    assert_int_equal(p.proto, IP_PROTO_TCP);
    assert_int_equal(p.ttl, 64);
    assert_int_equal(p.src_port, 40000);
    assert_int_equal(p.dst_port, 80);
    assert_int_equal(p.tcp_flags, TCP_SYN);
    assert_false(p.has_embedded);
}

static void test_forwarded_frame_carries_the_output_fields_with_valid_checksums(void **state)
{
    (void)state;
    uint8_t f[2048], out[2048];
    struct flow_key k;
    struct pkt_layout l;
    struct sim_pkt p, q;
    int n = build(f, IP_PROTO_TCP, 0, (const uint8_t *)"payload bytes", 13);

    parse(f, n, &k, &l, &p);
    /* as SNAT and a router hop leave it */
    p.ip_src = IP(100, 64, 10, 2);
    p.src_port = 1025;
    p.ttl = 62;
    memcpy(p.eth_src, mac_c, 6);
    memcpy(p.eth_dst, mac_d, 6);
    int m = agent_frame_forwarded(f, (uint32_t)n, &l, &p, out, sizeof(out));
    assert_int_equal(m, n);
    assert_checksums_verify(out, m);
    parse(out, m, &k, &l, &q);
    assert_int_equal(q.ip_src, IP(100, 64, 10, 2));
    assert_int_equal(q.src_port, 1025);
    assert_int_equal(q.ttl, 62);
    assert_memory_equal(q.eth_src, mac_c, 6);
    assert_memory_equal(q.eth_dst, mac_d, 6);
    assert_memory_equal(out + m - 13, "payload bytes", 13);
}

static void test_udp_without_checksum_stays_without(void **state)
{
    (void)state;
    uint8_t f[2048], out[2048];
    struct flow_key k;
    struct pkt_layout l;
    struct sim_pkt p;
    int n = build(f, IP_PROTO_UDP, 0, NULL, 0);

    ((struct udp_hdr *)(f + 34))->csum = 0;
    parse(f, n, &k, &l, &p);
    p.src_port = 2000;
    assert_int_equal(agent_frame_forwarded(f, (uint32_t)n, &l, &p, out, sizeof(out)), n);
    assert_int_equal(((struct udp_hdr *)(out + 34))->csum, 0);
    assert_int_equal(ntohs(((struct udp_hdr *)(out + 34))->sport), 2000);
}

static void test_echo_reply_carries_the_request_id_sequence_and_data(void **state)
{
    (void)state;
    uint8_t f[2048], out[2048];
    struct flow_key k;
    struct pkt_layout l;
    struct sim_pkt p, r;
    int n = build(f, IP_PROTO_ICMP, ICMP_ECHO, (const uint8_t *)"ping data 123", 13);

    parse(f, n, &k, &l, &p);
    assert_int_equal(p.icmp_type, ICMP_ECHO);
    assert_int_equal(p.icmp_id, 77);
    r = p;   /* what a router answering its own address generates */
    r.ip_src = p.ip_dst;
    r.ip_dst = p.ip_src;
    r.icmp_type = ICMP_ECHO_REPLY;
    memcpy(r.eth_src, mac_b, 6);
    memcpy(r.eth_dst, mac_a, 6);
    int m = agent_frame_generated(f, (uint32_t)n, &l, &r, out, sizeof(out));
    assert_true(m > 0);
    assert_checksums_verify(out, m);
    const struct icmp_hdr *ic = (const struct icmp_hdr *)(out + 34);
    assert_int_equal(ic->type, ICMP_ECHO_REPLY);
    assert_int_equal(ntohs(ic->id), 77);
    assert_int_equal(ntohs(ic->seq), 5);
    assert_memory_equal(out + 42, "ping data 123", 13);
}

static void test_icmp_error_quotes_the_packet_as_translated_back(void **state)
{
    (void)state;
    uint8_t f[2048], out[2048];
    struct flow_key k;
    struct pkt_layout l;
    struct sim_pkt p, e, q;
    int n = build(f, IP_PROTO_UDP, 0, NULL, 0);

    parse(f, n, &k, &l, &p);
    memset(&e, 0, sizeof(e));   /* time exceeded, quoting the original source */
    memcpy(e.eth_src, mac_b, 6);
    memcpy(e.eth_dst, mac_a, 6);
    e.eth_type = 0x0800;
    e.ip_src = IP(10, 1, 0, 1);
    e.ip_dst = IP(10, 1, 0, 11);
    e.proto = IP_PROTO_ICMP;
    e.ttl = 64;
    e.icmp_type = ICMP_TIME_EXCEEDED;
    e.has_embedded = true;
    e.embedded.ip_src = IP(10, 1, 0, 11);
    e.embedded.ip_dst = IP(203, 0, 113, 7);
    e.embedded.proto = IP_PROTO_UDP;
    e.embedded.src_port = 40000;
    e.embedded.dst_port = 80;
    int m = agent_frame_generated(f, (uint32_t)n, &l, &e, out, sizeof(out));
    assert_true(m > 0);
    assert_checksums_verify(out, m);
    parse(out, m, &k, &l, &q);
    assert_int_equal(q.icmp_type, ICMP_TIME_EXCEEDED);
    assert_true(q.has_embedded);
    assert_int_equal(q.embedded.ip_src, IP(10, 1, 0, 11));
    assert_int_equal(q.embedded.src_port, 40000);
    assert_int_equal(q.embedded.dst_port, 80);
    /* the quoted IP header's own checksum is valid too */
    assert_int_equal(csum_fold(csum_partial(out + l.inner_l3_ofs, 20, 0)), 0);
}

static void test_arp_reply_is_built_from_the_answer(void **state)
{
    (void)state;
    uint8_t out[128];
    struct sim_pkt a;
    struct pkt_layout l = {0};
    struct flow_key k;

    memset(&a, 0, sizeof(a));
    a.eth_type = 0x0806;
    a.arp_op = 2;
    memcpy(a.eth_src, mac_b, 6);
    memcpy(a.eth_dst, mac_a, 6);
    memcpy(a.arp_sha, mac_b, 6);
    memcpy(a.arp_tha, mac_a, 6);
    a.arp_spa = IP(10, 1, 0, 1);
    a.arp_tpa = IP(10, 1, 0, 11);
    int m = agent_frame_generated(NULL, 0, &l, &a, out, sizeof(out));
    assert_true(m >= 42);
    assert_int_equal(flow_key_extract(out, (uint32_t)m, 0, &k, &l), PKT_OK);
    assert_int_equal(k.nw_proto, 2);
    assert_int_equal(ntohl(k.nw.v4.src), IP(10, 1, 0, 1));
    assert_memory_equal(k.nw.v4.arp_sha, mac_b, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_frame_becomes_a_sim_packet_with_every_field),
        cmocka_unit_test(test_forwarded_frame_carries_the_output_fields_with_valid_checksums),
        cmocka_unit_test(test_udp_without_checksum_stays_without),
        cmocka_unit_test(test_echo_reply_carries_the_request_id_sequence_and_data),
        cmocka_unit_test(test_icmp_error_quotes_the_packet_as_translated_back),
        cmocka_unit_test(test_arp_reply_is_built_from_the_answer),
    };
    return cmocka_run_group_tests_name("agent frames", tests, NULL, NULL);
}
