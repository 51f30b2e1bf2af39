/*
 * store/store_zk.c: the ZooKeeper backend, for several API servers sharing
 * one ensemble (Debian's libzookeeper-mt, synchronous calls).
 *
 * Layout under the configured chroot C:
 *   C/rev                    empty; its znode version IS the revision
 *   C/res/<type>/<id>        "<rev>\n<doc>"
 *   C/log/<rev, 20 digits>   the batch of that revision as a JSON array
 *   C/trimmed                the highest revision whose log node is gone
 *   C/blocks/<router>/<addr>/<first>   "<host> <expires>" NAT port-block lease
 *   C/hosts/<id>             ephemeral: present while the host's session lives
 *
 * A commit is one zoo_multi: set C/rev at the version read before (so two
 * API servers committing at once cannot both win; the loser retries), create
 * the log node, and put/delete the resources. A connection lost during the
 * multi leaves the outcome unknown: the commit is then confirmed by reading
 * the log node back, and reported as failed only if it is absent.
 */
#include "store/store_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zookeeper/zookeeper.h>

#define ZK_PATH_MAX 512
#define ZK_RETRIES 20
/* ZooKeeper refuses (by closing the session) requests above jute.maxbuffer,
 * 1 MiB by default: refuse bigger batches ourselves with -E2BIG. An
 * ensemble started with a larger jute.maxbuffer takes larger batches when
 * store_config.zk_max_batch says so. */
#define ZK_MAX_BATCH (1000 * 1000)

struct zk_store {
    zhandle_t *zh;
    char root[256];
    char hosts[512];
    int timeout_ms;
    size_t max_batch;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state;
};

static struct zk_store *impl(struct store *s)
{
    return s->impl;
}

static void zk_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct zk_store *st = ctx;

    (void)zh;
    (void)path;
    if (type != ZOO_SESSION_EVENT)
        return;
    pthread_mutex_lock(&st->lock);
    st->state = state;
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->lock);
}

static int zk_errno(int rc)
{
    switch (rc) {
    case ZOK:
        return 0;
    case ZNONODE:
        return -ENOENT;
    case ZNODEEXISTS:
        return -EEXIST;
    case ZBADVERSION:
        return -EAGAIN;
    case ZCONNECTIONLOSS:
    case ZOPERATIONTIMEOUT:
    case ZSESSIONEXPIRED:
    case ZINVALIDSTATE:
        return -ECONNRESET;
    default:
        return -EIO;
    }
}

/* Wait until the session is connected (or the timeout passes). */
static int wait_connected(struct zk_store *st, int timeout_ms)
{
    struct timespec until;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&st->lock);
    while (st->state != ZOO_CONNECTED_STATE && rc == 0)
        rc = pthread_cond_timedwait(&st->cond, &st->lock, &until);
    pthread_mutex_unlock(&st->lock);
    return st->state == ZOO_CONNECTED_STATE ? 0 : -ETIMEDOUT;
}

/* A session the ensemble expired (say, during a long election) is dead for
 * good: every call on it fails. Start a new one, so the store recovers by
 * itself; ephemeral host nodes come back with the next heartbeat. */
static int zk_session_ok(struct zk_store *st)
{
    int state = zoo_state(st->zh);
    zhandle_t *zh;

    if (state != ZOO_EXPIRED_SESSION_STATE && state != ZOO_AUTH_FAILED_STATE)
        return 0;
    zh = zookeeper_init(st->hosts, zk_watcher, st->timeout_ms, NULL, st, 0);
    if (!zh)
        return -ECONNRESET;
    zookeeper_close(st->zh);
    pthread_mutex_lock(&st->lock);
    st->zh = zh;
    st->state = 0;
    pthread_mutex_unlock(&st->lock);
    return wait_connected(st, st->timeout_ms);
}

