/*
 * datapath/dp_flow.h: the exact-match flow cache of the fast path.
 *
 * One cache per datapath thread (not thread-safe). It maps a 64-byte
 * struct flow_key to the flow's compiled actions (dp_actions.h), with
 * packet and byte counters and the simulator tags the actions depend on.
 * Everything is sized at creation: flow entries, tag references and
 * distinct tags come from fixed pools, and the hash table (lib/hash.h,
 * SipHash-1-3 keyed per process) is created large enough never to grow,
 * so nothing on the lookup or insert path allocates.
 *
 * An entry is 192 bytes, three cache lines (see struct dp_flow); a hit on a
 * flow with one output touches two of them.
 *
 * Timeouts: a flow idle longer than idle_timeout_ns (to about 1 ms) or older than
 * hard_timeout_ns is never returned by a lookup (lookups compare times and
 * remove it); dp_flow_expire() reclaims the rest incrementally, visiting a
 * bounded number of slots per call.
 *
 * Invalidation: every tag a flow carries links the flow into that tag's
 * list, so dp_flow_invalidate_tag() removes exactly the flows carrying the
 * tag in time proportional to their number.
 *
 * A full cache refuses new flows (-ENOSPC) instead of evicting: a burst of
 * new flows from one sender must not push out established ones, and the
 * refused flow still gets its packets forwarded by the caller
 * (dp_actions_execute_one) until expiry makes room.
 */
#ifndef RP_DATAPATH_DP_FLOW_H
#define RP_DATAPATH_DP_FLOW_H

#include "datapath/dp_actions.h"
#include "lib/packet.h"

#define DP_FLOW_BURST_MAX 64    /* keys per dp_flow_lookup_burst */
#define DP_FLOW_MAX_TAGS 64     /* tags per flow */

/* Idle times are kept in ticks of 2^20 ns (about 1 ms) so that the time of
 * the last hit fits beside the counters. */
#define DP_FLOW_TICK_SHIFT 20

/* Laid out for the fast path: a hit reads line 0 (the key) and writes
 * line 1 (counters, last use, the actions of a single output); line 2
 * holds a second output and what only the control path reads. */
struct dp_flow {
    struct flow_key key;
    uint64_t packets, bytes;
    uint32_t used_tick;         /* now_ns >> DP_FLOW_TICK_SHIFT at the last hit (or insert) */
    struct dp_actions actions;
    uint64_t created_ns;
    uint32_t tag_first;         /* this flow's first tag reference (private) */
} __attribute__((aligned(RP_CACHE_LINE)));
_Static_assert(sizeof(struct dp_flow) == 192, "a flow entry is three cache lines");
_Static_assert(offsetof(struct dp_flow, actions.out[1]) == 2 * RP_CACHE_LINE, "first output in line 1");

struct dp_flow_config {
    uint32_t max_flows;
    uint32_t max_tag_refs;      /* (flow, tag) pairs; 0 = 8 per flow */
    uint32_t max_tags;          /* distinct tags; 0 = max_tag_refs */
    uint64_t idle_timeout_ns;   /* 0 = none */
    uint64_t hard_timeout_ns;   /* 0 = none */
};

struct dp_flow_stats {
    uint64_t hits, misses, inserts, removes;
    uint64_t expired_idle, expired_hard, invalidated;
    uint64_t refused_full;      /* inserts refused: no flow slot, tag reference or tag left */
};

struct dp_flow_cache;

/* 0; -EINVAL (max_flows 0 or too large); -ENOMEM. */
int dp_flow_cache_create(struct dp_flow_cache **out, const struct dp_flow_config *cfg);
void dp_flow_cache_destroy(struct dp_flow_cache *c);

/* Look up n <= DP_FLOW_BURST_MAX keys (hash all, prefetch buckets, then
 * entries, then compare). flows[i] is the entry or NULL. A hit sets its
 * used_tick from now_ns; an expired entry is removed and counts as a miss.
 * Returns the number of hits. */
uint32_t dp_flow_lookup_burst(struct dp_flow_cache *c, const struct flow_key *keys, uint32_t n, uint64_t now_ns,
                              struct dp_flow **flows);
/* One key; NULL on a miss. */
struct dp_flow *dp_flow_lookup(struct dp_flow_cache *c, const struct flow_key *key, uint64_t now_ns);

/* Install a flow, replacing one with the same key (repeated tags count
 * once). 0; -ENOSPC (full: flows, tag references or distinct tags; the new
 * flow is not installed, and a flow it replaced is gone too); -E2BIG (more
 * than DP_FLOW_MAX_TAGS tags); -EINVAL. *out (may be NULL) is the entry,
 * valid until it is removed. */
int dp_flow_insert(struct dp_flow_cache *c, const struct flow_key *key, const struct dp_actions *actions,
                   const uint64_t *tags, uint32_t n_tags, uint64_t now_ns, struct dp_flow **out);
/* Remove by key: true if it was there. */
bool dp_flow_remove(struct dp_flow_cache *c, const struct flow_key *key);
/* Remove every flow carrying 'tag'; returns how many. */
uint32_t dp_flow_invalidate_tag(struct dp_flow_cache *c, uint64_t tag);
/* Visit up to 'budget' slots from where the last call stopped and remove
 * the expired flows among them. Returns how many it removed. */
uint32_t dp_flow_expire(struct dp_flow_cache *c, uint64_t now_ns, uint32_t budget);
/* Remove everything. */
void dp_flow_flush(struct dp_flow_cache *c);

uint32_t dp_flow_count(const struct dp_flow_cache *c);
/* Bytes held by the cache: entries, tag pools and the hash tables. */
size_t dp_flow_memory(const struct dp_flow_cache *c);
const struct dp_flow_stats *dp_flow_cache_stats(const struct dp_flow_cache *c);

#endif
