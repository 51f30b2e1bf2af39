/*
 * bgp/bgp_sup.c: run BIRD as a supervised child and feed it configs.
 *
 * The life of the child is a table [state][event] -> {handler, next}.
 * Events come from bgp_sup_start/stop (the caller) and bgp_sup_poll (the
 * child exited, a deadline passed, the control socket answered). Handlers
 * only act on the child (spawn, signal) and set the one deadline; the table
 * decides where that leaves us, so every case is visible in one place.
 *
 * BIRD runs in the foreground (-f): a daemonized BIRD exits 0 even when it
 * later dies, so only a direct child can be watched. It gets
 * PR_SET_PDEATHSIG=SIGTERM so a crashed gateway takes its routes with it
 * (the signal follows the thread that forked: call from the main thread).
 */
#include "bgp/bgp.h"
#include "lib/log.h"
#include "lib/timer.h"
#include "lib/types.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_ROTATE_BYTES (8 << 20)

enum sup_event { EV_START, EV_STOP, EV_EXITED, EV_TIMER, EV_READY, EV_N };

struct bgp_sup {
    struct bgp_sup_opts o;
    char bird[PATH_MAX], netns[PATH_MAX];
    char conf_path[PATH_MAX], announce_path[PATH_MAX], sock_path[108], pid_path[PATH_MAX],
        log_path[PATH_MAX];
    enum bgp_sup_state state;
    pid_t pid;
    int pidfd;
    uint64_t now_ns;          /* time of the event being handled */
    uint64_t deadline_ns;     /* 0 = none */
    uint64_t spawned_ns;
    uint32_t next_backoff_ms, wait_ms;
    unsigned restarts;
    int last_wait_status;
    uint64_t config_gen, gen_loaded;
    bool have_config;
    char last_error[512];
};

struct transition {
    int (*fn)(struct bgp_sup *s);
    enum bgp_sup_state next, next_on_error;
};

static const char *const sup_state_names[] = {
    [BGP_SUP_STOPPED] = "stopped", [BGP_SUP_STARTING] = "starting",
    [BGP_SUP_RUNNING] = "running", [BGP_SUP_BACKOFF] = "backoff",
    [BGP_SUP_STOPPING] = "stopping",
};

const char *bgp_sup_state_name(enum bgp_sup_state st)
{
    return (unsigned)st < BGP_SUP_N_STATES ? sup_state_names[st] : "?";
}

static uint64_t ms_ns(uint32_t ms)
{
    return (uint64_t)ms * 1000000u;
}

/* snprintf for messages, where cutting a long path short is fine. */
static void msgf(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msgf(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

/* ---- spawning ------------------------------------------------------------ */

static void rotate_log(const char *path)
{
    struct stat st;
    char old[PATH_MAX + 2];

    if (stat(path, &st) == 0 && st.st_size > LOG_ROTATE_BYTES) {
        snprintf(old, sizeof(old), "%s.1", path);
        rename(path, old);
    }
}

/* Fork and exec argv with stdin /dev/null, stdout+stderr to out_fd, in the
 * network namespace netns_fd (-1 = ours). Exec failures come back through
 * a close-on-exec pipe, so a missing binary is an error here, not an exit. */
static int spawn(const char *path, char *const argv[], int out_fd, int netns_fd, pid_t *pid_out)
{
    int errpipe[2], devnull, child_err = 0, rc = 0;
    pid_t parent = getpid(), pid;
    ssize_t n;

    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0)
        return -errno;
    if (pipe2(errpipe, O_CLOEXEC) < 0) {
        rc = -errno;
        goto out_null;
    }
    pid = fork();
    if (pid < 0) {
        rc = -errno;
        close(errpipe[0]);
        close(errpipe[1]);
        goto out_null;
    }
    if (pid == 0) {
        struct sigaction sa = {.sa_handler = SIG_DFL};
        sigset_t none;
        int e;

        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        setpgid(0, 0);   /* a ^C at the gateway's terminal is for the gateway */
        for (int sig = 1; sig < 32; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                sigaction(sig, &sa, NULL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) < 0)
            goto child_fail;
        if (dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
            goto child_fail;
        close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);   /* the gateway's sockets stay ours */
        execv(path, argv);
child_fail:
        e = errno;
        if (write(errpipe[1], &e, sizeof(e)) < 0)
            _exit(126);
        _exit(127);
    }
    close(errpipe[1]);
    do
        n = read(errpipe[0], &child_err, sizeof(child_err));
    while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof(child_err)) {
        waitpid(pid, NULL, 0);
        rc = -(child_err ? child_err : EIO);
        goto out_null;
    }
    *pid_out = pid;
out_null:
    close(devnull);
    return rc;
}

