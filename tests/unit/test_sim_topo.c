/* The topology model: load, refuse bad documents naming what is wrong,
 * change one resource at a time, keep references, indexes and the derived
 * lists (device ports, route tables, implicit routes, floating IPs) right. */
#include "sim/sim_impl.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* Tests run from the repository root (scripts/run-tests.sh, make test). */
#define EXAMPLE "tests/scenarios/topologies/one-tenant.json"

static json_t *example(void)
{
    json_t *d = json_load_file(EXAMPLE, 0, NULL);
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

static struct sim_topo *loaded_example(void)
{
    json_t *d = example();
    struct sim_topo *t = loaded(d);
    json_decref(d);
    return t;
}

static void *obj(struct sim_topo *t, enum sim_res_type type, const char *ref)
{
    void *o = sim_topo_find_ref(t, type, ref);
    if (!o)
        fail_msg("no %s '%s'", sim_res_type_key(type), ref);
    return o;
}

static const char *idstr(const struct sim_id *id, char out[37])
{
    sim_id_format(id, out);
    return out;
}

/* --- a picture of everything derived, to compare an incrementally changed
 * topology with the same document loaded afresh ----------------------------- */

static void fmt_addr(uint32_t a, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static json_t *route_text(const struct sim_route *r)
{
    char id[37], nh[37] = "-", gw[16], src[16], buf[160];

    if (r->next_hop_port)
        idstr(&r->next_hop_port->obj.id, nh);
    fmt_addr(r->next_hop_gateway, gw);
    fmt_addr(r->src.addr, src);
    snprintf(buf, sizeof(buf), "%s src=%s/%u nh=%s gw=%s w=%u t=%d", r->implicit ? "implicit" : idstr(&r->obj.id, id),
             src, r->src.len, nh, gw, r->weight, (int)r->type);
    return json_string(buf);
}

static json_t *id_list(struct sim_obj *const *v, uint32_t n)
{
    json_t *a = json_array();
    char id[37];
    for (uint32_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(idstr(&v[i]->id, id)));
    return a;
}

static json_t *picture(const struct sim_topo *t)
{
    json_t *pic = json_object();
    char id[37];

    for (int ty = 0; ty < SIM_RES_COUNT; ty++)
        for (uint32_t i = 0; i < t->n_objs[ty]; i++) {
            struct sim_obj *o = t->objs[ty][i];
            json_t *e = json_object();
            /* The indexes find it by id and by name. */
            assert_ptr_equal(sim_topo_find(t, o->type, &o->id), o);
            if (o->name[0])
                assert_ptr_equal(sim_topo_find_ref(t, o->type, o->name), o);
            assert_int_equal(o->tidx, i);
            json_object_set_new(e, "refs", json_integer(o->refs));
            if (ty == SIM_RES_PORT) {
                struct sim_port *p = (struct sim_port *)o;
                assert_ptr_equal(sim_topo_port_by_tunnel_key(t, p->tunnel_key), p);
                json_object_set_new(e, "key", json_integer(p->tunnel_key));
                json_object_set_new(e, "peer", json_string(p->peer ? idstr(&p->peer->obj.id, id) : "-"));
                if (p->peer)
                    assert_ptr_equal(p->peer->peer, p);
            }
            if (ty == SIM_RES_HOST) {
                struct sim_host *h = (struct sim_host *)o;
                json_object_set_new(e, "ports", id_list((struct sim_obj *const *)h->ports, h->n_ports));
            }
            if (ty == SIM_RES_CHAIN) {
                struct sim_chain *c = (struct sim_chain *)o;
                json_object_set_new(e, "rules", id_list((struct sim_obj *const *)c->rules, c->n_rules));
            }
            if (ty == SIM_RES_ROUTER || ty == SIM_RES_BRIDGE) {
                struct sim_device *d = (struct sim_device *)o;
                json_t *groups = json_object();
                uint32_t live = 0, implicit = 0;
                json_object_set_new(e, "ports", id_list((struct sim_obj *const *)d->ports, d->n_ports));
                json_object_set_new(e, "fips", id_list((struct sim_obj *const *)d->fips, d->n_fips));
                for (uint32_t k = 0; k < d->n_route_groups; k++) {
                    const struct sim_route *g = d->route_groups[k];
                    char dst[24], a[16];
                    uint32_t slot;
                    if (!g)
                        continue;
                    live++;
                    fmt_addr(g->dst.addr, a);
                    snprintf(dst, sizeof(dst), "%s/%u", a, g->dst.len);
                    assert_int_equal(lpm_get(d->routes_lpm, g->dst.addr, g->dst.len, &slot), 0);
                    assert_int_equal(slot, k);
                    json_t *chain = json_array();
                    for (const struct sim_route *r = g; r; r = r->next_same_dst) {
                        assert_int_equal(r->dst.addr, g->dst.addr);
                        assert_int_equal(r->dst.len, g->dst.len);
                        implicit += r->implicit;
                        json_array_append_new(chain, route_text(r));
                    }
                    json_object_set_new(groups, dst, chain);
                }
                assert_int_equal(live + d->n_free_groups, d->n_route_groups);
                assert_int_equal(d->routes_lpm ? lpm_count(d->routes_lpm) : 0, live);
                assert_int_equal(d->n_implicit, implicit);
                json_object_set_new(e, "routes", groups);
            }
            json_object_set_new(pic, idstr(&o->id, id), e);
        }
    return pic;
}

/* The derived state of 't' is what loading its own export gives. */
static void assert_consistent(const struct sim_topo *t)
{
    json_t *exp = sim_topo_export(t), *a = picture(t), *b;
    struct sim_topo *fresh = loaded(exp);

    b = picture(fresh);
    if (!json_equal(a, b)) {
        char *x = json_dumps(a, JSON_SORT_KEYS | JSON_INDENT(1)), *y = json_dumps(b, JSON_SORT_KEYS | JSON_INDENT(1));
        fprintf(stderr, "incremental:\n%s\nfresh load:\n%s\n", x, y);
        free(x);
        free(y);
        fail_msg("derived state differs from a fresh load of the export");
    }
    json_decref(exp);
    json_decref(a);
    json_decref(b);
    sim_topo_destroy(fresh);
}

/* --- loading and exporting ------------------------------------------------------- */

/* Found by fuzz_sim_trace: a reference longer than any name once read
 * past the name hash's buffer. */
static void test_reference_longer_than_any_name_is_not_found(void **state)
{
    (void)state;
    struct sim_topo *t = loaded_example();
    struct sim_id id;
    char ref[300];

    memset(ref, 'w', sizeof(ref) - 1);
    ref[sizeof(ref) - 1] = 0;
    assert_int_equal(sim_topo_resolve(t, SIM_RES_PORT, ref, &id), -ENOENT);
    assert_int_equal(sim_topo_resolve(t, SIM_RES_PORT, "web1", &id), 0);
    sim_topo_destroy(t);
}

static void test_example_loads_and_exports_back_equal(void **state)
{
    (void)state;
    json_t *doc = example(), *exp, *exp2;
    struct sim_topo *t = loaded(doc), *t2;
    struct sim_error err;

    exp = sim_topo_export(t);
    assert_int_equal(json_array_size(json_object_get(exp, "ports")), 6);
    /* Every resource of the document is there; load(export) exports the same. */
    const char *k;
    json_t *arr;
    json_object_foreach(doc, k, arr) {
        assert_int_equal(json_array_size(arr), json_array_size(json_object_get(exp, k)));
    }
    assert_int_equal(sim_topo_create(&t2), 0);
    assert_int_equal(sim_topo_load(t2, exp, &err), 0);
    exp2 = sim_topo_export(t2);
    assert_true(json_equal(exp, exp2));
    /* No implicit route is exported: the routes are the document's five. */
    assert_int_equal(json_array_size(json_object_get(exp, "routes")), 5);
    assert_consistent(t);
    json_decref(exp);
    json_decref(exp2);
    json_decref(doc);
    sim_topo_destroy(t);
    sim_topo_destroy(t2);
}

static void test_export_of_empty_topology_lists_every_type(void **state)
{
    (void)state;
    struct sim_topo *t;
    assert_int_equal(sim_topo_create(&t), 0);
    json_t *exp = sim_topo_export(t);
    assert_int_equal(json_object_size(exp), SIM_RES_COUNT);
    for (int ty = 0; ty < SIM_RES_COUNT; ty++) {
        json_t *a = json_object_get(exp, sim_res_type_key((enum sim_res_type)ty));
        assert_true(json_is_array(a));
        assert_int_equal(json_array_size(a), 0);
    }
    json_decref(exp);
    sim_topo_destroy(t);
}

static void test_missing_ids_are_generated_as_uuid_v4_and_refs_by_name_resolve(void **state)
{
    (void)state;
    json_t *doc = json_pack("{s:[{s:s}], s:[{s:s, s:s, s:[s]}, {s:s, s:[s]}]}", "bridges", "name", "b", "ports",
                            "name", "p", "device", "b", "fixed_ips", "10.0.0.9", "device", "b", "fixed_ips",
                            "10.0.0.8");
    struct sim_topo *t = loaded(doc), *t2 = loaded(doc);
    struct sim_port *p = obj(t, SIM_RES_PORT, "p");
    struct sim_device *b = obj(t, SIM_RES_BRIDGE, "b");
    char id[37];

    /* named: derived from type and name, the same on every load (every
     * host reading a hand-written document agrees on ids and tunnel keys) */
    assert_false(sim_id_is_zero(&p->obj.id));
    assert_int_equal(p->obj.id.b[6] >> 4, 5);
    assert_int_equal(p->obj.id.b[8] & 0xc0, 0x80);
    struct sim_port *p2 = obj(t2, SIM_RES_PORT, "p");
    assert_memory_equal(&p->obj.id, &p2->obj.id, sizeof(p->obj.id));
    assert_int_equal(p->tunnel_key, p2->tunnel_key);
    /* unnamed: random, version 4 */
    const struct sim_port *u = (const struct sim_port *)t->objs[SIM_RES_PORT][1];
    assert_int_equal(u->obj.id.b[6] >> 4, 4);
    assert_int_equal(u->obj.id.b[8] & 0xc0, 0x80);
    assert_memory_not_equal(&u->obj.id, &t2->objs[SIM_RES_PORT][1]->id, sizeof(u->obj.id));
    sim_topo_destroy(t2);
    assert_ptr_equal(p->device, b);
    /* The export refers by id, not by name. */
    json_t *g = sim_topo_get(t, SIM_RES_PORT, &p->obj.id);
    assert_string_equal(json_string_value(json_object_get(g, "device")), idstr(&b->obj.id, id));
    assert_string_equal(json_string_value(json_object_get(g, "id")), idstr(&p->obj.id, id));
    json_decref(g);
    /* The zone is the id folded to 64 bits. */
    uint64_t lo, hi;
    memcpy(&lo, b->obj.id.b, 8);
    memcpy(&hi, b->obj.id.b + 8, 8);
    assert_true(b->zone == (lo ^ hi));
    json_decref(doc);
    sim_topo_destroy(t);
}

/* --- refusals -------------------------------------------------------------------- */

/* Load a changed example and expect a refusal whose message holds 'want'
 * and names 'field'; the loaded topology stays as it was. */
static void expect_refused(void (*mutate)(json_t *), int code, const char *want, const char *field)
{
    json_t *doc = example(), *good = example();
    struct sim_topo *t = loaded(good);
    struct sim_error err;
    json_t *before, *after;

    mutate(doc);
    before = sim_topo_export(t);
    int rc = sim_topo_load(t, doc, &err);
    if (rc != code)
        fail_msg("load gave %d (%s), wanted %d", rc, err.msg, code);
    assert_int_equal(err.code, code);
    if (!strstr(err.msg, want))
        fail_msg("message '%s' lacks '%s'", err.msg, want);
    if (field)
        assert_string_equal(err.field, field);
    after = sim_topo_export(t);
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);
    json_decref(doc);
    json_decref(good);
    sim_topo_destroy(t);
}

static json_t *named(json_t *doc, const char *type, const char *name)
{
    json_t *p;
    size_t i;
    json_array_foreach(json_object_get(doc, type), i, p) {
        const char *n = json_string_value(json_object_get(p, "name"));
        if (n && !strcmp(n, name))
            return p;
    }
    fail_msg("no %s %s", type, name);
    return NULL;
}

static json_t *port_named(json_t *doc, const char *name)
{
    return named(doc, "ports", name);
}

static json_t *nth(json_t *doc, const char *type, size_t i)
{
    return json_array_get(json_object_get(doc, type), i);
}

static void set(json_t *o, const char *k, json_t *v)
{
    json_object_set_new(o, k, v);
}

static void m_dangling(json_t *d) { set(port_named(d, "web1"), "device", json_string("r9")); }
static void m_dangling_by_name(json_t *d) { set(nth(d, "rules", 0), "chain", json_string("no-such-chain")); }
static void m_bad_prefix(json_t *d) { set(nth(d, "routes", 0), "dst", json_string("10.0.0.1/8")); }
static void m_bad_prefix_len(json_t *d) { set(nth(d, "routes", 0), "dst", json_string("10.0.0.0/33")); }
static void m_bad_addr(json_t *d) { set(nth(d, "hosts", 0), "tunnel_ip", json_string("10.0.0.300")); }
static void m_bad_addr_octal(json_t *d) { set(nth(d, "hosts", 0), "tunnel_ip", json_string("10.0.0.01")); }
static void m_dup_name(json_t *d) { set(nth(d, "routers", 1), "name", json_string("provider")); }
static void m_dup_id(json_t *d) { json_object_set(nth(d, "chains", 1), "id", json_object_get(nth(d, "chains", 0), "id")); }
static void m_dup_id_across_types(json_t *d) { json_object_set(nth(d, "bridges", 0), "id", json_object_get(nth(d, "chains", 0), "id")); }
static void m_bad_uuid(json_t *d) { set(nth(d, "chains", 0), "id", json_string("9037e9c7-5eed-5259-a328-d2963d4a0d5g")); }
static void m_two_peers(json_t *d)
{
    /* acme-net-r and acme-lan are linked; acme-gw now claims acme-net-r too. */
    json_object_set(port_named(d, "acme-gw"), "peer", json_object_get(port_named(d, "acme-net-r"), "id"));
}
static void m_exterior_peer(json_t *d) { json_object_set(port_named(d, "web1"), "peer", json_object_get(port_named(d, "acme-lan"), "id")); }
static void m_unknown_field(json_t *d) { set(port_named(d, "web1"), "colour", json_string("red")); }
static void m_bad_mac(json_t *d) { set(port_named(d, "web1"), "mac", json_string("02:30:00:00:00")); }
static void m_bad_mac_digit(json_t *d) { set(port_named(d, "web1"), "mac", json_string("02:30:00:00:00:0g")); }
static void m_wrong_type(json_t *d) { set(nth(d, "bgp_peers", 0), "peer_asn", json_string("64500")); }
static void m_wrong_type_bool(json_t *d) { set(nth(d, "routers", 0), "admin_state_up", json_string("yes")); }
static void m_unknown_type(json_t *d) { set(d, "gizmos", json_array()); }
static void m_type_not_list(json_t *d) { set(d, "routers", json_object()); }
static void m_router_port_no_addr(json_t *d) { json_object_del(port_named(d, "uplink-a"), "address"); }
static void m_snat_no_targets(json_t *d) { json_object_del(nth(d, "rules", 0), "nat_targets"); }
static void m_dnat_no_targets(json_t *d) { set(nth(d, "rules", 1), "action", json_string("dnat")); }
static void m_jump_no_chain(json_t *d) { set(nth(d, "rules", 1), "action", json_string("jump")); }
static void m_nat_ports_reversed(json_t *d)
{
    json_t *tg = json_array_get(json_object_get(nth(d, "rules", 0), "nat_targets"), 0);
    set(tg, "port_from", json_integer(2000));
    set(tg, "port_to", json_integer(1000));
}
static void m_tp_out_of_range(json_t *d) { set(nth(d, "rules", 1), "tp_dst", json_pack("[i, i]", 0, 70000)); }
static void m_tp_reversed(json_t *d) { set(nth(d, "rules", 1), "tp_src", json_pack("[i, i]", 80, 79)); }
static void m_route_port_elsewhere(json_t *d) { json_object_set(nth(d, "routes", 0), "next_hop_port", json_object_get(port_named(d, "acme-gw"), "id")); }
static void m_bgp_on_bridge_port(json_t *d) { json_object_set(nth(d, "bgp_peers", 0), "port", json_object_get(port_named(d, "web1"), "id")); }
static void m_neighbor_on_bridge_port(json_t *d)
{
    json_array_append_new(json_object_get(d, "neighbors"),
                          json_pack("{s:s, s:s, s:s}", "port", "web1", "address", "10.1.0.99", "mac", "02:00:00:00:00:99"));
}
static void m_fip_router_is_bridge(json_t *d) { set(nth(d, "floating_ips", 0), "router", json_string("acme-net")); }
static void m_fip_on_router_port(json_t *d) { set(nth(d, "floating_ips", 0), "port", json_string("acme-lan")); }
static void m_fip_fixed_ip_elsewhere(json_t *d) { set(nth(d, "floating_ips", 0), "fixed_ip", json_string("10.1.0.11")); }
static void m_fip_twice_for_one_vm_address(json_t *d)
{
    json_t *f = json_deep_copy(nth(d, "floating_ips", 0));
    json_object_del(f, "id");
    set(f, "address", json_string("100.64.10.51"));
    json_array_append_new(json_object_get(d, "floating_ips"), f);
}
static void m_fip_address_twice(json_t *d)
{
    json_t *f = json_deep_copy(nth(d, "floating_ips", 0));
    json_object_del(f, "id");   /* the same address (and VM address: the address is named first) */
    json_array_append_new(json_object_get(d, "floating_ips"), f);
}
static void m_dup_tunnel_key(json_t *d)
{
    set(port_named(d, "web1"), "tunnel_key", json_integer(77));
    set(port_named(d, "uplink-a"), "tunnel_key", json_integer(77));
}
static void m_tunnel_key_too_big(json_t *d) { set(port_named(d, "web1"), "tunnel_key", json_integer(1 << 24)); }
static void m_not_object(json_t *d) { json_array_append_new(json_object_get(d, "chains"), json_string("c")); }
static void m_long_name(json_t *d) { set(nth(d, "chains", 0), "name", json_string("0123456789012345678901234567890123456789012345678901234567890123456789")); }

static void test_bad_documents_are_refused_naming_resource_and_field(void **state)
{
    (void)state;
    expect_refused(m_dangling, -ENOENT, "ports[5] (web1): device: no router or bridge 'r9'", "device");
    expect_refused(m_dangling_by_name, -ENOENT, "rules[0]: chain: no chain 'no-such-chain'", "chain");
    expect_refused(m_bad_prefix, -EINVAL, "routes[0]: dst: bad prefix", "dst");
    expect_refused(m_bad_prefix_len, -EINVAL, "dst: bad prefix", "dst");
    expect_refused(m_bad_addr, -EINVAL, "hosts[0] (gw-a): tunnel_ip: bad IPv4 address '10.0.0.300'", "tunnel_ip");
    expect_refused(m_bad_addr_octal, -EINVAL, "10.0.0.01", "tunnel_ip");
    expect_refused(m_dup_name, -EEXIST, "routers[1] (provider): name: duplicate name", "name");
    expect_refused(m_dup_id, -EEXIST, "chains[1]: id: duplicate id", "id");
    expect_refused(m_dup_id_across_types, -EEXIST, "bridges[0]: id: duplicate id", "id");
    expect_refused(m_bad_uuid, -EINVAL, "chains[0]: id: must be a UUID", "id");
    expect_refused(m_two_peers, -EINVAL, "linked to another port", "peer");
    expect_refused(m_exterior_peer, -EINVAL, "ports[5] (web1): peer: an exterior port", "peer");
    expect_refused(m_unknown_field, -EINVAL, "ports[5] (web1): colour: unknown field", "colour");
    expect_refused(m_bad_mac, -EINVAL, "mac: bad MAC", "mac");
    expect_refused(m_bad_mac_digit, -EINVAL, "mac: bad MAC", "mac");
    expect_refused(m_wrong_type, -EINVAL, "bgp_peers[0]: peer_asn: must be a whole number", "peer_asn");
    expect_refused(m_wrong_type_bool, -EINVAL, "routers[0] (provider): admin_state_up: must be true or false",
                   "admin_state_up");
    expect_refused(m_unknown_type, -EINVAL, "gizmos: unknown resource type", NULL);
    expect_refused(m_type_not_list, -EINVAL, "routers: must be a list", NULL);
    expect_refused(m_router_port_no_addr, -EINVAL, "ports[0] (uplink-a): address: a router port needs an address",
                   "address");
    expect_refused(m_snat_no_targets, -EINVAL, "rules[0]: nat_targets: required", "nat_targets");
    expect_refused(m_dnat_no_targets, -EINVAL, "rules[1]: nat_targets: required", "nat_targets");
    expect_refused(m_jump_no_chain, -EINVAL, "rules[1]: jump_chain: required", "jump_chain");
    expect_refused(m_nat_ports_reversed, -EINVAL, "nat_targets[0]: ports", "nat_targets");
    expect_refused(m_tp_out_of_range, -EINVAL, "rules[1]: tp_dst: must be [from, to]", "tp_dst");
    expect_refused(m_tp_reversed, -EINVAL, "tp_src: must be [from, to]", "tp_src");
    expect_refused(m_route_port_elsewhere, -EINVAL, "routes[0]: next_hop_port: not a port of this route's router",
                   "next_hop_port");
    expect_refused(m_bgp_on_bridge_port, -EINVAL, "bgp_peers[0]: port: must be a router port", "port");
    expect_refused(m_neighbor_on_bridge_port, -EINVAL, "neighbors[0]: port: must be a router port", "port");
    expect_refused(m_fip_router_is_bridge, -ENOENT, "floating_ips[0]: router: no router 'acme-net'", "router");
    expect_refused(m_fip_on_router_port, -EINVAL, "floating_ips[0]: port: must be a VM's bridge port", "port");
    expect_refused(m_fip_fixed_ip_elsewhere, -EINVAL, "fixed_ip: not one of the port's fixed_ips", "fixed_ip");
    expect_refused(m_fip_twice_for_one_vm_address, -EEXIST, "fixed_ip: 10.1.0.10 of this port has floating IP",
                   "fixed_ip");
    expect_refused(m_fip_address_twice, -EEXIST, "address: 100.64.10.50 is floating IP", "address");
    expect_refused(m_dup_tunnel_key, -EEXIST, "tunnel_key: another port has this tunnel key", "tunnel_key");
    expect_refused(m_tunnel_key_too_big, -EINVAL, "tunnel_key: must be a whole number", "tunnel_key");
    expect_refused(m_not_object, -EINVAL, "chains[2]: must be a JSON object", NULL);
    expect_refused(m_long_name, -EINVAL, "chains[0]: name: must be a non-empty string", "name");
}

static void m_read_only_and_gaps(json_t *d)
{
    set(port_named(d, "web1"), "tunnel_key", json_integer(4242));
    set(nth(d, "hosts", 0), "alive", json_true());
    set(nth(d, "routes", 0), "learned", json_false());
    set(nth(d, "bgp_peers", 0), "state", json_string("established"));
    /* Positions with gaps, listed out of order. */
    json_array_append_new(json_object_get(d, "rules"),
                          json_pack("{s:s, s:i, s:s}", "chain", "acme-pre", "position", 40, "action", "drop"));
    json_array_append_new(json_object_get(d, "rules"),
                          json_pack("{s:s, s:i, s:s, s:s}", "chain", "acme-pre", "position", 7, "action", "rev_dnat",
                                    "name", "seventh"));
    /* A floating IP on a port without fixed_ips may name any address. */
    json_array_append_new(json_object_get(d, "ports"),
                          json_pack("{s:s, s:s, s:s, s:s}", "name", "web2", "device", "acme-net", "host", "hv-1",
                                    "interface", "tap-web2"));
    json_array_append_new(json_object_get(d, "floating_ips"),
                          json_pack("{s:s, s:s, s:s, s:s}", "address", "100.64.10.51", "router", "provider", "port",
                                    "web2", "fixed_ip", "10.1.0.77"));
}

static void test_read_only_fields_position_gaps_and_open_fixed_ips_are_accepted(void **state)
{
    (void)state;
    json_t *doc = example();
    m_read_only_and_gaps(doc);
    struct sim_topo *t = loaded(doc);
    struct sim_chain *pre = obj(t, SIM_RES_CHAIN, "acme-pre");

    assert_int_equal(((struct sim_port *)obj(t, SIM_RES_PORT, "web1"))->tunnel_key, 4242);
    assert_int_equal(pre->n_rules, 3);
    assert_int_equal(pre->rules[0]->position, 1);
    assert_int_equal(pre->rules[1]->position, 7);
    assert_string_equal(pre->rules[1]->obj.name, "seventh");
    assert_int_equal(pre->rules[2]->position, 40);
    assert_int_equal(((struct sim_device *)obj(t, SIM_RES_ROUTER, "acme"))->n_fips, 2);
    assert_consistent(t);
    json_decref(doc);
    sim_topo_destroy(t);
}

static void test_peer_named_on_one_side_links_both(void **state)
{
    (void)state;
    json_t *doc = example();
    char id[37];
    json_object_del(port_named(doc, "acme-lan"), "peer");   /* only acme-net-r names it now */
    struct sim_topo *t = loaded(doc);
    struct sim_port *lan = obj(t, SIM_RES_PORT, "acme-lan"), *br = obj(t, SIM_RES_PORT, "acme-net-r");

    assert_ptr_equal(lan->peer, br);
    assert_ptr_equal(br->peer, lan);
    json_t *g = sim_topo_get(t, SIM_RES_PORT, &lan->obj.id);
    assert_string_equal(json_string_value(json_object_get(g, "peer")), idstr(&br->obj.id, id));
    json_decref(g);
    json_decref(doc);
    sim_topo_destroy(t);
}

/* --- one resource at a time ---------------------------------------------------------- */

static int put(struct sim_topo *t, enum sim_res_type type, json_t *o, struct sim_id *id, struct sim_error *err)
{
    int rc = sim_topo_put(t, type, o, id, err);
    json_decref(o);
    return rc;
}

static int patch_id(struct sim_topo *t, enum sim_res_type type, const struct sim_id *id, json_t *o,
                    struct sim_error *err)
{
    int rc = sim_topo_patch(t, type, id, o, err);
    json_decref(o);
    return rc;
}

static int patch(struct sim_topo *t, enum sim_res_type type, const char *ref, json_t *o, struct sim_error *err)
{
    struct sim_id id;
    assert_int_equal(sim_topo_resolve(t, type, ref, &id), 0);
    int rc = sim_topo_patch(t, type, &id, o, err);
    json_decref(o);
    return rc;
}

/* A refused change leaves documents, indexes and derived lists alone. */
static void expect_change_refused(struct sim_topo *t, int rc, int code, const struct sim_error *err, const char *want,
                                  const char *field, json_t *exp_before, json_t *pic_before)
{
    if (rc != code)
        fail_msg("change gave %d (%s), wanted %d", rc, err->msg, code);
    if (!strstr(err->msg, want))
        fail_msg("message '%s' lacks '%s'", err->msg, want);
    if (field)
        assert_string_equal(err->field, field);
    json_t *exp = sim_topo_export(t), *pic = picture(t);
    assert_true(json_equal(exp, exp_before));
    assert_true(json_equal(pic, pic_before));
    json_decref(exp);
    json_decref(pic);
}

static void test_refused_changes_leave_everything_unchanged(void **state)
{
    (void)state;
    struct sim_topo *t = loaded_example();
    struct sim_error err;
    json_t *exp = sim_topo_export(t), *pic = picture(t);
    uint64_t rev = sim_topo_revision(t);
    int rc;

    rc = put(t, SIM_RES_PORT, json_pack("{s:s, s:s}", "name", "bad", "device", "nowhere"), NULL, &err);
    expect_change_refused(t, rc, -ENOENT, &err, "device: no router or bridge 'nowhere'", "device", exp, pic);
    rc = put(t, SIM_RES_ROUTER, json_pack("{s:s}", "name", "provider"), NULL, &err);
    expect_change_refused(t, rc, -EEXIST, &err, "name", "name", exp, pic);
    rc = put(t, SIM_RES_CHAIN, json_pack("{s:s}", "id", "not-a-uuid"), NULL, &err);
    expect_change_refused(t, rc, -EINVAL, &err, "id: must be a UUID", "id", exp, pic);
    /* acme-net-r is linked to acme-lan: a third port cannot claim it. */
    rc = put(t, SIM_RES_PORT,
             json_pack("{s:s, s:s, s:s}", "device", "acme", "address", "10.9.0.1/24", "peer", "acme-net-r"), NULL, &err);
    expect_change_refused(t, rc, -EINVAL, &err, "linked to another port", "peer", exp, pic);
    rc = patch(t, SIM_RES_PORT, "web1", json_pack("{s:s}", "peer", "acme-lan"), &err);
    expect_change_refused(t, rc, -EINVAL, &err, "exterior port", "peer", exp, pic);
    rc = patch(t, SIM_RES_PORT, "acme-lan", json_pack("{s:n}", "address"), &err);
    expect_change_refused(t, rc, -EINVAL, &err, "needs an address", "address", exp, pic);
    rc = patch(t, SIM_RES_RULE, "cd4dbf56-e8d0-50ee-bddb-1aafbf295efb", json_pack("{s:[i,i]}", "tp_dst", 5, 4), &err);
    expect_change_refused(t, rc, -EINVAL, &err, "tp_dst", "tp_dst", exp, pic);
    rc = put(t, SIM_RES_ROUTE, json_pack("{s:s, s:s, s:s}", "router", "provider", "dst", "10.0.0.0/8", "next_hop_port",
                                         "acme-gw"),
             NULL, &err);
    expect_change_refused(t, rc, -EINVAL, &err, "not a port of this route's router", "next_hop_port", exp, pic);
    rc = put(t, SIM_RES_BGP_PEER, json_pack("{s:s, s:s, s:i, s:i}", "port", "web1", "peer_address", "10.1.0.2",
                                            "peer_asn", 1, "local_asn", 2),
             NULL, &err);
    expect_change_refused(t, rc, -EINVAL, &err, "must be a router port", "port", exp, pic);
    rc = put(t, SIM_RES_PORT, json_pack("{s:s, s:s, s:i}", "device", "acme-net", "name", "k", "tunnel_key",
                                        (int)((struct sim_port *)obj(t, SIM_RES_PORT, "web1"))->tunnel_key),
             NULL, &err);
    expect_change_refused(t, rc, -EEXIST, &err, "tunnel_key", "tunnel_key", exp, pic);
    /* A port change that would break what others say about the port. */
    rc = patch(t, SIM_RES_PORT, "acme-gw", json_pack("{s:s}", "device", "provider"), &err);
    expect_change_refused(t, rc, -EINVAL, &err, "routes", "device", exp, pic);
    rc = patch(t, SIM_RES_PORT, "uplink-a", json_pack("{s:s, s:n}", "device", "acme-net", "address"), &err);
    expect_change_refused(t, rc, -EINVAL, &err, "would no longer hold", "device", exp, pic);
    rc = patch(t, SIM_RES_PORT, "web1", json_pack("{s:[s]}", "fixed_ips", "10.1.0.11"), &err);
    expect_change_refused(t, rc, -EINVAL, &err, "floating_ips", "fixed_ips", exp, pic);
    assert_int_equal(sim_topo_revision(t), rev);
    json_decref(exp);
    json_decref(pic);
    sim_topo_destroy(t);
}

static void test_delete_of_referenced_resource_is_busy_and_names_the_referrer(void **state)
{
    (void)state;
    struct sim_topo *t = loaded_example();
    struct sim_error err;
    struct sim_id id;
    json_t *exp = sim_topo_export(t), *pic = picture(t);

    assert_int_equal(sim_topo_resolve(t, SIM_RES_CHAIN, "acme-pre", &id), 0);
    int rc = sim_topo_del(t, SIM_RES_CHAIN, &id, &err);
    expect_change_refused(t, rc, -EBUSY, &err, "still referenced by", NULL, exp, pic);
    assert_int_equal(sim_topo_resolve(t, SIM_RES_PORT, "web1", &id), 0);
    rc = sim_topo_del(t, SIM_RES_PORT, &id, &err);
    expect_change_refused(t, rc, -EBUSY, &err, "floating_ips", NULL, exp, pic);
    assert_int_equal(sim_topo_resolve(t, SIM_RES_HOST, "hv-1", &id), 0);
    rc = sim_topo_del(t, SIM_RES_HOST, &id, &err);
    expect_change_refused(t, rc, -EBUSY, &err, "ports 'web1' (field host)", NULL, exp, pic);
    memset(&id, 0x11, sizeof(id));
    assert_int_equal(sim_topo_del(t, SIM_RES_HOST, &id, &err), -ENOENT);
    json_decref(exp);
    json_decref(pic);
    sim_topo_destroy(t);
}

static void test_put_patch_del_keep_refcounts_and_indexes(void **state)
{
    (void)state;
    struct sim_topo *t = loaded_example();
    struct sim_error err;
    struct sim_id cid, rid, by_name;
    char ids[37];

    struct sim_chain *pre = obj(t, SIM_RES_CHAIN, "acme-pre");
    uint32_t pre_refs = pre->obj.refs;   /* the router's inbound_filter and a rule */
    assert_int_equal(pre_refs, 2);
    /* A new chain, renamed by patch, referenced by a rule, then freed. */
    assert_int_equal(put(t, SIM_RES_CHAIN, json_pack("{s:s}", "name", "tmp"), &cid, &err), 0);
    assert_int_equal(patch(t, SIM_RES_CHAIN, "tmp", json_pack("{s:s}", "name", "tmp2"), &err), 0);
    assert_int_equal(sim_topo_resolve(t, SIM_RES_CHAIN, "tmp2", &by_name), 0);
    assert_memory_equal(&by_name, &cid, sizeof(cid));
    assert_int_equal(sim_topo_resolve(t, SIM_RES_CHAIN, "tmp", &by_name), -ENOENT);
    assert_int_equal(put(t, SIM_RES_RULE,
                         json_pack("{s:s, s:s, s:s}", "chain", idstr(&cid, ids), "action", "jump", "jump_chain", "acme-pre"),
                         &rid, &err),
                     0);
    struct sim_chain *tmp = obj(t, SIM_RES_CHAIN, "tmp2");
    assert_int_equal(tmp->obj.refs, 1);
    assert_int_equal(pre->obj.refs, pre_refs + 1);
    assert_int_equal(tmp->n_rules, 1);
    assert_int_equal(sim_topo_del(t, SIM_RES_CHAIN, &cid, &err), -EBUSY);
    assert_consistent(t);
    /* The rule moves to acme-pre and jumps nowhere: the counts follow. */
    assert_int_equal(patch_id(t, SIM_RES_RULE, &rid,
                              json_pack("{s:s, s:s, s:n}", "chain", "acme-pre", "action", "drop", "jump_chain"), &err),
                     0);
    assert_int_equal(tmp->obj.refs, 0);
    assert_int_equal(tmp->n_rules, 0);
    assert_int_equal(pre->obj.refs, pre_refs + 1);
    assert_int_equal(pre->n_rules, 2);
    assert_consistent(t);
    assert_int_equal(sim_topo_del(t, SIM_RES_RULE, &rid, &err), 0);
    assert_int_equal(pre->obj.refs, pre_refs);
    assert_int_equal(sim_topo_del(t, SIM_RES_CHAIN, &cid, &err), 0);
    assert_int_equal(sim_topo_del(t, SIM_RES_CHAIN, &cid, &err), -ENOENT);
    assert_null(sim_topo_find(t, SIM_RES_CHAIN, &cid));
    assert_consistent(t);
    sim_topo_destroy(t);
}

static void test_port_peer_links_follow_put_patch_and_delete(void **state)
{
    (void)state;
    struct sim_topo *t = loaded_example();
    struct sim_error err;
    struct sim_id nid;
    struct sim_port *lan = obj(t, SIM_RES_PORT, "acme-lan"), *brp = obj(t, SIM_RES_PORT, "acme-net-r");

    /* Unlink by patch on one side: both sides lose the link. */
    assert_int_equal(patch(t, SIM_RES_PORT, "acme-lan", json_pack("{s:n}", "peer"), &err), 0);
    assert_null(lan->peer);
    assert_null(brp->peer);
    assert_consistent(t);
    /* A new bridge port names acme-lan: linked both ways. */
    assert_int_equal(put(t, SIM_RES_PORT, json_pack("{s:s, s:s, s:s}", "name", "n2", "device", "acme-net", "peer",
                                                    "acme-lan"),
                         &nid, &err),
                     0);
    struct sim_port *n2 = obj(t, SIM_RES_PORT, "n2");
    assert_ptr_equal(lan->peer, n2);
    assert_ptr_equal(n2->peer, lan);
    assert_consistent(t);
    /* Deleting it unlinks acme-lan again. */
    assert_int_equal(sim_topo_del(t, SIM_RES_PORT, &nid, &err), 0);
    assert_null(lan->peer);
    assert_consistent(t);
    sim_topo_destroy(t);
}

/* --- route tables and implicit routes -------------------------------------------------- */

static const struct sim_route *group_of(const struct sim_device *r, uint32_t addr, uint8_t len)
{
    uint32_t slot;
    if (!r->routes_lpm || lpm_get(r->routes_lpm, addr, len, &slot) < 0)
        return NULL;
    return r->route_groups[slot];
}

static int count_implicit(const struct sim_route *g)
{
    int n = 0;
    for (; g; g = g->next_same_dst)
        n += g->implicit;
    return n;
}

static void test_implicit_connected_routes_follow_port_changes(void **state)
{
    (void)state;
    struct sim_topo *t = loaded_example();
    struct sim_error err;
    struct sim_device *acme = obj(t, SIM_RES_ROUTER, "acme");
    struct sim_port *lan = obj(t, SIM_RES_PORT, "acme-lan");
    struct sim_id pid;

    /* Loaded: 10.1.0.0/24 holds the explicit route and the implicit one. */
    assert_int_equal(count_implicit(group_of(acme, 0x0a010000, 24)), 1);
    /* The port moves to another subnet: its implicit route follows; the
     * explicit route keeps its group. */
    assert_int_equal(patch(t, SIM_RES_PORT, "acme-lan", json_pack("{s:s}", "address", "10.2.3.1/16"), &err), 0);
    assert_int_equal(count_implicit(group_of(acme, 0x0a010000, 24)), 0);
    assert_non_null(group_of(acme, 0x0a010000, 24));
    const struct sim_route *g = group_of(acme, 0x0a020000, 16);
    assert_non_null(g);
    assert_true(g->implicit);
    assert_ptr_equal(g->next_hop_port, lan);
    assert_int_equal(g->next_hop_gateway, 0);
    assert_int_equal(lpm_lookup(acme->routes_lpm, 0x0a02fffe), lpm_lookup(acme->routes_lpm, 0x0a020000));
    assert_consistent(t);
    /* A new router port brings its subnet; deleting it takes it away and
     * frees the group for reuse. */
    assert_int_equal(put(t, SIM_RES_PORT, json_pack("{s:s, s:s}", "device", "acme", "address", "172.16.5.9/30"), &pid,
                         &err),
                     0);
    assert_true(group_of(acme, 0xac100508, 30)->implicit);
    uint32_t slots = acme->n_route_groups;
    assert_consistent(t);
    assert_int_equal(sim_topo_del(t, SIM_RES_PORT, &pid, &err), 0);
    assert_null(group_of(acme, 0xac100508, 30));
    assert_int_equal(acme->n_free_groups, 1);
    assert_consistent(t);
    /* The next new destination takes the free slot. */
    assert_int_equal(put(t, SIM_RES_ROUTE, json_pack("{s:s, s:s, s:s}", "router", "acme", "dst", "192.168.0.0/16",
                                                     "type", "blackhole"),
                         NULL, &err),
                     0);
    assert_int_equal(acme->n_route_groups, slots);
    assert_int_equal(acme->n_free_groups, 0);
    assert_consistent(t);
    sim_topo_destroy(t);
}

static void test_routes_of_one_destination_are_ordered_by_weight_then_id(void **state)
{
    (void)state;
    struct sim_topo *t = loaded_example();
    struct sim_error err;
    struct sim_device *acme = obj(t, SIM_RES_ROUTER, "acme");
    static const char *const ids[] = {"00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000001",
                                      "00000000-0000-4000-8000-000000000002"};
    static const int weights[] = {50, 50, 10};

    for (int i = 0; i < 3; i++)
        assert_int_equal(put(t, SIM_RES_ROUTE, json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "id", ids[i], "router",
                                                         "acme", "dst", "0.0.0.0/0", "next_hop_port", "acme-gw",
                                                         "next_hop_gateway", "100.64.10.1", "weight", weights[i]),
                             NULL, &err),
                         0);
    const struct sim_route *r = group_of(acme, 0, 0);
    char id[37];
    assert_string_equal(idstr(&r->obj.id, id), ids[2]);   /* weight 10 */
    r = r->next_same_dst;
    assert_string_equal(idstr(&r->obj.id, id), ids[1]);   /* weight 50, lower id */
    r = r->next_same_dst;
    assert_string_equal(idstr(&r->obj.id, id), ids[0]);
    assert_int_equal(r->next_same_dst->weight, 100);        /* the document's default route */
    assert_consistent(t);
    sim_topo_destroy(t);
}

