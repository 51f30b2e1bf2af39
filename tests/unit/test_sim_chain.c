/* Rule chains: every condition and its inversion, every action, fragment
 * policies, conntrack conditions, where chains attach, and what the trace
 * and tags record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/sim_engine_test.h"

/* The base topology with the upstream neighbor, a route back to the VMs on
 * the provider, chain 'f' as the tenant router's post-routing filter (in
 * port t-lan, out port t-up for vm1 -> Internet), chain 'g' to jump to,
 * and a few groups. */
static void chain_world(struct world *w)
{
    w_init(w, BASE_TOPOLOGY);
    w_add(w, "neighbors", NEIGHBOR_PEER);
    w_add(w, "routes", "{'router': 'prov', 'dst': '10.1.0.0/24', 'next_hop_port': 'prov-t',"
                       " 'next_hop_gateway': '100.64.0.2'}");
    w_add(w, "chains", "{'name': 'f'}");
    w_add(w, "chains", "{'name': 'g'}");
    w_add(w, "port_groups", "{'name': 'lan-side', 'ports': ['t-lan']}");
    w_add(w, "port_groups", "{'name': 'up-side', 'ports': ['t-up']}");
    w_add(w, "port_groups", "{'name': 'elsewhere', 'ports': ['uplink', 'vm2']}");
    w_add(w, "ip_groups", "{'name': 'vm1-only', 'addresses': ['10.1.0.10']}");
    w_add(w, "ip_groups", "{'name': 'vm2-only', 'addresses': ['10.1.0.11', '10.1.0.12']}");
    w_add(w, "ip_groups", "{'name': 'dns', 'addresses': ['8.8.4.4', '8.8.8.8', '9.9.9.9']}");
    w_set(w, "routers", "tr", "outbound_filter", "'f'");
}

static struct sim_pkt out_pkt(void)
{
    struct sim_pkt p = pkt_tcp(MAC_VM1, MAC_T_LAN, "10.1.0.10", 40000, "8.8.8.8", 80);

    p.tos = 0x10;
    return p;
}

/* Does a drop rule with condition 'cond' ("'field': value") in 'f' match p
 * sent by vm1? 'inv' adds inv_<name>. */
static bool matches(const char *name, const char *cond, bool inv, const struct sim_pkt *p)
{
    struct world w;
    char rule[512];
    bool dropped;

    chain_world(&w);
    snprintf(rule, sizeof(rule), "{'chain': 'f', 'action': 'drop', %s%s%s%s}", cond, inv ? ", 'inv_" : "",
             inv ? name : "", inv ? "': true" : "");
    w_add(&w, "rules", rule);
    w_load(&w);
    w_sim(&w, "vm1", p, 10);
    dropped = w.r.verdict == SIM_DROP;
    if (dropped)
        assert_string_equal(w.r.drop_reason, "rule drop");
    else
        expect_verdict(&w, SIM_FORWARD);
    w_free(&w);
    return dropped;
}

/* cond_a matches pa, cond_b does not match pb; inverted, the opposite. */
static void check(const char *name, const char *cond_a, const struct sim_pkt *pa, const char *cond_b,
                  const struct sim_pkt *pb)
{
    if (!matches(name, cond_a, false, pa))
        fail_msg("%s: {%s} should match", name, cond_a);
    if (matches(name, cond_b, false, pb))
        fail_msg("%s: {%s} should not match", name, cond_b);
    if (matches(name, cond_a, true, pa))
        fail_msg("%s: inverted {%s} should not match", name, cond_a);
    if (!matches(name, cond_b, true, pb))
        fail_msg("%s: inverted {%s} should match", name, cond_b);
}

static void check_conds(const char *name, const char *yes, const char *no)
{
    struct sim_pkt p = out_pkt();

    check(name, yes, &p, no, &p);
}

static void check_pkts(const char *name, const char *cond, const struct sim_pkt *yes, const struct sim_pkt *no)
{
    check(name, cond, yes, cond, no);
}

/* --- conditions ------------------------------------------------------------------ */

static void test_chain_in_ports_condition_and_inversion(void **state)
{
    (void)state;
    check_conds("in_ports", "'in_ports': ['t-lan']", "'in_ports': ['t-up', 'uplink']");
}

static void test_chain_out_ports_condition_and_inversion(void **state)
{
    (void)state;
    check_conds("out_ports", "'out_ports': ['vm2', 't-up']", "'out_ports': ['t-lan']");
}

