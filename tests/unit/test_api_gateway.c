/* api/gateways.c: the decoder of gateway reports (PUT /v1/gateways/{host})
 * and the bgp_peers state drawn from the stored reports, without a server. */
#include "api/api_impl.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define PEER1 "6c6a3627-5a5c-51d7-ad0c-f96569491850"
#define PEER2 "0b6e0bd1-5d3e-4c55-9a0f-2b1a1c1d1e1f"
#define PORT1 "d6548ef6-e1af-5d8a-929c-0a12e8b9f48f"

static const char *full_report =
    "{\"host\": \"gw1\", \"interval_s\": 2,"
    " \"bird\": {\"state\": \"running\", \"pid\": 123, \"restarts\": 0, \"router_id\": \"192.0.2.1\","
    "          \"config_error\": null, \"config_generation\": 3},"
    " \"peers\": [{\"id\": \"" PEER1 "\", \"name\": \"up1\", \"peer_address\": \"10.0.0.1\", \"peer_asn\": 65000,"
    "            \"state\": \"established\", \"bfd\": \"up\", \"since\": \"2026-12-02 01:02:03\","
    "            \"routes_received\": 1, \"routes_sent\": 3, \"last_error\": \"\"}],"
    " \"learned_routes\": 1,"
    " \"routes\": [{\"dst\": \"0.0.0.0/0\", \"type\": \"unicast\","
    "             \"next_hops\": [{\"gateway\": \"10.0.0.1\", \"interface\": \"up0\"}]}],"
    " \"uplinks\": [{\"port\": \"" PORT1 "\", \"interface\": \"up0\", \"mode\": \"afpacket\","
    "              \"kernel_addresses\": [\"10.0.0.2\"]}],"
    " \"counters\": {\"rx_packets\": 10}}";

struct result {
    int rc;
    json_t *norm;
    char field[128], err[300];
};

static struct result parse_with(json_t *body, const char *host)
{
    struct result r;

    memset(&r, 0, sizeof(r));
    r.rc = api_gateway_report_parse(body, host, &r.norm, r.field, sizeof(r.field), r.err, sizeof(r.err));
    json_decref(body);
    return r;
}

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);

    if (!j)
        fail_msg("test JSON does not parse: %s", e.text);
    return j;
}

static json_t *full(void)
{
    return load(full_report);
}

/* The full report with one member changed by a JSON path-ish setter. */
static json_t *peer0(json_t *doc)
{
    return json_array_get(json_object_get(doc, "peers"), 0);
}

static void expect_refused(json_t *body, const char *host, const char *field)
{
    struct result r = parse_with(body, host);

    assert_int_equal(r.rc, -EINVAL);
    assert_null(r.norm);
    assert_string_equal(r.field, field);
    assert_non_null(strstr(r.err, field));
}

static void test_full_report_is_accepted_and_kept_as_given(void **state)
{
    (void)state;
    json_t *given = full();
    struct result r = parse_with(json_incref(given), "gw1");

    assert_int_equal(r.rc, 0);
    assert_true(json_equal(r.norm, given));
    json_decref(r.norm);
    json_decref(given);
}

static void test_minimal_report_gets_every_field_with_defaults(void **state)
{
    (void)state;
    struct result r = parse_with(load("{\"host\": \"gw-2.example\", \"interval_s\": 5, \"bird\": {\"state\": \"starting\"}}"),
                                 "gw-2.example");
    json_t *bird;

    assert_int_equal(r.rc, 0);
    bird = json_object_get(r.norm, "bird");
    assert_string_equal(json_string_value(json_object_get(bird, "router_id")), "");
    assert_true(json_is_null(json_object_get(bird, "config_error")));
    assert_int_equal(json_integer_value(json_object_get(bird, "pid")), 0);
    assert_int_equal(json_array_size(json_object_get(r.norm, "peers")), 0);
    assert_int_equal(json_array_size(json_object_get(r.norm, "routes")), 0);
    assert_int_equal(json_integer_value(json_object_get(r.norm, "learned_routes")), 0);
    assert_true(json_is_object(json_object_get(r.norm, "counters")));
    json_decref(r.norm);
}

