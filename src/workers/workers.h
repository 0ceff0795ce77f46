/*
 * workers.h: the worker pool of `modelsync serve`. N threads, each with its own store handle,
 * claim queued executions from the store (the work queue), run them with the engine and renew
 * their lease between batches. A reaper pass (at start and every half lease period) marks
 * executions whose node died as interrupted. Threads named here: "worker-N" (workers.c).
 */
#ifndef MS_WORKERS_WORKERS_H
#define MS_WORKERS_WORKERS_H

#include "core/config.h"
#include "core/error.h"

struct ms_workers;

/* Start cfg->workers threads; cfg must outlive the pool. */
enum ms_status ms_workers_start(const struct ms_config *cfg, struct ms_workers **out,
                                struct ms_error *err);

/* Data-free nudge: an execution was queued, look now rather than at the next poll. Any thread. */
void ms_workers_nudge(void);

/* Ask running executions to stop after their current batch (they end interrupted), join the
 * threads, free. NULL is a no-op. */
void ms_workers_stop(struct ms_workers *w);

/* This process's node identity ("host:pid:rand"), for leases. Valid after ms_workers_start or
 * for `modelsync run` after the first call. */
const char *ms_workers_node(void);

#endif
