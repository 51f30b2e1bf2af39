/*
 * lib/log.h: levelled logging to stderr or syslog.
 *
 * One line per call, with time, program, pid and level:
 *   2026-11-24T19:40:00.123Z rampart-agent[412] warn: uplink eth1 is down
 * The fast path must never log without bound: it uses log_ratelimited(),
 * which lets a call site through a few times per second and then reports
 * how many lines it held back.
 */
#ifndef RP_LIB_LOG_H
#define RP_LIB_LOG_H

#include <stdint.h>
#include <stdio.h>

/* Not LOG_ERR etc.: those are syslog.h macros. */
enum log_level { LOGL_ERR = 0, LOGL_WARN, LOGL_INFO, LOGL_DEBUG };
enum log_dest { LOG_DEST_STDERR, LOG_DEST_SYSLOG };

void log_init(const char *ident, enum log_level min_level, enum log_dest dest);
void log_set_level(enum log_level min_level);
enum log_level log_get_level(void);
/* Tests: send stderr-style lines to 'f' instead (NULL restores stderr). */
void log_set_stream(FILE *f);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOGL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOGL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOGL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOGL_DEBUG, __VA_ARGS__)

/* Per-call-site budget: at most LOG_RATE_BURST lines per second. */
#define LOG_RATE_BURST 5
struct log_rate {
    uint64_t window_start_ns;
    uint32_t in_window;
    uint32_t suppressed;
};

void log_ratelimited_msg(struct log_rate *rs, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_ratelimited(level, ...)                                                                \
    do {                                                                                           \
        static struct log_rate log_rate_site_;                                                     \
        log_ratelimited_msg(&log_rate_site_, (level), __VA_ARGS__);                                \
    } while (0)

#endif
