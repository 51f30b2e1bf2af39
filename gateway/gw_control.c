/*
 * gateway/gw_control.c: the control thread: BIRD's configuration and
 * supervision, peer state, reports to the API (gw_ctl.h).
 */
#include "gateway/gw_ctl.h"
#include "lib/http_client.h"
#include "lib/log.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define TURN_MS 200

struct gw_ctl {
    struct gateway_settings cfg;
    struct bgp_sup *sup;
    pthread_t thread;
    bool started;
    /* handed over by the forwarding thread, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    json_t *want_new;
    char *snapshot;
    char *status_text;
    /* the control thread's own */
    json_t *applied;                    /* the configuration BIRD runs */
    json_t *refused;                    /* the last one refused (not retried until it changes) */
    char config_error[600];
    uint64_t next_report;
    struct http_conn api;
    bool have_api;
    char host[64];
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- the configuration --------------------------------------------------------------- */

static uint32_t u32_of(const json_t *o, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(o, k));

    return v > 0 && v <= 0xffffffffLL ? (uint32_t)v : 0;
}

int gw_ctl_config_from_json(const json_t *want, struct bgp_config *c, struct bgp_error *err)
{
    const json_t *peers = json_object_get(want, "peers"), *prefixes = json_object_get(want, "prefixes"), *v;
    struct bgp_peer_conf *pc = NULL;
    const char **pp = NULL;
    size_t i;

    memset(c, 0, sizeof(*c));
    memset(err, 0, sizeof(*err));
    if (!json_is_object(want) || !json_is_array(peers) || !json_is_array(prefixes)) {
        snprintf(err->field, sizeof(err->field), "config");
        snprintf(err->msg, sizeof(err->msg), "not a gateway configuration object");
        return -EINVAL;
    }
    if (json_array_size(peers) && !(pc = calloc(json_array_size(peers), sizeof(*pc))))
        return -ENOMEM;
    if (json_array_size(prefixes) && !(pp = calloc(json_array_size(prefixes), sizeof(*pp)))) {
        free(pc);
        return -ENOMEM;
    }
    json_array_foreach(peers, i, v) {
        pc[i].name = json_string_value(json_object_get(v, "name"));
        pc[i].address = json_string_value(json_object_get(v, "address"));
        pc[i].peer_asn = u32_of(v, "peer_asn");
        pc[i].local_asn = u32_of(v, "local_asn");
        pc[i].hold_time = u32_of(v, "hold_time");
        pc[i].keepalive = u32_of(v, "keepalive");
        pc[i].bfd = !json_is_false(json_object_get(v, "bfd"));
        pc[i].password = json_string_value(json_object_get(v, "password"));
    }
    json_array_foreach(prefixes, i, v)
        pp[i] = json_string_value(v) ? json_string_value(v) : "";
    c->router_id = json_string_value(json_object_get(want, "router_id"));
    c->local_asn = u32_of(want, "local_asn");
    c->peers = pc;
    c->n_peers = json_array_size(peers);
    c->prefixes = pp;
    c->n_prefixes = json_array_size(prefixes);
    c->kernel_table = u32_of(want, "kernel_table");
    c->bfd_interval_ms = u32_of(want, "bfd_interval_ms");
    c->bfd_multiplier = u32_of(want, "bfd_multiplier");
    return 0;
}

void gw_ctl_config_free(struct bgp_config *c)
{
    free((void *)c->peers);
    free((void *)c->prefixes);
    c->peers = NULL;
    c->prefixes = NULL;
}

static void apply(struct gw_ctl *c, json_t *want, uint64_t now)
{
    struct bgp_config bc;
    struct bgp_error err;
    struct bgp_sup_status st;
    int rc;

    if (c->applied && json_equal(want, c->applied)) {
        /* back to what runs (the refused change was undone): nothing is wrong any more */
        c->config_error[0] = '\0';
        json_decref(c->refused);
        c->refused = NULL;
        json_decref(want);
        return;
    }
    if (c->refused && json_equal(want, c->refused)) {
        json_decref(want);
        return;
    }
    rc = gw_ctl_config_from_json(want, &bc, &err);
    if (rc == 0)
        rc = bgp_sup_apply(c->sup, &bc, &err);
    if (rc < 0) {
        if (!err.msg[0])
            snprintf(err.msg, sizeof(err.msg), "%s", strerror(-rc));
        /* peers[N] means little to an operator: name the resource */
        unsigned idx;
        const char *id = NULL;
        if (sscanf(err.field, "peers[%u]", &idx) == 1)
            id = json_string_value(json_object_get(json_array_get(json_object_get(want, "peers"), idx), "id"));
        snprintf(c->config_error, sizeof(c->config_error), "%s%s%s%s%s%s", err.field, id ? " (bgp_peers " : "",
                 id ? id : "", id ? ")" : "", err.field[0] ? ": " : "", err.msg);
        log_msg(LOGL_ERR, "BIRD configuration refused, the previous one stays: %s", c->config_error);
        json_decref(c->refused);
        c->refused = want;
    } else {
        log_msg(LOGL_INFO, "BIRD configuration applied: router id %s, %zu peers, %zu prefixes", bc.router_id,
                bc.n_peers, bc.n_prefixes);
        c->config_error[0] = '\0';
        json_decref(c->applied);
        c->applied = want;
        json_decref(c->refused);
        c->refused = NULL;
    }
    gw_ctl_config_free(&bc);
    bgp_sup_status(c->sup, &st);
    if (c->applied && st.state == BGP_SUP_STOPPED && bgp_sup_start(c->sup, now) == 0)
        log_msg(LOGL_INFO, "BIRD started");
}

