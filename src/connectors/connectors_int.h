/*
 * connectors_int.h: helpers shared by the connector implementations (connectors/ only). They
 * live in registry.c: owned column-name lists, UTF-8 checks, and the directory and streaming
 * file reader that the csv and jsonl connectors share. A reader reads a fixed-size buffer at a
 * time, so no file is ever loaded whole. Everything here is used by one thread at a time.
 */
#ifndef MS_CONNECTORS_CONNECTORS_INT_H
#define MS_CONNECTORS_CONNECTORS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "connectors/connector.h"
#include "core/buf.h"
#include "core/error.h"

#define MS_CX_READ_BUF_BYTES ((size_t)64 << 10) /* one read(2) of a file connector */
#define MS_CX_MAX_OBJECTS 10000                 /* tables or files listed by describe/objects */
#define MS_CX_MAX_NAME_BYTES 255                /* a file name in a csv/jsonl directory */
#define MS_CX_SAMPLE_ROWS 1000                  /* rows scanned to infer types and keys */

/* Column names owned by a reader, with a const view for struct ms_rows. */
struct ms_cx_cols {
    char **own;     /* owned NUL-terminated names [n] */
    const char **v; /* the same pointers [n], what rows->cols points at */
    size_t n, cap;
};

/* Append a copy of p[0..len). */
void ms_cx_cols_add(struct ms_cx_cols *c, const char *p, size_t len);
/* Index of name in c, or -1. Linear: callers keep n <= MS_MAX_COLUMNS. */
long ms_cx_cols_find(const struct ms_cx_cols *c, const char *p, size_t len);
/* Free the names and arrays and zero *c; a zeroed struct is a no-op. */
void ms_cx_cols_release(struct ms_cx_cols *c);

/* True when p[0..len) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool ms_cx_utf8_valid(const char *p, size_t len);

/* [{"id","label"}] for the Equality identity function (database targets). New reference. */
json_t *ms_cx_identity_equality(void);

/*
 * TargetField JSON (B8) for a column: id and name are name, description "", createable and
 * updateable. identity marks a database column: filterable, supports identity with Equality;
 * otherwise neither, with identity_functions []. New reference.
 */
json_t *ms_cx_target_field(const char *name, const char *type, const char *source_type,
                           bool required, bool identity);

/* ---- directory connectors (csv, jsonl) ---- */

/*
 * validate() of {"directory": "/abs/dir"}: an object with exactly that member, an absolute
 * path without NUL bytes. MS_EINVAL naming "configuration.<member>".
 */
enum ms_status ms_cx_dir_validate(const json_t *cfg, struct ms_error *err);

/*
 * Open the configured directory: *fd_out (O_DIRECTORY) and *path_out (malloc'd copy) are set
 * only on success; MS_EUPSTREAM when it is missing or not a directory.
 */
enum ms_status ms_cx_dir_open(const json_t *cfg, int *fd_out, char **path_out,
                              struct ms_error *err);

/* MS_EUPSTREAM unless the directory is still there and readable, writable and searchable. */
enum ms_status ms_cx_dir_test(int dirfd, const char *path, struct ms_error *err);

/*
 * True when name is a plain file name ending in ext (".csv"): no '/', not "." or "..", no NUL
 * (len is the full length), at most MS_CX_MAX_NAME_BYTES, with something before ext.
 */
bool ms_cx_file_name_ok(const char *name, size_t len, const char *ext);

/*
 * Check a model configuration {"file": "name<ext>"}: MS_EINVAL naming "configuration.<member>"
 * for a non-object, an extra member, a missing or non-string file, or a bad name.
 */
enum ms_status ms_cx_file_model_validate(const json_t *mcfg, const char *ext, struct ms_error *err);

/*
 * Check target-creation props {"file": "name<ext>"} and fields (an array): MS_EINVAL naming
 * "target.create.<member>" (or "fields"). *name_out borrows from props.
 */
