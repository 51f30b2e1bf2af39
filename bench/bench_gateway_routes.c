/*
 * bench/bench_gateway_routes.c: the learned-route table at 10k, 100k and 1M
 * prefixes shaped like an Internet table (mostly /24, then /16../23, few
 * shorter or longer), each with one or two of eight next hops, built by
 * feeding ROUTE_ADD events as the route feed delivers a dump. Per size:
 * build rate, bytes per route (the table's own count and the RSS it took),
 * random-address lookups with an ECMP pick, and a full resync (DUMP_BEGIN,
 * every route again, DUMP_END). Baseline, measured in the same run on the
 * same prefixes: lib/lpm alone with plain values (the resync is compared
 * with the table's own first build: rewriting a million prefixes into the
 * bare LPM a second time would take the run past a minute). Each table is built in a
 * child process so that RSS deltas start from a clean heap.
 */
#include "bench/bench_util.h"
#include "bgp/route_feed.h"
#include "gateway/gw_impl.h"
#include "lib/lpm.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOOKUPS (1u << 22)

struct pfx {
    uint32_t p;
    uint8_t len, n_nh, nh0, nh1;
};

struct result {
    double build_s, lookup_s, lookup_in_s, resync_s, rss_mib, hwm_mib, huge_mib;
    uint64_t hits;
    uint64_t routes, sets, bytes, sink;
};

static uint8_t pick_len(uint64_t *s)
{
    unsigned x = (unsigned)(bench_rand(s) % 1000);

    /* Roughly the shape of a public IPv4 table. */
    if (x < 590)
        return 24;
    if (x < 680)
        return 23;
    if (x < 770)
        return 22;
    if (x < 830)
        return 21;
    if (x < 880)
        return 20;
    if (x < 915)
        return 19;
    if (x < 940)
        return 18;
    if (x < 955)
        return 17;
    if (x < 980)
        return 16;
    if (x < 990)
        return (uint8_t)(8 + bench_rand(s) % 8);
    return (uint8_t)(25 + bench_rand(s) % 8);
}

static int cmp_pfx(const void *a, const void *b)
{
    const struct pfx *x = a, *y = b;

    if (x->p != y->p)
        return x->p < y->p ? -1 : 1;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* n random prefixes, duplicates dropped (a kernel table holds each prefix
 * once, so a dump names each once), in random order. *n_out: how many. */
static struct pfx *make_prefixes(unsigned n, uint64_t seed, unsigned *n_out)
{
    struct pfx *v = malloc(n * sizeof(*v));
    uint64_t s = seed;
    unsigned u = 0;

    if (!v)
        abort();
    for (unsigned i = 0; i < n; i++) {
        uint8_t len = pick_len(&s);
        uint32_t a = (uint32_t)bench_rand(&s);

        v[i].len = len;
        v[i].p = len ? a & (~0u << (32 - len)) : 0;
        v[i].n_nh = (uint8_t)(1 + bench_rand(&s) % 2);
        v[i].nh0 = (uint8_t)(bench_rand(&s) % 8);
        v[i].nh1 = (uint8_t)((v[i].nh0 + 1 + bench_rand(&s) % 7) % 8);
    }
    qsort(v, n, sizeof(*v), cmp_pfx);
    for (unsigned i = 0; i < n; i++)
        if (u == 0 || cmp_pfx(&v[u - 1], &v[i]))
            v[u++] = v[i];
    for (unsigned i = u - 1; i > 0; i--) {
        unsigned j = (unsigned)(bench_rand(&s) % (i + 1));
        struct pfx t = v[i];

        v[i] = v[j];
        v[j] = t;
    }
    *n_out = u;
    return v;
}

static double hwm_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %lf kB", &kb) == 1)
            break;
    fclose(f);
    return kb / 1024;
}

/* Transparent huge pages the process holds: the LPM's direct array moves
 * to them once the table is big, if the kernel finds free 2 MiB pages;
 * without them a random lookup also pays a TLB miss, so the lookup
 * figures depend on it. */
static double huge_mib(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    double kb = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "AnonHugePages: %lf kB", &kb) == 1)
            break;
    fclose(f);
    return kb / 1024;
}

static struct bgp_route_feed_event ev;

