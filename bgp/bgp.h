/*
 * bgp/bgp.h: BIRD 2 as a supervised sidecar of rampart-gateway.
 *
 * The gateway does not speak BGP itself: it describes what it wants as a
 * plain struct bgp_config (router id, peers, prefixes to announce, the kernel
 * table that receives learned routes) and this module
 *   - validates and renders it into a bird.conf plus an included
 *     announce.conf (the announcements alone can change without touching any
 *     session), refusing bad input with an error naming the field;
 *   - talks to BIRD's control socket: one command, the reply read with
 *     bounded line length, bounded size and a timeout, every reply code
 *     collected (any 8xxx/9xxx is a failure);
 *   - parses `show protocols all` and `show bfd sessions` into per-peer
 *     state (the text format was checked against BIRD 2.0.12);
 *   - runs `bird -f -c CONF -s SOCK -P PID` as a child, restarts it with
 *     exponential backoff when it dies, stops it (SIGTERM, then SIGKILL) so
 *     its routes are withdrawn, and applies new configs with
 *     `configure check` first so a refused config leaves the old one running.
 * The supervisor is a table of [state][event] -> {handler, next}, driven by
 * bgp_sup_poll() from the caller's loop; nothing here starts threads.
 * Learned routes are not read from BIRD: it exports them into a kernel table
 * (protocol "learned") and the gateway watches that table with rtnetlink
 * (bgp/route_feed.h).
 */
#ifndef RP_BGP_H
#define RP_BGP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- errors -------------------------------------------------------------- */

/* Why something was refused: the field ("peers[1].password", "router_id",
 * "bird" for BIRD's own refusals) and a message for /v1/status. */
struct bgp_error {
    char field[64];
    char msg[512];
};

/* ---- configuration ------------------------------------------------------- */

#define BGP_NAME_MAX 32          /* peer names: 1..31 of [A-Za-z0-9_] */
#define BGP_PASSWORD_MAX 80      /* TCP MD5 key limit of the kernel */
#define BGP_PEERS_MAX 256
#define BGP_PREFIXES_MAX 1000000
/* A peer named "up1" becomes BIRD protocol "peer_up1": BIRD keywords ("gw",
 * "bgp", "ipv4", ...) cannot be protocol names, and no keyword starts with
 * this prefix. */
#define BGP_PEER_PROTO_PREFIX "peer_"
#define BGP_ANNOUNCE_PROTO "announce"    /* the static protocol of announcements */
#define BGP_LEARNED_PROTO "learned"      /* the kernel protocol exporting BGP routes */

struct bgp_peer_conf {
    const char *name;            /* [A-Za-z0-9_]{1,31}, unique */
    const char *address;         /* peer IPv4 address, dotted quad */
    uint32_t peer_asn;           /* 1..4294967295 */
    uint32_t local_asn;          /* 0 = bgp_config.local_asn */
    uint32_t hold_time;          /* seconds; 0 = BIRD default (240), else 3..65535 */
    uint32_t keepalive;          /* seconds; 0 = hold/3, else 1..hold_time */
    bool bfd;
    const char *password;        /* NULL or "" = none; printable ASCII without '"' */
    const char *source_address;  /* NULL or "" = chosen by the kernel */
};

struct bgp_config {
    const char *router_id;       /* IPv4, not 0.0.0.0; always explicit */
    uint32_t local_asn;          /* 1..4294967295 */
    const struct bgp_peer_conf *peers;
    size_t n_peers;
    /* bgp_networks and floating-IP /32s: "a.b.c.d/n" or "a.b.c.d" (= /32),
     * host bits clear. Duplicates are merged; output is sorted. */
    const char *const *prefixes;
    size_t n_prefixes;
    uint32_t kernel_table;       /* learned routes go here: 1..252 or 256.. */
    uint32_t bfd_interval_ms;    /* 0 = 100; 10..10000 */
    uint32_t bfd_multiplier;     /* 0 = 3; 1..255 */
};

/* Check everything; 0 or -EINVAL with err naming the first bad field. */
int bgp_config_validate(const struct bgp_config *c, struct bgp_error *err);

/* bird.conf including the announcements from 'announce_path' (absolute,
 * printable, no '"'). *out is malloc'd and NUL-terminated; free() it. */
int bgp_render_main(const struct bgp_config *c, const char *announce_path, char **out,
                    size_t *out_len, struct bgp_error *err);
