/*
 * classify.h - what a provider's answer means for the notification: each
 * provider's error-mapping table turns a struct pr_result into an enum
 * pr_outcome. Implementations: relay/apns_errors.c, relay/fcm_errors.c,
 * relay/mpns_errors.c; pr_classify, which picks the table, is
 * relay/classify.c. Pure functions, called by the dispatcher when a
 * provider client reports back.
 *
 * Shared rows: status PR_STATUS_NO_ANSWER (and any other status below 100
 * that is not negative) is RETRY; PR_STATUS_LOCAL (any negative status) is
 * DEAD_LETTER: nothing was sent and sending again would be refused again.
 */
#ifndef PUSHRELAY_CLASSIFY_H
#define PUSHRELAY_CLASSIFY_H

#include <stdint.h>
#include "pushrelay/outcome.h"
#include "pushrelay/provider.h"

/*
 * apns_classify maps an APNs answer; 'res->reason' holds the JSON "reason"
 * and 'res->provider_ts_ms' the 410 "timestamp". 'accepted_ms' is when the
 * notification was accepted: a 410 whose timestamp is older than that means
 * the token was registered again since Apple saw it die, so the token is
 * kept and only this notification is dead-lettered.
 *
 *   200                                          DELIVERED
 *   410 (Unregistered, ExpiredToken, …)          TOKEN_DEAD, but DEAD_LETTER
 *                                                when 0 < timestamp < accepted_ms
 *   400 BadDeviceToken, DeviceTokenNotForTopic   TOKEN_DEAD
 *   403 ExpiredProviderToken, InvalidProviderToken REAUTH
 *   429, 500, 503, other 5xx                     RETRY
 *   413, other 4xx, anything else                DEAD_LETTER
 */
enum pr_outcome apns_classify(struct pr_result *res, int64_t accepted_ms);

/*
 * fcm_classify maps an FCM HTTP v1 answer; 'res->reason' holds
 * error.details[].errorCode, else error.status. The reason decides before
 * the status, because FCM reuses statuses (THIRD_PARTY_AUTH_ERROR is a 401
 * that new credentials cannot fix).
 *
 *   200                                          DELIVERED
 *   UNREGISTERED, INVALID_ARGUMENT, status 404   TOKEN_DEAD
 *   SENDER_ID_MISMATCH, THIRD_PARTY_AUTH_ERROR   DEAD_LETTER
 *   QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL        RETRY
 *   429, 500, 503, other 5xx                     RETRY
 *   401                                          REAUTH
 *   other 4xx, anything else                     DEAD_LETTER
 */
enum pr_outcome fcm_classify(struct pr_result *res);

/*
 * mpns_classify maps an MPNS answer; 'res->reason' is
 * "<X-NotificationStatus>/<X-SubscriptionStatus>/<X-DeviceConnectionStatus>"
 * (parts may be empty).
 *
 *   404, or SubscriptionStatus Expired           TOKEN_DEAD
 *   200 QueueFull or Suppressed                  RETRY
 *   200 (Received or any other status)           DELIVERED
 *   406, 503, other 5xx                          RETRY
 *   412 (device inactive)                        RETRY, retry_after_s raised to >= 3600
 *   400, 401, 405, other 4xx, anything else      DEAD_LETTER
 */
#define MPNS_INACTIVE_RETRY_S 3600
enum pr_outcome mpns_classify(struct pr_result *res);

/* pr_classify calls the table of provider 'p'; DEAD_LETTER for an unknown provider. */
enum pr_outcome pr_classify(enum pr_provider p, struct pr_result *res, int64_t accepted_ms);

#endif
