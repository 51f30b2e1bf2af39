/* lib/lpm: longest match against a brute-force reference, incremental
 * updates, exact-prefix reads, iteration, errors; next-hop sets. */
#include "lib/lpm.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

struct pfx {
    uint32_t p, v;
    uint8_t len;
    bool live;
};

static uint32_t mask(uint8_t len)
{
    return len ? ~0u << (32 - len) : 0;
}

/* The reference: a linear scan for the longest live prefix holding a. */
static uint32_t brute(const struct pfx *ps, unsigned n, uint32_t a)
{
    int best = -1;
    uint32_t v = LPM_NONE;

    for (unsigned i = 0; i < n; i++)
        if (ps[i].live && (a & mask(ps[i].len)) == ps[i].p && ps[i].len > best) {
            best = ps[i].len;
            v = ps[i].v;
        }
    return v;
}

/* Lengths over the whole range, with /24 and the /25../32 poptrie levels
 * (both node levels, both sides of bit 30) well represented. */
static uint8_t random_len(void)
{
    static const uint8_t lens[] = {0,  1,  2,  5,  7,  8,  8,  12, 15, 16, 16, 18, 19, 20, 21, 22, 23, 23,
                                   24, 24, 24, 24, 24, 25, 26, 27, 28, 29, 29, 30, 30, 31, 31, 32, 32, 32};
    return lens[rnd() % sizeof(lens)];
}

static int cmp_pfx(const void *a, const void *b)
{
    const struct pfx *x = a, *y = b;

    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->p < y->p ? -1 : x->p > y->p;
}

/* Up to n distinct random prefixes, in random order. Most reuse one of a
 * few hundred base addresses, so prefixes nest deeply (a /8 over a /16
 * over a /24 over a /29 over a /32); the rest are scattered. */
static unsigned make_prefixes(struct pfx *ps, unsigned n)
{
    uint32_t bases[256];
    unsigned k = 1;

    for (unsigned i = 0; i < 256; i++)
        bases[i] = rnd();
    for (unsigned i = 0; i < n; i++) {
        uint8_t len = random_len();
        uint32_t a = rnd() % 4 ? bases[rnd() % 256] ^ (rnd() & rnd() & 0xfff) : rnd();
        ps[i] = (struct pfx){a & mask(len), rnd() % 100000, len, true};
    }
    qsort(ps, n, sizeof(*ps), cmp_pfx);
    for (unsigned i = 1; i < n; i++)
        if (cmp_pfx(&ps[i], &ps[k - 1]))
            ps[k++] = ps[i];
    for (unsigned i = k - 1; i > 0; i--) {
        unsigned j = rnd() % (i + 1);
        struct pfx t = ps[i];
        ps[i] = ps[j];
        ps[j] = t;
    }
    return k;
}

/* A key: half uniformly random, half at or next to a prefix's edges. */
static uint32_t random_key(const struct pfx *ps, unsigned n)
{
    const struct pfx *p = &ps[rnd() % n];
    uint32_t last = p->p | ~mask(p->len);

    switch (rnd() % 6) {
    case 0: return p->p;
    case 1: return last;
    case 2: return p->p - 1;
    case 3: return last + 1;
    default: return rnd();
    }
}

static void check_against_brute(const struct lpm *l, const struct pfx *ps, unsigned n, unsigned keys)
{
    uint32_t addrs[67], vals[67];

    for (unsigned k = 0; k < keys; k += 67) {
        for (unsigned i = 0; i < 67; i++)
            addrs[i] = random_key(ps, n);
        lpm_lookup_bulk(l, addrs, vals, 67);
        for (unsigned i = 0; i < 67; i++) {
            uint32_t want = brute(ps, n, addrs[i]);
            assert_int_equal(lpm_lookup(l, addrs[i]), want);
            assert_int_equal(vals[i], want);
        }
    }
}

static struct lpm *new_lpm(void)
{
    struct lpm *l = NULL;

    assert_int_equal(lpm_create(&l), 0);
    return l;
}

