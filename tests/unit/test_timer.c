/* Timer wheel: never early, order, stop, restart from a callback, bounded
 * work per advance, far-future timers, many random timers vs a reference. */
#include "lib/timer.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MS 1000000ull

struct rec {
    struct timer t;
    uint64_t due, fired_at;
    int fired;
};

static uint64_t now;

static void on_fire(struct timer *t, void *arg)
{
    struct rec *r = arg;
    (void)t;
    r->fired++;
    r->fired_at = now;
}

static void test_timer_fires_once_not_before_its_time(void **state)
{
    (void)state;
    struct timer_wheel tw;
    struct rec r = {0};
    now = 1000 * MS;
    assert_int_equal(timer_wheel_init(&tw, now, MS), 0);
    timer_start(&tw, &r.t, now + 10 * MS + 1, on_fire, &r);
    for (int i = 1; i <= 10; i++) {
        now += MS;
        timer_wheel_advance(&tw, now, 100);
        assert_int_equal(r.fired, 0);
    }
    now += MS;
    assert_int_equal(timer_wheel_advance(&tw, now, 100), 1);
    assert_int_equal(r.fired, 1);
    assert_false(timer_pending(&r.t));
    now += 100 * MS;
    assert_int_equal(timer_wheel_advance(&tw, now, 100), 0);
    timer_wheel_destroy(&tw);
}

static void test_stopped_timer_never_fires(void **state)
{
    (void)state;
    struct timer_wheel tw;
    struct rec r = {0};
    now = 0;
    assert_int_equal(timer_wheel_init(&tw, now, MS), 0);
    timer_start(&tw, &r.t, 5 * MS, on_fire, &r);
    assert_true(timer_pending(&r.t));
    timer_stop(&tw, &r.t);
    timer_stop(&tw, &r.t);
    now = 50 * MS;
    assert_int_equal(timer_wheel_advance(&tw, now, 100), 0);
    assert_int_equal(tw.pending, 0);
    timer_wheel_destroy(&tw);
}

static struct timer_wheel *g_tw;
static void rearm(struct timer *t, void *arg)
{
    struct rec *r = arg;
    r->fired++;
    if (r->fired < 5)
        timer_start(g_tw, t, now, rearm, r);   /* due immediately: next tick, not next revolution */
}

static void test_callback_can_restart_its_own_timer(void **state)
{
    (void)state;
    struct timer_wheel tw;
    struct rec r = {0};
    g_tw = &tw;
    now = 0;
    assert_int_equal(timer_wheel_init(&tw, now, MS), 0);
    timer_start(&tw, &r.t, MS, rearm, &r);
    for (int i = 0; i < 10; i++) {
        now += MS;
        timer_wheel_advance(&tw, now, 100);
    }
    assert_int_equal(r.fired, 5);
    timer_wheel_destroy(&tw);
}

static void test_advance_fires_at_most_max_events_and_keeps_the_rest(void **state)
{
    (void)state;
    struct timer_wheel tw;
    static struct rec r[100];
    memset(r, 0, sizeof(r));
    now = 0;
    assert_int_equal(timer_wheel_init(&tw, now, MS), 0);
    for (int i = 0; i < 100; i++)
        timer_start(&tw, &r[i].t, 3 * MS, on_fire, &r[i]);
    now = 10 * MS;
    assert_int_equal(timer_wheel_advance(&tw, now, 30), 30);
    assert_int_equal(timer_wheel_advance(&tw, now, 30), 30);
    assert_int_equal(timer_wheel_advance(&tw, now, 1000), 40);
    for (int i = 0; i < 100; i++)
        assert_int_equal(r[i].fired, 1);
    timer_wheel_destroy(&tw);
}

static void test_far_future_timers_fire_on_time_after_long_gaps(void **state)
{
    (void)state;
    struct timer_wheel tw;
    struct rec hour = {0}, day = {0};
    now = 0;
    assert_int_equal(timer_wheel_init(&tw, now, MS), 0);
    timer_start(&tw, &hour.t, 3600ull * 1000 * MS, on_fire, &hour);
    timer_start(&tw, &day.t, 86400ull * 1000 * MS, on_fire, &day);
    now = 3599ull * 1000 * MS;
    timer_wheel_advance(&tw, now, 1000);
    assert_int_equal(hour.fired, 0);
    now = 3600ull * 1000 * MS;
    timer_wheel_advance(&tw, now, 1000);
    assert_int_equal(hour.fired, 1);
    assert_int_equal(day.fired, 0);
    now = 86400ull * 1000 * MS;
    timer_wheel_advance(&tw, now, 1000);
    assert_int_equal(day.fired, 1);
    timer_wheel_destroy(&tw);
}

static void test_random_timers_match_reference_order_and_times(void **state)
{
    (void)state;
    struct timer_wheel tw;
    enum { N = 20000 };
    struct rec *r = calloc(N, sizeof(*r));
    uint64_t s = 7;
    now = 0;
    assert_int_equal(timer_wheel_init(&tw, now, MS), 0);
    for (int i = 0; i < N; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        r[i].due = (s % 20000) * MS + (s % 7);
        timer_start(&tw, &r[i].t, r[i].due, on_fire, &r[i]);
        if (i % 5 == 0)
            timer_stop(&tw, &r[i].t);
    }
    while (now < 21000 * MS) {
        now += 3 * MS;
        timer_wheel_advance(&tw, now, 1u << 30);
    }
    for (int i = 0; i < N; i++) {
        if (i % 5 == 0) {
            assert_int_equal(r[i].fired, 0);
            continue;
        }
        assert_int_equal(r[i].fired, 1);
        assert_true(r[i].fired_at >= r[i].due);
        assert_true(r[i].fired_at < r[i].due + 4 * MS);
    }
    free(r);
    timer_wheel_destroy(&tw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_fires_once_not_before_its_time),
        cmocka_unit_test(test_stopped_timer_never_fires),
        cmocka_unit_test(test_callback_can_restart_its_own_timer),
        cmocka_unit_test(test_advance_fires_at_most_max_events_and_keeps_the_rest),
        cmocka_unit_test(test_far_future_timers_fire_on_time_after_long_gaps),
        cmocka_unit_test(test_random_timers_match_reference_order_and_times),
    };
    return cmocka_run_group_tests_name("timer", tests, NULL, NULL);
}
