/*
 * identity.c: C1 GET /api/me. Reports who the credential is: a user key acts as its user, an
 * organization key as the organization (no user id or email, API.md §2.2). Reads only the
 * request's auth record, filled by http/auth.c.
 */
#include "api/api_int.h"

static enum ms_status me_get(struct ms_req *req, struct ms_error *err);

const struct ms_route ms_api_identity_routes[] = {
    {"GET", "/api/me", me_get, 0},
    {NULL, NULL, NULL, 0},
};

static enum ms_status
me_get(struct ms_req *req, struct ms_error *err)
{
    const struct ms_auth *a = &req->auth;
    const char *org_name = a->org_name;
    struct ms_org org;
    enum ms_status st;
    json_t *d;

    if (org_name == NULL) {
        st = ms_store_org_get(req->store, req->arena, a->org_id, &org, err);
        if (st != MS_OK)
            return st;
        org_name = org.name;
    }
    d = json_object();
    if (a->kind == MS_ACTOR_USER) {
        json_object_set_new(d, "id", json_string(a->user_id));
        if (a->user_email != NULL)
            json_object_set_new(d, "email", json_string(a->user_email));
    }
    json_object_set_new(d, "organization_id", json_string(a->org_id));
    json_object_set_new(d, "organization_name", json_string(org_name));
    json_object_set_new(d, "is_user", json_boolean(a->kind == MS_ACTOR_USER));
    json_object_set_new(d, "is_organization", json_boolean(a->kind == MS_ACTOR_ORGANIZATION));
    json_object_set_new(d, "is_partner", json_boolean(a->kind == MS_ACTOR_PARTNER));
    json_object_set_new(d, "is_system", json_boolean(a->kind == MS_ACTOR_SYSTEM));
    req->reply = ms_api_data(d);
    return MS_OK;
}
