/* agent/agent_lease.c: the reserve of SNAT port blocks the agent keeps for
 * nat/, without a network: a fake API (transport) and a fake clock, the
 * lease thread's work driven by hand. */
#include "agent/agent_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S 1000000000ull
#define ZONE 0x1111222233334444ull
#define ROUTER "0b6e0bd1-5d3e-4c55-9a0f-2b1a1c1d1e1f"

/* --- a fake API: an in-memory block table for one (router, address) ------------------------- */

struct fake_api {
    int lease_rc, renew_rc, release_rc;    /* forced answers; 0: behave */
    uint32_t ttl_s;
    bool held[1024];                       /* by block number */
    bool other[1024];                      /* held by another host */
    uint32_t cursor;                       /* blocks go round, as a store's may */
    unsigned leases, renews, releases;     /* requests made */
    char last_router[37], last_addr[16];
    uint16_t last_from, last_to, last_released;
};

static struct fake_api api;
static uint64_t fake_now;

static uint64_t clock_fake(void)
{
    return fake_now;
}

static int fake_lease(void *ctx, const char *router, const char *addr, uint16_t from, uint16_t to, uint16_t *first,
                      uint32_t *ttl_s)
{
    (void)ctx;
    api.leases++;
    snprintf(api.last_router, sizeof(api.last_router), "%s", router);
    snprintf(api.last_addr, sizeof(api.last_addr), "%s", addr);
    api.last_from = from;
    api.last_to = to;
    if (api.lease_rc)
        return api.lease_rc;
    uint32_t lo = from / NAT_BLOCK_PORTS, n = (uint32_t)to / NAT_BLOCK_PORTS - lo + 1;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t b = lo + (api.cursor + k) % n;
        if (!api.held[b]) {
            api.held[b] = true;
            api.cursor = b - lo + 1;
            *first = (uint16_t)(b * NAT_BLOCK_PORTS);
            *ttl_s = api.ttl_s;
            return 0;
        }
    }
    return -EADDRNOTAVAIL;
}

static int fake_renew(void *ctx, const char *router, const char *addr, uint16_t first, uint32_t *ttl_s)
{
    (void)ctx;
    (void)router;
    (void)addr;
    api.renews++;
    if (api.renew_rc)
        return api.renew_rc;
    if (!api.held[first / NAT_BLOCK_PORTS] || api.other[first / NAT_BLOCK_PORTS])
        return -ENOENT;
    *ttl_s = api.ttl_s;
    return 0;
}

static int fake_release(void *ctx, const char *router, const char *addr, uint16_t first)
{
    (void)ctx;
    (void)router;
    (void)addr;
    api.releases++;
    api.last_released = first;
    if (api.release_rc)
        return api.release_rc;
    if (!api.held[first / NAT_BLOCK_PORTS] || api.other[first / NAT_BLOCK_PORTS])
        return -ENOENT;
    api.held[first / NAT_BLOCK_PORTS] = false;
    return 0;
}

static int fake_zone(void *ctx, uint64_t zone, char out[37])
{
    (void)ctx;
    if (zone != ZONE)
        return -ENOENT;
    snprintf(out, 37, "%s", ROUTER);
    return 0;
}

static rp_be32 pub(void)
{
    return htonl(0xc6336402);   /* 198.51.100.2 */
}

static struct agent_lease *mk(void)
{
    struct agent_lease_config c = {0};
    struct agent_lease *l = NULL;

    memset(&api, 0, sizeof(api));
    api.ttl_s = 60;
    fake_now = 1000 * S;
    c.tr = (struct agent_lease_transport){fake_lease, fake_renew, fake_release, NULL};
    c.zone_device = fake_zone;
    c.clock_ns = clock_fake;
    c.reserve = 2;
    assert_int_equal(agent_lease_create(&l, &c), 0);
    return l;
}

static int take(struct agent_lease *l, uint16_t *first)
{
    return agent_lease_ops.lease(l, ZONE, pub(), 1024, 65535, first);
}

static void give_back(struct agent_lease *l, uint16_t first)
{
    agent_lease_ops.release(l, ZONE, pub(), first);
}

static struct agent_lease_stats stats(struct agent_lease *l)
{
    struct agent_lease_stats s;
    agent_lease_get_stats(l, &s);
    return s;
}

/* --- tests --------------------------------------------------------------------------------------- */

