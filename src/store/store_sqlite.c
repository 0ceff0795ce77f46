/*
 * store_sqlite.c: the SQLite state store: the handle, its statement cache, error mapping,
 * bind/column helpers, transactions, migrations and process metadata. The operations live in
 * store_sqlite_<area>.c. A handle is confined to one thread (opened NOMUTEX); concurrency
 * between handles and processes is SQLite's: WAL, BEGIN IMMEDIATE for every write transaction
 * and a 5 s busy timeout, after which the caller sees MS_EBUSY. docs/internals/STORE.md.
 */
#include "store/store_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "core/time.h"
#include "core/xmalloc.h"
#include "store/migrations.h"

#define SQ_BUSY_TIMEOUT_MS 5000

/* ---- errors ---- */

enum ms_status
ms_store_sq_fail(struct store_sqlite *s, struct ms_error *err, int rc, const char *what)
{
    enum ms_status st = MS_EINTERNAL;
    const char *msg = s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        st = MS_EBUSY;
    else if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        st = MS_ECONFLICT;
    ms_fail(err, st, "%s: %s", what, msg);
    if (err != NULL)
        err->native = rc;
    return st;
}

/* ---- statement cache ---- */

/* The statement in slot id, preparing it on first use; no tx_doomed check. */
static enum ms_status
sq_stmt_raw(struct store_sqlite *s, enum sq_stmt_id id, const char *sql, sqlite3_stmt **out,
            struct ms_error *err)
{
    int rc;

    MS_ASSERT(id >= 0 && id < SQ_STMT_COUNT);
    if (s->stmts[id] == NULL) {
        rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            s->stmts[id] = NULL;
            return ms_store_sq_fail(s, err, rc, "prepare");
        }
    }
    *out = s->stmts[id];
    return MS_OK;
}

enum ms_status
ms_store_sq_stmt(struct store_sqlite *s, enum sq_stmt_id id, const char *sql, sqlite3_stmt **out,
                 struct ms_error *err)
{
    /* SQLite ends a transaction by itself on some errors (SQLITE_FULL, SQLITE_IOERR, ...):
     * treat that like an inner rollback rather than let later writes autocommit */
    if (s->tx_depth > 0 && sqlite3_get_autocommit(s->db))
        s->tx_doomed = true;
    if (s->tx_doomed)
        return ms_fail(err, MS_EINTERNAL, "the transaction was rolled back; end it first");
    return sq_stmt_raw(s, id, sql, out, err);
}

void
ms_store_sq_done(sqlite3_stmt *stmt)
{
    if (stmt == NULL)
        return;
    sqlite3_reset(stmt); /* repeats the last step's error, already reported */
    sqlite3_clear_bindings(stmt);
}

int64_t
ms_store_sq_changes(struct store_sqlite *s)
{
    return sqlite3_changes64(s->db);
}

/* Run one cached statement that needs no binding, bypassing the doomed check (tx control). */
static enum ms_status
sq_run(struct store_sqlite *s, enum sq_stmt_id id, const char *sql, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    enum ms_status st = sq_stmt_raw(s, id, sql, &stmt, err);
    struct sq_bind b;

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    return ms_store_sq_run(s, &b, sql, err);
}

/* ---- binding ---- */

void
ms_store_sq_bind_init(struct sq_bind *b, sqlite3_stmt *stmt)
{
    b->stmt = stmt;
    b->i = 0;
    b->rc = SQLITE_OK;
    b->bad = NULL;
}

enum ms_status
ms_store_sq_bind_fail(struct store_sqlite *s, const struct sq_bind *b, const char *what,
                      struct ms_error *err)
{
    if (b->bad != NULL)
        return ms_fail(err, MS_EINVAL, "%s: %s", what, b->bad);
    return ms_store_sq_fail(s, err, b->rc, what);
}

enum ms_status
ms_store_sq_run(struct store_sqlite *s, const struct sq_bind *b, const char *what,
                struct ms_error *err)
{
    enum ms_status st = MS_OK;
    int rc;

