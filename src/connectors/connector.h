/*
 * connector.h: the plugin ABI every connector implements (STYLE.md §5), and the registry.
 *
 * A connector is a const struct ms_connector of function pointers. The core allocates
 * desc->size bytes for an open connection (the implementation's struct embeds struct ms_cx
 * first), calls open(), and calls close() iff open() returned MS_OK. A NULL slot means "not
 * supported". An open connection is used by one thread at a time: the engine may read a
 * source on its reader thread and write a target on its writer thread, handing the connection
 * over under a lock, never using it from two threads at once.
 *
 * JSON out-parameters are new references owned by the caller. Configurations given to open()
 * have their secrets unsealed; validate() sees the request's configuration and does no I/O.
 */
#ifndef MS_CONNECTORS_CONNECTOR_H
#define MS_CONNECTORS_CONNECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "core/arena.h"
#include "core/error.h"

#define MS_CONNECTOR_ABI 1 /* bump when a slot changes meaning; add slots only at the end */

#define MS_ROWS_DEFAULT 1000                  /* rows per read batch */
#define MS_MAX_VALUE_BYTES ((size_t)16 << 20) /* one source value; larger → MS_ETOOBIG */
#define MS_MAX_COLUMNS 1024                   /* columns of one model */
#define MS_CX_TIMEOUT_S 10                    /* connect / request timeout for remote systems */

enum {
    MS_CX_SOURCE = 1 << 0,   /* fields(), read_begin(), read(), read_end() are set */
    MS_CX_DEST = 1 << 1,     /* objects(), object_fields(), write_begin(), write(), write_end() */
    MS_CX_CREATE = 1 << 2,   /* create_object() is set: target creation */
    MS_CX_FREEFORM = 1 << 3, /* destination fields are free-form: any mapping target is valid,
                                object_fields() may return [] (webhook) */
    MS_CX_NOKEY = 1 << 4,    /* destination cannot address a record by key (files): update,
                                upsert and delete ops are refused, and replace is always a full
                                rewrite (write_plan.full) */
};

/* control() ops, with the type of arg; a connector answers MS_EUNSUPP to ops it does not know. */
enum {
    MS_CX_CTL_RETRY_AFTER = 1, /* int64_t *: seconds the remote system asked to wait (HTTP
                                  Retry-After) with the last MS_EBUSY; 0 when it named none */
};

/*
 * One typed source value. Text points into the batch arena (not NUL-terminated necessarily).
 * MS_V_NUM is a finite number kept as the decimal text the source printed (u.s, p[len] ==
 * '\0'): it matches the JSON number grammar (ms_value_num_ok), so writers can copy it into
 * JSON, CSV or COPY text as is, and strtod reads it exactly. It means the number, not the
 * text: it compares, filters and converts like the MS_V_REAL of its value.
 */
enum ms_vtype { MS_V_NULL, MS_V_INT, MS_V_REAL, MS_V_BOOL, MS_V_TEXT, MS_V_NUM };

struct ms_value {
    enum ms_vtype type;
    union {
        int64_t i;
        double d;
        bool b;
        struct {
            const char *p; /* arena; p[len] == '\0' */
            size_t len;
        } s;
    } u;
};

/* A batch of source rows, row-major, allocated in the batch arena. */
struct ms_rows {
    struct ms_arena *arena; /* borrowed: where read() puts cells and text */
    size_t cap;             /* max rows read() may return (set by the caller, > 0) */
    size_t ncols;           /* set by read_begin() */
    const char **cols;      /* column names [ncols], set by read_begin(); arena of the reader */
    size_t nrows;           /* rows in this batch; 0 = exhausted */
    struct ms_value *cells; /* nrows * ncols; cells[r * ncols + c] */
};

struct ms_connector;

/* What one execution writes, fixed for its duration (write_begin .. write_end). */
struct ms_write_plan {
    const char *object;       /* target object id ("public.users", "out.csv", "records") */
    const char *mode;         /* sync mode (API.md §4.1) */
    size_t ncols;             /* mapped target fields, in op value order */
    const char *const *cols;  /* target field ids [ncols] */
    const char *const *types; /* UtilFieldType of each column's source [ncols] */
    const char *key_col;      /* identity target field (one of cols), NULL without identity */
    const char *sync_id;
    const char *execution_id;
    bool full; /* replace without identity / snapshot: the run sends every
                  record and the object must end up holding exactly them */
};

enum ms_op_kind { MS_OP_INSERT, MS_OP_UPDATE, MS_OP_UPSERT, MS_OP_DELETE };

