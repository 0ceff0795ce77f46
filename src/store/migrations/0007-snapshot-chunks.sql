-- 0007-snapshot-chunks: a sync's snapshot becomes sorted entries packed in blobs
-- (docs/internals/STORE.md, "Snapshot persistence"): each snap_apply adds one run (one row of
-- snapshot_deltas holding its changes sorted by key), and the fold merges the runs into the
-- folded chunks (rows of snapshot_chunks of ~1,000 entries each), rewriting only the chunks
-- the runs touch. A fold then costs a merge and a sequential write instead of a B-tree insert
-- per key. The blob layout is in src/store/store_int.h.
--
-- The 0003 tables stay: a binary layout cannot be built in SQL, so a sync whose snapshot is
-- still in them (format 0) is converted by the first snapshot operation on it, in one
-- transaction (store_sqlite_snap.c, snap_upgrade). Syncs that hold nothing there need no
-- conversion.

-- format: 0 while the sync's snapshot is in 0003's tables, 1 once it is in the chunks and
-- runs below. folded: how many keys the folded chunks hold (snap_count without runs).
ALTER TABLE snapshot_syncs ADD COLUMN format INTEGER NOT NULL DEFAULT 0;
ALTER TABLE snapshot_syncs ADD COLUMN folded INTEGER NOT NULL DEFAULT 0;

-- The folded snapshot: consecutive chunks in first_key order, none overlapping the next. A key
-- belongs in the chunk with the largest first_key not above it.
CREATE TABLE snapshot_chunks (
    id INTEGER PRIMARY KEY,
    snap INTEGER NOT NULL REFERENCES snapshot_syncs (id) ON DELETE CASCADE,
    first_key BLOB NOT NULL,
    n INTEGER NOT NULL,
    body BLOB NOT NULL
) STRICT;
CREATE INDEX snapshot_chunks_snap ON snapshot_chunks (snap, first_key);

-- One row per snap_apply not folded yet. A new run's id is one more than the largest in the
-- table, so a sync's newer runs have larger ids. min_key and max_key bound its keys, so a key
-- text lookup skips the runs that cannot hold the key; dels counts its deletes.
CREATE TABLE snapshot_deltas (
    id INTEGER PRIMARY KEY,
    snap INTEGER NOT NULL REFERENCES snapshot_syncs (id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    dels INTEGER NOT NULL,
    min_key BLOB NOT NULL,
    max_key BLOB NOT NULL,
    body BLOB NOT NULL
) STRICT;
CREATE INDEX snapshot_deltas_snap ON snapshot_deltas (snap, id);

UPDATE snapshot_syncs SET format = 1
    WHERE NOT EXISTS (SELECT 1 FROM snapshot_rows WHERE snap = snapshot_syncs.id)
      AND NOT EXISTS (SELECT 1 FROM snapshot_runs WHERE snap = snapshot_syncs.id);
