/* Flow actions: compiled from simulator results, executed on packets. A
 * rewritten packet must be byte-identical to one built from scratch with
 * the translated fields (full checksums); VXLAN push and pop must round
 * trip; every packet not sent is counted under its reason. */
#include "datapath/dp_actions.h"
#include "datapath/dp_flow.h"
#include "lib/csum.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define N_PORTS 8
#define POOL_BUFS (DP_TXQ_SIZE + 16)
#define TUNNEL_PORT 7
#define LOCAL_TUN_IP 0xc0a80001u
#define REMOTE_TUN_IP 0xc0a80002u

static const uint8_t LOCAL_MAC[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t NEXTHOP_MAC[6] = {0x02, 0, 0, 0, 0, 0x02};

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

/* A test fixture: pool, executor, and the packets the flush saw. */
struct fx {
    struct pkt_pool *pool;
    struct dp_exec *x;
    uint8_t sent[16][PKT_BUF_SIZE];
    uint16_t sent_len[16];
    uint32_t sent_port[16];
    uint32_t n_sent;
    uint32_t accept;    /* how many per call the fake backend takes */
};

static uint32_t capture_tx(void *arg, uint32_t port, struct pkt_buf **bufs, uint32_t n)
{
    struct fx *f = arg;
    uint32_t take = n < f->accept ? n : f->accept;

    for (uint32_t i = 0; i < take && f->n_sent < 16; i++) {
        memcpy(f->sent[f->n_sent], bufs[i]->data, bufs[i]->len);
        f->sent_len[f->n_sent] = bufs[i]->len;
        f->sent_port[f->n_sent++] = port;
    }
    return take;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct dp_exec_config cfg = {.n_ports = N_PORTS, .tunnel_port = TUNNEL_PORT,
                                 .local_tunnel_ip = htonl(LOCAL_TUN_IP)};

    if (!f || pkt_pool_create(&f->pool, POOL_BUFS))
        return -1;
    memcpy(cfg.local_mac, LOCAL_MAC, 6);
    memcpy(cfg.nexthop_mac, NEXTHOP_MAC, 6);
    cfg.pool = f->pool;
    if (dp_exec_create(&f->x, &cfg))
        return -1;
    f->accept = 64;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    dp_exec_destroy(f->x);
    assert_int_equal(pkt_pool_available(f->pool), POOL_BUFS);  /* no buffer leaked */
    pkt_pool_destroy(f->pool);
    free(f);
    return 0;
}

/* Port ids whose first byte is below 0x80 are local, numbered by it. */
static int local_port(void *arg, const struct sim_output *o, uint32_t *port_no)
{
    (void)arg;
    if (o->port_id.b[0] >= 0x80)
        return -ENOENT;
    *port_no = o->port_id.b[0];
    return 0;
}

static const struct dp_compile_env ENV = {.local_port = local_port};

static struct pkt_spec base_spec(uint8_t proto)
{
    static uint8_t payload[37];
    struct pkt_spec s = {
        .eth_src = {0x52, 0x54, 0, 0, 0, 0x05}, .eth_dst = {0x52, 0x54, 0, 0, 0, 0xfe},
        .ip_src = 0x0a000005, .ip_dst = 0x08080808, .proto = proto, .ttl = 64, .tos = 0x10,
        .sport = 40000, .dport = 80, .tcp_flags = TCP_ACK, .icmp_type = ICMP_ECHO, .icmp_id = 777, .icmp_seq = 3,
        .payload = payload, .payload_len = sizeof(payload),
    };

    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7 + 1);
    return s;
}

static struct sim_pkt sim_pkt_of(const struct pkt_spec *s)
{
    struct sim_pkt p;

    memset(&p, 0, sizeof(p));
    memcpy(p.eth_src, s->eth_src, 6);
    memcpy(p.eth_dst, s->eth_dst, 6);
    p.eth_type = ETH_TYPE_IPV4;
    p.ip_src = s->ip_src;
    p.ip_dst = s->ip_dst;
    p.proto = s->proto;
    p.ttl = s->ttl;
    p.tos = s->tos;
    p.src_port = s->sport;
    p.dst_port = s->dport;
    p.icmp_type = s->icmp_type;
    p.icmp_id = s->icmp_id;
    return p;
}

/* A result with one output per (spec, port byte) pair. */
struct res {
    struct sim_result r;
    struct sim_output outs[4];
};

