/*
 * registry.c: the static list of built-in connectors, the startup check of their descriptors,
 * open/close, and the helpers every implementation shares (row batches, values as JSON, modes),
 * plus the directory and streaming-file helpers of the csv and jsonl connectors
 * (connectors_int.h). The registry is read-only after startup, so any thread may call
 * ms_cx_find()/ms_cx_all(); an open connection belongs to the thread that opened it.
 */
#include "connectors/connector.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/connectors_int.h"
#include "core/xmalloc.h"
#include "model/model.h"

/* Listing order of GET /api/connection_types. */
static const struct ms_connector *const builtin[] = {
    &ms_connector_postgresql, &ms_connector_sqlite,  &ms_connector_csv,
    &ms_connector_jsonl,      &ms_connector_webhook,
};

#ifdef MS_TESTING
/* Test-build connectors: checked and found by type, but not listed (C3 shows the real ones). */
static const struct ms_connector *const testing[] = {&ms_connector_memory, &ms_connector_fault};
#endif

/* ---- registry ---- */

static bool
registry_json_object_ok(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    bool ok = json_is_object(j);

    json_decref(j);
    return ok;
}

MS_STATIC enum ms_status
registry_check_one(const struct ms_connector *c, struct ms_error *err)
{
    const char *t = c->type != NULL ? c->type : "(null)";

    if (c->abi != MS_CONNECTOR_ABI)
        return ms_fail(err, MS_EINTERNAL, "connector %s: abi %u, this build has %u", t, c->abi,
                       (unsigned)MS_CONNECTOR_ABI);
    if (c->type == NULL || c->name == NULL || c->schema == NULL || c->secrets == NULL)
        return ms_fail(err, MS_EINTERNAL, "connector %s: type, name, schema or secrets unset", t);
    if (c->size < sizeof(struct ms_cx))
        return ms_fail(err, MS_EINTERNAL, "connector %s: size smaller than struct ms_cx", t);
    if (!registry_json_object_ok(c->schema))
        return ms_fail(err, MS_EINTERNAL, "connector %s: schema is not a JSON object", t);
    if (c->validate == NULL || c->open == NULL || c->close == NULL || c->test == NULL)
        return ms_fail(err, MS_EINTERNAL, "connector %s: validate/open/close/test unset", t);
    if ((c->flags & MS_CX_SOURCE) &&
        (c->fields == NULL || c->read_begin == NULL || c->read == NULL || c->read_end == NULL ||
         c->model_validate == NULL || c->describe == NULL))
        return ms_fail(err, MS_EINTERNAL, "connector %s: source slots unset", t);
    if ((c->flags & MS_CX_DEST) && (c->objects == NULL || c->object_fields == NULL))
        return ms_fail(err, MS_EINTERNAL, "connector %s: destination slots unset", t);
    if ((c->flags & MS_CX_CREATE) && c->create_object == NULL)
        return ms_fail(err, MS_EINTERNAL, "connector %s: create_object unset", t);
    if (c->target_creation != NULL && !registry_json_object_ok(c->target_creation))
        return ms_fail(err, MS_EINTERNAL, "connector %s: target_creation is not a JSON object", t);
    return MS_OK;
}

enum ms_status
ms_cx_registry_check(struct ms_error *err)
{
    for (size_t i = 0; i < MS_ARRAY_LEN(builtin); i++) {
        enum ms_status st = registry_check_one(builtin[i], err);

        if (st != MS_OK)
            return st;
        for (size_t j = 0; j < i; j++)
            if (strcmp(builtin[j]->type, builtin[i]->type) == 0)
                return ms_fail(err, MS_EINTERNAL, "connector %s: type listed twice",
                               builtin[i]->type);
    }
#ifdef MS_TESTING
    for (size_t i = 0; i < MS_ARRAY_LEN(testing); i++) {
        enum ms_status st = registry_check_one(testing[i], err);

        if (st != MS_OK)
            return st;
    }
#endif
    return MS_OK;
}