static int path_of(struct zk_store *st, char *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int path_of(struct zk_store *st, char *out, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(out, ZK_PATH_MAX, "%s", st->root);

    va_start(ap, fmt);
    n += vsnprintf(out + n, ZK_PATH_MAX - (size_t)n, fmt, ap);
    va_end(ap);
    return n < ZK_PATH_MAX ? 0 : -ENAMETOOLONG;
}

/* A path component from outside (type, id, address) must not smuggle '/'. */
static bool component_ok(const char *s)
{
    return *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..") && strlen(s) < 128;
}

/* Create every missing node along 'path' (persistent, empty). */
static int ensure_path(zhandle_t *zh, const char *path)
{
    char buf[ZK_PATH_MAX];
    size_t len = strlen(path);

    if (len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char save = *p;
            int rc;

            *p = '\0';
            rc = zoo_create(zh, buf, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
            if (rc != ZOK && rc != ZNODEEXISTS)
                return zk_errno(rc);
            *p = save;
            if (save == '\0')
                break;
        }
    }
    return 0;
}

static int zk_open(struct store *s, const struct store_config *cfg)
{
    struct zk_store *st;
    char path[ZK_PATH_MAX];
    int rc;

    if (!cfg->zk_hosts || !*cfg->zk_hosts)
        return -EINVAL;
    if (cfg->zk_chroot && (cfg->zk_chroot[0] != '/' || strlen(cfg->zk_chroot) >= 200))
        return -EINVAL;
    st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->cond, NULL);
    snprintf(st->root, sizeof(st->root), "%s", cfg->zk_chroot && strcmp(cfg->zk_chroot, "/") ? cfg->zk_chroot : "");
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    snprintf(st->hosts, sizeof(st->hosts), "%s", cfg->zk_hosts);
    st->timeout_ms = cfg->zk_timeout_ms > 0 ? cfg->zk_timeout_ms : 10000;
    st->max_batch = cfg->zk_max_batch ? cfg->zk_max_batch : ZK_MAX_BATCH;
    st->zh = zookeeper_init(cfg->zk_hosts, zk_watcher, st->timeout_ms, NULL, st, 0);
    if (!st->zh) {
        rc = -errno ? -errno : -EIO;
        goto err_free;
    }
    rc = wait_connected(st, cfg->zk_timeout_ms > 0 ? cfg->zk_timeout_ms : 10000);
    if (rc < 0)
        goto err_close;
    const char *dirs[] = {"/res", "/log", "/blocks", "/hosts"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        if ((rc = path_of(st, path, "%s", dirs[i])) < 0 || (rc = ensure_path(st->zh, path)) < 0)
            goto err_close;
    }
    if ((rc = path_of(st, path, "/rev")) < 0 || (rc = ensure_path(st->zh, path)) < 0)
        goto err_close;
    if ((rc = path_of(st, path, "/trimmed")) < 0 || (rc = ensure_path(st->zh, path)) < 0)
        goto err_close;
    s->impl = st;
    return 0;

err_close:
    zookeeper_close(st->zh);
err_free:
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->lock);
    free(st);
    return rc;
}

static void zk_close(struct store *s)
{
    struct zk_store *st = impl(s);

    if (!st)
        return;
    zookeeper_close(st->zh);
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->lock);
    free(st);
    s->impl = NULL;
}

static int read_rev(struct zk_store *st, uint64_t *rev)
{
    char path[ZK_PATH_MAX];
    struct Stat stat;
    int rc;

    path_of(st, path, "/rev");
    rc = zoo_exists(st->zh, path, 0, &stat);
    if (rc != ZOK)
        return zk_errno(rc);
    *rev = (uint64_t)stat.version;
    return 0;
}

/* Read a node into a malloc'd NUL-terminated buffer sized from the node's
 * length (zoo_get cuts data that does not fit without saying so). */
