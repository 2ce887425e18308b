/*
 * sb_router.c - which handler answers a request, and the request counters.
 *
 *   HTTP/2 listener                      HTTPS/1.1 listener
 *   POST /3/device/<token>    -> apns    POST /<anything> -> mpns
 *   POST /v1/projects/...     -> fcm
 *   POST /token               -> oauth
 *   /_sandbox/webpush/...     -> webpush subscriptions (not counted)
 *   /_sandbox/...             -> control (not counted in the stats)
 *
 *   either listener, before MPNS's catch-all:
 *   POST /wpush/<id>          -> webpush
 *   POST /wns/<channel>       -> wns        POST /accesstoken.srf -> wns token
 *   POST /v1/<app>/messages:send -> hms     POST /oauth2/v3/token -> hms token
 *
 * Called by sb_h2.c and sb_http1.c.
 */
#include <string.h>

#include "pushrelay/log.h"
#include "sb.h"
#include "sb_apns.h"
#include "sb_control.h"
#include "sb_fcm.h"
#include "sb_hms.h"
#include "sb_mpns.h"
#include "sb_oauth.h"
#include "sb_router.h"
#include "sb_webpush.h"
#include "sb_wns.h"

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * router_ext answers for the providers that sit on either listener (Web
 * Push, WNS, HMS: which transport the relay's clients for them use is
 * theirs to choose); 0 when 'req' is for none of them.
 */
static int router_ext(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    const char *p = req->path;
    if (has_prefix(p, SB_WEBPUSH_PATH))
        sb_webpush_handle(ctx, req, resp);
    else if (has_prefix(p, SB_WNS_PATH))
        sb_wns_handle(ctx, req, resp);
    else if (has_prefix(p, SB_WNS_TOKEN_PATH))
        sb_wns_token_handle(ctx, req, resp);
    else if (has_prefix(p, SB_HMS_TOKEN_PATH))
        sb_hms_token_handle(ctx, req, resp);
    else if (has_prefix(p, SB_HMS_PREFIX) && !has_prefix(p, "/v1/projects/"))
        sb_hms_handle(ctx, req, resp);
    else
        return 0;
    return 1;
}

static void router_count(struct sb_ctx *ctx, const struct sb_req *req, const struct sb_resp *resp)
{
    char redacted[64];
    pr_log_debug("sandbox", "%s %s -> %d%s", req->method, pr_redact(req->path, redacted, sizeof(redacted)),
                 resp->status, resp->act == SB_ACT_RESET ? " (reset)" : "");
    ctx->stats.requests++;
    if (resp->act == SB_ACT_ANSWER && resp->status >= 100 && resp->status < 600)
        ctx->stats.by_status[resp->status]++;
}

void sb_router_h2(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    const char *p = req->path;
    if (has_prefix(p, SB_WEBPUSH_CONTROL)) {
        sb_webpush_control(ctx, req, resp);
        return;
    }
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
    } else if (router_ext(ctx, req, resp)) {
        /* answered */
    } else {
        resp->status = 404;
        sb_resp_header(resp, "content-type", "application/json");
        sb_buf_printf(resp->body, "{\"reason\":\"BadPath\"}");
    }
    router_count(ctx, req, resp);
}

void sb_router_mpns(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    if (!router_ext(ctx, req, resp))
        sb_mpns_handle(ctx, req, resp);
    router_count(ctx, req, resp);
}
