/*
 * gateway/gw_impl.h: the gateway's pieces, shared by its files. Private.
 *
 * Two tables decide where a frame leaving an uplink goes on the wire:
 *   - gw_routes: the routes BIRD learned over BGP, mirrored from the kernel
 *     table it exports into (bgp/route_feed.h), in an LPM with interned
 *     ECMP next-hop sets. The uplink's egress looks every frame up here (a
 *     learned route is more specific knowledge than the static route that
 *     brought the frame to this gateway).
 *   - gw_neigh: IPv4 address -> MAC per interface, mirrored from the
 *     kernel's neighbour table (the kernel resolves the BGP peers, which
 *     are the usual next hops) and gleaned from ARP the datapath sees on
 *     the uplinks; for an address neither knows, the gateway sends an ARP
 *     request itself.
 * Both are read per packet on the forwarding thread and written on the
 * same thread from their netlink sockets: no locks.
 */
#ifndef RP_GATEWAY_GW_IMPL_H
#define RP_GATEWAY_GW_IMPL_H

#include "bgp/bgp.h"
#include "lib/types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- learned routes ------------------------------------------------------------------ */

struct gw_nexthop {
    uint32_t gateway;          /* host order; 0: the destination is on the link */
    uint32_t ifindex;          /* 0 when the kernel gave none */
};

enum gw_route_kind { GW_ROUTE_UNICAST, GW_ROUTE_BLACKHOLE, GW_ROUTE_UNREACHABLE };

struct gw_routes;

struct gw_routes_stats {
    uint64_t routes;           /* prefixes now */
    uint64_t nexthop_sets;     /* distinct ECMP sets now */
    uint64_t adds, dels;       /* events applied */
    uint64_t swept;            /* routes removed at the end of a complete dump */
    uint64_t dumps;            /* complete dumps seen */
    uint64_t refused;          /* adds refused: table full or out of memory */
    size_t bytes;              /* memory held, all structures */
};

/* Largest max_routes: route codes are 24 bits wide (a record is 8 bytes),
 * and next-hop set ids, at most one more than the routes, must stay below
 * the two codes reserved for blackhole and unreachable. */
#define GW_ROUTES_MAX 16000000u

/* At most max_routes prefixes (adds beyond are refused and counted).
 * 0, -EINVAL (0 or above GW_ROUTES_MAX), -ENOMEM, -ENOTSUP (lpm_create: no
 * POPCNT). Routes are keyed by prefix/len only (a BIRD table: one metric per
 * prefix; tos and priority are not part of the key). */
int gw_routes_create(uint32_t max_routes, struct gw_routes **out);
void gw_routes_destroy(struct gw_routes *r);

/* Apply one route feed event, following route_feed.h's rule: ADD adds or
 * replaces (and clears the stale mark), DEL removes, DUMP_BEGIN marks all
 * stale, DUMP_END with complete removes what is still marked; LINK and
 * OVERRUN change nothing (a dump follows). 0, or -ENOSPC / -ENOMEM (the
 * table is unchanged; counted in refused), or -EINVAL for an event the feed
 * never sends (len > 32, host bits, a unicast add without next hops, a
 * weight outside 1..256; the table is unchanged, not counted). A DEL of an
 * absent route is 0. */
int gw_routes_apply(struct gw_routes *r, const struct bgp_route_feed_event *ev);
/* bgp_route_feed_process's callback shape: ctx is the struct gw_routes. */
void gw_routes_feed_cb(void *ctx, const struct bgp_route_feed_event *ev);

/* Fast path: the route for dst. UNICAST: *nh is the member picked by
 * 'hash' (the same hash always picks the same member; weights honoured).
 * -ENOENT: no learned route holds dst. */
int gw_routes_lookup(const struct gw_routes *r, uint32_t dst, uint32_t hash, enum gw_route_kind *kind,
                     struct gw_nexthop *nh);

void gw_routes_get_stats(const struct gw_routes *r, struct gw_routes_stats *out);

/* For reports: up to max routes in address order (prefix, then length),
 * gw_routes_list from the first route, gw_routes_list_from from the first
 * one at or after from/from_len (to page on: pass the last one written with
 * its length + 1). Returns how many were written. Walks the table: control
 * path only. */
struct gw_route_view {
    uint32_t prefix;
    uint8_t len;
    enum gw_route_kind kind;
    unsigned n_nexthops;
    struct gw_nexthop nexthops[4];   /* the first four members */
};
unsigned gw_routes_list(const struct gw_routes *r, struct gw_route_view *out, unsigned max);
unsigned gw_routes_list_from(const struct gw_routes *r, uint32_t from, uint8_t from_len, struct gw_route_view *out,
                             unsigned max);

