/*
 * agent/agent_lease.c: SNAT port blocks leased through the API.
 *
 * nat/ asks its block allocator for a block of NAT_BLOCK_PORTS public ports
 * of (zone, address) while it simulates a flow's first packet, on the
 * forwarding thread, which must never wait for the network. So the
 * allocator keeps a small reserve of blocks per (zone, address, range),
 * leased ahead by a thread of its own through POST /v1/leases:
 *
 *   - lease(): take a reserve block (it becomes "held", nat/ uses it). No
 *     reserve (the first demand for a new (zone, address), or the API away):
 *     -EADDRNOTAVAIL, so the flow's first packet is dropped as "snat ports
 *     exhausted" and TCP's retry finds the reserve filled; the miss asks
 *     the thread to lease.
 *   - release(): nat/ gives a block back; the thread releases it.
 *   - the thread renews every leased block (reserve and held) each third
 *     of its lease, drops reserve blocks it could not keep, and lets the
 *     reserve of a (zone, address, range) nobody asked for in a while go.
 *
 * The two threads share one table under a mutex that the lease thread
 * never holds across a request: the forwarding thread waits at most for a
 * table scan. The zone is a device's NAT zone; the API wants that router's
 * id, which the forwarding thread looks up in its topology on a miss.
 */
#include "agent/agent_impl.h"
#include "lib/http_client.h"
#include "lib/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEASE_MAX_POOLS 256             /* (zone, address, range) triples */
#define LEASE_MAX_BLOCKS 4096           /* blocks held or reserved, over all pools */
#define LEASE_RESERVE_MAX 8
#define LEASE_RESERVE_DEFAULT 2
#define LEASE_DEFAULT_TTL_S 60          /* when the API does not say */
#define LEASE_MIN_LIFE_NS (10 * NS)     /* a reserve block closer to expiry is not handed out */
#define LEASE_IDLE_NS (300 * NS)        /* a reserve nobody drew from this long is released */
#define LEASE_EXHAUSTED_RETRY_NS (5 * NS)
#define LEASE_ERROR_RETRY_NS (1 * NS)
#define NS 1000000000ull

enum block_state {
    B_FREE = 0,
    B_LEASING,          /* a slot kept for a lease request in flight */
    B_RESERVE,          /* leased, not yet given to nat/ */
    B_HELD,             /* given to nat/ */
    B_RELEASE,          /* nat/ gave it back (or its reserve went idle): to release */
};

struct lease_block {
    uint8_t state;                      /* enum block_state */
    bool lost;                          /* the API no longer has it for us: never renewed */
    bool lapsed_noted;
    uint16_t pool;
    uint16_t first;
    uint64_t renew_at_ns, expires_ns;   /* on the agent's clock */
};

struct lease_pool {
    bool used;
    uint64_t zone;
    rp_be32 addr;
    uint16_t port_from, port_to;
    char router[37], addr_s[16];
    uint16_t res[LEASE_RESERVE_MAX];    /* reserve block indices, oldest first */
    unsigned n_res, n_leasing, n_blocks; /* n_blocks: every non-free block of this pool */
    uint64_t last_demand_ns, retry_at_ns;
    bool missed;                        /* lease() found no reserve since the last fill */
    bool recovered;                     /* ... and a block came since: re-simulate its flows */
};

struct agent_lease {
    struct agent_lease_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_bool recovered_any;
    bool kicked;                        /* work for the thread since it last looked (under mu) */
    struct lease_pool pools[LEASE_MAX_POOLS];
    struct lease_block blocks[LEASE_MAX_BLOCKS];
    struct agent_lease_stats st;
};

/* --- the forwarding thread's side ---------------------------------------------------------- */

static uint64_t now_ns(const struct agent_lease *l)
{
    return l->cfg.clock_ns ? l->cfg.clock_ns() : agent_clock_ns();
}

