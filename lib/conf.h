/*
 * lib/conf.h: configuration files declared as tables.
 *
 * A daemon describes its settings once, as an array of struct conf_item
 * (libconfig path, type, where the value goes, bounds, default, whether a
 * reload may change it), and conf_load() reads a libconfig file into its
 * settings struct: defaults first, then the file. Every refusal names the
 * setting and the line: "api.port: 70000 is above the maximum 65535 (line 4)".
 * Unknown settings are refused too, so a typo never passes silently.
 * conf_reload() applies what may change at run time and lists what needs a
 * restart.
 */
#ifndef RP_LIB_CONF_H
#define RP_LIB_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum conf_type {
    CONF_INT,      /* int64_t, within [min, max] */
    CONF_BOOL,     /* bool */
    CONF_STRING,   /* char[size] */
    CONF_ENUM,     /* int, index into a NULL-terminated 'choices' list */
    CONF_IPV4,     /* uint32_t, host order, from "a.b.c.d" */
};

struct conf_item {
    const char *path;          /* "api.listen", "store.backend" */
    enum conf_type type;
    size_t offset;             /* offsetof(struct settings, field) */
    size_t size;               /* CONF_STRING: buffer size */
    int64_t min, max;          /* CONF_INT bounds */
    const char *const *choices;/* CONF_ENUM */
    const char *def;           /* default as text; NULL = required */
    bool reloadable;
    const char *help;          /* one line for --help and docs */
};

#define CONF_ERR_MAX 256

/* Defaults, then the file (NULL: defaults only). 0, or -EINVAL with a
 * message in err naming the setting. 'settings' is untouched on error. */
int conf_load(const struct conf_item *items, size_t n, const char *path, void *settings,
              size_t settings_size, char err[CONF_ERR_MAX]);

/* Load 'path' again into 'settings': reloadable items change; the others,
 * when different, are listed in 'needs_restart' (comma separated). */
int conf_reload(const struct conf_item *items, size_t n, const char *path, void *settings,
                size_t settings_size, char *needs_restart, size_t nr_size, char err[CONF_ERR_MAX]);

#endif
