/*
 * tunnel/tun_peer.c: the bounded table of peer hosts.
 */
#include "lib/hash.h"
#include "tunnel/tun_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int tun_peers_init(struct tun_peers *p, uint32_t max)
{
    uint32_t cap = 4;

    if (max == 0 || max > TUN_PEERS_LIMIT)
        return -EINVAL;
    while (cap < 2 * max)
        cap <<= 1;
    p->slots = calloc(cap, sizeof(*p->slots));
    if (!p->slots)
        return -ENOMEM;
    p->mask = cap - 1;
    p->count = 0;
    p->max = max;
    return 0;
}

void tun_peers_fini(struct tun_peers *p)
{
    free(p->slots);
    p->slots = NULL;
}

static uint32_t home(const struct tun_peers *p, uint32_t ip)
{
    return (uint32_t)rp_siphash(&ip, sizeof(ip)) & p->mask;
}

/* The slot holding ip, or the empty slot ending its probe sequence. At most
 * half the slots are used, so the loop ends well before mask + 1 turns. */
static uint32_t probe(const struct tun_peers *p, uint32_t ip)
{
    uint32_t i = home(p, ip);

    for (uint32_t n = 0; n <= p->mask; n++, i = (i + 1) & p->mask)
        if (!p->slots[i].used || p->slots[i].info.ip == ip)
            return i;
    RP_ASSERT(!"peer table has no empty slot");
    return 0;
}

struct tun_peer_info *tun_peers_find(const struct tun_peers *p, uint32_t ip)
{
    uint32_t i = probe(p, ip);

    return p->slots[i].used ? &p->slots[i].info : NULL;
}

struct tun_peer_info *tun_peers_insert(struct tun_peers *p, uint32_t ip, bool *added)
{
    uint32_t i = probe(p, ip);

    *added = false;
    if (p->slots[i].used)
        return &p->slots[i].info;
    if (p->count >= p->max)
        return NULL;
    p->slots[i].used = true;
    memset(&p->slots[i].info, 0, sizeof(p->slots[i].info));
    p->slots[i].info.ip = ip;
    p->count++;
    *added = true;
    return &p->slots[i].info;
}

/* Backward-shift deletion: move later entries of the run into the hole when
 * their home slot allows it, so lookups never need tombstones. */
int tun_peers_remove(struct tun_peers *p, uint32_t ip)
{
    uint32_t hole = probe(p, ip), j = hole;

    if (!p->slots[hole].used)
        return -ENOENT;
    for (uint32_t n = 0; n < p->mask; n++) {
        j = (j + 1) & p->mask;
        if (!p->slots[j].used)
            break;
        uint32_t h = home(p, p->slots[j].info.ip);
        /* j may move to hole unless its home lies cyclically in (hole, j]. */
        bool stays = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j);
        if (!stays) {
            p->slots[hole] = p->slots[j];
            hole = j;
        }
    }
    p->slots[hole].used = false;
    p->count--;
    return 0;
}
