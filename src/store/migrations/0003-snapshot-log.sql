-- 0003-snapshot-log: snapshot changes are appended as sorted runs and folded in key order into
-- the folded rows (docs/internals/STORE.md, "Snapshot persistence"). A sync's snapshot is its
-- folded rows overlaid with its runs, the newest run winning per key; snap_compact folds the
-- runs and deletes them, which leaves that view unchanged. Replaces the snapshots table of
-- 0002, whose rows are copied over.

-- A small integer per sync that the other snapshot tables carry instead of the 36-byte sync id,
-- which made up ~40% of every row. Created by the sync's first snap_apply.
CREATE TABLE snapshot_syncs (
    id INTEGER PRIMARY KEY,
    sync_id TEXT NOT NULL UNIQUE REFERENCES syncs (id) ON DELETE CASCADE
) STRICT;

-- What the target acknowledged, as of the last fold: XXH3-128 of the identity value → XXH3-128
-- of the mapped record, plus the identity as text to address deletes.
CREATE TABLE snapshot_rows (
    snap INTEGER NOT NULL REFERENCES snapshot_syncs (id) ON DELETE CASCADE,
    key_hash BLOB NOT NULL,
    row_hash BLOB NOT NULL,
    key_text TEXT,
    PRIMARY KEY (snap, key_hash)
) STRICT, WITHOUT ROWID;

-- One row per snap_apply call not folded yet. A new run's id is one more than the largest in
-- the table, so a sync's newer runs have larger ids. dels counts the run's deletes, so a fold
-- skips the delete pass when there are none.
CREATE TABLE snapshot_runs (
    id INTEGER PRIMARY KEY,
    snap INTEGER NOT NULL REFERENCES snapshot_syncs (id) ON DELETE CASCADE,
    dels INTEGER NOT NULL
) STRICT;
CREATE INDEX snapshot_runs_snap ON snapshot_runs (snap, id);

-- The changes of each run, at most one per key. A run's rows are inserted in key order under a
-- new run id, so writing one appends to the end of the table instead of touching a random page
-- per key. del = 1: the key is gone (row_hash and key_text NULL). No foreign key (a check per
-- row would cost a lookup): the trigger deletes a run's rows with the run, also when a sync
-- delete cascades to it.
CREATE TABLE snapshot_log (
    run INTEGER NOT NULL,
    key_hash BLOB NOT NULL,
    row_hash BLOB,
    key_text TEXT,
    del INTEGER NOT NULL CHECK (del IN (0, 1)),
    PRIMARY KEY (run, key_hash)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER snapshot_runs_delete AFTER DELETE ON snapshot_runs BEGIN
    DELETE FROM snapshot_log WHERE run = old.id;
END;

INSERT INTO snapshot_syncs (sync_id) SELECT DISTINCT sync_id FROM snapshots ORDER BY sync_id;
INSERT INTO snapshot_rows (snap, key_hash, row_hash, key_text)
    SELECT y.id, n.key_hash, n.row_hash, n.key_text
    FROM snapshot_syncs AS y JOIN snapshots AS n ON n.sync_id = y.sync_id
    ORDER BY y.id, n.key_hash;
DROP TABLE snapshots;
