/*
 * engine.h: one execution of a sync (ARCHITECTURE.md §5): plan, read, filter, map, hash, diff,
 * write, record, finish. The caller (a worker thread, or `modelsync run`) has claimed the
 * execution in the store; the engine runs it to a terminal state on the caller's thread with
 * the caller's store handle, and opens its own connectors. For the length of a run it starts
 * two helper threads, "eng-read" (source reads, a batch ahead) and "eng-write" (target
 * writes), joined before ms_engine_run() returns (docs/internals/THREADS.md).
 */
#ifndef MS_ENGINE_ENGINE_H
#define MS_ENGINE_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/error.h"
#include "model/model.h"
#include "store/store.h"

#define MS_LEASE_MS 30000 /* a claim lapses this long after its last renewal */
#define MS_TEST_RUN_RECORDS                                                                        \
    10 /* `test: true` processes at most this many changed records (D12)                           \
        */

/*
 * Where each phase spent its time (S11), and how much it moved. read_us and write_us are the
 * time spent in the source's and the target's calls, on whichever thread made them; they
 * overlap the rest. The run's own thread spends transform_us + snapshot_us + read_wait_us +
 * write_wait_us (plus planning and lease renewals) of total_us: the waits are what reading
 * and writing add to the run's critical path.
 */
struct ms_engine_stats {
    int64_t rows_read;
    int64_t rows_written; /* ops sent to the target */
    int64_t read_us;      /* source calls: read_begin, and read() on the reader thread */
    int64_t transform_us; /* filter, override, map, hash, diff, record logs */
    int64_t write_us;     /* target calls: open, write_begin, write_end, write() on the writer */
    int64_t snapshot_us;  /* snapshot load + commits */
    int64_t total_us;
    int64_t read_wait_us;  /* run's thread: read_begin/read_end, waiting for the next batch */
    int64_t write_wait_us; /* run's thread: target calls, waiting for writes, renewals before
                              them, busy back-off */
};

struct ms_engine_opts {
    const char *node;      /* holder of the execution's lease (worker identity) */
    int64_t lease_ms;      /* renewed between batches; MS_LEASE_MS when 0 */
    size_t batch_rows;     /* rows per read batch and ops per write; when 0, MS_ROWS_DEFAULT
                              rows and the destination's write_batch ops (connector.h) */
    const char *log_dir;   /* record logs: <log_dir>/<sync_id>/<execution_id>/<type>.jsonl */
    const uint8_t *secret; /* deployment key: unseals connection configurations */
    atomic_bool *stop;     /* process shutdown: end after the current batch (may be NULL) */
    /* Called after every batch (may be NULL): the CLI's progress line. */
    void (*progress)(void *ud, const struct ms_counts *c, const struct ms_engine_stats *st);
    void *progress_ud;
};

/*
 * Run the claimed execution ex to a terminal state and record it (exec_finish): completed
 * (per-record rejections are counted, logged and retried next run, not fatal), failed (the
 * source or target failed as a whole; the message is in the execution's errors), canceled (a
 * cancel was requested; seen between batches), or interrupted (opts->stop, or the lease was
 * lost). Everything the target acknowledged is in the snapshot when this returns, whatever the
 * outcome. *final_status (may be NULL) gets the terminal status (a static string), stats (may be
 * NULL) the phase timers. Returns MS_OK when the outcome was recorded; another status only when
 * even recording it failed (the lease then lapses and the reaper marks it interrupted).
 */
enum ms_status ms_engine_run(struct ms_store *s, const struct ms_execution *ex,
                             const struct ms_engine_opts *opts, const char **final_status,
                             struct ms_engine_stats *stats, struct ms_error *err);

/*
 * Register fn to be called, on the thread that ran it, each time ms_engine_run() has recorded
 * an execution's terminal state in the store (the scheduler's wake-up for run-after and
 * continuous syncs). NULL unregisters. fn must be quick and thread-safe. Any thread.
 */
void ms_engine_on_finish(void (*fn)(void));

/*
 * Whether line (one line of an execution's records.jsonl, without its newline) belongs to the
 * record log of type "inserts", "updates" or "deletes": those logs are the records.jsonl lines
 * of their op(s) ("upsert" goes with "updates"), rejected records excepted (their line ends
 * with its "error"). The files of those types are empty markers (a log file the engine wrote
 * with lines is served as it is). Any thread.
 */
bool ms_engine_log_line_of(const char *line, size_t len, const char *type);

#endif
