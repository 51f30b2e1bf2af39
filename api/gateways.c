/*
 * api/gateways.c: what the border gateways report about BIRD and BGP.
 *
 *   PUT    /v1/gateways/{host}   a gateway's report (every interval_s, ~2 s)
 *   GET    /v1/gateways          {"gateways": [report + age_s + stale, ...]}
 *   GET    /v1/gateways/{host}
 *   DELETE /v1/gateways/{host}
 *
 * A report is the gateway's live view (BIRD's state, its sessions, a sample
 * of the routes it learned), not configuration: it is kept in memory by the
 * API server that received it and never reaches the store. With several
 * API servers each lists the gateways that report to it. The decoder is
 * strict (an unknown field anywhere is refused, naming it) and bounded, so
 * a report can neither grow memory without limit nor smuggle control bytes
 * into an operator's terminal or a Prometheus label.
 */
#include "api/api_impl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- the decoder --------------------------------------------------------------------- */

struct gw_parse {
    char *field;
    size_t fieldlen;
    char *err;
    size_t errlen;
};

static const char *const bird_states[] = {"running", "starting", "backoff", "stopping", "stopped", NULL};
static const char *const peer_states[] = {"idle",        "connect",     "active", "opensent", "openconfirm",
                                          "established", "close",       "down",   "unknown",  NULL};
static const char *const bfd_states[] = {"up", "down", "init", "admindown", "none", NULL};
static const char *const route_types[] = {"unicast", "blackhole", "unreachable", NULL};

static int bad(struct gw_parse *c, const char *at, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(struct gw_parse *c, const char *at, const char *key, const char *fmt, ...)
{
    char path[128];
    va_list ap;
    int n;

    snprintf(path, sizeof(path), "%s%s%.64s", at, *at && *key ? "." : "", key);
    snprintf(c->field, c->fieldlen, "%s", path);
    n = snprintf(c->err, c->errlen, "%s%s", path, *path ? ": " : "");
    if (n < 0 || (size_t)n >= c->errlen)
        return -EINVAL;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int object_at(struct gw_parse *c, const json_t *v, const char *at, const char *key,
                     const char *const *allowed)
{
    const char *k;
    json_t *x;

    if (!json_is_object(v))
        return bad(c, at, key, "must be a JSON object");
    json_object_foreach((json_t *)v, k, x) {
        bool known = false;
        for (unsigned i = 0; allowed[i] && !known; i++)
            known = !strcmp(allowed[i], k);
        if (!known) {
            char path[128];
            snprintf(path, sizeof(path), "%s%s%s", at, *at && *key ? "." : "", key);
            return bad(c, path, k, "unknown field");
        }
    }
    return 0;
}

/* Printable ASCII or UTF-8 text without control bytes (tab and newline only
 * where multi_line), no NUL inside, at most max bytes. */
static bool text_ok(const json_t *v, size_t max, bool multi_line)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (!s || n > max || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && !(multi_line && (ch == '\n' || ch == '\t'))) || ch == 0x7f)
            return false;
    }
    return true;
}

/* Optional string (absent or null: def). */
static int get_text(struct gw_parse *c, const json_t *o, const char *at, const char *key, size_t max,
                    bool multi_line, const char *def, json_t *out)
{
    const json_t *v = json_object_get(o, key);

    if (!v || json_is_null(v))
        return json_object_set_new(out, key, def ? json_string(def) : json_null()) ? -ENOMEM : 0;
    if (!text_ok(v, max, multi_line))
        return bad(c, at, key, "must be a string of at most %zu bytes without control characters", max);
    return json_object_set_new(out, key, json_string(json_string_value(v))) ? -ENOMEM : 0;
}

