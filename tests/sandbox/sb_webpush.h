/*
 * sb_webpush.h - the sandbox's Web Push service (RFC 8030 push resource,
 * RFC 8291 message encryption, RFC 8292 VAPID) and the subscriptions it
 * hands out, on the HTTP/2 listener:
 *
 *   POST /_sandbox/webpush/subscribe[?marker=M]  a fresh subscription:
 *        {"id","endpoint":"https://<authority>/wpush/<id>","p256dh","auth"}
 *   POST /_sandbox/webpush/expire/<id>           the subscription answers 410 from now on
 *   POST /wpush/<id>                             a push message (sb_webpush_handle)
 *
 * The sandbox plays the user agent too: it generated the subscription's
 * key pair, so it decrypts each message and records the plaintext.
 */
#ifndef PUSHRELAY_SANDBOX_SB_WEBPUSH_H
#define PUSHRELAY_SANDBOX_SB_WEBPUSH_H

#include "sb.h"

#define SB_WEBPUSH_PATH "/wpush/"
#define SB_WEBPUSH_CONTROL "/_sandbox/webpush/"

/* sb_webpush_new: no subscriptions yet; PR_ENOMEM. */
int sb_webpush_new(struct sb_webpush **out);
void sb_webpush_free(struct sb_webpush *w);

/* sb_webpush_control answers the /_sandbox/webpush/ endpoints (never fails). */
void sb_webpush_control(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp);

/* sb_webpush_handle answers POST /wpush/<id> (never fails). */
void sb_webpush_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp);

/*
 * sb_webpush_record appends the delivery record of 'req' to subscription
 * 'id' with the decrypted body (the raw body if it no longer decrypts).
 * Called by sb_delivered(), for immediate and deferred deliveries alike.
 */
void sb_webpush_record(struct sb_ctx *ctx, const char *id, const struct sb_req *req);

#endif
