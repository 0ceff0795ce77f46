/*
 * test_store_snap.c: snapshot persistence of the SQLite store (store_sqlite_snap.c and
 * store_sqlite_snapblob.c, migration 0007): snap_apply adds sorted runs packed in blobs, readers
 * merge them over the folded chunks, snap_compact folds them. Suite "store_snap" checks every
 * reader against an in-memory model of the snapshot through random upserts, deletes, folds and
 * clears, before and after folds, with thousands of runs, long key texts, damaged blobs, across
 * a reopen after a simulated crash (a child process that _exit()s), under a caller's rollback,
 * the upgrade of snapshots stored by migration 0003, and the query plans the design relies on.
 * One fresh database per test in a mkdtemp directory.
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

#define TN_KEYS 2000 /* keys of the model snapshot */

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
    bool notext[TN_KEYS]; /* NULL key_text */
    unsigned ver[TN_KEYS];
    char text[TN_KEYS][24];
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
    tn.notext[k] = text == NULL;
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

/* snap_key_texts of key k alone agrees with the model. */
static void
tn_check_text(const char *when, unsigned k)
{
    uint8_t key[16];
    const char *text = NULL;
    size_t len = 0;
    enum ms_status st;
    bool want = tn.has[k] && !tn.notext[k];

    tn_key(key, k);
    st = ms_store_snap_key_texts(tn.s, tn.a, tn.sync, key, 1, &text, &len, &tn.err);
    cr_assert_eq(st, MS_OK, "%s: key text of %u: %s (%s)", when, k, ms_status_name(st), tn.err.msg);
    cr_assert_eq(text != NULL, want, "%s: key %u %s a text", when, k, want ? "lacks" : "has");
    if (want)
        cr_assert(len == strlen(tn.text[k]) && strcmp(text, tn.text[k]) == 0,
                  "%s: key %u has text \"%s\", want \"%s\"", when, k, text, tn.text[k]);
}

static int64_t tn_raw_count(const char *sql);

/* snap_count and snap_load agree with the model; snap_size_hint is not below them, and equal
 * to them when no run waits (a fold). */
static void
tn_check_rows(const char *when)
{
    struct tn_scan sc;
    int64_t n = -1, hint = -1;

    memset(&sc, 0, sizeof(sc));
    cr_assert_eq(ms_store_snap_count(tn.s, tn.sync, &n, &tn.err), MS_OK, "%s", tn.err.msg);
    cr_assert_eq(n, tn_model_count(), "%s: count %lld, want %lld", when, (long long)n,
                 (long long)tn_model_count());
    cr_assert_eq(ms_store_snap_size_hint(tn.s, tn.sync, &hint, &tn.err), MS_OK, "%s", tn.err.msg);
    cr_assert_geq(hint, n, "%s: size hint %lld below the count", when, (long long)hint);
    if (tn_raw_count(ms_arena_printf(tn.a,
                                     "SELECT count(*) FROM snapshot_deltas AS d JOIN "
                                     "snapshot_syncs AS y ON y.id = d.snap WHERE y.sync_id = '%s'",
                                     tn.sync)) == 0)
        cr_assert_eq(hint, n, "%s: size hint %lld without runs", when, (long long)hint);
    cr_assert_eq(ms_store_snap_load(tn.s, tn.sync, tn_scan_fn, &sc, &tn.err), MS_OK, "%s",
                 tn.err.msg);
    cr_assert_str_empty(sc.bad, "%s: %s", when, sc.bad);
    cr_assert_eq((int64_t)sc.n, n, "%s: loaded %zu of %lld", when, sc.n, (long long)n);
}

/* snap_count, snap_load and snap_key_texts of every key agree with the model. */
static void
tn_check(const char *when)
{
    tn_check_rows(when);
    for (unsigned k = 0; k < TN_KEYS; k++)
        tn_check_text(when, k);
}

static void
tn_apply_to(const char *sync, const struct ms_snap_change *c, size_t n)
{
    cr_assert_eq(ms_store_snap_apply(tn.s, sync, c, n, NULL, NULL, &tn.err), MS_OK, "%s",
                 tn.err.msg);
}

static void
tn_apply(const struct ms_snap_change *c, size_t n)
{
    tn_apply_to(tn.sync, c, n);
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
            tn_check(ms_arena_printf(tn.a, "after a compact at batch %u", b));
            cr_expect_leq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 1,
                          "folded, or merged into one run");
        }
    }
    ms_store_sq_snap_fold_share = 0;
    tn_compact(tn.sync);
    tn_check("after the last fold");
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 0);
}

/* Every key with its text "k<n>", applied and folded, in chunks of 64 (c: room for TN_KEYS). */
static void
tn_first_load(struct ms_snap_change *c)
{
    ms_store_sq_snap_chunk_max = 64;
    for (unsigned k = 0; k < TN_KEYS; k++) {
        char text[24];

        snprintf(text, sizeof(text), "k%u", k);
        tn_put(&c[k], k, 1, text);
    }
    tn_apply(c, TN_KEYS);
    tn_compact(tn.sync);
}

/* A few changes over many folded keys are merged into one run; the chunks stay as they were. */
Test(store_snap, small_runs_merge_into_one_and_fold_once_large)
{
    struct ms_snap_change c[TN_KEYS];
    unsigned seed = 5;
    int64_t chunks, bytes;
    unsigned b = 2;

    tn_first_load(c);
    tn_check("first fold");
    cr_assert_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 0, "a first load folds");
    chunks = tn_raw_count("SELECT count(*) FROM snapshot_chunks");
    bytes = tn_raw_count("SELECT sum(length(body)) FROM snapshot_chunks");
    /* 3 runs of 50: a delta of at most 150 keys, under a quarter of 2000 */
    for (; b <= 4; b++)
        tn_apply(c, tn_random_batch(c, 50, &seed, b));
    tn_check("three runs");
    tn_compact(tn.sync);
    tn_check("merged");
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 1, "one delta");
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_chunks"), chunks, "chunks kept");
    cr_expect_eq(tn_raw_count("SELECT sum(length(body)) FROM snapshot_chunks"), bytes);
    tn_compact(tn.sync);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 1, "nothing to merge");
    /* the delta grows run by run until it holds a quarter of the folded keys: then a fold */
    while (tn_raw_count("SELECT count(*) FROM snapshot_deltas") > 0) {
        cr_assert_lt(b, 100u, "never folded");
        tn_apply(c, tn_random_batch(c, 50, &seed, b++));
        tn_compact(tn.sync);
        tn_check(ms_arena_printf(tn.a, "compact after run %u", b - 1));
        cr_assert_leq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 1);
    }
    cr_expect_gt(b, 6u, "merged several times before the fold");
}

