/*
 * fuzz_rows.h: the body shared by fuzz_csv.c and fuzz_jsonl.c, which define FZ_TYPE ("csv"),
 * FZ_EXT (".csv") and the padding (below) first. The input becomes the only file of a temporary
 * directory (made once per process, removed at exit), read through the connector exactly as the
 * server reads a model: ms_cx_open() on the directory, fields() (model discovery),
 * read_begin/read/read_end in small batches (an execution), ms_cx_sample() (a preview) and
 * object_fields() (the target side). An input starting with '@' is first padded so that its second
 * byte (mod 128) says where the reader's MS_CX_READ_BUF_BYTES boundary falls in what follows, which
 * is how records that span two reads are reached with short inputs. The padding is FZ_PAD_FILL
 * bytes ending in FZ_PAD_LAST, chosen to be cheap to parse: 64 KiB of blank lines cost ~30 ms an
 * input under the sanitizers, one long run of plain bytes well under one.
 */
#ifndef FUZZ_ROWS_H
#define FUZZ_ROWS_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "connectors/connector.h"
#include "connectors/connectors_int.h"
#include "core/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(c)                                                                                \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_" FZ_TYPE ": check failed: %s (line %d)\n", #c, __LINE__);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FZ_FILE "fz" FZ_EXT
#define FZ_BATCH 7 /* rows per read(): small, so batches turn over */

static char fz_dir[256];
static char fz_path[300];
static struct ms_cx *fz_cx;
static json_t *fz_mcfg;
static char *fz_pad;

static void
fz_cleanup(void)
{
    ms_cx_close(fz_cx);
    json_decref(fz_mcfg);
    free(fz_pad);
    unlink(fz_path);
    rmdir(fz_dir);
}

/* The file is rewritten for every input: on a disk file system each truncation can cost a
 * discard of the freed blocks (~5 ms), so a memory file system is preferred. */
static const char *
fz_tmp(void)
{
    const char *tmp = getenv("TMPDIR");

    if (tmp != NULL && tmp[0] != '\0')
        return tmp;
    return access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
}

static void
fz_init(void)
{
    json_t *cfg;

    snprintf(fz_dir, sizeof(fz_dir), "%s/fuzz_" FZ_TYPE ".XXXXXX", fz_tmp());
    FZ_CHECK(mkdtemp(fz_dir) != NULL);
    snprintf(fz_path, sizeof(fz_path), "%s/%s", fz_dir, FZ_FILE);
    cfg = json_pack("{s:s}", "directory", fz_dir);
    FZ_CHECK(ms_cx_open(ms_cx_find(FZ_TYPE), cfg, &fz_cx, NULL) == MS_OK);
    json_decref(cfg);
    fz_mcfg = json_pack("{s:s}", "file", FZ_FILE);
    fz_pad = malloc(MS_CX_READ_BUF_BYTES);
    FZ_CHECK(fz_pad != NULL);
    memset(fz_pad, FZ_PAD_FILL, MS_CX_READ_BUF_BYTES);
    fz_pad[MS_CX_READ_BUF_BYTES - 1] = FZ_PAD_LAST;
    atexit(fz_cleanup);
}

static void
fz_write_all(int fd, const void *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        FZ_CHECK(w > 0);
        p = (const char *)p + w;
        n -= (size_t)w;
    }
}

static void
fz_write(const uint8_t *data, size_t size)
{
    int fd = open(fz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    FZ_CHECK(fd >= 0);
    if (size >= 2 && data[0] == '@') { /* the last bytes of the padding are always kept */
        size_t n = MS_CX_READ_BUF_BYTES - data[1] % 128;

        fz_write_all(fd, fz_pad + MS_CX_READ_BUF_BYTES - n, n);
        data += 2;
        size -= 2;
    }
    fz_write_all(fd, data, size);
    close(fd);
}

static void
fz_check_cell(const struct ms_value *v)
{
    json_t *j;

    FZ_CHECK(v->type >= MS_V_NULL && v->type <= MS_V_NUM);
    if (v->type == MS_V_TEXT || v->type == MS_V_NUM)
        FZ_CHECK(v->u.s.p != NULL && v->u.s.p[v->u.s.len] == '\0');
    if (v->type == MS_V_NUM)
        FZ_CHECK(ms_value_num_ok(v->u.s.p, v->u.s.len));
    j = ms_value_to_json(v);
    FZ_CHECK(j != NULL);
    json_decref(j);
}

/* An execution's read: every batch until the end or an error. *nrows counts the rows read. */
static enum ms_status
fz_read(const json_t *fields, size_t *nrows)
{
    const struct ms_connector *impl = fz_cx->impl;
    struct ms_arena *head = ms_arena_new(), *batch = ms_arena_new();
    struct ms_rows rows = {.arena = head, .cap = FZ_BATCH};
    struct ms_error err;
    enum ms_status st = impl->read_begin(fz_cx, fz_mcfg, &rows, &err);

    *nrows = 0;
    if (st == MS_OK && fields != NULL) { /* the same columns as discovery found */
        FZ_CHECK(rows.ncols == json_array_size(fields));
        for (size_t c = 0; c < rows.ncols; c++)
            FZ_CHECK(strcmp(rows.cols[c], json_string_value(json_object_get(
                                              json_array_get(fields, c), "name"))) == 0);
    }
    rows.arena = batch;
    while (st == MS_OK) {
        ms_arena_reset(batch);
        rows.nrows = 0;
        st = impl->read(fz_cx, &rows, &err);
        if (st != MS_OK || rows.nrows == 0)
            break;
        FZ_CHECK(rows.nrows <= rows.cap);
        for (size_t i = 0; i < rows.nrows * rows.ncols; i++)
            fz_check_cell(&rows.cells[i]);
        *nrows += rows.nrows;
    }
    impl->read_end(fz_cx);
    ms_arena_free(batch);
    ms_arena_free(head);
    return st;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct ms_connector *impl;
    json_t *fields = NULL, *out = NULL;
    struct ms_error err;
    enum ms_status fst, st;
    size_t nrows = 0;

    if (fz_cx == NULL)
        fz_init();
    impl = fz_cx->impl;
    fz_write(data, size);
    fst = impl->fields(fz_cx, fz_mcfg, &fields, &err);
    FZ_CHECK(fst == MS_OK || fst == MS_EINVAL || fst == MS_EUPSTREAM || fst == MS_ETOOBIG);
    FZ_CHECK(fst != MS_EINVAL || strcmp(err.field, "configuration.file") == 0);
    st = fz_read(fst == MS_OK ? fields : NULL, &nrows);
    FZ_CHECK(st == MS_OK || st == MS_EINVAL || st == MS_EUPSTREAM || st == MS_ETOOBIG);
    /* Discovery samples the first MS_CX_SAMPLE_ROWS records: a later bad one fails the read only.
     */
    FZ_CHECK(fst != MS_OK || st == MS_OK || nrows >= MS_CX_SAMPLE_ROWS);
    /* Previews and target fields read the same header again: not worth 64 KiB more each. */
    if (size >= 2 && data[0] == '@') {
        json_decref(fields);
        return 0;
    }
    if (ms_cx_sample(fz_cx, fz_mcfg, 5, &out, &err) == MS_OK)
        json_decref(out);
    out = NULL;
    if (impl->object_fields(fz_cx, FZ_FILE, &out, &err) == MS_OK)
        json_decref(out);
    json_decref(fields);
    return 0;
}

#endif
