/* The topology model: load, refuse bad documents naming what is wrong,
 * change one resource at a time, keep references and indexes right. */
#include "sim/sim.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static json_t *example(void)
{
    json_t *d = json_load_file("tests/scenarios/one-tenant.json", 0, NULL);
    assert_non_null(d);
    return d;
}

static struct sim_topo *loaded(json_t *doc)
{
    struct sim_topo *t;
    struct sim_error err;
    assert_int_equal(sim_topo_create(&t), 0);
    int rc = sim_topo_load(t, doc, &err);
    if (rc)
        fail_msg("load failed: %s", err.msg);
    return t;
}

static void test_example_loads_and_exports_back_equal(void **state)
{
    (void)state;
    json_t *doc = example(), *exp, *exp2;
    struct sim_topo *t = loaded(doc), *t2;
    struct sim_error err;

    exp = sim_topo_export(t);
    assert_int_equal(json_array_size(json_object_get(exp, "ports")), 6);
    /* Every id of the document is there; load(export) exports the same. */
    const char *k;
    json_t *arr;
    json_object_foreach(doc, k, arr) {
        assert_int_equal(json_array_size(arr), json_array_size(json_object_get(exp, k)));
    }
    assert_int_equal(sim_topo_create(&t2), 0);
    assert_int_equal(sim_topo_load(t2, exp, &err), 0);
    exp2 = sim_topo_export(t2);
    assert_true(json_equal(exp, exp2));
    json_decref(exp);
    json_decref(exp2);
    json_decref(doc);
    sim_topo_destroy(t);
    sim_topo_destroy(t2);
}

/* Load a modified example and expect a refusal mentioning 'want' and 'field'. */
static void expect_refused(void (*mutate)(json_t *), int code, const char *want, const char *field)
{
    json_t *doc = example();
    struct sim_topo *t;
    struct sim_error err;
    json_t *before;

    mutate(doc);
    assert_int_equal(sim_topo_create(&t), 0);
    before = sim_topo_export(t);
    assert_int_equal(sim_topo_load(t, doc, &err), code);
    if (!strstr(err.msg, want))
        fail_msg("message '%s' lacks '%s'", err.msg, want);
    if (field)
        assert_string_equal(err.field, field);
    json_t *after = sim_topo_export(t);
    assert_true(json_equal(before, after));   /* nothing changed */
    json_decref(before);
    json_decref(after);
    json_decref(doc);
    sim_topo_destroy(t);
}

static json_t *port_named(json_t *doc, const char *name)
{
    json_t *p;
    size_t i;
    json_array_foreach(json_object_get(doc, "ports"), i, p) if (!strcmp(json_string_value(json_object_get(p, "name")), name)) return p;
    fail_msg("no port %s", name);
    return NULL;
}

static void m_dangling(json_t *d) { json_object_set_new(port_named(d, "web1"), "device", json_string("r9")); }
static void m_bad_prefix(json_t *d) { json_object_set_new(json_array_get(json_object_get(d, "routes"), 0), "dst", json_string("10.0.0.1/8")); }
static void m_bad_addr(json_t *d) { json_object_set_new(json_array_get(json_object_get(d, "hosts"), 0), "tunnel_ip", json_string("10.0.0.300")); }
static void m_dup_name(json_t *d) { json_object_set_new(json_array_get(json_object_get(d, "routers"), 1), "name", json_string("provider")); }
static void m_dup_id(json_t *d) { json_object_set(json_array_get(json_object_get(d, "chains"), 1), "id", json_object_get(json_array_get(json_object_get(d, "chains"), 0), "id")); }
static void m_two_peers(json_t *d)
{
    /* acme-lan's peer is acme-net-r; point prov-acme (peered with acme-gw) at acme-net-r too. */
    json_object_set(port_named(d, "acme-gw"), "peer", json_object_get(port_named(d, "acme-net-r"), "id"));
}
static void m_exterior_peer(json_t *d) { json_object_set(port_named(d, "web1"), "peer", json_object_get(port_named(d, "acme-lan"), "id")); }
static void m_unknown_field(json_t *d) { json_object_set_new(port_named(d, "web1"), "colour", json_string("red")); }
static void m_bad_mac(json_t *d) { json_object_set_new(port_named(d, "web1"), "mac", json_string("02:30:00:00:00")); }
static void m_wrong_type(json_t *d) { json_object_set_new(json_array_get(json_object_get(d, "bgp_peers"), 0), "peer_asn", json_string("64500")); }
static void m_unknown_type(json_t *d) { json_object_set_new(d, "gizmos", json_array()); }
static void m_router_port_no_addr(json_t *d) { json_object_del(port_named(d, "uplink-a"), "address"); }
static void m_snat_no_targets(json_t *d) { json_object_del(json_array_get(json_object_get(d, "rules"), 0), "nat_targets"); }

