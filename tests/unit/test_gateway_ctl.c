/* gateway/gw_control: the configuration the forwarding thread hands over,
 * turned into the bgp/ description BIRD's files are rendered from. */
#include "gateway/gw_ctl.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static json_t *want(const char *text)
{
    json_error_t e;
    json_t *o = json_loads(text, 0, &e);

    assert_non_null(o);
    return o;
}

#define GOOD                                                                                                   \
    "{\"router_id\": \"10.99.0.2\", \"local_asn\": 64512, \"kernel_table\": 100, \"bfd_interval_ms\": 100,"   \
    " \"bfd_multiplier\": 3, \"peers\": [{\"id\": \"14a818d3-db53-4c11-abc9-032ff3b5e1b8\","                  \
    " \"name\": \"p14a818d3db53\", \"address\": \"10.99.0.1\", \"peer_asn\": 65000, \"local_asn\": 64512,"    \
    " \"hold_time\": 9, \"keepalive\": 3, \"bfd\": true}, {\"id\": \"x\", \"name\": \"p2\","                   \
    " \"address\": \"10.99.0.5\", \"peer_asn\": 65001, \"bfd\": false, \"password\": \"s3cret\"}],"            \
    " \"prefixes\": [\"203.0.113.0/24\", \"203.0.113.20\"]}"

static void test_a_gateway_configuration_becomes_a_valid_bird_description(void **state)
{
    (void)state;
    json_t *w = want(GOOD);
    struct bgp_config c;
    struct bgp_error err;
    char *text = NULL;
    size_t len;

    assert_int_equal(gw_ctl_config_from_json(w, &c, &err), 0);
    assert_string_equal(c.router_id, "10.99.0.2");
    assert_int_equal(c.local_asn, 64512);
    assert_int_equal(c.kernel_table, 100);
    assert_int_equal(c.n_peers, 2);
    assert_string_equal(c.peers[0].name, "p14a818d3db53");
    assert_int_equal(c.peers[0].peer_asn, 65000);
    assert_int_equal(c.peers[0].hold_time, 9);
    assert_true(c.peers[0].bfd);
    assert_false(c.peers[1].bfd);
    assert_int_equal(c.peers[1].local_asn, 0);   /* the gateway's local_asn applies */
    assert_string_equal(c.peers[1].password, "s3cret");
    assert_int_equal(c.n_prefixes, 2);
    assert_int_equal(bgp_config_validate(&c, &err), 0);
    assert_int_equal(bgp_render_main(&c, "/run/x/announce.conf", &text, &len, &err), 0);
    assert_non_null(strstr(text, "neighbor 10.99.0.1 as 65000"));
    assert_non_null(strstr(text, "router id 10.99.0.2"));
    free(text);
    assert_int_equal(bgp_render_announce(&c, &text, &len, &err), 0);
    assert_non_null(strstr(text, "route 203.0.113.20/32 blackhole"));
    free(text);
    gw_ctl_config_free(&c);
    json_decref(w);
}

static void test_two_peers_at_one_address_are_refused_naming_the_second(void **state)
{
    (void)state;
    json_t *w = want(GOOD);
    struct bgp_config c;
    struct bgp_error err;

    json_object_set_new(json_array_get(json_object_get(w, "peers"), 1), "address", json_string("10.99.0.1"));
    assert_int_equal(gw_ctl_config_from_json(w, &c, &err), 0);
    assert_int_equal(bgp_config_validate(&c, &err), -EINVAL);
    assert_string_equal(err.field, "peers[1].address");
    gw_ctl_config_free(&c);
    json_decref(w);
}

static void test_something_else_than_a_configuration_is_refused(void **state)
{
    (void)state;
    const char *bad[] = {"[]", "{}", "{\"peers\": {}, \"prefixes\": []}", "{\"peers\": [], \"prefixes\": 5}"};
    struct bgp_config c;
    struct bgp_error err;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *w = want(bad[i]);
        assert_int_equal(gw_ctl_config_from_json(w, &c, &err), -EINVAL);
        assert_string_equal(err.field, "config");
        json_decref(w);
    }
}

static void test_no_peers_still_makes_a_configuration_bird_can_run(void **state)
{
    (void)state;
    json_t *w = want("{\"router_id\": \"192.0.2.1\", \"local_asn\": 64512, \"kernel_table\": 100,"
                     " \"peers\": [], \"prefixes\": []}");
    struct bgp_config c;
    struct bgp_error err;

    assert_int_equal(gw_ctl_config_from_json(w, &c, &err), 0);
    assert_int_equal(c.n_peers, 0);
    assert_int_equal(bgp_config_validate(&c, &err), 0);
    gw_ctl_config_free(&c);
    json_decref(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_gateway_configuration_becomes_a_valid_bird_description),
        cmocka_unit_test(test_two_peers_at_one_address_are_refused_naming_the_second),
        cmocka_unit_test(test_something_else_than_a_configuration_is_refused),
        cmocka_unit_test(test_no_peers_still_makes_a_configuration_bird_can_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
