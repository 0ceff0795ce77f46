/*
 * postgresql_read.c: the source side of the postgresql connector: describing a model (fields)
 * and reading it.
 *
 * A read streams COPY (<model>) TO STDOUT in text format inside a REPEATABLE READ READ ONLY
 * transaction, so a model that would write fails and memory holds one batch however large the
 * model is (COPY out is ~3x cheaper than row-by-row fetching; BENCHMARKS.md). Column names and
 * types come from describing the statement without running it. A connection belongs to the
 * thread that opened it.
 */
#include "connectors/postgresql_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if MS_WITH_PG
#include <libpq-fe.h>

#include "connectors/connectors_int.h"
#include "core/buf.h"
#include "core/str.h"
#include "core/xmalloc.h"

/* Type OIDs from pg_type.dat; stable across server versions. */
enum {
    PG_OID_BOOL = 16,
    PG_OID_INT8 = 20,
    PG_OID_INT2 = 21,
    PG_OID_INT4 = 23,
    PG_OID_OID = 26,
    PG_OID_JSON = 114,
    PG_OID_FLOAT4 = 700,
    PG_OID_FLOAT8 = 701,
    PG_OID_DATE = 1082,
    PG_OID_TIME = 1083,
    PG_OID_TIMESTAMP = 1114,
    PG_OID_TIMESTAMPTZ = 1184,
    PG_OID_TIMETZ = 1266,
    PG_OID_NUMERIC = 1700,
    PG_OID_JSONB = 3802,
};

/*
 * COPY text format field decoding (PostgreSQL's CopyReadAttributesText): \b \f \n \r \t \v,
 * \ followed by 1-3 octal digits, \x followed by 1-2 hex digits, and any other escaped byte
 * stands for itself. In place: the result is never longer. Returns the decoded length.
 */
static int
pg_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

MS_STATIC size_t
pg_copy_unescape(char *p, size_t n)
{
    static const char esc[] = "bfnrtv", ctl[] = "\b\f\n\r\t\v";
    size_t i = 0, o = 0;

    while (i < n) {
        char c = p[i++];
        const char *e;
        int v;

        if (c != '\\' || i == n) {
            p[o++] = c;
            continue;
        }
        c = p[i++];
        if (c != '\0' && (e = strchr(esc, c)) != NULL) {
            p[o++] = ctl[e - esc];
        } else if (c == 'x' && i < n && (v = pg_hexval(p[i])) >= 0) {
            if (++i < n && pg_hexval(p[i]) >= 0)
                v = v * 16 + pg_hexval(p[i++]);
            p[o++] = (char)v;
        } else if (c >= '0' && c <= '7') {
            v = c - '0';
            for (int k = 0; k < 2 && i < n && p[i] >= '0' && p[i] <= '7'; k++)
                v = v * 8 + (p[i++] - '0');
            p[o++] = (char)(v & 0xff);
        } else {
            p[o++] = c; /* a backslash, or any other escaped byte, stands for itself */
        }
    }
    return o;
}

/* One described column. */
struct pg_col {
    Oid oid;          /* the column type (a domain's base type: that is what the server sends) */
    char category;    /* pg_type.typcategory ('A' arrays, …) */
    char remote[128]; /* format_type() of the column type */
};
static enum ms_status
pg_model_sql(struct pg_cx *s, const struct pg_model *m, const char *what, char **sql,
             struct pg_blame *b, struct ms_error *err)
{
    char *qt;
    size_t n;

    if (m->query != NULL) {
        /* Trailing semicolons would break the COPY ( … ) wrapper; they mean nothing here. */
        n = strlen(m->query);
        while (n > 0 && strchr(" \t\r\n;", m->query[n - 1]) != NULL)
            n--;
        *sql = ms_xstrndup(m->query, n);
        *b = (struct pg_blame){what, "configuration.query", NULL};
        return MS_OK;
    }
    qt = ms_cx_pg_quote_table(s, m->schema, m->table);
    if (qt == NULL)
        return ms_fail_at(err, MS_EINVAL, "configuration.table", "is not a valid name");
    n = strlen(qt) + 16;
    *sql = ms_xmalloc(n);
    snprintf(*sql, n, "SELECT * FROM %s", qt);
    free(qt);
    *b = (struct pg_blame){what, NULL, "configuration.table"};
    return MS_OK;
}

