/*
 * classify_ext.h - what Web Push, WNS and HMS answers mean for the
 * notification: each provider's table turns a struct pr_result into an enum
 * pr_outcome, like classify.h's. Implementations: relay/webpush_errors.c,
 * relay/wns_errors.c, relay/hms_errors.c. Pure functions, called by the
 * dispatcher when a provider client reports back. Retry-After, where the
 * provider sent one, stays in res->retry_after_s for the dispatcher.
 *
 * Shared rows, as in classify.h: status PR_STATUS_NO_ANSWER (and any other
 * status below 100 that is not negative) is RETRY; PR_STATUS_LOCAL (any
 * negative status) is DEAD_LETTER.
 *
 * (A header of its own while classify.h is being changed elsewhere; these
 * can join it, and pr_classify, when the providers are wired in.)
 */
#ifndef PUSHRELAY_CLASSIFY_EXT_H
#define PUSHRELAY_CLASSIFY_EXT_H

#include "pushrelay/outcome.h"

/*
 * webpush_classify maps a push service's answer (RFC 8030, RFC 8292);
 * 'res->reason' is whatever the client kept of the body.
 *
 *   200, 201, 202                                DELIVERED
 *   404, 410 (subscription expired or gone)      TOKEN_DEAD
 *   401 (VAPID token refused)                    REAUTH: sign a new one
 *   413 (payload too large)                      DEAD_LETTER, reason "PayloadTooLarge"
 *                                                when the client kept none
 *   429, 500, 503, other 5xx                     RETRY (Retry-After honoured)
 *   400, 403 (key not the subscription's), other 4xx, anything else  DEAD_LETTER
 */
enum pr_outcome webpush_classify(struct pr_result *res);

/*
 * wns_classify maps a WNS answer; 'res->reason' is
 * "<X-WNS-Status>/<X-WNS-DeviceConnectionStatus>/<X-WNS-Error-Description>"
 * (parts may be empty; the description, last, may itself hold '/').
 *
 *   200 received (or no status)                  DELIVERED
 *   200 channelthrottled                         RETRY
 *   200 dropped (WNS dropped it on purpose)      DEAD_LETTER
 *   404, 410 (channel URI unknown or expired)    TOKEN_DEAD
 *   401 (access token expired or refused)        REAUTH
 *   406 (channel throttled)                      RETRY
 *   429, 500, 503, other 5xx                     RETRY
 *   400, 403, 405, 413, other 4xx, anything else DEAD_LETTER
 */
enum pr_outcome wns_classify(struct pr_result *res);

/*
 * hms_classify maps an HMS Push Kit answer; 'res->reason' holds the JSON
 * "code". The code decides before the status: HMS answers most errors with
 * HTTP 200 and a code.
 *
 *   code 80000000                                DELIVERED
 *   code 80100000, 80300007 (token invalid)      TOKEN_DEAD
 *   code 80200003 (access token expired)         REAUTH
 *   code 80300008 (message body too large)     DEAD_LETTER
 *   code 81000001 (HMS internal error)           RETRY
 *   other code or none, status 401               REAUTH
 *   other code or none, 429, 500, 503, other 5xx RETRY
 *   anything else (e.g. 200 with another code)   DEAD_LETTER, the code kept as reason
 */
enum pr_outcome hms_classify(struct pr_result *res);

#endif
