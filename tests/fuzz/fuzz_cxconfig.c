/*
 * fuzz_cxconfig.c: connection and model configurations, as api/connections.c and api/models.c
 * handle them before any I/O: the body member is parsed with json_loadb(JSON_DECODE_ANY), then
 * every connector's validate() and model_validate() see it, and for the connectors that accept
 * it the secrets are sealed (ms_conn_config_seal), unsealed and redacted the way create, open,
 * GET and update do. Besides the sanitizers: a refusal names a configuration member, and
 * seal → unseal, and redact → seal with the stored config → unseal, give the input back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "connectors/connector.h"
#include "core/config.h"
#include "core/crypto.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(c)                                                                                \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_cxconfig: check failed: %s (line %d)\n", #c, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static uint8_t fz_key[MS_SECRET_KEY_LEN];

static void
fz_expect_equal(const json_t *want, const json_t *got, const char *what)
{
    if (!json_equal(want, got)) {
        char *a = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        char *b = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

        fprintf(stderr, "fuzz_cxconfig: %s changed the configuration\n%s\n%s\n", what, a, b);
        abort();
    }
}

/* Create (seal), open (unseal), GET (redact) and an update that sends the redacted form back. */
static void
fz_secrets(const struct ms_connector *impl, const json_t *cfg)
{
    json_t *sealed = NULL, *plain = NULL, *red, *resealed = NULL, *plain2 = NULL;
    struct ms_error err;
    enum ms_status st = ms_conn_config_seal(cfg, NULL, impl->secrets, fz_key, &sealed, &err);

    FZ_CHECK(st == MS_OK || st == MS_EINVAL);
    if (st != MS_OK) /* only a "********" with nothing stored to keep */
        return;
    FZ_CHECK(ms_conn_config_unseal(sealed, impl->secrets, fz_key, &plain, &err) == MS_OK);
    fz_expect_equal(cfg, plain, "seal and unseal");
    red = ms_conn_config_redact(sealed, impl->secrets);
    FZ_CHECK(red != NULL);
    FZ_CHECK(ms_conn_config_seal(red, sealed, impl->secrets, fz_key, &resealed, &err) == MS_OK);
    FZ_CHECK(ms_conn_config_unseal(resealed, impl->secrets, fz_key, &plain2, &err) == MS_OK);
    fz_expect_equal(cfg, plain2, "redact and update");
    json_decref(plain2);
    json_decref(resealed);
    json_decref(red);
    json_decref(plain);
    json_decref(sealed);
}

static void
fz_connector(const struct ms_connector *impl, const json_t *cfg)
{
    struct ms_error err;
    enum ms_status st;

    if (impl->validate != NULL) {
        memset(&err, 0, sizeof(err));
        st = impl->validate(cfg, &err);
        FZ_CHECK(st == MS_OK || st == MS_EINVAL || st == MS_ETOOBIG || st == MS_EUNSUPP);
        if (st != MS_OK && err.field[0] == '\0') {
            fprintf(stderr, "fuzz_cxconfig: %s: refused without naming a member: %s\n", impl->type,
                    err.msg);
            abort();
        }
        if (st == MS_OK)
            fz_secrets(impl, cfg);
    }
    if (impl->model_validate != NULL) {
        st = impl->model_validate(cfg, &err);
        FZ_CHECK(st == MS_OK || st == MS_EINVAL || st == MS_ETOOBIG || st == MS_EUNSUPP);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    json_t *cfg = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    const struct ms_connector *const *all;
    size_t n = 0;

    if (!init) {
        FZ_CHECK(ms_crypto_init(NULL) == MS_OK);
        memset(fz_key, 0x6b, sizeof(fz_key));
        init = true;
    }
    if (cfg == NULL)
        return 0;
    all = ms_cx_all(&n);
    for (size_t i = 0; i < n; i++)
        fz_connector(all[i], cfg);
    fz_connector(ms_cx_find("memory"), cfg);
    fz_connector(ms_cx_find("fault"), cfg);
    json_decref(cfg);
    return 0;
}
