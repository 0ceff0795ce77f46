/*
 * engine_int.h: what the files of src/engine/ share. plan.c freezes a sync's configuration into
 * a struct ms_eng_plan (columns, identity, filters, overrides, options); transform.c evaluates
 * filters and overrides, maps source rows onto target columns and hashes them; diff.c holds the
 * in-memory snapshot index; recordlog.c writes the JSON-lines record logs; engine.c runs the
 * execution; pipeline.c runs its reader and writer threads. Everything here belongs to the
 * thread running an execution, except what pipeline.c hands to its threads (said there).
 */
#ifndef MS_ENGINE_ENGINE_INT_H
#define MS_ENGINE_ENGINE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include "connectors/connector.h"
#include "core/arena.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/str.h"
#include "engine/engine.h"
#include "model/model.h"
#include "store/store.h"

#define MS_ENG_NO_COL ((size_t)-1)   /* a source or target column that is not there */
#define MS_ENG_MAX_BATCH_ROWS 100000 /* opts->batch_rows is clamped to this */
#define MS_ENG_MAX_IDENTITIES 100000 /* entries of options.identities */

/* ---- transform.c: filters, overrides, mapping, hashing ---- */

/* FilterFunction (API.md §4.4), in the order of model/sync_filter.c. */
enum ms_eng_fn {
    MS_ENG_FN_EQUALITY,
    MS_ENG_FN_INEQUALITY,
    MS_ENG_FN_IS_NULL,
    MS_ENG_FN_IS_NOT_NULL,
    MS_ENG_FN_TRUE,
    MS_ENG_FN_FALSE,
    MS_ENG_FN_ON_OR_AFTER,
    MS_ENG_FN_ON_OR_BEFORE,
    MS_ENG_FN_GREATER_THAN,
    MS_ENG_FN_GREATER_THAN_EQUAL,
    MS_ENG_FN_LESS_THAN,
    MS_ENG_FN_LESS_THAN_EQUAL,
    MS_ENG_FN_STRING_CONTAINS,
    MS_ENG_FN_STRING_STARTS_WITH,
    MS_ENG_FN_STRING_ENDS_WITH,
    MS_ENG_FN_STRING_DOES_NOT_CONTAIN,
    MS_ENG_FN_STRING_DOES_NOT_START_WITH,
    MS_ENG_FN_STRING_DOES_NOT_END_WITH,
    MS_ENG_FN_STRING_ONE_OF,
    MS_ENG_FN_STRING_NOT_ONE_OF,
    MS_ENG_FN_BETWEEN,
    MS_ENG_FN_ARRAY_CONTAINS,
    MS_ENG_FN_ARRAY_DOES_NOT_CONTAIN,
    MS_ENG_FN_IN_THE_LAST,
    MS_ENG_FN_RELATIVE_ON_OR_BEFORE,
    MS_ENG_FN_RELATIVE_ON_OR_AFTER,
    MS_ENG_FN_STRING_LIKE,
    MS_ENG_FN_STRING_NOT_LIKE,
    MS_ENG_FN_STRING_MATCHES_TRIMMED,
    MS_ENG_FN_COUNT
};

/* A scalar operand with every reading a comparison may need, worked out once per run. */
struct ms_eng_operand {
    struct ms_value v; /* as given: TEXT, INT, REAL or BOOL (text in the run arena) */
    bool num_ok;       /* a number, or text holding one */
    double num;
    bool int_ok; /* ... an integer: compared exactly with integer values */
    int64_t inum;
    bool time_ok;   /* a date or date-time */
    bool date_only; /* "YYYY-MM-DD": compared by calendar day */
    int64_t time_ms;
};

/* One condition on one source field: a filter, or an override's condition. */
struct ms_eng_cond {
    enum ms_eng_fn fn;
    const char *field;          /* source field name (run arena) */
    size_t src;                 /* its column in the source rows, set by ms_eng_plan_bind */
    struct ms_eng_operand a, b; /* the operand; b is Between's upper bound */
    struct ms_str *set;         /* StringOneOf / StringNotOneOf operands (run arena) */
    size_t nset;
    int64_t t0, t1; /* relative functions: the instants they compare with */
};

/* Conditional replacement of a source field's value (API.md §3.5). */
struct ms_eng_override {
    bool always;             /* no function: replace unconditionally */
    struct ms_eng_cond cond; /* field and src are set even when always */
    struct ms_value repl;    /* the replacement (text in the run arena) */
};