static void test_chain_port_group_matches_in_or_out_port_and_inversion(void **state)
{
    (void)state;
    check_conds("port_group", "'port_group': 'lan-side'", "'port_group': 'elsewhere'");
    check_conds("port_group", "'port_group': 'up-side'", "'port_group': 'elsewhere'");
}

static void test_chain_in_port_group_condition_and_inversion(void **state)
{
    (void)state;
    check_conds("in_port_group", "'in_port_group': 'lan-side'", "'in_port_group': 'up-side'");
}

static void test_chain_out_port_group_condition_and_inversion(void **state)
{
    (void)state;
    check_conds("out_port_group", "'out_port_group': 'up-side'", "'out_port_group': 'lan-side'");
}

static void test_chain_ip_group_src_condition_and_inversion(void **state)
{
    (void)state;
    check_conds("ip_group_src", "'ip_group_src': 'vm1-only'", "'ip_group_src': 'vm2-only'");
}

static void test_chain_ip_group_dst_condition_and_inversion(void **state)
{
    (void)state;
    check_conds("ip_group_dst", "'ip_group_dst': 'dns'", "'ip_group_dst': 'vm1-only'");
}

static void test_chain_eth_type_condition_and_inversion(void **state)
{
    (void)state;
    check_conds("eth_type", "'eth_type': 2048", "'eth_type': 2054");
}

static void test_chain_eth_src_condition_with_mask_and_inversion(void **state)
{
    (void)state;
    check_conds("eth_src", "'eth_src': '" MAC_VM1 "'", "'eth_src': '" MAC_VM2 "'");
    check_conds("eth_src", "'eth_src': '02:30:00:ff:ff:ff', 'eth_src_mask': 'ff:ff:ff:00:00:00'",
                "'eth_src': '02:31:00:00:00:0a', 'eth_src_mask': 'ff:ff:ff:00:00:00'");
}

static void test_chain_eth_dst_condition_with_mask_and_inversion(void **state)
{
    (void)state;
    check_conds("eth_dst", "'eth_dst': '" MAC_T_LAN "'", "'eth_dst': '" MAC_T_UP "'");
    check_conds("eth_dst", "'eth_dst': '00:00:00:00:00:02', 'eth_dst_mask': '00:00:00:00:00:ff'",
                "'eth_dst': '00:00:00:00:00:01', 'eth_dst_mask': '00:00:00:00:00:ff'");
}

static void test_chain_nw_src_condition_and_inversion(void **state)
{
    (void)state;
    check_conds("nw_src", "'nw_src': '10.1.0.0/24'", "'nw_src': '10.2.0.0/16'");
    check_conds("nw_src", "'nw_src': '10.1.0.10/32'", "'nw_src': '10.1.0.11/32'");
}

static void test_chain_nw_dst_condition_and_inversion(void **state)
{
    (void)state;
    check_conds("nw_dst", "'nw_dst': '8.8.8.0/24'", "'nw_dst': '8.8.4.0/24'");
    check_conds("nw_dst", "'nw_dst': '0.0.0.0/0'", "'nw_dst': '9.0.0.0/8'");
}

static void test_chain_nw_proto_condition_and_inversion(void **state)
{
    (void)state;
    check_conds("nw_proto", "'nw_proto': 6", "'nw_proto': 17");
}

static void test_chain_nw_tos_condition_and_inversion(void **state)
{
    (void)state;
    check_conds("nw_tos", "'nw_tos': 16", "'nw_tos': 8");
}

static void test_chain_tp_src_range_condition_and_inversion(void **state)
{
    (void)state;
    check_conds("tp_src", "'tp_src': [40000, 40010]", "'tp_src': [1, 1024]");
    check_conds("tp_src", "'tp_src': [40000, 40000]", "'tp_src': [40001, 65535]");
}

static void test_chain_tp_dst_range_condition_and_inversion(void **state)
{
    (void)state;
    check_conds("tp_dst", "'tp_dst': [80, 80]", "'tp_dst': [443, 443]");
}

static void test_chain_tp_conditions_match_icmp_type_and_code(void **state)
{
    (void)state;
    struct sim_pkt ping = pkt_ping(MAC_VM1, MAC_T_LAN, "10.1.0.10", "8.8.8.8", 5);
    struct sim_pkt tcp = out_pkt();

    check_pkts("tp_src", "'tp_src': [8, 8]", &ping, &tcp);
}

static void test_chain_tp_conditions_never_match_later_fragments_even_inverted(void **state)
{
    (void)state;
    struct sim_pkt p = out_pkt();

    p.fragment = SIM_PKT_FRAG_LATER;
    assert_false(matches("tp_dst", "'tp_dst': [80, 80]", false, &p));
    assert_false(matches("tp_dst", "'tp_dst': [80, 80]", true, &p));
}

