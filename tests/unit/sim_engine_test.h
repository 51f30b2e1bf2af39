/*
 * tests/unit/sim_engine_test.h: small topologies from inline JSON and
 * packet builders, shared by the engine's tests (test_sim_bridge.c,
 * test_sim_router.c, test_sim_chain.c, test_sim_nat.c).
 *
 * JSON is written with single quotes (turned into double quotes before
 * parsing) and refers to resources by name, so a test reads like the
 * document it loads. Include after <cmocka.h>.
 */
#ifndef RP_TESTS_SIM_ENGINE_TEST_H
#define RP_TESTS_SIM_ENGINE_TEST_H

#include "sim/sim_impl.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000000000ull

/* A provider router with an uplink, a tenant router behind it, a bridge
 * with two VMs behind the tenant router. No rules, no neighbors. */
#define BASE_TOPOLOGY                                                                                              \
    "{'hosts': [{'name': 'gw', 'tunnel_ip': '172.31.0.1'}, {'name': 'hv1', 'tunnel_ip': '172.31.0.11'},"          \
    "           {'name': 'hv2', 'tunnel_ip': '172.31.0.12'}],"                                                      \
    " 'routers': [{'name': 'prov'}, {'name': 'tr'}],"                                                              \
    " 'bridges': [{'name': 'br'}],"                                                                                \
    " 'ports': ["                                                                                                  \
    "  {'name': 'uplink', 'device': 'prov', 'mac': '02:10:00:00:00:01', 'address': '192.0.2.2/30',"               \
    "   'host': 'gw', 'interface': 'eth1'},"                                                                      \
    "  {'name': 'prov-t', 'device': 'prov', 'mac': '02:10:00:00:00:02', 'address': '100.64.0.1/24',"              \
    "   'peer': 't-up'},"                                                                                          \
    "  {'name': 't-up', 'device': 'tr', 'mac': '02:20:00:00:00:01', 'address': '100.64.0.2/24',"                  \
    "   'peer': 'prov-t'},"                                                                                        \
    "  {'name': 't-lan', 'device': 'tr', 'mac': '02:20:00:00:00:02', 'address': '10.1.0.1/24', 'peer': 'br-r'},"  \
    "  {'name': 'br-r', 'device': 'br', 'peer': 't-lan'},"                                                         \
    "  {'name': 'vm1', 'device': 'br', 'mac': '02:30:00:00:00:0a', 'fixed_ips': ['10.1.0.10'], 'host': 'hv1',"    \
    "   'interface': 'tap1'},"                                                                                    \
    "  {'name': 'vm2', 'device': 'br', 'mac': '02:30:00:00:00:0b', 'fixed_ips': ['10.1.0.11'], 'host': 'hv2',"    \
    "   'interface': 'tap2'}],"                                                                                   \
    " 'routes': ["                                                                                                 \
    "  {'name': 'prov-default', 'router': 'prov', 'dst': '0.0.0.0/0', 'next_hop_port': 'uplink',"                 \
    "   'next_hop_gateway': '192.0.2.1'},"                                                                         \
    "  {'name': 'tr-default', 'router': 'tr', 'dst': '0.0.0.0/0', 'next_hop_port': 't-up',"                       \
    "   'next_hop_gateway': '100.64.0.1'}]}"

#define MAC_UPLINK "02:10:00:00:00:01"
#define MAC_PROV_T "02:10:00:00:00:02"
#define MAC_T_UP "02:20:00:00:00:01"
#define MAC_T_LAN "02:20:00:00:00:02"
#define MAC_VM1 "02:30:00:00:00:0a"
#define MAC_VM2 "02:30:00:00:00:0b"
#define MAC_PEER "02:99:00:00:00:01"   /* the upstream router behind the uplink */
#define NEIGHBOR_PEER "{'port': 'uplink', 'address': '192.0.2.1', 'mac': '" MAC_PEER "'}"

struct world {
    json_t *doc;
    struct sim_topo *t;
    struct sim_state *s;
    struct sim_result r;
};

