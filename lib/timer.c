/*
 * lib/timer.c: the hashed timer wheel (see timer.h).
 */
#include "lib/timer.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

uint64_t timer_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int timer_wheel_init(struct timer_wheel *tw, uint64_t now_ns, uint64_t tick_ns)
{
    if (!tw || tick_ns == 0)
        return -EINVAL;
    tw->slots = calloc(TIMER_WHEEL_SLOTS, sizeof(*tw->slots));
    if (!tw->slots)
        return -ENOMEM;
    tw->mask = TIMER_WHEEL_SLOTS - 1;
    tw->base_ns = now_ns;
    tw->tick_ns = tick_ns;
    tw->cur_tick = 0;
    tw->pending = 0;
    tw->running = false;
    return 0;
}

void timer_wheel_destroy(struct timer_wheel *tw)
{
    if (!tw)
        return;
    free(tw->slots);
    tw->slots = NULL;
}

static void link_timer(struct timer **head, struct timer *t)
{
    t->next = *head;
    if (t->next)
        t->next->pprev = &t->next;
    t->pprev = head;
    *head = t;
}

static void unlink_timer(struct timer *t)
{
    *t->pprev = t->next;
    if (t->next)
        t->next->pprev = t->pprev;
    t->next = NULL;
    t->pprev = NULL;
}

void timer_stop(struct timer_wheel *tw, struct timer *t)
{
    if (!t->pprev)
        return;
    unlink_timer(t);
    tw->pending--;
}

void timer_start(struct timer_wheel *tw, struct timer *t, uint64_t expires_ns, timer_cb cb, void *arg)
{
    uint64_t tick;

    timer_stop(tw, t);
    /* Round up: a timer never fires before its time. */
    tick = expires_ns <= tw->base_ns ? 0 : (expires_ns - tw->base_ns + tw->tick_ns - 1) / tw->tick_ns;
    /* While a tick is being run, a timer started for it (or earlier) goes
     * to the next tick rather than wait a whole revolution. */
    if (tick < tw->cur_tick + tw->running)
        tick = tw->cur_tick + tw->running;
    t->expires_tick = tick;
    t->cb = cb;
    t->arg = arg;
    link_timer(&tw->slots[tick & tw->mask], t);
    tw->pending++;
}

/* Fire the due timers of one slot, up to 'budget'. Returns how many fired;
 * *complete is false when the budget ran out first. */
static unsigned run_slot(struct timer_wheel *tw, uint32_t slot, uint64_t now_tick, unsigned budget, bool *complete)
{
    struct timer *list = NULL, *keep = NULL;
    unsigned fired = 0;

    /* Detach the slot; taking always the head keeps iteration safe when a
     * callback stops another timer of this list. */
    list = tw->slots[slot];
    tw->slots[slot] = NULL;
    if (list)
        list->pprev = &list;
    while (list) {
        struct timer *t = list;

        if (fired == budget) {
            *complete = false;
            break;
        }
        unlink_timer(t);
        if (t->expires_tick <= now_tick) {
            tw->pending--;
            fired++;
            t->cb(t, t->arg);
        } else {
            link_timer(&keep, t);
        }
    }
    /* Put back what did not fire: the rest of the list and the kept ones. */
    while (list) {
        struct timer *t = list;
        unlink_timer(t);
        link_timer(&tw->slots[slot], t);
    }
    while (keep) {
        struct timer *t = keep;
        unlink_timer(t);
        link_timer(&tw->slots[slot], t);
    }
    return fired;
}

unsigned timer_wheel_advance(struct timer_wheel *tw, uint64_t now_ns, unsigned max_events)
{
    uint64_t now_tick = now_ns <= tw->base_ns ? 0 : (now_ns - tw->base_ns) / tw->tick_ns;
    unsigned fired = 0;
    bool complete = true;

    if (now_tick < tw->cur_tick)
        return 0;
    tw->running = true;
    if (now_tick - tw->cur_tick >= TIMER_WHEEL_SLOTS) {
        /* After a long gap every slot is visited once, not once per tick. */
        uint64_t start = tw->cur_tick;

        tw->cur_tick = now_tick;
        for (uint32_t i = 0; i <= tw->mask && complete; i++)
            fired += run_slot(tw, (uint32_t)((start + i) & tw->mask), now_tick, max_events - fired, &complete);
        tw->cur_tick = complete ? now_tick + 1 : start;
    } else {
        while (tw->cur_tick <= now_tick && complete) {
            fired += run_slot(tw, (uint32_t)(tw->cur_tick & tw->mask), tw->cur_tick, max_events - fired,
                              &complete);
            if (complete)
                tw->cur_tick++;
        }
    }
    tw->running = false;
    return fired;
}
