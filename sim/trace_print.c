/*
 * sim/trace_print.c: a trace answer as a person reads it, hop by hop, in
 * the spirit of ovn-trace: which device the packet crossed, through which
 * ports, which rules matched, which route was chosen, what NAT did, and the
 * flow the datapath would install.
 *
 * It reads the JSON answer (not the engine's structs) so that a live trace
 * from the API prints the same way as an offline one. Ids are shown as the
 * names they have in the topology when it is given.
 */
#include "sim/sim_impl.h"
#include "sim/trace_impl.h"

#include <stdio.h>
#include <string.h>

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "";
}

/* The name of whatever resource has this id, or the id itself. */
static const char *name_of(const struct sim_topo *t, const char *id, char buf[80])
{
    static const enum sim_res_type types[] = {SIM_RES_PORT, SIM_RES_ROUTER, SIM_RES_BRIDGE, SIM_RES_CHAIN,
                                              SIM_RES_RULE, SIM_RES_HOST, SIM_RES_ROUTE};
    struct sim_id sid;

    if (!id || !*id)
        return "-";
    if (!t || sim_id_parse(id, &sid) < 0)
        return id;
    for (size_t i = 0; i < RP_ARRAY_SIZE(types); i++) {
        const struct sim_obj *o = sim_topo_find(t, types[i], &sid);
        if (o && o->name[0]) {
            snprintf(buf, 80, "%s", o->name);
            return buf;
        }
        if (o && types[i] == SIM_RES_RULE) {
            const struct sim_rule *r = (const struct sim_rule *)o;
            snprintf(buf, 80, "#%u", r->position);
            return buf;
        }
    }
    snprintf(buf, 80, "%.8s", id);   /* unnamed: the id's first part is enough to find it */
    return buf;
}

