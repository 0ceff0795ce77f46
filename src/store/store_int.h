/*
 * store_int.h: what the files of src/store/ share and nothing outside may include. The SQLite
 * backend is split by area (store_sqlite.c: handle, statements, transactions, migrations, meta;
 * store_sqlite_org.c, _conn.c, _sync.c, _idem.c, _exec.c, _snap.c, _sched.c: the operations);
 * they meet through the handle struct, the statement cache and the bind/column helpers declared
 * here.
 * sqlite3.h itself stays in the store_sqlite*.c files (check-layers), so this header names its
 * types by struct tag.
 */
#ifndef MS_STORE_STORE_INT_H
#define MS_STORE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "core/arena.h"
#include "core/error.h"
#include "model/model.h"
#include "store/store.h"

/*
 * Open the SQLite store at path (created if missing; its directory must exist) for the calling
 * thread and set the connection PRAGMAs. Does not migrate. Close with ms_store_close().
 */
enum ms_status ms_store_sqlite_open(const char *path, struct ms_store **out, struct ms_error *err);

struct sqlite3;
struct sqlite3_stmt;

/* The cached statements of one handle, each prepared on first use (see ms_store_sq_stmt). */
enum sq_stmt_id {
    SQ_BEGIN,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_META_GET,
    SQ_META_SET,
    SQ_ORG_INSERT,
    SQ_ORG_GET,
    SQ_ORG_LIST,
    SQ_USER_INSERT,
    SQ_KEY_INSERT,
    SQ_KEY_AUTH,
    SQ_KEY_LIST_ALL,
    SQ_KEY_LIST_ORG,
    SQ_KEY_REVOKE,
    SQ_CONN_INSERT,
    SQ_CONN_UPDATE,
    SQ_CONN_GET,
    SQ_CONN_LIST,
    SQ_CONN_DEL_SYNCS,
    SQ_CONN_DEL_MODELS,
    SQ_CONN_DELETE,
    SQ_CONN_USAGE,
    SQ_CONN_STATUS,
    SQ_MODEL_INSERT,
    SQ_MODEL_UPDATE,
    SQ_MODEL_GET,
    SQ_MODEL_LIST_ALL,
    SQ_MODEL_LIST_CONN,
    SQ_MODEL_DELETE,
    SQ_MODEL_USAGE,
    SQ_SYNC_INSERT,
    SQ_SYNC_UPDATE,
    SQ_SYNC_GET,
    SQ_SYNC_DELETE,
    SQ_SYNC_ACTIVE,
    SQ_SYNC_RUN_AFTER_REFS,
    SQ_SYNC_MODELS_CLEAR,
    SQ_SYNC_MODELS_ADD,
    SQ_SYNC_DOC_GET,
    SQ_SYNC_DOCS_SET,
    SQ_SYNC_LIST_DOCS,                     /* + the filter mask (SQ_LIST_*): 16 variants */
    SQ_SYNC_LIST = SQ_SYNC_LIST_DOCS + 16, /* + the filter mask (SQ_LIST_*): 16 variants */
    SQ_IDEM_GET = SQ_SYNC_LIST + 16,
    SQ_IDEM_CLAIM,
    SQ_IDEM_FINISH,
    SQ_IDEM_PURGE,
    SQ_EXEC_INSERT,
    SQ_EXEC_GET,
    SQ_EXEC_ACTIVE,
    SQ_EXEC_LAST,
    SQ_EXEC_CLAIM_NEXT,
    SQ_EXEC_CLAIM_ID,
    SQ_EXEC_RENEW,
    SQ_EXEC_FINISH,
    SQ_EXEC_CANCEL,
    SQ_EXEC_REAP,
    SQ_EXEC_COUNTS,
    SQ_EXEC_LIST, /* + the variant mask (SQ_XLIST_*): 8 variants */
    SQ_LOG_APPEND = SQ_EXEC_LIST + 8,
    SQ_LOG_AFTER,
    SQ_LOG_TAIL,
    SQ_SNAP_LOAD,     /* the folded rows, in key order */
    SQ_SNAP_LOAD_LOG, /* the runs' rows, in key order, newest run first */
    SQ_SNAP_READ_BEGIN,
    SQ_SNAP_READ_END,
    SQ_SNAP_COUNT,
    SQ_SNAP_SYNC,     /* the sync's snapshot_syncs row */
    SQ_SNAP_RUN,      /* a new run */
    SQ_SNAP_PUT,      /* one change of a run */
    SQ_SNAP_PUT_MANY, /* several */
    SQ_SNAP_CLEAR,
    SQ_SNAP_KEY_TEXT,
    SQ_SNAP_PENDING,   /* the runs waiting to be folded */
    SQ_SNAP_FOLD_DEL,  /* fold: the deletes */
    SQ_SNAP_FOLD_PUT,  /* fold: the upserts */
    SQ_SNAP_FOLD_DROP, /* fold: delete the folded runs */
    SQ_SCHED_LIST,
    SQ_SCHED_GET,
    SQ_SCHED_INSERT,
    SQ_SCHED_UPDATE,
    SQ_SCHED_STALE, /* is there a row for prune to delete? */
    SQ_SCHED_PRUNE,
    SQ_SCHED_EVENTS,
    SQ_SCHED_EVENTS_PRUNE,
    SQ_STMT_COUNT
};