const struct ms_connector *
ms_cx_find(const char *type)
{
    if (type == NULL)
        return NULL;
    for (size_t i = 0; i < MS_ARRAY_LEN(builtin); i++)
        if (builtin[i]->type != NULL && strcmp(builtin[i]->type, type) == 0)
            return builtin[i];
#ifdef MS_TESTING
    for (size_t i = 0; i < MS_ARRAY_LEN(testing); i++)
        if (strcmp(testing[i]->type, type) == 0)
            return testing[i];
#endif
    return NULL;
}

const struct ms_connector *const *
ms_cx_all(size_t *n)
{
    *n = MS_ARRAY_LEN(builtin);
    return builtin;
}

enum ms_status
ms_cx_open(const struct ms_connector *impl, const json_t *cfg, struct ms_cx **out,
           struct ms_error *err)
{
    struct ms_cx *cx = ms_xcalloc(1, impl->size);
    enum ms_status st;

    cx->impl = impl;
    st = impl->open(cx, cfg, err);
    if (st != MS_OK) {
        free(cx); /* open() released what it acquired; close() must not run */
        return st;
    }
    *out = cx;
    return MS_OK;
}

void
ms_cx_close(struct ms_cx *cx)
{
    if (cx == NULL)
        return;
    cx->impl->close(cx);
    free(cx);
}

/* ---- values and rows ---- */

bool
ms_cx_utf8_valid(const char *p, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07;
        else
            return false;
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += n + 1;
    }
    return true;
}

/* Text that is not UTF-8 (a CSV in Latin-1, a SQLite TEXT of raw bytes) can't be a JSON string:
 * each byte of an invalid sequence becomes U+FFFD so previews still show the rest. */
static json_t *
value_text_json(const char *p, size_t len)
{
    json_t *j = json_stringn(p, len);
    char *fixed;
    size_t o = 0;

    if (j != NULL)
        return j;
    fixed = ms_xmalloc(len * 3 + 1);
    for (size_t i = 0; i < len;) {
        size_t n = 1;

        while (n <= 4 && i + n <= len && !ms_cx_utf8_valid(p + i, n))
            n++;
        if (n <= 4 && i + n <= len) {
            memcpy(fixed + o, p + i, n);
            o += n;
            i += n;
        } else {
            memcpy(fixed + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    j = json_stringn(fixed, o);
    free(fixed);
    return j;
}

json_t *
ms_value_to_json(const struct ms_value *v)
{
    json_t *j = NULL;

    switch (v->type) {
    case MS_V_NULL:
        break;
    case MS_V_INT:
        j = json_integer(v->u.i);
        break;
    case MS_V_REAL:
    case MS_V_NUM:
        j = json_real(ms_value_double(v)); /* NULL for NaN and infinities: those become null */
        break;
    case MS_V_BOOL:
        j = json_boolean(v->u.b);
        break;
    case MS_V_TEXT:
        j = value_text_json(v->u.s.p, v->u.s.len);
        break;
    }
    return j != NULL ? j : json_null();
}

/* Skip the digits at *s (up to end); returns how many there were. */
static size_t
value_digits(const char **s, const char *end)
{
    const char *p = *s;
    size_t n;

    while (p < end && *p >= '0' && *p <= '9')
        p++;
    n = (size_t)(p - *s);
    *s = p;
    return n;
}

/* Rare path of ms_value_num_ok: a number of 1e308 or more may overflow a double. */
static bool
value_finite(const char *p, size_t len)
{
    char *copy = ms_xmalloc(len + 1);
    double d;

    memcpy(copy, p, len);
    copy[len] = '\0';
    d = strtod(copy, NULL);
    free(copy);
    return isfinite(d);
}

bool
ms_value_num_ok(const char *p, size_t len)
{
    const char *s = p, *end = p + len;
    size_t nint;
    int64_t exp = 0;
    bool neg = false;

    if (s < end && *s == '-')
        s++;
    if (s < end && *s == '0')
        nint = 1, s++;
    else if ((nint = value_digits(&s, end)) == 0)
        return false;
    if (s < end && *s == '.') {
        s++;
        if (value_digits(&s, end) == 0)
            return false;
    }
    if (s < end && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < end && (*s == '+' || *s == '-'))
            neg = *s++ == '-';
        if (s == end || *s < '0' || *s > '9')
            return false;
        for (; s < end && *s >= '0' && *s <= '9'; s++)
            if (exp < 1000000) /* saturated, the bound below only gets more cautious */
                exp = exp * 10 + (*s - '0');
    }
    if (s != end)
        return false;
    /* The value is below 10^(nint + exponent): under 10^308 it is finite without a look. */
    if ((int64_t)nint + (neg ? -exp : exp) <= 308)
        return true;
    return value_finite(p, len);
}

double
ms_value_double(const struct ms_value *v)
{
    switch (v->type) {
    case MS_V_REAL:
        return v->u.d;
    case MS_V_NUM:
        return strtod(v->u.s.p, NULL);
    case MS_V_INT:
        return (double)v->u.i;
    default:
        return NAN;
    }
}

size_t
ms_value_real_text(double d, char out[MS_VALUE_REAL_LEN])
{
    int n = 0;

    out[0] = '\0';
    if (!isfinite(d))
        return 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, MS_VALUE_REAL_LEN, "%.*g", prec, d);
        if (prec == 17 || strtod(out, NULL) == d)
            break;
    }
    return n > 0 ? (size_t)n : 0;
}

