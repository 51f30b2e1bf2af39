/*
 * api/leases.c: NAT port-block leases for the agents.
 *
 * An agent that SNATs to a public address asks here for blocks of
 * NAT_BLOCK_PORTS ports of (router, address), so that no two hosts ever
 * hand out the same public port. The store decides who holds what
 * (store_lease_block & co., atomic on both backends); this file validates
 * the request against the in-memory topology and maps store errors to the
 * API's codes.
 *
 *   POST   /v1/leases          lease a block: 200, 409 none free
 *   POST   /v1/leases/renew    extend one this host holds: 200, 404
 *   POST   /v1/leases/release  give one back: 204, 404
 *   DELETE /v1/leases          the same as release
 *   GET    /v1/leases          live leases, as this server knows them
 *
 * The store has no call that lists leases, so GET answers from a table of
 * the leases this server granted or renewed (and has not seen released or
 * expired). With one API server that is every lease; in a cluster each
 * server lists those its own clients asked it for.
 */
#include "api/api_impl.h"
#include "nat/nat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Long enough that an agent renewing every third of it rides out a short API
 * outage; short enough that a dead host's ports come back within a minute. */
#define API_LEASE_S 60

struct api_lease {
    char router[37], host[37], addr[16];
    uint16_t first;
    int64_t expires;               /* unix seconds */
};

struct api_leases {
    struct api_lease *v;
    size_t n, cap;
};

/* What every lease request names: the (router, address) the block is of
 * and the host that holds it, validated and as ids. */
void api_leases_free(struct api_server *srv)
{
    if (!srv || !srv->leases)
        return;
    free(srv->leases->v);
    free(srv->leases);
    srv->leases = NULL;
}

static struct api_leases *table(struct api_server *srv)
{
    if (!srv->leases)
        srv->leases = calloc(1, sizeof(*srv->leases));
    return srv->leases;
}

static struct api_lease *table_find(struct api_leases *t, const char *router, const char *addr, uint16_t first)
{
    for (size_t i = 0; t && i < t->n; i++)
        if (t->v[i].first == first && !strcmp(t->v[i].router, router) && !strcmp(t->v[i].addr, addr))
            return &t->v[i];
    return NULL;
}

/* Drop what expired, so the table stays as large as the live leases. */
static void table_prune(struct api_leases *t, int64_t now)
{
    size_t k = 0;

    for (size_t i = 0; t && i < t->n; i++)
        if (t->v[i].expires > now)
            t->v[k++] = t->v[i];
    if (t)
        t->n = k;
}

/* A lease the store granted or renewed. The store is the authority: a
 * failure to note it here only makes GET incomplete. */
static void table_note(struct api_server *srv, const struct lease_req *r, uint16_t first, int64_t expires)
{
    struct api_leases *t = table(srv);
    struct api_lease *l = table_find(t, r->router, r->addr, first);

    if (!t)
        return;
    if (!l) {
        table_prune(t, (int64_t)time(NULL));
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 64;
            struct api_lease *v = realloc(t->v, cap * sizeof(*v));
            if (!v)
                return;
            t->v = v;
            t->cap = cap;
        }
        l = &t->v[t->n++];
    }
    memcpy(l->router, r->router, sizeof(l->router));
    memcpy(l->host, r->host, sizeof(l->host));
    memcpy(l->addr, r->addr, sizeof(l->addr));
    l->first = first;
    l->expires = expires;
}

static void table_forget(struct api_server *srv, const struct lease_req *r, uint16_t first)
{
    struct api_leases *t = srv->leases;
    struct api_lease *l = table_find(t, r->router, r->addr, first);

    if (l && !strcmp(l->host, r->host))   /* another host's lease stays listed */
        *l = t->v[--t->n];
}

/* An integer field in [lo, hi]: 0, or a message in msg. */
static int int_field(const json_t *body, const char *key, long long lo, long long hi, long long *out, char *msg,
                     size_t len)
{
    const json_t *v = json_object_get(body, key);

    if (!v) {
        snprintf(msg, len, "%s is required", key);
        return -EINVAL;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(msg, len, "%s must be an integer from %lld to %lld", key, lo, hi);
        return -EINVAL;
    }
    *out = json_integer_value(v);
    return 0;
}

