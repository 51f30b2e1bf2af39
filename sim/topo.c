/*
 * sim/topo.c: the topology container: ids, indexes, reference counts, and
 * the whole-document and one-resource changes of sim.h.
 *
 * Every resource keeps its canonical document (refs as ids); a change builds
 * and checks the new document completely before it touches anything, so a
 * refused change leaves the topology as it was.
 */
#include "lib/hash.h"
#include "sim/topo_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct topo_index {
    struct sim_obj **all;          /* by gidx; NULL = free */
    uint32_t n_all, cap_all;
    uint32_t *free_idx;
    uint32_t n_free;
    struct htab *by_id, *by_name, *by_key;
};

static struct topo_index *ix(const struct sim_topo *t)
{
    return t->index;
}

/* --- ids ---------------------------------------------------------------------------- */

int sim_id_parse(const char *s, struct sim_id *out)
{
    static const int groups[] = {8, 4, 4, 4, 12};
    const char *p = s;
    int k = 0;

    if (!s || strlen(s) != 36)
        return -EINVAL;
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < groups[g]; i += 2) {
            unsigned v;
            if (sscanf(p, "%2x", &v) != 1 || !((p[0] >= '0' && p[0] <= '9') || ((p[0] | 32) >= 'a' && (p[0] | 32) <= 'f')) ||
                !((p[1] >= '0' && p[1] <= '9') || ((p[1] | 32) >= 'a' && (p[1] | 32) <= 'f')))
                return -EINVAL;
            out->b[k++] = (uint8_t)v;
            p += 2;
        }
        if (g < 4 && *p++ != '-')
            return -EINVAL;
    }
    return 0;
}

