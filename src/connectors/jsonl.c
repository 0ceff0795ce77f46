/*
 * jsonl.c: the "jsonl" connector: a directory of JSON Lines files. Each non-empty line is one
 * JSON object. A model's columns are the union of the keys of its first MS_CX_SAMPLE_ROWS
 * records in first-appearance order: read_begin() scans them, then rewinds; a key that first
 * appears later is ignored. Lines are read one at a time through the shared streaming reader
 * and capped at MS_MAX_VALUE_BYTES. Destinations are free-form (any key may be written):
 * writing (append, replace, snapshot) adds one compact object per record through the shared
 * file output of files_write.c, with the "key": prefixes escaped once per run. A connection is
 * confined to the thread that opened it.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/connector.h"
#include "connectors/connectors_int.h"
#include "core/buf.h"
#include "core/xmalloc.h"
#include "model/model.h"

#define JSONL_EXT ".jsonl"

/* JSON kinds seen in a column during the scan, as bits. */
enum {
    JSONL_INT = 1,
    JSONL_REAL = 2,
    JSONL_BOOL = 4,
    JSONL_STR = 8,
    JSONL_OBJ = 16,
    JSONL_ARR = 32,
};

struct jsonl_reader {
    struct ms_cx_file f;
    struct ms_buf line;     /* the current line, capped at MS_MAX_VALUE_BYTES */
    int64_t lineno;         /* lines consumed so far */
    struct ms_cx_cols cols; /* the union of keys, owned */
    json_t *index;          /* owned: key -> column number */
    unsigned *kinds;        /* [cols.n] JSONL_* bits */
};

struct jsonl_cx {
    struct ms_cx base;      /* must be first */
    int dirfd;              /* owned, O_DIRECTORY */
    char *dir;              /* owned: the configured path, for messages */
    struct jsonl_reader rd; /* the model being read, between read_begin and read_end */
    struct ms_cx_out out;   /* the file being written, between write_begin and write_end */
    struct ms_cx_cols keys; /* "<escaped column>": of each written column, owned */
};

static void
jsonl_reader_release(struct jsonl_reader *r)
{
    ms_cx_file_close(&r->f);
    ms_buf_release(&r->line);
    ms_cx_cols_release(&r->cols);
    json_decref(r->index);
    free(r->kinds);
    memset(r, 0, sizeof(*r));
}

static bool
jsonl_blank(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

/* The next non-empty line as a JSON object (new reference); *got is false at the end. */
static enum ms_status
jsonl_next(struct jsonl_reader *r, json_t **obj, bool *got, struct ms_error *err)
{
    for (;;) {
        json_error_t jerr;
        const char *p;
        json_t *j;
        enum ms_status st = ms_cx_file_line(&r->f, &r->line, r->lineno + 1, got, err);

        if (st != MS_OK || !*got)
            return st;
        r->lineno++;
        p = ms_buf_str(&r->line);
        if (jsonl_blank(p, r->line.len))
            continue;
        j = json_loadb(p, r->line.len, JSON_ALLOW_NUL, &jerr);
        if (j == NULL)
            return ms_fail(err, MS_EUPSTREAM, "line %lld: invalid JSON: %s", (long long)r->lineno,
                           jerr.text);
        if (!json_is_object(j)) {
            json_decref(j);
            return ms_fail(err, MS_EUPSTREAM, "line %lld: not a JSON object", (long long)r->lineno);
        }
        *obj = j;
        return MS_OK;
    }
}

static unsigned
jsonl_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return JSONL_INT;
    case JSON_REAL:
        return JSONL_REAL;
    case JSON_TRUE:
    case JSON_FALSE:
        return JSONL_BOOL;
    case JSON_STRING:
        return JSONL_STR;
    case JSON_OBJECT:
        return JSONL_OBJ;
    case JSON_ARRAY:
        return JSONL_ARR;
    case JSON_NULL:
        break;
    }
    return 0;
}

