/*
 * recordlog.c: the record logs of an execution (API.md §6.5/§6.6, DECISIONS.md "Record logs"):
 * <log_dir>/<sync_id>/<execution_id>/<type>.jsonl, one JSON object per line,
 * {"key", "op", "data"} plus "error" in errors.jsonl and "warning" in warnings.jsonl.
 *
 * The engine appends lines as it settles each batch and flushes them when the batch commits,
 * so a reader (B6) sees progress and a crash loses at most the batch in flight. A line is built
 * once into a buffer reused for the whole run and copied to every file that gets it (records
 * and the op's file): strings are escaped by runs over a byte-class table, the column names
 * are escaped once per run, numbers are formatted by hand (MS_V_NUM copied as the source wrote
 * it). Bytes that are not UTF-8 become U+FFFD, as in previews. A failing disk turns the logs
 * off for the rest of the run with one console warning instead of failing a sync whose data
 * moved fine. Execution thread only.
 */
#include "engine/engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xmalloc.h"

#define LOG_FILE_BUF_BYTES ((size_t)64 << 10) /* stdio buffer of each log file */
#define LOG_ESC_CHUNK ((size_t)16 << 10)      /* string bytes escaped per reservation (6x each) */

static const char *const log_files[MS_ENG_LOG_COUNT] = {
    [MS_ENG_LOG_RECORDS] = "records.jsonl", [MS_ENG_LOG_INSERTS] = "inserts.jsonl",
    [MS_ENG_LOG_UPDATES] = "updates.jsonl", [MS_ENG_LOG_DELETES] = "deletes.jsonl",
    [MS_ENG_LOG_ERRORS] = "errors.jsonl",   [MS_ENG_LOG_WARNINGS] = "warnings.jsonl",
};

/*
 * What a byte needs inside a JSON string: 0 copied as is, 1 escaped (control characters, '"',
 * '\\'), 2 the start of a UTF-8 sequence to validate. DEL (0x7f) is copied, as JSON allows.
 */
static const unsigned char log_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20: '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50: '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x90 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xa0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xb0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xc0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xd0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xe0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xf0 */
};

void
ms_eng_log_init(struct ms_eng_log *l, const char *log_dir, const char *sync_id, const char *exec_id)
{
    size_t n;

    memset(l, 0, sizeof(*l));
    if (log_dir == NULL || log_dir[0] == '\0')
        return;
    n = strlen(log_dir) + strlen(sync_id) + strlen(exec_id) + 3;
    l->dir = ms_xmalloc(n);
    snprintf(l->dir, n, "%s/%s/%s", log_dir, sync_id, exec_id);
}

/* mkdir -p of path; 0700, as the logs hold record data. */
static bool
log_mkdirs(char *path)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;

        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            *p = c;
            return false;
        }
        *p = c;
        if (c == '\0')
            return true;
    }
}

/* The open file of type t, created (with its directory) on first use; NULL when logs are off. */
static FILE *
log_file(struct ms_eng_log *l, enum ms_eng_log_type t)
{
    char *path;
    size_t n;
    int fd;

    if (l->dir == NULL || l->broken)
        return NULL;
    if (l->f[t] != NULL)
        return l->f[t];
    if (!log_mkdirs(l->dir)) {
        snprintf(l->why, sizeof(l->why), "cannot create %s: %s", l->dir, strerror(errno));
        l->broken = true;
        return NULL;
    }
    n = strlen(l->dir) + strlen(log_files[t]) + 2;
    path = ms_xmalloc(n);
    snprintf(path, n, "%s/%s", l->dir, log_files[t]);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    l->f[t] = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (l->f[t] == NULL) {
        if (fd >= 0)
            close(fd);
        snprintf(l->why, sizeof(l->why), "cannot open %s: %s", path, strerror(errno));
        l->broken = true;
    } else {
        setvbuf(l->f[t], NULL, _IOFBF, LOG_FILE_BUF_BYTES); /* one write(2) per 64 KiB */
    }
    free(path);
    return l->f[t];
}

