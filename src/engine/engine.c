/*
 * engine.c: one execution of a sync (ARCHITECTURE.md §5, docs/internals/ENGINE.md).
 *
 * Plan, load the snapshot index, then read the model in batches (a reader thread reads the next
 * one meanwhile, pipeline.c); every row is filtered, overridden, keyed, hashed and diffed
 * against the index. Ops for new and changed records collect in a pending buffer (values copied
 * into its own arena). A full buffer goes to the writer thread, and the engine fills the other
 * one; once a buffer's write is acknowledged, its ops become snapshot changes committed with the
 * counts in one store transaction, before the record logs are flushed. So what the target
 * acknowledged is never lost to a crash, nothing rejected enters the snapshot, and a no-change
 * run touches neither the target nor the snapshot. Deletes of records gone from the model come
 * after the read. Full rewrites (replace without identity, snapshot) first check whether
 * anything changed, then re-read and send everything, with a marker in the snapshot while the
 * rewrite is uncommitted. The store handle, the counts and the logs stay on the caller's thread.
 */
#include "engine/engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/time.h"
#include "core/xmalloc.h"
#include "engine/engine_int.h"

#define ENG_ATTEMPTS 6                /* write() calls per batch while the target is busy */
#define ENG_BACKOFF_MS 500            /* first wait after MS_EBUSY, doubled each time */
#define ENG_BACKOFF_MAX_MS 30000      /* longest wait between attempts */
#define ENG_RETRY_AFTER_MAX_MS 300000 /* longest Retry-After honored */
#define ENG_RENEW_SLEEPING_MS 1000    /* lease renewals while waiting */
#define ENG_EXEC_PAGE 50              /* executions per page when looking for a completed one */
#define ENG_OPS_MAX 10000             /* bound on a destination's preferred write batch */
#define ENG_GONE_WINDOW 65536         /* removed records whose key texts are read at a time */

/* ms_engine_on_finish(): written by the scheduler's start and stop, read by every worker. */
static void (*_Atomic eng_on_finish)(void);

#ifdef MS_TESTING
int64_t ms_eng_test_now_ms;
int64_t ms_eng_test_backoff_ms;
size_t ms_eng_test_gone_window = ENG_GONE_WINDOW;
#define ENG_GONE_WIN ms_eng_test_gone_window
#else
#define ENG_GONE_WIN ((size_t)ENG_GONE_WINDOW)
#endif

/* Marks a full rewrite that has not committed yet: the next run must rewrite again. */
static const char eng_marker_text[] = "\x01modelsync:rewrite-in-progress";

enum eng_end { ENG_COMPLETED, ENG_FAILED, ENG_CANCELED, ENG_INTERRUPTED, ENG_LOST };

enum eng_pass {
    ENG_PASS_DIFF,     /* incremental modes: ops for new and changed records */
    ENG_PASS_BASELINE, /* skip_initial_backfill: snapshot every record, write nothing */
    ENG_PASS_DETECT,   /* full modes: did anything change? writes nothing */
    ENG_PASS_REWRITE,  /* full modes: every record as an insert */
};

/* What settling one pending op needs besides the op. */
struct eng_meta {
    uint8_t key[16], row[16];
    const char *key_text; /* op arena; NULL when the record has no key value */
    size_t key_len;
    bool snap; /* once acknowledged, the snapshot changes */
    bool gone; /* a delete of a record gone from the model: the snapshot forgets it */
};

/* The key and hashes of one record. */
struct eng_key {
    const struct ms_value *val; /* identity (or identifier) value in the row; NULL if none */
    const char *text;           /* its canonical text (row, plan or buf); NULL if none */
    size_t len;
    char buf[MS_ENG_KEY_BUF];
    uint8_t key[16], row[16];
    uint64_t k64, r64;
};

/* Pending ops and snapshot changes, written and committed together. */
struct eng_buf {
    struct ms_op *op; /* [cap] */
    struct eng_meta *meta;
    struct ms_snap_change *chg; /* [2 * cap] */
    size_t nop, nchg;
    struct ms_arena *opa; /* the ops' values and key texts, reset once committed */
};

struct eng_run {
    struct ms_store *s;
    const struct ms_execution *ex;
    const struct ms_engine_opts *o;
    struct ms_arena *run;   /* plan and everything that lives as long as the run */
    struct ms_arena *head;  /* read_begin()'s, reset after read_end() */
    struct ms_arena *batch; /* the read batch being transformed (the reader's) */
    struct ms_eng_plan p;
    struct ms_eng_index ix;
    struct ms_eng_keyset fresh;  /* keys met this run that the snapshot does not hold */
    struct ms_eng_keyset unseen; /* while looking for removed records: the unseen prefixes */
    struct ms_eng_enc enc;
    struct ms_eng_log log;
    struct ms_cx *src, *dst;
    bool writing; /* write_begin() succeeded; write_end() is due */
    struct ms_write_plan wp;
    struct eng_buf buf[2];
    struct eng_buf *fill; /* where ops and changes are queued */
    struct eng_buf *sent; /* handed to the writer (or, without ops, waiting): NULL when none */
    struct ms_ops sent_ops;
    size_t cap;     /* ops per buffer */
    bool no_commit; /* a commit failed: later batches must not commit before it */
    struct ms_eng_reader rd;
    struct ms_eng_writer w;
    /* The buffer being committed, as eng_log_ops() reads it (queue ops into fill, not here). */
    struct ms_op *op;
    struct eng_meta *meta;
    size_t nop;
    uint8_t (*gone)[16]; /* keys of records gone from the model (owned) */
    size_t ngone, gone_cap;
    const char **gone_text;      /* (owned): the key texts of a window of them */
    size_t *gone_len;            /* (owned) */
    struct ms_arena *gone_arena; /* owned: those texts */
    struct ms_counts c;
    struct ms_engine_stats st;
    size_t batch_rows;
    int64_t lease_ms, last_renew_ms;
    int64_t quota; /* test runs: ops still allowed; -1 = no limit */
    bool dirty;    /* the snapshot holds the marker of an uncommitted rewrite */
    bool changed;  /* ENG_PASS_DETECT found a difference */
    bool stop_read;
    enum eng_end end;
    uint8_t marker[16];
};

static int64_t
eng_now(void)
{
#ifdef MS_TESTING
    if (ms_eng_test_now_ms != 0)
        return ms_eng_test_now_ms;
#endif
    return ms_time_now_ms();
}

static void eng_console(struct eng_run *r, const char *level, const char *fmt, ...) MS_PRINTF(3, 4);