/* One record operation. The connector sets rejected/error; everything else is the engine's. */
struct ms_op {
    enum ms_op_kind kind;
    const struct ms_value *vals; /* plan->ncols values (batch arena); for deletes may be NULL */
    struct ms_value key;         /* identity value (MS_V_NULL without identity) */
    bool rejected;               /* the target refused this record (constraint, type, 4xx) */
    const char *error;           /* why, in the batch arena (when rejected) */
};

/* A batch of operations for write(); at most MS_ROWS_DEFAULT-ish, all in one arena. */
struct ms_ops {
    struct ms_arena *arena;           /* batch arena: connectors may allocate here */
    const struct ms_write_plan *plan; /* borrowed from write_begin() */
    size_t n;
    struct ms_op *op;
};

struct ms_cx { /* one open connection; implementations embed it as their first member */
    const struct ms_connector *impl;
};

struct ms_connector {
    unsigned abi;                /* MS_CONNECTOR_ABI when the connector was built */
    const char *type;            /* id in GET /api/connection_types: "postgresql" */
    const char *name;            /* display name: "PostgreSQL" */
    unsigned flags;              /* MS_CX_* */
    size_t size;                 /* sizeof the implementation's struct */
    const char *const *secrets;  /* NULL-terminated configuration members that are secret */
    const char *schema;          /* JSON Schema text of the configuration (C4), draft 2020-12 */
    const char *target_creation; /* TargetCreator JSON text (B7), NULL if not supported */

    /* Configuration check without I/O: types, required and extra members (400 naming it). */
    enum ms_status (*validate)(const json_t *cfg, struct ms_error *err);
    /* Model configuration check without I/O ({"table"} / {"query"} / {"file"}). */
    enum ms_status (*model_validate)(const json_t *model_cfg, struct ms_error *err);

    /* On failure, release what was acquired: close() runs iff open() returned MS_OK. */
    enum ms_status (*open)(struct ms_cx *cx, const json_t *cfg, struct ms_error *err);
    /* Prove the system is reachable and usable (C10): MS_EUPSTREAM with its message if not. */
    enum ms_status (*test)(struct ms_cx *cx, struct ms_error *err);

    /* A1: SyncSourceMetaResponse for the choices in params (map<string,string[]>, may be NULL). */
    enum ms_status (*describe)(struct ms_cx *cx, const json_t *params, json_t **out,
                               struct ms_error *err);
    /* A2 / model discovery: [{"name","type","remote_type"}] of the model configuration. */
    enum ms_status (*fields)(struct ms_cx *cx, const json_t *model_cfg, json_t **out,
                             struct ms_error *err);
    /* Start reading the model; sets rows->ncols and rows->cols (in rows->arena). */
    enum ms_status (*read_begin)(struct ms_cx *cx, const json_t *model_cfg, struct ms_rows *rows,
                                 struct ms_error *err);
    /* Next up to rows->cap rows into rows (cells in rows->arena); MS_OK with nrows == 0 = end. */
    enum ms_status (*read)(struct ms_cx *cx, struct ms_rows *rows, struct ms_error *err);
    /* Stop reading (also after an error or early stop); safe to call without read_begin(). */
    void (*read_end)(struct ms_cx *cx);

    /* B7: [{"id","name","modes":[SupportedMode]}] of the objects this destination can write. */
    enum ms_status (*objects)(struct ms_cx *cx, json_t **out, struct ms_error *err);
    /* B8: [TargetField] of one object; MS_ENOTFOUND when the object does not exist. */
    enum ms_status (*object_fields)(struct ms_cx *cx, const char *object, json_t **out,
                                    struct ms_error *err);
    /*
     * Target creation: create an object from props (Target.create) with columns for fields
     * ([{"name","type"}]); *object_out is the new object's id (a new malloc'd string).
     * A field may also carry "identity": true (at most one, the sync's identity target, except
     * in append mode): a database connector makes that column unique, so the keyed writes'
     * lookups use an index, and refuses a non-boolean identity (MS_EINVAL naming "fields");
     * connectors without indexes (files) ignore the member.
     */
    enum ms_status (*create_object)(struct ms_cx *cx, const json_t *props, const json_t *fields,
                                    char **object_out, struct ms_error *err);
    /* MS_OK: every op has a result (acknowledged, or rejected with a reason).
     * Any other status: nothing in the batch counts as acknowledged. */
    enum ms_status (*write)(struct ms_cx *cx, struct ms_ops *ops, struct ms_error *err);
    /* Connector-specific operations; MS_EUNSUPP for unknown ops. */
    enum ms_status (*control)(struct ms_cx *cx, int op, void *arg);
    void (*close)(struct ms_cx *cx);
    /*
     * Start writing one execution's batches (the plan outlives write_end). A connector may
     * open a transaction, a staging table or a temporary file here (replace/snapshot).
     */
    enum ms_status (*write_begin)(struct ms_cx *cx, const struct ms_write_plan *plan,
                                  struct ms_error *err);
    /* commit: the run finished; make a full rewrite visible (rename, COMMIT). !commit: drop
     * what is not yet acknowledged (temporary files, open transactions). */
    enum ms_status (*write_end)(struct ms_cx *cx, bool commit, struct ms_error *err);
    /*
     * Ops per write() this destination handles best (each call costs a round trip, a
     * transaction or a sync); 0 = MS_ROWS_DEFAULT. The engine uses it unless the run sets
     * its own batch size, and bounds it (engine.c ENG_OPS_MAX).
     */
    size_t write_batch;
};

