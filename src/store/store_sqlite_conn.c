/*
 * store_sqlite_conn.c: connections and models in the SQLite store. Every statement is scoped by
 * organization_id, so another organization's row reads as missing (MS_ENOTFOUND). Connection
 * configurations arrive with their secrets already sealed; this file stores JSON as given.
 * Deleting a connection with cascade removes, in one transaction, the syncs that write to it or
 * read its models, then its models, then the connection. Same thread rules as store_sqlite.c.
 */
#include "store/store_int.h"

#include <sqlite3.h>

/* ---- connections ---- */

#define CONN_COLS                                                                                  \
    "id, organization_id, name, type, configuration, status, status_error, policies, "             \
    "healthcheck_interval, created_at, updated_at, created_by, updated_by"

enum ms_status
ms_store_sq_conn_insert(struct ms_store *base, const struct ms_connection *c, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(s, SQ_CONN_INSERT,
                                         "INSERT INTO connections (" CONN_COLS ") VALUES "
                                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, c->id);
    ms_store_sq_text(&b, c->org_id);
    ms_store_sq_text(&b, c->name);
    ms_store_sq_text(&b, c->type);
    ms_store_sq_json(&b, c->config);
    ms_store_sq_text(&b, c->status);
    ms_store_sq_text(&b, c->status_error);
    ms_store_sq_json(&b, c->policies);
    ms_store_sq_text(&b, c->healthcheck_interval);
    ms_store_sq_i64(&b, c->created_at);
    ms_store_sq_i64(&b, c->updated_at);
    ms_store_sq_actor(&b, &c->created_by);
    ms_store_sq_actor(&b, &c->updated_by);
    return ms_store_sq_run(s, &b, "connection insert", err);
}

/* Every column but the identity and creation ones; ENOTFOUND when (org_id, id) is not there. */
enum ms_status
ms_store_sq_conn_update(struct ms_store *base, const struct ms_connection *c, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_CONN_UPDATE,
        "UPDATE connections SET name = ?3, type = ?4, configuration = ?5, status = ?6, "
        "status_error = ?7, policies = ?8, healthcheck_interval = ?9, updated_at = ?10, "
        "updated_by = ?11 WHERE organization_id = ?1 AND id = ?2",
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, c->org_id);
    ms_store_sq_text(&b, c->id);
    ms_store_sq_text(&b, c->name);
    ms_store_sq_text(&b, c->type);
    ms_store_sq_json(&b, c->config);
    ms_store_sq_text(&b, c->status);
    ms_store_sq_text(&b, c->status_error);
    ms_store_sq_json(&b, c->policies);
    ms_store_sq_text(&b, c->healthcheck_interval);
    ms_store_sq_i64(&b, c->updated_at);
    ms_store_sq_actor(&b, &c->updated_by);
    st = ms_store_sq_run(s, &b, "connection update", err);
    if (st == MS_OK && ms_store_sq_changes(s) == 0)
        st = ms_fail(err, MS_ENOTFOUND, "no connection with id %s", c->id);
    return st;
}

static enum ms_status
conn_row(sqlite3_stmt *stmt, struct ms_arena *a, struct ms_connection *out, struct ms_error *err)
{
    enum ms_status st;

    out->id = ms_store_sq_col_text(stmt, 0, a);
    out->org_id = ms_store_sq_col_text(stmt, 1, a);
    out->name = ms_store_sq_col_text(stmt, 2, a);
    out->type = ms_store_sq_col_text(stmt, 3, a);
    out->status = ms_store_sq_col_text(stmt, 5, a);
    out->status_error = ms_store_sq_col_text(stmt, 6, a);
    out->healthcheck_interval = ms_store_sq_col_text(stmt, 8, a);
    out->created_at = ms_store_sq_col_i64(stmt, 9);
    out->updated_at = ms_store_sq_col_i64(stmt, 10);
    st = ms_store_sq_col_json(stmt, 4, a, &out->config, err);
    if (st == MS_OK)
        st = ms_store_sq_col_json(stmt, 7, a, &out->policies, err);
    if (st == MS_OK)
        st = ms_store_sq_col_actor(stmt, 11, a, &out->created_by, err);
    if (st == MS_OK)
        st = ms_store_sq_col_actor(stmt, 12, a, &out->updated_by, err);
    return st;
}