static void test_lookup_agrees_with_brute_force_on_random_tables(void **state)
{
    static struct pfx ps[100000];
    static const unsigned sizes[] = {1, 10, 300, 5000, 100000};
    static const unsigned keys[] = {5000, 20000, 20000, 10000, 2000};

    (void)state;
    for (unsigned r = 0; r < RP_ARRAY_SIZE(sizes); r++) {
        struct lpm *l = new_lpm();
        unsigned n = make_prefixes(ps, sizes[r]);

        for (unsigned i = 0; i < n; i++)
            assert_int_equal(lpm_add(l, ps[i].p, ps[i].len, ps[i].v), 0);
        assert_int_equal(lpm_count(l), n);
        check_against_brute(l, ps, n, keys[r]);
        lpm_destroy(l);
    }
}

static void test_random_adds_and_deletes_keep_agreeing_with_brute_force(void **state)
{
    static struct pfx ps[3000];
    struct lpm *l = new_lpm();
    unsigned n = make_prefixes(ps, 3000), live = 0;
    uint32_t v;

    (void)state;
    for (unsigned i = 0; i < n; i++)
        ps[i].live = false;
    for (int op = 0; op < 30000; op++) {
        struct pfx *p = &ps[rnd() % n];

        switch (rnd() % 4) {
        case 0:
        case 1:   /* add, or replace with a new value */
            if (!p->live)
                live++;
            p->live = true;
            p->v = rnd() % 100000;
            assert_int_equal(lpm_add(l, p->p, p->len, p->v), 0);
            break;
        default:
            assert_int_equal(lpm_del(l, p->p, p->len), p->live ? 0 : -ENOENT);
            live -= p->live;
            p->live = false;
        }
        assert_int_equal(lpm_count(l), live);
        if (p->live) {
            assert_int_equal(lpm_get(l, p->p, p->len, &v), 0);
            assert_int_equal(v, p->v);
        } else {
            assert_int_equal(lpm_get(l, p->p, p->len, &v), -ENOENT);
        }
        if (op % 1000 == 0)
            check_against_brute(l, ps, n, 1340);
    }
    check_against_brute(l, ps, n, 20000);
    /* Empty it: every lookup misses again. */
    for (unsigned i = 0; i < n; i++)
        if (ps[i].live)
            assert_int_equal(lpm_del(l, ps[i].p, ps[i].len), 0);
    assert_int_equal(lpm_count(l), 0);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(lpm_lookup(l, rnd()), LPM_NONE);
    lpm_destroy(l);
}

/* Every length from /0 to /32 on one address: each update lands on the
 * same path, through both node levels, in every order. */
static void test_nested_chain_updates_in_any_order_stay_correct(void **state)
{
    struct pfx ps[33];
    struct lpm *l = new_lpm();
    const uint32_t base = 0xc6336455;   /* 198.51.100.85 */

    (void)state;
    for (unsigned i = 0; i <= 32; i++)
        ps[i] = (struct pfx){base & mask((uint8_t)i), 1000 + i, (uint8_t)i, false};
    for (int round = 0; round < 300; round++) {
        struct pfx *p = &ps[rnd() % 33];

        if (p->live)
            assert_int_equal(lpm_del(l, p->p, p->len), 0);
        else
            assert_int_equal(lpm_add(l, p->p, p->len, p->v), 0);
        p->live = !p->live;
        for (unsigned i = 0; i <= 32; i++) {
            uint32_t a = base ^ (i < 32 ? 1u << i : 0);
            assert_int_equal(lpm_lookup(l, a), brute(ps, 33, a));
        }
        check_against_brute(l, ps, 33, 134);
    }
    lpm_destroy(l);
}

