/* The router: ARP and echo answers, ICMP errors, routes (longest prefix,
 * weights, ECMP, blackhole, reject), next-hop resolution (static
 * neighbors, the ARP cache, pending), loops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/sim_engine_test.h"

static void router_world(struct world *w, bool neighbor)
{
    w_init(w, BASE_TOPOLOGY);
    if (neighbor)
        w_add(w, "neighbors", NEIGHBOR_PEER);
}

static struct sim_pkt vm1_to(const char *dst)
{
    return pkt_tcp(MAC_VM1, MAC_T_LAN, "10.1.0.10", 40000, dst, 80);
}

static void test_router_forwards_vm_to_internet_through_two_routers(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("8.8.8.8");
    const struct sim_output *o;

    router_world(&w, true);
    w_load(&w);
    w.r.trace = true;
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_FORWARD);
    assert_int_equal(w.r.n_outputs, 1);
    o = w_out(&w, "uplink");
    assert_non_null(o);
    assert_int_equal(o->pkt.ttl, 62);
    assert_true(mac_is(o->pkt.eth_src, MAC_UPLINK));
    assert_true(mac_is(o->pkt.eth_dst, MAC_PEER));
    assert_int_equal(o->pkt.ip_src, ip("10.1.0.10"));
    assert_int_equal(o->pkt.ip_dst, ip("8.8.8.8"));
    assert_int_equal(o->host_tunnel_ip, ip("172.31.0.1"));
    assert_int_equal(w.r.n_hops, 3);   /* bridge, tenant router, provider */
    assert_true(w.r.hops[1].is_router);
    assert_true(w_note(&w, "route 0.0.0.0/0 via 100.64.0.1"));
    assert_true(w_note(&w, "route 0.0.0.0/0 via 192.0.2.1"));
    w_free(&w);
}

static void test_router_answers_arp_for_its_port_address(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_arp(1, MAC_PEER, "ff:ff:ff:ff:ff:ff", MAC_PEER, "192.0.2.1", "00:00:00:00:00:00",
                               "192.0.2.2");
    const struct sim_output *o;

    router_world(&w, false);
    w_load(&w);
    w.r.trace = true;
    w_sim(&w, "uplink", &p, 10);
    expect_verdict(&w, SIM_REPLY);
    o = w_out(&w, "uplink");
    assert_non_null(o);
    assert_int_equal(o->pkt.arp_op, 2);
    assert_true(mac_is(o->pkt.arp_sha, MAC_UPLINK));
    assert_int_equal(o->pkt.arp_spa, ip("192.0.2.2"));
    assert_true(mac_is(o->pkt.arp_tha, MAC_PEER));
    assert_int_equal(o->pkt.arp_tpa, ip("192.0.2.1"));
    assert_true(mac_is(o->pkt.eth_dst, MAC_PEER));
    assert_true(w_note(&w, "arp reply"));
    w_free(&w);
}

static void test_router_consumes_arp_for_an_address_it_does_not_hold(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_arp(1, MAC_PEER, "ff:ff:ff:ff:ff:ff", MAC_PEER, "192.0.2.1", "00:00:00:00:00:00",
                               "192.0.2.3");

    router_world(&w, false);
    w_load(&w);
    w_sim(&w, "uplink", &p, 10);
    expect_verdict(&w, SIM_CONSUME);
    w_free(&w);
}

static void test_router_answers_echo_to_any_of_its_addresses(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt near = pkt_ping(MAC_VM1, MAC_T_LAN, "10.1.0.10", "10.1.0.1", 77);
    struct sim_pkt far = pkt_ping(MAC_VM1, MAC_T_LAN, "10.1.0.10", "100.64.0.2", 78);
    const struct sim_output *o;

    router_world(&w, false);
    w_load(&w);
    w.r.trace = true;
    w_sim(&w, "vm1", &near, 10);
    expect_verdict(&w, SIM_REPLY);
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.proto, 1);
    assert_int_equal(o->pkt.icmp_type, 0);
    assert_int_equal(o->pkt.icmp_id, 77);
    assert_int_equal(o->pkt.ip_src, ip("10.1.0.1"));
    assert_int_equal(o->pkt.ip_dst, ip("10.1.0.10"));
    assert_true(mac_is(o->pkt.eth_src, MAC_T_LAN));
    assert_true(mac_is(o->pkt.eth_dst, MAC_VM1));
    assert_true(w_note(&w, "echo reply"));

    w_sim(&w, "vm1", &far, 10);
    expect_verdict(&w, SIM_REPLY);
    assert_int_equal(w_out(&w, "vm1")->pkt.ip_src, ip("100.64.0.2"));
    w_free(&w);
}

