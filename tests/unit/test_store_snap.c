/*
 * test_store_snap.c: snapshot persistence of the SQLite store (store_sqlite_snap.c, migration
 * 0003): snap_apply appends sorted runs, readers overlay them on the folded rows, snap_compact
 * folds them. Suite "store_snap" checks every reader against an in-memory model of the
 * snapshot through interleaved upserts and deletes, before and after folds, across a reopen
 * after a simulated crash (a child process that _exit()s), under a caller's rollback, and the
 * query plans the design relies on. One fresh database per test in a mkdtemp directory.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sqlite3.h>

#include "core/arena.h"
#include "core/time.h"
#include "model/model.h"
#include "store/migrations.h"
#include "store/store.h"
#include "store/store_int.h"

#define TN_KEYS 600 /* keys of the model snapshot */

/* One test's world: the store under test, fixture rows, and the model of one sync's snapshot. */
static struct {
    char dir[64];
    char path[128];
    char url[160];
    struct ms_store *s;
    struct ms_arena *a;
    struct ms_error err;
    const char *org, *sync, *sync2, *exec;
    /* the model: per key, whether the snapshot holds it, its row version and its text */
    bool has[TN_KEYS];
    unsigned ver[TN_KEYS];
    char text[TN_KEYS][24]; /* "" = no text (NULL key_text) */
} tn;

/* A deterministic UUID: kind tells objects apart, n numbers them. */
static const char *
tn_id(unsigned kind, unsigned n)
{
    return ms_arena_printf(tn.a, "%08x-0000-4000-8000-%012x", kind, n);
}

static void
tn_open(void)
{
    cr_assert_eq(ms_store_open(tn.url, &tn.s, &tn.err), MS_OK, "%s", tn.err.msg);
    cr_assert_eq(ms_store_migrate(tn.s, &tn.err), MS_OK, "%s", tn.err.msg);
}

static const char *
tn_sync(const char *conn, unsigned n)
{
    struct ms_sync y;

    memset(&y, 0, sizeof(y));
    y.id = tn_id(3, n);
    y.org_id = tn.org;
    y.name = ms_arena_printf(tn.a, "sync %u", n);
    y.active = true;
    y.mode = "replace";
    y.target_connection_id = conn;
    y.created_at = y.updated_at = 3;
    cr_assert_eq(ms_store_sync_insert(tn.s, &y, &tn.err), MS_OK, "%s", tn.err.msg);
    return y.id;
}

/* org, connection, two syncs and a running execution of the first (for the counts) */
static void
tn_fixture(void)
{
    struct ms_org o = {tn_id(1, 1), "org", 1};
    struct ms_connection c;
    struct ms_execution ex, got;

    cr_assert_eq(ms_store_org_insert(tn.s, &o, &tn.err), MS_OK, "%s", tn.err.msg);
    tn.org = o.id;
    memset(&c, 0, sizeof(c));
    c.id = tn_id(2, 1);
    c.org_id = tn.org;
    c.name = "conn";
    c.type = "sqlite";
    c.status = "healthy";
    c.created_at = c.updated_at = 2;
    cr_assert_eq(ms_store_conn_insert(tn.s, &c, &tn.err), MS_OK, "%s", tn.err.msg);
    tn.sync = tn_sync(c.id, 1);
    tn.sync2 = tn_sync(c.id, 2);
    memset(&ex, 0, sizeof(ex));
    ex.id = tn.exec = tn_id(4, 1);
    ex.org_id = tn.org;
    ex.sync_id = tn.sync;
    ex.type = "manual";
    ex.status = "queued";
    ex.created_at = 4;
    cr_assert_eq(ms_store_exec_insert(tn.s, &ex, &tn.err), MS_OK, "%s", tn.err.msg);
    cr_assert_eq(ms_store_exec_claim(tn.s, tn.a, tn.exec, "node", 5, 60000, &got, &tn.err), MS_OK,
                 "%s", tn.err.msg);
}

static void
tn_setup(void)
{
    memset(&tn, 0, sizeof(tn));
    snprintf(tn.dir, sizeof(tn.dir), "/tmp/ms-store-snap-XXXXXX");
    cr_assert_not_null(mkdtemp(tn.dir));
    snprintf(tn.path, sizeof(tn.path), "%s/store.db", tn.dir);
    snprintf(tn.url, sizeof(tn.url), "sqlite:%s", tn.path);
    tn.a = ms_arena_new();
    tn_open();
    tn_fixture();
}

