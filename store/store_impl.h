/*
 * store/store_impl.h: the backend vtable behind store/store.h, private to
 * store/. Each backend fills one struct store_backend_ops; store.c only
 * dispatches and checks arguments.
 */
#ifndef RP_STORE_IMPL_H
#define RP_STORE_IMPL_H

#include "store/store.h"

struct store_backend_ops {
    const char *name;
    int (*open)(struct store *s, const struct store_config *cfg);
    void (*close)(struct store *s);
    int (*commit)(struct store *s, const struct store_change *changes, size_t n, bool replace_all,
                  uint64_t *rev_out);
    int (*list)(struct store *s, const char *type, store_record_cb cb, void *arg);
    int (*get)(struct store *s, const char *type, const char *id, char **doc_out, uint64_t *rev_out);
    int (*revision)(struct store *s, uint64_t *rev_out);
    int (*changes_since)(struct store *s, uint64_t since, size_t max, store_record_cb cb, void *arg,
                         bool *more);
    int (*lease_block)(struct store *s, const char *router_id, const char *addr, const char *host_id,
                       uint16_t port_from, uint16_t port_to, uint32_t ttl_s, uint16_t *first_out);
    int (*renew_block)(struct store *s, const char *router_id, const char *addr, const char *host_id,
                       uint16_t first, uint32_t ttl_s);
    int (*release_block)(struct store *s, const char *router_id, const char *addr, const char *host_id,
                         uint16_t first);
    int (*host_heartbeat)(struct store *s, const char *host_id, uint32_t ttl_s);
    int (*host_alive)(struct store *s, const char *host_id, bool *alive);
};

struct store {
    const struct store_backend_ops *ops;
    void *impl;                    /* the backend's own state */
};

/* How many changes the log keeps before older ones are trimmed (a watcher
 * further behind resyncs from a full list). */
#define STORE_LOG_KEEP 100000

/* Port blocks are 64 ports, aligned to port_from. */
#define STORE_BLOCK_PORTS 64

extern const struct store_backend_ops store_sqlite_ops;
extern const struct store_backend_ops store_zk_ops;

#endif
