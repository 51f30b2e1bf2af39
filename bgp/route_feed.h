/*
 * bgp/route_feed.h: a mirror of one kernel IPv4 routing table in userspace.
 *
 * BIRD exports the routes it learns over BGP (ECMP paths merged) into one
 * kernel table of the gateway's namespace (table 100 by default, see the
 * sidecar notes). The gateway needs the same routes in its own LPM, so this
 * feed watches that table over rtnetlink and turns what the kernel says into
 * events: a route added or replaced (prefix, next hops with weights, metric,
 * protocol), a route removed, and full dumps framed by "dump begins" and
 * "dump ends".
 *
 * Why dumps matter: the kernel does not announce everything. Routes through
 * an interface that goes down, is deleted or loses its last address vanish
 * without RTM_DELROUTE; an ECMP next hop through a down interface turns dead
 * and comes back to life silently; notifications are lost when the socket
 * overruns (ENOBUFS); and routes a killed BIRD left behind are only told
 * apart by their absence from what a restarted BIRD exports. So the feed
 * watches links and addresses too and re-dumps the table by itself after
 * each of these (one dump at a time; requests during a dump are merged into
 * one more dump after it). The consumer keeps its table in sync with one
 * rule: at DUMP_BEGIN mark every route stale; every ROUTE_ADD (from the dump
 * or a notification arriving during it) clears the mark of its route; at a
 * DUMP_END with complete set, delete the routes still marked. A DUMP_END
 * without complete (the dump was interrupted or lost messages) is followed
 * by another dump when its error is 0; do not sweep on it. A non-zero error
 * means the kernel refused the dump; the feed does not retry that by itself
 * (call bgp_route_feed_dump() again later).
 *
 * A kernel route is identified by (prefix, len, tos, priority). BIRD writes
 * one route per prefix with one metric, so keying on prefix/len is enough
 * for a BIRD table; a consumer mirroring a table where one prefix has
 * several metrics must key on priority too (the kernel uses the lowest).
 *
 * Next hops are what the kernel forwards to: dead ECMP members are left out.
 * A route the feed cannot represent (an IPv6 next hop for an IPv4 prefix, a
 * nexthop-object route without its expanded form, a type other than
 * unicast/blackhole/unreachable/prohibit, no live next hop, more than
 * BGP_ROUTE_FEED_MAX_NEXTHOPS) is delivered as ROUTE_DEL with
 * BGP_ROUTE_FEED_F_UNUSABLE: whatever the consumer had for that prefix is no
 * longer what the kernel does.
 *
 * Built on libmnl: the feed owns one receive buffer and every length is
 * checked before it is read. Control path only; one thread.
 */
#ifndef RP_BGP_ROUTE_FEED_H
#define RP_BGP_ROUTE_FEED_H

#include "lib/types.h"

#include <stddef.h>

/* ECMP members per route. BIRD's default merge limit is 16; the kernel's
 * limit is the message size. */
#define BGP_ROUTE_FEED_MAX_NEXTHOPS 256
/* Receive buffer asked of the kernel (SO_RCVBUFFORCE when root, else capped
 * by net.core.rmem_max). Each notification costs about 1 KiB of it. */
#define BGP_ROUTE_FEED_RCVBUF (32u << 20)

struct bgp_route_feed;

enum bgp_route_feed_event_type {
    BGP_ROUTE_FEED_ROUTE_ADD,    /* added or replaced: ev->route */
    BGP_ROUTE_FEED_ROUTE_DEL,    /* removed: ev->route, n_nexthops 0 */
    BGP_ROUTE_FEED_DUMP_BEGIN,
    BGP_ROUTE_FEED_DUMP_END,     /* ev->dump */
    BGP_ROUTE_FEED_LINK,         /* ev->link: state changed in a way that can drop routes; a dump follows */
    BGP_ROUTE_FEED_OVERRUN,      /* notifications were lost; a dump follows */
};

enum bgp_route_feed_route_type {
    BGP_ROUTE_FEED_UNICAST,      /* next hops follow */
    BGP_ROUTE_FEED_BLACKHOLE,    /* drop silently; no next hops */
    BGP_ROUTE_FEED_UNREACHABLE,  /* drop with ICMP unreachable; no next hops */
    BGP_ROUTE_FEED_PROHIBIT,     /* drop with ICMP administratively prohibited; no next hops */
};

/* bgp_route_feed_route.flags */
#define BGP_ROUTE_FEED_F_REPLACE  0x1u   /* the kernel said NLM_F_REPLACE */
#define BGP_ROUTE_FEED_F_DUMP     0x2u   /* part of a dump, not a notification */
#define BGP_ROUTE_FEED_F_UNUSABLE 0x4u   /* a DEL standing for an add that cannot be represented */

/* bgp_route_feed_nexthop.flags */
#define BGP_ROUTE_FEED_NH_ONLINK   0x1u  /* gateway not on a connected subnet ("onlink") */
#define BGP_ROUTE_FEED_NH_LINKDOWN 0x2u  /* interface has no carrier; the kernel still uses it by default */

