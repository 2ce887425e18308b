/*
 * sb_hms.h - the sandbox's Huawei Push Kit: its OAuth2 token endpoint and
 * the messages:send API, on either listener:
 *
 *   POST /oauth2/v3/token           grant_type=client_credentials&client_id=<app id>
 *                                   &client_secret=<secret>
 *                                   -> {"access_token","expires_in","token_type":"Bearer"}
 *   POST /v1/<app id>/messages:send {"validate_only":false,"message":{"android":
 *                                   {"notification":{...}},"token":["<token>"]}}
 *                                   -> 200 {"code":"80000000","msg":"Success","requestId"}
 */
#ifndef PUSHRELAY_SANDBOX_SB_HMS_H
#define PUSHRELAY_SANDBOX_SB_HMS_H

#include "sb.h"

#define SB_HMS_TOKEN_PATH "/oauth2/v3/token"
#define SB_HMS_PREFIX "/v1/"
#define SB_HMS_SUFFIX "/messages:send"

/* sb_hms_token_handle answers the token endpoint (never fails). */
void sb_hms_token_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp);

/* sb_hms_handle answers POST /v1/<app id>/messages:send (never fails). */
void sb_hms_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp);

#endif