size_t
ms_value_int_text(int64_t i, char out[MS_VALUE_INT_LEN])
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930"
                                "31323334353637383940414243444546474849505152535455565758596061"
                                "62636465666768697071727374757677787980818283848586878889909192"
                                "93949596979899";
    uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    char tmp[40] = {0}, *p = tmp + 20, *w = out; /* digits end at tmp + 20 */
    size_t n;

    while (u >= 100) {
        p -= 2;
        memcpy(p, pairs + 2 * (u % 100), 2);
        u /= 100;
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * u, 2);
    } else {
        *--p = (char)('0' + u);
    }
    n = (size_t)(tmp + 20 - p);
    if (i < 0)
        *w++ = '-';
    memcpy(w, p, 20); /* a fixed-size copy (p + 20 and w + 20 stay inside); n bytes count */
    w[n] = '\0';
    return (size_t)(w - out) + n;
}

/*
 * The caller of read() resets the batch arena between batches and sets rows->nrows = 0 before
 * each read() (implementations set it again themselves). So the first push of a batch sees
 * nrows == 0 and allocates room for cap rows at once; later pushes only hand out the next row.
 */
struct ms_value *
ms_rows_push(struct ms_rows *rows)
{
    struct ms_value *row;

    MS_ASSERT(rows->cap > 0 && rows->nrows < rows->cap);
    MS_ASSERT(rows->ncols <= MS_MAX_COLUMNS);
    if (rows->nrows == 0) {
        MS_ASSERT(rows->cap <= SIZE_MAX / sizeof(struct ms_value) / (rows->ncols + 1));
        rows->cells = ms_arena_alloc(rows->arena, rows->cap * rows->ncols * sizeof(*row) + 1);
    }
    row = rows->cells + rows->nrows * rows->ncols;
    memset(row, 0, rows->ncols * sizeof(*row)); /* MS_V_NULL == 0 */
    rows->nrows++;
    return row;
}

enum ms_status
ms_value_set_text(struct ms_rows *rows, struct ms_value *v, const char *p, size_t len,
                  struct ms_error *err)
{
    char *copy;