static void schedule_backoff(struct bgp_sup *s)
{
    s->wait_ms = s->next_backoff_ms;
    s->deadline_ns = s->now_ns + ms_ns(s->wait_ms);
    s->next_backoff_ms = s->wait_ms >= s->o.backoff_max_ms / 2 ? s->o.backoff_max_ms
                                                               : s->wait_ms * 2;
}

static int act_spawn(struct bgp_sup *s)
{
    char *argv[] = {s->bird, "-f", "-c", s->conf_path, "-s", s->sock_path, "-P", s->pid_path,
                    NULL};
    int log_fd, ns_fd = -1, rc;
    pid_t pid = 0;

    rotate_log(s->log_path);
    log_fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (log_fd < 0) {
        rc = -errno;
        goto out;
    }
    if (s->netns[0]) {
        ns_fd = open(s->netns, O_RDONLY | O_CLOEXEC);
        if (ns_fd < 0) {
            rc = -errno;
            goto out_log;
        }
    }
    rc = spawn(s->bird, argv, log_fd, ns_fd, &pid);
    if (ns_fd >= 0)
        close(ns_fd);
out_log:
    close(log_fd);
out:
    if (rc) {
        msgf(s->last_error, sizeof(s->last_error), "cannot start %s: %s", s->bird,
                 strerror(-rc));
        log_err("bgp: %s", s->last_error);
        schedule_backoff(s);
        return rc;
    }
    s->pid = pid;
    s->pidfd = pidfd_open(pid, 0);
    s->spawned_ns = s->now_ns;
    s->gen_loaded = s->config_gen;
    s->deadline_ns = s->now_ns + ms_ns(s->o.start_timeout_ms);
    log_info("bgp: started %s (pid %d)", s->bird, (int)pid);
    return 0;
}

/* ---- the other handlers --------------------------------------------------- */

static int act_term(struct bgp_sup *s)
{
    if (s->pid > 0)
        kill(s->pid, SIGTERM);
    s->deadline_ns = s->now_ns + ms_ns(s->o.stop_timeout_ms);
    return 0;
}

static int act_kill(struct bgp_sup *s)
{
    if (s->pid > 0) {
        log_warn("bgp: BIRD (pid %d) did not exit in time; SIGKILL", (int)s->pid);
        kill(s->pid, SIGKILL);
    }
    s->deadline_ns = s->now_ns + ms_ns(s->o.stop_timeout_ms);
    return 0;
}

static int act_kill_hung(struct bgp_sup *s)
{
    msgf(s->last_error, sizeof(s->last_error), "BIRD did not answer on %s within %u ms (log: %s)",
         s->sock_path, s->o.start_timeout_ms, s->log_path);
    log_warn("bgp: %s; SIGKILL", s->last_error);
    if (s->pid > 0)
        kill(s->pid, SIGKILL);
    s->deadline_ns = s->now_ns + ms_ns(s->o.stop_timeout_ms);
    return 0;
}

static int send_configure(struct bgp_sup *s)
{
    struct bgp_reply r;
    int rc = bgp_ctl_run(s->sock_path, "configure", (int)s->o.cmd_timeout_ms, &r);

    if (rc == 0 && bgp_reply_failed(&r)) {
        msgf(s->last_error, sizeof(s->last_error), "BIRD refused the configuration: %04u %s",
                 r.err_code, r.err_msg);
        rc = -EIO;
    }
    bgp_reply_free(&r);
    if (rc == 0)
        s->gen_loaded = s->config_gen;
    return rc;
}

static int act_ready(struct bgp_sup *s)
{
    s->deadline_ns = 0;
    /* Files installed while BIRD was starting may not have been read. */
    if (s->gen_loaded != s->config_gen && send_configure(s))
        log_warn("bgp: %s", s->last_error);
    return 0;
}

static int act_exited(struct bgp_sup *s)
{
    if (s->now_ns - s->spawned_ns >= ms_ns(s->o.stable_ms))
        s->next_backoff_ms = s->o.backoff_min_ms;
    s->restarts++;
    msgf(s->last_error, sizeof(s->last_error), "BIRD exited unexpectedly (%s %d; log: %s)",
         WIFSIGNALED(s->last_wait_status) ? "signal" : "exit status",
         WIFSIGNALED(s->last_wait_status) ? WTERMSIG(s->last_wait_status)
                                          : WEXITSTATUS(s->last_wait_status),
         s->log_path);
    log_warn("bgp: %s; restarting in %u ms", s->last_error, s->next_backoff_ms);
    schedule_backoff(s);
    return 0;
}