static void res_forward(struct res *rs, uint32_t n, const struct pkt_spec *specs, const uint8_t *port_bytes)
{
    memset(rs, 0, sizeof(*rs));
    rs->r.verdict = SIM_FORWARD;
    rs->r.outputs = rs->outs;
    rs->r.n_outputs = n;
    for (uint32_t i = 0; i < n; i++) {
        rs->outs[i].port_id.b[0] = port_bytes[i];
        rs->outs[i].host_tunnel_ip = REMOTE_TUN_IP;
        rs->outs[i].tunnel_key = 0x123456 + i;
        rs->outs[i].pkt = sim_pkt_of(&specs[i]);
    }
}

static struct pkt_buf *packet(struct fx *f, const struct pkt_spec *s, uint32_t in_port, struct flow_key *key)
{
    struct pkt_buf *b = pkt_pool_get(f->pool);
    struct pkt_layout lo;
    int n;

    assert_non_null(b);
    n = pkt_build_ipv4(b->data, PKT_BUF_SIZE - PKT_HEADROOM, s);
    assert_true(n > 0);
    b->len = (uint16_t)n;
    b->in_port = in_port;
    assert_int_equal(flow_key_extract(b->data, b->len, in_port, key, &lo), PKT_OK);
    return b;
}

/* Full recomputation: the IPv4 header sums to 0xffff, and the L4 checksum
 * recomputed over the segment equals the stored one. */
static void assert_checksums_valid(const uint8_t *frame, uint16_t len)
{
    struct flow_key k;
    struct pkt_layout lo;
    uint8_t l4[PKT_BUF_SIZE];

    assert_int_equal(flow_key_extract(frame, len, 0, &k, &lo), PKT_OK);
    assert_int_equal(csum_partial(frame + lo.l3_ofs, lo.l4_ofs - lo.l3_ofs, 0) % 0xffff, 0);
    memcpy(l4, frame + lo.l4_ofs, lo.l4_len);
    if (k.nw_proto == IP_PROTO_TCP || k.nw_proto == IP_PROTO_UDP) {
        size_t co = k.nw_proto == IP_PROTO_TCP ? 16 : 6;
        rp_be16 stored;
        memcpy(&stored, l4 + co, 2);
        if (k.nw_proto == IP_PROTO_UDP && stored == 0)
            return;
        memset(l4 + co, 0, 2);
        assert_int_equal(csum_tcpudp_ipv4(k.nw.v4.src, k.nw.v4.dst, k.nw_proto, l4, lo.l4_len), stored);
    } else {
        assert_int_equal(csum_partial(l4, lo.l4_len, 0) % 0xffff, 0);
    }
}

static void snat_round(struct fx *f, uint8_t proto, bool udp_no_csum)
{
    struct pkt_spec in = base_spec(proto), outs = in;
    uint8_t want[PKT_BUF_SIZE];
    struct flow_key key;
    struct dp_actions a;
    struct res rs;
    uint8_t port = 3;
    struct pkt_buf *b;
    int wn;

    in.udp_no_csum = outs.udp_no_csum = udp_no_csum;
    in.ip_src = rnd();
    in.sport = (uint16_t)rnd();
    in.icmp_id = (uint16_t)rnd();
    outs = in;
    /* Router hop with SNAT: new MACs, source address and port, TTL - 1. */
    outs.ip_src = rnd();
    outs.sport = (uint16_t)rnd();
    outs.icmp_id = (uint16_t)rnd();
    outs.ttl = (uint8_t)(in.ttl - 1);
    outs.eth_src[5] = 0xaa;
    outs.eth_dst[5] = 0xbb;
    res_forward(&rs, 1, &outs, &port);
    b = packet(f, &in, 1, &key);
    assert_int_equal(dp_actions_compile(&key, &rs.r, &ENV, &a), 0);
    assert_int_equal(a.verdict, DP_ACT_FORWARD);
    assert_int_equal(a.out[0].port, 3);
    assert_true(a.out[0].set & DP_SET_TTL);
    assert_int_equal(dp_actions_execute_one(f->x, b, &a), 1);
    f->n_sent = 0;
    assert_int_equal(dp_exec_flush(f->x, capture_tx, f), 1);
    wn = pkt_build_ipv4(want, sizeof(want), &outs);
    assert_int_equal(f->sent_len[0], wn);
    assert_int_equal(f->sent_port[0], 3);
    assert_memory_equal(f->sent[0], want, (size_t)wn);
    assert_checksums_valid(f->sent[0], f->sent_len[0]);
}

