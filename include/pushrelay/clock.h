/*
 * clock.h - the two clocks pushrelay reads, in the units it stores.
 *
 * Wall clock (pr_now_ms, pr_now_us) for what leaves the process: accepted_ms and
 * expires_ms of a notification, retry due times, outcome records, stats
 * buckets. Monotonic clock (pr_mono_ms, pr_mono_us) for durations and
 * deadlines inside one process (timeouts, token refresh, round trips),
 * which a step of the wall clock must not stretch or cut.
 *
 * Inline: the provider clients read the clock per request, and these are
 * one vDSO call each.
 */
#ifndef PUSHRELAY_CLOCK_H
#define PUSHRELAY_CLOCK_H

#include <stdint.h>
#include <time.h>

/* pr__clock reads clock 'id' in units of 'unit_ns' nanoseconds. */
static inline int64_t pr__clock(clockid_t id, int64_t unit_ns)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * (1000000000 / unit_ns) + ts.tv_nsec / unit_ns;
}

/* Wall clock in milliseconds since the epoch. */
static inline int64_t pr_now_ms(void) { return pr__clock(CLOCK_REALTIME, 1000000); }

/* Wall clock in microseconds since the epoch (timestamps compared across processes). */
static inline int64_t pr_now_us(void) { return pr__clock(CLOCK_REALTIME, 1000); }

/* Monotonic clock in milliseconds (arbitrary origin: compare, never store). */
static inline int64_t pr_mono_ms(void) { return pr__clock(CLOCK_MONOTONIC, 1000000); }

/* Monotonic clock in microseconds (arbitrary origin: compare, never store). */
static inline int64_t pr_mono_us(void) { return pr__clock(CLOCK_MONOTONIC, 1000); }

#endif
