/*
 * api/watch.c: the watch stream, and following the store.
 *
 * Every change reaches watchers from the store's change log, never straight
 * from a request handler, so a watcher sees exactly the committed order
 * whichever API server wrote it, and resuming from a revision after a
 * disconnect misses nothing and repeats nothing. The same pass applies
 * changes other API servers committed (ZooKeeper) to the in-memory topology.
 *
 * Following is a poll of the store's revision every store_poll_ms on a
 * persistent timer, plus a one-shot "kick" event for "follow now" (after a
 * local commit, when a watcher asks for history). The kick must be its own
 * event: activating the persistent timer by hand makes libevent re-arm it
 * relative to its old deadline, so every local commit pushed the next timed
 * poll one period further out; after a burst of writes the timer slept for
 * tens of seconds and the last change another server made was not applied
 * until then. The reader never skips a revision; if it stays below the
 * store's revision for API_STUCK_RESYNC_S it reloads everything instead.
 *
 * A stream is JSON lines:
 *   {"rev":12,"op":"put","type":"ports","id":"...","object":{...}}
 *   {"rev":13,"op":"del","type":"ports","id":"..."}
 *   {"rev":13,"op":"ping"}                 every 5 s, so clients see a dead link
 *   {"rev":40,"op":"resync"}               the log no longer reaches back to
 *                                          'since': export, then watch again
 */
#include "api/api_impl.h"
#include "lib/log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WATCH_PAGE 1000
#define WATCH_MAX_BACKLOG (16u << 20)   /* bytes queued for a slow watcher before we drop it */
#define WATCH_PING_S 5
#define API_STUCK_RESYNC_S 30

static void watcher_remove(struct api_server *srv, struct api_watcher *w)
{
    for (struct api_watcher **p = &srv->watchers; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            srv->n_watchers--;
            break;
        }
    }
    free(w);
}

static void watcher_closed(struct evhttp_connection *conn, void *arg)
{
    struct api_watcher *w = arg;

    (void)conn;
    watcher_remove(w->srv, w);
}

static void watcher_end(struct api_server *srv, struct api_watcher *w)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(w->req);

    evhttp_connection_set_closecb(conn, NULL, NULL);
    evhttp_send_reply_end(w->req);
    watcher_remove(srv, w);
}

static bool watcher_send(struct api_watcher *w, const char *line, size_t len)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(w->req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    struct evbuffer *buf;

    if (bev && evbuffer_get_length(bufferevent_get_output(bev)) > WATCH_MAX_BACKLOG)
        return false;
    buf = evbuffer_new();
    if (!buf)
        return false;
    evbuffer_add(buf, line, len);
    evbuffer_add(buf, "\n", 1);
    evhttp_send_reply_chunk(w->req, buf);
    evbuffer_free(buf);
    w->srv->counters.watch_events++;
    return true;
}

static bool is_local(struct api_server *srv, uint64_t rev)
{
    for (unsigned i = 0; i < srv->n_local_revs; i++)
        if (srv->local_revs[i] == rev)
            return true;
    return false;
}

void api_note_local_commit(struct api_server *srv, uint64_t rev)
{
    if (rev == srv->applied_rev + 1)
        srv->applied_rev = rev;
    else if (srv->n_local_revs < API_LOCAL_REVS)
        srv->local_revs[srv->n_local_revs++] = rev;
    /* Feed watchers now rather than at the next poll (never by activating
     * poll_ev itself: see the top of this file). */
    if (srv->kick_ev)
        event_active(srv->kick_ev, EV_TIMEOUT, 0);
}

/* Apply a change another API server committed. */
static void apply_remote(struct api_server *srv, const struct store_record *r)
{
    struct sim_error err = {0};
    enum sim_res_type type;
    struct sim_id id;

    if (sim_res_type_from_key(r->type, &type) < 0 || sim_id_parse(r->id, &id) < 0)
        return;
    if (r->op == STORE_DEL) {
        if (sim_topo_del(srv->topo, type, &id, &err) < 0 && err.code != -ENOENT)
            log_warn("revision %" PRIu64 ": cannot apply the deletion of %s %s: %s", r->rev, r->type, r->id, err.msg);
    } else {
        json_t *o = json_loads(r->doc ? r->doc : "", 0, NULL);
        if (!o || sim_topo_put(srv->topo, type, o, &id, &err) < 0)
            log_warn("revision %" PRIu64 ": cannot apply %s %s: %s", r->rev, r->type, r->id,
                     o ? err.msg : "the stored document is not JSON");
        json_decref(o);
    }
    srv->counters.remote_changes++;
    api_invalidate_lists(srv, type);
}