/* Add obj's new keys to the column list and note the kinds of its values. */
static enum ms_status
jsonl_collect(struct jsonl_reader *r, json_t *obj, struct ms_error *err)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        json_t *at = json_object_get(r->index, key);
        size_t c;

        if (at == NULL) {
            if (r->cols.n == MS_MAX_COLUMNS)
                return ms_fail(err, MS_ETOOBIG, "line %lld: more than %d keys",
                               (long long)r->lineno, (int)MS_MAX_COLUMNS);
            c = r->cols.n;
            ms_cx_cols_add(&r->cols, key, strlen(key));
            json_object_set_new(r->index, key, json_integer((json_int_t)c));
            r->kinds = ms_xrealloc(r->kinds, r->cols.n * sizeof(*r->kinds));
            r->kinds[c] = 0;
        } else {
            c = (size_t)json_integer_value(at);
        }
        r->kinds[c] |= jsonl_kind(v);
    }
    return MS_OK;
}

/*
 * Open dir/name, collect the keys of its first MS_CX_SAMPLE_ROWS objects, and rewind to the
 * first line. field names the model member for errors (NULL for a target object: a missing
 * file is MS_ENOTFOUND). On failure r is released.
 */
static enum ms_status
jsonl_reader_open(struct jsonl_reader *r, int dirfd, const char *name, const char *field,
                  struct ms_error *err)
{
    enum ms_status st;
    bool got = true;

    memset(r, 0, sizeof(*r));
    ms_buf_init(&r->line, MS_MAX_VALUE_BYTES);
    r->index = json_object();
    st = ms_cx_file_open(&r->f, dirfd, name, field, err);
    for (int n = 0; st == MS_OK && n < MS_CX_SAMPLE_ROWS; n++) {
        json_t *obj = NULL;

        st = jsonl_next(r, &obj, &got, err);
        if (st != MS_OK || !got)
            break;
        st = jsonl_collect(r, obj, err);
        json_decref(obj);
    }
    if (st == MS_OK)
        st = ms_cx_file_rewind(&r->f, err);
    r->lineno = 0;
    if (st != MS_OK)
        jsonl_reader_release(r);
    return st;
}

/* UtilFieldType and remote type of a column from the kinds of its values. */
static void
jsonl_kind_types(unsigned k, const char **type, const char **remote)
{
    static const struct {
        unsigned kinds;
        const char *type, *remote;
    } map[] = {
        {0, "string", "null"},
        {JSONL_INT, "number", "integer"},
        {JSONL_REAL, "number", "number"},
        {JSONL_INT | JSONL_REAL, "number", "number"},
        {JSONL_BOOL, "boolean", "boolean"},
        {JSONL_STR, "string", "string"},
        {JSONL_OBJ, "object", "object"},
        {JSONL_ARR, "array", "array"},
    };

    for (size_t i = 0; i < MS_ARRAY_LEN(map); i++)
        if (map[i].kinds == k) {
            *type = map[i].type;
            *remote = map[i].remote;
            return;
        }
    *type = "string";
    *remote = "mixed";
}

static enum ms_status
jsonl_validate(const json_t *cfg, struct ms_error *err)
{
    return ms_cx_dir_validate(cfg, err);
}

static enum ms_status
jsonl_model_validate(const json_t *mcfg, struct ms_error *err)
{
    return ms_cx_file_model_validate(mcfg, JSONL_EXT, err);
}

static enum ms_status
jsonl_open(struct ms_cx *cx, const json_t *cfg, struct ms_error *err)
{
    struct jsonl_cx *s = (struct jsonl_cx *)cx;

    return ms_cx_dir_open(cfg, &s->dirfd, &s->dir, err);
}

static void
jsonl_close(struct ms_cx *cx)
{
    struct jsonl_cx *s = (struct jsonl_cx *)cx;

    jsonl_reader_release(&s->rd);
    ms_cx_out_end(&s->out, false, NULL); /* a run still writing is dropped */
    ms_cx_cols_release(&s->keys);
    close(s->dirfd);
    free(s->dir);
}

