/* The bridge: static and learned MAC entries, ageing, flooding, ARP
 * suppression, and the ends of a bridged path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/sim_engine_test.h"

/* The base topology plus a third VM and a port with no MAC of its own
 * (a host whose MACs the bridge must learn). */
static void bridge_world(struct world *w)
{
    w_init(w, BASE_TOPOLOGY);
    w_add(w, "ports", "{'name': 'vm3', 'device': 'br', 'mac': '02:30:00:00:00:0c', 'fixed_ips': ['10.1.0.12'],"
                      " 'host': 'hv2', 'interface': 'tap3'}");
    w_add(w, "ports", "{'name': 'trunk', 'device': 'br', 'host': 'hv1', 'interface': 'tap9'}");
    w_load(w);
    w->r.trace = true;
}

#define MAC_VM3 "02:30:00:00:00:0c"
#define MAC_BEHIND_TRUNK "02:55:00:00:00:01"

static void test_bridge_static_mac_of_a_port_goes_to_that_port_only(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_udp(MAC_VM1, MAC_VM2, "10.1.0.10", 5000, "10.1.0.11", 53);

    bridge_world(&w);
    w_sim(&w, "vm1", &p, 100);
    expect_verdict(&w, SIM_FORWARD);
    assert_int_equal(w.r.n_outputs, 1);
    assert_non_null(w_out(&w, "vm2"));
    assert_int_equal(w_out(&w, "vm2")->tunnel_key, ((struct sim_port *)w_obj(&w, SIM_RES_PORT, "vm2"))->tunnel_key);
    assert_int_equal(w_out(&w, "vm2")->host_tunnel_ip, ip("172.31.0.12"));
    assert_false(w_note(&w, "flood"));
    w_free(&w);
}

static void test_bridge_unknown_unicast_floods_to_every_other_port(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_udp(MAC_VM1, "02:77:00:00:00:01", "10.1.0.10", 5000, "10.1.0.99", 53);

    bridge_world(&w);
    w_sim(&w, "vm1", &p, 100);
    expect_verdict(&w, SIM_FORWARD);
    /* vm2, vm3 and trunk; the router's copy is not addressed to it. */
    assert_int_equal(w.r.n_outputs, 3);
    assert_non_null(w_out(&w, "vm2"));
    assert_non_null(w_out(&w, "vm3"));
    assert_non_null(w_out(&w, "trunk"));
    assert_null(w_out(&w, "vm1"));
    assert_true(w_note(&w, "flood"));
    assert_true(w_note(&w, "not addressed to router"));
    w_free(&w);
}

static void test_bridge_broadcast_floods_and_the_router_consumes_its_copy(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_arp(1, MAC_VM1, "ff:ff:ff:ff:ff:ff", MAC_VM1, "10.1.0.10", "00:00:00:00:00:00",
                               "10.1.0.200");

    bridge_world(&w);
    w_sim(&w, "vm1", &p, 100);
    expect_verdict(&w, SIM_FORWARD);
    assert_int_equal(w.r.n_outputs, 3);
    assert_true(w_note(&w, "arp not for this port"));
    w_free(&w);
}

static void test_bridge_learns_a_source_mac_and_then_sends_unicast_to_it(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt from_trunk = pkt_udp(MAC_BEHIND_TRUNK, MAC_VM1, "10.1.0.50", 6000, "10.1.0.10", 53);
    struct sim_pkt to_trunk = pkt_udp(MAC_VM1, MAC_BEHIND_TRUNK, "10.1.0.10", 53, "10.1.0.50", 6000);

    bridge_world(&w);
    w_sim(&w, "vm1", &to_trunk, 100);
    assert_int_equal(w.r.n_outputs, 3);   /* unknown yet: flood */

    w_sim(&w, "trunk", &from_trunk, 101);
    expect_verdict(&w, SIM_FORWARD);
    assert_true(w_note(&w, "mac learned 02:55:00:00:00:01"));

    w_sim(&w, "vm1", &to_trunk, 102);
    expect_verdict(&w, SIM_FORWARD);
    assert_int_equal(w.r.n_outputs, 1);
    assert_non_null(w_out(&w, "trunk"));
    assert_true(w_has_tag_of(&w, SIM_TAG_MAC, SIM_RES_BRIDGE, "br", 0x025500000001ull));
    w_free(&w);
}

