/*
 * sb_mpns.c - the sandbox's MPNS endpoint: POST of a toast to any channel
 * URI path on the HTTPS/1.1 listener.
 *
 * Checks X-WindowsPhone-Target: toast, X-NotificationClass: 2, Content-Type
 * text/xml and a <wp:Toast> element in the body, then answers with the MPNS
 * status headers (X-NotificationStatus, X-SubscriptionStatus,
 * X-DeviceConnectionStatus, and X-MessageID echoed when the sender gave
 * one). The channel's token for behaviour markers is
 * the last path segment. Called by sb_router.c.
 */
#include <string.h>

#include "sb.h"
#include "sb_behaviour.h"
#include "sb_mpns.h"
#include "sb_record.h"

#define MPNS_TOKEN_MAX 1024

static void mpns_status(struct sb_resp *resp, int status, const char *notification,
                        const char *subscription, const char *device)
{
    resp->status = status;
    if (notification != NULL)
        sb_resp_header(resp, "X-NotificationStatus", "%s", notification);
    if (subscription != NULL)
        sb_resp_header(resp, "X-SubscriptionStatus", "%s", subscription);
    if (device != NULL)
        sb_resp_header(resp, "X-DeviceConnectionStatus", "%s", device);
    if (status == 429 || status == 503)
        sb_resp_header(resp, "Retry-After", "1");
}

/* The MPNS answer for a scripted status (Microsoft's response-code table). */
static void mpns_scripted(struct sb_resp *resp, int status)
{
    switch (status) {
    case 404:
        mpns_status(resp, 404, "Dropped", "Expired", "Connected");
        break;
    case 406:
        mpns_status(resp, 406, "Dropped", "Active", "Connected");
        break;
    case 412:
        mpns_status(resp, 412, "Dropped", NULL, "Inactive");
        break;
    default:
        mpns_status(resp, status, NULL, NULL, NULL);
        break;
    }
}

static int mpns_body_has(const struct sb_req *req, const char *needle)
{
    return req->bodylen > 0 && memmem(req->body, req->bodylen, needle, strlen(needle)) != NULL;
}

void sb_mpns_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    char token[MPNS_TOKEN_MAX + 1];
    size_t plen = strcspn(req->path, "?");
    const char *seg = req->path + plen;
    while (seg > req->path && seg[-1] != '/')
        seg--;
    size_t tlen = (size_t)(req->path + plen - seg);
    if (tlen > MPNS_TOKEN_MAX)
        tlen = MPNS_TOKEN_MAX;
    memcpy(token, seg, tlen);
    token[tlen] = '\0';

    /* MPNS echoes the sender's message id on every answer */
    const char *mid = sb_req_header(req, "x-messageid");
    if (mid != NULL)
        sb_resp_header(resp, "X-MessageID", "%s", mid);

    const char *target = sb_req_header(req, "x-windowsphone-target");
    const char *klass = sb_req_header(req, "x-notificationclass");
    const char *ctype = sb_req_header(req, "content-type");
    if (strcmp(req->method, "POST") != 0) {
        mpns_status(resp, 405, NULL, NULL, NULL);
        return;
    }
    if (target == NULL || strcmp(target, "toast") != 0 || klass == NULL ||
        strcmp(klass, "2") != 0 || ctype == NULL || strncmp(ctype, "text/xml", 8) != 0 ||
        req->body_truncated || !mpns_body_has(req, "<wp:Toast>")) {
        mpns_status(resp, 400, NULL, NULL, NULL);
        return;
    }
    struct sb_decision d = sb_behaviour_decide(ctx->behaviour, PR_PROVIDER_MPNS, token);
    if (sb_behaviour_apply(&d, resp))
        return;
    if (d.kind == SB_BEHAVE_ERROR) {
        mpns_scripted(resp, d.status);
        return;
    }
    if (d.kind == SB_BEHAVE_QUEUEFULL) {
        mpns_status(resp, 200, "QueueFull", "Active", "Connected");
        return;
    }
    mpns_status(resp, 200, "Received", "Active", "Connected");
    sb_deliver(ctx, resp, PR_PROVIDER_MPNS, token, req);
}
