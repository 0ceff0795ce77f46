/*
 * workers.c: the worker pool (workers.h). Each "worker-N" thread opens its own store handle and
 * loops: reap expired leases when due (whichever idle thread comes first, every MS_LEASE_MS/2),
 * claim the oldest queued execution, run it with the engine on this thread, repeat. With
 * nothing queued it sleeps on workers_cv for at most WORKERS_POLL_MS, so executions queued by
 * another process (`modelsync run`, another node) are still picked up; ms_workers_nudge() wakes
 * a sleeper at once, and a thread that claimed something nudges the next one to look for more.
 *
 * Locking: workers_mu guards workers_gen (the nudge generation) and the start handshake fields
 * of the pool; it is held only to read or bump them and to wait, never across a store call or
 * the engine. The stop flag and the reaper's due time are atomics. The rest of the pool struct
 * is written only by ms_workers_start/ms_workers_stop on the main thread, before the threads
 * start and after they are joined.
 */
#include "workers/workers.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "core/crypto.h"
#include "core/log.h"
#include "core/time.h"
#include "core/xmalloc.h"
#include "engine/engine.h"
#include "store/store.h"

#define WORKERS_POLL_MS 1000  /* longest sleep before looking at the queue again */
#define WORKERS_RETRY_MS 1000 /* pause after a store failure */
#define WORKERS_MAX 256       /* threads per process */
#define WORKERS_NODE_MAX 300  /* "host:pid:hex" */
#define WORKERS_PATH_MAX 4096

struct worker {
    struct ms_workers *pool;
    pthread_t thread;
    int index;
    bool joinable; /* the thread was created */
};

struct ms_workers {
    const struct ms_config *cfg; /* borrowed; outlives the pool */
    struct worker *w;            /* n of them */
    int n;
    atomic_bool stop;               /* set once by ms_workers_stop; read by threads and engine */
    atomic_int_fast64_t reap_due;   /* monotonic ms of the next reaper pass */
    char log_dir[WORKERS_PATH_MAX]; /* <data>/logs */
    /* start handshake: guarded by workers_mu */
    int ready;            /* threads that tried to open their store */
    int failed;           /* of which failed */
    char open_error[256]; /* the first failure */
};

/* One wait/nudge pair per process: ms_workers_nudge() takes no pool argument. */
static pthread_mutex_t workers_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t workers_cv; /* CLOCK_MONOTONIC; set up once in workers_once */
static pthread_cond_t workers_ready_cv;
static uint64_t workers_gen; /* guarded by workers_mu: bumped by every nudge */
static pthread_once_t workers_once_ctl = PTHREAD_ONCE_INIT;
static char workers_node_id[WORKERS_NODE_MAX]; /* written once under workers_once_ctl */

static void
workers_once(void)
{
    pthread_condattr_t attr;
    char host[256];
    uint8_t rnd[4];
    char hex[9];

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&workers_cv, &attr);
    pthread_cond_init(&workers_ready_cv, &attr);
    pthread_condattr_destroy(&attr);
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    ms_random_bytes(rnd, sizeof(rnd));
    ms_hex(rnd, sizeof(rnd), hex);
    snprintf(workers_node_id, sizeof(workers_node_id), "%s:%ld:%s", host, (long)getpid(), hex);
}

const char *
ms_workers_node(void)
{
    pthread_once(&workers_once_ctl, workers_once);
    return workers_node_id;
}

void
ms_workers_nudge(void)
{
    pthread_once(&workers_once_ctl, workers_once);
    pthread_mutex_lock(&workers_mu);
    workers_gen++;
    pthread_cond_signal(&workers_cv);
    pthread_mutex_unlock(&workers_mu);
}

static uint64_t
workers_gen_get(void)
{
    uint64_t g;

    pthread_mutex_lock(&workers_mu);
    g = workers_gen;
    pthread_mutex_unlock(&workers_mu);
    return g;
}

/* Sleep up to ms unless a nudge arrived since gen was read, or the pool is stopping. */
static void
workers_wait(struct ms_workers *p, uint64_t gen, int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&workers_mu);
    while (workers_gen == gen && !atomic_load(&p->stop))
        if (pthread_cond_timedwait(&workers_cv, &workers_mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&workers_mu);
}