/* Which optional terms a sync_list statement has; together they pick its cache slot. */
enum {
    SQ_LIST_ACTIVE = 1 << 0,
    SQ_LIST_MODE = 1 << 1,
    SQ_LIST_TARGET = 1 << 2,
    SQ_LIST_CURSOR = 1 << 3,
};

/* Which variant an exec_list statement is; together they pick its cache slot. */
enum {
    SQ_XLIST_ASC = 1 << 0,    /* oldest first */
    SQ_XLIST_CURSOR = 1 << 1, /* strictly after a (sort_at, id) */
    SQ_XLIST_DONE = 1 << 2,   /* terminal states only */
};

/* One SQLite handle: confined to the thread that opened it, like the connection inside. */
struct store_sqlite {
    struct ms_store base;                      /* must be first */
    struct sqlite3 *db;                        /* owned */
    struct sqlite3_stmt *stmts[SQ_STMT_COUNT]; /* owned; NULL until first used */
    int tx_depth;   /* ms_store_tx_begin() nesting; only the outermost level talks to SQLite */
    bool tx_doomed; /* an inner level rolled back: refuse work until the outermost one ends */
};

/*
 * The cached statement id (prepared from sql on first use) ready for binding in *out. Hand it
 * back with ms_store_sq_done() whatever happened. Refused (MS_EINTERNAL) while tx_doomed.
 */
enum ms_status ms_store_sq_stmt(struct store_sqlite *s, enum sq_stmt_id id, const char *sql,
                                struct sqlite3_stmt **out, struct ms_error *err);
/* Reset and unbind a statement from ms_store_sq_stmt() so the cache can hand it out again. */
void ms_store_sq_done(struct sqlite3_stmt *stmt);

/*
 * Map the SQLite result rc of the last call on s->db onto a status (BUSY/LOCKED → MS_EBUSY,
 * UNIQUE/PRIMARYKEY → MS_ECONFLICT, else MS_EINTERNAL), keep the extended code in
 * err->native and "what: <sqlite message>" in err->msg.
 */
enum ms_status ms_store_sq_fail(struct store_sqlite *s, struct ms_error *err, int rc,
                                const char *what);

/* Rows changed by the last statement on s. */
int64_t ms_store_sq_changes(struct store_sqlite *s);

/*
 * Positional binder: each call binds the next parameter (1, 2, ...). The first failure is kept
 * in rc and later calls do nothing, so a statement is bound with a run of calls and one check.
 * Strings and JSON are copied by SQLite, so arguments may be freed after the call.
 */
