/*
 * nat/nat.h: connection tracking, stateful NAT, port-block leases, the NAT
 * rewrite of packet bytes, and the binary encoding of flow state.
 *
 * A pure library: no I/O, no threads, no clock (every call takes now_ns).
 * The simulator calls the decision half (conntrack, nat_lookup/allocate)
 * while it simulates the first packet of a flow; the datapath calls the
 * rewrite half (nat_rewrite*) on every packet of a cached flow and
 * nat_touch_burst() to keep the state it uses alive; the daemon encodes the
 * state a flow created (nat_state_export + nat_state_encode) and pushes it
 * to peer hosts before it forwards the packet; a peer decodes and installs
 * it (nat_state_decode + nat_state_install).
 *
 * Byte order: addresses and ports that are packet fields are in network
 * order (rp_be32, rp_be16), exactly as in a frame or a struct flow_key.
 * Port RANGES (struct nat_target, the block allocator) are numbers to count
 * through and are in host order (uint16_t). ICMP echo: the identifier is
 * both sport and dport of a tuple, so that a reversed tuple still matches.
 *
 * Zones: every tuple carries the 64-bit id of the virtual device whose chain
 * asked (a router or bridge), so overlapping tenant address spaces never
 * meet: state committed at one zone is invisible at every other.
 *
 * Memory: entries come from fixed pools sized at nat_tables_create()
 * (struct nat_config); a full pool gives -ENOSPC and a counter, never an
 * allocation. At most 128 bytes per entry, hash-table share included
 * (nat_get_memory). Expiry is explicit: nat_expire() sweeps the pools with
 * bounded work per call.
 *
 * Not thread-safe: one struct nat_tables is used by one thread at a time.
 */
#ifndef RP_NAT_H
#define RP_NAT_H

#include "lib/packet.h"
#include "lib/types.h"

/* --- tuples, kinds, references ----------------------------------------------- */

/* One direction of a flow at one zone. IPv4 now; IPv6 will add a family and
 * 16-byte addresses in a parallel struct, with its own entry pool, so that
 * IPv4 entries keep their size. */
struct nat_tuple {
    uint64_t zone;          /* stable id of the device that asked */
    rp_be32 src, dst;
    rp_be16 sport, dport;   /* TCP/UDP ports; ICMP echo: the identifier in both; else 0 */
    uint8_t proto;          /* IP protocol number, never 0 */
};

static inline struct nat_tuple nat_tuple_reverse(const struct nat_tuple *t)
{
    struct nat_tuple r = {.zone = t->zone, .src = t->dst, .dst = t->src, .sport = t->dport,
                          .dport = t->sport, .proto = t->proto};
    return r;
}

enum nat_kind {
    NAT_KIND_SNAT = 1,      /* source rewritten; rev_snat restores the reply's destination */
    NAT_KIND_DNAT = 2,      /* destination rewritten; rev_dnat restores the reply's source */
};

/* What a reference or a flow-state record names. Values are on the wire. */
enum nat_state_type {
    NAT_STATE_CT = 1,       /* a conntrack entry (a committed forward flow) */
    NAT_STATE_SNAT = 2,     /* an SNAT binding */
    NAT_STATE_DNAT = 3,     /* a DNAT binding */
};

/* A handle on one entry: cheap to copy and to keep in a flow cache. A
 * generation makes a reference to an entry that expired (and whose slot was
 * reused) stale instead of wrong. */
struct nat_state_ref {
    uint32_t idx;
    uint32_t gen;
    uint8_t type;           /* enum nat_state_type */
    uint8_t pad[3];         /* zero: refs compare as memory */
};

/* The result of a NAT lookup: the address and port to write into the
 * packet. nat_lookup/nat_allocate: the new source (SNAT) or destination
 * (DNAT). nat_reverse_lookup: the original ones, i.e. the reply's new
 * destination (rev_snat) or source (rev_dnat). */
