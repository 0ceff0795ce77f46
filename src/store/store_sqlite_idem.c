/*
 * store_sqlite_idem.c: Idempotency-Key records in the SQLite store (API.md §2.8, D19). The
 * first request with a key claims it (in_flight) inside a BEGIN IMMEDIATE transaction, so of two
 * concurrent requests exactly one sees MS_IDEM_NEW; its response is then stored (done) and
 * replayed to later requests with the same key and request hash. A claim abandoned for longer
 * than MS_IDEM_STALE_MS (a crashed request) and a record older than MS_IDEM_TTL_MS are
 * claimed anew. Same thread rules as store_sqlite.c.
 */
#include "store/store_int.h"

#include <string.h>
#include <sqlite3.h>

/* What the stored row says; found=false when there is none. */
struct idem_row {
    bool found;
    bool in_flight;
    bool same_req;
    int64_t created_at;
};

/* The outcome for a request at time now, or MS_IDEM_NEW when the key must be (re)claimed. */
static enum ms_idem_state
idem_decide(const struct idem_row *r, int64_t now)
{
    int64_t age = now - r->created_at;

    if (!r->found || age > MS_IDEM_TTL_MS || (r->in_flight && age > MS_IDEM_STALE_MS))
        return MS_IDEM_NEW;
    if (!r->same_req)
        return MS_IDEM_MISMATCH;
    return r->in_flight ? MS_IDEM_IN_FLIGHT : MS_IDEM_DONE;
}

/* Copy the stored response (columns 2 and 3) into the arena, NUL-terminated. */
static void
idem_response(sqlite3_stmt *stmt, struct ms_arena *a, struct ms_idem_response *resp)
{
    const void *p = sqlite3_column_blob(stmt, 3);
    size_t n = (size_t)sqlite3_column_bytes(stmt, 3);
    char *body = ms_arena_alloc(a, n + 1);

    if (n != 0)
        memcpy(body, p, n);
    body[n] = '\0';
    resp->http_status = (int)sqlite3_column_int64(stmt, 2);
    resp->body = body;
    resp->body_len = n;
}

/* Read the row of (org_id, cred_hash, key); a done row's response goes to resp. */
static enum ms_status
idem_read(struct store_sqlite *s, struct ms_arena *a, const char *org_id, const char *cred_hash,
          const char *key, const char *req_hash, struct idem_row *r, struct ms_idem_response *resp,
          struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    const unsigned char *stored;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_IDEM_GET,
        "SELECT req_hash, state, http_status, body, created_at FROM idempotency_keys "
        "WHERE organization_id = ? AND cred_hash = ? AND key = ?",
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, cred_hash);
    ms_store_sq_text(&b, key);
    memset(r, 0, sizeof(*r));
    st = ms_store_sq_step(s, &b, "idempotency read", &r->found, err);
    if (st == MS_OK && r->found) {
        stored = sqlite3_column_text(stmt, 0);
        r->same_req = stored != NULL && strcmp((const char *)stored, req_hash) == 0;
        r->in_flight = strcmp((const char *)sqlite3_column_text(stmt, 1), "in_flight") == 0;
        r->created_at = sqlite3_column_int64(stmt, 4);
        if (!r->in_flight)
            idem_response(stmt, a, resp);
    }
    ms_store_sq_done(stmt);
    return st;
}

static enum ms_status
idem_claim(struct store_sqlite *s, const char *org_id, const char *cred_hash, const char *key,
           const char *req_hash, int64_t now, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_IDEM_CLAIM,
        "INSERT INTO idempotency_keys (organization_id, cred_hash, key, req_hash, state, "
        "created_at) VALUES (?, ?, ?, ?, 'in_flight', ?) "
        "ON CONFLICT (organization_id, cred_hash, key) DO UPDATE SET "
        "req_hash = excluded.req_hash, state = 'in_flight', http_status = NULL, body = NULL, "
        "created_at = excluded.created_at",
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, cred_hash);
    ms_store_sq_text(&b, key);
    ms_store_sq_text(&b, req_hash);
    ms_store_sq_i64(&b, now);
    return ms_store_sq_run(s, &b, "idempotency claim", err);
}

enum ms_status
ms_store_sq_idem_begin(struct ms_store *base, struct ms_arena *a, const char *org_id,
                       const char *cred_hash, const char *key, const char *req_hash, int64_t now,
                       enum ms_idem_state *state, struct ms_idem_response *resp,
                       struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct ms_idem_response stored = {0, NULL, 0};
    enum ms_idem_state decided = MS_IDEM_NEW;
    struct idem_row r;
    enum ms_status st = ms_store_sq_begin(s, err);

    if (st != MS_OK)
        return st;
    st = idem_read(s, a, org_id, cred_hash, key, req_hash, &r, &stored, err);
    if (st == MS_OK)
        decided = idem_decide(&r, now);
    if (st == MS_OK && decided == MS_IDEM_NEW)
        st = idem_claim(s, org_id, cred_hash, key, req_hash, now, err);
    if (st == MS_OK)
        st = ms_store_sq_commit(s, err);
    else
        ms_store_sq_rollback(s);
    if (st != MS_OK)
        return st;
    *state = decided;
    if (decided == MS_IDEM_DONE)
        *resp = stored;
    else
        *resp = (struct ms_idem_response){0, NULL, 0};
    return MS_OK;
}

/* created_at stays the claim time: the retention counts from the first request. */
enum ms_status
ms_store_sq_idem_finish(struct ms_store *base, const char *org_id, const char *cred_hash,
                        const char *key, int http_status, const char *body, size_t body_len,
                        int64_t now, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st =
        ms_store_sq_stmt(s, SQ_IDEM_FINISH,
                         "UPDATE idempotency_keys SET state = 'done', http_status = ?4, body = ?5 "
                         "WHERE organization_id = ?1 AND cred_hash = ?2 AND key = ?3",
                         &stmt, err);

    MS_UNUSED(now);
    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, cred_hash);
    ms_store_sq_text(&b, key);
    ms_store_sq_i64(&b, http_status);
    ms_store_sq_blob(&b, body, body_len);
    st = ms_store_sq_run(s, &b, "idempotency finish", err);
    if (st == MS_OK && ms_store_sq_changes(s) == 0)
        st = ms_fail(err, MS_ENOTFOUND, "no idempotency record for this key");
    return st;
}

enum ms_status
ms_store_sq_idem_purge(struct ms_store *base, int64_t now, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_IDEM_PURGE, "DELETE FROM idempotency_keys WHERE created_at < ?", &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_i64(&b, now - MS_IDEM_TTL_MS);
    return ms_store_sq_run(s, &b, "idempotency purge", err);
}
