/*
 * api/api_impl.h: what the pieces of the API server share, private to api/.
 */
#ifndef RP_API_IMPL_H
#define RP_API_IMPL_H

#include "api/api.h"
#include "sim/sim.h"
#include "store/store.h"

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdbool.h>

#define API_RATE_SLOTS 1024
#define API_LOCAL_REVS 256

struct api_rate_slot {
    char addr[48];
    double tokens;
    uint64_t last_ns;
};

struct api_watcher {
    struct evhttp_request *req;
    struct api_server *srv;
    uint64_t since;                /* the last revision this watcher has seen */
    struct api_watcher *next;
};

/* A write applied in memory and waiting for the next group commit. */
struct api_pending {
    struct evhttp_request *req;
    enum sim_res_type type;
    struct sim_id id;
    json_t *old;                   /* the document before, NULL for a create */
    char *text;                    /* the document after (NULL for a delete) */
    int code;                      /* the reply on success: 201, 200 or 204 */
    struct api_pending *next;
};

struct api_counters {
    uint64_t requests[6];          /* by class: 1xx..5xx, index = code / 100 */
    uint64_t by_code[600];
    uint64_t watch_events;
    uint64_t store_errors;
    uint64_t remote_changes;       /* applied from other API servers */
    uint64_t group_commits, grouped_writes;
};

struct api_server {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    struct store *store;
    struct api_config cfg;
    char token[256];
    struct sim_topo *topo;
    struct sim_state *state;       /* trace state (conntrack, NAT, learning) */
    uint64_t applied_rev;          /* store revision the in-memory topology reflects */
    uint64_t fed_rev;              /* last revision pushed to watchers */
    uint64_t local_revs[API_LOCAL_REVS]; /* revisions this server committed, not yet fed */
    unsigned n_local_revs;
    char *list_cache[SIM_RES_COUNT];   /* serialized GET /v1/<type> answers */
    struct api_watcher *watchers;
    unsigned n_watchers;
    struct event *poll_ev, *ping_ev, *flush_ev;
    struct event *kick_ev;         /* one-shot: follow the store now (see watch.c) */
    uint64_t stuck_rev;            /* applied_rev when the reader last made no progress */
    uint64_t stuck_since_ns;       /* since when it has been below the store's revision */
    struct api_pending *pending, **pending_tail;
    struct api_rate_slot rate[API_RATE_SLOTS];
    struct api_counters counters;
    uint64_t started_ns;
    struct api_leases *leases;     /* leases this server granted (leases.c), for GET */
    struct api_gateway *gateways;  /* the border gateways' last reports (gateways.c), by host */
    size_t n_gateways, cap_gateways;
};

uint64_t api_now_ns(void);

/* Replies. 'body' is consumed (decref'd). */
void api_reply_json(struct api_server *srv, struct evhttp_request *req, int code, json_t *body);
void api_reply_error(struct api_server *srv, struct evhttp_request *req, int code, const char *msg,
                     const char *field);
void api_reply_text(struct api_server *srv, struct evhttp_request *req, int code, const char *ctype,
                    const char *text, size_t len);
/* The request body as JSON: NULL after replying 400 when it does not parse. */
json_t *api_read_body(struct api_server *srv, struct evhttp_request *req, bool want_object);

/* resources.c */
void api_handle_collection(struct api_server *srv, struct evhttp_request *req, enum sim_res_type type);
void api_handle_item(struct api_server *srv, struct evhttp_request *req, enum sim_res_type type,
                     const char *ref);
void api_handle_export(struct api_server *srv, struct evhttp_request *req);
void api_handle_import(struct api_server *srv, struct evhttp_request *req);
void api_handle_trace(struct api_server *srv, struct evhttp_request *req);
int api_load_from_store(struct api_server *srv);
int api_commit_start(struct api_server *srv);
void api_commit_flush(struct api_server *srv);   /* commit what is pending now */
void api_invalidate_lists(struct api_server *srv, enum sim_res_type type);