/* Built-in descriptors (connectors/<type>.c). */
extern const struct ms_connector ms_connector_sqlite;
extern const struct ms_connector ms_connector_postgresql;
extern const struct ms_connector ms_connector_csv;
extern const struct ms_connector ms_connector_jsonl;
extern const struct ms_connector ms_connector_webhook;

#ifdef MS_TESTING
/* Test builds only (memory.c, fault.c): found by ms_cx_find(), not listed by ms_cx_all(). */
extern const struct ms_connector ms_connector_memory;
extern const struct ms_connector ms_connector_fault;
/* Rows the memory destination named name holds in object: a new reference ([] when none). */
json_t *ms_cx_memory_rows(const char *name, const char *object);
/* write() calls the memory destination named name has received, over all its objects. */
int64_t ms_cx_memory_writes(const char *name);
/* Forget every memory destination's rows. */
void ms_cx_memory_reset(void);
#endif

/* ---- registry (connectors/registry.c) ---- */

/* Check every built-in's ABI and the slots its flags promise; MS_EINTERNAL naming the first bad. */
enum ms_status ms_cx_registry_check(struct ms_error *err);
/* The connector of a type id, or NULL. */
const struct ms_connector *ms_cx_find(const char *type);
/* All built-ins, in listing order; *n set to their count. */
const struct ms_connector *const *ms_cx_all(size_t *n);

/* Allocate and open; on success *out must be closed with ms_cx_close(). */
enum ms_status ms_cx_open(const struct ms_connector *impl, const json_t *cfg, struct ms_cx **out,
                          struct ms_error *err);
/* close() and free; NULL is a no-op. */
void ms_cx_close(struct ms_cx *cx);

/* The value as JSON (new reference): null, integer, real (also MS_V_NUM), boolean or string. */
json_t *ms_value_to_json(const struct ms_value *v);

/*
 * True when p[0..len) is a JSON number (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?) whose
 * double is finite: what a reader checks before it produces MS_V_NUM. p need not be
 * NUL-terminated.
 */
bool ms_value_num_ok(const char *p, size_t len);

/* The double of a MS_V_REAL, MS_V_NUM (strtod of its text) or MS_V_INT value; NaN otherwise. */
double ms_value_double(const struct ms_value *v);

#define MS_VALUE_REAL_LEN 32 /* room for ms_value_real_text() */

/*
 * The shortest of "%.15g", "%.16g", "%.17g" that strtod reads back as d (so 0.1 is "0.1"),
 * NUL-terminated; returns its length. NaN and infinities: 0 and "".
 */
size_t ms_value_real_text(double d, char out[MS_VALUE_REAL_LEN]);

#define MS_VALUE_INT_LEN 21 /* sign, digits and NUL of any int64_t */

/* i in decimal at out, NUL-terminated; returns its length (two digits per division). */
size_t ms_value_int_text(int64_t i, char out[MS_VALUE_INT_LEN]);

/*
 * Read up to max rows of a model into a JSON array of objects {column: value} (samples,
 * previews). Opens nothing: cx must be open. *out is a new reference.
 */
enum ms_status ms_cx_sample(struct ms_cx *cx, const json_t *model_cfg, size_t max, json_t **out,
                            struct ms_error *err);

/* ---- helpers for implementations (connectors/registry.c) ---- */

/* Append a row to rows (grows cells in rows->arena); returns the row's ncols cells, all NULL. */
struct ms_value *ms_rows_push(struct ms_rows *rows);
/* Set a text cell, copying len bytes into rows->arena; MS_ETOOBIG over MS_MAX_VALUE_BYTES. */
enum ms_status ms_value_set_text(struct ms_rows *rows, struct ms_value *v, const char *p,
                                 size_t len, struct ms_error *err);

/* SupportedMode JSON for a mode id, with its requires_identity flag. New reference. */
json_t *ms_cx_mode(const char *id, bool requires_identity);

#endif
