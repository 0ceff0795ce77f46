/*
 * main.c: the modelsync command line (DECISIONS.md §2): serve, run, init, keys, orgs, migrate,
 * version. Every subcommand shares the configuration flags of core/config.h.
 *
 * Start order of `serve`: configuration → crypto → data directory and secret key → store
 * migration (+ first-start bootstrap) → connector registry check → signals blocked in every
 * thread → worker pool ("worker-N" threads, workers.h) → scheduler ("sched" thread, sched.h)
 * → HTTP server → port file and "listening on" line → sigwait().
 * Stop order (SIGINT/SIGTERM): stop accepting HTTP and finish in-flight requests (MHD joins its
 * pool threads, whose store handles close) → the scheduler finishes its pass and is joined →
 * workers end their current batch (executions end interrupted) and are joined → remove the
 * port file → release the configuration.
 * `run` executes one execution on the main thread with the same engine (and its eng-read and
 * eng-write threads, engine.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "admin.h"
#include "connectors/connector.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/time.h"
#include "engine/engine.h"
#include "http/http.h"
#include "sched/sched.h"
#include "store/store.h"
#include "workers/workers.h"

static const char usage_main[] =
    "usage: modelsync <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve     run the API server on the state store (migrates it first)\n"
    "  run       run one execution of a sync in the foreground\n"
    "  init      create an organization, its first user and API keys\n"
    "  keys      create, list or revoke API keys\n"
    "  orgs      list organizations\n"
    "  migrate   apply state-store migrations and exit\n"
    "  version   print the version\n"
    "\n"
    "options of every command (each also read from the environment):\n"
    "  --data DIR            MODELSYNC_DATA      state directory (default ./data)\n"
    "  --store URL           MODELSYNC_STORE     sqlite:PATH (default sqlite:<data>/modelsync.db)\n"
    "  --listen ADDR:PORT    MODELSYNC_LISTEN    API address (default 127.0.0.1:8080; port 0 picks "
    "one)\n"
    "  --workers N           MODELSYNC_WORKERS   concurrent executions on this node (default: "
    "CPUs)\n"
    "  --secret-file PATH    MODELSYNC_SECRET_FILE  deployment key file (default "
    "<data>/secret.key);\n"
    "                        MODELSYNC_SECRET    the key itself, 64 hex characters\n"
    "  --rate-limit N        MODELSYNC_RATE_LIMIT   requests per key per minute (default 0 = off)\n"
    "  --http-threads N      MODELSYNC_HTTP_THREADS HTTP pool threads (default: CPUs)\n"
    "  --continuous-gap S    MODELSYNC_CONTINUOUS_GAP  least seconds between the runs of a\n"
    "                        continuous sync (default 60)\n"
    "\n"
    "Run 'modelsync <command> --help' for a command's own options.\n";

static const char usage_serve[] =
    "usage: modelsync serve [options]\n"
    "Migrates the store, then serves the API until SIGINT or SIGTERM. On the first start with an\n"
    "empty store it creates a default organization and prints a user API key once (also saved to\n"
    "<data>/initial-credentials.json, mode 0600). Writes the bound port to <data>/port.\n";

static const char usage_run[] =
    "usage: modelsync run SYNC [--resync] [--json]\n"
    "Runs one execution of SYNC (a sync id, or a name: the first sync with that name, searching\n"
    "organizations oldest first) in the foreground with the server's engine, recorded like any\n"
    "other execution (type manual, or resync with --resync). Shows a progress line when stderr\n"
    "is a terminal and a summary at the end; --json prints one JSON object\n"
    "  {\"execution_id\", \"status\", \"counts\", \"errors\", \"stats\"}.\n"
    "Exit status 0 only when the execution completed. Ctrl-C ends it after the current batch.\n";

static const char usage_init[] =
    "usage: modelsync init --org NAME --email EMAIL [--json]\n"
    "Creates an organization, a user, one user API key (Bearer) and one organization key (Basic)\n"
    "and prints them once. With --json prints one JSON object:\n"
    "  {\"organization_id\", \"user_id\", \"api_key\", \"org_api_key\"}\n";

static const char usage_keys[] =
    "usage: modelsync keys create --org ORG_ID [--user USER_ID] [--json]\n"
    "       modelsync keys list [--org ORG_ID] [--json]\n"
    "       modelsync keys revoke KEY_ID\n"
    "create: a user key (Bearer) for --user, otherwise an organization key (Basic); shown once.\n"
    "list: key ids, classes and the first characters of each key. revoke: the key stops working.\n";

static const char usage_orgs[] = "usage: modelsync orgs list [--json]\n";

static const char usage_migrate[] = "usage: modelsync migrate [options]\n"
                                    "Applies the embedded store migrations and exits.\n";

static int
die(const char *what, const struct ms_error *err)
{
    fprintf(stderr, "modelsync: %s: %s\n", what,
            err->msg[0] ? err->msg : ms_status_name(err->status));
    return 1;
}

static bool
has_flag(int argc, char **argv, const char *flag)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return true;
    return false;
}

/* Value of "--name VALUE" among the subcommand's own arguments, or NULL. */
static const char *
flag_value(int argc, char **argv, const char *flag)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return argv[i + 1];
    return NULL;
}

