/*
 * Scenario tests: every tests/scenarios/NAME.json is a topology and a list of
 * traces with the answers expected, run through the same codec as
 * `rampartctl trace --topology` (api-model.md "Trace").
 *
 * A scenario file:
 *   {"description": "...",
 *    "topology": {export document} | "topologies/NAME.json",
 *    "steps": [
 *      {"trace": {"in_port": ..., "packets": [...]},
 *       "repeat": N, "vary": "src_port",     (optional: N copies of the one packet, field + i)
 *       "expect": [result, ...]},            (one per packet; one for all when repeated)
 *      {"spread": {"in_port": ..., "packets": [one]}, "flows": N, "vary": "src_port",
 *       "ports": ["up1", "up2"]}             (ECMP: every flow leaves by one of these, all are used,
 *                                              and the same flow again takes the same one)
 *    ],
 *    "refused": [{"topology": {...}, "error": "substring", "field": "name"}, ...]}
 * An expected result is matched as a subset of the answer, after every id
 * in the answer is replaced by the resource's name; arrays must have the
 * same length. Extra keys: "notes" (substrings found in the hops' notes),
 * "devices" (the hops' device names in order), "save" ({"var": "path"},
 * path like "outputs.0.packet.src_port"); a later packet's string "$var" is
 * replaced by the saved value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim/sim.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCENARIO_DIR "tests/scenarios"

struct scenario {
    char path[512];
    json_t *doc;
    json_t *names;     /* id -> name */
    json_t *vars;      /* saved values */
    struct sim_topo *topo;
    struct sim_state *state;
    uint64_t now_ns;
};

static void fail_at(const char *path, const char *where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail_at(const char *path, const char *where, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    print_error("%s: %s: %s\n", path, where, msg);
    fail();
}

static char *dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
}

/* Replace every string that is a resource id by the resource's name. */
static json_t *with_names(json_t *j, const json_t *names)
{
    if (json_is_string(j)) {
        const json_t *n = json_object_get(names, json_string_value(j));
        return n ? json_incref((json_t *)n) : json_incref(j);
    }
    if (json_is_object(j)) {
        json_t *o = json_object(), *v;
        const char *k;
        json_object_foreach(j, k, v)
            json_object_set_new(o, k, with_names(v, names));
        return o;
    }
    if (json_is_array(j)) {
        json_t *a = json_array(), *v;
        size_t i;
        json_array_foreach(j, i, v)
            json_array_append_new(a, with_names(v, names));
        return a;
    }
    return json_incref(j);
}

static json_t *with_vars(const json_t *j, const json_t *vars, const char *path)
{
    if (json_is_string(j) && json_string_value(j)[0] == '$') {
        const json_t *v = json_object_get(vars, json_string_value(j) + 1);
        if (!v)
            fail_at(path, json_string_value(j), "no saved value of that name");
        return json_deep_copy(v);
    }
    if (json_is_object(j)) {
        json_t *o = json_object(), *v;
        const char *k;
        json_object_foreach((json_t *)j, k, v)
            json_object_set_new(o, k, with_vars(v, vars, path));
        return o;
    }
    if (json_is_array(j)) {
        json_t *a = json_array(), *v;
        size_t i;
        json_array_foreach((json_t *)j, i, v)
            json_array_append_new(a, with_vars(v, vars, path));
        return a;
    }
    return json_deep_copy(j);
}

/* A dotted path into a JSON value: "outputs.0.packet.src_port". */
static const json_t *at_path(const json_t *j, const char *path)
{
    char buf[128], *save = NULL, *tok;

    snprintf(buf, sizeof(buf), "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok && j; tok = strtok_r(NULL, ".", &save)) {
        char *end;
        unsigned long idx = strtoul(tok, &end, 10);
        j = json_is_array(j) && !*end ? json_array_get(j, idx) : json_object_get(j, tok);
    }
    return j;
}

