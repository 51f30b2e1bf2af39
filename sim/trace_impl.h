/*
 * sim/trace_impl.h: pieces of the trace codec (sim/trace.c) that its
 * printer (sim/trace_print.c) and the tests share. Private to sim/.
 */
#ifndef RP_SIM_TRACE_IMPL_H
#define RP_SIM_TRACE_IMPL_H

#include "sim/sim_impl.h"

const char *trace_proto_name(uint8_t proto, char buf[8]);
const char *trace_action_name(uint8_t action);
const char *trace_tag_kind_name(uint64_t tag);
void trace_tcp_flags_format(uint8_t flags, char out[9]);

/* One packet of a request, defaults applied; *in_out gets its ingress port
 * (the request's, or the packet's own in_port). 0 or -EINVAL with err. */
int trace_decode_packet(const struct sim_topo *t, const json_t *v, unsigned idx, const struct sim_port *default_in,
                        const struct sim_port **in_out, struct sim_pkt *p, struct sim_error *err);
json_t *trace_packet_json(const struct sim_pkt *p);
json_t *trace_result_json(const struct sim_port *in, const struct sim_pkt *p, const struct sim_result *r);

#endif
