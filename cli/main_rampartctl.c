/*
 * rampartctl: the command-line client of the Rampart API.
 *
 *   rampartctl [--api URL] [--token T] [--json] COMMAND ...
 *   rampartctl router list | show REF | create --name r1 [--FIELD VALUE ...] | update REF --FIELD VALUE ...
 *              | delete REF          (likewise every resource type)
 *   rampartctl export | import FILE | status | watch [--since REV]
 *   rampartctl bgp | bgp routes [--gateway HOST]     (what the border gateways report)
 *   rampartctl trace [--topology FILE] [REQUEST|-]
 *
 * The API address and token come from the flags, else RAMPART_API and
 * RAMPART_TOKEN, else ~/.config/rampart/api and ~/.config/rampart/token, else
 * http://127.0.0.1:8080 and no token. Exit 0 ok, 1 refused (message printed),
 * 2 usage.
 */
#include "cli/cli.h"
#include "sim/sim.h"

#include <errno.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *noun, *path;
} types[] = {
    {"router", "routers"},           {"bridge", "bridges"},     {"port", "ports"},
    {"route", "routes"},             {"chain", "chains"},       {"rule", "rules"},
    {"port-group", "port_groups"},   {"ip-group", "ip_groups"}, {"host", "hosts"},
    {"floating-ip", "floating_ips"}, {"neighbor", "neighbors"}, {"bgp-peer", "bgp_peers"},
    {"bgp-network", "bgp_networks"},
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

static bool json_out;

static int usage(void)
{
    fprintf(stderr,
            "usage: rampartctl [--api URL] [--token TOKEN] [--json] COMMAND\n"
            "commands:\n"
            "  TYPE list                         every resource of TYPE\n"
            "  TYPE show REF                     one resource (id or name)\n"
            "  TYPE create [-f FILE|-] [--FIELD VALUE ...]\n"
            "  TYPE update REF [--FIELD VALUE ...]   change the given fields\n"
            "  TYPE delete REF\n"
            "  export                            the whole topology as JSON\n"
            "  import FILE|-                     replace the whole topology\n"
            "  status                            API and store status\n"
            "  watch [--since REV]               stream changes as JSON lines\n"
            "  bgp                               BIRD and BGP sessions as the gateways report them\n"
            "  bgp routes [--gateway HOST]       the gateways' sample of learned routes\n"
            "  trace [--topology FILE] [REQUEST|-]\n"
            "                                    trace packets (api-model.md \"Trace\") on the live\n"
            "                                    topology, or offline on an export document;\n"
            "                                    the request from a file or standard input\n"
            "TYPE is one of:");
    for (size_t i = 0; i < N_TYPES; i++)
        fprintf(stderr, " %s", types[i].noun);
    fprintf(stderr, "\nVALUE is JSON when it parses as JSON (5, true, [\"10.0.0.5\"]), else a string;\n"
                    "--fixed-ips is the field fixed_ips.\n");
    return 2;
}

static void read_config_file(const char *name, char *out, size_t len)
{
    const char *home = getenv("HOME");
    char path[512];
    FILE *f;

    if (!home)
        return;
    snprintf(path, sizeof(path), "%s/.config/rampart/%s", home, name);
    f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(out, (int)len, f))
        out[strcspn(out, "\r\n")] = '\0';
    fclose(f);
}

/* Print a server reply; return the exit code. */
static int report(const struct http_reply *r, bool quiet_ok)
{
    json_t *j;

    if (r->status == 0) {
        fprintf(stderr, "rampartctl: %s\n", r->error);
        return 1;
    }
    if (r->status >= 400) {
        j = json_loads(r->body, 0, NULL);
        const char *msg = j ? json_string_value(json_object_get(j, "error")) : NULL;
        const char *field = j ? json_string_value(json_object_get(j, "field")) : NULL;
        fprintf(stderr, "rampartctl: the server refused (HTTP %d): %s%s%s%s\n", r->status, msg ? msg : r->body,
                field ? " [field " : "", field ? field : "", field ? "]" : "");
        json_decref(j);
        return 1;
    }
    if (!quiet_ok && r->len)
        printf("%s\n", r->body);
    return 0;
}