struct nat_binding {
    rp_be32 addr;
    rp_be16 port;           /* ICMP echo: the identifier */
    struct nat_state_ref ref;
};

/* A target of a stateful NAT rule: addresses addr_from..addr_to (network
 * order, inclusive), ports port_from..port_to (host order, inclusive, 1 or
 * more; port 0 is never handed out). port_from = port_to = 0 is static NAT,
 * which needs no table: see nat_static_map(). */
struct nat_target {
    rp_be32 addr_from, addr_to;
    uint16_t port_from, port_to;
};

/* --- port-block allocator -------------------------------------------------------- */

/* SNAT ports come from blocks of NAT_BLOCK_PORTS ports, first port a
 * multiple of NAT_BLOCK_PORTS, leased per host for one (zone, public
 * address) so that no two hosts hand out the same port. A block leased for
 * one target range is used for the ports of it that lie in that range. */
#define NAT_BLOCK_PORTS 64
/* A free-port search probes at most this many ports (design.md 6). */
#define NAT_MAX_PROBES 128

struct nat_block_allocator_ops {
    /* Lease a block that is not leased (by anyone) and that overlaps
     * port_from..port_to: 0 and *block_first_port (a multiple of
     * NAT_BLOCK_PORTS), or -EADDRNOTAVAIL when none is free, or another
     * negative errno. Called from the simulating thread: must not block
     * for long (a store-backed allocator keeps a reserve). */
    int (*lease)(void *ctx, uint64_t zone, rp_be32 addr, uint16_t port_from, uint16_t port_to,
                 uint16_t *block_first_port);
    /* Give a block back; nat_expire() calls it once the block has held no
     * binding for nat_config.block_hold_s. */
    void (*release)(void *ctx, uint64_t zone, rp_be32 addr, uint16_t block_first_port);
};

/* The local allocator: a bitmap of blocks per (zone, address) on this host.
 * It never hands out a block twice until it is released. */
struct nat_local_allocator;
extern const struct nat_block_allocator_ops nat_local_allocator_ops;
int nat_local_allocator_create(struct nat_local_allocator **out);
void nat_local_allocator_destroy(struct nat_local_allocator *a);
/* Blocks leased now, over every (zone, address). */
uint32_t nat_local_allocator_leased(const struct nat_local_allocator *a);

/* --- tables ------------------------------------------------------------------------ */

struct nat_config {
    uint32_t max_conntrack;         /* conntrack entries */
    uint32_t max_nat;               /* SNAT + DNAT bindings */
    uint32_t max_pools;             /* (zone, public address) pairs with leased blocks */
    /* Idle timeouts in seconds. TCP: SYN seen without ACK -> tcp_syn;
     * ACK seen -> tcp_established; FIN or RST seen (either way) ->
     * tcp_closing, which a later packet refreshes but never lengthens
     * again, except a new SYN (port reuse) -> tcp_syn. A commit or binding
     * with no flags known (0) counts as established. */
    uint32_t tcp_syn_s;             /* default 30 */
    uint32_t tcp_established_s;     /* default 7200 */
    uint32_t tcp_closing_s;         /* default 30 */
    uint32_t udp_s;                 /* default 60 */
    uint32_t icmp_s;                /* default 30 */
    uint32_t other_s;               /* default 60 (other IP protocols) */
    uint32_t block_hold_s;          /* an empty block is released after 1-2x this; default 60 */
    /* Block allocator; NULL: the tables create and own a local one. */
    const struct nat_block_allocator_ops *alloc_ops;
    void *alloc_ctx;
};

/* Defaults: 65536 conntrack entries and 65536 bindings (about 12 MiB), 256
 * pools, and the timeouts above. The daemon raises the sizes from its
 * configuration. */
void nat_config_default(struct nat_config *cfg);

struct nat_tables;
/* -EINVAL: a size is 0 or above 2^28, or a timeout is 0; -ENOMEM. */
int nat_tables_create(struct nat_tables **out, const struct nat_config *cfg);
void nat_tables_destroy(struct nat_tables *t);

