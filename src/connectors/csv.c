/*
 * csv.c: the "csv" connector: a directory of RFC 4180 files. A model is one file whose header
 * row names the fields; a target object is a file. Files are parsed as a stream by a state
 * machine over the shared reader's fixed-size buffer, so a record may span any number of
 * refills and no file is ever loaded whole; a record is bounded by CSV_MAX_RECORD_BYTES and a
 * field by MS_MAX_VALUE_BYTES. An unquoted empty field reads as NULL, a quoted one ("") as the
 * empty string; blank lines are skipped. Writing (append, replace, snapshot) formats records
 * the same way round through the shared file output of files_write.c; an appended file's
 * header must match the written columns. A connection is confined to the opening thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "connectors/connector.h"
#include "connectors/connectors_int.h"
#include "core/buf.h"
#include "core/xmalloc.h"
#include "model/model.h"

#define CSV_EXT ".csv"
#define CSV_MAX_RECORD_BYTES (4 * MS_MAX_VALUE_BYTES) /* all fields of one record */
#define CSV_MAX_HEADER_BYTES ((size_t)1 << 20)        /* a header row written by create */

struct csv_field {
    size_t off, len; /* bytes rec.p[off .. off+len) */
    bool quoted;     /* started with '"': an empty quoted field is "" rather than NULL */
};

/* One open file: the record being parsed and the header's column names. */
struct csv_reader {
    struct ms_cx_file f;
    struct ms_buf rec;     /* field bytes of the current record, back to back */
    struct csv_field *fld; /* [fcap]; fields of the current record */
    size_t nfld, fcap;
    int64_t line;           /* line number of the next unread byte (1-based) */
    int64_t rec_line;       /* line the current record starts on, for messages */
    struct ms_cx_cols cols; /* header names, owned */
};

struct csv_cx {
    struct ms_cx base;    /* must be first */
    int dirfd;            /* owned, O_DIRECTORY */
    char *dir;            /* owned: the configured path, for messages */
    struct csv_reader rd; /* the model being read, between read_begin and read_end */
    struct ms_cx_out out; /* the file being written, between write_begin and write_end */
};

enum csv_state {
    CSV_START,  /* at the first byte of a field */
    CSV_PLAIN,  /* inside an unquoted field */
    CSV_QUOTED, /* inside a quoted field */
    CSV_QUOTE,  /* just after a '"' inside a quoted field: "" escape or the closing quote */
    CSV_CR,     /* just after a '\r' that may start a CRLF line end */
    CSV_DONE,   /* the record is complete */
};

struct csv_parse {
    enum csv_state state;
    size_t off;  /* start of the current field in rec */
    bool quoted; /* the current field started with '"' */
    size_t max;  /* fields allowed in this record */
    bool header; /* parsing the header row (more fields than max is MS_ETOOBIG) */
};

static void
csv_reader_release(struct csv_reader *r)
{
    ms_cx_file_close(&r->f);
    ms_buf_release(&r->rec);
    free(r->fld);
    ms_cx_cols_release(&r->cols);
    memset(r, 0, sizeof(*r));
}

static enum ms_status
csv_add(struct csv_reader *r, const struct csv_parse *p, const char *data, size_t n,
        struct ms_error *err)
{
    if (ms_buf_add(&r->rec, data, n) != MS_OK)
        return ms_fail(err, MS_ETOOBIG, "line %lld: record over %zu MiB", (long long)r->rec_line,
                       CSV_MAX_RECORD_BYTES >> 20);
    if (r->rec.len - p->off > MS_MAX_VALUE_BYTES)
        return ms_fail(err, MS_ETOOBIG, "line %lld: field over %zu MiB", (long long)r->rec_line,
                       MS_MAX_VALUE_BYTES >> 20);
    return MS_OK;
}

