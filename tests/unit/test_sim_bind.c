/* The engine's view of the topology: structs filled from documents, lists
 * that span resources rebuilt on every change. */
#include "sim/sim_impl.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct sim_topo *example(void)
{
    struct sim_topo *t;
    struct sim_error err;
    json_t *d = json_load_file("tests/scenarios/topologies/one-tenant.json", 0, NULL);
    assert_non_null(d);
    assert_int_equal(sim_topo_create(&t), 0);
    assert_int_equal(sim_topo_load(t, d, &err), 0);
    json_decref(d);
    return t;
}

static void *obj(struct sim_topo *t, enum sim_res_type type, const char *ref)
{
    void *o = sim_topo_find_ref(t, type, ref);
    assert_non_null(o);
    return o;
}

static void test_ports_devices_and_hosts_are_bound(void **state)
{
    (void)state;
    struct sim_topo *t = example();
    struct sim_port *web1 = obj(t, SIM_RES_PORT, "web1"), *lan = obj(t, SIM_RES_PORT, "acme-lan");
    struct sim_device *br = obj(t, SIM_RES_BRIDGE, "acme-net"), *acme = obj(t, SIM_RES_ROUTER, "acme");

    assert_ptr_equal(web1->device, br);
    assert_non_null(web1->host);
    assert_int_equal(web1->host->tunnel_ip, 0xac1f000b);   /* 172.31.0.11 */
    assert_true(web1->has_mac);
    assert_int_equal(web1->mac[5], 0x0a);
    assert_int_equal(web1->n_fixed_ips, 1);
    assert_int_equal(web1->fixed_ips[0], 0x0a01000a);
    assert_string_equal(web1->interface, "tap-web1");
    assert_int_equal(lan->addr, 0x0a010001);
    assert_int_equal(lan->plen, 24);
    assert_ptr_equal(lan->peer, obj(t, SIM_RES_PORT, "acme-net-r"));
    assert_ptr_equal(lan->peer->peer, lan);
    assert_int_equal(br->n_ports, 2);
    assert_int_equal(acme->n_ports, 2);
    assert_true(acme->zone != ((struct sim_device *)obj(t, SIM_RES_ROUTER, "provider"))->zone);
    assert_ptr_equal(acme->inbound_filter, obj(t, SIM_RES_CHAIN, "acme-pre"));
    sim_topo_destroy(t);
}

static void test_routes_grouped_by_destination_with_implicit_subnets_and_lpm(void **state)
{
    (void)state;
    struct sim_topo *t = example();
    struct sim_device *acme = obj(t, SIM_RES_ROUTER, "acme");
    uint8_t last = 33;
    int implicit = 0, routes = 0;

    /* 3 explicit routes + 2 implicit ones for its ports' subnets, which
     * share a destination with two explicit ones: 3 groups. */
    assert_int_equal(acme->n_route_groups, 3);
    for (uint32_t i = 0; i < acme->n_route_groups; i++) {
        assert_true(acme->route_groups[i]->dst.len <= last);
        last = acme->route_groups[i]->dst.len;
        uint32_t w = 0;
        for (struct sim_route *r = acme->route_groups[i]; r; r = r->next_same_dst) {
            assert_int_equal(r->dst.addr, acme->route_groups[i]->dst.addr);
            assert_true(r->weight >= w);   /* lowest weight first */
            w = r->weight;
            implicit += r->implicit;
            routes++;
        }
    }
    assert_int_equal(routes, 5);
    assert_int_equal(implicit, 2);
    /* The router's LPM points each destination at its group. */
    uint32_t g = lpm_lookup(acme->routes_lpm, 0x0a010037);   /* 10.1.0.55 */
    assert_int_not_equal(g, LPM_NONE);
    assert_int_equal(acme->route_groups[g]->dst.addr, 0x0a010000);
    assert_true(acme->route_groups[g]->implicit);
    g = lpm_lookup(acme->routes_lpm, 0x08080808);
    assert_int_equal(acme->route_groups[g]->dst.len, 0);
    assert_int_equal(acme->route_groups[g]->next_hop_gateway, 0x64400a01);   /* 100.64.10.1 */
    assert_ptr_equal(acme->route_groups[g]->next_hop_port, obj(t, SIM_RES_PORT, "acme-gw"));
    sim_topo_destroy(t);
}

