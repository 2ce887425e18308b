/*
 * outcome.h - what a provider answered, and what the dispatcher does next.
 *
 * A provider client turns the provider's HTTP answer (or the lack of one)
 * into a struct pr_result; the provider's classifier (apns_classify,
 * fcm_classify, mpns_classify) maps it to an enum pr_outcome; the dispatcher
 * acts on the outcome. Every accepted notification ends in exactly one of
 * DELIVERED, EXPIRED, TOKEN_DEAD or DEAD_LETTER; RETRY and REAUTH are steps.
 */
#ifndef PUSHRELAY_OUTCOME_H
#define PUSHRELAY_OUTCOME_H

#include <stdint.h>

enum pr_outcome {
    PR_OUTCOME_DELIVERED = 0,
    PR_OUTCOME_RETRY,        /* transient: back off and try again (bounded by TTL, attempts) */
    PR_OUTCOME_EXPIRED,      /* TTL passed before delivery */
    PR_OUTCOME_TOKEN_DEAD,   /* provider says the device token is gone */
    PR_OUTCOME_DEAD_LETTER,  /* permanent error, or attempts exhausted */
    PR_OUTCOME_REAUTH,       /* our credential was refused: refresh it, retry once */
    PR_OUTCOME_COUNT
};

/* Status values below 100 are not HTTP: the request never got an answer. */
#define PR_STATUS_NO_ANSWER 0    /* connection lost, reset, timeout, GOAWAY: retry */
#define PR_STATUS_LOCAL (-1)     /* refused before sending (payload too large, host not allowed) */

struct pr_result {
    int status;                 /* HTTP status, or PR_STATUS_* */
    char reason[96];            /* provider reason/error ("BadDeviceToken", "UNREGISTERED",
                                   "QueueFull", "Expired") or a local cause ("timeout") */
    int retry_after_s;          /* Retry-After in seconds, -1 when absent */
    int64_t provider_ts_ms;     /* APNs 410 "timestamp" (ms), 0 when absent */
    char provider_id[128];      /* apns-id, FCM message name, MPNS X-MessageID */
    int64_t rtt_us;             /* request sent -> answer complete */
};

/*
 * pr_outcome_name: "delivered", "retry", "expired", "token_dead",
 * "dead_letter", "reauth", as the outcome log records it (outcome_log.h).
 * Stats count an outcome under a counter named for the event instead
 * ("retried", "dead_lettered"): that mapping is STATS_COUNTER_MAP's
 * (relay/stats.h), not these names.
 */
const char *pr_outcome_name(enum pr_outcome o);

/* pr_result_init zeroes 'r' and sets retry_after_s to -1. */
void pr_result_init(struct pr_result *r);

#endif