/* Whichever idle thread finds the reaper due first runs it (the CAS elects one). */
static void
workers_reap(struct ms_workers *p, struct ms_store *s)
{
    int_fast64_t due = atomic_load(&p->reap_due), now = ms_time_mono_ms();
    struct ms_error err = {0};
    int64_t n = 0;
    char num[24];

    if (now < due || !atomic_compare_exchange_strong(&p->reap_due, &due, now + MS_LEASE_MS / 2))
        return;
    if (ms_store_exec_reap(s, ms_time_now_ms(), &n, &err) != MS_OK) {
        ms_log(MS_LOG_WARN, "reaper failed", "detail", err.msg, (char *)NULL);
        return;
    }
    if (n > 0) {
        snprintf(num, sizeof(num), "%" PRId64, n);
        ms_log(MS_LOG_INFO, "reaped executions whose lease expired", "count", num, (char *)NULL);
    }
}

static void
workers_run_one(struct ms_workers *p, struct ms_store *s, const struct ms_execution *ex)
{
    struct ms_engine_opts opts;
    struct ms_engine_stats stats;
    struct ms_error err = {0};
    const char *final = NULL;

    memset(&opts, 0, sizeof(opts));
    opts.node = ms_workers_node();
    opts.lease_ms = MS_LEASE_MS;
    opts.log_dir = p->log_dir;
    opts.secret = p->cfg->secret;
    opts.stop = &p->stop;
    ms_log(MS_LOG_INFO, "execution started", "execution_id", ex->id, "sync_id", ex->sync_id, "type",
           ex->type, (char *)NULL);
    if (ms_engine_run(s, ex, &opts, &final, &stats, &err) != MS_OK) {
        /* The outcome could not be recorded: the lease lapses and the reaper takes it. */
        ms_log(MS_LOG_ERROR, "execution outcome not recorded", "execution_id", ex->id, "status",
               ms_status_name(err.status), "detail", err.msg, (char *)NULL);
        return;
    }
    ms_log(MS_LOG_INFO, "execution finished", "execution_id", ex->id, "sync_id", ex->sync_id,
           "status", final != NULL ? final : "", (char *)NULL);
}

/* One pass: MS_OK after running an execution, MS_ENOTFOUND when idle, else a store failure. */
static enum ms_status
workers_step(struct ms_workers *p, struct ms_store *s, struct ms_arena *a)
{
    struct ms_execution ex;
    struct ms_error err = {0};
    enum ms_status st;

    workers_reap(p, s);
    st = ms_store_exec_claim(s, a, NULL, ms_workers_node(), ms_time_now_ms(), MS_LEASE_MS, &ex,
                             &err);
    if (st == MS_OK) {
        ms_workers_nudge(); /* more may be queued (by another process): wake a sleeper to look */
        workers_run_one(p, s, &ex);
    } else if (st != MS_ENOTFOUND && st != MS_EBUSY)
        ms_log(MS_LOG_WARN, "claim failed", "status", ms_status_name(st), "detail", err.msg,
               (char *)NULL);
    ms_arena_reset(a);
    return st;
}

static void
workers_report_open(struct ms_workers *p, const struct ms_error *err)
{
    pthread_mutex_lock(&workers_mu);
    p->ready++;
    if (err != NULL && p->failed++ == 0)
        snprintf(p->open_error, sizeof(p->open_error), "%s", err->msg);
    pthread_cond_broadcast(&workers_ready_cv);
    pthread_mutex_unlock(&workers_mu);
}

/* A store handle that failed for another reason than contention is reopened: a PostgreSQL
 * connection may have dropped. */
static void
workers_reopen(struct ms_workers *p, struct ms_store **s)
{
    struct ms_error err = {0};
    struct ms_store *fresh = NULL;

    if (ms_store_open(p->cfg->store_url, &fresh, &err) != MS_OK) {
        ms_log(MS_LOG_WARN, "worker store reopen failed", "detail", err.msg, (char *)NULL);
        return;
    }
    ms_store_close(*s);
    *s = fresh;
}