static void print_value(json_t *v, char *buf, size_t len)
{
    if (json_is_string(v))
        snprintf(buf, len, "%s", json_string_value(v));
    else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(buf, len, "%s", s ? s : "?");
        free(s);
    }
}

/* People get a table: id, name and the other fields as key=value. */
static void print_table(json_t *arr)
{
    json_t *o, *v;
    size_t i;
    const char *k;

    printf("%-36s  %-16s  %s\n", "ID", "NAME", "FIELDS");
    json_array_foreach(arr, i, o) {
        char fields[512] = "", val[160];
        size_t used = 0;
        json_object_foreach(o, k, v) {
            if (!strcmp(k, "id") || !strcmp(k, "name"))
                continue;
            print_value(v, val, sizeof(val));
            used += (size_t)snprintf(fields + used, used < sizeof(fields) ? sizeof(fields) - used : 0, "%s%s=%s",
                                     used ? " " : "", k, val);
            if (used >= sizeof(fields))
                break;
        }
        printf("%-36s  %-16s  %s\n", json_string_value(json_object_get(o, "id")),
               json_string_value(json_object_get(o, "name")) ?: "-", fields);
    }
}

static void print_object(json_t *o)
{
    json_t *v;
    const char *k;
    char val[512];

    json_object_foreach(o, k, v) {
        print_value(v, val, sizeof(val));
        printf("%-18s %s\n", k, val);
    }
}

static int show_reply(struct http_reply *r, bool is_list)
{
    json_t *j;
    int rc;

    if (r->status >= 400 || r->status == 0 || json_out)
        return report(r, false);
    j = json_loads(r->body, 0, NULL);
    if (!j)
        return report(r, false);
    if (is_list)
        print_table(j);
    else
        print_object(j);
    json_decref(j);
    rc = 0;
    return rc;
}

static char *read_all(const char *path)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f)
        return NULL;
    do {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 65536;
            char *g = realloc(buf, cap + 1);
            if (!g) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = g;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    if (buf)
        buf[len] = '\0';
    if (f != stdin)
        fclose(f);
    return buf;
}

/* --FIELD VALUE pairs (and -f FILE) into a JSON object; NULL on bad usage. */
static json_t *body_from_args(int argc, char **argv)
{
    json_t *o = json_object();

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-f") && i + 1 < argc) {
            char *text = read_all(argv[++i]);
            json_t *f = text ? json_loads(text, 0, NULL) : NULL;
            free(text);
            if (!json_is_object(f)) {
                fprintf(stderr, "rampartctl: %s: not a JSON object\n", argv[i]);
                json_decref(f);
                json_decref(o);
                return NULL;
            }
            json_object_update(o, f);
            json_decref(f);
            continue;
        }
        if (strncmp(argv[i], "--", 2) || i + 1 >= argc || !argv[i][2]) {
            fprintf(stderr, "rampartctl: expected --FIELD VALUE, got '%s'\n", argv[i]);
            json_decref(o);
            return NULL;
        }
        char field[64];
        snprintf(field, sizeof(field), "%s", argv[i] + 2);
        for (char *p = field; *p; p++)
            if (*p == '-')
                *p = '_';
        json_t *v = json_loads(argv[i + 1], JSON_DECODE_ANY, NULL);
        json_object_set_new(o, field, v ? v : json_string(argv[i + 1]));
        i++;
    }
    return o;
}

static int post_json(const struct http_conn *c, const char *method, const char *path, json_t *body, bool show)
{
    char *text = json_dumps(body, JSON_COMPACT);
    struct http_reply r;
    int rc;

    json_decref(body);
    if (!text)
        return 1;
    if (http_request(c, method, path, text, &r) < 0) {
        free(text);
        return report(&r, false);
    }
    free(text);
    rc = show ? show_reply(&r, false) : report(&r, false);
    http_reply_free(&r);
    return rc;
}

