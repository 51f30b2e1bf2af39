/*
 * agent/agent.c: the agent's life: load the topology, bind this host's
 * ports, open the tunnel, run the event loop, reload on SIGHUP.
 */
#include "agent/agent_impl.h"
#include "lib/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define POOL_BUFS 8192
#define EV_TUNNEL 0xffffffffu
#define EV_SIGNAL 0xfffffffeu
#define EV_FEED 0xfffffffdu
#define EV_EXT 0x40000000u   /* | the extension's tag */

uint64_t agent_clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t key_slot(uint32_t key)
{
    return (key * 0x9e3779b1u) >> 22;   /* top 10 bits: AGENT_KEY_SLOTS */
}

int agent_port_by_key(const struct agent *a, uint32_t tunnel_key)
{
    uint32_t i = key_slot(tunnel_key);

    /* at most AGENT_MAX_PORTS of AGENT_KEY_SLOTS are used: an empty slot ends the probe */
    for (uint32_t n = 0; n < AGENT_KEY_SLOTS && a->port_of[i]; n++, i = (i + 1) & (AGENT_KEY_SLOTS - 1))
        if (a->key_of[i] == tunnel_key)
            return a->port_of[i] - 1;
    return -1;
}

void agent_ports_reindex(struct agent *a)
{
    _Static_assert(AGENT_KEY_SLOTS == 1u << 10 && AGENT_KEY_SLOTS >= 2 * AGENT_MAX_PORTS, "key slots");
    memset(a->port_of, 0, sizeof(a->port_of));
    for (uint32_t p = 0; p < AGENT_MAX_PORTS; p++) {
        if (!a->ports[p].used)
            continue;
        uint32_t i = key_slot(a->ports[p].info.tunnel_key);
        while (a->port_of[i])
            i = (i + 1) & (AGENT_KEY_SLOTS - 1);
        a->key_of[i] = a->ports[p].info.tunnel_key;
        a->port_of[i] = (uint16_t)(p + 1);
    }
}

static bool is_tap(const struct agent *a, const char *ifname)
{
    size_t n = strlen(a->cfg.tap_prefix);

    return n && !strncmp(ifname, a->cfg.tap_prefix, n);
}

static void unbind_port(struct agent *a, uint32_t i)
{
    struct agent_port *p = &a->ports[i];

    log_msg(LOGL_INFO, "port %s: unbound from %s", p->info.name[0] ? p->info.name : "-", p->info.interface);
    epoll_ctl(a->epfd, EPOLL_CTL_DEL, dp_io_fd(p->io), NULL);
    dp_io_close(p->io);
    if (p->ext && a->ext.port_changed)
        a->ext.port_changed(a->ext.ctx, i, NULL);
    memset(p, 0, sizeof(*p));
    agent_ports_reindex(a);
}

static int bind_port(struct agent *a, const struct sim_port_info *info, bool quiet)
{
    struct dp_io_config c = {0};
    struct epoll_event ev = {.events = EPOLLIN};
    char err[256];
    bool ext = false;
    int slot = -1, rc;

    for (int i = 0; i < AGENT_MAX_PORTS && slot < 0; i++)
        if (!a->ports[i].used)
            slot = i;
    if (slot < 0) {
        log_msg(LOGL_ERR, "port %s: more than %d ports on this host", info->name, AGENT_MAX_PORTS);
        return -ENOSPC;
    }
    c.ifname = info->interface;
    c.port_no = (uint32_t)slot;
    if (is_tap(a, info->interface)) {
        c.kind = DP_IO_TAP;
    } else if (a->cfg.backend == AGENT_BACKEND_XDP) {
        c.kind = DP_IO_XDP;
        c.busy_poll = a->cfg.busy_poll;
    } else {
        c.kind = DP_IO_AFPACKET;
        c.kernel_ingress_drop = true;   /* the datapath, not the kernel, answers on this interface */
    }
    if (c.kind != DP_IO_TAP && a->ext.port_setup)
        ext = a->ext.port_setup(a->ext.ctx, info, &c);
    rc = dp_io_open(&c, a->pool, &a->ports[slot].io, err, sizeof(err));
    if (rc < 0) {
        /* A VM's interface may appear later: the retry every few seconds
         * stays quiet about what was already said. */
        if (!quiet)
            log_msg(LOGL_ERR, "port %s: cannot bind interface %s (retrying): %s", info->name, info->interface,
                    err);
        return rc;
    }
    a->ports[slot].used = true;
    a->ports[slot].ext = ext;
    a->ports[slot].info = *info;
    ev.data.u32 = (uint32_t)slot;
    if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, dp_io_fd(a->ports[slot].io), &ev) < 0) {
        rc = -errno;
        unbind_port(a, (uint32_t)slot);
        return rc;
    }
    agent_ports_reindex(a);
    if (ext && a->ext.port_changed)
        a->ext.port_changed(a->ext.ctx, (uint32_t)slot, info);
    log_msg(LOGL_INFO, "port %s: bound to %s (%s%s), tunnel key %u", info->name[0] ? info->name : "-",
            info->interface, dp_io_mode(a->ports[slot].io), ext ? ", uplink" : "", info->tunnel_key);
    return 0;
}