/* --- state and reports --------------------------------------------------------------- */

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static json_t *peer_state(struct gw_ctl *c, const json_t *peer, bool running)
{
    const char *name = json_string_value(json_object_get(peer, "name"));
    struct bgp_proto_info info;
    char state[16] = "down", bfd[16] = "none";
    json_t *o;

    memset(&info, 0, sizeof(info));
    if (running && name && bgp_sup_peer_info(c->sup, name, &info) == 0) {
        snprintf(state, sizeof(state), "%s", bgp_state_name(info.bgp_state));
        snprintf(bfd, sizeof(bfd), "%s", bgp_bfd_state_name(info.bfd));
        lower(state);
        lower(bfd);
    } else if (running) {
        snprintf(state, sizeof(state), "unknown");
    }
    o = json_pack("{s:O, s:O, s:O, s:O, s:s, s:s, s:s, s:I, s:I, s:s}", "id", json_object_get(peer, "id"), "name",
                  json_object_get(peer, "name"), "peer_address", json_object_get(peer, "address"), "peer_asn",
                  json_object_get(peer, "peer_asn"), "state", state, "bfd", bfd, "since", info.since,
                  "routes_received", (json_int_t)info.routes_imported, "routes_sent",
                  (json_int_t)info.routes_exported, "last_error", info.last_error);
    return o;
}

static json_t *status(struct gw_ctl *c)
{
    struct bgp_sup_status st;
    const json_t *want = c->applied ? c->applied : c->refused;
    json_t *peers = json_array(), *v;
    size_t i;

    bgp_sup_status(c->sup, &st);
    json_array_foreach(json_object_get(c->applied, "peers"), i, v)
        json_array_append_new(peers, peer_state(c, v, st.state == BGP_SUP_RUNNING));
    return json_pack("{s:{s:s, s:I, s:I, s:s?, s:s?, s:I}, s:o}", "bird", "state", bgp_sup_state_name(st.state),
                     "pid", (json_int_t)st.pid, "restarts", (json_int_t)st.restarts, "router_id",
                     json_string_value(json_object_get(want, "router_id")), "config_error",
                     c->config_error[0] ? c->config_error : NULL, "config_generation", (json_int_t)st.config_gen,
                     "peers", peers);
}

static void url_path(char *out, size_t cap, const char *host)
{
    size_t o = (size_t)snprintf(out, cap, "/v1/gateways/");

    for (const unsigned char *s = (const unsigned char *)host; *s && o + 4 < cap; s++) {
        if (isalnum(*s) || *s == '-' || *s == '_' || *s == '.')
            out[o++] = (char)*s;
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", *s);
    }
    out[o] = '\0';
}

static void report(struct gw_ctl *c, json_t *st)
{
    json_t *body = json_deep_copy(st), *snap = NULL;
    char path[256], *text;
    struct http_reply r;

    pthread_mutex_lock(&c->mu);
    if (c->snapshot)
        snap = json_loads(c->snapshot, 0, NULL);
    pthread_mutex_unlock(&c->mu);
    if (!body)
        return;
    json_object_set_new(body, "host", json_string(c->host));
    json_object_set_new(body, "interval_s", json_integer((json_int_t)c->cfg.report_interval_s));
    if (snap) {
        json_object_update(body, snap);
        json_decref(snap);
    }
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return;
    url_path(path, sizeof(path), c->host);
    if (http_request(&c->api, "PUT", path, text, &r) == 0) {
        if (r.status >= 300)
            log_msg(LOGL_WARN, "report to the API: HTTP %d: %.200s", r.status, r.body ? r.body : "");
        http_reply_free(&r);
    }
    free(text);
}

