/*
 * cli/cli.h: rampartctl, the command-line client of the Rampart API.
 *
 * The subcommands, built on lib/'s HTTP client. Exit codes: 0 ok, 1 the
 * server refused or could not be reached (its message printed), 2 usage.
 */
#ifndef RP_CLI_H
#define RP_CLI_H

/* The HTTP client lives in lib/http_client.h (the daemons use it too). */
#include "lib/http_client.h"

#endif