/* A merge whose output passes the piece size is written as several runs of distinct keys. */
Test(store_snap, a_large_merge_is_written_in_pieces)
{
    struct ms_snap_change c[TN_KEYS];
    unsigned seed = 31;

    tn_first_load(c);
    ms_store_sq_snap_run_bytes = 2048;
    for (unsigned b = 2; b <= 4; b++)
        tn_apply(c, tn_random_batch(c, 100, &seed, b));
    tn_compact(tn.sync);
    tn_check("merged in pieces");
    cr_expect_gt(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 2, "several pieces");
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas WHERE length(body) > 2048"), 0);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas AS a JOIN snapshot_deltas AS b "
                              "ON a.id < b.id AND a.min_key <= b.max_key AND b.min_key <= "
                              "a.max_key"),
                 0, "the pieces do not overlap");
    ms_store_sq_snap_fold_share = 0;
    tn_compact(tn.sync);
    tn_check("folded");
}

/* snap_key_texts of all the keys at once, in one call, agrees with the model. */
static void
tn_check_texts_batch(const char *when)
{
    static uint8_t keys[TN_KEYS][16];
    static const char *texts[TN_KEYS];
    static size_t lens[TN_KEYS];

    for (unsigned k = 0; k < TN_KEYS; k++)
        tn_key(keys[k], k);
    cr_assert_eq(
        ms_store_snap_key_texts(tn.s, tn.a, tn.sync, keys[0], TN_KEYS, texts, lens, &tn.err), MS_OK,
        "%s: %s", when, tn.err.msg);
    for (unsigned k = 0; k < TN_KEYS; k++) {
        if (!tn.has[k] || tn.notext[k]) {
            cr_expect_null(texts[k], "%s: key %u has no text", when, k);
            continue;
        }
        cr_expect(texts[k] != NULL && lens[k] == strlen(tn.text[k]) &&
                      strcmp(texts[k], tn.text[k]) == 0,
                  "%s: text of key %u", when, k);
    }
}

Test(store_snap, key_texts_in_one_call_over_runs_delta_and_chunks)
{
    struct ms_snap_change c[400];
    unsigned seed = 23;

    ms_store_sq_snap_chunk_max = 32;
    tn_check_texts_batch("empty");
    for (unsigned b = 1; b <= 3; b++)
        tn_apply(c, tn_random_batch(c, 400, &seed, b));
    tn_check_texts_batch("runs only");
    tn_compact(tn.sync);
    tn_check_texts_batch("folded");
    for (unsigned b = 4; b <= 6; b++)
        tn_apply(c, tn_random_batch(c, 60, &seed, b));
    tn_compact(tn.sync);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 1, "merged");
    tn_apply(c, tn_random_batch(c, 60, &seed, 7));
    tn_check_texts_batch("chunks, a delta and a run");
    cr_assert_eq(ms_store_snap_key_texts(tn.s, tn.a, tn_id(3, 99), NULL, 0, NULL, NULL, &tn.err),
                 MS_OK, "no keys, unknown sync");
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
        cr_assert_eq(ms_store_snap_key_texts(tn.s, tn.a, tn.sync, key, 1, &text, &len, &tn.err),
                     MS_OK, "%s", tn.err.msg);
        cr_assert_not_null(text);
        cr_expect(len == 3 && memcmp(text, "a\0b", 4) == 0, "pass %d", pass);
        tn_compact(tn.sync);
    }
    /* a run replaces a folded text, and hides it when it deletes the key */
    tn_put(&c[0], 10, 2, "TEN");
    tn_del(&c[1], 11);
    tn_apply(c, 2);
    tn_key(key, 10);
    cr_assert_eq(ms_store_snap_key_texts(tn.s, tn.a, tn.sync, key, 1, &text, &len, &tn.err), MS_OK);
    cr_assert_not_null(text);
    cr_expect_str_eq(text, "TEN");
    tn_key(key, 11);
    cr_assert_eq(ms_store_snap_key_texts(tn.s, tn.a, tn.sync, key, 1, &text, &len, &tn.err), MS_OK);
    cr_expect_null(text, "deleted by a run");
    cr_assert_eq(ms_store_snap_key_texts(tn.s, tn.a, tn.sync2, key, 1, &text, &len, &tn.err),
                 MS_OK);
    cr_expect_null(text, "another sync");
    tn_compact(tn.sync);
    tn_key(key, 10);
    cr_assert_eq(ms_store_snap_key_texts(tn.s, tn.a, tn.sync, key, 1, &text, &len, &tn.err), MS_OK);
    cr_assert_not_null(text);
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
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 0);
    /* inside a caller's transaction that rolls back, the fold is undone and nothing changes */
    tn_apply(c, tn_random_batch(c, 200, &seed, 6));
    cr_assert_eq(ms_store_tx_begin(tn.s, &tn.err), MS_OK);
    tn_compact(tn.sync);
    ms_store_tx_rollback(tn.s);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 1, "the run is still there");
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
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 1);
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
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 1);
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
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 6,
                 "the fold did not commit");
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
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 1, "sync2's run stays");
    cr_expect_eq(tn_raw_count("SELECT sum(n) FROM snapshot_deltas"), 100, "sync2's changes stay");
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_chunks"), 0, "sync's chunks go");
    cr_assert_eq(ms_store_snap_count(tn.s, tn.sync2, &n, &tn.err), MS_OK);
    cr_expect_eq(n, 100);
    /* deleting a sync takes its chunks and runs along (foreign keys) */
    tn_compact(tn.sync2);
    tn_apply_to(tn.sync2, c, 10);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_chunks"), 1);
    cr_assert_eq(ms_store_sync_delete(tn.s, tn.org, tn.sync2, &tn.err), MS_OK, "%s", tn.err.msg);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 0);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_chunks"), 0);
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

    /* chunks stream in key order from the index: no sort */
    p = tn_plan(SQ_SNAP_LOAD);
    cr_expect(strstr(p, "SEARCH snapshot_chunks USING INDEX snapshot_chunks_snap (snap=?)") &&
                  !strstr(p, "TEMP"),
              "%s", p);
    p = tn_plan(SQ_SNAP_CHUNK_LIST);
    cr_expect(strstr(p, "SEARCH snapshot_chunks USING INDEX snapshot_chunks_snap (snap=?)") &&
                  !strstr(p, "TEMP"),
              "%s", p);
    /* key text: the sync's row, then one index probe for the chunk and one for the runs */
    p = tn_plan(SQ_SNAP_CHUNK_FIND);
    cr_expect(strstr(p, "SEARCH y USING INDEX sqlite_autoindex_snapshot_syncs_1 (sync_id=?)") &&
                  strstr(p, "SEARCH c USING COVERING INDEX snapshot_chunks_snap "
                            "(snap=? AND first_key<?)") &&
                  strstr(p, "SEARCH snapshot_deltas USING COVERING INDEX snapshot_deltas_snap "
                            "(snap=?)") &&
                  !strstr(p, "TEMP"),
              "%s", p);
    p = tn_plan(SQ_SNAP_RUN_IDS);
    cr_expect(
        strstr(p, "SEARCH snapshot_deltas USING COVERING INDEX snapshot_deltas_snap (snap=?)") &&
            !strstr(p, "TEMP"),
        "%s", p);
    p = tn_plan(SQ_SNAP_INFO);
    cr_expect(strstr(p, "SEARCH y USING INDEX sqlite_autoindex_snapshot_syncs_1 (sync_id=?)") &&
                  strstr(p, "COVERING INDEX snapshot_deltas_snap (snap=?)"),
              "%s", p);
}

