/*
 * fuzz_query.c: query argument decoding. http/server.c form-decodes every query key and value
 * with ms_str_pct_decode(form=true) (MHD leaves the escapes in place); the router and page
 * tokens use the same function with form=false. The input is one raw key or value. Besides the
 * sanitizers: both modes agree on success, the output has no NUL and is never longer than the
 * input, and whatever decodes round-trips through a full percent-encoding.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(c)                                                                                \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_query: check failed: %s (line %d)\n", #c, __LINE__);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* What the decoder must accept: no NUL, and every '%' starts a non-zero two-digit hex escape. */
static bool
fz_valid(const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdefABCDEF";

    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\0')
            return false;
        if (p[i] != '%')
            continue;
        if (n - i < 3 || p[i + 1] == '\0' || p[i + 2] == '\0' || !strchr(hex, p[i + 1]) ||
            !strchr(hex, p[i + 2]) || (p[i + 1] == '0' && p[i + 2] == '0'))
            return false;
        i += 2;
    }
    return true;
}

/* "%XX" for every byte: decoding it must give the bytes back. */
static void
fz_round_trip(const char *dec, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *enc = malloc(3 * len + 1), *back = malloc(3 * len + 1);
    size_t blen = 0;

    FZ_CHECK(enc != NULL && back != NULL);
    for (size_t i = 0; i < len; i++) {
        enc[3 * i] = '%';
        enc[3 * i + 1] = hex[(unsigned char)dec[i] >> 4];
        enc[3 * i + 2] = hex[(unsigned char)dec[i] & 15];
    }
    enc[3 * len] = '\0';
    FZ_CHECK(ms_str_pct_decode((struct ms_str){enc, 3 * len}, true, back, &blen) == MS_OK);
    FZ_CHECK(blen == len && memcmp(back, dec, len) == 0);
    free(enc);
    free(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly size bytes: ASan sees any read past the view (it is not NUL-terminated). */
    char *src = malloc(size + 1), *form = malloc(size + 1), *plain = malloc(size + 1);
    struct ms_str s = {src, size};
    size_t flen = 0, plen = 0;
    enum ms_status fst, pst;

    FZ_CHECK(src != NULL && form != NULL && plain != NULL);
    if (size > 0)
        memcpy(src, data, size);
    s.p = size > 0 ? src : "";
    fst = ms_str_pct_decode(s, true, form, &flen);
    pst = ms_str_pct_decode(s, false, plain, &plen);
    FZ_CHECK(fst == pst);
    FZ_CHECK(fst == MS_OK || fst == MS_EINVAL);
    FZ_CHECK((fst == MS_OK) == fz_valid(data, size));
    if (fst == MS_OK) {
        FZ_CHECK(flen == plen && flen <= size);
        FZ_CHECK(form[flen] == '\0' && memchr(form, '\0', flen) == NULL);
        FZ_CHECK(memchr(plain, '\0', plen) == NULL);
        for (size_t i = 0; i < plen; i++) /* form differs only where '+' became ' ' */
            FZ_CHECK(form[i] == plain[i] || (plain[i] == '+' && form[i] == ' '));
        fz_round_trip(form, flen);
    }
    free(src);
    free(form);
    free(plain);
    return 0;
}