static struct lease_pool *pool_find(struct agent_lease *l, uint64_t zone, rp_be32 addr, uint16_t from, uint16_t to)
{
    for (unsigned i = 0; i < LEASE_MAX_POOLS; i++) {
        struct lease_pool *p = &l->pools[i];
        if (p->used && p->zone == zone && p->addr == addr && p->port_from == from && p->port_to == to)
            return p;
    }
    return NULL;
}

static struct lease_pool *pool_new(struct agent_lease *l, uint64_t zone, rp_be32 addr, uint16_t from, uint16_t to)
{
    char router[37];
    struct in_addr a = {.s_addr = addr};

    if (!l->cfg.zone_device || l->cfg.zone_device(l->cfg.zone_ctx, zone, router) < 0) {
        l->st.unknown_zone++;
        return NULL;
    }
    for (unsigned i = 0; i < LEASE_MAX_POOLS; i++) {
        struct lease_pool *p = &l->pools[i];
        if (p->used)
            continue;
        memset(p, 0, sizeof(*p));
        p->used = true;
        p->zone = zone;
        p->addr = addr;
        p->port_from = from;
        p->port_to = to;
        memcpy(p->router, router, sizeof(p->router));
        inet_ntop(AF_INET, &a, p->addr_s, sizeof(p->addr_s));
        return p;
    }
    l->st.table_full++;
    return NULL;
}

/* Under mu. The flag keeps a wake-up that comes while the thread is busy
 * (not waiting) from being lost. */
static void kick(struct agent_lease *l)
{
    l->kicked = true;
    pthread_cond_signal(&l->cv);
}

