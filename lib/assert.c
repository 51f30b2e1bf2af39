/* lib/assert.c: the release-mode invariant check behind RP_ASSERT. */
#include "lib/types.h"

#include <stdio.h>
#include <stdlib.h>

void rp_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "rampart: invariant failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
