/*
 * api/metrics.c: GET /v1/status, GET /metrics (Prometheus text format) and
 * GET /v1/openapi.yaml (the document in docs/, compiled in).
 */
#include "api/api_impl.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAMPART_VERSION "0.1.0"

extern const char api_openapi_yaml[];
extern const size_t api_openapi_yaml_len;

static json_t *resource_counts(const json_t *all)
{
    json_t *counts = json_object(), *arr;
    const char *key;

    if (all && counts) {
        json_object_foreach((json_t *)all, key, arr)
            json_object_set_new(counts, key, json_integer((json_int_t)json_array_size(arr)));
    }
    return counts;
}

/* bgp_peers id -> name, for the peers a report lists: the gateway names
 * BIRD's protocols after ids, an operator knows the names. */
static json_t *peer_names(const json_t *all)
{
    json_t *names = json_object(), *p;
    size_t i;

    json_array_foreach(json_object_get(all, "bgp_peers"), i, p) {
        const char *id = json_string_value(json_object_get(p, "id"));
        json_t *name = json_object_get(p, "name");
        if (names && id && json_is_string(name))
            json_object_set(names, id, name);
    }
    return names;
}

/* How a reported peer is called: the bgp_peers resource's name, else the
 * name the gateway gave, else its id. */
static const char *peer_label(const json_t *p, const json_t *names)
{
    const char *id = json_string_value(json_object_get(p, "id"));
    const char *name = json_string_value(json_object_get(names, id));

    if (!name || !*name)
        name = json_string_value(json_object_get(p, "name"));
    return name && *name ? name : id;
}

static void add_problem(json_t *problems, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_problem(json_t *problems, const char *fmt, ...)
{
    char buf[API_GW_CONFIG_ERROR_MAX + 256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_array_append_new(problems, json_string(buf));
}

/* One gateway's summary for /v1/status, and what is wrong with it. A stale
 * report says nothing reliable about the sessions, so only its age counts. */
static json_t *gateway_status(const struct api_gateway *g, uint64_t now, const json_t *names, json_t *problems)
{
    const json_t *bird = json_object_get(g->report, "bird"), *peers = json_object_get(g->report, "peers"), *p;
    const char *state = json_string_value(json_object_get(bird, "state"));
    const json_t *cerr = json_object_get(bird, "config_error");
    json_int_t established = 0;
    bool stale = api_gateway_stale(g, now);
    size_t i;

    json_array_foreach(peers, i, p)
        established += !strcmp(json_string_value(json_object_get(p, "state")), "established");
    if (stale)
        add_problem(problems, "gateway %s: report stale (%" PRIu64 " s old)", g->host, api_gateway_age_s(g, now));
    if (json_is_string(cerr))
        add_problem(problems, "gateway %s: BIRD refused the configuration: %s", g->host, json_string_value(cerr));
    if (!stale && strcmp(state, "running"))
        add_problem(problems, "gateway %s: BIRD is %s", g->host, state);
    json_array_foreach(peers, i, p) {
        const char *ps = json_string_value(json_object_get(p, "state"));
        const char *why = json_string_value(json_object_get(p, "last_error"));
        if (stale || !strcmp(ps, "established"))
            continue;
        add_problem(problems, "gateway %s: peer %s (%s) is %s, not established%s%s", g->host, peer_label(p, names),
                    json_string_value(json_object_get(p, "peer_address")), ps, why && *why ? ": " : "",
                    why ? why : "");
    }
    return json_pack("{s:s, s:I, s:b, s:s, s:O, s:O, s:I, s:I, s:O}", "host", g->host, "age_s",
                     (json_int_t)api_gateway_age_s(g, now), "stale", stale, "bird_state", state, "router_id",
                     json_object_get(bird, "router_id"), "config_error", cerr, "peers_established", established,
                     "peers_total", (json_int_t)json_array_size(peers), "learned_routes",
                     json_object_get(g->report, "learned_routes"));
}

void api_handle_status(struct api_server *srv, struct evhttp_request *req)
{
    uint64_t rev = 0, now = api_now_ns();
    json_t *all = sim_topo_export(srv->topo), *names = peer_names(all);
    json_t *o, *gws = json_array(), *problems = json_array();

    for (size_t i = 0; gws && problems && i < srv->n_gateways; i++)
        json_array_append_new(gws, gateway_status(&srv->gateways[i], now, names, problems));
    store_revision(srv->store, &rev);
    o = json_pack("{s:s, s:I, s:s, s:I, s:I, s:o, s:o, s:o}", "version", RAMPART_VERSION, "revision",
                  (json_int_t)rev, "store", store_backend_name(srv->store), "watchers", (json_int_t)srv->n_watchers,
                  "uptime_s", (json_int_t)((now - srv->started_ns) / 1000000000ull), "resources",
                  resource_counts(all), "gateways", gws, "problems", problems);
    json_decref(names);
    json_decref(all);
    if (!o)
        api_reply_error(srv, req, 500, "out of memory", NULL);
    else
        api_reply_json(srv, req, 200, o);
}

/* A label value in the Prometheus text format: backslash, double quote and
 * newline escaped. */
static void label(struct evbuffer *b, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '\\')
            evbuffer_add(b, "\\\\", 2);
        else if (*s == '"')
            evbuffer_add(b, "\\\"", 2);
        else if (*s == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, s, 1);
    }
}