static void test_chain_fragment_policies(void **state)
{
    (void)state;
    struct sim_pkt none = out_pkt(), first = out_pkt(), later = out_pkt();

    first.fragment = SIM_PKT_FRAG_FIRST;
    later.fragment = SIM_PKT_FRAG_LATER;
    assert_true(matches("", "'fragment_policy': 'any'", false, &none));
    assert_true(matches("", "'fragment_policy': 'any'", false, &later));
    assert_true(matches("", "'fragment_policy': 'header'", false, &none));
    assert_true(matches("", "'fragment_policy': 'header'", false, &first));
    assert_false(matches("", "'fragment_policy': 'header'", false, &later));
    assert_false(matches("", "'fragment_policy': 'nonheader'", false, &none));
    assert_false(matches("", "'fragment_policy': 'nonheader'", false, &first));
    assert_true(matches("", "'fragment_policy': 'nonheader'", false, &later));
    assert_true(matches("", "'fragment_policy': 'unfragmented'", false, &none));
    assert_false(matches("", "'fragment_policy': 'unfragmented'", false, &first));
    assert_false(matches("", "'fragment_policy': 'unfragmented'", false, &later));
}

static void test_chain_all_conditions_of_a_rule_must_hold(void **state)
{
    (void)state;
    struct sim_pkt p = out_pkt();

    assert_true(matches("nw_proto", "'nw_src': '10.1.0.0/24', 'nw_proto': 6", false, &p));
    assert_false(matches("nw_proto", "'nw_src': '10.1.0.0/24', 'nw_proto': 17", false, &p));
    /* inv_ applies to its own condition only */
    assert_true(matches("nw_proto", "'nw_src': '10.1.0.0/24', 'nw_proto': 17", true, &p));
    assert_false(matches("nw_proto", "'nw_src': '10.2.0.0/24', 'nw_proto': 17", true, &p));
}

/* Forward flow / return flow: conntrack at the zone of the evaluating
 * device. The rule only looks at traffic from the outside (in t-up). */
static void ct_world(struct world *w, const char *cond)
{
    char rule[256];

    chain_world(w);
    snprintf(rule, sizeof(rule), "{'chain': 'f', 'action': 'drop', 'in_ports': ['t-up'], %s}", cond);
    w_add(w, "rules", rule);
    w_load(w);
}

static struct sim_pkt reply_pkt(void)
{
    return pkt_tcp(MAC_PEER, MAC_UPLINK, "8.8.8.8", 80, "10.1.0.10", 40000);
}

static void test_chain_match_forward_flow_condition_and_inversion(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt out = out_pkt(), back = reply_pkt(), fresh = reply_pkt();

    fresh.src_port = 81;
    ct_world(&w, "'match_forward_flow': true");
    w_sim(&w, "uplink", &fresh, 10);
    expect_drop(&w, "rule drop");          /* a new flow from outside */
    w_sim(&w, "vm1", &out, 11);
    expect_verdict(&w, SIM_FORWARD);
    assert_int_equal(w.r.n_new_state, 1);  /* committed: the chain tells flows apart */
    w_sim(&w, "uplink", &back, 12);
    expect_verdict(&w, SIM_FORWARD);       /* a return flow: not a forward one */
    w_free(&w);

    ct_world(&w, "'match_forward_flow': true, 'inv_match_forward_flow': true");
    w_sim(&w, "uplink", &fresh, 10);
    expect_verdict(&w, SIM_FORWARD);
    w_sim(&w, "vm1", &out, 11);
    w_sim(&w, "uplink", &back, 12);
    expect_drop(&w, "rule drop");
    w_free(&w);
}

static void test_chain_match_return_flow_condition_and_inversion(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt out = out_pkt(), back = reply_pkt(), fresh = reply_pkt();

    fresh.src_port = 81;
    ct_world(&w, "'match_return_flow': true");
    w_sim(&w, "uplink", &fresh, 10);
    expect_verdict(&w, SIM_FORWARD);
    w_sim(&w, "vm1", &out, 11);
    w_sim(&w, "uplink", &back, 12);
    expect_drop(&w, "rule drop");
    w_free(&w);

    ct_world(&w, "'match_return_flow': true, 'inv_match_return_flow': true");
    w_sim(&w, "uplink", &fresh, 10);
    expect_drop(&w, "rule drop");
    w_sim(&w, "vm1", &out, 11);
    w_sim(&w, "uplink", &back, 12);
    expect_verdict(&w, SIM_FORWARD);
    w_free(&w);
}