/* Remove a database file and its companions. */
static void
tn_unlink_db(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[200];

    for (size_t i = 0; i < MS_ARRAY_LEN(suffixes); i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
        unlink(p);
    }
}

static void
tn_teardown(void)
{
    ms_store_close(tn.s);
    ms_arena_free(tn.a);
    tn_unlink_db(tn.path);
    rmdir(tn.dir);
}

TestSuite(store_snap, .init = tn_setup, .fini = tn_teardown, .timeout = 120);

/* ---- the model ---- */

/* Key k: its first bytes spread so that key order differs from k's order. */
static void
tn_key(uint8_t key[16], unsigned k)
{
    uint32_t v = (uint32_t)k * 2654435761u;

    memset(key, 0, 16);
    for (int b = 0; b < 4; b++)
        key[b] = (uint8_t)(v >> (24 - 8 * b));
    key[14] = (uint8_t)(k >> 8);
    key[15] = (uint8_t)k;
}

/* The key number of a key made by tn_key. */
static unsigned
tn_key_num(const uint8_t key[16])
{
    return (unsigned)key[14] << 8 | key[15];
}

static void
tn_row(uint8_t row[16], unsigned k, unsigned ver)
{
    memset(row, 0, 16);
    memcpy(row, &k, sizeof(k));
    memcpy(row + 8, &ver, sizeof(ver));
}

/* An upsert of key k at version ver (text NULL: no key text), recorded in the model. */
static void
tn_put(struct ms_snap_change *c, unsigned k, unsigned ver, const char *text)
{
    memset(c, 0, sizeof(*c));
    tn_key(c->key, k);
    tn_row(c->row, k, ver);
    c->key_text = text != NULL ? ms_arena_strdup(tn.a, text) : NULL;
    c->key_len = text != NULL ? strlen(text) : 0;
    tn.has[k] = true;
    tn.ver[k] = ver;
    snprintf(tn.text[k], sizeof(tn.text[k]), "%s", text != NULL ? text : "");
}

static void
tn_del(struct ms_snap_change *c, unsigned k)
{
    memset(c, 0, sizeof(*c));
    tn_key(c->key, k);
    c->del = true;
    c->key_text = "ignored for deletes";
    c->key_len = 19;
    tn.has[k] = false;
}

static int64_t
tn_model_count(void)
{
    int64_t n = 0;

    for (unsigned k = 0; k < TN_KEYS; k++)
        n += tn.has[k];
    return n;
}

/* ---- checks against the model ---- */

struct tn_scan {
    size_t n;
    uint8_t last[16];
    bool seen[TN_KEYS];
    char bad[200]; /* the first mismatch */
};

static enum ms_status
tn_scan_fn(void *ud, const uint8_t key[16], const uint8_t row[16])
{
    struct tn_scan *sc = ud;
    unsigned k = tn_key_num(key);
    uint8_t want[16];

    if (sc->bad[0] != '\0')
        return MS_OK;
    if (sc->n > 0 && memcmp(sc->last, key, 16) >= 0)
        snprintf(sc->bad, sizeof(sc->bad), "key %u out of order or repeated", k);
    else if (k >= TN_KEYS || !tn.has[k])
        snprintf(sc->bad, sizeof(sc->bad), "key %u is not in the snapshot", k);
    else if (tn_row(want, k, tn.ver[k]), memcmp(want, row, 16) != 0)
        snprintf(sc->bad, sizeof(sc->bad), "key %u has another row hash", k);
    memcpy(sc->last, key, 16);
    if (k < TN_KEYS)
        sc->seen[k] = true;
    sc->n++;
    return MS_OK;
}