static void test_first_demand_misses_and_the_thread_fills_the_reserve(void **state)
{
    (void)state;
    struct agent_lease *l = mk();
    uint16_t first = 1, second = 1;

    assert_int_equal(take(l, &first), -EADDRNOTAVAIL);
    assert_int_equal(api.leases, 0);   /* the forwarding thread never calls the API */
    assert_int_equal(agent_lease_work(l, NULL), 2);
    assert_int_equal(api.leases, 2);
    assert_string_equal(api.last_router, ROUTER);
    assert_string_equal(api.last_addr, "198.51.100.2");
    assert_int_equal(api.last_from, 1024);
    assert_int_equal(api.last_to, 65535);
    assert_int_equal(stats(l).reserve, 2);

    assert_int_equal(take(l, &first), 0);
    assert_int_equal(take(l, &second), 0);
    assert_int_equal(first % NAT_BLOCK_PORTS, 0);
    assert_true(api.held[first / NAT_BLOCK_PORTS] && api.held[second / NAT_BLOCK_PORTS]);
    assert_int_not_equal(first, second);
    assert_int_equal(stats(l).held, 2);
    assert_int_equal(take(l, &first), -EADDRNOTAVAIL);   /* reserve drawn down, not refilled yet */
    assert_int_equal(stats(l).misses, 2);
    agent_lease_work(l, NULL);
    assert_int_equal(stats(l).reserve, 2);
    agent_lease_destroy(l);
}

static void test_a_zone_that_missed_is_reported_once_when_its_blocks_come(void **state)
{
    (void)state;
    struct agent_lease *l = mk();
    uint64_t zones[4];
    uint16_t first;

    assert_int_equal(take(l, &first), -EADDRNOTAVAIL);
    assert_int_equal(agent_lease_take_recovered(l, zones, 4), 0);   /* nothing leased yet */
    agent_lease_work(l, NULL);
    assert_int_equal(agent_lease_take_recovered(l, zones, 4), 1);
    assert_true(zones[0] == ZONE);
    assert_int_equal(agent_lease_take_recovered(l, zones, 4), 0);
    assert_int_equal(take(l, &first), 0);   /* served from the reserve: no miss ... */
    agent_lease_work(l, NULL);              /* ... so the top-up reports nothing */
    assert_int_equal(agent_lease_take_recovered(l, zones, 4), 0);
    agent_lease_destroy(l);
}

static void test_a_zone_without_a_device_is_refused_without_a_request(void **state)
{
    (void)state;
    struct agent_lease *l = mk();
    uint16_t first;

    assert_int_equal(agent_lease_ops.lease(l, ZONE + 1, pub(), 1024, 65535, &first), -EADDRNOTAVAIL);
    assert_int_equal(agent_lease_work(l, NULL), 0);
    assert_int_equal(api.leases, 0);
    assert_int_equal(stats(l).unknown_zone, 1);
    agent_lease_destroy(l);
}

static void test_exhausted_range_backs_off_before_asking_again(void **state)
{
    (void)state;
    struct agent_lease *l = mk();
    uint16_t first;

    api.lease_rc = -EADDRNOTAVAIL;
    take(l, &first);
    assert_int_equal(agent_lease_work(l, NULL), 1);
    assert_int_equal(stats(l).exhausted, 1);
    take(l, &first);
    assert_int_equal(agent_lease_work(l, NULL), 0);   /* within the back-off */
    fake_now += 6 * S;
    api.lease_rc = 0;
    assert_int_equal(agent_lease_work(l, NULL), 2);
    assert_int_equal(take(l, &first), 0);
    agent_lease_destroy(l);
}

static void test_leased_blocks_are_renewed_each_third_of_the_lease(void **state)
{
    (void)state;
    struct agent_lease *l = mk();
    uint16_t first;

    take(l, &first);
    agent_lease_work(l, NULL);
    assert_int_equal(take(l, &first), 0);   /* one held, one in reserve after... */
    agent_lease_work(l, NULL);              /* ... the top-up: one held, two in reserve */
    fake_now += 19 * S;
    assert_int_equal(agent_lease_work(l, NULL), 0);
    assert_int_equal(api.renews, 0);
    fake_now += 2 * S;
    assert_int_equal(agent_lease_work(l, NULL), 3);
    assert_int_equal(api.renews, 3);
    assert_int_equal(stats(l).renewed, 3);
    fake_now += 19 * S;                     /* 40 s after the lease: the renewal pushed it on */
    assert_int_equal(agent_lease_work(l, NULL), 0);
    assert_int_equal(take(l, &first), 0);
    agent_lease_destroy(l);
}

static void test_a_block_nat_gives_back_is_released_through_the_api(void **state)
{
    (void)state;
    struct agent_lease *l = mk();
    uint16_t first;

    take(l, &first);
    agent_lease_work(l, NULL);
    assert_int_equal(take(l, &first), 0);
    give_back(l, first);
    agent_lease_work(l, NULL);
    assert_int_equal(api.releases, 1);
    assert_int_equal(api.last_released, first);
    assert_false(api.held[first / NAT_BLOCK_PORTS]);
    assert_int_equal(stats(l).held, 0);
    give_back(l, first);                    /* a second give-back of the same block: nothing */
    agent_lease_work(l, NULL);
    assert_int_equal(api.releases, 1);
    agent_lease_destroy(l);
}

