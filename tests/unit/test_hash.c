/* SipHash vectors, and the cuckoo table against a reference model. */
#include "lib/hash.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_siphash24_matches_paper_vectors(void **state)
{
    (void)state;
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    /* Appendix A of the SipHash paper: 15-byte message 00..0e. */
    assert_true(rp_siphash_key(key, msg, 15) == 0xa129ca6149be45e5ull);
    /* The reference implementation's first vector: empty message. */
    assert_true(rp_siphash_key(key, msg, 0) == 0x726fdb47dd0e0e31ull);
}

static void test_process_key_is_random_and_stable(void **state)
{
    (void)state;
    uint8_t zero[16] = {0}, data[64] = {1, 2, 3};
    assert_true(rp_siphash(data, 3) == rp_siphash(data, 3));
    assert_true(rp_siphash(data, 3) != rp_siphash_key(zero, data, 3));
    assert_true(rp_hash_flow64(data) == rp_hash_flow64(data));
    data[63] ^= 1;
    assert_true(rp_hash_flow64(data) != rp_hash_flow64((uint8_t[64]){1, 2, 3}));
}

/* Reference: a plain array of (hash, value) pairs. */
struct ref {
    uint64_t *h;
    uint32_t *v;
    uint32_t n, cap;
};

static void ref_add(struct ref *r, uint64_t h, uint32_t v)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->h = realloc(r->h, r->cap * sizeof(*r->h));
        r->v = realloc(r->v, r->cap * sizeof(*r->v));
    }
    r->h[r->n] = h;
    r->v[r->n++] = v;
}

static bool table_has(const struct htab *t, uint64_t h, uint32_t v)
{
    struct htab_iter it;
    for (uint32_t x = htab_find_first(t, h, &it); x != HTAB_NONE; x = htab_find_next(&it))
        if (x == v)
            return true;
    return false;
}

static void test_random_operations_agree_with_reference(void **state)
{
    (void)state;
    struct htab *t;
    struct ref r = {0};
    uint32_t next = 0;

    assert_int_equal(htab_create(&t, 16), 0);
    for (int op = 0; op < 1000000; op++) {
        if (r.n == 0 || rnd64() % 3) {
            uint64_t h = rnd64();
            assert_int_equal(htab_insert(t, h, next), 0);
            ref_add(&r, h, next++);
        } else {
            uint32_t i = (uint32_t)(rnd64() % r.n);
            assert_true(htab_remove(t, r.h[i], r.v[i]));
            r.h[i] = r.h[r.n - 1];
            r.v[i] = r.v[r.n - 1];
            r.n--;
        }
        if (op % 50000 == 0)
            for (uint32_t i = 0; i < r.n; i += 7)
                assert_true(table_has(t, r.h[i], r.v[i]));
    }
    assert_int_equal(htab_count(t), r.n);
    for (uint32_t i = 0; i < r.n; i++)
        assert_true(table_has(t, r.h[i], r.v[i]));
    assert_false(htab_remove(t, 12345, 999999999));
    htab_destroy(t);
    free(r.h);
    free(r.v);
}

static void test_every_value_stays_findable_while_growing(void **state)
{
    (void)state;
    struct htab *t;
    uint64_t hs[20000];

    assert_int_equal(htab_create(&t, 8), 0);
    for (uint32_t i = 0; i < 20000; i++) {
        hs[i] = rnd64();
        assert_int_equal(htab_insert(t, hs[i], i), 0);
        /* A sample after every insert: growth never hides anything. */
        for (uint32_t j = 0; j <= i; j += 1 + i / 16)
            assert_true(table_has(t, hs[j], j));
    }
    assert_true(htab_memory(t) / 20000 < 64);
    htab_destroy(t);
}

static void test_equal_hashes_are_all_findable_until_bounded_failure(void **state)
{
    (void)state;
    struct htab *t;
    uint32_t stored = 0;
    int rc = 0;

    assert_int_equal(htab_create(&t, 1024), 0);
    /* One hash, many values: two buckets of 8 hold 16; then the insert must
     * fail cleanly (bounded walk, growth cannot help) instead of looping. */
    for (uint32_t v = 0; v < 40 && rc == 0; v++) {
        rc = htab_insert(t, 0xdeadbeefull, v);
        if (rc == 0)
            stored++;
    }
    assert_int_equal(rc, -ENOSPC);
    assert_true(stored >= 8);
    for (uint32_t v = 0; v < stored; v++)
        assert_true(table_has(t, 0xdeadbeefull, v));
    assert_int_equal(htab_count(t), stored);
    htab_destroy(t);
}

static void test_scan_visits_every_value_even_across_growth(void **state)
{
    (void)state;
    struct htab *t;
    uint8_t *seen = calloc(60000, 1);
    uint32_t buf[64];
    uint64_t cursor = 0;
    uint32_t calls = 0;

    assert_int_equal(htab_create(&t, 8), 0);
    for (uint32_t i = 0; i < 30000; i++)
        assert_int_equal(htab_insert(t, rnd64(), i), 0);
    do {
        uint32_t n = htab_scan(t, &cursor, buf, 64);
        for (uint32_t i = 0; i < n; i++)
            seen[buf[i]] = 1;
        /* Keep inserting during the walk so the table grows under it. */
        if (calls < 4000)
            assert_int_equal(htab_insert(t, rnd64(), 30000 + calls), 0);
        calls++;
    } while (cursor != 0 && calls < 1000000);
    for (uint32_t i = 0; i < 30000; i++)
        assert_int_equal(seen[i], 1);
    free(seen);
    htab_destroy(t);
}

static void test_max_entries_refuses_with_enospc(void **state)
{
    (void)state;
    struct htab *t;
    assert_int_equal(htab_create(&t, 16), 0);
    assert_int_equal(htab_set_max(t, 3), 0);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(htab_insert(t, rnd64(), i), 0);
    assert_int_equal(htab_insert(t, rnd64(), 3), -ENOSPC);
    assert_int_equal(htab_insert(t, 1, HTAB_NONE), -EINVAL);
    htab_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash24_matches_paper_vectors),
        cmocka_unit_test(test_process_key_is_random_and_stable),
        cmocka_unit_test(test_random_operations_agree_with_reference),
        cmocka_unit_test(test_every_value_stays_findable_while_growing),
        cmocka_unit_test(test_equal_hashes_are_all_findable_until_bounded_failure),
        cmocka_unit_test(test_scan_visits_every_value_even_across_growth),
        cmocka_unit_test(test_max_entries_refuses_with_enospc),
    };
    return cmocka_run_group_tests_name("hash", tests, NULL, NULL);
}
