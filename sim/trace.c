/*
 * sim/trace.c: the trace request/response codec of api-model.md "Trace".
 *
 * A request names an ingress port and a list of packets; each packet is
 * simulated in order against the same state, so conntrack, NAT and learned
 * MACs made by one are seen by the next. Packets given as JSON get defaults
 * an operator would expect (the ingress port's MAC and first address as
 * source, the MAC of the router the packet heads for as destination), so a
 * trace can be as short as {"in_port": "web1", "packets": [{"ip_dst":
 * "8.8.8.8"}]}. The same code serves POST /v1/trace and `rampartctl trace
 * --topology`.
 */
#include "sim/sim_impl.h"
#include "sim/topo_impl.h"
#include "sim/trace_impl.h"
#include "lib/packet.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A request is bounded so that one API call cannot keep the server busy. */
#define TRACE_MAX_PACKETS 1000

static int fail(struct sim_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct sim_error *err, const char *field, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    err->type = SIM_RES_PORT;
    err->code = -EINVAL;
    return -EINVAL;
}

/* --- names -------------------------------------------------------------------- */

static const struct {
    const char *name;
    uint8_t proto;
} protos[] = {{"icmp", 1}, {"tcp", 6}, {"udp", 17}};

const char *trace_proto_name(uint8_t proto, char buf[8])
{
    for (size_t i = 0; i < RP_ARRAY_SIZE(protos); i++)
        if (protos[i].proto == proto)
            return protos[i].name;
    snprintf(buf, 8, "%u", proto);
    return buf;
}

const char *trace_action_name(uint8_t action)
{
    static const char *const names[] = {"accept", "drop", "reject", "continue", "jump",
                                        "return", "dnat", "snat", "rev_dnat", "rev_snat"};

    return action < RP_ARRAY_SIZE(names) ? names[action] : "unknown";
}

/* TCP flags as scapy writes them ("S", "SA", "FA"), the order operators know. */
static const char tcp_flag_letters[] = "FSRPAUEC";

void trace_tcp_flags_format(uint8_t flags, char out[9])
{
    int n = 0;

    for (int i = 0; i < 8; i++)
        if (flags & (1u << i))
            out[n++] = tcp_flag_letters[i];
    out[n] = 0;
}

static int tcp_flags_parse(const char *s, uint8_t *out)
{
    uint8_t f = 0;

    for (; *s; s++) {
        const char *hit = strchr(tcp_flag_letters, *s >= 'a' && *s <= 'z' ? *s - 32 : *s);
        if (!hit || !*hit)
            return -EINVAL;
        f |= (uint8_t)(1u << (hit - tcp_flag_letters));
    }
    *out = f;
    return 0;
}

const char *trace_tag_kind_name(uint64_t tag)
{
    static const char *const names[] = {"?", "device", "port", "route", "chain", "rule",
                                        "mac", "arp", "state", "table", "group"};
    unsigned k = (unsigned)(tag >> 56);

    return k < RP_ARRAY_SIZE(names) ? names[k] : "?";
}

