/*
 * Fuzz the decoding of gateway reports (PUT /v1/gateways/{host}): arbitrary
 * bytes as JSON, through api_gateway_report_parse. A report either fails
 * with a message naming a field, or comes out normalized within its bounds,
 * and decoding the normalized form again gives the same document (the
 * normal form is a fixed point, so what GET shows is what PUT would take).
 */
#include "api/api_impl.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_bounds(const json_t *n)
{
    const json_t *routes = json_object_get(n, "routes"), *r;
    size_t i;

    if (json_array_size(json_object_get(n, "peers")) > API_GW_PEERS_MAX ||
        json_array_size(routes) > API_GW_ROUTES_MAX ||
        json_array_size(json_object_get(n, "uplinks")) > API_GW_UPLINKS_MAX ||
        json_object_size(json_object_get(n, "counters")) > API_GW_COUNTERS_MAX)
        abort();
    json_array_foreach(routes, i, r)
        if (json_array_size(json_object_get(r, "next_hops")) > API_GW_NEXTHOPS_MAX)
            abort();
    if (!json_is_string(json_object_get(json_object_get(n, "bird"), "state")))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char field[128], err[300];
    json_t *body, *norm = NULL, *again = NULL;
    const char *host;

    body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!body)
        return 0;
    /* The path's host: the body's own when it has one (to get past the
     * host check), else a fixed one. */
    host = json_string_value(json_object_get(body, "host"));
    if (!host)
        host = "gw1";
    if (api_gateway_report_parse(body, host, &norm, field, sizeof(field), err, sizeof(err)) < 0) {
        if (norm || !err[0])
            abort();   /* every refusal says why, and leaves nothing behind */
        json_decref(body);
        return 0;
    }
    check_bounds(norm);
    if (api_gateway_report_parse(norm, host, &again, field, sizeof(field), err, sizeof(err)) < 0 ||
        !json_equal(norm, again))
        abort();
    json_decref(again);
    json_decref(norm);
    json_decref(body);
    return 0;
}
