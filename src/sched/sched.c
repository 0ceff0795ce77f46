/*
 * sched.c: the scheduler thread of `modelsync serve` (sched.h), its clock, and the
 * next_execution_time of A12. The thread ("sched") owns one store handle and loops: one pass
 * (sched_state.c), then sleep on sched_cv (CLOCK_MONOTONIC) until the earliest due instant the
 * pass reported, at most SCHED_REREAD_MS so that changes made by other processes are seen, or
 * until ms_sched_wake() bumps the generation: the API calls it when a sync changes and the
 * engine (through ms_engine_on_finish) when an execution ends, which is what makes run-after
 * and continuous syncs react at once. No busy polling: with nothing due it sleeps 30 s.
 *
 * Locking: sched_mu guards sched_gen and the start handshake fields of struct ms_sched; it is
 * held only to read or change them and to wait, never across a store call. The stop flag is
 * atomic. The clock is written once under sched_clock_once and read-only afterwards.
 */
#include "sched/sched.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "core/log.h"
#include "core/time.h"
#include "core/xmalloc.h"
#include "engine/engine.h"
#include "model/model.h"
#include "sched/sched_int.h"
#include "store/store.h"

#define SCHED_REREAD_MS 30000 /* longest sleep: other processes' changes are seen this late */
#define SCHED_RETRY_MS 1000   /* pause after a failed pass */
#define SCHED_SPEED_MAX 1e6   /* MODELSYNC_TEST_CLOCK: at most a million times faster */

struct ms_sched {
    const struct ms_config *cfg; /* borrowed; outlives the scheduler */
    pthread_t thread;
    atomic_bool stop; /* set once by ms_sched_stop */
    /* start handshake: guarded by sched_mu */
    bool ready;
    enum ms_status open_st;
    char open_error[256];
};

static pthread_mutex_t sched_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sched_cv; /* CLOCK_MONOTONIC; set up once in sched_cv_init */
static pthread_cond_t sched_ready_cv = PTHREAD_COND_INITIALIZER;
static uint64_t sched_gen; /* guarded by sched_mu: bumped by every wake */
static pthread_once_t sched_cv_once = PTHREAD_ONCE_INIT;
static void (*sched_nudge)(void); /* set before the thread starts, read-only afterwards */

static struct ms_sched_clock sched_clk; /* written once under sched_clock_once */
static char sched_clk_bad[300];         /* why MODELSYNC_TEST_CLOCK was refused; "" if not */
static pthread_once_t sched_clock_once = PTHREAD_ONCE_INIT;

/* ---- clock ---- */

static int64_t
sched_wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#ifdef MS_TESTING
enum ms_status
sched_clock_parse(const char *spec, int64_t wall_ns, struct ms_sched_clock *out,
                  struct ms_error *err)
{
    const char *at = strrchr(spec, '@');
    char when[64], *end = NULL;
    int64_t start = 0;
    double speed;

    if (at == NULL || at == spec || (size_t)(at - spec) >= sizeof(when))
        return ms_fail(err, MS_EINVAL, "expected <RFC 3339 time>@<speed>");
    memcpy(when, spec, (size_t)(at - spec));
    when[at - spec] = '\0';
    if (ms_time_parse(when, &start) != MS_OK)
        return ms_fail(err, MS_EINVAL, "\"%s\" is not an RFC 3339 time", when);
    errno = 0;
    speed = strtod(at + 1, &end);
    if (at[1] == '\0' || *end != '\0' || errno != 0 || !(speed > 0) || speed > SCHED_SPEED_MAX)
        return ms_fail(err, MS_EINVAL, "the speed must be a number above 0, at most %.0f",
                       SCHED_SPEED_MAX);
    *out = (struct ms_sched_clock){
        .scaled = true, .start_ms = start, .wall0_ns = wall_ns, .speed = speed};
    return MS_OK;
}
#endif

static void
sched_clock_init(void)
{
    sched_clk = (struct ms_sched_clock){.scaled = false, .speed = 1};
#ifdef MS_TESTING
    {
        const char *spec = getenv("MODELSYNC_TEST_CLOCK");
        struct ms_error e;

        if (spec != NULL && *spec != '\0' &&
            sched_clock_parse(spec, sched_wall_ns(), &sched_clk, &e) != MS_OK)
            snprintf(sched_clk_bad, sizeof(sched_clk_bad), "MODELSYNC_TEST_CLOCK: %s", e.msg);
    }
#endif
}