static void test_router_consumes_other_packets_to_its_addresses(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("10.1.0.1");

    router_world(&w, false);
    w_load(&w);
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_CONSUME);
    w_free(&w);
}

static void test_router_ttl_exceeded_answers_icmp_from_the_ingress_port(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("8.8.8.8");
    const struct sim_output *o;

    router_world(&w, true);
    w_load(&w);
    w.r.trace = true;
    p.ttl = 1;
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_REPLY);
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.icmp_type, 11);
    assert_int_equal(o->pkt.icmp_code, 0);
    assert_int_equal(o->pkt.ip_src, ip("10.1.0.1"));
    assert_int_equal(o->pkt.ip_dst, ip("10.1.0.10"));
    assert_true(o->pkt.has_embedded);
    assert_int_equal(o->pkt.embedded.ip_src, ip("10.1.0.10"));
    assert_int_equal(o->pkt.embedded.ip_dst, ip("8.8.8.8"));
    assert_int_equal(o->pkt.embedded.proto, 6);
    assert_int_equal(o->pkt.embedded.src_port, 40000);
    assert_int_equal(o->pkt.embedded.dst_port, 80);
    assert_true(w_note(&w, "ttl exceeded"));

    /* Two hops on, the provider router answers; the answer is routed back. */
    p.ttl = 2;
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_REPLY);
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.ip_src, ip("100.64.0.1"));
    assert_int_equal(o->pkt.icmp_type, 11);
    assert_int_equal(o->pkt.ttl, 63);   /* generated with 64, one router on the way back */
    w_free(&w);
}

static void test_router_ttl_exceeded_about_an_icmp_error_is_a_plain_drop(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_ip(MAC_VM1, MAC_T_LAN, "10.1.0.10", "8.8.8.8", 1);

    router_world(&w, true);
    w_load(&w);
    p.icmp_type = 3;
    p.ttl = 1;
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "ttl exceeded");
    w_free(&w);
}

static void test_router_without_route_answers_net_unreachable(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("8.8.8.8");
    const struct sim_output *o;

    w_init(&w, BASE_TOPOLOGY);
    json_array_remove(json_object_get(w.doc, "routes"), 0);   /* prov-default */
    w_load(&w);
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_REPLY);
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.icmp_type, 3);
    assert_int_equal(o->pkt.icmp_code, 0);
    assert_int_equal(o->pkt.ip_src, ip("100.64.0.1"));
    /* A later table change at the provider must be able to find this flow. */
    assert_true(w_has_tag_of(&w, SIM_TAG_ROUTER_TABLE, SIM_RES_ROUTER, "prov", 0));

    /* No ICMP about ICMP errors: then it is a drop. */
    p = pkt_ip(MAC_VM1, MAC_T_LAN, "10.1.0.10", "8.8.8.8", 1);
    p.icmp_type = 11;
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "no route");
    w_free(&w);
}

static void test_router_reject_route_answers_admin_prohibited(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("203.0.113.9");
    const struct sim_output *o;

    router_world(&w, true);
    w_add(&w, "routes", "{'name': 'no-doc', 'router': 'tr', 'dst': '203.0.113.0/24', 'type': 'reject'}");
    w_load(&w);
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_REPLY);
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.icmp_type, 3);
    assert_int_equal(o->pkt.icmp_code, 13);
    assert_int_equal(o->pkt.ip_src, ip("10.1.0.1"));
    assert_true(w_has_tag_of(&w, SIM_TAG_ROUTER_TABLE, SIM_RES_ROUTER, "tr", (uint64_t)ip("203.0.113.0") << 8 | 24));
    assert_true(w_has_tag_of(&w, SIM_TAG_ROUTE, SIM_RES_ROUTE, "no-doc", 0));
    w_free(&w);
}

static void test_router_blackhole_route_drops(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("203.0.113.9");

    router_world(&w, true);
    w_add(&w, "routes", "{'router': 'prov', 'dst': '203.0.113.0/24', 'type': 'blackhole'}");
    w_load(&w);
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "blackhole route");
    /* Other destinations still use the default. */
    p = vm1_to("8.8.8.8");
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_FORWARD);
    w_free(&w);
}

