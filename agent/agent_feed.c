/*
 * agent/agent_feed.c: the topology from the API.
 *
 * A thread of its own does the talking, because the HTTP client blocks:
 * it fetches a snapshot (GET /v1/export, whose X-Rampart-Revision header
 * says which store revision it reflects), then follows GET
 * /v1/watch?since=REV, and queues what it reads for the forwarding thread,
 * which it wakes through an eventfd. When the link drops it retries with
 * backoff and resumes from the last revision it queued, so nothing is
 * missed or repeated; when the server answers "resync" (its log no longer
 * reaches back) or the forwarding thread cannot apply a change, it fetches
 * a new snapshot. The forwarding thread applies changes one resource at a
 * time and invalidates the flows that depended on what changed; it never
 * waits for the API, so forwarding goes on while the API is gone.
 */
#include "agent/agent_impl.h"
#include "lib/http_client.h"
#include "lib/log.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

enum feed_kind { FEED_SNAPSHOT, FEED_CHANGE };

struct feed_msg {
    struct feed_msg *next;
    enum feed_kind kind;
    uint64_t rev;
    char *text;
};

struct agent_feed {
    pthread_t thread;
    bool started;
    int efd;
    pthread_mutex_t mu;                 /* guards the queue only */
    struct feed_msg *head, *tail;
    struct http_conn conn;
    atomic_bool stop, want_snapshot, connected;
    uint64_t since;                     /* the thread's: last revision queued */
};

static void push(struct agent_feed *f, enum feed_kind kind, uint64_t rev, char *text)
{
    struct feed_msg *m = calloc(1, sizeof(*m));
    uint64_t one = 1;

    if (!m) {
        free(text);
        atomic_store(&f->want_snapshot, true);   /* lost a change: start over */
        return;
    }
    m->kind = kind;
    m->rev = rev;
    m->text = text;
    pthread_mutex_lock(&f->mu);
    if (f->tail)
        f->tail->next = m;
    else
        f->head = m;
    f->tail = m;
    pthread_mutex_unlock(&f->mu);
    if (write(f->efd, &one, sizeof(one)) < 0) {
        /* the counter only saturates; the reader drains the queue anyway */
    }
}

static int on_line(const char *line, void *arg)
{
    struct agent_feed *f = arg;
    json_t *j = json_loads(line, 0, NULL);
    const char *op = json_string_value(json_object_get(j, "op"));
    json_int_t rev = json_integer_value(json_object_get(j, "rev"));
    int stop = 0;

    if (!j || !op) {
        log_msg(LOGL_WARN, "api: a watch line that is not a change, ignored: %.80s", line);
    } else if (!strcmp(op, "resync")) {
        atomic_store(&f->want_snapshot, true);
        stop = 1;
    } else if (!strcmp(op, "put") || !strcmp(op, "del")) {
        char *copy = strdup(line);
        if (copy)
            push(f, FEED_CHANGE, (uint64_t)rev, copy);
        else
            atomic_store(&f->want_snapshot, true);
        if ((uint64_t)rev > f->since)
            f->since = (uint64_t)rev;
    }
    json_decref(j);
    /* pings every few seconds give a chance to stop or to start over */
    if (atomic_load(&f->stop) || atomic_load(&f->want_snapshot))
        stop = 1;
    return stop;
}

static bool snapshot(struct agent_feed *f)
{
    struct http_reply r;
    char rev[32];

    if (http_request(&f->conn, "GET", "/v1/export", NULL, &r) < 0 || r.status != 200) {
        log_msg(LOGL_WARN, "api: cannot fetch the topology from %s:%s: %s", f->conn.host, f->conn.port,
                r.status ? (r.body ? r.body : "") : r.error);
        http_reply_free(&r);
        return false;
    }
    f->since = http_reply_header(&r, "X-Rampart-Revision", rev, sizeof(rev)) ? strtoull(rev, NULL, 10) : 0;
    push(f, FEED_SNAPSHOT, f->since, r.body);
    r.body = NULL;
    http_reply_free(&r);
    return true;
}

static void sleep_interruptible(struct agent_feed *f, unsigned ms)
{
    for (unsigned t = 0; t < ms && !atomic_load(&f->stop); t += 100)
        usleep(100000);
}

