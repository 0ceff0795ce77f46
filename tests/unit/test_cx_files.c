/* tests/unit/test_cx_files.c: the csv and jsonl connectors (connectors/csv.c, jsonl.c) on
 * files in a temporary directory: parsing edge cases, streaming, discovery and targets. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/connector.h"
#include "connectors/connectors_int.h"
#include "core/arena.h"

static char tf_dir[64];

static void
tf_rmrf(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;

    if (d == NULL) {
        unlink(path);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        char sub[512];

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        tf_rmrf(sub);
    }
    closedir(d);
    rmdir(path);
}

static void
tf_setup(void)
{
    snprintf(tf_dir, sizeof(tf_dir), "/tmp/ms-cx-files-XXXXXX");
    cr_assert_not_null(mkdtemp(tf_dir));
}

static void
tf_teardown(void)
{
    tf_rmrf(tf_dir);
}

TestSuite(cx_csv, .init = tf_setup, .fini = tf_teardown);
TestSuite(cx_jsonl, .init = tf_setup, .fini = tf_teardown);

static void
tf_write(const char *name, const char *data, size_t len)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tf_dir, name);
    f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void
tf_writes(const char *name, const char *text)
{
    tf_write(name, text, strlen(text));
}

static bool
tf_exists(const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", tf_dir, name);
    return access(path, F_OK) == 0;
}

static char *
tf_slurp(const char *name, size_t *len)
{
    char path[512], *buf;
    FILE *f;
    long n;

    snprintf(path, sizeof(path), "%s/%s", tf_dir, name);
    f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = calloc(1, (size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static struct ms_cx *
tf_open(const struct ms_connector *impl)
{
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};
    json_t *cfg = json_pack("{s:s}", "directory", tf_dir);

    cr_assert_eq(ms_cx_open(impl, cfg, &cx, &err), MS_OK, "%s", err.msg);
    json_decref(cfg);
    return cx;
}

/* Everything a model reads, kept across batches: the rows as a JSON array of arrays. */
struct tf_read {
    enum ms_status st;
    struct ms_error err;
    json_t *cols; /* column names */
    json_t *rows; /* [[value or {"text": …}]]: text keeps its length, NULL stays null */
    size_t batches;
    size_t max_used; /* largest batch arena use */
};

static json_t *
tf_cell_json(const struct ms_value *v)
{
    if (v->type == MS_V_TEXT) {
        cr_assert_eq(v->u.s.p[v->u.s.len], '\0', "text is NUL-terminated");
        return json_pack("{s:s%}", "text", v->u.s.p, v->u.s.len);
    }
    return ms_value_to_json(v);
}

/* Read file fully with batches of cap rows the way the engine does. */
static struct tf_read
tf_read(struct ms_cx *cx, const char *file, size_t cap)
{
    struct tf_read r = {.cols = json_array(), .rows = json_array()};
    struct ms_arena *head = ms_arena_new(), *batch = ms_arena_new();
    struct ms_rows rows = {.arena = head, .cap = cap};
    json_t *m = json_pack("{s:s}", "file", file);

    r.st = cx->impl->read_begin(cx, m, &rows, &r.err);
    for (size_t c = 0; r.st == MS_OK && c < rows.ncols; c++)
        json_array_append_new(r.cols, json_string(rows.cols[c]));
    rows.arena = batch;
    while (r.st == MS_OK) {
        ms_arena_reset(batch);
        rows.nrows = 0;
        r.st = cx->impl->read(cx, &rows, &r.err);
        if (r.st != MS_OK || rows.nrows == 0)
            break;
        cr_assert_leq(rows.nrows, cap);
        r.batches++;
        if (ms_arena_used(batch) > r.max_used)
            r.max_used = ms_arena_used(batch);
        for (size_t i = 0; i < rows.nrows; i++) {
            json_t *row = json_array();

            for (size_t c = 0; c < rows.ncols; c++)
                json_array_append_new(row, tf_cell_json(&rows.cells[i * rows.ncols + c]));
            json_array_append_new(r.rows, row);
        }
    }
    cx->impl->read_end(cx);
    json_decref(m);
    ms_arena_free(batch);
    ms_arena_free(head);
    return r;
}

static void
tf_read_release(struct tf_read *r)
{
    json_decref(r->cols);
    json_decref(r->rows);
}

static void
tf_expect_json(json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);

    cr_assert_not_null(want, "bad expected JSON: %s", want_text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);

        cr_expect_fail("got  %s\nwant %s", g, want_text);
        free(g);
    }
    json_decref(want);
}

static enum ms_status
tf_validate(const struct ms_connector *impl, const char *text, struct ms_error *err)
{
    json_t *cfg = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    enum ms_status st;

    cr_assert_not_null(cfg, "%s", text);
    memset(err, 0, sizeof(*err));
    st = impl->validate(cfg, err);
    json_decref(cfg);
    return st;
}

static enum ms_status
tf_model_validate(const struct ms_connector *impl, const char *text, struct ms_error *err)
{
    json_t *m = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    enum ms_status st;

    cr_assert_not_null(m, "%s", text);
    memset(err, 0, sizeof(*err));
    st = impl->model_validate(m, err);
    json_decref(m);
    return st;
}