/* A console-log entry (B4). Best effort: the run goes on without it. */
static void
eng_console(struct eng_run *r, const char *level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ms_store_log_append(r->s, r->ex->id, ms_time_now_ms(), level, msg, NULL);
}

/* Prefix what err says with what was being done; the run fails. */
static enum ms_status
eng_fail(struct eng_run *r, enum ms_status st, struct ms_error *err, const char *what)
{
    char msg[sizeof(err->msg)];

    snprintf(msg, sizeof(msg), "%s", err->msg);
    ms_fail(err, st, "%s: %s", what, msg);
    r->end = ENG_FAILED;
    return st;
}

/* ---- lease, cancel, progress ---- */

static enum ms_status
eng_stopped(struct eng_run *r, enum eng_end end)
{
    r->end = end;
    return MS_ECANCELED;
}

/* Renew the lease and store the counts; a cancel, a shutdown or a lost lease stops the run. */
static enum ms_status
eng_renew(struct eng_run *r, struct ms_error *err)
{
    bool cancel = false;
    enum ms_status st = ms_store_exec_renew(r->s, r->ex->id, r->o->node, "running", &r->c,
                                            ms_time_now_ms(), r->lease_ms, &cancel, err);

    r->last_renew_ms = ms_time_mono_ms();
    if (st == MS_ECONFLICT)
        return eng_stopped(r, ENG_LOST);
    if (st != MS_OK)
        return eng_fail(r, st, err, "cannot renew the execution's lease");
    if (cancel)
        return eng_stopped(r, ENG_CANCELED);
    if (r->o->stop != NULL && atomic_load(r->o->stop))
        return eng_stopped(r, ENG_INTERRUPTED);
    return MS_OK;
}

/* Between batches. */
static enum ms_status
eng_tick(struct eng_run *r, struct ms_error *err)
{
    enum ms_status st = eng_renew(r, err);

    if (r->o->progress != NULL)
        r->o->progress(r->o->progress_ud, &r->c, &r->st);
    return st;
}

/* Wait ms, renewing the lease and watching for cancel and shutdown. */
static enum ms_status
eng_sleep(struct eng_run *r, int64_t ms, struct ms_error *err)
{
    int64_t end = ms_time_mono_ms() + ms, now;

    while ((now = ms_time_mono_ms()) < end) {
        int64_t slice = end - now < 100 ? end - now : 100;
        struct timespec ts = {slice / 1000, (long)(slice % 1000) * 1000000};
        enum ms_status st;

        nanosleep(&ts, NULL);
        if (r->o->stop != NULL && atomic_load(r->o->stop))
            return eng_stopped(r, ENG_INTERRUPTED);
        if (ms_time_mono_ms() - r->last_renew_ms >= ENG_RENEW_SLEEPING_MS &&
            (st = eng_renew(r, err)) != MS_OK)
            return st;
    }
    return MS_OK;
}

/* ---- the target ---- */

static enum ms_status
eng_writer(struct eng_run *r, struct ms_error *err)
{
    const struct ms_connector *impl = r->p.dst_impl;
    int64_t t = ms_time_mono_us();
    enum ms_status st = MS_OK;

    if (r->writing)
        return MS_OK;
    if (impl->write == NULL)
        return eng_fail(r, ms_fail(err, MS_EUNSUPP, "connection type %s", impl->type), err,
                        "cannot write records to this destination");
    if (r->dst == NULL && (st = ms_cx_open(impl, r->p.dst_cfg, &r->dst, err)) != MS_OK)
        st = eng_fail(r, st, err, "cannot open the destination");
    if (st == MS_OK && impl->write_begin != NULL &&
        (st = impl->write_begin(r->dst, &r->wp, err)) != MS_OK)
        st = eng_fail(r, st, err, "the destination refused to start writing");
    r->writing = st == MS_OK;
    t = ms_time_mono_us() - t;
    r->st.write_us += t;
    r->st.write_wait_us += t;
    return st;
}

static enum ms_status
eng_write_end(struct eng_run *r, bool commit, struct ms_error *err)
{
    int64_t t = ms_time_mono_us();
    enum ms_status st = MS_OK;

    if (!r->writing)
        return MS_OK;
    r->writing = false;
    if (r->p.dst_impl->write_end != NULL)
        st = r->p.dst_impl->write_end(r->dst, commit, err);
    t = ms_time_mono_us() - t;
    r->st.write_us += t;
    r->st.write_wait_us += t;
    return st;
}

/* Milliseconds to wait before attempt number `attempt` + 1. */
static int64_t
eng_backoff(struct eng_run *r, int attempt)
{
    int64_t ms = ENG_BACKOFF_MS, after = 0;

#ifdef MS_TESTING
    if (ms_eng_test_backoff_ms != 0)
        ms = ms_eng_test_backoff_ms;
#endif
    for (int i = 1; i < attempt && ms < ENG_BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > ENG_BACKOFF_MAX_MS)
        ms = ENG_BACKOFF_MAX_MS;
    if (r->p.dst_impl->control != NULL &&
        r->p.dst_impl->control(r->dst, MS_CX_CTL_RETRY_AFTER, &after) == MS_OK && after > 0)
        ms = after * 1000 < ENG_RETRY_AFTER_MAX_MS ? after * 1000 : ENG_RETRY_AFTER_MAX_MS;
    return ms;
}

/* Hand buffer b to the writer thread (write_begin() done), as r->sent. */
static void
eng_submit(struct eng_run *r, struct eng_buf *b)
{
    r->sent = b;
    if (b->nop == 0)
        return;
    for (size_t i = 0; i < b->nop; i++) {
        b->op[i].rejected = false;
        b->op[i].error = NULL;
    }
    r->sent_ops = (struct ms_ops){.arena = b->opa, .plan = &r->wp, .n = b->nop, .op = b->op};
    ms_eng_writer_submit(&r->w, r->p.dst_impl, r->dst, &r->sent_ops);
}

/* Forget what b holds (never acknowledged, or not to be committed). */
static void
eng_drop(struct eng_buf *b)
{
    b->nop = b->nchg = 0;
    ms_arena_reset(b->opa);
}

/*
 * Wait for r->sent's write, retrying the whole batch while the target answers MS_EBUSY. MS_OK:
 * acknowledged, still r->sent. Otherwise it is dropped and r->sent is NULL.
 */
