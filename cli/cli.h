/*
 * cli/cli.h: rampartctl, the command-line client of the Rampart API.
 *
 * A small blocking HTTP/1.1 client (the API speaks JSON over plain HTTP on
 * a trusted management network or loopback) and the subcommands built on
 * it. Exit codes: 0 ok, 1 the server refused or could not be reached (its
 * message printed), 2 usage.
 */
#ifndef RP_CLI_H
#define RP_CLI_H

#include <stdbool.h>
#include <stddef.h>

struct cli_conn {
    char host[256];
    char port[8];
    char token[256];
};

struct cli_reply {
    int status;            /* HTTP status, or 0 when the server was not reached */
    char *body;            /* NUL-terminated, malloc'd */
    size_t len;
    char error[256];       /* why the server was not reached */
};

/* "http://host:port" (the scheme is optional). 0 or -EINVAL. */
int cli_conn_parse(struct cli_conn *c, const char *url);
/* One request; body may be NULL. 0 when a reply arrived (any status). */
int cli_request(const struct cli_conn *c, const char *method, const char *path, const char *body,
                struct cli_reply *r);
void cli_reply_free(struct cli_reply *r);
/* A streaming GET: every body line is passed to fn until the server closes
 * or fn returns non-zero. */
int cli_stream(const struct cli_conn *c, const char *path, int (*fn)(const char *line, void *arg), void *arg,
               char *err, size_t errlen);

#endif