static void test_snat_tcp_rewrite_equals_a_packet_built_with_full_checksums(void **state)
{
    for (int i = 0; i < 500; i++)
        snat_round(*state, IP_PROTO_TCP, false);
}

static void test_snat_udp_rewrite_equals_a_packet_built_with_full_checksums(void **state)
{
    for (int i = 0; i < 500; i++)
        snat_round(*state, IP_PROTO_UDP, false);
}

static void test_udp_checksum_zero_stays_zero_after_rewrite(void **state)
{
    struct fx *f = *state;

    for (int i = 0; i < 100; i++) {
        snat_round(f, IP_PROTO_UDP, true);
        assert_int_equal(f->sent[0][14 + 20 + 6], 0);
        assert_int_equal(f->sent[0][14 + 20 + 7], 0);
    }
}

static void test_icmp_echo_identifier_rewrite_equals_built_packet(void **state)
{
    for (int i = 0; i < 500; i++)
        snat_round(*state, IP_PROTO_ICMP, false);
}

static void test_ttl_becomes_the_output_ttl_and_header_checksum_verifies(void **state)
{
    struct fx *f = *state;
    struct pkt_spec in = base_spec(IP_PROTO_TCP), out = in;
    struct flow_key key;
    struct dp_actions a;
    struct res rs;
    uint8_t port = 2;

    out.ttl = 1;
    in.ttl = 2;
    res_forward(&rs, 1, &out, &port);
    struct pkt_buf *b = packet(f, &in, 0, &key);
    assert_int_equal(dp_actions_compile(&key, &rs.r, &ENV, &a), 0);
    assert_int_equal(a.out[0].set, DP_SET_TTL);
    assert_int_equal(dp_actions_execute_one(f->x, b, &a), 1);
    f->n_sent = 0;
    assert_int_equal(dp_exec_flush(f->x, capture_tx, f), 1);
    assert_int_equal(f->sent[0][14 + 8], 1);
    assert_checksums_valid(f->sent[0], f->sent_len[0]);
}

static void test_vxlan_push_then_pop_gives_back_the_rewritten_frame(void **state)
{
    struct fx *f = *state;
    struct pkt_spec in = base_spec(IP_PROTO_UDP), out = in;
    uint8_t want[PKT_BUF_SIZE];
    struct flow_key key, outer;
    struct pkt_layout lo;
    struct dp_actions a;
    struct res rs;
    uint8_t port = 0x90;    /* remote */
    uint32_t vni = 0;
    int wn;

    out.ip_dst = 0x0a000909;    /* DNAT on the way */
    out.dport = 8080;
    res_forward(&rs, 1, &out, &port);
    struct pkt_buf *b = packet(f, &in, 1, &key);
    assert_int_equal(dp_actions_compile(&key, &rs.r, &ENV, &a), 0);
    assert_true(a.out[0].set & DP_OUT_VXLAN);
    assert_int_equal(dp_actions_execute_one(f->x, b, &a), 1);
    f->n_sent = 0;
    assert_int_equal(dp_exec_flush(f->x, capture_tx, f), 1);
    assert_int_equal(f->sent_port[0], TUNNEL_PORT);
    wn = pkt_build_ipv4(want, sizeof(want), &out);
    assert_int_equal(f->sent_len[0], wn + 50);

    /* The outer headers: to the remote host, from us, UDP 4789, checksums. */
    assert_int_equal(flow_key_extract(f->sent[0], f->sent_len[0], 9, &outer, &lo), PKT_OK);
    assert_memory_equal(outer.eth_dst, NEXTHOP_MAC, 6);
    assert_memory_equal(outer.eth_src, LOCAL_MAC, 6);
    assert_int_equal(ntohl(outer.nw.v4.src), LOCAL_TUN_IP);
    assert_int_equal(ntohl(outer.nw.v4.dst), REMOTE_TUN_IP);
    assert_int_equal(ntohs(outer.tp_dst), VXLAN_PORT);
    assert_true(ntohs(outer.tp_src) >= 0xc000);
    assert_int_equal(lo.l3_len, wn + 36);
    assert_checksums_valid(f->sent[0], f->sent_len[0]);

    /* Pop on the receiving side. */
    struct pkt_buf *rx = pkt_pool_get(f->pool);
    memcpy(rx->data, f->sent[0], f->sent_len[0]);
    rx->len = f->sent_len[0];
    assert_int_equal(dp_vxlan_pop(rx, &vni), DP_DROP_NONE);
    assert_int_equal(vni, 0x123456);
    assert_int_equal(rx->len, wn);
    assert_memory_equal(rx->data, want, (size_t)wn);
    pkt_pool_put(f->pool, rx);
}