static void fill_event(const struct pfx *x)
{
    ev.type = BGP_ROUTE_FEED_ROUTE_ADD;
    ev.route.prefix = x->p;
    ev.route.len = x->len;
    ev.route.type = BGP_ROUTE_FEED_UNICAST;
    ev.route.protocol = 12;
    ev.route.flags = BGP_ROUTE_FEED_F_DUMP;
    ev.route.n_nexthops = x->n_nh;
    ev.route.nexthops[0] = (struct bgp_route_feed_nexthop){0xc0000201u + x->nh0, 2 + x->nh0 % 2, 1, 0};
    ev.route.nexthops[1] = (struct bgp_route_feed_nexthop){0xc0000201u + x->nh1, 2 + x->nh1 % 2, 1, 0};
}

static void run_gw(const struct pfx *v, unsigned n, const uint32_t *addrs, const uint32_t *in, struct result *res)
{
    double rss0 = bench_rss_mib(), t0;
    struct gw_routes_stats st;
    struct gw_routes *r;
    enum gw_route_kind kind;
    struct gw_nexthop nh;
    uint64_t sink = 0;

    if (gw_routes_create(GW_ROUTES_MAX, &r) < 0)
        abort();
    t0 = bench_now();
    for (unsigned i = 0; i < n; i++) {
        fill_event(&v[i]);
        if (gw_routes_apply(r, &ev) < 0)
            abort();
    }
    res->build_s = bench_now() - t0;
    res->rss_mib = bench_rss_mib() - rss0;
    gw_routes_get_stats(r, &st);
    res->routes = st.routes;
    res->sets = st.nexthop_sets;
    res->bytes = st.bytes;
    t0 = bench_now();
    for (unsigned i = 0; i < LOOKUPS; i++)
        if (gw_routes_lookup(r, addrs[i], addrs[i] * 2654435761u, &kind, &nh) == 0) {
            sink += nh.gateway;
            res->hits++;
        }
    res->lookup_s = bench_now() - t0;
    t0 = bench_now();
    for (unsigned i = 0; i < LOOKUPS; i++)
        if (gw_routes_lookup(r, in[i], in[i] * 2654435761u, &kind, &nh) == 0)
            sink += nh.gateway;
    res->lookup_in_s = bench_now() - t0;
    /* A resync: the feed re-dumps after a link change or an overrun. */
    t0 = bench_now();
    ev.type = BGP_ROUTE_FEED_DUMP_BEGIN;
    gw_routes_apply(r, &ev);
    for (unsigned i = 0; i < n; i++) {
        fill_event(&v[i]);
        if (gw_routes_apply(r, &ev) < 0)
            abort();
    }
    ev.type = BGP_ROUTE_FEED_DUMP_END;
    ev.dump.complete = true;
    ev.dump.error = 0;
    gw_routes_apply(r, &ev);
    res->resync_s = bench_now() - t0;
    gw_routes_get_stats(r, &st);
    if (st.routes != res->routes || st.swept)
        abort();
    res->sink = sink;
    res->hwm_mib = hwm_mib();
    res->huge_mib = huge_mib();
    gw_routes_destroy(r);
}

static void run_lpm(const struct pfx *v, unsigned n, const uint32_t *addrs, const uint32_t *in, struct result *res)
{
    double rss0 = bench_rss_mib(), t0;
    struct lpm *l;
    uint64_t sink = 0;

    if (lpm_create(&l) < 0)
        abort();
    t0 = bench_now();
    for (unsigned i = 0; i < n; i++)
        if (lpm_add(l, v[i].p, v[i].len, v[i].nh0) < 0)
            abort();
    res->build_s = bench_now() - t0;
    res->rss_mib = bench_rss_mib() - rss0;
    res->routes = lpm_count(l);
    res->bytes = lpm_memory(l);
    t0 = bench_now();
    for (unsigned i = 0; i < LOOKUPS; i++) {
        uint32_t x = lpm_lookup(l, addrs[i]);

        if (x != LPM_NONE)
            sink += x;
    }
    res->lookup_s = bench_now() - t0;
    t0 = bench_now();
    for (unsigned i = 0; i < LOOKUPS; i++) {
        uint32_t x = lpm_lookup(l, in[i]);

        if (x != LPM_NONE)
            sink += x;
    }
    res->lookup_in_s = bench_now() - t0;
    res->sink = sink;
    res->hwm_mib = hwm_mib();
    res->huge_mib = huge_mib();
    lpm_destroy(l);
}

