/*
 * sim/topo_schema.c: what every resource type of api-model.md may hold, and
 * the check that turns an incoming JSON object into its canonical document
 * (addresses normalised, references resolved to ids, defaults filled in).
 *
 * The schema is a table per type, so a new field is one line, and every
 * refusal names the field: "device: no router or bridge 'r9'".
 */
#include "sim/topo_impl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const route_types[] = {"normal", "blackhole", "reject", NULL};
static const char *const actions[] = {"accept", "drop", "reject", "continue", "jump", "return",
                                      "dnat", "snat", "rev_dnat", "rev_snat", NULL};
static const char *const frag_policies[] = {"any", "header", "nonheader", "unfragmented", NULL};

#define DEV (SIM_RES_COUNT + 1)   /* a router or a bridge */

#define F(n, k) {.name = n, .kind = k}
#define FR(n, k, t) {.name = n, .kind = k, .ref = t}
#define REQ .required = true
#define RO .readonly = true

static const struct topo_field host_fields[] = {
    {.name = "tunnel_ip", .kind = F_ADDR, REQ},
    {.name = "alive", .kind = F_BOOL, RO},
};
static const struct topo_field device_fields[] = {
    F("tenant", F_STR),
    {.name = "admin_state_up", .kind = F_BOOL, .def = "true"},
    FR("inbound_filter", F_REF, SIM_RES_CHAIN),
    FR("outbound_filter", F_REF, SIM_RES_CHAIN),
};
static const struct topo_field port_fields[] = {
    {.name = "device", .kind = F_REF, .ref = DEV, REQ},
    {.name = "admin_state_up", .kind = F_BOOL, .def = "true"},
    F("mac", F_MAC),
    F("address", F_CIDR),
    F("fixed_ips", F_ADDRS),
    {.name = "peer", .kind = F_REF, .ref = SIM_RES_PORT, .soft = true},
    FR("host", F_REF, SIM_RES_HOST),
    F("interface", F_STR),
    FR("inbound_filter", F_REF, SIM_RES_CHAIN),
    FR("outbound_filter", F_REF, SIM_RES_CHAIN),
    {.name = "tunnel_key", .kind = F_INT, .min = 1, .max = 0xffffff, RO},
};
static const struct topo_field route_fields[] = {
    {.name = "router", .kind = F_REF, .ref = SIM_RES_ROUTER, REQ},
    {.name = "dst", .kind = F_PREFIX, REQ},
    {.name = "src", .kind = F_PREFIX, .def = "0.0.0.0/0"},
    FR("next_hop_port", F_REF, SIM_RES_PORT),
    F("next_hop_gateway", F_ADDR),
    {.name = "type", .kind = F_ENUM, .choices = route_types, .def = "normal"},
    {.name = "weight", .kind = F_INT, .min = 0, .max = 65535, .def = "100"},
    {.name = "learned", .kind = F_BOOL, RO},
};
static const struct topo_field chain_fields[] = {
    F("tenant", F_STR),
};
static const struct topo_field rule_fields[] = {
    {.name = "chain", .kind = F_REF, .ref = SIM_RES_CHAIN, REQ},
    {.name = "position", .kind = F_INT, .min = 1, .max = 1000000, .def = "1"},
    {.name = "action", .kind = F_ENUM, .choices = actions, REQ},
    FR("jump_chain", F_REF, SIM_RES_CHAIN),
    F("nat_targets", F_TARGETS),
    {.name = "in_ports", .kind = F_REFS, .ref = SIM_RES_PORT, .inv = true},
    {.name = "out_ports", .kind = F_REFS, .ref = SIM_RES_PORT, .inv = true},
    {.name = "port_group", .kind = F_REF, .ref = SIM_RES_PORT_GROUP, .inv = true},
    {.name = "in_port_group", .kind = F_REF, .ref = SIM_RES_PORT_GROUP, .inv = true},
    {.name = "out_port_group", .kind = F_REF, .ref = SIM_RES_PORT_GROUP, .inv = true},
    {.name = "ip_group_src", .kind = F_REF, .ref = SIM_RES_IP_GROUP, .inv = true},
    {.name = "ip_group_dst", .kind = F_REF, .ref = SIM_RES_IP_GROUP, .inv = true},
    {.name = "eth_type", .kind = F_INT, .min = 0, .max = 0xffff, .inv = true},
    {.name = "eth_src", .kind = F_MAC, .inv = true},
    {.name = "eth_src_mask", .kind = F_MAC},
    {.name = "eth_dst", .kind = F_MAC, .inv = true},
    {.name = "eth_dst_mask", .kind = F_MAC},
    {.name = "nw_src", .kind = F_PREFIX, .inv = true},
    {.name = "nw_dst", .kind = F_PREFIX, .inv = true},
    {.name = "nw_proto", .kind = F_INT, .min = 0, .max = 255, .inv = true},
    {.name = "nw_tos", .kind = F_INT, .min = 0, .max = 255, .inv = true},
    {.name = "tp_src", .kind = F_RANGE, .inv = true},
    {.name = "tp_dst", .kind = F_RANGE, .inv = true},
    {.name = "fragment_policy", .kind = F_ENUM, .choices = frag_policies},
    {.name = "match_forward_flow", .kind = F_BOOL, .inv = true},
    {.name = "match_return_flow", .kind = F_BOOL, .inv = true},
};
static const struct topo_field port_group_fields[] = {
    {.name = "stateful", .kind = F_BOOL, .def = "false"},
    FR("ports", F_REFS, SIM_RES_PORT),
};
static const struct topo_field ip_group_fields[] = {
    F("addresses", F_ADDRS),
};
static const struct topo_field fip_fields[] = {
    {.name = "address", .kind = F_ADDR, REQ},
    {.name = "router", .kind = F_REF, .ref = SIM_RES_ROUTER, REQ},
    {.name = "port", .kind = F_REF, .ref = SIM_RES_PORT, REQ},
    {.name = "fixed_ip", .kind = F_ADDR, REQ},
};
static const struct topo_field neighbor_fields[] = {
    {.name = "port", .kind = F_REF, .ref = SIM_RES_PORT, REQ},
    {.name = "address", .kind = F_ADDR, REQ},
    {.name = "mac", .kind = F_MAC, REQ},
};
static const struct topo_field bgp_peer_fields[] = {
    {.name = "port", .kind = F_REF, .ref = SIM_RES_PORT, REQ},
    {.name = "peer_address", .kind = F_ADDR, REQ},
    {.name = "peer_asn", .kind = F_INT, .min = 1, .max = 4294967295LL, REQ},
    {.name = "local_asn", .kind = F_INT, .min = 1, .max = 4294967295LL, REQ},
    {.name = "hold_time", .kind = F_INT, .min = 0, .max = 65535},
    {.name = "keepalive", .kind = F_INT, .min = 0, .max = 65535},
    {.name = "bfd", .kind = F_BOOL, .def = "true"},
    F("password", F_STR),
    {.name = "state", .kind = F_STR, RO},
};
static const struct topo_field bgp_network_fields[] = {
    {.name = "router", .kind = F_REF, .ref = SIM_RES_ROUTER, REQ},
    {.name = "prefix", .kind = F_PREFIX, REQ},
};