static void test_vxlan_pop_refuses_other_frames_and_leaves_them_unchanged(void **state)
{
    struct fx *f = *state;
    struct pkt_spec s = base_spec(IP_PROTO_UDP);
    struct flow_key key;
    uint32_t vni;

    struct pkt_buf *b = packet(f, &s, 1, &key);
    uint8_t *data = b->data;
    uint16_t len = b->len;
    assert_int_equal(dp_vxlan_pop(b, &vni), DP_DROP_NOT_VXLAN);
    assert_ptr_equal(b->data, data);
    assert_int_equal(b->len, len);
    /* UDP to 4789 whose VXLAN flags are wrong. */
    s.dport = VXLAN_PORT;
    pkt_pool_put(f->pool, b);
    b = packet(f, &s, 1, &key);
    assert_int_equal(dp_vxlan_pop(b, &vni), DP_DROP_VXLAN_BAD);
    assert_int_equal(b->len, len);
    pkt_pool_put(f->pool, b);
}

static void test_flood_clones_packet_with_each_outputs_rewrite(void **state)
{
    struct fx *f = *state;
    struct pkt_spec in = base_spec(IP_PROTO_TCP), outs[2] = {in, in};
    uint8_t ports[2] = {4, 5}, want[PKT_BUF_SIZE];
    struct flow_key key;
    struct dp_actions a;
    struct res rs;

    outs[0].eth_dst[0] = 0x0a;
    outs[1].eth_dst[0] = 0x0b;
    res_forward(&rs, 2, outs, ports);
    struct pkt_buf *b = packet(f, &in, 1, &key);
    assert_int_equal(dp_actions_compile(&key, &rs.r, &ENV, &a), 0);
    assert_int_equal(a.n_out, 2);
    assert_int_equal(dp_actions_execute_one(f->x, b, &a), 2);
    f->n_sent = 0;
    assert_int_equal(dp_exec_flush(f->x, capture_tx, f), 2);
    for (uint32_t i = 0; i < 2; i++) {
        uint32_t which = f->sent_port[i] - 4;
        int wn = pkt_build_ipv4(want, sizeof(want), &outs[which]);
        assert_true(which < 2);
        assert_memory_equal(f->sent[i], want, (size_t)wn);
    }
    assert_int_not_equal(f->sent_port[0], f->sent_port[1]);
}

static void test_flood_without_a_free_buffer_counts_clone_drop(void **state)
{
    struct fx *f = *state;
    struct pkt_spec in = base_spec(IP_PROTO_TCP), outs[2] = {in, in};
    uint8_t ports[2] = {4, 5};
    struct pkt_buf *hold[POOL_BUFS];
    uint32_t n_hold = 0;
    struct flow_key key;
    struct dp_actions a;
    struct res rs;

    res_forward(&rs, 2, outs, ports);
    struct pkt_buf *b = packet(f, &in, 1, &key);
    while ((hold[n_hold] = pkt_pool_get(f->pool)) != NULL)
        n_hold++;
    assert_int_equal(dp_actions_compile(&key, &rs.r, &ENV, &a), 0);
    assert_int_equal(dp_actions_execute_one(f->x, b, &a), 1);
    assert_int_equal(dp_exec_port_stats(f->x, 1)->drops[DP_DROP_CLONE_NO_BUF], 1);
    while (n_hold)
        pkt_pool_put(f->pool, hold[--n_hold]);
    assert_int_equal(dp_exec_flush(f->x, capture_tx, f), 1);
}