/* Refuse arguments that are neither known flags (with their values) nor known words. */
static int
check_args(int argc, char **argv, const char *const *with_value, const char *const *bare,
           const char *usage)
{
    for (int i = 1; i < argc; i++) {
        bool known = false;

        for (const char *const *f = with_value; *f != NULL && !known; f++)
            if (strcmp(argv[i], *f) == 0) {
                known = true;
                if (++i >= argc) {
                    fprintf(stderr, "modelsync: %s needs a value\n%s", *f, usage);
                    return 1;
                }
            }
        for (const char *const *f = bare; *f != NULL && !known; f++)
            known = strcmp(argv[i], *f) == 0;
        if (!known) {
            fprintf(stderr, "modelsync: unknown argument '%s'\n%s", argv[i], usage);
            return 1;
        }
    }
    return 0;
}

static int
open_store(const struct ms_config *cfg, struct ms_store **s)
{
    struct ms_error err = {0};

    if (ms_store_open(cfg->store_url, s, &err) != MS_OK)
        return die("cannot open the store", &err);
    if (ms_store_migrate(*s, &err) != MS_OK) {
        ms_store_close(*s);
        *s = NULL;
        return die("cannot migrate the store", &err);
    }
    return 0;
}

static int
write_port_file(const struct ms_config *cfg, int port)
{
    char path[4096], tmp[4200], text[16];
    int fd, n;

    snprintf(path, sizeof(path), "%s/port", cfg->data_dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    n = snprintf(text, sizeof(text), "%d\n", port);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, (size_t)n) != n || close(fd) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "modelsync: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static void
remove_port_file(const struct ms_config *cfg)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/port", cfg->data_dir);
    unlink(path);
}