static void test_bad_documents_are_refused_naming_resource_and_field(void **state)
{
    (void)state;
    expect_refused(m_dangling, -ENOENT, "ports[5] (web1): device: no router or bridge 'r9'", "device");
    expect_refused(m_bad_prefix, -EINVAL, "dst: bad prefix", "dst");
    expect_refused(m_bad_addr, -EINVAL, "10.0.0.300", "tunnel_ip");
    expect_refused(m_dup_name, -EEXIST, "duplicate name", "name");
    expect_refused(m_dup_id, -EEXIST, "duplicate id", "id");
    expect_refused(m_two_peers, -EINVAL, "linked to another port", "peer");
    expect_refused(m_exterior_peer, -EINVAL, "exterior port", "peer");
    expect_refused(m_unknown_field, -EINVAL, "colour: unknown field", "colour");
    expect_refused(m_bad_mac, -EINVAL, "bad MAC", "mac");
    expect_refused(m_wrong_type, -EINVAL, "peer_asn", "peer_asn");
    expect_refused(m_unknown_type, -EINVAL, "gizmos: unknown resource type", NULL);
    expect_refused(m_router_port_no_addr, -EINVAL, "needs an address", "address");
    expect_refused(m_snat_no_targets, -EINVAL, "nat_targets: required", "nat_targets");
}

static void test_put_patch_del_keep_refcounts_and_refuse_without_change(void **state)
{
    (void)state;
    json_t *doc = example();
    struct sim_topo *t = loaded(doc);
    struct sim_error err;
    struct sim_id chain_id, rid;
    json_t *before, *after, *c;

    /* A chain referenced by a router and a rule cannot go. */
    assert_int_equal(sim_topo_resolve(t, SIM_RES_CHAIN, "acme-pre", &chain_id), 0);
    assert_int_equal(sim_topo_del(t, SIM_RES_CHAIN, &chain_id, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "still referenced by"));
    /* A new chain, renamed by patch, deleted. */
    c = json_pack("{s:s}", "name", "tmp");
    assert_int_equal(sim_topo_put(t, SIM_RES_CHAIN, c, &rid, &err), 0);
    json_decref(c);
    c = json_pack("{s:s}", "name", "tmp2");
    assert_int_equal(sim_topo_patch(t, SIM_RES_CHAIN, &rid, c, &err), 0);
    json_decref(c);
    struct sim_id by_name;
    assert_int_equal(sim_topo_resolve(t, SIM_RES_CHAIN, "tmp2", &by_name), 0);
    assert_memory_equal(&by_name, &rid, sizeof(rid));
    assert_int_equal(sim_topo_resolve(t, SIM_RES_CHAIN, "tmp", &by_name), -ENOENT);
    /* A rule now references it: deleting the chain is refused, then allowed. */
    char ids[37];
    sim_id_format(&rid, ids);
    json_t *rule = json_pack("{s:s, s:s}", "chain", ids, "action", "drop");
    struct sim_id rule_id;
    assert_int_equal(sim_topo_put(t, SIM_RES_RULE, rule, &rule_id, &err), 0);
    json_decref(rule);
    assert_int_equal(sim_topo_del(t, SIM_RES_CHAIN, &rid, &err), -EBUSY);
    assert_int_equal(sim_topo_del(t, SIM_RES_RULE, &rule_id, &err), 0);
    assert_int_equal(sim_topo_del(t, SIM_RES_CHAIN, &rid, &err), 0);
    assert_int_equal(sim_topo_del(t, SIM_RES_CHAIN, &rid, &err), -ENOENT);
    /* A refused put changes nothing. */
    before = sim_topo_export(t);
    c = json_pack("{s:s, s:s}", "name", "bad", "device", "nowhere");
    assert_int_equal(sim_topo_put(t, SIM_RES_PORT, c, NULL, &err), -ENOENT);
    json_decref(c);
    c = json_pack("{s:s}", "name", "provider");
    assert_int_equal(sim_topo_put(t, SIM_RES_ROUTER, c, NULL, &err), -EEXIST);
    json_decref(c);
    after = sim_topo_export(t);
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);
    json_decref(doc);
    sim_topo_destroy(t);
}

