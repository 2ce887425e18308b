/*
 * sb_fcm.c - the sandbox's FCM HTTP v1 API:
 * POST /v1/projects/<project>/messages:send with an access token issued by
 * sb_oauth.c and a body {"message":{"token":"...",...}}.
 *
 * Success is 200 {"name":"projects/<p>/messages/<id>"}; errors use Google's
 * shape {"error":{"code":N,"message":"...","status":"...","details":[
 * {"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError",
 * "errorCode":"..."}]}}. A rejected access token is a plain 401
 * UNAUTHENTICATED without FcmError details, as Google answers it. Called by
 * sb_router.c.
 */
#include <stdio.h>
#include <string.h>

#include "sb.h"
#include "sb_behaviour.h"
#include "sb_fcm.h"
#include "sb_json.h"
#include "sb_oauth.h"
#include "sb_record.h"

#define FCM_PREFIX "/v1/projects/"
#define FCM_SUFFIX "/messages:send"
#define FCM_PROJECT_MAX 128
#define FCM_TOKEN_MAX 4096

struct fcm_error {
    int code;
    const char *status;
    const char *error_code;  /* FcmError errorCode; NULL: no details */
    const char *message;
};

static const struct fcm_error fcm_errors[] = {
    { 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token" },
    { 401, "UNAUTHENTICATED", NULL, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential." },
    { 403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch" },
    { 404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found." },
    { 429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for quota metric 'Send requests'" },
    { 500, "INTERNAL", "INTERNAL", "Internal error encountered." },
    { 503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable." },
};

static void fcm_error(struct sb_resp *resp, int code, const char *message)
{
    struct fcm_error e = { code, code >= 500 ? "INTERNAL" : "INVALID_ARGUMENT",
                           "UNSPECIFIED_ERROR", "Sandbox error" };
    for (size_t i = 0; i < sizeof(fcm_errors) / sizeof(fcm_errors[0]); i++)
        if (fcm_errors[i].code == code)
            e = fcm_errors[i];
    resp->status = code;
    sb_resp_header(resp, "content-type", "application/json; charset=UTF-8");
    if (code == 429 || code == 503)
        sb_resp_header(resp, "retry-after", "1");
    sb_buf_printf(resp->body, "{\"error\":{\"code\":%d,\"message\":\"%s\",\"status\":\"%s\"", code,
                  message ? message : e.message, e.status);
    if (e.error_code != NULL)
        sb_buf_printf(resp->body, ",\"details\":[{\"@type\":\"type.googleapis.com/google.firebase."
                      "fcm.v1.FcmError\",\"errorCode\":\"%s\"}]", e.error_code);
    sb_buf_printf(resp->body, "}}");
}

/* fcm_project copies the <project> of the path into 'out'; -1 if the path is not messages:send. */
static int fcm_project(const char *path, char *out, size_t outlen)
{
    const char *p = path + strlen(FCM_PREFIX);
    size_t plen = strcspn(p, "/");
    if (plen == 0 || plen >= outlen || strcmp(p + plen, FCM_SUFFIX) != 0)
        return -1;
    memcpy(out, p, plen);
    out[plen] = '\0';
    return 0;
}

void sb_fcm_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    char project[FCM_PROJECT_MAX];
    char token[FCM_TOKEN_MAX + 1];

    if (fcm_project(req->path, project, sizeof(project)) != 0) {
        fcm_error(resp, 404, "Method not found.");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        fcm_error(resp, 405, "Method not allowed.");
        return;
    }
    if (sb_oauth_check(ctx->oauth, sb_req_header(req, "authorization"), sb_now_ms()) != 0) {
        fcm_error(resp, 401, NULL);
        return;
    }
    static const char *const token_path[] = { "message", "token" };
    long tlen = req->body_truncated ? -1
              : sb_json_get_string(req->body, req->bodylen, token_path, 2, token, sizeof(token));
    if (tlen <= 0) {
        fcm_error(resp, 400, "Invalid value at 'message.token': a registration token is required");
        return;
    }

    struct sb_decision d = sb_behaviour_decide(ctx->behaviour, PR_PROVIDER_FCM, token);
    if (sb_behaviour_apply(&d, resp))
        return;
    if (d.kind == SB_BEHAVE_ERROR) {
        fcm_error(resp, d.status, NULL);
        return;
    }
    resp->status = 200;
    sb_resp_header(resp, "content-type", "application/json; charset=UTF-8");
    sb_buf_printf(resp->body, "{\"name\":\"projects/%s/messages/0:%lld%%%016llx\"}", project,
                  (long long)sb_now_ms(), (unsigned long long)ctx->stats.delivered[PR_PROVIDER_FCM]);
    sb_deliver(ctx, resp, PR_PROVIDER_FCM, token, req);
}