static void test_route_lookup_takes_longest_prefix_whose_source_matches(void **state)
{
    (void)state;
    struct sim_topo *t = loaded_example();
    struct sim_error err;
    struct sim_device *acme = obj(t, SIM_RES_ROUTER, "acme");
    struct sim_prefix m;

    const struct sim_route *g = sim_route_lookup(acme, 0x0a010005, 0x01020304, &m);
    assert_non_null(g);
    assert_int_equal(m.addr, 0x0a010000);
    assert_int_equal(m.len, 24);
    /* A source-specific /8 only for 10.1.0.0/24 sources. */
    assert_int_equal(put(t, SIM_RES_ROUTE, json_pack("{s:s, s:s, s:s, s:s}", "router", "acme", "dst", "8.0.0.0/8",
                                                     "src", "10.1.0.0/24", "type", "reject"),
                         NULL, &err),
                     0);
    g = sim_route_lookup(acme, 0x08080808, 0x0a010005, &m);
    assert_int_equal(m.len, 8);
    assert_int_equal(g->type, SIM_ROUTE_REJECT);
    /* Another source falls back to the default route. */
    g = sim_route_lookup(acme, 0x08080808, 0x0a090005, &m);
    assert_int_equal(m.len, 0);
    assert_int_equal(g->next_hop_gateway, 0x64400a01);
    /* No default: nothing for an unknown destination. */
    assert_null(sim_route_lookup(obj(t, SIM_RES_ROUTER, "provider"), 0x08080808, 0, NULL));
    sim_topo_destroy(t);
}

