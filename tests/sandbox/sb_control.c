/*
 * sb_control.c - the sandbox's control endpoints for tests (HTTP/2, no auth;
 * the sandbox is a test tool and listens on loopback):
 *
 *   POST /_sandbox/expire-tokens        every issued access token becomes invalid
 *                                       (FCM's, WNS's and HMS's)
 *   POST /_sandbox/oauth-down?seconds=N the token endpoints (FCM, WNS, HMS)
 *                                       answer 503 for N seconds
 *   GET  /_sandbox/stats                counters as JSON (sb_stats.c)
 *
 * Called by sb_router.c.
 */
#include <stdlib.h>
#include <string.h>

#include "sb.h"
#include "sb_ccred.h"
#include "sb_control.h"
#include "sb_oauth.h"
#include "sb_stats.h"

static void control_json(struct sb_resp *resp, int status, const char *body)
{
    resp->status = status;
    sb_resp_header(resp, "content-type", "application/json");
    sb_buf_printf(resp->body, "%s", body);
}

/* control_query_long finds "name=<digits>" in the query of 'path'; -1 if absent or bad. */
static long control_query_long(const char *path, const char *name)
{
    const char *q = strchr(path, '?');
    size_t nlen = strlen(name);
    while (q != NULL) {
        q++;
        if (strncmp(q, name, nlen) == 0 && q[nlen] == '=') {
            char *end;
            long v = strtol(q + nlen + 1, &end, 10);
            return (end != q + nlen + 1 && (*end == '\0' || *end == '&') && v >= 0) ? v : -1;
        }
        q = strchr(q, '&');
    }
    return -1;
}

void sb_control_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    const char *p = req->path + strlen("/_sandbox/");
    int post = strcmp(req->method, "POST") == 0;
    if (strcmp(p, "stats") == 0 && strcmp(req->method, "GET") == 0) {
        resp->status = 200;
        sb_resp_header(resp, "content-type", "application/json");
        sb_stats_json(&ctx->stats, resp->body);
    } else if (strcmp(p, "expire-tokens") == 0 && post) {
        sb_oauth_expire_all(ctx->oauth);
        sb_ccred_expire_all(ctx->wns_tokens);
        sb_ccred_expire_all(ctx->hms_tokens);
        control_json(resp, 200, "{\"expired\":true}");
    } else if (strncmp(p, "oauth-down", 10) == 0 && (p[10] == '\0' || p[10] == '?') && post) {
        long secs = control_query_long(req->path, "seconds");
        if (secs < 0) {
            control_json(resp, 400, "{\"error\":\"seconds=N required\"}");
            return;
        }
        sb_oauth_down(ctx->oauth, sb_now_ms() + secs * 1000);
        sb_ccred_down(ctx->wns_tokens, sb_now_ms() + secs * 1000);
        sb_ccred_down(ctx->hms_tokens, sb_now_ms() + secs * 1000);
        control_json(resp, 200, "{\"down\":true}");
    } else {
        control_json(resp, 404, "{\"error\":\"no such control endpoint\"}");
    }
}