    if (len > MS_MAX_VALUE_BYTES)
        return ms_fail(err, MS_ETOOBIG, "a value of %zu bytes is over the %zu MiB limit", len,
                       MS_MAX_VALUE_BYTES >> 20);
    copy = ms_arena_alloc(rows->arena, len + 1);
    if (len > 0)
        memcpy(copy, p, len);
    copy[len] = '\0';
    v->type = MS_V_TEXT;
    v->u.s.p = copy;
    v->u.s.len = len;
    return MS_OK;
}

json_t *
ms_cx_mode(const char *id, bool requires_identity)
{
    return json_pack("{s:s, s:b, s:b, s:b}", "id", id, "requires_identity", requires_identity,
                     "supports_per_field_mode", 0, "supports_target_filters", 0);
}

json_t *
ms_cx_identity_equality(void)
{
    return json_pack("[{s:s, s:s}]", "id", "Equality", "label", "Equality");
}

json_t *
ms_cx_target_field(const char *name, const char *type, const char *source_type, bool required,
                   bool identity)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:o}", "id",
                     name, "name", name, "type", type, "source_type", source_type, "description",
                     "", "required", required, "createable", 1, "updateable", 1, "filterable",
                     identity, "encryptable", 0, "association", 0, "supports_identity", identity,
                     "identity_functions", identity ? ms_cx_identity_equality() : json_array());
}

/* One batch of a sample into out: appends {column: value} objects. */
static void
sample_append(const struct ms_rows *rows, json_t *out)
{
    for (size_t r = 0; r < rows->nrows; r++) {
        json_t *obj = json_object();

        for (size_t c = 0; c < rows->ncols; c++)
            json_object_set_new(obj, rows->cols[c],
                                ms_value_to_json(&rows->cells[r * rows->ncols + c]));
        json_array_append_new(out, obj);
    }
}

/*
 * read_begin() gets the head arena, which lives until read_end(), so column names an
 * implementation puts in rows->arena stay valid; batches use a second arena, reset each time.
 */
enum ms_status
ms_cx_sample(struct ms_cx *cx, const json_t *model_cfg, size_t max, json_t **out,
             struct ms_error *err)
{
    const struct ms_connector *impl = cx->impl;
    struct ms_arena *head = ms_arena_new(), *batch = ms_arena_new();
    struct ms_rows rows = {.arena = head, .cap = MS_ROWS_DEFAULT};
    json_t *arr = json_array();
    enum ms_status st;

    if (impl->read_begin == NULL) {
        st = ms_fail(err, MS_EUNSUPP, "connection type %s cannot be a source", impl->type);
        goto out;
    }
    st = impl->read_begin(cx, model_cfg, &rows, err);
    rows.arena = batch;
    while (st == MS_OK && json_array_size(arr) < max) {
        ms_arena_reset(batch);
        rows.nrows = 0;
        rows.cap = max - json_array_size(arr);
        if (rows.cap > MS_ROWS_DEFAULT)
            rows.cap = MS_ROWS_DEFAULT;
        st = impl->read(cx, &rows, err);
        if (st != MS_OK || rows.nrows == 0)
            break;
        sample_append(&rows, arr);
    }
    impl->read_end(cx);
    if (st == MS_OK) {
        *out = arr;
        arr = NULL;
    }
out:
    json_decref(arr);
    ms_arena_free(batch);
    ms_arena_free(head);
    return st;
}

/* ---- column lists ---- */

void
ms_cx_cols_add(struct ms_cx_cols *c, const char *p, size_t len)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->own = ms_xrealloc(c->own, c->cap * sizeof(*c->own));
        c->v = ms_xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    c->own[c->n] = ms_xstrndup(p, len);
    c->v[c->n] = c->own[c->n];
    c->n++;
}

long
ms_cx_cols_find(const struct ms_cx_cols *c, const char *p, size_t len)
{
    for (size_t i = 0; i < c->n; i++)
        if (strncmp(c->own[i], p, len) == 0 && c->own[i][len] == '\0')
            return (long)i;
    return -1;
}

void
ms_cx_cols_release(struct ms_cx_cols *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->own[i]);
    free(c->own);
    free(c->v);
    memset(c, 0, sizeof(*c));
}

