/*
 * store_sqlite_sync.c: syncs in the SQLite store. A sync's model_ids (a JSON uuid[]) are also
 * kept row by row in sync_models, replaced in the same transaction as every insert or update, so
 * "which syncs read this model" is an index lookup. sync_list is keyset-paginated on
 * (updated_at DESC, id DESC) over the syncs_list index: each page is one index range starting
 * after the cursor, whatever its depth. Every write of a row also renders the sync's two API
 * documents from the row just written (SyncResponse and ListSyncItem, migration 0004) and stores
 * them in the same transaction, so sync_get_doc and sync_list_docs read text, never the JSON
 * configuration; rows written before 0004 are rendered when read. Same thread rules as
 * store_sqlite.c.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#define SYNC_COLS                                                                                  \
    "id, organization_id, name, active, mode, target_connection_id, target_object, "               \
    "configuration, model_ids, created_at, updated_at, created_by, updated_by"

/* The sync's documents as compact JSON text (arena). */
struct sync_docs {
    const char *resp; /* SyncResponse */
    size_t resp_len;
    const char *item; /* ListSyncItem */
    size_t item_len;
};

static enum ms_status sync_docs_refresh(struct store_sqlite *s, const char *org_id, const char *id,
                                        struct ms_error *err);

/* Replace the sync_models rows of sync_id with the strings of model_ids (NULL: none). */
static enum ms_status
sync_models_set(struct store_sqlite *s, const char *sync_id, const json_t *model_ids,
                struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    size_t i;
    json_t *v;
    enum ms_status st = ms_store_sq_stmt(s, SQ_SYNC_MODELS_CLEAR,
                                         "DELETE FROM sync_models WHERE sync_id = ?", &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, sync_id);
    st = ms_store_sq_run(s, &b, "sync models", err);
    if (st != MS_OK || model_ids == NULL)
        return st;
    if (!json_is_array(model_ids))
        return ms_fail_at(err, MS_EINVAL, "model_ids", "not an array");
    json_array_foreach(model_ids, i, v)
    {
        if (!json_is_string(v))
            return ms_fail_at(err, MS_EINVAL, "model_ids", "item %zu is not a string", i);
        st = ms_store_sq_stmt(s, SQ_SYNC_MODELS_ADD,
                              "INSERT OR IGNORE INTO sync_models (sync_id, model_id) VALUES (?, ?)",
                              &stmt, err);
        if (st != MS_OK)
            return st;
        ms_store_sq_bind_init(&b, stmt);
        ms_store_sq_text(&b, sync_id);
        ms_store_sq_text(&b, json_string_value(v));
        st = ms_store_sq_run(s, &b, "sync models", err);
        if (st != MS_OK)
            return st;
    }
    return MS_OK;
}

/* Bind the columns an update writes, after ?1 organization_id and ?2 id. */
static void
sync_bind_mutable(struct sq_bind *b, const struct ms_sync *y)
{
    ms_store_sq_text(b, y->name);
    ms_store_sq_i64(b, y->active ? 1 : 0);
    ms_store_sq_text(b, y->mode);
    ms_store_sq_text(b, y->target_connection_id);
    ms_store_sq_text(b, y->target_object);
    ms_store_sq_json(b, y->config);
    ms_store_sq_json(b, y->model_ids);
    ms_store_sq_i64(b, y->updated_at);
    ms_store_sq_actor(b, &y->updated_by);
}

