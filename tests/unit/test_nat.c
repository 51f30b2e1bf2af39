/* nat/: conntrack per zone, TCP timeouts, expiry, SNAT/DNAT decisions,
 * port blocks and their allocator, pool limits, memory per entry.
 * Time is explicit (now values), never slept. */
#include "nat/nat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S 1000000000ull
#define ZONE_A 0x1111222233334444ull
#define ZONE_B 0x5555666677778888ull

static rp_be32 ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    return htonl((uint32_t)a << 24 | (uint32_t)b << 16 | (uint32_t)c << 8 | d);
}

static struct nat_tuple tup(uint64_t zone, uint8_t proto, rp_be32 src, uint16_t sport, rp_be32 dst, uint16_t dport)
{
    return (struct nat_tuple){.zone = zone, .src = src, .dst = dst, .sport = htons(sport), .dport = htons(dport),
                              .proto = proto};
}

static struct nat_tables *mk(uint32_t max_ct, uint32_t max_nat, const struct nat_block_allocator_ops *ops,
                             void *ctx)
{
    struct nat_config cfg;
    struct nat_tables *t = NULL;

    nat_config_default(&cfg);
    cfg.max_conntrack = max_ct;
    cfg.max_nat = max_nat;
    cfg.alloc_ops = ops;
    cfg.alloc_ctx = ctx;
    assert_int_equal(nat_tables_create(&t, &cfg), 0);
    return t;
}

/* A test allocator: the local one underneath, every lease recorded. */
struct rec_alloc {
    struct nat_local_allocator *la;
    unsigned n_leases, n_releases, refuse_after;
    uint16_t first[4096];
    uint16_t pf[4096], pt[4096];
};

static int rec_lease(void *ctx, uint64_t zone, rp_be32 addr, uint16_t pf, uint16_t pt, uint16_t *first)
{
    struct rec_alloc *r = ctx;
    int rc;

    if (r->refuse_after && r->n_leases >= r->refuse_after)
        return -EADDRNOTAVAIL;
    rc = nat_local_allocator_ops.lease(r->la, zone, addr, pf, pt, first);
    if (rc == 0) {
        r->first[r->n_leases] = *first;
        r->pf[r->n_leases] = pf;
        r->pt[r->n_leases] = pt;
        r->n_leases++;
    }
    return rc;
}

static void rec_release(void *ctx, uint64_t zone, rp_be32 addr, uint16_t first)
{
    struct rec_alloc *r = ctx;

    r->n_releases++;
    nat_local_allocator_ops.release(r->la, zone, addr, first);
}

static const struct nat_block_allocator_ops rec_ops = {rec_lease, rec_release};

static struct rec_alloc *rec_new(void)
{
    struct rec_alloc *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    assert_int_equal(nat_local_allocator_create(&r->la), 0);
    return r;
}

static void rec_free(struct rec_alloc *r)
{
    nat_local_allocator_destroy(r->la);
    free(r);
}

static struct nat_target target(rp_be32 a, rp_be32 b, uint16_t pf, uint16_t pt)
{
    return (struct nat_target){.addr_from = a, .addr_to = b, .port_from = pf, .port_to = pt};
}

/* --- conntrack --------------------------------------------------------------- */

static void test_ct_reply_of_a_committed_flow_is_a_return_flow(void **state)
{
    (void)state;
    struct nat_tables *t = mk(1024, 1024, NULL, NULL);
    struct nat_tuple fwd = tup(ZONE_A, IP_PROTO_TCP, ip(10, 0, 0, 5), 40000, ip(8, 8, 8, 8), 443);
    struct nat_tuple rev = nat_tuple_reverse(&fwd);
    struct nat_state_ref ref;

    assert_false(nat_ct_is_return(t, &rev, 1 * S));
    assert_int_equal(nat_ct_commit(t, &fwd, TCP_SYN, 1 * S, &ref), 0);
    assert_int_equal(ref.type, NAT_STATE_CT);
    assert_true(nat_ct_is_return(t, &rev, 2 * S));
    /* The forward direction itself is not a return flow. */
    assert_false(nat_ct_is_return(t, &fwd, 2 * S));
    nat_tables_destroy(t);
}

static void test_ct_state_at_one_zone_is_invisible_at_another(void **state)
{
    (void)state;
    struct nat_tables *t = mk(1024, 1024, NULL, NULL);
    struct nat_tuple fwd = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 5), 5353, ip(10, 0, 0, 9), 53);
    struct nat_tuple rev = nat_tuple_reverse(&fwd);

    assert_int_equal(nat_ct_commit(t, &fwd, 0, 1 * S, NULL), 0);
    rev.zone = ZONE_B;
    assert_false(nat_ct_is_return(t, &rev, 1 * S));
    rev.zone = ZONE_A;
    assert_true(nat_ct_is_return(t, &rev, 1 * S));
    nat_tables_destroy(t);
}