static int get_int(struct gw_parse *c, const json_t *o, const char *at, const char *key, json_int_t lo,
                   json_int_t hi, bool required, json_t *out)
{
    const json_t *v = json_object_get(o, key);

    if (!v || json_is_null(v)) {
        if (required)
            return bad(c, at, key, "required");
        return json_object_set_new(out, key, json_integer(lo < 0 ? 0 : lo)) ? -ENOMEM : 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return bad(c, at, key, "must be a whole number from %lld to %lld", (long long)lo, (long long)hi);
    return json_object_set_new(out, key, json_integer(json_integer_value(v))) ? -ENOMEM : 0;
}

/* One of choices, compared without case, answered as the choice is spelt
 * (BIRD prints "Established"; the report may pass that on as it is). */
static int get_enum(struct gw_parse *c, const json_t *o, const char *at, const char *key,
                    const char *const *choices, const char *def, json_t *out)
{
    const json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);

    if (!v || (json_is_null(v) && def)) {
        if (!def)
            return bad(c, at, key, "required");
        return json_object_set_new(out, key, json_string(def)) ? -ENOMEM : 0;
    }
    for (unsigned i = 0; s && strlen(s) == json_string_length(v) && choices[i]; i++)
        if (!strcasecmp(s, choices[i]))
            return json_object_set_new(out, key, json_string(choices[i])) ? -ENOMEM : 0;
    {
        char list[160] = "";
        size_t used = 0;
        for (unsigned i = 0; choices[i] && used < sizeof(list); i++)
            used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", choices[i]);
        return bad(c, at, key, "must be one of %s", list);
    }
}

/* "a.b.c.d", or with allow_len "a.b.c.d/len" (host bits kept: an interface
 * address), into its canonical spelling. */
static bool parse_addr(const char *s, bool allow_len, bool zero_host_bits, char out[20])
{
    char tmp[16];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    struct in_addr a;
    unsigned len = 32;

    if ((slash && !allow_len) || alen == 0 || alen >= sizeof(tmp))
        return false;
    memcpy(tmp, s, alen);
    tmp[alen] = '\0';
    if (inet_pton(AF_INET, tmp, &a) != 1)
        return false;
    if (slash) {
        const char *p = slash + 1;
        if (!p[0] || strlen(p) > 2 || !isdigit((unsigned char)p[0]) || (p[1] && !isdigit((unsigned char)p[1])))
            return false;
        len = (unsigned)atoi(p);
        if (len > 32)
            return false;
        if (zero_host_bits && len < 32 && (ntohl(a.s_addr) & (0xffffffffu >> len)))
            return false;
    }
    inet_ntop(AF_INET, &a, tmp, sizeof(tmp));
    if (slash)
        snprintf(out, 20, "%s/%u", tmp, len);
    else
        snprintf(out, 20, "%s", tmp);
    return true;
}

/* An IPv4 address; optional ones may be absent, null or "" (answered ""). */
static int get_addr(struct gw_parse *c, const json_t *o, const char *at, const char *key, bool required,
                    json_t *out)
{
    const json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);
    char buf[20];

    if (!v || json_is_null(v) || (s && !*s && !required)) {
        if (required)
            return bad(c, at, key, "required");
        return json_object_set_new(out, key, json_string("")) ? -ENOMEM : 0;
    }
    if (!s || strlen(s) != json_string_length(v) || !parse_addr(s, false, false, buf))
        return bad(c, at, key, "must be an IPv4 address such as \"192.0.2.1\"");
    return json_object_set_new(out, key, json_string(buf)) ? -ENOMEM : 0;
}

static int get_uuid(struct gw_parse *c, const json_t *o, const char *at, const char *key, json_t *out)
{
    const json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);
    struct sim_id id;
    char buf[37];

    if (!v)
        return bad(c, at, key, "required");
    if (!s || strlen(s) != json_string_length(v) || sim_id_parse(s, &id) < 0)
        return bad(c, at, key, "must be a UUID");
    sim_id_format(&id, buf);
    return json_object_set_new(out, key, json_string(buf)) ? -ENOMEM : 0;
}