static void format_mac(const uint8_t m[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void format_ip(uint32_t a, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static const uint8_t mac_broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* --- request decoding ------------------------------------------------------------ */

struct field_ctx {
    const json_t *obj;
    char where[48];          /* "packets[2]" */
    struct sim_error *err;
};

static int bad(struct field_ctx *f, const char *key, const char *what)
{
    char field[64];

    snprintf(field, sizeof(field), "%s", key);
    return fail(f->err, field, "%s.%s: %s", f->where, key, what);
}

/* Each getter: 1 if present and valid, 0 if absent, <0 if invalid. */
static int get_mac(struct field_ctx *f, const char *key, uint8_t out[6])
{
    const json_t *v = json_object_get(f->obj, key);

    if (!v)
        return 0;
    if (!json_is_string(v) || topo_parse_mac(json_string_value(v), out) < 0)
        return bad(f, key, "not a MAC address (aa:bb:cc:dd:ee:ff)");
    return 1;
}

static int get_ip(struct field_ctx *f, const char *key, uint32_t *out)
{
    const json_t *v = json_object_get(f->obj, key);

    if (!v)
        return 0;
    if (!json_is_string(v) || topo_parse_addr(json_string_value(v), out) < 0)
        return bad(f, key, "not an IPv4 address");
    return 1;
}

static int get_uint(struct field_ctx *f, const char *key, uint32_t max, uint32_t *out)
{
    const json_t *v = json_object_get(f->obj, key);

    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (json_int_t)max) {
        char what[48];
        snprintf(what, sizeof(what), "not an integer in 0..%u", max);
        return bad(f, key, what);
    }
    *out = (uint32_t)json_integer_value(v);
    return 1;
}

/* A string from a table, or a number: "tcp" or 6, "arp" or 2054. */
static int get_named(struct field_ctx *f, const char *key, const char *const *names, const uint32_t *values,
                     size_t n, uint32_t max, uint32_t *out)
{
    const json_t *v = json_object_get(f->obj, key);

    if (!v)
        return 0;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        for (size_t i = 0; i < n; i++)
            if (!strcasecmp(s, names[i])) {
                *out = values[i];
                return 1;
            }
        unsigned long x = strtoul(s, &end, 0);   /* "0x0800" */
        if (*s && !*end && x <= max) {
            *out = (uint32_t)x;
            return 1;
        }
    } else if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= (json_int_t)max) {
        *out = (uint32_t)json_integer_value(v);
        return 1;
    }
    char what[160];
    int len = snprintf(what, sizeof(what), "expected one of");
    for (size_t i = 0; i < n && len < (int)sizeof(what) - 16; i++)
        len += snprintf(what + len, sizeof(what) - (size_t)len, " %s", names[i]);
    snprintf(what + len, sizeof(what) - (size_t)len, " or a number");
    return bad(f, key, what);
}

static int get_proto(struct field_ctx *f, const char *key, uint8_t *out)
{
    static const char *const names[] = {"icmp", "tcp", "udp"};
    static const uint32_t values[] = {1, 6, 17};
    uint32_t v;
    int rc = get_named(f, key, names, values, 3, 255, &v);

    if (rc > 0)
        *out = (uint8_t)v;
    return rc;
}

/* The MAC a packet entering at 'in' most likely carries as destination:
 * the VM port holding ip_dst on the same bridge, else a router port on the
 * bridge (the one whose subnet holds the source first), else the port
 * itself on a router. Unknown: broadcast, which a bridge floods. */
static void default_eth_dst(const struct sim_port *in, uint32_t ip_src, uint32_t ip_dst, uint8_t out[6])
{
    const struct sim_device *d = in->device;
    const struct sim_port *router_port = NULL;

    memcpy(out, mac_broadcast, 6);
    if (!d)
        return;
    if (d->obj.type == SIM_RES_ROUTER) {
        if (in->has_mac)
            memcpy(out, in->mac, 6);
        return;
    }
    for (uint32_t i = 0; i < d->n_ports; i++) {
        const struct sim_port *p = d->ports[i];
        const struct sim_port *peer = p->peer;
        if (p == in)
            continue;
        for (uint32_t k = 0; k < p->n_fixed_ips; k++)
            if (p->fixed_ips[k] == ip_dst && p->has_mac) {
                memcpy(out, p->mac, 6);
                return;
            }
        if (peer && peer->device && peer->device->obj.type == SIM_RES_ROUTER && peer->has_mac) {
            uint32_t mask = peer->plen ? ~0u << (32 - peer->plen) : 0;
            if (!router_port || ((peer->addr ^ ip_src) & mask) == 0)
                router_port = peer;
            if (peer->addr == ip_dst)
                router_port = peer;
        }
    }
    if (router_port)
        memcpy(out, router_port->mac, 6);
}

/* A MAC for a port that has none in the topology: locally administered,
 * from the port's id, so traces are repeatable. */
static void default_eth_src(const struct sim_port *in, uint8_t out[6])
{
    if (in->has_mac) {
        memcpy(out, in->mac, 6);
        return;
    }
    out[0] = 0x02;
    memcpy(out + 1, in->obj.id.b + 11, 5);
}