static int cmd_resource(const struct http_conn *c, const char *coll, int argc, char **argv)
{
    char path[512];
    struct http_reply r;
    int rc;

    if (argc < 1)
        return usage();
    if (!strcmp(argv[0], "list") && argc == 1) {
        snprintf(path, sizeof(path), "/v1/%s", coll);
        if (http_request(c, "GET", path, NULL, &r) < 0)
            return report(&r, false);
        rc = show_reply(&r, true);
        http_reply_free(&r);
        return rc;
    }
    if (!strcmp(argv[0], "create")) {
        json_t *body = body_from_args(argc - 1, argv + 1);
        if (!body)
            return 2;
        snprintf(path, sizeof(path), "/v1/%s", coll);
        return post_json(c, "POST", path, body, true);
    }
    if (argc < 2)
        return usage();
    snprintf(path, sizeof(path), "/v1/%s/%s", coll, argv[1]);
    if (!strcmp(argv[0], "show") && argc == 2) {
        if (http_request(c, "GET", path, NULL, &r) < 0)
            return report(&r, false);
        rc = show_reply(&r, false);
        http_reply_free(&r);
        return rc;
    }
    if (!strcmp(argv[0], "update")) {
        json_t *body = body_from_args(argc - 2, argv + 2);
        return body ? post_json(c, "PATCH", path, body, true) : 2;
    }
    if (!strcmp(argv[0], "delete") && argc == 2) {
        if (http_request(c, "DELETE", path, NULL, &r) < 0)
            return report(&r, false);
        rc = report(&r, true);
        if (rc == 0 && !json_out)
            printf("deleted %s\n", argv[1]);
        http_reply_free(&r);
        return rc;
    }
    return usage();
}

static json_t *read_json(const char *path)
{
    char *text = read_all(path);
    json_error_t jerr;
    json_t *doc = text ? json_loads(text, 0, &jerr) : NULL;

    if (!text)
        fprintf(stderr, "rampartctl: %s: cannot read\n", path);
    else if (!doc)
        fprintf(stderr, "rampartctl: %s: not JSON: %s (line %d)\n", path, jerr.text, jerr.line);
    free(text);
    return doc;
}

/* Print a trace answer: JSON for scripts, hop by hop for people. */
static void print_trace(const struct sim_topo *t, const json_t *request, const json_t *response)
{
    if (json_out) {
        char *s = json_dumps(response, JSON_INDENT(2));
        printf("%s\n", s ? s : "{}");
        free(s);
    } else {
        sim_trace_print(t, request, response, stdout);
    }
}

/* Offline: the whole simulation runs here, on an export document. */
static int trace_offline(const char *topo_path, json_t *request)
{
    struct sim_topo *t = NULL;
    struct sim_state *s = NULL;
    struct sim_error err;
    json_t *response = NULL;
    int rc = 1;

    if (sim_topo_create(&t) < 0 || sim_state_create(&s, NULL) < 0) {
        fprintf(stderr, "rampartctl: out of memory\n");
        goto out;
    }
    if (sim_topo_load_file(t, topo_path, &err) < 0) {
        fprintf(stderr, "rampartctl: %s: %s\n", topo_path, err.msg);
        goto out;
    }
    if (sim_trace_json(t, s, request, 0, &response, &err) < 0) {
        fprintf(stderr, "rampartctl: trace: %s\n", err.msg);
        goto out;
    }
    print_trace(t, request, response);
    rc = 0;
out:
    json_decref(response);
    sim_state_destroy(s);
    sim_topo_destroy(t);
    return rc;
}

/* Live: the API simulates on its topology and state; for the readable form
 * the topology is fetched too, to show names. */
