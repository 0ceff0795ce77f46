/*
 * pagination.h: opaque, authenticated page tokens for keyset-paginated lists (API.md §2.7):
 * GET /api/syncs today, GET /api/syncs/{id}/executions next. Only api/ includes it.
 *
 * A token carries the sort key of the last item returned (a time and a UUID) and a fingerprint
 * of the organization, the list and its filters, signed with the deployment secret: an edited
 * token, or one minted for other filters, is refused with 400 naming page_token.
 */
#ifndef MS_API_PAGINATION_H
#define MS_API_PAGINATION_H

#include <stdint.h>
#include "api/api.h"
#include "core/error.h"
#include "core/uuid.h"

#define MS_PAGE_TOKEN_MAX 512 /* characters of a page_token accepted before decoding */

/* Keyset position: the sort time and id of the last item of the previous page. */
struct ms_page_cursor {
    int64_t sort_ms;          /* updated_at (syncs) or created_at (executions), ms UTC */
    char id[MS_UUID_LEN + 1]; /* lowercase UUID */
};

/*
 * A token for cur, valid for the same organization (req->auth.org_id) and the same scope: a
 * string naming the list and every filter value that shaped it ("syncs|active=1|mode=|..."),
 * built identically when the token comes back. URL-safe base64 without padding, signed with
 * req->cfg->secret. The string lives in the request arena.
 */
const char *ms_page_token_mint(struct ms_req *req, const char *scope,
                               const struct ms_page_cursor *cur);

/*
 * Decode token (as received in the query; '=' padding and leftover percent-escapes accepted)
 * into *cur. MS_EINVAL naming page_token when it is longer than MS_PAGE_TOKEN_MAX, malformed,
 * not signed by this deployment, or minted for another organization, list or filters.
 */
enum ms_status ms_page_token_parse(const struct ms_req *req, const char *token, const char *scope,
                                   struct ms_page_cursor *cur, struct ms_error *err);

#endif