static enum ms_status
csv_field_end(struct csv_reader *r, struct csv_parse *p, enum csv_state next, struct ms_error *err)
{
    if (r->nfld == p->max)
        return p->header ? ms_fail(err, MS_ETOOBIG, "header: more than %zu columns", p->max)
                         : ms_fail(err, MS_EUPSTREAM, "line %lld: expected %zu fields, found more",
                                   (long long)r->rec_line, p->max);
    if (r->nfld == r->fcap) {
        r->fcap = r->fcap ? r->fcap * 2 : 16;
        r->fld = ms_xrealloc(r->fld, r->fcap * sizeof(*r->fld));
    }
    r->fld[r->nfld++] = (struct csv_field){p->off, r->rec.len - p->off, p->quoted};
    if (next == CSV_DONE)
        r->line++;
    p->state = next;
    return MS_OK;
}

/* Consume an unquoted run up to the next separator, line end or the end of the buffer. */
static enum ms_status
csv_plain(struct csv_reader *r, struct csv_parse *p, struct ms_error *err)
{
    struct ms_cx_file *f = &r->f;
    size_t i = f->pos;
    enum ms_status st;
    char c;

    while (i < f->len && f->buf[i] != ',' && f->buf[i] != '\n' && f->buf[i] != '\r')
        i++;
    st = csv_add(r, p, f->buf + f->pos, i - f->pos, err);
    f->pos = i;
    if (st != MS_OK || i == f->len)
        return st;
    c = f->buf[f->pos++];
    if (c == '\r') {
        p->state = CSV_CR;
        return MS_OK;
    }
    return csv_field_end(r, p, c == ',' ? CSV_START : CSV_DONE, err);
}

/* Consume a quoted run up to the next '"' (line ends inside are data, but still counted). */
static enum ms_status
csv_quoted(struct csv_reader *r, struct csv_parse *p, struct ms_error *err)
{
    struct ms_cx_file *f = &r->f;
    const char *q = memchr(f->buf + f->pos, '"', f->len - f->pos);
    size_t end = q != NULL ? (size_t)(q - f->buf) : f->len;
    enum ms_status st;

    for (size_t i = f->pos; i < end; i++)
        r->line += f->buf[i] == '\n';
    st = csv_add(r, p, f->buf + f->pos, end - f->pos, err);
    f->pos = end;
    if (st == MS_OK && q != NULL) {
        f->pos++;
        p->state = CSV_QUOTE;
    }
    return st;
}

static enum ms_status
csv_after_quote(struct csv_reader *r, struct csv_parse *p, struct ms_error *err)
{
    char c = r->f.buf[r->f.pos++];

    switch (c) {
    case '"':
        p->state = CSV_QUOTED;
        return csv_add(r, p, "\"", 1, err);
    case ',':
        return csv_field_end(r, p, CSV_START, err);
    case '\n':
        return csv_field_end(r, p, CSV_DONE, err);
    case '\r':
        p->state = CSV_CR;
        return MS_OK;
    default:
        return ms_fail(err, MS_EUPSTREAM, "line %lld: unexpected character after a closing quote",
                       (long long)r->line);
    }
}

/* After a '\r': CRLF ends the record; a lone CR is data in an unquoted field. */
static enum ms_status
csv_cr(struct csv_reader *r, struct csv_parse *p, struct ms_error *err)
{
    if (r->f.buf[r->f.pos] == '\n') {
        r->f.pos++;
        return csv_field_end(r, p, CSV_DONE, err);
    }
    if (p->quoted)
        return ms_fail(err, MS_EUPSTREAM, "line %lld: unexpected character after a closing quote",
                       (long long)r->line);
    p->state = CSV_PLAIN;
    return csv_add(r, p, "\r", 1, err);
}

static enum ms_status
csv_step(struct csv_reader *r, struct csv_parse *p, struct ms_error *err)
{
    switch (p->state) {
    case CSV_START:
        p->off = r->rec.len;
        p->quoted = r->f.buf[r->f.pos] == '"';
        r->f.pos += p->quoted;
        p->state = p->quoted ? CSV_QUOTED : CSV_PLAIN;
        return MS_OK;
    case CSV_PLAIN:
        return csv_plain(r, p, err);
    case CSV_QUOTED:
        return csv_quoted(r, p, err);
    case CSV_QUOTE:
        return csv_after_quote(r, p, err);
    case CSV_CR:
        return csv_cr(r, p, err);
    case CSV_DONE:
        break;
    }
    MS_ASSERT(!"csv_step in CSV_DONE");
    return MS_EINTERNAL;
}