static enum ms_status
sync_write_row(struct store_sqlite *s, const struct ms_sync *y, bool insert, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st =
        insert ? ms_store_sq_stmt(s, SQ_SYNC_INSERT,
                                  "INSERT INTO syncs (organization_id, id, name, active, mode, "
                                  "target_connection_id, target_object, configuration, model_ids, "
                                  "updated_at, updated_by, created_at, created_by) VALUES "
                                  "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                  &stmt, err)
               : ms_store_sq_stmt(s, SQ_SYNC_UPDATE,
                                  "UPDATE syncs SET name = ?3, active = ?4, mode = ?5, "
                                  "target_connection_id = ?6, target_object = ?7, "
                                  "configuration = ?8, model_ids = ?9, updated_at = ?10, "
                                  "updated_by = ?11 WHERE organization_id = ?1 AND id = ?2",
                                  &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, y->org_id);
    ms_store_sq_text(&b, y->id);
    sync_bind_mutable(&b, y);
    if (insert) {
        ms_store_sq_i64(&b, y->created_at);
        ms_store_sq_actor(&b, &y->created_by);
    }
    st = ms_store_sq_run(s, &b, insert ? "sync insert" : "sync update", err);
    if (st == MS_OK && !insert && ms_store_sq_changes(s) == 0)
        st = ms_fail(err, MS_ENOTFOUND, "no sync with id %s", y->id);
    return st;
}

/* The row and its sync_models in one transaction (nested in the caller's, if any). */
static enum ms_status
sync_write(struct ms_store *base, const struct ms_sync *y, bool insert, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    enum ms_status st = ms_store_sq_begin(s, err);

    if (st != MS_OK)
        return st;
    st = sync_write_row(s, y, insert, err);
    if (st == MS_OK)
        st = sync_models_set(s, y->id, y->model_ids, err);
    if (st == MS_OK)
        st = sync_docs_refresh(s, y->org_id, y->id, err);
    if (st == MS_OK)
        return ms_store_sq_commit(s, err);
    ms_store_sq_rollback(s);
    return st;
}

enum ms_status
ms_store_sq_sync_insert(struct ms_store *base, const struct ms_sync *y, struct ms_error *err)
{
    return sync_write(base, y, true, err);
}

enum ms_status
ms_store_sq_sync_update(struct ms_store *base, const struct ms_sync *y, struct ms_error *err)
{
    return sync_write(base, y, false, err);
}

static enum ms_status
sync_row(sqlite3_stmt *stmt, struct ms_arena *a, struct ms_sync *out, struct ms_error *err)
{
    enum ms_status st;

    out->id = ms_store_sq_col_text(stmt, 0, a);
    out->org_id = ms_store_sq_col_text(stmt, 1, a);
    out->name = ms_store_sq_col_text(stmt, 2, a);
    out->active = ms_store_sq_col_i64(stmt, 3) != 0;
    out->mode = ms_store_sq_col_text(stmt, 4, a);
    out->target_connection_id = ms_store_sq_col_text(stmt, 5, a);
    out->target_object = ms_store_sq_col_text(stmt, 6, a);
    out->created_at = ms_store_sq_col_i64(stmt, 9);
    out->updated_at = ms_store_sq_col_i64(stmt, 10);
    st = ms_store_sq_col_json(stmt, 7, a, &out->config, err);
    if (st == MS_OK)
        st = ms_store_sq_col_json(stmt, 8, a, &out->model_ids, err);
    if (st == MS_OK)
        st = ms_store_sq_col_actor(stmt, 11, a, &out->created_by, err);
    if (st == MS_OK)
        st = ms_store_sq_col_actor(stmt, 12, a, &out->updated_by, err);
    return st;
}

/* The SYNC_COLS row of (org_id, id) ready in *out (hand it back with ms_store_sq_done()). */
static enum ms_status
sync_select(struct store_sqlite *s, const char *org_id, const char *id, sqlite3_stmt **out,
            struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_SYNC_GET, "SELECT " SYNC_COLS " FROM syncs WHERE organization_id = ? AND id = ?",
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, id);
    st = ms_store_sq_step(s, &b, "sync get", &row, err);
    if (st == MS_OK && !row)
        st = ms_fail(err, MS_ENOTFOUND, "no sync with id %s", id);
    if (st != MS_OK) {
        ms_store_sq_done(stmt);
        return st;
    }
    *out = stmt;
    return MS_OK;
}

enum ms_status
ms_store_sq_sync_get(struct ms_store *base, struct ms_arena *a, const char *org_id, const char *id,
                     struct ms_sync *out, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct ms_sync y;
    enum ms_status st = sync_select(s, org_id, id, &stmt, err);

    if (st != MS_OK)
        return st;
    st = sync_row(stmt, a, &y, err);
    ms_store_sq_done(stmt);
    if (st == MS_OK)
        *out = y;
    return st;
}