static void test_deleting_covering_prefix_keeps_longer_ones(void **state)
{
    struct lpm *l = new_lpm();

    (void)state;
    assert_int_equal(lpm_add(l, 0x0a000000, 8, 1), 0);
    assert_int_equal(lpm_add(l, 0x0a010000, 16, 2), 0);
    assert_int_equal(lpm_add(l, 0x0a010180, 25, 3), 0);
    assert_int_equal(lpm_add(l, 0x0a0101c1, 32, 4), 0);
    assert_int_equal(lpm_add(l, 0, 0, 9), 0);
    assert_int_equal(lpm_lookup(l, 0x0a010181), 3);
    assert_int_equal(lpm_del(l, 0x0a000000, 8), 0);
    assert_int_equal(lpm_lookup(l, 0x0a020000), 9);
    assert_int_equal(lpm_lookup(l, 0x0a010203), 2);
    assert_int_equal(lpm_lookup(l, 0x0a010181), 3);
    assert_int_equal(lpm_lookup(l, 0x0a0101c1), 4);
    assert_int_equal(lpm_del(l, 0x0a010180, 25), 0);
    assert_int_equal(lpm_lookup(l, 0x0a010181), 2);
    assert_int_equal(lpm_lookup(l, 0x0a0101c1), 4);
    assert_int_equal(lpm_lookup(l, 0x0a0101c2), 2);
    assert_int_equal(lpm_add(l, 0x0a000000, 8, 5), 0);   /* re-added under the /16 */
    assert_int_equal(lpm_lookup(l, 0x0a020000), 5);
    assert_int_equal(lpm_lookup(l, 0x0a010203), 2);
    assert_int_equal(lpm_del(l, 0x0a010000, 16), 0);
    assert_int_equal(lpm_lookup(l, 0x0a010203), 5);
    assert_int_equal(lpm_lookup(l, 0x0a0101c1), 4);
    lpm_destroy(l);
}

static void test_default_route_answers_only_what_nothing_longer_holds(void **state)
{
    struct lpm *l = new_lpm();

    (void)state;
    assert_int_equal(lpm_lookup(l, 0x01020304), LPM_NONE);
    assert_int_equal(lpm_add(l, 0, 0, 7), 0);
    assert_int_equal(lpm_add(l, 0xc0000200, 24, 8), 0);
    assert_int_equal(lpm_add(l, 0xc0000280, 32, 9), 0);
    assert_int_equal(lpm_lookup(l, 0x01020304), 7);
    assert_int_equal(lpm_lookup(l, 0xffffffff), 7);
    assert_int_equal(lpm_lookup(l, 0xc0000201), 8);
    assert_int_equal(lpm_lookup(l, 0xc0000280), 9);
    assert_int_equal(lpm_lookup(l, 0xc0000281), 8);
    assert_int_equal(lpm_add(l, 0, 0, 6), 0);
    assert_int_equal(lpm_lookup(l, 0x01020304), 6);
    assert_int_equal(lpm_count(l), 3);
    assert_int_equal(lpm_del(l, 0, 0), 0);
    assert_int_equal(lpm_lookup(l, 0x01020304), LPM_NONE);
    assert_int_equal(lpm_lookup(l, 0xc0000201), 8);
    assert_int_equal(lpm_del(l, 0, 0), -ENOENT);
    lpm_destroy(l);
}