struct sq_bind {
    struct sqlite3_stmt *stmt;
    int i;           /* last parameter bound */
    int rc;          /* SQLITE_OK, or the first failure */
    const char *bad; /* why a value could not be bound (MS_EINVAL), or NULL */
};

void ms_store_sq_bind_init(struct sq_bind *b, struct sqlite3_stmt *stmt);
/* The failure a binder recorded: MS_EINVAL for a bad value, else as ms_store_sq_fail(). */
enum ms_status ms_store_sq_bind_fail(struct store_sqlite *s, const struct sq_bind *b,
                                     const char *what, struct ms_error *err);
void ms_store_sq_text(struct sq_bind *b, const char *s); /* NULL binds SQL NULL */
void ms_store_sq_i64(struct sq_bind *b, int64_t v);
void ms_store_sq_i64_or_null(struct sq_bind *b, int64_t v); /* 0 binds SQL NULL */
void ms_store_sq_blob(struct sq_bind *b, const void *p, size_t n);
/* Compact JSON text of j; NULL binds SQL NULL. */
void ms_store_sq_json(struct sq_bind *b, const json_t *j);
/* {"id","name","type"} of an actor; an actor without id, name or type binds SQL NULL. */
void ms_store_sq_actor(struct sq_bind *b, const struct ms_actor *actor);

/*
 * Run the statement b bound to completion (a write) and hand it back (ms_store_sq_done), also
 * when binding failed: then the binder's failure is returned.
 */
enum ms_status ms_store_sq_run(struct store_sqlite *s, const struct sq_bind *b, const char *what,
                               struct ms_error *err);
/*
 * First step of the statement b bound (a read): *row is true when a row is ready. The caller
 * hands the statement back with ms_store_sq_done() afterwards, on every path.
 */
enum ms_status ms_store_sq_step(struct store_sqlite *s, const struct sq_bind *b, const char *what,
                                bool *row, struct ms_error *err);

/* Column readers of the current row. Text and blobs are copied into a; SQL NULL gives NULL. */
const char *ms_store_sq_col_text(struct sqlite3_stmt *stmt, int col, struct ms_arena *a);
int64_t ms_store_sq_col_i64(struct sqlite3_stmt *stmt, int col); /* NULL reads as 0 */
/* Parse a JSON column into *out (released by an arena defer); SQL NULL gives NULL. */
enum ms_status ms_store_sq_col_json(struct sqlite3_stmt *stmt, int col, struct ms_arena *a,
                                    json_t **out, struct ms_error *err);
/* Parse an actor column; SQL NULL gives an actor whose members are all NULL. */
enum ms_status ms_store_sq_col_actor(struct sqlite3_stmt *stmt, int col, struct ms_arena *a,
                                     struct ms_actor *out, struct ms_error *err);
/* Copy a text column into a fixed buffer of cap bytes; MS_EINTERNAL when it does not fit. */
enum ms_status ms_store_sq_col_fixed(struct sqlite3_stmt *stmt, int col, char *dst, size_t cap,
                                     struct ms_error *err);

/*
 * Grow an arena array of elem-sized items to hold one more than *n: returns the (possibly
 * moved) array. Capacity doubles, so a list of n items costs under 2n items of arena memory.
 */
void *ms_store_sq_grow(struct ms_arena *a, void *arr, size_t n, size_t *cap, size_t elem);

/* Internal transaction helpers, with the same nesting as the public tx_begin/commit/rollback. */
enum ms_status ms_store_sq_begin(struct store_sqlite *s, struct ms_error *err);
enum ms_status ms_store_sq_commit(struct store_sqlite *s, struct ms_error *err);
void ms_store_sq_rollback(struct store_sqlite *s);

/* ---- operations, one per struct ms_store_ops slot (store_sqlite_<area>.c) ---- */

enum ms_status ms_store_sq_org_insert(struct ms_store *base, const struct ms_org *o,
                                      struct ms_error *err);
