-- 0005-schedule: the scheduler's state (docs/schedules.md, docs/internals/THREADS.md).
-- schedule_state holds, per active sync whose schedule the scheduler acts on, what it will do
-- next; every change is a compare-and-set on version, so several schedulers sharing one store
-- never fire the same slot or trigger twice: only the one whose UPDATE changes the row fires,
-- in the same transaction as the execution it inserts. schedule_events records every
-- execution that reaches a terminal state (filled by a trigger, whoever makes the change:
-- engine, cancel, reaper, `modelsync run`), which is what run-after and continuous syncs react
-- to; a scheduler reads it from a high-water mark.

-- kind: clock (hourly, daily, weekly, custom, builder), continuous or runafter. schedule: the
-- compact key-sorted schedule JSON the row was computed from; a different stored schedule
-- means the row is recomputed. next_at: the scheduler-clock ms of the next clock slot, or when
-- a continuous sync may run again (NULL: not armed, a run is in progress). pending = 1: a
-- trigger arrived while an execution was running; one run of type pending_type follows it.
-- trigger_seq: the newest schedule_events.seq applied to the row. last_fired_at and
-- last_exec_id: the newest execution the scheduler created for the sync.
CREATE TABLE schedule_state (
    sync_id TEXT NOT NULL PRIMARY KEY REFERENCES syncs (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('clock', 'continuous', 'runafter')),
    schedule TEXT NOT NULL,
    next_at INTEGER,
    pending INTEGER NOT NULL DEFAULT 0 CHECK (pending IN (0, 1)),
    pending_type TEXT,
    trigger_seq INTEGER NOT NULL DEFAULT 0,
    last_fired_at INTEGER,
    last_exec_id TEXT,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- One row per execution that entered a terminal state. at: its completed_at (wall clock).
-- Rows a scheduler has read are deleted after an hour.
CREATE TABLE schedule_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id TEXT NOT NULL,
    sync_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    at INTEGER NOT NULL
) STRICT;

CREATE TRIGGER schedule_events_terminal AFTER UPDATE OF status ON executions
    WHEN new.status IN ('completed', 'failed', 'canceled', 'interrupted')
        AND old.status NOT IN ('completed', 'failed', 'canceled', 'interrupted')
BEGIN
    INSERT INTO schedule_events (organization_id, sync_id, execution_id, status, at)
    VALUES (new.organization_id, new.sync_id, new.id, new.status,
            coalesce(new.completed_at,
                     CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)));
END;