static void test_floating_ip_gets_implicit_host_route_on_provider_router(void **state)
{
    (void)state;
    struct sim_topo *t = loaded_example();
    struct sim_error err;
    struct sim_device *prov = obj(t, SIM_RES_ROUTER, "provider"), *acme = obj(t, SIM_RES_ROUTER, "acme");
    struct sim_floating_ip *fip = obj(t, SIM_RES_FLOATING_IP, "58269225-2cb3-5e65-808f-46a84e809078");
    const uint32_t fa = 0x64400a32;   /* 100.64.10.50 */

    const struct sim_route *g = group_of(prov, fa, 32);
    assert_non_null(g);
    assert_true(g->implicit);
    assert_ptr_equal(g->next_hop_port, obj(t, SIM_RES_PORT, "prov-acme"));
    assert_int_equal(g->next_hop_gateway, 0x64400a02);   /* acme-gw */
    assert_ptr_equal(fip->tenant_router, acme);
    /* An explicit route to the same /32 comes first. */
    struct sim_id rid, fid;
    assert_int_equal(put(t, SIM_RES_ROUTE, json_pack("{s:s, s:s, s:s}", "router", "provider", "dst", "100.64.10.50/32",
                                                     "type", "blackhole"),
                         &rid, &err),
                     0);
    g = group_of(prov, fa, 32);
    assert_false(g->implicit);
    assert_true(g->next_same_dst->implicit);
    assert_consistent(t);
    assert_int_equal(sim_topo_del(t, SIM_RES_ROUTE, &rid, &err), 0);
    /* The floating IP moves to another address: the route follows. */
    assert_int_equal(patch_id(t, SIM_RES_FLOATING_IP, &fip->obj.id, json_pack("{s:s}", "address", "100.64.10.60"), &err),
                     0);
    assert_null(group_of(prov, fa, 32));
    assert_true(group_of(prov, 0x64400a3c, 32)->implicit);
    assert_consistent(t);
    /* Unlinking the tenant router from the bridge: no tenant router, no route. */
    assert_int_equal(patch(t, SIM_RES_PORT, "acme-net-r", json_pack("{s:n}", "peer"), &err), 0);
    assert_null(fip->tenant_router);
    assert_int_equal(acme->n_fips, 0);
    assert_null(group_of(prov, 0x64400a3c, 32));
    assert_consistent(t);
    /* Linked again: back. */
    assert_int_equal(patch(t, SIM_RES_PORT, "acme-net-r", json_pack("{s:s}", "peer", "acme-lan"), &err), 0);
    assert_ptr_equal(fip->tenant_router, acme);
    assert_non_null(group_of(prov, 0x64400a3c, 32));
    /* The tenant router's uplink address changes: the next hop follows. */
    assert_int_equal(patch(t, SIM_RES_PORT, "acme-gw", json_pack("{s:s}", "address", "100.64.10.7/24"), &err), 0);
    assert_int_equal(group_of(prov, 0x64400a3c, 32)->next_hop_gateway, 0x64400a07);
    assert_consistent(t);
    /* The provider's port linked to the tenant router goes (after the route
     * through it): so does the /32 through it; the tenant router keeps
     * applying the floating IP. */
    struct sim_id lid;
    assert_int_equal(sim_topo_resolve(t, SIM_RES_ROUTE, "b9a5c196-5ebe-52c3-abe4-77f04baa40fb", &rid), 0);
    assert_int_equal(sim_topo_del(t, SIM_RES_ROUTE, &rid, &err), 0);
    assert_int_equal(sim_topo_resolve(t, SIM_RES_PORT, "prov-acme", &lid), 0);
    assert_int_equal(sim_topo_del(t, SIM_RES_PORT, &lid, &err), 0);
    assert_null(group_of(prov, 0x64400a3c, 32));
    assert_ptr_equal(fip->tenant_router, acme);
    assert_consistent(t);
    /* Deleting the floating IP removes it from its tenant router. */
    fid = fip->obj.id;
    assert_int_equal(acme->n_fips, 1);
    assert_int_equal(sim_topo_del(t, SIM_RES_FLOATING_IP, &fid, &err), 0);
    assert_int_equal(acme->n_fips, 0);
    assert_consistent(t);
    sim_topo_destroy(t);
}