static uint32_t default_ip_src(const struct sim_port *in)
{
    if (in->n_fixed_ips)
        return in->fixed_ips[0];
    return in->addr;
}

static int decode_embedded(struct field_ctx *parent, const json_t *v, struct sim_pkt *p)
{
    struct field_ctx f = {.obj = v, .err = parent->err};
    uint32_t x = 0;
    int rc;

    snprintf(f.where, sizeof(f.where), "%.32s.embedded", parent->where);
    if (!json_is_object(v))
        return fail(parent->err, "embedded", "%s.embedded: not an object", parent->where);
    p->has_embedded = true;
    if ((rc = get_ip(&f, "ip_src", &p->embedded.ip_src)) < 0 || (rc = get_ip(&f, "ip_dst", &p->embedded.ip_dst)) < 0)
        return rc;
    p->embedded.proto = IP_PROTO_UDP;
    if ((rc = get_proto(&f, "proto", &p->embedded.proto)) < 0)
        return rc;
    if ((rc = get_uint(&f, "src_port", 65535, &x)) < 0)
        return rc;
    p->embedded.src_port = rc ? (uint16_t)x : 40000;
    if ((rc = get_uint(&f, "dst_port", 65535, &x)) < 0)
        return rc;
    p->embedded.dst_port = rc ? (uint16_t)x : 33434;
    if ((rc = get_uint(&f, "icmp_id", 65535, &x)) < 0)
        return rc;
    p->embedded.icmp_id = rc ? (uint16_t)x : 1;
    return 0;
}

static int decode_arp(struct field_ctx *f, const struct sim_port *in, struct sim_pkt *p)
{
    static const char *const ops[] = {"request", "reply"};
    static const uint32_t op_values[] = {1, 2};
    uint32_t x = 0;
    int rc;

    if ((rc = get_named(f, "arp_op", ops, op_values, 2, 65535, &x)) < 0)
        return rc;
    p->arp_op = rc ? (uint16_t)x : 1;
    memcpy(p->arp_sha, p->eth_src, 6);
    if ((rc = get_mac(f, "arp_sha", p->arp_sha)) < 0)
        return rc;
    p->arp_spa = default_ip_src(in);
    if ((rc = get_ip(f, "arp_spa", &p->arp_spa)) < 0)
        return rc;
    if ((rc = get_mac(f, "arp_tha", p->arp_tha)) < 0)
        return rc;
    if ((rc = get_ip(f, "arp_tpa", &p->arp_tpa)) < 0)
        return rc;
    if (!rc)
        return bad(f, "arp_tpa", "required for an ARP packet");
    return 0;
}

static const char *const known_fields[] = {
    "eth_src", "eth_dst", "eth_type", "vlan", "ip_src", "ip_dst", "proto", "ttl", "tos", "src_port",
    "dst_port", "tcp_flags", "icmp_type", "icmp_code", "icmp_id", "embedded", "fragment", "in_port",
    "arp_op", "arp_sha", "arp_spa", "arp_tha", "arp_tpa", NULL};

