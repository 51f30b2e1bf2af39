/*
 * nat/nat_state.c: flow state as records, their versioned wire encoding,
 * and installing received state.
 *
 * The decoder reads input from other hosts, so it checks every length
 * before it reads and every field before it hands a record on; the layout
 * is in nat/nat.h. Fields are written and read one byte-order-explicit
 * helper at a time: no struct is overlaid on the buffer.
 */
#include "nat/nat_impl.h"

#include <errno.h>
#include <string.h>

#define REC_HDR_LEN 4

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    put_be16(p, (uint16_t)(v >> 16));
    put_be16(p + 2, (uint16_t)v);
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)get_be16(p) << 16 | get_be16(p + 2);
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static bool has_ports(uint8_t proto)
{
    return proto == IP_PROTO_TCP || proto == IP_PROTO_UDP || proto == IP_PROTO_ICMP;
}

static bool is_binding(uint8_t type)
{
    return type == NAT_STATE_SNAT || type == NAT_STATE_DNAT;
}

/* The field rules, shared by encode (refuse to send nonsense) and decode. */
static bool rec_valid(const struct nat_state_rec *r)
{
    const struct nat_tuple *t = &r->tuple;

    if (r->type != NAT_STATE_CT && !is_binding(r->type))
        return false;
    if (!t->proto || r->tcp_state > NAT_TCP_CLOSING || (t->proto != IP_PROTO_TCP && r->tcp_state))
        return false;
    if (!has_ports(t->proto) && (t->sport || t->dport))
        return false;
    if (r->type == NAT_STATE_CT)
        return !r->xaddr && !r->xport;
    /* A binding translates ports exactly when its protocol has them. */
    return has_ports(t->proto) ? r->xport != 0 : r->xport == 0;
}

/* --- records from the tables ------------------------------------------------------- */

