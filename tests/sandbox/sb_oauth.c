/*
 * sb_oauth.c - the sandbox's Google OAuth2 token endpoint (POST /token on
 * the HTTP/2 listener) and the store of access tokens it issued.
 *
 * The relay exchanges a service-account assertion (RFC 7523 JWT bearer
 * grant) for an access token, then sends FCM requests with it. The sandbox
 * checks the assertion against the public half of --fcm-service-account's
 * private_key: RS256 signature, iss == client_email, aud == token_uri (or
 * any URL ending in /token, so that a relay pointed at the sandbox passes),
 * scope naming firebase.messaging, exp in the future, iat not ahead of now
 * by more than 60 s. The tokens it issues are kept in an sb_ccred store
 * (sb_ccred.c), like WNS's and HMS's. Called by sb_router.c (endpoint),
 * sb_fcm.c (token check) and sb_control.c (expire, down).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "sb.h"
#include "sb_jwt.h"
#include "sb_ccred.h"
#include "sb_oauth.h"

#define OAUTH_GRANT "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define OAUTH_IAT_SKEW_S 60

struct sb_oauth {
    EVP_PKEY *key;          /* NULL without --fcm-service-account: every grant refused */
    char *client_email;
    char *token_uri;
    struct sb_ccred *tokens;  /* the access tokens issued */
    int64_t down_until_ms;
};

int sb_oauth_new(const struct sb_opts *opts, struct sb_oauth **out)
{
    int rc = PR_ENOMEM;
    json_t *sa = NULL;
    struct sb_oauth *o = calloc(1, sizeof(*o));
    if (o == NULL || sb_ccred_new("ya29.sandbox-", opts->oauth_token_ttl, &o->tokens) != 0)
        goto fail;
    if (opts->fcm_service_account != NULL) {
        rc = PR_ECONFIG;
        json_error_t jerr;
        sa = json_load_file(opts->fcm_service_account, 0, &jerr);
        const char *pem = json_string_value(json_object_get(sa, "private_key"));
        const char *email = json_string_value(json_object_get(sa, "client_email"));
        const char *uri = json_string_value(json_object_get(sa, "token_uri"));
        if (pem == NULL || email == NULL) {
            pr_log_error("sandbox", "%s: not a service account (private_key, client_email)",
                         opts->fcm_service_account);
            goto fail;
        }
        o->key = sb_jwt_load_key(pem, -1);
        if (o->key == NULL) {
            pr_log_error("sandbox", "%s: unreadable private_key", opts->fcm_service_account);
            goto fail;
        }
        o->client_email = strdup(email);
        o->token_uri = strdup(uri ? uri : "");
        if (o->client_email == NULL || o->token_uri == NULL) {
            rc = PR_ENOMEM;
            goto fail;
        }
    }
    json_decref(sa);
    *out = o;
    return 0;
fail:
    json_decref(sa);
    sb_oauth_free(o);
    return rc;
}

void sb_oauth_free(struct sb_oauth *o)
{
    if (o == NULL)
        return;
    EVP_PKEY_free(o->key);
    free(o->client_email);
    free(o->token_uri);
    sb_ccred_free(o->tokens);
    free(o);
}

void sb_oauth_expire_all(struct sb_oauth *o) { sb_ccred_expire_all(o->tokens); }

void sb_oauth_down(struct sb_oauth *o, int64_t until_ms) { o->down_until_ms = until_ms; }