    if (b->rc != SQLITE_OK) {
        st = ms_store_sq_bind_fail(s, b, what, err);
    } else {
        rc = sqlite3_step(b->stmt);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
            st = ms_store_sq_fail(s, err, rc, what);
    }
    ms_store_sq_done(b->stmt);
    return st;
}

enum ms_status
ms_store_sq_step(struct store_sqlite *s, const struct sq_bind *b, const char *what, bool *row,
                 struct ms_error *err)
{
    int rc;

    if (b->rc != SQLITE_OK)
        return ms_store_sq_bind_fail(s, b, what, err);
    rc = sqlite3_step(b->stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return ms_store_sq_fail(s, err, rc, what);
    *row = rc == SQLITE_ROW;
    return MS_OK;
}

/* Common tail of every binder: the next index, unless an earlier bind failed. */
static bool
sq_next(struct sq_bind *b)
{
    if (b->rc != SQLITE_OK)
        return false;
    b->i++;
    return true;
}

void
ms_store_sq_text(struct sq_bind *b, const char *s)
{
    if (!sq_next(b))
        return;
    if (s == NULL)
        b->rc = sqlite3_bind_null(b->stmt, b->i);
    else
        b->rc = sqlite3_bind_text(b->stmt, b->i, s, -1, SQLITE_TRANSIENT);
}

void
ms_store_sq_i64(struct sq_bind *b, int64_t v)
{
    if (sq_next(b))
        b->rc = sqlite3_bind_int64(b->stmt, b->i, v);
}

void
ms_store_sq_i64_or_null(struct sq_bind *b, int64_t v)
{
    if (!sq_next(b))
        return;
    if (v == 0)
        b->rc = sqlite3_bind_null(b->stmt, b->i);
    else
        b->rc = sqlite3_bind_int64(b->stmt, b->i, v);
}

void
ms_store_sq_blob(struct sq_bind *b, const void *p, size_t n)
{
    if (!sq_next(b))
        return;
    /* a non-NULL pointer keeps a zero-length body distinct from SQL NULL */
    b->rc = sqlite3_bind_blob64(b->stmt, b->i, p != NULL ? p : "", n, SQLITE_TRANSIENT);
}

void
ms_store_sq_json(struct sq_bind *b, const json_t *j)
{
    char *text;

    if (!sq_next(b))
        return;
    if (j == NULL) {
        b->rc = sqlite3_bind_null(b->stmt, b->i);
        return;
    }
    text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        b->rc = SQLITE_MISUSE;
        b->bad = "value cannot be encoded as JSON";
        return;
    }
    b->rc = sqlite3_bind_text(b->stmt, b->i, text, -1, free); /* SQLite frees it */
}

/* Set key of obj to the string v, or to null; false when v is not valid UTF-8. */
static bool
sq_actor_member(json_t *obj, const char *key, const char *v)
{
    json_t *js = v != NULL ? json_string(v) : json_null();

    return js != NULL && json_object_set_new(obj, key, js) == 0;
}

void
ms_store_sq_actor(struct sq_bind *b, const struct ms_actor *actor)
{
    json_t *obj;
    bool ok;

    if (b->rc != SQLITE_OK)
        return;
    if (actor == NULL || (actor->id == NULL && actor->name == NULL && actor->type == NULL)) {
        ms_store_sq_json(b, NULL);
        return;
    }
    obj = json_object();
    ok = sq_actor_member(obj, "id", actor->id) && sq_actor_member(obj, "name", actor->name) &&
         sq_actor_member(obj, "type", actor->type);
    if (ok) {
        ms_store_sq_json(b, obj);
    } else {
        b->i++;
        b->rc = SQLITE_MISUSE;
        b->bad = "actor is not valid UTF-8";
    }
    json_decref(obj);
}

/* ---- columns ---- */

const char *
ms_store_sq_col_text(sqlite3_stmt *stmt, int col, struct ms_arena *a)
{
    const unsigned char *p;

    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return NULL;
    p = sqlite3_column_text(stmt, col);
    if (p == NULL)
        return NULL;
    return ms_arena_strndup(a, (const char *)p, (size_t)sqlite3_column_bytes(stmt, col));
}

int64_t
ms_store_sq_col_i64(sqlite3_stmt *stmt, int col)
{
    return sqlite3_column_int64(stmt, col);
}