const struct ms_sched_clock *
ms_sched_clock_get(const char **bad)
{
    pthread_once(&sched_clock_once, sched_clock_init);
    if (bad != NULL)
        *bad = sched_clk_bad;
    return &sched_clk;
}

int64_t
ms_sched_clock_now(const struct ms_sched_clock *k)
{
    if (!k->scaled)
        return ms_time_now_ms();
    return k->start_ms + (int64_t)floor((double)(sched_wall_ns() - k->wall0_ns) * k->speed / 1e6);
}

int64_t
ms_sched_clock_from_wall(const struct ms_sched_clock *k, int64_t wall_ms)
{
    double el;

    if (!k->scaled)
        return wall_ms;
    el = (double)(wall_ms - k->wall0_ns / 1000000) - (double)(k->wall0_ns % 1000000) / 1e6;
    return k->start_ms + (int64_t)floor(el * k->speed);
}

int64_t
ms_sched_clock_wall_ns(const struct ms_sched_clock *k, int64_t delta_ms)
{
    double ns;

    if (delta_ms <= 0)
        return 0;
    ns = ceil((double)delta_ms * 1e6 / (k->scaled ? k->speed : 1));
    return ns > (double)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)ns;
}

/* ---- wake-ups ---- */

static void
sched_cv_init(void)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&sched_cv, &attr);
    pthread_condattr_destroy(&attr);
}

void
ms_sched_wake(void)
{
    pthread_once(&sched_cv_once, sched_cv_init);
    pthread_mutex_lock(&sched_mu);
    sched_gen++;
    pthread_cond_broadcast(&sched_cv);
    pthread_mutex_unlock(&sched_mu);
}

void
ms_sched_on_queue(void (*nudge)(void))
{
    sched_nudge = nudge;
}

static uint64_t
sched_gen_get(void)
{
    uint64_t g;

    pthread_mutex_lock(&sched_mu);
    g = sched_gen;
    pthread_mutex_unlock(&sched_mu);
    return g;
}

/* Sleep wait_ns unless a wake-up came since gen was read, or the scheduler is stopping. */
static void
sched_wait(struct ms_sched *s, uint64_t gen, int64_t wait_ns)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(wait_ns / 1000000000);
    ts.tv_nsec += (long)(wait_ns % 1000000000);
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&sched_mu);
    while (sched_gen == gen && !atomic_load(&s->stop))
        if (pthread_cond_timedwait(&sched_cv, &sched_mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&sched_mu);
}

/* ---- the thread ---- */

/* Report the thread's start-up to ms_sched_start. */
static void
sched_ready(struct ms_sched *s, enum ms_status st, const struct ms_error *err)
{
    pthread_mutex_lock(&sched_mu);
    s->ready = true;
    s->open_st = st;
    snprintf(s->open_error, sizeof(s->open_error), "%s", st != MS_OK ? err->msg : "");
    pthread_cond_broadcast(&sched_ready_cv);
    pthread_mutex_unlock(&sched_mu);
}

/* How long to sleep after a pass that asked to be woken at scheduler time wake_at. */
static int64_t
sched_sleep_ns(const struct ms_sched_clock *k, int64_t wake_at)
{
    int64_t cap = (int64_t)SCHED_REREAD_MS * 1000000, ns;

    if (wake_at == MS_SCHED_NEVER)
        return cap;
    ns = ms_sched_clock_wall_ns(k, wake_at - ms_sched_clock_now(k));
    return ns < cap ? ns : cap;
}

static void
sched_loop(struct ms_sched *s, struct ms_sched_run *r)
{
    struct ms_error err;

    while (!atomic_load(&s->stop)) {
        uint64_t gen = sched_gen_get(); /* a wake during the pass means another pass */
        int64_t wake_at = MS_SCHED_NEVER, wait_ns;

        ms_error_clear(&err);
        if (ms_sched_tick(r, ms_sched_clock_now(r->clock), &wake_at, &err) == MS_OK) {
            wait_ns = sched_sleep_ns(r->clock, wake_at);
        } else {
            ms_log(MS_LOG_WARN, "scheduler pass failed", "error", err.msg, (char *)NULL);
            wait_ns = (int64_t)SCHED_RETRY_MS * 1000000;
        }
        sched_wait(s, gen, wait_ns);
    }
}

