/*
 * bench/bench_bgp_route_feed.c: how fast the route feed takes in a full dump
 * of a big kernel table (100k /24 routes in table 100, installed with one
 * ip -batch in a namespace made here), counting only and then filling a
 * lib/lpm table as the gateway would. Baseline, same run: the wall time of
 * `ip route show table 100 | wc -l` (iproute2 dumps the same table and
 * prints it). Needs root and network namespaces; prints "skipped" without.
 */
#include "bench/bench_util.h"
#include "bgp/route_feed.h"
#include "lib/lpm.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>
#include "tests/unit/test_shell.h"

#define TABLE 100
#define N_ROUTES 100000
#define REPS 3


struct sink {
    struct lpm *lpm;     /* NULL: count only */
    unsigned routes;
    bool done, complete;
};

static void on_event(void *ctx, const struct bgp_route_feed_event *ev)
{
    struct sink *s = ctx;

    if (ev->type == BGP_ROUTE_FEED_ROUTE_ADD) {
        s->routes++;
        if (s->lpm && lpm_add(s->lpm, ev->route.prefix, ev->route.len, ev->route.nexthops[0].gateway & 0xffff))
            abort();
    } else if (ev->type == BGP_ROUTE_FEED_DUMP_END) {
        s->done = true;
        s->complete = ev->dump.complete;
    }
}

/* Seconds for one dump through the feed; routes counted in *routes. */
static double feed_dump(struct lpm *lpm, unsigned *routes)
{
    struct bgp_route_feed *f;
    struct sink s = {.lpm = lpm};
    char err[128];
    double t0;

    if (bgp_route_feed_open(TABLE, &f, err, sizeof(err))) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    t0 = bench_now();
    bgp_route_feed_dump(f);
    while (!s.done) {
        struct pollfd p = {.fd = bgp_route_feed_fd(f), .events = POLLIN};
        int n = bgp_route_feed_process(f, 256, on_event, &s);

        if (n < 0) {
            fprintf(stderr, "process: %d\n", n);
            exit(1);
        }
        if (!s.done && n < 256 && !bgp_route_feed_pending(f) && poll(&p, 1, 5000) <= 0) {
            fprintf(stderr, "dump stalled\n");
            exit(1);
        }
    }
    t0 = bench_now() - t0;
    bgp_route_feed_close(f);
    if (!s.complete) {
        fprintf(stderr, "dump incomplete\n");
        exit(1);
    }
    *routes = s.routes;
    return t0;
}

static double ip_show(unsigned *lines)
{
    double t0 = bench_now();
    FILE *p = popen("ip route show table 100 | wc -l", "r");

    if (!p || fscanf(p, "%u", lines) != 1)
        exit(1);
    pclose(p);
    return bench_now() - t0;
}

int main(void)
{
    char ns[32], path[64], batch[64];
    int home, fd;
    FILE *f;
    double t_install, best_feed = 1e9, best_lpm = 1e9, best_ip = 1e9;
    unsigned n_feed = 0, n_lpm = 0, n_ip = 0;

    if (geteuid() != 0) {
        printf("bench_bgp_route_feed: skipped (needs root for a network namespace)\n");
        return 0;
    }
    snprintf(ns, sizeof(ns), "rprfb%d", (int)getpid());
    home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    snprintf(path, sizeof(path), "/run/netns/%s", ns);
    if (home < 0 || sh("ip netns add %s", ns) != 0) {
        printf("bench_bgp_route_feed: skipped (cannot make a namespace)\n");
        return 0;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
        sh("ip netns del %s", ns);
        printf("bench_bgp_route_feed: skipped (cannot enter the namespace)\n");
        return 0;
    }
    close(fd);
    snprintf(batch, sizeof(batch), "/tmp/rprfb_batch_%d", (int)getpid());
    f = fopen(batch, "w");
    if (!f || sh("ip link set lo up && ip link add rfa type veth peer name rfb && "
                 "ip addr add 10.99.0.1/24 dev rfa && ip link set rfa up && ip link set rfb up") != 0)
        goto out;
    for (unsigned i = 0; i < N_ROUTES; i++)
        fprintf(f, "route add %u.%u.%u.0/24 via 10.99.0.2 table %d\n", 11 + i / 65536, (i / 256) % 256, i % 256,
                TABLE);
    fclose(f);
    f = NULL;
    t_install = bench_now();
    if (sh("ip -batch %s", batch) != 0)
        goto out;
    t_install = bench_now() - t_install;
    printf("installed %u routes in table %d with ip -batch in %.2f s\n", N_ROUTES, TABLE, t_install);

    /* Count-only first, so its peak RSS is the feed's own (the LPM's
     * direct array comes after). */
    for (int r = 0; r < REPS; r++) {
        double t = ip_show(&n_ip);

        best_ip = t < best_ip ? t : best_ip;
        t = feed_dump(NULL, &n_feed);
        best_feed = t < best_feed ? t : best_feed;
    }
    bench_report("route feed dump 100k (count only)", n_feed, best_feed, "ip route show|wc -l", n_ip, best_ip);
    for (int r = 0; r < REPS; r++) {
        struct lpm *lpm;
        double t;

        if (lpm_create(&lpm))
            goto out;
        t = feed_dump(lpm, &n_lpm);
        best_lpm = t < best_lpm ? t : best_lpm;
        lpm_destroy(lpm);
    }
    bench_report("route feed dump 100k into lib/lpm", n_lpm, best_lpm, "ip route show|wc -l", n_ip, best_ip);
    printf("routes: feed %u, feed+lpm %u, ip route show %u (best of %d)\n", n_feed, n_lpm, n_ip, REPS);
    printf("dump wall time: feed %.1f ms, feed+lpm %.1f ms, ip route show %.1f ms\n", best_feed * 1e3,
           best_lpm * 1e3, best_ip * 1e3);
out:
    if (f)
        fclose(f);
    unlink(batch);
    if (setns(home, CLONE_NEWNET) < 0)
        perror("setns back");
    close(home);
    sh("ip netns del %s", ns);
    return n_feed == N_ROUTES && n_lpm == N_ROUTES && n_ip == N_ROUTES ? 0 : 1;
}