static enum ms_status
eng_await(struct eng_run *r, struct ms_error *err)
{
    struct eng_buf *b = r->sent;
    enum ms_status st = MS_OK;

    for (int attempt = 1; b->nop > 0; attempt++) {
        int64_t t = ms_time_mono_us(), wait;

        st = ms_eng_writer_wait(&r->w, &r->st.write_us, err);
        r->st.write_wait_us += ms_time_mono_us() - t;
        if (st == MS_OK)
            return MS_OK;
        if (st != MS_EBUSY) {
            st = eng_fail(r, st, err, "writing to the destination failed");
            break;
        }
        if (attempt == ENG_ATTEMPTS) {
            st = eng_fail(r, st, err, "the destination was still busy after 6 attempts");
            break;
        }
        wait = eng_backoff(r, attempt);
        eng_console(r, "WARN", "The destination is busy (%s); retrying in %lld ms", err->msg,
                    (long long)wait);
        t = ms_time_mono_us();
        st = eng_sleep(r, wait, err);
        r->st.write_wait_us += ms_time_mono_us() - t;
        if (st != MS_OK)
            break;
        eng_submit(r, b);
    }
    if (st != MS_OK) {
        r->sent = NULL;
        eng_drop(b);
    }
    return st;
}

/* ---- pending ops and snapshot changes ---- */

static const char *
eng_op_name(enum ms_op_kind k)
{
    static const char *const names[] = {"insert", "update", "upsert", "delete"};

    return names[k];
}

/* Count op i of b as acknowledged or rejected; acknowledged ones become snapshot changes. */
static void
eng_settle(struct eng_run *r, struct eng_buf *b, size_t i)
{
    const struct ms_op *o = &b->op[i];
    const struct eng_meta *m = &b->meta[i];
    struct ms_snap_change *c;

    r->c.total++;
    r->st.rows_written++;
    if (o->rejected) {
        r->c.error++;
        return;
    }
    r->c.insert += o->kind == MS_OP_INSERT;
    r->c.update += o->kind == MS_OP_UPDATE;
    r->c.upserts += o->kind == MS_OP_UPSERT;
    r->c.delete += o->kind == MS_OP_DELETE;
    if (!m->snap)
        return;
    c = &b->chg[b->nchg++];
    memcpy(c->key, m->key, 16);
    memcpy(c->row, m->row, 16);
    c->del = m->gone;
    c->key_text = m->key_text != NULL ? m->key_text : "";
    c->key_len = m->key_text != NULL ? m->key_len : 0;
}

/* Record-log lines of the settled ops (after their batch committed). */
static void
eng_log_ops(struct eng_run *r)
{
    static const enum ms_eng_log_type by_kind[] = {MS_ENG_LOG_INSERTS, MS_ENG_LOG_UPDATES,
                                                   MS_ENG_LOG_UPDATES, MS_ENG_LOG_DELETES};

    if (r->log.dir == NULL || r->log.broken)
        return;
    for (size_t i = 0; i < r->nop; i++) {
        const struct ms_op *o = &r->op[i];
        const struct eng_meta *m = &r->meta[i];
        struct ms_value kt = {.type = MS_V_NULL};
        const struct ms_value *key = &o->key;
        const char *op = eng_op_name(o->kind);

        if (o->key.type == MS_V_NULL && m->key_text != NULL) {
            kt.type = MS_V_TEXT;
            kt.u.s.p = m->key_text;
            kt.u.s.len = m->key_len;
            key = &kt;
        }
        ms_eng_log_record(&r->log, o->rejected ? MS_ENG_LOG_ERRORS : by_kind[o->kind], key, op,
                          r->p.col_names, o->vals, r->p.ncols,
                          o->error != NULL ? o->error : "rejected by the destination");
    }
}

static void
eng_log_flush(struct eng_run *r)
{
    struct ms_error e;
    bool was = r->log.broken;

    if (ms_eng_log_flush(&r->log, &e) != MS_OK && !was)
        eng_console(r, "WARN", "%s; record logs are off for the rest of this run", e.msg);
}

/*
 * Settle the ops of b, whose write was acknowledged, commit its snapshot changes with the
 * counts, then log it; b is empty afterwards. A failed commit stops every later one.
 */
static enum ms_status
eng_commit(struct eng_run *r, struct eng_buf *b, struct ms_error *err)
{
    enum ms_status st = MS_OK;
    int64_t t;

    for (size_t i = 0; i < b->nop; i++)
        eng_settle(r, b, i);
    if (b->nchg > 0) {
        t = ms_time_mono_us();
        st = ms_store_snap_apply(r->s, r->ex->sync_id, b->chg, b->nchg, r->ex->id, &r->c, err);
        r->st.snapshot_us += ms_time_mono_us() - t;
    }
    if (st == MS_OK) {
        r->op = b->op;
        r->meta = b->meta;
        r->nop = b->nop;
        eng_log_ops(r);
        eng_log_flush(r);
        r->nop = 0;
    }
    eng_drop(b);
    r->no_commit = st != MS_OK;
    if (st == MS_ECONFLICT)
        return eng_stopped(r, ENG_LOST);
    if (st != MS_OK)
        return eng_fail(r, st, err, "cannot record the acknowledged records in the snapshot");
    return MS_OK;
}

/*
 * Hand the buffer being filled to the writer, and while it writes, commit the buffer written
 * before (once acknowledged); that one is filled next. Nothing to do for an empty buffer.
 */
static enum ms_status
eng_flush(struct eng_run *r, struct ms_error *err)
{
    struct eng_buf *b = r->fill, *prev = r->sent;
    enum ms_status st;
    int64_t t;

    if (b->nop == 0 && b->nchg == 0)
        return MS_OK;
    /* Opens the target on the first batch of ops only, when no write can be in flight. */
    if (b->nop > 0 && (st = eng_writer(r, err)) != MS_OK)
        return st;
    if (prev != NULL && (st = eng_await(r, err)) != MS_OK)
        return st;
    /*
     * A cancel requested while the write before was in flight stops the run before the next
     * write starts, as it did when writes were synchronous (a write may be held up for long).
     */
    t = ms_time_mono_us();
    st = b->nop > 0 ? eng_renew(r, err) : MS_OK;
    r->st.write_wait_us += ms_time_mono_us() - t;
    if (st != MS_OK)
        return st;
    eng_submit(r, b);
    r->fill = b == &r->buf[0] ? &r->buf[1] : &r->buf[0];
    if (prev == NULL)
        return MS_OK;
    return eng_commit(r, prev, err);
}

/* Write and commit everything queued: afterwards nothing is pending or in flight. */
static enum ms_status
eng_drain(struct eng_run *r, struct ms_error *err)
{
    enum ms_status st = eng_flush(r, err);
    struct eng_buf *b = r->sent;

    if (st != MS_OK || b == NULL)
        return st;
    if ((st = eng_await(r, err)) != MS_OK)
        return st;
    r->sent = NULL;
    return eng_commit(r, b, err);
}

