/*
 * config.h: process configuration from flags and environment (DECISIONS.md §2; flags win).
 * Filled once by main.c before any thread starts, then read-only: safe to share by pointer.
 */
#ifndef MS_CORE_CONFIG_H
#define MS_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "core/crypto.h"
#include "core/error.h"

#define MS_MAX_BODY_BYTES ((size_t)1 << 20) /* request body cap: 1 MiB, then 413 */
#define MS_DEFAULT_LISTEN "127.0.0.1:8080"

struct ms_config {
    char *data_dir;                    /* owned; absolute or relative to the cwd */
    char *store_url;                   /* owned; "sqlite:PATH" or "postgres://..." */
    char *listen_host;                 /* owned; "127.0.0.1" */
    int listen_port;                   /* 0 = pick a free port */
    int workers;                       /* concurrent executions on this node */
    char *secret_file;                 /* owned; NULL when the key came from MODELSYNC_SECRET */
    uint8_t secret[MS_SECRET_KEY_LEN]; /* seals secrets, signs page tokens and log URLs */
    size_t max_body_bytes;             /* MS_MAX_BODY_BYTES unless overridden */
    int rate_limit_per_min;            /* requests per key per minute; 0 = off */
    int http_threads;                  /* MHD pool size; 0 = number of CPUs */
    int continuous_gap_s;              /* continuous syncs: least seconds from a run's end to
                                          the next start (default 60) */
};

/*
 * Defaults, then the environment (MODELSYNC_DATA, _STORE, _LISTEN, _WORKERS, _SECRET (the key
 * as 64 hex characters), _SECRET_FILE, _RATE_LIMIT, _HTTP_THREADS, _CONTINUOUS_GAP), then flags
 * override them.
 * Consumes the flags it knows from argv[1..*argc) ("--data DIR" and "--data=DIR" alike) and
 * leaves the others, in order, in argv[1..*argc) for the subcommand to parse. A known flag
 * without its value or with a bad value → MS_EINVAL naming it. Does not touch the disk.
 * cfg is overwritten; release it with ms_config_release() even on failure.
 */
enum ms_status ms_config_load(struct ms_config *cfg, int *argc, char **argv, struct ms_error *err);

/*
 * Create the data directory (0700) if missing and load or create the secret key
 * (<data>/secret.key, 64 hex characters, mode 0600) unless MODELSYNC_SECRET supplied it.
 */
enum ms_status ms_config_prepare(struct ms_config *cfg, struct ms_error *err);

void ms_config_release(struct ms_config *cfg);

#endif