/* Bring the bound ports in line with the topology: close what left or
 * moved to another interface, open what is new; keep the rest open (a TAP
 * a VM holds must survive a reload). */
static void sync_ports(struct agent *a, bool quiet)
{
    static struct sim_port_info want[AGENT_MAX_PORTS];
    unsigned n = sim_topo_host_ports(a->topo, &a->host_id, want, AGENT_MAX_PORTS);

    if (n > AGENT_MAX_PORTS) {
        log_msg(LOGL_ERR, "this host has %u ports; binding the first %d", n, AGENT_MAX_PORTS);
        n = AGENT_MAX_PORTS;
    }
    for (uint32_t i = 0; i < AGENT_MAX_PORTS; i++) {
        struct agent_port *p = &a->ports[i];
        bool keep = false;
        if (!p->used)
            continue;
        for (unsigned k = 0; k < n && !keep; k++)
            keep = !memcmp(&want[k].id, &p->info.id, sizeof(p->info.id)) &&
                   !strcmp(want[k].interface, p->info.interface);
        if (!keep)
            unbind_port(a, i);
    }
    for (unsigned k = 0; k < n; k++) {
        bool have = false;
        for (uint32_t i = 0; i < AGENT_MAX_PORTS && !have; i++)
            if (a->ports[i].used && !memcmp(&a->ports[i].info.id, &want[k].id, sizeof(want[k].id))) {
                a->ports[i].info = want[k];   /* its name or tunnel key may have changed */
                have = true;
            }
        if (!have && want[k].interface[0])
            bind_port(a, &want[k], quiet);
        else if (!have && !quiet)
            log_msg(LOGL_WARN, "port %s: bound to this host but names no interface", want[k].name);
    }
    agent_ports_reindex(a);   /* a kept port's tunnel key may have changed */
}

static void sync_peers(struct agent *a)
{
    static uint32_t ips[AGENT_MAX_PEERS];
    unsigned n = sim_topo_host_ips(a->topo, ips, AGENT_MAX_PEERS);

    if (n > AGENT_MAX_PEERS)
        n = AGENT_MAX_PEERS;
    for (unsigned i = 0; i < n; i++)
        if (ips[i] != a->tunnel_ip)
            tun_peer_add(a->tun, ips[i]);   /* -EEXIST for the ones we know */
}

/* Swap a loaded topology in. The host must be in it, unless the topology
 * comes from the API (an empty start, or a host the API has yet to learn
 * of: then nothing is bound until it appears). */
static int install_topology(struct agent *a, struct sim_topo *t, char *err, size_t errlen)
{
    struct sim_id host = {{0}};
    struct sim_state *s;
    int rc = sim_topo_resolve(t, SIM_RES_HOST, a->cfg.host, &host);

    if (rc < 0 && !a->cfg.api_url[0]) {
        snprintf(err, errlen, "host: no host '%s' in %s", a->cfg.host, a->cfg.topology);
        return rc;
    }
    if (rc < 0)
        log_msg(LOGL_WARN, "host '%s' is not in the topology (yet): no port is bound", a->cfg.host);
    /* The state follows the topology it simulates: a new topology needs a
     * new state view, but NAT and conntrack tables (a->nat) carry over. */
    rc = sim_state_create(&s, a->nat);
    if (rc < 0)
        return rc;
    sim_state_destroy(a->state);
    sim_topo_destroy(a->topo);
    a->topo = t;
    a->state = s;
    a->host_id = host;
    sim_state_set_local_host(s, &host);
    return 0;
}

