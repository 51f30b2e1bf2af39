/* LPM against a brute-force reference; incremental updates; next-hop sets. */
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

static uint8_t random_len(void)
{
    static const uint8_t lens[] = {0, 1, 7, 8, 12, 16, 19, 20, 22, 23, 24, 24, 24, 24, 25, 26, 28, 30, 31, 32, 32};
    return lens[rnd() % sizeof(lens)];
}

/* Unique random prefixes; nested ones come from reusing a base address. */
static unsigned make_prefixes(struct pfx *ps, unsigned n)
{
    unsigned k = 0;
    uint32_t base = rnd();
    for (unsigned i = 0; i < n; i++) {
        uint8_t len = random_len();
        if (rnd() % 4 == 0)
            base = rnd();
        uint32_t p = (rnd() % 3 ? base : rnd()) & mask(len);
        bool dup = false;
        for (unsigned j = 0; j < k && !dup; j++)
            dup = ps[j].p == p && ps[j].len == len;
        if (dup)
            continue;
        ps[k++] = (struct pfx){p, rnd() % 1000, len, true};
    }
    return k;
}

static void check_against_brute(const struct lpm *l, const struct pfx *ps, unsigned n, unsigned keys)
{
    uint32_t addrs[64], vals[64];
    for (unsigned k = 0; k < keys; k += 64) {
        for (unsigned i = 0; i < 64; i++) {
            /* Half the keys at or next to prefix boundaries. */
            const struct pfx *p = &ps[rnd() % n];
            uint32_t span = ~mask(p->len);
            addrs[i] = (rnd() & 1) ? rnd() : p->p + ((rnd() & 1) ? span : 0) + (rnd() % 3) - 1;
        }
        lpm_lookup_bulk(l, addrs, vals, 64);
        for (unsigned i = 0; i < 64; i++) {
            uint32_t want = brute(ps, n, addrs[i]);
            assert_int_equal(lpm_lookup(l, addrs[i]), want);
            assert_int_equal(vals[i], want);
        }
    }
}

static void test_lookup_agrees_with_brute_force_on_random_tables(void **state)
{
    (void)state;
    static struct pfx ps[3000];
    for (int round = 0; round < 3; round++) {
        struct lpm *l;
        unsigned n = make_prefixes(ps, round == 0 ? 50 : 3000);
        assert_int_equal(lpm_create(&l), 0);
        for (unsigned i = 0; i < n; i++)
            assert_int_equal(lpm_add(l, ps[i].p, ps[i].len, ps[i].v), 0);
        assert_int_equal(lpm_count(l), n);
        check_against_brute(l, ps, n, 20000);
        lpm_destroy(l);
    }
}

static void test_interleaved_adds_and_deletes_stay_correct(void **state)
{
    (void)state;
    static struct pfx ps[2000];
    struct lpm *l;
    unsigned n = make_prefixes(ps, 2000);

    assert_int_equal(lpm_create(&l), 0);
    for (unsigned i = 0; i < n; i++)
        ps[i].live = false;
    for (int op = 0; op < 20000; op++) {
        struct pfx *p = &ps[rnd() % n];
        if (p->live) {
            assert_int_equal(lpm_del(l, p->p, p->len), 0);
            p->live = false;
        } else {
            assert_int_equal(lpm_add(l, p->p, p->len, p->v), 0);
            p->live = true;
        }
        if (op % 2000 == 0)
            check_against_brute(l, ps, n, 2048);
    }
    check_against_brute(l, ps, n, 20000);
    lpm_destroy(l);
}