/* ---- directory connectors ---- */

enum ms_status
ms_cx_dir_validate(const json_t *cfg, struct ms_error *err)
{
    static const char *const allowed[] = {"directory", NULL};
    const char *dir = NULL;
    enum ms_status st;

    if (!json_is_object(cfg))
        return ms_fail_at(err, MS_EINVAL, "configuration", "must be an object");
    st = ms_json_only(cfg, allowed, "configuration", err);
    if (st == MS_OK)
        st = ms_json_req_str(cfg, "directory", "configuration.directory", &dir, err);
    if (st != MS_OK)
        return st;
    if (dir[0] != '/')
        return ms_fail_at(err, MS_EINVAL, "configuration.directory", "must be an absolute path");
    if (strlen(dir) != json_string_length(json_object_get(cfg, "directory")))
        return ms_fail_at(err, MS_EINVAL, "configuration.directory", "contains a NUL byte");
    return MS_OK;
}

enum ms_status
ms_cx_dir_open(const json_t *cfg, int *fd_out, char **path_out, struct ms_error *err)
{
    enum ms_status st = ms_cx_dir_validate(cfg, err);
    const char *dir;
    int fd;

    if (st != MS_OK)
        return st;
    dir = json_string_value(json_object_get(cfg, "directory"));
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        st = ms_fail(err, MS_EUPSTREAM, "cannot open directory %s: %s", dir, strerror(errno));
        if (err != NULL)
            err->native = errno;
        return st;
    }
    *fd_out = fd;
    *path_out = ms_xstrdup(dir);
    return MS_OK;
}

enum ms_status
ms_cx_dir_test(int dirfd, const char *path, struct ms_error *err)
{
    struct stat sb;

    if (fstat(dirfd, &sb) != 0 || sb.st_nlink == 0)
        return ms_fail(err, MS_EUPSTREAM, "directory %s no longer exists", path);
    if (faccessat(dirfd, ".", R_OK | W_OK | X_OK, 0) != 0)
        return ms_fail(err, MS_EUPSTREAM, "directory %s is not readable and writable: %s", path,
                       strerror(errno));
    return MS_OK;
}

bool
ms_cx_file_name_ok(const char *name, size_t len, const char *ext)
{
    size_t elen = strlen(ext);

    if (len <= elen || len > MS_CX_MAX_NAME_BYTES || memchr(name, '\0', len) != NULL ||
        memchr(name, '/', len) != NULL)
        return false;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    return memcmp(name + len - elen, ext, elen) == 0;
}

enum ms_status
ms_cx_file_model_validate(const json_t *mcfg, const char *ext, struct ms_error *err)
{
    static const char *const allowed[] = {"file", NULL};
    const char *file = NULL;
    enum ms_status st;

    if (!json_is_object(mcfg))
        return ms_fail_at(err, MS_EINVAL, "configuration", "must be an object");
    st = ms_json_only(mcfg, allowed, "configuration", err);
    if (st == MS_OK)
        st = ms_json_req_str(mcfg, "file", "configuration.file", &file, err);
    if (st != MS_OK)
        return st;
    if (!ms_cx_file_name_ok(file, json_string_length(json_object_get(mcfg, "file")), ext))
        return ms_fail_at(err, MS_EINVAL, "configuration.file",
                          "must be a plain file name ending in %s", ext);
    return MS_OK;
}

enum ms_status
ms_cx_file_create_check(const json_t *props, const json_t *fields, const char *ext,
                        const char **name_out, struct ms_error *err)
{
    static const char *const allowed[] = {"file", NULL};
    const char *file = NULL;
    enum ms_status st;

    if (!json_is_object(props))
        return ms_fail_at(err, MS_EINVAL, "target.create", "must be an object");
    if (!json_is_array(fields))
        return ms_fail_at(err, MS_EINVAL, "fields", "must be an array");
    st = ms_json_only(props, allowed, "target.create", err);
    if (st == MS_OK)
        st = ms_json_req_str(props, "file", "target.create.file", &file, err);
    if (st != MS_OK)
        return st;
    if (!ms_cx_file_name_ok(file, json_string_length(json_object_get(props, "file")), ext))
        return ms_fail_at(err, MS_EINVAL, "target.create.file",
                          "must be a plain file name ending in %s", ext);
    *name_out = file;
    return MS_OK;
}