/* ---- building a line ---- */

/* Grow the line buffer to hold more bytes after its end. */
static void
log_grow(struct ms_eng_log *l, size_t more)
{
    size_t cap = l->cap == 0 ? 4096 : l->cap;

    while (cap - l->len < more)
        cap *= 2;
    l->line = ms_xrealloc(l->line, cap);
    l->cap = cap;
}

/* Room for more bytes after the line's end; returns where they go. */
static inline char *
log_room(struct ms_eng_log *l, size_t more)
{
    if (more > l->cap - l->len)
        log_grow(l, more);
    return l->line + l->len;
}

/* Append n bytes (a constant n becomes a plain store). */
static inline void
log_put(struct ms_eng_log *l, const char *p, size_t n)
{
    memcpy(log_room(l, n), p, n);
    l->len += n;
}

/* Length of the valid UTF-8 sequence at s (max left bytes), 0 when invalid. */
static size_t
log_u8(const unsigned char *s, size_t left)
{
    size_t n;
    uint32_t cp;

    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 1, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 2, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 3, cp = s[0] & 0x07;
    else
        return 0;
    if (left <= n)
        return 0;
    for (size_t k = 1; k <= n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n + 1;
}

/* The escape of one byte of class 1 at w (at most 6 bytes); returns the byte after it. */
static char *
log_esc_byte(char *w, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";

    w[0] = '\\';
    switch (c) {
    case '"':
    case '\\':
        w[1] = (char)c;
        return w + 2;
    case '\n':
        w[1] = 'n';
        return w + 2;
    case '\t':
        w[1] = 't';
        return w + 2;
    case '\r':
        w[1] = 'r';
        return w + 2;
    default:
        memcpy(w + 1, "u00", 3);
        w[4] = hex[c >> 4];
        w[5] = hex[c & 15];
        return w + 6;
    }
}

/* Do the 8 bytes at s all go into a JSON string as they are (printable ASCII, no '"' or
 * '\\')? Word-at-a-time tests for a byte < 0x20, equal to either, or >= 0x80. */
static inline bool
log_clean8(const unsigned char *s)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t x, q, b;

    memcpy(&x, s, 8);
    q = x ^ (ones * '"');
    b = x ^ (ones * '\\');
    return (((x - ones * 0x20) | (q - ones) | (b - ones)) & ~x & highs) == 0 && (x & highs) == 0;
}

/*
 * Escape s[*i..) into w until *i reaches stop (a UTF-8 sequence may end up to 3 bytes past
 * it), skipping clean 8-byte words and copying runs that need nothing with memcpy. Returns the
 * end of what it wrote.
 */
static char *
log_esc_part(char *w, const unsigned char *s, size_t n, size_t *i, size_t stop)
{
    size_t k = *i, run = k, m;

    while (k < stop) {
        unsigned char cls;

        if (k + 8 <= stop && log_clean8(s + k)) {
            k += 8;
            continue;
        }
        cls = log_class[s[k]];
        if (cls == 0) {
            k++;
            continue;
        }
        if (cls == 2 && (m = log_u8(s + k, n - k)) > 0) {
            k += m;
            continue;
        }
        memcpy(w, s + run, k - run);
        w += k - run;
        if (cls == 1) {
            w = log_esc_byte(w, s[k]);
        } else {
            memcpy(w, "\xef\xbf\xbd", 3); /* U+FFFD for a byte that is not UTF-8 */
            w += 3;
        }
        run = ++k;
    }
    memcpy(w, s + run, k - run);
    *i = k;
    return w + (k - run);
}

/* A JSON string of p[0..n): at most 6 bytes per input byte, reserved a chunk at a time. */
static void
log_str(struct ms_eng_log *l, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    char *w;

    log_put(l, "\"", 1);
    while (i < n) {
        size_t stop = n - i > LOG_ESC_CHUNK ? i + LOG_ESC_CHUNK : n;

        w = log_room(l, 6 * (stop - i) + 6 * 3);
        l->len = (size_t)(log_esc_part(w, s, n, &i, stop) - l->line);
    }
    log_put(l, "\"", 1);
}

