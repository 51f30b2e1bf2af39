/*
 * api/resources.c: CRUD for every resource type, export, import and trace.
 *
 * A write is validated by applying it to the in-memory topology first
 * (sim/ refuses bad input without changing anything), then committed to the
 * store; if the commit fails the in-memory change is undone, so memory and
 * store never disagree and a refused request changes nothing.
 */
#include "api/api_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

static int http_code(int err)
{
    switch (err) {
    case -ENOENT:
        return 404;
    case -EEXIST:
    case -EBUSY:
        return 409;
    case -ENOMEM:
        return 500;
    default:
        return 400;
    }
}

static void reply_sim_error(struct api_server *srv, struct evhttp_request *req, const struct sim_error *err)
{
    /* A dangling reference is bad input (400) even though its code is
     * -ENOENT: only an unknown id in the URL is a 404, answered before. */
    int code = err->code == -ENOENT ? 400 : http_code(err->code);

    api_reply_error(srv, req, code, err->msg[0] ? err->msg : "refused", err->field);
}

void api_invalidate_lists(struct api_server *srv, enum sim_res_type type)
{
    (void)type;
    /* Changing one resource can change read-only fields of others (peer
     * links, implicit routes are hidden, refcounts are not shown): drop
     * every cached list; rebuilding one is a single export walk. */
    for (int i = 0; i < SIM_RES_COUNT; i++) {
        free(srv->list_cache[i]);
        srv->list_cache[i] = NULL;
    }
}

/* --- group commit ------------------------------------------------------------------
 * Writes are applied to memory at once and queued; one store transaction at
 * the end of the event-loop turn commits every write that arrived in that
 * turn, so concurrent clients share one fsync. Replies go out only after
 * the commit; if it fails, every queued write is undone in memory (newest
 * first) and answered 503, so the store never holds what was not answered
 * and nothing answered is missing from it. */

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    api_commit_flush(arg);
}

int api_commit_start(struct api_server *srv)
{
    srv->pending_tail = &srv->pending;
    srv->flush_ev = event_new(srv->base, -1, 0, flush_cb, srv);
    if (!srv->flush_ev)
        return -ENOMEM;
    /* After every other ready event of the turn, to gather more writes. */
    event_priority_set(srv->flush_ev, event_base_get_npriorities(srv->base) - 1);
    return 0;
}

static int queue_write(struct api_server *srv, struct evhttp_request *req, enum sim_res_type type,
                       const struct sim_id *id, json_t *old, bool del, int code)
{
    struct api_pending *p = calloc(1, sizeof(*p));
    json_t *doc = del ? NULL : sim_topo_get(srv->topo, type, id);

    if (!p || (!del && !doc)) {
        free(p);
        json_decref(doc);
        return -ENOMEM;
    }
    p->text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (!del && !p->text) {
        free(p);
        return -ENOMEM;
    }
    p->req = req;
    p->type = type;
    p->id = *id;
    p->old = old ? json_incref(old) : NULL;
    p->code = code;
    *srv->pending_tail = p;
    srv->pending_tail = &p->next;
    if (p == srv->pending)
        event_active(srv->flush_ev, EV_TIMEOUT, 0);
    return 0;
}

/* Undo an in-memory change after the store refused it. */
static void restore(struct api_server *srv, enum sim_res_type type, const struct sim_id *id, json_t *old)
{
    struct sim_error err = {0};
    struct sim_id tmp;

    if (old)
        sim_topo_put(srv->topo, type, old, &tmp, &err);
    else
        sim_topo_del(srv->topo, type, id, &err);
}

