/*
 * api/server.c: HTTP plumbing: listening, bearer-token auth, per-client
 * rate limiting, routing, and the reply helpers.
 */
#include "api/api_impl.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t api_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void count(struct api_server *srv, int code)
{
    if (code >= 100 && code < 600) {
        srv->counters.requests[code / 100]++;
        srv->counters.by_code[code]++;
    }
}

void api_reply_text(struct api_server *srv, struct evhttp_request *req, int code, const char *ctype,
                    const char *text, size_t len)
{
    struct evbuffer *buf = evbuffer_new();

    count(srv, code);
    if (ctype)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    if (buf && text)
        evbuffer_add(buf, text, len);
    evhttp_send_reply(req, code, NULL, buf);
    evbuffer_free(buf);
}

void api_reply_json(struct api_server *srv, struct evhttp_request *req, int code, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    if (body && !text) {
        api_reply_text(srv, req, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
    } else if (!body) {
        api_reply_text(srv, req, code, NULL, NULL, 0);
    } else {
        api_reply_text(srv, req, code, "application/json", text, strlen(text));
    }
    free(text);
    json_decref(body);
}

void api_reply_error(struct api_server *srv, struct evhttp_request *req, int code, const char *msg,
                     const char *field)
{
    json_t *o = json_pack("{s:s}", "error", msg ? msg : "error");

    if (o && field && *field)
        json_object_set_new(o, "field", json_string(field));
    api_reply_json(srv, req, code, o);
}

json_t *api_read_body(struct api_server *srv, struct evhttp_request *req, bool want_object)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    json_error_t jerr;
    json_t *doc;
    char msg[300];

    if (len == 0) {
        api_reply_error(srv, req, 400, "empty body: a JSON object is expected", NULL);
        return NULL;
    }
    doc = json_loadb((const char *)evbuffer_pullup(in, (ssize_t)len), len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(msg, sizeof(msg), "body is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                 jerr.column);
        api_reply_error(srv, req, 400, msg, NULL);
        return NULL;
    }
    if (want_object && !json_is_object(doc)) {
        json_decref(doc);
        api_reply_error(srv, req, 400, "body must be a JSON object", NULL);
        return NULL;
    }
    return doc;
}

/* Constant time, so the token cannot be guessed byte by byte from timing. */
static bool token_ok(const struct api_server *srv, const char *header)
{
    const char *prefix = "Bearer ";
    size_t tlen = strlen(srv->token), hlen;
    unsigned diff = 0;

    if (!srv->token[0])
        return true;
    if (!header || strncmp(header, prefix, strlen(prefix)))
        return false;
    header += strlen(prefix);
    hlen = strlen(header);
    diff = (unsigned)(hlen ^ tlen);
    for (size_t i = 0; i < tlen; i++)
        diff |= (unsigned)(srv->token[i] ^ (i < hlen ? header[i] : 0));
    return diff == 0;
}

/* Token bucket per client address; the table is small and fixed, so a flood
 * of addresses evicts old ones instead of growing memory. */
static bool rate_ok(struct api_server *srv, const char *addr)
{
    uint32_t h = 2166136261u;
    struct api_rate_slot *slot;
    uint64_t now = api_now_ns();

    if (!srv->cfg.rate_per_client)
        return true;
    for (const char *p = addr; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    slot = &srv->rate[h % API_RATE_SLOTS];
    if (strcmp(slot->addr, addr)) {
        snprintf(slot->addr, sizeof(slot->addr), "%s", addr);
        slot->tokens = srv->cfg.rate_burst;
        slot->last_ns = now;
    }
    slot->tokens += (double)(now - slot->last_ns) * srv->cfg.rate_per_client / 1e9;
    if (slot->tokens > srv->cfg.rate_burst)
        slot->tokens = srv->cfg.rate_burst;
    slot->last_ns = now;
    if (slot->tokens < 1.0)
        return false;
    slot->tokens -= 1.0;
    return true;
}

static void route(struct evhttp_request *req, void *arg)
{
    struct api_server *srv = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *peer = NULL, *decoded = NULL, *seg[4] = {0}, *save = NULL;
    ev_uint16_t peer_port;
    enum sim_res_type type;
    int nseg = 0;

    evhttp_connection_get_peer(conn, &peer, &peer_port);
    if (!rate_ok(srv, peer ? peer : "?")) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        api_reply_error(srv, req, 429, "too many requests from this client", NULL);
        return;
    }
    if (!path) {
        api_reply_error(srv, req, 400, "bad request URI", NULL);
        return;
    }
    /* Metrics are scraped without a token, as Prometheus does by default. */
    if (!strcmp(path, "/metrics") && cmd == EVHTTP_REQ_GET) {
        api_handle_metrics(srv, req);
        return;
    }
    if (!token_ok(srv, evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"))) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
        api_reply_error(srv, req, 401, "missing or bad bearer token", NULL);
        return;
    }
    decoded = evhttp_uridecode(path, 0, NULL);
    if (!decoded) {
        api_reply_error(srv, req, 400, "bad request URI", NULL);
        return;
    }
    for (char *s = strtok_r(decoded, "/", &save); s && nseg < 4; s = strtok_r(NULL, "/", &save))
        seg[nseg++] = s;
    if (nseg == 0 || strcmp(seg[0], "v1") || nseg > 3) {
        api_reply_error(srv, req, 404, "no such endpoint", NULL);
        goto out;
    }
    if (nseg == 2 && !strcmp(seg[1], "export") && cmd == EVHTTP_REQ_GET)
        api_handle_export(srv, req);
    else if (nseg == 2 && !strcmp(seg[1], "import") && cmd == EVHTTP_REQ_POST)
        api_handle_import(srv, req);
    else if (nseg == 2 && !strcmp(seg[1], "trace") && cmd == EVHTTP_REQ_POST)
        api_handle_trace(srv, req);
    else if (nseg == 2 && !strcmp(seg[1], "watch") && cmd == EVHTTP_REQ_GET)
        api_handle_watch(srv, req);
    else if (nseg == 2 && !strcmp(seg[1], "status") && cmd == EVHTTP_REQ_GET)
        api_handle_status(srv, req);
    else if (nseg == 2 && !strcmp(seg[1], "openapi.yaml") && cmd == EVHTTP_REQ_GET)
        api_handle_openapi(srv, req);
    else if (nseg >= 2 && !strcmp(seg[1], "leases"))
        api_handle_leases(srv, req, nseg == 3 ? seg[2] : NULL);
    else if (nseg >= 2 && !strcmp(seg[1], "gateways"))
        api_handle_gateways(srv, req, nseg == 3 ? seg[2] : NULL);
    else if (nseg >= 2 && sim_res_type_from_key(seg[1], &type) == 0) {
        if (nseg == 2)
            api_handle_collection(srv, req, type);
        else
            api_handle_item(srv, req, type, seg[2]);
    } else if (nseg == 2 && (!strcmp(seg[1], "export") || !strcmp(seg[1], "import") ||
                             !strcmp(seg[1], "trace") || !strcmp(seg[1], "watch") ||
                             !strcmp(seg[1], "status"))) {
        api_reply_error(srv, req, 405, "method not allowed", NULL);
    } else {
        api_reply_error(srv, req, 404, "no such endpoint", NULL);
    }
out:
    free(decoded);
}

int api_server_create(struct event_base *base, struct store *store, const struct api_config *cfg,
                      struct api_server **out)
{
    struct api_server *srv;
    int rc;

    if (!base || !store || !cfg || !out)
        return -EINVAL;
    srv = calloc(1, sizeof(*srv));
    if (!srv)
        return -ENOMEM;
    srv->base = base;
    srv->store = store;
    srv->cfg = *cfg;
    srv->started_ns = api_now_ns();
    if (cfg->token)
        snprintf(srv->token, sizeof(srv->token), "%s", cfg->token);
    if (!srv->cfg.rate_burst)
        srv->cfg.rate_burst = srv->cfg.rate_per_client * 2 + 1;
    if (!srv->cfg.store_poll_ms)
        srv->cfg.store_poll_ms = 200;
    if ((rc = sim_topo_create(&srv->topo)) < 0 || (rc = sim_state_create(&srv->state, NULL)) < 0)
        goto err;
    if ((rc = api_load_from_store(srv)) < 0)
        goto err;
    /* Two priorities when the base is fresh, so the group commit runs after
     * the requests of a turn (harmless if the caller set them already). */
    if (event_base_get_npriorities(base) < 2)
        event_base_priority_init(base, 2);
    if ((rc = api_commit_start(srv)) < 0)
        goto err;
    srv->http = evhttp_new(base);
    if (!srv->http) {
        rc = -ENOMEM;
        goto err;
    }
    evhttp_set_max_body_size(srv->http, cfg->max_body ? (ev_ssize_t)cfg->max_body : 8 << 20);
    evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                              EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE);
    evhttp_set_timeout(srv->http, 30);
    evhttp_set_gencb(srv->http, route, srv);
    srv->sock = evhttp_bind_socket_with_handle(srv->http, cfg->listen_addr ? cfg->listen_addr : "127.0.0.1",
                                               cfg->port);
    if (!srv->sock) {
        rc = -EADDRINUSE;
        goto err;
    }
    if ((rc = api_watch_start(srv)) < 0)
        goto err;
    *out = srv;
    return 0;

err:
    api_server_destroy(srv);
    return rc;
}

void api_server_destroy(struct api_server *srv)
{
    if (!srv)
        return;
    api_commit_flush(srv);
    if (srv->flush_ev)
        event_free(srv->flush_ev);
    api_watch_stop(srv);
    if (srv->http)
        evhttp_free(srv->http);
    for (int i = 0; i < SIM_RES_COUNT; i++)
        free(srv->list_cache[i]);
    api_leases_free(srv);
    api_gateways_free(srv);
    sim_state_destroy(srv->state);
    sim_topo_destroy(srv->topo);
    free(srv);
}

uint16_t api_server_port(const struct api_server *srv)
{
    evutil_socket_t fd = evhttp_bound_socket_get_fd(srv->sock);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}