/* An array of at most max elements (absent or null: empty). */
static int get_array(struct gw_parse *c, const json_t *o, const char *at, const char *key, size_t max,
                     const json_t **arr)
{
    const json_t *v = json_object_get(o, key);

    *arr = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return bad(c, at, key, "must be a list");
    if (json_array_size(v) > max)
        return bad(c, at, key, "at most %zu entries (%zu given)", max, json_array_size(v));
    *arr = v;
    return 0;
}

/* Interface names: no whitespace, '/' or control bytes, and at most as
 * long as a port's interface field may be (the kernel's own limit is 15,
 * but a gateway reports what the topology says); "" when unknown. */
static bool ifname_ok(const char *s)
{
    size_t n = strlen(s);

    if (n > API_GW_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] == '/' || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

static int get_ifname(struct gw_parse *c, const json_t *o, const char *at, const char *key, json_t *out)
{
    const json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);

    if (!v || json_is_null(v))
        return json_object_set_new(out, key, json_string("")) ? -ENOMEM : 0;
    if (!s || strlen(s) != json_string_length(v) || !ifname_ok(s))
        return bad(c, at, key, "must be an interface name (at most 63 bytes, no spaces or '/')");
    return json_object_set_new(out, key, json_string(s)) ? -ENOMEM : 0;
}

/* Counter names: [A-Za-z0-9_], not a digit first (they may become
 * Prometheus names one day). */
