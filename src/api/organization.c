/*
 * organization.c: C2 GET /api/organization, the organization the credential belongs to.
 * SSO members (sso_domain, sso_org_id, issuer) are not part of modelsync and are omitted.
 */
#include "api/api_int.h"

static enum ms_status org_get(struct ms_req *req, struct ms_error *err);

const struct ms_route ms_api_organization_routes[] = {
    {"GET", "/api/organization", org_get, 0},
    {NULL, NULL, NULL, 0},
};

static enum ms_status
org_get(struct ms_req *req, struct ms_error *err)
{
    struct ms_org org;
    enum ms_status st;
    json_t *d;

    st = ms_store_org_get(req->store, req->arena, req->auth.org_id, &org, err);
    if (st != MS_OK)
        return st;
    d = json_object();
    json_object_set_new(d, "id", json_string(org.id));
    json_object_set_new(d, "name", json_string(org.name));
    req->reply = ms_api_data(d);
    return MS_OK;
}
