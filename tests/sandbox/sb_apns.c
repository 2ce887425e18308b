/*
 * sb_apns.c - the sandbox's APNs provider API: POST /3/device/<token> on
 * HTTP/2, checked the way Apple documents it, answered 200 with apns-id or an
 * error {"reason":"..."} (410 adds "timestamp").
 *
 * Checks, in order: method, token, provider token (when --apns-key is given:
 * ES256 signature, alg/kid, iss == team, iat within the last hour), topic,
 * push type, priority, expiration, apns-id, collapse id, payload size and
 * JSON. Then the token's behaviour marker (sb_behaviour.h) may turn the
 * answer into a scripted error, a delay or a reset. Called by sb_router.c.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "sb.h"
#include "sb_apns.h"
#include "sb_behaviour.h"
#include "sb_json.h"
#include "sb_jwt.h"
#include "sb_map.h"
#include "sb_record.h"

#define APNS_PREFIX "/3/device/"
#define APNS_MAX_PAYLOAD 4096
#define APNS_MAX_PAYLOAD_VOIP 5120
#define APNS_TOKEN_MAX 200
#define APNS_JWT_MAX_AGE_S 3600
#define APNS_JWT_SKEW_S 60          /* iat this far ahead of our clock is tolerated */
#define APNS_JWT_CACHE_MAX 100000

/*
 * Verified provider tokens are cached by their exact string, since a relay
 * reuses one token for up to an hour: the signature is checked once, the age
 * on every request. The value packs the verdict with the token's iat:
 *
 *   value = iat << 2 | verdict      verdict: 1 good signature/claims, 2 invalid
 */
enum { APNS_JWT_GOOD = 1, APNS_JWT_INVALID = 2 };

struct sb_apns {
    EVP_PKEY *key;          /* NULL: no token auth (certificate-style clients) */
    const char *team;
    const char *key_id;
    struct sb_map *jwts;
    uint64_t provider_tokens;   /* distinct good tokens verified (the cache is cleared when full) */
    uint64_t rng;           /* xorshift state for generated apns-ids */
};

int sb_apns_new(const struct sb_opts *opts, struct sb_apns **out)
{
    struct sb_apns *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return PR_ENOMEM;
    if (opts->apns_key != NULL) {
        a->key = sb_jwt_load_key_file(opts->apns_key);
        if (a->key == NULL) {
            pr_log_error("sandbox", "cannot read APNs key %s", opts->apns_key);
            free(a);
            return PR_ECONFIG;
        }
        if (opts->apns_team == NULL || opts->apns_key_id == NULL) {
            pr_log_error("sandbox", "--apns-key needs --apns-team and --apns-key-id");
            EVP_PKEY_free(a->key);
            free(a);
            return PR_ECONFIG;
        }
    }
    a->team = opts->apns_team;
    a->key_id = opts->apns_key_id;
    a->jwts = sb_map_new();
    if (a->jwts == NULL || RAND_bytes((unsigned char *)&a->rng, sizeof(a->rng)) != 1) {
        sb_apns_free(a);
        return PR_ENOMEM;
    }
    a->rng |= 1;
    *out = a;
    return 0;
}

void sb_apns_free(struct sb_apns *a)
{
    if (a == NULL)
        return;
    EVP_PKEY_free(a->key);
    sb_map_free(a->jwts);
    free(a);
}

/* ---- answers ----------------------------------------------------------- */

static void apns_error(struct sb_resp *resp, int status, const char *reason)
{
    resp->status = status;
    if (status == 410)
        sb_buf_printf(resp->body, "{\"reason\":\"%s\",\"timestamp\":%lld}", reason,
                      (long long)sb_now_ms());
    else
        sb_buf_printf(resp->body, "{\"reason\":\"%s\"}", reason);
    sb_resp_header(resp, "content-type", "application/json");
    if (status == 429 || status == 503)
        sb_resp_header(resp, "retry-after", "1");
}