static void test_ct_commit_of_a_known_flow_is_eexist_with_the_same_ref(void **state)
{
    (void)state;
    struct nat_tables *t = mk(1024, 1024, NULL, NULL);
    struct nat_tuple fwd = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 5), 5353, ip(10, 0, 0, 9), 53);
    struct nat_state_ref a, b;
    struct nat_stats st;

    assert_int_equal(nat_ct_commit(t, &fwd, 0, 1 * S, &a), 0);
    assert_int_equal(nat_ct_commit(t, &fwd, 0, 2 * S, &b), -EEXIST);
    assert_memory_equal(&a, &b, sizeof(a));
    nat_get_stats(t, &st);
    assert_int_equal(st.ct_entries, 1);
    nat_tables_destroy(t);
}

static void test_ct_fin_and_rst_shorten_the_tcp_timeout(void **state)
{
    (void)state;
    struct nat_tables *t = mk(1024, 1024, NULL, NULL);
    struct nat_tuple est = tup(ZONE_A, IP_PROTO_TCP, ip(10, 0, 0, 5), 40000, ip(1, 1, 1, 1), 80);
    struct nat_tuple fin = tup(ZONE_A, IP_PROTO_TCP, ip(10, 0, 0, 5), 40001, ip(1, 1, 1, 1), 80);
    struct nat_tuple rst = tup(ZONE_A, IP_PROTO_TCP, ip(10, 0, 0, 5), 40002, ip(1, 1, 1, 1), 80);
    struct nat_tuple r_est = nat_tuple_reverse(&est), r_fin = nat_tuple_reverse(&fin),
                     r_rst = nat_tuple_reverse(&rst);

    assert_int_equal(nat_ct_commit(t, &est, TCP_SYN, 0, NULL), 0);
    assert_int_equal(nat_ct_commit(t, &fin, TCP_SYN, 0, NULL), 0);
    assert_int_equal(nat_ct_commit(t, &rst, TCP_SYN, 0, NULL), 0);
    /* All three established at 1 s, by a packet of either direction. */
    assert_int_equal(nat_ct_update(t, &r_est, TCP_SYN | TCP_ACK, 1 * S), 0);
    assert_int_equal(nat_ct_update(t, &r_fin, TCP_SYN | TCP_ACK, 1 * S), 0);
    assert_int_equal(nat_ct_update(t, &rst, TCP_ACK, 1 * S), 0);
    /* Then a FIN on one and an RST on another at 2 s. */
    assert_int_equal(nat_ct_update(t, &fin, TCP_FIN | TCP_ACK, 2 * S), 0);
    assert_int_equal(nat_ct_update(t, &r_rst, TCP_RST, 2 * S), 0);
    /* 60 s later (closing timeout is 30 s) only the established one is alive. */
    assert_true(nat_ct_is_return(t, &r_est, 62 * S));
    assert_false(nat_ct_is_return(t, &r_fin, 62 * S));
    assert_false(nat_ct_is_return(t, &r_rst, 62 * S));
    /* And the established one lives past the SYN and UDP timeouts, up to 2 h. */
    assert_true(nat_ct_is_return(t, &r_est, 62 * S + 7000 * S));
    assert_false(nat_ct_is_return(t, &r_est, 62 * S + 14401 * S));
    nat_tables_destroy(t);
}

static void test_ct_syn_without_answer_expires_at_the_syn_timeout(void **state)
{
    (void)state;
    struct nat_tables *t = mk(1024, 1024, NULL, NULL);
    struct nat_tuple syn = tup(ZONE_A, IP_PROTO_TCP, ip(10, 0, 0, 5), 40000, ip(1, 1, 1, 1), 80);
    struct nat_tuple r = nat_tuple_reverse(&syn);

    assert_int_equal(nat_ct_commit(t, &syn, TCP_SYN, 0, NULL), 0);
    assert_true(nat_ct_is_return(t, &r, 29 * S));   /* refreshes: idle from 29 s */
    assert_true(nat_ct_is_return(t, &r, 58 * S));
    assert_false(nat_ct_is_return(t, &r, 89 * S));
    nat_tables_destroy(t);
}