static void
tf_expect(enum ms_status got, enum ms_status want, const struct ms_error *err, const char *field,
          const char *what)
{
    cr_expect_eq(got, want, "%s: got %d want %d (%s)", what, got, want, err->msg);
    if (field != NULL)
        cr_expect_str_eq(err->field, field, "%s: %s", what, err->msg);
}

/* ---- configuration, open and test (shared by csv and jsonl) ---- */

static void
tf_check_configuration(const struct ms_connector *impl, const char *ext)
{
    struct ms_error err;
    char good[64], bad[300];

    cr_expect_eq(tf_validate(impl, "{\"directory\": \"/srv/files\"}", &err), MS_OK, "%s", err.msg);
    tf_expect(tf_validate(impl, "{}", &err), MS_EINVAL, &err, "configuration.directory", "missing");
    tf_expect(tf_validate(impl, "{\"directory\": true}", &err), MS_EINVAL, &err,
              "configuration.directory", "wrong type");
    tf_expect(tf_validate(impl, "{\"directory\": \"files\"}", &err), MS_EINVAL, &err,
              "configuration.directory", "relative");
    tf_expect(tf_validate(impl, "{\"directory\": \"/x\", \"glob\": \"*\"}", &err), MS_EINVAL, &err,
              "configuration.glob", "extra member");
    tf_expect(tf_validate(impl, "null", &err), MS_EINVAL, &err, "configuration", "not an object");

    snprintf(good, sizeof(good), "{\"file\": \"users%s\"}", ext);
    cr_expect_eq(tf_model_validate(impl, good, &err), MS_OK, "%s", err.msg);
    tf_expect(tf_model_validate(impl, "{}", &err), MS_EINVAL, &err, "configuration.file",
              "missing");
    tf_expect(tf_model_validate(impl, "{\"file\": 1}", &err), MS_EINVAL, &err, "configuration.file",
              "wrong type");
    snprintf(bad, sizeof(bad), "{\"file\": \"../users%s\"}", ext);
    tf_expect(tf_model_validate(impl, bad, &err), MS_EINVAL, &err, "configuration.file", "..");
    snprintf(bad, sizeof(bad), "{\"file\": \"sub/users%s\"}", ext);
    tf_expect(tf_model_validate(impl, bad, &err), MS_EINVAL, &err, "configuration.file", "slash");
    snprintf(bad, sizeof(bad), "{\"file\": \"u\\u0000%s\"}", ext);
    tf_expect(tf_model_validate(impl, bad, &err), MS_EINVAL, &err, "configuration.file", "NUL");
    tf_expect(tf_model_validate(impl, "{\"file\": \"users.txt\"}", &err), MS_EINVAL, &err,
              "configuration.file", "extension");
    tf_expect(tf_model_validate(impl, "{\"file\": \"..\"}", &err), MS_EINVAL, &err,
              "configuration.file", "dot-dot");
    snprintf(bad, sizeof(bad), "{\"file\": \"%0252d%s\"}", 0, ext);
    tf_expect(tf_model_validate(impl, bad, &err), MS_EINVAL, &err, "configuration.file",
              "over 255 bytes");
    snprintf(bad, sizeof(bad), "{\"file\": \"a%s\", \"sheet\": 1}", ext);
    tf_expect(tf_model_validate(impl, bad, &err), MS_EINVAL, &err, "configuration.sheet",
              "extra member");
}

