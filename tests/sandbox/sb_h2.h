/*
 * sb_h2.h - the sandbox's HTTP/2-over-TLS server (APNs, FCM, OAuth, control).
 *
 * Accepts TLS connections (ALPN h2), runs one nghttp2 server session per
 * connection on the shared libevent loop, hands each complete request to
 * sb_router_h2() and carries out the answer: immediately, after a timer
 * (never blocking the loop), or by resetting the TCP connection.
 */
#ifndef PUSHRELAY_SANDBOX_SB_H2_H
#define PUSHRELAY_SANDBOX_SB_H2_H

#include "sb.h"

struct sb_h2;

/*
 * sb_h2_new listens on 'ctx->opts->listen' with 'ctx->opts' certificate and
 * stream limits; '*port' receives the bound port. Returns 0, PR_EIO,
 * PR_ETLS, PR_EINVAL or PR_ENOMEM (logged).
 */
int sb_h2_new(struct sb_ctx *ctx, struct sb_h2 **out, int *port);

/* sb_h2_free closes the listener and every connection; NULL is fine. */
void sb_h2_free(struct sb_h2 *h);

#endif