static int
cmd_serve(struct ms_config *cfg, int argc, char **argv)
{
    static const char *const none[] = {NULL};
    struct ms_error err = {0};
    struct ms_store *s = NULL;
    struct ms_http *http = NULL;
    struct ms_workers *workers = NULL;
    struct ms_sched *sched = NULL;
    sigset_t sigs;
    bool created = false;
    int sig = 0, rc;

    if (check_args(argc, argv, none, none, usage_serve) != 0)
        return 2;
    if ((rc = open_store(cfg, &s)) != 0)
        return rc;
    if (ms_admin_bootstrap(s, cfg->data_dir, &created, &err) != MS_OK) {
        ms_store_close(s);
        return die("cannot create the default organization", &err);
    }
    ms_store_close(s);
    if (ms_cx_registry_check(&err) != MS_OK)
        return die("connector registry", &err);

    /* Blocked here, inherited by every thread started below; main collects them in sigwait. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (ms_workers_start(cfg, &workers, &err) != MS_OK)
        return die("cannot start the workers", &err);
    ms_sched_on_queue(ms_workers_nudge);
    if (ms_sched_start(cfg, &sched, &err) != MS_OK) {
        ms_workers_stop(workers);
        return die("cannot start the scheduler", &err);
    }
    if (ms_http_start(cfg, &http, &err) != MS_OK) {
        ms_sched_stop(sched);
        ms_workers_stop(workers);
        return die("cannot start the HTTP server", &err);
    }
    if (write_port_file(cfg, ms_http_port(http)) != 0) {
        ms_http_stop(http);
        ms_sched_stop(sched);
        ms_workers_stop(workers);
        return 1;
    }
    printf("listening on http://%s:%d\n", cfg->listen_host, ms_http_port(http));
    fflush(stdout);
    ms_log(MS_LOG_INFO, "serving", "listen", cfg->listen_host, "store",
           strncmp(cfg->store_url, "sqlite:", 7) == 0 ? "sqlite" : "postgresql", (char *)NULL);

    while (sigwait(&sigs, &sig) != 0)
        ;
    ms_log(MS_LOG_INFO, "shutting down", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM",
           (char *)NULL);
    ms_http_stop(http);
    ms_sched_stop(sched);
    ms_workers_stop(workers);
    remove_port_file(cfg);
    ms_log(MS_LOG_INFO, "stopped", (char *)NULL);
    return 0;
}

static int
cmd_init(struct ms_config *cfg, int argc, char **argv)
{
    static const char *const with_value[] = {"--org", "--email", NULL};
    static const char *const bare[] = {"--json", NULL};
    struct ms_error err = {0};
    struct ms_store *s = NULL;
    struct ms_admin_org o;
    enum ms_status st;
    int rc;

    if (check_args(argc, argv, with_value, bare, usage_init) != 0)
        return 2;
    if ((rc = open_store(cfg, &s)) != 0)
        return rc;
    st = ms_admin_init_org(s, flag_value(argc, argv, "--org"), flag_value(argc, argv, "--email"),
                           &o, &err);
    ms_store_close(s);
    if (st != MS_OK)
        return die("init", &err);
    if (has_flag(argc, argv, "--json")) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "organization_id", o.org_id, "user_id",
                              o.user_id, "api_key", o.api_key, "org_api_key", o.org_api_key);

        json_dumpf(j, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(j);
        return 0;
    }
    printf("organization  %s\nuser          %s\n", o.org_id, o.user_id);
    printf("user API key (Bearer, shown once):         %s\n", o.api_key);
    printf("organization key (Basic, shown once):      %s\n", o.org_api_key);
    return 0;
}

static const char *
kind_name(enum ms_actor_kind k)
{
    switch (k) {
    case MS_ACTOR_USER:
        return "user";
    case MS_ACTOR_ORGANIZATION:
        return "organization";
    case MS_ACTOR_PARTNER:
        return "partner";
    case MS_ACTOR_SYSTEM:
        return "system";
    }
    return "unknown";
}

static void
print_keys(const struct ms_api_key *keys, size_t n, bool as_json)
{
    json_t *arr = json_array();
    char created[MS_TIME_LEN], revoked[MS_TIME_LEN];

    for (size_t i = 0; i < n; i++) {
        const struct ms_api_key *k = &keys[i];

        ms_time_format(k->created_at, created);
        if (k->revoked_at)
            ms_time_format(k->revoked_at, revoked);
        if (!as_json) {
            printf("%s  %-12s  %s  org %s  %s%s\n", k->id, kind_name(k->kind), k->label, k->org_id,
                   created, k->revoked_at ? "  revoked" : "");
            continue;
        }
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", k->id, "organization_id", k->org_id,
                      "kind", kind_name(k->kind), "label", k->label, "created_at", created);
        if (k->user_id != NULL)
            json_object_set_new(o, "user_id", json_string(k->user_id));
        if (k->revoked_at)
            json_object_set_new(o, "revoked_at", json_string(revoked));
        json_array_append_new(arr, o);
    }
    if (as_json) {
        json_dumpf(arr, stdout, JSON_COMPACT);
        putchar('\n');
    }
    json_decref(arr);
}

static int
keys_create(struct ms_store *s, int argc, char **argv)
{
    struct ms_arena *a = ms_arena_new();
    struct ms_error err = {0};
    const char *org = flag_value(argc, argv, "--org"), *user = flag_value(argc, argv, "--user");
    char key[MS_KEY_MAX], id[MS_UUID_LEN + 1], org_id[MS_UUID_LEN + 1], user_id[MS_UUID_LEN + 1];
    struct ms_org o;
    enum ms_status st;

    if (!ms_uuid_norm(org, org_id))
        st = ms_fail_at(&err, MS_EINVAL, "--org", "an organization id is required");
    else if (user != NULL && !ms_uuid_norm(user, user_id))
        st = ms_fail_at(&err, MS_EINVAL, "--user", "not a user id");
    else
        st = ms_store_org_get(s, a, org_id, &o, &err);
    if (st == MS_OK)
        st = ms_admin_key_create(s, org_id, user != NULL ? user_id : NULL, key, id, &err);
    ms_arena_free(a);
    if (st != MS_OK)
        return die("keys create", &err);
    if (has_flag(argc, argv, "--json"))
        printf("{\"id\":\"%s\",\"key\":\"%s\",\"kind\":\"%s\"}\n", id, key,
               user != NULL ? "user" : "organization");
    else
        printf("%s key %s (shown once):\n  %s\n", user != NULL ? "user" : "organization", id, key);
    return 0;
}

static int
cmd_keys(struct ms_config *cfg, int argc, char **argv)
{
    static const char *const with_value[] = {"--org", "--user", NULL};
    static const char *const bare[] = {"--json", NULL};
    struct ms_error err = {0};
    struct ms_store *s = NULL;
    int rc;

    if (argc < 2) {
        fputs(usage_keys, stderr);
        return 2;
    }
    if (strcmp(argv[1], "revoke") == 0 && argc != 3) {
        fputs(usage_keys, stderr);
        return 2;
    }
    if (strcmp(argv[1], "revoke") != 0 &&
        check_args(argc - 1, argv + 1, with_value, bare, usage_keys) != 0)
        return 2;
    if ((rc = open_store(cfg, &s)) != 0)
        return rc;
    if (strcmp(argv[1], "create") == 0) {
        rc = keys_create(s, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "list") == 0) {
        struct ms_arena *a = ms_arena_new();
        struct ms_api_key *keys = NULL;
        size_t n = 0;
        const char *org = flag_value(argc - 1, argv + 1, "--org");
        char org_id[MS_UUID_LEN + 1];

        if (org != NULL && !ms_uuid_norm(org, org_id))
            rc = die("keys list", (ms_fail_at(&err, MS_EINVAL, "--org", "not an id"), &err));
        else if (ms_store_key_list(s, a, org != NULL ? org_id : NULL, &keys, &n, &err) != MS_OK)
            rc = die("keys list", &err);
        else
            print_keys(keys, n, has_flag(argc - 1, argv + 1, "--json"));
        ms_arena_free(a);
    } else if (strcmp(argv[1], "revoke") == 0) {
        char id[MS_UUID_LEN + 1];

        if (!ms_uuid_norm(argv[2], id))
            rc = die("keys revoke", (ms_fail(&err, MS_EINVAL, "not a key id: %s", argv[2]), &err));
        else if (ms_store_key_revoke(s, id, ms_time_now_ms(), &err) != MS_OK)
            rc = die("keys revoke", &err);
        else
            printf("revoked key %s\n", id);
    } else {
        fputs(usage_keys, stderr);
        rc = 2;
    }
    ms_store_close(s);
    return rc;
}

static int
cmd_orgs(struct ms_config *cfg, int argc, char **argv)
{
    static const char *const none[] = {NULL};
    static const char *const bare[] = {"--json", NULL};
    struct ms_arena *a;
    struct ms_error err = {0};
    struct ms_store *s = NULL;
    struct ms_org *orgs = NULL;
    size_t n = 0;
    int rc;

    if (argc < 2 || strcmp(argv[1], "list") != 0 ||
        check_args(argc - 1, argv + 1, none, bare, usage_orgs) != 0) {
        fputs(usage_orgs, stderr);
        return 2;
    }
    if ((rc = open_store(cfg, &s)) != 0)
        return rc;
    a = ms_arena_new();
    if (ms_store_org_list(s, a, &orgs, &n, &err) != MS_OK) {
        rc = die("orgs list", &err);
    } else {
        bool as_json = has_flag(argc - 1, argv + 1, "--json");
        json_t *arr = json_array();
        char created[MS_TIME_LEN];

        for (size_t i = 0; i < n; i++) {
            ms_time_format(orgs[i].created_at, created);
            if (as_json)
                json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "id", orgs[i].id, "name",
                                                     orgs[i].name, "created_at", created));
            else
                printf("%s  %s  %s\n", orgs[i].id, created, orgs[i].name);
        }
        if (as_json) {
            json_dumpf(arr, stdout, JSON_COMPACT);
            putchar('\n');
        }
        json_decref(arr);
    }
    ms_arena_free(a);
    ms_store_close(s);
    return rc;
}

static int
cmd_migrate(struct ms_config *cfg, int argc, char **argv)
{
    static const char *const none[] = {NULL};
    struct ms_store *s = NULL;
    int rc;

    if (check_args(argc, argv, none, none, usage_migrate) != 0)
        return 2;
    if ((rc = open_store(cfg, &s)) != 0)
        return rc;
    ms_store_close(s);
    printf("store is up to date\n");
    return 0;
}

/* ---- run: one execution in the foreground ---- */

#define RUN_REDRAW_MS 100 /* progress line refresh */
#define RUN_FOLLOW_MS 500 /* poll period when another process runs the execution */
#define RUN_SYNC_PAGE 200 /* syncs read per step when looking a name up */

static atomic_bool run_stop; /* set by SIGINT/SIGTERM: end after the current batch */

static void
run_on_signal(int sig)
{
    (void)sig;
    atomic_store(&run_stop, true); /* lock-free, so async-signal-safe */
}

struct run_progress {
    bool tty;             /* stderr is a terminal: draw the line */
    bool drawn;           /* a line is on screen and needs a newline before other output */
    int64_t start_ms;     /* monotonic */
    int64_t last_draw_ms; /* monotonic */
};

/* Redraw the progress line (at most every RUN_REDRAW_MS unless force). */
static void
run_draw(struct run_progress *p, bool follow, int64_t a, int64_t b, bool force)
{
    int64_t now = ms_time_mono_ms(), el = now - p->start_ms;

    if (!p->tty || (!force && p->drawn && now - p->last_draw_ms < RUN_REDRAW_MS))
        return;
    if (follow) /* a: records processed, b: rejected; the server's worker runs it */
        fprintf(stderr, "\r\033[Kprocessed %lld  rejected %lld (run by a server)", (long long)a,
                (long long)b);
    else /* a: rows read, b: rows written */
        fprintf(stderr, "\r\033[Kread %lld  written %lld", (long long)a, (long long)b);
    fprintf(stderr, "  %.0f rows/s  %.1f s", el > 0 ? (double)a * 1000.0 / (double)el : 0.0,
            (double)el / 1000.0);
    fflush(stderr);
    p->drawn = true;
    p->last_draw_ms = now;
}

static void
run_progress_cb(void *ud, const struct ms_counts *c, const struct ms_engine_stats *st)
{
    (void)c;
    run_draw(ud, false, st->rows_read, st->rows_written, false);
}

static void
run_progress_end(struct run_progress *p)
{
    if (p->drawn)
        fputc('\n', stderr);
    p->drawn = false;
}

/* The sync of org_id named name (its first in list order: most recently updated). */
static enum ms_status
run_find_name(struct ms_store *s, struct ms_arena *a, const char *org_id, const char *name,
              struct ms_sync *out, struct ms_error *err)
{
    struct ms_sync_filter f = {-1, NULL, NULL};
    struct ms_sync_cursor cur = {.set = false};
    struct ms_sync *rows = NULL;
    size_t n = 0;
    enum ms_status st;

    do {
        st = ms_store_sync_list(s, a, org_id, &f, &cur, RUN_SYNC_PAGE, &rows, &n, err);
        if (st != MS_OK)
            return st;
        for (size_t i = 0; i < n; i++)
            if (rows[i].name != NULL && strcmp(rows[i].name, name) == 0) {
                *out = rows[i];
                return MS_OK;
            }
        if (n > 0) {
            cur.set = true;
            cur.updated_at = rows[n - 1].updated_at;
            snprintf(cur.id, sizeof(cur.id), "%s", rows[n - 1].id);
        }
    } while (n == RUN_SYNC_PAGE);
    return MS_ENOTFOUND;
}

/* SYNC as an id, else as a name; organizations are searched oldest first. */
static enum ms_status
run_find_sync(struct ms_store *s, struct ms_arena *a, const char *spec, struct ms_sync *out,
              struct ms_error *err)
{
    struct ms_org *orgs = NULL;
    char id[MS_UUID_LEN + 1];
    bool by_id = ms_uuid_norm(spec, id);
    size_t n = 0;
    enum ms_status st = ms_store_org_list(s, a, &orgs, &n, err);

    for (size_t i = 0; st == MS_OK && i < n; i++) {
        if (by_id)
            st = ms_store_sync_get(s, a, orgs[i].id, id, out, err);
        else
            st = run_find_name(s, a, orgs[i].id, spec, out, err);
        if (st == MS_OK)
            return MS_OK;
        if (st == MS_ENOTFOUND)
            st = MS_OK;
    }
    if (st != MS_OK)
        return st;
    return ms_fail(err, MS_ENOTFOUND, "no sync with %s \"%s\"", by_id ? "id" : "name", spec);
}

/* Queue an execution of y; *id gets its id. Inactive or busy syncs are refused. */
static enum ms_status
run_queue(struct ms_store *s, struct ms_arena *a, const struct ms_sync *y, bool resync,
          char id[MS_UUID_LEN + 1], struct ms_error *err)
{
    struct ms_execution ex, cur;
    json_t *opts;
    enum ms_status st;

    if (!y->active)
        return ms_fail_key(err, MS_EINVAL, "sync_inactive",
                           "sync \"%s\" (%s) is not active; activate it first", y->name, y->id);
    memset(&ex, 0, sizeof(ex));
    ms_uuid_new(id);
    opts = json_pack("{s:b, s:b}", "resync", resync, "test", 0);
    ex.id = id;
    ex.org_id = y->org_id;
    ex.sync_id = y->id;
    ex.type = resync ? "resync" : "manual";
    ex.status = "queued";
    ex.options = opts;
    ex.created_at = ms_time_now_ms();
    st = ms_store_exec_insert(s, &ex, err);
    json_decref(opts);
    if (st != MS_ECONFLICT)
        return st;
    if (ms_store_exec_active(s, a, y->org_id, y->id, &cur, NULL) == MS_OK)
        return ms_fail_key(err, MS_ECONFLICT, "execution_in_progress",
                           "sync \"%s\" already has a running execution (%s, %s)", y->name, cur.id,
                           cur.status);
    return ms_fail_key(err, MS_ECONFLICT, "execution_in_progress",
                       "sync \"%s\" already has a running execution", y->name);
}

/* Another process (a server's worker) claimed the execution first: watch it end. */
static enum ms_status
run_follow(struct ms_store *s, struct ms_arena *a, const struct ms_sync *y, const char *id,
           struct run_progress *p, struct ms_execution *ex, struct ms_error *err)
{
    struct timespec pause = {0, RUN_FOLLOW_MS * 1000000L};
    enum ms_status st;

    for (;;) {
        st = ms_store_exec_get(s, a, y->org_id, y->id, id, ex, err);
        if (st != MS_OK || ms_exec_status_terminal(ex->status))
            return st;
        if (atomic_load(&run_stop))
            return ms_fail(err, MS_ECANCELED,
                           "stopped watching execution %s; it keeps running "
                           "on %s",
                           id, ex->node != NULL ? ex->node : "a server");
        run_draw(p, true, ex->counts.total, ex->counts.error, false);
        nanosleep(&pause, NULL);
    }
}

static json_t *
run_stats_json(const struct ms_engine_stats *st)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rows_read",
                     (json_int_t)st->rows_read, "rows_written", (json_int_t)st->rows_written,
                     "read_us", (json_int_t)st->read_us, "transform_us",
                     (json_int_t)st->transform_us, "write_us", (json_int_t)st->write_us,
                     "snapshot_us", (json_int_t)st->snapshot_us, "total_us",
                     (json_int_t)st->total_us, "read_wait_us", (json_int_t)st->read_wait_us,
                     "write_wait_us", (json_int_t)st->write_wait_us);
}