int trace_decode_packet(const struct sim_topo *t, const json_t *v, unsigned idx, const struct sim_port *default_in,
                        const struct sim_port **in_out, struct sim_pkt *p, struct sim_error *err)
{
    static const char *const eth_names[] = {"ipv4", "arp", "ipv6"};
    static const uint32_t eth_values[] = {0x0800, 0x0806, 0x86dd};
    static const char *const frag_names[] = {"none", "first", "later"};
    static const uint32_t frag_values[] = {SIM_PKT_FRAG_NONE, SIM_PKT_FRAG_FIRST, SIM_PKT_FRAG_LATER};
    struct field_ctx f = {.obj = v, .err = err};
    const struct sim_port *in = default_in;
    const char *key;
    const json_t *val;
    uint32_t x = 0;
    int rc, has_dst_mac;

    snprintf(f.where, sizeof(f.where), "packets[%u]", idx);
    memset(p, 0, sizeof(*p));
    if (!json_is_object(v))
        return fail(err, "packets", "%s: not an object", f.where);
    json_object_foreach((json_t *)v, key, val) {
        bool known = false;
        for (const char *const *k = known_fields; *k && !known; k++)
            known = !strcmp(*k, key);
        if (!known)
            return bad(&f, key, "unknown field");
    }
    val = json_object_get(v, "in_port");
    if (val) {
        const struct sim_obj *o = json_is_string(val)
                                      ? sim_topo_find_ref(t, SIM_RES_PORT, json_string_value(val))
                                      : NULL;
        if (!o)
            return bad(&f, "in_port", "no such port");
        in = (const struct sim_port *)o;
    }
    *in_out = in;

    p->eth_type = 0x0800;
    if ((rc = get_named(&f, "eth_type", eth_names, eth_values, 3, 65535, &x)) < 0)
        return rc;
    if (rc)
        p->eth_type = (uint16_t)x;
    if ((rc = get_uint(&f, "vlan", 4095, &x)) < 0)
        return rc;
    p->vlan = (uint16_t)x * (rc > 0);
    default_eth_src(in, p->eth_src);
    if ((rc = get_mac(&f, "eth_src", p->eth_src)) < 0)
        return rc;
    if ((has_dst_mac = get_mac(&f, "eth_dst", p->eth_dst)) < 0)
        return has_dst_mac;

    if (p->eth_type == 0x0806) {
        if ((rc = decode_arp(&f, in, p)) < 0)
            return rc;
        if (!has_dst_mac)
            memcpy(p->eth_dst, p->arp_op == 1 ? mac_broadcast : p->arp_tha, 6);
        return 0;
    }
    if (p->eth_type != 0x0800) {
        if (!has_dst_mac)
            memcpy(p->eth_dst, mac_broadcast, 6);
        return 0;
    }

    p->ip_src = default_ip_src(in);
    if ((rc = get_ip(&f, "ip_src", &p->ip_src)) < 0)
        return rc;
    if (!rc && !p->ip_src)
        return bad(&f, "ip_src", "required: the ingress port has no address to default to");
    if ((rc = get_ip(&f, "ip_dst", &p->ip_dst)) < 0)
        return rc;
    if (!rc)
        return bad(&f, "ip_dst", "required");
    bool has_ports = json_object_get(v, "src_port") || json_object_get(v, "dst_port");
    p->proto = has_ports ? IP_PROTO_TCP : IP_PROTO_ICMP;
    if ((rc = get_proto(&f, "proto", &p->proto)) < 0)
        return rc;
    p->ttl = 64;
    if ((rc = get_uint(&f, "ttl", 255, &x)) < 0)
        return rc;
    if (rc)
        p->ttl = (uint8_t)x;
    if ((rc = get_uint(&f, "tos", 255, &x)) < 0)
        return rc;
    p->tos = (uint8_t)x * (rc > 0);
    if ((rc = get_named(&f, "fragment", frag_names, frag_values, 3, 2, &x)) < 0)
        return rc;
    p->fragment = (uint8_t)x * (rc > 0);

    p->src_port = 40000;
    p->dst_port = 80;
    if ((rc = get_uint(&f, "src_port", 65535, &x)) < 0)
        return rc;
    if (rc)
        p->src_port = (uint16_t)x;
    if ((rc = get_uint(&f, "dst_port", 65535, &x)) < 0)
        return rc;
    if (rc)
        p->dst_port = (uint16_t)x;
    if (p->proto == IP_PROTO_TCP) {
        p->tcp_flags = 0x02;   /* SYN: a trace usually starts a connection */
        val = json_object_get(v, "tcp_flags");
        if (val && json_is_string(val)) {
            if (tcp_flags_parse(json_string_value(val), &p->tcp_flags) < 0)
                return bad(&f, "tcp_flags", "letters of FSRPAUEC (\"S\", \"SA\", \"A\") or a number");
        } else if ((rc = get_uint(&f, "tcp_flags", 255, &x)) < 0) {
            return rc;
        } else if (rc) {
            p->tcp_flags = (uint8_t)x;
        }
    }
    if (p->proto != IP_PROTO_TCP && p->proto != IP_PROTO_UDP)
        p->src_port = p->dst_port = 0;
    if (p->proto == IP_PROTO_ICMP) {
        p->icmp_type = 8;
        p->icmp_id = 1;
        if ((rc = get_uint(&f, "icmp_type", 255, &x)) < 0)
            return rc;
        if (rc)
            p->icmp_type = (uint8_t)x;
        if ((rc = get_uint(&f, "icmp_code", 255, &x)) < 0)
            return rc;
        p->icmp_code = (uint8_t)x * (rc > 0);
        if ((rc = get_uint(&f, "icmp_id", 65535, &x)) < 0)
            return rc;
        if (rc)
            p->icmp_id = (uint16_t)x;
        val = json_object_get(v, "embedded");
        if (val && (rc = decode_embedded(&f, val, p)) < 0)
            return rc;
        if (!val && (p->icmp_type == 3 || p->icmp_type == 11 || p->icmp_type == 12))
            return bad(&f, "embedded", "required for an ICMP error (the quoted packet)");
    }
    if (!has_dst_mac)
        default_eth_dst(in, p->ip_src, p->ip_dst, p->eth_dst);
    return 0;
}

