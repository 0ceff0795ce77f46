/*
 * store_sqlite_snap.c: sync snapshots in the SQLite store: per sync, the 16-byte key hash of
 * each record the target acknowledged, its 16-byte row hash and the identity as text. The
 * engine loads a sync's rows once per run (in key order, the primary key's order) and commits
 * each batch's changes together with the execution's counts in one transaction, so a crash
 * never separates what the target acknowledged from what the snapshot says. Same thread rules
 * as store_sqlite.c; docs/internals/STORE.md.
 */
#include "store/store_int.h"

#include <string.h>
#include <sqlite3.h>

#define SNAP_HASH_LEN 16

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

/* The row of the current step as two 16-byte hashes; MS_EINTERNAL for a damaged row. */
static enum ms_status
snap_hashes(sqlite3_stmt *stmt, const char *sync_id, const uint8_t **key, const uint8_t **row,
            struct ms_error *err)
{
    *key = sqlite3_column_blob(stmt, 0);
    *row = sqlite3_column_blob(stmt, 1);
    if (sqlite3_column_bytes(stmt, 0) != SNAP_HASH_LEN ||
        sqlite3_column_bytes(stmt, 1) != SNAP_HASH_LEN)
        return ms_fail(err, MS_EINTERNAL, "snapshot of sync %s has a hash that is not %d bytes",
                       sync_id, SNAP_HASH_LEN);
    return MS_OK;
}

/* fn sees pointers into the current row, valid only during the call. */
enum ms_status
ms_store_sq_snap_load(struct ms_store *base, const char *sync_id, ms_snap_fn fn, void *ud,
                      struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    const uint8_t *key, *row_hash;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(s, SQ_SNAP_LOAD,
                                         "SELECT key_hash, row_hash FROM snapshots WHERE "
                                         "sync_id = ? ORDER BY key_hash",
                                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, sync_id);
    for (st = ms_store_sq_step(s, &b, "snapshot load", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(s, &b, "snapshot load", &row, err)) {
        st = snap_hashes(stmt, sync_id, &key, &row_hash, err);
        if (st != MS_OK)
            break;
        st = fn(ud, key, row_hash);
        if (st != MS_OK) {
            ms_fail(err, st, "snapshot load of sync %s stopped by its reader (%s)", sync_id,
                    ms_status_name(st));
            break;
        }
    }
    ms_store_sq_done(stmt);
    return st;
}

enum ms_status
ms_store_sq_snap_count(struct ms_store *base, const char *sync_id, int64_t *n, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_SNAP_COUNT, "SELECT count(*) FROM snapshots WHERE sync_id = ?", &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, sync_id);
    st = ms_store_sq_step(s, &b, "snapshot count", &row, err);
    if (st == MS_OK && row)
        *n = ms_store_sq_col_i64(stmt, 0);
    else if (st == MS_OK)
        st = ms_fail(err, MS_EINTERNAL, "snapshot count: no result row");
    ms_store_sq_done(stmt);
    return st;
}

/* Upsert one acknowledged record, or delete a removed one. */
static enum ms_status
snap_change(struct store_sqlite *s, const char *sync_id, const struct ms_snap_change *c,
            struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st =
        c->del ? ms_store_sq_stmt(s, SQ_SNAP_DEL,
                                  "DELETE FROM snapshots WHERE sync_id = ? AND key_hash = ?", &stmt,
                                  err)
               : ms_store_sq_stmt(s, SQ_SNAP_PUT,
                                  "INSERT INTO snapshots (sync_id, key_hash, row_hash, key_text) "
                                  "VALUES (?, ?, ?, ?) ON CONFLICT (sync_id, key_hash) DO UPDATE "
                                  "SET row_hash = excluded.row_hash, key_text = excluded.key_text",
                                  &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, sync_id);
    ms_store_sq_blob(&b, c->key, sizeof(c->key));
    if (!c->del) {
        ms_store_sq_blob(&b, c->row, sizeof(c->row));
        snap_bind_textn(&b, c->key_text, c->key_len);
    }
    return ms_store_sq_run(s, &b, "snapshot apply", err);
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
    for (size_t i = 0; i < n && st == MS_OK; i++)
        st = snap_change(s, sync_id, &c[i], err);
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

enum ms_status
ms_store_sq_snap_clear(struct ms_store *base, const char *sync_id, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st =
        ms_store_sq_stmt(s, SQ_SNAP_CLEAR, "DELETE FROM snapshots WHERE sync_id = ?", &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, sync_id);
    return ms_store_sq_run(s, &b, "snapshot clear", err);
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
    bool row = false;
    enum ms_status st =
        ms_store_sq_stmt(s, SQ_SNAP_KEY_TEXT,
                         "SELECT key_text FROM snapshots WHERE sync_id = ? AND key_hash = ? AND "
                         "key_text IS NOT NULL",
                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, sync_id);
    ms_store_sq_blob(&b, key, SNAP_HASH_LEN);
    st = ms_store_sq_step(s, &b, "snapshot key text", &row, err);
    if (st == MS_OK && !row)
        st = ms_fail(err, MS_ENOTFOUND, "no snapshot key text for this record of sync %s", sync_id);
    if (st == MS_OK) {
        const unsigned char *p = sqlite3_column_text(stmt, 0);
        size_t n = (size_t)sqlite3_column_bytes(stmt, 0);
        char *copy = ms_arena_alloc(a, n + 1);

        if (n != 0)
            memcpy(copy, p, n);
        copy[n] = '\0';
        *text = copy;
        *len = n;
    }
    ms_store_sq_done(stmt);
    return st;
}