static void *run(void *arg)
{
    struct gw_ctl *c = arg;

    for (;;) {
        json_t *want = NULL;
        uint64_t now, next = 0;
        struct timespec dl;

        pthread_mutex_lock(&c->mu);
        if (c->stop) {
            pthread_mutex_unlock(&c->mu);
            break;
        }
        want = c->want_new;
        c->want_new = NULL;
        pthread_mutex_unlock(&c->mu);
        now = now_ns();
        if (want)
            apply(c, want, now);
        bgp_sup_poll(c->sup, now, &next);
        if (now >= c->next_report) {
            json_t *st = status(c);
            char *text = st ? json_dumps(st, JSON_COMPACT) : NULL;
            pthread_mutex_lock(&c->mu);
            free(c->status_text);
            c->status_text = text;
            pthread_mutex_unlock(&c->mu);
            if (st && c->have_api)
                report(c, st);
            json_decref(st);
            c->next_report = now + (uint64_t)c->cfg.report_interval_s * 1000000000ull;
        }
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_nsec += TURN_MS * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&c->mu);
        if (!c->stop && !c->want_new)
            pthread_cond_timedwait(&c->cv, &c->mu, &dl);
        pthread_mutex_unlock(&c->mu);
    }
    return NULL;
}

/* --- life ------------------------------------------------------------------------------- */

static int mkdir_p(const char *dir)
{
    char p[256];

    snprintf(p, sizeof(p), "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

int gw_ctl_start(const struct gateway_settings *s, struct gw_ctl **out, char *err, size_t errlen)
{
    struct gw_ctl *c = calloc(1, sizeof(*c));
    struct bgp_sup_opts o = {0};
    int rc;

    *out = NULL;
    if (!c)
        return -ENOMEM;
    c->cfg = *s;
    snprintf(c->host, sizeof(c->host), "%s", s->agent.host);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if ((rc = mkdir_p(s->bird_dir)) < 0) {
        snprintf(err, errlen, "bgp.dir: cannot create %s: %s", s->bird_dir, strerror(-rc));
        goto fail;
    }
    o.bird_path = s->bird_path;
    o.dir = s->bird_dir;
    o.backoff_min_ms = 500;
    o.backoff_max_ms = 10000;
    if ((rc = bgp_sup_create(&o, &c->sup)) < 0) {
        snprintf(err, errlen, "BIRD supervisor: %s", strerror(-rc));
        goto fail;
    }
    if (s->agent.api_url[0]) {
        if ((rc = agent_api_conn(&s->agent, 5000, &c->api, err, errlen)) < 0)
            goto fail;
        c->have_api = true;
    }
    if ((rc = -pthread_create(&c->thread, NULL, run, c)) < 0) {
        snprintf(err, errlen, "control thread: %s", strerror(-rc));
        goto fail;
    }
    c->started = true;
    *out = c;
    return 0;
fail:
    gw_ctl_stop(c);
    return rc;
}

void gw_ctl_stop(struct gw_ctl *c)
{
    if (!c)
        return;
    if (c->started) {
        pthread_mutex_lock(&c->mu);
        c->stop = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
    }
    bgp_sup_destroy(c->sup);   /* SIGTERM to BIRD, SIGKILL at the deadline: its routes go */
    c->sup = NULL;
    if (c->have_api && c->started) {
        json_t *peers = json_array(), *v, *st;
        size_t i;
        json_array_foreach(json_object_get(c->applied, "peers"), i, v)
            json_array_append_new(peers, peer_state(c, v, false));
        st = json_pack("{s:{s:s, s:I, s:I, s:s?, s:n, s:I}, s:o}", "bird", "state", "stopped", "pid", (json_int_t)0,
                       "restarts", (json_int_t)0, "router_id",
                       json_string_value(json_object_get(c->applied, "router_id")), "config_error",
                       "config_generation", (json_int_t)0, "peers", peers);
        if (st)
            report(c, st);
        json_decref(st);
    }
    json_decref(c->want_new);
    json_decref(c->applied);
    json_decref(c->refused);
    free(c->snapshot);
    free(c->status_text);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

void gw_ctl_set_config(struct gw_ctl *c, json_t *want)
{
    pthread_mutex_lock(&c->mu);
    json_decref(c->want_new);
    c->want_new = want;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void gw_ctl_set_snapshot(struct gw_ctl *c, char *json_text)
{
    pthread_mutex_lock(&c->mu);
    free(c->snapshot);
    c->snapshot = json_text;
    pthread_mutex_unlock(&c->mu);
}

char *gw_ctl_status_text(struct gw_ctl *c)
{
    char *t;

    pthread_mutex_lock(&c->mu);
    t = c->status_text ? strdup(c->status_text) : NULL;
    pthread_mutex_unlock(&c->mu);
    return t;
}
