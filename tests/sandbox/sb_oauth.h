/*
 * sb_oauth.h - the sandbox's OAuth2 token endpoint and the access tokens it issued.
 */
#ifndef PUSHRELAY_SANDBOX_SB_OAUTH_H
#define PUSHRELAY_SANDBOX_SB_OAUTH_H

#include "sb.h"

/*
 * sb_oauth_new reads 'opts->fcm_service_account' (if set) for the key and
 * client_email assertions must match. PR_ECONFIG (logged), PR_ENOMEM.
 */
int sb_oauth_new(const struct sb_opts *opts, struct sb_oauth **out);
void sb_oauth_free(struct sb_oauth *o);

/* sb_oauth_handle answers POST /token into 'resp' (never fails). */
void sb_oauth_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp);

/* sb_oauth_check: 0 if 'authorization' ("Bearer <token>") carries a live token issued here, else PR_EINVAL. */
int sb_oauth_check(struct sb_oauth *o, const char *authorization, int64_t now_ms);

/* sb_oauth_expire_all invalidates every access token issued so far. */
void sb_oauth_expire_all(struct sb_oauth *o);

/* sb_oauth_down makes the token endpoint answer 503 until 'until_ms'. */
void sb_oauth_down(struct sb_oauth *o, int64_t until_ms);

#endif
