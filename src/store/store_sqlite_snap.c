/*
 * store_sqlite_snap.c: sync snapshots in the SQLite store: per sync, the 16-byte key hash of
 * each record the target acknowledged, its 16-byte row hash and the identity as text. The
 * engine loads a sync's snapshot once per run and commits each batch's changes together with
 * the execution's counts in one transaction, so a crash never separates what the target
 * acknowledged from what the snapshot says. Same thread rules as store_sqlite.c.
 *
 * Keys are random hashes, so upserting a batch into one key-ordered table dirties a page per
 * change. Instead each snap_apply appends one run (its changes sorted by key) to snapshot_log,
 * a sequential write; readers overlay the runs on the folded rows (snapshot_rows), the newest
 * run winning; snap_compact folds the runs in key order and deletes them. Migration 0003,
 * docs/internals/STORE.md "Snapshot persistence".
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "core/xmalloc.h"

#define SNAP_HASH_LEN 16

/*
 * The statements, by cache slot. SNAP_ID is the sync's snapshot id from the sync id bound to
 * ?1 (NULL, matching nothing, before its first change).
 */
#define SNAP_ID "(SELECT id FROM snapshot_syncs WHERE sync_id = ?1)"

#define SNAP_ROW "(?, ?, ?, ?, ?)"
#define SNAP_ROWS_4 SNAP_ROW ", " SNAP_ROW ", " SNAP_ROW ", " SNAP_ROW
#define SNAP_ROWS_16 SNAP_ROWS_4 ", " SNAP_ROWS_4 ", " SNAP_ROWS_4 ", " SNAP_ROWS_4
#define SNAP_ROWS_32 SNAP_ROWS_16 ", " SNAP_ROWS_16
#define SNAP_PUT_ROWS 32 /* the rows of SQ_SNAP_PUT_MANY */

