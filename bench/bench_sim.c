/*
 * The flow simulator on one core: first-packet simulations per second of
 * new flows, on a topology loaded from an export document with
 * sim_topo_load (the example tenant of /work/shared/examples/one-tenant.json,
 * with a default route and an upstream neighbor on the provider router, a
 * /16 tenant subnet and BENCH_VMS VM ports on the tenant bridge):
 *   (a) bridge only: VM to VM on the tenant bridge, a new source port each
 *       time;
 *   (b) SNAT out: VM -> tenant router (snat rule to its provider-side
 *       address 100.64.10.2, ports 1024-65535) -> provider router -> uplink,
 *       a new flow each time (VM, source port and remote all vary), so every
 *       simulation makes a new NAT binding;
 *   (c) floating IP in: internet host -> FIP on the provider router ->
 *       tenant router -> VM, a new flow each time (remote address and port
 *       vary); static NAT, no state;
 *   (d) as (b) but to 16 remotes only: ports, not remotes, are what is
 *       shared, so every leased block fills and the free-port search in
 *       nat/nat_alloc.c works hardest;
 *   (e) as (b) with conntrack and NAT tables of 1M entries and 256K
 *       bindings live (a large gateway): the hash tables no longer fit in
 *       cache.
 * (a)-(d) use nat/'s default table sizes (65536 entries each, what
 * sim_state_create(NULL) makes) with 16K bindings live.
 *
 * Memory stays bounded the way a running agent keeps it: the clock moves
 * one idle timeout of a binding (nat/'s default TCP established timeout,
 * 7200 s: the simulator allocates without TCP flags) per window of a
 * quarter of max_nat simulations, and nat_expire runs every CHUNK
 * simulations inside the timed loop, so 1..3 windows of bindings are live.
 *
 * Baselines, measured in the same run: for (a), a flow-cache hit (what every
 * later packet of the flow costs): siphash of the in-port and 5-tuple and a
 * lookup in a lib/hash.h table of BASE_FLOWS flows, in random order. For
 * (b)-(e), the bridge-only simulation (a): the ratio is how much routing,
 * rule chains and NAT cost over one bridge hop.
 *
 * Rates are per second of the thread's CPU time (CLOCK_THREAD_CPUTIME_ID),
 * not wall time, so that other load on the machine does not count; cache
 * contention from it still does.
 *
 * Memory per conntrack/NAT entry at 1M and 10M entries is in bench_nat.
 */
#include "bench/bench_util.h"
#include "lib/hash.h"
#include "nat/nat.h"
#include "sim/sim.h"

#include <errno.h>
#include <stdlib.h>

#define BENCH_VMS 256u
#define BASE_FLOWS (256u * 1024u)       /* flows in the baseline's flow cache */
#define BENCH_TIMEOUT_S 7200ull         /* nat_config_default's tcp_established_s */
#define BENCH_SECS 2.0                  /* per case */
#define CHUNK 1024u                     /* simulations between clock checks and expiry */
#define SEC 1000000000ull
#define T0 (1000ull * SEC)