/* The record-level rules of a sync: which rows pass, and which values get replaced. */
struct ms_eng_xform {
    struct ms_eng_cond *filters; /* [nfilters], run arena */
    size_t nfilters;
    const struct ms_flx *logic; /* filter_logic, NULL when absent (all filters ANDed) */
    bool *named;                /* [nfilters]: named by logic; the others are ANDed with it */
    struct ms_eng_override *overrides;
    size_t noverrides;
};

/*
 * Compile function fn (a FilterFunction name) with operand value (NULL when absent) into c,
 * resolving relative operands against now_ms. Strings go into a. MS_EINVAL naming path for an
 * unknown function or an operand of the wrong shape (a configuration that skipped validation).
 */
enum ms_status ms_eng_cond_init(struct ms_eng_cond *c, struct ms_arena *a, const char *fn,
                                const json_t *value, int64_t now_ms, const char *path,
                                struct ms_error *err);

/* Does v satisfy c? NULL satisfies only IsNull and the negative functions. */
bool ms_eng_cond_eval(const struct ms_eng_cond *c, const struct ms_value *v);

/*
 * Compile config.filters, config.filter_logic and config.overrides (the normalized stored
 * configuration, model/sync_filter.c) into x, in arena a. Every Source must name model_id.
 * MS_EUNSUPP for filters on target fields; MS_EINVAL/MS_EUNPROC for a malformed stored
 * configuration.
 */
enum ms_status ms_eng_xform_init(struct ms_eng_xform *x, struct ms_arena *a, const json_t *config,
                                 const char *model_id, int64_t now_ms, struct ms_error *err);

/* Does the source row pass the filters (filter_logic, or all of them)? Columns must be bound. */
bool ms_eng_xform_keep(const struct ms_eng_xform *x, const struct ms_value *row);

/* Apply the overrides to the source row in place, in configuration order. */
void ms_eng_xform_override(const struct ms_eng_xform *x, struct ms_value *row);

/* JSON scalar → value (text copied into a; arrays and objects as their compact JSON text). */
void ms_eng_value_from_json(struct ms_arena *a, const json_t *j, struct ms_value *out);

#define MS_ENG_KEY_BUF 40 /* room for the canonical text of any non-text value */

/*
 * Canonical text of a key value: integers in decimal, reals (and MS_V_NUM, as the real of its
 * value) as %.17g, booleans true/false, text as is (*out then points into the value). buf
 * holds the non-text forms. Returns the length; *out is NULL for a NULL value.
 */
size_t ms_eng_key_text(const struct ms_value *v, char buf[MS_ENG_KEY_BUF], const char **out);

/* Parse a date ("YYYY-MM-DD") or date-time (RFC 3339, or with a space and no zone = UTC). */
bool ms_eng_parse_time(const char *s, size_t n, int64_t *ms, bool *date_only);

/* SQL LIKE on UTF-8 text: '%' any run, '_' one character, '\' escapes; case-sensitive. */
bool ms_eng_like(const char *s, size_t n, const char *pat, size_t m);

/* ---- plan.c: the frozen configuration of one execution ---- */

enum ms_eng_mode {
    MS_ENG_CREATE,
    MS_ENG_UPDATE,
    MS_ENG_UPSERT, /* updateOrCreate */
    MS_ENG_REMOVE,
    MS_ENG_REPLACE,
    MS_ENG_APPEND,
    MS_ENG_SNAPSHOT,
};

/* One target column: where its value comes from. */
struct ms_eng_col {
    const char *target; /* target field id (run arena) */
    const char *type;   /* UtilFieldType of its source ("string" for constants) */
    const char *field;  /* source field, NULL for a constant */
    size_t src;         /* the source column, set by ms_eng_plan_bind */
    struct ms_value k;  /* the constant (override_value) when field is NULL */
};

struct ms_eng_plan {
    struct ms_arena *arena; /* borrowed: the run arena everything below lives in */
    struct ms_sync sync;
    struct ms_model model;
    struct ms_connection src_conn, dst_conn;
    const struct ms_connector *src_impl, *dst_impl;
    json_t *src_cfg, *dst_cfg; /* owned: unsealed configurations for open() */
    enum ms_eng_mode mode;
    const char *mode_name;
    bool full;          /* replace without identity, snapshot: rewrite the object whole */
    const char *object; /* target object id */

    struct ms_eng_col *cols; /* [ncols] in write order */
    size_t ncols;
    const char **col_names, **col_types; /* [ncols] views for struct ms_write_plan */
    size_t key_col;       /* column of the identity target, MS_ENG_NO_COL without identity */
    const char *id_field; /* identity source field, NULL without identity */
    const char *id_type;  /* its UtilFieldType */
    size_t id_src;
    const char *identifier; /* the model's identifier field (used without identity), or NULL */
    size_t ident_src;

