-- 0002-executions: the execution queue, console logs and snapshots (docs/internals/STORE.md).
-- The executions table is the work queue: workers claim queued rows and hold a lease they renew;
-- a row whose lease lapsed is reaped as interrupted. Terminal states are completed, failed,
-- canceled and interrupted; the partial indexes below spell that list exactly as the queries in
-- store_sqlite_exec.c do, which is what lets SQLite use them.

-- options: {"resync", "test", "identities"} as started; errors: string[] of run-level errors.
-- sort_at orders the list (created_at until the run starts, then started_at). node and
-- lease_until name the worker holding the claim; NULL while unclaimed.
CREATE TABLE executions (
    id TEXT NOT NULL PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    sync_id TEXT NOT NULL REFERENCES syncs (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('created', 'scheduled', 'queued', 'waiting',
        'running', 'processing', 'canceling', 'canceled', 'completed', 'failed', 'interrupted')),
    options TEXT,
    errors TEXT,
    count_total INTEGER NOT NULL DEFAULT 0,
    count_insert INTEGER NOT NULL DEFAULT 0,
    count_update INTEGER NOT NULL DEFAULT 0,
    count_upserts INTEGER NOT NULL DEFAULT 0,
    count_delete INTEGER NOT NULL DEFAULT 0,
    count_error INTEGER NOT NULL DEFAULT 0,
    count_warnings INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    sort_at INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    node TEXT,
    lease_until INTEGER
) STRICT;
-- At most one non-terminal execution per sync, across threads and processes: a second insert
-- fails with a UNIQUE violation (409 execution_in_progress). Also serves exec_active.
CREATE UNIQUE INDEX executions_active ON executions (sync_id)
    WHERE status NOT IN ('completed', 'failed', 'canceled', 'interrupted');
-- The claim order: the oldest queued execution first.
CREATE INDEX executions_queue ON executions (created_at, id) WHERE status = 'queued';
-- Keyset pages of GET /api/syncs/{id}/executions, both directions; also the sync_id foreign
-- key's index for the cascade.
CREATE INDEX executions_list ON executions (sync_id, sort_at, id);
-- The reaper: leases of the running executions only.
CREATE INDEX executions_lease ON executions (lease_until)
    WHERE status NOT IN ('completed', 'failed', 'canceled', 'interrupted');

-- Console entries (B4); seq numbers each execution's entries from 1.
CREATE TABLE execution_logs (
    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (execution_id, seq)
) STRICT, WITHOUT ROWID;

-- Per sync, what the target acknowledged: XXH3-128 of the identity value → XXH3-128 of the
-- mapped record, plus the identity as text to address deletes. Rows are read in key order.
CREATE TABLE snapshots (
    sync_id TEXT NOT NULL REFERENCES syncs (id) ON DELETE CASCADE,
    key_hash BLOB NOT NULL,
    row_hash BLOB NOT NULL,
    key_text TEXT,
    PRIMARY KEY (sync_id, key_hash)
) STRICT, WITHOUT ROWID;
