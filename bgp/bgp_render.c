/*
 * bgp/bgp_render.c: validate a struct bgp_config and render bird.conf and
 * the included announce file.
 *
 * Nothing from the caller reaches the file unchecked: names are restricted
 * to [A-Za-z0-9_] and prefixed (BIRD keywords cannot be symbols), addresses
 * are parsed and printed back by us, and the only quoted strings (password,
 * include path) may hold no '"', newline or control byte because BIRD's
 * lexer has no escapes inside strings.
 */
#include "bgp/bgp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(struct bgp_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(struct bgp_error *err, const char *field, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    snprintf(err->field, sizeof(err->field), "%s", field);
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

static bool name_ok(const char *s)
{
    size_t n = 0;

    if (!s || !*s)
        return false;
    for (; s[n]; n++) {
        char ch = s[n];
        if (n >= BGP_NAME_MAX - 1)
            return false;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_'))
            return false;
    }
    return true;
}

/* A string BIRD will read back verbatim between double quotes. */
static bool quotable(const char *s, size_t max)
{
    size_t n;

    for (n = 0; s[n]; n++) {
        unsigned char ch = (unsigned char)s[n];
        if (n >= max || ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\')
            return false;
    }
    return true;
}

int bgp_peer_proto_name(const char *name, char *buf, size_t len)
{
    if (!name_ok(name))
        return -EINVAL;
    if ((size_t)snprintf(buf, len, "%s%s", BGP_PEER_PROTO_PREFIX, name) >= len)
        return -ENOSPC;
    return 0;
}

/* Dotted quad, no leading zeros or spaces (inet_pton is that strict). */
static bool parse_ipv4(const char *s, uint32_t *out)
{
    struct in_addr a;

    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return false;
    *out = ntohl(a.s_addr);
    return true;
}

static bool unicast_ipv4(uint32_t a)
{
    return a != 0 && a != 0xffffffffu && (a >> 28) != 0xe && (a >> 24) != 0 && (a >> 24) != 127;
}

struct pfx {
    uint32_t addr;
    uint8_t len;
};

static int parse_prefix(const char *s, struct pfx *out, char *why, size_t why_len)
{
    char tmp[24];
    const char *slash;
    size_t alen;
    unsigned len = 32;

    if (!s) {
        snprintf(why, why_len, "missing");
        return -EINVAL;
    }
    slash = strchr(s, '/');
    alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof(tmp)) {
        snprintf(why, why_len, "not an IPv4 prefix");
        return -EINVAL;
    }
    memcpy(tmp, s, alen);
    tmp[alen] = 0;
    if (!parse_ipv4(tmp, &out->addr)) {
        snprintf(why, why_len, "not an IPv4 prefix");
        return -EINVAL;
    }
    if (slash) {
        const char *p = slash + 1;
        if (!p[0] || strlen(p) > 2 || (p[0] == '0' && p[1])) {
            snprintf(why, why_len, "bad prefix length");
            return -EINVAL;
        }
        len = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9') {
                snprintf(why, why_len, "bad prefix length");
                return -EINVAL;
            }
            len = len * 10 + (unsigned)(*p - '0');
        }
        if (len > 32) {
            snprintf(why, why_len, "prefix length above 32");
            return -EINVAL;
        }
    }
    if (len < 32 && (out->addr & (0xffffffffu >> len))) {
        snprintf(why, why_len, "host bits set");
        return -EINVAL;
    }
    out->len = (uint8_t)len;
    return 0;
}

static int check_addr(const char *s, const char *field, bool required, struct bgp_error *err)
{
    uint32_t a;

    if (!s || !*s) {
        if (required)
            set_err(err, field, "missing");
        return required ? -EINVAL : 0;
    }
    if (!parse_ipv4(s, &a)) {
        set_err(err, field, "'%.64s' is not an IPv4 address", s);
        return -EINVAL;
    }
    if (!unicast_ipv4(a)) {
        set_err(err, field, "%s is not a unicast address", s);
        return -EINVAL;
    }
    return 0;
}