#define SCHEMA(t, k, f) [t] = {t, k, f, sizeof(f) / sizeof(f[0])}
const struct topo_schema topo_schemas[SIM_RES_COUNT] = {
    SCHEMA(SIM_RES_HOST, "hosts", host_fields),
    SCHEMA(SIM_RES_CHAIN, "chains", chain_fields),
    SCHEMA(SIM_RES_IP_GROUP, "ip_groups", ip_group_fields),
    SCHEMA(SIM_RES_ROUTER, "routers", device_fields),
    SCHEMA(SIM_RES_BRIDGE, "bridges", device_fields),
    SCHEMA(SIM_RES_PORT, "ports", port_fields),
    SCHEMA(SIM_RES_PORT_GROUP, "port_groups", port_group_fields),
    SCHEMA(SIM_RES_RULE, "rules", rule_fields),
    SCHEMA(SIM_RES_ROUTE, "routes", route_fields),
    SCHEMA(SIM_RES_NEIGHBOR, "neighbors", neighbor_fields),
    SCHEMA(SIM_RES_FLOATING_IP, "floating_ips", fip_fields),
    SCHEMA(SIM_RES_BGP_PEER, "bgp_peers", bgp_peer_fields),
    SCHEMA(SIM_RES_BGP_NETWORK, "bgp_networks", bgp_network_fields),
};