/* Apply the migrations up to version upto to a new database at path, by hand. */
static sqlite3 *
tn_old_db(const char *path, int upto)
{
    sqlite3 *db = NULL;
    char *msg = NULL;

    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name "
                              "TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                              NULL, NULL, &msg),
                 SQLITE_OK, "%s", msg);
    for (size_t i = 0; i < ms_migrations_count && ms_migrations[i].version <= upto; i++) {
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
                              "'y', 1, 'replace', 'c', 1, 1), ('z', 'o', 'z', 1, 'replace', 'c', "
                              "1, 1);",
                              NULL, NULL, &msg),
                 SQLITE_OK, "%s", msg);
    return db;
}

/* Run sql with key k, row version ver and text bound to ?1, ?2, ?3 (text NULL: SQL NULL). */
static void
tn_old_exec(sqlite3 *db, const char *sql, unsigned k, unsigned ver, const char *text)
{
    sqlite3_stmt *stmt = NULL;
    uint8_t key[16], row[16];

    tn_key(key, k);
    tn_row(row, k, ver);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_bind_blob(stmt, 1, key, 16, SQLITE_TRANSIENT);
    sqlite3_bind_blob(stmt, 2, row, 16, SQLITE_TRANSIENT);
    if (text != NULL)
        sqlite3_bind_text(stmt, 3, text, -1, SQLITE_TRANSIENT);
    cr_assert_eq(sqlite3_step(stmt), SQLITE_DONE, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
}

/* Rows written by 0002 (table snapshots) move to snapshot_rows when 0003 runs. */
Test(store_snap, migration_moves_the_old_rows)
{
    char path[200];
    sqlite3 *db;
    struct ms_store *s = NULL;
    struct tn_scan sc;
    const char *text = NULL;
    size_t len = 0;
    uint8_t key[16];

    snprintf(path, sizeof(path), "%s/old.db", tn.dir);
    db = tn_old_db(path, 2);
    memset(tn.has, 0, sizeof(tn.has));
    for (unsigned k = 0; k < 20; k++) {
        tn_old_exec(db, "INSERT INTO snapshots VALUES ('y', ?, ?, ?)", k, 1, "old");
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
    cr_expect_eq(ms_store_snap_key_texts(s, tn.a, "y", key, 1, &text, &len, &tn.err), MS_OK);
    cr_assert_not_null(text);
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

/* ---- randomized model check ---- */

/* A random change of key k at version ver: a delete (also of absent keys), or an upsert with a
 * text, an empty text or none. */
static void
tn_random_change(struct ms_snap_change *c, unsigned k, unsigned *seed, unsigned ver)
{
    unsigned r = (unsigned)rand_r(seed) % 10;
    char text[24];

    if (r < 3) {
        tn_del(c, k);
        return;
    }
    snprintf(text, sizeof(text), "k%u-v%u", k, ver);
    tn_put(c, k, ver, r == 8 ? NULL : r == 7 ? "" : text);
}

/* n random changes of keys in [lo, lo + span), recording the keys in touched. */
static size_t
tn_random_changes(struct ms_snap_change *c, size_t n, unsigned lo, unsigned span, unsigned *seed,
                  unsigned ver, unsigned *touched)
{
    for (size_t i = 0; i < n; i++) {
        unsigned k = (lo + (unsigned)rand_r(seed) % span) % TN_KEYS;

        tn_random_change(&c[i], k, seed, ver);
        touched[i] = k;
    }
    return n;
}

/* One random step; the keys it changed go to touched, their number is returned. */
static size_t
tn_random_step(unsigned step, unsigned *seed, struct ms_snap_change *c, unsigned *touched)
{
    unsigned op = (unsigned)rand_r(seed) % 100, lo = (unsigned)rand_r(seed) % TN_KEYS;
    size_t n = 0;

    if (op < 50) { /* a small batch, possibly empty */
        n = tn_random_changes(c, (unsigned)rand_r(seed) % 12, 0, TN_KEYS, seed, step, touched);
        tn_apply(c, n);
    } else if (op < 60) { /* a large batch */
        n = tn_random_changes(c, 100 + (unsigned)rand_r(seed) % 300, 0, TN_KEYS, seed, step,
                              touched);
        tn_apply(c, n);
    } else if (op < 72) { /* a batch in a narrow key range: few chunks touched */
        n = tn_random_changes(c, 1 + (unsigned)rand_r(seed) % 40, lo, 60, seed, step, touched);
        tn_apply(c, n);
    } else if (op < 88) {
        tn_compact(tn.sync);
    } else if (op < 92) { /* a fold rolled back by the caller */
        cr_assert_eq(ms_store_tx_begin(tn.s, &tn.err), MS_OK);
        tn_compact(tn.sync);
        ms_store_tx_rollback(tn.s);
    } else if (op < 94) {
        cr_assert_eq(ms_store_snap_clear(tn.s, tn.sync, &tn.err), MS_OK, "%s", tn.err.msg);
        memset(tn.has, 0, sizeof(tn.has));
    } else { /* a run on the other sync, which must not show */
        for (unsigned i = 0; i < 20; i++) {
            memset(&c[i], 0, sizeof(c[i]));
            tn_key(c[i].key, (lo + i) % TN_KEYS);
            c[i].key_text = "other sync";
            c[i].key_len = 10;
        }
        tn_apply_to(tn.sync2, c, 20);
        if (op == 99)
            tn_compact(tn.sync2);
    }
    return n;
}

/* Thousands of random applies, deletes, folds and clears over 2,000 keys in chunks of 16. */
Test(store_snap, random_steps_agree_with_the_model, .timeout = 600)
{
    struct ms_snap_change *c = ms_arena_zalloc(tn.a, 400 * sizeof(*c));
    unsigned touched[400], seed = 2024;
    char when[64];

    ms_store_sq_snap_chunk_max = 16;
    for (unsigned step = 1; step <= 3000; step++) {
        size_t n = tn_random_step(step, &seed, c, touched);

        snprintf(when, sizeof(when), "step %u", step);
        tn_check_rows(when);
        for (size_t i = 0; i < n; i++)
            tn_check_text(when, touched[i]);
        for (unsigned i = 0; i < 8; i++)
            tn_check_text(when, (unsigned)rand_r(&seed) % TN_KEYS);
        if (step % 500 == 0)
            tn_check(when);
    }
    ms_store_sq_snap_fold_share = 0;
    tn_compact(tn.sync);
    tn_check("after the last fold");
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas AS d JOIN snapshot_syncs "
                              "AS y ON y.id = d.snap WHERE y.sync_id LIKE '%1'"),
                 0);
    /* the chunks tile the key space: each one's first key is above the previous one's last */
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_chunks WHERE n < 1 OR n > 16"), 0);
}

Test(store_snap, empty_applies_and_deletes_of_absent_keys)
{
    struct ms_snap_change c[40] = {{.del = false}};
    struct ms_counts counts = {7, 0, 0, 0, 0, 0, 0};
    struct ms_execution got;

    /* an empty apply stores the counts and writes no run */
    cr_assert_eq(ms_store_snap_apply(tn.s, tn.sync, c, 0, tn.exec, &counts, &tn.err), MS_OK);
    cr_assert_eq(ms_store_exec_get(tn.s, tn.a, tn.org, NULL, tn.exec, &got, &tn.err), MS_OK);
    cr_expect_eq(got.counts.total, 7);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 0);
    /* deletes of keys never held, on an empty snapshot, before and after the fold */
    for (unsigned k = 0; k < 40; k++)
        tn_del(&c[k], k * 3);
    tn_apply(c, 40);
    tn_check("only deletes");
    tn_compact(tn.sync);
    tn_check("only deletes, folded");
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_chunks"), 0);
    cr_expect_eq(tn_raw_count("SELECT folded FROM snapshot_syncs"), 0);
    /* between held keys */
    for (unsigned k = 0; k < 40; k++)
        tn_put(&c[k], k * 3 + 1, 1, "held");
    tn_apply(c, 40);
    tn_compact(tn.sync);
    for (unsigned k = 0; k < 40; k++)
        tn_del(&c[k], k * 3 + 2);
    tn_apply(c, 40);
    cr_assert_eq(ms_store_snap_apply(tn.s, tn.sync, c, 0, NULL, NULL, &tn.err), MS_OK);
    tn_check("absent deletes between held keys");
    tn_compact(tn.sync);
    tn_check("absent deletes between held keys, folded");
    cr_expect_eq(tn_raw_count("SELECT folded FROM snapshot_syncs"), 40);
}

