/*
 * fault.c (test builds only): fault injection around the memory connector (STYLE.md §7).
 *
 * Configuration: {"inner": <memory configuration>, "slot": "write", "nth": 2, "times": 1,
 * "status": "ebusy", "message": "…", "retry_after": 0}. Calls of the chosen slot (read_begin,
 * read, write_begin, write or write_end) are counted per open connection; calls nth to
 * nth + times - 1 (every call from nth on when times is 0) fail with the status (named as
 * ms_status_name() spells it) and the message, without reaching the inner connection, so a
 * failed write acknowledges nothing. A failed write_end() still drops the inner connection's
 * uncommitted rewrite. control(MS_CX_CTL_RETRY_AFTER) answers retry_after. Used from API tests
 * through the connection configuration as much as from unit tests.
 */
#ifdef MS_TESTING

#include "connectors/connector.h"

#include <stdio.h>
#include <string.h>

#include "model/model.h"

enum fault_slot { F_READ_BEGIN, F_READ, F_WRITE_BEGIN, F_WRITE, F_WRITE_END, F_SLOTS };

static const char *const fault_slots[F_SLOTS] = {"read_begin", "read", "write_begin", "write",
                                                 "write_end"};

struct fault_cx {
    struct ms_cx base;   /* must be first */
    struct ms_cx *inner; /* owned: the memory connection */
    enum fault_slot slot;
    int64_t nth, times, retry_after;
    enum ms_status status;
    char message[200];
    int64_t calls[F_SLOTS];
};

static bool
fault_slot_of(const char *name, enum fault_slot *out)
{
    for (int i = 0; name != NULL && i < F_SLOTS; i++)
        if (strcmp(name, fault_slots[i]) == 0) {
            *out = (enum fault_slot)i;
            return true;
        }
    return false;
}

static bool
fault_status_of(const char *name, enum ms_status *out)
{
    for (int i = 1; name != NULL && i < MS_STATUS_COUNT; i++)
        if (strcmp(name, ms_status_name((enum ms_status)i)) == 0) {
            *out = (enum ms_status)i;
            return true;
        }
    return false;
}

static enum ms_status
fault_int(const json_t *cfg, const char *key, int64_t min, int64_t dflt, int64_t *out,
          struct ms_error *err)
{
    const json_t *v = json_object_get(cfg, key);

    *out = dflt;
    if (v == NULL)
        return MS_OK;
    if (!json_is_integer(v) || json_integer_value(v) < min)
        return ms_fail_at(err, MS_EINVAL, key, "must be an integer >= %lld", (long long)min);
    *out = (int64_t)json_integer_value(v);
    return MS_OK;
}

/* Check cfg and, when f is not NULL, fill it. */
static enum ms_status
fault_parse(const json_t *cfg, struct fault_cx *f, struct ms_error *err)
{
    static const char *const allowed[] = {"inner",  "slot",    "nth",         "times",
                                          "status", "message", "retry_after", NULL};
    struct fault_cx tmp;
    const char *slot = NULL, *status = NULL, *msg = "fault injected";
    enum ms_status st;

    if (f == NULL)
        f = &tmp;
    if (!json_is_object(cfg))
        return ms_fail_at(err, MS_EINVAL, "configuration", "must be an object");
    if ((st = ms_json_only(cfg, allowed, "configuration", err)) != MS_OK ||
        (st = ms_connector_memory.validate(json_object_get(cfg, "inner"), err)) != MS_OK ||
        (st = ms_json_req_str(cfg, "slot", "configuration.slot", &slot, err)) != MS_OK ||
        (st = ms_json_req_str(cfg, "status", "configuration.status", &status, err)) != MS_OK ||
        (st = ms_json_opt_str(cfg, "message", "configuration.message", &msg, err)) != MS_OK ||
        (st = fault_int(cfg, "nth", 1, 1, &f->nth, err)) != MS_OK ||
        (st = fault_int(cfg, "times", 0, 1, &f->times, err)) != MS_OK ||
        (st = fault_int(cfg, "retry_after", 0, 0, &f->retry_after, err)) != MS_OK)
        return st;
    if (!fault_slot_of(slot, &f->slot))
        return ms_fail_at(err, MS_EINVAL, "configuration.slot",
                          "read_begin, read, write_begin, write or write_end");
    if (!fault_status_of(status, &f->status))
        return ms_fail_at(err, MS_EINVAL, "configuration.status", "not a status name");
    snprintf(f->message, sizeof(f->message), "%s", msg);
    return MS_OK;
}

static enum ms_status
fault_validate(const json_t *cfg, struct ms_error *err)
{
    return fault_parse(cfg, NULL, err);
}

static enum ms_status
fault_model_validate(const json_t *mcfg, struct ms_error *err)
{
    return ms_connector_memory.model_validate(mcfg, err);
}

static enum ms_status
fault_open(struct ms_cx *cx, const json_t *cfg, struct ms_error *err)
{
    struct fault_cx *f = (struct fault_cx *)cx;
    enum ms_status st = fault_parse(cfg, f, err);

    if (st != MS_OK)
        return st;
    return ms_cx_open(&ms_connector_memory, json_object_get(cfg, "inner"), &f->inner, err);
}

static void
fault_close(struct ms_cx *cx)
{
    ms_cx_close(((struct fault_cx *)cx)->inner);
}

