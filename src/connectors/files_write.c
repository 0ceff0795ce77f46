/*
 * files_write.c: the write side shared by the csv and jsonl connectors (connectors_int.h).
 * A run writes one file through a buffer sent with one write(2) per 64 KiB. Append adds to the
 * object in place and fdatasyncs every batch before write() acknowledges it; a failed batch is
 * cut off again (ftruncate to the previous batch's end), so the engine may send it again.
 * Replace and snapshot fill a hidden temporary file in the same directory, which a committing
 * write_end fsyncs and renames into place: readers see the old file or the new one, never a
 * mix. A struct ms_cx_out belongs to one connection, so to one thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "connectors/connectors_int.h"
#include "core/arena.h"
#include "core/time.h"

#define OUT_SNAPSHOT_TRIES 100 /* "-2" … "-99" suffixes before giving up */
#define OUT_EXEC_ID_BYTES 64   /* of the execution id, in a temporary file name */

static const char out_not_insert[] = "files cannot update or delete records";

static enum ms_status
out_errno(struct ms_error *err, const char *what, const char *name)
{
    int e = errno;
    enum ms_status st = ms_fail(err, MS_EUPSTREAM, "cannot %s %s: %s", what, name, strerror(e));

    if (err != NULL)
        err->native = e;
    return st;
}

