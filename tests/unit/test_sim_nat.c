/* NAT in the simulator: SNAT out and back, port exhaustion, ICMP through
 * SNAT (echo identifiers, errors translated back), floating IPs in and out
 * and their precedence over SNAT rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/sim_engine_test.h"

#define SNAT_RULES(from, to)                                                                                         \
    "{'chain': 'post', 'action': 'snat', 'out_ports': ['t-up'], 'nw_src': '10.1.0.0/24',"                         \
    " 'nat_targets': [{'address_from': '100.64.0.2', 'address_to': '100.64.0.2', 'port_from': " #from ","         \
    " 'port_to': " #to "}]}"
#define REV_SNAT_RULE "{'chain': 'pre', 'action': 'rev_snat', 'nw_dst': '100.64.0.2/32'}"

/* The tenant router SNATs its VMs to its uplink address, as the example
 * document does. */
static void nat_world(struct world *w, const char *snat_rule)
{
    w_init(w, BASE_TOPOLOGY);
    w_add(w, "neighbors", NEIGHBOR_PEER);
    w_add(w, "chains", "{'name': 'pre'}");
    w_add(w, "chains", "{'name': 'post'}");
    w_add(w, "rules", snat_rule);
    w_add(w, "rules", REV_SNAT_RULE);
    w_set(w, "routers", "tr", "inbound_filter", "'pre'");
    w_set(w, "routers", "tr", "outbound_filter", "'post'");
}

static struct sim_pkt vm1_out(uint16_t sport)
{
    return pkt_tcp(MAC_VM1, MAC_T_LAN, "10.1.0.10", sport, "8.8.8.8", 80);
}

static void test_snat_round_trip_translates_out_and_back(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt out = vm1_out(40000), back;
    const struct sim_output *o;
    uint16_t port;
    char note[96];

    nat_world(&w, SNAT_RULES(1024, 65535));
    w_load(&w);
    w.r.trace = true;
    w_sim(&w, "vm1", &out, 10);
    expect_verdict(&w, SIM_FORWARD);
    o = w_out(&w, "uplink");
    assert_non_null(o);
    assert_int_equal(o->pkt.ip_src, ip("100.64.0.2"));
    port = o->pkt.src_port;
    assert_true(port >= 1024);
    assert_int_equal(o->pkt.ip_dst, ip("8.8.8.8"));
    assert_int_equal(o->pkt.dst_port, 80);
    snprintf(note, sizeof(note), "snat 10.1.0.10:40000 -> 100.64.0.2:%u", port);
    assert_true(w_note(&w, note));
    assert_int_equal(w.r.n_new_state, 1);
    assert_true(w.r.n_tags > 0);

    back = pkt_tcp(MAC_PEER, MAC_UPLINK, "8.8.8.8", 80, "100.64.0.2", port);
    w_sim(&w, "uplink", &back, 11);
    expect_verdict(&w, SIM_FORWARD);
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.ip_dst, ip("10.1.0.10"));
    assert_int_equal(o->pkt.dst_port, 40000);
    assert_int_equal(o->pkt.ip_src, ip("8.8.8.8"));
    assert_true(mac_is(o->pkt.eth_dst, MAC_VM1));
    assert_int_equal(w.r.n_new_state, 0);
    w_free(&w);
}

static void test_snat_same_flow_keeps_its_binding_and_new_flows_get_new_ports(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt a = vm1_out(40000), b = vm1_out(40001);
    uint16_t pa, pb;

    nat_world(&w, SNAT_RULES(1024, 65535));
    w_load(&w);
    w_sim(&w, "vm1", &a, 10);
    pa = w_out(&w, "uplink")->pkt.src_port;
    w_sim(&w, "vm1", &a, 11);
    assert_int_equal(w_out(&w, "uplink")->pkt.src_port, pa);
    assert_int_equal(w.r.n_new_state, 0);
    w_sim(&w, "vm1", &b, 12);
    pb = w_out(&w, "uplink")->pkt.src_port;
    assert_int_not_equal(pa, pb);
    assert_int_equal(w.r.n_new_state, 1);
    w_free(&w);
}

static void test_snat_exhausted_pool_drops_with_reason(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p;

    nat_world(&w, SNAT_RULES(2000, 2001));
    w_load(&w);
    for (uint16_t sp = 40000; sp < 40002; sp++) {
        p = vm1_out(sp);
        w_sim(&w, "vm1", &p, 10);
        expect_verdict(&w, SIM_FORWARD);
    }
    p = vm1_out(40002);
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "snat ports exhausted");
    w_free(&w);
}

