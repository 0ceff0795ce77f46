/*
 * sqlite_int.h: what the sqlite connector's files share (connectors/sqlite*.c only).
 * sqlite.c holds the configuration, connection, model reads, listing and target creation,
 * sqlite_write.c the writes (write_begin, write, write_end). SQLite's types appear here only
 * as their struct tags, so this header does not need <sqlite3.h>; a connection and everything
 * hanging off it belong to the thread that opened it.
 */
#ifndef MS_CONNECTORS_SQLITE_INT_H
#define MS_CONNECTORS_SQLITE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include "connectors/connector.h"
#include "connectors/connectors_int.h"
#include "core/buf.h"
#include "core/error.h"

#define SQLITE_MAX_SQL_BYTES ((size_t)1 << 20) /* generated CREATE TABLE and write text */

struct sqlite3;      /* SQLite's connection */
struct sqlite3_stmt; /* SQLite's prepared statement */

/* One execution's writes, between write_begin and write_end; zeroed when idle. */
struct sqlite_w {
    const struct ms_write_plan *plan; /* borrowed: the plan outlives write_end */
    struct ms_cx_cols names;          /* stored names of plan->cols, in plan order */
    char *table;                      /* owned: the stored table name */
    struct sqlite3_stmt *ins;         /* owned: INSERT (insert-if-absent when keyed, not append) */
    struct sqlite3_stmt *upd, *del;   /* owned: by key; NULL without a key */
    struct sqlite3_stmt *ups;         /* owned: ON CONFLICT upsert; NULL without a unique key */
    int ins_key;                      /* parameter of the key in ins (NOT EXISTS form), or 0 */
    size_t key;                       /* index of plan->key_col in plan->cols (when keyed) */
    bool keyed;                       /* plan->key_col is set */
    bool strict;                      /* mode update: an update that matches nothing is rejected */
    bool full;                        /* one transaction from write_begin to write_end */
    bool lost;                        /* the full transaction was rolled back under us */
    const char *msg;                  /* the last statement error, in the batch arena */
};

struct sqlite_cx {
    struct ms_cx base;         /* must be first */
    struct sqlite3 *db;        /* owned; confined to the opening thread */
    struct sqlite3_stmt *read; /* the model being read, between read_begin and read_end */
    bool read_done;         /* read stepped to SQLITE_DONE: never step again (it would restart) */
    struct ms_cx_cols cols; /* column names of the read, owned until read_end */
    struct sqlite_w w;      /* the write in progress, between write_begin and write_end */
};

/* ---- sqlite.c ---- */

/* Map a SQLite failure (rc: its code): busy/locked is transient (MS_EBUSY, the engine
 * retries), the rest MS_EUPSTREAM; "<what>: <SQLite's message>", rc in err->native. */
enum ms_status ms_cx_sqlite_fail(struct sqlite_cx *s, struct ms_error *err, int rc,
                                 const char *what);
/* Double-quoted identifier ("" doubling) appended to b; fails when b's cap is reached. */
enum ms_status ms_cx_sqlite_quote_ident(struct ms_buf *b, const char *name);
/*
 * The stored name of a user table (or view, when views is set) matching name the way SQLite
 * matches identifiers (ASCII case-insensitively): a malloc'd *stored_out, or NULL if none.
 */
enum ms_status ms_cx_sqlite_find_table(struct sqlite_cx *s, const char *name, bool views,
                                       char **stored_out, struct ms_error *err);

/* ---- sqlite_write.c: the destination slots ---- */

enum ms_status ms_cx_sqlite_write_begin(struct ms_cx *cx, const struct ms_write_plan *plan,
                                        struct ms_error *err);
enum ms_status ms_cx_sqlite_write(struct ms_cx *cx, struct ms_ops *ops, struct ms_error *err);
enum ms_status ms_cx_sqlite_write_end(struct ms_cx *cx, bool commit, struct ms_error *err);
/* Finalize the run's statements and roll back a transaction still open; s->w is zeroed. */
void ms_cx_sqlite_write_release(struct sqlite_cx *s);

#endif