void api_commit_flush(struct api_server *srv)
{
    struct api_pending *list = srv->pending, *p, *next, **rev = NULL;
    struct store_change *ch;
    size_t n = 0, i;
    char (*ids)[37];
    uint64_t revno;
    int rc;

    if (!list)
        return;
    srv->pending = NULL;
    srv->pending_tail = &srv->pending;
    for (p = list; p; p = p->next)
        n++;
    ch = calloc(n, sizeof(*ch));
    ids = calloc(n, sizeof(*ids));
    rev = calloc(n, sizeof(*rev));
    rc = (!ch || !ids || !rev) ? -ENOMEM : 0;
    for (p = list, i = 0; rc == 0 && p; p = p->next, i++) {
        sim_id_format(&p->id, ids[i]);
        ch[i] = (struct store_change){p->text ? STORE_PUT : STORE_DEL, sim_res_type_key(p->type), ids[i], p->text};
        rev[i] = p;
    }
    if (rc == 0)
        rc = store_commit(srv->store, ch, n, &revno);
    if (rc == 0) {
        srv->counters.group_commits++;
        srv->counters.grouped_writes += n;
        api_note_local_commit(srv, revno);
    } else {
        srv->counters.store_errors++;
        /* Newest first, so each undo sees the state it left. */
        for (i = n; rev && i-- > 0;)
            restore(srv, rev[i]->type, &rev[i]->id, rev[i]->old);
    }
    api_invalidate_lists(srv, SIM_RES_COUNT);
    for (p = list; p; p = next) {
        next = p->next;
        if (rc < 0)
            api_reply_error(srv, p->req, 503, "the store refused the write; nothing was changed", NULL);
        else if (p->code == 204)
            api_reply_json(srv, p->req, 204, NULL);
        else
            api_reply_text(srv, p->req, p->code, "application/json", p->text, strlen(p->text));
        json_decref(p->old);
        free(p->text);
        free(p);
    }
    free(ch);
    free(ids);
    free(rev);
}

/* bgp_peers carry a read-only state that is not in the store: the gateways
 * report it (gateways.c). The cached list is the store's; the state is
 * merged into a copy at every read (peers are few). */
static json_t *with_peer_state(json_t *peer, const json_t *states)
{
    json_t *o = json_copy(peer);

    if (o)
        api_gateway_set_peer_state(o, states);
    return o;
}

static void list_bgp_peers(struct api_server *srv, struct evhttp_request *req)
{
    json_t *arr = json_loads(srv->list_cache[SIM_RES_BGP_PEER], 0, NULL), *out = json_array(), *p;
    json_t *states = api_gateway_peer_states(srv, api_now_ns());
    size_t i;

    if (!arr || !out || !states) {
        json_decref(arr);
        json_decref(out);
        json_decref(states);
        api_reply_error(srv, req, 500, "out of memory", NULL);
        return;
    }
    json_array_foreach(arr, i, p)
        json_array_append_new(out, with_peer_state(p, states));
    json_decref(arr);
    json_decref(states);
    api_reply_json(srv, req, 200, out);
}

static void list(struct api_server *srv, struct evhttp_request *req, enum sim_res_type type)
{
    if (!srv->list_cache[type]) {
        json_t *all = sim_topo_export(srv->topo);
        json_t *arr = all ? json_object_get(all, sim_res_type_key(type)) : NULL;

        srv->list_cache[type] = arr ? json_dumps(arr, JSON_COMPACT) : strdup("[]");
        json_decref(all);
        if (!srv->list_cache[type]) {
            api_reply_error(srv, req, 500, "out of memory", NULL);
            return;
        }
    }
    if (type == SIM_RES_BGP_PEER) {
        list_bgp_peers(srv, req);
        return;
    }
    api_reply_text(srv, req, 200, "application/json", srv->list_cache[type], strlen(srv->list_cache[type]));
}

static void create(struct api_server *srv, struct evhttp_request *req, enum sim_res_type type)
{
    json_t *body = api_read_body(srv, req, true);
    json_t *idj;
    struct sim_error err = {0};
    struct sim_id id;
    int rc;

    if (!body)
        return;
    idj = json_object_get(body, "id");
    if (idj && json_is_string(idj) && sim_id_parse(json_string_value(idj), &id) == 0) {
        json_t *old = sim_topo_get(srv->topo, type, &id);
        if (old) {
            json_decref(old);
            json_decref(body);
            api_reply_error(srv, req, 409, "a resource with this id exists", "id");
            return;
        }
    }
    rc = sim_topo_put(srv->topo, type, body, &id, &err);
    json_decref(body);
    if (rc < 0) {
        reply_sim_error(srv, req, &err);
        return;
    }
    if (queue_write(srv, req, type, &id, NULL, false, 201) < 0) {
        sim_topo_del(srv->topo, type, &id, &err);
        api_reply_error(srv, req, 500, "out of memory", NULL);
    }
}