/* --- conntrack ----------------------------------------------------------------------- */

/* Is this a return flow at t->zone, i.e. has the reversed tuple been
 * committed there? A hit refreshes that entry. */
bool nat_ct_is_return(struct nat_tables *t, const struct nat_tuple *tuple, uint64_t now_ns);
/* Commit a forward flow. 0: created, *ref_out names it (report it to the
 * daemon for pushing). -EEXIST: it was already there; it is refreshed and
 * *ref_out names it; callers treat this as success with nothing new to
 * push. -ENOSPC: the pool is full (counted). -EINVAL: proto 0. ref_out may
 * be NULL. */
int nat_ct_commit(struct nat_tables *t, const struct nat_tuple *tuple, uint8_t tcp_flags, uint64_t now_ns,
                  struct nat_state_ref *ref_out);
/* TCP flags seen later on either direction of a committed flow (FIN/RST
 * shorten its timeout). 0, or -ENOENT. */
int nat_ct_update(struct nat_tables *t, const struct nat_tuple *tuple, uint8_t tcp_flags, uint64_t now_ns);

/* --- NAT bindings --------------------------------------------------------------------- */

/* The binding of an original tuple (the packet as it reached the NAT rule),
 * refreshed. 0, -ENOENT, or -EINVAL (not a kind). */
int nat_lookup(struct nat_tables *t, enum nat_kind kind, const struct nat_tuple *orig, uint64_t now_ns,
               struct nat_binding *out);
/* Pick a translated (address, port) from the targets and install the
 * binding under both its original tuple and its reply tuple. The reply
 * tuple (remote -> translated) is unique per (zone, proto): a port may be
 * reused towards another remote address or port. SNAT: the address is
 * chosen by a keyed hash of the source address (one inside host keeps one
 * public address; up to 4 addresses are tried), the port from blocks leased
 * through the allocator: first a block with a port no binding uses, else
 * any leased port still free towards this remote (from a random one), else
 * a new block; at most NAT_MAX_PROBES probes in all. DNAT: the address
 * likewise, the port from the target range directly (no blocks: the
 * translated side is not shared between hosts), the original port if it
 * lies in the range. Protocols without ports (GRE, ...) get an address-only
 * binding (port 0), unique per remote address.
 * 0 and *out (out->ref names the new entry: report it to the daemon);
 * -EEXIST: orig already has a binding (*out is it); -EADDRNOTAVAIL: no
 * port could be found ("snat ports exhausted", counted); -ENOSPC: the
 * binding pool or the port-pool table (max_pools) is full (counted);
 * -EINVAL: no targets, a static target, a reversed range, protocol 0. */
int nat_allocate(struct nat_tables *t, enum nat_kind kind, const struct nat_tuple *orig,
                 const struct nat_target *targets, unsigned n_targets, uint64_t now_ns, struct nat_binding *out);
/* The binding a reply tuple (remote -> translated) belongs to, refreshed:
 * *out holds the original address and port to restore. 0, -ENOENT, or
 * -EINVAL (not a kind). */
int nat_reverse_lookup(struct nat_tables *t, enum nat_kind kind, const struct nat_tuple *reply, uint64_t now_ns,
                       struct nat_binding *out);

/* Static (stateless) NAT: the address at the same offset from 'base' in the
 * concatenated target address ranges (wrapping past the end), e.g. a /24
 * onto a /24 is 1:1. 0 and *out, or -EINVAL (no targets, addr below base,
 * a reversed range). */
int nat_static_map(rp_be32 base, const struct nat_target *targets, unsigned n_targets, rp_be32 addr,
                   rp_be32 *out);

/* --- keeping state alive, expiry, accounting --------------------------------------------- */

/* Refresh entries a flow cache used; tcp_flags (NULL: none) per ref moves
 * TCP state as nat_ct_update does. Returns how many refs were live; stale
 * refs (expired entries) are skipped. */