static void test_deleting_covering_prefix_keeps_longer_ones(void **state)
{
    (void)state;
    struct lpm *l;
    assert_int_equal(lpm_create(&l), 0);
    assert_int_equal(lpm_add(l, 0x0a000000, 8, 1), 0);
    assert_int_equal(lpm_add(l, 0x0a010000, 16, 2), 0);
    assert_int_equal(lpm_add(l, 0x0a010180, 25, 3), 0);
    assert_int_equal(lpm_add(l, 0, 0, 9), 0);
    assert_int_equal(lpm_lookup(l, 0x0a010181), 3);
    assert_int_equal(lpm_del(l, 0x0a000000, 8), 0);
    assert_int_equal(lpm_lookup(l, 0x0a020000), 9);
    assert_int_equal(lpm_lookup(l, 0x0a010203), 2);
    assert_int_equal(lpm_lookup(l, 0x0a010181), 3);
    assert_int_equal(lpm_del(l, 0x0a010180, 25), 0);
    assert_int_equal(lpm_lookup(l, 0x0a010181), 2);
    assert_int_equal(lpm_add(l, 0x0a000000, 8, 5), 0);
    assert_int_equal(lpm_lookup(l, 0x0a020000), 5);
    assert_int_equal(lpm_del(l, 0, 0), 0);
    assert_int_equal(lpm_lookup(l, 0x0b000000), LPM_NONE);
    lpm_destroy(l);
}

static void test_replace_and_errors(void **state)
{
    (void)state;
    struct lpm *l;
    uint32_t v;
    assert_int_equal(lpm_create(&l), 0);
    assert_int_equal(lpm_add(l, 0xc0a80000, 16, 1), 0);
    assert_int_equal(lpm_add(l, 0xc0a80000, 16, 7), 0);
    assert_int_equal(lpm_count(l), 1);
    assert_int_equal(lpm_lookup(l, 0xc0a80101), 7);
    assert_int_equal(lpm_get(l, 0xc0a80000, 16, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(lpm_get(l, 0xc0a80000, 17, &v), -ENOENT);
    assert_int_equal(lpm_add(l, 0xc0a80001, 16, 1), -EINVAL);
    assert_int_equal(lpm_add(l, 0, 33, 1), -EINVAL);
    assert_int_equal(lpm_add(l, 0, 0, LPM_MAX_VALUE + 1), -EINVAL);
    assert_int_equal(lpm_del(l, 0x0a000000, 8), -ENOENT);
    lpm_destroy(l);
}

static void test_nhsets_are_interned_refcounted_and_pick_stably(void **state)
{
    (void)state;
    struct lpm_nhset_table *t;
    uint32_t a, b, c, hits[3] = {0};
    const uint32_t *m;
    unsigned n;

    assert_int_equal(lpm_nhset_create(&t), 0);
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){3, 1, 2}, 3, &a), 0);
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){2, 3, 1}, 3, &b), 0);
    assert_int_equal(a, b);
    assert_int_equal(lpm_nhset_get(t, (uint32_t[]){1, 2}, 2, &c), 0);
    assert_int_not_equal(a, c);
    assert_int_equal(lpm_nhset_members(t, a, &m, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(m[0], 1);
    for (uint32_t h = 0; h < 30000; h++) {
        uint32_t x = lpm_nhset_pick(t, a, h * 2654435761u);
        assert_int_equal(x, lpm_nhset_pick(t, a, h * 2654435761u));
        hits[x - 1]++;
    }
    for (int i = 0; i < 3; i++)
        assert_true(hits[i] > 5000);
    lpm_nhset_put(t, a);
    assert_int_equal(lpm_nhset_members(t, a, &m, &n), 0);   /* b still holds it */
    lpm_nhset_put(t, b);
    assert_int_equal(lpm_nhset_members(t, a, &m, &n), -ENOENT);
    assert_int_equal(lpm_nhset_get(t, NULL, 0, &a), -EINVAL);
    lpm_nhset_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_agrees_with_brute_force_on_random_tables),
        cmocka_unit_test(test_interleaved_adds_and_deletes_stay_correct),
        cmocka_unit_test(test_deleting_covering_prefix_keeps_longer_ones),
        cmocka_unit_test(test_replace_and_errors),
        cmocka_unit_test(test_nhsets_are_interned_refcounted_and_pick_stably),
    };
    return cmocka_run_group_tests_name("lpm", tests, NULL, NULL);
}
