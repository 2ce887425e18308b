/*
 * retry.c - the retry policy (retry.h): exponential backoff with full
 * jitter, capped, floored by the provider's Retry-After, bounded by the
 * attempt budget and by the notification's TTL. Pure arithmetic; the
 * dispatcher calls it when a provider answer classifies as RETRY and owns
 * the retry zset the result is scored into.
 */
#include "retry.h"

/*
 * retry_ceiling returns min('max_delay', 'base' * 2^('attempts'-1)) without
 * overflowing: the doubling stops as soon as it reaches the cap.
 */
static int64_t retry_ceiling(int64_t base, int64_t max_delay, int attempts)
{
    int64_t ceiling = base > 0 ? base : 0;
    for (int i = 1; i < attempts && ceiling < max_delay; i++)
        ceiling *= 2;
    return ceiling < max_delay ? ceiling : max_delay;
}

/*
 * Full jitter (the delay is drawn uniformly from 0..ceiling, not around it)
 * spreads a burst of failures that all started together, so a provider
 * recovering from an outage is not hit by them in lock step again.
 * 'expires_ms' <= 0 means the notification carries no TTL bound.
 */
int64_t retry_next_due(const struct cfg_retry *policy, int attempts, int retry_after_s,
                       int64_t now_ms, int64_t expires_ms, uint32_t rnd)
{
    if (attempts >= policy->max_attempts)
        return -1;
    if (attempts < 1)
        attempts = 1;
    int64_t max_delay = policy->max_delay_ms > 0 ? policy->max_delay_ms : 0;
    int64_t ceiling = retry_ceiling(policy->base_delay_ms, max_delay, attempts);
    int64_t delay = (int64_t)(rnd % (uint64_t)(ceiling + 1));
    if (retry_after_s >= 0 && delay < (int64_t)retry_after_s * 1000)
        delay = (int64_t)retry_after_s * 1000;
    int64_t due = now_ms + delay;
    if (expires_ms > 0 && due >= expires_ms)
        return -2;
    return due;
}
