/*
 * postgresql_int.h: what the postgresql connector's files share (connectors/postgresql*.c
 * only). postgresql.c holds the configuration, connection, listing and target creation,
 * postgresql_read.c the model description and COPY reads, postgresql_write.c the staged COPY
 * writes. libpq's types appear here only as their struct tags, so this header does not need
 * <libpq-fe.h>; a connection and everything hanging off it belong to the thread that opened it.
 */
#ifndef MS_CONNECTORS_POSTGRESQL_INT_H
#define MS_CONNECTORS_POSTGRESQL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "connectors/connector.h"
#include "core/buf.h"
#include "core/error.h"

#ifndef MS_WITH_PG
#define MS_WITH_PG 0
#endif

#define PG_NAME_BYTES 63 /* NAMEDATALEN - 1: longer identifiers get truncated */

/* A model configuration: query set, or schema and table. */
struct pg_model {
    const char *query; /* borrowed; NULL for a table */
    char schema[PG_NAME_BYTES + 1];
    char table[PG_NAME_BYTES + 1];
};

/*
 * Split "schema.table" (first dot; no dot means "public") into bounded names. False when a
 * part is empty, longer than PG_NAME_BYTES, or holds a NUL byte (len is the full length).
 */
bool ms_cx_pg_split_name(const char *s, size_t len, char schema[PG_NAME_BYTES + 1],
                         char table[PG_NAME_BYTES + 1]);

/* Check a model configuration ({"table"} or {"query"}) into *m, which borrows from mcfg. */
enum ms_status ms_cx_pg_model_read(const json_t *mcfg, struct pg_model *m, struct ms_error *err);

#if MS_WITH_PG

struct pg_conn;   /* libpq's PGconn */
struct pg_result; /* libpq's PGresult */
struct pg_wstate; /* a write session (postgresql_write.c) */

/* How a column's COPY text becomes a struct ms_value (PG_K_REAL: float4 and float8, read as
 * MS_V_NUM, or text for NaN and infinities). */
enum pg_kind { PG_K_TEXT, PG_K_INT, PG_K_REAL, PG_K_BOOL };

struct pg_cx {
    struct ms_cx base;    /* must be first */
    struct pg_conn *conn; /* owned; confined to the thread that opened it */
    bool in_tx;           /* the read transaction is open: ROLLBACK owed */
    bool copying;         /* COPY OUT running: rows may still come */
    size_t ncols;         /* columns of the running read */
    enum pg_kind *kinds;  /* owned [ncols] */
    const char *invalid;  /* "configuration.query" while reading a query, else NULL */
    struct pg_wstate *w;  /* owned; the open write session, NULL when none */
    bool w_tx;            /* a full rewrite's transaction is open: COMMIT or ROLLBACK owed */
};

/* Who is at fault when a statement fails, and the names to use in the message. */
struct pg_blame {
    const char *what;    /* "read", "fields", …: the message prefix */
    const char *invalid; /* field named when the SQL text is wrong (a query), or NULL */
    const char *missing; /* field named when the relation or schema does not exist, or NULL */
};

/* ---- postgresql.c ---- */

/* Copy src (may be NULL) to dst[n] on one line: white space runs become one space, ends trimmed. */
void ms_cx_pg_one_line(const char *src, char *dst, size_t n);
/* Record a failed statement (res may be NULL) with its SQLSTATE in err->sqlstate. */
enum ms_status ms_cx_pg_fail_res(struct pg_cx *s, const struct pg_result *res,
                                 const struct pg_blame *b, struct ms_error *err);
/* Run a statement that returns no rows. */
enum ms_status ms_cx_pg_exec_cmd(struct pg_cx *s, const char *sql, const struct pg_blame *b,
                                 struct ms_error *err);
/* Run a query with n text parameters; *out (PQclear it) is set only on success. */
enum ms_status ms_cx_pg_query(struct pg_cx *s, const char *sql, int n, const char *const *params,
                              const struct pg_blame *b, struct pg_result **out,
                              struct ms_error *err);
/* MS_EINTERNAL while a read or a full rewrite holds the connection's transaction. */
enum ms_status ms_cx_pg_idle(const struct pg_cx *s, struct ms_error *err);
/* "schema"."table" quoted (a new string), or NULL when libpq refuses a name. */
char *ms_cx_pg_quote_table(struct pg_cx *s, const char *schema, const char *table);

/* ---- postgresql_read.c: the source slots ---- */

enum ms_status ms_cx_pg_fields(struct ms_cx *cx, const json_t *mcfg, json_t **out,
                               struct ms_error *err);
enum ms_status ms_cx_pg_read_begin(struct ms_cx *cx, const json_t *mcfg, struct ms_rows *rows,
                                   struct ms_error *err);
enum ms_status ms_cx_pg_read(struct ms_cx *cx, struct ms_rows *rows, struct ms_error *err);
void ms_cx_pg_read_end(struct ms_cx *cx);

/* ---- postgresql_write.c: the destination slots ---- */

enum ms_status ms_cx_pg_write_begin(struct ms_cx *cx, const struct ms_write_plan *plan,
                                    struct ms_error *err);
enum ms_status ms_cx_pg_write(struct ms_cx *cx, struct ms_ops *ops, struct ms_error *err);
enum ms_status ms_cx_pg_write_end(struct ms_cx *cx, bool commit, struct ms_error *err);

#ifdef MS_TESTING
/* postgresql_write.c: status of a failed write by SQLSTATE (NULL: the connection failed). */
enum ms_status pgw_status_of(const char *state);
/* postgresql_write.c: append v in COPY text format (\N for NULL; \ tab LF CR escaped); exact:
 * reals as %.17g (for float8 columns) rather than their shortest form. */
void pgw_put_value(struct ms_buf *b, const struct ms_value *v, bool exact);
#endif

#endif /* MS_WITH_PG */

#endif