static int load_topology(struct agent *a, char *err, size_t errlen)
{
    struct sim_topo *t = NULL;
    struct sim_error e;
    int rc = sim_topo_create(&t);

    if (rc < 0)
        return rc;
    rc = sim_topo_load_file(t, a->cfg.topology, &e);
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", a->cfg.topology, e.msg);
    if (rc < 0 || (rc = install_topology(a, t, err, errlen)) < 0)
        sim_topo_destroy(t);
    return rc;
}

int agent_use_document(struct agent *a, const json_t *doc, bool keep_flows)
{
    struct sim_topo *t = NULL;
    struct sim_error e;
    char err[512];
    int rc = sim_topo_create(&t);

    if (rc < 0)
        return rc;
    rc = sim_topo_load(t, doc, &e);
    if (rc < 0)
        log_msg(LOGL_ERR, "the API's topology is refused: %s", e.msg);
    if (rc < 0 || (rc = install_topology(a, t, err, sizeof(err))) < 0) {
        sim_topo_destroy(t);
        return rc;
    }
    if (!keep_flows)
        dp_flow_flush(a->flows);
    sync_ports(a, false);
    sync_peers(a);
    return 0;
}

void agent_topology_changed(struct agent *a)
{
    struct sim_id host;

    if (sim_topo_resolve(a->topo, SIM_RES_HOST, a->cfg.host, &host) == 0)
        a->host_id = host;
    else
        memset(&a->host_id, 0, sizeof(a->host_id));
    sim_state_set_local_host(a->state, &a->host_id);
    sync_ports(a, false);
    sync_peers(a);
}

int agent_reload(struct agent *a)
{
    char err[512];
    int rc;

    if (a->feed) {
        agent_feed_resync(a);   /* the API is the source: fetch it whole again */
        return 0;
    }
    rc = load_topology(a, err, sizeof(err));
    a->c.reloads++;
    if (rc < 0) {
        a->c.reload_errors++;
        log_msg(LOGL_ERR, "reload refused, the previous topology stays: %s", err);
        return rc;
    }
    dp_flow_flush(a->flows);
    sync_ports(a, false);
    sync_peers(a);
    log_msg(LOGL_INFO, "topology reloaded (revision %llu); flows flushed",
            (unsigned long long)sim_topo_revision(a->topo));
    return 0;
}

int agent_create(const struct agent_settings *cfg, struct agent **out, char *err, size_t errlen)
{
    return agent_create_ext(cfg, NULL, out, err, errlen);
}

void agent_block_signals(sigset_t *mask)
{
    sigset_t m;

    if (!mask)
        mask = &m;
    sigemptyset(mask);
    sigaddset(mask, SIGTERM);
    sigaddset(mask, SIGINT);
    sigaddset(mask, SIGHUP);
    sigaddset(mask, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, mask, NULL);
}

int agent_watch_fd(struct agent *a, int fd, uint32_t tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = EV_EXT | tag};

    if (tag >= EV_EXT)
        return -EINVAL;
    return epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

void agent_unwatch_fd(struct agent *a, int fd)
{
    epoll_ctl(a->epfd, EPOLL_CTL_DEL, fd, NULL);
}

const struct sim_topo *agent_topology(const struct agent *a)
{
    return a->topo;
}

struct dp_port_io *agent_port_io(struct agent *a, uint32_t port_no)
{
    return port_no < AGENT_MAX_PORTS && a->ports[port_no].used ? a->ports[port_no].io : NULL;
}

struct pkt_pool *agent_pool(struct agent *a)
{
    return a->pool;
}