/* Key texts longer than the merge's windows and the chunk size, in runs and in chunks. */
Test(store_snap, long_key_texts)
{
    static const size_t lens[] = {200, 5000, 70000, 300000, 3u << 20};
    struct ms_snap_change c[MS_ARRAY_LEN(lens) + 1];
    char *texts[MS_ARRAY_LEN(lens)];

    ms_store_sq_snap_fold_share = 0; /* every compact folds */
    for (size_t i = 0; i < MS_ARRAY_LEN(lens); i++) {
        texts[i] = ms_arena_alloc(tn.a, lens[i] + 1);
        for (size_t j = 0; j < lens[i]; j++)
            texts[i][j] = (char)('a' + (j * 7 + i) % 26);
        texts[i][lens[i]] = '\0';
        tn_put(&c[i], (unsigned)i * 5, 1, NULL);
        c[i].key_text = texts[i];
        c[i].key_len = lens[i];
        tn.notext[i * 5] = false;
    }
    tn_put(&c[MS_ARRAY_LEN(lens)], 1, 1, "short");
    tn_apply(c, MS_ARRAY_LEN(lens) + 1);
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < MS_ARRAY_LEN(lens); i++) {
            uint8_t key[16];
            const char *text = NULL;
            size_t len = 0;

            tn_key(key, (unsigned)i * 5);
            cr_assert_eq(ms_store_snap_key_texts(tn.s, tn.a, tn.sync, key, 1, &text, &len, &tn.err),
                         MS_OK, "%s", tn.err.msg);
            cr_assert_not_null(text);
            cr_expect(len == lens[i] && memcmp(text, texts[i], len) == 0 && text[len] == '\0',
                      "pass %d: text %zu", pass, i);
        }
        /* pass 1: folded; pass 2: folded again with another run merged over them */
        tn_put(&c[0], 2, (unsigned)pass + 2, "between");
        tn_apply(c, 1);
        tn_compact(tn.sync);
    }
    tn_check_rows("long texts");
    /* chunks cut by bytes (30 texts of 20,000 bytes), then new keys falling between them */
    for (unsigned k = 100; k < 130; k++) {
        tn_put(&c[0], k, 1, NULL);
        c[0].key_text = texts[2]; /* its first 20,000 bytes */
        c[0].key_len = 20000;
        tn.notext[k] = false;
        tn_apply(c, 1);
    }
    tn_compact(tn.sync);
    cr_expect_gt(tn_raw_count("SELECT count(*) FROM snapshot_chunks"), 5);
    for (unsigned k = 200; k < 205; k++) {
        tn_put(&c[0], k, 1, "new");
        tn_apply(c, 1);
    }
    tn_compact(tn.sync);
    tn_check_rows("texts cut in chunks");
    for (unsigned k = 100; k < 130; k++) {
        uint8_t key[16];
        const char *text = NULL;
        size_t len = 0;

        tn_key(key, k);
        cr_assert_eq(ms_store_snap_key_texts(tn.s, tn.a, tn.sync, key, 1, &text, &len, &tn.err),
                     MS_OK, "%s", tn.err.msg);
        cr_assert_not_null(text);
        cr_expect(len == 20000 && memcmp(text, texts[2], len) == 0, "text of %u", k);
    }
    /* over the cap: refused, nothing written */
    tn_put(&c[0], 3, 1, NULL);
    c[0].key_text = texts[0];
    c[0].key_len = ((size_t)64 << 20) + 1;
    cr_expect_eq(ms_store_snap_apply(tn.s, tn.sync, c, 1, NULL, NULL, &tn.err), MS_ETOOBIG);
    tn.has[3] = false;
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 0);
}

