/*
 * admin.c: organizations, users and API keys created outside the HTTP API. Keys are 32 random
 * bytes in URL-safe base64 behind a class prefix ("msu_" user, "mso_" organization) so a leaked
 * key is recognisable; the store keeps only their SHA-256.
 */
#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "core/crypto.h"
#include "core/time.h"

#define ADMIN_DEFAULT_ORG "Default Organization"
#define ADMIN_DEFAULT_EMAIL "admin@localhost"

static void
admin_new_key(const char *prefix, char key[MS_KEY_MAX])
{
    uint8_t raw[32];
    size_t plen = strlen(prefix);

    ms_random_bytes(raw, sizeof(raw));
    memcpy(key, prefix, plen);
    ms_b64url_encode(raw, sizeof(raw), key + plen);
}

static enum ms_status
admin_insert_key(struct ms_store *s, const char *org_id, const char *user_id, const char *key,
                 char id_out[MS_UUID_LEN + 1], struct ms_error *err)
{
    char hash[MS_SHA256_HEX_LEN + 1];
    char label[16];
    struct ms_api_key k;

    ms_sha256_hex(key, strlen(key), hash);
    snprintf(label, sizeof(label), "%.8s...", key);
    ms_uuid_new(id_out);
    memset(&k, 0, sizeof(k));
    k.id = id_out;
    k.org_id = org_id;
    k.user_id = user_id;
    k.kind = user_id != NULL ? MS_ACTOR_USER : MS_ACTOR_ORGANIZATION;
    k.hash = hash;
    k.label = label;
    k.created_at = ms_time_now_ms();
    return ms_store_key_insert(s, &k, err);
}

enum ms_status
ms_admin_key_create(struct ms_store *s, const char *org_id, const char *user_id,
                    char key_out[MS_KEY_MAX], char id_out[MS_UUID_LEN + 1], struct ms_error *err)
{
    admin_new_key(user_id != NULL ? "msu_" : "mso_", key_out);
    return admin_insert_key(s, org_id, user_id, key_out, id_out, err);
}

enum ms_status
ms_admin_init_org(struct ms_store *s, const char *org_name, const char *email,
                  struct ms_admin_org *out, struct ms_error *err)
{
    struct ms_org org = {0};
    struct ms_user user = {0};
    char key_id[MS_UUID_LEN + 1];
    enum ms_status st;

    if (org_name == NULL || org_name[0] == '\0')
        return ms_fail_at(err, MS_EINVAL, "--org", "an organization name is required");
    if (email == NULL || strchr(email, '@') == NULL)
        return ms_fail_at(err, MS_EINVAL, "--email", "a valid email address is required");
    memset(out, 0, sizeof(*out));
    ms_uuid_new(out->org_id);
    ms_uuid_new(out->user_id);
    org.id = out->org_id;
    org.name = org_name;
    org.created_at = ms_time_now_ms();
    user.id = out->user_id;
    user.org_id = out->org_id;
    user.email = email;
    user.name = email;
    user.created_at = org.created_at;

    st = ms_store_tx_begin(s, err);
    if (st != MS_OK)
        return st;
    st = ms_store_org_insert(s, &org, err);
    if (st == MS_OK)
        st = ms_store_user_insert(s, &user, err);
    if (st == MS_OK)
        st = ms_admin_key_create(s, out->org_id, out->user_id, out->api_key, key_id, err);
    if (st == MS_OK)
        st = ms_admin_key_create(s, out->org_id, NULL, out->org_api_key, key_id, err);
    if (st == MS_OK)
        st = ms_store_tx_commit(s, err);
    if (st != MS_OK)
        ms_store_tx_rollback(s);
    return st;
}

/* Write the first credentials where only the operator can read them. */
static enum ms_status
admin_save_credentials(const struct ms_admin_org *o, const char *path_buf, struct ms_error *err)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "organization_id", o->org_id, "user_id",
                          o->user_id, "email", ADMIN_DEFAULT_EMAIL, "api_key", o->api_key,
                          "org_api_key", o->org_api_key);
    char *text = json_dumps(j, JSON_INDENT(2));
    enum ms_status st = MS_OK;
    int fd;

    json_decref(j);
    fd = open(path_buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || write(fd, "\n", 1) != 1)
        st = ms_fail(err, MS_EINTERNAL, "cannot write %s: %s", path_buf, strerror(errno));
    if (fd >= 0 && fchmod(fd, 0600) != 0 && st == MS_OK)
        st = ms_fail(err, MS_EINTERNAL, "cannot chmod %s: %s", path_buf, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(text);
    return st;
}

enum ms_status
ms_admin_bootstrap(struct ms_store *s, const char *data_dir, bool *created, struct ms_error *err)
{
    struct ms_arena *a = ms_arena_new();
    struct ms_org *orgs = NULL;
    struct ms_admin_org o;
    char path[4096];
    size_t n = 0;
    enum ms_status st;

    *created = false;
    st = ms_store_org_list(s, a, &orgs, &n, err);
    if (st != MS_OK || n > 0)
        goto out;
    st = ms_admin_init_org(s, ADMIN_DEFAULT_ORG, ADMIN_DEFAULT_EMAIL, &o, err);
    if (st != MS_OK)
        goto out;
    snprintf(path, sizeof(path), "%s/initial-credentials.json", data_dir);
    st = admin_save_credentials(&o, path, err);
    if (st != MS_OK)
        goto out;
    *created = true;
    printf("created organization \"%s\" (%s)\n", ADMIN_DEFAULT_ORG, o.org_id);
    printf("user API key (shown once, also saved to %s):\n  %s\n", path, o.api_key);
    fflush(stdout);
out:
    ms_arena_free(a);
    return st;
}