static void test_bridge_learned_mac_ages_out_after_300_seconds(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt from_trunk = pkt_udp(MAC_BEHIND_TRUNK, MAC_VM1, "10.1.0.50", 6000, "10.1.0.10", 53);
    struct sim_pkt to_trunk = pkt_udp(MAC_VM1, MAC_BEHIND_TRUNK, "10.1.0.10", 53, "10.1.0.50", 6000);

    bridge_world(&w);
    w_sim(&w, "trunk", &from_trunk, 1000);
    w_sim(&w, "vm1", &to_trunk, 1299);
    assert_int_equal(w.r.n_outputs, 1);
    w_sim(&w, "vm1", &to_trunk, 1301);
    assert_int_equal(w.r.n_outputs, 3);
    assert_true(w_note(&w, "flood"));

    /* Seen again: learned again, for another 300 s. */
    w_sim(&w, "trunk", &from_trunk, 2000);
    w_sim(&w, "vm1", &to_trunk, 2200);
    assert_int_equal(w.r.n_outputs, 1);
    w_free(&w);
}

static void test_bridge_learning_refreshes_the_age_of_a_mac_still_seen(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt from_trunk = pkt_udp(MAC_BEHIND_TRUNK, MAC_VM1, "10.1.0.50", 6000, "10.1.0.10", 53);
    struct sim_pkt to_trunk = pkt_udp(MAC_VM1, MAC_BEHIND_TRUNK, "10.1.0.10", 53, "10.1.0.50", 6000);

    bridge_world(&w);
    w_sim(&w, "trunk", &from_trunk, 1000);
    w_sim(&w, "trunk", &from_trunk, 1200);
    w_sim(&w, "vm1", &to_trunk, 1450);   /* 450 s after first seen, 250 s after last */
    assert_int_equal(w.r.n_outputs, 1);
    w_free(&w);
}

static void test_bridge_static_mac_is_not_moved_by_a_spoofed_source(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt spoof = pkt_udp(MAC_VM1, MAC_VM2, "10.1.0.50", 6000, "10.1.0.11", 53);
    struct sim_pkt to_vm1 = pkt_udp(MAC_VM2, MAC_VM1, "10.1.0.11", 53, "10.1.0.10", 6000);

    bridge_world(&w);
    w_sim(&w, "trunk", &spoof, 100);
    assert_false(w_note(&w, "mac learned"));
    w_sim(&w, "vm2", &to_vm1, 101);
    assert_int_equal(w.r.n_outputs, 1);
    assert_non_null(w_out(&w, "vm1"));
    w_free(&w);
}

static void test_bridge_does_not_learn_from_interior_ports(void **state)
{
    (void)state;
    struct world w;
    /* A frame from outside routed onto the bridge: its source MAC is the
     * router port's, which is static anyway; a made-up one is not learned. */
    struct sim_pkt p = pkt_udp("02:66:00:00:00:01", MAC_VM1, "10.1.0.1", 53, "10.1.0.10", 6000);

    bridge_world(&w);
    w_sim(&w, "br-r", &p, 100);
    expect_verdict(&w, SIM_FORWARD);
    assert_false(w_note(&w, "mac learned"));
    w_free(&w);
}

static void test_bridge_answers_arp_for_a_port_fixed_ip(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_arp(1, MAC_VM1, "ff:ff:ff:ff:ff:ff", MAC_VM1, "10.1.0.10", "00:00:00:00:00:00",
                               "10.1.0.11");
    const struct sim_output *o;

    bridge_world(&w);
    w_sim(&w, "vm1", &p, 100);
    expect_verdict(&w, SIM_REPLY);
    assert_int_equal(w.r.n_outputs, 1);
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.eth_type, 0x0806);
    assert_int_equal(o->pkt.arp_op, 2);
    assert_true(mac_is(o->pkt.arp_sha, MAC_VM2));
    assert_int_equal(o->pkt.arp_spa, ip("10.1.0.11"));
    assert_true(mac_is(o->pkt.arp_tha, MAC_VM1));
    assert_int_equal(o->pkt.arp_tpa, ip("10.1.0.10"));
    assert_true(mac_is(o->pkt.eth_dst, MAC_VM1));
    assert_true(mac_is(o->pkt.eth_src, MAC_VM2));
    assert_true(w_note(&w, "arp reply"));
    /* The answer depends on vm2's configuration. */
    assert_true(w_has_tag_of(&w, SIM_TAG_PORT, SIM_RES_PORT, "vm2", 0));
    w_free(&w);
}

static void test_bridge_answers_arp_for_the_router_port_behind_it(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_arp(1, MAC_VM1, "ff:ff:ff:ff:ff:ff", MAC_VM1, "10.1.0.10", "00:00:00:00:00:00",
                               "10.1.0.1");

    bridge_world(&w);
    w_sim(&w, "vm1", &p, 100);
    expect_verdict(&w, SIM_REPLY);
    assert_true(mac_is(w_out(&w, "vm1")->pkt.arp_sha, MAC_T_LAN));
    w_free(&w);
}

