/*
 * lib/http_client.c: a small blocking HTTP/1.1 client, for rampartctl and
 * for the daemons following the API's watch stream.
 *
 * One connection per request ("Connection: close"); replies are read to the
 * end, with Content-Length or chunked transfer coding. Every length from the
 * server is checked before use.
 */
#include "lib/http_client.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <strings.h>
#include <unistd.h>

#define HTTP_MAX_REPLY (256u << 20)

int http_conn_parse(struct http_conn *c, const char *url)
{
    const char *p = url, *colon, *slash;
    size_t hl;

    if (!strncmp(p, "http://", 7))
        p += 7;
    else if (strstr(p, "://"))
        return -EINVAL;
    slash = strchr(p, '/');
    colon = strchr(p, ':');
    if (colon && slash && colon > slash)
        colon = NULL;
    hl = colon ? (size_t)(colon - p) : slash ? (size_t)(slash - p) : strlen(p);
    if (hl == 0 || hl >= sizeof(c->host))
        return -EINVAL;
    memcpy(c->host, p, hl);
    c->host[hl] = '\0';
    if (colon) {
        size_t pl = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
        if (pl == 0 || pl >= sizeof(c->port))
            return -EINVAL;
        memcpy(c->port, colon + 1, pl);
        c->port[pl] = '\0';
    } else {
        strcpy(c->port, "8080");
    }
    return 0;
}