/* ---- many runs ---- */

#define TM_RUNS 2100
#define TM_PER 300

/* Key i of the many-runs test: spread bytes, then i itself so that a scan can tell it. */
static void
tm_key(uint8_t key[16], uint32_t i)
{
    uint64_t a = (i + 1) * 0x9E3779B97F4A7C15ull;

    a ^= a >> 29;
    a *= 0xBF58476D1CE4E5B9ull;
    memset(key, 0, 16);
    memcpy(key, &a, 8);
    for (int b = 0; b < 4; b++)
        key[12 + b] = (uint8_t)(i >> (24 - 8 * b));
}

struct tm_scan {
    const uint8_t *ver; /* per key: 0 gone, else the version of its row */
    size_t n;
    uint8_t last[16];
    bool bad;
};

static enum ms_status
tm_scan_fn(void *ud, const uint8_t key[16], const uint8_t row[16])
{
    struct tm_scan *sc = ud;
    uint32_t i =
        (uint32_t)key[12] << 24 | (uint32_t)key[13] << 16 | (uint32_t)key[14] << 8 | key[15];

    if ((sc->n > 0 && memcmp(sc->last, key, 16) >= 0) || i >= TM_RUNS * TM_PER || sc->ver[i] == 0 ||
        row[0] != sc->ver[i])
        sc->bad = true;
    memcpy(sc->last, key, 16);
    sc->n++;
    return MS_OK;
}

/* The ids of the sync's runs, oldest first (through the test's own connection). */
static int64_t *
tm_run_ids(size_t *n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int64_t *ids = ms_arena_alloc(tn.a, (TM_RUNS + 1) * sizeof(*ids));

    *n = 0;
    cr_assert_eq(sqlite3_open(tn.path, &db), SQLITE_OK);
    cr_assert_eq(
        sqlite3_prepare_v2(db, "SELECT id FROM snapshot_deltas ORDER BY id", -1, &stmt, NULL),
        SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW && *n <= TM_RUNS)
        ids[(*n)++] = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return ids;
}

/* Walk a merge of the runs to its end: the keys come in order, each once. */
static size_t
tm_merge_walk(const int64_t *ids, size_t nids, size_t *mem, int64_t *sqlite_mem)
{
    struct store_sqlite *s = (struct store_sqlite *)tn.s;
    struct snap_runs *m = NULL;
    const struct snap_ent *e;
    uint8_t last[16];
    size_t n = 0;

    cr_assert_eq(ms_store_tx_begin(tn.s, &tn.err), MS_OK);
    *sqlite_mem = sqlite3_memory_used();
    cr_assert_eq(ms_store_sq_runs_open(s, tn.sync, ids, nids, true, NULL, &m, &tn.err), MS_OK, "%s",
                 tn.err.msg);
    *sqlite_mem = sqlite3_memory_used() - *sqlite_mem; /* the blob handles and their pages */
    *mem = ms_store_sq_runs_mem(m);
    while ((e = ms_store_sq_runs_cur(m, NULL, NULL)) != NULL) {
        cr_assert(n == 0 || memcmp(last, e->key, 16) < 0, "merge out of order at %zu", n);
        memcpy(last, e->key, 16);
        n++;
        cr_assert_eq(ms_store_sq_runs_next(m, &tn.err), MS_OK, "%s", tn.err.msg);
    }
    ms_store_sq_runs_free(m);
    ms_store_tx_rollback(tn.s);
    return n;
}

