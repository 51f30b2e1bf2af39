/*
 * lib/log.c: levelled, rate-limited logging.
 */
#include "lib/log.h"

#include <stdarg.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int syslog_levels[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

static char log_ident[32] = "rampart";
static enum log_level log_min = LOGL_INFO;
static enum log_dest log_to = LOG_DEST_STDERR;
static FILE *log_stream;

void log_init(const char *ident, enum log_level min_level, enum log_dest dest)
{
    snprintf(log_ident, sizeof(log_ident), "%s", ident ? ident : "rampart");
    log_min = min_level;
    log_to = dest;
    if (dest == LOG_DEST_SYSLOG)
        openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level min_level)
{
    log_min = min_level;
}

enum log_level log_get_level(void)
{
    return log_min;
}

void log_set_stream(FILE *f)
{
    log_stream = f;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    char msg[1024];
    struct timespec ts;
    struct tm tm;
    FILE *out;

    if (level > log_min || level < LOGL_ERR)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (log_to == LOG_DEST_SYSLOG && !log_stream) {
        syslog(syslog_levels[level], "%s", msg);
        return;
    }
    out = log_stream ? log_stream : stderr;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    /* One fprintf per line so concurrent writers do not interleave mid-line. */
    fprintf(out, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: %s\n", tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident, (int)getpid(),
            level_names[level], msg);
    fflush(out);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

void log_ratelimited_msg(struct log_rate *rs, enum log_level level, const char *fmt, ...)
{
    struct timespec ts;
    uint64_t now;
    va_list ap;

    if (level > log_min)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    if (now - rs->window_start_ns >= 1000000000ull) {
        if (rs->suppressed)
            log_msg(level, "(%u similar messages suppressed)", rs->suppressed);
        rs->window_start_ns = now;
        rs->in_window = 0;
        rs->suppressed = 0;
    }
    if (rs->in_window >= LOG_RATE_BURST) {
        rs->suppressed++;
        return;
    }
    rs->in_window++;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}