/*
 * The run stopped early (failure, cancel, shutdown, lost lease): wait for the write in flight,
 * and commit it if the target acknowledged it and the commits before it succeeded, so nothing
 * acknowledged is lost. Best effort: a failure here only warns (the records are re-sent).
 */
static void
eng_land(struct eng_run *r)
{
    struct eng_buf *b = r->sent;
    enum eng_end end = r->end;
    struct ms_error e;
    int64_t t = ms_time_mono_us();
    enum ms_status st;

    if (b == NULL)
        return;
    r->sent = NULL;
    ms_error_clear(&e);
    st = ms_eng_writer_wait(&r->w, &r->st.write_us, &e);
    r->st.write_wait_us += ms_time_mono_us() - t;
    if (st != MS_OK || r->end == ENG_LOST || r->no_commit) {
        eng_drop(b);
        return;
    }
    if (eng_commit(r, b, &e) != MS_OK && r->end != ENG_LOST) {
        r->end = end; /* the run ends as it was ending */
        eng_console(r, "WARN", "Could not record the last acknowledged batch (%s)", e.msg);
    }
}

static void
eng_copy_text(struct ms_arena *a, struct ms_value *v)
{
    if (v->type == MS_V_TEXT || v->type == MS_V_NUM)
        v->u.s.p = ms_arena_strndup(a, v->u.s.p, v->u.s.len);
}

/* Queue an op for the record (row NULL for deletes of gone records). */
static enum ms_status
eng_push_op(struct eng_run *r, enum ms_op_kind kind, const struct ms_value *row,
            const struct eng_key *k, bool snap, bool gone, struct ms_error *err)
{
    struct eng_buf *b;
    struct ms_op *o;
    struct eng_meta *m;
    enum ms_status st;

    if (r->fill->nop == r->cap && (st = eng_flush(r, err)) != MS_OK)
        return st;
    b = r->fill;
    o = &b->op[b->nop];
    m = &b->meta[b->nop++];
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    if (row != NULL) {
        struct ms_value *vals = ms_arena_alloc(b->opa, r->p.ncols * sizeof(*vals) + 1);

        ms_eng_map(&r->p, row, vals);
        for (size_t i = 0; i < r->p.ncols; i++)
            eng_copy_text(b->opa, &vals[i]);
        o->vals = vals;
    }
    memcpy(m->key, k->key, 16);
    memcpy(m->row, k->row, 16);
    m->key_text = k->text != NULL ? ms_arena_strndup(b->opa, k->text, k->len) : NULL;
    m->key_len = k->len;
    m->snap = snap;
    m->gone = gone;
    if (r->p.id_field != NULL && k->val != NULL) {
        o->key = *k->val;
        if (o->key.type == MS_V_TEXT)
            o->key.u.s.p = m->key_text;
        else if (o->key.type == MS_V_NUM) /* its key text is the real's, not its own text */
            o->key.u.s.p = ms_arena_strndup(b->opa, o->key.u.s.p, o->key.u.s.len);
    }
    if (r->quota > 0)
        r->quota--;
    return MS_OK;
}

/* Queue a snapshot change that needs no write (baselines, rewrites, the marker). */
static enum ms_status
eng_push_snap(struct eng_run *r, const uint8_t key[16], const uint8_t row[16], bool del,
              const char *text, size_t len, struct ms_error *err)
{
    struct ms_snap_change *c;
    enum ms_status st;

    if (r->fill->nchg >= r->cap && (st = eng_flush(r, err)) != MS_OK)
        return st;
    c = &r->fill->chg[r->fill->nchg++];
    memcpy(c->key, key, 16);
    memcpy(c->row, row, 16);
    c->del = del;
    c->key_text = text != NULL ? ms_arena_strndup(r->fill->opa, text, len) : "";
    c->key_len = text != NULL ? len : 0;
    return MS_OK;
}

/* ---- records ---- */

/* Count a skipped record and log it with its mapped values. */
static void
eng_warn(struct eng_run *r, const struct ms_value *row, const struct eng_key *k, const char *why)
{
    struct ms_value *vals = ms_arena_alloc(r->batch, r->p.ncols * sizeof(*vals) + 1);
    struct ms_value kt = {.type = MS_V_NULL};

    r->c.warnings++;
    if (r->log.dir == NULL || r->log.broken)
        return;
    ms_eng_map(&r->p, row, vals);
    if (k != NULL && k->val != NULL)
        kt = *k->val;
    ms_eng_log_line(&r->log, MS_ENG_LOG_WARNINGS, &kt, "skip", r->p.col_names, vals, r->p.ncols,
                    why);
}

/*
 * Key and hashes of a record. The key is the identity value, else the model's identifier, else
 * the record itself (its row hash); full rewrites always key on the row hash. Returns false for
 * a record to skip (a NULL key, or not among options.identities).
 */
static bool
eng_key(struct eng_run *r, const struct ms_value *row, struct eng_key *k)
{
    const struct ms_eng_plan *p = &r->p;
    size_t src = p->id_field != NULL ? p->id_src : p->ident_src;
    struct ms_hash128 h;

    k->val = NULL;
    k->text = NULL;
    k->len = 0;
    if (src != MS_ENG_NO_COL && row[src].type != MS_V_NULL) {
        k->val = &row[src];
        k->len = ms_eng_key_text(k->val, k->buf, &k->text);
    } else if (src != MS_ENG_NO_COL && !p->full) {
        eng_warn(r, row, k,
                 p->id_field != NULL ? "the identity value is NULL" : "the identifier is NULL");
        return false;
    }
    if (p->identities != NULL && (k->text == NULL || !ms_eng_plan_wants(p, k->text, k->len)))
        return false;
    h = ms_eng_row_hash(p, row, &r->enc);
    ms_eng_hash_bytes(h, k->row);
    if (k->text != NULL && !p->full)
        h = ms_xxh3_128(k->text, k->len);
    ms_eng_hash_bytes(h, k->key);
    k->k64 = ms_eng_prefix(k->key);
    k->r64 = ms_eng_prefix(k->row);
    return true;
}

enum eng_class { ENG_NEW, ENG_CHANGED, ENG_UNCHANGED, ENG_DUP };