static enum ms_status
jsonl_test(struct ms_cx *cx, struct ms_error *err)
{
    struct jsonl_cx *s = (struct jsonl_cx *)cx;

    return ms_cx_dir_test(s->dirfd, s->dir, err);
}

static enum ms_status
jsonl_describe(struct ms_cx *cx, const json_t *params, json_t **out, struct ms_error *err)
{
    struct jsonl_cx *s = (struct jsonl_cx *)cx;

    (void)params; /* one choice only: the file */
    return ms_cx_dir_describe(s->dirfd, JSONL_EXT, out, err);
}

static enum ms_status
jsonl_fields(struct ms_cx *cx, const json_t *mcfg, json_t **out, struct ms_error *err)
{
    struct jsonl_cx *s = (struct jsonl_cx *)cx;
    struct jsonl_reader r;
    enum ms_status st = jsonl_model_validate(mcfg, err);
    json_t *arr;

    if (st == MS_OK)
        st = jsonl_reader_open(&r, s->dirfd, json_string_value(json_object_get(mcfg, "file")),
                               "configuration.file", err);
    if (st != MS_OK)
        return st;
    arr = json_array();
    for (size_t c = 0; c < r.cols.n; c++) {
        const char *type, *remote;

        jsonl_kind_types(r.kinds[c], &type, &remote);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name", r.cols.v[c], "type", type,
                                             "remote_type", remote));
    }
    jsonl_reader_release(&r);
    *out = arr;
    return MS_OK;
}

static void
jsonl_read_end(struct ms_cx *cx)
{
    struct jsonl_cx *s = (struct jsonl_cx *)cx;

    jsonl_reader_release(&s->rd);
}

/* Column names stay in the connection (not rows->arena) until read_end(). */
static enum ms_status
jsonl_read_begin(struct ms_cx *cx, const json_t *mcfg, struct ms_rows *rows, struct ms_error *err)
{
    struct jsonl_cx *s = (struct jsonl_cx *)cx;
    enum ms_status st = jsonl_model_validate(mcfg, err);

    jsonl_read_end(cx);
    if (st == MS_OK)
        st = jsonl_reader_open(&s->rd, s->dirfd, json_string_value(json_object_get(mcfg, "file")),
                               "configuration.file", err);
    if (st != MS_OK)
        return st;
    rows->ncols = s->rd.cols.n;
    rows->cols = s->rd.cols.v;
    rows->nrows = 0;
    rows->cells = NULL;
    return MS_OK;
}

/* One JSON value as a cell; objects and arrays become their compact JSON text. */
static enum ms_status
jsonl_cell(const json_t *j, struct ms_rows *rows, struct ms_value *v, struct ms_error *err)
{
    enum ms_status st;
    char *text;

    switch (json_typeof(j)) {
    case JSON_INTEGER:
        v->type = MS_V_INT;
        v->u.i = json_integer_value(j);
        return MS_OK;
    case JSON_REAL:
        v->type = MS_V_REAL;
        v->u.d = json_real_value(j);
        return MS_OK;
    case JSON_TRUE:
    case JSON_FALSE:
        v->type = MS_V_BOOL;
        v->u.b = json_is_true(j);
        return MS_OK;
    case JSON_STRING:
        return ms_value_set_text(rows, v, json_string_value(j), json_string_length(j), err);
    case JSON_OBJECT:
    case JSON_ARRAY:
        text = json_dumps(j, JSON_COMPACT);
        st = ms_value_set_text(rows, v, text, strlen(text), err);
        free(text);
        return st;
    case JSON_NULL:
        break;
    }
    return MS_OK; /* stays MS_V_NULL */
}