static void test_a_reserve_block_the_api_lost_is_replaced(void **state)
{
    (void)state;
    struct agent_lease *l = mk();
    uint16_t first, lost = 0;

    take(l, &first);
    agent_lease_work(l, NULL);
    for (unsigned b = 0; b < 1024; b++)
        if (api.held[b]) {
            api.other[b] = true;            /* expired and taken by another host */
            lost = (uint16_t)(b * NAT_BLOCK_PORTS);
            break;
        }
    fake_now += 21 * S;
    agent_lease_work(l, NULL);
    assert_int_equal(stats(l).lost, 1);
    assert_int_equal(stats(l).reserve, 2);  /* topped up again */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(take(l, &first), 0);
        assert_int_not_equal(first, lost);
    }
    agent_lease_destroy(l);
}

static void test_a_reserve_block_near_expiry_is_not_handed_out(void **state)
{
    (void)state;
    struct agent_lease *l = mk();
    uint16_t first;

    take(l, &first);
    agent_lease_work(l, NULL);
    api.renew_rc = -EIO;                    /* the API out of reach */
    api.lease_rc = -EIO;
    for (int i = 0; i < 52; i++) {
        fake_now += S;
        agent_lease_work(l, NULL);
    }
    /* 52 s into a 60 s lease, none renewed: another host may get them soon */
    assert_int_equal(take(l, &first), -EADDRNOTAVAIL);
    assert_int_equal(stats(l).reserve, 0);
    assert_true(stats(l).api_errors > 0);
    agent_lease_destroy(l);
}

static void test_a_reserve_nobody_draws_from_is_released(void **state)
{
    (void)state;
    struct agent_lease *l = mk();
    uint16_t first;

    take(l, &first);
    agent_lease_work(l, NULL);
    assert_int_equal(stats(l).reserve, 2);
    for (int i = 0; i < 31; i++) {          /* 310 s, renewing on the way */
        fake_now += 10 * S;
        agent_lease_work(l, NULL);
    }
    assert_int_equal(stats(l).reserve, 0);
    assert_int_equal(api.releases, 2);
    for (unsigned b = 0; b < 1024; b++)
        assert_false(api.held[b]);
    agent_lease_destroy(l);
}

static void test_destroy_gives_every_block_back(void **state)
{
    (void)state;
    struct agent_lease *l = mk();
    uint16_t first;

    take(l, &first);
    agent_lease_work(l, NULL);
    assert_int_equal(take(l, &first), 0);
    agent_lease_destroy(l);
    assert_int_equal(api.releases, 2);
    for (unsigned b = 0; b < 1024; b++)
        assert_false(api.held[b]);
}

/* The allocator under real NAT tables: the first SNAT finds no reserve
 * ("snat ports exhausted"), the retry after the thread's work gets a port
 * from a block the API leased to this host. */
static void test_snat_through_nat_tables_uses_blocks_leased_from_the_api(void **state)
{
    (void)state;
    struct agent_lease *l = mk();
    struct nat_config cfg;
    struct nat_tables *t = NULL;
    struct nat_target tg = {.addr_from = pub(), .addr_to = pub(), .port_from = 1024, .port_to = 65535};
    struct nat_tuple o = {.zone = ZONE, .src = htonl(0x0a010010), .dst = htonl(0x08080808), .sport = htons(40000),
                          .dport = htons(80), .proto = 6};
    struct nat_binding b;
    struct nat_stats st;
    uint16_t port;

    nat_config_default(&cfg);
    cfg.alloc_ops = &agent_lease_ops;
    cfg.alloc_ctx = l;
    assert_int_equal(nat_tables_create(&t, &cfg), 0);
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), -EADDRNOTAVAIL);
    nat_get_stats(t, &st);
    assert_int_equal(st.ports_exhausted, 1);
    assert_int_equal(st.lease_errors, 0);
    agent_lease_work(l, NULL);
    assert_int_equal(nat_allocate(t, NAT_KIND_SNAT, &o, &tg, 1, 0, &b), 0);
    port = ntohs(b.port);
    assert_true(api.held[port / NAT_BLOCK_PORTS]);
    assert_int_equal(stats(l).held, 1);
    nat_tables_destroy(t);                  /* gives its block back */
    agent_lease_work(l, NULL);
    assert_false(api.held[port / NAT_BLOCK_PORTS]);
    assert_int_equal(stats(l).held, 0);
    agent_lease_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_demand_misses_and_the_thread_fills_the_reserve),
        cmocka_unit_test(test_a_zone_that_missed_is_reported_once_when_its_blocks_come),
        cmocka_unit_test(test_a_zone_without_a_device_is_refused_without_a_request),
        cmocka_unit_test(test_exhausted_range_backs_off_before_asking_again),
        cmocka_unit_test(test_leased_blocks_are_renewed_each_third_of_the_lease),
        cmocka_unit_test(test_a_block_nat_gives_back_is_released_through_the_api),
        cmocka_unit_test(test_a_reserve_block_the_api_lost_is_replaced),
        cmocka_unit_test(test_a_reserve_block_near_expiry_is_not_handed_out),
        cmocka_unit_test(test_a_reserve_nobody_draws_from_is_released),
        cmocka_unit_test(test_destroy_gives_every_block_back),
        cmocka_unit_test(test_snat_through_nat_tables_uses_blocks_leased_from_the_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