/* The file ended in state p->state: finish the last record, or there is none (*got false). */
static enum ms_status
csv_eof(struct csv_reader *r, struct csv_parse *p, bool *got, struct ms_error *err)
{
    *got = true;
    switch (p->state) {
    case CSV_START:
        if (r->nfld == 0) {
            *got = false; /* nothing after the last line end */
            return MS_OK;
        }
        p->off = r->rec.len; /* "a," at the end: an empty last field */
        p->quoted = false;
        return csv_field_end(r, p, CSV_DONE, err);
    case CSV_QUOTED:
        return ms_fail(err, MS_EUPSTREAM, "line %lld: unterminated quoted field",
                       (long long)r->rec_line);
    case CSV_PLAIN:
    case CSV_QUOTE:
    case CSV_CR: /* a CR just before the end of the file ends the line */
    case CSV_DONE:
        break;
    }
    return csv_field_end(r, p, CSV_DONE, err);
}

/*
 * Parse the next record into r->fld (at most max fields). Blank lines are skipped: a record
 * that is one empty unquoted field would otherwise be a NULL row of a one-column file.
 * *got is false at the end of the file.
 */
static enum ms_status
csv_next(struct csv_reader *r, size_t max, bool header, bool *got, struct ms_error *err)
{
    struct csv_parse p = {.state = CSV_START, .max = max, .header = header};
    enum ms_status st = MS_OK;

    r->nfld = 0;
    for (;;) {
        if (p.state == CSV_START && r->nfld == 0) {
            ms_buf_reset(&r->rec);
            r->rec_line = r->line;
        }
        if (r->f.pos == r->f.len) {
            st = ms_cx_file_fill(&r->f, err);
            if (st != MS_OK || r->f.eof)
                break;
        }
        st = csv_step(r, &p, err);
        if (st != MS_OK)
            return st;
        if (p.state != CSV_DONE)
            continue;
        if (r->nfld > 1 || r->fld[0].len > 0 || r->fld[0].quoted) {
            *got = true;
            return MS_OK;
        }
        r->nfld = 0; /* a blank line */
        p.state = CSV_START;
    }
    if (st != MS_OK)
        return st;
    st = csv_eof(r, &p, got, err);
    if (st == MS_OK && *got && r->nfld == 1 && r->fld[0].len == 0 && !r->fld[0].quoted)
        *got = false; /* "\r" alone at the very end */
    return st;
}

static enum ms_status csv_header_fail(const char *field, const char *file, struct ms_error *err,
                                      const char *fmt, ...) MS_PRINTF(4, 5);

