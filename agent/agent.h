/*
 * agent/agent.h: rampart-agent, the compute-host daemon (and the core the
 * gateway adds uplinks and BGP to).
 *
 * It binds every exterior port of the topology whose host is its own to a
 * local interface (a TAP device it creates, or an existing interface through
 * AF_PACKET or AF_XDP), forwards their packets through the flow cache,
 * simulates the first packet of each flow, reaches ports on other hosts
 * through VXLAN, and pushes NAT and conntrack state to the hosts that may
 * see the return traffic before the packet it belongs to.
 *
 * The topology comes from the API (api_url): a snapshot (GET /v1/export),
 * then the watch stream; each change invalidates the cached flows that
 * depend on what it changed. The last snapshot is kept in the topology
 * file, so the agent starts and keeps forwarding when the API is away, and
 * resyncs when it is back. Without api_url the topology is the file alone,
 * reloaded on SIGHUP (which flushes every cached flow). One thread forwards;
 * a second one only talks to the API and hands what it reads over.
 */
#ifndef RP_AGENT_AGENT_H
#define RP_AGENT_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum agent_backend { AGENT_BACKEND_AFPACKET, AGENT_BACKEND_XDP };

struct agent_settings {
    char host[64];              /* host name or id in the topology */
    char topology[512];         /* export document; with api_url, the cached copy of the API's */
    char api_url[256];          /* "" : the topology is the file alone */
    char api_token_file[256];
    uint32_t tunnel_address;    /* host order; 0: the host's tunnel_ip */
    int64_t tunnel_port;
    int64_t state_vni;
    int backend;                /* enum agent_backend */
    char tap_prefix[32];
    bool busy_poll;             /* AF_XDP: SO_PREFER_BUSY_POLL + SO_BUSY_POLL */
    int64_t flows;
    int64_t idle_timeout_s, hard_timeout_s;
    int64_t upcall_budget;      /* first packets simulated per loop turn */
    int64_t nat_entries;
    char stats_file[512];
    int log_level;              /* enum log_level index of "err", "warn", "info", "debug" */
    bool log_syslog;
};

/* Read and check a config file; 0, or -EINVAL with err naming the setting. */
int agent_settings_load(const char *path, struct agent_settings *s, char err[256]);

struct agent;
struct conf_item;
struct http_conn;
struct dp_io_config;
struct dp_port_io;
struct pkt_buf;
struct pkt_pool;
struct sim_port_info;
struct sim_topo;

/* The settings table (lib/conf.h), for a daemon that embeds the agent's
 * settings at the start of its own (rampart-gateway). */
const struct conf_item *agent_conf_items(size_t *n);

/* How to reach the API of these settings (api.url, the token from
 * api.token_file): 0, or -EINVAL with err naming the setting. */
int agent_api_conn(const struct agent_settings *cfg, unsigned timeout_ms, struct http_conn *c, char *err,
                   size_t errlen);

/* Load the topology, bind the ports and open the tunnel. 0, or a negative
 * errno with err saying why. */
int agent_create(const struct agent_settings *s, struct agent **out, char *err, size_t errlen);

/* What a daemon built on the agent adds to it (rampart-gateway: uplinks and
 * BGP). Every hook runs on the forwarding thread; any may be NULL. */
struct agent_ext {
    void *ctx;
    /* Called first, with the agent being created (before any port is bound). */
    void (*attach)(void *ctx, struct agent *a);
    /* An exterior port bound through AF_PACKET or AF_XDP (not TAP) is about
     * to open: the extension may add to its I/O config (kernel_ipv4). true:
     * the port is the extension's, and rx/tx below apply to it. */
    bool (*port_setup)(void *ctx, const struct sim_port_info *info, struct dp_io_config *c);
    /* One of the extension's ports was bound (info) or unbound (NULL). */
    void (*port_changed)(void *ctx, uint32_t port_no, const struct sim_port_info *info);
    /* Frames received on one of its ports, before the flow cache: keep
     * those the datapath should handle at the front and return how many;
     * the rest it has put back into the pool (agent_pool). */
    unsigned (*rx)(void *ctx, uint32_t port_no, struct pkt_buf **bufs, unsigned n);
    /* Frames about to leave one of its ports: rewrite them in place, keep
     * those to send at the front and return how many (it frees nothing:
     * the caller owns every buffer). */
    unsigned (*tx)(void *ctx, uint32_t port_no, struct pkt_buf **bufs, unsigned n);
    void (*fd_ready)(void *ctx, uint32_t tag);      /* a descriptor of agent_watch_fd */
    void (*tick)(void *ctx, uint64_t now_ns);       /* every loop turn (at least every 100 ms) */
    bool (*busy)(void *ctx);                        /* work left for the next tick: do not sleep */
    void (*stats)(void *ctx, void *json_root);      /* add to the stats file (a json_t object) */
};

/* agent_create with an extension (ext is copied). */
int agent_create_ext(const struct agent_settings *s, const struct agent_ext *ext, struct agent **out, char *err,
                     size_t errlen);
/* Block the signals the agent takes through its signalfd (TERM, INT, HUP,
 * USR1) in the calling thread; call it before starting threads of your own
 * so they inherit the mask. mask (may be NULL) gets the set. */
void agent_block_signals(sigset_t *mask);
/* Have fd_ready(tag) called when fd is readable: 0 or a negative errno. */
int agent_watch_fd(struct agent *a, int fd, uint32_t tag);
void agent_unwatch_fd(struct agent *a, int fd);
const struct sim_topo *agent_topology(const struct agent *a);
struct dp_port_io *agent_port_io(struct agent *a, uint32_t port_no);   /* NULL: not bound */
struct pkt_pool *agent_pool(struct agent *a);
void agent_destroy(struct agent *a);

/* Run until SIGTERM or SIGINT (0) or a fatal error (<0). SIGHUP reloads
 * the topology; SIGUSR1 writes the stats file at once. */
int agent_run(struct agent *a);

/* Load the topology file again and rebind: 0, or a negative errno (the
 * previous topology stays). */
int agent_reload(struct agent *a);

#endif