const char *sim_res_type_key(enum sim_res_type t)
{
    return (unsigned)t < SIM_RES_COUNT ? topo_schemas[t].key : "?";
}

int sim_res_type_from_key(const char *key, enum sim_res_type *out)
{
    for (int t = 0; t < SIM_RES_COUNT; t++) {
        if (!strcmp(topo_schemas[t].key, key)) {
            *out = (enum sim_res_type)t;
            return 0;
        }
    }
    return -EINVAL;
}

static const char *type_noun(int t)
{
    static const char *const nouns[SIM_RES_COUNT] = {
        "host", "chain", "ip group", "router", "bridge", "port", "port group", "rule", "route",
        "neighbor", "floating ip", "bgp peer", "bgp network"};
    return t == DEV ? "router or bridge" : (unsigned)t < SIM_RES_COUNT ? nouns[t] : "?";
}

/* --- value checks ------------------------------------------------------------------ */

int topo_parse_addr(const char *s, uint32_t *out)
{
    struct in_addr a;

    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return -EINVAL;
    *out = ntohl(a.s_addr);
    return 0;
}

/* "a.b.c.d/len". With host bits allowed (a router port's address and
 * subnet) or refused (a route's prefix). */
int topo_parse_cidr(const char *s, bool host_bits_ok, uint32_t *addr, uint8_t *len)
{
    char buf[32], *slash, *end;
    long l;

    if (!s || strlen(s) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, s);
    slash = strchr(buf, '/');
    if (!slash)
        return -EINVAL;
    *slash = '\0';
    if (!isdigit((unsigned char)slash[1]))
        return -EINVAL;
    l = strtol(slash + 1, &end, 10);
    if (*end || l < 0 || l > 32 || topo_parse_addr(buf, addr) < 0)
        return -EINVAL;
    *len = (uint8_t)l;
    if (!host_bits_ok && l < 32 && (*addr & ~(l ? ~0u << (32 - l) : 0u)))
        return -EINVAL;
    return 0;
}

int topo_parse_mac(const char *s, uint8_t mac[6])
{
    unsigned b[6];
    char tail;

    if (!s || strlen(s) != 17 ||
        sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        if (!isxdigit((unsigned char)s[i * 3]) || !isxdigit((unsigned char)s[i * 3 + 1]))
            return -EINVAL;
        mac[i] = (uint8_t)b[i];
    }
    return 0;
}