static void family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: name{host="..."[,peer="..."][,address="..."]} value. */
static void sample(struct evbuffer *b, const char *name, const char *host, const char *peer, const char *addr,
                   const char *value)
{
    evbuffer_add_printf(b, "%s{host=\"", name);
    label(b, host);
    if (peer) {
        evbuffer_add_printf(b, "\",peer=\"");
        label(b, peer);
    }
    if (addr) {
        evbuffer_add_printf(b, "\",address=\"");
        label(b, addr);
    }
    evbuffer_add_printf(b, "\"} %s\n", value);
}

static void gateway_metrics(struct api_server *srv, const json_t *names, struct evbuffer *b)
{
    uint64_t now = api_now_ns();
    char v[32];

    family(b, "rampart_gateway_report_age_seconds", "gauge", "Seconds since the gateway's last report.");
    for (size_t i = 0; i < srv->n_gateways; i++) {
        snprintf(v, sizeof(v), "%.3f", (double)(now - srv->gateways[i].received_ns) / 1e9);
        sample(b, "rampart_gateway_report_age_seconds", srv->gateways[i].host, NULL, NULL, v);
    }
    family(b, "rampart_bgp_peer_established", "gauge", "1 when the BGP session is established, per the last report.");
    for (size_t i = 0; i < srv->n_gateways; i++) {
        json_t *p;
        size_t j;
        json_array_foreach(json_object_get(srv->gateways[i].report, "peers"), j, p)
            sample(b, "rampart_bgp_peer_established", srv->gateways[i].host, peer_label(p, names),
                   json_string_value(json_object_get(p, "peer_address")),
                   strcmp(json_string_value(json_object_get(p, "state")), "established") ? "0" : "1");
    }
    family(b, "rampart_bgp_peer_routes_received", "gauge", "Routes the peer sent that BIRD accepted.");
    for (size_t i = 0; i < srv->n_gateways; i++) {
        json_t *p;
        size_t j;
        json_array_foreach(json_object_get(srv->gateways[i].report, "peers"), j, p) {
            snprintf(v, sizeof(v), "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(p, "routes_received")));
            sample(b, "rampart_bgp_peer_routes_received", srv->gateways[i].host, peer_label(p, names), NULL, v);
        }
    }
    family(b, "rampart_bgp_learned_routes", "gauge", "Routes the gateway learned over BGP.");
    for (size_t i = 0; i < srv->n_gateways; i++) {
        snprintf(v, sizeof(v), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(srv->gateways[i].report, "learned_routes")));
        sample(b, "rampart_bgp_learned_routes", srv->gateways[i].host, NULL, NULL, v);
    }
    family(b, "rampart_bird_restarts_total", "counter", "Times the gateway restarted BIRD.");
    for (size_t i = 0; i < srv->n_gateways; i++) {
        snprintf(v, sizeof(v), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(json_object_get(srv->gateways[i].report, "bird"), "restarts")));
        sample(b, "rampart_bird_restarts_total", srv->gateways[i].host, NULL, NULL, v);
    }
    family(b, "rampart_bird_config_error", "gauge", "1 when BIRD refused the gateway's configuration.");
    for (size_t i = 0; i < srv->n_gateways; i++)
        sample(b, "rampart_bird_config_error", srv->gateways[i].host, NULL, NULL,
               json_is_string(json_object_get(json_object_get(srv->gateways[i].report, "bird"), "config_error"))
                   ? "1"
                   : "0");
    family(b, "rampart_bird_running", "gauge", "1 when BIRD runs, per the last report.");
    for (size_t i = 0; i < srv->n_gateways; i++)
        sample(b, "rampart_bird_running", srv->gateways[i].host, NULL, NULL,
               strcmp(json_string_value(json_object_get(json_object_get(srv->gateways[i].report, "bird"), "state")),
                      "running")
                   ? "0"
                   : "1");
}