static int act_stopped(struct bgp_sup *s)
{
    s->deadline_ns = 0;
    s->next_backoff_ms = s->o.backoff_min_ms;
    return 0;
}

#define IGNORE(st) {NULL, st, st}
static const struct transition table[BGP_SUP_N_STATES][EV_N] = {
    [BGP_SUP_STOPPED] = {
        [EV_START] = {act_spawn, BGP_SUP_STARTING, BGP_SUP_BACKOFF},
        [EV_STOP] = IGNORE(BGP_SUP_STOPPED),
        [EV_EXITED] = IGNORE(BGP_SUP_STOPPED),
        [EV_TIMER] = IGNORE(BGP_SUP_STOPPED),
        [EV_READY] = IGNORE(BGP_SUP_STOPPED),
    },
    [BGP_SUP_STARTING] = {
        [EV_START] = IGNORE(BGP_SUP_STARTING),
        [EV_STOP] = {act_term, BGP_SUP_STOPPING, BGP_SUP_STOPPING},
        [EV_EXITED] = {act_exited, BGP_SUP_BACKOFF, BGP_SUP_BACKOFF},
        [EV_TIMER] = {act_kill_hung, BGP_SUP_STARTING, BGP_SUP_STARTING},
        [EV_READY] = {act_ready, BGP_SUP_RUNNING, BGP_SUP_RUNNING},
    },
    [BGP_SUP_RUNNING] = {
        [EV_START] = IGNORE(BGP_SUP_RUNNING),
        [EV_STOP] = {act_term, BGP_SUP_STOPPING, BGP_SUP_STOPPING},
        [EV_EXITED] = {act_exited, BGP_SUP_BACKOFF, BGP_SUP_BACKOFF},
        [EV_TIMER] = IGNORE(BGP_SUP_RUNNING),
        [EV_READY] = IGNORE(BGP_SUP_RUNNING),
    },
    [BGP_SUP_BACKOFF] = {
        [EV_START] = IGNORE(BGP_SUP_BACKOFF),
        [EV_STOP] = {act_stopped, BGP_SUP_STOPPED, BGP_SUP_STOPPED},
        [EV_EXITED] = IGNORE(BGP_SUP_BACKOFF),
        [EV_TIMER] = {act_spawn, BGP_SUP_STARTING, BGP_SUP_BACKOFF},
        [EV_READY] = IGNORE(BGP_SUP_BACKOFF),
    },
    [BGP_SUP_STOPPING] = {
        [EV_START] = IGNORE(BGP_SUP_STOPPING),
        [EV_STOP] = IGNORE(BGP_SUP_STOPPING),
        [EV_EXITED] = {act_stopped, BGP_SUP_STOPPED, BGP_SUP_STOPPED},
        [EV_TIMER] = {act_kill, BGP_SUP_STOPPING, BGP_SUP_STOPPING},
        [EV_READY] = IGNORE(BGP_SUP_STOPPING),
    },
};

static int dispatch(struct bgp_sup *s, enum sup_event ev)
{
    const struct transition *t = &table[s->state][ev];
    int rc = t->fn ? t->fn(s) : 0;

    s->state = rc ? t->next_on_error : t->next;
    return rc;
}

/* ---- public ---------------------------------------------------------------- */

static int path_in(char *dst, size_t size, const char *dir, const char *name)
{
    return (size_t)snprintf(dst, size, "%s/%s", dir, name) >= size ? -ENAMETOOLONG : 0;
}