static void
sq_json_decref_cb(void *j)
{
    json_decref(j);
}

/* Parse column col as JSON into a new reference the caller owns; SQL NULL gives NULL. */
static enum ms_status
sq_col_parse(sqlite3_stmt *stmt, int col, json_t **out, struct ms_error *err)
{
    const char *p;
    json_error_t jerr;

    *out = NULL;
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return MS_OK;
    p = (const char *)sqlite3_column_text(stmt, col);
    if (p == NULL)
        return MS_OK;
    *out = json_loadb(p, (size_t)sqlite3_column_bytes(stmt, col), JSON_DECODE_ANY, &jerr);
    if (*out == NULL)
        return ms_fail(err, MS_EINTERNAL, "stored %s is not valid JSON: %s",
                       sqlite3_column_name(stmt, col), jerr.text);
    return MS_OK;
}

enum ms_status
ms_store_sq_col_json(sqlite3_stmt *stmt, int col, struct ms_arena *a, json_t **out,
                     struct ms_error *err)
{
    json_t *j;
    enum ms_status st = sq_col_parse(stmt, col, &j, err);

    if (st != MS_OK)
        return st;
    if (j != NULL)
        ms_arena_defer(a, sq_json_decref_cb, j);
    *out = j;
    return MS_OK;
}

enum ms_status
ms_store_sq_col_actor(sqlite3_stmt *stmt, int col, struct ms_arena *a, struct ms_actor *out,
                      struct ms_error *err)
{
    json_t *j;
    enum ms_status st = sq_col_parse(stmt, col, &j, err);

    if (st != MS_OK)
        return st;
    memset(out, 0, sizeof(*out));
    if (j == NULL)
        return MS_OK;
    if (!json_is_object(j)) {
        json_decref(j);
        return ms_fail(err, MS_EINTERNAL, "stored %s is not an actor object",
                       sqlite3_column_name(stmt, col));
    }
    out->id = ms_arena_strdup(a, json_string_value(json_object_get(j, "id")));
    out->name = ms_arena_strdup(a, json_string_value(json_object_get(j, "name")));
    out->type = ms_arena_strdup(a, json_string_value(json_object_get(j, "type")));
    json_decref(j);
    return MS_OK;
}

enum ms_status
ms_store_sq_col_fixed(sqlite3_stmt *stmt, int col, char *dst, size_t cap, struct ms_error *err)
{
    const unsigned char *p = sqlite3_column_text(stmt, col);
    size_t n = (size_t)sqlite3_column_bytes(stmt, col);

    if (p == NULL) {
        dst[0] = '\0';
        return MS_OK;
    }
    if (n >= cap)
        return ms_fail(err, MS_EINTERNAL, "stored %s is too long (%zu bytes)",
                       sqlite3_column_name(stmt, col), n);
    memcpy(dst, p, n);
    dst[n] = '\0';
    return MS_OK;
}

void *
ms_store_sq_grow(struct ms_arena *a, void *arr, size_t n, size_t *cap, size_t elem)
{
    size_t ncap;
    void *p;

    if (n < *cap)
        return arr;
    ncap = *cap != 0 ? *cap * 2 : 8;
    MS_ASSERT(ncap > n && ncap <= SIZE_MAX / elem);
    p = ms_arena_alloc(a, ncap * elem);
    if (n != 0)
        memcpy(p, arr, n * elem);
    *cap = ncap;
    return p;
}

/* ---- transactions ---- */

enum ms_status
ms_store_sq_begin(struct store_sqlite *s, struct ms_error *err)
{
    enum ms_status st;

    if (s->tx_depth > 0) {
        if (s->tx_doomed)
            return ms_fail(err, MS_EINTERNAL,
                           "the transaction was rolled back; end it before new work");
        s->tx_depth++;
        return MS_OK;
    }
    st = sq_run(s, SQ_BEGIN, "BEGIN IMMEDIATE", err);
    if (st == MS_OK) {
        s->tx_depth = 1;
        s->tx_doomed = false;
    }
    return st;
}

