/*
 * store.h: the only interface to persistent state. A struct ms_store is one database handle:
 * thread-confined (open one per thread), implemented by store_sqlite.c today and store_pg.c when
 * the PostgreSQL backend lands. Every query that reads or changes tenant data takes the
 * organization id and never crosses it: another organization's object is MS_ENOTFOUND.
 *
 * Reads allocate their results (strings, arrays, json_t members) in the arena they are given;
 * json_t members are released by an arena defer. Writes borrow their arguments.
 * Times are int64 milliseconds since the epoch (UTC).
 */
#ifndef MS_STORE_STORE_H
#define MS_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/arena.h"
#include "core/error.h"
#include "model/model.h"

#define MS_IDEM_TTL_MS (24LL * 3600 * 1000) /* idempotency keys are kept 24 h */
#define MS_IDEM_STALE_MS (10LL * 60 * 1000) /* an in-flight key older than this was abandoned */

struct ms_store;

/* Filters of GET /api/syncs (AND). */
struct ms_sync_filter {
    int active;                       /* -1 any, 0 paused, 1 active */
    const char *mode;                 /* NULL = any */
    const char *target_connection_id; /* NULL = any */
};

/* Keyset position: the (updated_at, id) of the last item returned; set=false for page 1. */
struct ms_sync_cursor {
    bool set;
    int64_t updated_at;
    char id[MS_UUID_LEN + 1];
};

/* A sync's stored API document (sync_get_doc, sync_list_docs): compact JSON text. */
struct ms_sync_doc {
    const char *id;     /* arena */
    int64_t updated_at; /* with id, the keyset position of a list item */
    const char *json;   /* arena, NUL-terminated; SyncResponse or ListSyncItem */
    size_t len;         /* bytes of json */
};

enum ms_idem_state {
    MS_IDEM_NEW,       /* recorded as in flight: run the request, then ms_store_idem_finish() */
    MS_IDEM_IN_FLIGHT, /* another request with this key is running: 409 */
    MS_IDEM_DONE,      /* replay the stored response */
    MS_IDEM_MISMATCH,  /* same key, different method/path/body: 422 */
};

/* A stored response, for replay. */
struct ms_idem_response {
    int http_status;
    const char *body; /* arena; may be "" */
    size_t body_len;
};

/* Keyset position in a sync's executions: (sort_at, id) of the last item; sort_at is
 * started_at, or created_at until the execution starts. */
struct ms_exec_cursor {
    bool set;
    int64_t sort_at;
    char id[MS_UUID_LEN + 1];
};

/* One console-log entry (B4). id is "<ts>-<seq>" (API.md §6.4). */
struct ms_exec_log {
    int64_t seq;       /* per execution, from 1 */
    int64_t ts;        /* ms */
    const char *level; /* "INFO", "WARN", "ERROR" */
    const char *message;
};

/* One change to a sync's snapshot: what the target acknowledged for one record. */
struct ms_snap_change {
    uint8_t key[16];      /* XXH3-128 of the record's identity value */
    uint8_t row[16];      /* XXH3-128 of the mapped record; ignored when del */
    bool del;             /* the record is gone from the target */
    const char *key_text; /* the identity value as text (kept to address deletes later);
                             ignored when del */
    size_t key_len;
};

/* Called once per snapshot row by snap_load; a non-MS_OK return stops the scan with it. It must
 * not call the store on the handle that is scanning. */
typedef enum ms_status (*ms_snap_fn)(void *ud, const uint8_t key[16], const uint8_t row[16]);

/*
 * The scheduler's row for one sync (schedule_state; docs/schedules.md). Times are the
 * scheduler's clock in ms, which is the wall clock outside tests. Strings are arena-owned on
 * reads and borrowed on writes.
 */