/* Is 'want' a subset of 'got'? On a mismatch, 'where' names the first one. */
static bool subset(const json_t *want, const json_t *got, char *where, size_t cap)
{
    if (json_is_object(want)) {
        const char *k;
        json_t *v;
        if (!json_is_object(got))
            return snprintf(where, cap, "(not an object)"), false;
        json_object_foreach((json_t *)want, k, v) {
            size_t n = strlen(where);
            snprintf(where + n, cap - n, ".%s", k);
            if (!subset(v, json_object_get(got, k), where, cap))
                return false;
            where[n] = 0;
        }
        return true;
    }
    if (json_is_array(want)) {
        json_t *v;
        size_t i;
        if (!json_is_array(got) || json_array_size(got) != json_array_size(want))
            return snprintf(where + strlen(where), cap - strlen(where), " (array length)"), false;
        json_array_foreach((json_t *)want, i, v) {
            size_t n = strlen(where);
            snprintf(where + n, cap - n, "[%zu]", i);
            if (!subset(v, json_array_get(got, i), where, cap))
                return false;
            where[n] = 0;
        }
        return true;
    }
    return got && json_equal((json_t *)want, (json_t *)got);
}

static void check_result(struct scenario *sc, const char *where, const json_t *want, const json_t *got_ids)
{
    json_t *got = with_names((json_t *)got_ids, sc->names);
    json_t *plain = json_deep_copy(want);
    const json_t *notes = json_object_get(want, "notes"), *devices = json_object_get(want, "devices");
    const json_t *save = json_object_get(want, "save"), *v;
    char path[256] = "";
    const char *k;
    size_t i;

    /* every answer: its tags are a set (a flow cache indexes them so) */
    const json_t *tags = json_object_get(json_object_get(got_ids, "flow"), "tags"), *t1, *t2;
    size_t a1, a2;
    json_array_foreach(tags, a1, t1)
        json_array_foreach(tags, a2, t2)
            if (a1 < a2 && json_equal((json_t *)t1, (json_t *)t2))
                fail_at(sc->path, where, "tag %s appears twice", json_string_value(t1));
    json_object_del(plain, "notes");
    json_object_del(plain, "devices");
    json_object_del(plain, "save");
    if (!subset(plain, got, path, sizeof(path))) {
        char *w = dump(plain), *g = dump(got);
        fail_at(sc->path, where, "mismatch at %s\n  expected %s\n  got      %s", path, w, g);
    }
    json_array_foreach(notes, i, v) {
        bool found = false;
        const json_t *h;
        size_t k2;
        json_array_foreach(json_object_get(got, "hops"), k2, h)
            found |= strstr(json_string_value(json_object_get(h, "note")) ?: "", json_string_value(v)) != NULL;
        if (!found) {
            char *g = dump(json_object_get(got, "hops"));
            fail_at(sc->path, where, "no hop note holds \"%s\"; hops: %s", json_string_value(v), g);
        }
    }
    if (devices) {
        json_t *seq = json_array(), *h;
        json_array_foreach(json_object_get(got, "hops"), i, h)
            json_array_append(seq, json_object_get(h, "device"));
        if (!json_equal(seq, (json_t *)devices)) {
            char *w = dump(devices), *g = dump(seq);
            fail_at(sc->path, where, "hops crossed %s, expected %s", g, w);
        }
        json_decref(seq);
    }
    json_object_foreach((json_t *)save, k, v) {
        const json_t *x = at_path(got, json_string_value(v));
        if (!x)
            fail_at(sc->path, where, "save %s: nothing at %s", k, json_string_value(v));
        json_object_set_new(sc->vars, k, json_deep_copy(x));
    }
    json_decref(plain);
    json_decref(got);
}

static json_t *run_trace(struct scenario *sc, const char *where, const json_t *request)
{
    struct sim_error err;
    json_t *req = with_vars(request, sc->vars, sc->path), *resp = NULL;

    sc->now_ns += 1000000000ull;
    if (sim_trace_json(sc->topo, sc->state, req, sc->now_ns, &resp, &err) < 0)
        fail_at(sc->path, where, "trace refused: %s", err.msg);
    json_decref(req);
    return resp;
}

/* The request with its one packet copied n times, 'vary' + i in each. */
static json_t *repeated(struct scenario *sc, const char *where, const json_t *request, size_t n, const char *vary)
{
    json_t *req = json_deep_copy(request), *pkts = json_array();
    const json_t *one = json_array_get(json_object_get(request, "packets"), 0);
    json_int_t base = json_integer_value(json_object_get(one, vary));

    if (!one || json_array_size(json_object_get(request, "packets")) != 1 || !json_is_integer(json_object_get(one, vary)))
        fail_at(sc->path, where, "repeat/spread need one packet with an integer '%s'", vary);
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_deep_copy(one);
        json_object_set_new(p, vary, json_integer(base + (json_int_t)i));
        json_array_append_new(pkts, p);
    }
    json_object_set_new(req, "packets", pkts);
    return req;
}

