/*
 * store_int.h: what the files of src/store/ share and nothing outside may include. The SQLite
 * backend is split by area (store_sqlite.c: handle, statements, transactions, migrations, meta;
 * store_sqlite_org.c, _conn.c, _sync.c, _idem.c, _exec.c, _snap.c (+ _snapblob.c), _sched.c: the
 * operations); they meet through the handle struct, the statement cache and the bind/column
 * helpers declared here.
 * sqlite3.h itself stays in the store_sqlite*.c files (check-layers), so this header names its
 * types by struct tag.
 */
#ifndef MS_STORE_STORE_INT_H
#define MS_STORE_STORE_INT_H

#include <stdatomic.h>
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
    SQ_SNAP_LOAD,         /* the folded chunks, in key order */
    SQ_SNAP_INFO,         /* the sync's snapshot_syncs row and its number of runs */
    SQ_SNAP_SYNC,         /* create the sync's snapshot_syncs row */
    SQ_SNAP_RUN_PUT,      /* a new run */
    SQ_SNAP_RUN_IDS,      /* the sync's runs, oldest first */
    SQ_SNAP_RUNS_DROP,    /* fold: delete the folded runs */
    SQ_SNAP_RUNS_DROP_TO, /* merge: delete the merged runs */
    SQ_SNAP_CHUNK_LIST,   /* fold: the chunks, in key order, without their bodies */
    SQ_SNAP_CHUNK_GET,    /* fold: one chunk's body */
    SQ_SNAP_CHUNK_FIND,   /* key text: the sync, its runs and the chunk that would hold a key */
    SQ_SNAP_CHUNK_PUT,    /* a new chunk */
    SQ_SNAP_CHUNK_DEL,    /* fold: delete a rewritten chunk */
    SQ_SNAP_SET_FOLDED,   /* the folded count (and format) */
    SQ_SNAP_READ_BEGIN,
    SQ_SNAP_READ_END,
    SQ_SNAP_CLEAR,
    SQ_SNAP_OLD_PENDING, /* upgrade from 0003's tables: their runs */
    SQ_SNAP_OLD_FOLD_DEL,
    SQ_SNAP_OLD_FOLD_PUT,
    SQ_SNAP_OLD_FOLD_DROP,
    SQ_SNAP_OLD_ROWS,      /* the folded rows of 0003, in key order */
    SQ_SNAP_OLD_ROWS_DROP, /* and their deletion */
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
    struct ms_store_sq_ckpt *ckpt;             /* its file's checkpointer; NULL: SQLite's own */
    struct sqlite3_stmt *stmts[SQ_STMT_COUNT]; /* owned; NULL until first used */
    int tx_depth;   /* ms_store_tx_begin() nesting; only the outermost level talks to SQLite */
    bool tx_doomed; /* an inner level rolled back: refuse work until the outermost one ends */
};

/*
 * WAL checkpoints on a thread of their own (store_sqlite_ckpt.c): attach db, opened on path,
 * to that file's checkpointer (NULL when there is none: SQLite checkpoints as usual); detach
 * after closing db.
 */
struct ms_store_sq_ckpt;
struct ms_store_sq_ckpt *ms_store_sq_ckpt_attach(struct sqlite3 *db, const char *path);
void ms_store_sq_ckpt_detach(struct ms_store_sq_ckpt *c);

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
enum ms_status ms_store_sq_snap_size_hint(struct ms_store *base, const char *sync_id, int64_t *n,
                                          struct ms_error *err);
enum ms_status ms_store_sq_snap_apply(struct ms_store *base, const char *sync_id,
                                      const struct ms_snap_change *c, size_t n, const char *exec_id,
                                      const struct ms_counts *counts, struct ms_error *err);
enum ms_status ms_store_sq_snap_clear(struct ms_store *base, const char *sync_id,
                                      struct ms_error *err);
