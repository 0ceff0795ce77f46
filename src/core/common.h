/*
 * common.h: the few macros every file uses. No domain knowledge, no allocation.
 * MS_STATIC lets unit tests reach file-local functions (STYLE.md §7).
 */
#ifndef MS_CORE_COMMON_H
#define MS_CORE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef MS_TESTING
#define MS_STATIC
#else
#define MS_STATIC static
#endif

#define MS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MS_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define MS_NORETURN __attribute__((noreturn))
#define MS_UNUSED(x) ((void)(x))

/* Stays on in release builds: for invariants whose breach would corrupt data. */
#define MS_ASSERT(x)                                                                               \
    do {                                                                                           \
        if (!(x))                                                                                  \
            ms_assert_fail(__FILE__, __LINE__, #x);                                                \
    } while (0)

/* Logs file, line and expression to stderr and aborts. */
MS_NORETURN void ms_assert_fail(const char *file, int line, const char *expr);

#define MS_VERSION "0.1.0"

#endif