static void
tf_check_open_and_test(const struct ms_connector *impl)
{
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};
    char path[128];
    json_t *cfg;

    snprintf(path, sizeof(path), "%s/missing", tf_dir);
    cfg = json_pack("{s:s}", "directory", path);
    cr_expect_eq(ms_cx_open(impl, cfg, &cx, &err), MS_EUPSTREAM);
    cr_expect(strstr(err.msg, "cannot open directory") != NULL, "%s", err.msg);
    json_decref(cfg);

    tf_writes("plain.txt", "x");
    snprintf(path, sizeof(path), "%s/plain.txt", tf_dir);
    cfg = json_pack("{s:s}", "directory", path);
    cr_expect_eq(ms_cx_open(impl, cfg, &cx, &err), MS_EUPSTREAM, "a file is not a directory");
    json_decref(cfg);
    cr_expect_null(cx);

    snprintf(path, sizeof(path), "%s/sub", tf_dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    cfg = json_pack("{s:s}", "directory", path);
    cr_assert_eq(ms_cx_open(impl, cfg, &cx, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(impl->test(cx, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(rmdir(path), 0);
    cr_expect_eq(impl->test(cx, &err), MS_EUPSTREAM, "the directory went away");
    ms_cx_close(cx);
    json_decref(cfg);
}

Test(cx_csv, configuration)
{
    tf_check_configuration(&ms_connector_csv, ".csv");
}

Test(cx_csv, open_and_test)
{
    tf_check_open_and_test(&ms_connector_csv);
}

Test(cx_jsonl, configuration)
{
    tf_check_configuration(&ms_connector_jsonl, ".jsonl");
}

Test(cx_jsonl, open_and_test)
{
    tf_check_open_and_test(&ms_connector_jsonl);
}

/* ---- CSV parsing ---- */

Test(cx_csv, rfc4180_edge_cases)
{
    static const char data[] = "\xef\xbb\xbf"
                               "id,name,note\r\n"
                               "1,plain,\"a, b\"\r\n"
                               "2,\"multi\nline\",\"say \"\"hi\"\"\"\n"
                               "3,,\"\"\n"
                               "\n"
                               "4,\"\",\r\n"
                               "5,cr\rinside, trailing space \n"
                               "6,a\"b,\"\r\n\"";
    struct ms_cx *cx;
    struct tf_read r;

    tf_writes("edge.csv", data);
    cx = tf_open(&ms_connector_csv);
    for (size_t cap = 1; cap <= 4; cap += 3) {
        r = tf_read(cx, "edge.csv", cap);
        cr_assert_eq(r.st, MS_OK, "%s", r.err.msg);
        tf_expect_json(r.cols, "[\"id\", \"name\", \"note\"]");
        tf_expect_json(r.rows,
                       "[[{\"text\": \"1\"}, {\"text\": \"plain\"}, {\"text\": \"a, b\"}],"
                       " [{\"text\": \"2\"}, {\"text\": \"multi\\nline\"},"
                       "  {\"text\": \"say \\\"hi\\\"\"}],"
                       " [{\"text\": \"3\"}, null, {\"text\": \"\"}],"
                       " [{\"text\": \"4\"}, {\"text\": \"\"}, null],"
                       " [{\"text\": \"5\"}, {\"text\": \"cr\\rinside\"},"
                       "  {\"text\": \" trailing space \"}],"
                       " [{\"text\": \"6\"}, {\"text\": \"a\\\"b\"}, {\"text\": \"\\r\\n\"}]]");
        tf_read_release(&r);
    }
    ms_cx_close(cx);
}

Test(cx_csv, last_line_without_newline_and_trailing_empty_field)
{
    struct ms_cx *cx;
    struct tf_read r;

    tf_writes("a.csv", "a,b\n1,\n2,x");
    cx = tf_open(&ms_connector_csv);
    r = tf_read(cx, "a.csv", 10);
    cr_assert_eq(r.st, MS_OK, "%s", r.err.msg);
    tf_expect_json(r.rows, "[[{\"text\": \"1\"}, null], [{\"text\": \"2\"}, {\"text\": \"x\"}]]");
    tf_read_release(&r);
    tf_writes("b.csv", "a,b\n");
    r = tf_read(cx, "b.csv", 10);
    cr_assert_eq(r.st, MS_OK, "%s", r.err.msg);
    cr_expect_eq(json_array_size(r.rows), 0, "a header alone is an empty model");
    cr_expect_eq(json_array_size(r.cols), 2);
    tf_read_release(&r);
    ms_cx_close(cx);
}

static void
tf_expect_read_error(struct ms_cx *cx, const char *name, const char *data, enum ms_status want,
                     const char *field, const char *needle)
{
    struct tf_read r;

    if (data != NULL)
        tf_writes(name, data);
    r = tf_read(cx, name, 5);
    cr_expect_eq(r.st, want, "%s: got %d (%s)", name, r.st, r.err.msg);
    if (field != NULL)
        cr_expect_str_eq(r.err.field, field, "%s", name);
    if (needle != NULL)
        cr_expect(strstr(r.err.msg, needle) != NULL, "%s: %s", name, r.err.msg);
    tf_read_release(&r);
}

/* A header of n columns c1..cn, or for .jsonl one object with n keys. */
static void
tf_wide_header(const char *name, size_t n)
{
    char path[512];
    bool jsonl = strstr(name, ".jsonl") != NULL;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tf_dir, name);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(jsonl ? "{" : "", f);
    for (size_t i = 1; i <= n; i++) {
        if (jsonl)
            fprintf(f, "%s\"c%zu\": %zu", i > 1 ? "," : "", i, i);
        else
            fprintf(f, "%sc%zu", i > 1 ? "," : "", i);
    }
    fputs(jsonl ? "}\n" : "\n", f);
    fclose(f);
}

Test(cx_csv, malformed_files)
{
    struct ms_cx *cx = tf_open(&ms_connector_csv);

    tf_expect_read_error(cx, "ragged.csv", "a,b,c\n1,2,3\n4,5\n", MS_EUPSTREAM, NULL,
                         "line 3: expected 3 fields, found 2");
    tf_expect_read_error(cx, "long.csv", "a,b\n1,2\n\"x\ny\",2,3\n", MS_EUPSTREAM, NULL,
                         "line 3: expected 2 fields");
    tf_expect_read_error(cx, "after.csv", "a,b\n\"x\"y,2\n", MS_EUPSTREAM, NULL,
                         "line 2: unexpected character after a closing quote");
    tf_expect_read_error(cx, "open.csv", "a,b\n1,2\n3,\"never\nclosed\n", MS_EUPSTREAM, NULL,
                         "line 3: unterminated quoted field");
    tf_expect_read_error(cx, "dup.csv", "a,b,a\n1,2,3\n", MS_EINVAL, "configuration.file",
                         "duplicate column name a");
    tf_expect_read_error(cx, "emptyname.csv", "a,,c\n1,2,3\n", MS_EINVAL, "configuration.file",
                         "header column 2 is empty");
    tf_expect_read_error(cx, "quotedempty.csv", "a,\"\"\n1,2\n", MS_EINVAL, "configuration.file",
                         "header column 2 is empty");
    tf_expect_read_error(cx, "latin1.csv", "caf\xe9\n1\n", MS_EINVAL, "configuration.file",
                         "not UTF-8");
    tf_expect_read_error(cx, "empty.csv", "", MS_EINVAL, "configuration.file", "no header row");
    tf_expect_read_error(cx, "blank.csv", "\n\r\n\n", MS_EINVAL, "configuration.file",
                         "no header row");
    tf_wide_header("wide.csv", MS_MAX_COLUMNS + 1);
    tf_expect_read_error(cx, "wide.csv", NULL, MS_ETOOBIG, NULL, "more than 1024 columns");
    tf_wide_header("widest.csv", MS_MAX_COLUMNS);
    tf_expect_read_error(cx, "widest.csv", NULL, MS_OK, NULL, NULL);
    ms_cx_close(cx);
}

Test(cx_csv, missing_file_names_the_member)
{
    struct ms_cx *cx = tf_open(&ms_connector_csv);
    struct tf_read r = tf_read(cx, "nope.csv", 5);
    struct ms_error err = {0};
    json_t *m = json_pack("{s:s}", "file", "nope.csv"), *out = NULL;

    tf_expect(r.st, MS_EUNPROC, &r.err, "configuration.file", "read");
    tf_read_release(&r);
    tf_expect(cx->impl->fields(cx, m, &out, &err), MS_EUNPROC, &err, "configuration.file",
              "fields");
    json_decref(m);
    ms_cx_close(cx);
}

/* A file of n rows "i,<i squared>,<text>" with a long quoted field every 97 rows. */
static size_t
tf_big_csv(const char *name, size_t target_bytes)
{
    char path[512];
    FILE *f;
    size_t n = 0, bytes = 0;

    snprintf(path, sizeof(path), "%s/%s", tf_dir, name);
    f = fopen(path, "wb");
    cr_assert_not_null(f);
    bytes += (size_t)fprintf(f, "i,sq,text\n");
    while (bytes < target_bytes) {
        n++;
        if (n % 97 == 0)
            bytes += (size_t)fprintf(f, "%zu,%zu,\"%0300zu\"\"q,\nx\"\r\n", n, n * n, n);
        else
            bytes += (size_t)fprintf(f, "%zu,%zu,row %zu\n", n, n * n, n);
    }
    fclose(f);
    return n;
}

static void
tf_check_big_row(size_t i, json_t *row)
{
    char want[400];
    json_t *t = json_object_get(json_array_get(row, 2), "text");

    cr_assert_eq(
        strtoull(json_string_value(json_object_get(json_array_get(row, 0), "text")), NULL, 10), i);
    cr_assert_eq(
        strtoull(json_string_value(json_object_get(json_array_get(row, 1), "text")), NULL, 10),
        i * i);
    if (i % 97 == 0)
        snprintf(want, sizeof(want), "%0300zu\"q,\nx", i);
    else
        snprintf(want, sizeof(want), "row %zu", i);
    cr_assert_str_eq(json_string_value(t), want, "row %zu", i);
}

Test(cx_csv, three_megabytes_streamed_with_a_small_cap)
{
    struct ms_cx *cx;
    struct tf_read r;
    size_t n = tf_big_csv("big.csv", (size_t)3 << 20);

    cx = tf_open(&ms_connector_csv);
    r = tf_read(cx, "big.csv", 7);
    cr_assert_eq(r.st, MS_OK, "%s", r.err.msg);
    cr_assert_eq(json_array_size(r.rows), n);
    cr_expect_eq(r.batches, (n + 6) / 7);
    /* Each batch holds only its own rows: memory does not grow with the file. */
    cr_expect_lt(r.max_used, (size_t)16 << 10, "batch arena used %zu bytes", r.max_used);
    for (size_t i = 0; i < n; i++)
        tf_check_big_row(i + 1, json_array_get(r.rows, i));
    tf_read_release(&r);
    ms_cx_close(cx);
}

/* Records and single fields that cross the reader's buffer boundary: a "" escape split
 * between two reads, and a field several buffers long with quotes and line ends inside. */
Test(cx_csv, records_span_buffer_refills)
{
    size_t B = MS_CX_READ_BUF_BYTES, len = 0, hl = 3 * B - 10;
    char *data = malloc(7 * B), *huge = malloc(hl + 1);
    struct ms_cx *cx;
    struct tf_read r;
    json_t *row;

    len += (size_t)sprintf(data + len, "k,v\npad,\"");
    while (len < B - 11)
        data[len++] = 'p';
    len += (size_t)sprintf(data + len, "\"\n");
    cr_assert_eq(len, B - 9);
    len += (size_t)sprintf(data + len, "edge,\"ab\"\"cd\"\r\n");
    cr_assert(data[B - 1] == '"' && data[B] == '"', "the escape straddles the boundary");
    for (size_t i = 0; i < hl; i++)
        huge[i] = i % 1000 == 0 ? '\n' : i % 777 == 0 ? '"' : (char)('a' + i % 26);
    huge[hl] = '\0';
    len += (size_t)sprintf(data + len, "huge,\"");
    for (size_t i = 0; i < hl; i++) {
        data[len++] = huge[i];
        if (huge[i] == '"')
            data[len++] = '"';
    }
    len += (size_t)sprintf(data + len, "\"\r\nlast,1\n");
    tf_write("span.csv", data, len);

    cx = tf_open(&ms_connector_csv);
    r = tf_read(cx, "span.csv", 2);
    cr_assert_eq(r.st, MS_OK, "%s", r.err.msg);
    cr_assert_eq(json_array_size(r.rows), 4);
    row = json_array_get(r.rows, 0);
    cr_expect_eq(json_string_length(json_object_get(json_array_get(row, 1), "text")), B - 11 - 9);
    row = json_array_get(r.rows, 1);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(row, 1), "text")), "ab\"cd");
    row = json_array_get(r.rows, 2);
    cr_assert_eq(json_string_length(json_object_get(json_array_get(row, 1), "text")), hl);
    cr_expect(
        memcmp(json_string_value(json_object_get(json_array_get(row, 1), "text")), huge, hl) == 0);
    row = json_array_get(r.rows, 3);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(row, 0), "text")), "last");
    tf_read_release(&r);
    ms_cx_close(cx);
    free(data);
    free(huge);
}