void api_handle_collection(struct api_server *srv, struct evhttp_request *req, enum sim_res_type type)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        list(srv, req, type);
        break;
    case EVHTTP_REQ_POST:
        create(srv, req, type);
        break;
    default:
        api_reply_error(srv, req, 405, "method not allowed", NULL);
    }
}

void api_handle_item(struct api_server *srv, struct evhttp_request *req, enum sim_res_type type, const char *ref)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct sim_error err = {0};
    struct sim_id id;
    json_t *old, *body = NULL;
    int rc;

    if (sim_topo_resolve(srv->topo, type, ref, &id) < 0) {
        api_reply_error(srv, req, 404, "no such resource", NULL);
        return;
    }
    old = sim_topo_get(srv->topo, type, &id);
    if (!old) {
        api_reply_error(srv, req, 404, "no such resource", NULL);
        return;
    }
    switch (cmd) {
    case EVHTTP_REQ_GET:
        if (type == SIM_RES_BGP_PEER) {
            json_t *states = api_gateway_peer_states(srv, api_now_ns());
            json_t *o = states ? with_peer_state(old, states) : NULL;
            if (o)
                api_reply_json(srv, req, 200, o);
            else
                api_reply_error(srv, req, 500, "out of memory", NULL);
            json_decref(states);
        } else {
            api_reply_json(srv, req, 200, json_incref(old));
        }
        break;
    case EVHTTP_REQ_PUT:
    case EVHTTP_REQ_PATCH:
        body = api_read_body(srv, req, true);
        if (!body)
            break;
        if (json_object_get(body, "id")) {
            struct sim_id bid;
            const char *s = json_string_value(json_object_get(body, "id"));
            if (!s || sim_id_parse(s, &bid) < 0 || memcmp(&bid, &id, sizeof(id))) {
                api_reply_error(srv, req, 400, "id in the body differs from the URL", "id");
                break;
            }
        }
        if (cmd == EVHTTP_REQ_PUT) {
            char ids[37];
            sim_id_format(&id, ids);
            json_object_set_new(body, "id", json_string(ids));
            rc = sim_topo_put(srv->topo, type, body, &id, &err);
        } else {
            rc = sim_topo_patch(srv->topo, type, &id, body, &err);
        }
        if (rc < 0) {
            reply_sim_error(srv, req, &err);
            break;
        }
        if (queue_write(srv, req, type, &id, old, false, 200) < 0) {
            restore(srv, type, &id, old);
            api_reply_error(srv, req, 500, "out of memory", NULL);
        }
        break;
    case EVHTTP_REQ_DELETE:
        rc = sim_topo_del(srv->topo, type, &id, &err);
        if (rc < 0) {
            reply_sim_error(srv, req, &err);
            break;
        }
        if (queue_write(srv, req, type, &id, old, true, 204) < 0) {
            restore(srv, type, &id, old);
            api_reply_error(srv, req, 500, "out of memory", NULL);
        }
        break;
    default:
        api_reply_error(srv, req, 405, "method not allowed", NULL);
    }
    json_decref(body);
    json_decref(old);
}

void api_handle_export(struct api_server *srv, struct evhttp_request *req)
{
    json_t *doc = sim_topo_export(srv->topo);
    char rev[24];

    /* The store revision the document reflects (at least): a daemon then
     * watches from it, and a change it replays is idempotent. */
    snprintf(rev, sizeof(rev), "%" PRIu64, srv->applied_rev);
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-Rampart-Revision", rev);
    if (!doc)
        api_reply_error(srv, req, 500, "out of memory", NULL);
    else
        api_reply_json(srv, req, 200, doc);
}

/* Every resource of a topology as store changes (documents with ids). The
 * change strings point into 'texts' and 'doc', which the caller frees. */
struct import_batch {
    json_t *doc;
    struct store_change *ch;
    char **texts;
    size_t n;
};

static void import_batch_free(struct import_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->texts[i]);
    free(b->texts);
    free(b->ch);
    json_decref(b->doc);
}