static void test_snat_ping_translates_the_echo_identifier(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt ping = pkt_ping(MAC_VM1, MAC_T_LAN, "10.1.0.10", "8.8.8.8", 4242), pong;
    const struct sim_output *o;

    nat_world(&w, SNAT_RULES(1024, 65535));
    w_load(&w);
    w_sim(&w, "vm1", &ping, 10);
    expect_verdict(&w, SIM_FORWARD);
    o = w_out(&w, "uplink");
    assert_int_equal(o->pkt.ip_src, ip("100.64.0.2"));
    pong = pkt_ip(MAC_PEER, MAC_UPLINK, "8.8.8.8", "100.64.0.2", 1);
    pong.icmp_type = 0;
    pong.icmp_id = o->pkt.icmp_id;
    w_sim(&w, "uplink", &pong, 11);
    expect_verdict(&w, SIM_FORWARD);
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.ip_dst, ip("10.1.0.10"));
    assert_int_equal(o->pkt.icmp_id, 4242);
    w_free(&w);
}

static void test_icmp_error_from_beyond_is_translated_back_through_snat(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt out = vm1_out(40000);
    const struct sim_output *o;

    nat_world(&w, SNAT_RULES(1024, 65535));
    w_load(&w);
    w.r.trace = true;
    /* TTL 2: the tenant router forwards with TTL 1, the provider answers
     * "time exceeded" to the translated source. */
    out.ttl = 2;
    w_sim(&w, "vm1", &out, 10);
    expect_verdict(&w, SIM_REPLY);
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.icmp_type, 11);
    assert_int_equal(o->pkt.ip_src, ip("100.64.0.1"));
    assert_int_equal(o->pkt.ip_dst, ip("10.1.0.10"));
    assert_int_equal(o->pkt.embedded.ip_src, ip("10.1.0.10"));
    assert_int_equal(o->pkt.embedded.src_port, 40000);
    assert_int_equal(o->pkt.embedded.ip_dst, ip("8.8.8.8"));
    assert_int_equal(o->pkt.embedded.dst_port, 80);
    assert_true(w_note(&w, "rev_snat (icmp error)"));
    w_free(&w);
}

static void test_icmp_error_from_outside_about_a_snat_flow_reaches_the_vm(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt out = vm1_out(40000), err;
    const struct sim_output *o;
    uint16_t port;

    nat_world(&w, SNAT_RULES(1024, 65535));
    w_load(&w);
    w_sim(&w, "vm1", &out, 10);
    port = w_out(&w, "uplink")->pkt.src_port;
    err = pkt_ip(MAC_PEER, MAC_UPLINK, "192.0.2.1", "100.64.0.2", 1);
    err.icmp_type = 3;
    err.icmp_code = 4;   /* fragmentation needed */
    err.has_embedded = true;
    err.embedded.ip_src = ip("100.64.0.2");
    err.embedded.ip_dst = ip("8.8.8.8");
    err.embedded.proto = 6;
    err.embedded.src_port = port;
    err.embedded.dst_port = 80;
    w_sim(&w, "uplink", &err, 11);
    expect_verdict(&w, SIM_FORWARD);
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.ip_src, ip("192.0.2.1"));
    assert_int_equal(o->pkt.ip_dst, ip("10.1.0.10"));
    assert_int_equal(o->pkt.embedded.ip_src, ip("10.1.0.10"));
    assert_int_equal(o->pkt.embedded.src_port, 40000);
    w_free(&w);
}

/* The FIP's address is outside the provider's subnets: reaching it needs
 * the implicit /32 the provider gets towards the tenant router. */
static void fip_world(struct world *w)
{
    nat_world(w, SNAT_RULES(1024, 65535));
    w_add(w, "floating_ips", "{'address': '198.51.100.50', 'router': 'prov', 'port': 'vm1',"
                             " 'fixed_ip': '10.1.0.10'}");
    w_load(w);
    w->r.trace = true;
}

static void test_floating_ip_inbound_reaches_the_vm(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt in = pkt_tcp(MAC_PEER, MAC_UPLINK, "203.0.113.7", 5555, "198.51.100.50", 22);
    const struct sim_output *o;

    fip_world(&w);
    w_sim(&w, "uplink", &in, 10);
    expect_verdict(&w, SIM_FORWARD);
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.ip_dst, ip("10.1.0.10"));
    assert_int_equal(o->pkt.dst_port, 22);
    assert_int_equal(o->pkt.ip_src, ip("203.0.113.7"));
    assert_true(w_note(&w, "fip dnat 198.51.100.50 -> 10.1.0.10"));
    assert_int_equal(w.r.n_new_state, 0);
    w_free(&w);
}

