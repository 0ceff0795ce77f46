/*
 * store_sqlite_snap.c: sync snapshots in the SQLite store: per sync, the key hash of each record
 * the target acknowledged, its row hash and the identity as text. Each snap_apply adds one run
 * (its changes sorted by key, one blob row of snapshot_deltas) in the transaction that stores
 * the execution's counts; readers merge the runs over the folded chunks (snapshot_chunks,
 * ~1,000 sorted entries per blob), the newest run winning per key; snap_compact merges the
 * runs into one (the delta) and, once that holds a quarter as many entries as the chunks,
 * folds it into the chunks it touches. Blob layout and run merge: store_sqlite_snapblob.c.
 * Migration 0007, docs/internals/STORE.md "Snapshot persistence". Same thread rules as
 * store_sqlite.c.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "core/xmalloc.h"

#define SNAP_HASH_LEN 16
/* a folded chunk holds this many entries, or fewer when their blob reaches SNAP_CHUNK_BYTES */
#define SNAP_CHUNK_ENTRIES 1024
#define SNAP_CHUNK_BYTES (64u << 10)
#ifdef MS_TESTING
size_t ms_store_sq_snap_chunk_max = SNAP_CHUNK_ENTRIES;
#define SNAP_CHUNK_MAX ms_store_sq_snap_chunk_max
#else
#define SNAP_CHUNK_MAX ((size_t)SNAP_CHUNK_ENTRIES)
#endif
/* a run's blob stops growing here (a longer snap_apply writes several runs, one per piece) */
#ifdef MS_TESTING
size_t ms_store_sq_snap_run_bytes = (size_t)64 << 20;
#define SNAP_RUN_BYTES ms_store_sq_snap_run_bytes
#else
#define SNAP_RUN_BYTES ((size_t)64 << 20)
#endif
/*
 * snap_compact folds the runs into the chunks once they hold at least 1/SNAP_FOLD_SHARE as
 * many entries as the chunks; below that it only merges them into one run (the delta), so a
 * run's persistence costs in proportion to its changes, not to the snapshot's size. 0: always
 * fold (tests).
 */
#define SNAP_FOLD_SHARE 4
#ifdef MS_TESTING
unsigned ms_store_sq_snap_fold_share = SNAP_FOLD_SHARE;
#define SNAP_FOLD_SHARE_OF ms_store_sq_snap_fold_share
#else
#define SNAP_FOLD_SHARE_OF SNAP_FOLD_SHARE
#endif
/* a merge of runs writes its output in pieces of at most this (the delta is built in memory) */
#define SNAP_MERGE_BYTES (SNAP_RUN_BYTES < ((size_t)16 << 20) ? SNAP_RUN_BYTES : ((size_t)16 << 20))
/* one key text; source values are capped far below (connector.h, MS_MAX_VALUE_BYTES) */
#define SNAP_TEXT_MAX ((size_t)64 << 20)

/* The statements, by cache slot. ?1 is the sync id (SQ_SNAP_INFO, _SYNC, _CLEAR), else the
 * snapshot id (snapshot_syncs.id). */
static const char *const snap_sql[] = {
    [SQ_SNAP_LOAD - SQ_SNAP_LOAD] =
        "SELECT first_key, n, body FROM snapshot_chunks WHERE snap = ?1 ORDER BY first_key",
    [SQ_SNAP_INFO - SQ_SNAP_LOAD] =
        "SELECT id, format, folded, (SELECT count(*) FROM snapshot_deltas WHERE snap = y.id), "
        "(SELECT coalesce(sum(n), 0) FROM snapshot_deltas WHERE snap = y.id) "
        "FROM snapshot_syncs AS y WHERE sync_id = ?1",
    [SQ_SNAP_SYNC - SQ_SNAP_LOAD] = "INSERT INTO snapshot_syncs (sync_id, format) VALUES (?1, 1) "
                                    "ON CONFLICT (sync_id) DO NOTHING",
    [SQ_SNAP_RUN_PUT - SQ_SNAP_LOAD] = "INSERT INTO snapshot_deltas (snap, n, dels, min_key, "
                                       "max_key, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [SQ_SNAP_RUN_IDS - SQ_SNAP_LOAD] = "SELECT id FROM snapshot_deltas WHERE snap = ?1 ORDER BY id",
    [SQ_SNAP_RUNS_DROP - SQ_SNAP_LOAD] = "DELETE FROM snapshot_deltas WHERE snap = ?1",
    [SQ_SNAP_RUNS_DROP_TO - SQ_SNAP_LOAD] =
        "DELETE FROM snapshot_deltas WHERE snap = ?1 AND id <= ?2",
    [SQ_SNAP_CHUNK_LIST - SQ_SNAP_LOAD] =
        "SELECT id, first_key, n FROM snapshot_chunks WHERE snap = ?1 ORDER BY first_key",
    [SQ_SNAP_CHUNK_GET - SQ_SNAP_LOAD] = "SELECT body FROM snapshot_chunks WHERE id = ?1",
    /* snap_info for a key text lookup: whether there are runs, and the chunk that would hold
     * the key in ?2, the one with the largest first key not above it (0: none) */
    [SQ_SNAP_CHUNK_FIND - SQ_SNAP_LOAD] =
        "SELECT id, format, folded, EXISTS (SELECT 1 FROM snapshot_deltas WHERE snap = y.id), "
        "coalesce((SELECT c.id FROM snapshot_chunks AS c WHERE c.snap = y.id AND c.first_key <= "
        "?2 ORDER BY c.first_key DESC LIMIT 1), 0) FROM snapshot_syncs AS y WHERE sync_id = ?1",
    [SQ_SNAP_CHUNK_PUT - SQ_SNAP_LOAD] =
        "INSERT INTO snapshot_chunks (snap, first_key, n, body) VALUES (?1, ?2, ?3, ?4)",
    [SQ_SNAP_CHUNK_DEL - SQ_SNAP_LOAD] = "DELETE FROM snapshot_chunks WHERE id = ?1",
    [SQ_SNAP_SET_FOLDED - SQ_SNAP_LOAD] =
        "UPDATE snapshot_syncs SET format = 1, folded = ?2 WHERE id = ?1",
    [SQ_SNAP_READ_BEGIN - SQ_SNAP_LOAD] = "BEGIN",
    [SQ_SNAP_READ_END - SQ_SNAP_LOAD] = "COMMIT",
    /* the foreign keys take the chunks, the runs and 0003's rows along */
    [SQ_SNAP_CLEAR - SQ_SNAP_LOAD] = "DELETE FROM snapshot_syncs WHERE sync_id = ?1",
    /* the upgrade from 0003's tables (snap_upgrade): its fold, then its folded rows */
    [SQ_SNAP_OLD_PENDING - SQ_SNAP_LOAD] =
        "SELECT count(*), coalesce(sum(dels), 0) FROM snapshot_runs WHERE snap = ?1",
    [SQ_SNAP_OLD_FOLD_DEL - SQ_SNAP_LOAD] =
        "DELETE FROM snapshot_rows WHERE snap = ?1 AND key_hash IN (SELECT l.key_hash FROM "
        "snapshot_runs AS r JOIN snapshot_log AS l ON l.run = r.id WHERE r.snap = ?1 AND "
        "r.dels > 0 AND l.del = 1)",
    [SQ_SNAP_OLD_FOLD_PUT - SQ_SNAP_LOAD] =
        "INSERT INTO snapshot_rows (snap, key_hash, row_hash, key_text) SELECT ?1, key_hash, "
        "row_hash, key_text FROM (SELECT l.key_hash, l.row_hash, l.key_text, l.del, max(l.run) "
        "FROM snapshot_runs AS r JOIN snapshot_log AS l ON l.run = r.id WHERE r.snap = ?1 GROUP "
        "BY l.key_hash) WHERE del = 0 ON CONFLICT (snap, key_hash) DO UPDATE SET row_hash = "
        "excluded.row_hash, key_text = excluded.key_text",
    [SQ_SNAP_OLD_FOLD_DROP - SQ_SNAP_LOAD] = "DELETE FROM snapshot_runs WHERE snap = ?1",
    [SQ_SNAP_OLD_ROWS - SQ_SNAP_LOAD] = "SELECT key_hash, row_hash, key_text FROM snapshot_rows "
                                        "WHERE snap = ?1 ORDER BY key_hash",
    [SQ_SNAP_OLD_ROWS_DROP - SQ_SNAP_LOAD] = "DELETE FROM snapshot_rows WHERE snap = ?1",
};