/* A header problem: MS_EINVAL naming field for a source, MS_EUPSTREAM for a target object. */
static enum ms_status
csv_header_fail(const char *field, const char *file, struct ms_error *err, const char *fmt, ...)
{
    char msg[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (field != NULL)
        return ms_fail_at(err, MS_EINVAL, field, "%s: %s", file, msg);
    return ms_fail(err, MS_EUPSTREAM, "%s: %s", file, msg);
}

static enum ms_status
csv_header(struct csv_reader *r, const char *field, bool allow_empty, struct ms_error *err)
{
    const char *base;
    bool got = false;
    enum ms_status st = csv_next(r, MS_MAX_COLUMNS, true, &got, err);

    if (st != MS_OK)
        return st;
    if (!got)
        return allow_empty ? MS_OK : csv_header_fail(field, r->f.name, err, "no header row");
    base = ms_buf_str(&r->rec);
    for (size_t i = 0; i < r->nfld; i++) {
        const char *name = base + r->fld[i].off;
        size_t len = r->fld[i].len;

        if (len == 0)
            return csv_header_fail(field, r->f.name, err, "header column %zu is empty", i + 1);
        if (memchr(name, '\0', len) != NULL || !ms_cx_utf8_valid(name, len))
            return csv_header_fail(field, r->f.name, err, "header column %zu is not UTF-8 text",
                                   i + 1);
        if (ms_cx_cols_find(&r->cols, name, len) >= 0)
            return csv_header_fail(field, r->f.name, err, "duplicate column name %.*s",
                                   (int)(len > 64 ? 64 : len), name);
        ms_cx_cols_add(&r->cols, name, len);
    }
    return MS_OK;
}

/*
 * Open dir/name and read its header into r->cols. field names the model member for errors
 * (NULL for a target object: a missing file is MS_ENOTFOUND, and with allow_empty an empty
 * file has no columns). On failure r is released.
 */
static enum ms_status
csv_reader_open(struct csv_reader *r, int dirfd, const char *name, const char *field,
                bool allow_empty, struct ms_error *err)
{
    enum ms_status st;

    memset(r, 0, sizeof(*r));
    ms_buf_init(&r->rec, CSV_MAX_RECORD_BYTES);
    r->line = 1;
    st = ms_cx_file_open(&r->f, dirfd, name, field, err);
    if (st == MS_OK)
        st = csv_header(r, field, allow_empty, err);
    if (st != MS_OK)
        csv_reader_release(r);
    return st;
}

/* Next data record; MS_EUPSTREAM naming the line when its field count differs. */
static enum ms_status
csv_reader_next(struct csv_reader *r, bool *got, struct ms_error *err)
{
    enum ms_status st = csv_next(r, r->cols.n, false, got, err);

    if (st == MS_OK && *got && r->nfld != r->cols.n)
        return ms_fail(err, MS_EUPSTREAM, "line %lld: expected %zu fields, found %zu",
                       (long long)r->rec_line, r->cols.n, r->nfld);
    return st;
}

static enum ms_status
csv_validate(const json_t *cfg, struct ms_error *err)
{
    return ms_cx_dir_validate(cfg, err);
}

static enum ms_status
csv_model_validate(const json_t *mcfg, struct ms_error *err)
{
    return ms_cx_file_model_validate(mcfg, CSV_EXT, err);
}

static enum ms_status
csv_open(struct ms_cx *cx, const json_t *cfg, struct ms_error *err)
{
    struct csv_cx *s = (struct csv_cx *)cx;

    return ms_cx_dir_open(cfg, &s->dirfd, &s->dir, err);
}

static void
csv_close(struct ms_cx *cx)
{
    struct csv_cx *s = (struct csv_cx *)cx;

    csv_reader_release(&s->rd);
    ms_cx_out_end(&s->out, false, NULL); /* a run still writing is dropped */
    close(s->dirfd);
    free(s->dir);
}

static enum ms_status
csv_test(struct ms_cx *cx, struct ms_error *err)
{
    struct csv_cx *s = (struct csv_cx *)cx;

    return ms_cx_dir_test(s->dirfd, s->dir, err);
}

static enum ms_status
csv_describe(struct ms_cx *cx, const json_t *params, json_t **out, struct ms_error *err)
{
    struct csv_cx *s = (struct csv_cx *)cx;

    (void)params; /* one choice only: the file */
    return ms_cx_dir_describe(s->dirfd, CSV_EXT, out, err);
}

/* Number syntax accepted for inference: [+-]?(d+(.d*)?|.d+)([eE][+-]?d+)? */
static bool
csv_is_number(const char *p, size_t len)
{
    size_t i = 0, digits = 0;

    if (i < len && (p[i] == '+' || p[i] == '-'))
        i++;
    for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
        digits++;
    if (i < len && p[i] == '.')
        for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++)
            digits++;
    if (digits == 0)
        return false;
    if (i < len && (p[i] == 'e' || p[i] == 'E')) {
        size_t exp = 0;

        i++;
        if (i < len && (p[i] == '+' || p[i] == '-'))
            i++;
        for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
            exp++;
        if (exp == 0)
            return false;
    }
    return i == len;
}