enum ms_status
ms_store_sq_commit(struct store_sqlite *s, struct ms_error *err)
{
    enum ms_status st;

    if (s->tx_depth == 0)
        return ms_fail(err, MS_EINTERNAL, "commit without a transaction");
    if (--s->tx_depth > 0)
        return s->tx_doomed ? ms_fail(err, MS_EINTERNAL, "the transaction was rolled back") : MS_OK;
    if (s->tx_doomed) {
        s->tx_doomed = false;
        return ms_fail(err, MS_EINTERNAL, "the transaction was rolled back");
    }
    st = sq_run(s, SQ_COMMIT, "COMMIT", err);
    if (st != MS_OK && !sqlite3_get_autocommit(s->db))
        sq_run(s, SQ_ROLLBACK, "ROLLBACK", NULL); /* a failed COMMIT leaves it open */
    return st;
}

/*
 * An inner rollback cannot undo only its own part (there is no savepoint), so it rolls back
 * everything and dooms the outer levels: their statements and commit fail until the outermost
 * level ends, as in PostgreSQL's aborted transaction block.
 */
void
ms_store_sq_rollback(struct store_sqlite *s)
{
    if (s->tx_depth == 0)
        return;
    if (!s->tx_doomed && !sqlite3_get_autocommit(s->db))
        sq_run(s, SQ_ROLLBACK, "ROLLBACK", NULL);
    s->tx_depth--;
    s->tx_doomed = s->tx_depth > 0;
}

static enum ms_status
sq_tx_begin(struct ms_store *base, struct ms_error *err)
{
    return ms_store_sq_begin((struct store_sqlite *)base, err);
}

static enum ms_status
sq_tx_commit(struct ms_store *base, struct ms_error *err)
{
    return ms_store_sq_commit((struct store_sqlite *)base, err);
}

static void
sq_tx_rollback(struct ms_store *base)
{
    ms_store_sq_rollback((struct store_sqlite *)base);
}

/* ---- migrations ---- */

/* Newest version in schema_migrations (0 when empty) into *version. */
static enum ms_status
sq_applied_version(struct store_sqlite *s, int64_t *version, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT coalesce(max(version), 0) FROM schema_migrations",
                                -1, &stmt, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        enum ms_status st = ms_store_sq_fail(s, err, rc, "migrate: read schema_migrations");

        sqlite3_finalize(stmt);
        return st;
    }
    *version = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return MS_OK;
}

/* Inside the caller's transaction: is version recorded? */
static enum ms_status
sq_is_applied(struct store_sqlite *s, int version, bool *applied, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT 1 FROM schema_migrations WHERE version = ?", -1,
                                &stmt, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(stmt, 1, version);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ms_store_sq_fail(s, err, rc, "migrate: read schema_migrations");
    *applied = rc == SQLITE_ROW;
    return MS_OK;
}

static enum ms_status
sq_record_applied(struct store_sqlite *s, const struct ms_migration *m, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(
        s->db, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", -1,
        &stmt, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(stmt, 1, m->version);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 2, m->name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 3, ms_time_now_ms());
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return ms_store_sq_fail(s, err, rc, "migrate: record version");
    return MS_OK;
}

/*
 * Apply m unless it is recorded, all in one BEGIN IMMEDIATE transaction: a second process
 * migrating at the same time waits for the write lock, then finds the version recorded.
 */
static enum ms_status
sq_apply(struct store_sqlite *s, const struct ms_migration *m, struct ms_error *err)
{
    char *msg = NULL;
    bool applied = false;
    enum ms_status st = ms_store_sq_begin(s, err);
    int rc;

    if (st != MS_OK)
        return st;
    st = sq_is_applied(s, m->version, &applied, err);
    if (st != MS_OK || applied)
        goto out;
    rc = sqlite3_exec(s->db, m->sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        st = ms_fail(err, MS_EINTERNAL, "migration %s: %s", m->name,
                     msg != NULL ? msg : sqlite3_errstr(rc));
        if (err != NULL)
            err->native = rc;
        goto out;
    }
    st = sq_record_applied(s, m, err);
out:
    sqlite3_free(msg);
    if (st == MS_OK)
        return ms_store_sq_commit(s, err);
    ms_store_sq_rollback(s);
    return st;
}

