/*
 * config.c: process configuration (DECISIONS.md §2). Defaults, then MODELSYNC_* variables, then
 * flags, each value going through the same setter so a bad one is refused the same way and named
 * by its flag or variable. Values derived from the data directory (store URL, secret file) are
 * filled in last, once the directory is known. Runs in main() before any thread starts.
 */
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/str.h"
#include "core/xmalloc.h"

#define CONFIG_MAX_THREADS 256
#define CONFIG_MAX_RATE 1000000
#define CONFIG_MAX_GAP_S (7 * 86400) /* --continuous-gap: at most a week */
#define CONFIG_GAP_S 60
#define CONFIG_SECRET_FILE_MAX 256 /* bytes read from a secret file: 64 hex plus slack */

/* What the environment and flags set that the struct cannot say by itself. */
struct config_state {
    struct ms_config *cfg;
    bool key_from_env; /* MODELSYNC_SECRET supplied the key and no --secret-file overrides it */
};

typedef enum ms_status (*config_set_fn)(struct config_state *s, const char *name, const char *v,
                                        struct ms_error *err);

struct config_opt {
    const char *flag; /* without the leading "--" */
    const char *env;
    config_set_fn set;
};

static void
config_replace(char **slot, const char *v)
{
    free(*slot);
    *slot = ms_xstrdup(v);
}

static enum ms_status
config_int(const char *name, const char *v, int lo, int hi, int *out, struct ms_error *err)
{
    int64_t n;

    if (ms_str_to_i64(ms_str_c(v), &n) != MS_OK || n < lo || n > hi)
        return ms_fail_at(err, MS_EINVAL, name, "expected an integer from %d to %d", lo, hi);
    *out = (int)n;
    return MS_OK;
}

static enum ms_status
config_set_data(struct config_state *s, const char *name, const char *v, struct ms_error *err)
{
    if (*v == '\0')
        return ms_fail_at(err, MS_EINVAL, name, "expected a directory");
    config_replace(&s->cfg->data_dir, v);
    return MS_OK;
}

static enum ms_status
config_set_store(struct config_state *s, const char *name, const char *v, struct ms_error *err)
{
    struct ms_str u = ms_str_c(v);
    bool ok = (ms_str_prefix(u, "sqlite:") && u.len > strlen("sqlite:")) ||
              (ms_str_prefix(u, "postgres://") || ms_str_prefix(u, "postgresql://"));

    if (!ok)
        return ms_fail_at(err, MS_EINVAL, name, "expected sqlite:PATH or postgres://...");
    config_replace(&s->cfg->store_url, v);
    return MS_OK;
}

/* "HOST:PORT", ":PORT" (127.0.0.1) or "[v6]:PORT". */
static enum ms_status
config_set_listen(struct config_state *s, const char *name, const char *v, struct ms_error *err)
{
    const char *colon = strrchr(v, ':');
    size_t hlen;
    int port = 0;

    if (colon == NULL || config_int(name, colon + 1, 0, 65535, &port, NULL) != MS_OK)
        return ms_fail_at(err, MS_EINVAL, name, "expected ADDR:PORT with a port from 0 to 65535");
    hlen = (size_t)(colon - v);
    if (hlen >= 2 && v[0] == '[' && v[hlen - 1] == ']') {
        v++;
        hlen -= 2;
    }
    free(s->cfg->listen_host);
    s->cfg->listen_host = hlen == 0 ? ms_xstrdup("127.0.0.1") : ms_xstrndup(v, hlen);
    s->cfg->listen_port = port;
    return MS_OK;
}

static enum ms_status
config_set_workers(struct config_state *s, const char *name, const char *v, struct ms_error *err)
{
    return config_int(name, v, 1, CONFIG_MAX_THREADS, &s->cfg->workers, err);
}

static enum ms_status
config_set_http_threads(struct config_state *s, const char *name, const char *v,
                        struct ms_error *err)
{
    return config_int(name, v, 0, CONFIG_MAX_THREADS, &s->cfg->http_threads, err);
}

static enum ms_status
config_set_rate(struct config_state *s, const char *name, const char *v, struct ms_error *err)
{
    return config_int(name, v, 0, CONFIG_MAX_RATE, &s->cfg->rate_limit_per_min, err);
}

static enum ms_status
config_set_gap(struct config_state *s, const char *name, const char *v, struct ms_error *err)
{
    return config_int(name, v, 0, CONFIG_MAX_GAP_S, &s->cfg->continuous_gap_s, err);
}

static enum ms_status
config_set_secret_file(struct config_state *s, const char *name, const char *v,
                       struct ms_error *err)
{
    if (*v == '\0')
        return ms_fail_at(err, MS_EINVAL, name, "expected a file path");
    config_replace(&s->cfg->secret_file, v);
    s->key_from_env = false;
    return MS_OK;
}