static void step_trace(struct scenario *sc, const char *where, const json_t *step)
{
    const json_t *expect = json_object_get(step, "expect");
    json_int_t repeat = json_integer_value(json_object_get(step, "repeat"));
    json_t *req = repeat ? repeated(sc, where, json_object_get(step, "trace"), (size_t)repeat,
                                    json_string_value(json_object_get(step, "vary")) ?: "src_port")
                         : json_incref(json_object_get(step, "trace"));
    json_t *resp = run_trace(sc, where, req);
    const json_t *results = json_object_get(resp, "results"), *r;
    size_t i;

    if (!repeat && json_array_size(expect) != json_array_size(results))
        fail_at(sc->path, where, "%zu results for %zu expectations", json_array_size(results), json_array_size(expect));
    json_array_foreach(results, i, r) {
        char w[96];
        snprintf(w, sizeof(w), "%s packet %zu", where, i);
        check_result(sc, w, json_array_get(expect, repeat ? 0 : i), r);
    }
    json_decref(resp);
    json_decref(req);
}

/* ECMP: flows spread over the given ports, each flow stays on one. */
static void step_spread(struct scenario *sc, const char *where, const json_t *step)
{
    json_int_t flows = json_integer_value(json_object_get(step, "flows"));
    const char *vary = json_string_value(json_object_get(step, "vary")) ?: "src_port";
    const json_t *ports = json_object_get(step, "ports");
    json_t *req = repeated(sc, where, json_object_get(step, "spread"), (size_t)flows, vary);
    json_t *first = run_trace(sc, where, req), *again = run_trace(sc, where, req);
    json_t *used = json_object();
    size_t i;

    for (i = 0; i < (size_t)flows; i++) {
        json_t *a = with_names(json_array_get(json_object_get(first, "results"), i), sc->names);
        json_t *b = with_names(json_array_get(json_object_get(again, "results"), i), sc->names);
        const char *pa = json_string_value(at_path(a, "outputs.0.port"));
        const char *pb = json_string_value(at_path(b, "outputs.0.port"));
        bool allowed = false;
        const json_t *p;
        size_t k;
        json_array_foreach(ports, k, p)
            allowed |= pa && !strcmp(pa, json_string_value(p));
        if (!allowed)
            fail_at(sc->path, where, "flow %zu left by %s, not one of the ECMP ports", i, pa ? pa : "(nothing)");
        if (!pb || strcmp(pa, pb))
            fail_at(sc->path, where, "flow %zu left by %s, then by %s", i, pa, pb ? pb : "(nothing)");
        json_object_set_new(used, pa, json_true());
        json_decref(a);
        json_decref(b);
    }
    if (json_object_size(used) != json_array_size(ports)) {
        char *u = dump(used);
        fail_at(sc->path, where, "%lld flows used only %s", (long long)flows, u);
    }
    json_decref(used);
    json_decref(first);
    json_decref(again);
    json_decref(req);
}

static json_t *load_topology(struct scenario *sc, const json_t *t)
{
    if (json_is_string(t)) {
        char p[600];
        json_error_t e;
        snprintf(p, sizeof(p), "%s/%s", SCENARIO_DIR, json_string_value(t));
        json_t *doc = json_load_file(p, 0, &e);
        if (!doc)
            fail_at(sc->path, "topology", "%s: %s", p, e.text);
        return doc;
    }
    return json_incref((json_t *)t);
}