/* The example tenant, refs by name; the VM ports are appended in code. */
static const char base_doc[] =
    "{\"hosts\": [{\"name\": \"gw-a\", \"tunnel_ip\": \"172.31.0.1\"},"
    "            {\"name\": \"hv-1\", \"tunnel_ip\": \"172.31.0.11\"},"
    "            {\"name\": \"hv-2\", \"tunnel_ip\": \"172.31.0.12\"}],"
    " \"routers\": [{\"name\": \"provider\"},"
    "              {\"name\": \"acme\", \"tenant\": \"acme\", \"inbound_filter\": \"acme-pre\","
    "               \"outbound_filter\": \"acme-post\"}],"
    " \"bridges\": [{\"name\": \"acme-net\", \"tenant\": \"acme\"}],"
    " \"ports\": ["
    "  {\"name\": \"uplink-a\", \"device\": \"provider\", \"mac\": \"02:10:00:00:00:01\","
    "   \"address\": \"192.0.2.2/30\", \"host\": \"gw-a\", \"interface\": \"eth1\"},"
    "  {\"name\": \"prov-acme\", \"device\": \"provider\", \"mac\": \"02:10:00:00:00:02\","
    "   \"address\": \"100.64.10.1/24\", \"peer\": \"acme-gw\"},"
    "  {\"name\": \"acme-gw\", \"device\": \"acme\", \"mac\": \"02:20:00:00:00:01\","
    "   \"address\": \"100.64.10.2/24\", \"peer\": \"prov-acme\"},"
    "  {\"name\": \"acme-lan\", \"device\": \"acme\", \"mac\": \"02:20:00:00:00:02\","
    "   \"address\": \"10.1.0.1/16\", \"peer\": \"acme-net-r\"},"
    "  {\"name\": \"acme-net-r\", \"device\": \"acme-net\", \"peer\": \"acme-lan\"}],"
    " \"routes\": ["
    "  {\"router\": \"provider\", \"dst\": \"0.0.0.0/0\", \"next_hop_port\": \"uplink-a\","
    "   \"next_hop_gateway\": \"192.0.2.1\"},"
    "  {\"router\": \"provider\", \"dst\": \"192.0.2.0/30\", \"next_hop_port\": \"uplink-a\"},"
    "  {\"router\": \"provider\", \"dst\": \"100.64.10.0/24\", \"next_hop_port\": \"prov-acme\"},"
    "  {\"router\": \"acme\", \"dst\": \"0.0.0.0/0\", \"next_hop_port\": \"acme-gw\","
    "   \"next_hop_gateway\": \"100.64.10.1\"},"
    "  {\"router\": \"acme\", \"dst\": \"100.64.10.0/24\", \"next_hop_port\": \"acme-gw\"},"
    "  {\"router\": \"acme\", \"dst\": \"10.1.0.0/16\", \"next_hop_port\": \"acme-lan\"}],"
    " \"neighbors\": [{\"port\": \"uplink-a\", \"address\": \"192.0.2.1\", \"mac\": \"02:99:00:00:00:01\"}],"
    " \"chains\": [{\"name\": \"acme-pre\"}, {\"name\": \"acme-post\"}],"
    " \"rules\": ["
    "  {\"chain\": \"acme-post\", \"position\": 1, \"out_ports\": [\"acme-gw\"], \"nw_src\": \"10.1.0.0/16\","
    "   \"action\": \"snat\", \"nat_targets\": [{\"address_from\": \"100.64.10.2\","
    "   \"address_to\": \"100.64.10.2\", \"port_from\": 1024, \"port_to\": 65535}]},"
    "  {\"chain\": \"acme-pre\", \"position\": 1, \"nw_dst\": \"100.64.10.2/32\", \"action\": \"rev_snat\"}],"
    " \"floating_ips\": [{\"address\": \"100.64.10.50\", \"router\": \"provider\", \"port\": \"vm0\","
    "                   \"fixed_ip\": \"10.1.0.10\"}]}";

static const uint8_t mac_uplink[6] = {0x02, 0x10, 0, 0, 0, 0x01};
static const uint8_t mac_acme_lan[6] = {0x02, 0x20, 0, 0, 0, 0x02};
static const uint8_t mac_peer[6] = {0x02, 0x99, 0, 0, 0, 0x01};

static uint32_t vm_ip(uint32_t i)
{
    return 0x0a01000au + i;   /* 10.1.0.10 + i */
}

static void vm_mac(uint32_t i, uint8_t out[6])
{
    uint32_t v = 10 + i;

    out[0] = 0x02;
    out[1] = 0x30;
    out[2] = 0;
    out[3] = 0;
    out[4] = (uint8_t)(v >> 8);
    out[5] = (uint8_t)v;
}

/* Figures are per second of this thread's CPU time: the machine may be
 * shared, and the target is per core. Each case still stops after
 * BENCH_SECS of wall time. */
static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_sim: %s: %d\n", what, rc);
    exit(1);
}