/* Names must be unique: rows become {column: value} objects downstream. */
static enum ms_status
pg_check_names(const PGresult *desc, const struct pg_blame *b, struct ms_error *err)
{
    int n = PQnfields(desc);
    const char *field = b->invalid != NULL ? b->invalid : b->missing;

    if (n == 0)
        return ms_fail_at(err, b->invalid != NULL ? MS_EINVAL : MS_EUNPROC, field,
                          "returns no columns");
    if (n > MS_MAX_COLUMNS)
        return ms_fail_at(err, MS_ETOOBIG, field, "returns %d columns, over the limit of %d", n,
                          MS_MAX_COLUMNS);
    for (int i = 1; i < n; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(PQfname(desc, i), PQfname(desc, j)) == 0)
                return ms_fail_at(err, MS_EINVAL, field, "column \"%s\" appears twice",
                                  PQfname(desc, i));
    return MS_OK;
}

/* Prepare sql as the unnamed statement and describe it, without running it. */
static enum ms_status
pg_describe_sql(struct pg_cx *s, const char *sql, const struct pg_blame *b, PGresult **out,
                struct ms_error *err)
{
    PGresult *res = PQprepare(s->conn, "", sql, 0, NULL);
    enum ms_status st;

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        st = ms_cx_pg_fail_res(s, res, b, err);
        PQclear(res);
        return st;
    }
    PQclear(res);
    res = PQdescribePrepared(s->conn, "");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        st = ms_cx_pg_fail_res(s, res, b, err);
    else
        st = pg_check_names(res, b, err);
    if (st == MS_OK)
        *out = res;
    else
        PQclear(res);
    return st;
}

/* Name and category of each column type. RowDescription already reports a domain's base type. */
#define PG_SQL_TYPES                                                                               \
    "SELECT oid, pg_catalog.format_type(oid, NULL), typcategory FROM pg_catalog.pg_type"           \
    " WHERE oid = ANY($1::pg_catalog.oid[])"

/* Fill cols[PQnfields(desc)] from the catalog, in one round trip. */
static enum ms_status
pg_describe_types(struct pg_cx *s, const PGresult *desc, struct pg_col *cols, struct ms_error *err)
{
    static const struct pg_blame b = {"type lookup", NULL, NULL};
    int n = PQnfields(desc);
    struct ms_buf arr;
    const char *param;
    PGresult *res = NULL;
    enum ms_status st;

    ms_buf_init(&arr, (size_t)n * 12 + 3);
    ms_buf_addc(&arr, '{');
    for (int i = 0; i < n; i++)
        ms_buf_addf(&arr, i > 0 ? ",%u" : "%u", (unsigned)PQftype(desc, i));
    ms_buf_addc(&arr, '}');
    param = ms_buf_str(&arr);
    st = ms_cx_pg_query(s, PG_SQL_TYPES, 1, &param, &b, &res, err);
    for (int i = 0; st == MS_OK && i < n; i++) {
        unsigned oid = PQftype(desc, i);
        int r = 0;

        while (r < PQntuples(res) && strtoul(PQgetvalue(res, r, 0), NULL, 10) != oid)
            r++;
        cols[i].oid = oid;
        if (r == PQntuples(res)) { /* dropped meanwhile: the value reads as text */
            snprintf(cols[i].remote, sizeof(cols[i].remote), "oid %u", oid);
            continue;
        }
        cols[i].category = PQgetvalue(res, r, 2)[0];
        snprintf(cols[i].remote, sizeof(cols[i].remote), "%s", PQgetvalue(res, r, 1));
    }
    PQclear(res);
    ms_buf_release(&arr);
    return st;
}

