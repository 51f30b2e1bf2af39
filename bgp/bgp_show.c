/*
 * bgp/bgp_show.c: `show protocols all` and `show bfd sessions` into structs.
 *
 * Written against BIRD 2.0.12's output (fixtures in tests/unit/test_bgp.c):
 *   1002 up1        BGP        ---        up     2026-12-01 23:26:49  Established
 *   1006   BGP state:          Established
 *   1006     Neighbor address: 10.77.0.2
 *   1006     Last error:       Received: Administrative shutdown
 *   1006     Routes:         1 imported, 1 exported, 1 preferred
 *   1020  10.77.0.2   bgpxa   Up   2026-12-01 23:26:47    0.100    0.300
 * Input is bgp_reply.text (every line "DDDD payload"); anything unexpected
 * in a detail line is ignored, a protocol row without its columns is -EPROTO.
 * BIRD prints no BFD state in `show protocols all`; bgp_bfd_apply() joins
 * the two replies by neighbor address.
 */
#include "bgp/bgp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const state_names[] = {
    [BGP_STATE_UNKNOWN] = "Unknown",         [BGP_STATE_IDLE] = "Idle",
    [BGP_STATE_CONNECT] = "Connect",         [BGP_STATE_ACTIVE] = "Active",
    [BGP_STATE_OPENSENT] = "OpenSent",       [BGP_STATE_OPENCONFIRM] = "OpenConfirm",
    [BGP_STATE_ESTABLISHED] = "Established", [BGP_STATE_CLOSE] = "Close",
    [BGP_STATE_DOWN] = "Down",
};

static const char *const bfd_names[] = {
    [BGP_BFD_NONE] = "none", [BGP_BFD_ADMINDOWN] = "AdminDown", [BGP_BFD_DOWN] = "Down",
    [BGP_BFD_INIT] = "Init", [BGP_BFD_UP] = "Up",
};