static enum eng_class
eng_classify(struct eng_run *r, const struct eng_key *k)
{
    size_t slot = ms_eng_index_find(&r->ix, k->k64);

    if (slot == MS_ENG_NOT_FOUND)
        return ms_eng_keyset_add(&r->fresh, k->k64) ? ENG_NEW : ENG_DUP;
    if (ms_eng_index_mark(&r->ix, slot))
        return ENG_DUP;
    if (r->p.sync_all || r->p.resync || r->ix.slot[slot].row != k->r64)
        return ENG_CHANGED;
    return ENG_UNCHANGED;
}

/* The op an incremental mode sends for a new or changed record; false for none. */
static bool
eng_op_for(const struct ms_eng_plan *p, enum eng_class cls, enum ms_op_kind *kind)
{
    switch (p->mode) {
    case MS_ENG_CREATE:
        *kind = MS_OP_INSERT;
        return cls == ENG_NEW; /* create never updates: a changed record is left alone */
    case MS_ENG_UPDATE:
        *kind = MS_OP_UPDATE;
        return true;
    case MS_ENG_UPSERT:
        *kind = MS_OP_UPSERT;
        return true;
    case MS_ENG_REMOVE:
        *kind = MS_OP_DELETE;
        return true;
    case MS_ENG_REPLACE:
        *kind = cls == ENG_NEW ? MS_OP_INSERT : MS_OP_UPDATE;
        return true;
    default:
        *kind = MS_OP_INSERT;
        return true;
    }
}

static enum ms_status
eng_row_diff(struct eng_run *r, const struct ms_value *row, const struct eng_key *k,
             struct ms_error *err)
{
    enum eng_class cls = eng_classify(r, k);
    enum ms_op_kind kind;

    if (cls == ENG_DUP) {
        eng_warn(r, row, k, "another record of the model has the same key; skipped");
        return MS_OK;
    }
    if (cls == ENG_UNCHANGED || !eng_op_for(&r->p, cls, &kind))
        return MS_OK;
    if (r->quota == 0) {
        r->stop_read = true; /* a test run has sent its records */
        return MS_OK;
    }
    return eng_push_op(r, kind, row, k, true, false, err);
}

/* A full rewrite sends every record; the snapshot changes only where it did not hold it. */
static enum ms_status
eng_row_rewrite(struct eng_run *r, const struct ms_value *row, const struct eng_key *k,
                struct ms_error *err)
{
    size_t slot = ms_eng_index_find(&r->ix, k->k64);
    bool snap;

    if (slot != MS_ENG_NOT_FOUND) {
        ms_eng_index_mark(&r->ix, slot);
        snap = r->ix.slot[slot].row != k->r64;
    } else {
        snap = ms_eng_keyset_add(&r->fresh, k->k64);
    }
    return eng_push_op(r, MS_OP_INSERT, row, k, snap, false, err);
}

static enum ms_status
eng_row(struct eng_run *r, enum eng_pass pass, struct ms_value *row, struct ms_error *err)
{
    struct eng_key k;
    enum eng_class cls;

    if (!ms_eng_xform_keep(&r->p.xf, row))
        return MS_OK;
    ms_eng_xform_override(&r->p.xf, row);
    if (!eng_key(r, row, &k))
        return MS_OK;
    switch (pass) {
    case ENG_PASS_DIFF:
        return eng_row_diff(r, row, &k, err);
    case ENG_PASS_REWRITE:
        return eng_row_rewrite(r, row, &k, err);
    case ENG_PASS_DETECT:
        cls = eng_classify(r, &k);
        if (cls == ENG_NEW || cls == ENG_CHANGED)
            r->changed = r->stop_read = true;
        return MS_OK;
    case ENG_PASS_BASELINE:
        cls = eng_classify(r, &k);
        if (cls == ENG_DUP) {
            eng_warn(r, row, &k, "another record of the model has the same key; skipped");
            return MS_OK;
        }
        return eng_push_snap(r, k.key, k.row, false, k.text, k.len, err);
    }
    return MS_OK;
}

/* ---- reading ---- */

static enum ms_status
eng_batch(struct eng_run *r, enum eng_pass pass, struct ms_rows *rows, struct ms_error *err)
{
    int64_t t = ms_time_mono_us(), nested = r->st.write_wait_us + r->st.snapshot_us;
    enum ms_status st = MS_OK;

    for (size_t i = 0; i < rows->nrows && st == MS_OK && !r->stop_read; i++)
        st = eng_row(r, pass, rows->cells + i * rows->ncols, err);
    r->st.transform_us +=
        ms_time_mono_us() - t - (r->st.write_wait_us + r->st.snapshot_us - nested);
    return st;
}

/*
 * Read the whole model once (or until stop_read), feeding every row to pass. The reader thread
 * reads the next batch while this one is transformed; it is stopped and joined before
 * read_end(), whatever ends the pass.
 */
static enum ms_status
eng_pass(struct eng_run *r, enum eng_pass pass, struct ms_error *err)
{
    const struct ms_connector *impl = r->p.src_impl;
    struct ms_rows head = {.arena = r->head, .cap = r->batch_rows}, *rows;
    int64_t t = ms_time_mono_us();
    enum ms_status st = impl->read_begin(r->src, r->p.model.config, &head, err);

    t = ms_time_mono_us() - t;
    r->st.read_us += t;
    r->st.read_wait_us += t;
    if (st != MS_OK)
        st = eng_fail(r, st, err, "cannot read the model");
    else if ((st = ms_eng_plan_bind(&r->p, head.cols, head.ncols, err)) != MS_OK)
        r->end = ENG_FAILED;
    else
        ms_eng_reader_start(&r->rd, impl, r->src, &head, r->batch_rows);
    while (st == MS_OK && !r->stop_read) {
        t = ms_time_mono_us();
        st = ms_eng_reader_next(&r->rd, &rows, &r->st.read_us, err);
        r->st.read_wait_us += ms_time_mono_us() - t;
        if (st != MS_OK) {
            st = eng_fail(r, st, err, "reading the model failed");
            break;
        }
        if (rows->nrows == 0)
            break;
        r->batch = rows->arena;
        r->st.rows_read += (int64_t)rows->nrows;
        if ((st = eng_batch(r, pass, rows, err)) == MS_OK)
            st = eng_tick(r, err);
    }
    t = ms_time_mono_us();
    r->batch = NULL;
    ms_eng_reader_stop(&r->rd, &r->st.read_us);
    impl->read_end(r->src);
    r->st.read_wait_us += ms_time_mono_us() - t;
    ms_arena_reset(r->head);
    return st;
}

/* ---- the snapshot ---- */

static enum ms_status
eng_load_cb(void *ud, const uint8_t key[16], const uint8_t row[16])
{
    struct eng_run *r = ud;

    if (memcmp(key, r->marker, 16) == 0)
        r->dirty = true;
    else
        ms_eng_index_put(&r->ix, ms_eng_prefix(key), ms_eng_prefix(row));
    return MS_OK;
}

