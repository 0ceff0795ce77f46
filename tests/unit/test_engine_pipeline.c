/*
 * test_engine_pipeline.c: the reader and writer threads of pipeline.c on their own, over the
 * memory and fault connectors: every batch in order, stop with a batch read ahead and while a
 * read is blocked for room, a read failure with its message, writes and their failures, and
 * stop with a write outstanding. The engine's use of them is in test_engine.c.
 */
#include <criterion/criterion.h>

#include <string.h>
#include <jansson.h>

#include "connectors/connector.h"
#include "engine/engine_int.h"

/* A memory connection holding rows with ids 1..n in object "t" (or the fault connection). */
static struct ms_cx *
ep_open(int n, const char *fault_slot, int nth)
{
    json_t *rows = json_array(), *cfg;
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};

    for (int i = 1; i <= n; i++)
        json_array_append_new(rows, json_pack("{s:i, s:s}", "id", i, "name", "x"));
    cfg = json_pack("{s:s, s:{s:o}}", "name", "ep", "objects", "t", rows);
    if (fault_slot != NULL)
        cfg = json_pack("{s:o, s:s, s:i, s:i, s:s, s:s}", "inner", cfg, "slot", fault_slot, "nth",
                        nth, "times", 0, "status", "eupstream", "message", "gone");
    cr_assert_eq(
        ms_cx_open(fault_slot != NULL ? &ms_connector_fault : &ms_connector_memory, cfg, &cx, &err),
        MS_OK, "%s", err.msg);
    json_decref(cfg);
    return cx;
}

/* read_begin on "t" into head (arena a). */
static void
ep_begin(struct ms_cx *cx, struct ms_arena *a, struct ms_rows *head)
{
    json_t *m = json_pack("{s:s}", "object", "t");
    struct ms_error err = {0};

    memset(head, 0, sizeof(*head));
    head->arena = a;
    head->cap = 1;
    cr_assert_eq(cx->impl->read_begin(cx, m, head, &err), MS_OK, "%s", err.msg);
    json_decref(m);
}

static void
ep_setup(void)
{
    ms_cx_memory_reset();
    ms_eng_test_write_delay_ms = 0;
}

TestSuite(engine_pipeline, .init = ep_setup, .timeout = 30);