static int topo_changes(struct sim_topo *t, struct import_batch *b)
{
    json_t *arr, *o;
    size_t total = 0, i;
    const char *key;

    b->doc = sim_topo_export(t);
    if (!b->doc)
        return -ENOMEM;
    json_object_foreach(b->doc, key, arr)
        total += json_array_size(arr);
    b->ch = calloc(total + 1, sizeof(*b->ch));
    b->texts = calloc(total + 1, sizeof(*b->texts));
    if (!b->ch || !b->texts)
        return -ENOMEM;
    json_object_foreach(b->doc, key, arr) {
        json_array_foreach(arr, i, o) {
            char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
            if (!text)
                return -ENOMEM;
            b->texts[b->n] = text;
            b->ch[b->n] = (struct store_change){STORE_PUT, key,
                                                json_string_value(json_object_get(o, "id")), text};
            b->n++;
        }
    }
    return 0;
}

void api_handle_import(struct api_server *srv, struct evhttp_request *req)
{
    json_t *body = api_read_body(srv, req, true);
    struct import_batch b = {0};
    struct sim_topo *fresh = NULL;
    struct sim_error err = {0};
    uint64_t rev;
    int rc;

    if (!body)
        return;
    api_commit_flush(srv);   /* writes queued before the import commit before it */
    if (sim_topo_create(&fresh) < 0) {
        api_reply_error(srv, req, 500, "out of memory", NULL);
        goto out;
    }
    rc = sim_topo_load(fresh, body, &err);
    if (rc < 0) {
        reply_sim_error(srv, req, &err);
        goto out;
    }
    if (topo_changes(fresh, &b) < 0) {
        api_reply_error(srv, req, 500, "out of memory", NULL);
        goto out;
    }
    rc = store_replace_all(srv->store, b.ch, b.n, &rev);
    if (rc < 0) {
        srv->counters.store_errors++;
        api_reply_error(srv, req, rc == -E2BIG ? 413 : 503,
                        rc == -E2BIG ? "document too large for one store transaction"
                                     : "the store refused the import; nothing was changed",
                        NULL);
        goto out;
    }
    sim_topo_destroy(srv->topo);
    srv->topo = fresh;
    fresh = NULL;
    api_note_local_commit(srv, rev);
    api_invalidate_lists(srv, SIM_RES_COUNT);
    api_reply_json(srv, req, 200, json_pack("{s:I, s:I}", "revision", (json_int_t)rev, "resources", (json_int_t)b.n));
out:
    import_batch_free(&b);
    json_decref(body);
    sim_topo_destroy(fresh);
}

void api_handle_trace(struct api_server *srv, struct evhttp_request *req)
{
    json_t *body = api_read_body(srv, req, true), *resp = NULL;
    struct sim_error err = {0};

    if (!body)
        return;
    if (sim_trace_json(srv->topo, srv->state, body, api_now_ns(), &resp, &err) < 0)
        api_reply_error(srv, req, err.code == -ENOMEM ? 500 : 400, err.msg[0] ? err.msg : "bad trace request",
                        err.field);
    else
        api_reply_json(srv, req, 200, resp);
    json_decref(body);
}

/* --- start-up: the in-memory topology from the store ------------------------ */

static int add_record(const struct store_record *r, void *arg)
{
    json_t *doc = arg, *arr, *o;

    o = json_loads(r->doc, 0, NULL);
    if (!o)
        return -EBADMSG;
    arr = json_object_get(doc, r->type);
    if (!arr) {
        arr = json_array();
        json_object_set_new(doc, r->type, arr);
    }
    json_array_append_new(arr, o);
    return 0;
}

int api_load_from_store(struct api_server *srv)
{
    json_t *doc = json_object();
    struct sim_error err = {0};
    uint64_t rev;
    int rc;

    if (!doc)
        return -ENOMEM;
    rc = store_revision(srv->store, &rev);
    if (rc == 0)
        rc = store_list(srv->store, NULL, add_record, doc);
    if (rc == 0 && json_object_size(doc))
        rc = sim_topo_load(srv->topo, doc, &err);
    json_decref(doc);
    if (rc == 0) {
        srv->applied_rev = rev;
        srv->fed_rev = rev;
    }
    return rc;
}