static void test_router_longest_prefix_wins_and_lower_weight_wins(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("203.0.113.9");

    router_world(&w, true);
    w_add(&w, "ports", "{'name': 'uplink2', 'device': 'prov', 'mac': '02:10:00:00:00:03', 'address': "
                       "'198.51.100.2/30', 'host': 'gw', 'interface': 'eth2'}");
    w_add(&w, "neighbors", "{'port': 'uplink2', 'address': '198.51.100.1', 'mac': '02:99:00:00:00:02'}");
    w_add(&w, "routes", "{'router': 'prov', 'dst': '203.0.113.0/24', 'next_hop_port': 'uplink2',"
                        " 'next_hop_gateway': '198.51.100.1', 'weight': 200}");
    w_add(&w, "routes", "{'router': 'prov', 'dst': '203.0.113.0/24', 'next_hop_port': 'uplink',"
                        " 'next_hop_gateway': '192.0.2.1', 'weight': 10}");
    w_add(&w, "routes", "{'router': 'prov', 'dst': '203.0.113.0/28', 'next_hop_port': 'uplink2',"
                        " 'next_hop_gateway': '198.51.100.1'}");
    w_load(&w);
    w_sim(&w, "vm1", &p, 10);   /* /28 */
    assert_non_null(w_out(&w, "uplink2"));
    p = vm1_to("203.0.113.99");   /* /24: weight 10 */
    for (uint16_t sp = 1000; sp < 1032; sp++) {
        p.src_port = sp;
        w_sim(&w, "vm1", &p, 10);
        assert_non_null(w_out(&w, "uplink"));
    }
    w_free(&w);
}

static void test_router_ecmp_spreads_flows_and_keeps_each_flow_on_one_route(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("203.0.113.9");
    int on1 = 0, on2 = 0;
    bool first[64];

    router_world(&w, true);
    w_add(&w, "ports", "{'name': 'uplink2', 'device': 'prov', 'mac': '02:10:00:00:00:03', 'address': "
                       "'198.51.100.2/30', 'host': 'gw', 'interface': 'eth2'}");
    w_add(&w, "neighbors", "{'port': 'uplink2', 'address': '198.51.100.1', 'mac': '02:99:00:00:00:02'}");
    w_add(&w, "routes", "{'router': 'prov', 'dst': '203.0.113.0/24', 'next_hop_port': 'uplink2',"
                        " 'next_hop_gateway': '198.51.100.1'}");
    w_add(&w, "routes", "{'router': 'prov', 'dst': '203.0.113.0/24', 'next_hop_port': 'uplink',"
                        " 'next_hop_gateway': '192.0.2.1'}");
    w_load(&w);
    for (int i = 0; i < 64; i++) {
        p.src_port = (uint16_t)(30000 + i * 7);
        w_sim(&w, "vm1", &p, 10);
        expect_verdict(&w, SIM_FORWARD);
        first[i] = w_out(&w, "uplink") != NULL;
        if (first[i])
            on1++;
        else
            on2++;
    }
    assert_true(on1 >= 10);
    assert_true(on2 >= 10);
    for (int i = 0; i < 64; i++) {
        p.src_port = (uint16_t)(30000 + i * 7);
        w_sim(&w, "vm1", &p, 20);
        assert_int_equal(w_out(&w, "uplink") != NULL, first[i]);
    }
    w_free(&w);
}

static void test_router_pending_arp_then_resolved_after_an_arp_reply(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("8.8.8.8");
    struct sim_pkt reply = pkt_arp(2, MAC_PEER, MAC_UPLINK, MAC_PEER, "192.0.2.1", MAC_UPLINK, "192.0.2.2");
    const struct sim_output *o;
    struct sim_id uplink;

    router_world(&w, false);
    w_load(&w);
    w.r.trace = true;
    uplink = w_id(&w, SIM_RES_PORT, "uplink");
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_PENDING);
    o = w_out(&w, "uplink");
    assert_non_null(o);
    assert_int_equal(o->pkt.eth_type, 0x0806);
    assert_int_equal(o->pkt.arp_op, 1);
    assert_int_equal(o->pkt.arp_tpa, ip("192.0.2.1"));
    assert_int_equal(o->pkt.arp_spa, ip("192.0.2.2"));
    assert_true(mac_is(o->pkt.arp_sha, MAC_UPLINK));
    assert_true(mac_is(o->pkt.eth_dst, "ff:ff:ff:ff:ff:ff"));
    assert_true(w_has_tag(&w, SIM_TAG_ARP, &uplink, ip("192.0.2.1")));

    w_sim(&w, "uplink", &reply, 11);
    expect_verdict(&w, SIM_CONSUME);
    assert_true(w_note(&w, "arp learned 192.0.2.1"));

    w_sim(&w, "vm1", &p, 12);
    expect_verdict(&w, SIM_FORWARD);
    assert_true(mac_is(w_out(&w, "uplink")->pkt.eth_dst, MAC_PEER));
    assert_true(w_has_tag(&w, SIM_TAG_ARP, &uplink, ip("192.0.2.1")));

    /* The cache entry ages out after 300 s. */
    w_sim(&w, "vm1", &p, 11 + 301);
    expect_verdict(&w, SIM_PENDING);
    w_free(&w);
}