/* --- response encoding ------------------------------------------------------------- */

static json_t *id_json(const struct sim_id *id)
{
    char s[37];

    if (sim_id_is_zero(id))
        return json_null();
    sim_id_format(id, s);
    return json_string(s);
}

static void set_mac(json_t *o, const char *key, const uint8_t m[6])
{
    char s[18];

    format_mac(m, s);
    json_object_set_new(o, key, json_string(s));
}

static void set_ip(json_t *o, const char *key, uint32_t a)
{
    char s[16];

    format_ip(a, s);
    json_object_set_new(o, key, json_string(s));
}

json_t *trace_packet_json(const struct sim_pkt *p)
{
    json_t *o = json_object();
    char buf[16];

    set_mac(o, "eth_src", p->eth_src);
    set_mac(o, "eth_dst", p->eth_dst);
    if (p->eth_type == 0x0800)
        json_object_set_new(o, "eth_type", json_string("ipv4"));
    else if (p->eth_type == 0x0806)
        json_object_set_new(o, "eth_type", json_string("arp"));
    else {
        snprintf(buf, sizeof(buf), "0x%04x", p->eth_type);
        json_object_set_new(o, "eth_type", json_string(buf));
    }
    if (p->vlan)
        json_object_set_new(o, "vlan", json_integer(p->vlan));
    if (p->eth_type == 0x0806) {
        json_object_set_new(o, "arp_op", p->arp_op == 1   ? json_string("request")
                                         : p->arp_op == 2 ? json_string("reply")
                                                          : json_integer(p->arp_op));
        set_mac(o, "arp_sha", p->arp_sha);
        set_ip(o, "arp_spa", p->arp_spa);
        set_mac(o, "arp_tha", p->arp_tha);
        set_ip(o, "arp_tpa", p->arp_tpa);
        return o;
    }
    if (p->eth_type != 0x0800)
        return o;
    set_ip(o, "ip_src", p->ip_src);
    set_ip(o, "ip_dst", p->ip_dst);
    json_object_set_new(o, "proto", json_string(trace_proto_name(p->proto, buf)));
    json_object_set_new(o, "ttl", json_integer(p->ttl));
    if (p->tos)
        json_object_set_new(o, "tos", json_integer(p->tos));
    if (p->fragment)
        json_object_set_new(o, "fragment", json_string(p->fragment == SIM_PKT_FRAG_FIRST ? "first" : "later"));
    if (p->proto == IP_PROTO_TCP || p->proto == IP_PROTO_UDP) {
        json_object_set_new(o, "src_port", json_integer(p->src_port));
        json_object_set_new(o, "dst_port", json_integer(p->dst_port));
    }
    if (p->proto == IP_PROTO_TCP) {
        char flags[9];
        trace_tcp_flags_format(p->tcp_flags, flags);
        json_object_set_new(o, "tcp_flags", json_string(flags));
    }
    if (p->proto == IP_PROTO_ICMP) {
        json_object_set_new(o, "icmp_type", json_integer(p->icmp_type));
        json_object_set_new(o, "icmp_code", json_integer(p->icmp_code));
        if (p->icmp_type == 0 || p->icmp_type == 8)
            json_object_set_new(o, "icmp_id", json_integer(p->icmp_id));
    }
    if (p->has_embedded) {
        json_t *e = json_object();
        set_ip(e, "ip_src", p->embedded.ip_src);
        set_ip(e, "ip_dst", p->embedded.ip_dst);
        json_object_set_new(e, "proto", json_string(trace_proto_name(p->embedded.proto, buf)));
        if (p->embedded.proto == IP_PROTO_ICMP) {
            json_object_set_new(e, "icmp_id", json_integer(p->embedded.icmp_id));
        } else {
            json_object_set_new(e, "src_port", json_integer(p->embedded.src_port));
            json_object_set_new(e, "dst_port", json_integer(p->embedded.dst_port));
        }
        json_object_set_new(o, "embedded", e);
    }
    return o;
}