/* watch.c */
void api_handle_watch(struct api_server *srv, struct evhttp_request *req);
void api_note_local_commit(struct api_server *srv, uint64_t rev);
void api_sync_from_store(struct api_server *srv);   /* apply remote changes, feed watchers */
int api_watch_start(struct api_server *srv);
void api_watch_stop(struct api_server *srv);

/* leases.c: NAT port-block leases. sub: NULL for /v1/leases,
 * "renew" or "release" for /v1/leases/<sub>. */
struct api_leases;
void api_handle_leases(struct api_server *srv, struct evhttp_request *req, const char *sub);
void api_leases_free(struct api_server *srv);   /* at destroy */
/* A lease request body, checked against the topology (pure: the handler
 * and the fuzz target use it). want_range: port_from/port_to (lease); else
 * block_first_port (renew, release). 0, or -EINVAL with a message and the
 * field it names. */
struct lease_req {
    char router[37], host[37], addr[16];
    long long port_from, port_to, first;
};
int api_lease_req_parse(const struct sim_topo *topo, const json_t *body, bool want_range, struct lease_req *r,
                        char *msg, size_t msg_len, const char **field_out);

/* gateways.c: what the border gateways report about BIRD and BGP
 * (PUT/GET/DELETE /v1/gateways/{host}). Kept in memory per API server,
 * never in the store. Bounds of one report: */
#define API_GW_MAX 1024            /* gateways one API server keeps */
#define API_GW_HOST_MAX 63         /* host: [A-Za-z0-9._-] */
#define API_GW_INTERVAL_MAX 3600   /* interval_s: 1..this */
#define API_GW_PEERS_MAX 256
#define API_GW_ROUTES_MAX 1000     /* the sample of routes */
#define API_GW_NEXTHOPS_MAX 16     /* per route */
#define API_GW_UPLINKS_MAX 64
#define API_GW_ADDRS_MAX 64        /* kernel_addresses per uplink */
#define API_GW_COUNTERS_MAX 64
#define API_GW_NAME_MAX 63         /* peer names, counter names */
#define API_GW_CONFIG_ERROR_MAX 1024
#define API_GW_LAST_ERROR_MAX 256

struct api_gateway {
    char host[API_GW_HOST_MAX + 1];
    json_t *report;                /* the normalized report */
    uint64_t received_ns;          /* api_now_ns() when it arrived */
    int64_t interval_s;
};

bool api_gateway_host_ok(const char *host);
/* A report body for path host 'host' (pure: the handler, the unit tests and
 * the fuzz target use it). 0 and *normalized (every field present, strings
 * canonical, enums in lower case), or -EINVAL with the field it names
 * ("peers[2].state"; "" for the body itself) and a message. */
int api_gateway_report_parse(const json_t *body, const char *host, json_t **normalized, char *field,
                             size_t fieldlen, char *err, size_t errlen);
void api_handle_gateways(struct api_server *srv, struct evhttp_request *req, const char *host);
void api_gateways_free(struct api_server *srv);   /* at destroy */
bool api_gateway_stale(const struct api_gateway *g, uint64_t now_ns);
uint64_t api_gateway_age_s(const struct api_gateway *g, uint64_t now_ns);
/* bgp_peers id -> state ("established", ...) from the freshest report that
 * is not stale and lists the peer; peers no such report lists are absent. */
json_t *api_gateway_peer_states(const struct api_server *srv, uint64_t now_ns);
/* Set the read-only "state" of one bgp_peers document from that map. */
void api_gateway_set_peer_state(json_t *peer, const json_t *states);

/* metrics.c */
void api_handle_status(struct api_server *srv, struct evhttp_request *req);
void api_handle_metrics(struct api_server *srv, struct evhttp_request *req);
void api_handle_openapi(struct api_server *srv, struct evhttp_request *req);

#endif