static enum pg_kind
pg_kind_of(Oid oid)
{
    switch (oid) {
    case PG_OID_INT2:
    case PG_OID_INT4:
    case PG_OID_INT8:
    case PG_OID_OID:
        return PG_K_INT;
    case PG_OID_FLOAT4:
    case PG_OID_FLOAT8:
        return PG_K_REAL;
    case PG_OID_BOOL:
        return PG_K_BOOL;
    default:
        return PG_K_TEXT; /* numeric stays text: its keys and JSON form stay what they were */
    }
}

/* ModelField / TargetField type of a column type. */
static const char *
pg_type_of(Oid oid, char category)
{
    switch (oid) {
    case PG_OID_INT2:
    case PG_OID_INT4:
    case PG_OID_INT8:
    case PG_OID_OID:
    case PG_OID_FLOAT4:
    case PG_OID_FLOAT8:
    case PG_OID_NUMERIC:
        return "number";
    case PG_OID_BOOL:
        return "boolean";
    case PG_OID_DATE:
    case PG_OID_TIME:
    case PG_OID_TIMETZ:
    case PG_OID_TIMESTAMP:
    case PG_OID_TIMESTAMPTZ:
        return "datetime";
    case PG_OID_JSON:
    case PG_OID_JSONB:
        return "object";
    default:
        return category == 'A' ? "array" : "string";
    }
}

/* Describe a model: *desc (PQclear it) and *cols (free it), [PQnfields(*desc)]. */
static enum ms_status
pg_describe_model(struct pg_cx *s, const json_t *mcfg, const char *what, PGresult **desc,
                  struct pg_col **cols, struct pg_blame *b, char **sql, struct ms_error *err)
{
    struct pg_model m;
    enum ms_status st;

    *desc = NULL;
    *cols = NULL;
    *sql = NULL;
    st = ms_cx_pg_model_read(mcfg, &m, err);
    if (st == MS_OK)
        st = pg_model_sql(s, &m, what, sql, b, err);
    if (st == MS_OK)
        st = pg_describe_sql(s, *sql, b, desc, err);
    if (st == MS_OK) {
        *cols = ms_xcalloc((size_t)PQnfields(*desc), sizeof(**cols));
        st = pg_describe_types(s, *desc, *cols, err);
    }
    return st;
}

enum ms_status
ms_cx_pg_fields(struct ms_cx *cx, const json_t *mcfg, json_t **out, struct ms_error *err)
{
    struct pg_cx *s = (struct pg_cx *)cx;
    PGresult *desc = NULL;
    struct pg_col *cols = NULL;
    struct pg_blame b;
    char *sql = NULL;
    json_t *arr;
    enum ms_status st = ms_cx_pg_idle(s, err);

    if (st == MS_OK)
        st = pg_describe_model(s, mcfg, "fields", &desc, &cols, &b, &sql, err);
    if (st == MS_OK) {
        arr = json_array();
        for (int i = 0; i < PQnfields(desc); i++)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name", PQfname(desc, i),
                                                 "type", pg_type_of(cols[i].oid, cols[i].category),
                                                 "remote_type", cols[i].remote));
        *out = arr;
    }
    PQclear(desc);
    free(cols);
    free(sql);
    return st;
}

/* ---- reading ---- */

void
ms_cx_pg_read_end(struct ms_cx *cx)
{
    struct pg_cx *s = (struct pg_cx *)cx;
    PGresult *res;
    char *line, errbuf[256];

    if (s->copying) {
        /* Stop the server producing rows nobody will read, then consume what is in flight. */
        PGcancel *cancel = PQgetCancel(s->conn);

        if (cancel != NULL)
            PQcancel(cancel, errbuf, sizeof(errbuf));
        PQfreeCancel(cancel);
        while (PQgetCopyData(s->conn, &line, 0) > 0)
            PQfreemem(line);
        while ((res = PQgetResult(s->conn)) != NULL)
            PQclear(res);
        s->copying = false;
    }
    if (s->in_tx) {
        res = PQexec(s->conn, "ROLLBACK");
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQstatus(s->conn) == CONNECTION_OK) {
            PQclear(res); /* a cancel that landed after the COPY ended: ROLLBACK again */
            res = PQexec(s->conn, "ROLLBACK");
        }
        PQclear(res);
        s->in_tx = false;
    }
    free(s->kinds);
    s->kinds = NULL;
    s->ncols = 0;
    s->invalid = NULL;
}