unsigned nat_touch_burst(struct nat_tables *t, const struct nat_state_ref *refs, const uint8_t *tcp_flags,
                         unsigned n, uint64_t now_ns);
/* One ref (tcp_flags 0: none). */
static inline bool nat_touch(struct nat_tables *t, const struct nat_state_ref *ref, uint8_t tcp_flags,
                             uint64_t now_ns)
{
    return nat_touch_burst(t, ref, &tcp_flags, 1, now_ns) == 1;
}
/* Does this ref still name its entry? (An entry idle past its timeout
 * stays until the sweep or a lookup meets it; nat_touch_burst refuses it.) */
bool nat_ref_valid(const struct nat_tables *t, const struct nat_state_ref *ref);

/* Remove entries idle past their timeout, examining at most max_work pool
 * slots (and pool blocks) per call, resuming where the last call stopped;
 * releases blocks empty for block_hold_s. Returns the entries removed. A
 * full sweep takes (max_conntrack + max_nat) / max_work calls. */
unsigned nat_expire(struct nat_tables *t, uint64_t now_ns, unsigned max_work);

struct nat_stats {
    uint32_t ct_entries, nat_entries;   /* live now */
    uint32_t blocks_leased;             /* held now */
    uint64_t ct_full, nat_full;         /* -ENOSPC given */
    uint64_t ports_exhausted;           /* -EADDRNOTAVAIL given */
    uint64_t lease_errors;              /* lease() failures other than -EADDRNOTAVAIL */
    uint64_t ct_expired, nat_expired;
    uint64_t blocks_released;
    uint64_t installed;                 /* records nat_state_install added */
    uint64_t install_conflicts;         /* records refused: another binding holds the tuple */
};
void nat_get_stats(const struct nat_tables *t, struct nat_stats *out);

/* Bytes held, hash tables included: ct_bytes / ct_capacity is the cost of
 * one conntrack entry at full pool (likewise NAT). pool_bytes: the SNAT port
 * pools touched so far (about 4.4 KiB per (zone, public address)). */
struct nat_memory {
    size_t ct_bytes, nat_bytes, pool_bytes, total_bytes;
    uint32_t ct_capacity, nat_capacity;
};
void nat_get_memory(const struct nat_tables *t, struct nat_memory *out);

/* --- flow-state records and their encoding --------------------------------------------- */

/* TCP progress carried with a record; other protocols use NAT_TCP_NONE. */
enum nat_tcp_state {
    NAT_TCP_NONE = 0,
    NAT_TCP_SYN = 1,
    NAT_TCP_ESTABLISHED = 2,
    NAT_TCP_CLOSING = 3,
};

struct nat_state_rec {
    uint8_t type;               /* enum nat_state_type */
    uint8_t tcp_state;          /* enum nat_tcp_state */
    struct nat_tuple tuple;     /* CT: the committed forward tuple; SNAT/DNAT: the original tuple */
    rp_be32 xaddr;              /* SNAT/DNAT: the translated address and port; CT: 0 */
    rp_be16 xport;
    uint32_t idle_ms;           /* time since last seen at the sender */
};

/* The record of a live entry, for pushing. 0, or -ESTALE. */
int nat_state_export(const struct nat_tables *t, const struct nat_state_ref *ref, uint64_t now_ns,
                     struct nat_state_rec *out);

/* Wire format (network byte order), version 1.0:
 *   header, 16 bytes: magic "RPNS", major 1, minor 0, flags (2, ignored),
 *                     record count (4), total length in bytes (4)
 *   records:          type (1), flags (1, ignored), record length (2, this
 *                     header included), then by type:
 *     CT:        zone 8, src 4, dst 4, sport 2, dport 2, proto 1,
 *                tcp_state 1, idle_ms 4 -> record length 30
 *     SNAT/DNAT: the CT body, then xaddr 4, xport 2 -> record length 36
 * A later minor version may append fields to a record (longer record
 * length); a decoder skips what it does not know. A new major version is
 * refused. */