static void test_chain_stateful_firewall_lets_only_return_traffic_in(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt out = out_pkt(), back = reply_pkt(), other = reply_pkt();
    struct sim_pkt err = pkt_ip(MAC_PEER, MAC_UPLINK, "192.0.2.1", "10.1.0.10", 1);

    other.ip_src = ip("9.9.9.9");
    err.icmp_type = 3;
    err.icmp_code = 4;
    err.has_embedded = true;
    err.embedded.ip_src = ip("10.1.0.10");
    err.embedded.ip_dst = ip("8.8.8.8");
    err.embedded.proto = 6;
    err.embedded.src_port = 40000;
    err.embedded.dst_port = 80;

    chain_world(&w);
    w_set(&w, "routers", "tr", "outbound_filter", "null");
    w_set(&w, "routers", "tr", "inbound_filter", "'f'");
    w_add(&w, "rules", "{'chain': 'f', 'position': 1, 'action': 'accept', 'match_return_flow': true}");
    w_add(&w, "rules", "{'chain': 'f', 'position': 2, 'action': 'drop', 'in_ports': ['t-up']}");
    w_load(&w);

    w_sim(&w, "uplink", &back, 10);
    expect_drop(&w, "rule drop");          /* nothing went out yet */
    w_sim(&w, "uplink", &err, 10);
    expect_drop(&w, "rule drop");          /* an error about nothing we sent */
    w_sim(&w, "vm1", &out, 11);
    expect_verdict(&w, SIM_FORWARD);
    assert_int_equal(w.r.n_new_state, 1);
    w_sim(&w, "vm1", &out, 11);
    assert_int_equal(w.r.n_new_state, 0);  /* already known */
    w_sim(&w, "uplink", &back, 12);
    expect_verdict(&w, SIM_FORWARD);
    assert_non_null(w_out(&w, "vm1"));
    w_sim(&w, "uplink", &err, 12);
    expect_verdict(&w, SIM_FORWARD);       /* related: an error about our flow */
    w_sim(&w, "uplink", &other, 13);
    expect_drop(&w, "rule drop");
    w_free(&w);
}

static void test_chain_dropped_forward_flow_is_not_committed(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt out = out_pkt(), back = reply_pkt();

    chain_world(&w);
    w_set(&w, "routers", "tr", "outbound_filter", "null");
    w_set(&w, "routers", "tr", "inbound_filter", "'f'");
    w_set(&w, "ports", "t-up", "outbound_filter", "'g'");
    w_add(&w, "rules", "{'chain': 'f', 'position': 1, 'action': 'accept', 'match_return_flow': true}");
    w_add(&w, "rules", "{'chain': 'f', 'position': 2, 'action': 'drop', 'in_ports': ['t-up']}");
    w_add(&w, "rules", "{'chain': 'g', 'action': 'drop', 'nw_dst': '8.8.8.8/32'}");
    w_load(&w);
    w_sim(&w, "vm1", &out, 11);
    expect_drop(&w, "rule drop");
    assert_int_equal(w.r.n_new_state, 0);
    w_sim(&w, "uplink", &back, 12);
    expect_drop(&w, "rule drop");
    w_free(&w);
}

/* --- actions ------------------------------------------------------------------------ */

static void actions_world(struct world *w, const char *const *rules, size_t n)
{
    chain_world(w);
    for (size_t i = 0; i < n; i++)
        w_add(w, "rules", rules[i]);
    w_load(w);
    w->r.trace = true;
}

static void test_chain_accept_stops_evaluation(void **state)
{
    (void)state;
    static const char *const rules[] = {
        "{'chain': 'f', 'position': 1, 'action': 'accept', 'nw_src': '10.1.0.0/24'}",
        "{'chain': 'f', 'position': 2, 'action': 'drop'}",
    };
    struct world w;
    struct sim_pkt p = out_pkt();

    actions_world(&w, rules, 2);
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_FORWARD);
    assert_int_equal(w.r.hops[1].n_rules, 1);
    assert_int_equal(w.r.hops[1].rules[0].action, SIM_ACT_ACCEPT);
    struct sim_id f = w_id(&w, SIM_RES_CHAIN, "f");
    assert_memory_equal(&w.r.hops[1].rules[0].chain, &f, sizeof(f));
    w_free(&w);
}

