/*
 * sb_router.h - which handler answers a request (see sb_router.c).
 */
#ifndef PUSHRELAY_SANDBOX_SB_ROUTER_H
#define PUSHRELAY_SANDBOX_SB_ROUTER_H

#include "sb.h"

/*
 * sb_router_h2 answers a request that arrived on the HTTP/2 listener (APNs,
 * FCM, OAuth token endpoint, /_sandbox control); sb_router_mpns one on the
 * HTTPS/1.1 listener. Both fill 'resp' (its body buffer arrives empty) and
 * count the request in the stats. They cannot fail: any problem becomes an
 * HTTP status.
 */
void sb_router_h2(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp);
void sb_router_mpns(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp);

#endif