enum ms_status ms_store_sq_org_get(struct ms_store *base, struct ms_arena *a, const char *id,
                                   struct ms_org *out, struct ms_error *err);
enum ms_status ms_store_sq_org_list(struct ms_store *base, struct ms_arena *a, struct ms_org **out,
                                    size_t *n, struct ms_error *err);
enum ms_status ms_store_sq_user_insert(struct ms_store *base, const struct ms_user *u,
                                       struct ms_error *err);
enum ms_status ms_store_sq_key_insert(struct ms_store *base, const struct ms_api_key *k,
                                      struct ms_error *err);
enum ms_status ms_store_sq_key_auth(struct ms_store *base, struct ms_arena *a, const char *hash_hex,
                                    struct ms_auth *out, struct ms_error *err);
enum ms_status ms_store_sq_key_list(struct ms_store *base, struct ms_arena *a, const char *org_id,
                                    struct ms_api_key **out, size_t *n, struct ms_error *err);
enum ms_status ms_store_sq_key_revoke(struct ms_store *base, const char *id, int64_t now,
                                      struct ms_error *err);

enum ms_status ms_store_sq_conn_insert(struct ms_store *base, const struct ms_connection *c,
                                       struct ms_error *err);
enum ms_status ms_store_sq_conn_update(struct ms_store *base, const struct ms_connection *c,
                                       struct ms_error *err);
enum ms_status ms_store_sq_conn_get(struct ms_store *base, struct ms_arena *a, const char *org_id,
                                    const char *id, struct ms_connection *out,
                                    struct ms_error *err);
enum ms_status ms_store_sq_conn_list(struct ms_store *base, struct ms_arena *a, const char *org_id,
                                     struct ms_connection **out, size_t *n, struct ms_error *err);
enum ms_status ms_store_sq_conn_delete(struct ms_store *base, const char *org_id, const char *id,
                                       bool cascade, struct ms_error *err);
enum ms_status ms_store_sq_conn_usage(struct ms_store *base, const char *org_id, const char *id,
                                      int64_t *n_models, int64_t *n_syncs, struct ms_error *err);
enum ms_status ms_store_sq_conn_set_status(struct ms_store *base, const char *org_id,
                                           const char *id, const char *status,
                                           const char *status_error, struct ms_error *err);

enum ms_status ms_store_sq_model_insert(struct ms_store *base, const struct ms_model *m,
                                        struct ms_error *err);
enum ms_status ms_store_sq_model_update(struct ms_store *base, const struct ms_model *m,
                                        struct ms_error *err);
enum ms_status ms_store_sq_model_get(struct ms_store *base, struct ms_arena *a, const char *org_id,
                                     const char *id, struct ms_model *out, struct ms_error *err);
enum ms_status ms_store_sq_model_list(struct ms_store *base, struct ms_arena *a, const char *org_id,
                                      const char *connection_id, struct ms_model **out, size_t *n,
                                      struct ms_error *err);
enum ms_status ms_store_sq_model_delete(struct ms_store *base, const char *org_id, const char *id,
                                        struct ms_error *err);
enum ms_status ms_store_sq_model_usage(struct ms_store *base, const char *org_id, const char *id,
                                       int64_t *n_syncs, struct ms_error *err);

enum ms_status ms_store_sq_sync_insert(struct ms_store *base, const struct ms_sync *y,
                                       struct ms_error *err);
enum ms_status ms_store_sq_sync_update(struct ms_store *base, const struct ms_sync *y,
                                       struct ms_error *err);
enum ms_status ms_store_sq_sync_get(struct ms_store *base, struct ms_arena *a, const char *org_id,
                                    const char *id, struct ms_sync *out, struct ms_error *err);
enum ms_status ms_store_sq_sync_list(struct ms_store *base, struct ms_arena *a, const char *org_id,
                                     const struct ms_sync_filter *f,
                                     const struct ms_sync_cursor *cur, size_t limit,
                                     struct ms_sync **out, size_t *n, struct ms_error *err);