static json_t *hops_json(const struct sim_result *r)
{
    json_t *hops = json_array();

    for (uint32_t i = 0; i < r->n_hops; i++) {
        const struct sim_hop *h = &r->hops[i];
        json_t *o = json_object(), *rules = json_array();

        json_object_set_new(o, "device", id_json(&h->device));
        json_object_set_new(o, "device_type", json_string(h->is_router ? "router" : "bridge"));
        json_object_set_new(o, "in_port", id_json(&h->in_port));
        json_object_set_new(o, "out_port", id_json(&h->out_port));
        for (uint32_t k = 0; k < h->n_rules; k++) {
            json_t *ru = json_object();
            json_object_set_new(ru, "chain", id_json(&h->rules[k].chain));
            json_object_set_new(ru, "rule", id_json(&h->rules[k].rule));
            json_object_set_new(ru, "action", json_string(trace_action_name(h->rules[k].action)));
            json_array_append_new(rules, ru);
        }
        json_object_set_new(o, "rules", rules);
        json_object_set_new(o, "note", json_string(h->note));
        json_array_append_new(hops, o);
    }
    return hops;
}

/* printf into a growing buffer, cut at its end: flow strings are for people. */
struct strbuf {
    char s[1024];
    size_t n;
};

static void sb_add(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int w;

    if (b->n >= sizeof(b->s) - 1)
        return;
    va_start(ap, fmt);
    w = vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
    va_end(ap);
    if (w > 0)
        b->n = b->n + (size_t)w < sizeof(b->s) ? b->n + (size_t)w : sizeof(b->s) - 1;
}

/* The flow the datapath installs: its match is the ingress packet's key
 * fields; its actions are the header changes between the packet that came
 * in and each packet that goes out, then where it goes. */
static void flow_match(const struct sim_port *in, const struct sim_pkt *p, struct strbuf *b)
{
    char s[37], m[18], a[16], pb[8];

    sim_id_format(&in->obj.id, s);
    sb_add(b, "in_port=%s", s);
    format_mac(p->eth_src, m);
    sb_add(b, ",eth_src=%s", m);
    format_mac(p->eth_dst, m);
    sb_add(b, ",eth_dst=%s,eth_type=0x%04x", m, p->eth_type);
    if (p->vlan)
        sb_add(b, ",vlan=%u", p->vlan);
    if (p->eth_type == 0x0806) {
        format_ip(p->arp_tpa, a);
        sb_add(b, ",arp_op=%u,arp_tpa=%s", p->arp_op, a);
        return;
    }
    if (p->eth_type != 0x0800)
        return;
    format_ip(p->ip_src, a);
    sb_add(b, ",ip_src=%s", a);
    format_ip(p->ip_dst, a);
    sb_add(b, ",ip_dst=%s,proto=%s", a, trace_proto_name(p->proto, pb));
    if (p->fragment)
        sb_add(b, ",fragment=%s", p->fragment == SIM_PKT_FRAG_FIRST ? "first" : "later");
    if (p->proto == IP_PROTO_TCP || p->proto == IP_PROTO_UDP)
        sb_add(b, ",src_port=%u,dst_port=%u", p->src_port, p->dst_port);
    else if (p->proto == IP_PROTO_ICMP) {
        sb_add(b, ",icmp_type=%u,icmp_code=%u", p->icmp_type, p->icmp_code);
        if (p->icmp_type == 0 || p->icmp_type == 8)
            sb_add(b, ",icmp_id=%u", p->icmp_id);
    }
}