/* snap_count, snap_load and snap_key_text of every key agree with the model. */
static void
tn_check(const char *when)
{
    struct tn_scan sc;
    int64_t n = -1;

    memset(&sc, 0, sizeof(sc));
    cr_assert_eq(ms_store_snap_count(tn.s, tn.sync, &n, &tn.err), MS_OK, "%s", tn.err.msg);
    cr_assert_eq(n, tn_model_count(), "%s: count %lld, want %lld", when, (long long)n,
                 (long long)tn_model_count());
    cr_assert_eq(ms_store_snap_load(tn.s, tn.sync, tn_scan_fn, &sc, &tn.err), MS_OK, "%s",
                 tn.err.msg);
    cr_assert_str_empty(sc.bad, "%s: %s", when, sc.bad);
    cr_assert_eq((int64_t)sc.n, n, "%s: loaded %zu of %lld", when, sc.n, (long long)n);
    for (unsigned k = 0; k < TN_KEYS; k++) {
        uint8_t key[16];
        const char *text = NULL;
        size_t len = 0;
        enum ms_status st;
        bool want = tn.has[k] && tn.text[k][0] != '\0';

        tn_key(key, k);
        st = ms_store_snap_key_text(tn.s, tn.a, tn.sync, key, &text, &len, &tn.err);
        cr_assert_eq(st, want ? MS_OK : MS_ENOTFOUND, "%s: key text of %u: %s", when, k,
                     ms_status_name(st));
        if (want)
            cr_assert(len == strlen(tn.text[k]) && strcmp(text, tn.text[k]) == 0,
                      "%s: key %u has text \"%s\", want \"%s\"", when, k, text, tn.text[k]);
    }
}

static void
tn_apply(const struct ms_snap_change *c, size_t n)
{
    cr_assert_eq(ms_store_snap_apply(tn.s, tn.sync, c, n, NULL, NULL, &tn.err), MS_OK, "%s",
                 tn.err.msg);
}

static void
tn_compact(const char *sync)
{
    cr_assert_eq(ms_store_snap_compact(tn.s, sync, &tn.err), MS_OK, "%s", tn.err.msg);
}