Test(cx_csv, field_over_the_value_cap)
{
    size_t n = MS_MAX_VALUE_BYTES + 10;
    char *data = malloc(n + 16);
    struct ms_cx *cx;
    struct tf_read r;

    memcpy(data, "a\n\"", 3);
    memset(data + 3, 'x', n);
    memcpy(data + 3 + n, "\"\n", 2);
    tf_write("huge.csv", data, n + 5);
    free(data);
    cx = tf_open(&ms_connector_csv);
    r = tf_read(cx, "huge.csv", 5);
    cr_expect_eq(r.st, MS_ETOOBIG, "%s", r.err.msg);
    cr_expect(strstr(r.err.msg, "line 2") != NULL, "%s", r.err.msg);
    tf_read_release(&r);
    ms_cx_close(cx);
}

static json_t *
tf_fields(struct ms_cx *cx, const char *file)
{
    struct ms_error err = {0};
    json_t *m = json_pack("{s:s}", "file", file), *out = NULL;

    cr_assert_eq(cx->impl->fields(cx, m, &out, &err), MS_OK, "%s", err.msg);
    json_decref(m);
    return out;
}

Test(cx_csv, fields_infer_types_from_the_first_rows)
{
    struct ms_cx *cx;
    json_t *f;
    FILE *fp;
    char path[512];

    tf_writes("types.csv", "int,real,bool,mixed,nulls,text,late\n"
                           "1,1.5,true,1,,x,1\n"
                           "-20,2,FALSE,true,,\"3\",2\n"
                           ",-.5e3,,2,,y,3\n");
    snprintf(path, sizeof(path), "%s/types.csv", tf_dir);
    fp = fopen(path, "a");
    for (int i = 0; i < 1000; i++)
        fprintf(fp, "%d,0.1,true,3,,z,%d\n", i, i);
    fprintf(fp, "5,6,true,7,,w,not a number\n"); /* row 1004: beyond the sample */
    fclose(fp);
    cx = tf_open(&ms_connector_csv);
    f = tf_fields(cx, "types.csv");
    tf_expect_json(f, "[{\"name\": \"int\", \"type\": \"number\", \"remote_type\": \"text\"},"
                      " {\"name\": \"real\", \"type\": \"number\", \"remote_type\": \"text\"},"
                      " {\"name\": \"bool\", \"type\": \"boolean\", \"remote_type\": \"text\"},"
                      " {\"name\": \"mixed\", \"type\": \"string\", \"remote_type\": \"text\"},"
                      " {\"name\": \"nulls\", \"type\": \"string\", \"remote_type\": \"text\"},"
                      " {\"name\": \"text\", \"type\": \"string\", \"remote_type\": \"text\"},"
                      " {\"name\": \"late\", \"type\": \"number\", \"remote_type\": \"text\"}]");
    json_decref(f);
    ms_cx_close(cx);
}