static void
log_value(struct ms_eng_log *l, const struct ms_value *v)
{
    size_t n;

    switch (v->type) {
    case MS_V_INT:
        l->len += ms_value_int_text(v->u.i, log_room(l, MS_VALUE_INT_LEN));
        return;
    case MS_V_REAL:
        if ((n = ms_value_real_text(v->u.d, log_room(l, MS_VALUE_REAL_LEN))) == 0)
            break; /* NaN and infinities have no JSON form */
        l->len += n;
        return;
    case MS_V_NUM: /* a JSON number already */
        log_put(l, v->u.s.p, v->u.s.len);
        return;
    case MS_V_BOOL:
        if (v->u.b)
            log_put(l, "true", 4);
        else
            log_put(l, "false", 5);
        return;
    case MS_V_TEXT:
        log_str(l, v->u.s.p, v->u.s.len);
        return;
    case MS_V_NULL:
        break;
    }
    log_put(l, "null", 4);
}

/* Escape the column names once: `{"n0":` then `,"n1":` …, ends in name_end. */
static void
log_names(struct ms_eng_log *l, const char *const *names, size_t n)
{
    size_t len = l->len;

    if (n == l->nnames && (n == 0 || memcmp(l->names_of, names, n * sizeof(*names)) == 0))
        return;
    free(l->names);
    free(l->names_of);
    free(l->name_end);
    l->names_of = ms_xmalloc((n + 1) * sizeof(*names));
    if (n > 0)
        memcpy(l->names_of, names, n * sizeof(*names));
    l->name_end = ms_xmalloc((n + 1) * sizeof(*l->name_end));
    l->nnames = n;
    for (size_t i = 0; i < n; i++) { /* built at the line's end, then moved out */
        log_put(l, i == 0 ? "{" : ",", 1);
        log_str(l, names[i], strlen(names[i]));
        log_put(l, ":", 1);
        l->name_end[i] = l->len - len;
    }
    l->names = ms_xmalloc(l->len - len + 1);
    memcpy(l->names, l->line + len, l->len - len);
    l->len = len;
}

/* {"key":…,"op":…,"data":… without the closing brace, into l->line. */
static void
log_build(struct ms_eng_log *l, const struct ms_value *key, const char *op,
          const char *const *names, const struct ms_value *vals, size_t n)
{
    static const struct ms_value null_value = {.type = MS_V_NULL};

    l->len = 0;
    log_put(l, "{\"key\":", 7);
    log_value(l, key != NULL ? key : &null_value);
    log_put(l, ",\"op\":", 6);
    log_str(l, op, strlen(op));
    log_put(l, ",\"data\":", 8);
    if (vals == NULL) {
        log_put(l, "null", 4);
        return;
    }
    log_names(l, names, n);
    if (n == 0)
        log_put(l, "{", 1);
    for (size_t i = 0; i < n; i++) {
        size_t from = i == 0 ? 0 : l->name_end[i - 1];

        log_put(l, l->names + from, l->name_end[i] - from);
        log_value(l, &vals[i]);
    }
    log_put(l, "}", 1);
}

/*
 * Write the built line to t's file with its end: "}\n", or `,"<member>":<note>}\n` when
 * member is not NULL ("error", "warning").
 */
static void
log_emit(struct ms_eng_log *l, enum ms_eng_log_type t, const char *member, const char *note)
{
    FILE *f = log_file(l, t);
    size_t len = l->len;

    if (f == NULL)
        return;
    if (member != NULL) {
        log_put(l, ",\"", 2);
        log_put(l, member, strlen(member));
        log_put(l, "\":", 2);
        log_str(l, note, strlen(note));
    }
    log_put(l, "}\n", 2);
    fwrite(l->line, 1, l->len, f);
    l->len = len;
}

