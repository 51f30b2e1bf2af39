/*
 * Fuzz the export-document loader: any bytes as a document given to
 * sim_topo_load (as the API and rampartctl give it). What loads must export
 * to a document that loads again. Then a few changes derived from the input
 * (delete, patch, re-put or copy a resource of the document, by id) are
 * applied; whatever they do, the topology must still export to a loadable
 * document, and a packet simulated from one of its ports must not break
 * anything. A failed invariant aborts, so libFuzzer keeps the input.
 *
 * The input is split at the first NUL: before it, the document; after it,
 * bytes that steer the changes and the packet (none: a fixed choice).
 */
#include "sim/sim.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CHANGES 4

/* Steering bytes, read one at a time; 0 once used up. */
struct steer {
    const uint8_t *p;
    size_t n;
};

static uint8_t next(struct steer *s)
{
    if (!s->n)
        return 0;
    s->n--;
    return *s->p++;
}

static void fail(const char *what, const struct sim_error *err)
{
    fprintf(stderr, "fuzz_sim_topo: %s: %s (field '%s', code %d)\n", what, err ? err->msg : "",
            err ? err->field : "", err ? err->code : 0);
    abort();
}

/* The document the topology exports must load into a fresh topology. */
static void check_export_loads(const struct sim_topo *t, const char *when)
{
    struct sim_topo *again = NULL;
    struct sim_error err;
    json_t *doc = sim_topo_export(t);

    if (!doc)
        fail("export returned NULL", NULL);
    if (sim_topo_create(&again) < 0)
        abort();
    if (sim_topo_load(again, doc, &err) < 0) {
        char *text = json_dumps(doc, JSON_COMPACT);

        fprintf(stderr, "fuzz_sim_topo: export %s does not load:\n%s\n", when, text ? text : "?");
        free(text);
        fail("reload", &err);
    }
    json_decref(doc);
    sim_topo_destroy(again);
}

/* A resource of the exported document, picked by the steering bytes, and
 * its type; NULL when the document has none. Borrowed from 'doc'. */
static json_t *pick(json_t *doc, struct steer *s, enum sim_res_type *type)
{
    enum sim_res_type t0 = (enum sim_res_type)(next(s) % SIM_RES_COUNT);

    for (int k = 0; k < SIM_RES_COUNT; k++) {
        enum sim_res_type t = (enum sim_res_type)((t0 + k) % SIM_RES_COUNT);
        json_t *arr = json_object_get(doc, sim_res_type_key(t));
        size_t n = json_array_size(arr);

        if (n) {
            *type = t;
            return json_array_get(arr, next(s) % n);
        }
    }
    return NULL;
}

/* Fields a patch may carry: each is a real field of some type; the loader
 * must refuse the ones a type does not have, or values of the wrong kind. */
static json_t *patch_fields(struct steer *s, json_t *other)
{
    static const char *const names[] = {"name", "admin_state_up", "address", "mac", "peer", "device",
                                        "fixed_ips", "dst", "next_hop_port", "next_hop_gateway",
                                        "weight", "position", "action", "chain", "jump_chain",
                                        "nat_targets", "inbound_filter", "outbound_filter", "router",
                                        "port", "fixed_ip", "tunnel_ip", "host", "ports", "tenant"};
    const char *name = names[next(s) % (sizeof(names) / sizeof(names[0]))];
    json_t *f = json_object(), *v;

    switch (next(s) % 5) {
    case 0:
        v = json_null();
        break;
    case 1:
        v = json_boolean(next(s) & 1);
        break;
    case 2:
        v = json_integer((json_int_t)next(s) - 8);
        break;
    case 3:
        /* The same field of another resource: a well-formed value,
         * possibly naming something that the change makes inconsistent. */
        v = json_incref(json_object_get(other, name));
        if (!v)
            v = json_string("");
        break;
    default:
        v = json_string(next(s) & 1 ? "10.0.0.1/24" : "02:00:00:00:00:01");
        break;
    }
    json_object_set_new(f, name, v);
    return f;
}