static bool ident_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max || isdigit((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return false;
    return true;
}

static int parse_bird(struct gw_parse *c, const json_t *body, json_t *out)
{
    static const char *const keys[] = {"state", "pid", "restarts", "router_id", "config_error",
                                       "config_generation", NULL};
    const json_t *b = json_object_get(body, "bird");
    json_t *o = json_object();
    int rc;

    if (!o)
        return -ENOMEM;
    json_object_set_new(out, "bird", o);
    if (!b)
        return bad(c, "", "bird", "required");
    if ((rc = object_at(c, b, "", "bird", keys)) < 0 ||
        (rc = get_enum(c, b, "bird", "state", bird_states, NULL, o)) < 0 ||
        (rc = get_int(c, b, "bird", "pid", 0, 4194304, false, o)) < 0 ||
        (rc = get_int(c, b, "bird", "restarts", 0, INT64_MAX, false, o)) < 0 ||
        (rc = get_addr(c, b, "bird", "router_id", false, o)) < 0 ||
        (rc = get_text(c, b, "bird", "config_error", API_GW_CONFIG_ERROR_MAX, true, NULL, o)) < 0 ||
        (rc = get_int(c, b, "bird", "config_generation", 0, INT64_MAX, false, o)) < 0)
        return rc;
    return 0;
}

static int parse_peers(struct gw_parse *c, const json_t *body, json_t *out)
{
    static const char *const keys[] = {"id",    "name", "peer_address",    "peer_asn",    "state",
                                       "bfd",   "since", "routes_received", "routes_sent", "last_error",
                                       NULL};
    const json_t *arr, *p;
    json_t *peers = json_array();
    char at[40];
    size_t i;
    int rc;

    if (!peers)
        return -ENOMEM;
    json_object_set_new(out, "peers", peers);
    if ((rc = get_array(c, body, "", "peers", API_GW_PEERS_MAX, &arr)) < 0)
        return rc;
    json_array_foreach(arr, i, p) {
        json_t *o = json_object();
        if (!o)
            return -ENOMEM;
        json_array_append_new(peers, o);
        snprintf(at, sizeof(at), "peers[%zu]", i);
        if ((rc = object_at(c, p, at, "", keys)) < 0 || (rc = get_uuid(c, p, at, "id", o)) < 0 ||
            (rc = get_text(c, p, at, "name", API_GW_NAME_MAX, false, "", o)) < 0 ||
            (rc = get_addr(c, p, at, "peer_address", true, o)) < 0 ||
            (rc = get_int(c, p, at, "peer_asn", 1, 4294967295LL, true, o)) < 0 ||
            (rc = get_enum(c, p, at, "state", peer_states, NULL, o)) < 0 ||
            (rc = get_enum(c, p, at, "bfd", bfd_states, "none", o)) < 0 ||
            (rc = get_text(c, p, at, "since", 32, false, "", o)) < 0 ||
            (rc = get_int(c, p, at, "routes_received", 0, INT64_MAX, false, o)) < 0 ||
            (rc = get_int(c, p, at, "routes_sent", 0, INT64_MAX, false, o)) < 0 ||
            (rc = get_text(c, p, at, "last_error", API_GW_LAST_ERROR_MAX, true, "", o)) < 0)
            return rc;
        /* Two entries for one peer would make its state ambiguous. */
        for (size_t j = 0; j < i; j++) {
            const json_t *q = json_array_get(peers, j), *name = json_object_get(o, "name");
            if (json_equal(json_object_get(q, "id"), json_object_get(o, "id")))
                return bad(c, at, "id", "the same peer as peers[%zu]", j);
            /* Names label the metrics: two alike would make one series. */
            if (json_string_length(name) && json_equal(json_object_get(q, "name"), name))
                return bad(c, at, "name", "the same name as peers[%zu]", j);
        }
    }
    return 0;
}

static int parse_routes(struct gw_parse *c, const json_t *body, json_t *out)
{
    static const char *const keys[] = {"dst", "type", "next_hops", NULL};
    static const char *const nh_keys[] = {"gateway", "interface", NULL};
    const json_t *arr, *r, *nhs, *nh;
    json_t *routes = json_array();
    char at[40], nat[80], buf[20];
    size_t i, j;
    int rc;

    if (!routes)
        return -ENOMEM;
    json_object_set_new(out, "routes", routes);
    if ((rc = get_array(c, body, "", "routes", API_GW_ROUTES_MAX, &arr)) < 0)
        return rc;
    json_array_foreach(arr, i, r) {
        json_t *o = json_object(), *list = json_array();
        const char *dst;
        if (!o || !list) {
            json_decref(o);
            json_decref(list);
            return -ENOMEM;
        }
        json_array_append_new(routes, o);
        snprintf(at, sizeof(at), "routes[%zu]", i);
        if ((rc = object_at(c, r, at, "", keys)) < 0) {
            json_decref(list);
            return rc;
        }
        dst = json_string_value(json_object_get(r, "dst"));
        if (!dst || strlen(dst) != json_string_length(json_object_get(r, "dst")) ||
            !strchr(dst, '/') || !parse_addr(dst, true, true, buf)) {
            json_decref(list);
            return bad(c, at, "dst", "must be a prefix such as \"10.0.0.0/8\" (host bits zero)");
        }
        json_object_set_new(o, "dst", json_string(buf));
        if ((rc = get_enum(c, r, at, "type", route_types, "unicast", o)) < 0 ||
            (rc = get_array(c, r, at, "next_hops", API_GW_NEXTHOPS_MAX, &nhs)) < 0) {
            json_decref(list);
            return rc;
        }
        json_object_set_new(o, "next_hops", list);
        json_array_foreach(nhs, j, nh) {
            json_t *n = json_object();
            if (!n)
                return -ENOMEM;
            json_array_append_new(list, n);
            snprintf(nat, sizeof(nat), "%s.next_hops[%zu]", at, j);
            if ((rc = object_at(c, nh, nat, "", nh_keys)) < 0 || (rc = get_addr(c, nh, nat, "gateway", false, n)) < 0 ||
                (rc = get_ifname(c, nh, nat, "interface", n)) < 0)
                return rc;
        }
    }
    return 0;
}

static int parse_uplinks(struct gw_parse *c, const json_t *body, json_t *out)
{
    static const char *const keys[] = {"port", "interface", "mode", "kernel_addresses", NULL};
    const json_t *arr, *u, *addrs, *a;
    json_t *uplinks = json_array();
    char at[40], buf[20];
    size_t i, j;
    int rc;

    if (!uplinks)
        return -ENOMEM;
    json_object_set_new(out, "uplinks", uplinks);
    if ((rc = get_array(c, body, "", "uplinks", API_GW_UPLINKS_MAX, &arr)) < 0)
        return rc;
    json_array_foreach(arr, i, u) {
        json_t *o = json_object(), *list = json_array();
        if (!o || !list) {
            json_decref(o);
            json_decref(list);
            return -ENOMEM;
        }
        json_array_append_new(uplinks, o);
        snprintf(at, sizeof(at), "uplinks[%zu]", i);
        if ((rc = object_at(c, u, at, "", keys)) < 0 || (rc = get_uuid(c, u, at, "port", o)) < 0 ||
            (rc = get_ifname(c, u, at, "interface", o)) < 0) {
            json_decref(list);
            return rc;
        }
        /* The datapath says how it reaches the wire ("af_xdp native
         * zerocopy", "af_packet tpacket_v3"): free text. */
        if ((rc = get_text(c, u, at, "mode", API_GW_NAME_MAX, false, "", o)) < 0) {
            json_decref(list);
            return rc;
        }
        json_object_set_new(o, "kernel_addresses", list);
        if ((rc = get_array(c, u, at, "kernel_addresses", API_GW_ADDRS_MAX, &addrs)) < 0)
            return rc;
        json_array_foreach(addrs, j, a) {
            const char *s = json_string_value(a);
            if (!s || strlen(s) != json_string_length(a) || !parse_addr(s, true, false, buf)) {
                char key[48];
                snprintf(key, sizeof(key), "kernel_addresses[%zu]", j);
                return bad(c, at, key, "must be an IPv4 address, optionally with /len");
            }
            json_array_append_new(list, json_string(buf));
        }
    }
    return 0;
}

static int parse_counters(struct gw_parse *c, const json_t *body, json_t *out)
{
    const json_t *v = json_object_get(body, "counters"), *x;
    json_t *o = json_object();
    const char *k;

    if (!o)
        return -ENOMEM;
    json_object_set_new(out, "counters", o);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return bad(c, "", "counters", "must be a JSON object of name: whole number");
    if (json_object_size(v) > API_GW_COUNTERS_MAX)
        return bad(c, "", "counters", "at most %d counters (%zu given)", API_GW_COUNTERS_MAX, json_object_size(v));
    json_object_foreach((json_t *)v, k, x) {
        if (!ident_ok(k, API_GW_NAME_MAX))
            return bad(c, "counters", k, "counter names are 1..%d characters of [A-Za-z0-9_], not a digit first",
                       API_GW_NAME_MAX);
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return bad(c, "counters", k, "must be a whole number from 0");
        json_object_set_new(o, k, json_integer(json_integer_value(x)));
    }
    return 0;
}

bool api_gateway_host_ok(const char *host)
{
    size_t n = host ? strlen(host) : 0;

    if (n == 0 || n > API_GW_HOST_MAX || host[0] == '.' || host[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)host[i]) && host[i] != '.' && host[i] != '-' && host[i] != '_')
            return false;
    return true;
}

