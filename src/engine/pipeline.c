/*
 * pipeline.c: the reader and writer threads of one execution (engine_int.h, ENGINE.md
 * "Pipeline"). The reader reads the model one batch ahead of the engine into two batches with
 * an arena each; the writer runs the target's write() on one batch of ops while the engine
 * transforms the next and commits the previous. Each hand-over goes through the struct's mutex,
 * so a connection and an arena are only ever used by one thread at a time. Threads start with
 * every signal blocked (signals belong to main or the worker) and are named eng-read and
 * eng-write. If a thread cannot be created, the same calls do the work on the caller's thread.
 */
#include "engine/engine_int.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "core/time.h"

#ifdef MS_TESTING
_Atomic int64_t ms_eng_test_write_delay_ms;
#endif

static void
pl_name(const char *name)
{
#ifdef __linux__
    prctl(PR_SET_NAME, name, 0, 0, 0);
#else
    (void)name;
#endif
}

/* pthread_create with every signal blocked in the new thread; false when it failed. */
static bool
pl_spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0;
}

/* ---- the reader ---- */

/* One read() into batch b (owned by the calling thread); returns the time it took. */
static int64_t
pl_read(struct ms_eng_reader *rd, struct ms_eng_batch *b)
{
    int64_t t = ms_time_mono_us();

    ms_arena_reset(b->rows.arena);
    b->rows.nrows = 0;
    b->rows.cells = NULL;
    b->rows.cap = rd->cap;
    ms_error_clear(&b->err);
    b->st = rd->impl->read(rd->cx, &b->rows, &b->err);
    return ms_time_mono_us() - t;
}

static bool
pl_last(const struct ms_eng_batch *b)
{
    return b->st != MS_OK || b->rows.nrows == 0;
}

/* Fill free batches in turn until the end of the model, a failure, or stop. */
static void *
pl_reader_main(void *arg)
{
    struct ms_eng_reader *rd = arg;
    bool last = false;

    pl_name("eng-read");
    pthread_mutex_lock(&rd->mu);
    while (!last) {
        struct ms_eng_batch *b = &rd->b[rd->fill];
        int64_t us;

        while (!rd->stop && b->state != MS_ENG_FREE)
            pthread_cond_wait(&rd->room, &rd->mu);
        if (rd->stop)
            break;
        pthread_mutex_unlock(&rd->mu);
        us = pl_read(rd, b);
        last = pl_last(b);
        pthread_mutex_lock(&rd->mu);
        rd->us += us;
        b->state = MS_ENG_FULL;
        rd->fill ^= 1;
        pthread_cond_signal(&rd->ready);
    }
    pthread_mutex_unlock(&rd->mu);
    return NULL;
}

void
ms_eng_reader_start(struct ms_eng_reader *rd, const struct ms_connector *impl, struct ms_cx *cx,
                    const struct ms_rows *head, size_t cap)
{
    memset(rd, 0, sizeof(*rd));
    rd->impl = impl;
    rd->cx = cx;
    rd->cap = cap;
    for (int i = 0; i < 2; i++) {
        rd->b[i].rows = *head;
        rd->b[i].rows.arena = ms_arena_new();
        rd->b[i].state = MS_ENG_FREE;
    }
    pthread_mutex_init(&rd->mu, NULL);
    pthread_cond_init(&rd->ready, NULL);
    pthread_cond_init(&rd->room, NULL);
    rd->started = true;
    rd->threaded = pl_spawn(&rd->thread, pl_reader_main, rd);
}

enum ms_status
ms_eng_reader_next(struct ms_eng_reader *rd, struct ms_rows **out, int64_t *read_us,
                   struct ms_error *err)
{
    struct ms_eng_batch *b = &rd->b[rd->take], *held = &rd->b[rd->take ^ 1];

    pthread_mutex_lock(&rd->mu);
    if (held->state == MS_ENG_HELD) {
        held->state = MS_ENG_FREE;
        pthread_cond_signal(&rd->room);
    }
    if (!rd->threaded) {
        b->state = MS_ENG_FULL;
        rd->us += pl_read(rd, b);
    }
    while (b->state != MS_ENG_FULL)
        pthread_cond_wait(&rd->ready, &rd->mu);
    b->state = MS_ENG_HELD;
    *read_us += rd->us;
    rd->us = 0;
    pthread_mutex_unlock(&rd->mu);
    rd->take ^= 1;
    *out = &b->rows;
    if (b->st != MS_OK) {
        *err = b->err;
        return b->st;
    }
    return MS_OK;
}

