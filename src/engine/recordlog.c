/*
 * recordlog.c: the record logs of an execution (API.md §6.5/§6.6, DECISIONS.md "Record logs"):
 * <log_dir>/<sync_id>/<execution_id>/<type>.jsonl, one JSON object per line,
 * {"key", "op", "data"} plus "error" in errors.jsonl and "warning" in warnings.jsonl.
 *
 * The engine appends lines as it settles each batch and flushes them when the batch commits,
 * so a reader (B6) sees progress and a crash loses at most the batch in flight. JSON is written
 * straight into stdio buffers (no per-record allocation); bytes that are not UTF-8 become
 * U+FFFD, as in previews. A failing disk turns the logs off for the rest of the run with one
 * console warning instead of failing a sync whose data moved fine. Execution thread only.
 */
#include "engine/engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xmalloc.h"

static const char *const log_files[MS_ENG_LOG_COUNT] = {
    [MS_ENG_LOG_RECORDS] = "records.jsonl", [MS_ENG_LOG_INSERTS] = "inserts.jsonl",
    [MS_ENG_LOG_UPDATES] = "updates.jsonl", [MS_ENG_LOG_DELETES] = "deletes.jsonl",
    [MS_ENG_LOG_ERRORS] = "errors.jsonl",   [MS_ENG_LOG_WARNINGS] = "warnings.jsonl",
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
    }
    free(path);
    return l->f[t];
}

/* Length of the valid UTF-8 sequence at s (max left bytes), 0 when invalid. */
static size_t
log_u8(const unsigned char *s, size_t left)
{
    size_t n;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
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

/* A JSON string of p[0..n). */
static void
log_str(FILE *f, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, run = 0;

    putc('"', f);
    while (i < n) {
        unsigned char c = s[i];
        size_t k;

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            run++;
            i++;
            continue;
        }
        fwrite(s + i - run, 1, run, f);
        run = 0;
        if (c < 0x80) {
            if (c == '"' || c == '\\')
                fprintf(f, "\\%c", c);
            else if (c == '\n')
                fputs("\\n", f);
            else if (c == '\t')
                fputs("\\t", f);
            else if (c == '\r')
                fputs("\\r", f);
            else
                fprintf(f, "\\u%04x", c);
            i++;
        } else if ((k = log_u8(s + i, n - i)) > 0) {
            fwrite(s + i, 1, k, f);
            i += k;
        } else {
            fputs("\xef\xbf\xbd", f);
            i++;
        }
    }
    fwrite(s + i - run, 1, run, f);
    putc('"', f);
}

void
ms_eng_json_value(FILE *f, const struct ms_value *v)
{
    switch (v->type) {
    case MS_V_INT:
        fprintf(f, "%lld", (long long)v->u.i);
        return;
    case MS_V_REAL:
        if (isfinite(v->u.d))
            fprintf(f, "%.17g", v->u.d);
        else
            fputs("null", f);
        return;
    case MS_V_BOOL:
        fputs(v->u.b ? "true" : "false", f);
        return;
    case MS_V_TEXT:
        log_str(f, v->u.s.p, v->u.s.len);
        return;
    case MS_V_NULL:
        break;
    }
    fputs("null", f);
}

void
ms_eng_log_line(struct ms_eng_log *l, enum ms_eng_log_type t, const struct ms_value *key,
                const char *op, const char *const *names, const struct ms_value *vals, size_t n,
                const char *note)
{
    static const struct ms_value null_value = {.type = MS_V_NULL};
    FILE *f = log_file(l, t);

    if (f == NULL)
        return;
    fputs("{\"key\":", f);
    ms_eng_json_value(f, key != NULL ? key : &null_value);
    fputs(",\"op\":", f);
    log_str(f, op, strlen(op));
    fputs(",\"data\":", f);
    if (vals == NULL) {
        fputs("null", f);
    } else {
        putc('{', f);
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                putc(',', f);
            log_str(f, names[i], strlen(names[i]));
            putc(':', f);
            ms_eng_json_value(f, &vals[i]);
        }
        putc('}', f);
    }
    if (note != NULL && (t == MS_ENG_LOG_ERRORS || t == MS_ENG_LOG_WARNINGS)) {
        fputs(t == MS_ENG_LOG_ERRORS ? ",\"error\":" : ",\"warning\":", f);
        log_str(f, note, strlen(note));
    }
    fputs("}\n", f);
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
    memset(l, 0, sizeof(*l));
}