static enum ms_status
eng_load(struct eng_run *r, struct ms_error *err)
{
    int64_t n = 0, t = ms_time_mono_us();
    enum ms_status st = ms_store_snap_size_hint(r->s, r->ex->sync_id, &n, err);

    ms_eng_index_init(&r->ix, n > 0 ? (size_t)n : 0);
    if (st == MS_OK)
        st = ms_store_snap_load(r->s, r->ex->sync_id, eng_load_cb, r, err);
    r->st.snapshot_us += ms_time_mono_us() - t;
    if (st != MS_OK)
        return eng_fail(r, st, err, "cannot load the snapshot");
    return MS_OK;
}

static enum ms_status
eng_gone_cb(void *ud, const uint8_t key[16], const uint8_t row[16])
{
    struct eng_run *r = ud;
    uint64_t p = ms_eng_prefix(key);
    size_t slot;

    (void)row;
    if (!ms_eng_keyset_has(&r->unseen, p) || memcmp(key, r->marker, 16) == 0)
        return MS_OK;
    slot = ms_eng_index_find(&r->ix, p);
    if (slot == MS_ENG_NOT_FOUND || ms_eng_index_mark(&r->ix, slot))
        return MS_OK;
    if (r->ngone == r->gone_cap) {
        r->gone_cap = r->gone_cap == 0 ? 1024 : r->gone_cap * 2;
        r->gone = ms_xrealloc(r->gone, r->gone_cap * sizeof(*r->gone));
    }
    memcpy(r->gone[r->ngone++], key, 16);
    return MS_OK;
}

/*
 * The full keys of the snapshot's records this run did not see. The index keeps only key
 * prefixes, so they come from a second scan of the snapshot, done only when some are missing;
 * the scan checks each key against the set of unseen prefixes, which is small and stays in the
 * cache, rather than against the index.
 */
static enum ms_status
eng_collect_gone(struct eng_run *r, struct ms_error *err)
{
    int64_t t = ms_time_mono_us();
    enum ms_status st = MS_OK;

    r->ngone = 0;
    if (r->ix.nseen < r->ix.n) {
        struct ms_eng_slot sl;
        size_t pos = 0;

        while (ms_eng_index_next_gone(&r->ix, &pos, &sl))
            ms_eng_keyset_add(&r->unseen, sl.key);
        st = ms_store_snap_load(r->s, r->ex->sync_id, eng_gone_cb, r, err);
        ms_eng_keyset_release(&r->unseen);
    }
    r->st.snapshot_us += ms_time_mono_us() - t;
    if (st != MS_OK)
        return eng_fail(r, st, err, "cannot scan the snapshot for removed records");
    return MS_OK;
}

/* A key's text back as a value of the identity's type, for the target's delete. */
static void
eng_typed_key(const char *type, const char *t, size_t n, struct ms_value *v)
{
    char buf[MS_ENG_KEY_BUF], *end;

    v->type = MS_V_TEXT;
    v->u.s.p = t;
    v->u.s.len = n;
    if (strcmp(type, "number") == 0 && n > 0 && n < sizeof(buf) && memchr(t, '\0', n) == NULL &&
        strchr("-0123456789", t[0]) != NULL) {
        long long i;
        double d;

        memcpy(buf, t, n);
        buf[n] = '\0';
        i = strtoll(buf, &end, 10);
        if (*end == '\0') {
            v->type = MS_V_INT;
            v->u.i = i;
            return;
        }
        d = strtod(buf, &end);
        if (*end == '\0') {
            v->type = MS_V_REAL;
            v->u.d = d;
        }
    } else if (strcmp(type, "boolean") == 0 && (n == 4 || n == 5) &&
               memcmp(t, n == 4 ? "true" : "false", n) == 0) {
        v->type = MS_V_BOOL;
        v->u.b = n == 4;
    }
}

/*
 * Compact the snapshot's runs (store.h snap_compact) at the end of a run. It never changes
 * what the snapshot says, so a failure costs only speed: a warning, and the next run compacts.
 */
static void
eng_compact(struct eng_run *r)
{
    struct ms_error e;
    int64_t t = ms_time_mono_us();
    enum ms_status st = ms_store_snap_compact(r->s, r->ex->sync_id, &e);

    r->st.snapshot_us += ms_time_mono_us() - t;
    if (st != MS_OK)
        eng_console(r, "WARN", "Could not compact the snapshot (%s); the next run will", e.msg);
}

/*
 * replace with identity: delete from the target what is gone from the model. The key texts
 * come from the store a window of keys at a time (one forward pass over the runs each, since
 * the keys are in order); eng_push_op copies each into the buffer its op goes in.
 */
static enum ms_status
eng_deletes(struct eng_run *r, struct ms_error *err)
{
    enum ms_status st = eng_collect_gone(r, err);
    size_t win = r->ngone < ENG_GONE_WIN ? r->ngone : ENG_GONE_WIN;

    if (st == MS_OK && win > 0) {
        r->gone_text = ms_xrealloc(r->gone_text, win * sizeof(*r->gone_text));
        r->gone_len = ms_xrealloc(r->gone_len, win * sizeof(*r->gone_len));
        if (r->gone_arena == NULL)
            r->gone_arena = ms_arena_new();
    }
    for (size_t i = 0, m; st == MS_OK && i < r->ngone && r->quota != 0; i += m) {
        int64_t t = ms_time_mono_us();

        m = r->ngone - i < win ? r->ngone - i : win;
        ms_arena_reset(r->gone_arena);
        st = ms_store_snap_key_texts(r->s, r->gone_arena, r->ex->sync_id, r->gone[i], m,
                                     r->gone_text, r->gone_len, err);
        r->st.snapshot_us += ms_time_mono_us() - t;
        if (st != MS_OK)
            return eng_fail(r, st, err, "cannot read the removed records' keys");
        for (size_t j = 0; j < m && st == MS_OK && r->quota != 0; j++) {
            struct eng_key k = {.len = r->gone_len[j], .text = r->gone_text[j]};
            struct ms_value key;

            if (j > 0 && j % r->batch_rows == 0 && (st = eng_tick(r, err)) != MS_OK)
                break;
            if (k.text == NULL)
                continue;
            eng_typed_key(r->p.id_type, k.text, k.len, &key);
            k.val = &key;
            memcpy(k.key, r->gone[i + j], 16);
            st = eng_push_op(r, MS_OP_DELETE, NULL, &k, true, true, err);
        }
    }
    return st;
}