int agent_create_ext(const struct agent_settings *cfg, const struct agent_ext *ext, struct agent **out, char *err,
                     size_t errlen)
{
    struct agent *a = calloc(1, sizeof(*a));
    struct nat_config nc;
    struct tun_config tc;
    struct dp_flow_config fc = {0};
    struct dp_exec_config xc = {0};
    struct epoll_event ev = {.events = EPOLLIN};
    sigset_t mask;
    int rc;

    *out = NULL;
    if (!a)
        return -ENOMEM;
    /* Before any thread starts (the lease and feed threads, a caller's):
     * threads inherit the mask, and only the signalfd may take these. */
    agent_block_signals(NULL);
    a->cfg = *cfg;
    a->epfd = a->sigfd = -1;
    if (ext) {
        a->ext = *ext;
        if (ext->attach)
            ext->attach(ext->ctx, a);
    }
    sim_result_init(&a->res);
    nat_config_default(&nc);
    nc.max_conntrack = nc.max_nat = (uint32_t)cfg->nat_entries;
    if (cfg->api_url[0] && (rc = agent_lease_start(a, &nc, err, errlen)) < 0)   /* SNAT blocks leased through the API */
        goto fail;
    if ((rc = nat_tables_create(&a->nat, &nc)) < 0) {
        snprintf(err, errlen, "nat tables: %s", strerror(-rc));
        goto fail;
    }
    if ((rc = load_topology(a, err, errlen)) < 0) {
        if (!cfg->api_url[0])
            goto fail;
        /* No usable copy yet (the first start): take the API's now, since
         * the tunnel address may come from it. */
        struct sim_topo *t = NULL;
        struct sim_error e;
        json_t *doc;
        log_msg(LOGL_INFO, "no cached topology (%s); fetching it from %s", err, cfg->api_url);
        doc = agent_feed_fetch(cfg, err, errlen);
        rc = doc ? sim_topo_create(&t) : -EAGAIN;
        if (rc == 0 && (rc = sim_topo_load(t, doc, &e)) < 0)
            snprintf(err, errlen, "the API's topology is refused: %s", e.msg);
        json_decref(doc);
        if (rc < 0 || (rc = install_topology(a, t, err, errlen)) < 0) {
            sim_topo_destroy(t);
            goto fail;
        }
    }
    a->tunnel_ip = cfg->tunnel_address;
    if (!a->tunnel_ip)
        sim_topo_host_tunnel_ip(a->topo, &a->host_id, &a->tunnel_ip);
    if (!a->tunnel_ip) {
        snprintf(err, errlen, "tunnel.address: not set, and host '%s' has no tunnel_ip in the topology",
                 cfg->host);
        rc = -EINVAL;
        goto fail;
    }
    if ((rc = pkt_pool_create(&a->pool, POOL_BUFS)) < 0) {
        snprintf(err, errlen, "packet pool: %s", strerror(-rc));
        goto fail;
    }
    fc.max_flows = (uint32_t)cfg->flows;
    fc.idle_timeout_ns = (uint64_t)cfg->idle_timeout_s * 1000000000ull;
    fc.hard_timeout_ns = (uint64_t)cfg->hard_timeout_s * 1000000000ull;
    /* A routed, NATed flow carries about 20 tags (trace shows them), most
     * shared with other flows (devices, ports, routes); the distinct ones
     * per flow are its few state keys. */
    fc.max_tag_refs = fc.max_flows * 24;
    fc.max_tags = fc.max_flows * 4;
    if ((rc = dp_flow_cache_create(&a->flows, &fc)) < 0) {
        snprintf(err, errlen, "flow cache of %u flows: %s", fc.max_flows, strerror(-rc));
        goto fail;
    }
    xc.n_ports = AGENT_MAX_PORTS + 1;
    xc.tunnel_port = AGENT_TUNNEL_PORT;
    xc.local_tunnel_ip = htonl(a->tunnel_ip);
    xc.pool = a->pool;
    if ((rc = dp_exec_create(&a->exec, &xc)) < 0) {
        snprintf(err, errlen, "executor: %s", strerror(-rc));
        goto fail;
    }
    tun_config_init(&tc);
    tc.local_ip = a->tunnel_ip;
    tc.port = tc.peer_port = (uint16_t)cfg->tunnel_port;
    tc.state_vni = (uint32_t)cfg->state_vni;
    tc.max_peers = AGENT_MAX_PEERS;
    tc.on_state = agent_on_state;
    tc.state_ctx = a;
    tc.rcvbuf = tc.sndbuf = 4 << 20;
    if ((rc = tun_open(&tc, &a->tun, err, errlen)) < 0)
        goto fail;

    a->epfd = epoll_create1(EPOLL_CLOEXEC);
    agent_block_signals(&mask);
    a->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (a->epfd < 0 || a->sigfd < 0) {
        rc = -errno;
        snprintf(err, errlen, "epoll/signalfd: %s", strerror(errno));
        goto fail;
    }
    ev.data.u32 = EV_SIGNAL;
    epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->sigfd, &ev);
    ev.data.u32 = EV_TUNNEL;
    epoll_ctl(a->epfd, EPOLL_CTL_ADD, tun_fd(a->tun), &ev);
    sync_ports(a, false);
    sync_peers(a);
    if (cfg->api_url[0]) {
        if ((rc = agent_feed_start(a, err, errlen)) < 0)
            goto fail;
        ev.data.u32 = EV_FEED;
        epoll_ctl(a->epfd, EPOLL_CTL_ADD, agent_feed_fd(a), &ev);
    }
    *out = a;
    return 0;