static void
tf_mkdir(const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", tf_dir, name);
    cr_assert_eq(mkdir(path, 0700), 0);
}

Test(cx_csv, describe_and_objects)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    json_t *out = NULL;
    char link_path[512];

    tf_writes("b.csv", "x\n");
    tf_writes("a.csv", "x\n");
    tf_writes("c.jsonl", "{}\n");
    tf_writes("notes.txt", "x\n");
    tf_mkdir("dir.csv");
    snprintf(link_path, sizeof(link_path), "%s/dangling.csv", tf_dir);
    cr_assert_eq(symlink("/nonexistent/target.csv", link_path), 0);
    cx = tf_open(&ms_connector_csv);
    cr_assert_eq(cx->impl->describe(cx, NULL, &out, &err), MS_OK, "%s", err.msg);
    tf_expect_json(out, "{\"items\": {\"file\": {\"has_items\": true, \"items\": [\"a.csv\","
                        " \"b.csv\"]}}, \"configuration\": {}, \"requires_one_of\": [\"file\"]}");
    json_decref(out);
    cr_assert_eq(cx->impl->objects(cx, &out, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(out), 2);
    tf_expect_json(json_array_get(out, 0),
                   "{\"id\": \"a.csv\", \"name\": \"a.csv\", \"modes\": ["
                   "{\"id\": \"append\", \"requires_identity\": false,"
                   " \"supports_per_field_mode\": false, \"supports_target_filters\": false},"
                   "{\"id\": \"replace\", \"requires_identity\": false,"
                   " \"supports_per_field_mode\": false, \"supports_target_filters\": false},"
                   "{\"id\": \"snapshot\", \"requires_identity\": false,"
                   " \"supports_per_field_mode\": false, \"supports_target_filters\": false}]}");
    json_decref(out);
    ms_cx_close(cx);

    unlink(link_path);
    tf_rmrf(tf_dir);
    cr_assert_eq(mkdir(tf_dir, 0700), 0);
    cx = tf_open(&ms_connector_csv);
    cr_assert_eq(cx->impl->describe(cx, NULL, &out, &err), MS_OK, "%s", err.msg);
    tf_expect_json(out, "{\"items\": {\"file\": {\"has_items\": false, \"items\": []}},"
                        " \"configuration\": {}, \"requires_one_of\": [\"file\"]}");
    json_decref(out);
    ms_cx_close(cx);
}

