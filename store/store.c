/*
 * store/store.c: argument checks and dispatch to the backend.
 */
#include "store/store_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int store_open(struct store **out, const struct store_config *cfg)
{
    struct store *s;
    int rc;

    if (!out || !cfg)
        return -EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    switch (cfg->backend) {
    case STORE_SQLITE:
        s->ops = &store_sqlite_ops;
        break;
    case STORE_ZOOKEEPER:
        s->ops = &store_zk_ops;
        break;
    default:
        rc = -EINVAL;
        goto err_free;
    }
    rc = s->ops->open(s, cfg);
    if (rc < 0)
        goto err_free;
    *out = s;
    return 0;

err_free:
    free(s);
    return rc;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    s->ops->close(s);
    free(s);
}

const char *store_backend_name(const struct store *s)
{
    return s->ops->name;
}

static bool change_ok(const struct store_change *c)
{
    if (!c->type || !c->id || !*c->type || !*c->id)
        return false;
    return c->op == STORE_DEL || (c->op == STORE_PUT && c->doc);
}

int store_commit(struct store *s, const struct store_change *changes, size_t n, uint64_t *rev_out)
{
    if (n == 0 || !changes)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!change_ok(&changes[i]))
            return -EINVAL;
    return s->ops->commit(s, changes, n, false, rev_out);
}

int store_replace_all(struct store *s, const struct store_change *puts, size_t n, uint64_t *rev_out)
{
    for (size_t i = 0; i < n; i++)
        if (!change_ok(&puts[i]) || puts[i].op != STORE_PUT)
            return -EINVAL;
    return s->ops->commit(s, puts, n, true, rev_out);
}

int store_list(struct store *s, const char *type, store_record_cb cb, void *arg)
{
    return s->ops->list(s, type, cb, arg);
}

int store_get(struct store *s, const char *type, const char *id, char **doc_out, uint64_t *rev_out)
{
    if (!type || !id || !doc_out)
        return -EINVAL;
    return s->ops->get(s, type, id, doc_out, rev_out);
}

int store_revision(struct store *s, uint64_t *rev_out)
{
    return s->ops->revision(s, rev_out);
}

int store_changes_since(struct store *s, uint64_t since, size_t max, store_record_cb cb, void *arg,
                        bool *more)
{
    if (max == 0 || !cb)
        return -EINVAL;
    return s->ops->changes_since(s, since, max, cb, arg, more);
}

static bool block_args_ok(const char *router_id, const char *addr, const char *host_id)
{
    return router_id && addr && host_id && *router_id && *addr && *host_id;
}

int store_lease_block(struct store *s, const char *router_id, const char *addr, const char *host_id,
                      uint16_t port_from, uint16_t port_to, uint32_t ttl_s, uint16_t *first_out)
{
    if (!block_args_ok(router_id, addr, host_id) || port_from > port_to || ttl_s == 0 || !first_out)
        return -EINVAL;
    return s->ops->lease_block(s, router_id, addr, host_id, port_from, port_to, ttl_s, first_out);
}

int store_renew_block(struct store *s, const char *router_id, const char *addr, const char *host_id,
                      uint16_t first, uint32_t ttl_s)
{
    if (!block_args_ok(router_id, addr, host_id) || ttl_s == 0)
        return -EINVAL;
    return s->ops->renew_block(s, router_id, addr, host_id, first, ttl_s);
}

int store_release_block(struct store *s, const char *router_id, const char *addr, const char *host_id,
                        uint16_t first)
{
    if (!block_args_ok(router_id, addr, host_id))
        return -EINVAL;
    return s->ops->release_block(s, router_id, addr, host_id, first);
}

int store_host_heartbeat(struct store *s, const char *host_id, uint32_t ttl_s)
{
    if (!host_id || !*host_id || ttl_s == 0)
        return -EINVAL;
    return s->ops->host_heartbeat(s, host_id, ttl_s);
}

int store_host_alive(struct store *s, const char *host_id, bool *alive)
{
    if (!host_id || !alive)
        return -EINVAL;
    return s->ops->host_alive(s, host_id, alive);
}