static void flow_actions(const struct sim_pkt *in, const struct sim_result *r, struct strbuf *b)
{
    char s[37], m[18], a[16];

    if (r->verdict == SIM_DROP) {
        sb_add(b, "drop(%s)", r->drop_reason ? r->drop_reason : "?");
        return;
    }
    if (r->verdict == SIM_CONSUME) {
        sb_add(b, "consume");
        return;
    }
    if (!r->n_outputs) {
        sb_add(b, r->verdict == SIM_FORWARD ? "drop" : "reply(dropped on its way)");
        return;
    }
    for (uint32_t i = 0; i < r->n_outputs; i++) {
        const struct sim_output *o = &r->outputs[i];
        const struct sim_pkt *p = &o->pkt;
        bool generated = r->verdict == SIM_REPLY || r->verdict == SIM_PENDING;

        if (i)
            sb_add(b, ";");
        if (generated) {
            sb_add(b, "%s(", r->verdict == SIM_PENDING ? "arp_request" : "reply");
        } else {
            if (memcmp(p->eth_src, in->eth_src, 6)) {
                format_mac(p->eth_src, m);
                sb_add(b, "set(eth_src=%s),", m);
            }
            if (memcmp(p->eth_dst, in->eth_dst, 6)) {
                format_mac(p->eth_dst, m);
                sb_add(b, "set(eth_dst=%s),", m);
            }
            if (p->eth_type == 0x0800) {
                if (p->ip_src != in->ip_src) {
                    format_ip(p->ip_src, a);
                    sb_add(b, "set(ip_src=%s),", a);
                }
                if (p->ip_dst != in->ip_dst) {
                    format_ip(p->ip_dst, a);
                    sb_add(b, "set(ip_dst=%s),", a);
                }
                if (p->src_port != in->src_port)
                    sb_add(b, "set(src_port=%u),", p->src_port);
                if (p->dst_port != in->dst_port)
                    sb_add(b, "set(dst_port=%u),", p->dst_port);
                if (p->icmp_id != in->icmp_id)
                    sb_add(b, "set(icmp_id=%u),", p->icmp_id);
                if (p->has_embedded && memcmp(&p->embedded, &in->embedded, sizeof(p->embedded)))
                    sb_add(b, "set(embedded),");
                if (p->ttl != in->ttl)
                    sb_add(b, "set(ttl=%u),", p->ttl);
            }
        }
        sim_id_format(&o->port_id, s);
        if (o->host_tunnel_ip) {
            format_ip(o->host_tunnel_ip, a);
            sb_add(b, "tunnel(key=%u,host=%s)->port=%s", o->tunnel_key, a, s);
        } else {
            sb_add(b, "output(port=%s)", s);
        }
        if (generated)
            sb_add(b, ")");
    }
}

static json_t *flow_json(const struct sim_port *in, const struct sim_pkt *p, const struct sim_result *r)
{
    json_t *o = json_object(), *tags = json_array();
    struct strbuf b = {.n = 0};

    flow_match(in, p, &b);
    json_object_set_new(o, "match", json_string(b.s));
    b.n = 0;
    b.s[0] = 0;
    flow_actions(p, r, &b);
    json_object_set_new(o, "actions", json_string(b.s));
    for (uint32_t i = 0; i < r->n_tags; i++) {
        char s[40];
        snprintf(s, sizeof(s), "%s:%014" PRIx64, trace_tag_kind_name(r->tags[i]), (uint64_t)(r->tags[i] & ((UINT64_C(1) << 56) - 1)));
        json_array_append_new(tags, json_string(s));
    }
    json_object_set_new(o, "tags", tags);
    return o;
}

