/*
 * stats.h - Redis-backed counters and latency histograms (design section 7,
 * pr:stats:*). Increments are buffered in memory and flushed once a second
 * as one pipelined batch, so counting never adds a Redis round trip to the
 * hot path. Lost increments on a crash are bounded to the last second.
 *
 * Counter names: received, queued, rejected_<status>, delivered, retried,
 * expired, token_dead, dead_lettered. Histograms: "e2e" (202 -> final
 * outcome) and "rtt" (provider round trip), in milliseconds.
 */
#ifndef PUSHRELAY_STATS_H
#define PUSHRELAY_STATS_H

#include <stdint.h>
#include <event2/event.h>
#include "pushrelay/provider.h"
#include "keys.h"
#include "rconn.h"

struct stats;

/* stats_new flushes through 'rc' (not owned) every second; 'window_h' bounds per-minute buckets. */
int stats_new(struct event_base *base, struct rconn *rc, const struct keys *keys, int window_h,
              struct stats **out);

/* stats_incr adds 'n' to 'counter' for the provider, for 'domain' (may be NULL) and in total. */
void stats_incr(struct stats *s, enum pr_provider p, const char *domain, const char *counter, long n);

/* stats_observe records one latency sample in histogram 'hist' ("e2e", "rtt"). */
void stats_observe(struct stats *s, enum pr_provider p, const char *hist, int64_t ms);

/* stats_flush sends what is buffered now (also done by the timer). */
void stats_flush(struct stats *s);

/*
 * stats_sync flushes what is buffered now and calls 'done' once Redis has
 * answered every increment sent so far (or at once, from the loop, when
 * Redis is unreachable): a clean stop calls it before freeing the Redis
 * connection, which would drop commands still unsent.
 */
void stats_sync(struct stats *s, void (*done)(void *arg), void *arg);

/* stats_free flushes what is buffered, then frees. */
void stats_free(struct stats *s);

#endif
