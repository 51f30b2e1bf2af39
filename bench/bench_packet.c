/*
 * Flow-key extraction for Ethernet/IPv4/TCP frames (ns per packet) next to
 * a two-pass baseline measured in the same run: a layered parser into a full
 * parsed-headers struct, then a copy into the key (the shape a straightforward
 * implementation takes). Also the incremental checksum update of an SNAT
 * rewrite next to recomputing both checksums.
 */
#include "bench/bench_util.h"
#include "lib/csum.h"
#include "lib/packet.h"

#include <arpa/inet.h>
#include <stdlib.h>

#define N_FRAMES 1024
#define ITER 40

/* --- the baseline: parse every layer into its own struct, then build the key --- */
struct parsed {
    struct eth_hdr eth;
    struct ipv4_hdr ip;
    struct tcp_hdr tcp;
    uint8_t options[40];
    int has_ip, has_tcp;
};

static int baseline_parse(const uint8_t *f, uint32_t len, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    if (len < sizeof(p->eth))
        return -1;
    memcpy(&p->eth, f, sizeof(p->eth));
    if (ntohs(p->eth.type) != ETH_TYPE_IPV4 || len < 14 + sizeof(p->ip))
        return 0;
    memcpy(&p->ip, f + 14, sizeof(p->ip));
    unsigned ihl = (p->ip.ver_ihl & 15) * 4u;
    if (ihl < 20 || len < 14 + ihl || ntohs(p->ip.tot_len) + 14u > len)
        return -1;
    memcpy(p->options, f + 34, ihl - 20);
    p->has_ip = 1;
    if (p->ip.proto == IP_PROTO_TCP && len >= 14 + ihl + 20) {
        memcpy(&p->tcp, f + 14 + ihl, sizeof(p->tcp));
        p->has_tcp = 1;
    }
    return 0;
}

static void baseline_key(const struct parsed *p, uint32_t in_port, struct flow_key *k)
{
    memset(k, 0, sizeof(*k));
    k->in_port = in_port;
    memcpy(k->eth_dst, p->eth.dst, 6);
    memcpy(k->eth_src, p->eth.src, 6);
    k->eth_type = p->eth.type;
    if (p->has_ip) {
        k->nw_proto = p->ip.proto;
        k->nw_tos = p->ip.tos;
        k->nw_ttl = p->ip.ttl;
        k->nw.v4.src = p->ip.src;
        k->nw.v4.dst = p->ip.dst;
    }
    if (p->has_tcp) {
        k->tp_src = p->tcp.sport;
        k->tp_dst = p->tcp.dport;
    }
}

int main(void)
{
    static uint8_t frames[N_FRAMES][128];
    static uint32_t lens[N_FRAMES];
    uint64_t s = 1, sink = 0;
    struct flow_key k;
    struct pkt_layout l;
    struct parsed p;

    for (int i = 0; i < N_FRAMES; i++) {
        struct pkt_spec sp = {.eth_src = {2, 0, 0, 0, 0, 1}, .eth_dst = {2, 0, 0, 0, 0, 2}, .proto = IP_PROTO_TCP,
                              .ttl = 64, .tcp_flags = TCP_ACK};
        sp.ip_src = (uint32_t)bench_rand(&s);
        sp.ip_dst = (uint32_t)bench_rand(&s);
        sp.sport = (uint16_t)bench_rand(&s);
        sp.dport = 443;
        lens[i] = (uint32_t)pkt_build_ipv4(frames[i], sizeof(frames[i]), &sp);
    }
    double t0 = bench_now();
    for (int it = 0; it < ITER * 1000; it++)
        for (int i = 0; i < N_FRAMES; i += 64) {
            for (int j = i; j < i + 64; j++) {
                flow_key_extract(frames[j], lens[j], (uint32_t)j, &k, &l);
                sink += k.tp_src ^ k.nw.v4.src;
            }
        }
    double t_fast = bench_now() - t0;
    t0 = bench_now();
    for (int it = 0; it < ITER * 1000; it++)
        for (int i = 0; i < N_FRAMES; i++) {
            baseline_parse(frames[i], lens[i], &p);
            baseline_key(&p, (uint32_t)i, &k);
            sink += k.tp_src ^ k.nw.v4.src;
        }
    double t_base = bench_now() - t0;
    double n = (double)ITER * 1000 * N_FRAMES;
    bench_report("flow_key_extract, Ethernet/IPv4/TCP", n, t_fast, "two-pass parse+copy", n, t_base);
    printf("target: <= 15 ns per packet\n");

    /* SNAT rewrite of source address and port: incremental vs full recompute. */
    uint8_t f[1514];
    struct pkt_spec sp = {.eth_src = {2, 0, 0, 0, 0, 1}, .eth_dst = {2, 0, 0, 0, 0, 2}, .proto = IP_PROTO_TCP,
                          .ttl = 64, .ip_src = 0x0a000001, .ip_dst = 0x08080808, .sport = 1000, .dport = 80};
    for (int size = 0; size < 2; size++) {
        static uint8_t payload[1460];
        sp.payload = payload;
        sp.payload_len = size ? 1460 : 10;
        int len = pkt_build_ipv4(f, sizeof(f), &sp);
        uint16_t l4len = (uint16_t)(len - 34);
        const long N = size ? 2000000 : 20000000;
        t0 = bench_now();
        for (long i = 0; i < N; i++) {
            rp_be32 old_ip, new_ip = htonl(0xc6336400u + (uint32_t)(i & 0xff));
            rp_be16 old_port, new_port = htons((uint16_t)(1024 + (i & 0x3ff))), ipc, tc;
            memcpy(&old_ip, f + 26, 4);
            memcpy(&old_port, f + 34, 2);
            memcpy(&ipc, f + 24, 2);
            memcpy(&tc, f + 50, 2);
            ipc = csum_update32(ipc, old_ip, new_ip);
            tc = csum_update16(csum_update32(tc, old_ip, new_ip), old_port, new_port);
            memcpy(f + 26, &new_ip, 4);
            memcpy(f + 34, &new_port, 2);
            memcpy(f + 24, &ipc, 2);
            memcpy(f + 50, &tc, 2);
        }
        double t_inc = bench_now() - t0;
        sink += f[24] + f[50];
        t0 = bench_now();
        for (long i = 0; i < N; i++) {
            rp_be32 new_ip = htonl(0xc6336400u + (uint32_t)(i & 0xff)), src, dst;
            rp_be16 new_port = htons((uint16_t)(1024 + (i & 0x3ff))), c;
            memcpy(f + 26, &new_ip, 4);
            memcpy(f + 34, &new_port, 2);
            memset(f + 24, 0, 2);
            c = csum_ipv4_header(f + 14, 20);
            memcpy(f + 24, &c, 2);
            memset(f + 50, 0, 2);
            memcpy(&src, f + 26, 4);
            memcpy(&dst, f + 30, 4);
            c = csum_tcpudp_ipv4(src, dst, IP_PROTO_TCP, f + 34, l4len);
            memcpy(f + 50, &c, 2);
        }
        double t_full = bench_now() - t0;
        sink += f[24] + f[50];
        char name[80];
        snprintf(name, sizeof(name), "SNAT checksum update, incremental, %d-byte frame", len);
        bench_report(name, (double)N, t_inc, "full recompute", (double)N, t_full);
    }
    printf("[sink %llu]\n", (unsigned long long)sink);
    return 0;
}