void topo_format_addr(uint32_t a, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static int fail(struct sim_error *err, const char *field, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct sim_error *err, const char *field, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    err->code = code;
    return code;
}

static int ref_to_id(const struct sim_topo *t, int ref_type, const char *field, json_t *v, json_t **out,
                     struct sim_error *err)
{
    const struct sim_obj *o = NULL;
    char ids[37];

    if (!json_is_string(v))
        return fail(err, field, -EINVAL, "%s: must be the id or name of a %s", field, type_noun(ref_type));
    if (ref_type == DEV) {
        o = sim_topo_find_ref(t, SIM_RES_ROUTER, json_string_value(v));
        if (!o)
            o = sim_topo_find_ref(t, SIM_RES_BRIDGE, json_string_value(v));
    } else {
        o = sim_topo_find_ref(t, (enum sim_res_type)ref_type, json_string_value(v));
    }
    if (!o)
        return fail(err, field, -ENOENT, "%s: no %s '%s'", field, type_noun(ref_type), json_string_value(v));
    sim_id_format(&o->id, ids);
    *out = json_string(ids);
    return *out ? 0 : -ENOMEM;
}

static int check_value(const struct sim_topo *t, const struct topo_field *f, json_t *v, json_t **out,
                       struct sim_error *err)
{
    char buf[40];
    uint32_t a;
    uint8_t len, mac[6];

    switch (f->kind) {
    case F_STR:
        if (!json_is_string(v) || strlen(json_string_value(v)) >= 64)
            return fail(err, f->name, -EINVAL, "%s: must be a string of at most 63 characters", f->name);
        *out = json_incref(v);
        return 0;
    case F_BOOL:
        if (!json_is_boolean(v))
            return fail(err, f->name, -EINVAL, "%s: must be true or false", f->name);
        *out = json_incref(v);
        return 0;
    case F_INT:
        if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max)
            return fail(err, f->name, -EINVAL, "%s: must be a whole number from %lld to %lld", f->name,
                        (long long)f->min, (long long)f->max);
        *out = json_incref(v);
        return 0;
    case F_ENUM:
        if (json_is_string(v))
            for (int i = 0; f->choices[i]; i++)
                if (!strcmp(f->choices[i], json_string_value(v))) {
                    *out = json_incref(v);
                    return 0;
                }
        return fail(err, f->name, -EINVAL, "%s: not an allowed value", f->name);
    case F_ADDR:
        if (!json_is_string(v) || topo_parse_addr(json_string_value(v), &a) < 0)
            return fail(err, f->name, -EINVAL, "%s: bad IPv4 address '%s'", f->name,
                        json_is_string(v) ? json_string_value(v) : "(not a string)");
        topo_format_addr(a, buf);
        *out = json_string(buf);
        return 0;
    case F_PREFIX:
    case F_CIDR:
        if (!json_is_string(v) || topo_parse_cidr(json_string_value(v), f->kind == F_CIDR, &a, &len) < 0)
            return fail(err, f->name, -EINVAL, "%s: bad %s '%s'", f->name,
                        f->kind == F_CIDR ? "address/prefix length" : "prefix (a.b.c.d/len, host bits zero)",
                        json_is_string(v) ? json_string_value(v) : "(not a string)");
        topo_format_addr(a, buf);
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%u", len);
        *out = json_string(buf);
        return 0;
    case F_MAC:
        if (!json_is_string(v) || topo_parse_mac(json_string_value(v), mac) < 0)
            return fail(err, f->name, -EINVAL, "%s: bad MAC address '%s'", f->name,
                        json_is_string(v) ? json_string_value(v) : "(not a string)");
        snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
        *out = json_string(buf);
        return 0;
    case F_REF:
        return ref_to_id(t, f->ref, f->name, v, out, err);
    case F_REFS:
    case F_ADDRS: {
        json_t *arr, *e;
        size_t i;

        if (!json_is_array(v))
            return fail(err, f->name, -EINVAL, "%s: must be a list", f->name);
        arr = json_array();
        json_array_foreach(v, i, e) {
            json_t *ce = NULL;
            int rc;
            if (f->kind == F_REFS) {
                rc = ref_to_id(t, f->ref, f->name, e, &ce, err);
            } else {
                struct topo_field one = {.name = f->name, .kind = F_ADDR};
                rc = check_value(t, &one, e, &ce, err);
            }
            if (rc < 0) {
                json_decref(arr);
                return rc;
            }
            json_array_append_new(arr, ce);
        }
        *out = arr;
        return 0;
    }
    case F_RANGE: {
        json_t *lo = json_array_get(v, 0), *hi = json_array_get(v, 1);
        if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(lo) || !json_is_integer(hi) ||
            json_integer_value(lo) < 0 || json_integer_value(hi) > 65535 ||
            json_integer_value(lo) > json_integer_value(hi))
            return fail(err, f->name, -EINVAL, "%s: must be [from, to] with 0 <= from <= to <= 65535", f->name);
        *out = json_incref(v);
        return 0;
    }
    case F_TARGETS: {
        json_t *arr, *e;
        size_t i;

        if (!json_is_array(v))
            return fail(err, f->name, -EINVAL, "%s: must be a list of targets", f->name);
        arr = json_array();
        json_array_foreach(v, i, e) {
            uint32_t from, to;
            json_t *pf = json_object_get(e, "port_from"), *pt = json_object_get(e, "port_to");
            const char *k;
            json_t *x;
            if (!json_is_object(e) || topo_parse_addr(json_string_value(json_object_get(e, "address_from")), &from) < 0 ||
                topo_parse_addr(json_string_value(json_object_get(e, "address_to")), &to) < 0 || from > to) {
                json_decref(arr);
                return fail(err, f->name, -EINVAL,
                            "%s[%zu]: needs address_from <= address_to (IPv4 addresses)", f->name, i);
            }
            json_object_foreach(e, k, x) {
                if (strcmp(k, "address_from") && strcmp(k, "address_to") && strcmp(k, "port_from") &&
                    strcmp(k, "port_to")) {
                    json_decref(arr);
                    return fail(err, f->name, -EINVAL, "%s[%zu]: unknown field '%s'", f->name, i, k);
                }
            }
            json_int_t p0 = pf ? json_integer_value(pf) : 0, p1 = pt ? json_integer_value(pt) : 0;
            if ((pf && !json_is_integer(pf)) || (pt && !json_is_integer(pt)) || p0 < 0 || p1 > 65535 || p0 > p1 ||
                (p1 && !p0)) {
                json_decref(arr);
                return fail(err, f->name, -EINVAL, "%s[%zu]: ports must satisfy 1 <= port_from <= port_to <= 65535",
                            f->name, i);
            }
            char sa[16], sb[16];
            topo_format_addr(from, sa);
            topo_format_addr(to, sb);
            json_t *ce = json_pack("{s:s, s:s}", "address_from", sa, "address_to", sb);
            if (p1) {
                json_object_set_new(ce, "port_from", json_integer(p0));
                json_object_set_new(ce, "port_to", json_integer(p1));
            }
            json_array_append_new(arr, ce);
        }
        *out = arr;
        return 0;
    }
    }
    return fail(err, f->name, -EINVAL, "%s: unsupported", f->name);
}