/* Column names into rows (read_begin's arena lives until read_end) and the decoders. */
static void
pg_read_cols(struct pg_cx *s, const PGresult *desc, const struct pg_col *cols, struct ms_rows *rows)
{
    size_t n = (size_t)PQnfields(desc);
    const char **names = ms_arena_alloc(rows->arena, n * sizeof(*names));

    s->kinds = ms_xmalloc(n * sizeof(*s->kinds));
    for (size_t i = 0; i < n; i++) {
        names[i] = ms_arena_strdup(rows->arena, PQfname(desc, (int)i));
        s->kinds[i] = pg_kind_of(cols[i].oid);
    }
    s->ncols = n;
    rows->ncols = n;
    rows->cols = names;
}

/* Start COPY (sql) TO STDOUT. The newline ends a trailing "--" comment in the query. */
static enum ms_status
pg_copy_start(struct pg_cx *s, const char *sql, const struct pg_blame *b, struct ms_error *err)
{
    size_t n = strlen(sql) + 32;
    char *copy = ms_xmalloc(n);
    PGresult *res;
    enum ms_status st = MS_OK;

    snprintf(copy, n, "COPY (\n%s\n) TO STDOUT", sql);
    res = PQexec(s->conn, copy);
    if (PQresultStatus(res) == PGRES_COPY_OUT)
        s->copying = true;
    else
        st = ms_cx_pg_fail_res(s, res, b, err);
    PQclear(res);
    free(copy);
    return st;
}

enum ms_status
ms_cx_pg_read_begin(struct ms_cx *cx, const json_t *mcfg, struct ms_rows *rows,
                    struct ms_error *err)
{
    static const struct pg_blame begin = {"read", NULL, NULL};
    struct pg_cx *s = (struct pg_cx *)cx;
    PGresult *desc = NULL;
    struct pg_col *cols = NULL;
    struct pg_blame b;
    char *sql = NULL;
    enum ms_status st;

    ms_cx_pg_read_end(cx); /* a read left open is over now */
    if (s->w_tx) /* BEGIN would only warn, and read_end's ROLLBACK would undo the rewrite */
        return ms_fail(err, MS_EINTERNAL, "postgresql: a full rewrite is in progress");
    /* One snapshot for the describe and the COPY; READ ONLY makes a writing model fail. */
    st = ms_cx_pg_exec_cmd(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", &begin, err);
    if (st != MS_OK)
        return st;
    s->in_tx = true;
    st = pg_describe_model(s, mcfg, "read", &desc, &cols, &b, &sql, err);
    if (st == MS_OK) {
        pg_read_cols(s, desc, cols, rows);
        s->invalid = b.invalid;
        st = pg_copy_start(s, sql, &b, err);
    }
    PQclear(desc);
    free(cols);
    free(sql);
    if (st != MS_OK)
        ms_cx_pg_read_end(cx);
    return st;
}

/* NaN and the infinities: a float's text that is no JSON number, kept as text. */
static bool
pg_num_special(const char *p, size_t len)
{
    return (len == 3 && memcmp(p, "NaN", 3) == 0) || (len == 8 && memcmp(p, "Infinity", 8) == 0) ||
           (len == 9 && memcmp(p, "-Infinity", 9) == 0);
}

/* A non-text cell. Malformed text from the server is MS_EUPSTREAM. */
static enum ms_status
pg_cell_typed(struct pg_cx *s, struct ms_rows *rows, size_t c, const char *p, size_t len,
              struct ms_value *v, struct ms_error *err)
{
    enum ms_status st;
    bool num;

