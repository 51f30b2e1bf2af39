/* The exact-match flow cache: hits and misses, bursts, timeouts, the
 * bounded expiry sweep, counters, invalidation by tag and a full cache. */
#include "datapath/dp_actions.h"
#include "datapath/dp_flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SEC 1000000000ull

static struct flow_key key_n(uint32_t n)
{
    struct flow_key k;

    memset(&k, 0, sizeof(k));
    k.in_port = 1;
    k.eth_type = htons(ETH_TYPE_IPV4);
    k.nw_proto = IP_PROTO_UDP;
    k.nw_ttl = 64;
    k.nw.v4.src = htonl(0x0a000000u + n);
    k.nw.v4.dst = htonl(0x08080808u);
    k.tp_src = htons((uint16_t)(1000 + (n & 0x7fff)));
    k.tp_dst = htons(53);
    return k;
}

static struct dp_actions drop_actions(enum dp_drop why)
{
    struct dp_actions a;

    memset(&a, 0, sizeof(a));
    a.verdict = DP_ACT_DROP;
    a.drop = (uint8_t)why;
    return a;
}

static struct dp_flow_cache *make_cache(uint32_t n, uint64_t idle, uint64_t hard)
{
    struct dp_flow_cache *c = NULL;
    struct dp_flow_config cfg = {.max_flows = n, .idle_timeout_ns = idle, .hard_timeout_ns = hard};

    assert_int_equal(dp_flow_cache_create(&c, &cfg), 0);
    return c;
}

static void test_lookup_finds_inserted_flow_and_misses_other_keys(void **state)
{
    (void)state;
    struct dp_flow_cache *c = make_cache(128, 0, 0);
    struct dp_actions a = drop_actions(DP_DROP_RULE_DROP);
    struct flow_key k = key_n(1), other = key_n(2);
    struct dp_flow *f = NULL;

    assert_null(dp_flow_lookup(c, &k, 0));
    assert_int_equal(dp_flow_insert(c, &k, &a, NULL, 0, 0, &f), 0);
    assert_non_null(f);
    assert_ptr_equal(dp_flow_lookup(c, &k, 1), f);
    assert_int_equal(f->actions.drop, DP_DROP_RULE_DROP);
    assert_null(dp_flow_lookup(c, &other, 1));
    /* One differing byte of padding-free key data is another flow. */
    other = k;
    other.nw_ttl = 63;
    assert_null(dp_flow_lookup(c, &other, 1));
    assert_int_equal(dp_flow_count(c), 1);
    assert_true(dp_flow_remove(c, &k));
    assert_false(dp_flow_remove(c, &k));
    assert_null(dp_flow_lookup(c, &k, 2));
    assert_int_equal(dp_flow_count(c), 0);
    dp_flow_cache_destroy(c);
}

static void test_burst_lookup_reports_each_hit_and_miss(void **state)
{
    (void)state;
    struct dp_flow_cache *c = make_cache(4096, 0, 0);
    struct dp_actions a = drop_actions(DP_DROP_NO_ROUTE);
    struct flow_key keys[DP_FLOW_BURST_MAX];
    struct dp_flow *got[DP_FLOW_BURST_MAX], *ins[4096];

    for (uint32_t i = 0; i < 4096; i += 2) {
        struct flow_key k = key_n(i);
        assert_int_equal(dp_flow_insert(c, &k, &a, NULL, 0, 0, &ins[i]), 0);
    }
    for (uint32_t base = 0; base < 4096; base += DP_FLOW_BURST_MAX) {
        for (uint32_t j = 0; j < DP_FLOW_BURST_MAX; j++)
            keys[j] = key_n(base + j);
        assert_int_equal(dp_flow_lookup_burst(c, keys, DP_FLOW_BURST_MAX, 5, got), DP_FLOW_BURST_MAX / 2);
        for (uint32_t j = 0; j < DP_FLOW_BURST_MAX; j++) {
            if ((base + j) % 2 == 0)
                assert_ptr_equal(got[j], ins[base + j]);
            else
                assert_null(got[j]);
        }
    }
    assert_int_equal(dp_flow_cache_stats(c)->hits, 2048);
    assert_int_equal(dp_flow_cache_stats(c)->misses, 2048);
    dp_flow_cache_destroy(c);
}

static void test_idle_flow_is_not_returned_and_is_removed(void **state)
{
    (void)state;
    struct dp_flow_cache *c = make_cache(16, 10 * SEC, 0);
    struct dp_actions a = drop_actions(DP_DROP_RULE_DROP);
    struct flow_key k = key_n(7);

    assert_int_equal(dp_flow_insert(c, &k, &a, NULL, 0, 100 * SEC, NULL), 0);
    /* Use keeps it alive past the first idle period. */
    assert_non_null(dp_flow_lookup(c, &k, 109 * SEC));
    assert_non_null(dp_flow_lookup(c, &k, 118 * SEC));
    assert_null(dp_flow_lookup(c, &k, 128 * SEC));
    assert_int_equal(dp_flow_count(c), 0);
    assert_int_equal(dp_flow_cache_stats(c)->expired_idle, 1);
    dp_flow_cache_destroy(c);
}