/* ---- documents ---- */

/* j (a new reference, consumed) as the compact JSON text reply.c would send, kept in a. */
static enum ms_status
sync_dump(struct ms_arena *a, json_t *j, const char **out, size_t *len, struct ms_error *err)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

    json_decref(j);
    if (text == NULL)
        return ms_fail(err, MS_EINTERNAL, "a stored sync cannot be encoded as JSON");
    ms_arena_defer(a, free, text);
    *out = text;
    *len = strlen(text);
    return MS_OK;
}

/* The documents of the sync whose SYNC_COLS row stmt is on, as sync_get reads it. */
static enum ms_status
sync_docs_render(sqlite3_stmt *stmt, struct ms_arena *a, struct sync_docs *d, struct ms_error *err)
{
    struct ms_sync y;
    enum ms_status st = sync_row(stmt, a, &y, err);

    if (st == MS_OK)
        st = sync_dump(a, ms_sync_to_json(&y), &d->resp, &d->resp_len, err);
    if (st == MS_OK)
        st = sync_dump(a, ms_sync_list_item(&y), &d->item, &d->item_len, err);
    return st;
}

/* The documents of (org_id, id) rendered from its row as stored now. */
static enum ms_status
sync_docs_read(struct store_sqlite *s, struct ms_arena *a, const char *org_id, const char *id,
               struct sync_docs *d, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    enum ms_status st = sync_select(s, org_id, id, &stmt, err);

    if (st != MS_OK)
        return st;
    st = sync_docs_render(stmt, a, d, err);
    ms_store_sq_done(stmt);
    return st;
}

static enum ms_status
sync_docs_put(struct store_sqlite *s, const char *org_id, const char *id, const struct sync_docs *d,
              struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(s, SQ_SYNC_DOCS_SET,
                                         "UPDATE syncs SET response = ?3, list_item = ?4 "
                                         "WHERE organization_id = ?1 AND id = ?2",
                                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, id);
    ms_store_sq_text(&b, d->resp);
    ms_store_sq_text(&b, d->item);
    return ms_store_sq_run(s, &b, "sync documents", err);
}

/*
 * Inside the caller's write transaction, after the row changed: render the sync's documents
 * from the row as written and store them. Rendering from the stored row rather than from the
 * caller's struct makes them exactly what sync_get followed by ms_sync_to_json() would give.
 */
static enum ms_status
sync_docs_refresh(struct store_sqlite *s, const char *org_id, const char *id, struct ms_error *err)
{
    struct ms_arena *a = ms_arena_new();
    struct sync_docs d;
    enum ms_status st = sync_docs_read(s, a, org_id, id, &d, err);

    if (st == MS_OK)
        st = sync_docs_put(s, org_id, id, &d, err);
    ms_arena_free(a);
    return st;
}

/*
 * Store the documents of the syncs ids[0..n) (rows written before migration 0004, just
 * rendered by a read), each rendered again inside one write transaction so that a concurrent
 * change is never overwritten with stale text. Only outside the caller's transaction (a read
 * must not doom it), and best effort: on any failure the rows keep NULL and the next read
 * renders them again.
 */
static void
sync_docs_backfill(struct store_sqlite *s, const char *org_id, const char *const *ids, size_t n)
{
    struct ms_error ignored;
    enum ms_status st = MS_OK;

    if (n == 0 || s->tx_depth > 0 || ms_store_sq_begin(s, &ignored) != MS_OK)
        return;
    for (size_t i = 0; i < n && st == MS_OK; i++) {
        st = sync_docs_refresh(s, org_id, ids[i], &ignored);
        if (st == MS_ENOTFOUND) /* deleted since: nothing to store */
            st = MS_OK;
    }
    if (st == MS_OK)
        (void)ms_store_sq_commit(s, &ignored);
    else
        ms_store_sq_rollback(s);
}

/* The text column col of the current row into doc (arena); false when it is NULL. */
static bool
sync_doc_col(sqlite3_stmt *stmt, int col, struct ms_arena *a, struct ms_sync_doc *doc)
{
    doc->json = ms_store_sq_col_text(stmt, col, a);
    doc->len = doc->json != NULL ? (size_t)sqlite3_column_bytes(stmt, col) : 0;
    return doc->json != NULL;
}

