/*
 * Fuzz the route feed's parser: any bytes as one rtnetlink datagram, framed
 * the way bgp_route_feed_process() frames what it receives (libmnl's
 * message walk), each message through bgp_route_feed_parse() for table 100.
 * Whatever the parser accepts must be something the LPM can take: a prefix
 * length up to 32 with no host bits, next hops only on unicast adds, at
 * least one there, weights 1..256. Seeds are datagrams captured from a real
 * kernel (notifications and a dump).
 */
#include "bgp/route_feed.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct bgp_route_feed_event ev;

static void check(const struct bgp_route_feed_event *e)
{
    const struct bgp_route_feed_route *r = &e->route;
    uint32_t mask = r->len ? ~0u << (32 - r->len) : 0;

    if (r->len > 32 || (r->prefix & ~mask) || r->n_nexthops > BGP_ROUTE_FEED_MAX_NEXTHOPS)
        abort();
    if (r->flags & BGP_ROUTE_FEED_F_DUMP)
        abort();
    if (e->type == BGP_ROUTE_FEED_ROUTE_DEL) {
        if (r->n_nexthops)
            abort();
        return;
    }
    if (e->type != BGP_ROUTE_FEED_ROUTE_ADD || (r->flags & BGP_ROUTE_FEED_F_UNUSABLE))
        abort();
    if ((r->type == BGP_ROUTE_FEED_UNICAST) != (r->n_nexthops > 0))
        abort();
    for (unsigned i = 0; i < r->n_nexthops; i++)
        if (r->nexthops[i].weight < 1 || r->nexthops[i].weight > 256)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly size bytes on the heap, aligned as a receive buffer is, so
     * ASan sees any read past the end. */
    uint8_t *buf = malloc(size ? size : 1);
    size_t off = 0;

    if (!buf || size > 1u << 20) {
        free(buf);
        return 0;
    }
    memcpy(buf, data, size);
    /* The framing of bgp_route_feed_process(), unsigned (mnl_nlmsg_ok() lets
     * a length of 2^31 or more through). Each step moves by at least one
     * header, so size bounds the loop. */
    while (size - off >= sizeof(struct nlmsghdr)) {
        const struct nlmsghdr *nlh = (const void *)(buf + off);
        int rc;

        if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > size - off)
            break;
        rc = bgp_route_feed_parse(nlh, size - off, 100, &ev);
        if (rc == 1)
            check(&ev);
        else if (rc != 0 && rc != -EINVAL)
            abort();
        off += MNL_ALIGN(nlh->nlmsg_len);
        if (off >= size)
            break;
    }
    free(buf);
    return 0;
}