/* Fill row from obj; keys that are not columns are ignored. */
static enum ms_status
jsonl_row(struct jsonl_reader *r, json_t *obj, struct ms_rows *rows, struct ms_value *row,
          struct ms_error *err)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        json_t *at = json_object_get(r->index, key);
        enum ms_status st;

        if (at == NULL)
            continue;
        st = jsonl_cell(v, rows, &row[json_integer_value(at)], err);
        if (st != MS_OK)
            return st;
    }
    return MS_OK;
}

/*
 * The caller resets the batch arena between batches and sets rows->nrows = 0 before each
 * read(); nrows is reset here too, so a batch never appends to the previous one.
 */
static enum ms_status
jsonl_read(struct ms_cx *cx, struct ms_rows *rows, struct ms_error *err)
{
    struct jsonl_cx *s = (struct jsonl_cx *)cx;
    enum ms_status st = MS_OK;

    rows->nrows = 0;
    rows->cells = NULL;
    MS_ASSERT(s->rd.f.buf != NULL);
    while (st == MS_OK && rows->nrows < rows->cap) {
        json_t *obj = NULL;
        bool got = false;

        st = jsonl_next(&s->rd, &obj, &got, err);
        if (st != MS_OK || !got)
            break;
        st = jsonl_row(&s->rd, obj, rows, ms_rows_push(rows), err);
        json_decref(obj);
    }
    return st;
}

static enum ms_status
jsonl_objects(struct ms_cx *cx, json_t **out, struct ms_error *err)
{
    struct jsonl_cx *s = (struct jsonl_cx *)cx;

    return ms_cx_dir_objects(s->dirfd, JSONL_EXT, out, err);
}

/* The keys of the file's first lines; a new or empty file has none (targets are free-form). */
static enum ms_status
jsonl_object_fields(struct ms_cx *cx, const char *object, json_t **out, struct ms_error *err)
{
    struct jsonl_cx *s = (struct jsonl_cx *)cx;
    struct jsonl_reader r;
    enum ms_status st;
    json_t *arr;

    if (!ms_cx_file_name_ok(object, strlen(object), JSONL_EXT))
        return ms_fail(err, MS_ENOTFOUND, "no such file: %s", object);
    st = jsonl_reader_open(&r, s->dirfd, object, NULL, err);
    if (st != MS_OK)
        return st;
    arr = json_array();
    for (size_t c = 0; c < r.cols.n; c++) {
        const char *type, *remote;

        jsonl_kind_types(r.kinds[c], &type, &remote);
        json_array_append_new(arr, ms_cx_target_field(r.cols.v[c], type, remote, false, false));
    }
    jsonl_reader_release(&r);
    *out = arr;
    return MS_OK;
}

/* A JSON Lines file needs no header: the new file is empty, whatever the fields. */
static enum ms_status
jsonl_create_object(struct ms_cx *cx, const json_t *props, const json_t *fields, char **object_out,
                    struct ms_error *err)
{
    struct jsonl_cx *s = (struct jsonl_cx *)cx;
    const char *name = NULL;
    enum ms_status st = ms_cx_file_create_check(props, fields, JSONL_EXT, &name, err);

    if (st == MS_OK)
        st = ms_cx_file_create(s->dirfd, name, "", 0, err);
    if (st == MS_OK)
        *object_out = ms_xstrdup(name);
    return st;
}

/* ---- writing ---- */

/* Length of the well-formed UTF-8 sequence at p[0..len) (len > 0, p[0] >= 0x80), or 0. */
static size_t
jsonl_utf8_seq(const char *p, size_t len)
{
    unsigned char c = (unsigned char)p[0];
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;

    return n > 0 && n <= len && ms_cx_utf8_valid(p, n) ? n : 0;
}