static void test_expire_removes_idle_entries_and_keeps_active_ones(void **state)
{
    (void)state;
    struct nat_tables *t = mk(256, 256, NULL, NULL);
    struct nat_state_ref refs[100];
    struct nat_stats st;
    unsigned removed = 0;

    for (unsigned i = 0; i < 100; i++) {
        struct nat_tuple f = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 5), (uint16_t)(1000 + i), ip(9, 9, 9, 9), 53);
        assert_int_equal(nat_ct_commit(t, &f, 0, 0, &refs[i]), 0);
    }
    /* The even ones are used at 50 s (a flow cache hit), the odd ones not. */
    for (unsigned i = 0; i < 100; i += 2)
        assert_int_equal(nat_touch_burst(t, &refs[i], NULL, 1, 50 * S), 1);
    /* At 70 s the odd ones are 70 s idle (UDP timeout 60 s). */
    for (int calls = 0; calls < 100; calls++)
        removed += nat_expire(t, 70 * S, 64);
    assert_int_equal(removed, 50);
    nat_get_stats(t, &st);
    assert_int_equal(st.ct_entries, 50);
    assert_int_equal(st.ct_expired, 50);
    for (unsigned i = 0; i < 100; i++)
        assert_int_equal(nat_ref_valid(t, &refs[i]), i % 2 == 0);
    nat_tables_destroy(t);
}

static void test_expire_work_per_call_is_bounded(void **state)
{
    (void)state;
    struct nat_tables *t = mk(4096, 64, NULL, NULL);
    unsigned total = 0, calls = 0, n;

    for (unsigned i = 0; i < 4000; i++) {
        struct nat_tuple f = tup(ZONE_A, IP_PROTO_ICMP, ip(10, 0, 0, 5), (uint16_t)i, ip(9, 9, 9, 9), (uint16_t)i);
        assert_int_equal(nat_ct_commit(t, &f, 0, 0, NULL), 0);
    }
    do {
        n = nat_expire(t, 100 * S, 100);
        assert_true(n <= 100);
        total += n;
        calls++;
    } while (total < 4000 && calls < 1000);
    assert_int_equal(total, 4000);
    assert_true(calls >= 40);
    nat_tables_destroy(t);
}

static void test_ct_pool_full_gives_enospc_and_counts(void **state)
{
    (void)state;
    struct nat_tables *t = mk(8, 8, NULL, NULL);
    struct nat_stats st;

    for (unsigned i = 0; i < 8; i++) {
        struct nat_tuple f = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 5), (uint16_t)(1 + i), ip(9, 9, 9, 9), 53);
        assert_int_equal(nat_ct_commit(t, &f, 0, 0, NULL), 0);
    }
    struct nat_tuple f = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 5), 100, ip(9, 9, 9, 9), 53);
    assert_int_equal(nat_ct_commit(t, &f, 0, 0, NULL), -ENOSPC);
    nat_get_stats(t, &st);
    assert_int_equal(st.ct_full, 1);
    /* After expiry there is room again. */
    while (nat_expire(t, 1000 * S, 1000) > 0)
        ;
    assert_int_equal(nat_ct_commit(t, &f, 0, 1000 * S, NULL), 0);
    nat_tables_destroy(t);
}

/* --- SNAT / DNAT ------------------------------------------------------------------- */

static void test_snat_gives_distinct_ports_to_flows_towards_one_destination(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64, 4096, NULL, NULL);
    struct nat_target tg = target(ip(198, 51, 100, 2), ip(198, 51, 100, 2), 1024, 65535);
    static uint8_t seen[65536];

    memset(seen, 0, sizeof(seen));
    for (unsigned i = 0; i < 2000; i++) {
        struct nat_tuple o = tup(ZONE_A, IP_PROTO_TCP, ip(10, 0, 0, (uint8_t)(1 + i % 200)), (uint16_t)(30000 + i),
                                 ip(8, 8, 8, 8), 443);
        struct nat_binding b;

        assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), 0);
        assert_int_equal(b.addr, tg.addr_from);
        assert_true(ntohs(b.port) >= 1024);
        assert_int_equal(seen[ntohs(b.port)], 0);
        seen[ntohs(b.port)] = 1;
    }
    nat_tables_destroy(t);
}

static void test_snat_reuses_a_port_towards_a_different_destination(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64, 64, NULL, NULL);
    struct nat_target tg = target(ip(198, 51, 100, 2), ip(198, 51, 100, 2), 5000, 5000);
    struct nat_tuple a = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 5), 1111, ip(8, 8, 8, 8), 53);
    struct nat_tuple b = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 6), 2222, ip(9, 9, 9, 9), 53);
    struct nat_tuple c = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 7), 3333, ip(8, 8, 8, 8), 53);
    struct nat_binding ba, bb, bc;

    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &a, &tg, 1, 0, &ba), 0);
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &b, &tg, 1, 0, &bb), 0);
    assert_int_equal(ntohs(ba.port), 5000);
    assert_int_equal(ntohs(bb.port), 5000);
    /* The same destination again: the only port is taken towards it. */
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &c, &tg, 1, 0, &bc), -EADDRNOTAVAIL);
    nat_tables_destroy(t);
}

