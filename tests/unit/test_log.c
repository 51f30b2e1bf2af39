/* Logging: level filtering, line format, rate limiting with a suppressed count. */
#include "lib/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *capture(void (*fn)(void))
{
    static char buf[8192];
    FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");

    memset(buf, 0, sizeof(buf));
    log_set_stream(f);
    fn();
    fclose(f);
    log_set_stream(NULL);
    return buf;
}

static void emit_levels(void)
{
    log_debug("dbg %d", 1);
    log_info("info %d", 2);
    log_warn("warn %d", 3);
    log_err("err %d", 4);
}

static void test_messages_below_the_level_are_dropped(void **state)
{
    (void)state;
    log_init("rampart-test", LOGL_WARN, LOG_DEST_STDERR);
    char *out = capture(emit_levels);
    assert_null(strstr(out, "dbg 1"));
    assert_null(strstr(out, "info 2"));
    assert_non_null(strstr(out, "warn 3"));
    assert_non_null(strstr(out, "err 4"));
}

static void test_line_carries_time_ident_pid_and_level(void **state)
{
    (void)state;
    log_init("rampart-test", LOGL_DEBUG, LOG_DEST_STDERR);
    char *out = capture(emit_levels);
    char *line = strstr(out, "warn 3");
    assert_non_null(line);
    assert_non_null(strstr(out, "Z rampart-test["));
    assert_non_null(strstr(out, "] warn: warn 3\n"));
    assert_non_null(strstr(out, "] debug: dbg 1\n"));
    assert_true(out[4] == '-' && out[10] == 'T');
}

static void flood(void)
{
    for (int i = 0; i < 100; i++)
        log_ratelimited(LOGL_WARN, "flood %d", i);
}

static void test_rate_limit_holds_back_a_flood(void **state)
{
    (void)state;
    log_init("rampart-test", LOGL_DEBUG, LOG_DEST_STDERR);
    char *out = capture(flood);
    int lines = 0;
    for (char *p = out; (p = strstr(p, "flood ")); p++)
        lines++;
    assert_int_equal(lines, LOG_RATE_BURST);
    assert_null(strstr(out, "flood 99"));
}

static void test_rate_limit_reports_suppressed_count_later(void **state)
{
    (void)state;
    struct log_rate rs = {0};
    log_init("rampart-test", LOGL_DEBUG, LOG_DEST_STDERR);
    static char buf[4096];
    FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
    log_set_stream(f);
    for (int i = 0; i < 12; i++)
        log_ratelimited_msg(&rs, LOGL_WARN, "x%d", i);
    rs.window_start_ns -= 2000000000ull;   /* as if a second has passed */
    log_ratelimited_msg(&rs, LOGL_WARN, "later");
    fclose(f);
    log_set_stream(NULL);
    assert_non_null(strstr(buf, "(7 similar messages suppressed)"));
    assert_non_null(strstr(buf, "later"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_below_the_level_are_dropped),
        cmocka_unit_test(test_line_carries_time_ident_pid_and_level),
        cmocka_unit_test(test_rate_limit_holds_back_a_flood),
        cmocka_unit_test(test_rate_limit_reports_suppressed_count_later),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