static int trace_live(const struct http_conn *c, json_t *request)
{
    char *text = json_dumps(request, JSON_COMPACT);
    struct http_reply r, x;
    struct sim_topo *t = NULL;
    json_t *response = NULL;
    int rc;

    if (!text)
        return 1;
    rc = http_request(c, "POST", "/v1/trace", text, &r);
    free(text);
    if (rc < 0 || r.status != 200) {
        rc = report(&r, false);
        http_reply_free(&r);
        return rc ? rc : 1;
    }
    response = json_loads(r.body, 0, NULL);
    http_reply_free(&r);
    if (!response) {
        fprintf(stderr, "rampartctl: the server's trace answer is not JSON\n");
        return 1;
    }
    if (!json_out && http_request(c, "GET", "/v1/export", NULL, &x) == 0 && x.status == 200) {
        json_t *doc = json_loads(x.body, 0, NULL);
        struct sim_error err;
        if (doc && sim_topo_create(&t) == 0 && sim_topo_load(t, doc, &err) < 0) {
            sim_topo_destroy(t);   /* names are a nicety; ids still print */
            t = NULL;
        }
        json_decref(doc);
        http_reply_free(&x);
    }
    print_trace(t, request, response);
    sim_topo_destroy(t);
    json_decref(response);
    return 0;
}

static int cmd_trace(const struct http_conn *c, int argc, char **argv)
{
    const char *topo = NULL, *req_path = "-";
    json_t *request;
    int rc;

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--topology") && i + 1 < argc)
            topo = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            json_out = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return usage();
        else if (i == argc - 1)
            req_path = argv[i];
        else
            return usage();
    }
    request = read_json(req_path);
    if (!request)
        return 1;
    rc = topo ? trace_offline(topo, request) : trace_live(c, request);
    json_decref(request);
    return rc;
}

/* --- bgp: what the border gateways report (GET /v1/gateways) ---------------------------- */

/* GET path as JSON; NULL after printing why (*rc the exit code). */
static json_t *get_json(const struct http_conn *c, const char *path, int *rc)
{
    struct http_reply r;
    json_t *j;

    if (http_request(c, "GET", path, NULL, &r) < 0 || r.status != 200) {
        *rc = report(&r, false);
        if (!*rc)
            *rc = 1;
        http_reply_free(&r);
        return NULL;
    }
    j = json_loads(r.body, 0, NULL);
    http_reply_free(&r);
    if (!j) {
        fprintf(stderr, "rampartctl: the server's answer to %s is not JSON\n", path);
        *rc = 1;
    }
    return j;
}

static const char *str_or(const json_t *o, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s && *s ? s : def;
}

static void print_bird_line(const json_t *g)
{
    const json_t *bird = json_object_get(g, "bird");
    const char *cerr = json_string_value(json_object_get(bird, "config_error"));

    printf("BIRD on %s: %s, router id %s, %" JSON_INTEGER_FORMAT " restarts", str_or(g, "host", "?"),
           str_or(bird, "state", "?"), str_or(bird, "router_id", "-"),
           json_integer_value(json_object_get(bird, "restarts")));
    if (json_is_true(json_object_get(g, "stale")))
        printf(", report stale (%" JSON_INTEGER_FORMAT " s old)", json_integer_value(json_object_get(g, "age_s")));
    if (cerr)
        printf("\n  config error: %s", cerr);
    printf("\n");
}