/* The escape of byte c in a JSON string: a byte that is not part of UTF-8 becomes U+FFFD. */
static enum ms_status
jsonl_put_escape(struct ms_buf *b, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

    switch (c) {
    case '"':
        return ms_buf_add(b, "\\\"", 2);
    case '\\':
        return ms_buf_add(b, "\\\\", 2);
    case '\n':
        return ms_buf_add(b, "\\n", 2);
    case '\r':
        return ms_buf_add(b, "\\r", 2);
    case '\t':
        return ms_buf_add(b, "\\t", 2);
    default:
        break;
    }
    if (c >= 0x80)
        return ms_buf_add(b, "\xef\xbf\xbd", 3);
    return ms_buf_add(b, esc, sizeof(esc));
}

/*
 * p[0..len) as a JSON string: quote, backslash and control characters escaped; bytes that are
 * not UTF-8 become U+FFFD, as in ms_value_to_json(), so every line stays valid JSON. Runs of
 * plain bytes are copied at once.
 */
static enum ms_status
jsonl_put_string(struct ms_buf *b, const char *p, size_t len)
{
    enum ms_status st = ms_buf_addc(b, '"');
    size_t run = 0, i = 0, n;

    while (st == MS_OK && i < len) {
        unsigned char c = (unsigned char)p[i];

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80 && (n = jsonl_utf8_seq(p + i, len - i)) > 0) {
            i += n;
            continue;
        }
        st = ms_buf_add(b, p + run, i - run);
        if (st == MS_OK)
            st = jsonl_put_escape(b, c);
        run = ++i;
    }
    if (st == MS_OK)
        st = ms_buf_add(b, p + run, i - run);
    if (st == MS_OK)
        st = ms_buf_addc(b, '"');
    return st;
}

/* A real as a JSON number that reads back as a real ("2.0", not "2"); NaN and infinities are
 * not JSON numbers and become null. */
static enum ms_status
jsonl_put_real(struct ms_buf *b, double d)
{
    char num[MS_VALUE_REAL_LEN + 2];
    size_t n = ms_value_real_text(d, num);

    if (n == 0)
        return ms_buf_adds(b, "null");
    if (strpbrk(num, ".e") == NULL) {
        memcpy(num + n, ".0", 3);
        n += 2;
    }
    return ms_buf_add(b, num, n);
}

static enum ms_status
jsonl_put_value(struct ms_buf *b, const struct ms_value *v)
{
    char num[MS_VALUE_INT_LEN];
    enum ms_status st;

    switch (v->type) {
    case MS_V_INT:
        return ms_buf_add(b, num, ms_value_int_text(v->u.i, num));
    case MS_V_REAL:
        return jsonl_put_real(b, v->u.d);
    case MS_V_NUM: /* a JSON number already, as the source printed it; ".0" as for reals */
        st = ms_buf_add(b, v->u.s.p, v->u.s.len);
        if (st == MS_OK && strpbrk(v->u.s.p, ".eE") == NULL)
            st = ms_buf_add(b, ".0", 2);
        return st;
    case MS_V_BOOL:
        return ms_buf_adds(b, v->u.b ? "true" : "false");
    case MS_V_TEXT:
        return jsonl_put_string(b, v->u.s.p, v->u.s.len);
    case MS_V_NULL:
        break;
    }
    return ms_buf_adds(b, "null");
}

/* ms_cx_row_fn: {"col":value,...} and a line end. */
static enum ms_status
jsonl_put_row(void *ctx, struct ms_buf *b, const struct ms_value *vals)
{
    const struct jsonl_cx *s = ctx;
    enum ms_status st = ms_buf_addc(b, '{');

    for (size_t i = 0; st == MS_OK && i < s->keys.n; i++) {
        if (i > 0)
            st = ms_buf_addc(b, ',');
        if (st == MS_OK)
            st = ms_buf_adds(b, s->keys.own[i]);
        if (st == MS_OK)
            st = jsonl_put_value(b, &vals[i]);
    }
    if (st == MS_OK)
        st = ms_buf_add(b, "}\n", 2);
    return st;
}