static inline json_t *jq(const char *text)
{
    char *s = strdup(text);
    json_error_t e;
    json_t *j;

    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    j = json_loads(s, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("bad test JSON at %d:%d: %s\n%s", e.line, e.column, e.text, s);
    free(s);
    return j;
}

static inline void w_init(struct world *w, const char *doc)
{
    memset(w, 0, sizeof(*w));
    w->doc = jq(doc);
    sim_result_init(&w->r);
}

/* Append one resource (JSON text) to the document's 'type' array. */
static inline void w_add(struct world *w, const char *type, const char *obj)
{
    json_t *arr = json_object_get(w->doc, type);

    if (!arr) {
        arr = json_array();
        json_object_set_new(w->doc, type, arr);
    }
    json_array_append_new(arr, jq(obj));
}

/* Set a field of the resource named 'name' in 'type' (JSON value text). */
static inline void w_set(struct world *w, const char *type, const char *name, const char *field, const char *value)
{
    json_t *arr = json_object_get(w->doc, type), *o;
    size_t i;

    json_array_foreach(arr, i, o) {
        if (!strcmp(json_string_value(json_object_get(o, "name")) ?: "", name)) {
            json_object_set_new(o, field, jq(value));
            return;
        }
    }
    fail_msg("no %s named %s", type, name);
}

static inline void w_load(struct world *w)
{
    struct sim_error err;
    int rc;

    if (!w->t)
        assert_int_equal(sim_topo_create(&w->t), 0);
    if (!w->s)
        assert_int_equal(sim_state_create(&w->s, NULL), 0);
    rc = sim_topo_load(w->t, w->doc, &err);
    if (rc)
        fail_msg("load failed (%d): %s", rc, err.msg);
}

static inline void w_free(struct world *w)
{
    sim_result_free(&w->r);
    sim_state_destroy(w->s);
    sim_topo_destroy(w->t);
    json_decref(w->doc);
    memset(w, 0, sizeof(*w));
}

static inline struct sim_id w_id(struct world *w, enum sim_res_type type, const char *name)
{
    struct sim_id id;

    if (sim_topo_resolve(w->t, type, name, &id))
        fail_msg("no resource named %s", name);
    return id;
}

static inline void *w_obj(struct world *w, enum sim_res_type type, const char *name)
{
    void *o = sim_topo_find_ref(w->t, type, name);

    if (!o)
        fail_msg("no resource named %s", name);
    return o;
}

static inline uint32_t ip(const char *s)
{
    struct in_addr a;

    assert_int_equal(inet_pton(AF_INET, s, &a), 1);
    return ntohl(a.s_addr);
}

static inline void mac(const char *s, uint8_t out[6])
{
    unsigned v[6];

    assert_int_equal(sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]), 6);
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)v[i];
}

static inline bool mac_is(const uint8_t m[6], const char *s)
{
    uint8_t want[6];

    mac(s, want);
    return !memcmp(m, want, 6);
}

static inline struct sim_pkt pkt_ip(const char *eth_src, const char *eth_dst, const char *src, const char *dst,
                                    uint8_t proto)
{
    struct sim_pkt p;

    memset(&p, 0, sizeof(p));
    mac(eth_src, p.eth_src);
    mac(eth_dst, p.eth_dst);
    p.eth_type = 0x0800;
    p.ip_src = ip(src);
    p.ip_dst = ip(dst);
    p.proto = proto;
    p.ttl = 64;
    return p;
}

static inline struct sim_pkt pkt_tcp(const char *eth_src, const char *eth_dst, const char *src, uint16_t sport,
                                     const char *dst, uint16_t dport)
{
    struct sim_pkt p = pkt_ip(eth_src, eth_dst, src, dst, 6);

    p.src_port = sport;
    p.dst_port = dport;
    p.tcp_flags = 0x02;
    return p;
}

static inline struct sim_pkt pkt_udp(const char *eth_src, const char *eth_dst, const char *src, uint16_t sport,
                                     const char *dst, uint16_t dport)
{
    struct sim_pkt p = pkt_ip(eth_src, eth_dst, src, dst, 17);

    p.src_port = sport;
    p.dst_port = dport;
    return p;
}