Test(cx_csv, object_fields)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    json_t *out = NULL;

    tf_writes("t.csv", "id,\"full, name\"\n1,x\n");
    tf_writes("empty.csv", "");
    tf_writes("dup.csv", "a,a\n");
    cx = tf_open(&ms_connector_csv);
    cr_assert_eq(cx->impl->object_fields(cx, "t.csv", &out, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(out), 2);
    tf_expect_json(json_array_get(out, 1),
                   "{\"id\": \"full, name\", \"name\": \"full, name\", \"type\": \"string\","
                   " \"source_type\": \"text\", \"description\": \"\", \"required\": false,"
                   " \"createable\": true, \"updateable\": true, \"filterable\": false,"
                   " \"encryptable\": false, \"association\": false, \"supports_identity\": false,"
                   " \"identity_functions\": []}");
    json_decref(out);
    cr_assert_eq(cx->impl->object_fields(cx, "empty.csv", &out, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(json_array_size(out), 0);
    json_decref(out);
    out = NULL;
    cr_expect_eq(cx->impl->object_fields(cx, "nope.csv", &out, &err), MS_ENOTFOUND);
    cr_expect_eq(cx->impl->object_fields(cx, "../t.csv", &out, &err), MS_ENOTFOUND);
    cr_expect_eq(cx->impl->object_fields(cx, "t.jsonl", &out, &err), MS_ENOTFOUND);
    cr_expect_eq(cx->impl->object_fields(cx, "dup.csv", &out, &err), MS_EUPSTREAM);
    cr_expect_null(out);
    ms_cx_close(cx);
}

static enum ms_status
tf_create(struct ms_cx *cx, const char *props_text, const char *fields_text, char **id,
          struct ms_error *err)
{
    json_t *p = json_loads(props_text, JSON_DECODE_ANY, NULL);
    json_t *f = json_loads(fields_text, JSON_DECODE_ANY, NULL);
    enum ms_status st;

    cr_assert(p != NULL && f != NULL, "%s %s", props_text, fields_text);
    memset(err, 0, sizeof(*err));
    *id = NULL;
    st = cx->impl->create_object(cx, p, f, id, err);
    json_decref(p);
    json_decref(f);
    return st;
}

Test(cx_csv, create_object)
{
    struct ms_cx *cx = tf_open(&ms_connector_csv);
    struct ms_error err;
    char *id = NULL, *text;
    size_t len;
    json_t *out = NULL;

    cr_assert_eq(tf_create(cx, "{\"file\": \"new.csv\"}",
                           "[{\"name\": \"id\", \"type\": \"number\"}, {\"name\": \"a,b\"},"
                           " {\"name\": \"say \\\"x\\\"\"}, {\"name\": \"two\\nlines\"}]",
                           &id, &err),
                 MS_OK, "%s", err.msg);
    cr_expect_str_eq(id, "new.csv");
    free(id);
    text = tf_slurp("new.csv", &len);
    cr_expect_str_eq(text, "id,\"a,b\",\"say \"\"x\"\"\",\"two\nlines\"\n");
    free(text);
    cr_assert_eq(cx->impl->object_fields(cx, "new.csv", &out, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(json_array_size(out), 4);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 2), "name")),
                     "say \"x\"");
    json_decref(out);

    tf_expect(tf_create(cx, "{\"file\": \"new.csv\"}", "[{\"name\": \"x\"}]", &id, &err),
              MS_EUNPROC, &err, "target.create.file", "exists");
    tf_expect(tf_create(cx, "{\"file\": \"new.txt\"}", "[{\"name\": \"x\"}]", &id, &err), MS_EINVAL,
              &err, "target.create.file", "extension");
    tf_expect(tf_create(cx, "{\"file\": \"../new.csv\"}", "[{\"name\": \"x\"}]", &id, &err),
              MS_EINVAL, &err, "target.create.file", "traversal");
    tf_expect(tf_create(cx, "{}", "[{\"name\": \"x\"}]", &id, &err), MS_EINVAL, &err,
              "target.create.file", "missing");
    tf_expect(
        tf_create(cx, "{\"file\": \"x.csv\", \"table\": \"t\"}", "[{\"name\": \"x\"}]", &id, &err),
        MS_EINVAL, &err, "target.create.table", "extra member");
    tf_expect(tf_create(cx, "{\"file\": \"x.csv\"}", "[]", &id, &err), MS_EINVAL, &err, "fields",
              "no fields");
    tf_expect(
        tf_create(cx, "{\"file\": \"x.csv\"}", "[{\"name\": \"a\"}, {\"name\": \"a\"}]", &id, &err),
        MS_EINVAL, &err, "fields", "duplicate");
    tf_expect(tf_create(cx, "{\"file\": \"x.csv\"}", "[{\"name\": \"\"}]", &id, &err), MS_EINVAL,
              &err, "fields", "empty name");
    tf_expect(tf_create(cx, "{\"file\": \"x.csv\"}", "{}", &id, &err), MS_EINVAL, &err, "fields",
              "not an array");
    cr_expect_null(id);
    cr_expect(!tf_exists("x.csv"), "nothing created");
    ms_cx_close(cx);
}

