/*
 * sb_ccred.h - an OAuth2 client-credentials token endpoint (RFC 6749
 * section 4.4) and the access tokens it issued: what WNS's
 * login.live.com/accesstoken.srf and HMS's /oauth2/v3/token both are.
 * One store per provider, so that a WNS token is no good at HMS. The
 * answer's wording is the provider's (sb_wns.c, sb_hms.c); this module
 * checks the form and keeps the tokens.
 */
#ifndef PUSHRELAY_SANDBOX_SB_CCRED_H
#define PUSHRELAY_SANDBOX_SB_CCRED_H

#include <stddef.h>
#include <stdint.h>

#include "sb.h"

#define SB_CCRED_TOKEN_MAX 64      /* an issued token, NUL included */

struct sb_ccred;

/*
 * sb_ccred_new makes an empty store whose tokens start with 'prefix'
 * (copied; at most 16 characters) and live 'ttl_s' seconds. PR_ENOMEM.
 */
int sb_ccred_new(const char *prefix, long ttl_s, struct sb_ccred **out);
void sb_ccred_free(struct sb_ccred *c);

/* What sb_ccred_grant made of a token request. */
enum sb_ccred_result {
    SB_CCRED_ISSUED = 0,    /* 'token' holds a fresh access token */
    SB_CCRED_DOWN,          /* the endpoint is down (sb_ccred_down): 503 */
    SB_CCRED_BAD_REQUEST,   /* not a POSTed form, or grant_type is not client_credentials */
    SB_CCRED_BAD_CLIENT,    /* client_id or client_secret missing or empty */
    SB_CCRED_BAD_SCOPE,     /* 'scope' was required and the form does not carry it */
    SB_CCRED_FAILED,        /* out of memory or randomness: 500 */
};

/*
 * sb_ccred_grant reads the form in 'req' (grant_type=client_credentials,
 * client_id, client_secret, and scope == 'scope' unless 'scope' is NULL).
 * Any non-empty credentials are accepted: the sandbox checks that the
 * relay sends them, not what they are. On SB_CCRED_ISSUED the token is in
 * 'token' and counted in ctx->stats.tokens_issued.
 */
enum sb_ccred_result sb_ccred_grant(struct sb_ctx *ctx, struct sb_ccred *c, const struct sb_req *req,
                                    const char *scope, char token[SB_CCRED_TOKEN_MAX]);

/*
 * sb_ccred_issue draws a fresh token into 'token' and remembers it as live
 * until 'now_ms' plus the store's lifetime: for token endpoints with
 * another grant (sb_oauth.c's JWT bearer grant). PR_ECRYPTO, PR_ENOMEM.
 */
int sb_ccred_issue(struct sb_ccred *c, int64_t now_ms, char token[SB_CCRED_TOKEN_MAX]);

/* sb_ccred_ttl: the lifetime of the tokens issued, in seconds (for expires_in). */
long sb_ccred_ttl(const struct sb_ccred *c);

/* sb_ccred_check: 0 if 'authorization' ("Bearer <token>") carries a live token of 'c', else PR_EINVAL. */
int sb_ccred_check(struct sb_ccred *c, const char *authorization, int64_t now_ms);

/* sb_ccred_expire_all invalidates every token issued so far. */
void sb_ccred_expire_all(struct sb_ccred *c);

/* sb_ccred_down makes sb_ccred_grant answer SB_CCRED_DOWN until 'until_ms'. */
void sb_ccred_down(struct sb_ccred *c, int64_t until_ms);

#endif
