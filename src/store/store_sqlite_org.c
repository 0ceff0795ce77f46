/*
 * store_sqlite_org.c: organizations, users and API keys in the SQLite store, and the lookup
 * that turns a credential hash into the caller (key_auth), run once per authenticated request.
 * Keys are found by the SHA-256 of their value (api_keys.hash, unique); a revoked key has
 * revoked_at set and never authenticates again. Same thread rules as store_sqlite.c.
 */
#include "store/store_int.h"

#include <string.h>
#include <sqlite3.h>

static const char *const key_kinds[] = {
    [MS_ACTOR_USER] = "user",
    [MS_ACTOR_ORGANIZATION] = "organization",
    [MS_ACTOR_PARTNER] = "partner",
    [MS_ACTOR_SYSTEM] = "system",
};

/* The enum for a stored kind; false when the text is none of them. */
static bool
org_kind_parse(const char *text, enum ms_actor_kind *out)
{
    for (size_t i = 0; i < MS_ARRAY_LEN(key_kinds); i++) {
        if (text != NULL && strcmp(text, key_kinds[i]) == 0) {
            *out = (enum ms_actor_kind)i;
            return true;
        }
    }
    return false;
}

enum ms_status
ms_store_sq_org_insert(struct ms_store *base, const struct ms_org *o, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_ORG_INSERT, "INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)",
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, o->id);
    ms_store_sq_text(&b, o->name);
    ms_store_sq_i64(&b, o->created_at);
    return ms_store_sq_run(s, &b, "organization insert", err);
}

static void
org_row(sqlite3_stmt *stmt, struct ms_arena *a, struct ms_org *out)
{
    out->id = ms_store_sq_col_text(stmt, 0, a);
    out->name = ms_store_sq_col_text(stmt, 1, a);
    out->created_at = ms_store_sq_col_i64(stmt, 2);
}

enum ms_status
ms_store_sq_org_get(struct ms_store *base, struct ms_arena *a, const char *id, struct ms_org *out,
                    struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_ORG_GET, "SELECT id, name, created_at FROM organizations WHERE id = ?", &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, id);
    st = ms_store_sq_step(s, &b, "organization get", &row, err);
    if (st == MS_OK && !row)
        st = ms_fail(err, MS_ENOTFOUND, "no organization with id %s", id);
    if (st == MS_OK)
        org_row(stmt, a, out);
    ms_store_sq_done(stmt);
    return st;
}

enum ms_status
ms_store_sq_org_list(struct ms_store *base, struct ms_arena *a, struct ms_org **out, size_t *n,
                     struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct ms_org *arr = NULL;
    size_t cnt = 0, cap = 0;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_ORG_LIST, "SELECT id, name, created_at FROM organizations ORDER BY created_at, id",
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    for (st = ms_store_sq_step(s, &b, "organization list", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(s, &b, "organization list", &row, err)) {
        arr = ms_store_sq_grow(a, arr, cnt, &cap, sizeof(*arr));
        org_row(stmt, a, &arr[cnt++]);
    }
    ms_store_sq_done(stmt);
    if (st == MS_OK) {
        *out = arr;
        *n = cnt;
    }
    return st;
}

enum ms_status
ms_store_sq_user_insert(struct ms_store *base, const struct ms_user *u, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(s, SQ_USER_INSERT,
                                         "INSERT INTO users (id, organization_id, email, name, "
                                         "created_at) VALUES (?, ?, ?, ?, ?)",
                                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, u->id);
    ms_store_sq_text(&b, u->org_id);
    ms_store_sq_text(&b, u->email);
    ms_store_sq_text(&b, u->name);
    ms_store_sq_i64(&b, u->created_at);
    return ms_store_sq_run(s, &b, "user insert", err);
}

enum ms_status
ms_store_sq_key_insert(struct ms_store *base, const struct ms_api_key *k, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st;

    if ((size_t)k->kind >= MS_ARRAY_LEN(key_kinds))
        return ms_fail_at(err, MS_EINVAL, "kind", "unknown key kind %d", (int)k->kind);
    st = ms_store_sq_stmt(s, SQ_KEY_INSERT,
                          "INSERT INTO api_keys (id, organization_id, user_id, kind, hash, label, "
                          "created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          &stmt, err);
    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, k->id);
    ms_store_sq_text(&b, k->org_id);
    ms_store_sq_text(&b, k->user_id);
    ms_store_sq_text(&b, key_kinds[k->kind]);
    ms_store_sq_text(&b, k->hash);
    ms_store_sq_text(&b, k->label);
    ms_store_sq_i64(&b, k->created_at);
    ms_store_sq_i64_or_null(&b, k->revoked_at);
    return ms_store_sq_run(s, &b, "key insert", err);
}

/* Fill *out from a key_auth row: k.id, k.kind, k.organization_id, o.name, u.id, u.email,
 * u.name, k.hash. A user key whose user is gone does not authenticate. */
static enum ms_status
org_auth_row(sqlite3_stmt *stmt, struct ms_arena *a, struct ms_auth *out, struct ms_error *err)
{
    enum ms_status st;

    memset(out, 0, sizeof(*out));
    if (!org_kind_parse((const char *)sqlite3_column_text(stmt, 1), &out->kind))
        return ms_fail(err, MS_EINTERNAL, "stored key kind is unknown");
    if (out->kind == MS_ACTOR_USER && sqlite3_column_type(stmt, 4) == SQLITE_NULL)
        return ms_fail(err, MS_EAUTH, "invalid credentials");
    st = ms_store_sq_col_fixed(stmt, 0, out->key_id, sizeof(out->key_id), err);
    if (st == MS_OK)
        st = ms_store_sq_col_fixed(stmt, 2, out->org_id, sizeof(out->org_id), err);
    if (st == MS_OK)
        st = ms_store_sq_col_fixed(stmt, 7, out->cred_hash, sizeof(out->cred_hash), err);
    if (st == MS_OK && out->kind == MS_ACTOR_USER) {
        st = ms_store_sq_col_fixed(stmt, 4, out->user_id, sizeof(out->user_id), err);
        out->user_email = ms_store_sq_col_text(stmt, 5, a);
        out->user_name = ms_store_sq_col_text(stmt, 6, a);
    }
    out->org_name = ms_store_sq_col_text(stmt, 3, a);
    return st;
}

enum ms_status
ms_store_sq_key_auth(struct ms_store *base, struct ms_arena *a, const char *hash_hex,
                     struct ms_auth *out, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct ms_auth auth;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_KEY_AUTH,
        "SELECT k.id, k.kind, k.organization_id, o.name, u.id, u.email, u.name, k.hash "
        "FROM api_keys k JOIN organizations o ON o.id = k.organization_id "
        "LEFT JOIN users u ON u.id = k.user_id AND u.organization_id = k.organization_id "
        "WHERE k.hash = ? AND coalesce(k.revoked_at, 0) = 0",
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, hash_hex);
    st = ms_store_sq_step(s, &b, "key auth", &row, err);
    if (st == MS_OK && !row)
        st = ms_fail(err, MS_EAUTH, "invalid credentials");
    if (st == MS_OK)
        st = org_auth_row(stmt, a, &auth, err);
    ms_store_sq_done(stmt);
    if (st == MS_OK)
        *out = auth;
    return st;
}