/* ---- JSON Lines ---- */

Test(cx_jsonl, union_of_keys_and_typed_values)
{
    static const char data[] =
        "\xef\xbb\xbf{\"id\": 1, \"name\": \"a\", \"score\": 1.5}\n"
        "\n"
        "   \r\n"
        "{\"name\": \"b\", \"id\": 2, \"tags\": [1, \"x\"], \"ok\": true}\r\n"
        "{\"id\": 3, \"meta\": {\"k\": [true, null]}, \"ok\": false, \"score\": null,"
        " \"nul\": \"a\\u0000b\"}\n"
        "{\"id\": 9223372036854775807, \"name\": \"\\u00e9\\\"\"}";
    struct ms_cx *cx;
    struct tf_read r;

    tf_writes("u.jsonl", data);
    cx = tf_open(&ms_connector_jsonl);
    for (size_t cap = 1; cap <= 1000; cap += 999) {
        r = tf_read(cx, "u.jsonl", cap);
        cr_assert_eq(r.st, MS_OK, "%s", r.err.msg);
        tf_expect_json(r.cols, "[\"id\", \"name\", \"score\", \"tags\", \"ok\", \"meta\","
                               " \"nul\"]");
        tf_expect_json(r.rows,
                       "[[1, {\"text\": \"a\"}, 1.5, null, null, null, null],"
                       " [2, {\"text\": \"b\"}, null, {\"text\": \"[1,\\\"x\\\"]\"}, true, null,"
                       "  null],"
                       " [3, null, null, null, false, {\"text\": \"{\\\"k\\\":[true,null]}\"},"
                       "  {\"text\": \"a\\u0000b\"}],"
                       " [9223372036854775807, {\"text\": \"\\u00e9\\\"\"}, null, null, null,"
                       "  null, null]]");
        tf_read_release(&r);
    }
    ms_cx_close(cx);
}

Test(cx_jsonl, fields_from_json_types)
{
    struct ms_cx *cx;
    json_t *f;

    tf_writes("t.jsonl", "{\"i\": 1, \"r\": 1, \"b\": true, \"s\": \"x\", \"o\": {}, \"a\": [],"
                         " \"n\": null, \"m\": 1}\n"
                         "{\"i\": 2, \"r\": 2.5, \"b\": false, \"s\": \"y\", \"o\": {\"k\": 1},"
                         " \"a\": [1], \"n\": null, \"m\": \"1\"}\n");
    cx = tf_open(&ms_connector_jsonl);
    f = tf_fields(cx, "t.jsonl");
    tf_expect_json(f, "[{\"name\": \"i\", \"type\": \"number\", \"remote_type\": \"integer\"},"
                      " {\"name\": \"r\", \"type\": \"number\", \"remote_type\": \"number\"},"
                      " {\"name\": \"b\", \"type\": \"boolean\", \"remote_type\": \"boolean\"},"
                      " {\"name\": \"s\", \"type\": \"string\", \"remote_type\": \"string\"},"
                      " {\"name\": \"o\", \"type\": \"object\", \"remote_type\": \"object\"},"
                      " {\"name\": \"a\", \"type\": \"array\", \"remote_type\": \"array\"},"
                      " {\"name\": \"n\", \"type\": \"string\", \"remote_type\": \"null\"},"
                      " {\"name\": \"m\", \"type\": \"string\", \"remote_type\": \"mixed\"}]");
    json_decref(f);
    ms_cx_close(cx);
}