static void test_states_in_birds_spelling_and_upper_case_ids_are_normalized(void **state)
{
    (void)state;
    json_t *doc = full(), *p = peer0(doc);
    struct result r;

    json_object_set_new(p, "state", json_string("Established"));
    json_object_set_new(p, "bfd", json_string("AdminDown"));
    json_object_set_new(p, "id", json_string("6C6A3627-5A5C-51D7-AD0C-F96569491850"));
    json_object_set_new(json_object_get(doc, "bird"), "state", json_string("RUNNING"));
    r = parse_with(doc, "gw1");
    assert_int_equal(r.rc, 0);
    p = peer0(r.norm);
    assert_string_equal(json_string_value(json_object_get(p, "state")), "established");
    assert_string_equal(json_string_value(json_object_get(p, "bfd")), "admindown");
    assert_string_equal(json_string_value(json_object_get(p, "id")), PEER1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.norm, "bird"), "state")), "running");
    json_decref(r.norm);
}

static void test_normalized_report_decodes_to_itself(void **state)
{
    (void)state;
    json_t *doc = full();
    struct result r, again;

    json_object_set_new(peer0(doc), "state", json_string("Active"));
    r = parse_with(doc, "gw1");
    assert_int_equal(r.rc, 0);
    again = parse_with(json_incref(r.norm), "gw1");
    assert_int_equal(again.rc, 0);
    assert_true(json_equal(r.norm, again.norm));
    json_decref(r.norm);
    json_decref(again.norm);
}

static void test_unknown_fields_are_refused_naming_their_path(void **state)
{
    (void)state;
    json_t *doc;

    doc = full();
    json_object_set_new(doc, "colour", json_string("red"));
    expect_refused(doc, "gw1", "colour");
    doc = full();
    json_object_set_new(json_object_get(doc, "bird"), "colour", json_true());
    expect_refused(doc, "gw1", "bird.colour");
    doc = full();
    for (int i = 0; i < 2; i++)
        json_array_append_new(json_object_get(doc, "peers"), json_deep_copy(peer0(doc)));
    json_object_set_new(json_array_get(json_object_get(doc, "peers"), 1), "id", json_string(PEER2));
    json_object_set_new(json_array_get(json_object_get(doc, "peers"), 1), "name", json_string("up2"));
    json_object_set_new(json_array_get(json_object_get(doc, "peers"), 2), "id",
                        json_string("11111111-2222-3333-4444-555555555555"));
    json_object_set_new(json_array_get(json_object_get(doc, "peers"), 2), "name", json_string("up3"));
    json_object_set_new(json_array_get(json_object_get(doc, "peers"), 2), "stat", json_string("idle"));
    expect_refused(doc, "gw1", "peers[2].stat");
    doc = full();
    json_object_set_new(json_array_get(json_object_get(json_array_get(json_object_get(doc, "routes"), 0), "next_hops"), 0),
                        "weight", json_integer(1));
    expect_refused(doc, "gw1", "routes[0].next_hops[0].weight");
}

static void test_bad_values_are_refused_naming_the_field(void **state)
{
    (void)state;
    json_t *doc;

    doc = full();
    json_object_set_new(peer0(doc), "state", json_string("happy"));
    expect_refused(doc, "gw1", "peers[0].state");
    doc = full();
    json_object_set_new(json_object_get(doc, "bird"), "state", json_string("dead"));
    expect_refused(doc, "gw1", "bird.state");
    doc = full();
    json_object_set_new(peer0(doc), "peer_address", json_string("10.0.0.300"));
    expect_refused(doc, "gw1", "peers[0].peer_address");
    doc = full();
    json_object_set_new(peer0(doc), "peer_asn", json_integer(0));
    expect_refused(doc, "gw1", "peers[0].peer_asn");
    doc = full();
    json_object_set_new(peer0(doc), "peer_asn", json_integer(4294967296LL));
    expect_refused(doc, "gw1", "peers[0].peer_asn");
    doc = full();
    json_object_set_new(peer0(doc), "id", json_string("not-a-uuid"));
    expect_refused(doc, "gw1", "peers[0].id");
    doc = full();
    json_object_set_new(doc, "interval_s", json_integer(0));
    expect_refused(doc, "gw1", "interval_s");
    doc = full();
    json_object_set_new(doc, "interval_s", json_string("2"));
    expect_refused(doc, "gw1", "interval_s");
    doc = full();
    json_object_del(doc, "interval_s");
    expect_refused(doc, "gw1", "interval_s");
    doc = full();
    json_object_del(doc, "bird");
    expect_refused(doc, "gw1", "bird");
    doc = full();
    json_object_set_new(json_array_get(json_object_get(doc, "routes"), 0), "dst", json_string("10.0.0.1/8"));
    expect_refused(doc, "gw1", "routes[0].dst");
    doc = full();
    json_object_set_new(json_object_get(doc, "counters"), "rx_packets", json_integer(-1));
    expect_refused(doc, "gw1", "counters.rx_packets");
    doc = full();
    json_object_set_new(json_object_get(doc, "counters"), "rx packets", json_integer(1));
    expect_refused(doc, "gw1", "counters.rx packets");
    doc = full();
    json_array_append_new(json_object_get(json_array_get(json_object_get(doc, "uplinks"), 0), "kernel_addresses"),
                          json_string("10.0.0"));
    expect_refused(doc, "gw1", "uplinks[0].kernel_addresses[1]");
    doc = full();
    json_object_set_new(json_array_get(json_object_get(doc, "uplinks"), 0), "interface",
                        json_string("eth 0"));
    expect_refused(doc, "gw1", "uplinks[0].interface");
}

