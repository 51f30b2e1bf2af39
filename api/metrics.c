/*
 * api/metrics.c: GET /v1/status, GET /metrics (Prometheus text format) and
 * GET /v1/openapi.yaml (the document in docs/, compiled in).
 */
#include "api/api_impl.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAMPART_VERSION "0.1.0"

extern const char api_openapi_yaml[];
extern const size_t api_openapi_yaml_len;

static json_t *resource_counts(struct api_server *srv)
{
    json_t *all = sim_topo_export(srv->topo), *counts = json_object(), *arr;
    const char *key;

    if (all && counts) {
        json_object_foreach(all, key, arr)
            json_object_set_new(counts, key, json_integer((json_int_t)json_array_size(arr)));
    }
    json_decref(all);
    return counts;
}

void api_handle_status(struct api_server *srv, struct evhttp_request *req)
{
    uint64_t rev = 0;
    json_t *o;

    store_revision(srv->store, &rev);
    o = json_pack("{s:s, s:I, s:s, s:I, s:I, s:o}", "version", RAMPART_VERSION, "revision", (json_int_t)rev,
                  "store", store_backend_name(srv->store), "watchers", (json_int_t)srv->n_watchers,
                  "uptime_s", (json_int_t)((api_now_ns() - srv->started_ns) / 1000000000ull),
                  "resources", resource_counts(srv));
    api_reply_json(srv, req, 200, o);
}

void api_handle_metrics(struct api_server *srv, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    json_t *counts = resource_counts(srv), *v;
    const char *key;
    uint64_t rev = 0;

    if (!b) {
        json_decref(counts);
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