struct feed {
    struct api_server *srv;
    uint64_t last_rev;
};

static int feed_record(const struct store_record *r, void *arg)
{
    struct feed *f = arg;
    struct api_server *srv = f->srv;
    json_t *line;
    char *text;

    if (r->rev > srv->applied_rev && !is_local(srv, r->rev))
        apply_remote(srv, r);
    f->last_rev = r->rev;
    line = json_pack("{s:I, s:s, s:s, s:s}", "rev", (json_int_t)r->rev, "op",
                     r->op == STORE_PUT ? "put" : "del", "type", r->type, "id", r->id);
    if (!line)
        return -ENOMEM;
    if (r->op == STORE_PUT) {
        json_t *o = json_loads(r->doc ? r->doc : "", 0, NULL);
        json_object_set_new(line, "object", o ? o : json_null());
    }
    text = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (!text)
        return -ENOMEM;
    for (struct api_watcher *w = srv->watchers, *next; w; w = next) {
        next = w->next;
        if (w->since < r->rev && !watcher_send(w, text, strlen(text)))
            watcher_end(srv, w);
    }
    free(text);
    return 0;
}

static void resync_all(struct api_server *srv, uint64_t cur)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "{\"rev\":%" PRIu64 ",\"op\":\"resync\"}", cur);

    for (struct api_watcher *w = srv->watchers, *next; w; w = next) {
        next = w->next;
        watcher_send(w, line, (size_t)n);
        watcher_end(srv, w);
    }
}

/* Rebuild memory from the store's resources and tell watchers to resync:
 * when the log no longer reaches back far enough, or the reader has been
 * stuck below the store's revision too long. */
static void reload_from_store(struct api_server *srv, uint64_t cur)
{
    struct sim_topo *old = srv->topo;
    int rc;

    /* Writes applied in memory but not committed yet would be lost from
     * memory by the reload (their revisions count as local): commit first. */
    api_commit_flush(srv);
    if ((rc = sim_topo_create(&srv->topo)) == 0 && (rc = api_load_from_store(srv)) == 0) {
        sim_topo_destroy(old);
    } else {
        sim_topo_destroy(srv->topo);
        srv->topo = old;
        log_ratelimited(LOGL_WARN, "store: cannot reload the topology: %s", strerror(-rc));
        return;
    }
    srv->stuck_since_ns = 0;
    api_invalidate_lists(srv, SIM_RES_COUNT);
    resync_all(srv, cur);
}

/* Progress check after a pass: the store is at 'cur'. */
static void check_stuck(struct api_server *srv, uint64_t cur)
{
    uint64_t now = api_now_ns();

    if (srv->applied_rev >= cur) {
        srv->stuck_since_ns = 0;
        return;
    }
    if (!srv->stuck_since_ns || srv->stuck_rev != srv->applied_rev) {
        srv->stuck_rev = srv->applied_rev;
        srv->stuck_since_ns = now;
        return;
    }
    if (now - srv->stuck_since_ns >= API_STUCK_RESYNC_S * 1000000000ull) {
        log_warn("store: no progress past revision %" PRIu64 " (store at %" PRIu64 ") for %d s: reloading",
                 srv->applied_rev, cur, API_STUCK_RESYNC_S);
        reload_from_store(srv, cur);
    }
}