static int validate_peer(const struct bgp_config *c, size_t i, struct bgp_error *err)
{
    const struct bgp_peer_conf *p = &c->peers[i];
    char f[64];

    snprintf(f, sizeof(f), "peers[%zu].name", i);
    if (!name_ok(p->name)) {
        set_err(err, f, "must be 1..%d characters of [A-Za-z0-9_]", BGP_NAME_MAX - 1);
        return -EINVAL;
    }
    for (size_t j = 0; j < i; j++) {
        if (strcmp(c->peers[j].name, p->name) == 0) {
            set_err(err, f, "'%s' is used by peers[%zu] too", p->name, j);
            return -EINVAL;
        }
    }
    snprintf(f, sizeof(f), "peers[%zu].address", i);
    if (check_addr(p->address, f, true, err))
        return -EINVAL;
    for (size_t j = 0; j < i; j++) {
        if (strcmp(c->peers[j].address, p->address) == 0) {
            set_err(err, f, "%s is the address of peers[%zu] too", p->address, j);
            return -EINVAL;
        }
    }
    snprintf(f, sizeof(f), "peers[%zu].source_address", i);
    if (check_addr(p->source_address, f, false, err))
        return -EINVAL;
    if (p->peer_asn == 0) {
        snprintf(f, sizeof(f), "peers[%zu].peer_asn", i);
        set_err(err, f, "must be 1..4294967295");
        return -EINVAL;
    }
    if (p->hold_time != 0 && (p->hold_time < 3 || p->hold_time > 65535)) {
        snprintf(f, sizeof(f), "peers[%zu].hold_time", i);
        set_err(err, f, "%u is outside 3..65535 (0 = default)", p->hold_time);
        return -EINVAL;
    }
    if (p->keepalive != 0 &&
        (p->keepalive > 65535 || (p->hold_time && p->keepalive > p->hold_time))) {
        snprintf(f, sizeof(f), "peers[%zu].keepalive", i);
        set_err(err, f, "%u must be at most the hold time", p->keepalive);
        return -EINVAL;
    }
    if (p->password && !quotable(p->password, BGP_PASSWORD_MAX)) {
        snprintf(f, sizeof(f), "peers[%zu].password", i);
        set_err(err, f, "at most %d printable ASCII characters, without '\"' or '\\'",
                BGP_PASSWORD_MAX);
        return -EINVAL;
    }
    return 0;
}

int bgp_config_validate(const struct bgp_config *c, struct bgp_error *err)
{
    uint32_t rid;
    char why[64];

    if (!c) {
        set_err(err, "config", "missing");
        return -EINVAL;
    }
    if (!c->router_id || !parse_ipv4(c->router_id, &rid) || rid == 0) {
        set_err(err, "router_id", "'%.64s' is not a nonzero IPv4 address",
                c->router_id ? c->router_id : "");
        return -EINVAL;
    }
    if (c->local_asn == 0) {
        set_err(err, "local_asn", "must be 1..4294967295");
        return -EINVAL;
    }
    if (c->kernel_table == 0 || (c->kernel_table >= 253 && c->kernel_table <= 255)) {
        set_err(err, "kernel_table", "%u is not a table of our own (not 0, 253..255)",
                c->kernel_table);
        return -EINVAL;
    }
    if (c->bfd_interval_ms && (c->bfd_interval_ms < 10 || c->bfd_interval_ms > 10000)) {
        set_err(err, "bfd_interval_ms", "%u is outside 10..10000", c->bfd_interval_ms);
        return -EINVAL;
    }
    if (c->bfd_multiplier > 255) {
        set_err(err, "bfd_multiplier", "%u is outside 1..255", c->bfd_multiplier);
        return -EINVAL;
    }
    if (c->n_peers > BGP_PEERS_MAX || (c->n_peers && !c->peers)) {
        set_err(err, "peers", "at most %d peers", BGP_PEERS_MAX);
        return -EINVAL;
    }
    for (size_t i = 0; i < c->n_peers; i++)
        if (validate_peer(c, i, err))
            return -EINVAL;
    if (c->n_prefixes > BGP_PREFIXES_MAX || (c->n_prefixes && !c->prefixes)) {
        set_err(err, "prefixes", "at most %d prefixes", BGP_PREFIXES_MAX);
        return -EINVAL;
    }
    for (size_t i = 0; i < c->n_prefixes; i++) {
        struct pfx p;
        if (parse_prefix(c->prefixes[i], &p, why, sizeof(why))) {
            char f[40];
            snprintf(f, sizeof(f), "prefixes[%zu]", i);
            set_err(err, f, "'%.64s': %s", c->prefixes[i] ? c->prefixes[i] : "", why);
            return -EINVAL;
        }
    }
    return 0;
}

static bool any_bfd(const struct bgp_config *c)
{
    for (size_t i = 0; i < c->n_peers; i++)
        if (c->peers[i].bfd)
            return true;
    return false;
}