/* Run fn in a child and bring its result back over a pipe. */
static void in_child(void (*fn)(const struct pfx *, unsigned, const uint32_t *, const uint32_t *, struct result *),
                     const struct pfx *v, unsigned n, const uint32_t *addrs, const uint32_t *in, struct result *res)
{
    int p[2], status;
    pid_t pid;

    if (pipe(p) < 0)
        abort();
    pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        struct result r = {0};

        close(p[0]);
        fn(v, n, addrs, in, &r);
        if (write(p[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    if (read(p[0], res, sizeof(*res)) != (ssize_t)sizeof(*res))
        abort();
    close(p[0]);
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
        abort();
}

int main(void)
{
    static const unsigned sizes[] = {10000, 100000, 1000000};
    uint32_t *addrs = malloc(LOOKUPS * sizeof(*addrs)), *in = malloc(LOOKUPS * sizeof(*in));
    uint64_t s = 0x1234abcd5678ef01ull;
    double t_start = bench_now();

    if (!addrs || !in)
        abort();
    for (unsigned i = 0; i < LOOKUPS; i++)
        addrs[i] = (uint32_t)bench_rand(&s);
    printf("gw_routes: %u random-address lookups per size; baseline = lib/lpm alone, plain values, same prefixes\n",
           LOOKUPS);
    for (unsigned k = 0; k < RP_ARRAY_SIZE(sizes); k++) {
        unsigned n;
        struct pfx *v = make_prefixes(sizes[k], 0x9e3779b97f4a7c15ull + k, &n);
        struct result g, b;
        char name[64];

        /* Destinations inside the table: a gateway mostly forwards to
         * routed addresses, where the route branch is predictable. */
        for (unsigned i = 0; i < LOOKUPS; i++) {
            const struct pfx *x = &v[bench_rand(&s) % n];

            in[i] = x->p | (x->len < 32 ? (uint32_t)bench_rand(&s) & (~0u >> x->len) : 0);
        }
        in_child(run_lpm, v, n, addrs, in, &b);
        in_child(run_gw, v, n, addrs, in, &g);
        printf("--- %u random prefixes drawn, %u distinct fed, %llu routes, %llu next-hop sets\n", sizes[k], n,
               (unsigned long long)g.routes,
               (unsigned long long)g.sets);
        snprintf(name, sizeof(name), "build %uk (ROUTE_ADD)", sizes[k] / 1000);
        bench_report(name, n, g.build_s, "lpm_add", n, b.build_s);
        printf("    build time %.3f s vs %.3f s baseline\n", g.build_s, b.build_s);
        snprintf(name, sizeof(name), "lookup %uk random (%.0f%% hit)", sizes[k] / 1000,
                 100.0 * (double)g.hits / LOOKUPS);
        bench_report(name, LOOKUPS, g.lookup_s, "lpm_lookup", LOOKUPS, b.lookup_s);
        snprintf(name, sizeof(name), "lookup %uk inside routes (ECMP pick)", sizes[k] / 1000);
        bench_report(name, LOOKUPS, g.lookup_in_s, "lpm_lookup", LOOKUPS, b.lookup_in_s);
        snprintf(name, sizeof(name), "resync %uk (full dump)", sizes[k] / 1000);
        bench_report(name, n, g.resync_s, "its first build", n, g.build_s);
        printf("    bytes/route: gw_routes stats %.1f vs lpm_memory %.1f (%.2fx) | RSS delta %.1f vs %.1f (%.2fx) | "
               "child VmHWM %.0f vs %.0f MiB, huge pages %.0f vs %.0f MiB\n",
               (double)g.bytes / (double)g.routes, (double)b.bytes / (double)b.routes,
               ((double)g.bytes / (double)g.routes) / ((double)b.bytes / (double)b.routes),
               g.rss_mib * 1048576.0 / (double)g.routes, b.rss_mib * 1048576.0 / (double)b.routes,
               g.rss_mib / b.rss_mib, g.hwm_mib, b.hwm_mib, g.huge_mib, b.huge_mib);
        if (g.routes != b.routes)
            printf("    MISMATCH: %llu routes vs %llu in the baseline\n", (unsigned long long)g.routes,
                   (unsigned long long)b.routes);
        free(v);
    }
    printf("total %.1f s\n", bench_now() - t_start);
    free(addrs);
    free(in);
    return 0;
}