static void test_hard_timeout_expires_a_busy_flow(void **state)
{
    (void)state;
    struct dp_flow_cache *c = make_cache(16, 10 * SEC, 30 * SEC);
    struct dp_actions a = drop_actions(DP_DROP_RULE_DROP);
    struct flow_key k = key_n(7);

    assert_int_equal(dp_flow_insert(c, &k, &a, NULL, 0, 0, NULL), 0);
    for (uint64_t t = 5; t < 30; t += 5)
        assert_non_null(dp_flow_lookup(c, &k, t * SEC));
    assert_null(dp_flow_lookup(c, &k, 30 * SEC));
    assert_int_equal(dp_flow_cache_stats(c)->expired_hard, 1);
    assert_int_equal(dp_flow_cache_stats(c)->expired_idle, 0);
    dp_flow_cache_destroy(c);
}

static void test_expired_flows_in_a_burst_miss_while_others_hit(void **state)
{
    (void)state;
    struct dp_flow_cache *c = make_cache(64, 10 * SEC, 0);
    struct dp_actions a = drop_actions(DP_DROP_RULE_DROP);
    struct flow_key keys[6];
    struct dp_flow *got[6];

    for (uint32_t i = 0; i < 4; i++) {
        struct flow_key k = key_n(i);
        /* 0 and 2 are old, 1 and 3 fresh. */
        assert_int_equal(dp_flow_insert(c, &k, &a, NULL, 0, (i & 1) ? 15 * SEC : 0, NULL), 0);
    }
    keys[0] = key_n(0), keys[1] = key_n(1), keys[2] = key_n(0);    /* an expired key twice */
    keys[3] = key_n(2), keys[4] = key_n(3), keys[5] = key_n(9);
    assert_int_equal(dp_flow_lookup_burst(c, keys, 6, 20 * SEC, got), 2);
    assert_null(got[0]);
    assert_non_null(got[1]);
    assert_null(got[2]);
    assert_null(got[3]);
    assert_non_null(got[4]);
    assert_null(got[5]);
    assert_int_equal(dp_flow_count(c), 2);
    assert_int_equal(dp_flow_cache_stats(c)->expired_idle, 2);
    dp_flow_cache_destroy(c);
}

static void test_expiry_sweep_visits_a_bounded_number_of_slots(void **state)
{
    (void)state;
    struct dp_flow_cache *c = make_cache(1000, 10 * SEC, 0);
    struct dp_actions a = drop_actions(DP_DROP_RULE_DROP);
    uint32_t total = 0, calls = 0, n;

    for (uint32_t i = 0; i < 1000; i++) {
        struct flow_key k = key_n(i);
        /* Odd flows are used later and must survive. */
        assert_int_equal(dp_flow_insert(c, &k, &a, NULL, 0, (i & 1) ? 15 * SEC : 0, NULL), 0);
    }
    assert_int_equal(dp_flow_expire(c, 5 * SEC, 1000), 0);
    /* Ten calls of 100 slots cover the 1000 slots once. */
    for (calls = 0; calls < 10; calls++) {
        n = dp_flow_expire(c, 20 * SEC, 100);
        assert_true(n <= 100);
        total += n;
    }
    assert_int_equal(total, 500);
    assert_int_equal(dp_flow_count(c), 500);
    for (uint32_t i = 0; i < 1000; i++) {
        struct flow_key k = key_n(i);
        if (i & 1)
            assert_non_null(dp_flow_lookup(c, &k, 20 * SEC));
    }
    dp_flow_cache_destroy(c);
}