static void test_snat_reverse_lookup_finds_the_original_source(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64, 64, NULL, NULL);
    struct nat_target tg = target(ip(198, 51, 100, 2), ip(198, 51, 100, 2), 1024, 65535);
    struct nat_tuple o = tup(ZONE_A, IP_PROTO_TCP, ip(10, 0, 0, 5), 40000, ip(8, 8, 8, 8), 443);
    struct nat_binding b, r, l;
    struct nat_tuple reply;

    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), 0);
    reply = (struct nat_tuple){.zone = ZONE_A, .src = o.dst, .dst = b.addr, .sport = o.dport, .dport = b.port,
                               .proto = IP_PROTO_TCP};
    assert_int_equal(nat_reverse_lookup(t, NAT_KIND_SNAT, &reply, 1 * S, &r), 0);
    assert_int_equal(r.addr, o.src);
    assert_int_equal(r.port, o.sport);
    assert_memory_equal(&r.ref, &b.ref, sizeof(r.ref));
    /* Not as DNAT, not at another zone, not from another remote. */
    assert_int_equal(nat_reverse_lookup(t, NAT_KIND_DNAT, &reply, 1 * S, &r), -ENOENT);
    reply.zone = ZONE_B;
    assert_int_equal(nat_reverse_lookup(t, NAT_KIND_SNAT, &reply, 1 * S, &r), -ENOENT);
    reply.zone = ZONE_A;
    reply.src = ip(8, 8, 4, 4);
    assert_int_equal(nat_reverse_lookup(t, NAT_KIND_SNAT, &reply, 1 * S, &r), -ENOENT);
    /* The forward lookup finds the same binding; a second allocate says so. */
    assert_int_equal(nat_lookup(t, NAT_KIND_SNAT, &o, 1 * S, &l), 0);
    assert_int_equal(l.addr, b.addr);
    assert_int_equal(l.port, b.port);
    assert_memory_equal(&l.ref, &b.ref, sizeof(l.ref));
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 1 * S, &l), -EEXIST);
    assert_int_equal(l.port, b.port);
    nat_tables_destroy(t);
}

static void test_snat_icmp_echo_translates_the_identifier_both_ways(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64, 64, NULL, NULL);
    struct nat_target tg = target(ip(198, 51, 100, 2), ip(198, 51, 100, 2), 1024, 65535);
    struct nat_tuple o = tup(ZONE_A, IP_PROTO_ICMP, ip(10, 0, 0, 5), 77, ip(8, 8, 8, 8), 77);
    struct nat_binding b, r;
    struct nat_tuple reply;

    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), 0);
    /* The echo reply carries the translated identifier in both "ports". */
    reply = tup(ZONE_A, IP_PROTO_ICMP, ip(8, 8, 8, 8), ntohs(b.port), b.addr, ntohs(b.port));
    assert_int_equal(nat_reverse_lookup(t, NAT_KIND_SNAT, &reply, 0, &r), 0);
    assert_int_equal(r.addr, o.src);
    assert_int_equal(ntohs(r.port), 77);
    nat_tables_destroy(t);
}

static void test_dnat_translates_the_destination_and_rev_dnat_restores_the_source(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64, 64, NULL, NULL);
    struct nat_target tg = target(ip(10, 0, 0, 80), ip(10, 0, 0, 80), 8080, 8080);
    struct nat_tuple o = tup(ZONE_A, IP_PROTO_TCP, ip(203, 0, 113, 7), 51000, ip(198, 51, 100, 9), 80);
    struct nat_binding b, r;
    struct nat_tuple reply;

    assert_int_equal(nat_allocate(t, NAT_KIND_DNAT, &o, &tg, 1, 0, &b), 0);
    assert_int_equal(b.addr, ip(10, 0, 0, 80));
    assert_int_equal(ntohs(b.port), 8080);
    assert_int_equal(b.ref.type, NAT_STATE_DNAT);
    reply = tup(ZONE_A, IP_PROTO_TCP, ip(10, 0, 0, 80), 8080, ip(203, 0, 113, 7), 51000);
    assert_int_equal(nat_reverse_lookup(t, NAT_KIND_DNAT, &reply, 0, &r), 0);
    assert_int_equal(r.addr, ip(198, 51, 100, 9));
    assert_int_equal(ntohs(r.port), 80);
    assert_int_equal(nat_reverse_lookup(t, NAT_KIND_SNAT, &reply, 0, &r), -ENOENT);
    nat_tables_destroy(t);
}

static void test_dnat_keeps_the_original_port_when_it_lies_in_the_range(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64, 64, NULL, NULL);
    struct nat_target tg = target(ip(10, 0, 0, 80), ip(10, 0, 0, 80), 1, 65535);
    struct nat_tuple o = tup(ZONE_A, IP_PROTO_UDP, ip(203, 0, 113, 7), 51000, ip(198, 51, 100, 9), 53);
    struct nat_binding b;

    assert_int_equal(nat_allocate(t, NAT_KIND_DNAT, &o, &tg, 1, 0, &b), 0);
    assert_int_equal(ntohs(b.port), 53);
    nat_tables_destroy(t);
}

