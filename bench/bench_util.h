/*
 * bench/bench_util.h: what every benchmark prints with: a clock, peak RSS,
 * and one line per figure next to its baseline as a ratio.
 */
#ifndef RP_BENCH_UTIL_H
#define RP_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Peak resident memory of this process so far, in MiB. */
static inline double bench_peak_rss_mib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* Current resident memory in MiB (from /proc/self/statm). */
static inline double bench_rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, rss = 0;

    if (f) {
        if (fscanf(f, "%lu %lu", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (double)rss * 4096.0 / (1024.0 * 1024.0);
}

/* One figure: "name: X ops/s, Y ns/op | baseline (what): X ops/s, Y ns/op | ratio R.RRx". */
static inline void bench_report(const char *name, double ops, double secs, const char *base_name, double base_ops,
                                double base_secs)
{
    double rate = ops / secs, base_rate = base_ops / base_secs;

    printf("%-44s %10.2f Mops/s %8.2f ns/op | baseline %-22s %10.2f Mops/s %8.2f ns/op | %6.2fx | peak RSS %.0f MiB\n",
           name, rate / 1e6, secs * 1e9 / ops, base_name, base_rate / 1e6, base_secs * 1e9 / base_ops,
           rate / base_rate, bench_peak_rss_mib());
}

/* xorshift64: cheap deterministic inputs. */
static inline uint64_t bench_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#endif