int api_gateway_report_parse(const json_t *body, const char *host, json_t **normalized, char *field,
                             size_t fieldlen, char *err, size_t errlen)
{
    static const char *const keys[] = {"host",   "interval_s", "bird",    "peers", "learned_routes",
                                       "routes", "uplinks",    "counters", NULL};
    struct gw_parse c = {field, fieldlen, err, errlen};
    const json_t *h;
    json_t *out;
    int rc;

    *normalized = NULL;
    field[0] = err[0] = '\0';
    if (!json_is_object(body))
        return bad(&c, "", "", "the report must be a JSON object");
    if (!api_gateway_host_ok(host))
        return bad(&c, "", "host", "the gateway's name in the path must be 1..%d characters of [A-Za-z0-9._-]",
                   API_GW_HOST_MAX);
    if ((rc = object_at(&c, body, "", "", keys)) < 0)
        return rc;
    h = json_object_get(body, "host");
    if (!json_is_string(h) || strcmp(json_string_value(h), host) || json_string_length(h) != strlen(host))
        return bad(&c, "", "host", "must be the gateway's name in the path ('%s')", host);
    out = json_object();
    if (!out)
        return -ENOMEM;
    json_object_set_new(out, "host", json_string(host));
    if ((rc = get_int(&c, body, "", "interval_s", 1, API_GW_INTERVAL_MAX, true, out)) < 0 ||
        (rc = parse_bird(&c, body, out)) < 0 || (rc = parse_peers(&c, body, out)) < 0 ||
        (rc = get_int(&c, body, "", "learned_routes", 0, INT64_MAX, false, out)) < 0 ||
        (rc = parse_routes(&c, body, out)) < 0 || (rc = parse_uplinks(&c, body, out)) < 0 ||
        (rc = parse_counters(&c, body, out)) < 0) {
        json_decref(out);
        if (rc == -ENOMEM && !err[0])
            snprintf(err, errlen, "out of memory");
        return rc;
    }
    *normalized = out;
    return 0;
}