Test(cx_jsonl, keys_after_the_sample_are_ignored)
{
    char path[512];
    struct ms_cx *cx;
    struct tf_read r;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/late.jsonl", tf_dir);
    fp = fopen(path, "w");
    for (int i = 1; i <= 1000; i++)
        fprintf(fp, "{\"n\": %d}\n\n", i); /* blank lines don't count */
    fprintf(fp, "{\"n\": 1001, \"late\": \"ignored\"}\n");
    fclose(fp);
    cx = tf_open(&ms_connector_jsonl);
    r = tf_read(cx, "late.jsonl", 300);
    cr_assert_eq(r.st, MS_OK, "%s", r.err.msg);
    tf_expect_json(r.cols, "[\"n\"]");
    cr_assert_eq(json_array_size(r.rows), 1001);
    for (size_t i = 0; i < 1001; i++)
        cr_assert_eq(json_integer_value(json_array_get(json_array_get(r.rows, i), 0)),
                     (json_int_t)i + 1);
    cr_expect_eq(r.batches, 4);
    tf_read_release(&r);
    ms_cx_close(cx);
}

Test(cx_jsonl, bad_lines)
{
    struct ms_cx *cx = tf_open(&ms_connector_jsonl);
    char *big;
    size_t n = 9 + MS_MAX_VALUE_BYTES + 1; /* line 2 is one byte over the cap */

    tf_expect_read_error(cx, "a.jsonl", "{\"a\": 1}\n[1, 2]\n", MS_EUPSTREAM, NULL,
                         "line 2: not a JSON object");
    tf_expect_read_error(cx, "b.jsonl", "{\"a\": 1}\n\n{\"a\": }\n", MS_EUPSTREAM, NULL,
                         "line 3: invalid JSON");
    tf_expect_read_error(cx, "c.jsonl", "{\"a\": 1} {\"a\": 2}\n", MS_EUPSTREAM, NULL, "line 1");
    tf_expect_read_error(cx, "d.jsonl", "\"text\"\n", MS_EUPSTREAM, NULL, "line 1");
    tf_wide_header("wide.jsonl", MS_MAX_COLUMNS + 1);
    tf_expect_read_error(cx, "wide.jsonl", NULL, MS_ETOOBIG, NULL, "more than 1024 keys");
    tf_expect_read_error(cx, "e.jsonl", "", MS_OK, NULL, NULL); /* empty: no rows, no columns */
    big = malloc(n);
    memcpy(big, "{\"a\": 1}\n{\"a\": \"", 16);
    memset(big + 16, 'x', n - 16);
    tf_write("big.jsonl", big, n);
    free(big);
    tf_expect_read_error(cx, "big.jsonl", NULL, MS_ETOOBIG, NULL, "line 2");
    ms_cx_close(cx);
}

Test(cx_jsonl, lines_past_the_first_sample_are_still_checked)
{
    char path[512];
    struct ms_cx *cx;
    struct tf_read r;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/late.jsonl", tf_dir);
    fp = fopen(path, "w");
    for (int i = 1; i <= 1500; i++)
        fprintf(fp, "{\"n\": %d}\n", i);
    fprintf(fp, "not json\n");
    fclose(fp);
    cx = tf_open(&ms_connector_jsonl);
    r = tf_read(cx, "late.jsonl", 1000);
    cr_expect_eq(r.st, MS_EUPSTREAM);
    cr_expect(strstr(r.err.msg, "line 1501") != NULL, "%s", r.err.msg);
    tf_read_release(&r);
    ms_cx_close(cx);
}

Test(cx_jsonl, targets)
{
    struct ms_cx *cx = tf_open(&ms_connector_jsonl);
    struct ms_error err;
    json_t *out = NULL;
    char *id = NULL, *text;
    size_t len;

    tf_writes("x.csv", "a\n");
    tf_writes("z.jsonl", "{\"k\": 1, \"v\": \"s\"}\n");
    cr_assert_eq(tf_create(cx, "{\"file\": \"new.jsonl\"}", "[{\"name\": \"k\"}]", &id, &err),
                 MS_OK, "%s", err.msg);
    cr_expect_str_eq(id, "new.jsonl");
    free(id);
    text = tf_slurp("new.jsonl", &len);
    cr_expect_eq(len, 0);
    free(text);
    tf_expect(tf_create(cx, "{\"file\": \"new.jsonl\"}", "[]", &id, &err), MS_EUNPROC, &err,
              "target.create.file", "exists");
    tf_expect(tf_create(cx, "{\"file\": \"new.csv\"}", "[]", &id, &err), MS_EINVAL, &err,
              "target.create.file", "extension");

    memset(&err, 0, sizeof(err));
    cr_assert_eq(cx->impl->objects(cx, &out, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(out), 2);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 0), "id")), "new.jsonl");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 1), "id")), "z.jsonl");
    json_decref(out);
    cr_assert_eq(cx->impl->object_fields(cx, "new.jsonl", &out, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(json_array_size(out), 0, "a new file has no keys yet");
    json_decref(out);
    cr_assert_eq(cx->impl->object_fields(cx, "z.jsonl", &out, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(out), 2);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 0), "type")), "number");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 1), "source_type")),
                     "string");
    json_decref(out);
    out = NULL;
    cr_expect_eq(cx->impl->object_fields(cx, "gone.jsonl", &out, &err), MS_ENOTFOUND);
    cr_expect_null(out);
    ms_cx_close(cx);
}