static void test_host_lists_its_exterior_ports(void **state)
{
    (void)state;
    struct sim_topo *t = loaded_example();
    struct sim_error err;
    struct sim_host *hv = obj(t, SIM_RES_HOST, "hv-1");
    struct sim_id pid;

    assert_int_equal(hv->n_ports, 1);
    assert_ptr_equal(sim_topo_port_by_interface(hv, "tap-web1"), obj(t, SIM_RES_PORT, "web1"));
    assert_null(sim_topo_port_by_interface(hv, "eth1"));
    assert_int_equal(put(t, SIM_RES_PORT, json_pack("{s:s, s:s, s:s, s:s}", "name", "web2", "device", "acme-net", "host",
                                                    "hv-1", "interface", "tap-web2"),
                         &pid, &err),
                     0);
    assert_int_equal(hv->n_ports, 2);
    assert_ptr_equal(sim_topo_port_by_interface(hv, "tap-web2"), obj(t, SIM_RES_PORT, "web2"));
    /* Moved to the gateway host. */
    assert_int_equal(patch(t, SIM_RES_PORT, "web2", json_pack("{s:s}", "host", "gw-a"), &err), 0);
    assert_int_equal(hv->n_ports, 1);
    assert_ptr_equal(sim_topo_port_by_interface(obj(t, SIM_RES_HOST, "gw-a"), "tap-web2"), obj(t, SIM_RES_PORT, "web2"));
    assert_consistent(t);
    assert_int_equal(sim_topo_del(t, SIM_RES_PORT, &pid, &err), 0);
    assert_null(sim_topo_port_by_interface(obj(t, SIM_RES_HOST, "gw-a"), "tap-web2"));
    assert_consistent(t);
    sim_topo_destroy(t);
}