static uint32_t idle_ms(uint64_t now_ns, uint64_t last_ns)
{
    uint64_t ms = now_ns > last_ns ? (now_ns - last_ns) / 1000000 : 0;

    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

int nat_state_export(const struct nat_tables *t, const struct nat_state_ref *ref, uint64_t now_ns,
                     struct nat_state_rec *out)
{
    if (!nat_ref_valid(t, ref))
        return -ESTALE;
    memset(out, 0, sizeof(*out));
    out->type = ref->type;
    if (ref->type == NAT_STATE_CT) {
        const struct ct_entry *e = &t->ct[ref->idx];

        out->tuple = (struct nat_tuple){.zone = e->zone, .src = e->src, .dst = e->dst, .sport = e->sport,
                                        .dport = e->dport, .proto = e->proto};
        out->tcp_state = e->tcp_state;
        out->idle_ms = idle_ms(now_ns, e->last_ns);
    } else {
        const struct nat_entry *e = &t->nat[ref->idx];

        out->tuple = (struct nat_tuple){.zone = e->zone, .src = e->src, .dst = e->dst, .sport = e->sport,
                                        .dport = e->dport, .proto = e->proto};
        out->tcp_state = e->tcp_state;
        out->xaddr = e->xaddr;
        out->xport = e->xport;
        out->idle_ms = idle_ms(now_ns, e->last_ns);
    }
    return 0;
}

/* --- encoding ---------------------------------------------------------------------------- */

int nat_state_encode(const struct nat_state_rec *recs, unsigned n, uint8_t *buf, size_t cap, size_t *len_out)
{
    size_t off = NAT_STATE_HDR_LEN;

    for (unsigned i = 0; i < n; i++) {
        if (!rec_valid(&recs[i]))
            return -EINVAL;
        off += is_binding(recs[i].type) ? NAT_STATE_NAT_LEN : NAT_STATE_CT_LEN;
    }
    if (off > cap || off > UINT32_MAX)
        return -ENOSPC;
    put_be32(buf, NAT_STATE_MAGIC);
    buf[4] = NAT_STATE_VERSION_MAJOR;
    buf[5] = NAT_STATE_VERSION_MINOR;
    put_be16(buf + 6, 0);
    put_be32(buf + 8, n);
    put_be32(buf + 12, (uint32_t)off);
    off = NAT_STATE_HDR_LEN;
    for (unsigned i = 0; i < n; i++) {
        const struct nat_state_rec *r = &recs[i];
        uint8_t *p = buf + off;
        uint16_t rlen = is_binding(r->type) ? NAT_STATE_NAT_LEN : NAT_STATE_CT_LEN;

        p[0] = r->type;
        p[1] = 0;
        put_be16(p + 2, rlen);
        put_be64(p + 4, r->tuple.zone);
        memcpy(p + 12, &r->tuple.src, 4);   /* already network order */
        memcpy(p + 16, &r->tuple.dst, 4);
        memcpy(p + 20, &r->tuple.sport, 2);
        memcpy(p + 22, &r->tuple.dport, 2);
        p[24] = r->tuple.proto;
        p[25] = r->tcp_state;
        put_be32(p + 26, r->idle_ms);
        if (is_binding(r->type)) {
            memcpy(p + 30, &r->xaddr, 4);
            memcpy(p + 34, &r->xport, 2);
        }
        off += rlen;
    }
    *len_out = off;
    return 0;
}

int nat_state_decode(const uint8_t *buf, size_t len, struct nat_state_rec *recs, unsigned max, unsigned *n_out)
{
    uint32_t count, total;
    size_t off = NAT_STATE_HDR_LEN;

    if (!buf || len < NAT_STATE_HDR_LEN || get_be32(buf) != NAT_STATE_MAGIC)
        return -EBADMSG;
    if (buf[4] != NAT_STATE_VERSION_MAJOR)
        return -EPROTONOSUPPORT;
    count = get_be32(buf + 8);
    total = get_be32(buf + 12);
    if (total != len || count > (len - NAT_STATE_HDR_LEN) / NAT_STATE_CT_LEN)
        return -EBADMSG;
    if (count > max)
        return -ENOSPC;
    for (uint32_t i = 0; i < count; i++) {
        struct nat_state_rec *r = &recs[i];
        const uint8_t *p = buf + off;
        uint16_t rlen, need;

        if (len - off < REC_HDR_LEN)
            return -EBADMSG;
        if (p[0] != NAT_STATE_CT && !is_binding(p[0]))
            return -EINVAL;
        rlen = get_be16(p + 2);
        need = is_binding(p[0]) ? NAT_STATE_NAT_LEN : NAT_STATE_CT_LEN;
        if (rlen < need || rlen > len - off)
            return -EBADMSG;
        memset(r, 0, sizeof(*r));
        r->type = p[0];
        r->tuple.zone = get_be64(p + 4);
        memcpy(&r->tuple.src, p + 12, 4);
        memcpy(&r->tuple.dst, p + 16, 4);
        memcpy(&r->tuple.sport, p + 20, 2);
        memcpy(&r->tuple.dport, p + 22, 2);
        r->tuple.proto = p[24];
        r->tcp_state = p[25];
        r->idle_ms = get_be32(p + 26);
        if (is_binding(r->type)) {
            memcpy(&r->xaddr, p + 30, 4);
            memcpy(&r->xport, p + 34, 2);
        }
        if (!rec_valid(r))
            return -EINVAL;
        off += rlen;   /* a newer minor version's extra fields are skipped */
    }
    if (off != len)
        return -EBADMSG;
    *n_out = count;
    return 0;
}

/* --- installing on a peer --------------------------------------------------------------------- */

static bool install_ct(struct nat_tables *t, const struct nat_state_rec *r, uint64_t last_ns, uint64_t now_ns)
{
    uint32_t i = nat_ct_find_live(t, &r->tuple, now_ns);

    if (i != HTAB_NONE) {
        struct ct_entry *e = &t->ct[i];

        if (last_ns > e->last_ns)
            e->last_ns = last_ns;
        if (r->tcp_state)
            e->tcp_state = r->tcp_state;
        return true;
    }
    if (nat_ct_add(t, &r->tuple, r->tcp_state, last_ns, &i) < 0)
        return false;
    t->st.installed++;
    return true;
}

static bool install_binding(struct nat_tables *t, const struct nat_state_rec *r, uint64_t last_ns, uint64_t now_ns)
{
    struct nat_key k;
    struct nat_tuple reply;
    struct nat_entry probe = {.zone = r->tuple.zone, .src = r->tuple.src, .dst = r->tuple.dst,
                              .sport = r->tuple.sport, .dport = r->tuple.dport, .proto = r->tuple.proto,
                              .kind = r->type, .xaddr = r->xaddr, .xport = r->xport};
    uint32_t i;

    nat_key_set(&k, &r->tuple, r->type);
    i = nat_entry_find_live(t, &k, now_ns);
    if (i != HTAB_NONE) {
        struct nat_entry *e = &t->nat[i];

        if (e->xaddr != r->xaddr || e->xport != r->xport) {
            t->st.install_conflicts++;
            return false;
        }
        if (last_ns > e->last_ns)
            e->last_ns = last_ns;
        if (r->tcp_state)
            e->tcp_state = r->tcp_state;
        return true;
    }
    nat_entry_reply(&probe, &reply);
    if (nat_reply_taken(t, r->type, &reply, now_ns)) {
        t->st.install_conflicts++;
        return false;
    }
    if (nat_entry_add(t, r->type, &r->tuple, r->xaddr, r->xport, r->tcp_state, last_ns, NAT_EF_PEER, UINT32_MAX,
                      &i) < 0)
        return false;
    t->st.installed++;
    return true;
}

unsigned nat_state_install(struct nat_tables *t, const struct nat_state_rec *recs, unsigned n, uint64_t now_ns)
{
    unsigned present = 0;

    for (unsigned i = 0; i < n; i++) {
        const struct nat_state_rec *r = &recs[i];
        uint64_t idle_ns = (uint64_t)r->idle_ms * 1000000;
        uint64_t last_ns = now_ns > idle_ns ? now_ns - idle_ns : 0;

        /* Already past its timeout at the sender: nothing to keep. */
        if (!rec_valid(r) || nat_idle_past(now_ns, last_ns, nat_timeout_ns(t, r->tuple.proto, r->tcp_state)))
            continue;
        present += r->type == NAT_STATE_CT ? install_ct(t, r, last_ns, now_ns) : install_binding(t, r, last_ns, now_ns);
    }
    return present;
}
