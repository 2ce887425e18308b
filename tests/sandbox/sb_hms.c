/*
 * sb_hms.c - the sandbox's HMS Push Kit (sb_hms.h). HMS puts its verdict
 * in the body's "code" as much as in the HTTP status; the table below is
 * what the sandbox answers for each status a behaviour marker
 * (sb_behaviour.h) scripts, and for its own checks:
 *
 *   HTTP  code       msg                                 when
 *   401   80200003   OAuth token expired.                no live access token of ours
 *   413   80300008   The message body size exceeds...   body over 4096 bytes
 *   400   80100001   Some request parameters are...     not JSON with message.token[0] and
 *                                                        message.android.notification's
 *                                                        title and body strings
 *   400   80300007   All the tokens are invalid          marker e400
 *   429/5xx 81000001 System inner error                  markers e429, e5xx (Retry-After: 1)
 *   4xx   80100001   Some request parameters are...     other e4xx markers
 *   200   80000000   Success                             otherwise
 *
 * The token for markers is message.token[0]. Called by sb_router.c.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "sb.h"
#include "sb_behaviour.h"
#include "sb_ccred.h"
#include "sb_hms.h"
#include "sb_record.h"

#define HMS_BODY_MAX 4096
#define HMS_TOKEN_MAX 512

struct hms_code {
    int status;            /* 0: any status not listed before */
    const char *code;
    const char *msg;
};

static const struct hms_code hms_codes[] = {
    { 200, "80000000", "Success" },
    { 400, "80300007", "All the tokens are invalid" },
    { 401, "80200003", "OAuth token expired." },
    { 413, "80300008", "The message body size exceeds the default value" },
    { 429, "81000001", "System inner error" },
    { 0, "81000001", "System inner error" },     /* 5xx */
};

/* Other 4xx: a request HMS would refuse for its parameters. */
static const struct hms_code hms_bad_request = { 400, "80100001", "Some request parameters are incorrect" };

static void hms_answer(struct sb_ctx *ctx, struct sb_resp *resp, int status, const char *code,
                       const char *msg)
{
    const struct hms_code *c = hms_codes;
    while (c->status != 0 && c->status != status)
        c++;
    if (c->status == 0 && status < 500)
        c = &hms_bad_request;
    resp->status = status;
    sb_resp_header(resp, "content-type", "application/json;charset=UTF-8");
    if (status == 429 || status >= 500)
        sb_resp_header(resp, "retry-after", "1");
    sb_buf_printf(resp->body, "{\"code\":\"%s\",\"msg\":\"%s\",\"requestId\":\"%lld%06llu\"}",
                  code != NULL ? code : c->code, msg != NULL ? msg : c->msg,
                  (long long)sb_now_ms(), (unsigned long long)(ctx->stats.requests % 1000000));
}

void sb_hms_token_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    char token[SB_CCRED_TOKEN_MAX];
    enum sb_ccred_result r = sb_ccred_grant(ctx, ctx->hms_tokens, req, NULL, token);
    sb_resp_header(resp, "content-type", "application/json;charset=UTF-8");
    switch (r) {
    case SB_CCRED_ISSUED:
        resp->status = 200;
        sb_buf_printf(resp->body, "{\"access_token\":\"%s\",\"expires_in\":%ld,\"token_type\":\"Bearer\"}",
                      token, sb_ccred_ttl(ctx->hms_tokens));
        return;
    case SB_CCRED_DOWN:
        resp->status = 503;
        sb_resp_header(resp, "retry-after", "1");
        sb_buf_printf(resp->body, "{\"error\":1203,\"error_description\":\"sandbox oauth-down\"}");
        return;
    case SB_CCRED_FAILED:
        resp->status = 500;
        sb_buf_printf(resp->body, "{\"error\":1203,\"error_description\":\"internal error\"}");
        return;
    case SB_CCRED_BAD_CLIENT:
        resp->status = 400;
        sb_buf_printf(resp->body, "{\"error\":1101,\"sub_error\":20203,\"error_description\":\"invalid client\"}");
        return;
    case SB_CCRED_BAD_REQUEST:
    case SB_CCRED_BAD_SCOPE:
        break;
    }
    resp->status = 400;
    sb_buf_printf(resp->body, "{\"error\":1102,\"error_description\":\"missing required param\"}");
}

/*
 * hms_token copies message.token[0] of the body into 'out'; -1 unless the
 * message is well formed: a notification message with a title and a body.
 */
static int hms_token(const struct sb_req *req, char out[HMS_TOKEN_MAX + 1])
{
    json_t *root = json_loadb(req->body, req->bodylen, 0, NULL);
    json_t *msg = json_object_get(root, "message");
    const char *tok = json_string_value(json_array_get(json_object_get(msg, "token"), 0));
    json_t *notif = json_object_get(json_object_get(msg, "android"), "notification");
    int rc = -1;
    if (tok != NULL && tok[0] != '\0' && strlen(tok) <= HMS_TOKEN_MAX &&
        json_is_string(json_object_get(notif, "title")) && json_is_string(json_object_get(notif, "body"))) {
        strcpy(out, tok);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

/* hms_app_ok: 1 when 'path' is /v1/<app id>/messages:send with a non-empty app id. */
static int hms_app_ok(const char *path)
{
    const char *app = path + strlen(SB_HMS_PREFIX);
    size_t alen = strcspn(app, "/");
    return alen > 0 && strcmp(app + alen, SB_HMS_SUFFIX) == 0;
}

void sb_hms_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    char token[HMS_TOKEN_MAX + 1];

    if (!hms_app_ok(req->path)) {
        hms_answer(ctx, resp, 404, "80100001", "No such API");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        hms_answer(ctx, resp, 405, "80100001", "POST required");
        return;
    }
    if (sb_ccred_check(ctx->hms_tokens, sb_req_header(req, "authorization"), sb_now_ms()) != 0) {
        hms_answer(ctx, resp, 401, NULL, NULL);
        return;
    }
    if (req->body_truncated || req->bodylen > HMS_BODY_MAX) {
        hms_answer(ctx, resp, 413, NULL, NULL);
        return;
    }
    if (hms_token(req, token) != 0) {
        hms_answer(ctx, resp, 400, "80100001", "Some request parameters are incorrect");
        return;
    }
    struct sb_decision d = sb_behaviour_decide(ctx->behaviour, SB_PROVIDER_HMS, token);
    if (sb_behaviour_apply(&d, resp))
        return;
    if (d.kind == SB_BEHAVE_ERROR) {
        hms_answer(ctx, resp, d.status, NULL, NULL);
        return;
    }
    hms_answer(ctx, resp, 200, NULL, NULL);
    sb_deliver(ctx, resp, SB_PROVIDER_HMS, token, req);
}