static void test_floating_ip_outbound_takes_precedence_over_snat(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt out = vm1_out(40000);
    struct sim_pkt other = pkt_tcp(MAC_VM2, MAC_T_LAN, "10.1.0.11", 40000, "8.8.8.8", 80);
    const struct sim_output *o;

    fip_world(&w);
    w_sim(&w, "vm1", &out, 10);
    expect_verdict(&w, SIM_FORWARD);
    o = w_out(&w, "uplink");
    assert_non_null(o);
    assert_int_equal(o->pkt.ip_src, ip("198.51.100.50"));
    assert_int_equal(o->pkt.src_port, 40000);
    assert_int_equal(w.r.n_new_state, 0);
    assert_true(w_note(&w, "fip snat 10.1.0.10 -> 198.51.100.50"));
    assert_false(w_note(&w, "snat 10.1.0.10:40000"));

    /* A VM without a floating IP is still SNATed. */
    w_sim(&w, "vm2", &other, 10);
    o = w_out(&w, "uplink");
    assert_int_equal(o->pkt.ip_src, ip("100.64.0.2"));
    assert_int_equal(w.r.n_new_state, 1);
    w_free(&w);
}

static void test_floating_ip_does_not_translate_traffic_between_tenant_subnets(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_tcp(MAC_VM1, MAC_T_LAN, "10.1.0.10", 40000, "10.2.0.5", 80);

    nat_world(&w, SNAT_RULES(1024, 65535));
    w_add(&w, "bridges", "{'name': 'br2'}");
    w_add(&w, "ports", "{'name': 't-lan2', 'device': 'tr', 'mac': '02:20:00:00:00:03', 'address': '10.2.0.1/24',"
                       " 'peer': 'br2-r'}");
    w_add(&w, "ports", "{'name': 'br2-r', 'device': 'br2', 'peer': 't-lan2'}");
    w_add(&w, "ports", "{'name': 'vm5', 'device': 'br2', 'mac': '02:30:00:00:00:15', 'fixed_ips': ['10.2.0.5'],"
                       " 'host': 'hv2', 'interface': 'tap5'}");
    w_add(&w, "floating_ips", "{'address': '198.51.100.50', 'router': 'prov', 'port': 'vm1',"
                              " 'fixed_ip': '10.1.0.10'}");
    w_load(&w);
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_FORWARD);
    assert_int_equal(w_out(&w, "vm5")->pkt.ip_src, ip("10.1.0.10"));
    w_free(&w);
}

static void test_icmp_error_to_a_floating_ip_reaches_the_vm_with_its_quote_translated(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt err = pkt_ip(MAC_PEER, MAC_UPLINK, "192.0.2.1", "198.51.100.50", 1);
    const struct sim_output *o;

    fip_world(&w);
    err.icmp_type = 11;
    err.has_embedded = true;
    err.embedded.ip_src = ip("198.51.100.50");
    err.embedded.ip_dst = ip("8.8.8.8");
    err.embedded.proto = 17;
    err.embedded.src_port = 33434;
    err.embedded.dst_port = 33435;
    w_sim(&w, "uplink", &err, 10);
    expect_verdict(&w, SIM_FORWARD);
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.ip_dst, ip("10.1.0.10"));
    assert_int_equal(o->pkt.embedded.ip_src, ip("10.1.0.10"));
    assert_int_equal(o->pkt.embedded.src_port, 33434);
    w_free(&w);
}

static void test_nat_results_tag_the_state_and_the_rules_they_used(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt out = vm1_out(40000);
    bool state_tag = false;

    nat_world(&w, SNAT_RULES(1024, 65535));
    w_load(&w);
    w_sim(&w, "vm1", &out, 10);
    for (uint32_t i = 0; i < w.r.n_tags; i++)
        state_tag |= (w.r.tags[i] >> 56) == SIM_TAG_STATE;
    assert_true(state_tag);
    assert_true(w_has_tag_of(&w, SIM_TAG_CHAIN, SIM_RES_CHAIN, "post", 0));
    assert_true(w_has_tag_of(&w, SIM_TAG_CHAIN, SIM_RES_CHAIN, "pre", 0));
    w_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snat_round_trip_translates_out_and_back),
        cmocka_unit_test(test_snat_same_flow_keeps_its_binding_and_new_flows_get_new_ports),
        cmocka_unit_test(test_snat_exhausted_pool_drops_with_reason),
        cmocka_unit_test(test_snat_ping_translates_the_echo_identifier),
        cmocka_unit_test(test_icmp_error_from_beyond_is_translated_back_through_snat),
        cmocka_unit_test(test_icmp_error_from_outside_about_a_snat_flow_reaches_the_vm),
        cmocka_unit_test(test_floating_ip_inbound_reaches_the_vm),
        cmocka_unit_test(test_floating_ip_outbound_takes_precedence_over_snat),
        cmocka_unit_test(test_floating_ip_does_not_translate_traffic_between_tenant_subnets),
        cmocka_unit_test(test_icmp_error_to_a_floating_ip_reaches_the_vm_with_its_quote_translated),
        cmocka_unit_test(test_nat_results_tag_the_state_and_the_rules_they_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
