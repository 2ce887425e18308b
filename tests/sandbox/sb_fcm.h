/*
 * sb_fcm.h - the sandbox's FCM HTTP v1 messages:send.
 */
#ifndef PUSHRELAY_SANDBOX_SB_FCM_H
#define PUSHRELAY_SANDBOX_SB_FCM_H

#include "sb.h"

/* sb_fcm_handle answers one FCM send into 'resp' (never fails). */
void sb_fcm_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp);

#endif
