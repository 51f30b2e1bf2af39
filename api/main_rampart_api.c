/*
 * rampart-api: the API server as a daemon.
 *
 *   rampart-api [-c /etc/rampart/rampart.conf] [--check]
 *
 * Reads the api and store sections of the config, opens the store, and
 * serves until SIGTERM or SIGINT.
 */
#include "api/api.h"
#include "lib/conf.h"
#include "lib/log.h"
#include "lib/lpm.h"
#include "store/store.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct api_settings {
    char listen[64];
    int64_t port;
    char token_file[256];
    int64_t max_body;
    int64_t rate;
    int64_t burst;
    int store_backend;
    char store_path[256];
    char zk_hosts[256];
    char zk_chroot[128];
    int64_t zk_timeout_ms;
};

static const char *const backends[] = {"sqlite", "zookeeper", NULL};

#define S(f) offsetof(struct api_settings, f), sizeof(((struct api_settings *)0)->f)
static const struct conf_item api_items[] = {
    {"api.listen", CONF_STRING, S(listen), 0, 0, NULL, "127.0.0.1", false, "address to listen on"},
    {"api.port", CONF_INT, offsetof(struct api_settings, port), 0, 0, 65535, NULL, "8080", false, "TCP port (0: any)"},
    {"api.token_file", CONF_STRING, S(token_file), 0, 0, NULL, "/etc/rampart/token", false,
     "file holding the bearer token (empty string: no auth)"},
    {"api.max_body", CONF_INT, offsetof(struct api_settings, max_body), 0, 1024, 1 << 30, NULL, "16777216", false,
     "largest request body in bytes (413 above)"},
    {"api.rate", CONF_INT, offsetof(struct api_settings, rate), 0, 0, 1000000, NULL, "2000", true,
     "requests per second per client address (0: unlimited)"},
    {"api.burst", CONF_INT, offsetof(struct api_settings, burst), 0, 0, 10000000, NULL, "4000", true,
     "burst per client address"},
    {"store.backend", CONF_ENUM, offsetof(struct api_settings, store_backend), 0, 0, 0, backends, "sqlite", false,
     "sqlite or zookeeper"},
    {"store.path", CONF_STRING, S(store_path), 0, 0, NULL, "/var/lib/rampart/rampart.db", false, "SQLite file"},
    {"store.zookeeper", CONF_STRING, S(zk_hosts), 0, 0, NULL, "127.0.0.1:2181", false, "ZooKeeper ensemble"},
    {"store.chroot", CONF_STRING, S(zk_chroot), 0, 0, NULL, "/rampart", false, "ZooKeeper chroot path"},
    {"store.timeout_ms", CONF_INT, offsetof(struct api_settings, zk_timeout_ms), 0, 1000, 600000, NULL, "10000",
     false, "ZooKeeper session timeout"},
};
#undef S

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    log_info("signal %d: shutting down", (int)sig);
    event_base_loopexit(arg, NULL);
}

static int read_token(const char *path, char *out, size_t len)
{
    FILE *f;
    size_t n;

    out[0] = '\0';
    if (!path[0])
        return 0;
    f = fopen(path, "r");
    if (!f)
        return -errno;
    n = fread(out, 1, len - 1, f);
    fclose(f);
    out[n] = '\0';
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        out[--n] = '\0';
    return n ? 0 : -EINVAL;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: rampart-api [-c CONFIG] [--check]\n"
                 "  -c, --config FILE  configuration (default /etc/rampart/rampart.conf)\n"
                 "  --check            validate the configuration and exit\n"
                 "settings:\n");
    for (size_t i = 0; i < sizeof(api_items) / sizeof(api_items[0]); i++)
        fprintf(out, "  %-18s %s (default %s)\n", api_items[i].path, api_items[i].help,
                api_items[i].def ? api_items[i].def : "required");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conf_path = "/etc/rampart/rampart.conf";
    struct api_settings set;
    struct store_config scfg = {0};
    struct api_config acfg = {0};
    struct event_base *base = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    struct store *store = NULL;
    struct api_server *srv = NULL;
    char err[CONF_ERR_MAX], token[256];
    bool check = false;
    int c, rc;

    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': conf_path = optarg; break;
        case 'k': check = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!lpm_cpu_supported()) {   /* the topology's route tables need it: fail now, not mid-request */
        fprintf(stderr, "rampart-api: %s\n", LPM_CPU_MESSAGE);
        return 1;
    }
    log_init("rampart-api", LOGL_INFO, LOG_DEST_STDERR);
    if (conf_load(api_items, sizeof(api_items) / sizeof(api_items[0]), conf_path, &set, sizeof(set), err) < 0) {
        fprintf(stderr, "rampart-api: %s\n", err);
        return 2;
    }
    if ((rc = read_token(set.token_file, token, sizeof(token))) < 0) {
        fprintf(stderr, "rampart-api: api.token_file: cannot read a token from '%s': %s\n", set.token_file,
                strerror(-rc));
        return 2;
    }
    if (check) {
        printf("rampart-api: %s is valid\n", conf_path);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    scfg.backend = set.store_backend ? STORE_ZOOKEEPER : STORE_SQLITE;
    scfg.sqlite_path = set.store_path;
    scfg.zk_hosts = set.zk_hosts;
    scfg.zk_chroot = set.zk_chroot;
    scfg.zk_timeout_ms = (int)set.zk_timeout_ms;
    if ((rc = store_open(&store, &scfg)) < 0) {
        log_err("store: cannot open %s: %s", scfg.backend == STORE_SQLITE ? set.store_path : set.zk_hosts,
                strerror(-rc));
        return 1;
    }
    base = event_base_new();
    acfg.listen_addr = set.listen;
    acfg.port = (uint16_t)set.port;
    acfg.token = token;
    acfg.max_body = (size_t)set.max_body;
    acfg.rate_per_client = (uint32_t)set.rate;
    acfg.rate_burst = (uint32_t)set.burst;
    if (!base || (rc = api_server_create(base, store, &acfg, &srv)) < 0) {
        log_err("api: cannot serve on %s:%d: %s", set.listen, (int)set.port, strerror(base ? -rc : ENOMEM));
        rc = 1;
        goto out;
    }
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    log_info("serving on %s:%u, store %s", set.listen, api_server_port(srv), store_backend_name(store));
    /* Tests read the port from this line when api.port is 0. */
    printf("listening %s:%u\n", set.listen, api_server_port(srv));
    fflush(stdout);
    event_base_dispatch(base);
    rc = 0;
out:
    api_server_destroy(srv);
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (base)
        event_base_free(base);
    store_close(store);
    return rc;
}