/* ---- modes ---- */

/* Make the rewrite marker part of the snapshot before the first rewritten record is sent. */
static enum ms_status
eng_mark_dirty(struct eng_run *r, bool set, struct ms_error *err)
{
    static const uint8_t zero[16];
    enum ms_status st;

    if (r->dirty == set)
        return MS_OK;
    if ((st = eng_push_snap(r, r->marker, zero, !set, NULL, 0, err)) != MS_OK ||
        (st = eng_drain(r, err)) != MS_OK)
        return st;
    r->dirty = set;
    return MS_OK;
}

/* replace without identity, snapshot: rewrite the object when anything changed. */
static enum ms_status
eng_full(struct eng_run *r, struct ms_error *err)
{
    static const uint8_t zero[16];
    bool rewrite =
        r->p.sync_all || r->p.resync || r->p.mode == MS_ENG_SNAPSHOT || r->dirty || r->ix.n == 0;
    enum ms_status st;

    if (!rewrite) {
        if ((st = eng_pass(r, ENG_PASS_DETECT, err)) != MS_OK)
            return st;
        rewrite = r->changed || r->ix.nseen < r->ix.n;
        r->stop_read = false;
    }
    if (!rewrite) {
        eng_console(r, "INFO", "Nothing changed since the last run; the target is left as it is");
        return MS_OK;
    }
    ms_eng_index_unmark(&r->ix);
    ms_eng_keyset_release(&r->fresh);
    if ((st = eng_mark_dirty(r, true, err)) != MS_OK || (st = eng_writer(r, err)) != MS_OK ||
        (st = eng_pass(r, ENG_PASS_REWRITE, err)) != MS_OK || (st = eng_drain(r, err)) != MS_OK)
        return st;
    if ((st = eng_write_end(r, true, err)) != MS_OK)
        return eng_fail(r, st, err, "the destination could not commit the rewrite");
    if ((st = eng_collect_gone(r, err)) != MS_OK)
        return st;
    for (size_t i = 0; i < r->ngone && st == MS_OK; i++)
        st = eng_push_snap(r, r->gone[i], zero, true, NULL, 0, err);
    if (st == MS_OK)
        st = eng_mark_dirty(r, false, err);
    return st;
}

/* Has the sync ever completed an execution? */
static enum ms_status
eng_ever_completed(struct eng_run *r, bool *yes, struct ms_error *err)
{
    struct ms_exec_cursor cur = {.set = false};
    enum ms_status st;

    *yes = false;
    for (;;) {
        struct ms_execution *list = NULL;
        size_t n = 0;

        st = ms_store_exec_list(r->s, r->run, r->ex->org_id, r->ex->sync_id, true, false, &cur,
                                ENG_EXEC_PAGE, &list, &n, err);
        if (st != MS_OK)
            return eng_fail(r, st, err, "cannot list the sync's executions");
        for (size_t i = 0; i < n; i++)
            if (list[i].status != NULL && strcmp(list[i].status, "completed") == 0) {
                *yes = true;
                return MS_OK;
            }
        if (n < ENG_EXEC_PAGE)
            return MS_OK;
        cur.set = true;
        cur.sort_at = list[n - 1].started_at != 0 ? list[n - 1].started_at : list[n - 1].created_at;
        snprintf(cur.id, sizeof(cur.id), "%s", list[n - 1].id);
    }
}

static enum ms_status
eng_incremental(struct eng_run *r, struct ms_error *err)
{
    enum ms_status st = eng_pass(r, ENG_PASS_DIFF, err);

    /* The deletes go on filling the pending buffer: the last batch of the read may be in flight. */
    if (st == MS_OK && r->p.mode == MS_ENG_REPLACE && r->p.identities == NULL && !r->stop_read)
        st = eng_deletes(r, err);
    if (st == MS_OK)
        st = eng_drain(r, err);
    return st;
}

static void
eng_console_start(struct eng_run *r)
{
    const struct ms_eng_plan *p = &r->p;

    eng_console(r, "INFO", "Sync started: mode %s, model \"%s\", target %s \"%s\"", p->mode_name,
                p->model.name != NULL ? p->model.name : "", p->dst_conn.type, p->object);
    if (p->resync || p->sync_all)
        eng_console(r, "INFO", "Every record is treated as changed (%s)",
                    p->resync ? "resync" : "sync_all_records");
    if (p->test)
        eng_console(r, "INFO", "Test run: at most %d changed records are written",
                    MS_TEST_RUN_RECORDS);
    if (p->identities != NULL)
        eng_console(r, "INFO", "Only the %zu requested identities are processed", p->nidentities);
}

/*
 * Ops per pending buffer: the run's batch_rows when it sets one, else what the destination
 * prefers (MS_ROWS_DEFAULT when it says nothing), at most ENG_OPS_MAX.
 */
MS_STATIC size_t
eng_ops_cap(const struct ms_connector *dst, size_t batch_rows)
{
    size_t n = dst != NULL && dst->write_batch > 0 ? dst->write_batch : MS_ROWS_DEFAULT;

    if (batch_rows > 0)
        return batch_rows;
    return n < ENG_OPS_MAX ? n : ENG_OPS_MAX;
}

/* The two pending buffers, once the destination is known. */
static void
eng_buffers(struct eng_run *r)
{
    r->cap = eng_ops_cap(r->p.dst_impl, r->o->batch_rows > 0 ? r->batch_rows : 0);
    for (int i = 0; i < 2; i++) {
        r->buf[i].op = ms_xcalloc(r->cap, sizeof(*r->buf[i].op));
        r->buf[i].meta = ms_xcalloc(r->cap, sizeof(*r->buf[i].meta));
        r->buf[i].chg = ms_xcalloc(2 * r->cap, sizeof(*r->buf[i].chg));
        r->buf[i].opa = ms_arena_new();
    }
    r->fill = &r->buf[0];
}