int bgp_sup_create(const struct bgp_sup_opts *o, struct bgp_sup **out)
{
    struct bgp_sup *s;
    int rc = 0;

    *out = NULL;
    if (!o || !o->dir || o->dir[0] != '/')
        return -EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->o = *o;
    s->o.dir = NULL;
    s->o.bird_path = NULL;
    s->o.netns = NULL;
    if (!s->o.backoff_min_ms)
        s->o.backoff_min_ms = 500;
    if (!s->o.backoff_max_ms)
        s->o.backoff_max_ms = 30000;
    if (s->o.backoff_max_ms < s->o.backoff_min_ms)
        s->o.backoff_max_ms = s->o.backoff_min_ms;
    if (!s->o.stable_ms)
        s->o.stable_ms = 60000;
    if (!s->o.start_timeout_ms)
        s->o.start_timeout_ms = 10000;
    if (!s->o.stop_timeout_ms)
        s->o.stop_timeout_ms = 5000;
    if (!s->o.cmd_timeout_ms)
        s->o.cmd_timeout_ms = 5000;
    if ((size_t)snprintf(s->bird, sizeof(s->bird), "%s",
                         o->bird_path ? o->bird_path : "/usr/sbin/bird") >= sizeof(s->bird) ||
        (size_t)snprintf(s->netns, sizeof(s->netns), "%s", o->netns ? o->netns : "") >=
            sizeof(s->netns))
        rc = -ENAMETOOLONG;
    if (!rc)
        rc = path_in(s->conf_path, sizeof(s->conf_path), o->dir, "bird.conf");
    if (!rc)
        rc = path_in(s->announce_path, sizeof(s->announce_path) - 8, o->dir, "announce.conf");
    if (!rc)
        rc = path_in(s->sock_path, sizeof(s->sock_path), o->dir, "bird.ctl");
    if (!rc)
        rc = path_in(s->pid_path, sizeof(s->pid_path), o->dir, "bird.pid");
    if (!rc)
        rc = path_in(s->log_path, sizeof(s->log_path) - 2, o->dir, "bird.log");
    if (rc) {
        free(s);
        return rc;
    }
    s->pidfd = -1;
    s->last_wait_status = -1;
    s->next_backoff_ms = s->o.backoff_min_ms;
    s->have_config = access(s->conf_path, R_OK) == 0;
    *out = s;
    return 0;
}

const char *bgp_sup_announce_path(const struct bgp_sup *s)
{
    return s->announce_path;
}

int bgp_sup_start(struct bgp_sup *s, uint64_t now_ns)
{
    if (!s->have_config)
        return -ENOENT;
    s->now_ns = now_ns;
    return dispatch(s, EV_START);
}

int bgp_sup_stop(struct bgp_sup *s, uint64_t now_ns)
{
    s->now_ns = now_ns;
    return dispatch(s, EV_STOP);
}

int bgp_sup_poll(struct bgp_sup *s, uint64_t now_ns, uint64_t *next_ns)
{
    int rc = 0;

    s->now_ns = now_ns;
    if (s->pid > 0) {
        int st;
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid || (r < 0 && errno == ECHILD)) {
            s->last_wait_status = r > 0 ? st : -1;
            s->pid = 0;
            if (s->pidfd >= 0)
                close(s->pidfd);
            s->pidfd = -1;
            rc = dispatch(s, EV_EXITED);
        }
    }
    if (s->deadline_ns && now_ns >= s->deadline_ns) {
        s->deadline_ns = 0;
        rc = dispatch(s, EV_TIMER);
    }
    if (s->state == BGP_SUP_STARTING && s->pid > 0) {
        int fd;
        if (bgp_ctl_connect(s->sock_path, 200, &fd) == 0) {
            close(fd);
            rc = dispatch(s, EV_READY);
        }
    }
    if (next_ns) {
        uint64_t step = s->state == BGP_SUP_STARTING ? ms_ns(50) : ms_ns(1000);
        *next_ns = now_ns + step;
        if (s->deadline_ns && s->deadline_ns < *next_ns)
            *next_ns = s->deadline_ns;
    }
    return rc;
}

int bgp_sup_pidfd(const struct bgp_sup *s)
{
    return s->pidfd;
}

void bgp_sup_status(const struct bgp_sup *s, struct bgp_sup_status *out)
{
    memset(out, 0, sizeof(*out));
    out->state = s->state;
    out->pid = s->pid;
    out->restarts = s->restarts;
    out->last_wait_status = s->last_wait_status;
    out->backoff_ms = s->state == BGP_SUP_BACKOFF ? s->wait_ms : s->next_backoff_ms;
    out->config_gen = s->config_gen;
    snprintf(out->last_error, sizeof(out->last_error), "%s", s->last_error);
}

void bgp_sup_destroy(struct bgp_sup *s)
{
    if (!s)
        return;
    if (s->state != BGP_SUP_STOPPED) {
        struct timespec ts = {0, 20 * 1000000};
        /* Stop timeout twice over (TERM, then KILL) plus slack. */
        unsigned turns = (2 * s->o.stop_timeout_ms + 1000) / 20;
        bgp_sup_stop(s, timer_now_ns());
        while (s->state != BGP_SUP_STOPPED && turns--) {
            nanosleep(&ts, NULL);
            bgp_sup_poll(s, timer_now_ns(), NULL);
        }
    }
    if (s->pidfd >= 0)
        close(s->pidfd);
    free(s);
}