void
ms_eng_log_line(struct ms_eng_log *l, enum ms_eng_log_type t, const struct ms_value *key,
                const char *op, const char *const *names, const struct ms_value *vals, size_t n,
                const char *note)
{
    const char *member = NULL;

    if (l->dir == NULL || l->broken)
        return;
    if (note != NULL && (t == MS_ENG_LOG_ERRORS || t == MS_ENG_LOG_WARNINGS))
        member = t == MS_ENG_LOG_ERRORS ? "error" : "warning";
    log_build(l, key, op, names, vals, n);
    log_emit(l, t, member, note);
}

void
ms_eng_log_record(struct ms_eng_log *l, enum ms_eng_log_type t, const struct ms_value *key,
                  const char *op, const char *const *names, const struct ms_value *vals, size_t n,
                  const char *note)
{
    if (l->dir == NULL || l->broken)
        return;
    log_build(l, key, op, names, vals, n);
    if (t == MS_ENG_LOG_ERRORS) {
        log_emit(l, MS_ENG_LOG_RECORDS, "error", note);
        log_emit(l, MS_ENG_LOG_ERRORS, "error", note);
        return;
    }
    log_emit(l, MS_ENG_LOG_RECORDS, NULL, NULL);
    if (t != MS_ENG_LOG_RECORDS)
        log_file(l, t); /* the op's file, empty: its lines are read from records.jsonl */
}

/* The end of the JSON scalar that starts at p (a string with its escapes, or a bare word). */
static size_t
log_scalar_end(const char *p, size_t len)
{
    size_t i = 0;

    if (len == 0 || p[0] != '"') {
        while (i < len && p[i] != ',')
            i++;
        return i;
    }
    for (i = 1; i < len; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return len;
}

bool
ms_engine_log_line_of(const char *line, size_t len, const char *type)
{
    static const char head[] = "{\"key\":", mid[] = ",\"op\":\"";
    size_t i = sizeof(head) - 1;
    const char *op, *q;

    /* a rejected record's line ends with its "error" string; data ends with '}' or null */
    if (len < i + 2 || memcmp(line, head, i) != 0 || line[len - 1] != '}' || line[len - 2] == '"')
        return false;
    i += log_scalar_end(line + i, len - i);
    if (len - i < sizeof(mid) - 1 || memcmp(line + i, mid, sizeof(mid) - 1) != 0)
        return false;
    op = line + i + sizeof(mid) - 1;
    if ((q = memchr(op, '"', (size_t)(line + len - op))) == NULL || q - op != 6)
        return false; /* every op name has six letters */
    if (strcmp(type, "inserts") == 0)
        return memcmp(op, "insert", 6) == 0;
    if (strcmp(type, "updates") == 0)
        return memcmp(op, "update", 6) == 0 || memcmp(op, "upsert", 6) == 0;
    return strcmp(type, "deletes") == 0 && memcmp(op, "delete", 6) == 0;
}

void
ms_eng_json_value(FILE *f, const struct ms_value *v)
{
    struct ms_eng_log l = {.dir = NULL};

    log_value(&l, v);
    fwrite(l.line, 1, l.len, f);
    free(l.line);
}

enum ms_status
ms_eng_log_flush(struct ms_eng_log *l, struct ms_error *err)
{
    for (int t = 0; t < MS_ENG_LOG_COUNT && !l->broken; t++)
        if (l->f[t] != NULL && (fflush(l->f[t]) != 0 || ferror(l->f[t]))) {
            snprintf(l->why, sizeof(l->why), "cannot write %s: %s", log_files[t], strerror(errno));
            l->broken = true;
        }
    if (l->broken)
        return ms_fail(err, MS_EUPSTREAM, "record logs: %s", l->why);
    return MS_OK;
}

void
ms_eng_log_close(struct ms_eng_log *l)
{
    for (int t = 0; t < MS_ENG_LOG_COUNT; t++)
        if (l->f[t] != NULL)
            fclose(l->f[t]);
    free(l->dir);
    free(l->line);
    free(l->names);
    free(l->names_of);
    free(l->name_end);
    memset(l, 0, sizeof(*l));
}
