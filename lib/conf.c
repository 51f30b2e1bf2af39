/*
 * lib/conf.c: table-driven configuration over libconfig.
 */
#include "lib/conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char err[CONF_ERR_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char err[CONF_ERR_MAX], const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, CONF_ERR_MAX, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int set_from_text(const struct conf_item *it, void *out, const char *text, char err[CONF_ERR_MAX])
{
    char *base = out;
    char *end;

    switch (it->type) {
    case CONF_INT: {
        errno = 0;
        long long v = strtoll(text, &end, 0);
        if (errno || *end || end == text)
            return fail(err, "%s: '%s' is not a whole number", it->path, text);
        if (v < it->min || v > it->max)
            return fail(err, "%s: %lld is outside %lld..%lld", it->path, v, (long long)it->min,
                        (long long)it->max);
        *(int64_t *)(base + it->offset) = v;
        return 0;
    }
    case CONF_BOOL:
        if (!strcmp(text, "true"))
            *(bool *)(base + it->offset) = true;
        else if (!strcmp(text, "false"))
            *(bool *)(base + it->offset) = false;
        else
            return fail(err, "%s: '%s' is not true or false", it->path, text);
        return 0;
    case CONF_STRING:
        if (strlen(text) >= it->size)
            return fail(err, "%s: longer than %zu characters", it->path, it->size - 1);
        memcpy(base + it->offset, text, strlen(text) + 1);
        return 0;
    case CONF_ENUM:
        for (int i = 0; it->choices[i]; i++) {
            if (!strcmp(it->choices[i], text)) {
                *(int *)(base + it->offset) = i;
                return 0;
            }
        }
        return fail(err, "%s: '%s' is not one of the allowed values", it->path, text);
    case CONF_IPV4: {
        struct in_addr a;
        if (inet_pton(AF_INET, text, &a) != 1)
            return fail(err, "%s: '%s' is not an IPv4 address", it->path, text);
        *(uint32_t *)(base + it->offset) = ntohl(a.s_addr);
        return 0;
    }
    }
    return fail(err, "%s: unknown setting type", it->path);
}

/* The text form of a libconfig value, checked against the item's type. */
static int setting_text(const struct conf_item *it, config_setting_t *s, char *buf, size_t len,
                        char err[CONF_ERR_MAX])
{
    int line = config_setting_source_line(s);

    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        if (it->type != CONF_INT)
            return fail(err, "%s: a number where text was expected (line %d)", it->path, line);
        snprintf(buf, len, "%lld", config_setting_get_int64(s));
        return 0;
    case CONFIG_TYPE_BOOL:
        if (it->type != CONF_BOOL)
            return fail(err, "%s: true/false where another type was expected (line %d)", it->path, line);
        snprintf(buf, len, "%s", config_setting_get_bool(s) ? "true" : "false");
        return 0;
    case CONFIG_TYPE_STRING:
        if (it->type == CONF_INT || it->type == CONF_BOOL)
            return fail(err, "%s: text where a %s was expected (line %d)", it->path,
                        it->type == CONF_INT ? "number" : "true/false", line);
        snprintf(buf, len, "%s", config_setting_get_string(s));
        return 0;
    default:
        return fail(err, "%s: unsupported value type (line %d)", it->path, line);
    }
}

static const struct conf_item *find_item(const struct conf_item *items, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(items[i].path, path))
            return &items[i];
    return NULL;
}

/* Refuse settings the table does not know: a typo must not pass silently. */
static int check_unknown(const struct conf_item *items, size_t n, config_setting_t *group,
                         const char *prefix, char err[CONF_ERR_MAX])
{
    int count = config_setting_length(group);

    for (int i = 0; i < count; i++) {
        config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        char path[256];
        int rc;

        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", config_setting_name(s));
        if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
            rc = check_unknown(items, n, s, path, err);
            if (rc < 0)
                return rc;
        } else if (!find_item(items, n, path)) {
            return fail(err, "%s: unknown setting (line %d)", path, config_setting_source_line(s));
        }
    }
    return 0;
}

static int load_into(const struct conf_item *items, size_t n, const char *path, void *out,
                     char err[CONF_ERR_MAX])
{
    config_t cfg;
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        if (items[i].def && (rc = set_from_text(&items[i], out, items[i].def, err)) < 0)
            return rc;
    }
    if (!path) {
        for (size_t i = 0; i < n; i++)
            if (!items[i].def)
                return fail(err, "%s: required setting missing", items[i].path);
        return 0;
    }
    config_init(&cfg);
    if (!config_read_file(&cfg, path)) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            rc = fail(err, "%s: cannot read the file", path);
        else
            rc = fail(err, "%s:%d: %s", path, config_error_line(&cfg), config_error_text(&cfg));
        goto out;
    }
    rc = check_unknown(items, n, config_root_setting(&cfg), "", err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        config_setting_t *s = config_lookup(&cfg, items[i].path);
        char text[512];

        if (!s) {
            if (!items[i].def) {
                rc = fail(err, "%s: required setting missing", items[i].path);
                goto out;
            }
            continue;
        }
        rc = setting_text(&items[i], s, text, sizeof(text), err);
        if (rc == 0)
            rc = set_from_text(&items[i], out, text, err);
        if (rc < 0) {
            size_t l = strlen(err);
            if (!strstr(err, "(line "))
                snprintf(err + l, CONF_ERR_MAX - l, " (line %d)", config_setting_source_line(s));
            goto out;
        }
    }
out:
    config_destroy(&cfg);
    return rc;
}

int conf_load(const struct conf_item *items, size_t n, const char *path, void *settings,
              size_t settings_size, char err[CONF_ERR_MAX])
{
    void *tmp = calloc(1, settings_size);
    int rc;

    if (!tmp)
        return -ENOMEM;
    err[0] = '\0';
    rc = load_into(items, n, path, tmp, err);
    if (rc == 0)
        memcpy(settings, tmp, settings_size);
    free(tmp);
    return rc;
}

static size_t item_size(const struct conf_item *it)
{
    switch (it->type) {
    case CONF_INT: return sizeof(int64_t);
    case CONF_BOOL: return sizeof(bool);
    case CONF_STRING: return it->size;
    case CONF_ENUM: return sizeof(int);
    case CONF_IPV4: return sizeof(uint32_t);
    }
    return 0;
}

int conf_reload(const struct conf_item *items, size_t n, const char *path, void *settings,
                size_t settings_size, char *needs_restart, size_t nr_size, char err[CONF_ERR_MAX])
{
    char *tmp = calloc(1, settings_size);
    size_t used = 0;
    int rc;

    if (!tmp)
        return -ENOMEM;
    if (nr_size)
        needs_restart[0] = '\0';
    err[0] = '\0';
    rc = load_into(items, n, path, tmp, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *cur = (char *)settings + items[i].offset;
        const char *new = tmp + items[i].offset;
        size_t sz = item_size(&items[i]);

        if (!memcmp(cur, new, sz))
            continue;
        if (items[i].reloadable) {
            memcpy(cur, new, sz);
        } else if (used < nr_size) {
            used += (size_t)snprintf(needs_restart + used, nr_size - used, "%s%s", used ? "," : "",
                                     items[i].path);
        }
    }
    free(tmp);
    return rc;
}