/* The summary: one JSON object, or a few lines of text. stats NULL when another ran it. */
static void
run_summary(const struct ms_execution *ex, const struct ms_engine_stats *st, bool as_json)
{
    json_t *j = ms_exec_to_json(ex), *c = json_object_get(j, "counts"), *e;
    const struct ms_counts *n = &ex->counts;
    size_t i;

    if (as_json) {
        json_t *o = json_pack("{s:s, s:s, s:O, s:O}", "execution_id", ex->id, "status", ex->status,
                              "counts", c, "errors", json_object_get(j, "errors"));

        if (st != NULL)
            json_object_set_new(o, "stats", run_stats_json(st));
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
        json_decref(j);
        return;
    }
    printf("execution %s %s\n", ex->id, ex->status);
    printf("  records: total %lld, insert %lld, update %lld, upserts %lld, delete %lld, "
           "error %lld, warnings %lld\n",
           (long long)n->total, (long long)n->insert, (long long)n->update, (long long)n->upserts,
           (long long)n->delete, (long long)n->error, (long long)n->warnings);
    if (st != NULL)
        printf("  read %lld rows, wrote %lld in %.2f s (read %.2f s, transform %.2f s, write "
               "%.2f s, snapshot %.2f s)\n",
               (long long)st->rows_read, (long long)st->rows_written, st->total_us / 1e6,
               st->read_us / 1e6, st->transform_us / 1e6, st->write_us / 1e6,
               st->snapshot_us / 1e6);
    json_array_foreach(json_object_get(j, "errors"), i, e)
    {
        printf("  error: %s\n", json_string_value(e));
    }
    json_decref(j);
}