static void check_refused(struct scenario *sc, const json_t *cases)
{
    const json_t *c;
    size_t i;

    json_array_foreach(cases, i, c) {
        struct sim_topo *t;
        struct sim_error err;
        char where[32];
        const char *want = json_string_value(json_object_get(c, "error")) ?: "";
        const char *field = json_string_value(json_object_get(c, "field"));

        snprintf(where, sizeof(where), "refused[%zu]", i);
        assert_int_equal(sim_topo_create(&t), 0);
        if (sim_topo_load(t, json_object_get(c, "topology"), &err) == 0)
            fail_at(sc->path, where, "the document was accepted; expected an error holding \"%s\"", want);
        if (!strstr(err.msg, want))
            fail_at(sc->path, where, "error \"%s\" does not hold \"%s\"", err.msg, want);
        if (field && strcmp(err.field, field))
            fail_at(sc->path, where, "error names field \"%s\", expected \"%s\" (%s)", err.field, field, err.msg);
        sim_topo_destroy(t);
    }
}

static void run_scenario(void **state)
{
    struct scenario *sc = *state;
    json_error_t e;
    struct sim_error err;
    const json_t *step;
    size_t i;

    sc->doc = json_load_file(sc->path, 0, &e);
    if (!sc->doc)
        fail_at(sc->path, "file", "not JSON: %s (line %d)", e.text, e.line);
    check_refused(sc, json_object_get(sc->doc, "refused"));
    if (!json_object_get(sc->doc, "topology"))
        return;

    json_t *topo_doc = load_topology(sc, json_object_get(sc->doc, "topology"));
    assert_int_equal(sim_topo_create(&sc->topo), 0);
    assert_int_equal(sim_state_create(&sc->state, NULL), 0);
    if (sim_topo_load(sc->topo, topo_doc, &err) < 0)
        fail_at(sc->path, "topology", "refused: %s", err.msg);
    json_decref(topo_doc);

    /* names for ids, from the loaded topology (ids it generated included) */
    json_t *exp = sim_topo_export(sc->topo), *arr, *o;
    const char *k;
    sc->names = json_object();
    sc->vars = json_object();
    json_object_foreach(exp, k, arr) {
        size_t n;
        json_array_foreach(arr, n, o) {
            const char *name = json_string_value(json_object_get(o, "name"));
            if (name)
                json_object_set_new(sc->names, json_string_value(json_object_get(o, "id")), json_string(name));
        }
    }
    json_decref(exp);

    json_array_foreach(json_object_get(sc->doc, "steps"), i, step) {
        char where[32];
        snprintf(where, sizeof(where), "steps[%zu]", i);
        if (json_object_get(step, "spread"))
            step_spread(sc, where, step);
        else
            step_trace(sc, where, step);
    }
}

static int teardown(void **state)
{
    struct scenario *sc = *state;

    json_decref(sc->doc);
    json_decref(sc->names);
    json_decref(sc->vars);
    sim_state_destroy(sc->state);
    sim_topo_destroy(sc->topo);
    sc->doc = sc->names = sc->vars = NULL;
    sc->state = NULL;
    sc->topo = NULL;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct CMUnitTest *)a)->name, ((const struct CMUnitTest *)b)->name);
}

int main(void)
{
    DIR *d = opendir(SCENARIO_DIR);
    struct dirent *de;
    struct CMUnitTest *tests = NULL;
    struct scenario *scs = NULL;
    size_t n = 0, cap = 0;
    int rc;

    if (!d) {
        fprintf(stderr, "%s: %s (run from the top of the tree)\n", SCENARIO_DIR, strerror(errno));
        return 1;
    }
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            tests = realloc(tests, cap * sizeof(*tests));
            scs = realloc(scs, cap * sizeof(*scs));
            assert_non_null(tests);
            assert_non_null(scs);
        }
        memset(&scs[n], 0, sizeof(scs[n]));
        snprintf(scs[n].path, sizeof(scs[n].path), "%s/%s", SCENARIO_DIR, de->d_name);
        tests[n] = (struct CMUnitTest){.name = strdup(de->d_name), .test_func = run_scenario,
                                       .teardown_func = teardown};
        n++;
    }
    closedir(d);
    qsort(tests, n, sizeof(*tests), by_name);
    for (size_t i = 0; i < n; i++) {   /* states follow the sorted names */
        snprintf(scs[i].path, sizeof(scs[i].path), "%s/%s", SCENARIO_DIR, tests[i].name);
        tests[i].initial_state = &scs[i];
    }
    rc = _cmocka_run_group_tests("sim scenarios", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        free((char *)tests[i].name);
    free(tests);
    free(scs);
    return rc;
}
