/*
 * retry.h - the retry policy: exponential backoff with full jitter, capped,
 * honouring Retry-After, bounded by attempts and by the notification's TTL.
 * Pure functions; the dispatcher owns the retry zset.
 */
#ifndef PUSHRELAY_RETRY_H
#define PUSHRELAY_RETRY_H

#include <stdint.h>
#include "pushrelay/config.h"

/*
 * retry_next_due returns the epoch ms at which attempt number 'attempts'+1
 * should run, given 'attempts' already made (>= 1), the provider's
 * 'retry_after_s' (-1: none) and 'rnd' (a uniform random 32-bit value):
 *   delay = max(rnd % (min(max_delay, base * 2^(attempts-1)) + 1), retry_after)
 * Returns -1 when no further attempt is allowed: attempts >= max_attempts
 * (dead letter) — or -2 when the due time would be at or past 'expires_ms'
 * (expired).
 */
int64_t retry_next_due(const struct cfg_retry *policy, int attempts, int retry_after_s,
                       int64_t now_ms, int64_t expires_ms, uint32_t rnd);

#endif