static void test_add_of_existing_prefix_replaces_its_value(void **state)
{
    struct lpm *l = new_lpm();
    uint32_t v;

    (void)state;
    assert_int_equal(lpm_add(l, 0xc0a80000, 16, 1), 0);
    assert_int_equal(lpm_add(l, 0xc0a80100, 24, 2), 0);
    assert_int_equal(lpm_add(l, 0xc0a80000, 16, 7), 0);
    assert_int_equal(lpm_add(l, 0xc0a80000, 16, 7), 0);
    assert_int_equal(lpm_count(l), 2);
    assert_int_equal(lpm_lookup(l, 0xc0a80201), 7);
    assert_int_equal(lpm_lookup(l, 0xc0a80101), 2);
    assert_int_equal(lpm_get(l, 0xc0a80000, 16, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(lpm_add(l, 0xc0a80180, 32, LPM_MAX_VALUE), 0);
    assert_int_equal(lpm_lookup(l, 0xc0a80180), LPM_MAX_VALUE);
    assert_int_equal(lpm_add(l, 0xc0a80180, 32, 0), 0);
    assert_int_equal(lpm_lookup(l, 0xc0a80180), 0);
    lpm_destroy(l);
}

static void test_bad_arguments_and_absent_prefixes_give_errors(void **state)
{
    struct lpm *l = new_lpm();
    uint32_t v = 12345;

    (void)state;
    assert_int_equal(lpm_add(l, 0xc0a80001, 16, 1), -EINVAL);    /* host bits */
    assert_int_equal(lpm_add(l, 0, 33, 1), -EINVAL);
    assert_int_equal(lpm_add(l, 0, 8, LPM_MAX_VALUE + 1), -EINVAL);
    assert_int_equal(lpm_add(l, 0, 8, LPM_NONE), -EINVAL);
    assert_int_equal(lpm_del(l, 0x0a000001, 8), -EINVAL);
    assert_int_equal(lpm_get(l, 0, 40, &v), -EINVAL);
    assert_int_equal(lpm_count(l), 0);
    assert_int_equal(lpm_add(l, 0x0a000000, 8, 1), 0);
    assert_int_equal(lpm_del(l, 0x0a000000, 9), -ENOENT);        /* same bits, other length */
    assert_int_equal(lpm_del(l, 0x0a000000, 7), -ENOENT);
    assert_int_equal(lpm_del(l, 0x0b000000, 8), -ENOENT);
    assert_int_equal(lpm_get(l, 0x0a000000, 16, &v), -ENOENT);   /* covered, not present */
    assert_int_equal(lpm_get(l, 0, 0, &v), -ENOENT);
    assert_int_equal(v, 12345);
    assert_int_equal(lpm_count(l), 1);
    assert_int_equal(lpm_lookup(l, 0x0a7f0000), 1);
    lpm_destroy(NULL);
    lpm_destroy(l);
}

static void test_deleting_every_route_gives_all_memory_back(void **state)
{
    static struct pfx ps[20000];
    struct lpm *l = new_lpm();
    size_t empty = lpm_memory(l), full = 0;
    unsigned n = make_prefixes(ps, 20000);

    (void)state;
    for (int round = 0; round < 2; round++) {
        for (unsigned i = 0; i < n; i++)
            assert_int_equal(lpm_add(l, ps[i].p, ps[i].len, ps[i].v), 0);
        if (round == 0)
            full = lpm_memory(l);
        assert_true(full > empty);
        assert_int_equal(lpm_memory(l), full);
        /* Delete in another order than added. */
        for (unsigned i = n; i-- > 0;)
            assert_int_equal(lpm_del(l, ps[i].p, ps[i].len), 0);
        assert_int_equal(lpm_memory(l), empty);
        assert_int_equal(lpm_lookup(l, ps[0].p), LPM_NONE);
    }
    lpm_destroy(l);
}

static void test_bulk_lookup_handles_any_burst_length(void **state)
{
    static struct pfx ps[2000];
    struct lpm *l = new_lpm();
    unsigned n = make_prefixes(ps, 2000);
    uint32_t addrs[200], vals[201];

    (void)state;
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(lpm_add(l, ps[i].p, ps[i].len, ps[i].v), 0);
    lpm_lookup_bulk(l, addrs, vals, 0);
    for (unsigned len = 1; len <= 200; len += 13) {
        for (unsigned i = 0; i < len; i++)
            addrs[i] = random_key(ps, n);
        vals[len] = 0xabcdef;
        lpm_lookup_bulk(l, addrs, vals, len);
        for (unsigned i = 0; i < len; i++)
            assert_int_equal(vals[i], brute(ps, n, addrs[i]));
        assert_int_equal(vals[len], 0xabcdef);   /* nothing written past n */
    }
    lpm_destroy(l);
}

struct seen {
    struct pfx got[600];
    unsigned n, stop_at;
};

static int collect(uint32_t prefix, uint8_t len, uint32_t value, void *arg)
{
    struct seen *s = arg;

    if (s->n == s->stop_at)
        return 42;
    assert_true(s->n < RP_ARRAY_SIZE(s->got));
    s->got[s->n++] = (struct pfx){prefix, value, len, true};
    return 0;
}

static int cmp_addr_order(const void *a, const void *b)
{
    const struct pfx *x = a, *y = b;

    if (x->p != y->p)
        return x->p < y->p ? -1 : 1;
    return x->len < y->len ? -1 : x->len > y->len;
}

static void test_foreach_lists_every_prefix_in_address_order(void **state)
{
    static struct pfx ps[500];
    static struct seen s;
    struct lpm *l = new_lpm();
    unsigned n = make_prefixes(ps, 500);

    (void)state;
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(lpm_add(l, ps[i].p, ps[i].len, ps[i].v), 0);
    s.stop_at = UINT32_MAX;
    assert_int_equal(lpm_foreach(l, collect, &s), 0);
    assert_int_equal(s.n, n);
    qsort(ps, n, sizeof(ps[0]), cmp_addr_order);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(s.got[i].p, ps[i].p);
        assert_int_equal(s.got[i].len, ps[i].len);
        assert_int_equal(s.got[i].v, ps[i].v);
    }
    s.n = 0;
    s.stop_at = 5;
    assert_int_equal(lpm_foreach(l, collect, &s), 42);
    assert_int_equal(s.n, 5);
    lpm_destroy(l);
}

/* --- next-hop sets ------------------------------------------------------------ */

static struct lpm_nhset_table *new_nhsets(void)
{
    struct lpm_nhset_table *t = NULL;

    assert_int_equal(lpm_nhset_create(&t), 0);
    return t;
}

static void test_nhset_same_members_in_any_order_share_one_id(void **state)
{
    struct lpm_nhset_table *t = new_nhsets();
    uint32_t a, b, c, d;
    const uint32_t *m;
    unsigned n;

    (void)state;
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){30, 10, 20}, 3, &a), 0);
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){20, 30, 10}, 3, &b), 0);
    assert_int_equal(a, b);
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){10, 20}, 2, &c), 0);
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){10, 10, 20}, 3, &d), 0);   /* a weight, not a dup */
    assert_int_not_equal(a, c);
    assert_int_not_equal(c, d);
    assert_int_equal(lpm_nhset_count(t), 3);
    assert_int_equal(lpm_nhset_members(t, a, &m, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(m[0], 10);
    assert_int_equal(m[1], 20);
    assert_int_equal(m[2], 30);
    assert_true(a <= LPM_MAX_VALUE);
    lpm_nhset_destroy(t);
    lpm_nhset_destroy(NULL);
}

static void test_nhset_lives_until_its_last_reference_is_put(void **state)
{
    struct lpm_nhset_table *t = new_nhsets();
    uint32_t a, b, c;
    const uint32_t *m;
    unsigned n;

    (void)state;
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){1, 2}, 2, &a), 0);
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){2, 1}, 2, &b), 0);
    lpm_nhset_put(t, a);
    assert_int_equal(lpm_nhset_members(t, a, &m, &n), 0);
    assert_int_equal(lpm_nhset_pick(t, a, 99) != LPM_NONE, true);
    lpm_nhset_put(t, b);
    assert_int_equal(lpm_nhset_members(t, a, &m, &n), -ENOENT);
    assert_int_equal(lpm_nhset_pick(t, a, 99), LPM_NONE);
    assert_int_equal(lpm_nhset_count(t), 0);
    /* A new set may reuse the id; the old members are gone from the index. */
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){5}, 1, &c), 0);
    assert_int_equal(lpm_nhset_members(t, c, &m, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(m[0], 5);
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){1, 2}, 2, &a), 0);
    assert_int_not_equal(a, c);
    assert_int_equal(lpm_nhset_count(t), 2);
    lpm_nhset_destroy(t);
}