static const struct topo_field *find_field(const struct topo_schema *s, const char *name, bool *inverted)
{
    *inverted = false;
    if (!strncmp(name, "inv_", 4)) {
        for (size_t i = 0; i < s->n; i++)
            if (s->fields[i].inv && !strcmp(s->fields[i].name, name + 4)) {
                *inverted = true;
                return &s->fields[i];
            }
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->fields[i].name, name))
            return &s->fields[i];
    return NULL;
}

/* --- bgp_peers: what BIRD will take ---------------------------------------------------
 * A peer becomes a BIRD protocol on the gateway (bgp/bgp_render.c); what
 * BIRD would refuse is refused here, at the API, naming the field, instead
 * of surfacing later as a configuration error on the gateway. Names are
 * free: the gateway names BIRD's protocols after the ids. What only a
 * gateway can see (two peers of one gateway with the same address) it
 * refuses itself and reports (config_error in /v1/status). */

static int bgp_peer_check(const json_t *doc, struct sim_error *err)
{
    json_int_t hold = json_integer_value(json_object_get(doc, "hold_time"));
    json_int_t ka = json_integer_value(json_object_get(doc, "keepalive"));
    uint32_t a = 0;

    topo_parse_addr(json_string_value(json_object_get(doc, "peer_address")), &a);
    if (a == 0 || a == 0xffffffffu || (a >> 24) == 0 || (a >> 24) == 127 || (a >> 28) >= 0xe)
        return fail(err, "peer_address", -EINVAL, "peer_address: %s is not a unicast address",
                    json_string_value(json_object_get(doc, "peer_address")));
    if (hold && hold < 3)
        return fail(err, "hold_time", -EINVAL, "hold_time: 0 (BIRD's default) or 3..65535 seconds (RFC 4271)");
    if (ka && hold && ka > hold)
        return fail(err, "keepalive", -EINVAL, "keepalive: at most hold_time (%lld)", (long long)hold);
    const char *pw = json_string_value(json_object_get(doc, "password"));
    size_t n = pw ? strlen(pw) : 0;
    for (size_t i = 0; pw && i < n && n <= 80; i++)
        if (pw[i] < 0x20 || pw[i] > 0x7e || pw[i] == '"' || pw[i] == '\\')
            n = 81;   /* refused below; the loop ends here */
    if (n > 80)
        return fail(err, "password", -EINVAL,
                    "password: at most 80 printable ASCII characters, without '\"' or '\\' (a TCP MD5 key BIRD quotes)");
    return 0;
}