/* 64 hex characters, optionally followed by one newline ("\n" or "\r\n"). */
static enum ms_status
config_parse_key(const char *v, size_t n, uint8_t key[MS_SECRET_KEY_LEN])
{
    uint8_t tmp[MS_SECRET_KEY_LEN];
    size_t got;

    if (n > 0 && v[n - 1] == '\n')
        n--;
    if (n > 0 && v[n - 1] == '\r')
        n--;
    if (n != 2 * MS_SECRET_KEY_LEN || ms_unhex(v, n, tmp, sizeof(tmp), &got) != MS_OK)
        return MS_EINVAL;
    memcpy(key, tmp, sizeof(tmp));
    return MS_OK;
}

static enum ms_status
config_set_secret(struct config_state *s, const char *name, const char *v, struct ms_error *err)
{
    if (config_parse_key(v, strlen(v), s->cfg->secret) != MS_OK)
        return ms_fail_at(err, MS_EINVAL, name, "expected 64 hexadecimal characters");
    free(s->cfg->secret_file);
    s->cfg->secret_file = NULL;
    s->key_from_env = true;
    return MS_OK;
}

/* Environment order matters: MODELSYNC_SECRET after _SECRET_FILE, since the key itself wins. */
static const struct config_opt config_opts[] = {
    {"data", "MODELSYNC_DATA", config_set_data},
    {"store", "MODELSYNC_STORE", config_set_store},
    {"listen", "MODELSYNC_LISTEN", config_set_listen},
    {"workers", "MODELSYNC_WORKERS", config_set_workers},
    {"secret-file", "MODELSYNC_SECRET_FILE", config_set_secret_file},
    {NULL, "MODELSYNC_SECRET", config_set_secret},
    {"rate-limit", "MODELSYNC_RATE_LIMIT", config_set_rate},
    {"http-threads", "MODELSYNC_HTTP_THREADS", config_set_http_threads},
    {"continuous-gap", "MODELSYNC_CONTINUOUS_GAP", config_set_gap},
};

static int
config_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1)
        return 1;
    return n > CONFIG_MAX_THREADS ? CONFIG_MAX_THREADS : (int)n;
}

static enum ms_status
config_load_env(struct config_state *s, struct ms_error *err)
{
    for (size_t i = 0; i < MS_ARRAY_LEN(config_opts); i++) {
        const char *v = getenv(config_opts[i].env);
        enum ms_status st;

        if (v == NULL)
            continue;
        st = config_opts[i].set(s, config_opts[i].env, v, err);
        if (st != MS_OK)
            return st;
    }
    return MS_OK;
}

/* The option arg names ("--data" or "--data=…"), or NULL. *inline_v gets the "=…" part. */
static const struct config_opt *
config_match(const char *arg, const char **inline_v)
{
    if (strncmp(arg, "--", 2) != 0)
        return NULL;
    arg += 2;
    for (size_t i = 0; i < MS_ARRAY_LEN(config_opts); i++) {
        const char *f = config_opts[i].flag;
        size_t n = f != NULL ? strlen(f) : 0;

        if (f == NULL || strncmp(arg, f, n) != 0)
            continue;
        if (arg[n] == '\0') {
            *inline_v = NULL;
            return &config_opts[i];
        }
        if (arg[n] == '=') {
            *inline_v = arg + n + 1;
            return &config_opts[i];
        }
    }
    return NULL;
}

static enum ms_status
config_load_flags(struct config_state *s, int *argc, char **argv, struct ms_error *err)
{
    int out = 1;

    for (int i = 1; i < *argc; i++) {
        const char *v;
        const struct config_opt *o = config_match(argv[i], &v);
        char name[64];
        enum ms_status st;

        if (o == NULL) {
            argv[out++] = argv[i];
            continue;
        }
        snprintf(name, sizeof(name), "--%s", o->flag);
        if (v == NULL) {
            if (i + 1 >= *argc)
                return ms_fail_at(err, MS_EINVAL, name, "missing value");
            v = argv[++i];
        }
        st = o->set(s, name, v, err);
        if (st != MS_OK)
            return st;
    }
    *argc = out;
    argv[out] = NULL;
    return MS_OK;
}

static void
config_defaults(struct ms_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->data_dir = ms_xstrdup("./data");
    cfg->listen_host = ms_xstrdup("127.0.0.1");
    cfg->listen_port = 8080;
    cfg->workers = config_cpus();
    cfg->max_body_bytes = MS_MAX_BODY_BYTES;
    cfg->continuous_gap_s = CONFIG_GAP_S;
}

static char *
config_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = ms_xmalloc(n);

    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