/* A raw count on a second connection: what store.h cannot show (rows left in the runs). */
static int64_t
tn_raw_count(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int64_t n = -1;

    cr_assert_eq(sqlite3_open(tn.path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    if (sqlite3_step(stmt) == SQLITE_ROW)
        n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

/* One batch of random changes: mostly upserts, some deletes, some keys twice. */
static size_t
tn_random_batch(struct ms_snap_change *c, size_t cap, unsigned *seed, unsigned ver)
{
    size_t n = 0;

    while (n < cap) {
        unsigned k = (unsigned)rand_r(seed) % TN_KEYS;
        unsigned r = (unsigned)rand_r(seed) % 10;

        if (r < 3 && tn.has[k]) {
            tn_del(&c[n++], k);
        } else {
            char text[24];

            if (r == 9)
                snprintf(text, sizeof(text), "k%u-v%u", k, ver);
            else
                snprintf(text, sizeof(text), "k%u", k);
            tn_put(&c[n++], k, ver, r == 8 ? NULL : text);
        }
    }
    return n;
}

/* ---- tests ---- */

Test(store_snap, runs_overlay_the_folded_rows)
{
    struct ms_snap_change c[300];
    unsigned seed = 7;

    tn_check("empty");
    for (unsigned b = 1; b <= 24; b++) {
        size_t n = tn_random_batch(c, 40 + (b * 37) % 260, &seed, b);

        tn_apply(c, n);
        tn_check(ms_arena_printf(tn.a, "after batch %u", b));
        if (b % 7 == 0) {
            tn_compact(tn.sync);
            tn_check(ms_arena_printf(tn.a, "after a fold at batch %u", b));
            cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_log"), 0);
        }
    }
    tn_compact(tn.sync);
    tn_check("after the last fold");
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_runs"), 0);
}

Test(store_snap, the_last_change_of_a_key_wins)
{
    struct ms_snap_change c[4];

    /* within one batch */
    tn_put(&c[0], 1, 1, "one");
    tn_put(&c[1], 1, 2, "uno");
    tn_put(&c[2], 2, 1, "two");
    tn_del(&c[3], 2);
    tn_apply(c, 4);
    tn_check("one batch");
    /* across runs: delete then put back, put then delete, each before and after folding */
    tn_del(&c[0], 1);
    tn_apply(c, 1);
    tn_check("deleted in a later run");
    tn_put(&c[0], 1, 3, "eins");
    tn_apply(c, 1);
    tn_check("put back in a third run");
    tn_put(&c[0], 3, 1, "three");
    tn_apply(c, 1);
    tn_del(&c[0], 3);
    tn_apply(c, 1);
    tn_check("put then deleted");
    tn_compact(tn.sync);
    tn_check("folded");
    tn_del(&c[0], 1);
    tn_apply(c, 1);
    tn_check("a folded key deleted by a run");
    tn_put(&c[0], 1, 4, NULL);
    tn_apply(c, 1);
    tn_check("put back without text");
    tn_compact(tn.sync);
    tn_check("folded again");
    /* deleting a key the snapshot never held changes nothing */
    tn_del(&c[0], 77);
    tn_apply(c, 1);
    tn_compact(tn.sync);
    tn_check("deleting an absent key");
}

Test(store_snap, key_text_before_and_after_folding)
{
    struct ms_snap_change c[3];
    uint8_t key[16];
    const char *text = NULL;
    size_t len = 0;

    tn_put(&c[0], 10, 1, "ten");
    tn_put(&c[1], 11, 1, "eleven");
    c[2] = c[1];
    tn_key(c[2].key, 12);
    c[2].key_text = "a\0b";
    c[2].key_len = 3;
    tn.has[12] = true;
    tn.ver[12] = 1;
    tn_row(c[2].row, 12, 1);
    tn_apply(c, 3);
    /* binary-safe text, from a run and from a folded row */
    for (int pass = 0; pass < 2; pass++) {
        tn_key(key, 12);
        cr_assert_eq(ms_store_snap_key_text(tn.s, tn.a, tn.sync, key, &text, &len, &tn.err), MS_OK,
                     "%s", tn.err.msg);
        cr_expect(len == 3 && memcmp(text, "a\0b", 4) == 0, "pass %d", pass);
        tn_compact(tn.sync);
    }
    /* a run replaces a folded text, and hides it when it deletes the key */
    tn_put(&c[0], 10, 2, "TEN");
    tn_del(&c[1], 11);
    tn_apply(c, 2);
    tn_key(key, 10);
    cr_assert_eq(ms_store_snap_key_text(tn.s, tn.a, tn.sync, key, &text, &len, &tn.err), MS_OK);
    cr_expect_str_eq(text, "TEN");
    tn_key(key, 11);
    cr_expect_eq(ms_store_snap_key_text(tn.s, tn.a, tn.sync, key, &text, &len, &tn.err),
                 MS_ENOTFOUND, "deleted by a run");
    cr_expect_eq(ms_store_snap_key_text(tn.s, tn.a, tn.sync2, key, &text, &len, &tn.err),
                 MS_ENOTFOUND, "another sync");
    tn_compact(tn.sync);
    tn_key(key, 10);
    cr_assert_eq(ms_store_snap_key_text(tn.s, tn.a, tn.sync, key, &text, &len, &tn.err), MS_OK);
    cr_expect_str_eq(text, "TEN");
    tn.has[12] = false; /* tn_check compares text with strcmp; 12's was checked above */
    c[0] = c[2];
    c[0].del = true;
    tn_apply(c, 1);
    tn_check("folded");
}

Test(store_snap, compact_is_idempotent_and_changes_no_answer)
{
    struct ms_snap_change c[200];
    unsigned seed = 11;

    tn_compact(tn.sync); /* nothing yet */
    tn_compact(tn_id(3, 99));
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_syncs"), 0, "nothing created");
    for (unsigned b = 1; b <= 5; b++)
        tn_apply(c, tn_random_batch(c, 200, &seed, b));
    tn_check("before");
    tn_compact(tn.sync);
    tn_check("folded once");
    tn_compact(tn.sync);
    tn_check("folded twice");
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_runs"), 0);
    /* inside a caller's transaction that rolls back, the fold is undone and nothing changes */
    tn_apply(c, tn_random_batch(c, 200, &seed, 6));
    cr_assert_eq(ms_store_tx_begin(tn.s, &tn.err), MS_OK);
    tn_compact(tn.sync);
    ms_store_tx_rollback(tn.s);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_runs"), 1, "the run is still there");
    tn_check("fold rolled back");
}

Test(store_snap, counts_commit_with_the_changes)
{
    struct ms_snap_change c[50];
    struct ms_counts counts = {50, 50, 0, 0, 0, 0, 0};
    struct ms_execution got;

    for (unsigned k = 0; k < 50; k++)
        tn_put(&c[k], k, 1, ms_arena_printf(tn.a, "k%u", k));
    cr_assert_eq(ms_store_snap_apply(tn.s, tn.sync, c, 50, tn.exec, &counts, &tn.err), MS_OK, "%s",
                 tn.err.msg);
    /* an unknown execution or sync fails the whole call: no run, no count */
    for (unsigned k = 0; k < 50; k++)
        c[k].row[0] ^= 1;
    counts.total = 100;
    cr_expect_eq(ms_store_snap_apply(tn.s, tn.sync, c, 50, tn_id(4, 9), &counts, &tn.err),
                 MS_ENOTFOUND);
    cr_expect_eq(ms_store_snap_apply(tn.s, tn_id(3, 9), c, 50, tn.exec, &counts, &tn.err),
                 MS_ENOTFOUND);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_runs"), 1);
    cr_assert_eq(ms_store_exec_get(tn.s, tn.a, tn.org, NULL, tn.exec, &got, &tn.err), MS_OK);
    cr_expect_eq(got.counts.total, 50);
    for (unsigned k = 0; k < 50; k++)
        c[k].row[0] ^= 1;
    tn_check("after the refused calls");
    /* a caller's rollback undoes both */
    cr_assert_eq(ms_store_tx_begin(tn.s, &tn.err), MS_OK);
    cr_assert_eq(ms_store_snap_apply(tn.s, tn.sync, c, 10, tn.exec, &counts, &tn.err), MS_OK);
    ms_store_tx_rollback(tn.s);
    cr_assert_eq(ms_store_exec_get(tn.s, tn.a, tn.org, NULL, tn.exec, &got, &tn.err), MS_OK);
    cr_expect_eq(got.counts.total, 50);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_runs"), 1);
}

/* In a child: apply batches with counts on a handle of its own (and, with fold_open, run a fold
 * inside an outer transaction left open), then die without closing or committing anything. */
static void
tn_child(unsigned batches, bool fold_open)
{
    struct ms_snap_change c[100];
    struct ms_counts counts = {0};
    unsigned seed = 5;
    struct ms_store *s = NULL;
    struct ms_error err;

    if (ms_store_open(tn.url, &s, &err) != MS_OK)
        _exit(2);
    for (unsigned b = 1; b <= batches; b++) {
        size_t n = tn_random_batch(c, 100, &seed, b);

        counts.total += (int64_t)n;
        if (ms_store_snap_apply(s, tn.sync, c, n, tn.exec, &counts, &err) != MS_OK)
            _exit(3);
    }
    if (fold_open &&
        (ms_store_tx_begin(s, &err) != MS_OK || ms_store_snap_compact(s, tn.sync, &err) != MS_OK))
        _exit(4);
    _exit(0); /* no close, no commit of the open fold: as if the process crashed here */
}

/* Run tn_child in a process with the test's handle closed, replay its batches into the model
 * (same seed, same model state), and reopen. */
static void
tn_crash(unsigned batches, bool fold_open)
{
    struct ms_snap_change c[100];
    unsigned seed = 5;
    int status = 0;
    pid_t pid;

    ms_store_close(tn.s); /* no SQLite connection may cross a fork */
    tn.s = NULL;
    fflush(NULL);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0)
        tn_child(batches, fold_open);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    for (unsigned b = 1; b <= batches; b++)
        tn_random_batch(c, 100, &seed, b);
    tn_open();
}

Test(store_snap, a_crash_before_the_fold_loses_nothing)
{
    struct ms_execution got;

    tn_crash(8, false);
    tn_check("reopened after the crash");
    cr_assert_eq(ms_store_exec_get(tn.s, tn.a, tn.org, NULL, tn.exec, &got, &tn.err), MS_OK);
    cr_expect_eq(got.counts.total, 800, "the counts of every applied batch");
    tn_compact(tn.sync);
    tn_check("folded after the reopen");
}

Test(store_snap, a_crash_during_the_fold_loses_nothing)
{
    tn_crash(6, true);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_runs"), 6, "the fold did not commit");
    tn_check("reopened after the crash");
    tn_compact(tn.sync);
    tn_check("folded after the reopen");
}

Test(store_snap, clear_and_sync_delete_remove_rows_and_runs)
{
    struct ms_snap_change c[100];
    unsigned seed = 3;
    int64_t n = -1;

    for (unsigned b = 1; b <= 3; b++)
        tn_apply(c, tn_random_batch(c, 100, &seed, b));
    tn_compact(tn.sync);
    tn_apply(c, tn_random_batch(c, 100, &seed, 4)); /* a run not folded */
    for (unsigned k = 0; k < 100; k++)
        tn_put(&c[k], k, 1, "other");
    cr_assert_eq(ms_store_snap_apply(tn.s, tn.sync2, c, 100, NULL, NULL, &tn.err), MS_OK);
    cr_assert_eq(ms_store_snap_clear(tn.s, tn.sync, &tn.err), MS_OK, "%s", tn.err.msg);
    memset(tn.has, 0, sizeof(tn.has));
    tn_check("cleared");
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_runs"), 1, "sync2's run stays");
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_log"), 100, "sync2's rows stay");
    cr_assert_eq(ms_store_snap_count(tn.s, tn.sync2, &n, &tn.err), MS_OK);
    cr_expect_eq(n, 100);
    /* deleting a sync takes its runs and their rows along (foreign keys, trigger) */
    cr_assert_eq(ms_store_sync_delete(tn.s, tn.org, tn.sync2, &tn.err), MS_OK, "%s", tn.err.msg);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_runs"), 0);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_log"), 0);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_syncs"), 0);
    cr_assert_eq(ms_store_snap_count(tn.s, tn.sync2, &n, &tn.err), MS_OK);
    cr_expect_eq(n, 0);
}