static void *
workers_main(void *arg)
{
    struct worker *w = arg;
    struct ms_workers *p = w->pool;
    struct ms_store *s = NULL;
    struct ms_arena *a;
    struct ms_error err = {0};
    enum ms_status st;
    char name[16];

    snprintf(name, sizeof(name), "worker-%d", w->index);
#ifdef __linux__
    prctl(PR_SET_NAME, name, 0, 0, 0);
#endif
    if (ms_store_open(p->cfg->store_url, &s, &err) != MS_OK) {
        workers_report_open(p, &err);
        return NULL;
    }
    workers_report_open(p, NULL);
    a = ms_arena_new();
    while (!atomic_load(&p->stop)) {
        uint64_t gen = workers_gen_get();

        st = workers_step(p, s, a);
        if (st == MS_OK)
            continue;
        if (st != MS_ENOTFOUND && st != MS_EBUSY)
            workers_reopen(p, &s);
        workers_wait(p, gen, st == MS_ENOTFOUND ? WORKERS_POLL_MS : WORKERS_RETRY_MS);
    }
    ms_arena_free(a);
    ms_store_close(s);
    return NULL;
}

static enum ms_status
workers_log_dir(struct ms_workers *p, struct ms_error *err)
{
    int n = snprintf(p->log_dir, sizeof(p->log_dir), "%s/logs", p->cfg->data_dir);

    if (n < 0 || (size_t)n >= sizeof(p->log_dir))
        return ms_fail(err, MS_EINVAL, "data directory path is too long");
    if (mkdir(p->log_dir, 0700) != 0 && errno != EEXIST)
        return ms_fail(err, MS_EINTERNAL, "cannot create %s: %s", p->log_dir, strerror(errno));
    return MS_OK;
}

/* Wait until every created thread has tried to open its store; MS_OK when all succeeded. */
static enum ms_status
workers_await_ready(struct ms_workers *p, int created, struct ms_error *err)
{
    enum ms_status st = MS_OK;

    pthread_mutex_lock(&workers_mu);
    while (p->ready < created)
        pthread_cond_wait(&workers_ready_cv, &workers_mu);
    if (p->failed > 0)
        st = ms_fail(err, MS_EBUSY, "worker store open: %s", p->open_error);
    pthread_mutex_unlock(&workers_mu);
    return st;
}

enum ms_status
ms_workers_start(const struct ms_config *cfg, struct ms_workers **out, struct ms_error *err)
{
    struct ms_workers *p = ms_xcalloc(1, sizeof(*p));
    enum ms_status st;
    int created = 0;

    pthread_once(&workers_once_ctl, workers_once);
    p->cfg = cfg;
    p->n = cfg->workers < 1 ? 1 : cfg->workers > WORKERS_MAX ? WORKERS_MAX : cfg->workers;
    atomic_init(&p->stop, false);
    atomic_init(&p->reap_due, 0); /* the first idle thread reaps at once */
    p->w = ms_xcalloc((size_t)p->n, sizeof(*p->w));
    st = workers_log_dir(p, err);
    for (int i = 0; st == MS_OK && i < p->n; i++) {
        p->w[i].pool = p;
        p->w[i].index = i + 1;
        if (pthread_create(&p->w[i].thread, NULL, workers_main, &p->w[i]) != 0) {
            st = ms_fail(err, MS_EINTERNAL, "cannot start worker thread %d", i + 1);
            break;
        }
        p->w[i].joinable = true;
        created++;
    }
    if (created > 0) {
        enum ms_status rst = workers_await_ready(p, created, err);

        if (st == MS_OK)
            st = rst;
    }
    if (st != MS_OK) {
        ms_workers_stop(p);
        return st;
    }
    ms_log(MS_LOG_INFO, "workers started", "node", ms_workers_node(), (char *)NULL);
    *out = p;
    return MS_OK;
}

void
ms_workers_stop(struct ms_workers *p)
{
    if (p == NULL)
        return;
    atomic_store(&p->stop, true);
    pthread_mutex_lock(&workers_mu);
    workers_gen++;
    pthread_cond_broadcast(&workers_cv);
    pthread_mutex_unlock(&workers_mu);
    for (int i = 0; i < p->n; i++)
        if (p->w[i].joinable)
            pthread_join(p->w[i].thread, NULL);
    free(p->w);
    free(p);
}