int api_lease_req_parse(const struct sim_topo *topo, const json_t *body, bool want_range, struct lease_req *r,
                        char *msg, size_t msg_len, const char **field_out)
{
    static const char *const range_keys[] = {"router", "address", "host", "port_from", "port_to", NULL};
    static const char *const block_keys[] = {"router", "address", "host", "block_first_port", NULL};
    const char *const *keys = want_range ? range_keys : block_keys;
    const char *key, *field = NULL, *s;
    const json_t *v;
    struct sim_id id;
    struct in_addr a;

    msg[0] = '\0';
    if (!json_is_object(body)) {
        snprintf(msg, msg_len, "the body must be a JSON object");
        field = "";
        goto bad;
    }

    json_object_foreach((json_t *)body, key, v) {
        bool known = false;
        for (unsigned i = 0; keys[i] && !known; i++)
            known = !strcmp(keys[i], key);
        if (!known) {
            snprintf(msg, msg_len, "unknown field '%s'", key);
            field = key;
            goto bad;
        }
    }
    memset(r, 0, sizeof(*r));
    /* The NAT zone a block belongs to is a device's: a router, or a bridge
     * whose chain SNATs. */
    s = json_string_value(json_object_get(body, "router"));
    field = "router";
    if (!s || (sim_topo_resolve(topo, SIM_RES_ROUTER, s, &id) < 0 &&
               sim_topo_resolve(topo, SIM_RES_BRIDGE, s, &id) < 0)) {
        snprintf(msg, msg_len, s ? "no router '%.100s'" : "router (an id or a name) is required", s);
        goto bad;
    }
    sim_id_format(&id, r->router);
    s = json_string_value(json_object_get(body, "host"));
    field = "host";
    if (!s || sim_topo_resolve(topo, SIM_RES_HOST, s, &id) < 0) {
        snprintf(msg, msg_len, s ? "no host '%.100s'" : "host (an id or a name) is required", s);
        goto bad;
    }
    sim_id_format(&id, r->host);
    s = json_string_value(json_object_get(body, "address"));
    field = "address";
    if (!s || inet_pton(AF_INET, s, &a) != 1 || a.s_addr == 0) {
        snprintf(msg, msg_len, "address must be an IPv4 address such as \"198.51.100.2\"");
        goto bad;
    }
    inet_ntop(AF_INET, &a, r->addr, sizeof(r->addr));   /* one spelling for the store's key */
    if (want_range) {
        field = "port_from";
        if (int_field(body, field, 1, 65535, &r->port_from, msg, msg_len) < 0)
            goto bad;
        field = "port_to";
        if (int_field(body, field, 1, 65535, &r->port_to, msg, msg_len) < 0)
            goto bad;
        if (r->port_to < r->port_from) {
            snprintf(msg, msg_len, "port_to is below port_from");
            goto bad;
        }
    } else {
        field = "block_first_port";
        if (int_field(body, field, 0, 65535 - NAT_BLOCK_PORTS + 1, &r->first, msg, msg_len) < 0)
            goto bad;
        if (r->first % NAT_BLOCK_PORTS) {
            snprintf(msg, msg_len, "block_first_port must be a multiple of %d", NAT_BLOCK_PORTS);
            goto bad;
        }
    }
    return 0;
bad:
    *field_out = field;
    return -EINVAL;
}

/* Parse and check a request body; on bad input reply 400 naming the field. */
static int parse_req(struct api_server *srv, struct evhttp_request *req, const json_t *body, bool want_range,
                     struct lease_req *r)
{
    char msg[160];
    const char *field = NULL;

    if (api_lease_req_parse(srv->topo, body, want_range, r, msg, sizeof(msg), &field) == 0)
        return 0;
    api_reply_error(srv, req, 400, msg, field);
    return -EINVAL;
}

static json_t *lease_json(const char *router, const char *addr, const char *host, uint16_t first,
                          int64_t expires)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:I, s:i}", "router", router, "address", addr, "host", host,
                     "block_first_port", (int)first, "expires", (json_int_t)expires, "ttl_s", API_LEASE_S);
}

static void store_failed(struct api_server *srv, struct evhttp_request *req, int rc)
{
    srv->counters.store_errors++;
    api_reply_error(srv, req, 503, rc == -ECONNRESET ? "the store lost its ensemble; retry" : "the store failed",
                    NULL);
}