/* Claim the queued execution id and run it here; or follow it if a server got it first. */
static enum ms_status
run_execute(const struct ms_config *cfg, struct ms_store *s, struct ms_arena *a,
            const struct ms_sync *y, const char *id, struct ms_execution *ex,
            struct ms_engine_stats *stats, bool *ran, struct ms_error *err)
{
    struct run_progress p = {isatty(STDERR_FILENO) == 1, false, ms_time_mono_ms(), 0};
    struct ms_engine_opts opts;
    char log_dir[4096];
    enum ms_status st;

    *ran = false;
    st = ms_store_exec_claim(s, a, id, ms_workers_node(), ms_time_now_ms(), MS_LEASE_MS, ex, err);
    if (st == MS_ENOTFOUND) {
        st = run_follow(s, a, y, id, &p, ex, err);
        run_progress_end(&p);
        return st;
    }
    if (st != MS_OK)
        return st;
    snprintf(log_dir, sizeof(log_dir), "%s/logs", cfg->data_dir);
    (void)mkdir(log_dir, 0700); /* the engine reports it if it still cannot write there */
    memset(&opts, 0, sizeof(opts));
    opts.node = ms_workers_node();
    opts.lease_ms = MS_LEASE_MS;
    opts.log_dir = log_dir;
    opts.secret = cfg->secret;
    opts.stop = &run_stop;
    opts.progress = run_progress_cb;
    opts.progress_ud = &p;
    st = ms_engine_run(s, ex, &opts, NULL, stats, err);
    run_draw(&p, false, stats->rows_read, stats->rows_written, true);
    run_progress_end(&p);
    *ran = true;
    if (st == MS_OK)
        st = ms_store_exec_get(s, a, y->org_id, y->id, id, ex, err);
    return st;
}