/* --- many random changes, each checked against a fresh load ----------------------------------- */

static uint32_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static const char *random_ref(struct sim_topo *t, enum sim_res_type type, uint64_t *s, char out[37])
{
    if (!t->n_objs[type])
        return NULL;
    return idstr(&t->objs[type][rnd(s) % t->n_objs[type]]->id, out);
}

static json_t *random_change(struct sim_topo *t, uint64_t *s, enum sim_res_type *type, bool *is_patch)
{
    char a[37], b[37], addr[32];
    const char *dev = NULL;

    *is_patch = false;
    switch (rnd(s) % 9) {
    case 0: /* a VM port */
        *type = SIM_RES_PORT;
        snprintf(addr, sizeof(addr), "10.1.0.%u", 20 + rnd(s) % 200);
        return json_pack("{s:s, s:[s], s:s, s:s}", "device", "acme-net", "fixed_ips", addr, "host",
                         rnd(s) % 2 ? "hv-1" : "gw-a", "interface", "tap");
    case 1: /* a router port, sometimes linked to a bridge port */
        *type = SIM_RES_PORT;
        snprintf(addr, sizeof(addr), "10.%u.%u.1/%u", 2 + rnd(s) % 3, rnd(s) % 4, 16 + rnd(s) % 15);
        dev = rnd(s) % 2 ? "acme" : "provider";
        return json_pack("{s:s, s:s}", "device", dev, "address", addr);
    case 2: /* an interior bridge port named by a router port */
        *type = SIM_RES_PORT;
        if (!random_ref(t, SIM_RES_PORT, s, a))
            return NULL;
        return json_pack("{s:s, s:s}", "device", "acme-net", "peer", a);
    case 3: /* change a port's address, peer or device */
        *type = SIM_RES_PORT;
        *is_patch = true;
        snprintf(addr, sizeof(addr), "10.%u.0.1/%u", 1 + rnd(s) % 3, 8 + rnd(s) % 25);
        switch (rnd(s) % 3) {
        case 0: return json_pack("{s:s}", "address", addr);
        case 1: return random_ref(t, SIM_RES_PORT, s, a) ? json_pack("{s:s}", "peer", a) : NULL;
        default: return json_pack("{s:n}", "peer");
        }
    case 4: /* a route */
        *type = SIM_RES_ROUTE;
        snprintf(addr, sizeof(addr), "%u.0.0.0/%u", rnd(s) % 4, 8);
        return json_pack("{s:s, s:s, s:s, s:i}", "router", rnd(s) % 2 ? "acme" : "provider", "dst", addr, "type",
                         "blackhole", "weight", (int)(rnd(s) % 3));
    case 5: /* a floating IP on some bridge port */
        *type = SIM_RES_FLOATING_IP;
        if (!random_ref(t, SIM_RES_PORT, s, a))
            return NULL;
        snprintf(addr, sizeof(addr), "100.64.10.%u", 100 + rnd(s) % 100);
        return json_pack("{s:s, s:s, s:s, s:s}", "address", addr, "router", "provider", "port", a, "fixed_ip",
                         "10.1.0.10");
    case 6: /* a rule, or a rule moved */
        *type = SIM_RES_RULE;
        return json_pack("{s:s, s:i, s:s}", "chain", rnd(s) % 2 ? "acme-pre" : "acme-post", "position",
                         (int)(1 + rnd(s) % 5), "action", "accept");
    case 7: /* a port group of two ports */
        *type = SIM_RES_PORT_GROUP;
        if (!random_ref(t, SIM_RES_PORT, s, a) || !random_ref(t, SIM_RES_PORT, s, b))
            return NULL;
        return json_pack("{s:[s,s]}", "ports", a, b);
    default: /* change the floating IPs' fixed_ip */
        *type = SIM_RES_FLOATING_IP;
        *is_patch = true;
        return json_pack("{s:s}", "fixed_ip", rnd(s) % 2 ? "10.1.0.10" : "10.1.0.20");
    }
}