static enum ms_status
out_write_all(struct ms_cx_out *o, const char *p, size_t n, struct ms_error *err)
{
    while (n > 0) {
        ssize_t w = write(o->fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return out_errno(err, "write", o->temp ? o->tmp : o->name);
        p += w;
        n -= (size_t)w;
    }
    return MS_OK;
}

/* Send the buffer to the file. */
static enum ms_status
out_send(struct ms_cx_out *o, struct ms_error *err)
{
    enum ms_status st = out_write_all(o, o->buf.p, o->buf.len, err);

    if (st == MS_OK)
        ms_buf_reset(&o->buf);
    return st;
}

enum ms_status
ms_cx_out_flush(struct ms_cx_out *o, struct ms_error *err)
{
    struct stat sb;
    enum ms_status st = o->torn
                            ? ms_fail(err, MS_EUPSTREAM,
                                      "%s: a failed batch could not be removed; stopping", o->name)
                            : out_send(o, err);

    if (st == MS_OK && !o->temp && fdatasync(o->fd) != 0)
        st = out_errno(err, "sync", o->name);
    if (st == MS_OK && fstat(o->fd, &sb) != 0)
        st = out_errno(err, "stat", o->temp ? o->tmp : o->name);
    if (st == MS_OK)
        o->mark = sb.st_size;
    return st;
}

/* Drop the batch in progress: its buffered bytes, and what of it already reached the file. */
static void
out_undo(struct ms_cx_out *o)
{
    ms_buf_reset(&o->buf);
    if (ftruncate(o->fd, o->mark) != 0)
        o->torn = true; /* retrying would duplicate records: later batches fail instead */
}

/* ".<name>.tmp-<execution id>", the name shortened to fit and the id reduced to [A-Za-z0-9-_]. */
static void
out_temp_name(struct ms_cx_out *o, const char *exec_id)
{
    char id[OUT_EXEC_ID_BYTES + 1];
    size_t n = 0;
    int room;

    for (const char *p = exec_id != NULL ? exec_id : ""; *p != '\0' && n < OUT_EXEC_ID_BYTES; p++) {
        char c = *p;
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '-' || c == '_';

        id[n++] = ok ? c : '_';
    }
    id[n] = '\0';
    room = (int)(MS_CX_MAX_NAME_BYTES - 1 - 5 - n); /* ".", ".tmp-", id */
    snprintf(o->tmp, sizeof(o->tmp), ".%.*s.tmp-%s", room, o->name, id);
}

/* Create the temporary file (truncating one left by an earlier attempt of this execution). */
static enum ms_status
out_open_temp(struct ms_cx_out *o, const char *exec_id, mode_t mode, bool chmod_exact,
              struct ms_error *err)
{
    out_temp_name(o, exec_id);
    o->fd = openat(o->dirfd, o->tmp,
                   O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, mode);
    if (o->fd < 0)
        return out_errno(err, "create", o->tmp);
    o->temp = true;
    if (chmod_exact)
        (void)fchmod(o->fd, mode); /* keep the replaced file's permissions despite the umask */
    return MS_OK;
}

/* Append: the object must exist; a last line without a line end is ended first. */
static enum ms_status
out_open_append(struct ms_cx_out *o, struct ms_error *err)
{
    struct stat sb;
    char last = '\n';

    o->fd = openat(o->dirfd, o->name, O_RDWR | O_APPEND | O_CLOEXEC);
    if (o->fd < 0 && errno == ENOENT)
        return ms_fail_at(err, MS_EUNPROC, "target.object", "no such file: %s", o->name);
    if (o->fd < 0)
        return out_errno(err, "open", o->name);
    if (fstat(o->fd, &sb) != 0)
        return out_errno(err, "stat", o->name);
    if (!S_ISREG(sb.st_mode))
        return ms_fail_at(err, MS_EUNPROC, "target.object", "%s is not a regular file", o->name);
    if (sb.st_size > 0 && pread(o->fd, &last, 1, sb.st_size - 1) != 1)
        return out_errno(err, "read", o->name);
    o->mark = sb.st_size;
    if (last == '\n')
        return MS_OK;
    ms_buf_addc(&o->buf, '\n'); /* one byte into an empty buffer: cannot fail */
    return ms_cx_out_flush(o, err);
}

/* Replace: the object must exist; the new file gets its permissions. */
static enum ms_status
out_open_replace(struct ms_cx_out *o, const char *exec_id, struct ms_error *err)
{
    struct stat sb;

    if (fstatat(o->dirfd, o->name, &sb, 0) != 0)
        return errno == ENOENT
                   ? ms_fail_at(err, MS_EUNPROC, "target.object", "no such file: %s", o->name)
                   : out_errno(err, "stat", o->name);
    if (!S_ISREG(sb.st_mode))
        return ms_fail_at(err, MS_EUNPROC, "target.object", "%s is not a regular file", o->name);
    return out_open_temp(o, exec_id, sb.st_mode & 07777, true, err);
}

/* Snapshot: "<stem>-<UTC time><ext>", or with "-2" … when a file of that name exists. */
static enum ms_status
out_open_snapshot(struct ms_cx_out *o, const char *object, const char *ext, const char *exec_id,
                  struct ms_error *err)
{
    int stem = (int)(strlen(object) - strlen(ext));
    time_t now = (time_t)(ms_time_now_ms() / 1000);
    char stamp[32], suffix[16] = "";
    struct stat sb;
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    for (int n = 1; n < OUT_SNAPSHOT_TRIES; n++) {
        int len;

        if (n > 1)
            snprintf(suffix, sizeof(suffix), "-%d", n);
        len = snprintf(o->name, sizeof(o->name), "%.*s-%s%s%s", stem, object, stamp, suffix, ext);
        if (len < 0 || (size_t)len >= sizeof(o->name))
            return ms_fail_at(err, MS_EUNPROC, "target.object",
                              "%s: name too long for a snapshot file", object);
        if (fstatat(o->dirfd, o->name, &sb, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT) {
            o->snapshot = true;
            return out_open_temp(o, exec_id, 0644, false, err);
        }
    }
    return ms_fail(err, MS_EUPSTREAM, "%s: %d snapshot files named for %s already exist", object,
                   OUT_SNAPSHOT_TRIES - 1, stamp);
}

/* Close, unlink a temporary file still there, free, and zero o. */
static void
out_release(struct ms_cx_out *o)
{
    if (o->fd >= 0)
        close(o->fd);
    if (o->temp && o->tmp[0] != '\0')
        unlinkat(o->dirfd, o->tmp, 0);
    ms_buf_release(&o->buf);
    memset(o, 0, sizeof(*o));
}

enum ms_status
ms_cx_out_begin(struct ms_cx_out *o, int dirfd, const struct ms_write_plan *plan, const char *ext,
                struct ms_error *err)
{
    const char *mode = plan->mode != NULL ? plan->mode : "(null)";
    const char *obj = plan->object != NULL ? plan->object : "";
    enum ms_status st;

    memset(o, 0, sizeof(*o));
    o->dirfd = dirfd;
    o->fd = -1;
    o->plan = plan;
    ms_buf_init(&o->buf, MS_CX_MAX_ROW_BYTES + MS_CX_WRITE_BUF_BYTES);
    if (!ms_cx_file_name_ok(obj, strlen(obj), ext))
        return ms_fail_at(err, MS_EUNPROC, "target.object", "not a %s file name: %s", ext, obj);
    memcpy(o->name, obj, strlen(obj) + 1); /* fits: ms_cx_file_name_ok() caps the length */
    if (strcmp(mode, "append") != 0 && strcmp(mode, "replace") != 0 &&
        strcmp(mode, "snapshot") != 0)
        st = ms_fail_key(err, MS_EUNSUPP, "unsupported_mode", "files do not support mode %s", mode);
    else if (strcmp(mode, "append") != 0 && !plan->full) /* MS_CX_NOKEY: whole rewrites only */
        st = ms_fail(err, MS_EINTERNAL, "mode %s of a file must be a full rewrite", mode);
    else if (strcmp(mode, "append") == 0)
        st = out_open_append(o, err);
    else if (strcmp(mode, "replace") == 0)
        st = out_open_replace(o, plan->execution_id, err);
    else
        st = out_open_snapshot(o, obj, ext, plan->execution_id, err);
    if (st != MS_OK) {
        out_release(o);
        return st;
    }
    o->active = true;
    return MS_OK;
}

/* Cut a record that failed half-way off the buffer (ms_buf keeps p[len] == '\0'). */
static void
out_cut(struct ms_cx_out *o, size_t len)
{
    o->buf.len = len;
    if (o->buf.p != NULL)
        o->buf.p[len] = '\0';
}

/* Format the batch's records into the buffer, sending it to the file each time it fills. */
static enum ms_status
out_rows(struct ms_cx_out *o, struct ms_ops *ops, ms_cx_row_fn row, void *ctx, struct ms_error *err)
{
    for (size_t i = 0; i < ops->n; i++) {
        struct ms_op *op = &ops->op[i];
        size_t start = o->buf.len;

        op->rejected = false;
        op->error = NULL;
        if (op->kind != MS_OP_INSERT) {
            op->rejected = true;
            op->error = out_not_insert;
            continue;
        }
        if (op->vals == NULL)
            return ms_fail(err, MS_EINTERNAL, "op %zu: an insert without values", i);
        if (row(ctx, &o->buf, op->vals) != MS_OK) {
            out_cut(o, start);
            op->rejected = true;
            op->error =
                ms_arena_printf(ops->arena, "record over %zu MiB", MS_CX_MAX_ROW_BYTES >> 20);
            continue;
        }
        if (o->buf.len >= MS_CX_WRITE_BUF_BYTES) {
            enum ms_status st = out_send(o, err);

            if (st != MS_OK)
                return st;
        }
    }
    return MS_OK;
}

enum ms_status
ms_cx_out_write(struct ms_cx_out *o, struct ms_ops *ops, ms_cx_row_fn row, void *ctx,
                struct ms_error *err)
{
    enum ms_status st;

    if (!o->active)
        return ms_fail(err, MS_EINTERNAL, "write() without write_begin()");
    st = out_rows(o, ops, row, ctx, err);
    if (st == MS_OK)
        st = ms_cx_out_flush(o, err);
    if (st == MS_OK)
        return MS_OK;
    out_undo(o);
    for (size_t i = 0; i < ops->n; i++) {
        ops->op[i].rejected = false; /* nothing of a failed batch counts, rejections neither */
        ops->op[i].error = NULL;
    }
    return st;
}

/*
 * Put the finished temporary file in place: synced first, so the name never points at data
 * still in flight. A snapshot is linked, which fails rather than replace a file that appeared
 * since write_begin; a filesystem without hard links gets a rename.
 */
static enum ms_status
out_publish(struct ms_cx_out *o, struct ms_error *err)
{
    if (fsync(o->fd) != 0)
        return out_errno(err, "sync", o->tmp);
    if (o->snapshot && linkat(o->dirfd, o->tmp, o->dirfd, o->name, 0) == 0) {
        unlinkat(o->dirfd, o->tmp, 0);
    } else if (o->snapshot && errno == EEXIST) {
        return ms_fail(err, MS_EUPSTREAM, "snapshot file %s appeared while it was written",
                       o->name);
    } else if (o->snapshot && errno != EPERM && errno != ENOTSUP && errno != EMLINK) {
        return out_errno(err, "link", o->name);
    } else if (renameat(o->dirfd, o->tmp, o->dirfd, o->name) != 0) {
        return out_errno(err, "rename", o->tmp);
    }
    o->tmp[0] = '\0';
    if (fsync(o->dirfd) != 0 && errno != EINVAL)
        return out_errno(err, "sync the directory of", o->name);
    return MS_OK;
}

enum ms_status
ms_cx_out_end(struct ms_cx_out *o, bool commit, struct ms_error *err)
{
    enum ms_status st = MS_OK;

    if (!o->active) {
        memset(o, 0, sizeof(*o));
        return MS_OK;
    }
    if (commit)
        st = ms_cx_out_flush(o, err);
    else
        out_undo(o);
    if (st == MS_OK && commit && o->temp)
        st = out_publish(o, err);
    out_release(o);
    return st;
}

enum ms_status
ms_cx_out_cols_check(const struct ms_write_plan *plan, struct ms_error *err)
{
    if (plan->ncols == 0 || plan->cols == NULL)
        return ms_fail_at(err, MS_EUNPROC, "fields", "no field is mapped");
    if (plan->ncols > MS_MAX_COLUMNS)
        return ms_fail_at(err, MS_ETOOBIG, "fields", "more than %d fields", (int)MS_MAX_COLUMNS);
    for (size_t i = 0; i < plan->ncols; i++) {
        if (plan->cols[i] == NULL || plan->cols[i][0] == '\0')
            return ms_fail_at(err, MS_EINVAL, "fields", "field %zu has an empty name", i + 1);
        for (size_t k = 0; k < i; k++)
            if (strcmp(plan->cols[k], plan->cols[i]) == 0)
                return ms_fail_at(err, MS_EINVAL, "fields", "field %s is mapped twice",
                                  plan->cols[i]);
    }
    return MS_OK;
}
