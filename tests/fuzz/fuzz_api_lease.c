/*
 * Fuzz the decoding of NAT port-block lease requests (POST /v1/leases,
 * /renew, /release): arbitrary bytes as JSON, checked against the example
 * cloud in both forms (a port range, a block). A request either fails with
 * a message naming a field, or comes out with sane values.
 */
#include "api/api_impl.h"
#include "nat/nat.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sim_topo *topo;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lease_req r;
    struct sim_error err;
    char msg[160];
    const char *field;
    json_t *body;

    if (!topo) {
        json_t *doc = json_load_file("scripts/demo/cloud.json", 0, NULL);
        if (!doc || sim_topo_create(&topo) < 0 || sim_topo_load(topo, doc, &err) < 0)
            abort();
        json_decref(doc);
    }
    body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!body)
        return 0;
    for (int want_range = 0; want_range < 2; want_range++) {
        field = NULL;
        if (api_lease_req_parse(topo, body, want_range, &r, msg, sizeof(msg), &field) < 0) {
            if (!field || !msg[0])
                abort();   /* every refusal names a field and says why */
            continue;
        }
        if (want_range && (r.port_from < 1 || r.port_to > 65535 || r.port_to < r.port_from))
            abort();
        if (!want_range && (r.first < 0 || r.first > 65535 || r.first % NAT_BLOCK_PORTS))
            abort();
        if (strlen(r.router) != 36 || strlen(r.host) != 36 || !r.addr[0])
            abort();
    }
    json_decref(body);
    return 0;
}