static void test_random_changes_match_a_fresh_load_after_every_step(void **state)
{
    (void)state;
    struct sim_topo *t = loaded_example();
    struct sim_error err;
    uint64_t seed = 12345;
    int ok = 0, refused = 0, deleted = 0;

    for (int step = 0; step < 400; step++) {
        json_t *exp = sim_topo_export(t), *pic = picture(t);
        int rc;

        if (rnd(&seed) % 4 == 0) {
            /* Delete something: often refused while referenced. */
            enum sim_res_type ty = (enum sim_res_type)(rnd(&seed) % SIM_RES_COUNT);
            if (!t->n_objs[ty]) {
                json_decref(exp);
                json_decref(pic);
                continue;
            }
            struct sim_id id = t->objs[ty][rnd(&seed) % t->n_objs[ty]]->id;
            rc = sim_topo_del(t, ty, &id, &err);
            assert_true(rc == 0 || rc == -EBUSY);
            deleted += rc == 0;
        } else {
            enum sim_res_type ty;
            bool is_patch;
            json_t *ch = random_change(t, &seed, &ty, &is_patch);
            if (!ch) {
                json_decref(exp);
                json_decref(pic);
                continue;
            }
            if (is_patch) {
                if (!t->n_objs[ty]) {
                    json_decref(ch);
                    json_decref(exp);
                    json_decref(pic);
                    continue;
                }
                struct sim_id id = t->objs[ty][rnd(&seed) % t->n_objs[ty]]->id;
                rc = sim_topo_patch(t, ty, &id, ch, &err);
            } else {
                rc = sim_topo_put(t, ty, ch, NULL, &err);
            }
            json_decref(ch);
            assert_true(rc == 0 || rc == -EINVAL || rc == -EEXIST || rc == -ENOENT);
        }
        if (rc == 0) {
            ok++;
        } else {
            refused++;
            json_t *exp2 = sim_topo_export(t), *pic2 = picture(t);
            assert_true(json_equal(exp, exp2));
            assert_true(json_equal(pic, pic2));
            json_decref(exp2);
            json_decref(pic2);
        }
        assert_consistent(t);
        json_decref(exp);
        json_decref(pic);
    }
    /* The walk exercised both outcomes. */
    assert_true(ok > 100);
    assert_true(refused > 20);
    assert_true(deleted > 10);
    sim_topo_destroy(t);
}