static int dial(const struct http_conn *c, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    int fd = -1, rc;

    rc = getaddrinfo(c->host, c->port, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "cannot resolve %s: %s", c->host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (c->timeout_ms) {
            /* a silent server (or link) ends the call instead of hanging it */
            struct timeval tv = {.tv_sec = c->timeout_ms / 1000, .tv_usec = (c->timeout_ms % 1000) * 1000};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot connect to %s:%s: %s", c->host, c->port, strerror(errno));
    return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_request(int fd, const struct http_conn *c, const char *method, const char *path, const char *body)
{
    char head[1024];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\nAccept: application/json\r\n"
                     "%s%s%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, path, c->host, c->port, c->token[0] ? "Authorization: Bearer " : "", c->token,
                     c->token[0] ? "\r\n" : "", blen);

    if (n < 0 || (size_t)n >= sizeof(head))
        return -1;
    if (send_all(fd, head, (size_t)n) < 0)
        return -1;
    return blen ? send_all(fd, body, blen) : 0;
}

/* A growable buffer fed from the socket. */
struct rbuf {
    char *d;
    size_t len, cap, pos;
    int fd;
    bool eof;
};

static int fill(struct rbuf *b)
{
    ssize_t n;

    if (b->eof)
        return 0;
    if (b->cap - b->len < 4096) {
        size_t cap = b->cap ? b->cap * 2 : 16384;
        char *d;
        if (cap > HTTP_MAX_REPLY)
            return -1;
        d = realloc(b->d, cap + 1);
        if (!d)
            return -1;
        b->d = d;
        b->cap = cap;
    }
    do {
        n = recv(b->fd, b->d + b->len, b->cap - b->len, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if (n == 0)
        b->eof = true;
    b->len += (size_t)n;
    b->d[b->len] = '\0';
    return (int)n;
}

/* The next CRLF-terminated line starting at pos (NUL-terminated in place). */
static char *next_line(struct rbuf *b)
{
    for (;;) {
        char *s = b->d ? b->d + b->pos : NULL, *e = s ? strstr(s, "\r\n") : NULL;
        if (e) {
            *e = '\0';
            b->pos = (size_t)(e - b->d) + 2;
            return s;
        }
        if (fill(b) <= 0)
            return NULL;
    }
}

static int read_exact(struct rbuf *b, size_t n, char **out)
{
    while (b->len - b->pos < n)
        if (fill(b) <= 0)
            return -1;
    *out = b->d + b->pos;
    b->pos += n;
    return 0;
}

struct headers {
    int status;
    long long length;      /* -1: none */
    bool chunked;
    char *raw;             /* "Name: value\n" lines, malloc'd (may be NULL) */
    size_t raw_len;
};

static void keep_header(struct headers *h, const char *line)
{
    size_t n = strlen(line);
    char *g = n < 4096 ? realloc(h->raw, h->raw_len + n + 2) : NULL;

    if (!g)
        return;
    memcpy(g + h->raw_len, line, n);
    g[h->raw_len + n] = '\n';
    g[h->raw_len + n + 1] = '\0';
    h->raw = g;
    h->raw_len += n + 1;
}

static int read_head(struct rbuf *b, struct headers *h)
{
    char *line = next_line(b);

    h->length = -1;
    h->chunked = false;
    h->raw = NULL;
    h->raw_len = 0;
    if (!line || sscanf(line, "HTTP/1.%*d %d", &h->status) != 1)
        return -1;
    while ((line = next_line(b)) && *line) {
        if (!strncasecmp(line, "Content-Length:", 15))
            h->length = strtoll(line + 15, NULL, 10);
        else if (!strncasecmp(line, "Transfer-Encoding:", 18) && strstr(line, "chunked"))
            h->chunked = true;
        keep_header(h, line);
    }
    return line ? 0 : -1;
}

/* Deliver body bytes to 'sink' as they are decoded. */
static int read_body(struct rbuf *b, const struct headers *h, int (*sink)(const char *d, size_t n, void *arg),
                     void *arg)
{
    char *p;

    if (h->chunked) {
        for (;;) {
            char *line = next_line(b), *end;
            unsigned long long n;
            if (!line)
                return -1;
            n = strtoull(line, &end, 16);
            if (end == line || n > HTTP_MAX_REPLY)
                return -1;
            if (n == 0)
                return 0;
            if (read_exact(b, (size_t)n, &p) < 0 || sink(p, (size_t)n, arg))
                return -1;
            if (!next_line(b))
                return -1;
        }
    }
    if (h->length >= 0) {
        if ((unsigned long long)h->length > HTTP_MAX_REPLY || read_exact(b, (size_t)h->length, &p) < 0)
            return -1;
        return h->length ? sink(p, (size_t)h->length, arg) : 0;
    }
    while (fill(b) > 0)
        ;
    return b->len > b->pos ? sink(b->d + b->pos, b->len - b->pos, arg) : 0;
}

struct collect {
    char *d;
    size_t len;
};

static int collect_sink(const char *d, size_t n, void *arg)
{
    struct collect *c = arg;
    char *g = realloc(c->d, c->len + n + 1);

    if (!g)
        return -1;
    memcpy(g + c->len, d, n);
    c->d = g;
    c->len += n;
    c->d[c->len] = '\0';
    return 0;
}

int http_request(const struct http_conn *c, const char *method, const char *path, const char *body,
                struct http_reply *r)
{
    struct rbuf b = {0};
    struct headers h;
    struct collect col = {0};
    int rc = -1;

    memset(r, 0, sizeof(*r));
    memset(&h, 0, sizeof(h));
    b.fd = dial(c, r->error, sizeof(r->error));
    if (b.fd < 0)
        return -1;
    if (send_request(b.fd, c, method, path, body) < 0) {
        snprintf(r->error, sizeof(r->error), "sending the request failed: %s", strerror(errno));
        goto out;
    }
    if (read_head(&b, &h) < 0 || read_body(&b, &h, collect_sink, &col) < 0) {
        snprintf(r->error, sizeof(r->error), "bad or incomplete reply from %.200s:%s", c->host, c->port);
        goto out;
    }
    r->status = h.status;
    r->head = h.raw;
    h.raw = NULL;
    r->body = col.d ? col.d : strdup("");
    r->len = col.len;
    col.d = NULL;
    rc = 0;
out:
    free(h.raw);
    free(col.d);
    free(b.d);
    close(b.fd);
    return rc;
}

void http_reply_free(struct http_reply *r)
{
    free(r->body);
    free(r->head);
    r->body = r->head = NULL;
}

const char *http_reply_header(const struct http_reply *r, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);

    for (const char *l = r->head; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (!strncasecmp(l, name, n) && l[n] == ':') {
            const char *v = l + n + 1, *e = strchr(v, '\n');
            while (*v == ' ')
                v++;
            size_t len = e ? (size_t)(e - v) : strlen(v);
            if (len >= cap)
                len = cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return out;
        }
    }
    return NULL;
}

struct line_sink {
    char *partial;
    size_t len;
    int (*fn)(const char *line, void *arg);
    void *arg;
};

static int line_sink(const char *d, size_t n, void *arg)
{
    struct line_sink *s = arg;
    char *g = realloc(s->partial, s->len + n + 1);
    size_t start = 0;

    if (!g)
        return -1;
    s->partial = g;
    memcpy(s->partial + s->len, d, n);
    s->len += n;
    s->partial[s->len] = '\0';
    for (size_t i = 0; i < s->len; i++) {
        if (s->partial[i] != '\n')
            continue;
        s->partial[i] = '\0';
        if (i > start && s->fn(s->partial + start, s->arg))
            return 1;
        start = i + 1;
    }
    memmove(s->partial, s->partial + start, s->len - start);
    s->len -= start;
    return 0;
}

int http_stream(const struct http_conn *c, const char *path, int (*fn)(const char *line, void *arg), void *arg,
               char *err, size_t errlen)
{
    struct rbuf b = {0};
    struct headers h;
    struct line_sink s = {NULL, 0, fn, arg};
    int rc = -1;

    memset(&h, 0, sizeof(h));
    b.fd = dial(c, err, errlen);
    if (b.fd < 0)
        return -1;
    if (send_request(b.fd, c, "GET", path, NULL) < 0 || read_head(&b, &h) < 0) {
        snprintf(err, errlen, "no reply from %.200s:%s", c->host, c->port);
        goto out;
    }
    if (h.status != 200) {
        struct collect col = {0};
        read_body(&b, &h, collect_sink, &col);
        snprintf(err, errlen, "HTTP %d: %s", h.status, col.d ? col.d : "");
        free(col.d);
        goto out;
    }
    rc = read_body(&b, &h, line_sink, &s) < 0 ? -1 : 0;
    if (rc < 0)
        snprintf(err, errlen, "the stream ended unexpectedly");
out:
    free(h.raw);
    free(s.partial);
    free(b.d);
    close(b.fd);
    return rc;
}