static void test_bridge_does_not_answer_a_host_asking_for_its_own_address(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_arp(1, MAC_VM1, "ff:ff:ff:ff:ff:ff", MAC_VM1, "0.0.0.0", "00:00:00:00:00:00",
                               "10.1.0.10");

    bridge_world(&w);
    w_sim(&w, "vm1", &p, 100);
    expect_verdict(&w, SIM_FORWARD);   /* flooded, as duplicate address detection expects */
    assert_int_equal(w.r.n_outputs, 3);
    w_free(&w);
}

static void test_bridge_drops_a_frame_for_the_port_it_came_from(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_udp(MAC_VM2, MAC_VM1, "10.1.0.11", 53, "10.1.0.10", 6000);

    bridge_world(&w);
    w_sim(&w, "vm1", &p, 100);
    expect_drop(&w, "hairpin");
    w_free(&w);
}

static void test_bridge_port_without_host_or_peer_drops_not_bound(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_udp(MAC_VM1, "02:30:00:00:00:0d", "10.1.0.10", 53, "10.1.0.13", 6000);

    w_init(&w, BASE_TOPOLOGY);
    w_add(&w, "ports", "{'name': 'vm4', 'device': 'br', 'mac': '02:30:00:00:00:0d'}");
    w_load(&w);
    w_sim(&w, "vm1", &p, 100);
    expect_drop(&w, "port not bound");
    w_free(&w);
}

static void test_bridge_admin_down_port_or_bridge_drops(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_udp(MAC_VM1, MAC_VM2, "10.1.0.10", 5000, "10.1.0.11", 53);

    w_init(&w, BASE_TOPOLOGY);
    w_set(&w, "ports", "vm2", "admin_state_up", "false");
    w_load(&w);
    w_sim(&w, "vm1", &p, 100);
    expect_drop(&w, "admin down");
    w_free(&w);

    w_init(&w, BASE_TOPOLOGY);
    w_set(&w, "bridges", "br", "admin_state_up", "false");
    w_load(&w);
    w_sim(&w, "vm1", &p, 100);
    expect_drop(&w, "admin down");
    w_free(&w);

    w_init(&w, BASE_TOPOLOGY);
    w_set(&w, "ports", "vm1", "admin_state_up", "false");
    w_load(&w);
    w_sim(&w, "vm1", &p, 100);
    expect_drop(&w, "admin down");
    w_free(&w);
}

static void test_bridge_unknown_ingress_port_drops_no_such_port(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_udp(MAC_VM1, MAC_VM2, "10.1.0.10", 5000, "10.1.0.11", 53);
    struct sim_id nobody;

    bridge_world(&w);
    assert_int_equal(sim_id_parse("00000000-0000-4000-8000-000000000001", &nobody), 0);
    assert_int_equal(sim_simulate(w.t, w.s, &nobody, &p, 0, &w.r), 0);
    expect_drop(&w, "no such port");
    w_free(&w);
}

static void test_bridge_result_tags_devices_ports_and_the_mac_looked_up(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_udp(MAC_VM1, MAC_VM2, "10.1.0.10", 5000, "10.1.0.11", 53);

    bridge_world(&w);
    w_sim(&w, "vm1", &p, 100);
    assert_true(w_has_tag_of(&w, SIM_TAG_DEVICE, SIM_RES_BRIDGE, "br", 0));
    assert_true(w_has_tag_of(&w, SIM_TAG_PORT, SIM_RES_PORT, "vm1", 0));
    assert_true(w_has_tag_of(&w, SIM_TAG_PORT, SIM_RES_PORT, "vm2", 0));
    assert_true(w_has_tag_of(&w, SIM_TAG_MAC, SIM_RES_BRIDGE, "br", 0x02300000000bull));
    assert_false(w_has_tag_of(&w, SIM_TAG_DEVICE, SIM_RES_ROUTER, "tr", 0));
    /* No duplicates, though the walk met vm1 and vm2 twice each. */
    for (uint32_t i = 0; i < w.r.n_tags; i++)
        for (uint32_t j = i + 1; j < w.r.n_tags; j++)
            assert_true(w.r.tags[i] != w.r.tags[j]);
    w_free(&w);
}