static void test_router_learns_the_sender_of_an_arp_request_for_its_address(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("8.8.8.8");
    struct sim_pkt req = pkt_arp(1, MAC_PEER, "ff:ff:ff:ff:ff:ff", MAC_PEER, "192.0.2.1", "00:00:00:00:00:00",
                                 "192.0.2.2");

    router_world(&w, false);
    w_load(&w);
    w_sim(&w, "uplink", &req, 10);
    expect_verdict(&w, SIM_REPLY);
    w_sim(&w, "vm1", &p, 11);
    expect_verdict(&w, SIM_FORWARD);
    w_free(&w);
}

static void test_router_static_neighbor_wins_over_the_arp_cache(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("8.8.8.8");
    struct sim_pkt reply = pkt_arp(2, "02:98:00:00:00:01", MAC_UPLINK, "02:98:00:00:00:01", "192.0.2.1",
                                   MAC_UPLINK, "192.0.2.2");

    router_world(&w, true);
    w_load(&w);
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_FORWARD);
    assert_true(mac_is(w_out(&w, "uplink")->pkt.eth_dst, MAC_PEER));
    w_sim(&w, "uplink", &reply, 11);   /* someone else claims the gateway */
    w_sim(&w, "vm1", &p, 12);
    assert_true(mac_is(w_out(&w, "uplink")->pkt.eth_dst, MAC_PEER));
    w_free(&w);
}

static void test_router_to_a_bridge_uses_the_mac_the_bridge_knows(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_tcp(MAC_PEER, MAC_UPLINK, "8.8.8.8", 80, "10.1.0.11", 40000);
    const struct sim_output *o;

    router_world(&w, true);
    w_add(&w, "routes", "{'router': 'prov', 'dst': '10.1.0.0/24', 'next_hop_port': 'prov-t',"
                        " 'next_hop_gateway': '100.64.0.2'}");
    w_load(&w);
    w_sim(&w, "uplink", &p, 10);
    expect_verdict(&w, SIM_FORWARD);
    assert_int_equal(w.r.n_outputs, 1);
    o = w_out(&w, "vm2");
    assert_non_null(o);
    assert_true(mac_is(o->pkt.eth_src, MAC_T_LAN));
    assert_true(mac_is(o->pkt.eth_dst, MAC_VM2));
    assert_int_equal(o->pkt.ttl, 62);
    w_free(&w);
}

static void test_router_to_an_unknown_address_behind_a_bridge_floods_an_arp_request(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_tcp(MAC_PEER, MAC_UPLINK, "8.8.8.8", 80, "10.1.0.99", 40000);
    const struct sim_output *o;

    router_world(&w, true);
    w_add(&w, "routes", "{'router': 'prov', 'dst': '10.1.0.0/24', 'next_hop_port': 'prov-t',"
                        " 'next_hop_gateway': '100.64.0.2'}");
    w_load(&w);
    w_sim(&w, "uplink", &p, 10);
    expect_verdict(&w, SIM_PENDING);
    assert_int_equal(w.r.n_outputs, 2);   /* the request floods to vm1 and vm2 */
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.arp_op, 1);
    assert_int_equal(o->pkt.arp_tpa, ip("10.1.0.99"));
    assert_int_equal(o->pkt.arp_spa, ip("10.1.0.1"));
    w_free(&w);
}

static void test_router_drops_frames_not_addressed_to_it(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_tcp(MAC_PEER, "02:10:00:00:00:77", "8.8.8.8", 80, "10.1.0.11", 40000);

    router_world(&w, true);
    w_load(&w);
    w_sim(&w, "uplink", &p, 10);
    expect_drop(&w, "not addressed to router");
    w_free(&w);
}

static void test_router_admin_down_drops(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("8.8.8.8");

    router_world(&w, true);
    w_set(&w, "routers", "prov", "admin_state_up", "false");
    w_load(&w);
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "admin down");
    w_free(&w);
}

static void test_router_loop_is_cut_after_16_devices(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("203.0.113.9");

    router_world(&w, true);
    /* The provider sends it back to the tenant router, which sends it up. */
    w_add(&w, "routes", "{'router': 'prov', 'dst': '203.0.113.0/24', 'next_hop_port': 'prov-t',"
                        " 'next_hop_gateway': '100.64.0.2'}");
    w_load(&w);
    p.ttl = 255;
    w.r.trace = true;
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "loop");
    assert_int_equal(w.r.n_hops, 16);
    w_free(&w);
}