    struct ms_eng_xform xf;
    bool sync_all, skip_backfill, resync, test;
    const char **identities; /* options.identities as key texts, sorted; NULL = all records */
    size_t nidentities;
    int64_t now_ms; /* the run's clock for relative filters */
    uint64_t seed;  /* digest of mode and columns: a changed mapping changes every row hash */
};

/*
 * Build p's column plan, identity, filters and overrides from a sync configuration (as stored)
 * and its one model (fields and doc for types and the identifier), in arena a. mode_name is the
 * sync's mode. MS_EUNPROC/MS_EUNSUPP naming what cannot run.
 */
enum ms_status ms_eng_plan_config(struct ms_eng_plan *p, struct ms_arena *a, const json_t *config,
                                  const struct ms_model *model, int64_t now_ms,
                                  struct ms_error *err);

/*
 * Load and freeze the configuration of ex: its sync, the sync's one model, both connections
 * with their configurations unsealed with secret, and the execution options. On failure p
 * holds nothing that needs releasing beyond ms_eng_plan_release().
 */
enum ms_status ms_eng_plan_load(struct ms_eng_plan *p, struct ms_arena *a, struct ms_store *s,
                                const struct ms_execution *ex, const uint8_t *secret,
                                int64_t now_ms, struct ms_error *err);

/* Resolve every source field the plan reads against the model's output columns. */
enum ms_status ms_eng_plan_bind(struct ms_eng_plan *p, const char *const *cols, size_t ncols,
                                struct ms_error *err);

/* Is key text (len bytes) in options.identities (always true without that option)? */
bool ms_eng_plan_wants(const struct ms_eng_plan *p, const char *key, size_t len);

/* Release the unsealed configurations; safe on a zeroed or failed plan. */
void ms_eng_plan_release(struct ms_eng_plan *p);

/* Map a (bound, overridden) source row onto the target columns: vals[p->ncols]. */
void ms_eng_map(const struct ms_eng_plan *p, const struct ms_value *row, struct ms_value *vals);

/* A growable buffer for row encodings, reused for every row of a run. */
struct ms_eng_enc {
    uint8_t *p; /* owned */
    size_t cap;
};

/*
 * XXH3-128 of the canonical encoding of the row's mapped values: the plan seed, then per
 * column a type tag and the value (8 bytes for numbers, a 4-byte length and the bytes for
 * text and MS_V_NUM, each with its own tag), in column order, so two different records can
 * never encode alike.
 */
struct ms_hash128 ms_eng_row_hash(const struct ms_eng_plan *p, const struct ms_value *row,
                                  struct ms_eng_enc *e);
void ms_eng_enc_release(struct ms_eng_enc *e);

/* ---- diff.c: the snapshot index ---- */

/* 128-bit hash ↔ the 16 bytes kept in the store (lo then hi, little-endian). */
void ms_eng_hash_bytes(struct ms_hash128 h, uint8_t out[16]);
/* The 64-bit prefix the index keys on (never 0: 0 marks an empty slot). */
uint64_t ms_eng_prefix(const uint8_t b[16]);

struct ms_eng_slot {
    uint64_t key; /* key-hash prefix, 0 = empty */
    uint64_t row; /* row-hash prefix */
};

/*
 * Open addressing with linear probing over 16-byte slots, keyed by the key-hash prefix, with a
 * separate seen bitmap. The slot of a key is fastrange(key, cap), so cap need not be a power
 * of two and the table is sized to its load instead of the next power of two.
 */
struct ms_eng_index {
    struct ms_eng_slot *slot; /* [cap], owned */
    uint64_t *seen;           /* [(cap + 63) / 64], owned */
    size_t cap;
    size_t n;     /* occupied slots */
    size_t nseen; /* occupied slots marked seen */
};

#define MS_ENG_NOT_FOUND ((size_t)-1)

/* Room for expect entries at most 70% full. */
void ms_eng_index_init(struct ms_eng_index *ix, size_t expect);
void ms_eng_index_release(struct ms_eng_index *ix);
/* Insert key or overwrite its row; grows past 80% full. Returns the slot (not seen if new). */
size_t ms_eng_index_put(struct ms_eng_index *ix, uint64_t key, uint64_t row);
/* The slot of key, or MS_ENG_NOT_FOUND. */
size_t ms_eng_index_find(const struct ms_eng_index *ix, uint64_t key);
/* Mark a slot seen; returns whether it already was. */
bool ms_eng_index_mark(struct ms_eng_index *ix, size_t slot);
bool ms_eng_index_seen(const struct ms_eng_index *ix, size_t slot);
/* Forget every seen mark. */
void ms_eng_index_unmark(struct ms_eng_index *ix);
/* The next occupied, unseen slot at or after *pos (then *pos is past it): false at the end. */
bool ms_eng_index_next_gone(const struct ms_eng_index *ix, size_t *pos, struct ms_eng_slot *out);
/* Bytes the index holds. */
size_t ms_eng_index_bytes(const struct ms_eng_index *ix);