static void test_deleting_a_port_unlinks_its_peer(void **state)
{
    (void)state;
    json_t *doc = example();
    struct sim_topo *t = loaded(doc);
    struct sim_error err;
    struct sim_id web, lan, br;
    json_t *p;

    /* The bridge's router-facing port is linked both ways after load. */
    assert_int_equal(sim_topo_resolve(t, SIM_RES_PORT, "acme-lan", &lan), 0);
    assert_int_equal(sim_topo_resolve(t, SIM_RES_PORT, "acme-net-r", &br), 0);
    p = sim_topo_get(t, SIM_RES_PORT, &lan);
    char brs[37];
    sim_id_format(&br, brs);
    assert_string_equal(json_string_value(json_object_get(p, "peer")), brs);
    json_decref(p);
    assert_int_equal(sim_topo_del(t, SIM_RES_PORT, &br, &err), 0);
    p = sim_topo_get(t, SIM_RES_PORT, &lan);
    assert_null(json_object_get(p, "peer"));
    json_decref(p);
    /* web1 is referenced by the floating IP: refused. */
    assert_int_equal(sim_topo_resolve(t, SIM_RES_PORT, "web1", &web), 0);
    assert_int_equal(sim_topo_del(t, SIM_RES_PORT, &web, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "floating_ips"));
    json_decref(doc);
    sim_topo_destroy(t);
}

static void test_tunnel_keys_are_unique_and_the_same_on_every_load(void **state)
{
    (void)state;
    json_t *doc = example();
    struct sim_topo *a = loaded(doc), *b;
    json_t *ea = sim_topo_export(a), *p;
    size_t i;
    uint32_t seen[16];

    json_array_foreach(json_object_get(ea, "ports"), i, p) {
        json_int_t k = json_integer_value(json_object_get(p, "tunnel_key"));
        assert_true(k >= 1 && k <= 0xffffff);
        seen[i] = (uint32_t)k;
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(seen[j], seen[i]);
    }
    /* Reversed port order: same keys (derived from ids, not order). */
    json_t *rev = json_deep_copy(doc), *ports = json_array();
    for (size_t j = json_array_size(json_object_get(doc, "ports")); j-- > 0;)
        json_array_append(ports, json_array_get(json_object_get(doc, "ports"), j));
    json_object_set_new(rev, "ports", ports);
    b = loaded(rev);
    struct sim_id id;
    assert_int_equal(sim_topo_resolve(b, SIM_RES_PORT, "web1", &id), 0);
    json_t *pb = sim_topo_get(b, SIM_RES_PORT, &id);
    json_t *pa = sim_topo_get(a, SIM_RES_PORT, &id);
    assert_true(json_equal(json_object_get(pa, "tunnel_key"), json_object_get(pb, "tunnel_key")));
    json_decref(pa);
    json_decref(pb);
    json_decref(rev);
    json_decref(ea);
    json_decref(doc);
    sim_topo_destroy(a);
    sim_topo_destroy(b);
}

static void test_ten_thousand_ports_load(void **state)
{
    (void)state;
    json_t *doc = json_pack("{s:[{s:s}], s:[{s:s, s:s}]}", "bridges", "name", "big", "hosts", "name", "h", "tunnel_ip",
                            "10.0.0.1");
    json_t *ports = json_array();
    for (int i = 0; i < 10000; i++) {
        char name[32], mac[32];
        snprintf(name, sizeof(name), "vm%d", i);
        snprintf(mac, sizeof(mac), "02:00:00:00:%02x:%02x", (i >> 8) & 255, i & 255);
        json_array_append_new(ports, json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "device", "big", "mac", mac,
                                               "host", "h", "interface", name));
    }
    json_object_set_new(doc, "ports", ports);
    struct sim_topo *t = loaded(doc);
    struct sim_id id;
    assert_int_equal(sim_topo_resolve(t, SIM_RES_PORT, "vm9999", &id), 0);
    json_decref(doc);
    sim_topo_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_loads_and_exports_back_equal),
        cmocka_unit_test(test_bad_documents_are_refused_naming_resource_and_field),
        cmocka_unit_test(test_put_patch_del_keep_refcounts_and_refuse_without_change),
        cmocka_unit_test(test_deleting_a_port_unlinks_its_peer),
        cmocka_unit_test(test_tunnel_keys_are_unique_and_the_same_on_every_load),
        cmocka_unit_test(test_ten_thousand_ports_load),
    };
    return cmocka_run_group_tests_name("sim topology", tests, NULL, NULL);
}