#define NAT_STATE_MAGIC 0x52504e53u /* "RPNS" */
#define NAT_STATE_VERSION_MAJOR 1
#define NAT_STATE_VERSION_MINOR 0
#define NAT_STATE_HDR_LEN 16
#define NAT_STATE_CT_LEN 30
#define NAT_STATE_NAT_LEN 36
/* Bytes nat_state_encode needs for n records at most. */
#define NAT_STATE_MAX_LEN(n) (NAT_STATE_HDR_LEN + (size_t)(n) * NAT_STATE_NAT_LEN)

/* 0 and *len_out; -ENOSPC (cap too small), -EINVAL (an invalid record). */
int nat_state_encode(const struct nat_state_rec *recs, unsigned n, uint8_t *buf, size_t cap, size_t *len_out);
/* 0 and *n_out; every length and field is checked before use and nothing
 * outside buf[0..len) is read. -EBADMSG: bad magic, truncated, total length
 * other than len, a record length too short or past the end, a count that
 * disagrees with the records; -EPROTONOSUPPORT: another major version;
 * -EINVAL: unknown record type, protocol 0, a TCP state on a non-TCP record
 * or an unknown one, a NAT record with port 0; -ENOSPC: more than max. */
int nat_state_decode(const uint8_t *buf, size_t len, struct nat_state_rec *recs, unsigned max, unsigned *n_out);
/* Install received state on this host. Idempotent: a record already present
 * (same binding) is refreshed. A binding whose original or reply tuple is
 * held by a different binding is refused (stats.install_conflicts), as is
 * one that does not fit (stats.*_full). Returns how many records are now
 * present (installed or already there). */
unsigned nat_state_install(struct nat_tables *t, const struct nat_state_rec *recs, unsigned n, uint64_t now_ns);

/* --- rewrite (datapath) -------------------------------------------------------------------- */

enum nat_side { NAT_SIDE_SRC = 0, NAT_SIDE_DST = 1 };
#define NAT_XLATE_ADDR 0x01
#define NAT_XLATE_PORT 0x02     /* TCP/UDP port; ICMP echo/echo reply: identifier */

/* One rewrite, small enough to sit in a cached flow's action list. */
struct nat_xlate {
    rp_be32 addr;
    rp_be16 port;
    uint8_t side;           /* enum nat_side */
    uint8_t what;           /* NAT_XLATE_* */
};
_Static_assert(sizeof(struct nat_xlate) == 8, "nat_xlate is 8 bytes");

/* Rewrite the source or destination of an Ethernet/IPv4 frame in place with
 * incremental checksums: IPv4 header; TCP; UDP (a zero checksum stays
 * zero); ICMP echo identifier. 'l' is the frame's layout from
 * flow_key_extract(). A non-first fragment has no L4 header: only the
 * address is rewritten (the L4 checksum, in the first fragment, was
 * adjusted there). 0, or -EINVAL: not IPv4, the layout lacks the header
 * to rewrite or points past len, or a port rewrite on a protocol without
 * ports (other than ICMP echo). */
int nat_rewrite(uint8_t *frame, size_t len, const struct pkt_layout *l, const struct nat_xlate *x);
/* An ICMP error quoting a NATed packet (RFC 5508): x->side names the side
 * of the QUOTED packet to rewrite. SRC: quoted source address and port
 * become x's, and the outer destination too when it was the quoted source
 * (rev_snat of an error coming back). DST: quoted destination, and the
 * outer source when it was the quoted destination. The quoted IP header
 * checksum, the quoted UDP/TCP/ICMP checksum when its bytes are quoted,
 * the outer ICMP checksum and the outer IP header checksum are adjusted.
 * 0, or -EINVAL: not an ICMP error with a quoted header (FLOW_F_ICMP_ERROR
 * layout), or a quote too short for the port. */
int nat_rewrite_icmp_error(uint8_t *frame, size_t len, const struct pkt_layout *l, const struct nat_xlate *x);

#endif