enum ms_status
ms_config_load(struct ms_config *cfg, int *argc, char **argv, struct ms_error *err)
{
    struct config_state s = {cfg, false};
    enum ms_status st;

    config_defaults(cfg);
    st = config_load_env(&s, err);
    if (st == MS_OK)
        st = config_load_flags(&s, argc, argv, err);
    if (st != MS_OK)
        return st;
    if (cfg->store_url == NULL) {
        char *db = config_path(cfg->data_dir, "modelsync.db");
        size_t n = strlen(db) + sizeof("sqlite:");

        cfg->store_url = ms_xmalloc(n);
        snprintf(cfg->store_url, n, "sqlite:%s", db);
        free(db);
    }
    if (!s.key_from_env && cfg->secret_file == NULL)
        cfg->secret_file = config_path(cfg->data_dir, "secret.key");
    return MS_OK;
}

/* mkdir -p with mode 0700 for the directories it creates. */
static enum ms_status
config_mkdirs(const char *dir, struct ms_error *err)
{
    char *p = ms_xstrdup(dir);
    enum ms_status st = MS_OK;

    for (char *q = p + 1; st == MS_OK; q++) {
        bool end = *q == '\0';

        if (!end && *q != '/')
            continue;
        *q = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            st = ms_fail(err, MS_EINTERNAL, "cannot create directory %s: %s", p, strerror(errno));
            if (err != NULL)
                err->native = errno;
        }
        if (end)
            break;
        *q = '/';
    }
    free(p);
    return st;
}

/* Read the key file: ENOENT is reported as such so the caller can create it. */
static enum ms_status
config_read_key(const char *path, uint8_t key[MS_SECRET_KEY_LEN], struct ms_error *err)
{
    char buf[CONFIG_SECRET_FILE_MAX];
    ssize_t n;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOENT)
            return MS_ENOTFOUND;
        return ms_fail(err, MS_EINTERNAL, "cannot open secret file %s: %s", path, strerror(errno));
    }
    while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return ms_fail(err, MS_EINTERNAL, "cannot read secret file %s", path);
        }
        len += (size_t)n;
    }
    close(fd);
    if (config_parse_key(buf, len, key) != MS_OK)
        return ms_fail(err, MS_EINVAL, "secret file %s: expected 64 hexadecimal characters", path);
    return MS_OK;
}

/* Write path.tmp.<pid> completely, then link() it into place: exclusive and never partial. */
static enum ms_status
config_create_key(const char *path, struct ms_error *err)
{
    uint8_t key[MS_SECRET_KEY_LEN];
    char hex[2 * MS_SECRET_KEY_LEN + 2];
    size_t n = strlen(path) + 32;
    char *tmp = ms_xmalloc(n);
    enum ms_status st = MS_OK;
    int fd;

    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    ms_random_bytes(key, sizeof(key));
    ms_hex(key, sizeof(key), hex);
    strcat(hex, "\n");
    memset(key, 0, sizeof(key));
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) || fsync(fd) != 0) {
        st = ms_fail(err, MS_EINTERNAL, "cannot write secret file %s: %s", tmp, strerror(errno));
    } else if (link(tmp, path) != 0 && errno != EEXIST) {
        st = ms_fail(err, MS_EINTERNAL, "cannot create secret file %s: %s", path, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    memset(hex, 0, sizeof(hex));
    return st;
}

enum ms_status
ms_config_prepare(struct ms_config *cfg, struct ms_error *err)
{
    enum ms_status st = config_mkdirs(cfg->data_dir, err);
    struct stat sb;

    if (st != MS_OK)
        return st;
    if (stat(cfg->data_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ms_fail(err, MS_EINVAL, "data directory %s is not a directory", cfg->data_dir);
    if (cfg->secret_file == NULL)
        return MS_OK;
    st = config_read_key(cfg->secret_file, cfg->secret, err);
    if (st != MS_ENOTFOUND)
        return st;
    /* Created here, or by a concurrent first start that won the link(): read whichever won. */
    st = config_create_key(cfg->secret_file, err);
    if (st == MS_OK)
        st = config_read_key(cfg->secret_file, cfg->secret, err);
    if (st == MS_ENOTFOUND)
        st = ms_fail(err, MS_EINTERNAL, "secret file %s vanished", cfg->secret_file);
    return st;
}

void
ms_config_release(struct ms_config *cfg)
{
    volatile uint8_t *k = cfg->secret;

    free(cfg->data_dir);
    free(cfg->store_url);
    free(cfg->listen_host);
    free(cfg->secret_file);
    cfg->data_dir = cfg->store_url = cfg->listen_host = cfg->secret_file = NULL;
    for (size_t i = 0; i < sizeof(cfg->secret); i++) /* volatile: the wipe is not elided */
        k[i] = 0;
}