static void test_drops_are_counted_under_their_reason_on_the_input_port(void **state)
{
    struct fx *f = *state;
    struct pkt_spec in = base_spec(IP_PROTO_TCP);
    struct sim_result r;
    struct flow_key key;
    struct dp_actions a;
    const char *reasons[] = {"rule drop", "snat ports exhausted", "no route", "something new"};
    enum dp_drop want[] = {DP_DROP_RULE_DROP, DP_DROP_SNAT_EXHAUSTED, DP_DROP_NO_ROUTE, DP_DROP_SIM_OTHER};

    memset(&r, 0, sizeof(r));
    for (int i = 0; i < 4; i++) {
        r.verdict = SIM_DROP;
        r.drop_reason = reasons[i];
        struct pkt_buf *b = packet(f, &in, 2, &key);
        assert_int_equal(dp_actions_compile(&key, &r, &ENV, &a), 0);
        assert_int_equal(dp_actions_execute_one(f->x, b, &a), 0);
        assert_int_equal(dp_exec_port_stats(f->x, 2)->drops[want[i]], 1);
    }
    r.verdict = SIM_CONSUME;
    r.drop_reason = NULL;
    struct pkt_buf *b = packet(f, &in, 2, &key);
    assert_int_equal(dp_actions_compile(&key, &r, &ENV, &a), 0);
    assert_int_equal(dp_actions_execute_one(f->x, b, &a), 0);
    assert_int_equal(dp_exec_port_stats(f->x, 2)->drops[DP_DROP_CONSUMED], 1);
    assert_int_equal(dp_exec_port_stats(f->x, 3)->drops[DP_DROP_RULE_DROP], 0);
    assert_string_equal(dp_drop_name(DP_DROP_SNAT_EXHAUSTED), "snat_ports_exhausted");
}

static void test_remote_output_without_tunnel_ip_drops_with_reason(void **state)
{
    struct fx *f = *state;
    struct pkt_spec in = base_spec(IP_PROTO_TCP);
    uint8_t port = 0x99;
    struct flow_key key;
    struct dp_actions a;
    struct res rs;

    res_forward(&rs, 1, &in, &port);
    rs.outs[0].host_tunnel_ip = 0;
    struct pkt_buf *b = packet(f, &in, 1, &key);
    assert_int_equal(dp_actions_compile(&key, &rs.r, &ENV, &a), 0);
    assert_int_equal(a.verdict, DP_ACT_DROP);
    assert_int_equal(dp_actions_execute_one(f->x, b, &a), 0);
    assert_int_equal(dp_exec_port_stats(f->x, 1)->drops[DP_DROP_NO_TUNNEL_IP], 1);
}

static void test_full_tx_queue_and_refused_tx_are_counted_on_the_output_port(void **state)
{
    struct fx *f = *state;
    struct pkt_spec in = base_spec(IP_PROTO_TCP);
    uint8_t port = 6;
    struct flow_key key;
    struct dp_actions a;
    struct res rs;

    res_forward(&rs, 1, &in, &port);
    for (int i = 0; i < 3; i++) {
        struct pkt_buf *b = packet(f, &in, 1, &key);
        assert_int_equal(dp_actions_compile(&key, &rs.r, &ENV, &a), 0);
        assert_int_equal(dp_actions_execute_one(f->x, b, &a), 1);
    }
    f->accept = 1;
    f->n_sent = 0;
    assert_int_equal(dp_exec_flush(f->x, capture_tx, f), 1);
    assert_int_equal(dp_exec_port_stats(f->x, 6)->tx_packets, 1);
    assert_int_equal(dp_exec_port_stats(f->x, 6)->drops[DP_DROP_TX_FAIL], 2);
    assert_int_equal(pkt_pool_available(f->pool), POOL_BUFS);
    /* One packet more than a queue holds, before a flush. */
    for (int i = 0; i < DP_TXQ_SIZE + 1; i++) {
        struct pkt_buf *b = packet(f, &in, 1, &key);
        assert_int_equal(dp_actions_execute_one(f->x, b, &a), i < DP_TXQ_SIZE ? 1 : 0);
    }
    assert_int_equal(dp_exec_port_stats(f->x, 6)->drops[DP_DROP_TXQ_FULL], 1);
    f->accept = 64;
    f->n_sent = 0;
    assert_int_equal(dp_exec_flush(f->x, capture_tx, f), DP_TXQ_SIZE);
    assert_int_equal(dp_exec_port_stats(f->x, 6)->tx_packets, 1 + DP_TXQ_SIZE);
}