const char *bgp_state_name(enum bgp_state s)
{
    return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

const char *bgp_bfd_state_name(enum bgp_bfd_state s)
{
    return (unsigned)s < sizeof(bfd_names) / sizeof(bfd_names[0]) ? bfd_names[s] : "?";
}

/* A [p, end) view of text. */
struct span {
    const char *p, *end;
};

static bool sp_space(char c)
{
    return c == ' ' || c == '\t';
}

static void sp_trim(struct span *s)
{
    while (s->p < s->end && sp_space(*s->p))
        s->p++;
    while (s->end > s->p && sp_space(s->end[-1]))
        s->end--;
}

static bool sp_eq(struct span s, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(s.end - s.p) == n && memcmp(s.p, lit, n) == 0;
}

/* Next whitespace-separated token; false at the end. */
static bool sp_token(struct span *s, struct span *tok)
{
    while (s->p < s->end && sp_space(*s->p))
        s->p++;
    if (s->p == s->end)
        return false;
    tok->p = s->p;
    while (s->p < s->end && !sp_space(*s->p))
        s->p++;
    tok->end = s->p;
    return true;
}

static void sp_copy(struct span s, char *dst, size_t size)
{
    size_t n = (size_t)(s.end - s.p);

    if (n >= size)
        n = size - 1;
    memcpy(dst, s.p, n);
    dst[n] = 0;
}

/* "key:   value" with the key matched exactly; value trimmed. */
static bool sp_field(struct span line, const char *key, struct span *val)
{
    size_t n = strlen(key);

    sp_trim(&line);
    if ((size_t)(line.end - line.p) < n || memcmp(line.p, key, n) != 0)
        return false;
    val->p = line.p + n;
    val->end = line.end;
    sp_trim(val);
    return true;
}

static bool sp_u32(struct span s, uint32_t *out)
{
    uint64_t v = 0;

    if (s.p == s.end || s.end - s.p > 10)
        return false;
    for (const char *c = s.p; c < s.end; c++) {
        if (*c < '0' || *c > '9')
            return false;
        v = v * 10 + (uint64_t)(*c - '0');
    }
    if (v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool is_date(struct span t)
{
    static const char pat[] = "dddd-dd-dd";

    if (t.end - t.p != 10)
        return false;
    for (int i = 0; i < 10; i++)
        if (pat[i] == 'd' ? (t.p[i] < '0' || t.p[i] > '9') : t.p[i] != '-')
            return false;
    return true;
}

static bool is_time(struct span t)
{
    return t.end - t.p >= 8 && t.p[0] >= '0' && t.p[0] <= '9' && t.p[2] == ':' && t.p[5] == ':';
}

static int num2(const char *p)
{
    return (p[0] - '0') * 10 + (p[1] - '0');
}

/* "YYYY-MM-DD HH:MM:SS..." in local time (BIRD prints local time). */
static int64_t parse_since(const char *s)
{
    struct tm tm = {0};
    time_t t;

    if (strlen(s) < 19 || s[10] != ' ')
        return 0;
    struct span d = {s, s + 10}, h = {s + 11, s + 19};
    if (!is_date(d) || !is_time(h))
        return 0;
    for (int i = 11; i < 19; i++)
        if (i != 13 && i != 16 && (s[i] < '0' || s[i] > '9'))
            return 0;
    tm.tm_year = num2(s) * 100 + num2(s + 2) - 1900;
    tm.tm_mon = num2(s + 5) - 1;
    tm.tm_mday = num2(s + 8);
    tm.tm_hour = num2(s + 11);
    tm.tm_min = num2(s + 14);
    tm.tm_sec = num2(s + 17);
    tm.tm_isdst = -1;
    t = mktime(&tm);
    return t == (time_t)-1 ? 0 : (int64_t)t;
}

static enum bgp_state state_from(struct span s)
{
    for (unsigned i = 1; i < sizeof(state_names) / sizeof(state_names[0]); i++)
        if (sp_eq(s, state_names[i]))
            return (enum bgp_state)i;
    return BGP_STATE_UNKNOWN;
}

static enum bgp_bfd_state bfd_from(struct span s)
{
    for (unsigned i = 1; i < sizeof(bfd_names) / sizeof(bfd_names[0]); i++)
        if (sp_eq(s, bfd_names[i]))
            return (enum bgp_bfd_state)i;
    return BGP_BFD_NONE;
}

/* Next "DDDD payload" line; false at the end. Short lines get code -1. */
static bool next_line(struct span *text, int *code, struct span *payload)
{
    const char *nl;

    if (text->p >= text->end)
        return false;
    nl = memchr(text->p, '\n', (size_t)(text->end - text->p));
    struct span line = {text->p, nl ? nl : text->end};
    text->p = nl ? nl + 1 : text->end;
    *code = -1;
    if (line.end - line.p >= 5) {
        int c = 0;
        for (int i = 0; i < 4; i++) {
            if (line.p[i] < '0' || line.p[i] > '9')
                return true;
            c = c * 10 + (line.p[i] - '0');
        }
        *code = c;
        payload->p = line.p + 5;
        payload->end = line.end;
    }
    return true;
}

/* Date and time columns print as one or two tokens depending on timeformat. */
static void take_since(struct span *rest, char *dst, size_t size)
{
    struct span t, t2, save;

    if (!sp_token(rest, &t)) {
        dst[0] = 0;
        return;
    }
    save = *rest;
    if (is_date(t) && sp_token(rest, &t2) && is_time(t2))
        t.end = t2.end;
    else
        *rest = save;
    sp_copy(t, dst, size);
}

static int parse_row(struct span pl, struct bgp_proto_info *pi)
{
    struct span tok, name, proto, table, state;

    if (!sp_token(&pl, &name) || !sp_token(&pl, &proto) || !sp_token(&pl, &table) ||
        !sp_token(&pl, &state))
        return -EPROTO;
    memset(pi, 0, sizeof(*pi));
    sp_copy(name, pi->name, sizeof(pi->name));
    sp_copy(proto, pi->proto, sizeof(pi->proto));
    sp_copy(state, pi->state, sizeof(pi->state));
    take_since(&pl, pi->since, sizeof(pi->since));
    pi->since_unix = parse_since(pi->since);
    sp_trim(&pl);
    sp_copy(pl, pi->info, sizeof(pi->info));
    if (sp_token(&pl, &tok) && sp_eq(proto, "BGP"))
        pi->bgp_state = state_from(tok);
    return 0;
}

static void parse_detail(struct span pl, struct bgp_proto_info *pi)
{
    struct span v, a, b, c;

    if (sp_field(pl, "BGP state:", &v)) {
        pi->bgp_state = state_from(v);
    } else if (sp_field(pl, "Neighbor address:", &v)) {
        sp_copy(v, pi->neighbor_address, sizeof(pi->neighbor_address));
    } else if (sp_field(pl, "Neighbor AS:", &v)) {
        sp_u32(v, &pi->neighbor_as);
    } else if (sp_field(pl, "Local AS:", &v)) {
        sp_u32(v, &pi->local_as);
    } else if (sp_field(pl, "Last error:", &v)) {
        sp_copy(v, pi->last_error, sizeof(pi->last_error));
    } else if (!pi->has_routes && sp_field(pl, "Routes:", &v)) {
        /* "1 imported, 1 exported, 1 preferred" (first channel only) */
        struct span t1, t2, t3;
        if (sp_token(&v, &a) && sp_token(&v, &t1) && sp_token(&v, &b) && sp_token(&v, &t2) &&
            sp_token(&v, &c) && sp_token(&v, &t3) && sp_eq(t1, "imported,") &&
            sp_eq(t2, "exported,") && sp_u32(a, &pi->routes_imported) &&
            sp_u32(b, &pi->routes_exported)) {
            sp_u32(c, &pi->routes_preferred);
            pi->has_routes = true;
        }
    }
}

int bgp_protocols_parse(const char *text, size_t len, struct bgp_proto_info *out, size_t max,
                        size_t *n_out)
{
    struct span all = {text, text + (text ? len : 0)}, pl;
    struct bgp_proto_info scratch;
    struct bgp_proto_info *cur = NULL;
    size_t n = 0;
    int code;

    *n_out = 0;
    while (next_line(&all, &code, &pl)) {
        if (code == 1002) {
            cur = n < max ? &out[n] : &scratch;
            if (parse_row(pl, cur))
                return -EPROTO;
            n++;
        } else if (code == 1006 && cur) {
            parse_detail(pl, cur);
        }
    }
    *n_out = n;
    return 0;
}

int bgp_bfd_parse(const char *text, size_t len, struct bgp_bfd_session *out, size_t max,
                  size_t *n_out)
{
    struct span all = {text, text + (text ? len : 0)}, pl;
    size_t n = 0;
    int code;

    *n_out = 0;
    while (next_line(&all, &code, &pl)) {
        struct span addr, ifc, st;
        char abuf[48];
        unsigned char bin[16];

        if (code != 1020 || !sp_token(&pl, &addr) || addr.end - addr.p >= (long)sizeof(abuf))
            continue;
        sp_copy(addr, abuf, sizeof(abuf));
        if (inet_pton(AF_INET, abuf, bin) != 1 && inet_pton(AF_INET6, abuf, bin) != 1)
            continue;   /* the "bfd1:" and column heading lines */
        if (!sp_token(&pl, &ifc) || !sp_token(&pl, &st))
            return -EPROTO;
        if (n < max) {
            struct bgp_bfd_session *s = &out[n];
            memset(s, 0, sizeof(*s));
            memcpy(s->address, abuf, sizeof(s->address));
            sp_copy(ifc, s->iface, sizeof(s->iface));
            s->state = bfd_from(st);
            take_since(&pl, s->since, sizeof(s->since));
        }
        n++;
    }
    *n_out = n;
    return 0;
}

void bgp_bfd_apply(struct bgp_proto_info *info, const struct bgp_bfd_session *s, size_t n)
{
    info->bfd = BGP_BFD_NONE;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].address, info->neighbor_address) == 0 && s[i].state > info->bfd)
            info->bfd = s[i].state;
}