static void test_chain_drop_drops_with_reason(void **state)
{
    (void)state;
    static const char *const rules[] = {"{'chain': 'f', 'action': 'drop', 'nw_dst': '8.8.8.8/32'}"};
    struct world w;
    struct sim_pkt p = out_pkt();

    actions_world(&w, rules, 1);
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "rule drop");
    assert_true(w_has_tag_of(&w, SIM_TAG_CHAIN, SIM_RES_CHAIN, "f", 0));
    w_free(&w);
}

static void test_chain_reject_at_a_router_answers_admin_prohibited(void **state)
{
    (void)state;
    static const char *const rules[] = {"{'chain': 'f', 'action': 'reject'}"};
    struct world w;
    struct sim_pkt p = out_pkt();
    const struct sim_output *o;

    actions_world(&w, rules, 1);
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_REPLY);
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.icmp_type, 3);
    assert_int_equal(o->pkt.icmp_code, 13);
    assert_int_equal(o->pkt.ip_src, ip("10.1.0.1"));
    assert_int_equal(o->pkt.embedded.ip_dst, ip("8.8.8.8"));
    w_free(&w);
}

static void test_chain_reject_at_a_bridge_drops(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_udp(MAC_VM1, MAC_VM2, "10.1.0.10", 5000, "10.1.0.11", 53);

    chain_world(&w);
    w_set(&w, "bridges", "br", "inbound_filter", "'g'");
    w_add(&w, "rules", "{'chain': 'g', 'action': 'reject'}");
    w_load(&w);
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "rule reject");
    w_free(&w);
}

static void test_chain_continue_goes_on_to_the_next_rule(void **state)
{
    (void)state;
    static const char *const rules[] = {
        "{'chain': 'f', 'position': 1, 'action': 'continue'}",
        "{'chain': 'f', 'position': 2, 'action': 'drop'}",
    };
    struct world w;
    struct sim_pkt p = out_pkt();

    actions_world(&w, rules, 2);
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "rule drop");
    assert_int_equal(w.r.hops[1].n_rules, 2);
    assert_int_equal(w.r.hops[1].rules[0].action, SIM_ACT_CONTINUE);
    assert_int_equal(w.r.hops[1].rules[1].action, SIM_ACT_DROP);
    w_free(&w);
}

static void test_chain_jump_evaluates_the_other_chain_and_comes_back(void **state)
{
    (void)state;
    static const char *const rules[] = {
        "{'chain': 'f', 'position': 1, 'action': 'jump', 'jump_chain': 'g'}",
        "{'chain': 'f', 'position': 2, 'action': 'drop'}",
        "{'chain': 'g', 'action': 'accept', 'nw_dst': '8.8.8.8/32'}",
    };
    struct world w;
    struct sim_pkt p = out_pkt();

    actions_world(&w, rules, 3);
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_FORWARD);          /* accepted inside g */
    assert_true(w_has_tag_of(&w, SIM_TAG_CHAIN, SIM_RES_CHAIN, "g", 0));
    p.ip_dst = ip("8.8.4.4");
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "rule drop");             /* g ended: back in f, rule 2 */
    w_free(&w);
}

static void test_chain_return_leaves_the_jumped_chain(void **state)
{
    (void)state;
    static const char *const rules[] = {
        "{'chain': 'f', 'position': 1, 'action': 'jump', 'jump_chain': 'g'}",
        "{'chain': 'f', 'position': 2, 'action': 'drop'}",
        "{'chain': 'g', 'position': 1, 'action': 'return', 'nw_proto': 6}",
        "{'chain': 'g', 'position': 2, 'action': 'accept'}",
    };
    struct world w;
    struct sim_pkt tcp = out_pkt(), udp = pkt_udp(MAC_VM1, MAC_T_LAN, "10.1.0.10", 5, "8.8.8.8", 53);

    actions_world(&w, rules, 4);
    w_sim(&w, "vm1", &tcp, 10);
    expect_drop(&w, "rule drop");
    w_sim(&w, "vm1", &udp, 10);
    expect_verdict(&w, SIM_FORWARD);
    w_free(&w);
}

static void test_chain_return_from_the_top_chain_accepts(void **state)
{
    (void)state;
    static const char *const rules[] = {
        "{'chain': 'f', 'position': 1, 'action': 'return'}",
        "{'chain': 'f', 'position': 2, 'action': 'drop'}",
    };
    struct world w;
    struct sim_pkt p = out_pkt();

    actions_world(&w, rules, 2);
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_FORWARD);
    w_free(&w);
}