#define KEY_COLS "id, organization_id, user_id, kind, hash, label, created_at, revoked_at"

static enum ms_status
org_key_row(sqlite3_stmt *stmt, struct ms_arena *a, struct ms_api_key *out, struct ms_error *err)
{
    out->id = ms_store_sq_col_text(stmt, 0, a);
    out->org_id = ms_store_sq_col_text(stmt, 1, a);
    out->user_id = ms_store_sq_col_text(stmt, 2, a);
    out->hash = ms_store_sq_col_text(stmt, 4, a);
    out->label = ms_store_sq_col_text(stmt, 5, a);
    out->created_at = ms_store_sq_col_i64(stmt, 6);
    out->revoked_at = ms_store_sq_col_i64(stmt, 7);
    if (!org_kind_parse((const char *)sqlite3_column_text(stmt, 3), &out->kind))
        return ms_fail(err, MS_EINTERNAL, "stored key kind is unknown");
    return MS_OK;
}

enum ms_status
ms_store_sq_key_list(struct ms_store *base, struct ms_arena *a, const char *org_id,
                     struct ms_api_key **out, size_t *n, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct ms_api_key *arr = NULL;
    size_t cnt = 0, cap = 0;
    struct sq_bind b;
    bool row = false;
    enum ms_status st =
        org_id == NULL
            ? ms_store_sq_stmt(s, SQ_KEY_LIST_ALL,
                               "SELECT " KEY_COLS " FROM api_keys ORDER BY created_at, id", &stmt,
                               err)
            : ms_store_sq_stmt(s, SQ_KEY_LIST_ORG,
                               "SELECT " KEY_COLS " FROM api_keys WHERE organization_id = ? "
                               "ORDER BY created_at, id",
                               &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    if (org_id != NULL)
        ms_store_sq_text(&b, org_id);
    for (st = ms_store_sq_step(s, &b, "key list", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(s, &b, "key list", &row, err)) {
        arr = ms_store_sq_grow(a, arr, cnt, &cap, sizeof(*arr));
        st = org_key_row(stmt, a, &arr[cnt++], err);
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

/* Revoking twice keeps the first revocation time. */
enum ms_status
ms_store_sq_key_revoke(struct ms_store *base, const char *id, int64_t now, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_KEY_REVOKE, "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_i64(&b, now);
    ms_store_sq_text(&b, id);
    st = ms_store_sq_run(s, &b, "key revoke", err);
    if (st == MS_OK && ms_store_sq_changes(s) == 0)
        st = ms_fail(err, MS_ENOTFOUND, "no API key with id %s", id);
    return st;
}