void api_sync_from_store(struct api_server *srv)
{
    uint64_t cur, from;
    bool more = true;
    int rc;

    if ((rc = store_revision(srv->store, &cur)) < 0) {
        log_ratelimited(LOGL_WARN, "store: cannot read the revision: %s", strerror(-rc));
        return;
    }
    from = srv->applied_rev;
    for (struct api_watcher *w = srv->watchers; w; w = w->next)
        if (w->since < from)
            from = w->since;
    if (from >= cur) {
        check_stuck(srv, cur);
        return;
    }
    while (more) {
        struct feed f = {srv, from};

        rc = store_changes_since(srv->store, from, WATCH_PAGE, feed_record, &f, &more);
        if (rc == -ERANGE) {
            /* History is gone: rebuild memory from the store, tell watchers. */
            reload_from_store(srv, cur);
            return;
        }
        if (rc < 0)
            log_ratelimited(LOGL_WARN, "store: cannot read the changes after revision %" PRIu64 ": %s", from,
                            strerror(-rc));
        if (rc < 0 || f.last_rev == from)
            break;
        from = f.last_rev;
        if (from > srv->applied_rev)
            srv->applied_rev = from;
        for (struct api_watcher *w = srv->watchers; w; w = w->next)
            if (w->since < from)
                w->since = from;
    }
    /* Local revisions at or below what is applied are done with. */
    unsigned k = 0;
    for (unsigned i = 0; i < srv->n_local_revs; i++)
        if (srv->local_revs[i] > srv->applied_rev)
            srv->local_revs[k++] = srv->local_revs[i];
    srv->n_local_revs = k;
    srv->fed_rev = srv->applied_rev;
    check_stuck(srv, cur);
}

void api_handle_watch(struct api_server *srv, struct evhttp_request *req)
{
    struct evkeyvalq q;
    const char *since_s;
    struct api_watcher *w;
    uint64_t cur = 0, since;
    char *end;

    store_revision(srv->store, &cur);
    since = cur;
    evhttp_parse_query_str(evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)) ?: "", &q);
    since_s = evhttp_find_header(&q, "since");
    if (since_s) {
        errno = 0;
        since = strtoull(since_s, &end, 10);
        if (errno || *end || end == since_s || since_s[0] == '-') {
            evhttp_clear_headers(&q);
            api_reply_error(srv, req, 400, "since: not a revision number", "since");
            return;
        }
        if (since > cur)
            since = cur;
    }
    evhttp_clear_headers(&q);
    w = calloc(1, sizeof(*w));
    if (!w) {
        api_reply_error(srv, req, 500, "out of memory", NULL);
        return;
    }
    w->req = req;
    w->srv = srv;
    w->since = since;
    w->next = srv->watchers;
    srv->watchers = w;
    srv->n_watchers++;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/x-ndjson");
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), watcher_closed, w);
    srv->counters.requests[2]++;
    srv->counters.by_code[200]++;
    if (since < cur)
        event_active(srv->kick_ev, EV_TIMEOUT, 0);
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    api_sync_from_store(arg);
}

static void ping_cb(evutil_socket_t fd, short what, void *arg)
{
    struct api_server *srv = arg;
    char line[64];
    uint64_t cur = srv->applied_rev;
    int n;

    (void)fd;
    (void)what;
    n = snprintf(line, sizeof(line), "{\"rev\":%" PRIu64 ",\"op\":\"ping\"}", cur);
    for (struct api_watcher *w = srv->watchers, *next; w; w = next) {
        next = w->next;
        if (w->since >= cur && !watcher_send(w, line, (size_t)n))
            watcher_end(srv, w);
    }
}

int api_watch_start(struct api_server *srv)
{
    struct timeval poll_tv = {srv->cfg.store_poll_ms / 1000, (srv->cfg.store_poll_ms % 1000) * 1000};
    struct timeval ping_tv = {WATCH_PING_S, 0};

    srv->poll_ev = event_new(srv->base, -1, EV_PERSIST, poll_cb, srv);
    srv->kick_ev = event_new(srv->base, -1, 0, poll_cb, srv);
    srv->ping_ev = event_new(srv->base, -1, EV_PERSIST, ping_cb, srv);
    if (!srv->poll_ev || !srv->kick_ev || !srv->ping_ev)
        return -ENOMEM;
    event_add(srv->poll_ev, &poll_tv);
    event_add(srv->ping_ev, &ping_tv);
    return 0;
}

void api_watch_stop(struct api_server *srv)
{
    while (srv->watchers)
        watcher_end(srv, srv->watchers);
    if (srv->poll_ev)
        event_free(srv->poll_ev);
    if (srv->kick_ev)
        event_free(srv->kick_ev);
    if (srv->ping_ev)
        event_free(srv->ping_ev);
    srv->poll_ev = srv->kick_ev = srv->ping_ev = NULL;
}