struct ms_sched_state {
    const char *sync_id;
    const char *org_id;
    const char *kind;         /* "clock", "continuous" or "runafter"; NULL without a row */
    const char *schedule;     /* the compact key-sorted schedule JSON the row was made from */
    int64_t next_at;          /* next clock slot, or when a continuous sync may run; 0 = none */
    bool pending;             /* a trigger came while an execution ran: one run follows it */
    const char *pending_type; /* that run's execution type; NULL unless pending */
    int64_t trigger_seq;      /* the newest schedule event applied to the row */
    int64_t last_fired_at;    /* when the scheduler last created an execution; 0 = never */
    const char *last_exec_id; /* that execution; NULL = never */
    int64_t version;          /* compare-and-set token; 0 = the sync has no row */
};

/* An active sync whose schedule is not manual, as the scheduler reads it. */
struct ms_sched_sync {
    const char *sync_id;
    const char *org_id;
    json_t *schedule;            /* the stored schedule object (arena defer); NULL if absent */
    bool running;                /* it has a non-terminal execution */
    struct ms_sched_state state; /* version 0 when it has no row yet */
};

/* An execution that entered a terminal state (schedule_events). */
struct ms_sched_event {
    int64_t seq; /* increases with every event */
    const char *org_id;
    const char *sync_id;
    const char *exec_id;
    const char *status; /* completed, failed, canceled or interrupted */
    int64_t at;         /* the execution's completed_at (wall clock ms) */
};

struct ms_store_ops {
    const char *name; /* "sqlite" */
    void (*close)(struct ms_store *s);
    enum ms_status (*migrate)(struct ms_store *s, struct ms_error *err);
    enum ms_status (*tx_begin)(struct ms_store *s, struct ms_error *err); /* write transaction */
    enum ms_status (*tx_commit)(struct ms_store *s, struct ms_error *err);
    void (*tx_rollback)(struct ms_store *s);