enum ms_status ms_store_sq_snap_key_texts(struct ms_store *base, struct ms_arena *a,
                                          const char *sync_id, const uint8_t *keys, size_t n,
                                          const char **texts, size_t *lens, struct ms_error *err);
enum ms_status ms_store_sq_snap_compact(struct ms_store *base, const char *sync_id,
                                        struct ms_error *err);

/*
 * Snapshot blobs (store_sqlite_snapblob.c; docs/internals/STORE.md, "Snapshot persistence"). A
 * run (what one snap_apply adds) and a folded chunk are each one blob: a header of
 * MS_SNAPBLOB_HEAD bytes (the version byte MS_SNAPBLOB_VERSION, three zero bytes, the number of
 * entries n and the length of the text area as little-endian u32, four zero bytes), n entries
 * of MS_SNAPBLOB_ENTRY bytes in strictly increasing key order (key hash, row hash, then a
 * little-endian u32: bit 31 a delete, bit 30 no key text, bits 0-29 where the entry's text ends
 * in the text area; it starts where the previous entry's ends), then the text area. Only runs
 * hold deletes. Readers check every field they use and never read outside the blob: a damaged
 * blob is MS_EINTERNAL naming the sync.
 */
#define MS_SNAPBLOB_VERSION 1
#define MS_SNAPBLOB_HEAD 16
#define MS_SNAPBLOB_ENTRY 36
#define MS_SNAPBLOB_TEXT_MAX ((1u << 30) - 1) /* bytes of one blob's text area */

/* One decoded entry. */
struct snap_ent {
    uint8_t key[16];
    uint8_t row[16]; /* zero for a delete */
    bool del;        /* the key is gone (runs only) */
    bool text;       /* it has a key text (possibly empty); false for NULL and for deletes */
    uint32_t end;    /* where its text ends in the text area */
};

/* A decoded header. */
struct snapblob_head {
    uint32_t n;        /* entries */
    uint32_t text_len; /* bytes of the text area */
};

/* Decode the header p[0, MS_SNAPBLOB_HEAD) of a blob of len bytes; false: damaged. */
bool ms_store_snapblob_head(const uint8_t *p, uint64_t len, struct snapblob_head *h);
/* Decode the entry p[0, MS_SNAPBLOB_ENTRY). */
void ms_store_snapblob_entry(const uint8_t *p, struct snap_ent *e);
/*
 * Why e cannot follow prev (NULL when e is the first entry) in a blob with header h, or NULL
 * when it can. Deletes are allowed only in runs (run true).
 */
const char *ms_store_snapblob_follows(const struct snap_ent *prev, const struct snap_ent *e,
                                      const struct snapblob_head *h, bool run);
/* Why the last entry, last (NULL without entries), cannot end a blob with header h, or NULL. */
const char *ms_store_snapblob_ends(const struct snap_ent *last, const struct snapblob_head *h);
/* Why the blob p[0, len) is damaged, or NULL: every check of the readers, in one pass. */
const char *ms_store_snapblob_check(const uint8_t *p, size_t len, bool run);

/* Builds one blob in memory: entries added in strictly increasing key order. */
struct snapblob_builder {
    uint8_t *buf;    /* owned: the header's room, then the entries (and the text on finish) */
    size_t buf_size; /* bytes allocated at buf */
    size_t n;        /* entries */
    uint8_t *text;   /* owned: the text area */
    size_t text_len, text_cap;
    int64_t dels; /* entries that are deletes */
};

/* An empty builder; ms_store_snapblob_release() frees its memory. */
void ms_store_snapblob_init(struct snapblob_builder *b);
void ms_store_snapblob_release(struct snapblob_builder *b);
/* Append an entry; text NULL: no key text. The caller keeps the text area under its cap. */
void ms_store_snapblob_add(struct snapblob_builder *b, const uint8_t key[16], const uint8_t row[16],
                           bool del, const char *text, size_t len);
/*
 * Append the entries [i, i + k) of the blob p (header h), which ms_store_snapblob_check found
 * sound and which hold no deletes, with their texts; their keys follow b's last one.
 */