static int read_node(struct zk_store *st, const char *path, char **out, struct Stat *stat_out)
{
    struct Stat pre, local, *stat = stat_out ? stat_out : &local;
    int rc = zoo_exists(st->zh, path, 0, &pre);

    if (rc != ZOK)
        return zk_errno(rc);
    for (int tries = 0; tries < 3; tries++) {
        int len = pre.dataLength > 0 ? pre.dataLength : 0;
        char *buf = malloc((size_t)len + 1);
        if (!buf)
            return -ENOMEM;
        rc = zoo_get(st->zh, path, 0, buf, &len, stat);
        if (rc != ZOK) {
            free(buf);
            return zk_errno(rc);
        }
        if (stat->dataLength <= pre.dataLength) {
            buf[len < 0 ? 0 : len] = '\0';
            *out = buf;
            return 0;
        }
        free(buf);   /* it grew between the two calls: again, bigger */
        pre = *stat;
    }
    return -EAGAIN;
}

static json_t *batch_json(const struct store_change *changes, size_t n, json_t *deleted)
{
    json_t *arr = deleted ? deleted : json_array();

    for (size_t i = 0; arr && i < n; i++) {
        const struct store_change *c = &changes[i];
        json_t *o = json_pack("{s:s, s:s, s:s}", "op", c->op == STORE_PUT ? "put" : "del", "type",
                              c->type, "id", c->id);
        if (o && c->op == STORE_PUT)
            json_object_set_new(o, "doc", json_string(c->doc));
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* Every current resource path, for import (replace_all). */
static int list_all_paths(struct zk_store *st, json_t *paths, json_t *deleted)
{
    struct String_vector types = {0}, ids;
    char path[ZK_PATH_MAX];
    int rc;

    path_of(st, path, "/res");
    rc = zoo_get_children(st->zh, path, 0, &types);
    if (rc != ZOK)
        return zk_errno(rc);
    for (int i = 0; i < types.count && rc == ZOK; i++) {
        path_of(st, path, "/res/%s", types.data[i]);
        memset(&ids, 0, sizeof(ids));
        rc = zoo_get_children(st->zh, path, 0, &ids);
        for (int j = 0; rc == ZOK && j < ids.count; j++) {
            path_of(st, path, "/res/%s/%s", types.data[i], ids.data[j]);
            json_array_append_new(paths, json_string(path));
            json_array_append_new(deleted, json_pack("{s:s, s:s, s:s}", "op", "del", "type",
                                                     types.data[i], "id", ids.data[j]));
        }
        deallocate_String_vector(&ids);
    }
    deallocate_String_vector(&types);
    return zk_errno(rc);
}

struct zk_batch {
    zoo_op_t *ops;
    zoo_op_result_t *results;
    char (*paths)[ZK_PATH_MAX];
    char **bufs;
    size_t n_ops, n_bufs;
};

static void batch_free(struct zk_batch *b, size_t cap)
{
    for (size_t i = 0; i < b->n_bufs; i++)
        free(b->bufs[i]);
    (void)cap;
    free(b->ops);
    free(b->results);
    free(b->paths);
    free(b->bufs);
}

static bool path_in(char (*paths)[ZK_PATH_MAX], size_t n, const char *p)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(paths[i], p))
            return true;
    return false;
}