/* 2,100 runs of 300 changes (630k keys) merged with windows, far less than the runs. */
Test(store_snap, thousands_of_runs_fold_in_bounded_memory, .timeout = 600)
{
    struct ms_snap_change *c = ms_arena_zalloc(tn.a, TM_PER * sizeof(*c));
    uint8_t *ver = ms_arena_zalloc(tn.a, TM_RUNS * TM_PER);
    uint8_t *seen = ms_arena_zalloc(tn.a, TM_RUNS * TM_PER);
    int64_t *ids, n = -1, live = 0, distinct = 0, bytes, sqlite_mem = 0;
    size_t nids = 0, mem = 0;
    struct tm_scan sc = {.ver = ver};

    for (uint32_t r = 0; r < TM_RUNS; r++) {
        for (uint32_t j = 0; j < TM_PER; j++) {
            /* mostly new keys; every 7th run rewrites or deletes keys of earlier runs */
            uint32_t i = r % 7 == 6 ? (r * 131u + j * 977u) % (r * TM_PER) : r * TM_PER + j;

            memset(&c[j], 0, sizeof(c[j]));
            tm_key(c[j].key, i);
            c[j].del = r % 7 == 6 && j % 3 == 0;
            c[j].row[0] = (uint8_t)(1 + r % 250);
            c[j].key_text = "text";
            c[j].key_len = 4;
            ver[i] = c[j].del ? 0 : c[j].row[0];
            seen[i] = 1;
        }
        tn_apply(c, TM_PER);
    }
    for (size_t i = 0; i < (size_t)TM_RUNS * TM_PER; i++) {
        live += ver[i] != 0;
        distinct += seen[i];
    }
    bytes = tn_raw_count("SELECT sum(length(body)) FROM snapshot_deltas");
    ids = tm_run_ids(&nids);
    cr_assert_eq(nids, TM_RUNS);
    /* the merge yields each key of the runs once, deleted or not */
    cr_expect_eq((int64_t)tm_merge_walk(ids, nids, &mem, &sqlite_mem), distinct);
    cr_log_info("snapshot: %d runs, %lld bytes of runs, merge holds %zu bytes, SQLite %lld more",
                TM_RUNS, (long long)bytes, mem, (long long)sqlite_mem);
    cr_expect_lt(sqlite_mem, (int64_t)TM_RUNS * 8192, "SQLite memory %lld", (long long)sqlite_mem);
    cr_expect_lt(mem, (size_t)10 << 20, "merge memory %zu", mem);
    cr_expect_lt((int64_t)mem * 2, bytes, "merge memory %zu of %lld", mem, (long long)bytes);
    cr_assert_eq(ms_store_snap_count(tn.s, tn.sync, &n, &tn.err), MS_OK, "%s", tn.err.msg);
    cr_expect_eq(n, live);
    tn_compact(tn.sync);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 0);
    cr_assert_eq(ms_store_snap_count(tn.s, tn.sync, &n, &tn.err), MS_OK, "%s", tn.err.msg);
    cr_expect_eq(n, live);
    cr_assert_eq(ms_store_snap_load(tn.s, tn.sync, tm_scan_fn, &sc, &tn.err), MS_OK, "%s",
                 tn.err.msg);
    cr_expect(!sc.bad && (int64_t)sc.n == live, "loaded %zu of %lld", sc.n, (long long)live);
}

/* ---- damaged blobs ---- */

