/*
 * ctl_follow.h - follows one notification to its final outcome for
 * pushrelayctl test-push, by polling its outcome record (relay/outcome_log.h)
 * over the CLI's blocking Redis connection.
 *
 * The dispatcher writes that record for every outcome but a plain
 * delivery; a notification sent with "trace": true (as test-push sends
 * it) has its delivery recorded too, so its record always ends final. No
 * record yet means no attempt has ended: the notification is still in its
 * provider stream.
 */
#ifndef PUSHRELAY_CTL_FOLLOW_H
#define PUSHRELAY_CTL_FOLLOW_H

#include <stdint.h>
#include <hiredis/hiredis.h>
#include "pushrelay/outcome.h"
#include "keys.h"
#include "outcome_log.h"

#define CTL_FOLLOW_POLL_MS 200

/* ctl_follow_is_final: 1 for DELIVERED, EXPIRED, TOKEN_DEAD and DEAD_LETTER, else 0. */
int ctl_follow_is_final(enum pr_outcome o);

/* Told of each new record that is not final (a retry), with the caller's 'arg'. */
typedef void (*ctl_follow_step_fn)(const struct outcome_info *step, void *arg);

/*
 * ctl_follow_wait polls the record of ('domain', 'id'), kept in queue
 * shard 'shard' (that of the notification's provider and token) on 'c' (the
 * connection serving that shard), every
 * CTL_FOLLOW_POLL_MS until its outcome is final or the monotonic clock
 * (pr_mono_ms) reaches 'deadline_ms'; 'on_step' (may be NULL) hears of each
 * new non-final record on the way. Returns 0 with the final record in
 * '*out'; PR_ETIMEDOUT with the last record seen in '*out' and '*seen' 1,
 * or '*seen' 0 when there was none; PR_EREDIS or PR_ETOOBIG (key too long).
 */
int ctl_follow_wait(redisContext *c, const struct keys *k, unsigned shard, const char *domain,
                    const char *id, int64_t deadline_ms, ctl_follow_step_fn on_step, void *arg,
                    struct outcome_info *out, int *seen);

#endif