static int op_lease(void *ctx, uint64_t zone, rp_be32 addr, uint16_t port_from, uint16_t port_to,
                    uint16_t *block_first_port)
{
    struct agent_lease *l = ctx;
    uint64_t now = now_ns(l);
    struct lease_pool *p;
    int rc = -EADDRNOTAVAIL;

    pthread_mutex_lock(&l->mu);
    p = pool_find(l, zone, addr, port_from, port_to);
    if (!p)
        p = pool_new(l, zone, addr, port_from, port_to);
    if (p) {
        p->last_demand_ns = now;
        /* Oldest first; one too close to expiry (the API unreachable for a
         * while) may already be another host's, so it is skipped. */
        while (p->n_res) {
            struct lease_block *b = &l->blocks[p->res[0]];
            p->n_res--;
            memmove(p->res, p->res + 1, p->n_res * sizeof(p->res[0]));
            if (b->expires_ns > now + LEASE_MIN_LIFE_NS && !b->lost) {
                b->state = B_HELD;
                *block_first_port = b->first;
                l->st.handed_out++;
                rc = 0;
                break;
            }
            b->state = B_RELEASE;
        }
        if (rc < 0) {
            l->st.misses++;
            p->missed = true;
        }
        /* A miss, or one reserve block fewer: either way the thread tops up. */
        kick(l);
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static void op_release(void *ctx, uint64_t zone, rp_be32 addr, uint16_t block_first_port)
{
    struct agent_lease *l = ctx;

    pthread_mutex_lock(&l->mu);
    for (unsigned i = 0; i < LEASE_MAX_BLOCKS; i++) {
        struct lease_block *b = &l->blocks[i];
        const struct lease_pool *p = &l->pools[b->pool];
        if (b->state != B_HELD || b->first != block_first_port || p->zone != zone || p->addr != addr)
            continue;
        b->state = B_RELEASE;
        kick(l);
        break;
    }
    pthread_mutex_unlock(&l->mu);
}

const struct nat_block_allocator_ops agent_lease_ops = {
    .lease = op_lease,
    .release = op_release,
};

/* --- the lease thread's side ---------------------------------------------------------------------- */

/* The forwarding thread may note a demand after the lease thread read its
 * clock: "now" can be a little before last_demand_ns. */
static bool pool_idle(const struct lease_pool *p, uint64_t now)
{
    return now > p->last_demand_ns && now - p->last_demand_ns > LEASE_IDLE_NS;
}

enum work_kind { W_NONE, W_LEASE, W_RENEW, W_RELEASE };

/* One request to make, copied out of the table so that no lock is held
 * while it is on the wire. */
struct work {
    enum work_kind kind;
    unsigned pool, block;
    char router[37], addr[16];
    uint16_t port_from, port_to, first;
};

static void block_free(struct agent_lease *l, struct lease_block *b)
{
    struct lease_pool *p = &l->pools[b->pool];

    memset(b, 0, sizeof(*b));
    if (p->n_blocks)
        p->n_blocks--;
}

static int block_alloc(struct agent_lease *l, unsigned pool)
{
    for (unsigned i = 0; i < LEASE_MAX_BLOCKS; i++)
        if (l->blocks[i].state == B_FREE) {
            memset(&l->blocks[i], 0, sizeof(l->blocks[i]));
            l->blocks[i].state = B_LEASING;
            l->blocks[i].pool = (uint16_t)pool;
            l->pools[pool].n_blocks++;
            return (int)i;
        }
    return -1;
}

static void fill_work(struct work *w, enum work_kind kind, const struct lease_pool *p, unsigned pool, unsigned block,
                      uint16_t first)
{
    w->kind = kind;
    w->pool = pool;
    w->block = block;
    memcpy(w->router, p->router, sizeof(w->router));
    memcpy(w->addr, p->addr_s, sizeof(w->addr));
    w->port_from = p->port_from;
    w->port_to = p->port_to;
    w->first = first;
}

/* The most urgent request, under the lock: releases first (they free
 * ports for everyone), then reserves to fill (a flow is waiting), then
 * renewals that are due. Also ages idle reserves and forgets empty pools.
 * *next_ns: when something becomes due (for the thread's sleep). */
static bool pick(struct agent_lease *l, uint64_t now, struct work *w, uint64_t *next_ns)
{
    unsigned target = l->cfg.reserve;

    *next_ns = now + NS;
    for (unsigned i = 0; i < LEASE_MAX_POOLS; i++) {
        struct lease_pool *p = &l->pools[i];
        if (!p->used || !pool_idle(p, now))
            continue;
        /* Nobody drew from this reserve for a while: give it back, and
         * forget the pool once nothing of it is left. */
        for (unsigned k = 0; k < p->n_res; k++)
            l->blocks[p->res[k]].state = B_RELEASE;
        p->n_res = 0;
        if (!p->n_blocks)
            p->used = false;
    }
    for (unsigned i = 0; i < LEASE_MAX_BLOCKS; i++) {
        struct lease_block *b = &l->blocks[i];
        if (b->state == B_RELEASE) {
            if (b->lost) {   /* nothing to give back */
                block_free(l, b);
                continue;
            }
            fill_work(w, W_RELEASE, &l->pools[b->pool], b->pool, i, b->first);
            return true;
        }
    }
    for (unsigned i = 0; i < LEASE_MAX_POOLS; i++) {
        struct lease_pool *p = &l->pools[i];
        if (!p->used || pool_idle(p, now) || p->n_res + p->n_leasing >= target)
            continue;
        if (now < p->retry_at_ns) {
            if (p->retry_at_ns < *next_ns)
                *next_ns = p->retry_at_ns;
            continue;
        }
        int bi = block_alloc(l, i);
        if (bi < 0) {
            l->st.table_full++;
            p->retry_at_ns = now + LEASE_EXHAUSTED_RETRY_NS;
            continue;
        }
        p->n_leasing++;
        fill_work(w, W_LEASE, p, i, (unsigned)bi, 0);
        return true;
    }
    for (unsigned i = 0; i < LEASE_MAX_BLOCKS; i++) {
        struct lease_block *b = &l->blocks[i];
        if ((b->state != B_RESERVE && b->state != B_HELD) || b->lost)
            continue;
        if (now >= b->expires_ns && !b->lapsed_noted) {
            /* The API was out of reach for a whole lease: the store may give
             * these ports to another host while nat/ still uses them. */
            b->lapsed_noted = true;
            l->st.lapsed++;
            log_msg(LOGL_WARN, "snat lease of %s ports %u-%u lapsed before it could be renewed",
                    l->pools[b->pool].addr_s, b->first, b->first + NAT_BLOCK_PORTS - 1);
        }
        if (now >= b->renew_at_ns) {
            fill_work(w, W_RENEW, &l->pools[b->pool], b->pool, i, b->first);
            return true;
        }
        if (b->renew_at_ns < *next_ns)
            *next_ns = b->renew_at_ns;
    }
    return false;
}

/* Record what the API answered, under the lock. 'sent' is when the request
 * left: a lease runs from then, at the latest. */
static void apply(struct agent_lease *l, const struct work *w, int rc, uint16_t first, uint32_t ttl_s, uint64_t sent)
{
    struct lease_pool *p = &l->pools[w->pool];
    struct lease_block *b = &l->blocks[w->block];
    uint64_t now = now_ns(l);
    uint64_t ttl_ns = (uint64_t)(ttl_s ? ttl_s : LEASE_DEFAULT_TTL_S) * NS;

    switch (w->kind) {
    case W_LEASE:
        p->n_leasing--;
        if (rc < 0) {
            block_free(l, b);
            if (rc == -EADDRNOTAVAIL)
                l->st.exhausted++;
            else
                l->st.api_errors++;
            p->retry_at_ns = now + (rc == -EADDRNOTAVAIL ? LEASE_EXHAUSTED_RETRY_NS : LEASE_ERROR_RETRY_NS);
            break;
        }
        l->st.leased++;
        log_msg(LOGL_DEBUG, "snat lease: %s ports %u-%u leased", p->addr_s, first, first + NAT_BLOCK_PORTS - 1);
        if (p->missed) {
            p->missed = false;
            p->recovered = true;
            atomic_store(&l->recovered_any, true);
        }
        b->first = first;
        b->expires_ns = sent + ttl_ns;
        b->renew_at_ns = sent + ttl_ns / 3;
        if (p->n_res < LEASE_RESERVE_MAX) {
            b->state = B_RESERVE;
            p->res[p->n_res++] = (uint16_t)w->block;
        } else {
            b->state = B_RELEASE;
        }
        break;
    case W_RENEW:
        if (rc == -ENOENT) {
            /* Not ours any more (expired and taken, or the router is gone). */
            l->st.lost++;
            b->lost = true;
            if (b->state == B_RESERVE) {
                for (unsigned k = 0; k < p->n_res; k++)
                    if (p->res[k] == w->block) {
                        p->n_res--;
                        memmove(p->res + k, p->res + k + 1, (p->n_res - k) * sizeof(p->res[0]));
                        break;
                    }
                block_free(l, b);
            } else if (b->state == B_HELD) {
                log_msg(LOGL_ERR, "snat ports %s %u-%u: the API no longer holds this block for us",
                        p->addr_s, b->first, b->first + NAT_BLOCK_PORTS - 1);
            }
            break;
        }
        if (rc < 0) {
            l->st.api_errors++;
            b->renew_at_ns = now + LEASE_ERROR_RETRY_NS;
            break;
        }
        l->st.renewed++;
        b->expires_ns = sent + ttl_ns;
        b->renew_at_ns = sent + ttl_ns / 3;
        b->lapsed_noted = false;
        break;
    case W_RELEASE:
        /* Done, or the API has no such lease: either way not ours. Another
         * failure retries until the lease would have run out anyway. */
        if (rc < 0 && rc != -ENOENT && now < b->expires_ns) {
            l->st.api_errors++;
            break;
        }
        l->st.released += rc == 0;
        block_free(l, b);
        break;
    default:
        break;
    }
}

static int do_request(struct agent_lease *l, const struct work *w, uint16_t *first, uint32_t *ttl_s)
{
    const struct agent_lease_transport *t = &l->cfg.tr;

    switch (w->kind) {
    case W_LEASE:
        return t->lease(t->ctx, w->router, w->addr, w->port_from, w->port_to, first, ttl_s);
    case W_RENEW:
        return t->renew(t->ctx, w->router, w->addr, w->first, ttl_s);
    case W_RELEASE:
        return t->release(t->ctx, w->router, w->addr, w->first);
    default:
        return -EINVAL;
    }
}

unsigned agent_lease_work(struct agent_lease *l, uint64_t *next_ns)
{
    unsigned done = 0;
    uint64_t next = 0;

    /* Bounded: each pass either makes a request or finds nothing due. */
    for (unsigned n = 0; n < 4 * LEASE_MAX_BLOCKS && !atomic_load(&l->stop); n++) {
        struct work w = {0};
        uint16_t first = 0;
        uint32_t ttl_s = 0;
        uint64_t sent = now_ns(l);
        bool have;
        int rc;

        pthread_mutex_lock(&l->mu);
        l->kicked = false;   /* what was asked for is seen by this pick */
        have = pick(l, sent, &w, &next);
        pthread_mutex_unlock(&l->mu);
        if (!have)
            break;
        rc = do_request(l, &w, &first, &ttl_s);
        pthread_mutex_lock(&l->mu);
        apply(l, &w, rc, first, ttl_s, sent);
        pthread_mutex_unlock(&l->mu);
        done++;
    }
    if (next_ns)
        *next_ns = next;
    return done;
}

static void *lease_thread(void *arg)
{
    struct agent_lease *l = arg;

    while (!atomic_load(&l->stop)) {
        uint64_t next = 0, now;
        struct timespec ts;

        agent_lease_work(l, &next);
        now = now_ns(l);
        if (next <= now)
            next = now + NS / 10;   /* something became due while working: a short pause, then again */
        if (next > now + NS)
            next = now + NS;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t until = (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec + (next - now);
        ts.tv_sec = (time_t)(until / NS);
        ts.tv_nsec = (long)(until % NS);
        pthread_mutex_lock(&l->mu);
        if (!atomic_load(&l->stop) && !l->kicked)
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        pthread_mutex_unlock(&l->mu);
    }
    return NULL;
}

int agent_lease_create(struct agent_lease **out, const struct agent_lease_config *cfg)
{
    struct agent_lease *l;
    pthread_condattr_t ca;

    if (!out || !cfg || !cfg->tr.lease || !cfg->tr.renew || !cfg->tr.release || !cfg->zone_device)
        return -EINVAL;
    l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->cfg = *cfg;
    if (!l->cfg.reserve)
        l->cfg.reserve = LEASE_RESERVE_DEFAULT;
    if (l->cfg.reserve > LEASE_RESERVE_MAX)
        l->cfg.reserve = LEASE_RESERVE_MAX;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (cfg->start_thread) {
        /* The thread takes no signals: the agent reads them from a
         * signalfd on the forwarding thread, and may block them only after
         * this thread exists. */
        sigset_t all, old;
        int prc;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        prc = pthread_create(&l->thread, NULL, lease_thread, l);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (prc != 0) {
            pthread_cond_destroy(&l->cv);
            pthread_mutex_destroy(&l->mu);
            free(l);
            return -EAGAIN;
        }
        l->started = true;
    }
    *out = l;
    return 0;
}

unsigned agent_lease_take_recovered(struct agent_lease *l, uint64_t *zones, unsigned max)
{
    unsigned n = 0;

    if (!atomic_exchange(&l->recovered_any, false))
        return 0;
    pthread_mutex_lock(&l->mu);
    for (unsigned i = 0; i < LEASE_MAX_POOLS; i++) {
        struct lease_pool *p = &l->pools[i];
        if (!p->used || !p->recovered)
            continue;
        if (n == max) {   /* the rest next time */
            atomic_store(&l->recovered_any, true);
            break;
        }
        p->recovered = false;
        zones[n++] = p->zone;
    }
    pthread_mutex_unlock(&l->mu);
    return n;
}

void agent_lease_get_stats(struct agent_lease *l, struct agent_lease_stats *out)
{
    pthread_mutex_lock(&l->mu);
    *out = l->st;
    out->reserve = out->held = 0;
    for (unsigned i = 0; i < LEASE_MAX_BLOCKS; i++) {
        out->reserve += l->blocks[i].state == B_RESERVE;
        out->held += l->blocks[i].state == B_HELD;
    }
    pthread_mutex_unlock(&l->mu);
}

void agent_lease_destroy(struct agent_lease *l)
{
    uint64_t deadline;

    if (!l)
        return;
    atomic_store(&l->stop, true);
    if (l->started) {
        pthread_mutex_lock(&l->mu);
        kick(l);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);   /* at most one request's timeout */
    }
    /* Give back what is still leased, so the ports are free at once rather
     * than when the leases run out; bounded, since the API may be away. */
    deadline = now_ns(l) + 3 * NS;
    for (unsigned i = 0; i < LEASE_MAX_BLOCKS && now_ns(l) < deadline; i++) {
        struct lease_block *b = &l->blocks[i];
        struct work w = {0};
        if (b->state == B_FREE || b->state == B_LEASING || b->lost)
            continue;
        fill_work(&w, W_RELEASE, &l->pools[b->pool], b->pool, i, b->first);
        if (do_request(l, &w, NULL, NULL) == 0)
            l->st.released++;
    }
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* --- the agent's glue: the API over HTTP, zones from the topology --------------------------------- */

struct lease_http {
    struct http_conn conn;
    char host[64];                      /* this host's name or id, as the API accepts either */
};

static void put_ident(json_t *o, const struct lease_http *h, const char *router, const char *addr)
{
    json_object_set_new(o, "router", json_string(router));
    json_object_set_new(o, "address", json_string(addr));
    json_object_set_new(o, "host", json_string(h->host));
}

/* POST a body; 0 and the reply (any status), or -EIO when the API was not
 * reached. */
static int post(const struct lease_http *h, const char *path, json_t *body, struct http_reply *r)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int rc;

    json_decref(body);
    if (!text)
        return -ENOMEM;
    rc = http_request(&h->conn, "POST", path, text, r);
    free(text);
    if (rc < 0) {
        log_msg(LOGL_DEBUG, "snat lease: %s: %s", path, r->error);
        http_reply_free(r);
        return -EIO;
    }
    return 0;
}

static uint32_t ttl_of(const json_t *j)
{
    json_int_t t = json_integer_value(json_object_get(j, "ttl_s"));
    json_int_t e = json_integer_value(json_object_get(j, "expires"));

    if (t > 0 && t < 86400)
        return (uint32_t)t;
    if (e > (json_int_t)time(NULL))
        return (uint32_t)(e - (json_int_t)time(NULL));
    return LEASE_DEFAULT_TTL_S;
}

static int status_rc(const struct http_reply *r, const char *what)
{
    if (r->status == 409)
        return -EADDRNOTAVAIL;
    if (r->status == 404 || r->status == 400) {
        if (r->status == 400)
            log_msg(LOGL_WARN, "snat lease: %s refused: %.200s", what, r->body ? r->body : "");
        return -ENOENT;
    }
    log_msg(LOGL_WARN, "snat lease: %s: HTTP %d", what, r->status);
    return -EIO;
}

static int http_lease(void *ctx, const char *router, const char *addr, uint16_t from, uint16_t to, uint16_t *first,
                      uint32_t *ttl_s)
{
    const struct lease_http *h = ctx;
    json_t *b = json_object(), *j;
    struct http_reply r;
    int rc;

    if (!b)
        return -ENOMEM;
    put_ident(b, h, router, addr);
    json_object_set_new(b, "port_from", json_integer(from));
    json_object_set_new(b, "port_to", json_integer(to));
    if ((rc = post(h, "/v1/leases", b, &r)) < 0)
        return rc;
    if (r.status == 200 && (j = json_loads(r.body, 0, NULL))) {
        json_int_t f = json_integer_value(json_object_get(j, "block_first_port"));
        *first = (uint16_t)f;
        *ttl_s = ttl_of(j);
        rc = f >= 0 && f <= 65535 && json_is_integer(json_object_get(j, "block_first_port")) ? 0 : -EIO;
        json_decref(j);
    } else {
        rc = r.status == 200 ? -EIO : status_rc(&r, "lease");
        if (rc == -ENOENT)
            rc = -EINVAL;
    }
    http_reply_free(&r);
    return rc;
}

/* renew and release: the same body, about one held block. */
static int block_post(const struct lease_http *h, const char *path, const char *router, const char *addr,
                      uint16_t first, struct http_reply *r)
{
    json_t *b = json_object();

    if (!b)
        return -ENOMEM;
    put_ident(b, h, router, addr);
    json_object_set_new(b, "block_first_port", json_integer(first));
    return post(h, path, b, r);
}

static int http_renew(void *ctx, const char *router, const char *addr, uint16_t first, uint32_t *ttl_s)
{
    struct http_reply r;
    json_t *j;
    int rc = block_post(ctx, "/v1/leases/renew", router, addr, first, &r);

    if (rc < 0)
        return rc;
    if (r.status == 200) {
        j = json_loads(r.body, 0, NULL);
        *ttl_s = ttl_of(j);
        json_decref(j);
        rc = 0;
    } else {
        rc = status_rc(&r, "renew");
    }
    http_reply_free(&r);
    return rc;
}

static int http_release(void *ctx, const char *router, const char *addr, uint16_t first)
{
    struct http_reply r;
    int rc = block_post(ctx, "/v1/leases/release", router, addr, first, &r);

    if (rc < 0)
        return rc;
    rc = r.status == 204 || r.status == 200 ? 0 : status_rc(&r, "release");
    http_reply_free(&r);
    return rc;
}

/* A flow whose first packet found no reserve was cached as a drop ("snat
 * ports exhausted"), and its retries would keep hitting that drop. Once
 * blocks for its zone have come, the flows through that device are
 * simulated again. Rare: a new (zone, address), or the reserve run dry. */
void agent_lease_poll(struct agent *a)
{
    uint64_t zones[64];
    unsigned n;

    if (!a->lease)
        return;
    n = agent_lease_take_recovered(a->lease, zones, 64);
    for (unsigned i = 0; i < n; i++) {
        struct sim_id id;
        if (sim_topo_device_by_zone(a->topo, zones[i], NULL, &id) == 0)
            dp_flow_invalidate_tag(a->flows, sim_tag(SIM_TAG_DEVICE, &id, 0));
    }
    agent_unpark(a, n > 0);
}

/* On the forwarding thread (from op_lease): the topology is its own. */
static int zone_router(void *ctx, uint64_t zone, char out[37])
{
    const struct agent *a = ctx;
    struct sim_id id;

    if (!a->topo || sim_topo_device_by_zone(a->topo, zone, NULL, &id) < 0)
        return -ENOENT;
    sim_id_format(&id, out);
    return 0;
}

int agent_lease_start(struct agent *a, struct nat_config *nc, char *err, size_t errlen)
{
    struct agent_lease_config c = {0};
    struct lease_http *h = calloc(1, sizeof(*h));
    int rc;

    if (!h)
        return -ENOMEM;
    if ((rc = agent_api_conn(&a->cfg, 5000, &h->conn, err, errlen)) < 0)
        goto fail;
    snprintf(h->host, sizeof(h->host), "%s", a->cfg.host);
    c.tr = (struct agent_lease_transport){http_lease, http_renew, http_release, h};
    c.zone_device = zone_router;
    c.zone_ctx = a;
    c.start_thread = true;
    if ((rc = agent_lease_create(&a->lease, &c)) < 0) {
        snprintf(err, errlen, "snat leases: cannot start the lease thread");
        goto fail;
    }
    nc->alloc_ops = &agent_lease_ops;
    nc->alloc_ctx = a->lease;
    return 0;
fail:
    free(h);
    return rc;
}

void agent_lease_stop(struct agent *a)
{
    void *http = a->lease ? a->lease->cfg.tr.ctx : NULL;

    agent_lease_destroy(a->lease);   /* its last releases still use the transport */
    a->lease = NULL;
    free(http);
}
