/*
 * sb_http1.h - the sandbox's HTTPS/1.1 server (MPNS), libevent evhttp over
 * bufferevent_openssl. Requests go to sb_router_mpns(); answers may be
 * delayed by a timer or replaced by a connection reset. Keep-alive.
 */
#ifndef PUSHRELAY_SANDBOX_SB_HTTP1_H
#define PUSHRELAY_SANDBOX_SB_HTTP1_H

#include "sb.h"

struct sb_http1;

/*
 * sb_http1_new listens on 'ctx->opts->mpns_listen' with the sandbox's
 * certificate; '*port' receives the bound port. Returns 0, PR_EIO, PR_ETLS,
 * PR_EINVAL or PR_ENOMEM (logged).
 */
int sb_http1_new(struct sb_ctx *ctx, struct sb_http1 **out, int *port);

/* sb_http1_free closes the listener and its connections; NULL is fine. */
void sb_http1_free(struct sb_http1 *h);

#endif
