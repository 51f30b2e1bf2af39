/*
 * tests/unit/test_shell.h: sh(), a formatted command through system(), for
 * the tests and benchmarks that build network namespaces, veth pairs and
 * routes with ip(8). A failed command is reported on stderr, so a setup
 * that did not happen says so. Returns system()'s status.
 */
#ifndef RP_TEST_SHELL_H
#define RP_TEST_SHELL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "# command failed (%d): %s\n", rc, cmd);
    return rc;
}

#endif