enum ms_status
ms_store_sq_sync_get_doc(struct ms_store *base, struct ms_arena *a, const char *org_id,
                         const char *id, struct ms_sync_doc *out, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct ms_sync_doc doc;
    struct sync_docs d;
    struct sq_bind b;
    bool row = false, have = false;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_SYNC_DOC_GET,
        "SELECT id, updated_at, response FROM syncs WHERE organization_id = ? AND id = ?", &stmt,
        err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, id);
    st = ms_store_sq_step(s, &b, "sync get document", &row, err);
    if (st == MS_OK && !row)
        st = ms_fail(err, MS_ENOTFOUND, "no sync with id %s", id);
    if (st == MS_OK) {
        doc.id = ms_store_sq_col_text(stmt, 0, a);
        doc.updated_at = ms_store_sq_col_i64(stmt, 1);
        have = sync_doc_col(stmt, 2, a, &doc);
    }
    ms_store_sq_done(stmt);
    if (st == MS_OK && !have) {
        st = sync_docs_read(s, a, org_id, id, &d, err);
        if (st == MS_OK) {
            doc.json = d.resp;
            doc.len = d.resp_len;
            sync_docs_backfill(s, org_id, &doc.id, 1);
        }
    }
    if (st == MS_OK)
        *out = doc;
    return st;
}

/*
 * The statement selecting cols through index with the optional terms in mask. Parameters have
 * fixed numbers whichever terms are present (?1 org, ?2 active, ?3 mode, ?4 target, ?5 ?6
 * cursor, ?7 limit), so one binding sequence serves all 16 variants. The cursor is a row-value
 * comparison, which SQLite turns into the start of the index range; (updated_at < ? OR
 * (updated_at = ? AND id < ?)) means the same but only bounds updated_at. The index is named:
 * syncs_list and syncs_docs start alike, and each query must keep to its own.
 */
static const char *
sync_list_sql(const char *cols, const char *index, unsigned mask, char *buf, size_t cap)
{
    int n = snprintf(buf, cap,
                     "SELECT %s FROM syncs INDEXED BY %s WHERE organization_id = ?1%s%s%s%s "
                     "ORDER BY updated_at DESC, id DESC LIMIT ?7",
                     cols, index, (mask & SQ_LIST_ACTIVE) != 0 ? " AND active = ?2" : "",
                     (mask & SQ_LIST_MODE) != 0 ? " AND mode = ?3" : "",
                     (mask & SQ_LIST_TARGET) != 0 ? " AND target_connection_id = ?4" : "",
                     (mask & SQ_LIST_CURSOR) != 0 ? " AND (updated_at, id) < (?5, ?6)" : "");

    MS_ASSERT(n > 0 && (size_t)n < cap);
    return buf;
}

MS_STATIC const char *
ms_store_sq_sync_list_sql(unsigned mask, char *buf, size_t cap)
{
    return sync_list_sql(SYNC_COLS, "syncs_list", mask, buf, cap);
}

/* Only what a page of documents needs: the keyset position and the stored item, all in the
 * covering index syncs_docs (migration 0006). */
MS_STATIC const char *
ms_store_sq_sync_list_docs_sql(unsigned mask, char *buf, size_t cap)
{
    return sync_list_sql("id, updated_at, list_item", "syncs_docs", mask, buf, cap);
}

static unsigned
sync_list_mask(const struct ms_sync_filter *f, const struct ms_sync_cursor *cur)
{
    unsigned mask = 0;

    if (f != NULL && f->active >= 0)
        mask |= SQ_LIST_ACTIVE;
    if (f != NULL && f->mode != NULL)
        mask |= SQ_LIST_MODE;
    if (f != NULL && f->target_connection_id != NULL)
        mask |= SQ_LIST_TARGET;
    if (cur != NULL && cur->set)
        mask |= SQ_LIST_CURSOR;
    return mask;
}

