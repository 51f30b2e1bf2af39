/* Internet checksum: known vectors, and incremental updates that always
 * agree with a full recomputation over many random rewrites. */
#include "lib/csum.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

/* A slow, obviously right reference: 16-bit words, end-around carry. */
static uint16_t ref_csum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    if (len & 1) {
        sum += (uint32_t)p[len - 1] << 8;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

static void test_rfc1071_example_sums_to_known_value(void **state)
{
    (void)state;
    /* RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2 (before complement). */
    const uint8_t d[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    assert_int_equal(ntohs(csum_fold(csum_partial(d, sizeof(d), 0))), (uint16_t)~0xddf2);
}

static void test_full_checksum_matches_reference_for_any_length_and_alignment(void **state)
{
    (void)state;
    uint8_t buf[1600];
    for (int iter = 0; iter < 2000; iter++) {
        size_t off = rnd() % 8, len = rnd() % 1500;
        for (size_t i = 0; i < len + off; i++)
            buf[i] = (uint8_t)rnd();
        assert_int_equal(ntohs(csum_fold(csum_partial(buf + off, len, 0))), ref_csum(buf + off, len));
    }
}

static void test_ipv4_header_checksum_verifies_to_zero(void **state)
{
    (void)state;
    uint8_t h[20] = {0x45, 0, 0, 60, 0x1c, 0x46, 0x40, 0, 0x40, 6, 0, 0, 172, 16, 10, 99, 172, 16, 10, 12};
    rp_be16 c = csum_ipv4_header(h, 20);
    memcpy(h + 10, &c, 2);
    assert_int_equal(ntohs(c), 0xb1e6);   /* the well-known example header */
    assert_int_equal(csum_partial(h, 20, 0), 0xffff);
}

/* Build a random IPv4/L4 packet and return its L4 checksum field offset. */
struct pkt {
    uint8_t b[128];
    size_t l4_len;
    uint8_t proto;
};

static void fill_l4(struct pkt *p, uint8_t proto)
{
    p->proto = proto;
    p->l4_len = 8 + rnd() % 64;
    for (size_t i = 0; i < 20 + p->l4_len; i++)
        p->b[i] = (uint8_t)rnd();
    p->b[0] = 0x45;
    p->b[9] = proto;
    memset(p->b + 10, 0, 2);
    rp_be16 ipc = csum_ipv4_header(p->b, 20);
    memcpy(p->b + 10, &ipc, 2);
    size_t co = proto == 6 ? 16 : proto == 17 ? 6 : 2;
    if (proto == 6 && p->l4_len < 20)
        p->l4_len = 20;
    memset(p->b + 20 + co, 0, 2);
    rp_be32 s, d;
    memcpy(&s, p->b + 12, 4);
    memcpy(&d, p->b + 16, 4);
    rp_be16 c = proto == 1 ? csum_fold(csum_partial(p->b + 20, p->l4_len, 0))
                           : csum_tcpudp_ipv4(s, d, proto, p->b + 20, (uint16_t)p->l4_len);
    memcpy(p->b + 20 + co, &c, 2);
}

static bool l4_ok(const struct pkt *p)
{
    rp_be32 s, d;
    memcpy(&s, p->b + 12, 4);
    memcpy(&d, p->b + 16, 4);
    if (p->proto == 1)
        return csum_partial(p->b + 20, p->l4_len, 0) == 0xffff;
    uint32_t sum = csum_pseudo_ipv4(s, d, p->proto, (uint16_t)p->l4_len);
    return ntohs(csum_fold(csum_partial(p->b + 20, p->l4_len, sum))) == 0;
}

static void test_incremental_snat_rewrite_agrees_with_full_recompute(void **state)
{
    (void)state;
    for (int iter = 0; iter < 100000; iter++) {
        struct pkt p;
        uint8_t proto = (uint8_t[]){6, 17}[rnd() % 2];
        fill_l4(&p, proto);
        size_t co = proto == 6 ? 16 : 6;
        rp_be32 old_ip, new_ip = htonl(rnd());
        rp_be16 old_port, new_port = htons((uint16_t)rnd()), ipc, l4c;
        bool src = rnd() & 1;
        memcpy(&old_ip, p.b + (src ? 12 : 16), 4);
        memcpy(&old_port, p.b + 20 + (src ? 0 : 2), 2);
        memcpy(&ipc, p.b + 10, 2);
        memcpy(&l4c, p.b + 20 + co, 2);
        ipc = csum_update32(ipc, old_ip, new_ip);
        l4c = csum_update32(l4c, old_ip, new_ip);
        l4c = csum_update16(l4c, old_port, new_port);
        memcpy(p.b + (src ? 12 : 16), &new_ip, 4);
        memcpy(p.b + 20 + (src ? 0 : 2), &new_port, 2);
        memcpy(p.b + 10, &ipc, 2);
        memcpy(p.b + 20 + co, &l4c, 2);
        assert_int_equal(csum_partial(p.b, 20, 0), 0xffff);
        assert_true(l4_ok(&p));
    }
}

static void test_udp_zero_checksum_stays_absent_and_present_never_becomes_zero(void **state)
{
    (void)state;
    assert_int_equal(csum_update_udp32(0, htonl(0x0a000001), htonl(0xc6336401)), 0);
    assert_int_equal(csum_update_udp16(0, htons(1000), htons(2000)), 0);
    for (int iter = 0; iter < 200000; iter++) {
        rp_be16 c = htons((uint16_t)(rnd() | 1));
        rp_be16 r = csum_update_udp16(c, htons((uint16_t)rnd()), htons((uint16_t)rnd()));
        assert_int_not_equal(r, 0);
    }
}

static void test_icmp_identifier_and_ttl_rewrites_agree_with_full_recompute(void **state)
{
    (void)state;
    for (int iter = 0; iter < 50000; iter++) {
        struct pkt p;
        fill_l4(&p, 1);
        rp_be16 old_id, new_id = htons((uint16_t)rnd()), c, ipc, old_ttl_word, new_ttl_word;
        memcpy(&old_id, p.b + 24, 2);
        memcpy(&c, p.b + 22, 2);
        c = csum_update16(c, old_id, new_id);
        memcpy(p.b + 24, &new_id, 2);
        memcpy(p.b + 22, &c, 2);
        assert_true(l4_ok(&p));
        /* TTL decrement: TTL and protocol share one 16-bit word. */
        memcpy(&old_ttl_word, p.b + 8, 2);
        p.b[8]--;
        memcpy(&new_ttl_word, p.b + 8, 2);
        memcpy(&ipc, p.b + 10, 2);
        ipc = csum_update16(ipc, old_ttl_word, new_ttl_word);
        memcpy(p.b + 10, &ipc, 2);
        assert_int_equal(csum_partial(p.b, 20, 0), 0xffff);
    }
}

static void test_udp_computed_zero_is_sent_as_ffff(void **state)
{
    (void)state;
    /* Find a payload whose UDP checksum computes to 0 and check it becomes 0xffff. */
    uint8_t l4[10] = {0, 1, 0, 2, 0, 10, 0, 0, 0, 0};
    rp_be32 s = htonl(0x0a000001), d = htonl(0x0a000002);
    for (uint32_t v = 0; v < 0x10000; v++) {
        l4[8] = (uint8_t)(v >> 8);
        l4[9] = (uint8_t)v;
        uint32_t sum = csum_pseudo_ipv4(s, d, 17, 10);
        if (csum_fold(csum_partial(l4, 10, sum)) == 0) {
            assert_int_equal(csum_tcpudp_ipv4(s, d, 17, l4, 10), 0xffff);
            return;
        }
    }
    fail_msg("no zero-checksum payload found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc1071_example_sums_to_known_value),
        cmocka_unit_test(test_full_checksum_matches_reference_for_any_length_and_alignment),
        cmocka_unit_test(test_ipv4_header_checksum_verifies_to_zero),
        cmocka_unit_test(test_incremental_snat_rewrite_agrees_with_full_recompute),
        cmocka_unit_test(test_udp_zero_checksum_stays_absent_and_present_never_becomes_zero),
        cmocka_unit_test(test_icmp_identifier_and_ttl_rewrites_agree_with_full_recompute),
        cmocka_unit_test(test_udp_computed_zero_is_sent_as_ffff),
    };
    return cmocka_run_group_tests_name("csum", tests, NULL, NULL);
}