/* The escaped "key": of every column, once per run. */
static enum ms_status
jsonl_keys(struct jsonl_cx *s, const struct ms_write_plan *plan, struct ms_error *err)
{
    struct ms_buf b;
    enum ms_status st = MS_OK;

    ms_buf_init(&b, MS_MAX_VALUE_BYTES);
    for (size_t i = 0; st == MS_OK && i < plan->ncols; i++) {
        ms_buf_reset(&b);
        st = jsonl_put_string(&b, plan->cols[i], strlen(plan->cols[i]));
        if (st == MS_OK)
            st = ms_buf_addc(&b, ':');
        if (st == MS_OK)
            ms_cx_cols_add(&s->keys, ms_buf_str(&b), b.len);
    }
    ms_buf_release(&b);
    if (st != MS_OK)
        return ms_fail_at(err, MS_ETOOBIG, "fields", "a field name over %zu MiB",
                          MS_MAX_VALUE_BYTES >> 20);
    return MS_OK;
}

static enum ms_status
jsonl_write_begin(struct ms_cx *cx, const struct ms_write_plan *plan, struct ms_error *err)
{
    struct jsonl_cx *s = (struct jsonl_cx *)cx;
    enum ms_status st;

    ms_cx_out_end(&s->out, false, NULL);
    ms_cx_cols_release(&s->keys);
    st = ms_cx_out_cols_check(plan, err);
    if (st == MS_OK)
        st = jsonl_keys(s, plan, err);
    if (st == MS_OK)
        st = ms_cx_out_begin(&s->out, s->dirfd, plan, JSONL_EXT, err);
    if (st != MS_OK)
        ms_cx_cols_release(&s->keys);
    return st;
}

static enum ms_status
jsonl_write(struct ms_cx *cx, struct ms_ops *ops, struct ms_error *err)
{
    struct jsonl_cx *s = (struct jsonl_cx *)cx;

    return ms_cx_out_write(&s->out, ops, jsonl_put_row, s, err);
}

static enum ms_status
jsonl_write_end(struct ms_cx *cx, bool commit, struct ms_error *err)
{
    struct jsonl_cx *s = (struct jsonl_cx *)cx;
    enum ms_status st = ms_cx_out_end(&s->out, commit, err);

    ms_cx_cols_release(&s->keys);
    return st;
}

static const char *const jsonl_secrets[] = {NULL};

const struct ms_connector ms_connector_jsonl = {
    .abi = MS_CONNECTOR_ABI,
    .type = "jsonl",
    .name = "JSON Lines files",
    .flags = MS_CX_SOURCE | MS_CX_DEST | MS_CX_CREATE | MS_CX_FREEFORM | MS_CX_NOKEY,
    .size = sizeof(struct jsonl_cx),
    .secrets = jsonl_secrets,
    .schema = "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
              " \"title\": \"JSON Lines files\", \"type\": \"object\","
              " \"properties\": {\"directory\": {\"type\": \"string\", \"title\": \"Directory\","
              " \"description\": \"Absolute path of a directory on the server; each *.jsonl file"
              " in it is a source model or a target object\", \"pattern\": \"^/\"}},"
              " \"required\": [\"directory\"], \"additionalProperties\": false}",
    .target_creation = "{\"supported\": true, \"properties\": [{\"id\": \"file\","
                       " \"title\": \"File name\", \"enum\": false}]}",
    .validate = jsonl_validate,
    .model_validate = jsonl_model_validate,
    .open = jsonl_open,
    .test = jsonl_test,
    .describe = jsonl_describe,
    .fields = jsonl_fields,
    .read_begin = jsonl_read_begin,
    .read = jsonl_read,
    .read_end = jsonl_read_end,
    .objects = jsonl_objects,
    .object_fields = jsonl_object_fields,
    .create_object = jsonl_create_object,
    .write = jsonl_write,
    .close = jsonl_close,
    .write_begin = jsonl_write_begin,
    .write_end = jsonl_write_end,
};