static void change(struct sim_topo *t, struct steer *s)
{
    json_t *doc = sim_topo_export(t), *obj, *other, *copy;
    enum sim_res_type type, other_type;
    struct sim_error err;
    struct sim_id id, new_id;
    uint64_t rev = sim_topo_revision(t);
    int rc = 0;

    if (!doc)
        fail("export returned NULL", NULL);
    obj = pick(doc, s, &type);
    if (!obj)
        goto out;
    if (sim_id_parse(json_string_value(json_object_get(obj, "id")) ?: "", &id) < 0) {
        char *text = json_dumps(obj, JSON_COMPACT);

        fprintf(stderr, "fuzz_sim_topo: exported resource without a valid id: %s\n", text ? text : "?");
        abort();
    }
    switch (next(s) % 4) {
    case 0:
        rc = sim_topo_del(t, type, &id, &err);
        break;
    case 1:
        other = pick(doc, s, &other_type);
        copy = patch_fields(s, other);
        rc = sim_topo_patch(t, type, &id, copy, &err);
        json_decref(copy);
        break;
    case 2:
        /* Replace it by itself: must succeed and change nothing visible. */
        rc = sim_topo_put(t, type, obj, &new_id, &err);
        if (rc < 0)
            fail("re-put of an exported resource", &err);
        if (memcmp(&new_id, &id, sizeof(id)))
            fail("re-put changed the id", NULL);
        break;
    default:
        /* A copy without id or name: a new resource like it. */
        copy = json_deep_copy(obj);
        json_object_del(copy, "id");
        json_object_del(copy, "name");
        rc = sim_topo_put(t, type, copy, &new_id, &err);
        json_decref(copy);
        break;
    }
    /* A refused change leaves the revision alone ("nothing changes"). */
    if (rc < 0 && sim_topo_revision(t) != rev)
        fail("a refused change bumped the revision", &err);
out:
    json_decref(doc);
}

/* One packet from an exterior port, steered. */
static void simulate(const struct sim_topo *t, struct steer *s)
{
    json_t *doc = sim_topo_export(t), *ports = json_object_get(doc, "ports"), *port;
    struct sim_state *st = NULL;
    struct sim_result r;
    struct sim_pkt p;
    struct sim_id in;
    size_t n = json_array_size(ports);

    if (!n)
        goto out;
    port = json_array_get(ports, next(s) % n);
    if (sim_id_parse(json_string_value(json_object_get(port, "id")) ?: "", &in) < 0)
        goto out;
    memset(&p, 0, sizeof(p));
    for (int i = 0; i < 6; i++) {
        p.eth_src[i] = next(s);
        p.eth_dst[i] = next(s);
    }
    p.eth_type = next(s) & 1 ? 0x0806 : 0x0800;
    p.ip_src = (uint32_t)next(s) << 24 | (uint32_t)next(s) << 16 | (uint32_t)next(s) << 8 | next(s);
    p.ip_dst = (uint32_t)next(s) << 24 | (uint32_t)next(s) << 16 | (uint32_t)next(s) << 8 | next(s);
    p.proto = (uint8_t[]){6, 17, 1, 47}[next(s) % 4];
    p.ttl = next(s);
    p.src_port = (uint16_t)(next(s) << 8 | next(s));
    p.dst_port = (uint16_t)(next(s) << 8 | next(s));
    p.icmp_type = next(s) & 1 ? 8 : 0;
    p.arp_op = (uint16_t)(next(s) % 3);
    p.arp_spa = p.ip_src;
    p.arp_tpa = p.ip_dst;
    memcpy(p.arp_sha, p.eth_src, 6);
    if (sim_state_create(&st, NULL) < 0)
        abort();
    sim_result_init(&r);
    r.trace = next(s) & 1;
    if (sim_simulate(t, st, &in, &p, 1000000000ull, &r) < 0)
        abort();
    if (r.verdict == SIM_DROP && !r.drop_reason)
        fail("a drop without a reason", NULL);
    sim_result_free(&r);
    sim_state_destroy(st);
out:
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t doc_len = nul ? (size_t)(nul - data) : size;
    struct steer s = {.p = nul ? nul + 1 : NULL, .n = nul ? size - doc_len - 1 : 0};
    struct sim_topo *t = NULL;
    struct sim_error err;
    json_t *doc;
    int rc;

    doc = json_loadb((const char *)data, doc_len, JSON_REJECT_DUPLICATES, NULL);
    if (!doc)
        return 0;
    if (sim_topo_create(&t) < 0)
        abort();
    memset(&err, 0, sizeof(err));
    rc = sim_topo_load(t, doc, &err);
    if (rc == 0) {
        check_export_loads(t, "after load");
        for (unsigned i = 0; i < MAX_CHANGES && (i == 0 || s.n); i++)
            change(t, &s);
        check_export_loads(t, "after changes");
        simulate(t, &s);
    } else if (rc != -ENOMEM && !err.msg[0]) {
        fail("a refused document without a message", &err);
    }
    sim_topo_destroy(t);
    json_decref(doc);
    return 0;
}