static void test_counters_count_packets_and_bytes_per_flow(void **state)
{
    (void)state;
    struct dp_flow_cache *c = make_cache(16, 0, 0);
    struct pkt_pool *pool = NULL;
    struct dp_exec *x = NULL;
    struct dp_exec_config xc = {.n_ports = 4, .tunnel_port = 3};
    struct dp_actions a = drop_actions(DP_DROP_RULE_DROP);
    struct flow_key k1 = key_n(1), k2 = key_n(2);
    struct dp_flow *f1, *f2;

    assert_int_equal(pkt_pool_create(&pool, 16), 0);
    xc.pool = pool;
    assert_int_equal(dp_exec_create(&x, &xc), 0);
    assert_int_equal(dp_flow_insert(c, &k1, &a, NULL, 0, 0, &f1), 0);
    assert_int_equal(dp_flow_insert(c, &k2, &a, NULL, 0, 0, &f2), 0);
    for (int round = 0; round < 3; round++) {
        struct pkt_buf *b[3];
        struct dp_flow *fl[3] = {f1, f2, f1};
        for (int i = 0; i < 3; i++) {
            b[i] = pkt_pool_get(pool);
            assert_non_null(b[i]);
            b[i]->len = (uint16_t)(60 + i * 10);
            b[i]->in_port = 1;
        }
        assert_int_equal(dp_actions_execute(x, b, fl, 3), 0);
    }
    assert_int_equal(f1->packets, 6);
    assert_int_equal(f1->bytes, 3 * (60 + 80));
    assert_int_equal(f2->packets, 3);
    assert_int_equal(f2->bytes, 3 * 70);
    assert_int_equal(dp_exec_port_stats(x, 1)->drops[DP_DROP_RULE_DROP], 9);
    assert_int_equal(pkt_pool_available(pool), 16);
    dp_exec_destroy(x);
    pkt_pool_destroy(pool);
    dp_flow_cache_destroy(c);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_invalidating_a_tag_removes_exactly_the_flows_carrying_it(void **state)
{
    (void)state;
    enum { N = 3000, TAGS = 40, PER = 5 };
    struct dp_flow_cache *c = make_cache(N, 0, 0);
    struct dp_actions a = drop_actions(DP_DROP_RULE_DROP);
    static uint64_t tags[N][PER];
    static bool alive[N];

    for (uint32_t i = 0; i < N; i++) {
        struct flow_key k = key_n(i);
        for (int j = 0; j < PER; j++)
            tags[i][j] = 0x100 + rnd() % TAGS;     /* repeats within a flow included */
        assert_int_equal(dp_flow_insert(c, &k, &a, tags[i], PER, 0, NULL), 0);
        alive[i] = true;
    }
    for (uint64_t t = 0x100; t < 0x100 + TAGS; t += 3) {
        uint32_t expect = 0;
        for (uint32_t i = 0; i < N; i++) {
            bool has = false;
            for (int j = 0; j < PER; j++)
                has |= tags[i][j] == t;
            if (alive[i] && has) {
                expect++;
                alive[i] = false;
            }
        }
        assert_int_equal(dp_flow_invalidate_tag(c, t), expect);
        for (uint32_t i = 0; i < N; i++) {
            struct flow_key k = key_n(i);
            if (alive[i])
                assert_non_null(dp_flow_lookup(c, &k, 0));
            else
                assert_null(dp_flow_lookup(c, &k, 0));
        }
    }
    assert_int_equal(dp_flow_invalidate_tag(c, 0x100), 0);  /* already gone */
    assert_int_equal(dp_flow_invalidate_tag(c, 0xdead), 0); /* never seen */
    dp_flow_cache_destroy(c);
}

static void test_full_cache_refuses_new_flows_until_room_is_made(void **state)
{
    (void)state;
    struct dp_flow_cache *c = make_cache(64, 0, 0);
    struct dp_actions a = drop_actions(DP_DROP_RULE_DROP);
    struct flow_key extra = key_n(1000), k0 = key_n(0);

    for (uint32_t i = 0; i < 64; i++) {
        struct flow_key k = key_n(i);
        assert_int_equal(dp_flow_insert(c, &k, &a, NULL, 0, 0, NULL), 0);
    }
    assert_int_equal(dp_flow_insert(c, &extra, &a, NULL, 0, 0, NULL), -ENOSPC);
    assert_int_equal(dp_flow_cache_stats(c)->refused_full, 1);
    /* Established flows are untouched by the refusal. */
    for (uint32_t i = 0; i < 64; i++) {
        struct flow_key k = key_n(i);
        assert_non_null(dp_flow_lookup(c, &k, 0));
    }
    /* Replacing an existing key still works when full. */
    assert_int_equal(dp_flow_insert(c, &k0, &a, NULL, 0, 0, NULL), 0);
    assert_true(dp_flow_remove(c, &k0));
    assert_int_equal(dp_flow_insert(c, &extra, &a, NULL, 0, 0, NULL), 0);
    assert_non_null(dp_flow_lookup(c, &extra, 0));
    dp_flow_cache_destroy(c);
}

static void test_exhausted_tag_references_refuse_insert_without_leaking(void **state)
{
    (void)state;
    struct dp_flow_cache *c = NULL;
    struct dp_flow_config cfg = {.max_flows = 16, .max_tag_refs = 6, .max_tags = 4};
    struct dp_actions a = drop_actions(DP_DROP_RULE_DROP);
    uint64_t t3[3] = {1, 2, 3}, t4[4] = {4, 5, 6, 7}, t2[2] = {8, 9};
    struct flow_key k1 = key_n(1), k2 = key_n(2), k3 = key_n(3);

    assert_int_equal(dp_flow_cache_create(&c, &cfg), 0);
    assert_int_equal(dp_flow_insert(c, &k1, &a, t3, 3, 0, NULL), 0);
    /* 4 refs needed, 3 left: refused before anything is linked. */
    assert_int_equal(dp_flow_insert(c, &k2, &a, t4, 4, 0, NULL), -ENOSPC);
    /* Refs suffice but only one distinct tag is left: undone half way. */
    assert_int_equal(dp_flow_insert(c, &k2, &a, t2, 2, 0, NULL), -ENOSPC);
    assert_null(dp_flow_lookup(c, &k2, 0));
    assert_int_equal(dp_flow_count(c), 1);
    /* Everything taken by the refusals came back: after k1 goes, a flow
     * using all four distinct tags fits. */
    assert_int_equal(dp_flow_invalidate_tag(c, 2), 1);
    assert_int_equal(dp_flow_insert(c, &k3, &a, t4, 4, 0, NULL), 0);
    assert_int_equal(dp_flow_invalidate_tag(c, 7), 1);
    assert_int_equal(dp_flow_count(c), 0);
    dp_flow_cache_destroy(c);
}

static void test_reinserting_a_key_replaces_its_actions_and_tags(void **state)
{
    (void)state;
    struct dp_flow_cache *c = make_cache(16, 0, 0);
    struct dp_actions a1 = drop_actions(DP_DROP_RULE_DROP), a2 = drop_actions(DP_DROP_NO_ROUTE);
    struct flow_key k = key_n(1);
    uint64_t old_tag = 11, new_tag = 22;
    struct dp_flow *f;

    assert_int_equal(dp_flow_insert(c, &k, &a1, &old_tag, 1, 0, NULL), 0);
    assert_int_equal(dp_flow_insert(c, &k, &a2, &new_tag, 1, 0, NULL), 0);
    assert_int_equal(dp_flow_count(c), 1);
    f = dp_flow_lookup(c, &k, 0);
    assert_non_null(f);
    assert_int_equal(f->actions.drop, DP_DROP_NO_ROUTE);
    assert_int_equal(dp_flow_invalidate_tag(c, old_tag), 0);
    assert_int_equal(dp_flow_invalidate_tag(c, new_tag), 1);
    dp_flow_cache_destroy(c);
}

static void test_flush_empties_the_cache_and_it_refills(void **state)
{
    (void)state;
    struct dp_flow_cache *c = make_cache(32, 0, 0);
    struct dp_actions a = drop_actions(DP_DROP_RULE_DROP);
    uint64_t tag = 5;

    for (int round = 0; round < 2; round++) {
        for (uint32_t i = 0; i < 32; i++) {
            struct flow_key k = key_n(i);
            assert_int_equal(dp_flow_insert(c, &k, &a, &tag, 1, 0, NULL), 0);
        }
        dp_flow_flush(c);
        assert_int_equal(dp_flow_count(c), 0);
        assert_int_equal(dp_flow_invalidate_tag(c, tag), 0);
    }
    dp_flow_cache_destroy(c);
}

static void test_entry_memory_stays_within_256_bytes_per_flow(void **state)
{
    (void)state;
    struct dp_flow_cache *c = NULL;
    struct dp_flow_config cfg = {.max_flows = 1u << 16, .max_tag_refs = 1, .max_tags = 1};

    assert_int_equal(dp_flow_cache_create(&c, &cfg), 0);
    /* Entries, free stack and key hash table, without tag pools. */
    assert_true(dp_flow_memory(c) / cfg.max_flows <= 256);
    dp_flow_cache_destroy(c);
    dp_flow_cache_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_finds_inserted_flow_and_misses_other_keys),
        cmocka_unit_test(test_burst_lookup_reports_each_hit_and_miss),
        cmocka_unit_test(test_idle_flow_is_not_returned_and_is_removed),
        cmocka_unit_test(test_hard_timeout_expires_a_busy_flow),
        cmocka_unit_test(test_expired_flows_in_a_burst_miss_while_others_hit),
        cmocka_unit_test(test_expiry_sweep_visits_a_bounded_number_of_slots),
        cmocka_unit_test(test_counters_count_packets_and_bytes_per_flow),
        cmocka_unit_test(test_invalidating_a_tag_removes_exactly_the_flows_carrying_it),
        cmocka_unit_test(test_full_cache_refuses_new_flows_until_room_is_made),
        cmocka_unit_test(test_exhausted_tag_references_refuse_insert_without_leaking),
        cmocka_unit_test(test_reinserting_a_key_replaces_its_actions_and_tags),
        cmocka_unit_test(test_flush_empties_the_cache_and_it_refills),
        cmocka_unit_test(test_entry_memory_stays_within_256_bytes_per_flow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