enum ms_status ms_cx_file_create_check(const json_t *props, const json_t *fields, const char *ext,
                                       const char **name_out, struct ms_error *err);

/*
 * Create dir/name exclusively with the given contents (may be empty). MS_EUNPROC naming
 * "target.create.file" when it exists, MS_EUPSTREAM on other I/O errors (nothing is left
 * behind).
 */
enum ms_status ms_cx_file_create(int dirfd, const char *name, const char *data, size_t len,
                                 struct ms_error *err);

/* Regular files in the directory ending in ext, sorted bytewise; new array of malloc'd names. */
enum ms_status ms_cx_dir_list(int dirfd, const char *ext, char ***names_out, size_t *n_out,
                              struct ms_error *err);
void ms_cx_names_free(char **names, size_t n);

/* describe() answer for a directory source: items.file lists the *<ext> files. */
enum ms_status ms_cx_dir_describe(int dirfd, const char *ext, json_t **out, struct ms_error *err);

/* objects() answer for a directory destination: append, replace and snapshot per file. */
enum ms_status ms_cx_dir_objects(int dirfd, const char *ext, json_t **out, struct ms_error *err);

/* A file being read in MS_CX_READ_BUF_BYTES pieces; unread bytes are buf[pos..len). */
struct ms_cx_file {
    int fd;                              /* owned, valid iff buf != NULL */
    char *buf;                           /* owned; NULL when closed */
    size_t pos, len;                     /* window of unread bytes */
    bool eof;                            /* read(2) returned 0 */
    char name[MS_CX_MAX_NAME_BYTES + 1]; /* for messages */
};

/*
 * Open dir/name for reading and skip a UTF-8 byte order mark. A missing file or a non-regular
 * file is MS_EUNPROC naming field, or MS_ENOTFOUND when field is NULL (a target object); other
 * failures are MS_EUPSTREAM. On failure *f is closed. name must pass ms_cx_file_name_ok().
 */
enum ms_status ms_cx_file_open(struct ms_cx_file *f, int dirfd, const char *name, const char *field,
                               struct ms_error *err);
/* Refill buf once pos == len; sets eof instead when the file is exhausted. */
enum ms_status ms_cx_file_fill(struct ms_cx_file *f, struct ms_error *err);
/* Back to the first byte (after the byte order mark). */
enum ms_status ms_cx_file_rewind(struct ms_cx_file *f, struct ms_error *err);
/*
 * Next line without its '\n' into line (reset first; line->max caps it: MS_ETOOBIG naming
 * lineno). *got is false at the end of the file.
 */
enum ms_status ms_cx_file_line(struct ms_cx_file *f, struct ms_buf *line, int64_t lineno, bool *got,
                               struct ms_error *err);
/* Close and free; safe on a zeroed or already closed struct. */
void ms_cx_file_close(struct ms_cx_file *f);

/* ---- file output (files_write.c): the write side of the csv and jsonl connectors ---- */

#define MS_CX_WRITE_BUF_BYTES ((size_t)64 << 10)     /* buffered before one write(2) */
#define MS_CX_MAX_ROW_BYTES (4 * MS_MAX_VALUE_BYTES) /* one formatted record; more: rejected */

/*
 * One run's output file. Records are formatted straight into buf, which goes to the file each
 * time it holds MS_CX_WRITE_BUF_BYTES. Append writes the object in place; replace and
 * snapshot write tmp, which ms_cx_out_end(commit) renames to name. Zeroed when idle.
 */
struct ms_cx_out {
    int dirfd;                           /* borrowed from the connection */
    int fd;                              /* owned, valid iff active */
    bool active;                         /* between ms_cx_out_begin and ms_cx_out_end */
    bool temp;                           /* writing tmp (replace, snapshot) */
    bool snapshot;                       /* name must not replace an existing file */
    bool torn;                           /* a failed batch could not be cut off: stop */
    struct ms_buf buf;                   /* formatted, not yet written; max one row + 64 KiB */
    int64_t mark;                        /* file size after the last acknowledged batch */
    const struct ms_write_plan *plan;    /* borrowed: outlives ms_cx_out_end */
    char name[MS_CX_MAX_NAME_BYTES + 1]; /* the file that receives the records */
    char tmp[MS_CX_MAX_NAME_BYTES + 1];  /* ".<name>.tmp-<execution_id>", "" for append */
};

