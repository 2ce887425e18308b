/*
 * sb_ccred.c - client-credentials token endpoints (sb_ccred.h): parse the
 * form with evhttp's query parser, issue random tokens, remember their
 * expiry. Called by sb_wns.c and sb_hms.c (endpoints and checks),
 * sb_oauth.c (its token store) and sb_control.c (expire-tokens, oauth-down).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/rand.h>

#include "pushrelay/error.h"
#include "jwt.h"
#include "sb_ccred.h"
#include "sb_map.h"

#define CCRED_PREFIX_MAX 16
#define CCRED_RANDOM_LEN 24        /* 32 base64url characters */
#define CCRED_TOKENS_MAX 1000000   /* a load test must not grow the store forever */

struct sb_ccred {
    char prefix[CCRED_PREFIX_MAX + 1];
    long ttl_s;
    struct sb_map *tokens;         /* access token -> expiry (ms since the epoch) */
    int64_t down_until_ms;
};

int sb_ccred_new(const char *prefix, long ttl_s, struct sb_ccred **out)
{
    struct sb_ccred *c = calloc(1, sizeof(*c));
    if (c == NULL || strlen(prefix) > CCRED_PREFIX_MAX || (c->tokens = sb_map_new()) == NULL) {
        free(c);
        return PR_ENOMEM;
    }
    strcpy(c->prefix, prefix);
    c->ttl_s = ttl_s;
    *out = c;
    return 0;
}

void sb_ccred_free(struct sb_ccred *c)
{
    if (c == NULL)
        return;
    sb_map_free(c->tokens);
    free(c);
}

long sb_ccred_ttl(const struct sb_ccred *c) { return c->ttl_s; }

void sb_ccred_expire_all(struct sb_ccred *c) { sb_map_clear(c->tokens); }

void sb_ccred_down(struct sb_ccred *c, int64_t until_ms) { c->down_until_ms = until_ms; }

int sb_ccred_check(struct sb_ccred *c, const char *authorization, int64_t now_ms)
{
    if (authorization == NULL || strncasecmp(authorization, "bearer ", 7) != 0)
        return PR_EINVAL;
    const char *tok = authorization + 7;
    int64_t *exp = sb_map_get(c->tokens, tok, strlen(tok));
    return exp != NULL && *exp > now_ms ? 0 : PR_EINVAL;
}

int sb_ccred_issue(struct sb_ccred *c, int64_t now_ms, char token[SB_CCRED_TOKEN_MAX])
{
    unsigned char rnd[CCRED_RANDOM_LEN];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return PR_ECRYPTO;
    char *b64 = jwt_b64url(rnd, sizeof(rnd));
    if (b64 == NULL)
        return PR_ENOMEM;
    size_t n = (size_t)snprintf(token, SB_CCRED_TOKEN_MAX, "%s%s", c->prefix, b64);
    free(b64);
    if (sb_map_count(c->tokens) >= CCRED_TOKENS_MAX)
        sb_map_clear(c->tokens);
    int created;
    int64_t *exp = sb_map_slot(c->tokens, token, n, &created);
    if (exp == NULL)
        return PR_ENOMEM;
    *exp = now_ms + (int64_t)c->ttl_s * 1000;
    return 0;
}

static int ccred_filled(const char *v) { return v != NULL && v[0] != '\0'; }

enum sb_ccred_result sb_ccred_grant(struct sb_ctx *ctx, struct sb_ccred *c, const struct sb_req *req,
                                    const char *scope, char token[SB_CCRED_TOKEN_MAX])
{
    int64_t now_ms = sb_now_ms();
    enum sb_ccred_result res = SB_CCRED_BAD_REQUEST;
    struct evkeyvalq form;
    char *body = NULL;

    TAILQ_INIT(&form);
    if (now_ms < c->down_until_ms)
        return SB_CCRED_DOWN;
    if (strcmp(req->method, "POST") != 0)
        return SB_CCRED_BAD_REQUEST;
    /* evhttp's form parser wants a NUL-terminated string */
    if ((body = strndup(req->body, req->bodylen)) == NULL) {
        res = SB_CCRED_FAILED;
        goto out;
    }
    if (evhttp_parse_query_str(body, &form) != 0)
        goto out;
    const char *grant = evhttp_find_header(&form, "grant_type");
    if (grant == NULL || strcmp(grant, "client_credentials") != 0)
        goto out;
    res = SB_CCRED_BAD_CLIENT;
    if (!ccred_filled(evhttp_find_header(&form, "client_id")) ||
        !ccred_filled(evhttp_find_header(&form, "client_secret")))
        goto out;
    const char *got_scope = evhttp_find_header(&form, "scope");
    res = SB_CCRED_BAD_SCOPE;
    if (scope != NULL && (got_scope == NULL || strcmp(got_scope, scope) != 0))
        goto out;
    res = SB_CCRED_FAILED;
    if (sb_ccred_issue(c, now_ms, token) == 0) {
        res = SB_CCRED_ISSUED;
        ctx->stats.tokens_issued++;
    }
out:
    evhttp_clear_headers(&form);
    free(body);
    return res;
}
