/*
 * sim/resolve.c: a reference from outside (an id or a name) to an id.
 */
#include "sim/sim_impl.h"

#include <errno.h>

int sim_topo_resolve(const struct sim_topo *t, enum sim_res_type type, const char *ref, struct sim_id *out)
{
    const struct sim_obj *o;

    if (!t || !ref || !out || type >= SIM_RES_COUNT)
        return -EINVAL;
    o = sim_topo_find_ref(t, type, ref);
    if (!o)
        return -ENOENT;
    *out = o->id;
    return 0;
}