enum ms_status ms_store_sq_sync_delete(struct ms_store *base, const char *org_id, const char *id,
                                       struct ms_error *err);
enum ms_status ms_store_sq_sync_set_active(struct ms_store *base, const char *org_id,
                                           const char *id, bool active, int64_t now,
                                           const struct ms_actor *by, struct ms_error *err);
enum ms_status ms_store_sq_sync_run_after_refs(struct ms_store *base, const char *org_id,
                                               const char *id, int64_t *n, struct ms_error *err);
enum ms_status ms_store_sq_sync_get_doc(struct ms_store *base, struct ms_arena *a,
                                        const char *org_id, const char *id, struct ms_sync_doc *out,
                                        struct ms_error *err);
enum ms_status ms_store_sq_sync_list_docs(struct ms_store *base, struct ms_arena *a,
                                          const char *org_id, const struct ms_sync_filter *f,
                                          const struct ms_sync_cursor *cur, size_t limit,
                                          struct ms_sync_doc **out, size_t *n,
                                          struct ms_error *err);

enum ms_status ms_store_sq_idem_begin(struct ms_store *base, struct ms_arena *a, const char *org_id,
                                      const char *cred_hash, const char *key, const char *req_hash,
                                      int64_t now, enum ms_idem_state *state,
                                      struct ms_idem_response *resp, struct ms_error *err);
enum ms_status ms_store_sq_idem_finish(struct ms_store *base, const char *org_id,
                                       const char *cred_hash, const char *key, int http_status,
                                       const char *body, size_t body_len, int64_t now,
                                       struct ms_error *err);
enum ms_status ms_store_sq_idem_purge(struct ms_store *base, int64_t now, struct ms_error *err);

/* executions and console logs (store_sqlite_exec.c) */
enum ms_status ms_store_sq_exec_insert(struct ms_store *base, const struct ms_execution *ex,
                                       struct ms_error *err);
enum ms_status ms_store_sq_exec_get(struct ms_store *base, struct ms_arena *a, const char *org_id,
                                    const char *sync_id, const char *id, struct ms_execution *out,
                                    struct ms_error *err);
enum ms_status ms_store_sq_exec_list(struct ms_store *base, struct ms_arena *a, const char *org_id,
                                     const char *sync_id, bool only_completed, bool ascending,
                                     const struct ms_exec_cursor *cur, size_t limit,
                                     struct ms_execution **out, size_t *n, struct ms_error *err);
enum ms_status ms_store_sq_exec_active(struct ms_store *base, struct ms_arena *a,
                                       const char *org_id, const char *sync_id,
                                       struct ms_execution *out, struct ms_error *err);
enum ms_status ms_store_sq_exec_last(struct ms_store *base, struct ms_arena *a, const char *org_id,
                                     const char *sync_id, struct ms_execution *out,
                                     struct ms_error *err);
enum ms_status ms_store_sq_exec_claim(struct ms_store *base, struct ms_arena *a, const char *id,
                                      const char *node, int64_t now, int64_t lease_ms,
                                      struct ms_execution *out, struct ms_error *err);
enum ms_status ms_store_sq_exec_renew(struct ms_store *base, const char *id, const char *node,
                                      const char *status, const struct ms_counts *counts,
                                      int64_t now, int64_t lease_ms, bool *cancel,
                                      struct ms_error *err);
enum ms_status ms_store_sq_exec_finish(struct ms_store *base, const char *id, const char *node,
                                       const char *status, const struct ms_counts *counts,
                                       const json_t *errors, int64_t now, struct ms_error *err);
enum ms_status ms_store_sq_exec_cancel(struct ms_store *base, struct ms_arena *a,
                                       const char *org_id, const char *sync_id, const char *id,
                                       int64_t now, const char **affected, struct ms_error *err);
enum ms_status ms_store_sq_exec_reap(struct ms_store *base, int64_t now, int64_t *n,
                                     struct ms_error *err);