/* ---- configs ------------------------------------------------------------------ */

static int write_file(const char *path, const char *data, size_t len)
{
    char tmp[PATH_MAX + 8];
    size_t off = 0;
    int fd, rc = 0;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        off += (size_t)n;
    }
    if (close(fd) < 0 && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path) < 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

/* `bird -p -c path`: parse only, for when no BIRD runs to ask. */
static int parse_check(struct bgp_sup *s, const char *path, struct bgp_error *err)
{
    char *argv[] = {s->bird, "-p", "-c", (char *)path, NULL};
    char out[512];
    size_t len = 0;
    int p[2], rc, st = 0;
    uint64_t deadline = timer_now_ns() + ms_ns(s->o.cmd_timeout_ms);
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    rc = spawn(s->bird, argv, p[1], -1, &pid);
    close(p[1]);
    if (rc) {
        close(p[0]);
        snprintf(err->field, sizeof(err->field), "bird");
        msgf(err->msg, sizeof(err->msg), "cannot run %s: %s", s->bird, strerror(-rc));
        return rc;
    }
    for (;;) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        uint64_t now = timer_now_ns();
        ssize_t n;
        if (now >= deadline || poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1)) == 0) {
            kill(pid, SIGKILL);
            break;
        }
        n = read(p[0], out + len, sizeof(out) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof(out) - 1)
            break;   /* enough to explain; the rest is dropped with the pipe */
    }
    close(p[0]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    out[len] = 0;
    while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
        out[--len] = 0;
    snprintf(err->field, sizeof(err->field), "bird");
    msgf(err->msg, sizeof(err->msg), "BIRD refused the configuration: %s",
             strncmp(out, "bird: ", 6) == 0 ? out + 6 : (len ? out : "(no message)"));
    return -EINVAL;
}

/* Ask the running BIRD, or a parse-only BIRD, about the candidate files. */
static int check_candidate(struct bgp_sup *s, const char *path, struct bgp_error *err)
{
    char cmd[PATH_MAX + 32];
    struct bgp_reply r;
    int rc;

    if (s->state != BGP_SUP_RUNNING)
        return parse_check(s, path, err);
    snprintf(cmd, sizeof(cmd), "configure check \"%s\"", path);
    rc = bgp_ctl_run(s->sock_path, cmd, (int)s->o.cmd_timeout_ms, &r);
    if (rc)
        return parse_check(s, path, err);   /* socket trouble is not a verdict */
    if (bgp_reply_failed(&r)) {
        snprintf(err->field, sizeof(err->field), "bird");
        msgf(err->msg, sizeof(err->msg), "BIRD refused the configuration: %04u %s",
                 r.err_code, r.err_msg);
        rc = -EINVAL;
    } else if (!bgp_reply_has_code(&r, 20)) {   /* 0020 Configuration OK */
        snprintf(err->field, sizeof(err->field), "bird");
        msgf(err->msg, sizeof(err->msg), "unexpected reply %04u to configure check",
                 r.last_code);
        rc = -EPROTO;
    }
    bgp_reply_free(&r);
    return rc;
}

/* main_conf with its include of announce_path pointed at the candidate. */
static char *candidate_main(const char *main_conf, const char *announce, const char *cand)
{
    char quoted[PATH_MAX + 4];
    const char *hit;
    size_t qlen, clen = strlen(cand), mlen = strlen(main_conf);
    char *out;

    snprintf(quoted, sizeof(quoted), "\"%s\"", announce);
    qlen = strlen(quoted);
    hit = strstr(main_conf, quoted);
    out = malloc(mlen + clen + 3);
    if (!out)
        return NULL;
    if (!hit) {
        memcpy(out, main_conf, mlen + 1);
        return out;
    }
    size_t pre = (size_t)(hit - main_conf);
    memcpy(out, main_conf, pre);
    out[pre] = '"';
    memcpy(out + pre + 1, cand, clen);
    out[pre + 1 + clen] = '"';
    memcpy(out + pre + 2 + clen, hit + qlen, mlen - pre - qlen + 1);
    return out;
}

int bgp_sup_apply_text(struct bgp_sup *s, const char *main_conf, const char *announce_conf,
                       struct bgp_error *err)
{
    char cand_main[PATH_MAX + 8], cand_ann[PATH_MAX + 8];
    struct bgp_error scratch;
    char *cmain = NULL;
    int rc;