/* The included file: `protocol static announce { ipv4; route P blackhole; ... }`. */
int bgp_render_announce(const struct bgp_config *c, char **out, size_t *out_len,
                        struct bgp_error *err);

/* "peer_<name>" into buf; -EINVAL for a bad name, -ENOSPC if buf is short. */
int bgp_peer_proto_name(const char *name, char *buf, size_t len);

/* ---- control-socket replies ------------------------------------------------ */

#define BGP_LINE_MAX 4096            /* longest reply line accepted */
#define BGP_REPLY_MAX (4u << 20)     /* largest reply accepted */

struct bgp_reply {
    /* Every line as "DDDD payload\n" (continuation lines carry the code they
     * continue; '+' lines are dropped), NUL-terminated; NULL when empty. */
    char *text;
    size_t text_len;
    size_t consumed;             /* bytes of input this reply used */
    unsigned n_lines;
    uint16_t last_code;          /* code of the final line */
    uint16_t err_code;           /* first 8xxx/9xxx code, 0 if none */
    char err_msg[BGP_LINE_MAX];  /* that line's text */
};

/* Pure parser of one reply at the start of buf. 0: complete (out filled,
 * free with bgp_reply_free); -EAGAIN: needs more bytes; -EPROTO: not BIRD's
 * reply format; -EMSGSIZE: a line or the reply is over the limits. On any
 * error out holds nothing to free. */
int bgp_reply_parse(const char *buf, size_t len, struct bgp_reply *out);
void bgp_reply_free(struct bgp_reply *r);     /* accepts NULL; leaves r reusable */
static inline bool bgp_reply_failed(const struct bgp_reply *r)
{
    return r->err_code != 0;
}
bool bgp_reply_has_code(const struct bgp_reply *r, uint16_t code);

/* Connect to BIRD's socket and read its 0001 banner; *fd_out is the socket. */
int bgp_ctl_connect(const char *sock_path, int timeout_ms, int *fd_out);
/* Send one command line (no newline inside) and read the whole reply.
 * 0 also when BIRD answered 8xxx/9xxx: check bgp_reply_failed(). */
int bgp_ctl_command(int fd, const char *cmd, int timeout_ms, struct bgp_reply *out);
/* connect + command + close. */
int bgp_ctl_run(const char *sock_path, const char *cmd, int timeout_ms, struct bgp_reply *out);

/* ---- show protocols / show bfd sessions --------------------------------------- */

enum bgp_state {
    BGP_STATE_UNKNOWN = 0,
    BGP_STATE_IDLE,
    BGP_STATE_CONNECT,
    BGP_STATE_ACTIVE,
    BGP_STATE_OPENSENT,
    BGP_STATE_OPENCONFIRM,
    BGP_STATE_ESTABLISHED,
    BGP_STATE_CLOSE,
    BGP_STATE_DOWN,              /* protocol disabled or shut down */
};
const char *bgp_state_name(enum bgp_state s);

enum bgp_bfd_state {
    BGP_BFD_NONE = 0,            /* no BFD session seen */
    BGP_BFD_ADMINDOWN,
    BGP_BFD_DOWN,
    BGP_BFD_INIT,
    BGP_BFD_UP,
};
const char *bgp_bfd_state_name(enum bgp_bfd_state s);

struct bgp_proto_info {
    char name[64];
    char proto[16];              /* "BGP", "Static", ... */
    char state[16];              /* BIRD protocol state: up, start, down, flush */
    char since[32];              /* as printed ("2026-12-01 23:26:49") */
    int64_t since_unix;          /* 0 when the format was not an ISO date */
    char info[128];              /* the Info column */
    enum bgp_state bgp_state;
    char neighbor_address[48];
    uint32_t neighbor_as, local_as;
    char last_error[256];
    bool has_routes;             /* a "Routes:" line was present */
    uint32_t routes_imported, routes_exported, routes_preferred;
    enum bgp_bfd_state bfd;      /* filled by bgp_bfd_apply() */
};

/* Parse bgp_reply.text of `show protocols [all]`. Fills up to max entries;
 * *n_out = protocols seen (may exceed max). -EPROTO on a malformed row. */
int bgp_protocols_parse(const char *text, size_t len, struct bgp_proto_info *out, size_t max,
                        size_t *n_out);

