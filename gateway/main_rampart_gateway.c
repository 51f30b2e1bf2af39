/*
 * rampart-gateway: the border node.
 *
 *   rampart-gateway [-c /etc/rampart/gateway.conf] [--check]
 *
 * Exit 0 on SIGTERM (BIRD stopped first, so upstreams withdraw its routes),
 * 1 when it cannot start, 2 for a bad command line or configuration (the
 * message names the setting). docs/gateway.md describes the settings.
 */
#include "gateway/gateway.h"
#include "lib/log.h"
#include "lib/lpm.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: rampart-gateway [-c CONFIG] [--check]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check", no_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const enum log_level levels[] = {LOGL_ERR, LOGL_WARN, LOGL_INFO, LOGL_DEBUG};
    const char *path = "/etc/rampart/gateway.conf";
    struct gateway_settings s;
    struct gateway *g;
    char err[512];
    bool check = false;
    int c, rc;

    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (c == 'c')
            path = optarg;
        else if (c == 'k')
            check = true;
        else
            return usage();
    }
    if (optind != argc)
        return usage();
    if (!lpm_cpu_supported()) {
        fprintf(stderr, "rampart-gateway: %s\n", LPM_CPU_MESSAGE);
        return 1;
    }
    if (gateway_settings_load(path, &s, err) < 0) {
        fprintf(stderr, "rampart-gateway: %s: %s\n", path, err);
        return 2;
    }
    if (check) {
        printf("%s: ok\n", path);
        return 0;
    }
    log_init("rampart-gateway", levels[s.agent.log_level], s.agent.log_syslog ? LOG_DEST_SYSLOG : LOG_DEST_STDERR);
    rc = gateway_create(&s, &g, err, sizeof(err));
    if (rc < 0) {
        log_msg(LOGL_ERR, "cannot start: %s", err);
        return 1;
    }
    rc = gateway_run(g);
    gateway_destroy(g);
    log_msg(LOGL_INFO, "stopped");
    return rc < 0 ? 1 : 0;
}