Test(engine_pipeline, reader_hands_over_every_batch_in_order)
{
    struct ms_cx *cx = ep_open(7, NULL, 0);
    struct ms_arena *a = ms_arena_new();
    struct ms_eng_reader rd;
    struct ms_rows head, *rows;
    struct ms_error err = {0};
    int64_t us = 0, next = 1, batches = 0;

    ep_begin(cx, a, &head);
    ms_eng_reader_start(&rd, cx->impl, cx, &head, 2);
    for (;;) {
        cr_assert_eq(ms_eng_reader_next(&rd, &rows, &us, &err), MS_OK, "%s", err.msg);
        if (rows->nrows == 0)
            break;
        cr_assert_eq(rows->ncols, 2);
        cr_assert_leq(rows->nrows, 2);
        batches++;
        for (size_t i = 0; i < rows->nrows; i++) {
            cr_expect_eq(rows->cells[i * rows->ncols].type, MS_V_INT);
            cr_expect_eq(rows->cells[i * rows->ncols].u.i, next, "row %lld", (long long)next);
            next++;
        }
    }
    cr_expect_eq(next, 8, "all 7 rows");
    cr_expect_eq(batches, 4);
    ms_eng_reader_stop(&rd, &us);
    cr_expect_geq(us, 0);
    cx->impl->read_end(cx);
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(engine_pipeline, reader_stops_with_a_batch_read_ahead)
{
    struct ms_cx *cx = ep_open(100, NULL, 0);
    struct ms_arena *a = ms_arena_new();
    struct ms_eng_reader rd;
    struct ms_rows head, *rows;
    struct ms_error err = {0};
    int64_t us = 0;

    ep_begin(cx, a, &head);
    /* Stopped before the engine takes anything. */
    ms_eng_reader_start(&rd, cx->impl, cx, &head, 3);
    ms_eng_reader_stop(&rd, &us);
    /* Stopped with one batch held and the thread waiting for room. */
    ep_begin(cx, a, &head);
    ms_eng_reader_start(&rd, cx->impl, cx, &head, 3);
    cr_assert_eq(ms_eng_reader_next(&rd, &rows, &us, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(rows->nrows, 3);
    cr_expect_eq(rows->cells[0].u.i, 1, "read_begin starts over");
    ms_eng_reader_stop(&rd, &us);
    ms_eng_reader_stop(&rd, &us); /* a second stop is a no-op */
    cx->impl->read_end(cx);
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(engine_pipeline, reader_failure_surfaces_with_its_message)
{
    struct ms_cx *cx = ep_open(10, "read", 3);
    struct ms_arena *a = ms_arena_new();
    struct ms_eng_reader rd;
    struct ms_rows head, *rows;
    struct ms_error err = {0};
    int64_t us = 0;

    ep_begin(cx, a, &head);
    ms_eng_reader_start(&rd, cx->impl, cx, &head, 2);
    cr_assert_eq(ms_eng_reader_next(&rd, &rows, &us, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_eng_reader_next(&rd, &rows, &us, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(rows->cells[0].u.i, 3);
    cr_assert_eq(ms_eng_reader_next(&rd, &rows, &us, &err), MS_EUPSTREAM);
    cr_expect_str_eq(err.msg, "gone (read call 3)");
    ms_eng_reader_stop(&rd, &us);
    cx->impl->read_end(cx);
    ms_cx_close(cx);
    ms_arena_free(a);
}

/* A write plan of columns id, name onto object "out", keyed by id. */
static const char *const ep_cols[] = {"id", "name"};
static const char *const ep_types[] = {"number", "string"};
static const struct ms_write_plan ep_plan = {
    "out", "updateOrCreate", 2, ep_cols, ep_types, "id", "s", "e", false};

/* ops for ids first..first+n-1, values in a. */
static struct ms_ops
ep_ops(struct ms_arena *a, int first, size_t n)
{
    struct ms_ops ops = {.arena = a, .plan = &ep_plan, .n = n};
    struct ms_op *op = ms_arena_zalloc(a, n * sizeof(*op));

    for (size_t i = 0; i < n; i++) {
        struct ms_value *v = ms_arena_zalloc(a, 2 * sizeof(*v));

        v[0].type = MS_V_INT;
        v[0].u.i = first + (int)i;
        v[1].type = MS_V_TEXT;
        v[1].u.s.p = "x";
        v[1].u.s.len = 1;
        op[i].kind = MS_OP_UPSERT;
        op[i].vals = v;
        op[i].key = v[0];
    }
    ops.op = op;
    return ops;
}

Test(engine_pipeline, writer_runs_batches_one_at_a_time)
{
    struct ms_cx *cx = ep_open(0, NULL, 0);
    struct ms_arena *a = ms_arena_new();
    struct ms_eng_writer w;
    struct ms_ops one, two;
    struct ms_error err = {0};
    int64_t us = 0;
    json_t *rows;

    memset(&w, 0, sizeof(w));
    cr_expect_eq(ms_eng_writer_wait(&w, &us, &err), MS_OK, "nothing outstanding");
    cr_assert_eq(cx->impl->write_begin(cx, &ep_plan, &err), MS_OK);
    one = ep_ops(a, 1, 3);
    two = ep_ops(a, 4, 2);
    ms_eng_test_write_delay_ms = 20;
    ms_eng_writer_submit(&w, cx->impl, cx, &one);
    cr_expect_eq(ms_eng_writer_wait(&w, &us, &err), MS_OK, "%s", err.msg);
    ms_eng_writer_submit(&w, cx->impl, cx, &two);
    cr_expect_eq(ms_eng_writer_wait(&w, &us, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_eng_writer_wait(&w, &us, &err), MS_OK, "collected already");
    cr_expect_eq(ms_cx_memory_writes("ep"), 2);
    rows = ms_cx_memory_rows("ep", "out");
    cr_expect_eq(json_array_size(rows), 5);
    json_decref(rows);
    /* Stopped with a write outstanding: the write still happens, then the thread ends. */
    ms_eng_writer_submit(&w, cx->impl, cx, &one);
    ms_eng_writer_stop(&w);
    cr_expect_eq(ms_cx_memory_writes("ep"), 3);
    ms_eng_writer_stop(&w);
    cr_assert_eq(cx->impl->write_end(cx, true, &err), MS_OK);
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(engine_pipeline, writer_failure_surfaces_with_its_message)
{
    struct ms_cx *cx = ep_open(0, "write", 2);
    struct ms_arena *a = ms_arena_new();
    struct ms_eng_writer w;
    struct ms_ops ops;
    struct ms_error err = {0};
    int64_t us = 0;

    memset(&w, 0, sizeof(w));
    cr_assert_eq(cx->impl->write_begin(cx, &ep_plan, &err), MS_OK);
    ops = ep_ops(a, 1, 2);
    ms_eng_writer_submit(&w, cx->impl, cx, &ops);
    cr_expect_eq(ms_eng_writer_wait(&w, &us, &err), MS_OK, "%s", err.msg);
    ms_eng_writer_submit(&w, cx->impl, cx, &ops);
    cr_expect_eq(ms_eng_writer_wait(&w, &us, &err), MS_EUPSTREAM);
    cr_expect_str_eq(err.msg, "gone (write call 2)");
    ms_eng_writer_stop(&w);
    ms_cx_close(cx);
    ms_arena_free(a);
}