    if (!err)
        err = &scratch;
    memset(err, 0, sizeof(*err));
    snprintf(cand_main, sizeof(cand_main), "%s.new", s->conf_path);
    snprintf(cand_ann, sizeof(cand_ann), "%s.new", s->announce_path);
    cmain = candidate_main(main_conf, s->announce_path, cand_ann);
    if (!cmain)
        return -ENOMEM;
    rc = write_file(cand_ann, announce_conf, strlen(announce_conf));
    if (!rc)
        rc = write_file(cand_main, cmain, strlen(cmain));
    if (rc) {
        snprintf(err->field, sizeof(err->field), "dir");
        msgf(err->msg, sizeof(err->msg), "cannot write %s: %s", cand_main, strerror(-rc));
        goto out;
    }
    rc = check_candidate(s, cand_main, err);
    if (rc)
        goto out;
    rc = rename(cand_ann, s->announce_path) < 0 ? -errno : 0;
    if (!rc)
        rc = write_file(s->conf_path, main_conf, strlen(main_conf));
    if (rc) {
        snprintf(err->field, sizeof(err->field), "dir");
        msgf(err->msg, sizeof(err->msg), "cannot install %s: %s", s->conf_path,
                 strerror(-rc));
        goto out;
    }
    s->config_gen++;
    s->have_config = true;
    s->last_error[0] = 0;
    if (s->state == BGP_SUP_RUNNING) {
        rc = send_configure(s);
        if (rc) {
            snprintf(err->field, sizeof(err->field), "bird");
            msgf(err->msg, sizeof(err->msg), "%s",
                     s->last_error[0] ? s->last_error : strerror(-rc));
        }
    }
out:
    unlink(cand_main);
    unlink(cand_ann);
    free(cmain);
    if (rc) {
        msgf(s->last_error, sizeof(s->last_error), "%s: %s", err->field, err->msg);
        log_warn("bgp: config not applied: %s", s->last_error);
    }
    return rc;
}

int bgp_sup_apply(struct bgp_sup *s, const struct bgp_config *c, struct bgp_error *err)
{
    char *main_conf = NULL, *ann = NULL;
    int rc;

    rc = bgp_render_main(c, s->announce_path, &main_conf, NULL, err);
    if (!rc)
        rc = bgp_render_announce(c, &ann, NULL, err);
    if (!rc)
        rc = bgp_sup_apply_text(s, main_conf, ann, err);
    else if (err)
        msgf(s->last_error, sizeof(s->last_error), "%s: %s", err->field, err->msg);
    free(main_conf);
    free(ann);
    return rc;
}

int bgp_sup_command(struct bgp_sup *s, const char *cmd, struct bgp_reply *out)
{
    memset(out, 0, sizeof(*out));
    if (s->state != BGP_SUP_RUNNING)
        return -ENOTCONN;
    return bgp_ctl_run(s->sock_path, cmd, (int)s->o.cmd_timeout_ms, out);
}

int bgp_sup_peer_info(struct bgp_sup *s, const char *peer_name, struct bgp_proto_info *out)
{
    char proto[BGP_NAME_MAX + 16], cmd[BGP_NAME_MAX + 48];
    struct bgp_bfd_session bfd[64];
    struct bgp_reply r;
    size_t n = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = bgp_peer_proto_name(peer_name, proto, sizeof(proto));
    if (rc)
        return rc;
    snprintf(cmd, sizeof(cmd), "show protocols all \"%s\"", proto);
    rc = bgp_sup_command(s, cmd, &r);
    if (rc)
        return rc;
    if (bgp_reply_failed(&r))
        rc = r.err_code == 8003 ? -ENOENT : -EIO;
    else
        rc = bgp_protocols_parse(r.text, r.text_len, out, 1, &n);
    bgp_reply_free(&r);
    if (!rc && n == 0)
        rc = -ENOENT;
    if (rc)
        return rc;
    /* No BFD protocol (no peer wants it) answers with an error: then none. */
    if (bgp_sup_command(s, "show bfd sessions", &r) == 0 && !bgp_reply_failed(&r) &&
        bgp_bfd_parse(r.text, r.text_len, bfd, RP_ARRAY_SIZE(bfd), &n) == 0)
        bgp_bfd_apply(out, bfd, n < RP_ARRAY_SIZE(bfd) ? n : RP_ARRAY_SIZE(bfd));
    bgp_reply_free(&r);
    return 0;
}