/* --- neighbours ------------------------------------------------------------------------ */

struct gw_neigh;

struct gw_neigh_stats {
    uint64_t entries;
    uint64_t kernel_updates, gleaned, expired;
    uint64_t lookups_missed;   /* counted by gw_neigh_want_request (gw_neigh_lookup is const) */
    uint64_t requests_sent;    /* ARP requests the gateway asked for (gw_neigh_want_request true) */
    uint64_t refused;          /* entries that found no room (max_entries, or a full probe run) */
    uint64_t resyncs;          /* re-dumps after lost notifications (ENOBUFS) or an interrupted dump */
    uint64_t malformed;        /* kernel messages gw_neigh_parse rejected */
};

/* One rtnetlink neighbour message, as gw_neigh_parse reads it. */
struct gw_neigh_msg {
    uint32_t ifindex;
    uint32_t addr;             /* host order */
    uint16_t state;            /* NUD_* */
    bool del;                  /* RTM_DELNEIGH */
    bool keep;                 /* an RTM_NEWNEIGH in a kept state (see gw_neigh_process) with a
                                * 6-byte lladdr: mac is valid */
    uint8_t mac[6];
};

/* The pure parser gw_neigh_process uses: one netlink message of len bytes
 * (len may exceed nlmsg_len; the rest is ignored). 1: an RTM_NEWNEIGH or
 * RTM_DELNEIGH for an IPv4 neighbour (not a proxy entry), *out filled; 0:
 * anything else (another message type or family, a proxy entry); -EINVAL:
 * malformed (a length, an NDA_DST not 4 bytes, no NDA_DST, ifindex 0). */
int gw_neigh_parse(const void *buf, size_t len, struct gw_neigh_msg *out);

/* Watch the kernel neighbour table (IPv4) of the calling thread's netns
 * over rtnetlink (libmnl): an initial dump, complete when this returns
 * (it waits up to 5 s: -ETIMEDOUT), then RTMGRP_NEIGH events. Up to
 * max_entries (1..2^24) entries; the table is allocated here, for twice
 * that many slots of 24 bytes. 0 or a negative errno with err filled. */
int gw_neigh_open(uint32_t max_entries, struct gw_neigh **out, char *err, size_t errlen);
void gw_neigh_close(struct gw_neigh *n);
int gw_neigh_fd(const struct gw_neigh *n);
/* Read what is waiting (non-blocking; at most 64 datagrams a call, so poll
 * the fd again); returns messages handled or a negative errno (socket
 * failed). Entries the kernel marks FAILED or INCOMPLETE are removed;
 * REACHABLE, STALE, DELAY, PROBE, PERMANENT and NOARP with a lladdr are
 * kept. A gleaned entry is replaced by the kernel's and removed by FAILED,
 * but not by the kernel forgetting an address it never had. Lost
 * notifications (ENOBUFS) start a re-dump that drops the kernel entries it
 * no longer lists. */
int gw_neigh_process(struct gw_neigh *n);

/* Fast path: the MAC of addr on ifindex; true when known. */
bool gw_neigh_lookup(const struct gw_neigh *n, uint32_t ifindex, uint32_t addr, uint8_t mac[6]);
/* A mapping seen in ARP on an uplink (sender of a request or reply). It
 * never overrides a kernel entry; an address in 0/8 or 224/3 (multicast,
 * class E, broadcast), a group or zero MAC, or ifindex 0 is ignored. */
void gw_neigh_glean(struct gw_neigh *n, uint32_t ifindex, uint32_t addr, const uint8_t mac[6], uint64_t now_ns);
/* A miss: true when an ARP request for addr on ifindex should be sent now
 * (at most one per address per second; the table of pending requests is
 * bounded, 256 sets of 4, and the oldest entry of a set is reused). */
bool gw_neigh_want_request(struct gw_neigh *n, uint32_t ifindex, uint32_t addr, uint64_t now_ns);
/* Gleaned entries older than max_age_ns go (kernel ones follow the kernel). */
void gw_neigh_expire(struct gw_neigh *n, uint64_t now_ns, uint64_t max_age_ns);
void gw_neigh_get_stats(const struct gw_neigh *n, struct gw_neigh_stats *out);

/* An ARP request frame (60 bytes, broadcast) from sha/spa for tpa into buf
 * (at least 60 bytes): returns its length. */
unsigned gw_arp_request(uint8_t *buf, const uint8_t sha[6], uint32_t spa, uint32_t tpa);

#endif