static void test_chain_jump_loop_drops_chain_loop(void **state)
{
    (void)state;
    static const char *const self[] = {"{'chain': 'f', 'action': 'jump', 'jump_chain': 'f'}"};
    static const char *const fan[] = {
        "{'chain': 'f', 'position': 1, 'action': 'jump', 'jump_chain': 'f'}",
        "{'chain': 'f', 'position': 2, 'action': 'jump', 'jump_chain': 'f'}",
    };
    struct world w;
    struct sim_pkt p = out_pkt();

    actions_world(&w, self, 1);
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "chain loop");
    w_free(&w);
    /* Two self-jumps per level would be 2^16 evaluations: cut early. */
    actions_world(&w, fan, 2);
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "chain loop");
    w_free(&w);
}

static void test_chain_end_of_chain_accepts(void **state)
{
    (void)state;
    static const char *const rules[] = {"{'chain': 'f', 'action': 'drop', 'nw_proto': 17}"};
    struct world w;
    struct sim_pkt p = out_pkt();

    actions_world(&w, rules, 1);
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_FORWARD);
    /* A rule that did not match is still something the answer depends on. */
    assert_true(w_has_tag(&w, SIM_TAG_RULE, &((struct sim_obj *)w.t->objs[SIM_RES_RULE][0])->id, 0));
    w_free(&w);
}

static void test_chain_dnat_with_port_range_and_rev_dnat_back(void **state)
{
    (void)state;
    static const char *const rules[] = {
        "{'chain': 'g', 'action': 'dnat', 'nw_dst': '100.64.0.2/32', 'tp_dst': [80, 80],"
        " 'nat_targets': [{'address_from': '10.1.0.11', 'address_to': '10.1.0.11', 'port_from': 8080,"
        " 'port_to': 8080}]}",
        "{'chain': 'f', 'action': 'rev_dnat', 'nw_src': '10.1.0.11/32'}",
    };
    struct world w;
    struct sim_pkt in = pkt_tcp(MAC_PEER, MAC_UPLINK, "203.0.113.7", 5555, "100.64.0.2", 80);
    struct sim_pkt back = pkt_tcp(MAC_VM2, MAC_T_LAN, "10.1.0.11", 8080, "203.0.113.7", 5555);
    const struct sim_output *o;

    chain_world(&w);
    w_set(&w, "routers", "tr", "inbound_filter", "'g'");
    for (int i = 0; i < 2; i++)
        w_add(&w, "rules", rules[i]);
    w_load(&w);
    w.r.trace = true;
    w_sim(&w, "uplink", &in, 10);
    expect_verdict(&w, SIM_FORWARD);
    o = w_out(&w, "vm2");
    assert_non_null(o);
    assert_int_equal(o->pkt.ip_dst, ip("10.1.0.11"));
    assert_int_equal(o->pkt.dst_port, 8080);
    assert_int_equal(o->pkt.ip_src, ip("203.0.113.7"));
    assert_true(w_note(&w, "dnat 100.64.0.2:80 -> 10.1.0.11:8080"));
    assert_int_equal(w.r.n_new_state, 1);

    w_sim(&w, "vm2", &back, 11);
    expect_verdict(&w, SIM_FORWARD);
    o = w_out(&w, "uplink");
    assert_non_null(o);
    assert_int_equal(o->pkt.ip_src, ip("100.64.0.2"));
    assert_int_equal(o->pkt.src_port, 80);
    assert_true(w_note(&w, "rev_dnat 10.1.0.11:8080 -> 100.64.0.2:80"));
    w_free(&w);
}

static void test_chain_reverse_nat_without_a_binding_is_a_no_op(void **state)
{
    (void)state;
    static const char *const rules[] = {
        "{'chain': 'f', 'position': 1, 'action': 'rev_snat'}",
        "{'chain': 'f', 'position': 2, 'action': 'rev_dnat'}",
        "{'chain': 'f', 'position': 3, 'action': 'drop', 'nw_dst': '8.8.8.8/32'}",
    };
    struct world w;
    struct sim_pkt p = out_pkt();

    actions_world(&w, rules, 3);
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "rule drop");
    assert_int_equal(w.r.hops[1].n_rules, 3);
    w_free(&w);
}