static void test_rules_chains_and_floating_ips_are_bound(void **state)
{
    (void)state;
    struct sim_topo *t = example();
    struct sim_chain *post = obj(t, SIM_RES_CHAIN, "acme-post");
    struct sim_device *acme = obj(t, SIM_RES_ROUTER, "acme");

    assert_int_equal(post->n_rules, 1);
    struct sim_rule *r = post->rules[0];
    assert_int_equal(r->action, SIM_ACT_SNAT);
    assert_true(r->cond & SIM_C_OUT_PORTS);
    assert_true(r->cond & SIM_C_NW_SRC);
    assert_false(r->cond & SIM_C_NW_DST);
    assert_int_equal(r->n_out_ports, 1);
    assert_int_equal(r->nw_src.addr, 0x0a010000);
    assert_int_equal(r->nw_src.len, 24);
    assert_int_equal(r->n_nat_targets, 1);
    assert_int_equal(r->nat_targets[0].port_from, 1024);
    assert_int_equal(r->nat_targets[0].port_to, 65535);
    /* The floating IP is applied at the tenant router behind its port's bridge. */
    assert_int_equal(acme->n_fips, 1);
    assert_int_equal(acme->fips[0]->addr, 0x64400a32);
    sim_topo_destroy(t);
}

static void test_changes_rebind_and_rebuild_lists(void **state)
{
    (void)state;
    struct sim_topo *t = example();
    struct sim_error err;
    struct sim_chain *post = obj(t, SIM_RES_CHAIN, "acme-post");
    json_t *r = json_pack("{s:s, s:i, s:s, s:i}", "chain", "acme-post", "position", 0 + 1, "action", "accept",
                          "nw_proto", 6);
    struct sim_id id;

    /* A rule at position 1 with another at 1: both kept, order stable. */
    assert_int_equal(sim_topo_put(t, SIM_RES_RULE, r, &id, &err), 0);
    json_decref(r);
    assert_int_equal(post->n_rules, 2);
    json_t *p = json_pack("{s:i}", "position", 5);
    assert_int_equal(sim_topo_patch(t, SIM_RES_RULE, &id, p, &err), 0);
    json_decref(p);
    assert_int_equal(post->rules[1]->position, 5);
    assert_int_equal(post->rules[1]->nw_proto, 6);
    assert_int_equal(sim_topo_del(t, SIM_RES_RULE, &id, &err), 0);
    assert_int_equal(post->n_rules, 1);
    /* Removing the bridge's router-facing port unlinks the router port. */
    struct sim_port *lan = obj(t, SIM_RES_PORT, "acme-lan");
    struct sim_obj *brp = obj(t, SIM_RES_PORT, "acme-net-r");
    assert_int_equal(sim_topo_del(t, SIM_RES_PORT, &brp->id, &err), 0);
    assert_null(lan->peer);
    assert_int_equal(((struct sim_device *)obj(t, SIM_RES_BRIDGE, "acme-net"))->n_ports, 1);
    /* With the bridge unlinked, no router applies the floating IP. */
    assert_int_equal(((struct sim_device *)obj(t, SIM_RES_ROUTER, "acme"))->n_fips, 0);
    sim_topo_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ports_devices_and_hosts_are_bound),
        cmocka_unit_test(test_routes_grouped_by_destination_with_implicit_subnets_and_lpm),
        cmocka_unit_test(test_rules_chains_and_floating_ips_are_bound),
        cmocka_unit_test(test_changes_rebind_and_rebuild_lists),
    };
    return cmocka_run_group_tests_name("sim bind", tests, NULL, NULL);
}
