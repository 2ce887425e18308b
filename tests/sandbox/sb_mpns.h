/*
 * sb_mpns.h - the sandbox's MPNS toast endpoint.
 */
#ifndef PUSHRELAY_SANDBOX_SB_MPNS_H
#define PUSHRELAY_SANDBOX_SB_MPNS_H

#include "sb.h"

/* sb_mpns_handle answers one MPNS push into 'resp' (never fails). */
void sb_mpns_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp);

#endif