void sim_id_format(const struct sim_id *id, char out[37])
{
    const uint8_t *b = id->b;

    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

bool sim_id_is_zero(const struct sim_id *id)
{
    for (int i = 0; i < 16; i++)
        if (id->b[i])
            return false;
    return true;
}

/* A document written by hand names resources and leaves ids out; every
 * host loading it must still agree on the ids, because tunnel keys and
 * conntrack zones derive from them. So a named resource without an id gets
 * one derived from its type and name (a fixed-key hash, marked version 5
 * like RFC 4122's name-based UUIDs); an unnamed one gets a random id. */
static void id_from_name(enum sim_res_type type, const char *name, struct sim_id *id)
{
    static const uint8_t k0[16] = "rampart-name-id0", k1[16] = "rampart-name-id1";
    char buf[SIM_NAME_MAX + 4];
    int n = snprintf(buf, sizeof(buf), "%d/%s", (int)type, name);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
    uint64_t h0 = rp_siphash_key(k0, buf, len), h1 = rp_siphash_key(k1, buf, len);

    memcpy(id->b, &h0, 8);
    memcpy(id->b + 8, &h1, 8);
    id->b[6] = (uint8_t)((id->b[6] & 0x0f) | 0x50);   /* version 5: from a name */
    id->b[8] = (uint8_t)((id->b[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
}

static void id_generate(struct sim_id *id)
{
    size_t got = 0;

    while (got < sizeof(id->b)) {
        ssize_t n = getrandom(id->b + got, sizeof(id->b) - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    id->b[6] = (uint8_t)((id->b[6] & 0x0f) | 0x40);   /* version 4 */
    id->b[8] = (uint8_t)((id->b[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
}

static uint64_t id_hash(const struct sim_id *id)
{
    return rp_siphash(id->b, sizeof(id->b));
}

static uint64_t name_hash(enum sim_res_type type, const char *name)
{
    char buf[SIM_NAME_MAX + 4];
    int n = snprintf(buf, sizeof(buf), "%d/%s", (int)type, name);

    /* A longer name (from a client's reference) is cut: it hashes to the
     * bucket of its prefix and then fails the full compare. */
    if (n < 0)
        n = 0;
    return rp_siphash(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* --- container -------------------------------------------------------------------------- */

int sim_topo_create(struct sim_topo **out)
{
    struct sim_topo *t = calloc(1, sizeof(*t));
    struct topo_index *x = calloc(1, sizeof(*x));

    if (!t || !x || htab_create(&x->by_id, 64) < 0 || htab_create(&x->by_name, 64) < 0 ||
        htab_create(&x->by_key, 64) < 0) {
        if (x) {
            htab_destroy(x->by_id);
            htab_destroy(x->by_name);
        }
        free(x);
        free(t);
        return -ENOMEM;
    }
    t->index = x;
    *out = t;
    return 0;
}

static void obj_free(struct sim_obj *o)
{
    if (!o)
        return;
    topo_unbind(o);
    json_decref(o->doc);
    free(o);
}

void sim_topo_destroy(struct sim_topo *t)
{
    struct topo_index *x;

    if (!t)
        return;
    x = ix(t);
    for (uint32_t i = 0; i < x->n_all; i++)
        obj_free(x->all[i]);
    free(x->all);
    free(x->free_idx);
    htab_destroy(x->by_id);
    htab_destroy(x->by_name);
    htab_destroy(x->by_key);
    free(x);
    for (int i = 0; i < SIM_RES_COUNT; i++)
        free(t->objs[i]);
    free(t);
}

uint64_t sim_topo_revision(const struct sim_topo *t)
{
    return t->revision;
}

struct sim_obj *sim_topo_find(const struct sim_topo *t, enum sim_res_type type, const struct sim_id *id)
{
    struct topo_index *x = ix(t);
    struct htab_iter it;

    for (uint32_t g = htab_find_first(x->by_id, id_hash(id), &it); g != HTAB_NONE; g = htab_find_next(&it)) {
        struct sim_obj *o = x->all[g];
        if (o && o->type == type && !memcmp(&o->id, id, sizeof(*id)))
            return o;
    }
    return NULL;
}

static struct sim_obj *find_by_name(const struct sim_topo *t, enum sim_res_type type, const char *name)
{
    struct topo_index *x = ix(t);
    struct htab_iter it;

    for (uint32_t g = htab_find_first(x->by_name, name_hash(type, name), &it); g != HTAB_NONE;
         g = htab_find_next(&it)) {
        struct sim_obj *o = x->all[g];
        if (o && o->type == type && !strcmp(o->name, name))
            return o;
    }
    return NULL;
}

struct sim_obj *sim_topo_find_ref(const struct sim_topo *t, enum sim_res_type type, const char *ref)
{
    struct sim_id id;

    if (!ref)
        return NULL;
    if (sim_id_parse(ref, &id) == 0) {
        struct sim_obj *o = sim_topo_find(t, type, &id);
        if (o)
            return o;
    }
    return find_by_name(t, type, ref);
}

struct sim_port *sim_topo_port_by_tunnel_key(const struct sim_topo *t, uint32_t key)
{
    struct topo_index *x = ix(t);
    struct htab_iter it;

    for (uint32_t g = htab_find_first(x->by_key, key, &it); g != HTAB_NONE; g = htab_find_next(&it)) {
        struct sim_obj *o = x->all[g];
        if (o && o->type == SIM_RES_PORT && ((struct sim_port *)o)->tunnel_key == key)
            return (struct sim_port *)o;
    }
    return NULL;
}

static size_t obj_size(enum sim_res_type type)
{
    switch (type) {
    case SIM_RES_HOST: return sizeof(struct sim_host);
    case SIM_RES_CHAIN: return sizeof(struct sim_chain);
    case SIM_RES_IP_GROUP: return sizeof(struct sim_ip_group);
    case SIM_RES_ROUTER:
    case SIM_RES_BRIDGE: return sizeof(struct sim_device);
    case SIM_RES_PORT: return sizeof(struct sim_port);
    case SIM_RES_PORT_GROUP: return sizeof(struct sim_port_group);
    case SIM_RES_RULE: return sizeof(struct sim_rule);
    case SIM_RES_ROUTE: return sizeof(struct sim_route);
    case SIM_RES_NEIGHBOR: return sizeof(struct sim_neighbor);
    case SIM_RES_FLOATING_IP: return sizeof(struct sim_floating_ip);
    case SIM_RES_BGP_PEER: return sizeof(struct sim_bgp_peer);
    case SIM_RES_BGP_NETWORK: return sizeof(struct sim_bgp_network);
    default: return sizeof(struct sim_obj);
    }
}

static int obj_register(struct sim_topo *t, struct sim_obj *o)
{
    struct topo_index *x = ix(t);
    enum sim_res_type type = o->type;
    uint32_t g;

    if (t->n_objs[type] == t->cap_objs[type]) {
        uint32_t cap = t->cap_objs[type] ? t->cap_objs[type] * 2 : 16;
        struct sim_obj **a = realloc(t->objs[type], cap * sizeof(*a));
        if (!a)
            return -ENOMEM;
        t->objs[type] = a;
        t->cap_objs[type] = cap;
    }
    if (x->n_free) {
        g = x->free_idx[--x->n_free];
    } else {
        if (x->n_all == x->cap_all) {
            uint32_t cap = x->cap_all ? x->cap_all * 2 : 64;
            struct sim_obj **a = realloc(x->all, cap * sizeof(*a));
            uint32_t *f = realloc(x->free_idx, cap * sizeof(*f));
            if (a)
                x->all = a;
            if (f)
                x->free_idx = f;
            if (!a || !f)
                return -ENOMEM;
            x->cap_all = cap;
        }
        g = x->n_all++;
    }
    if (htab_insert(x->by_id, id_hash(&o->id), g) < 0) {
        x->free_idx[x->n_free++] = g;
        return -ENOMEM;
    }
    if (o->name[0] && htab_insert(x->by_name, name_hash(type, o->name), g) < 0) {
        htab_remove(x->by_id, id_hash(&o->id), g);
        x->free_idx[x->n_free++] = g;
        return -ENOMEM;
    }
    x->all[g] = o;
    o->gidx = g;
    o->tidx = t->n_objs[type];
    t->objs[type][t->n_objs[type]++] = o;
    return 0;
}

static void obj_unregister(struct sim_topo *t, struct sim_obj *o)
{
    struct topo_index *x = ix(t);
    enum sim_res_type type = o->type;

    htab_remove(x->by_id, id_hash(&o->id), o->gidx);
    if (o->name[0])
        htab_remove(x->by_name, name_hash(type, o->name), o->gidx);
    if (type == SIM_RES_PORT && ((struct sim_port *)o)->tunnel_key)
        htab_remove(x->by_key, ((struct sim_port *)o)->tunnel_key, o->gidx);
    x->all[o->gidx] = NULL;
    x->free_idx[x->n_free++] = o->gidx;
    /* Keep insertion order for a stable export. */
    memmove(&t->objs[type][o->tidx], &t->objs[type][o->tidx + 1],
            (t->n_objs[type] - o->tidx - 1) * sizeof(struct sim_obj *));
    t->n_objs[type]--;
    for (uint32_t i = o->tidx; i < t->n_objs[type]; i++)
        t->objs[type][i]->tidx = i;
}

static void set_name(struct sim_topo *t, struct sim_obj *o, const char *name)
{
    struct topo_index *x = ix(t);

    if (!strcmp(o->name, name ? name : ""))
        return;
    if (o->name[0])
        htab_remove(x->by_name, name_hash(o->type, o->name), o->gidx);
    snprintf(o->name, sizeof(o->name), "%s", name ? name : "");
    if (o->name[0])
        htab_insert(x->by_name, name_hash(o->type, o->name), o->gidx);
}

/* --- references ----------------------------------------------------------------------- */

struct ref_walk {
    struct sim_topo *t;
    int delta;
};

static struct sim_obj *find_any(const struct sim_topo *t, const char *ids)
{
    struct topo_index *x = ix(t);
    struct sim_id id;
    struct htab_iter it;

    if (sim_id_parse(ids, &id) < 0)
        return NULL;
    for (uint32_t g = htab_find_first(x->by_id, id_hash(&id), &it); g != HTAB_NONE; g = htab_find_next(&it))
        if (x->all[g] && !memcmp(&x->all[g]->id, &id, sizeof(id)))
            return x->all[g];
    return NULL;
}

static void ref_adjust(const char *field, const char *id, bool soft, void *arg)
{
    struct ref_walk *w = arg;
    struct sim_obj *o;

    (void)field;
    if (soft)
        return;
    o = find_any(w->t, id);
    if (o)
        o->refs = (uint32_t)((int)o->refs + w->delta);
}

static void refs_apply(struct sim_topo *t, enum sim_res_type type, const json_t *doc, int delta)
{
    struct ref_walk w = {t, delta};

    if (doc)
        topo_foreach_ref(type, doc, ref_adjust, &w);
}

struct referrer {
    const char *id;
    const struct sim_obj *by;
    const char *field;
};

static void ref_find(const char *field, const char *id, bool soft, void *arg)
{
    struct referrer *r = arg;

    if (!soft && !strcmp(id, r->id))
        r->field = field;
}

/* Who still refers to 'o' (for a 409 that says who). */
static void find_referrer(const struct sim_topo *t, const struct sim_obj *o, struct referrer *r)
{
    char ids[37];

    sim_id_format(&o->id, ids);
    r->id = ids;
    r->by = NULL;
    for (int ty = 0; ty < SIM_RES_COUNT && !r->by; ty++)
        for (uint32_t i = 0; i < t->n_objs[ty] && !r->by; i++) {
            r->field = NULL;
            topo_foreach_ref((enum sim_res_type)ty, t->objs[ty][i]->doc, ref_find, r);
            if (r->field)
                r->by = t->objs[ty][i];
        }
    r->id = NULL;
}

/* --- tunnel keys: deterministic, so every host loading a document agrees ---------------- */

static uint32_t assign_tunnel_key(const struct sim_topo *t, const struct sim_id *id)
{
    static const uint8_t fixed_key[16] = "rampart-tunnels";
    uint32_t key = (uint32_t)(rp_siphash_key(fixed_key, id->b, sizeof(id->b)) % 0xfffffe) + 1;

    /* Linear probe: bounded by the number of ports, which is < 2^24. */
    while (sim_topo_port_by_tunnel_key(t, key))
        key = key % 0xfffffe + 1;
    return key;
}

static void set_tunnel_key(struct sim_topo *t, struct sim_port *p, uint32_t key)
{
    struct topo_index *x = ix(t);

    if (p->tunnel_key == key)
        return;
    if (p->tunnel_key)
        htab_remove(x->by_key, p->tunnel_key, p->obj.gidx);
    p->tunnel_key = key;
    htab_insert(x->by_key, key, p->obj.gidx);
    json_object_set_new(p->obj.doc, "tunnel_key", json_integer(key));
}

/* --- constraints that span resources ---------------------------------------------------- */

static int refuse(struct sim_error *err, const char *field, int code, const char *msg)
{
    snprintf(err->msg, sizeof(err->msg), "%s", msg);
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    err->code = code;
    return code;
}

static const json_t *doc_of(const struct sim_topo *t, const json_t *doc, const char *field)
{
    struct sim_obj *o = find_any(t, json_string_value(json_object_get(doc, field)));
    return o ? o->doc : NULL;
}

static bool is_type(const struct sim_topo *t, const char *ids, enum sim_res_type type)
{
    struct sim_obj *o = find_any(t, ids);
    return o && o->type == type;
}

/* One floating IP per (port, fixed_ip), and per address: a second one for
 * the same VM address could not be told apart on the way out (the reply
 * would leave from the first), and one address cannot lead to two VMs. */
static int fip_unique(const struct sim_topo *t, const json_t *doc, const struct sim_id *self, struct sim_error *err)
{
    const char *port = json_string_value(json_object_get(doc, "port"));
    const json_t *fixed = json_object_get(doc, "fixed_ip"), *addr = json_object_get(doc, "address");
    const struct sim_obj *po = find_any(t, port);

    for (uint32_t i = 0; i < t->n_objs[SIM_RES_FLOATING_IP]; i++) {
        const struct sim_obj *o = t->objs[SIM_RES_FLOATING_IP][i];
        const struct sim_obj *op = find_any(t, json_string_value(json_object_get(o->doc, "port")));
        char id[37], msg[160];
        if (self && !memcmp(&o->id, self, sizeof(*self)))
            continue;
        sim_id_format(&o->id, id);
        if (json_equal(json_object_get(o->doc, "address"), addr)) {
            snprintf(msg, sizeof(msg), "address: %s is floating IP %s already", json_string_value(addr), id);
            return refuse(err, "address", -EEXIST, msg);
        }
        if (po && op == po && json_equal(json_object_get(o->doc, "fixed_ip"), fixed)) {
            snprintf(msg, sizeof(msg), "fixed_ip: %s of this port has floating IP %s already",
                     json_string_value(fixed), id);
            return refuse(err, "fixed_ip", -EEXIST, msg);
        }
    }
    return 0;
}

static int check_constraints(const struct sim_topo *t, enum sim_res_type type, const json_t *doc,
                             const struct sim_id *self, bool loading, struct sim_error *err)
{
    const char *s;

    switch (type) {
    case SIM_RES_PORT: {
        bool on_router = is_type(t, json_string_value(json_object_get(doc, "device")), SIM_RES_ROUTER);
        if (on_router && !json_object_get(doc, "address"))
            return refuse(err, "address", -EINVAL, "address: a router port needs an address (a.b.c.d/len)");
        if (!on_router && json_object_get(doc, "address"))
            return refuse(err, "address", -EINVAL, "address: only router ports have an address; bridge ports use fixed_ips");
        if (on_router && json_object_get(doc, "fixed_ips"))
            return refuse(err, "fixed_ips", -EINVAL, "fixed_ips: only bridge ports have fixed_ips");
        s = json_string_value(json_object_get(doc, "peer"));
        if (s && json_object_get(doc, "host"))
            return refuse(err, "peer", -EINVAL, "peer: an exterior port (with a host) cannot have a peer");
        if (s) {
            char me[37];
            const json_t *pd = doc_of(t, doc, "peer");
            const char *back = pd ? json_string_value(json_object_get(pd, "peer")) : NULL;
            sim_id_format(self, me);
            if (!strcmp(s, me))
                return refuse(err, "peer", -EINVAL, "peer: a port cannot be its own peer");
            if (pd && json_object_get(pd, "host"))
                return refuse(err, "peer", -EINVAL, "peer: the peer is an exterior port (it has a host)");
            if (back && strcmp(back, me) && !loading)
                return refuse(err, "peer", -EINVAL, "peer: that port is linked to another port");
        }
        return 0;
    }
    case SIM_RES_ROUTE: {
        const json_t *pd = doc_of(t, doc, "next_hop_port");
        if (pd && strcmp(json_string_value(json_object_get(pd, "device")),
                         json_string_value(json_object_get(doc, "router"))))
            return refuse(err, "next_hop_port", -EINVAL, "next_hop_port: not a port of this route's router");
        if (!pd && !strcmp(json_string_value(json_object_get(doc, "type")), "normal"))
            return refuse(err, "next_hop_port", -EINVAL, "next_hop_port: required for a normal route");
        return 0;
    }
    case SIM_RES_RULE:
        s = json_string_value(json_object_get(doc, "action"));
        if (!strcmp(s, "jump") && !json_object_get(doc, "jump_chain"))
            return refuse(err, "jump_chain", -EINVAL, "jump_chain: required for action jump");
        if ((!strcmp(s, "snat") || !strcmp(s, "dnat")) && json_array_size(json_object_get(doc, "nat_targets")) == 0)
            return refuse(err, "nat_targets", -EINVAL, "nat_targets: required for snat and dnat");
        return 0;
    case SIM_RES_BGP_PEER:
    case SIM_RES_NEIGHBOR: {
        const json_t *pd = doc_of(t, doc, "port");
        if (pd && !is_type(t, json_string_value(json_object_get(pd, "device")), SIM_RES_ROUTER))
            return refuse(err, "port", -EINVAL, "port: must be a router port");
        return 0;
    }
    case SIM_RES_FLOATING_IP: {
        const json_t *pd = doc_of(t, doc, "port"), *ips, *e;
        size_t i;
        bool found = false;
        if (pd && !is_type(t, json_string_value(json_object_get(pd, "device")), SIM_RES_BRIDGE))
            return refuse(err, "port", -EINVAL, "port: must be a VM's bridge port");
        ips = pd ? json_object_get(pd, "fixed_ips") : NULL;
        /* A port without fixed_ips (addresses not managed here, e.g. a VM
         * with static addressing) accepts any fixed_ip. */
        if (json_array_size(ips) == 0)
            return fip_unique(t, doc, self, err);
        json_array_foreach(ips, i, e) found |= json_equal(e, json_object_get(doc, "fixed_ip"));
        if (!found)
            return refuse(err, "fixed_ip", -EINVAL, "fixed_ip: not one of the port's fixed_ips");
        return fip_unique(t, doc, self, err);
    }
    default:
        return 0;
    }
}

/* --- changes -------------------------------------------------------------------------- */

/* Re-derive one resource from its (changed) document: out of the lists
 * with its old binding, into them with the new. */
static int rebind(struct sim_topo *t, struct sim_obj *o)
{
    topo_detach(t, o);
    topo_bind(t, o);
    return topo_attach(t, o);
}

/* A port whose peer link a change made or broke. */
static int rebind_ref(struct sim_topo *t, const char *ids, struct topo_affect *aff)
{
    struct sim_obj *o = ids && *ids ? find_any(t, ids) : NULL;
    int rc;

    if (!o || o->type != SIM_RES_PORT)
        return 0;
    topo_affect_port(aff, (struct sim_port *)o);
    rc = rebind(t, o);
    topo_affect_port(aff, (struct sim_port *)o);
    return rc;
}

/* A port's new document must keep valid what other resources say about
 * it: a route's next hop on the route's router, a BGP peer or neighbor on a
 * router port, a floating IP on a bridge port holding its fixed_ip. */
static int check_referrers(struct sim_topo *t, struct sim_obj *o, json_t *doc, struct sim_error *err)
{
    static const enum sim_res_type users[] = {SIM_RES_ROUTE, SIM_RES_NEIGHBOR, SIM_RES_BGP_PEER,
                                              SIM_RES_FLOATING_IP};
    json_t *saved = o->doc;
    char me[37];
    int rc = 0;

    if (o->type != SIM_RES_PORT || !o->refs)
        return 0;
    sim_id_format(&o->id, me);
    /* The check reads the port through the index, so it sees the new
     * document while it is swapped in. */
    o->doc = doc;
    for (size_t k = 0; k < sizeof(users) / sizeof(users[0]) && !rc; k++) {
        enum sim_res_type ut = users[k];
        const char *field = ut == SIM_RES_ROUTE ? "next_hop_port" : "port";
        for (uint32_t i = 0; i < t->n_objs[ut] && !rc; i++) {
            struct sim_obj *u = t->objs[ut][i];
            char why[sizeof(err->msg)], uid[37];
            if (strcmp(json_string_value(json_object_get(u->doc, field)) ?: "", me))
                continue;
            if ((rc = check_constraints(t, ut, u->doc, &u->id, false, err)) == 0)
                continue;
            snprintf(why, sizeof(why), "%s", err->msg);
            sim_id_format(&u->id, uid);
            snprintf(err->msg, sizeof(err->msg), "%s: %s '%.64s' would no longer hold (%.150s)",
                     !strcmp(err->field, "fixed_ip") ? "fixed_ips" : "device", topo_schemas[ut].key,
                     u->name[0] ? u->name : uid, why);
            snprintf(err->field, sizeof(err->field), "%s", !strcmp(err->field, "fixed_ip") ? "fixed_ips" : "device");
        }
    }
    o->doc = saved;
    return rc;
}

/* Re-derive every struct from the documents (a whole-document load). */
static int rebind_all(struct sim_topo *t)
{
    for (int ty = 0; ty < SIM_RES_COUNT; ty++)
        for (uint32_t i = 0; i < t->n_objs[ty]; i++)
            topo_bind(t, t->objs[ty][i]);
    return topo_rebuild(t);
}

static void link_peer(struct sim_topo *t, struct sim_obj *o)
{
    const char *p = json_string_value(json_object_get(o->doc, "peer"));
    struct sim_obj *po = p ? find_any(t, p) : NULL;
    char me[37];

    if (!po || !po->doc)
        return;
    sim_id_format(&o->id, me);
    if (!json_object_get(po->doc, "peer"))
        json_object_set_new(po->doc, "peer", json_string(me));
}

static void unlink_peer(struct sim_topo *t, struct sim_obj *o, const json_t *old_doc)
{
    const char *p = json_string_value(json_object_get(old_doc, "peer"));
    struct sim_obj *po = p ? find_any(t, p) : NULL;
    char me[37];

    if (!po || !po->doc)
        return;
    sim_id_format(&o->id, me);
    if (!strcmp(json_string_value(json_object_get(po->doc, "peer")) ?: "", me))
        json_object_del(po->doc, "peer");
}

/* Install a checked canonical document (owned) as a new or existing resource. */
static int apply_doc(struct sim_topo *t, enum sim_res_type type, json_t *doc, struct sim_obj *existing,
                     struct sim_error *err)
{
    const char *name = json_string_value(json_object_get(doc, "name"));
    json_t *key = json_object_get(doc, "tunnel_key");
    struct sim_obj *o = existing, *other;
    struct topo_affect aff = {0};
    char old_peer[37] = "";
    struct sim_id id;
    int rc;

    sim_id_parse(json_string_value(json_object_get(doc, "id")), &id);
    if (existing && json_string_value(json_object_get(existing->doc, "peer")))
        snprintf(old_peer, sizeof(old_peer), "%s", json_string_value(json_object_get(existing->doc, "peer")));
    if (name && (other = find_by_name(t, type, name)) && other != existing) {
        snprintf(err->msg, sizeof(err->msg), "name: a %s named '%s' exists", topo_schemas[type].key, name);
        snprintf(err->field, sizeof(err->field), "name");
        err->code = -EEXIST;
        goto refuse;
    }
    if (type == SIM_RES_PORT && key) {
        struct sim_port *owner = sim_topo_port_by_tunnel_key(t, (uint32_t)json_integer_value(key));
        if (owner && &owner->obj != existing) {
            refuse(err, "tunnel_key", -EEXIST, "tunnel_key: another port has this tunnel key");
            goto refuse;
        }
    }
    if (existing) {
        if (type == SIM_RES_PORT)
            topo_affect_port(&aff, (struct sim_port *)existing);
        topo_detach(t, existing);
        refs_apply(t, type, existing->doc, -1);
        if (type == SIM_RES_PORT && !json_equal(json_object_get(existing->doc, "peer"), json_object_get(doc, "peer")))
            unlink_peer(t, existing, existing->doc);
        json_decref(existing->doc);
        existing->doc = doc;
        set_name(t, existing, name);
    } else {
        o = calloc(1, obj_size(type));
        if (!o) {
            json_decref(doc);
            return -ENOMEM;
        }
        o->type = type;
        o->id = id;
        o->doc = doc;
        snprintf(o->name, sizeof(o->name), "%s", name ? name : "");
        if ((rc = obj_register(t, o)) < 0) {
            obj_free(o);
            return rc;
        }
    }
    refs_apply(t, type, o->doc, +1);
    if (type == SIM_RES_PORT) {
        struct sim_port *p = (struct sim_port *)o;
        uint32_t k = key ? (uint32_t)json_integer_value(key) : p->tunnel_key ? p->tunnel_key : assign_tunnel_key(t, &o->id);
        if (p->tunnel_key != k) {
            set_tunnel_key(t, p, k);   /* drops the old key from the index */
        } else {
            json_object_set_new(o->doc, "tunnel_key", json_integer(k));
        }
        link_peer(t, o);
    }
    /* The engine's structs: this resource and the ports whose peer link it
     * changed (other references hold stable pointers), and the lists that
     * span resources, as far as this change reaches. Only a failed
     * allocation can fail here, after the documents changed. */
    topo_bind(t, o);
    rc = topo_attach(t, o);
    if (type == SIM_RES_PORT) {
        const char *np = json_string_value(json_object_get(o->doc, "peer"));
        int r2 = strcmp(old_peer, np ? np : "") ? rebind_ref(t, old_peer, &aff) : 0;
        int r3 = rebind_ref(t, np, &aff);
        topo_affect_port(&aff, (struct sim_port *)o);
        int r4 = topo_refresh_fips(t, &aff);
        rc = rc ? rc : r2 ? r2 : r3 ? r3 : r4;
    }
    t->revision++;
    if (rc < 0)
        refuse(err, NULL, rc, "out of memory while indexing the change");
    return rc;
refuse:
    json_decref(doc);
    return err->code;
}

int sim_topo_put(struct sim_topo *t, enum sim_res_type type, const json_t *obj, struct sim_id *id_out,
                 struct sim_error *err)
{
    json_t *idj = json_object_get(obj, "id"), *doc = NULL;
    struct sim_obj *existing, *other;
    struct sim_id id;
    int rc;

    memset(err, 0, sizeof(*err));
    err->type = type;
    if ((unsigned)type >= SIM_RES_COUNT || !json_is_object(obj))
        return refuse(err, NULL, -EINVAL, "a resource must be a JSON object");
    if (idj) {
        if (!json_is_string(idj) || sim_id_parse(json_string_value(idj), &id) < 0)
            return refuse(err, "id", -EINVAL, "id: must be a UUID (8-4-4-4-12 hex digits)");
    } else {
        id_generate(&id);
    }
    existing = sim_topo_find(t, type, &id);
    if (!existing) {
        char ids[37];
        sim_id_format(&id, ids);
        if ((other = find_any(t, ids)))
            return refuse(err, "id", -EEXIST, "id: already used by a resource of another type");
    }
    rc = topo_canonical(t, type, obj, &id, &doc, err);
    if (rc < 0)
        return rc;
    /* A resource changed in place keeps its read-only tunnel key. */
    if (existing && type == SIM_RES_PORT && !json_object_get(doc, "tunnel_key"))
        json_object_set(doc, "tunnel_key", json_object_get(existing->doc, "tunnel_key"));
    rc = check_constraints(t, type, doc, &id, false, err);
    if (rc == 0 && existing)
        rc = check_referrers(t, existing, doc, err);
    if (rc < 0) {
        json_decref(doc);
        return rc;
    }
    rc = apply_doc(t, type, doc, existing, err);
    if (rc == 0 && id_out)
        *id_out = id;
    return rc;
}

int sim_topo_patch(struct sim_topo *t, enum sim_res_type type, const struct sim_id *id, const json_t *fields,
                   struct sim_error *err)
{
    struct sim_obj *o = sim_topo_find(t, type, id);
    json_t *merged, *v;
    const char *k;
    int rc;

    memset(err, 0, sizeof(*err));
    err->type = type;
    if (!o)
        return refuse(err, NULL, -ENOENT, "no such resource");
    if (!json_is_object(fields))
        return refuse(err, NULL, -EINVAL, "a change must be a JSON object");
    merged = json_deep_copy(o->doc);
    json_object_foreach((json_t *)fields, k, v) {
        if (!strcmp(k, "id"))
            continue;
        if (json_is_null(v))
            json_object_del(merged, k);
        else
            json_object_set(merged, k, v);
    }
    rc = sim_topo_put(t, type, merged, NULL, err);
    json_decref(merged);
    return rc;
}

int sim_topo_del(struct sim_topo *t, enum sim_res_type type, const struct sim_id *id, struct sim_error *err)
{
    struct sim_obj *o = (unsigned)type < SIM_RES_COUNT ? sim_topo_find(t, type, id) : NULL;
    struct referrer r;

    memset(err, 0, sizeof(*err));
    err->type = type;
    if (!o)
        return refuse(err, NULL, -ENOENT, "no such resource");
    if (o->refs) {
        find_referrer(t, o, &r);
        if (r.by) {
            char ids[37];
            sim_id_format(&r.by->id, ids);
            snprintf(err->msg, sizeof(err->msg), "still referenced by %s '%s' (field %s)",
                     topo_schemas[r.by->type].key, r.by->name[0] ? r.by->name : ids, r.field);
        } else {
            snprintf(err->msg, sizeof(err->msg), "still referenced");
        }
        err->code = -EBUSY;
        return -EBUSY;
    }
    struct topo_affect aff = {0};
    char peer[37] = "";
    int rc = 0;

    if (type == SIM_RES_PORT)
        topo_affect_port(&aff, (struct sim_port *)o);
    topo_detach(t, o);
    refs_apply(t, type, o->doc, -1);
    if (type == SIM_RES_PORT) {
        unlink_peer(t, o, o->doc);
        snprintf(peer, sizeof(peer), "%s", json_string_value(json_object_get(o->doc, "peer")) ?: "");
        rc = rebind_ref(t, peer, &aff);
        /* While the port still exists: a floating IP's route may lead
         * through it, and leaves before it is freed. */
        int r2 = topo_refresh_fips(t, &aff);
        rc = rc ? rc : r2;
    }
    obj_unregister(t, o);
    obj_free(o);
    t->revision++;
    if (rc < 0)
        refuse(err, NULL, rc, "out of memory while indexing the change");
    return rc;
}

json_t *sim_topo_get(const struct sim_topo *t, enum sim_res_type type, const struct sim_id *id)
{
    struct sim_obj *o = (unsigned)type < SIM_RES_COUNT ? sim_topo_find(t, type, id) : NULL;

    return o ? json_deep_copy(o->doc) : NULL;
}

json_t *sim_topo_export(const struct sim_topo *t)
{
    json_t *doc = json_object();

    for (int ty = 0; doc && ty < SIM_RES_COUNT; ty++) {
        json_t *arr = json_array();
        for (uint32_t i = 0; arr && i < t->n_objs[ty]; i++)
            json_array_append_new(arr, json_deep_copy(t->objs[ty][i]->doc));
        if (!arr || json_object_set_new(doc, topo_schemas[ty].key, arr) < 0) {
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

/* --- whole documents ------------------------------------------------------------------ */

static int fail_at(struct sim_error *err, enum sim_res_type type, size_t i, const char *name, const char *field,
                   int code, const char *msg)
{
    char buf[sizeof(err->msg)];

    snprintf(buf, sizeof(buf), "%s[%zu]%s%s%s: %s", topo_schemas[type].key, i, name && *name ? " (" : "",
             name && *name ? name : "", name && *name ? ")" : "", msg);
    snprintf(err->msg, sizeof(err->msg), "%s", buf);
    if (field != err->field)
        snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    err->type = type;
    err->code = code;
    return code;
}

static int cmp_port_id(const void *a, const void *b)
{
    return memcmp(&(*(struct sim_obj *const *)a)->id, &(*(struct sim_obj *const *)b)->id, sizeof(struct sim_id));
}

static int load_into(struct sim_topo *n, const json_t *doc, struct sim_error *err)
{
    const char *k;
    json_t *v;
    int rc;

    if (!json_is_object(doc))
        return refuse(err, NULL, -EINVAL, "the topology document must be a JSON object keyed by type");
    json_object_foreach((json_t *)doc, k, v) {
        enum sim_res_type ty;
        if (sim_res_type_from_key(k, &ty) < 0) {
            snprintf(err->msg, sizeof(err->msg), "%s: unknown resource type", k);
            err->code = -EINVAL;
            return -EINVAL;
        }
        if (!json_is_array(v)) {
            snprintf(err->msg, sizeof(err->msg), "%s: must be a list", k);
            err->code = -EINVAL;
            return -EINVAL;
        }
    }
    /* Pass 1: every id and name, so references may point forward. */
    for (int ty = 0; ty < SIM_RES_COUNT; ty++) {
        json_t *arr = json_object_get(doc, topo_schemas[ty].key), *o;
        size_t i;
        json_array_foreach(arr, i, o) {
            json_t *idj = json_object_get(o, "id"), *nm = json_object_get(o, "name");
            struct sim_obj *sh;
            struct sim_id id;
            char ids[37];

            if (!json_is_object(o))
                return fail_at(err, ty, i, NULL, NULL, -EINVAL, "must be a JSON object");
            if (idj && (!json_is_string(idj) || sim_id_parse(json_string_value(idj), &id) < 0))
                return fail_at(err, ty, i, NULL, "id", -EINVAL, "id: must be a UUID");
            bool derived = !idj && json_is_string(nm) && json_string_length(nm) &&
                           json_string_length(nm) < SIM_NAME_MAX;
            if (derived)
                id_from_name(ty, json_string_value(nm), &id);
            else if (!idj)
                id_generate(&id);
            sim_id_format(&id, ids);
            if (find_any(n, ids) && derived)   /* same type, same name: the name is what repeats */
                return fail_at(err, ty, i, json_string_value(nm), "name", -EEXIST, "name: duplicate name");
            if (find_any(n, ids))
                return fail_at(err, ty, i, NULL, "id", -EEXIST, "id: duplicate id");
            if (nm && (!json_is_string(nm) || !json_string_length(nm) || json_string_length(nm) >= SIM_NAME_MAX))
                return fail_at(err, ty, i, NULL, "name", -EINVAL, "name: must be a non-empty string");
            if (nm && find_by_name(n, ty, json_string_value(nm)))
                return fail_at(err, ty, i, json_string_value(nm), "name", -EEXIST, "name: duplicate name");
            sh = calloc(1, obj_size(ty));
            if (!sh)
                return -ENOMEM;
            sh->type = ty;
            sh->id = id;
            snprintf(sh->name, sizeof(sh->name), "%s", nm ? json_string_value(nm) : "");
            if ((rc = obj_register(n, sh)) < 0) {
                obj_free(sh);
                return rc;
            }
        }
    }
    /* Pass 2: documents. */
    for (int ty = 0; ty < SIM_RES_COUNT; ty++) {
        json_t *arr = json_object_get(doc, topo_schemas[ty].key), *o;
        size_t i;
        json_array_foreach(arr, i, o) {
            struct sim_obj *sh = n->objs[ty][i];
            if ((rc = topo_canonical(n, ty, o, &sh->id, &sh->doc, err)) < 0)
                return fail_at(err, ty, i, sh->name, err->field, rc, err->msg);
        }
    }
    /* Pass 3: what spans resources, peer links both ways, counts, keys. */
    for (int ty = 0; ty < SIM_RES_COUNT; ty++)
        for (uint32_t i = 0; i < n->n_objs[ty]; i++) {
            struct sim_obj *o = n->objs[ty][i];
            if ((rc = check_constraints(n, ty, o->doc, &o->id, true, err)) < 0)
                return fail_at(err, ty, i, o->name, err->field, rc, err->msg);
        }
    for (uint32_t i = 0; i < n->n_objs[SIM_RES_PORT]; i++) {
        struct sim_obj *x = n->objs[SIM_RES_PORT][i];
        const char *p = json_string_value(json_object_get(x->doc, "peer"));
        struct sim_obj *po = p ? find_any(n, p) : NULL;
        const char *back;
        char me[37];
        if (!po)
            continue;
        sim_id_format(&x->id, me);
        back = json_string_value(json_object_get(po->doc, "peer"));
        if (back && strcmp(back, me))
            return fail_at(err, SIM_RES_PORT, i, x->name, "peer", -EINVAL,
                           "peer: the peer port is linked to another port (a port has one peer)");
        if (!back)
            json_object_set_new(po->doc, "peer", json_string(me));
    }
    for (int ty = 0; ty < SIM_RES_COUNT; ty++)
        for (uint32_t i = 0; i < n->n_objs[ty]; i++)
            refs_apply(n, ty, n->objs[ty][i]->doc, +1);
    {
        uint32_t np = n->n_objs[SIM_RES_PORT], nk = 0;
        struct sim_obj **need = calloc(np + 1, sizeof(*need));
        if (!need)
            return -ENOMEM;
        for (uint32_t i = 0; i < np; i++) {
            struct sim_port *p = (struct sim_port *)n->objs[SIM_RES_PORT][i];
            json_t *key = json_object_get(p->obj.doc, "tunnel_key");
            if (!key) {
                need[nk++] = &p->obj;
                continue;
            }
            if (sim_topo_port_by_tunnel_key(n, (uint32_t)json_integer_value(key))) {
                free(need);
                return fail_at(err, SIM_RES_PORT, i, p->obj.name, "tunnel_key", -EEXIST,
                               "tunnel_key: another port has this tunnel key");
            }
            set_tunnel_key(n, p, (uint32_t)json_integer_value(key));
        }
        /* In id order, so every host derives the same keys from the same document. */
        qsort(need, nk, sizeof(*need), cmp_port_id);
        for (uint32_t i = 0; i < nk; i++)
            set_tunnel_key(n, (struct sim_port *)need[i], assign_tunnel_key(n, &need[i]->id));
        free(need);
    }
    return rebind_all(n);
}

int sim_topo_load(struct sim_topo *t, const json_t *doc, struct sim_error *err)
{
    struct sim_topo *n, tmp;
    int rc;

    memset(err, 0, sizeof(*err));
    if ((rc = sim_topo_create(&n)) < 0)
        return rc;
    rc = load_into(n, doc, err);
    if (rc < 0) {
        if (!err->code)
            err->code = rc;
        if (!err->msg[0])
            snprintf(err->msg, sizeof(err->msg), "cannot load the topology (%d)", rc);
        sim_topo_destroy(n);
        return rc;
    }
    tmp = *t;
    *t = *n;
    *n = tmp;
    t->revision = tmp.revision + 1;
    sim_topo_destroy(n);
    return 0;
}

int sim_topo_load_file(struct sim_topo *t, const char *path, struct sim_error *err)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    int rc;

    memset(err, 0, sizeof(*err));
    if (!doc) {
        snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        err->code = -EINVAL;
        return -EINVAL;
    }
    rc = sim_topo_load(t, doc, err);
    json_decref(doc);
    return rc;
}