/* The body of row id of table, read on the test's own connection into the arena. */
static uint8_t *
tn_body_get(const char *table, int64_t id, size_t *len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char *sql = ms_arena_printf(tn.a, "SELECT body FROM %s WHERE id = %lld", table, (long long)id);
    uint8_t *p;

    cr_assert_eq(sqlite3_open(tn.path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW);
    *len = (size_t)sqlite3_column_bytes(stmt, 0);
    p = ms_arena_alloc(tn.a, *len + 1);
    memcpy(p, sqlite3_column_blob(stmt, 0), *len);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return p;
}

static void
tn_body_set(const char *table, int64_t id, const uint8_t *p, size_t len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char *sql =
        ms_arena_printf(tn.a, "UPDATE %s SET body = ? WHERE id = %lld", table, (long long)id);

    cr_assert_eq(sqlite3_open(tn.path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_bind_blob(stmt, 1, p, (int)len, SQLITE_TRANSIENT);
    cr_assert_eq(sqlite3_step(stmt), SQLITE_DONE, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

/* One way to damage a blob, in place; *len may shrink. */
static void
tn_damage(uint8_t *p, size_t *len, int how)
{
    uint8_t tmp[16];

    switch (how) {
    case 0: /* an unknown version */
        p[0] = 2;
        break;
    case 1: /* one byte short */
        (*len)--;
        break;
    case 2: /* more entries than there are */
        p[4]++;
        break;
    case 3: /* the first two keys swapped */
        memcpy(tmp, p + 16, 16);
        memcpy(p + 16, p + 16 + 36, 16);
        memcpy(p + 16 + 36, tmp, 16);
        break;
    case 4: /* a text offset past the text area */
        p[16 + 36 + 32] = 0xff;
        p[16 + 36 + 33] = 0xff;
        p[16 + 36 + 35] = 0x00;
        break;
    case 5: /* a text area longer than the texts: the length grows with the blob */
        p[8]++;
        p[*len] = 'x';
        (*len)++;
        break;
    case 6: /* a delete flag with a text */
        p[16 + 35] |= 0x80;
        break;
    default: /* sound inside, but its last key reaches into the next chunk */
        memset(p + 16 + (size_t)(p[4] - 1) * 36, 0xff, 16);
        break;
    }
}

/* The status of a key-text lookup of key k, which must not crash whatever it finds. */
static enum ms_status
tn_text_status(unsigned k)
{
    uint8_t key[16];
    const char *text = NULL;
    size_t len = 0;

    tn_key(key, k);
    return ms_store_snap_key_texts(tn.s, tn.a, tn.sync, key, 1, &text, &len, &tn.err);
}

/* Every reader and the fold on a damaged chunk, then on a damaged run: errors naming the sync. */
Test(store_snap, a_damaged_blob_is_an_error_not_a_crash)
{
    struct ms_snap_change c[300];
    int64_t chunk, run, n = 0;

    ms_store_sq_snap_chunk_max = 8;
    for (unsigned k = 0; k < 300; k++)
        tn_put(&c[k], k, 1, "text");
    tn_apply(c, 300);
    tn_compact(tn.sync);
    for (unsigned k = 0; k < 300; k++)
        tn_put(&c[k], k, 2, "text2");
    tn_apply(c, 300); /* a run touching every chunk */
    chunk = tn_raw_count("SELECT id FROM snapshot_chunks ORDER BY first_key LIMIT 1 OFFSET 10");
    run = tn_raw_count("SELECT id FROM snapshot_deltas");
    for (int t = 0; t < 2; t++) {
        const char *table = t == 0 ? "snapshot_chunks" : "snapshot_deltas";
        int64_t id = t == 0 ? chunk : run;

        for (int how = 0; how < (t == 0 ? 8 : 7); how++) {
            size_t len = 0, dlen;
            uint8_t *orig = tn_body_get(table, id, &len), *bad = ms_arena_alloc(tn.a, len + 2);
            struct tn_scan sc;
            enum ms_status st;

            memcpy(bad, orig, len);
            dlen = len;
            tn_damage(bad, &dlen, how);
            tn_body_set(table, id, bad, dlen);
            memset(&sc, 0, sizeof(sc));
            st = ms_store_snap_load(tn.s, tn.sync, tn_scan_fn, &sc, &tn.err);
            cr_expect_eq(st, MS_EINTERNAL, "%s damage %d: load %s", table, how, ms_status_name(st));
            cr_expect(strstr(tn.err.msg, tn.sync) != NULL, "%s", tn.err.msg);
            cr_expect_eq(ms_store_snap_count(tn.s, tn.sync, &n, &tn.err), MS_EINTERNAL,
                         "%s damage %d: count", table, how);
            cr_expect_eq(ms_store_snap_compact(tn.s, tn.sync, &tn.err), MS_EINTERNAL,
                         "%s damage %d: compact", table, how);
            for (unsigned k = 0; k < 300; k++) {
                st = tn_text_status(k);
                cr_expect(st == MS_OK || st == MS_ENOTFOUND || st == MS_EINTERNAL, "%s",
                          tn.err.msg);
            }
            tn_body_set(table, id, orig, len);
        }
    }
    tn_check("repaired");
    tn_compact(tn.sync);
    tn_check("folded after the repair");
}

/* A reader of an in-memory blob that fails the test on any read outside it. */
struct tn_mem {
    const uint8_t *p;
    size_t len;
};

static enum ms_status
tn_mem_read(void *ud, void *dst, size_t n, size_t off, struct ms_error *err)
{
    const struct tn_mem *m = ud;

    (void)err;
    cr_assert(off <= m->len && n <= m->len - off, "read of %zu at %zu in %zu", n, off, m->len);
    memcpy(dst, m->p + off, n);
    return MS_OK;
}

/* The decoders on random damage of a valid blob: never a read outside it (ASan and tn_mem). */
Test(store_snap, decoders_stay_inside_damaged_blobs)
{
    struct snapblob_builder b;
    const uint8_t *blob;
    size_t len = 0;
    uint8_t *copy;
    unsigned seed = 99;

    ms_store_snapblob_init(&b);
    for (unsigned k = 0; k < 64; k++) {
        uint8_t key[16] = {0}, row[16] = {0};

        key[0] = (uint8_t)(k * 4);
        ms_store_snapblob_add(&b, key, row, k % 5 == 0, k % 7 == 0 ? NULL : "some text", 9);
    }
    blob = ms_store_snapblob_finish(&b, &len);
    cr_assert_null(ms_store_snapblob_check(blob, len, true));
    cr_assert_not_null(ms_store_snapblob_check(blob, len, false), "deletes in a chunk");
    copy = ms_arena_alloc(tn.a, len);
    for (unsigned iter = 0; iter < 20000; iter++) {
        size_t clen = len - (iter % 3 == 0 ? (unsigned)rand_r(&seed) % len : 0);
        struct tn_mem m = {copy, clen};
        struct snapblob_src src = {tn_mem_read, &m, clen};
        uint8_t key[16] = {0};
        struct snap_ent e;
        size_t off = 0, tlen = 0;
        bool found = false;
        const char *why;

        memcpy(copy, blob, len);
        for (unsigned f = 1 + (unsigned)rand_r(&seed) % 4; f > 0; f--)
            copy[(unsigned)rand_r(&seed) % clen] ^= (uint8_t)(1u << rand_r(&seed) % 8);
        why = ms_store_snapblob_check(copy, clen, true);
        key[0] = (uint8_t)rand_r(&seed);
        if (ms_store_snapblob_find(&src, "fuzz", key, &found, &e, &off, &tlen, &tn.err) == MS_OK &&
            found)
            cr_assert(off <= clen && tlen <= clen - off, "text at %zu+%zu in %zu", off, tlen, clen);
        (void)why;
    }
    ms_store_snapblob_release(&b);
}

/* ---- a fold that does not commit ---- */

Test(store_snap, a_rolled_back_fold_leaves_the_snapshot_as_it_was)
{
    struct ms_snap_change c[200];
    unsigned seed = 17;
    int64_t chunks;

    ms_store_sq_snap_chunk_max = 8;
    for (unsigned b = 1; b <= 4; b++)
        tn_apply(c, tn_random_batch(c, 200, &seed, b));
    tn_compact(tn.sync);
    chunks = tn_raw_count("SELECT count(*) FROM snapshot_chunks");
    for (unsigned b = 5; b <= 7; b++)
        tn_apply(c, tn_random_batch(c, 200, &seed, b));
    tn_check("before");
    cr_assert_eq(ms_store_tx_begin(tn.s, &tn.err), MS_OK);
    tn_compact(tn.sync);
    tn_check("folded, not committed");
    ms_store_tx_rollback(tn.s);
    tn_check("rolled back");
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 3);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_chunks"), chunks);
    tn_compact(tn.sync);
    tn_check("folded");
}

/* ---- the upgrade from migration 0003's tables ---- */

/*
 * Replace the test's store with one at migration 0006 whose sync "y" has a snapshot in 0003's
 * tables (folded rows plus two runs not folded, with deletes and a key put back) and whose sync
 * "z" has an empty snapshot_syncs row; the model follows "y". Then open it, which migrates.
 */
static void
tn_old_store(void)
{
    sqlite3 *db;
    char *msg = NULL;

    ms_store_close(tn.s);
    tn_unlink_db(tn.path);
    db = tn_old_db(tn.path, 6);
    cr_assert_eq(sqlite3_exec(db,
                              "INSERT INTO snapshot_syncs (id, sync_id) VALUES (1, 'y'), (2, 'z');"
                              "INSERT INTO snapshot_runs (id, snap, dels) VALUES (1, 1, 10), "
                              "(2, 1, 0);",
                              NULL, NULL, &msg),
                 SQLITE_OK, "%s", msg);
    memset(tn.has, 0, sizeof(tn.has));
    for (unsigned k = 0; k < 300; k++) {
        char text[24];

        snprintf(text, sizeof(text), "old%u", k);
        tn_old_exec(db, "INSERT INTO snapshot_rows VALUES (1, ?1, ?2, ?3)", k, 1,
                    k % 11 == 0 ? NULL : text);
        tn.has[k] = true;
        tn.ver[k] = 1;
        tn.notext[k] = k % 11 == 0;
        snprintf(tn.text[k], sizeof(tn.text[k]), "%s", text);
    }
    for (unsigned k = 0; k < 60; k++) { /* run 1: 0-49 changed, 50-59 deleted */
        bool del = k >= 50;

        tn_old_exec(db,
                    del ? "INSERT INTO snapshot_log VALUES (1, ?1, NULL, NULL, 1)"
                        : "INSERT INTO snapshot_log VALUES (1, ?1, ?2, ?3, 0)",
                    k, 2, "v2");
        tn.has[k] = !del;
        tn.ver[k] = 2;
        tn.notext[k] = false;
        snprintf(tn.text[k], sizeof(tn.text[k]), "v2");
    }
    for (unsigned k = 55; k < 320; k += 5) { /* run 2: 55 put back, 300-315 new */
        if (k >= 60 && k < 300)
            continue;
        tn_old_exec(db, "INSERT INTO snapshot_log VALUES (2, ?1, ?2, ?3, 0)", k, 3, "v3");
        tn.has[k] = true;
        tn.ver[k] = 3;
        tn.notext[k] = false;
        snprintf(tn.text[k], sizeof(tn.text[k]), "v3");
    }
    sqlite3_close(db);
    tn_open();
    tn.sync = "y";
    tn.sync2 = "z";
}

static void
tn_expect_upgraded(void)
{
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_rows"), 0);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_runs"), 0);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_log"), 0);
    cr_expect_eq(tn_raw_count("SELECT format FROM snapshot_syncs WHERE sync_id = 'y'"), 1);
}

Test(store_snap, a_0003_snapshot_is_converted_by_its_first_reader)
{
    int64_t n = -1;

    ms_store_sq_snap_chunk_max = 16;
    tn_old_store();
    /* 0007 marks the empty snapshot as converted and leaves the other for the first reader */
    cr_expect_eq(tn_raw_count("SELECT format FROM snapshot_syncs WHERE sync_id = 'z'"), 1);
    cr_expect_eq(tn_raw_count("SELECT format FROM snapshot_syncs WHERE sync_id = 'y'"), 0);
    cr_assert_eq(ms_store_snap_count(tn.s, "z", &n, &tn.err), MS_OK, "%s", tn.err.msg);
    cr_expect_eq(n, 0);
    tn_check("converted");
    tn_expect_upgraded();
    cr_expect_eq(tn_raw_count("SELECT folded FROM snapshot_syncs WHERE sync_id = 'y'"),
                 tn_model_count());
    cr_expect_gt(tn_raw_count("SELECT count(*) FROM snapshot_chunks"), 10);
    tn_compact(tn.sync);
    tn_check("folded after the conversion");
}

Test(store_snap, a_0003_snapshot_is_converted_by_an_apply_or_a_fold)
{
    struct ms_snap_change c[3];

    tn_old_store();
    tn_put(&c[0], 1, 9, "new");
    tn_del(&c[1], 2);
    tn_put(&c[2], 52, 9, "back");
    tn_apply(c, 3);
    tn_expect_upgraded();
    tn_check("converted by an apply");
    tn_teardown();
    tn_setup();
    tn_old_store();
    tn_compact(tn.sync);
    tn_expect_upgraded();
    tn_check("converted by a fold");
    /* a conversion rolled back by the caller leaves 0003's tables as they were */
    tn_teardown();
    tn_setup();
    tn_old_store();
    c[0].key_text = "rolled back"; /* the text tn_put copied went with the old arena */
    c[0].key_len = 11;
    cr_assert_eq(ms_store_tx_begin(tn.s, &tn.err), MS_OK);
    tn_apply(c, 1);
    ms_store_tx_rollback(tn.s);
    cr_expect_eq(tn_raw_count("SELECT format FROM snapshot_syncs WHERE sync_id = 'y'"), 0);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_runs"), 2);
    tn_check("rolled back, then converted by a reader");
}

/* An apply larger than a run's cap is written as several runs, which read as one. */
Test(store_snap, a_large_apply_is_split_into_runs)
{
    struct ms_snap_change c[500];
    unsigned seed = 5;

    ms_store_sq_snap_run_bytes = 4096;
    ms_store_sq_snap_chunk_max = 32;
    tn_apply(c, tn_random_batch(c, 500, &seed, 1));
    cr_expect_gt(tn_raw_count("SELECT count(*) FROM snapshot_deltas"), 3);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_deltas WHERE length(body) > 4096 + "
                              "36 + 24"),
                 0);
    tn_check("split");
    tn_apply(c, tn_random_batch(c, 500, &seed, 2));
    tn_check("split twice");
    tn_compact(tn.sync);
    tn_check("split, folded");
}

/* A 0003 row whose hash is not 16 bytes stops the conversion: nothing changes. */
Test(store_snap, a_damaged_0003_row_stops_the_conversion)
{
    sqlite3 *db = NULL;
    struct tn_scan sc;
    int64_t n = -1;

    tn_old_store();
    cr_assert_eq(sqlite3_open(tn.path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "UPDATE snapshot_rows SET key_hash = X'0102' WHERE key_hash = "
                              "(SELECT key_hash FROM snapshot_rows LIMIT 1 OFFSET 100)",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    memset(&sc, 0, sizeof(sc));
    cr_expect_eq(ms_store_snap_load(tn.s, tn.sync, tn_scan_fn, &sc, &tn.err), MS_EINTERNAL);
    cr_expect(strstr(tn.err.msg, "sync y") != NULL, "%s", tn.err.msg);
    cr_expect_eq(ms_store_snap_count(tn.s, tn.sync, &n, &tn.err), MS_EINTERNAL);
    cr_expect_eq(tn_raw_count("SELECT format FROM snapshot_syncs WHERE sync_id = 'y'"), 0);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_runs"), 2);
    cr_expect_eq(tn_raw_count("SELECT count(*) FROM snapshot_chunks"), 0);
}