/* A set of 64-bit key prefixes: keys this run met that the snapshot does not have. */
struct ms_eng_keyset {
    uint64_t *k; /* [cap], owned, 0 = empty */
    size_t cap, n;
};

/* Add key; false when it was already there. */
bool ms_eng_keyset_add(struct ms_eng_keyset *ks, uint64_t key);
bool ms_eng_keyset_has(const struct ms_eng_keyset *ks, uint64_t key);
void ms_eng_keyset_release(struct ms_eng_keyset *ks);

/* ---- recordlog.c: <log_dir>/<sync_id>/<execution_id>/<type>.jsonl ---- */

enum ms_eng_log_type {
    MS_ENG_LOG_RECORDS,
    MS_ENG_LOG_INSERTS,
    MS_ENG_LOG_UPDATES,
    MS_ENG_LOG_DELETES,
    MS_ENG_LOG_ERRORS,
    MS_ENG_LOG_WARNINGS,
    MS_ENG_LOG_COUNT
};

/* The record logs of one execution. Files are created on their first line. */
struct ms_eng_log {
    char *dir;                 /* owned; NULL = record logs are off */
    FILE *f[MS_ENG_LOG_COUNT]; /* owned, NULL until the first line */
    bool broken;               /* a write failed: logs are off for the rest of the run */
    char why[200];             /* what failed, for the console log */
    char *line;                /* owned: the line being built, reused for every line */
    size_t len, cap;           /* bytes built / allocated at line */
    const char **names_of;     /* owned copy of the names array the cache below is built from */
    size_t nnames;             /* names in the cache */
    char *names;               /* owned: the names escaped once, `{"n0":` `,"n1":` …, joined */
    size_t *name_end;          /* owned [nnames]: where each of them ends in names */
};

/* log_dir NULL turns record logs off. Nothing is created yet. */
void ms_eng_log_init(struct ms_eng_log *l, const char *log_dir, const char *sync_id,
                     const char *exec_id);
/*
 * Append {"key","op","data"} (+ "error" or "warning" with note) to the type's file. key may be
 * NULL (JSON null); vals NULL writes "data": null, else names[n]/vals[n] as an object.
 */
void ms_eng_log_line(struct ms_eng_log *l, enum ms_eng_log_type t, const struct ms_value *key,
                     const char *op, const char *const *names, const struct ms_value *vals,
                     size_t n, const char *note);
/*
 * One op's line, built once: {"key","op","data"} to records.jsonl, with "error": note there and
 * in errors.jsonl when t is MS_ENG_LOG_ERRORS. For t inserts, updates or deletes the op's file
 * is only created, empty: its lines are those of records.jsonl with that op and no "error"
 * (ms_engine_log_line_of), read from there, so each line is written once. Arguments as for
 * ms_eng_log_line; names are escaped on first use and reused while the same array of name
 * pointers comes back (the run's column names).
 */
void ms_eng_log_record(struct ms_eng_log *l, enum ms_eng_log_type t, const struct ms_value *key,
                       const char *op, const char *const *names, const struct ms_value *vals,
                       size_t n, const char *note);
/* Push buffered lines to the files (at each batch commit). MS_EUPSTREAM when writing failed. */
enum ms_status ms_eng_log_flush(struct ms_eng_log *l, struct ms_error *err);
void ms_eng_log_close(struct ms_eng_log *l);

/* Append v as JSON to f (text escaped; invalid UTF-8 bytes become U+FFFD; reals in their
 * shortest exact form, null when not finite; MS_V_NUM as is). */
void ms_eng_json_value(FILE *f, const struct ms_value *v);

/* ---- pipeline.c: the reader and writer threads of a run ---- */

enum ms_eng_batch_state {
    MS_ENG_FREE, /* the reader's to fill */
    MS_ENG_FULL, /* read, waiting for the engine */
    MS_ENG_HELD, /* the engine's, until its next ms_eng_reader_next() */
};

/* One batch of source rows on its way from the reader to the engine. */
struct ms_eng_batch {
    struct ms_rows rows; /* cells in rows.arena (owned), which only the state's owner touches */
    enum ms_status st;   /* of the read() that filled it */
    struct ms_error err; /* its message when st is not MS_OK */
    enum ms_eng_batch_state state; /* mu */
};

