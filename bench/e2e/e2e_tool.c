/*
 * bench/e2e/e2e_tool.c: the user side of the end-to-end forwarding benchmark
 * (bench/e2e_forward.sh runs it inside the namespaces it made).
 *
 *   e2e_tool gen OBJ IFNAME SECONDS MODE FLOWS SEQ0 SMAC DMAC SADDR DADDR NDST RATE
 *       Load gen.bpf.o with that configuration and run it with
 *       BPF_PROG_RUN + BPF_F_TEST_XDP_LIVE_FRAMES on IFNAME for SECONDS:
 *       every frame leaves IFNAME by XDP_TX. RATE 0: as fast as it goes;
 *       else RATE frames/s (the program paces itself). Prints "offered PPS".
 *   e2e_tool sink OBJ IFNAME WARMUP WINDOW READYFILE SRC [AGENT_PID STATS PREFIX]
 *       Attach sink.bpf.o (native XDP) to IFNAME, create READYFILE, wait
 *       WARMUP seconds, then count the frames that arrive during WINDOW
 *       seconds, and apart those whose IPv4 source is still SRC (not
 *       translated). With AGENT_PID, the agent is asked (SIGUSR1) to write
 *       its stats file STATS at both ends of the window, and the two
 *       versions are kept as PREFIX.t0 and PREFIX.t1. Prints
 *       "delivered PACKETS SECONDS PPS untranslated PACKETS".
 *   e2e_tool gro IFNAME on|off
 *       Switch GRO on a veth (what makes native XDP_TX into it arrive when
 *       it has no XDP program); ethtool is not installed here.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned m[6];

    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)m[i];
    return 0;
}

/* The layout of gen.bpf.c's struct gen_cfg. */
struct gen_cfg {
    uint32_t mode;
    uint32_t flows;
    uint64_t seq0;
    uint8_t smac[6], dmac[6];
    uint32_t saddr, daddr;          /* network order */
    uint32_t ndst;
    uint64_t ns_per_pkt;
};

/* gen.bpf.c's .bss: struct gen_state. */
struct gen_state {
    uint64_t sent, runs, credit, last_ns;
};

/* gen.bpf.c's .rodata holds exactly one 'struct gen_cfg cfg'. */
static int set_cfg(struct bpf_object *obj, const struct gen_cfg *c)
{
    struct bpf_map *m = bpf_object__find_map_by_name(obj, ".rodata");
    size_t sz = 0;

    if (!m || !bpf_map__initial_value(m, &sz) || sz != sizeof(*c))
        return -ENOENT;
    return bpf_map__set_initial_value(m, c, sizeof(*c));
}