/* EXPLAIN QUERY PLAN of the snapshot statement in slot id. */
static const char *
tn_plan(enum sq_stmt_id id)
{
    char *plan = ms_arena_alloc(tn.a, 2048);

    cr_assert_eq(ms_store_sq_explain(tn.s, ms_store_sq_snap_sql(id), plan, 2048, &tn.err), MS_OK,
                 "%s", tn.err.msg);
    return plan;
}

Test(store_snap, query_plans)
{
    const char *p;

    /* folded rows stream in primary-key order: no sort */
    p = tn_plan(SQ_SNAP_LOAD);
    cr_expect(strstr(p, "SEARCH snapshot_rows USING PRIMARY KEY (snap=?)") && !strstr(p, "TEMP"),
              "%s", p);
    /* key text: the sync's runs newest first from the index, one probe each, no sort */
    p = tn_plan(SQ_SNAP_KEY_TEXT);
    cr_expect(strstr(p, "SEARCH r USING COVERING INDEX snapshot_runs_snap (snap=?)") &&
                  strstr(p, "SEARCH l USING PRIMARY KEY (run=? AND key_hash=?)") &&
                  strstr(p, "SEARCH snapshot_rows USING PRIMARY KEY (snap=? AND key_hash=?)") &&
                  !strstr(p, "TEMP"),
              "%s", p);
    /* the fold reads the sync's runs through the index and sorts only the changes */
    p = tn_plan(SQ_SNAP_FOLD_PUT);
    cr_expect(strstr(p, "SEARCH r USING COVERING INDEX snapshot_runs_snap (snap=?)") &&
                  strstr(p, "SEARCH l USING PRIMARY KEY (run=?)") &&
                  strstr(p, "USE TEMP B-TREE FOR GROUP BY") &&
                  !strstr(p, "TEMP B-TREE FOR ORDER BY"),
              "%s", p);
    p = tn_plan(SQ_SNAP_FOLD_DEL);
    cr_expect(strstr(p, "SEARCH snapshot_rows USING PRIMARY KEY (snap=? AND key_hash=?)") &&
                  strstr(p, "SEARCH r USING INDEX snapshot_runs_snap (snap=?)"),
              "%s", p);
}