static void test_chain_static_snat_and_rev_snat_map_by_offset_and_keep_ports(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt out = out_pkt(), in = pkt_tcp(MAC_PEER, MAC_UPLINK, "8.8.8.8", 80, "198.51.100.11", 443);
    const struct sim_output *o;

    chain_world(&w);
    w_set(&w, "routers", "tr", "inbound_filter", "'g'");
    w_add(&w, "routes", "{'router': 'prov', 'dst': '198.51.100.0/24', 'next_hop_port': 'prov-t',"
                        " 'next_hop_gateway': '100.64.0.2'}");
    w_add(&w, "rules", "{'chain': 'f', 'action': 'snat', 'nw_src': '10.1.0.0/24', 'nat_targets':"
                       " [{'address_from': '198.51.100.0', 'address_to': '198.51.100.255'}]}");
    w_add(&w, "rules", "{'chain': 'g', 'action': 'rev_snat', 'nw_dst': '198.51.100.0/24', 'nat_targets':"
                       " [{'address_from': '10.1.0.0', 'address_to': '10.1.0.255'}]}");
    w_load(&w);
    w_sim(&w, "vm1", &out, 10);
    expect_verdict(&w, SIM_FORWARD);
    o = w_out(&w, "uplink");
    assert_int_equal(o->pkt.ip_src, ip("198.51.100.10"));
    assert_int_equal(o->pkt.src_port, 40000);
    assert_int_equal(w.r.n_new_state, 0);   /* stateless */

    w_sim(&w, "uplink", &in, 11);
    expect_verdict(&w, SIM_FORWARD);
    o = w_out(&w, "vm2");
    assert_non_null(o);
    assert_int_equal(o->pkt.ip_dst, ip("10.1.0.11"));
    assert_int_equal(o->pkt.dst_port, 443);
    w_free(&w);
}

static void test_chain_static_dnat_and_rev_dnat(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt in = pkt_tcp(MAC_PEER, MAC_UPLINK, "203.0.113.7", 5555, "198.51.100.10", 22);
    struct sim_pkt back = pkt_tcp(MAC_VM1, MAC_T_LAN, "10.1.0.10", 22, "203.0.113.7", 5555);
    const struct sim_output *o;

    chain_world(&w);
    w_set(&w, "routers", "tr", "inbound_filter", "'g'");
    w_add(&w, "routes", "{'router': 'prov', 'dst': '198.51.100.0/24', 'next_hop_port': 'prov-t',"
                        " 'next_hop_gateway': '100.64.0.2'}");
    w_add(&w, "rules", "{'chain': 'g', 'action': 'dnat', 'nw_dst': '198.51.100.0/24', 'nat_targets':"
                       " [{'address_from': '10.1.0.0', 'address_to': '10.1.0.255'}]}");
    w_add(&w, "rules", "{'chain': 'f', 'action': 'rev_dnat', 'nw_src': '10.1.0.0/24', 'nat_targets':"
                       " [{'address_from': '198.51.100.0', 'address_to': '198.51.100.255'}]}");
    w_load(&w);
    w_sim(&w, "uplink", &in, 10);
    o = w_out(&w, "vm1");
    assert_non_null(o);
    assert_int_equal(o->pkt.ip_dst, ip("10.1.0.10"));
    assert_int_equal(o->pkt.dst_port, 22);
    w_sim(&w, "vm1", &back, 11);
    o = w_out(&w, "uplink");
    assert_non_null(o);
    assert_int_equal(o->pkt.ip_src, ip("198.51.100.10"));
    w_free(&w);
}

/* --- where chains attach ------------------------------------------------------------------ */

static void test_chain_port_filters_apply_on_entering_and_leaving(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = pkt_udp(MAC_VM1, MAC_VM2, "10.1.0.10", 5000, "10.1.0.11", 53);

    chain_world(&w);
    w_set(&w, "ports", "vm1", "inbound_filter", "'g'");
    w_add(&w, "rules", "{'chain': 'g', 'action': 'drop', 'tp_dst': [53, 53]}");
    w_load(&w);
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "rule drop");
    w_free(&w);

    chain_world(&w);
    w_set(&w, "ports", "vm2", "outbound_filter", "'g'");
    w_add(&w, "rules", "{'chain': 'g', 'action': 'drop', 'out_ports': ['vm2'], 'in_ports': ['vm1']}");
    w_load(&w);
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "rule drop");
    p.eth_dst[5] = 0x0a;   /* to vm1 itself from vm2: the filter is on vm2's way out only */
    p.eth_src[5] = 0x0b;
    w_sim(&w, "vm2", &p, 10);
    expect_verdict(&w, SIM_FORWARD);
    w_free(&w);
}