static int cmd_gen(char **argv)
{
    const char *path = argv[0], *ifname = argv[1];
    double secs = atof(argv[2]);
    struct gen_cfg c = {0};
    struct bpf_object *obj;
    struct bpf_program *prog;
    uint8_t frame[64] = {0};
    struct xdp_md ctx = {0};
    unsigned ifindex = if_nametoindex(ifname);
    uint64_t total = 0, runs = 0;
    int rc;

    c.mode = (uint32_t)atoi(argv[3]);
    c.flows = (uint32_t)atoi(argv[4]);
    c.seq0 = strtoull(argv[5], NULL, 0);
    c.ndst = (uint32_t)atoi(argv[10]);
    double rate = atof(argv[11]);
    c.ns_per_pkt = rate > 0 ? (uint64_t)(1e9 / rate + 0.5) : 0;
    if (!ifindex || !c.flows || !c.ndst || 256 % c.ndst || rate < 0 || parse_mac(argv[6], c.smac) || parse_mac(argv[7], c.dmac) ||
        inet_pton(AF_INET, argv[8], &c.saddr) != 1 || inet_pton(AF_INET, argv[9], &c.daddr) != 1) {
        fprintf(stderr, "e2e_tool gen: bad arguments (or no interface %s)\n", ifname);
        return 2;
    }
    obj = bpf_object__open_file(path, NULL);
    if (!obj) {
        fprintf(stderr, "e2e_tool gen: open %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (set_cfg(obj, &c)) {
        fprintf(stderr, "e2e_tool gen: cannot configure %s (its .rodata is not one struct gen_cfg)\n", path);
        return 1;
    }
    rc = bpf_object__load(obj);
    prog = bpf_object__find_program_by_name(obj, "gen");
    if (rc || !prog) {
        fprintf(stderr, "e2e_tool gen: load %s: %s\n", path, strerror(rc ? -rc : ENOENT));
        return 1;
    }
    /* The template; the program rewrites every header field anyway. */
    memcpy(frame, c.dmac, 6);
    memcpy(frame + 6, c.smac, 6);
    frame[12] = 0x08;
    ctx.data_end = sizeof(frame);   /* the kernel insists it matches data_size_in */
    ctx.ingress_ifindex = ifindex;
    ctx.rx_queue_index = 0;
    double t0 = now_s(), t;
    do {
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = sizeof(frame), .ctx_in = &ctx,
                    .ctx_size_in = sizeof(ctx), .repeat = 1 << 19, .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
                    .batch_size = 64);
        rc = bpf_prog_test_run_opts(bpf_program__fd(prog), &o);
        if (rc) {
            fprintf(stderr, "e2e_tool gen: BPF_PROG_RUN live frames on %s: %s\n", ifname, strerror(-rc));
            return 1;
        }
        t = now_s();
    } while (t - t0 < secs);
    {
        struct bpf_map *bss = bpf_object__find_map_by_name(obj, ".bss");
        struct gen_state st = {0};
        uint32_t zero = 0;
        if (!bss || bpf_map__value_size(bss) != sizeof(st) || bpf_map_lookup_elem(bpf_map__fd(bss), &zero, &st)) {
            fprintf(stderr, "e2e_tool gen: cannot read the sent count\n");
            return 1;
        }
        total = st.sent;
        runs = st.runs;
    }
    /* runs: program runs per second when paced (the loop's own speed). */
    printf("offered %.0f runs %.0f\n", (double)total / (t - t0), (double)runs / (t - t0));
    bpf_object__close(obj);
    return 0;
}

static volatile sig_atomic_t stop;
static void on_stop(int sig)
{
    (void)sig;
    stop = 1;
}

static uint64_t read_count(int map_fd, uint32_t key)
{
    int ncpu = libbpf_num_possible_cpus();
    uint64_t vals[256] = {0}, sum = 0;

    if (ncpu <= 0 || ncpu > 256 || bpf_map_lookup_elem(map_fd, &key, vals))
        return 0;
    for (int i = 0; i < ncpu; i++)
        sum += vals[i];
    return sum;
}

static int copy_file(const char *from, const char *to)
{
    char buf[65536];
    FILE *in = fopen(from, "r"), *out;
    size_t n;

    if (!in)
        return -1;
    out = fopen(to, "w");
    if (!out) {
        fclose(in);
        return -1;
    }
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    return fclose(out);
}

/* The agent rewrites its stats file (write, then rename) at once on
 * SIGUSR1; give it a moment, then keep a copy. */
static void snap_stats(pid_t pid, const char *stats, const char *prefix, const char *suffix)
{
    char to[600];

    if (pid <= 0)
        return;
    snprintf(to, sizeof(to), "%s.%s", prefix, suffix);
    kill(pid, SIGUSR1);
    sleep_s(0.05);
    if (copy_file(stats, to) < 0)
        fprintf(stderr, "e2e_tool sink: cannot copy %s\n", stats);
}