/* "tcp 10.0.0.5:40000 -> 8.8.8.8:80 [S] ttl 64" */
static void packet_line(const json_t *p, char *out, size_t cap)
{
    const char *type = jstr(p, "eth_type");
    const char *proto = jstr(p, "proto");
    int n;

    if (!strcmp(type, "arp")) {
        if (!strcmp(jstr(p, "arp_op"), "reply"))
            snprintf(out, cap, "arp reply %s is-at %s (to %s)", jstr(p, "arp_spa"), jstr(p, "arp_sha"),
                     jstr(p, "arp_tpa"));
        else
            snprintf(out, cap, "arp request who-has %s tell %s", jstr(p, "arp_tpa"), jstr(p, "arp_spa"));
        return;
    }
    if (strcmp(type, "ipv4")) {
        snprintf(out, cap, "eth_type %s %s -> %s", type, jstr(p, "eth_src"), jstr(p, "eth_dst"));
        return;
    }
    if (!strcmp(proto, "tcp") || !strcmp(proto, "udp"))
        n = snprintf(out, cap, "%s %s:%lld -> %s:%lld", proto, jstr(p, "ip_src"),
                     (long long)json_integer_value(json_object_get(p, "src_port")), jstr(p, "ip_dst"),
                     (long long)json_integer_value(json_object_get(p, "dst_port")));
    else if (!strcmp(proto, "icmp"))
        n = snprintf(out, cap, "icmp %s -> %s type %lld code %lld", jstr(p, "ip_src"), jstr(p, "ip_dst"),
                     (long long)json_integer_value(json_object_get(p, "icmp_type")),
                     (long long)json_integer_value(json_object_get(p, "icmp_code")));
    else
        n = snprintf(out, cap, "proto %s %s -> %s", proto, jstr(p, "ip_src"), jstr(p, "ip_dst"));
    if (n < 0 || (size_t)n >= cap)
        return;
    if (json_object_get(p, "tcp_flags"))
        n += snprintf(out + n, cap - (size_t)n, " [%s]", jstr(p, "tcp_flags"));
    if ((size_t)n < cap && json_object_get(p, "icmp_id"))
        n += snprintf(out + n, cap - (size_t)n, " id %lld",
                      (long long)json_integer_value(json_object_get(p, "icmp_id")));
    if ((size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, " ttl %lld",
                      (long long)json_integer_value(json_object_get(p, "ttl")));
    const json_t *e = json_object_get(p, "embedded");
    if (e && (size_t)n < cap) {
        const char *eproto = jstr(e, "proto");
        if (!strcmp(eproto, "icmp"))
            snprintf(out + n, cap - (size_t)n, " quoting icmp %s -> %s id %lld", jstr(e, "ip_src"),
                     jstr(e, "ip_dst"), (long long)json_integer_value(json_object_get(e, "icmp_id")));
        else
            snprintf(out + n, cap - (size_t)n, " quoting %s %s:%lld -> %s:%lld", eproto, jstr(e, "ip_src"),
                     (long long)json_integer_value(json_object_get(e, "src_port")), jstr(e, "ip_dst"),
                     (long long)json_integer_value(json_object_get(e, "dst_port")));
    }
}

static void print_hops(const struct sim_topo *t, const json_t *hops, FILE *out)
{
    size_t i, k;
    const json_t *h, *r;
    char b1[80], b2[80], b3[80];

    json_array_foreach(hops, i, h) {
        const char *in = jstr(h, "in_port"), *outp = jstr(h, "out_port");
        fprintf(out, "  %zu. %s %s", i + 1, jstr(h, "device_type"), name_of(t, jstr(h, "device"), b1));
        if (*in)
            fprintf(out, ", in %s", name_of(t, in, b2));
        if (*outp)
            fprintf(out, ", out %s", name_of(t, outp, b3));
        fputc('\n', out);
        json_array_foreach(json_object_get(h, "rules"), k, r) {
            fprintf(out, "       chain %s rule %s: %s\n", name_of(t, jstr(r, "chain"), b1),
                    name_of(t, jstr(r, "rule"), b2), jstr(r, "action"));
        }
        /* notes are joined with "; " by the engine: one per line reads better */
        const char *note = jstr(h, "note");
        while (*note) {
            const char *end = strstr(note, "; ");
            int len = end ? (int)(end - note) : (int)strlen(note);
            fprintf(out, "       %.*s\n", len, note);
            note += len + (end ? 2 : 0);
        }
    }
}

static void print_outputs(const struct sim_topo *t, const json_t *res, FILE *out)
{
    const char *verdict = jstr(res, "result");
    const json_t *o;
    size_t i;
    char b1[80], b2[80], line[512];

    if (!strcmp(verdict, "drop"))
        fprintf(out, "  => drop: %s\n", jstr(res, "drop_reason"));
    else if (!strcmp(verdict, "consume"))
        fprintf(out, "  => consumed by the topology\n");
    else if (!strcmp(verdict, "reply"))
        fprintf(out, "  => the topology replies%s\n", json_array_size(json_object_get(res, "outputs"))
                                                          ? ""
                                                          : " (the reply was dropped on its way)");
    else if (!strcmp(verdict, "pending"))
        fprintf(out, "  => waiting for ARP: the router sends a request\n");
    else
        fprintf(out, "  => forward\n");
    json_array_foreach(json_object_get(res, "outputs"), i, o) {
        const char *host = jstr(o, "host");
        packet_line(json_object_get(o, "packet"), line, sizeof(line));
        fprintf(out, "     out %s", name_of(t, jstr(o, "port"), b1));
        if (*host)
            fprintf(out, " on host %s", name_of(t, host, b2));
        fprintf(out, " (tunnel key %lld)\n", (long long)json_integer_value(json_object_get(o, "tunnel_key")));
        fprintf(out, "     %s\n", line);
        const json_t *p = json_object_get(o, "packet");
        fprintf(out, "     eth %s -> %s\n", jstr(p, "eth_src"), jstr(p, "eth_dst"));
    }
}

void sim_trace_print(const struct sim_topo *t, const json_t *request, const json_t *response, FILE *out)
{
    (void)request;   /* each result carries the packet as simulated, defaults applied */
    const json_t *res;
    size_t i;
    char line[512], b1[80];

    json_array_foreach(json_object_get(response, "results"), i, res) {
        const json_t *flow = json_object_get(res, "flow");
        const json_t *hops = json_object_get(res, "hops");
        const char *in_name = jstr(res, "in_port");

        packet_line(json_object_get(res, "packet"), line, sizeof(line));
        fprintf(out, "packet %zu: %s\n", i + 1, line);
        fprintf(out, "  in at port %s\n", name_of(t, in_name, b1));
        print_hops(t, hops, out);
        print_outputs(t, res, out);
        if (flow) {
            fprintf(out, "  flow: match   %s\n", jstr(flow, "match"));
            fprintf(out, "        actions %s\n", jstr(flow, "actions"));
            fprintf(out, "        %zu tags\n", json_array_size(json_object_get(flow, "tags")));
        }
        fputc('\n', out);
    }
}