static void test_nhset_get_rejects_empty_and_oversized_sets(void **state)
{
    struct lpm_nhset_table *t = new_nhsets();
    static uint32_t many[LPM_NHSET_MAX_MEMBERS + 1];
    uint32_t id = 777;

    (void)state;
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){1}, 0, &id), -EINVAL);
    assert_int_equal(lpm_nhset_get(t, NULL, 0, &id), -EINVAL);
    assert_int_equal(lpm_nhset_get(t, many, LPM_NHSET_MAX_MEMBERS + 1, &id), -EINVAL);
    assert_int_equal(id, 777);
    assert_int_equal(lpm_nhset_get(t, many, LPM_NHSET_MAX_MEMBERS, &id), 0);
    assert_int_equal(lpm_nhset_count(t), 1);
    lpm_nhset_destroy(t);
}

static void test_nhset_pick_is_stable_and_spreads_over_members(void **state)
{
    struct lpm_nhset_table *t = new_nhsets();
    uint32_t a, w, hits[4] = {0}, whits[2] = {0};

    (void)state;
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){3, 1, 2, 0}, 4, &a), 0);
    /* Consecutive small hashes too: weak flow hashes must still spread. */
    for (uint32_t h = 0; h < 40000; h++) {
        uint32_t x = lpm_nhset_pick(t, a, h);

        assert_true(x < 4);
        assert_int_equal(x, lpm_nhset_pick(t, a, h));
        hits[x]++;
    }
    for (int i = 0; i < 4; i++)
        assert_true(hits[i] > 9000 && hits[i] < 11000);
    /* Listed twice, weighs twice. */
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){7, 8, 7}, 3, &w), 0);
    for (uint32_t h = 0; h < 30000; h++)
        whits[lpm_nhset_pick(t, w, h * 2654435761u) - 7]++;
    assert_true(whits[0] > 19000 && whits[0] < 21000);
    lpm_nhset_destroy(t);
}