static void test_snat_keeps_one_public_address_per_inside_host(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64, 256, NULL, NULL);
    struct nat_target tg = target(ip(198, 51, 100, 1), ip(198, 51, 100, 8), 1024, 65535);
    unsigned used[9] = {0};

    for (unsigned h = 0; h < 16; h++) {
        rp_be32 first = 0;

        for (unsigned f = 0; f < 8; f++) {
            struct nat_tuple o = tup(ZONE_A, IP_PROTO_TCP, ip(10, 0, 1, (uint8_t)h), (uint16_t)(1000 + f),
                                     ip(8, 8, 8, (uint8_t)f), 443);
            struct nat_binding b;

            assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), 0);
            if (!f)
                first = b.addr;
            assert_int_equal(b.addr, first);
        }
        used[ntohl(first) & 0xff]++;
    }
    /* Sixteen hosts over eight addresses do not all land on one. */
    unsigned distinct = 0;
    for (unsigned a = 1; a <= 8; a++)
        distinct += used[a] > 0;
    assert_true(distinct >= 2);
    nat_tables_destroy(t);
}

static void test_snat_exhausted_pool_drops_with_reason(void **state)
{
    (void)state;
    struct rec_alloc *ra = rec_new();
    struct nat_tables *t = mk(64, 64, &rec_ops, ra);
    struct nat_target tg = target(ip(198, 51, 100, 2), ip(198, 51, 100, 2), 2000, 2001);
    struct nat_binding b;
    struct nat_stats st;

    for (unsigned i = 0; i < 2; i++) {
        struct nat_tuple o = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 5), (uint16_t)(100 + i), ip(8, 8, 8, 8), 53);
        assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), 0);
    }
    struct nat_tuple o = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 5), 102, ip(8, 8, 8, 8), 53);
    unsigned leases_before = ra->n_leases;
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), -EADDRNOTAVAIL);
    /* Both ports lie in one block (1984-2047): no further block exists. */
    assert_int_equal(ra->n_leases, 1);
    assert_int_equal(ra->n_leases, leases_before);
    nat_get_stats(t, &st);
    assert_int_equal(st.ports_exhausted, 1);
    assert_int_equal(st.nat_entries, 2);
    nat_tables_destroy(t);
    rec_free(ra);
}

static void test_snat_search_is_bounded_when_every_block_is_full(void **state)
{
    (void)state;
    struct rec_alloc *ra = rec_new();
    struct nat_tables *t = mk(64, 4096, &rec_ops, ra);
    struct nat_target tg = target(ip(198, 51, 100, 2), ip(198, 51, 100, 2), 1024, 65535);
    struct nat_binding b;
    unsigned ok = 0, before;

    ra->refuse_after = 2;   /* the store grants two blocks, no more */
    for (unsigned i = 0; i < 200; i++) {
        struct nat_tuple o = tup(ZONE_A, IP_PROTO_TCP, ip(10, 0, 0, 5), (uint16_t)(10000 + i), ip(8, 8, 8, 8), 443);
        ok += nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b) == 0;
    }
    /* Two blocks hold 128 ports towards this remote, and no more. */
    assert_int_equal(ok, 128);
    before = ra->n_leases;
    struct nat_tuple o = tup(ZONE_A, IP_PROTO_TCP, ip(10, 0, 0, 5), 20000, ip(8, 8, 8, 8), 443);
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), -EADDRNOTAVAIL);
    assert_int_equal(ra->n_leases, before);
    /* Another remote still gets ports from the same two blocks. */
    o.dst = ip(1, 1, 1, 1);
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), 0);
    assert_int_equal(ra->n_leases, 2);
    nat_tables_destroy(t);
    rec_free(ra);
}