static int
cmd_run(struct ms_config *cfg, int argc, char **argv)
{
    struct ms_arena *a = NULL;
    struct ms_error err = {0};
    struct ms_store *s = NULL;
    struct ms_sync y;
    struct ms_execution ex;
    struct ms_engine_stats stats;
    struct sigaction sa;
    const char *spec = NULL;
    char id[MS_UUID_LEN + 1];
    bool resync = false, as_json = false, ran = false;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--resync") == 0)
            resync = true;
        else if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else if (argv[i][0] != '-' && spec == NULL)
            spec = argv[i];
        else {
            fprintf(stderr, "modelsync: unexpected argument '%s'\n%s", argv[i], usage_run);
            return 2;
        }
    }
    if (spec == NULL) {
        fputs(usage_run, stderr);
        return 2;
    }
    if (ms_cx_registry_check(&err) != MS_OK)
        return die("connector registry", &err);
    if ((rc = open_store(cfg, &s)) != 0)
        return rc;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = run_on_signal;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    memset(&stats, 0, sizeof(stats));
    a = ms_arena_new();
    rc = 1;
    if (run_find_sync(s, a, spec, &y, &err) != MS_OK)
        rc = die("run", &err);
    else if (run_queue(s, a, &y, resync, id, &err) != MS_OK)
        rc = die("run", &err);
    else if (run_execute(cfg, s, a, &y, id, &ex, &stats, &ran, &err) != MS_OK)
        rc = die("run", &err);
    else {
        run_summary(&ex, ran ? &stats : NULL, as_json);
        rc = strcmp(ex.status, "completed") == 0 ? 0 : 1;
    }
    ms_arena_free(a);
    ms_store_close(s);
    return rc;
}