static void test_unsupported_results_are_refused(void **state)
{
    struct fx *f = *state;
    struct pkt_spec in = base_spec(IP_PROTO_TCP), outs[3] = {in, in, in};
    uint8_t ports[3] = {1, 2, 3};
    struct flow_key key;
    struct dp_actions a;
    struct res rs;

    struct pkt_buf *b = packet(f, &in, 1, &key);
    res_forward(&rs, 3, outs, ports);
    assert_int_equal(dp_actions_compile(&key, &rs.r, &ENV, &a), -E2BIG);
    res_forward(&rs, 1, outs, ports);
    rs.r.verdict = SIM_REPLY;
    assert_int_equal(dp_actions_compile(&key, &rs.r, &ENV, &a), -EOPNOTSUPP);
    res_forward(&rs, 1, outs, ports);
    rs.outs[0].pkt.vlan = 100;
    assert_int_equal(dp_actions_compile(&key, &rs.r, &ENV, &a), -EOPNOTSUPP);
    res_forward(&rs, 1, outs, ports);
    rs.outs[0].pkt.tos = 0x20;
    assert_int_equal(dp_actions_compile(&key, &rs.r, &ENV, &a), -EOPNOTSUPP);
    pkt_pool_put(f->pool, b);
}

static void test_icmp_error_through_nat_is_refused_but_plain_forwarding_compiles(void **state)
{
    struct fx *f = *state;
    struct pkt_spec quoted = base_spec(IP_PROTO_UDP), err = base_spec(IP_PROTO_ICMP), out;
    uint8_t q[PKT_BUF_SIZE], port = 2;
    struct flow_key key;
    struct dp_actions a;
    struct res rs;
    int qn;

    quoted.payload_len = 0;
    qn = pkt_build_ipv4(q, sizeof(q), &quoted);
    assert_true(qn >= 14 + 28);
    err.icmp_type = ICMP_DEST_UNREACH;
    err.icmp_code = 3;
    err.payload = q + 14;   /* the quoted IP header and 8 bytes */
    err.payload_len = 28;
    struct pkt_buf *b = packet(f, &err, 1, &key);
    assert_true(key.flags & FLOW_F_ICMP_ERROR);
    /* Through NAT: the quoted packet would need rewriting too. */
    out = err;
    out.ip_dst = 0x0a000063;
    res_forward(&rs, 1, &out, &port);
    assert_int_equal(dp_actions_compile(&key, &rs.r, &ENV, &a), -EOPNOTSUPP);
    /* Routed without NAT: MACs and TTL only, and the result is exact. */
    out = err;
    out.ttl = 63;
    out.eth_dst[0] = 0x0c;
    res_forward(&rs, 1, &out, &port);
    assert_int_equal(dp_actions_compile(&key, &rs.r, &ENV, &a), 0);
    assert_int_equal(a.l4, DP_L4_NONE);
    assert_int_equal(dp_actions_execute_one(f->x, b, &a), 1);
    f->n_sent = 0;
    assert_int_equal(dp_exec_flush(f->x, capture_tx, f), 1);
    uint8_t want[PKT_BUF_SIZE];
    int wn = pkt_build_ipv4(want, sizeof(want), &out);
    assert_int_equal(f->sent_len[0], wn);
    assert_memory_equal(f->sent[0], want, (size_t)wn);
    assert_checksums_valid(f->sent[0], f->sent_len[0]);
}

static void test_truncated_frame_is_dropped_not_overrun(void **state)
{
    struct fx *f = *state;
    struct pkt_spec in = base_spec(IP_PROTO_TCP), out = in;
    uint8_t port = 2;
    struct flow_key key;
    struct dp_actions a;
    struct res rs;

    out.sport = 1;
    res_forward(&rs, 1, &out, &port);
    struct pkt_buf *b = packet(f, &in, 1, &key);
    assert_int_equal(dp_actions_compile(&key, &rs.r, &ENV, &a), 0);
    b->len = 14 + 20 + 10;  /* half a TCP header */
    assert_int_equal(dp_actions_execute_one(f->x, b, &a), 0);
    assert_int_equal(dp_exec_port_stats(f->x, 1)->drops[DP_DROP_TRUNCATED], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snat_tcp_rewrite_equals_a_packet_built_with_full_checksums, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snat_udp_rewrite_equals_a_packet_built_with_full_checksums, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp_checksum_zero_stays_zero_after_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_icmp_echo_identifier_rewrite_equals_built_packet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_becomes_the_output_ttl_and_header_checksum_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vxlan_push_then_pop_gives_back_the_rewritten_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vxlan_pop_refuses_other_frames_and_leaves_them_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flood_clones_packet_with_each_outputs_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flood_without_a_free_buffer_counts_clone_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drops_are_counted_under_their_reason_on_the_input_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_output_without_tunnel_ip_drops_with_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_tx_queue_and_refused_tx_are_counted_on_the_output_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsupported_results_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_icmp_error_through_nat_is_refused_but_plain_forwarding_compiles, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncated_frame_is_dropped_not_overrun, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