enum ms_status
ms_store_sq_conn_get(struct ms_store *base, struct ms_arena *a, const char *org_id, const char *id,
                     struct ms_connection *out, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct ms_connection c;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_CONN_GET,
        "SELECT " CONN_COLS " FROM connections WHERE organization_id = ? AND id = ?", &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, id);
    st = ms_store_sq_step(s, &b, "connection get", &row, err);
    if (st == MS_OK && !row)
        st = ms_fail(err, MS_ENOTFOUND, "no connection with id %s", id);
    if (st == MS_OK)
        st = conn_row(stmt, a, &c, err);
    ms_store_sq_done(stmt);
    if (st == MS_OK)
        *out = c;
    return st;
}

enum ms_status
ms_store_sq_conn_list(struct ms_store *base, struct ms_arena *a, const char *org_id,
                      struct ms_connection **out, size_t *n, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct ms_connection *arr = NULL;
    size_t cnt = 0, cap = 0;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(s, SQ_CONN_LIST,
                                         "SELECT " CONN_COLS " FROM connections WHERE "
                                         "organization_id = ? ORDER BY created_at, id",
                                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    for (st = ms_store_sq_step(s, &b, "connection list", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(s, &b, "connection list", &row, err)) {
        arr = ms_store_sq_grow(a, arr, cnt, &cap, sizeof(*arr));
        st = conn_row(stmt, a, &arr[cnt++], err);
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

/* Run one (org_id, id) statement of the cascade; *changed = rows it changed. */
static enum ms_status
conn_del_step(struct store_sqlite *s, enum sq_stmt_id id, const char *sql, const char *org_id,
              const char *conn_id, int64_t *changed, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(s, id, sql, &stmt, err);
    int rc;

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, conn_id);
    rc = b.rc == SQLITE_OK ? sqlite3_step(stmt) : b.rc;
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        st = ms_fail(err, MS_ECONFLICT, "connection %s is used by models or syncs", conn_id);
    else if (rc != SQLITE_DONE)
        st = ms_store_sq_fail(s, err, rc, "connection delete");
    if (st == MS_OK)
        *changed = ms_store_sq_changes(s);
    ms_store_sq_done(stmt);
    if (err != NULL && rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        err->native = rc;
    return st;
}

static enum ms_status
conn_delete_cascade(struct store_sqlite *s, const char *org_id, const char *id,
                    struct ms_error *err)
{
    int64_t changed = 0;
    enum ms_status st = conn_del_step(
        s, SQ_CONN_DEL_SYNCS,
        "DELETE FROM syncs WHERE organization_id = ?1 AND (target_connection_id = ?2 OR id IN "
        "(SELECT sm.sync_id FROM sync_models sm JOIN models m ON m.id = sm.model_id "
        "WHERE m.organization_id = ?1 AND m.connection_id = ?2))",
        org_id, id, &changed, err);

    if (st == MS_OK)
        st = conn_del_step(s, SQ_CONN_DEL_MODELS,
                           "DELETE FROM models WHERE organization_id = ?1 AND connection_id = ?2",
                           org_id, id, &changed, err);
    return st;
}

enum ms_status
ms_store_sq_conn_delete(struct ms_store *base, const char *org_id, const char *id, bool cascade,
                        struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    int64_t changed = 0;
    enum ms_status st = ms_store_sq_begin(s, err);

    if (st != MS_OK)
        return st;
    if (cascade)
        st = conn_delete_cascade(s, org_id, id, err);
    if (st == MS_OK)
        st = conn_del_step(s, SQ_CONN_DELETE,
                           "DELETE FROM connections WHERE organization_id = ?1 AND id = ?2", org_id,
                           id, &changed, err);
    if (st == MS_OK && changed == 0)
        st = ms_fail(err, MS_ENOTFOUND, "no connection with id %s", id);
    if (st == MS_OK)
        return ms_store_sq_commit(s, err);
    ms_store_sq_rollback(s);
    return st;
}

enum ms_status
ms_store_sq_conn_usage(struct ms_store *base, const char *org_id, const char *id, int64_t *n_models,
                       int64_t *n_syncs, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_CONN_USAGE,
        "SELECT (SELECT count(*) FROM models WHERE organization_id = ?1 AND connection_id = ?2), "
        "(SELECT count(*) FROM syncs WHERE organization_id = ?1 AND target_connection_id = ?2)",
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, id);
    st = ms_store_sq_step(s, &b, "connection usage", &row, err);
    if (st == MS_OK && row) {
        *n_models = ms_store_sq_col_i64(stmt, 0);
        *n_syncs = ms_store_sq_col_i64(stmt, 1);
    } else if (st == MS_OK) {
        st = ms_fail(err, MS_EINTERNAL, "connection usage: no result row");
    }
    ms_store_sq_done(stmt);
    return st;
}

enum ms_status
ms_store_sq_conn_set_status(struct ms_store *base, const char *org_id, const char *id,
                            const char *status, const char *status_error, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(s, SQ_CONN_STATUS,
                                         "UPDATE connections SET status = ?3, status_error = ?4 "
                                         "WHERE organization_id = ?1 AND id = ?2",
                                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, id);
    ms_store_sq_text(&b, status);
    ms_store_sq_text(&b, status_error);
    st = ms_store_sq_run(s, &b, "connection status", err);
    if (st == MS_OK && ms_store_sq_changes(s) == 0)
        st = ms_fail(err, MS_ENOTFOUND, "no connection with id %s", id);
    return st;
}

/* ---- models ---- */

#define MODEL_COLS                                                                                 \
    "id, organization_id, connection_id, name, type, configuration, fields, doc, version, "        \
    "created_at, updated_at, created_by, updated_by"

enum ms_status
ms_store_sq_model_insert(struct ms_store *base, const struct ms_model *m, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(s, SQ_MODEL_INSERT,
                                         "INSERT INTO models (" MODEL_COLS ") VALUES "
                                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, m->id);
    ms_store_sq_text(&b, m->org_id);
    ms_store_sq_text(&b, m->connection_id);
    ms_store_sq_text(&b, m->name);
    ms_store_sq_text(&b, m->type);
    ms_store_sq_json(&b, m->config);
    ms_store_sq_json(&b, m->fields);
    ms_store_sq_json(&b, m->doc);
    ms_store_sq_i64(&b, m->version);
    ms_store_sq_i64(&b, m->created_at);
    ms_store_sq_i64(&b, m->updated_at);
    ms_store_sq_actor(&b, &m->created_by);
    ms_store_sq_actor(&b, &m->updated_by);
    return ms_store_sq_run(s, &b, "model insert", err);
}

enum ms_status
ms_store_sq_model_update(struct ms_store *base, const struct ms_model *m, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_MODEL_UPDATE,
        "UPDATE models SET connection_id = ?3, name = ?4, type = ?5, configuration = ?6, "
        "fields = ?7, doc = ?8, version = ?9, updated_at = ?10, updated_by = ?11 "
        "WHERE organization_id = ?1 AND id = ?2",
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, m->org_id);
    ms_store_sq_text(&b, m->id);
    ms_store_sq_text(&b, m->connection_id);
    ms_store_sq_text(&b, m->name);
    ms_store_sq_text(&b, m->type);
    ms_store_sq_json(&b, m->config);
    ms_store_sq_json(&b, m->fields);
    ms_store_sq_json(&b, m->doc);
    ms_store_sq_i64(&b, m->version);
    ms_store_sq_i64(&b, m->updated_at);
    ms_store_sq_actor(&b, &m->updated_by);
    st = ms_store_sq_run(s, &b, "model update", err);
    if (st == MS_OK && ms_store_sq_changes(s) == 0)
        st = ms_fail(err, MS_ENOTFOUND, "no model with id %s", m->id);
    return st;
}

static enum ms_status
model_row(sqlite3_stmt *stmt, struct ms_arena *a, struct ms_model *out, struct ms_error *err)
{
    enum ms_status st;

    out->id = ms_store_sq_col_text(stmt, 0, a);
    out->org_id = ms_store_sq_col_text(stmt, 1, a);
    out->connection_id = ms_store_sq_col_text(stmt, 2, a);
    out->name = ms_store_sq_col_text(stmt, 3, a);
    out->type = ms_store_sq_col_text(stmt, 4, a);
    out->version = ms_store_sq_col_i64(stmt, 8);
    out->created_at = ms_store_sq_col_i64(stmt, 9);
    out->updated_at = ms_store_sq_col_i64(stmt, 10);
    st = ms_store_sq_col_json(stmt, 5, a, &out->config, err);
    if (st == MS_OK)
        st = ms_store_sq_col_json(stmt, 6, a, &out->fields, err);
    if (st == MS_OK)
        st = ms_store_sq_col_json(stmt, 7, a, &out->doc, err);
    if (st == MS_OK)
        st = ms_store_sq_col_actor(stmt, 11, a, &out->created_by, err);
    if (st == MS_OK)
        st = ms_store_sq_col_actor(stmt, 12, a, &out->updated_by, err);
    return st;
}

enum ms_status
ms_store_sq_model_get(struct ms_store *base, struct ms_arena *a, const char *org_id, const char *id,
                      struct ms_model *out, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct ms_model m;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_MODEL_GET, "SELECT " MODEL_COLS " FROM models WHERE organization_id = ? AND id = ?",
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, id);
    st = ms_store_sq_step(s, &b, "model get", &row, err);
    if (st == MS_OK && !row)
        st = ms_fail(err, MS_ENOTFOUND, "no model with id %s", id);
    if (st == MS_OK)
        st = model_row(stmt, a, &m, err);
    ms_store_sq_done(stmt);
    if (st == MS_OK)
        *out = m;
    return st;
}

enum ms_status
ms_store_sq_model_list(struct ms_store *base, struct ms_arena *a, const char *org_id,
                       const char *connection_id, struct ms_model **out, size_t *n,
                       struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct ms_model *arr = NULL;
    size_t cnt = 0, cap = 0;
    struct sq_bind b;
    bool row = false;
    enum ms_status st =
        connection_id == NULL
            ? ms_store_sq_stmt(s, SQ_MODEL_LIST_ALL,
                               "SELECT " MODEL_COLS " FROM models WHERE organization_id = ? "
                               "ORDER BY created_at, id",
                               &stmt, err)
            : ms_store_sq_stmt(s, SQ_MODEL_LIST_CONN,
                               "SELECT " MODEL_COLS " FROM models WHERE organization_id = ? "
                               "AND connection_id = ? ORDER BY created_at, id",
                               &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    if (connection_id != NULL)
        ms_store_sq_text(&b, connection_id);
    for (st = ms_store_sq_step(s, &b, "model list", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(s, &b, "model list", &row, err)) {
        arr = ms_store_sq_grow(a, arr, cnt, &cap, sizeof(*arr));
        st = model_row(stmt, a, &arr[cnt++], err);
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

enum ms_status
ms_store_sq_model_delete(struct ms_store *base, const char *org_id, const char *id,
                         struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_MODEL_DELETE, "DELETE FROM models WHERE organization_id = ? AND id = ?", &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, id);
    st = ms_store_sq_run(s, &b, "model delete", err);
    if (st == MS_OK && ms_store_sq_changes(s) == 0)
        st = ms_fail(err, MS_ENOTFOUND, "no model with id %s", id);
    return st;
}

/* Syncs of the organization whose sync_models rows name the model. */
enum ms_status
ms_store_sq_model_usage(struct ms_store *base, const char *org_id, const char *id, int64_t *n_syncs,
                        struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st =
        ms_store_sq_stmt(s, SQ_MODEL_USAGE,
                         "SELECT count(*) FROM sync_models sm JOIN syncs y ON y.id = sm.sync_id "
                         "WHERE sm.model_id = ?2 AND y.organization_id = ?1",
                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, id);
    st = ms_store_sq_step(s, &b, "model usage", &row, err);
    if (st == MS_OK && row)
        *n_syncs = ms_store_sq_col_i64(stmt, 0);
    else if (st == MS_OK)
        st = ms_fail(err, MS_EINTERNAL, "model usage: no result row");
    ms_store_sq_done(stmt);
    return st;
}