/* --- tunnel keys ---------------------------------------------------------------------------- */

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
    json_t *eb = sim_topo_export(b);
    json_array_foreach(json_object_get(ea, "ports"), i, p) {
        struct sim_id id;
        assert_int_equal(sim_id_parse(json_string_value(json_object_get(p, "id")), &id), 0);
        json_t *pb = sim_topo_get(b, SIM_RES_PORT, &id);
        assert_true(json_equal(json_object_get(p, "tunnel_key"), json_object_get(pb, "tunnel_key")));
        json_decref(pb);
    }
    json_decref(eb);
    json_decref(rev);
    json_decref(ea);
    json_decref(doc);
    sim_topo_destroy(a);
    sim_topo_destroy(b);
}

static void test_tunnel_key_survives_patch_and_is_assigned_to_new_ports(void **state)
{
    (void)state;
    struct sim_topo *t = loaded_example();
    struct sim_error err;
    struct sim_port *web1 = obj(t, SIM_RES_PORT, "web1");
    uint32_t k = web1->tunnel_key;
    struct sim_id a, b;

    assert_int_equal(patch(t, SIM_RES_PORT, "web1", json_pack("{s:s}", "interface", "tap-x"), &err), 0);
    assert_int_equal(web1->tunnel_key, k);
    /* A put of the same resource without the read-only key keeps it too. */
    json_t *g = sim_topo_get(t, SIM_RES_PORT, &web1->obj.id);
    json_object_del(g, "tunnel_key");
    assert_int_equal(put(t, SIM_RES_PORT, g, NULL, &err), 0);
    assert_int_equal(web1->tunnel_key, k);
    /* A key given by a change replaces the old one, which is free again. */
    assert_int_equal(patch(t, SIM_RES_PORT, "web1", json_pack("{s:i}", "tunnel_key", 999), &err), 0);
    assert_ptr_equal(sim_topo_port_by_tunnel_key(t, 999), web1);
    assert_null(sim_topo_port_by_tunnel_key(t, k));
    assert_int_equal(put(t, SIM_RES_PORT, json_pack("{s:s, s:s, s:i}", "name", "old-key", "device", "acme-net",
                                                    "tunnel_key", (int)k),
                         NULL, &err),
                     0);
    assert_ptr_equal(sim_topo_port_by_tunnel_key(t, k), obj(t, SIM_RES_PORT, "old-key"));
    /* The same new port id gets the same key in two topologies. */
    struct sim_topo *u = loaded_example();
    const char *nid = "5b0b5b0b-0000-4000-8000-00000000abcd";
    assert_int_equal(put(t, SIM_RES_PORT, json_pack("{s:s, s:s}", "id", nid, "device", "acme-net"), &a, &err), 0);
    assert_int_equal(put(u, SIM_RES_PORT, json_pack("{s:s, s:s}", "id", nid, "device", "acme-net"), &b, &err), 0);
    uint32_t ka = ((struct sim_port *)sim_topo_find(t, SIM_RES_PORT, &a))->tunnel_key;
    assert_int_not_equal(ka, 0);
    assert_int_equal(ka, ((struct sim_port *)sim_topo_find(u, SIM_RES_PORT, &b))->tunnel_key);
    assert_ptr_equal(sim_topo_port_by_tunnel_key(t, ka), sim_topo_find(t, SIM_RES_PORT, &a));
    assert_consistent(t);
    sim_topo_destroy(u);
    sim_topo_destroy(t);
}