static void render_peer(FILE *f, const struct bgp_config *c, const struct bgp_peer_conf *p)
{
    fprintf(f, "protocol bgp %s%s {\n", BGP_PEER_PROTO_PREFIX, p->name);
    fprintf(f, "    local as %u;\n", p->local_asn ? p->local_asn : c->local_asn);
    fprintf(f, "    neighbor %s as %u;\n", p->address, p->peer_asn);
    if (p->source_address && *p->source_address)
        fprintf(f, "    source address %s;\n", p->source_address);
    if (p->hold_time)
        fprintf(f, "    hold time %u;\n", p->hold_time);
    if (p->keepalive)
        fprintf(f, "    keepalive time %u;\n", p->keepalive);
    if (p->bfd)
        fprintf(f, "    bfd on;\n");
    /* BIRD's default 60, 300 keeps a recovered gateway out for minutes. */
    fprintf(f, "    error wait time 2, 30;\n");
    if (p->password && *p->password)
        fprintf(f, "    password \"%s\";\n", p->password);
    fprintf(f, "    ipv4 {\n        import all;\n        export where proto = \"%s\";\n    };\n}\n\n",
            BGP_ANNOUNCE_PROTO);
}

int bgp_render_main(const struct bgp_config *c, const char *announce_path, char **out,
                    size_t *out_len, struct bgp_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    int rc;

    *out = NULL;
    rc = bgp_config_validate(c, err);
    if (rc)
        return rc;
    if (!announce_path || announce_path[0] != '/' || !quotable(announce_path, 4096)) {
        set_err(err, "announce_path", "must be an absolute path of printable characters");
        return -EINVAL;
    }
    f = open_memstream(&buf, &len);
    if (!f)
        return -ENOMEM;
    fprintf(f, "# Written by rampart-gateway; rewritten on every change, do not edit.\n");
    fprintf(f, "router id %s;\n", c->router_id);
    fprintf(f, "timeformat protocol iso long;\n");
    fprintf(f, "log stderr all;\n\n");
    fprintf(f, "protocol device {\n}\n\n");
    if (any_bfd(c)) {
        uint32_t iv = c->bfd_interval_ms ? c->bfd_interval_ms : 100;
        uint32_t mult = c->bfd_multiplier ? c->bfd_multiplier : 3;
        fprintf(f, "protocol bfd {\n    interface \"*\" {\n        min rx interval %u ms;\n"
                   "        min tx interval %u ms;\n        multiplier %u;\n    };\n}\n\n",
                iv, iv, mult);
    }
    fprintf(f, "include \"%s\";\n\n", announce_path);
    for (size_t i = 0; i < c->n_peers; i++)
        render_peer(f, c, &c->peers[i]);
    fprintf(f, "protocol kernel %s {\n    kernel table %u;\n    merge paths on;\n"
               "    ipv4 {\n        import none;\n        export where source = RTS_BGP;\n"
               "    };\n}\n",
            BGP_LEARNED_PROTO, c->kernel_table);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return -ENOMEM;
    }
    *out = buf;
    if (out_len)
        *out_len = len;
    return 0;
}

static int pfx_cmp(const void *a, const void *b)
{
    const struct pfx *x = a, *y = b;

    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return (int)x->len - (int)y->len;
}

int bgp_render_announce(const struct bgp_config *c, char **out, size_t *out_len,
                        struct bgp_error *err)
{
    struct pfx *v = NULL;
    char *buf = NULL;
    size_t len = 0, n = 0;
    char why[64];
    FILE *f = NULL;
    int rc;

    *out = NULL;
    rc = bgp_config_validate(c, err);
    if (rc)
        return rc;
    if (c->n_prefixes) {
        v = calloc(c->n_prefixes, sizeof(*v));
        if (!v)
            return -ENOMEM;
    }
    for (size_t i = 0; i < c->n_prefixes; i++)
        if (parse_prefix(c->prefixes[i], &v[i], why, sizeof(why)) == 0)
            n++;
    if (n != c->n_prefixes) {   /* validated above; cannot happen */
        rc = -EINVAL;
        goto out;
    }
    if (n)
        qsort(v, n, sizeof(*v), pfx_cmp);
    f = open_memstream(&buf, &len);
    if (!f) {
        rc = -ENOMEM;
        goto out;
    }
    fprintf(f, "# Written by rampart-gateway: the prefixes announced to every peer.\n");
    fprintf(f, "protocol static %s {\n    ipv4;\n", BGP_ANNOUNCE_PROTO);
    for (size_t i = 0; i < n; i++) {
        uint32_t a = v[i].addr;
        if (i && v[i].addr == v[i - 1].addr && v[i].len == v[i - 1].len)
            continue;
        fprintf(f, "    route %u.%u.%u.%u/%u blackhole;\n", a >> 24, (a >> 16) & 255,
                (a >> 8) & 255, a & 255, v[i].len);
    }
    fprintf(f, "}\n");
    if (fclose(f) != 0 || !buf) {
        rc = -ENOMEM;
        goto out;
    }
    *out = buf;
    buf = NULL;
    if (out_len)
        *out_len = len;
out:
    free(buf);
    free(v);
    return rc;
}