/* The reason Apple gives for a status when a token marker asks for it. */
static const char *apns_reason_for(int status)
{
    switch (status) {
    case 400: return "BadDeviceToken";
    case 403: return "InvalidProviderToken";
    case 404: return "BadPath";
    case 405: return "MethodNotAllowed";
    case 410: return "Unregistered";
    case 413: return "PayloadTooLarge";
    case 429: return "TooManyRequests";
    case 500: return "InternalServerError";
    case 503: return "ServiceUnavailable";
    }
    return status >= 500 ? "InternalServerError" : "BadRequest";
}

/* ---- checks ------------------------------------------------------------ */

static int is_uuid(const char *s)
{
    static const int dash[] = { 8, 13, 18, 23 };
    if (strlen(s) != 36)
        return 0;
    for (int i = 0, d = 0; i < 36; i++) {
        if (d < 4 && i == dash[d]) {
            if (s[i] != '-')
                return 0;
            d++;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static int is_digits(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int is_push_type(const char *t)
{
    static const char *const types[] = { "alert", "background", "location", "voip",
                                         "complication", "fileprovider", "mdm",
                                         "liveactivity", "pushtotalk" };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(t, types[i]) == 0)
            return 1;
    return 0;
}

/* apns_duplicate: one of Apple's request headers appears more than once. */
static int apns_duplicate(const struct sb_req *req)
{
    unsigned seen = 0;
    static const char *const names[] = { "authorization", "apns-topic", "apns-push-type",
                                         "apns-priority", "apns-expiration", "apns-id",
                                         "apns-collapse-id" };
    for (size_t i = 0; i < req->nhdrs; i++) {
        if (req->hdrs[i].name[0] != 'a')
            continue;
        for (unsigned k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            if (strcmp(req->hdrs[i].name, names[k]) != 0)
                continue;
            if (seen & (1u << k))
                return 1;
            seen |= 1u << k;
        }
    }
    return 0;
}

/* apns_jwt_verdict verifies 'jwt' fully (no cache); returns the packed value. */
static int64_t apns_jwt_verdict(struct sb_apns *a, const char *jwt)
{
    json_t *h = NULL, *c = NULL;
    int64_t v = APNS_JWT_INVALID;
    if (sb_jwt_verify(jwt, strlen(jwt), a->key, "ES256", &h, &c) != 0)
        return v;
    const char *kid = json_string_value(json_object_get(h, "kid"));
    const char *iss = json_string_value(json_object_get(c, "iss"));
    json_t *iat = json_object_get(c, "iat");
    if (kid != NULL && strcmp(kid, a->key_id) == 0 && iss != NULL && strcmp(iss, a->team) == 0 &&
        json_is_integer(iat) && json_integer_value(iat) > 0)
        v = (int64_t)json_integer_value(iat) << 2 | APNS_JWT_GOOD;
    json_decref(h);
    json_decref(c);
    return v;
}

/* apns_auth returns NULL when 'authorization' is acceptable, else the reason. */
static const char *apns_auth(struct sb_apns *a, const char *authorization, int64_t now_ms)
{
    if (authorization == NULL)
        return "MissingProviderToken";
    if (strncasecmp(authorization, "bearer ", 7) != 0)
        return "InvalidProviderToken";
    const char *jwt = authorization + 7;
    size_t len = strlen(jwt);
    int64_t *v = sb_map_get(a->jwts, jwt, len);
    if (v == NULL) {
        if (sb_map_count(a->jwts) >= APNS_JWT_CACHE_MAX)
            sb_map_clear(a->jwts);
        int created;
        int64_t verdict = apns_jwt_verdict(a, jwt);
        v = sb_map_slot(a->jwts, jwt, len, &created);
        if (v == NULL)
            return "InternalServerError";
        *v = verdict;
        if ((verdict & 3) == APNS_JWT_GOOD)
            a->provider_tokens++;
    }
    if ((*v & 3) != APNS_JWT_GOOD)
        return "InvalidProviderToken";
    int64_t iat = *v >> 2, now = now_ms / 1000;
    if (iat > now + APNS_JWT_SKEW_S || now - iat > APNS_JWT_MAX_AGE_S)
        return "ExpiredProviderToken";
    return NULL;
}

static void apns_set_id(struct sb_apns *a, const struct sb_req *req, struct sb_resp *resp)
{
    const char *id = sb_req_header(req, "apns-id");
    if (id != NULL && is_uuid(id)) {
        sb_resp_header(resp, "apns-id", "%s", id);
        return;
    }
    uint64_t r[2];
    for (int i = 0; i < 2; i++) {
        a->rng ^= a->rng << 13;
        a->rng ^= a->rng >> 7;
        a->rng ^= a->rng << 17;
        r[i] = a->rng;
    }
    /* version 4 layout: 4 in the version nibble, 10xx in the variant bits */
    sb_resp_header(resp, "apns-id", "%08X-%04X-4%03X-%04X-%012llX", (unsigned)(r[0] >> 32),
                   (unsigned)(r[0] >> 16) & 0xffff, (unsigned)r[0] & 0xfff,
                   (unsigned)(0x8000 | ((r[1] >> 48) & 0x3fff)),
                   (unsigned long long)(r[1] & 0xffffffffffffULL));
}

/* apns_check returns NULL when 'req' is a well-formed push, else sets the status and reason. */
static const char *apns_check(struct sb_apns *a, const struct sb_req *req, const char *token,
                              int *status)
{
    const char *v;
    *status = 400;
    if (strcmp(req->method, "POST") != 0) {
        *status = 405;
        return "MethodNotAllowed";
    }
    if (*token == '\0')
        return "MissingDeviceToken";
    for (const char *p = token; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return "BadDeviceToken";
    if (apns_duplicate(req))
        return "DuplicateHeaders";
    if (a->key != NULL) {
        const char *why = apns_auth(a, sb_req_header(req, "authorization"), sb_now_ms());
        if (why != NULL) {
            *status = 403;
            return why;
        }
    }
    if ((v = sb_req_header(req, "apns-topic")) == NULL || *v == '\0')
        return "MissingTopic";
    const char *type = sb_req_header(req, "apns-push-type");
    if (type == NULL || !is_push_type(type))
        return "InvalidPushType";
    if ((v = sb_req_header(req, "apns-priority")) != NULL && strcmp(v, "5") != 0 &&
        strcmp(v, "10") != 0 && strcmp(v, "1") != 0)
        return "BadPriority";
    if ((v = sb_req_header(req, "apns-expiration")) != NULL && !is_digits(v))
        return "BadExpirationDate";
    if ((v = sb_req_header(req, "apns-id")) != NULL && !is_uuid(v))
        return "BadMessageId";
    if ((v = sb_req_header(req, "apns-collapse-id")) != NULL && strlen(v) > 64)
        return "BadCollapseId";
    size_t max = strcmp(type, "voip") == 0 ? APNS_MAX_PAYLOAD_VOIP : APNS_MAX_PAYLOAD;
    if (req->body_truncated || req->bodylen > max) {
        *status = 413;
        return "PayloadTooLarge";
    }
    if (req->bodylen == 0)
        return "PayloadEmpty";
    if (!sb_json_object_has(req->body, req->bodylen, "aps"))
        return "BadPayload";
    return NULL;
}

void sb_apns_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    struct sb_apns *a = ctx->apns;
    char token[APNS_TOKEN_MAX + 1];
    const char *t = req->path + strlen(APNS_PREFIX);
    size_t tlen = strcspn(t, "?");
    if (tlen > APNS_TOKEN_MAX) {
        apns_set_id(a, req, resp);
        apns_error(resp, 400, "BadDeviceToken");
        return;
    }
    memcpy(token, t, tlen);
    token[tlen] = '\0';

    apns_set_id(a, req, resp);
    int status;
    const char *reason = apns_check(a, req, token, &status);
    ctx->stats.apns_provider_tokens = a->provider_tokens;
    if (reason != NULL) {
        apns_error(resp, status, reason);
        return;
    }
    struct sb_decision d = sb_behaviour_decide(ctx->behaviour, PR_PROVIDER_APNS, token);
    if (sb_behaviour_apply(&d, resp))
        return;
    if (d.kind == SB_BEHAVE_ERROR) {
        apns_error(resp, d.status, apns_reason_for(d.status));
        return;
    }
    resp->status = 200;
    sb_deliver(ctx, resp, PR_PROVIDER_APNS, token, req);
}