/*
 * The reader: a thread that reads the model one batch ahead of the engine. Between
 * ms_eng_reader_start() and ms_eng_reader_stop() the source connection belongs to the thread,
 * and each batch to the owner its state names. mu guards the fields marked so; the others are
 * written by start and stop, or by one side only (fill: the thread; take: the engine).
 */
struct ms_eng_reader {
    const struct ms_connector *impl;
    struct ms_cx *cx;
    size_t cap; /* rows per read() */
    struct ms_eng_batch b[2];
    unsigned fill, take;
    bool started;  /* start ran, stop has not */
    bool threaded; /* the thread runs; false: ms_eng_reader_next() reads on the caller's thread */
    bool stop;     /* mu: the thread ends before its next read() */
    int64_t us;    /* mu: time spent in read() and not reported yet */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t ready; /* a batch became full */
    pthread_cond_t room;  /* a batch became free, or stop was set */
};

/*
 * Start reading batches of cap rows from cx, on which read_begin() succeeded into head (its
 * ncols and cols are copied into both batches). Engine thread.
 */
void ms_eng_reader_start(struct ms_eng_reader *rd, const struct ms_connector *impl,
                         struct ms_cx *cx, const struct ms_rows *head, size_t cap);
/*
 * Give back the batch of the previous call and take the next one, waiting for it: *out is
 * valid until the next call or stop; nrows == 0 at the end. A failed read() returns its status
 * and message. Not to be called again after the end or a failure. Adds the time the thread
 * spent in read() since the last report to *read_us.
 */
enum ms_status ms_eng_reader_next(struct ms_eng_reader *rd, struct ms_rows **out, int64_t *read_us,
                                  struct ms_error *err);
/*
 * Stop reading: the thread ends after the read() it may be in (none starts after this) and is
 * joined; the batches are freed. Adds the remaining read() time to *read_us. The source
 * connection is the caller's again (for read_end()). A no-op unless started.
 */
void ms_eng_reader_stop(struct ms_eng_reader *rd, int64_t *read_us);

/*
 * The writer: a thread that calls the target's write() for the engine, one batch at a time,
 * started by the first submit. From ms_eng_writer_submit() until ms_eng_writer_wait() returns,
 * the ops, their arena and the target connection belong to the thread. mu guards the fields
 * marked so; job is written only by the engine (under mu).
 */
struct ms_eng_writer {
    const struct ms_connector *impl; /* mu */
    struct ms_cx *cx;                /* mu */
    struct ms_ops *job;              /* mu: submitted, result not collected; NULL when none */
    bool done;                       /* mu: job's write() returned */
    bool stop;                       /* mu: the thread ends when idle */
    enum ms_status st;               /* mu: job's result */
    struct ms_error err;             /* mu */
    int64_t us;                      /* mu: job's time in write() */
    bool started, threaded;          /* engine only; !threaded: submit writes on its own thread */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t go;       /* a job was submitted, or stop was set */
    pthread_cond_t finished; /* the job is done */
};

/* Hand ops to the writer (none may be outstanding); impl->write(cx, ops) runs on its thread. */
void ms_eng_writer_submit(struct ms_eng_writer *w, const struct ms_connector *impl,
                          struct ms_cx *cx, struct ms_ops *ops);
/*
 * Wait for the submitted batch and return write()'s status (its message in err); MS_OK when
 * nothing is outstanding. Adds the time write() took to *write_us. The ops are the caller's
 * again.
 */
enum ms_status ms_eng_writer_wait(struct ms_eng_writer *w, int64_t *write_us, struct ms_error *err);
/* Wait for any outstanding batch (its result is dropped), end the thread and join it. */
void ms_eng_writer_stop(struct ms_eng_writer *w);

#ifdef MS_TESTING
/* pipeline.c: when positive, the writer sleeps before each write() (to have one in flight). */
extern _Atomic int64_t ms_eng_test_write_delay_ms;
/* engine.c: ops per write: batch_rows (the run's, 0 when unset), else dst->write_batch, bounded. */
size_t eng_ops_cap(const struct ms_connector *dst, size_t batch_rows);
#endif

#ifdef MS_TESTING
/* engine.c: when non-zero, the clock relative filters use, instead of the wall clock. */
extern int64_t ms_eng_test_now_ms;
/* engine.c: when non-zero, the first EBUSY back-off step in ms (instead of 500). */
extern int64_t ms_eng_test_backoff_ms;
/* engine.c: removed records whose key texts are read per store call (65,536). */
extern size_t ms_eng_test_gone_window;
#endif

#endif