static void test_router_result_tags_route_group_devices_and_next_hop(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("8.8.8.8");
    struct sim_id uplink;

    router_world(&w, true);
    w_load(&w);
    uplink = w_id(&w, SIM_RES_PORT, "uplink");
    w_sim(&w, "vm1", &p, 10);
    assert_true(w_has_tag_of(&w, SIM_TAG_DEVICE, SIM_RES_BRIDGE, "br", 0));
    assert_true(w_has_tag_of(&w, SIM_TAG_DEVICE, SIM_RES_ROUTER, "tr", 0));
    assert_true(w_has_tag_of(&w, SIM_TAG_DEVICE, SIM_RES_ROUTER, "prov", 0));
    assert_true(w_has_tag_of(&w, SIM_TAG_PORT, SIM_RES_PORT, "t-lan", 0));
    assert_true(w_has_tag_of(&w, SIM_TAG_PORT, SIM_RES_PORT, "t-up", 0));
    assert_true(w_has_tag_of(&w, SIM_TAG_PORT, SIM_RES_PORT, "prov-t", 0));
    assert_true(w_has_tag_of(&w, SIM_TAG_PORT, SIM_RES_PORT, "uplink", 0));
    assert_true(w_has_tag_of(&w, SIM_TAG_ROUTER_TABLE, SIM_RES_ROUTER, "tr", 0));   /* 0.0.0.0/0 */
    assert_true(w_has_tag_of(&w, SIM_TAG_ROUTE, SIM_RES_ROUTE, "tr-default", 0));
    assert_true(w_has_tag_of(&w, SIM_TAG_ROUTE, SIM_RES_ROUTE, "prov-default", 0));
    assert_true(w_has_tag(&w, SIM_TAG_ARP, &uplink, ip("192.0.2.1")));
    assert_true(w_has_tag_of(&w, SIM_TAG_DEVICE, SIM_RES_HOST, "gw", 0));
    w_free(&w);
}

static void test_router_tags_a_specific_route_group_by_prefix(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = vm1_to("10.1.0.11");

    router_world(&w, true);
    w_load(&w);
    w_sim(&w, "vm1", &p, 10);   /* VM to VM across the router would be bridged; force via router MAC */
    expect_verdict(&w, SIM_FORWARD);
    assert_non_null(w_out(&w, "vm2"));
    assert_true(w_has_tag_of(&w, SIM_TAG_ROUTER_TABLE, SIM_RES_ROUTER, "tr", (uint64_t)ip("10.1.0.0") << 8 | 24));
    w_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_forwards_vm_to_internet_through_two_routers),
        cmocka_unit_test(test_router_answers_arp_for_its_port_address),
        cmocka_unit_test(test_router_consumes_arp_for_an_address_it_does_not_hold),
        cmocka_unit_test(test_router_answers_echo_to_any_of_its_addresses),
        cmocka_unit_test(test_router_consumes_other_packets_to_its_addresses),
        cmocka_unit_test(test_router_ttl_exceeded_answers_icmp_from_the_ingress_port),
        cmocka_unit_test(test_router_ttl_exceeded_about_an_icmp_error_is_a_plain_drop),
        cmocka_unit_test(test_router_without_route_answers_net_unreachable),
        cmocka_unit_test(test_router_reject_route_answers_admin_prohibited),
        cmocka_unit_test(test_router_blackhole_route_drops),
        cmocka_unit_test(test_router_longest_prefix_wins_and_lower_weight_wins),
        cmocka_unit_test(test_router_ecmp_spreads_flows_and_keeps_each_flow_on_one_route),
        cmocka_unit_test(test_router_pending_arp_then_resolved_after_an_arp_reply),
        cmocka_unit_test(test_router_learns_the_sender_of_an_arp_request_for_its_address),
        cmocka_unit_test(test_router_static_neighbor_wins_over_the_arp_cache),
        cmocka_unit_test(test_router_to_a_bridge_uses_the_mac_the_bridge_knows),
        cmocka_unit_test(test_router_to_an_unknown_address_behind_a_bridge_floods_an_arp_request),
        cmocka_unit_test(test_router_drops_frames_not_addressed_to_it),
        cmocka_unit_test(test_router_admin_down_drops),
        cmocka_unit_test(test_router_loop_is_cut_after_16_devices),
        cmocka_unit_test(test_router_result_tags_route_group_devices_and_next_hop),
        cmocka_unit_test(test_router_tags_a_specific_route_group_by_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