static void *feed_thread(void *arg)
{
    struct agent_feed *f = arg;
    unsigned backoff = 200;

    atomic_store(&f->want_snapshot, true);
    while (!atomic_load(&f->stop)) {
        char path[64], err[256];
        if (atomic_load(&f->want_snapshot)) {
            if (!snapshot(f)) {
                sleep_interruptible(f, backoff);
                backoff = backoff < 5000 ? backoff * 2 : 5000;
                continue;
            }
            atomic_store(&f->want_snapshot, false);
        }
        atomic_store(&f->connected, true);
        snprintf(path, sizeof(path), "/v1/watch?since=%" PRIu64, f->since);
        int rc = http_stream(&f->conn, path, on_line, f, err, sizeof(err));
        atomic_store(&f->connected, false);
        if (atomic_load(&f->stop))
            break;
        if (atomic_load(&f->want_snapshot)) {
            backoff = 200;
            continue;
        }
        log_msg(LOGL_WARN, "api: watch stream ended (%s); resuming from revision %" PRIu64,
                rc < 0 ? err : "closed by the server", f->since);
        sleep_interruptible(f, backoff);
        backoff = backoff < 5000 ? backoff * 2 : 5000;
    }
    return NULL;
}

/* The server pings every 5 s: 15 s of silence is a dead link. */
#define FEED_TIMEOUT_MS 15000

int agent_api_conn(const struct agent_settings *cfg, unsigned timeout_ms, struct http_conn *c, char *err,
                   size_t errlen)
{
    memset(c, 0, sizeof(*c));
    if (http_conn_parse(c, cfg->api_url) < 0) {
        snprintf(err, errlen, "api.url: '%s' is not http://host:port", cfg->api_url);
        return -EINVAL;
    }
    c->timeout_ms = timeout_ms;
    if (cfg->api_token_file[0]) {
        FILE *tf = fopen(cfg->api_token_file, "r");
        bool ok = tf && fgets(c->token, sizeof(c->token), tf);
        if (tf)
            fclose(tf);
        if (!ok) {
            snprintf(err, errlen, "api.token_file: cannot read %s", cfg->api_token_file);
            return -EINVAL;
        }
        c->token[strcspn(c->token, "\r\n")] = '\0';
    }
    return 0;
}

json_t *agent_feed_fetch(const struct agent_settings *cfg, char *err, size_t errlen)
{
    struct http_conn c;
    struct http_reply r;
    json_t *doc = NULL;

    if (agent_api_conn(cfg, FEED_TIMEOUT_MS, &c, err, errlen) < 0)
        return NULL;
    c.timeout_ms = 5000;
    if (http_request(&c, "GET", "/v1/export", NULL, &r) < 0)
        snprintf(err, errlen, "%s", r.error);
    else if (r.status != 200)
        snprintf(err, errlen, "HTTP %d: %.200s", r.status, r.body ? r.body : "");
    else if (!(doc = json_loads(r.body, 0, NULL)))
        snprintf(err, errlen, "the API's topology is not JSON");
    http_reply_free(&r);
    return doc;
}

/* --- the forwarding thread's side ---------------------------------------------------------- */

static enum sim_tag_kind tag_kind_of(enum sim_res_type t)
{
    switch (t) {
    case SIM_RES_ROUTER:
    case SIM_RES_BRIDGE: return SIM_TAG_DEVICE;
    case SIM_RES_PORT: return SIM_TAG_PORT;
    case SIM_RES_ROUTE: return SIM_TAG_ROUTE;
    case SIM_RES_CHAIN: return SIM_TAG_CHAIN;
    case SIM_RES_RULE: return SIM_TAG_RULE;
    default: return 0;
    }
}

static void invalidate_ref(struct agent *a, enum sim_tag_kind kind, const json_t *doc, const char *field)
{
    struct sim_id id;
    const char *s = json_string_value(json_object_get(doc, field));

    if (s && sim_id_parse(s, &id) == 0)
        a->c.feed_invalidated += dp_flow_invalidate_tag(a->flows, sim_tag(kind, &id, 0));
}

/* A route's prefix changes the lookups of every flow whose matched prefix
 * covers it (a more specific route now wins), and of flows that found no
 * route: their SIM_TAG_ROUTER_TABLE tags carry the matched prefix. */
static void invalidate_route_prefix(struct agent *a, const json_t *doc)
{
    const char *router = json_string_value(json_object_get(doc, "router"));
    const char *dst = json_string_value(json_object_get(doc, "dst"));
    unsigned b0, b1, b2, b3, len;
    struct sim_id rid;

    if (!router || !dst || sim_id_parse(router, &rid) < 0 ||
        sscanf(dst, "%u.%u.%u.%u/%u", &b0, &b1, &b2, &b3, &len) != 5 || len > 32)
        return;
    uint32_t addr = b0 << 24 | b1 << 16 | b2 << 8 | b3;
    a->c.feed_invalidated += dp_flow_invalidate_tag(a->flows, sim_tag(SIM_TAG_ROUTER_TABLE, &rid, 0));
    for (unsigned l = 0; l <= len; l++) {
        uint32_t mask = l ? ~0u << (32 - l) : 0;
        uint64_t key = (uint64_t)(addr & mask) << 8 | l;
        a->c.feed_invalidated += dp_flow_invalidate_tag(a->flows, sim_tag(SIM_TAG_ROUTER_TABLE, &rid, key));
    }
}