/*
 * Start writing plan->object (a name ending in ext; plan is kept) for plan->mode: append
 * opens the object with O_APPEND (MS_EUNPROC naming target.object when it is missing) and
 * first ends its last line if it has no line end; replace (the object must exist) and snapshot
 * write a new hidden temporary file (plan->full must be set, else MS_EINTERNAL); snapshot names
 * the result "<stem>-<YYYYMMDDTHHMMSSZ><ext>" (a "-N" suffix keeps it unique). Other modes:
 * MS_EUNSUPP. o must be zeroed or ended.
 */
enum ms_status ms_cx_out_begin(struct ms_cx_out *o, int dirfd, const struct ms_write_plan *plan,
                               const char *ext, struct ms_error *err);
/* Format one record (o->plan->ncols values, in plan order) onto b, line end included. A
 * failed append (MS_ETOOBIG) may leave part of it: the caller cuts it off. */
typedef enum ms_status (*ms_cx_row_fn)(void *ctx, struct ms_buf *b, const struct ms_value *vals);
/*
 * write() of a file connector: every MS_OP_INSERT is formatted with row(ctx, ...) into the
 * buffer, which goes to the file each time it holds MS_CX_WRITE_BUF_BYTES; other op kinds are
 * rejected ("files cannot update or delete records"), as is a record over MS_CX_MAX_ROW_BYTES.
 * At the end the buffer is written and an appended object fdatasynced, so what is
 * acknowledged is on disk (a temporary file is synced once, at commit). On failure the file
 * is cut back to the previous batch's end and nothing counts as acknowledged.
 */
enum ms_status ms_cx_out_write(struct ms_cx_out *o, struct ms_ops *ops, ms_cx_row_fn row, void *ctx,
                               struct ms_error *err);
/*
 * End the run. commit: sync, and for a temporary file fsync it, rename it into place (link
 * without replacing, for a snapshot) and fsync the directory. !commit: undo the unfinished
 * batch and unlink a temporary file. o is zeroed afterwards, whatever the result.
 */
enum ms_status ms_cx_out_end(struct ms_cx_out *o, bool commit, struct ms_error *err);
/* Write what is buffered (a header written by write_begin) and make it the point a failed
 * batch is cut back to. */
enum ms_status ms_cx_out_flush(struct ms_cx_out *o, struct ms_error *err);
/* Whether the file's plan names columns that a header or a JSON object can hold: at least
 * one, at most MS_MAX_COLUMNS, non-empty, unique. MS_EUNPROC / MS_EINVAL naming "fields". */
enum ms_status ms_cx_out_cols_check(const struct ms_write_plan *plan, struct ms_error *err);

#ifdef MS_TESTING
/* registry.c: the checks ms_cx_registry_check() applies to each built-in. */
enum ms_status registry_check_one(const struct ms_connector *c, struct ms_error *err);
/* postgresql.c: decode one COPY text-format field in place; returns the decoded length. */
size_t pg_copy_unescape(char *p, size_t n);
/* webhook.c: hex HMAC-SHA256(secret, "<ts>.<body>") into hex[65]; Retry-After in seconds. */
void wh_sign(const char *secret, size_t secret_len, int64_t ts, const char *body, size_t len,
             char *hex);
int64_t wh_retry_after(const char *p, size_t n, int64_t now_s);
/* sqlite.c: set the connection's busy timeout (tests of lock handling wait less than 5 s). */
void sqlite_busy_ms_set(struct ms_cx *cx, int ms);
#endif

#endif
