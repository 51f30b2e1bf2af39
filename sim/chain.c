/*
 * sim/chain.c: rule chains, conntrack conditions, NAT actions and floating
 * IPs.
 *
 * A chain is evaluated rule by rule in position order; a rule matches when
 * every condition it has holds (each XOR its inv_ flag). Actions: accept,
 * drop and reject end the evaluation; continue goes on; jump evaluates
 * another chain and comes back after the jump rule when it returns or
 * ends; return leaves the current chain (at the top: accept); the end of
 * the top chain accepts. NAT actions translate and accept, except a
 * reverse translation that finds nothing to reverse, which is a no-op (the
 * chain goes on), so one chain can hold rev_snat rules for several pools.
 *
 * Work is bounded twice: jumps nest at most SIM_MAX_JUMPS deep, and one
 * chain evaluation looks at most CHAIN_MAX_STEPS rules (a chain that jumps
 * to itself from several rules would otherwise grow exponentially); either
 * limit drops with "chain loop".
 *
 * NAT with a port range is stateful (nat/nat.h decides and remembers the
 * binding; new bindings go to result.new_state). Without a port range it is
 * static: the address moves by its offset from the rule's matching prefix
 * (nw_src for snat and rev_dnat, nw_dst for dnat and rev_snat) into the
 * target ranges, ports untouched, nothing remembered; a static reverse rule
 * therefore carries its own targets (the private range). An ICMP error is
 * translated with the packet it quotes (RFC 5508): the outer address and
 * the quoted one move together.
 */
#include "nat/nat.h"
#include "sim/engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#define CHAIN_MAX_STEPS 4096

/* --- packet fields as the conditions see them --------------------------------------- */

/* Network-layer fields; ARP maps sender/target addresses and the opcode
 * onto them, as OpenFlow does. */
static bool nw_fields(const struct sim_pkt *p, uint32_t *src, uint32_t *dst, uint8_t *proto)
{
    if (p->eth_type == SIM_ETH_IP) {
        *src = p->ip_src;
        *dst = p->ip_dst;
        *proto = p->proto;
        return true;
    }
    if (p->eth_type == SIM_ETH_ARP) {
        *src = p->arp_spa;
        *dst = p->arp_tpa;
        *proto = (uint8_t)p->arp_op;
        return true;
    }
    return false;
}

/* Transport fields: ports, or ICMP type and code; none for later
 * fragments, which carry no transport header. */
static bool tp_fields(const struct sim_pkt *p, uint16_t *src, uint16_t *dst)
{
    if (p->eth_type != SIM_ETH_IP || p->fragment == SIM_PKT_FRAG_LATER)
        return false;
    if (icmp_has_ports(p)) {
        *src = p->src_port;
        *dst = p->dst_port;
        return true;
    }
    if (p->proto == SIM_PROTO_ICMP) {
        *src = p->icmp_type;
        *dst = p->icmp_code;
        return true;
    }
    return false;
}

static bool port_in(const struct sim_port *p, struct sim_port *const *list, uint32_t n)
{
    for (uint32_t i = 0; p && i < n; i++)
        if (list[i] == p)
            return true;
    return false;
}

static bool group_has(struct sim_ctx *c, const struct sim_port_group *g, const struct sim_port *p)
{
    eng_tag(c, SIM_TAG_GROUP, &g->obj.id, 0);
    return p && eng_index(c, g, (uint64_t)(uintptr_t)p, ENG_IX_GROUP_PORT) != NULL;
}

