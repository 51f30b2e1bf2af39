/*
 * sim/state.c: the trace entry point until the trace module lands.
 *
 * The simulation engine is here (sim/sim.c and friends); the JSON trace
 * request/response codec of api-model.md is not yet: sim_trace_json()
 * answers -ENOSYS with a message saying so, rather than pretending.
 */
#include "sim/sim_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int sim_trace_json(const struct sim_topo *t, struct sim_state *s, const json_t *request, uint64_t now_ns,
                   json_t **response, struct sim_error *err)
{
    (void)t;
    (void)s;
    (void)request;
    (void)now_ns;
    *response = NULL;
    memset(err, 0, sizeof(*err));
    snprintf(err->msg, sizeof(err->msg), "the trace request codec is not built yet (issue 4)");
    err->code = -ENOSYS;
    return -ENOSYS;
}