static void lease(struct api_server *srv, struct evhttp_request *req, const struct lease_req *r)
{
    /* Blocks are aligned to NAT_BLOCK_PORTS (nat/ refuses others), and the
     * store steps from the first port it is given: hand it the aligned
     * span of every block that overlaps the range. */
    uint16_t from = (uint16_t)(r->port_from & ~(long long)(NAT_BLOCK_PORTS - 1));
    uint16_t to = (uint16_t)(r->port_to | (NAT_BLOCK_PORTS - 1));
    uint16_t first = 0;
    int rc = store_lease_block(srv->store, r->router, r->addr, r->host, from, to, API_LEASE_S, &first);
    int64_t expires = (int64_t)time(NULL) + API_LEASE_S;

    if (rc == -EADDRNOTAVAIL) {
        api_reply_error(srv, req, 409, "every block of this range is leased", NULL);
    } else if (rc < 0) {
        store_failed(srv, req, rc);
    } else {
        table_note(srv, r, first, expires);
        api_reply_json(srv, req, 200, lease_json(r->router, r->addr, r->host, first, expires));
    }
}

static void renew(struct api_server *srv, struct evhttp_request *req, const struct lease_req *r)
{
    int rc = store_renew_block(srv->store, r->router, r->addr, r->host, (uint16_t)r->first, API_LEASE_S);
    int64_t expires = (int64_t)time(NULL) + API_LEASE_S;

    if (rc == -ENOENT) {
        table_forget(srv, r, (uint16_t)r->first);
        api_reply_error(srv, req, 404, "this host holds no such block", "block_first_port");
    } else if (rc < 0) {
        store_failed(srv, req, rc);
    } else {
        table_note(srv, r, (uint16_t)r->first, expires);
        api_reply_json(srv, req, 200, lease_json(r->router, r->addr, r->host, (uint16_t)r->first, expires));
    }
}

static void release(struct api_server *srv, struct evhttp_request *req, const struct lease_req *r)
{
    int rc = store_release_block(srv->store, r->router, r->addr, r->host, (uint16_t)r->first);

    if (rc == -ENOENT) {
        api_reply_error(srv, req, 404, "this host holds no such block", "block_first_port");
    } else if (rc < 0) {
        store_failed(srv, req, rc);
    } else {
        table_forget(srv, r, (uint16_t)r->first);
        api_reply_json(srv, req, 204, NULL);
    }
}

static void list(struct api_server *srv, struct evhttp_request *req)
{
    struct api_leases *t = srv->leases;
    json_t *arr = json_array();

    table_prune(t, (int64_t)time(NULL));
    for (size_t i = 0; arr && t && i < t->n; i++)
        json_array_append_new(arr, lease_json(t->v[i].router, t->v[i].addr, t->v[i].host, t->v[i].first,
                                              t->v[i].expires));
    if (!arr)
        api_reply_error(srv, req, 500, "out of memory", NULL);
    else
        api_reply_json(srv, req, 200, arr);
}

void api_handle_leases(struct api_server *srv, struct evhttp_request *req, const char *sub)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    enum { LEASE, RENEW, RELEASE } what;
    struct lease_req r;
    json_t *body;

    if (!sub && cmd == EVHTTP_REQ_GET) {
        list(srv, req);
        return;
    }
    if (!sub && cmd == EVHTTP_REQ_POST)
        what = LEASE;
    else if (!sub && cmd == EVHTTP_REQ_DELETE)
        what = RELEASE;
    else if (sub && !strcmp(sub, "renew") && cmd == EVHTTP_REQ_POST)
        what = RENEW;
    else if (sub && !strcmp(sub, "release") && cmd == EVHTTP_REQ_POST)
        what = RELEASE;
    else if (!sub || !strcmp(sub, "renew") || !strcmp(sub, "release")) {
        api_reply_error(srv, req, 405, "method not allowed", NULL);
        return;
    } else {
        api_reply_error(srv, req, 404, "no such endpoint", NULL);
        return;
    }
    body = api_read_body(srv, req, true);
    if (!body)
        return;
    if (parse_req(srv, req, body, what == LEASE, &r) == 0) {
        if (what == LEASE)
            lease(srv, req, &r);
        else if (what == RENEW)
            renew(srv, req, &r);
        else
            release(srv, req, &r);
    }
    json_decref(body);
}
