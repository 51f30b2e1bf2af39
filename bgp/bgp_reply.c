/*
 * bgp/bgp_reply.c: BIRD's control-socket protocol (doc/reply_codes).
 *
 * A reply is a run of lines: "DDDD-text" (more follows), " text" (more of
 * the previous code), "DDDD text" (the last line); '+' lines are
 * unsolicited and skipped. The parser is pure and bounded so it can be
 * fuzzed; the client around it adds poll() timeouts and size limits.
 */
#include "bgp/bgp.h"
#include "lib/types.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* One walk over the reply; with dst NULL it only measures. */
static int walk(const char *buf, size_t len, struct bgp_reply *out, char *dst)
{
    size_t pos = 0, tlen = 0;
    unsigned n_lines = 0;
    int code = -1;

    for (;;) {
        size_t avail = len - pos, scan = avail < BGP_LINE_MAX + 1 ? avail : BGP_LINE_MAX + 1;
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', scan);
        const char *payload;
        size_t llen, plen;
        bool last = false;

        if (!nl)
            return avail > BGP_LINE_MAX ? -EMSGSIZE : -EAGAIN;
        llen = (size_t)(nl - line);
        if (memchr(line, 0, llen))
            return -EPROTO;   /* BIRD never sends NUL; text stays a C string */
        pos += llen + 1;
        if (pos > BGP_REPLY_MAX)
            return -EMSGSIZE;
        if (llen > 0 && line[0] == '+')
            continue;
        if (llen > 0 && line[0] == ' ') {
            if (code < 0)
                return -EPROTO;
            payload = line + 1;
            plen = llen - 1;
        } else if (llen >= 5 && is_digit(line[0]) && is_digit(line[1]) && is_digit(line[2]) &&
                   is_digit(line[3]) && (line[4] == '-' || line[4] == ' ')) {
            code = (line[0] - '0') * 1000 + (line[1] - '0') * 100 + (line[2] - '0') * 10 +
                   (line[3] - '0');
            last = line[4] == ' ';
            payload = line + 5;
            plen = llen - 5;
        } else {
            return -EPROTO;
        }
        n_lines++;
        if (dst) {
            char *d = dst + tlen;
            d[0] = (char)('0' + code / 1000);
            d[1] = (char)('0' + code / 100 % 10);
            d[2] = (char)('0' + code / 10 % 10);
            d[3] = (char)('0' + code % 10);
            d[4] = ' ';
            memcpy(d + 5, payload, plen);
            d[5 + plen] = '\n';
            if ((code / 1000 == 8 || code / 1000 == 9) && out->err_code == 0) {
                out->err_code = (uint16_t)code;
                memcpy(out->err_msg, payload, plen);   /* plen < BGP_LINE_MAX */
                out->err_msg[plen] = 0;
            }
        }
        tlen += 5 + plen + 1;
        if (last) {
            out->consumed = pos;
            out->text_len = tlen;
            out->n_lines = n_lines;
            out->last_code = (uint16_t)code;
            return 0;
        }
    }
}

int bgp_reply_parse(const char *buf, size_t len, struct bgp_reply *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if (!buf)
        return len ? -EINVAL : -EAGAIN;
    rc = walk(buf, len, out, NULL);
    if (rc)
        return rc;
    out->text = malloc(out->text_len + 1);
    if (!out->text) {
        memset(out, 0, sizeof(*out));
        return -ENOMEM;
    }
    rc = walk(buf, len, out, out->text);
    RP_ASSERT(rc == 0);
    out->text[out->text_len] = 0;
    return 0;
}

void bgp_reply_free(struct bgp_reply *r)
{
    if (!r)
        return;
    free(r->text);
    r->text = NULL;
    r->text_len = 0;
}

bool bgp_reply_has_code(const struct bgp_reply *r, uint16_t code)
{
    const char *p = r->text, *end = r->text + r->text_len;

    if (!p)
        return false;
    while (p + 5 <= end) {
        int c = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (c == code)
            return true;
        if (!nl)
            break;
        p = nl + 1;
    }
    return false;
}

/* ---- client ------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events};
        int64_t left = deadline - mono_ms();
        int n;

        if (left <= 0)
            return -ETIMEDOUT;
        n = poll(&pfd, 1, (int)(left > 60000 ? 60000 : left));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

static int read_reply(int fd, int timeout_ms, struct bgp_reply *out)
{
    int64_t deadline = mono_ms() + timeout_ms;
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    int rc;

    memset(out, 0, sizeof(*out));
    if (!buf)
        return -ENOMEM;
    for (;;) {
        ssize_t n;

        if (len == cap) {
            char *nb;
            if (cap >= BGP_REPLY_MAX + BGP_LINE_MAX) {
                rc = -EMSGSIZE;
                goto out;
            }
            nb = realloc(buf, cap * 2);
            if (!nb) {
                rc = -ENOMEM;
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        rc = wait_fd(fd, POLLIN, deadline);
        if (rc)
            goto out;
        n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            rc = -errno;
            goto out;
        }
        if (n == 0) {
            rc = -ECONNRESET;
            goto out;
        }
        len += (size_t)n;
        rc = bgp_reply_parse(buf, len, out);
        if (rc != -EAGAIN)
            goto out;
    }
out:
    free(buf);
    return rc;
}

int bgp_ctl_connect(const char *sock_path, int timeout_ms, int *fd_out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct bgp_reply banner;
    int fd, rc;

    *fd_out = -1;
    if (!sock_path || strlen(sock_path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, sock_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        goto fail;
    }
    rc = read_reply(fd, timeout_ms, &banner);
    if (rc)
        goto fail;
    rc = banner.last_code == 1 ? 0 : -EPROTO;
    bgp_reply_free(&banner);
    if (rc)
        goto fail;
    *fd_out = fd;
    return 0;
fail:
    close(fd);
    return rc;
}

int bgp_ctl_command(int fd, const char *cmd, int timeout_ms, struct bgp_reply *out)
{
    int64_t deadline = mono_ms() + timeout_ms;
    char line[1024];
    size_t len, off = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!cmd || !*cmd || strpbrk(cmd, "\r\n"))
        return -EINVAL;
    len = strlen(cmd);
    if (len + 1 >= sizeof(line))
        return -E2BIG;
    memcpy(line, cmd, len);
    line[len++] = '\n';
    while (off < len) {
        ssize_t n;
        rc = wait_fd(fd, POLLOUT, deadline);
        if (rc)
            return rc;
        n = send(fd, line + off, len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        off += (size_t)n;
    }
    return read_reply(fd, (int)(deadline - mono_ms() > 0 ? deadline - mono_ms() : 1), out);
}

int bgp_ctl_run(const char *sock_path, const char *cmd, int timeout_ms, struct bgp_reply *out)
{
    int fd, rc;

    memset(out, 0, sizeof(*out));
    rc = bgp_ctl_connect(sock_path, timeout_ms, &fd);
    if (rc)
        return rc;
    rc = bgp_ctl_command(fd, cmd, timeout_ms, out);
    close(fd);
    return rc;
}
