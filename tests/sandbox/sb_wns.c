/*
 * sb_wns.c - the sandbox's WNS (sb_wns.h), answering in WNS's words
 * (Microsoft's "push notification service request and response headers"):
 *
 *   401  no Authorization, or a token not issued here or expired
 *        (WWW-Authenticate names the error)
 *   405  not POST
 *   413  body over 5 KB (5120 bytes)
 *   400  X-WNS-Type not wns/toast, Content-Type not text/xml, or no <toast>;
 *        X-WNS-TTL not decimal seconds, X-WNS-Tag empty or over 64 characters
 *   then the channel's behaviour marker (sb_behaviour.h): 404 and 410 with
 *   X-WNS-Status: dropped, 406 with X-WNS-Status: channelthrottled, 429
 *   and 503 with Retry-After; else 200 with X-WNS-Status: received.
 *
 * X-WNS-Msg-ID is on every answer; X-WNS-Status and
 * X-WNS-DeviceConnectionStatus only when the sender asked with
 * X-WNS-RequestForStatus: true, as WNS does. The channel's token for
 * markers is its "token" query value (real channel URIs look like
 * https://db5.notify.windows.com/?token=AwYAAAB...) or else the path's
 * last segment. Called by sb_router.c.
 */
#include <stdio.h>
#include <string.h>

#include "sb.h"
#include "sb_behaviour.h"
#include "sb_ccred.h"
#include "sb_record.h"
#include "sb_wns.h"

#define WNS_BODY_MAX 5120
#define WNS_CHANNEL_MAX 1024
#define WNS_SCOPE "notify.windows.com"
#define WNS_TAG_MAX 64             /* toast tags (Windows 10 and later) */

void sb_wns_token_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    char token[SB_CCRED_TOKEN_MAX];
    static const char *const errors[] = {
        [SB_CCRED_DOWN] = "temporarily_unavailable",
        [SB_CCRED_BAD_REQUEST] = "invalid_request",
        [SB_CCRED_BAD_CLIENT] = "invalid_client",
        [SB_CCRED_BAD_SCOPE] = "invalid_scope",
        [SB_CCRED_FAILED] = "server_error",
    };
    enum sb_ccred_result r = sb_ccred_grant(ctx, ctx->wns_tokens, req, WNS_SCOPE, token);
    sb_resp_header(resp, "content-type", "application/json");
    if (r == SB_CCRED_ISSUED) {
        resp->status = 200;
        sb_buf_printf(resp->body, "{\"token_type\":\"bearer\",\"access_token\":\"%s\",\"expires_in\":%ld}",
                      token, sb_ccred_ttl(ctx->wns_tokens));
        return;
    }
    resp->status = r == SB_CCRED_DOWN ? 503 : r == SB_CCRED_FAILED ? 500 : 400;
    if (r == SB_CCRED_DOWN)
        sb_resp_header(resp, "retry-after", "1");
    sb_buf_printf(resp->body, "{\"error\":\"%s\",\"error_description\":\"sandbox\"}", errors[r]);
}

/* wns_channel copies the channel's token (see the top of the file) into 'out'. */
static void wns_channel(const char *path, char out[WNS_CHANNEL_MAX + 1])
{
    const char *q = strstr(path, "?token=");
    const char *seg;
    size_t len;
    if (q != NULL) {
        seg = q + strlen("?token=");
        len = strcspn(seg, "&");
    } else {
        size_t plen = strcspn(path, "?");
        seg = path + plen;
        while (seg > path && seg[-1] != '/')
            seg--;
        len = (size_t)(path + plen - seg);
    }
    if (len > WNS_CHANNEL_MAX)
        len = WNS_CHANNEL_MAX;
    memcpy(out, seg, len);
    out[len] = '\0';
}

/* wns_answer sets the status and, when asked for, the notification and device status. */
static void wns_answer(struct sb_resp *resp, int status, int want_status, const char *notification)
{
    resp->status = status;
    if (want_status && notification != NULL) {
        sb_resp_header(resp, "X-WNS-Status", "%s", notification);
        sb_resp_header(resp, "X-WNS-DeviceConnectionStatus", "connected");
    }
    if (status == 429 || status == 503)
        sb_resp_header(resp, "Retry-After", "1");
}

static void wns_error(struct sb_resp *resp, int status, const char *description)
{
    resp->status = status;
    sb_resp_header(resp, "X-WNS-Error-Description", "%s", description);
}

void sb_wns_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    char channel[WNS_CHANNEL_MAX + 1];
    const char *type = sb_req_header(req, "x-wns-type");
    const char *ctype = sb_req_header(req, "content-type");
    const char *rfs = sb_req_header(req, "x-wns-requestforstatus");
    int want_status = rfs != NULL && strcmp(rfs, "true") == 0;

    wns_channel(req->path, channel);
    sb_resp_header(resp, "X-WNS-Msg-ID", "%016llX",
                   (unsigned long long)sb_now_us() ^ (unsigned long long)ctx->stats.requests);
    if (sb_ccred_check(ctx->wns_tokens, sb_req_header(req, "authorization"), sb_now_ms()) != 0) {
        resp->status = 401;
        sb_resp_header(resp, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        sb_resp_header(resp, "X-WNS-Error-Description", "Token expired or not valid");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        wns_error(resp, 405, "POST required");
        return;
    }
    if (req->body_truncated || req->bodylen > WNS_BODY_MAX) {
        wns_error(resp, 413, "The notification payload exceeds the 5 KB limit");
        return;
    }
    if (type == NULL || strcmp(type, "wns/toast") != 0 || ctype == NULL ||
        strncmp(ctype, "text/xml", 8) != 0 || req->bodylen == 0 ||
        memmem(req->body, req->bodylen, "<toast", 6) == NULL) {
        wns_error(resp, 400, "X-WNS-Type: wns/toast, Content-Type: text/xml and a <toast> body required");
        return;
    }
    const char *ttl = sb_req_header(req, "x-wns-ttl");
    const char *tag = sb_req_header(req, "x-wns-tag");
    if ((ttl != NULL && (ttl[0] == '\0' || strspn(ttl, "0123456789") != strlen(ttl))) ||
        (tag != NULL && (tag[0] == '\0' || strlen(tag) > WNS_TAG_MAX))) {
        wns_error(resp, 400, "X-WNS-TTL must be seconds, X-WNS-Tag 1 to 64 characters");
        return;
    }
    struct sb_decision d = sb_behaviour_decide(ctx->behaviour, SB_PROVIDER_WNS, channel);
    if (sb_behaviour_apply(&d, resp))
        return;
    if (d.kind == SB_BEHAVE_ERROR) {
        wns_answer(resp, d.status, want_status,
                   d.status == 406 ? "channelthrottled" : d.status == 404 || d.status == 410 ? "dropped" : NULL);
        return;
    }
    wns_answer(resp, 200, want_status, "received");
    sb_deliver(ctx, resp, SB_PROVIDER_WNS, channel, req);
}
