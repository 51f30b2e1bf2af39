/*
 * nat/nat_impl.h: the in-memory layout of struct nat_tables, private to nat/.
 *
 * Three fixed pools, each indexed by one lib/hash.h table of 32-bit pool
 * indexes (the caller-compares-keys table):
 *   ct[]     conntrack entries, 40 bytes, one hash slot each (forward tuple);
 *   nat[]    SNAT/DNAT bindings, 48 bytes, two hash slots each (original
 *            tuple, and reply tuple, which is also the port-uniqueness key);
 *   pools[]  one per (zone, public address) holding leased SNAT port
 *            blocks: which blocks, bindings per block, which blocks have
 *            fewer bindings than ports, an "empty at the last sweep" mark
 *            per block (blocks are released after two sweeps
 *            found them empty, block_hold_s apart).
 * A free slot has kind/live 0 and links the free list through next_free.
 * Every slot carries a generation, bumped on free, that makes old refs stale.
 */
#ifndef RP_NAT_IMPL_H
#define RP_NAT_IMPL_H

#include "lib/csum.h"
#include "lib/hash.h"
#include "nat/nat.h"

#include <arpa/inet.h>

/* The hashed key: every byte written (pad included), hashed as memory. */
struct nat_key {
    uint64_t zone;
    rp_be32 src, dst;
    rp_be16 sport, dport;
    uint8_t proto;
    uint8_t kind;           /* NAT_KEY_* */
    uint16_t pad;
};
_Static_assert(sizeof(struct nat_key) == 24, "nat_key is hashed as 24 bytes");

#define NAT_KEY_CT 0
#define NAT_KEY_POOL 0x40   /* pool index: zone + src (the public address) */
#define NAT_KEY_REV 0x80    /* or-ed into NAT_STATE_SNAT/DNAT: the reply-tuple index */

struct ct_entry {
    uint64_t zone;
    uint64_t last_ns;
    union {
        struct {
            rp_be32 src, dst;
        };
        uint32_t next_free;     /* while free */
    };
    rp_be16 sport, dport;
    uint8_t proto;
    uint8_t live;
    uint8_t tcp_state;          /* enum nat_tcp_state */
    uint8_t pad;
    uint32_t gen;
};
_Static_assert(sizeof(struct ct_entry) == 40, "ct_entry size");

#define NAT_EF_PEER 0x01        /* installed from a peer: holds no local block */

struct nat_entry {
    uint64_t zone;
    uint64_t last_ns;
    union {
        struct {
            rp_be32 src, dst;   /* the original tuple */
        };
        uint32_t next_free;
    };
    rp_be16 sport, dport;
    rp_be32 xaddr;              /* translated source (SNAT) or destination (DNAT) */
    rp_be16 xport;
    uint8_t proto;
    uint8_t kind;               /* NAT_STATE_SNAT, NAT_STATE_DNAT; 0 = free */
    uint8_t tcp_state;
    uint8_t flags;              /* NAT_EF_* */
    uint16_t pad;
    uint32_t gen;
    uint32_t pool;              /* local SNAT binding: its port pool; else UINT32_MAX */
};
_Static_assert(sizeof(struct nat_entry) == 48, "nat_entry size");

#define NAT_POOL_BLOCKS (65536 / NAT_BLOCK_PORTS)
#define NAT_POOL_WORDS (NAT_POOL_BLOCKS / 64)

struct nat_pool {
    uint64_t zone;
    rp_be32 addr;
    uint32_t n_leased;          /* 0 and !live: free */
    uint32_t next_free;
    uint32_t live;
    uint64_t last_sweep_ns;
    uint64_t leased[NAT_POOL_WORDS];
    uint64_t marked[NAT_POOL_WORDS];    /* empty at the last sweep */
    /* Leased blocks with fewer bindings than ports (63 for block 0, which
     * lacks port 0): the free-port search finds them with ctz instead of
     * walking every leased block. */
    uint64_t notfull[NAT_POOL_WORDS];
    uint32_t leased_words;      /* bit w: leased[w] != 0 */
    uint32_t notfull_words;     /* bit w: notfull[w] != 0 */
    uint32_t bindings[NAT_POOL_BLOCKS];
};
_Static_assert(NAT_POOL_WORDS <= 32, "a word summary fits in 32 bits");

struct nat_tables {
    struct nat_config cfg;
    uint64_t to_ns[4][4];       /* idle timeouts: [proto class][enum nat_tcp_state] */

