/*
 * sb_control.h - the sandbox's /_sandbox control endpoints.
 */
#ifndef PUSHRELAY_SANDBOX_SB_CONTROL_H
#define PUSHRELAY_SANDBOX_SB_CONTROL_H

#include "sb.h"

/* sb_control_handle answers one /_sandbox/... request into 'resp' (never fails). */
void sb_control_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp);

#endif