/* --- size --------------------------------------------------------------------------------- */

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_ten_thousand_ports_load_and_change_one_at_a_time(void **state)
{
    (void)state;
    enum { N = 10000, ROUTERS = 200 };
    json_t *doc = json_pack("{s:[{s:s}], s:[{s:s, s:s}]}", "bridges", "name", "big", "hosts", "name", "h", "tunnel_ip",
                            "10.0.0.1");
    json_t *ports = json_array(), *routers = json_array();
    for (int i = 0; i < ROUTERS; i++) {
        char name[32], addr[32];
        snprintf(name, sizeof(name), "r%d", i);
        snprintf(addr, sizeof(addr), "10.%d.%d.1/24", 100 + i / 256, i % 256);
        json_array_append_new(routers, json_pack("{s:s}", "name", name));
        json_array_append_new(ports, json_pack("{s:s, s:s}", "device", name, "address", addr));
    }
    for (int i = 0; i < N; i++) {
        char name[32], mac[32];
        snprintf(name, sizeof(name), "vm%d", i);
        snprintf(mac, sizeof(mac), "02:00:00:00:%02x:%02x", (i >> 8) & 255, i & 255);
        json_array_append_new(ports, json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "device", "big", "mac", mac,
                                               "host", "h", "interface", name));
    }
    json_object_set_new(doc, "routers", routers);
    json_object_set_new(doc, "ports", ports);
    double t0 = seconds();
    struct sim_topo *t = loaded(doc);
    double t1 = seconds();
    struct sim_id id;
    assert_int_equal(sim_topo_resolve(t, SIM_RES_PORT, "vm9999", &id), 0);
    assert_int_equal(((struct sim_device *)obj(t, SIM_RES_BRIDGE, "big"))->n_ports, N);
    assert_int_equal(((struct sim_host *)obj(t, SIM_RES_HOST, "h"))->n_ports, N);
    /* The same ports again, one change at a time, into an empty topology
     * holding the routers. */
    struct sim_topo *u;
    struct sim_error err;
    json_t *skeleton = json_deep_copy(doc);
    json_t *sp = json_object_get(skeleton, "ports");
    json_t *keep = json_array();
    for (int i = 0; i < ROUTERS; i++)
        json_array_append(keep, json_array_get(sp, (size_t)i));
    json_object_set_new(skeleton, "ports", keep);
    u = loaded(skeleton);
    double t2 = seconds();
    for (int i = 0; i < N; i++)
        assert_int_equal(sim_topo_put(u, SIM_RES_PORT, json_array_get(json_object_get(doc, "ports"), ROUTERS + i), NULL,
                                      &err),
                         0);
    double t3 = seconds();
    assert_int_equal(((struct sim_device *)obj(u, SIM_RES_BRIDGE, "big"))->n_ports, N);
    /* Figures for the reader, no timed assertion. */
    printf("# %d ports + %d routers: load %.1f ms, %d puts %.1f ms (%.1f us each)\n", N, ROUTERS,
           (t1 - t0) * 1e3, N, (t3 - t2) * 1e3, (t3 - t2) * 1e6 / N);
    json_decref(skeleton);
    json_decref(doc);
    sim_topo_destroy(u);
    sim_topo_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_loads_and_exports_back_equal),
        cmocka_unit_test(test_reference_longer_than_any_name_is_not_found),
        cmocka_unit_test(test_export_of_empty_topology_lists_every_type),
        cmocka_unit_test(test_missing_ids_are_generated_as_uuid_v4_and_refs_by_name_resolve),
        cmocka_unit_test(test_bad_documents_are_refused_naming_resource_and_field),
        cmocka_unit_test(test_read_only_fields_position_gaps_and_open_fixed_ips_are_accepted),
        cmocka_unit_test(test_peer_named_on_one_side_links_both),
        cmocka_unit_test(test_refused_changes_leave_everything_unchanged),
        cmocka_unit_test(test_delete_of_referenced_resource_is_busy_and_names_the_referrer),
        cmocka_unit_test(test_put_patch_del_keep_refcounts_and_indexes),
        cmocka_unit_test(test_port_peer_links_follow_put_patch_and_delete),
        cmocka_unit_test(test_implicit_connected_routes_follow_port_changes),
        cmocka_unit_test(test_routes_of_one_destination_are_ordered_by_weight_then_id),
        cmocka_unit_test(test_route_lookup_takes_longest_prefix_whose_source_matches),
        cmocka_unit_test(test_floating_ip_gets_implicit_host_route_on_provider_router),
        cmocka_unit_test(test_host_lists_its_exterior_ports),
        cmocka_unit_test(test_random_changes_match_a_fresh_load_after_every_step),
        cmocka_unit_test(test_tunnel_keys_are_unique_and_the_same_on_every_load),
        cmocka_unit_test(test_tunnel_key_survives_patch_and_is_assigned_to_new_ports),
        cmocka_unit_test(test_ten_thousand_ports_load_and_change_one_at_a_time),
    };
    return cmocka_run_group_tests_name("sim topology", tests, NULL, NULL);
}