static void test_snat_blocks_are_64_aligned_in_the_range_and_leased_through_the_ops(void **state)
{
    (void)state;
    struct rec_alloc *ra = rec_new();
    struct nat_tables *t = mk(64, 1024, &rec_ops, ra);
    struct nat_target tg = target(ip(198, 51, 100, 2), ip(198, 51, 100, 2), 1000, 1200);
    struct nat_stats st;
    unsigned n_ok = 0;

    for (unsigned i = 0; i < 300; i++) {
        struct nat_tuple o = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 5), (uint16_t)(100 + i), ip(8, 8, 8, 8), 53);
        struct nat_binding b;
        int rc = nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b);
        bool in_block = false;

        if (rc == -EADDRNOTAVAIL)
            continue;
        assert_int_equal(rc, 0);
        n_ok++;
        assert_in_range(ntohs(b.port), 1000, 1200);
        for (unsigned k = 0; k < ra->n_leases; k++)
            in_block |= ntohs(b.port) >= ra->first[k] && ntohs(b.port) < ra->first[k] + NAT_BLOCK_PORTS;
        assert_true(in_block);
    }
    /* 1000-1200 meets blocks 960, 1024, 1088, 1152: four leases, aligned,
     * each asked for the target range. */
    assert_int_equal(ra->n_leases, 4);
    for (unsigned k = 0; k < ra->n_leases; k++) {
        assert_int_equal(ra->first[k] % NAT_BLOCK_PORTS, 0);
        assert_true(ra->first[k] + NAT_BLOCK_PORTS > 1000 && ra->first[k] <= 1200);
        assert_int_equal(ra->pf[k], 1000);
        assert_int_equal(ra->pt[k], 1200);
    }
    assert_int_equal(n_ok, 201);   /* every port of the range, none twice (a lookup would have said) */
    nat_get_stats(t, &st);
    assert_int_equal(st.blocks_leased, 4);
    nat_tables_destroy(t);
    /* Destroying the tables gives every block back. */
    assert_int_equal(ra->n_releases, 4);
    assert_int_equal(nat_local_allocator_leased(ra->la), 0);
    rec_free(ra);
}

static void test_local_allocator_never_hands_out_a_block_twice(void **state)
{
    (void)state;
    struct nat_local_allocator *a;
    static uint8_t seen[1024];
    uint16_t first;
    unsigned n = 0;

    memset(seen, 0, sizeof(seen));
    assert_int_equal(nat_local_allocator_create(&a), 0);
    while (nat_local_allocator_ops.lease(a, ZONE_A, ip(198, 51, 100, 2), 1024, 65535, &first) == 0) {
        assert_int_equal(first % NAT_BLOCK_PORTS, 0);
        assert_int_equal(seen[first / NAT_BLOCK_PORTS], 0);
        seen[first / NAT_BLOCK_PORTS] = 1;
        n++;
        assert_true(n <= 1008);
    }
    assert_int_equal(n, 1008);   /* (65536 - 1024) / 64 */
    assert_int_equal(nat_local_allocator_leased(a), 1008);
    /* Another address and another zone have their own blocks. */
    assert_int_equal(nat_local_allocator_ops.lease(a, ZONE_A, ip(198, 51, 100, 3), 1024, 65535, &first), 0);
    assert_int_equal(nat_local_allocator_ops.lease(a, ZONE_B, ip(198, 51, 100, 2), 1024, 65535, &first), 0);
    /* A released block is the only one to lease again. */
    nat_local_allocator_ops.release(a, ZONE_A, ip(198, 51, 100, 2), 4096);
    assert_int_equal(nat_local_allocator_ops.lease(a, ZONE_A, ip(198, 51, 100, 2), 1024, 65535, &first), 0);
    assert_int_equal(first, 4096);
    assert_int_equal(nat_local_allocator_ops.lease(a, ZONE_A, ip(198, 51, 100, 2), 1024, 65535, &first),
                     -EADDRNOTAVAIL);
    nat_local_allocator_destroy(a);
}

static void test_snat_empty_block_is_released_after_the_hold_time(void **state)
{
    (void)state;
    struct rec_alloc *ra = rec_new();
    struct nat_tables *t = mk(64, 64, &rec_ops, ra);
    struct nat_target tg = target(ip(198, 51, 100, 2), ip(198, 51, 100, 2), 1024, 65535);
    struct nat_tuple o = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 5), 1000, ip(8, 8, 8, 8), 53);
    struct nat_binding b;
    struct nat_stats st;

    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), 0);
    assert_int_equal(ra->n_leases, 1);
    /* While the binding lives (touched), sweeps keep the block. */
    for (uint64_t s = 50; s <= 300; s += 50) {
        assert_int_equal(nat_touch_burst(t, &b.ref, NULL, 1, s * S), 1);
        nat_expire(t, s * S, 1000);
    }
    assert_int_equal(ra->n_releases, 0);
    /* Idle from 300 s: the binding expires at 361 s; the block goes after
     * two sweeps 60 s apart found it empty. */
    nat_expire(t, 370 * S, 1000);
    nat_get_stats(t, &st);
    assert_int_equal(st.nat_entries, 0);
    assert_int_equal(ra->n_releases, 0);
    nat_expire(t, 440 * S, 1000);
    assert_int_equal(ra->n_releases, 1);
    nat_get_stats(t, &st);
    assert_int_equal(st.blocks_leased, 0);
    assert_int_equal(st.blocks_released, 1);
    assert_int_equal(nat_local_allocator_leased(ra->la), 0);
    nat_tables_destroy(t);
    rec_free(ra);
}