    switch (s->kinds[c]) {
    case PG_K_INT:
        if (ms_str_to_i64((struct ms_str){p, len}, &v->u.i) != MS_OK)
            break;
        v->type = MS_V_INT;
        return MS_OK;
    case PG_K_REAL: /* the server's own text: no strtod and no printf on the way through */
        num = ms_value_num_ok(p, len);
        if (!num && !pg_num_special(p, len))
            break;
        st = ms_value_set_text(rows, v, p, len, err);
        if (st == MS_OK && num)
            v->type = MS_V_NUM;
        return st;
    case PG_K_BOOL:
        if (len != 1 || (p[0] != 't' && p[0] != 'f'))
            break;
        v->type = MS_V_BOOL;
        v->u.b = p[0] == 't';
        return MS_OK;
    case PG_K_TEXT:
        break;
    }
    return ms_fail(err, MS_EUPSTREAM, "postgresql read: unexpected value in column %zu", c + 1);
}

/* One cell from its raw COPY field (decoded in place). */
static enum ms_status
pg_cell(struct pg_cx *s, struct ms_rows *rows, size_t c, char *p, size_t len, struct ms_value *v,
        struct ms_error *err)
{
    if (len == 2 && p[0] == '\\' && p[1] == 'N')
        return MS_OK; /* NULL: cells start as MS_V_NULL */
    if (s->kinds[c] != PG_K_TEXT)
        return pg_cell_typed(s, rows, c, p, len, v, err); /* never escaped */
    if (memchr(p, '\\', len) != NULL)
        len = pg_copy_unescape(p, len);
    return ms_value_set_text(rows, v, p, len, err);
}

/* One COPY row ("a\tb\n"): tabs separate fields (tabs inside values arrive escaped). */
static enum ms_status
pg_row(struct pg_cx *s, struct ms_rows *rows, char *line, size_t n, struct ms_error *err)
{
    struct ms_value *cells = ms_rows_push(rows);
    size_t c = 0, start = 0;
    enum ms_status st = MS_OK;

    if (n > 0 && line[n - 1] == '\n')
        n--;
    for (size_t i = 0; st == MS_OK && i <= n; i++) {
        if (i < n && line[i] != '\t')
            continue;
        if (c == s->ncols)
            return ms_fail(err, MS_EUPSTREAM, "postgresql read: a COPY row has too many fields");
        st = pg_cell(s, rows, c, line + start, i - start, &cells[c], err);
        c++;
        start = i + 1;
    }
    if (st == MS_OK && c != s->ncols)
        st = ms_fail(err, MS_EUPSTREAM, "postgresql read: a COPY row has too few fields");
    return st;
}

/* The COPY is over: its result says whether it completed. */
static enum ms_status
pg_copy_finish(struct pg_cx *s, struct ms_error *err)
{
    const struct pg_blame b = {"read", s->invalid, NULL}; /* a failing query is the query's */
    PGresult *res = PQgetResult(s->conn);
    enum ms_status st = MS_OK;

    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        st = ms_cx_pg_fail_res(s, res, &b, err);
    PQclear(res);
    while ((res = PQgetResult(s->conn)) != NULL)
        PQclear(res);
    s->copying = false;
    return st;
}

/* PQgetCopyData() failed (connection lost): nothing more will come. */
static enum ms_status
pg_copy_broken(struct pg_cx *s, struct ms_error *err)
{
    PGresult *res;
    char line[200];

    ms_cx_pg_one_line(PQerrorMessage(s->conn), line, sizeof(line));
    while ((res = PQgetResult(s->conn)) != NULL)
        PQclear(res);
    s->copying = false; /* no cancel: the server is unreachable or already done */
    return ms_fail(err, MS_EUPSTREAM, "postgresql read: %s", line);
}

enum ms_status
ms_cx_pg_read(struct ms_cx *cx, struct ms_rows *rows, struct ms_error *err)
{
    struct pg_cx *s = (struct pg_cx *)cx;
    enum ms_status st = MS_OK;

    rows->nrows = 0;
    rows->cells = NULL;
    while (st == MS_OK && s->copying && rows->nrows < rows->cap) {
        char *line = NULL;
        int n = PQgetCopyData(s->conn, &line, 0);

        if (n > 0)
            st = pg_row(s, rows, line, (size_t)n, err);
        else if (n == -1)
            st = pg_copy_finish(s, err);
        else
            st = pg_copy_broken(s, err);
        PQfreemem(line);
    }
    return st;
}

#endif /* MS_WITH_PG */
