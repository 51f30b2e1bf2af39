/*
 * Fuzz the decoding of API request bodies: arbitrary bytes parsed as JSON
 * (as the API does, rejecting duplicate keys) and offered as a create,
 * replace or change of a resource of every type against the example cloud.
 * Whatever happens, the topology must stay loadable and exportable.
 */
#include "sim/sim.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static struct sim_topo *topo;
static json_t *base_doc;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sim_error err;
    struct sim_id id;
    json_t *body, *out;
    enum sim_res_type type;

    if (size < 1)
        return 0;
    if (!topo) {
        base_doc = json_load_file("scripts/demo/cloud.json", 0, NULL);
        if (sim_topo_create(&topo) < 0)
            abort();
        if (base_doc && sim_topo_load(topo, base_doc, &err) < 0)
            abort();
    }
    type = (enum sim_res_type)(data[0] % SIM_RES_COUNT);
    body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    if (!body)
        return 0;
    if (json_is_object(body)) {
        if (data[0] & 0x80) {
            json_t *o = json_object_get(base_doc, sim_res_type_key(type));
            json_t *first = json_array_get(o, 0);
            if (first && sim_id_parse(json_string_value(json_object_get(first, "id")), &id) == 0)
                sim_topo_patch(topo, type, &id, body, &err);
        } else {
            sim_topo_put(topo, type, body, &id, &err);
        }
    }
    json_decref(body);
    out = sim_topo_export(topo);
    if (!out)
        abort();
    /* Reset now and then so the topology does not drift far from the base. */
    if ((data[0] & 0x0f) == 0 && base_doc)
        sim_topo_load(topo, base_doc, &err);
    json_decref(out);
    return 0;
}