enum ms_status
ms_cx_file_create(int dirfd, const char *name, const char *data, size_t len, struct ms_error *err)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    enum ms_status st = MS_OK;
    size_t done = 0;

    if (fd < 0 && errno == EEXIST)
        return ms_fail_at(err, MS_EUNPROC, "target.create.file", "file %s already exists", name);
    if (fd < 0)
        return ms_fail(err, MS_EUPSTREAM, "cannot create %s: %s", name, strerror(errno));
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = ms_fail(err, MS_EUPSTREAM, "cannot write %s: %s", name, strerror(errno));
            break;
        }
        done += (size_t)n;
    }
    if (close(fd) != 0 && st == MS_OK)
        st = ms_fail(err, MS_EUPSTREAM, "cannot write %s: %s", name, strerror(errno));
    if (st != MS_OK)
        unlinkat(dirfd, name, 0); /* never leave a half-written target behind */
    return st;
}

static int
dir_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void
ms_cx_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Whether dir/name is a regular file (following symlinks; dangling ones are skipped). */
static bool
dir_is_file(int dirfd, const struct dirent *de)
{
    struct stat sb;

    return fstatat(dirfd, de->d_name, &sb, 0) == 0 && S_ISREG(sb.st_mode);
}

enum ms_status
ms_cx_dir_list(int dirfd, const char *ext, char ***names_out, size_t *n_out, struct ms_error *err)
{
    int fd = dup(dirfd); /* fdopendir() takes the descriptor, and closedir() closes it */
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    char **names = NULL;
    size_t n = 0;
    enum ms_status st = MS_OK;
    struct dirent *de;

    if (d == NULL) {
        st = ms_fail(err, MS_EUPSTREAM, "cannot list directory: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return st;
    }
    rewinddir(d); /* the dup shares its offset with dirfd */
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);

        if (!ms_cx_file_name_ok(de->d_name, len, ext) || !ms_cx_utf8_valid(de->d_name, len) ||
            !dir_is_file(dirfd, de))
            continue;
        if (n == MS_CX_MAX_OBJECTS) {
            st = ms_fail(err, MS_ETOOBIG, "more than %d %s files", MS_CX_MAX_OBJECTS, ext);
            break;
        }
        names = ms_xrealloc(names, (n + 1) * sizeof(*names));
        names[n++] = ms_xstrdup(de->d_name);
    }
    closedir(d);
    if (st != MS_OK) {
        ms_cx_names_free(names, n);
        return st;
    }
    if (n > 0)
        qsort(names, n, sizeof(*names), dir_name_cmp);
    *names_out = names;
    *n_out = n;
    return MS_OK;
}

enum ms_status
ms_cx_dir_describe(int dirfd, const char *ext, json_t **out, struct ms_error *err)
{
    char **names = NULL;
    size_t n = 0;
    enum ms_status st = ms_cx_dir_list(dirfd, ext, &names, &n, err);
    json_t *items;

    if (st != MS_OK)
        return st;
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, json_string(names[i]));
    ms_cx_names_free(names, n);
    *out = json_pack("{s:{s:{s:b, s:o}}, s:{}, s:[s]}", "items", "file", "has_items", n > 0,
                     "items", items, "configuration", "requires_one_of", "file");
    return MS_OK;
}