void
ms_eng_reader_stop(struct ms_eng_reader *rd, int64_t *read_us)
{
    if (!rd->started)
        return;
    rd->started = false;
    pthread_mutex_lock(&rd->mu);
    rd->stop = true;
    pthread_cond_signal(&rd->room);
    pthread_mutex_unlock(&rd->mu);
    if (rd->threaded)
        pthread_join(rd->thread, NULL);
    *read_us += rd->us;
    pthread_cond_destroy(&rd->room);
    pthread_cond_destroy(&rd->ready);
    pthread_mutex_destroy(&rd->mu);
    for (int i = 0; i < 2; i++)
        ms_arena_free(rd->b[i].rows.arena);
}

/* ---- the writer ---- */

/* One write() of the job; returns the time it took. */
static int64_t
pl_write(struct ms_eng_writer *w, struct ms_ops *ops, enum ms_status *st, struct ms_error *err)
{
    int64_t t;

#ifdef MS_TESTING
    int64_t delay = ms_eng_test_write_delay_ms;

    if (delay > 0) {
        struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000L};

        nanosleep(&ts, NULL);
    }
#endif
    t = ms_time_mono_us();
    ms_error_clear(err);
    *st = w->impl->write(w->cx, ops, err);
    return ms_time_mono_us() - t;
}

/* Run each submitted job as it comes, until stop. */
static void *
pl_writer_main(void *arg)
{
    struct ms_eng_writer *w = arg;

    pl_name("eng-write");
    pthread_mutex_lock(&w->mu);
    for (;;) {
        struct ms_ops *job;
        enum ms_status st;
        struct ms_error err;
        int64_t us;

        while (!w->stop && (w->job == NULL || w->done))
            pthread_cond_wait(&w->go, &w->mu);
        if (w->job == NULL || w->done)
            break;
        job = w->job;
        pthread_mutex_unlock(&w->mu);
        us = pl_write(w, job, &st, &err);
        pthread_mutex_lock(&w->mu);
        w->st = st;
        w->err = err;
        w->us = us;
        w->done = true;
        pthread_cond_signal(&w->finished);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

void
ms_eng_writer_submit(struct ms_eng_writer *w, const struct ms_connector *impl, struct ms_cx *cx,
                     struct ms_ops *ops)
{
    if (!w->started) {
        memset(w, 0, sizeof(*w));
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->go, NULL);
        pthread_cond_init(&w->finished, NULL);
        w->started = true;
        w->threaded = pl_spawn(&w->thread, pl_writer_main, w);
    }
    pthread_mutex_lock(&w->mu);
    w->impl = impl;
    w->cx = cx;
    w->job = ops;
    w->done = false;
    if (w->threaded)
        pthread_cond_signal(&w->go);
    pthread_mutex_unlock(&w->mu);
    if (!w->threaded) {
        w->us = pl_write(w, ops, &w->st, &w->err);
        w->done = true;
    }
}

enum ms_status
ms_eng_writer_wait(struct ms_eng_writer *w, int64_t *write_us, struct ms_error *err)
{
    enum ms_status st;

    if (!w->started || w->job == NULL)
        return MS_OK;
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->finished, &w->mu);
    st = w->st;
    if (st != MS_OK)
        *err = w->err;
    *write_us += w->us;
    w->job = NULL;
    w->done = false;
    pthread_mutex_unlock(&w->mu);
    return st;
}

void
ms_eng_writer_stop(struct ms_eng_writer *w)
{
    struct ms_error ignored;
    int64_t us = 0;

    if (!w->started)
        return;
    ms_eng_writer_wait(w, &us, &ignored);
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->go);
    pthread_mutex_unlock(&w->mu);
    if (w->threaded)
        pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->finished);
    pthread_cond_destroy(&w->go);
    pthread_mutex_destroy(&w->mu);
    w->started = false;
}