static void test_nat_pool_full_gives_enospc(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64, 4, NULL, NULL);
    struct nat_target tg = target(ip(198, 51, 100, 2), ip(198, 51, 100, 2), 1024, 65535);
    struct nat_binding b;
    struct nat_stats st;

    for (unsigned i = 0; i < 4; i++) {
        struct nat_tuple o = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 5), (uint16_t)(100 + i), ip(8, 8, 8, 8), 53);
        assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), 0);
    }
    struct nat_tuple o = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 5), 200, ip(8, 8, 8, 8), 53);
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), -ENOSPC);
    nat_get_stats(t, &st);
    assert_int_equal(st.nat_full, 1);
    assert_int_equal(st.ports_exhausted, 0);
    nat_tables_destroy(t);
}

static void test_allocate_refuses_static_empty_or_reversed_targets(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64, 64, NULL, NULL);
    struct nat_tuple o = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 5), 100, ip(8, 8, 8, 8), 53);
    struct nat_target st = target(ip(1, 1, 1, 1), ip(1, 1, 1, 1), 0, 0);
    struct nat_target rev_a = target(ip(1, 1, 1, 2), ip(1, 1, 1, 1), 1, 100);
    struct nat_target rev_p = target(ip(1, 1, 1, 1), ip(1, 1, 1, 1), 100, 1);
    struct nat_binding b;

    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &st, 1, 0, &b), -EINVAL);
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &rev_a, 1, 0, &b), -EINVAL);
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &rev_p, 1, 0, &b), -EINVAL);
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &st, 0, 0, &b), -EINVAL);
    assert_int_equal(nat_allocate(t, (enum nat_kind)7, &o, &rev_p, 1, 0, &b), -EINVAL);
    nat_tables_destroy(t);
}

static void test_expired_binding_frees_its_port_for_the_same_remote(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64, 64, NULL, NULL);
    struct nat_target tg = target(ip(198, 51, 100, 2), ip(198, 51, 100, 2), 5000, 5000);
    struct nat_tuple a = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 5), 1111, ip(8, 8, 8, 8), 53);
    struct nat_tuple c = tup(ZONE_A, IP_PROTO_UDP, ip(10, 0, 0, 7), 3333, ip(8, 8, 8, 8), 53);
    struct nat_binding b;

    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &a, &tg, 1, 0, &b), 0);
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &c, &tg, 1, 30 * S, &b), -EADDRNOTAVAIL);
    /* 61 s idle: gone even though no sweep ran. */
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &c, &tg, 1, 61 * S + 1, &b), 0);
    assert_int_equal(nat_lookup(t, NAT_KIND_SNAT, &a, 61 * S + 1, &b), -ENOENT);
    nat_tables_destroy(t);
}

static void test_touch_skips_stale_refs_and_moves_tcp_state(void **state)
{
    (void)state;
    struct nat_tables *t = mk(64, 64, NULL, NULL);
    struct nat_target tg = target(ip(198, 51, 100, 2), ip(198, 51, 100, 2), 1024, 65535);
    struct nat_tuple o = tup(ZONE_A, IP_PROTO_TCP, ip(10, 0, 0, 5), 40000, ip(8, 8, 8, 8), 443);
    struct nat_binding b, l;
    struct nat_state_ref refs[2];
    uint8_t flags[2] = {TCP_FIN | TCP_ACK, 0};

    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), 0);
    refs[0] = b.ref;
    refs[1] = b.ref;
    refs[1].gen++;   /* as if the slot had been reused */
    assert_int_equal(nat_touch_burst(t, refs, flags, 2, 10 * S), 1);
    /* The FIN moved the binding to the closing timeout (30 s). */
    assert_int_equal(nat_lookup(t, NAT_KIND_SNAT, &o, 39 * S, &l), 0);
    assert_int_equal(nat_lookup(t, NAT_KIND_SNAT, &o, 70 * S, &l), -ENOENT);
    assert_false(nat_ref_valid(t, &b.ref));
    assert_int_equal(nat_touch_burst(t, refs, NULL, 1, 71 * S), 0);
    nat_tables_destroy(t);
}

static void test_static_map_keeps_the_offset(void **state)
{
    (void)state;
    struct nat_target tg[2] = {target(ip(198, 51, 100, 10), ip(198, 51, 100, 11), 0, 0),
                               target(ip(203, 0, 113, 1), ip(203, 0, 113, 2), 0, 0)};
    rp_be32 out;

    assert_int_equal(nat_static_map(ip(10, 0, 0, 0), tg, 2, ip(10, 0, 0, 1), &out), 0);
    assert_int_equal(out, ip(198, 51, 100, 11));
    assert_int_equal(nat_static_map(ip(10, 0, 0, 0), tg, 2, ip(10, 0, 0, 3), &out), 0);
    assert_int_equal(out, ip(203, 0, 113, 2));
    assert_int_equal(nat_static_map(ip(10, 0, 0, 0), tg, 2, ip(10, 0, 0, 4), &out), 0);
    assert_int_equal(out, ip(198, 51, 100, 10));   /* wraps */
    assert_int_equal(nat_static_map(ip(10, 0, 0, 8), tg, 2, ip(10, 0, 0, 4), &out), -EINVAL);
}