static void test_bridge_trace_records_hops_only_when_asked(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_udp(MAC_VM1, MAC_VM2, "10.1.0.10", 5000, "10.1.0.11", 53);
    struct sim_id br;

    bridge_world(&w);
    w.r.trace = false;
    w_sim(&w, "vm1", &p, 100);
    assert_int_equal(w.r.n_hops, 0);
    w.r.trace = true;
    w_sim(&w, "vm1", &p, 100);
    assert_int_equal(w.r.n_hops, 1);
    br = w_id(&w, SIM_RES_BRIDGE, "br");
    assert_memory_equal(&w.r.hops[0].device, &br, sizeof(br));
    assert_false(w.r.hops[0].is_router);
    struct sim_id vm1 = w_id(&w, SIM_RES_PORT, "vm1"), vm2 = w_id(&w, SIM_RES_PORT, "vm2");
    assert_memory_equal(&w.r.hops[0].in_port, &vm1, sizeof(vm1));
    assert_memory_equal(&w.r.hops[0].out_port, &vm2, sizeof(vm2));
    w_free(&w);
}

static void test_bridge_forgets_macs_learned_on_a_removed_port_and_keeps_the_others(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt from_trunk = pkt_udp(MAC_BEHIND_TRUNK, MAC_VM1, "10.1.0.50", 6000, "10.1.0.10", 53);
    struct sim_pkt to_trunk = pkt_udp(MAC_VM1, MAC_BEHIND_TRUNK, "10.1.0.10", 53, "10.1.0.50", 6000);
    struct sim_pkt from_vm3 = pkt_udp("02:55:00:00:00:03", MAC_VM1, "10.1.0.51", 6000, "10.1.0.10", 53);
    struct sim_pkt to_vm3 = pkt_udp(MAC_VM1, "02:55:00:00:00:03", "10.1.0.10", 53, "10.1.0.51", 6000);
    struct sim_error err;
    struct sim_id trunk, added;
    json_t *port = jq("{'name': 'vm7', 'device': 'br', 'mac': '02:30:00:00:00:17', 'host': 'hv1',"
                      " 'interface': 'tap7'}");

    bridge_world(&w);
    w_sim(&w, "trunk", &from_trunk, 100);
    w_sim(&w, "vm3", &from_vm3, 100);
    /* An unrelated change keeps what was learned. */
    assert_int_equal(sim_topo_put(w.t, SIM_RES_PORT, port, &added, &err), 0);
    w_sim(&w, "vm1", &to_trunk, 101);
    assert_int_equal(w.r.n_outputs, 1);
    /* Removing the port forgets what was learned on it, and only that. */
    trunk = w_id(&w, SIM_RES_PORT, "trunk");
    assert_int_equal(sim_topo_del(w.t, SIM_RES_PORT, &trunk, &err), 0);
    w_sim(&w, "vm1", &to_trunk, 102);
    assert_true(w_note(&w, "flood"));
    assert_int_equal(w.r.n_outputs, 3);   /* vm2, vm3, vm7 */
    w_sim(&w, "vm1", &to_vm3, 103);
    assert_int_equal(w.r.n_outputs, 1);
    assert_non_null(w_out(&w, "vm3"));
    json_decref(port);
    w_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bridge_static_mac_of_a_port_goes_to_that_port_only),
        cmocka_unit_test(test_bridge_unknown_unicast_floods_to_every_other_port),
        cmocka_unit_test(test_bridge_broadcast_floods_and_the_router_consumes_its_copy),
        cmocka_unit_test(test_bridge_learns_a_source_mac_and_then_sends_unicast_to_it),
        cmocka_unit_test(test_bridge_learned_mac_ages_out_after_300_seconds),
        cmocka_unit_test(test_bridge_learning_refreshes_the_age_of_a_mac_still_seen),
        cmocka_unit_test(test_bridge_static_mac_is_not_moved_by_a_spoofed_source),
        cmocka_unit_test(test_bridge_does_not_learn_from_interior_ports),
        cmocka_unit_test(test_bridge_answers_arp_for_a_port_fixed_ip),
        cmocka_unit_test(test_bridge_answers_arp_for_the_router_port_behind_it),
        cmocka_unit_test(test_bridge_does_not_answer_a_host_asking_for_its_own_address),
        cmocka_unit_test(test_bridge_drops_a_frame_for_the_port_it_came_from),
        cmocka_unit_test(test_bridge_port_without_host_or_peer_drops_not_bound),
        cmocka_unit_test(test_bridge_admin_down_port_or_bridge_drops),
        cmocka_unit_test(test_bridge_unknown_ingress_port_drops_no_such_port),
        cmocka_unit_test(test_bridge_result_tags_devices_ports_and_the_mac_looked_up),
        cmocka_unit_test(test_bridge_trace_records_hops_only_when_asked),
        cmocka_unit_test(test_bridge_forgets_macs_learned_on_a_removed_port_and_keeps_the_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
