/*
 * fuzz_config.c: the process configuration, through ms_config_load() as main() calls it. The
 * input is split on '\n' into arguments after argv[0]; a line "MODELSYNC_<NAME>=value" naming
 * one of the variables the loader reads sets it in the environment instead (it is unset again
 * afterwards). Besides the sanitizers: success leaves every member set and in range, and the
 * arguments it does not consume are the others, in order, NULL-terminated.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(c)                                                                                \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_config: check failed: %s (line %d)\n", #c, __LINE__);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FZ_MAX_ARGS 64
#define FZ_ENV_MAX 512

static const char *const fz_env[] = {
    "MODELSYNC_DATA",   "MODELSYNC_STORE",       "MODELSYNC_LISTEN",     "MODELSYNC_WORKERS",
    "MODELSYNC_SECRET", "MODELSYNC_SECRET_FILE", "MODELSYNC_RATE_LIMIT", "MODELSYNC_HTTP_THREADS",
};
#define FZ_NENV (sizeof(fz_env) / sizeof(fz_env[0]))

/* putenv() keeps the pointer: one fixed buffer per variable, so nothing piles up per run. */
static char fz_env_buf[FZ_NENV][FZ_ENV_MAX];

static bool
fz_setenv(const char *line)
{
    for (size_t i = 0; i < FZ_NENV; i++) {
        size_t n = strlen(fz_env[i]);

        if (strncmp(line, fz_env[i], n) != 0 || line[n] != '=')
            continue;
        snprintf(fz_env_buf[i], sizeof(fz_env_buf[i]), "%s", line);
        FZ_CHECK(putenv(fz_env_buf[i]) == 0);
        return true;
    }
    return false;
}

static void
fz_check_ok(const struct ms_config *cfg, int argc, char **argv, char **orig, int n)
{
    int j = 1;

    FZ_CHECK(cfg->data_dir != NULL && cfg->data_dir[0] != '\0');
    FZ_CHECK(cfg->store_url != NULL && cfg->listen_host != NULL);
    FZ_CHECK(strncmp(cfg->store_url, "sqlite:", 7) == 0 ||
             strncmp(cfg->store_url, "postgres", 8) == 0);
    FZ_CHECK(cfg->listen_port >= 0 && cfg->listen_port <= 65535);
    FZ_CHECK(cfg->workers >= 1 && cfg->workers <= 256);
    FZ_CHECK(cfg->http_threads >= 0 && cfg->http_threads <= 256);
    FZ_CHECK(cfg->rate_limit_per_min >= 0);
    FZ_CHECK(cfg->max_body_bytes == MS_MAX_BODY_BYTES);
    FZ_CHECK(argc >= 1 && argc <= n && argv[argc] == NULL && argv[0] == orig[0]);
    /* What is left is a subsequence of the original arguments, none of them a known flag. */
    for (int i = 1; i < argc; i++) {
        while (j < n && orig[j] != argv[i])
            j++;
        FZ_CHECK(j < n);
        j++;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *argv[FZ_MAX_ARGS + 1], *orig[FZ_MAX_ARGS + 1];
    char arg0[] = "modelsync";
    struct ms_config cfg;
    struct ms_error err;
    int argc = 1, n;
    enum ms_status st;
    static bool init;

    if (!init) { /* the caller's own settings must not decide the outcome */
        for (size_t i = 0; i < FZ_NENV; i++)
            unsetenv(fz_env[i]);
        init = true;
    }

    FZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    argv[0] = arg0;
    for (char *p = text, *nl; p != NULL && argc < FZ_MAX_ARGS; p = nl != NULL ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (!fz_setenv(p))
            argv[argc++] = p;
    }
    argv[argc] = NULL;
    memcpy(orig, argv, sizeof(argv));
    n = argc;
    st = ms_config_load(&cfg, &argc, argv, &err);
    FZ_CHECK(st == MS_OK || st == MS_EINVAL);
    if (st == MS_OK)
        fz_check_ok(&cfg, argc, argv, orig, n);
    else
        FZ_CHECK(err.field[0] != '\0');
    ms_config_release(&cfg);
    for (size_t i = 0; i < FZ_NENV; i++)
        unsetenv(fz_env[i]);
    free(text);
    return 0;
}