fail:
    agent_destroy(a);
    return rc < 0 ? rc : -EINVAL;
}

void agent_destroy(struct agent *a)
{
    if (!a)
        return;
    agent_feed_stop(a);
    for (uint32_t i = 0; i < AGENT_MAX_PORTS; i++)
        if (a->ports[i].used)
            unbind_port(a, i);
    tun_close(a->tun);
    dp_exec_destroy(a->exec);
    dp_flow_cache_destroy(a->flows);
    pkt_pool_destroy(a->pool);
    sim_result_free(&a->res);
    sim_state_destroy(a->state);
    sim_topo_destroy(a->topo);
    nat_tables_destroy(a->nat);
    agent_lease_stop(a);   /* after the tables, which give their blocks back to it */
    if (a->sigfd >= 0)
        close(a->sigfd);
    if (a->epfd >= 0)
        close(a->epfd);
    free(a);
}

static void on_signal(struct agent *a)
{
    struct signalfd_siginfo si;

    while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
            log_msg(LOGL_INFO, "signal %u: stopping", si.ssi_signo);
            a->stop = true;
            break;
        case SIGHUP:
            agent_reload(a);
            break;
        case SIGUSR1:
            agent_write_stats(a);
            break;
        default:
            break;
        }
    }
}

int agent_run(struct agent *a)
{
    struct epoll_event evs[64];
    uint64_t next_stats = 0, next_expire = 0, next_bind = 0;

    log_msg(LOGL_INFO, "running: host %s, tunnel %u.%u.%u.%u:%lld", a->cfg.host, a->tunnel_ip >> 24,
            (a->tunnel_ip >> 16) & 255, (a->tunnel_ip >> 8) & 255, a->tunnel_ip & 255,
            (long long)a->cfg.tunnel_port);
    while (!a->stop) {
        int wait_ms = a->ext.busy && a->ext.busy(a->ext.ctx) ? 0 : a->n_parked ? 5 : 100;
        int n = epoll_wait(a->epfd, evs, 64, wait_ms);
        if (n < 0 && errno != EINTR)
            return -errno;
        a->now_ns = agent_clock_ns();
        a->upcalls_this_turn = 0;
        for (int i = 0; i < n; i++) {
            uint32_t id = evs[i].data.u32;
            if (id == EV_SIGNAL)
                on_signal(a);
            else if (id == EV_TUNNEL)
                agent_tunnel_rx(a);
            else if (id == EV_FEED)
                agent_feed_drain(a);
            else if (id >= EV_EXT && id < EV_FEED && a->ext.fd_ready)
                a->ext.fd_ready(a->ext.ctx, id & ~EV_EXT);
            else if (id < AGENT_MAX_PORTS && a->ports[id].used && (evs[i].events & (EPOLLERR | EPOLLHUP))) {
                /* the device went away (a VM's TAP deleted with it): let go;
                 * the port is bound again if the interface comes back */
                log_msg(LOGL_WARN, "port %s: interface %s failed", a->ports[id].info.name,
                        a->ports[id].info.interface);
                unbind_port(a, id);
            } else if (id < AGENT_MAX_PORTS && a->ports[id].used)
                agent_port_rx(a, id);
        }
        agent_flush(a);
        if (a->n_parked) {
            agent_lease_poll(a);   /* parked first packets wait for a lease: look every turn */
            agent_flush(a);
        }
        if (a->ext.tick) {
            a->ext.tick(a->ext.ctx, a->now_ns);
            agent_flush(a);
        }
        if (a->now_ns >= next_expire) {
            dp_flow_expire(a->flows, a->now_ns, 4096);
            nat_expire(a->nat, a->now_ns, 4096);
            agent_lease_poll(a);   /* flows dropped for want of SNAT blocks, now leased */
            next_expire = a->now_ns + 100000000ull;
        }
        if (a->now_ns >= next_bind) {
            sync_ports(a, true);   /* interfaces that appeared since */
            next_bind = a->now_ns + 2000000000ull;
        }
        if (a->cfg.stats_file[0] && a->now_ns >= next_stats) {
            agent_write_stats(a);
            next_stats = a->now_ns + 1000000000ull;
        }
    }
    if (a->cfg.stats_file[0])
        agent_write_stats(a);
    return 0;
}