static void test_memory_per_entry_is_at_most_128_bytes_when_full(void **state)
{
    (void)state;
    static const uint32_t sizes[] = {1000, 65536, 300000};

    for (unsigned s = 0; s < RP_ARRAY_SIZE(sizes); s++) {
        uint32_t n = sizes[s];
        struct nat_tables *t = mk(n, n, NULL, NULL);
        struct nat_target tg = target(ip(198, 51, 100, 0), ip(198, 51, 100, 255), 1024, 65535);
        struct nat_memory m;
        struct nat_stats st;

        for (uint32_t i = 0; i < n; i++) {
            struct nat_tuple o = tup(ZONE_A, IP_PROTO_UDP, htonl(0x0a000000 | i), (uint16_t)(i * 7),
                                     ip(8, 8, 8, 8), 53);
            struct nat_binding b;

            assert_int_equal(nat_ct_commit(t, &o, 0, 0, NULL), 0);
            assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), 0);
        }
        nat_get_stats(t, &st);
        assert_int_equal(st.ct_entries, n);
        assert_int_equal(st.nat_entries, n);
        nat_get_memory(t, &m);
        print_message("%u entries: conntrack %.1f B/entry, nat %.1f B/entry, pools %zu B\n", n,
                      (double)m.ct_bytes / m.ct_capacity, (double)m.nat_bytes / m.nat_capacity, m.pool_bytes);
        assert_true(m.ct_bytes <= 128 * (size_t)m.ct_capacity);
        assert_true(m.nat_bytes <= 128 * (size_t)m.nat_capacity);
        nat_tables_destroy(t);
    }
}

static void test_tables_refuse_a_zero_size_or_timeout(void **state)
{
    (void)state;
    struct nat_config cfg;
    struct nat_tables *t = NULL;

    nat_config_default(&cfg);
    cfg.max_nat = 0;
    assert_int_equal(nat_tables_create(&t, &cfg), -EINVAL);
    nat_config_default(&cfg);
    cfg.udp_s = 0;
    assert_int_equal(nat_tables_create(&t, &cfg), -EINVAL);
    assert_null(t);
    nat_tables_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ct_reply_of_a_committed_flow_is_a_return_flow),
        cmocka_unit_test(test_ct_state_at_one_zone_is_invisible_at_another),
        cmocka_unit_test(test_ct_commit_of_a_known_flow_is_eexist_with_the_same_ref),
        cmocka_unit_test(test_ct_fin_and_rst_shorten_the_tcp_timeout),
        cmocka_unit_test(test_ct_syn_without_answer_expires_at_the_syn_timeout),
        cmocka_unit_test(test_expire_removes_idle_entries_and_keeps_active_ones),
        cmocka_unit_test(test_expire_work_per_call_is_bounded),
        cmocka_unit_test(test_ct_pool_full_gives_enospc_and_counts),
        cmocka_unit_test(test_snat_gives_distinct_ports_to_flows_towards_one_destination),
        cmocka_unit_test(test_snat_reuses_a_port_towards_a_different_destination),
        cmocka_unit_test(test_snat_reverse_lookup_finds_the_original_source),
        cmocka_unit_test(test_snat_icmp_echo_translates_the_identifier_both_ways),
        cmocka_unit_test(test_dnat_translates_the_destination_and_rev_dnat_restores_the_source),
        cmocka_unit_test(test_dnat_keeps_the_original_port_when_it_lies_in_the_range),
        cmocka_unit_test(test_snat_keeps_one_public_address_per_inside_host),
        cmocka_unit_test(test_snat_exhausted_pool_drops_with_reason),
        cmocka_unit_test(test_snat_search_is_bounded_when_every_block_is_full),
        cmocka_unit_test(test_snat_blocks_are_64_aligned_in_the_range_and_leased_through_the_ops),
        cmocka_unit_test(test_local_allocator_never_hands_out_a_block_twice),
        cmocka_unit_test(test_snat_empty_block_is_released_after_the_hold_time),
        cmocka_unit_test(test_nat_pool_full_gives_enospc),
        cmocka_unit_test(test_allocate_refuses_static_empty_or_reversed_targets),
        cmocka_unit_test(test_expired_binding_frees_its_port_for_the_same_remote),
        cmocka_unit_test(test_touch_skips_stale_refs_and_moves_tcp_state),
        cmocka_unit_test(test_static_map_keeps_the_offset),
        cmocka_unit_test(test_memory_per_entry_is_at_most_128_bytes_when_full),
        cmocka_unit_test(test_tables_refuse_a_zero_size_or_timeout),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