enum ms_status ms_store_sq_log_append(struct ms_store *base, const char *exec_id, int64_t ts,
                                      const char *level, const char *message, struct ms_error *err);
enum ms_status ms_store_sq_log_list(struct ms_store *base, struct ms_arena *a, const char *exec_id,
                                    int64_t after_seq, size_t limit, struct ms_exec_log **out,
                                    size_t *n, struct ms_error *err);
/* The counts of exec_id, inside the caller's transaction (snap_apply). */
enum ms_status ms_store_sq_exec_counts(struct store_sqlite *s, const char *exec_id,
                                       const struct ms_counts *counts, struct ms_error *err);

/* snapshots (store_sqlite_snap.c) */
enum ms_status ms_store_sq_snap_load(struct ms_store *base, const char *sync_id, ms_snap_fn fn,
                                     void *ud, struct ms_error *err);
enum ms_status ms_store_sq_snap_count(struct ms_store *base, const char *sync_id, int64_t *n,
                                      struct ms_error *err);
enum ms_status ms_store_sq_snap_apply(struct ms_store *base, const char *sync_id,
                                      const struct ms_snap_change *c, size_t n, const char *exec_id,
                                      const struct ms_counts *counts, struct ms_error *err);
enum ms_status ms_store_sq_snap_clear(struct ms_store *base, const char *sync_id,
                                      struct ms_error *err);
enum ms_status ms_store_sq_snap_key_text(struct ms_store *base, struct ms_arena *a,
                                         const char *sync_id, const uint8_t key[16],
                                         const char **text, size_t *len, struct ms_error *err);
enum ms_status ms_store_sq_snap_compact(struct ms_store *base, const char *sync_id,
                                        struct ms_error *err);

/* scheduler state and events (store_sqlite_sched.c) */
enum ms_status ms_store_sq_sched_list(struct ms_store *base, struct ms_arena *a,
                                      const char *after_id, size_t limit,
                                      struct ms_sched_sync **out, size_t *n, struct ms_error *err);
enum ms_status ms_store_sq_sched_get(struct ms_store *base, struct ms_arena *a, const char *org_id,
                                     const char *sync_id, struct ms_sched_state *out,
                                     struct ms_error *err);
enum ms_status ms_store_sq_sched_cas(struct ms_store *base, int64_t expect,
                                     const struct ms_sched_state *row,
                                     const struct ms_execution *ex, int64_t now, bool *won,
                                     struct ms_error *err);
enum ms_status ms_store_sq_sched_prune(struct ms_store *base, int64_t *n, struct ms_error *err);
enum ms_status ms_store_sq_sched_events(struct ms_store *base, struct ms_arena *a,
                                        int64_t after_seq, size_t limit,
                                        struct ms_sched_event **out, size_t *n,
                                        struct ms_error *err);
enum ms_status ms_store_sq_sched_events_prune(struct ms_store *base, int64_t upto_seq,
                                              int64_t before, struct ms_error *err);

#ifdef MS_TESTING
/* The SQL of the exec_list statement of the variant mask (SQ_XLIST_*). */
const char *ms_store_sq_exec_list_sql(unsigned mask, char *buf, size_t cap);
/* The SQL of the snapshot statement in slot id (SQ_SNAP_*), for query-plan checks; else NULL. */
const char *ms_store_sq_snap_sql(enum sq_stmt_id id);
/* The SQL of the sync_list statement with the optional terms in mask (SQ_LIST_*). */
const char *ms_store_sq_sync_list_sql(unsigned mask, char *buf, size_t cap);
/* The same for sync_list_docs: the same terms and order, its own columns. */
const char *ms_store_sq_sync_list_docs_sql(unsigned mask, char *buf, size_t cap);
/*
 * EXPLAIN QUERY PLAN of sql on an open SQLite store: the detail lines joined with '\n' into
 * out (cap bytes, truncated if needed).
 */
enum ms_status ms_store_sq_explain(struct ms_store *base, const char *sql, char *out, size_t cap,
                                   struct ms_error *err);
#endif

#endif