enum { CSV_SEEN = 1, CSV_NOT_NUM = 2, CSV_NOT_BOOL = 4 };

static void
csv_infer(const struct csv_reader *r, unsigned char *kind)
{
    const char *base = ms_buf_str(&r->rec);

    for (size_t c = 0; c < r->nfld; c++) {
        const char *v = base + r->fld[c].off;
        size_t len = r->fld[c].len;

        if (len == 0 && !r->fld[c].quoted)
            continue; /* NULL says nothing about the type */
        kind[c] |= CSV_SEEN;
        if (!csv_is_number(v, len))
            kind[c] |= CSV_NOT_NUM;
        if (!((len == 4 && strncasecmp(v, "true", 4) == 0) ||
              (len == 5 && strncasecmp(v, "false", 5) == 0)))
            kind[c] |= CSV_NOT_BOOL;
    }
}

static const char *
csv_kind_type(unsigned char k)
{
    if (!(k & CSV_SEEN))
        return "string";
    if (!(k & CSV_NOT_NUM))
        return "number";
    if (!(k & CSV_NOT_BOOL))
        return "boolean";
    return "string";
}

/* Types come from the first MS_CX_SAMPLE_ROWS records: a column is a number or boolean only if
 * every non-NULL value there is one. */
static enum ms_status
csv_fields(struct ms_cx *cx, const json_t *mcfg, json_t **out, struct ms_error *err)
{
    struct csv_cx *s = (struct csv_cx *)cx;
    struct csv_reader r;
    unsigned char *kind;
    bool got = true;
    enum ms_status st = csv_model_validate(mcfg, err);
    json_t *arr;

    if (st != MS_OK)
        return st;
    st = csv_reader_open(&r, s->dirfd, json_string_value(json_object_get(mcfg, "file")),
                         "configuration.file", false, err);
    if (st != MS_OK)
        return st;
    kind = ms_xcalloc(r.cols.n, 1);
    for (int n = 0; st == MS_OK && n < MS_CX_SAMPLE_ROWS; n++) {
        st = csv_reader_next(&r, &got, err);
        if (st != MS_OK || !got)
            break;
        csv_infer(&r, kind);
    }
    if (st == MS_OK) {
        arr = json_array();
        for (size_t c = 0; c < r.cols.n; c++)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name", r.cols.v[c], "type",
                                                 csv_kind_type(kind[c]), "remote_type", "text"));
        *out = arr;
    }
    free(kind);
    csv_reader_release(&r);
    return st;
}

static void
csv_read_end(struct ms_cx *cx)
{
    struct csv_cx *s = (struct csv_cx *)cx;

    csv_reader_release(&s->rd);
}

/* Column names stay in the connection (not rows->arena) until read_end(). */
static enum ms_status
csv_read_begin(struct ms_cx *cx, const json_t *mcfg, struct ms_rows *rows, struct ms_error *err)
{
    struct csv_cx *s = (struct csv_cx *)cx;
    enum ms_status st = csv_model_validate(mcfg, err);

    csv_read_end(cx);
    if (st == MS_OK)
        st = csv_reader_open(&s->rd, s->dirfd, json_string_value(json_object_get(mcfg, "file")),
                             "configuration.file", false, err);
    if (st != MS_OK)
        return st;
    rows->ncols = s->rd.cols.n;
    rows->cols = s->rd.cols.v;
    rows->nrows = 0;
    rows->cells = NULL;
    return MS_OK;
}

/*
 * The caller resets the batch arena between batches and sets rows->nrows = 0 before each
 * read(); nrows is reset here too, so a batch never appends to the previous one.
 */