json_t *trace_result_json(const struct sim_port *in, const struct sim_pkt *p, const struct sim_result *r)
{
    json_t *o = json_object(), *outs = json_array();

    char id[37];

    sim_id_format(&in->obj.id, id);
    json_object_set_new(o, "in_port", json_string(id));
    json_object_set_new(o, "packet", trace_packet_json(p));
    json_object_set_new(o, "result", json_string(sim_verdict_name(r->verdict)));
    if (r->verdict == SIM_DROP)
        json_object_set_new(o, "drop_reason", json_string(r->drop_reason ? r->drop_reason : "unknown"));
    for (uint32_t i = 0; i < r->n_outputs; i++) {
        const struct sim_output *out = &r->outputs[i];
        json_t *x = json_object();
        json_object_set_new(x, "port", id_json(&out->port_id));
        json_object_set_new(x, "host", id_json(&out->host_id));
        json_object_set_new(x, "tunnel_key", json_integer(out->tunnel_key));
        json_object_set_new(x, "packet", trace_packet_json(&out->pkt));
        json_array_append_new(outs, x);
    }
    json_object_set_new(o, "outputs", outs);
    json_object_set_new(o, "hops", hops_json(r));
    json_object_set_new(o, "flow", flow_json(in, p, r));
    return o;
}

/* --- the entry point ------------------------------------------------------------------- */

int sim_trace_json(const struct sim_topo *t, struct sim_state *s, const json_t *request, uint64_t now_ns,
                   json_t **response, struct sim_error *err)
{
    const struct sim_obj *in_obj = NULL;
    const json_t *packets, *v;
    struct sim_result r;
    json_t *results = NULL;
    const char *key;
    size_t i;
    int rc = 0;

    *response = NULL;
    memset(err, 0, sizeof(*err));
    if (!json_is_object(request))
        return fail(err, "", "a trace request is an object {\"in_port\": ..., \"packets\": [...]}");
    json_object_foreach((json_t *)request, key, v) {
        if (strcmp(key, "in_port") && strcmp(key, "packets"))
            return fail(err, key, "%s: unknown field (expected in_port and packets)", key);
    }
    v = json_object_get(request, "in_port");
    if (!v || !json_is_string(v))
        return fail(err, "in_port", "in_port: required, a port id or name");
    in_obj = sim_topo_find_ref(t, SIM_RES_PORT, json_string_value(v));
    if (!in_obj)
        return fail(err, "in_port", "in_port: no such port '%s'", json_string_value(v));
    packets = json_object_get(request, "packets");
    if (!json_is_array(packets) || json_array_size(packets) == 0)
        return fail(err, "packets", "packets: required, a non-empty array of packets");
    if (json_array_size(packets) > TRACE_MAX_PACKETS)
        return fail(err, "packets", "packets: at most %d packets per trace", TRACE_MAX_PACKETS);

    /* Decode everything first: a bad packet refuses the whole request
     * before any state changes. */
    size_t n = json_array_size(packets);
    struct sim_pkt *pkts = calloc(n, sizeof(*pkts));
    const struct sim_port **ins = calloc(n, sizeof(*ins));
    if (!pkts || !ins) {
        rc = -ENOMEM;
        goto out;
    }
    json_array_foreach(packets, i, v) {
        rc = trace_decode_packet(t, v, (unsigned)i, (const struct sim_port *)in_obj, &ins[i], &pkts[i], err);
        if (rc < 0)
            goto out;
    }

    sim_result_init(&r);
    r.trace = true;
    results = json_array();
    for (i = 0; i < n; i++) {
        sim_result_reset(&r);
        rc = sim_simulate(t, s, &ins[i]->obj.id, &pkts[i], now_ns + i * 1000, &r);
        if (rc < 0)
            break;
        json_array_append_new(results, trace_result_json(ins[i], &pkts[i], &r));
    }
    sim_result_free(&r);
    if (rc < 0) {
        json_decref(results);
        results = NULL;
        snprintf(err->msg, sizeof(err->msg), "out of memory while simulating");
        err->code = rc;
        goto out;
    }
    *response = json_object();
    json_object_set_new(*response, "results", results);
out:
    free(pkts);
    free(ins);
    return rc;
}
