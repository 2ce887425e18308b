/*
 * sb_router.c - which handler answers a request, and the request counters.
 *
 *   HTTP/2 listener                      HTTPS/1.1 listener
 *   POST /3/device/<token>    -> apns    POST /<anything> -> mpns
 *   POST /v1/projects/...     -> fcm
 *   POST /token               -> oauth
 *   /_sandbox/...             -> control (not counted in the stats)
 *
 * Called by sb_h2.c and sb_http1.c.
 */
#include <string.h>

#include "pushrelay/log.h"
#include "sb.h"
#include "sb_apns.h"
#include "sb_control.h"
#include "sb_fcm.h"
#include "sb_mpns.h"
#include "sb_oauth.h"
#include "sb_router.h"

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void router_count(struct sb_ctx *ctx, const struct sb_req *req, const struct sb_resp *resp)
{
    char redacted[64];
    pr_log_debug("sandbox", "%s %s -> %d%s", req->method, pr_redact(req->path, redacted, sizeof(redacted)),
                 resp->status, resp->act == SB_ACT_RESET ? " (reset)" : "");
    ctx->stats.requests++;
    if (resp->act != SB_ACT_RESET && resp->status >= 100 && resp->status < 600)
        ctx->stats.by_status[resp->status]++;
}

void sb_router_h2(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    const char *p = req->path;
    if (has_prefix(p, "/_sandbox/")) {
        sb_control_handle(ctx, req, resp);
        return;
    }
    if (has_prefix(p, "/3/device/")) {
        sb_apns_handle(ctx, req, resp);
    } else if (has_prefix(p, "/v1/projects/")) {
        sb_fcm_handle(ctx, req, resp);
    } else if (strcmp(p, "/token") == 0 || has_prefix(p, "/token?")) {
        sb_oauth_handle(ctx, req, resp);
    } else {
        resp->status = 404;
        sb_resp_header(resp, "content-type", "application/json");
        sb_buf_printf(resp->body, "{\"reason\":\"BadPath\"}");
    }
    router_count(ctx, req, resp);
}

void sb_router_mpns(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    sb_mpns_handle(ctx, req, resp);
    router_count(ctx, req, resp);
}