static void test_text_with_control_bytes_or_nul_or_too_long_is_refused(void **state)
{
    (void)state;
    json_t *doc;
    char big[API_GW_CONFIG_ERROR_MAX + 2];

    doc = full();
    json_object_set_new(peer0(doc), "name", json_stringn("up\0x", 4));
    expect_refused(doc, "gw1", "peers[0].name");
    doc = full();
    json_object_set_new(peer0(doc), "name", json_string("up\x1b[31m"));
    expect_refused(doc, "gw1", "peers[0].name");
    doc = full();
    memset(big, 'e', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    json_object_set_new(json_object_get(doc, "bird"), "config_error", json_string(big));
    expect_refused(doc, "gw1", "bird.config_error");
    /* One byte less fits, and a multi-line BIRD message is fine. */
    doc = full();
    big[sizeof(big) - 2] = '\0';
    big[10] = '\n';
    json_object_set_new(json_object_get(doc, "bird"), "config_error", json_string(big));
    struct result r = parse_with(doc, "gw1");
    assert_int_equal(r.rc, 0);
    json_decref(r.norm);
}

static void test_host_in_the_body_must_be_the_host_in_the_path(void **state)
{
    (void)state;
    expect_refused(full(), "gw2", "host");
    json_t *doc = full();
    json_object_del(doc, "host");
    expect_refused(doc, "gw1", "host");
    expect_refused(full(), "gw 1", "host");
    expect_refused(full(), "", "host");
    expect_refused(load("[1, 2]"), "gw1", "");
}

static json_t *n_copies(json_t *doc, const char *key, size_t n)
{
    json_t *arr = json_object_get(doc, key), *one = json_array_get(arr, 0);

    for (size_t i = 1; i < n; i++) {
        json_t *c = json_deep_copy(one);
        if (!strcmp(key, "peers")) {
            char id[48], name[32];
            snprintf(id, sizeof(id), "00000000-0000-0000-0000-%012zx", i);
            snprintf(name, sizeof(name), "up%zu", i + 1);
            json_object_set_new(c, "id", json_string(id));
            json_object_set_new(c, "name", json_string(name));
        }
        json_array_append_new(arr, c);
    }
    return doc;
}

static void test_arrays_are_bounded_and_their_limits_accepted(void **state)
{
    (void)state;
    struct result r;

    r = parse_with(n_copies(full(), "peers", API_GW_PEERS_MAX), "gw1");
    assert_int_equal(r.rc, 0);
    json_decref(r.norm);
    expect_refused(n_copies(full(), "peers", API_GW_PEERS_MAX + 1), "gw1", "peers");
    r = parse_with(n_copies(full(), "routes", API_GW_ROUTES_MAX), "gw1");
    assert_int_equal(r.rc, 0);
    json_decref(r.norm);
    expect_refused(n_copies(full(), "routes", API_GW_ROUTES_MAX + 1), "gw1", "routes");
    expect_refused(n_copies(full(), "uplinks", API_GW_UPLINKS_MAX + 1), "gw1", "uplinks");

    json_t *doc = full(), *nhs = json_object_get(json_array_get(json_object_get(doc, "routes"), 0), "next_hops");
    for (int i = 0; i < API_GW_NEXTHOPS_MAX; i++)
        json_array_append_new(nhs, json_pack("{s:s}", "gateway", "10.0.0.9"));
    expect_refused(doc, "gw1", "routes[0].next_hops");

    doc = full();
    for (int i = 0; i < API_GW_COUNTERS_MAX; i++) {
        char k[16];
        snprintf(k, sizeof(k), "c%d", i);
        json_object_set_new(json_object_get(doc, "counters"), k, json_integer(i));
    }
    expect_refused(doc, "gw1", "counters");
}

static void test_a_peer_listed_twice_is_refused(void **state)
{
    (void)state;
    json_t *doc = full();

    json_array_append_new(json_object_get(doc, "peers"), json_deep_copy(peer0(doc)));
    json_object_set_new(json_array_get(json_object_get(doc, "peers"), 1), "name", json_string("other"));
    expect_refused(doc, "gw1", "peers[1].id");
    doc = full();
    json_array_append_new(json_object_get(doc, "peers"), json_deep_copy(peer0(doc)));
    json_object_set_new(json_array_get(json_object_get(doc, "peers"), 1), "id", json_string(PEER2));
    expect_refused(doc, "gw1", "peers[1].name");
}

/* --- bgp_peers state from stored reports -------------------------------------------------- */

static void add_gateway(struct api_server *srv, const char *host, const char *peer_state, uint64_t received_ns,
                        int interval_s)
{
    json_t *doc = full();
    struct result r;
    struct api_gateway *g;

    json_object_set_new(doc, "host", json_string(host));
    json_object_set_new(doc, "interval_s", json_integer(interval_s));
    json_object_set_new(peer0(doc), "state", json_string(peer_state));
    r = parse_with(doc, host);
    assert_int_equal(r.rc, 0);
    srv->gateways = realloc(srv->gateways, (srv->n_gateways + 1) * sizeof(*srv->gateways));
    assert_non_null(srv->gateways);
    g = &srv->gateways[srv->n_gateways++];
    memset(g, 0, sizeof(*g));
    snprintf(g->host, sizeof(g->host), "%s", host);
    g->report = r.norm;
    g->received_ns = received_ns;
    g->interval_s = interval_s;
}

static const char *state_of(const struct api_server *srv, uint64_t now, char *buf, size_t len)
{
    json_t *states = api_gateway_peer_states(srv, now), *peer = json_pack("{s:s}", "id", PEER1);

    api_gateway_set_peer_state(peer, states);
    snprintf(buf, len, "%s", json_string_value(json_object_get(peer, "state")));
    json_decref(peer);
    json_decref(states);
    return buf;
}

#define SEC 1000000000ull

static void test_peer_state_is_the_freshest_fresh_reports_else_unknown(void **state)
{
    (void)state;
    struct api_server *srv = calloc(1, sizeof(*srv));
    char buf[32];

    assert_non_null(srv);
    assert_string_equal(state_of(srv, 100 * SEC, buf, sizeof(buf)), "unknown");
    add_gateway(srv, "gw1", "active", 100 * SEC, 2);
    add_gateway(srv, "gw2", "established", 101 * SEC, 2);
    assert_string_equal(state_of(srv, 102 * SEC, buf, sizeof(buf)), "established");
    /* gw2's report goes stale (older than 3 x 2 s) while gw1's is fresh. */
    srv->gateways[0].received_ns = 105 * SEC;
    assert_string_equal(state_of(srv, 108 * SEC, buf, sizeof(buf)), "active");
    assert_true(api_gateway_stale(&srv->gateways[1], 108 * SEC));
    assert_false(api_gateway_stale(&srv->gateways[0], 108 * SEC));
    assert_int_equal(api_gateway_age_s(&srv->gateways[1], 108 * SEC), 7);
    /* Every report stale: nobody knows. */
    assert_string_equal(state_of(srv, 200 * SEC, buf, sizeof(buf)), "unknown");
    api_gateways_free(srv);
    free(srv);
}

static void test_a_report_is_stale_only_after_three_intervals(void **state)
{
    (void)state;
    struct api_gateway g = {.received_ns = 10 * SEC, .interval_s = 2};

    assert_false(api_gateway_stale(&g, 16 * SEC));
    assert_true(api_gateway_stale(&g, 16 * SEC + 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_report_is_accepted_and_kept_as_given),
        cmocka_unit_test(test_minimal_report_gets_every_field_with_defaults),
        cmocka_unit_test(test_states_in_birds_spelling_and_upper_case_ids_are_normalized),
        cmocka_unit_test(test_normalized_report_decodes_to_itself),
        cmocka_unit_test(test_unknown_fields_are_refused_naming_their_path),
        cmocka_unit_test(test_bad_values_are_refused_naming_the_field),
        cmocka_unit_test(test_text_with_control_bytes_or_nul_or_too_long_is_refused),
        cmocka_unit_test(test_host_in_the_body_must_be_the_host_in_the_path),
        cmocka_unit_test(test_arrays_are_bounded_and_their_limits_accepted),
        cmocka_unit_test(test_a_peer_listed_twice_is_refused),
        cmocka_unit_test(test_peer_state_is_the_freshest_fresh_reports_else_unknown),
        cmocka_unit_test(test_a_report_is_stale_only_after_three_intervals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
