/*
 * nat/conntrack.c: committed forward flows per zone.
 *
 * An entry is the forward tuple a chain committed at one device; a packet
 * is a return flow there when its reversed tuple is committed. One hash
 * slot per entry (the forward tuple): the return check reverses the
 * packet's tuple instead of indexing both directions, which halves the hash
 * memory. Expiry sweeps the pool in index order with a cursor.
 */
#include "nat/nat_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int nat_ct_init(struct nat_tables *t)
{
    uint32_t n = t->cfg.max_conntrack;
    int rc;

    t->ct = calloc(n, sizeof(*t->ct));
    if (!t->ct)
        return -ENOMEM;
    if ((rc = htab_create(&t->ct_idx, n)) < 0)
        goto err_free;
    if ((rc = htab_set_max(t->ct_idx, n)) < 0)
        goto err_htab;
    /* Free list in index order, so that a young table fills from the front
     * and a sweep walks warm memory. */
    for (uint32_t i = 0; i < n; i++)
        t->ct[i].next_free = i + 1 < n ? i + 1 : HTAB_NONE;
    t->ct_free = 0;
    return 0;

err_htab:
    htab_destroy(t->ct_idx);
    t->ct_idx = NULL;
err_free:
    free(t->ct);
    t->ct = NULL;
    return rc;
}

void nat_ct_fini(struct nat_tables *t)
{
    htab_destroy(t->ct_idx);
    free(t->ct);
}

uint8_t nat_tcp_next(uint8_t proto, uint8_t cur, uint8_t flags)
{
    if (proto != IP_PROTO_TCP)
        return NAT_TCP_NONE;
    if (flags & (TCP_FIN | TCP_RST))
        return NAT_TCP_CLOSING;
    if ((flags & (TCP_SYN | TCP_ACK)) == TCP_SYN) {
        /* A SYN on a closing connection reuses its ports: a new connection. */
        return cur == NAT_TCP_ESTABLISHED ? cur : NAT_TCP_SYN;
    }
    if (flags & TCP_ACK)
        return cur == NAT_TCP_CLOSING ? cur : NAT_TCP_ESTABLISHED;
    return cur == NAT_TCP_NONE ? NAT_TCP_ESTABLISHED : cur;
}

static bool ct_match(const struct ct_entry *e, const struct nat_tuple *k)
{
    return e->live && e->zone == k->zone && e->src == k->src && e->dst == k->dst && e->sport == k->sport &&
           e->dport == k->dport && e->proto == k->proto;
}

static uint64_t ct_hash(const struct nat_tuple *tuple)
{
    struct nat_key k;

    nat_key_set(&k, tuple, NAT_KEY_CT);
    return nat_key_hash(&k);
}

static uint64_t ct_entry_hash(const struct ct_entry *e)
{
    struct nat_tuple tu = {.zone = e->zone, .src = e->src, .dst = e->dst, .sport = e->sport, .dport = e->dport,
                           .proto = e->proto};

    return ct_hash(&tu);
}

uint32_t nat_ct_find(const struct nat_tables *t, const struct nat_tuple *tuple)
{
    struct htab_iter it;

    for (uint32_t v = htab_find_first(t->ct_idx, ct_hash(tuple), &it); v != HTAB_NONE; v = htab_find_next(&it))
        if (ct_match(&t->ct[v], tuple))
            return v;
    return HTAB_NONE;
}

int nat_ct_add(struct nat_tables *t, const struct nat_tuple *tuple, uint8_t tcp_state, uint64_t last_ns,
               uint32_t *idx_out)
{
    uint32_t i = t->ct_free;
    struct ct_entry *e;

    if (i == HTAB_NONE) {
        t->st.ct_full++;
        return -ENOSPC;
    }
    e = &t->ct[i];
    if (htab_insert(t->ct_idx, ct_hash(tuple), i) < 0) {
        t->st.ct_full++;
        return -ENOSPC;
    }
    t->ct_free = e->next_free;
    e->zone = tuple->zone;
    e->src = tuple->src;
    e->dst = tuple->dst;
    e->sport = tuple->sport;
    e->dport = tuple->dport;
    e->proto = tuple->proto;
    e->tcp_state = tcp_state;
    e->last_ns = last_ns;
    e->live = 1;
    t->ct_live++;
    *idx_out = i;
    return 0;
}