static enum ms_status
sq_migrate(struct ms_store *base, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    int64_t applied = 0;
    int known = 0;
    enum ms_status st;
    int rc;

    if (s->tx_depth > 0)
        return ms_fail(err, MS_EINTERNAL, "migrate inside a transaction");
    rc = sqlite3_exec(s->db,
                      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                      "name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return ms_store_sq_fail(s, err, rc, "migrate: create schema_migrations");
    st = sq_applied_version(s, &applied, err);
    if (st != MS_OK)
        return st;
    for (size_t i = 0; i < ms_migrations_count; i++)
        if (ms_migrations[i].version > known)
            known = ms_migrations[i].version;
    if (applied > known)
        return ms_fail(err, MS_EINTERNAL,
                       "the database schema is at version %lld but this build knows only up "
                       "to %d: use a newer modelsync",
                       (long long)applied, known);
    for (size_t i = 0; i < ms_migrations_count && st == MS_OK; i++)
        st = sq_apply(s, &ms_migrations[i], err);
    return st;
}

/* ---- process metadata ---- */

static enum ms_status
sq_meta_get(struct ms_store *base, struct ms_arena *a, const char *key, const char **val,
            struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st =
        ms_store_sq_stmt(s, SQ_META_GET, "SELECT value FROM meta WHERE key = ?", &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, key);
    st = ms_store_sq_step(s, &b, "meta get", &row, err);
    if (st == MS_OK && !row)
        st = ms_fail(err, MS_ENOTFOUND, "no metadata named \"%s\"", key);
    if (st == MS_OK)
        *val = ms_store_sq_col_text(stmt, 0, a);
    ms_store_sq_done(stmt);
    return st;
}

static enum ms_status
sq_meta_set(struct ms_store *base, const char *key, const char *val, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(s, SQ_META_SET,
                                         "INSERT INTO meta (key, value) VALUES (?, ?) "
                                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, key);
    ms_store_sq_text(&b, val);
    return ms_store_sq_run(s, &b, "meta set", err);
}

/* ---- handle ---- */

static void
sq_close(struct ms_store *base)
{
    struct store_sqlite *s = (struct store_sqlite *)base;

    for (size_t i = 0; i < SQ_STMT_COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    sqlite3_close_v2(s->db); /* rolls back a transaction left open */
    ms_store_sq_ckpt_detach(s->ckpt);
    free(s);
}

static const struct ms_store_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .migrate = sq_migrate,
    .tx_begin = sq_tx_begin,
    .tx_commit = sq_tx_commit,
    .tx_rollback = sq_tx_rollback,
    .org_insert = ms_store_sq_org_insert,
    .org_get = ms_store_sq_org_get,
    .org_list = ms_store_sq_org_list,
    .user_insert = ms_store_sq_user_insert,
    .key_insert = ms_store_sq_key_insert,
    .key_auth = ms_store_sq_key_auth,
    .key_list = ms_store_sq_key_list,
    .key_revoke = ms_store_sq_key_revoke,
    .conn_insert = ms_store_sq_conn_insert,
    .conn_update = ms_store_sq_conn_update,
    .conn_get = ms_store_sq_conn_get,
    .conn_list = ms_store_sq_conn_list,
    .conn_delete = ms_store_sq_conn_delete,
    .conn_usage = ms_store_sq_conn_usage,
    .conn_set_status = ms_store_sq_conn_set_status,
    .model_insert = ms_store_sq_model_insert,
    .model_update = ms_store_sq_model_update,
    .model_get = ms_store_sq_model_get,
    .model_list = ms_store_sq_model_list,
    .model_delete = ms_store_sq_model_delete,
    .model_usage = ms_store_sq_model_usage,
    .sync_insert = ms_store_sq_sync_insert,
    .sync_update = ms_store_sq_sync_update,
    .sync_get = ms_store_sq_sync_get,
    .sync_list = ms_store_sq_sync_list,
    .sync_delete = ms_store_sq_sync_delete,
    .sync_set_active = ms_store_sq_sync_set_active,
    .sync_run_after_refs = ms_store_sq_sync_run_after_refs,
    .sync_get_doc = ms_store_sq_sync_get_doc,
    .sync_list_docs = ms_store_sq_sync_list_docs,
    .idem_begin = ms_store_sq_idem_begin,
    .idem_finish = ms_store_sq_idem_finish,
    .idem_purge = ms_store_sq_idem_purge,
    .meta_get = sq_meta_get,
    .meta_set = sq_meta_set,
    .exec_insert = ms_store_sq_exec_insert,
    .exec_get = ms_store_sq_exec_get,
    .exec_list = ms_store_sq_exec_list,
    .exec_active = ms_store_sq_exec_active,
    .exec_last = ms_store_sq_exec_last,
    .exec_claim = ms_store_sq_exec_claim,
    .exec_renew = ms_store_sq_exec_renew,
    .exec_finish = ms_store_sq_exec_finish,
    .exec_cancel = ms_store_sq_exec_cancel,
    .exec_reap = ms_store_sq_exec_reap,
    .log_append = ms_store_sq_log_append,
    .log_list = ms_store_sq_log_list,
    .snap_load = ms_store_sq_snap_load,
    .snap_count = ms_store_sq_snap_count,
    .snap_size_hint = ms_store_sq_snap_size_hint,
    .snap_apply = ms_store_sq_snap_apply,
    .snap_clear = ms_store_sq_snap_clear,
    .snap_key_texts = ms_store_sq_snap_key_texts,
    .snap_compact = ms_store_sq_snap_compact,
    .sched_list = ms_store_sq_sched_list,
    .sched_get = ms_store_sq_sched_get,
    .sched_cas = ms_store_sq_sched_cas,
    .sched_prune = ms_store_sq_sched_prune,
    .sched_events = ms_store_sq_sched_events,
    .sched_events_prune = ms_store_sq_sched_events_prune,
};

/* Connection settings; the busy timeout is set first so the WAL switch can wait for a lock. */
static enum ms_status
sq_configure(struct store_sqlite *s, struct ms_error *err)
{
    int rc;

    sqlite3_extended_result_codes(s->db, 1);
    rc = sqlite3_busy_timeout(s->db, SQ_BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db,
                          "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                          "PRAGMA foreign_keys = ON",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return ms_store_sq_fail(s, err, rc, "configure the database");
    return MS_OK;
}

/*
 * Process-wide settings, before SQLite initializes: no allocation statistics (nothing reads
 * them, and keeping them takes a global mutex on every malloc and free inside SQLite, about
 * ten per API request). SQLITE_MISUSE when SQLite is already initialized: then they stay.
 */
static void
sq_global(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

enum ms_status
ms_store_sqlite_open(const char *path, struct ms_store **out, struct ms_error *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct store_sqlite *s = ms_xcalloc(1, sizeof(*s));
    enum ms_status st;
    int rc;

    pthread_once(&once, sq_global);
    s->base.ops = &sq_ops;
    rc = sqlite3_open_v2(path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        st = ms_fail(err, MS_EINTERNAL, "open %s: %s", path,
                     s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        if (err != NULL)
            err->native = rc;
        goto out;
    }
    st = sq_configure(s, err);
    if (st == MS_OK)
        s->ckpt = ms_store_sq_ckpt_attach(s->db, path);
out:
    if (st != MS_OK) {
        sq_close(&s->base);
        return st;
    }
    *out = &s->base;
    return MS_OK;
}

#ifdef MS_TESTING
enum ms_status
ms_store_sq_explain(struct ms_store *base, const char *sql, char *out, size_t cap,
                    struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    char *q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *stmt = NULL;
    size_t len = 0;
    int rc = sqlite3_prepare_v2(s->db, q, -1, &stmt, NULL);

    sqlite3_free(q);
    out[0] = '\0';
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        int n = snprintf(out + len, cap - len, "%s%s", len != 0 ? "\n" : "",
                         (const char *)sqlite3_column_text(stmt, 3));

        len = n < 0 || (size_t)n >= cap - len ? cap - 1 : len + (size_t)n;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return ms_store_sq_fail(s, err, rc, "explain");
    return MS_OK;
}
#endif