static void
sync_list_bind(struct sq_bind *b, const char *org_id, const struct ms_sync_filter *f,
               const struct ms_sync_cursor *cur, unsigned mask, size_t limit)
{
    ms_store_sq_text(b, org_id);
    ms_store_sq_i64(b, (mask & SQ_LIST_ACTIVE) != 0 ? f->active != 0 : 0);
    ms_store_sq_text(b, (mask & SQ_LIST_MODE) != 0 ? f->mode : NULL);
    ms_store_sq_text(b, (mask & SQ_LIST_TARGET) != 0 ? f->target_connection_id : NULL);
    ms_store_sq_i64(b, (mask & SQ_LIST_CURSOR) != 0 ? cur->updated_at : 0);
    ms_store_sq_text(b, (mask & SQ_LIST_CURSOR) != 0 ? cur->id : NULL);
    ms_store_sq_i64(b, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
}

enum ms_status
ms_store_sq_sync_list(struct ms_store *base, struct ms_arena *a, const char *org_id,
                      const struct ms_sync_filter *f, const struct ms_sync_cursor *cur,
                      size_t limit, struct ms_sync **out, size_t *n, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    unsigned mask = sync_list_mask(f, cur);
    sqlite3_stmt *stmt = NULL;
    struct ms_sync *arr = NULL;
    size_t cnt = 0, cap = 0;
    enum sq_stmt_id id = (enum sq_stmt_id)(SQ_SYNC_LIST + mask);
    char sql[1024];
    struct sq_bind b;
    bool row = false;
    enum ms_status st; /* the SQL text is only needed to prepare the statement, once */

    st = ms_store_sq_stmt(
        s, id, s->stmts[id] != NULL ? NULL : ms_store_sq_sync_list_sql(mask, sql, sizeof(sql)),
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    sync_list_bind(&b, org_id, f, cur, mask, limit);
    for (st = ms_store_sq_step(s, &b, "sync list", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(s, &b, "sync list", &row, err)) {
        arr = ms_store_sq_grow(a, arr, cnt, &cap, sizeof(*arr));
        st = sync_row(stmt, a, &arr[cnt++], err);
        if (st != MS_OK)
            break;
    }
    ms_store_sq_done(stmt);
    if (st == MS_OK) {
        *out = arr;
        *n = cnt;
    }
    return st;
}

/* One row of a page of documents; an item missing (before 0004) is rendered and noted. */
static enum ms_status
sync_list_doc(struct store_sqlite *s, sqlite3_stmt *stmt, struct ms_arena *a, const char *org_id,
              struct ms_sync_doc *doc, bool *rendered, struct ms_error *err)
{
    struct sync_docs d;
    enum ms_status st;

    doc->id = ms_store_sq_col_text(stmt, 0, a);
    doc->updated_at = ms_store_sq_col_i64(stmt, 1);
    *rendered = !sync_doc_col(stmt, 2, a, doc);
    if (!*rendered)
        return MS_OK;
    /* The list statement is still open, so this read sees the same snapshot. */
    st = sync_docs_read(s, a, org_id, doc->id, &d, err);
    doc->json = d.item;
    doc->len = d.item_len;
    return st;
}

enum ms_status
ms_store_sq_sync_list_docs(struct ms_store *base, struct ms_arena *a, const char *org_id,
                           const struct ms_sync_filter *f, const struct ms_sync_cursor *cur,
                           size_t limit, struct ms_sync_doc **out, size_t *n, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    unsigned mask = sync_list_mask(f, cur);
    sqlite3_stmt *stmt = NULL;
    struct ms_sync_doc *arr = NULL;
    const char **stale = NULL;
    size_t cnt = 0, cap = 0, nstale = 0, scap = 0;
    enum sq_stmt_id id = (enum sq_stmt_id)(SQ_SYNC_LIST_DOCS + mask);
    char sql[1024];
    struct sq_bind b;
    bool row = false, rendered = false;
    enum ms_status st; /* the SQL text is only needed to prepare the statement, once */

    st = ms_store_sq_stmt(
        s, id, s->stmts[id] != NULL ? NULL : ms_store_sq_sync_list_docs_sql(mask, sql, sizeof(sql)),
        &stmt, err);
    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    sync_list_bind(&b, org_id, f, cur, mask, limit);
    for (st = ms_store_sq_step(s, &b, "sync list", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(s, &b, "sync list", &row, err)) {
        arr = ms_store_sq_grow(a, arr, cnt, &cap, sizeof(*arr));
        st = sync_list_doc(s, stmt, a, org_id, &arr[cnt], &rendered, err);
        if (st != MS_OK)
            break;
        if (rendered) {
            stale = ms_store_sq_grow(a, stale, nstale, &scap, sizeof(*stale));
            stale[nstale++] = arr[cnt].id;
        }
        cnt++;
    }
    ms_store_sq_done(stmt);
    if (st != MS_OK)
        return st;
    sync_docs_backfill(s, org_id, stale, nstale);
    *out = arr;
    *n = cnt;
    return MS_OK;
}

/* sync_models rows go with the sync (ON DELETE CASCADE). */
enum ms_status
ms_store_sq_sync_delete(struct ms_store *base, const char *org_id, const char *id,
                        struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_SYNC_DELETE, "DELETE FROM syncs WHERE organization_id = ? AND id = ?", &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, id);
    st = ms_store_sq_run(s, &b, "sync delete", err);
    if (st == MS_OK && ms_store_sq_changes(s) == 0)
        st = ms_fail(err, MS_ENOTFOUND, "no sync with id %s", id);
    return st;
}

static enum ms_status
sync_set_active_row(struct store_sqlite *s, const char *org_id, const char *id, bool active,
                    int64_t now, const struct ms_actor *by, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(s, SQ_SYNC_ACTIVE,
                                         "UPDATE syncs SET active = ?3, updated_at = ?4, "
                                         "updated_by = ?5 WHERE organization_id = ?1 AND id = ?2",
                                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, id);
    ms_store_sq_i64(&b, active ? 1 : 0);
    ms_store_sq_i64(&b, now);
    ms_store_sq_actor(&b, by);
    return ms_store_sq_run(s, &b, "sync set active", err);
}

/* The row and its documents in one transaction (nested in the caller's, if any). */
enum ms_status
ms_store_sq_sync_set_active(struct ms_store *base, const char *org_id, const char *id, bool active,
                            int64_t now, const struct ms_actor *by, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    enum ms_status st = ms_store_sq_begin(s, err);

    if (st != MS_OK)
        return st;
    st = sync_set_active_row(s, org_id, id, active, now, by, err);
    if (st == MS_OK && ms_store_sq_changes(s) == 0) {
        /* nothing was written: end the level cleanly, so a caller's transaction survives */
        st = ms_store_sq_commit(s, err);
        return st == MS_OK ? ms_fail(err, MS_ENOTFOUND, "no sync with id %s", id) : st;
    }
    if (st == MS_OK)
        st = sync_docs_refresh(s, org_id, id, err);
    if (st == MS_OK)
        return ms_store_sq_commit(s, err);
    ms_store_sq_rollback(s);
    return st;
}

/*
 * Other syncs of the organization whose stored configuration lists id in
 * schedule.run_after.sync_ids. Read with json_each over the org's syncs: only deleting a sync
 * asks, so a scan of one organization's rows is cheaper than keeping a mirror table.
 */
enum ms_status
ms_store_sq_sync_run_after_refs(struct ms_store *base, const char *org_id, const char *id,
                                int64_t *n, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_SYNC_RUN_AFTER_REFS,
        "SELECT count(*) FROM syncs y WHERE y.organization_id = ?1 AND y.id <> ?2 AND EXISTS "
        "(SELECT 1 FROM json_each(y.configuration, '$.schedule.run_after.sync_ids') j "
        "WHERE j.value = ?2)",
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, id);
    st = ms_store_sq_step(s, &b, "sync run_after references", &row, err);
    if (st == MS_OK && row)
        *n = ms_store_sq_col_i64(stmt, 0);
    else if (st == MS_OK)
        st = ms_fail(err, MS_EINTERNAL, "sync run_after references: no result row");
    ms_store_sq_done(stmt);
    return st;
}