    /* organizations, users, keys */
    enum ms_status (*org_insert)(struct ms_store *s, const struct ms_org *o, struct ms_error *err);
    enum ms_status (*org_get)(struct ms_store *s, struct ms_arena *a, const char *id,
                              struct ms_org *out, struct ms_error *err);
    enum ms_status (*org_list)(struct ms_store *s, struct ms_arena *a, struct ms_org **out,
                               size_t *n, struct ms_error *err); /* oldest first */
    enum ms_status (*user_insert)(struct ms_store *s, const struct ms_user *u,
                                  struct ms_error *err);
    enum ms_status (*key_insert)(struct ms_store *s, const struct ms_api_key *k,
                                 struct ms_error *err);
    /* The caller for a credential hash; MS_EAUTH when unknown or revoked. */
    enum ms_status (*key_auth)(struct ms_store *s, struct ms_arena *a, const char *hash_hex,
                               struct ms_auth *out, struct ms_error *err);
    /* org_id NULL = every organization's keys; oldest first. */
    enum ms_status (*key_list)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                               struct ms_api_key **out, size_t *n, struct ms_error *err);
    enum ms_status (*key_revoke)(struct ms_store *s, const char *id, int64_t now,
                                 struct ms_error *err); /* MS_ENOTFOUND if no such key */

    /* connections */
    enum ms_status (*conn_insert)(struct ms_store *s, const struct ms_connection *c,
                                  struct ms_error *err); /* duplicate name in org → ECONFLICT */
    enum ms_status (*conn_update)(struct ms_store *s, const struct ms_connection *c,
                                  struct ms_error *err); /* by (org_id, id); ENOTFOUND */
    enum ms_status (*conn_get)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                               const char *id, struct ms_connection *out, struct ms_error *err);
    enum ms_status (*conn_list)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                                struct ms_connection **out, size_t *n, struct ms_error *err);
    /* cascade: first delete the syncs that target the connection or read its models, then
     * its models (one transaction). Without cascade the caller checked conn_usage. */
    enum ms_status (*conn_delete)(struct ms_store *s, const char *org_id, const char *id,
                                  bool cascade, struct ms_error *err);
    /* How many models read from and syncs write to the connection. */
    enum ms_status (*conn_usage)(struct ms_store *s, const char *org_id, const char *id,
                                 int64_t *n_models, int64_t *n_syncs, struct ms_error *err);
    enum ms_status (*conn_set_status)(struct ms_store *s, const char *org_id, const char *id,
                                      const char *status, const char *status_error,
                                      struct ms_error *err);

    /* models */
    enum ms_status (*model_insert)(struct ms_store *s, const struct ms_model *m,
                                   struct ms_error *err);
    enum ms_status (*model_update)(struct ms_store *s, const struct ms_model *m,
                                   struct ms_error *err); /* by (org_id, id) */
    enum ms_status (*model_get)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                                const char *id, struct ms_model *out, struct ms_error *err);
    /* connection_id NULL = all of the org's models; oldest first. */
    enum ms_status (*model_list)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                                 const char *connection_id, struct ms_model **out, size_t *n,
                                 struct ms_error *err);
    enum ms_status (*model_delete)(struct ms_store *s, const char *org_id, const char *id,
                                   struct ms_error *err);
    /* How many syncs reference the model (sync_models). */
    enum ms_status (*model_usage)(struct ms_store *s, const char *org_id, const char *id,
                                  int64_t *n_syncs, struct ms_error *err);

    /* syncs; insert/update also replace the sync's rows in sync_models from y->model_ids */
    enum ms_status (*sync_insert)(struct ms_store *s, const struct ms_sync *y,
                                  struct ms_error *err);
    enum ms_status (*sync_update)(struct ms_store *s, const struct ms_sync *y,
                                  struct ms_error *err); /* by (org_id, id) */
    enum ms_status (*sync_get)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                               const char *id, struct ms_sync *out, struct ms_error *err);
    /*
     * Up to limit syncs matching f, ordered by (updated_at DESC, id DESC), strictly after cur
     * when cur->set. Uses the (organization_id, updated_at, id) index: cost independent of depth.
     */
    enum ms_status (*sync_list)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                                const struct ms_sync_filter *f, const struct ms_sync_cursor *cur,
                                size_t limit, struct ms_sync **out, size_t *n,
                                struct ms_error *err);
    enum ms_status (*sync_delete)(struct ms_store *s, const char *org_id, const char *id,
                                  struct ms_error *err);
    enum ms_status (*sync_set_active)(struct ms_store *s, const char *org_id, const char *id,
                                      bool active, int64_t now, const struct ms_actor *by,
                                      struct ms_error *err);
    /* How many other syncs of the org name id in schedule.run_after.sync_ids. */
    enum ms_status (*sync_run_after_refs)(struct ms_store *s, const char *org_id, const char *id,
                                          int64_t *n, struct ms_error *err);
    /*
     * The sync's SyncResponse (what ms_sync_to_json() makes of sync_get's struct) as JSON text,
     * without parsing the stored configuration: every write of a sync (insert, update,
     * set_active) stores its documents in the same transaction. MS_ENOTFOUND when the org has
     * no such sync. A row written before the documents existed is rendered from its columns
     * here, and stored when this call runs outside a transaction (a failure to store is
     * ignored: the next read renders again).
     */
    enum ms_status (*sync_get_doc)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                                   const char *id, struct ms_sync_doc *out, struct ms_error *err);
    /* sync_list's page (same filters, order, cursor and cost) as ListSyncItem JSON texts (what
     * ms_sync_list_item() makes of each row), with sync_get_doc's rule for old rows. */
    enum ms_status (*sync_list_docs)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                                     const struct ms_sync_filter *f,
                                     const struct ms_sync_cursor *cur, size_t limit,
                                     struct ms_sync_doc **out, size_t *n, struct ms_error *err);

    /* idempotency keys, scoped by (org_id, cred_hash, key) */
    enum ms_status (*idem_begin)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                                 const char *cred_hash, const char *key, const char *req_hash,
                                 int64_t now, enum ms_idem_state *state,
                                 struct ms_idem_response *resp, struct ms_error *err);
    enum ms_status (*idem_finish)(struct ms_store *s, const char *org_id, const char *cred_hash,
                                  const char *key, int http_status, const char *body,
                                  size_t body_len, int64_t now, struct ms_error *err);
    /* Forget keys older than MS_IDEM_TTL_MS. */
    enum ms_status (*idem_purge)(struct ms_store *s, int64_t now, struct ms_error *err);

    /* Free-form process metadata (e.g. "initialized"). get: MS_ENOTFOUND when absent. */
    enum ms_status (*meta_get)(struct ms_store *s, struct ms_arena *a, const char *key,
                               const char **val, struct ms_error *err);
    enum ms_status (*meta_set)(struct ms_store *s, const char *key, const char *val,
                               struct ms_error *err);
    /* executions: at most one non-terminal execution per sync (exec_insert → ECONFLICT) */
    enum ms_status (*exec_insert)(struct ms_store *s, const struct ms_execution *ex,
                                  struct ms_error *err);
    /* sync_id NULL = any sync of the org. */
    enum ms_status (*exec_get)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                               const char *sync_id, const char *id, struct ms_execution *out,
                               struct ms_error *err);
    /* Up to limit executions of a sync ordered by (sort_at, id), descending unless ascending,
     * strictly after cur when cur->set; only_completed = terminal states only. */
    enum ms_status (*exec_list)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                                const char *sync_id, bool only_completed, bool ascending,
                                const struct ms_exec_cursor *cur, size_t limit,
                                struct ms_execution **out, size_t *n, struct ms_error *err);
    /* The sync's non-terminal execution (MS_ENOTFOUND when idle). */
    enum ms_status (*exec_active)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                                  const char *sync_id, struct ms_execution *out,
                                  struct ms_error *err);
    /* The sync's most recent terminal execution (MS_ENOTFOUND when none). */
    enum ms_status (*exec_last)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                                const char *sync_id, struct ms_execution *out,
                                struct ms_error *err);
    /*
     * Claim atomically: id NULL = the oldest queued execution of any organization, else that
     * execution if still queued. Sets status running, started_at = sort_at = now, node and
     * lease_until = now + lease_ms. MS_ENOTFOUND when there is nothing to claim.
     */
    enum ms_status (*exec_claim)(struct ms_store *s, struct ms_arena *a, const char *id,
                                 const char *node, int64_t now, int64_t lease_ms,
                                 struct ms_execution *out, struct ms_error *err);
    /* Extend the lease and store progress (status, counts); *cancel = cancel requested.
     * MS_ECONFLICT when node no longer holds the execution (it was reaped). */
    enum ms_status (*exec_renew)(struct ms_store *s, const char *id, const char *node,
                                 const char *status, const struct ms_counts *counts, int64_t now,
                                 int64_t lease_ms, bool *cancel, struct ms_error *err);
    /* Enter a terminal status with the final counts and errors (string[] or NULL). */
    enum ms_status (*exec_finish)(struct ms_store *s, const char *id, const char *node,
                                  const char *status, const struct ms_counts *counts,
                                  const json_t *errors, int64_t now, struct ms_error *err);
    /*
     * Request cancellation of the sync's active execution (id NULL) or of that execution:
     * queued → canceled at once; running/processing → canceling + cancel flag. *affected gets
     * the execution id (arena), NULL when nothing was active. A terminal execution named by id →
     * MS_EINVAL.
     */
    enum ms_status (*exec_cancel)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                                  const char *sync_id, const char *id, int64_t now,
                                  const char **affected, struct ms_error *err);
    /* Executions whose lease expired before now (their node died) → interrupted; *n reaped. */
    enum ms_status (*exec_reap)(struct ms_store *s, int64_t now, int64_t *n, struct ms_error *err);

    /* console log of an execution */
    enum ms_status (*log_append)(struct ms_store *s, const char *exec_id, int64_t ts,
                                 const char *level, const char *message, struct ms_error *err);
    /* after_seq > 0: up to limit entries with seq > after_seq, oldest first; after_seq == 0:
     * the newest limit entries, oldest first. */
    enum ms_status (*log_list)(struct ms_store *s, struct ms_arena *a, const char *exec_id,
                               int64_t after_seq, size_t limit, struct ms_exec_log **out, size_t *n,
                               struct ms_error *err);

    /* snapshots: per sync, what the target acknowledged (key hash → row hash) */
    enum ms_status (*snap_load)(struct ms_store *s, const char *sync_id, ms_snap_fn fn, void *ud,
                                struct ms_error *err);
    enum ms_status (*snap_count)(struct ms_store *s, const char *sync_id, int64_t *n,
                                 struct ms_error *err);
    /* At least snap_count's answer, and equal to it when nothing waits to be compacted: for
     * sizing what a load will fill. Cheap whatever the snapshot's size (snap_count may read it
     * all). */
    enum ms_status (*snap_size_hint)(struct ms_store *s, const char *sync_id, int64_t *n,
                                     struct ms_error *err);
    /* In one transaction: apply the changes and store the execution's progress counts, so a
     * crash never separates what was acknowledged from what the snapshot says. */
    enum ms_status (*snap_apply)(struct ms_store *s, const char *sync_id,
                                 const struct ms_snap_change *c, size_t n, const char *exec_id,
                                 const struct ms_counts *counts, struct ms_error *err);
    enum ms_status (*snap_clear)(struct ms_store *s, const char *sync_id, struct ms_error *err);
    /*
     * The identity texts stored with the n snapshot keys at keys (16 bytes each, back to
     * back), copied into a and NUL-terminated: texts[i] NULL (lens[i] 0) when key i is absent
     * or has no text. One read of the snapshot for all of them, cheapest with the keys in
     * increasing byte order.
     */
    enum ms_status (*snap_key_texts)(struct ms_store *s, struct ms_arena *a, const char *sync_id,
                                     const uint8_t *keys, size_t n, const char **texts,
                                     size_t *lens, struct ms_error *err);
    /*
     * Reorganize the sync's snapshot storage so that later snap_load, snap_count and
     * snap_key_texts calls are cheap; what they return is the same before and after, whatever
     * happens (one transaction, nested in the caller's if any). snap_apply keeps its cost low
     * by deferring work to this call: run it once a run's changes are applied (and before many
     * snap_key_texts lookups). MS_OK with nothing to do, also for an unknown sync.
     */
    enum ms_status (*snap_compact)(struct ms_store *s, const char *sync_id, struct ms_error *err);

    /* scheduler (docs/schedules.md): across organizations, since it serves them all, except
     * sched_get */
    /* Up to limit active syncs whose schedule is not manual, with their schedule_state row,
     * ordered by id, strictly after after_id (NULL: from the first). */
    enum ms_status (*sched_list)(struct ms_store *s, struct ms_arena *a, const char *after_id,
                                 size_t limit, struct ms_sched_sync **out, size_t *n,
                                 struct ms_error *err);
    /* The sync's schedule_state row; MS_ENOTFOUND when it has none. */
    enum ms_status (*sched_get)(struct ms_store *s, struct ms_arena *a, const char *org_id,
                                const char *sync_id, struct ms_sched_state *out,
                                struct ms_error *err);
    /*
     * Compare-and-set: write row (its version ignored) as version expect + 1 if the stored row
     * still has version expect (expect 0: if the sync exists and has no row); *won says whether
     * it did. When it did and ex is not NULL, ex is inserted in the same transaction; if that
     * fails nothing is written and exec_insert's status is returned (MS_ECONFLICT: the sync has
     * a non-terminal execution). now stamps the row (wall clock).
     */
    enum ms_status (*sched_cas)(struct ms_store *s, int64_t expect,
                                const struct ms_sched_state *row, const struct ms_execution *ex,
                                int64_t now, bool *won, struct ms_error *err);
    /* Delete the rows of syncs that are no longer active or whose schedule became manual. */
    enum ms_status (*sched_prune)(struct ms_store *s, int64_t *n, struct ms_error *err);
    /* Up to limit events with seq > after_seq, oldest first. */
    enum ms_status (*sched_events)(struct ms_store *s, struct ms_arena *a, int64_t after_seq,
                                   size_t limit, struct ms_sched_event **out, size_t *n,
                                   struct ms_error *err);
    /* Forget the events with seq <= upto_seq that happened before before (wall clock ms). */
    enum ms_status (*sched_events_prune)(struct ms_store *s, int64_t upto_seq, int64_t before,
                                         struct ms_error *err);
};