    struct ct_entry *ct;
    struct htab *ct_idx;
    uint32_t ct_free, ct_live;

    struct nat_entry *nat;
    struct htab *nat_idx;
    uint32_t nat_free, nat_live;

    struct nat_pool *pools;
    struct htab *pool_idx;
    uint32_t pool_free, pool_live, pool_hwm;
    uint32_t pool_last;         /* the pool pool_find found last (a hint; checked) */

    const struct nat_block_allocator_ops *alloc_ops;
    void *alloc_ctx;
    struct nat_local_allocator *own_alloc;

    uint64_t ct_cursor, nat_cursor, pool_cursor;
    uint64_t rand_state;
    struct nat_stats st;
};

/* --- nat_table.c ------------------------------------------------------------- */

static inline uint64_t nat_key_hash(const struct nat_key *k)
{
    return rp_siphash(k, sizeof(*k));
}

static inline void nat_key_set(struct nat_key *k, const struct nat_tuple *t, uint8_t kind)
{
    k->zone = t->zone;
    k->src = t->src;
    k->dst = t->dst;
    k->sport = t->sport;
    k->dport = t->dport;
    k->proto = t->proto;
    k->kind = kind;
    k->pad = 0;
}

/* Timeout class of a protocol: 0 TCP, 1 UDP, 2 ICMP, 3 other. */
static inline unsigned nat_proto_class(uint8_t proto)
{
    return proto == IP_PROTO_TCP ? 0 : proto == IP_PROTO_UDP ? 1 : proto == IP_PROTO_ICMP ? 2 : 3;
}

static inline uint64_t nat_timeout_ns(const struct nat_tables *t, uint8_t proto, uint8_t tcp_state)
{
    return t->to_ns[nat_proto_class(proto)][tcp_state & 3];
}

static inline bool nat_idle_past(uint64_t now_ns, uint64_t last_ns, uint64_t timeout_ns)
{
    return now_ns > last_ns && now_ns - last_ns > timeout_ns;
}

/* The TCP state after seeing 'flags' (0: no information). */
uint8_t nat_tcp_next(uint8_t proto, uint8_t cur, uint8_t flags);
uint64_t nat_rand(struct nat_tables *t);

/* Binding entries: find by key, create, free. */
uint32_t nat_entry_find(const struct nat_tables *t, const struct nat_key *k);
/* The same, but an entry idle past its timeout is freed and not returned:
 * it is gone even before the sweep reaches it. No refresh. */
uint32_t nat_entry_find_live(struct nat_tables *t, const struct nat_key *k, uint64_t now_ns);
/* Does a live binding of this kind hold the reply tuple? */
bool nat_reply_taken(struct nat_tables *t, uint8_t kind, const struct nat_tuple *reply, uint64_t now_ns);
int nat_entry_add(struct nat_tables *t, uint8_t kind, const struct nat_tuple *orig, rp_be32 xaddr, rp_be16 xport,
                  uint8_t tcp_state, uint64_t last_ns, uint8_t flags, uint32_t pool, uint32_t *idx_out);
void nat_entry_reply(const struct nat_entry *e, struct nat_tuple *reply);
void nat_entry_binding(const struct nat_tables *t, uint32_t idx, struct nat_binding *out);

/* --- conntrack.c ---------------------------------------------------------------- */

int nat_ct_init(struct nat_tables *t);
void nat_ct_fini(struct nat_tables *t);
uint32_t nat_ct_find(const struct nat_tables *t, const struct nat_tuple *tuple);
uint32_t nat_ct_find_live(struct nat_tables *t, const struct nat_tuple *tuple, uint64_t now_ns);
int nat_ct_add(struct nat_tables *t, const struct nat_tuple *tuple, uint8_t tcp_state, uint64_t last_ns,
               uint32_t *idx_out);
unsigned nat_ct_expire_some(struct nat_tables *t, uint64_t now_ns, unsigned *work);
bool nat_ct_touch(struct nat_tables *t, uint32_t idx, uint32_t gen, uint8_t flags, uint64_t now_ns);

/* --- nat_alloc.c ----------------------------------------------------------------- */

int nat_pools_init(struct nat_tables *t);
void nat_pools_fini(struct nat_tables *t);
/* A local SNAT binding went away: one fewer on its block. */
void nat_pool_unbind(struct nat_tables *t, uint32_t pool, uint16_t port);
unsigned nat_pools_sweep_some(struct nat_tables *t, uint64_t now_ns, unsigned *work);

#endif