static enum ms_status
eng_execute(struct eng_run *r, struct ms_error *err)
{
    bool ever = true;
    enum ms_status st = ms_eng_plan_load(&r->p, r->run, r->s, r->ex, r->o->secret, eng_now(), err);

    if (st != MS_OK)
        return eng_fail(r, st, err, "cannot plan the sync");
    eng_buffers(r);
    r->wp = (struct ms_write_plan){r->p.object,    r->p.mode_name, r->p.ncols,
                                   r->p.col_names, r->p.col_types, NULL,
                                   r->ex->sync_id, r->ex->id,      r->p.full};
    if (r->p.key_col != MS_ENG_NO_COL)
        r->wp.key_col = r->p.col_names[r->p.key_col];
    r->quota = r->p.test ? MS_TEST_RUN_RECORDS : -1;
    eng_console_start(r);
    if ((st = ms_cx_open(r->p.src_impl, r->p.src_cfg, &r->src, err)) != MS_OK)
        return eng_fail(r, st, err, "cannot open the source");
    if ((st = eng_load(r, err)) != MS_OK)
        return st;
    if (r->p.skip_backfill && r->ix.n == 0 && !r->dirty &&
        (st = eng_ever_completed(r, &ever, err)) != MS_OK)
        return st;
    if (!ever) {
        eng_console(r, "INFO",
                    "First run with skip_initial_backfill: recording a baseline of "
                    "the model, writing nothing");
        if ((st = eng_pass(r, ENG_PASS_BASELINE, err)) == MS_OK)
            st = eng_drain(r, err);
    } else if (r->p.full) {
        st = eng_full(r, err);
    } else {
        st = eng_incremental(r, err);
    }
    if (st == MS_OK && (st = eng_write_end(r, true, err)) != MS_OK)
        return eng_fail(r, st, err, "the destination could not finish writing");
    return st;
}

/* ---- the outcome ---- */

static const char *
eng_status_name(enum eng_end e)
{
    static const char *const names[] = {"completed", "failed", "canceled", "interrupted",
                                        "interrupted"};

    return names[e];
}

static void
eng_console_end(struct eng_run *r, const struct ms_error *e)
{
    const struct ms_counts *c = &r->c;

    eng_console(r, "INFO",
                "Read %lld records; sent %lld (inserted %lld, updated %lld, upserted %lld, "
                "deleted %lld, rejected %lld); skipped %lld",
                (long long)r->st.rows_read, (long long)c->total, (long long)c->insert,
                (long long)c->update, (long long)c->upserts, (long long)c->delete,
                (long long)c->error, (long long)c->warnings);
    if (r->end == ENG_FAILED)
        eng_console(r, "ERROR", "Failed: %s", e->msg);
    else if (r->end == ENG_CANCELED)
        eng_console(r, "INFO", "Canceled on request");
    else if (r->end == ENG_INTERRUPTED)
        eng_console(r, "WARN", "Interrupted by a shutdown");
    eng_console(r, r->end == ENG_FAILED ? "ERROR" : "INFO", "Execution %s in %.1f s",
                eng_status_name(r->end), (double)(ms_time_mono_us() - r->st.total_us) / 1e6);
}

/* Record the terminal state. */
static enum ms_status
eng_finish(struct eng_run *r, const struct ms_error *e, struct ms_error *err)
{
    json_t *errors = NULL;
    enum ms_status st;

    eng_console_end(r, e);
    if (r->end == ENG_FAILED)
        errors = json_pack("[s]", e->msg[0] != '\0' ? e->msg : "internal error");
    st = ms_store_exec_finish(r->s, r->ex->id, r->o->node, eng_status_name(r->end), &r->c, errors,
                              ms_time_now_ms(), err);
    json_decref(errors);
    if (st == MS_OK) {
        void (*fn)(void) = atomic_load(&eng_on_finish);

        if (fn != NULL)
            fn();
    }
    return st;
}

void
ms_engine_on_finish(void (*fn)(void))
{
    atomic_store(&eng_on_finish, fn);
}

static void
eng_release(struct eng_run *r)
{
    struct ms_error ignored;

    ms_eng_writer_stop(&r->w);
    if (r->writing)
        eng_write_end(r, false, &ignored);
    ms_cx_close(r->src);
    ms_cx_close(r->dst);
    ms_eng_plan_release(&r->p);
    ms_eng_index_release(&r->ix);
    ms_eng_keyset_release(&r->fresh);
    ms_eng_enc_release(&r->enc);
    ms_eng_log_close(&r->log);
    for (int i = 0; i < 2; i++) {
        free(r->buf[i].op);
        free(r->buf[i].meta);
        free(r->buf[i].chg);
        ms_arena_free(r->buf[i].opa);
    }
    free(r->gone);
    free(r->gone_text);
    free(r->gone_len);
    ms_arena_free(r->gone_arena);
    ms_arena_free(r->head);
    ms_arena_free(r->run);
}

static void
eng_init(struct eng_run *r, struct ms_store *s, const struct ms_execution *ex,
         const struct ms_engine_opts *opts)
{
    r->s = s;
    r->ex = ex;
    r->o = opts;
    r->end = ENG_FAILED; /* until the run says otherwise */
    r->batch_rows = opts->batch_rows == 0 ? MS_ROWS_DEFAULT : opts->batch_rows;
    if (r->batch_rows > MS_ENG_MAX_BATCH_ROWS)
        r->batch_rows = MS_ENG_MAX_BATCH_ROWS;
    r->lease_ms = opts->lease_ms > 0 ? opts->lease_ms : MS_LEASE_MS;
    r->run = ms_arena_new();
    r->head = ms_arena_new();
    r->last_renew_ms = ms_time_mono_ms();
    ms_eng_hash_bytes(ms_xxh3_128(eng_marker_text, sizeof(eng_marker_text) - 1), r->marker);
    ms_eng_log_init(&r->log, opts->log_dir, ex->sync_id, ex->id);
    r->st.total_us = ms_time_mono_us();
}

enum ms_status
ms_engine_run(struct ms_store *s, const struct ms_execution *ex, const struct ms_engine_opts *opts,
              const char **final_status, struct ms_engine_stats *stats, struct ms_error *err)
{
    struct eng_run *r = ms_xcalloc(1, sizeof(*r));
    struct ms_error e;
    enum ms_status st;

    ms_error_clear(&e);
    eng_init(r, s, ex, opts);
    st = eng_execute(r, &e);
    if (st == MS_OK)
        r->end = ENG_COMPLETED;
    eng_land(r);
    if (r->end != ENG_COMPLETED && r->writing) {
        struct ms_error ignored;

        eng_write_end(r, r->end != ENG_FAILED && !r->p.full, &ignored);
    }
    eng_compact(r);
    if (r->end == ENG_LOST) {
        st = ms_fail(err, MS_ECONFLICT,
                     "the execution's lease was lost; it is recorded as "
                     "interrupted by whoever took it over");
    } else {
        st = eng_finish(r, &e, err);
    }
    if (final_status != NULL)
        *final_status = eng_status_name(r->end);
    r->st.total_us = ms_time_mono_us() - r->st.total_us;
    if (stats != NULL)
        *stats = r->st;
    eng_release(r);
    free(r);
    return st;
}