struct ms_store {
    const struct ms_store_ops *ops;
};

/*
 * Open a new handle for the calling thread: url is "sqlite:PATH" (a bare path is read as
 * SQLite too) or "postgres://…"/"postgresql://…" (MS_EUNSUPP until that backend lands).
 * Does not migrate. Close with ms_store_close().
 */
enum ms_status ms_store_open(const char *url, struct ms_store **out, struct ms_error *err);

static inline void
ms_store_close(struct ms_store *s)
{
    if (s != NULL)
        s->ops->close(s);
}

#define MS_STORE_CALL(s, op, ...) ((s)->ops->op((s), __VA_ARGS__))

/* One-line wrappers (connAccept() style): ms_store_<op>(s, args…, err). */
#define ms_store_migrate(s, err) ((s)->ops->migrate((s), (err)))
#define ms_store_tx_begin(s, err) ((s)->ops->tx_begin((s), (err)))
#define ms_store_tx_commit(s, err) ((s)->ops->tx_commit((s), (err)))
#define ms_store_tx_rollback(s) ((s)->ops->tx_rollback((s)))
#define ms_store_org_insert(s, ...) MS_STORE_CALL(s, org_insert, __VA_ARGS__)
#define ms_store_org_get(s, ...) MS_STORE_CALL(s, org_get, __VA_ARGS__)
#define ms_store_org_list(s, ...) MS_STORE_CALL(s, org_list, __VA_ARGS__)
#define ms_store_user_insert(s, ...) MS_STORE_CALL(s, user_insert, __VA_ARGS__)
#define ms_store_key_insert(s, ...) MS_STORE_CALL(s, key_insert, __VA_ARGS__)
#define ms_store_key_auth(s, ...) MS_STORE_CALL(s, key_auth, __VA_ARGS__)
#define ms_store_key_list(s, ...) MS_STORE_CALL(s, key_list, __VA_ARGS__)
#define ms_store_key_revoke(s, ...) MS_STORE_CALL(s, key_revoke, __VA_ARGS__)
#define ms_store_conn_insert(s, ...) MS_STORE_CALL(s, conn_insert, __VA_ARGS__)
#define ms_store_conn_update(s, ...) MS_STORE_CALL(s, conn_update, __VA_ARGS__)
#define ms_store_conn_get(s, ...) MS_STORE_CALL(s, conn_get, __VA_ARGS__)
#define ms_store_conn_list(s, ...) MS_STORE_CALL(s, conn_list, __VA_ARGS__)
#define ms_store_conn_delete(s, ...) MS_STORE_CALL(s, conn_delete, __VA_ARGS__)
#define ms_store_conn_usage(s, ...) MS_STORE_CALL(s, conn_usage, __VA_ARGS__)
#define ms_store_conn_set_status(s, ...) MS_STORE_CALL(s, conn_set_status, __VA_ARGS__)
#define ms_store_model_insert(s, ...) MS_STORE_CALL(s, model_insert, __VA_ARGS__)
#define ms_store_model_update(s, ...) MS_STORE_CALL(s, model_update, __VA_ARGS__)
#define ms_store_model_get(s, ...) MS_STORE_CALL(s, model_get, __VA_ARGS__)
#define ms_store_model_list(s, ...) MS_STORE_CALL(s, model_list, __VA_ARGS__)
#define ms_store_model_delete(s, ...) MS_STORE_CALL(s, model_delete, __VA_ARGS__)
#define ms_store_model_usage(s, ...) MS_STORE_CALL(s, model_usage, __VA_ARGS__)
#define ms_store_sync_insert(s, ...) MS_STORE_CALL(s, sync_insert, __VA_ARGS__)
#define ms_store_sync_update(s, ...) MS_STORE_CALL(s, sync_update, __VA_ARGS__)
#define ms_store_sync_get(s, ...) MS_STORE_CALL(s, sync_get, __VA_ARGS__)
#define ms_store_sync_list(s, ...) MS_STORE_CALL(s, sync_list, __VA_ARGS__)
#define ms_store_sync_delete(s, ...) MS_STORE_CALL(s, sync_delete, __VA_ARGS__)
#define ms_store_sync_set_active(s, ...) MS_STORE_CALL(s, sync_set_active, __VA_ARGS__)
#define ms_store_sync_run_after_refs(s, ...) MS_STORE_CALL(s, sync_run_after_refs, __VA_ARGS__)
#define ms_store_sync_get_doc(s, ...) MS_STORE_CALL(s, sync_get_doc, __VA_ARGS__)
#define ms_store_sync_list_docs(s, ...) MS_STORE_CALL(s, sync_list_docs, __VA_ARGS__)
#define ms_store_exec_insert(s, ...) MS_STORE_CALL(s, exec_insert, __VA_ARGS__)
#define ms_store_exec_get(s, ...) MS_STORE_CALL(s, exec_get, __VA_ARGS__)
#define ms_store_exec_list(s, ...) MS_STORE_CALL(s, exec_list, __VA_ARGS__)
#define ms_store_exec_active(s, ...) MS_STORE_CALL(s, exec_active, __VA_ARGS__)
#define ms_store_exec_last(s, ...) MS_STORE_CALL(s, exec_last, __VA_ARGS__)
#define ms_store_exec_claim(s, ...) MS_STORE_CALL(s, exec_claim, __VA_ARGS__)
#define ms_store_exec_renew(s, ...) MS_STORE_CALL(s, exec_renew, __VA_ARGS__)
#define ms_store_exec_finish(s, ...) MS_STORE_CALL(s, exec_finish, __VA_ARGS__)
#define ms_store_exec_cancel(s, ...) MS_STORE_CALL(s, exec_cancel, __VA_ARGS__)
#define ms_store_exec_reap(s, ...) MS_STORE_CALL(s, exec_reap, __VA_ARGS__)
#define ms_store_log_append(s, ...) MS_STORE_CALL(s, log_append, __VA_ARGS__)
#define ms_store_log_list(s, ...) MS_STORE_CALL(s, log_list, __VA_ARGS__)
#define ms_store_snap_load(s, ...) MS_STORE_CALL(s, snap_load, __VA_ARGS__)
#define ms_store_snap_count(s, ...) MS_STORE_CALL(s, snap_count, __VA_ARGS__)
#define ms_store_snap_size_hint(s, ...) MS_STORE_CALL(s, snap_size_hint, __VA_ARGS__)
#define ms_store_snap_apply(s, ...) MS_STORE_CALL(s, snap_apply, __VA_ARGS__)
#define ms_store_snap_clear(s, ...) MS_STORE_CALL(s, snap_clear, __VA_ARGS__)
#define ms_store_snap_key_texts(s, ...) MS_STORE_CALL(s, snap_key_texts, __VA_ARGS__)
#define ms_store_snap_compact(s, ...) MS_STORE_CALL(s, snap_compact, __VA_ARGS__)
#define ms_store_idem_begin(s, ...) MS_STORE_CALL(s, idem_begin, __VA_ARGS__)
#define ms_store_idem_finish(s, ...) MS_STORE_CALL(s, idem_finish, __VA_ARGS__)
#define ms_store_idem_purge(s, ...) MS_STORE_CALL(s, idem_purge, __VA_ARGS__)
#define ms_store_meta_get(s, ...) MS_STORE_CALL(s, meta_get, __VA_ARGS__)
#define ms_store_meta_set(s, ...) MS_STORE_CALL(s, meta_set, __VA_ARGS__)

#define ms_store_sched_list(s, ...) MS_STORE_CALL(s, sched_list, __VA_ARGS__)
#define ms_store_sched_get(s, ...) MS_STORE_CALL(s, sched_get, __VA_ARGS__)
#define ms_store_sched_cas(s, ...) MS_STORE_CALL(s, sched_cas, __VA_ARGS__)
#define ms_store_sched_prune(s, ...) MS_STORE_CALL(s, sched_prune, __VA_ARGS__)
#define ms_store_sched_events(s, ...) MS_STORE_CALL(s, sched_events, __VA_ARGS__)
#define ms_store_sched_events_prune(s, ...) MS_STORE_CALL(s, sched_events_prune, __VA_ARGS__)

#endif
