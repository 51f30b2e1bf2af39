/*
 * Fuzz configuration files: arbitrary bytes as /etc/rampart/rampart.conf
 * through the table-driven loader (libconfig underneath). A bad file must
 * give an error naming the problem, never a crash.
 */
#include "lib/conf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fz_settings {
    int64_t port;
    bool flag;
    char name[32];
    int choice;
    uint32_t ip;
};

static const char *const choices[] = {"a", "b", NULL};
static const struct conf_item items[] = {
    {"api.port", CONF_INT, offsetof(struct fz_settings, port), 0, 0, 65535, NULL, "80", true, ""},
    {"api.flag", CONF_BOOL, offsetof(struct fz_settings, flag), 0, 0, 0, NULL, "false", true, ""},
    {"host.name", CONF_STRING, offsetof(struct fz_settings, name), 32, 0, 0, NULL, "x", false, ""},
    {"store.backend", CONF_ENUM, offsetof(struct fz_settings, choice), 0, 0, 0, choices, "a", false, ""},
    {"host.ip", CONF_IPV4, offsetof(struct fz_settings, ip), 0, 0, 0, NULL, "127.0.0.1", false, ""},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    struct fz_settings s;
    char err[CONF_ERR_MAX], restart[64];
    FILE *f;

    if (!path[0])
        snprintf(path, sizeof(path), "/tmp/fuzz-conf-%d.conf", (int)getpid());
    f = fopen(path, "w");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    if (conf_load(items, sizeof(items) / sizeof(items[0]), path, &s, sizeof(s), err) == 0)
        conf_reload(items, sizeof(items) / sizeof(items[0]), path, &s, sizeof(s), restart, sizeof(restart), err);
    else if (!err[0])
        abort();   /* every refusal must say why */
    return 0;
}
