/*
 * fuzz_auth.c: the Authorization header, through ms_http_auth_credential() as http/auth.c's
 * ms_http_auth() calls it (the header is a C string from MHD). Besides the sanitizers: an
 * accepted credential is 1..MS_HTTP_MAX_CRED printable characters, NUL-terminated, and every
 * spelling of it the API accepts (Bearer, Basic with the key as user, as password, or both)
 * yields the same credential back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "http/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(c)                                                                                \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_auth: check failed: %s (line %d)\n", #c, __LINE__);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* header must give back exactly cred. */
static void
fz_same(const char *header, const char *cred, size_t len)
{
    char again[MS_HTTP_MAX_CRED + 1];
    size_t alen = 0;

    FZ_CHECK(ms_http_auth_credential(header, again, &alen, NULL) == MS_OK);
    FZ_CHECK(alen == len && memcmp(again, cred, len + 1) == 0);
}

/* "Basic " + base64(user ":" pass). */
static void
fz_basic(const char *user, const char *pass, const char *cred, size_t len)
{
    size_t ul = strlen(user), pl = strlen(pass), n = ul + 1 + pl;
    char *raw = malloc(n + 1), *hdr = malloc(6 + 4 * ((n + 2) / 3) + 1);

    FZ_CHECK(raw != NULL && hdr != NULL);
    memcpy(raw, user, ul);
    raw[ul] = ':';
    memcpy(raw + ul + 1, pass, pl);
    memcpy(hdr, "Basic ", 6);
    ms_b64_encode(raw, n, hdr + 6);
    fz_same(hdr, cred, len);
    free(raw);
    free(hdr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *header = malloc(size + 1);
    char cred[MS_HTTP_MAX_CRED + 1], bearer[MS_HTTP_MAX_CRED + 16];
    size_t len = 0;
    struct ms_error err;
    enum ms_status st;

    FZ_CHECK(header != NULL);
    memcpy(header, data, size);
    header[size] = '\0';
    st = ms_http_auth_credential(header, cred, &len, &err);
    FZ_CHECK(st == MS_OK || st == MS_EAUTH);
    if (st == MS_OK) {
        FZ_CHECK(len >= 1 && len <= MS_HTTP_MAX_CRED && cred[len] == '\0');
        for (size_t i = 0; i < len; i++)
            FZ_CHECK((unsigned char)cred[i] > 0x20 && (unsigned char)cred[i] < 0x7f);
        snprintf(bearer, sizeof(bearer), "Bearer %s", cred);
        fz_same(bearer, cred, len);
        fz_basic("", cred, cred, len);
        if (strchr(cred, ':') == NULL) { /* Basic splits at the first ':' */
            fz_basic(cred, "", cred, len);
            fz_basic(cred, cred, cred, len);
        }
    }
    free(header);
    return 0;
}