/* --- the table ------------------------------------------------------------------------ */

bool api_gateway_stale(const struct api_gateway *g, uint64_t now_ns)
{
    return now_ns - g->received_ns > (uint64_t)g->interval_s * 3 * 1000000000ull;
}

uint64_t api_gateway_age_s(const struct api_gateway *g, uint64_t now_ns)
{
    return (now_ns - g->received_ns) / 1000000000ull;
}

void api_gateways_free(struct api_server *srv)
{
    if (!srv)
        return;
    for (size_t i = 0; i < srv->n_gateways; i++)
        json_decref(srv->gateways[i].report);
    free(srv->gateways);
    srv->gateways = NULL;
    srv->n_gateways = srv->cap_gateways = 0;
}

/* The slot of host, or where it would go (the table is sorted by host). */
static size_t find_slot(const struct api_server *srv, const char *host, bool *found)
{
    size_t lo = 0, hi = srv->n_gateways;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(srv->gateways[mid].host, host);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void remove_at(struct api_server *srv, size_t i)
{
    json_decref(srv->gateways[i].report);
    memmove(&srv->gateways[i], &srv->gateways[i + 1], (srv->n_gateways - i - 1) * sizeof(srv->gateways[0]));
    srv->n_gateways--;
}

/* When the table is full, a new gateway takes the place of the report that
 * has been stale longest; with none stale it is refused. */
static bool make_room(struct api_server *srv, uint64_t now)
{
    size_t victim = SIZE_MAX;

    if (srv->n_gateways < API_GW_MAX)
        return true;
    for (size_t i = 0; i < srv->n_gateways; i++)
        if (api_gateway_stale(&srv->gateways[i], now) &&
            (victim == SIZE_MAX || srv->gateways[i].received_ns < srv->gateways[victim].received_ns))
            victim = i;
    if (victim == SIZE_MAX)
        return false;
    remove_at(srv, victim);
    return true;
}

static json_t *gateway_json(const struct api_gateway *g, uint64_t now)
{
    json_t *o = json_copy(g->report);

    if (o) {
        json_object_set_new(o, "age_s", json_integer((json_int_t)api_gateway_age_s(g, now)));
        json_object_set_new(o, "stale", json_boolean(api_gateway_stale(g, now)));
    }
    return o;
}

static void put_report(struct api_server *srv, struct evhttp_request *req, const char *host)
{
    json_t *body = api_read_body(srv, req, true), *norm = NULL;
    char field[128], msg[300];
    uint64_t now = api_now_ns();
    struct api_gateway *g;
    size_t i;
    bool found;
    int rc;

    if (!body)
        return;
    rc = api_gateway_report_parse(body, host, &norm, field, sizeof(field), msg, sizeof(msg));
    json_decref(body);
    if (rc < 0) {
        api_reply_error(srv, req, rc == -ENOMEM ? 500 : 400, msg, field);
        return;
    }
    i = find_slot(srv, host, &found);
    if (!found) {
        if (!make_room(srv, now)) {
            json_decref(norm);
            api_reply_error(srv, req, 409, "this API server keeps reports of at most 1024 gateways and none is "
                                           "stale: DELETE one that is gone", "host");
            return;
        }
        i = find_slot(srv, host, &found);
        if (srv->n_gateways == srv->cap_gateways) {
            size_t cap = srv->cap_gateways ? srv->cap_gateways * 2 : 8;
            struct api_gateway *v = realloc(srv->gateways, cap * sizeof(*v));
            if (!v) {
                json_decref(norm);
                api_reply_error(srv, req, 500, "out of memory", NULL);
                return;
            }
            srv->gateways = v;
            srv->cap_gateways = cap;
        }
        memmove(&srv->gateways[i + 1], &srv->gateways[i], (srv->n_gateways - i) * sizeof(srv->gateways[0]));
        srv->n_gateways++;
        g = &srv->gateways[i];
        memset(g, 0, sizeof(*g));
        snprintf(g->host, sizeof(g->host), "%s", host);
    } else {
        g = &srv->gateways[i];
        json_decref(g->report);
    }
    g->report = norm;
    g->received_ns = now;
    g->interval_s = json_integer_value(json_object_get(norm, "interval_s"));
    api_reply_json(srv, req, 200, gateway_json(g, now));
}

void api_handle_gateways(struct api_server *srv, struct evhttp_request *req, const char *host)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    uint64_t now = api_now_ns();
    size_t i;
    bool found;

    if (!host) {
        json_t *arr;
        if (cmd != EVHTTP_REQ_GET) {
            api_reply_error(srv, req, 405, "method not allowed", NULL);
            return;
        }
        arr = json_array();
        for (i = 0; arr && i < srv->n_gateways; i++)
            json_array_append_new(arr, gateway_json(&srv->gateways[i], now));
        api_reply_json(srv, req, 200, json_pack("{s:o}", "gateways", arr));
        return;
    }
    if (cmd == EVHTTP_REQ_PUT) {
        put_report(srv, req, host);
        return;
    }
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_DELETE) {
        api_reply_error(srv, req, 405, "method not allowed", NULL);
        return;
    }
    i = find_slot(srv, host, &found);
    if (!found) {
        api_reply_error(srv, req, 404, "no report from this gateway", NULL);
        return;
    }
    if (cmd == EVHTTP_REQ_GET) {
        api_reply_json(srv, req, 200, gateway_json(&srv->gateways[i], now));
        return;
    }
    remove_at(srv, i);
    api_reply_json(srv, req, 204, NULL);
}