int sb_oauth_check(struct sb_oauth *o, const char *authorization, int64_t now_ms)
{
    return sb_ccred_check(o->tokens, authorization, now_ms);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* oauth_claims_ok checks the assertion's claims; returns NULL or what is wrong. */
static const char *oauth_claims_ok(struct sb_oauth *o, json_t *c, int64_t now_s)
{
    const char *iss = json_string_value(json_object_get(c, "iss"));
    const char *aud = json_string_value(json_object_get(c, "aud"));
    const char *scope = json_string_value(json_object_get(c, "scope"));
    json_t *exp = json_object_get(c, "exp"), *iat = json_object_get(c, "iat");
    if (iss == NULL || strcmp(iss, o->client_email) != 0)
        return "iss is not the service account's client_email";
    if (aud == NULL || (strcmp(aud, o->token_uri) != 0 && !ends_with(aud, "/token")))
        return "aud is not the token URI";
    if (scope == NULL || strstr(scope, "firebase.messaging") == NULL)
        return "scope lacks firebase.messaging";
    if (!json_is_integer(exp) || json_integer_value(exp) <= now_s)
        return "assertion expired";
    if (!json_is_integer(iat) || json_integer_value(iat) > now_s + OAUTH_IAT_SKEW_S)
        return "iat in the future";
    return NULL;
}

static void oauth_answer(struct sb_resp *resp, int status, const char *error, const char *desc)
{
    resp->status = status;
    sb_resp_header(resp, "content-type", "application/json; charset=utf-8");
    if (desc != NULL)
        sb_buf_printf(resp->body, "{\"error\":\"%s\",\"error_description\":\"%s\"}", error, desc);
    else
        sb_buf_printf(resp->body, "{\"error\":\"%s\"}", error);
}

/*
 * oauth_issue makes a fresh access token, remembers it and writes the
 * answer. Tokens look like Google's ("ya29." prefix) so that a relay which
 * logs them redacted shows something familiar.
 */
static void oauth_issue(struct sb_ctx *ctx, struct sb_resp *resp, int64_t now_ms)
{
    struct sb_oauth *o = ctx->oauth;
    char tok[SB_CCRED_TOKEN_MAX];
    if (sb_ccred_issue(o->tokens, now_ms, tok) != 0) {
        oauth_answer(resp, 500, "internal_failure", NULL);
        return;
    }
    ctx->stats.tokens_issued++;
    resp->status = 200;
    sb_resp_header(resp, "content-type", "application/json; charset=utf-8");
    sb_buf_printf(resp->body, "{\"access_token\":\"%s\",\"expires_in\":%ld,\"token_type\":\"Bearer\"}",
                  tok, sb_ccred_ttl(o->tokens));
}

void sb_oauth_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    struct sb_oauth *o = ctx->oauth;
    int64_t now_ms = sb_now_ms();
    struct evkeyvalq form;
    char *body = NULL;
    json_t *h = NULL, *c = NULL;

    TAILQ_INIT(&form);
    if (now_ms < o->down_until_ms) {
        oauth_answer(resp, 503, "temporarily_unavailable", "sandbox oauth-down");
        sb_resp_header(resp, "retry-after", "1");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        oauth_answer(resp, 405, "invalid_request", "POST required");
        return;
    }
    /* evhttp's form parser wants a NUL-terminated string */
    body = strndup(req->body, req->bodylen);
    if (body == NULL || evhttp_parse_query_str(body, &form) != 0) {
        oauth_answer(resp, 400, "invalid_request", "body is not a form");
        goto out;
    }
    const char *grant = evhttp_find_header(&form, "grant_type");
    const char *assertion = evhttp_find_header(&form, "assertion");
    if (grant == NULL || strcmp(grant, OAUTH_GRANT) != 0) {
        oauth_answer(resp, 400, "unsupported_grant_type", NULL);
        goto out;
    }
    if (o->key == NULL) {
        oauth_answer(resp, 400, "invalid_grant", "no --fcm-service-account configured");
        goto out;
    }
    if (assertion == NULL ||
        sb_jwt_verify(assertion, strlen(assertion), o->key, "RS256", &h, &c) != 0) {
        oauth_answer(resp, 400, "invalid_grant", "Invalid JWT Signature.");
        goto out;
    }
    const char *why = oauth_claims_ok(o, c, now_ms / 1000);
    if (why != NULL) {
        oauth_answer(resp, 400, "invalid_grant", why);
        goto out;
    }
    oauth_issue(ctx, resp, now_ms);
out:
    evhttp_clear_headers(&form);
    free(body);
    json_decref(h);
    json_decref(c);
}
