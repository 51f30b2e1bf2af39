/*
 * lib/timer.h: a hashed timer wheel for millions of timers (flow idle
 * timeouts, NAT expiry, leases, protocol timers).
 *
 * A struct timer lives inside its owner's object: starting and stopping
 * allocate nothing and cost O(1). Each timer keeps its absolute expiry tick
 * and sits in slot (tick mod slots), so timers hours away cost nothing
 * extra; timer_wheel_advance() fires what is due, at most max_events per
 * call (a loop turn handles at most N events; the rest stay due for the
 * next call). Callbacks may start or stop any timer, their own included.
 * Not thread-safe: one wheel per thread.
 */
#ifndef RP_LIB_TIMER_H
#define RP_LIB_TIMER_H

#include "lib/types.h"

struct timer;
typedef void (*timer_cb)(struct timer *t, void *arg);

struct timer {
    struct timer *next, **pprev;   /* pprev NULL = not pending */
    uint64_t expires_tick;
    timer_cb cb;
    void *arg;
};

struct timer_wheel {
    struct timer **slots;
    uint32_t mask;                 /* n_slots - 1 */
    uint64_t base_ns, tick_ns;
    uint64_t cur_tick;             /* next tick to process */
    uint64_t pending;
    bool running;                  /* inside advance: new timers go past the tick being run */
};

#define TIMER_WHEEL_SLOTS 4096

uint64_t timer_now_ns(void);       /* CLOCK_MONOTONIC */

int timer_wheel_init(struct timer_wheel *tw, uint64_t now_ns, uint64_t tick_ns);
void timer_wheel_destroy(struct timer_wheel *tw);
/* (Re)start: fires at the first advance at or after expires_ns (never before). */
void timer_start(struct timer_wheel *tw, struct timer *t, uint64_t expires_ns, timer_cb cb, void *arg);
void timer_stop(struct timer_wheel *tw, struct timer *t);   /* safe when not pending */
static inline bool timer_pending(const struct timer *t)
{
    return t->pprev != NULL;
}
unsigned timer_wheel_advance(struct timer_wheel *tw, uint64_t now_ns, unsigned max_events);

#endif