static enum ms_status
csv_read(struct ms_cx *cx, struct ms_rows *rows, struct ms_error *err)
{
    struct csv_cx *s = (struct csv_cx *)cx;
    struct csv_reader *r = &s->rd;

    rows->nrows = 0;
    rows->cells = NULL;
    MS_ASSERT(r->f.buf != NULL);
    while (rows->nrows < rows->cap) {
        bool got = false;
        enum ms_status st = csv_reader_next(r, &got, err);
        struct ms_value *row;
        const char *base;

        if (st != MS_OK)
            return st;
        if (!got)
            break;
        row = ms_rows_push(rows);
        base = ms_buf_str(&r->rec);
        for (size_t c = 0; c < r->nfld; c++) {
            if (r->fld[c].len == 0 && !r->fld[c].quoted)
                continue; /* stays MS_V_NULL */
            st = ms_value_set_text(rows, &row[c], base + r->fld[c].off, r->fld[c].len, err);
            if (st != MS_OK)
                return st;
        }
    }
    return MS_OK;
}

static enum ms_status
csv_objects(struct ms_cx *cx, json_t **out, struct ms_error *err)
{
    struct csv_cx *s = (struct csv_cx *)cx;

    return ms_cx_dir_objects(s->dirfd, CSV_EXT, out, err);
}

static enum ms_status
csv_object_fields(struct ms_cx *cx, const char *object, json_t **out, struct ms_error *err)
{
    struct csv_cx *s = (struct csv_cx *)cx;
    struct csv_reader r;
    enum ms_status st;
    json_t *arr;

    if (!ms_cx_file_name_ok(object, strlen(object), CSV_EXT))
        return ms_fail(err, MS_ENOTFOUND, "no such file: %s", object);
    st = csv_reader_open(&r, s->dirfd, object, NULL, true, err);
    if (st != MS_OK)
        return st;
    arr = json_array();
    for (size_t c = 0; c < r.cols.n; c++)
        json_array_append_new(arr, ms_cx_target_field(r.cols.v[c], "string", "text", false, false));
    csv_reader_release(&r);
    *out = arr;
    return MS_OK;
}

/* Append p[0..len) as one CSV field, quoted when it holds a separator, quote or line end. */
static enum ms_status
csv_put_field(struct ms_buf *b, const char *p, size_t len)
{
    enum ms_status st;
    size_t k = 0;

    while (k < len && p[k] != ',' && p[k] != '"' && p[k] != '\r' && p[k] != '\n')
        k++;
    if (k == len)
        return ms_buf_add(b, p, len);
    st = ms_buf_addc(b, '"');
    while (st == MS_OK && len > 0) { /* runs up to and including each '"', which is doubled */
        const char *q = memchr(p, '"', len);
        size_t n = q != NULL ? (size_t)(q - p) + 1 : len;

        st = ms_buf_add(b, p, n);
        if (st == MS_OK && q != NULL)
            st = ms_buf_addc(b, '"');
        p += n;
        len -= n;
    }
    if (st == MS_OK)
        st = ms_buf_addc(b, '"');
    return st;
}

/* The header line for fields [{"name", ...}]: names non-empty, unique, NUL-free. */
static enum ms_status
csv_header_line(const json_t *fields, struct ms_buf *b, struct ms_error *err)
{
    enum ms_status st = MS_OK;
    json_t *f;
    size_t i;

    if (json_array_size(fields) == 0)
        return ms_fail_at(err, MS_EINVAL, "fields", "at least one field is required");
    if (json_array_size(fields) > MS_MAX_COLUMNS)
        return ms_fail_at(err, MS_ETOOBIG, "fields", "more than %d fields", (int)MS_MAX_COLUMNS);
    json_array_foreach(fields, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        size_t len = json_string_length(json_object_get(f, "name"));

        if (name == NULL || len == 0 || strlen(name) != len)
            return ms_fail_at(err, MS_EINVAL, "fields",
                              "field %zu: name must be a non-empty string without NUL bytes",
                              i + 1);
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_object_get(json_array_get(fields, k), "name")),
                       name) == 0)
                return ms_fail_at(err, MS_EINVAL, "fields", "duplicate field name %s", name);
        if (st == MS_OK && i > 0)
            st = ms_buf_addc(b, ',');
        if (st == MS_OK)
            st = csv_put_field(b, name, len);
    }
    if (st == MS_OK)
        st = ms_buf_addc(b, '\n');
    if (st != MS_OK)
        return ms_fail_at(err, MS_ETOOBIG, "fields", "header over %zu bytes", CSV_MAX_HEADER_BYTES);
    return MS_OK;
}

