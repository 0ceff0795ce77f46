/*
 * store.c: ms_store_open(), which picks the backend from the store URL. "sqlite:PATH" and a
 * bare path open the SQLite store; "postgres://" and "postgresql://" are the PostgreSQL store,
 * which this build does not have yet; any other scheme is refused. Called by any thread that
 * needs its own handle.
 */
#include "store/store.h"

#include <string.h>
#include "store/store_int.h"

/* Length of the URL scheme before ':' (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )),
 * or 0 when url does not start with one, as a file path does not. */
static size_t
store_scheme_len(const char *url)
{
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    size_t n;

    if (url[0] == '\0' || strchr(alpha, url[0]) == NULL)
        return 0;
    n = 1 + strspn(url + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    return url[n] == ':' ? n : 0;
}

static bool
store_has_prefix(const char *s, const char *pre)
{
    return strncmp(s, pre, strlen(pre)) == 0;
}

enum ms_status
ms_store_open(const char *url, struct ms_store **out, struct ms_error *err)
{
    size_t scheme;

    if (url == NULL || url[0] == '\0')
        return ms_fail(err, MS_EINVAL, "empty store URL; use sqlite:PATH");
    if (store_has_prefix(url, "postgres://") || store_has_prefix(url, "postgresql://"))
        return ms_fail(err, MS_EUNSUPP,
                       "the PostgreSQL state store is not available in this build yet; "
                       "use sqlite:PATH");
    if (store_has_prefix(url, "sqlite:")) {
        if (url[strlen("sqlite:")] == '\0')
            return ms_fail(err, MS_EINVAL, "store URL \"sqlite:\" names no file");
        return ms_store_sqlite_open(url + strlen("sqlite:"), out, err);
    }
    scheme = store_scheme_len(url);
    if (scheme != 0)
        return ms_fail(err, MS_EINVAL,
                       "unsupported store URL scheme \"%.*s\"; use sqlite:PATH or postgres://",
                       (int)scheme, url);
    return ms_store_sqlite_open(url, out, err);
}