static json_t *make_doc(void)
{
    json_error_t e;
    json_t *doc = json_loads(base_doc, 0, &e), *ports;

    if (!doc) {
        fprintf(stderr, "bench_sim: document at %d:%d: %s\n", e.line, e.column, e.text);
        exit(1);
    }
    ports = json_object_get(doc, "ports");
    for (uint32_t i = 0; i < BENCH_VMS; i++) {
        char name[16], iface[16], macs[18], ips[16];
        uint8_t m[6];
        uint32_t a = vm_ip(i);

        vm_mac(i, m);
        snprintf(name, sizeof(name), "vm%u", i);
        snprintf(iface, sizeof(iface), "tap-vm%u", i);
        snprintf(macs, sizeof(macs), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
        snprintf(ips, sizeof(ips), "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
        json_array_append_new(ports, json_pack("{s:s, s:s, s:s, s:[s], s:s, s:s}", "name", name, "device",
                                               "acme-net", "mac", macs, "fixed_ips", ips, "host",
                                               i % 2 ? "hv-2" : "hv-1", "interface", iface));
    }
    return doc;
}

struct world {
    struct sim_topo *t;
    struct sim_state *s;
    struct nat_tables *nat;
    struct sim_result r;
    struct sim_id vm[BENCH_VMS], uplink;
    uint32_t window;            /* flows per binding timeout: a quarter of max_nat */
};

/* max_nat 0: nat/'s default table sizes (what sim_state_create(NULL)
 * uses); else conntrack and NAT tables of that many entries. */
static void world_init(struct world *w, uint32_t max_nat)
{
    struct nat_config cfg;
    struct sim_error err;
    json_t *doc = make_doc();
    int rc;

    memset(w, 0, sizeof(*w));
    nat_config_default(&cfg);
    if (cfg.tcp_established_s != BENCH_TIMEOUT_S)
        die("nat default timeout changed: update BENCH_TIMEOUT_S", (int)cfg.tcp_established_s);
    if (max_nat)
        cfg.max_conntrack = cfg.max_nat = max_nat;
    w->window = cfg.max_nat / 4;
    if ((rc = nat_tables_create(&w->nat, &cfg)) < 0)
        die("nat_tables_create", rc);
    if ((rc = sim_topo_create(&w->t)) < 0)
        die("sim_topo_create", rc);
    if ((rc = sim_topo_load(w->t, doc, &err)) < 0) {
        fprintf(stderr, "bench_sim: load: %s\n", err.msg);
        exit(1);
    }
    json_decref(doc);
    if ((rc = sim_state_create(&w->s, w->nat)) < 0)
        die("sim_state_create", rc);
    sim_result_init(&w->r);
    for (uint32_t i = 0; i < BENCH_VMS; i++) {
        char name[16];

        snprintf(name, sizeof(name), "vm%u", i);
        if ((rc = sim_topo_resolve(w->t, SIM_RES_PORT, name, &w->vm[i])) < 0)
            die("resolve vm", rc);
    }
    if ((rc = sim_topo_resolve(w->t, SIM_RES_PORT, "uplink-a", &w->uplink)) < 0)
        die("resolve uplink", rc);
}

static void world_fini(struct world *w)
{
    sim_result_free(&w->r);
    sim_state_destroy(w->s);
    sim_topo_destroy(w->t);
    nat_tables_destroy(w->nat);
}

static struct sim_pkt tcp_syn(const uint8_t src_mac[6], const uint8_t dst_mac[6], uint32_t src, uint16_t sport,
                              uint32_t dst, uint16_t dport)
{
    struct sim_pkt p;

    memset(&p, 0, sizeof(p));
    memcpy(p.eth_src, src_mac, 6);
    memcpy(p.eth_dst, dst_mac, 6);
    p.eth_type = 0x0800;
    p.ip_src = src;
    p.ip_dst = dst;
    p.proto = 6;
    p.ttl = 64;
    p.src_port = sport;
    p.dst_port = dport;
    p.tcp_flags = 0x02;
    return p;
}

/* Flow i of each case: its packet and ingress port. Every i below
 * BENCH_VMS * 60000 is a distinct flow. */
enum bench_case { CASE_BRIDGE, CASE_SNAT, CASE_FIP, CASE_SNAT_FEW, CASE_SNAT_BIG, N_CASES };

static const struct sim_id *flow(const struct world *w, enum bench_case c, uint64_t i, struct sim_pkt *p)
{
    uint32_t vm = (uint32_t)(i % BENCH_VMS), seq = (uint32_t)(i / BENCH_VMS);
    uint16_t sport = (uint16_t)(1024 + seq % 60000);
    uint32_t r = (uint32_t)mix64(i);
    uint8_t m[6], m2[6];

    switch (c) {
    case CASE_BRIDGE:
        /* vm0 -> vm1, a new source (and, every 64000, destination) port. */
        vm_mac(0, m);
        vm_mac(1, m2);
        *p = tcp_syn(m, m2, vm_ip(0), (uint16_t)(1024 + i % 64000), vm_ip(1), (uint16_t)(1 + (i / 64000) % 65535));
        return &w->vm[0];
    case CASE_SNAT:
    case CASE_SNAT_BIG:
        /* Any VM to one of 2^20 remotes (8.0.0.0/12), port 443. */
        vm_mac(vm, m);
        *p = tcp_syn(m, mac_acme_lan, vm_ip(vm), sport, 0x08000000u | (r & 0xfffff), 443);
        return &w->vm[vm];
    case CASE_SNAT_FEW:
        /* Any VM to one of 16 remotes (8.8.8.0/28), port 443: the port
         * space of the public address is what limits. */
        vm_mac(vm, m);
        *p = tcp_syn(m, mac_acme_lan, vm_ip(vm), sport, 0x08080800u | (r & 15), 443);
        return &w->vm[vm];
    case CASE_FIP:
        /* Internet host (203.0.0.0/16 space) to the FIP's port 22. */
        *p = tcp_syn(mac_peer, mac_uplink, 0xcb000000u | (r & 0xffff), (uint16_t)(1024 + (i >> 16) % 60000),
                     0x64400a32u /* 100.64.10.50 */, 22);
        return &w->uplink;
    case N_CASES:
        break;
    }
    abort();
}

static const char *case_name[] = {"(a) bridge only, new flow", "(b) VM->tenant->provider SNAT, new flow",
                                  "(c) floating IP inbound, new flow", "(d) as (b), to 16 remotes only",
                                  "(e) as (b), 1M-entry tables, 256K live"};
static const uint32_t case_tables[] = {0, 0, 0, 0, 1u << 20};

static uint64_t now_of(const struct world *w, uint64_t i)
{
    return T0 + i * (BENCH_TIMEOUT_S * SEC / w->window);
}

/* One simulation checked: the verdict and where it went. */
static void check_once(struct world *w, enum bench_case c)
{
    struct sim_pkt p;
    const struct sim_id *in = flow(w, c, 7, &p);
    int rc = sim_simulate(w->t, w->s, in, &p, now_of(w, 7), &w->r);

    if (rc < 0)
        die("sim_simulate", rc);
    if (w->r.verdict != SIM_FORWARD || w->r.n_outputs != 1) {
        fprintf(stderr, "bench_sim: %s: verdict %s (%s), %u outputs\n", case_name[c],
                sim_verdict_name(w->r.verdict), w->r.drop_reason ? w->r.drop_reason : "-", w->r.n_outputs);
        exit(1);
    }
    if ((c == CASE_SNAT || c == CASE_SNAT_FEW || c == CASE_SNAT_BIG) && w->r.outputs[0].pkt.ip_src != 0x64400a02u)
        die("snat: source not translated", -EINVAL);
    if (c == CASE_FIP && w->r.outputs[0].pkt.ip_dst != vm_ip(0))
        die("fip: destination not translated", -EINVAL);
}

/* Simulate new flows of case c for BENCH_SECS; *n_out simulations. */
static double run_case(enum bench_case c, uint64_t *n_out, uint64_t *not_forwarded, struct nat_stats *st)
{
    struct world w;
    uint64_t i = 1000, bad = 0;
    double t0, t1, c0;

    world_init(&w, case_tables[c]);
    check_once(&w, c);
    t0 = bench_now();
    c0 = cpu_now();
    do {
        for (uint32_t k = 0; k < CHUNK; k++, i++) {
            struct sim_pkt p;
            const struct sim_id *in = flow(&w, c, i, &p);

            if (sim_simulate(w.t, w.s, in, &p, now_of(&w, i), &w.r) < 0)
                die("sim_simulate", -ENOMEM);
            bad += w.r.verdict != SIM_FORWARD;
        }
        /* 4 pool slots per simulation: each of the 8 windows' worth of
         * slots is seen once per 2 windows, so at most ~3 windows of
         * bindings are live, in tables of 4. */
        nat_expire(w.nat, now_of(&w, i), 4 * CHUNK);
        t1 = bench_now();
    } while (t1 - t0 < BENCH_SECS);
    *n_out = i - 1000;
    *not_forwarded = bad;
    nat_get_stats(w.nat, st);
    world_fini(&w);
    return cpu_now() - c0;
}

/* Baseline for (a): a flow-cache hit. */
struct fkey {
    uint32_t port_gidx;
    uint32_t src, dst;
    uint16_t sport, dport;
    uint8_t proto;
    uint8_t pad[7];
};
_Static_assert(sizeof(struct fkey) == 24, "fkey is hashed as 24 bytes");

static struct fkey fkey_of(uint32_t port, const struct sim_pkt *p)
{
    struct fkey k;

    memset(&k, 0, sizeof(k));
    k.port_gidx = port;
    k.src = p->ip_src;
    k.dst = p->ip_dst;
    k.sport = p->src_port;
    k.dport = p->dst_port;
    k.proto = p->proto;
    return k;
}

static double run_cache_hit(uint64_t *n_out, uint64_t *missed)
{
    struct world w;
    struct htab *h;
    struct fkey *keys = calloc(BASE_FLOWS, sizeof(*keys));
    uint64_t n = 0, miss = 0;
    double t0, t1, c0;
    int rc;

    if (!keys)
        die("calloc", -ENOMEM);
    world_init(&w, 0);   /* for flow() */
    if ((rc = htab_create(&h, BASE_FLOWS)) < 0)
        die("htab_create", rc);
    for (uint32_t i = 0; i < BASE_FLOWS; i++) {
        struct sim_pkt p;

        flow(&w, CASE_SNAT, i, &p);
        keys[i] = fkey_of(i % BENCH_VMS, &p);
        if ((rc = htab_insert(h, rp_siphash(&keys[i], sizeof(keys[i])), i)) < 0)
            die("htab_insert", rc);
    }
    t0 = bench_now();
    c0 = cpu_now();
    do {
        for (uint32_t k = 0; k < CHUNK; k++, n++) {
            uint32_t i = (uint32_t)(mix64(n) % BASE_FLOWS);
            struct sim_pkt p;
            struct fkey q;
            struct htab_iter it;
            uint32_t v;

            flow(&w, CASE_SNAT, i, &p);
            q = fkey_of(i % BENCH_VMS, &p);
            for (v = htab_find_first(h, rp_siphash(&q, sizeof(q)), &it); v != HTAB_NONE; v = htab_find_next(&it))
                if (!memcmp(&keys[v], &q, sizeof(q)))
                    break;
            miss += v == HTAB_NONE;
        }
        t1 = bench_now();
    } while (t1 - t0 < BENCH_SECS);
    htab_destroy(h);
    free(keys);
    world_fini(&w);
    *n_out = n;
    *missed = miss;
    return cpu_now() - c0;
}

/* An argument "a" .. "e" runs that case alone, without its baseline
 * (for profiling). */
int main(int argc, char **argv)
{
    uint64_t n_base, miss, n[N_CASES], bad[N_CASES];
    struct nat_stats st[N_CASES];
    double s_base, s[N_CASES];

    rp_hash_init();
    if (argc > 1) {
        int c = argv[1][0] - 'a';

        if (c < 0 || c >= N_CASES || argv[1][1])
            die("usage: bench_sim [a|b|c|d|e]", -EINVAL);
        s[c] = run_case((enum bench_case)c, &n[c], &bad[c], &st[c]);
        printf("%s: %llu simulations, %.2f M/s, %.1f ns each, %llu not forwarded, peak RSS %.0f MiB\n",
               case_name[c], (unsigned long long)n[c], (double)n[c] / s[c] / 1e6, s[c] * 1e9 / (double)n[c],
               (unsigned long long)bad[c], bench_peak_rss_mib());
        return 0;
    }
    printf("bench_sim: first-packet simulations of new flows, one core (rates per CPU second of the thread), "
           "%u VMs, ~%.0f s per case\n", BENCH_VMS,
           BENCH_SECS);
    printf("  baseline for (a): flow-cache hit (siphash of in-port + 5-tuple, lib/hash.h lookup, %u flows);\n"
           "  for (b)-(e): the bridge-only simulation (a) of the same run\n",
           BASE_FLOWS);
    /* Each figure is printed when its case ends, so that its peak RSS is
     * of the cases so far (the 1M-entry tables of (e) come last). */
    s_base = run_cache_hit(&n_base, &miss);
    for (int c = 0; c < N_CASES; c++) {
        s[c] = run_case((enum bench_case)c, &n[c], &bad[c], &st[c]);
        if (c == 0)
            bench_report(case_name[0], (double)n[0], s[0], "flow-cache hit", (double)n_base, s_base);
        else
            bench_report(case_name[c], (double)n[c], s[c], "(a) bridge only", (double)n[0], s[0]);
    }
    for (int c = 0; c < N_CASES; c++)
        printf("  %-42s %llu simulations, %llu not forwarded; nat: %u bindings live, %llu expired, %u blocks, "
               "%llu exhausted, %llu full\n",
               case_name[c], (unsigned long long)n[c], (unsigned long long)bad[c], st[c].nat_entries,
               (unsigned long long)st[c].nat_expired, st[c].blocks_leased,
               (unsigned long long)st[c].ports_exhausted, (unsigned long long)st[c].nat_full);
    if (miss)
        printf("  baseline: %llu cache misses (a defect)\n", (unsigned long long)miss);
    printf("target (issue 4): (b) >= 1.00 M simulations/s per core: %.2f M/s, %s\n", (double)n[1] / s[1] / 1e6,
           (double)n[1] / s[1] >= 1e6 ? "met" : "NOT met");
    printf("memory per conntrack/NAT entry at 1M and 10M entries: see bench_nat\n");
    return 0;
}
