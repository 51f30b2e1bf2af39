/*
 * store/store.h: where the virtual topology lives durably.
 *
 * One interface, two backends: an embedded SQLite database (WAL, durable
 * commits; the default, nothing to set up) and a ZooKeeper ensemble (for
 * several API servers sharing one cluster). The store keeps every resource
 * of the API model as its JSON document, keyed by (type, id), and a change
 * log: every committed batch gets the next revision number, and the changes
 * since any revision can be read back in order (the API's watch stream
 * resumes from there). A batch of many changes commits atomically or not at
 * all. It also hands out NAT port-block leases (no two hosts ever hold the
 * same block) and records host liveness.
 *
 * The store does not validate resources: the API validates against its
 * in-memory topology (sim/) before it writes. Documents are opaque text here.
 *
 * Not thread-safe: one struct store per thread (the API server uses one).
 */
#ifndef RP_STORE_H
#define RP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

enum store_backend { STORE_SQLITE, STORE_ZOOKEEPER };

struct store_config {
    enum store_backend backend;
    const char *sqlite_path;       /* SQLite: database file */
    const char *zk_hosts;          /* ZooKeeper: "127.0.0.1:2181,127.0.0.1:2182" */
    const char *zk_chroot;         /* ZooKeeper: e.g. "/rampart" (created if missing) */
    int zk_timeout_ms;             /* session timeout, default 10000 */
    size_t zk_max_batch;           /* bytes one commit may carry; 0: 1,000,000. Larger values
                                    * need the ensemble's jute.maxbuffer raised and are not yet
                                    * known to work (docs/api.md): the API does not set it. */
};

enum store_op { STORE_PUT, STORE_DEL };

/* One change of a batch. For STORE_DEL, doc is NULL. */
struct store_change {
    enum store_op op;
    const char *type;              /* "ports", "routers", ... */
    const char *id;                /* UUID string */
    const char *doc;               /* the JSON document (STORE_PUT) */
};

/* A change read back from the log, or a resource read from the store.
 * Strings are owned by the store and valid until the callback returns. */
struct store_record {
    uint64_t rev;
    enum store_op op;
    const char *type, *id, *doc;
};

typedef int (*store_record_cb)(const struct store_record *rec, void *arg);

int store_open(struct store **out, const struct store_config *cfg);
void store_close(struct store *s);   /* accepts NULL */
const char *store_backend_name(const struct store *s);

/* Commit a batch atomically; *rev_out gets its revision. 0 or -errno
 * (-EIO backend failure, -ECONNRESET lost the ensemble before the commit was
 * acknowledged: the caller must not report success). */
int store_commit(struct store *s, const struct store_change *changes, size_t n, uint64_t *rev_out);

/* Every resource (type NULL) or every resource of one type, in (type, id)
 * order. A callback returning non-zero stops the walk and is returned. */
int store_list(struct store *s, const char *type, store_record_cb cb, void *arg);
/* One resource: 0 and a malloc'd copy in *doc_out, or -ENOENT. */
int store_get(struct store *s, const char *type, const char *id, char **doc_out, uint64_t *rev_out);
/* Replace everything (import) atomically: all current resources deleted and
 * the given ones put, in one revision. */
int store_replace_all(struct store *s, const struct store_change *puts, size_t n, uint64_t *rev_out);

/* The current revision, and the changes after 'since' in order (at most
 * 'max'; *more set when more remain). -ERANGE when 'since' is older than the
 * kept log (the caller must resync from a full list). */
int store_revision(struct store *s, uint64_t *rev_out);
int store_changes_since(struct store *s, uint64_t since, size_t max, store_record_cb cb, void *arg,
                        bool *more);

/* NAT port blocks: a block of 64 ports [first, first+63] of (router, addr)
 * leased to one host until 'expires' (unix seconds). Lease: 0 and the block,
 * or -EADDRNOTAVAIL when every block of [port_from, port_to] is held by some
 * live lease. Renew extends a lease this host holds (-ENOENT otherwise).
 * Release frees it. Expired leases of other hosts may be taken over. */
int store_lease_block(struct store *s, const char *router_id, const char *addr, const char *host_id,
                      uint16_t port_from, uint16_t port_to, uint32_t ttl_s, uint16_t *first_out);
int store_renew_block(struct store *s, const char *router_id, const char *addr, const char *host_id,
                      uint16_t first, uint32_t ttl_s);
int store_release_block(struct store *s, const char *router_id, const char *addr, const char *host_id,
                        uint16_t first);

/* Host liveness: a heartbeat keeps a host alive for ttl seconds (SQLite), or
 * an ephemeral node tied to this store's session (ZooKeeper). */
int store_host_heartbeat(struct store *s, const char *host_id, uint32_t ttl_s);
int store_host_alive(struct store *s, const char *host_id, bool *alive);

#endif
