/*
 * lib/http_client.h: a small blocking HTTP/1.1 client.
 *
 * rampartctl uses it for every request, and the daemons to fetch the
 * topology and follow the API's watch stream (from a thread of their own:
 * calls block). The API speaks JSON over plain HTTP on a trusted
 * management network or loopback.
 */
#ifndef RP_LIB_HTTP_CLIENT_H
#define RP_LIB_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct http_conn {
    char host[256];
    char port[8];
    char token[256];       /* bearer token; "" for none */
    unsigned timeout_ms;   /* 0: wait as long as it takes */
};

struct http_reply {
    int status;            /* HTTP status, or 0 when the server was not reached */
    char *body;            /* NUL-terminated, malloc'd */
    size_t len;
    char *head;            /* the header lines, "Name: value\n" each, malloc'd */
    char error[256];       /* why the server was not reached */
};

/* "http://host:port" (the scheme is optional). 0 or -EINVAL. */
int http_conn_parse(struct http_conn *c, const char *url);
/* One request; body may be NULL. 0 when a reply arrived (any status). */
int http_request(const struct http_conn *c, const char *method, const char *path, const char *body,
                 struct http_reply *r);
void http_reply_free(struct http_reply *r);
/* A header's value (case-insensitive name) copied into out; NULL if absent. */
const char *http_reply_header(const struct http_reply *r, const char *name, char *out, size_t cap);
/* A streaming GET: every body line is passed to fn until the server closes
 * or fn returns non-zero. 0 when the server ended the stream. */
int http_stream(const struct http_conn *c, const char *path, int (*fn)(const char *line, void *arg), void *arg,
                char *err, size_t errlen);

#endif