static const char *const snap_sql[] = {
    [SQ_SNAP_LOAD - SQ_SNAP_LOAD] =
        "SELECT key_hash, row_hash FROM snapshot_rows WHERE snap = " SNAP_ID " ORDER BY key_hash",
    /* each key's changes newest first, so the first one read is the one that counts */
    [SQ_SNAP_LOAD_LOG - SQ_SNAP_LOAD] =
        "SELECT l.key_hash, l.row_hash, l.del FROM snapshot_runs AS r JOIN snapshot_log AS l ON "
        "l.run = r.id WHERE r.snap = " SNAP_ID " ORDER BY l.key_hash, l.run DESC",
    [SQ_SNAP_READ_BEGIN - SQ_SNAP_LOAD] = "BEGIN",
    [SQ_SNAP_READ_END - SQ_SNAP_LOAD] = "COMMIT",
    /* the folded rows, plus the runs' keys that are new, minus those they delete */
    [SQ_SNAP_COUNT - SQ_SNAP_LOAD] =
        "SELECT (SELECT count(*) FROM snapshot_rows WHERE snap = " SNAP_ID ") + coalesce((SELECT "
        "sum(CASE WHEN g.del = 1 THEN -(f.key_hash IS NOT NULL) ELSE f.key_hash IS NULL END) "
        "FROM (SELECT l.key_hash, l.del, max(l.run) FROM snapshot_runs AS r JOIN snapshot_log "
        "AS l ON l.run = r.id WHERE r.snap = " SNAP_ID " GROUP BY l.key_hash) AS g LEFT JOIN "
        "snapshot_rows AS f ON f.snap = " SNAP_ID " AND f.key_hash = g.key_hash), 0)",
    [SQ_SNAP_SYNC - SQ_SNAP_LOAD] =
        "INSERT INTO snapshot_syncs (sync_id) VALUES (?1) ON CONFLICT (sync_id) DO NOTHING",
    [SQ_SNAP_RUN - SQ_SNAP_LOAD] = "INSERT INTO snapshot_runs (snap, dels) SELECT id, ?2 FROM "
                                   "snapshot_syncs WHERE sync_id = ?1 RETURNING id",
    [SQ_SNAP_PUT - SQ_SNAP_LOAD] = "INSERT INTO snapshot_log (run, key_hash, row_hash, key_text, "
                                   "del) VALUES " SNAP_ROW,
    /* SNAP_PUT_ROWS changes per statement: a third less CPU per change than one by one */
    [SQ_SNAP_PUT_MANY - SQ_SNAP_LOAD] = "INSERT INTO snapshot_log (run, key_hash, row_hash, "
                                        "key_text, del) VALUES " SNAP_ROWS_32,
    /* the foreign keys take the folded rows and the runs along, the trigger the runs' rows */
    [SQ_SNAP_CLEAR - SQ_SNAP_LOAD] = "DELETE FROM snapshot_syncs WHERE sync_id = ?1",
    /*
     * The key's newest change in the runs (newest run first, one primary-key probe each,
     * stopping at the first hit), else its folded row: one statement, so one state of the
     * database. The first column tells them apart: 0 the runs' answer, 1 the folded one.
     */
    [SQ_SNAP_KEY_TEXT - SQ_SNAP_LOAD] =
        "SELECT * FROM (SELECT 0, l.key_text, l.del FROM snapshot_runs AS r JOIN snapshot_log AS "
        "l ON l.run = r.id AND l.key_hash = ?2 WHERE r.snap = " SNAP_ID " ORDER BY r.id DESC "
        "LIMIT 1) UNION ALL SELECT 1, key_text, 0 FROM snapshot_rows WHERE snap = " SNAP_ID
        " AND key_hash = ?2",
    [SQ_SNAP_PENDING - SQ_SNAP_LOAD] =
        "SELECT y.id, count(r.id), coalesce(sum(r.dels), 0) FROM snapshot_syncs AS y LEFT JOIN "
        "snapshot_runs AS r ON r.snap = y.id WHERE y.sync_id = ?1 GROUP BY y.id",
    /* the fold's three steps, on the snapshot id in ?1 (see snap_fold) */
    [SQ_SNAP_FOLD_DEL - SQ_SNAP_LOAD] =
        "DELETE FROM snapshot_rows WHERE snap = ?1 AND key_hash IN (SELECT l.key_hash FROM "
        "snapshot_runs AS r JOIN snapshot_log AS l ON l.run = r.id WHERE r.snap = ?1 AND "
        "r.dels > 0 AND l.del = 1)",
    [SQ_SNAP_FOLD_PUT - SQ_SNAP_LOAD] =
        "INSERT INTO snapshot_rows (snap, key_hash, row_hash, key_text) SELECT ?1, key_hash, "
        "row_hash, key_text FROM (SELECT l.key_hash, l.row_hash, l.key_text, l.del, max(l.run) "
        "FROM snapshot_runs AS r JOIN snapshot_log AS l ON l.run = r.id WHERE r.snap = ?1 GROUP "
        "BY l.key_hash) WHERE del = 0 ON CONFLICT (snap, key_hash) DO UPDATE SET row_hash = "
        "excluded.row_hash, key_text = excluded.key_text",
    [SQ_SNAP_FOLD_DROP - SQ_SNAP_LOAD] = "DELETE FROM snapshot_runs WHERE snap = ?1",
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

/* Bind the next parameter to n bytes of text (NULL binds SQL NULL); see ms_store_sq_text. */
static void
snap_bind_textn(struct sq_bind *b, const char *p, size_t n)
{
    if (b->rc != SQLITE_OK)
        return;
    b->i++;
    if (p == NULL)
        b->rc = sqlite3_bind_null(b->stmt, b->i);
    else
        b->rc = sqlite3_bind_text64(b->stmt, b->i, p, n, SQLITE_TRANSIENT, SQLITE_UTF8);
}

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

/* Run a write whose only parameter is the snapshot id (snapshot_syncs.id). */
static enum ms_status
snap_exec(struct store_sqlite *s, enum sq_stmt_id id, int64_t snap, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = snap_stmt(s, id, &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_i64(&b, snap);
    return ms_store_sq_run(s, &b, "snapshot compact", err);
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
 * snap_load reads with two statements: it takes a read transaction unless the caller holds
 * one, so a fold committed by another handle in between cannot show a key twice or not at all.
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

/* ---- load ---- */

/* One side of the merge in snap_load: its current row, copied out of the statement. */
struct snap_cur {
    sqlite3_stmt *stmt;
    struct sq_bind b;
    bool has; /* a current row */
    bool del;
    uint8_t key[SNAP_HASH_LEN], row[SNAP_HASH_LEN];
};

static enum ms_status
snap_damaged(const char *sync_id, struct ms_error *err)
{
    return ms_fail(err, MS_EINTERNAL, "snapshot of sync %s has a hash that is not %d bytes",
                   sync_id, SNAP_HASH_LEN);
}

/*
 * Step c to its next row. The runs' statement (runs = true) has a del column and returns each
 * key's changes newest first: the older ones are skipped, so c holds each key's last change.
 */
static enum ms_status
snap_next(struct store_sqlite *s, struct snap_cur *c, bool runs, const char *sync_id,
          struct ms_error *err)
{
    bool row = false;
    enum ms_status st;
    const uint8_t *key;

    for (;;) {
        if ((st = ms_store_sq_step(s, &c->b, "snapshot load", &row, err)) != MS_OK)
            return st;
        if (!row) {
            c->has = false;
            return MS_OK;
        }
        key = sqlite3_column_blob(c->stmt, 0);
        if (sqlite3_column_bytes(c->stmt, 0) != SNAP_HASH_LEN)
            return snap_damaged(sync_id, err);
        if (!runs || !c->has || memcmp(key, c->key, SNAP_HASH_LEN) != 0)
            break; /* not an older change of the key c holds */
    }
    memcpy(c->key, key, SNAP_HASH_LEN);
    c->has = true;
    c->del = runs && sqlite3_column_int(c->stmt, 2) != 0;
    if (c->del)
        return MS_OK;
    if (sqlite3_column_bytes(c->stmt, 1) != SNAP_HASH_LEN)
        return snap_damaged(sync_id, err);
    memcpy(c->row, sqlite3_column_blob(c->stmt, 1), SNAP_HASH_LEN);
    return MS_OK;
}

/* Both sides are in key order: a key in the runs replaces (or, deleted, hides) the folded one. */
static enum ms_status
snap_merge(struct store_sqlite *s, struct snap_cur *f, struct snap_cur *r, const char *sync_id,
           ms_snap_fn fn, void *ud, struct ms_error *err)
{
    enum ms_status st = MS_OK;

    while (st == MS_OK && (f->has || r->has)) {
        int cmp = !r->has ? -1 : !f->has ? 1 : memcmp(f->key, r->key, SNAP_HASH_LEN);
        const struct snap_cur *cur = cmp < 0 ? f : r;

        if (!cur->del && (st = fn(ud, cur->key, cur->row)) != MS_OK)
            return ms_fail(err, st, "snapshot load of sync %s stopped by its reader (%s)", sync_id,
                           ms_status_name(st));
        if (cmp <= 0)
            st = snap_next(s, f, false, sync_id, err);
        if (st == MS_OK && cmp >= 0)
            st = snap_next(s, r, true, sync_id, err);
    }
    return st;
}

/* fn sees the rows in key order, through pointers valid only during the call. */
enum ms_status
ms_store_sq_snap_load(struct ms_store *base, const char *sync_id, ms_snap_fn fn, void *ud,
                      struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct snap_cur f = {.stmt = NULL}, r = {.stmt = NULL};
    bool began = false;
    enum ms_status st = snap_read_begin(s, &began, err);

    if (st == MS_OK)
        st = snap_open(s, SQ_SNAP_LOAD, sync_id, &f.stmt, &f.b, err);
    if (st == MS_OK)
        st = snap_open(s, SQ_SNAP_LOAD_LOG, sync_id, &r.stmt, &r.b, err);
    if (st == MS_OK)
        st = snap_next(s, &f, false, sync_id, err);
    if (st == MS_OK)
        st = snap_next(s, &r, true, sync_id, err);
    if (st == MS_OK)
        st = snap_merge(s, &f, &r, sync_id, fn, ud, err);
    ms_store_sq_done(f.stmt);
    ms_store_sq_done(r.stmt);
    snap_read_end(s, began);
    return st;
}

/* ---- count ---- */

enum ms_status
ms_store_sq_snap_count(struct ms_store *base, const char *sync_id, int64_t *n, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = snap_open(s, SQ_SNAP_COUNT, sync_id, &stmt, &b, err);

    if (st != MS_OK)
        return st;
    st = ms_store_sq_step(s, &b, "snapshot count", &row, err);
    if (st == MS_OK && row)
        *n = ms_store_sq_col_i64(stmt, 0);
    else if (st == MS_OK)
        st = ms_fail(err, MS_EINTERNAL, "snapshot count: no result row");
    ms_store_sq_done(stmt);
    return st;
}

/* ---- apply ---- */

/* Key order; equal keys in the order of the caller's array (the pointers' order). */
static int
snap_cmp(const void *pa, const void *pb)
{
    const struct ms_snap_change *a = *(const struct ms_snap_change *const *)pa;
    const struct ms_snap_change *b = *(const struct ms_snap_change *const *)pb;
    int cmp = memcmp(a->key, b->key, SNAP_HASH_LEN);

    if (cmp != 0)
        return cmp;
    return a < b ? -1 : a > b;
}

/* The changes to write, in key order, the last one of each key only: how many into v. */
static size_t
snap_sort(const struct ms_snap_change *c, size_t n, const struct ms_snap_change **v, int64_t *dels)
{
    size_t m = 0;

    for (size_t i = 0; i < n; i++)
        v[i] = &c[i];
    qsort(v, n, sizeof(*v), snap_cmp);
    *dels = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && memcmp(v[i]->key, v[i + 1]->key, SNAP_HASH_LEN) == 0)
            continue; /* a later change of the same key wins */
        *dels += v[i]->del;
        v[m++] = v[i];
    }
    return m;
}

/*
 * Register a new run of the sync (newer than its others) in *run, creating the sync's
 * snapshot_syncs row on its first change; an unknown sync fails that row's foreign key.
 */
static enum ms_status
snap_new_run(struct store_sqlite *s, const char *sync_id, int64_t dels, int64_t *run,
             struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = snap_open(s, SQ_SNAP_SYNC, sync_id, &stmt, &b, err);

    if (st == MS_OK)
        st = ms_store_sq_run(s, &b, "snapshot apply", err);
    if (st == MS_OK)
        st = snap_open(s, SQ_SNAP_RUN, sync_id, &stmt, &b, err);
    if (st != MS_OK)
        return st;
    ms_store_sq_i64(&b, dels);
    st = ms_store_sq_step(s, &b, "snapshot apply", &row, err);
    if (st == MS_OK && !row)
        st = ms_fail(err, MS_EINTERNAL, "snapshot apply: no run for sync %s", sync_id);
    if (st == MS_OK)
        *run = ms_store_sq_col_i64(stmt, 0);
    ms_store_sq_done(stmt);
    return st;
}

/* Bind the five columns of one log row. */
static void
snap_bind_change(struct sq_bind *b, int64_t run, const struct ms_snap_change *c)
{
    ms_store_sq_i64(b, run);
    ms_store_sq_blob(b, c->key, SNAP_HASH_LEN);
    if (c->del) {
        snap_bind_textn(b, NULL, 0); /* row_hash */
        snap_bind_textn(b, NULL, 0); /* key_text */
    } else {
        ms_store_sq_blob(b, c->row, SNAP_HASH_LEN);
        snap_bind_textn(b, c->key_text, c->key_len);
    }
    ms_store_sq_i64(b, c->del);
}

/* Insert v[0..m) as the rows of run: SNAP_PUT_ROWS per statement, the rest one at a time. */
static enum ms_status
snap_put(struct store_sqlite *s, int64_t run, const struct ms_snap_change **v, size_t m,
         struct ms_error *err)
{
    enum ms_status st = MS_OK;

    for (size_t i = 0, k; i < m && st == MS_OK; i += k) {
        sqlite3_stmt *stmt = NULL;
        struct sq_bind b;

        k = m - i >= SNAP_PUT_ROWS ? SNAP_PUT_ROWS : 1;
        if ((st = snap_stmt(s, k > 1 ? SQ_SNAP_PUT_MANY : SQ_SNAP_PUT, &stmt, err)) != MS_OK)
            break;
        ms_store_sq_bind_init(&b, stmt);
        for (size_t j = 0; j < k; j++)
            snap_bind_change(&b, run, v[i + j]);
        st = ms_store_sq_run(s, &b, "snapshot apply", err);
    }
    return st;
}

/* Append the changes as one run: sorted by key, so the pages written are the table's last. */
static enum ms_status
snap_append(struct store_sqlite *s, const char *sync_id, const struct ms_snap_change *c, size_t n,
            struct ms_error *err)
{
    const struct ms_snap_change **v = ms_xcalloc(n, sizeof(*v));
    int64_t dels = 0, run = 0;
    size_t m = snap_sort(c, n, v, &dels);
    enum ms_status st = snap_new_run(s, sync_id, dels, &run, err);

    if (st == MS_OK)
        st = snap_put(s, run, v, m, err);
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
        st = snap_append(s, sync_id, c, n, err);
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

/* ---- clear, compact ---- */

/* One statement, so atomic: the folded rows, the runs and their rows go along. */
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

/* The sync's snapshot id, how many runs wait to be folded and how many deletes they hold. */
struct snap_pending {
    int64_t snap, runs, dels;
};

static enum ms_status
snap_pending(struct store_sqlite *s, const char *sync_id, struct snap_pending *p,
             struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = snap_open(s, SQ_SNAP_PENDING, sync_id, &stmt, &b, err);

    if (st != MS_OK)
        return st;
    st = ms_store_sq_step(s, &b, "snapshot compact", &row, err);
    memset(p, 0, sizeof(*p));
    if (st == MS_OK && row) {
        p->snap = ms_store_sq_col_i64(stmt, 0);
        p->runs = ms_store_sq_col_i64(stmt, 1);
        p->dels = ms_store_sq_col_i64(stmt, 2);
    }
    ms_store_sq_done(stmt);
    return st;
}

/*
 * Fold the runs: first drop every key some run deletes (one put again by a later run is put
 * back by the next step), then upsert each key's last change unless it is a delete. The
 * GROUP BY sorts by key, so the upserts walk snapshot_rows in order and write each page once.
 * Then delete the runs (their rows go with them).
 */
static enum ms_status
snap_fold(struct store_sqlite *s, const struct snap_pending *p, struct ms_error *err)
{
    enum ms_status st = MS_OK;

    if (p->dels > 0)
        st = snap_exec(s, SQ_SNAP_FOLD_DEL, p->snap, err);
    if (st == MS_OK)
        st = snap_exec(s, SQ_SNAP_FOLD_PUT, p->snap, err);
    if (st == MS_OK)
        st = snap_exec(s, SQ_SNAP_FOLD_DROP, p->snap, err);
    return st;
}

/*
 * A fold changes how the snapshot is stored, never what it says, so it is safe at any time.
 * The first look is outside the write lock (nothing to do is the common case); the runs are
 * looked up again under it, since another handle may have appended or folded in between.
 */
enum ms_status
ms_store_sq_snap_compact(struct ms_store *base, const char *sync_id, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct snap_pending p;
    enum ms_status st = snap_pending(s, sync_id, &p, err);

    if (st != MS_OK || p.runs == 0)
        return st;
    if ((st = ms_store_sq_begin(s, err)) != MS_OK)
        return st;
    st = snap_pending(s, sync_id, &p, err);
    if (st == MS_OK && p.runs > 0)
        st = snap_fold(s, &p, err);
    if (st == MS_OK)
        return ms_store_sq_commit(s, err);
    ms_store_sq_rollback(s);
    return st;
}

/* ---- key text ---- */

/* The key_text column of the current row, copied into a and NUL-terminated. */
static const char *
snap_copy_text(sqlite3_stmt *stmt, struct ms_arena *a, size_t *len)
{
    const unsigned char *p = sqlite3_column_text(stmt, 1);
    size_t n = (size_t)sqlite3_column_bytes(stmt, 1);
    char *copy = ms_arena_alloc(a, n + 1);

    if (n != 0)
        memcpy(copy, p, n);
    copy[n] = '\0';
    *len = n;
    return copy;
}

/* The text is copied into a and NUL-terminated; *len excludes the NUL. */
enum ms_status
ms_store_sq_snap_key_text(struct ms_store *base, struct ms_arena *a, const char *sync_id,
                          const uint8_t key[16], const char **text, size_t *len,
                          struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    const char *got = NULL;
    size_t got_len = 0;
    int best = 2; /* the first column of the row answering so far; 2: none */
    bool row = false;
    enum ms_status st = snap_open(s, SQ_SNAP_KEY_TEXT, sync_id, &stmt, &b, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_blob(&b, key, SNAP_HASH_LEN);
    /* SQLite returns a UNION ALL's arms in order; preferring the lower column makes that moot */
    for (st = ms_store_sq_step(s, &b, "snapshot key text", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(s, &b, "snapshot key text", &row, err)) {
        int src = sqlite3_column_int(stmt, 0);

        if (src >= best)
            continue;
        best = src;
        got = NULL;
        if (sqlite3_column_int(stmt, 2) == 0 && sqlite3_column_type(stmt, 1) != SQLITE_NULL)
            got = snap_copy_text(stmt, a, &got_len);
    }
    ms_store_sq_done(stmt);
    if (st == MS_OK && got == NULL)
        st = ms_fail(err, MS_ENOTFOUND, "no snapshot key text for this record of sync %s", sync_id);
    if (st == MS_OK) {
        *text = got;
        *len = got_len;
    }
    return st;
}