static int cmd_sink(int argc, char **argv)
{
    const char *path = argv[0], *ifname = argv[1], *ready = argv[4];
    double warm = atof(argv[2]), window = atof(argv[3]);
    pid_t agent = argc >= 9 ? (pid_t)atoi(argv[6]) : 0;
    unsigned ifindex = if_nametoindex(ifname);
    struct bpf_object *obj;
    struct bpf_program *prog;
    int rc, map_fd;

    if (!ifindex) {
        fprintf(stderr, "e2e_tool sink: no interface %s\n", ifname);
        return 2;
    }
    struct bpf_map *ro;
    uint32_t src;
    obj = bpf_object__open_file(path, NULL);
    ro = obj ? bpf_object__find_map_by_name(obj, ".rodata") : NULL;
    if (!ro || inet_pton(AF_INET, argv[5], &src) != 1 || bpf_map__set_initial_value(ro, &src, sizeof(src)) ||
        bpf_object__load(obj)) {
        fprintf(stderr, "e2e_tool sink: load %s: %s\n", path, strerror(errno));
        return 1;
    }
    prog = bpf_object__find_program_by_name(obj, "sink");
    map_fd = bpf_object__find_map_fd_by_name(obj, "sink_count");
    if (!prog || map_fd < 0)
        return 1;
    rc = bpf_xdp_attach((int)ifindex, bpf_program__fd(prog), XDP_FLAGS_DRV_MODE, NULL);
    if (rc) {
        fprintf(stderr, "e2e_tool sink: attach to %s: %s\n", ifname, strerror(-rc));
        return 1;
    }
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    FILE *f = fopen(ready, "w");
    if (f)
        fclose(f);
    sleep_s(warm);
    snap_stats(agent, argc >= 9 ? argv[7] : "", argc >= 9 ? argv[8] : "", "t0");
    uint64_t c0 = read_count(map_fd, 0), u0 = read_count(map_fd, 1);
    double t0 = now_s();
    while (!stop && now_s() - t0 < window)
        sleep_s(0.05);
    uint64_t c1 = read_count(map_fd, 0), u1 = read_count(map_fd, 1);
    double t1 = now_s();
    snap_stats(agent, argc >= 9 ? argv[7] : "", argc >= 9 ? argv[8] : "", "t1");
    bpf_xdp_detach((int)ifindex, XDP_FLAGS_DRV_MODE, NULL);
    printf("delivered %llu %.3f %.0f untranslated %llu\n", (unsigned long long)(c1 - c0), t1 - t0,
           (double)(c1 - c0) / (t1 - t0), (unsigned long long)(u1 - u0));
    bpf_object__close(obj);
    return stop ? 1 : 0;
}

static int cmd_gro(char **argv)
{
    struct ethtool_value ev = {.cmd = ETHTOOL_SGRO, .data = !strcmp(argv[1], "on")};
    struct ifreq ifr = {0};
    int fd = socket(AF_INET, SOCK_DGRAM, 0), rc;

    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[0]);
    ifr.ifr_data = (void *)&ev;
    rc = fd < 0 ? -1 : ioctl(fd, SIOCETHTOOL, &ifr);
    if (rc < 0)
        fprintf(stderr, "e2e_tool gro %s: %s\n", argv[0], strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    libbpf_set_print(NULL);
    if (argc == 14 && !strcmp(argv[1], "gen"))
        return cmd_gen(argv + 2);
    if ((argc == 8 || argc == 11) && !strcmp(argv[1], "sink"))
        return cmd_sink(argc - 2, argv + 2);
    if (argc == 4 && !strcmp(argv[1], "gro"))
        return cmd_gro(argv + 2);
    fprintf(stderr, "usage: e2e_tool gen OBJ IFNAME SECONDS MODE FLOWS SEQ0 SMAC DMAC SADDR DADDR NDST RATE\n"
                    "       e2e_tool sink OBJ IFNAME WARMUP WINDOW READYFILE SRC [AGENT_PID STATS PREFIX]\n"
                    "       e2e_tool gro IFNAME on|off\n");
    return 2;
}