void api_handle_metrics(struct api_server *srv, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    json_t *all = sim_topo_export(srv->topo), *counts = resource_counts(all), *names = peer_names(all), *v;
    const char *key;
    uint64_t rev = 0;

    if (!b) {
        json_decref(counts);
        json_decref(names);
        json_decref(all);
        api_reply_error(srv, req, 500, "out of memory", NULL);
        return;
    }
    store_revision(srv->store, &rev);
    evbuffer_add_printf(b, "# HELP rampart_api_requests_total API requests answered, by status code.\n"
                           "# TYPE rampart_api_requests_total counter\n");
    for (int code = 100; code < 600; code++)
        if (srv->counters.by_code[code])
            evbuffer_add_printf(b, "rampart_api_requests_total{code=\"%d\"} %" PRIu64 "\n", code,
                                srv->counters.by_code[code]);
    evbuffer_add_printf(b,
                        "# HELP rampart_store_revision Revision of the topology in the store.\n"
                        "# TYPE rampart_store_revision gauge\n"
                        "rampart_store_revision{backend=\"%s\"} %" PRIu64 "\n"
                        "# HELP rampart_store_errors_total Writes the store refused.\n"
                        "# TYPE rampart_store_errors_total counter\n"
                        "rampart_store_errors_total %" PRIu64 "\n"
                        "# HELP rampart_api_watchers Open watch streams.\n"
                        "# TYPE rampart_api_watchers gauge\n"
                        "rampart_api_watchers %u\n"
                        "# HELP rampart_api_watch_events_total Lines sent on watch streams.\n"
                        "# TYPE rampart_api_watch_events_total counter\n"
                        "rampart_api_watch_events_total %" PRIu64 "\n"
                        "# HELP rampart_api_remote_changes_total Changes applied that other API servers committed.\n"
                        "# TYPE rampart_api_remote_changes_total counter\n"
                        "rampart_api_remote_changes_total %" PRIu64 "\n"
                        "# HELP rampart_api_group_commits_total Store transactions, each holding one or more writes.\n"
                        "# TYPE rampart_api_group_commits_total counter\n"
                        "rampart_api_group_commits_total %" PRIu64 "\n"
                        "# HELP rampart_api_grouped_writes_total Writes committed through group commits.\n"
                        "# TYPE rampart_api_grouped_writes_total counter\n"
                        "rampart_api_grouped_writes_total %" PRIu64 "\n"
                        "# HELP rampart_resources Resources in the topology, by type.\n"
                        "# TYPE rampart_resources gauge\n",
                        store_backend_name(srv->store), rev, srv->counters.store_errors, srv->n_watchers,
                        srv->counters.watch_events, srv->counters.remote_changes, srv->counters.group_commits,
                        srv->counters.grouped_writes);
    json_object_foreach(counts, key, v)
        evbuffer_add_printf(b, "rampart_resources{type=\"%s\"} %" JSON_INTEGER_FORMAT "\n", key,
                            json_integer_value(v));
    json_decref(counts);
    gateway_metrics(srv, names, b);
    json_decref(names);
    json_decref(all);
    srv->counters.requests[2]++;
    srv->counters.by_code[200]++;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

void api_handle_openapi(struct api_server *srv, struct evhttp_request *req)
{
    api_reply_text(srv, req, 200, "application/yaml", api_openapi_yaml, api_openapi_yaml_len);
}