static void *
sched_main(void *arg)
{
    struct ms_sched *s = arg;
    struct ms_sched_run r;
    struct ms_store *store = NULL;
    struct ms_error err;
    enum ms_status st;

#ifdef __linux__
    prctl(PR_SET_NAME, "sched", 0, 0, 0);
#endif
    ms_error_clear(&err);
    memset(&r, 0, sizeof(r));
    st = ms_store_open(s->cfg->store_url, &store, &err);
    r.store = store;
    r.clock = ms_sched_clock_get(NULL);
    r.gap_ms = (int64_t)s->cfg->continuous_gap_s * 1000;
    r.nudge = sched_nudge;
    if (st == MS_OK)
        st = ms_sched_run_init(&r, &err);
    sched_ready(s, st, &err);
    if (st == MS_OK)
        sched_loop(s, &r);
    ms_store_close(store);
    return NULL;
}

enum ms_status
ms_sched_start(const struct ms_config *cfg, struct ms_sched **out, struct ms_error *err)
{
    const char *bad = NULL;
    const struct ms_sched_clock *k = ms_sched_clock_get(&bad);
    struct ms_sched *s;
    enum ms_status st;

    if (bad[0] != '\0')
        return ms_fail(err, MS_EINVAL, "%s", bad);
    pthread_once(&sched_cv_once, sched_cv_init);
    s = ms_xcalloc(1, sizeof(*s));
    s->cfg = cfg;
    atomic_init(&s->stop, false);
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
        free(s);
        return ms_fail(err, MS_EINTERNAL, "cannot start the scheduler thread");
    }
    pthread_mutex_lock(&sched_mu);
    while (!s->ready)
        pthread_cond_wait(&sched_ready_cv, &sched_mu);
    st = s->open_st;
    pthread_mutex_unlock(&sched_mu);
    if (st != MS_OK) {
        pthread_join(s->thread, NULL);
        st = ms_fail(err, st, "scheduler: %s", s->open_error);
        free(s);
        return st;
    }
    if (k->scaled) {
        char t[MS_TIME_LEN], sp[32];

        ms_time_format(k->start_ms, t);
        snprintf(sp, sizeof(sp), "%g", k->speed);
        ms_log(MS_LOG_INFO, "scheduler on a test clock", "start", t, "speed", sp, (char *)NULL);
    }
    ms_engine_on_finish(ms_sched_wake);
    *out = s;
    return MS_OK;
}

void
ms_sched_stop(struct ms_sched *s)
{
    if (s == NULL)
        return;
    ms_engine_on_finish(NULL);
    atomic_store(&s->stop, true);
    ms_sched_wake();
    pthread_join(s->thread, NULL);
    free(s);
}

/* ---- A12 ---- */

enum ms_status
ms_sched_next_run(struct ms_store *store, struct ms_arena *a, const struct ms_sync *y,
                  int64_t *next_ms, struct ms_error *err)
{
    const json_t *sch = json_object_get(y->config, "schedule");
    enum ms_sched_kind kind = ms_sched_kind_of(sch);
    struct ms_sched_state row;
    enum ms_status st;

    if (!y->active || kind == MS_SCHED_NONE || kind == MS_SCHED_RUNAFTER)
        return ms_fail(err, MS_ENOTFOUND, "sync %s does not run by the clock", y->id);
    st = ms_store_sched_get(store, a, y->org_id, y->id, &row, err);
    if (st != MS_OK && st != MS_ENOTFOUND)
        return st;
    if (st == MS_OK && row.kind != NULL && strcmp(row.kind, ms_sched_kind_name(kind)) == 0 &&
        row.schedule != NULL && strcmp(row.schedule, ms_sched_fingerprint(a, sch)) == 0) {
        if (row.next_at == 0) /* continuous while a run is in progress */
            return ms_fail(err, MS_ENOTFOUND, "sync %s has no next run yet", y->id);
        *next_ms = row.next_at;
        return MS_OK;
    }
    /* the scheduler has not seen this schedule yet: it will compute the same slot */
    if (kind == MS_SCHED_CONTINUOUS ||
        ms_sched_next(sch, ms_sched_clock_now(ms_sched_clock_get(NULL)), next_ms) != MS_OK)
        return ms_fail(err, MS_ENOTFOUND, "sync %s has no next run yet", y->id);
    ms_error_clear(err);
    return MS_OK;
}