/* The cached statement of slot id (SQ_SNAP_*). */
static enum ms_status
snap_stmt(struct store_sqlite *s, enum sq_stmt_id id, sqlite3_stmt **out, struct ms_error *err)
{
    MS_ASSERT(id >= SQ_SNAP_LOAD && (size_t)(id - SQ_SNAP_LOAD) < MS_ARRAY_LEN(snap_sql) &&
              snap_sql[id - SQ_SNAP_LOAD] != NULL);
    return ms_store_sq_stmt(s, id, snap_sql[id - SQ_SNAP_LOAD], out, err);
}

#ifdef MS_TESTING
const char *
ms_store_sq_snap_sql(enum sq_stmt_id id)
{
    if (id < SQ_SNAP_LOAD || (size_t)(id - SQ_SNAP_LOAD) >= MS_ARRAY_LEN(snap_sql))
        return NULL;
    return snap_sql[id - SQ_SNAP_LOAD];
}
#endif

/* ---- helpers ---- */

/* Statement id ready in *out with b bound to it and the sync id bound to ?1. */
static enum ms_status
snap_open(struct store_sqlite *s, enum sq_stmt_id id, const char *sync_id, sqlite3_stmt **out,
          struct sq_bind *b, struct ms_error *err)
{
    enum ms_status st = snap_stmt(s, id, out, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(b, *out);
    ms_store_sq_text(b, sync_id);
    return MS_OK;
}

/* The same with an integer (a snapshot, chunk or run id) bound to ?1. */
static enum ms_status
snap_open_id(struct store_sqlite *s, enum sq_stmt_id id, int64_t v, sqlite3_stmt **out,
             struct sq_bind *b, struct ms_error *err)
{
    enum ms_status st = snap_stmt(s, id, out, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(b, *out);
    ms_store_sq_i64(b, v);
    return MS_OK;
}

/* Run a write whose only parameter is an id. */
static enum ms_status
snap_exec(struct store_sqlite *s, enum sq_stmt_id id, int64_t v, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = snap_open_id(s, id, v, &stmt, &b, err);

    if (st != MS_OK)
        return st;
    return ms_store_sq_run(s, &b, "snapshot write", err);
}

/* Run one statement without parameters (read transaction control). */
static enum ms_status
snap_plain(struct store_sqlite *s, enum sq_stmt_id id, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = snap_stmt(s, id, &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    return ms_store_sq_run(s, &b, "snapshot read", err);
}

/*
 * Readers use several statements and blob handles: they take a read transaction unless the
 * caller holds one, so a fold committed by another handle in between cannot show a key twice
 * or not at all.
 */
static enum ms_status
snap_read_begin(struct store_sqlite *s, bool *began, struct ms_error *err)
{
    enum ms_status st = MS_OK;

    *began = false;
    if (s->tx_depth == 0) {
        st = snap_plain(s, SQ_SNAP_READ_BEGIN, err);
        *began = st == MS_OK;
    }
    return st;
}

static void
snap_read_end(struct store_sqlite *s, bool began)
{
    if (!began)
        return;
    snap_plain(s, SQ_SNAP_READ_END, NULL);
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* there are only reads to undo */
}

/* A 16-byte key column of the current row into key; false when it is not 16 bytes. */
static bool
snap_col_key(sqlite3_stmt *stmt, int col, uint8_t key[SNAP_HASH_LEN])
{
    if (sqlite3_column_bytes(stmt, col) != SNAP_HASH_LEN)
        return false;
    memcpy(key, sqlite3_column_blob(stmt, col), SNAP_HASH_LEN);
    return true;
}

/* ---- the sync's row ---- */

/* What snapshot_syncs and snapshot_deltas say about a sync. */
struct snap_info {
    bool found;     /* the sync has a snapshot_syncs row */
    int64_t id;     /* its snapshot id */
    int64_t format; /* 0: still in 0003's tables; 1: chunks and runs */
    int64_t folded; /* keys in the folded chunks */
    int64_t runs;   /* runs not folded yet (with a key: 1 when there are any) */
    int64_t run_n;  /* without a key: the entries of those runs */
    int64_t chunk;  /* with a key: the chunk that would hold it, 0 when none would */
};

/* The sync's info; with key (a key text lookup), the chunk for key too, in one statement. */
static enum ms_status
snap_info(struct store_sqlite *s, const char *sync_id, const uint8_t *key, struct snap_info *inf,
          struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st =
        snap_open(s, key != NULL ? SQ_SNAP_CHUNK_FIND : SQ_SNAP_INFO, sync_id, &stmt, &b, err);

    memset(inf, 0, sizeof(*inf));
    if (st != MS_OK)
        return st;
    if (key != NULL)
        ms_store_sq_blob(&b, key, SNAP_HASH_LEN);
    st = ms_store_sq_step(s, &b, "snapshot info", &row, err);
    if (st == MS_OK && row) {
        inf->found = true;
        inf->id = ms_store_sq_col_i64(stmt, 0);
        inf->format = ms_store_sq_col_i64(stmt, 1);
        inf->folded = ms_store_sq_col_i64(stmt, 2);
        inf->runs = ms_store_sq_col_i64(stmt, 3);
        if (key != NULL)
            inf->chunk = ms_store_sq_col_i64(stmt, 4);
        else
            inf->run_n = ms_store_sq_col_i64(stmt, 4);
    }
    ms_store_sq_done(stmt);
    return st;
}

/* The ids of the sync's runs, oldest first, into *ids (malloc'd; free it) and *n. */
static enum ms_status
snap_run_ids(struct store_sqlite *s, int64_t snap, int64_t **ids, size_t *n, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    size_t cap = 16;
    enum ms_status st = snap_open_id(s, SQ_SNAP_RUN_IDS, snap, &stmt, &b, err);

    *n = 0;
    *ids = ms_xmalloc(cap * sizeof(**ids));
    if (st != MS_OK)
        return st;
    for (st = ms_store_sq_step(s, &b, "snapshot runs", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(s, &b, "snapshot runs", &row, err)) {
        if (*n == cap)
            *ids = ms_xrealloc(*ids, (cap *= 2) * sizeof(**ids));
        (*ids)[(*n)++] = ms_store_sq_col_i64(stmt, 0);
    }
    ms_store_sq_done(stmt);
    return st;
}

/* Open the merge of all of the sync's runs, at their first key not below from (NULL: all). */
static enum ms_status
snap_runs_open(struct store_sqlite *s, const char *sync_id, int64_t snap, bool texts,
               const uint8_t *from, struct snap_runs **out, struct ms_error *err)
{
    int64_t *ids = NULL;
    size_t n = 0;
    enum ms_status st = snap_run_ids(s, snap, &ids, &n, err);

    if (st == MS_OK)
        st = ms_store_sq_runs_open(s, sync_id, ids, n, texts, from, out, err);
    free(ids);
    return st;
}

/* ---- writing chunks and runs ---- */

/* Insert the blob b holds as a chunk of the snapshot, then empty b. */
static enum ms_status
snap_chunk_put(struct store_sqlite *s, int64_t snap, struct snapblob_builder *b,
               struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind bd;
    size_t len = 0;
    const uint8_t *blob = ms_store_snapblob_finish(b, &len);
    enum ms_status st = snap_open_id(s, SQ_SNAP_CHUNK_PUT, snap, &stmt, &bd, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_blob(&bd, blob + MS_SNAPBLOB_HEAD, SNAP_HASH_LEN); /* the first key */
    ms_store_sq_i64(&bd, (int64_t)b->n);
    if (bd.rc == SQLITE_OK)
        bd.rc = sqlite3_bind_blob64(stmt, ++bd.i, blob, len, SQLITE_STATIC);
    st = ms_store_sq_run(s, &bd, "snapshot chunk write", err);
    ms_store_snapblob_reset(b);
    return st;
}

/* Insert the blob b holds as a new run of the snapshot, then empty b. */
static enum ms_status
snap_run_put(struct store_sqlite *s, int64_t snap, struct snapblob_builder *b, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind bd;
    size_t len = 0;
    const uint8_t *blob = ms_store_snapblob_finish(b, &len);
    enum ms_status st = snap_open_id(s, SQ_SNAP_RUN_PUT, snap, &stmt, &bd, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_i64(&bd, (int64_t)b->n);
    ms_store_sq_i64(&bd, b->dels);
    ms_store_sq_blob(&bd, blob + MS_SNAPBLOB_HEAD, SNAP_HASH_LEN); /* min_key */
    ms_store_sq_blob(&bd, blob + MS_SNAPBLOB_HEAD + (b->n - 1) * MS_SNAPBLOB_ENTRY,
                     SNAP_HASH_LEN); /* max_key */
    if (bd.rc == SQLITE_OK)
        bd.rc = sqlite3_bind_blob64(stmt, ++bd.i, blob, len, SQLITE_STATIC);
    st = ms_store_sq_run(s, &bd, "snapshot apply", err);
    ms_store_snapblob_reset(b);
    return st;
}

/* ---- upgrade from migration 0003's tables ---- */

/* Fold 0003's runs into its folded rows with its own statements, as its snap_compact did. */
static enum ms_status
snap_old_fold(struct store_sqlite *s, int64_t snap, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    int64_t runs = 0, dels = 0;
    enum ms_status st = snap_open_id(s, SQ_SNAP_OLD_PENDING, snap, &stmt, &b, err);

    if (st != MS_OK)
        return st;
    st = ms_store_sq_step(s, &b, "snapshot upgrade", &row, err);
    if (st == MS_OK && row) {
        runs = ms_store_sq_col_i64(stmt, 0);
        dels = ms_store_sq_col_i64(stmt, 1);
    }
    ms_store_sq_done(stmt);
    if (st == MS_OK && dels > 0)
        st = snap_exec(s, SQ_SNAP_OLD_FOLD_DEL, snap, err);
    if (st == MS_OK && runs > 0)
        st = snap_exec(s, SQ_SNAP_OLD_FOLD_PUT, snap, err);
    if (st == MS_OK && runs > 0)
        st = snap_exec(s, SQ_SNAP_OLD_FOLD_DROP, snap, err);
    return st;
}

/* Add the current row of 0003's folded rows to b; false when a hash is not 16 bytes. */
static bool
snap_old_row(sqlite3_stmt *stmt, struct snapblob_builder *b)
{
    uint8_t key[SNAP_HASH_LEN], row[SNAP_HASH_LEN];
    const char *text = (const char *)sqlite3_column_text(stmt, 2);
    size_t len = (size_t)sqlite3_column_bytes(stmt, 2);

    if (!snap_col_key(stmt, 0, key) || !snap_col_key(stmt, 1, row) || len > SNAP_TEXT_MAX)
        return false;
    ms_store_snapblob_add(b, key, row, false, text, len);
    return true;
}

/* Stream 0003's folded rows, in key order, into chunks; how many into *count. */
static enum ms_status
snap_old_convert(struct store_sqlite *s, const char *sync_id, int64_t snap, int64_t *count,
                 struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    struct snapblob_builder bld;
    bool row = false;
    enum ms_status st = snap_open_id(s, SQ_SNAP_OLD_ROWS, snap, &stmt, &b, err);

    *count = 0;
    if (st != MS_OK)
        return st;
    ms_store_snapblob_init(&bld);
    for (st = ms_store_sq_step(s, &b, "snapshot upgrade", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(s, &b, "snapshot upgrade", &row, err)) {
        if (!snap_old_row(stmt, &bld)) {
            st = ms_store_snapblob_damaged(sync_id, "a 0003 row with a bad hash", err);
            break;
        }
        ++*count;
        if (bld.n >= SNAP_CHUNK_MAX || ms_store_snapblob_size(&bld) >= SNAP_CHUNK_BYTES)
            st = snap_chunk_put(s, snap, &bld, err);
        if (st != MS_OK)
            break;
    }
    ms_store_sq_done(stmt);
    if (st == MS_OK && bld.n > 0)
        st = snap_chunk_put(s, snap, &bld, err);
    ms_store_snapblob_release(&bld);
    return st;
}

/* The folded count (and the format 1) of the snapshot. */
static enum ms_status
snap_set_folded(struct store_sqlite *s, int64_t snap, int64_t folded, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = snap_open_id(s, SQ_SNAP_SET_FOLDED, snap, &stmt, &b, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_i64(&b, folded);
    return ms_store_sq_run(s, &b, "snapshot write", err);
}

/*
 * Move a sync's snapshot from 0003's tables into chunks, in one transaction (nested in the
 * caller's, if any): fold 0003's runs, stream its folded rows into chunks, delete them. The
 * format is read again under the write lock, since another handle may have converted it.
 */
static enum ms_status
snap_upgrade(struct store_sqlite *s, const char *sync_id, struct ms_error *err)
{
    struct snap_info inf;
    int64_t count = 0;
    enum ms_status st = ms_store_sq_begin(s, err);

    if (st != MS_OK)
        return st;
    st = snap_info(s, sync_id, NULL, &inf, err);
    if (st == MS_OK && inf.found && inf.format == 0) {
        st = snap_old_fold(s, inf.id, err);
        if (st == MS_OK)
            st = snap_old_convert(s, sync_id, inf.id, &count, err);
        if (st == MS_OK)
            st = snap_exec(s, SQ_SNAP_OLD_ROWS_DROP, inf.id, err);
        if (st == MS_OK)
            st = snap_set_folded(s, inf.id, count, err);
    }
    if (st == MS_OK)
        return ms_store_sq_commit(s, err);
    ms_store_sq_rollback(s);
    return st;
}

/*
 * The start of every reader: a read transaction (see snap_read_begin) and the sync's info,
 * converting a snapshot still in 0003's tables first. *began says whether to end it.
 */
static enum ms_status
snap_prepare(struct store_sqlite *s, const char *sync_id, const uint8_t *key, struct snap_info *inf,
             bool *began, struct ms_error *err)
{
    enum ms_status st = MS_OK;

    for (int pass = 0; st == MS_OK; pass++) {
        if ((st = snap_read_begin(s, began, err)) != MS_OK)
            return st;
        st = snap_info(s, sync_id, key, inf, err);
        if (st != MS_OK || !inf->found || inf->format != 0)
            break;
        snap_read_end(s, *began);
        *began = false;
        if (pass > 0)
            return ms_fail(err, MS_EINTERNAL, "snapshot of sync %s: upgrade did not take", sync_id);
        st = snap_upgrade(s, sync_id, err);
    }
    if (st != MS_OK)
        snap_read_end(s, *began);
    return st;
}

/* ---- load and count: the folded chunks merged with the runs ---- */

#define SNAP_ENT(p, i) ((p) + MS_SNAPBLOB_HEAD + (size_t)(i)*MS_SNAPBLOB_ENTRY)

/*
 * Check a chunk whole, against its row (n and first_key; the index order makes first_key
 * increase) and against the chunk before it (its last key, when prev is not NULL), and that
 * its keys stay below upper (the next chunk's first key, when not NULL).
 */
static enum ms_status
snap_chunk_check(const char *sync_id, const uint8_t *p, size_t len, int64_t n, const uint8_t *first,
                 const uint8_t *prev, const uint8_t *upper, struct snapblob_head *h,
                 struct ms_error *err)
{
    const char *why = NULL;

    if (p == NULL || !ms_store_snapblob_head(p, len, h) || h->n == 0 || h->n != n ||
        first == NULL || memcmp(first, SNAP_ENT(p, 0), SNAP_HASH_LEN) != 0)
        why = "a chunk that does not match its row";
    else if ((prev != NULL && memcmp(prev, SNAP_ENT(p, 0), SNAP_HASH_LEN) >= 0) ||
             (upper != NULL && memcmp(SNAP_ENT(p, h->n - 1), upper, SNAP_HASH_LEN) >= 0))
        why = "chunks overlap";
    else
        why = ms_store_snapblob_check(p, len, false);
    return why != NULL ? ms_store_snapblob_damaged(sync_id, why, err) : MS_OK;
}

struct snap_walk {
    struct store_sqlite *s;
    const char *sync_id;
    struct snap_runs *runs;
    /* one change from the runs (never a delete), and the folded entries [i, j) of chunk p */
    enum ms_status (*emit)(struct snap_walk *w, const struct snap_ent *e, struct ms_error *err);
    enum ms_status (*span)(struct snap_walk *w, const uint8_t *p, uint32_t i, uint32_t j,
                           struct ms_error *err);
    ms_snap_fn fn; /* load */
    void *ud;
    int64_t count;               /* count */
    uint8_t last[SNAP_HASH_LEN]; /* the last key of the previous chunk */
    bool any;
};

/* fn's status, turned into the load's error. */
static enum ms_status
snap_load_fn(struct snap_walk *w, const uint8_t *key, const uint8_t *row, struct ms_error *err)
{
    enum ms_status st = w->fn(w->ud, key, row);

    if (st != MS_OK)
        return ms_fail(err, st, "snapshot load of sync %s stopped by its reader (%s)", w->sync_id,
                       ms_status_name(st));
    return MS_OK;
}

static enum ms_status
snap_emit_load(struct snap_walk *w, const struct snap_ent *e, struct ms_error *err)
{
    return snap_load_fn(w, e->key, e->row, err);
}

static enum ms_status
snap_span_load(struct snap_walk *w, const uint8_t *p, uint32_t i, uint32_t j, struct ms_error *err)
{
    enum ms_status st = MS_OK;

    for (; i < j && st == MS_OK; i++)
        st = snap_load_fn(w, SNAP_ENT(p, i), SNAP_ENT(p, i) + SNAP_HASH_LEN, err);
    return st;
}

static enum ms_status
snap_emit_count(struct snap_walk *w, const struct snap_ent *e, struct ms_error *err)
{
    (void)e;
    (void)err;
    w->count++;
    return MS_OK;
}

static enum ms_status
snap_span_count(struct snap_walk *w, const uint8_t *p, uint32_t i, uint32_t j, struct ms_error *err)
{
    (void)p;
    (void)err;
    w->count += j - i;
    return MS_OK;
}

/* Emit the runs' changes of keys below key (all of them: key NULL), skipping deletes. */
static enum ms_status
snap_walk_runs(struct snap_walk *w, const uint8_t *key, struct ms_error *err)
{
    const struct snap_ent *r;
    enum ms_status st = MS_OK;

    while (st == MS_OK && (r = ms_store_sq_runs_cur(w->runs, NULL, NULL)) != NULL &&
           (key == NULL || memcmp(r->key, key, SNAP_HASH_LEN) < 0)) {
        if (!r->del)
            st = w->emit(w, r, err);
        if (st == MS_OK)
            st = ms_store_sq_runs_next(w->runs, err);
    }
    return st;
}

/*
 * Merge a sound chunk with the runs: before entry i, the runs' keys below it; then entry i
 * replaced by the run that changed it, or, up to the runs' next key, entries i.. as a span.
 */
static enum ms_status
snap_walk_merge(struct snap_walk *w, const uint8_t *p, const struct snapblob_head *h,
                struct ms_error *err)
{
    enum ms_status st = MS_OK;

    for (uint32_t i = 0, j; st == MS_OK && i < h->n; i = j) {
        const struct snap_ent *r;

        if ((st = snap_walk_runs(w, SNAP_ENT(p, i), err)) != MS_OK)
            break;
        r = ms_store_sq_runs_cur(w->runs, NULL, NULL);
        if (r != NULL && memcmp(r->key, SNAP_ENT(p, i), SNAP_HASH_LEN) == 0) {
            j = i + 1;
            if (!r->del)
                st = w->emit(w, r, err);
            if (st == MS_OK)
                st = ms_store_sq_runs_next(w->runs, err);
            continue;
        }
        j = r != NULL ? ms_store_snapblob_lower(p, i + 1, h->n, r->key) : h->n;
        st = w->span(w, p, i, j, err);
    }
    return st;
}

/* One chunk of the SQ_SNAP_LOAD statement, checked, merged with the runs. */
static enum ms_status
snap_walk_chunk(struct snap_walk *w, sqlite3_stmt *stmt, struct ms_error *err)
{
    const uint8_t *p = sqlite3_column_blob(stmt, 2);
    size_t len = (size_t)sqlite3_column_bytes(stmt, 2);
    const uint8_t *first =
        sqlite3_column_bytes(stmt, 0) == SNAP_HASH_LEN ? sqlite3_column_blob(stmt, 0) : NULL;
    struct snapblob_head h;
    enum ms_status st = snap_chunk_check(w->sync_id, p, len, ms_store_sq_col_i64(stmt, 1), first,
                                         w->any ? w->last : NULL, NULL, &h, err);

    if (st != MS_OK)
        return st;
    memcpy(w->last, SNAP_ENT(p, h.n - 1), SNAP_HASH_LEN);
    w->any = true;
    return snap_walk_merge(w, p, &h, err);
}

/* Every key of the snapshot in order, through w->emit: the chunks, then the runs' rest. */
static enum ms_status
snap_walk(struct snap_walk *w, int64_t snap, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = snap_runs_open(w->s, w->sync_id, snap, false, NULL, &w->runs, err);

    if (st == MS_OK)
        st = snap_open_id(w->s, SQ_SNAP_LOAD, snap, &stmt, &b, err);
    if (st == MS_OK) {
        for (st = ms_store_sq_step(w->s, &b, "snapshot load", &row, err); st == MS_OK && row;
             st = ms_store_sq_step(w->s, &b, "snapshot load", &row, err))
            if ((st = snap_walk_chunk(w, stmt, err)) != MS_OK)
                break;
        ms_store_sq_done(stmt);
    }
    if (st == MS_OK)
        st = snap_walk_runs(w, NULL, err);
    ms_store_sq_runs_free(w->runs);
    w->runs = NULL;
    return st;
}

/* fn sees the rows in key order, through pointers valid only during the call. */
enum ms_status
ms_store_sq_snap_load(struct ms_store *base, const char *sync_id, ms_snap_fn fn, void *ud,
                      struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct snap_walk w = {.s = s,
                          .sync_id = sync_id,
                          .emit = snap_emit_load,
                          .span = snap_span_load,
                          .fn = fn,
                          .ud = ud};
    struct snap_info inf;
    bool began = false;
    enum ms_status st = snap_prepare(s, sync_id, NULL, &inf, &began, err);

    if (st != MS_OK)
        return st;
    if (inf.found)
        st = snap_walk(&w, inf.id, err);
    snap_read_end(s, began);
    return st;
}

/* Without runs, the folded count; with runs, a walk that counts. */
enum ms_status
ms_store_sq_snap_count(struct ms_store *base, const char *sync_id, int64_t *n, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct snap_walk w = {
        .s = s, .sync_id = sync_id, .emit = snap_emit_count, .span = snap_span_count};
    struct snap_info inf;
    bool began = false;
    enum ms_status st = snap_prepare(s, sync_id, NULL, &inf, &began, err);

    if (st != MS_OK)
        return st;
    w.count = inf.folded;
    if (inf.found && inf.runs > 0) {
        w.count = 0;
        st = snap_walk(&w, inf.id, err);
    }
    snap_read_end(s, began);
    if (st == MS_OK)
        *n = w.count;
    return st;
}

/* The folded keys plus every entry of the runs (puts that may be new, deletes that may remove
 * a key): one statement. */
enum ms_status
ms_store_sq_snap_size_hint(struct ms_store *base, const char *sync_id, int64_t *n,
                           struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct snap_info inf;
    bool began = false;
    enum ms_status st = snap_prepare(s, sync_id, NULL, &inf, &began, err);

    if (st != MS_OK)
        return st;
    *n = inf.found ? inf.folded + inf.run_n : 0;
    snap_read_end(s, began);
    return MS_OK;
}

/* ---- apply ---- */

/*
 * Sort v[0, n) by key, a stable LSD radix sort on the 16 key bytes (tmp: room for n more), so
 * equal keys keep the caller's order. A pass whose byte is the same in every key is skipped.
 */
static void
snap_radix(const struct ms_snap_change **v, const struct ms_snap_change **tmp, size_t n)
{
    for (int byte = SNAP_HASH_LEN - 1; byte >= 0; byte--) {
        size_t cnt[256] = {0}, at = 0;

        for (size_t i = 0; i < n; i++)
            cnt[v[i]->key[byte]]++;
        if (n == 0 || cnt[v[0]->key[byte]] == n)
            continue;
        for (size_t d = 0; d < 256; d++) {
            size_t c = cnt[d];

            cnt[d] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[cnt[v[i]->key[byte]]++] = v[i];
        memcpy(v, tmp, n * sizeof(*v));
    }
}

/* The changes to write, in key order, the last one of each key only: how many into v. */
static size_t
snap_sort(const struct ms_snap_change *c, size_t n, const struct ms_snap_change **v)
{
    const struct ms_snap_change **tmp = ms_xcalloc(n, sizeof(*tmp));
    size_t m = 0;

    for (size_t i = 0; i < n; i++)
        v[i] = &c[i];
    snap_radix(v, tmp, n);
    free(tmp);
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && memcmp(v[i]->key, v[i + 1]->key, SNAP_HASH_LEN) == 0)
            continue; /* a later change of the same key wins */
        v[m++] = v[i];
    }
    return m;
}

/*
 * Append v[0, m) as one run (one blob row), or as several when they exceed SNAP_RUN_BYTES:
 * their keys are distinct, so the pieces' order among themselves does not matter.
 */
static enum ms_status
snap_append(struct store_sqlite *s, const char *sync_id, int64_t snap,
            const struct ms_snap_change **v, size_t m, struct ms_error *err)
{
    struct snapblob_builder b;
    enum ms_status st = MS_OK;

    ms_store_snapblob_init(&b);
    for (size_t i = 0; i < m && st == MS_OK; i++) {
        const struct ms_snap_change *c = v[i];
        size_t len = c->del || c->key_text == NULL ? 0 : c->key_len;

        if (len > SNAP_TEXT_MAX) {
            st = ms_fail(err, MS_ETOOBIG, "snapshot of sync %s: a key text of %zu bytes (cap %zu)",
                         sync_id, len, SNAP_TEXT_MAX);
            break;
        }
        if (b.n > 0 && ms_store_snapblob_size(&b) + MS_SNAPBLOB_ENTRY + len > SNAP_RUN_BYTES)
            st = snap_run_put(s, snap, &b, err);
        if (st == MS_OK)
            ms_store_snapblob_add(&b, c->key, c->row, c->del, c->del ? NULL : c->key_text, len);
    }
    if (st == MS_OK && b.n > 0)
        st = snap_run_put(s, snap, &b, err);
    ms_store_snapblob_release(&b);
    return st;
}

/*
 * The sync's snapshot id in *snap, creating its snapshot_syncs row on its first change (an
 * unknown sync fails that row's foreign key) and converting a snapshot in 0003's tables.
 */
static enum ms_status
snap_sync_row(struct store_sqlite *s, const char *sync_id, int64_t *snap, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    struct snap_info inf = {.found = false};
    enum ms_status st = snap_open(s, SQ_SNAP_SYNC, sync_id, &stmt, &b, err);

    if (st == MS_OK)
        st = ms_store_sq_run(s, &b, "snapshot apply", err);
    if (st == MS_OK)
        st = snap_info(s, sync_id, NULL, &inf, err);
    if (st == MS_OK && inf.found && inf.format == 0)
        st = snap_upgrade(s, sync_id, err);
    if (st == MS_OK && !inf.found)
        st = ms_fail(err, MS_EINTERNAL, "snapshot apply: no snapshot row for sync %s", sync_id);
    if (st == MS_OK)
        *snap = inf.id;
    return st;
}

/* The changes sorted, then written as one run. */
static enum ms_status
snap_apply_changes(struct store_sqlite *s, const char *sync_id, const struct ms_snap_change *c,
                   size_t n, struct ms_error *err)
{
    const struct ms_snap_change **v = ms_xcalloc(n, sizeof(*v));
    size_t m = snap_sort(c, n, v);
    int64_t snap = 0;
    enum ms_status st = snap_sync_row(s, sync_id, &snap, err);

    if (st == MS_OK)
        st = snap_append(s, sync_id, snap, v, m, err);
    free(v);
    return st;
}

/* One transaction (nested in the caller's, if any); every statement comes from the cache. */
enum ms_status
ms_store_sq_snap_apply(struct ms_store *base, const char *sync_id, const struct ms_snap_change *c,
                       size_t n, const char *exec_id, const struct ms_counts *counts,
                       struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct ms_error local;
    enum ms_status st;

    if (err == NULL)
        err = &local; /* the SQLite code tells a missing sync apart */
    st = ms_store_sq_begin(s, err);
    if (st != MS_OK)
        return st;
    if (n > 0)
        st = snap_apply_changes(s, sync_id, c, n, err);
    if (st == MS_OK && exec_id != NULL)
        st = ms_store_sq_exec_counts(s, exec_id, counts, err);
    if (st == MS_OK)
        return ms_store_sq_commit(s, err);
    ms_store_sq_rollback(s);
    if (err->native == SQLITE_CONSTRAINT_FOREIGNKEY) {
        st = ms_fail(err, MS_ENOTFOUND, "no sync with id %s", sync_id);
        err->native = SQLITE_CONSTRAINT_FOREIGNKEY;
    }
    return st;
}

/* ---- clear ---- */

/* One statement, so atomic: the chunks, the runs and any 0003 rows go along. */
enum ms_status
ms_store_sq_snap_clear(struct ms_store *base, const char *sync_id, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = snap_open(s, SQ_SNAP_CLEAR, sync_id, &stmt, &b, err);

    if (st != MS_OK)
        return st;
    return ms_store_sq_run(s, &b, "snapshot clear", err);
}

/* ---- compact: the fold ---- */

/* A folded chunk as SQ_SNAP_CHUNK_LIST lists it. */
struct snap_chunk_ref {
    int64_t id, n;
    uint8_t first[SNAP_HASH_LEN];
};

/* The state of one fold: the runs' merge, the chunk being built, the chunks it replaces. */
struct snap_fold {
    struct store_sqlite *s;
    const char *sync_id;
    int64_t snap;
    struct snap_runs *runs;
    struct snapblob_builder b;
    int64_t total; /* keys in the chunks kept and written so far */
    uint8_t *body; /* owned: a copy of the chunk being rewritten */
    size_t body_cap;
};

/* The sync's chunks in key order, without their bodies, into *out (malloc'd) and *n. */
static enum ms_status
snap_chunk_list(struct snap_fold *f, struct snap_chunk_ref **out, size_t *n, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    size_t cap = 16;
    enum ms_status st = snap_open_id(f->s, SQ_SNAP_CHUNK_LIST, f->snap, &stmt, &b, err);

    *n = 0;
    *out = ms_xmalloc(cap * sizeof(**out));
    if (st != MS_OK)
        return st;
    for (st = ms_store_sq_step(f->s, &b, "snapshot compact", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(f->s, &b, "snapshot compact", &row, err)) {
        if (*n == cap)
            *out = ms_xrealloc(*out, (cap *= 2) * sizeof(**out));
        (*out)[*n].id = ms_store_sq_col_i64(stmt, 0);
        (*out)[*n].n = ms_store_sq_col_i64(stmt, 2);
        if (!snap_col_key(stmt, 1, (*out)[*n].first)) {
            st = ms_store_snapblob_damaged(f->sync_id, "a chunk's first key", err);
            break;
        }
        ++*n;
    }
    ms_store_sq_done(stmt);
    return st;
}

/* Write the chunk being built, if any. */
static enum ms_status
snap_fold_flush(struct snap_fold *f, struct ms_error *err)
{
    if (f->b.n == 0)
        return MS_OK;
    f->total += (int64_t)f->b.n;
    return snap_chunk_put(f->s, f->snap, &f->b, err);
}

/* Add one entry (never a delete) to the chunk being built, writing it when full. */
static enum ms_status
snap_fold_add(struct snap_fold *f, const struct snap_ent *e, const char *text, size_t len,
              struct ms_error *err)
{
    ms_store_snapblob_add(&f->b, e->key, e->row, false, e->text ? text : NULL, len);
    if (f->b.n >= SNAP_CHUNK_MAX || ms_store_snapblob_size(&f->b) >= SNAP_CHUNK_BYTES)
        return snap_fold_flush(f, err);
    return MS_OK;
}

/* The runs' changes of keys below upper (all: upper NULL) into the new chunks. */
static enum ms_status
snap_fold_runs(struct snap_fold *f, const uint8_t *upper, struct ms_error *err)
{
    const struct snap_ent *r;
    const char *text = NULL;
    size_t len = 0;
    enum ms_status st = MS_OK;

    while (st == MS_OK && (r = ms_store_sq_runs_cur(f->runs, &text, &len)) != NULL &&
           (upper == NULL || memcmp(r->key, upper, SNAP_HASH_LEN) < 0)) {
        if (!r->del)
            st = snap_fold_add(f, r, text, len, err);
        if (st == MS_OK)
            st = ms_store_sq_runs_next(f->runs, err);
    }
    return st;
}

/* A copy of chunk c's body in f->body, checked whole (its header in *h); then c goes. */
static enum ms_status
snap_fold_read(struct snap_fold *f, const struct snap_chunk_ref *c, const uint8_t *upper,
               struct snapblob_head *h, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    size_t len = 0;
    enum ms_status st = snap_open_id(f->s, SQ_SNAP_CHUNK_GET, c->id, &stmt, &b, err);

    if (st == MS_OK)
        st = ms_store_sq_step(f->s, &b, "snapshot compact", &row, err);
    if (st == MS_OK && row) {
        len = (size_t)sqlite3_column_bytes(stmt, 0);
        if (len > f->body_cap)
            f->body = ms_xrealloc(f->body, f->body_cap = len);
        if (len > 0)
            memcpy(f->body, sqlite3_column_blob(stmt, 0), len);
    }
    ms_store_sq_done(stmt);
    /* delete it now, while its pages are in the cache: freeing walks them, and the chunks
     * written next reuse them */
    if (st == MS_OK && row)
        st = snap_exec(f->s, SQ_SNAP_CHUNK_DEL, c->id, err);
    if (st != MS_OK)
        return st;
    return snap_chunk_check(f->sync_id, row && len > 0 ? f->body : NULL, len, c->n, c->first, NULL,
                            upper, h, err);
}

/* Add the folded entries [i, j) of f->body (header h), writing each chunk as it fills. */
static enum ms_status
snap_fold_span(struct snap_fold *f, const struct snapblob_head *h, uint32_t i, uint32_t j,
               struct ms_error *err)
{
    enum ms_status st = MS_OK;

    while (i < j && st == MS_OK) {
        uint32_t k = j - i;
        size_t room = SNAP_CHUNK_MAX - f->b.n;

        if (k > room)
            k = (uint32_t)room;
        while (k > 1 &&
               ms_store_snapblob_size(&f->b) + ms_store_snapblob_span_bytes(f->body, h, i, k) >
                   SNAP_CHUNK_BYTES)
            k /= 2; /* long texts: fewer entries */
        ms_store_snapblob_add_span(&f->b, f->body, h, i, k);
        i += k;
        if (f->b.n >= SNAP_CHUNK_MAX || ms_store_snapblob_size(&f->b) >= SNAP_CHUNK_BYTES)
            st = snap_fold_flush(f, err);
    }
    return st;
}

/*
 * Rewrite chunk c merged with the runs' keys below upper (NULL: all that are left): before
 * entry i, the runs' keys below it; then entry i replaced by the run that changed it, or, up to
 * the runs' next key, entries i.. copied as a span.
 */
static enum ms_status
snap_fold_chunk(struct snap_fold *f, const struct snap_chunk_ref *c, const uint8_t *upper,
                struct ms_error *err)
{
    struct snapblob_head h;
    enum ms_status st = snap_fold_read(f, c, upper, &h, err);

    for (uint32_t i = 0, j; st == MS_OK && i < h.n; i = j) {
        const struct snap_ent *r;
        const char *text = NULL;
        size_t len = 0;

        if ((st = snap_fold_runs(f, SNAP_ENT(f->body, i), err)) != MS_OK)
            break;
        r = ms_store_sq_runs_cur(f->runs, &text, &len);
        if (r != NULL && memcmp(r->key, SNAP_ENT(f->body, i), SNAP_HASH_LEN) == 0) {
            j = i + 1;
            if (!r->del)
                st = snap_fold_add(f, r, text, len, err);
            if (st == MS_OK)
                st = ms_store_sq_runs_next(f->runs, err);
            continue;
        }
        j = r != NULL ? ms_store_snapblob_lower(f->body, i + 1, h.n, r->key) : h.n;
        st = snap_fold_span(f, &h, i, j, err);
    }
    if (st == MS_OK)
        st = snap_fold_runs(f, upper, err);
    return st;
}

/*
 * Walk the chunks in key order. A chunk no run key falls in (below the next chunk's first key)
 * is kept as it is; the others are merged with those keys into new chunks. A new chunk that
 * would end up small is continued with the next chunk instead, so chunks stay near full.
 */
static enum ms_status
snap_fold_walk(struct snap_fold *f, const struct snap_chunk_ref *c, size_t nc, struct ms_error *err)
{
    enum ms_status st = MS_OK;

    for (size_t i = 0; i < nc && st == MS_OK; i++) {
        const uint8_t *upper = i + 1 < nc ? c[i + 1].first : NULL;
        const struct snap_ent *r = ms_store_sq_runs_cur(f->runs, NULL, NULL);

        if (f->b.n == 0 &&
            (r == NULL || (upper != NULL && memcmp(r->key, upper, SNAP_HASH_LEN) >= 0))) {
            f->total += c[i].n; /* untouched */
            continue;
        }
        st = snap_fold_chunk(f, &c[i], upper, err);
        if (st == MS_OK && (upper == NULL || f->b.n >= SNAP_CHUNK_MAX / 4 ||
                            ms_store_snapblob_size(&f->b) >= SNAP_CHUNK_BYTES / 4))
            st = snap_fold_flush(f, err);
    }
    if (st == MS_OK)
        st = snap_fold_runs(f, NULL, err); /* no chunks yet: the runs are all there is */
    if (st == MS_OK)
        st = snap_fold_flush(f, err);
    return st;
}

/* Delete the folded runs and record the new count. */
static enum ms_status
snap_fold_finish(struct snap_fold *f, struct ms_error *err)
{
    enum ms_status st = snap_exec(f->s, SQ_SNAP_RUNS_DROP, f->snap, err);

    if (st == MS_OK)
        st = snap_set_folded(f->s, f->snap, f->total, err);
    return st;
}

/* Fold all of the sync's runs into its chunks (inside the caller's transaction). */
static enum ms_status
snap_fold(struct store_sqlite *s, const char *sync_id, int64_t snap, struct ms_error *err)
{
    struct snap_fold f = {.s = s, .sync_id = sync_id, .snap = snap};
    struct snap_chunk_ref *c = NULL;
    size_t nc = 0;
    enum ms_status st = snap_chunk_list(&f, &c, &nc, err);

    ms_store_snapblob_init(&f.b);
    if (st == MS_OK)
        st = snap_runs_open(s, sync_id, snap, true, NULL, &f.runs, err);
    if (st == MS_OK)
        st = snap_fold_walk(&f, c, nc, err);
    ms_store_sq_runs_free(f.runs); /* closes the blob handles before their rows go */
    if (st == MS_OK)
        st = snap_fold_finish(&f, err);
    ms_store_snapblob_release(&f.b);
    free(f.body);
    free(c);
    return st;
}

/* ---- compact: the runs merged into one ---- */

/*
 * Merge the runs ids[0, n) into one (several when it passes SNAP_MERGE_BYTES: their keys are
 * distinct), keeping the deletes, since the chunks may hold those keys; then delete them. The
 * new rows take larger ids than the runs they replace, and later applies larger ones still.
 */
static enum ms_status
snap_merge_runs(struct store_sqlite *s, const char *sync_id, int64_t snap, const int64_t *ids,
                size_t n, struct ms_error *err)
{
    struct snap_runs *runs = NULL;
    struct snapblob_builder b;
    const struct snap_ent *e;
    enum ms_status st = ms_store_sq_runs_open(s, sync_id, ids, n, true, NULL, &runs, err);

    ms_store_snapblob_init(&b);
    while (st == MS_OK) {
        const char *text = NULL;
        size_t len = 0;

        if ((e = ms_store_sq_runs_cur(runs, &text, &len)) == NULL)
            break;
        if (!e->text)
            len = 0;
        if (b.n > 0 && ms_store_snapblob_size(&b) + MS_SNAPBLOB_ENTRY + len > SNAP_MERGE_BYTES)
            st = snap_run_put(s, snap, &b, err);
        if (st != MS_OK)
            break;
        ms_store_snapblob_add(&b, e->key, e->row, e->del, e->text ? text : NULL, len);
        st = ms_store_sq_runs_next(runs, err);
    }
    ms_store_sq_runs_free(runs); /* closes the blob handles before their rows go */
    if (st == MS_OK && b.n > 0)
        st = snap_run_put(s, snap, &b, err);
    ms_store_snapblob_release(&b);
    if (st == MS_OK) {
        sqlite3_stmt *stmt = NULL;
        struct sq_bind bd;

        st = snap_open_id(s, SQ_SNAP_RUNS_DROP_TO, snap, &stmt, &bd, err);
        if (st == MS_OK) {
            ms_store_sq_i64(&bd, ids[n - 1]);
            st = ms_store_sq_run(s, &bd, "snapshot compact", err);
        }
    }
    return st;
}

/* Merge the sync's runs into one, when there are several. */
static enum ms_status
snap_merge(struct store_sqlite *s, const char *sync_id, int64_t snap, struct ms_error *err)
{
    int64_t *ids = NULL;
    size_t n = 0;
    enum ms_status st = snap_run_ids(s, snap, &ids, &n, err);

    if (st == MS_OK && n > 1)
        st = snap_merge_runs(s, sync_id, snap, ids, n, err);
    free(ids);
    return st;
}

/* Whether the runs are large enough, against the chunks, to be folded into them. */
static bool
snap_fold_due(const struct snap_info *inf)
{
    return SNAP_FOLD_SHARE_OF == 0 || inf->run_n * (int64_t)SNAP_FOLD_SHARE_OF >= inf->folded;
}

/* Whether compact has anything to do: runs to fold, or several runs to merge into one. */
static bool
snap_compact_due(const struct snap_info *inf)
{
    return inf->found &&
           (inf->format == 0 || inf->runs > 1 || (inf->runs == 1 && snap_fold_due(inf)));
}

/*
 * A fold or a merge changes how the snapshot is stored, never what it says, so it is safe at
 * any time. The first look is outside the write lock (nothing to do is the common case); the
 * sync is looked at again under it, since another handle may have appended or folded in
 * between.
 */
enum ms_status
ms_store_sq_snap_compact(struct ms_store *base, const char *sync_id, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct snap_info inf;
    enum ms_status st = snap_info(s, sync_id, NULL, &inf, err);

    if (st != MS_OK || !snap_compact_due(&inf))
        return st;
    if ((st = ms_store_sq_begin(s, err)) != MS_OK)
        return st;
    st = snap_info(s, sync_id, NULL, &inf, err);
    if (st == MS_OK && inf.found && inf.format == 0 &&
        (st = snap_upgrade(s, sync_id, err)) == MS_OK)
        st = snap_info(s, sync_id, NULL, &inf, err);
    if (st == MS_OK && inf.found && inf.runs > 0)
        st = snap_fold_due(&inf) ? snap_fold(s, sync_id, inf.id, err)
                                 : snap_merge(s, sync_id, inf.id, err);
    if (st == MS_OK)
        return ms_store_sq_commit(s, err);
    ms_store_sq_rollback(s);
    return st;
}

/* ---- key text ---- */

/*
 * A blob handle that key-text lookups move from row to row of one table. Staying on a row keeps
 * SQLite's list of its overflow pages, so reads anywhere in a large run cost no chain walk.
 */
struct snap_blob {
    struct store_sqlite *s;
    sqlite3_blob *h; /* owned; NULL until the first row */
    int64_t id;      /* the row h is on */
    const char *table;
};

static enum ms_status
snap_blob_read(void *ud, void *dst, size_t n, size_t off, struct ms_error *err)
{
    struct snap_blob *bl = ud;
    int rc = sqlite3_blob_read(bl->h, dst, (int)n, (int)off);

    return rc == SQLITE_OK ? MS_OK : ms_store_sq_fail(bl->s, err, rc, "snapshot key text");
}

/* Point bl at row id of its table. */
static enum ms_status
snap_blob_seek(struct snap_blob *bl, int64_t id, struct ms_error *err)
{
    int rc = SQLITE_OK;

    if (bl->h == NULL)
        rc = sqlite3_blob_open(bl->s->db, "main", bl->table, "body", id, 0, &bl->h);
    else if (bl->id != id)
        rc = sqlite3_blob_reopen(bl->h, id);
    bl->id = rc == SQLITE_OK ? id : 0;
    return rc == SQLITE_OK ? MS_OK : ms_store_sq_fail(bl->s, err, rc, "snapshot key text");
}

/* The answer of one lookup: where the key's newest change is and what it says. */
struct snap_hit {
    bool found; /* the key is in this blob */
    struct snap_ent e;
    size_t off, len; /* its text in the blob */
};

/* Look key up in row id of bl's table. */
static enum ms_status
snap_blob_find(struct snap_blob *bl, const char *sync_id, int64_t id, const uint8_t key[16],
               struct snap_hit *hit, struct ms_error *err)
{
    struct snapblob_src src = {.read = snap_blob_read, .ud = bl};
    enum ms_status st = snap_blob_seek(bl, id, err);

    if (st != MS_OK)
        return st;
    src.len = (size_t)sqlite3_blob_bytes(bl->h);
    return ms_store_snapblob_find(&src, sync_id, key, &hit->found, &hit->e, &hit->off, &hit->len,
                                  err);
}

/* Look key up in the folded chunk that would hold it, if any. */
static enum ms_status
snap_text_chunk(struct snap_blob *bl, const char *sync_id, const uint8_t key[16],
                struct snap_hit *hit, struct ms_error *err)
{
    struct snap_info inf;
    enum ms_status st = snap_info(bl->s, sync_id, key, &inf, err);

    if (st == MS_OK && inf.chunk != 0)
        st = snap_blob_find(bl, sync_id, inf.chunk, key, hit, err);
    if (st == MS_OK && hit->found && hit->e.del)
        st = ms_store_snapblob_damaged(sync_id, "a delete in a folded chunk", err);
    return st;
}

/* The text of hit, read from bl's current row into a and NUL-terminated. */
static enum ms_status
snap_text_copy(struct snap_blob *bl, const struct snap_hit *hit, struct ms_arena *a,
               const char **text, size_t *len, struct ms_error *err)
{
    char *copy = ms_arena_alloc(a, hit->len + 1);
    enum ms_status st = MS_OK;

    if (hit->len > 0)
        st = snap_blob_read(bl, copy, hit->len, hit->off, err);
    copy[hit->len] = '\0';
    if (st == MS_OK) {
        *text = copy;
        *len = hit->len;
    }
    return st;
}

/*
 * A batch of lookups: the merge of the runs, opened at the first key (each run binary-searched
 * once) and walked forward by keys in increasing order (a key below the previous one opens it
 * again at that key), and a handle on the folded chunks.
 */
struct snap_texts {
    struct store_sqlite *s;
    const char *sync_id;
    const struct snap_info *inf;
    struct snap_runs *runs;      /* owned; NULL until the first lookup */
    uint8_t last[SNAP_HASH_LEN]; /* the key of the previous lookup */
    struct snap_blob chunk;
};

/* The runs' newest change of key, if any, in *e, its text copied into a (*text, *len). */
static enum ms_status
snap_text_runs(struct snap_texts *t, struct ms_arena *a, const uint8_t key[16], bool *found,
               const char **text, size_t *len, struct ms_error *err)
{
    const struct snap_ent *e = NULL;
    const char *p = NULL;
    size_t n = 0;
    enum ms_status st = MS_OK;

    *found = false;
    if (t->runs != NULL && memcmp(key, t->last, SNAP_HASH_LEN) < 0) {
        ms_store_sq_runs_free(t->runs);
        t->runs = NULL;
    }
    if (t->runs == NULL)
        st = snap_runs_open(t->s, t->sync_id, t->inf->id, true, key, &t->runs, err);
    memcpy(t->last, key, SNAP_HASH_LEN);
    while (st == MS_OK && (e = ms_store_sq_runs_cur(t->runs, &p, &n)) != NULL &&
           memcmp(e->key, key, SNAP_HASH_LEN) < 0)
        st = ms_store_sq_runs_next(t->runs, err);
    if (st != MS_OK || e == NULL || memcmp(e->key, key, SNAP_HASH_LEN) != 0)
        return st;
    *found = true;
    if (!e->del && e->text) {
        char *copy = ms_arena_alloc(a, n + 1);

        if (n > 0)
            memcpy(copy, p, n);
        copy[n] = '\0';
        *text = copy;
        *len = n;
    }
    return MS_OK;
}

/* The newest change of key: in the runs, else in the folded chunk that would hold it. */
static enum ms_status
snap_text_one(struct snap_texts *t, struct ms_arena *a, const uint8_t key[16], const char **text,
              size_t *len, struct ms_error *err)
{
    struct snap_hit hit = {.found = false};
    bool found = false;
    enum ms_status st = MS_OK;

    *text = NULL;
    *len = 0;
    if (t->inf->runs > 0 &&
        ((st = snap_text_runs(t, a, key, &found, text, len, err)) != MS_OK || found))
        return st;
    st = snap_text_chunk(&t->chunk, t->sync_id, key, &hit, err);
    if (st == MS_OK && hit.found && hit.e.text)
        st = snap_text_copy(&t->chunk, &hit, a, text, len, err);
    return st;
}

/* One read transaction for all the keys; the texts are copied into a. */
enum ms_status
ms_store_sq_snap_key_texts(struct ms_store *base, struct ms_arena *a, const char *sync_id,
                           const uint8_t *keys, size_t n, const char **texts, size_t *lens,
                           struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct snap_info inf;
    struct snap_texts t = {
        .s = s, .sync_id = sync_id, .inf = &inf, .chunk = {.s = s, .table = "snapshot_chunks"}};
    bool began = false;
    enum ms_status st = snap_prepare(s, sync_id, NULL, &inf, &began, err);

    for (size_t i = 0; i < n; i++) {
        texts[i] = NULL;
        lens[i] = 0;
    }
    if (st != MS_OK)
        return st;
    for (size_t i = 0; i < n && st == MS_OK && inf.found; i++)
        st = snap_text_one(&t, a, keys + i * SNAP_HASH_LEN, &texts[i], &lens[i], err);
    ms_store_sq_runs_free(t.runs);
    sqlite3_blob_close(t.chunk.h);
    snap_read_end(s, began);
    return st;
}