struct bgp_route_feed_nexthop {
    uint32_t gateway;            /* host order; 0 = directly connected */
    uint32_t ifindex;            /* 0 if the kernel gave none */
    uint16_t weight;             /* 1..256 (the kernel's rtnh_hops + 1) */
    uint16_t flags;              /* BGP_ROUTE_FEED_NH_* */
};

struct bgp_route_feed_route {
    uint32_t prefix;             /* host order, host bits zero */
    uint8_t len;                 /* 0..32 */
    uint8_t tos;
    uint8_t type;                /* enum bgp_route_feed_route_type (ADD only) */
    uint8_t protocol;            /* RTPROT_*: 12 = BIRD, 4 = static, 3 = boot ... */
    uint32_t priority;           /* the metric; 0 if absent */
    uint32_t flags;              /* BGP_ROUTE_FEED_F_* */
    unsigned n_nexthops;
    struct bgp_route_feed_nexthop nexthops[BGP_ROUTE_FEED_MAX_NEXTHOPS];
};

struct bgp_route_feed_event {
    enum bgp_route_feed_event_type type;
    union {
        struct bgp_route_feed_route route;
        struct {
            bool complete;       /* every route of the table was delivered since DUMP_BEGIN */
            int error;           /* 0, or the negative errno the kernel ended the dump with */
            uint32_t routes;     /* routes of the table in this dump */
        } dump;
        struct {
            uint32_t ifindex;
            uint32_t flags;      /* IFF_* now; 0 when deleted */
            bool deleted;
            bool address;        /* an IPv4 address was removed from it (not a link change) */
        } link;
    };
};

struct bgp_route_feed_stats {
    uint64_t messages;           /* netlink messages handled */
    uint64_t routes_added, routes_deleted;
    uint64_t other_tables;       /* route messages for other tables or families, ignored */
    uint64_t malformed;          /* messages dropped by the parser */
    uint64_t unusable;           /* routes delivered as DEL with F_UNUSABLE */
    uint64_t overruns;           /* ENOBUFS or truncated reads */
    uint64_t dumps_requested, dumps_completed;
    uint64_t link_changes;       /* link/address events that asked for a dump */
};

/* Open a NETLINK_ROUTE socket in the calling thread's network namespace,
 * subscribed to IPv4 route, link and IPv4 address events, non-blocking,
 * with a large receive buffer, watching kernel table 'table' (1..2^32-1,
 * not RT_TABLE_UNSPEC). No dump is requested: call bgp_route_feed_dump(). 0,
 * or a negative errno with a message in err (which may be NULL). */
int bgp_route_feed_open(uint32_t table, struct bgp_route_feed **out, char *err, size_t errlen);
void bgp_route_feed_close(struct bgp_route_feed *f);
/* For poll/epoll (readable = call process). */
int bgp_route_feed_fd(const struct bgp_route_feed *f);

/* Ask for a full dump of the table. Sent by the next process() call (which
 * delivers DUMP_BEGIN first); if a dump is running, one more follows it.
 * Cannot fail. */
void bgp_route_feed_dump(struct bgp_route_feed *f);

/* Read what is waiting and call cb for each event, handling at most
 * max_msgs netlink messages (each gives at most one event, except that
 * starting a dump and the overrun/link events add one each). Returns the
 * number of messages handled, or a negative errno when the socket failed
 * (the feed is then unusable: close it). When this returns max_msgs, or
 * bgp_route_feed_pending() is true, call again before waiting on the fd:
 * messages may sit in the feed's buffer where poll cannot see them. cb must
 * not call process() or close(); dump() is fine. */
int bgp_route_feed_process(struct bgp_route_feed *f, unsigned max_msgs,
                           void (*cb)(void *ctx, const struct bgp_route_feed_event *ev), void *ctx);
/* Work left that poll on the fd will not announce: buffered messages or a
 * dump waiting to be requested. */
bool bgp_route_feed_pending(const struct bgp_route_feed *f);
bool bgp_route_feed_dumping(const struct bgp_route_feed *f);
void bgp_route_feed_get_stats(const struct bgp_route_feed *f, struct bgp_route_feed_stats *out);

/* The pure parser process() uses for route messages: one netlink message
 * of len bytes (len may exceed nlmsg_len; the rest is ignored). Returns 1
 * and fills ev with ROUTE_ADD or ROUTE_DEL (F_UNUSABLE ones included, never
 * F_DUMP) when it is an IPv4 route of 'table'; 0 for anything else (another
 * table or family, a route cache entry, not a route message); -EINVAL when
 * malformed (a length, a prefix with host bits set, an attribute of the
 * wrong size), ev then undefined. */
int bgp_route_feed_parse(const void *buf, size_t len, uint32_t table, struct bgp_route_feed_event *ev);

#endif
