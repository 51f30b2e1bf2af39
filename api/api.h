/*
 * api/api.h: the REST API that operators and clouds talk to.
 *
 * JSON over HTTP on libevent's evhttp, exactly per api-model.md: CRUD for
 * every resource type under /v1, export and import of whole topologies, the
 * packet trace on the live topology, a watch stream of revisioned changes,
 * status, Prometheus metrics and the OpenAPI document. Every request but
 * /metrics carries a bearer token.
 *
 * The server keeps the whole topology in memory as a sim/ model and
 * validates every write against it before the write reaches the store, so a
 * refused request leaves the store exactly as it was. With ZooKeeper,
 * several API servers share one ensemble: each follows the store's change
 * log and applies what the others wrote.
 */
#ifndef RP_API_H
#define RP_API_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;
struct api_server;

struct api_config {
    const char *listen_addr;       /* "127.0.0.1" */
    uint16_t port;                 /* 0: any free port (see api_server_port) */
    const char *token;             /* bearer token; NULL or "" disables auth (tests only) */
    size_t max_body;               /* bytes; larger bodies get 413 */
    uint32_t rate_per_client;      /* requests per second per client address, 0 = unlimited */
    uint32_t rate_burst;           /* bucket size */
    uint32_t store_poll_ms;        /* how often to read changes other servers wrote */
};

/* Start serving on 'base' with 'store' (owned by the caller, must outlive
 * the server). Loads the topology from the store first. */
int api_server_create(struct event_base *base, struct store *store, const struct api_config *cfg,
                      struct api_server **out);
void api_server_destroy(struct api_server *srv);
uint16_t api_server_port(const struct api_server *srv);

#endif
