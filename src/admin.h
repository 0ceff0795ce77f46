/*
 * admin.h: organization and key administration shared by the CLI subcommands (init, keys, orgs)
 * and the first start of `serve`. Runs on the main thread with its own store handle.
 */
#ifndef MS_ADMIN_H
#define MS_ADMIN_H

#include <stdbool.h>
#include "core/error.h"
#include "core/uuid.h"
#include "store/store.h"

#define MS_KEY_MAX 64 /* "msu_" + 43 base64url characters + NUL fits */

/* What `init` creates; the keys are shown once and never stored in clear. */
struct ms_admin_org {
    char org_id[MS_UUID_LEN + 1];
    char user_id[MS_UUID_LEN + 1];
    char api_key[MS_KEY_MAX];     /* user key (Bearer) */
    char org_api_key[MS_KEY_MAX]; /* organization key (Basic) */
};

/* Create an organization, its first user, a user key and an organization key, atomically. */
enum ms_status ms_admin_init_org(struct ms_store *s, const char *org_name, const char *email,
                                 struct ms_admin_org *out, struct ms_error *err);

/*
 * On a store without organizations: create "Default Organization" with user admin@localhost,
 * print its user API key once on stdout and save the credentials as JSON to
 * <data_dir>/initial-credentials.json (mode 0600). *created tells whether it did.
 */
enum ms_status ms_admin_bootstrap(struct ms_store *s, const char *data_dir, bool *created,
                                  struct ms_error *err);

/*
 * New key for an organization: user_id non-NULL → a user key for that user, else an
 * organization key. The key is written to key_out once.
 */
enum ms_status ms_admin_key_create(struct ms_store *s, const char *org_id, const char *user_id,
                                   char key_out[MS_KEY_MAX], char id_out[MS_UUID_LEN + 1],
                                   struct ms_error *err);

#endif