struct bgp_bfd_session {
    char address[48];
    char iface[32];
    enum bgp_bfd_state state;
    char since[32];
};
/* Parse bgp_reply.text of `show bfd sessions`. */
int bgp_bfd_parse(const char *text, size_t len, struct bgp_bfd_session *out, size_t max,
                  size_t *n_out);
/* Set info->bfd from the session whose address is info->neighbor_address. */
void bgp_bfd_apply(struct bgp_proto_info *info, const struct bgp_bfd_session *s, size_t n);

/* ---- supervisor ------------------------------------------------------------------ */

enum bgp_sup_state {
    BGP_SUP_STOPPED = 0,
    BGP_SUP_STARTING,            /* spawned, control socket not answering yet */
    BGP_SUP_RUNNING,
    BGP_SUP_BACKOFF,             /* died; waiting to restart */
    BGP_SUP_STOPPING,            /* SIGTERM sent; SIGKILL at the deadline */
    BGP_SUP_N_STATES
};
const char *bgp_sup_state_name(enum bgp_sup_state s);

struct bgp_sup_opts {
    const char *bird_path;       /* NULL = /usr/sbin/bird */
    const char *dir;             /* bird.conf, announce.conf, bird.ctl, bird.pid, bird.log */
    const char *netns;           /* NULL, or a netns file (/var/run/netns/x) BIRD runs in */
    uint32_t backoff_min_ms;     /* 0 = 500 */
    uint32_t backoff_max_ms;     /* 0 = 30000 */
    uint32_t stable_ms;          /* 0 = 60000: running this long resets the backoff */
    uint32_t start_timeout_ms;   /* 0 = 10000: socket must answer by then */
    uint32_t stop_timeout_ms;    /* 0 = 5000: SIGKILL after */
    uint32_t cmd_timeout_ms;     /* 0 = 5000 */
};

struct bgp_sup_status {
    enum bgp_sup_state state;
    pid_t pid;                   /* 0 when no child */
    unsigned restarts;           /* unplanned exits, each followed by a restart */
    int last_wait_status;        /* waitpid status of the last exit, -1 none */
    uint32_t backoff_ms;         /* delay before the next restart */
    uint64_t config_gen;         /* bumped by every installed config */
    char last_error[512];        /* last refusal or failure, "" if none */
};

struct bgp_sup;

int bgp_sup_create(const struct bgp_sup_opts *o, struct bgp_sup **out);
/* Stops BIRD (blocking, bounded by stop_timeout_ms) and frees. NULL ok. */
void bgp_sup_destroy(struct bgp_sup *s);

/* Validate, render and install a config. While BIRD runs: `configure check`
 * on candidate files, then rename into place and `configure`; otherwise the
 * candidate is checked with `bird -p`. On refusal (-EINVAL) the previous
 * files stay and err (and status.last_error) carry the reason. */
int bgp_sup_apply(struct bgp_sup *s, const struct bgp_config *c, struct bgp_error *err);
/* The same with already-rendered text (main must include announce_path(s)). */
int bgp_sup_apply_text(struct bgp_sup *s, const char *main_conf, const char *announce_conf,
                       struct bgp_error *err);
const char *bgp_sup_announce_path(const struct bgp_sup *s);

int bgp_sup_start(struct bgp_sup *s, uint64_t now_ns);    /* -ENOENT: no config installed */
int bgp_sup_stop(struct bgp_sup *s, uint64_t now_ns);     /* asynchronous; poll to STOPPED */
/* Reap, time out, detect readiness. *next_ns = when to call again at the
 * latest (also call when the pidfd becomes readable). */
int bgp_sup_poll(struct bgp_sup *s, uint64_t now_ns, uint64_t *next_ns);
int bgp_sup_pidfd(const struct bgp_sup *s);               /* -1 when no child */
void bgp_sup_status(const struct bgp_sup *s, struct bgp_sup_status *out);

/* A control command to the running BIRD; -ENOTCONN when not RUNNING. */
int bgp_sup_command(struct bgp_sup *s, const char *cmd, struct bgp_reply *out);
/* `show protocols all "peer_<name>"` + `show bfd sessions`, parsed. */
int bgp_sup_peer_info(struct bgp_sup *s, const char *peer_name, struct bgp_proto_info *out);

/* The route feed (learned routes from the kernel table BIRD exports into)
 * has its declarations in bgp/route_feed.h, included here: callers include
 * bgp/bgp.h alone. */
#include "bgp/route_feed.h"

#endif
