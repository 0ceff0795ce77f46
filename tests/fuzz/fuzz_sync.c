/*
 * fuzz_sync.c: CreateSyncRequest / UpdateSyncRequest bodies, as api/syncs.c handles them: the
 * body goes through json_loadb(JSON_DECODE_ANY) (invalid JSON stops here, as it does with a
 * 400 before any parsing), then ms_sync_parse(), then the I/O-free checks that follow it
 * (ms_sched_validate, ms_sync_check_mappings). Besides the sanitizers: a refused object names
 * the offending member, and an accepted one is a fixed point of GET → PUT: serving the stored
 * configuration (ms_sync_to_json) as JSON text and parsing it again gives the same configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model/model.h"
#include "sched/sched.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(c)                                                                                \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_sync: check failed: %s (line %d)\n", #c, __LINE__);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FZ_ID "0b0b2f6c-4f0e-4c4e-9a51-8d1f3c5e7a90"
#define FZ_ORG "a4e2bf40-0429-4897-bb6a-3c9dc7b9cd14"

/* What a client sending back the SyncResponse of the stored config gets stored the next time. */
static void
fz_fixed_point(json_t *cfg, int active)
{
    struct ms_sync y;
    json_t *served, *sent, *again = NULL, *want;
    struct ms_error err;
    int active2 = -2;
    char *text;

    memset(&y, 0, sizeof(y));
    y.id = FZ_ID;
    y.org_id = FZ_ORG;
    y.active = active != 0;
    y.created_at = y.updated_at = INT64_C(1700000000000);
    ms_sync_set_config(&y, cfg);
    served = ms_sync_to_json(&y);
    json_decref(ms_sync_list_item(&y));
    text = json_dumps(served, JSON_COMPACT);
    FZ_CHECK(text != NULL);
    sent = json_loads(text, JSON_DECODE_ANY, NULL);
    FZ_CHECK(sent != NULL);
    if (ms_sync_parse(sent, &again, &active2, &err) != MS_OK) {
        fprintf(stderr, "fuzz_sync: served config refused: %s\n%s\n", err.msg, text);
        abort();
    }
    want = json_deep_copy(cfg);
    json_object_del(want, "encryption_passphrase"); /* never served (D6) */
    if (!json_equal(want, again)) {
        char *a = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
        char *b = json_dumps(again, JSON_COMPACT | JSON_SORT_KEYS);

        fprintf(stderr, "fuzz_sync: GET -> PUT changed the configuration\n%s\n%s\n", a, b);
        abort();
    }
    FZ_CHECK(active2 == (active != 0));
    json_decref(want);
    json_decref(again);
    json_decref(sent);
    free(text);
    json_decref(served);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr), *cfg = NULL;
    struct ms_error err;
    int active = -2;
    enum ms_status st;

    if (body == NULL)
        return 0;
    memset(&err, 0, sizeof(err));
    st = ms_sync_parse(body, &cfg, &active, &err);
    if (st != MS_OK && st != MS_EINVAL && st != MS_ETOOBIG && st != MS_EUNPROC &&
        st != MS_EUNSUPP) {
        fprintf(stderr, "fuzz_sync: unexpected status %s: %s\n", ms_status_name(st), err.msg);
        abort();
    }
    if (st != MS_OK && json_is_object(body) && err.field[0] == '\0') {
        fprintf(stderr, "fuzz_sync: refused without naming a member: %s\n", err.msg);
        abort();
    }
    if (st == MS_OK) {
        json_t *ids = ms_sync_model_ids(cfg);

        FZ_CHECK(json_is_object(cfg) && json_is_array(ids));
        FZ_CHECK(active >= -1 && active <= 1);
        st = ms_sched_validate(json_object_get(cfg, "schedule"), &err);
        FZ_CHECK(st == MS_OK || st == MS_EINVAL);
        st = ms_sync_check_mappings(cfg, false, &err);
        FZ_CHECK(st == MS_OK || st == MS_EUNPROC);
        st = ms_sync_check_mappings(cfg, true, &err);
        FZ_CHECK(st == MS_OK || st == MS_EUNPROC);
        fz_fixed_point(cfg, active == -1 ? 1 : active);
        json_decref(ids);
        json_decref(cfg);
    }
    json_decref(body);
    return 0;
}