/* Rows written by 0002 (table snapshots) move to snapshot_rows when 0003 runs. */
Test(store_snap, migration_moves_the_old_rows)
{
    char path[200], *msg = NULL;
    sqlite3 *db = NULL;
    struct ms_store *s = NULL;
    struct tn_scan sc;
    const char *text = NULL;
    size_t len = 0;
    uint8_t key[16];

    snprintf(path, sizeof(path), "%s/old.db", tn.dir);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name "
                              "TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                              NULL, NULL, &msg),
                 SQLITE_OK, "%s", msg);
    for (size_t i = 0; i < ms_migrations_count && ms_migrations[i].version <= 2; i++) {
        char *rec = sqlite3_mprintf("INSERT INTO schema_migrations VALUES (%d, %Q, 1)",
                                    ms_migrations[i].version, ms_migrations[i].name);

        cr_assert_eq(sqlite3_exec(db, ms_migrations[i].sql, NULL, NULL, &msg), SQLITE_OK, "%s",
                     msg);
        cr_assert_eq(sqlite3_exec(db, rec, NULL, NULL, &msg), SQLITE_OK, "%s", msg);
        sqlite3_free(rec);
    }
    cr_assert_eq(sqlite3_exec(db,
                              "INSERT INTO organizations VALUES ('o', 'o', 1);"
                              "INSERT INTO connections (id, organization_id, name, type, "
                              "created_at, updated_at) VALUES ('c', 'o', 'c', 'sqlite', 1, 1);"
                              "INSERT INTO syncs (id, organization_id, name, active, mode, "
                              "target_connection_id, created_at, updated_at) VALUES ('y', 'o', "
                              "'y', 1, 'replace', 'c', 1, 1);",
                              NULL, NULL, &msg),
                 SQLITE_OK, "%s", msg);
    memset(tn.has, 0, sizeof(tn.has));
    for (unsigned k = 0; k < 20; k++) {
        sqlite3_stmt *stmt = NULL;
        uint8_t row[16];

        tn_key(key, k);
        tn_row(row, k, 1);
        cr_assert_eq(
            sqlite3_prepare_v2(db, "INSERT INTO snapshots VALUES ('y', ?, ?, ?)", -1, &stmt, NULL),
            SQLITE_OK);
        sqlite3_bind_blob(stmt, 1, key, 16, SQLITE_TRANSIENT);
        sqlite3_bind_blob(stmt, 2, row, 16, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 3, "old", 3, SQLITE_STATIC);
        cr_assert_eq(sqlite3_step(stmt), SQLITE_DONE);
        sqlite3_finalize(stmt);
        tn.has[k] = true;
        tn.ver[k] = 1;
    }
    sqlite3_close(db);

    cr_assert_eq(ms_store_open(path, &s, &tn.err), MS_OK, "%s", tn.err.msg);
    cr_assert_eq(ms_store_migrate(s, &tn.err), MS_OK, "%s", tn.err.msg);
    memset(&sc, 0, sizeof(sc));
    cr_assert_eq(ms_store_snap_load(s, "y", tn_scan_fn, &sc, &tn.err), MS_OK, "%s", tn.err.msg);
    cr_expect_str_empty(sc.bad, "%s", sc.bad);
    cr_expect_eq(sc.n, 20);
    tn_key(key, 4);
    cr_expect_eq(ms_store_snap_key_text(s, tn.a, "y", key, &text, &len, &tn.err), MS_OK);
    cr_expect_str_eq(text, "old");
    ms_store_close(s);
    tn_unlink_db(path);
}