/* --- bgp_peers' read-only state ---------------------------------------------------------- */

json_t *api_gateway_peer_states(const struct api_server *srv, uint64_t now_ns)
{
    json_t *from = json_object(), *states = json_object();

    /* from: id -> the index of the freshest report listing it so far. */
    for (size_t i = 0; from && states && i < srv->n_gateways; i++) {
        const struct api_gateway *g = &srv->gateways[i];
        json_t *peers = json_object_get(g->report, "peers"), *p;
        size_t j;
        if (api_gateway_stale(g, now_ns))
            continue;
        json_array_foreach(peers, j, p) {
            const char *pid = json_string_value(json_object_get(p, "id"));
            json_t *cur = json_object_get(from, pid);
            if (cur && srv->gateways[json_integer_value(cur)].received_ns >= g->received_ns)
                continue;
            json_object_set_new(from, pid, json_integer((json_int_t)i));
            json_object_set(states, pid, json_object_get(p, "state"));
        }
    }
    json_decref(from);
    return states;
}

void api_gateway_set_peer_state(json_t *peer, const json_t *states)
{
    const char *id = json_string_value(json_object_get(peer, "id"));
    json_t *s = id ? json_object_get(states, id) : NULL;

    json_object_set_new(peer, "state", s ? json_incref(s) : json_string("unknown"));
}