void ms_store_snapblob_add_span(struct snapblob_builder *b, const uint8_t *p,
                                const struct snapblob_head *h, uint32_t i, uint32_t k);
/* The bytes the entries [i, i + k) of the sound blob p (header h) take, texts included. */
size_t ms_store_snapblob_span_bytes(const uint8_t *p, const struct snapblob_head *h, uint32_t i,
                                    uint32_t k);
/* The first of the entries [lo, hi) of the sound blob p whose key is not below key (hi: none). */
uint32_t ms_store_snapblob_lower(const uint8_t *p, uint32_t lo, uint32_t hi, const uint8_t key[16]);
/* The bytes the blob would have now. */
size_t ms_store_snapblob_size(const struct snapblob_builder *b);
/* The whole blob, *len bytes, owned by b and valid until its next add, reset or release. */
const uint8_t *ms_store_snapblob_finish(struct snapblob_builder *b, size_t *len);
/* Empty b for the next blob, keeping its memory. */
void ms_store_snapblob_reset(struct snapblob_builder *b);

/* Random access to one blob of len bytes: read copies n bytes at off into dst. */
struct snapblob_src {
    enum ms_status (*read)(void *ud, void *dst, size_t n, size_t off, struct ms_error *err);
    void *ud;
    size_t len;
};

/*
 * Binary search for key in the blob src reads, a few small reads: *found, and when found the
 * entry in *e and where its text lies in the blob (*text_off, *text_len). A damaged blob is
 * MS_EINTERNAL naming sync_id.
 */
enum ms_status ms_store_snapblob_find(const struct snapblob_src *src, const char *sync_id,
                                      const uint8_t key[16], bool *found, struct snap_ent *e,
                                      size_t *text_off, size_t *text_len, struct ms_error *err);
/* MS_EINTERNAL: the snapshot of sync_id is damaged, why. */
enum ms_status ms_store_snapblob_damaged(const char *sync_id, const char *why,
                                         struct ms_error *err);

/*
 * The streaming k-way merge of some of a sync's runs (ids, oldest first), read through
 * sqlite3_blob handles with a small window each: ms_store_sq_runs_cur is the newest change of
 * the smallest key left (NULL when none is left; with texts, its key text in *text, *len), and
 * ms_store_sq_runs_next moves past that key in every run. Memory is a few KiB per run. from
 * (NULL: all) starts the merge at the first key not below it, by a binary search in each run.
 */
struct snap_runs;

enum ms_status ms_store_sq_runs_open(struct store_sqlite *s, const char *sync_id,
                                     const int64_t *ids, size_t n, bool texts, const uint8_t *from,
                                     struct snap_runs **out, struct ms_error *err);
const struct snap_ent *ms_store_sq_runs_cur(const struct snap_runs *r, const char **text,
                                            size_t *len);
enum ms_status ms_store_sq_runs_next(struct snap_runs *r, struct ms_error *err);
/* Close the blob handles and free r (NULL: nothing); before the runs' rows are deleted. */
void ms_store_sq_runs_free(struct snap_runs *r);

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
/* Entries per folded chunk (default 1024): tests lower it to get many chunks from few keys. */
extern size_t ms_store_sq_snap_chunk_max;
/* Bytes at which a run's blob stops growing (default 64 MiB): tests lower it to split runs. */
extern size_t ms_store_sq_snap_run_bytes;
/* The checkpointer waits while this is set; the WAL pages past which a commit checkpoints. */
extern atomic_bool ms_store_sq_ckpt_hold;
extern int ms_store_sq_ckpt_force_pages;
/* snap_compact folds when the runs hold 1/this of the chunks' entries (default 4); 0: always. */
extern unsigned ms_store_sq_snap_fold_share;
/* The bytes a merge of runs holds (its structs and windows), to check that it stays bounded. */
size_t ms_store_sq_runs_mem(const struct snap_runs *m);
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