static enum ms_status
csv_create_object(struct ms_cx *cx, const json_t *props, const json_t *fields, char **object_out,
                  struct ms_error *err)
{
    struct csv_cx *s = (struct csv_cx *)cx;
    const char *name = NULL;
    struct ms_buf b;
    enum ms_status st = ms_cx_file_create_check(props, fields, CSV_EXT, &name, err);

    if (st != MS_OK)
        return st;
    ms_buf_init(&b, CSV_MAX_HEADER_BYTES);
    st = csv_header_line(fields, &b, err);
    if (st == MS_OK)
        st = ms_cx_file_create(s->dirfd, name, ms_buf_str(&b), b.len, err);
    if (st == MS_OK)
        *object_out = ms_xstrdup(name);
    ms_buf_release(&b);
    return st;
}

/* ---- writing ---- */

/* One value as a field: NULL (and NaN, infinities) empty, "" the empty string, booleans
 * true/false, numbers in their shortest exact form (MS_V_NUM as the source wrote it). */
static enum ms_status
csv_put_value(struct ms_buf *b, const struct ms_value *v)
{
    char num[MS_VALUE_REAL_LEN];

    switch (v->type) {
    case MS_V_INT:
        return ms_buf_add(b, num, ms_value_int_text(v->u.i, num));
    case MS_V_REAL:
        return ms_buf_add(b, num, ms_value_real_text(v->u.d, num));
    case MS_V_NUM: /* digits, sign, '.', 'e': nothing a CSV field quotes */
        return ms_buf_add(b, v->u.s.p, v->u.s.len);
    case MS_V_BOOL:
        return ms_buf_adds(b, v->u.b ? "true" : "false");
    case MS_V_TEXT:
        if (v->u.s.len == 0)
            return ms_buf_add(b, "\"\"", 2);
        return csv_put_field(b, v->u.s.p, v->u.s.len);
    case MS_V_NULL:
        break;
    }
    return MS_OK;
}

/* ms_cx_row_fn: one record in plan order, LF-terminated. */
static enum ms_status
csv_put_row(void *ctx, struct ms_buf *b, const struct ms_value *vals)
{
    const struct csv_cx *s = ctx;
    size_t n = s->out.plan->ncols;
    enum ms_status st = MS_OK;

    for (size_t i = 0; st == MS_OK && i < n; i++) {
        if (i > 0)
            st = ms_buf_addc(b, ',');
        if (st == MS_OK)
            st = csv_put_value(b, &vals[i]);
    }
    if (st == MS_OK)
        st = ms_buf_addc(b, '\n');
    return st;
}

static enum ms_status
csv_put_header(struct ms_buf *b, const struct ms_write_plan *plan, struct ms_error *err)
{
    enum ms_status st = MS_OK;

    for (size_t i = 0; st == MS_OK && i < plan->ncols; i++) {
        if (i > 0)
            st = ms_buf_addc(b, ',');
        if (st == MS_OK)
            st = csv_put_field(b, plan->cols[i], strlen(plan->cols[i]));
    }
    if (st == MS_OK)
        st = ms_buf_addc(b, '\n');
    if (st != MS_OK)
        return ms_fail_at(err, MS_ETOOBIG, "fields", "header over %zu MiB",
                          MS_CX_MAX_ROW_BYTES >> 20);
    return MS_OK;
}

/*
 * An appended file's header must list plan->cols, in order; *none is set when the file has
 * no header yet (it is empty), so one is written first. MS_EUNPROC naming the mismatch.
 */
static enum ms_status
csv_header_matches(struct csv_cx *s, const struct ms_write_plan *plan, bool *none,
                   struct ms_error *err)
{
    struct csv_reader r;
    enum ms_status st = csv_reader_open(&r, s->dirfd, plan->object, NULL, true, err);