/* The intended use: LPM values are set ids, picks are per flow. */
static void test_lpm_value_as_nhset_id_routes_flows_over_the_set(void **state)
{
    struct lpm_nhset_table *t = new_nhsets();
    struct lpm *l = new_lpm();
    uint32_t set, single, seen = 0;

    (void)state;
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){101, 102, 103}, 3, &set), 0);
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){200}, 1, &single), 0);
    assert_int_equal(lpm_add(l, 0, 0, set), 0);
    assert_int_equal(lpm_add(l, 0x0a000000, 8, single), 0);
    for (uint32_t h = 0; h < 300; h++) {
        uint32_t nh = lpm_nhset_pick(t, lpm_lookup(l, 0x08080808), h);
        assert_true(nh >= 101 && nh <= 103);
        seen |= 1u << (nh - 101);
        assert_int_equal(lpm_nhset_pick(t, lpm_lookup(l, 0x0a010203), h), 200);
    }
    assert_int_equal(seen, 7);
    lpm_destroy(l);
    lpm_nhset_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_agrees_with_brute_force_on_random_tables),
        cmocka_unit_test(test_random_adds_and_deletes_keep_agreeing_with_brute_force),
        cmocka_unit_test(test_nested_chain_updates_in_any_order_stay_correct),
        cmocka_unit_test(test_deleting_covering_prefix_keeps_longer_ones),
        cmocka_unit_test(test_default_route_answers_only_what_nothing_longer_holds),
        cmocka_unit_test(test_add_of_existing_prefix_replaces_its_value),
        cmocka_unit_test(test_bad_arguments_and_absent_prefixes_give_errors),
        cmocka_unit_test(test_deleting_every_route_gives_all_memory_back),
        cmocka_unit_test(test_bulk_lookup_handles_any_burst_length),
        cmocka_unit_test(test_foreach_lists_every_prefix_in_address_order),
        cmocka_unit_test(test_nhset_same_members_in_any_order_share_one_id),
        cmocka_unit_test(test_nhset_lives_until_its_last_reference_is_put),
        cmocka_unit_test(test_nhset_get_rejects_empty_and_oversized_sets),
        cmocka_unit_test(test_nhset_pick_is_stable_and_spreads_over_members),
        cmocka_unit_test(test_lpm_value_as_nhset_id_routes_flows_over_the_set),
    };

    return cmocka_run_group_tests_name("lpm", tests, NULL, NULL);
}