static void test_chain_router_port_inbound_filter_runs_before_the_router_filter(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = out_pkt();

    chain_world(&w);
    w_set(&w, "ports", "t-lan", "inbound_filter", "'g'");
    w_set(&w, "routers", "tr", "inbound_filter", "'f'");
    w_set(&w, "routers", "tr", "outbound_filter", "null");
    w_add(&w, "rules", "{'chain': 'g', 'action': 'accept'}");
    w_add(&w, "rules", "{'chain': 'f', 'action': 'drop'}");
    w_load(&w);
    w.r.trace = true;
    w_sim(&w, "vm1", &p, 10);
    expect_drop(&w, "rule drop");
    assert_int_equal(w.r.hops[1].n_rules, 2);
    assert_int_equal(w.r.hops[1].rules[0].action, SIM_ACT_ACCEPT);
    assert_int_equal(w.r.hops[1].rules[1].action, SIM_ACT_DROP);
    w_free(&w);
}

static void test_chain_group_conditions_tag_the_groups(void **state)
{
    (void)state;
    struct world w;
    struct sim_pkt p = out_pkt();

    chain_world(&w);
    w_add(&w, "rules", "{'chain': 'f', 'action': 'drop', 'ip_group_dst': 'dns', 'in_port_group': 'up-side'}");
    w_load(&w);
    w_sim(&w, "vm1", &p, 10);
    expect_verdict(&w, SIM_FORWARD);
    assert_true(w_has_tag_of(&w, SIM_TAG_GROUP, SIM_RES_PORT_GROUP, "up-side", 0));
    w_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_in_ports_condition_and_inversion),
        cmocka_unit_test(test_chain_out_ports_condition_and_inversion),
        cmocka_unit_test(test_chain_port_group_matches_in_or_out_port_and_inversion),
        cmocka_unit_test(test_chain_in_port_group_condition_and_inversion),
        cmocka_unit_test(test_chain_out_port_group_condition_and_inversion),
        cmocka_unit_test(test_chain_ip_group_src_condition_and_inversion),
        cmocka_unit_test(test_chain_ip_group_dst_condition_and_inversion),
        cmocka_unit_test(test_chain_eth_type_condition_and_inversion),
        cmocka_unit_test(test_chain_eth_src_condition_with_mask_and_inversion),
        cmocka_unit_test(test_chain_eth_dst_condition_with_mask_and_inversion),
        cmocka_unit_test(test_chain_nw_src_condition_and_inversion),
        cmocka_unit_test(test_chain_nw_dst_condition_and_inversion),
        cmocka_unit_test(test_chain_nw_proto_condition_and_inversion),
        cmocka_unit_test(test_chain_nw_tos_condition_and_inversion),
        cmocka_unit_test(test_chain_tp_src_range_condition_and_inversion),
        cmocka_unit_test(test_chain_tp_dst_range_condition_and_inversion),
        cmocka_unit_test(test_chain_tp_conditions_match_icmp_type_and_code),
        cmocka_unit_test(test_chain_tp_conditions_never_match_later_fragments_even_inverted),
        cmocka_unit_test(test_chain_fragment_policies),
        cmocka_unit_test(test_chain_all_conditions_of_a_rule_must_hold),
        cmocka_unit_test(test_chain_match_forward_flow_condition_and_inversion),
        cmocka_unit_test(test_chain_match_return_flow_condition_and_inversion),
        cmocka_unit_test(test_chain_stateful_firewall_lets_only_return_traffic_in),
        cmocka_unit_test(test_chain_dropped_forward_flow_is_not_committed),
        cmocka_unit_test(test_chain_accept_stops_evaluation),
        cmocka_unit_test(test_chain_drop_drops_with_reason),
        cmocka_unit_test(test_chain_reject_at_a_router_answers_admin_prohibited),
        cmocka_unit_test(test_chain_reject_at_a_bridge_drops),
        cmocka_unit_test(test_chain_continue_goes_on_to_the_next_rule),
        cmocka_unit_test(test_chain_jump_evaluates_the_other_chain_and_comes_back),
        cmocka_unit_test(test_chain_return_leaves_the_jumped_chain),
        cmocka_unit_test(test_chain_return_from_the_top_chain_accepts),
        cmocka_unit_test(test_chain_jump_loop_drops_chain_loop),
        cmocka_unit_test(test_chain_end_of_chain_accepts),
        cmocka_unit_test(test_chain_dnat_with_port_range_and_rev_dnat_back),
        cmocka_unit_test(test_chain_reverse_nat_without_a_binding_is_a_no_op),
        cmocka_unit_test(test_chain_static_snat_and_rev_snat_map_by_offset_and_keep_ports),
        cmocka_unit_test(test_chain_static_dnat_and_rev_dnat),
        cmocka_unit_test(test_chain_port_filters_apply_on_entering_and_leaving),
        cmocka_unit_test(test_chain_router_port_inbound_filter_runs_before_the_router_filter),
        cmocka_unit_test(test_chain_group_conditions_tag_the_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
