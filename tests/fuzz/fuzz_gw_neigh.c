/*
 * Fuzz the neighbour table's parser: any bytes as one rtnetlink datagram,
 * walked the way gw_neigh_process() walks what it receives, each message
 * through gw_neigh_parse(). What it accepts must be usable as is: an
 * interface, a MAC only for an entry to keep, never both del and keep.
 * Seeds are neighbour messages as the kernel sends them (a notification,
 * a deletion, a FAILED entry, an IPv6 one, a proxy entry, a dump datagram).
 */
#include "gateway/gw_impl.h"

#include <errno.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t zero[6];
    uint8_t *buf;
    size_t off = 0;

    if (size > 1u << 20)
        return 0;
    /* Exactly size bytes on the heap, so ASan sees any read past the end. */
    buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    while (size - off >= sizeof(struct nlmsghdr)) {
        struct nlmsghdr nlh;
        struct gw_neigh_msg m;
        int rc;

        memcpy(&nlh, buf + off, sizeof(nlh));
        rc = gw_neigh_parse(buf + off, size - off, &m);
        if (rc != 1 && rc != 0 && rc != -EINVAL)
            abort();
        if (rc == 1) {
            if (m.ifindex == 0 || (m.del && m.keep))
                abort();
            if (!m.keep && memcmp(m.mac, zero, 6))
                abort();
        }
        if (nlh.nlmsg_len < sizeof(nlh) || nlh.nlmsg_len > size - off || NLMSG_ALIGN(nlh.nlmsg_len) >= size - off)
            break;
        off += NLMSG_ALIGN(nlh.nlmsg_len);
    }
    free(buf);
    return 0;
}
