/*
 * common.c: the failure path of MS_ASSERT. It writes a plain line with stdio rather than going
 * through log.c, so an assertion inside the logger itself cannot recurse. Any thread may call it.
 */
#include "core/common.h"

#include <stdio.h>
#include <stdlib.h>

MS_NORETURN void
ms_assert_fail(const char *file, int line, const char *expr)
{
    fprintf(stderr,
            "{\"level\":\"fatal\",\"msg\":\"assertion failed\",\"file\":\"%s\","
            "\"line\":%d,\"expr\":\"%s\"}\n",
            file, line, expr);
    fflush(stderr);
    abort();
}