/* 100k changes in runs of 1000 over a 100k-row snapshot, then the fold; figures go to the log. */
Test(store_snap, apply_and_fold_speed)
{
    enum { TOTAL = 100000, BATCH = 1000 };
    struct ms_snap_change *c = ms_arena_zalloc(tn.a, BATCH * sizeof(*c));
    int64_t t0, apply_ms[2], fold_ms[2], n = 0;

    for (int round = 0; round < 2; round++) {
        t0 = ms_time_mono_ms();
        for (unsigned i = 0; i < TOTAL; i += BATCH) {
            for (unsigned j = 0; j < BATCH; j++) {
                unsigned k = (i + j) * 2654435761u; /* random order, the same keys each round */

                memset(&c[j], 0, sizeof(c[j]));
                memcpy(c[j].key, &k, sizeof(k));
                c[j].row[0] = (uint8_t)round;
                c[j].key_text = "key";
                c[j].key_len = 3;
            }
            cr_assert_eq(ms_store_snap_apply(tn.s, tn.sync, c, BATCH, NULL, NULL, &tn.err), MS_OK,
                         "%s", tn.err.msg);
        }
        apply_ms[round] = ms_time_mono_ms() - t0;
        t0 = ms_time_mono_ms();
        tn_compact(tn.sync);
        fold_ms[round] = ms_time_mono_ms() - t0;
    }
    cr_assert_eq(ms_store_snap_count(tn.s, tn.sync, &n, &tn.err), MS_OK);
    cr_expect_eq(n, TOTAL);
    cr_log_info("snapshot: %d new keys in runs of %d: apply %lld ms, fold %lld ms; the same keys "
                "changed: apply %lld ms, fold %lld ms",
                TOTAL, BATCH, (long long)apply_ms[0], (long long)fold_ms[0], (long long)apply_ms[1],
                (long long)fold_ms[1]);
    /* loose: the machine is shared and tests may run under sanitizers; the old per-key upsert
     * took over 2 s for the apply alone */
    cr_expect_lt(apply_ms[1] + fold_ms[1], 20000);
}