static void ct_free(struct nat_tables *t, uint32_t i)
{
    struct ct_entry *e = &t->ct[i];
    bool removed = htab_remove(t->ct_idx, ct_entry_hash(e), i);

    RP_ASSERT(removed);
    e->live = 0;
    e->gen++;
    e->next_free = t->ct_free;
    t->ct_free = i;
    t->ct_live--;
}

static void ct_ref(const struct nat_tables *t, uint32_t i, struct nat_state_ref *ref)
{
    if (ref)
        *ref = (struct nat_state_ref){.idx = i, .gen = t->ct[i].gen, .type = NAT_STATE_CT};
}

uint32_t nat_ct_find_live(struct nat_tables *t, const struct nat_tuple *tuple, uint64_t now_ns)
{
    uint32_t i = nat_ct_find(t, tuple);

    if (i != HTAB_NONE &&
        nat_idle_past(now_ns, t->ct[i].last_ns, nat_timeout_ns(t, t->ct[i].proto, t->ct[i].tcp_state))) {
        ct_free(t, i);
        t->st.ct_expired++;
        return HTAB_NONE;
    }
    return i;
}

bool nat_ct_is_return(struct nat_tables *t, const struct nat_tuple *tuple, uint64_t now_ns)
{
    struct nat_tuple rev = nat_tuple_reverse(tuple);
    uint32_t i = nat_ct_find_live(t, &rev, now_ns);

    if (i == HTAB_NONE)
        return false;
    if (now_ns > t->ct[i].last_ns)
        t->ct[i].last_ns = now_ns;
    return true;
}

int nat_ct_commit(struct nat_tables *t, const struct nat_tuple *tuple, uint8_t tcp_flags, uint64_t now_ns,
                  struct nat_state_ref *ref_out)
{
    uint32_t i;
    int rc;

    if (!tuple->proto)
        return -EINVAL;
    i = nat_ct_find_live(t, tuple, now_ns);
    if (i != HTAB_NONE) {
        struct ct_entry *e = &t->ct[i];

        e->tcp_state = nat_tcp_next(e->proto, e->tcp_state, tcp_flags);
        if (now_ns > e->last_ns)
            e->last_ns = now_ns;
        ct_ref(t, i, ref_out);
        return -EEXIST;
    }
    rc = nat_ct_add(t, tuple, nat_tcp_next(tuple->proto, NAT_TCP_NONE, tcp_flags), now_ns, &i);
    if (rc < 0)
        return rc;
    ct_ref(t, i, ref_out);
    return 0;
}

int nat_ct_update(struct nat_tables *t, const struct nat_tuple *tuple, uint8_t tcp_flags, uint64_t now_ns)
{
    uint32_t i = nat_ct_find_live(t, tuple, now_ns);

    if (i == HTAB_NONE) {
        struct nat_tuple rev = nat_tuple_reverse(tuple);

        i = nat_ct_find_live(t, &rev, now_ns);
        if (i == HTAB_NONE)
            return -ENOENT;
    }
    nat_ct_touch(t, i, t->ct[i].gen, tcp_flags, now_ns);
    return 0;
}

bool nat_ct_touch(struct nat_tables *t, uint32_t idx, uint32_t gen, uint8_t flags, uint64_t now_ns)
{
    struct ct_entry *e;

    if (idx >= t->cfg.max_conntrack)
        return false;
    e = &t->ct[idx];
    if (!e->live || e->gen != gen || nat_idle_past(now_ns, e->last_ns, nat_timeout_ns(t, e->proto, e->tcp_state)))
        return false;
    if (flags)
        e->tcp_state = nat_tcp_next(e->proto, e->tcp_state, flags);
    if (now_ns > e->last_ns)
        e->last_ns = now_ns;
    return true;
}

unsigned nat_ct_expire_some(struct nat_tables *t, uint64_t now_ns, unsigned *work)
{
    uint32_t n = t->cfg.max_conntrack, i = (uint32_t)t->ct_cursor;
    unsigned removed = 0;

    while (*work > 0) {
        struct ct_entry *e = &t->ct[i];

        if (e->live && nat_idle_past(now_ns, e->last_ns, nat_timeout_ns(t, e->proto, e->tcp_state))) {
            ct_free(t, i);
            removed++;
        }
        (*work)--;
        if (++i == n) {
            i = 0;
            break;  /* one full pass at most per call: let the NAT pool have its turn */
        }
    }
    t->ct_cursor = i;
    t->st.ct_expired += removed;
    return removed;
}