static int zk_commit_once(struct zk_store *st, const struct store_change *changes, size_t n,
                          bool replace_all, uint64_t *rev_out, bool *retry)
{
    struct zk_batch b = {0};
    json_t *batch = NULL, *old_paths = json_array(), *deleted = json_array();
    char *log_text = NULL, revpath[ZK_PATH_MAX], logpath[ZK_PATH_MAX];
    uint64_t rev = 0;
    size_t cap, n_old = 0, total = 0;
    int rc;

    *retry = false;
    if (!old_paths || !deleted) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = read_rev(st, &rev)) < 0)
        goto out;
    if (replace_all && (rc = list_all_paths(st, old_paths, deleted)) < 0)
        goto out;
    n_old = json_array_size(old_paths);
    batch = batch_json(changes, n, replace_all ? json_incref(deleted) : NULL);
    log_text = batch ? json_dumps(batch, JSON_COMPACT) : NULL;
    if (!log_text) {
        rc = -ENOMEM;
        goto out;
    }
    total = strlen(log_text) * 2;
    if (total > st->max_batch) {
        rc = -E2BIG;
        goto out;
    }
    cap = n + n_old + 2;
    b.ops = calloc(cap, sizeof(*b.ops));
    b.results = calloc(cap, sizeof(*b.results));
    b.paths = calloc(cap, sizeof(*b.paths));
    b.bufs = calloc(cap, sizeof(*b.bufs));
    if (!b.ops || !b.results || !b.paths || !b.bufs) {
        rc = -ENOMEM;
        goto out;
    }
    path_of(st, revpath, "/rev");
    zoo_set_op_init(&b.ops[b.n_ops++], revpath, "", 0, (int)rev, NULL);
    path_of(st, logpath, "/log/%020" PRIu64, rev + 1);
    zoo_create_op_init(&b.ops[b.n_ops++], logpath, log_text, (int)strlen(log_text),
                       &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    for (size_t i = 0; i < n_old; i++) {
        snprintf(b.paths[b.n_ops], ZK_PATH_MAX, "%s", json_string_value(json_array_get(old_paths, i)));
        zoo_delete_op_init(&b.ops[b.n_ops], b.paths[b.n_ops], -1);
        b.n_ops++;
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_change *c = &changes[i];
        char *p = b.paths[b.n_ops], dir[ZK_PATH_MAX];
        struct Stat stat;
        bool exists;

        if (!component_ok(c->type) || !component_ok(c->id)) {
            rc = -EINVAL;
            goto out;
        }
        path_of(st, p, "/res/%s/%s", c->type, c->id);
        path_of(st, dir, "/res/%s", c->type);
        if ((rc = ensure_path(st->zh, dir)) < 0)
            goto out;
        /* Within one batch, an earlier op of this batch decides existence. */
        if (replace_all)
            exists = path_in(b.paths + 2 + n_old, b.n_ops - 2 - n_old, p);
        else
            exists = zoo_exists(st->zh, p, 0, &stat) == ZOK || path_in(b.paths + 2, b.n_ops - 2, p);
        if (c->op == STORE_DEL) {
            if (!exists)
                continue;   /* logged, nothing to remove */
            zoo_delete_op_init(&b.ops[b.n_ops++], p, -1);
            continue;
        }
        char *data;
        if (asprintf(&data, "%" PRIu64 "\n%s", rev + 1, c->doc) < 0) {
            rc = -ENOMEM;
            goto out;
        }
        b.bufs[b.n_bufs++] = data;
        if (exists)
            zoo_set_op_init(&b.ops[b.n_ops++], p, data, (int)strlen(data), -1, NULL);
        else
            zoo_create_op_init(&b.ops[b.n_ops++], p, data, (int)strlen(data), &ZOO_OPEN_ACL_UNSAFE,
                               0, NULL, 0);
    }
    rc = zoo_multi(st->zh, (int)b.n_ops, b.ops, b.results);
    if (rc == ZOK) {
        *rev_out = rev + 1;
        rc = 0;
    } else if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT) {
        /* Unknown outcome: it committed iff our log node is there with our batch. */
        char *seen = NULL;
        rc = -ECONNRESET;
        for (int i = 0; i < ZK_RETRIES; i++) {
            int r = read_node(st, logpath, &seen, NULL);
            if (r == 0) {
                rc = strcmp(seen, log_text) ? -EAGAIN : 0;
                free(seen);
                if (rc == 0)
                    *rev_out = rev + 1;
                else
                    *retry = true;
                break;
            }
            if (r == -ENOENT) {
                *retry = true;
                break;
            }
            struct timespec ts = {0, 200 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    } else {
        /* Someone else committed first (bad version on C/rev) or a node
         * appeared/vanished under us: read again and retry. */
        *retry = rc == ZBADVERSION || rc == ZNODEEXISTS || rc == ZNONODE;
        rc = zk_errno(rc);
    }
out:
    batch_free(&b, 0);
    free(log_text);
    json_decref(batch);
    json_decref(old_paths);
    json_decref(deleted);
    return rc;
}

static int zk_commit(struct store *s, const struct store_change *changes, size_t n, bool replace_all,
                     uint64_t *rev_out)
{
    if (zk_session_ok(impl(s)) < 0)
        return -ECONNRESET;
    uint64_t rev = 0;
    bool retry = true;
    int rc = -EAGAIN;

    for (int i = 0; i < ZK_RETRIES && retry; i++) {
        rc = zk_commit_once(impl(s), changes, n, replace_all, &rev, &retry);
        if (retry && wait_connected(impl(s), 10000) < 0)
            break;
    }
    if (rc == 0 && rev_out)
        *rev_out = rev;
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int emit_node(struct zk_store *st, const char *type, const char *id, store_record_cb cb, void *arg)
{
    char path[ZK_PATH_MAX], *data = NULL, *doc;
    int rc;

    path_of(st, path, "/res/%s/%s", type, id);
    rc = read_node(st, path, &data, NULL);
    if (rc == -ENOENT)
        return 0;   /* deleted between listing and reading */
    if (rc < 0)
        return rc;
    doc = strchr(data, '\n');
    struct store_record r = {.op = STORE_PUT, .type = type, .id = id, .doc = doc ? doc + 1 : ""};
    r.rev = strtoull(data, NULL, 10);
    rc = cb(&r, arg);
    free(data);
    return rc;
}

static int list_type(struct zk_store *st, const char *type, store_record_cb cb, void *arg)
{
    struct String_vector ids = {0};
    char path[ZK_PATH_MAX];
    int rc;

    path_of(st, path, "/res/%s", type);
    rc = zoo_get_children(st->zh, path, 0, &ids);
    if (rc == ZNONODE)
        return 0;
    if (rc != ZOK)
        return zk_errno(rc);
    qsort(ids.data, (size_t)ids.count, sizeof(char *), cmp_str);
    rc = 0;
    for (int i = 0; i < ids.count && rc == 0; i++)
        rc = emit_node(st, type, ids.data[i], cb, arg);
    deallocate_String_vector(&ids);
    return rc;
}

static int zk_list(struct store *s, const char *type, store_record_cb cb, void *arg)
{
    if (zk_session_ok(impl(s)) < 0)
        return -ECONNRESET;
    struct zk_store *st = impl(s);
    struct String_vector types = {0};
    char path[ZK_PATH_MAX];
    int rc;

    if (type)
        return component_ok(type) ? list_type(st, type, cb, arg) : -EINVAL;
    path_of(st, path, "/res");
    rc = zoo_get_children(st->zh, path, 0, &types);
    if (rc != ZOK)
        return zk_errno(rc);
    qsort(types.data, (size_t)types.count, sizeof(char *), cmp_str);
    rc = 0;
    for (int i = 0; i < types.count && rc == 0; i++)
        rc = list_type(st, types.data[i], cb, arg);
    deallocate_String_vector(&types);
    return rc;
}

static int zk_get(struct store *s, const char *type, const char *id, char **doc_out, uint64_t *rev_out)
{
    if (zk_session_ok(impl(s)) < 0)
        return -ECONNRESET;
    struct zk_store *st = impl(s);
    char path[ZK_PATH_MAX], *data = NULL, *doc;
    int rc;

    if (!component_ok(type) || !component_ok(id))
        return -ENOENT;
    path_of(st, path, "/res/%s/%s", type, id);
    rc = read_node(st, path, &data, NULL);
    if (rc < 0)
        return rc;
    doc = strchr(data, '\n');
    *doc_out = strdup(doc ? doc + 1 : "");
    if (rev_out)
        *rev_out = strtoull(data, NULL, 10);
    free(data);
    return *doc_out ? 0 : -ENOMEM;
}

static int zk_revision(struct store *s, uint64_t *rev_out)
{
    if (zk_session_ok(impl(s)) < 0)
        return -ECONNRESET;
    return read_rev(impl(s), rev_out);
}

static int zk_changes_since(struct store *s, uint64_t since, size_t max, store_record_cb cb, void *arg,
                            bool *more)
{
    if (zk_session_ok(impl(s)) < 0)
        return -ECONNRESET;
    struct zk_store *st = impl(s);
    char path[ZK_PATH_MAX], *data = NULL;
    uint64_t cur = 0, trimmed = 0;
    size_t seen = 0;
    int rc;

    if ((rc = read_rev(st, &cur)) < 0)
        return rc;
    path_of(st, path, "/trimmed");
    if (read_node(st, path, &data, NULL) == 0) {
        trimmed = strtoull(data, NULL, 10);
        free(data);
    }
    if (since < trimmed)
        return -ERANGE;
    if (more)
        *more = false;
    /* Whole revisions only, so a reader resuming from the last revision it
     * saw never misses the rest of a batch. */
    for (uint64_t r = since + 1; r <= cur; r++) {
        json_t *batch, *c;
        size_t i;

        if (seen >= max) {
            if (more)
                *more = true;
            break;
        }
        path_of(st, path, "/log/%020" PRIu64, r);
        rc = read_node(st, path, &data, NULL);
        /* The log node and the revision commit in one multi, so a missing
         * node means this server answered from an older view: stop here and
         * let the caller come back, rather than skip a revision for good. */
        if (rc == -ENOENT) {
            if (more)
                *more = false;
            return 0;
        }
        if (rc < 0)
            return rc;
        batch = json_loads(data, 0, NULL);
        free(data);
        if (!json_is_array(batch)) {
            json_decref(batch);
            return -EBADMSG;
        }
        json_array_foreach(batch, i, c) {
            struct store_record rec = {
                .rev = r,
                .op = strcmp(json_string_value(json_object_get(c, "op")) ?: "", "put") ? STORE_DEL
                                                                                        : STORE_PUT,
                .type = json_string_value(json_object_get(c, "type")),
                .id = json_string_value(json_object_get(c, "id")),
                .doc = json_string_value(json_object_get(c, "doc")),
            };
            if (!rec.type || !rec.id) {
                json_decref(batch);
                return -EBADMSG;
            }
            rc = cb(&rec, arg);
            seen++;
            if (rc) {
                json_decref(batch);
                return rc;
            }
        }
        json_decref(batch);
    }
    return 0;
}

/* --- port blocks and hosts --------------------------------------------------- */

static int block_path(struct zk_store *st, char *out, const char *router, const char *addr, unsigned first)
{
    if (!component_ok(router) || !component_ok(addr))
        return -EINVAL;
    return path_of(st, out, "/blocks/%s/%s/%05u", router, addr, first);
}

static int read_lease(struct zk_store *st, const char *path, char *host, size_t host_len,
                      int64_t *expires, int *version)
{
    char *data = NULL;
    struct Stat stat;
    int rc = read_node(st, path, &data, &stat);

    if (rc < 0)
        return rc;
    char *sp = strrchr(data, ' ');
    *expires = sp ? strtoll(sp + 1, NULL, 10) : 0;
    if (sp)
        *sp = '\0';
    snprintf(host, host_len, "%s", data);
    *version = stat.version;
    free(data);
    return 0;
}

static int zk_lease_block(struct store *s, const char *router_id, const char *addr, const char *host_id,
                          uint16_t port_from, uint16_t port_to, uint32_t ttl_s, uint16_t *first_out)
{
    if (zk_session_ok(impl(s)) < 0)
        return -ECONNRESET;
    struct zk_store *st = impl(s);
    char path[ZK_PATH_MAX], dir[ZK_PATH_MAX], data[200], holder[160];
    int64_t now = (int64_t)time(NULL), expires;
    int version, rc;

    if ((rc = block_path(st, path, router_id, addr, 0)) < 0)
        return rc;
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    if ((rc = ensure_path(st->zh, dir)) < 0)
        return rc;
    snprintf(data, sizeof(data), "%s %" PRId64, host_id, now + (int64_t)ttl_s);
    for (uint32_t first = port_from; first + STORE_BLOCK_PORTS - 1 <= port_to; first += STORE_BLOCK_PORTS) {
        block_path(st, path, router_id, addr, first);
        rc = zoo_create(st->zh, path, data, (int)strlen(data), &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
        if (rc == ZOK) {
            *first_out = (uint16_t)first;
            return 0;
        }
        if (rc != ZNODEEXISTS)
            return zk_errno(rc);
        if (read_lease(st, path, holder, sizeof(holder), &expires, &version) < 0 || expires > now)
            continue;
        /* Expired: take it over, unless someone else does so first. */
        if (zoo_set(st->zh, path, data, (int)strlen(data), version) == ZOK) {
            *first_out = (uint16_t)first;
            return 0;
        }
    }
    return -EADDRNOTAVAIL;
}

static int zk_renew_block(struct store *s, const char *router_id, const char *addr, const char *host_id,
                          uint16_t first, uint32_t ttl_s)
{
    if (zk_session_ok(impl(s)) < 0)
        return -ECONNRESET;
    struct zk_store *st = impl(s);
    char path[ZK_PATH_MAX], data[200], holder[160];
    int64_t expires;
    int version, rc;

    if ((rc = block_path(st, path, router_id, addr, first)) < 0)
        return rc;
    if ((rc = read_lease(st, path, holder, sizeof(holder), &expires, &version)) < 0)
        return rc;
    if (strcmp(holder, host_id))
        return -ENOENT;
    snprintf(data, sizeof(data), "%s %" PRId64, host_id, (int64_t)time(NULL) + (int64_t)ttl_s);
    return zk_errno(zoo_set(st->zh, path, data, (int)strlen(data), version));
}

static int zk_release_block(struct store *s, const char *router_id, const char *addr, const char *host_id,
                            uint16_t first)
{
    if (zk_session_ok(impl(s)) < 0)
        return -ECONNRESET;
    struct zk_store *st = impl(s);
    char path[ZK_PATH_MAX], holder[160];
    int64_t expires;
    int version, rc;

    if ((rc = block_path(st, path, router_id, addr, first)) < 0)
        return rc;
    if ((rc = read_lease(st, path, holder, sizeof(holder), &expires, &version)) < 0)
        return rc;
    if (strcmp(holder, host_id))
        return -ENOENT;
    return zk_errno(zoo_delete(st->zh, path, version));
}

static int zk_host_heartbeat(struct store *s, const char *host_id, uint32_t ttl_s)
{
    if (zk_session_ok(impl(s)) < 0)
        return -ECONNRESET;
    struct zk_store *st = impl(s);
    char path[ZK_PATH_MAX];
    int rc;

    (void)ttl_s;   /* liveness is the session's: the node goes when it does */
    if (!component_ok(host_id))
        return -EINVAL;
    path_of(st, path, "/hosts/%s", host_id);
    rc = zoo_create(st->zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
    return rc == ZNODEEXISTS ? 0 : zk_errno(rc);
}

static int zk_host_alive(struct store *s, const char *host_id, bool *alive)
{
    if (zk_session_ok(impl(s)) < 0)
        return -ECONNRESET;
    struct zk_store *st = impl(s);
    char path[ZK_PATH_MAX];
    struct Stat stat;
    int rc;

    *alive = false;
    if (!component_ok(host_id))
        return 0;
    path_of(st, path, "/hosts/%s", host_id);
    rc = zoo_exists(st->zh, path, 0, &stat);
    *alive = rc == ZOK;
    return rc == ZOK || rc == ZNONODE ? 0 : zk_errno(rc);
}

const struct store_backend_ops store_zk_ops = {
    .name = "zookeeper",
    .open = zk_open,
    .close = zk_close,
    .commit = zk_commit,
    .list = zk_list,
    .get = zk_get,
    .revision = zk_revision,
    .changes_since = zk_changes_since,
    .lease_block = zk_lease_block,
    .renew_block = zk_renew_block,
    .release_block = zk_release_block,
    .host_heartbeat = zk_host_heartbeat,
    .host_alive = zk_host_alive,
};
