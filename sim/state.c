/*
 * sim/state.c: learned per-node state (MAC tables, ARP caches, NAT tables)
 * that simulations read and write.
 *
 * The simulation engine (bridges, routers, chains, NAT) is not in this
 * tree yet: sim_trace_json() answers -ENOSYS with a message saying so,
 * rather than pretending to simulate.
 */
#include "sim/sim_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sim_state_create(struct sim_state **out, struct nat_tables *nat)
{
    struct sim_state *s = calloc(1, sizeof(*s));

    if (!s)
        return -ENOMEM;
    s->nat = nat;
    s->mac_ageing_s = 300;
    s->arp_ageing_s = 300;
    *out = s;
    return 0;
}

void sim_state_destroy(struct sim_state *s)
{
    free(s);
}

int sim_trace_json(const struct sim_topo *t, struct sim_state *s, const json_t *request, uint64_t now_ns,
                   json_t **response, struct sim_error *err)
{
    (void)t;
    (void)s;
    (void)request;
    (void)now_ns;
    *response = NULL;
    memset(err, 0, sizeof(*err));
    snprintf(err->msg, sizeof(err->msg), "the flow simulator engine is not built yet (issue 4)");
    err->code = -ENOSYS;
    return -ENOSYS;
}