/* Count a call of slot; MS_OK when it may go through, else the injected failure. */
static enum ms_status
fault_hit(struct fault_cx *f, enum fault_slot slot, struct ms_error *err)
{
    int64_t n = ++f->calls[slot];

    if (slot != f->slot || n < f->nth || (f->times > 0 && n >= f->nth + f->times))
        return MS_OK;
    return ms_fail(err, f->status, "%s (%s call %lld)", f->message, fault_slots[slot],
                   (long long)n);
}

#define FAULT_INNER(cx) (((struct fault_cx *)(cx))->inner)

static enum ms_status
fault_test(struct ms_cx *cx, struct ms_error *err)
{
    return ms_connector_memory.test(FAULT_INNER(cx), err);
}

static enum ms_status
fault_describe(struct ms_cx *cx, const json_t *params, json_t **out, struct ms_error *err)
{
    return ms_connector_memory.describe(FAULT_INNER(cx), params, out, err);
}

static enum ms_status
fault_fields(struct ms_cx *cx, const json_t *mcfg, json_t **out, struct ms_error *err)
{
    return ms_connector_memory.fields(FAULT_INNER(cx), mcfg, out, err);
}

static enum ms_status
fault_read_begin(struct ms_cx *cx, const json_t *mcfg, struct ms_rows *rows, struct ms_error *err)
{
    enum ms_status st = fault_hit((struct fault_cx *)cx, F_READ_BEGIN, err);

    return st != MS_OK ? st : ms_connector_memory.read_begin(FAULT_INNER(cx), mcfg, rows, err);
}

static enum ms_status
fault_read(struct ms_cx *cx, struct ms_rows *rows, struct ms_error *err)
{
    enum ms_status st = fault_hit((struct fault_cx *)cx, F_READ, err);

    return st != MS_OK ? st : ms_connector_memory.read(FAULT_INNER(cx), rows, err);
}

static void
fault_read_end(struct ms_cx *cx)
{
    ms_connector_memory.read_end(FAULT_INNER(cx));
}

static enum ms_status
fault_objects(struct ms_cx *cx, json_t **out, struct ms_error *err)
{
    return ms_connector_memory.objects(FAULT_INNER(cx), out, err);
}

static enum ms_status
fault_object_fields(struct ms_cx *cx, const char *object, json_t **out, struct ms_error *err)
{
    return ms_connector_memory.object_fields(FAULT_INNER(cx), object, out, err);
}

static enum ms_status
fault_write_begin(struct ms_cx *cx, const struct ms_write_plan *plan, struct ms_error *err)
{
    enum ms_status st = fault_hit((struct fault_cx *)cx, F_WRITE_BEGIN, err);

    return st != MS_OK ? st : ms_connector_memory.write_begin(FAULT_INNER(cx), plan, err);
}

static enum ms_status
fault_write(struct ms_cx *cx, struct ms_ops *ops, struct ms_error *err)
{
    enum ms_status st = fault_hit((struct fault_cx *)cx, F_WRITE, err);

    return st != MS_OK ? st : ms_connector_memory.write(FAULT_INNER(cx), ops, err);
}

static enum ms_status
fault_write_end(struct ms_cx *cx, bool commit, struct ms_error *err)
{
    enum ms_status st = fault_hit((struct fault_cx *)cx, F_WRITE_END, err);
    struct ms_error ignored;

    if (st == MS_OK)
        return ms_connector_memory.write_end(FAULT_INNER(cx), commit, err);
    ms_connector_memory.write_end(FAULT_INNER(cx), false, &ignored);
    return st;
}

static enum ms_status
fault_control(struct ms_cx *cx, int op, void *arg)
{
    if (op != MS_CX_CTL_RETRY_AFTER)
        return MS_EUNSUPP;
    *(int64_t *)arg = ((struct fault_cx *)cx)->retry_after;
    return MS_OK;
}

static const char *const fault_secrets[] = {NULL};

const struct ms_connector ms_connector_fault = {
    .abi = MS_CONNECTOR_ABI,
    .type = "fault",
    .name = "Fault injection (tests)",
    .flags = MS_CX_SOURCE | MS_CX_DEST,
    .size = sizeof(struct fault_cx),
    .secrets = fault_secrets,
    .schema = "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
              " \"title\": \"Fault injection (tests)\", \"type\": \"object\","
              " \"properties\": {\"inner\": {\"type\": \"object\"},"
              " \"slot\": {\"enum\": [\"read_begin\", \"read\", \"write_begin\", \"write\","
              " \"write_end\"]}, \"nth\": {\"type\": \"integer\", \"minimum\": 1},"
              " \"times\": {\"type\": \"integer\", \"minimum\": 0},"
              " \"status\": {\"type\": \"string\"}, \"message\": {\"type\": \"string\"},"
              " \"retry_after\": {\"type\": \"integer\", \"minimum\": 0}},"
              " \"required\": [\"inner\", \"slot\", \"status\"], \"additionalProperties\": false}",
    .validate = fault_validate,
    .model_validate = fault_model_validate,
    .open = fault_open,
    .test = fault_test,
    .describe = fault_describe,
    .fields = fault_fields,
    .read_begin = fault_read_begin,
    .read = fault_read,
    .read_end = fault_read_end,
    .objects = fault_objects,
    .object_fields = fault_object_fields,
    .write = fault_write,
    .control = fault_control,
    .close = fault_close,
    .write_begin = fault_write_begin,
    .write_end = fault_write_end,
};

#endif
