/*
 * sim/topo_impl.h: the topology's schema and helpers, private to sim/topo*.c.
 */
#ifndef RP_SIM_TOPO_IMPL_H
#define RP_SIM_TOPO_IMPL_H

#include "sim/sim_impl.h"

enum topo_field_kind {
    F_STR, F_BOOL, F_INT, F_ENUM, F_ADDR, F_PREFIX, F_CIDR, F_MAC, F_REF, F_REFS, F_ADDRS, F_RANGE, F_TARGETS,
};

struct topo_field {
    const char *name;
    enum topo_field_kind kind;
    int ref;                       /* F_REF/F_REFS: enum sim_res_type, or a router-or-bridge marker */
    bool required, readonly, inv, soft;
    int64_t min, max;              /* F_INT */
    const char *const *choices;    /* F_ENUM */
    const char *def;               /* default, as text */
};

struct topo_schema {
    enum sim_res_type type;
    const char *key;
    const struct topo_field *fields;
    size_t n;
};

extern const struct topo_schema topo_schemas[SIM_RES_COUNT];

int topo_parse_addr(const char *s, uint32_t *out);
int topo_parse_cidr(const char *s, bool host_bits_ok, uint32_t *addr, uint8_t *len);
int topo_parse_mac(const char *s, uint8_t mac[6]);
void topo_format_addr(uint32_t a, char out[16]);

/* The canonical document of an incoming object: -EINVAL/-ENOENT with err. */
int topo_canonical(const struct sim_topo *t, enum sim_res_type type, const json_t *in, const struct sim_id *id,
                   json_t **out, struct sim_error *err);
void topo_foreach_ref(enum sim_res_type type, const json_t *doc,
                      void (*fn)(const char *field, const char *id, bool soft, void *arg), void *arg);

/* topo_derive.c: the lists that span resources. A change calls
 * topo_detach() while the struct still holds the old binding, rebinds, then
 * topo_attach(); a port change also collects the devices whose floating-IP
 * placement it may move (topo_affect_port, before and after) and refreshes
 * those (topo_refresh_fips). topo_rebuild() (sim_impl.h) does everything
 * for a freshly loaded document. */
int topo_attach(struct sim_topo *t, struct sim_obj *o);
void topo_detach(struct sim_topo *t, struct sim_obj *o);
void topo_derived_free(struct sim_obj *o);
int topo_route_insert(struct sim_device *router, struct sim_route *r);
void topo_route_remove(struct sim_device *router, struct sim_route *r);

#define TOPO_AFFECT_MAX 8
struct topo_affect {
    const void *dev[TOPO_AFFECT_MAX];    /* struct sim_device */
    const void *port[TOPO_AFFECT_MAX];   /* struct sim_port */
    uint32_t n_dev, n_port;
};
void topo_affect_port(struct topo_affect *a, const struct sim_port *p);
int topo_refresh_fips(struct sim_topo *t, const struct topo_affect *a);

#endif