static void print_peers(const json_t *gws, const json_t *names)
{
    const json_t *g, *p;
    size_t i, j;

    printf("%-16s %-16s %-15s %-10s %-12s %-9s %-19s %8s %8s\n", "GATEWAY", "PEER", "ADDRESS", "ASN", "STATE", "BFD",
           "SINCE", "RX", "TX");
    json_array_foreach(gws, i, g) {
        json_array_foreach(json_object_get(g, "peers"), j, p) {
            const char *id = json_string_value(json_object_get(p, "id"));
            const char *name = json_string_value(json_object_get(names, id ? id : ""));
            char asn[16];
            snprintf(asn, sizeof(asn), "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(p, "peer_asn")));
            printf("%-16s %-16s %-15s %-10s %-12s %-9s %-19s %8" JSON_INTEGER_FORMAT " %8" JSON_INTEGER_FORMAT "\n",
                   str_or(g, "host", "?"), name && *name ? name : str_or(p, "name", id ? id : "?"),
                   str_or(p, "peer_address", "-"), asn, str_or(p, "state", "?"), str_or(p, "bfd", "-"),
                   str_or(p, "since", "-"), json_integer_value(json_object_get(p, "routes_received")),
                   json_integer_value(json_object_get(p, "routes_sent")));
        }
    }
}

static void print_routes(const json_t *gws)
{
    const json_t *g, *r, *nh;
    json_int_t total = 0;
    size_t i, j, k;

    json_array_foreach(gws, i, g) {
        const json_t *routes = json_object_get(g, "routes");
        total += json_integer_value(json_object_get(g, "learned_routes"));
        printf("gateway %s: %zu of %" JSON_INTEGER_FORMAT " learned routes%s\n", str_or(g, "host", "?"),
               json_array_size(routes), json_integer_value(json_object_get(g, "learned_routes")),
               json_is_true(json_object_get(g, "stale")) ? " (report stale)" : "");
        printf("%-18s %-11s %s\n", "DST", "TYPE", "NEXT-HOPS");
        json_array_foreach(routes, j, r) {
            char hops[512] = "";
            size_t used = 0;
            json_array_foreach(json_object_get(r, "next_hops"), k, nh) {
                const char *gw = str_or(nh, "gateway", NULL), *dev = str_or(nh, "interface", NULL);
                if (gw && !strcmp(gw, "0.0.0.0"))
                    gw = NULL;   /* on the link */
                if (used < sizeof(hops))
                    used += (size_t)snprintf(hops + used, sizeof(hops) - used, "%s%s%s%s%s", k ? ", " : "",
                                             gw ? "via " : "", gw ? gw : "", gw && dev ? " " : "",
                                             dev ? "dev " : "");
                if (dev && used < sizeof(hops))
                    used += (size_t)snprintf(hops + used, sizeof(hops) - used, "%s", dev);
            }
            printf("%-18s %-11s %s\n", str_or(r, "dst", "?"), str_or(r, "type", "?"), used ? hops : "-");
        }
    }
    printf("%" JSON_INTEGER_FORMAT " learned routes in all\n", total);
}

/* rampartctl bgp [--json] | bgp routes [--gateway HOST] [--json] */
static int cmd_bgp(const struct http_conn *c, int argc, char **argv)
{
    const char *gateway = NULL;
    bool routes = false;
    char path[256];
    json_t *doc, *gws, *peers = NULL, *names = json_object(), *p;
    size_t i;
    int rc = 0;

    for (int k = 0; k < argc; k++) {
        if (!strcmp(argv[k], "routes") && k == 0)
            routes = true;
        else if (!strcmp(argv[k], "--json"))
            json_out = true;
        else if (!strcmp(argv[k], "--gateway") && routes && k + 1 < argc)
            gateway = argv[++k];
        else {
            json_decref(names);
            return usage();
        }
    }
    if (gateway) {
        char *enc = evhttp_encode_uri(gateway);
        snprintf(path, sizeof(path), "/v1/gateways/%s", enc ? enc : gateway);
        free(enc);
    } else {
        snprintf(path, sizeof(path), "/v1/gateways");
    }
    if (json_out) {
        struct http_reply r;
        json_decref(names);
        if (http_request(c, "GET", path, NULL, &r) < 0)
            return report(&r, false);
        rc = report(&r, false);
        http_reply_free(&r);
        return rc;
    }
    doc = get_json(c, path, &rc);
    if (!doc) {
        json_decref(names);
        return rc;
    }
    gws = gateway ? json_pack("[O]", doc) : json_incref(json_object_get(doc, "gateways"));
    if (!json_array_size(gws)) {
        printf("no gateway has reported to this API server\n");
    } else if (routes) {
        print_routes(gws);
    } else {
        /* Gateways call peers by BIRD protocol names; operators by theirs. */
        peers = get_json(c, "/v1/bgp_peers", &rc);
        rc = 0;
        json_array_foreach(peers, i, p)
            if (json_is_string(json_object_get(p, "name")))
                json_object_set(names, json_string_value(json_object_get(p, "id")), json_object_get(p, "name"));
        json_array_foreach(gws, i, p)
            print_bird_line(p);
        printf("\n");
        print_peers(gws, names);
    }
    json_decref(peers);
    json_decref(names);
    json_decref(gws);
    json_decref(doc);
    return rc;
}

static int print_line(const char *line, void *arg)
{
    (void)arg;
    printf("%s\n", line);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    struct http_conn c = {0};
    char api[256] = "http://127.0.0.1:8080", token[256] = "";
    const char *env;
    int i = 1;

    if ((env = getenv("RAMPART_API")))
        snprintf(api, sizeof(api), "%s", env);
    else
        read_config_file("api", api, sizeof(api));
    if ((env = getenv("RAMPART_TOKEN")))
        snprintf(token, sizeof(token), "%s", env);
    else
        read_config_file("token", token, sizeof(token));
    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        if (!strcmp(argv[i], "--json"))
            json_out = true;
        else if (!strcmp(argv[i], "--api") && i + 1 < argc)
            snprintf(api, sizeof(api), "%s", argv[++i]);
        else if (!strcmp(argv[i], "--token") && i + 1 < argc)
            snprintf(token, sizeof(token), "%s", argv[++i]);
        else if (!strcmp(argv[i], "--help"))
            return usage(), 0;
        else
            return usage();
    }
    if (i >= argc)
        return usage();
    if (http_conn_parse(&c, api) < 0) {
        fprintf(stderr, "rampartctl: bad API address '%s' (want http://host:port)\n", api);
        return 2;
    }
    snprintf(c.token, sizeof(c.token), "%s", token);
    const char *cmd = argv[i++];
    int rest = argc - i;
    char **rv = argv + i;

    for (size_t t = 0; t < N_TYPES; t++)
        if (!strcmp(cmd, types[t].noun) || !strcmp(cmd, types[t].path))
            return cmd_resource(&c, types[t].path, rest, rv);
    if (!strcmp(cmd, "version"))
        return printf("rampartctl 0.1.0\n"), 0;
    if ((!strcmp(cmd, "export") || !strcmp(cmd, "status")) && rest == 0) {
        struct http_reply r;
        int rc;
        if (http_request(&c, "GET", !strcmp(cmd, "export") ? "/v1/export" : "/v1/status", NULL, &r) < 0)
            return report(&r, false);
        rc = report(&r, false);
        http_reply_free(&r);
        return rc;
    }
    if (!strcmp(cmd, "trace"))
        return cmd_trace(&c, rest, rv);
    if (!strcmp(cmd, "bgp"))
        return cmd_bgp(&c, rest, rv);
    if (!strcmp(cmd, "import") && rest == 1) {
        char *text = read_all(rv[0]);
        json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        if (!doc) {
            fprintf(stderr, "rampartctl: %s: cannot read a JSON document\n", rv[0]);
            return 1;
        }
        return post_json(&c, "POST", "/v1/import", doc, false);
    }
    if (!strcmp(cmd, "watch") && (rest == 0 || (rest == 2 && !strcmp(rv[0], "--since")))) {
        char path[64], err[256];
        snprintf(path, sizeof(path), "/v1/watch%s%s", rest ? "?since=" : "", rest ? rv[1] : "");
        if (http_stream(&c, path, print_line, NULL, err, sizeof(err)) < 0) {
            fprintf(stderr, "rampartctl: %s\n", err);
            return 1;
        }
        return 0;
    }
    return usage();
}
