/*
 * sb_wns.h - the sandbox's Windows Notification Service: the token
 * endpoint (as login.live.com/accesstoken.srf) and channel URIs that take
 * toasts, on either listener (WNS itself is HTTPS/1.1):
 *
 *   POST /accesstoken.srf   grant_type=client_credentials&client_id=<package SID>
 *                           &client_secret=<secret>&scope=notify.windows.com
 *                           -> {"access_token","token_type":"bearer","expires_in"}
 *   POST /wns/<channel>     a notification with Authorization: Bearer <token>
 */
#ifndef PUSHRELAY_SANDBOX_SB_WNS_H
#define PUSHRELAY_SANDBOX_SB_WNS_H

#include "sb.h"

#define SB_WNS_TOKEN_PATH "/accesstoken.srf"
#define SB_WNS_PATH "/wns/"

/* sb_wns_token_handle answers the token endpoint (never fails). */
void sb_wns_token_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp);

/* sb_wns_handle answers a notification POSTed to a channel URI (never fails). */
void sb_wns_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp);

#endif