    if (st == MS_ENOTFOUND)
        return ms_fail_at(err, MS_EUNPROC, "target.object", "no such file: %s", plan->object);
    if (st != MS_OK)
        return st;
    *none = r.cols.n == 0;
    if (!*none && r.cols.n != plan->ncols)
        st = ms_fail_at(err, MS_EUNPROC, "fields",
                        "%s: the header has %zu columns, the sync writes %zu", plan->object,
                        r.cols.n, plan->ncols);
    for (size_t i = 0; st == MS_OK && !*none && i < r.cols.n; i++)
        if (strcmp(r.cols.v[i], plan->cols[i]) != 0)
            st = ms_fail_at(err, MS_EUNPROC, "fields",
                            "%s: header column %zu is %.64s, the sync writes %.64s", plan->object,
                            i + 1, r.cols.v[i], plan->cols[i]);
    csv_reader_release(&r);
    return st;
}

/* Append checks the object's header first; replace and snapshot start a new file with one. */
static enum ms_status
csv_write_begin(struct ms_cx *cx, const struct ms_write_plan *plan, struct ms_error *err)
{
    struct csv_cx *s = (struct csv_cx *)cx;
    bool append = plan->mode != NULL && strcmp(plan->mode, "append") == 0;
    bool none = true;
    enum ms_status st;

    ms_cx_out_end(&s->out, false, NULL);
    st = ms_cx_out_cols_check(plan, err);
    if (st == MS_OK && append && plan->object != NULL &&
        ms_cx_file_name_ok(plan->object, strlen(plan->object), CSV_EXT))
        st = csv_header_matches(s, plan, &none, err);
    if (st == MS_OK)
        st = ms_cx_out_begin(&s->out, s->dirfd, plan, CSV_EXT, err);
    if (st != MS_OK || !none)
        return st;
    st = csv_put_header(&s->out.buf, plan, err);
    if (st == MS_OK)
        st = ms_cx_out_flush(&s->out, err);
    if (st != MS_OK)
        ms_cx_out_end(&s->out, false, NULL);
    return st;
}

static enum ms_status
csv_write(struct ms_cx *cx, struct ms_ops *ops, struct ms_error *err)
{
    struct csv_cx *s = (struct csv_cx *)cx;

    return ms_cx_out_write(&s->out, ops, csv_put_row, s, err);
}

static enum ms_status
csv_write_end(struct ms_cx *cx, bool commit, struct ms_error *err)
{
    struct csv_cx *s = (struct csv_cx *)cx;

    return ms_cx_out_end(&s->out, commit, err);
}

static const char *const csv_secrets[] = {NULL};

const struct ms_connector ms_connector_csv = {
    .abi = MS_CONNECTOR_ABI,
    .type = "csv",
    .name = "CSV files",
    .flags = MS_CX_SOURCE | MS_CX_DEST | MS_CX_CREATE | MS_CX_NOKEY,
    .size = sizeof(struct csv_cx),
    .secrets = csv_secrets,
    .schema = "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
              " \"title\": \"CSV files\", \"type\": \"object\","
              " \"properties\": {\"directory\": {\"type\": \"string\", \"title\": \"Directory\","
              " \"description\": \"Absolute path of a directory on the server; each *.csv file"
              " in it is a source model or a target object\", \"pattern\": \"^/\"}},"
              " \"required\": [\"directory\"], \"additionalProperties\": false}",
    .target_creation = "{\"supported\": true, \"properties\": [{\"id\": \"file\","
                       " \"title\": \"File name\", \"enum\": false}]}",
    .validate = csv_validate,
    .model_validate = csv_model_validate,
    .open = csv_open,
    .test = csv_test,
    .describe = csv_describe,
    .fields = csv_fields,
    .read_begin = csv_read_begin,
    .read = csv_read,
    .read_end = csv_read_end,
    .objects = csv_objects,
    .object_fields = csv_object_fields,
    .create_object = csv_create_object,
    .write = csv_write,
    .close = csv_close,
    .write_begin = csv_write_begin,
    .write_end = csv_write_end,
};