static bool ip_group_has(struct sim_ctx *c, const struct sim_ip_group *g, uint32_t a)
{
    uint32_t lo = 0, hi = g->n_addrs;

    eng_tag(c, SIM_TAG_GROUP, &g->obj.id, 0);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (g->addrs[mid] == a)
            return true;
        if (g->addrs[mid] < a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool mac_match(const uint8_t m[6], const uint8_t want[6], const uint8_t mask[6])
{
    for (int i = 0; i < 6; i++)
        if ((m[i] ^ want[i]) & mask[i])
            return false;
    return true;
}

static bool frag_match(enum sim_frag_policy pol, uint8_t frag)
{
    switch (pol) {
    case SIM_FRAG_HEADER:
        return frag != SIM_PKT_FRAG_LATER;
    case SIM_FRAG_NONHEADER:
        return frag == SIM_PKT_FRAG_LATER;
    case SIM_FRAG_UNFRAGMENTED:
        return frag == SIM_PKT_FRAG_NONE;
    default:
        return true;
    }
}

/* --- conntrack ---------------------------------------------------------------------------- */

/* What one chain evaluation knows about the packet's connection. The key
 * is taken when the evaluation starts: NAT actions end an evaluation, so
 * every condition sees the packet as it entered the chain. */
struct ct_view {
    int8_t is_return;          /* -1 not looked up yet */
    bool committable;
    bool wanted;               /* a chain evaluated has a conntrack condition */
    struct sim_commit key;     /* the packet's forward key, to commit */
};

static bool ct_lookup_return(struct sim_ctx *c, const struct sim_commit *fwd);   /* nat adapter below */
static bool ct_lookup_related(struct sim_ctx *c, const struct sim_commit *quoted);

static void flow_key(const struct sim_pkt *p, uint64_t zone, struct sim_commit *k)
{
    memset(k, 0, sizeof(*k));
    k->zone = zone;
    k->src = p->ip_src;
    k->dst = p->ip_dst;
    k->proto = p->proto;
    k->tcp_flags = p->tcp_flags;
    if (icmp_has_ports(p)) {
        k->sport = p->src_port;
        k->dport = p->dst_port;
    } else if (icmp_is_echo(p)) {
        /* nat/'s convention: the identifier on both sides, so that the
         * reversed tuple of a request is its reply's. */
        k->sport = k->dport = p->icmp_id;
    }
}

/* The tuple of the packet an ICMP error quotes. */
static void quoted_key(const struct sim_pkt *p, uint64_t zone, struct sim_commit *k)
{
    memset(k, 0, sizeof(*k));
    k->zone = zone;
    k->src = p->embedded.ip_src;
    k->dst = p->embedded.ip_dst;
    k->proto = p->embedded.proto;
    if (k->proto == SIM_PROTO_ICMP) {
        k->sport = k->dport = p->embedded.icmp_id;
    } else {
        k->sport = p->embedded.src_port;
        k->dport = p->embedded.dst_port;
    }
}

static void key_reverse(struct sim_commit *k)
{
    uint32_t a = k->src;
    uint16_t pt = k->sport;

    k->src = k->dst;
    k->dst = a;
    k->sport = k->dport;
    k->dport = pt;
}

static bool ct_is_return(struct sim_ctx *c, const struct sim_pkt *p, const struct sim_device *dev,
                         struct ct_view *ct)
{
    if (ct->is_return >= 0)
        return ct->is_return;
    ct->is_return = 0;
    ct->committable = false;
    if (p->eth_type != SIM_ETH_IP)
        return false;
    if (icmp_is_error(p)) {
        /* An error about a connection we let out is part of it. */
        struct sim_commit q;
        if (!p->has_embedded)
            return false;
        quoted_key(p, dev->zone, &q);
        ct->is_return = ct_lookup_related(c, &q);
        return ct->is_return;
    }
    flow_key(p, dev->zone, &ct->key);
    ct->is_return = ct_lookup_return(c, &ct->key);
    ct->committable = !ct->is_return;
    return ct->is_return;
}

/* --- conditions ------------------------------------------------------------------------------ */

#define COND(bit, expr)                                                                                              \
    do {                                                                                                         \
        if ((r->cond & (bit)) && (bool)(expr) == !!(r->inv & (bit)))                                             \
            return false;                                                                                        \
    } while (0)

static bool rule_matches(struct sim_ctx *c, const struct sim_item *it, const struct sim_device *dev,
                         const struct sim_rule *r, const struct sim_port *in, const struct sim_port *out,
                         struct ct_view *ct)
{
    const struct sim_pkt *p = &it->pkt;
    uint32_t nsrc = 0, ndst = 0;
    uint16_t tsrc = 0, tdst = 0;
    uint8_t nproto = 0;
    bool has_nw, has_tp;

    if (!r->cond)
        return true;
    COND(SIM_C_IN_PORTS, port_in(in, r->in_ports, r->n_in_ports));
    COND(SIM_C_OUT_PORTS, port_in(out, r->out_ports, r->n_out_ports));
    COND(SIM_C_PORT_GROUP, r->port_group && (group_has(c, r->port_group, in) || group_has(c, r->port_group, out)));
    COND(SIM_C_IN_PORT_GROUP, r->in_port_group && group_has(c, r->in_port_group, in));
    COND(SIM_C_OUT_PORT_GROUP, r->out_port_group && group_has(c, r->out_port_group, out));
    COND(SIM_C_ETH_TYPE, p->eth_type == r->eth_type);
    COND(SIM_C_ETH_SRC, mac_match(p->eth_src, r->eth_src, r->eth_src_mask));
    COND(SIM_C_ETH_DST, mac_match(p->eth_dst, r->eth_dst, r->eth_dst_mask));
    if (r->cond & (SIM_C_IP_GROUP_SRC | SIM_C_IP_GROUP_DST | SIM_C_NW_SRC | SIM_C_NW_DST | SIM_C_NW_PROTO |
                   SIM_C_NW_TOS)) {
        has_nw = nw_fields(p, &nsrc, &ndst, &nproto);
        COND(SIM_C_IP_GROUP_SRC, has_nw && r->ip_group_src && ip_group_has(c, r->ip_group_src, nsrc));
        COND(SIM_C_IP_GROUP_DST, has_nw && r->ip_group_dst && ip_group_has(c, r->ip_group_dst, ndst));
        COND(SIM_C_NW_SRC, has_nw && eng_prefix_has(r->nw_src, nsrc));
        COND(SIM_C_NW_DST, has_nw && eng_prefix_has(r->nw_dst, ndst));
        COND(SIM_C_NW_PROTO, has_nw && nproto == r->nw_proto);
        COND(SIM_C_NW_TOS, p->eth_type == SIM_ETH_IP && p->tos == r->nw_tos);
    }
    if (r->cond & (SIM_C_TP_SRC | SIM_C_TP_DST)) {
        /* No transport header (later fragments, other protocols): a rule
         * about ports says nothing about the packet, inverted or not. */
        has_tp = tp_fields(p, &tsrc, &tdst);
        if (!has_tp)
            return false;
        COND(SIM_C_TP_SRC, tsrc >= r->tp_src.from && tsrc <= r->tp_src.to);
        COND(SIM_C_TP_DST, tdst >= r->tp_dst.from && tdst <= r->tp_dst.to);
    }
    if ((r->cond & SIM_C_FRAGMENT) && !frag_match(r->fragment_policy, p->fragment))
        return false;
    if (r->cond & (SIM_C_FORWARD_FLOW | SIM_C_RETURN_FLOW)) {
        bool ret = ct_is_return(c, p, dev, ct);
        COND(SIM_C_FORWARD_FLOW, !ret);
        COND(SIM_C_RETURN_FLOW, ret);
    }
    return true;
}

/* --- address rewriting -------------------------------------------------------------------------- */

/* Source moves a -> b (port sp -> np when np != 0). An ICMP error's quote
 * names the source as its destination, which moves with it. */
static void set_src(struct sim_pkt *p, uint32_t b, uint16_t np)
{
    if (icmp_is_error(p) && p->has_embedded && p->embedded.ip_dst == p->ip_src) {
        p->embedded.ip_dst = b;
        if (np) {
            if (p->embedded.proto == SIM_PROTO_ICMP)
                p->embedded.icmp_id = np;
            else
                p->embedded.dst_port = np;
        }
    }
    p->ip_src = b;
    if (np && icmp_has_ports(p))
        p->src_port = np;
    else if (np && icmp_is_echo(p))
        p->icmp_id = np;
}

static void set_dst(struct sim_pkt *p, uint32_t b, uint16_t np)
{
    if (icmp_is_error(p) && p->has_embedded && p->embedded.ip_src == p->ip_dst) {
        p->embedded.ip_src = b;
        if (np) {
            if (p->embedded.proto == SIM_PROTO_ICMP)
                p->embedded.icmp_id = np;
            else
                p->embedded.src_port = np;
        }
    }
    p->ip_dst = b;
    if (np && icmp_has_ports(p))
        p->dst_port = np;
    else if (np && icmp_is_echo(p))
        p->icmp_id = np;
}

static uint16_t pkt_sport(const struct sim_pkt *p)
{
    return icmp_is_echo(p) ? p->icmp_id : icmp_has_ports(p) ? p->src_port : 0;
}

static uint16_t pkt_dport(const struct sim_pkt *p)
{
    return icmp_is_echo(p) ? p->icmp_id : icmp_has_ports(p) ? p->dst_port : 0;
}

static void note_nat(struct sim_ctx *c, const char *what, uint32_t a, uint16_t ap, uint32_t b, uint16_t bp)
{
    if (!eng_tracing(c))
        return;
    if (ap || bp)
        eng_note(c, "%s " ENG_IP_FMT ":%u -> " ENG_IP_FMT ":%u", what, ENG_IP(a), ap, ENG_IP(b), bp);
    else
        eng_note(c, "%s " ENG_IP_FMT " -> " ENG_IP_FMT, what, ENG_IP(a), ENG_IP(b));
}

/* --- floating IPs ---------------------------------------------------------------------------------- */

void chain_fip_dnat(struct sim_ctx *c, struct sim_item *it, const struct sim_device *router)
{
    struct sim_pkt *p = &it->pkt;
    const struct eng_entry *e;
    const struct sim_floating_ip *f;

    if (!router->n_fips || p->eth_type != SIM_ETH_IP)
        return;
    e = eng_index(c, router, p->ip_dst, ENG_IX_FIP_PUB);
    if (!e)
        return;
    f = e->obj;
    eng_tag(c, SIM_TAG_DEVICE, &f->obj.id, 0);
    note_nat(c, "fip dnat", p->ip_dst, 0, f->fixed_ip, 0);
    set_dst(p, f->fixed_ip, 0);
}

void chain_fip_snat(struct sim_ctx *c, struct sim_item *it, const struct sim_device *router,
                    const struct sim_port *out)
{
    struct sim_pkt *p = &it->pkt;
    const struct eng_entry *e;
    const struct sim_floating_ip *f;
    const struct sim_device *next;

    if (!router->n_fips || p->eth_type != SIM_ETH_IP)
        return;
    e = eng_index(c, router, p->ip_src, ENG_IX_FIP_FIXED);
    if (!e)
        return;
    f = e->obj;
    /* Only towards the provider side: east-west traffic between a
     * tenant's own subnets keeps its private addresses. */
    next = out->peer ? out->peer->device : NULL;
    if (next != f->router && !(router == f->router && (!next || eng_is_router(next))))
        return;
    eng_tag(c, SIM_TAG_DEVICE, &f->obj.id, 0);
    note_nat(c, "fip snat", p->ip_src, 0, f->addr, 0);
    set_src(p, f->addr, 0);
    it->fip_snat = true;
}

/* --- NAT actions --------------------------------------------------------------------------------------- */

enum nat_res { NAT_DONE, NAT_NOOP, NAT_FAIL };

static enum nat_res nat_stateful(struct sim_ctx *c, struct sim_item *it, const struct sim_device *dev,
                                 const struct sim_rule *r, const char **reason);   /* nat adapter below */

static bool is_static(const struct sim_rule *r)
{
    for (uint32_t i = 0; i < r->n_nat_targets; i++)
        if (r->nat_targets[i].port_from || r->nat_targets[i].port_to)
            return false;
    return r->n_nat_targets > 0;
}

#define CHAIN_MAX_TARGETS 16   /* nat targets of one rule that are used */

static unsigned targets_of(const struct sim_rule *r, struct nat_target *tg)
{
    unsigned n = r->n_nat_targets < CHAIN_MAX_TARGETS ? r->n_nat_targets : CHAIN_MAX_TARGETS;

    for (unsigned i = 0; i < n; i++)
        tg[i] = (struct nat_target){htonl(r->nat_targets[i].addr_from), htonl(r->nat_targets[i].addr_to),
                                    r->nat_targets[i].port_from, r->nat_targets[i].port_to};
    return n;
}

/* Static NAT: the address at its offset from the rule's own prefix (nw_src
 * for snat and rev_dnat, nw_dst for dnat and rev_snat) in the targets. */
static enum nat_res nat_static(struct sim_ctx *c, struct sim_item *it, const struct sim_rule *r)
{
    struct sim_pkt *p = &it->pkt;
    bool src = r->action == SIM_ACT_SNAT || r->action == SIM_ACT_REV_DNAT;
    struct sim_prefix base = src ? r->nw_src : r->nw_dst;
    uint32_t a = src ? p->ip_src : p->ip_dst;
    struct nat_target tg[CHAIN_MAX_TARGETS];
    unsigned n = targets_of(r, tg);
    rp_be32 out;

    if (nat_static_map(htonl(base.len ? base.addr : 0), tg, n, htonl(a), &out) < 0)
        return NAT_NOOP;   /* the address is outside what the rule maps */
    note_nat(c, r->action == SIM_ACT_SNAT ? "static snat" : r->action == SIM_ACT_DNAT ? "static dnat"
                : r->action == SIM_ACT_REV_SNAT ? "static rev_snat" : "static rev_dnat",
             a, 0, ntohl(out), 0);
    if (src)
        set_src(p, ntohl(out), 0);
    else
        set_dst(p, ntohl(out), 0);
    return NAT_DONE;
}

static enum nat_res nat_action(struct sim_ctx *c, struct sim_item *it, const struct sim_device *dev,
                               const struct sim_rule *r, const char **reason)
{
    if (it->pkt.eth_type != SIM_ETH_IP)
        return NAT_NOOP;
    if (r->action == SIM_ACT_SNAT && it->fip_snat) {
        eng_note(c, "snat skipped: floating ip");
        return NAT_DONE;
    }
    if (is_static(r))
        return nat_static(c, it, r);
    if ((r->action == SIM_ACT_SNAT || r->action == SIM_ACT_DNAT) && !r->n_nat_targets)
        return NAT_NOOP;
    return nat_stateful(c, it, dev, r, reason);
}

/* --- the chain ------------------------------------------------------------------------------------------ */

enum chain_res chain_run(struct sim_ctx *c, struct sim_item *it, const struct sim_device *dev,
                         const struct sim_chain *ch, const struct sim_port *in, const struct sim_port *out,
                         const char **reason)
{
    struct {
        const struct sim_chain *ch;
        uint32_t next;
    } st[SIM_MAX_JUMPS];
    struct ct_view ct = {.is_return = -1};
    enum chain_res res = CHAIN_ACCEPT;
    uint32_t depth = 0, steps = 0;
    struct sim_pkt entry;

    if (!ch)
        return CHAIN_ACCEPT;
    st[0].ch = ch;
    st[0].next = 0;
    eng_tag(c, SIM_TAG_CHAIN, &ch->obj.id, 0);
    ct.wanted = eng_index(c, ch, 0, ENG_IX_CHAIN_CT) != NULL;
    if (ct.wanted)
        entry = it->pkt;
    for (;;) {
        const struct sim_rule *r;

        if (st[depth].next >= st[depth].ch->n_rules) {
            if (depth == 0)
                break;
            depth--;
            continue;
        }
        if (++steps > CHAIN_MAX_STEPS) {
            *reason = "chain loop";
            res = CHAIN_DROP;
            break;
        }
        r = st[depth].ch->rules[st[depth].next++];
        eng_tag(c, SIM_TAG_RULE, &r->obj.id, 0);
        if (!rule_matches(c, it, dev, r, in, out, &ct))
            continue;
        eng_hop_rule(c, r);
        switch (r->action) {
        case SIM_ACT_ACCEPT:
            goto done;
        case SIM_ACT_DROP:
            *reason = "rule drop";
            res = CHAIN_DROP;
            goto done;
        case SIM_ACT_REJECT:
            *reason = "rule reject";
            res = CHAIN_REJECT;
            goto done;
        case SIM_ACT_CONTINUE:
            continue;
        case SIM_ACT_JUMP:
            if (!r->jump_chain)
                continue;
            if (depth + 1 >= SIM_MAX_JUMPS) {
                *reason = "chain loop";
                res = CHAIN_DROP;
                goto done;
            }
            depth++;
            st[depth].ch = r->jump_chain;
            st[depth].next = 0;
            eng_tag(c, SIM_TAG_CHAIN, &r->jump_chain->obj.id, 0);
            if (!ct.wanted && eng_index(c, r->jump_chain, 0, ENG_IX_CHAIN_CT)) {
                ct.wanted = true;
                entry = it->pkt;   /* unchanged so far: NAT would have ended the evaluation */
            }
            continue;
        case SIM_ACT_RETURN:
            if (depth == 0)
                goto done;
            depth--;
            continue;
        default:
            switch (nat_action(c, it, dev, r, reason)) {
            case NAT_DONE:
                goto done;
            case NAT_NOOP:
                continue;
            case NAT_FAIL:
                res = CHAIN_DROP;
                goto done;
            }
        }
    }
done:
    /* A chain that tells connections apart remembers the ones it lets
     * through, whether or not a conntrack condition was reached. */
    if (ct.wanted && res == CHAIN_ACCEPT) {
        if (ct.is_return < 0)
            ct_is_return(c, &entry, dev, &ct);
        if (ct.committable)
            eng_commit_later(c, &ct.key);
    }
    return res;
}


/* --- NAT adapter: every call into nat/nat.h is below -------------------------------------------- */

/* nat/ keeps packet fields in network order; the simulator in host order. */
static void tuple_of(const struct sim_commit *k, struct nat_tuple *t)
{
    memset(t, 0, sizeof(*t));
    t->zone = k->zone;
    t->src = htonl(k->src);
    t->dst = htonl(k->dst);
    t->sport = htons(k->sport);
    t->dport = htons(k->dport);
    t->proto = k->proto;
}

static bool ct_lookup_return(struct sim_ctx *c, const struct sim_commit *k)
{
    struct nat_tuple t, fwd;

    tuple_of(k, &t);
    fwd = nat_tuple_reverse(&t);
    eng_tag_state(c, &fwd);   /* the entry it looked for, found or not */
    return nat_ct_is_return(c->s->nat, &t, c->now);
}

/* Is 'quoted' (the packet an ICMP error quotes) a committed forward flow?
 * It is when its reply would be a return flow. */
static bool ct_lookup_related(struct sim_ctx *c, const struct sim_commit *quoted)
{
    struct sim_commit rev = *quoted;

    key_reverse(&rev);
    return ct_lookup_return(c, &rev);
}

int chain_commit(struct sim_ctx *c)
{
    for (uint32_t i = 0; i < c->n_commits; i++) {
        struct nat_tuple t;
        struct nat_state_ref ref;
        int rc;

        if (!c->commits[i].proto)
            continue;
        tuple_of(&c->commits[i], &t);
        rc = nat_ct_commit(c->s->nat, &t, c->commits[i].tcp_flags, c->now, &ref);
        if (rc == 0)
            eng_add_state(c, &ref);
        /* -EEXIST: known already; -ENOSPC: the table is full (nat/ counts
         * it) and return traffic will look new: nothing to undo here. */
    }
    return 0;
}

int chain_nat_default(struct nat_tables **out)
{
    struct nat_config cfg;

    nat_config_default(&cfg);
    return nat_tables_create(out, &cfg);
}

void chain_nat_free(struct nat_tables *nat)
{
    nat_tables_destroy(nat);
}

static enum nat_res nat_forward(struct sim_ctx *c, struct sim_item *it, const struct sim_rule *r,
                                const struct sim_commit *k, const char **reason)
{
    struct sim_pkt *p = &it->pkt;
    bool snat = r->action == SIM_ACT_SNAT;
    enum nat_kind kind = snat ? NAT_KIND_SNAT : NAT_KIND_DNAT;
    struct nat_target tg[CHAIN_MAX_TARGETS];
    struct nat_binding b;
    struct nat_tuple t;
    uint32_t addr;
    uint16_t port;
    int rc;

    tuple_of(k, &t);
    eng_tag_state(c, &t);
    rc = nat_lookup(c->s->nat, kind, &t, c->now, &b);
    if (rc < 0) {
        rc = nat_allocate(c->s->nat, kind, &t, tg, targets_of(r, tg), c->now, &b);
        if (rc == 0) {
            eng_add_state(c, &b.ref);
        } else if (rc != -EEXIST) {
            *reason = rc == -EADDRNOTAVAIL ? (snat ? "snat ports exhausted" : "dnat ports exhausted")
                      : rc == -ENOSPC      ? "nat table full"
                                           : "nat error";
            eng_note(c, "%s", *reason);
            return NAT_FAIL;
        }
    }
    addr = ntohl(b.addr);
    port = ntohs(b.port);
    if (snat) {
        note_nat(c, "snat", p->ip_src, pkt_sport(p), addr, port);
        set_src(p, addr, port);
    } else {
        note_nat(c, "dnat", p->ip_dst, pkt_dport(p), addr, port);
        set_dst(p, addr, port);
    }
    return NAT_DONE;
}

/* rev_snat / rev_dnat: the binding the packet is the reply of. An ICMP
 * error is the reply of the packet it quotes, and the quote moves with the
 * outer header (RFC 5508), as nat_rewrite_icmp_error does on the wire. */
static enum nat_res nat_reverse(struct sim_ctx *c, struct sim_item *it, const struct sim_rule *r,
                                const struct sim_commit *k)
{
    struct sim_pkt *p = &it->pkt;
    bool snat = r->action == SIM_ACT_REV_SNAT, err = icmp_is_error(p);
    struct nat_binding b;
    struct nat_tuple t;
    uint32_t addr;
    uint16_t port;

    tuple_of(k, &t);
    eng_tag_state(c, &t);
    if (nat_reverse_lookup(c->s->nat, snat ? NAT_KIND_SNAT : NAT_KIND_DNAT, &t, c->now, &b) < 0)
        return NAT_NOOP;
    addr = ntohl(b.addr);
    port = ntohs(b.port);
    if (err && snat) {
        note_nat(c, "rev_snat (icmp error)", p->embedded.ip_src, 0, addr, port);
        if (p->ip_dst == p->embedded.ip_src)
            p->ip_dst = addr;
        p->embedded.ip_src = addr;
        if (p->embedded.proto == SIM_PROTO_ICMP)
            p->embedded.icmp_id = port;
        else
            p->embedded.src_port = port;
    } else if (err) {
        note_nat(c, "rev_dnat (icmp error)", p->embedded.ip_dst, 0, addr, port);
        if (p->ip_src == p->embedded.ip_dst)
            p->ip_src = addr;
        p->embedded.ip_dst = addr;
        if (p->embedded.proto == SIM_PROTO_ICMP)
            p->embedded.icmp_id = port;
        else
            p->embedded.dst_port = port;
    } else if (snat) {
        note_nat(c, "rev_snat", p->ip_dst, pkt_dport(p), addr, port);
        set_dst(p, addr, port);
    } else {
        note_nat(c, "rev_dnat", p->ip_src, pkt_sport(p), addr, port);
        set_src(p, addr, port);
    }
    return NAT_DONE;
}

static enum nat_res nat_stateful(struct sim_ctx *c, struct sim_item *it, const struct sim_device *dev,
                                 const struct sim_rule *r, const char **reason)
{
    const struct sim_pkt *p = &it->pkt;
    bool err = icmp_is_error(p);
    struct sim_commit k;

    if (err && !p->has_embedded)
        return NAT_NOOP;
    if (err) {
        /* The reply the quoted packet would get: what a binding reverses. */
        quoted_key(p, dev->zone, &k);
        key_reverse(&k);
    } else {
        flow_key(p, dev->zone, &k);
    }
    if (!k.proto)
        return NAT_NOOP;
    if (r->action == SIM_ACT_SNAT || r->action == SIM_ACT_DNAT)
        return err ? NAT_NOOP : nat_forward(c, it, r, &k, reason);   /* errors never open a binding */
    return nat_reverse(c, it, r, &k);
}