/* Drop the flows a resource (as it was, or as it is now) touched. Types
 * whose effect spreads further than one tag (floating IPs, groups,
 * neighbours, hosts) flush the cache: rarer changes, correctness first. */
static void invalidate(struct agent *a, enum sim_res_type type, const struct sim_id *id, const json_t *doc)
{
    enum sim_tag_kind kind = tag_kind_of(type);

    if (!kind) {
        if (type != SIM_RES_BGP_PEER && type != SIM_RES_BGP_NETWORK) {
            a->c.feed_flushes++;
            dp_flow_flush(a->flows);
        }
        return;
    }
    a->c.feed_invalidated += dp_flow_invalidate_tag(a->flows, sim_tag(kind, id, 0));
    if (!doc)
        return;
    if (type == SIM_RES_RULE)
        invalidate_ref(a, SIM_TAG_CHAIN, doc, "chain");   /* a new rule changes its chain's walk */
    if (type == SIM_RES_ROUTE)
        invalidate_route_prefix(a, doc);
    if (type == SIM_RES_PORT) {
        invalidate_ref(a, SIM_TAG_PORT, doc, "peer");
        invalidate_ref(a, SIM_TAG_DEVICE, doc, "device");   /* a new port is a new flood target */
    }
}

static int apply_change(struct agent *a, const char *text)
{
    json_t *j = json_loads(text, 0, NULL), *old = NULL;
    const char *op = json_string_value(json_object_get(j, "op"));
    const char *type_s = json_string_value(json_object_get(j, "type"));
    const char *id_s = json_string_value(json_object_get(j, "id"));
    const json_t *obj = json_object_get(j, "object");
    enum sim_res_type type;
    struct sim_id id;
    struct sim_error err;
    int rc = -EINVAL;

    if (!op || !type_s || !id_s || sim_res_type_from_key(type_s, &type) < 0 || sim_id_parse(id_s, &id) < 0)
        goto out;
    old = sim_topo_get(a->topo, type, &id);
    if (!strcmp(op, "del")) {
        rc = sim_topo_del(a->topo, type, &id, &err);
        if (rc == -ENOENT)
            rc = 0;   /* already gone: a replay after a snapshot */
    } else if (json_is_object(obj)) {
        rc = sim_topo_put(a->topo, type, obj, NULL, &err);
    }
    if (rc < 0) {
        log_msg(LOGL_WARN, "api: cannot apply %s %s %s (%s); fetching the whole topology", op, type_s, id_s,
                err.msg);
        goto out;
    }
    invalidate(a, type, &id, old);
    if (obj)
        invalidate(a, type, &id, obj);
    if (type == SIM_RES_PORT || type == SIM_RES_HOST)
        agent_topology_changed(a);
out:
    json_decref(old);
    json_decref(j);
    return rc;
}

/* A new snapshot replaces the topology: only the flows that depended on a
 * resource that changed, appeared or went are dropped, so a resync after a
 * reconnect leaves flows through unchanged parts alone. */
static void invalidate_diff(struct agent *a, const json_t *before, const json_t *after)
{
    unsigned changed = 0;

    for (int ty = 0; ty < SIM_RES_COUNT; ty++) {
        const char *key = sim_res_type_key((enum sim_res_type)ty);
        const json_t *ob = json_object_get(before, key), *nb = json_object_get(after, key), *o, *n;
        json_t *old_by_id = json_object();
        size_t i;

        json_array_foreach(ob, i, o) {
            const char *id = json_string_value(json_object_get(o, "id"));
            if (id)
                json_object_set(old_by_id, id, (json_t *)o);
        }
        json_array_foreach(nb, i, n) {
            const char *ids = json_string_value(json_object_get(n, "id"));
            struct sim_id id;
            if (!ids || sim_id_parse(ids, &id) < 0) {
                a->c.feed_flushes++;   /* no id to name it by: start over */
                dp_flow_flush(a->flows);
                json_decref(old_by_id);
                return;
            }
            const json_t *prev = json_object_get(old_by_id, ids);
            if (!prev || !json_equal((json_t *)prev, (json_t *)n)) {
                if (changed++ < 3)
                    log_msg(LOGL_INFO, "api: resync: %s %s %s", key, ids, prev ? "changed" : "appeared");
                invalidate(a, (enum sim_res_type)ty, &id, prev);
                invalidate(a, (enum sim_res_type)ty, &id, n);
            }
            json_object_del(old_by_id, ids);
        }
        const char *ids;
        json_object_foreach(old_by_id, ids, o) {   /* gone */
            struct sim_id id;
            if (changed++ < 3)
                log_msg(LOGL_INFO, "api: resync: %s %s gone", key, ids);
            if (sim_id_parse(ids, &id) == 0)
                invalidate(a, (enum sim_res_type)ty, &id, o);
        }
        json_decref(old_by_id);
    }
    if (changed)
        log_msg(LOGL_INFO, "api: resync: %u resources differ from the copy the agent had", changed);
}

