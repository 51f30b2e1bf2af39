/* Config tables: defaults, bounds, types, unknown settings, reload. */
#include "lib/conf.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

struct settings {
    int64_t port;
    bool verbose;
    char name[16];
    int backend;
    uint32_t tunnel_ip;
};

static const char *const backends[] = {"sqlite", "zookeeper", NULL};

static const struct conf_item items[] = {
    {"api.port", CONF_INT, offsetof(struct settings, port), 0, 1, 65535, NULL, "8080", true, "port"},
    {"api.verbose", CONF_BOOL, offsetof(struct settings, verbose), 0, 0, 0, NULL, "false", true, "v"},
    {"host.name", CONF_STRING, offsetof(struct settings, name), 16, 0, 0, NULL, NULL, false, "name"},
    {"store.backend", CONF_ENUM, offsetof(struct settings, backend), 0, 0, 0, backends, "sqlite", false, "b"},
    {"host.tunnel_ip", CONF_IPV4, offsetof(struct settings, tunnel_ip), 0, 0, 0, NULL, "127.0.0.1", false, "t"},
};
#define N_ITEMS (sizeof(items) / sizeof(items[0]))

static char path[64];

static void write_conf(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_file_values_override_defaults(void **state)
{
    (void)state;
    struct settings s;
    char err[CONF_ERR_MAX];

    write_conf("host: { name = \"hv-1\"; tunnel_ip = \"172.31.0.11\"; };\napi: { port = 9000; };\n"
               "store: { backend = \"zookeeper\"; };\n");
    assert_int_equal(conf_load(items, N_ITEMS, path, &s, sizeof(s), err), 0);
    assert_int_equal(s.port, 9000);
    assert_false(s.verbose);
    assert_string_equal(s.name, "hv-1");
    assert_int_equal(s.backend, 1);
    assert_int_equal(s.tunnel_ip, 0xac1f000b);
}

static void test_out_of_bounds_value_names_setting_and_line(void **state)
{
    (void)state;
    struct settings s = {.port = 1};
    char err[CONF_ERR_MAX];

    write_conf("host: { name = \"x\"; };\napi: {\n port = 70000;\n};\n");
    assert_int_equal(conf_load(items, N_ITEMS, path, &s, sizeof(s), err), -EINVAL);
    assert_non_null(strstr(err, "api.port"));
    assert_non_null(strstr(err, "line 3"));
    assert_int_equal(s.port, 1);   /* untouched on error */
}

static void test_unknown_setting_is_refused(void **state)
{
    (void)state;
    struct settings s;
    char err[CONF_ERR_MAX];

    write_conf("host: { name = \"x\"; nmae = \"typo\"; };\n");
    assert_int_equal(conf_load(items, N_ITEMS, path, &s, sizeof(s), err), -EINVAL);
    assert_non_null(strstr(err, "host.nmae"));
}

static void test_wrong_type_and_bad_values_are_refused(void **state)
{
    (void)state;
    struct settings s;
    char err[CONF_ERR_MAX];

    write_conf("host: { name = \"x\"; };\napi: { port = \"eighty\"; };\n");
    assert_int_equal(conf_load(items, N_ITEMS, path, &s, sizeof(s), err), -EINVAL);
    assert_non_null(strstr(err, "api.port"));
    write_conf("host: { name = \"x\"; tunnel_ip = \"10.0.0.300\"; };\n");
    assert_int_equal(conf_load(items, N_ITEMS, path, &s, sizeof(s), err), -EINVAL);
    assert_non_null(strstr(err, "host.tunnel_ip"));
    write_conf("host: { name = \"x\"; };\nstore: { backend = \"etcd\"; };\n");
    assert_int_equal(conf_load(items, N_ITEMS, path, &s, sizeof(s), err), -EINVAL);
    assert_non_null(strstr(err, "store.backend"));
    write_conf("host: { name = \"this name is far too long\"; };\n");
    assert_int_equal(conf_load(items, N_ITEMS, path, &s, sizeof(s), err), -EINVAL);
    assert_non_null(strstr(err, "host.name"));
}

static void test_missing_required_and_syntax_errors_are_refused(void **state)
{
    (void)state;
    struct settings s;
    char err[CONF_ERR_MAX];

    write_conf("api: { port = 80; };\n");
    assert_int_equal(conf_load(items, N_ITEMS, path, &s, sizeof(s), err), -EINVAL);
    assert_non_null(strstr(err, "host.name"));
    write_conf("api: { port = 80 \n");
    assert_int_equal(conf_load(items, N_ITEMS, path, &s, sizeof(s), err), -EINVAL);
    assert_true(strlen(err) > 0);
    assert_int_equal(conf_load(items, N_ITEMS, "/nonexistent/rampart.conf", &s, sizeof(s), err), -EINVAL);
    assert_non_null(strstr(err, "cannot read"));
}

static void test_reload_applies_reloadable_and_lists_the_rest(void **state)
{
    (void)state;
    struct settings s;
    char err[CONF_ERR_MAX], restart[128];

    write_conf("host: { name = \"a\"; };\n");
    assert_int_equal(conf_load(items, N_ITEMS, path, &s, sizeof(s), err), 0);
    write_conf("host: { name = \"b\"; };\napi: { port = 81; verbose = true; };\n");
    assert_int_equal(conf_reload(items, N_ITEMS, path, &s, sizeof(s), restart, sizeof(restart), err), 0);
    assert_int_equal(s.port, 81);
    assert_true(s.verbose);
    assert_string_equal(s.name, "a");
    assert_string_equal(restart, "host.name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_values_override_defaults),
        cmocka_unit_test(test_out_of_bounds_value_names_setting_and_line),
        cmocka_unit_test(test_unknown_setting_is_refused),
        cmocka_unit_test(test_wrong_type_and_bad_values_are_refused),
        cmocka_unit_test(test_missing_required_and_syntax_errors_are_refused),
        cmocka_unit_test(test_reload_applies_reloadable_and_lists_the_rest),
    };
    int rc;

    snprintf(path, sizeof(path), "/tmp/rampart-test-conf-%d.conf", (int)getpid());
    rc = cmocka_run_group_tests_name("conf", tests, NULL, NULL);
    unlink(path);
    return rc;
}