static inline struct sim_pkt pkt_ping(const char *eth_src, const char *eth_dst, const char *src, const char *dst,
                                      uint16_t id)
{
    struct sim_pkt p = pkt_ip(eth_src, eth_dst, src, dst, 1);

    p.icmp_type = 8;
    p.icmp_id = id;
    return p;
}

static inline struct sim_pkt pkt_arp(uint16_t op, const char *eth_src, const char *eth_dst, const char *sha,
                                     const char *spa, const char *tha, const char *tpa)
{
    struct sim_pkt p;

    memset(&p, 0, sizeof(p));
    mac(eth_src, p.eth_src);
    mac(eth_dst, p.eth_dst);
    p.eth_type = 0x0806;
    p.arp_op = op;
    mac(sha, p.arp_sha);
    p.arp_spa = ip(spa);
    mac(tha, p.arp_tha);
    p.arp_tpa = ip(tpa);
    return p;
}

/* Simulate 'p' entering port 'in' at 'now_s' seconds; the verdict. */
static inline enum sim_verdict w_sim(struct world *w, const char *in, const struct sim_pkt *p, uint64_t now_s)
{
    struct sim_id id = w_id(w, SIM_RES_PORT, in);

    assert_int_equal(sim_simulate(w->t, w->s, &id, p, now_s * SEC, &w->r), 0);
    return w->r.verdict;
}

/* The output leaving through port 'name', or NULL. */
static inline const struct sim_output *w_out(struct world *w, const char *name)
{
    struct sim_id id = w_id(w, SIM_RES_PORT, name);

    for (uint32_t i = 0; i < w->r.n_outputs; i++)
        if (!memcmp(&w->r.outputs[i].port_id, &id, sizeof(id)))
            return &w->r.outputs[i];
    return NULL;
}

static inline bool w_has_tag(struct world *w, enum sim_tag_kind kind, const struct sim_id *id, uint64_t key)
{
    uint64_t t = sim_tag(kind, id, key);

    for (uint32_t i = 0; i < w->r.n_tags; i++)
        if (w->r.tags[i] == t)
            return true;
    return false;
}

static inline bool w_has_tag_of(struct world *w, enum sim_tag_kind kind, enum sim_res_type type, const char *name,
                                uint64_t key)
{
    struct sim_id id = w_id(w, type, name);

    return w_has_tag(w, kind, &id, key);
}

/* Some hop's note contains 'needle' (needs r.trace). */
static inline bool w_note(struct world *w, const char *needle)
{
    for (uint32_t i = 0; i < w->r.n_hops; i++)
        if (strstr(w->r.hops[i].note, needle))
            return true;
    return false;
}

static inline void w_dump(struct world *w)
{
    char a[37], b[37], c[37];

    printf("verdict %s reason %s outputs %u\n", sim_verdict_name(w->r.verdict),
           w->r.drop_reason ? w->r.drop_reason : "-", w->r.n_outputs);
    for (uint32_t i = 0; i < w->r.n_hops; i++) {
        sim_id_format(&w->r.hops[i].device, a);
        sim_id_format(&w->r.hops[i].in_port, b);
        sim_id_format(&w->r.hops[i].out_port, c);
        printf("  hop %u dev %.8s in %.8s out %.8s rules %u: %s\n", i, a, b, c, w->r.hops[i].n_rules,
               w->r.hops[i].note);
    }
}

static inline void expect_drop(struct world *w, const char *reason)
{
    if (w->r.verdict != SIM_DROP || !w->r.drop_reason || strcmp(w->r.drop_reason, reason)) {
        w_dump(w);
        fail_msg("expected drop '%s', got %s '%s'", reason, sim_verdict_name(w->r.verdict),
                 w->r.drop_reason ? w->r.drop_reason : "");
    }
}

static inline void expect_verdict(struct world *w, enum sim_verdict v)
{
    if (w->r.verdict != v) {
        w_dump(w);
        fail_msg("expected %s, got %s (%s)", sim_verdict_name(v), sim_verdict_name(w->r.verdict),
                 w->r.drop_reason ? w->r.drop_reason : "");
    }
}

#endif