static int apply_snapshot(struct agent *a, char *text, uint64_t rev)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    int rc;

    if (!doc) {
        log_msg(LOGL_WARN, "api: the topology is not JSON: %s", jerr.text);
        return -EINVAL;
    }
    json_t *before = a->topo ? sim_topo_export(a->topo) : NULL;
    rc = agent_use_document(a, doc, before != NULL);
    if (rc == 0 && before)
        invalidate_diff(a, before, doc);
    json_decref(before);
    if (rc == 0) {
        /* the cached copy the agent starts from when the API is away */
        char tmp[600];
        snprintf(tmp, sizeof(tmp), "%s.tmp", a->cfg.topology);
        if (json_dump_file(doc, tmp, JSON_COMPACT) < 0 || rename(tmp, a->cfg.topology) < 0)
            log_msg(LOGL_WARN, "api: cannot keep a copy of the topology in %s", a->cfg.topology);
        log_msg(LOGL_INFO, "api: topology at revision %" PRIu64 " loaded", rev);
    }
    json_decref(doc);
    return rc;
}

void agent_feed_drain(struct agent *a)
{
    struct agent_feed *f = a->feed;
    struct feed_msg *m;
    uint64_t n;

    if (!f)
        return;
    if (read(f->efd, &n, sizeof(n)) < 0) {
        /* nothing counted: the queue may still hold what an earlier wake-up left */
    }
    pthread_mutex_lock(&f->mu);
    m = f->head;
    f->head = f->tail = NULL;
    pthread_mutex_unlock(&f->mu);
    while (m) {
        struct feed_msg *next = m->next;
        int rc;
        if (m->kind == FEED_SNAPSHOT)
            rc = apply_snapshot(a, m->text, m->rev);
        else
            rc = atomic_load(&f->want_snapshot) ? 0 : apply_change(a, m->text);
        if (rc < 0)
            atomic_store(&f->want_snapshot, true);
        else
            a->c.feed_rev = m->rev > a->c.feed_rev ? m->rev : a->c.feed_rev;
        a->c.feed_changes += m->kind == FEED_CHANGE;
        free(m->text);
        free(m);
        m = next;
    }
}

bool agent_feed_connected(const struct agent *a)
{
    return a->feed && atomic_load(&a->feed->connected);
}

int agent_feed_start(struct agent *a, char *err, size_t errlen)
{
    struct agent_feed *f = calloc(1, sizeof(*f));

    if (!f)
        return -ENOMEM;
    if (agent_api_conn(&a->cfg, FEED_TIMEOUT_MS, &f->conn, err, errlen) < 0) {
        free(f);
        return -EINVAL;
    }
    f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&f->mu, NULL);
    if (f->efd < 0 || pthread_create(&f->thread, NULL, feed_thread, f) != 0) {
        snprintf(err, errlen, "api: cannot start the watch thread");
        if (f->efd >= 0)
            close(f->efd);
        free(f);
        return -EAGAIN;
    }
    f->started = true;
    a->feed = f;
    return 0;
}

void agent_feed_resync(struct agent *a)
{
    if (a->feed)
        atomic_store(&a->feed->want_snapshot, true);
}

int agent_feed_fd(const struct agent *a)
{
    return a->feed ? a->feed->efd : -1;
}

void agent_feed_stop(struct agent *a)
{
    struct agent_feed *f = a->feed;

    if (!f)
        return;
    atomic_store(&f->stop, true);
    /* The thread notices at its next line (a ping every 5 s) or timeout. A
     * short wait covers an idle thread; one blocked in a read is left to
     * end with the process, which is about to exit (cancelling it would
     * leak what the HTTP client holds). */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 300000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    if (pthread_timedjoin_np(f->thread, NULL, &until) != 0) {
        pthread_detach(f->thread);
        a->feed = NULL;
        return;
    }
    while (f->head) {
        struct feed_msg *n = f->head->next;
        free(f->head->text);
        free(f->head);
        f->head = n;
    }
    pthread_mutex_destroy(&f->mu);
    close(f->efd);
    free(f);
    a->feed = NULL;
}
