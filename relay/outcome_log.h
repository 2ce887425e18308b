/*
 * outcome_log.h - a short-lived record of a notification's latest
 * outcome, keyed by its push id, so that `pushrelayctl test-push` (and an
 * admin chasing one notification) can learn what became of it without
 * scanning streams. The dispatcher writes it inside the MULTI/EXEC that
 * records the outcome; pushrelayctl reads it over a blocking connection.
 *
 * Every outcome but a plain delivery is recorded. A delivery is recorded
 * only for traced notifications (the MESSAGE body said "trace": true, as
 * test-push's does; pr_notif.trace): one record per delivered notification
 * for a day would hold about 86,400 hashes per notification/s in Redis,
 * and deliveries are what stats count.
 *
 * The record lives in the notification's queue shard k (keys_shard_of of
 * its provider and token), so it is written in that shard's transaction:
 *
 *   <p>{q<k>}:outcome:<domain>:<id>   hash, EXPIRE OUTCOME_LOG_TTL_S (rewritten per attempt)
 *     outcome      "delivered" | "retry" | "expired" | "token_dead" | "dead_letter"
 *     reason       dead-letter or token reason, retry cause ("" when none)
 *     last_status  last provider HTTP status ("0" no answer, "-1" refused locally)
 *     last         the notification's "last" provider answer ("503 …"), "" when none
 *     attempts     delivery attempts made so far
 *     at_ms        epoch ms when the outcome was recorded
 */
#ifndef PUSHRELAY_OUTCOME_LOG_H
#define PUSHRELAY_OUTCOME_LOG_H

#include <stdint.h>
#include <hiredis/hiredis.h>
#include "pushrelay/notif.h"
#include "pushrelay/outcome.h"
#include "keys.h"
#include "rconn.h"

#define OUTCOME_LOG_TTL_S (24 * 3600)

/*
 * outcome_log_send sends, without reply callbacks, HSET + EXPIRE recording
 * 'o' for notification 'n' in shard 'shard' (the one 'n' was read from)
 * ('n' must have its id and domain; NULL or an
 * id-less record is skipped and returns 0, as is the delivery of a
 * notification that is not traced). 'reason' may be NULL. Meant to
 * run between MULTI and EXEC. Returns 0, PR_ETOOBIG (key too long: nothing
 * sent, the caller may go on) or PR_EREDIS (not connected).
 */
int outcome_log_send(struct rconn *rc, const struct keys *k, unsigned shard,
                     const struct pr_notif *n, enum pr_outcome o, const char *reason,
                     int last_status);

/* A record as read back. */
struct outcome_info {
    enum pr_outcome outcome;
    char reason[192];
    int last_status;
    char last[192];
    int attempts;
    int64_t at_ms;
};

/*
 * outcome_log_get_shard reads the record of ('domain', 'id') in shard
 * 'shard' (keys_shard_of of the notification's provider and token) over
 * blocking connection 'c', which must serve that shard
 * (keys_q_outcome names the key). Returns 0, PR_ENOTFOUND (no record: no
 * attempt has ended yet, or it expired from the log), PR_ETOOBIG or
 * PR_EREDIS (also for a record whose outcome names no enum pr_outcome).
 */
int outcome_log_get_shard(redisContext *c, const struct keys *k, unsigned shard,
                          const char *domain, const char *id, struct outcome_info *out);

/*
 * outcome_log_get: the same for a caller that does not know the shard: it
 * looks in every shard in turn (one Redis only: 'c' serves them all).
 * Prefer outcome_log_get_shard.
 */
int outcome_log_get(redisContext *c, const struct keys *k, const char *domain, const char *id,
                    struct outcome_info *out);

#endif