int topo_canonical(const struct sim_topo *t, enum sim_res_type type, const json_t *in, const struct sim_id *id,
                   json_t **out, struct sim_error *err)
{
    const struct topo_schema *s = &topo_schemas[type];
    json_t *doc, *v;
    const char *k;
    char ids[37];
    int rc;

    if (!json_is_object(in))
        return fail(err, NULL, -EINVAL, "a %s must be a JSON object", type_noun(type));
    doc = json_object();
    if (!doc)
        return -ENOMEM;
    sim_id_format(id, ids);
    json_object_set_new(doc, "id", json_string(ids));
    json_object_foreach((json_t *)in, k, v) {
        const struct topo_field *f;
        bool inv;
        json_t *cv = NULL;

        if (!strcmp(k, "id"))
            continue;
        if (!strcmp(k, "name")) {
            if (json_is_null(v))
                continue;
            if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) >= SIM_NAME_MAX) {
                rc = fail(err, "name", -EINVAL, "name: must be a non-empty string of at most %d characters",
                          SIM_NAME_MAX - 1);
                goto err;
            }
            json_object_set(doc, "name", v);
            continue;
        }
        f = find_field(s, k, &inv);
        if (!f) {
            rc = fail(err, k, -EINVAL, "%s: unknown field for a %s", k, type_noun(type));
            goto err;
        }
        if (inv) {
            if (!json_is_boolean(v)) {
                rc = fail(err, k, -EINVAL, "%s: must be true or false", k);
                goto err;
            }
            json_object_set(doc, k, v);
            continue;
        }
        if (json_is_null(v))
            continue;   /* null clears an optional field */
        if (type == SIM_RES_BGP_PEER && !strcmp(k, "state")) {
            /* The gateways report it and GET shows it (api/gateways.c);
             * one given here (a document read back) is dropped. */
            if (!json_is_string(v)) {
                rc = fail(err, k, -EINVAL, "state: read-only; the gateways report it");
                goto err;
            }
            continue;
        }
        rc = check_value(t, f, v, &cv, err);
        if (rc < 0)
            goto err;
        json_object_set_new(doc, k, cv);
    }
    for (size_t i = 0; i < s->n; i++) {
        const struct topo_field *f = &s->fields[i];
        if (json_object_get(doc, f->name))
            continue;
        if (f->required) {
            rc = fail(err, f->name, -EINVAL, "%s: required for a %s", f->name, type_noun(type));
            goto err;
        }
        if (f->def) {
            json_t *dv = f->kind == F_BOOL ? json_boolean(!strcmp(f->def, "true"))
                         : f->kind == F_INT ? json_integer(strtoll(f->def, NULL, 10))
                                            : json_string(f->def);
            json_object_set_new(doc, f->name, dv);
        }
    }
    if (type == SIM_RES_BGP_PEER && (rc = bgp_peer_check(doc, err)) < 0)
        goto err;
    *out = doc;
    return 0;
err:
    json_decref(doc);
    return rc;
}

/* Every id this document refers to, for reference counts. Soft references
 * (a port's peer) are not counted: deleting one side unlinks the other. */
void topo_foreach_ref(enum sim_res_type type, const json_t *doc,
                      void (*fn)(const char *field, const char *id, bool soft, void *arg), void *arg)
{
    const struct topo_schema *s = &topo_schemas[type];

    for (size_t i = 0; i < s->n; i++) {
        const struct topo_field *f = &s->fields[i];
        json_t *v = json_object_get(doc, f->name), *e;
        size_t j;

        if (!v)
            continue;
        if (f->kind == F_REF && json_is_string(v))
            fn(f->name, json_string_value(v), f->soft, arg);
        else if (f->kind == F_REFS)
            json_array_foreach(v, j, e) fn(f->name, json_string_value(e), f->soft, arg);
    }
}