enum ms_status
ms_cx_dir_objects(int dirfd, const char *ext, json_t **out, struct ms_error *err)
{
    char **names = NULL;
    size_t n = 0;
    enum ms_status st = ms_cx_dir_list(dirfd, ext, &names, &n, err);
    json_t *arr;

    if (st != MS_OK)
        return st;
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:[o,o,o]}", "id", names[i], "name",
                                             names[i], "modes", ms_cx_mode("append", false),
                                             ms_cx_mode("replace", false),
                                             ms_cx_mode("snapshot", false)));
    ms_cx_names_free(names, n);
    *out = arr;
    return MS_OK;
}

/* ---- streaming file reader ---- */

static enum ms_status
file_start(struct ms_cx_file *f, struct ms_error *err)
{
    enum ms_status st;

    f->pos = f->len = 0;
    f->eof = false;
    st = ms_cx_file_fill(f, err);
    if (st == MS_OK && f->len >= 3 && memcmp(f->buf, "\xef\xbb\xbf", 3) == 0)
        f->pos = 3;
    return st;
}

enum ms_status
ms_cx_file_open(struct ms_cx_file *f, int dirfd, const char *name, const char *field,
                struct ms_error *err)
{
    struct stat sb;
    enum ms_status st;
    int fd;

    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return field != NULL ? ms_fail_at(err, MS_EUNPROC, field, "no such file: %s", name)
                             : ms_fail(err, MS_ENOTFOUND, "no such file: %s", name);
    if (fd < 0)
        return ms_fail(err, MS_EUPSTREAM, "cannot open %s: %s", name, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return field != NULL ? ms_fail_at(err, MS_EUNPROC, field, "%s is not a regular file", name)
                             : ms_fail(err, MS_ENOTFOUND, "%s is not a regular file", name);
    }
    f->fd = fd;
    f->buf = ms_xmalloc(MS_CX_READ_BUF_BYTES);
    st = file_start(f, err);
    if (st != MS_OK)
        ms_cx_file_close(f);
    return st;
}

enum ms_status
ms_cx_file_fill(struct ms_cx_file *f, struct ms_error *err)
{
    ssize_t n;

    MS_ASSERT(f->pos == f->len);
    if (f->eof)
        return MS_OK;
    do
        n = read(f->fd, f->buf, MS_CX_READ_BUF_BYTES);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return ms_fail(err, MS_EUPSTREAM, "cannot read %s: %s", f->name, strerror(errno));
    f->pos = 0;
    f->len = (size_t)n;
    f->eof = n == 0;
    return MS_OK;
}

enum ms_status
ms_cx_file_rewind(struct ms_cx_file *f, struct ms_error *err)
{
    if (lseek(f->fd, 0, SEEK_SET) < 0)
        return ms_fail(err, MS_EUPSTREAM, "cannot rewind %s: %s", f->name, strerror(errno));
    return file_start(f, err);
}

enum ms_status
ms_cx_file_line(struct ms_cx_file *f, struct ms_buf *line, int64_t lineno, bool *got,
                struct ms_error *err)
{
    bool any = false;

    ms_buf_reset(line);
    for (;;) {
        const char *nl;
        size_t n;

        if (f->pos == f->len) {
            enum ms_status st = ms_cx_file_fill(f, err);

            if (st != MS_OK)
                return st;
            if (f->eof)
                break;
        }
        any = true;
        nl = memchr(f->buf + f->pos, '\n', f->len - f->pos);
        n = nl != NULL ? (size_t)(nl - (f->buf + f->pos)) : f->len - f->pos;
        if (ms_buf_add(line, f->buf + f->pos, n) != MS_OK)
            return ms_fail(err, MS_ETOOBIG, "line %lld: longer than %zu bytes", (long long)lineno,
                           line->max);
        f->pos += n;
        if (nl != NULL) {
            f->pos++;
            break;
        }
    }
    *got = any;
    return MS_OK;
}

void
ms_cx_file_close(struct ms_cx_file *f)
{
    if (f->buf != NULL) {
        close(f->fd);
        free(f->buf);
    }
    f->buf = NULL;
    f->fd = -1;
    f->pos = f->len = 0;
}