struct command {
    const char *name;
    int (*run)(struct ms_config *cfg, int argc, char **argv);
    const char *usage;
};

static const struct command commands[] = {
    {"serve", cmd_serve, usage_serve}, {"run", cmd_run, usage_run},
    {"init", cmd_init, usage_init},    {"keys", cmd_keys, usage_keys},
    {"orgs", cmd_orgs, usage_orgs},    {"migrate", cmd_migrate, usage_migrate},
};

int
main(int argc, char **argv)
{
    struct ms_config cfg;
    struct ms_error err = {0};
    const struct command *cmd = NULL;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("modelsync %s\n", MS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < MS_ARRAY_LEN(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            cmd = &commands[i];
    if (cmd == NULL) {
        fprintf(stderr, "modelsync: unknown command '%s'\n%s", argv[1], usage_main);
        return 2;
    }
    /* argv[1..] seen as the subcommand's own vector: argv[0] of it is the command name. */
    argc--;
    argv++;
    if (has_flag(argc, argv, "--help") || has_flag(argc, argv, "-h")) {
        printf("%s\n%s", cmd->usage, usage_main + strlen("usage: modelsync <command> [options]\n"));
        return 0;
    }
    if (ms_config_load(&cfg, &argc, argv, &err) != MS_OK) {
        ms_config_release(&cfg);
        fprintf(stderr, "modelsync: %s\n", err.msg);
        return 2;
    }
    if (ms_crypto_init(&err) != MS_OK || ms_config_prepare(&cfg, &err) != MS_OK) {
        ms_config_release(&cfg);
        return die("startup", &err);
    }
    rc = cmd->run(&cfg, argc, argv);
    ms_config_release(&cfg);
    return rc;
}
